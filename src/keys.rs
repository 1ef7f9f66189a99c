//! Recipients (public keys), identities (private keys) and the short key ids that tie
//! a sealed value to the keys it was sealed to.
//!
//! A key id is the first 16 bytes (128 bits) of SHA-256 over the recipient's `age1…`
//! string, in lower-case hex: `printf %s age1… | sha256sum | cut -c1-32` computes it with
//! stock tools. Values sealed before format 2 recorded 8-byte ids (16 hex digits), the
//! prefix of today's; they are still read, as hints that name the key they prefix.
//! No id ever decides who may open a value: that takes the full public key.

use std::fmt;
use std::str::FromStr;

use age::x25519;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use gitseal_crds::bounds::MAX_KEY_IDS;

use crate::error::{Error, Result};

/// Public fingerprint of a recipient: 32 lower-case hex digits, or 16 in the legacy form.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyId(String);

/// The name `names` gives the key `id` (`prod`, `break-glass`; see
/// [`Recipients::parse_named_file`]), when it gives one.
pub fn key_name<'a>(names: &'a [(KeyId, String)], id: &str) -> Option<&'a str> {
    let id = KeyId::parse(id)?;
    names.iter().find(|(k, _)| k.names(&id)).map(|(_, name)| name.as_str())
}

impl KeyId {
    /// Length of a key id in characters (128 bits).
    pub const LEN: usize = 32;
    /// Length of the ids written before format 2 (64 bits), still read.
    pub const LEGACY_LEN: usize = 16;

    /// The id of a recipient.
    pub fn of(recipient: &x25519::Recipient) -> KeyId {
        let digest = Sha256::digest(recipient.to_string().as_bytes());
        KeyId(digest[..Self::LEN / 2].iter().map(|b| format!("{b:02x}")).collect())
    }

    /// Parses a key id as written in `spec.keyIds`: 32 hex digits, or the legacy 16.
    pub fn parse(s: &str) -> Option<KeyId> {
        let ok = matches!(s.len(), Self::LEN | Self::LEGACY_LEN)
            && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        ok.then(|| KeyId(s.to_owned()))
    }

    /// Whether both ids name the same key: equal, or one is the legacy (64-bit) prefix
    /// of the other. A hint, never proof: a 64-bit id can be forged with ~2^64 work.
    pub fn names(&self, other: &KeyId) -> bool {
        self.0.starts_with(&other.0) || other.0.starts_with(&self.0)
    }

    /// The well-formed ids among those recorded beside a value (`spec.keyIds`, which
    /// anyone may write): the hints of [`crate::unseal_value`]. Others are ignored.
    pub fn hints(recorded: &[String]) -> Vec<KeyId> {
        recorded.iter().filter_map(|id| KeyId::parse(id)).collect()
    }

    /// Whether this is a legacy 64-bit id.
    pub fn is_legacy(&self) -> bool {
        self.0.len() == Self::LEGACY_LEN
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The set of public keys a value is sealed to, each with its id. Never empty.
#[derive(Clone, Debug)]
pub struct Recipients(Vec<(KeyId, x25519::Recipient)>);

impl Recipients {
    /// Parses recipients given one by one (e.g. `-r age1…` flags).
    ///
    /// # Errors
    /// [`Error::Recipient`] naming the recipient that is not an X25519 `age1…` key;
    /// [`Error::PrivateKeyAsRecipient`] for a private key.
    pub fn parse_each<'a>(items: impl IntoIterator<Item = &'a str>) -> Result<Vec<x25519::Recipient>> {
        items.into_iter().map(parse_recipient).collect()
    }

    /// Parses an age recipients file: one `age1…` per line, `#` comments, blank lines.
    ///
    /// # Errors
    /// [`Error::Recipient`] naming the line that is not an X25519 recipient;
    /// [`Error::PrivateKeyAsRecipient`] naming the line that holds a private key.
    pub fn parse_file(text: &str) -> Result<Vec<x25519::Recipient>> {
        Ok(Recipients::parse_named_file(text)?.into_iter().map(|(r, _)| r).collect())
    }

    /// As [`Recipients::parse_file`], with each recipient's name: the first line of the
    /// comment block above it (`# break-glass`), which names every recipient after it up
    /// to a blank line or the next comment. Comments stay on lines of their own, so the
    /// file is still one `age -R` reads.
    ///
    /// # Errors
    /// As [`Recipients::parse_file`].
    pub fn parse_named_file(text: &str) -> Result<Vec<(x25519::Recipient, Option<String>)>> {
        let mut out = Vec::new();
        let (mut name, mut in_comment) = (None::<&str>, false);
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() {
                (name, in_comment) = (None, false);
                continue;
            }
            if let Some(comment) = line.strip_prefix('#') {
                if !in_comment {
                    (name, in_comment) = (Some(comment.trim()).filter(|c| !c.is_empty()), true);
                }
                continue;
            }
            in_comment = false;
            let at = || format!("on line {}", i + 1);
            let recipient = parse_recipient(line).map_err(|e| match e {
                Error::Recipient { message, .. } => Error::Recipient { line: at(), message },
                Error::PrivateKeyAsRecipient { .. } => Error::PrivateKeyAsRecipient { line: at() },
                other => other,
            })?;
            out.push((recipient, name.map(str::to_owned)));
        }
        Ok(out)
    }

    /// Builds a recipient set, dropping duplicates while keeping the first order.
    ///
    /// # Errors
    /// [`Error::Recipient`] when the set is empty, or larger than a sealed value may be
    /// sealed to ([`gitseal_crds::bounds::MAX_KEY_IDS`]: unsealers refuse larger headers).
    pub fn new(list: impl IntoIterator<Item = x25519::Recipient>) -> Result<Recipients> {
        let mut out: Vec<(KeyId, x25519::Recipient)> = Vec::new();
        for r in list {
            let id = KeyId::of(&r);
            if !out.iter().any(|(known, _)| *known == id) {
                out.push((id, r));
            }
        }
        if out.is_empty() {
            return Err(Error::Recipient { line: "list".into(), message: "no recipients given".into() });
        }
        if out.len() > MAX_KEY_IDS {
            return Err(Error::Recipient {
                line: "list".into(),
                message: format!(
                    "{} recipients given; a value may be sealed to at most {MAX_KEY_IDS} (docs/FORMAT.md §7.1)",
                    out.len()
                ),
            });
        }
        Ok(Recipients(out))
    }

    /// Key ids, in order.
    pub fn ids(&self) -> Vec<KeyId> {
        self.0.iter().map(|(id, _)| id.clone()).collect()
    }

    /// The recipients with their ids.
    pub fn iter(&self) -> impl Iterator<Item = &(KeyId, x25519::Recipient)> {
        self.0.iter()
    }

    /// Renders the set in the age recipients-file format, with key ids as comments.
    pub fn to_file(&self) -> String {
        self.0.iter().map(|(id, r)| format!("# key id {id}\n{r}\n")).collect()
    }
}

fn parse_recipient(s: &str) -> Result<x25519::Recipient> {
    let s = s.trim();
    if s.to_ascii_uppercase().starts_with("AGE-SECRET-KEY-") {
        // Never echoed: it is a private key.
        return Err(Error::PrivateKeyAsRecipient { line: "given".into() });
    }
    x25519::Recipient::from_str(s).map_err(|e| Error::Recipient {
        line: format!("{s:?}"),
        message: if s.starts_with("age1") {
            format!("not a valid X25519 age recipient ({e})")
        } else {
            "gitseal seals to X25519 age recipients only (age1…); ssh and plugin recipients are not supported".into()
        },
    })
}

/// Private keys able to unseal, each with the id of its recipient.
///
/// Guarantees: the secret keys are zeroized on drop (age's `Identity` wraps a
/// `StaticSecret`), and `Debug` prints only key ids.
#[derive(Clone, Default)]
pub struct KeyRing(Vec<(KeyId, x25519::Identity)>);

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.iter().map(|(id, _)| id)).finish()
    }
}

impl KeyRing {
    /// An empty ring.
    pub fn new() -> KeyRing {
        KeyRing(Vec::new())
    }

    /// Adds an identity (ignored if a key with the same id is already present).
    pub fn push(&mut self, identity: x25519::Identity) -> KeyId {
        let id = KeyId::of(&identity.to_public());
        if !self.contains(&id) {
            self.0.push((id.clone(), identity));
        }
        id
    }

    /// Adds every key of `other` that this ring lacks.
    pub fn extend(&mut self, other: KeyRing) {
        for (id, identity) in other.0 {
            if !self.contains(&id) {
                self.0.push((id, identity));
            }
        }
    }

    /// Parses an age identity file: `AGE-SECRET-KEY-1…` lines, `#` comments.
    ///
    /// # Errors
    /// [`Error::Identity`] naming the line; the line itself is never echoed.
    pub fn parse_identity_file(text: &str) -> Result<KeyRing> {
        let mut ring = KeyRing::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let identity = x25519::Identity::from_str(line).map_err(|_| Error::Identity {
                line: i + 1,
                message: "not an X25519 age identity (AGE-SECRET-KEY-1…)",
            })?;
            ring.push(identity);
        }
        if ring.0.is_empty() {
            return Err(Error::Identity { line: 0, message: "the file holds no AGE-SECRET-KEY-1… identity" });
        }
        Ok(ring)
    }

    /// Whether the ring holds the key with this id (or legacy id).
    pub fn contains(&self, id: &KeyId) -> bool {
        self.0.iter().any(|(known, _)| known.names(id))
    }

    /// Whether the ring holds the private key of exactly this public key.
    pub fn holds(&self, recipient: &x25519::Recipient) -> bool {
        let id = KeyId::of(recipient);
        self.0.iter().any(|(known, identity)| *known == id && identity.to_public().to_string() == recipient.to_string())
    }

    /// Ids of the keys, in order.
    pub fn ids(&self) -> Vec<KeyId> {
        self.0.iter().map(|(id, _)| id.clone()).collect()
    }

    /// The public recipients of the keys, in order.
    pub fn recipients(&self) -> Vec<x25519::Recipient> {
        self.0.iter().map(|(_, i)| i.to_public()).collect()
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the ring is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The identities to try for a value sealed to `hint` key ids: the hinted keys, then
    /// the others, so a missing or stale hint costs time, never correctness.
    pub(crate) fn split_by_hint<'a>(&'a self, hint: &[KeyId]) -> [Vec<&'a x25519::Identity>; 2] {
        let (first, rest): (Vec<_>, Vec<_>) = self.0.iter().partition(|(id, _)| hint.iter().any(|h| h.names(id)));
        [first, rest].map(|keys| keys.into_iter().map(|(_, identity)| identity).collect())
    }

    /// Every identity, in ring order.
    pub(crate) fn identities(&self) -> Vec<&x25519::Identity> {
        self.0.iter().map(|(_, identity)| identity).collect()
    }
}

/// Generates a new X25519 identity.
pub fn generate_identity() -> x25519::Identity {
    x25519::Identity::generate()
}

/// Renders an identity in the age identity-file format (`age -d -i FILE` reads it).
/// `created` is an RFC 3339 time supplied by the caller (the core has no clock).
pub fn identity_file(identity: &x25519::Identity, created: &str) -> SecretString {
    let secret = identity.to_string();
    SecretString::from(format!(
        "# created: {created}\n# public key: {}\n{}\n",
        identity.to_public(),
        secret.expose_secret()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipients_are_named_by_the_first_line_of_the_comment_block_above_them() {
        let [a, b, c] = [0; 3].map(|_| generate_identity().to_public().to_string());
        let text = format!("# prod\n# gitseal key 1\n{a}\n{b}\n# old comment\n\n{c}\n");
        let named = Recipients::parse_named_file(&text).unwrap();
        let names: Vec<Option<&str>> = named.iter().map(|(_, n)| n.as_deref()).collect();
        assert_eq!(names, [Some("prod"), Some("prod"), None]);
        assert_eq!(named[1].0.to_string(), b);
    }

    #[test]
    fn key_id_is_sha256_prefix_of_recipient_text() {
        let r: x25519::Recipient = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p".parse().unwrap();
        // printf %s age1ql3z…cac8p | sha256sum | cut -c1-32
        assert_eq!(KeyId::of(&r).as_str(), "cf7e5682313150685bf16e42c4ea48e1");
    }

    #[test]
    fn legacy_ids_name_the_key_they_prefix_and_nothing_else() {
        let r: x25519::Recipient = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p".parse().unwrap();
        let legacy = KeyId::parse("cf7e568231315068").unwrap();
        assert!(legacy.is_legacy() && legacy.names(&KeyId::of(&r)) && KeyId::of(&r).names(&legacy));
        assert!(!KeyId::parse("cf7e568231315069").unwrap().names(&KeyId::of(&r)));
        for bad in ["cf7e56823131506", "cf7e5682313150684c61ef7e6a5eb6e", "CF7E568231315068", "cf7e5682313150684c"] {
            assert_eq!(KeyId::parse(bad), None, "{bad}");
        }
        let mut ring = KeyRing::new();
        ring.push(generate_identity());
        let other = generate_identity().to_public();
        assert!(!ring.holds(&other) && ring.holds(&ring.recipients()[0]));
    }

    #[test]
    fn recipients_file_skips_comments_and_names_bad_line() {
        let good = "# cluster prod\nage1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p\n\n";
        assert_eq!(Recipients::parse_file(good).unwrap().len(), 1);
        let bad = "# x\nage1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p\nssh-ed25519 AAAA\n";
        let err = Recipients::parse_file(bad).unwrap_err().to_string();
        assert!(err.contains("line 3") && err.contains("ssh"), "{err}");
    }

    #[test]
    fn a_private_key_given_as_a_recipient_is_named_and_never_echoed() {
        let secret = "AGE-SECRET-KEY-17PF7JC9N5Q5WEWYD5QJ5U6K6MJZMDE3W95HRT0S74LSAGA768XFS4GU5P3";
        for err in [
            Recipients::parse_each([secret]).unwrap_err().to_string(),
            Recipients::parse_file(&format!("# x\n{secret}\n")).unwrap_err().to_string(),
        ] {
            assert!(err.contains("this is a private key") && !err.contains("7PF7JC9N"), "{err}");
        }
        let err = Recipients::parse_file(&format!("# x\n{secret}\n")).unwrap_err().to_string();
        assert!(err.contains("line 2"), "{err}");
    }

    #[test]
    fn recipients_deduplicate_and_refuse_empty() {
        let r: x25519::Recipient = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p".parse().unwrap();
        assert_eq!(Recipients::new([r.clone(), r]).unwrap().ids().len(), 1);
        assert!(Recipients::new([]).is_err());
    }

    #[test]
    fn identity_file_round_trips_and_errors_do_not_echo_the_line() {
        let id = generate_identity();
        let text = identity_file(&id, "2026-01-01T00:00:00Z");
        let ring = KeyRing::parse_identity_file(text.expose_secret()).unwrap();
        assert_eq!(ring.ids(), vec![KeyId::of(&id.to_public())]);
        let err = KeyRing::parse_identity_file("AGE-SECRET-KEY-1NOTAKEY\n").unwrap_err().to_string();
        assert!(err.contains("line 1") && !err.contains("NOTAKEY"), "{err}");
        assert!(format!("{ring:?}").len() < 60, "Debug prints ids only");
    }

    #[test]
    fn hinted_keys_are_tried_first() {
        let mut ring = KeyRing::new();
        let a = ring.push(generate_identity());
        let b = ring.push(generate_identity());
        let [hinted, others] = ring.split_by_hint(std::slice::from_ref(&b));
        assert_eq!(hinted.iter().map(|i| KeyId::of(&i.to_public())).collect::<Vec<_>>(), [b]);
        assert_eq!(others.iter().map(|i| KeyId::of(&i.to_public())).collect::<Vec<_>>(), [a]);
        let [none, all] = ring.split_by_hint(&[]);
        assert!(none.is_empty() && all.len() == 2);
    }
}
