//! A real Prometheus server as a host process, scraping fixed targets, for tests that
//! check what a scrape of the controller really yields.
//!
//! ```text
//!  dev/tools/prometheus/build ──▶ prometheus --config.file <tmp>/prometheus.yml
//!                                        --storage.tsdb.path <tmp>/data
//!                                        --web.listen-address 127.0.0.1:<free port>
//!          static_configs: targets ──scrape every 1 s──▶ e.g. a Service's ClusterIP:8080
//!  PrometheusServer::query("gitseal_leader") ── GET /api/v1/query ──▶ result vector
//! ```
//!
//! The process is killed (by its own handle) and its directory removed on drop.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde_json::{Value, json};

use crate::http::free_port;
use crate::http_get;

/// A running prometheus and its scratch directory.
pub struct PrometheusServer {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl PrometheusServer {
    /// Starts prometheus from `bin_dir` scraping `targets` every second as job `job`, each
    /// series labelled `labels` (as a ServiceMonitor adds `namespace`), and waits until its
    /// API answers.
    ///
    /// # Errors
    /// When the files cannot be written, prometheus cannot start, or its API does not answer
    /// within 30 s (the message carries its log).
    pub fn start(bin_dir: &Path, job: &str, targets: &[SocketAddr], labels: &Value) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new().prefix("gitseal-prometheus").tempdir()?;
        let targets: Vec<String> = targets.iter().map(ToString::to_string).collect();
        let config = json!({
            "global": { "scrape_interval": "1s", "scrape_timeout": "1s" },
            "scrape_configs": [{ "job_name": job, "static_configs": [{ "targets": targets, "labels": labels }] }],
        });
        let config_file = dir.path().join("prometheus.yml");
        std::fs::write(&config_file, config.to_string()).context("writing prometheus.yml")?;
        let log = std::fs::File::create(dir.path().join("prometheus.log"))?;
        let port = free_port()?;
        let child = Command::new(bin_dir.join("prometheus"))
            .arg(format!("--config.file={}", config_file.display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting prometheus")?;
        let server = PrometheusServer { child, port, dir };
        server.wait_for("its API to answer", Duration::from_secs(30), |s| Ok(s.get("/-/ready").0 == 200))?;
        Ok(server)
    }

    /// `GET path` on its web address: (status, body), or (0, "") when nothing answers.
    pub fn get(&self, path: &str) -> (u16, String) {
        http_get(self.port, path)
    }

    /// The result vector of the instant query `promql`.
    ///
    /// # Errors
    /// When the API does not answer with `status: success`.
    pub fn query(&self, promql: &str) -> anyhow::Result<Vec<Value>> {
        let (status, body) = self.get(&format!("/api/v1/query?query={}", percent_encode(promql)));
        let answer: Value = serde_json::from_str(&body).with_context(|| format!("HTTP {status}: {body}"))?;
        if answer["status"] != "success" {
            bail!("query {promql} failed: {body}");
        }
        Ok(answer["data"]["result"].as_array().cloned().unwrap_or_default())
    }

    /// Polls `probe` every 500 ms until it holds; fails after `limit` naming `what`, with
    /// the end of prometheus' log.
    ///
    /// # Errors
    /// The timeout, or the first error of `probe`.
    pub fn wait_for<F>(&self, what: &str, limit: Duration, mut probe: F) -> anyhow::Result<()>
    where
        F: FnMut(&Self) -> anyhow::Result<bool>,
    {
        let deadline = Instant::now() + limit;
        while !probe(self)? {
            if Instant::now() >= deadline {
                bail!("timed out after {limit:?} waiting for {what}; prometheus' log ends:\n{}", self.log_tail());
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        Ok(())
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for PrometheusServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `s` for a URL's query string: unreserved characters as they are, the rest as %XX.
fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
