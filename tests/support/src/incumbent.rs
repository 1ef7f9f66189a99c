//! The incumbent, bitnami sealed-secrets, run for real on the local control plane: its
//! own controller binary unseals its own SealedSecrets, and its own `kubeseal` seals them,
//! so migration tests can start from exactly what its users have.
//!
//! ```text
//!  dev/tools/incumbent/build ──▶ <cache>/sealed-secrets-<version>/bin/{controller,kubeseal}
//!
//!  Incumbent::start(&cluster)               (waits for the process-wide turn)
//!    ├─ install_crd(<Go module>/helm/sealed-secrets/crds/bitnami.com_sealedsecrets.yaml)
//!    ├─ kubectl apply -f dev/tools/incumbent/rbac.yaml    namespace, ServiceAccount, RBAC
//!    ├─ delete key Secrets left in namespace sealed-secrets by an earlier run
//!    └─ controller as ServiceAccount sealed-secrets/sealed-secrets-controller (in_cluster)
//!         ├─▶ key Secret sealed-secrets-key<xxxxx>   (label sealedsecrets.bitnami.com/sealed-secrets-key)
//!         └─▶ 127.0.0.1:<port> /healthz /readyz /v1/cert.pem ──▶ cert() ──▶ kubeseal --cert
//!
//!  rotate()       restart with --key-cutoff-time=<now>: a second key, used for new seals
//!  keys_backup()  kubectl get secret -n sealed-secrets -l <key label> -o yaml
//!  halt()         controller stopped, keys and turn kept: new SealedSecrets wait
//!  restart(flags) started again with these flags, a fresh token, the same keys: a cold
//!                 start (controller-bench times it from started(), reads /proc/<pid>)
//! ```
//!
//! [`Incumbent::start_with`] starts it with extra flags, e.g. `--kubeclient-qps=-1`.
//!
//! # One at a time
//! Every incumbent controller watches every bitnami SealedSecret in the cluster and shares
//! one key namespace, so only one may run. An [`Incumbent`] holds a process-wide turn from
//! [`Incumbent::start`] until it is dropped; a second `start` in the same test process
//! waits for it. A test must therefore not hold two, and separate test processes must not
//! use one cluster at the same time (cargo runs test binaries one after another).
//!
//! # Leftovers slow it down
//! [`Incumbent::start`] deletes the keys of earlier runs, so a bitnami SealedSecret left
//! on the cluster by an earlier test can never be unsealed again; yet every controller
//! retries it at start-up, through a client limited to 5 requests a second. A dozen of
//! them delay the unsealing of a new one from 0.2 s to 3 s. Tests delete their namespace
//! when they pass ([`Cluster::delete_namespace`]); `dev/cluster/kubectl delete ns -l
//! gitseal.dev/e2e` removes what failed tests left.
//!
//! # Scratch directory
//! Each Incumbent has a temporary directory with the controller's log, its in-cluster
//! files and the certificates [`Incumbent::cert`] writes. [`Incumbent::stop`], the end of
//! a test that went well, deletes it. Dropping an Incumbent without `stop` (a test that
//! returned an error or panicked), or after an error named the log (this module's, or a
//! test's that got the path from [`Incumbent::keep_log`]), kills the controller as well
//! but keeps the directory, without the token, and prints its path.

mod build;
mod in_cluster;
mod keys;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{DeleteParams, ListParams};
use tokio::sync::{Mutex, MutexGuard};

pub use build::incumbent_bin;
use in_cluster::{PodIdentity, PodProcess};

use crate::command::{output_with_stdin, succeeded};
use crate::{Cluster, Error, free_ports, workspace_root};
use keys::key_secrets;

/// The incumbent's namespace: its controller's ServiceAccount and its keys live here.
pub const NAMESPACE: &str = "sealed-secrets";

/// The ServiceAccount the controller runs as (dev/tools/incumbent/rbac.yaml).
pub const SERVICE_ACCOUNT: &str = "sealed-secrets-controller";

/// The label on the incumbent's key Secrets (value `active`).
pub const KEY_LABEL: &str = "sealedsecrets.bitnami.com/sealed-secrets-key";

/// How long [`Incumbent::start`] waits for another Incumbent of this process to go.
const TURN_TIMEOUT: Duration = Duration::from_secs(600);

/// How long a (re)started controller has to write its key and serve.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

static TURN: Mutex<()> = Mutex::const_new(());

/// The incumbent's controller, running on the cluster; killed on drop. See the module
/// documentation.
pub struct Incumbent {
    cluster: Cluster,
    bin: PathBuf,
    dir: tempfile::TempDir,
    identity: PodIdentity,
    process: PodProcess,
    port: u16,
    certs_written: AtomicUsize,
    log_named: AtomicBool,
    stopped: bool,
    _turn: MutexGuard<'static, ()>,
}

impl Incumbent {
    /// Takes the turn, prepares the cluster (CRD, RBAC, no keys left from an earlier run),
    /// and starts the incumbent's controller with default flags but for its listen
    /// addresses. Returns once it has written its one key Secret and answers `/healthz`
    /// and `/readyz`: about a second, most of it generating its 4096-bit RSA key.
    ///
    /// # Errors
    /// [`Error::IncumbentNotBuilt`] without Go (callers check [`incumbent_bin`] first to
    /// skip instead), [`Error::IncumbentTurn`], errors installing the CRD or RBAC or
    /// writing the in-cluster files, and [`Error::IncumbentExited`],
    /// [`Error::IncumbentNotReady`] or [`Error::IncumbentKeys`] naming the log.
    pub async fn start(cluster: &Cluster) -> Result<Incumbent, Error> {
        Self::start_with(cluster, &[]).await
    }

    /// Like [`Incumbent::start`], with `flags` added to the controller's command line, e.g.
    /// `["--kubeclient-qps=-1"]` (its client's rate limit off).
    ///
    /// # Errors
    /// As [`Incumbent::start`].
    pub async fn start_with(cluster: &Cluster, flags: &[&str]) -> Result<Incumbent, Error> {
        let turn = tokio::time::timeout(TURN_TIMEOUT, TURN.lock())
            .await
            .map_err(|_| Error::IncumbentTurn { timeout: TURN_TIMEOUT })?;
        // The first build takes minutes: off the runtime's thread.
        let bin = tokio::task::spawn_blocking(incumbent_bin)
            .await
            .unwrap_or_else(|failed| std::panic::resume_unwind(failed.into_panic()))
            .ok_or(Error::IncumbentNotBuilt)?;
        let crd = build::module_dir(&bin)?.join("helm/sealed-secrets/crds/bitnami.com_sealedsecrets.yaml");
        cluster.install_crd(&crd).await?;
        let rbac = workspace_root().join("dev/tools/incumbent/rbac.yaml");
        let rbac = rbac.to_string_lossy();
        succeeded("kubectl apply -f dev/tools/incumbent/rbac.yaml", cluster.kubectl(&["apply", "-f", &rbac], b"")?)?;
        key_secrets(cluster)
            .delete_collection(&DeleteParams::default(), &ListParams::default().labels(KEY_LABEL))
            .await
            .map_err(Error::DeleteIncumbentKeys)?;

        let dir = tempfile::Builder::new().prefix("gitseal-incumbent-").tempdir().map_err(|source| {
            Error::WriteIncumbentFile { path: std::env::temp_dir().join("gitseal-incumbent-*"), source }
        })?;
        let identity =
            PodIdentity::write(cluster, NAMESPACE, SERVICE_ACCOUNT, &dir.path().join("serviceaccount")).await?;
        let (process, port) = launch(&bin, &identity, dir.path(), flags)?;
        let mut incumbent = Incumbent {
            cluster: cluster.clone(),
            bin,
            dir,
            identity,
            process,
            port,
            certs_written: AtomicUsize::new(0),
            log_named: AtomicBool::new(false),
            stopped: false,
            _turn: turn,
        };
        incumbent.wait_ready(1, "starting").await?;
        Ok(incumbent)
    }

    /// The certificate new seals use, as the controller serves it on `/v1/cert.pem` (what
    /// `kubeseal --fetch-cert` would fetch through the service proxy, which needs a Pod),
    /// written to a new file in the scratch directory: `cert-1.pem`, `cert-2.pem`, …
    ///
    /// # Errors
    /// [`Error::IncumbentCert`], [`Error::WriteIncumbentFile`].
    pub fn cert(&self) -> Result<PathBuf, Error> {
        let (status, pem) = crate::http_get(self.port, "/v1/cert.pem");
        if status != 200 || !pem.contains("-----BEGIN CERTIFICATE-----") {
            return Err(Error::IncumbentCert { port: self.port, status, log: self.keep_log() });
        }
        let n = self.certs_written.fetch_add(1, Ordering::Relaxed) + 1;
        let path = self.dir.path().join(format!("cert-{n}.pem"));
        std::fs::write(&path, pem).map_err(|source| Error::WriteIncumbentFile { path: path.clone(), source })?;
        Ok(path)
    }

    /// The real `kubeseal --cert <current certificate> <args>` with `stdin`, and
    /// `$KUBECONFIG` set to the cluster's admin kubeconfig (kubeseal reads the default
    /// namespace from it). A failed run is returned as it is.
    ///
    /// # Errors
    /// As [`Incumbent::cert`], and [`Error::RunCommand`].
    pub fn kubeseal(&self, args: &[&str], stdin: &[u8]) -> Result<Output, Error> {
        let cert = self.cert()?;
        let mut command = Command::new(self.bin.join("kubeseal"));
        command.arg("--cert").arg(cert).args(args).env("KUBECONFIG", self.cluster.kubeconfig_path());
        output_with_stdin(&mut command, stdin)
    }

    /// The directory of the incumbent's binaries (`controller`, `kubeseal`).
    pub fn bin_dir(&self) -> &Path {
        &self.bin
    }

    /// The controller's log: stdout and stderr of every run, each after a `###` line with
    /// its command line.
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("controller.log")
    }

    /// The log's path, for an error that names it: the scratch directory is then kept
    /// when this Incumbent is dropped, so the log is still there to read.
    pub fn keep_log(&self) -> PathBuf {
        self.log_named.store(true, Ordering::Relaxed);
        self.log_path()
    }

    /// The controller's PID, e.g. to look at its mount namespace.
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// The loopback port of the controller's HTTP server.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// When the running (or last) controller process was spawned: where a cold start
    /// begins.
    pub fn started(&self) -> std::time::Instant {
        self.process.started()
    }

    /// How the controller ended, once it has (after [`Incumbent::halt`], or on its own).
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.process.exited()
    }

    /// Stops the controller (SIGKILL) but keeps its key Secrets and the turn: bitnami
    /// SealedSecrets created now wait for [`Incumbent::restart`], as they wait for a
    /// controller Pod being rescheduled or upgraded.
    pub fn halt(&mut self) {
        self.process.kill();
    }

    /// Starts the controller again (stopping it first if it runs) with `flags` after the
    /// listen addresses (those of earlier starts are not kept), under a fresh
    /// ServiceAccount token, with the keys it had: a cold start with whatever SealedSecrets
    /// exist waiting. Returns once it serves `/healthz` and `/readyz` with the same key
    /// Secrets as before; [`Incumbent::started`] says when its process was spawned.
    ///
    /// # Errors
    /// [`Error::ListIncumbentKeys`], errors requesting or writing the token, and those of
    /// [`Incumbent::start`] about the controller.
    pub async fn restart(&mut self, flags: &[&str]) -> Result<(), Error> {
        self.process.kill();
        let keys = self.keys().await?.len();
        self.identity.refresh_token(&self.cluster, NAMESPACE, SERVICE_ACCOUNT).await?;
        (self.process, self.port) = launch(&self.bin, &self.identity, self.dir.path(), flags)?;
        self.wait_ready(keys, "restarting").await?;
        Ok(())
    }

    /// Kills the controller, deletes the scratch directory unless an error named the log,
    /// and gives the turn to the next Incumbent.
    pub fn stop(mut self) {
        self.stopped = true;
    }

    /// Polls until the controller answers `/healthz` and `/readyz`, then checks that `keys`
    /// key Secrets exist (it writes them before it serves) and returns them. `during` says
    /// what the controller was doing, for the error when it exits.
    async fn wait_ready(&mut self, keys: usize, during: &str) -> Result<Vec<Secret>, Error> {
        let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = self.process.exited() {
                return Err(Error::IncumbentExited { status, during: during.into(), log: self.keep_log() });
            }
            let probes = ["/healthz", "/readyz"].map(|path| (path, crate::http_get(self.port, path).0));
            let Some((path, status)) = probes.into_iter().find(|(_, status)| *status != 200) else { break };
            if tokio::time::Instant::now() >= deadline {
                let waiting_for =
                    format!("GET {path} on 127.0.0.1:{} to answer 200, got {status} (0: no answer)", self.port);
                return Err(Error::IncumbentNotReady { waiting_for, timeout: READY_TIMEOUT, log: self.keep_log() });
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let written = self.keys().await?;
        if written.len() != keys {
            let reason = format!(
                "after {during} it serves with {} key Secret(s) labelled {KEY_LABEL} in namespace {NAMESPACE}, \
                 expected {keys}",
                written.len()
            );
            return Err(Error::IncumbentKeys { reason, log: self.keep_log() });
        }
        Ok(written)
    }
}

impl Drop for Incumbent {
    fn drop(&mut self) {
        self.process.kill();
        if !self.stopped || self.log_named.load(Ordering::Relaxed) || std::thread::panicking() {
            self.identity.forget_token();
            self.dir.disable_cleanup(true);
            eprintln!("gitseal-test-support: kept the incumbent's log for inspection: {}", self.log_path().display());
        }
    }
}

/// Starts the controller in `dir` with `extra` flags after the listen addresses; returns
/// it and the port of its HTTP server.
fn launch(bin: &Path, identity: &PodIdentity, dir: &Path, extra: &[&str]) -> Result<(PodProcess, u16), Error> {
    let [port, metrics_port] = free_ports()?;
    let mut args = vec![
        "--listen-addr".to_owned(),
        format!("127.0.0.1:{port}"),
        "--listen-metrics-addr".to_owned(),
        format!("127.0.0.1:{metrics_port}"),
    ];
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    let process = PodProcess::spawn(identity, &bin.join("controller"), &args, &dir.join("controller.log"))?;
    Ok((process, port))
}
