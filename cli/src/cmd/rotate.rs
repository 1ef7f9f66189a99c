//! `gitseal rotate`: asks gitseal-controller for a new key through a `KeyRotation` object
//! (so RBAC decides who may rotate and the objects are the audit trail), then waits for
//! the controller's answer in its status.
//!
//! ```text
//!  create KeyRotation rotate-… ──▶ controller leader creates gitseal-key-<n+1>
//!        │                                 │
//!        └── poll status.key ◀─────────────┘ ──▶ recipient from keys.json
//! ```

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use gitseal::crds::{KeyRotation, KeyRotationSpec, KeyRotationStatus};
use kube::api::PostParams;
use kube::{Api, Client};

use crate::cli::RotateArgs;
use crate::cluster::{self, FIELD_MANAGER, Grant, api_error, status_code};

/// How often the request's status is read while waiting.
const POLL: Duration = Duration::from_millis(500);

pub fn rotate(args: &RotateArgs) -> Result<()> {
    cluster::block_on(run(args))
}

async fn run(args: &RotateArgs) -> Result<()> {
    let namespace = &args.cluster.controller_namespace;
    let client = cluster::client(&args.cluster).await?;
    let api: Api<KeyRotation> = Api::namespaced(client.clone(), namespace);
    let name = request(&api, args.reason.as_deref(), namespace).await?;
    if args.wait == 0 {
        crate::io::outln!(
            "requested: KeyRotation {namespace}/{name} (not waiting; kubectl -n {namespace} get keyrotation {name})"
        )?;
        return Ok(());
    }
    eprintln!("requested KeyRotation {namespace}/{name}; waiting up to {}s for gitseal-controller…", args.wait);
    let deadline = Instant::now() + Duration::from_secs(args.wait);
    let (key, secret) = wait_for_key(&api, &name, namespace, deadline).await?;
    crate::io::outln!("rotated: new key {key} ({secret})")?;
    match recipient_of(client, namespace, &key, deadline.max(Instant::now() + Duration::from_secs(5))).await {
        Some(recipient) => crate::io::outln!("recipient: {recipient}")?,
        None => eprintln!("gitseal: the new key is not published yet; gitseal fetch-key shows it once it is"),
    }
    eprintln!(
        "next: gitseal fetch-key -w .gitseal-recipients, then re-seal what the older keys sealed (gitseal reseal PATH…)"
    );
    Ok(())
}

/// Creates the KeyRotation and returns its generated name.
async fn request(api: &Api<KeyRotation>, reason: Option<&str>, namespace: &str) -> Result<String> {
    let mut object = KeyRotation::new("", KeyRotationSpec { reason: reason.map(str::to_owned) });
    object.metadata.name = None;
    object.metadata.generate_name = Some("rotate-".into());
    let params = PostParams { field_manager: Some(FIELD_MANAGER.into()), ..PostParams::default() };
    match api.create(&params, &object).await {
        Ok(created) => created.metadata.name.context("the API server returned the KeyRotation without a name"),
        Err(kube::Error::Api(e)) if e.code == 404 && e.message.contains("namespaces") => bail!(
            "namespace {namespace} does not exist: is gitseal-controller deployed there? (--controller-namespace)"
        ),
        Err(e) if status_code(&e) == Some(404) => bail!(
            "this cluster has no KeyRotation API (keyrotations.gitseal.dev): install gitseal's CRDs with kubectl apply -R -f deploy/"
        ),
        Err(e) => {
            let doing = format!("cannot create a KeyRotation in namespace {namespace}");
            Err(api_error(e, doing, "create and get on keyrotations.gitseal.dev there", Grant::KeyRotator))
        }
    }
}

/// Waits until the controller records the new key, or says why it did not.
async fn wait_for_key(
    api: &Api<KeyRotation>,
    name: &str,
    namespace: &str,
    deadline: Instant,
) -> Result<(String, String)> {
    loop {
        let object = api.get(name).await.with_context(|| format!("cannot read KeyRotation {namespace}/{name}"))?;
        let status = object.status.unwrap_or_default();
        if let Some(key) = status.key.as_deref().filter(|k| gitseal::KeyId::parse(k).is_some()) {
            let secret = status.secret.as_deref().unwrap_or("secret name not recorded");
            return Ok((key.to_owned(), secret.to_owned()));
        }
        if Instant::now() >= deadline {
            let said = not_ready(&status).map(|why| format!(" (the KeyRotation says: {why})")).unwrap_or_default();
            bail!(
                "no new key after waiting{said}: is gitseal-controller running in namespace {namespace}? (kubectl -n {namespace} get pods). The request KeyRotation {namespace}/{name} stays and is carried out when the controller runs; delete it to cancel, or wait longer with --wait"
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The reason and message of a `Ready` condition that is not `True`, if any.
fn not_ready(status: &KeyRotationStatus) -> Option<String> {
    let ready = status.conditions.iter().find(|c| c.type_ == "Ready")?;
    (ready.status != "True").then(|| format!("Ready={} {}: {}", ready.status, ready.reason, ready.message))
}

/// The new key's recipient from `keys.json`, once the controller has published it.
async fn recipient_of(client: Client, namespace: &str, key: &str, deadline: Instant) -> Option<String> {
    loop {
        if let Ok(keys) = cluster::published_keys(client.clone(), namespace).await
            && let Some(found) = keys.into_iter().find(|k| k.id == key)
        {
            return Some(found.recipient);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(POLL).await;
    }
}
