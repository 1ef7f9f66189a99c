//! The scope binding written inside every sealed payload.
//!
//! age authenticates the whole payload but has no associated data, so the place a value
//! is sealed for travels *inside* the encryption, as one text line before the value:
//!
//! ```text
//! gitseal/v1 strict <namespace> <name> <key>\n<value bytes>
//! gitseal/v1 namespace-wide <namespace>\n<value bytes>
//! gitseal/v1 cluster-wide\n<value bytes>
//! ```
//!
//! Namespaces, names and data keys never contain spaces or newlines (Kubernetes'
//! naming rules, checked by [`crate::validate`]), so the line is unambiguous, and
//! `tail -n +2` strips it when recovering a value with the stock `age` tool.

use std::fmt;

use crate::Scope;
use crate::error::UnsealError;
use crate::keys::KeyId;
use crate::validate;

/// Version tag that opens every payload header.
pub const HEADER_TAG: &str = "gitseal/v1";
/// Prefix of the optional header field listing the key ids a value is sealed to.
const RECIPIENTS_FIELD: &str = "to=";

/// A decrypted payload, split: its header's fields and the value.
#[derive(Debug, PartialEq, Eq)]
pub struct Payload<'a> {
    /// Where the value may be unsealed.
    pub binding: Binding,
    /// The key ids named by `to=`, if the header has that field.
    pub recipients: Option<Vec<KeyId>>,
    /// The value's bytes.
    pub value: &'a [u8],
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
    /// A message saying which coordinate the scope needs but is missing, or which rule a
    /// coordinate breaks.
    pub fn new(scope: Scope, namespace: Option<&str>, name: Option<&str>, key: &str) -> Result<Binding, String> {
        let need = |what: &str, v: Option<&str>| {
            v.filter(|s| !s.is_empty())
                .map(str::to_owned)
                .ok_or_else(|| format!("scope {scope} needs a {what}; set metadata.{what} or pass -n/--namespace, or choose a wider --scope"))
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
        match &binding {
            Binding::Strict { namespace, name, key } => {
                validate::namespace(namespace)?;
                validate::object_name(name)?;
                validate::data_key(key)?;
            }
            Binding::NamespaceWide { namespace } => validate::namespace(namespace)?,
            Binding::ClusterWide => {}
        }
        Ok(binding)
    }

    /// The scope of this binding.
    pub fn scope(&self) -> Scope {
        match self {
            Binding::Strict { .. } => Scope::Strict,
            Binding::NamespaceWide { .. } => Scope::NamespaceWide,
            Binding::ClusterWide => Scope::ClusterWide,
        }
    }

    /// The header line, including its trailing newline, naming the key ids the value is
    /// sealed to (`to=`), so they are authenticated along with the value.
    pub(crate) fn header(&self, recipients: &[KeyId]) -> String {
        let mut line = match self {
            Binding::Strict { namespace, name, key } => format!("{HEADER_TAG} strict {namespace} {name} {key}"),
            Binding::NamespaceWide { namespace } => format!("{HEADER_TAG} namespace-wide {namespace}"),
            Binding::ClusterWide => format!("{HEADER_TAG} cluster-wide"),
        };
        if !recipients.is_empty() {
            let ids: Vec<&str> = recipients.iter().map(KeyId::as_str).collect();
            line.push_str(&format!(" {RECIPIENTS_FIELD}{}", ids.join(",")));
        }
        line.push('\n');
        line
    }

    /// Splits a decrypted payload into its binding and the value.
    ///
    /// # Errors
    /// [`UnsealError::BadPayload`] when the header is missing, of an unknown version or
    /// malformed.
    pub fn split_payload(payload: &[u8]) -> Result<Payload<'_>, UnsealError> {
        let end = payload.iter().position(|&b| b == b'\n').ok_or(UnsealError::BadPayload)?;
        let line = std::str::from_utf8(&payload[..end]).map_err(|_| UnsealError::BadPayload)?;
        let mut fields: Vec<&str> = line.split(' ').collect();
        // Optional last field: the key ids sealed to. Data keys cannot contain '=', so it
        // cannot be mistaken for a coordinate.
        let recipients = match fields.last().and_then(|f| f.strip_prefix(RECIPIENTS_FIELD)) {
            Some(list) => {
                let ids: Option<Vec<KeyId>> = list.split(',').map(KeyId::parse).collect();
                fields.pop();
                Some(ids.filter(|ids| !ids.is_empty()).ok_or(UnsealError::BadPayload)?)
            }
            None => None,
        };
        let binding = match fields.as_slice() {
            [HEADER_TAG, "strict", ns, name, key] => {
                Binding::Strict { namespace: (*ns).to_owned(), name: (*name).to_owned(), key: (*key).to_owned() }
            }
            [HEADER_TAG, "namespace-wide", ns] => Binding::NamespaceWide { namespace: (*ns).to_owned() },
            [HEADER_TAG, "cluster-wide"] => Binding::ClusterWide,
            _ => return Err(UnsealError::BadPayload),
        };
        if !binding.coordinates_valid() {
            return Err(UnsealError::BadPayload);
        }
        Ok(Payload { binding, recipients, value: &payload[end + 1..] })
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

    #[test]
    fn header_round_trips_for_each_scope() {
        for b in [
            Binding::Strict { namespace: "prod".into(), name: "db".into(), key: "pass.word".into() },
            Binding::NamespaceWide { namespace: "prod".into() },
            Binding::ClusterWide,
        ] {
            let ids = vec![KeyId::parse("0123456789abcdef").unwrap(), KeyId::parse("fedcba9876543210").unwrap()];
            for recipients in [vec![], ids] {
                let mut payload = b.header(&recipients).into_bytes();
                payload.extend_from_slice(b"v\nalue\0");
                let parsed = Binding::split_payload(&payload).unwrap();
                assert_eq!(parsed.binding, b);
                assert_eq!(parsed.recipients, (!recipients.is_empty()).then_some(recipients));
                assert_eq!(parsed.value, b"v\nalue\0");
            }
        }
    }

    #[test]
    fn malformed_headers_are_refused() {
        for bad in [
            &b"no newline"[..],
            b"gitseal/v2 cluster-wide\nx",
            b"gitseal/v1 strict prod db\nx",
            b"gitseal/v1 strict prod db key extra\nx",
            b"gitseal/v1 namespace-wide Bad_NS\nx",
            b"gitseal/v1 bogus\nx",
            b"gitseal/v1 cluster-wide to=\nx",
            b"gitseal/v1 cluster-wide to=0123\nx",
            b"gitseal/v1 strict prod db to=0123456789abcdef\nx",
            b"\xff\xfe\nx",
        ] {
            assert_eq!(Binding::split_payload(bad).err(), Some(UnsealError::BadPayload), "{bad:?}");
        }
    }

    #[test]
    fn coordinates_that_would_break_the_header_are_refused_where_it_is_written() {
        for (ns, name, key) in [
            ("prod", "web token\n", "k"),
            ("prod", "web", "token password"),
            ("Prod", "web", "k"),
            ("prod", "web", "k\ngitseal/v1 cluster-wide"),
        ] {
            let err = Binding::new(Scope::Strict, Some(ns), Some(name), key).unwrap_err();
            assert!(err.contains("not a valid") || err.contains("may contain only"), "{err}");
        }
        assert!(Binding::new(Scope::NamespaceWide, Some("a b"), None, "k").is_err());
        assert!(Binding::new(Scope::ClusterWide, None, Some("any name"), "any key").is_ok(), "binds neither");
    }

    #[test]
    fn scope_needs_its_coordinates() {
        assert!(Binding::new(Scope::Strict, Some("ns"), None, "k").unwrap_err().contains("name"));
        assert!(Binding::new(Scope::NamespaceWide, None, Some("n"), "k").unwrap_err().contains("namespace"));
        assert_eq!(Binding::new(Scope::ClusterWide, None, None, "k").unwrap(), Binding::ClusterWide);
    }
}
