//! The fuzz corpus as a regression suite, on the stable toolchain: every file under
//! `fuzz/corpus/<target>/` and `fuzz/regressions/<target>/` goes through the body its
//! fuzz target runs (`fuzz/src/lib.rs`, included here), and none may panic.
//!
//! ```text
//!  tests/vectors/, crds/, deploy/, generated keys ──seed──▶ fuzz/corpus/<target>/
//!  fuzz/run (nightly, libFuzzer) ──grows, minimizes──▶ fuzz/corpus/<target>/
//!  fuzz/corpus/ + fuzz/regressions/ ──replay (this file)──▶ no panic
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests state their expectations by unwrapping

#[path = "../fuzz/src/lib.rs"]
mod targets;

use std::fs;
use std::io::Read as _;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::str::FromStr as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use gitseal::manifest::{OutputFormat, render};
use gitseal::{
    ClusterKey, KeyBackup, KeyRing, KeyStatus, PlainSecret, Recipients, Scope, encrypt_file, generate_identity,
    identity_file, seal_secret,
};
use secrecy::ExposeSecret as _;
use zeroize::Zeroizing;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// The files of `dir`, sorted; none when it is absent.
fn files_in(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else { return Vec::new() };
    let mut files: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).filter(|p| p.is_file()).collect();
    files.sort();
    files
}

#[test]
fn corpus_and_regressions_replay_without_panic() {
    let mut failures = Vec::new();
    for (target, body) in targets::TARGETS {
        let corpus = files_in(&fuzz_dir().join("corpus").join(target));
        assert!(!corpus.is_empty(), "fuzz/corpus/{target}/ holds no input");
        for file in corpus.iter().chain(&files_in(&fuzz_dir().join("regressions").join(target))) {
            let data = fs::read(file).unwrap();
            if catch_unwind(AssertUnwindSafe(|| body(&data))).is_err() {
                failures.push(format!("{target}: {}", file.display()));
            }
        }
    }
    assert!(failures.is_empty(), "inputs that panic:\n{}", failures.join("\n"));
}

/// Found by `manifest`: `document_spans` ignored document-end lines (`...`) and lone-CR
/// line breaks, took directive lines (`%YAML`) and a byte-order mark before a comment for
/// content, and a byte-order mark inside the stream for none, so its spans disagreed with
/// the parser's documents; `set` and `unset`, which splice the SealedSecret back by the
/// parser's index, then replaced the wrong range: a document after `...` was deleted
/// along with the SealedSecret.
#[test]
fn manifest_spans_split_as_the_parser_does() {
    let dir = fuzz_dir().join("regressions/manifest");
    for name in [
        "crash-e38f7d51-document-end-then-bare-scalar",
        "document-end-marker",
        "directives",
        "crash-6b7025b3-carriage-return-breaks",
        "carriage-return-breaks",
        "byte-order-mark-before-comment",
        "crash-3be62a61-byte-order-mark-inside-stream",
    ] {
        targets::manifest(&fs::read(dir.join(name)).unwrap());
    }
    let text = fs::read_to_string(dir.join("document-end-marker")).unwrap();
    let out = gitseal::documents::splice(&text, &[(0, "kind: Secret\n".into())]);
    assert_eq!(out, text.replace("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: before}\n", "kind: Secret\n"));
    let text = fs::read_to_string(dir.join("carriage-return-breaks")).unwrap();
    let out = gitseal::documents::splice(&text, &[(1, "kind: Secret\r".into())]);
    assert!(out.starts_with("apiVersion: v1\rkind: ConfigMap\rmetadata: {name: before}\r---\r"), "{out:?}");
    assert!(out.ends_with("---\rkind: Secret\r"), "{out:?}");
}

/// Found by `manifest`, not fixed: the parser drops documents that are null (`null`, `~`,
/// a bare `&anchor`), so the SealedSecret after one has a parser index one below its
/// span's, and `set`/`unset` would splice it into the null document's place, leaving the
/// old SealedSecret in the file. The fuzz target allows for this until it is fixed.
#[test]
#[ignore = "known: parse_documents drops null documents (fuzz/README.md, findings)"]
fn manifest_null_documents_count_as_documents() {
    let dir = fuzz_dir().join("regressions/manifest");
    for name in ["null-document", "crash-341d5a33-anchored-null-document"] {
        let text = fs::read_to_string(dir.join(name)).unwrap();
        let docs = gitseal::manifest::parse_documents(&text).unwrap();
        assert_eq!(docs.len(), gitseal::documents::document_spans(&text).len(), "{name}");
    }
}

/// Writes seed inputs made from the repository's real inputs into the corpus directories
/// that are empty or absent (a grown corpus is minimized under other names, so seeds are
/// never written twice). Run after adding a target, then let `fuzz/run` grow it:
///
/// ```console
/// cargo test -p gitseal --test fuzz_corpus -- --ignored seed
/// ```
#[test]
#[ignore = "writes fuzz/corpus/; run by hand when adding a target"]
fn seed() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let corpus = |target: &str| fuzz_dir().join("corpus").join(target);
    let empty: Vec<&str> =
        targets::TARGETS.iter().map(|(t, _)| *t).filter(|t| files_in(&corpus(t)).is_empty()).collect();
    let write = |target: &str, name: &str, data: &[u8]| {
        if empty.contains(&target) {
            fs::create_dir_all(corpus(target)).unwrap();
            fs::write(corpus(target).join(format!("seed-{name}")), data).unwrap();
        }
    };

    // Sealed values: the test vectors, as text, as the binary age file, and its payload.
    for path in files_in(&root.join("tests/vectors")) {
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let text = fs::read_to_string(&path).unwrap();
        let Some((head, body)) = text.split_once("\n\n") else { continue };
        if name.ends_with(".rs") || name == "README.md" {
            continue;
        }
        write("value", &name, body.as_bytes());
        let Ok(file) = STANDARD.decode(body.trim()) else { continue };
        write("value_bytes", &name, &file);
        write("envelope", &name, &file);
        let identities: Vec<&str> = head.lines().filter_map(|l| l.strip_prefix("identity: ")).collect();
        if let Some(payload) = decrypt(&file, &identities) {
            write("payload", &name, &payload);
        }
    }

    // Manifests: the repository's own YAML, and a Secret with the SealedSecret it seals to.
    for dir in ["crds", "deploy"] {
        for path in files_in(&root.join(dir)) {
            let name = format!("{dir}-{}", path.file_name().unwrap().to_str().unwrap());
            write("manifest", &name, &fs::read(&path).unwrap());
        }
    }
    let secret_yaml = "apiVersion: v1\nkind: Secret\nmetadata: {name: db, namespace: prod, labels: {app: db}}\ntype: Opaque\ndata: {password: aHVudGVyMg==}\nstringData: {user: admin}\n";
    write("manifest", "secret", secret_yaml.as_bytes());
    let ring = targets::ring();
    let recipients = Recipients::new(ring.recipients()).unwrap();
    let mut secret = PlainSecret { name: Some("db".into()), namespace: Some("prod".into()), ..Default::default() };
    secret.data.insert("password".into(), Zeroizing::new(b"hunter2".to_vec()));
    let sealed = seal_secret(&secret, Scope::Strict, None, &recipients, 1).unwrap();
    let yaml = render(std::slice::from_ref(&sealed), OutputFormat::Yaml).unwrap();
    write("manifest", "sealed", yaml.as_bytes());
    write("manifest", "sealed-json", render(&[sealed], OutputFormat::Json).unwrap().as_bytes());
    write("manifest", "stream", format!("# repo header\n---\n{secret_yaml}--- # next\n{yaml}...\n").as_bytes());

    // Key backups: rendered, and encrypted to the fuzz ring as `keys export` writes them.
    let keys = vec![
        ClusterKey::new(
            identity(targets::TEST_IDENTITY),
            "gitseal-key-1",
            "2026-01-01T00:00:00Z".parse().unwrap(),
            KeyStatus::Retired,
        )
        .unwrap(),
        ClusterKey::new(
            generate_identity(),
            "gitseal-key-2",
            "2026-02-01T00:00:00Z".parse().unwrap(),
            KeyStatus::Published,
        )
        .unwrap(),
    ];
    let backup = KeyBackup::new(keys).unwrap().render();
    write("backup", "rendered", backup.as_bytes());
    write("backup", "encrypted", &encrypt_file(backup.as_bytes(), &recipients).unwrap());

    // Recipients and identity files, as `keygen`, `fetch-key` and users write them.
    let mut two = KeyRing::parse_identity_file(&backup).unwrap();
    two.push(generate_identity());
    let to_file = Recipients::new(two.recipients()).unwrap().to_file();
    write("recipients", "recipients", to_file.as_bytes());
    let keygen = identity_file(&identity(targets::TEST_IDENTITY), "2026-01-01T00:00:00Z");
    write("recipients", "identity", keygen.expose_secret().as_bytes());
    write("recipients", "backup", backup.as_bytes());
}

fn identity(key: &str) -> age::x25519::Identity {
    age::x25519::Identity::from_str(key).unwrap()
}

/// The payload of a binary age file, opened with any of `keys`.
fn decrypt(file: &[u8], keys: &[&str]) -> Option<Vec<u8>> {
    let identities: Vec<age::x25519::Identity> = keys.iter().map(|k| identity(k)).collect();
    let decryptor = age::Decryptor::new_buffered(file).ok()?;
    let mut reader = decryptor.decrypt(identities.iter().map(|i| i as &dyn age::Identity)).ok()?;
    let mut payload = Vec::new();
    reader.read_to_end(&mut payload).ok()?;
    Some(payload)
}
