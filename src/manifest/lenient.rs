//! The shapes documents are first read into: lenient, so that a field of the wrong type
//! is named rather than echoed, and streaming, so that a Secret's values go straight into
//! zeroizing buffers and never sit in ordinary strings.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor};
use zeroize::Zeroizing;

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
pub(super) enum MaybeDoc {
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
pub(super) struct RawDoc {
    pub(super) api_version: Option<serde_json::Value>,
    pub(super) kind: Option<serde_json::Value>,
    pub(super) metadata: Option<serde_json::Value>,
    pub(super) data: Option<SecretMap>,
    pub(super) string_data: Option<SecretMap>,
    #[serde(rename = "type")]
    pub(super) type_: Option<serde_json::Value>,
    pub(super) immutable: Option<serde_json::Value>,
    pub(super) spec: Option<serde_json::Value>,
    pub(super) status: Option<serde_json::Value>,
    pub(super) items: Option<Vec<MaybeDoc>>,
}

impl RawDoc {
    /// A `…List` with `items`, whose items are documents.
    pub(super) fn is_list(&self) -> bool {
        self.items.is_some() && self.kind.as_ref().and_then(|k| k.as_str()).is_some_and(|k| k.ends_with("List"))
    }
}

/// A data key and its value, `None` when the value was not a string.
pub(super) type SecretEntry = (String, Option<Zeroizing<String>>);

/// `data` / `stringData` as streamed: each string value straight into a zeroizing
/// buffer; anything that is not a string is remembered as `None` without its content.
pub(super) enum SecretMap {
    Map(Vec<SecretEntry>),
    NotAMap,
}

impl SecretMap {
    pub(super) fn into_entries(self) -> Result<Vec<SecretEntry>, String> {
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
