//! The node tier: a control plane with a node (`GITSEAL_CLUSTER_NAME=node dev/cluster/up
//! --node`), where gitseal-controller runs in its own Pods from the image of this checkout,
//! and what a test reads of those Pods from the host: their containers' processes and
//! cgroups, to check that the security context and the memory limit really hold.
//!
//! It is a second control plane, beside the one the other tests share: there a controller
//! in a Pod would reconcile every other test's SealedSecrets with its own keys.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, bail};
use k8s_openapi::api::core::v1::Pod;

use crate::{Cluster, Error, workspace_root};

/// Environment variable naming the node cluster's admin kubeconfig (tests/run sets it).
pub const NODE_KUBECONFIG_ENV: &str = "GITSEAL_NODE_KUBECONFIG";

/// Where `GITSEAL_CLUSTER_NAME=node dev/cluster/up --node` writes its kubeconfig.
pub fn node_kubeconfig_path() -> PathBuf {
    workspace_root().join("dev/cluster/.state-node/kubeconfig")
}

impl Cluster {
    /// Connects to the node cluster named by `$GITSEAL_NODE_KUBECONFIG`, or else by
    /// [`node_kubeconfig_path`].
    ///
    /// # Errors
    /// [`Error::ClusterUnavailable`] when it is not up; start it with
    /// `GITSEAL_CLUSTER_NAME=node dev/cluster/up --node` (root).
    pub async fn connect_node() -> Result<Self, Error> {
        let path = match std::env::var_os(NODE_KUBECONFIG_ENV) {
            Some(path) if !path.is_empty() => PathBuf::from(path),
            _ => node_kubeconfig_path(),
        };
        Self::connect_to(&path).await.map_err(|e| match e {
            Error::ClusterUnavailable { kubeconfig, reason } => Error::ClusterUnavailable {
                kubeconfig,
                reason: format!(
                    "{reason} (the node cluster: GITSEAL_CLUSTER_NAME=node dev/cluster/up --node, as root)"
                ),
            },
            other => other,
        })
    }

    /// Imports an OCI image archive (`dev/image/build`'s) into the node's containerd, where
    /// the kubelet finds it by the name it carries, as `up --node` imports this checkout's
    /// (dev/cluster/node.sh, `node_import`), and by `repository@digest` as a pull from a
    /// registry would record it: `ctr import` names the tag only, and a reference pinned by
    /// digest (the release's `gitseal.yaml`) would otherwise be pulled. The node's state dir
    /// is the kubeconfig's.
    ///
    /// # Errors
    /// When `ctr` cannot run or refuses the archive, or the archive's index.json names no
    /// image; `ctr`'s stderr is in the message.
    pub fn import_node_image(&self, archive: &Path) -> anyhow::Result<()> {
        let index = Command::new("tar").arg("-xOf").arg(archive).arg("index.json").output()?;
        let index: serde_json::Value = serde_json::from_slice(
            &crate::succeeded(&format!("tar -xOf {} index.json", archive.display()), index)?.stdout,
        )?;
        let manifest = &index["manifests"][0];
        let name = manifest["annotations"]["io.containerd.image.name"].as_str().context("index.json names no image")?;
        let digest = manifest["digest"].as_str().context("index.json has no manifest digest")?;
        let repository = name.rsplit_once(':').map_or(name, |(repository, _tag)| repository);
        self.ctr(&["images", "import", &archive.to_string_lossy()])?;
        self.ctr(&["images", "tag", "--force", name, &format!("{repository}@{digest}")])
    }

    /// `ctr ARGS` in the node's containerd, namespace k8s.io (the kubelet's).
    fn ctr(&self, args: &[&str]) -> anyhow::Result<()> {
        let state = self.kubeconfig_path().parent().context("kubeconfig without a directory")?;
        let socket = state.join("node/containerd/containerd.sock");
        let output = Command::new("ctr")
            .arg("--address")
            .arg(&socket)
            .args(["--namespace", "k8s.io"])
            .args(args)
            .output()
            .context("running ctr (Debian package containerd, installed by up --node)")?;
        crate::succeeded(&format!("ctr {}", args.join(" ")), output)?;
        Ok(())
    }
}

/// The node's cgroup root in the memory hierarchy (cgroup v1, the kubelet's `cgroupRoot`).
const MEMORY_CGROUPS: &str = "/sys/fs/cgroup/memory/gitseal-node";

/// One running container of a Pod on the node, seen from the host.
#[derive(Debug)]
pub struct HostContainer {
    /// The container's main process, in the host's PID namespace.
    pub pid: u32,
    /// Its cgroup directory in the memory hierarchy.
    cgroup: PathBuf,
}

impl HostContainer {
    /// The running container `name` of `pod`, found by the container ID the kubelet
    /// reports, which names the container's cgroup.
    ///
    /// # Errors
    /// When the Pod reports no running container of that name, or the host has no cgroup
    /// or process for it.
    pub fn of(pod: &Pod, name: &str) -> anyhow::Result<HostContainer> {
        let pod_name = pod.metadata.name.as_deref().unwrap_or("?");
        let status = pod
            .status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .and_then(|all| all.iter().find(|c| c.name == name))
            .with_context(|| format!("Pod {pod_name} reports no container {name}"))?;
        let id = status.container_id.as_deref().and_then(|id| id.strip_prefix("containerd://")).with_context(|| {
            format!("container {name} of {pod_name} has no containerd ID: {:?}", status.container_id)
        })?;
        let cgroup = find_dir(Path::new(MEMORY_CGROUPS), id, 6)?
            .with_context(|| format!("no cgroup {id} under {MEMORY_CGROUPS} (container {name} of {pod_name})"))?;
        let procs = std::fs::read_to_string(cgroup.join("cgroup.procs"))?;
        let pid = procs
            .lines()
            .filter_map(|l| l.trim().parse::<u32>().ok())
            .min()
            .with_context(|| format!("cgroup {} holds no process", cgroup.display()))?;
        Ok(HostContainer { pid, cgroup })
    }

    /// A field of `/proc/<pid>/status`, such as `Uid:` or `CapEff:`, without its name.
    ///
    /// # Errors
    /// When the process is gone or has no such field.
    pub fn status_field(&self, field: &str) -> anyhow::Result<String> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid))?;
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
            .with_context(|| format!("no {field} in /proc/{}/status", self.pid))
    }

    /// The mount options of the container's root filesystem, as its process sees it.
    ///
    /// # Errors
    /// When the process is gone or has no `/` mount.
    pub fn root_mount_options(&self) -> anyhow::Result<Vec<String>> {
        let mountinfo = std::fs::read_to_string(format!("/proc/{}/mountinfo", self.pid))?;
        // Fields: id parent major:minor root mount-point options ...; the last `/` wins
        // (a later mount over the same point hides the earlier one).
        let options = mountinfo
            .lines()
            .filter_map(|l| {
                let fields: Vec<&str> = l.split_whitespace().collect();
                (fields.get(4) == Some(&"/")).then(|| fields.get(5).copied()).flatten()
            })
            .next_back()
            .context("no / mount")?;
        Ok(options.split(',').map(str::to_owned).collect())
    }

    /// The most memory the container's cgroup has used since it started, in bytes.
    ///
    /// # Errors
    /// When the cgroup is gone.
    pub fn memory_peak_bytes(&self) -> anyhow::Result<u64> {
        self.cgroup_number("memory.max_usage_in_bytes")
    }

    /// The container's memory limit in bytes, as the kernel enforces it.
    ///
    /// # Errors
    /// When the cgroup is gone.
    pub fn memory_limit_bytes(&self) -> anyhow::Result<u64> {
        self.cgroup_number("memory.limit_in_bytes")
    }

    fn cgroup_number(&self, file: &str) -> anyhow::Result<u64> {
        let path = self.cgroup.join(file);
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        Ok(text.trim().parse()?)
    }
}

/// The directory named `name` under `root`, at most `depth` levels down.
fn find_dir(root: &Path, name: &str, depth: usize) -> anyhow::Result<Option<PathBuf>> {
    if depth == 0 {
        return Ok(None);
    }
    let entries = match std::fs::read_dir(root) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            bail!("{} does not exist: is the node up?", root.display())
        }
        Err(e) => return Err(e.into()),
    };
    for entry in entries {
        let entry = entry?;
        if !entry.file_type()?.is_dir() {
            continue;
        }
        if entry.file_name() == name {
            return Ok(Some(entry.path()));
        }
        if let Some(found) = find_dir(&entry.path(), name, depth - 1)? {
            return Ok(Some(found));
        }
    }
    Ok(None)
}
