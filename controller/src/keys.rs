//! The controller's key ring: age identities kept in Secrets of its own namespace.
//!
//! ```text
//!  Secret gitseal-key-1 ┐ label gitseal.dev/key=true
//!  Secret gitseal-key-2 ┴──watch──▶ KeyState (ring + public view) ──▶ /v1/recipients
//!                                        │                         └─▶ ConfigMap gitseal-public-keys
//!                                        └──▶ every SealedSecret reconciled again
//! ```
//!
//! Keys are ordered by creation; the newest is the one new seals should use. Every key
//! in the ring keeps unsealing. Only the leader creates keys, under fixed names, so two
//! replicas racing to create the first key make one Secret: the loser gets
//! `AlreadyExists` and reads the winner's.

use std::collections::BTreeMap;

use gitseal::{KeyId, KeyRing, generate_identity, identity_file};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use secrecy::ExposeSecret;
use serde::Serialize;

use crate::FIELD_MANAGER;

pub use gitseal::crds::keyring::{
    CREATED_ANNOTATION, KEY_FILE, KEY_LABEL, KEY_SELECTOR, KEY_TYPE, KEYS_JSON, PUBLIC_KEYS_CONFIGMAP, RECIPIENTS_FILE,
    ROTATION_ANNOTATION, STATE_ANNOTATION, key_created, key_number, key_secret_name,
};

/// Public facts about one key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PublicKey {
    /// Key id (32 hex digits).
    pub id: String,
    /// The `age1…` recipient.
    pub recipient: String,
    /// Creation time, RFC 3339.
    pub created: String,
    /// The Secret holding the private half.
    pub secret: String,
    /// `published` (new seals use it), `active` (still unseals) or `retired`.
    pub state: &'static str,
}

/// The ring as loaded from the key Secrets.
#[derive(Clone, Debug, Default)]
pub struct KeyState {
    /// Private keys, for unsealing.
    pub ring: KeyRing,
    /// Public view, oldest first; the last one is the active key.
    pub public: Vec<PublicKey>,
}

impl KeyState {
    /// Builds the state from key Secrets; Secrets that do not hold a valid identity are
    /// skipped and named in the returned list (never with their content).
    pub fn from_secrets(secrets: &[Secret]) -> (KeyState, Vec<String>) {
        let mut loaded: Vec<(Timestamp, String, bool, KeyRing)> = Vec::new();
        let mut skipped = Vec::new();
        for s in secrets {
            let name = s.metadata.name.clone().unwrap_or_default();
            // A key is a Secret the controller (or an operator) made, never one written on
            // behalf of a SealedSecret: that would let whoever sealed it plant a key.
            let owned = s.metadata.owner_references.as_ref().is_some_and(|o| !o.is_empty());
            if owned || s.type_.as_deref() != Some(KEY_TYPE) {
                skipped.push(name);
                continue;
            }
            let text = s.data.as_ref().and_then(|d| d.get(KEY_FILE)).and_then(|b| std::str::from_utf8(&b.0).ok());
            match text.map(KeyRing::parse_identity_file) {
                Some(Ok(ring)) => {
                    let annotation = |key: &str| s.metadata.annotations.as_ref().and_then(|a| a.get(key).cloned());
                    let created = key_created(s).unwrap_or(Timestamp::UNIX_EPOCH);
                    let retired = annotation(STATE_ANNOTATION).as_deref() == Some("retired");
                    loaded.push((created, name, retired, ring));
                }
                _ => skipped.push(name),
            }
        }
        loaded.sort_by(|a, b| (&a.0, key_number(&a.1)).cmp(&(&b.0, key_number(&b.1))));
        let mut state = KeyState::default();
        let mut seen = KeyRing::new();
        for (created, name, retired, ring) in loaded {
            for recipient in ring.recipients() {
                let id = KeyId::of(&recipient);
                if seen.contains(&id) {
                    continue;
                }
                let state_name = if retired { "retired" } else { "active" };
                state.public.push(PublicKey {
                    id: id.to_string(),
                    recipient: recipient.to_string(),
                    created: created.to_string(),
                    secret: name.clone(),
                    state: state_name,
                });
            }
            seen.extend(ring.clone());
            if !retired {
                state.ring.extend(ring);
            }
        }
        if let Some(newest) = state.public.iter_mut().rev().find(|k| k.state == "active") {
            newest.state = "published";
        }
        (state, skipped)
    }

    /// The key new seals use: the newest one that is not retired.
    pub fn published(&self) -> Option<&PublicKey> {
        self.public.iter().find(|k| k.state == "published")
    }

    /// The public keys of retired keys: never sealed to again, not even by a re-seal that
    /// is offered one.
    pub fn retired(&self) -> Vec<age::x25519::Recipient> {
        let retired = self.public.iter().filter(|k| k.state == "retired");
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
pub fn new_key_secret(name: &str, namespace: &str, created: &str) -> Secret {
    let identity = generate_identity();
    let file = identity_file(&identity, created);
    Secret {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(namespace.to_owned()),
            labels: Some(BTreeMap::from([(KEY_LABEL.to_owned(), "true".to_owned())])),
            annotations: Some(BTreeMap::from([(CREATED_ANNOTATION.to_owned(), created.to_owned())])),
            ..ObjectMeta::default()
        },
        type_: Some(KEY_TYPE.to_owned()),
        immutable: Some(true),
        data: Some(BTreeMap::from([(KEY_FILE.to_owned(), ByteString(file.expose_secret().as_bytes().to_vec()))])),
        ..Secret::default()
    }
}

/// Creates the first key unless the ring already has one. Safe to race: the name is
/// fixed, so concurrent callers create one Secret between them.
pub async fn ensure_first_key(api: &Api<Secret>, namespace: &str) -> kube::Result<bool> {
    let existing = api.list_metadata(&ListParams::default().labels(KEY_SELECTOR)).await?;
    if !existing.items.is_empty() {
        return Ok(false);
    }
    let created = now_rfc3339();
    match api
        .create(
            &PostParams { field_manager: Some(FIELD_MANAGER.into()), ..PostParams::default() },
            &new_key_secret(&key_secret_name(1), namespace, &created),
        )
        .await
    {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
        Err(e) => Err(e),
    }
}

/// Creates the next key on behalf of `made_by` (a KeyRotation uid, or a scheduled
/// rotation's token) unless a key made by it already exists; returns the key Secret.
/// Idempotent and safe to race: names are `gitseal-key-<n+1>`, so of two writers one
/// gets `AlreadyExists` and looks again.
pub async fn create_key_for(api: &Api<Secret>, namespace: &str, made_by: &str) -> kube::Result<Secret> {
    for _ in 0..5 {
        let existing = api.list(&ListParams::default().labels(KEY_SELECTOR)).await?;
        let made = |s: &&Secret| {
            s.metadata.annotations.as_ref().and_then(|a| a.get(ROTATION_ANNOTATION)).is_some_and(|m| m == made_by)
        };
        if let Some(found) = existing.items.iter().find(made) {
            return Ok(found.clone());
        }
        let next =
            existing.items.iter().filter_map(|s| s.metadata.name.as_deref()).map(key_number).max().unwrap_or(0) + 1;
        let mut secret = new_key_secret(&key_secret_name(next), namespace, &now_rfc3339());
        if let Some(a) = secret.metadata.annotations.as_mut() {
            a.insert(ROTATION_ANNOTATION.to_owned(), made_by.to_owned());
        }
        match api
            .create(&PostParams { field_manager: Some(FIELD_MANAGER.into()), ..PostParams::default() }, &secret)
            .await
        {
            Ok(created) => return Ok(created),
            Err(kube::Error::Api(e)) if e.code == 409 => continue,
            Err(e) => return Err(e),
        }
    }
    Err(kube::Error::Api(Box::new(
        kube::core::Status::failure("too many concurrent key creations", "Conflict").with_code(409),
    )))
}

/// Now, RFC 3339 to the second.
pub fn now_rfc3339() -> String {
    let now = k8s_openapi::jiff::Timestamp::now();
    now.round(k8s_openapi::jiff::Unit::Second).unwrap_or(now).to_string()
}

/// Writes the public keys into the ConfigMap every authenticated user may read.
pub async fn publish(api: &Api<ConfigMap>, state: &KeyState) -> kube::Result<()> {
    let cm = ConfigMap {
        metadata: ObjectMeta {
            name: Some(PUBLIC_KEYS_CONFIGMAP.to_owned()),
            labels: Some(BTreeMap::from([(
                "app.kubernetes.io/managed-by".to_owned(),
                "gitseal-controller".to_owned(),
            )])),
            ..ObjectMeta::default()
        },
        data: Some(BTreeMap::from([
            (RECIPIENTS_FILE.to_owned(), state.recipients_file()),
            (KEYS_JSON.to_owned(), state.keys_json()),
        ])),
        ..ConfigMap::default()
    };
    let mut value = serde_json::to_value(&cm).map_err(kube::Error::SerdeError)?;
    value["apiVersion"] = "v1".into();
    value["kind"] = "ConfigMap".into();
    api.patch(PUBLIC_KEYS_CONFIGMAP, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&value))
        .await
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_orders_keys_by_creation_and_skips_broken_ones() {
        let second = new_key_secret("gitseal-key-2", "ns", "2026-02-01T00:00:00Z");
        let first = new_key_secret("gitseal-key-1", "ns", "2026-01-01T00:00:00Z");
        let mut broken = new_key_secret("gitseal-key-3", "ns", "2026-03-01T00:00:00Z");
        broken.data = Some(BTreeMap::from([(KEY_FILE.to_owned(), ByteString(b"AGE-SECRET-KEY-1NOPE".to_vec()))]));
        let (state, skipped) = KeyState::from_secrets(&[second, broken, first]);
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
        let mut forged = new_key_secret("gitseal-key-1", "ns", "9999-01-01T00:00:00Z");
        made(&mut forged, "2026-01-01T00:00:00Z");
        let mut rotated = new_key_secret("gitseal-key-2", "ns", "2026-02-01T00:00:00Z");
        made(&mut rotated, "2026-02-01T00:00:00Z");
        let (state, _) = KeyState::from_secrets(&[forged, rotated]);
        let published = state.published().unwrap();
        assert_eq!((published.secret.as_str(), published.created.as_str()), ("gitseal-key-2", "2026-02-01T00:00:00Z"));
        assert_eq!(state.public[0].created, "2026-01-01T00:00:00Z");
    }

    #[test]
    fn secrets_written_for_sealed_secrets_are_never_keys() {
        let mut planted = new_key_secret("gitseal-key-9", "ns", "2026-01-01T00:00:00Z");
        planted.metadata.owner_references = Some(vec![Default::default()]);
        let mut opaque = new_key_secret("gitseal-key-8", "ns", "2026-01-01T00:00:00Z");
        opaque.type_ = Some("Opaque".into());
        let (state, skipped) = KeyState::from_secrets(&[planted, opaque]);
        assert!(state.ring.is_empty());
        assert_eq!(skipped.len(), 2);
    }

    #[test]
    fn retired_keys_leave_the_ring_but_stay_listed() {
        let old = new_key_secret("gitseal-key-1", "ns", "2026-01-01T00:00:00Z");
        let mut newest = new_key_secret("gitseal-key-2", "ns", "2026-02-01T00:00:00Z");
        let mut retired = old.clone();
        retired.metadata.annotations.get_or_insert_default().insert(STATE_ANNOTATION.into(), "retired".into());
        let (state, _) = KeyState::from_secrets(&[retired, newest.clone()]);
        assert_eq!(state.ring.len(), 1);
        assert_eq!(state.public.iter().map(|k| k.state).collect::<Vec<_>>(), ["retired", "published"]);
        // Retiring the newest key publishes the one before it.
        newest.metadata.annotations.get_or_insert_default().insert(STATE_ANNOTATION.into(), "retired".into());
        let (state, _) = KeyState::from_secrets(&[old, newest]);
        assert_eq!(state.published().map(|k| k.secret.as_str()), Some("gitseal-key-1"));
    }

    #[test]
    fn same_second_keys_keep_numeric_order() {
        let a = new_key_secret("gitseal-key-10", "ns", "2026-01-01T00:00:00Z");
        let b = new_key_secret("gitseal-key-9", "ns", "2026-01-01T00:00:00Z");
        let (state, _) = KeyState::from_secrets(&[a, b]);
        assert_eq!(state.public[1].secret, "gitseal-key-10");
    }
}
