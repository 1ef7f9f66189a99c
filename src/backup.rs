//! Key backups: the whole key ring as one age identity file, with each key's metadata in
//! a comment line, and the plain age encryption that keeps it off disk in the clear.
//!
//! ```text
//!  ClusterKeys ──▶ KeyBackup ──render──▶ identity file ──encrypt_file──▶ backup.age
//!                     ▲                                                     │
//!                     └──────parse◀── identity file ◀──decrypt_file─────────┘
//! ```
//!
//! The plaintext is itself a valid age identity file: what
//! `age -d -i admin.txt backup.age` prints is accepted by `age -d -i` and
//! `gitseal unseal -i`. Each key is written as
//!
//! ```text
//! # gitseal-key id=<key id> secret=<Secret name> created=<RFC 3339> state=<published|active|retired>
//! # public key: age1…
//! AGE-SECRET-KEY-1…
//! ```

use std::io::{Read, Write};
use std::str::FromStr;

use age::x25519;
use k8s_openapi::jiff::Timestamp;
use secrecy::ExposeSecret;
use zeroize::Zeroizing;

use gitseal_crds::storage::KeyStatus;

use crate::cluster_key::{ClusterKey, check_secret};
use crate::error::{Error, Result};
use crate::keys::{KeyId, KeyRing, Recipients};

/// How far a backup's creation times may lie ahead of the restoring machine's clock.
pub const CLOCK_SKEW_SECS: i64 = 300;

/// Start of the comment line that carries a key's metadata.
const KEY_LINE: &str = "# gitseal-key ";

/// A whole key ring with each key's metadata. Never empty; key ids are unique.
#[derive(Clone, Debug)]
pub struct KeyBackup(Vec<ClusterKey>);

impl KeyBackup {
    /// A backup of these keys, in this order.
    ///
    /// # Errors
    /// [`Error::Backup`] when `keys` is empty or holds the same key twice.
    pub fn new(keys: Vec<ClusterKey>) -> Result<KeyBackup> {
        if keys.is_empty() {
            return Err(Error::Backup { line: 0, message: "the backup holds no key" });
        }
        for (i, key) in keys.iter().enumerate() {
            if keys[..i].iter().any(|k| k.id() == key.id()) {
                return Err(Error::Backup { line: 0, message: "the same key appears twice" });
            }
        }
        Ok(KeyBackup(keys))
    }

    /// The keys, in order.
    pub fn keys(&self) -> &[ClusterKey] {
        &self.0
    }

    /// The first key said to be created after `now` (plus a few minutes of clock skew): a
    /// key from the future would sort after every key made until then and stay the
    /// published key, so a restore refuses it. The core has no clock: the caller passes it.
    pub fn created_after(&self, now: Timestamp) -> Option<&ClusterKey> {
        let skew = k8s_openapi::jiff::SignedDuration::from_secs(CLOCK_SKEW_SECS);
        self.0.iter().find(|k| k.created().duration_since(now) > skew)
    }

    /// Renders the backup as an age identity file (see the module docs).
    pub fn render(&self) -> Zeroizing<String> {
        // Sized up front so the buffer never reallocates and leaves unzeroized copies.
        let mut out = Zeroizing::new(String::with_capacity(512 + 512 * self.0.len()));
        out.push_str("# gitseal key backup: an age identity file (age -d -i FILE, gitseal unseal -i FILE).\n");
        out.push_str("# Restore into a cluster: gitseal keys import -i ADMIN_IDENTITY BACKUP.age\n");
        for key in &self.0 {
            out.push_str(&format!(
                "\n{KEY_LINE}id={} secret={} created={} state={}\n# public key: {}\n",
                key.id(),
                key.secret(),
                key.created(),
                key.status(),
                key.recipient()
            ));
            out.push_str(key.identity().to_string().expose_secret());
            out.push('\n');
        }
        out
    }

    /// Parses a rendered backup. Other comments and blank lines are ignored, as age does.
    ///
    /// # Errors
    /// [`Error::Backup`] naming the line that is wrong; the line itself is never echoed.
    pub fn parse(text: &str) -> Result<KeyBackup> {
        let mut keys: Vec<ClusterKey> = Vec::new();
        let mut pending: Option<(usize, Meta)> = None;
        for (i, line) in text.lines().enumerate() {
            let n = i + 1;
            let fail = |message| Error::Backup { line: n, message };
            let line = line.trim();
            if let Some(fields) = line.strip_prefix(KEY_LINE) {
                if let Some((at, _)) = pending {
                    return Err(Error::Backup {
                        line: at,
                        message: "a key line with no AGE-SECRET-KEY-1… line after it",
                    });
                }
                pending = Some((n, Meta::parse(fields).map_err(fail)?));
            } else if line.is_empty() || line.starts_with('#') {
                continue;
            } else {
                let identity = x25519::Identity::from_str(line)
                    .map_err(|_| fail("not an X25519 age identity (AGE-SECRET-KEY-1…)"))?;
                let (_, meta) = pending.take().ok_or_else(|| {
                    fail("an AGE-SECRET-KEY-1… line with no `# gitseal-key` line before it; is this a gitseal key backup?")
                })?;
                let key =
                    ClusterKey::new(identity, &meta.secret, meta.created, meta.status).map_err(|_| fail("bad key"))?;
                if *key.id() != meta.id {
                    return Err(fail("this key's id differs from the id= recorded on its `# gitseal-key` line"));
                }
                if keys.iter().any(|k| k.id() == key.id()) {
                    return Err(fail("the same key appears twice"));
                }
                keys.push(key);
            }
        }
        if let Some((at, _)) = pending {
            return Err(Error::Backup { line: at, message: "a key line with no AGE-SECRET-KEY-1… line after it" });
        }
        KeyBackup::new(keys)
    }

    /// The private keys, for unsealing.
    pub fn ring(&self) -> KeyRing {
        let mut ring = KeyRing::new();
        for key in &self.0 {
            ring.push(key.identity().clone());
        }
        ring
    }
}

/// The fields of a `# gitseal-key` line.
struct Meta {
    id: KeyId,
    secret: String,
    created: Timestamp,
    status: KeyStatus,
}

impl Meta {
    fn parse(fields: &str) -> Result<Meta, &'static str> {
        let (mut id, mut secret, mut created, mut status) = (None, None, None, None);
        for field in fields.split_whitespace() {
            let (key, value) = field.split_once('=').ok_or("expected key=value fields after `# gitseal-key`")?;
            match key {
                "id" => {
                    id = Some(
                        KeyId::parse(value)
                            .ok_or("id= is not a key id (32 lower-case hex digits, or 16 before format 2)")?,
                    )
                }
                "secret" => secret = Some(value.to_owned()),
                "created" => {
                    created = Some(value.parse::<Timestamp>().map_err(|_| "created= is not an RFC 3339 time")?)
                }
                "state" => {
                    status = Some(KeyStatus::from_name(value).ok_or("state= is not published, active or retired")?)
                }
                _ => {} // later versions may add fields
            }
        }
        let meta = Meta {
            id: id.ok_or("missing id=")?,
            secret: secret.ok_or("missing secret=")?,
            created: created.ok_or("missing created=")?,
            status: status.ok_or("missing state=")?,
        };
        check_secret(&meta.secret)?;
        Ok(meta)
    }
}

/// Encrypts bytes into a binary age file for `recipients`.
///
/// # Errors
/// [`Error::Encrypt`] if age refuses (it does not for X25519 recipients).
pub fn encrypt_file(plaintext: &[u8], recipients: &Recipients) -> Result<Vec<u8>> {
    let encrypt = |e: std::io::Error| Error::Encrypt(e.to_string());
    let encryptor = age::Encryptor::with_recipients(recipients.iter().map(|(_, r)| r as &dyn age::Recipient))
        .map_err(|e| Error::Encrypt(e.to_string()))?;
    let mut out = Vec::with_capacity(plaintext.len() + 512);
    let mut writer = encryptor.wrap_output(&mut out).map_err(encrypt)?;
    writer.write_all(plaintext).map_err(encrypt)?;
    writer.finish().map_err(encrypt)?;
    Ok(out)
}

/// Decrypts a binary age file with any of `identities`.
///
/// # Errors
/// [`Error::Decrypt`], deliberately coarse: not an age file, passphrase-encrypted, no
/// matching identity, or tampered / truncated.
pub fn decrypt_file(file: &[u8], identities: &KeyRing) -> Result<Zeroizing<Vec<u8>>> {
    // A backup holds keys, not data: the bounds of a sealed value fit it with room to spare.
    crate::envelope::Envelope::parse(file, &crate::envelope::Limits::VALUE)
        .map_err(|_| Error::Decrypt("not a binary age file within gitseal's bounds"))?;
    let decryptor = age::Decryptor::new_buffered(file).map_err(|_| Error::Decrypt("not a binary age file"))?;
    if decryptor.is_scrypt() {
        return Err(Error::Decrypt("the file is passphrase-encrypted; gitseal backups are encrypted to age1… keys"));
    }
    let identities = identities.identities();
    let mut reader =
        decryptor.decrypt(identities.into_iter().map(|i| i as &dyn age::Identity)).map_err(|e| match e {
            age::DecryptError::NoMatchingKeys => Error::Decrypt("none of the given identities can open it"),
            age::DecryptError::InvalidHeader => Error::Decrypt("bad age header"),
            _ => Error::Decrypt("the file was tampered with or truncated"),
        })?;
    let mut out = Zeroizing::new(Vec::with_capacity(file.len()));
    reader.read_to_end(&mut out).map_err(|_| Error::Decrypt("the file was tampered with or truncated"))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::generate_identity;

    fn backup() -> KeyBackup {
        let keys = vec![
            ClusterKey::new(
                generate_identity(),
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
        KeyBackup::new(keys).unwrap()
    }

    fn secret_of(key: &ClusterKey) -> String {
        key.identity().to_string().expose_secret().to_owned()
    }

    #[test]
    fn render_parse_round_trip() {
        let original = backup();
        let text = original.render();
        let parsed = KeyBackup::parse(&text).unwrap();
        assert_eq!(parsed.keys().len(), 2);
        for (a, b) in original.keys().iter().zip(parsed.keys()) {
            assert_eq!((a.id(), a.secret(), a.created(), a.status()), (b.id(), b.secret(), b.created(), b.status()));
            assert_eq!(secret_of(a), secret_of(b));
        }
        // The rendering is itself an age identity file holding every key.
        let ring = KeyRing::parse_identity_file(&text).unwrap();
        assert_eq!(ring.ids(), original.ring().ids());
        assert!(
            text.contains("state=retired")
                && text.contains(&format!("# public key: {}", original.keys()[0].recipient()))
        );
    }

    #[test]
    fn encrypted_backup_round_trips_and_is_not_plaintext() {
        let admin = generate_identity();
        let recipients = Recipients::new([admin.to_public()]).unwrap();
        let text = backup().render();
        let file = encrypt_file(text.as_bytes(), &recipients).unwrap();
        assert!(file.starts_with(b"age-encryption.org/v1\n"));
        assert!(!file.windows(14).any(|w| w == b"AGE-SECRET-KEY"));
        let mut ring = KeyRing::new();
        ring.push(admin);
        assert_eq!(&decrypt_file(&file, &ring).unwrap()[..], text.as_bytes());
        let mut other = KeyRing::new();
        other.push(generate_identity());
        let err = decrypt_file(&file, &other).unwrap_err().to_string();
        assert!(err.contains("none of the given identities"), "{err}");
        let mut truncated = file.clone();
        truncated.truncate(file.len() - 5);
        assert!(decrypt_file(&truncated, &ring).is_err());
        assert!(decrypt_file(b"not age at all", &ring).unwrap_err().to_string().contains("not a binary age file"));
    }

    #[test]
    fn malformed_lines_are_named_without_echoing_key_material() {
        let good = backup().render();
        let secret = secret_of(&backup().keys()[0]);
        let lines: Vec<&str> = good.lines().collect();
        let key_line = lines.iter().position(|l| l.starts_with(KEY_LINE)).unwrap();
        let cases: Vec<(String, usize, &str)> = vec![
            // A damaged private key.
            (replace_line(&lines, key_line + 2, "AGE-SECRET-KEY-1NOTAKEYNOTAKEY"), key_line + 3, "not an X25519"),
            // Metadata with a bad state, a missing field, a non-id.
            (
                replace_line(&lines, key_line, &lines[key_line].replace("state=retired", "state=gone")),
                key_line + 1,
                "state=",
            ),
            (
                replace_line(&lines, key_line, &lines[key_line].replace(" secret=gitseal-key-1", "")),
                key_line + 1,
                "secret=",
            ),
            (
                replace_line(&lines, key_line, "# gitseal-key id=XYZ secret=a created=b state=active"),
                key_line + 1,
                "id=",
            ),
            // A key with no metadata line, and metadata with no key.
            (replace_line(&lines, key_line, "# just a comment"), key_line + 3, "no `# gitseal-key`"),
            (
                format!("{}{KEY_LINE}id=0123456789abcdef secret=x created=2026-01-01T00:00:00Z state=active\n", &*good),
                lines.len() + 1,
                "no AGE-SECRET-KEY",
            ),
            // A creation time that is not a time (it orders keys, so it is parsed).
            (
                replace_line(
                    &lines,
                    key_line,
                    &lines[key_line].replace("created=2026-01-01T00:00:00Z", "created=9999"),
                ),
                key_line + 1,
                "created= is not an RFC 3339 time",
            ),
            // An id that does not match the key below it.
            (
                replace_line(
                    &lines,
                    key_line,
                    "# gitseal-key id=0123456789abcdef secret=gitseal-key-1 created=2026-01-01T00:00:00Z state=active",
                ),
                key_line + 3,
                "differs",
            ),
            // Nothing at all.
            ("# empty\n".to_owned(), 0, "key backup: the backup holds no key"),
        ];
        for (text, line, expect) in cases {
            let err = KeyBackup::parse(&text).unwrap_err().to_string();
            let at = if line == 0 { "key backup:".to_owned() } else { format!("key backup, line {line}:") };
            assert!(err.contains(&at) && err.contains(expect), "{expect}: {err}");
            assert!(!err.contains("AGE-SECRET-KEY-1N") && !err.contains(&secret[15..]), "echoed: {err}");
        }
    }

    #[test]
    fn duplicates_and_bad_fields_are_refused() {
        let id = generate_identity();
        let a =
            ClusterKey::new(id.clone(), "gitseal-key-1", "2026-01-01T00:00:00Z".parse().unwrap(), KeyStatus::Active)
                .unwrap();
        let b =
            ClusterKey::new(id, "gitseal-key-2", "2026-01-01T00:00:00Z".parse().unwrap(), KeyStatus::Active).unwrap();
        assert!(KeyBackup::new(vec![a.clone(), b]).is_err());
        let twice = format!(
            "{}{}",
            &*KeyBackup::new(vec![a.clone()]).unwrap().render(),
            &*KeyBackup::new(vec![a]).unwrap().render()
        );
        assert!(KeyBackup::parse(&twice).unwrap_err().to_string().contains("twice"));
        let created = "2026-01-01T00:00:00Z".parse().unwrap();
        assert!(ClusterKey::new(generate_identity(), "Not A Name", created, KeyStatus::Active).is_err());
    }

    #[test]
    fn keys_from_the_future_are_found() {
        let at = |t: &str| ClusterKey::new(generate_identity(), "k", t.parse().unwrap(), KeyStatus::Active).unwrap();
        let now: Timestamp = "2026-06-01T12:00:00Z".parse().unwrap();
        let honest = KeyBackup::new(vec![at("2026-01-01T00:00:00Z"), at("2026-06-01T12:04:00Z")]).unwrap();
        assert!(honest.created_after(now).is_none(), "four minutes of clock skew are tolerated");
        let forged = KeyBackup::new(vec![at("2026-01-01T00:00:00Z"), at("9999-01-01T00:00:00Z")]).unwrap();
        assert_eq!(forged.created_after(now).map(|k| k.created().to_string()).as_deref(), Some("9999-01-01T00:00:00Z"));
    }

    #[test]
    fn debug_shows_no_key_material() {
        let b = backup();
        let debug = format!("{b:?}");
        assert!(
            debug.contains("gitseal-key-1")
                && !debug.contains("AGE-SECRET-KEY")
                && !debug.contains(&secret_of(&b.keys()[0]))
        );
    }

    fn replace_line(lines: &[&str], at: usize, with: &str) -> String {
        lines.iter().enumerate().map(|(i, l)| format!("{}\n", if i == at { with } else { l })).collect()
    }
}
