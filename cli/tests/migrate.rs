//! `gitseal migrate` on files the real `kubeseal` wrote (bitnami sealed-secrets v0.40.0,
//! built from its Go module): every scope, binary values, a ring of two keys given as its
//! users back them up, Lists, JSON and mixed files; then what it must refuse, each time
//! leaving the file byte for byte as it was. What was migrated is checked by opening it
//! with gitseal's key (`gitseal unseal`), never by comparing with text the code wrote.

#![allow(clippy::unwrap_used)] // tests state their expectations by unwrapping

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// In every value, so a leak into any output is caught.
const CANARY: &str = "canary-plaintext-5be1";

struct Env {
    dir: tempfile::TempDir,
    kubeseal: PathBuf,
    /// The incumbent's current certificate (kubeseal --cert).
    cert: PathBuf,
}

impl Env {
    /// Two incumbent keys (`old`, then `new`, current) backed up as its users do, and a
    /// gitseal key whose recipient the repository names. `None` without Go outside CI.
    fn new() -> Option<Env> {
        let bin = gitseal_test_support::incumbent::incumbent_bin()?;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path();
        fs::create_dir(path.join(".git")).unwrap(); // a repository root, as a checkout is
        let mut backup = Vec::new();
        for name in ["old", "new"] {
            openssl(
                &["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=sealed-secret", "-days", "2"],
                &["-keyout", &format!("{name}.pk8"), "-out", &format!("{name}.crt")],
                path,
            );
            // The incumbent stores PKCS#1 keys.
            openssl(&["rsa", "-traditional"], &["-in", &format!("{name}.pk8"), "-out", &format!("{name}.key")], path);
            let b64 = |f: &str| STANDARD.encode(fs::read(path.join(f)).unwrap());
            backup.push(format!(
                "- apiVersion: v1\n  data:\n    tls.crt: {}\n    tls.key: {}\n  kind: Secret\n  metadata:\n    labels:\n      sealedsecrets.bitnami.com/sealed-secrets-key: active\n    name: sealed-secrets-key{name}\n    namespace: kube-system\n  type: kubernetes.io/tls\n",
                b64(&format!("{name}.crt")),
                b64(&format!("{name}.key")),
            ));
        }
        fs::write(
            path.join("keys.yaml"),
            format!("apiVersion: v1\nitems:\n{}kind: List\nmetadata:\n  resourceVersion: \"\"\n", backup.concat()),
        )
        .unwrap();
        let env = Env { kubeseal: bin.join("kubeseal"), cert: path.join("new.crt"), dir };
        let out = env.gitseal(&["keygen", "-w", "gitseal.key"]);
        fs::write(env.path(".gitseal-recipients"), &out.stdout).unwrap();
        Some(env)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_gitseal"))
            .args(args)
            .current_dir(self.dir.path())
            .env("KUBECONFIG", self.path("no-kubeconfig"))
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    fn gitseal(&self, args: &[&str]) -> Output {
        let out = self.run(args);
        assert!(out.status.success(), "gitseal {args:?}: {}", text(&out.stderr));
        out
    }

    /// `kubeseal --cert CERT -o FORMAT` on a Secret manifest: a bitnami SealedSecret.
    fn kubeseal(&self, secret: &str, cert: &Path, format: &str) -> String {
        let mut child = Command::new(&self.kubeseal)
            .arg("--cert")
            .arg(cert)
            .args(["-o", format])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), secret.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "kubeseal: {}", text(&out.stderr));
        text(&out.stdout)
    }

    /// What gitseal's key opens in `file`: one Secret per SealedSecret, as JSON.
    fn unsealed(&self, file: &str) -> Vec<serde_json::Value> {
        self.unsealed_with("gitseal.key", file)
    }

    fn unsealed_with(&self, key: &str, file: &str) -> Vec<serde_json::Value> {
        let out = self.gitseal(&["unseal", "-i", key, "-f", file, "-o", "json"]);
        let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        match value.get("items") {
            Some(items) => items.as_array().unwrap().clone(),
            None => vec![value],
        }
    }
}

fn openssl(args: &[&str], files: &[&str], dir: &Path) {
    let out = Command::new("openssl").args(args).args(files).current_dir(dir).output().unwrap();
    assert!(out.status.success(), "openssl {args:?}: {}", text(&out.stderr));
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A Secret manifest with the canary in each value; `extra` goes under metadata.
fn secret(name: &str, namespace: &str, annotations: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: {namespace}\n  labels: {{app: {name}, tier: db}}\n  annotations: {{{annotations}}}\ntype: kubernetes.io/basic-auth\nstringData:\n  username: admin-{CANARY}\n  password: pw-{CANARY}\n"
    )
}

fn data(secret: &serde_json::Value, key: &str) -> Vec<u8> {
    STANDARD.decode(secret["data"][key].as_str().unwrap()).unwrap()
}

#[test]
fn every_scope_migrates_with_its_data_metadata_type_and_the_rest_of_the_file_kept() {
    let Some(env) = Env::new() else {
        return eprintln!("note: Go not installed; the incumbent was not built, migration not checked");
    };
    let old = env.path("old.crt");
    let strict = env.kubeseal(&secret("db", "prod", "owner: team-a"), &old, "yaml");
    let wide = env.kubeseal(
        &secret("shared", "prod", "sealedsecrets.bitnami.com/namespace-wide: \"true\""),
        &env.cert,
        "yaml",
    );
    let cluster = env.kubeseal(
        &secret("everywhere", "prod", "sealedsecrets.bitnami.com/cluster-wide: \"true\""),
        &env.cert,
        "yaml",
    );
    // Binary and immutable, through kubeseal's JSON output and a TLS type.
    let binary: Vec<u8> = (0..=255u8).chain(CANARY.bytes()).collect();
    let tls = format!(
        "{{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{{\"name\":\"tls\",\"namespace\":\"edge\"}},\"type\":\"kubernetes.io/tls\",\"immutable\":true,\"data\":{{\"tls.crt\":\"{}\",\"tls.key\":\"{}\"}}}}",
        STANDARD.encode(&binary),
        STANDARD.encode(CANARY)
    );
    let json = env.kubeseal(&tls, &env.cert, "json");
    fs::write(env.path("tls.json"), &json).unwrap();
    let config = "# kept byte for byte\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}   # really\ndata: {a: \"1\"}\n";
    fs::write(env.path("app.yaml"), format!("{config}---\n{strict}---\n{wide}---\n{cluster}")).unwrap();
    let before = fs::read(env.path("app.yaml")).unwrap();

    // A dry run does all the work and writes nothing.
    let out = env.gitseal(&["migrate", "--bitnami-keys", "keys.yaml", "--dry-run", "-o", "json", "."]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["dryRun"], true);
    let objects: Vec<&str> =
        report["migrated"].as_array().unwrap().iter().map(|m| m["object"].as_str().unwrap()).collect();
    assert_eq!(objects, ["prod/db", "prod/shared", "prod/everywhere", "edge/tls"]);
    assert_eq!(report["migrated"][2]["scope"], "cluster-wide");
    assert_eq!(fs::read(env.path("app.yaml")).unwrap(), before);
    assert_eq!(fs::read_to_string(env.path("tls.json")).unwrap(), json);

    let out = env.gitseal(&["migrate", "--bitnami-keys", "keys.yaml", "."]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(stderr.contains("migrated 4 SealedSecrets in 2 files"), "{stderr}");
    assert!(!stdout.contains(CANARY) && !stderr.contains(CANARY));
    let migrated = fs::read_to_string(env.path("app.yaml")).unwrap();
    assert!(migrated.starts_with(config), "the ConfigMap and its comments are kept:\n{migrated}");
    assert!(!migrated.contains("bitnami.com/v1alpha1") && !migrated.contains(CANARY));
    assert!(migrated.contains("gitseal.dev/migrated-from: sealed-secrets"));

    let secrets = env.unsealed("app.yaml");
    assert_eq!(secrets.len(), 3);
    for s in &secrets {
        assert_eq!(data(s, "username"), format!("admin-{CANARY}").as_bytes());
        assert_eq!(data(s, "password"), format!("pw-{CANARY}").as_bytes());
        assert_eq!(s["type"], "kubernetes.io/basic-auth");
        assert_eq!(s["metadata"]["labels"]["tier"], "db");
    }
    assert_eq!(secrets[0]["metadata"]["annotations"]["owner"], "team-a");
    // The scope each value is bound to is what the incumbent's annotations said.
    let inspect = env.gitseal(&["inspect", "-o", "json", "app.yaml"]);
    let rows: serde_json::Value = serde_json::from_slice(&inspect.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 6);
    for row in rows {
        let (object, scope) = (row["object"].as_str().unwrap(), row["scope"].as_str().unwrap());
        let expected = match object {
            "prod/db" => "strict",
            "prod/shared" => "namespace-wide",
            _ => "cluster-wide",
        };
        assert!(scope.starts_with(expected), "{object}: {scope}");
    }

    let tls = &env.unsealed("tls.json")[0];
    assert_eq!(data(tls, "tls.crt"), binary);
    assert_eq!((tls["type"].as_str(), tls["immutable"].as_bool()), (Some("kubernetes.io/tls"), Some(true)));
    assert!(fs::read_to_string(env.path("tls.json")).unwrap().trim_start().starts_with('{'), "JSON stays JSON");

    // Run again: nothing left to migrate, nothing changed.
    let again = fs::read(env.path("app.yaml")).unwrap();
    let out = env.gitseal(&["migrate", "--bitnami-keys", "keys.yaml", "."]);
    assert!(text(&out.stderr).contains("migrated 0 SealedSecrets"), "{}", text(&out.stderr));
    assert_eq!(fs::read(env.path("app.yaml")).unwrap(), again);
}

#[test]
fn a_list_a_pem_key_and_the_repository_rules_per_directory() {
    let Some(env) = Env::new() else { return };
    // Another team's directory seals to another key, by its .gitseal.yaml rule.
    fs::create_dir(env.path("team-b")).unwrap();
    let other = env.gitseal(&["keygen", "-w", "team-b/other.key"]);
    fs::write(
        env.path("team-b/.gitseal.yaml"),
        format!("rules:\n  - path: '**'\n    recipients: [{}]\n    namespace: team-b\n", text(&other.stdout).trim()),
    )
    .unwrap();
    // kubectl prints several objects as a List; this one lost its namespace, which the
    // rule gives back (the value was sealed for team-b).
    let sealed = env.kubeseal(&secret("api", "team-b", ""), &env.cert, "json");
    let mut object: serde_json::Value = serde_json::from_str(&sealed).unwrap();
    object["metadata"].as_object_mut().unwrap().remove("namespace");
    let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}, object]});
    fs::write(env.path("team-b/list.yaml"), serde_json::to_string_pretty(&list).unwrap()).unwrap();
    fs::write(
        env.path("team-b/list.yaml"),
        format!("# a list\n{}", fs::read_to_string(env.path("team-b/list.yaml")).unwrap()),
    )
    .unwrap();

    env.gitseal(&["migrate", "--bitnami-keys", "new.key", "team-b"]);
    let secret = &env.unsealed_with("team-b/other.key", "team-b/list.yaml")[0];
    assert_eq!(secret["metadata"]["namespace"], "team-b");
    assert_eq!(data(secret, "password"), format!("pw-{CANARY}").as_bytes());
    // Not to the top-level recipients: the rule governs that directory.
    let refused = env.run(&["unseal", "-i", "gitseal.key", "-f", "team-b/list.yaml"]);
    assert!(!refused.status.success());
    let after: serde_json::Value =
        serde_saphyr::from_str(&fs::read_to_string(env.path("team-b/list.yaml")).unwrap()).unwrap();
    assert_eq!(after["items"][0]["kind"], "ConfigMap");
    assert_eq!(after["items"][1]["apiVersion"], "gitseal.dev/v1");
}

#[test]
fn what_has_no_equivalent_or_does_not_open_is_refused_and_the_file_left_as_it_was() {
    let Some(env) = Env::new() else { return };
    let base = env.kubeseal(&secret("db", "prod", ""), &env.cert, "yaml");
    let good = env.kubeseal(&secret("fine", "prod", ""), &env.cert, "yaml");
    let cases: Vec<(&str, String, &str)> = vec![
        ("templated", base.replace("  template:\n", "  template:\n    data:\n      url: \"db://{{ .username }}\"\n"), "Go templates"),
        ("v1-data", base.replace("spec:\n", "spec:\n  data: AgBy\n"), "first format"),
        (
            "managed",
            base.replace("    metadata:\n", "    metadata:\n      annotations:\n        sealedsecrets.bitnami.com/managed: \"true\"\n"),
            "sealedsecrets.bitnami.com/managed",
        ),
        (
            "no-owner",
            base.replace("    metadata:\n", "    metadata:\n      annotations:\n        sealedsecrets.bitnami.com/skip-set-owner-references: \"true\"\n"),
            "skip-set-owner-references",
        ),
        // Moved to another namespace: the incumbent's label no longer matches.
        ("moved", base.replace("namespace: prod", "namespace: staging"), "key \"password\""),
        // Sealed for another name.
        ("renamed", base.replace("name: db", "name: other"), "none of the given sealed-secrets keys"),
        ("tampered", tamper(&base), "tampered"),
    ];
    fs::create_dir(env.path("bad")).unwrap();
    for (name, object, _) in &cases {
        // Each beside a good object: all or nothing per file.
        fs::write(env.path(&format!("bad/{name}.yaml")), format!("{good}---\n{object}")).unwrap();
    }
    fs::write(env.path("bad/zz-ok.yaml"), &good).unwrap();
    let out = env.run(&["migrate", "--bitnami-keys", "keys.yaml", "bad"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains(CANARY), "{stderr}");
    for (name, object, expected) in &cases {
        let line =
            stderr.lines().find(|l| l.contains(&format!("bad/{name}.yaml"))).unwrap_or_else(|| panic!("{stderr}"));
        assert!(line.contains(expected) && line.contains("file left unchanged"), "{name}: {line}");
        assert!(line.contains("document 2"), "{name}: names the document: {line}");
        let kept = fs::read_to_string(env.path(&format!("bad/{name}.yaml"))).unwrap();
        assert_eq!(kept, format!("{good}---\n{object}"), "{name}: left byte for byte");
    }
    assert!(stderr.contains("migrated 1 SealedSecrets in 1 files"), "the good file still migrates: {stderr}");
    assert_eq!(env.unsealed("bad/zz-ok.yaml").len(), 1);

    // The wrong keys: every value refused, naming the key; a keys file that holds none.
    fs::write(env.path("wrong.yaml"), &good).unwrap();
    let out = env.run(&["migrate", "--bitnami-keys", "old.key", "wrong.yaml"]);
    assert!(text(&out.stderr).contains("none of the given sealed-secrets keys"), "{}", text(&out.stderr));
    assert_eq!(fs::read_to_string(env.path("wrong.yaml")).unwrap(), good);
    let out = env.run(&["migrate", "--bitnami-keys", "wrong.yaml", "wrong.yaml"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("wrong.yaml: no key Secret in it"), "{}", text(&out.stderr));
    // No namespace, none given, and a scope that binds one.
    fs::write(env.path("nowhere.yaml"), good.replacen("  namespace: prod\n", "", 1)).unwrap();
    let out = env.run(&["migrate", "--bitnami-keys", "keys.yaml", "nowhere.yaml"]);
    assert!(text(&out.stderr).contains("no metadata.namespace"), "{}", text(&out.stderr));
    env.gitseal(&["migrate", "--bitnami-keys", "keys.yaml", "-n", "prod", "nowhere.yaml"]);
    assert_eq!(env.unsealed("nowhere.yaml")[0]["metadata"]["namespace"], "prod");
}

/// The SealedSecret with one byte of its password's AES-GCM part changed.
fn tamper(object: &str) -> String {
    let line = object.lines().find(|l| l.trim_start().starts_with("password: ")).unwrap();
    let value = line.trim_start().trim_start_matches("password: ");
    let mut bytes = STANDARD.decode(value).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    object.replace(value, &STANDARD.encode(bytes))
}

#[test]
fn other_commands_point_at_migrate() {
    let Some(env) = Env::new() else { return };
    fs::write(env.path("old.yaml"), env.kubeseal(&secret("db", "prod", ""), &env.cert, "yaml")).unwrap();
    let out = env.run(&["verify", "old.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).contains("gitseal migrate") || text(&out.stderr).contains("gitseal migrate"));
    let out = env.run(&["unseal", "-i", "gitseal.key", "-f", "old.yaml"]);
    assert!(text(&out.stderr).contains("gitseal migrate"), "{}", text(&out.stderr));
}
