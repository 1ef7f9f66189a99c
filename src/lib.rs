//! gitseal core: the sealed-value format, scopes, key ids, key rings and the
//! Secret / SealedSecret manifest model.
//!
//! ```text
//!   Secret YAML ──parse──▶ PlainSecret ──seal_secret──▶ SealedSecret ──to_yaml──▶ Git
//!                              ▲                            │
//!                              └────────unseal_secret───────┘  (controller, admin)
//! ```
//!
//! This crate does no I/O: it works on bytes, strings and typed values. Files, terminals,
//! clocks and the Kubernetes API belong to the `gitseal` CLI and `gitseal-controller`.
//! The on-the-wire format is specified in `docs/FORMAT.md`. The feature `incumbent` (on
//! by default; the controller goes without) adds opening and migrating the incumbent's
//! (bitnami sealed-secrets) values, and with it RSA and AES-GCM.

mod backup;
mod binding;
mod build_info;
mod cluster_key;
pub mod documents;
pub mod envelope;
mod error;
#[cfg(feature = "incumbent")]
pub mod incumbent;
pub mod key_secrets;
mod keys;
#[macro_use]
pub mod manifest;
mod scope_rule;
mod seal;
pub mod template_policy;
pub mod validate;
pub mod value_spans;
pub mod verify;

pub use backup::{KeyBackup, decrypt_file, encrypt_file};
pub use binding::{Binding, BindingError, Moved, Payload, SealedTo};
pub use build_info::BuildInfo;

/// The sealed-value formats this library opens (docs/FORMAT.md), by payload header tag.
pub const FORMATS_READ: [&str; 2] = [binding::HEADER_TAG_V1, binding::HEADER_TAG];
/// The sealed-value format it writes.
pub const FORMAT_WRITTEN: &str = binding::HEADER_TAG;
pub use cluster_key::ClusterKey;
pub use error::{Error, Result, UnsealError};
pub use gitseal_crds as crds;
pub use gitseal_crds::storage::KeyStatus;
pub use gitseal_crds::{Scope, SealedSecret, SealedSecretSpec, SecretTemplate};
pub use keys::{KeyId, KeyRing, Recipients, generate_identity, identity_file, key_name};
pub use manifest::PlainSecret;
pub use scope_rule::{ScopeError, ScopeRule};
pub use seal::{
    Budget, Opened, Resealed, SealedValue, open_value, reseal_value, seal_secret, seal_value, unseal_secret,
    unseal_value, visible_binding,
};

/// Largest total size of a Secret's data that Kubernetes accepts (1 MiB).
pub const MAX_SECRET_SIZE: usize = 1024 * 1024;
