//! The plaintext Secret as gitseal holds it, and the Kubernetes Secrets that hold
//! plaintext in gitseal's hands: values in zeroizing buffers, `Debug` without them.

use std::collections::BTreeMap;
use std::fmt;

use zeroize::Zeroizing;

/// A plaintext Secret: the input of sealing and the output of unsealing.
///
/// Guarantees: values are zeroized on drop and `Debug` prints key names only.
#[derive(Clone, Default)]
pub struct PlainSecret {
    /// `metadata.name`.
    pub name: Option<String>,
    /// `metadata.namespace`.
    pub namespace: Option<String>,
    /// `metadata.labels`.
    pub labels: BTreeMap<String, String>,
    /// `metadata.annotations`.
    pub annotations: BTreeMap<String, String>,
    /// `type`, e.g. `Opaque`.
    pub type_: Option<String>,
    /// `immutable`.
    pub immutable: Option<bool>,
    /// Data key → value bytes (`data` decoded and `stringData` merged).
    pub data: BTreeMap<String, Zeroizing<Vec<u8>>>,
}

impl fmt::Debug for PlainSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlainSecret")
            .field("name", &self.name)
            .field("namespace", &self.namespace)
            .field("type", &self.type_)
            .field("keys", &self.data.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl PlainSecret {
    /// `namespace/name` (or what is known of it), for messages.
    pub fn display_name(&self) -> Option<String> {
        display_name(self.namespace.as_deref(), self.name.as_deref())
    }

    /// Total size of the data as Kubernetes counts it against its 1 MiB limit.
    pub fn data_size(&self) -> usize {
        self.data.iter().map(|(k, v)| k.len() + v.len()).sum()
    }

    /// The Secret as a Kubernetes object (`data` base64-encoded by serialization).
    pub fn to_k8s(&self) -> k8s_openapi::api::core::v1::Secret {
        use k8s_openapi::ByteString;
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
        let nonempty = |m: &BTreeMap<String, String>| (!m.is_empty()).then(|| m.clone());
        k8s_openapi::api::core::v1::Secret {
            metadata: ObjectMeta {
                name: self.name.clone(),
                namespace: self.namespace.clone(),
                labels: nonempty(&self.labels),
                annotations: nonempty(&self.annotations),
                ..ObjectMeta::default()
            },
            type_: Some(secret_type(self.type_.as_deref()).to_owned()),
            immutable: self.immutable,
            data: Some(self.data.iter().map(|(k, v)| (k.clone(), ByteString(v.to_vec()))).collect()),
            string_data: None,
        }
    }
}

/// The `type` of a Secret that names none, as Kubernetes defaults it.
pub const DEFAULT_TYPE: &str = "Opaque";

/// A Secret's `type`, with Kubernetes' default: the one place the default is applied.
pub fn secret_type(type_: Option<&str>) -> &str {
    type_.unwrap_or(DEFAULT_TYPE)
}

/// Zeroizes a Kubernetes Secret's values (`data` and `stringData`) in place. For the
/// copies of plaintext and private keys that gitseal's own code holds in
/// `k8s_openapi` types, which are ordinary buffers; see [`WipeOnDrop`].
pub fn wipe(secret: &mut k8s_openapi::api::core::v1::Secret) {
    use zeroize::Zeroize as _;
    for value in secret.data.iter_mut().flat_map(|d| d.values_mut()) {
        value.0.zeroize();
    }
    for value in secret.string_data.iter_mut().flat_map(|d| d.values_mut()) {
        value.zeroize();
    }
}

/// A Kubernetes Secret that holds plaintext (or a private key) in gitseal's hands: a
/// Secret about to be written, or one the API server sent back. Its values are zeroized
/// when it is dropped. What serialization makes of it on the way out (the request body
/// the client builds) is not: see docs/controller.md, "What is zeroized".
#[derive(Default)]
pub struct WipeOnDrop(pub k8s_openapi::api::core::v1::Secret);

impl Drop for WipeOnDrop {
    fn drop(&mut self) {
        wipe(&mut self.0);
    }
}

impl std::ops::Deref for WipeOnDrop {
    type Target = k8s_openapi::api::core::v1::Secret;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for WipeOnDrop {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

/// `namespace/name`, `name` or nothing.
pub fn display_name(namespace: Option<&str>, name: Option<&str>) -> Option<String> {
    match (namespace, name) {
        (Some(ns), Some(n)) => Some(format!("{ns}/{n}")),
        (None, Some(n)) => Some(n.to_owned()),
        (Some(ns), None) => Some(format!("{ns}/<no name>")),
        (None, None) => None,
    }
}
