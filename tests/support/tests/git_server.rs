//! The GitOps tests' Git server against the real git client: a clone over smart HTTP sees
//! what was pushed to the bare repository, the server can go away and come back on the
//! same URL, and hostile requests get an answer, not a stuck or dead server.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Output};

use anyhow::{Context as _, ensure};
use gitseal_test_support::git_server::{GitServer, init_bare};

fn git(dir: &Path, args: &[&str]) -> anyhow::Result<Output> {
    Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "protocol.version=2"])
        .args(args)
        .current_dir(dir)
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .with_context(|| format!("git {args:?}"))
}

fn ok(dir: &Path, args: &[&str]) -> anyhow::Result<String> {
    let out = git(dir, args)?;
    ensure!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A commit of `file` = `text` in a work tree cloned from nothing, pushed to `bare`.
fn push(work: &Path, bare: &Path, file: &str, text: &str) -> anyhow::Result<String> {
    if !work.join(".git").exists() {
        std::fs::create_dir_all(work)?;
        ok(work, &["init", "--quiet", "--initial-branch=main"])?;
    }
    std::fs::write(work.join(file), text)?;
    ok(work, &["add", file])?;
    ok(work, &["commit", "--quiet", "-m", file])?;
    ok(work, &["push", "--quiet", bare.to_str().context("path")?, "main"])?;
    Ok(ok(work, &["rev-parse", "HEAD"])?.trim().to_owned())
}

/// The raw response to `request` sent to the server as is.
fn raw(server: &GitServer, request: &[u8]) -> anyhow::Result<String> {
    let mut stream = TcpStream::connect(server.address())?;
    stream.write_all(request)?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response)
}

#[test]
fn a_clone_over_http_sees_each_push_and_survives_a_restart_of_the_server() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let root = dir.path().join("srv");
    std::fs::create_dir(&root)?;
    let bare = init_bare(&root, "app.git")?;
    let first = push(&dir.path().join("work"), &bare, "a.yaml", "one\n")?;

    let server = GitServer::start(&root)?;
    let url = server.url("app.git");
    ok(dir.path(), &["clone", "--quiet", &url, "clone"])?;
    let clone = dir.path().join("clone");
    ensure!(std::fs::read_to_string(clone.join("a.yaml"))? == "one\n");
    ensure!(ok(&clone, &["rev-parse", "HEAD"])?.trim() == first);

    let second = push(&dir.path().join("work"), &bare, "a.yaml", "two\n")?;
    ok(&clone, &["pull", "--quiet", "--ff-only"])?;
    ensure!(ok(&clone, &["rev-parse", "HEAD"])?.trim() == second);

    let address = server.address();
    server.stop();
    let refused = git(&clone, &["ls-remote", &url])?;
    ensure!(!refused.status.success(), "ls-remote answered by a stopped server");

    let back = GitServer::start_on(&root, address)?;
    ensure!(back.url("app.git") == url);
    ensure!(ok(&clone, &["ls-remote", &url, "refs/heads/main"])?.starts_with(&second));
    Ok(())
}

#[test]
fn hostile_requests_are_answered_and_the_server_goes_on() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let root = dir.path().join("srv");
    std::fs::create_dir(&root)?;
    let bare = init_bare(&root, "app.git")?;
    push(&dir.path().join("work"), &bare, "a.yaml", "one\n")?;
    std::fs::write(dir.path().join("outside"), "not served")?;
    let server = GitServer::start(&root)?;

    let escape = raw(&server, b"GET /../outside HTTP/1.1\r\nHost: x\r\n\r\n")?;
    ensure!(escape.starts_with("HTTP/1.1 403"), "{escape}");
    let garbage = raw(&server, b"\x00\x01 not http\r\n\r\n")?;
    ensure!(garbage.starts_with("HTTP/1.1 400"), "{garbage}");
    let huge = raw(&server, b"POST /app.git/git-upload-pack HTTP/1.1\r\nContent-Length: 999999999999\r\n\r\n")?;
    ensure!(huge.starts_with("HTTP/1.1 400"), "{huge}");
    let missing = raw(&server, b"GET /nothing.git/info/refs?service=git-upload-pack HTTP/1.1\r\n\r\n")?;
    ensure!(missing.starts_with("HTTP/1.1 404"), "{missing}");

    ensure!(git(dir.path(), &["ls-remote", &server.url("app.git")])?.status.success());
    Ok(())
}
