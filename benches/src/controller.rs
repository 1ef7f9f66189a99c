//! The gitseal-controller process under measurement: started under its ServiceAccount
//! (deploy/'s RBAC, the API priority level a Pod would get), read through `/proc` and its
//! HTTP endpoints, stopped with SIGTERM.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use gitseal::Recipients;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Client;
use kube::api::Api;

use super::procfs::Measured;
use super::{CONTROLLER_NS, CONTROLLER_SA, IDENTITY, LEASE, PUBLIC_KEYS, log};
use crate::free_port;
use crate::parse_metrics;
use crate::{Cluster, Error};

/// How to start the controller.
#[derive(Clone, Debug)]
pub struct Launch {
    /// The gitseal-controller binary (release build).
    pub binary: PathBuf,
    /// Its `--concurrency`.
    pub concurrency: usize,
    /// Where its kubeconfig and logs go.
    pub work_dir: PathBuf,
}

/// A running gitseal-controller; killed when dropped unless [`Controller::stop`]ped.
pub struct Controller {
    child: Option<Child>,
    /// Port of its HTTP server on 127.0.0.1 (probes, metrics, keys).
    pub port: u16,
    /// When the process was spawned.
    pub started: Instant,
    /// VmRSS when the first counted object appeared (caches loaded, writing begins), KiB.
    pub rss_at_first_kib: Option<u64>,
}

impl Controller {
    /// Writes a fresh ServiceAccount kubeconfig and starts the controller under it,
    /// logging to `log_path`.
    ///
    /// # Errors
    /// Writing the kubeconfig ([`Cluster::write_service_account_kubeconfig`]),
    /// [`Error::FreePort`], [`Error::CreateLog`], [`Error::StartController`].
    pub async fn start(cluster: &Cluster, launch: &Launch, log_path: &Path) -> Result<Controller, Error> {
        let kubeconfig = launch.work_dir.join("controller.kubeconfig");
        cluster.write_service_account_kubeconfig(CONTROLLER_NS, CONTROLLER_SA, &kubeconfig).await?;
        let port = free_port()?;
        let stderr =
            std::fs::File::create(log_path).map_err(|source| Error::CreateLog { path: log_path.to_owned(), source })?;
        let started = Instant::now();
        let child = Command::new(&launch.binary)
            .args(["--namespace", CONTROLLER_NS, "--pod-name", IDENTITY])
            .arg("--http-addr")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--concurrency")
            .arg(launch.concurrency.to_string())
            .env("KUBECONFIG", &kubeconfig)
            .env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .map_err(|source| Error::StartController { path: launch.binary.clone(), source })?;
        Ok(Controller { child: Some(child), port, started, rss_at_first_kib: None })
    }

    /// Its `/metrics` text, or nothing when it does not answer.
    pub fn metrics(&self) -> String {
        let (status, body) = crate::http_get(self.port, "/metrics");
        if status == 200 { body } else { String::new() }
    }

    /// Waits until `gitseal_reconciles_total` stops moving for `quiet` (at most `max`);
    /// returns its value by result.
    pub async fn settle(&self, quiet: Duration, max: Duration) -> BTreeMap<String, f64> {
        let reconciles = |text: &str| -> BTreeMap<String, f64> {
            parse_metrics(text)
                .into_iter()
                .filter(|s| s.name == "gitseal_reconciles_total")
                .map(|s| (s.labels.get("result").cloned().unwrap_or_default(), s.value))
                .collect()
        };
        let deadline = Instant::now() + max;
        let mut last = reconciles(&self.metrics());
        let mut since = Instant::now();
        while Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let now = reconciles(&self.metrics());
            if now != last {
                last = now;
                since = Instant::now();
            } else if since.elapsed() >= quiet {
                break;
            }
        }
        last
    }

    /// SIGTERM, then a clean exit within 30 s (SIGKILL otherwise); returns how it ended.
    pub fn stop(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                if !status.success() {
                    log(&format!("warning: the controller exited with {status}"));
                }
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        log("warning: the controller did not stop on SIGTERM; killing it");
        let _ = child.kill();
        child.wait().ok()
    }
}

impl Measured for Controller {
    fn started(&self) -> Instant {
        self.started
    }

    fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    fn exited(&mut self) -> Option<ExitStatus> {
        self.child.as_mut().and_then(|c| c.try_wait().ok().flatten())
    }

    fn rss_at_first_kib(&mut self) -> &mut Option<u64> {
        &mut self.rss_at_first_kib
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Starts the controller once so it makes (or loads) its key and publishes it; returns
/// the published recipients once the ConfigMap agrees with what the controller serves.
///
/// # Errors
/// As [`wait_for_lease`] and [`Controller::start`]; [`Error::ControllerExited`],
/// [`Error::KeysNotPublished`] (after `timeout`, at most 2 minutes),
/// [`Error::ReadPublicKeys`], [`Error::ParseRecipients`].
pub async fn prime_keys(cluster: &Cluster, launch: &Launch, timeout: Duration) -> Result<Recipients, Error> {
    let admin = cluster.client();
    wait_for_lease(&admin, Duration::from_secs(30)).await?;
    let log_path = launch.work_dir.join("controller-prime.log");
    let mut controller = Controller::start(cluster, launch, &log_path).await?;
    let configmaps: Api<ConfigMap> = Api::namespaced(admin, CONTROLLER_NS);
    let deadline = Instant::now() + timeout.min(Duration::from_secs(120));
    let text = loop {
        if let Some(status) = controller.exited() {
            return Err(Error::ControllerExited { status, during: format!("; see {}", log_path.display()) });
        }
        if Instant::now() >= deadline {
            return Err(Error::KeysNotPublished);
        }
        let (status, served) = crate::http_get(controller.port, "/v1/recipients");
        if status == 200 && !served.trim().is_empty() {
            let published = configmaps
                .get_opt(PUBLIC_KEYS)
                .await
                .map_err(Error::ReadPublicKeys)?
                .and_then(|cm| cm.data?.get("recipients.txt").cloned())
                .unwrap_or_default();
            if published == served {
                break published;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    controller.stop();
    let parsed = Recipients::parse_file(&text).and_then(Recipients::new).map_err(Error::ParseRecipients)?;
    log(&format!("sealing to {} published key(s)", text.lines().filter(|l| l.starts_with("age1")).count()));
    Ok(parsed)
}

/// Makes sure no other controller leads: the Lease is absent, released, expired or ours.
///
/// # Errors
/// [`Error::ReadLease`], or [`Error::LeaseHeld`] when another holder still renews it
/// after `max`.
pub async fn wait_for_lease(admin: &Client, max: Duration) -> Result<(), Error> {
    let api: Api<Lease> = Api::namespaced(admin.clone(), CONTROLLER_NS);
    let deadline = Instant::now() + max;
    loop {
        let Some(lease) = api.get_opt(LEASE).await.map_err(Error::ReadLease)? else { return Ok(()) };
        let spec = lease.spec.unwrap_or_default();
        let holder = spec.holder_identity.unwrap_or_default();
        let duration = i64::from(spec.lease_duration_seconds.unwrap_or(15));
        let now = k8s_openapi::jiff::Timestamp::now();
        let live = spec.renew_time.is_some_and(|t| t.0 + k8s_openapi::jiff::SignedDuration::from_secs(duration) > now);
        if holder.is_empty() || holder == IDENTITY || !live {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(Error::LeaseHeld { holder, namespace: CONTROLLER_NS.into(), name: LEASE.into() });
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
