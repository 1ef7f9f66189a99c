//! Writes the vector files of this directory that do not exist yet:
//!
//! ```text
//! cargo test -p gitseal --test vectors -- --ignored regenerate
//! ```
//!
//! Sealing is randomised, so a written file never comes out the same twice: the committed
//! files are the reference from then on, and existing ones are left alone (unless
//! `GITSEAL_VECTORS_REWRITE=1`), so that old files keep testing that old values still
//! open. Well-formed values come from
//! `gitseal::seal_value`; payloads the library refuses to write (other headers, other
//! versions) come from the `age` crate directly; damaged files come from byte surgery.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use gitseal::{Binding, KeyId, Recipients, Scope, seal_value};

use crate::craft::{
    age_to, age_with_scope, armor, bytes_of, edit_header, header_end, mac_line, raw_age, recipient, scrypt_age,
    tamper_mac,
};
use crate::craft::{tamper_stanza_body, wrap};

/// Test-only identities. They are public: never seal anything real to them.
pub const KEY_A: &str = "AGE-SECRET-KEY-17PF7JC9N5Q5WEWYD5QJ5U6K6MJZMDE3W95HRT0S74LSAGA768XFS4GU5P3";
/// Second recipient of the multi-recipient vectors.
pub const KEY_B: &str = "AGE-SECRET-KEY-1PGJM4TQFH2WU7JH35FZ36A80KWA9C5WC0L490MNML3VFTGJ3V60QJ709SZ";
/// Never a recipient: the "wrong key" and the other keys of a ring.
pub const KEY_C: &str = "AGE-SECRET-KEY-1KRUKA5598RF2XQK7DYMX43ULL9Z5LVS7GD8G23WLDW5HWHELDLHQ8RF7K6";

/// The worked example of docs/FORMAT.md, sealed by `gitseal seal` to [`KEY_A`] for
/// prod/db key password: kept verbatim so the document's example stays true.
const WORKED_EXAMPLE: &str = "YWdlLWVuY3J5cHRpb24ub3JnL3YxCi0+IFgyNTUxOSBBSlBYL29vMUUzNUVUbVowTmtZZ3JVVWluTXBlVTR2OUwzSzZzNWFRcmw4CmNSK2pycmZVMFlURUNWVWEzamhPeXFTZXBaRnVCWGhoOVExYnp2MFB6MmMKLT4gaTd3QlktZ3JlYXNlICRWZE4KbmJhZFNwazNSNGN1bElQUUo2eDVUZXJEb0wzL0NRbzdScTRnK3NFSm0xR2JBekZSVVRmQzFwemxSaXNZa0RyQQpXMmZ2QTdHUFJvdTB0TFZ3Y3FhaC9Vak9GQQotLS0gTUsyR1d5akZoZnBpK3hEUkRkdGhNdUNlOVNhazZhaVBLVDZCUU1uODBUQQr4ZanIzZ2cjg2C4MukZfPSjIvXHDLXRxstJ5HCnduOOeavq3jbO544ErinmDK7Yzt/h34fBttCWkpQTqwWS0yQT5igsZFkrnJsxA==";

/// The worked example of docs/FORMAT.md for format 2, made by the same command.
const WORKED_EXAMPLE_V2: &str = "YWdlLWVuY3J5cHRpb24ub3JnL3YxCi0+IFgyNTUxOSBWcm45ZDA0dGMxNlVsMG85ME9ucjhpNVZyM0RYMDhYVk12SWxWczlPMEV3CmJUeGFXaXFXbHVwYkRLRWJ2aVhweFZOVVVGS1M2T1UwR3dzMkN6MWdSR2MKLT4gZ2l0c2VhbC1zY29wZSBzdHJpY3QgcHJvZCBkYiBwYXNzd29yZAoKLT4gJ1AtZ3JlYXNlIFVAJTJyICZKJWlIOgpraVFMQmlIOUlIdVhPdnpCYmhHMEI2QmNYbE5iNnNoWWtGNzVrdlJzYm5FL1RYelhieWpyRHFVOU5iYkFiUHhXCllzZ3pRbG5JVGcKLS0tIG9oVU9CdFoxblM3SnQrdWsreFc5dTJaU2dROVJzbUt5OFBqZ0ZxRDZWUVUKsbUHmquAI/uPqTTFYVIICuDbQ0OoAXnI4qTa4sX/YPQSW0ezbdX1+h5prddm1i+kyzbmiYZkryo2b9XNNRMoY7YxJEhm04G+p5su9tFy8S6fryu2Kk4w+6/h2DhJWra6UTfwh9nFcGhzDMEVRuGw8De9yzC5rjH0YFnsf7IpOWZVGyccxHjTBnX8dEs=";

/// One vector file before it is written.
struct Vector {
    file: &'static str,
    expect: &'static str,
    comment: &'static str,
    identities: Vec<&'static str>,
    /// Where the value is being unsealed: scope, namespace, name, key.
    at: (Scope, Option<&'static str>, Option<&'static str>, &'static str),
    key_ids: Vec<String>,
    plaintext: Option<Vec<u8>>,
    value: String,
}

/// The 64-bit key id format 1 wrote (the prefix of today's id).
fn id(key: &str) -> String {
    KeyId::of(&recipient(key)).as_str()[..KeyId::LEGACY_LEN].to_owned()
}

/// The key id format 2 writes.
fn id_v2(key: &str) -> String {
    KeyId::of(&recipient(key)).to_string()
}

fn strict(ns: &str, name: &str, key: &str) -> Binding {
    Binding::new(Scope::Strict, Some(ns), Some(name), key).unwrap()
}

/// Seals as format 1 did (the vectors written before format 2 were made this way): a
/// `gitseal/v1` header whose `to=` lists 64-bit key ids.
fn seal_v1(value: &[u8], binding: &Binding, keys: &[&str]) -> String {
    seal_v1_to(value, binding, &keys.iter().map(|k| recipient(k)).collect::<Vec<_>>())
}

/// [`seal_v1`] to public keys.
fn seal_v1_to(value: &[u8], binding: &Binding, recipients: &[age::x25519::Recipient]) -> String {
    let fields = match binding {
        Binding::Strict { namespace, name, key } => format!("strict {namespace} {name} {key}"),
        Binding::NamespaceWide { namespace } => format!("namespace-wide {namespace}"),
        Binding::ClusterWide => "cluster-wide".to_owned(),
    };
    let ids: Vec<String> = recipients.iter().map(|r| KeyId::of(r).as_str()[..KeyId::LEGACY_LEN].to_owned()).collect();
    let payload = [format!("gitseal/v1 {fields} to={}\n", ids.join(",")).as_bytes(), value].concat();
    STANDARD.encode(age_to(&payload, recipients))
}

/// Seals with the library, as gitseal does today (format 2).
fn seal(value: &[u8], binding: &Binding, keys: &[&str]) -> String {
    let recipients = Recipients::new(keys.iter().map(|k| recipient(k))).unwrap();
    seal_value(value, binding, &recipients).unwrap().ciphertext
}

fn vector(file: &'static str, expect: &'static str, comment: &'static str, value: String) -> Vector {
    Vector {
        file,
        expect,
        comment,
        identities: vec![KEY_A],
        at: (Scope::Strict, Some("prod"), Some("db"), "password"),
        key_ids: vec![id(KEY_A)],
        plaintext: None,
        value,
    }
}

impl Vector {
    fn at(mut self, scope: Scope, ns: Option<&'static str>, name: Option<&'static str>, key: &'static str) -> Self {
        self.at = (scope, ns, name, key);
        self
    }
    fn identities(mut self, keys: &[&'static str]) -> Self {
        self.identities = keys.to_vec();
        self
    }
    fn key_ids(mut self, keys: &[&str]) -> Self {
        self.key_ids = keys.iter().map(|k| id(k)).collect();
        self
    }
    /// Records format 2 (128-bit) key ids.
    fn key_ids_v2(mut self, keys: &[&str]) -> Self {
        self.key_ids = keys.iter().map(|k| id_v2(k)).collect();
        self
    }
    fn plaintext(mut self, value: &[u8]) -> Self {
        self.plaintext = Some(value.to_vec());
        self
    }

    fn render(&self) -> String {
        let mut out = format!("expect: {}\n", self.expect);
        for identity in &self.identities {
            out += &format!("identity: {identity}\n");
        }
        let (scope, ns, name, key) = self.at;
        out += &format!("scope: {scope}\n");
        if let Some(ns) = ns {
            out += &format!("namespace: {ns}\n");
        }
        if let Some(name) = name {
            out += &format!("name: {name}\n");
        }
        out += &format!("key: {key}\n");
        if !self.key_ids.is_empty() {
            out += &format!("key-ids: {}\n", self.key_ids.join(" "));
        }
        match &self.plaintext {
            Some(p) if p.len() > 64 => out += &format!("plaintext-sha256: {}\n", hex(&sha256(p))),
            Some(p) => out += &format!("plaintext-hex: {}\n", hex(p)),
            None => {}
        }
        out + &format!("comment: {}\n\n{}\n", self.comment, self.value)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn sha256(bytes: &[u8]) -> Vec<u8> {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes).to_vec()
}

fn successes() -> Vec<Vector> {
    let db = strict("prod", "db", "password");
    let binary = b"\0\n\r\n\xff\0line two\n\n".to_vec();
    let kib: Vec<u8> = (0..1024u32).map(|i| (i * 7 % 251) as u8).collect();
    let long = ("n".repeat(63), format!("{}.{}.{}.{}", "a".repeat(63), "b".repeat(63), "c".repeat(63), "d".repeat(61)));
    let (ns, name): (&'static str, &'static str) = (long.0.leak(), long.1.leak());
    let key: &'static str = "k".repeat(253).leak();
    vec![
        vector("strict", "success", "strict scope, opened where it was sealed", seal_v1(b"hunter2", &db, &[KEY_A]))
            .plaintext(b"hunter2"),
        vector("format-md-worked-example", "success", "the worked example of docs/FORMAT.md", WORKED_EXAMPLE.into())
            .plaintext(b"hunter2"),
        vector(
            "namespace-wide-other-name-and-key",
            "success",
            "namespace-wide value used under another name and key of its namespace",
            seal_v1(b"s3cr3t\n", &Binding::new(Scope::NamespaceWide, Some("prod"), None, "x").unwrap(), &[KEY_A]),
        )
        .at(Scope::NamespaceWide, Some("prod"), Some("api"), "token")
        .plaintext(b"s3cr3t\n"),
        vector(
            "cluster-wide",
            "success",
            "cluster-wide value used anywhere",
            seal_v1(b"shared", &Binding::ClusterWide, &[KEY_A]),
        )
        .at(Scope::ClusterWide, Some("staging"), Some("web"), "any")
        .plaintext(b"shared"),
        vector(
            "empty-value",
            "success",
            "a zero-length value: the payload is the header line alone",
            seal_v1(b"", &db, &[KEY_A]),
        )
        .plaintext(b""),
        vector(
            "binary-nul-newlines",
            "success",
            "binary value with NUL, CR and newlines",
            seal_v1(&binary, &db, &[KEY_A]),
        )
        .plaintext(&binary),
        vector("value-1kib", "success", "1 KiB binary value, checked by SHA-256", seal_v1(&kib, &db, &[KEY_A]))
            .plaintext(&kib),
        vector(
            "longest-coordinates",
            "success",
            "63-char namespace, 253-char name and 253-char key in a strict header",
            seal_v1(b"edge", &strict(ns, name, key), &[KEY_A]),
        )
        .at(Scope::Strict, Some(ns), Some(name), key)
        .plaintext(b"edge"),
        vector(
            "multi-recipient-second-identity",
            "success",
            "sealed to A and B, opened with B alone",
            seal_v1(b"break-glass", &db, &[KEY_A, KEY_B]),
        )
        .identities(&[KEY_B])
        .key_ids(&[KEY_A, KEY_B])
        .plaintext(b"break-glass"),
        vector("ring-hinted", "success", "ring of C and A, key id of A recorded", seal_v1(b"hinted", &db, &[KEY_A]))
            .identities(&[KEY_C, KEY_A])
            .plaintext(b"hinted"),
        vector(
            "ring-unhinted",
            "success",
            "ring of C and A, no key ids recorded: every key is tried",
            seal_v1(b"unhinted", &db, &[KEY_A]),
        )
        .identities(&[KEY_C, KEY_A])
        .key_ids(&[])
        .plaintext(b"unhinted"),
        vector(
            "ring-stale-hint",
            "success",
            "recorded key id names C but A sealed it: a wrong hint costs time, not correctness",
            seal_v1(b"stale", &db, &[KEY_A]),
        )
        .identities(&[KEY_C, KEY_A])
        .key_ids(&[KEY_C])
        .plaintext(b"stale"),
    ]
}

fn scope_mismatches() -> Vec<Vector> {
    let db = seal_v1(b"hunter2", &strict("prod", "db", "password"), &[KEY_A]);
    let ns_wide = seal_v1(b"hunter2", &Binding::new(Scope::NamespaceWide, Some("prod"), None, "x").unwrap(), &[KEY_A]);
    let cluster = seal_v1(b"hunter2", &Binding::ClusterWide, &[KEY_A]);
    let v = |file, comment, value: &String| vector(file, "scope-mismatch", comment, value.clone());
    vec![
        v("strict-moved-to-other-key", "strict value for prod/db password copied to key username", &db).at(
            Scope::Strict,
            Some("prod"),
            Some("db"),
            "username",
        ),
        v("strict-moved-to-other-name", "strict value for prod/db copied to prod/db2", &db).at(
            Scope::Strict,
            Some("prod"),
            Some("db2"),
            "password",
        ),
        v("strict-moved-to-other-namespace", "strict value for prod/db copied to dev/db", &db).at(
            Scope::Strict,
            Some("dev"),
            Some("db"),
            "password",
        ),
        v("strict-claimed-cluster-wide", "strict value in an object that says scope cluster-wide", &db).at(
            Scope::ClusterWide,
            Some("prod"),
            Some("db"),
            "password",
        ),
        v("strict-claimed-namespace-wide", "strict value in an object that says scope namespace-wide", &db).at(
            Scope::NamespaceWide,
            Some("prod"),
            Some("db"),
            "password",
        ),
        v("namespace-wide-other-namespace", "namespace-wide value for prod used in dev", &ns_wide).at(
            Scope::NamespaceWide,
            Some("dev"),
            Some("db"),
            "password",
        ),
        v("namespace-wide-claimed-cluster-wide", "namespace-wide value in an object that says cluster-wide", &ns_wide)
            .at(Scope::ClusterWide, Some("prod"), Some("db"), "password"),
        v(
            "cluster-wide-claimed-strict",
            "cluster-wide value in an object that says strict: equality, not inclusion",
            &cluster,
        )
        .at(Scope::Strict, Some("prod"), Some("db"), "password"),
    ]
}

fn bad_payloads() -> Vec<Vector> {
    let v = |file, comment, payload: &[u8]| {
        vector(file, "bad-payload", comment, STANDARD.encode(raw_age(payload, &[KEY_A]))).at(
            Scope::ClusterWide,
            Some("prod"),
            Some("db"),
            "password",
        )
    };
    let strict_at = |v: Vector| v.at(Scope::Strict, Some("prod"), Some("db"), "password");
    vec![
        v(
            "header-version-v2",
            "gitseal/v2 header without the to= field version 2 requires",
            b"gitseal/v2 cluster-wide\nhunter2",
        ),
        v("header-missing", "a plain age file of the value: no newline, no header", b"hunter2"),
        v("header-missing-multiline", "a plain age file whose first line is not a header", b"hunter2\nsecond line\n"),
        strict_at(v(
            "header-extra-field",
            "strict header with a sixth field",
            b"gitseal/v1 strict prod db password extra\nhunter2",
        )),
        strict_at(v("header-missing-field", "strict header without its key", b"gitseal/v1 strict prod db\nhunter2")),
        v("header-crlf", "header line ended by CRLF", b"gitseal/v1 cluster-wide\r\nhunter2"),
        v("header-double-space", "two spaces between fields", b"gitseal/v1  cluster-wide\nhunter2"),
        v("header-trailing-space", "a space before the newline", b"gitseal/v1 cluster-wide \nhunter2"),
        v("header-no-newline", "the header alone, without its newline", b"gitseal/v1 cluster-wide"),
        v("header-unknown-scope", "a scope name v1 does not define", b"gitseal/v1 global\nhunter2"),
        v(
            "header-invalid-namespace",
            "namespace-wide header naming an invalid namespace",
            b"gitseal/v1 namespace-wide Prod\nhunter2",
        )
        .at(Scope::NamespaceWide, Some("prod"), Some("db"), "password"),
        v("header-not-utf8", "first line is not UTF-8", b"\xffgitseal/v1 cluster-wide\nhunter2"),
        v("empty-payload", "age file of zero bytes: no header at all", b""),
    ]
}

fn damaged() -> Vec<Vector> {
    let db = strict("prod", "db", "password");
    let good = bytes_of(&seal_v1(b"hunter2", &db, &[KEY_A]));
    let end = header_end(&good);
    let mut flipped = good.clone();
    *flipped.last_mut().unwrap() ^= 1;
    let mut v2 = good.clone();
    v2[20] = b'2'; // age-encryption.org/v1 → /v2
    let mixed = {
        let scrypt = scrypt_age(b"x");
        let stanza = &scrypt[scrypt.windows(3).position(|w| w == b"-> ").unwrap()..mac_line(&scrypt)];
        let at = good.windows(3).position(|w| w == b"-> ").unwrap();
        [&good[..at], stanza, &good[at..]].concat()
    };
    let e = |file, expect, comment, bytes: &[u8]| vector(file, expect, comment, STANDARD.encode(bytes));
    let sealed = STANDARD.encode(&good);
    vec![
        e("tampered-payload-byte", "tampered", "last byte of the payload flipped", &flipped),
        e("tampered-header-mac", "tampered", "one bit of the header MAC flipped", &tamper_mac(&good)),
        e("truncated-payload", "tampered", "last 10 bytes of the payload cut", &good[..good.len() - 10]),
        e("truncated-after-nonce", "tampered", "header and nonce, no payload chunk", &good[..end + 16]),
        e("appended-bytes", "tampered", "bytes appended after the final chunk", &[&good[..], b"more"].concat()),
        e("truncated-header", "malformed", "cut in the middle of the age header", &good[..end / 2]),
        e("truncated-before-nonce", "malformed", "header complete, nonce missing", &good[..end]),
        e("armored", "malformed", "ASCII-armored age file (age -a): gitseal values are binary", &armor(&good)),
        e("age-v2-magic", "malformed", "age-encryption.org/v2: an unknown age version", &v2),
        e("not-age", "malformed", "base64 of text that is no age file", b"hunter2\n"),
        e("empty-ciphertext", "malformed", "empty string", b""),
        e("scrypt-mixed-with-x25519", "malformed", "scrypt stanza next to an X25519 one: age forbids it", &mixed),
        e(
            "tampered-stanza-body",
            "no-match",
            "wrapped file key of the only stanza altered: looks like another key",
            &tamper_stanza_body(&good),
        ),
        e(
            "scrypt-passphrase",
            "no-match",
            "passphrase (scrypt) age file: never opened by an unsealer",
            &scrypt_age(b"gitseal/v1 strict prod db password\nhunter2"),
        ),
        vector("wrong-identity", "no-match", "sealed to A, only C at hand", sealed.clone()).identities(&[KEY_C]),
        vector(
            "wrong-identity-unrecorded",
            "no-match",
            "sealed to A, only C at hand, no key ids recorded",
            sealed.clone(),
        )
        .identities(&[KEY_C])
        .key_ids(&[]),
        vector("not-base64", "base64", "characters outside the base64 alphabet", "not base64 at all!".into()),
        vector("base64-unpadded", "base64", "valid value with its '=' padding removed", unpadded()),
        vector("base64-wrapped", "base64", "base64 wrapped at 76 columns: values are one line", wrap(&sealed)),
        vector("base64-url-alphabet", "base64", "URL-safe alphabet instead of standard base64", url_safe()),
    ]
}

/// Values just past each bound of the shape check (docs/FORMAT.md §7.1), made from a
/// value sealed to A: the bound refuses them before age sees them, though age would
/// report most as tampered (the MAC no longer matches). And the largest value the bounds
/// accept: A plus 62 other recipients.
fn bounds() -> Vec<Vector> {
    let db = strict("prod", "db", "password");
    let good = bytes_of(&seal_v1(b"hunter2", &db, &[KEY_A]));
    let mac = mac_line(&good);
    let with = |stanzas: String| STANDARD.encode([&good[..mac], stanzas.as_bytes(), &good[mac..]].concat());
    let full_line = format!("{}\n", "A".repeat(64));
    let others: Vec<String> = (0..62).map(|_| gitseal::generate_identity().to_public().to_string()).collect();
    let mut many = vec![recipient(KEY_A)];
    many.extend(others.iter().map(|r| r.parse::<age::x25519::Recipient>().unwrap()));
    let widest = seal_v1_to(b"hunter2", &db, &many);
    let widest_v2 = seal_value(b"hunter2", &db, &Recipients::new(many).unwrap()).unwrap().ciphertext;
    vec![
        vector(
            "bound-too-many-stanzas",
            "malformed",
            "64 empty stanzas added: 65 or more in all",
            with("-> a\n\n".repeat(64)),
        ),
        vector(
            "bound-stanza-flood",
            "malformed",
            "2,000 empty stanzas: the attack whose cost grows with the square of the header in age",
            with("-> a\n\n".repeat(2000)),
        ),
        vector(
            "bound-header-too-large",
            "malformed",
            "5 stanzas of 2,000-byte arguments: the header exceeds 8 KiB",
            with(format!("-> {}\n\n", "a".repeat(2000)).repeat(5)),
        ),
        vector(
            "bound-stanza-line-too-long",
            "malformed",
            "one stanza line of 2,049 bytes",
            with(format!("-> {}\n\n", "a".repeat(2046))),
        ),
        vector(
            "bound-stanza-body-too-long",
            "malformed",
            "one stanza body of 4 full lines and a fifth",
            with(format!("-> a\n{}\n", full_line.repeat(4))),
        ),
        vector("bound-63-recipients", "success", "sealed to A and 62 other keys: the most the bounds allow", widest)
            .plaintext(b"hunter2"),
        vector(
            "v2-bound-63-recipients",
            "success",
            "format 2: sealed to A and 62 other keys, each named by its full public key in to=",
            widest_v2,
        )
        .key_ids_v2(&[KEY_A])
        .plaintext(b"hunter2"),
    ]
}

/// Format 2: the payload header names recipients by their full public keys. Sealed by
/// the library; the malformed headers by hand.
fn format_2() -> Vec<Vector> {
    let db = strict("prod", "db", "password");
    let a = recipient(KEY_A).to_string();
    let bad = |file, comment, header: String| {
        let payload = format!("{header}\nhunter2");
        vector(file, "bad-payload", comment, STANDARD.encode(raw_age(payload.as_bytes(), &[KEY_A])))
            .at(Scope::ClusterWide, Some("prod"), Some("db"), "password")
            .key_ids_v2(&[KEY_A])
    };
    vec![
        vector(
            "format-md-worked-example-v2",
            "success",
            "the format 2 worked example of docs/FORMAT.md",
            WORKED_EXAMPLE_V2.into(),
        )
        .key_ids_v2(&[KEY_A])
        .plaintext(b"hunter2"),
        vector(
            "v2-strict",
            "success",
            "format 2, strict scope, opened where it was sealed",
            seal(b"hunter2", &db, &[KEY_A]),
        )
        .key_ids_v2(&[KEY_A])
        .plaintext(b"hunter2"),
        vector(
            "v2-namespace-wide",
            "success",
            "format 2, namespace-wide value used under another name and key",
            seal(b"s3cr3t\n", &Binding::new(Scope::NamespaceWide, Some("prod"), None, "x").unwrap(), &[KEY_A]),
        )
        .at(Scope::NamespaceWide, Some("prod"), Some("api"), "token")
        .key_ids_v2(&[KEY_A])
        .plaintext(b"s3cr3t\n"),
        vector("v2-cluster-wide", "success", "format 2, cluster-wide", seal(b"", &Binding::ClusterWide, &[KEY_A]))
            .at(Scope::ClusterWide, None, Some("web"), "any")
            .key_ids_v2(&[KEY_A])
            .plaintext(b""),
        vector(
            "v2-multi-recipient-second-identity",
            "success",
            "format 2, sealed to A and B, opened with B alone",
            seal(b"break-glass", &db, &[KEY_A, KEY_B]),
        )
        .identities(&[KEY_B])
        .key_ids_v2(&[KEY_A, KEY_B])
        .plaintext(b"break-glass"),
        vector(
            "v2-ring-legacy-hint",
            "success",
            "format 2 value, ring of C and A, 64-bit id of A recorded: a legacy hint names the key it prefixes",
            seal(b"hinted", &db, &[KEY_A]),
        )
        .identities(&[KEY_C, KEY_A])
        .plaintext(b"hinted"),
        vector(
            "v2-strict-moved-to-other-name",
            "scope-mismatch",
            "format 2 strict value copied into another object",
            seal(b"hunter2", &db, &[KEY_A]),
        )
        .at(Scope::Strict, Some("prod"), Some("web"), "password")
        .key_ids_v2(&[KEY_A]),
        bad(
            "v2-header-64-bit-ids",
            "format 2 lists recipients, never 64-bit key ids",
            format!("gitseal/v2 cluster-wide to={}", id(KEY_A)),
        ),
        bad(
            "v2-header-128-bit-ids",
            "format 2 lists recipients, never key ids",
            format!("gitseal/v2 cluster-wide to={}", id_v2(KEY_A)),
        ),
        bad(
            "v2-header-uppercase-recipient",
            "a recipient in upper case: one spelling only",
            format!("gitseal/v2 cluster-wide to={}", a.to_uppercase()),
        ),
        bad("v2-header-empty-recipient", "a trailing comma in to=", format!("gitseal/v2 cluster-wide to={a},")),
        bad(
            "v2-scope-stanza-missing",
            "format 2 payload in an age file without the scope stanza format 2 always writes",
            format!("gitseal/v2 cluster-wide to={a}"),
        ),
        vector(
            "v2-scope-stanza-differs",
            "bad-payload",
            "the scope stanza says cluster-wide, the payload header strict: the clear copy must match",
            STANDARD.encode(age_with_scope(
                format!("gitseal/v2 strict prod db password to={a}\nhunter2").as_bytes(),
                &[KEY_A],
                &["cluster-wide"],
            )),
        )
        .key_ids_v2(&[KEY_A]),
        vector(
            "v2-scope-stanza-edited",
            "tampered",
            "the scope stanza of a sealed value edited to cluster-wide: the header MAC fails",
            STANDARD.encode(edit_header(
                &bytes_of(&seal(b"hunter2", &db, &[KEY_A])),
                "gitseal-scope strict prod db password",
                "gitseal-scope cluster-wide",
            )),
        )
        .key_ids_v2(&[KEY_A]),
        bad(
            "v1-header-128-bit-ids",
            "format 1 wrote only 64-bit ids",
            format!("gitseal/v1 cluster-wide to={}", id_v2(KEY_A)),
        ),
    ]
}

/// A sealed value whose base64 needs padding, with the padding dropped.
fn unpadded() -> String {
    let db = strict("prod", "db", "password");
    (0..)
        .map(|n| seal_v1(&b"padding!!"[..n % 3 + 1], &db, &[KEY_A]))
        .find(|s| s.ends_with('='))
        .unwrap()
        .trim_end_matches('=')
        .to_owned()
}

/// A sealed value re-encoded with the URL-safe alphabet (and at least one '-' or '_').
fn url_safe() -> String {
    let db = strict("prod", "db", "password");
    (0..)
        .map(|_| URL_SAFE.encode(bytes_of(&seal_v1(b"hunter2", &db, &[KEY_A]))))
        .find(|s| s.contains(['-', '_']))
        .unwrap()
}

/// Writes the vectors `dir` lacks; with `GITSEAL_VECTORS_REWRITE=1`, rewrites them all.
/// Committed vectors are the reference: rewriting them hides a format break.
pub fn regenerate(dir: &Path) {
    let rewrite = std::env::var_os("GITSEAL_VECTORS_REWRITE").is_some_and(|v| v == "1");
    let all: Vec<Vector> = [successes(), scope_mismatches(), bad_payloads(), damaged(), bounds(), format_2()]
        .into_iter()
        .flatten()
        .collect();
    let mut written = 0;
    for v in &all {
        let path = dir.join(v.file);
        if rewrite || !path.exists() {
            std::fs::write(path, v.render()).unwrap();
            written += 1;
        }
    }
    eprintln!("wrote {written} of {} vectors to {}", all.len(), dir.display());
}
