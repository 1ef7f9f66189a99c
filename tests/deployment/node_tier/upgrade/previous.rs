//! The previous release, as `dev/release/previous` builds it from the repository's history
//! (its last line: the directory holding its binaries, image, deploy/ and chart), and how a
//! user installs it.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, ensure};
use gitseal_test_support::{Cluster, succeeded, workspace_root};

/// Repository of the controller's image in deploy/ and the chart, before the tag.
const IMAGE_REPOSITORY: &str = "ghcr.io/gitseal/gitseal-controller";

pub(super) struct Previous {
    dir: PathBuf,
    /// The image's name as built there (`<repository>:<version>-<commit>`, so that it never
    /// shares a name with this checkout's image).
    pub(super) image: String,
}

impl Previous {
    /// Builds the previous release unless it is cached, and imports its image into the
    /// node's containerd.
    pub(super) fn build_and_import(cluster: &Cluster) -> anyhow::Result<Previous> {
        let output = Command::new(workspace_root().join("dev/release/previous")).output()?;
        let output = succeeded("dev/release/previous", output)?;
        let stdout = String::from_utf8(output.stdout)?;
        let dir = PathBuf::from(stdout.lines().last().context("dev/release/previous printed nothing")?);
        let image = std::fs::read_to_string(dir.join("image/name"))?.trim().to_owned();
        ensure!(image.starts_with(&format!("{IMAGE_REPOSITORY}:")), "unexpected image name {image}");
        cluster.import_node_image(&dir.join("image/gitseal-controller.oci.tar"))?;
        Ok(Previous { dir, image })
    }

    /// `<previous>/bin/gitseal args…` in `dir`.
    pub(super) fn gitseal(&self, dir: &Path, args: &[&str]) -> anyhow::Result<String> {
        super::super::gitseal(&self.dir.join("bin/gitseal"), dir, args)
    }

    /// Its chart.
    pub(super) fn chart(&self) -> PathBuf {
        self.dir.join("charts/gitseal")
    }

    /// The chart's `--set` naming this build's image tag.
    pub(super) fn chart_image_tag(&self) -> String {
        let tag = self.image.rsplit_once(':').map_or("", |(_, tag)| tag);
        format!("image.tag={tag}")
    }

    /// Its deploy/ manifests (the YAML files, as `kubectl apply -R -f deploy/` takes them)
    /// copied into `into`, the controller's `image:` naming this build's image.
    pub(super) fn deploy_into(&self, into: &Path) -> anyhow::Result<()> {
        let mut replaced = 0;
        for entry in std::fs::read_dir(self.dir.join("deploy"))? {
            let path = entry?.path();
            if !path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                continue;
            }
            let text = std::fs::read_to_string(&path)?;
            let lines: Vec<String> = text
                .lines()
                .map(|line| match line.trim_start().strip_prefix("image: ") {
                    Some(image) if image.starts_with(&format!("{IMAGE_REPOSITORY}:")) => {
                        replaced += 1;
                        format!("{}image: {}", &line[..line.len() - line.trim_start().len()], self.image)
                    }
                    _ => line.to_owned(),
                })
                .collect();
            std::fs::write(into.join(path.file_name().context("file name")?), lines.join("\n") + "\n")?;
        }
        ensure!(replaced == 1, "{replaced} controller images in the previous deploy/, expected 1");
        Ok(())
    }
}

/// This checkout's controller image, as its deploy/ names it (and its chart, by default).
pub(super) fn current_image() -> anyhow::Result<String> {
    let deployment = std::fs::read_to_string(workspace_root().join("deploy/40-deployment.yaml"))?;
    deployment
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("image: "))
        .map(|image| image.trim().to_owned())
        .context("no image: in deploy/40-deployment.yaml")
}
