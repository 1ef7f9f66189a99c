//! One controller's cold start, gitseal's or the incumbent's, measured the same way:
//!
//! ```text
//!  Counters: watch of its Secrets ─┐            Before: apiserver_request_total, etcd,
//!            watch of ready objects┤                    APF counters; cluster CPU
//!                                  ▼                           │
//!  process spawned ──▶ Counters::wait (n Secrets, n ready) ──▶ settled ──▶ ColdStart::read
//!                                          VmHWM, VmRSS, CPU of /proc/<pid>; deltas ◀─┘
//! ```

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Result;
use gitseal_bench::{
    ClusterProcs, Measured, Progress, Samples, apf_waits, cpu_delta, cpu_text, delta, etcd_writes, load_average, log,
    request_counts, scrape_apiserver, wait_count, wait_synced, writes,
};
use kube::Client;
use tokio::sync::watch;

/// What one controller did from its process start with `n` objects waiting.
pub struct ColdStart {
    pub n: usize,
    /// From process start.
    pub first_secret: Duration,
    pub all_secrets: Duration,
    pub all_ready: Option<Duration>,
    pub rss_peak_kib: u64,
    pub rss_at_first_kib: u64,
    pub rss_end_kib: u64,
    pub cpu: Option<f64>,
    /// apiserver_request_total deltas: (verb, resource, code) → count.
    pub requests: BTreeMap<(String, String, String), f64>,
    /// APF waits: priority level → (requests, seconds waited).
    pub apf: BTreeMap<String, (f64, f64)>,
    pub etcd_writes: BTreeMap<String, f64>,
    /// CPU seconds of the control plane's processes meanwhile.
    pub cluster_cpu: BTreeMap<String, f64>,
    /// The machine's load average when the controller started: the cores are shared.
    pub load: String,
}

/// The two watches a cold start is counted on, started before the controller.
pub struct Counters {
    pub secrets: watch::Receiver<Progress>,
    pub ready: watch::Receiver<Progress>,
    /// What `ready` counts, for messages: `Ready SealedSecrets`.
    pub ready_what: &'static str,
}

impl Counters {
    /// Waits until both watches have listed what exists.
    pub async fn synced(&self, timeout: Duration) -> Result<()> {
        wait_synced(&self.secrets, timeout).await?;
        wait_synced(&self.ready, timeout).await?;
        Ok(())
    }

    /// Waits until `n` Secrets exist, then until `n` objects are ready (a timeout there is
    /// only a warning); both from the process's start.
    pub async fn wait(
        &self,
        process: &mut impl Measured,
        n: usize,
        timeout: Duration,
    ) -> Result<(Duration, Option<Duration>)> {
        let all_secrets = wait_count(&self.secrets, n, timeout, "Secrets", process).await?;
        log(&format!("all {n} Secrets exist {:.2} s after the controller started", all_secrets.as_secs_f64()));
        let all_ready = match wait_count(&self.ready, n, timeout, self.ready_what, process).await {
            Ok(d) => Some(d),
            Err(e) => {
                log(&format!("warning: {e:#}"));
                None
            }
        };
        Ok((all_secrets, all_ready))
    }
}

/// The API server's counters and the cluster's CPU just before a controller starts.
pub struct Before {
    samples: Samples,
    cpu: BTreeMap<String, f64>,
    load: String,
}

impl Before {
    pub async fn take(admin: &Client, procs: &ClusterProcs) -> Result<Before> {
        let load = load_average().trim_start_matches("loadavg ").to_owned();
        Ok(Before { samples: scrape_apiserver(admin).await?, cpu: procs.cpu_seconds(), load })
    }
}

/// Waits until the API server's count of writes stops moving for `quiet` (at most `max`):
/// the trailing writes of a controller that has no reconcile counter to watch (Events
/// posted behind its work).
pub async fn settle_writes(admin: &Client, quiet: Duration, max: Duration) -> Result<()> {
    let start = scrape_apiserver(admin).await?;
    let deadline = Instant::now() + max;
    let (mut last, mut since) = (0.0, Instant::now());
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = writes(&request_counts(&delta(&start, &scrape_apiserver(admin).await?)));
        if now != last {
            (last, since) = (now, Instant::now());
        } else if since.elapsed() >= quiet {
            return Ok(());
        }
    }
    log(&format!("warning: the API server still saw writes after {max:?}; counting what came so far"));
    Ok(())
}

impl ColdStart {
    /// Reads what the settled controller and the API server say: call before stopping it.
    pub async fn read(
        n: usize,
        process: &mut impl Measured,
        counters: &Counters,
        (all_secrets, all_ready): (Duration, Option<Duration>),
        before: Before,
        admin: &Client,
        procs: &ClusterProcs,
    ) -> Result<ColdStart> {
        let first_secret = counters.secrets.borrow().first.map_or(Duration::ZERO, |t| t - process.started());
        let rss_peak_kib = process.vm_hwm_kib().unwrap_or(0);
        let rss_end_kib = process.status_field("VmRSS:").unwrap_or(0);
        let rss_at_first_kib = process.rss_at_first_kib().unwrap_or(0);
        let cpu = process.cpu_seconds();
        let after = scrape_apiserver(admin).await?;
        let cpu_after = procs.cpu_seconds();
        let delta = delta(&before.samples, &after);
        Ok(ColdStart {
            n,
            first_secret,
            all_secrets,
            all_ready,
            rss_peak_kib,
            rss_at_first_kib,
            rss_end_kib,
            cpu,
            requests: request_counts(&delta),
            apf: apf_waits(&delta),
            etcd_writes: etcd_writes(&delta),
            cluster_cpu: cpu_delta(&before.cpu, &cpu_after),
            load: before.load,
        })
    }

    pub fn seconds(&self) -> f64 {
        self.all_secrets.as_secs_f64()
    }

    /// Secrets per second, from process start.
    pub fn rate(&self) -> f64 {
        self.n as f64 / self.seconds()
    }

    pub fn rss_peak_mib(&self) -> f64 {
        self.rss_peak_kib as f64 / 1024.0
    }

    /// API requests of every kind per object, and writes per object.
    pub fn requests_per_object(&self) -> (f64, f64) {
        let n = self.n as f64;
        (self.requests.values().sum::<f64>() / n, writes(&self.requests) / n)
    }

    pub fn etcd_writes_per_object(&self) -> f64 {
        self.etcd_writes.values().sum::<f64>() / self.n as f64
    }

    /// Everything worth knowing beyond the tables, to stderr; `who` names the controller.
    pub fn details(&self, who: &str) {
        let n = self.n as f64;
        log(&format!(
            "{who}, N={}: first Secret after {:.2} s, all after {:.2} s (so {:.0}/s once started), all ready after {}",
            self.n,
            self.first_secret.as_secs_f64(),
            self.seconds(),
            n / (self.all_secrets - self.first_secret).as_secs_f64().max(1e-3),
            self.all_ready.map_or("-".into(), |d| format!("{:.2} s", d.as_secs_f64())),
        ));
        log(&format!(
            "{who}: peak RSS {:.1} MiB (RSS {:.1} MiB when the first Secret appeared, {:.1} MiB at the end), CPU {}; cluster CPU during cold start: {}",
            self.rss_peak_mib(),
            self.rss_at_first_kib as f64 / 1024.0,
            self.rss_end_kib as f64 / 1024.0,
            self.cpu.map_or("-".into(), |s| format!("{s:.2} s ({:.0} µs per object)", s / n * 1e6)),
            cpu_text(&self.cluster_cpu)
        ));
        let mut rows: Vec<_> = self.requests.iter().filter(|(_, v)| **v >= 1.0).collect();
        rows.sort_by(|a, b| b.1.total_cmp(a.1));
        let (all, writes) = self.requests_per_object();
        log(&format!(
            "{who}: API requests during the cold start: {:.0} ({all:.2} per object), of which writes {:.0} ({writes:.2} per object):",
            all * n,
            writes * n
        ));
        for ((verb, resource, code), count) in rows {
            log(&format!("    {verb:<6} {resource:<40} {code:<4} {count:>8.0}  {:>6.3}/object", count / n));
        }
        let etcd_total: f64 = self.etcd_writes.values().sum();
        log(&format!("{who}: etcd writes during the cold start: {etcd_total:.0} ({:.2} per object):", etcd_total / n));
        for (what, count) in &self.etcd_writes {
            log(&format!("    {what:<40} {count:>8.0}  {:>6.3}/object", count / n));
        }
        for (level, (count, wait)) in &self.apf {
            if level.ends_with("dispatched") {
                log(&format!("    APF {level}: {count:.0} requests"));
            } else {
                log(&format!("    APF priority level {level}: {count:.0} requests, {wait:.2} s queued in total"));
            }
        }
    }
}
