//! Controller scale benchmark: in one run, on one API server, for each N it measures
//!
//! 1. **baseline**: N plain Secrets created by a client at `--concurrency` requests in
//!    flight (time from the first request to the last success), as the controller's own
//!    ServiceAccount (same authentication and API priority level as the controller) and
//!    as the admin (`system:masters`, exempt from API priority and fairness);
//! 2. **gitseal cold start**: N SealedSecrets created while no controller runs, then
//!    `gitseal-controller` started: time from process start until all N Secrets exist
//!    (counted on a metadata watch of the managed-by label in that namespace) and until
//!    all N SealedSecrets say `Ready=True`; the controller's peak RSS (`VmHWM`) and CPU;
//!    what the API server saw (`apiserver_request_total` deltas) per SealedSecret.
//!
//! Prints a Markdown table to stdout; progress and details go to stderr. See
//! `benches/controller.sh` and `benches/README.md`. Needs `deploy/` applied and must be
//! the only gitseal-controller on the cluster (it checks the Lease).

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow, bail};
use clap::Parser;
use futures::{StreamExt, TryStreamExt};
use gitseal::{PlainSecret, Recipients, Scope, SealedSecret, seal_secret};
use gitseal_e2e::Cluster;
use k8s_openapi::ByteString;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, ListParams, PostParams};
use kube::core::PartialObjectMeta;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use tokio::sync::watch;
use zeroize::Zeroizing;

/// The controller's namespace, as deploy/ creates it.
const CONTROLLER_NS: &str = "gitseal-system";
const CONTROLLER_SA: &str = "gitseal-controller";
const LEASE: &str = "gitseal-controller";
const PUBLIC_KEYS: &str = "gitseal-public-keys";
const MANAGED_SELECTOR: &str = "app.kubernetes.io/managed-by=gitseal-controller";
/// Identity of the controller this bench starts (leader election, Events).
const IDENTITY: &str = "gitseal-bench";
/// Prefix of every namespace this bench makes; leftovers are deleted at start.
const NS_PREFIX: &str = "gitseal-bench-";
/// Data keys of every Secret (3 values of 32 bytes).
const KEYS: [&str; 3] = ["username", "password", "token"];

#[derive(Debug, Parser)]
#[command(
    name = "controller-bench",
    about = "gitseal-controller cold-start benchmark against the API server's own write rate"
)]
struct Args {
    /// Object counts to measure, in order (repeatable or comma-separated).
    #[arg(long = "count", value_delimiter = ',', default_values_t = [1000usize, 10000])]
    counts: Vec<usize>,
    /// The gitseal-controller binary (release build).
    #[arg(long)]
    controller: PathBuf,
    /// Requests in flight for the baseline and for creating the SealedSecrets; also
    /// passed to the controller as --concurrency.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Upper bound, in seconds, on each waiting step (Secrets, Ready, namespace deletion).
    #[arg(long, default_value_t = 1800)]
    timeout_secs: u64,
    /// tests/cluster/.state of the cluster, to read the kube-apiserver/etcd PIDs and
    /// report their CPU time per phase (optional).
    #[arg(long)]
    cluster_state: Option<PathBuf>,
    /// Where controller logs and kubeconfigs go (default: a new directory under /tmp).
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Skip the admin (APF-exempt) baseline.
    #[arg(long)]
    no_admin_baseline: bool,
    /// After each cold start, also time what single request kinds cost the API server
    /// (Secret create + status apply as a 2-write controller would do them, a Secret
    /// apply after create, a no-op apply, an Event), each N times at --concurrency.
    #[arg(long)]
    request_costs: bool,
    /// Leave the namespaces of the last size in place for inspection.
    #[arg(long)]
    keep: bool,
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    anyhow::ensure!(args.concurrency > 0, "--concurrency must be at least 1");
    anyhow::ensure!(args.controller.is_file(), "--controller {}: no such file", args.controller.display());
    let work_dir = match &args.work_dir {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!("gitseal-controller-bench-{}", std::process::id())),
    };
    std::fs::create_dir_all(&work_dir).with_context(|| format!("creating {}", work_dir.display()))?;
    let cluster = Cluster::connect().await?;
    let admin = cluster.client();
    let timeout = Duration::from_secs(args.timeout_secs);
    let procs = ClusterProcs::from_state(args.cluster_state.as_deref());
    log(&format!("work dir {}; kubeconfig {}", work_dir.display(), cluster.kubeconfig_path().display()));
    log(&format!("machine: {} CPUs; {}", std::thread::available_parallelism().map_or(0, |n| n.get()), load_average()));

    delete_bench_namespaces(&admin, timeout).await?;
    let others = Api::<SealedSecret>::all(admin.clone()).list_metadata(&ListParams::default()).await?.items.len();
    if others > 0 {
        log(&format!(
            "warning: {others} SealedSecrets already exist on this cluster; the controller reconciles them too"
        ));
    }

    // Once: let the controller make (or load) its key and publish it.
    let recipients = prime_keys(&cluster, &args, &work_dir, timeout).await?;

    let mut rows = Vec::new();
    for (i, &n) in args.counts.iter().enumerate() {
        log(&format!("=== N = {n} === ({})", load_average()));
        let row = measure(&cluster, &args, &work_dir, &recipients, &procs, n, timeout).await?;
        row.details();
        rows.push(row);
        let last = i + 1 == args.counts.len();
        if !(last && args.keep) {
            delete_bench_namespaces(&admin, timeout).await?;
        }
    }
    print_table(&rows, &args);
    Ok(())
}

fn log(message: &str) {
    eprintln!("[controller-bench] {message}");
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| format!("loadavg {}", l.split_whitespace().take(3).collect::<Vec<_>>().join(" ")))
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------
// One size
// ---------------------------------------------------------------------------------------

struct Row {
    n: usize,
    concurrency: usize,
    baseline: Timed,
    admin_baseline: Option<Timed>,
    sealed_create: Timed,
    /// From process start.
    first_secret: Duration,
    all_secrets: Duration,
    all_ready: Option<Duration>,
    rss_peak_kib: u64,
    rss_at_first_kib: u64,
    rss_end_kib: u64,
    controller_cpu: Option<f64>,
    reconciles: BTreeMap<String, f64>,
    /// apiserver_request_total deltas of the cold start: (verb, resource, code) → count.
    requests: BTreeMap<(String, String, String), f64>,
    /// APF waits during the cold start: priority level → (requests, seconds waited).
    apf: BTreeMap<String, (f64, f64)>,
    etcd_writes: BTreeMap<String, f64>,
    cold_cpu: BTreeMap<String, f64>,
    costs: Vec<(String, Timed)>,
}

struct Timed {
    seconds: f64,
    apiserver_cpu: BTreeMap<String, f64>,
    apf: BTreeMap<String, (f64, f64)>,
    /// etcd creates/updates/deletes by resource.
    etcd_writes: BTreeMap<String, f64>,
}

impl Timed {
    fn rate(&self, n: usize) -> f64 {
        n as f64 / self.seconds
    }
}

async fn measure(
    cluster: &Cluster,
    args: &Args,
    work_dir: &Path,
    recipients: &Recipients,
    procs: &ClusterProcs,
    n: usize,
    timeout: Duration,
) -> Result<Row> {
    let admin = cluster.client();
    let c = args.concurrency;

    // 1. Baseline under the controller's ServiceAccount: same authn, RBAC and APF level.
    let sa = cluster.service_account_client(CONTROLLER_NS, CONTROLLER_SA).await?;
    let ns = create_namespace(&admin, &format!("{NS_PREFIX}plain-{n}")).await?;
    let baseline = timed(&admin, procs, || create_plain_secrets(sa.clone(), &ns, n, c)).await?;
    log(&format!(
        "baseline (ServiceAccount): {n} Secrets in {:.2} s = {:.0}/s; {}",
        baseline.seconds,
        baseline.rate(n),
        cpu_text(&baseline.apiserver_cpu)
    ));
    let admin_baseline = if args.no_admin_baseline {
        None
    } else {
        let ns = create_namespace(&admin, &format!("{NS_PREFIX}admin-{n}")).await?;
        let t = timed(&admin, procs, || create_plain_secrets(admin.clone(), &ns, n, c)).await?;
        log(&format!(
            "baseline (admin, APF-exempt): {n} Secrets in {:.2} s = {:.0}/s; {}",
            t.seconds,
            t.rate(n),
            cpu_text(&t.apiserver_cpu)
        ));
        Some(t)
    };

    // 2. N SealedSecrets while no controller runs.
    let ns = create_namespace(&admin, &format!("{NS_PREFIX}sealed-{n}")).await?;
    let sealing = Instant::now();
    let sealed = seal_all(&ns, n, recipients)?;
    log(&format!("sealed {n} SealedSecrets ({} values) in {:.2} s", n * KEYS.len(), sealing.elapsed().as_secs_f64()));
    let sealed_create = timed(&admin, procs, || create_sealed(admin.clone(), sealed, c)).await?;
    log(&format!("created {n} SealedSecrets in {:.2} s = {:.0}/s", sealed_create.seconds, sealed_create.rate(n)));

    // 3. Watch, then start the controller.
    let secrets = spawn_counter(
        Api::<PartialObjectMeta<Secret>>::namespaced(admin.clone(), &ns),
        watcher::Config::default().labels(MANAGED_SELECTOR),
        |_| true,
    );
    let ready =
        spawn_counter(Api::<SealedSecret>::namespaced(admin.clone(), &ns), watcher::Config::default(), is_ready);
    wait_synced(&secrets, timeout).await?;
    wait_synced(&ready, timeout).await?;
    wait_for_lease(&admin, Duration::from_secs(30)).await?;

    let before = scrape_apiserver(&admin).await?;
    let cpu_before = procs.cpu_seconds();
    let log_path = work_dir.join(format!("controller-{n}.log"));
    let mut controller = Controller::start(cluster, args, work_dir, &log_path).await?;
    let start = controller.started;

    let outcome = async {
        let all_secrets = wait_count(&secrets, n, timeout, "Secrets", &mut controller).await?;
        log(&format!("all {n} Secrets exist {:.2} s after the controller started", all_secrets.as_secs_f64()));
        let all_ready = match wait_count(&ready, n, timeout, "Ready SealedSecrets", &mut controller).await {
            Ok(d) => Some(d),
            Err(e) => {
                log(&format!("warning: {e:#}"));
                None
            }
        };
        anyhow::Ok((all_secrets, all_ready))
    }
    .await;
    let (all_secrets, all_ready) = match outcome {
        Ok(v) => v,
        Err(e) => {
            log(&format!("controller log: {}", log_path.display()));
            controller.stop();
            return Err(e);
        }
    };
    let first_secret = secrets.borrow().first.map_or(Duration::ZERO, |t| t - start);
    // Let trailing reconciles (triggered by the controller's own writes) finish, so the
    // request count covers everything the cold start causes.
    let reconciles = controller.settle(Duration::from_secs(3), Duration::from_secs(60)).await;
    let rss_peak_kib = controller.vm_hwm_kib().unwrap_or(0);
    let rss_end_kib = controller.status_field("VmRSS:").unwrap_or(0);
    let rss_at_first_kib = controller.rss_at_first_kib.unwrap_or(0);
    let controller_cpu = controller.cpu_seconds();
    let after = scrape_apiserver(&admin).await?;
    let cpu_after = procs.cpu_seconds();
    controller.stop();

    // Sanity: the watch agrees with a list.
    let listed = Api::<Secret>::namespaced(admin.clone(), &ns)
        .list_metadata(&ListParams::default().labels(MANAGED_SELECTOR))
        .await?
        .items
        .len();
    anyhow::ensure!(listed == n, "a list finds {listed} managed Secrets in {ns}, expected {n}");

    let costs = if args.request_costs { request_costs_phase(&admin, &sa, procs, n, c).await? } else { Vec::new() };
    let delta = delta(&before, &after);
    Ok(Row {
        n,
        concurrency: c,
        baseline,
        admin_baseline,
        sealed_create,
        first_secret,
        all_secrets,
        all_ready,
        rss_peak_kib,
        rss_at_first_kib,
        rss_end_kib,
        controller_cpu,
        reconciles,
        requests: request_counts(&delta),
        apf: apf_waits(&delta),
        etcd_writes: etcd_writes(&delta),
        cold_cpu: cpu_delta(&cpu_before, &cpu_after),
        costs,
    })
}

impl Row {
    fn gitseal_seconds(&self) -> f64 {
        self.all_secrets.as_secs_f64()
    }

    /// Everything worth knowing beyond the table, to stderr.
    fn details(&self) {
        let n = self.n as f64;
        log(&format!(
            "N={}: first Secret after {:.2} s, all after {:.2} s (so {:.0}/s once started), all Ready after {}",
            self.n,
            self.first_secret.as_secs_f64(),
            self.gitseal_seconds(),
            n / (self.all_secrets - self.first_secret).as_secs_f64().max(1e-3),
            self.all_ready.map_or("-".into(), |d| format!("{:.2} s", d.as_secs_f64())),
        ));
        log(&format!(
            "controller: peak RSS {:.1} MiB (RSS {:.1} MiB when the first Secret appeared, {:.1} MiB at the end), CPU {}; cluster CPU during cold start: {}",
            self.rss_peak_kib as f64 / 1024.0,
            self.rss_at_first_kib as f64 / 1024.0,
            self.rss_end_kib as f64 / 1024.0,
            self.controller_cpu.map_or("-".into(), |s| format!("{s:.2} s ({:.0} µs per SealedSecret)", s / n * 1e6)),
            cpu_text(&self.cold_cpu)
        ));
        log(&format!(
            "creating the {} SealedSecrets (admin, {} in flight) took {:.2} s = {:.0}/s; {}",
            self.n,
            self.concurrency,
            self.sealed_create.seconds,
            self.sealed_create.rate(self.n),
            cpu_text(&self.sealed_create.apiserver_cpu)
        ));
        log(&format!("controller reconciles: {:?}", self.reconciles));
        let mut rows: Vec<_> = self.requests.iter().filter(|(_, v)| **v >= 1.0).collect();
        rows.sort_by(|a, b| b.1.total_cmp(a.1));
        let writes: f64 = self
            .requests
            .iter()
            .filter(|((verb, _, _), _)| matches!(verb.as_str(), "POST" | "PUT" | "PATCH" | "APPLY" | "DELETE"))
            .map(|(_, v)| v)
            .sum();
        let all: f64 = self.requests.values().sum();
        log(&format!(
            "API requests during the cold start: {all:.0} ({:.2} per SealedSecret), of which writes {writes:.0} ({:.2} per SealedSecret):",
            all / n,
            writes / n
        ));
        for ((verb, resource, code), count) in rows {
            log(&format!("    {verb:<6} {resource:<40} {code:<4} {count:>8.0}  {:>6.3}/SealedSecret", count / n));
        }
        let etcd_total: f64 = self.etcd_writes.values().sum();
        log(&format!("etcd writes during the cold start: {etcd_total:.0} ({:.2} per SealedSecret):", etcd_total / n));
        for (what, count) in &self.etcd_writes {
            log(&format!("    {what:<40} {count:>8.0}  {:>6.3}/SealedSecret", count / n));
        }
        for (level, (count, wait)) in &self.apf {
            if level.ends_with("dispatched") {
                log(&format!("    APF {level}: {count:.0} requests"));
            } else {
                log(&format!("    APF priority level {level}: {count:.0} requests, {wait:.2} s queued in total"));
            }
        }
        if !self.costs.is_empty() {
            log(&format!(
                "request costs ({} each, {} in flight, as the controller's ServiceAccount):",
                self.n, self.concurrency
            ));
            for (what, t) in &self.costs {
                let api = t.apiserver_cpu.get("kube-apiserver").copied();
                let etcd = t.apiserver_cpu.get("etcd").copied();
                let writes: f64 = t.etcd_writes.values().sum();
                log(&format!(
                    "    {what:<58} {:>7.2} s {:>6.0}/s  apiserver {} etcd {}  etcd writes {:.2}/object",
                    t.seconds,
                    t.rate(self.n),
                    api.map_or("-".into(), |c| format!("{:.2} ms", c / n * 1e3)),
                    etcd.map_or("-".into(), |c| format!("{:.2} ms", c / n * 1e3)),
                    writes / n
                ));
            }
            log(&format!(
                "    baseline POST Secret for comparison: apiserver {} per object",
                self.baseline
                    .apiserver_cpu
                    .get("kube-apiserver")
                    .map_or("-".into(), |c| format!("{:.2} ms", c / n * 1e3))
            ));
        }
        for (label, t) in [("baseline (SA)", Some(&self.baseline)), ("baseline (admin)", self.admin_baseline.as_ref())]
        {
            if let Some(t) = t {
                for (level, (count, wait)) in t.apf.iter().filter(|(l, _)| !l.ends_with("dispatched")) {
                    log(&format!("    {label}: APF {level}: {count:.0} requests, {wait:.2} s queued"));
                }
            }
        }
    }
}

fn print_table(rows: &[Row], args: &Args) {
    println!();
    println!(
        "| N | baseline s (writes/s) | gitseal cold start s (Secrets/s) | ratio gitseal/baseline | all Ready s | controller peak RSS MiB | admin baseline s (writes/s) | API writes per SealedSecret | etcd writes per SealedSecret |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in rows {
        let writes: f64 = r
            .requests
            .iter()
            .filter(|((verb, _, _), _)| matches!(verb.as_str(), "POST" | "PUT" | "PATCH" | "APPLY" | "DELETE"))
            .map(|(_, v)| v)
            .sum();
        println!(
            "| {} | {:.2} ({:.0}) | {:.2} ({:.0}) | {:.2}× | {} | {:.1} | {} | {:.2} | {:.2} |",
            r.n,
            r.baseline.seconds,
            r.baseline.rate(r.n),
            r.gitseal_seconds(),
            r.n as f64 / r.gitseal_seconds(),
            r.gitseal_seconds() / r.baseline.seconds,
            r.all_ready.map_or("-".into(), |d| format!("{:.2}", d.as_secs_f64())),
            r.rss_peak_kib as f64 / 1024.0,
            r.admin_baseline.as_ref().map_or("-".into(), |t| format!("{:.2} ({:.0})", t.seconds, t.rate(r.n))),
            writes / r.n as f64,
            r.etcd_writes.values().sum::<f64>() / r.n as f64,
        );
    }
    println!();
    println!(
        "Baseline: N plain Secrets (3 keys × 32 B) created with {} requests in flight as ServiceAccount {CONTROLLER_NS}/{CONTROLLER_SA}; \
         gitseal: `gitseal-controller --concurrency {}` started cold with N SealedSecrets waiting, timed from process start until \
         all N Secrets exist. Product target: ratio within 1.5×.",
        rows.first().map_or(args.concurrency, |r| r.concurrency),
        args.concurrency
    );
}

// ---------------------------------------------------------------------------------------
// Workload
// ---------------------------------------------------------------------------------------

/// 32 printable bytes, different for every (index, key); no randomness crate needed.
fn value(index: usize, key: usize) -> Vec<u8> {
    let mut x =
        (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (key as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03);
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..32)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ALPHABET[(x % ALPHABET.len() as u64) as usize]
        })
        .collect()
}

fn name(index: usize) -> String {
    format!("bench-{index:06}")
}

async fn create_plain_secrets(client: Client, ns: &str, n: usize, concurrency: usize) -> Result<()> {
    let api: Api<Secret> = Api::namespaced(client, ns);
    let pp = PostParams::default();
    let results: Vec<Result<(), kube::Error>> = futures::stream::iter(0..n)
        .map(|i| {
            let api = api.clone();
            let pp = pp.clone();
            async move {
                let secret = Secret {
                    metadata: ObjectMeta {
                        name: Some(name(i)),
                        labels: Some(BTreeMap::from([("app.kubernetes.io/part-of".into(), "gitseal-bench".into())])),
                        ..ObjectMeta::default()
                    },
                    data: Some(
                        KEYS.iter().enumerate().map(|(k, key)| ((*key).to_owned(), ByteString(value(i, k)))).collect(),
                    ),
                    type_: Some("Opaque".into()),
                    ..Secret::default()
                };
                api.create(&pp, &secret).await.map(|_| ())
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    first_error(results, "creating a Secret")
}

fn seal_all(ns: &str, n: usize, recipients: &Recipients) -> Result<Vec<SealedSecret>> {
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get()).max(1);
    let chunk = n.div_ceil(threads).max(1);
    let indices: Vec<usize> = (0..n).collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = indices
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|&i| {
                            let mut plain = PlainSecret {
                                name: Some(name(i)),
                                namespace: Some(ns.to_owned()),
                                ..PlainSecret::default()
                            };
                            for (k, key) in KEYS.iter().enumerate() {
                                plain.data.insert((*key).to_owned(), Zeroizing::new(value(i, k)));
                            }
                            seal_secret(&plain, Scope::Strict, None, recipients, 1).map_err(anyhow::Error::from)
                        })
                        .collect::<Result<Vec<_>>>()
                })
            })
            .collect();
        let mut out = Vec::with_capacity(n);
        for h in handles {
            out.extend(h.join().map_err(|_| anyhow!("a sealing thread panicked"))??);
        }
        Ok(out)
    })
}

async fn create_sealed(client: Client, sealed: Vec<SealedSecret>, concurrency: usize) -> Result<()> {
    let pp = PostParams::default();
    let results: Vec<Result<(), kube::Error>> = futures::stream::iter(sealed)
        .map(|s| {
            let api: Api<SealedSecret> = Api::namespaced(client.clone(), s.metadata.namespace.as_deref().unwrap_or(""));
            let pp = pp.clone();
            async move { api.create(&pp, &s).await.map(|_| ()) }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    first_error(results, "creating a SealedSecret")
}

fn first_error(results: Vec<Result<(), kube::Error>>, what: &str) -> Result<()> {
    let failed = results.iter().filter(|r| r.is_err()).count();
    match results.into_iter().find_map(Result::err) {
        Some(e) => Err(anyhow::Error::from(e).context(format!("{failed} requests failed {what}"))),
        None => Ok(()),
    }
}

/// Runs `work`, timing it and noting the cluster's CPU and APF queueing meanwhile.
async fn timed<F, Fut, T>(admin: &Client, procs: &ClusterProcs, work: F) -> Result<Timed>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let before = scrape_apiserver(admin).await?;
    let cpu_before = procs.cpu_seconds();
    let start = Instant::now();
    work().await?;
    let seconds = start.elapsed().as_secs_f64();
    let cpu_after = procs.cpu_seconds();
    let after = scrape_apiserver(admin).await?;
    let delta = delta(&before, &after);
    Ok(Timed {
        seconds,
        apiserver_cpu: cpu_delta(&cpu_before, &cpu_after),
        apf: apf_waits(&delta),
        etcd_writes: etcd_writes(&delta),
    })
}

/// What single kinds of request cost, each done `n` times with `c` in flight as the
/// controller's ServiceAccount, on `n` fresh SealedSecrets in their own namespace (the
/// controller is not running).
async fn request_costs_phase(
    admin: &Client,
    sa: &Client,
    procs: &ClusterProcs,
    n: usize,
    c: usize,
) -> Result<Vec<(String, Timed)>> {
    use k8s_openapi::api::core::v1::ObjectReference;
    use k8s_openapi::api::events::v1::Event;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, OwnerReference};
    use kube::api::{Patch, PatchParams};

    let ns = create_namespace(admin, &format!("{NS_PREFIX}costs-{n}")).await?;
    let sealed = seal_all(&ns, n, &Recipients::new(Recipients::parse_file(DUMMY_RECIPIENT)?)?)?;
    let api: Api<SealedSecret> = Api::namespaced(admin.clone(), &ns);
    let uids: Vec<(String, String)> = futures::stream::iter(sealed)
        .map(|s| {
            let api = api.clone();
            async move {
                let created = api.create(&PostParams::default(), &s).await?;
                anyhow::Ok((created.name_any(), created.metadata.uid.unwrap_or_default()))
            }
        })
        .buffer_unordered(c)
        .try_collect()
        .await?;
    let secret_of = |name: &str, uid: &str| -> Secret {
        let index: usize = name.trim_start_matches("bench-").parse().unwrap_or(0);
        Secret {
            metadata: ObjectMeta {
                name: Some(name.to_owned()),
                labels: Some(BTreeMap::from([("app.kubernetes.io/managed-by".into(), "gitseal-controller".into())])),
                owner_references: Some(vec![OwnerReference {
                    api_version: gitseal::crds::API_VERSION.into(),
                    kind: "SealedSecret".into(),
                    name: name.to_owned(),
                    uid: uid.to_owned(),
                    controller: Some(true),
                    block_owner_deletion: None,
                }]),
                ..ObjectMeta::default()
            },
            data: Some(
                KEYS.iter().enumerate().map(|(k, key)| ((*key).to_owned(), ByteString(value(index, k)))).collect(),
            ),
            type_: Some("Opaque".into()),
            ..Secret::default()
        }
    };
    let secrets: Api<Secret> = Api::namespaced(sa.clone(), &ns);
    let statuses: Api<SealedSecret> = Api::namespaced(sa.clone(), &ns);
    let events: Api<Event> = Api::namespaced(sa.clone(), &ns);
    let post = PostParams { field_manager: Some("gitseal-controller".into()), ..PostParams::default() };
    let apply = PatchParams::apply("gitseal-controller").force();
    let status = |message: &str| {
        serde_json::json!({
            "apiVersion": gitseal::crds::API_VERSION,
            "kind": "SealedSecret",
            "status": {
                "observedGeneration": 1,
                "conditions": [{
                    "type": "Ready", "status": "True", "reason": "Unsealed", "message": message,
                    "observedGeneration": 1, "lastTransitionTime": "2026-01-01T00:00:00Z",
                }],
            },
        })
    };
    let mut out = Vec::new();

    // 1. What a controller writing only the Secret and its status would do.
    let t = timed(admin, procs, || async {
        futures::stream::iter(uids.iter())
            .map(|(name, uid)| {
                let (secrets, statuses, post, apply) = (&secrets, &statuses, &post, &apply);
                let body = secret_of(name, uid);
                let status = status(&format!("Secret {name} is up to date"));
                async move {
                    secrets.create(post, &body).await?;
                    statuses.patch_status(name, apply, &Patch::Apply(&status)).await?;
                    anyhow::Ok(())
                }
            })
            .buffer_unordered(c)
            .try_collect::<Vec<()>>()
            .await
            .map(|_| ())
    })
    .await?;
    out.push(("POST Secret + APPLY status (a 2-write controller)".to_owned(), t));

    // 2. The Secret applied by the manager that created it: managedFields gain an Apply entry.
    for label in ["APPLY Secret, first after POST (managedFields change)", "APPLY Secret again (no-op)"] {
        let t = timed(admin, procs, || async {
            futures::stream::iter(uids.iter())
                .map(|(name, uid)| {
                    let (secrets, apply) = (&secrets, &apply);
                    let mut body = serde_json::to_value(secret_of(name, uid)).unwrap_or_default();
                    body["apiVersion"] = "v1".into();
                    body["kind"] = "Secret".into();
                    async move { secrets.patch(name, apply, &Patch::Apply(&body)).await.map(|_| ()) }
                })
                .buffer_unordered(c)
                .try_collect::<Vec<()>>()
                .await
                .map_err(anyhow::Error::from)
        })
        .await?;
        out.push((label.to_owned(), t));
    }

    // 3. Status applies: unchanged, then changed.
    for (label, message) in
        [("APPLY status, unchanged (no-op)", None), ("APPLY status, changed message", Some("changed"))]
    {
        let t = timed(admin, procs, || async {
            futures::stream::iter(uids.iter())
                .map(|(name, _)| {
                    let (statuses, apply) = (&statuses, &apply);
                    let body = status(&message.map_or_else(|| format!("Secret {name} is up to date"), str::to_owned));
                    async move { statuses.patch_status(name, apply, &Patch::Apply(&body)).await.map(|_| ()) }
                })
                .buffer_unordered(c)
                .try_collect::<Vec<()>>()
                .await
                .map_err(anyhow::Error::from)
        })
        .await?;
        out.push((label.to_owned(), t));
    }
    let t = timed(admin, procs, || async {
        futures::stream::iter(uids.iter())
            .map(|(name, _)| {
                let statuses = &statuses;
                let body = status(&format!("merge-patched {name}"));
                async move {
                    statuses.patch_status(name, &PatchParams::default(), &Patch::Merge(&body)).await.map(|_| ())
                }
            })
            .buffer_unordered(c)
            .try_collect::<Vec<()>>()
            .await
            .map_err(anyhow::Error::from)
    })
    .await?;
    out.push(("PATCH status (JSON merge patch, changed)".to_owned(), t));

    // 4. One events.k8s.io Event per object, as the controller publishes on creation.
    let t = timed(admin, procs, || async {
        futures::stream::iter(uids.iter())
            .map(|(name, uid)| {
                let events = &events;
                let event = Event {
                    metadata: ObjectMeta { generate_name: Some(format!("{name}-")), ..ObjectMeta::default() },
                    event_time: Some(MicroTime(k8s_openapi::jiff::Timestamp::now())),
                    action: Some("Unseal".into()),
                    reason: Some("Unsealed".into()),
                    note: Some(format!("created Secret {name}")),
                    type_: Some("Normal".into()),
                    reporting_controller: Some("gitseal-controller".into()),
                    reporting_instance: Some(IDENTITY.into()),
                    regarding: Some(ObjectReference {
                        api_version: Some(gitseal::crds::API_VERSION.into()),
                        kind: Some("SealedSecret".into()),
                        name: Some(name.clone()),
                        namespace: Some(ns.clone()),
                        uid: Some(uid.clone()),
                        ..ObjectReference::default()
                    }),
                    ..Event::default()
                };
                async move { events.create(&PostParams::default(), &event).await.map(|_| ()) }
            })
            .buffer_unordered(c)
            .try_collect::<Vec<()>>()
            .await
            .map_err(anyhow::Error::from)
    })
    .await?;
    out.push(("POST Event".to_owned(), t));
    for (label, t) in &out {
        log(&format!("  cost: {label}: {:.2} s ({:.0}/s); {}", t.seconds, t.rate(n), cpu_text(&t.apiserver_cpu)));
    }
    Ok(out)
}

/// A recipient nobody holds the key of: the cost phase never unseals.
const DUMMY_RECIPIENT: &str = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";

fn is_ready(s: &SealedSecret) -> bool {
    s.status.as_ref().is_some_and(|st| st.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

// ---------------------------------------------------------------------------------------
// Counting objects on a watch
// ---------------------------------------------------------------------------------------

#[derive(Clone, Debug, Default)]
struct Progress {
    /// The watch has listed what was there at its start.
    synced: bool,
    count: usize,
    /// When the count first went above zero, and when it last changed.
    first: Option<Instant>,
    last_change: Option<Instant>,
    error: Option<String>,
}

/// Counts the objects of a watch that satisfy `accept`, by name, from a background task.
fn spawn_counter<K>(api: Api<K>, config: watcher::Config, accept: fn(&K) -> bool) -> watch::Receiver<Progress>
where
    K: kube::Resource + Clone + std::fmt::Debug + k8s_openapi::serde::de::DeserializeOwned + Send + Sync + 'static,
    K::DynamicType: Default,
{
    let (tx, rx) = watch::channel(Progress::default());
    tokio::spawn(async move {
        let mut names: HashSet<String> = HashSet::new();
        let mut init: Option<HashSet<String>> = None;
        let stream = watcher(api, config).default_backoff();
        let mut stream = std::pin::pin!(stream);
        loop {
            let event = match stream.try_next().await {
                Ok(Some(e)) => e,
                Ok(None) => return,
                Err(e) => {
                    tx.send_modify(|p| p.error = Some(e.to_string()));
                    continue;
                }
            };
            let before = names.len();
            match event {
                watcher::Event::Init => init = Some(HashSet::new()),
                watcher::Event::InitApply(o) => {
                    if accept(&o) {
                        init.get_or_insert_with(HashSet::new).insert(o.name_any());
                    }
                }
                watcher::Event::InitDone => {
                    names = init.take().unwrap_or_default();
                    tx.send_modify(|p| p.synced = true);
                }
                watcher::Event::Apply(o) => {
                    if accept(&o) {
                        names.insert(o.name_any());
                    } else {
                        names.remove(&o.name_any());
                    }
                }
                watcher::Event::Delete(o) => {
                    names.remove(&o.name_any());
                }
            }
            if names.len() != before {
                let now = Instant::now();
                let count = names.len();
                tx.send_modify(|p| {
                    p.count = count;
                    p.last_change = Some(now);
                    if p.first.is_none() && count > 0 {
                        p.first = Some(now);
                    }
                });
            }
        }
    });
    rx
}

async fn wait_synced(rx: &watch::Receiver<Progress>, timeout: Duration) -> Result<()> {
    let mut rx = rx.clone();
    tokio::time::timeout(timeout, rx.wait_for(|p| p.synced)).await.context("a watch did not start")??;
    Ok(())
}

/// Waits until `rx` counts `n`; returns the time since the controller started. Fails on
/// the timeout, or when the controller exits, or when the count stalls for 5 minutes.
async fn wait_count(
    rx: &watch::Receiver<Progress>,
    n: usize,
    timeout: Duration,
    what: &str,
    controller: &mut Controller,
) -> Result<Duration> {
    let start = controller.started;
    let deadline = start + timeout;
    let mut reported = Instant::now();
    loop {
        let p = rx.borrow().clone();
        if p.count >= n {
            return Ok(p.last_change.map_or(Duration::ZERO, |t| t - start));
        }
        if let Some(status) = controller.exited() {
            bail!("the controller exited ({status}) with {}/{n} {what}", p.count);
        }
        let now = Instant::now();
        if now > deadline {
            bail!("timed out after {timeout:?} with {}/{n} {what}", p.count);
        }
        if p.last_change.is_some_and(|t| now - t > Duration::from_secs(300)) {
            bail!("stuck at {}/{n} {what} for 5 minutes", p.count);
        }
        if controller.rss_at_first_kib.is_none() && p.count > 0 {
            controller.rss_at_first_kib = controller.status_field("VmRSS:");
        }
        if now - reported > Duration::from_secs(10) {
            reported = now;
            log(&format!(
                "  {:>6.1} s: {}/{n} {what}; controller RSS {:.0} MiB{}",
                (now - start).as_secs_f64(),
                p.count,
                controller.status_field("VmRSS:").unwrap_or(0) as f64 / 1024.0,
                p.error.map_or(String::new(), |e| format!(" (watch error: {e})"))
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---------------------------------------------------------------------------------------
// The controller process
// ---------------------------------------------------------------------------------------

struct Controller {
    child: Option<Child>,
    port: u16,
    started: Instant,
    /// VmRSS when the first Secret appeared (caches loaded, writing begins), KiB.
    rss_at_first_kib: Option<u64>,
}

impl Controller {
    /// Writes a fresh ServiceAccount kubeconfig and starts the controller under it.
    async fn start(cluster: &Cluster, args: &Args, work_dir: &Path, log_path: &Path) -> Result<Controller> {
        let kubeconfig = work_dir.join("controller.kubeconfig");
        cluster.write_service_account_kubeconfig(CONTROLLER_NS, CONTROLLER_SA, &kubeconfig).await?;
        let port = free_port()?;
        let stderr = std::fs::File::create(log_path).with_context(|| format!("creating {}", log_path.display()))?;
        let started = Instant::now();
        let child = Command::new(&args.controller)
            .args(["--namespace", CONTROLLER_NS, "--pod-name", IDENTITY])
            .arg("--http-addr")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--concurrency")
            .arg(args.concurrency.to_string())
            .env("KUBECONFIG", &kubeconfig)
            .env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .with_context(|| format!("starting {}", args.controller.display()))?;
        Ok(Controller { child: Some(child), port, started, rss_at_first_kib: None })
    }

    fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.as_mut().and_then(|c| c.try_wait().ok().flatten())
    }

    fn metrics(&self) -> String {
        let (status, body) = gitseal_e2e::http_get(self.port, "/metrics");
        if status == 200 { body } else { String::new() }
    }

    /// Waits until `gitseal_reconciles_total` stops moving for `quiet` (at most `max`);
    /// returns its value by result.
    async fn settle(&self, quiet: Duration, max: Duration) -> BTreeMap<String, f64> {
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

    fn status_field(&self, field: &str) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()?)).ok()?;
        let line = status.lines().find(|l| l.starts_with(field))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }

    /// Peak resident set size, KiB.
    fn vm_hwm_kib(&self) -> Option<u64> {
        self.status_field("VmHWM:")
    }

    fn cpu_seconds(&self) -> Option<f64> {
        proc_cpu_seconds(self.pid()?)
    }

    /// SIGTERM, then a clean exit within 30 s (SIGKILL otherwise).
    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                if !status.success() {
                    log(&format!("warning: the controller exited with {status}"));
                }
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        log("warning: the controller did not stop on SIGTERM; killing it");
        let _ = child.kill();
        let _ = child.wait();
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
async fn prime_keys(cluster: &Cluster, args: &Args, work_dir: &Path, timeout: Duration) -> Result<Recipients> {
    let admin = cluster.client();
    wait_for_lease(&admin, Duration::from_secs(30)).await?;
    let mut controller = Controller::start(cluster, args, work_dir, &work_dir.join("controller-prime.log")).await?;
    let configmaps: Api<ConfigMap> = Api::namespaced(admin, CONTROLLER_NS);
    let deadline = Instant::now() + timeout.min(Duration::from_secs(120));
    let text = loop {
        if let Some(status) = controller.exited() {
            bail!("the controller exited ({status}); see {}", work_dir.join("controller-prime.log").display());
        }
        anyhow::ensure!(Instant::now() < deadline, "the controller did not publish its public keys in time");
        let (status, served) = gitseal_e2e::http_get(controller.port, "/v1/recipients");
        if status == 200 && !served.trim().is_empty() {
            let published = configmaps
                .get_opt(PUBLIC_KEYS)
                .await?
                .and_then(|cm| cm.data?.get("recipients.txt").cloned())
                .unwrap_or_default();
            if published == served {
                break published;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    controller.stop();
    let recipients = Recipients::new(Recipients::parse_file(&text)?)?;
    log(&format!("sealing to {} published key(s)", text.lines().filter(|l| l.starts_with("age1")).count()));
    Ok(recipients)
}

/// Makes sure no other controller leads: the Lease is absent, released, expired or ours.
async fn wait_for_lease(admin: &Client, max: Duration) -> Result<()> {
    let api: Api<Lease> = Api::namespaced(admin.clone(), CONTROLLER_NS);
    let deadline = Instant::now() + max;
    loop {
        let Some(lease) = api.get_opt(LEASE).await? else { return Ok(()) };
        let spec = lease.spec.unwrap_or_default();
        let holder = spec.holder_identity.unwrap_or_default();
        let duration = i64::from(spec.lease_duration_seconds.unwrap_or(15));
        let now = k8s_openapi::jiff::Timestamp::now();
        let live = spec.renew_time.is_some_and(|t| t.0 + k8s_openapi::jiff::SignedDuration::from_secs(duration) > now);
        if holder.is_empty() || holder == IDENTITY || !live {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "another gitseal-controller ({holder}) holds Lease {CONTROLLER_NS}/{LEASE} and keeps renewing it; \
                 the benchmark must be the only controller on the cluster (use benches/controller.sh --own-cluster)"
            );
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

// ---------------------------------------------------------------------------------------
// Namespaces
// ---------------------------------------------------------------------------------------

async fn create_namespace(admin: &Client, name: &str) -> Result<String> {
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            labels: Some(BTreeMap::from([(gitseal_e2e::E2E_LABEL.into(), "true".into())])),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    Api::<Namespace>::all(admin.clone())
        .create(&PostParams::default(), &ns)
        .await
        .with_context(|| format!("creating namespace {name}"))?;
    Ok(name.to_owned())
}

/// Deletes every namespace this bench made and waits until they are gone.
async fn delete_bench_namespaces(admin: &Client, timeout: Duration) -> Result<()> {
    let api: Api<Namespace> = Api::all(admin.clone());
    let ours = |list: kube::core::ObjectList<PartialObjectMeta<Namespace>>| -> Vec<String> {
        list.items.into_iter().map(|n| n.name_any()).filter(|n| n.starts_with(NS_PREFIX)).collect()
    };
    let names = ours(api.list_metadata(&ListParams::default()).await?);
    if names.is_empty() {
        return Ok(());
    }
    let start = Instant::now();
    for name in &names {
        match api.delete(name, &Default::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => return Err(anyhow::Error::from(e).context(format!("deleting namespace {name}"))),
        }
    }
    log(&format!("deleting namespaces {}", names.join(", ")));
    loop {
        let left = ours(api.list_metadata(&ListParams::default()).await?);
        if left.is_empty() {
            log(&format!("namespaces deleted in {:.1} s", start.elapsed().as_secs_f64()));
            return Ok(());
        }
        anyhow::ensure!(start.elapsed() < timeout, "namespaces {} still exist after {timeout:?}", left.join(", "));
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

// ---------------------------------------------------------------------------------------
// Metrics: the API server's /metrics (Prometheus text) and /proc CPU times
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

type Samples = BTreeMap<(String, Vec<(String, String)>), f64>;

async fn scrape_apiserver(admin: &Client) -> Result<Samples> {
    let request = http::Request::get("/metrics").body(Vec::new())?;
    let text = admin.request_text(request).await.context("reading the API server's /metrics")?;
    Ok(parse_metrics(&text)
        .into_iter()
        .filter(|s| {
            s.name == "apiserver_request_total"
                || s.name == "etcd_requests_total"
                || s.name.starts_with("apiserver_flowcontrol_request_wait_duration_seconds_")
                || s.name == "apiserver_flowcontrol_rejected_requests_total"
                || s.name == "apiserver_flowcontrol_dispatched_requests_total"
        })
        .map(|s| ((s.name, s.labels.into_iter().collect()), s.value))
        .collect())
}

fn delta(before: &Samples, after: &Samples) -> Vec<Sample> {
    after
        .iter()
        .map(|((name, labels), v)| Sample {
            name: name.clone(),
            labels: labels.iter().cloned().collect(),
            value: v - before.get(&(name.clone(), labels.clone())).copied().unwrap_or(0.0),
        })
        .filter(|s| s.value > 0.0)
        .collect()
}

/// (verb, group/resource[/subresource], code) → requests.
fn request_counts(delta: &[Sample]) -> BTreeMap<(String, String, String), f64> {
    let mut out = BTreeMap::new();
    for s in delta.iter().filter(|s| s.name == "apiserver_request_total") {
        let get = |k: &str| s.labels.get(k).cloned().unwrap_or_default();
        let mut resource = get("resource");
        if resource.is_empty() {
            resource = "(non-resource)".into();
        }
        let group = get("group");
        if !group.is_empty() {
            resource = format!("{resource}.{group}");
        }
        let sub = get("subresource");
        if !sub.is_empty() {
            resource = format!("{resource}/{sub}");
        }
        *out.entry((get("verb"), resource, get("code"))).or_insert(0.0) += s.value;
    }
    out
}

/// `operation resource` → etcd writes (create, update, delete), from `etcd_requests_total`.
fn etcd_writes(delta: &[Sample]) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for s in delta.iter().filter(|s| s.name == "etcd_requests_total") {
        let op = s.labels.get("operation").map_or("", String::as_str);
        if matches!(op, "create" | "update" | "delete") {
            let resource =
                s.labels.get("resource").cloned().or_else(|| s.labels.get("type").cloned()).unwrap_or_default();
            *out.entry(format!("{op} {resource}")).or_insert(0.0) += s.value;
        }
    }
    out
}

/// Priority level → (requests, seconds queued), from the APF wait histogram.
fn apf_waits(delta: &[Sample]) -> BTreeMap<String, (f64, f64)> {
    let mut out: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    for s in delta {
        let level = s.labels.get("priority_level").cloned().unwrap_or_default();
        match s.name.as_str() {
            "apiserver_flowcontrol_request_wait_duration_seconds_count" => out.entry(level).or_default().0 += s.value,
            "apiserver_flowcontrol_request_wait_duration_seconds_sum" => out.entry(level).or_default().1 += s.value,
            "apiserver_flowcontrol_dispatched_requests_total" => {
                let schema = s.labels.get("flow_schema").cloned().unwrap_or_default();
                out.entry(format!("{level} (flow schema {schema}) dispatched")).or_default().0 += s.value;
            }
            "apiserver_flowcontrol_rejected_requests_total" => {
                out.entry(format!("{level} REJECTED")).or_default().0 += s.value;
            }
            _ => {}
        }
    }
    out
}

/// Prometheus/OpenMetrics text → samples (comments skipped; label values unescaped).
fn parse_metrics(text: &str) -> Vec<Sample> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, rest) = match line.find(['{', ' ']) {
            Some(i) => line.split_at(i),
            None => continue,
        };
        let mut labels = BTreeMap::new();
        let mut rest = rest;
        if let Some(body) = rest.strip_prefix('{') {
            let mut chars = body.char_indices();
            let mut key = String::new();
            let mut end = body.len();
            'labels: while let Some((_, c)) = chars.next() {
                match c {
                    '}' => {
                        end = chars.next().map_or(body.len(), |(i, _)| i);
                        break 'labels;
                    }
                    ',' | ' ' => {}
                    '=' => {
                        let mut value = String::new();
                        let _ = chars.next(); // opening quote
                        while let Some((_, c)) = chars.next() {
                            match c {
                                '\\' => match chars.next() {
                                    Some((_, 'n')) => value.push('\n'),
                                    Some((_, other)) => value.push(other),
                                    None => {}
                                },
                                '"' => break,
                                other => value.push(other),
                            }
                        }
                        labels.insert(std::mem::take(&mut key), value);
                    }
                    other => key.push(other),
                }
            }
            rest = &body[end..];
        }
        if let Some(value) = rest.split_whitespace().next().and_then(|v| v.parse::<f64>().ok()) {
            out.push(Sample { name: name.to_owned(), labels, value });
        }
    }
    out
}

/// PIDs of the cluster's processes, from `tests/cluster/.state/pids`.
struct ClusterProcs(Vec<(String, u32)>);

impl ClusterProcs {
    fn from_state(state: Option<&Path>) -> ClusterProcs {
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

    fn cpu_seconds(&self) -> BTreeMap<String, f64> {
        self.0.iter().filter_map(|(name, pid)| Some((name.clone(), proc_cpu_seconds(*pid)?))).collect()
    }
}

/// utime + stime of a process, in seconds (USER_HZ = 100 on Linux).
fn proc_cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

fn cpu_delta(before: &BTreeMap<String, f64>, after: &BTreeMap<String, f64>) -> BTreeMap<String, f64> {
    after.iter().filter_map(|(k, v)| Some((k.clone(), v - before.get(k)?))).collect()
}

fn cpu_text(cpu: &BTreeMap<String, f64>) -> String {
    if cpu.is_empty() {
        return "cluster CPU not measured (no --cluster-state)".into();
    }
    let parts: Vec<String> = cpu.iter().map(|(k, v)| format!("{k} {v:.1} s")).collect();
    format!("CPU {}", parts.join(", "))
}
