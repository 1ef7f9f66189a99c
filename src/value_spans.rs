//! Where each SealedSecret's sealed values (and its `apiVersion`) stand in the text, so a
//! tool can replace a value where the parser found it, and nothing else (never by searching
//! the text); and
//! where the entries of its `encryptedData` and `keyIds` mappings stand, so a tool can
//! remove an entry's lines or add one after the last ([`BlockMap`]).
//!
//! ```text
//!  text ──parse with locations──▶ per document: spec.encryptedData.<key> ─▶ byte range
//!                                  (a List: items[i].spec.encryptedData.<key>)
//!                                 spec.encryptedData / spec.keyIds, block style ─▶
//!                                  each entry's whole lines, the keys' indentation
//! ```
//!
//! The structure kept holds mapping keys and locations only, never a scalar's content,
//! so a plaintext Secret elsewhere in the stream is not copied.

use std::ops::Range;

use serde::Deserialize;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{Location, Spanned};

mod block_map;

pub use block_map::{BlockMap, Entry, SpecMap};

/// The located structure of each document of a stream, beside the text it was read from.
pub struct ValueSpans<'a> {
    text: &'a str,
    documents: Vec<Spanned<Node>>,
}

/// A node of a document: its shape and, through `Spanned`, where it stands.
enum Node {
    /// A mapping: its keys (`None` for one that is not a string), each with its value.
    Map(Vec<(Spanned<Key>, Spanned<Node>)>),
    Seq(Vec<Spanned<Node>>),
    Scalar,
}

impl<'a> ValueSpans<'a> {
    /// Locates the documents of `text`; `None` when it does not parse (the caller's own
    /// parse reports why).
    pub fn parse(text: &'a str) -> Option<ValueSpans<'a>> {
        let options = serde_saphyr::options! { with_snippet: false };
        let documents = serde_saphyr::from_multiple_with_options(text, options).ok()?;
        Some(ValueSpans { text, documents })
    }

    /// The byte range of the sealed value `key` of the SealedSecret at 0-based `document`
    /// (and `item`, inside a List): the scalar as written, quotes included (a block
    /// scalar's indicator is not). `None` when there is no such scalar, or it is an alias
    /// or anchored (replacing it would not change that value alone).
    pub fn sealed_value(&self, document: usize, item: Option<usize>, key: &str) -> Option<Range<usize>> {
        let value = self.spec(document, item)?.get("encryptedData")?.get(key)?;
        if !matches!(value.value, Node::Scalar) || !self.own(value) {
            return None;
        }
        range(&value.referenced)
    }

    /// The byte range of the `apiVersion` scalar of the object at 0-based `document` (and
    /// `item`, inside a List), as [`sealed_value`](Self::sealed_value) gives a value's.
    pub fn api_version(&self, document: usize, item: Option<usize>) -> Option<Range<usize>> {
        let value = self.object(document, item)?.get("apiVersion")?;
        if !matches!(value.value, Node::Scalar) || !self.own(value) {
            return None;
        }
        range(&value.referenced)
    }

    /// The text of that `apiVersion` scalar, quotes stripped (`None` as above).
    pub fn api_version_text(&self, document: usize, item: Option<usize>) -> Option<&'a str> {
        let text = self.text.get(self.api_version(document, item)?)?;
        Some(text.trim_matches(|c| c == '"' || c == '\''))
    }

    /// The object at 0-based `document` (and `item`, inside a List).
    fn object(&self, document: usize, item: Option<usize>) -> Option<&Spanned<Node>> {
        let object = self.documents.get(document)?;
        match item {
            None => Some(object),
            Some(i) => match &object.get("items")?.value {
                Node::Seq(items) => items.get(i),
                _ => None,
            },
        }
    }

    /// The `spec` of the object at 0-based `document` (and `item`, inside a List).
    fn spec(&self, document: usize, item: Option<usize>) -> Option<&Spanned<Node>> {
        self.object(document, item)?.get("spec")
    }

    /// Whether `node` is written where it stands and nowhere else: not an alias, and no
    /// alias anywhere in the stream refers to it (changing it would change those too).
    fn own(&self, node: &Spanned<Node>) -> bool {
        fn refers(node: &Spanned<Node>, to: &Location) -> bool {
            (node.referenced != node.defined && node.defined == *to)
                || match &node.value {
                    Node::Map(entries) => entries.iter().any(|(_, v)| refers(v, to)),
                    Node::Seq(items) => items.iter().any(|v| refers(v, to)),
                    Node::Scalar => false,
                }
        }
        node.referenced == node.defined && !self.documents.iter().any(|d| refers(d, &node.defined))
    }
}

/// The byte range a location spans, when the parser knows it.
fn range(location: &Location) -> Option<Range<usize>> {
    let span = location.span();
    let start = usize::try_from(span.byte_offset()?).ok()?;
    let len = usize::try_from(span.byte_len()?).ok()?;
    Some(start..start.checked_add(len)?)
}

trait Get {
    fn get(&self, key: &str) -> Option<&Spanned<Node>>;
}

impl Get for Spanned<Node> {
    /// The value of `key` in a mapping; `None` when this is not a mapping or the key is
    /// absent or repeated.
    fn get(&self, key: &str) -> Option<&Spanned<Node>> {
        let Node::Map(entries) = &self.value else { return None };
        let mut found = entries.iter().filter(|(k, _)| k.value.0.as_deref() == Some(key)).map(|(_, v)| v);
        let first = found.next()?;
        found.next().is_none().then_some(first)
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Node, D::Error> {
        struct NodeVisitor;
        impl<'de> Visitor<'de> for NodeVisitor {
            type Value = Node;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a YAML node")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
                let mut entries = Vec::new();
                while let Some(key) = map.next_key()? {
                    entries.push((key, map.next_value()?));
                }
                Ok(Node::Map(entries))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Node::Seq(items))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Node, E> {
                Ok(Node::Scalar)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
                Ok(Node::Scalar)
            }
            scalars_become!(Node, Node::Scalar);
        }
        d.deserialize_any(NodeVisitor)
    }
}

/// A mapping key: its text when it is a string, else `None`.
struct Key(Option<String>);

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Key, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a mapping key")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
                Ok(Key(Some(v.to_owned())))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Key, A::Error> {
                while map.next_entry::<de::IgnoredAny, de::IgnoredAny>()?.is_some() {}
                Ok(Key(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Key, A::Error> {
                while seq.next_element::<de::IgnoredAny>()?.is_some() {}
                Ok(Key(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Key, E> {
                Ok(Key(None))
            }
            scalars_become!(Key, Key(None));
        }
        d.deserialize_any(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STREAM: &str = "\u{feff}# c: \"YWdl\"\nkind: X\n---\nkind: SealedSecret\nspec:\n  encryptedData:\n    a: YWdl  # YWdl\n    b: \"YW\\\n      dl\"\n    c: 'YWdl'\n    d: &x YWdl\n    e: *x\n    f: |\n      YWdl\n---\nkind: List\nitems:\n- kind: Other\n- kind: SealedSecret\n  spec: {encryptedData: {z: \"YWdl\"}}\n";

    fn at(document: usize, item: Option<usize>, key: &str) -> Option<&'static str> {
        ValueSpans::parse(STREAM).unwrap().sealed_value(document, item, key).map(|span| &STREAM[span])
    }

    #[test]
    fn values_are_found_where_the_parser_read_them_quotes_included() {
        assert_eq!(at(1, None, "a"), Some("YWdl"));
        assert_eq!(at(1, None, "b"), Some("\"YW\\\n      dl\""), "a quoted scalar over two lines");
        assert_eq!(at(1, None, "c"), Some("'YWdl'"));
        assert_eq!(at(1, None, "f"), Some("YWdl\n"), "a block scalar's content, not its indicator");
        assert_eq!(at(2, Some(1), "z"), Some("\"YWdl\""));
        let a = ValueSpans::parse(STREAM).unwrap().sealed_value(1, None, "a").unwrap();
        assert_eq!(STREAM[..a.start].matches("YWdl").count(), 1, "the comment's copy before it is not it");
    }

    #[test]
    fn the_api_version_is_found_in_documents_and_list_items() {
        let text = "# apiVersion: gitseal.dev/v1alpha1\napiVersion: \"gitseal.dev/v1alpha1\"\nkind: SealedSecret\n---\napiVersion: v1\nkind: List\nitems:\n- {apiVersion: 'gitseal.dev/v1alpha1', kind: SealedSecret}\n- kind: SealedSecret\n";
        let spans = ValueSpans::parse(text).unwrap();
        let first = spans.api_version(0, None).unwrap();
        assert_eq!(&text[first.clone()], "\"gitseal.dev/v1alpha1\"");
        assert!(first.start > text.find('\n').unwrap(), "the comment's copy is not it");
        assert_eq!(spans.api_version_text(0, None), Some("gitseal.dev/v1alpha1"));
        assert_eq!(spans.api_version_text(1, None), Some("v1"));
        assert_eq!(spans.api_version_text(1, Some(0)), Some("gitseal.dev/v1alpha1"));
        assert_eq!(spans.api_version(1, Some(1)), None, "no apiVersion");
        assert_eq!(spans.api_version(2, None), None);
    }

    #[test]
    fn aliases_anchors_and_absent_keys_have_no_span() {
        assert_eq!(at(1, None, "d"), None, "anchored: an alias shares it");
        assert_eq!(at(1, None, "e"), None, "an alias");
        assert_eq!(at(1, None, "missing"), None);
        assert_eq!(at(0, None, "a"), None, "not a SealedSecret's spec");
        assert_eq!(at(2, Some(0), "z"), None);
        assert_eq!(at(3, None, "a"), None);
        assert!(ValueSpans::parse("a: [").is_none());
    }
}
