//! gitseal's custom resources (`SealedSecret`, `KeyRotation`, `ResealRequest`), `gitseal.dev/v1`.
//!
//! ```text
//!  Secret ──gitseal seal──▶ SealedSecret ──apply──▶ controller ──▶ Secret
//!                           (these types)
//! ```
//!
//! This crate holds only the API types and the names of what gitseal keeps in the cluster
//! ([`storage`], [`migration`]): no client, no I/O, no cryptography. The CRD YAML in this directory is
//! generated from the types by `cargo run -p gitseal-crds --bin crdgen` and CI fails when
//! the committed copy drifts.

// `printcolumn(type_ = "string")` repeats by design; clippy reads it as a duplicated attribute.
#![allow(clippy::duplicated_attributes)]

pub mod bounds;
pub mod migration;
pub mod storage;

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};

use crate::bounds::*;
use serde::{Deserialize, Serialize};

/// API group of every gitseal resource.
pub const GROUP: &str = "gitseal.dev";
/// Version of the API: the one gitseal writes, the controller reads and the API server
/// stores.
pub const VERSION: &str = "v1";
/// `apiVersion` as it appears in manifests.
pub const API_VERSION: &str = "gitseal.dev/v1";
/// Earlier versions of the API, still served (same schema, so the API server converts by
/// renaming) and still read by every command; `gitseal convert` rewrites files to
/// [`API_VERSION`]. What each version guarantees: docs/controller.md, "API versions".
pub const OLDER_API_VERSIONS: [&str; 1] = ["gitseal.dev/v1alpha1"];

/// Whether `api_version` is one of gitseal's: [`API_VERSION`] or an older one still served.
pub fn is_api_version(api_version: &str) -> bool {
    api_version == API_VERSION || OLDER_API_VERSIONS.contains(&api_version)
}

/// Desired state of a `SealedSecret`: the sealed values and the Secret they become.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "gitseal.dev",
    version = "v1",
    kind = "SealedSecret",
    namespaced,
    status = "SealedSecretStatus",
    shortname = "sls",
    category = "gitseal",
    derive = "PartialEq",
    doc = "A Secret whose values are sealed with age to the cluster's keys; gitseal-controller unseals it into a Secret of the same name.",
    printcolumn(name = "Ready", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].status"),
    printcolumn(name = "Reason", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].reason"),
    printcolumn(name = "Scope", type_ = "string", json_path = ".spec.scope"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct SealedSecretSpec {
    /// Where the sealed values may be unsealed. It must agree with the scope bound inside
    /// every sealed value; the controller refuses the object otherwise.
    #[serde(default)]
    pub scope: Scope,
    /// Data key → standard base64 of a binary age file (see docs/FORMAT.md).
    #[schemars(schema_with = "sealed_values_schema")]
    pub encrypted_data: BTreeMap<String, String>,
    /// Data key → ids of the keys (recipients) that value is sealed to. Lets the
    /// controller try the right key first and tells an operator which key sealed what.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "key_ids_schema")]
    pub key_ids: BTreeMap<String, Vec<String>>,
    /// Metadata, type and immutability of the Secret the controller writes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<SecretTemplate>,
}

/// Where a sealed value may be unsealed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
    /// Bound to one namespace, one name and one data key.
    #[default]
    Strict,
    /// Bound to one namespace; any name and key within it.
    NamespaceWide,
    /// Bound to nothing: any namespace, name and key.
    ClusterWide,
}

impl Scope {
    /// The name used in manifests, on the command line and in the sealed header.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Strict => "strict",
            Scope::NamespaceWide => "namespace-wide",
            Scope::ClusterWide => "cluster-wide",
        }
    }

    /// Parses the name used in manifests and on the command line.
    pub fn from_name(name: &str) -> Option<Scope> {
        [Scope::Strict, Scope::NamespaceWide, Scope::ClusterWide].into_iter().find(|s| s.as_str() == name)
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The parts of the resulting Secret that are not its data.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretTemplate {
    /// Labels and annotations of the Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<TemplateMetadata>,
    /// The Secret's `type`, e.g. `Opaque` or `kubernetes.io/tls`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = MAX_SECRET_TYPE_LEN))]
    pub type_: Option<String>,
    /// Whether the Secret is immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub immutable: Option<bool>,
}

/// Labels and annotations copied onto the Secret.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TemplateMetadata {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "labels_schema")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "annotations_schema")]
    pub annotations: BTreeMap<String, String>,
}

fn string_map(max_entries: usize, max_value_len: usize) -> Schema {
    json_schema!({
        "type": "object",
        "maxProperties": max_entries,
        "additionalProperties": { "type": "string", "maxLength": max_value_len },
    })
}

fn sealed_values_schema(_: &mut SchemaGenerator) -> Schema {
    string_map(MAX_VALUES, MAX_SEALED_BASE64)
}

fn labels_schema(_: &mut SchemaGenerator) -> Schema {
    string_map(MAX_TEMPLATE_ENTRIES, MAX_LABEL_VALUE_LEN)
}

fn annotations_schema(_: &mut SchemaGenerator) -> Schema {
    string_map(MAX_TEMPLATE_ENTRIES, MAX_ANNOTATION_VALUE_LEN)
}

fn key_id_list() -> serde_json::Value {
    serde_json::json!({
        "type": "array",
        "maxItems": MAX_KEY_IDS,
        "items": { "type": "string", "maxLength": MAX_KEY_ID_LEN },
    })
}

fn key_ids_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "object", "maxProperties": MAX_VALUES, "additionalProperties": key_id_list() })
}

fn item_key_ids_schema(_: &mut SchemaGenerator) -> Schema {
    Schema::try_from(key_id_list()).unwrap_or_default()
}

/// Observed state, in the shape kstatus, Argo CD and Flux read.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SealedSecretStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Standard conditions; gitseal sets `Ready`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The `resourceVersion` of the Secret as the controller last wrote it for this
    /// generation. A controller that starts and finds the Secret still at that version,
    /// and `Ready` for this generation, has nothing to write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub secret_resource_version: Option<String>,
}

/// A request to rotate the key ring: the controller's leader creates a new key, which
/// becomes the published one at once, and records it in the status. Created in the
/// controller's namespace; RBAC on `keyrotations` decides who may rotate, and the objects
/// are the audit trail.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "gitseal.dev",
    version = "v1",
    kind = "KeyRotation",
    namespaced,
    status = "KeyRotationStatus",
    shortname = "krot",
    category = "gitseal",
    derive = "PartialEq",
    doc = "A request to gitseal-controller to create a new key and publish it.",
    printcolumn(name = "Key", type_ = "string", json_path = ".status.key"),
    printcolumn(name = "Ready", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].status"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct KeyRotationSpec {
    /// Why the key is rotated, for the audit trail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = MAX_REASON_LEN))]
    pub reason: Option<String>,
}

/// What the rotation did.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyRotationStatus {
    /// Id of the key the rotation created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Name of the Secret holding it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// `Ready` once the key exists.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

/// A request to re-encrypt sealed values to the cluster's published key (what
/// `gitseal reseal` sends). Created in the controller's namespace with the caller's
/// credentials; RBAC on `resealrequests` decides who may. The request carries only
/// ciphertexts and public keys: where each value may be unsealed is read from the value's
/// own sealed payload, never from the request, and the result is sealed only to the
/// published key and to earlier recipients of that value whose public key is offered.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "gitseal.dev",
    version = "v1",
    kind = "ResealRequest",
    namespaced,
    status = "ResealRequestStatus",
    category = "gitseal",
    derive = "PartialEq",
    doc = "A request to gitseal-controller to re-encrypt sealed values to the published key.",
    printcolumn(name = "Ready", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].status"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct ResealRequestSpec {
    /// Public keys (`age1…`) the caller offers for keeping earlier, non-cluster
    /// recipients such as a break-glass key.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = MAX_OFFERED_RECIPIENTS), inner(length(max = MAX_RECIPIENT_LEN)))]
    pub recipients: Vec<String>,
    /// The values to re-encrypt, in order.
    #[schemars(length(max = MAX_RESEAL_VALUES))]
    pub values: Vec<ResealItem>,
}

/// One sealed value to re-encrypt.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResealItem {
    /// Standard base64 of the age file, as in `spec.encryptedData`.
    #[schemars(length(max = MAX_SEALED_BASE64))]
    pub ciphertext: String,
    /// The key ids recorded beside it (a hint for which key to try first).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "item_key_ids_schema")]
    pub key_ids: Vec<String>,
}

/// The result, one entry per requested value, in order.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResealRequestStatus {
    /// Results in request order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<ResealResult>,
    /// `Ready` once every value has a result.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

/// What became of one value.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResealResult {
    /// The re-encrypted value, when it could be opened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ciphertext: Option<String>,
    /// Key ids the new value is sealed to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub key_ids: Vec<String>,
    /// Earlier recipients not kept: their public key was not offered, or the value names
    /// them only by a 64-bit key id (format 1), which cannot prove who holds a key.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dropped: Vec<String>,
    /// Earlier recipients never kept because the cluster retired them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retired: Vec<String>,
    /// Why the value could not be re-encrypted (a fixed reason and a message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Every CRD of gitseal as `(file name in crds/, YAML)`, exactly as committed.
pub fn crd_files() -> Result<Vec<(&'static str, String)>, serde_saphyr::ser::Error> {
    use kube::CustomResourceExt;
    Ok(vec![
        ("sealedsecret.yaml", serde_saphyr::to_string(&with_older_versions(SealedSecret::crd()))?),
        ("keyrotation.yaml", serde_saphyr::to_string(&with_older_versions(KeyRotation::crd()))?),
        ("resealrequest.yaml", serde_saphyr::to_string(&with_older_versions(ResealRequest::crd()))?),
    ])
}

/// The CRD serving [`OLDER_API_VERSIONS`] beside [`VERSION`], with the same schema (so the
/// API server converts between them by renaming, without a webhook), deprecated; the
/// storage version stays [`VERSION`].
fn with_older_versions(
    mut crd: k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
) -> k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition {
    let current = crd.spec.versions.iter().find(|v| v.name == VERSION).cloned();
    for older in OLDER_API_VERSIONS.iter().filter_map(|v| v.strip_prefix("gitseal.dev/")) {
        if let Some(mut version) = current.clone() {
            version.name = older.to_owned();
            version.storage = false;
            version.deprecated = Some(true);
            version.deprecation_warning = Some(format!(
                "{GROUP}/{older} {kind} is deprecated: use {API_VERSION} (`gitseal convert FILE` rewrites a file)",
                kind = crd.spec.names.kind
            ));
            crd.spec.versions.push(version);
        }
    }
    crd
}
