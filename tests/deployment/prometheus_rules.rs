//! charts/gitseal's PrometheusRule checked by the real promtool (dev/tools/prometheus/build):
//! the rendered rule groups are a valid rule file, and the unit tests in
//! dev/tools/prometheus/*_test.yaml, on synthetic series of the controller's metric names, pass:
//! each alert fires when it should and stays quiet when all is well. A chart alert without
//! both kinds of case fails the test. No cluster needed; without Go (outside CI) the tests
//! skip with a note.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests state their expectations by unwrapping

use std::path::PathBuf;

use gitseal_test_support::helm::Helm;
use gitseal_test_support::prometheus::{
    AlertCases, Promtool, RULE_FILE, alert_names, rule_groups, unit_test_files, workdir,
};
use serde_json::Value;

/// The release namespace the unit tests expect (and the chart's default keyRotationPeriod, 30d).
const NAMESPACE: &str = "gitseal-system";

/// The rendered PrometheusRule's rule groups, or `None` with a note when Go is missing.
fn rendered_rules() -> Option<Value> {
    let Some(helm) = Helm::build().unwrap() else {
        eprintln!("note: Go not installed; helm was not built, the chart's alerts not checked");
        return None;
    };
    let objects = helm.template("gitseal", NAMESPACE, &["--set", "prometheusRule.enabled=true"]).unwrap();
    Some(rule_groups(&objects, "gitseal-controller").expect("PrometheusRule gitseal-controller").clone())
}

fn promtool() -> Option<Promtool> {
    let promtool = Promtool::build().unwrap();
    if promtool.is_none() {
        eprintln!("note: Go not installed; promtool was not built, the chart's alerts not checked");
    }
    promtool
}

fn file_names(files: &[PathBuf]) -> Vec<String> {
    files.iter().map(|f| f.file_name().unwrap().to_string_lossy().into_owned()).collect()
}

#[test]
fn rendered_rules_pass_promtool_check() {
    let (Some(groups), Some(promtool)) = (rendered_rules(), promtool()) else { return };
    let dir = workdir(&groups, &[]).unwrap();
    // --lint-fatal: duplicate rules fail too, not only syntax and invalid PromQL.
    let out = promtool.run(dir.path(), &["check", "rules", "--lint-fatal", RULE_FILE]).unwrap();
    assert!(out.contains(&format!("SUCCESS: {} rules found", alert_names(&groups).len())), "{out}");
}

#[test]
fn alerts_pass_their_unit_tests() {
    let (Some(groups), Some(promtool)) = (rendered_rules(), promtool()) else { return };
    let tests = unit_test_files().unwrap();
    assert!(!tests.is_empty(), "no dev/tools/prometheus/*_test.yaml");
    let dir = workdir(&groups, &tests).unwrap();
    let mut args = vec!["test".to_owned(), "rules".to_owned()];
    args.extend(file_names(&tests));
    if let Err(e) = promtool.run(dir.path(), &args) {
        panic!("the chart's alerts fail their unit tests (dev/tools/prometheus/*_test.yaml):\n{e}");
    }
}

#[test]
fn every_alert_has_a_firing_and_a_quiet_case() {
    let Some(groups) = rendered_rules() else { return };
    let alerts = alert_names(&groups);
    assert!(alerts.len() >= 4, "fewer alerts than the chart's README lists: {alerts:?}");
    let mut cases = AlertCases::default();
    for file in unit_test_files().unwrap() {
        cases.add(&std::fs::read_to_string(&file).unwrap(), &file.display().to_string()).unwrap();
    }
    let missing = |tested: &std::collections::BTreeSet<String>| alerts.difference(tested).cloned().collect::<Vec<_>>();
    assert!(missing(&cases.firing).is_empty(), "no unit test expects these to fire: {:?}", missing(&cases.firing));
    assert!(missing(&cases.quiet).is_empty(), "no unit test expects these to stay quiet: {:?}", missing(&cases.quiet));
    let unknown: Vec<_> = cases.firing.union(&cases.quiet).filter(|a| !alerts.contains(*a)).collect();
    assert!(unknown.is_empty(), "unit tests name alerts the chart does not have: {unknown:?}");
}
