//! What the leader keeps of each SealedSecret in memory: what reconciling needs, and no
//! more.
//!
//! ```text
//!  watch event ──trim──▶ cache: metadata (no managedFields, no last-applied copy),
//!                               spec (values only while small), status
//!  reconcile ──values trimmed?──yes──▶ GET the object (bounded by the decrypt pool's
//!                                       memory permits)
//! ```
//!
//! The API server accepts objects up to about 1.5 MiB, so a cache of full objects grows
//! with whatever tenants create. Values of objects over [`INLINE_VALUES`] are dropped
//! from the cache and read when reconciled: rare large objects cost one GET each, the
//! common small ones none.

use gitseal::SealedSecret;
use kube::ResourceExt;

/// Largest total of sealed values kept in the cache for one object.
pub const INLINE_VALUES: usize = 64 * 1024;
/// Marks a cached object whose values were dropped. Only ever set on the cached copy:
/// the controller never writes a SealedSecret's metadata or spec.
const TRIMMED: &str = "gitseal.dev/cache-values-trimmed";
/// kubectl's copy of the whole applied object (client-side apply): twice the memory.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Total length of an object's sealed values.
pub fn values_len(sealed: &SealedSecret) -> usize {
    sealed.spec.encrypted_data.iter().map(|(k, v)| k.len() + v.len()).sum()
}

/// Drops from a watched object what reconciling does not need.
pub fn trim(sealed: &mut SealedSecret) {
    sealed.managed_fields_mut().clear();
    sealed.annotations_mut().remove(LAST_APPLIED);
    if values_len(sealed) > INLINE_VALUES {
        sealed.spec.encrypted_data.clear();
        sealed.spec.key_ids.clear();
        sealed.annotations_mut().insert(TRIMMED.into(), "true".into());
    }
}

/// Whether the cached object lacks its values and must be read before reconciling.
pub fn is_trimmed(sealed: &SealedSecret) -> bool {
    sealed.annotations().contains_key(TRIMMED)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gitseal::SealedSecretSpec;

    fn object(values: usize, value_len: usize) -> SealedSecret {
        let mut spec = SealedSecretSpec::default();
        for i in 0..values {
            spec.encrypted_data.insert(format!("k{i}"), "A".repeat(value_len));
            spec.key_ids.insert(format!("k{i}"), vec!["0123456789abcdef".into()]);
        }
        let mut s = SealedSecret::new("db", spec);
        s.annotations_mut().insert(LAST_APPLIED.into(), "{…the whole object…}".into());
        s.annotations_mut().insert("team".into(), "a".into());
        s
    }

    #[test]
    fn small_objects_keep_their_values_large_ones_do_not() {
        let mut small = object(3, 500);
        trim(&mut small);
        assert!(!is_trimmed(&small) && small.spec.encrypted_data.len() == 3 && small.spec.key_ids.len() == 3);
        assert_eq!(small.annotations().keys().collect::<Vec<_>>(), ["team"]);

        let mut large = object(2, INLINE_VALUES);
        trim(&mut large);
        assert!(is_trimmed(&large) && large.spec.encrypted_data.is_empty() && large.spec.key_ids.is_empty());
        assert!(!large.annotations().contains_key(LAST_APPLIED));
    }
}
