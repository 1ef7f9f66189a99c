//! Hostile-set memory benchmark: in one run, on one API server, gitseal-controller's cold
//! start twice,
//!
//! 1. **baseline**: `--ordinary` SealedSecrets (3 values × 32 bytes) waiting in a fresh
//!    namespace;
//! 2. **hostile**: `--large` SealedSecrets as large as the API server stores (legitimate
//!    1 MiB values, stanza floods, values sealed to 63 keys up to the key-trial budget,
//!    random garbage) in one namespace, and the same ordinary SealedSecrets in another,
//!
//! each time measuring how long until the ordinary Secrets exist and until every object
//! has the status it should (`Ready=True`, or `Ready=False` for the hostile ones), the
//! controller's peak RSS (`VmHWM`) and CPU, and the slowest `/healthz` answer (probed
//! every 100 ms). Prints a Markdown table to stdout; details go to stderr. See
//! `benches/hostile-memory.sh` and `benches/README.md`. Needs `deploy/` applied and must
//! be the only gitseal-controller on the cluster (it checks the Lease).

use std::collections::BTreeMap;

use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use clap::Parser;
use futures::{StreamExt, TryStreamExt};
use gitseal::{Recipients, SealedSecret};
use gitseal_bench::{
    ClusterProcs, Controller, Kind, LargeSet, Launch, LeaseReport, MANAGED_SELECTOR, Measured, Session, SessionArgs,
    SizeLimit, Vitals, VitalsReport, cpu_delta, cpu_text, create_namespace, create_sealed, delete_bench_namespaces,
    delta, deployment_memory_limit_mib, is_ready, largest_stored, load_average, log, ready_status, request_counts,
    scrape_apiserver, seal_all, spawn_counter, spawn_lease_watch, wait_count, wait_for_lease, wait_synced,
};
use gitseal_test_support::Cluster;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams, PostParams};
use kube::core::PartialObjectMeta;
use kube::runtime::watcher;
use kube::{Client, ResourceExt};

#[derive(Debug, Parser)]
#[command(
    name = "hostile-bench",
    about = "gitseal-controller's peak memory and liveness with the largest hostile SealedSecrets, beside a baseline"
)]
struct Args {
    #[command(flatten)]
    session: SessionArgs,
    /// Ordinary SealedSecrets, in both phases.
    #[arg(long, default_value_t = 1000)]
    ordinary: usize,
    /// Large SealedSecrets in the hostile phase (a quarter of each kind).
    #[arg(long, default_value_t = 100)]
    large: usize,
    /// Requests in flight creating the large ones.
    #[arg(long, default_value_t = 4)]
    large_concurrency: usize,
    /// Bytes each large object stays under the largest size the API server stored, so
    /// the status the controller writes still fits.
    #[arg(long, default_value_t = 16 * 1024)]
    margin: usize,
    /// Leave the hostile phase's namespaces in place for inspection.
    #[arg(long)]
    keep: bool,
}

/// Namespaces (under the bench prefix). The large one sorts before the ordinary one, so
/// the controller's initial list reaches the ordinary objects last: the worst case for
/// the ordinary tenant.
const NS_BASELINE: &str = "gitseal-bench-baseline";
const NS_LARGE: &str = "gitseal-bench-hostile-large";
const NS_ORDINARY: &str = "gitseal-bench-hostile-ordinary";
const NS_SIZE_PROBE: &str = "gitseal-bench-size-probe";

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    anyhow::ensure!(args.large_concurrency > 0, "--large-concurrency must be at least 1");
    let Session { cluster, admin, timeout, procs, launch, recipients } =
        Session::open("hostile-bench", &args.session).await?;
    let run = Run { cluster: &cluster, launch: &launch, procs: &procs, timeout };

    log(&format!("=== baseline: {} ordinary SealedSecrets === ({})", args.ordinary, load_average()));
    create_ordinary(&admin, NS_BASELINE, args.ordinary, &recipients, args.session.concurrency).await?;
    let baseline = run.measure("baseline", NS_BASELINE, args.ordinary, None).await?;
    baseline.details();
    delete_bench_namespaces(&admin, timeout).await?;

    log(&format!(
        "=== hostile: {} large + {} ordinary SealedSecrets === ({})",
        args.large,
        args.ordinary,
        load_average()
    ));
    create_namespace(&admin, NS_SIZE_PROBE).await?;
    let limit = largest_stored(&admin, NS_SIZE_PROBE, 1_000_000, 3 * 1024 * 1024, 1024).await?;
    let target = limit.stored.saturating_sub(args.margin);
    log(&format!(
        "the API server stores a SealedSecret of {} bytes of JSON and refuses {} ({}); large objects: at most {target} bytes",
        limit.stored,
        limit.refused.map_or("none tried".into(), |r| format!("{r} bytes")),
        limit.refusal
    ));
    create_namespace(&admin, NS_LARGE).await?;
    create_large(&admin, LargeSet::new(NS_LARGE, target, recipients.clone())?, args.large, args.large_concurrency)
        .await?;
    create_ordinary(&admin, NS_ORDINARY, args.ordinary, &recipients, args.session.concurrency).await?;
    let hostile = run.measure("hostile", NS_ORDINARY, args.ordinary, Some((NS_LARGE, args.large))).await?;
    hostile.details();
    let tally = tally_large(&admin, NS_LARGE).await?;
    if !args.keep {
        delete_bench_namespaces(&admin, timeout).await?;
    }
    print_report(&baseline, &hostile, &tally, &limit, target);
    Ok(())
}

async fn create_ordinary(admin: &Client, ns: &str, n: usize, recipients: &Recipients, c: usize) -> Result<()> {
    create_namespace(admin, ns).await?;
    let sealed = seal_all(ns, n, recipients)?;
    let start = Instant::now();
    create_sealed(admin.clone(), sealed, c).await?;
    log(&format!("created {n} ordinary SealedSecrets in {ns} in {:.2} s", start.elapsed().as_secs_f64()));
    Ok(())
}

/// Builds the large objects on every core, then creates them `c` at a time.
async fn create_large(admin: &Client, set: LargeSet, n: usize, c: usize) -> Result<()> {
    let start = Instant::now();
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
    let indices: Vec<usize> = (0..n).collect();
    let objects = std::thread::scope(|scope| {
        let set = &set;
        let handles: Vec<_> = indices
            .chunks(n.div_ceil(threads).max(1))
            .map(|part| scope.spawn(move || part.iter().map(|&i| set.object(i)).collect::<Result<Vec<_>, _>>()))
            .collect();
        let mut out = Vec::with_capacity(n);
        for h in handles {
            out.extend(h.join().map_err(|_| anyhow::anyhow!("a sealing thread panicked"))??);
        }
        anyhow::Ok(out)
    })?;
    let mut sizes: BTreeMap<Kind, (usize, usize, usize)> = BTreeMap::new();
    for o in &objects {
        let len = serde_json::to_vec(o)?.len();
        let values: usize = o.spec.encrypted_data.values().map(String::len).sum();
        let kind = Kind::of_name(&o.name_any()).context("a large object of no kind")?;
        let e = sizes.entry(kind).or_insert((0, usize::MAX, 0));
        *e = (e.0 + 1, e.1.min(len), e.2.max(values));
    }
    log(&format!(
        "built {n} large SealedSecrets in {:.1} s (target {} bytes):",
        start.elapsed().as_secs_f64(),
        set.target()
    ));
    for (kind, (count, smallest, values)) in &sizes {
        log(&format!(
            "    {count:>4} {:<8} {:<52} JSON ≥ {smallest} bytes, values ≤ {values} characters",
            kind.prefix(),
            kind.describe()
        ));
    }
    let start = Instant::now();
    let api: Api<SealedSecret> = Api::namespaced(admin.clone(), NS_LARGE);
    let bytes: usize = futures::stream::iter(objects)
        .map(|o| {
            let api = api.clone();
            async move {
                let len = serde_json::to_vec(&o).map_or(0, |v| v.len());
                api.create(&PostParams::default(), &o).await.with_context(|| format!("creating {}", o.name_any()))?;
                anyhow::Ok(len)
            }
        })
        .buffer_unordered(c)
        .try_fold(0, |sum, len| async move { Ok(sum + len) })
        .await?;
    log(&format!(
        "created {n} large SealedSecrets ({:.0} MiB of JSON) in {:.1} s",
        bytes as f64 / 1048576.0,
        start.elapsed().as_secs_f64()
    ));
    Ok(())
}

// ---------------------------------------------------------------------------------------
// One cold start
// ---------------------------------------------------------------------------------------

struct Run<'a> {
    cluster: &'a Cluster,
    launch: &'a Launch,
    procs: &'a ClusterProcs,
    timeout: Duration,
}

struct Phase {
    label: &'static str,
    ordinary: usize,
    large: usize,
    first_secret: Duration,
    all_secrets: Duration,
    /// Every object (ordinary and large) with the status it should have.
    all_statuses: Option<Duration>,
    rss_peak_kib: u64,
    rss_at_first_kib: u64,
    rss_end_kib: u64,
    cpu: f64,
    vitals: VitalsReport,
    lease: LeaseReport,
    stop_took: Duration,
    stopped: String,
    reconciles: BTreeMap<String, f64>,
    requests: BTreeMap<(String, String, String), f64>,
    cluster_cpu: BTreeMap<String, f64>,
}

/// A large object counts once it says what it should: `Ready=True` if legitimate,
/// `Ready=False` otherwise (for its current generation).
fn settled_as_expected(s: &SealedSecret) -> bool {
    let Some(kind) = Kind::of_name(&s.name_any()) else { return false };
    ready_status(s) == Some(if kind.unseals() { "True" } else { "False" })
}

impl Run<'_> {
    async fn measure(&self, label: &'static str, ns: &str, n: usize, large: Option<(&str, usize)>) -> Result<Phase> {
        let admin = self.cluster.client();
        let secrets = spawn_counter(
            Api::<PartialObjectMeta<Secret>>::namespaced(admin.clone(), ns),
            watcher::Config::default().labels(MANAGED_SELECTOR),
            |_| true,
        );
        let ready = spawn_counter(Api::<SealedSecret>::namespaced(admin.clone(), ns), Default::default(), is_ready);
        let settled = large.map(|(ns, _)| {
            spawn_counter(Api::<SealedSecret>::namespaced(admin.clone(), ns), Default::default(), settled_as_expected)
        });
        for rx in [Some(&secrets), Some(&ready), settled.as_ref()].into_iter().flatten() {
            wait_synced(rx, self.timeout).await?;
        }
        wait_for_lease(&admin, Duration::from_secs(30)).await?;

        let before = scrape_apiserver(&admin).await?;
        let cpu_before = self.procs.cpu_seconds();
        let log_path = self.launch.work_dir.join(format!("controller-{label}.log"));
        let mut controller = Controller::start(self.cluster, self.launch, &log_path).await?;
        let vitals = Vitals::start(controller.port, controller.pid().unwrap_or(0), controller.started);
        let (stop_lease, stop_rx) = tokio::sync::watch::channel(false);
        let lease = spawn_lease_watch(admin.clone(), stop_rx);

        let waits = async {
            let all_secrets = wait_count(&secrets, n, self.timeout, "ordinary Secrets", &mut controller).await?;
            log(&format!(
                "all {n} ordinary Secrets exist {:.2} s after the controller started",
                all_secrets.as_secs_f64()
            ));
            let mut all_statuses = Some(Duration::ZERO);
            let mut statuses = vec![(&ready, n, "Ready ordinary SealedSecrets")];
            if let (Some(rx), Some((_, m))) = (settled.as_ref(), large) {
                statuses.push((rx, m, "large SealedSecrets with the status they should have"));
            }
            for (rx, m, what) in statuses {
                match wait_count(rx, m, self.timeout, what, &mut controller).await {
                    Ok(d) => {
                        log(&format!("all {m} {what} {:.2} s after the controller started", d.as_secs_f64()));
                        all_statuses = all_statuses.map(|t| t.max(d));
                    }
                    Err(e) => {
                        log(&format!("warning: {e:#}"));
                        all_statuses = None;
                    }
                }
            }
            anyhow::Ok((all_secrets, all_statuses))
        };
        let (all_secrets, all_statuses) = match waits.await {
            Ok(v) => v,
            Err(e) => {
                log(&format!("controller log: {}", log_path.display()));
                controller.stop();
                return Err(e);
            }
        };
        let first_secret = secrets.borrow().first.map_or(Duration::ZERO, |t| t - controller.started);
        let reconciles = controller.settle(Duration::from_secs(3), Duration::from_secs(60)).await;
        let rss_peak_kib = controller.vm_hwm_kib().unwrap_or(0);
        let rss_end_kib = controller.status_field("VmRSS:").unwrap_or(0);
        let cpu = controller.cpu_seconds().unwrap_or(0.0);
        let after = scrape_apiserver(&admin).await?;
        let cluster_cpu = cpu_delta(&cpu_before, &self.procs.cpu_seconds());
        let vitals = vitals.finish();
        let _ = stop_lease.send(true);
        let lease = lease.await.unwrap_or_default();
        let asked = Instant::now();
        let stopped = controller.stop().map_or("killed".into(), |s| s.to_string());
        Ok(Phase {
            label,
            ordinary: n,
            large: large.map_or(0, |(_, m)| m),
            first_secret,
            all_secrets,
            all_statuses,
            rss_peak_kib,
            rss_at_first_kib: controller.rss_at_first_kib.unwrap_or(0),
            rss_end_kib,
            cpu,
            vitals,
            lease,
            stop_took: asked.elapsed(),
            stopped,
            reconciles,
            requests: request_counts(&delta(&before, &after)),
            cluster_cpu,
        })
    }
}

impl Phase {
    fn objects(&self) -> String {
        if self.large == 0 { self.ordinary.to_string() } else { format!("{} + {} large", self.ordinary, self.large) }
    }

    fn peak_mib(&self) -> f64 {
        self.rss_peak_kib as f64 / 1024.0
    }

    /// Everything worth knowing beyond the table, to stderr.
    fn details(&self) {
        let mib = |kib: u64| kib as f64 / 1024.0;
        let v = &self.vitals;
        log(&format!(
            "{}: first ordinary Secret after {:.2} s, all after {:.2} s, all statuses after {}; /readyz 200 after {}",
            self.label,
            self.first_secret.as_secs_f64(),
            self.all_secrets.as_secs_f64(),
            self.all_statuses.map_or("-".into(), |d| format!("{:.2} s", d.as_secs_f64())),
            v.ready_after.map_or("-".into(), |d| format!("{:.2} s", d.as_secs_f64())),
        ));
        let peak_sample = v.rss_peak_sample().unwrap_or_default();
        log(&format!(
            "controller: peak RSS (VmHWM) {:.1} MiB; largest 100 ms sample {:.1} MiB at {:.1} s; RSS {:.1} MiB at the first Secret, {:.1} MiB at the end; CPU {:.2} s",
            mib(self.rss_peak_kib),
            mib(peak_sample.1),
            peak_sample.0.as_secs_f64(),
            mib(self.rss_at_first_kib),
            mib(self.rss_end_kib),
            self.cpu
        ));
        log(&format!("  RSS each second (MiB): {}", rss_by_second(&v.rss)));
        log(&format!(
            "liveness: /healthz {} answers, {} failures, slowest {:.1} ms at {:.1} s; Lease renewed {} times, longest gap {:.1} s; SIGTERM: {} after {:.2} s",
            v.answers,
            v.failures,
            v.slowest.as_secs_f64() * 1e3,
            v.slowest_at.as_secs_f64(),
            self.lease.renewals,
            self.lease.longest_gap.as_secs_f64(),
            self.stopped,
            self.stop_took.as_secs_f64()
        ));
        log(&format!("controller reconciles: {:?}; cluster {}", self.reconciles, cpu_text(&self.cluster_cpu)));
        let mut rows: Vec<_> = self.requests.iter().filter(|(_, v)| **v >= 1.0).collect();
        rows.sort_by(|a, b| b.1.total_cmp(a.1));
        log("API requests during the cold start (every client: the controller, the bench, kube-controller-manager):");
        for ((verb, resource, code), count) in rows.into_iter().take(16) {
            log(&format!("    {verb:<6} {resource:<40} {code:<4} {count:>8.0}"));
        }
    }
}

/// The largest sample of each second: `12:31.0 13:48.2 …` (second:MiB).
fn rss_by_second(samples: &[(Duration, u64)]) -> String {
    let mut by_second: BTreeMap<u64, u64> = BTreeMap::new();
    for (t, kib) in samples {
        let e = by_second.entry(t.as_secs()).or_default();
        *e = (*e).max(*kib);
    }
    by_second.iter().map(|(s, kib)| format!("{s}:{:.0}", *kib as f64 / 1024.0)).collect::<Vec<_>>().join(" ")
}

// ---------------------------------------------------------------------------------------
// What became of the large objects
// ---------------------------------------------------------------------------------------

/// Per kind: (Ready status, reason) → (objects, one message), and how many have a Secret.
struct Tally {
    statuses: BTreeMap<(Kind, String, String), (usize, String)>,
    secrets: BTreeMap<Kind, usize>,
}

async fn tally_large(admin: &Client, ns: &str) -> Result<Tally> {
    let api: Api<SealedSecret> = Api::namespaced(admin.clone(), ns);
    let mut statuses: BTreeMap<(Kind, String, String), (usize, String)> = BTreeMap::new();
    let mut params = ListParams::default().limit(10);
    loop {
        let page = api.list(&params).await?;
        for s in &page.items {
            let Some(kind) = Kind::of_name(&s.name_any()) else { continue };
            let ready = s.status.as_ref().and_then(|st| st.conditions.iter().find(|c| c.type_ == "Ready"));
            let key =
                (kind, ready.map_or("-".into(), |c| c.status.clone()), ready.map_or("-".into(), |c| c.reason.clone()));
            let e = statuses.entry(key).or_insert_with(|| (0, ready.map(|c| c.message.clone()).unwrap_or_default()));
            e.0 += 1;
        }
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(token) => params = params.continue_token(&token),
            None => break,
        }
    }
    let mut secrets = BTreeMap::new();
    let managed = Api::<Secret>::namespaced(admin.clone(), ns)
        .list_metadata(&ListParams::default().labels(MANAGED_SELECTOR))
        .await?;
    for s in managed.items {
        if let Some(kind) = Kind::of_name(&s.name_any()) {
            *secrets.entry(kind).or_insert(0) += 1;
        }
    }
    Ok(Tally { statuses, secrets })
}

fn print_report(baseline: &Phase, hostile: &Phase, tally: &Tally, limit: &SizeLimit, target: usize) {
    log("large objects after the hostile phase:");
    for ((kind, status, reason), (count, message)) in &tally.statuses {
        log(&format!("    {count:>4} {:<8} Ready={status} {reason}: {message}", kind.prefix()));
    }
    for kind in Kind::ALL {
        let secrets = tally.secrets.get(&kind).copied().unwrap_or(0);
        let bad = if kind.unseals() {
            ""
        } else if secrets > 0 {
            "  <-- a Secret for a refused object!"
        } else {
            ""
        };
        log(&format!("    {:<8} Secrets written: {secrets}{bad}", kind.prefix()));
    }

    println!();
    println!(
        "| phase | objects | s to ordinary Secrets | s to all statuses | peak RSS MiB | CPU s | slowest /healthz ms |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for p in [baseline, hostile] {
        println!(
            "| {} | {} | {:.2} | {} | {:.1} | {:.2} | {:.1} |",
            p.label,
            p.objects(),
            p.all_secrets.as_secs_f64(),
            p.all_statuses.map_or("-".into(), |d| format!("{:.2}", d.as_secs_f64())),
            p.peak_mib(),
            p.cpu,
            p.vitals.slowest.as_secs_f64() * 1e3,
        );
    }
    let ratio = |h: f64, b: f64| if b > 0.0 { format!("{:.2}×", h / b) } else { "-".into() };
    let statuses = match (hostile.all_statuses, baseline.all_statuses) {
        (Some(h), Some(b)) => ratio(h.as_secs_f64(), b.as_secs_f64()),
        _ => "-".into(),
    };
    println!(
        "| hostile / baseline | | {} | {statuses} | {} | {} | {} |",
        ratio(hostile.all_secrets.as_secs_f64(), baseline.all_secrets.as_secs_f64()),
        ratio(hostile.peak_mib(), baseline.peak_mib()),
        ratio(hostile.cpu, baseline.cpu),
        ratio(hostile.vitals.slowest.as_secs_f64(), baseline.vitals.slowest.as_secs_f64()),
    );
    println!();
    let largest = baseline.peak_mib().max(hostile.peak_mib());
    match deployment_memory_limit_mib() {
        Some(limit_mib) => println!(
            "Peak RSS {largest:.1} MiB is {:.1} MiB ({:.0} %) under the Deployment's {limit_mib:.0} MiB memory limit{}.",
            limit_mib - largest,
            (limit_mib - largest) / limit_mib * 100.0,
            if largest > limit_mib { " — OVER it: the container would be OOM-killed" } else { "" }
        ),
        None => println!("Peak RSS {largest:.1} MiB (the Deployment's memory limit could not be read)."),
    }
    println!(
        "Large objects: {} bytes of JSON each at most ({} under the largest the API server stored, {} bytes; it refused {}).",
        target,
        limit.stored - target,
        limit.stored,
        limit.refused.map_or("nothing tried".into(), |r| format!("{r} bytes: {}", limit.refusal)),
    );
}
