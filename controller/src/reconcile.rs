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

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gitseal::manifest::WipeOnDrop;
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
use crate::decrypt::DecryptPool;
use crate::fairness::{Fairness, Turn};
use crate::state::Shared;
use crate::{cache, status};

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
    /// Reading an object whose values the cache does not keep failed.
    #[error("reading the SealedSecret failed: {0}")]
    GetSealedSecret(#[source] kube::Error),
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
    /// Where unsealing runs: off the async runtime, bounded in CPU and memory.
    pub decrypt: DecryptPool,
    /// Each namespace's share of the decrypt workers.
    pub fairness: Fairness,
    /// What this replica last wrote, Secret and Ready status, for each SealedSecret, to
    /// skip rewriting a Secret nobody changed since (its own write's watch event triggers
    /// a reconcile too).
    pub written: Mutex<HashMap<(String, String), Stamp>>,
}

/// The inputs and result of one successful write of a Secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stamp {
    /// The SealedSecret's uid and generation.
    pub sealed: (Option<String>, Option<i64>),
    /// The key ring's generation.
    pub ring: u64,
    /// The Secret's resourceVersion after the write.
    pub secret_version: Option<String>,
}

/// Brings one SealedSecret's Secret and status to where they should be.
pub async fn reconcile(sealed: Arc<SealedSecret>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = Instant::now();
    let namespace = sealed.namespace().ok_or(Error::NoNamespace)?;
    let key = (namespace.clone(), sealed.name_any());
    let ring_generation = ctx.shared.ring_generation();
    let inputs = (sealed.meta().uid.clone(), sealed.meta().generation);
    if up_to_date(&ctx, &key, &inputs, ring_generation) {
        return Ok(Action::await_change());
    }
    // A namespace that spent more than its share of the workers waits, holding nothing.
    let turn = match ctx.fairness.admit(&namespace).await {
        Ok(turn) => turn,
        Err(wait) => {
            ctx.shared.metrics.deferred();
            return Ok(Action::requeue(wait));
        }
    };
    // Memory for the values before they are read: the largest object's when the cache left
    // them out, so concurrent reads of large objects stay within the budget too.
    let trimmed = cache::is_trimmed(&sealed);
    let in_work = if trimmed { gitseal::crds::bounds::MAX_SEALED_BASE64 } else { cache::values_len(&sealed) };
    let _memory = ctx.decrypt.reserve(in_work).await;
    let sealed = if trimmed {
        let api: Api<SealedSecret> = Api::namespaced(ctx.client.clone(), &namespace);
        match api.get_opt(&key.1).await.map_err(Error::GetSealedSecret)? {
            Some(full) if full.meta().uid == sealed.meta().uid => Arc::new(full),
            // Deleted or replaced meanwhile: its own events bring the new one.
            _ => return Ok(Action::await_change()),
        }
    } else {
        sealed
    };
    let (reason, message, wrote) = match unseal(&ctx, turn, sealed.clone()).await {
        Err((reason, message)) => (reason, message, None),
        Ok(desired) => match write_secret(&ctx, &sealed, &namespace, desired).await {
            Ok((Written::NotOurs(message), _)) => (Reason::SecretNotManaged, message, None),
            Ok((written, secret_version)) => {
                let message = format!("Secret {} is up to date", sealed.name_any());
                (Reason::Unsealed, message, Some((written, secret_version)))
            }
            Err(e) => {
                warn!(namespace, name = %sealed.name_any(), error = %e, "writing the Secret failed");
                (Reason::SecretWriteFailed, format!("writing the Secret failed: {}", api_reason(&e)), None)
            }
        },
    };
    ctx.written.lock().map(|mut w| w.remove(&key)).ok();
    let changed = update_status(&ctx, &sealed, &namespace, reason, &message).await?;
    let (wrote, secret_version) = wrote.map_or((None, None), |(w, v)| (Some(w), v));
    if reason == Reason::Unsealed {
        // Secret and status are both written: until one of the inputs changes, nothing to do.
        let stamp = Stamp { sealed: inputs, ring: ring_generation, secret_version };
        ctx.written.lock().map(|mut w| w.insert(key, stamp)).ok();
    }
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

/// Unseals on the decrypt pool (the core bounds the work per object), charges the time
/// to the namespace, and builds the Secret to write, or says why not.
async fn unseal(ctx: &Context, turn: Turn<'_>, sealed: Arc<SealedSecret>) -> Result<WipeOnDrop, (Reason, String)> {
    let ring = ctx.shared.ring();
    let work = move || {
        let started = Instant::now();
        let result =
            unseal_secret(&sealed, &ring).map_err(|e| (Reason::of_unseal(&e), e.to_string())).and_then(|plain| {
                check_template(&plain).map_err(|message| (Reason::Malformed, message))?;
                Ok(WipeOnDrop(desired_secret(&sealed, &plain)))
            });
        (result, started.elapsed())
    };
    match ctx.decrypt.run(work).await {
        Some((result, spent)) => {
            turn.finish(spent);
            result
        }
        None => Err((Reason::Malformed, "unsealing failed unexpectedly; see the controller's log".into())),
    }
}

/// Whether nothing changed since this replica last wrote the Secret and a Ready status
/// for it: same SealedSecret (uid, generation), same key ring, and the Secret still at the
/// version that write left.
fn up_to_date(ctx: &Context, key: &(String, String), inputs: &(Option<String>, Option<i64>), ring: u64) -> bool {
    let Some(meta) = ctx.managed.get(&ObjectRef::new(&key.1).within(&key.0)) else { return false };
    let Ok(written) = ctx.written.lock() else { return false };
    written.get(key).is_some_and(|stamp| {
        stamp.sealed == *inputs
            && stamp.ring == ring
            && stamp.secret_version.is_some()
            && stamp.secret_version == meta.metadata.resource_version
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

/// Writes the Secret; returns what was done and the Secret's resourceVersion afterwards.
async fn write_secret(
    ctx: &Context,
    sealed: &SealedSecret,
    namespace: &str,
    desired: WipeOnDrop,
) -> kube::Result<(Written, Option<String>)> {
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), namespace);
    let name = sealed.name_any();
    let post = PostParams { field_manager: Some(FIELD_MANAGER.into()), ..PostParams::default() };
    // The managed store only holds Secrets carrying our label; anything else needs a look.
    let known = ctx.managed.get(&ObjectRef::new(&name).within(namespace));
    let existing_meta = match known {
        Some(meta) => meta.metadata.clone(),
        None => match api.create(&post, &desired).await {
            Ok(s) => return Ok((Written::Created, version(s))),
            Err(kube::Error::Api(e)) if e.code == 409 => match api.get_metadata_opt(&name).await? {
                Some(meta) => meta.metadata,
                None => {
                    return api.create(&post, &desired).await.map(|s| (Written::Created, version(s)));
                }
            },
            Err(e) => return Err(e),
        },
    };
    if let Ownership::Foreign(message) = ownership(&existing_meta, sealed) {
        return Ok((Written::NotOurs(message), None));
    }
    let mut body = with_kind(&desired);
    let patched = api.patch(&name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&body)).await;
    wipe_values(&mut body);
    let live = WipeOnDrop(match patched {
        Ok(live) => live,
        // The API server refuses to change an immutable Secret's data or any Secret's type.
        Err(kube::Error::Api(e)) if e.code == 422 => api.get(&name).await?,
        Err(e) => return Err(e),
    });
    match needs_replace(&live, &desired) {
        Replace::No => Ok((Written::Applied, live.metadata.resource_version.clone())),
        Replace::Put => {
            let mut replacement = desired;
            replacement.metadata.resource_version.clone_from(&live.metadata.resource_version);
            api.replace(&name, &post, &replacement).await.map(|s| (Written::Replaced, version(s)))
        }
        Replace::Recreate => {
            api.delete(
                &name,
                &DeleteParams::default()
                    .preconditions(kube::api::Preconditions { uid: live.metadata.uid.clone(), resource_version: None }),
            )
            .await?;
            api.create(&post, &desired).await.map(|s| (Written::Replaced, version(s)))
        }
    }
}

/// The resourceVersion of a Secret the API server sent back; its values are zeroized.
fn version(secret: Secret) -> Option<String> {
    WipeOnDrop(secret).metadata.resource_version.clone()
}

/// Zeroizes the values of a Secret rendered as JSON (the apply patch's body).
fn wipe_values(body: &mut serde_json::Value) {
    use zeroize::Zeroize as _;
    for value in
        body.get_mut("data").and_then(serde_json::Value::as_object_mut).into_iter().flat_map(|d| d.values_mut())
    {
        if let serde_json::Value::String(text) = value {
            text.zeroize();
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
    let written = serde_json::json!({ "observedGeneration": generation, "conditions": [next, stalled] });
    status::apply(&api, &sealed.name_any(), written).await.map_err(Error::PatchStatus)?;
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
