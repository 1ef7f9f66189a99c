//! The real helm, for the chart's tests: built (and cached) from its Go module by
//! `dev/tools/helm/build` on first use, run against `charts/gitseal`.
//!
//! ```text
//!  dev/tools/helm/build ──▶ ~/.cache/gitseal/helm-<version>/bin/helm
//!                                   │   HELM_*_HOME in a temporary directory, so no
//!                                   ▼   user's helm config, repos or plugins take part
//!  Helm::build() ── run(["lint", …])               → stdout
//!                ── template(release, ns, ["--set", …]) → one JSON value per object
//! ```

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{Error, workspace_root};

/// helm, and a private home for its config, cache and data.
pub struct Helm {
    bin: PathBuf,
    home: tempfile::TempDir,
}

impl Helm {
    /// Builds helm unless it is cached, with `dev/tools/helm/build`.
    ///
    /// `Ok(None)` only when Go is missing and `$CI` is unset: the caller skips with a note.
    ///
    /// # Errors
    /// [`Error::BuildTool`] when the build fails on a machine with Go, or anywhere in CI;
    /// [`Error::HelmHome`] when no temporary home can be made.
    pub fn build() -> Result<Option<Helm>, Error> {
        let Some(bin) = build_go_tool("dev/tools/helm/build", "helm")? else {
            return Ok(None);
        };
        let bin = bin.join("helm");
        let home = tempfile::Builder::new().prefix("gitseal-helm-home").tempdir().map_err(Error::HelmHome)?;
        Ok(Some(Helm { bin, home }))
    }

    /// `helm` with its homes set to this instance's private directory.
    pub fn command(&self) -> Command {
        let mut command = Command::new(&self.bin);
        for (var, dir) in [("HELM_CONFIG_HOME", "config"), ("HELM_CACHE_HOME", "cache"), ("HELM_DATA_HOME", "data")] {
            command.env(var, self.home.path().join(dir));
        }
        command
    }

    /// Runs `helm args…` and returns its stdout.
    ///
    /// # Errors
    /// [`Error::RunHelm`] when helm cannot start or exits non-zero; the message carries
    /// its stderr.
    pub fn run<S: AsRef<OsStr>>(&self, args: &[S]) -> Result<String, Error> {
        let shown = || args.iter().map(|a| a.as_ref().to_string_lossy()).collect::<Vec<_>>().join(" ");
        let out =
            self.command().args(args).output().map_err(|e| Error::RunHelm { args: shown(), stderr: e.to_string() })?;
        if !out.status.success() {
            return Err(Error::RunHelm { args: shown(), stderr: String::from_utf8_lossy(&out.stderr).into_owned() });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// `helm template <release> charts/gitseal --namespace <namespace> args…`, parsed: one
    /// JSON value per object, in helm's order.
    ///
    /// # Errors
    /// As [`Helm::run`], and [`Error::ParseManifests`].
    pub fn template(&self, release: &str, namespace: &str, args: &[&str]) -> Result<Vec<serde_json::Value>, Error> {
        let chart = chart_dir();
        let mut all: Vec<&OsStr> = vec!["template".as_ref(), release.as_ref(), chart.as_os_str()];
        all.extend(["--namespace", namespace].map(OsStr::new));
        all.extend(args.iter().map(OsStr::new));
        parse_manifests(&self.run(&all)?, "helm template")
    }
}

/// The chart: `charts/gitseal` in the workspace.
pub fn chart_dir() -> PathBuf {
    workspace_root().join("charts/gitseal")
}

/// The objects of a multi-document YAML stream (empty documents skipped), as JSON values.
///
/// # Errors
/// [`Error::ParseManifests`], naming `origin`.
pub fn parse_manifests(yaml: &str, origin: &str) -> Result<Vec<serde_json::Value>, Error> {
    let documents: Vec<Option<serde_json::Value>> = serde_saphyr::from_multiple(yaml)
        .map_err(|source| Error::ParseManifests { origin: origin.into(), source: Box::new(source) })?;
    Ok(documents.into_iter().flatten().filter(|d| !d.is_null()).collect())
}

/// The objects in the YAML files of `dir` (not recursive), files in name order.
///
/// # Errors
/// [`Error::ReadManifests`] and [`Error::ParseManifests`].
pub fn read_manifests(dir: &Path) -> Result<Vec<serde_json::Value>, Error> {
    let read_error = |source| Error::ReadManifests { path: dir.to_owned(), source };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(read_error)?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    let mut objects = Vec::new();
    for file in files {
        let text =
            std::fs::read_to_string(&file).map_err(|source| Error::ReadManifests { path: file.clone(), source })?;
        objects.extend(parse_manifests(&text, &file.display().to_string())?);
    }
    Ok(objects)
}

/// The object of `kind` named `name` among `objects`.
pub fn find<'a>(objects: &'a [serde_json::Value], kind: &str, name: &str) -> Option<&'a serde_json::Value> {
    objects.iter().find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
}

/// Runs a build script of the workspace (`dev/tools/helm/build`, `dev/tools/prometheus/build`,
/// `dev/tools/flux/build`) that builds a Go tool into a cache and prints its directory (bin/,
/// or for Flux the directory holding bin/ and crds/) as its last line.
///
/// `Ok(None)` only when Go is missing and `$CI` is unset; [`Error::BuildTool`], naming
/// `what` it builds, carries the script's stderr.
pub(crate) fn build_go_tool(script: &'static str, what: &'static str) -> Result<Option<PathBuf>, Error> {
    let failed = |stderr| Error::BuildTool { script, what, stderr };
    let path = workspace_root().join(script);
    let output = Command::new(&path).output();
    let stdout = match &output {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).into_owned(),
        _ if std::env::var_os("CI").is_none() && !go_installed() => return Ok(None),
        Ok(out) => return Err(failed(String::from_utf8_lossy(&out.stderr).into_owned())),
        Err(e) => return Err(failed(format!("cannot run {}: {e}", path.display()))),
    };
    Ok(Some(PathBuf::from(stdout.lines().last().unwrap_or_default())))
}

fn go_installed() -> bool {
    Command::new("go").arg("version").output().is_ok_and(|o| o.status.success())
}
