//! charts/gitseal rendered by the real helm (dev/tools/helm/build): it lints; at default values
//! it renders exactly deploy/'s objects, bar the Namespace a chart must not own; every
//! value does what values.yaml says. No cluster needed. Without Go (outside CI) the tests
//! that need helm skip with a note.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests state their expectations by unwrapping

use std::collections::BTreeMap;

use gitseal_test_support::helm::{Helm, chart_dir, read_manifests};
use gitseal_test_support::workspace_root;
use serde_json::{Value, json};

fn helm() -> Option<Helm> {
    let helm = Helm::build().unwrap();
    if helm.is_none() {
        eprintln!("note: Go not installed; helm was not built, charts/gitseal not checked");
    }
    helm
}

/// (apiVersion, kind, namespace, name): what identifies an object in a cluster.
type Key = (String, String, String, String);

fn key(object: &Value) -> Key {
    let text = |pointer: &str| object.pointer(pointer).and_then(Value::as_str).unwrap_or_default().to_owned();
    (text("/apiVersion"), text("/kind"), text("/metadata/namespace"), text("/metadata/name"))
}

fn by_key(objects: Vec<Value>) -> BTreeMap<Key, Value> {
    let count = objects.len();
    let map: BTreeMap<Key, Value> = objects.into_iter().map(|o| (key(&o), o)).collect();
    assert_eq!(map.len(), count, "two objects with the same apiVersion, kind, namespace and name");
    map
}

/// The object without the labels Helm adds to every object of a release, after checking
/// they are there with the values Helm's conventions give them. CRDs come from crds/
/// verbatim and carry none.
fn without_helm_labels(mut object: Value, release: &str) -> Value {
    if object["kind"] == "CustomResourceDefinition" {
        return object;
    }
    let name = format!("{:?}", key(&object));
    let labels = object.pointer_mut("/metadata/labels").and_then(Value::as_object_mut).expect("labels");
    let chart = labels.remove("helm.sh/chart");
    assert!(chart.as_ref().and_then(Value::as_str).is_some_and(|c| c.starts_with("gitseal-")), "{name}: {chart:?}");
    assert_eq!(labels.remove("app.kubernetes.io/managed-by"), Some(json!("Helm")), "{name}");
    assert_eq!(labels.remove("app.kubernetes.io/instance"), Some(json!(release)), "{name}");
    object
}

/// Where `a` and `b` differ, as `path: a ≠ b` lines.
fn differences(path: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            for k in a.keys().chain(b.keys().filter(|k| !a.contains_key(*k))) {
                let (x, y) = (a.get(k).unwrap_or(&Value::Null), b.get(k).unwrap_or(&Value::Null));
                differences(&format!("{path}/{k}"), x, y, out);
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                differences(&format!("{path}/{i}"), x, y, out);
            }
        }
        _ if a != b => out.push(format!("{path}: {a} ≠ {b}")),
        _ => {}
    }
}

#[test]
fn chart_lints_strictly_with_every_toggle() {
    let Some(helm) = helm() else { return };
    let chart = chart_dir();
    let chart = chart.to_str().unwrap();
    helm.run(&["lint", "--strict", chart]).unwrap();
    let every_toggle = "serviceMonitor.enabled=true,podMonitor.enabled=true,networkPolicy.enabled=true,\
                        prometheusRule.enabled=true,grafanaDashboard.enabled=true";
    helm.run(&["lint", "--strict", chart, "--set", every_toggle]).unwrap();
}

#[test]
fn default_values_render_what_deploy_installs() {
    let Some(helm) = helm() else { return };
    let rendered = helm.template("gitseal", "gitseal-system", &["--include-crds"]).unwrap();
    let chart = by_key(rendered.into_iter().map(|o| without_helm_labels(o, "gitseal")).collect());
    let mut deploy = by_key(read_manifests(&workspace_root().join("deploy")).unwrap());
    // The one object left out on purpose (charts/gitseal/README.md, "Namespace"): Helm
    // cannot create its own release namespace, and uninstalling would delete the key ring.
    let namespace = ("v1".into(), "Namespace".into(), String::new(), "gitseal-system".into());
    assert!(deploy.remove(&namespace).is_some(), "deploy/ no longer creates Namespace gitseal-system");

    let only_deploy: Vec<_> = deploy.keys().filter(|k| !chart.contains_key(*k)).collect();
    let only_chart: Vec<_> = chart.keys().filter(|k| !deploy.contains_key(*k)).collect();
    assert!(
        only_deploy.is_empty() && only_chart.is_empty(),
        "only in deploy/: {only_deploy:?}\nonly in the chart: {only_chart:?}"
    );
    let mut differ = Vec::new();
    for (k, expected) in &deploy {
        let mut lines = Vec::new();
        differences("", expected, &chart[k], &mut lines);
        differ.extend(lines.into_iter().map(|l| format!("{} {}: {l}", k.1, k.3)));
    }
    assert!(differ.is_empty(), "deploy/ ≠ chart at default values:\n{}", differ.join("\n"));
}

#[test]
fn readmes_label_the_release_namespace_as_deploy_does() {
    let namespace = &read_manifests(&workspace_root().join("deploy")).unwrap()[0];
    assert_eq!(namespace["kind"], "Namespace");
    let labels = namespace["metadata"]["labels"].as_object().unwrap();
    let pod_security: Vec<String> = labels
        .iter()
        .filter(|(k, _)| k.starts_with("pod-security.kubernetes.io/"))
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap()))
        .collect();
    assert_eq!(pod_security.len(), 3, "{labels:?}");
    for readme in [chart_dir().join("README.md"), workspace_root().join("README.md")] {
        let text = std::fs::read_to_string(&readme).unwrap();
        for label in &pod_security {
            assert!(text.contains(label.as_str()), "{} does not label the namespace {label}", readme.display());
        }
    }
}

#[test]
fn chart_app_version_is_the_workspace_version() {
    let cargo = std::fs::read_to_string(workspace_root().join("Cargo.toml")).unwrap();
    let package = cargo.split("[workspace.package]").nth(1).unwrap();
    let version = package.lines().find_map(|l| l.strip_prefix("version = ")).unwrap().trim_matches('"');
    let chart: Value =
        serde_saphyr::from_str(&std::fs::read_to_string(chart_dir().join("Chart.yaml")).unwrap()).unwrap();
    assert_eq!(chart["appVersion"], version, "Chart.yaml appVersion ≠ the workspace version in Cargo.toml");
}

/// Dotted paths of the keys that a `# --` comment documents in values.yaml (helm-docs'
/// convention), read line by line since YAML parsers drop comments.
fn documented_values(text: &str) -> Vec<String> {
    let (mut stack, mut documented, mut commented): (Vec<(usize, String)>, Vec<String>, bool) = (vec![], vec![], false);
    for line in text.lines() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        if trimmed.starts_with("# --") {
            commented = true;
        } else if trimmed.starts_with('#') {
            // a comment's continuation keeps the state
        } else if let Some((name, _)) = trimmed.split_once(':').filter(|_| !trimmed.starts_with('-')) {
            stack.retain(|(i, _)| *i < indent);
            let path: Vec<&str> = stack.iter().map(|(_, k)| k.as_str()).chain([name]).collect();
            if commented {
                documented.push(path.join("."));
            }
            stack.push((indent, name.to_owned()));
            commented = false;
        } else if trimmed.is_empty() {
            commented = false;
        }
    }
    documented
}

/// Dotted paths of the values' leaves: scalars, lists and empty maps.
fn leaves(prefix: &str, value: &Value, out: &mut Vec<String>) {
    match value.as_object() {
        Some(map) if !map.is_empty() => {
            for (k, v) in map {
                leaves(&if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") }, v, out);
            }
        }
        _ => out.push(prefix.to_owned()),
    }
}

#[test]
fn every_value_is_documented_in_values_yaml_and_the_readme() {
    let text = std::fs::read_to_string(chart_dir().join("values.yaml")).unwrap();
    let documented = documented_values(&text);
    let mut all = Vec::new();
    leaves("", &serde_saphyr::from_str(&text).unwrap(), &mut all);
    for leaf in &all {
        let covered = documented.iter().any(|d| leaf == d || leaf.starts_with(&format!("{d}.")));
        assert!(covered, "values.yaml: {leaf} has no `# --` comment (nor has a map above it)");
    }
    let readme = std::fs::read_to_string(chart_dir().join("README.md")).unwrap();
    for value in &documented {
        assert!(readme.contains(&format!("| `{value}` |")), "charts/gitseal/README.md has no row for {value}");
    }
}
