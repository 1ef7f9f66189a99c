//! Command-line flags of `gitseal-controller`.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;

/// Unseals SealedSecrets into Secrets, keeps them in place, publishes the public keys.
#[derive(Clone, Debug, Parser)]
#[command(name = "gitseal-controller", version)]
pub struct Args {
    /// Namespace holding the key ring, the lease and the public-keys ConfigMap.
    #[arg(long, env = "POD_NAMESPACE", default_value = "gitseal-system")]
    pub namespace: String,
    /// Address of the HTTP server (probes, metrics, public keys).
    #[arg(long, default_value = "0.0.0.0:8080")]
    pub http_addr: SocketAddr,
    /// Identity in leader election and Events (default: the host name).
    #[arg(long, env = "POD_NAME")]
    pub pod_name: Option<String>,
    /// SealedSecrets reconciled at once.
    #[arg(long, default_value_t = 32)]
    pub concurrency: u16,
    /// Create a new key when the published one is this old (30d, 720h, 45m, 90s; 0 = never).
    #[arg(long, default_value = "30d", value_parser = crate::rotation::parse_period)]
    pub key_rotation_period: Duration,
    /// Read the initial list of SealedSecrets as a stream of watch events, one object at a
    /// time (Kubernetes' WatchList, on by default since 1.32), rather than in pages of 50.
    /// A page of the largest objects the API server accepts is 75 MB of JSON; a stream
    /// holds one object at a time. Pass `--streaming-lists=false` where the API server
    /// lacks WatchList.
    #[arg(long, env = "GITSEAL_STREAMING_LISTS", default_value_t = true, action = clap::ArgAction::Set)]
    pub streaming_lists: bool,
    /// A Secret type templates may not ask for, besides the defaults
    /// (`kubernetes.io/service-account-token`). Repeatable, or comma-separated in the
    /// environment variable.
    #[arg(long, env = "GITSEAL_REFUSE_SECRET_TYPES", value_delimiter = ',')]
    pub refuse_secret_type: Vec<String>,
    /// A label or annotation key prefix templates may not use, besides the defaults (the
    /// replicators' prefixes, `kubernetes.io/service-account.`). Repeatable, or
    /// comma-separated in the environment variable.
    #[arg(long, env = "GITSEAL_REFUSE_ANNOTATION_PREFIXES", value_delimiter = ',')]
    pub refuse_annotation_prefix: Vec<String>,
    /// Seconds a leader's lease lasts without renewal before a standby takes over.
    #[arg(long, default_value_t = 15)]
    pub lease_duration_secs: u64,
    /// Namespace-scoped mode: watch SealedSecrets and their Secrets only in these
    /// namespaces (a,b), where Roles grant the controller access; empty: every namespace,
    /// under the ClusterRole. Its own namespace (--namespace) is always used for the key
    /// ring, the lease and key requests.
    #[arg(long, env = "GITSEAL_WATCH_NAMESPACES", value_delimiter = ',')]
    pub watch_namespaces: Vec<String>,
}

impl Args {
    /// This replica's identity.
    pub fn identity(&self) -> String {
        self.pod_name
            .clone()
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_else(|| format!("gitseal-controller-{}", std::process::id()))
    }

    /// The template policy: the defaults and the refusals these flags add.
    pub fn template_policy(&self) -> gitseal::template_policy::TemplatePolicy {
        gitseal::template_policy::TemplatePolicy::with_extra(&self.refuse_secret_type, &self.refuse_annotation_prefix)
    }

    /// How long a lease lasts.
    pub fn lease_duration(&self) -> Duration {
        Duration::from_secs(self.lease_duration_secs.max(3))
    }

    /// How often the leader renews and standbys retry: a fifth of the lease.
    pub fn retry_period(&self) -> Duration {
        self.lease_duration() / 5
    }

    /// How long a leader may fail to renew before it steps down: two thirds of the lease,
    /// so it stops before anyone else can take the lease over.
    pub fn renew_deadline(&self) -> Duration {
        self.lease_duration() * 2 / 3
    }
}
