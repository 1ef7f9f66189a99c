use std::path::PathBuf;
use std::time::Duration;

/// What went wrong while talking to the local control plane.
///
/// Variants name the operation that failed; API errors keep the [`kube::Error`] as source
/// so a test can match on the status code.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// There is no running control plane at the kubeconfig's address.
    #[error(
        "the local Kubernetes control plane is not available: {reason} (kubeconfig: {}).\n\
         Start it from the workspace root with `tests/cluster/up` (the first run builds the \
         binaries, which takes a while), or point GITSEAL_KUBECONFIG at a running cluster's \
         admin kubeconfig. `tests/cluster/down` stops it.",
        kubeconfig.display()
    )]
    ClusterUnavailable { kubeconfig: PathBuf, reason: String },

    /// The kubeconfig exists but cannot be read or used.
    #[error("cannot use the kubeconfig {}", path.display())]
    LoadKubeconfig {
        path: PathBuf,
        #[source]
        source: kube::config::KubeconfigError,
    },

    /// The kubeconfig has no usable current context and cluster.
    #[error("the kubeconfig {} has no current context naming a cluster", path.display())]
    KubeconfigWithoutCluster { path: PathBuf },

    #[error("cannot build a client from the kubeconfig")]
    CreateClient(#[source] kube::Error),

    #[error("cannot create a namespace named {prefix}-…")]
    CreateNamespace {
        prefix: String,
        #[source]
        source: kube::Error,
    },

    #[error("cannot delete namespace {name}")]
    DeleteNamespace {
        name: String,
        #[source]
        source: kube::Error,
    },

    #[error("cannot create ServiceAccount {namespace}/{name}")]
    CreateServiceAccount {
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },

    #[error("TokenRequest for ServiceAccount {namespace}/{name} failed")]
    RequestToken {
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },

    #[error("TokenRequest for ServiceAccount {namespace}/{name} returned no token")]
    EmptyToken { namespace: String, name: String },

    #[error("cannot write kubeconfig {}", path.display())]
    WriteKubeconfig {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot serialize a kubeconfig")]
    SerializeKubeconfig(#[source] serde_saphyr::SerializeError),

    #[error("cannot read CRD file {}", path.display())]
    ReadCrd {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("CRD file {} is not a CustomResourceDefinition", path.display())]
    ParseCrd {
        path: PathBuf,
        #[source]
        source: Box<serde_saphyr::Error>,
    },

    #[error("cannot apply CRD {name}")]
    ApplyCrd {
        name: String,
        #[source]
        source: kube::Error,
    },

    #[error("watching CRD {name} for Established failed")]
    WatchCrd {
        name: String,
        #[source]
        source: kube::runtime::wait::Error,
    },

    #[error("CRD {name} was not Established within {timeout:?}")]
    CrdNotEstablished { name: String, timeout: Duration },
}
