//! The key ring of a cluster, for `gitseal keys …`: listed from the controller's
//! namespace and read by [`gitseal::key_secrets`], exactly as the controller reads it; and the
//! key a command-line id names.

use anyhow::{Result, bail};
use gitseal::ClusterKey;
use gitseal::manifest::WipeOnDrop;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::ListParams;

use crate::cluster::{Grant, KEY_SELECTOR, api_error};

/// Shortest key id prefix accepted on the command line.
const MIN_PREFIX: usize = 6;

/// The keys of a namespace, oldest first with states, and the labelled Secrets that are
/// not keys (named, never shown).
pub struct Ring {
    pub keys: Vec<ClusterKey>,
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
    let secrets: Vec<WipeOnDrop> = list.items.into_iter().map(WipeOnDrop).collect();
    let (keys, skipped) = gitseal::key_secrets::read_ring(secrets.iter().map(|s| &**s));
    Ok(Ring { keys, skipped })
}

/// The key a command-line id names: the full id or a unique prefix of at least six digits.
///
/// # Errors
/// Unknown, ambiguous or too short, listing the known ids.
pub fn resolve<'a>(keys: &'a [ClusterKey], query: &str, namespace: &str) -> Result<&'a ClusterKey> {
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
    let matches: Vec<&ClusterKey> = keys.iter().filter(|k| k.id().as_str().starts_with(&query)).collect();
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
    use gitseal::KeyStatus;

    #[test]
    fn ids_resolve_by_unique_prefix() {
        let key = |secret: &str| {
            ClusterKey::new(
                gitseal::generate_identity(),
                secret,
                "2026-01-01T00:00:00Z".parse().unwrap(),
                KeyStatus::Active,
            )
            .unwrap()
        };
        let mut keys = vec![key("a"), key("b")];
        keys[0].set_status(KeyStatus::Published);
        let id = keys[1].id().as_str().to_owned();
        assert_eq!(resolve(&keys, &id, "ns").unwrap().secret(), "b");
        assert_eq!(resolve(&keys, &id[..6].to_ascii_uppercase(), "ns").unwrap().secret(), "b");
        assert!(resolve(&keys, &id[..5], "ns").unwrap_err().to_string().contains("at least 6"));
        let err = resolve(&keys, "ffffffffffffffff", "ns").unwrap_err().to_string();
        assert!(err.contains(keys[0].id().as_str()) && err.contains("(published)"), "{err}");
    }
}
