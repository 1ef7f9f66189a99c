//! A manifest file whose SealedSecrets a command rewrites in place (`set`, `unset`,
//! `reseal`, `migrate`): loaded once, changed, and written back atomically with every
//! other document kept byte for byte.
//!
//! ```text
//!  file ──load──▶ SealedFile { SealedSecrets with their document index, the text as read }
//!                    │ change objects
//!                    ▼
//!  only sealed values of existing keys changed, recipients alike ──▶ each old ciphertext
//!      replaced in the text: comments, line ends, everything else byte for byte
//!  otherwise: JSON rendered again │ YAML: each changed or added SealedSecret spliced in
//!                                 │ (a List: that item), checked to parse to as many
//!                                 │ documents
//!                    ──save (temp file + rename)──▶ file
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use gitseal::SealedSecret;
use gitseal::manifest::{Document, OutputFormat, parse_documents, render};
use zeroize::Zeroizing;

use crate::io;

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

    /// The file's only SealedSecret, for commands that edit one object.
    ///
    /// # Errors
    /// When the file holds none (saying so if it is a plaintext Secret), or several.
    pub fn only(&mut self) -> Result<&mut SealedSecret> {
        let label = self.label();
        match self.objects.as_mut_slice() {
            [(_, object)] => Ok(object),
            [] if self.has_plaintext => {
                bail!("{label}: this is a plaintext Secret; seal it first with `gitseal seal -f {label}`")
            }
            [] => bail!("{label}: no SealedSecret in this file"),
            more => {
                bail!("{label}: set and unset edit files holding exactly one SealedSecret; this one has {}", more.len())
            }
        }
    }

    /// Writes the SealedSecrets back in place of their documents; the rest of the file is
    /// kept as it was read.
    ///
    /// # Errors
    /// When rendering fails, the result would not parse to as many documents as the file
    /// held (the file is then left unchanged), or writing fails.
    pub fn save(&self) -> Result<()> {
        if let Some(text) = self.values_replaced() {
            return io::write_atomic(&self.path, text.as_bytes(), None);
        }
        let label = self.label();
        if self.text.contains('#') || self.text.contains('\r') {
            eprintln!(
                "gitseal: note: {label}: its changed SealedSecrets are written anew (keys added or removed, or migrated): comments inside them and CRLF line ends there are not kept (the other documents are)"
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
            OutputFormat::Yaml => {
                let text = gitseal::documents::splice(&self.text, &replacements);
                // The other documents were copied, not re-parsed: check the stream still
                // holds as many documents before replacing the file.
                let after =
                    parse_documents(&text).with_context(|| format!("{label}: rewriting would break the file"))?;
                if after.len() != self.documents {
                    bail!("{label}: rewriting would change the number of documents; file left unchanged");
                }
                text
            }
        };
        io::write_atomic(&self.path, text.as_bytes(), None)
    }

    /// The text with each changed sealed value replaced where it stands, when nothing else
    /// changed: same objects, same keys, same recipients (`keyIds`), and each old
    /// ciphertext found exactly once. Ciphertexts are random, so an exact match is the
    /// value itself.
    fn values_replaced(&self) -> Option<String> {
        if self.objects.len() != self.original.len() {
            return None;
        }
        let mut text = self.text.to_string();
        for ((_, now), before) in self.objects.iter().zip(&self.original) {
            let (mut a, mut b) = (now.clone(), before.clone());
            a.spec.encrypted_data.clear();
            b.spec.encrypted_data.clear();
            let same_keys = now.spec.encrypted_data.keys().eq(before.spec.encrypted_data.keys());
            if a != b || !same_keys {
                return None;
            }
            for (key, old) in &before.spec.encrypted_data {
                let new = &now.spec.encrypted_data[key];
                if new != old {
                    if text.matches(old.as_str()).count() != 1 {
                        return None;
                    }
                    text = text.replacen(old.as_str(), new, 1);
                }
            }
        }
        Some(text)
    }
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
