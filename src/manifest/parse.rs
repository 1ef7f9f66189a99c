//! From text to documents: a stream parsed into the lenient shapes of [`super::lenient`],
//! each then converted into a Secret, a SealedSecret, a List of them, or something else.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

use super::lenient::{MaybeDoc, RawDoc, SecretMap};
use super::secret::{PlainSecret, display_name};
use crate::error::{Error, Result};
use crate::{SealedSecret, crds};

/// One document of a stream.
#[derive(Debug)]
pub enum Document {
    /// A `v1` `Secret`.
    Secret(PlainSecret),
    /// A gitseal `SealedSecret`: `gitseal.dev/v1`, or an older version still served
    /// (`gitseal_crds::OLDER_API_VERSIONS`), read alike.
    Sealed(Box<SealedSecret>),
    /// A bitnami sealed-secrets `SealedSecret` (`bitnami.com/v1alpha1`), as parsed: only
    /// `gitseal migrate` reads it (`gitseal::incumbent::migrate`, behind the feature `incumbent`).
    Incumbent(Box<serde_json::Value>),
    /// A `v1` `List` or `SecretList` (what `kubectl get -o yaml` prints for several
    /// objects, and gitseal writes for several objects as JSON), holding documents.
    List {
        /// `List`, `SecretList`…
        kind: String,
        /// Its items, parsed like documents (a List inside a List is `Other`).
        items: Vec<Document>,
    },
    /// Anything else (a Deployment, a ConfigMap, an empty document…).
    Other {
        /// `kind`, if any.
        kind: Option<String>,
        /// `metadata.name`, if any.
        name: Option<String>,
    },
}

/// One object of a stream: a document, or an item of a List document.
#[derive(Debug)]
pub struct Located<'a> {
    /// 0-based index of the document in the stream.
    pub document: usize,
    /// 0-based index of the item, for an object inside a List.
    pub item: Option<usize>,
    /// The object.
    pub object: &'a Document,
}

impl Located<'_> {
    /// `document N` or `document N, item M` (1-based), for messages.
    pub fn place(&self) -> String {
        match self.item {
            None => format!("document {}", self.document + 1),
            Some(item) => format!("document {}, item {}", self.document + 1, item + 1),
        }
    }
}

/// Every object of `docs`, with the items of Lists in place of the Lists: what readers
/// that do not rewrite the file in place look at.
pub fn objects(docs: &[Document]) -> Vec<Located<'_>> {
    let mut out = Vec::new();
    for (document, doc) in docs.iter().enumerate() {
        match doc {
            Document::List { items, .. } => {
                out.extend(items.iter().enumerate().map(|(i, object)| Located { document, item: Some(i), object }));
            }
            object => out.push(Located { document, item: None, object }),
        }
    }
    out
}

/// Parses a stream of YAML documents (JSON is YAML too).
///
/// # Errors
/// [`Error::Parse`] for YAML that does not parse, [`Error::Invalid`] / [`Error::Key`] for a
/// Secret or SealedSecret that is not well-formed, each naming the document (1-based).
pub fn parse_documents(text: &str) -> Result<Vec<Document>> {
    let options = serde_saphyr::options! { with_snippet: false };
    let raw: Vec<MaybeDoc> = serde_saphyr::from_multiple_with_options(text, options).map_err(|e| Error::Parse {
        document: e.location().map_or(1, |l| crate::documents::document_at_line(text, l.line() as usize)),
        message: parse_message(&e),
    })?;
    raw.into_iter()
        .enumerate()
        .map(|(i, doc)| match doc {
            MaybeDoc::NotAnObject => Ok(Document::Other { kind: None, name: None }),
            MaybeDoc::Object(doc) => doc.into_document(i + 1),
        })
        .collect()
}

/// What went wrong, in words: the parser's bounds against hostile input by name, with
/// what to do; otherwise the first line of its message, which holds the reason and
/// position, never an excerpt of the input.
fn parse_message(e: &serde_saphyr::Error) -> String {
    use serde_saphyr::budget::BudgetBreach;
    match e {
        serde_saphyr::Error::Budget { breach: BudgetBreach::Documents { documents }, .. } => format!(
            "the file holds more than {} documents, more than gitseal reads from one file; split it into several files",
            documents.saturating_sub(1)
        ),
        serde_saphyr::Error::Budget { .. } => "the YAML is larger, deeper or uses more aliases than gitseal reads from one file (a bound against hostile input); split or simplify it".to_owned(),
        _ => e
            .to_string()
            .lines()
            .next()
            .unwrap_or("invalid YAML")
            .replace(", set DuplicateKeyPolicy in Options if acceptable", ""),
    }
}

impl RawDoc {
    fn into_document(self, document: usize) -> Result<Document> {
        let text = |v: &Option<serde_json::Value>| v.as_ref().and_then(|v| v.as_str()).map(str::to_owned);
        let kind = text(&self.kind);
        let api_version = text(&self.api_version);
        let meta_field =
            |f: &str| self.metadata.as_ref().and_then(|m| m.get(f)).and_then(|v| v.as_str()).map(str::to_owned);
        let name = meta_field("name");
        let namespace = meta_field("namespace");
        let invalid = |message: String| Error::Invalid {
            document,
            name: display_name(namespace.as_deref(), name.as_deref()),
            message,
        };
        match (api_version.as_deref(), kind.as_deref()) {
            (Some("v1"), Some("Secret")) => {
                // YAML reads `namespace: n`, `name: 123` or `name: on` as a bool or number:
                // say so, rather than that the field is missing.
                for field in ["name", "namespace"] {
                    let value = self.metadata.as_ref().and_then(|m| m.get(field));
                    if let Some(v) = value.filter(|v| !v.is_string() && !v.is_null()) {
                        return Err(invalid(format!(
                            "metadata.{field} is not a string (YAML reads {v} as a {}); quote it",
                            if v.is_boolean() {
                                "boolean"
                            } else if v.is_number() {
                                "number"
                            } else {
                                "structure"
                            }
                        )));
                    }
                }
                self.into_secret(document, name, namespace).map(Document::Secret)
            }
            (Some(version), Some("SealedSecret")) if crds::is_api_version(version) => {
                let value = serde_json::json!({
                    "apiVersion": crds::API_VERSION,
                    "kind": "SealedSecret",
                    "metadata": self.metadata.unwrap_or_else(|| serde_json::json!({})),
                    "spec": self.spec,
                    "status": self.status,
                });
                let sealed: SealedSecret =
                    serde_json::from_value(value).map_err(|e| invalid(format!("not a valid SealedSecret: {e}")))?;
                Ok(Document::Sealed(Box::new(sealed)))
            }
            (Some("v1"), Some(list)) if list.ends_with("List") && self.items.is_some() => {
                let items = self.items.unwrap_or_default().into_iter().map(|item| match item {
                    MaybeDoc::Object(doc) if !doc.is_list() => doc.into_document(document),
                    MaybeDoc::Object(doc) => Ok(Document::Other { kind: text(&doc.kind), name: None }),
                    MaybeDoc::NotAnObject => Ok(Document::Other { kind: None, name: None }),
                });
                Ok(Document::List { kind: list.to_owned(), items: items.collect::<Result<_>>()? })
            }
            (Some(other), Some("SealedSecret")) if other.starts_with(crds::migration::INCUMBENT_GROUP_PREFIX) => {
                Ok(Document::Incumbent(Box::new(serde_json::json!({
                    "apiVersion": other,
                    "kind": "SealedSecret",
                    "metadata": self.metadata.unwrap_or_else(|| serde_json::json!({})),
                    "spec": self.spec.unwrap_or_else(|| serde_json::json!({})),
                }))))
            }
            _ => Ok(Document::Other { kind, name }),
        }
    }

    fn into_secret(self, document: usize, name: Option<String>, namespace: Option<String>) -> Result<PlainSecret> {
        let who = display_name(namespace.as_deref(), name.as_deref());
        let invalid = |message: String| Error::Invalid { document, name: who.clone(), message };
        let key_err = |key: &str, message: &str| Error::Key {
            document,
            name: who.clone(),
            key: key.to_owned(),
            message: message.to_owned(),
        };
        let string_map = |field: &str| -> Result<BTreeMap<String, String>> {
            match self.metadata.as_ref().and_then(|m| m.get(field)) {
                None | Some(serde_json::Value::Null) => Ok(BTreeMap::new()),
                Some(v) => serde_json::from_value(v.clone())
                    .map_err(|_| invalid(format!("metadata.{field} must map strings to strings"))),
            }
        };
        let mut secret = PlainSecret {
            labels: string_map("labels")?,
            annotations: string_map("annotations")?,
            type_: match self.type_ {
                None | Some(serde_json::Value::Null) => None,
                Some(serde_json::Value::String(t)) => Some(t),
                Some(_) => return Err(invalid("type must be a string".into())),
            },
            immutable: match self.immutable {
                None | Some(serde_json::Value::Null) => None,
                Some(serde_json::Value::Bool(b)) => Some(b),
                Some(_) => return Err(invalid("immutable must be true or false".into())),
            },
            name,
            namespace,
            data: BTreeMap::new(),
        };
        for (key, value) in self
            .data
            .map(SecretMap::into_entries)
            .transpose()
            .map_err(|m| invalid(format!("data {m}")))?
            .unwrap_or_default()
        {
            let text = value.ok_or_else(|| key_err(&key, "data values must be base64 strings"))?;
            let bytes = STANDARD
                .decode(text.trim().as_bytes())
                .map_err(|_| key_err(&key, "data value is not valid base64 (use stringData for plain text)"))?;
            insert_unique(&mut secret.data, key, Zeroizing::new(bytes))
                .map_err(|k| key_err(&k, "key appears twice"))?;
        }
        for (key, value) in self
            .string_data
            .map(SecretMap::into_entries)
            .transpose()
            .map_err(|m| invalid(format!("stringData {m}")))?
            .unwrap_or_default()
        {
            let text =
                value.ok_or_else(|| key_err(&key, "stringData values must be strings (quote numbers and booleans)"))?;
            let bytes = Zeroizing::new(text.as_bytes().to_vec());
            insert_unique(&mut secret.data, key, bytes)
                .map_err(|k| key_err(&k, "key is in both data and stringData; keep one"))?;
        }
        Ok(secret)
    }
}

fn insert_unique(
    map: &mut BTreeMap<String, Zeroizing<Vec<u8>>>,
    key: String,
    value: Zeroizing<Vec<u8>>,
) -> Result<(), String> {
    if map.contains_key(&key) {
        return Err(key);
    }
    map.insert(key, value);
    Ok(())
}
