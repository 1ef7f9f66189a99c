//! The reconciler: one SealedSecret in, its Secret written (or refused), status and an
//! Event out. Decisions live in [`crate::decide`]; this module carries them out.
//!
//! ```text
//!  SealedSecret ──unseal (all or nothing)──▶ desired Secret
//!        │ fails: Ready=False + Event, Secret untouched
//!        ▼
//!  existing Secret? ─none──▶ create
//!        ├─ ours / opted in ──▶ server-side apply (+ replace if another writer added keys)
//!        └─ someone else's ──▶ Ready=False SecretNotManaged, untouched
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use gitseal::{SealedSecret, unseal_secret};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Client, Resource, ResourceExt};
use tracing::{info, warn};

use crate::FIELD_MANAGER;
use crate::decide::{
    Ownership, Reason, Replace, check_template, condition_changed, desired_secret, needs_replace, ownership,
    ready_condition, stalled_condition,
};
use crate::state::Shared;

/// How often a SealedSecret blocked by an unowned Secret looks for the opt-in again.
const ADOPTION_RECHECK: Duration = Duration::from_secs(10);

/// Errors that make a reconciliation retry with backoff.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The object lacks a namespace (cannot happen for a namespaced resource).
    #[error("SealedSecret has no namespace")]
    NoNamespace,
    /// Writing the status failed.
    #[error("writing the status failed: {0}")]
    PatchStatus(#[source] kube::Error),
}

/// What every reconciliation shares.
pub struct Context {
    /// Client under the controller's own ServiceAccount.
    pub client: Client,
    /// Keys, readiness and metrics.
    pub shared: Arc<Shared>,
    /// Publishes events.k8s.io Events.
    pub recorder: Recorder,
    /// Metadata of the Secrets gitseal manages (label-selected).
    pub managed: Store<kube::core::PartialObjectMeta<Secret>>,
}

/// Brings one SealedSecret's Secret and status to where they should be.
pub async fn reconcile(sealed: Arc<SealedSecret>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = Instant::now();
    let namespace = sealed.namespace().ok_or(Error::NoNamespace)?;
    let ring = ctx.shared.ring();
    let (reason, message, wrote) = match unseal_secret(&sealed, &ring) {
        Err(e) => (Reason::of_unseal(&e), e.to_string(), None),
        Ok(plain) if let Err(message) = check_template(&plain) => (Reason::Malformed, message, None),
        Ok(plain) => {
            let desired = desired_secret(&sealed, &plain);
            match write_secret(&ctx, &sealed, &namespace, desired).await {
                Ok(Written::NotOurs(message)) => (Reason::SecretNotManaged, message, None),
                Ok(written) => (Reason::Unsealed, format!("Secret {} is up to date", sealed.name_any()), Some(written)),
                Err(e) => {
                    warn!(namespace, name = %sealed.name_any(), error = %e, "writing the Secret failed");
                    (Reason::SecretWriteFailed, format!("writing the Secret failed: {}", api_reason(&e)), None)
                }
            }
        }
    };
    let changed = update_status(&ctx, &sealed, &namespace, reason, &message).await?;
    let restored = matches!(wrote, Some(Written::Created | Written::Replaced));
    if changed || restored {
        let note = match (reason, wrote) {
            (Reason::Unsealed, Some(Written::Created)) => format!("created Secret {}", sealed.name_any()),
            (Reason::Unsealed, Some(Written::Replaced)) => format!("restored Secret {}", sealed.name_any()),
            _ => message.clone(),
        };
        publish(&ctx, &sealed, reason, note).await;
    }
    ctx.shared.metrics.reconciled(reason, started.elapsed().as_secs_f64());
    info!(namespace, name = %sealed.name_any(), reason = reason.as_str(), "reconciled");
    Ok(match reason {
        // A write the API server refused is retried; everything else waits for a change
        // (of the object, its Secret, or the key ring).
        Reason::SecretWriteFailed => Action::requeue(Duration::from_secs(10)),
        // An unowned Secret is not watched (the watch selects gitseal's label), so look
        // again for its opt-in annotation now and then.
        Reason::SecretNotManaged => Action::requeue(ADOPTION_RECHECK),
        _ => Action::await_change(),
    })
}

/// Retry policy for errors: back off, the next attempt may succeed.
pub fn error_policy(sealed: Arc<SealedSecret>, error: &Error, ctx: Arc<Context>) -> Action {
    warn!(namespace = sealed.namespace().unwrap_or_default(), name = %sealed.name_any(), %error, "reconcile failed; retrying");
    ctx.shared.metrics.errored();
    Action::requeue(Duration::from_secs(5))
}

enum Written {
    Created,
    Applied,
    Replaced,
    NotOurs(String),
}

async fn write_secret(ctx: &Context, sealed: &SealedSecret, namespace: &str, desired: Secret) -> kube::Result<Written> {
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), namespace);
    let name = sealed.name_any();
    let post = PostParams { field_manager: Some(FIELD_MANAGER.into()), ..PostParams::default() };
    // The managed store only holds Secrets carrying our label; anything else needs a look.
    let known = ctx.managed.get(&ObjectRef::new(&name).within(namespace));
    let existing_meta = match known {
        Some(meta) => meta.metadata.clone(),
        None => match api.create(&post, &desired).await {
            Ok(_) => return Ok(Written::Created),
            Err(kube::Error::Api(e)) if e.code == 409 => match api.get_metadata_opt(&name).await? {
                Some(meta) => meta.metadata,
                None => return api.create(&post, &desired).await.map(|_| Written::Created),
            },
            Err(e) => return Err(e),
        },
    };
    if let Ownership::Foreign(message) = ownership(&existing_meta, sealed) {
        return Ok(Written::NotOurs(message));
    }
    let live =
        match api.patch(&name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&with_kind(&desired))).await {
            Ok(live) => live,
            // The API server refuses to change an immutable Secret's data or any Secret's type.
            Err(kube::Error::Api(e)) if e.code == 422 => api.get(&name).await?,
            Err(e) => return Err(e),
        };
    match needs_replace(&live, &desired) {
        Replace::No => Ok(Written::Applied),
        Replace::Put => {
            let mut replacement = desired;
            replacement.metadata.resource_version = live.metadata.resource_version;
            api.replace(&name, &post, &replacement).await.map(|_| Written::Replaced)
        }
        Replace::Recreate => {
            api.delete(
                &name,
                &DeleteParams::default()
                    .preconditions(kube::api::Preconditions { uid: live.metadata.uid, resource_version: None }),
            )
            .await?;
            api.create(&post, &desired).await.map(|_| Written::Replaced)
        }
    }
}

fn with_kind(secret: &Secret) -> serde_json::Value {
    let mut v = serde_json::to_value(secret).unwrap_or_default();
    v["apiVersion"] = "v1".into();
    v["kind"] = "Secret".into();
    v
}

/// Writes `Ready` and `observedGeneration` when they change; returns whether they did.
async fn update_status(
    ctx: &Context,
    sealed: &SealedSecret,
    namespace: &str,
    reason: Reason,
    message: &str,
) -> Result<bool, Error> {
    let generation = sealed.meta().generation;
    let status = sealed.status.clone().unwrap_or_default();
    let previous = status.conditions.iter().find(|c| c.type_ == "Ready");
    let now = Time(k8s_openapi::jiff::Timestamp::now());
    let next = ready_condition(reason, message, generation, previous, now);
    if !condition_changed(previous, &next, status.observed_generation) {
        return Ok(false);
    }
    let stalled = stalled_condition(&next, reason, status.conditions.iter().find(|c| c.type_ == "Stalled"));
    let api: Api<SealedSecret> = Api::namespaced(ctx.client.clone(), namespace);
    let patch = serde_json::json!({
        "apiVersion": gitseal::crds::API_VERSION,
        "kind": "SealedSecret",
        "status": { "observedGeneration": generation, "conditions": [next, stalled] },
    });
    api.patch_status(&sealed.name_any(), &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&patch))
        .await
        .map_err(Error::PatchStatus)?;
    Ok(true)
}

async fn publish(ctx: &Context, sealed: &SealedSecret, reason: Reason, note: String) {
    let event = Event {
        type_: if reason == Reason::Unsealed { EventType::Normal } else { EventType::Warning },
        reason: reason.as_str().into(),
        note: Some(note.chars().take(1000).collect()),
        action: "Unseal".into(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&event, &sealed.object_ref(&())).await {
        warn!(error = %e, "publishing an event failed");
    }
}

/// The API server's reason for a refusal, without echoing the request.
fn api_reason(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => format!("{} ({})", s.reason, s.code),
        _ => "the API server could not be reached".into(),
    }
}
