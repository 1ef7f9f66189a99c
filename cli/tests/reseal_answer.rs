//! `gitseal reseal` uses no answer but the one to its own request. Anyone else with the
//! resealer role may delete the request and create one of the same name holding values of
//! their choosing; the controller answers that one as it answers any; the victim must not
//! write that answer into its repository.
//!
//! ```text
//!  victim:   gitseal reseal db.yaml ──create reseal-x (uid A)──▶ polls reseal-x
//!  attacker: delete reseal-x; create reseal-x (uid B) = [value of the attacker's choosing]
//!  controller (started now): answers reseal-x (uid B)
//!  victim:   next read sees uid B ──▶ fails naming reseal-x; db.yaml byte-identical
//! ```
//!
//! No controller runs while the request is swapped (it is started right after), so the
//! swap always lands before any answer: the test is deterministic.

#![allow(clippy::unwrap_used)] // tests state their expectations by unwrapping

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use gitseal::crds::{ResealItem, ResealRequest, ResealRequestSpec};
use gitseal::{Binding, Recipients, Scope, seal_value};
use gitseal_test_support::local_controller::{LocalController, controller_beside};
use gitseal_test_support::{Cluster, workspace_root};
use k8s_openapi::api::rbac::v1::{RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::{Client, ResourceExt};

const NS: &str = "gitseal-system";

fn controller(dir: &Path, kubeconfig: &Path, pod: &str) -> LocalController {
    let bin = controller_beside(Path::new(env!("CARGO_BIN_EXE_gitseal")));
    LocalController::start(&bin, NS, pod, kubeconfig, &dir.join(format!("{pod}.log")), &[]).unwrap()
}

fn gitseal(kubeconfig: &Path, dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_gitseal"));
    command.args(args).current_dir(dir).env("KUBECONFIG", kubeconfig).stdin(Stdio::null());
    command
}

fn ok(kubeconfig: &Path, dir: &Path, args: &[&str]) -> String {
    let out = gitseal(kubeconfig, dir, args).output().unwrap();
    assert!(out.status.success(), "gitseal {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn kubectl(args: &[&str]) {
    let out = Command::new(workspace_root().join("dev/cluster/kubectl")).args(args).output().unwrap();
    assert!(out.status.success(), "kubectl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

async fn bind_resealer(cluster: &Cluster, home: &str, account: &str) {
    let binding = RoleBinding {
        metadata: ObjectMeta { name: Some(format!("{home}-{account}")), ..ObjectMeta::default() },
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "Role".into(),
            name: "gitseal-resealer".into(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name: account.into(),
            namespace: Some(home.into()),
            ..Subject::default()
        }]),
    };
    Api::<RoleBinding>::namespaced(cluster.client(), NS).create(&PostParams::default(), &binding).await.unwrap();
}

/// Waits for `what` for up to a minute.
async fn eventually<T>(what: &str, probe: impl AsyncFnMut() -> Option<T>) -> T {
    gitseal_test_support::poll_until(what, Duration::from_secs(60), Duration::from_millis(20), probe).await
}

/// The attacker's move: the victim's request replaced by one of the same name whose
/// value they chose, sealed to the cluster's key for the victim's own place.
async fn swap(attacker: &Client, before: &BTreeSet<String>, forged: String) -> String {
    let api: Api<ResealRequest> = Api::namespaced(attacker.clone(), NS);
    let victims = eventually("the victim's ResealRequest", async || {
        let list = api.list(&ListParams::default()).await.unwrap();
        list.items.into_iter().find(|r| !before.contains(&r.uid().unwrap_or_default()))
    })
    .await;
    let name = victims.name_any();
    api.delete(&name, &DeleteParams::default()).await.unwrap();
    let mut forged_request = ResealRequest::new(
        &name,
        ResealRequestSpec { recipients: vec![], values: vec![ResealItem { ciphertext: forged, key_ids: vec![] }] },
    );
    forged_request.metadata.namespace = Some(NS.into());
    eventually("the name free again", async || api.create(&PostParams::default(), &forged_request).await.ok()).await;
    name
}

#[gitseal_test_support::needs_cluster]
#[tokio::test]
async fn a_replaced_reseal_request_is_refused_and_nothing_is_written() {
    let cluster = Cluster::connect().await.expect("the local control plane (dev/cluster/up)");
    let admin = cluster.kubeconfig_path().to_path_buf();
    kubectl(&["apply", "-R", "-f", workspace_root().join("deploy").to_str().unwrap()]);
    kubectl(&["wait", "--for=condition=Established", "crd/resealrequests.gitseal.dev", "--timeout=60s"]);
    let work = tempfile::tempdir().unwrap();
    let repo = work.path().join("repo");
    std::fs::create_dir_all(repo.join(".git")).unwrap();
    let sa = work.path().join("controller.kubeconfig");
    cluster.write_service_account_kubeconfig(NS, "gitseal-controller", &sa).await.unwrap();

    // The controller publishes its key, then stops.
    let first = controller(work.path(), &sa, "reseal-answer-1");
    let published = eventually("a published key", async || {
        let out = gitseal(&admin, &repo, &["fetch-key"]).output().unwrap();
        out.status.success().then(|| String::from_utf8(out.stdout).unwrap())
    })
    .await;
    drop(first);
    let published = Recipients::parse_file(&published).unwrap();

    // Two holders of the resealer role: the victim and the attacker.
    let home = cluster.fresh_namespace("reseal-answer").await.unwrap();
    for account in ["victim", "attacker"] {
        bind_resealer(&cluster, &home, account).await;
    }
    let victim_config = work.path().join("victim.kubeconfig");
    cluster.write_service_account_kubeconfig(&home, "victim", &victim_config).await.unwrap();
    let attacker = cluster.service_account_client(&home, "attacker").await.unwrap();

    // The victim's file: sealed to an earlier key, so reseal asks for it.
    let earlier = gitseal::generate_identity().to_public().to_string();
    std::fs::write(work.path().join("pw.txt"), "victim-value").unwrap();
    let value = format!("password={}", work.path().join("pw.txt").display());
    ok(&admin, &repo, &["create", "db", "-n", "app", "-r", &earlier, "--from-file", &value, "-w", "db.yaml"]);
    let before_bytes = std::fs::read(repo.join("db.yaml")).unwrap();
    let binding = Binding::new(Scope::Strict, Some("app"), Some("db"), "password").unwrap();
    let forged = seal_value(b"attacker-chosen", &binding, &Recipients::new(published).unwrap()).unwrap().ciphertext;

    let requests: Api<ResealRequest> = Api::namespaced(attacker.clone(), NS);
    let before: BTreeSet<String> =
        requests.list(&ListParams::default()).await.unwrap().items.iter().filter_map(|r| r.uid()).collect();
    let mut victim = gitseal(&victim_config, &repo, &["reseal", "db.yaml"]);
    let victim = victim.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let name = swap(&attacker, &before, forged).await;
    // The real controller answers the attacker's request, as it would any.
    let second = controller(work.path(), &sa, "reseal-answer-2");
    let out = tokio::task::spawn_blocking(move || victim.wait_with_output().unwrap()).await.unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains(&format!("ResealRequest {NS}/{name}"))
            && (said.contains("replaced by another object") || said.contains("was deleted before")),
        "{said}"
    );
    assert_eq!(std::fs::read(repo.join("db.yaml")).unwrap(), before_bytes, "the file was rewritten");

    // The forged answer really came: it is what the victim would otherwise have written.
    let answered = eventually("the controller's answer to the attacker's request", async || {
        let r = requests.get(&name).await.ok()?;
        r.status.filter(|s| !s.conditions.is_empty() && s.values.iter().all(|v| v.ciphertext.is_some()))
    })
    .await;
    assert_eq!(answered.values.len(), 1);
    drop(second);
    let _ = requests.delete(&name, &DeleteParams::default()).await;
    cluster.delete_namespace(&home).await.unwrap();
}
