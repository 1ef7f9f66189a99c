//! Installing from the release, not from the source tree: what `dev/release/build` puts in
//! dist/ (the image archive, `gitseal.yaml` pinning it by digest, the static `gitseal`) is
//! all this test uses, as a user with the release page would.
//!
//! ```text
//!  dev/release/build ─▶ dist/ ─▶ image archive into the node ─▶ kubectl apply -f gitseal.yaml
//!  ─▶ two Pods of exactly that digest ─▶ dist's gitseal: fetch-key, create ─▶ apply ─▶ Secret
//! ```

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context as _, ensure};
use gitseal_test_support::{Cluster, succeeded, workspace_root};
use k8s_openapi::api::core::v1::Pod;

use super::{
    TURNS, delete_namespace_and_wait, kubectl, make_namespace, remove_installs, rolled_out, seal_and_apply_with,
};

/// The release of this checkout: `$GITSEAL_DIST` when tests/run built it already, else
/// built here (`dev/release/build`'s last line is the directory).
fn release_dir() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("GITSEAL_DIST").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    let output = Command::new(workspace_root().join("dev/release/build")).output()?;
    let output = succeeded("dev/release/build", output)?;
    let stdout = String::from_utf8(output.stdout)?;
    Ok(PathBuf::from(stdout.lines().last().context("dev/release/build printed nothing")?))
}

/// The image the manifest's Deployment runs: `repository:tag@sha256:…`.
fn pinned_image(manifest: &str) -> anyhow::Result<String> {
    let image = manifest
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("image: "))
        .context("no image: in gitseal.yaml")?
        .trim()
        .to_owned();
    ensure!(image.contains("@sha256:"), "gitseal.yaml's image {image} is not pinned by digest");
    Ok(image)
}

/// The digest each container of `pods` runs, as the kubelet reports it.
fn running_digests(pods: &[Pod]) -> Vec<String> {
    let statuses = pods.iter().flat_map(|p| p.status.iter().flat_map(|s| s.container_statuses.iter().flatten()));
    statuses.map(|c| c.image_id.rsplit_once('@').map_or(String::new(), |(_, d)| d.to_owned())).collect()
}

#[gitseal_test_support::needs_cluster(node)]
#[tokio::test(flavor = "multi_thread")]
async fn the_release_installs_from_dist_alone() -> anyhow::Result<()> {
    let dist = release_dir()?;
    let _turn = TURNS.lock().await;
    let cluster = Cluster::connect_node().await?;
    remove_installs(&cluster).await?;
    delete_namespace_and_wait(&cluster, "release-demo").await?; // a failed earlier run's

    let version = env!("CARGO_PKG_VERSION");
    cluster.import_node_image(&dist.join(format!("gitseal-controller-{version}.oci.tar")))?;
    let manifest = dist.join("gitseal.yaml");
    let image = pinned_image(&std::fs::read_to_string(&manifest)?)?;
    kubectl(&cluster, &["apply", "--server-side", "--force-conflicts", "-f", manifest.to_str().context("path")?])?;
    let ns = "gitseal-system";
    let (pods, _leader) = rolled_out(&cluster, ns).await?;
    let digest = image.rsplit_once('@').map(|(_, d)| d.to_owned()).unwrap_or_default();
    let running = running_digests(&pods);
    ensure!(running.iter().all(|d| *d == digest), "Pods run {running:?}, gitseal.yaml pins {digest}");

    let cli = dist.join(format!("gitseal-{version}-linux-amd64"));
    let said = super::gitseal(&cli, &dist, &["version"])?;
    ensure!(said.starts_with(version), "dist's gitseal says {said}");
    make_namespace(&cluster, "release-demo")?;
    seal_and_apply_with(&cli, &cluster, ns, "release-demo", "db").await?;

    delete_namespace_and_wait(&cluster, "release-demo").await?;
    remove_installs(&cluster).await
}
