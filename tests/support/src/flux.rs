//! Flux, for real: its source-controller and kustomize-controller, built from their Go
//! modules, run as local processes against the local control plane, so that tests can
//! drive a GitOps loop with the engine users run.
//!
//! ```text
//!  dev/tools/flux/build ──▶ <cache>/flux-<version>/{bin/source-controller, bin/kustomize-controller, crds/}
//!
//!  Flux::start(&cluster, namespace, dir)
//!    ├─ install_crd(crds/*.yaml)      server-side apply, forced: idempotent and race-free
//!    ├─ source-controller     ── GitRepository ──▶ artifact in dir/storage
//!    │                           served on 127.0.0.1:<storage port> ──┐
//!    └─ kustomize-controller  ── Kustomization ── GET the artifact ◀──┘ ──▶ applied objects
//!
//!  each: RUNTIME_NAMESPACE=namespace --watch-all-namespaces=false, no leader election,
//!        KUBECONFIG = the cluster's admin kubeconfig, /readyz on 127.0.0.1:<free port>,
//!        stdout and stderr appended to dir/<controller>.log
//! ```
//!
//! Each [`Flux`] watches only its own namespace, so several run at once on one cluster,
//! one per test. Dropping it kills both controllers; `dir` is the caller's, and stays.

use std::fmt;
use std::fs::OpenOptions;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::helm::build_go_tool;
use crate::{Cluster, Error, free_ports, http_get};

/// How long a (re)started controller has to answer `/readyz`.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// How many lines of each log [`Flux::logs`] gives.
const LOG_LINES: usize = 40;

/// One of the two controllers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Component {
    /// source-controller: fetches GitRepositories and serves their artifacts.
    Source,
    /// kustomize-controller: builds and applies Kustomizations from those artifacts.
    Kustomize,
}

impl Component {
    /// The binary's name, also the stem of its log file.
    pub fn name(self) -> &'static str {
        match self {
            Component::Source => "source-controller",
            Component::Kustomize => "kustomize-controller",
        }
    }
}

impl fmt::Display for Component {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// source-controller and kustomize-controller, running; both killed on drop. See the
/// module documentation.
pub struct Flux {
    source: Controller,
    kustomize: Controller,
}

impl Flux {
    /// Runs `dev/tools/flux/build` (cached; minutes the first time), applies the Flux
    /// CRDs (server-side apply; they are large) and waits until they are Established,
    /// then starts both controllers watching only `namespace` (`--watch-all-namespaces=false`,
    /// `RUNTIME_NAMESPACE=namespace`), without leader election, metrics and health on
    /// free ports of 127.0.0.1, source-controller's artifact storage under `dir/storage`
    /// and served on a free 127.0.0.1 port (`--storage-addr`, `--storage-adv-addr`),
    /// events to nowhere (no `--events-addr`), logs appended to
    /// `dir/source-controller.log` and `dir/kustomize-controller.log`. Returns once both
    /// answer `/readyz`. Both use the cluster's admin kubeconfig
    /// ([`Cluster::kubeconfig_path`]).
    ///
    /// Start it from the thread that will hold it (an async test's own): each controller
    /// gets SIGKILL when that thread ends, so a test process that dies leaves none behind.
    ///
    /// # Errors
    /// [`Error::BuildTool`], [`Error::FluxNotBuilt`] (no Go, outside CI), the errors of
    /// [`Cluster::install_crd`], [`Error::FluxDir`], [`Error::RunCommand`], and
    /// [`Error::FluxExited`] or [`Error::FluxNotReady`] with the end of the logs.
    pub async fn start(cluster: &Cluster, namespace: &str, dir: &Path) -> Result<Flux, Error> {
        // The first build takes minutes: off the runtime's thread.
        let built = tokio::task::spawn_blocking(|| {
            build_go_tool("dev/tools/flux/build", "source-controller and kustomize-controller")
        })
        .await
        .unwrap_or_else(|failed| std::panic::resume_unwind(failed.into_panic()))?
        .ok_or(Error::FluxNotBuilt)?;
        let crds = crd_files(&built.join("crds"))?;
        futures::future::try_join_all(crds.iter().map(|crd| cluster.install_crd(crd))).await?;

        let dir_error = |path: &Path| {
            let path = path.to_owned();
            move |source| Error::FluxDir { path, source }
        };
        std::fs::create_dir_all(dir.join("storage")).map_err(dir_error(&dir.join("storage")))?;
        std::fs::create_dir_all(dir.join("tmp")).map_err(dir_error(&dir.join("tmp")))?;
        // Absolute: the controllers run in `dir`.
        let dir = std::path::absolute(dir).map_err(dir_error(dir))?;
        let kubeconfig =
            std::path::absolute(cluster.kubeconfig_path()).map_err(dir_error(cluster.kubeconfig_path()))?;
        let [storage, source_health, source_metrics, kustomize_health, kustomize_metrics] = free_ports()?;

        let common = |health: u16, metrics: u16| {
            vec![
                "--watch-all-namespaces=false".to_owned(),
                "--enable-leader-election=false".to_owned(),
                format!("--health-addr=127.0.0.1:{health}"),
                format!("--metrics-addr=127.0.0.1:{metrics}"),
            ]
        };
        let mut source_args = common(source_health, source_metrics);
        source_args.extend([
            format!("--storage-path={}", dir.join("storage").display()),
            format!("--storage-addr=127.0.0.1:{storage}"),
            format!("--storage-adv-addr=127.0.0.1:{storage}"),
        ]);
        let launch = |component: Component, health_port: u16, args: Vec<String>| Launch {
            component,
            program: built.join("bin").join(component.name()),
            args,
            dir: dir.clone(),
            kubeconfig: kubeconfig.clone(),
            namespace: namespace.to_owned(),
            health_port,
        };
        // Dropped on an error below: whichever started is killed.
        let source = Controller::start(launch(Component::Source, source_health, source_args))?;
        let kustomize = Controller::start(launch(
            Component::Kustomize,
            kustomize_health,
            common(kustomize_health, kustomize_metrics),
        ))?;
        let mut flux = Flux { source, kustomize };
        for component in [Component::Source, Component::Kustomize] {
            flux.wait_ready(component, "starting").await?;
        }
        Ok(flux)
    }

    /// Stops one controller (SIGKILL, and waits for it) and starts it again with the same
    /// ports and flags, for tests that restart it mid-sync; returns once it answers
    /// `/readyz` again. Its log goes on in the same file.
    ///
    /// # Errors
    /// [`Error::FluxDir`] for the log, [`Error::RunCommand`], [`Error::FluxExited`],
    /// [`Error::FluxNotReady`].
    pub async fn restart(&mut self, which: Component) -> Result<(), Error> {
        self.controller_mut(which).restart()?;
        self.wait_ready(which, "restarting").await
    }

    /// The last lines (about 40) of both logs, each under its file's name: for assertion
    /// messages.
    pub fn logs(&self) -> String {
        [&self.source, &self.kustomize].map(|c| c.log_tail()).join("\n")
    }

    /// The log of one controller: stdout and stderr of every run, each run after a `###`
    /// line with its command line.
    pub fn log_path(&self, which: Component) -> PathBuf {
        self.controller(which).launch.log_path()
    }

    fn controller(&self, which: Component) -> &Controller {
        match which {
            Component::Source => &self.source,
            Component::Kustomize => &self.kustomize,
        }
    }

    fn controller_mut(&mut self, which: Component) -> &mut Controller {
        match which {
            Component::Source => &mut self.source,
            Component::Kustomize => &mut self.kustomize,
        }
    }

    /// Polls until `which` answers `/readyz`; `during` says what it was doing, for the
    /// error when it exits first.
    async fn wait_ready(&mut self, which: Component, during: &str) -> Result<(), Error> {
        let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = self.controller_mut(which).exited() {
                return Err(Error::FluxExited { component: which, status, during: during.into(), logs: self.logs() });
            }
            let port = self.controller(which).launch.health_port;
            if http_get(port, "/readyz").0 == 200 {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Error::FluxNotReady { component: which, timeout: READY_TIMEOUT, logs: self.logs() });
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// How one controller is started, kept for restarts.
struct Launch {
    component: Component,
    program: PathBuf,
    args: Vec<String>,
    dir: PathBuf,
    kubeconfig: PathBuf,
    namespace: String,
    health_port: u16,
}

impl Launch {
    fn log_path(&self) -> PathBuf {
        self.dir.join(format!("{}.log", self.component))
    }

    /// Spawns the controller, its output appended to its log after a `###` line.
    fn spawn(&self) -> Result<Child, Error> {
        let log = self.log_path();
        let log_error = |source| Error::FluxDir { path: log.clone(), source };
        let mut stdout = OpenOptions::new().create(true).append(true).open(&log).map_err(log_error)?;
        writeln!(stdout, "### gitseal-test-support: {} {}", self.program.display(), self.args.join(" "))
            .map_err(log_error)?;
        let stderr = stdout.try_clone().map_err(log_error)?;
        // SIGKILL when the starting thread ends, where util-linux's setpriv is there.
        let mut command = if Path::new("/usr/bin/setpriv").exists() {
            let mut command = Command::new("/usr/bin/setpriv");
            command.args(["--pdeathsig", "KILL", "--"]).arg(&self.program);
            command
        } else {
            Command::new(&self.program)
        };
        command
            .args(&self.args)
            // Nothing of the test's environment: Flux reads METRICS_ADDR, EVENTS_ADDR and
            // the cloud SDKs' variables; no user's ~/.kube, ~/.docker or ~/.ssh either.
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_else(|| "/usr/sbin:/usr/bin:/sbin:/bin".into()))
            .env("HOME", &self.dir)
            .env("TMPDIR", self.dir.join("tmp"))
            .env("KUBECONFIG", &self.kubeconfig)
            .env("RUNTIME_NAMESPACE", &self.namespace)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr);
        command.spawn().map_err(|source| Error::RunCommand { program: self.program.clone(), source })
    }
}

/// A running controller; killed (and waited for) on drop.
struct Controller {
    launch: Launch,
    child: Child,
}

impl Controller {
    fn start(launch: Launch) -> Result<Self, Error> {
        let child = launch.spawn()?;
        Ok(Self { launch, child })
    }

    fn restart(&mut self) -> Result<(), Error> {
        self.stop();
        self.child = self.launch.spawn()?;
        Ok(())
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    fn log_tail(&self) -> String {
        let path = self.launch.log_path();
        let log = std::fs::read_to_string(&path).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        format!("==> {} <==\n{}", path.display(), lines[lines.len().saturating_sub(LOG_LINES)..].join("\n"))
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The CRD files of a Flux build, in name order.
fn crd_files(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let read_error = |source| Error::FluxDir { path: dir.to_owned(), source };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(read_error)?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    Ok(files)
}
