//! Whether a running process has turned core dumps off, as `/proc` shows it: its core
//! file limit is 0, and it is non-dumpable, which the kernel shows by making its
//! `/proc/<pid>` entries root's. The second is only visible for a process that runs as
//! another user, so when the test runs as root the process is started as `nobody`.
//!
//! ```text
//!  Command ──spawn (as 65534 when root)──▶ pid ──/proc/<pid>/limits: Max core file size 0 0
//!                                               └─/proc/<pid>/status owned by 0, not 65534
//! ```

use std::os::unix::fs::MetadataExt as _;
use std::os::unix::process::CommandExt as _;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The unprivileged user the process runs as when the test runs as root.
const NOBODY: u32 = 65534;

/// What `/proc` says about one process.
#[derive(Debug, PartialEq, Eq)]
pub struct Seen {
    /// The soft and hard "Max core file size" of `/proc/<pid>/limits`.
    pub core_limit: (String, String),
    /// The owner of `/proc/<pid>/status`, when the process runs as `nobody` (`None`:
    /// not checked, the test does not run as root).
    pub status_owner: Option<u32>,
}

impl Seen {
    /// Core dumps off: limit 0, and non-dumpable where that can be seen.
    pub fn off(&self) -> bool {
        self.core_limit == ("0".into(), "0".into()) && self.status_owner.is_none_or(|uid| uid == 0)
    }
}

/// Starts `command` (as `nobody` when root; stdin a pipe held open, output discarded)
/// and waits up to 10 s for it to turn core dumps off; returns what `/proc` showed last,
/// and whether it got there. The process is killed before returning.
///
/// # Panics
/// When the process cannot be started or exits before it was seen.
pub fn watch(mut command: Command) -> (Seen, bool) {
    let root = std::fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false);
    if root {
        command.uid(NOBODY).gid(NOBODY);
    } else {
        eprintln!("note: not root, so only the core limit is checked (dumpability shows for another user's process)");
    }
    let spawned = command.stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::null()).spawn();
    let mut child = spawned.expect("the process under test starts");
    let deadline = Instant::now() + Duration::from_secs(10);
    let result = loop {
        let seen = look(&mut child, root);
        if seen.off() || Instant::now() > deadline {
            break (seen.off(), seen);
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let _ = child.kill();
    let _ = child.wait();
    (result.1, result.0)
}

fn look(child: &mut Child, root: bool) -> Seen {
    if let Ok(Some(status)) = child.try_wait() {
        panic!("the process exited ({status}) before /proc could be read");
    }
    let proc = format!("/proc/{}", child.id());
    let limits = std::fs::read_to_string(format!("{proc}/limits")).unwrap_or_default();
    let core = limits.lines().find_map(|l| l.strip_prefix("Max core file size")).unwrap_or_default();
    let mut fields = core.split_whitespace().map(str::to_owned);
    let core_limit = (fields.next().unwrap_or_default(), fields.next().unwrap_or_default());
    let status_owner = root.then(|| std::fs::metadata(format!("{proc}/status")).map_or(u32::MAX, |m| m.uid()));
    Seen { core_limit, status_owner }
}
