//! Stamps the commit the binary is built from into `GITSEAL_COMMIT` (for `--version`):
//! `$GITSEAL_COMMIT` when set (a release build, or a build from an archive), else
//! `git rev-parse`, else "unknown". Rebuilt when HEAD moves.

use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned()).filter(|s| !s.is_empty())
}

fn main() {
    println!("cargo:rerun-if-env-changed=GITSEAL_COMMIT");
    if let Some(commit) = std::env::var("GITSEAL_COMMIT").ok().filter(|c| !c.is_empty()) {
        // Named by the builder (dev/release/build): nothing in .git to watch, so a commit on
        // another branch does not rebuild a release.
        println!("cargo:rustc-env=GITSEAL_COMMIT={commit}");
        return;
    }
    if let Some(dir) = git(&["rev-parse", "--absolute-git-dir"]) {
        println!("cargo:rerun-if-changed={dir}/HEAD");
    }
    if let Some(common) = git(&["rev-parse", "--path-format=absolute", "--git-common-dir"]) {
        println!("cargo:rerun-if-changed={common}/refs/heads");
        // Only when it exists: cargo takes a missing file as always changed, and would
        // rebuild the CLI on every build of a repository without packed refs.
        let packed = format!("{common}/packed-refs");
        if Path::new(&packed).exists() {
            println!("cargo:rerun-if-changed={packed}");
        }
    }
    let commit = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=GITSEAL_COMMIT={commit}");
}
