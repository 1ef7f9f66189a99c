//! Whether the controller stays alive and how much memory it takes while it works: its
//! `/healthz` and `/readyz` probed and its RSS sampled from a thread of their own, its
//! Lease renewals watched, and the memory limit deploy/ gives it.
//!
//! ```text
//!  thread, every 100 ms ──▶ GET /healthz (slowest, failures)   GET /readyz (first 200)
//!                           /proc/<pid>/status VmRSS (samples)
//!  task, every 250 ms   ──▶ Lease renewTime (longest gap between renewals)
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use kube::Client;
use kube::api::Api;
use tokio::sync::watch;

use super::procfs::proc_status_kib;
use super::{CONTROLLER_NS, IDENTITY, LEASE};

/// How often the probe thread asks and samples.
const PERIOD: Duration = Duration::from_millis(100);

/// What the probe thread saw, times from the controller's start.
#[derive(Clone, Debug, Default)]
pub struct VitalsReport {
    /// `/healthz` answers (200) once the HTTP server first answered.
    pub answers: u64,
    /// `/healthz` requests that got anything but 200 after that (none expected).
    pub failures: u64,
    /// The slowest `/healthz` request, and when it was sent.
    pub slowest: Duration,
    pub slowest_at: Duration,
    /// When `/readyz` first answered 200 (the leader's caches synced).
    pub ready_after: Option<Duration>,
    /// (time, VmRSS KiB) every 100 ms.
    pub rss: Vec<(Duration, u64)>,
}

impl VitalsReport {
    /// The largest RSS sample and when it was taken.
    pub fn rss_peak_sample(&self) -> Option<(Duration, u64)> {
        self.rss.iter().copied().max_by_key(|(_, kib)| *kib)
    }
}

/// The probe thread; [`Vitals::finish`] stops it.
pub struct Vitals {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<VitalsReport>>,
}

impl Vitals {
    /// Probes the controller on `port` (process `pid`, started at `started`).
    pub fn start(port: u16, pid: u32, started: Instant) -> Vitals {
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut report = VitalsReport::default();
            let mut up = false;
            while !stopping.load(Ordering::SeqCst) {
                let asked = Instant::now();
                let (status, _) = crate::http_get(port, "/healthz");
                let took = asked.elapsed();
                up |= status == 200;
                if up {
                    if status == 200 {
                        report.answers += 1;
                    } else {
                        report.failures += 1;
                    }
                    if took > report.slowest {
                        report.slowest = took;
                        report.slowest_at = asked - started;
                    }
                }
                if up && report.ready_after.is_none() && crate::http_get(port, "/readyz").0 == 200 {
                    report.ready_after = Some(started.elapsed());
                }
                if let Some(kib) = proc_status_kib(pid, "VmRSS:") {
                    report.rss.push((started.elapsed(), kib));
                }
                std::thread::sleep(PERIOD.saturating_sub(asked.elapsed()));
            }
            report
        });
        Vitals { stop, thread: Some(thread) }
    }

    /// Stops probing; what was seen.
    pub fn finish(mut self) -> VitalsReport {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.take().and_then(|t| t.join().ok()).unwrap_or_default()
    }
}

impl Drop for Vitals {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Renewals of the controller's Lease by the bench's controller.
#[derive(Clone, Debug, Default)]
pub struct LeaseReport {
    pub renewals: u64,
    /// Longest time between two successive renewals (by their `renewTime`).
    pub longest_gap: Duration,
}

/// Watches the Lease (a GET every 250 ms) until `stop` turns true.
pub fn spawn_lease_watch(admin: Client, mut stop: watch::Receiver<bool>) -> tokio::task::JoinHandle<LeaseReport> {
    tokio::spawn(async move {
        let api: Api<Lease> = Api::namespaced(admin, CONTROLLER_NS);
        let mut report = LeaseReport::default();
        let mut last: Option<k8s_openapi::jiff::Timestamp> = None;
        loop {
            if let Ok(Some(lease)) = api.get_opt(LEASE).await {
                let spec = lease.spec.unwrap_or_default();
                let ours = spec.holder_identity.as_deref() == Some(IDENTITY);
                if let (true, Some(renewed)) = (ours, spec.renew_time.map(|t| t.0)) {
                    if let Some(previous) = last.filter(|p| *p != renewed) {
                        report.renewals += 1;
                        let gap = renewed.duration_since(previous).unsigned_abs();
                        report.longest_gap = report.longest_gap.max(gap);
                    }
                    last = Some(renewed);
                }
            }
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(250)) => {}
                _ = stop.wait_for(|s| *s) => return report,
            }
        }
    })
}

/// The memory limit of the controller container in deploy/40-deployment.yaml, MiB.
pub fn deployment_memory_limit_mib() -> Option<f64> {
    let path = crate::workspace_root().join("deploy/40-deployment.yaml");
    let deployment: Deployment = serde_saphyr::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    let containers = deployment.spec?.template.spec?.containers;
    let limit = containers.first()?.resources.as_ref()?.limits.as_ref()?.get("memory")?.0.clone();
    quantity_mib(&limit)
}

/// `256Mi` → 256, `1Gi` → 1024, `300M` → 286.1, plain bytes too.
fn quantity_mib(quantity: &str) -> Option<f64> {
    let split = quantity.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(quantity.len());
    let (number, unit) = quantity.split_at(split);
    let bytes_per = match unit {
        "" => 1.0,
        "Ki" => 1024.0,
        "Mi" => 1024.0 * 1024.0,
        "Gi" => 1024.0 * 1024.0 * 1024.0,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        _ => return None,
    };
    Some(number.parse::<f64>().ok()? * bytes_per / (1024.0 * 1024.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_and_the_deployment_limit() {
        assert_eq!(quantity_mib("256Mi"), Some(256.0));
        assert_eq!(quantity_mib("1Gi"), Some(1024.0));
        assert_eq!(quantity_mib("1048576"), Some(1.0));
        assert_eq!(quantity_mib("5x"), None);
        assert!(deployment_memory_limit_mib().is_some_and(|mib| mib > 0.0));
    }
}
