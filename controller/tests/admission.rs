//! deploy/35-admission-policy.yaml on the real API server, acting as the attacker: the
//! controller's own ServiceAccount token (TokenRequest), as a compromised Pod would hold
//! it, under deploy/'s RBAC, which lets it write every Secret. The policy must refuse each
//! write the controller never makes, and allow each one it does.
//!
//! ```text
//!  deploy/ applied ──▶ token of gitseal-system/gitseal-controller ──▶ Secret writes
//!                                                 403 from the policy ◀─┤ kube-system, unmanaged
//!                                                          allowed ◀────┘ managed, opted in, keys
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests state their expectations by unwrapping

mod support;

use std::collections::BTreeMap;

use gitseal::{Recipients, SealedSecret};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::Resource;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use support::{CONTROLLER_NS, Env, eventually, sealed};

const POLICY: &str = "gitseal-controller-secret-writes";
const CANARY: &str = "canary-plaintext-3f9a1c";

/// The controller's token, as a client, once the policy is in force: the API server
/// enforces a policy just created (by `Env::new`'s apply) only after its informer has
/// seen it, a moment later. Probed with a dry run, so nothing is written meanwhile.
async fn stolen_token(env: &Env) -> kube::Client {
    let client = env.cluster.service_account_client(CONTROLLER_NS, "gitseal-controller").await.unwrap();
    let probe: Api<Secret> = Api::namespaced(client.clone(), "kube-system");
    let dry = PostParams { dry_run: true, ..PostParams::default() };
    eventually("the admission policy refusing a dry-run create in kube-system", || async {
        match probe.create(&dry, &secret("policy-probe", None)).await {
            Err(kube::Error::Api(e)) if e.message.contains(POLICY) => Some(()),
            _ => None,
        }
    })
    .await;
    client
}

/// Asserts a write was refused by the admission policy: RBAC allows every one of them, so
/// a refusal from anywhere else (or none) means the policy is not doing its job.
#[track_caller]
fn refused<T>(what: &str, result: kube::Result<T>) {
    match result {
        Err(kube::Error::Api(e))
            if e.code == 403 && e.message.contains(&format!("ValidatingAdmissionPolicy '{POLICY}'")) =>
        {
            assert!(!e.message.contains(CANARY), "{what}: the refusal echoes a value: {}", e.message);
        }
        // The answer to an allowed write is the Secret, values and all: not printed.
        Ok(_) => panic!("{what}: expected the policy {POLICY} to refuse it, and it was allowed"),
        Err(e) => panic!("{what}: expected the policy {POLICY} to refuse it, got {e}"),
    }
}

#[track_caller]
fn allowed<T>(what: &str, result: kube::Result<T>) {
    if let Err(e) = result {
        panic!("{what}: expected it allowed, got {e}");
    }
}

fn secret(name: &str, owner: Option<&SealedSecret>) -> Secret {
    let owner_references = owner.map(|s| {
        vec![OwnerReference {
            api_version: SealedSecret::api_version(&()).into_owned(),
            kind: SealedSecret::kind(&()).into_owned(),
            name: s.metadata.name.clone().unwrap(),
            uid: s.metadata.uid.clone().unwrap(),
            controller: Some(true),
            block_owner_deletion: None,
        }]
    });
    Secret {
        metadata: ObjectMeta { name: Some(name.into()), owner_references, ..ObjectMeta::default() },
        data: Some(BTreeMap::from([("k".into(), ByteString(CANARY.as_bytes().to_vec()))])),
        ..Secret::default()
    }
}

/// A real SealedSecret (made by the admin) to own Secrets, so the garbage collector keeps them.
async fn sealed_secret(env: &Env, ns: &str, name: &str) -> SealedSecret {
    let recipients = Recipients::new([gitseal::generate_identity().to_public()]).unwrap();
    let api: Api<SealedSecret> = Api::namespaced(env.client(), ns);
    let mut object = sealed(ns, name, &[("k", "v")], &recipients);
    object.status = None;
    api.create(&PostParams::default(), &object).await.unwrap()
}

fn apply_as_controller() -> PatchParams {
    PatchParams::apply("gitseal-controller").force()
}

#[gitseal_test_support::needs_cluster]
#[tokio::test]
async fn the_controllers_token_cannot_write_kube_systems_secrets() {
    let env = Env::new().await;
    let admin: Api<Secret> = Api::namespaced(env.client(), "kube-system");
    let attacker: Api<Secret> = Api::namespaced(stolen_token(&env).await, "kube-system");
    let name = format!("victim-{}", std::process::id());
    admin.create(&PostParams::default(), &secret(&name, None)).await.unwrap();

    let planted = secret(&format!("planted-{}", std::process::id()), None);
    refused("create in kube-system", attacker.create(&PostParams::default(), &planted).await);
    let mut changed = admin.get(&name).await.unwrap();
    changed.data = Some(BTreeMap::from([("k".into(), ByteString(b"attacker".to_vec()))]));
    refused("update in kube-system", attacker.replace(&name, &PostParams::default(), &changed).await);
    let merge = serde_json::json!({"data": {"k": "YXR0YWNrZXI="}});
    refused("merge patch in kube-system", attacker.patch(&name, &PatchParams::default(), &Patch::Merge(&merge)).await);
    refused("delete in kube-system", attacker.delete(&name, &DeleteParams::default()).await);
    let untouched = admin.get(&name).await.unwrap();
    assert_eq!(untouched.data.unwrap()["k"].0, CANARY.as_bytes(), "the Secret is as the admin left it");
    admin.delete(&name, &DeleteParams::default()).await.unwrap();
}

#[gitseal_test_support::needs_cluster]
#[tokio::test]
async fn the_controllers_token_writes_only_the_secrets_it_manages() {
    let env = Env::new().await;
    let ns = env.cluster.fresh_namespace("admission").await.unwrap();
    let admin: Api<Secret> = Api::namespaced(env.client(), &ns);
    let attacker: Api<Secret> = Api::namespaced(stolen_token(&env).await, &ns);
    let owner = sealed_secret(&env, &ns, "db").await;

    // What the controller does for a SealedSecret: create, apply, replace, delete its Secret.
    allowed("create a managed Secret", attacker.create(&PostParams::default(), &secret("db", Some(&owner))).await);
    let applied = serde_json::to_value(secret("db", Some(&owner))).unwrap();
    let applied = serde_json::json!({"apiVersion": "v1", "kind": "Secret", "metadata": applied["metadata"], "data": applied["data"]});
    allowed("apply to a managed Secret", attacker.patch("db", &apply_as_controller(), &Patch::Apply(&applied)).await);
    let live = attacker.get("db").await.unwrap();
    allowed("replace a managed Secret", attacker.replace("db", &PostParams::default(), &live).await);
    // ... but never lets it go, nor hands it to another SealedSecret's name.
    let released = serde_json::json!({"metadata": {"ownerReferences": null}});
    refused("remove the owner", attacker.patch("db", &PatchParams::default(), &Patch::Merge(&released)).await);
    refused("a Secret named after another SealedSecret", {
        attacker.create(&PostParams::default(), &secret("not-db", Some(&owner))).await
    });
    let mut token = secret("token", Some(&sealed_secret(&env, &ns, "token").await));
    token.type_ = Some("kubernetes.io/service-account-token".into());
    token.metadata.annotations =
        Some(BTreeMap::from([("kubernetes.io/service-account.name".into(), "default".into())]));
    refused("a service-account token Secret", attacker.create(&PostParams::default(), &token).await);
    token.type_ = Some("bootstrap.kubernetes.io/token".into());
    refused("a bootstrap token Secret", attacker.create(&PostParams::default(), &token).await);
    allowed("delete a managed Secret", attacker.delete("db", &DeleteParams::default()).await);

    // An unmanaged Secret: not taken over, not deleted, until its owner opts in.
    admin.create(&PostParams::default(), &secret("theirs", None)).await.unwrap();
    let owner = sealed_secret(&env, &ns, "theirs").await;
    let mut take_over = secret("theirs", Some(&owner));
    take_over.metadata.resource_version = admin.get("theirs").await.unwrap().metadata.resource_version;
    refused("replace an unmanaged Secret", attacker.replace("theirs", &PostParams::default(), &take_over).await);
    let applied = serde_json::json!({"apiVersion": "v1", "kind": "Secret", "metadata": {
        "name": "theirs", "ownerReferences": serde_json::to_value(&take_over.metadata.owner_references).unwrap()}});
    refused("apply an owner onto an unmanaged Secret", {
        attacker.patch("theirs", &apply_as_controller(), &Patch::Apply(&applied)).await
    });
    refused("delete an unmanaged Secret", attacker.delete("theirs", &DeleteParams::default()).await);
    let opt_in = serde_json::json!({"metadata": {"annotations": {"gitseal.dev/adopt": "true"}}});
    admin.patch("theirs", &PatchParams::default(), &Patch::Merge(&opt_in)).await.unwrap();
    allowed(
        "adopt an opted-in Secret",
        attacker.patch("theirs", &apply_as_controller(), &Patch::Apply(&applied)).await,
    );
}

#[gitseal_test_support::needs_cluster]
#[tokio::test]
async fn the_controllers_token_creates_key_secrets_only_in_its_namespace() {
    let env = Env::new().await;
    let own: Api<Secret> = Api::namespaced(stolen_token(&env).await, CONTROLLER_NS);
    // Dry runs pass admission like any write, and keep this test's keys out of the ring.
    let dry = PostParams { dry_run: true, ..PostParams::default() };
    let mut key = secret("gitseal-key-dry-run", None);
    key.type_ = Some(gitseal::crds::storage::KEY_TYPE.into());
    key.metadata.labels = Some(BTreeMap::from([(gitseal::crds::storage::KEY_LABEL.into(), "true".into())]));
    allowed("create a key Secret in its namespace", own.create(&dry, &key).await);
    refused("create another Secret in its namespace", own.create(&dry, &secret("not-a-key", None)).await);

    let ns = env.cluster.fresh_namespace("admission-key").await.unwrap();
    let elsewhere: Api<Secret> = Api::namespaced(stolen_token(&env).await, &ns);
    refused("create a key Secret elsewhere", elsewhere.create(&dry, &key).await);
}
