//! The incumbent's controller run as a Pod would run it, without a Pod. It accepts only
//! in-cluster configuration (`rest.InClusterConfig()`): a token, CA and namespace under
//! /var/run/secrets/kubernetes.io/serviceaccount/ and the API server's address in
//! KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT. The files are put there inside a
//! private mount namespace, on a tmpfs over /run (where /var/run points), so nothing on
//! the host changes and two controllers never see each other's files:
//!
//! ```text
//!  TokenRequest + kubeconfig CA ──▶ <scratch>/serviceaccount/{token,ca.crt,namespace} (0600)
//!         │ unshare --mount --propagation private   (one process: every step execs the next)
//!         ▼
//!  tmpfs on /run ◀── cp ── /run/secrets/kubernetes.io/serviceaccount/{token,ca.crt,namespace}
//!         │ exec setpriv --pdeathsig KILL           (dies with the test process)
//!         ▼
//!  controller --listen-addr 127.0.0.1:<free> … ── stdout, stderr ──▶ <scratch>/controller.log
//! ```
//!
//! The tmpfs lives as long as the namespace, that is as long as the controller: killing
//! it leaves no mount and no process behind.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Instant;

use base64::Engine as _;
use secrecy::ExposeSecret as _;

use crate::{Cluster, Error};

/// Run by `sh` inside the new mount namespace, with the arguments
/// `<serviceaccount dir> <controller> <controller args>…`.
const ENTER_POD: &str = r#"set -eu
# Entered before /run is covered: the files stay reachable even when the scratch
# directory itself is under /run.
cd "$1"
shift
mount -t tmpfs -o mode=0755,size=1m gitseal-test-support-incumbent /run
mkdir -p /run/secrets/kubernetes.io/serviceaccount
cp token ca.crt namespace /run/secrets/kubernetes.io/serviceaccount/
cd /
if command -v setpriv >/dev/null; then
    exec setpriv --pdeathsig KILL -- "$@"
fi
exec "$@"
"#;

/// What a Pod of ServiceAccount `namespace/account` finds in its filesystem and
/// environment, written to a directory of the host.
pub(super) struct PodIdentity {
    dir: PathBuf,
    host: String,
    port: u16,
}

impl PodIdentity {
    /// Requests a token for `namespace/account` and writes `token`, `ca.crt` (the admin
    /// kubeconfig's CA) and `namespace` into `dir` (created, mode 0700; files 0600).
    ///
    /// The token is valid for [`crate::TOKEN_LIFETIME`] and never refreshed.
    ///
    /// # Errors
    /// As [`Cluster::service_account_token`]; [`Error::KubeconfigServer`] and the
    /// `*KubeconfigCa` errors when the kubeconfig lacks what a Pod would get;
    /// [`Error::WriteIncumbentFile`].
    pub(super) async fn write(cluster: &Cluster, namespace: &str, account: &str, dir: &Path) -> Result<Self, Error> {
        let kubeconfig = cluster.kubeconfig_path().to_owned();
        let named = cluster.current_cluster()?;
        let entry = named.cluster.unwrap_or_default();
        let server = entry.server.clone();
        let uri = server.as_deref().and_then(|s| s.parse::<http::Uri>().ok());
        let (host, port) = match uri.as_ref().and_then(|u| Some((u.host()?, u.port_u16()?))) {
            // Go joins host and port itself: an IPv6 literal goes in without brackets.
            Some((host, port)) => (host.trim_start_matches('[').trim_end_matches(']').to_owned(), port),
            None => return Err(Error::KubeconfigServer { path: kubeconfig, server }),
        };
        let ca = match (&entry.certificate_authority_data, &entry.certificate_authority) {
            (Some(data), _) => base64::engine::general_purpose::STANDARD
                .decode(data.trim())
                .map_err(|source| Error::DecodeKubeconfigCa { path: kubeconfig.clone(), source })?,
            (None, Some(file)) => {
                let file = kubeconfig.parent().unwrap_or(Path::new(".")).join(file);
                std::fs::read(&file).map_err(|source| Error::ReadKubeconfigCa { path: file, source })?
            }
            (None, None) => return Err(Error::KubeconfigCa { path: kubeconfig }),
        };
        let token = cluster.service_account_token(namespace, account).await?;

        let write_error = |path: &Path| {
            let path = path.to_owned();
            move |source| Error::WriteIncumbentFile { path, source }
        };
        std::fs::DirBuilder::new().mode(0o700).create(dir).map_err(write_error(dir))?;
        for (name, content) in
            [("token", token.expose_secret().as_bytes()), ("ca.crt", &ca), ("namespace", namespace.as_bytes())]
        {
            let path = dir.join(name);
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .and_then(|mut file| file.write_all(content))
                .map_err(write_error(&path))?;
        }
        Ok(Self { dir: dir.to_owned(), host, port })
    }

    /// Replaces the token with a new one for `namespace/account`, as the kubelet refreshes
    /// a Pod's projected token: a controller restarted later than [`crate::TOKEN_LIFETIME`]
    /// after [`PodIdentity::write`] still authenticates.
    ///
    /// # Errors
    /// As [`Cluster::service_account_token`]; [`Error::WriteIncumbentFile`].
    pub(super) async fn refresh_token(&self, cluster: &Cluster, namespace: &str, account: &str) -> Result<(), Error> {
        let token = cluster.service_account_token(namespace, account).await?;
        let (new, path) = (self.dir.join("token.new"), self.dir.join("token"));
        let _ = std::fs::remove_file(&new);
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&new)
            .and_then(|mut file| file.write_all(token.expose_secret().as_bytes()))
            .and_then(|()| std::fs::rename(&new, &path))
            .map_err(|source| Error::WriteIncumbentFile { path, source })
    }

    /// Deletes the token, e.g. before the directory is kept for inspection.
    pub(super) fn forget_token(&self) {
        let _ = std::fs::remove_file(self.dir.join("token"));
    }
}

/// The controller process; killed when dropped.
pub(super) struct PodProcess {
    child: Child,
    started: Instant,
}

impl PodProcess {
    /// Starts `program args…` in a private mount namespace where `identity` is its Pod's,
    /// with stdout and stderr appended to `log`.
    ///
    /// As root it only needs `unshare`; as another user it maps that user to root in a
    /// new user namespace (`--map-root-user`), which the host must allow.
    ///
    /// The process gets SIGKILL when the thread that started it exits (`--pdeathsig`), so
    /// a test process that dies leaves no controller behind; start it from a thread that
    /// outlives it (an async test's own thread, not `spawn_blocking`).
    ///
    /// # Errors
    /// [`Error::WriteIncumbentFile`] for the log, [`Error::RunCommand`] for `unshare`.
    pub(super) fn spawn(identity: &PodIdentity, program: &Path, args: &[String], log: &Path) -> Result<Self, Error> {
        let log_error = |source| Error::WriteIncumbentFile { path: log.to_owned(), source };
        let mut stdout = OpenOptions::new().create(true).append(true).mode(0o600).open(log).map_err(log_error)?;
        writeln!(stdout, "### gitseal-test-support: {} {}", program.display(), args.join(" ")).map_err(log_error)?;
        let stderr = stdout.try_clone().map_err(log_error)?;

        let mut command = Command::new("unshare");
        command.args(["--mount", "--propagation", "private"]);
        if !running_as_root() {
            command.arg("--map-root-user");
        }
        command
            .args(["--", "sh", "-c", ENTER_POD, "enter-pod"])
            .arg(&identity.dir)
            .arg(program)
            .args(args)
            // Nothing of the test's environment (SEALED_SECRETS_* would set flags).
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_else(|| "/usr/sbin:/usr/bin:/sbin:/bin".into()))
            .env("KUBERNETES_SERVICE_HOST", &identity.host)
            .env("KUBERNETES_SERVICE_PORT", identity.port.to_string())
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr);
        let started = Instant::now();
        let child = command.spawn().map_err(|source| Error::RunCommand { program: "unshare".into(), source })?;
        Ok(Self { child, started })
    }

    /// Its exit status once it has ended.
    pub(super) fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// The controller's PID (unshare, sh and setpriv each exec the next, so it is the one
    /// started).
    pub(super) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// When it was spawned.
    pub(super) fn started(&self) -> Instant {
        self.started
    }

    /// SIGKILL, and reaps it. The incumbent keeps nothing that a kill could leave
    /// half-written: its keys are Secrets created in one request.
    pub(super) fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for PodProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Whether this process's effective user is root (the owner of /proc/self).
fn running_as_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}
