//! Size and shape limits of gitseal's objects, enforced by the API server through the
//! CRD schemas and by the core before it does any work on a value.
//!
//! ```text
//!  kubectl apply ──▶ API server: schema bounds (maxLength, maxProperties, maxItems)
//!                        │ refused here: never stored, never watched, never reconciled
//!                        ▼
//!                    controller ──▶ core: the shape of each age file (gitseal::envelope)
//!                                         key trials per object (gitseal::Budget)
//! ```
//!
//! Every bound leaves room over what gitseal or stock `age` ever writes: a Secret holds at
//! most 1 MiB, and a value sealed to 63 recipients with the grease stanza still fits.

/// Largest binary age file of one sealed value: a 1 MiB value, its payload header line,
/// its STREAM tags and an age header of up to 16 KiB, with room to spare.
pub const MAX_SEALED_FILE: usize = 1024 * 1024 + 64 * 1024;
/// Longest standard base64 text of one sealed value.
pub const MAX_SEALED_BASE64: usize = MAX_SEALED_FILE.div_ceil(3) * 4;
/// Most stanzas in one value's age header: the recipients, the grease stanza age adds
/// and gitseal's scope stanza.
pub const MAX_STANZAS: usize = 65;
/// Most key ids recorded beside one value: one per recipient.
pub const MAX_KEY_IDS: usize = MAX_STANZAS - 2;
/// Longest key id (128-bit ids are 32 hex digits, the legacy 64-bit ones 16; room for longer).
pub const MAX_KEY_ID_LEN: usize = 64;
/// Most data keys of one SealedSecret (Kubernetes sets no limit; real Secrets hold tens).
pub const MAX_VALUES: usize = 1024;
/// Longest data key, as Kubernetes allows.
pub const MAX_DATA_KEY_LEN: usize = 253;
/// Most labels, and most annotations, of a template.
pub const MAX_TEMPLATE_ENTRIES: usize = 128;
/// Longest label value, as Kubernetes allows.
pub const MAX_LABEL_VALUE_LEN: usize = 63;
/// Longest annotation value: Kubernetes' limit for all annotations of an object together.
pub const MAX_ANNOTATION_VALUE_LEN: usize = 256 * 1024;
/// Longest Secret `type`.
pub const MAX_SECRET_TYPE_LEN: usize = 253;
/// Values `gitseal reseal` sends in one ResealRequest: the answer to 100 of the
/// largest common values stays far under the object size limit.
pub const RESEAL_BATCH: usize = 100;
/// Most values in one ResealRequest.
pub const MAX_RESEAL_VALUES: usize = 1000;
/// Most public keys offered in one ResealRequest.
pub const MAX_OFFERED_RECIPIENTS: usize = 64;
/// Longest offered public key (an X25519 `age1…` is 62 characters; room for others).
pub const MAX_RECIPIENT_LEN: usize = 2048;
/// Longest reason text of a KeyRotation.
pub const MAX_REASON_LEN: usize = 1024;
