//! A restored key never becomes the one new seals use unless the operator asks. age does
//! not say who made a backup: anyone with the administrator's public key can make one
//! whose key is dated "now", which the ring's order (newest key not retired) would
//! publish. The test plays the controller's ring in a namespace of its own and reads it
//! back with `gitseal::keyring::read_ring`, the order the controller itself applies.
//!
//! ```text
//!  ring: key 1 (published) ◀── import forged key dated now ──▶ key 1 still published
//!                          ◀── import --publish ────────────▶ the restored key, named first
//! ```

#![allow(clippy::unwrap_used)] // tests state their expectations by unwrapping

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use gitseal::{BackupKey, KeyBackup, KeyId, KeyStatus, Recipients};
use gitseal_e2e::Cluster;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ListParams, PostParams};
use secrecy::ExposeSecret;

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

/// The key the ring publishes, read as the controller reads it.
async fn published(secrets: &Api<Secret>) -> String {
    let list = secrets.list(&ListParams::default().labels(gitseal::keyring::KEY_SELECTOR)).await.unwrap();
    let (keys, _) = gitseal::keyring::read_ring(&list.items);
    keys.iter().find(|k| k.status() == KeyStatus::Published).unwrap().id().to_string()
}

/// A backup of one new key dated now, encrypted to the administrator: what anyone holding
/// the administrator's public key can make.
fn forged_backup(dir: &Path, name: &str, admin: &age::x25519::Recipient) -> (String, String) {
    let key = BackupKey::new(gitseal::generate_identity(), "gitseal-key-9", Timestamp::now(), KeyStatus::Active);
    let backup = KeyBackup::new(vec![key.unwrap()]).unwrap();
    let file = dir.join(name);
    let sealed = gitseal::encrypt_file(backup.render().as_bytes(), &Recipients::new([admin.clone()]).unwrap());
    std::fs::write(&file, sealed.unwrap()).unwrap();
    (file.to_str().unwrap().to_owned(), backup.keys()[0].id().to_string())
}

#[tokio::test]
async fn an_imported_key_is_published_only_when_asked_and_the_confirmation_names_it() {
    let cluster = Cluster::connect().await.expect("the local control plane (tests/cluster/up)");
    let ns = cluster.fresh_namespace("import-publish").await.unwrap();
    let secrets = Api::<Secret>::namespaced(cluster.client(), &ns);
    // The cluster's key, made as the controller makes one.
    let current = gitseal::generate_identity();
    let created = "2026-06-01T00:00:00Z";
    let file = gitseal::identity_file(&current, created);
    let key_secret = Secret {
        metadata: ObjectMeta {
            name: Some("gitseal-key-1".into()),
            labels: Some(BTreeMap::from([("gitseal.dev/key".into(), "true".into())])),
            annotations: Some(BTreeMap::from([("gitseal.dev/created".into(), created.into())])),
            ..ObjectMeta::default()
        },
        type_: Some("gitseal.dev/age-key".into()),
        immutable: Some(true),
        data: Some(BTreeMap::from([("key.txt".into(), ByteString(file.expose_secret().as_bytes().to_vec()))])),
        ..Secret::default()
    };
    secrets.create(&PostParams::default(), &key_secret).await.unwrap();
    let current_id = KeyId::of(&current.to_public()).to_string();
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
    let list = secrets.list_metadata(&ListParams::default().labels(gitseal::keyring::KEY_SELECTOR)).await.unwrap();
    assert_eq!(list.items.len(), 3, "the cluster's key and the two imported, nothing more");
    cluster.delete_namespace(&ns).await.unwrap();
}
