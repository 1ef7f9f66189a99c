//! Repository files apply up to the repository root and no further: a `.gitseal.yaml`,
//! `.gitseal-recipients` or `.gitsealignore` in a shared parent (a CI workspace, /tmp)
//! is someone else's, and must neither choose whom `seal` seals to nor hide a committed
//! Secret from `verify`.
//!
//! ```text
//!  shared/                 the attacker's: .gitseal.yaml, .gitseal-recipients, .gitsealignore
//!   └─ repo/  (.git file, as a worktree or submodule has)
//!        ├─ app.yaml       sealed by the victim
//!        └─ leak.yaml      a plaintext Secret committed by mistake
//! ```

#![allow(clippy::unwrap_used)] // tests state their expectations by unwrapping

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

const CANARY: &str = "canary-plaintext-5b1e";

fn gitseal(dir: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gitseal"))
        .args(args)
        .current_dir(dir)
        .env("KUBECONFIG", dir.join("no-kubeconfig"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn keygen(dir: &Path, file: &str) -> String {
    let out = gitseal(dir, &["keygen", "-w", file], "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout).trim().to_owned()
}

fn id(recipient: &str) -> String {
    gitseal::KeyId::of(&gitseal::Recipients::parse_each([recipient]).unwrap()[0]).to_string()
}

fn secret(name: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: {name}, namespace: prod}}\nstringData: {{password: {CANARY}}}\n"
    )
}

#[test]
fn files_above_the_repository_root_neither_choose_recipients_nor_hide_a_secret() {
    let shared = tempfile::tempdir().unwrap();
    let repo = shared.path().join("repo");
    fs::create_dir(&repo).unwrap();
    // A worktree's or submodule's .git is a file: it marks the root all the same.
    fs::write(repo.join(".git"), "gitdir: /elsewhere/.git/worktrees/repo\n").unwrap();
    let attacker = keygen(shared.path(), "attacker.txt");
    fs::write(shared.path().join(".gitseal-recipients"), format!("{attacker}\n")).unwrap();
    fs::write(
        shared.path().join(".gitseal.yaml"),
        format!("rules:\n  - path: '**'\n    recipients: [{attacker}]\n    scope: cluster-wide\n"),
    )
    .unwrap();
    fs::write(shared.path().join(".gitsealignore"), "leak.yaml\nrepo/**\n").unwrap();

    // No recipients in the repository: seal asks for some instead of using the attacker's.
    let out = gitseal(&repo, &["seal", "-w", "app.yaml"], &secret("app"));
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("no recipients for app.yaml"), "{err}");
    assert!(!repo.join("app.yaml").exists(), "sealed to someone: {err}");

    // The repository's own recipients, and its default scope.
    let victim = keygen(&repo, "victim.txt");
    fs::write(repo.join(".gitseal-recipients"), format!("{victim}\n")).unwrap();
    let out = gitseal(&repo, &["seal", "-w", "app.yaml"], &secret("app"));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let sealed = fs::read_to_string(repo.join("app.yaml")).unwrap();
    assert!(sealed.contains(&id(&victim)) && !sealed.contains(&id(&attacker)), "{sealed}");
    assert!(sealed.contains("scope: strict"), "{sealed}");

    // A plaintext Secret committed by mistake is found, whatever the parent ignores.
    fs::write(repo.join("leak.yaml"), secret("leak")).unwrap();
    let out = gitseal(&repo, &["verify", "."], "");
    let report = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{report}{}", text(&out.stderr));
    assert!(report.contains("leak.yaml") && !report.contains(CANARY), "{report}");
    // The repository's own .gitsealignore still works.
    fs::write(repo.join(".gitsealignore"), "leak.yaml\n").unwrap();
    let out = gitseal(&repo, &["verify", "."], "");
    assert!(out.status.success(), "{}", text(&out.stdout));
}

#[test]
fn outside_a_repository_only_the_files_own_directory_is_read_and_a_note_says_so() {
    let shared = tempfile::tempdir().unwrap();
    let loose = shared.path().join("loose");
    fs::create_dir(&loose).unwrap();
    let above = keygen(shared.path(), "above.txt");
    fs::write(shared.path().join(".gitseal-recipients"), format!("{above}\n")).unwrap();

    let out = gitseal(shared.path(), &["seal", "-w", "loose/app.yaml"], &secret("app"));
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("not inside a Git repository") && err.contains("no recipients"), "{err}");
    assert!(!loose.join("app.yaml").exists());

    // The file's own directory is read.
    let own = keygen(&loose, "own.txt");
    fs::write(loose.join(".gitseal-recipients"), format!("{own}\n")).unwrap();
    let out = gitseal(shared.path(), &["seal", "-w", "loose/app.yaml"], &secret("app"));
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert_eq!(err.matches("not inside a Git repository").count(), 1, "one note: {err}");
    let sealed = fs::read_to_string(loose.join("app.yaml")).unwrap();
    assert!(sealed.contains(&id(&own)) && !sealed.contains(&id(&above)), "{sealed}");
}
