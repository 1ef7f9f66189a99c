//! The reconciler: one SealedSecret in, its Secret written (or refused), status and an
//! Event out. Decisions live in [`crate::decide`] and [`crate::retry`]; this module
//! carries them out.
//!
//! ```text
//!  SealedSecret ──template breaks the policy?──yes──▶ Ready=False TemplateRefused, nothing decrypted
//!        │ no
//!        ▼
//!  Secret known to be someone else's? ──yes──▶ Ready=False SecretNotManaged,
//!        │ no                                  nothing decrypted, retried with backoff
//!        ▼
//!  unseal (all or nothing) ──▶ desired Secret
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
use gitseal::template_policy::TemplatePolicy;
use gitseal::{SealedSecret, unseal_secret};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, DeleteParams, Patch};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Client, Resource, ResourceExt};
use tracing::{debug, info, warn};

use crate::decide::{
    Ownership, Reason, Replace, check_template, condition_changed, desired_secret, needs_replace, ownership,
    ready_condition, ring_names_every_value, stalled_condition, unseal_message, written_before,
};
use crate::decrypt::DecryptPool;
use crate::events::EventBudget;
use crate::fairness::{Fairness, Turn};
use crate::retry::{Stuck, is_retried, refused_again, retry_after};
use crate::state::Shared;
use crate::{cache, writes};

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
    /// Reading the metadata of a Secret that was someone else's failed.
    #[error("reading the Secret's metadata failed: {0}")]
    GetSecret(#[source] kube::Error),
}

/// What every reconciliation shares.
pub struct Context {
    /// Client under the controller's own ServiceAccount.
    pub client: Client,
    /// Keys, readiness and metrics.
    pub shared: Arc<Shared>,
    /// Publishes events.k8s.io Events.
    pub recorder: Recorder,
    /// How many Normal Events it may still publish.
    pub events: EventBudget,
    /// Metadata of the Secrets gitseal manages (label-selected).
    pub managed: Store<kube::core::PartialObjectMeta<Secret>>,
    /// Where unsealing runs: off the async runtime, bounded in CPU and memory.
    pub decrypt: DecryptPool,
    /// Each namespace's share of the decrypt workers.
    pub fairness: Arc<Fairness>,
    /// What this replica last wrote, Secret and Ready status, for each SealedSecret, to
    /// skip rewriting a Secret nobody changed since (its own write's watch event triggers
    /// a reconcile too).
    pub written: Mutex<HashMap<(String, String), Stamp>>,
    /// SealedSecrets last refused for a reason that is retried on a timer
    /// ([`crate::retry`]): in memory only, out of every tenant's reach.
    pub stuck: Mutex<HashMap<(String, String), Stuck>>,
    /// What templates may not ask of the Secret (types, label and annotation keys).
    pub policy: TemplatePolicy,
}

/// Which SealedSecret, at which generation, a Secret was written for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inputs {
    /// The SealedSecret's uid.
    pub uid: Option<String>,
    /// Its generation.
    pub generation: Option<i64>,
}

/// The inputs and result of one successful write of a Secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stamp {
    /// The SealedSecret it was written for.
    pub sealed: Inputs,
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
    let inputs = Inputs { uid: sealed.meta().uid.clone(), generation: sealed.meta().generation };
    // The template policy first, even for an object in place: a policy that changed since
    // (a flag added, an upgrade) is noticed at the next start.
    let refused = ctx.policy.check(sealed.spec.template.as_ref()).err();
    if refused.is_none() && up_to_date(&ctx, &key, &sealed, &inputs, ring_generation) {
        ctx.shared.metrics.unchanged();
        return Ok(Action::await_change());
    }
    // The template policy, then ownership: both read only what is in the clear, so an
    // object refused by either costs no worker time, and its Secret stays as it is.
    let (sealed, outcome) = match refused {
        Some(refusal) => (sealed, Outcome::Refused { reason: Reason::TemplateRefused, message: refusal.to_string() }),
        None => match foreign_secret(&ctx, &key, &sealed, &inputs).await? {
            Some(not_ours) => (sealed, not_ours),
            None => match unseal_and_write(&ctx, sealed, &namespace).await? {
                Attempt::Done(sealed, outcome) => (sealed, outcome),
                Attempt::Later(action) => return Ok(action),
            },
        },
    };
    let next = next_attempt(&ctx, key.clone(), &inputs, &outcome);
    let (reason, name) = (outcome.reason(), sealed.name_any());
    ctx.written.lock().map(|mut w| w.remove(&key)).ok();
    let secret_version = match &outcome {
        Outcome::Written { version, .. } => version.as_deref(),
        _ => None,
    };
    let message = outcome.message(&name);
    let changed = update_status(&ctx, &sealed, &namespace, reason, &message, secret_version).await?;
    if let Outcome::Written { version, .. } = &outcome {
        // Secret and status are both written: until one of the inputs changes, nothing to do.
        let stamp = Stamp { sealed: inputs, ring: ring_generation, secret_version: version.clone() };
        ctx.written.lock().map(|mut w| w.insert(key, stamp)).ok();
    }
    let noteworthy =
        matches!(outcome, Outcome::Written { how: Written::Created | Written::Replaced | Written::TakenOver, .. });
    if changed || noteworthy {
        publish(&ctx, &sealed, reason, outcome.note(&name)).await;
    }
    ctx.shared.metrics.reconciled(reason, started.elapsed().as_secs_f64());
    // One line per SealedSecret that fails; the ones that succeed only at debug: at a cold
    // start over thousands of objects, formatting and writing a line each was a visible
    // share of the controller's CPU.
    if reason == Reason::Unsealed {
        debug!(namespace, name = %sealed.name_any(), "reconciled");
    } else {
        info!(namespace, name = %sealed.name_any(), reason = reason.as_str(), "reconciled");
    }
    Ok(next)
}

/// Remembers a refusal that is retried and says when to retry, backing off while nothing
/// changes; forgets it on any other outcome. A write the API server refused may succeed
/// later, and an unowned Secret is not watched (the watch selects gitseal's label), so
/// both are looked at again; everything else waits for a change (of the object, its
/// Secret, or the key ring).
fn next_attempt(ctx: &Context, key: (String, String), inputs: &Inputs, outcome: &Outcome) -> Action {
    let Ok(mut stuck) = ctx.stuck.lock() else { return Action::requeue(retry_after(1)) };
    let reason = outcome.reason();
    if !is_retried(reason) {
        stuck.remove(&key);
        return Action::await_change();
    }
    let secret_version = match outcome {
        Outcome::NotOurs { version, .. } => version.clone(),
        _ => ctx.managed.get(&ObjectRef::new(&key.1).within(&key.0)).and_then(|m| m.metadata.resource_version.clone()),
    };
    let again = refused_again(stuck.get(&key), inputs, secret_version.as_deref(), reason);
    let wait = retry_after(again.failures);
    stuck.insert(key, again);
    Action::requeue(wait)
}

/// Whether the Secret of `sealed`'s name is known to be someone else's, decided from its
/// metadata alone: from the managed store when it is there (free), else with a metadata
/// read when this SealedSecret, unchanged, was refused for that reason before (an unowned
/// Secret is not watched). A SealedSecret never refused reads nothing: its first attempt
/// finds out by creating the Secret.
async fn foreign_secret(
    ctx: &Context,
    key: &(String, String),
    sealed: &SealedSecret,
    inputs: &Inputs,
) -> Result<Option<Outcome>, Error> {
    let known = ctx.managed.get(&ObjectRef::new(&key.1).within(&key.0)).map(|m| m.metadata.clone());
    let meta = match known {
        Some(meta) => meta,
        None => {
            let refused = ctx.stuck.lock().ok().is_some_and(|s| s.get(key).is_some_and(|s| s.not_ours(inputs)));
            if !refused {
                return Ok(None);
            }
            let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &key.0);
            match api.get_metadata_opt(&key.1).await.map_err(Error::GetSecret)? {
                Some(found) => found.metadata,
                None => return Ok(None),
            }
        }
    };
    Ok(match ownership(&meta, sealed) {
        Ownership::Foreign(message) => Some(Outcome::NotOurs { message, version: meta.resource_version }),
        _ => None,
    })
}

/// What came of trying to unseal and write: an outcome (for the object as read, which is
/// the full one when the cache left its values out), or a later turn.
enum Attempt {
    Done(Arc<SealedSecret>, Outcome),
    Later(Action),
}

/// Unseals within the namespace's share of the workers and writes the Secret.
async fn unseal_and_write(ctx: &Context, sealed: Arc<SealedSecret>, namespace: &str) -> Result<Attempt, Error> {
    // A namespace that spent more than its share of the workers waits, holding nothing.
    let turn = match ctx.fairness.admit(namespace).await {
        Ok(turn) => turn,
        Err(wait) => {
            ctx.shared.metrics.deferred();
            return Ok(Attempt::Later(Action::requeue(wait)));
        }
    };
    // Memory for the values before they are read: the largest object's when the cache left
    // them out, so concurrent reads of large objects stay within the budget too.
    let trimmed = cache::is_trimmed(&sealed);
    let in_work = if trimmed { gitseal::crds::bounds::MAX_SEALED_BASE64 } else { cache::values_len(&sealed) };
    let _memory = ctx.decrypt.reserve(in_work).await;
    let sealed = if trimmed {
        let api: Api<SealedSecret> = Api::namespaced(ctx.client.clone(), namespace);
        match api.get_opt(&sealed.name_any()).await.map_err(Error::GetSealedSecret)? {
            Some(full) if full.meta().uid == sealed.meta().uid => Arc::new(full),
            // Deleted or replaced meanwhile: its own events bring the new one.
            _ => return Ok(Attempt::Later(Action::await_change())),
        }
    } else {
        sealed
    };
    let outcome = match unseal(ctx, turn, sealed.clone()).await {
        Err((reason, message)) => Outcome::Refused { reason, message },
        Ok(desired) => write(ctx, &sealed, namespace, desired).await,
    };
    Ok(Attempt::Done(sealed, outcome))
}

/// Unseals on the decrypt pool (the core bounds the work per object), charges the time
/// to the namespace, and builds the Secret to write, or says why not.
async fn unseal(ctx: &Context, turn: Turn<'_>, sealed: Arc<SealedSecret>) -> Result<WipeOnDrop, (Reason, String)> {
    let ring = ctx.shared.ring();
    let work = move || {
        let started = Instant::now();
        let result =
            unseal_secret(&sealed, &ring).map_err(|e| (Reason::of_unseal(&e), unseal_message(&e))).and_then(|plain| {
                check_template(&plain).map_err(|message| (Reason::Malformed, message))?;
                Ok(WipeOnDrop(desired_secret(&sealed, &plain)))
            });
        (result, started.elapsed())
    };
    ctx.shared.metrics.decrypted();
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
/// version that write left. Without such a stamp (a replica that just started), whether
/// the status says an earlier one did so for this generation, the Secret is still at
/// that version, and the ring still holds a key each value names: then this replica
/// adopts it as its own stamp, and a restart over objects in place writes nothing.
fn up_to_date(ctx: &Context, key: &(String, String), sealed: &SealedSecret, inputs: &Inputs, ring: u64) -> bool {
    let Some(meta) = ctx.managed.get(&ObjectRef::new(&key.1).within(&key.0)) else { return false };
    let live = meta.metadata.resource_version.clone();
    let Ok(mut written) = ctx.written.lock() else { return false };
    match written.get(key) {
        Some(stamp) => {
            stamp.sealed == *inputs
                && stamp.ring == ring
                && stamp.secret_version.is_some()
                && stamp.secret_version == live
        }
        None if !cache::is_trimmed(sealed)
            && written_before(sealed, live.as_deref())
            && ring_names_every_value(sealed, &ctx.shared.ring_ids()) =>
        {
            written.insert(key.clone(), Stamp { sealed: inputs.clone(), ring, secret_version: live });
            true
        }
        None => false,
    }
}

/// Retry policy for errors: back off, the next attempt may succeed.
pub fn error_policy(sealed: Arc<SealedSecret>, error: &Error, ctx: Arc<Context>) -> Action {
    warn!(namespace = sealed.namespace().unwrap_or_default(), name = %sealed.name_any(), %error, "reconcile failed; retrying");
    ctx.shared.metrics.errored();
    Action::requeue(Duration::from_secs(5))
}

/// What became of one SealedSecret.
#[derive(Debug)]
enum Outcome {
    /// Unsealing or its checks refused it; the Secret is untouched.
    Refused { reason: Reason, message: String },
    /// A Secret of that name belongs to someone else (at `version`); it is untouched.
    NotOurs { message: String, version: Option<String> },
    /// The Secret was written.
    Written { how: Written, version: Option<String> },
    /// The API server refused the write, or could not be reached.
    WriteFailed(String),
}

impl Outcome {
    fn reason(&self) -> Reason {
        match self {
            Outcome::Refused { reason, .. } => *reason,
            Outcome::NotOurs { .. } => Reason::SecretNotManaged,
            Outcome::Written { .. } => Reason::Unsealed,
            Outcome::WriteFailed(_) => Reason::SecretWriteFailed,
        }
    }

    /// The `Ready` condition's message.
    fn message(&self, name: &str) -> String {
        match self {
            Outcome::Refused { message, .. } | Outcome::NotOurs { message, .. } => message.clone(),
            Outcome::Written { .. } => format!("Secret {name} is up to date"),
            Outcome::WriteFailed(why) => format!("writing the Secret failed: {why}"),
        }
    }

    /// The Event's note.
    fn note(&self, name: &str) -> String {
        match self {
            Outcome::Written { how: Written::Created, .. } => format!("created Secret {name}"),
            Outcome::Written { how: Written::Replaced, .. } => format!("restored Secret {name}"),
            Outcome::Written { how: Written::TakenOver, .. } => {
                format!("took Secret {name} over from the sealed-secrets SealedSecret {name}")
            }
            other => other.message(name),
        }
    }
}

/// How a Secret was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Written {
    Created,
    Applied,
    Replaced,
    /// From the incumbent's SealedSecret of the same name.
    TakenOver,
}

/// Writes the Secret unless a Secret of that name belongs to someone else.
async fn write(ctx: &Context, sealed: &SealedSecret, namespace: &str, desired: WipeOnDrop) -> Outcome {
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), namespace);
    let name = sealed.name_any();
    // The managed store only holds Secrets carrying our label; anything else needs a look.
    let known = ctx.managed.get(&ObjectRef::new(&name).within(namespace)).map(|m| m.metadata.clone());
    let written = async {
        match create_unless_present(&api, &name, &desired, known).await? {
            Found::Created(version) => Ok(Outcome::Written { how: Written::Created, version }),
            Found::Existing(meta) => match ownership(&meta, sealed) {
                Ownership::Foreign(message) => Ok(Outcome::NotOurs { message, version: meta.resource_version.clone() }),
                owned => {
                    let (how, version) = update(&api, &name, desired, owned == Ownership::TakeOver).await?;
                    Ok(Outcome::Written { how, version })
                }
            },
        }
    };
    written.await.unwrap_or_else(|e: kube::Error| {
        warn!(namespace, name, error = %e, "writing the Secret failed");
        Outcome::WriteFailed(api_reason(&e))
    })
}

/// A Secret under the name gitseal writes to.
#[derive(Debug)]
enum Found {
    /// There was none: created now, at this resourceVersion.
    Created(Option<String>),
    /// One exists (its metadata), to be checked and updated.
    Existing(Box<ObjectMeta>),
}

/// Creates the Secret unless one of that name exists (`known`, from the managed store, or
/// found by the create's `AlreadyExists`); a Secret deleted between the two is created.
async fn create_unless_present(
    api: &Api<Secret>,
    name: &str,
    desired: &Secret,
    known: Option<ObjectMeta>,
) -> kube::Result<Found> {
    if let Some(meta) = known {
        return Ok(Found::Existing(Box::new(meta)));
    }
    match writes::create(api, desired).await {
        Ok(version) => Ok(Found::Created(version)),
        Err(kube::Error::Api(e)) if e.code == 409 => match api.get_metadata_opt(name).await? {
            Some(meta) => Ok(Found::Existing(Box::new(meta.metadata))),
            None => writes::create(api, desired).await.map(Found::Created),
        },
        Err(e) => Err(e),
    }
}

/// Brings an existing Secret to `desired`: a server-side apply, then a replace when
/// another writer added keys, or delete and create when the API server will not change
/// it in place (immutable data, another type).
///
/// Taking a Secret over from the incumbent skips the apply: it would only add gitseal's
/// owner reference beside the incumbent's, and two controllers cannot own one object. A
/// replace at the version read swaps them in one write, so the incumbent, still running,
/// either wrote first (the replace then fails and is retried) or finds the Secret no
/// longer its own and leaves it alone.
async fn update(
    api: &Api<Secret>,
    name: &str,
    desired: WipeOnDrop,
    take_over: bool,
) -> kube::Result<(Written, Option<String>)> {
    let (live, applied) = if take_over {
        (api.get(name).await?, false)
    } else {
        let mut body = writes::with_kind(&*desired);
        let patched = api.patch(name, &writes::apply(), &Patch::Apply(&body)).await;
        wipe_values(&mut body);
        match patched {
            Ok(live) => (live, true),
            // The API server refuses to change an immutable Secret's data or any Secret's
            // type; or the object as applied is invalid in another way (say, a second
            // controller owner reference): the whole object is written instead.
            Err(kube::Error::Api(e)) if e.code == 422 => (api.get(name).await?, false),
            Err(e) => return Err(e),
        }
    };
    let live = WipeOnDrop(live);
    let how = if take_over { Written::TakenOver } else { Written::Replaced };
    match needs_replace(&live, &desired) {
        Replace::No if applied => Ok((Written::Applied, live.metadata.resource_version.clone())),
        Replace::No | Replace::Put => {
            let mut replacement = desired;
            replacement.metadata.resource_version.clone_from(&live.metadata.resource_version);
            api.replace(name, &writes::post(), &replacement).await.map(|s| (how, version(s)))
        }
        Replace::Recreate => {
            let only_that_one = kube::api::Preconditions { uid: live.metadata.uid.clone(), resource_version: None };
            api.delete(name, &DeleteParams::default().preconditions(only_that_one)).await?;
            writes::create(api, &desired).await.map(|version| (how, version))
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

/// Writes `Ready`, `observedGeneration` and the Secret's version (`secret_version`, when
/// it was written) when they change; returns whether the condition did.
async fn update_status(
    ctx: &Context,
    sealed: &SealedSecret,
    namespace: &str,
    reason: Reason,
    message: &str,
    secret_version: Option<&str>,
) -> Result<bool, Error> {
    let generation = sealed.meta().generation;
    let status = sealed.status.clone().unwrap_or_default();
    let previous = status.conditions.iter().find(|c| c.type_ == "Ready");
    let now = Time(k8s_openapi::jiff::Timestamp::now());
    let next = ready_condition(reason, message, generation, previous, now);
    let changed = condition_changed(previous, &next, status.observed_generation);
    // A Secret written again (restored) at a new version, with Ready unchanged: recorded,
    // so that a restart still finds it in place.
    let moved = secret_version.is_some() && status.secret_resource_version.as_deref() != secret_version;
    if !changed && !moved {
        return Ok(false);
    }
    let stalled = stalled_condition(&next, reason, status.conditions.iter().find(|c| c.type_ == "Stalled"));
    let api: Api<SealedSecret> = Api::namespaced(ctx.client.clone(), namespace);
    let mut written = serde_json::json!({ "observedGeneration": generation, "conditions": [next, stalled] });
    if let Some(version) = secret_version {
        written["secretResourceVersion"] = version.into();
    }
    writes::apply_status(&api, &sealed.name_any(), written).await.map_err(Error::PatchStatus)?;
    Ok(changed)
}

async fn publish(ctx: &Context, sealed: &SealedSecret, reason: Reason, note: String) {
    let normal = reason == Reason::Unsealed;
    if normal && !ctx.events.take() {
        ctx.shared.metrics.event_suppressed();
        return;
    }
    let event = Event {
        type_: if normal { EventType::Normal } else { EventType::Warning },
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

#[cfg(test)]
mod tests {
    //! The write path's branches against a scripted API server (the e2e tests run it
    //! against a real one): each test lists the requests it expects, in order, and the
    //! answers to give.

    use super::*;
    use k8s_openapi::ByteString;
    use kube::client::Body;
    use std::collections::BTreeMap;

    type Request = hyper::Request<Body>;
    type Response = hyper::Response<Body>;

    /// One expected request (method and path) and the answer (status code and body).
    struct Exchange(&'static str, &'static str, u16, serde_json::Value);

    /// A client whose API server answers `script` in order, and fails the test on any
    /// other request. The returned handle ends when the script is done.
    fn scripted(script: Vec<Exchange>) -> (Api<Secret>, tokio::task::JoinHandle<()>) {
        let (service, handle) = tower_test::mock::pair::<Request, Response>();
        let server = tokio::spawn(async move {
            let mut handle = std::pin::pin!(handle);
            for Exchange(method, path, code, body) in script {
                let (request, respond) = handle.next_request().await.expect("a request");
                assert_eq!((request.method().as_str(), request.uri().path()), (method, path));
                let body = Body::from(serde_json::to_vec(&body).unwrap());
                respond.send_response(hyper::Response::builder().status(code).body(body).unwrap());
            }
        });
        (Api::namespaced(Client::new(service, "ns"), "ns"), server)
    }

    fn status(code: u16, reason: &str) -> serde_json::Value {
        serde_json::json!({ "kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason, "code": code, "message": reason })
    }

    fn secret(version: &str, data: &[(&str, &[u8])], immutable: bool) -> Secret {
        let mut s = Secret::default();
        s.metadata.name = Some("db".into());
        s.metadata.namespace = Some("ns".into());
        s.metadata.uid = Some(format!("uid-{version}"));
        s.metadata.resource_version = Some(version.into());
        s.data = Some(data.iter().map(|(k, v)| ((*k).to_owned(), ByteString(v.to_vec()))).collect::<BTreeMap<_, _>>());
        s.type_ = Some("Opaque".into());
        s.immutable = immutable.then_some(true);
        s
    }

    fn json(s: &Secret) -> serde_json::Value {
        writes::with_kind(s)
    }

    const ONE: &str = "/api/v1/namespaces/ns/secrets/db";
    const ALL: &str = "/api/v1/namespaces/ns/secrets";

    #[tokio::test]
    async fn a_secret_deleted_between_conflict_and_look_is_created() {
        let desired = secret("", &[("k", b"v")], false);
        let (api, server) = scripted(vec![
            Exchange("POST", ALL, 409, status(409, "AlreadyExists")),
            Exchange("GET", ONE, 404, status(404, "NotFound")),
            Exchange("POST", ALL, 201, json(&secret("7", &[("k", b"v")], false))),
        ]);
        let found = create_unless_present(&api, "db", &desired, None).await.unwrap();
        assert!(matches!(found, Found::Created(Some(ref v)) if v == "7"), "{found:?}");
        server.await.unwrap();
    }

    #[tokio::test]
    async fn a_conflict_with_an_existing_secret_returns_it_for_the_ownership_check() {
        let desired = secret("", &[("k", b"v")], false);
        let (api, server) = scripted(vec![
            Exchange("POST", ALL, 409, status(409, "AlreadyExists")),
            Exchange("GET", ONE, 200, json(&secret("3", &[("other", b"x")], false))),
        ]);
        let found = create_unless_present(&api, "db", &desired, None).await.unwrap();
        assert!(matches!(found, Found::Existing(ref m) if m.uid.as_deref() == Some("uid-3")), "{found:?}");
        server.await.unwrap();
        // Known from the managed store: no request at all.
        let (api, server) = scripted(vec![]);
        let known = secret("4", &[], false).metadata;
        assert!(matches!(create_unless_present(&api, "db", &desired, Some(known)).await, Ok(Found::Existing(_))));
        server.await.unwrap();
    }

    #[tokio::test]
    async fn an_apply_that_converges_is_the_only_write() {
        let desired = WipeOnDrop(secret("", &[("k", b"v")], false));
        let (api, server) = scripted(vec![Exchange("PATCH", ONE, 200, json(&secret("8", &[("k", b"v")], false)))]);
        assert_eq!(update(&api, "db", desired, false).await.unwrap(), (Written::Applied, Some("8".into())));
        server.await.unwrap();
    }

    #[tokio::test]
    async fn keys_another_writer_added_are_replaced_away() {
        let desired = WipeOnDrop(secret("", &[("k", b"v")], false));
        let (api, server) = scripted(vec![
            Exchange("PATCH", ONE, 200, json(&secret("8", &[("k", b"v"), ("planted", b"x")], false))),
            Exchange("PUT", ONE, 200, json(&secret("9", &[("k", b"v")], false))),
        ]);
        assert_eq!(update(&api, "db", desired, false).await.unwrap(), (Written::Replaced, Some("9".into())));
        server.await.unwrap();
    }

    #[tokio::test]
    async fn an_immutable_secret_the_apply_cannot_change_is_deleted_and_created() {
        let desired = WipeOnDrop(secret("", &[("k", b"new")], true));
        let (api, server) = scripted(vec![
            Exchange("PATCH", ONE, 422, status(422, "Invalid")),
            Exchange("GET", ONE, 200, json(&secret("5", &[("k", b"old")], true))),
            Exchange("DELETE", ONE, 200, json(&secret("5", &[("k", b"old")], true))),
            Exchange("POST", ALL, 201, json(&secret("6", &[("k", b"new")], true))),
        ]);
        assert_eq!(update(&api, "db", desired, false).await.unwrap(), (Written::Replaced, Some("6".into())));
        server.await.unwrap();
    }

    #[tokio::test]
    async fn an_apply_refused_for_another_reason_is_followed_by_a_replace_never_reported_as_applied() {
        let desired = WipeOnDrop(secret("", &[("k", b"v")], false));
        let (api, server) = scripted(vec![
            Exchange("PATCH", ONE, 422, status(422, "Invalid")),
            Exchange("GET", ONE, 200, json(&secret("5", &[("k", b"old")], false))),
            Exchange("PUT", ONE, 200, json(&secret("6", &[("k", b"v")], false))),
        ]);
        assert_eq!(update(&api, "db", desired, false).await.unwrap(), (Written::Replaced, Some("6".into())));
        server.await.unwrap();
    }

    #[tokio::test]
    async fn taking_over_from_the_incumbent_replaces_at_the_version_read_without_an_apply() {
        let desired = WipeOnDrop(secret("", &[("k", b"v")], true));
        let (api, server) = scripted(vec![
            Exchange("GET", ONE, 200, json(&secret("5", &[("k", b"v")], true))),
            Exchange("PUT", ONE, 200, json(&secret("6", &[("k", b"v")], true))),
        ]);
        assert_eq!(update(&api, "db", desired, true).await.unwrap(), (Written::TakenOver, Some("6".into())));
        server.await.unwrap();
        let taken = Outcome::Written { how: Written::TakenOver, version: None };
        assert_eq!(taken.note("db"), "took Secret db over from the sealed-secrets SealedSecret db");
    }

    #[tokio::test]
    async fn a_refusal_other_than_invalid_is_an_error_not_a_recreate() {
        let desired = WipeOnDrop(secret("", &[("k", b"v")], false));
        let (api, server) = scripted(vec![Exchange("PATCH", ONE, 403, status(403, "Forbidden"))]);
        let err = update(&api, "db", desired, false).await.unwrap_err();
        assert_eq!(api_reason(&err), "Forbidden (403)");
        server.await.unwrap();
    }

    #[test]
    fn outcomes_name_their_reason_message_and_event() {
        let created = Outcome::Written { how: Written::Created, version: None };
        assert_eq!((created.reason(), created.note("db")), (Reason::Unsealed, "created Secret db".to_owned()));
        assert_eq!(created.message("db"), "Secret db is up to date");
        let failed = Outcome::WriteFailed("Forbidden (403)".into());
        assert_eq!(failed.reason(), Reason::SecretWriteFailed);
        assert_eq!(failed.note("db"), "writing the Secret failed: Forbidden (403)");
        let not_ours = Outcome::NotOurs { message: "someone else's".into(), version: None };
        assert_eq!(not_ours.reason(), Reason::SecretNotManaged);
    }
}
