//! `gitseal keys …` and `gitseal rotate` against the local control plane. Each test plays
//! the controller itself (key Secrets and keys.json written as admin) in a namespace of
//! its own, passed as `--controller-namespace`, so no controller is needed and
//! `gitseal-system` is never touched.

#![allow(clippy::unwrap_used)] // tests state their expectations by unwrapping

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use age::x25519;
use gitseal::{ClusterKey, KeyBackup, KeyId, KeyRing, KeyStatus, Recipients, Scope};
use gitseal_test_support::{Cluster, workspace_root};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use secrecy::ExposeSecret;

/// Runs the CLI as admin against `namespace` as the controller namespace.
fn gitseal(cluster: &Cluster, namespace: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gitseal"))
        .args(args)
        .arg("--kubeconfig")
        .arg(cluster.kubeconfig_path())
        .args(["--controller-namespace", namespace])
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// One key of a test ring.
struct Key {
    id: String,
    identity: x25519::Identity,
    secret: String,
    created: String,
}

/// Creates a key Secret the way the controller does; returns the key.
async fn make_key(cluster: &Cluster, namespace: &str, n: u32, created: &str) -> Key {
    let identity = gitseal::generate_identity();
    let file = gitseal::identity_file(&identity, created);
    let secret = format!("gitseal-key-{n}");
    let object = Secret {
        metadata: ObjectMeta {
            name: Some(secret.clone()),
            labels: Some(BTreeMap::from([("gitseal.dev/key".into(), "true".into())])),
            annotations: Some(BTreeMap::from([("gitseal.dev/created".into(), created.into())])),
            ..ObjectMeta::default()
        },
        type_: Some("gitseal.dev/age-key".into()),
        immutable: Some(true),
        data: Some(BTreeMap::from([("key.txt".into(), ByteString(file.expose_secret().as_bytes().to_vec()))])),
        ..Secret::default()
    };
    Api::<Secret>::namespaced(cluster.client(), namespace).create(&PostParams::default(), &object).await.unwrap();
    let id = KeyId::of(&identity.to_public()).to_string();
    Key { id, identity, secret, created: created.into() }
}

/// Writes the ConfigMap the controller publishes, with these keys and states.
async fn publish(cluster: &Cluster, namespace: &str, keys: &[(&Key, &str)]) {
    let json: Vec<_> = keys
        .iter()
        .map(|(k, state)| {
            serde_json::json!({"id": k.id, "recipient": k.identity.to_public().to_string(),
                "created": k.created, "secret": k.secret, "state": state})
        })
        .collect();
    let cm = serde_json::json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "gitseal-public-keys"},
        "data": {"keys.json": serde_json::to_string(&json).unwrap(), "recipients.txt": ""},
    });
    Api::<ConfigMap>::namespaced(cluster.client(), namespace)
        .patch("gitseal-public-keys", &PatchParams::apply("gitseal-controller").force(), &Patch::Apply(&cm))
        .await
        .unwrap();
}

/// Creates a SealedSecret in `namespace` sealed to `keys` only.
async fn make_sealed_secret(cluster: &Cluster, namespace: &str, name: &str, keys: &[&Key]) {
    let plain = gitseal::PlainSecret {
        name: Some(name.into()),
        namespace: Some(namespace.into()),
        data: BTreeMap::from([("password".into(), zeroize::Zeroizing::new(b"s3cr3t".to_vec()))]),
        ..gitseal::PlainSecret::default()
    };
    let recipients = Recipients::new(keys.iter().map(|k| k.identity.to_public())).unwrap();
    let sealed = gitseal::seal_secret(&plain, Scope::Strict, None, &recipients, 1).unwrap();
    Api::<gitseal::SealedSecret>::namespaced(cluster.client(), namespace)
        .create(&PostParams::default(), &sealed)
        .await
        .unwrap();
}

fn stock_age() -> &'static str {
    if Path::new("/usr/bin/age").exists() { "/usr/bin/age" } else { "age" }
}

#[gitseal_test_support::needs_cluster]
#[tokio::test]
async fn export_is_encrypted_and_import_restores_the_same_keys() {
    let cluster = Cluster::connect().await.expect("the local control plane (dev/cluster/up)");
    let source = cluster.fresh_namespace("keys").await.unwrap();
    let old = make_key(&cluster, &source, 1, "2026-01-01T00:00:00Z").await;
    let new = make_key(&cluster, &source, 2, "2026-02-01T00:00:00Z").await;
    let patch = serde_json::json!({"metadata": {"annotations": {"gitseal.dev/state": "retired"}}});
    Api::<Secret>::namespaced(cluster.client(), &source)
        .patch(&old.secret, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let admin = gitseal::generate_identity();
    let admin_file = dir.path().join("admin.txt");
    std::fs::write(&admin_file, gitseal::identity_file(&admin, "2026-01-01T00:00:00Z").expose_secret()).unwrap();
    let backup = dir.path().join("ring.age");
    let backup_arg = backup.to_str().unwrap();
    let to = admin.to_public().to_string();

    let out = gitseal(&cluster, &source, &["keys", "export", "--to", &to, "-w", backup_arg]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("exported 2 key(s)"), "{}", stderr(&out));
    let bytes = std::fs::read(&backup).unwrap();
    assert!(bytes.starts_with(b"age-encryption.org/v1\n"));
    assert!(!bytes.windows(14).any(|w| w == b"AGE-SECRET-KEY"), "plaintext key on disk");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&backup).unwrap().permissions().mode() & 0o777, 0o600);

    // Never over an existing file without --force; never to the cluster's own key.
    let again = gitseal(&cluster, &source, &["keys", "export", "--to", &to, "-w", backup_arg]);
    assert_eq!(again.status.code(), Some(1));
    assert!(stderr(&again).contains("already exists; pass --force"), "{}", stderr(&again));
    assert_eq!(std::fs::read(&backup).unwrap(), bytes);
    let own = new.identity.to_public().to_string();
    let circular = gitseal(&cluster, &source, &["keys", "export", "--to", &own, "-w", "/dev/null", "--force"]);
    assert_eq!(circular.status.code(), Some(1));
    assert!(stderr(&circular).contains("one of the cluster's own keys"), "{}", stderr(&circular));

    // To stdout, when it is not a terminal.
    let piped = gitseal(&cluster, &source, &["keys", "export", "--to", &to]);
    assert!(piped.status.success() && piped.stdout.starts_with(b"age-encryption.org/v1\n"), "{}", stderr(&piped));

    // Stock age opens it, and what it prints is an identity file stock age accepts.
    let opened = Command::new(stock_age()).args(["-d", "-i"]).arg(&admin_file).arg(&backup).output().unwrap();
    assert!(opened.status.success(), "{}", stderr(&opened));
    let ring_text = String::from_utf8(opened.stdout).unwrap();
    let ring = KeyRing::parse_identity_file(&ring_text).unwrap();
    let mut ids = ring.ids().iter().map(ToString::to_string).collect::<Vec<_>>();
    ids.sort();
    let mut expected = vec![old.id.clone(), new.id.clone()];
    expected.sort();
    assert_eq!(ids, expected);
    assert!(
        ring_text.contains(&format!("id={} secret=gitseal-key-1 created=2026-01-01T00:00:00Z state=retired", old.id))
    );
    let ring_file = dir.path().join("ring.txt");
    std::fs::write(&ring_file, &ring_text).unwrap();
    let value = dir.path().join("value.age");
    let recipients = Recipients::new([old.identity.to_public()]).unwrap();
    std::fs::write(&value, gitseal::encrypt_file(b"hello", &recipients).unwrap()).unwrap();
    let decrypted = Command::new(stock_age()).args(["-d", "-i"]).arg(&ring_file).arg(&value).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&decrypted.stdout), "hello", "{}", stderr(&decrypted));

    // Restore into a namespace where gitseal-key-1 is already some other Secret.
    let target = cluster.fresh_namespace("keys-restore").await.unwrap();
    let squatter = Secret {
        metadata: ObjectMeta { name: Some("gitseal-key-1".into()), ..ObjectMeta::default() },
        ..Secret::default()
    };
    let secrets = Api::<Secret>::namespaced(cluster.client(), &target);
    secrets.create(&PostParams::default(), &squatter).await.unwrap();
    let admin_arg = admin_file.to_str().unwrap();
    let listed = |key: &Key| {
        format!("to restore: key {} public key {} created {}", key.id, key.identity.to_public(), key.created)
    };
    // Nobody confirmed: the keys are shown, nothing is created.
    let out = gitseal(&cluster, &target, &["keys", "import", "-i", admin_arg, backup_arg]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stderr(&out).contains("--expect-key"), "{}", stderr(&out));
    for key in [&old, &new] {
        assert!(stdout(&out).contains(&listed(key)), "{}", stdout(&out));
    }
    // A key the operator did not expect stops the whole restore.
    let out = gitseal(&cluster, &target, &["keys", "import", "-i", admin_arg, backup_arg, "--expect-key", &new.id]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains(&format!("key {} is in the backup but not expected", old.id)), "{}", stderr(&out));
    let keys_now = || async {
        let list = secrets.list_metadata(&ListParams::default().labels("gitseal.dev/key=true")).await.unwrap();
        list.items.len()
    };
    assert_eq!(keys_now().await, 0, "nothing restored without confirmation");
    // A backup from the future (created=9999-…) is refused before anything is shown.
    let forged = gitseal::KeyBackup::new(vec![
        gitseal::ClusterKey::new(
            gitseal::generate_identity(),
            "gitseal-key-9",
            "9999-01-01T00:00:00Z".parse().unwrap(),
            gitseal::KeyStatus::Active,
        )
        .unwrap(),
    ])
    .unwrap();
    let admin_public = Recipients::parse_each([to.as_str()]).unwrap();
    let forged_file = dir.path().join("forged.age");
    let sealed = gitseal::encrypt_file(forged.render().as_bytes(), &Recipients::new(admin_public).unwrap()).unwrap();
    std::fs::write(&forged_file, sealed).unwrap();
    let forged_id = forged.keys()[0].id().to_string();
    let out = gitseal(
        &cluster,
        &target,
        &["keys", "import", "-i", admin_arg, forged_file.to_str().unwrap(), "--expect-key", &forged_id],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("in the future"), "{}", stderr(&out));
    assert_eq!(keys_now().await, 0);

    let out = gitseal(
        &cluster,
        &target,
        &["keys", "import", "-i", admin_arg, backup_arg, "--expect-key", &old.id, "--expect-key", &new.id],
    );
    // The namespace has no key: restoring publishes one, so it takes --publish.
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains(&format!("restoring would make key {} the one", new.id)), "{}", stderr(&out));
    assert_eq!(keys_now().await, 0);
    let out = gitseal(
        &cluster,
        &target,
        &["keys", "import", "-i", admin_arg, backup_arg, "--expect-key", &old.id, "--expect-key", &new.id, "--publish"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("2 imported, 0 already present, 0 failed"), "{}", stdout(&out));

    let restored = secrets.list(&ListParams::default().labels("gitseal.dev/key=true")).await.unwrap().items;
    let by_name: BTreeMap<String, &Secret> = restored.iter().map(|s| (s.metadata.name.clone().unwrap(), s)).collect();
    assert_eq!(by_name.keys().collect::<Vec<_>>(), ["gitseal-key-2", "gitseal-key-3"], "original name kept when free");
    for (name, key, retired) in [("gitseal-key-2", &new, false), ("gitseal-key-3", &old, true)] {
        let s = by_name[name];
        let text = std::str::from_utf8(&s.data.as_ref().unwrap()["key.txt"].0).unwrap();
        assert_eq!(KeyRing::parse_identity_file(text).unwrap().ids()[0].as_str(), key.id);
        assert_eq!(s.type_.as_deref(), Some("gitseal.dev/age-key"));
        assert_eq!(s.immutable, Some(true));
        let annotations = s.metadata.annotations.as_ref().unwrap();
        assert_eq!(annotations["gitseal.dev/created"], key.created);
        assert_eq!(annotations.get("gitseal.dev/state").map(String::as_str), retired.then_some("retired"));
        let managers: Vec<_> =
            s.metadata.managed_fields.iter().flatten().filter_map(|m| m.manager.as_deref()).collect();
        assert_eq!(managers, ["gitseal-cli"]);
    }

    // Running it again changes nothing; a wrong identity opens nothing.
    let out = gitseal(&cluster, &target, &["keys", "import", "-i", admin_arg, backup_arg]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("0 imported, 2 already present"), "{}", stdout(&out));
    let stranger = dir.path().join("stranger.txt");
    std::fs::write(&stranger, gitseal::identity_file(&gitseal::generate_identity(), "x").expose_secret()).unwrap();
    let out = gitseal(&cluster, &target, &["keys", "import", "-i", stranger.to_str().unwrap(), backup_arg]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("none of the given identities can open it"), "{}", stderr(&out));
}

#[gitseal_test_support::needs_cluster]
#[tokio::test]
async fn retire_refuses_while_a_sealed_secret_depends_on_the_key_alone() {
    let cluster = Cluster::connect().await.expect("the local control plane (dev/cluster/up)");
    cluster.install_crd(&workspace_root().join("crds/sealedsecret.yaml")).await.unwrap();
    let ns = cluster.fresh_namespace("keys").await.unwrap();
    let old = make_key(&cluster, &ns, 1, "2026-01-01T00:00:00Z").await;
    let new = make_key(&cluster, &ns, 2, "2026-02-01T00:00:00Z").await;
    publish(&cluster, &ns, &[(&old, "active"), (&new, "published")]).await;
    let app = cluster.fresh_namespace("keys-app").await.unwrap();
    make_sealed_secret(&cluster, &app, "only-old", &[&old]).await;
    make_sealed_secret(&cluster, &app, "both", &[&old, &new]).await;

    let out = gitseal(&cluster, &ns, &["keys", "list", "-o", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let row = |id: &str| listed.as_array().unwrap().iter().find(|r| r["id"] == id).unwrap().clone();
    assert_eq!((row(&old.id)["state"].as_str(), row(&old.id)["dependents"].as_u64()), (Some("active"), Some(1)));
    assert_eq!((row(&new.id)["state"].as_str(), row(&new.id)["dependents"].as_u64()), (Some("published"), Some(0)));
    assert_eq!(row(&old.id)["recipient"], old.identity.to_public().to_string());
    assert_eq!(row(&old.id)["created"], old.created);
    let table = gitseal(&cluster, &ns, &["keys", "list"]);
    assert!(stdout(&table).starts_with("ID ") && stdout(&table).contains(&new.id), "{}", stdout(&table));

    // inspect --cluster names the cluster's keys among a file's key ids, with their state.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("db.yaml");
    let to = [old.identity.to_public().to_string(), gitseal::generate_identity().to_public().to_string()];
    let create = ["create", "db", "-n", "app", "--from-literal", "k=v", "-r", &to[0], "-r", &to[1], "-w"];
    let made = Command::new(env!("CARGO_BIN_EXE_gitseal"))
        .args([&create[..], &[file.to_str().unwrap()]].concat())
        .env("KUBECONFIG", dir.path().join("none"))
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", stderr(&made));
    let out = gitseal(&cluster, &ns, &["inspect", "--cluster", "-o", "json", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows[0]["clusterKeys"], serde_json::json!([format!("{} (active)", old.id)]), "{rows}");

    // Refused while only-old depends on the old key alone; named; nothing changes.
    let out = gitseal(&cluster, &ns, &["keys", "retire", &old.id[..8]]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(err.contains(&format!("{app}/only-old")) && !err.contains(&format!("{app}/both")), "{err}");
    assert!(err.contains("--force"), "{err}");
    let secrets = Api::<Secret>::namespaced(cluster.client(), &ns);
    let state = |s: Secret| s.metadata.annotations.unwrap_or_default().get("gitseal.dev/state").cloned();
    assert_eq!(state(secrets.get("gitseal-key-1").await.unwrap()), None);

    // The published key: rotate first.
    let out = gitseal(&cluster, &ns, &["keys", "retire", &new.id]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("published key") && stderr(&out).contains("gitseal rotate"), "{}", stderr(&out));

    // Unknown and too-short ids say what is known.
    let out = gitseal(&cluster, &ns, &["keys", "retire", "ffffffffffffffff"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains(&old.id) && stderr(&out).contains(&new.id), "{}", stderr(&out));
    let out = gitseal(&cluster, &ns, &["keys", "retire", "abc"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("at least 6"), "{}", stderr(&out));

    // --force retires it: the annotation is set, the key stays.
    let out = gitseal(&cluster, &ns, &["keys", "retire", &old.id, "--force"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains(&format!("retired: key {}", old.id)), "{}", stdout(&out));
    assert_eq!(state(secrets.get("gitseal-key-1").await.unwrap()).as_deref(), Some("retired"));
    let out = gitseal(&cluster, &ns, &["keys", "retire", &old.id]);
    assert!(out.status.success() && stdout(&out).contains("already retired"), "{}", stderr(&out));
}

#[gitseal_test_support::needs_cluster]
#[tokio::test]
async fn rotate_without_a_controller_times_out_and_says_why() {
    let cluster = Cluster::connect().await.expect("the local control plane (dev/cluster/up)");
    cluster.install_crd(&workspace_root().join("crds/keyrotation.yaml")).await.unwrap();
    let ns = cluster.fresh_namespace("keys-rotate").await.unwrap();
    let started = std::time::Instant::now();
    let out = gitseal(&cluster, &ns, &["rotate", "--wait", "2", "--reason", "test"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    let err = stderr(&out);
    assert!(err.contains(&format!("is gitseal-controller running in namespace {ns}")), "{err}");

    // The request stays, filed for the controller, with the reason.
    let requests = Api::<DynamicObject>::namespaced_with(cluster.client(), &ns, &key_rotations())
        .list(&ListParams::default())
        .await
        .unwrap();
    assert_eq!(requests.items.len(), 1);
    let request = &requests.items[0];
    assert!(request.metadata.name.as_deref().unwrap().starts_with("rotate-"));
    assert_eq!(request.data["spec"]["reason"], "test");
    assert!(err.contains(request.metadata.name.as_deref().unwrap()), "{err}");
}

/// The KeyRotation API, as the CLI uses it.
fn key_rotations() -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("gitseal.dev", "v1", "KeyRotation"), "keyrotations")
}

#[gitseal_test_support::needs_cluster]
#[tokio::test]
async fn rotate_reports_the_key_the_controller_made() {
    let cluster = Cluster::connect().await.expect("the local control plane (dev/cluster/up)");
    cluster.install_crd(&workspace_root().join("crds/keyrotation.yaml")).await.unwrap();
    let ns = cluster.fresh_namespace("keys-rotate").await.unwrap();
    let first = make_key(&cluster, &ns, 1, "2026-01-01T00:00:00Z").await;
    let child = Command::new(env!("CARGO_BIN_EXE_gitseal"))
        .args(["rotate", "--wait", "60", "--kubeconfig"])
        .arg(cluster.kubeconfig_path())
        .args(["--controller-namespace", &ns])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    // Play the controller: find the request, make the key, publish it, record it.
    let api = Api::<DynamicObject>::namespaced_with(cluster.client(), &ns, &key_rotations());
    let name = loop {
        let items = api.list(&ListParams::default()).await.unwrap().items;
        if let Some(request) = items.first() {
            break request.metadata.name.clone().unwrap();
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let second = make_key(&cluster, &ns, 2, "2026-02-01T00:00:00Z").await;
    publish(&cluster, &ns, &[(&first, "active"), (&second, "published")]).await;
    let status = serde_json::json!({"status": {"key": second.id, "secret": second.secret, "conditions": [{
        "type": "Ready", "status": "True", "reason": "Rotated", "message": "new key",
        "lastTransitionTime": "2026-02-01T00:00:00Z"}]}});
    api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&status)).await.unwrap();

    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap()).await.unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains(&format!("rotated: new key {} (gitseal-key-2)", second.id)), "{text}");
    assert!(text.contains(&format!("recipient: {}", second.identity.to_public())), "{text}");
}

#[test]
fn usage_errors_exit_2() {
    let cases: [&[&str]; 4] = [
        &["keys", "retire"],
        &["keys", "import", "ring.age"],
        &["keys", "export", "-w", "x"],
        &["rotate", "--wait", "soon"],
    ];
    for args in cases {
        let out = Command::new(env!("CARGO_BIN_EXE_gitseal")).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    }
}

// A restored key never becomes the one new seals use unless the operator asks. age does
// not say who made a backup: anyone with the administrator's public key can make one
// whose key is dated "now", which the ring's order (newest key not retired) would
// publish. The test plays the controller's ring in a namespace of its own and reads it
// back with `gitseal::key_secrets::read_ring`, the order the controller itself applies.

/// The key the ring publishes, read as the controller reads it.
async fn published(secrets: &Api<Secret>) -> String {
    let list = secrets.list(&ListParams::default().labels(gitseal::crds::storage::KEY_SELECTOR)).await.unwrap();
    let (keys, _) = gitseal::key_secrets::read_ring(&list.items);
    keys.iter().find(|k| k.status() == KeyStatus::Published).unwrap().id().to_string()
}

/// A backup of one new key dated now, encrypted to the administrator: what anyone holding
/// the administrator's public key can make.
fn forged_backup(dir: &Path, name: &str, admin: &age::x25519::Recipient) -> (String, String) {
    let key = ClusterKey::new(gitseal::generate_identity(), "gitseal-key-9", Timestamp::now(), KeyStatus::Active);
    let backup = KeyBackup::new(vec![key.unwrap()]).unwrap();
    let file = dir.join(name);
    let sealed = gitseal::encrypt_file(backup.render().as_bytes(), &Recipients::new([admin.clone()]).unwrap());
    std::fs::write(&file, sealed.unwrap()).unwrap();
    (file.to_str().unwrap().to_owned(), backup.keys()[0].id().to_string())
}

#[gitseal_test_support::needs_cluster]
#[tokio::test]
async fn an_imported_key_is_published_only_when_asked_and_the_confirmation_names_it() {
    let cluster = Cluster::connect().await.expect("the local control plane (dev/cluster/up)");
    let ns = cluster.fresh_namespace("import-publish").await.unwrap();
    let secrets = Api::<Secret>::namespaced(cluster.client(), &ns);
    // The cluster's key, made as the controller makes one.
    let created = "2026-06-01T00:00:00Z";
    let current_id = make_key(&cluster, &ns, 1, created).await.id;
    assert_eq!(published(&secrets).await, current_id);

    let dir = tempfile::tempdir().unwrap();
    let admin = gitseal::generate_identity();
    let admin_file = dir.path().join("admin.txt");
    std::fs::write(&admin_file, gitseal::identity_file(&admin, created).expose_secret()).unwrap();
    let admin_arg = admin_file.to_str().unwrap();

    let (forged, forged_id) = forged_backup(dir.path(), "forged.age", &admin.to_public());
    // Confirmed by id, but not asked to publish: the cluster's key stays published.
    let out = gitseal(&cluster, &ns, &["keys", "import", "-i", admin_arg, &forged, "--expect-key", &forged_id]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(published(&secrets).await, current_id, "an imported key took the published place");
    assert!(said.contains(&format!("published after the restore: key {current_id}")), "{said}");
    assert!(said.contains("1 imported"), "{said}");

    // Asked: the restored key is published, and the confirmation said so first.
    let (chosen, chosen_id) = forged_backup(dir.path(), "chosen.age", &admin.to_public());
    let args = ["keys", "import", "-i", admin_arg, &chosen, "--expect-key", &chosen_id, "--publish"];
    let out = gitseal(&cluster, &ns, &args);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}{}", String::from_utf8_lossy(&out.stderr));
    let named = said.find(&format!("published after the restore: key {chosen_id}, restored")).expect(&said);
    assert!(named < said.find("imported: key").unwrap(), "{said}");
    assert_eq!(published(&secrets).await, chosen_id);

    // A full id only: a 64-bit prefix is a usage error, and nothing is imported.
    let (third, third_id) = forged_backup(dir.path(), "third.age", &admin.to_public());
    let short = gitseal(&cluster, &ns, &["keys", "import", "-i", admin_arg, &third, "--expect-key", &third_id[..16]]);
    assert_eq!(short.status.code(), Some(2), "{}", String::from_utf8_lossy(&short.stderr));
    assert!(String::from_utf8_lossy(&short.stderr).contains("not a full key id"));
    let list =
        secrets.list_metadata(&ListParams::default().labels(gitseal::crds::storage::KEY_SELECTOR)).await.unwrap();
    assert_eq!(list.items.len(), 3, "the cluster's key and the two imported, nothing more");
    cluster.delete_namespace(&ns).await.unwrap();
}
