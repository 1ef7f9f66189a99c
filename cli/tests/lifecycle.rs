//! The key lifecycle end to end, with the real controller under deploy/'s RBAC: seal with
//! key 1 → rotate → new seals use key 2, old ones still unseal → retiring key 1 refused →
//! reseal the directory → apply → retire key 1 → all still unsealed → export → the key
//! ring lost → import → all unsealed again.

#![allow(clippy::unwrap_used)] // tests state their expectations by unwrapping

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use gitseal::SealedSecret;
use gitseal_test_support::local_controller::{LocalController, controller_beside};
use gitseal_test_support::{Cluster, workspace_root};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, ListParams};

const NS: &str = "gitseal-system";

fn run(kubeconfig: &Path, dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gitseal"))
        .args(args)
        .current_dir(dir)
        .env("KUBECONFIG", kubeconfig)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn ok(kubeconfig: &Path, dir: &Path, args: &[&str]) -> String {
    let out = run(kubeconfig, dir, args);
    assert!(out.status.success(), "gitseal {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn kubectl(args: &[&str]) {
    let out = Command::new(workspace_root().join("dev/cluster/kubectl")).args(args).output().unwrap();
    assert!(out.status.success(), "kubectl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

async fn eventually<F: Fn() -> Fut, Fut: std::future::Future<Output = bool>>(what: &str, probe: F) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !probe().await {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn reasons(api: &Api<SealedSecret>) -> Vec<String> {
    let list = api.list(&ListParams::default()).await.unwrap();
    list.items
        .iter()
        .map(|s| {
            let ready = s.status.as_ref().and_then(|st| st.conditions.iter().find(|c| c.type_ == "Ready"));
            let current = ready.is_some_and(|c| c.observed_generation == s.metadata.generation);
            if current { ready.map(|c| c.reason.clone()).unwrap_or_default() } else { String::new() }
        })
        .collect()
}

async fn all_unsealed(api: &Api<SealedSecret>, n: usize) -> bool {
    let r = reasons(api).await;
    r.len() == n && r.iter().all(|x| x == "Unsealed")
}

fn controller(cluster_dir: &Path, sa_kubeconfig: &Path) -> LocalController {
    let bin = controller_beside(Path::new(env!("CARGO_BIN_EXE_gitseal")));
    LocalController::start(&bin, NS, "lifecycle", sa_kubeconfig, &cluster_dir.join("controller.log"), &[]).unwrap()
}

fn key_id_line(list_json: &str, state: &str) -> String {
    let keys: serde_json::Value = serde_json::from_str(list_json).unwrap();
    keys.as_array().unwrap().iter().find(|k| k["state"] == state).unwrap()["id"].as_str().unwrap().to_owned()
}

#[gitseal_test_support::needs_cluster]
#[tokio::test]
async fn rotate_reseal_retire_export_import() {
    let cluster = Cluster::connect().await.expect("the local control plane (dev/cluster/up)");
    let admin = cluster.kubeconfig_path().to_path_buf();
    kubectl(&["apply", "-R", "-f", workspace_root().join("deploy").to_str().unwrap()]);
    let secrets_system: Api<Secret> = Api::namespaced(cluster.client(), NS);
    let no_keys = || async {
        let l = secrets_system.list_metadata(&ListParams::default().labels("gitseal.dev/key=true")).await.unwrap();
        l.items.is_empty()
    };
    let wipe = || async {
        let keys = ListParams::default().labels("gitseal.dev/key=true");
        secrets_system.delete_collection(&DeleteParams::default(), &keys).await.unwrap();
        let published: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(cluster.client(), NS);
        let _ = published.delete("gitseal-public-keys", &DeleteParams::default()).await;
    };
    wipe().await;
    eventually("an empty key ring", no_keys).await;
    let work = tempfile::tempdir().unwrap();
    let repo: PathBuf = work.path().join("repo");
    std::fs::create_dir_all(repo.join("apps")).unwrap();
    std::fs::create_dir(repo.join(".git")).unwrap(); // the repository root: its files apply below
    let sa = work.path().join("controller.kubeconfig");
    cluster.write_service_account_kubeconfig(NS, "gitseal-controller", &sa).await.unwrap();
    let mut ctl = Some(controller(work.path(), &sa));

    // Key 1, plus an offline break-glass key, committed as the repository's recipients.
    let glass = ok(&admin, work.path(), &["keygen", "-w", "glass.txt"]);
    eventually("key 1 published", || {
        let good = run(&admin, &repo, &["fetch-key"]).status.success();
        async move { good }
    })
    .await;
    let fetched = ok(&admin, &repo, &["fetch-key"]);
    std::fs::write(repo.join(".gitseal-recipients"), format!("{fetched}{glass}")).unwrap();
    let ns = cluster.fresh_namespace("lifecycle").await.unwrap();
    let sealed_api: Api<SealedSecret> = Api::namespaced(cluster.client(), &ns);
    let create = |name: &str, file: &str| {
        ok(&admin, &repo, &["create", name, "-n", &ns, "--from-literal", &format!("password={name}-v1"), "-w", file]);
        kubectl(&["apply", "-f", repo.join(file).to_str().unwrap()]);
    };
    // db.yaml also holds another object, which reseal must leave exactly as it is.
    ok(&admin, &repo, &["create", "db", "-n", &ns, "--from-literal", "password=db-v1", "-w", "apps/db.yaml"]);
    let config = format!(
        "# the app's config, kept as written\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: db-config, namespace: {ns}}}\ndata: {{mode: 'fast'}}\n---\n"
    );
    let sealed_db = std::fs::read_to_string(repo.join("apps/db.yaml")).unwrap();
    std::fs::write(repo.join("apps/db.yaml"), format!("{config}{sealed_db}")).unwrap();
    kubectl(&["apply", "-f", repo.join("apps/db.yaml").to_str().unwrap()]);
    eventually("db unsealed with key 1", || all_unsealed(&sealed_api, 1)).await;
    let key1 = key_id_line(&ok(&admin, &repo, &["keys", "list", "-o", "json"]), "published");

    // Rotate: key 2 is published at once; new seals use it; db (key 1) still unseals.
    ok(&admin, &repo, &["rotate", "--reason", "lifecycle test"]);
    let key2 = key_id_line(&ok(&admin, &repo, &["keys", "list", "-o", "json"]), "published");
    assert_ne!(key1, key2);
    let fetched = ok(&admin, &repo, &["fetch-key"]);
    assert!(fetched.contains(&key2));
    std::fs::write(repo.join(".gitseal-recipients"), format!("{fetched}{glass}")).unwrap();
    create("web", "apps/web.yaml");
    assert!(std::fs::read_to_string(repo.join("apps/web.yaml")).unwrap().contains(&key2));
    eventually("db and web unsealed", || all_unsealed(&sealed_api, 2)).await;

    // Key 1 cannot be retired while db depends on it alone.
    let refused = run(&admin, &repo, &["keys", "retire", &key1]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains(&format!("{ns}/db")));

    // Reseal the directory: db moves to key 2 and keeps the break-glass key; web is
    // already current and left alone; a file the cluster cannot open fails the run and
    // stays as it was.
    let web_before = std::fs::read(repo.join("apps/web.yaml")).unwrap();
    let stranger = ok(&admin, work.path(), &["keygen", "-w", "stranger.txt"]);
    ok(
        &admin,
        &repo,
        &["create", "foreign", "-n", &ns, "--from-literal", "k=v", "-r", stranger.trim(), "-w", "apps/foreign.yaml"],
    );
    let foreign_before = std::fs::read(repo.join("apps/foreign.yaml")).unwrap();
    let failed = run(&admin, &repo, &["reseal", "apps"]);
    assert_eq!(failed.status.code(), Some(1), "{}", String::from_utf8_lossy(&failed.stderr));
    assert!(String::from_utf8_lossy(&failed.stderr).contains("foreign.yaml"));
    assert_eq!(std::fs::read(repo.join("apps/foreign.yaml")).unwrap(), foreign_before);
    std::fs::remove_file(repo.join("apps/foreign.yaml")).unwrap();
    let db = std::fs::read_to_string(repo.join("apps/db.yaml")).unwrap();
    assert!(db.contains(&key2) && !db.contains(&key1), "{db}");
    assert!(db.starts_with(&config), "the ConfigMap document is untouched: {db}");
    assert_eq!(std::fs::read(repo.join("apps/web.yaml")).unwrap(), web_before, "unchanged file left alone");
    let by_glass =
        ok(&admin, &repo, &["unseal", "-i", work.path().join("glass.txt").to_str().unwrap(), "-f", "apps/db.yaml"]);
    assert!(by_glass.contains("password:"), "the break-glass key still opens the resealed value");
    kubectl(&["apply", "-f", repo.join("apps/db.yaml").to_str().unwrap()]);
    eventually("resealed db unsealed", || all_unsealed(&sealed_api, 2)).await;

    // Now key 1 retires, and everything still unseals.
    ok(&admin, &repo, &["keys", "retire", &key1]);
    tokio::time::sleep(Duration::from_secs(2)).await;
    eventually("all unsealed after retiring key 1", || all_unsealed(&sealed_api, 2)).await;

    // Key 1 leaked and is retired; a recipients file that still lists it never gets it
    // back into a value: the re-seal drops it and says so.
    let list: serde_json::Value = serde_json::from_str(&ok(&admin, &repo, &["keys", "list", "-o", "json"])).unwrap();
    let recipient_of = |id: &str| {
        let keys = list.as_array().unwrap();
        keys.iter().find(|k| k["id"] == id).unwrap()["recipient"].as_str().unwrap().to_owned()
    };
    let (leaked, current) = (recipient_of(&key1), recipient_of(&key2));
    std::fs::write(repo.join("stale-recipients"), format!("{leaked}\n{glass}")).unwrap();
    let both = ["-r", current.as_str(), "-r", leaked.as_str()];
    let create_args =
        [&["create", "leaky", "-n", &ns, "--from-literal", "k=v", "-w", "apps/leaky.yaml"][..], &both].concat();
    ok(&admin, &repo, &create_args);
    let out = run(&admin, &repo, &["reseal", "-R", "stale-recipients", "apps"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains(&format!("no longer sealed to {key1}: the cluster retired it")), "{said}");
    let leaky = std::fs::read_to_string(repo.join("apps/leaky.yaml")).unwrap();
    assert!(leaky.contains(&key2) && !leaky.contains(&key1), "{leaky}");
    std::fs::remove_file(repo.join("apps/leaky.yaml")).unwrap();

    // Disaster recovery: export to an administrator, lose the ring, import.
    let admin_key = ok(&admin, work.path(), &["keygen", "-w", "admin.txt"]);
    ok(&admin, work.path(), &["keys", "export", "--to", admin_key.trim(), "-w", "ring.age"]);
    drop(ctl.take());
    wipe().await;
    eventually("the ring is gone", no_keys).await;
    ctl = Some(controller(work.path(), &sa));
    eventually("a fresh key and nothing unseals", || async {
        let r = reasons(&sealed_api).await;
        r.len() == 2 && r.iter().all(|x| x == "NoMatchingKey")
    })
    .await;
    let expect: Vec<&str> = [key1.as_str(), key2.as_str()].iter().flat_map(|id| ["--expect-key", id]).collect();
    ok(&admin, work.path(), &[&["keys", "import", "-i", "admin.txt", "ring.age"][..], &expect].concat());
    eventually("all unsealed again after import", || all_unsealed(&sealed_api, 2)).await;
    drop(ctl);
}
