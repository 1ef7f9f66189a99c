//! Upgrades from the previous release (CHANGELOG.md's newest, built from the repository's
//! history by `dev/release/previous`) to this checkout, as users run them on the node:
//! `kubectl apply` of deploy/ and back again, and the chart's documented `helm upgrade`
//! (its CRDs applied first), each over 1,000 SealedSecrets the previous controller unsealed.
//!
//! ```text
//!  dev/release/previous ─▶ its image into the node ─▶ its deploy/ or chart ─▶ 1,000 v1alpha1
//!  SealedSecrets, all Ready ─▶ snapshot + watch ─▶ upgrade ─▶ new Pods, new leader, a full
//!  pass ─▶ nothing lost Ready, no Secret written, keys and published keys unchanged,
//!  the old objects served as gitseal.dev/v1
//! ```
//!
//! They take the node tier's turns: two controllers on one cluster would both reconcile.
//! Each starts without gitseal's CRDs (this checkout's may store a version the previous
//! release's cannot take back) and removes them, its install and its namespace at the end.

mod observe;
mod previous;

use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use gitseal::{Recipients, SealedSecret};
use gitseal_test_support::helm::{Helm, chart_dir};
use gitseal_test_support::{Cluster, seal_all, workspace_root};
use k8s_openapi::api::coordination::v1::Lease;
use observe::{ReadyWatch, Snapshot, all_unsealed, create_v1alpha1, served_as_v1, settled};
use previous::{Previous, current_image};

use super::{
    ROLLOUT, TURNS, delete_namespace_and_wait, kubectl, live_pods, make_namespace, make_restricted_namespace, ready,
    remove_installs, seal_and_apply,
};

/// SealedSecrets in the namespace each upgrade runs over.
const N: usize = 1_000;
const WORKLOAD_NS: &str = "node-upgrade";
const CRDS: [&str; 3] = ["sealedsecrets.gitseal.dev", "keyrotations.gitseal.dev", "resealrequests.gitseal.dev"];
/// The namespace the chart is installed in (the other node tests use it too).
const HELM_NS: &str = "gitseal-helm";

/// No controller, no workload, no gitseal CRD.
async fn clean(cluster: &Cluster) -> anyhow::Result<()> {
    remove_installs(cluster).await?;
    delete_namespace_and_wait(cluster, WORKLOAD_NS).await?;
    let mut args = vec!["delete", "crd", "--ignore-not-found", "--wait"];
    args.extend(CRDS);
    kubectl(cluster, &args)?;
    Ok(())
}

/// `n` SealedSecrets sealed to the key the previous `gitseal fetch-key` reads, created as
/// `gitseal.dev/v1alpha1` and unsealed by the previous controller; returns one more,
/// sealed the same way but not created.
async fn fill(cluster: &Cluster, previous: &Previous, controller_ns: &str, n: usize) -> anyhow::Result<SealedSecret> {
    make_namespace(cluster, WORKLOAD_NS)?;
    let work = tempfile::tempdir()?;
    let kubeconfig = cluster.kubeconfig_path().to_str().context("kubeconfig path")?;
    let args = ["fetch-key", "--kubeconfig", kubeconfig, "--controller-namespace", controller_ns, "-w", "keys"];
    previous.gitseal(work.path(), &args)?;
    let recipients = Recipients::new(Recipients::parse_file(&std::fs::read_to_string(work.path().join("keys"))?)?)?;
    let mut sealed = seal_all(WORKLOAD_NS, n + 1, &recipients)?;
    let extra = sealed.pop().context("nothing sealed")?;
    create_v1alpha1(cluster, WORKLOAD_NS, sealed).await?;
    all_unsealed(cluster, WORKLOAD_NS, n).await?;
    Ok(extra)
}

/// Runs `change` (an upgrade or a downgrade) and waits until the controller runs `image`
/// and its leader has been over all `objects`; fails when a SealedSecret was seen not
/// Ready meanwhile, or a Secret, a key or the published keys moved. Returns what `change`
/// returned.
async fn watched<T>(
    cluster: &Cluster,
    controller_ns: &str,
    image: &str,
    objects: usize,
    change: impl Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    let before = Snapshot::take(cluster, WORKLOAD_NS, controller_ns).await?;
    let watch = ReadyWatch::start(cluster, WORKLOAD_NS);
    let out = change.await?;
    let leader = settled(cluster, controller_ns, image, objects).await?;
    let after = Snapshot::take(cluster, WORKLOAD_NS, controller_ns).await?;
    let lost = watch.stop().await?;
    ensure!(lost.is_empty(), "{} SealedSecrets left Ready=True (to {image}): {lost:?}", lost.len());
    let changed = before.changed(&after);
    ensure!(changed.is_empty(), "{} of {} objects moved (to {image}): {changed:?}", changed.len(), before.len());
    eprintln!("to {image}: {leader} leads, {} objects unchanged, none left Ready", before.len());
    Ok(out)
}

#[gitseal_test_support::needs_cluster(node)]
#[tokio::test(flavor = "multi_thread")]
async fn kubectl_apply_upgrades_the_previous_release_and_back() -> anyhow::Result<()> {
    let _turn = TURNS.lock().await;
    let started = Instant::now();
    let cluster = Cluster::connect_node().await?;
    let previous = Previous::build_and_import(&cluster)?;
    clean(&cluster).await?;
    let ns = "gitseal-system";
    let previous_deploy = tempfile::tempdir()?;
    previous.deploy_into(previous_deploy.path())?;
    let previous_deploy = previous_deploy.path().to_str().context("path")?.to_owned();
    kubectl(&cluster, &["apply", "-R", "-f", &previous_deploy])?;
    settled(&cluster, ns, &previous.image, 0).await?;
    let extra = fill(&cluster, &previous, ns, N).await?;

    // The upgrade: the current manifests over the previous ones.
    let manifests = workspace_root().join("deploy");
    let manifests = manifests.to_str().context("path")?;
    watched(&cluster, ns, &current_image()?, N, async { kubectl(&cluster, &["apply", "-R", "-f", manifests]) }).await?;
    let upgraded_v1 = served_as_v1(&cluster, WORKLOAD_NS, N).await;
    seal_and_apply(&cluster, ns, WORKLOAD_NS, "after-upgrade").await?;

    // The downgrade: the previous manifests again. The API server refuses a CRD whose
    // versions leave out one it has stored objects in; kubectl applies the rest.
    let downgrade = watched(&cluster, ns, &previous.image, N + 1, async {
        Ok(cluster.kubectl(&["apply", "-R", "-f", &previous_deploy], b"")?)
    })
    .await?;
    create_v1alpha1(&cluster, WORKLOAD_NS, vec![extra]).await?;
    all_unsealed(&cluster, WORKLOAD_NS, N + 2).await?;
    let downgraded_v1 = served_as_v1(&cluster, WORKLOAD_NS, N + 2).await;

    delete_namespace_and_wait(&cluster, WORKLOAD_NS).await?;
    clean(&cluster).await?;
    eprintln!("kubectl upgrade and downgrade over {N} SealedSecrets: {:?}", started.elapsed());
    upgraded_v1.context("after the upgrade")?;
    downgraded_v1.context("after the downgrade")?;
    let stderr = String::from_utf8_lossy(&downgrade.stderr);
    ensure!(!downgrade.status.success(), "the previous CRDs were taken back: {stderr}");
    for crd in CRDS {
        ensure!(
            stderr.contains(&format!("\"{crd}\" is invalid")) && stderr.contains("storedVersions"),
            "the downgrade's kubectl apply did not refuse {crd} for its stored versions: {stderr}"
        );
    }
    Ok(())
}

/// A clean node, the previous chart installed and settled, and `n` SealedSecrets its
/// controller unsealed: where both helm tests start. Returns its leader.
async fn previous_chart_over(helm: &Helm, cluster: &Cluster, n: usize) -> anyhow::Result<String> {
    let previous = Previous::build_and_import(cluster)?;
    clean(cluster).await?;
    helm_install_previous(helm, cluster, &previous)?;
    let leader = settled(cluster, HELM_NS, &previous.image, 0).await?;
    fill(cluster, &previous, HELM_NS, n).await?;
    Ok(leader)
}

/// The README's restricted namespace, and the previous chart installed in it on its image.
fn helm_install_previous(helm: &Helm, cluster: &Cluster, previous: &Previous) -> anyhow::Result<()> {
    make_restricted_namespace(cluster, HELM_NS)?;
    let kubeconfig = cluster.kubeconfig_path().to_str().context("kubeconfig path")?;
    let chart = previous.chart();
    let chart = chart.to_str().context("chart path")?;
    let tag = previous.chart_image_tag();
    helm.run(&["install", "gitseal", chart, "--namespace", HELM_NS, "--kubeconfig", kubeconfig, "--set", &tag])?;
    Ok(())
}

/// charts/gitseal/README.md's `helm upgrade` with this checkout's chart. The test's one
/// addition, the image tag, undoes the previous install's (this checkout's image and the
/// previous release's may carry the same version).
fn helm_upgrade(helm: &Helm, cluster: &Cluster) -> anyhow::Result<()> {
    let kubeconfig = cluster.kubeconfig_path().to_str().context("kubeconfig path")?;
    let chart = chart_dir();
    let chart = chart.to_str().context("chart path")?;
    let image = current_image()?;
    let tag = format!("image.tag={}", image.rsplit_once(':').context("image without a tag")?.1);
    let args = ["upgrade", "gitseal", chart, "--namespace", HELM_NS, "--reuse-values", "--set", &tag];
    helm.run(&[&args[..], &["--kubeconfig", kubeconfig]].concat())?;
    Ok(())
}

async fn helm_uninstall(helm: &Helm, cluster: &Cluster) -> anyhow::Result<()> {
    let kubeconfig = cluster.kubeconfig_path().to_str().context("kubeconfig path")?;
    helm.run(&["uninstall", "gitseal", "--namespace", HELM_NS, "--kubeconfig", kubeconfig, "--wait"])?;
    eventually_gone(cluster).await?;
    delete_namespace_and_wait(cluster, WORKLOAD_NS).await?;
    clean(cluster).await
}

async fn eventually_gone(cluster: &Cluster) -> anyhow::Result<()> {
    gitseal_test_support::eventually("the release's Pods are gone", ROLLOUT, || async {
        Ok(live_pods(cluster, HELM_NS).await?.is_empty())
    })
    .await
}

#[gitseal_test_support::needs_cluster(node)]
#[tokio::test(flavor = "multi_thread")]
async fn helm_upgrade_after_the_crds_upgrades_the_previous_chart() -> anyhow::Result<()> {
    let Some(helm) = Helm::build()? else {
        bail!("helm could not be built (Go is needed): the chart's upgrade is not tested");
    };
    let _turn = TURNS.lock().await;
    let started = Instant::now();
    let cluster = Cluster::connect_node().await?;
    previous_chart_over(&helm, &cluster, N).await?;

    // charts/gitseal/README.md, "Upgrading": the CRDs first (helm never upgrades them),
    // then helm upgrade.
    let crds = chart_dir().join("crds");
    let crds = crds.to_str().context("path")?;
    watched(&cluster, HELM_NS, &current_image()?, N, async {
        kubectl(&cluster, &["apply", "--server-side", "--force-conflicts", "-f", crds])?;
        helm_upgrade(&helm, &cluster)
    })
    .await?;
    let v1 = served_as_v1(&cluster, WORKLOAD_NS, N).await;
    seal_and_apply(&cluster, HELM_NS, WORKLOAD_NS, "after-upgrade").await?;

    helm_uninstall(&helm, &cluster).await?;
    eprintln!("helm upgrade over {N} SealedSecrets: {:?}", started.elapsed());
    v1.context("after the upgrade")
}

/// How long a new Pod is given to become Ready against CRDs without v1 (the readiness
/// probe runs every 5 s).
const REFUSAL_WINDOW: Duration = Duration::from_secs(30);
/// Objects for the refusal: nothing is reconciled by the new controller, so no scale.
const FEW: usize = 50;

#[gitseal_test_support::needs_cluster(node)]
#[tokio::test(flavor = "multi_thread")]
async fn helm_upgrade_without_the_crds_leaves_the_previous_controller_serving() -> anyhow::Result<()> {
    let Some(helm) = Helm::build()? else {
        bail!("helm could not be built (Go is needed): the chart's upgrade is not tested");
    };
    let _turn = TURNS.lock().await;
    let started = Instant::now();
    let cluster = Cluster::connect_node().await?;
    let leader = previous_chart_over(&helm, &cluster, FEW).await?;

    let before = Snapshot::take(&cluster, WORKLOAD_NS, HELM_NS).await?;
    let watch = ReadyWatch::start(&cluster, WORKLOAD_NS);
    helm_upgrade(&helm, &cluster)?;
    let image = current_image()?;
    let until = Instant::now() + REFUSAL_WINDOW;
    let leases = kube::Api::<Lease>::namespaced(cluster.client(), HELM_NS);
    let mut new_pods = 0;
    while Instant::now() < until {
        let pods = live_pods(&cluster, HELM_NS).await?;
        let (new, old): (Vec<_>, Vec<_>) = pods.iter().partition(|p| {
            p.spec.as_ref().and_then(|s| s.containers.first()).and_then(|c| c.image.as_deref()) == Some(image.as_str())
        });
        new_pods = new_pods.max(new.len());
        ensure!(!new.iter().any(|p| ready(p)), "a Pod of {image} became Ready while the CRDs lack its version");
        ensure!(old.len() == 2 && old.iter().all(|p| ready(p)), "the previous controller's 2 Pods are not both Ready");
        let holder = leases.get("gitseal-controller").await?.spec.and_then(|s| s.holder_identity);
        ensure!(holder.as_deref() == Some(leader.as_str()), "the Lease moved from {leader} to {holder:?}");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    ensure!(new_pods > 0, "helm upgrade started no Pod of {image}");
    let lost = watch.stop().await?;
    ensure!(lost.is_empty(), "SealedSecrets left Ready=True: {lost:?}");
    let changed = before.changed(&Snapshot::take(&cluster, WORKLOAD_NS, HELM_NS).await?);
    ensure!(changed.is_empty(), "objects moved: {changed:?}");

    helm_uninstall(&helm, &cluster).await?;
    eprintln!("helm upgrade without the CRDs over {FEW} SealedSecrets: {:?}", started.elapsed());
    Ok(())
}
