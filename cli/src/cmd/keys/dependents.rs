//! Which SealedSecrets depend on a key alone: the ones retiring it would break.
//!
//! ```text
//!  spec.keyIds[dataKey] ∩ cluster keys not retired = {K}   ──▶ depends on K alone
//!  (or, when none of them is live, the one cluster key recorded)
//! ```
//!
//! Recorded ids that are not keys of this cluster (another cluster, a break-glass key)
//! do not help the controller, so they do not count.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Result;
use gitseal::{KeyStatus, SealedSecret};
use kube::api::ListParams;
use kube::{Api, Client};

use crate::cluster::{Grant, api_error, status_code};

/// What depends on which key.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Dependents {
    /// Key id → `namespace/name` of every SealedSecret only that key can unseal, sorted.
    pub alone: BTreeMap<String, Vec<String>>,
    /// SealedSecrets with a value whose key ids are not recorded: gitseal cannot tell.
    pub unrecorded: Vec<String>,
}

impl Dependents {
    /// The SealedSecrets that only `id` can unseal.
    pub fn of(&self, id: &str) -> &[String] {
        self.alone.get(id).map(Vec::as_slice).unwrap_or_default()
    }
}

/// Sorts every SealedSecret under the keys it depends on alone. Pure: no cluster access.
pub fn dependents<'a>(keys: impl IntoIterator<Item = (&'a str, KeyStatus)>, sealed: &[SealedSecret]) -> Dependents {
    let keys: BTreeMap<&str, KeyStatus> = keys.into_iter().collect();
    let mut out = Dependents::default();
    for s in sealed {
        let name = format!(
            "{}/{}",
            s.metadata.namespace.as_deref().unwrap_or_default(),
            s.metadata.name.as_deref().unwrap_or_default()
        );
        let mut needs = BTreeSet::new();
        let mut unrecorded = false;
        for data_key in s.spec.encrypted_data.keys() {
            let recorded = s.spec.key_ids.get(data_key).map(Vec::as_slice).unwrap_or_default();
            if recorded.is_empty() {
                unrecorded = true;
                continue;
            }
            // A value sealed before format 2 records 64-bit ids: the prefix of the key's id.
            let ours: BTreeSet<&str> = recorded
                .iter()
                .filter_map(|id| gitseal::KeyId::parse(id))
                .filter_map(|id| keys.keys().copied().find(|k| gitseal::KeyId::parse(k).is_some_and(|k| k.names(&id))))
                .collect();
            let live: Vec<&str> = ours.iter().copied().filter(|id| keys[id] != KeyStatus::Retired).collect();
            if let [only] = live.as_slice() {
                needs.insert(*only);
            } else if live.is_empty() && ours.len() == 1 {
                needs.extend(ours);
            }
        }
        for id in needs {
            out.alone.entry(id.to_owned()).or_default().push(name.clone());
        }
        if unrecorded {
            out.unrecorded.push(name);
        }
    }
    for names in out.alone.values_mut() {
        names.sort();
    }
    out.unrecorded.sort();
    out
}

/// Every SealedSecret in the cluster, page by page. No SealedSecret API: none exist.
///
/// # Errors
/// When they cannot be listed, saying which permission that needs.
pub async fn list_all(client: Client) -> Result<Vec<SealedSecret>> {
    let api: Api<SealedSecret> = Api::all(client);
    let mut out = Vec::new();
    let mut params = ListParams::default().limit(500);
    loop {
        let page = match api.list(&params).await {
            Ok(page) => page,
            Err(e) if status_code(&e) == Some(404) => return Ok(out),
            Err(e) => {
                let doing = "cannot list SealedSecrets in all namespaces to count what depends on each key".to_owned();
                return Err(api_error(
                    e,
                    doing,
                    "list on sealedsecrets.gitseal.dev cluster-wide",
                    Grant::KeyDependentsReader,
                ));
            }
        };
        out.extend(page.items);
        match page.metadata.continue_ {
            Some(token) if !token.is_empty() => params = params.continue_token(&token),
            _ => return Ok(out),
        }
    }
}

/// `a, b, c and 7 more`, for messages that must stay short.
pub fn name_some(names: &[String], limit: usize) -> String {
    let shown = names.iter().take(limit).cloned().collect::<Vec<_>>().join(", ");
    match names.len().saturating_sub(limit) {
        0 => shown,
        more => format!("{shown} and {more} more"),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use gitseal::SealedSecretSpec;

    const K1: &str = "1111111111111111";
    const K2: &str = "2222222222222222";
    const K3: &str = "3333333333333333";
    const OTHER: &str = "9999999999999999"; // e.g. a break-glass key, not in the cluster

    fn sealed(name: &str, values: &[(&str, &[&str])]) -> SealedSecret {
        let mut spec = SealedSecretSpec::default();
        for (key, ids) in values {
            spec.encrypted_data.insert((*key).into(), "x".into());
            if !ids.is_empty() {
                spec.key_ids.insert((*key).into(), ids.iter().map(|s| (*s).to_owned()).collect());
            }
        }
        let mut s = SealedSecret::new(name, spec);
        s.metadata.namespace = Some("ns".into());
        s
    }

    #[test]
    fn only_keys_that_alone_can_unseal_count() {
        let keys = [(K1, KeyStatus::Active), (K2, KeyStatus::Published), (K3, KeyStatus::Retired)];
        let all = [
            sealed("on-k1", &[("a", &[K1])]),
            sealed("on-k1-and-breakglass", &[("a", &[K1, OTHER])]),
            sealed("on-both", &[("a", &[K1, K2])]),
            sealed("on-k1-and-retired-k3", &[("a", &[K1, K3])]),
            sealed("mixed", &[("a", &[K1]), ("b", &[K2])]),
            sealed("on-retired-k3", &[("a", &[K3])]),
            sealed("elsewhere", &[("a", &[OTHER])]),
            sealed("unrecorded", &[("a", &[]), ("b", &[K2])]),
        ];
        let d = dependents(keys, &all);
        assert_eq!(d.of(K1), ["ns/mixed", "ns/on-k1", "ns/on-k1-and-breakglass", "ns/on-k1-and-retired-k3"]);
        assert_eq!(d.of(K2), ["ns/mixed", "ns/unrecorded"]);
        assert_eq!(d.of(K3), ["ns/on-retired-k3"]);
        assert!(d.of(OTHER).is_empty());
        assert_eq!(d.unrecorded, ["ns/unrecorded"]);
    }

    #[test]
    fn a_legacy_64_bit_id_counts_for_the_key_it_prefixes() {
        let full = "4444444444444444aaaaaaaaaaaaaaaa";
        let keys = [(full, KeyStatus::Published), ("5555555555555555bbbbbbbbbbbbbbbb", KeyStatus::Active)];
        let all = [sealed("format-1", &[("a", &["4444444444444444"])]), sealed("format-2", &[("a", &[full])])];
        assert_eq!(dependents(keys, &all).of(full), ["ns/format-1", "ns/format-2"]);
    }

    #[test]
    fn long_lists_are_cut() {
        let names: Vec<String> = (0..25).map(|i| format!("ns/s{i}")).collect();
        let text = name_some(&names, 20);
        assert!(text.ends_with("ns/s19 and 5 more"), "{text}");
        assert_eq!(name_some(&names[..2], 20), "ns/s0, ns/s1");
    }
}
