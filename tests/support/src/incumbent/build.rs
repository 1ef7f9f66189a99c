//! Where the incumbent's binaries and its Go module are: built by dev/tools/incumbent/build,
//! found through Go's module cache.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{Error, workspace_root};

/// The incumbent's Go module, as the module proxy serves it.
const MODULE: &str = "github.com/bitnami-labs/sealed-secrets";

/// The directory holding the incumbent's `controller` and `kubeseal` (bitnami
/// sealed-secrets, version pinned in `dev/tools/incumbent/build`), built and cached on first
/// use; about 1½ minutes cold, instant afterwards.
///
/// `None` only on a machine without Go outside CI: callers skip what needs the incumbent
/// and say so.
///
/// # Panics
/// When the build fails (or cannot start) while `$CI` is set or Go is installed, with the
/// build's stderr.
pub fn incumbent_bin() -> Option<PathBuf> {
    let script = workspace_root().join("dev/tools/incumbent/build");
    let must_build = || std::env::var_os("CI").is_some() || go_installed();
    match Command::new(&script).output() {
        Ok(out) if out.status.success() => {
            let stdout = String::from_utf8_lossy(&out.stdout);
            Some(PathBuf::from(stdout.lines().last().unwrap_or_default()))
        }
        Ok(out) if must_build() => {
            panic!("{} failed ({}):\n{}", script.display(), out.status, String::from_utf8_lossy(&out.stderr))
        }
        Err(e) if must_build() => panic!("cannot run {}: {e}", script.display()),
        _ => None,
    }
}

fn go_installed() -> bool {
    Command::new("go").arg("version").output().is_ok_and(|o| o.status.success())
}

/// The source directory of the module the binaries in `bin` were built from (its CRD is
/// under `helm/sealed-secrets/crds/`). The version is the one the controller reports, so
/// the CRD always matches the binary.
///
/// # Errors
/// [`Error::RunCommand`], or [`Error::LocateIncumbentModule`] when the version or the
/// module cannot be found.
pub(super) fn module_dir(bin: &Path) -> Result<PathBuf, Error> {
    let located = |reason: String| Error::LocateIncumbentModule { module: MODULE.into(), reason };
    let controller = bin.join("controller");
    let out = Command::new(&controller)
        .arg("--version")
        .output()
        .map_err(|source| Error::RunCommand { program: controller.clone(), source })?;
    // "controller version: v0.40.0"
    let stdout = String::from_utf8_lossy(&out.stdout);
    let version = stdout
        .trim()
        .rsplit_once(' ')
        .map(|(_, v)| v)
        .filter(|v| v.starts_with('v'))
        .ok_or_else(|| located(format!("`controller --version` printed {:?}", stdout.trim())))?;

    // From the temporary directory, so that no go.mod around the working directory (the
    // tests run in the workspace) turns the download into an edit of that module.
    let out = Command::new("go")
        .args(["mod", "download", "-json", &format!("{MODULE}@{version}")])
        .current_dir(std::env::temp_dir())
        .output()
        .map_err(|source| Error::RunCommand { program: "go".into(), source })?;
    let info: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| located(format!("{e}; stderr: {}", String::from_utf8_lossy(&out.stderr).trim())))?;
    match info.get("Dir").and_then(|d| d.as_str()) {
        Some(dir) if out.status.success() && Path::new(dir).join("go.mod").is_file() => Ok(dir.into()),
        _ => Err(located(format!("{}: {info}", out.status))),
    }
}
