//! The controller holds every private key of the ring in memory: a crash must not write
//! them to a core file. Checked through `/proc` while it starts against an API server that
//! never answers (so it waits, holding nothing yet, but already protected).

#![allow(clippy::unwrap_used)] // tests state their expectations by unwrapping

use std::os::unix::fs::PermissionsExt as _;
use std::process::Command;

use gitseal_test_support::core_dumps;

#[test]
fn the_controller_turns_core_dumps_off_at_start() {
    // Accepts connections (the kernel's backlog) and never answers them.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dir = tempfile::tempdir().unwrap();
    // Readable by the unprivileged user the controller runs as when the test is root.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters: [{{name: c, cluster: {{server: 'http://{}'}}}}]\nusers: [{{name: u, user: {{token: t}}}}]\ncontexts: [{{name: c, context: {{cluster: c, user: u}}}}]\ncurrent-context: c\n",
            silent.local_addr().unwrap()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&kubeconfig, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_gitseal-controller"));
    command
        .args(["--namespace", "gitseal-system", "--pod-name", "core-dumps", "--http-addr=127.0.0.1:0"])
        .env("KUBECONFIG", &kubeconfig)
        .current_dir("/");
    let (seen, off) = core_dumps::watch(command);
    assert!(off, "core dumps still possible: {seen:?}");
}
