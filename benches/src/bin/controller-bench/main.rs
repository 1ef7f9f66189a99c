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
//! With `--incumbent`, the incumbent (bitnami sealed-secrets, its own controller and
//! `kubeseal`) on the same API server in the same run ([`bitnami`]):
//!
//! 3. **incumbent cold start** at each N with client throttling off
//!    (`--kubeclient-qps=-1`), after the namespaces of 1–2 are deleted, counted alike
//!    (Secrets it controls; `Synced=True`);
//! 4. **incumbent at its default flags** (client-go's 5 QPS, burst 10: what its users
//!    run) once, at `--incumbent-default-count` objects, extrapolated to each N;
//! 5. **command line**: `kubeseal --cert` against `gitseal seal` on a ten-key Secret
//!    ([`cli`]);
//!
//! and then fills benches/RESULTS.md (`--report`) and draws the chart (`--chart`)
//! ([`report`]). Only one controller runs at a time.
//!
//! Prints Markdown tables to stdout; progress and details go to stderr. See
//! `benches/controller.sh` and `benches/README.md`. Needs `deploy/` applied and must be
//! the only gitseal-controller on the cluster (it checks the Lease).

mod bitnami;
mod cli;
mod cold_start;
mod report;
mod steady;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use clap::Parser;
use futures::{StreamExt, TryStreamExt};
use gitseal::{Recipients, SealedSecret};
use gitseal_bench::{
    CONTROLLER_NS, CONTROLLER_SA, ClusterProcs, Controller, IDENTITY, KEYS, Launch, MANAGED_SELECTOR, NS_PREFIX,
    PUBLIC_KEYS, Session, SessionArgs, apf_waits, cpu_delta, cpu_text, create_namespace, create_sealed,
    delete_bench_namespaces, delta, etcd_writes, first_error, is_ready, load_average, log, name, scrape_apiserver,
    seal_all, spawn_counter, value, wait_for_lease,
};
use gitseal_test_support::Cluster;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, ListParams, PostParams};
use kube::core::PartialObjectMeta;
use kube::runtime::watcher;
use kube::{Client, ResourceExt};

use bitnami::{Bitnami, UNTHROTTLED};
use cold_start::{Before, ColdStart, Counters};

#[derive(Debug, Parser)]
#[command(
    name = "controller-bench",
    about = "gitseal-controller cold-start benchmark against the API server's own write rate and the incumbent"
)]
struct Args {
    /// Object counts to measure, in order (repeatable or comma-separated).
    #[arg(long = "count", value_delimiter = ',', default_values_t = [1000usize, 10000])]
    counts: Vec<usize>,
    #[command(flatten)]
    session: SessionArgs,
    /// Skip the admin (APF-exempt) baseline.
    #[arg(long)]
    no_admin_baseline: bool,
    /// After each cold start, also time what single request kinds cost the API server
    /// (Secret create + status apply as a 2-write controller would do them, a Secret
    /// apply after create, a no-op apply, an Event), each N times at --concurrency.
    #[arg(long)]
    request_costs: bool,
    /// Leave the namespaces of the last phase in place for inspection.
    #[arg(long)]
    keep: bool,
    /// Also measure the incumbent (bitnami sealed-secrets, built by dev/tools/incumbent/build)
    /// and the two command-line tools; needs --gitseal-cli.
    #[arg(long, requires = "gitseal_cli")]
    incumbent: bool,
    /// Objects for the incumbent at its default flags (about 1.3 a second), extrapolated
    /// to each N.
    #[arg(long, default_value_t = 200)]
    incumbent_default_count: usize,
    /// The gitseal binary (release build), for the command-line comparison.
    #[arg(long)]
    gitseal_cli: Option<PathBuf>,
    /// Runs of each command-line tool.
    #[arg(long, default_value_t = 25)]
    cli_runs: usize,
    /// With --incumbent: the Markdown file whose generated section to fill.
    #[arg(long)]
    report: Option<PathBuf>,
    /// With --incumbent: where to write the cold-start chart (SVG).
    #[arg(long)]
    chart: Option<PathBuf>,
    /// The command line to print as the way to reproduce the report.
    #[arg(long, default_value = "benches/controller.sh --own-cluster --incumbent")]
    invocation: String,
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let Session { cluster, admin, timeout, procs, launch, recipients } =
        Session::open("controller-bench", &args.session).await?;
    let c = args.session.concurrency;

    let mut bitnami = None;
    let mut cli_times = None;
    if args.incumbent {
        let b = Bitnami::prepare(&cluster).await?;
        cli_times = Some(command_line(&args, &admin, &cluster, &launch, &b).await?);
        bitnami = Some(b);
    }

    let mut rows = Vec::new();
    for (i, &n) in args.counts.iter().enumerate() {
        log(&format!("=== N = {n} === ({})", load_average()));
        let mut row = measure(&cluster, &args, &launch, &recipients, &procs, n, timeout).await?;
        if let Some(b) = bitnami.as_mut() {
            delete_bench_namespaces(&admin, timeout).await?;
            row.incumbent = Some(b.cold_start(&admin, &procs, n, UNTHROTTLED, c, timeout).await?);
        }
        row.details();
        rows.push(row);
        let last = i + 1 == args.counts.len() && bitnami.is_none();
        if !(last && args.keep) {
            delete_bench_namespaces(&admin, timeout).await?;
        }
    }
    let default_flags = match bitnami.as_mut() {
        Some(b) => {
            let d = b.cold_start(&admin, &procs, args.incumbent_default_count, &[], c, timeout).await?;
            d.details("incumbent (default flags)");
            if !args.keep {
                delete_bench_namespaces(&admin, timeout).await?;
            }
            Some(d)
        }
        None => None,
    };
    print_table(&rows, &args);

    if let (Some(b), Some(default_flags), Some(cli)) = (&bitnami, &default_flags, &cli_times) {
        let environment = report::environment(&admin, b.incumbent().bin_dir()).await;
        let report = report::Report { rows: &rows, default_flags, cli, environment, invocation: &args.invocation };
        let markdown = report.markdown();
        println!("\n{markdown}");
        if let Some(path) = &args.report {
            report::fill(path, &markdown)?;
            log(&format!("filled the generated section of {}", path.display()));
        }
        if let Some(path) = &args.chart {
            std::fs::write(path, report.svg()).with_context(|| format!("writing {}", path.display()))?;
            log(&format!("wrote {}", path.display()));
        }
    }
    if let Some(b) = bitnami {
        b.stop();
    }
    Ok(())
}

/// The command-line comparison, with the incumbent's served certificate and the
/// recipients gitseal-controller published.
async fn command_line(
    args: &Args,
    admin: &Client,
    cluster: &Cluster,
    launch: &Launch,
    bitnami: &Bitnami,
) -> Result<[cli::CliTimes; 2]> {
    log(&format!("=== command line: {} runs each === ({})", args.cli_runs, load_average()));
    let published = Api::<ConfigMap>::namespaced(admin.clone(), CONTROLLER_NS).get(PUBLIC_KEYS).await?;
    let recipients = launch.work_dir.join("recipients.txt");
    let text = published.data.and_then(|d| d.get("recipients.txt").cloned()).unwrap_or_default();
    std::fs::write(&recipients, text).with_context(|| format!("writing {}", recipients.display()))?;
    let incumbent = bitnami.incumbent();
    let tools = cli::Tools {
        kubeseal: incumbent.bin_dir().join("kubeseal"),
        cert: bitnami.cert().to_owned(),
        gitseal: args.gitseal_cli.as_deref().context("--incumbent needs --gitseal-cli")?,
        recipients,
        kubeconfig: cluster.kubeconfig_path(),
    };
    cli::measure(&tools, &launch.work_dir, args.cli_runs)
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
    gitseal: ColdStart,
    /// gitseal after its cold start: one change, a restart.
    steady: steady::Steady,
    reconciles: BTreeMap<String, f64>,
    costs: Vec<(String, Timed)>,
    /// The incumbent's controller, unthrottled, with the same N waiting (--incumbent).
    incumbent: Option<ColdStart>,
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
    launch: &Launch,
    recipients: &Recipients,
    procs: &ClusterProcs,
    n: usize,
    timeout: Duration,
) -> Result<Row> {
    let admin = cluster.client();
    let c = args.session.concurrency;

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
    let counters = Counters {
        secrets: spawn_counter(
            Api::<PartialObjectMeta<Secret>>::namespaced(admin.clone(), &ns),
            watcher::Config::default().labels(MANAGED_SELECTOR),
            |_| true,
        ),
        ready: spawn_counter(Api::<SealedSecret>::namespaced(admin.clone(), &ns), watcher::Config::default(), is_ready),
        ready_what: "Ready SealedSecrets",
    };
    counters.synced(timeout).await?;
    wait_for_lease(&admin, Duration::from_secs(30)).await?;

    let before = Before::take(&admin, procs).await?;
    let log_path = launch.work_dir.join(format!("controller-{n}.log"));
    let mut controller = Controller::start(cluster, launch, &log_path).await?;
    let times = match counters.wait(&mut controller, n, timeout).await {
        Ok(times) => times,
        Err(e) => {
            log(&format!("controller log: {}", log_path.display()));
            controller.stop();
            return Err(e);
        }
    };
    // Let trailing reconciles (triggered by the controller's own writes) finish, so the
    // request count covers everything the cold start causes.
    let reconciles = controller.settle(Duration::from_secs(3), Duration::from_secs(60)).await;
    let gitseal = ColdStart::read(n, &mut controller, &counters, times, before, &admin, procs).await?;
    // 4. Steady state: one change among the N, then a restart over all of them in place.
    let change = steady::one_change(&admin, &ns, n, recipients, timeout).await?;
    log(&format!("one SealedSecret changed among {n}: its Secret updated {:.0} ms later", change.as_secs_f64() * 1e3));
    controller.stop();
    let restart = steady::restart(cluster, launch, n, timeout).await?;
    let steady = steady::Steady { change, restart };

    // Sanity: the watch agrees with a list.
    let listed = Api::<Secret>::namespaced(admin.clone(), &ns)
        .list_metadata(&ListParams::default().labels(MANAGED_SELECTOR))
        .await?
        .items
        .len();
    anyhow::ensure!(listed == n, "a list finds {listed} managed Secrets in {ns}, expected {n}");

    let costs = if args.request_costs { request_costs_phase(&admin, &sa, procs, n, c).await? } else { Vec::new() };
    Ok(Row {
        n,
        concurrency: c,
        baseline,
        admin_baseline,
        sealed_create,
        gitseal,
        steady,
        reconciles,
        costs,
        incumbent: None,
    })
}

impl Row {
    fn gitseal_seconds(&self) -> f64 {
        self.gitseal.seconds()
    }

    /// Everything worth knowing beyond the table, to stderr.
    fn details(&self) {
        let n = self.n as f64;
        self.gitseal.details("gitseal-controller");
        log(&format!(
            "creating the {} SealedSecrets (admin, {} in flight) took {:.2} s = {:.0}/s; {}",
            self.n,
            self.concurrency,
            self.sealed_create.seconds,
            self.sealed_create.rate(self.n),
            cpu_text(&self.sealed_create.apiserver_cpu)
        ));
        log(&format!("controller reconciles: {:?}", self.reconciles));
        if let Some(incumbent) = &self.incumbent {
            incumbent.details("incumbent (--kubeclient-qps=-1)");
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
        let (_, writes) = r.gitseal.requests_per_object();
        println!(
            "| {} | {:.2} ({:.0}) | {:.2} ({:.0}) | {:.2}× | {} | {:.1} | {} | {:.2} | {:.2} |",
            r.n,
            r.baseline.seconds,
            r.baseline.rate(r.n),
            r.gitseal_seconds(),
            r.n as f64 / r.gitseal_seconds(),
            r.gitseal_seconds() / r.baseline.seconds,
            r.gitseal.all_ready.map_or("-".into(), |d| format!("{:.2}", d.as_secs_f64())),
            r.gitseal.rss_peak_mib(),
            r.admin_baseline.as_ref().map_or("-".into(), |t| format!("{:.2} ({:.0})", t.seconds, t.rate(r.n))),
            writes,
            r.gitseal.etcd_writes_per_object(),
        );
    }
    println!();
    println!(
        "Baseline: N plain Secrets (3 keys × 32 B) created with {} requests in flight as ServiceAccount {CONTROLLER_NS}/{CONTROLLER_SA}; \
         gitseal: `gitseal-controller --concurrency {}` started cold with N SealedSecrets waiting, timed from process start until \
         all N Secrets exist. Product target: ratio within 1.5×.",
        rows.first().map_or(args.session.concurrency, |r| r.concurrency),
        args.session.concurrency
    );
}

// ---------------------------------------------------------------------------------------
// Workload
// ---------------------------------------------------------------------------------------

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
    Ok(first_error(results, "creating a Secret")?)
}

/// Runs `work`, timing it and noting the cluster's CPU and APF queueing meanwhile.
async fn timed<F, Fut, T, E>(admin: &Client, procs: &ClusterProcs, work: F) -> Result<Timed>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: Into<anyhow::Error>,
{
    let before = scrape_apiserver(admin).await?;
    let cpu_before = procs.cpu_seconds();
    let start = Instant::now();
    work().await.map_err(Into::into)?;
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
