//! What `--incumbent` reports: Markdown tables in the shape (N | bitnami default
//! flags | bitnami qps=-1 | gitseal), the ratios the product targets, the machine and
//! versions, written between two markers of benches/RESULTS.md; and an SVG bar chart of
//! the cold starts, written by hand.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context as _, Result};

use crate::Row;
use crate::cli::CliTimes;
use crate::cold_start::ColdStart;

pub const BEGIN: &str = "<!-- BEGIN controller-bench --incumbent: generated, edits here are overwritten -->";
pub const END: &str = "<!-- END controller-bench --incumbent -->";

/// Everything the report says.
pub struct Report<'a> {
    pub rows: &'a [Row],
    /// The incumbent at default flags, measured at a small N.
    pub default_flags: &'a ColdStart,
    pub cli: &'a [CliTimes; 2],
    /// `machine`/`versions` lines, already worded.
    pub environment: Vec<String>,
    pub invocation: &'a str,
}

/// Seconds the incumbent at default flags would take for `n`: its measured rate once
/// writing, continued linearly, after its measured start.
pub fn extrapolate(measured: &ColdStart, n: usize) -> f64 {
    let first = measured.first_secret.as_secs_f64();
    let per_object = (measured.seconds() - first) / (measured.n.max(2) - 1) as f64;
    first + per_object * (n.max(1) - 1) as f64
}

impl Report<'_> {
    pub fn markdown(&self) -> String {
        let d = self.default_flags;
        let mut md = String::new();
        let _ = writeln!(md, "{BEGIN}\n");
        for line in &self.environment {
            let _ = writeln!(md, "{line}  ");
        }
        let _ = writeln!(md, "Command: `{}`\n", self.invocation);

        let cells = |f: &dyn Fn(&ColdStart) -> String, extrapolated: &dyn Fn(usize) -> String| -> String {
            let mut t = String::from(
                "| N | bitnami default flags | bitnami `--kubeclient-qps=-1` | gitseal |\n|---:|---:|---:|---:|\n",
            );
            let _ = writeln!(t, "| {} | {} (measured) | | |", d.n, f(d));
            for r in self.rows {
                let inc = r.incumbent.as_ref().map_or("-".into(), f);
                let _ = writeln!(t, "| {} | {} | {} | {} |", r.n, extrapolated(r.n), inc, f(&r.gitseal));
            }
            t
        };
        let secs = |c: &ColdStart| format!("{:.2} s ({:.1}/s)", c.seconds(), c.rate());
        let extra = |n: usize| {
            let s = extrapolate(d, n);
            format!("≈ {s:.0} s ({:.2}/s), extrapolated", n as f64 / s)
        };
        let none = |_: usize| "not measured".to_owned();
        let _ = writeln!(md, "### Cold start: seconds until all N Secrets exist (Secrets/s)\n");
        md.push_str(&cells(&secs, &extra));
        let _ = writeln!(md, "\n### Seconds until all N report ready (bitnami `Synced=True`, gitseal `Ready=True`)\n");
        let ready = |c: &ColdStart| c.all_ready.map_or("-".into(), |r| format!("{:.2} s", r.as_secs_f64()));
        md.push_str(&cells(&ready, &none));
        let _ = writeln!(md, "\n### Controller peak RSS (VmHWM), MiB\n");
        md.push_str(&cells(&|c| format!("{:.1}", c.rss_peak_mib()), &none));
        let _ = writeln!(md, "\n### Controller CPU seconds (ms per object)\n");
        let cpu = |c: &ColdStart| c.cpu.map_or("-".into(), |s| format!("{s:.2} ({:.2} ms)", s / c.n as f64 * 1e3));
        md.push_str(&cells(&cpu, &none));
        let _ = writeln!(md, "\n### API requests per object (writes), etcd writes per object\n");
        let requests = |c: &ColdStart| {
            let (all, writes) = c.requests_per_object();
            format!("{all:.2} ({writes:.2}), etcd {:.2}", c.etcd_writes_per_object())
        };
        md.push_str(&cells(&requests, &none));
        let _ = writeln!(md, "\n### Load average (1, 5, 15 min) when the controller started\n");
        md.push_str(&cells(&|c| c.load.clone(), &none));

        self.ratios(&mut md);
        self.steady_table(&mut md);
        self.cli_table(&mut md);
        let _ = writeln!(md, "\n{END}");
        md
    }

    fn ratios(&self, md: &mut String) {
        let d = self.default_flags;
        let ns: Vec<String> = self.rows.iter().map(|r| format!("N = {}", r.n)).collect();
        let _ = writeln!(md, "\n### Against the product's targets (met at N = 10,000?)\n");
        let _ = writeln!(md, "| ratio | target | {} |", ns.join(" | "));
        let _ = writeln!(md, "|---|---:|{}", "---:|".repeat(ns.len()));
        type Ratio<'f> = (&'f str, &'f str, Box<dyn Fn(&Row, &ColdStart) -> Option<f64> + 'f>, bool);
        let ratios: [Ratio; 4] = [
            (
                "cold start, bitnami qps=-1 / gitseal",
                "≥ 10×",
                Box::new(|r, i| Some(i.seconds() / r.gitseal.seconds())),
                true,
            ),
            (
                "cold start, bitnami default flags (extrapolated) / gitseal",
                "≥ 100×",
                Box::new(|r, _| Some(extrapolate(d, r.n) / r.gitseal.seconds())),
                true,
            ),
            (
                "peak RSS, gitseal / bitnami qps=-1",
                "≤ 0.5",
                Box::new(|r, i| Some(r.gitseal.rss_peak_mib() / i.rss_peak_mib())),
                false,
            ),
            (
                "CPU per object, gitseal / bitnami qps=-1",
                "≤ 0.05 (1/20)",
                Box::new(|r, i| Some(r.gitseal.cpu? / i.cpu?)),
                false,
            ),
        ];
        for (what, target, ratio, times) in &ratios {
            let values: Vec<String> = self
                .rows
                .iter()
                .map(|r| match r.incumbent.as_ref().and_then(|i| ratio(r, i)) {
                    Some(v) if *times => format!("{v:.1}×"),
                    Some(v) => format!("{v:.3}"),
                    None => "-".into(),
                })
                .collect();
            let _ = writeln!(md, "| {what} | {target} | {} |", values.join(" | "));
        }
    }

    fn steady_table(&self, md: &mut String) {
        let _ = writeln!(md, "\n### gitseal in steady state, after its cold start at N\n");
        let _ = writeln!(
            md,
            "| N | one SealedSecret changed: its Secret updated after | restart: ready after | restart: every object looked at after | restart: unsealed | restart: writes (Secrets, SealedSecrets, Events) |"
        );
        let _ = writeln!(md, "|---:|---:|---:|---:|---:|---:|");
        for r in self.rows {
            let (s, restart) = (&r.steady, &r.steady.restart);
            let _ = writeln!(
                md,
                "| {} | {:.0} ms | {:.2} s | {:.2} s | {} | {} |",
                r.n,
                s.change.as_secs_f64() * 1e3,
                restart.ready.as_secs_f64(),
                restart.all_seen.as_secs_f64(),
                restart.unsealed as u64,
                restart.writes as u64
            );
        }
    }

    fn cli_table(&self, md: &mut String) {
        let [kubeseal, gitseal] = self.cli;
        let _ = writeln!(md, "\n### Sealing a ten-key Secret (32-byte values) from the command line\n");
        let _ = writeln!(
            md,
            "| command | runs | median ms | p90 ms | sealed bytes per value (base64), mean (least–most) |"
        );
        let _ = writeln!(md, "|---|---:|---:|---:|---:|");
        for t in self.cli {
            let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
            let _ = writeln!(
                md,
                "| `{}` | {} | {:.1} | {:.1} | {:.0} ({}–{}) |",
                t.command,
                t.runs,
                ms(t.median),
                ms(t.p90),
                t.value_bytes.0,
                t.value_bytes.1,
                t.value_bytes.2
            );
        }
        let _ = writeln!(
            md,
            "\ngitseal / kubeseal: median wall time {:.2}, mean sealed value size {:.2}.",
            gitseal.median.as_secs_f64() / kubeseal.median.as_secs_f64(),
            gitseal.value_bytes.0 / kubeseal.value_bytes.0
        );
    }

    /// Cold-start seconds per controller per N, grouped bars on a log scale.
    pub fn svg(&self) -> String {
        let d = self.default_flags;
        let series = [
            ("bitnami, default flags (extrapolated)", "#c0504d"),
            ("bitnami, --kubeclient-qps=-1", "#f79646"),
            ("gitseal", "#4f81bd"),
        ];
        let groups: Vec<(usize, [Option<f64>; 3])> = self
            .rows
            .iter()
            .map(|r| {
                (
                    r.n,
                    [
                        Some(extrapolate(d, r.n)),
                        r.incumbent.as_ref().map(ColdStart::seconds),
                        Some(r.gitseal.seconds()),
                    ],
                )
            })
            .collect();
        let values = groups.iter().flat_map(|(_, v)| v.iter().flatten().copied());
        let (lo, hi) = values.fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
        let (lo, hi) =
            (lo.max(0.01).log10().floor(), hi.max(0.1).log10().ceil().max(lo.max(0.01).log10().floor() + 1.0));
        let (left, top, height, group_width, bar) = (70.0, 40.0, 300.0, 260.0, 60.0);
        let width = (left + group_width * groups.len() as f64 + 20.0).max(600.0);
        let y = |v: f64| top + height * (1.0 - (v.log10() - lo) / (hi - lo));
        let mut svg = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{:.0}\" font-family=\"sans-serif\" font-size=\"12\">\n\
             <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
             <text x=\"{left}\" y=\"20\" font-size=\"14\">Cold start: seconds until all N Secrets exist (log scale; lower is better)</text>\n",
            top + height + 90.0
        );
        for decade in (lo as i32)..=(hi as i32) {
            let v = 10f64.powi(decade);
            let _ = writeln!(
                svg,
                "<line x1=\"{left}\" x2=\"{:.0}\" y1=\"{yy:.1}\" y2=\"{yy:.1}\" stroke=\"#ddd\"/><text x=\"{:.0}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
                width - 20.0,
                left - 6.0,
                y(v) + 4.0,
                if v < 1.0 { format!("{v}") } else { format!("{v:.0}") },
                yy = y(v)
            );
        }
        for (g, (n, bars)) in groups.iter().enumerate() {
            let x0 = left + group_width * g as f64 + (group_width - bar * 3.0) / 2.0;
            for (b, value) in bars.iter().enumerate() {
                let Some(v) = value else { continue };
                let (x, color) = (x0 + bar * b as f64, series[b].1);
                let _ = writeln!(
                    svg,
                    "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{color}\"{}/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                    x + 4.0,
                    y(*v),
                    bar - 8.0,
                    top + height - y(*v),
                    if b == 0 { " fill-opacity=\"0.6\"" } else { "" },
                    x + bar / 2.0,
                    y(*v) - 4.0,
                    if *v < 10.0 { format!("{v:.1}") } else { format!("{v:.0}") }
                );
            }
            let _ = writeln!(
                svg,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">N = {n}</text>",
                x0 + bar * 1.5,
                top + height + 18.0
            );
        }
        for (i, (label, color)) in series.iter().enumerate() {
            let ly = top + height + 40.0 + 16.0 * i as f64;
            let _ = writeln!(
                svg,
                "<rect x=\"{left}\" y=\"{:.1}\" width=\"12\" height=\"12\" fill=\"{color}\"/><text x=\"{:.0}\" y=\"{:.1}\">{label}</text>",
                ly - 10.0,
                left + 18.0,
                ly
            );
        }
        let _ = writeln!(
            svg,
            "<line x1=\"{left}\" x2=\"{left}\" y1=\"{top}\" y2=\"{:.0}\" stroke=\"black\"/>\n</svg>",
            top + height
        );
        svg
    }
}

/// Replaces what lies between [`BEGIN`] and [`END`] in the file at `path` (both markers
/// included) with `section`.
pub fn fill(path: &Path, section: &str) -> Result<()> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let (Some(begin), Some(end)) = (text.find(BEGIN), text.find(END)) else {
        anyhow::bail!("{} has no `{BEGIN}` … `{END}` section to fill", path.display());
    };
    anyhow::ensure!(begin < end, "{}: `{END}` comes before `{BEGIN}`", path.display());
    let filled = format!("{}{}{}", &text[..begin], section.trim_end(), &text[end + END.len()..]);
    std::fs::write(path, filled).with_context(|| format!("writing {}", path.display()))
}

/// The machine and versions, one line each.
pub async fn environment(admin: &kube::Client, incumbent_bin: &Path) -> Vec<String> {
    let run = |program: &Path, args: &[&str]| -> String {
        std::process::Command::new(program)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_else(|| "unknown".into())
    };
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    let cpuinfo = read("/proc/cpuinfo");
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map_or("?", |m| m.trim_start_matches([' ', '\t', ':']));
    let mem = read("/proc/meminfo");
    let mem_kib: f64 = mem
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|m| m.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0);
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let k8s = admin.apiserver_version().await.map_or_else(|_| "unknown".into(), |v| v.git_version);
    let root = gitseal_test_support::workspace_root();
    vec![
        format!(
            "Measured {} on {cpus} CPUs ({model}), {:.1} GiB RAM, Linux {}.",
            k8s_openapi::jiff::Timestamp::now().strftime("%Y-%m-%d %H:%M UTC"),
            mem_kib / 1024.0 / 1024.0,
            read("/proc/sys/kernel/osrelease").trim()
        ),
        format!(
            "gitseal {} ({}); bitnami sealed-secrets {} ({}, controller and kubeseal built from its Go module by dev/tools/incumbent/build); Kubernetes {k8s} (dev/cluster: etcd, kube-apiserver, kube-controller-manager on 127.0.0.1).",
            run(Path::new("git"), &["-C", &root.to_string_lossy(), "describe", "--always", "--dirty"]),
            run(Path::new("rustc"), &["--version"]),
            run(&incumbent_bin.join("controller"), &["--version"]).rsplit(' ').next().unwrap_or("?"),
            run(Path::new("go"), &["version"]),
        ),
    ]
}
