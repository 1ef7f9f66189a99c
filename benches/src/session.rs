//! What every bench starts with: the cluster, its bench namespaces cleared, and the
//! controller's key made or loaded once.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, Result};
use gitseal::{Recipients, SealedSecret};
use kube::Client;
use kube::api::{Api, ListParams};

use super::{ClusterProcs, Launch, delete_bench_namespaces, load_average, log, prime_keys};
use crate::Cluster;

/// The flags every bench takes to start its session.
#[derive(Debug, clap::Args)]
pub struct SessionArgs {
    /// The gitseal-controller binary (release build).
    #[arg(long)]
    pub controller: PathBuf,
    /// Requests in flight creating the ordinary objects; also passed to the controller as
    /// --concurrency.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Upper bound, in seconds, on each waiting step (Secrets, Ready, namespace deletion).
    #[arg(long, default_value_t = 1800)]
    pub timeout_secs: u64,
    /// dev/cluster/.state of the cluster, to report the CPU time of kube-apiserver and
    /// etcd per phase (optional).
    #[arg(long)]
    pub cluster_state: Option<PathBuf>,
    /// Where controller logs and kubeconfigs go (default: a new directory under /tmp).
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
}

/// A bench's cluster, controller launch settings and the controller's published key.
pub struct Session {
    /// The cluster, as admin.
    pub cluster: Cluster,
    /// Its admin client.
    pub admin: Client,
    /// Upper bound on each waiting step.
    pub timeout: Duration,
    /// The control plane's processes, for their CPU time.
    pub procs: ClusterProcs,
    /// How the controller is started.
    pub launch: Launch,
    /// The key the controller published.
    pub recipients: Recipients,
}

impl Session {
    /// Connects, deletes leftover bench namespaces, warns about other SealedSecrets (the
    /// controller reconciles them too), and runs the controller once to make or load its
    /// key. The work directory defaults to a new one under /tmp named after `bench`.
    ///
    /// # Errors
    /// A missing controller binary, an unreachable cluster, or a controller that does not
    /// publish its key in time.
    pub async fn open(bench: &str, args: &SessionArgs) -> Result<Session> {
        let SessionArgs { controller, concurrency, timeout_secs, cluster_state, work_dir } = args;
        let (concurrency, timeout) = (*concurrency, Duration::from_secs(*timeout_secs));
        anyhow::ensure!(concurrency > 0, "--concurrency must be at least 1");
        anyhow::ensure!(controller.is_file(), "--controller {}: no such file", controller.display());
        let work_dir = work_dir
            .clone()
            .unwrap_or_else(|| std::env::temp_dir().join(format!("gitseal-{bench}-{}", std::process::id())));
        std::fs::create_dir_all(&work_dir).with_context(|| format!("creating {}", work_dir.display()))?;
        let cluster = Cluster::connect().await?;
        let admin = cluster.client();
        let procs = ClusterProcs::from_state(cluster_state.as_deref());
        log(&format!("work dir {}; kubeconfig {}", work_dir.display(), cluster.kubeconfig_path().display()));
        let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
        log(&format!("machine: {cpus} CPUs; {}", load_average()));

        delete_bench_namespaces(&admin, timeout).await?;
        let others = Api::<SealedSecret>::all(admin.clone()).list_metadata(&ListParams::default()).await?.items.len();
        if others > 0 {
            log(&format!(
                "warning: {others} SealedSecrets already exist on this cluster; the controller reconciles them too"
            ));
        }
        let launch = Launch { binary: controller.to_owned(), concurrency, work_dir };
        let recipients = prime_keys(&cluster, &launch, timeout).await?;
        Ok(Session { cluster, admin, timeout, procs, launch, recipients })
    }
}
