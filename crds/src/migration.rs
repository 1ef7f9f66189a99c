//! The names that tie a migrated SealedSecret to the incumbent's (bitnami sealed-secrets):
//! what the controller needs to take over the incumbent's Secrets, apart from the code that
//! opens the incumbent's values (`gitseal::incumbent`, which only `gitseal migrate` needs).
//!
//! ```text
//!  bitnami.com SealedSecret db ──gitseal migrate──▶ gitseal.dev SealedSecret db
//!        │ controls                                  annotated gitseal.dev/migrated-from: sealed-secrets
//!        ▼                                                 │
//!     Secret db ◀──────── taken over by gitseal-controller ┘
//! ```

/// The incumbent's `apiVersion`.
pub const INCUMBENT_API_VERSION: &str = "bitnami.com/v1alpha1";
/// The start of every `apiVersion` of the incumbent's API group, whatever its version.
pub const INCUMBENT_GROUP_PREFIX: &str = "bitnami.com/";
/// Annotation `gitseal migrate` puts on each SealedSecret it writes: the object replaces
/// the incumbent's SealedSecret of the same name, whose Secret gitseal-controller may
/// therefore take over (docs/migrating-from-sealed-secrets.md).
pub const MIGRATED_FROM: &str = "gitseal.dev/migrated-from";
/// The value of [`MIGRATED_FROM`] for the incumbent.
pub const SEALED_SECRETS: &str = "sealed-secrets";
