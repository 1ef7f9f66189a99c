//! The controller's key ring: age identities kept in Secrets of its own namespace.
//!
//! ```text
//!  Secret gitseal-key-1 ┐ label gitseal.dev/key=true
//!  Secret gitseal-key-2 ┴──watch──▶ LoadedKeys (ring + public view) ──▶ /v1/recipients
//!                                        │                           └─▶ ConfigMap gitseal-public-keys
//!                                        └──▶ every SealedSecret reconciled again
//! ```
//!
//! Keys are ordered by creation; the newest is the one new seals should use. Every key
//! in the ring keeps unsealing. Only the leader creates keys, under fixed names, so two
//! replicas racing to create the first key make one Secret: the loser gets
//! `AlreadyExists` and reads the winner's.

use std::collections::BTreeMap;

use gitseal::crds::storage::{self, PublishedKey};
use gitseal::key_secrets::{self, Read};
use gitseal::manifest::WipeOnDrop;
use gitseal::{ClusterKey, KeyRing, KeyStatus, generate_identity};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ListParams, Patch};

use crate::decide::{MANAGED_LABEL, MANAGED_VALUE};
use crate::writes;

pub use gitseal::crds::storage::{
    KEY_SELECTOR, KEYS_JSON, PUBLIC_KEYS_CONFIGMAP, RECIPIENTS_FILE, ROTATION_ANNOTATION, is_key,
};

/// The keys as loaded from the key Secrets: the private ring that unseals, and the
/// public view that is published.
#[derive(Clone, Debug, Default)]
pub struct LoadedKeys {
    /// Private keys, for unsealing: every key that is not retired.
    pub ring: KeyRing,
    /// Public view, oldest first, with each key's state.
    pub public: Vec<PublishedKey>,
}

impl LoadedKeys {
    /// Builds the state from key Secrets; Secrets labelled as keys that do not hold a
    /// valid identity are skipped and named in the returned list (never with their
    /// content). Secrets without the key label are no keys at all and are ignored.
    #[cfg(test)]
    pub fn from_secrets(secrets: &[Secret]) -> (LoadedKeys, Vec<String>) {
        let read: Vec<Read> = secrets.iter().map(key_secrets::StoredKey::read).collect();
        LoadedKeys::from_read(&read)
    }

    /// Builds the state from Secrets already read ([`StoredKey::read`]).
    pub fn from_read<'a>(read: impl IntoIterator<Item = &'a Read>) -> (LoadedKeys, Vec<String>) {
        let (keys, skipped) = key_secrets::ring_of(read.into_iter().cloned());
        let mut ring = KeyRing::new();
        for key in keys.iter().filter(|k| k.status() != KeyStatus::Retired) {
            ring.push(key.identity().clone());
        }
        (LoadedKeys { ring, public: keys.iter().map(ClusterKey::published).collect() }, skipped)
    }

    /// The key new seals use: the newest one that is not retired.
    pub fn published(&self) -> Option<&PublishedKey> {
        self.public.iter().find(|k| k.state == Some(KeyStatus::Published))
    }

    /// The public keys of retired keys: never sealed to again, not even by a re-seal that
    /// is offered one.
    pub fn retired(&self) -> Vec<age::x25519::Recipient> {
        let retired = self.public.iter().filter(|k| k.state == Some(KeyStatus::Retired));
        retired.filter_map(|k| k.recipient.parse().ok()).collect()
    }

    /// The recipients new seals should use, in the age recipients-file format.
    pub fn recipients_file(&self) -> String {
        match self.published() {
            None => "# no keys yet\n".into(),
            Some(k) => format!("# gitseal key {} created {}\n{}\n", k.id, k.created, k.recipient),
        }
    }

    /// Every key as JSON (public parts only).
    pub fn keys_json(&self) -> String {
        serde_json::to_string_pretty(&self.public).unwrap_or_else(|_| "[]".into())
    }
}

/// A new key Secret holding a fresh identity.
pub fn new_key_secret(name: &str, namespace: &str, created: Timestamp) -> Secret {
    let key = ClusterKey::new(generate_identity(), name, created, KeyStatus::Active);
    // A name the API server would refuse gets refused there, with its own message.
    let mut secret = key.map(|k| key_secrets::key_secret(&k, name)).unwrap_or_default();
    secret.metadata.name = Some(name.to_owned());
    secret.metadata.namespace = Some(namespace.to_owned());
    secret
}

/// Times a key name is claimed before giving up: each `AlreadyExists` means some Secret
/// took the name between the list and the create.
const CLAIM_ATTEMPTS: usize = 5;

/// Why no key could be created.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// Listing the Secrets of the controller's namespace failed.
    #[error("listing the Secrets of the controller's namespace failed: {0}")]
    ListSecrets(#[source] kube::Error),
    /// Creating the key Secret failed (other than `AlreadyExists`).
    #[error("creating key Secret {name} failed: {source}")]
    CreateSecret { name: String, source: kube::Error },
    /// Reading back the key an earlier attempt created failed.
    #[error("reading key Secret {name} failed: {source}")]
    GetSecret { name: String, source: kube::Error },
    /// Other Secrets kept taking the next key name, or one's number leaves no next name.
    #[error(
        "no free name for a new key: Secret {secret} in the controller's namespace is in the way; \
         keys are Secrets gitseal-key-<n> labelled {KEY_SELECTOR}, so rename or delete a Secret \
         that only looks like one"
    )]
    NameConflict { secret: String },
}

impl KeyError {
    /// Every reason [`KeyError::reason`] gives: the metric starts each at 0.
    pub const REASONS: &'static [&'static str] = &["ApiError", "NameConflict"];

    /// A fixed reason, for `Ready` conditions and metric labels.
    pub fn reason(&self) -> &'static str {
        // No wildcard: a new variant is given its reason here, from REASONS.
        match self {
            KeyError::ListSecrets(_) | KeyError::CreateSecret { .. } | KeyError::GetSecret { .. } => "ApiError",
            KeyError::NameConflict { .. } => "NameConflict",
        }
    }
}

/// A Secret of the controller's namespace, as choosing the next key name sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TakenName {
    /// The Secret's name.
    pub name: String,
    /// Labelled as a key of the ring: only then is it one of ours.
    pub key: bool,
    /// What made it (annotation `gitseal.dev/rotation`).
    pub made_by: Option<String>,
}

impl TakenName {
    /// Reads the facts from a Secret's metadata.
    pub fn of(meta: &ObjectMeta) -> TakenName {
        TakenName {
            name: meta.name.clone().unwrap_or_default(),
            key: is_key(meta),
            made_by: meta.annotations.as_ref().and_then(|a| a.get(ROTATION_ANNOTATION)).cloned(),
        }
    }
}

/// The key `made_by` already made, if any. A Secret without the key label is never it,
/// whatever its annotations say.
pub fn made_by<'a>(taken: &'a [TakenName], made_by: &str) -> Option<&'a str> {
    taken.iter().find(|t| t.key && t.made_by.as_deref() == Some(made_by)).map(|t| t.name.as_str())
}

/// The name of the next key: one past the highest `gitseal-key-<n>` any Secret holds,
/// key or look-alike, so a Secret that only looks like a key is stepped over instead of
/// being collided with on every attempt. Deterministic, so two replicas choose alike.
///
/// # Errors
/// [`KeyError::NameConflict`] naming the Secret whose number has no successor.
pub fn next_key_name(taken: &[TakenName]) -> Result<String, KeyError> {
    storage::next_key_name(taken.iter().map(|t| t.name.as_str()))
        .map_err(|name| KeyError::NameConflict { secret: name.to_owned() })
}

/// Every Secret name in the namespace: keys and look-alikes alike (metadata only).
async fn taken_names(api: &Api<Secret>) -> Result<Vec<TakenName>, KeyError> {
    let list = api.list_metadata(&ListParams::default()).await.map_err(KeyError::ListSecrets)?;
    Ok(list.items.iter().map(|s| TakenName::of(&s.metadata)).collect())
}

/// Creates the key Secret; the public facts of its key, or `None` when its name is
/// already taken. The private key is zeroized from the request and the answer.
async fn claim(api: &Api<Secret>, secret: Secret) -> Result<Option<PublishedKey>, KeyError> {
    let secret = WipeOnDrop(secret);
    let params = writes::post();
    match api.create(&params, &secret).await {
        Ok(created) => Ok(Some(key_of(created))),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(None),
        Err(source) => Err(KeyError::CreateSecret { name: secret.metadata.name.clone().unwrap_or_default(), source }),
    }
}

/// The public facts of the key a Secret holds, its data zeroized.
fn key_of(secret: Secret) -> PublishedKey {
    let secret = WipeOnDrop(secret);
    let (keys, _) = key_secrets::read_ring([&*secret]);
    keys.first().map(ClusterKey::published).unwrap_or_else(|| PublishedKey {
        id: String::new(),
        recipient: String::new(),
        created: String::new(),
        secret: secret.metadata.name.clone().unwrap_or_default(),
        state: None,
    })
}

/// Creates the first key unless the ring already has one. Safe to race: every caller
/// picks the same name, so concurrent callers create one Secret between them, and a
/// look-alike Secret under that name is stepped over.
///
/// # Errors
/// [`KeyError::NameConflict`] when no name could be claimed in [`CLAIM_ATTEMPTS`].
pub async fn ensure_first_key(api: &Api<Secret>, namespace: &str) -> Result<bool, KeyError> {
    let mut in_the_way = String::new();
    for _ in 0..CLAIM_ATTEMPTS {
        let taken = taken_names(api).await?;
        if taken.iter().any(|t| t.key) {
            return Ok(false);
        }
        let name = next_key_name(&taken)?;
        if claim(api, new_key_secret(&name, namespace, now())).await?.is_some() {
            return Ok(true);
        }
        in_the_way = name;
    }
    Err(KeyError::NameConflict { secret: in_the_way })
}

/// Creates the next key on behalf of `made_by` (a KeyRotation uid, or a scheduled
/// rotation's token) unless a key made by it already exists; returns that key.
/// Idempotent and safe to race: of two writers picking the same name one gets
/// `AlreadyExists`, looks again and finds the other's key when it was made for the same
/// `made_by`, or steps past it.
///
/// # Errors
/// [`KeyError::NameConflict`] when no name could be claimed in [`CLAIM_ATTEMPTS`]; the
/// others when the API server fails.
pub async fn create_key_for(api: &Api<Secret>, namespace: &str, made_by: &str) -> Result<PublishedKey, KeyError> {
    let mut in_the_way = String::new();
    for _ in 0..CLAIM_ATTEMPTS {
        let taken = taken_names(api).await?;
        if let Some(name) = self::made_by(&taken, made_by) {
            let found = api.get(name).await.map_err(|source| KeyError::GetSecret { name: name.to_owned(), source })?;
            return Ok(key_of(found));
        }
        let name = next_key_name(&taken)?;
        let mut secret = new_key_secret(&name, namespace, now());
        secret.metadata.annotations.get_or_insert_default().insert(ROTATION_ANNOTATION.to_owned(), made_by.to_owned());
        if let Some(created) = claim(api, secret).await? {
            return Ok(created);
        }
        in_the_way = name;
    }
    Err(KeyError::NameConflict { secret: in_the_way })
}

/// Now, to the second (key creation times are written in RFC 3339 to the second).
pub fn now() -> Timestamp {
    let now = Timestamp::now();
    now.round(k8s_openapi::jiff::Unit::Second).unwrap_or(now)
}

/// Writes the public keys into the ConfigMap every authenticated user may read.
pub async fn publish(api: &Api<ConfigMap>, state: &LoadedKeys) -> kube::Result<()> {
    let cm = ConfigMap {
        metadata: ObjectMeta {
            name: Some(PUBLIC_KEYS_CONFIGMAP.to_owned()),
            labels: Some(BTreeMap::from([(MANAGED_LABEL.to_owned(), MANAGED_VALUE.to_owned())])),
            ..ObjectMeta::default()
        },
        data: Some(BTreeMap::from([
            (RECIPIENTS_FILE.to_owned(), state.recipients_file()),
            (KEYS_JSON.to_owned(), state.keys_json()),
        ])),
        ..ConfigMap::default()
    };
    api.patch(PUBLIC_KEYS_CONFIGMAP, &writes::apply(), &Patch::Apply(&writes::with_kind(&cm))).await.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use gitseal::crds::storage::{KEY_FILE, KEY_LABEL, STATE_ANNOTATION};
    use k8s_openapi::ByteString;

    #[test]
    fn ring_orders_keys_by_creation_and_skips_broken_ones() {
        let second = new_key_secret("gitseal-key-2", "ns", "2026-02-01T00:00:00Z".parse().unwrap());
        let first = new_key_secret("gitseal-key-1", "ns", "2026-01-01T00:00:00Z".parse().unwrap());
        let mut broken = new_key_secret("gitseal-key-3", "ns", "2026-03-01T00:00:00Z".parse().unwrap());
        broken.data = Some(BTreeMap::from([(KEY_FILE.to_owned(), ByteString(b"AGE-SECRET-KEY-1NOPE".to_vec()))]));
        let (state, skipped) = LoadedKeys::from_secrets(&[second, broken, first]);
        assert_eq!(skipped, vec!["gitseal-key-3".to_owned()]);
        assert_eq!(state.ring.len(), 2);
        assert_eq!(
            state.public.iter().map(|k| k.secret.as_str()).collect::<Vec<_>>(),
            ["gitseal-key-1", "gitseal-key-2"]
        );
        let file = state.recipients_file();
        assert!(file.contains(&state.public[1].recipient) && !file.contains(&state.public[0].recipient), "{file}");
        assert!(!state.keys_json().contains("AGE-SECRET-KEY"));
    }

    #[test]
    fn a_key_dated_in_the_future_is_ordered_by_when_its_secret_was_made() {
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
        let made = |s: &mut Secret, at: &str| s.metadata.creation_timestamp = Some(Time(at.parse().unwrap()));
        let mut forged = new_key_secret("gitseal-key-1", "ns", "9999-01-01T00:00:00Z".parse().unwrap());
        made(&mut forged, "2026-01-01T00:00:00Z");
        let mut rotated = new_key_secret("gitseal-key-2", "ns", "2026-02-01T00:00:00Z".parse().unwrap());
        made(&mut rotated, "2026-02-01T00:00:00Z");
        let (state, _) = LoadedKeys::from_secrets(&[forged, rotated]);
        let published = state.published().unwrap();
        assert_eq!((published.secret.as_str(), published.created.as_str()), ("gitseal-key-2", "2026-02-01T00:00:00Z"));
        assert_eq!(state.public[0].created, "2026-01-01T00:00:00Z");
    }

    #[test]
    fn secrets_written_for_sealed_secrets_are_never_keys() {
        let mut planted = new_key_secret("gitseal-key-9", "ns", "2026-01-01T00:00:00Z".parse().unwrap());
        planted.metadata.owner_references = Some(vec![Default::default()]);
        let mut opaque = new_key_secret("gitseal-key-8", "ns", "2026-01-01T00:00:00Z".parse().unwrap());
        opaque.type_ = Some("Opaque".into());
        let (state, skipped) = LoadedKeys::from_secrets(&[planted, opaque]);
        assert!(state.ring.is_empty());
        assert_eq!(skipped.len(), 2);
    }

    #[test]
    fn unlabelled_look_alikes_stay_out_of_the_ring() {
        let key = new_key_secret("gitseal-key-1", "ns", "2026-01-01T00:00:00Z".parse().unwrap());
        let mut look_alike = new_key_secret("gitseal-key-2", "ns", "2026-02-01T00:00:00Z".parse().unwrap());
        look_alike.metadata.labels = None;
        let mut unset = new_key_secret("gitseal-key-3", "ns", "2026-03-01T00:00:00Z".parse().unwrap());
        unset.metadata.labels = Some(BTreeMap::from([(KEY_LABEL.to_owned(), "false".to_owned())]));
        let (state, skipped) = LoadedKeys::from_secrets(&[key, look_alike, unset]);
        assert_eq!(state.ring.len(), 1);
        assert_eq!(state.public.iter().map(|k| k.secret.as_str()).collect::<Vec<_>>(), ["gitseal-key-1"]);
        assert!(skipped.is_empty(), "not keys, so not reported as broken keys: {skipped:?}");
    }

    fn taken(name: &str, key: bool, made_by: Option<&str>) -> TakenName {
        TakenName { name: name.into(), key, made_by: made_by.map(Into::into) }
    }

    #[test]
    fn next_key_name_steps_past_look_alikes() {
        assert_eq!(next_key_name(&[]).unwrap(), "gitseal-key-1");
        let first_taken = [taken("gitseal-key-1", false, None)];
        assert_eq!(next_key_name(&first_taken).unwrap(), "gitseal-key-2", "the first key too");
        let ring = [
            taken("gitseal-key-1", true, None),
            taken("gitseal-key-2", true, Some("rotation/a")),
            taken("gitseal-key-3", false, None),
            taken("gitseal-key-x", false, None),
            taken("gitseal-key-0900", false, None),
            taken("db-password", false, None),
        ];
        assert_eq!(next_key_name(&ring).unwrap(), "gitseal-key-4");
        assert_eq!(next_key_name(&ring[..2]).unwrap(), "gitseal-key-3", "keys alone");
    }

    #[test]
    fn a_look_alike_is_never_the_rotations_own_key() {
        let names =
            [taken("gitseal-key-3", false, Some("rotation/a")), taken("gitseal-key-2", true, Some("rotation/b"))];
        assert_eq!(made_by(&names, "rotation/a"), None);
        assert_eq!(made_by(&names, "rotation/b"), Some("gitseal-key-2"));
        let mut meta = new_key_secret("gitseal-key-3", "ns", "2026-01-01T00:00:00Z".parse().unwrap()).metadata;
        meta.annotations.get_or_insert_default().insert(ROTATION_ANNOTATION.into(), "rotation/a".into());
        assert_eq!(TakenName::of(&meta), taken("gitseal-key-3", true, Some("rotation/a")));
        meta.labels = None;
        assert!(!TakenName::of(&meta).key);
    }

    #[test]
    fn a_name_with_no_successor_is_reported_not_retried() {
        let last = format!("gitseal-key-{}", u64::MAX);
        let err = next_key_name(&[taken("gitseal-key-1", true, None), taken(&last, false, None)]).unwrap_err();
        assert!(matches!(&err, KeyError::NameConflict { secret } if *secret == last), "{err:?}");
        assert_eq!(err.reason(), "NameConflict");
        assert!(err.to_string().contains(&last) && err.to_string().contains("rename or delete"), "{err}");
    }

    #[test]
    fn every_key_error_reason_is_listed() {
        let api = || kube::Error::TlsRequired;
        let errors = [
            KeyError::ListSecrets(api()),
            KeyError::CreateSecret { name: "gitseal-key-2".into(), source: api() },
            KeyError::GetSecret { name: "gitseal-key-2".into(), source: api() },
            KeyError::NameConflict { secret: "gitseal-key-2".into() },
        ];
        let given: std::collections::BTreeSet<&str> = errors.iter().map(KeyError::reason).collect();
        assert_eq!(given.into_iter().collect::<Vec<_>>(), KeyError::REASONS);
    }

    #[test]
    fn retired_keys_leave_the_ring_but_stay_listed() {
        let old = new_key_secret("gitseal-key-1", "ns", "2026-01-01T00:00:00Z".parse().unwrap());
        let mut newest = new_key_secret("gitseal-key-2", "ns", "2026-02-01T00:00:00Z".parse().unwrap());
        let mut retired = old.clone();
        retired.metadata.annotations.get_or_insert_default().insert(STATE_ANNOTATION.into(), "retired".into());
        let (state, _) = LoadedKeys::from_secrets(&[retired, newest.clone()]);
        assert_eq!(state.ring.len(), 1);
        assert_eq!(
            state.public.iter().map(|k| k.state).collect::<Vec<_>>(),
            [Some(KeyStatus::Retired), Some(KeyStatus::Published)]
        );
        // Retiring the newest key publishes the one before it.
        newest.metadata.annotations.get_or_insert_default().insert(STATE_ANNOTATION.into(), "retired".into());
        let (state, _) = LoadedKeys::from_secrets(&[old, newest]);
        assert_eq!(state.published().map(|k| k.secret.as_str()), Some("gitseal-key-1"));
    }

    #[test]
    fn same_second_keys_keep_numeric_order() {
        let a = new_key_secret("gitseal-key-10", "ns", "2026-01-01T00:00:00Z".parse().unwrap());
        let b = new_key_secret("gitseal-key-9", "ns", "2026-01-01T00:00:00Z".parse().unwrap());
        let (state, _) = LoadedKeys::from_secrets(&[a, b]);
        assert_eq!(state.public[1].secret, "gitseal-key-10");
    }
}
