//! Every metric charts/gitseal's alerts and dashboard query is one gitseal-controller
//! exports: the names are taken from the PromQL of the PrometheusRule and the dashboard as
//! the real helm (dev/tools/helm/build) renders them, and looked up in a running controller's
//! /metrics on the local control plane. Also: the chart's assumed rotation period is the
//! controller's default. Without Go (outside CI) they skip with a note.
//!
//! ```text
//!  helm template ──▶ PrometheusRule exprs ─┐
//!                └─▶ dashboard JSON exprs ─┴─▶ metric_names() ──▶ ⊆ exported(GET /metrics)
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests state their expectations by unwrapping

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use gitseal::Recipients;
use gitseal::crds::KeyRotation;
use gitseal_test_support::helm::{Helm, find};
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt as _;
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::Value;
use support::{CONTROLLER_NS, Controller, Env, eventually, sealed};

/// PromQL words that are never metric names: operators, modifiers, aggregations (which
/// may precede `by (…)` rather than `(`), and literals.
const KEYWORDS: &[&str] = &[
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "limitk",
    "limit_ratio",
    "inf",
    "nan",
    "atan2",
];

/// Words after which a parenthesised list holds label names, not expressions.
const LABEL_LISTS: &[&str] = &["by", "without", "on", "ignoring", "group_left", "group_right"];

/// The metric names a PromQL expression selects: identifiers outside strings, label
/// matchers (`{…}`), ranges (`[…]`) and label lists (`by (…)`), that are neither keywords
/// nor called like functions, nor Grafana variables (`$x`, `${x}`), nor numbers or
/// durations (`0.99`, `30d`).
fn metric_names(expr: &str) -> BTreeSet<String> {
    let chars: Vec<char> = expr.chars().collect();
    let (mut names, mut i) = (BTreeSet::new(), 0);
    let (mut braces, mut brackets, mut label_list, mut list_next) = (0, 0, false, false);
    let word_char = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        match c {
            '"' | '\'' | '`' => {
                while i < chars.len() && chars[i] != c {
                    i += if chars[i] == '\\' && c != '`' { 2 } else { 1 };
                }
                i += 1;
            }
            '{' => braces += 1,
            '}' => braces -= 1,
            '[' => brackets += 1,
            ']' => brackets -= 1,
            '(' => (label_list, list_next) = (list_next, false),
            ')' => label_list = false,
            '$' => {
                while i < chars.len() && (word_char(chars[i]) || chars[i] == '{' || chars[i] == '}') {
                    i += 1;
                }
            }
            c if c.is_ascii_digit() || c == '.' => {
                while i < chars.len() && (word_char(chars[i]) || chars[i] == '.') {
                    i += 1;
                }
            }
            c if word_char(c) => {
                let start = i - 1;
                while i < chars.len() && word_char(chars[i]) {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                let next = chars[i..].iter().find(|c| !c.is_whitespace());
                if braces > 0 || brackets > 0 || label_list {
                    continue;
                }
                if KEYWORDS.contains(&word.as_str()) {
                    list_next = LABEL_LISTS.contains(&word.as_str());
                } else if next != Some(&'(') {
                    names.insert(word);
                }
            }
            _ => {}
        }
    }
    names
}

/// The sample names a `/metrics` text offers: each family of a `# TYPE` line with the
/// suffixes its type gives its samples (OpenMetrics names counters without `_total`
/// there), and every sample line's name (families with no labels set yet have none).
fn exported(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in text.lines() {
        if let Some(family) = line.strip_prefix("# TYPE ") {
            let (name, kind) = family.split_once(' ').unwrap();
            let suffixes: &[&str] = match kind {
                "counter" => &["_total"],
                "histogram" => &["_bucket", "_sum", "_count"],
                _ => &[""],
            };
            names.extend(suffixes.iter().map(|s| format!("{name}{s}")));
        } else if !line.starts_with('#') && !line.is_empty() {
            names.insert(line.split(['{', ' ']).next().unwrap().to_owned());
        }
    }
    names
}

/// (where, PromQL) of every query in the rendered PrometheusRule and dashboard.
fn chart_queries(objects: &[Value]) -> Vec<(String, String)> {
    let mut queries = Vec::new();
    let rule = find(objects, "PrometheusRule", "gitseal-controller").expect("PrometheusRule rendered");
    for group in rule["spec"]["groups"].as_array().unwrap() {
        for r in group["rules"].as_array().unwrap() {
            queries.push((format!("alert {}", r["alert"]), r["expr"].as_str().unwrap().to_owned()));
        }
    }
    let dashboard = find(objects, "ConfigMap", "gitseal-dashboard").expect("dashboard rendered");
    let dashboard: Value = serde_json::from_str(dashboard["data"]["gitseal.json"].as_str().unwrap()).unwrap();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            queries.push((format!("panel {}", panel["title"]), target["expr"].as_str().unwrap().to_owned()));
        }
    }
    // Template variables: label_values(<selector>, <label>) queries <selector>.
    for variable in dashboard["templating"]["list"].as_array().unwrap() {
        if let Some(query) = variable["query"]["query"].as_str() {
            let selector = query.strip_prefix("label_values(").and_then(|q| q.split_once(',')).unwrap().0;
            queries.push((format!("variable {}", variable["name"]), selector.to_owned()));
        }
    }
    queries
}

#[test]
fn metric_names_are_found_in_promql() {
    let cases: &[(&str, &[&str])] = &[
        (r#"sum by (reason) (increase(a_total{namespace="x{y}", le=~"[0-9]"}[15m])) > 0"#, &["a_total"]),
        ("(sum(b{n=\"x\"}) or vector(0)) < 1", &["b"]),
        ("changes(max(c{n=\"x\"})[30d:18000s]) == 0\nand on() max(c{n=\"x\"} offset 30d)", &["c"]),
        ("histogram_quantile(0.99, sum by (le) (rate(d_bucket{n=\"$namespace\"}[$__rate_interval])))", &["d_bucket"]),
        ("e + f / ignoring (pod) group_left (version) g > bool 1e3", &["e", "f", "g"]),
        ("count(h{a='it\\'s'}) by (instance)", &["h"]),
        ("ns:i:rate5m", &["ns:i:rate5m"]),
    ];
    for (expr, expected) in cases {
        let found: Vec<String> = metric_names(expr).into_iter().collect();
        assert_eq!(found, *expected, "{expr}");
    }
}

/// Makes the controller count a failure of each kind, so that the series the failure
/// alerts watch are seen to move (each starts at 0). One SealedSecret whose value is not an
/// age file (Malformed), and one KeyRotation refused because a Secret holds the last key
/// name (NameConflict), both removed again.
async fn provoke_failures(env: &Env, controller: &Controller, recipients: &Recipients) {
    let ns = env.cluster.fresh_namespace("chart-metrics").await.unwrap();
    let mut malformed = sealed(&ns, "malformed", &[("k", "v")], recipients);
    malformed.spec.encrypted_data.insert("k".into(), "bm90IGFnZQ==".into()); // "not age"
    env.apply(&malformed).await;

    let in_the_way = InTheWay(format!("gitseal-key-{}", u64::MAX));
    let secret: Secret = serde_json::from_value(serde_json::json!({
        "metadata": { "name": in_the_way.0 },
        "stringData": { "note": "not a key: leaves no name for the next one" },
    }))
    .unwrap();
    Api::<Secret>::namespaced(env.client(), CONTROLLER_NS).create(&PostParams::default(), &secret).await.unwrap();
    let requests: Api<KeyRotation> = Api::namespaced(env.client(), CONTROLLER_NS);
    let mut request = KeyRotation::new("", gitseal::crds::KeyRotationSpec { reason: Some("chart metrics".into()) });
    (request.metadata.name, request.metadata.generate_name) = (None, Some("chart-metrics-".into()));
    let request = requests.create(&PostParams::default(), &request).await.unwrap();

    let counted = [
        "gitseal_unseal_failures_total{reason=\"Malformed\"} ",
        "gitseal_key_rotation_failures_total{reason=\"NameConflict\"} ",
    ];
    eventually("both failures counted", || async {
        let text = controller.get("/metrics").1;
        let above_zero = |series: &str| text.lines().any(|l| l.strip_prefix(series).is_some_and(|n| n != "0"));
        counted.iter().all(|s| above_zero(s)).then_some(())
    })
    .await;
    // Nothing left for the next tests' controllers to count.
    requests.delete(&request.name_any(), &DeleteParams::default()).await.unwrap();
    env.cluster.delete_namespace(&ns).await.unwrap();
}

/// A Secret holding the last key name, deleted even when the test fails, so that no later
/// rotation meets it.
struct InTheWay(String);

impl Drop for InTheWay {
    fn drop(&mut self) {
        support::kubectl(&["delete", "secret", "-n", CONTROLLER_NS, &self.0, "--ignore-not-found"]);
    }
}

#[gitseal_test_support::needs_cluster]
#[tokio::test]
async fn the_chart_queries_only_metrics_the_controller_exports() {
    let Some(helm) = Helm::build().unwrap() else {
        return eprintln!("note: Go not installed; helm was not built, the chart's queries not checked");
    };
    let set = ["--set", "prometheusRule.enabled=true,grafanaDashboard.enabled=true"];
    let objects = helm.template("gitseal", CONTROLLER_NS, &set).unwrap();
    let mut used: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (place, query) in chart_queries(&objects) {
        let names = metric_names(&query);
        assert!(!names.is_empty(), "{place} selects no metric: {query}");
        for name in names {
            used.entry(name).or_default().push(place.clone());
        }
    }

    let (env, controller, recipients) = Env::with_controller().await;
    provoke_failures(&env, &controller, &recipients).await;
    let (status, text) = controller.get("/metrics");
    assert_eq!(status, 200);
    let exported = exported(&text);
    let unknown: Vec<String> = used
        .iter()
        .filter(|(n, _)| !exported.contains(*n))
        .map(|(n, at)| format!("{n} (in {})", at.join(", ")))
        .collect();
    assert!(unknown.is_empty(), "the chart queries metrics the controller does not export: {unknown:?}\n{text}");
    // The six the chart is about, so that an extraction gone blind cannot pass.
    for name in [
        "gitseal_unseal_failures_total",
        "gitseal_leader",
        "gitseal_keys",
        "gitseal_published_key_created_timestamp_seconds",
        "gitseal_key_rotation_failures_total",
    ] {
        assert!(used.contains_key(name), "{name} not used: {used:?}");
    }
    assert!(used.contains_key("gitseal_reconcile_duration_seconds_bucket"), "{used:?}");
}

#[test]
fn the_charts_default_rotation_period_is_the_controllers() {
    let Some(helm) = Helm::build().unwrap() else {
        return eprintln!("note: Go not installed; helm was not built, the chart's default period not checked");
    };
    let objects = helm.template("gitseal", CONTROLLER_NS, &["--set", "prometheusRule.enabled=true"]).unwrap();
    let rule = find(&objects, "PrometheusRule", "gitseal-controller").unwrap();
    let rules = rule["spec"]["groups"].as_array().unwrap().iter().flat_map(|g| g["rules"].as_array().unwrap());
    let key_age = rules.into_iter().find(|r| r["alert"] == "GitsealKeyOlderThanRotationPeriod").unwrap();
    // `time() - max(…) > <period in seconds>`
    let expr = key_age["expr"].as_str().unwrap();
    let seconds: u64 = expr.rsplit("> ").next().unwrap().trim().parse().unwrap();
    let help = Command::new(env!("CARGO_BIN_EXE_gitseal-controller")).arg("--help").output().unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    // The flag's paragraph: its lines up to the next flag's.
    let after = help.split("--key-rotation-period").nth(1).unwrap();
    let flag: Vec<&str> = after.lines().skip(1).take_while(|l| !l.trim_start().starts_with('-')).collect();
    let flag = flag.join("\n");
    let default = flag.split("[default: ").nth(1).and_then(|d| d.split(']').next()).unwrap();
    assert_eq!(period_seconds(default), Some(seconds), "chart assumes {seconds} s; controller: {flag}");
}

/// A period as the controller's flag writes it (`30d`, `720h`, `45m`, `90s`), in seconds.
fn period_seconds(period: &str) -> Option<u64> {
    let (number, unit) = period.split_at(period.find(|c: char| !c.is_ascii_digit())?);
    let unit = match unit {
        "d" => 86_400,
        "h" => 3_600,
        "m" => 60,
        "s" => 1,
        _ => return None,
    };
    number.parse::<u64>().ok()?.checked_mul(unit)
}
