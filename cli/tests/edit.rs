//! `gitseal edit` as the attacker of its plaintext sees it: the values file must not
//! outlive the command, whatever signal stops it, and must sit in memory where it can.

#![allow(clippy::unwrap_used)] // tests state their expectations by unwrapping

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A sealed file, a key, a runtime directory standing for `$XDG_RUNTIME_DIR`, and an
/// editor that says which file it opened and waits until told to stop.
struct Edit {
    dir: tempfile::TempDir,
    runtime: PathBuf,
}

impl Edit {
    fn new() -> Edit {
        let dir = tempfile::tempdir().unwrap();
        let runtime = dir.path().join("run");
        fs::create_dir(&runtime).unwrap();
        let edit = Edit { dir, runtime };
        let recipient = edit.gitseal(&["keygen", "-w", "key.txt"]).wait_with_output().unwrap();
        let recipient = String::from_utf8(recipient.stdout).unwrap();
        fs::write(edit.path(".gitseal-recipients"), recipient).unwrap();
        let mut seal = edit.gitseal(&["seal", "-w", "db.yaml"]);
        std::io::Write::write_all(
            &mut seal.stdin.take().unwrap(),
            b"apiVersion: v1\nkind: Secret\nmetadata: {name: db, namespace: prod}\nstringData: {password: s3cr3t}\n",
        )
        .unwrap();
        assert!(seal.wait().unwrap().success());
        let editor = edit.path("editor.sh");
        let opened = edit.path("opened");
        let stop = edit.path("stop");
        fs::write(
            &editor,
            format!(
                "#!/bin/sh\necho \"$1\" > {}.tmp && mv {}.tmp {}\nwhile [ ! -e {} ]; do sleep 0.05; done\n",
                opened.display(),
                opened.display(),
                opened.display(),
                stop.display()
            ),
        )
        .unwrap();
        fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        edit
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn gitseal(&self, args: &[&str]) -> Child {
        Command::new(env!("CARGO_BIN_EXE_gitseal"))
            .args(args)
            .current_dir(self.dir.path())
            .env("EDITOR", self.path("editor.sh"))
            .env("XDG_RUNTIME_DIR", &self.runtime)
            .env_remove("VISUAL")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// Starts `gitseal edit -i key.txt db.yaml` (the values shown in plaintext) and
    /// returns it with the file its editor opened, once it has.
    fn start(&self) -> (Child, PathBuf) {
        let _ = fs::remove_file(self.path("opened"));
        let _ = fs::remove_file(self.path("stop"));
        let child = self.gitseal(&["edit", "-i", "key.txt", "db.yaml"]);
        let started = Instant::now();
        while !self.path("opened").exists() {
            assert!(started.elapsed() < Duration::from_secs(30), "the editor never opened");
            std::thread::sleep(Duration::from_millis(20));
        }
        let opened = PathBuf::from(fs::read_to_string(self.path("opened")).unwrap().trim());
        (child, opened)
    }

    fn stop_editor(&self) {
        fs::write(self.path("stop"), "").unwrap();
    }
}

fn signal(child: &Child, name: &str) {
    assert!(Command::new("kill").args([&format!("-{name}"), &child.id().to_string()]).status().unwrap().success());
}

fn exited_within(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

fn stderr_of(child: Child) -> String {
    String::from_utf8_lossy(&child.wait_with_output().unwrap().stderr).into_owned()
}

#[test]
fn sigterm_or_sighup_while_the_editor_runs_leaves_no_values_behind() {
    let edit = Edit::new();
    let before = fs::read_to_string(edit.path("db.yaml")).unwrap();
    for (name, code) in [("TERM", 143), ("HUP", 129)] {
        let (mut child, opened) = edit.start();
        assert!(fs::read_to_string(&opened).unwrap().contains("s3cr3t"), "the editor shows the plaintext");
        signal(&child, name);
        let status = exited_within(&mut child, Duration::from_secs(20));
        edit.stop_editor();
        let Some(status) = status else {
            let _ = child.kill();
            panic!("gitseal did not exit on SIG{name}");
        };
        assert_eq!(status.code(), Some(code), "SIG{name}: {}", stderr_of(child));
        assert!(!opened.exists() && !opened.parent().unwrap().exists(), "SIG{name}: {} left behind", opened.display());
        assert_eq!(fs::read_to_string(edit.path("db.yaml")).unwrap(), before, "nothing written");
    }
}

#[test]
fn sigint_while_the_editor_runs_is_the_editors_and_gitseal_still_cleans_up() {
    let edit = Edit::new();
    let (mut child, opened) = edit.start();
    signal(&child, "INT");
    // The terminal's ^C reaches the editor too; gitseal waits for it rather than die and
    // leave the values file behind.
    assert!(exited_within(&mut child, Duration::from_millis(500)).is_none(), "gitseal died on SIGINT");
    edit.stop_editor();
    let status = exited_within(&mut child, Duration::from_secs(20)).unwrap();
    assert!(status.success(), "{}", stderr_of(child));
    assert!(!opened.parent().unwrap().exists(), "{} left behind", opened.display());
}

#[test]
fn values_sit_in_the_runtime_directory_and_a_killed_runs_directory_goes_at_the_next_start() {
    let edit = Edit::new();
    // What SIGKILL leaves: a directory named for a pid that no longer runs.
    let mut gone = Command::new("true").spawn().unwrap();
    let dead = gone.id();
    gone.wait().unwrap();
    let stale = edit.runtime.join(format!("gitseal-edit-{dead}-AbC123"));
    fs::create_dir(&stale).unwrap();
    fs::write(stale.join("values.yaml"), "password: \"s3cr3t\"\n").unwrap();
    // A live run's directory (this test's own pid) is left alone.
    let live = edit.runtime.join(format!("gitseal-edit-{}-XyZ789", std::process::id()));
    fs::create_dir(&live).unwrap();
    let (child, opened) = edit.start();
    assert!(opened.starts_with(&edit.runtime), "{} is not under $XDG_RUNTIME_DIR", opened.display());
    let name = opened.parent().unwrap().file_name().unwrap().to_str().unwrap().to_owned();
    assert!(name.starts_with(&format!("gitseal-edit-{}-", child.id())), "{name} names the pid of its run");
    edit.stop_editor();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(!stale.exists(), "the dead run's directory is removed");
    assert!(err.contains(&format!("removed {}", stale.display())) && err.contains(&format!("pid {dead}")), "{err}");
    assert!(live.exists(), "a live run's directory is kept");
    assert!(!Path::new(&opened).parent().unwrap().exists());
}
