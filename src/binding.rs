//! The scope binding written inside every sealed payload.
//!
//! age authenticates the whole payload but has no associated data, so the place a value
//! is sealed for travels *inside* the encryption, as one text line before the value:
//!
//! ```text
//! gitseal/v2 strict <namespace> <name> <key> to=<age1…>[,<age1…>…]\n<value bytes>
//! gitseal/v2 namespace-wide <namespace> to=<age1…>…\n<value bytes>
//! gitseal/v2 cluster-wide to=<age1…>…\n<value bytes>
//! ```
//!
//! `to=` names every recipient by its full public key, so a re-sealer can tell exactly
//! whom the value was sealed to. Version 1 headers (`gitseal/v1`, with an optional `to=`
//! of 64-bit key ids) are still read; only version 2 is written.
//!
//! Namespaces, names and data keys never contain spaces or newlines (Kubernetes'
//! naming rules, checked by [`crate::validate`]), so the line is unambiguous, and
//! `tail -n +2` strips it when recovering a value with the stock `age` tool.

use std::fmt;
use std::str::FromStr;

use age::x25519;

use crate::Scope;
use crate::error::UnsealError;
use crate::keys::KeyId;
use crate::validate;

/// Version tag that opens every payload header written today.
pub const HEADER_TAG: &str = "gitseal/v2";
/// Version tag of the first format, still read.
pub const HEADER_TAG_V1: &str = "gitseal/v1";
/// Prefix of the header field listing whom a value is sealed to.
const RECIPIENTS_FIELD: &str = "to=";

/// A decrypted payload, split: its header's fields and the value.
#[derive(Debug)]
pub struct Payload<'a> {
    /// Where the value may be unsealed.
    pub binding: Binding,
    /// Whom the header says the value is sealed to.
    pub sealed_to: SealedTo,
    /// The value's bytes.
    pub value: &'a [u8],
}

/// Whom a payload header says its value is sealed to, authenticated with the value.
#[derive(Clone, Debug)]
pub enum SealedTo {
    /// Version 2: the recipients' full public keys.
    Recipients(Vec<x25519::Recipient>),
    /// Version 1: 64-bit key ids, which name keys but cannot prove who holds them.
    LegacyIds(Vec<KeyId>),
    /// Version 1 without the field: nobody recorded.
    Unrecorded,
}

impl SealedTo {
    /// The ids of everyone named (legacy ids as they were written).
    pub fn ids(&self) -> Vec<KeyId> {
        match self {
            SealedTo::Recipients(list) => list.iter().map(KeyId::of).collect(),
            SealedTo::LegacyIds(ids) => ids.clone(),
            SealedTo::Unrecorded => Vec::new(),
        }
    }
}

impl PartialEq for SealedTo {
    fn eq(&self, other: &SealedTo) -> bool {
        match (self, other) {
            (SealedTo::Recipients(a), SealedTo::Recipients(b)) => {
                a.iter().map(ToString::to_string).eq(b.iter().map(ToString::to_string))
            }
            (SealedTo::LegacyIds(a), SealedTo::LegacyIds(b)) => a == b,
            (SealedTo::Unrecorded, SealedTo::Unrecorded) => true,
            _ => false,
        }
    }
}

impl Eq for SealedTo {}

/// Why a binding cannot be built. Messages say what is wrong in the object's terms; each
/// program adds how to fix it in its own (a flag, a field).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BindingError {
    /// The scope binds a coordinate the object lacks.
    #[error("scope {scope} needs a {coordinate}")]
    Missing {
        /// The scope asked for.
        scope: Scope,
        /// `namespace` or `name`.
        coordinate: &'static str,
    },
    /// A coordinate breaks Kubernetes' naming rules (the message says which and how).
    #[error("{0}")]
    Invalid(String),
}

/// Where a value may be unsealed: the scope plus the coordinates it binds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Binding {
    /// Exactly this namespace, object name and data key.
    Strict {
        /// Namespace of the SealedSecret.
        namespace: String,
        /// Name of the SealedSecret.
        name: String,
        /// Data key of the value.
        key: String,
    },
    /// Any object and key in this namespace.
    NamespaceWide {
        /// Namespace of the SealedSecret.
        namespace: String,
    },
    /// Anywhere.
    ClusterWide,
}

impl Binding {
    /// The binding a value at `namespace/name`, key `key` needs under `scope`. The
    /// coordinates the scope binds are checked against Kubernetes' naming rules here,
    /// where the header is written, so no sealer can write a header that reads back as
    /// another place (a name with a space or a newline).
    ///
    /// # Errors
    /// [`BindingError::Missing`] naming the coordinate the scope needs but the object
    /// lacks; [`BindingError::Invalid`] saying which rule a coordinate breaks.
    pub fn new(scope: Scope, namespace: Option<&str>, name: Option<&str>, key: &str) -> Result<Binding, BindingError> {
        let need = |coordinate: &'static str, v: Option<&str>| {
            v.filter(|s| !s.is_empty()).map(str::to_owned).ok_or(BindingError::Missing { scope, coordinate })
        };
        let binding = match scope {
            Scope::Strict => Binding::Strict {
                namespace: need("namespace", namespace)?,
                name: need("name", name)?,
                key: key.to_owned(),
            },
            Scope::NamespaceWide => Binding::NamespaceWide { namespace: need("namespace", namespace)? },
            Scope::ClusterWide => Binding::ClusterWide,
        };
        let valid = match &binding {
            Binding::Strict { namespace, name, key } => {
                validate::namespace(namespace).and(validate::object_name(name)).and(validate::data_key(key))
            }
            Binding::NamespaceWide { namespace } => validate::namespace(namespace),
            Binding::ClusterWide => Ok(()),
        };
        valid.map(|()| binding).map_err(BindingError::Invalid)
    }

    /// The scope of this binding.
    pub fn scope(&self) -> Scope {
        match self {
            Binding::Strict { .. } => Scope::Strict,
            Binding::NamespaceWide { .. } => Scope::NamespaceWide,
            Binding::ClusterWide => Scope::ClusterWide,
        }
    }

    /// The version 2 header line, including its trailing newline, naming every recipient
    /// (`to=`) so they are authenticated along with the value.
    pub(crate) fn header<'r>(&self, recipients: impl IntoIterator<Item = &'r x25519::Recipient>) -> String {
        let to: Vec<String> = recipients.into_iter().map(ToString::to_string).collect();
        format!("{HEADER_TAG} {} {RECIPIENTS_FIELD}{}\n", self.fields().join(" "), to.join(","))
    }

    /// Bytes of the format 2 payload header [`Binding::header`] writes for a binding whose
    /// fields are `fields` and `recipients` X25519 recipients (each `age1…` is 62
    /// characters): what every such value's plaintext holds before the value itself.
    pub fn header_len(fields: &[String], recipients: usize) -> usize {
        let fields: usize = fields.iter().map(String::len).sum::<usize>() + fields.len().saturating_sub(1);
        let to = RECIPIENTS_FIELD.len() + 62 * recipients + recipients.saturating_sub(1);
        HEADER_TAG.len() + 1 + fields + 1 + to + 1
    }

    /// The binding as fields: the scope name and its coordinates (the payload header's
    /// middle, and the arguments of the scope stanza).
    pub fn fields(&self) -> Vec<&str> {
        match self {
            Binding::Strict { namespace, name, key } => vec!["strict", namespace, name, key],
            Binding::NamespaceWide { namespace } => vec!["namespace-wide", namespace],
            Binding::ClusterWide => vec!["cluster-wide"],
        }
    }

    /// Splits a decrypted payload into its binding, whom it is sealed to, and the value.
    /// Reads both header versions.
    ///
    /// # Errors
    /// [`UnsealError::BadPayload`] when the header is missing, of an unknown version or
    /// malformed.
    pub fn split_payload(payload: &[u8]) -> Result<Payload<'_>, UnsealError> {
        let end = payload.iter().position(|&b| b == b'\n').ok_or(UnsealError::BadPayload)?;
        let line = std::str::from_utf8(&payload[..end]).map_err(|_| UnsealError::BadPayload)?;
        let mut fields: Vec<&str> = line.split(' ').collect();
        // The last field may list whom the value is sealed to. Data keys cannot contain
        // '=', so it cannot be mistaken for a coordinate.
        let to = fields.last().and_then(|f| f.strip_prefix(RECIPIENTS_FIELD));
        if to.is_some() {
            fields.pop();
        }
        let (tag, binding) = fields.split_first().ok_or(UnsealError::BadPayload)?;
        let sealed_to = match (*tag, to) {
            (HEADER_TAG, Some(list)) => {
                let keys: Result<Vec<x25519::Recipient>, _> = list.split(',').map(parse_recipient).collect();
                SealedTo::Recipients(keys?)
            }
            (HEADER_TAG_V1, Some(list)) => {
                let ids: Option<Vec<KeyId>> =
                    list.split(',').map(|id| KeyId::parse(id).filter(KeyId::is_legacy)).collect();
                SealedTo::LegacyIds(ids.ok_or(UnsealError::BadPayload)?)
            }
            (HEADER_TAG_V1, None) => SealedTo::Unrecorded,
            _ => return Err(UnsealError::BadPayload),
        };
        let binding = Binding::from_fields(binding).ok_or(UnsealError::BadPayload)?;
        Ok(Payload { binding, sealed_to, value: &payload[end + 1..] })
    }

    /// Reads the fields [`Binding::fields`] writes (in the payload header and the scope
    /// stanza); `None` unless they are exactly one binding with valid coordinates.
    pub fn from_fields<S: AsRef<str>>(fields: &[S]) -> Option<Binding> {
        let fields: Vec<&str> = fields.iter().map(AsRef::as_ref).collect();
        let binding = match fields.as_slice() {
            ["strict", ns, name, key] => {
                Binding::Strict { namespace: (*ns).to_owned(), name: (*name).to_owned(), key: (*key).to_owned() }
            }
            ["namespace-wide", ns] => Binding::NamespaceWide { namespace: (*ns).to_owned() },
            ["cluster-wide"] => Binding::ClusterWide,
            _ => return None,
        };
        binding.coordinates_valid().then_some(binding)
    }

    /// Whether every coordinate obeys Kubernetes' naming rules (so the header line is
    /// unambiguous).
    pub fn coordinates_valid(&self) -> bool {
        match self {
            Binding::Strict { namespace, name, key } => {
                validate::namespace(namespace).is_ok()
                    && validate::object_name(name).is_ok()
                    && validate::data_key(key).is_ok()
            }
            Binding::NamespaceWide { namespace } => validate::namespace(namespace).is_ok(),
            Binding::ClusterWide => true,
        }
    }
}

/// What differs when a value's object moved: the same scope and data key, bound to another
/// name or namespace. This is what a rename does (kustomize's `namePrefix`, `nameSuffix` or
/// `namespace`), as opposed to a value copied to another key or sealed under another scope.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Moved {
    /// The namespace differs.
    pub namespace: bool,
    /// The object's name differs (strict scope only: the others bind no name).
    pub name: bool,
}

impl Binding {
    /// How `now` differs from `self` when only the object moved; `None` when they are equal,
    /// or differ in scope or data key.
    pub fn moved_to(&self, now: &Binding) -> Option<Moved> {
        let moved = match (self, now) {
            (
                Binding::Strict { namespace: ns, name, key },
                Binding::Strict { namespace: now_ns, name: now_name, key: now_key },
            ) if key == now_key => Moved { namespace: ns != now_ns, name: name != now_name },
            (Binding::NamespaceWide { namespace: ns }, Binding::NamespaceWide { namespace: now_ns }) => {
                Moved { namespace: ns != now_ns, name: false }
            }
            _ => return None,
        };
        (moved.namespace || moved.name).then_some(moved)
    }

    /// Where the binding lets its object be, in words and without the data key:
    /// `prod/db` (strict), `namespace prod` (namespace-wide), `any namespace` (cluster-wide).
    pub fn place(&self) -> String {
        match self {
            Binding::Strict { namespace, name, .. } => format!("{namespace}/{name}"),
            Binding::NamespaceWide { namespace } => format!("namespace {namespace}"),
            Binding::ClusterWide => "any namespace".to_owned(),
        }
    }
}

/// One recipient of a version 2 `to=` list: an X25519 recipient in its canonical
/// (lower-case) text, so the header has exactly one spelling.
fn parse_recipient(text: &str) -> Result<x25519::Recipient, UnsealError> {
    x25519::Recipient::from_str(text).ok().filter(|r| r.to_string() == text).ok_or(UnsealError::BadPayload)
}

impl fmt::Display for Binding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Binding::Strict { namespace, name, key } => write!(f, "strict scope {namespace}/{name} key {key:?}"),
            Binding::NamespaceWide { namespace } => write!(f, "namespace-wide scope in {namespace:?}"),
            Binding::ClusterWide => f.write_str("cluster-wide scope"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";
    const B: &str = "age12quc20geg9p3uh50g8yhrnkemngeczqcfmzzhkmkl9x6559tp44qqnuutw";

    fn bindings() -> [Binding; 3] {
        [
            Binding::Strict { namespace: "prod".into(), name: "db".into(), key: "pass.word".into() },
            Binding::NamespaceWide { namespace: "prod".into() },
            Binding::ClusterWide,
        ]
    }

    #[test]
    fn header_round_trips_for_each_scope() {
        let recipients: Vec<x25519::Recipient> = [A, B].iter().map(|r| r.parse().unwrap()).collect();
        for b in bindings() {
            let mut payload = b.header(&recipients).into_bytes();
            assert!(payload.starts_with(b"gitseal/v2 "));
            payload.extend_from_slice(b"v\nalue\0");
            let parsed = Binding::split_payload(&payload).unwrap();
            assert_eq!(parsed.binding, b);
            assert_eq!(parsed.sealed_to, SealedTo::Recipients(recipients.clone()));
            assert_eq!(parsed.value, b"v\nalue\0");
        }
    }

    #[test]
    fn version_1_headers_are_still_read() {
        for b in bindings() {
            let line = format!("gitseal/v1 {}", b.fields().join(" "));
            let bare = format!("{line}\nx");
            let parsed = Binding::split_payload(bare.as_bytes()).unwrap();
            assert_eq!((parsed.binding, parsed.sealed_to), (b.clone(), SealedTo::Unrecorded));
            let listed = format!("{line} to=0123456789abcdef,fedcba9876543210\nx");
            let ids = ["0123456789abcdef", "fedcba9876543210"].map(|i| KeyId::parse(i).unwrap()).to_vec();
            assert_eq!(Binding::split_payload(listed.as_bytes()).unwrap().sealed_to, SealedTo::LegacyIds(ids));
        }
    }

    #[test]
    fn malformed_headers_are_refused() {
        let upper = A.to_uppercase();
        for bad in [
            "no newline".to_owned(),
            "gitseal/v3 cluster-wide\nx".to_owned(),
            "gitseal/v2 cluster-wide\nx".to_owned(),
            "gitseal/v1 strict prod db\nx".to_owned(),
            "gitseal/v1 strict prod db key extra\nx".to_owned(),
            "gitseal/v1 namespace-wide Bad_NS\nx".to_owned(),
            "gitseal/v1 bogus\nx".to_owned(),
            "gitseal/v1 cluster-wide to=\nx".to_owned(),
            "gitseal/v1 cluster-wide to=0123\nx".to_owned(),
            "gitseal/v1 strict prod db to=0123456789abcdef\nx".to_owned(),
            "gitseal/v1 cluster-wide to=0123456789abcdef0123456789abcdef\nx".to_owned(),
            format!("gitseal/v1 cluster-wide to={A}\nx"),
            "gitseal/v2 cluster-wide to=\nx".to_owned(),
            "gitseal/v2 cluster-wide to=0123456789abcdef0123456789abcdef\nx".to_owned(),
            format!("gitseal/v2 cluster-wide to={upper}\nx"),
            format!("gitseal/v2 cluster-wide to={A},\nx"),
            format!("gitseal/v2 cluster-wide to={A} to={B}\nx"),
            format!("gitseal/v2 strict prod db to={A}\nx"),
            format!("gitseal/v2 cluster-wide  to={A}\nx"),
        ] {
            assert_eq!(Binding::split_payload(bad.as_bytes()).err(), Some(UnsealError::BadPayload), "{bad:?}");
        }
        assert_eq!(Binding::split_payload(b"\xff\xfe\nx").err(), Some(UnsealError::BadPayload));
    }

    #[test]
    fn coordinates_that_would_break_the_header_are_refused_where_it_is_written() {
        for (ns, name, key) in [
            ("prod", "web token\n", "k"),
            ("prod", "web", "token password"),
            ("Prod", "web", "k"),
            ("prod", "web", "k\ngitseal/v1 cluster-wide"),
        ] {
            let err = Binding::new(Scope::Strict, Some(ns), Some(name), key).unwrap_err().to_string();
            assert!(err.contains("not a valid") || err.contains("may contain only"), "{err}");
        }
        assert!(Binding::new(Scope::NamespaceWide, Some("a b"), None, "k").is_err());
        assert!(Binding::new(Scope::ClusterWide, None, Some("any name"), "any key").is_ok(), "binds neither");
    }

    #[test]
    fn a_move_is_another_name_or_namespace_under_the_same_scope_and_key() {
        let strict = |ns: &str, name: &str, key: &str| Binding::new(Scope::Strict, Some(ns), Some(name), key).unwrap();
        let wide = |ns: &str| Binding::new(Scope::NamespaceWide, Some(ns), None, "k").unwrap();
        let db = strict("prod", "db", "password");
        let renamed = Some(Moved { namespace: false, name: true });
        assert_eq!(db.moved_to(&strict("prod", "app-db", "password")), renamed);
        assert_eq!(db.moved_to(&strict("dev", "db", "password")), Some(Moved { namespace: true, name: false }));
        assert_eq!(db.moved_to(&strict("dev", "x", "password")), Some(Moved { namespace: true, name: true }));
        assert_eq!(db.moved_to(&db), None, "not moved");
        assert_eq!(db.moved_to(&strict("prod", "db", "user")), None, "another key is a copy, not a move");
        assert_eq!(db.moved_to(&wide("prod")), None, "another scope");
        assert_eq!(wide("prod").moved_to(&wide("dev")), Some(Moved { namespace: true, name: false }));
        assert_eq!(Binding::ClusterWide.moved_to(&Binding::ClusterWide), None);
        assert_eq!([db.place(), wide("prod").place()], ["prod/db", "namespace prod"]);
    }

    #[test]
    fn scope_needs_its_coordinates() {
        let missing = |coordinate| Err(BindingError::Missing { scope: Scope::Strict, coordinate });
        assert_eq!(Binding::new(Scope::Strict, Some("ns"), None, "k"), missing("name"));
        assert_eq!(Binding::new(Scope::Strict, None, Some("n"), "k"), missing("namespace"));
        let err = Binding::new(Scope::NamespaceWide, None, Some("n"), "k").unwrap_err();
        assert_eq!(err.to_string(), "scope namespace-wide needs a namespace", "no program's flags in the core");
        assert_eq!(Binding::new(Scope::ClusterWide, None, None, "k").unwrap(), Binding::ClusterWide);
    }
}
