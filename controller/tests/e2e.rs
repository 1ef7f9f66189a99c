//! gitseal-controller end to end, on the local control plane (dev/cluster), running as
//! a process under deploy/'s RBAC.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests state their expectations by unwrapping

mod support;

use std::collections::BTreeMap;

use gitseal::SealedSecret;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use support::{Env, eventually, sealed};

const CANARY: &str = "canary-plaintext-5b1e9d";

/// (status, reason, observedGeneration) of the Ready condition, once it describes the
/// object's current generation.
async fn ready(api: &Api<SealedSecret>, name: &str) -> Option<(String, String)> {
    let s = api.get_opt(name).await.ok()??;
    let status = s.status?;
    let c = status.conditions.iter().find(|c| c.type_ == "Ready")?;
    (status.observed_generation == s.metadata.generation && c.observed_generation == s.metadata.generation)
        .then(|| (c.status.clone(), c.reason.clone()))
}

async fn wait_ready(api: &Api<SealedSecret>, name: &str, want: (&str, &str)) {
    eventually(&format!("{name} {want:?}"), || async {
        ready(api, name).await.filter(|(s, r)| s == want.0 && r == want.1).map(|_| ())
    })
    .await;
}

/// The `Ready` condition's message.
async fn ready_message(api: &Api<SealedSecret>, name: &str) -> String {
    let status = api.get(name).await.unwrap().status.unwrap_or_default();
    status.conditions.into_iter().find(|c| c.type_ == "Ready").map(|c| c.message).unwrap_or_default()
}

fn value(secret: &Secret, key: &str) -> Option<String> {
    secret.data.as_ref()?.get(key).map(|b| String::from_utf8_lossy(&b.0).into_owned())
}

async fn secret_value(api: &Api<Secret>, name: &str, key: &str) -> Option<String> {
    api.get_opt(name).await.ok()?.and_then(|s| value(&s, key))
}

#[gitseal_test_support::needs_cluster]
#[tokio::test]
async fn unseals_updates_and_garbage_collects() {
    let (env, ctl, r) = Env::with_controller().await;
    let ns = env.cluster.fresh_namespace("lifecycle").await.unwrap();
    let sealed_api: Api<SealedSecret> = Api::namespaced(env.client(), &ns);
    let secrets: Api<Secret> = Api::namespaced(env.client(), &ns);

    env.apply(&sealed(&ns, "db", &[("password", "first"), ("user", "admin")], &r)).await;
    wait_ready(&sealed_api, "db", ("True", "Unsealed")).await;
    let secret = secrets.get("db").await.unwrap();
    assert_eq!(value(&secret, "password").as_deref(), Some("first"));
    let labels = secret.metadata.labels.clone().unwrap();
    assert_eq!((labels["app"].as_str(), labels["app.kubernetes.io/managed-by"].as_str()), ("db", "gitseal-controller"));
    let owner = &secret.metadata.owner_references.unwrap()[0];
    assert_eq!((owner.kind.as_str(), owner.controller), ("SealedSecret", Some(true)));
    assert_eq!(owner.uid, sealed_api.get("db").await.unwrap().metadata.uid.unwrap());
    let managers: Vec<_> = secret.metadata.managed_fields.iter().flatten().filter_map(|m| m.manager.clone()).collect();
    assert!(managers.iter().all(|m| m == "gitseal-controller"), "{managers:?}");

    // Update: a new value, one key removed.
    env.apply(&sealed(&ns, "db", &[("password", "second")], &r)).await;
    eventually("updated value", || async {
        let s = secrets.get("db").await.ok()?;
        (value(&s, "password").as_deref() == Some("second") && value(&s, "user").is_none()).then_some(())
    })
    .await;
    wait_ready(&sealed_api, "db", ("True", "Unsealed")).await;
    let events = support::kubectl(&["-n", &ns, "get", "events.events.k8s.io", "-o", "json"]);
    assert!(events.contains("\"reason\": \"Unsealed\"") && events.contains("gitseal-controller"), "{events}");

    // Delete: the Secret is garbage-collected through its owner reference.
    sealed_api.delete("db", &DeleteParams::default()).await.unwrap();
    eventually("Secret garbage-collected", || async { secrets.get_opt("db").await.ok()?.is_none().then_some(()) })
        .await;

    let (status, metrics) = ctl.get("/metrics");
    assert_eq!(status, 200);
    assert!(metrics.contains("gitseal_reconciles_total{result=\"unsealed\"}"), "{metrics}");
    let keys: usize = metrics.lines().find_map(|l| l.strip_prefix("gitseal_keys ")).unwrap().parse().unwrap();
    assert!(keys >= 1, "{metrics}");
    assert!(ctl.get("/v1/recipients").1.contains(&r.iter().next().unwrap().1.to_string()));
    assert!(ctl.terminate().success(), "clean exit on SIGTERM");
}

#[gitseal_test_support::needs_cluster]
#[tokio::test]
async fn restores_secrets_deleted_or_edited_by_hand() {
    let (env, ctl, r) = Env::with_controller().await;
    let ns = env.cluster.fresh_namespace("heal").await.unwrap();
    let sealed_api: Api<SealedSecret> = Api::namespaced(env.client(), &ns);
    let secrets: Api<Secret> = Api::namespaced(env.client(), &ns);
    env.apply(&sealed(&ns, "app", &[("token", "declared")], &r)).await;
    wait_ready(&sealed_api, "app", ("True", "Unsealed")).await;

    secrets.delete("app", &DeleteParams::default()).await.unwrap();
    eventually("deleted Secret restored", || async {
        (secret_value(&secrets, "app", "token").await.as_deref() == Some("declared")).then_some(())
    })
    .await;

    // Someone edits the value and adds a key with kubectl: both edits are undone.
    let mut edited = secrets.get("app").await.unwrap();
    let data = edited.data.get_or_insert_with(BTreeMap::new);
    data.insert("token".into(), ByteString(b"tampered-by-hand".to_vec()));
    data.insert("extra".into(), ByteString(b"x".to_vec()));
    secrets.replace("app", &PostParams::default(), &edited).await.unwrap();
    eventually("edited Secret restored", || async {
        let s = secrets.get("app").await.ok()?;
        (value(&s, "token").as_deref() == Some("declared") && value(&s, "extra").is_none()).then_some(())
    })
    .await;
    ctl.terminate();
}

#[gitseal_test_support::needs_cluster]
#[tokio::test]
async fn never_clobbers_an_unowned_secret_unless_it_opts_in() {
    let (env, ctl, r) = Env::with_controller().await;
    let ns = env.cluster.fresh_namespace("clobber").await.unwrap();
    let sealed_api: Api<SealedSecret> = Api::namespaced(env.client(), &ns);
    let secrets: Api<Secret> = Api::namespaced(env.client(), &ns);
    let mut theirs = Secret::default();
    theirs.metadata.name = Some("shared".into());
    theirs.data = Some(BTreeMap::from([("k".into(), ByteString(b"theirs".to_vec()))]));
    secrets.create(&PostParams::default(), &theirs).await.unwrap();

    env.apply(&sealed(&ns, "shared", &[("k", "ours")], &r)).await;
    wait_ready(&sealed_api, "shared", ("False", "SecretNotManaged")).await;
    let untouched = secrets.get("shared").await.unwrap();
    assert_eq!(value(&untouched, "k").as_deref(), Some("theirs"));
    assert!(untouched.metadata.owner_references.is_none());
    let status = serde_json::to_string(&sealed_api.get("shared").await.unwrap().status).unwrap();
    assert!(status.contains("gitseal.dev/adopt"), "the message says how to opt in: {status}");

    let patch = serde_json::json!({"metadata": {"annotations": {"gitseal.dev/adopt": "true"}}});
    secrets.patch("shared", &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
    wait_ready(&sealed_api, "shared", ("True", "Unsealed")).await;
    let adopted = secrets.get("shared").await.unwrap();
    assert_eq!(value(&adopted, "k").as_deref(), Some("ours"));
    assert_eq!(adopted.metadata.owner_references.unwrap()[0].kind, "SealedSecret");
    ctl.terminate();
}

#[gitseal_test_support::needs_cluster]
#[tokio::test]
async fn refuses_tampered_and_moved_values_keeping_the_existing_secret() {
    let (env, ctl, r) = Env::with_controller().await;
    let ns = env.cluster.fresh_namespace("tamper").await.unwrap();
    let other_ns = env.cluster.fresh_namespace("elsewhere").await.unwrap();
    let sealed_api: Api<SealedSecret> = Api::namespaced(env.client(), &ns);
    let secrets: Api<Secret> = Api::namespaced(env.client(), &ns);
    let good = sealed(&ns, "db", &[("password", CANARY)], &r);
    env.apply(&good).await;
    wait_ready(&sealed_api, "db", ("True", "Unsealed")).await;

    let mut tampered = good.clone();
    let v = tampered.spec.encrypted_data.get_mut("password").unwrap();
    let flip = if v.ends_with("AAAA==") { "BBBB==" } else { "AAAA==" };
    v.replace_range(v.len() - 6.., flip);
    env.apply(&tampered).await;
    wait_ready(&sealed_api, "db", ("False", "DecryptionFailed")).await;
    let status = sealed_api.get("db").await.unwrap().status.unwrap();
    let stalled = status.conditions.iter().find(|c| c.type_ == "Stalled").unwrap();
    assert_eq!((stalled.status.as_str(), stalled.reason.as_str()), ("True", "DecryptionFailed"), "kstatus: Failed");
    assert_eq!(secret_value(&secrets, "db", "password").await.as_deref(), Some(CANARY), "existing Secret untouched");

    // The same object copied into another namespace, where a Secret of that name exists.
    let other_secrets: Api<Secret> = Api::namespaced(env.client(), &other_ns);
    let mut moved = good.clone();
    moved.metadata.namespace = Some(other_ns.clone());
    env.apply(&moved).await;
    let other_sealed: Api<SealedSecret> = Api::namespaced(env.client(), &other_ns);
    wait_ready(&other_sealed, "db", ("False", "ScopeMismatch")).await;
    assert!(other_secrets.get_opt("db").await.unwrap().is_none(), "nothing unsealed in the wrong namespace");
    let message = ready_message(&other_sealed, "db").await;
    assert!(
        message.contains(&format!("sealed for {ns}/db, applied as {other_ns}/db: the object was probably moved to another namespace (a kustomize namespace?)")),
        "{message}"
    );

    // Renamed, as a kustomize namePrefix does: the message says so.
    let mut renamed = good.clone();
    renamed.metadata.name = Some("app-db".into());
    env.apply(&renamed).await;
    wait_ready(&sealed_api, "app-db", ("False", "ScopeMismatch")).await;
    let message = ready_message(&sealed_api, "app-db").await;
    assert!(
        message.contains(&format!("sealed for {ns}/db, applied as {ns}/app-db: the object was probably renamed (a kustomize namePrefix or nameSuffix?); seal it under the name it is applied with, or use a wider scope")),
        "{message}"
    );
    assert!(secrets.get_opt("app-db").await.unwrap().is_none(), "nothing unsealed under the new name");

    // No plaintext in any log, Event, status or metric.
    let mut seen = ctl.log();
    seen += &support::kubectl(&["get", "events.events.k8s.io", "-A", "-o", "json"]);
    seen += &support::kubectl(&["get", "sealedsecrets", "-A", "-o", "json"]);
    seen += &ctl.get("/metrics").1;
    assert!(
        seen.contains("DecryptionFailed") && seen.contains("ScopeMismatch"),
        "the checked text covers the failures"
    );
    assert!(!seen.contains(CANARY), "plaintext leaked");
    ctl.terminate();
}

#[gitseal_test_support::needs_cluster]
#[tokio::test]
async fn one_key_across_restarts_replicas_and_failover() {
    let env = Env::new().await;
    env.wipe_keys().await;
    // Two replicas start at once on an empty ring: one key, one leader.
    let a = env.start("replica-a");
    let b = env.start("replica-b");
    a.wait_ready().await;
    b.wait_ready().await;
    let keys = env.key_secrets().await;
    assert_eq!(keys.len(), 1, "{keys:?}");
    let leads = |c: &support::Controller| c.get("/metrics").1.lines().any(|l| l == "gitseal_leader 1");
    let leaders = [&a, &b].iter().filter(|c| leads(c)).count();
    assert_eq!(leaders, 1);
    let r = env.recipients().await;
    assert_eq!(b.get("/v1/recipients").1, a.get("/v1/recipients").1, "standby serves the same key");

    // The leader dies without releasing the lease; the standby takes over.
    let (leader, standby) = if leads(&a) { (a, b) } else { (b, a) };
    leader.kill();
    let ns = env.cluster.fresh_namespace("failover").await.unwrap();
    let sealed_api: Api<SealedSecret> = Api::namespaced(env.client(), &ns);
    env.apply(&sealed(&ns, "after-failover", &[("k", "v")], &r)).await;
    wait_ready(&sealed_api, "after-failover", ("True", "Unsealed")).await;
    assert!(leads(&standby));

    // A restart reuses the ring: still one key, the same one.
    assert!(standby.terminate().success());
    let again = env.start("replica-c");
    again.wait_ready().await;
    assert_eq!(env.key_secrets().await, keys);
    let ids = |text: &str| text.lines().filter(|l| l.starts_with("age1")).map(str::to_owned).collect::<Vec<_>>();
    assert_eq!(ids(&again.get("/v1/recipients").1), r.iter().map(|(_, rc)| rc.to_string()).collect::<Vec<_>>());
    let api: Api<Secret> = Api::namespaced(env.client(), support::CONTROLLER_NS);
    assert_eq!(api.list_metadata(&ListParams::default().labels("gitseal.dev/key=true")).await.unwrap().items.len(), 1);
    again.terminate();
}

/// A background task that dies stops the process rather than leaving it half-blind: here
/// the HTTP server, whose port is already taken.
#[gitseal_test_support::needs_cluster]
#[tokio::test]
async fn a_background_task_that_dies_stops_the_process() {
    let env = Env::new().await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let log = env.dir.path().join("dies.log");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_gitseal-controller"))
        .args(["--namespace", support::CONTROLLER_NS, "--pod-name", "replica-dies", "--http-addr", &addr])
        .env("KUBECONFIG", &env.kubeconfig)
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let child = std::sync::Mutex::new(&mut child);
    let status = eventually("the controller exits", || async { child.lock().unwrap().try_wait().unwrap() }).await;
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(status.code(), Some(1), "{text}");
    assert!(text.contains("HTTP server ended; exiting rather than running without it"), "{text}");
}
