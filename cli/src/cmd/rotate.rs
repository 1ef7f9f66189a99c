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
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, PostParams};
use kube::{Api, Client};
use serde_json::{Value, json};

use crate::cli::RotateArgs;
use crate::cluster::{self, FIELD_MANAGER, Grant, api_error, status_code};

/// How often the request's status is read while waiting.
const POLL: Duration = Duration::from_millis(500);

/// The `KeyRotation` API, used dynamically so the CLI needs no more than its shape.
fn key_rotations() -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("gitseal.dev", "v1alpha1", "KeyRotation"), "keyrotations")
}

pub fn rotate(args: &RotateArgs) -> Result<()> {
    cluster::block_on(run(args))
}

async fn run(args: &RotateArgs) -> Result<()> {
    let namespace = &args.cluster.controller_namespace;
    let client = cluster::client(&args.cluster).await?;
    let resource = key_rotations();
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &resource);
    let name = request(&api, &resource, args.reason.as_deref(), namespace).await?;
    if args.wait == 0 {
        println!(
            "requested: KeyRotation {namespace}/{name} (not waiting; kubectl -n {namespace} get keyrotation {name})"
        );
        return Ok(());
    }
    eprintln!("requested KeyRotation {namespace}/{name}; waiting up to {}s for gitseal-controller…", args.wait);
    let deadline = Instant::now() + Duration::from_secs(args.wait);
    let (key, secret) = wait_for_key(&api, &name, namespace, deadline).await?;
    println!("rotated: new key {key} ({secret})");
    match recipient_of(client, namespace, &key, deadline.max(Instant::now() + Duration::from_secs(5))).await {
        Some(recipient) => println!("recipient: {recipient}"),
        None => eprintln!("gitseal: the new key is not published yet; gitseal fetch-key shows it once it is"),
    }
    eprintln!(
        "next: gitseal fetch-key > .gitseal-recipients, then re-seal what the older keys sealed (gitseal reseal PATH…)"
    );
    Ok(())
}

/// Creates the KeyRotation and returns its generated name.
async fn request(
    api: &Api<DynamicObject>,
    resource: &ApiResource,
    reason: Option<&str>,
    namespace: &str,
) -> Result<String> {
    let spec = match reason {
        Some(reason) => json!({ "reason": reason }),
        None => json!({}),
    };
    let mut object = DynamicObject::new("", resource).data(json!({ "spec": spec }));
    object.metadata = ObjectMeta { generate_name: Some("rotate-".into()), ..ObjectMeta::default() };
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
    api: &Api<DynamicObject>,
    name: &str,
    namespace: &str,
    deadline: Instant,
) -> Result<(String, String)> {
    loop {
        let object = api.get(name).await.with_context(|| format!("cannot read KeyRotation {namespace}/{name}"))?;
        let status = object.data.get("status").cloned().unwrap_or(Value::Null);
        if let Some(key) = status.get("key").and_then(Value::as_str).filter(|k| gitseal::KeyId::parse(k).is_some()) {
            let secret = status.get("secret").and_then(Value::as_str).unwrap_or("secret name not recorded");
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
fn not_ready(status: &Value) -> Option<String> {
    let conditions = status.get("conditions")?.as_array()?;
    let ready = conditions.iter().find(|c| c.get("type").and_then(Value::as_str) == Some("Ready"))?;
    let text = |field: &str| ready.get(field).and_then(Value::as_str).unwrap_or_default();
    (text("status") != "True").then(|| format!("Ready={} {}: {}", text("status"), text("reason"), text("message")))
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
