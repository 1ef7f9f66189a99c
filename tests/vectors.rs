//! The sealed-format test vectors of `tests/vectors/` (see its README.md and
//! docs/FORMAT.md): every file is unsealed and must give exactly the outcome its
//! `expect:` line names; success vectors are also opened with the stock `age` tool.

#![allow(clippy::unwrap_used)] // tests state their expectations by unwrapping

#[path = "vectors/craft.rs"]
mod craft;
#[path = "vectors/generate.rs"]
mod generate;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use gitseal::{Binding, KeyRing, Scope, UnsealError, unseal_value};
use sha2::{Digest, Sha256};

const OUTCOMES: [&str; 7] = ["success", "base64", "malformed", "no-match", "tampered", "scope-mismatch", "bad-payload"];
const FIELDS: [&str; 10] = [
    "expect",
    "identity",
    "scope",
    "namespace",
    "name",
    "key",
    "key-ids",
    "plaintext-hex",
    "plaintext-sha256",
    "comment",
];

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

/// One parsed vector file.
struct Vector {
    file: String,
    fields: BTreeMap<String, Vec<String>>,
    value: String,
}

impl Vector {
    fn parse(path: &Path) -> Result<Vector, String> {
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(path).map_err(|e| format!("unreadable: {e}"))?;
        let (head, body) = text.split_once("\n\n").ok_or("no blank line after the header")?;
        let mut fields: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for line in head.lines() {
            let (k, v) = line.split_once(':').ok_or_else(|| format!("header line {line:?} is not `key: value`"))?;
            if !FIELDS.contains(&k) {
                return Err(format!("unknown header field {k:?}"));
            }
            fields.entry(k.to_owned()).or_default().push(v.trim_start().to_owned());
        }
        let value = body.strip_suffix('\n').unwrap_or(body).to_owned();
        Ok(Vector { file, fields, value })
    }

    fn one(&self, field: &str) -> Option<&str> {
        self.fields.get(field).and_then(|v| v.last()).map(String::as_str)
    }

    fn expect(&self) -> Result<&str, String> {
        let expect = self.one("expect").ok_or("no expect: line")?;
        OUTCOMES.contains(&expect).then_some(expect).ok_or_else(|| format!("unknown expect: {expect:?}"))
    }

    fn identity_file(&self) -> String {
        self.fields.get("identity").map(|ids| ids.join("\n") + "\n").unwrap_or_default()
    }

    fn binding(&self) -> Result<Binding, String> {
        let scope = self.one("scope").and_then(Scope::from_name).ok_or("missing or unknown scope:")?;
        Binding::new(scope, self.one("namespace"), self.one("name"), self.one("key").ok_or("no key:")?)
            .map_err(|e| e.to_string())
    }

    /// The recorded key ids, read as an unsealer reads `spec.keyIds`.
    fn hint(&self) -> Vec<gitseal::KeyId> {
        let recorded: Vec<String> =
            self.one("key-ids").map(|ids| ids.split_whitespace().map(str::to_owned).collect()).unwrap_or_default();
        gitseal::KeyId::hints(&recorded)
    }

    /// Checks a recovered value against `plaintext-hex:` or `plaintext-sha256:`.
    fn check_plaintext(&self, got: &[u8]) -> Result<(), String> {
        let hex = |b: &[u8]| b.iter().map(|b| format!("{b:02x}")).collect::<String>();
        match (self.one("plaintext-hex"), self.one("plaintext-sha256")) {
            (Some(want), None) if hex(got) == want => Ok(()),
            (None, Some(want)) if hex(&Sha256::digest(got)) == want => Ok(()),
            (None, None) => Err("a success vector needs plaintext-hex: or plaintext-sha256:".into()),
            _ => Err(format!("recovered {} bytes that differ from the expected plaintext", got.len())),
        }
    }

    /// Unseals with the library and compares with `expect:`.
    fn check(&self) -> Result<(), String> {
        let expect = self.expect()?;
        let ring = KeyRing::parse_identity_file(&self.identity_file()).map_err(|e| e.to_string())?;
        match unseal_value(&self.value, &self.binding()?, &ring, &self.hint()) {
            Ok(value) if expect == "success" => self.check_plaintext(&value),
            Ok(_) => Err(format!("unsealed, but expected {expect}")),
            Err(e) if class(&e) == expect => Ok(()),
            Err(e) => Err(format!("expected {expect}, got {} ({e})", class(&e))),
        }
    }
}

fn class(e: &UnsealError) -> &'static str {
    match e {
        UnsealError::Base64 => "base64",
        UnsealError::Malformed(_) => "malformed",
        UnsealError::NoMatchingKey(_) => "no-match",
        UnsealError::Tampered => "tampered",
        UnsealError::ScopeMismatch { .. } => "scope-mismatch",
        UnsealError::BadPayload => "bad-payload",
        _ => "an error class this test does not know",
    }
}

/// Every vector file: all files of the directory but README.md and the generator.
fn vectors() -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && p.extension().is_none_or(|ext| ext != "md" && ext != "rs"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no vector files in {}", dir().display());
    paths
}

#[test]
fn every_vector_gives_its_expected_outcome() {
    let failures: Vec<String> = vectors()
        .iter()
        .filter_map(|path| {
            let result = Vector::parse(path).and_then(|v| v.check());
            result.err().map(|e| format!("{}: {e}", path.file_name().unwrap().to_string_lossy()))
        })
        .collect();
    assert!(failures.is_empty(), "{} vector(s) failed:\n{}", failures.len(), failures.join("\n"));
}

/// The recovery recipe of docs/FORMAT.md, exactly as written there.
const RECIPE: &str = r#"set -o pipefail; echo "$VALUE" | base64 -d | age -d -i "$KEYFILE" | tail -n +2"#;

#[test]
fn success_vectors_open_with_the_stock_age_tool() {
    let age_present = Command::new("age").arg("--version").stdout(Stdio::null()).status().is_ok_and(|s| s.success());
    if !age_present {
        assert!(std::env::var_os("CI").is_none(), "CI must install the age CLI (apt-get install age)");
        eprintln!("note: the age CLI is not installed; skipping the cross-check with stock age");
        return;
    }
    let keyfile = Path::new(env!("CARGO_TARGET_TMPDIR")).join("gitseal-vector-identities.txt");
    let mut failures = Vec::new();
    for path in vectors() {
        let v = Vector::parse(&path).unwrap();
        if v.expect().unwrap() != "success" {
            continue;
        }
        std::fs::write(&keyfile, v.identity_file()).unwrap();
        let out = Command::new("bash")
            .args(["-c", RECIPE])
            .env("VALUE", &v.value)
            .env("KEYFILE", &keyfile)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let result = if out.status.success() {
            v.check_plaintext(&out.stdout)
        } else {
            Err(format!("recipe failed: {}", String::from_utf8_lossy(&out.stderr).trim()))
        };
        if let Err(e) = result {
            failures.push(format!("{}: {e}", v.file));
        }
    }
    std::fs::remove_file(&keyfile).ok();
    assert!(failures.is_empty(), "stock age disagrees:\n{}", failures.join("\n"));
}

#[test]
#[ignore = "writes tests/vectors/; run with --ignored regenerate when adding vectors"]
fn regenerate() {
    generate::regenerate(&dir());
}
