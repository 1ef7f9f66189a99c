//! The key ring as stored in the controller's namespace: key Secrets → keys with their
//! id, private key, Secret name, creation time and state, in the controller's order.
//!
//! ```text
//!  Secrets (label gitseal.dev/key=true) ──stored_key──▶ StoredKey ──with_states──▶ [BackupKey]
//!   owner references or another type: not a key              oldest first; the newest
//!                                                            non-retired one is published
//! ```

use std::str::FromStr;

use age::x25519;
use anyhow::{Result, bail};
use gitseal::{BackupKey, KeyId, KeyStatus};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::ListParams;

pub use gitseal::crds::keyring::{key_created, key_number};

use crate::cluster::{Grant, KEY_FILE, KEY_SELECTOR, KEY_TYPE, STATE_ANNOTATION, api_error};

/// Shortest key id prefix accepted on the command line.
const MIN_PREFIX: usize = 6;

/// One key Secret, read but not yet ordered.
pub struct StoredKey {
    pub secret: String,
    /// When the key was created ([`key_created`]).
    pub created: Timestamp,
    pub retired: bool,
    pub identities: Vec<x25519::Identity>,
}

/// The keys of a namespace, oldest first with states, and the labelled Secrets that are
/// not keys (named, never shown).
pub struct Ring {
    pub keys: Vec<BackupKey>,
    pub skipped: Vec<String>,
}

/// Reads every key Secret of the namespace `api` points at.
///
/// # Errors
/// When the Secrets cannot be listed (reading private keys needs the custodian's rights).
pub async fn load(api: &Api<Secret>, namespace: &str) -> Result<Ring> {
    let list = api.list(&ListParams::default().labels(KEY_SELECTOR)).await.map_err(|e| {
        let doing = format!("cannot read the key Secrets in namespace {namespace}");
        api_error(e, doing, "list on secrets there", Grant::KeyCustodian)
    })?;
    let mut stored = Vec::new();
    let mut skipped = Vec::new();
    for secret in &list.items {
        match stored_key(secret) {
            Some(key) => stored.push(key),
            None => skipped.push(secret.metadata.name.clone().unwrap_or_default()),
        }
    }
    let (keys, unusable) = with_states(stored);
    skipped.extend(unusable);
    Ok(Ring { keys, skipped })
}

/// The key a Secret holds; `None` when it is not a key: owned by another object (a
/// Secret written for a SealedSecret), of another type, or without a valid identity file.
pub fn stored_key(s: &Secret) -> Option<StoredKey> {
    let owned = s.metadata.owner_references.as_ref().is_some_and(|o| !o.is_empty());
    if owned || s.type_.as_deref() != Some(KEY_TYPE) {
        return None;
    }
    let text = std::str::from_utf8(&s.data.as_ref()?.get(KEY_FILE)?.0).ok()?;
    let identities = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| x25519::Identity::from_str(l).ok())
        .collect::<Option<Vec<_>>>()?;
    if identities.is_empty() {
        return None;
    }
    let annotation = |key: &str| s.metadata.annotations.as_ref().and_then(|a| a.get(key).cloned());
    Some(StoredKey {
        secret: s.metadata.name.clone()?,
        created: key_created(s).unwrap_or(Timestamp::UNIX_EPOCH),
        retired: annotation(STATE_ANNOTATION).as_deref() == Some("retired"),
        identities,
    })
}

/// Orders keys as the controller does (creation time, then the number in the Secret's
/// name), drops repeated key ids, and marks the newest key that is not retired as
/// published. Returns the keys and the Secrets whose metadata cannot be recorded.
pub fn with_states(mut stored: Vec<StoredKey>) -> (Vec<BackupKey>, Vec<String>) {
    stored.sort_by_key(|s| (s.created, key_number(&s.secret)));
    let mut keys: Vec<BackupKey> = Vec::new();
    let mut unusable = Vec::new();
    for s in stored {
        let status = if s.retired { KeyStatus::Retired } else { KeyStatus::Active };
        for identity in s.identities {
            if keys.iter().any(|k| *k.id() == KeyId::of(&identity.to_public())) {
                continue;
            }
            match BackupKey::new(identity, &s.secret, s.created, status) {
                Ok(key) => keys.push(key),
                Err(_) => unusable.push(s.secret.clone()),
            }
        }
    }
    if let Some(newest) = keys.iter().rposition(|k| k.status() == KeyStatus::Active) {
        let k = &keys[newest];
        let published = BackupKey::new(k.identity().clone(), k.secret(), k.created(), KeyStatus::Published);
        if let Ok(published) = published {
            keys[newest] = published;
        }
    }
    (keys, unusable)
}

/// The key a command-line id names: the full id or a unique prefix of at least six digits.
///
/// # Errors
/// Unknown, ambiguous or too short, listing the known ids.
pub fn resolve<'a>(keys: &'a [BackupKey], query: &str, namespace: &str) -> Result<&'a BackupKey> {
    let query = query.trim().to_ascii_lowercase();
    if let Some(key) = keys.iter().find(|k| k.id().as_str() == query) {
        return Ok(key);
    }
    let known = || {
        let list: Vec<String> = keys.iter().map(|k| format!("{} ({})", k.id(), k.status())).collect();
        if list.is_empty() { "none".to_owned() } else { list.join(", ") }
    };
    if query.len() < MIN_PREFIX {
        bail!(
            "{query:?} is too short: give the key id or at least {MIN_PREFIX} of its first digits (gitseal keys list)"
        );
    }
    let matches: Vec<&BackupKey> = keys.iter().filter(|k| k.id().as_str().starts_with(&query)).collect();
    match matches.as_slice() {
        [one] => Ok(one),
        [] => bail!("no key {query} in namespace {namespace}; known keys: {}", known()),
        many => bail!(
            "{query} matches {} keys ({}); give more digits",
            many.len(),
            many.iter().map(|k| k.id().as_str()).collect::<Vec<_>>().join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn stored(secret: &str, created: &str, retired: bool) -> StoredKey {
        StoredKey {
            secret: secret.into(),
            created: created.parse().unwrap(),
            retired,
            identities: vec![gitseal::generate_identity()],
        }
    }

    fn summary(keys: &[BackupKey]) -> Vec<(&str, KeyStatus)> {
        keys.iter().map(|k| (k.secret(), k.status())).collect()
    }

    #[test]
    fn newest_key_not_retired_is_published() {
        let (keys, unusable) = with_states(vec![
            stored("gitseal-key-3", "2026-03-01T00:00:00Z", true),
            stored("gitseal-key-10", "2026-02-01T00:00:00Z", false),
            stored("gitseal-key-9", "2026-02-01T00:00:00Z", false),
            stored("gitseal-key-1", "2026-01-01T00:00:00Z", false),
        ]);
        assert!(unusable.is_empty());
        assert_eq!(
            summary(&keys),
            [
                ("gitseal-key-1", KeyStatus::Active),
                ("gitseal-key-9", KeyStatus::Active),
                ("gitseal-key-10", KeyStatus::Published),
                ("gitseal-key-3", KeyStatus::Retired),
            ]
        );
        let (keys, _) = with_states(vec![stored("gitseal-key-1", "2026-01-01T00:00:00Z", true)]);
        assert_eq!(summary(&keys), [("gitseal-key-1", KeyStatus::Retired)]);
    }

    #[test]
    fn ids_resolve_by_unique_prefix() {
        let (keys, _) =
            with_states(vec![stored("a", "2026-01-01T00:00:00Z", false), stored("b", "2026-01-02T00:00:00Z", false)]);
        let id = keys[1].id().as_str().to_owned();
        assert_eq!(resolve(&keys, &id, "ns").unwrap().secret(), "b");
        assert_eq!(resolve(&keys, &id[..6].to_ascii_uppercase(), "ns").unwrap().secret(), "b");
        assert!(resolve(&keys, &id[..5], "ns").unwrap_err().to_string().contains("at least 6"));
        let err = resolve(&keys, "ffffffffffffffff", "ns").unwrap_err().to_string();
        assert!(err.contains(keys[0].id().as_str()) && err.contains("(published)"), "{err}");
    }
}
