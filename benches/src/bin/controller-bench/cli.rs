//! Sealing one Secret of ten 32-byte values from the command line, as a developer does:
//! the real `kubeseal --cert CERT -o yaml < secret.yaml` against `gitseal seal -R
//! RECIPIENTS -f secret.yaml`, a fresh process each run, the two tools alternating; wall
//! time from spawn to exit with all output read.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, ensure};
use base64::Engine as _;
use gitseal_bench::{log, value};

/// Data keys of the Secret sealed.
const KEYS: usize = 10;

/// One tool's runs.
pub struct CliTimes {
    /// The command line, with file names as placeholders.
    pub command: &'static str,
    pub runs: usize,
    pub median: Duration,
    pub p90: Duration,
    /// Base64 characters of one sealed 32-byte value in its output: mean, least, most
    /// over every value of every run (gitseal's vary: a random grease stanza).
    pub value_bytes: (f64, usize, usize),
}

/// Where the tools and their inputs are.
pub struct Tools<'a> {
    pub kubeseal: PathBuf,
    pub cert: PathBuf,
    pub gitseal: &'a Path,
    /// gitseal's recipients file, as the controller published it.
    pub recipients: PathBuf,
    /// Set as `$KUBECONFIG` for both, as a developer's shell would have it.
    pub kubeconfig: &'a Path,
}

/// Runs each tool `runs` times (after one unmeasured run each), alternating.
pub fn measure(tools: &Tools, work_dir: &Path, runs: usize) -> Result<[CliTimes; 2]> {
    ensure!(runs > 0, "--cli-runs must be at least 1");
    let secret = work_dir.join("cli-secret.yaml");
    std::fs::write(&secret, secret_yaml()).with_context(|| format!("writing {}", secret.display()))?;
    let mut kubeseal = Command::new(&tools.kubeseal);
    kubeseal.arg("--cert").arg(&tools.cert).args(["-o", "yaml"]);
    let mut gitseal = Command::new(tools.gitseal);
    gitseal.args(["seal", "-R"]).arg(&tools.recipients).arg("-f").arg(&secret);
    let mut commands = [
        ("kubeseal --cert CERT -o yaml < secret.yaml", kubeseal, true),
        ("gitseal seal -R RECIPIENTS -f secret.yaml", gitseal, false),
    ];
    let mut times: [Vec<Duration>; 2] = [Vec::new(), Vec::new()];
    let mut lengths: [Vec<usize>; 2] = [Vec::new(), Vec::new()];
    for run in 0..=runs {
        for (i, (what, command, stdin)) in commands.iter_mut().enumerate() {
            let input = if *stdin { Stdio::from(std::fs::File::open(&secret)?) } else { Stdio::null() };
            command.current_dir(work_dir).env("KUBECONFIG", tools.kubeconfig).stdin(input);
            let start = Instant::now();
            let out = command.output().with_context(|| format!("running {what}"))?;
            let took = start.elapsed();
            ensure!(out.status.success(), "{what} failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr));
            lengths[i].extend(sealed_value_lens(&out.stdout).with_context(|| format!("reading what {what} wrote"))?);
            if run > 0 {
                times[i].push(took);
            }
        }
    }
    let mut result = |i: usize| {
        let (median, p90) = percentiles(&mut times[i]);
        let command = commands[i].0;
        let l = &lengths[i];
        let mean = l.iter().sum::<usize>() as f64 / l.len().max(1) as f64;
        let value_bytes = (mean, l.iter().copied().min().unwrap_or(0), l.iter().copied().max().unwrap_or(0));
        log(&format!(
            "{command}: median {median:.1?}, p90 {p90:.1?} over {runs} runs; {value_bytes:?} bytes per value"
        ));
        CliTimes { command, runs, median, p90, value_bytes }
    };
    Ok([result(0), result(1)])
}

/// A Secret of [`KEYS`] printable 32-byte values in a namespace of its own, so neither
/// tool needs a cluster.
fn secret_yaml() -> String {
    let mut yaml = String::from(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: cli-bench\n  namespace: gitseal-bench-cli\ndata:\n",
    );
    for k in 0..KEYS {
        let encoded = base64::engine::general_purpose::STANDARD.encode(value(0, k));
        yaml.push_str(&format!("  key-{k:02}: {encoded}\n"));
    }
    yaml
}

/// The lengths of the values in `spec.encryptedData` of a sealed manifest, after
/// checking it holds all [`KEYS`].
fn sealed_value_lens(yaml: &[u8]) -> Result<Vec<usize>> {
    let text = std::str::from_utf8(yaml)?;
    let sealed: serde_json::Value = serde_saphyr::from_str(text.trim_start_matches("---\n"))?;
    let data = sealed.pointer("/spec/encryptedData").and_then(|d| d.as_object()).context("no spec.encryptedData")?;
    ensure!(data.len() == KEYS, "{} sealed values, expected {KEYS}", data.len());
    data.values().map(|v| v.as_str().map(str::len).context("a sealed value that is not a string")).collect()
}

/// (median, 90th percentile), nearest rank.
fn percentiles(times: &mut [Duration]) -> (Duration, Duration) {
    times.sort();
    let rank = |p: f64| times[((p * times.len() as f64).ceil() as usize).clamp(1, times.len()) - 1];
    (rank(0.5), rank(0.9))
}
