//! The shape of an age file, checked in one linear pass before age parses anything.
//!
//! ```text
//!  base64 text ──length ≤ limit──▶ decode ──▶ "age-encryption.org/v1" LF
//!                                             ("-> " args LF, body lines)   ≤ max_stanzas
//!                                             "--- " MAC LF                 header ≤ max_header
//!                                             nonce ‖ payload               file ≤ max_file
//! ```
//!
//! age's own header parser starts over after every line it reads, so its cost grows with
//! the square of the header: a value of 40,000 empty stanzas costs minutes. Everything
//! untrusted passes through [`Envelope::parse`] first, which costs one pass over the
//! header and refuses, in microseconds, any file whose header is larger than gitseal
//! or stock `age` ever writes (docs/FORMAT.md §7.1). What it lets through, age parses in
//! a bounded time; the number of X25519 stanzas it counts bounds the key trials.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::error::UnsealError;
use gitseal_crds::bounds;

/// Bounds on the shape of an age file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest whole file (header, nonce and payload), in bytes.
    pub max_file: usize,
    /// Largest header, from the version line through the MAC line, in bytes.
    pub max_header: usize,
    /// Most recipient stanzas (the grease stanza included).
    pub max_stanzas: usize,
    /// Most body lines of one stanza.
    pub max_body_lines: usize,
    /// Longest stanza line (`-> ` and its arguments), in bytes.
    pub max_stanza_line: usize,
}

impl Limits {
    /// Bounds for one sealed value (docs/FORMAT.md §7.1): the whole file as the CRD
    /// allows it; 65 stanzas leave room for 63 recipients, the grease stanza, whose body
    /// takes at most 3 lines, and the scope stanza; 8 KiB of header holds 63 X25519
    /// stanzas (98 bytes each), the largest grease stanza and the longest scope stanza.
    pub const VALUE: Limits = Limits {
        max_file: bounds::MAX_SEALED_FILE,
        max_header: 8 * 1024,
        max_stanzas: bounds::MAX_STANZAS,
        max_body_lines: 4,
        max_stanza_line: 2048,
    };

    /// The longest standard base64 text a file within these bounds can have.
    pub const fn max_base64(&self) -> usize {
        self.max_file.div_ceil(3) * 4
    }

    /// Whether `n` recipients, each with its X25519 stanza, the largest grease stanza and
    /// the longest scope stanza fit within these bounds.
    pub const fn holds_recipients(&self, n: usize) -> bool {
        n + 2 <= self.max_stanzas && VERSION_LINE.len() + 98 * n + 190 + LONGEST_SCOPE_STANZA + 48 <= self.max_header
    }
}

/// What the pass found: enough to bound the work age will do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    /// Recipient stanzas in the header (the grease stanza included).
    pub stanzas: usize,
    /// Tags of the recipient stanzas in order (`X25519`, …), leaving out the random
    /// `…-grease` stanzas age adds to keep parsers honest and the scope stanza.
    pub recipients: Vec<String>,
    /// The arguments of the scope stanza (`-> gitseal-scope strict prod db password`):
    /// where the value may be opened, readable without a key. Unauthenticated until the
    /// file is decrypted (age's header MAC covers it); unsealers check it against the
    /// payload header.
    pub scope: Option<Vec<String>>,
    /// Length of the header in bytes, through the MAC line's LF.
    pub header_len: usize,
}

const VERSION_LINE: &[u8] = b"age-encryption.org/v1\n";
/// Tag of the stanza in which gitseal repeats a value's binding, in clear.
pub const SCOPE_TAG: &str = "gitseal-scope";
/// Bytes of the longest scope stanza: a strict binding with the longest namespace (63),
/// name (253) and data key (253), and its empty body line.
const LONGEST_SCOPE_STANZA: usize = "-> gitseal-scope strict ".len() + 63 + 1 + 253 + 1 + 253 + 2;
const VERSION_PREFIX: &[u8] = b"age-encryption.org/";
/// Columns of a full stanza body line.
const BODY_COLUMNS: usize = 64;
/// Base64 characters of the 32-byte header MAC.
const MAC_CHARS: usize = 43;
/// Bytes of the payload nonce that follows the header.
const NONCE_LEN: usize = 16;
/// Bytes of the authentication tag that ends each STREAM chunk.
const TAG_LEN: usize = 16;
/// Bytes of one full STREAM chunk: 64 KiB of data and its tag.
const CHUNK: usize = 64 * 1024 + TAG_LEN;

impl Envelope {
    /// Checks the shape of a binary age file within `limits`, in one pass.
    ///
    /// # Errors
    /// [`UnsealError::Malformed`] saying which bound or rule the file breaks. It accepts
    /// every file age itself writes for up to `max_stanzas - 1` recipients; what it lets
    /// through may still fail in age (a bad MAC, an invalid key share).
    pub fn parse(file: &[u8], limits: &Limits) -> Result<Envelope, UnsealError> {
        if file.len() > limits.max_file {
            return Err(UnsealError::Malformed("the age file is larger than a sealed value can be"));
        }
        let Some(rest) = file.strip_prefix(VERSION_LINE) else {
            return Err(if file.starts_with(VERSION_PREFIX) {
                UnsealError::Malformed("unknown age version")
            } else {
                UnsealError::Malformed("bad age header")
            });
        };
        let mut lines = Lines { rest, used: VERSION_LINE.len(), limit: limits.max_header };
        let mut envelope = Envelope { stanzas: 0, recipients: Vec::new(), scope: None, header_len: 0 };
        loop {
            let line = lines.next()?;
            if let Some(mac) = line.strip_prefix(b"--- ") {
                if mac.len() != MAC_CHARS || !mac.iter().all(|&b| is_base64(b)) {
                    return Err(UnsealError::Malformed("bad age header"));
                }
                break;
            }
            let args = line.strip_prefix(b"-> ").ok_or(UnsealError::Malformed("bad age header"))?;
            envelope.stanzas += 1;
            if envelope.stanzas > limits.max_stanzas {
                return Err(UnsealError::Malformed("the age header has more recipient stanzas than allowed"));
            }
            if line.len() > limits.max_stanza_line {
                return Err(UnsealError::Malformed("an age stanza line is longer than allowed"));
            }
            if args.is_empty()
                || !args.split(|&b| b == b' ').all(|a| !a.is_empty() && a.iter().all(u8::is_ascii_graphic))
            {
                return Err(UnsealError::Malformed("bad age header"));
            }
            let mut fields = args.split(|&b| b == b' ').map(|a| String::from_utf8_lossy(a).into_owned());
            let tag = fields.next().unwrap_or_default();
            if tag == SCOPE_TAG {
                if envelope.scope.replace(fields.collect()).is_some() {
                    return Err(UnsealError::Malformed("the age header has two scope stanzas"));
                }
            } else if !tag.ends_with("-grease") {
                envelope.recipients.push(tag);
            }
            body(&mut lines, limits.max_body_lines)?;
        }
        envelope.header_len = lines.used;
        // The nonce must be whole; a short payload is age's to report (as tampered).
        if file.len() - envelope.header_len < NONCE_LEN {
            return Err(UnsealError::Malformed("the age file ends before its nonce"));
        }
        Ok(envelope)
    }

    /// The plaintext length that the encrypted payload of a `file_len`-byte file frames,
    /// read from age's STREAM chunking alone (64 KiB chunks, each with a 16-byte tag; the
    /// last shorter but holding a tag, and empty only when it is the only one). Says
    /// nothing of the bytes: a payload cut within a chunk's data, or altered, still
    /// frames; only opening it tells.
    ///
    /// # Errors
    /// Why the payload cannot be age's: it ends inside a tag, or with an empty chunk
    /// after full ones.
    pub fn framed_plaintext(&self, file_len: usize) -> Result<usize, &'static str> {
        let payload = file_len.saturating_sub(self.header_len + NONCE_LEN);
        let chunks = payload.div_ceil(CHUNK).max(1);
        let last = payload - (chunks - 1) * CHUNK;
        if last < TAG_LEN {
            return Err("its encrypted payload ends inside a chunk's tag (truncated)");
        }
        if last == TAG_LEN && chunks > 1 {
            return Err("its encrypted payload ends with an empty chunk after full ones (truncated or extended)");
        }
        Ok(payload - chunks * TAG_LEN)
    }

    /// `X25519` stanzas: each costs one key agreement per identity tried.
    pub fn x25519_stanzas(&self) -> usize {
        self.recipients.iter().filter(|t| *t == "X25519").count()
    }
}

/// Decodes the base64 text of a sealed value and checks its shape: the length before
/// decoding, then [`Envelope::parse`].
///
/// # Errors
/// [`UnsealError::Malformed`] over a bound, [`UnsealError::Base64`] when not canonical
/// standard base64.
pub fn decode(text: &str, limits: &Limits) -> Result<(Vec<u8>, Envelope), UnsealError> {
    let text = text.trim().as_bytes();
    if text.len() > limits.max_base64() {
        return Err(UnsealError::Malformed("the age file is larger than a sealed value can be"));
    }
    let bytes = STANDARD.decode(text).map_err(|_| UnsealError::Base64)?;
    let envelope = Envelope::parse(&bytes, limits)?;
    Ok((bytes, envelope))
}

/// Consumes one stanza body: full 64-column lines, then one shorter (maybe empty) line.
fn body(lines: &mut Lines<'_>, max_lines: usize) -> Result<(), UnsealError> {
    for _ in 0..max_lines {
        let line = lines.next()?;
        if line.len() > BODY_COLUMNS || !line.iter().all(|&b| is_base64(b)) {
            return Err(UnsealError::Malformed("bad age header"));
        }
        if line.len() < BODY_COLUMNS {
            return Ok(());
        }
    }
    Err(UnsealError::Malformed("an age stanza body is longer than allowed"))
}

/// The header's lines, never reading past the header limit.
struct Lines<'a> {
    rest: &'a [u8],
    used: usize,
    limit: usize,
}

impl<'a> Lines<'a> {
    /// The next line without its LF.
    fn next(&mut self) -> Result<&'a [u8], UnsealError> {
        let window = &self.rest[..self.rest.len().min(self.limit.saturating_sub(self.used))];
        let Some(end) = window.iter().position(|&b| b == b'\n') else {
            return Err(if window.len() < self.rest.len() {
                UnsealError::Malformed("the age header is larger than allowed")
            } else {
                UnsealError::Malformed("bad age header")
            });
        };
        let line = &self.rest[..end];
        self.rest = &self.rest[end + 1..];
        self.used += end + 1;
        Ok(line)
    }
}

fn is_base64(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'+' || b == b'/'
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{Recipients, generate_identity};
    use crate::{Binding, seal_value};

    #[test]
    fn the_framing_gives_the_exact_plaintext_length_and_refuses_cut_tags() {
        let to = |n: usize| Recipients::new((0..n).map(|_| generate_identity().to_public())).unwrap();
        let strict = Binding::new(crate::Scope::Strict, Some("prod"), Some("db"), "password").unwrap();
        for (binding, recipients, value_len) in [
            (Binding::ClusterWide, 1, 1),
            (strict.clone(), 3, 40),
            (strict, 1, 64 * 1024 - 30),
            (Binding::ClusterWide, 2, 200_000),
        ] {
            let value = vec![7u8; value_len];
            let sealed = seal_value(&value, &binding, &to(recipients)).unwrap();
            let bytes = STANDARD.decode(&sealed.ciphertext).unwrap();
            let envelope = Envelope::parse(&bytes, &Limits::VALUE).unwrap();
            let fields: Vec<String> = binding.fields().iter().map(|f| (*f).to_owned()).collect();
            assert_eq!(envelope.scope.as_ref(), Some(&fields));
            let header = Binding::header_len(&fields, envelope.x25519_stanzas());
            assert_eq!(envelope.framed_plaintext(bytes.len()), Ok(header + value_len), "{binding:?} {value_len}");
        }
        let bytes = sealed(1);
        let envelope = Envelope::parse(&bytes, &Limits::VALUE).unwrap();
        let payload = bytes.len() - envelope.header_len - NONCE_LEN;
        // Cut into the only chunk's tag: refused. A full chunk then an empty one: refused.
        assert!(envelope.framed_plaintext(envelope.header_len + NONCE_LEN + 15).is_err());
        assert!(envelope.framed_plaintext(envelope.header_len + NONCE_LEN + CHUNK + TAG_LEN).is_err());
        assert!(envelope.framed_plaintext(envelope.header_len + NONCE_LEN + CHUNK + 3).is_err());
        assert_eq!(envelope.framed_plaintext(bytes.len()), Ok(payload - TAG_LEN));
    }

    fn sealed(recipients: usize) -> Vec<u8> {
        let to = Recipients::new((0..recipients).map(|_| generate_identity().to_public())).unwrap();
        let value = seal_value(b"v", &Binding::ClusterWide, &to).unwrap();
        STANDARD.decode(value.ciphertext).unwrap()
    }

    /// A header of `stanzas` copies of `stanza`, a MAC line and a minimal payload.
    fn crafted(stanza: &str, stanzas: usize) -> Vec<u8> {
        let mut file = VERSION_LINE.to_vec();
        file.extend(stanza.repeat(stanzas).as_bytes());
        file.extend(format!("--- {}\n", "A".repeat(MAC_CHARS)).as_bytes());
        file.extend([0u8; NONCE_LEN + 16]);
        file
    }

    #[test]
    fn accepts_what_gitseal_writes_up_to_the_recipient_bound() {
        for n in [1, 2, 10, bounds::MAX_KEY_IDS] {
            for _ in 0..20 {
                let file = sealed(n);
                let envelope = Envelope::parse(&file, &Limits::VALUE).unwrap();
                assert_eq!(envelope.x25519_stanzas(), n);
                assert_eq!(envelope.recipients.len(), n);
                assert_eq!(envelope.scope.as_deref(), Some(&["cluster-wide".to_owned()][..]));
                let scope = 1;
                assert!(envelope.stanzas == n + scope || envelope.stanzas == n + scope + 1, "grease is optional");
                assert!(file[..envelope.header_len].ends_with(b"\n") && envelope.header_len < file.len());
            }
        }
    }

    #[test]
    fn refuses_each_bound() {
        let empty = "-> a\n\n";
        let limits = Limits::VALUE;
        let cases = [
            (crafted(empty, limits.max_stanzas + 1), "more recipient stanzas"),
            (crafted(&format!("-> {}\n\n", "a".repeat(2000)), 5), "header is larger than allowed"),
            (crafted(empty, 40_000), "more recipient stanzas"),
            (crafted(&format!("-> {}\n\n", "a".repeat(limits.max_stanza_line)), 1), "longer than allowed"),
            (crafted(&format!("-> a\n{}\n", format!("{}\n", "A".repeat(64)).repeat(4)), 1), "body is longer"),
            (vec![b'x'; limits.max_file + 1], "larger than a sealed value"),
        ];
        for (file, want) in cases {
            match Envelope::parse(&file, &limits) {
                Err(UnsealError::Malformed(m)) => assert!(m.contains(want), "{m} vs {want}"),
                other => panic!("{want}: {other:?}"),
            }
        }
        assert_eq!(Envelope::parse(&crafted(empty, limits.max_stanzas), &limits).unwrap().stanzas, 65);
    }

    #[test]
    fn reads_the_scope_stanza_once() {
        let scope = "-> gitseal-scope strict prod db password\n\n";
        let envelope = Envelope::parse(&crafted(scope, 1), &Limits::VALUE).unwrap();
        assert_eq!(envelope.scope.unwrap(), ["strict", "prod", "db", "password"]);
        assert!(envelope.recipients.is_empty(), "the scope stanza is not a recipient");
        let twice = Envelope::parse(&crafted(scope, 2), &Limits::VALUE);
        assert_eq!(twice, Err(UnsealError::Malformed("the age header has two scope stanzas")));
    }

    #[test]
    fn refuses_broken_shapes() {
        let mac = format!("--- {}\n", "A".repeat(MAC_CHARS));
        for bad in [
            &b""[..],
            b"age-encryption.org/v1",
            b"age-encryption.org/v1\n-> X25519 abc\n",
            b"age-encryption.org/v1\n->  X25519\n\n",
            b"age-encryption.org/v1\n-> X25519 a\xff\n\n",
            b"age-encryption.org/v1\n-> \n\n",
            b"age-encryption.org/v1\n-> a\nnot*base64\n",
            b"age-encryption.org/v1\n--- short\n",
            b"age-encryption.org/v1\r\n",
            &[VERSION_LINE, mac.as_bytes(), &[0u8; NONCE_LEN - 1]].concat(),
        ] {
            assert!(matches!(Envelope::parse(bad, &Limits::VALUE), Err(UnsealError::Malformed(_))), "{bad:?}");
        }
        let v2 = Envelope::parse(b"age-encryption.org/v2\n", &Limits::VALUE);
        assert_eq!(v2, Err(UnsealError::Malformed("unknown age version")));
    }

    #[test]
    fn decode_checks_length_before_decoding() {
        let limits = Limits::VALUE;
        let sealed = STANDARD.encode(sealed(1));
        assert!(decode(&format!(" {sealed}\n"), &limits).is_ok());
        assert_eq!(decode("not base64!", &limits).err(), Some(UnsealError::Base64));
        let long = "!".repeat(limits.max_base64() + 1);
        assert!(matches!(decode(&long, &limits), Err(UnsealError::Malformed(m)) if m.contains("larger")));
    }

    #[test]
    fn bounds_agree_with_the_crd() {
        let limits = Limits::VALUE;
        assert_eq!(STANDARD.encode(vec![0u8; limits.max_file]).len(), limits.max_base64());
        assert_eq!(limits.max_base64(), bounds::MAX_SEALED_BASE64);
        assert!(limits.holds_recipients(bounds::MAX_KEY_IDS) && !limits.holds_recipients(bounds::MAX_KEY_IDS + 1));
    }
}
