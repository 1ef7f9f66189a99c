//! Namespace-scoped mode on the real API server: the chart rendered with
//! `watchNamespaces` (Roles only in those namespaces, nothing cluster-wide for the
//! controller) and the controller run with `--watch-namespaces` under that RBAC alone.
//!
//! ```text
//!  helm template --set watchNamespaces={a} ──kubectl apply──▶ Roles in home and a
//!  controller --namespace home --watch-namespaces a ──▶ Secret in a; b untouched, no 403s
//! ```
//!
//! Needs helm (dev/tools/helm/build, so Go); without Go it skips with a note, as the chart's
//! tests do.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests state their expectations by unwrapping

mod support;

use std::time::Duration;

use gitseal::SealedSecret;
use gitseal_test_support::helm::Helm;
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use support::{Env, eventually, kubectl, sealed};

/// What a plain control plane can hold: everything the chart renders but what runs Pods.
fn installable(object: &serde_json::Value) -> bool {
    !["Deployment", "PodDisruptionBudget", "Service"].contains(&object["kind"].as_str().unwrap_or_default())
}

#[gitseal_test_support::needs_cluster]
#[tokio::test]
async fn watches_only_its_namespaces_under_roles_there() {
    let Some(helm) = Helm::build().unwrap() else {
        eprintln!("note: Go not installed; helm was not built, namespace-scoped mode not checked");
        return;
    };
    let env = Env::new().await;
    let home = env.cluster.fresh_namespace("scoped").await.unwrap();
    let a = env.cluster.fresh_namespace("scoped-a").await.unwrap();
    let b = env.cluster.fresh_namespace("scoped-b").await.unwrap();
    let watch = format!("watchNamespaces={{{a}}}");
    let objects: Vec<_> =
        helm.template(&home, &home, &["--set", &watch]).unwrap().into_iter().filter(installable).collect();
    assert!(objects.iter().all(|o| o["kind"] != "ClusterRoleBinding"), "namespace-scoped mode binds cluster-wide");
    let list = env.dir.path().join("chart.json");
    std::fs::write(&list, serde_json::json!({"apiVersion": "v1", "kind": "List", "items": objects}).to_string())
        .unwrap();
    kubectl(&["apply", "-f", list.to_str().unwrap()]);

    let kubeconfig = env.dir.path().join("scoped.kubeconfig");
    env.cluster.write_service_account_kubeconfig(&home, "gitseal-controller", &kubeconfig).await.unwrap();
    let ctl = env.start_as(&kubeconfig, &home, "scoped", &["--watch-namespaces", &a]);
    ctl.wait_ready().await;
    let recipients = env.recipients_in(&home).await;
    env.apply(&sealed(&a, "db", &[("k", "in-a")], &recipients)).await;
    env.apply(&sealed(&b, "db", &[("k", "in-b")], &recipients)).await;

    let in_a: Api<Secret> = Api::namespaced(env.client(), &a);
    eventually("the Secret in the watched namespace", || async { in_a.get_opt("db").await.unwrap() }).await;
    // b is not watched: nothing written there, ever. Give the controller time to get it wrong.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let in_b: Api<Secret> = Api::namespaced(env.client(), &b);
    assert!(in_b.get_opt("db").await.unwrap().is_none(), "a Secret was written in the unwatched namespace {b}");
    let sealed_b: Api<SealedSecret> = Api::namespaced(env.client(), &b);
    assert!(sealed_b.get("db").await.unwrap().status.is_none(), "the SealedSecret in {b} got a status");

    let log = ctl.log();
    assert!(!log.to_lowercase().contains("forbidden"), "refused requests (RBAC outside the Roles?):\n{log}");
    assert!(!log.contains(&b), "the log mentions the unwatched namespace {b}:\n{log}");
    assert!(log.lines().filter(|l| l.contains("WARN")).count() <= 2, "warnings in namespace-scoped mode:\n{log}");
    assert!(ctl.terminate().success());
    // The release's cluster-scoped objects (its admission policy, its ClusterRoles) would
    // outlive the namespaces; a failed run's stay for inspection.
    kubectl(&["delete", "--ignore-not-found", "-f", list.to_str().unwrap()]);
}
