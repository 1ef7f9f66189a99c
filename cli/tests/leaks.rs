//! What a running `gitseal` could leave outside itself: its memory in a core dump, and a
//! value typed on the command line in the process list and the shell history.

#![allow(clippy::unwrap_used)] // tests state their expectations by unwrapping

use std::fs::{self, File};
use std::process::{Command, Output, Stdio};

use gitseal_test_support::core_dumps;

fn recipient() -> String {
    gitseal::generate_identity().to_public().to_string()
}

#[test]
fn gitseal_turns_core_dumps_off_before_it_reads_a_secret() {
    // `seal` waits on stdin: the secret it would read is what a core dump would hold.
    let mut command = Command::new(env!("CARGO_BIN_EXE_gitseal"));
    command.args(["seal", "-n", "prod", "-r", &recipient()]).current_dir("/").env("KUBECONFIG", "/nonexistent");
    let (seen, off) = core_dumps::watch(command);
    assert!(off, "core dumps still possible: {seen:?}");
}

/// A pseudo-terminal: the side a program reads as its terminal, and the side that keeps
/// it open.
fn terminal() -> (File, rustix::fd::OwnedFd) {
    use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
    let controller = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).unwrap();
    grantpt(&controller).unwrap();
    unlockpt(&controller).unwrap();
    let name = ptsname(&controller, Vec::new()).unwrap();
    let terminal = fs::OpenOptions::new().read(true).write(true).open(name.to_str().unwrap()).unwrap();
    (terminal, controller)
}

fn create(dir: &std::path::Path, value: &[&str], stdin: Stdio) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gitseal"))
        .args(["create", "db", "-n", "prod", "-r", &recipient(), "-w", "db.yaml"])
        .args(value)
        .current_dir(dir)
        .env("KUBECONFIG", dir.join("no-kubeconfig"))
        .stdin(stdin)
        .output()
        .unwrap()
}

#[test]
fn a_literal_typed_at_a_terminal_gets_a_one_line_warning() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join(".git")).unwrap();
    fs::write(dir.path().join("pw.txt"), "s3cr3t").unwrap();
    let warned = |out: &Output| {
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!err.contains("s3cr3t"), "{err}");
        err.lines().filter(|l| l.contains("warning: --from-literal") && l.contains("shell history")).count()
    };
    let (tty, _keep) = terminal();
    assert_eq!(warned(&create(dir.path(), &["--from-literal", "password=s3cr3t"], tty.into())), 1);
    // A script (stdin not a terminal), and a value from a file, are not warned about.
    assert_eq!(warned(&create(dir.path(), &["--from-literal", "password=s3cr3t"], Stdio::null())), 0);
    let (tty, _keep) = terminal();
    assert_eq!(warned(&create(dir.path(), &["--from-file", "password=pw.txt"], tty.into())), 0);
}
