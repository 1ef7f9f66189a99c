//! How the controller stores its key ring in the cluster: the names, labels and
//! annotations of key Secrets, the ConfigMap that publishes the public keys, and the
//! `keys.json` entries in it. Names and public facts only; reading and writing the keys
//! themselves is `gitseal::key_secrets`.
//!
//! ```text
//!  namespace gitseal-system
//!   ├─ Secret gitseal-key-<n>   label gitseal.dev/key=true, type gitseal.dev/age-key,
//!   │                           data key.txt, annotations created / state / rotation
//!   └─ ConfigMap gitseal-public-keys   data recipients.txt, keys.json ([PublishedKey])
//! ```

use std::fmt;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// Label that marks a Secret of the controller's namespace as a key of the ring.
pub const KEY_LABEL: &str = "gitseal.dev/key";
/// Selector for key Secrets.
pub const KEY_SELECTOR: &str = "gitseal.dev/key=true";
/// `type` of key Secrets.
pub const KEY_TYPE: &str = "gitseal.dev/age-key";
/// Data key holding the age identity file.
pub const KEY_FILE: &str = "key.txt";
/// Annotation recording when a key was created (RFC 3339).
pub const CREATED_ANNOTATION: &str = "gitseal.dev/created";
/// Annotation marking a key's state; `retired` takes it out of the ring.
pub const STATE_ANNOTATION: &str = "gitseal.dev/state";
/// Annotation naming what made a key (a KeyRotation's uid, or a scheduled rotation),
/// so a rotation interrupted after creating its key never creates a second one.
pub const ROTATION_ANNOTATION: &str = "gitseal.dev/rotation";
/// The ConfigMap, readable by every authenticated user, that publishes the public keys.
pub const PUBLIC_KEYS_CONFIGMAP: &str = "gitseal-public-keys";
/// Its data key in the age recipients-file format (the published key).
pub const RECIPIENTS_FILE: &str = "recipients.txt";
/// Its data key listing every key as JSON.
pub const KEYS_JSON: &str = "keys.json";

/// Where a key stands in the ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyStatus {
    /// The newest key that is not retired: new seals use it.
    Published,
    /// Not retired and not the newest: still unseals.
    Active,
    /// Never unseals again.
    Retired,
}

impl KeyStatus {
    /// The name used in `keys.json`, backups and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Published => "published",
            KeyStatus::Active => "active",
            KeyStatus::Retired => "retired",
        }
    }

    /// Parses [`KeyStatus::as_str`].
    pub fn from_name(name: &str) -> Option<KeyStatus> {
        [KeyStatus::Published, KeyStatus::Active, KeyStatus::Retired].into_iter().find(|s| s.as_str() == name)
    }
}

impl fmt::Display for KeyStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What `keys.json` says about one key: public facts only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedKey {
    /// Key id.
    pub id: String,
    /// The `age1…` recipient.
    pub recipient: String,
    /// Creation time, RFC 3339.
    #[serde(default)]
    pub created: String,
    /// The Secret holding the private half.
    #[serde(default)]
    pub secret: String,
    /// Its state; absent from controllers older than retirement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<KeyStatus>,
}

/// Each published key's state as `keys.json` gives it, with the ring's rule filled in
/// for controllers too old to publish states (the newest key not retired is published).
pub fn states(keys: &[PublishedKey]) -> Vec<KeyStatus> {
    let mut states: Vec<KeyStatus> = keys.iter().map(|k| k.state.unwrap_or(KeyStatus::Active)).collect();
    if !states.contains(&KeyStatus::Published)
        && let Some(newest) = states.iter().rposition(|s| *s == KeyStatus::Active)
    {
        states[newest] = KeyStatus::Published;
    }
    states
}

/// The key new seals use, among the published ones (see [`states`]).
pub fn published(keys: &[PublishedKey]) -> Option<&PublishedKey> {
    keys.iter().zip(states(keys)).find(|(_, s)| *s == KeyStatus::Published).map(|(k, _)| k)
}

/// Labelled as a key of the ring: the one mark of a key Secret.
pub fn is_key(meta: &ObjectMeta) -> bool {
    meta.labels.as_ref().and_then(|l| l.get(KEY_LABEL)).is_some_and(|v| v == "true")
}

/// When the key a Secret holds was created: its `gitseal.dev/created` annotation (RFC
/// 3339), which carries a key's original time across a backup and restore, but never
/// later than the Secret's own `creationTimestamp`, which the API server sets. So a
/// forged or mistyped annotation (`created: 9999-…`) can move a key back in time, never
/// ahead of the keys made after it. `None` only when neither time is there or readable.
pub fn key_created(secret: &Secret) -> Option<Timestamp> {
    let stored = secret.metadata.creation_timestamp.as_ref().map(|t| t.0);
    let annotated = secret
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(CREATED_ANNOTATION))
        .and_then(|t| t.parse::<Timestamp>().ok());
    match (annotated, stored) {
        (Some(a), Some(s)) => Some(a.min(s)),
        (a, s) => a.or(s),
    }
}

/// Name of the `n`-th key Secret.
pub fn key_secret_name(n: u64) -> String {
    format!("gitseal-key-{n}")
}

/// `gitseal-key-12` → 12; with the creation time it orders the ring, so keys created in
/// the same second keep their order.
pub fn key_number(name: &str) -> u64 {
    name.rsplit('-').next().and_then(|n| n.parse().ok()).unwrap_or(0)
}

/// The name of the next key: one past the highest `gitseal-key-<n>` among `names`, key
/// or look-alike, so a Secret that only looks like a key is stepped over instead of
/// collided with. Deterministic, so two writers choose alike.
///
/// # Errors
/// The name whose number has no successor.
pub fn next_key_name<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<String, &'a str> {
    match names.into_iter().filter_map(|n| Some((key_secret_number(n)?, n))).max() {
        None => Ok(key_secret_name(1)),
        Some((n, name)) => n.checked_add(1).map(key_secret_name).ok_or(name),
    }
}

/// `gitseal-key-12` → `Some(12)`; `None` for any name [`key_secret_name`] cannot make
/// (`gitseal-key-012`, `gitseal-key-+1`, `restored`). Says nothing about whether the
/// Secret is a key: only the label does.
pub fn key_secret_number(name: &str) -> Option<u64> {
    let n = name.strip_prefix("gitseal-key-")?.parse().ok()?;
    (key_secret_name(n) == name).then_some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_never_younger_than_its_secret() {
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
        let secret = |annotation: Option<&str>, stored: Option<&str>| {
            let mut s = Secret::default();
            s.metadata.creation_timestamp = stored.map(|t| Time(t.parse().unwrap()));
            s.metadata.annotations =
                annotation.map(|a| [(CREATED_ANNOTATION.to_owned(), a.to_owned())].into_iter().collect());
            key_created(&s).map(|t| t.to_string())
        };
        let restored = secret(Some("2025-01-01T00:00:00Z"), Some("2026-06-01T00:00:00Z"));
        assert_eq!(restored.as_deref(), Some("2025-01-01T00:00:00Z"), "a restored key keeps its original time");
        let forged = secret(Some("9999-12-31T00:00:00Z"), Some("2026-06-01T00:00:00Z"));
        assert_eq!(forged.as_deref(), Some("2026-06-01T00:00:00Z"), "a future annotation does not count");
        let garbage = secret(Some("yesterday"), Some("2026-06-01T00:00:00Z"));
        assert_eq!(garbage.as_deref(), Some("2026-06-01T00:00:00Z"));
        assert_eq!(secret(Some("2025-01-01T00:00:00+02:00"), None).as_deref(), Some("2024-12-31T22:00:00Z"));
        assert_eq!(secret(None, None), None);
    }

    #[test]
    fn names_and_numbers() {
        assert_eq!(key_secret_name(12), "gitseal-key-12");
        assert_eq!(key_number("gitseal-key-12"), 12);
        assert_eq!(key_number("restored"), 0);
        assert_eq!(key_secret_number("gitseal-key-12"), Some(12));
        for not_made_by_us in
            ["gitseal-key-", "gitseal-key-+1", "gitseal-key-012", "gitseal-key-1a", "my-gitseal-key-1", "restored-3"]
        {
            assert_eq!(key_secret_number(not_made_by_us), None, "{not_made_by_us}");
        }
        assert_eq!(key_secret_number("gitseal-key-99999999999999999999"), None, "past u64");
    }
}
