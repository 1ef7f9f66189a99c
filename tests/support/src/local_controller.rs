//! gitseal-controller as a local process, as the CLI's and the GitOps tests start it:
//! under a ServiceAccount's kubeconfig (deploy/'s RBAC), its log appended to a file,
//! killed when dropped.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::{Error, free_port};

/// A running gitseal-controller; killed (and waited for) when dropped.
#[derive(Debug)]
pub struct LocalController(Child);

impl LocalController {
    /// Starts `bin` with its key ring in `namespace`, as Pod `pod`, a 6 s lease and its
    /// HTTP server on a free loopback port, plus `extra` flags; talks to the cluster of
    /// `kubeconfig`; stderr appended to `log`.
    ///
    /// # Errors
    /// [`Error::FreePort`], [`Error::CreateLog`] or [`Error::StartController`].
    pub fn start(
        bin: &Path,
        namespace: &str,
        pod: &str,
        kubeconfig: &Path,
        log: &Path,
        extra: &[&str],
    ) -> Result<LocalController, Error> {
        let port = free_port()?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .map_err(|source| Error::CreateLog { path: log.to_owned(), source })?;
        let child = Command::new(bin)
            .args(["--namespace", namespace, "--pod-name", pod, "--lease-duration-secs", "6"])
            .arg(format!("--http-addr=127.0.0.1:{port}"))
            .args(extra)
            .env("KUBECONFIG", kubeconfig)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|source| Error::StartController { path: bin.to_owned(), source })?;
        Ok(LocalController(child))
    }
}

impl Drop for LocalController {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The gitseal-controller binary cargo built beside `gitseal` (a CLI test's
/// `env!("CARGO_BIN_EXE_gitseal")`).
///
/// # Panics
/// When it is not there: build it first (`cargo build -p gitseal-controller`; tests/run
/// builds every binary).
#[must_use]
pub fn controller_beside(gitseal: &Path) -> std::path::PathBuf {
    let bin = gitseal.with_file_name("gitseal-controller");
    assert!(bin.exists(), "build the controller first: cargo build -p gitseal-controller");
    bin
}
