//! Smoke tests of the local control plane itself: the CRD installs and its schema is
//! enforced, RBAC and TokenRequest work, and the garbage collector runs. They need
//! `dev/cluster/up`: ignored, saying so, when GITSEAL_KUBECONFIG is unset; failed when it
//! is set and the control plane does not answer.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, ensure};
use gitseal_test_support::{Cluster, eventually, workspace_root};
use k8s_openapi::api::authentication::v1::SelfSubjectReview;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config, Resource as _, ResourceExt as _};
use serde_json::json;

/// Upper bound for anything a controller or cache does asynchronously.
const EVENTUALLY: Duration = Duration::from_secs(60);

fn meta(name: &str) -> ObjectMeta {
    ObjectMeta { name: Some(name.into()), ..ObjectMeta::default() }
}

/// The HTTP status of a refused API call, or `None` when the call succeeded.
fn refusal<T>(result: kube::Result<T>) -> anyhow::Result<Option<u16>> {
    match result {
        Ok(_) => Ok(None),
        Err(kube::Error::Api(status)) => Ok(Some(status.code)),
        Err(other) => Err(other).context("request failed without an API status"),
    }
}

fn sealed_secret(name: &str, spec: serde_json::Value) -> anyhow::Result<DynamicObject> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "gitseal.dev/v1",
        "kind": "SealedSecret",
        "metadata": { "name": name },
        "spec": spec,
    }))?)
}

#[gitseal_test_support::needs_cluster]
#[tokio::test]
async fn sealedsecret_crd_installs_and_its_schema_is_enforced() -> anyhow::Result<()> {
    let cluster = Cluster::connect().await?;
    let crd = cluster.install_crd(&workspace_root().join("crds/sealedsecret.yaml")).await?;
    ensure!(crd.spec.group == "gitseal.dev", "unexpected group {}", crd.spec.group);

    let namespace = cluster.fresh_namespace("smoke-crd").await?;
    let api_of = |version: &str| -> Api<DynamicObject> {
        let gvk = GroupVersionKind::gvk("gitseal.dev", version, "SealedSecret");
        let resource = ApiResource::from_gvk_with_plural(&gvk, "sealedsecrets");
        Api::namespaced_with(cluster.client(), &namespace, &resource)
    };
    let api = api_of("v1");
    let post = PostParams::default();

    let valid = sealed_secret("valid", json!({ "encryptedData": { "password": "YWdlLWVuY3J5cHRpb24ub3JnL3Yx" } }))?;
    let created = api.create(&post, &valid).await.context("a valid SealedSecret")?;
    let scope = created.data.pointer("/spec/scope").and_then(|s| s.as_str());
    ensure!(scope == Some("strict"), "scope was not defaulted to strict: {scope:?}");

    let bad_scope = sealed_secret("bad-scope", json!({ "scope": "bogus", "encryptedData": { "password": "YWdl" } }))?;
    let code = refusal(api.create(&post, &bad_scope).await)?;
    ensure!(code == Some(422), "scope: bogus was not rejected as invalid: {code:?}");

    let no_data = sealed_secret("no-data", json!({ "scope": "cluster-wide" }))?;
    let code = refusal(api.create(&post, &no_data).await)?;
    ensure!(code == Some(422), "missing spec.encryptedData was not rejected: {code:?}");

    // An object written as v1alpha1 (as v0.1.0's CLI wrote files) is stored, and served
    // as v1 with the same spec: the versions share one schema.
    let mut old = sealed_secret("old", json!({ "encryptedData": { "password": "YWdlLWVuY3J5cHRpb24ub3JnL3Yx" } }))?;
    old.types.as_mut().context("types")?.api_version = "gitseal.dev/v1alpha1".into();
    let written = api_of("v1alpha1").create(&post, &old).await.context("a v1alpha1 SealedSecret")?;
    let served = api.get("old").await?;
    ensure!(served.types.as_ref().map(|t| t.api_version.as_str()) == Some("gitseal.dev/v1"), "{served:?}");
    ensure!(
        served.data["spec"] == written.data["spec"],
        "v1 serves {} for {}",
        served.data["spec"],
        written.data["spec"]
    );

    let names: Vec<_> = api.list(&ListParams::default()).await?.into_iter().map(|o| o.name_any()).collect();
    ensure!(names == ["old", "valid"], "stored SealedSecrets: {names:?}");
    Ok(())
}

#[gitseal_test_support::needs_cluster]
#[tokio::test]
async fn service_account_token_is_bound_by_rbac() -> anyhow::Result<()> {
    let cluster = Cluster::connect().await?;
    let namespace = cluster.fresh_namespace("smoke-rbac").await?;
    let other = cluster.fresh_namespace("smoke-rbac-other").await?;
    let secret = Secret {
        metadata: meta("db"),
        string_data: Some([("password".to_owned(), "hunter2".to_owned())].into()),
        ..Secret::default()
    };
    for ns in [&namespace, &other] {
        Api::<Secret>::namespaced(cluster.client(), ns).create(&PostParams::default(), &secret).await?;
    }

    let reader = cluster.service_account_client(&namespace, "reader").await?;
    let secrets = Api::<Secret>::namespaced(reader.clone(), &namespace);
    let code = refusal(secrets.list(&ListParams::default()).await)?;
    ensure!(code == Some(403), "listing Secrets without a grant: {code:?}, expected 403");
    let code = refusal(secrets.get("db").await)?;
    ensure!(code == Some(403), "reading a Secret without a grant: {code:?}, expected 403");

    let role = Role {
        metadata: meta("secret-reader"),
        rules: Some(vec![PolicyRule {
            api_groups: Some(vec![String::new()]),
            resources: Some(vec!["secrets".into()]),
            verbs: vec!["get".into(), "list".into()],
            ..PolicyRule::default()
        }]),
    };
    let binding = RoleBinding {
        metadata: meta("secret-reader"),
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "Role".into(),
            name: "secret-reader".into(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name: "reader".into(),
            namespace: Some(namespace.clone()),
            ..Subject::default()
        }]),
    };
    Api::<Role>::namespaced(cluster.client(), &namespace).create(&PostParams::default(), &role).await?;
    Api::<RoleBinding>::namespaced(cluster.client(), &namespace).create(&PostParams::default(), &binding).await?;

    // The authorizer reads RBAC objects from an informer cache: the grant lands shortly.
    eventually("the granted token can list Secrets", EVENTUALLY, || async {
        Ok(refusal(secrets.list(&ListParams::default()).await)?.is_none())
    })
    .await?;
    let stored = secrets.get("db").await?;
    let password = stored.data.as_ref().and_then(|d| d.get("password"));
    ensure!(password.map(|p| p.0.as_slice()) == Some(b"hunter2".as_slice()), "wrong Secret content");

    // The grant is namespaced, and it is the token that carries the identity.
    let code = refusal(Api::<Secret>::namespaced(reader.clone(), &other).get("db").await)?;
    ensure!(code == Some(403), "Secret in another namespace: {code:?}, expected 403");
    let code = refusal(Api::<ConfigMap>::namespaced(reader, &namespace).list(&ListParams::default()).await)?;
    ensure!(code == Some(403), "ConfigMaps were not granted: {code:?}, expected 403");
    Ok(())
}

#[gitseal_test_support::needs_cluster]
#[tokio::test]
async fn garbage_collector_deletes_dependents_of_a_deleted_owner() -> anyhow::Result<()> {
    let cluster = Cluster::connect().await?;
    let namespace = cluster.fresh_namespace("smoke-gc").await?;
    let api = Api::<ConfigMap>::namespaced(cluster.client(), &namespace);
    let post = PostParams::default();

    let mut owners = Vec::new();
    for name in ["owner", "kept-owner"] {
        owners.push(api.create(&post, &ConfigMap { metadata: meta(name), ..ConfigMap::default() }).await?);
    }
    for (owner, dependent) in owners.iter().zip(["dependent", "kept-dependent"]) {
        let reference = owner.controller_owner_ref(&()).context("owner has no uid")?;
        let config_map = ConfigMap {
            metadata: ObjectMeta {
                owner_references: Some(vec![OwnerReference { controller: None, ..reference }]),
                ..meta(dependent)
            },
            ..ConfigMap::default()
        };
        api.create(&post, &config_map).await?;
    }

    api.delete("owner", &DeleteParams::background()).await?;
    eventually("the dependent of the deleted owner is garbage-collected", EVENTUALLY, || async {
        Ok(api.get_opt("dependent").await?.is_none())
    })
    .await?;
    ensure!(
        api.get_opt("kept-dependent").await?.is_some(),
        "the garbage collector deleted a dependent whose owner still exists"
    );
    Ok(())
}

#[gitseal_test_support::needs_cluster]
#[tokio::test]
async fn service_account_kubeconfig_file_authenticates_as_the_account() -> anyhow::Result<()> {
    let cluster = Cluster::connect().await?;
    let namespace = cluster.fresh_namespace("smoke-kubeconfig").await?;
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{namespace}.kubeconfig"));
    cluster.write_service_account_kubeconfig(&namespace, "controller", &path).await?;

    // Read back the way a separate process would (KUBECONFIG=<path>).
    let config = Config::from_custom_kubeconfig(Kubeconfig::read_from(&path)?, &KubeConfigOptions::default()).await?;
    ensure!(config.default_namespace == namespace, "default namespace {}", config.default_namespace);
    let client = Client::try_from(config)?;
    let review =
        Api::<SelfSubjectReview>::all(client).create(&PostParams::default(), &SelfSubjectReview::default()).await?;
    let user = review.status.and_then(|s| s.user_info).and_then(|u| u.username);
    let expected = format!("system:serviceaccount:{namespace}:controller");
    ensure!(user.as_deref() == Some(expected.as_str()), "authenticated as {user:?}");
    std::fs::remove_file(&path)?;
    Ok(())
}
