//! The `gitseal` binary on real files: every command, its exit codes, and the promise
//! that bad input gets a clear message and leaves no partial output behind.

#![allow(clippy::unwrap_used)] // tests state their expectations by unwrapping

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const CANARY: &str = "canary-plaintext-7f3a";

struct Env {
    dir: tempfile::TempDir,
    recipient: String,
}

impl Env {
    /// A temp dir with a key pair: key.txt and a committed .gitseal-recipients; a
    /// repository root (`.git`), as a checkout is, so its files govern the tree below.
    fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join(".git")).unwrap();
        let mut env = Env { dir, recipient: String::new() };
        let out = env.run(&["keygen", "-w", "key.txt"], None);
        assert!(out.status.success(), "{}", stderr(&out));
        env.recipient = String::from_utf8(out.stdout).unwrap().trim().to_owned();
        env.write(".gitseal-recipients", &format!("# test cluster\n{}\n", env.recipient));
        env
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path(name);
        fs::write(&p, text).unwrap();
        p
    }

    fn read(&self, name: &str) -> String {
        fs::read_to_string(self.path(name)).unwrap()
    }

    fn run(&self, args: &[&str], stdin: Option<&[u8]>) -> Output {
        let mut child = Command::new(env!("CARGO_BIN_EXE_gitseal"))
            .args(args)
            .current_dir(self.dir.path())
            // No kubeconfig unless a test writes one: offline commands must not depend on
            // the machine's.
            .env("KUBECONFIG", self.path("kubeconfig"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        // A command refused before it reads stdin (a usage error) closes the pipe early.
        if let Err(e) = input.write_all(stdin.unwrap_or_default()) {
            assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
        }
        drop(input);
        child.wait_with_output().unwrap()
    }

    /// Runs and expects success, returning stdout.
    fn ok(&self, args: &[&str], stdin: Option<&[u8]>) -> String {
        let out = self.run(args, stdin);
        assert!(out.status.success(), "gitseal {args:?} failed: {}", stderr(&out));
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs and expects exit code `code`, returning stderr (checked for the canary).
    fn fails(&self, code: i32, args: &[&str], stdin: Option<&[u8]>) -> String {
        let out = self.run(args, stdin);
        assert_eq!(out.status.code(), Some(code), "gitseal {args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(!err.contains(CANARY) && !String::from_utf8_lossy(&out.stdout).contains(CANARY), "plaintext leaked");
        err
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn secret_yaml(ns: &str, name: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: {ns}\n  labels: {{app: {name}}}\ntype: kubernetes.io/basic-auth\nstringData:\n  password: {CANARY}\n  username: admin\ndata:\n  blob: AAEKDf8=\n"
    )
}

#[test]
fn keygen_writes_a_private_file_once() {
    let env = Env::new();
    assert!(env.recipient.starts_with("age1"));
    let key = env.read("key.txt");
    assert!(key.contains(&format!("# public key: {}", env.recipient)) && key.contains("AGE-SECRET-KEY-1"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(fs::metadata(env.path("key.txt")).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let err = env.fails(1, &["keygen", "-w", "key.txt"], None);
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(env.read("key.txt"), key, "the existing key is untouched");
}

#[test]
fn seal_then_unseal_round_trips_a_multi_document_stream() {
    let env = Env::new();
    env.write("in.yaml", &format!("{}---\n{}", secret_yaml("prod", "db"), secret_yaml("dev", "db")));
    env.ok(&["seal", "-f", "in.yaml", "-w", "sealed.yaml"], None);
    let sealed = env.read("sealed.yaml");
    assert!(!sealed.contains(CANARY) && sealed.matches("kind: SealedSecret").count() == 2);
    let out = env.ok(&["unseal", "-i", "key.txt", "-f", "sealed.yaml", "-o", "json"], None);
    let list: serde_json::Value = serde_json::from_str(&out).unwrap();
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    use base64::Engine as _;
    let decode = |v: &serde_json::Value| base64::engine::general_purpose::STANDARD.decode(v.as_str().unwrap()).unwrap();
    assert_eq!(decode(&items[0]["data"]["password"]), CANARY.as_bytes());
    assert_eq!(decode(&items[1]["data"]["blob"]), [0, 1, 10, 13, 255]);
    assert_eq!(items[0]["type"], "kubernetes.io/basic-auth");
    assert_eq!(items[0]["metadata"]["labels"]["app"], "db");
}

#[test]
fn a_stock_age_binary_opens_a_sealed_value() {
    let env = Env::new();
    let sealed = env.ok(&["seal", "--raw", "-n", "prod", "--name", "db", "--key", "password"], Some(CANARY.as_bytes()));
    let age = match Command::new("age").arg("--version").output() {
        Ok(_) => "age",
        Err(_) if std::env::var_os("CI").is_some() => {
            panic!("the age CLI is missing; .ci/run installs it (apt-get install age)")
        }
        Err(_) => return eprintln!("note: age CLI not installed; interoperability not checked"),
    };
    use base64::Engine as _;
    let file = base64::engine::general_purpose::STANDARD.decode(sealed.trim()).unwrap();
    env.write("value.age", "");
    fs::write(env.path("value.age"), &file).unwrap();
    let out =
        Command::new(age).args(["-d", "-i"]).arg(env.path("key.txt")).arg(env.path("value.age")).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!("gitseal/v2 strict prod db password to={}\n{CANARY}", env.recipient.trim())
    );
}

#[test]
fn seal_refuses_input_it_should_not_take_and_writes_nothing() {
    let env = Env::new();
    env.write("prev.yaml", "previous contents\n");
    env.ok(&["seal", "-w", "sealed.yaml"], Some(secret_yaml("prod", "db").as_bytes()));

    let cases: &[(&str, &str)] = &[
        ("sealed.yaml", "already sealed; use `gitseal set`"),
        ("deploy.yaml", "document 1 is a Deployment, not a Secret"),
        ("broken.yaml", "broken.yaml: document 2: "),
        ("nons.yaml", "scope strict needs a namespace; set metadata.namespace or pass -n/--namespace"),
        ("badkey.yaml", "key \"bad key\""),
    ];
    env.write("deploy.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n");
    env.write(
        "broken.yaml",
        &format!("{}---\napiVersion: v1\nkind: Secret\nmetadata: {{name: [\n", secret_yaml("a", "b")),
    );
    env.write(
        "nons.yaml",
        &format!("apiVersion: v1\nkind: Secret\nmetadata: {{name: x}}\nstringData: {{k: {CANARY}}}\n"),
    );
    env.write("badkey.yaml", &format!("apiVersion: v1\nkind: Secret\nmetadata: {{name: x, namespace: prod}}\nstringData: {{'bad key': {CANARY}}}\n"));
    for (file, expected) in cases {
        let err = env.fails(1, &["seal", "-f", file, "-w", "prev.yaml"], None);
        assert!(err.contains(expected) && err.contains(file), "{file}: {err}");
        assert_eq!(env.read("prev.yaml"), "previous contents\n", "{file}: output file touched");
    }
    let leftovers: Vec<_> = fs::read_dir(env.dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".gitseal-"))
        .filter(|e| e.file_name() != ".gitseal-recipients")
        .collect();
    assert!(leftovers.is_empty(), "temporary files left behind: {leftovers:?}");
}

#[test]
fn raw_and_create_need_what_the_scope_binds() {
    let env = Env::new();
    let err = env.fails(1, &["seal", "--raw", "--name", "db", "--key", "k"], Some(b"v"));
    assert!(err.contains("--raw: scope strict needs --namespace; pass it, or choose a wider --scope"), "{err}");
    env.ok(&["seal", "--raw", "--scope", "cluster-wide", "--key", "k"], Some(b"v"));
    let err = env.fails(2, &["seal", "--raw", "-n", "prod"], Some(b"v"));
    assert!(err.contains("--key"), "{err}");

    // Coordinates that would make the header read as another place are refused where the
    // header is written: by seal --raw, and by set on a crafted file.
    let err = env.fails(1, &["seal", "--raw", "-n", "prod", "--name", "web token", "--key", "k"], Some(b"v"));
    assert!(err.contains("not a valid object name"), "{err}");
    let sealed = env.ok(&["seal", "--raw", "--scope", "cluster-wide", "--key", "k"], Some(b"v"));
    assert!(!sealed.is_empty());
    let good = env.ok(&["seal"], Some(secret_yaml("prod", "web").as_bytes()));
    env.write("crafted.yaml", &good.replace("name: web", "name: \"web token\\n\""));
    let before = env.read("crafted.yaml");
    let err = env.fails(1, &["set", "crafted.yaml", "k"], Some(b"v"));
    assert!(err.contains("crafted.yaml") && err.contains("not a valid object name"), "{err}");
    assert_eq!(env.read("crafted.yaml"), before, "file left unchanged");
}

#[test]
fn create_builds_a_sealed_secret_from_literals_and_files() {
    let env = Env::new();
    env.write("tls.key", CANARY);
    env.ok(
        &[
            "create",
            "web",
            "-n",
            "prod",
            "--from-literal",
            "user=admin",
            "--from-file",
            "tls.key",
            "--from-file",
            "alias=tls.key",
            "--type",
            "Opaque",
            "-w",
            "web.yaml",
        ],
        None,
    );
    let secret = env.ok(&["unseal", "-i", "key.txt", "-f", "web.yaml"], None);
    assert!(secret.contains("tls.key:") && secret.contains("alias:") && secret.contains("user: YWRtaW4="), "{secret}");
    let err = env.fails(1, &["create", "web", "-n", "prod", "--from-literal", "a=1", "--from-literal", "a=2"], None);
    assert!(err.contains("\"a\" is given twice"), "{err}");
}

#[test]
fn set_and_unset_touch_only_their_key() {
    let env = Env::new();
    env.write("in.yaml", &secret_yaml("prod", "db"));
    env.ok(&["seal", "-f", "in.yaml", "-w", "db.yaml"], None);
    let before = env.read("db.yaml");
    env.ok(&["set", "db.yaml", "password"], Some(b"rotated"));
    let after = env.read("db.yaml");
    let changed: Vec<_> = before.lines().zip(after.lines()).filter(|(a, b)| a != b).collect();
    assert_eq!(changed.len(), 1, "only the password line changes: {changed:?}");
    assert!(changed[0].0.trim_start().starts_with("password:"));
    let secret = env.ok(&["unseal", "-i", "key.txt", "-f", "db.yaml"], None);
    assert!(secret.contains("password: cm90YXRlZA=="), "{secret}");

    env.ok(&["unset", "db.yaml", "blob"], None);
    let after_unset = env.read("db.yaml");
    assert!(!after_unset.contains("blob"));
    assert_eq!(before.lines().count() - 3, after_unset.lines().count(), "value and key-id lines removed");
    let err = env.fails(1, &["unset", "db.yaml", "blob"], None);
    assert!(err.contains("\"blob\" is not in this SealedSecret"), "{err}");
    let err = env.fails(1, &["set", "in.yaml", "password"], Some(b"x"));
    assert!(err.contains("plaintext Secret"), "{err}");
}

#[test]
fn set_keeps_the_other_documents_of_a_file_byte_for_byte() {
    let env = Env::new();
    let sealed = env.ok(&["seal"], Some(secret_yaml("prod", "db").as_bytes()));
    let config = "# kept as written\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}  # inline\ndata: {a: 'b'}\n";
    env.write("mixed.yaml", &format!("{config}---\n{sealed}"));
    env.ok(&["set", "mixed.yaml", "extra"], Some(b"v"));
    let after = env.read("mixed.yaml");
    assert!(after.starts_with(&format!("{config}---\n")), "{after}");
    assert!(env.ok(&["unseal", "-i", "key.txt", "-f", "mixed.yaml"], None).contains("extra: dg=="));
    env.write("two.yaml", &format!("{sealed}---\n{sealed}"));
    let err = env.fails(1, &["unset", "two.yaml", "blob"], None);
    assert!(err.contains("two.yaml holds 2 SealedSecrets (prod/db, prod/db)"), "{err}");

    // A null document, which the parser drops (found by fuzzing): refused, nothing lost.
    let with_null = format!("{config}---\n~\n---\n{sealed}");
    env.write("null.yaml", &with_null);
    for args in [&["set", "null.yaml", "extra"][..], &["unset", "null.yaml", "password"]] {
        let err = env.fails(1, args, Some(b"v"));
        assert!(err.contains("null.yaml") && err.contains("null") && err.contains("left unchanged"), "{err}");
        assert_eq!(env.read("null.yaml"), with_null, "{args:?} changed the file");
    }
}

#[test]
fn unseal_refuses_wrong_key_tampering_and_moves() {
    let env = Env::new();
    env.write("in.yaml", &secret_yaml("prod", "db"));
    env.ok(&["seal", "-f", "in.yaml", "-w", "db.yaml"], None);
    let good = env.read("db.yaml");

    let other = Env::new();
    let err = env.fails(1, &["unseal", "-i", other.path("key.txt").to_str().unwrap(), "-f", "db.yaml"], None);
    assert!(err.contains("db.yaml") && err.contains("no key at hand"), "{err}");

    env.write("moved.yaml", &good.replace("namespace: prod", "namespace: dev"));
    let err = env.fails(1, &["unseal", "-i", "key.txt", "-f", "moved.yaml"], None);
    assert!(err.contains("dev/db") && err.contains("sealed for strict scope prod/db"), "{err}");

    let value_line = good.lines().find(|l| l.trim_start().starts_with("password:")).unwrap();
    let value = value_line.split_once(": ").unwrap().1;
    let mut tampered = value.to_owned();
    tampered.replace_range(
        value.len() - 8..value.len() - 4,
        if &value[value.len() - 8..value.len() - 4] == "AAAA" { "BBBB" } else { "AAAA" },
    );
    env.write("tampered.yaml", &good.replace(value, &tampered));
    let err = env.fails(1, &["unseal", "-i", "key.txt", "-f", "tampered.yaml"], None);
    assert!(err.contains("\"password\"") && err.contains("tampered"), "{err}");
}

#[test]
fn every_command_takes_the_recipients_nearest_to_the_file_it_writes_or_checks() {
    let env = Env::new(); // the root's .gitseal-recipients: the "prod" key (key.txt)
    fs::create_dir_all(env.path("envs/staging")).unwrap();
    let staging = env.ok(&["keygen", "-w", "envs/staging-key.txt"], None);
    env.write("envs/staging/.gitseal-recipients", &staging);
    env.write("envs/staging/s.yaml", &secret_yaml("staging", "db"));
    // Run from the root: the staging file is sealed to the staging key, not the root's.
    env.ok(&["seal", "-f", "envs/staging/s.yaml", "-w", "envs/staging/sealed.yaml"], None);
    fs::remove_file(env.path("envs/staging/s.yaml")).unwrap();
    let staging_id = gitseal::KeyId::of(&gitseal::Recipients::parse_each([staging.trim()]).unwrap()[0]);
    assert!(env.read("envs/staging/sealed.yaml").contains(staging_id.as_str()));
    env.fails(1, &["unseal", "-i", "key.txt", "-f", "envs/staging/sealed.yaml"], None);
    env.ok(&["unseal", "-i", "envs/staging-key.txt", "-f", "envs/staging/sealed.yaml"], None);
    // set, run from the root, also uses the file's own recipients.
    env.ok(&["set", "envs/staging/sealed.yaml", "extra"], Some(b"v"));
    env.ok(&["unseal", "-i", "envs/staging-key.txt", "-f", "envs/staging/sealed.yaml"], None);
    // verify holds each file to its own recipients: both pass from the root.
    env.ok(&["seal", "-w", "prod.yaml"], Some(secret_yaml("prod", "db").as_bytes()));
    let out = env.ok(&["verify", "."], None);
    assert!(out.contains("2 SealedSecret(s): 0 problem(s)"), "{out}");
    // A staging value sealed to the prod key is flagged under envs/staging only.
    fs::copy(env.path("prod.yaml"), env.path("envs/staging/wrong.yaml")).unwrap();
    let out = env.run(&["verify", "."], None);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("wrong.yaml") && text.contains("sealed to no known key") && !text.contains("prod.yaml:"),
        "{text}"
    );
}

#[test]
fn repository_rules_choose_recipients_scope_and_namespace_per_path_and_verify_holds_files_to_them() {
    let env = Env::new(); // key.txt: the "prod" cluster; .gitseal-recipients lists it
    fs::create_dir_all(env.path("envs/prod")).unwrap();
    fs::create_dir_all(env.path("envs/dev")).unwrap();
    fs::create_dir_all(env.path("keys")).unwrap();
    let glass = env.ok(&["keygen", "-w", "glass.txt"], None);
    let dev = env.ok(&["keygen", "-w", "dev.txt"], None);
    env.write("keys/dev.txt", &dev);
    env.write(
        ".gitseal.yaml",
        &format!(
            "rules:\n  - path: envs/prod/**\n    recipients: [{}, {}]\n    namespace: prod\n  - path: envs/dev/\n    recipientsFile: keys/dev.txt\n    scope: namespace-wide\n    namespace: dev\n",
            env.recipient,
            glass.trim()
        ),
    );
    let id = |r: &str| gitseal::KeyId::of(&gitseal::Recipients::parse_each([r.trim()]).unwrap()[0]).to_string();
    let no_ns = "apiVersion: v1\nkind: Secret\nmetadata: {name: app}\nstringData: {k: v}\n";
    // From the root: each file gets its rule's recipients, scope and namespace.
    env.ok(&["seal", "-w", "envs/dev/app.yaml"], Some(no_ns.as_bytes()));
    let dev_file = env.read("envs/dev/app.yaml");
    assert!(dev_file.contains("scope: namespace-wide") && dev_file.contains("namespace: dev"), "{dev_file}");
    assert!(dev_file.contains(&id(&dev)) && !dev_file.contains(&id(&env.recipient)), "{dev_file}");
    env.ok(&["create", "db", "--from-literal", "password=x", "-w", "envs/prod/db.yaml"], None);
    let prod_file = env.read("envs/prod/db.yaml");
    assert!(prod_file.contains("scope: strict") && prod_file.contains("namespace: prod"), "{prod_file}");
    assert!(prod_file.contains(&id(&env.recipient)) && prod_file.contains(&id(&glass)), "{prod_file}");
    // Flags win.
    env.ok(&["seal", "--scope", "strict", "-n", "qa", "-w", "envs/dev/qa.yaml"], Some(no_ns.as_bytes()));
    let qa = env.read("envs/dev/qa.yaml");
    assert!(qa.contains("scope: strict") && qa.contains("namespace: qa"), "{qa}");
    // …but verify holds the file to its rule's namespace.
    let out = env.run(&["verify", "."], None);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("envs/dev/qa.yaml: document 1 (qa/app): namespace qa, but"), "{text}");
    fs::remove_file(env.path("envs/dev/qa.yaml")).unwrap();
    let out = env.ok(&["verify", "."], None);
    assert!(out.contains("2 SealedSecret(s): 0 problem(s)"), "{out}");
    // A prod value sealed without the break-glass key breaks its rule; so does a dev value
    // that is also sealed to the prod key.
    env.ok(&["create", "thin", "-r", &env.recipient, "--from-literal", "k=v", "-w", "envs/prod/thin.yaml"], None);
    env.ok(
        &[
            "create",
            "wide",
            "-r",
            dev.trim(),
            "-r",
            &env.recipient,
            "--from-literal",
            "k=v",
            "-w",
            "envs/dev/wide.yaml",
        ],
        None,
    );
    let out = env.run(&["verify", "."], None);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("thin.yaml") && text.contains(&format!("not sealed to {}", id(&glass))), "{text}");
    assert!(text.contains("wide.yaml") && text.contains(&format!("also sealed to {}", id(&env.recipient))), "{text}");
    assert!(text.contains("4 SealedSecret(s): 2 problem(s)"), "{text}");
    // A file no rule matches falls back to that directory's .gitseal-recipients.
    env.ok(&["seal", "-w", "top.yaml"], Some(secret_yaml("prod", "top").as_bytes()));
    assert!(env.read("top.yaml").contains(&id(&env.recipient)));
    // A broken rule is named.
    env.write(".gitseal.yaml", "rules:\n  - pathRegex: '('\n    recipients: []\n");
    let err = env.fails(1, &["seal", "-w", "x.yaml"], Some(no_ns.as_bytes()));
    assert!(err.contains(".gitseal.yaml, rule 1") && err.contains("not a regular expression"), "{err}");
    env.write(".gitseal.yaml", "rules:\n  - path: '**'\n    scope: global\n");
    let err = env.fails(1, &["seal", "-w", "x.yaml"], Some(no_ns.as_bytes()));
    assert!(err.contains("scope \"global\""), "{err}");
}

#[test]
fn set_on_an_existing_key_changes_that_value_and_nothing_else_comments_and_crlf_included() {
    let env = Env::new();
    env.ok(&["seal", "-w", "db.yaml"], Some(secret_yaml("prod", "db").as_bytes()));
    let sealed = env.read("db.yaml");
    let commented = sealed.replace("spec:\n", "spec: # owned by team-a\n").replace('\n', "\r\n");
    env.write("db.yaml", &format!("# header comment\r\n{commented}"));
    let before = env.read("db.yaml");
    env.ok(&["set", "db.yaml", "password"], Some(b"rotated"));
    let after = env.read("db.yaml");
    let changed: Vec<_> = before.split("\r\n").zip(after.split("\r\n")).filter(|(a, b)| a != b).collect();
    assert_eq!(changed.len(), 1, "{changed:?}");
    assert!(changed[0].1.trim_start().starts_with("password: "), "{changed:?}");
    assert!(after.contains("# owned by team-a") && after.matches("\r\n").count() == before.matches("\r\n").count());
    let secret = env.ok(&["unseal", "-i", "key.txt", "-f", "db.yaml"], None);
    assert!(secret.contains("password: cm90YXRlZA=="), "{secret}");
    // Adding a key keeps them too (documents.rs has the details).
    let out = env.run(&["set", "db.yaml", "extra"], Some(b"v"));
    assert!(out.status.success() && !stderr(&out).contains("not kept"), "{}", stderr(&out));
    assert!(env.read("db.yaml").contains("spec: # owned by team-a\r\n"));
}

#[test]
fn set_on_a_terminal_prompts_without_echo() {
    let env = Env::new();
    env.ok(&["seal", "-w", "db.yaml"], Some(secret_yaml("prod", "db").as_bytes()));
    // A real pty (python3's pty module): the prompt is shown, the typed value is not echoed.
    let script = r#"
import os, pty, signal, sys
signal.alarm(30)  # a hang fails the test instead of stopping the run
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], [sys.argv[1], "set", "db.yaml", "token"])
out = b""
while b"not shown" not in out:
    out += os.read(fd, 1024)
os.write(fd, b"typed-in-secret\n")
while True:
    try:
        chunk = os.read(fd, 1024)
    except OSError:
        break
    if not chunk:
        break
    out += chunk
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode())
sys.exit(os.waitstatus_to_exitcode(status))
"#;
    let out = Command::new("python3")
        .args(["-c", script, env!("CARGO_BIN_EXE_gitseal")])
        .current_dir(env.dir.path())
        .env("KUBECONFIG", env.path("kubeconfig"))
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{shown} {}", stderr(&out));
    assert!(shown.contains("value for token (not shown)") && !shown.contains("typed-in-secret"), "{shown}");
    let opened = env.ok(&["unseal", "-i", "key.txt", "-f", "db.yaml", "-o", "json"], None);
    let secret: serde_json::Value = serde_json::from_str(&opened).unwrap();
    // base64("typed-in-secret"): the line end typed is not part of the value.
    assert_eq!(secret["data"]["token"], "dHlwZWQtaW4tc2VjcmV0");
}

#[test]
fn set_refuses_an_empty_value_and_strips_only_when_asked() {
    let env = Env::new();
    env.ok(&["seal", "-w", "db.yaml"], Some(secret_yaml("prod", "db").as_bytes()));
    let before = env.read("db.yaml");
    let err = env.fails(1, &["set", "db.yaml", "token"], Some(b""));
    assert!(err.contains("empty") && err.contains("--allow-empty"), "{err}");
    assert_eq!(env.read("db.yaml"), before, "nothing written");
    env.ok(&["set", "db.yaml", "empty", "--allow-empty"], Some(b""));
    env.ok(&["set", "db.yaml", "kept"], Some(b"v\n"));
    env.ok(&["set", "db.yaml", "trimmed", "--trim-newline"], Some(b"v\r\n"));
    let plain = env.ok(&["unseal", "-i", "key.txt", "-f", "db.yaml", "-o", "json"], None);
    let secret: serde_json::Value = serde_json::from_str(&plain).unwrap();
    assert_eq!(secret["data"]["empty"], "");
    assert_eq!(secret["data"]["kept"], "dgo=", "the newline is part of the value unless trimmed");
    assert_eq!(secret["data"]["trimmed"], "dg==");
}

#[test]
fn kubeseal_flags_point_to_the_gitseal_way_and_keygen_y_prints_the_public_key() {
    let env = Env::new();
    for (flag, hint) in [
        ("--cert", "gitseal seal -r age1"),
        ("--merge-into", "gitseal set FILE KEY"),
        ("--recovery-unseal", "gitseal unseal -i"),
        ("--fetch-cert", "gitseal fetch-key"),
        ("--re-encrypt", "gitseal reseal"),
    ] {
        let err = env.fails(2, &["seal", flag, "x"], None);
        assert!(err.contains(&format!("{flag} is kubeseal's")) && err.contains(hint), "{err}");
    }
    assert_eq!(env.ok(&["keygen", "-y", "key.txt"], None).trim(), env.recipient);
}

#[test]
fn inspect_shows_each_values_scope_format_and_keys_without_a_private_key() {
    let env = Env::new();
    env.ok(&["seal", "-w", "db.yaml"], Some(secret_yaml("prod", "db").as_bytes()));
    let stranger = env.ok(&["keygen", "-w", "stranger.txt"], None);
    env.ok(
        &[
            "create",
            "other",
            "-n",
            "prod",
            "-r",
            stranger.trim(),
            "--scope",
            "namespace-wide",
            "--from-literal",
            "k=v",
            "-w",
            "other.yaml",
        ],
        None,
    );
    // A format 1 value, from the committed vectors.
    let vector = fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/vectors/strict")).unwrap();
    let old = vector.lines().last().unwrap();
    env.write("old.yaml", &format!("apiVersion: gitseal.dev/v1alpha1\nkind: SealedSecret\nmetadata: {{name: db, namespace: prod}}\nspec:\n  encryptedData: {{password: {old}}}\n"));
    let out = env.ok(&["inspect", "-o", "json", "."], None);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    let row = |file: &str, key: &str| {
        rows.iter().find(|r| r["file"].as_str().unwrap().ends_with(file) && r["key"] == key).unwrap().clone()
    };
    let db = row("db.yaml", "password");
    assert_eq!((db["format"].as_u64(), db["scope"].as_str()), (Some(2), Some("strict scope prod/db key \"password\"")));
    assert_eq!(db["keyIds"], db["known"], "sealed to the repository's key");
    let other = row("other.yaml", "k");
    assert_eq!(other["scope"], "namespace-wide scope in \"prod\"");
    assert!(other["known"].as_array().unwrap().is_empty(), "a stranger's key is not known: {other}");
    assert_eq!(row("old.yaml", "password")["format"], 1);
    let table = env.ok(&["inspect", "db.yaml"], None);
    assert!(table.contains("format 2") && table.contains('*') && !table.contains(CANARY), "{table}");
}

/// A template that would carry the plaintext out of its scope (a replicator's annotation,
/// a ServiceAccount token type) seals, but `verify` warns, naming file, document and
/// field, never the value; the check still passes (the cluster's policy decides).
#[test]
fn verify_warns_about_templates_the_controllers_policy_refuses() {
    let env = Env::new();
    let replicated = secret_yaml("prod", "db").replace(
        "  labels: {app: db}\n",
        &format!("  labels: {{app: db}}\n  annotations: {{replicator.v1.mittwald.de/replicate-to: '{CANARY}'}}\n"),
    );
    let token = secret_yaml("prod", "token").replace("kubernetes.io/basic-auth", "kubernetes.io/service-account-token");
    let sealed =
        env.ok(&["seal"], Some(format!("{}---\n{replicated}---\n{token}", secret_yaml("prod", "ok")).as_bytes()));
    env.write("sealed.yaml", &sealed);
    let out = env.ok(&["verify", "sealed.yaml"], None);
    assert!(
        out.contains("sealed.yaml: document 2 (prod/db): warning: spec.template.metadata.annotations[replicator.v1.mittwald.de/replicate-to] is refused by the template policy"),
        "{out}"
    );
    assert!(
        out.contains(
            "sealed.yaml: document 3 (prod/token): warning: spec.template.type (kubernetes.io/service-account-token)"
        ),
        "{out}"
    );
    assert!(out.contains("3 SealedSecret(s): 0 problem(s), 2 warning(s)"), "{out}");
    assert!(!out.contains("document 1"), "an ordinary template passes: {out}");
    assert!(!out.contains(CANARY), "never a value: {out}");
    let json: serde_json::Value =
        serde_json::from_str(&env.ok(&["verify", "-o", "json", "sealed.yaml"], None)).unwrap();
    assert_eq!(json["warnings"].as_array().map(Vec::len), Some(2), "{json}");
}

#[test]
fn lists_are_read_everywhere_and_written_back_as_lists() {
    let env = Env::new();
    // What `kubectl get secret -o yaml` prints for several Secrets, committed by mistake.
    let list = format!(
        "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Secret\n  metadata: {{name: a, namespace: prod}}\n  stringData: {{password: {CANARY}}}\n- apiVersion: v1\n  kind: Secret\n  metadata: {{name: b, namespace: prod}}\n  stringData: {{password: x}}\n"
    );
    env.write("leak.yaml", &list);
    let out = env.run(&["verify", "leak.yaml"], None);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("leak.yaml: document 1, item 2 (prod/b): plaintext Secret"), "{text}");
    assert!(!text.contains(CANARY));
    // seal reads the List and writes a List; verify and unseal read it back.
    env.ok(&["seal", "-f", "leak.yaml", "-w", "sealed.yaml"], None);
    fs::remove_file(env.path("leak.yaml")).unwrap();
    let sealed = env.read("sealed.yaml");
    assert!(
        sealed.starts_with("apiVersion: v1\nkind: List\nitems:") && sealed.matches("kind: SealedSecret").count() == 2,
        "{sealed}"
    );
    assert!(env.ok(&["verify", "."], None).contains("2 SealedSecret(s): 0 problem(s)"));
    let opened = env.ok(&["unseal", "-i", "key.txt", "-f", "sealed.yaml"], None);
    assert!(
        opened.starts_with("apiVersion: v1\nkind: List") && opened.matches("kind: Secret").count() == 2,
        "{opened}"
    );
    // gitseal reads its own JSON output for several documents (a List).
    let json = env.ok(
        &["seal", "-o", "json"],
        Some(format!("{}---\n{}", secret_yaml("prod", "c"), secret_yaml("prod", "d")).as_bytes()),
    );
    env.write("sealed.json", &json);
    let opened = env.ok(&["unseal", "-i", "key.txt", "-f", "sealed.json", "-o", "json"], None);
    let list: serde_json::Value = serde_json::from_str(&opened).unwrap();
    assert_eq!((list["kind"].as_str(), list["items"].as_array().map(Vec::len)), (Some("List"), Some(2)));
    // set edits a SealedSecret inside a List, and the List stays a List with its other
    // items; a new key is added and a changed value replaced where they stand, the rest of
    // the List as written.
    let one = format!(
        "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {{name: keep}}\n  data: {{mode: fast}}\n- {}",
        env.ok(&["seal"], Some(secret_yaml("prod", "e").as_bytes())).replace('\n', "\n  ").trim_end()
    );
    env.write("one.yaml", &format!("{one}\n"));
    env.ok(&["set", "one.yaml", "added"], Some(b"v"));
    let after = env.read("one.yaml");
    assert!(after.starts_with(&one[..one.find("- apiVersion: gitseal").unwrap()]), "{after}");
    let opened = env.ok(&["unseal", "-i", "key.txt", "-f", "one.yaml", "-o", "json"], None);
    assert!(opened.contains("\"added\": \"dg==\""), "{opened}");
    env.ok(&["set", "one.yaml", "added"], Some(b"w"));
    let err = env.fails(1, &["set", "sealed.yaml", "k"], Some(b"v"));
    assert!(err.contains("sealed.yaml holds 2 SealedSecrets (prod/a, prod/b)"), "{err}");
    env.ok(&["set", "--name", "b", "sealed.yaml", "k"], Some(b"v"));
    let opened = env.ok(&["unseal", "-i", "key.txt", "-f", "sealed.yaml", "-o", "json"], None);
    let list: serde_json::Value = serde_json::from_str(&opened).unwrap();
    assert!(list["items"][0]["data"].get("k").is_none() && list["items"][1]["data"]["k"] == "dg==", "{list}");
}

#[test]
fn verify_skips_what_it_is_told_notes_templates_and_flags_kustomize_plaintext() {
    let env = Env::new();
    fs::create_dir_all(env.path("chart/templates")).unwrap();
    fs::create_dir_all(env.path("vendor/x")).unwrap();
    fs::create_dir_all(env.path("kust")).unwrap();
    // A Helm template is not YAML: a note, not a failure; one that makes a Secret is a problem.
    env.write(
        "chart/templates/deploy.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\n",
    );
    let out = env.run(&["verify", "chart"], None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(stderr(&out).contains("a template, not YAML; skipped"), "{}", stderr(&out));
    env.write(
        "chart/templates/secret.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {{ .Release.Name }}\nstringData: {password: x}\n",
    );
    assert_eq!(env.run(&["verify", "chart"], None).status.code(), Some(1));
    // --exclude and .gitsealignore skip files, here plaintext Secrets.
    env.write("vendor/x/leak.yaml", &secret_yaml("prod", "vendored"));
    env.write("leak.yaml", &secret_yaml("prod", "leak"));
    assert_eq!(env.run(&["verify", "vendor"], None).status.code(), Some(1));
    // Everything excluded: nothing left to check, which passes only when asked for.
    env.ok(
        &["verify", "--allow-empty", "--exclude", "vendor/**", "--exclude", "leak.yaml", "--exclude", "chart/**", "."],
        None,
    );
    env.write(".gitsealignore", "# third-party\nvendor/**\nchart/**\n");
    let out = env.run(&["verify", "."], None);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("leak.yaml") && !text.contains("vendor") && !text.contains("chart"), "{text}");
    // kustomize secretGenerator literals and env files are plaintext in the repository.
    env.write(
        "kust/kustomization.yaml",
        "secretGenerator:\n- name: db\n  literals: [password=hunter2]\n  envs: [db.env]\n",
    );
    let out = env.run(&["verify", "kust"], None);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("secretGenerator \"db\" holds 1 plaintext literal") && text.contains("from db.env"),
        "{text}"
    );
    assert!(!text.contains("hunter2"), "{text}");
    // A file it reads that is not here is not "in the repository": a warning, not a failure.
    env.write("kust/kustomization.yaml", "secretGenerator:\n- name: db\n  envs: [db.env]\n");
    let out = env.run(&["verify", "kust"], None);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("warning: kustomize secretGenerator \"db\" reads plaintext from db.env, which is not here"),
        "{text}"
    );
    env.write("kust/db.env", "password=hunter2\n");
    let out = env.run(&["verify", "kust"], None);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("from db.env, which is in the repository beside it") && !text.contains("hunter2"), "{text}");
}

#[test]
fn the_namespace_defaults_to_the_kubeconfig_contexts_as_kubectl_would() {
    let env = Env::new();
    let no_ns = "apiVersion: v1\nkind: Secret\nmetadata: {name: db}\nstringData: {k: v}\n";
    let err = env.fails(1, &["seal"], Some(no_ns.as_bytes()));
    assert!(err.contains("needs a namespace"), "without a kubeconfig: {err}");
    env.write(
        "kubeconfig",
        "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\nusers: [{name: u, user: {}}]\ncontexts: [{name: x, context: {cluster: c, user: u, namespace: team}}]\ncurrent-context: x\n",
    );
    let out = env.run(&["seal"], Some(no_ns.as_bytes()));
    let sealed = String::from_utf8_lossy(&out.stdout);
    assert!(sealed.contains("namespace: team"), "{sealed}");
    // Chosen by gitseal, so said in one line, with where it came from.
    let said = stderr(&out);
    assert!(said.contains("<stdin>: document 1 (db): namespace team (from the kubeconfig context x)"), "{said}");
    let out = env.run(&["seal", "-n", "other"], Some(no_ns.as_bytes()));
    assert!(String::from_utf8_lossy(&out.stdout).contains("namespace: other"), "the flag wins");
    assert!(!stderr(&out).contains("namespace other"), "a namespace given is not repeated: {}", stderr(&out));
    // A rule's namespace names the rule.
    env.write(
        ".gitseal.yaml",
        &format!("rules:\n  - path: '**'\n    recipients: [{}]\n    namespace: ruled\n", env.recipient),
    );
    let out = env.run(&["create", "api", "--from-literal", "k=v"], None);
    assert!(String::from_utf8_lossy(&out.stdout).contains("namespace: ruled"));
    assert!(
        stderr(&out).contains("create api: namespace ruled (from ") && stderr(&out).contains(".gitseal.yaml, rule 1"),
        "{}",
        stderr(&out)
    );
    fs::remove_file(env.path(".gitseal.yaml")).unwrap();
    // Errors from the cluster name it; a request that hangs is cut by --request-timeout.
    let err = env.fails(1, &["fetch-key", "--request-timeout", "2s"], None);
    assert!(err.contains("context x, server https://127.0.0.1:1"), "{err}");
}

#[test]
fn edit_reseals_what_changed_keeps_the_rest_and_leaves_no_plaintext_behind() {
    let env = Env::new();
    env.ok(&["seal", "-w", "db.yaml"], Some(secret_yaml("prod", "db").as_bytes()));
    let editor = |name: &str, body: &str| {
        let path = env.write(
            name,
            &format!(
                "#!/bin/sh\nls -ld \"$(dirname \"$1\")\" \"$1\" >> {}/seen.txt\ncp \"$1\" {}/shown.txt\n{body}\n",
                env.dir.path().display(),
                env.dir.path().display()
            ),
        );
        fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        path.display().to_string()
    };
    let run_with = |editor: &str, args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_gitseal"))
            .args(args)
            .current_dir(env.dir.path())
            .env("EDITOR", editor)
            .env_remove("VISUAL")
            .output()
            .unwrap()
    };
    let before = env.read("db.yaml");
    let blob_before = before.lines().find(|l| l.trim_start().starts_with("blob:")).unwrap().to_owned();
    // Placeholders: change one, delete one, add one.
    let change = editor(
        "change.sh",
        "sed -i -e 's/^password: .*/password: rotated/' -e '/^username:/d' \"$1\"\necho 'extra: \"42\"' >> \"$1\"",
    );
    let out = run_with(&change, &["edit", "db.yaml"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let shown = env.read("shown.txt");
    assert!(shown.contains("password: <unchanged>") && !shown.contains(CANARY), "{shown}");
    let after = env.read("db.yaml");
    assert!(after.contains(&blob_before), "an unchanged value keeps its ciphertext");
    let opened = env.ok(&["unseal", "-i", "key.txt", "-f", "db.yaml", "-o", "json"], None);
    let secret: serde_json::Value = serde_json::from_str(&opened).unwrap();
    assert_eq!(secret["data"]["password"], "cm90YXRlZA==");
    assert_eq!(secret["data"]["extra"], "NDI=");
    assert!(secret["data"].get("username").is_none());
    // The values lived in a private directory (drwx------, file -rw-------) that is gone.
    let seen = env.read("seen.txt");
    assert!(seen.lines().next().unwrap().starts_with("drwx------") && seen.contains("-rw-------"), "{seen}");
    let dir = seen.lines().next().unwrap().split_whitespace().last().unwrap().to_owned();
    assert!(!Path::new(&dir).exists(), "{dir} removed");
    // With -i the editor shows the values; the editor failing changes nothing, removes all.
    let fail = editor("fail.sh", "exit 3");
    let before = env.read("db.yaml");
    let out = run_with(&fail, &["edit", "-i", "key.txt", "db.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("failed") && !stderr(&out).contains("rotated"), "{}", stderr(&out));
    assert!(env.read("shown.txt").contains("password: \"rotated\""));
    assert_eq!(env.read("db.yaml"), before, "nothing written");
    let dir = env.read("seen.txt").lines().nth(2).unwrap().split_whitespace().last().unwrap().to_owned();
    assert!(!Path::new(&dir).exists(), "{dir} removed after a failing editor");
    // Changing a value only: that ciphertext changes, comments and CRLF line ends stay.
    let commented = format!("# team-a\r\n{}", env.read("db.yaml").replace('\n', "\r\n"));
    env.write("db.yaml", &commented);
    let one = editor("one.sh", "sed -i -e 's/^password: .*/password: once-more/' \"$1\"");
    assert!(run_with(&one, &["edit", "db.yaml"]).status.success());
    let after = env.read("db.yaml");
    let changed: Vec<_> = commented.split("\r\n").zip(after.split("\r\n")).filter(|(a, b)| a != b).collect();
    assert_eq!(changed.len(), 1, "{changed:?}");
    assert!(changed[0].1.trim_start().starts_with("password: ") && after.starts_with("# team-a\r\n"));
    let before = env.read("db.yaml");
    // Unchanged plaintext keeps its ciphertext too.
    let noop = editor("noop.sh", "true");
    assert!(run_with(&noop, &["edit", "-i", "key.txt", "db.yaml"]).status.success());
    assert_eq!(env.read("db.yaml"), before, "nothing changed, nothing rewritten");
    fs::remove_file(env.path("shown.txt")).unwrap();
}

/// An editor script for `gitseal edit`: its runs are counted in `runs`, what it was shown
/// is kept in `shown-<run>.txt`, and run N executes the N-th of `bodies` (the last repeats).
fn counting_editor(env: &Env, bodies: &[&str]) -> String {
    let dir = env.dir.path().display();
    let mut script = format!(
        "#!/bin/sh\nn=$(( $(cat {dir}/runs 2>/dev/null || echo 0) + 1 ))\necho $n > {dir}/runs\ncp \"$1\" {dir}/shown-$n.txt\n"
    );
    for (i, body) in bodies.iter().enumerate() {
        let test = if i + 1 == bodies.len() { "true".to_owned() } else { format!("[ $n -eq {} ]", i + 1) };
        script.push_str(&format!("if {test}; then\n{body}\nexit 0\nfi\n"));
    }
    let path = env.write("editor.sh", &script);
    fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let _ = fs::remove_file(env.path("runs"));
    path.display().to_string()
}

fn edit_with(env: &Env, editor: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gitseal"))
        .args(args)
        .current_dir(env.dir.path())
        .env("EDITOR", editor)
        .env_remove("VISUAL")
        .output()
        .unwrap()
}

fn opened(env: &Env, file: &str) -> serde_json::Value {
    let opened = env.ok(&["unseal", "-i", "key.txt", "-f", file, "-o", "json"], None);
    serde_json::from_str::<serde_json::Value>(&opened).unwrap()["data"].clone()
}

fn b64(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}

#[test]
fn edit_seals_what_was_typed_even_when_yaml_reads_it_as_a_number_or_boolean() {
    let env = Env::new();
    env.ok(&["seal", "-w", "db.yaml"], Some(secret_yaml("prod", "db").as_bytes()));
    // Placeholders: unquoted values YAML would read as an octal number, a number, a
    // boolean and null-like text are stored as typed, each one said on stderr.
    let editor = counting_editor(
        &env,
        &[
            "sed -i -e 's/^password: .*/password: 042/' -e 's/^username: .*/username: no/' \"$1\"\nprintf 'n: 42 # the answer\\nt: ~\\n' >> \"$1\"",
        ],
    );
    let out = edit_with(&env, &editor, &["edit", "db.yaml"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let data = opened(&env, "db.yaml");
    for (key, typed) in [("password", "042"), ("username", "no"), ("n", "42"), ("t", "~")] {
        assert_eq!(data[key], b64(typed), "{key}: {data}");
    }
    assert!(stderr(&out).contains("db.yaml: sealed n, password, t, username"), "{}", stderr(&out));
    // With -i, the same: 0x1F stays 0x1F, and the values not touched keep theirs.
    let editor = counting_editor(&env, &["sed -i -e 's/^password: .*/password: 0x1F/' \"$1\""]);
    let out = edit_with(&env, &editor, &["edit", "-i", "key.txt", "db.yaml"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let data = opened(&env, "db.yaml");
    assert_eq!((data["password"].clone(), data["n"].clone()), (b64("0x1F").into(), b64("42").into()), "{data}");
    assert!(stderr(&out).contains("db.yaml: sealed password\n"), "{}", stderr(&out));
}

#[test]
fn an_edit_that_cannot_be_taken_reopens_the_editor_with_the_reason_and_loses_nothing() {
    let env = Env::new();
    env.ok(&["seal", "-w", "db.yaml"], Some(secret_yaml("prod", "db").as_bytes()));
    // First save: a bad key beside a good change; reopened with the reason on top, the
    // user fixes the key and both changes are taken.
    let editor = counting_editor(
        &env,
        &[
            "sed -i -e 's/^password: .*/password: kept-across-the-retry/' \"$1\"\necho 'bad key!: x' >> \"$1\"",
            "sed -i -e 's/^bad key!: x/good-key: x/' \"$1\"",
        ],
    );
    let out = edit_with(&env, &editor, &["edit", "db.yaml"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("reopening the editor"), "{}", stderr(&out));
    assert_eq!(env.read("runs").trim(), "2");
    let second = env.read("shown-2.txt");
    assert!(second.starts_with("# gitseal edit: refused: ") && second.contains("\"bad key!\""), "{second}");
    assert!(second.contains("password: kept-across-the-retry"), "the first edit is shown again: {second}");
    let data = opened(&env, "db.yaml");
    assert_eq!(
        (data["password"].clone(), data["good-key"].clone()),
        (b64("kept-across-the-retry").into(), b64("x").into())
    );
    assert!(data.get("bad key!").is_none());

    // Saved again unchanged after a refusal: gives up, exit 1, the file as it was. An
    // empty value, a new key kept <unchanged> and a value that is not text are refused
    // the same way.
    for bad in ["password:", "extra: <unchanged>", "password: [1, 2]"] {
        let before = env.read("db.yaml");
        let body = format!(
            "grep -v -e '^password:' -e '^extra:' -e '^# gitseal' \"$1\" > \"$1.new\"\necho '{bad}' >> \"$1.new\"\nmv \"$1.new\" \"$1\""
        );
        let editor = counting_editor(&env, &[&body]);
        let out = edit_with(&env, &editor, &["edit", "db.yaml"]);
        assert_eq!(out.status.code(), Some(1), "{bad}: {}", stderr(&out));
        assert!(stderr(&out).contains("saved again unchanged, so nothing was written"), "{bad}: {}", stderr(&out));
        assert_eq!(env.read("runs").trim(), "2", "{bad}");
        assert_eq!(env.read("db.yaml"), before, "{bad}: nothing written");
    }
    // Nothing changed is said too, and writes nothing.
    let before = env.read("db.yaml");
    let out = edit_with(&env, &counting_editor(&env, &["true"]), &["edit", "db.yaml"]);
    assert!(out.status.success() && stderr(&out).contains("no value changed"), "{}", stderr(&out));
    assert_eq!(env.read("db.yaml"), before);
}

#[test]
fn empty_values_are_refused_alike_unless_asked_for_and_a_piped_newline_is_noted() {
    let env = Env::new();
    env.write("empty", "");
    // create (a literal, a file), seal --raw, a Secret's data, set: one rule, one message,
    // nothing written.
    let refusals: [(&[&str], &str, &str); 5] = [
        (&["create", "db", "-n", "prod", "--from-literal", "a=", "-w", "out.yaml"], "", "key \"a\""),
        (&["create", "db", "-n", "prod", "--from-file", "a=empty", "-w", "out.yaml"], "", "key \"a\""),
        (&["seal", "--raw", "-n", "prod", "--name", "db", "--key", "a", "-w", "out.yaml"], "", "--key a"),
        (
            &["seal", "-w", "out.yaml"],
            "apiVersion: v1\nkind: Secret\nmetadata: {name: db, namespace: prod}\ndata: {ok: b2s=, a: ''}\n",
            "document 1 (db): key \"a\"",
        ),
        (&["set", "db.yaml", "a"], "", "db.yaml: key \"a\""),
    ];
    env.ok(&["seal", "-w", "db.yaml"], Some(secret_yaml("prod", "db").as_bytes()));
    for (args, stdin, names) in refusals {
        let before = env.read("db.yaml");
        let err = env.fails(1, args, Some(stdin.as_bytes()));
        assert!(err.contains(&format!("{names}: the value is empty; pass --allow-empty")), "{args:?}: {err}");
        assert!(!env.path("out.yaml").exists() && env.read("db.yaml") == before, "{args:?} wrote nothing");
        let mut allowed = args.to_vec();
        allowed.push("--allow-empty");
        env.ok(&allowed, Some(stdin.as_bytes()));
        let _ = fs::remove_file(env.path("out.yaml"));
    }
    // `echo pw |`: stored as given, with a note; --trim-newline drops it, no note.
    let out = env.run(&["set", "db.yaml", "password"], Some(b"pw\n"));
    assert!(out.status.success() && stderr(&out).contains("ends with a newline (as `echo` adds)"), "{}", stderr(&out));
    assert_eq!(opened(&env, "db.yaml")["password"], b64("pw\n"));
    let out = env.run(&["set", "db.yaml", "password", "--trim-newline"], Some(b"pw\n"));
    assert!(out.status.success() && !stderr(&out).contains("newline"), "{}", stderr(&out));
    assert_eq!(opened(&env, "db.yaml")["password"], b64("pw"));
    let out = env.run(&["seal", "--raw", "-n", "prod", "--name", "db", "--key", "k"], Some(b"pw\n"));
    assert!(out.status.success() && stderr(&out).contains("ends with a newline"), "{}", stderr(&out));
    let out = env.run(&["seal", "--raw", "-n", "prod", "--name", "db", "--key", "k", "--trim-newline"], Some(b"pw\n"));
    assert!(out.status.success() && !stderr(&out).contains("newline"), "{}", stderr(&out));
}

#[test]
fn a_reader_that_goes_away_ends_the_command_quietly() {
    let env = Env::new();
    env.ok(&["seal", "-w", "db.yaml"], Some(secret_yaml("prod", "db").as_bytes()));
    for args in [&["completions", "bash"][..], &["man"], &["verify", "."], &["inspect", "db.yaml"], &["--version"]] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_gitseal"))
            .args(args)
            .current_dir(env.dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take()); // the reader is gone before the first write
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success() && out.stderr.is_empty(), "{args:?}: {:?} {}", out.status, stderr(&out));
    }
}

#[test]
fn version_says_the_commit_the_formats_and_the_api() {
    let env = Env::new();
    let long = env.ok(&["--version"], None);
    let commit = Command::new("git").args(["rev-parse", "--short=12", "HEAD"]).output().unwrap();
    let commit = String::from_utf8_lossy(&commit.stdout).trim().to_owned();
    assert!(long.starts_with(&format!("gitseal {} (commit {commit})", env!("CARGO_PKG_VERSION"))), "{long}");
    assert!(long.contains("sealed values: reads gitseal/v1 and gitseal/v2; writes gitseal/v2"), "{long}");
    assert!(long.contains("API: writes gitseal.dev/v1; also reads gitseal.dev/v1alpha1"), "{long}");
    assert_eq!(env.ok(&["-V"], None).lines().count(), 1);
}

#[test]
fn each_change_says_what_it_did_in_one_line_and_write_errors_name_the_file_asked_for() {
    let env = Env::new();
    let said = |args: &[&str], stdin: &str| {
        let out = env.run(args, Some(stdin.as_bytes()));
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        stderr(&out).trim_end().to_owned()
    };
    let sealed = said(&["seal", "-w", "db.yaml"], &secret_yaml("prod", "db"));
    assert_eq!(sealed, "db.yaml: wrote prod/db (3 values); commit it (gitseal verify checks it first)");
    let created = said(&["create", "api", "-n", "prod", "--from-literal", "k=v", "-w", "api.yaml"], "");
    assert_eq!(created, "api.yaml: wrote prod/api (1 value); commit it (gitseal verify checks it first)");
    assert_eq!(said(&["set", "db.yaml", "password"], "x"), "db.yaml: sealed password");
    assert_eq!(said(&["set", "db.yaml", "token"], "x"), "db.yaml: added token");
    assert_eq!(said(&["unset", "db.yaml", "token"], ""), "db.yaml: removed token");
    assert!(said(&["seal"], &secret_yaml("prod", "db")).is_empty(), "stdout output needs no line");
    // -w into a directory, or where no directory is: the file asked for, no temporary path.
    fs::create_dir(env.path("adir")).unwrap();
    let err = env.fails(1, &["seal", "-w", "adir"], Some(secret_yaml("prod", "db").as_bytes()));
    assert!(err.contains("adir is a directory: name the file to write"), "{err}");
    let err = env.fails(
        1,
        &["seal", "-R", ".gitseal-recipients", "-w", "nodir/x.yaml"],
        Some(secret_yaml("prod", "db").as_bytes()),
    );
    assert!(err.contains("cannot write nodir/x.yaml") && !err.contains(".gitseal-"), "{err}");
    // -f a directory says what to do instead.
    let err = env.fails(1, &["seal", "-f", "adir"], None);
    assert!(err.contains("adir is a directory: -f takes one file") && err.contains("for f in adir/*.yaml"), "{err}");
}

#[test]
fn help_examples_never_wrap_mid_command_and_recipients_help_names_both_files() {
    let env = Env::new();
    let top = env.ok(&["--help"], None);
    let commands: Vec<&str> = top
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter(|l| !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .collect();
    assert!(commands.len() > 10, "{top}");
    for command in commands {
        let help = env.ok(&[command, "--help"], None);
        let examples = help.lines().skip_while(|l| !l.starts_with("Example"));
        for line in examples {
            assert!(
                !line.starts_with("  -") && line.len() <= 100,
                "gitseal {command} --help wraps an example: {line:?}"
            );
        }
    }
    let help = env.ok(&["seal", "--help"], None);
    assert!(help.contains(".gitseal.yaml") && help.contains(".gitseal-recipients"), "{help}");
}

/// A pseudo-terminal for stdout: the side a program writes to as its terminal, and the
/// side the test reads.
fn pty() -> (fs::File, fs::File) {
    use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
    let controller = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).unwrap();
    grantpt(&controller).unwrap();
    unlockpt(&controller).unwrap();
    let name = ptsname(&controller, Vec::new()).unwrap();
    let terminal = fs::OpenOptions::new().read(true).write(true).open(name.to_str().unwrap()).unwrap();
    (terminal, fs::File::from(controller))
}

#[test]
fn colour_on_a_terminal_only_and_never_with_no_color() {
    use std::io::Read as _;
    let env = Env::new();
    env.write("plain.yaml", &secret_yaml("prod", "db"));
    let on_terminal = |no_color: bool| {
        let (terminal, mut reader) = pty();
        let mut command = Command::new(env!("CARGO_BIN_EXE_gitseal"));
        command.args(["verify", "."]).current_dir(env.dir.path()).stdout(terminal).env_remove("NO_COLOR");
        if no_color {
            command.env("NO_COLOR", "1");
        }
        let status = command.status().unwrap();
        assert_eq!(status.code(), Some(1), "a plaintext Secret is a problem");
        let mut shown = vec![0; 64 * 1024];
        let n = reader.read(&mut shown).unwrap();
        String::from_utf8_lossy(&shown[..n]).into_owned()
    };
    let coloured = on_terminal(false);
    assert!(coloured.contains("\x1b[") && coloured.contains("plain.yaml"), "{coloured:?}");
    let plain = on_terminal(true);
    assert!(!plain.contains('\x1b') && plain.contains("plain.yaml"), "{plain:?}");
    let piped = env.run(&["verify", "."], None);
    assert!(!String::from_utf8_lossy(&piped.stdout).contains('\x1b'));
}

#[test]
fn man_pages_cover_every_subcommand_with_exit_status_environment_and_files() {
    let env = Env::new();
    env.ok(&["man", "--dir", "pages"], None);
    for page in ["gitseal.1", "gitseal-keys-list.1", "gitseal-keys-import.1", "gitseal-seal.1"] {
        let text = env.read(&format!("pages/{page}"));
        for section in [".SH \"EXIT STATUS\"", ".SH ENVIRONMENT", ".SH FILES", "NO_COLOR", "KUBECONFIG"] {
            assert!(text.contains(section), "{page} lacks {section}");
        }
    }
}

#[test]
fn verify_skips_a_charts_templates_with_a_note_and_checks_the_rest_of_the_chart() {
    let env = Env::new();
    fs::create_dir_all(env.path("mychart/templates")).unwrap();
    fs::create_dir_all(env.path("mychart/files")).unwrap();
    env.write("mychart/Chart.yaml", "apiVersion: v2\nname: mychart\nversion: 0.1.0\n");
    env.write("mychart/values.yaml", "replicas: 2\ndb:\n  host: db\n");
    // One template that YAML cannot read, one that it can (a Secret named by a template).
    env.write("mychart/templates/deployment.yaml", "{{- if .Values.enabled }}\nkind: Deployment\n{{- end }}\n");
    env.write(
        "mychart/templates/secret.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: \"{{ .Release.Name }}-db\"\nstringData:\n  password: \"{{ .Values.password }}\"\n",
    );
    let out = env.run(&["verify", "mychart"], None);
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert!(stderr(&out).contains("mychart/templates: 2 Helm template(s) skipped"), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("checked 2 file(s)"), "Chart.yaml and values.yaml");
    // A plaintext Secret elsewhere in the chart is still found.
    env.write("mychart/files/leak.yaml", &secret_yaml("prod", "leak"));
    let out = env.run(&["verify", "mychart"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("mychart/files/leak.yaml"));
}

#[test]
fn verify_fails_when_nothing_is_left_to_check_and_reads_directory_patterns_as_gitignore_does() {
    let env = Env::new();
    fs::create_dir_all(env.path("empty")).unwrap();
    let said = |out: &Output| String::from_utf8_lossy(&out.stdout).into_owned();
    let out = env.run(&["verify", "empty"], None);
    assert_eq!(out.status.code(), Some(1), "{}", said(&out));
    assert!(said(&out).contains("empty: no file to check") && said(&out).contains("--allow-empty"), "{}", said(&out));
    assert!(env.run(&["verify", "--allow-empty", "empty"], None).status.success());
    env.write("db.yaml", &env.ok(&["seal"], Some(secret_yaml("prod", "db").as_bytes())));
    let out = env.run(&["verify", "--exclude", "*.yaml", "."], None);
    assert_eq!(out.status.code(), Some(1), "everything excluded: {}", said(&out));
    // `vendor/` skips a directory named vendor anywhere, with everything below it.
    fs::create_dir_all(env.path("third/vendor/deep")).unwrap();
    env.write("third/vendor/deep/leak.yaml", &secret_yaml("prod", "leak"));
    assert_eq!(env.run(&["verify", "."], None).status.code(), Some(1), "the leak is found");
    let out = env.run(&["verify", "--exclude", "vendor/", "."], None);
    assert!(out.status.success(), "{}", said(&out));
    env.write(".gitsealignore", "vendor/\n");
    assert!(env.run(&["verify", "."], None).status.success());
}

#[test]
fn verify_finds_a_value_truncated_in_its_encrypted_body_and_says_what_it_cannot_see() {
    use base64::Engine as _;
    let engine = base64::engine::general_purpose::STANDARD;
    let env = Env::new();
    env.ok(&["create", "db", "-n", "prod", "--from-literal", "password=short", "-w", "db.yaml"], None);
    let text = env.read("db.yaml");
    let line = text.lines().find(|l| l.trim_start().starts_with("password:")).unwrap();
    let value = line.split_once(": ").unwrap().1.trim();
    let bytes = engine.decode(value).unwrap();
    // Cut by more than the value's 5 bytes: the payload no longer holds its own header.
    for cut in [20, 40] {
        let damaged = engine.encode(&bytes[..bytes.len() - cut]);
        env.write("cut.yaml", &text.replace(value, &damaged));
        let out = env.run(&["verify", "cut.yaml"], None);
        let said = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "cut {cut}: {said}");
        assert!(said.contains("key \"password\": value is damaged"), "cut {cut}: {said}");
    }
    env.ok(&["verify", "db.yaml"], None);
    let help = env.ok(&["verify", "--help"], None);
    assert!(help.contains("It cannot see a value cut by fewer") && help.contains("DecryptionFailed"), "{help}");
}

#[test]
fn verify_holds_each_object_to_its_rules_namespace() {
    let env = Env::new();
    env.write(
        ".gitseal.yaml",
        &format!("rules:\n  - path: envs/prod/**\n    recipients: [{}]\n    namespace: prod\n", env.recipient),
    );
    fs::create_dir_all(env.path("envs/prod")).unwrap();
    env.ok(&["create", "db", "--from-literal", "k=v", "-w", "envs/prod/db.yaml"], None);
    env.ok(&["verify", "."], None);
    // Sealed for staging (the flag wins over the rule) but kept where prod's files go.
    env.ok(&["create", "api", "-n", "staging", "--from-literal", "k=v", "-w", "envs/prod/api.yaml"], None);
    let out = env.run(&["verify", "."], None);
    let said = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains("envs/prod/api.yaml: document 1 (staging/api): namespace staging, but"), "{said}");
    assert!(said.contains("puts this file's objects in prod") && !said.contains("db.yaml"), "{said}");
}

#[test]
fn rule_paths_are_globs_as_gitignore_reads_them_and_rules_that_match_nothing_fail_verify() {
    let env = Env::new();
    fs::remove_file(env.path(".gitseal-recipients")).unwrap();
    fs::create_dir_all(env.path("envs/prod")).unwrap();
    fs::create_dir_all(env.path("envs/staging")).unwrap();
    let rules = |prod: &str, staging: &str| {
        env.write(
            ".gitseal.yaml",
            &format!(
                "rules:\n  - {prod}\n    recipients: [{r}]\n    namespace: prod\n  - {staging}\n    recipients: [{r}]\n    namespace: staging\n",
                r = env.recipient
            ),
        );
    };
    // How sops and .gitignore users write it: a directory, or a glob.
    rules("path: envs/prod/", "path: envs/staging/*");
    env.ok(&["create", "db", "--from-literal", "k=v", "-w", "envs/prod/db.yaml"], None);
    env.ok(&["create", "db", "--from-literal", "k=v", "-w", "envs/staging/db.yaml"], None);
    assert!(env.read("envs/prod/db.yaml").contains("namespace: prod"));
    assert!(env.read("envs/staging/db.yaml").contains("namespace: staging"));
    env.ok(&["verify", "."], None);
    // A regex where a glob is expected is refused, saying which key takes a regex.
    rules("path: envs/prod/.*", "path: envs/staging/**");
    let err = env.fails(1, &["create", "x", "--from-literal", "k=v", "-w", "envs/prod/x.yaml"], None);
    assert!(err.contains("rule 1 (path \"envs/prod/.*\")") && err.contains("use pathRegex"), "{err}");
    rules("pathRegex: envs/prod/.*", "path: envs/staging/**");
    env.ok(&["verify", "."], None);
    // A rule with a typo matches nothing: verify names it; the prod file it should have
    // held falls through every rule: verify names the file and the configuration, and seal
    // says which configuration missed it rather than suggest writing one.
    rules("path: envs/prdo/**", "path: envs/staging/**");
    let out = env.run(&["verify", "."], None);
    let said = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains("rule 1 (path \"envs/prdo/**\") matches no file checked"), "{said}");
    assert!(said.contains("envs/prod/db.yaml: no rule of") && said.contains("matches this file"), "{said}");
    let err = env.fails(1, &["create", "x", "--from-literal", "k=v", "-w", "envs/prod/x.yaml"], None);
    assert!(
        err.contains("no rule of") && err.contains("path \"envs/prdo/**\"") && !err.contains("gitseal init"),
        "{err}"
    );
}

#[test]
fn keys_carry_the_names_the_repository_gives_them_in_inspect_verify_and_errors() {
    let env = Env::new(); // .gitseal-recipients: "# test cluster" above the key
    env.ok(&["create", "db", "-n", "prod", "--from-literal", "k=v", "-w", "db.yaml"], None);
    let id = env.ok(&["inspect", "-o", "json", "db.yaml"], None);
    let id: serde_json::Value = serde_json::from_str(&id).unwrap();
    let id = id[0]["keyIds"][0].as_str().unwrap().to_owned();
    let shown = env.ok(&["inspect", "db.yaml"], None);
    assert!(shown.contains(&format!("{id} (test cluster)*")), "{shown}");
    // Another key, named on its own line: verify names both sides.
    let other = env.ok(&["keygen", "-w", "other.txt"], None);
    env.write("other.pub", &format!("# break-glass\n{}\n", other.trim()));
    let out = env.run(&["verify", "-R", "other.pub", "db.yaml"], None);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("(break-glass)") && said.contains(&format!("its key ids: {id}")), "{said}");
    // A rule's name covers recipients with none of their own.
    env.write(
        ".gitseal.yaml",
        &format!("rules:\n  - path: '**'\n    name: prod\n    recipients: [{}, {}]\n", env.recipient, other.trim()),
    );
    let out = env.run(&["verify", "db.yaml"], None);
    let said = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains("value is not sealed to") && said.contains(" (prod)"), "{said}");
    // The wrong key says which key it is, once, and what the repository calls the right one.
    fs::remove_file(env.path(".gitseal.yaml")).unwrap();
    let err = env.fails(1, &["unseal", "-i", "other.txt", "-f", "db.yaml"], None);
    assert_eq!(err.matches("no key at hand can open this value").count(), 1, "{err}");
    assert!(err.contains("other.txt holds ") && err.contains(&format!("{id} \"test cluster\"")), "{err}");
}

#[test]
fn man_pages_completions_and_the_kubectl_plugin_name() {
    let env = Env::new();
    env.ok(&["man", "--dir", "man1"], None);
    let seal = env.read("man1/gitseal-seal.1");
    assert!(seal.contains(".TH gitseal-seal 1") && seal.contains("recipients\\-file"), "{seal}");
    for page in ["gitseal.1", "gitseal-edit.1", "gitseal-keys.1", "gitseal-verify.1"] {
        assert!(env.path("man1").join(page).is_file(), "{page}");
    }
    assert!(env.ok(&["man"], None).starts_with(".ie"));
    let bash = env.ok(&["completions", "bash"], None);
    assert!(
        bash.contains("--expect-key") && bash.contains("--output-file") && bash.contains("--exclude"),
        "subcommand flags"
    );
    let plugin = env.path("kubectl-gitseal");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_gitseal"), &plugin).unwrap();
    let out = Command::new(&plugin).arg("--help").output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("Usage: kubectl gitseal <COMMAND>"));
}

#[test]
fn init_writes_a_starter_config_once() {
    let env = Env::new();
    env.ok(&["init"], None);
    let text = env.read(".gitseal.yaml");
    assert!(text.contains("rules:") && text.contains("recipientsFile: .gitseal-recipients"), "{text}");
    // It works as written: the default rule seals to the committed recipients.
    env.ok(&["seal", "-w", "s.yaml"], Some(secret_yaml("prod", "db").as_bytes()));
    env.ok(&["verify", "."], None);
    let err = env.fails(1, &["init"], None);
    assert!(err.contains("already exists"), "{err}");
}

#[test]
fn fetch_key_to_a_file_that_fails_leaves_the_file_as_it_was() {
    let env = Env::new();
    let before = env.read(".gitseal-recipients");
    // A kubeconfig whose server refuses connections: the fetch fails.
    env.write(
        "dead.kubeconfig",
        "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'http://127.0.0.1:1'}}]\nusers: [{name: u, user: {}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n",
    );
    let err = env.fails(1, &["fetch-key", "--kubeconfig", "dead.kubeconfig", "-w", ".gitseal-recipients"], None);
    assert!(err.contains("server http://127.0.0.1:1") && !err.contains("> FILE"), "{err}");
    // Redirected (stdout not a terminal) and failing: told what the shell did to the file.
    let err = env.fails(1, &["fetch-key", "--kubeconfig", "dead.kubeconfig"], None);
    assert!(err.contains("the shell emptied it") && err.contains("-w FILE"), "{err}");
    assert_eq!(env.read(".gitseal-recipients"), before, "the committed recipients survive a failed fetch");
}

#[test]
fn a_changed_scope_stops_set_and_fails_verify() {
    let env = Env::new();
    env.ok(&["seal", "-w", "db.yaml"], Some(secret_yaml("prod", "db").as_bytes()));
    // A merged change widens the object: every later value would be sealed cluster-wide.
    let widened = env.read("db.yaml").replace("scope: strict", "scope: cluster-wide");
    assert!(widened.contains("scope: cluster-wide"), "{widened}");
    env.write("db.yaml", &widened);
    let err = env.fails(1, &["set", "db.yaml", "password"], Some(b"rotated"));
    assert!(
        err.contains("db.yaml: key \"blob\": value is sealed for strict scope prod/db key \"blob\", but the object now says cluster-wide scope"),
        "{err}"
    );
    assert_eq!(env.read("db.yaml"), widened, "nothing written");
    let out = env.run(&["verify", "db.yaml"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("but the object now says cluster-wide scope"));
    // Renamed: the strict values no longer open under the new name either.
    env.write("db.yaml", &widened.replace("scope: cluster-wide", "scope: strict").replace("name: db", "name: web"));
    let err = env.fails(1, &["set", "db.yaml", "extra"], Some(b"v"));
    assert!(err.contains("but the object now says strict scope prod/web"), "{err}");
}

#[test]
fn verify_passes_clean_trees_and_flags_leaks_and_damage() {
    let env = Env::new();
    fs::create_dir_all(env.path("deploy/prod")).unwrap();
    env.write("deploy/prod/web.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n");
    env.ok(&["seal", "-w", "deploy/prod/db.yaml"], Some(secret_yaml("prod", "db").as_bytes()));
    let out = env.ok(&["verify", "deploy"], None);
    assert!(out.contains("checked 2 file(s), 1 SealedSecret(s): 0 problem(s)"), "{out}");

    env.write("deploy/prod/leak.yaml", &secret_yaml("prod", "leak"));
    let good = env.read("deploy/prod/db.yaml");
    env.write("deploy/prod/bad64.yaml", &good.replace("  password: YWdl", "  password: YW*dl"));
    let other = Env::new();
    fs::copy(other.path(".gitseal-recipients"), env.path("other-recipients")).unwrap();
    let out = env.run(&["verify", "deploy"], None);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(!text.contains(CANARY), "verify printed a value");
    assert!(text.contains("leak.yaml: document 1 (prod/leak): plaintext Secret"), "{text}");
    assert!(text.contains("bad64.yaml: document 1 (prod/db), key \"password\": value is not valid base64"), "{text}");

    let json = env.run(&["verify", "-R", "other-recipients", "-o", "json", "deploy/prod/db.yaml"], None);
    assert_eq!(json.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(report["sealedSecrets"], 1);
    assert!(report["problems"][0]["message"].as_str().unwrap().contains("sealed to no known key"), "{report}");
}

#[test]
fn usage_errors_exit_2_and_help_has_examples() {
    let env = Env::new();
    env.fails(2, &["seal", "--scope", "galaxy-wide"], None);
    env.fails(2, &["no-such-command"], None);
    let help = env.ok(&["seal", "--help"], None);
    assert!(help.contains("Examples:"), "{help}");
    assert!(Path::new(env!("CARGO_BIN_EXE_gitseal")).exists());
}

#[test]
fn edit_and_unset_refuse_a_widened_scope_as_set_does() {
    let env = Env::new();
    env.ok(&["seal", "-w", "db.yaml"], Some(secret_yaml("prod", "db").as_bytes()));
    // The attacker's merged change: spec.scope widened, values left as they were.
    let widened = env.read("db.yaml").replace("scope: strict", "scope: cluster-wide");
    env.write("db.yaml", &widened);
    let editor = env.write("rotate.sh", "#!/bin/sh\nsed -i -e 's/^password: .*/password: rotated/' \"$1\"\n");
    fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_gitseal"))
        .args(["edit", "db.yaml"])
        .current_dir(env.dir.path())
        .env("EDITOR", &editor)
        .env_remove("VISUAL")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "edit must not seal cluster-wide: {}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("db.yaml: key \"blob\": value is sealed for strict scope prod/db key \"blob\", but the object now says cluster-wide scope")
            && err.contains("edit refuses to seal values beside it"),
        "{err}"
    );
    assert_eq!(env.read("db.yaml"), widened, "nothing written");
    // unset seals nothing, but removing values would leave spec.scope alone to decide.
    let err = env.fails(1, &["unset", "db.yaml", "username"], None);
    assert!(err.contains("now says cluster-wide scope") && err.contains("unset refuses"), "{err}");
    assert_eq!(env.read("db.yaml"), widened, "nothing written");
}

#[test]
fn set_writes_the_new_value_where_the_parser_found_the_old_one_never_a_copy_of_its_text() {
    let env = Env::new();
    env.ok(&["seal", "-w", "db.yaml"], Some(secret_yaml("prod", "db").as_bytes()));
    let sealed = env.read("db.yaml");
    let line = sealed.lines().find(|l| l.trim_start().starts_with("password:")).unwrap();
    let old = line.split_once(": ").unwrap().1.trim().to_owned();
    // The same value to YAML, written as a double-quoted scalar broken over two lines, so
    // the only verbatim copy of the ciphertext is elsewhere: a comment, another document.
    let (head, tail) = old.split_at(40);
    let indent = &line[..line.len() - line.trim_start().len()];
    let scalar = format!("\"{head}\\\n{indent}  {tail}\"");
    let broken = sealed.replace(line, &format!("{indent}password: {scalar}"));
    let decoys = [
        format!("# rotated from {old}\n{broken}"),
        format!("{broken}---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: notes}}\ndata:\n  previous: {old}\n"),
    ];
    for text in decoys {
        env.write("db.yaml", &text);
        env.ok(&["set", "db.yaml", "password"], Some(b"rotated"));
        let after = env.read("db.yaml");
        let opened = env.ok(&["unseal", "-i", "key.txt", "-f", "db.yaml", "-o", "json"], None);
        let secret: serde_json::Value = serde_json::from_str(&opened).unwrap();
        assert_eq!(secret["data"]["password"], "cm90YXRlZA==", "the value itself changed:\n{after}");
        assert_eq!(after.matches(&old).count(), 1, "the copy elsewhere is untouched:\n{after}");
        let new = after.lines().find(|l| l.trim_start().starts_with("password:")).unwrap();
        assert_eq!(after, text.replace(&scalar, new.split_once(": ").unwrap().1), "nothing else changed");
    }
}

/// Item 10 of issue 23: keys added and removed in place, and --name in multi-document files.
#[path = "cli/documents.rs"]
mod documents;

/// Item 9 of issue 23: offline re-keying.
#[path = "cli/updatekeys.rs"]
mod updatekeys;

/// Issue 24: API versions, `convert` and `version`.
#[path = "cli/api_versions.rs"]
mod api_versions;
