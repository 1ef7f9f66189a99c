//! The private directory `gitseal edit` puts the values in while the editor runs, and
//! the promise that it does not outlive the command.
//!
//! ```text
//!  base: $XDG_RUNTIME_DIR │ /dev/shm │ temp dir (on disk: said so)     memory first
//!    └─ gitseal-edit-<pid>-XXXXXX/ (0700) ── values.yaml (0600)
//!  start   ──▶ directories of runs whose pid is gone (SIGKILL, power loss) removed, with a note
//!  return  ──▶ removed (drop)
//!  SIGTERM, SIGHUP ──▶ the editor gets the signal, is waited for, the directory removed,
//!                      exit 128+signal
//!  SIGINT  ──▶ ignored while the editor runs (it has the terminal and gets the same ^C);
//!              otherwise as SIGTERM
//! ```
//!
//! Signals are taken by a thread (tokio's signal handling, no `unsafe`), installed before
//! the directory exists and kept for the life of the process.

use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use anyhow::{Context, Result};
use rustix::process::{Pid, Signal};

/// Directory names: the prefix, then the pid of the run that made it.
const PREFIX: &str = "gitseal-edit-";

/// How long a signalled editor gets to exit (and drop its swap file in the directory)
/// before it is killed.
const EDITOR_GRACE: Duration = Duration::from_secs(3);

/// What the signal thread must clean up.
struct Live {
    dir: Option<PathBuf>,
    editor: Option<Pid>,
    /// A signal is being handled: the process is about to exit.
    ending: bool,
}

static LIVE: Mutex<Live> = Mutex::new(Live { dir: None, editor: None, ending: false });
static EDITOR_EXITED: Condvar = Condvar::new();

fn live() -> MutexGuard<'static, Live> {
    LIVE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The directory, removed when dropped.
pub struct ScratchDir {
    path: PathBuf,
}

impl ScratchDir {
    /// Installs the signal handling, removes what dead runs left, and makes the directory.
    ///
    /// # Errors
    /// When signals cannot be taken (no plaintext is written then) or the directory cannot
    /// be made.
    pub fn create() -> Result<ScratchDir> {
        install_signal_thread()?;
        let base = base_dir();
        remove_stale(&base);
        let pid = std::process::id();
        // Made and recorded under the lock, so no signal finds it made but not recorded.
        let mut live = live();
        let dir = tempfile::Builder::new()
            .prefix(&format!("{PREFIX}{pid}-"))
            .tempdir_in(&base)
            .with_context(|| format!("cannot make a private directory in {}", base.display()))?;
        // Kept by path from here: the signal thread or the drop removes it.
        let path = dir.keep();
        live.dir = Some(path.clone());
        drop(live);
        let made = ScratchDir { path };
        #[cfg(unix)]
        std::fs::set_permissions(&made.path, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
        Ok(made)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `editor` to completion, recorded so a signal reaches it and waits for it. When
    /// the process is ending on a signal, this never returns: the signal thread exits.
    ///
    /// # Errors
    /// When the editor cannot be started.
    pub fn run(&self, editor: &mut std::process::Command) -> std::io::Result<std::process::ExitStatus> {
        let mut child = {
            let mut live = live();
            let child = editor.spawn()?;
            live.editor = Pid::from_child(&child).into();
            child
        };
        let status = child.wait();
        let mut live = live();
        live.editor = None;
        EDITOR_EXITED.notify_all();
        if live.ending {
            drop(live);
            loop {
                std::thread::park();
            }
        }
        status
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let mut live = live();
        let _ = std::fs::remove_dir_all(&self.path);
        live.dir = None;
    }
}

/// Where the directory goes: memory-backed where the system has it.
fn base_dir() -> PathBuf {
    let runtime = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from).filter(|p| p.is_absolute() && p.is_dir());
    let shm = Some(PathBuf::from("/dev/shm")).filter(|p| p.is_dir());
    match runtime.or(shm) {
        Some(base) => base,
        None => {
            let tmp = std::env::temp_dir();
            eprintln!(
                "gitseal: note: no memory-backed directory ($XDG_RUNTIME_DIR, /dev/shm): the values are written on disk, in {}, while the editor runs",
                tmp.display()
            );
            tmp
        }
    }
}

/// Removes the directories of runs that died without cleaning up (SIGKILL, a crash, power
/// loss): ours by owner, theirs by a pid that no longer runs. Says so: they may have held
/// plaintext values.
fn remove_stale(base: &Path) {
    let Ok(entries) = std::fs::read_dir(base) else { return };
    let me = rustix::process::getuid().as_raw();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.strip_prefix(PREFIX)).and_then(|rest| rest.split('-').next())
        else {
            continue;
        };
        let Some(pid) = pid.parse().ok().and_then(Pid::from_raw) else { continue };
        let path = entry.path();
        let ours =
            std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir() && std::os::unix::fs::MetadataExt::uid(&m) == me);
        let dead = rustix::process::test_kill_process(pid) == Err(rustix::io::Errno::SRCH);
        if ours && dead && std::fs::remove_dir_all(&path).is_ok() {
            eprintln!(
                "gitseal: note: removed {}, left by an edit (pid {}) that did not finish; it may have held values in plaintext",
                path.display(),
                pid.as_raw_nonzero()
            );
        }
    }
}

/// Starts the thread that takes SIGINT, SIGTERM and SIGHUP, once per process; returns
/// when they are taken.
fn install_signal_thread() -> Result<()> {
    static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();
    INSTALLED
        .get_or_init(|| {
            let (ready, taken) = std::sync::mpsc::channel();
            std::thread::Builder::new()
                .name("gitseal-signals".into())
                .spawn(move || take_signals(&ready))
                .map_err(|e| e.to_string())?;
            taken.recv().map_err(|e| e.to_string())?
        })
        .clone()
        .map_err(|e| anyhow::anyhow!("cannot take the signals that must remove the values' directory: {e}"))
}

/// The signal thread: a small runtime that waits for the signals and handles each.
fn take_signals(ready: &std::sync::mpsc::Sender<Result<(), String>>) {
    use tokio::signal::unix::{SignalKind, signal};
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_io().build() {
        Ok(runtime) => runtime,
        Err(e) => return drop(ready.send(Err(e.to_string()))),
    };
    runtime.block_on(async {
        let streams = (signal(SignalKind::interrupt()), signal(SignalKind::terminate()), signal(SignalKind::hangup()));
        let (mut int, mut term, mut hup) = match streams {
            (Ok(int), Ok(term), Ok(hup)) => (int, term, hup),
            (Err(e), ..) | (_, Err(e), _) | (.., Err(e)) => return drop(ready.send(Err(e.to_string()))),
        };
        let _ = ready.send(Ok(()));
        loop {
            let signal = tokio::select! {
                _ = int.recv() => Signal::INT,
                _ = term.recv() => Signal::TERM,
                _ = hup.recv() => Signal::HUP,
            };
            on_signal(signal);
        }
    });
}

/// Removes the directory and exits 128+signal, after the editor (sent the same signal, a
/// SIGINT as SIGTERM) exits; a SIGINT while the editor runs is the editor's.
fn on_signal(signal: Signal) {
    let mut live = live();
    if signal == Signal::INT && live.editor.is_some() {
        return;
    }
    live.ending = true;
    if let Some(editor) = live.editor {
        let forwarded = if signal == Signal::INT { Signal::TERM } else { signal };
        let _ = rustix::process::kill_process(editor, forwarded);
        live = EDITOR_EXITED
            .wait_timeout_while(live, EDITOR_GRACE, |l| l.editor.is_some())
            .map_or_else(|e| e.into_inner().0, |r| r.0);
        if live.editor.is_some() {
            let _ = rustix::process::kill_process(editor, Signal::KILL);
            live = EDITOR_EXITED
                .wait_timeout_while(live, EDITOR_GRACE, |l| l.editor.is_some())
                .map_or_else(|e| e.into_inner().0, |r| r.0);
        }
    }
    if let Some(dir) = live.dir.take() {
        let _ = std::fs::remove_dir_all(&dir);
        eprintln!("gitseal: stopped by a signal; removed {} and the values in it; nothing changed", dir.display());
    }
    std::process::exit(128 + signal.as_raw());
}
