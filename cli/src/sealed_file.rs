//! A manifest file whose SealedSecrets a command rewrites in place (`set`, `unset`,
//! `reseal`, `migrate`): loaded once, changed, and written back atomically with every
//! other document kept byte for byte.
//!
//! ```text
//!  file ──load──▶ SealedFile { SealedSecrets with their document index, the text as read }
//!                    │ change objects
//!                    ▼
//!  check_scopes: every new or changed value bound as the values as read were
//!  only sealed values, keys and key ids changed, in block-style mappings ──▶ in place
//!      (in_place.rs): each value written at the span the parser reports for it, an
//!      entry's lines removed, new entries after the last one (never found by searching
//!      the text): comments, line ends, everything else byte for byte
//!  otherwise (flow style, anchors, JSON, migrated objects): JSON rendered again │ YAML:
//!      each changed or added SealedSecret spliced in (a List: that item), with a note
//!                    ──save (temp file, read back and checked, then rename)──▶ file
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use gitseal::manifest::{Document, OutputFormat, parse_documents, render};
use gitseal::{ScopeRule, SealedSecret};
use zeroize::Zeroizing;

use crate::io;

mod check;
mod in_place;

/// The SealedSecrets of one file, ready to be written back in place.
pub struct SealedFile {
    path: PathBuf,
    format: OutputFormat,
    /// The file as read (it may hold plaintext Secrets too: zeroized on drop).
    text: Zeroizing<String>,
    /// How many documents the file parsed to.
    documents: usize,
    /// Each SealedSecret with where it stands: a document, or an item of a List document.
    pub objects: Vec<(Place, SealedSecret)>,
    /// The SealedSecrets as read, to tell what changed: `objects` starts with them, in
    /// order; any beyond were added in place of the incumbent's (`migrate`).
    original: Vec<SealedSecret>,
    /// The incumbent's (bitnami) SealedSecrets, which `migrate` replaces.
    pub incumbent: Vec<(Place, serde_json::Value)>,
    /// Whether the file holds a plaintext Secret.
    pub has_plaintext: bool,
}

/// The SealedSecret of a file a command edits ([`SealedFile::pick`]).
pub struct Picked<'a> {
    /// How messages name it: the file, and the object when the file holds several.
    pub label: String,
    pub object: &'a mut SealedSecret,
}

/// How messages name an object: `namespace/name`.
fn who(object: &SealedSecret) -> String {
    gitseal::manifest::display_name(object.metadata.namespace.as_deref(), object.metadata.name.as_deref())
        .unwrap_or_else(|| "<no name>".to_owned())
}

/// Where an object stands in a file (0-based).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Place {
    pub document: usize,
    /// The item, for an object inside a List document.
    pub item: Option<usize>,
}

impl SealedFile {
    /// Reads and parses `path`. A YAML file with SealedSecrets whose documents cannot be
    /// rewritten by index (a null document the parser drops) is refused here, before
    /// anything changes.
    ///
    /// # Errors
    /// When the file cannot be read or parsed, or is not safely rewritable.
    pub fn load(path: &Path) -> Result<SealedFile> {
        let label = path.display().to_string();
        let input = io::read_input(&label)?;
        let docs = parse_documents(&input.text).with_context(|| label.clone())?;
        // A JSON file is one document (an object), YAML a stream of them.
        let format = if input.text.trim_start().starts_with('{') { OutputFormat::Json } else { OutputFormat::Yaml };
        let documents = docs.len();
        let located = gitseal::manifest::objects(&docs);
        let has_plaintext = located.iter().any(|o| matches!(o.object, Document::Secret(_)));
        let (mut objects, mut incumbent) = (Vec::new(), Vec::new());
        for o in &located {
            let place = Place { document: o.document, item: o.item };
            match o.object {
                Document::Sealed(s) => objects.push((place, (**s).clone())),
                Document::Incumbent(s) => incumbent.push((place, (**s).clone())),
                _ => {}
            }
        }
        if format == OutputFormat::Yaml && !(objects.is_empty() && incumbent.is_empty()) {
            io::check_spliceable(&label, &input.text, documents)?;
        }
        let original = objects.iter().map(|(_, o)| o.clone()).collect();
        Ok(SealedFile {
            path: path.to_path_buf(),
            format,
            text: input.text,
            documents,
            objects,
            original,
            incumbent,
            has_plaintext,
        })
    }

    /// How messages name the file.
    pub fn label(&self) -> String {
        self.path.display().to_string()
    }

    /// The SealedSecret a command that edits one object works on: the file's only one, or,
    /// with `name` (`NAME` or `NAMESPACE/NAME`), the one so named. Never guessed from the
    /// file's name: writing a value into the wrong object would go unnoticed.
    ///
    /// # Errors
    /// When the file holds none (saying so if it is a plaintext Secret); when it holds
    /// several and no `name` is given, or `name` names none or several of them: each
    /// naming the SealedSecrets the file holds.
    pub fn pick(&mut self, name: Option<&str>) -> Result<Picked<'_>> {
        let label = self.label();
        let names: Vec<String> = self.objects.iter().map(|(_, o)| who(o)).collect();
        let held = names.join(", ");
        let matching: Vec<usize> = match name {
            None => (0..self.objects.len()).collect(),
            Some(wanted) => (0..self.objects.len())
                .filter(|i| self.objects[*i].1.metadata.name.as_deref() == Some(wanted) || names[*i] == wanted)
                .collect(),
        };
        let i = match (matching.as_slice(), name) {
            ([i], _) => *i,
            _ if self.objects.is_empty() && self.has_plaintext => {
                bail!("{label}: this is a plaintext Secret; seal it first with `gitseal seal -f {label}`")
            }
            _ if self.objects.is_empty() => bail!("{label}: no SealedSecret in this file"),
            ([], Some(wanted)) => bail!("{label}: no SealedSecret named {wanted:?} here; it holds {held}"),
            (_, Some(wanted)) => {
                bail!(
                    "{label}: several SealedSecrets are named {wanted:?} ({held}); pick one with --name NAMESPACE/NAME"
                )
            }
            (_, None) => bail!(
                "{label} holds {} SealedSecrets ({held}); say which one with --name NAME (or NAMESPACE/NAME)",
                names.len()
            ),
        };
        let label = self.label_of(&self.objects[i].1);
        Ok(Picked { label, object: &mut self.objects[i].1 })
    }

    /// How messages name `object`, one of this file's: the file, and the object too when
    /// the file holds several.
    pub fn label_of(&self, object: &SealedSecret) -> String {
        if self.objects.len() > 1 { format!("{} ({})", self.label(), who(object)) } else { self.label() }
    }

    /// Writes the SealedSecrets back in place of their documents; the rest of the file is
    /// kept as it was read.
    ///
    /// # Errors
    /// When a changed value breaks the scope rule, rendering fails, the text written does
    /// not read back as exactly the objects meant with the other documents unchanged (the
    /// file is then left unchanged), or writing fails.
    pub fn save(&self) -> Result<()> {
        self.check_scopes()?;
        // An edit in place that would not pass the read-back check is not used: the
        // object is rendered anew instead, saying what that loses.
        let text = match self.in_place().filter(|text| self.check_written(text).is_ok()) {
            Some(text) => text,
            None => self.rendered()?,
        };
        io::write_atomic_checked(&self.path, text.as_bytes(), None, |written| self.check_written(written))
    }

    /// The text with each changed or added SealedSecret written anew (a List: that item).
    fn rendered(&self) -> Result<String> {
        let label = self.label();
        if self.text.contains('#') || self.text.contains('\r') {
            eprintln!(
                "gitseal: note: {label}: its changed SealedSecrets are written anew (migrated, or written in a shape gitseal does not edit in place: flow style {{…}}, anchors or aliases, block scalars): comments inside them and CRLF line ends there are not kept (the other documents are)"
            );
        }
        // Each document holding a changed or added SealedSecret rendered anew: the object
        // itself, or the List with those items replaced (its other items kept as they parse).
        let mut by_document: BTreeMap<usize, Vec<(Option<usize>, &SealedSecret)>> = BTreeMap::new();
        for (i, (place, object)) in self.objects.iter().enumerate() {
            if self.original.get(i) != Some(object) {
                by_document.entry(place.document).or_default().push((place.item, object));
            }
        }
        let spans = gitseal::documents::document_spans(&self.text);
        let mut replacements = Vec::new();
        for (document, objects) in by_document {
            let rendered = match objects.as_slice() {
                [(None, object)] => render(std::slice::from_ref(*object), self.format)?,
                items => {
                    let source = match self.format {
                        OutputFormat::Json => &self.text[..],
                        OutputFormat::Yaml => spans.get(document).map_or("", |span| &self.text[span.clone()]),
                    };
                    let mut list: serde_json::Value = serde_saphyr::from_str(source)
                        .map_err(|e| anyhow::anyhow!("{label}: document {}: {e}", document + 1))?;
                    for (item, object) in items {
                        let slot = item.and_then(|i| list.get_mut("items")?.get_mut(i));
                        *slot.with_context(|| format!("{label}: document {} changed while read", document + 1))? =
                            serde_json::to_value(object)?;
                    }
                    render(&[ListDoc::of(list)], self.format)?
                }
            };
            replacements.push((document, rendered));
        }
        let text = match self.format {
            OutputFormat::Json => replacements.pop().map(|(_, text)| text).unwrap_or_default(),
            // The other documents are copied, not re-parsed: the save reads the result
            // back and checks it before the file is replaced.
            OutputFormat::Yaml => gitseal::documents::splice(&self.text, &replacements),
        };
        Ok(text)
    }
}

/// The scope rule of `object` as read ([`ScopeRule::of`]), or an error naming the file and
/// saying what the command refuses (`refusal`).
///
/// # Errors
/// When a value is sealed for another place than the object now says.
pub fn scope_rule(label: &str, object: &SealedSecret, refusal: &str) -> Result<ScopeRule> {
    ScopeRule::of(object).map_err(|e| anyhow::anyhow!("{label}: {e}; {refusal}"))
}

/// A List document re-rendered with its fields in the order Kubernetes prints them.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct ListDoc {
    api_version: serde_json::Value,
    kind: serde_json::Value,
    #[serde(skip_serializing_if = "serde_json::Value::is_null")]
    metadata: serde_json::Value,
    items: serde_json::Value,
}

impl ListDoc {
    fn of(mut list: serde_json::Value) -> ListDoc {
        let mut take = |field: &str| list.get_mut(field).map(serde_json::Value::take).unwrap_or_default();
        ListDoc {
            api_version: take("apiVersion"),
            kind: take("kind"),
            metadata: take("metadata"),
            items: take("items"),
        }
    }
}
