//! Switching over from the real incumbent (bitnami sealed-secrets v0.40.0, its controller
//! and `kubeseal` built from its Go module) with both controllers running, on the local
//! control plane, gitseal-controller under deploy/'s RBAC:
//!
//! ```text
//!  kubeseal (key 1) ─┐                              incumbent's controller: Secrets, owned by
//!  rotate → key 2    ├─▶ bitnami SealedSecrets ──▶  the bitnami SealedSecrets
//!  kubeseal (key 2) ─┘        │                          │ every Secret watched from here on:
//!  keys backup ──gitseal migrate──▶ gitseal SealedSecrets │ any DELETE or data change fails
//!                 kubectl apply ──▶ gitseal-controller takes each Secret over (one replace)
//!                 kubectl delete sealedsecrets.bitnami.com --all ──▶ nothing collected
//! ```
//!
//! The Secrets gitseal ends up owning are byte for byte what the incumbent wrote: data,
//! type, immutability, labels and annotations.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use futures::StreamExt;
use gitseal::SealedSecret;
use gitseal_test_support::incumbent::{Incumbent, incumbent_bin};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams, WatchEvent, WatchParams};
use support::{Env, eventually, kubectl};

/// In every value, so a leak into any output is caught.
const CANARY: &str = "canary-plaintext-c0ffee";

/// The Secrets the test seals with the incumbent: (name, annotations, type, immutable, key 1?).
const OBJECTS: [(&str, &str, &str, bool, bool); 5] = [
    ("strict-first-key", "owner: team-a", "Opaque", false, true),
    ("strict", "owner: team-b", "kubernetes.io/basic-auth", false, false),
    ("wide", "sealedsecrets.bitnami.com/namespace-wide: \"true\"", "Opaque", false, false),
    ("everywhere", "sealedsecrets.bitnami.com/cluster-wide: \"true\"", "Opaque", false, false),
    ("frozen", "note: immutable", "Opaque", true, true),
];

/// The bytes each Secret holds: text, and every byte value.
fn values(name: &str) -> BTreeMap<String, Vec<u8>> {
    let binary: Vec<u8> = (0..=255u8).rev().chain(name.bytes()).collect();
    BTreeMap::from([
        ("username".to_owned(), format!("{name}-{CANARY}").into_bytes()),
        ("password".to_owned(), format!("pw-{CANARY}").into_bytes()),
        ("blob".to_owned(), binary),
    ])
}

fn secret_manifest(ns: &str, name: &str, annotations: &str, type_: &str, immutable: bool) -> String {
    let data: String = values(name).iter().map(|(k, v)| format!("  {k}: {}\n", STANDARD.encode(v))).collect();
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: {ns}\n  labels: {{app: {name}, tier: db}}\n  annotations: {{{annotations}}}\ntype: {type_}\nimmutable: {immutable}\ndata:\n{data}"
    )
}

fn gitseal(args: &[&str], dir: &Path, kubeconfig: &Path) -> Output {
    let bin = Path::new(env!("CARGO_BIN_EXE_gitseal-controller")).with_file_name("gitseal");
    assert!(bin.exists(), "build the CLI first: cargo build -p gitseal-cli");
    let out = Command::new(bin).args(args).current_dir(dir).env("KUBECONFIG", kubeconfig).output().unwrap();
    assert!(out.status.success(), "gitseal {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out
}

/// What must not change across the switch-over, per Secret.
#[derive(Debug, PartialEq)]
struct Kept {
    uid: Option<String>,
    data: BTreeMap<String, Vec<u8>>,
    type_: Option<String>,
    immutable: Option<bool>,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
}

fn kept(s: &Secret) -> Kept {
    let mut labels = s.metadata.labels.clone().unwrap_or_default();
    // The one label gitseal adds: it selects the Secrets it manages.
    labels.remove("app.kubernetes.io/managed-by");
    Kept {
        uid: s.metadata.uid.clone(),
        data: s.data.iter().flatten().map(|(k, v)| (k.clone(), v.0.clone())).collect(),
        type_: s.type_.clone(),
        immutable: s.immutable,
        labels,
        annotations: s.metadata.annotations.clone().unwrap_or_default(),
    }
}

/// Who controls a Secret: (apiVersion, name).
fn controller_of(s: &Secret) -> Option<(String, String)> {
    let refs = s.metadata.owner_references.iter().flatten();
    let controllers: Vec<_> = refs.filter(|o| o.controller == Some(true)).collect();
    assert!(controllers.len() <= 1, "{:?}", s.metadata.owner_references);
    controllers.first().map(|o| (o.api_version.clone(), o.name.clone()))
}

#[gitseal_test_support::needs_cluster]
#[tokio::test]
async fn both_controllers_running_the_switch_over_never_deletes_or_changes_a_secret() {
    if incumbent_bin().is_none() {
        return eprintln!("note: Go not installed; the incumbent was not built, the switch-over not checked");
    }
    let (env, _gitseal_controller, _) = Env::with_controller().await;
    let ns = env.cluster.fresh_namespace("migrate").await.unwrap();
    let mut incumbent = Incumbent::start(&env.cluster).await.unwrap();
    let repo = env.dir.path().join("repo");
    std::fs::create_dir(&repo).unwrap();

    // Sealed by the real kubeseal: two objects with the first key, then the incumbent
    // rotates, and the rest with the second; all in one file, as repositories have them.
    let mut documents = vec!["apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\n".to_owned()];
    for first_key in [true, false] {
        let cert = incumbent.cert().unwrap();
        for (name, annotations, type_, immutable, _) in OBJECTS.iter().filter(|o| o.4 == first_key) {
            let manifest = secret_manifest(&ns, name, annotations, type_, *immutable);
            let cert = cert.to_string_lossy();
            let out = incumbent.kubeseal(&["--cert", &cert, "-o", "yaml"], manifest.as_bytes()).unwrap();
            assert!(out.status.success(), "kubeseal: {}", String::from_utf8_lossy(&out.stderr));
            let sealed = String::from_utf8(out.stdout).unwrap();
            documents.push(sealed.strip_prefix("---\n").unwrap_or(&sealed).to_owned());
        }
        if first_key {
            incumbent.rotate().await.unwrap();
        }
    }
    assert_eq!(incumbent.keys().await.unwrap().len(), 2, "two of the incumbent's keys are in play");
    let file = repo.join("secrets.yaml");
    std::fs::write(&file, documents.join("---\n")).unwrap();
    kubectl(&["apply", "-f", file.to_str().unwrap(), "-n", &ns]);

    // The incumbent unseals them all.
    let secrets: Api<Secret> = Api::namespaced(env.client(), &ns);
    let before = eventually("the incumbent's Secrets", || async {
        let list = secrets.list(&ListParams::default()).await.ok()?;
        let mine: Vec<&Secret> =
            list.items.iter().filter(|s| OBJECTS.iter().any(|o| Some(o.0) == s.metadata.name.as_deref())).collect();
        (mine.len() == OBJECTS.len()).then(|| {
            mine.into_iter().map(|s| (s.metadata.name.clone().unwrap(), s.clone())).collect::<BTreeMap<_, _>>()
        })
    })
    .await;
    for (name, annotations, type_, immutable, _) in OBJECTS {
        let s = &before[name];
        assert_eq!(kept(s).data, values(name), "{name}: the incumbent unsealed it byte for byte");
        assert_eq!((s.type_.as_deref(), s.immutable.unwrap_or(false)), (Some(type_), immutable), "{name}");
        assert_eq!(controller_of(s).unwrap(), ("bitnami.com/v1alpha1".to_owned(), name.to_owned()));
        let key = annotations.split(':').next().unwrap();
        assert!(kept(s).annotations.contains_key(key), "{name}: {:?}", s.metadata.annotations);
    }

    // From here on, every change to a Secret of the namespace is recorded.
    let changes = Arc::new(Mutex::new(Vec::<String>::new()));
    let watching = {
        let (secrets, changes, before) = (secrets.clone(), changes.clone(), before.clone());
        let version = secrets.list_metadata(&ListParams::default()).await.unwrap().metadata.resource_version.unwrap();
        tokio::spawn(async move {
            let mut version = version;
            loop {
                let mut stream = secrets.watch(&WatchParams::default().timeout(290), &version).await.unwrap().boxed();
                while let Some(event) = stream.next().await {
                    let record = |what: String| changes.lock().unwrap().push(what);
                    match event {
                        Ok(WatchEvent::Deleted(s)) => record(format!("DELETE {}", s.metadata.name.unwrap_or_default())),
                        Ok(WatchEvent::Modified(s) | WatchEvent::Added(s)) => {
                            version = s.metadata.resource_version.clone().unwrap_or(version);
                            let name = s.metadata.name.clone().unwrap_or_default();
                            if let Some(old) = before.get(&name) {
                                let (old, new) = (kept(old), kept(&s));
                                if (&old.uid, &old.data, &old.type_, old.immutable)
                                    != (&new.uid, &new.data, &new.type_, new.immutable)
                                {
                                    record(format!("{name} changed"));
                                }
                            }
                        }
                        Ok(WatchEvent::Bookmark(b)) => version = b.metadata.resource_version,
                        Ok(WatchEvent::Error(e)) => record(format!("watch error {e:?}")),
                        Err(e) => record(format!("watch failed {e}")),
                    }
                }
            }
        })
    };

    // Migrate offline with the incumbent's keys as its users back them up.
    std::fs::write(repo.join("bitnami-keys.yaml"), incumbent.keys_backup().unwrap()).unwrap();
    let admin = env.cluster.kubeconfig_path();
    gitseal(&["fetch-key", "-w", ".gitseal-recipients"], &repo, admin);
    let out = gitseal(&["migrate", "--bitnami-keys", "bitnami-keys.yaml", "secrets.yaml"], &repo, admin);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains(&format!("migrated {} SealedSecrets in 1 files", OBJECTS.len())), "{said}");
    assert!(!said.contains(CANARY));
    let migrated = std::fs::read_to_string(&file).unwrap();
    assert!(!migrated.contains("bitnami.com/v1alpha1") && migrated.starts_with(&documents[0]));

    // One object first without its opt-in: the Secret stays the incumbent's.
    let unannotated = repo.join("unannotated.yaml");
    let strict_doc = migrated.split("---\n").find(|d| d.contains("name: strict\n")).unwrap();
    std::fs::write(&unannotated, strict_doc.replace("    gitseal.dev/migrated-from: sealed-secrets\n", "")).unwrap();
    assert!(!std::fs::read_to_string(&unannotated).unwrap().contains("migrated-from"));
    kubectl(&["apply", "-f", unannotated.to_str().unwrap(), "-n", &ns]);
    let sealed: Api<SealedSecret> = Api::namespaced(env.client(), &ns);
    let reason = |name: &'static str| {
        let sealed = sealed.clone();
        async move {
            let s = sealed.get_opt(name).await.ok()??;
            let ready = s.status?.conditions.into_iter().find(|c| c.type_ == "Ready")?;
            Some((ready.reason, ready.message))
        }
    };
    let (why, message) = eventually("strict refused", || reason("strict")).await;
    assert_eq!(why, "SecretNotManaged", "{message}");
    assert!(message.contains("gitseal.dev/migrated-from"), "{message}");
    assert_eq!(controller_of(&secrets.get("strict").await.unwrap()).unwrap().0, "bitnami.com/v1alpha1");

    // Now all of them, with the opt-in: each Secret changes hands in one write.
    kubectl(&["apply", "-f", file.to_str().unwrap(), "-n", &ns]);
    for (name, ..) in OBJECTS {
        let (why, message) = eventually(&format!("{name} unsealed by gitseal"), || async {
            reason(name).await.filter(|(r, _)| r == "Unsealed")
        })
        .await;
        assert_eq!(why, "Unsealed", "{message}");
    }
    let sealed_list = sealed.list(&ListParams::default()).await.unwrap();
    for (name, ..) in OBJECTS {
        let s = secrets.get(name).await.unwrap();
        let owner = sealed_list.items.iter().find(|o| o.metadata.name.as_deref() == Some(name)).unwrap();
        let refs = s.metadata.owner_references.clone().unwrap();
        assert_eq!(refs.len(), 1, "{name}: only gitseal's owner reference is left: {refs:?}");
        assert_eq!(
            (refs[0].api_version.as_str(), refs[0].uid.as_str()),
            (gitseal::crds::API_VERSION, owner.metadata.uid.as_deref().unwrap())
        );
        assert_eq!(kept(&s), kept(&before[name]), "{name}: the Secret gitseal wrote is the incumbent's, byte for byte");
    }

    // Removing the incumbent's objects collects nothing: they own no Secret any more.
    kubectl(&["delete", "sealedsecrets.bitnami.com", "--all", "-n", &ns, "--wait=true"]);
    // Let the garbage collector see the deletions (it would act within a second or two).
    tokio::time::sleep(Duration::from_secs(5)).await;
    for (name, ..) in OBJECTS {
        assert_eq!(kept(&secrets.get(name).await.unwrap()), kept(&before[name]), "{name}");
    }
    watching.abort();
    let changes = changes.lock().unwrap().clone();
    assert!(changes.is_empty(), "Secrets were deleted or changed during the switch-over: {changes:?}");
    incumbent.stop();
}
