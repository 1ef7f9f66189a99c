//! How gitseal-controller stores its key ring and publishes the public keys: the names
//! every tool that reads or writes them (controller, `gitseal keys …`) must agree on.
//!
//! ```text
//!  namespace gitseal-system
//!   ├─ Secret gitseal-key-<n>   label gitseal.dev/key=true, type gitseal.dev/age-key,
//!   │                           data key.txt, annotations created / state / rotation
//!   └─ ConfigMap gitseal-public-keys   data recipients.txt, keys.json
//! ```

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::jiff::Timestamp;

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
