//! The GitOps loop for real, driven only by commits as a user works: a repository on a Git
//! server (`git http-backend` over smart HTTP), the real Flux source-controller and
//! kustomize-controller pulling it, and the real gitseal-controller under deploy/'s RBAC.
//! The GitRepository, the Kustomization and the Argo CD health check are read from
//! docs/gitops.md, so the page says what was tested.
//!
//! One story, in the order a team lives it: first commit (the Kustomization is healthy
//! only once the Secret exists), `gitseal set` + commit, `git revert`, a value sealed to
//! another cluster's key (health fails with gitseal's reason), an overlay that renames a
//! strict SealedSecret (`gitseal verify` and the controller both say so), the Git server
//! and the controller down while a change is pushed, and the file removed (pruned, the
//! Secret with it). Each time from push to Secret is printed.

#![allow(clippy::unwrap_used)] // tests state their expectations by unwrapping

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use gitseal_test_support::flux::{Component, Flux};
use gitseal_test_support::git_server::{GitServer, init_bare};
use gitseal_test_support::helm::parse_manifests;
use gitseal_test_support::local_controller::{LocalController, controller_beside};
use gitseal_test_support::lua::{Health, Lua};
use gitseal_test_support::{Cluster, workspace_root};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind};
use serde_json::{Value, json};

const CONTROLLER_NS: &str = "gitseal-system";
/// Longest wait for one step of the loop (Flux's intervals here are seconds).
const STEP: Duration = Duration::from_secs(90);

/// gitseal-controller under deploy/'s ServiceAccount, watching only the test's namespace.
fn start_controller(sa_kubeconfig: &Path, namespace: &str, log: &Path) -> LocalController {
    let bin = controller_beside(Path::new(env!("CARGO_BIN_EXE_gitseal")));
    LocalController::start(&bin, CONTROLLER_NS, "gitops", sa_kubeconfig, log, &["--watch-namespaces", namespace])
        .unwrap()
}

fn gitseal(kubeconfig: &Path, dir: &Path, args: &[&str], stdin: &[u8]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_gitseal"));
    command.args(args).current_dir(dir).env("KUBECONFIG", kubeconfig);
    gitseal_test_support::output_with_stdin(&mut command, stdin).unwrap()
}

fn gitseal_ok(kubeconfig: &Path, dir: &Path, args: &[&str], stdin: &[u8]) -> String {
    let out = gitseal(kubeconfig, dir, args, stdin);
    assert!(out.status.success(), "gitseal {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// A developer's clone: every change is a commit pushed to the server's bare repository.
struct Repo {
    work: PathBuf,
    bare: PathBuf,
}

impl Repo {
    fn git(&self, args: &[&str]) -> String {
        let out = Command::new("git")
            .args(["-c", "user.name=dev", "-c", "user.email=dev@example.com"])
            .args(args)
            .current_dir(&self.work)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    fn write(&self, path: &str, text: &str) {
        let path = self.work.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    /// Commits everything and pushes it; returns the commit's id.
    fn commit(&self, message: &str) -> String {
        self.git(&["add", "-A"]);
        self.git(&["commit", "--quiet", "-m", message]);
        self.push()
    }

    fn push(&self) -> String {
        self.git(&["push", "--quiet", self.bare.to_str().unwrap(), "main"]);
        self.git(&["rev-parse", "HEAD"]).trim().to_owned()
    }
}

fn flux_api(cluster: &Cluster, ns: &str, group: &str, kind: &str, plural: &str) -> Api<DynamicObject> {
    let resource = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, "v1", kind), plural);
    Api::namespaced_with(cluster.client(), ns, &resource)
}

fn sealed_api(cluster: &Cluster, ns: &str) -> Api<DynamicObject> {
    let resource =
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("gitseal.dev", "v1", "SealedSecret"), "sealedsecrets");
    Api::namespaced_with(cluster.client(), ns, &resource)
}

/// The `Ready` condition of an object: (status, reason, message).
fn ready(object: &DynamicObject) -> Option<(String, String, String)> {
    let conditions = object.data["status"]["conditions"].as_array()?;
    let c = conditions.iter().find(|c| c["type"] == "Ready")?;
    let text = |k: &str| c[k].as_str().unwrap_or_default().to_owned();
    Some((text("status"), text("reason"), text("message")))
}

/// The Kustomization's Ready condition, when it is about `revision` (Flux names the
/// commit in `lastAttemptedRevision` as `main@sha1:<id>`).
async fn kustomization_at(api: &Api<DynamicObject>, name: &str, revision: &str) -> Option<(String, String, String)> {
    let k = api.get(name).await.ok()?;
    let attempted = k.data["status"]["lastAttemptedRevision"].as_str().unwrap_or_default();
    if !attempted.ends_with(revision) {
        return None;
    }
    ready(&k)
}

async fn secret_value(api: &Api<Secret>, name: &str, key: &str) -> Option<Vec<u8>> {
    api.get_opt(name).await.ok()??.data?.get(key).map(|v| v.0.clone())
}

/// What a failed wait shows: the ends of Flux's and the controller's logs.
struct Logs<'a> {
    flux: &'a Flux,
    controller: &'a Path,
}

impl std::fmt::Display for Logs<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let controller = std::fs::read_to_string(self.controller).unwrap_or_default();
        let tail: Vec<&str> = controller.lines().rev().take(30).collect();
        write!(f, "{}\n==> gitseal-controller <==\n", self.flux.logs())?;
        tail.iter().rev().try_for_each(|line| writeln!(f, "{line}"))
    }
}

/// Polls `probe` until it returns `Some`, failing with `what` and the logs after
/// [`STEP`]; returns the value and how long it took from `since`.
async fn wait<T, F, Fut>(logs: &Logs<'_>, since: Instant, what: &str, probe: F) -> (T, Duration)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + STEP;
    loop {
        if let Some(value) = probe().await {
            return (value, since.elapsed());
        }
        assert!(Instant::now() < deadline, "timed out waiting for: {what}\n{logs}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The fenced ```yaml block of docs/gitops.md holding `marker`, parsed.
fn documented(marker: &str) -> Vec<Value> {
    let page = std::fs::read_to_string(workspace_root().join("docs/gitops.md")).unwrap();
    let block = page
        .split("```yaml\n")
        .skip(1)
        .map(|rest| rest.split("```").next().unwrap())
        .find(|block| block.contains(marker))
        .unwrap_or_else(|| panic!("docs/gitops.md has no yaml block with {marker}"));
    parse_manifests(block, "docs/gitops.md").unwrap()
}

/// docs/gitops.md's GitRepository and Kustomization, pointed at this test's repository,
/// path and namespace; Flux's intervals shortened so the story takes seconds.
fn engine_objects(ns: &str, url: &str, name: &str, path: &str) -> Vec<Value> {
    let mut objects = documented("kind: Kustomization");
    for object in &mut objects {
        object["metadata"]["namespace"] = json!(ns);
        match object["kind"].as_str().unwrap() {
            "GitRepository" => {
                object["spec"]["url"] = json!(url);
                object["spec"]["interval"] = json!("2s");
            }
            "Kustomization" => {
                object["metadata"]["name"] = json!(name);
                object["spec"]["path"] = json!(path);
                object["spec"]["retryInterval"] = json!("3s");
            }
            other => panic!("unexpected {other} in docs/gitops.md's Flux block"),
        }
    }
    objects
}

fn apply(cluster: &Cluster, objects: &[Value]) {
    for object in objects {
        let out = cluster.kubectl(&["apply", "--server-side", "-f", "-"], object.to_string().as_bytes()).unwrap();
        assert!(out.status.success(), "kubectl apply: {}", String::from_utf8_lossy(&out.stderr));
    }
}

/// The health docs/gitops.md's Argo CD check gives the SealedSecret `name` as it is now.
async fn argo_health(lua: &Lua, api: &Api<DynamicObject>, name: &str) -> Health {
    let script = documented("resource.customizations.health.gitseal.dev_SealedSecret").remove(0)["data"]
        ["resource.customizations.health.gitseal.dev_SealedSecret"]
        .as_str()
        .unwrap()
        .to_owned();
    let object = serde_json::to_value(api.get(name).await.unwrap()).unwrap();
    lua.health(&script, &object).unwrap()
}

#[gitseal_test_support::needs_cluster]
#[tokio::test]
async fn commits_drive_secrets_through_flux() {
    let cluster = Cluster::connect().await.expect("the local control plane (dev/cluster/up)");
    let admin = cluster.kubeconfig_path().to_path_buf();
    let lua = Lua::build().unwrap().expect("Go, to build gopher-lua (dev/tools/lua/build)");
    let deploy =
        cluster.kubectl(&["apply", "-R", "-f", workspace_root().join("deploy").to_str().unwrap()], b"").unwrap();
    assert!(deploy.status.success(), "{}", String::from_utf8_lossy(&deploy.stderr));
    let ns = cluster.fresh_namespace("gitops").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sa = dir.path().join("controller.kubeconfig");
    cluster.write_service_account_kubeconfig(CONTROLLER_NS, "gitseal-controller", &sa).await.unwrap();
    let controller_log = dir.path().join("controller.log");

    // The cluster's published key, committed as the repository's recipients: published
    // afresh by this controller (another test may have left a ConfigMap of its own).
    let published: Api<ConfigMap> = Api::namespaced(cluster.client(), CONTROLLER_NS);
    let _ = published.delete(gitseal::crds::storage::PUBLIC_KEYS_CONFIGMAP, &DeleteParams::default()).await;
    let key = {
        let _controller = start_controller(&sa, &ns, &controller_log);
        let deadline = Instant::now() + STEP;
        loop {
            let out = gitseal(&admin, dir.path(), &["fetch-key"], b"");
            if out.status.success() {
                break String::from_utf8(out.stdout).unwrap();
            }
            assert!(Instant::now() < deadline, "no published key: {}", String::from_utf8_lossy(&out.stderr));
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    let root = dir.path().join("git");
    std::fs::create_dir(&root).unwrap();
    let repo = Repo { work: dir.path().join("work"), bare: init_bare(&root, "apps.git").unwrap() };
    std::fs::create_dir(&repo.work).unwrap();
    repo.git(&["init", "--quiet", "--initial-branch=main"]);
    repo.write("keys/cluster.txt", &key);
    repo.write(
        ".gitseal.yaml",
        &format!("rules:\n  - path: apps/**\n    recipientsFile: keys/cluster.txt\n    namespace: {ns}\n"),
    );
    repo.write("apps/kustomization.yaml", "resources:\n  - db.yaml\n");
    gitseal_ok(&admin, &repo.work, &["create", "db", "--from-literal", "password=v1", "-w", "apps/db.yaml"], b"");
    gitseal_ok(&admin, &repo.work, &["verify", "."], b"");
    let first = repo.commit("db credentials");

    let server = GitServer::start(&root).unwrap();
    let mut flux = Flux::start(&cluster, &ns, &dir.path().join("flux")).await.unwrap();
    let kustomizations = flux_api(&cluster, &ns, "kustomize.toolkit.fluxcd.io", "Kustomization", "kustomizations");
    let repositories = flux_api(&cluster, &ns, "source.toolkit.fluxcd.io", "GitRepository", "gitrepositories");
    let sealed = sealed_api(&cluster, &ns);
    let secrets: Api<Secret> = Api::namespaced(cluster.client(), &ns);

    // 1. First commit, gitseal-controller not running yet: Flux applies the SealedSecret,
    //    but the Kustomization is not healthy until the Secret exists.
    let pushed = Instant::now();
    apply(&cluster, &engine_objects(&ns, &server.url("apps.git"), "apps", "./apps"));
    wait(&Logs { flux: &flux, controller: &controller_log }, pushed, "Flux to apply SealedSecret db", || async {
        sealed.get_opt("db").await.ok()?
    })
    .await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let waiting = kustomizations.get("apps").await.unwrap();
    assert_ne!(ready(&waiting).map(|r| r.0), Some("True".into()), "healthy before any Secret: {:?}", ready(&waiting));
    assert!(secrets.get_opt("db").await.unwrap().is_none());
    let progressing = argo_health(&lua, &sealed, "db").await;
    assert_eq!(progressing.status, "Progressing", "{progressing:?}");
    let started = Instant::now();
    let mut controller = Some(start_controller(&sa, &ns, &controller_log));
    let (_, took) =
        wait(&Logs { flux: &flux, controller: &controller_log }, started, "the Secret of the first commit", || async {
            (secret_value(&secrets, "db", "password").await? == b"v1").then_some(())
        })
        .await;
    eprintln!("first commit: Secret {took:?} after the controller started");
    let (ok, took) = wait(
        &Logs { flux: &flux, controller: &controller_log },
        pushed,
        "the Kustomization healthy at the first commit",
        || async { kustomization_at(&kustomizations, "apps", &first).await.filter(|r| r.0 == "True") },
    )
    .await;
    eprintln!("first commit: Kustomization Ready in {took:?} ({})", ok.2);
    let healthy = argo_health(&lua, &sealed, "db").await;
    assert_eq!(healthy.status, "Healthy", "{healthy:?}");

    // 2. `gitseal set` + commit: the new value; 3. `git revert`: the old one is back.
    gitseal_ok(&admin, &repo.work, &["set", "apps/db.yaml", "password"], b"v2");
    repo.commit("rotate the db password");
    let pushed = Instant::now();
    let (_, took) = wait(&Logs { flux: &flux, controller: &controller_log }, pushed, "the value set", || async {
        (secret_value(&secrets, "db", "password").await? == b"v2").then_some(())
    })
    .await;
    eprintln!("gitseal set + commit: Secret changed {took:?} after the push");
    repo.git(&["revert", "--no-edit", "HEAD"]);
    let reverted = repo.push();
    let pushed = Instant::now();
    let (_, took) = wait(&Logs { flux: &flux, controller: &controller_log }, pushed, "the value reverted", || async {
        (secret_value(&secrets, "db", "password").await? == b"v1").then_some(())
    })
    .await;
    eprintln!("git revert: old value back {took:?} after the push");
    wait(
        &Logs { flux: &flux, controller: &controller_log },
        pushed,
        "the Kustomization healthy at the revert",
        || async { kustomization_at(&kustomizations, "apps", &reverted).await.filter(|r| r.0 == "True") },
    )
    .await;

    // 4. A value sealed to another cluster's key: the health check fails with gitseal's
    //    reason, and Argo CD's check says Degraded.
    let stranger = gitseal_ok(&admin, dir.path(), &["keygen", "-w", "stranger.txt"], b"");
    gitseal_ok(
        &admin,
        &repo.work,
        &["create", "bad", "--from-literal", "k=v", "-r", stranger.trim(), "-w", "apps/bad.yaml"],
        b"",
    );
    repo.write("apps/kustomization.yaml", "resources:\n  - db.yaml\n  - bad.yaml\n");
    let bad = repo.commit("a value for another cluster");
    let pushed = Instant::now();
    let (failed, took) =
        wait(&Logs { flux: &flux, controller: &controller_log }, pushed, "the health check to fail on bad", || async {
            kustomization_at(&kustomizations, "apps", &bad).await.filter(|r| r.0 == "False")
        })
        .await;
    eprintln!("foreign key: Kustomization failed {took:?} after the push: {} {}", failed.1, failed.2);
    assert!(failed.2.contains(&format!("SealedSecret/{ns}/bad")), "{failed:?}");
    let sealed_bad = sealed.get("bad").await.unwrap();
    assert_eq!(ready(&sealed_bad).map(|r| r.1), Some("NoMatchingKey".into()));
    let degraded = argo_health(&lua, &sealed, "bad").await;
    assert_eq!(degraded.status, "Degraded", "{degraded:?}");
    assert!(degraded.message.starts_with("NoMatchingKey: "), "{degraded:?}");
    std::fs::remove_file(repo.work.join("apps/bad.yaml")).unwrap();
    repo.write("apps/kustomization.yaml", "resources:\n  - db.yaml\n");
    let fixed = repo.commit("drop the foreign value");
    let pushed = Instant::now();
    wait(
        &Logs { flux: &flux, controller: &controller_log },
        pushed,
        "bad pruned and the Kustomization healthy again",
        || async {
            let pruned = sealed.get_opt("bad").await.ok()?.is_none();
            kustomization_at(&kustomizations, "apps", &fixed).await.filter(|r| pruned && r.0 == "True")
        },
    )
    .await;

    // 5. An overlay renaming the strict SealedSecret: verify fails naming the overlay; in
    //    the cluster the renamed object says it was probably renamed.
    repo.write("overlays/renamed/kustomization.yaml", "resources:\n  - ../../apps\nnamePrefix: renamed-\n");
    let verify = gitseal(&admin, &repo.work, &["verify", "."], b"");
    let said = String::from_utf8_lossy(&verify.stderr).into_owned() + &String::from_utf8_lossy(&verify.stdout);
    assert_eq!(verify.status.code(), Some(1), "{said}");
    assert!(said.contains("overlays/renamed/kustomization.yaml") && said.contains("renamed-db"), "{said}");
    let renamed = repo.commit("an overlay that renames");
    let overlay = engine_objects(&ns, &server.url("apps.git"), "renamed", "./overlays/renamed");
    apply(&cluster, &overlay.into_iter().filter(|o| o["kind"] == "Kustomization").collect::<Vec<_>>());
    let pushed = Instant::now();
    let (failed, took) =
        wait(&Logs { flux: &flux, controller: &controller_log }, pushed, "renamed-db refused", || async {
            let object = sealed.get_opt("renamed-db").await.ok()??;
            ready(&object).filter(|r| r.0 == "False")
        })
        .await;
    eprintln!("rename: SealedSecret refused {took:?} after apply: {} {}", failed.1, failed.2);
    assert_eq!(failed.1, "ScopeMismatch", "{failed:?}");
    assert!(failed.2.contains("renamed"), "the message says the object was probably renamed: {failed:?}");
    wait(&Logs { flux: &flux, controller: &controller_log }, pushed, "the renaming Kustomization to fail", || async {
        kustomization_at(&kustomizations, "renamed", &renamed).await.filter(|r| r.0 == "False")
    })
    .await;
    kustomizations.delete("renamed", &DeleteParams::default()).await.unwrap();

    // 6. The Git server and the controller down while a change is pushed; Flux restarted
    //    mid-sync: nothing is lost, and the loop converges once they are back.
    let address = server.address();
    server.stop();
    drop(controller.take());
    gitseal_ok(&admin, &repo.work, &["set", "apps/db.yaml", "password"], b"v3");
    let outage = repo.commit("rotate while the server is down");
    wait(
        &Logs { flux: &flux, controller: &controller_log },
        Instant::now(),
        "the GitRepository to report the server down",
        || async {
            let source = repositories.get("apps").await.ok()?;
            ready(&source).filter(|r| r.0 == "False")
        },
    )
    .await;
    assert_eq!(secret_value(&secrets, "db", "password").await.as_deref(), Some(&b"v1"[..]), "unchanged while down");
    let server = GitServer::start_on(&root, address).unwrap();
    flux.restart(Component::Kustomize).await.unwrap();
    let back = Instant::now();
    wait(
        &Logs { flux: &flux, controller: &controller_log },
        back,
        "Flux to apply the change pushed during the outage",
        || async {
            let object = sealed.get_opt("db").await.ok()??;
            let observed = object.data["status"]["observedGeneration"].as_i64();
            (object.metadata.generation != observed).then_some(())
        },
    )
    .await;
    let behind = argo_health(&lua, &sealed, "db").await;
    assert_eq!(behind.status, "Progressing", "a generation the controller has not observed: {behind:?}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_ne!(
        kustomization_at(&kustomizations, "apps", &outage).await.map(|r| r.0),
        Some("True".into()),
        "healthy while the controller is down"
    );
    controller = Some(start_controller(&sa, &ns, &controller_log));
    let (_, took) = wait(
        &Logs { flux: &flux, controller: &controller_log },
        back,
        "the value pushed during the outage",
        || async { (secret_value(&secrets, "db", "password").await? == b"v3").then_some(()) },
    )
    .await;
    eprintln!("outage: Secret changed {took:?} after the server came back");
    wait(
        &Logs { flux: &flux, controller: &controller_log },
        back,
        "the Kustomization healthy after the outage",
        || async { kustomization_at(&kustomizations, "apps", &outage).await.filter(|r| r.0 == "True") },
    )
    .await;

    // 7. The file removed: Flux prunes the SealedSecret, and the Secret goes with it.
    std::fs::remove_file(repo.work.join("apps/db.yaml")).unwrap();
    repo.write("apps/kustomization.yaml", "resources: []\n");
    repo.commit("db no longer needed");
    let pushed = Instant::now();
    let (_, took) = wait(
        &Logs { flux: &flux, controller: &controller_log },
        pushed,
        "the Secret pruned with its SealedSecret",
        || async {
            let gone = sealed.get_opt("db").await.ok()?.is_none() && secrets.get_opt("db").await.ok()?.is_none();
            gone.then_some(())
        },
    )
    .await;
    eprintln!("file removed: SealedSecret and Secret gone {took:?} after the push");
    drop((controller, server, flux));
}
