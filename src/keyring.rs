//! The key ring as the controller stores it: the one place that knows what a key Secret
//! looks like, how the ring is read from them and ordered, how a key Secret is written,
//! and what is published about each key. The controller and `gitseal keys …` call it.
//!
//! ```text
//!  namespace gitseal-system
//!   ├─ Secret gitseal-key-<n>   label gitseal.dev/key=true, type gitseal.dev/age-key,
//!   │                           data key.txt, annotations created / state / rotation
//!   └─ ConfigMap gitseal-public-keys   data recipients.txt, keys.json
//!
//!  Secret ──StoredKey::read──▶ StoredKey ──order──▶ [BackupKey] oldest first, with states:
//!                                                     the newest key not retired is published
//!  BackupKey ──key_secret──▶ Secret          BackupKey ──PublishedKey::of──▶ keys.json entry
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use age::x25519;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::jiff::Timestamp;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

use crate::backup::BackupKey;
use crate::keys::{KeyId, identity_file};

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

/// One key Secret, read but not yet ordered.
#[derive(Clone)]
pub struct StoredKey {
    /// The Secret's name.
    pub secret: String,
    /// When the key was created ([`key_created`]).
    pub created: Timestamp,
    /// Marked retired (annotation `gitseal.dev/state: retired`).
    pub retired: bool,
    /// The identities of its `key.txt` (zeroized on drop).
    pub identities: Vec<x25519::Identity>,
}

/// What a Secret of the controller's namespace is to the ring.
pub enum Read {
    /// Not labelled as a key: no key at all, however it is named.
    NotAKey,
    /// Labelled as a key but unusable (owned by another object, another type, no valid
    /// identity file): skipped, and named (never with its content).
    Unusable(String),
    /// A key.
    Key(StoredKey),
}

impl StoredKey {
    /// Reads one Secret. A key is a Secret labelled `gitseal.dev/key=true`, of type
    /// `gitseal.dev/age-key`, owned by no other object (a Secret written for a
    /// SealedSecret would let whoever sealed it plant a key), holding an age identity
    /// file under `key.txt`.
    pub fn read(s: &Secret) -> Read {
        if !is_key(&s.metadata) {
            return Read::NotAKey;
        }
        let name = s.metadata.name.clone().unwrap_or_default();
        let owned = s.metadata.owner_references.as_ref().is_some_and(|o| !o.is_empty());
        if owned || s.type_.as_deref() != Some(KEY_TYPE) {
            return Read::Unusable(name);
        }
        let text = s.data.as_ref().and_then(|d| d.get(KEY_FILE)).and_then(|b| std::str::from_utf8(&b.0).ok());
        let identities = text.and_then(|text| {
            let lines = text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#'));
            lines.map(|l| x25519::Identity::from_str(l).ok()).collect::<Option<Vec<_>>>()
        });
        match identities {
            Some(identities) if !identities.is_empty() => {
                let annotations = s.metadata.annotations.as_ref();
                let retired =
                    annotations.and_then(|a| a.get(STATE_ANNOTATION)).is_some_and(|v| v == KeyStatus::Retired.as_str());
                let created = key_created(s).unwrap_or(Timestamp::UNIX_EPOCH);
                Read::Key(StoredKey { secret: name, created, retired, identities })
            }
            _ => Read::Unusable(name),
        }
    }
}

/// Labelled as a key of the ring: the one mark of a key Secret.
pub fn is_key(meta: &ObjectMeta) -> bool {
    meta.labels.as_ref().and_then(|l| l.get(KEY_LABEL)).is_some_and(|v| v == "true")
}

/// Reads the ring from the Secrets of the controller's namespace: the keys, ordered
/// with their states ([`order`]), and the names of Secrets labelled as keys that hold
/// none (never their content).
pub fn read_ring<'a>(secrets: impl IntoIterator<Item = &'a Secret>) -> (Vec<BackupKey>, Vec<String>) {
    let mut stored = Vec::new();
    let mut skipped = Vec::new();
    for secret in secrets {
        match StoredKey::read(secret) {
            Read::Key(key) => stored.push(key),
            Read::Unusable(name) => skipped.push(name),
            Read::NotAKey => {}
        }
    }
    let (keys, unusable) = order(stored);
    skipped.extend(unusable);
    (keys, skipped)
}

/// Orders keys by creation time, then by the number in the Secret's name; drops a key
/// id seen before; marks the newest key that is not retired as published. Returns the
/// keys and the Secrets whose name cannot be recorded.
pub fn order(mut stored: Vec<StoredKey>) -> (Vec<BackupKey>, Vec<String>) {
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
    if let Some(newest) = keys.iter_mut().rev().find(|k| k.status() == KeyStatus::Active) {
        newest.set_status(KeyStatus::Published);
    }
    (keys, unusable)
}

/// The key Secret that stores `key` under `name`, as the controller writes one and a
/// restore recreates it.
pub fn key_secret(key: &BackupKey, name: &str) -> Secret {
    let created = key.created().to_string();
    let mut annotations = BTreeMap::from([(CREATED_ANNOTATION.to_owned(), created.clone())]);
    if key.status() == KeyStatus::Retired {
        annotations.insert(STATE_ANNOTATION.to_owned(), KeyStatus::Retired.to_string());
    }
    let file = identity_file(key.identity(), &created);
    Secret {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            labels: Some(BTreeMap::from([(KEY_LABEL.to_owned(), "true".to_owned())])),
            annotations: Some(annotations),
            ..ObjectMeta::default()
        },
        type_: Some(KEY_TYPE.to_owned()),
        immutable: Some(true),
        data: Some(BTreeMap::from([(KEY_FILE.to_owned(), ByteString(file.expose_secret().as_bytes().to_vec()))])),
        ..Secret::default()
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

impl PublishedKey {
    /// The public facts of a key of the ring.
    pub fn of(key: &BackupKey) -> PublishedKey {
        PublishedKey {
            id: key.id().to_string(),
            recipient: key.recipient().to_string(),
            created: key.created().to_string(),
            secret: key.secret().to_owned(),
            state: Some(key.status()),
        }
    }
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
    use crate::generate_identity;

    fn stored(secret: &str, created: &str, retired: bool) -> StoredKey {
        StoredKey {
            secret: secret.into(),
            created: created.parse().unwrap(),
            retired,
            identities: vec![generate_identity()],
        }
    }

    fn summary(keys: &[BackupKey]) -> Vec<(&str, KeyStatus)> {
        keys.iter().map(|k| (k.secret(), k.status())).collect()
    }

    #[test]
    fn newest_key_not_retired_is_published() {
        let (keys, unusable) = order(vec![
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
        let (keys, _) = order(vec![stored("gitseal-key-1", "2026-01-01T00:00:00Z", true)]);
        assert_eq!(summary(&keys), [("gitseal-key-1", KeyStatus::Retired)]);
    }

    #[test]
    fn a_key_secret_reads_back_as_the_key_it_stores() {
        let key = BackupKey::new(
            generate_identity(),
            "gitseal-key-3",
            "2026-01-01T00:00:00Z".parse().unwrap(),
            KeyStatus::Retired,
        )
        .unwrap();
        let secret = key_secret(&key, "gitseal-key-4");
        let Read::Key(stored) = StoredKey::read(&secret) else { panic!("not read as a key") };
        assert_eq!(
            (stored.secret.as_str(), stored.created.to_string().as_str(), stored.retired),
            ("gitseal-key-4", "2026-01-01T00:00:00Z", true)
        );
        assert_eq!(KeyId::of(&stored.identities[0].to_public()), *key.id());
        assert_eq!(secret.immutable, Some(true));
        let published = PublishedKey::of(&key);
        let json = serde_json::to_string(&published).unwrap();
        assert!(json.contains(r#""state":"retired""#) && !json.contains("AGE-SECRET-KEY"), "{json}");
        assert_eq!(serde_json::from_str::<PublishedKey>(&json).unwrap(), published);
    }

    #[test]
    fn only_labelled_secrets_of_the_key_type_owned_by_nobody_are_keys() {
        let key = BackupKey::new(
            generate_identity(),
            "gitseal-key-1",
            "2026-01-01T00:00:00Z".parse().unwrap(),
            KeyStatus::Active,
        )
        .unwrap();
        let good = key_secret(&key, "gitseal-key-1");
        let mut unlabelled = good.clone();
        unlabelled.metadata.labels = None;
        let mut owned = good.clone();
        owned.metadata.owner_references = Some(vec![Default::default()]);
        let mut opaque = good.clone();
        opaque.type_ = Some("Opaque".into());
        let mut broken = good.clone();
        broken.data = Some(BTreeMap::from([(KEY_FILE.to_owned(), ByteString(b"AGE-SECRET-KEY-1NOPE".to_vec()))]));
        assert!(matches!(StoredKey::read(&good), Read::Key(_)));
        assert!(matches!(StoredKey::read(&unlabelled), Read::NotAKey));
        for unusable in [&owned, &opaque, &broken] {
            assert!(matches!(StoredKey::read(unusable), Read::Unusable(ref n) if n == "gitseal-key-1"));
        }
        let (keys, skipped) = read_ring([&good, &unlabelled, &owned]);
        assert_eq!((keys.len(), skipped), (1, vec!["gitseal-key-1".to_owned()]));
    }

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
