//! What an upgrade must leave alone, and how the tests see it: the SealedSecrets through
//! a version named here (not through the Rust type, whose version moves with the code),
//! every Secret's resourceVersion, the key ring and the published keys, and a watch that
//! records any SealedSecret leaving Ready=True while the controller changes hands.
//!
//! ```text
//!  snapshot ──▶ ReadyWatch::start ──▶ upgrade ──▶ settled (new Pods, new leader, a full
//!                                                  pass in its /metrics) ──▶ stop, compare
//! ```

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, ensure};
use futures::{StreamExt, TryStreamExt, stream};
use gitseal::SealedSecret;
use gitseal_test_support::{Cluster, MANAGED_SELECTOR, eventually, http_get_at};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use tokio::task::JoinHandle;

use super::super::{ROLLOUT, live_pods, ready, rolled_out};

/// SealedSecrets through `gitseal.dev/<version>`.
pub(super) fn sealed_api(cluster: &Cluster, ns: &str, version: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("gitseal.dev", version, "SealedSecret");
    Api::namespaced_with(cluster.client(), ns, &ApiResource::from_gvk_with_plural(&gvk, "sealedsecrets"))
}

/// The `Ready` condition's status, as served.
fn ready_condition(object: &DynamicObject) -> Option<String> {
    let conditions = object.data["status"]["conditions"].as_array()?;
    let ready = conditions.iter().find(|c| c["type"] == "Ready")?;
    ready["status"].as_str().map(str::to_owned)
}

/// Creates `sealed` as `gitseal.dev/v1alpha1` objects, 32 requests at a time.
pub(super) async fn create_v1alpha1(cluster: &Cluster, ns: &str, sealed: Vec<SealedSecret>) -> anyhow::Result<()> {
    let api = sealed_api(cluster, ns, "v1alpha1");
    stream::iter(sealed)
        .map(|s| {
            let api = api.clone();
            async move {
                let mut value = serde_json::to_value(&s)?;
                value["apiVersion"] = "gitseal.dev/v1alpha1".into();
                let object: DynamicObject = serde_json::from_value(value)?;
                api.create(&PostParams::default(), &object).await?;
                anyhow::Ok(())
            }
        })
        .buffer_unordered(32)
        .try_collect()
        .await
}

/// Waits until `n` SealedSecrets of `ns` say Ready=True and `n` managed Secrets exist.
pub(super) async fn all_unsealed(cluster: &Cluster, ns: &str, n: usize) -> anyhow::Result<()> {
    let api = sealed_api(cluster, ns, "v1alpha1");
    let secrets = Api::<Secret>::namespaced(cluster.client(), ns);
    let managed = ListParams::default().labels(MANAGED_SELECTOR);
    eventually(&format!("{n} SealedSecrets Ready and their Secrets in {ns}"), Duration::from_secs(600), || async {
        let sealed = api.list(&ListParams::default()).await?.items;
        let ready = sealed.iter().filter(|s| ready_condition(s).as_deref() == Some("True")).count();
        Ok(ready >= n && secrets.list_metadata(&managed).await?.items.len() >= n)
    })
    .await
}

/// What must not move: every Secret of the workload's namespace (uid and resourceVersion),
/// and in the controller's namespace the key Secrets and the published-key ConfigMap
/// (resourceVersion and content). Content is compared, never printed.
#[derive(PartialEq, Eq)]
pub(super) struct Snapshot(BTreeMap<String, String>);

impl Snapshot {
    pub(super) async fn take(cluster: &Cluster, ns: &str, controller_ns: &str) -> anyhow::Result<Snapshot> {
        let mut all = BTreeMap::new();
        for s in Api::<Secret>::namespaced(cluster.client(), ns).list_metadata(&ListParams::default()).await? {
            let (name, uid, version) = (s.metadata.name, s.metadata.uid, s.metadata.resource_version);
            all.insert(format!("Secret {ns}/{}", name.unwrap_or_default()), format!("{uid:?} {version:?}"));
        }
        let keys = ListParams::default().labels(gitseal::crds::storage::KEY_SELECTOR);
        for s in Api::<Secret>::namespaced(cluster.client(), controller_ns).list(&keys).await? {
            let content = format!("{:?} {:?}", s.metadata.resource_version, s.data.map(|d| serde_json::to_string(&d)));
            all.insert(format!("key Secret {}", s.metadata.name.unwrap_or_default()), content);
        }
        let configmap = gitseal::crds::storage::PUBLIC_KEYS_CONFIGMAP;
        let published = Api::<ConfigMap>::namespaced(cluster.client(), controller_ns).get(configmap).await?;
        all.insert(
            format!("ConfigMap {configmap}"),
            format!("{:?} {:?}", published.metadata.resource_version, published.data),
        );
        Ok(Snapshot(all))
    }

    /// The names of what moved since `self`, or appeared, or went.
    pub(super) fn changed(&self, now: &Snapshot) -> Vec<String> {
        let names = self.0.keys().chain(now.0.keys()).collect::<std::collections::BTreeSet<_>>();
        names.into_iter().filter(|n| self.0.get(*n) != now.0.get(*n)).cloned().collect()
    }

    pub(super) fn len(&self) -> usize {
        self.0.len()
    }
}

/// A watch on the namespace's SealedSecrets (through v1alpha1, served by every release)
/// recording each one seen with Ready other than True.
pub(super) struct ReadyWatch {
    task: JoinHandle<anyhow::Result<()>>,
    lost: Arc<Mutex<BTreeMap<String, String>>>,
}

impl ReadyWatch {
    pub(super) fn start(cluster: &Cluster, ns: &str) -> ReadyWatch {
        let lost = Arc::new(Mutex::new(BTreeMap::new()));
        let seen = Arc::clone(&lost);
        // A CRD update restarts the API server's watches on its resource, so the watch can
        // end with "too old resource version"; the watcher then lists again (every object
        // seen anew) and goes on, and so does this.
        let objects = watcher(sealed_api(cluster, ns, "v1alpha1"), watcher::Config::default())
            .default_backoff()
            .applied_objects();
        let task = tokio::spawn(async move {
            let mut objects = std::pin::pin!(objects);
            while let Some(object) = objects.next().await {
                let Ok(object) = object else { continue };
                let ready = ready_condition(&object).unwrap_or_else(|| "absent".into());
                if ready != "True" {
                    let name = object.metadata.name.unwrap_or_default();
                    seen.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.insert(name, ready);
                }
            }
            anyhow::Ok(())
        });
        ReadyWatch { task, lost }
    }

    /// Ends the watch; the SealedSecrets it saw not Ready (name and status), or the error
    /// that ended it early.
    pub(super) async fn stop(self) -> anyhow::Result<BTreeMap<String, String>> {
        if self.task.is_finished() {
            self.task.await??;
            anyhow::bail!("the watch on SealedSecrets ended early");
        }
        self.task.abort();
        let lost = self.lost.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.clone();
        Ok(lost)
    }
}

/// The rollout to `image` is done: two Ready replicas both on it, one of them holding the
/// Lease, and that leader's `/metrics` counting at least `objects` reconciliations (a full
/// pass over what was there). Returns the leader's name.
pub(super) async fn settled(
    cluster: &Cluster,
    controller_ns: &str,
    image: &str,
    objects: usize,
) -> anyhow::Result<String> {
    let on_image = |pod: &k8s_openapi::api::core::v1::Pod| {
        pod.spec.as_ref().and_then(|s| s.containers.first()).and_then(|c| c.image.as_deref()) == Some(image)
    };
    eventually(&format!("both replicas run {image}"), ROLLOUT, || async {
        let pods = live_pods(cluster, controller_ns).await?;
        Ok(pods.len() == 2 && pods.iter().all(|p| on_image(p) && ready(p)))
    })
    .await?;
    let (pods, leader) = rolled_out(cluster, controller_ns).await?;
    let pod =
        pods.iter().find(|p| p.metadata.name.as_deref() == Some(&leader)).context("the leader is not a new Pod")?;
    ensure!(on_image(pod), "the leader {leader} does not run {image}");
    let ip = pod.status.as_ref().and_then(|s| s.pod_ip.as_deref()).context("no Pod IP")?.parse()?;
    eventually(&format!("the new leader has reconciled {objects} objects"), ROLLOUT, || {
        let (status, body) = http_get_at(ip, 8080, "/metrics");
        let total: f64 = body
            .lines()
            .filter(|l| l.starts_with("gitseal_reconciles_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        async move { Ok(status == 200 && total >= objects as f64) }
    })
    .await?;
    Ok(leader)
}

/// Every SealedSecret of `ns` served as `gitseal.dev/v1`, read without the Rust types.
pub(super) async fn served_as_v1(cluster: &Cluster, ns: &str, n: usize) -> anyhow::Result<()> {
    let items =
        sealed_api(cluster, ns, "v1").list(&ListParams::default()).await.context("listing gitseal.dev/v1")?.items;
    ensure!(items.len() >= n, "{} SealedSecrets served as gitseal.dev/v1, expected {n}", items.len());
    let first = items.first().and_then(|o| o.metadata.name.clone()).context("no SealedSecret")?;
    let one = sealed_api(cluster, ns, "v1").get(&first).await?;
    let version = one.types.as_ref().map(|t| t.api_version.as_str());
    ensure!(version == Some("gitseal.dev/v1"), "{first} served as {version:?}");
    ensure!(ready_condition(&one).as_deref() == Some("True"), "{first} read as v1 is not Ready");
    Ok(())
}
