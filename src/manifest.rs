//! The manifest model: multi-document YAML/JSON streams of Secrets and SealedSecrets.
//!
//! ```text
//!  text ──parse_documents──▶ [Document::Secret | Document::Sealed | Document::Other]
//!  SealedSecret / Secret ──render──▶ YAML or JSON text
//! ```
//!
//! Parsing streams each document into a shape that never buffers a Secret's values in
//! ordinary strings: `data` / `stringData` values land directly in zeroizing buffers,
//! and parse errors carry positions, never snippets of the input.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde::de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::{SealedSecret, crds};

/// A plaintext Secret: the input of sealing and the output of unsealing.
///
/// Guarantees: values are zeroized on drop and `Debug` prints key names only.
#[derive(Clone, Default)]
pub struct PlainSecret {
    /// `metadata.name`.
    pub name: Option<String>,
    /// `metadata.namespace`.
    pub namespace: Option<String>,
    /// `metadata.labels`.
    pub labels: BTreeMap<String, String>,
    /// `metadata.annotations`.
    pub annotations: BTreeMap<String, String>,
    /// `type`, e.g. `Opaque`.
    pub type_: Option<String>,
    /// `immutable`.
    pub immutable: Option<bool>,
    /// Data key → value bytes (`data` decoded and `stringData` merged).
    pub data: BTreeMap<String, Zeroizing<Vec<u8>>>,
}

impl fmt::Debug for PlainSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlainSecret")
            .field("name", &self.name)
            .field("namespace", &self.namespace)
            .field("type", &self.type_)
            .field("keys", &self.data.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl PlainSecret {
    /// `namespace/name` (or what is known of it), for messages.
    pub fn display_name(&self) -> Option<String> {
        display_name(self.namespace.as_deref(), self.name.as_deref())
    }

    /// Total size of the data as Kubernetes counts it against its 1 MiB limit.
    pub fn data_size(&self) -> usize {
        self.data.iter().map(|(k, v)| k.len() + v.len()).sum()
    }

    /// The Secret as a Kubernetes object (`data` base64-encoded by serialization).
    pub fn to_k8s(&self) -> k8s_openapi::api::core::v1::Secret {
        use k8s_openapi::ByteString;
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
        let nonempty = |m: &BTreeMap<String, String>| (!m.is_empty()).then(|| m.clone());
        k8s_openapi::api::core::v1::Secret {
            metadata: ObjectMeta {
                name: self.name.clone(),
                namespace: self.namespace.clone(),
                labels: nonempty(&self.labels),
                annotations: nonempty(&self.annotations),
                ..ObjectMeta::default()
            },
            type_: Some(secret_type(self.type_.as_deref()).to_owned()),
            immutable: self.immutable,
            data: Some(self.data.iter().map(|(k, v)| (k.clone(), ByteString(v.to_vec()))).collect()),
            string_data: None,
        }
    }
}

/// The `type` of a Secret that names none, as Kubernetes defaults it.
pub const DEFAULT_TYPE: &str = "Opaque";

/// A Secret's `type`, with Kubernetes' default: the one place the default is applied.
pub fn secret_type(type_: Option<&str>) -> &str {
    type_.unwrap_or(DEFAULT_TYPE)
}

/// Zeroizes a Kubernetes Secret's values (`data` and `stringData`) in place. For the
/// copies of plaintext and private keys that gitseal's own code holds in
/// `k8s_openapi` types, which are ordinary buffers; see [`WipeOnDrop`].
pub fn wipe(secret: &mut k8s_openapi::api::core::v1::Secret) {
    use zeroize::Zeroize as _;
    for value in secret.data.iter_mut().flat_map(|d| d.values_mut()) {
        value.0.zeroize();
    }
    for value in secret.string_data.iter_mut().flat_map(|d| d.values_mut()) {
        value.zeroize();
    }
}

/// A Kubernetes Secret that holds plaintext (or a private key) in gitseal's hands: a
/// Secret about to be written, or one the API server sent back. Its values are zeroized
/// when it is dropped. What serialization makes of it on the way out (the request body
/// the client builds) is not: see docs/controller.md, "What is zeroized".
#[derive(Default)]
pub struct WipeOnDrop(pub k8s_openapi::api::core::v1::Secret);

impl Drop for WipeOnDrop {
    fn drop(&mut self) {
        wipe(&mut self.0);
    }
}

impl std::ops::Deref for WipeOnDrop {
    type Target = k8s_openapi::api::core::v1::Secret;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for WipeOnDrop {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

/// `namespace/name`, `name` or nothing.
pub fn display_name(namespace: Option<&str>, name: Option<&str>) -> Option<String> {
    match (namespace, name) {
        (Some(ns), Some(n)) => Some(format!("{ns}/{n}")),
        (None, Some(n)) => Some(n.to_owned()),
        (Some(ns), None) => Some(format!("{ns}/<no name>")),
        (None, None) => None,
    }
}

/// One document of a stream.
#[derive(Debug)]
pub enum Document {
    /// A `v1` `Secret`.
    Secret(PlainSecret),
    /// A `gitseal.dev/v1alpha1` `SealedSecret`.
    Sealed(Box<SealedSecret>),
    /// A bitnami sealed-secrets `SealedSecret` (`bitnami.com/v1alpha1`), as parsed: only
    /// `gitseal migrate` reads it ([`crate::incumbent::migrate`]).
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

/// Implements a visitor's number and boolean methods as `Ok(value)`: in the documents
/// gitseal reads, such scalars are never what a field needs and are never echoed.
macro_rules! scalars_become {
    ($ty:ty, $value:expr) => {
        fn visit_bool<E: de::Error>(self, _: bool) -> std::result::Result<$ty, E> {
            Ok($value)
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> std::result::Result<$ty, E> {
            Ok($value)
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> std::result::Result<$ty, E> {
            Ok($value)
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> std::result::Result<$ty, E> {
            Ok($value)
        }
    };
}

/// A document that is a mapping (an object), or anything else (a list, a scalar).
enum MaybeDoc {
    Object(Box<RawDoc>),
    NotAnObject,
}

impl<'de> Deserialize<'de> for MaybeDoc {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct DocVisitor;
        impl<'de> Visitor<'de> for DocVisitor {
            type Value = MaybeDoc;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a YAML document")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> std::result::Result<MaybeDoc, A::Error> {
                RawDoc::deserialize(de::value::MapAccessDeserializer::new(map)).map(|d| MaybeDoc::Object(Box::new(d)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<MaybeDoc, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(MaybeDoc::NotAnObject)
            }
            fn visit_str<E: de::Error>(self, _: &str) -> std::result::Result<MaybeDoc, E> {
                Ok(MaybeDoc::NotAnObject)
            }
            scalars_become!(MaybeDoc, MaybeDoc::NotAnObject);
            fn visit_unit<E: de::Error>(self) -> std::result::Result<MaybeDoc, E> {
                Ok(MaybeDoc::NotAnObject)
            }
        }
        d.deserialize_any(DocVisitor)
    }
}

/// A document as parsed: secret-bearing fields stream into zeroizing buffers, all others
/// stay generic until the kind is known.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDoc {
    api_version: Option<serde_json::Value>,
    kind: Option<serde_json::Value>,
    metadata: Option<serde_json::Value>,
    data: Option<SecretMap>,
    string_data: Option<SecretMap>,
    #[serde(rename = "type")]
    type_: Option<serde_json::Value>,
    immutable: Option<serde_json::Value>,
    spec: Option<serde_json::Value>,
    status: Option<serde_json::Value>,
    items: Option<Vec<MaybeDoc>>,
}

impl RawDoc {
    fn is_list(&self) -> bool {
        self.items.is_some() && self.kind.as_ref().and_then(|k| k.as_str()).is_some_and(|k| k.ends_with("List"))
    }

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
            (Some(crds::API_VERSION), Some("SealedSecret")) => {
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
            (Some(other), Some("SealedSecret")) if other.starts_with("bitnami.com/") => {
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

/// A data key and its value, `None` when the value was not a string.
type SecretEntry = (String, Option<Zeroizing<String>>);

/// `data` / `stringData` as streamed: each string value straight into a zeroizing
/// buffer; anything that is not a string is remembered as `None` without its content.
enum SecretMap {
    Map(Vec<SecretEntry>),
    NotAMap,
}

impl SecretMap {
    fn into_entries(self) -> Result<Vec<SecretEntry>, String> {
        match self {
            SecretMap::Map(entries) => Ok(entries),
            SecretMap::NotAMap => Err("must be a mapping of keys to values".into()),
        }
    }
}

impl<'de> Deserialize<'de> for SecretMap {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct MapVisitor;
        impl<'de> Visitor<'de> for MapVisitor {
            type Value = SecretMap;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<SecretMap, A::Error> {
                let mut entries = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    let LenientText(value) = map.next_value()?;
                    entries.push((key, value));
                }
                Ok(SecretMap::Map(entries))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<SecretMap, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(SecretMap::NotAMap)
            }
            fn visit_str<E: de::Error>(self, _: &str) -> std::result::Result<SecretMap, E> {
                Ok(SecretMap::NotAMap)
            }
            scalars_become!(SecretMap, SecretMap::NotAMap);
            fn visit_unit<E: de::Error>(self) -> std::result::Result<SecretMap, E> {
                Ok(SecretMap::Map(Vec::new()))
            }
        }
        d.deserialize_any(MapVisitor)
    }
}

/// A value that is kept only if it is a string, and never echoed either way.
struct LenientText(Option<Zeroizing<String>>);

impl<'de> Deserialize<'de> for LenientText {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = LenientText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<LenientText, E> {
                Ok(LenientText(Some(Zeroizing::new(v.to_owned()))))
            }
            fn visit_string<E: de::Error>(self, v: String) -> std::result::Result<LenientText, E> {
                Ok(LenientText(Some(Zeroizing::new(v))))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<LenientText, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(LenientText(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<LenientText, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(LenientText(None))
            }
            scalars_become!(LenientText, LenientText(None));
            fn visit_unit<E: de::Error>(self) -> std::result::Result<LenientText, E> {
                Ok(LenientText(Some(Zeroizing::new(String::new()))))
            }
        }
        d.deserialize_any(TextVisitor)
    }
}

/// Output format of rendered objects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    /// YAML documents separated by `---`.
    Yaml,
    /// One JSON object, or a `v1` `List` when there are several.
    Json,
}

/// Renders objects as one `v1` `List` (what a List read in is written back as).
///
/// # Errors
/// [`Error::Render`] if serialization fails.
pub fn render_list<T: serde::Serialize>(objects: &[T], format: OutputFormat) -> Result<String> {
    render(&[List::of(objects)], format)
}

/// A `v1` `List`, its fields in the order Kubernetes prints them.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct List<'a, T> {
    api_version: &'static str,
    kind: &'static str,
    items: &'a [T],
}

impl<'a, T> List<'a, T> {
    fn of(items: &'a [T]) -> List<'a, T> {
        List { api_version: "v1", kind: "List", items }
    }
}

/// Renders objects as one YAML stream or one JSON document.
///
/// # Errors
/// [`Error::Render`] if serialization fails.
pub fn render<T: serde::Serialize>(objects: &[T], format: OutputFormat) -> Result<String> {
    match format {
        OutputFormat::Yaml => {
            let mut out = String::new();
            for (i, o) in objects.iter().enumerate() {
                if i > 0 {
                    out.push_str("---\n");
                }
                // Plain scalars only: base64 values stay one line, diffs stay one line.
                let options = serde_saphyr::ser_options! { prefer_block_scalars: false };
                serde_saphyr::to_fmt_writer_with_options(&mut out, o, options)
                    .map_err(|e| Error::Render(e.to_string()))?;
            }
            Ok(out)
        }
        OutputFormat::Json => {
            let value = match objects {
                [one] => serde_json::to_value(one),
                many => serde_json::to_value(List::of(many)),
            }
            .map_err(|e| Error::Render(e.to_string()))?;
            let mut text = serde_json::to_string_pretty(&value).map_err(|e| Error::Render(e.to_string()))?;
            text.push('\n');
            Ok(text)
        }
    }
}
