//! Shared set-up of the controller's end-to-end tests: the cluster prepared as
//! `kubectl apply -R -f deploy/` leaves it, and the controller run as a process under
//! the `gitseal-controller` ServiceAccount, so deploy/'s RBAC is what is exercised.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use gitseal::{Recipients, Scope, SealedSecret, seal_secret};
use gitseal_test_support::{Cluster, workspace_root};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};

/// The controller's namespace, as deploy/ creates it.
pub const CONTROLLER_NS: &str = "gitseal-system";

/// One controller at a time: every controller watches every SealedSecret, so tests that
/// run one take turns.
static TURN: Mutex<()> = Mutex::new(());

pub struct Env {
    pub cluster: Cluster,
    pub dir: tempfile::TempDir,
    pub kubeconfig: PathBuf,
    _turn: MutexGuard<'static, ()>,
}

impl Env {
    /// Connects, installs the CRD and deploy/, and writes a kubeconfig for the
    /// controller's ServiceAccount.
    // Holding the turn across awaits is the point: each test has its own runtime and
    // thread, and the guard lives as long as the test's Env.
    #[allow(clippy::await_holding_lock)]
    pub async fn new() -> Env {
        let turn = TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let cluster = Cluster::connect().await.expect("the local control plane (dev/cluster/up)");
        cluster.install_crd(&workspace_root().join("crds/sealedsecret.yaml")).await.unwrap();
        kubectl(&["apply", "-R", "-f", workspace_root().join("deploy").to_str().unwrap()]);
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("controller.kubeconfig");
        cluster.write_service_account_kubeconfig(CONTROLLER_NS, "gitseal-controller", &kubeconfig).await.unwrap();
        Env { cluster, dir, kubeconfig, _turn: turn }
    }

    /// An Env with one controller replica running and ready, and its published key.
    pub async fn with_controller() -> (Env, Controller, Recipients) {
        let env = Env::new().await;
        let ctl = env.start("replica-a");
        ctl.wait_ready().await;
        let recipients = env.recipients().await;
        (env, ctl, recipients)
    }

    pub fn client(&self) -> kube::Client {
        self.cluster.client()
    }

    /// Starts a controller replica (it serves once ready; see `wait_ready`).
    pub fn start(&self, name: &str) -> Controller {
        self.start_with(name, &[])
    }

    /// Starts a controller replica with extra flags.
    pub fn start_with(&self, name: &str, extra: &[&str]) -> Controller {
        self.start_as(&self.kubeconfig, CONTROLLER_NS, name, extra)
    }

    /// Starts a controller replica in `namespace`, as the account of `kubeconfig`.
    pub fn start_as(&self, kubeconfig: &std::path::Path, namespace: &str, name: &str, extra: &[&str]) -> Controller {
        let port = free_port();
        let log = self.dir.path().join(format!("{name}.log"));
        let child = Command::new(env!("CARGO_BIN_EXE_gitseal-controller"))
            .args(["--namespace", namespace, "--pod-name", name, "--lease-duration-secs", "6"])
            .arg("--http-addr")
            .arg(format!("127.0.0.1:{port}"))
            .args(extra)
            .env("KUBECONFIG", kubeconfig)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Controller { child, port, log, name: name.to_owned() }
    }

    /// The recipients the controller publishes, as `gitseal fetch-key` reads them.
    pub async fn recipients(&self) -> Recipients {
        self.recipients_in(CONTROLLER_NS).await
    }

    /// The recipients a controller in `namespace` publishes.
    pub async fn recipients_in(&self, namespace: &str) -> Recipients {
        let api: Api<ConfigMap> = Api::namespaced(self.client(), namespace);
        let text = eventually("public keys published", || async {
            api.get_opt("gitseal-public-keys")
                .await
                .ok()
                .flatten()
                .and_then(|cm| cm.data?.get("recipients.txt").cloned())
        })
        .await;
        Recipients::new(Recipients::parse_file(&text).unwrap()).unwrap()
    }

    pub async fn key_secrets(&self) -> Vec<String> {
        let api: Api<Secret> = Api::namespaced(self.client(), CONTROLLER_NS);
        let list = api.list_metadata(&ListParams::default().labels("gitseal.dev/key=true")).await.unwrap();
        list.items.into_iter().filter_map(|s| s.metadata.name).collect()
    }

    /// Deletes every key so the next controller starts from an empty ring.
    pub async fn wipe_keys(&self) {
        let api: Api<Secret> = Api::namespaced(self.client(), CONTROLLER_NS);
        api.delete_collection(&DeleteParams::default(), &ListParams::default().labels("gitseal.dev/key=true"))
            .await
            .unwrap();
        eventually("keys deleted", || async { self.key_secrets().await.is_empty().then_some(()) }).await;
    }

    pub async fn apply(&self, sealed: &SealedSecret) {
        let ns = sealed.metadata.namespace.clone().unwrap();
        let api: Api<SealedSecret> = Api::namespaced(self.client(), &ns);
        let mut value = serde_json::to_value(sealed).unwrap();
        value.as_object_mut().unwrap().remove("status");
        api.patch(
            sealed.metadata.name.as_deref().unwrap(),
            &PatchParams::apply("e2e-user").force(),
            &Patch::Apply(&value),
        )
        .await
        .unwrap();
    }
}

pub struct Controller {
    child: Child,
    pub port: u16,
    pub log: PathBuf,
    pub name: String,
}

impl Controller {
    pub fn get(&self, path: &str) -> (u16, String) {
        gitseal_test_support::http_get(self.port, path)
    }

    pub async fn wait_ready(&self) {
        eventually(&format!("{} ready", self.name), || async { (self.get("/readyz").0 == 200).then_some(()) }).await;
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, then wait for a clean exit.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status().unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "{} did not stop on SIGTERM", self.name);
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGKILL: no chance to release anything.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `probe` every 200 ms until it returns `Some`, for at most 60 s.
pub async fn eventually<T>(what: &str, probe: impl AsyncFnMut() -> Option<T>) -> T {
    gitseal_test_support::poll_until(what, Duration::from_secs(60), Duration::from_millis(200), probe).await
}

/// A SealedSecret for `ns/name` with the given string values.
pub fn sealed(ns: &str, name: &str, values: &[(&str, &str)], recipients: &Recipients) -> SealedSecret {
    let mut plain = gitseal::PlainSecret { name: Some(name.into()), namespace: Some(ns.into()), ..Default::default() };
    plain.labels.insert("app".into(), name.into());
    for (k, v) in values {
        plain.data.insert((*k).into(), zeroize::Zeroizing::new(v.as_bytes().to_vec()));
    }
    seal_secret(&plain, Scope::Strict, None, recipients, 1).unwrap()
}

pub fn kubectl(args: &[&str]) -> String {
    let out = Command::new(workspace_root().join("dev/cluster/kubectl")).args(args).output().unwrap();
    assert!(out.status.success(), "kubectl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn free_port() -> u16 {
    gitseal_test_support::free_port().unwrap()
}

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Polls `probe` every second until it returns `Some`, for at most `limit`: for waits on
/// many objects, where a 200 ms poll would load the API server it waits for.
pub async fn eventually_within<T>(limit: Duration, what: &str, probe: impl AsyncFnMut() -> Option<T>) -> T {
    gitseal_test_support::poll_until(what, limit, Duration::from_secs(1), probe).await
}

impl Env {
    /// `dev/cluster/component <action> <name>` on the control plane this Env uses, e.g.
    /// `("stop", "kube-apiserver")`; `start` returns once the component is healthy.
    ///
    /// # Panics
    /// When the Env's kubeconfig is not one that `dev/cluster/up` wrote in this checkout
    /// (then there is no component to stop), or when the script fails.
    pub fn component(&self, action: &str, name: &str) {
        let cluster_dir = workspace_root().join("dev/cluster");
        let state = self.cluster.kubeconfig_path().parent().and_then(|p| p.canonicalize().ok());
        let cluster_name = state
            .as_deref()
            .filter(|s| s.parent() == cluster_dir.canonicalize().ok().as_deref())
            .and_then(|s| s.file_name()?.to_str()?.strip_prefix(".state"))
            .map(|suffix| suffix.trim_start_matches('-').to_owned())
            .unwrap_or_else(|| {
                panic!(
                    "fault tests stop and start components of this checkout's control plane \
                     (dev/cluster/up); {} is not its kubeconfig",
                    self.cluster.kubeconfig_path().display()
                )
            });
        let started = Instant::now();
        let status = Command::new(cluster_dir.join("component"))
            .args([action, name])
            .env("GITSEAL_CLUSTER_NAME", cluster_name)
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "dev/cluster/component {action} {name}: {status}");
        eprintln!("component {action} {name}: {:.1}s", started.elapsed().as_secs_f64());
    }

    /// Starts every component that is not running and waits until all are healthy, so a
    /// test that stopped one leaves the control plane as `up` made it.
    pub fn heal_control_plane(&self) {
        for name in ["etcd", "kube-apiserver", "kube-controller-manager"] {
            self.component("start", name);
        }
    }

    /// A controller replica under a supervisor that restarts it with the same flags
    /// whenever it exits, as a kubelet would (losing the lease ends the process by design).
    /// Every run appends to one log file. The lease lasts 6 s unless `extra` says otherwise.
    pub fn supervise(&self, name: &str, extra: &[&str]) -> Supervised {
        let port = free_port();
        let log = self.dir.path().join(format!("{name}.log"));
        let mut args: Vec<String> = ["--namespace", CONTROLLER_NS, "--pod-name", name].map(String::from).into();
        if !extra.contains(&"--lease-duration-secs") {
            args.extend(["--lease-duration-secs".into(), "6".into()]);
        }
        args.extend(["--http-addr".into(), format!("127.0.0.1:{port}")]);
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        let (kubeconfig, log_path) = (self.kubeconfig.clone(), log.clone());
        let spawn = move || {
            let stderr = std::fs::OpenOptions::new().create(true).append(true).open(&log_path).unwrap();
            Command::new(env!("CARGO_BIN_EXE_gitseal-controller"))
                .args(&args)
                .env("KUBECONFIG", &kubeconfig)
                .env("RUST_LOG", "info")
                .stdout(Stdio::null())
                .stderr(stderr)
                .spawn()
                .unwrap()
        };
        let state =
            Arc::new(Supervision { child: Mutex::new(spawn()), stop: AtomicBool::new(false), restarts: 0.into() });
        let watched = state.clone();
        let thread = std::thread::spawn(move || {
            while !watched.stop.load(Ordering::SeqCst) {
                {
                    let mut child = watched.child.lock().unwrap_or_else(|p| p.into_inner());
                    if let Ok(Some(_)) = child.try_wait()
                        && !watched.stop.load(Ordering::SeqCst)
                    {
                        *child = spawn();
                        watched.restarts.fetch_add(1, Ordering::SeqCst);
                    }
                }
                std::thread::sleep(Duration::from_millis(250));
            }
        });
        Supervised { state, thread: Some(thread), port, log, name: name.to_owned() }
    }
}

struct Supervision {
    child: Mutex<Child>,
    stop: AtomicBool,
    restarts: AtomicUsize,
}

/// A controller replica that is restarted whenever it exits, until dropped. Dropping it
/// stops it gracefully (SIGTERM, so the lease is released for the next test), or kills it
/// after 25 s.
pub struct Supervised {
    state: Arc<Supervision>,
    thread: Option<std::thread::JoinHandle<()>>,
    pub port: u16,
    pub log: PathBuf,
    pub name: String,
}

impl Supervised {
    pub fn get(&self, path: &str) -> (u16, String) {
        gitseal_test_support::http_get(self.port, path)
    }

    pub async fn wait_ready(&self) {
        eventually(&format!("{} ready", self.name), || async { (self.get("/readyz").0 == 200).then_some(()) }).await;
    }

    /// How often the process exited and was started again.
    pub fn restarts(&self) -> usize {
        self.state.restarts.load(Ordering::SeqCst)
    }

    /// SIGKILL the running process; the supervisor starts a new one.
    pub fn kill(&self) {
        let mut child = self.state.child.lock().unwrap_or_else(|p| p.into_inner());
        let _ = child.kill();
        let _ = child.wait();
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        let mut child = self.state.child.lock().unwrap_or_else(|p| p.into_inner());
        let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(25);
        while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}
