//! Flux run for real on the local control plane (gitseal_test_support::flux): both
//! controllers start in a namespace of their own and reconcile there, and a restarted
//! controller takes up its work again. Needs `dev/cluster/up`, and Go to build Flux on
//! first use (dev/tools/flux/build: minutes cold, cached afterwards).

use std::time::{Duration, Instant};

use anyhow::Context as _;
use gitseal_test_support::flux::{Component, Flux};
use gitseal_test_support::{Cluster, free_port};
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

fn tempdir() -> std::io::Result<tempfile::TempDir> {
    tempfile::Builder::new().prefix("gitseal-flux-").tempdir()
}

/// Upper bound for a controller to reconcile an object and write its status.
const EVENTUALLY: Duration = Duration::from_secs(60);

fn api(cluster: &Cluster, namespace: &str, group: &str, kind: &str, plural: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk(group, "v1", kind);
    Api::namespaced_with(cluster.client(), namespace, &ApiResource::from_gvk_with_plural(&gvk, plural))
}

/// The condition of `kind` in the object's status, once written.
fn condition(object: &DynamicObject, kind: &str) -> Option<Value> {
    object.data["status"]["conditions"].as_array()?.iter().find(|c| c["type"] == kind).cloned()
}

/// Polls `probe` every 250 ms until it gives a value, and returns it; panics naming `what`,
/// with Flux's logs, after [`EVENTUALLY`].
async fn eventually<T>(flux: &Flux, what: &str, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + EVENTUALLY;
    loop {
        if let Some(found) = probe().await {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {EVENTUALLY:?} waiting for {what}; Flux's logs:\n{}",
            flux.logs()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The Ready condition of `name` once it says False and `accept` holds for it.
async fn not_ready(flux: &Flux, api: &Api<DynamicObject>, name: &str, accept: impl Fn(&Value) -> bool) -> Value {
    eventually(flux, &format!("{name} Ready=False"), async || {
        let object = api.get(name).await.ok()?;
        condition(&object, "Ready").filter(|ready| ready["status"] == "False" && accept(ready))
    })
    .await
}

#[gitseal_test_support::needs_cluster]
#[tokio::test]
async fn flux_reconciles_in_its_own_namespace_and_after_a_restart() -> anyhow::Result<()> {
    let cluster = Cluster::connect().await?;
    let (namespace, neighbour) = (cluster.fresh_namespace("flux").await?, cluster.fresh_namespace("flux").await?);
    let (dir, neighbour_dir) = (tempdir()?, tempdir()?);
    // Two at once, as parallel tests start them: the CRDs applied twice concurrently.
    let started = Instant::now();
    let (flux, other) = tokio::join!(
        Flux::start(&cluster, &namespace, dir.path()),
        Flux::start(&cluster, &neighbour, neighbour_dir.path()),
    );
    let (mut flux, other) = (flux?, other?);
    eprintln!("two Flux started and ready in {:?}", started.elapsed());

    // A Git server that is not there: source-controller tries it and says so.
    let closed = free_port()?;
    let repositories = api(&cluster, &namespace, "source.toolkit.fluxcd.io", "GitRepository", "gitrepositories");
    let repository = serde_json::from_value(json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": { "name": "unreachable" },
        "spec": {
            "url": format!("http://127.0.0.1:{closed}/x.git"),
            "ref": { "branch": "main" },
            "interval": "1m",
            "timeout": "10s",
        },
    }))?;
    repositories.create(&PostParams::default(), &repository).await.context("creating the GitRepository")?;
    let ready = not_ready(&flux, &repositories, "unreachable", |ready| ready["reason"] == "GitOperationFailed").await;
    eprintln!("GitRepository unreachable: {ready}");
    let message = ready["message"].as_str().unwrap_or_default();
    assert!(message.contains("connection refused"), "not a fetch failure: {ready}\n{}", flux.logs());

    // kustomize-controller reconciles too: its source has no artifact.
    let kustomizations = api(&cluster, &namespace, "kustomize.toolkit.fluxcd.io", "Kustomization", "kustomizations");
    let kustomization = serde_json::from_value(json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": { "name": "app" },
        "spec": {
            "sourceRef": { "kind": "GitRepository", "name": "unreachable" },
            "path": "./",
            "prune": true,
            "interval": "1m",
        },
    }))?;
    kustomizations.create(&PostParams::default(), &kustomization).await.context("creating the Kustomization")?;
    let ready = not_ready(&flux, &kustomizations, "app", |_| true).await;
    eprintln!("Kustomization app: {ready}");

    // Restarted, source-controller handles a reconcile request (Flux's own annotation).
    flux.restart(Component::Source).await?;
    let requested = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_nanos().to_string();
    let annotate = json!({ "metadata": { "annotations": { "reconcile.fluxcd.io/requestedAt": requested } } });
    repositories.patch("unreachable", &PatchParams::default(), &Patch::Merge(&annotate)).await?;
    eventually(&flux, "the restarted source-controller to handle a reconcile request", async || {
        let object = repositories.get("unreachable").await.ok()?;
        (object.data["status"]["lastHandledReconcileAt"] == requested.as_str()).then_some(())
    })
    .await;
    // The neighbour watches only its own namespace: its log never names the object that
    // the first one's does.
    let log = std::fs::read_to_string(flux.log_path(Component::Source))?;
    assert!(log.contains("unreachable"), "source-controller logs no object names:\n{}", flux.logs());
    let neighbour_log = std::fs::read_to_string(other.log_path(Component::Source))?;
    assert!(!neighbour_log.contains("unreachable"), "the neighbour reconciled another namespace:\n{}", other.logs());
    drop((flux, other));
    cluster.delete_namespace(&namespace).await?;
    cluster.delete_namespace(&neighbour).await?;
    Ok(())
}
