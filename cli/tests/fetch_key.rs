//! `gitseal fetch-key` against the local control plane: any authenticated user reads the
//! published recipients (deploy/ grants it), and the output seals directly.

#![allow(clippy::unwrap_used)] // tests state their expectations by unwrapping

use std::process::Command;

use gitseal_test_support::{Cluster, workspace_root};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};

const RECIPIENT: &str = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";

fn gitseal(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_gitseal")).args(args).output().unwrap()
}

#[gitseal_test_support::needs_cluster]
#[tokio::test]
async fn any_authenticated_user_fetches_the_published_key() {
    let cluster = Cluster::connect().await.expect("the local control plane (dev/cluster/up)");
    let status = Command::new(workspace_root().join("dev/cluster/kubectl"))
        .args(["apply", "-f"])
        .arg(workspace_root().join("deploy/00-namespace.yaml"))
        .arg("-f")
        .arg(workspace_root().join("deploy/30-rbac.yaml"))
        .status()
        .unwrap();
    assert!(status.success());
    // What the controller publishes; written here as admin so no controller is needed.
    let published = serde_json::json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "gitseal-public-keys"},
        "data": {"recipients.txt": format!("# gitseal key cf7e568231315068\n{RECIPIENT}\n")},
    });
    let api: Api<ConfigMap> = Api::namespaced(cluster.client(), "gitseal-system");
    api.patch("gitseal-public-keys", &PatchParams::apply("gitseal-controller").force(), &Patch::Apply(&published))
        .await
        .unwrap();

    // A ServiceAccount with no role of its own: only system:authenticated's grant applies.
    let ns = cluster.fresh_namespace("fetch").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("nobody.kubeconfig");
    cluster.write_service_account_kubeconfig(&ns, "nobody", &kubeconfig).await.unwrap();
    let out = gitseal(&["fetch-key", "--kubeconfig", kubeconfig.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    // Each recipient named for the context it came from, for verify, inspect and unseal.
    assert!(text.lines().any(|l| l == RECIPIENT), "{text}");
    assert!(
        text.lines().next().is_some_and(|l| l.starts_with("# ") && l.contains(":nobody@")),
        "named for the context: {text}"
    );

    let recipients = dir.path().join("recipients");
    std::fs::write(&recipients, &text).unwrap();
    let sealed = Command::new(env!("CARGO_BIN_EXE_gitseal"))
        .args(["seal", "--raw", "--scope", "cluster-wide", "--key", "k", "--from-file", "/etc/hostname", "-R"])
        .arg(&recipients)
        .output()
        .unwrap();
    assert!(sealed.status.success(), "{}", String::from_utf8_lossy(&sealed.stderr));

    // The same user may read nothing else there, and a wrong namespace says what to check.
    let out = gitseal(&["fetch-key", "--kubeconfig", kubeconfig.to_str().unwrap(), "--controller-namespace", &ns]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("{ns}/gitseal-public-keys")), "{err}");
}
