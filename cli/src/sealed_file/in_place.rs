//! A rewrite of a SealedSecret file as edits of its text where the parser found what
//! changed, everything else (comments, line ends, the other documents) byte for byte.
//!
//! ```text
//!  objects as read ─┐  per changed object, only encryptedData and keyIds may differ:
//!  objects now ─────┴─▶   a value changed   ─▶ the scalar replaced at its span, quotes kept
//!                         a key removed     ─▶ its entry's lines removed (and its keyIds entry)
//!                         a key added       ─▶ `key: value` lines after the mapping's last
//!                                              entry, indented as it (and its keyIds entry)
//!                         key ids changed   ─▶ that keyIds entry's lines written anew
//!  edits ──sorted, none overlapping──▶ text   (anything else: None, and the object is
//!                                              rendered anew instead)
//! ```

use std::collections::BTreeMap;
use std::ops::Range;

use gitseal::SealedSecret;
use gitseal::value_spans::{BlockMap, SpecMap, ValueSpans};

use super::{Place, SealedFile};

/// Bytes of the text replaced, and what replaces them (empty: removed; an empty range:
/// inserted there).
type Edit = (Range<usize>, String);

impl SealedFile {
    /// The text with every change written in place: same objects, changed in their sealed
    /// values, keys and key ids only, each in a shape [`ValueSpans`] locates (a value a
    /// scalar of its own on its key's line, the mappings in block style). `None` for
    /// anything else, which is rendered anew instead.
    pub(super) fn in_place(&self) -> Option<String> {
        if self.objects.len() != self.original.len() {
            return None;
        }
        let spans = ValueSpans::parse(&self.text)?;
        let mut edits = Vec::new();
        for ((place, now), before) in self.objects.iter().zip(&self.original) {
            if now != before {
                edits.extend(object_edits(&self.text, &spans, *place, before, now)?);
            }
        }
        apply(&self.text, edits)
    }
}

/// The edits that turn `before`, at `place`, into `now`.
fn object_edits(
    text: &str,
    spans: &ValueSpans<'_>,
    place: Place,
    before: &SealedSecret,
    now: &SealedSecret,
) -> Option<Vec<Edit>> {
    let (mut a, mut b) = (now.clone(), before.clone());
    for object in [&mut a, &mut b] {
        object.spec.encrypted_data.clear();
        object.spec.key_ids.clear();
    }
    if a != b {
        return None;
    }
    let (old, new) = (&before.spec.encrypted_data, &now.spec.encrypted_data);
    let mut edits = Vec::new();
    for (key, value) in new {
        if let Some(was) = old.get(key).filter(|was| *was != value) {
            let span = spans.sealed_value(place.document, place.item, key)?;
            edits.push((span.clone(), replaced_scalar(text.get(span)?, was, value)?));
        }
    }
    let layout = |which| move || spans.block_map(place.document, place.item, which);
    edits.extend(entry_edits(old, new, false, layout(SpecMap::EncryptedData), |map, key, value| {
        Some(format!("{}{}: {}{}", map.indent, scalar(key)?, scalar(value)?, map.line_break))
    })?);
    let (old, new) = (&before.spec.key_ids, &now.spec.key_ids);
    edits.extend(entry_edits(old, new, true, layout(SpecMap::KeyIds), key_ids_entry)?);
    Some(edits)
}

/// The edits of one mapping from `old` to `new`: a removed entry's lines removed, a
/// changed one's written anew (when `rewrite_changed`; sealed values are replaced at their
/// span instead), new entries after the last. The mapping's `layout` is asked for only
/// when lines change.
fn entry_edits<'t, V: PartialEq>(
    old: &BTreeMap<String, V>,
    new: &BTreeMap<String, V>,
    rewrite_changed: bool,
    layout: impl FnOnce() -> Option<BlockMap<'t>>,
    render: impl Fn(&BlockMap<'t>, &str, &V) -> Option<String>,
) -> Option<Vec<Edit>> {
    let removed: Vec<&String> = old.keys().filter(|k| !new.contains_key(*k)).collect();
    let changed: Vec<(&String, &V)> =
        new.iter().filter(|(k, v)| rewrite_changed && old.get(*k).is_some_and(|was| was != *v)).collect();
    let added: Vec<(&String, &V)> = new.iter().filter(|(k, _)| !old.contains_key(*k)).collect();
    if removed.is_empty() && changed.is_empty() && added.is_empty() {
        return Some(Vec::new());
    }
    let map = layout()?;
    let mut edits = Vec::new();
    for key in removed {
        edits.push((map.entry(key)?.lines.clone(), String::new()));
    }
    for (key, value) in changed {
        edits.push((map.entry(key)?.lines.clone(), render(&map, key, value)?));
    }
    if !added.is_empty() {
        let lines = added.into_iter().map(|(key, value)| render(&map, key, value)).collect::<Option<String>>()?;
        edits.push((map.end..map.end, lines));
    }
    Some(edits)
}

/// A `keyIds` entry: the key, then an item line per id, as the mapping's other items are
/// written (`- ` under the key, when it has none).
fn key_ids_entry(map: &BlockMap<'_>, key: &str, ids: &Vec<String>) -> Option<String> {
    let (indent, br) = (map.indent, map.line_break);
    if ids.is_empty() {
        return Some(format!("{indent}{}: []{br}", scalar(key)?));
    }
    let default = format!("{indent}- ");
    let prefix = map.item_prefix.unwrap_or(&default);
    let mut entry = format!("{indent}{}:{br}", scalar(key)?);
    for id in ids {
        entry.push_str(&format!("{prefix}{}{br}", scalar(id)?));
    }
    Some(entry)
}

/// `text` as a YAML scalar on one line, quoted where YAML would read it as something other
/// than that string (`"123"`, `"true"`), as the rest of the file is rendered.
fn scalar(text: &str) -> Option<String> {
    let mut out = String::new();
    let options = serde_saphyr::ser_options! { prefer_block_scalars: false };
    serde_saphyr::to_fmt_writer_with_options(&mut out, &text, options).ok()?;
    let line = out.strip_suffix('\n')?;
    (!line.contains(['\n', '\r'])).then(|| line.to_owned())
}

/// A sealed value written over the scalar `written` that held `old`: a quoted scalar is
/// replaced whole, its quotes kept; a plain one only when it is the value verbatim on one
/// line (not folded). Base64 needs no escaping in either.
fn replaced_scalar(written: &str, old: &str, new: &str) -> Option<String> {
    let quote = match written.chars().next()? {
        q @ ('"' | '\'') => Some(q),
        _ if written == old && !written.contains(['\n', '\r']) => None,
        _ => return None,
    };
    Some(quote.into_iter().chain(new.chars()).chain(quote).collect())
}

/// `text` with `edits` made, when none overlaps another.
fn apply(text: &str, mut edits: Vec<Edit>) -> Option<String> {
    edits.sort_by_key(|(span, _)| (span.start, span.end));
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    for (span, new) in edits {
        // An edit starting before the previous one ended overlaps it: no such range.
        out.push_str(text.get(copied..span.start)?);
        out.push_str(&new);
        copied = span.end;
    }
    out.push_str(text.get(copied..)?);
    Some(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn new_lines_are_quoted_as_yaml_needs_and_overlapping_edits_are_refused() {
        assert_eq!(scalar("tls.key").unwrap(), "tls.key");
        assert_eq!(scalar("123").unwrap(), "\"123\"", "a number as a key stays a string");
        assert_eq!(scalar("true").unwrap(), "\"true\"");
        assert_eq!(replaced_scalar("'YWdl'", "YWdl", "bmV3").unwrap(), "'bmV3'");
        assert_eq!(replaced_scalar("YWdl", "YWdl", "bmV3").unwrap(), "bmV3");
        assert_eq!(replaced_scalar("YW\n  dl", "YWdl", "bmV3"), None, "a folded plain scalar");
        let edits = vec![(4..6, String::new()), (0..2, "x".to_owned()), (6..6, "+".to_owned())];
        assert_eq!(apply("abcdefg", edits).unwrap(), "xcd+g");
        assert_eq!(apply("abcdefg", vec![(0..3, String::new()), (2..4, String::new())]), None);
    }
}
