//! The incumbent's sealed values (bitnami sealed-secrets), opened offline with its
//! private keys: what migrating a repository to gitseal needs, and nothing more.
//!
//! ```text
//!  value = base64( len(2, big-endian) ‖ RSA-OAEP-SHA256(session key, label) ‖ AES-256-GCM(value) )
//!  label = "namespace/name" (strict) │ "namespace" (namespace-wide) │ "" (cluster-wide)
//! ```
//!
//! The AES-GCM nonce is zero: each session key seals one value. Opening runs once, on an
//! administrator's machine, with keys taken from a backup; the `rsa` crate's timing
//! advisory (RUSTSEC-2023-0071) needs an attacker who times many decryptions, which a
//! one-time offline migration does not offer.
//!
//! [`migrate`] turns one of its SealedSecrets into gitseal's, field by field:
//!
//! ```text
//!  metadata.annotations sealedsecrets.bitnami.com/{cluster,namespace}-wide ─▶ spec.scope
//!  metadata (other labels, annotations)  ─▶ metadata, + gitseal.dev/migrated-from
//!  spec.encryptedData (opened here)      ─▶ spec.encryptedData (sealed to the recipients)
//!  spec.template {labels, annotations, type, immutable} ─▶ spec.template, unchanged
//!  spec.template.data (Go templates), spec.data (format v1), finalizers, the
//!  managed / patch / skip-set-owner-references annotations ─▶ refused: no equivalent
//! ```

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::{Oaep, RsaPrivateKey};
use serde::Deserialize;
use zeroize::Zeroizing;

pub use gitseal_crds::migration::INCUMBENT_API_VERSION as API_VERSION;
pub use gitseal_crds::migration::{MIGRATED_FROM, SEALED_SECRETS};

use crate::error::{Error, Result};
use crate::manifest::display_name;
use crate::{PlainSecret, Recipients, Scope, SealedSecret, seal_secret};

/// Its annotation for values any namespace may open.
pub const CLUSTER_WIDE: &str = "sealedsecrets.bitnami.com/cluster-wide";
/// Its annotation for values any name in the namespace may open.
pub const NAMESPACE_WIDE: &str = "sealedsecrets.bitnami.com/namespace-wide";
/// The incumbent's annotations that tell its controller how to treat the Secret; gitseal
/// has no faithful equivalent of any, so an object using one is refused.
const CONTROLLER_ANNOTATIONS: [(&str, &str); 3] = [
    (
        "sealedsecrets.bitnami.com/managed",
        "lets the incumbent overwrite a Secret it did not create; gitseal's equivalent is the annotation gitseal.dev/adopt: \"true\" on that Secret",
    ),
    (
        "sealedsecrets.bitnami.com/patch",
        "merges into a Secret other writers share; gitseal owns the whole Secret it writes",
    ),
    (
        "sealedsecrets.bitnami.com/skip-set-owner-references",
        "leaves the Secret without an owner; gitseal's Secrets are always owned by their SealedSecret",
    ),
];

/// Why an incumbent's value could not be opened. Coarse, like gitseal's own errors.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IncumbentError {
    /// Not standard base64, or shorter than its own length prefix says.
    #[error("not a sealed-secrets value (bad base64 or length)")]
    Malformed,
    /// None of the keys opens it for this place (wrong key, or sealed for another
    /// namespace, name or scope: the label is part of the RSA encryption).
    #[error("none of the given sealed-secrets keys opens it for this scope, namespace and name")]
    NoMatchingKey,
    /// The session key opened, but the value fails authentication.
    #[error("the value was tampered with or truncated")]
    Tampered,
    /// A private key file holds no RSA private key gitseal can read.
    #[error("not an RSA private key in PEM (PKCS#1 or PKCS#8)")]
    BadKey,
}

/// The incumbent's private keys (RSA), as its users back them up.
pub struct IncumbentKeys {
    keys: Vec<RsaPrivateKey>,
    /// The key that opened the last value: tried first, since a repository's values were
    /// mostly sealed with the same key, and each wrong key costs a whole RSA decryption.
    last: AtomicUsize,
}

impl IncumbentKeys {
    /// Reads every PEM private key block in `text` (PKCS#1 `RSA PRIVATE KEY`, as the
    /// incumbent stores them, or PKCS#8 `PRIVATE KEY`).
    ///
    /// # Errors
    /// [`IncumbentError::BadKey`] when a block is not an RSA private key, or there is none.
    pub fn from_pem(text: &str) -> Result<IncumbentKeys, IncumbentError> {
        let mut keys = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("-----BEGIN ") {
            let block = &rest[start..];
            let end_marker = block.find("-----END ").ok_or(IncumbentError::BadKey)?;
            let end = block[end_marker..].find('\n').map_or(block.len(), |n| end_marker + n);
            let pem = Zeroizing::new(block[..end].to_owned());
            let key = RsaPrivateKey::from_pkcs1_pem(&pem)
                .or_else(|_| RsaPrivateKey::from_pkcs8_pem(&pem))
                .map_err(|_| IncumbentError::BadKey)?;
            keys.push(key);
            rest = &block[end..];
        }
        if keys.is_empty() {
            return Err(IncumbentError::BadKey);
        }
        Ok(IncumbentKeys { keys, last: AtomicUsize::new(0) })
    }

    /// How many keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there are none (never, once built).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The session key wrapped for `label`, unwrapped by whichever key can.
    fn unwrap_session(&self, wrapped: &[u8], label: &str) -> Option<Zeroizing<Vec<u8>>> {
        let first = self.last.load(Ordering::Relaxed);
        let order = std::iter::once(first).chain((0..self.keys.len()).filter(|&i| i != first));
        order.filter_map(|i| Some((i, self.keys.get(i)?))).find_map(|(i, key)| {
            let session = key.decrypt(Oaep::new_with_label::<sha2::Sha256, _>(label), wrapped).ok()?;
            self.last.store(i, Ordering::Relaxed);
            Some(Zeroizing::new(session))
        })
    }
}

/// The label a value is sealed with: where it may be opened, as the incumbent binds it.
pub fn label(scope: Scope, namespace: &str, name: &str) -> String {
    match scope {
        Scope::Strict => format!("{namespace}/{name}"),
        Scope::NamespaceWide => namespace.to_owned(),
        Scope::ClusterWide => String::new(),
    }
}

/// Opens one of the incumbent's values sealed with `label`.
///
/// # Errors
/// As [`IncumbentError`]; never any part of the value.
pub fn open(value: &str, label: &str, keys: &IncumbentKeys) -> Result<Zeroizing<Vec<u8>>, IncumbentError> {
    let bytes = STANDARD.decode(value.trim()).map_err(|_| IncumbentError::Malformed)?;
    let (len, rest) = bytes.split_first_chunk::<2>().ok_or(IncumbentError::Malformed)?;
    let len = usize::from(u16::from_be_bytes(*len));
    if rest.len() < len {
        return Err(IncumbentError::Malformed);
    }
    let (wrapped, sealed) = rest.split_at(len);
    let session = keys.unwrap_session(wrapped, label).ok_or(IncumbentError::NoMatchingKey)?;
    let cipher = Aes256Gcm::new_from_slice(&session).map_err(|_| IncumbentError::NoMatchingKey)?;
    let value = cipher.decrypt(Nonce::from_slice(&[0; 12]), sealed).map_err(|_| IncumbentError::Tampered)?;
    Ok(Zeroizing::new(value))
}

/// Whether `document` (any parsed YAML or JSON) is one of the incumbent's SealedSecrets.
pub fn is_sealed_secret(document: &serde_json::Value) -> bool {
    let field = |f: &str| document.get(f).and_then(serde_json::Value::as_str);
    field("kind") == Some("SealedSecret")
        && field("apiVersion").is_some_and(|v| v.starts_with(crate::crds::migration::INCUMBENT_GROUP_PREFIX))
}

/// The incumbent's SealedSecret, as far as migrating reads it. Fields it does not know
/// (status, server-set metadata) are ignored; fields with no gitseal equivalent are
/// captured to be refused.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Object {
    #[serde(default)]
    api_version: String,
    #[serde(default)]
    metadata: Meta,
    #[serde(default)]
    spec: Spec,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Meta {
    name: Option<String>,
    namespace: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    #[serde(default)]
    finalizers: Vec<serde_json::Value>,
    #[serde(default)]
    owner_references: Vec<serde_json::Value>,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Spec {
    #[serde(default)]
    encrypted_data: BTreeMap<String, String>,
    #[serde(default)]
    template: Template,
    /// Format v1: the whole Secret sealed as one value.
    data: Option<serde_json::Value>,
}

#[derive(Default, Deserialize)]
struct Template {
    #[serde(default)]
    metadata: Meta,
    #[serde(rename = "type")]
    type_: Option<String>,
    immutable: Option<bool>,
    /// Keys rendered with Go templates.
    #[serde(default)]
    data: BTreeMap<String, Option<String>>,
}

/// Opens one of the incumbent's SealedSecrets with its keys and seals the same Secret
/// (data, labels, annotations, type, immutability) with gitseal, in the same scope, for
/// `recipients`. The object's own labels and annotations are kept, and it is marked
/// [`MIGRATED_FROM`]. `default_namespace` stands in for a missing `metadata.namespace`;
/// `document` (1-based) numbers messages.
///
/// # Errors
/// [`Error::Invalid`] for what has no faithful equivalent in gitseal (each refusal says
/// what to do) or a missing name or namespace; [`Error::Key`] naming the data key that
/// does not open; the errors of [`seal_secret`].
pub fn migrate(
    document: &serde_json::Value,
    default_namespace: Option<&str>,
    keys: &IncumbentKeys,
    recipients: &Recipients,
    index: usize,
) -> Result<SealedSecret> {
    let object: Object = serde_json::from_value(document.clone()).map_err(|e| Error::Invalid {
        document: index,
        name: None,
        message: format!("not a valid sealed-secrets SealedSecret: {e}"),
    })?;
    let Object { api_version, metadata, spec } = object;
    let namespace = metadata.namespace.clone().or_else(|| default_namespace.map(str::to_owned));
    let who = display_name(namespace.as_deref(), metadata.name.as_deref());
    let refuse = |message: String| Error::Invalid { document: index, name: who.clone(), message };
    if api_version != API_VERSION {
        return Err(refuse(format!("apiVersion {api_version} is not one gitseal migrates from ({API_VERSION})")));
    }
    if spec.data.is_some() {
        return Err(refuse(
            "spec.data holds the whole Secret in the incumbent's first format; re-seal it with a current kubeseal (which writes spec.encryptedData), then migrate".into(),
        ));
    }
    if !spec.template.data.is_empty() {
        return Err(refuse(
            "spec.template.data renders keys with Go templates, which gitseal does not do; put the rendered values in the Secret and seal them".into(),
        ));
    }
    let template = &spec.template.metadata;
    if !template.finalizers.is_empty() || !template.owner_references.is_empty() {
        return Err(refuse(
            "spec.template.metadata sets finalizers or ownerReferences, which gitseal does not copy onto the Secret"
                .into(),
        ));
    }
    for (annotation, why) in CONTROLLER_ANNOTATIONS {
        if template.annotations.contains_key(annotation) || metadata.annotations.contains_key(annotation) {
            return Err(refuse(format!("the annotation {annotation} {why}; remove it to migrate")));
        }
    }
    let name = metadata.name.clone().ok_or_else(|| refuse("the SealedSecret has no metadata.name".into()))?;
    let scope = scope_of(&metadata.annotations);
    if scope != Scope::ClusterWide && namespace.is_none() {
        return Err(refuse(format!(
            "no metadata.namespace, and scope {scope} binds its values to one: give the namespace they were sealed for"
        )));
    }
    let place = label(scope, namespace.as_deref().unwrap_or_default(), &name);
    let values: Vec<(&String, &String)> = spec.encrypted_data.iter().collect();
    let mut data = BTreeMap::new();
    for ((key, _), opened) in values.iter().zip(open_all(&values, &place, keys)) {
        let opened = opened.map_err(|e| Error::Key {
            document: index,
            name: who.clone(),
            key: (*key).clone(),
            message: e.to_string(),
        })?;
        data.insert((*key).clone(), opened);
    }
    let secret = PlainSecret {
        name: Some(name),
        namespace,
        labels: template.labels.clone(),
        annotations: template.annotations.clone(),
        type_: spec.template.type_.clone().filter(|t| !t.is_empty()),
        immutable: spec.template.immutable,
        data,
    };
    let mut sealed = seal_secret(&secret, scope, None, recipients, index)?;
    let mut annotations = metadata.annotations;
    annotations.retain(|k, _| k != CLUSTER_WIDE && k != NAMESPACE_WIDE && k != crate::seal::LAST_APPLIED);
    annotations.insert(MIGRATED_FROM.to_owned(), SEALED_SECRETS.to_owned());
    sealed.metadata.annotations = Some(annotations);
    sealed.metadata.labels = (!metadata.labels.is_empty()).then_some(metadata.labels);
    Ok(sealed)
}

/// Opens `values` (data key, sealed value) on as many threads as there are cores: each
/// takes an RSA decryption, tens of milliseconds with a 4096-bit key. In order.
fn open_all(
    values: &[(&String, &String)],
    label: &str,
    keys: &IncumbentKeys,
) -> Vec<Result<Zeroizing<Vec<u8>>, IncumbentError>> {
    let workers = std::thread::available_parallelism().map_or(1, std::num::NonZero::get).clamp(1, values.len().max(1));
    let chunk = values.len().div_ceil(workers).max(1);
    std::thread::scope(|scope| {
        let running: Vec<_> = values
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().map(|(_, v)| open(v, label, keys)).collect::<Vec<_>>()))
            .collect();
        running.into_iter().flat_map(|t| t.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))).collect()
    })
}

/// The scope the incumbent binds values to, from the SealedSecret's own annotations
/// (its label is computed from them, not from the template's).
fn scope_of(annotations: &BTreeMap<String, String>) -> Scope {
    let set = |a: &str| annotations.get(a).is_some_and(|v| v == "true");
    if set(CLUSTER_WIDE) {
        Scope::ClusterWide
    } else if set(NAMESPACE_WIDE) {
        Scope::NamespaceWide
    } else {
        Scope::Strict
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_follow_the_scope() {
        assert_eq!(label(Scope::Strict, "prod", "db"), "prod/db");
        assert_eq!(label(Scope::NamespaceWide, "prod", "db"), "prod");
        assert_eq!(label(Scope::ClusterWide, "prod", "db"), "");
    }

    #[test]
    fn malformed_values_and_keys_are_refused() {
        assert_eq!(IncumbentKeys::from_pem("no key here").err(), Some(IncumbentError::BadKey));
        let garbage = "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n";
        assert_eq!(IncumbentKeys::from_pem(garbage).err(), Some(IncumbentError::BadKey));
    }
}
