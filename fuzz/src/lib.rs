//! The bodies of gitseal's fuzz targets, one plain function per target.
//!
//! ```text
//!  fuzz_targets/<t>.rs ──libFuzzer (nightly)──┐
//!                                             ├──▶ <t>(bytes) ──▶ gitseal parser
//!  tests/fuzz_corpus.rs ──corpus (stable)─────┘
//! ```
//!
//! Each function must return normally on every input: a panic is a finding. Where a
//! parser has a writer beside it, a successful parse is also written back and parsed
//! again, and the two must agree. The replay test includes this file with `#[path]`, so
//! it uses nothing but `gitseal`, `base64` and `std`.

use std::borrow::Cow;
use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use gitseal::envelope::{Envelope, Limits};
use gitseal::manifest::parse_documents;
use gitseal::{Binding, KeyBackup, KeyRing, Recipients, decrypt_file, documents, open_value, seal_value};

/// Identity A of the test vectors and the worked example of docs/FORMAT.md §11: public,
/// test-only. The seeds of `value` hold values sealed to it, so the fuzzer starts past
/// the key check.
pub const TEST_IDENTITY: &str = "AGE-SECRET-KEY-17PF7JC9N5Q5WEWYD5QJ5U6K6MJZMDE3W95HRT0S74LSAGA768XFS4GU5P3";

/// The body of a fuzz target.
pub type Body = fn(&[u8]);

/// Every target, by the name of its binary and corpus directory.
pub const TARGETS: [(&str, Body); 7] = [
    ("value", value),
    ("value_bytes", value_bytes),
    ("envelope", envelope),
    ("payload", payload),
    ("manifest", manifest),
    ("backup", backup),
    ("recipients", recipients),
];

/// The key ring of [`TEST_IDENTITY`], parsed once.
pub fn ring() -> &'static KeyRing {
    static RING: OnceLock<KeyRing> = OnceLock::new();
    RING.get_or_init(|| {
        #[allow(clippy::expect_used)] // a fixed constant: failing here is a broken harness, found at once
        KeyRing::parse_identity_file(TEST_IDENTITY).expect("the test identity parses")
    })
}

/// The input as the text a caller would hand over: invalid UTF-8 replaced, as a file
/// read lossily would be.
fn text(data: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(data)
}

/// A sealed value as it stands in `spec.encryptedData`: base64 text.
pub fn value(data: &[u8]) {
    open(&text(data));
}

/// Raw bytes as the binary age file inside a sealed value, so the fuzzer mutates the
/// age header and stream directly rather than their base64.
pub fn value_bytes(data: &[u8]) {
    open(&STANDARD.encode(data));
}

fn open(ciphertext: &str) {
    if let Ok(opened) = open_value(ciphertext, ring(), &[]) {
        assert!(opened.binding.coordinates_valid(), "open_value let through a binding with invalid coordinates");
    }
}

/// A binary age file through the linear pre-parser that guards age's own header parser.
/// What it accepts has a header that ends where it says, inside the file.
pub fn envelope(data: &[u8]) {
    if let Ok(envelope) = Envelope::parse(data, &Limits::VALUE) {
        let header = data.get(..envelope.header_len);
        assert!(header.is_some_and(|h| h.ends_with(b"\n")), "header_len {} is not a line end", envelope.header_len);
    }
}

/// A decrypted payload: header line, then the value. A payload that splits is sealed
/// again with its binding (which writes the header anew) and opened: the binding and
/// value must come back unchanged.
pub fn payload(data: &[u8]) {
    let Ok(split) = Binding::split_payload(data) else { return };
    assert!(split.binding.coordinates_valid(), "split_payload let through a binding with invalid coordinates");
    let Ok(recipients) = Recipients::new(ring().recipients()) else { return };
    let Ok(sealed) = seal_value(split.value, &split.binding, &recipients) else { return };
    let reopened = match open_value(&sealed.ciphertext, ring(), &[]) {
        Ok(reopened) => reopened,
        Err(e) => panic!("a value sealed from a parsed payload does not open: {e}"),
    };
    assert_eq!(reopened.binding, split.binding, "the header did not round-trip");
    assert_eq!(&reopened.value[..], split.value, "the value did not round-trip");
    assert_eq!(reopened.sealed_to.ids(), recipients.ids(), "the to= field did not round-trip");
}

/// A manifest stream: YAML or JSON documents. Document spans must lie on character
/// boundaries, in order, and, when the stream parses, count the documents the parser
/// found (the CLI replaces documents by that index).
pub fn manifest(data: &[u8]) {
    let text = text(data);
    let spans = documents::document_spans(&text);
    for pair in spans.windows(2) {
        assert!(pair[0].end <= pair[1].start, "document spans overlap or are out of order: {spans:?}");
    }
    for span in &spans {
        assert!(text.get(span.clone()).is_some(), "document span {span:?} is not a slice of the text");
    }
    assert_eq!(documents::splice(&text, &[]), text, "splice with no replacement changed the text");
    if let Ok(docs) = parse_documents(&text) {
        // Known, reported: the parser drops null documents (`~`, `null`, a bare `&anchor`),
        // which no line scanner can tell; count only the spans that are a document alone.
        let documents = spans.iter().filter(|s| parse_documents(&text[(*s).clone()]).map_or(true, |d| !d.is_empty()));
        assert_eq!(docs.len(), documents.count(), "the parser and document_spans count documents differently");
    }
}

/// A key backup: the encrypted file (`keys import` decrypts it) and the identity file
/// inside it. A backup that parses is rendered and parsed again: the keys must agree.
pub fn backup(data: &[u8]) {
    if let Ok(plain) = decrypt_file(data, ring()) {
        backup_text(&text(&plain));
    }
    backup_text(&text(data));
}

fn backup_text(text: &str) {
    let Ok(parsed) = KeyBackup::parse(text) else { return };
    let again = match KeyBackup::parse(&parsed.render()) {
        Ok(again) => again,
        Err(e) => panic!("a rendered backup does not parse: {e}"),
    };
    let fields = |b: &KeyBackup| -> Vec<(String, String, String, &'static str)> {
        b.keys()
            .iter()
            .map(|k| (k.id().to_string(), k.secret().to_owned(), k.created().to_string(), k.status().as_str()))
            .collect()
    };
    assert_eq!(fields(&parsed), fields(&again), "the backup did not round-trip");
}

/// An age recipients file (`.gitseal-recipients`, `-R`) and an identity file (`-i`). A
/// recipients file that parses is written out again and must give the same key ids.
pub fn recipients(data: &[u8]) {
    let text = text(data);
    if let Ok(list) = Recipients::parse_file(&text)
        && let Ok(set) = Recipients::new(list)
    {
        let again = match Recipients::parse_file(&set.to_file()).and_then(Recipients::new) {
            Ok(again) => again,
            Err(e) => panic!("a written recipients file does not parse: {e}"),
        };
        assert_eq!(again.ids(), set.ids(), "the recipients file did not round-trip");
    }
    if let Ok(ring) = KeyRing::parse_identity_file(&text) {
        assert_eq!(ring.recipients().len(), ring.len());
    }
}
