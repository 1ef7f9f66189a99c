//! The key Secrets the controller keeps its ring in: reading them into the ring's keys,
//! ordered and with their states, and writing the Secret that stores one key. The
//! controller and `gitseal keys …` both call it; the names and labels it follows are
//! [`gitseal_crds::storage`].
//!
//! ```text
//!  Secret ──StoredKey::read──▶ StoredKey ──order──▶ [ClusterKey] oldest first, with states:
//!                                                     the newest key not retired is published
//!  ClusterKey ──key_secret──▶ Secret          ClusterKey ──published──▶ keys.json entry
//! ```

use std::collections::BTreeMap;
use std::str::FromStr;

use age::x25519;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::jiff::Timestamp;
use secrecy::ExposeSecret;

use gitseal_crds::storage::{
    CREATED_ANNOTATION, KEY_FILE, KEY_LABEL, KEY_TYPE, KeyStatus, STATE_ANNOTATION, is_key, key_created, key_number,
};

use crate::cluster_key::ClusterKey;
use crate::keys::{KeyId, identity_file};

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
#[derive(Clone)]
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

/// Reads the ring from the Secrets of the controller's namespace: the keys, ordered
/// with their states ([`order`]), and the names of Secrets labelled as keys that hold
/// none (never their content).
pub fn read_ring<'a>(secrets: impl IntoIterator<Item = &'a Secret>) -> (Vec<ClusterKey>, Vec<String>) {
    ring_of(secrets.into_iter().map(StoredKey::read))
}

/// The ring that Secrets already read ([`StoredKey::read`]) make: as [`read_ring`], for
/// a reader that keeps what it read (the controller's watch of its namespace).
pub fn ring_of(read: impl IntoIterator<Item = Read>) -> (Vec<ClusterKey>, Vec<String>) {
    let mut stored = Vec::new();
    let mut skipped = Vec::new();
    for r in read {
        match r {
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
pub fn order(mut stored: Vec<StoredKey>) -> (Vec<ClusterKey>, Vec<String>) {
    stored.sort_by_key(|s| (s.created, key_number(&s.secret)));
    let mut keys: Vec<ClusterKey> = Vec::new();
    let mut unusable = Vec::new();
    for s in stored {
        let status = if s.retired { KeyStatus::Retired } else { KeyStatus::Active };
        for identity in s.identities {
            if keys.iter().any(|k| *k.id() == KeyId::of(&identity.to_public())) {
                continue;
            }
            match ClusterKey::new(identity, &s.secret, s.created, status) {
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
pub fn key_secret(key: &ClusterKey, name: &str) -> Secret {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate_identity;
    use gitseal_crds::storage::PublishedKey;

    fn stored(secret: &str, created: &str, retired: bool) -> StoredKey {
        StoredKey {
            secret: secret.into(),
            created: created.parse().unwrap(),
            retired,
            identities: vec![generate_identity()],
        }
    }

    fn summary(keys: &[ClusterKey]) -> Vec<(&str, KeyStatus)> {
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
        let key = ClusterKey::new(
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
        let published = key.published();
        let json = serde_json::to_string(&published).unwrap();
        assert!(json.contains(r#""state":"retired""#) && !json.contains("AGE-SECRET-KEY"), "{json}");
        assert_eq!(serde_json::from_str::<PublishedKey>(&json).unwrap(), published);
    }

    #[test]
    fn only_labelled_secrets_of_the_key_type_owned_by_nobody_are_keys() {
        let key = ClusterKey::new(
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
}
