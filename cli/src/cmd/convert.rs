//! `gitseal convert`: rewrites gitseal objects of an older API version
//! (`gitseal.dev/v1alpha1`) as `gitseal.dev/v1`, in place.
//!
//! ```text
//!  file ──parse──▶ objects of an older gitseal apiVersion ──▶ each one's apiVersion scalar,
//!                  where the parser found it (value_spans) ──▶ replaced, quotes kept
//!       ──▶ temp file read back: every object as before, each now v1 ──▶ rename
//! ```
//!
//! Nothing else in the file changes (comments, values, other documents), so the diff is one
//! line per object; the sealed values are the same bytes and unseal as before.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use gitseal::crds::{API_VERSION, OLDER_API_VERSIONS};
use gitseal::manifest::{Document, objects, parse_documents};
use gitseal::value_spans::ValueSpans;

use crate::io::{self, outln};

/// Kinds of gitseal's API: the objects `convert` rewrites.
const KINDS: [&str; 3] = ["SealedSecret", "KeyRotation", "ResealRequest"];

/// Converts every file under `paths`; with `check`, changes nothing and returns whether
/// nothing needed converting (for CI).
pub fn convert(paths: &[PathBuf], check: bool) -> Result<bool> {
    let mut files = Vec::new();
    for path in paths {
        io::collect_manifests(path, &mut files).with_context(|| format!("cannot read {}", path.display()))?;
    }
    let (mut objects_converted, mut files_converted) = (0, 0);
    for file in &files {
        let label = file.display().to_string();
        let text = io::read_input(&label)?.text;
        let Some(converted) = converted(&label, &text)? else { continue };
        if check {
            outln!("{label}: {} object(s) of an older apiVersion", converted.objects)?;
        } else {
            write(file, &label, &text, &converted)?;
            outln!("{label}: converted {} object(s) to {API_VERSION}", converted.objects)?;
        }
        objects_converted += converted.objects;
        files_converted += 1;
    }
    match (objects_converted, check) {
        (0, _) => outln!("nothing to convert: every gitseal object in {} file(s) is {API_VERSION}", files.len())?,
        (n, true) => outln!("{n} object(s) in {files_converted} file(s) to convert: run `gitseal convert` on them")?,
        (n, false) => outln!("converted {n} object(s) in {files_converted} file(s)")?,
    }
    Ok(!check || objects_converted == 0)
}

/// A file's new text and how many objects changed in it.
struct Converted {
    text: String,
    objects: usize,
}

/// The text with every older gitseal `apiVersion` replaced; `None` when there is none.
///
/// # Errors
/// The file does not parse, or an older apiVersion is written where it cannot be replaced
/// alone (an alias or anchor).
fn converted(label: &str, text: &str) -> Result<Option<Converted>> {
    // A template or another file that is not YAML holds nothing to convert.
    let Ok(docs) = parse_documents(text) else { return Ok(None) };
    let spans = ValueSpans::parse(text).with_context(|| format!("{label}: cannot locate its objects"))?;
    let mut ranges = Vec::new();
    for located in objects(&docs) {
        let kind = match located.object {
            Document::Sealed(_) => "SealedSecret",
            Document::Other { kind: Some(kind), .. } => kind.as_str(),
            _ => continue,
        };
        let older = spans.api_version_text(located.document, located.item).filter(|v| OLDER_API_VERSIONS.contains(v));
        if !KINDS.contains(&kind) || older.is_none() {
            continue;
        }
        let place = match located.item {
            Some(i) => format!("{label}: document {}, item {}", located.document + 1, i + 1),
            None => format!("{label}: document {}", located.document + 1),
        };
        match spans.api_version(located.document, located.item) {
            Some(range) => ranges.push(range),
            None => bail!("{place}: its apiVersion is an alias or anchored; write it out and run convert again"),
        }
    }
    if ranges.is_empty() {
        return Ok(None);
    }
    let objects = ranges.len();
    let mut out = text.to_owned();
    ranges.sort_by_key(|r| std::cmp::Reverse(r.start));
    for range in ranges {
        // A quoted scalar (JSON's, or YAML's "…") keeps its quotes.
        let quote = out[range.clone()].chars().next().filter(|c| *c == '"' || *c == '\'');
        let quote = quote.map(String::from).unwrap_or_default();
        out.replace_range(range, &format!("{quote}{API_VERSION}{quote}"));
    }
    Ok(Some(Converted { text: out, objects }))
}

/// Writes the new text atomically, after reading it back: the same objects as before, none
/// of them of an older version any more.
fn write(file: &Path, label: &str, before: &str, new_text: &Converted) -> Result<()> {
    let old = parse_documents(before).with_context(|| format!("{label}: cannot parse"))?;
    io::write_atomic_checked(file, new_text.text.as_bytes(), None, |written| {
        let new = parse_documents(written).with_context(|| format!("{label}: the converted text does not parse"))?;
        let same = new.len() == old.len()
            && objects(&new).iter().zip(objects(&old)).all(|(n, o)| match (n.object, o.object) {
                (Document::Sealed(n), Document::Sealed(o)) => n == o,
                (n, o) => std::mem::discriminant(n) == std::mem::discriminant(o),
            });
        if !same || converted(label, written)?.is_some() {
            bail!("{label}: the converted file would not hold the same objects; left as it was");
        }
        Ok(())
    })
}
