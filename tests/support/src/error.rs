use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

use crate::flux::Component;

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
         Start it from the workspace root with `dev/cluster/up` (the first run builds the \
         binaries, which takes a while), or point GITSEAL_KUBECONFIG at a running cluster's \
         admin kubeconfig. `dev/cluster/down` stops it.",
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

    #[error("cannot run {}", program.display())]
    RunCommand {
        program: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("`{command}` failed ({status}): {stderr}")]
    CommandFailed { command: String, status: ExitStatus, stderr: String },

    // helm and the chart's manifests (crate::helm).
    #[error("cannot make a temporary home for helm")]
    HelmHome(#[source] std::io::Error),

    #[error("helm {args} failed:\n{stderr}")]
    RunHelm { args: String, stderr: String },

    // promtool and the chart's alerts (crate::prometheus).
    #[error("promtool {args} failed:\n{output}")]
    RunPromtool { args: String, output: String },

    #[error("cannot write or copy {} for promtool", path.display())]
    PromtoolFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    // Flux (crate::flux).
    #[error("Flux is not built: Go is not installed, and dev/tools/flux/build needs it")]
    FluxNotBuilt,

    #[error("cannot prepare {} for Flux", path.display())]
    FluxDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("Flux's {component} exited ({status}) {during}; its logs end:\n{logs}")]
    FluxExited { component: Component, status: ExitStatus, during: String, logs: String },

    #[error("Flux's {component} did not answer /readyz within {timeout:?}; its logs end:\n{logs}")]
    FluxNotReady { component: Component, timeout: Duration, logs: String },

    #[error("cannot read manifests from {}", path.display())]
    ReadManifests {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{origin} is not a stream of YAML objects")]
    ParseManifests {
        origin: String,
        #[source]
        source: Box<serde_saphyr::Error>,
    },

    // The benchmarks' errors (crate::bench).
    #[error("creating namespace {name}")]
    CreateBenchNamespace {
        name: String,
        #[source]
        source: kube::Error,
    },

    #[error("cannot list namespaces")]
    ListNamespaces(#[source] kube::Error),

    #[error("namespaces {names} still exist after {timeout:?}")]
    NamespacesRemain { names: String, timeout: Duration },

    #[error("no free loopback port for the controller's HTTP server")]
    FreePort(#[source] std::io::Error),

    #[error("creating {}", path.display())]
    CreateLog {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("starting {}", path.display())]
    StartController {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The controller under measurement ended before the bench was done with it.
    #[error("the controller exited ({status}) {during}")]
    ControllerExited { status: ExitStatus, during: String },

    #[error("the controller did not publish its public keys in time")]
    KeysNotPublished,

    #[error("cannot read the public-keys ConfigMap")]
    ReadPublicKeys(#[source] kube::Error),

    #[error("the published public keys do not parse")]
    ParseRecipients(#[source] gitseal::Error),

    #[error("cannot read the controller's Lease")]
    ReadLease(#[source] kube::Error),

    #[error(
        "another gitseal-controller ({holder}) holds Lease {namespace}/{name} and keeps renewing it; \
         the benchmark must be the only controller on the cluster (the bench scripts' --own-cluster gives it a cluster of its own)"
    )]
    LeaseHeld { holder: String, namespace: String, name: String },

    /// A tool's build script (dev/tools/<tool>/build) failed.
    #[error("{script} could not build {what}:\n{stderr}")]
    BuildTool { script: &'static str, what: &'static str, stderr: String },

    /// A Lua health check could not run or failed.
    #[error("lua: {0}")]
    Lua(String),

    /// The Git server of the GitOps tests could not start or set up a repository.
    #[error("git server: {0}")]
    GitServer(String),

    #[error("a watch did not start")]
    WatchNotStarted,

    #[error("timed out after {timeout:?} with {counted}/{expected} {what}")]
    CountTimedOut { what: String, counted: usize, expected: usize, timeout: Duration },

    #[error("stuck at {counted}/{expected} {what} for {stalled:?}")]
    CountStalled { what: String, counted: usize, expected: usize, stalled: Duration },

    #[error("sealing the bench's SealedSecrets")]
    Seal(#[source] gitseal::Error),

    #[error("a sealing thread panicked")]
    SealThreadPanicked,

    /// Some of many concurrent requests failed; `source` is the first failure.
    #[error("{failed} requests failed {what}")]
    Requests {
        what: String,
        failed: usize,
        #[source]
        source: kube::Error,
    },

    #[error("reading the API server's /metrics")]
    ScrapeMetrics(#[source] kube::Error),

    // The incumbent's errors (crate::incumbent). Those about its controller name its log.
    #[error(
        "the incumbent (bitnami sealed-secrets) is not built: Go is not installed, and \
         dev/tools/incumbent/build needs it"
    )]
    IncumbentNotBuilt,

    #[error("cannot locate the Go module {module} with `go mod download -json`: {reason}")]
    LocateIncumbentModule { module: String, reason: String },

    #[error("the kubeconfig {} names no server URL with a host and port: {server:?}", path.display())]
    KubeconfigServer { path: PathBuf, server: Option<String> },

    #[error(
        "the kubeconfig {} gives no certificate authority for its server \
         (certificate-authority-data or certificate-authority)",
        path.display()
    )]
    KubeconfigCa { path: PathBuf },

    #[error("cannot read the certificate authority of the kubeconfig {}", path.display())]
    ReadKubeconfigCa {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("certificate-authority-data in the kubeconfig {} is not base64", path.display())]
    DecodeKubeconfigCa {
        path: PathBuf,
        #[source]
        source: base64::DecodeError,
    },

    #[error("cannot write {}", path.display())]
    WriteIncumbentFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot list the incumbent's key Secrets")]
    ListIncumbentKeys(#[source] kube::Error),

    #[error("cannot delete the incumbent's key Secrets left by an earlier run")]
    DeleteIncumbentKeys(#[source] kube::Error),

    #[error(
        "waited {timeout:?} for the turn to run the incumbent's controller: another Incumbent \
         of this test process is still alive (a test that holds one and starts a second waits \
         for itself)"
    )]
    IncumbentTurn { timeout: Duration },

    #[error("the incumbent's controller exited ({status}) {during}; its log: {}", log.display())]
    IncumbentExited { status: ExitStatus, during: String, log: PathBuf },

    #[error(
        "timed out after {timeout:?} waiting for the incumbent's controller: {waiting_for}; \
         its log: {}",
        log.display()
    )]
    IncumbentNotReady { waiting_for: String, timeout: Duration, log: PathBuf },

    #[error(
        "the incumbent's controller did not serve its certificate: GET /v1/cert.pem on \
         127.0.0.1:{port} answered HTTP {status} (0: no answer); its log: {}",
        log.display()
    )]
    IncumbentCert { port: u16, status: u16, log: PathBuf },

    #[error("the incumbent's controller does not have the keys expected: {reason}; its log: {}", log.display())]
    IncumbentKeys { reason: String, log: PathBuf },
}
