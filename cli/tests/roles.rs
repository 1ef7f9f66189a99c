//! deploy/'s key-lifecycle roles, one per task, against the real API server's authorizer:
//! three ServiceAccounts, each bound to exactly one task role, ask what they may do; then
//! the CLI, run as them, does its task or names the role it lacks.
//!
//! ```text
//!  kubectl apply -R -f deploy ──▶ RoleBinding (gitseal-system) per account
//!                                 (+ ClusterRoleBinding where the task needs it)
//!  account ──SelfSubjectAccessReview──▶ allowed? ── may: yes, may not: no
//!  account ──gitseal rotate / keys export / keys retire──▶ done, or "bind the Role …"
//! ```
//!
//! No controller runs: the authorizer answers every question here.

#![allow(clippy::unwrap_used)] // tests state their expectations by unwrapping

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use gitseal_test_support::{Cluster, workspace_root};
use k8s_openapi::api::authorization::v1::{ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Client;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, PostParams};

const NS: &str = "gitseal-system";
const DEPENDENTS_READER: &str = "gitseal-key-dependents-reader";

/// One question for the authorizer: may the account `verb` `resource`, in gitseal-system
/// or (`namespace: None`) in every namespace?
#[derive(Clone, Copy, Debug)]
struct Access {
    verb: &'static str,
    group: &'static str,
    resource: &'static str,
    namespace: Option<&'static str>,
}

const fn secrets(verb: &'static str) -> Access {
    Access { verb, group: "", resource: "secrets", namespace: Some(NS) }
}

const fn requests(verb: &'static str, resource: &'static str) -> Access {
    Access { verb, group: "gitseal.dev", resource, namespace: Some(NS) }
}

const fn sealed_everywhere(verb: &'static str) -> Access {
    Access { verb, group: "gitseal.dev", resource: "sealedsecrets", namespace: None }
}

/// A ServiceAccount bound to exactly one task role, and what that must and must not allow.
struct Task {
    account: &'static str,
    role: &'static str,
    /// Also bound to the ClusterRole gitseal-key-dependents-reader (`keys retire` needs it).
    dependents: bool,
    may: &'static [Access],
    may_not: &'static [Access],
}

const TASKS: [Task; 3] = [
    Task {
        account: "rotator",
        role: "gitseal-key-rotator",
        dependents: false,
        may: &[requests("create", "keyrotations"), requests("get", "keyrotations")],
        may_not: &[
            secrets("get"),
            secrets("list"),
            secrets("watch"),
            requests("create", "resealrequests"),
            sealed_everywhere("list"),
        ],
    },
    Task {
        account: "resealer",
        role: "gitseal-resealer",
        dependents: false,
        may: &[
            requests("create", "resealrequests"),
            requests("get", "resealrequests"),
            requests("delete", "resealrequests"),
        ],
        may_not: &[
            secrets("get"),
            secrets("list"),
            secrets("watch"),
            requests("create", "keyrotations"),
            sealed_everywhere("list"),
        ],
    },
    Task {
        account: "custodian",
        role: "gitseal-key-custodian",
        dependents: true,
        // get: stock-tool recovery reads one key Secret by name (README).
        may: &[secrets("list"), secrets("get"), secrets("create"), secrets("patch"), sealed_everywhere("list")],
        // No command updates or deletes a key Secret.
        may_not: &[
            secrets("watch"),
            secrets("update"),
            secrets("delete"),
            requests("create", "keyrotations"),
            requests("create", "resealrequests"),
            sealed_everywhere("create"),
            sealed_everywhere("delete"),
        ],
    },
];

fn kubectl(args: &[&str]) {
    let out = Command::new(workspace_root().join("dev/cluster/kubectl")).args(args).output().unwrap();
    assert!(out.status.success(), "kubectl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn gitseal(kubeconfig: &Path, dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gitseal"))
        .args(args)
        .current_dir(dir)
        .env("KUBECONFIG", kubeconfig)
        .env_remove("GITSEAL_CONTROLLER_NAMESPACE")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn refused(out: &Output, role: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("not allowed") && stderr.contains(&format!("bind the Role {role}")), "{stderr}");
}

async fn allowed(client: &Client, access: Access) -> bool {
    let review = SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                namespace: access.namespace.map(Into::into),
                verb: Some(access.verb.into()),
                group: Some(access.group.into()),
                resource: Some(access.resource.into()),
                ..ResourceAttributes::default()
            }),
            ..SelfSubjectAccessReviewSpec::default()
        },
        ..SelfSubjectAccessReview::default()
    };
    let api = Api::<SelfSubjectAccessReview>::all(client.clone());
    let answer = api.create(&PostParams::default(), &review).await.unwrap();
    answer.status.is_some_and(|s| s.allowed)
}

fn binding_meta(name: &str, namespace: Option<&str>) -> ObjectMeta {
    ObjectMeta { name: Some(name.into()), namespace: namespace.map(Into::into), ..ObjectMeta::default() }
}

/// Binds `task`'s account (in namespace `home`) to its role, and to the dependents reader
/// where the task needs it. Bindings are named after `home`, so runs never collide.
async fn bind(cluster: &Cluster, home: &str, task: &Task) {
    let subject = Subject {
        kind: "ServiceAccount".into(),
        name: task.account.into(),
        namespace: Some(home.into()),
        ..Subject::default()
    };
    let name = format!("{home}-{}", task.account);
    let role_ref = |kind: &str, role: &str| RoleRef {
        api_group: "rbac.authorization.k8s.io".into(),
        kind: kind.into(),
        name: role.into(),
    };
    let binding = RoleBinding {
        metadata: binding_meta(&name, Some(NS)),
        role_ref: role_ref("Role", task.role),
        subjects: Some(vec![subject.clone()]),
    };
    Api::<RoleBinding>::namespaced(cluster.client(), NS).create(&PostParams::default(), &binding).await.unwrap();
    if task.dependents {
        let binding = ClusterRoleBinding {
            metadata: binding_meta(&name, None),
            role_ref: role_ref("ClusterRole", DEPENDENTS_READER),
            subjects: Some(vec![subject]),
        };
        Api::<ClusterRoleBinding>::all(cluster.client()).create(&PostParams::default(), &binding).await.unwrap();
    }
}

async fn unbind(cluster: &Cluster, home: &str, task: &Task) {
    let name = format!("{home}-{}", task.account);
    let _ = Api::<RoleBinding>::namespaced(cluster.client(), NS).delete(&name, &DeleteParams::default()).await;
    let _ = Api::<ClusterRoleBinding>::all(cluster.client()).delete(&name, &DeleteParams::default()).await;
}

/// Waits until every grant of `task` has reached the authorizer (it reads RBAC objects
/// from an informer cache), then checks each refusal.
async fn check(client: &Client, task: &Task) {
    let deadline = Instant::now() + Duration::from_secs(30);
    for &access in task.may {
        while !allowed(client, access).await {
            assert!(Instant::now() < deadline, "{} ({}) may not {access:?}", task.account, task.role);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    for &access in task.may_not {
        assert!(!allowed(client, access).await, "{} ({}) may {access:?}", task.account, task.role);
    }
}

#[gitseal_test_support::needs_cluster]
#[tokio::test]
async fn each_key_task_role_grants_that_task_only() {
    let cluster = Cluster::connect().await.expect("the local control plane (dev/cluster/up)");
    kubectl(&["apply", "-R", "-f", workspace_root().join("deploy").to_str().unwrap()]);
    for task in &TASKS {
        let found = Api::<Role>::namespaced(cluster.client(), NS).get_opt(task.role).await.unwrap();
        assert!(found.is_some(), "deploy/30-rbac.yaml has no Role {NS}/{}", task.role);
    }
    let found = Api::<ClusterRole>::all(cluster.client()).get_opt(DEPENDENTS_READER).await.unwrap();
    assert!(found.is_some(), "deploy/30-rbac.yaml has no ClusterRole {DEPENDENTS_READER}");

    let home = cluster.fresh_namespace("roles").await.unwrap();
    for task in &TASKS {
        bind(&cluster, &home, task).await;
    }
    for task in &TASKS {
        let client = cluster.service_account_client(&home, task.account).await.unwrap();
        check(&client, task).await;
    }

    // The CLI as each account: the rotator rotates, the custodian reads the ring, and another
    // task's command is refused with the name of the role it needs.
    kubectl(&["wait", "--for=condition=Established", "crd/keyrotations.gitseal.dev", "--timeout=60s"]);
    let work = tempfile::tempdir().unwrap();
    let config = |account: &str| work.path().join(format!("{account}.kubeconfig"));
    for task in &TASKS {
        cluster.write_service_account_kubeconfig(&home, task.account, &config(task.account)).await.unwrap();
    }
    let dir = work.path();
    let admin_key = gitseal(cluster.kubeconfig_path(), dir, &["keygen", "-w", "admin.txt"]);
    let admin_key = String::from_utf8(admin_key.stdout).unwrap();

    let rotated = gitseal(&config("rotator"), dir, &["rotate", "--wait", "0", "--reason", "roles test"]);
    let stdout = String::from_utf8_lossy(&rotated.stdout);
    assert!(rotated.status.success(), "{}", String::from_utf8_lossy(&rotated.stderr));
    // No controller here; cancel the request so a later controller does not carry it out.
    let request = stdout.split_whitespace().find_map(|w| w.strip_prefix(&format!("{NS}/"))).unwrap();
    let resource =
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("gitseal.dev", "v1", "KeyRotation"), "keyrotations");
    let rotations = Api::<DynamicObject>::namespaced_with(cluster.client(), NS, &resource);
    rotations.delete(request, &DeleteParams::default()).await.unwrap();
    let export = ["keys", "export", "--to", admin_key.trim(), "-w", "ring.age"];
    refused(&gitseal(&config("rotator"), dir, &export), "gitseal-key-custodian");

    refused(&gitseal(&config("resealer"), dir, &export), "gitseal-key-custodian");
    refused(&gitseal(&config("resealer"), dir, &["rotate", "--wait", "0"]), "gitseal-key-rotator");
    assert!(!dir.join("ring.age").exists());

    // The custodian reads the ring (no such key in it), and may not rotate.
    let retire = gitseal(&config("custodian"), dir, &["keys", "retire", "ffffffffffffffff"]);
    let stderr = String::from_utf8_lossy(&retire.stderr);
    assert!(stderr.contains("no key ffffffffffffffff in namespace gitseal-system"), "{stderr}");
    refused(&gitseal(&config("custodian"), dir, &["rotate", "--wait", "0"]), "gitseal-key-rotator");

    for task in &TASKS {
        unbind(&cluster, &home, task).await;
    }
    cluster.delete_namespace(&home).await.unwrap();
}
