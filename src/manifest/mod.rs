//! The manifest model: multi-document YAML/JSON streams of Secrets and SealedSecrets.
//!
//! ```text
//!  text ──parse_documents──▶ [Document::Secret | Document::Sealed | Document::Other]
//!  SealedSecret / Secret ──render──▶ YAML or JSON text
//! ```
//!
//! Parsing streams each document into a shape that never buffers a Secret's values in
//! ordinary strings: `data` / `stringData` values land directly in zeroizing buffers,
//! and parse errors carry positions, never snippets of the input.
//!
//! ```text
//!  secret   PlainSecret, and the Kubernetes Secrets that hold plaintext (WipeOnDrop)
//!  lenient  the shapes a document is first read into (values straight into zeroizing buffers)
//!  parse    those shapes converted into Documents
//!  render   objects back to YAML or JSON
//! ```

#[macro_use]
mod lenient;
mod parse;
mod render;
mod secret;

pub use parse::{Document, Located, objects, parse_documents};
pub use render::{OutputFormat, render, render_list};
pub use secret::{DEFAULT_TYPE, PlainSecret, WipeOnDrop, display_name, secret_type, wipe};
