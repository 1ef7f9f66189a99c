//! The real promtool, for the chart's alerts: built (and cached) from Prometheus' Go module
//! by `dev/tools/prometheus/build` on first use, run on the PrometheusRule `helm template`
//! renders, with the unit tests in `tests/deployment/prometheus/*_test.yaml`. The same build's
//! prometheus server is in [`crate::prometheus_server`].
//!
//! ```text
//!  helm template ──▶ PrometheusRule .spec ──▶ <tmp>/gitseal-controller.rules.yaml
//!                                              <tmp>/*_test.yaml (copied)
//!                                                   │
//!  dev/tools/prometheus/build ──▶ promtool ── check rules / test rules, in <tmp>
//! ```

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::Error;
use crate::helm::{build_go_tool, find, parse_manifests};

/// The name the unit tests' `rule_files` give the chart's rules.
pub const RULE_FILE: &str = "gitseal-controller.rules.yaml";

/// promtool, built from the version pinned in `dev/tools/prometheus/mod/go.mod`.
pub struct Promtool {
    bin: PathBuf,
}

impl Promtool {
    /// Builds promtool unless it is cached, with `dev/tools/prometheus/build`.
    ///
    /// `Ok(None)` only when Go is missing and `$CI` is unset: the caller skips with a note.
    ///
    /// # Errors
    /// [`Error::BuildTool`] when the build fails on a machine with Go, or anywhere in CI.
    pub fn build() -> Result<Option<Promtool>, Error> {
        Ok(build_dir()?.map(|bin| Promtool { bin: bin.join("promtool") }))
    }

    /// Runs `promtool args…` in `dir` and returns its stdout.
    ///
    /// # Errors
    /// [`Error::RunPromtool`] when promtool cannot start or exits non-zero; the message
    /// carries its stdout (where `test rules` reports failed cases) and stderr.
    pub fn run<S: AsRef<OsStr>>(&self, dir: &Path, args: &[S]) -> Result<String, Error> {
        let shown = || args.iter().map(|a| a.as_ref().to_string_lossy()).collect::<Vec<_>>().join(" ");
        let out = Command::new(&self.bin)
            .args(args)
            .current_dir(dir)
            .output()
            .map_err(|e| Error::RunPromtool { args: shown(), output: e.to_string() })?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.status.success() {
            let output = format!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
            return Err(Error::RunPromtool { args: shown(), output });
        }
        Ok(stdout)
    }
}

/// The bin directory `dev/tools/prometheus/build` fills (promtool and prometheus), built unless
/// it is cached; `Ok(None)` as [`Promtool::build`].
///
/// # Errors
/// As [`Promtool::build`].
pub fn build_dir() -> Result<Option<PathBuf>, Error> {
    build_go_tool("dev/tools/prometheus/build", "promtool and prometheus")
}

/// The content of a Prometheus rule file for the PrometheusRule `name` among `objects`:
/// its `spec`, which holds the `groups`.
pub fn rule_groups<'a>(objects: &'a [Value], name: &str) -> Option<&'a Value> {
    find(objects, "PrometheusRule", name).map(|rule| &rule["spec"])
}

/// The alert names of a rule file's groups.
pub fn alert_names(groups: &Value) -> BTreeSet<String> {
    let rules =
        groups["groups"].as_array().into_iter().flatten().flat_map(|g| g["rules"].as_array().into_iter().flatten());
    rules.filter_map(|r| r["alert"].as_str()).map(str::to_owned).collect()
}

/// The alerts a promtool unit test file checks, by what it expects of them.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct AlertCases {
    /// Alerts with a case that expects them to fire.
    pub firing: BTreeSet<String>,
    /// Alerts with a case that expects none of them.
    pub quiet: BTreeSet<String>,
}

impl AlertCases {
    /// The `alert_rule_test` cases of a unit test file's text, added to these.
    ///
    /// # Errors
    /// [`Error::ParseManifests`], naming `origin`.
    pub fn add(&mut self, test_file: &str, origin: &str) -> Result<(), Error> {
        for document in parse_manifests(test_file, origin)? {
            let groups = document["tests"].as_array().cloned().unwrap_or_default();
            for case in groups.iter().flat_map(|g| g["alert_rule_test"].as_array().cloned().unwrap_or_default()) {
                let Some(name) = case["alertname"].as_str() else { continue };
                let fires = case["exp_alerts"].as_array().is_some_and(|a| !a.is_empty());
                if fires { &mut self.firing } else { &mut self.quiet }.insert(name.to_owned());
            }
        }
        Ok(())
    }
}

/// The unit test files in `tests/deployment/prometheus`, in name order.
///
/// # Errors
/// [`Error::PromtoolFile`] when the directory cannot be read.
pub fn unit_test_files() -> Result<Vec<PathBuf>, Error> {
    let dir = crate::workspace_root().join("tests/deployment/prometheus");
    let entries = std::fs::read_dir(&dir).map_err(|source| Error::PromtoolFile { path: dir.clone(), source })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.file_name().and_then(OsStr::to_str).is_some_and(|n| n.ends_with("_test.yaml")))
        .collect();
    files.sort();
    Ok(files)
}

/// A scratch directory holding `groups` as [`RULE_FILE`] (JSON, which YAML readers take)
/// and a copy of each of `tests`, so the tests' relative `rule_files` find it.
///
/// # Errors
/// [`Error::PromtoolFile`] when a file cannot be written or copied.
pub fn workdir(groups: &Value, tests: &[PathBuf]) -> Result<tempfile::TempDir, Error> {
    let error = |path: &Path| {
        let path = path.to_owned();
        move |source| Error::PromtoolFile { path, source }
    };
    let dir = tempfile::Builder::new().prefix("gitseal-promtool").tempdir().map_err(error(Path::new("/tmp")))?;
    let rules = dir.path().join(RULE_FILE);
    // Pretty, so promtool's line:column in an error points somewhere readable.
    let text = serde_json::to_string_pretty(groups).unwrap_or_default();
    std::fs::write(&rules, text).map_err(error(&rules))?;
    for test in tests {
        let copy = dir.path().join(test.file_name().unwrap_or_default());
        std::fs::copy(test, &copy).map_err(error(test))?;
    }
    Ok(dir)
}
