//! CPU time and memory of processes, read from `/proc` (Linux).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitStatus;
use std::time::Instant;

/// A controller process under measurement, gitseal's or the incumbent's: what
/// [`wait_count`](super::wait_count) needs to time it, and its `/proc`.
pub trait Measured {
    /// When the process was spawned: where its cold start begins.
    fn started(&self) -> Instant;

    /// Its process id, while it runs.
    fn pid(&self) -> Option<u32>;

    /// How it ended, once it has.
    fn exited(&mut self) -> Option<ExitStatus>;

    /// VmRSS when the first counted object appeared (caches loaded, writing begins), KiB;
    /// [`wait_count`](super::wait_count) fills it in.
    fn rss_at_first_kib(&mut self) -> &mut Option<u64>;

    /// A KiB field of its `/proc/<pid>/status`, e.g. `VmRSS:`.
    fn status_field(&self, field: &str) -> Option<u64> {
        proc_status_kib(self.pid()?, field)
    }

    /// Peak resident set size so far, KiB.
    fn vm_hwm_kib(&self) -> Option<u64> {
        self.status_field("VmHWM:")
    }

    /// CPU seconds so far (user + system, all threads).
    fn cpu_seconds(&self) -> Option<f64> {
        proc_cpu_seconds(self.pid()?)
    }
}

/// utime + stime of a process, in seconds (USER_HZ = 100 on Linux).
pub fn proc_cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// A KiB field of `/proc/<pid>/status`, such as `VmRSS:` or `VmHWM:` (peak RSS).
pub fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// `loadavg 1.00 0.80 0.50`, or nothing where `/proc/loadavg` cannot be read.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| format!("loadavg {}", l.split_whitespace().take(3).collect::<Vec<_>>().join(" ")))
        .unwrap_or_default()
}

/// PIDs of the cluster's processes, from `dev/cluster/.state/pids`.
pub struct ClusterProcs(Vec<(String, u32)>);

impl ClusterProcs {
    /// The kube-apiserver, etcd and kube-controller-manager of the cluster whose state
    /// directory is `state`; none without one (their CPU is then not reported).
    pub fn from_state(state: Option<&Path>) -> ClusterProcs {
        let Some(state) = state else { return ClusterProcs(Vec::new()) };
        let procs = ["kube-apiserver", "etcd", "kube-controller-manager"]
            .iter()
            .filter_map(|name| {
                let pid = std::fs::read_to_string(state.join("pids").join(name)).ok()?.trim().parse().ok()?;
                Some(((*name).to_owned(), pid))
            })
            .collect();
        ClusterProcs(procs)
    }

    /// CPU seconds so far, by process name.
    pub fn cpu_seconds(&self) -> BTreeMap<String, f64> {
        self.0.iter().filter_map(|(name, pid)| Some((name.clone(), proc_cpu_seconds(*pid)?))).collect()
    }
}

/// `after - before`, for the names both know.
pub fn cpu_delta(before: &BTreeMap<String, f64>, after: &BTreeMap<String, f64>) -> BTreeMap<String, f64> {
    after.iter().filter_map(|(k, v)| Some((k.clone(), v - before.get(k)?))).collect()
}

/// `CPU etcd 1.2 s, kube-apiserver 3.4 s`.
pub fn cpu_text(cpu: &BTreeMap<String, f64>) -> String {
    if cpu.is_empty() {
        return "cluster CPU not measured (no --cluster-state)".into();
    }
    let parts: Vec<String> = cpu.iter().map(|(k, v)| format!("{k} {v:.1} s")).collect();
    format!("CPU {}", parts.join(", "))
}
