//! What the benchmark binaries (`controller-bench`, `hostile-bench`) share: a
//! gitseal-controller process started under its ServiceAccount, what `/proc` says about
//! it, the bench's namespaces and workloads, and objects counted on a watch.
//!
//! ```text
//!  prime_keys ──▶ Controller::start ─ KUBECONFIG: ServiceAccount token (deploy/'s RBAC)
//!      │             │ /proc/<pid>: VmHWM, VmRSS, CPU     /metrics: reconciles
//!      ▼             ▼
//!  Recipients    wait_count(Progress) ◀── spawn_counter: watch of Secrets / SealedSecrets
//!      │
//!      └──▶ seal_all ──▶ create_sealed ──▶ namespace gitseal-bench-… (deleted at start/end)
//!  Vitals: /healthz, /readyz and VmRSS every 100 ms; Lease renewals; LargeSet: the
//!  largest objects the API server stores, legitimate and hostile
//! ```
//!
//! The controller is the only one on the cluster while a bench measures:
//! [`wait_for_lease`] refuses to start it while another holder keeps renewing the Lease.

mod controller;
mod counter;
mod hostile;
mod namespaces;
mod procfs;
mod session;
mod vitals;

pub use controller::{Controller, Launch, prime_keys, wait_for_lease};
pub use counter::{Progress, spawn_counter, wait_count, wait_synced};
use gitseal_test_support::{Cluster, E2E_LABEL, Error, free_port, http_get, workspace_root};
pub use gitseal_test_support::{
    KEYS, MANAGED_SELECTOR, Sample, Samples, apf_waits, create_sealed, delta, etcd_writes, first_error, is_ready, name,
    parse_metrics, ready_status, request_counts, scrape_apiserver, seal_all, sealing_writes, value, writes,
};
pub use hostile::{Kind, LEGIT_VALUE, LargeSet, SizeLimit, TRIALS_VALUES, largest_stored};
pub use namespaces::{create_namespace, delete_bench_namespaces};
pub use procfs::{ClusterProcs, Measured, cpu_delta, cpu_text, load_average, proc_cpu_seconds, proc_status_kib};
pub use session::{Session, SessionArgs};
pub use vitals::{LeaseReport, Vitals, VitalsReport, deployment_memory_limit_mib, spawn_lease_watch};

/// The controller's namespace, as deploy/ creates it.
pub const CONTROLLER_NS: &str = "gitseal-system";
/// The controller's ServiceAccount, as deploy/ creates it.
pub const CONTROLLER_SA: &str = "gitseal-controller";
/// The controller's leader-election Lease.
pub const LEASE: &str = "gitseal-controller";
/// The ConfigMap the controller publishes its public keys in.
pub use gitseal::crds::storage::PUBLIC_KEYS_CONFIGMAP as PUBLIC_KEYS;
/// Identity of the controller a bench starts (leader election, Events).
pub const IDENTITY: &str = "gitseal-bench";
/// Prefix of every namespace a bench makes; leftovers are deleted at start.
pub const NS_PREFIX: &str = "gitseal-bench-";

/// Progress and details go to stderr as `[<binary name>] message`; stdout is for tables.
pub fn log(message: &str) {
    static NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let name = NAME.get_or_init(|| {
        std::env::args_os()
            .next()
            .and_then(|argv0| std::path::Path::new(&argv0).file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "bench".into())
    });
    eprintln!("[{name}] {message}");
}
