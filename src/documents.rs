//! Where each document of a YAML stream lies in the text, so a tool can rewrite some
//! documents of a file and leave the others byte for byte as they were.
//!
//! ```text
//!  # comment          ┐ not a document (nothing but comments)
//!  ---                ┘
//!  kind: Deployment   ┐ span 0
//!  ---                ┘
//!  kind: SealedSecret ┐ span 1  ◀── replaced by `splice`
//! ```
//!
//! Documents are counted as the parser counts them: one holding nothing but comments and
//! blank lines is not a document; a document-end line (`...`) ends one without starting
//! the next, and directive lines (`%YAML`, `%TAG`) before a `---` belong to no document.
//! Lines end where YAML ends them: at LF, CRLF or a lone CR.

use std::ops::Range;

/// Byte ranges of the non-empty documents of `text`, in order. A separator line (`---`)
/// belongs to no span unless content follows it on the same line; a document-end line
/// (`...`) and a directive line before a document's content belong to none.
pub fn document_spans(text: &str) -> Vec<Range<usize>> {
    let mut spans = Vec::new();
    // A byte-order mark opens the stream, not its first document.
    let bom = if text.starts_with('\u{feff}') { '\u{feff}'.len_utf8() } else { 0 };
    let (mut start, mut offset, mut has_content) = (bom, bom, false);
    for line in lines(&text[bom..]) {
        if let Some(rest) = marker(line, "---") {
            if has_content {
                spans.push(start..offset);
            }
            let bare = is_blank_or_comment(rest);
            start = if bare { offset + line.len() } else { offset };
            has_content = !bare;
        } else if marker(line, "...").is_some() {
            if has_content {
                spans.push(start..offset);
            }
            start = offset + line.len();
            has_content = false;
        } else if !has_content && line.starts_with('%') {
            // A directive (`%YAML`, `%TAG`) of the document its `---` opens: `%` cannot
            // start content at the left margin.
        } else {
            has_content |= !is_blank_or_comment(line);
        }
        offset += line.len();
    }
    if has_content {
        spans.push(start..offset);
    }
    spans
}

/// The lines of `text`, each with its line break, broken where YAML breaks them.
fn lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let end = rest.find(['\n', '\r']).map_or(rest.len(), |i| i + if rest[i..].starts_with("\r\n") { 2 } else { 1 });
        let (line, tail) = rest.split_at(end);
        rest = tail;
        Some(line)
    })
}

/// What follows a document marker (`---` or `...`) that opens `line`, if it does.
fn marker<'a>(line: &'a str, marker: &str) -> Option<&'a str> {
    line.strip_prefix(marker).filter(|r| r.is_empty() || r.starts_with([' ', '\t', '\r', '\n']))
}

fn is_blank_or_comment(line: &str) -> bool {
    let t = line.trim();
    t.is_empty() || t.starts_with('#')
}

/// The 1-based number of the document that holds 1-based `line` (the nearest one before
/// it when the line lies between documents).
pub fn document_at_line(text: &str, line: usize) -> usize {
    let offset: usize = lines(text).take(line.saturating_sub(1)).map(str::len).sum();
    document_spans(text).iter().take_while(|s| s.start <= offset).count().max(1)
}

/// Whether [`splice`] can address the `parsed` documents a parser found in `text` by
/// their index: there must be exactly as many spans. A YAML null document (`~`, `null`,
/// a bare anchor) is one the parser drops, so a file holding one is not spliceable and a
/// tool must refuse to rewrite it rather than replace the wrong document.
pub fn spliceable(text: &str, parsed: usize) -> bool {
    document_spans(text).len() == parsed
}

/// `text` with the documents at the given 0-based indexes replaced, everything else kept
/// byte for byte. Replacements should end with a newline.
pub fn splice(text: &str, replacements: &[(usize, String)]) -> String {
    let spans = document_spans(text);
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    for (i, span) in spans.iter().enumerate() {
        if let Some((_, new)) = replacements.iter().find(|(j, _)| *j == i) {
            out.push_str(&text[copied..span.start]);
            out.push_str(new);
            copied = span.end;
        }
    }
    out.push_str(&text[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const STREAM: &str = "# repo header\n---\nkind: Deployment\n# keep me\n---\n\n---\nkind: SealedSecret\nspec: {}\n--- # trailing comment\nkind: ConfigMap\n";

    #[test]
    fn spans_skip_empty_documents() {
        let spans: Vec<&str> = document_spans(STREAM).into_iter().map(|r| &STREAM[r]).collect();
        assert_eq!(spans, ["kind: Deployment\n# keep me\n", "kind: SealedSecret\nspec: {}\n", "kind: ConfigMap\n"]);
        assert_eq!(document_spans("a: 1"), vec![0..4], "no separator, no trailing newline");
        assert_eq!(document_spans("--- {a: 1}\n").len(), 1, "content on the separator line");
        assert!(document_spans("# only\n---\n").is_empty());
    }

    #[test]
    fn document_end_and_directive_lines_belong_to_no_span() {
        let text = "a: 1\n... # end\nb: 2\n...\n%YAML 1.2\n%TAG ! tag:example.com,2000:\n---\nc: 3\n...\n";
        let spans: Vec<&str> = document_spans(text).into_iter().map(|r| &text[r]).collect();
        assert_eq!(spans, ["a: 1\n", "b: 2\n", "c: 3\n"]);
        assert_eq!(document_spans("--- |\n  text\n...\nb: 1\n").len(), 2, "a block scalar ended by `...`");
        assert!(document_spans("...\n").is_empty());
        let out = splice(text, &[(1, "b: new\n".into())]);
        assert_eq!(out, text.replace("b: 2\n", "b: new\n"));
    }

    #[test]
    fn lines_break_at_lf_crlf_and_lone_cr() {
        assert_eq!(lines("a\nb\r\nc\rd").collect::<Vec<_>>(), ["a\n", "b\r\n", "c\r", "d"]);
        assert_eq!(document_spans("a: 1\r---\rb: 2\r"), vec![0..5, 9..14]);
        assert_eq!(document_spans("\u{feff}# comment\n---\na: 1\n").len(), 1, "a byte-order mark before a comment");
        assert_eq!(document_spans("\u{feff}---\na: 1\n"), vec![7..12], "a byte-order mark before a separator");
        assert_eq!(document_spans("\u{feff}a: 1\n"), vec![3..8], "the mark is not part of the first document");
        assert_eq!(document_spans("a\r\u{feff}...\rb\r").len(), 1, "a byte-order mark inside the stream is content");
    }

    #[test]
    fn lines_map_to_documents() {
        assert_eq!(document_at_line(STREAM, 3), 1);
        assert_eq!(document_at_line(STREAM, 9), 2);
        assert_eq!(document_at_line(STREAM, 11), 3);
        assert_eq!(document_at_line(STREAM, 1), 1);
    }

    #[test]
    fn splice_keeps_other_documents_byte_for_byte() {
        let out = splice(STREAM, &[(1, "kind: SealedSecret\nspec: {new: 1}\n".into())]);
        assert_eq!(out, STREAM.replace("spec: {}\n", "spec: {new: 1}\n"));
        assert_eq!(splice(STREAM, &[]), STREAM);
    }
}
