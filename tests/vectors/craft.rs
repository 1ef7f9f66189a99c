//! Age files the library never writes, and byte surgery on those it does: the raw
//! material of the malformed vectors.

use std::io::Write as _;
use std::str::FromStr;

use age::secrecy::SecretString;
use age::x25519;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};

pub fn recipient(key: &str) -> x25519::Recipient {
    x25519::Identity::from_str(key).unwrap().to_public()
}

/// An age file over an arbitrary payload: for headers the library never writes.
pub fn raw_age(payload: &[u8], keys: &[&str]) -> Vec<u8> {
    age_to(payload, &keys.iter().map(|k| recipient(k)).collect::<Vec<_>>())
}

/// An age file over an arbitrary payload, to public keys.
pub fn age_to(payload: &[u8], recipients: &[x25519::Recipient]) -> Vec<u8> {
    let encryptor = age::Encryptor::with_recipients(recipients.iter().map(|r| r as &dyn age::Recipient)).unwrap();
    let mut out = Vec::new();
    let mut writer = encryptor.wrap_output(&mut out).unwrap();
    writer.write_all(payload).unwrap();
    writer.finish().unwrap();
    out
}

/// An age file over an arbitrary payload to `keys`, with a scope stanza of `fields`
/// (which need not match the payload).
pub fn age_with_scope(payload: &[u8], keys: &[&str], fields: &[&str]) -> Vec<u8> {
    struct Scope(Vec<String>);
    impl age::Recipient for Scope {
        fn wrap_file_key(
            &self,
            _: &age_core::format::FileKey,
        ) -> Result<(Vec<age_core::format::Stanza>, std::collections::HashSet<String>), age::EncryptError> {
            let stanza = age_core::format::Stanza { tag: "gitseal-scope".into(), args: self.0.clone(), body: vec![] };
            Ok((vec![stanza], Default::default()))
        }
    }
    let scope = Scope(fields.iter().map(|f| (*f).to_owned()).collect());
    let recipients: Vec<x25519::Recipient> = keys.iter().map(|k| recipient(k)).collect();
    let all = recipients.iter().map(|r| r as &dyn age::Recipient).chain([&scope as &dyn age::Recipient]);
    let encryptor = age::Encryptor::with_recipients(all).unwrap();
    let mut out = Vec::new();
    let mut writer = encryptor.wrap_output(&mut out).unwrap();
    writer.write_all(payload).unwrap();
    writer.finish().unwrap();
    out
}

/// `file` with the first `from` in its header replaced by `to` (the MAC no longer holds).
pub fn edit_header(file: &[u8], from: &str, to: &str) -> Vec<u8> {
    let end = header_end(file);
    let header = String::from_utf8(file[..end].to_vec()).unwrap();
    assert!(header.contains(from), "{from:?} not in the header");
    [header.replacen(from, to, 1).as_bytes(), &file[end..]].concat()
}

pub fn scrypt_age(payload: &[u8]) -> Vec<u8> {
    let mut r = age::scrypt::Recipient::new(SecretString::from("correct horse battery staple".to_owned()));
    r.set_work_factor(10);
    let encryptor = age::Encryptor::with_recipients(std::iter::once(&r as &dyn age::Recipient)).unwrap();
    let mut out = Vec::new();
    let mut writer = encryptor.wrap_output(&mut out).unwrap();
    writer.write_all(payload).unwrap();
    writer.finish().unwrap();
    out
}

pub fn bytes_of(value: &str) -> Vec<u8> {
    STANDARD.decode(value).unwrap()
}

/// Offset of the age header's `--- MAC` line.
pub fn mac_line(file: &[u8]) -> usize {
    file.windows(4).position(|w| w == b"\n---").unwrap() + 1
}

/// Offset just past the age header's `--- MAC` line (where the nonce starts).
pub fn header_end(file: &[u8]) -> usize {
    let mac = mac_line(file);
    mac + file[mac..].iter().position(|&b| b == b'\n').unwrap() + 1
}

/// Flips one bit of the header MAC, keeping its base64 canonical.
pub fn tamper_mac(file: &[u8]) -> Vec<u8> {
    let start = mac_line(file) + 4;
    let end = header_end(file) - 1;
    let mut mac = STANDARD_NO_PAD.decode(&file[start..end]).unwrap();
    mac[0] ^= 1;
    [&file[..start], STANDARD_NO_PAD.encode(mac).as_bytes(), &file[end..]].concat()
}

/// Flips one bit of the first recipient stanza's body (the wrapped file key).
pub fn tamper_stanza_body(file: &[u8]) -> Vec<u8> {
    let arrow = file.windows(3).position(|w| w == b"-> ").unwrap();
    let body = arrow + file[arrow..].iter().position(|&b| b == b'\n').unwrap() + 1;
    let end = body + file[body..].iter().position(|&b| b == b'\n').unwrap();
    let mut wrapped = STANDARD_NO_PAD.decode(&file[body..end]).unwrap();
    wrapped[0] ^= 1;
    [&file[..body], STANDARD_NO_PAD.encode(wrapped).as_bytes(), &file[end..]].concat()
}

/// The ASCII-armored (PEM-style) form `age -a` writes.
pub fn armor(file: &[u8]) -> Vec<u8> {
    let b64 = STANDARD.encode(file);
    let lines: Vec<&str> = b64.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap()).collect();
    format!("-----BEGIN AGE ENCRYPTED FILE-----\n{}\n-----END AGE ENCRYPTED FILE-----\n", lines.join("\n")).into_bytes()
}

pub fn wrap(value: &str) -> String {
    value.as_bytes().chunks(76).map(|c| std::str::from_utf8(c).unwrap()).collect::<Vec<_>>().join("\n")
}
