//! The incumbent, bitnami sealed-secrets, run for real on the local control plane
//! (gitseal_test_support::incumbent): its controller unseals what its `kubeseal` sealed, under the
//! RBAC of dev/tools/incumbent/rbac.yaml, and renews its key as its users do. Needs
//! `dev/cluster/up`; skips, saying so, only on a machine without Go outside CI (as
//! tests/kubeseal_values.rs does).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use gitseal::Scope;
use gitseal::incumbent::{IncumbentError, IncumbentKeys, label, open};
use gitseal_test_support::Cluster;
use gitseal_test_support::incumbent::{Incumbent, incumbent_bin};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Event, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams};

/// Upper bound for the controller to unseal a SealedSecret and report it.
const EVENTUALLY: Duration = Duration::from_secs(60);

/// Every byte value, a NUL and a CR LF: what a YAML or a terminal would mangle.
fn binary() -> Vec<u8> {
    (0..=255u8).chain(*b"\0\r\n").collect()
}

fn secret(namespace: &str, name: &str, data: &[(&str, &[u8])]) -> Secret {
    Secret {
        metadata: ObjectMeta { name: Some(name.into()), namespace: Some(namespace.into()), ..ObjectMeta::default() },
        data: Some(data.iter().map(|(k, v)| ((*k).to_owned(), ByteString(v.to_vec()))).collect()),
        ..Secret::default()
    }
}

/// `kubeseal --cert <current cert> -o yaml < secret.yaml`, parsed.
fn kubeseal(incumbent: &Incumbent, secret: &Secret) -> anyhow::Result<serde_json::Value> {
    let out = incumbent.kubeseal(&["-o", "yaml"], serde_saphyr::to_string(secret)?.as_bytes())?;
    ensure!(out.status.success(), "kubeseal failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr));
    Ok(serde_saphyr::from_str(std::str::from_utf8(&out.stdout)?)?)
}

/// `kubectl apply -f -` of a sealed manifest.
fn apply(cluster: &Cluster, sealed: &serde_json::Value) -> anyhow::Result<()> {
    let out = cluster.kubectl(&["apply", "-f", "-"], serde_saphyr::to_string(sealed)?.as_bytes())?;
    ensure!(out.status.success(), "kubectl apply: {}", String::from_utf8_lossy(&out.stderr));
    Ok(())
}

/// Polls `probe` every 200 ms until it returns `Some`, failing after [`EVENTUALLY`].
async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Option<T>>>,
{
    let deadline = tokio::time::Instant::now() + EVENTUALLY;
    loop {
        if let Some(found) = probe().await? {
            return Ok(found);
        }
        if tokio::time::Instant::now() >= deadline {
            bail!("timed out after {EVENTUALLY:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until the incumbent has unsealed `namespace/name`: the Secret exists, the
/// SealedSecret reports Synced, and an `Unsealed` Event was recorded. Returns the Secret
/// and the SealedSecret.
async fn unsealed(cluster: &Cluster, namespace: &str, name: &str) -> anyhow::Result<(Secret, DynamicObject)> {
    let gvk = GroupVersionKind::gvk("bitnami.com", "v1alpha1", "SealedSecret");
    let resource = ApiResource::from_gvk_with_plural(&gvk, "sealedsecrets");
    let sealed_secrets: Api<DynamicObject> = Api::namespaced_with(cluster.client(), namespace, &resource);
    let secrets: Api<Secret> = Api::namespaced(cluster.client(), namespace);
    let events: Api<Event> = Api::namespaced(cluster.client(), namespace);
    let what = format!("the incumbent to unseal {namespace}/{name}, report Synced and record an Unsealed Event");
    eventually(&what, || async {
        let Some(secret) = secrets.get_opt(name).await? else { return Ok(None) };
        let sealed = sealed_secrets.get(name).await?;
        let conditions = sealed.data.pointer("/status/conditions").and_then(|c| c.as_array());
        let synced = conditions.into_iter().flatten().any(|c| c["type"] == "Synced" && c["status"] == "True");
        let recorded = events
            .list(&ListParams::default())
            .await?
            .into_iter()
            .any(|e| e.reason.as_deref() == Some("Unsealed") && e.involved_object.name.as_deref() == Some(name));
        Ok((synced && recorded).then_some((secret, sealed)))
    })
    .await
}

fn data(secret: &Secret) -> BTreeMap<String, Vec<u8>> {
    secret.data.iter().flatten().map(|(k, v)| (k.clone(), v.0.clone())).collect()
}

fn expected(data: &[(&str, &[u8])]) -> BTreeMap<String, Vec<u8>> {
    data.iter().map(|(k, v)| ((*k).to_owned(), v.to_vec())).collect()
}

/// The RSA keys in the `tls.key` of `secrets`, as one ring.
fn ring(secrets: &[Secret]) -> anyhow::Result<IncumbentKeys> {
    let mut pem = String::new();
    for secret in secrets {
        let key = secret.data.as_ref().and_then(|d| d.get("tls.key")).context("a key Secret without tls.key")?;
        pem.push_str(std::str::from_utf8(&key.0)?);
    }
    Ok(IncumbentKeys::from_pem(&pem)?)
}

/// The Secret's one owner is the SealedSecret, as its controller.
fn ensure_controlled_by(secret: &Secret, sealed: &DynamicObject) -> anyhow::Result<()> {
    let owner = OwnerReference {
        api_version: "bitnami.com/v1alpha1".into(),
        kind: "SealedSecret".into(),
        name: sealed.metadata.name.clone().context("the SealedSecret has no name")?,
        uid: sealed.metadata.uid.clone().context("the SealedSecret has no uid")?,
        controller: Some(true),
        block_owner_deletion: None,
    };
    let owners = secret.metadata.owner_references.clone().unwrap_or_default();
    ensure!(owners == [owner], "the Secret's owners are {owners:?}, expected the SealedSecret as controller");
    Ok(())
}

/// Context for a failure the controller's log may explain.
fn log(incumbent: &Incumbent) -> String {
    format!("the incumbent's controller logged to {}", incumbent.keep_log().display())
}

fn mount_namespace(pid: &str) -> anyhow::Result<std::path::PathBuf> {
    Ok(std::fs::read_link(format!("/proc/{pid}/ns/mnt"))?)
}

#[gitseal_test_support::needs_cluster]
#[tokio::test]
async fn incumbent_unseals_what_its_kubeseal_sealed_and_renews_its_key() -> anyhow::Result<()> {
    if incumbent_bin().is_none() {
        eprintln!("note: Go not installed; the incumbent was not built, its controller not run");
        return Ok(());
    }
    let cluster = Cluster::connect().await?;
    let host_mounts = std::fs::read_to_string("/proc/self/mountinfo")?;
    let started = Instant::now();
    let mut incumbent = Incumbent::start(&cluster).await?;
    eprintln!("incumbent started in {:.1}s", started.elapsed().as_secs_f64());
    let pid = incumbent.pid().to_string();
    ensure!(mount_namespace(&pid)? != mount_namespace("self")?, "the controller runs in the host's mount namespace");
    ensure!(std::fs::read_to_string("/proc/self/mountinfo")? == host_mounts, "starting it changed the host's mounts");

    // Sealed with the real kubeseal, unsealed by the real controller.
    let namespace = cluster.fresh_namespace("incumbent").await?;
    let db_data: [(&str, &[u8]); 2] = [("password", b"hunter2"), ("blob", &binary())];
    let sealed_db = kubeseal(&incumbent, &secret(&namespace, "db", &db_data))?;
    apply(&cluster, &sealed_db)?;
    let (db, sealed) = unsealed(&cluster, &namespace, "db").await.with_context(|| log(&incumbent))?;
    ensure!(data(&db) == expected(&db_data), "the unsealed Secret's data differ: {:?}", db.data);
    ensure_controlled_by(&db, &sealed)?;

    // A second key, as its users renew it; new seals use it, the old one still works.
    let first_cert = std::fs::read(incumbent.cert()?)?;
    let rotating = Instant::now();
    incumbent.rotate().await?;
    eprintln!("incumbent renewed its key in {:.1}s", rotating.elapsed().as_secs_f64());
    let keys = incumbent.keys().await?;
    ensure!(keys.len() == 2, "{} key Secrets after rotate, expected 2", keys.len());
    ensure!(std::fs::read(incumbent.cert()?)? != first_cert, "the served certificate did not change");
    let api_data: [(&str, &[u8]); 1] = [("token", b"sealed after renewal")];
    let sealed_api = kubeseal(&incumbent, &secret(&namespace, "api", &api_data))?;
    apply(&cluster, &sealed_api)?;
    let (api, _) = unsealed(&cluster, &namespace, "api").await.with_context(|| log(&incumbent))?;
    ensure!(data(&api) == expected(&api_data), "the Secret sealed after renewal differs: {:?}", api.data);
    let value = sealed_api.pointer("/spec/encryptedData/token").and_then(|v| v.as_str()).context("no token")?;
    let place = label(Scope::Strict, &namespace, "api");
    let opened = open(value, &place, &ring(&keys[1..])?).context("the new key alone does not open a new seal")?;
    ensure!(opened[..] == *b"sealed after renewal", "the new key opened something else");
    let old_only = open(value, &place, &ring(&keys[..1])?).err();
    ensure!(old_only == Some(IncumbentError::NoMatchingKey), "the old key alone: {old_only:?}");

    // The backup its users take holds both keys, and opens both seals.
    let backup: serde_json::Value = serde_saphyr::from_str(&incumbent.keys_backup()?)?;
    ensure!(backup["kind"] == "List", "the backup is a {}, expected a List", backup["kind"]);
    let backed_up: Vec<Secret> = serde_json::from_value(backup["items"].clone())?;
    ensure!(backed_up.len() == 2, "{} Secrets in the backup, expected 2", backed_up.len());
    for key in &backed_up {
        ensure!(key.type_.as_deref() == Some("kubernetes.io/tls"), "a backed-up key of type {:?}", key.type_);
    }
    let backup_ring = ring(&backed_up)?;
    let password = sealed_db.pointer("/spec/encryptedData/password").and_then(|v| v.as_str()).context("password")?;
    let opened = open(password, &label(Scope::Strict, &namespace, "db"), &backup_ring)?;
    ensure!(opened[..] == *b"hunter2", "the backup opened the first seal to something else");
    ensure!(open(value, &place, &backup_ring)?[..] == *b"sealed after renewal", "the backup opened the second wrong");

    // Nothing left behind: no process, no mount.
    incumbent.stop();
    ensure!(!std::path::Path::new(&format!("/proc/{pid}")).exists(), "the controller {pid} outlived stop()");
    ensure!(std::fs::read_to_string("/proc/self/mountinfo")? == host_mounts, "the host's mounts changed");

    // Every SealedSecret left on the cluster is retried by each later incumbent controller,
    // whose fresh keys cannot open it, and delays its work: a test that passed cleans up.
    cluster.delete_namespace(&namespace).await?;
    Ok(())
}
