//! The incumbent's phases: bitnami sealed-secrets' own controller, cold-started with N of
//! its SealedSecrets waiting, on the same API server and measured as gitseal-controller
//! is ([`ColdStart`]).
//!
//! ```text
//!  Incumbent::start ─▶ /v1/cert.pem ─▶ kubeseal --raw --scope cluster-wide, 3 values, once
//!       │ halt                                 │ 3 ciphertexts
//!       ▼                                      ▼
//!  N bitnami SealedSecrets, each carrying them ─▶ namespace gitseal-bench-bitnami-<flags>-<N>
//!       │ restart(flags): a cold start under its ServiceAccount, its key kept
//!       ▼
//!  counted on watches: Secrets a bitnami SealedSecret controls; SealedSecrets Synced=True
//! ```
//!
//! Calling `kubeseal` once per object would take minutes at N = 10,000, so all objects
//! carry the same three cluster-wide ciphertexts. That costs the controller what N
//! different ones would: it runs one RSA-OAEP decryption and one AES-GCM open per value
//! whatever the values are, and the scope only changes the OAEP label (empty here).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, Result};
use futures::StreamExt;
use gitseal::incumbent::{API_VERSION, CLUSTER_WIDE};
use gitseal_bench::{
    ClusterProcs, KEYS, Measured, NS_PREFIX, create_namespace, first_error, load_average, log, name, spawn_counter,
    value,
};
use gitseal_test_support::Cluster;
use gitseal_test_support::incumbent::Incumbent;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, PostParams};
use kube::core::PartialObjectMeta;
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use serde_json::json;

use crate::cold_start::{Before, ColdStart, Counters, settle_writes};

/// Its controller with client-side throttling off (client-go's default: 5 QPS, burst 10).
pub const UNTHROTTLED: &[&str] = &["--kubeclient-qps=-1"];

/// The incumbent's controller between cold starts, and the values its objects carry.
pub struct Bitnami {
    incumbent: Incumbent,
    /// Data key → what `kubeseal --raw --scope cluster-wide` made of `value(0, key)`.
    sealed: BTreeMap<String, String>,
    /// The certificate it sealed them with, as its controller served it.
    cert: PathBuf,
    rss_at_first_kib: Option<u64>,
}

impl Bitnami {
    /// Starts the incumbent (a fresh key), seals the three values with its `kubeseal`, and
    /// stops its controller until the first cold start.
    pub async fn prepare(cluster: &Cluster) -> Result<Bitnami> {
        let incumbent = Incumbent::start(cluster).await?;
        let mut sealed = BTreeMap::new();
        for (k, key) in KEYS.iter().enumerate() {
            let args = ["--raw", "--scope", "cluster-wide", "--from-file=/dev/stdin"];
            let out = gitseal_test_support::succeeded("kubeseal --raw", incumbent.kubeseal(&args, &value(0, k))?)?;
            sealed.insert((*key).to_owned(), String::from_utf8(out.stdout)?.trim().to_owned());
        }
        log(&format!(
            "the incumbent sealed {} values with kubeseal --raw --scope cluster-wide ({} bytes of base64 each)",
            sealed.len(),
            sealed.values().next().map_or(0, String::len)
        ));
        let cert = incumbent.cert()?;
        let mut bitnami = Bitnami { incumbent, sealed, cert, rss_at_first_kib: None };
        bitnami.incumbent.halt();
        Ok(bitnami)
    }

    pub fn incumbent(&self) -> &Incumbent {
        &self.incumbent
    }

    /// Ends the incumbent: its controller, scratch directory and turn.
    pub fn stop(self) {
        self.incumbent.stop();
    }

    /// The certificate `kubeseal --cert` takes, in the incumbent's scratch directory.
    pub fn cert(&self) -> &Path {
        &self.cert
    }

    /// N bitnami SealedSecrets created while its controller is stopped, then the
    /// controller started with `flags`: until all N Secrets exist and all N say
    /// `Synced=True`. Stops the controller again.
    pub async fn cold_start(
        &mut self,
        admin: &Client,
        procs: &ClusterProcs,
        n: usize,
        flags: &[&str],
        concurrency: usize,
        timeout: Duration,
    ) -> Result<ColdStart> {
        let label = if flags.is_empty() { "default flags".to_owned() } else { flags.join(" ") };
        log(&format!("=== N = {n}: the incumbent, {label} === ({})", load_average()));
        let tag = if flags.is_empty() { "default" } else { "unthrottled" };
        let ns = create_namespace(admin, &format!("{NS_PREFIX}bitnami-{tag}-{n}")).await?;
        let start = std::time::Instant::now();
        self.create(admin, &ns, n, concurrency).await?;
        log(&format!("created {n} bitnami SealedSecrets in {:.2} s", start.elapsed().as_secs_f64()));

        let counters = Counters {
            secrets: spawn_counter(
                Api::<PartialObjectMeta<Secret>>::namespaced(admin.clone(), &ns),
                watcher::Config::default(),
                controlled_by_bitnami,
            ),
            ready: spawn_counter(
                Api::namespaced_with(admin.clone(), &ns, &resource()),
                watcher::Config::default(),
                synced,
            ),
            ready_what: "Synced SealedSecrets",
        };
        counters.synced(timeout).await?;
        let before = Before::take(admin, procs).await?;
        self.rss_at_first_kib = None;
        self.incumbent.restart(flags).await?;
        let log_path = self.incumbent.log_path();
        let outcome = async {
            let times = counters.wait(self, n, timeout).await?;
            // Its Events are posted by a queue of their own, behind its work.
            settle_writes(admin, Duration::from_secs(3), Duration::from_secs(120)).await?;
            ColdStart::read(n, self, &counters, times, before, admin, procs).await
        }
        .await;
        self.incumbent.halt();
        outcome.with_context(|| format!("the incumbent's controller logged to {}", log_path.display()))
    }

    async fn create(&self, admin: &Client, ns: &str, n: usize, concurrency: usize) -> Result<()> {
        let api: Api<DynamicObject> = Api::namespaced_with(admin.clone(), ns, &resource());
        let pp = PostParams::default();
        let results: Vec<Result<(), kube::Error>> = futures::stream::iter(0..n)
            .map(|i| {
                let (api, pp, object) = (&api, &pp, self.sealed_secret(ns, &name(i)));
                async move { api.create(pp, &object).await.map(|_| ()) }
            })
            .buffer_unordered(concurrency)
            .collect()
            .await;
        Ok(first_error(results, "creating a bitnami SealedSecret")?)
    }

    /// What `kubeseal --scope cluster-wide -o yaml` writes for a Secret `ns/name`.
    fn sealed_secret(&self, ns: &str, name: &str) -> DynamicObject {
        let annotations = BTreeMap::from([(CLUSTER_WIDE.to_owned(), "true".to_owned())]);
        let mut object = DynamicObject::new(name, &resource()).within(ns).data(json!({
            "spec": {
                "encryptedData": self.sealed,
                "template": { "metadata": { "name": name, "namespace": ns, "annotations": annotations } },
            }
        }));
        object.metadata.annotations = Some(annotations);
        object
    }
}

impl Measured for Bitnami {
    fn started(&self) -> std::time::Instant {
        self.incumbent.started()
    }

    fn pid(&self) -> Option<u32> {
        Some(self.incumbent.pid())
    }

    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.incumbent.exited()
    }

    fn rss_at_first_kib(&mut self) -> &mut Option<u64> {
        &mut self.rss_at_first_kib
    }
}

/// The incumbent's SealedSecret resource.
fn resource() -> ApiResource {
    let (group, version) = API_VERSION.split_once('/').unwrap_or(("bitnami.com", "v1alpha1"));
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, "SealedSecret"), "sealedsecrets")
}

/// A Secret the incumbent wrote: its controller owner is a bitnami SealedSecret.
fn controlled_by_bitnami(secret: &PartialObjectMeta<Secret>) -> bool {
    let owners = secret.owner_references();
    owners.iter().any(|o| o.api_version == API_VERSION && o.kind == "SealedSecret" && o.controller == Some(true))
}

/// The incumbent's only condition, `Synced`, is `True`.
fn synced(sealed: &DynamicObject) -> bool {
    let conditions = sealed.data.pointer("/status/conditions").and_then(|c| c.as_array());
    conditions.into_iter().flatten().any(|c| c["type"] == "Synced" && c["status"] == "True")
}
