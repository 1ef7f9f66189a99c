//! The entries of a SealedSecret's `encryptedData` or `keyIds` mapping as lines of text,
//! when the mapping is written in block style, so a tool can remove an entry or add one
//! and leave every other byte (comments, line ends) as it was.
//!
//! ```text
//!  spec:
//!    encryptedData:
//!      # a comment         kept: lines between entries belong to none
//!      a: YWdl…  # note  ┐ entry a: from its key's line start (the keys' indentation,
//!                      ┘   from their spans) to the end of the line its value ends on
//!      b: "YWdl…\        ┐ entry b: a quoted scalar over two lines
//!        …"              ┘
//!                        ◀ end: a new entry goes here, indented as the others
//!    keyIds:
//!      a:                ┐ entry a: a block sequence, each item on a line of its own
//!      - 3f1c…           ┘   (item prefix "    - ")
//! ```
//!
//! Everything is located from the parser's spans; the text is read only around them (the
//! indentation before a key, the rest of the line after a value), never searched.

use std::ops::Range;

use super::{Get, Node, ValueSpans, range};

/// One of the mappings of a SealedSecret's spec that hold an entry per data key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpecMap {
    /// `spec.encryptedData`: the sealed values.
    EncryptedData,
    /// `spec.keyIds`: the key ids each value is sealed to.
    KeyIds,
}

impl SpecMap {
    fn field(self) -> &'static str {
        match self {
            SpecMap::EncryptedData => "encryptedData",
            SpecMap::KeyIds => "keyIds",
        }
    }
}

/// A block-style mapping as written, entry by entry.
#[derive(Debug)]
pub struct BlockMap<'a> {
    /// The spaces before each of its keys.
    pub indent: &'a str,
    /// Its entries, in the order written.
    pub entries: Vec<Entry>,
    /// Where a new entry goes: just after its last entry's lines.
    pub end: usize,
    /// The line break its last entry ends with (LF or CRLF), for new lines.
    pub line_break: &'a str,
    /// What opens the item lines of its sequence values (`- ` and the spaces before it),
    /// as the first item is written; `None` when no value is a sequence.
    pub item_prefix: Option<&'a str>,
}

/// One entry of a [`BlockMap`].
#[derive(Debug, PartialEq, Eq)]
pub struct Entry {
    /// Its key.
    pub key: String,
    /// The whole lines it takes, from its key's line start to the end of the line its
    /// value ends on, line break included.
    pub lines: Range<usize>,
}

impl BlockMap<'_> {
    /// The entry of `key`.
    pub fn entry(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.key == key)
    }
}

impl<'a> ValueSpans<'a> {
    /// The mapping `map` of the SealedSecret at 0-based `document` (and `item`, inside a
    /// List) as lines, when each of its entries takes lines of its own: a block mapping
    /// whose keys are strings opening their lines at one indentation, each value a scalar
    /// that starts on its key's line or a block sequence of scalars, one per line, and
    /// nothing but a comment after a value on its last line; no alias, and nothing in it
    /// that an alias elsewhere refers to.
    ///
    /// `None` otherwise (a flow mapping `{…}` or sequence `[…]`, a block scalar `|`, a
    /// nested mapping, a JSON file, …): a tool then writes the object anew.
    pub fn block_map(&self, document: usize, item: Option<usize>, map: SpecMap) -> Option<BlockMap<'a>> {
        let text = self.text;
        let node = self.spec(document, item)?.get(map.field())?;
        let Node::Map(written) = &node.value else { return None };
        if text.get(range(&node.referenced)?.start..)?.starts_with('{') || !self.own(node) {
            return None;
        }
        let (mut indent, mut item_prefix, mut entries) = (None, None, Vec::new());
        let mut line_break = "";
        for (key, value) in written {
            let name = key.value.0.clone()?;
            let key_span = range(&key.referenced)?;
            let start = line_start(text, key_span.start);
            let before = text.get(start..key_span.start)?;
            if key.referenced != key.defined
                || !before.bytes().all(|b| b == b' ')
                || *indent.get_or_insert(before) != before
            {
                return None;
            }
            let value_end = match &value.value {
                Node::Scalar => {
                    let span = range(&value.referenced)?;
                    // A block scalar's span is its content, on the lines below its key.
                    if text.get(key_span.end..span.start)?.contains(['\n', '\r']) || !self.own(value) {
                        return None;
                    }
                    span.end
                }
                Node::Seq(items) => {
                    if text.get(range(&value.referenced)?.start..)?.starts_with('[') || !self.own(value) {
                        return None;
                    }
                    let mut end = None;
                    for item in items {
                        let span = range(&item.referenced)?;
                        let prefix = text.get(line_start(text, span.start)..span.start)?;
                        if !matches!(item.value, Node::Scalar) || !self.own(item) || !is_item_prefix(prefix) {
                            return None;
                        }
                        item_prefix.get_or_insert(prefix);
                        end = Some(span.end);
                    }
                    end?
                }
                Node::Map(_) => return None,
            };
            let (end, brk) = rest_of_line(text, value_end)?;
            if entries.last().is_some_and(|e: &Entry| e.lines.end > start) {
                return None;
            }
            line_break = brk;
            entries.push(Entry { key: name, lines: start..end });
        }
        let end = entries.last()?.lines.end;
        if line_break.is_empty() {
            return None;
        }
        Some(BlockMap { indent: indent?, entries, end, line_break, item_prefix })
    }
}

/// Where the line holding byte `at` starts.
fn line_start(text: &str, at: usize) -> usize {
    text[..at].rfind(['\n', '\r']).map_or(0, |i| i + 1)
}

/// After a value ending at `at`: the end of its line (its line break included) and that
/// line break, when nothing but blanks or a comment follows the value on it.
fn rest_of_line(text: &str, at: usize) -> Option<(usize, &str)> {
    let rest = text.get(at..)?;
    let (line, brk) = match rest.find(['\n', '\r']) {
        Some(i) if rest[i..].starts_with("\r\n") => (&rest[..i], &rest[i..i + 2]),
        Some(i) => (&rest[..i], &rest[i..=i]),
        None => (rest, ""),
    };
    let after = line.trim_start_matches([' ', '\t']);
    // A comment needs a blank before its `#`; right after the value it would be part of it.
    let comment = after.starts_with('#') && after.len() < line.len();
    (after.is_empty() || comment).then_some((at + line.len() + brk.len(), brk))
}

/// `- ` opening a sequence item line: spaces, a dash, and at least one space.
fn is_item_prefix(prefix: &str) -> bool {
    let rest = prefix.trim_start_matches(' ');
    rest.strip_prefix('-').is_some_and(|r| !r.is_empty() && r.bytes().all(|b| b == b' '))
}

#[cfg(test)]
mod tests {
    use super::*;

    const STREAM: &str = "# top\nkind: ConfigMap\n---\nkind: SealedSecret\nspec:\n  encryptedData:\n    # inside\n    a: YWdl  # after\n    \"b\": \"YW\\\n      dl\"\n\n    c: 'YWdl'\n  # between\n  keyIds:\n    a:\n      - id1  # x\n      - id2\n    b:\n    - id3\n---\nkind: SealedSecret\nspec:\n  encryptedData: {a: YWdl}\n  keyIds:\n    a: [id1]\n---\nkind: List\nitems:\n- kind: SealedSecret\n  spec:\n    encryptedData:\n      z: YWdl\r\n    keyIds:\r\n      z:\r\n      - id\r\n";

    fn lines<'m>(map: &'m BlockMap<'_>) -> Vec<(&'m str, &'static str)> {
        map.entries.iter().map(|e| (e.key.as_str(), &STREAM[e.lines.clone()])).collect()
    }

    #[test]
    fn entries_are_whole_lines_from_the_spans_comments_between_them_kept_out() {
        let spans = ValueSpans::parse(STREAM).unwrap();
        let data = spans.block_map(1, None, SpecMap::EncryptedData).unwrap();
        assert_eq!(
            lines(&data),
            [("a", "    a: YWdl  # after\n"), ("b", "    \"b\": \"YW\\\n      dl\"\n"), ("c", "    c: 'YWdl'\n")]
        );
        assert_eq!((data.indent, data.line_break, data.item_prefix), ("    ", "\n", None));
        assert_eq!(&STREAM[data.end..data.end + 11], "  # between", "a new entry goes before the comment");
        let ids = spans.block_map(1, None, SpecMap::KeyIds).unwrap();
        assert_eq!(lines(&ids), [("a", "    a:\n      - id1  # x\n      - id2\n"), ("b", "    b:\n    - id3\n")]);
        assert_eq!(ids.item_prefix, Some("      - "));
        assert_eq!(ids.entry("b").map(|e| e.lines.end), Some(ids.end));
        let item = spans.block_map(3, Some(0), SpecMap::KeyIds).unwrap();
        assert_eq!((item.indent, item.line_break, item.item_prefix), ("      ", "\r\n", Some("      - ")));
    }

    #[test]
    fn flow_style_and_other_documents_have_no_block_map() {
        let spans = ValueSpans::parse(STREAM).unwrap();
        assert!(spans.block_map(2, None, SpecMap::EncryptedData).is_none(), "a flow mapping");
        assert!(spans.block_map(2, None, SpecMap::KeyIds).is_none(), "a flow sequence");
        assert!(spans.block_map(0, None, SpecMap::EncryptedData).is_none());
        assert!(spans.block_map(3, None, SpecMap::EncryptedData).is_none(), "the List itself");
        assert_eq!(spans.block_map(3, Some(0), SpecMap::EncryptedData).map(|m| m.line_break), Some("\r\n"));
    }

    #[test]
    fn block_scalars_anchors_aliases_and_text_after_a_value_have_no_block_map() {
        let refused = [
            "spec:\n  encryptedData:\n    a: |\n      YWdl\n    b: x\n",
            "spec:\n  encryptedData:\n    a: &v YWdl\n    b: *v\n",
            "spec:\n  encryptedData: &m\n    a: YWdl\n  copy: *m\n",
            "spec:\n  encryptedData:\n    a: YWdl\n    ? b\n    : YWdl\n",
            "spec:\n  encryptedData:\n    a:\n      b: c\n",
            "spec:\n  encryptedData:\n    a: YWdl",
            "{\"spec\": {\"encryptedData\": {\"a\": \"YWdl\"}}}\n",
        ];
        for text in refused {
            let spans = ValueSpans::parse(text).unwrap();
            assert!(spans.block_map(0, None, SpecMap::EncryptedData).is_none(), "{text:?}");
        }
        let anchored_alone = "spec:\n  encryptedData:\n    a: &v YWdl\n";
        assert!(ValueSpans::parse(anchored_alone).unwrap().block_map(0, None, SpecMap::EncryptedData).is_some());
    }

    #[test]
    fn the_rest_of_a_line_is_blank_or_a_comment() {
        assert_eq!(rest_of_line("x  # c\ny", 1), Some((7, "\n")));
        assert_eq!(rest_of_line("x\r\ny", 1), Some((3, "\r\n")));
        assert_eq!(rest_of_line("x", 1), Some((1, "")));
        assert_eq!(rest_of_line("x, y\n", 1), None);
        assert_eq!(rest_of_line("x#c\n", 1), None);
        assert!(is_item_prefix("  - ") && is_item_prefix("-  ") && !is_item_prefix("  -") && !is_item_prefix("? "));
    }
}
