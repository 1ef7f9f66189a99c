//! The install as users do it, on a real node (`GITSEAL_CLUSTER_NAME=node dev/cluster/up
//! --node`, which builds this checkout's image and loads it into the node): `kubectl apply
//! -R -f deploy/` and the README's `helm install`, each running gitseal-controller in its
//! two Pods, and the user's flow against them with this `gitseal`: fetch-key, create,
//! kubectl apply, the Secret appears.
//!
//! Checked from the host, not only from the API: the containers' processes run as 65532
//! with no capabilities, no privilege escalation, seccomp and a read-only root; the memory
//! limit is the kernel's and holds over 10,000 SealedSecrets; the probes answer on the Pod
//! IPs; `/metrics` answers through the Service's cluster IP (kube-proxy), from both
//! replicas, one of them leader, and a real Prometheus scraping it there answers the
//! chart's alert queries; deleting the leader's Pod fails over; the
//! PodDisruptionBudget lets an eviction take one replica, and refuses the second.
//!
//! The two installs take turns (one lock): two controllers on one cluster would both
//! reconcile every SealedSecret.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests state their expectations by unwrapping

mod release;
mod upgrade;

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use gitseal::Recipients;
use gitseal_test_support::helm::{Helm, chart_dir};
use gitseal_test_support::node::HostContainer;
use gitseal_test_support::prometheus::build_dir;
use gitseal_test_support::prometheus_server::PrometheusServer;
use gitseal_test_support::{Cluster, eventually, http_get_at, succeeded, workspace_root};
use gitseal_test_support::{MANAGED_SELECTOR, create_sealed, seal_all};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Namespace, Pod, Secret, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, DeleteParams, ListParams};
use serde_json::json;

static TURNS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const ROLLOUT: Duration = Duration::from_secs(180);
const SELECTOR: &str = "app.kubernetes.io/name=gitseal-controller";
/// The scale the product targets (benches/RESULTS.md).
const AT_SCALE: usize = 10_000;

/// This checkout's `gitseal`.
fn this_gitseal() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_gitseal"))
}

fn gitseal(bin: &Path, dir: &Path, args: &[&str]) -> anyhow::Result<String> {
    let output = Command::new(bin).args(args).current_dir(dir).output()?;
    let output = succeeded(&format!("gitseal {}", args.join(" ")), output)?;
    Ok(String::from_utf8(output.stdout)?)
}

fn kubectl(cluster: &Cluster, args: &[&str]) -> anyhow::Result<String> {
    let output = succeeded(&format!("kubectl {}", args.join(" ")), cluster.kubectl(args, b"")?)?;
    Ok(String::from_utf8(output.stdout)?)
}

/// The controller's Pods that are not being deleted.
async fn live_pods(cluster: &Cluster, ns: &str) -> anyhow::Result<Vec<Pod>> {
    let pods = Api::<Pod>::namespaced(cluster.client(), ns).list(&ListParams::default().labels(SELECTOR)).await?;
    Ok(pods.items.into_iter().filter(|p| p.metadata.deletion_timestamp.is_none()).collect())
}

fn ready(pod: &Pod) -> bool {
    let conditions = pod.status.as_ref().and_then(|s| s.conditions.as_ref());
    conditions.is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn restarts(pod: &Pod) -> i32 {
    let statuses = pod.status.as_ref().and_then(|s| s.container_statuses.as_ref());
    statuses.map_or(0, |all| all.iter().map(|c| c.restart_count).sum())
}

fn name(pod: &Pod) -> String {
    pod.metadata.name.clone().unwrap_or_default()
}

async fn lease_holder(cluster: &Cluster, ns: &str) -> anyhow::Result<Option<String>> {
    let lease = Api::<Lease>::namespaced(cluster.client(), ns).get_opt("gitseal-controller").await?;
    Ok(lease.and_then(|l| l.spec).and_then(|s| s.holder_identity))
}

/// Waits for the Deployment's two replicas to be Ready and one of them to hold the Lease;
/// returns the Pods and the leader's name.
async fn rolled_out(cluster: &Cluster, ns: &str) -> anyhow::Result<(Vec<Pod>, String)> {
    let deployments = Api::<Deployment>::namespaced(cluster.client(), ns);
    eventually("the Deployment's 2 replicas are Ready", ROLLOUT, || async {
        let status = deployments.get("gitseal-controller").await?.status.unwrap_or_default();
        let pods = live_pods(cluster, ns).await?;
        Ok(status.ready_replicas == Some(2) && pods.len() == 2 && pods.iter().all(ready))
    })
    .await?;
    let pods = live_pods(cluster, ns).await?;
    let names: BTreeSet<String> = pods.iter().map(name).collect();
    eventually("one replica holds the Lease", ROLLOUT, || async {
        Ok(lease_holder(cluster, ns).await?.is_some_and(|h| names.contains(&h)))
    })
    .await?;
    let leader = lease_holder(cluster, ns).await?.context("no Lease holder")?;
    Ok((pods, leader))
}

/// Bytes of a memory quantity such as `256Mi`.
fn bytes(quantity: &str) -> anyhow::Result<u64> {
    let (number, unit) = quantity.split_at(quantity.find(|c: char| !c.is_ascii_digit()).unwrap_or(quantity.len()));
    let factor = match unit {
        "" => 1,
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        other => bail!("unit {other} of {quantity}"),
    };
    Ok(number.parse::<u64>()? * factor)
}

/// The container's memory limit as the Pod spec states it.
fn spec_memory_limit(pod: &Pod) -> anyhow::Result<u64> {
    let container = pod.spec.as_ref().and_then(|s| s.containers.first()).context("Pod without containers")?;
    let limits = container.resources.as_ref().and_then(|r| r.limits.as_ref()).context("no limits")?;
    bytes(&limits.get("memory").context("no memory limit")?.0)
}

/// What the kernel enforces on each replica's process: the security context and the limit.
fn check_confinement(pods: &[Pod]) -> anyhow::Result<()> {
    for pod in pods {
        let c = HostContainer::of(pod, "controller")?;
        let pod = name(pod);
        // Real, effective, saved and filesystem IDs: all 65532.
        ensure!(c.status_field("Uid:")? == "65532 65532 65532 65532", "{pod}: Uid {}", c.status_field("Uid:")?);
        ensure!(c.status_field("Gid:")? == "65532 65532 65532 65532", "{pod}: Gid {}", c.status_field("Gid:")?);
        ensure!(c.status_field("NoNewPrivs:")? == "1", "{pod}: privilege escalation not blocked");
        ensure!(c.status_field("Seccomp:")? == "2", "{pod}: not in seccomp filter mode");
        for caps in ["CapEff:", "CapPrm:", "CapBnd:"] {
            ensure!(c.status_field(caps)? == "0000000000000000", "{pod}: {caps} {}", c.status_field(caps)?);
        }
        let root = c.root_mount_options()?;
        ensure!(root.iter().any(|o| o == "ro"), "{pod}: root filesystem mounted {root:?}");
        ensure!(c.memory_limit_bytes()? == 256 << 20, "{pod}: memory cgroup limit {}", c.memory_limit_bytes()?);
    }
    Ok(())
}

/// The Service's cluster IP and its `http` port.
async fn service_address(cluster: &Cluster, ns: &str) -> anyhow::Result<SocketAddr> {
    let service = Api::<Service>::namespaced(cluster.client(), ns).get("gitseal-controller").await?;
    let spec = service.spec.context("Service without spec")?;
    let ip: IpAddr = spec.cluster_ip.context("no cluster IP")?.parse()?;
    let ports = spec.ports.context("no ports")?;
    let port = ports.iter().find(|p| p.name.as_deref() == Some("http")).context("no http port")?.port;
    Ok(SocketAddr::new(ip, u16::try_from(port)?))
}

/// A real Prometheus (dev/tools/prometheus/build) on the host scrapes `/metrics` through the
/// Service, labelled with the namespace as a ServiceMonitor labels it, and answers what
/// the chart's alerts ask: a leader, and the published key's age.
async fn check_prometheus_scrape(cluster: &Cluster, ns: &str) -> anyhow::Result<()> {
    let bin = build_dir()?.context("prometheus could not be built (Go is needed)")?;
    let target = service_address(cluster, ns).await?;
    let server = PrometheusServer::start(&bin, "gitseal-controller", &[target], &json!({ "namespace": ns }))?;
    let up = format!(r#"up{{job="gitseal-controller",instance="{target}"}}"#);
    server.wait_for(&format!("{up} == 1"), ROLLOUT, |s| {
        Ok(s.query(&up)?.first().is_some_and(|r| r["value"][1] == "1"))
    })?;
    // Each scrape reaches one replica: 1 from the leader, 0 from the standby.
    let leader = format!(r#"gitseal_leader{{namespace="{ns}"}}"#);
    server.wait_for(&format!("{leader} has a sample"), ROLLOUT, |s| {
        Ok(s.query(&leader)?.first().is_some_and(|r| r["value"][1] == "0" || r["value"][1] == "1"))
    })?;
    // The key-age alert's own expression: a key just made is seconds old, far from 30 days.
    let age = format!(r#"time() - max(gitseal_published_key_created_timestamp_seconds{{namespace="{ns}"}} > 0)"#);
    let answer = server.query(&age)?;
    let seconds: f64 = answer.first().and_then(|r| r["value"][1].as_str()).context("no key age")?.parse()?;
    ensure!((0.0..3600.0).contains(&seconds), "the published key is {seconds} s old by Prometheus");
    Ok(())
}

/// `gitseal_leader` in a `/metrics` answer (an error names what answered otherwise).
fn leader_gauge(status: u16, body: &str, from: &str) -> anyhow::Result<String> {
    ensure!(status == 200, "/metrics on {from} answered {status}");
    ensure!(body.contains("gitseal_reconciles_total{result=\"unsealed\"}"), "no gitseal_reconciles_total from {from}");
    let value = body.lines().find_map(|l| l.strip_prefix("gitseal_leader ")).context("no gitseal_leader")?;
    Ok(value.trim().to_owned())
}

/// Probes on each Pod's IP, and `/metrics` through the Service's cluster IP: each replica
/// says whether it leads (exactly one does), and both answers come through the Service.
async fn check_endpoints(cluster: &Cluster, ns: &str, pods: &[Pod]) -> anyhow::Result<()> {
    let mut ips = Vec::new();
    for pod in pods {
        let ip: IpAddr = pod.status.as_ref().and_then(|s| s.pod_ip.as_deref()).context("no Pod IP")?.parse()?;
        for path in ["/healthz", "/readyz"] {
            let (status, _) = http_get_at(ip, 8080, path);
            ensure!(status == 200, "{} {path} on {ip}:8080 answered {status}", name(pod));
        }
        ips.push(ip);
    }
    // A replica that just won the Lease may take a moment to say so.
    eventually("exactly one replica reports gitseal_leader 1", ROLLOUT, || {
        let values: anyhow::Result<Vec<String>> = ips
            .iter()
            .map(|ip| {
                let (status, body) = http_get_at(*ip, 8080, "/metrics");
                leader_gauge(status, &body, &ip.to_string())
            })
            .collect();
        async move {
            let mut values = values?;
            values.sort();
            Ok(values == ["0", "1"])
        }
    })
    .await?;
    let service = service_address(cluster, ns).await?;
    let (ip, port) = (service.ip(), service.port());
    // kube-proxy writes the Service's rules shortly after the endpoints become ready.
    eventually("the Service answers on its cluster IP", ROLLOUT, || async {
        Ok(http_get_at(ip, port, "/readyz").0 == 200)
    })
    .await?;
    // Each connection is balanced afresh, once kube-proxy has both endpoints: the leader's
    // and the standby's answers both come through.
    let mut seen = BTreeSet::new();
    eventually("both replicas answer through the Service", ROLLOUT, || {
        let (status, body) = http_get_at(ip, port, "/metrics");
        let value = leader_gauge(status, &body, &format!("the Service {ip}:{port}"));
        let both = value.map(|v| {
            seen.insert(v);
            seen.len() == 2
        });
        async move { both }
    })
    .await
}

/// The user's flow: fetch the cluster's key, seal a Secret with it, apply it, and see the
/// Secret the controller in its Pod makes.
async fn seal_and_apply(cluster: &Cluster, controller_ns: &str, target_ns: &str, secret: &str) -> anyhow::Result<()> {
    seal_and_apply_with(this_gitseal(), cluster, controller_ns, target_ns, secret).await
}

/// [`seal_and_apply`] with the `gitseal` binary at `bin`.
async fn seal_and_apply_with(
    bin: &Path,
    cluster: &Cluster,
    controller_ns: &str,
    target_ns: &str,
    secret: &str,
) -> anyhow::Result<()> {
    let work = tempfile::tempdir()?;
    let kubeconfig = cluster.kubeconfig_path().to_str().context("kubeconfig path")?;
    gitseal(
        bin,
        work.path(),
        &[
            "fetch-key",
            "--kubeconfig",
            kubeconfig,
            "--controller-namespace",
            controller_ns,
            "-w",
            ".gitseal-recipients",
        ],
    )?;
    let value = format!("{secret}-value-in-a-pod");
    gitseal(
        bin,
        work.path(),
        &["create", secret, "-n", target_ns, "--from-literal", &format!("password={value}"), "-w", "sealed.yaml"],
    )?;
    let sealed = work.path().join("sealed.yaml");
    kubectl(cluster, &["apply", "-f", sealed.to_str().context("path")?])?;
    let secrets = Api::<Secret>::namespaced(cluster.client(), target_ns);
    eventually(&format!("Secret {target_ns}/{secret} is unsealed"), ROLLOUT, || async {
        let found = secrets.get_opt(secret).await?;
        Ok(found.and_then(|s| s.data).and_then(|d| d.get("password").cloned()).is_some_and(|v| v.0 == value.as_bytes()))
    })
    .await
}

/// Deletes the leader's Pod; the other replica takes the Lease and keeps unsealing, and the
/// Deployment is back to two Ready replicas.
async fn check_failover(cluster: &Cluster, ns: &str, leader: &str, target_ns: &str) -> anyhow::Result<Duration> {
    let started = Instant::now();
    Api::<Pod>::namespaced(cluster.client(), ns).delete(leader, &DeleteParams::default()).await?;
    eventually("another replica takes the Lease", ROLLOUT, || async {
        let holder = lease_holder(cluster, ns).await?;
        Ok(holder.is_some_and(|h| h != leader))
    })
    .await?;
    let failover = started.elapsed();
    seal_and_apply(cluster, ns, target_ns, "after-failover").await?;
    let (pods, _) = rolled_out(cluster, ns).await?;
    ensure!(!pods.iter().any(|p| name(p) == leader), "the deleted leader's Pod is still listed");
    Ok(failover)
}

/// Asks the API server to evict `pod` (kubectl's raw POST: kube's client would retry a 429
/// until the budget allows it).
fn evict(cluster: &Cluster, ns: &str, pod: &str) -> anyhow::Result<std::process::Output> {
    let eviction =
        json!({ "apiVersion": "policy/v1", "kind": "Eviction", "metadata": { "name": pod, "namespace": ns } });
    let path = format!("/api/v1/namespaces/{ns}/pods/{pod}/eviction");
    Ok(cluster.kubectl(&["create", "--raw", &path, "-f", "-"], eviction.to_string().as_bytes())?)
}

/// The PodDisruptionBudget: a voluntary eviction may take one replica, not both at once.
async fn check_disruption_budget(cluster: &Cluster, ns: &str) -> anyhow::Result<()> {
    let (pods, _) = rolled_out(cluster, ns).await?;
    eventually("the PodDisruptionBudget allows one disruption", ROLLOUT, || async {
        let pdb = Api::<PodDisruptionBudget>::namespaced(cluster.client(), ns).get("gitseal-controller").await?;
        Ok(pdb.status.is_some_and(|s| s.disruptions_allowed == 1))
    })
    .await?;
    succeeded("evicting the first replica", evict(cluster, ns, &name(&pods[0]))?)?;
    let second = evict(cluster, ns, &name(&pods[1]))?;
    let stderr = String::from_utf8_lossy(&second.stderr);
    ensure!(
        !second.status.success() && stderr.contains("TooManyRequests") && stderr.contains("disruption budget"),
        "evicting the second replica at once was not refused by the budget: {second:?}"
    );
    rolled_out(cluster, ns).await?;
    Ok(())
}

/// 10,000 SealedSecrets unsealed by the controller in its Pod, within its memory limit:
/// no replica restarts (an OOM kill would) and the leader's peak stays under the limit.
async fn check_memory_at_scale(cluster: &Cluster, ns: &str, controller_ns: &str) -> anyhow::Result<(u64, Duration)> {
    let work = tempfile::tempdir()?;
    let kubeconfig = cluster.kubeconfig_path().to_str().context("kubeconfig path")?;
    let keys = work.path().join("keys");
    gitseal(
        this_gitseal(),
        work.path(),
        &["fetch-key", "--kubeconfig", kubeconfig, "--controller-namespace", controller_ns, "-w", "keys"],
    )?;
    let recipients = Recipients::new(Recipients::parse_file(&std::fs::read_to_string(keys)?)?)?;
    let sealed = seal_all(ns, AT_SCALE, &recipients)?;
    let started = Instant::now();
    create_sealed(cluster.client(), sealed, 32).await?;
    let secrets = Api::<Secret>::namespaced(cluster.client(), ns);
    let managed = ListParams::default().labels(MANAGED_SELECTOR);
    let deadline = started + Duration::from_secs(900);
    loop {
        let n = secrets.list_metadata(&managed).await?.items.len();
        if n >= AT_SCALE {
            break;
        }
        ensure!(Instant::now() < deadline, "only {n} of {AT_SCALE} Secrets after {:?}", started.elapsed());
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let elapsed = started.elapsed();
    let pods = live_pods(cluster, controller_ns).await?;
    ensure!(
        pods.iter().all(|p| restarts(p) == 0),
        "a replica restarted at scale: {:?}",
        pods.iter().map(restarts).collect::<Vec<_>>()
    );
    let leader = lease_holder(cluster, controller_ns).await?.context("no leader")?;
    let pod = pods.iter().find(|p| name(p) == leader).context("leader Pod not found")?;
    let container = HostContainer::of(pod, "controller")?;
    let (peak, limit) = (container.memory_peak_bytes()?, spec_memory_limit(pod)?);
    ensure!(peak < limit, "peak memory {peak} reached the limit {limit}");
    Ok((peak, elapsed))
}

fn make_namespace(cluster: &Cluster, ns: &str) -> anyhow::Result<()> {
    kubectl(cluster, &["create", "namespace", ns])?;
    Ok(())
}

/// The README's namespace for the chart: labelled for the restricted Pod Security level.
fn make_restricted_namespace(cluster: &Cluster, ns: &str) -> anyhow::Result<()> {
    make_namespace(cluster, ns)?;
    let level = "restricted";
    let labels: Vec<String> =
        ["enforce", "audit", "warn"].iter().map(|mode| format!("pod-security.kubernetes.io/{mode}={level}")).collect();
    let mut args = vec!["label", "namespace", ns];
    args.extend(labels.iter().map(String::as_str));
    kubectl(cluster, &args)?;
    Ok(())
}

async fn delete_namespace_and_wait(cluster: &Cluster, ns: &str) -> anyhow::Result<()> {
    let namespaces = Api::<Namespace>::all(cluster.client());
    if namespaces.get_opt(ns).await?.is_some() {
        namespaces.delete(ns, &DeleteParams::default()).await?;
    }
    eventually(&format!("namespace {ns} is gone"), Duration::from_secs(300), || async {
        Ok(namespaces.get_opt(ns).await?.is_none())
    })
    .await
}

/// Removes what either install left (a failed run's, or the other test's): deploy/'s
/// objects but its CRDs, which both installs share (the chart skips existing CRDs, and
/// deleting them would delete every SealedSecret), and the chart's release namespace.
async fn remove_installs(cluster: &Cluster) -> anyhow::Result<()> {
    let mut args = vec!["delete", "--ignore-not-found", "--wait"];
    let files: Vec<String> = std::fs::read_dir(workspace_root().join("deploy"))?
        .map(|e| Ok(e?.path()))
        .collect::<std::io::Result<Vec<_>>>()?
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .filter(|p| !std::fs::read_to_string(p).is_ok_and(|t| t.contains("kind: CustomResourceDefinition")))
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    for file in &files {
        args.extend(["-f", file.as_str()]);
    }
    kubectl(cluster, &args)?;
    for ns in ["gitseal-system", "gitseal-helm"] {
        delete_namespace_and_wait(cluster, ns).await?;
    }
    Ok(())
}

#[gitseal_test_support::needs_cluster(node)]
#[tokio::test(flavor = "multi_thread")]
async fn deploy_runs_in_its_pods_on_the_node() -> anyhow::Result<()> {
    let _turn = TURNS.lock().await;
    let cluster = Cluster::connect_node().await?;
    remove_installs(&cluster).await?;
    for ns in ["node-demo", "node-scale"] {
        delete_namespace_and_wait(&cluster, ns).await?; // a failed earlier run's
    }
    // The README's install command.
    let deploy = workspace_root().join("deploy");
    kubectl(&cluster, &["apply", "-R", "-f", deploy.to_str().context("path")?])?;
    let ns = "gitseal-system";
    let (pods, leader) = rolled_out(&cluster, ns).await?;
    ensure!(pods.iter().all(|p| restarts(p) == 0), "a replica restarted during the rollout");
    check_confinement(&pods)?;
    make_namespace(&cluster, "node-demo")?;
    seal_and_apply(&cluster, ns, "node-demo", "db").await?;
    check_endpoints(&cluster, ns, &pods).await?;
    check_prometheus_scrape(&cluster, ns).await?;
    let failover = check_failover(&cluster, ns, &leader, "node-demo").await?;
    eprintln!("failover: another replica held the Lease {failover:?} after the leader's Pod was deleted");
    check_disruption_budget(&cluster, ns).await?;
    make_namespace(&cluster, "node-scale")?;
    let (peak, elapsed) = check_memory_at_scale(&cluster, "node-scale", ns).await?;
    eprintln!(
        "{AT_SCALE} SealedSecrets unsealed in their Pods in {elapsed:?}; leader's peak memory {} MiB",
        peak >> 20
    );

    for ns in ["node-scale", "node-demo"] {
        delete_namespace_and_wait(&cluster, ns).await?;
    }
    remove_installs(&cluster).await
}

#[gitseal_test_support::needs_cluster(node)]
#[tokio::test(flavor = "multi_thread")]
async fn helm_chart_runs_in_its_pods_on_the_node() -> anyhow::Result<()> {
    let Some(helm) = Helm::build()? else {
        bail!("helm could not be built (Go is needed): the chart is not installed on the node");
    };
    let _turn = TURNS.lock().await;
    let cluster = Cluster::connect_node().await?;
    let ns = "gitseal-helm";
    remove_installs(&cluster).await?;
    delete_namespace_and_wait(&cluster, "helm-demo").await?; // a failed earlier run's
    // The README's install: the namespace, labelled restricted, then helm install.
    make_restricted_namespace(&cluster, ns)?;
    let kubeconfig = cluster.kubeconfig_path().to_str().context("kubeconfig path")?.to_owned();
    let chart = chart_dir().to_str().context("chart path")?.to_owned();
    helm.run(&["install", "gitseal", &chart, "--namespace", ns, "--kubeconfig", &kubeconfig])?;

    let (pods, leader) = rolled_out(&cluster, ns).await?;
    check_confinement(&pods)?;
    check_endpoints(&cluster, ns, &pods).await?;
    check_prometheus_scrape(&cluster, ns).await?;
    make_namespace(&cluster, "helm-demo")?;
    seal_and_apply(&cluster, ns, "helm-demo", "db").await?;
    check_failover(&cluster, ns, &leader, "helm-demo").await?;

    helm.run(&["uninstall", "gitseal", "--namespace", ns, "--kubeconfig", &kubeconfig, "--wait"])?;
    // The garbage collector deletes the ReplicaSet's Pods after helm has deleted it.
    eventually("the release's Pods are gone", ROLLOUT, || async { Ok(live_pods(&cluster, ns).await?.is_empty()) })
        .await?;
    delete_namespace_and_wait(&cluster, "helm-demo").await?;
    remove_installs(&cluster).await
}
