//! A manifest file whose SealedSecrets a command rewrites in place (`set`, `unset`,
//! `reseal`): loaded once, changed, and written back atomically with every other
//! document kept byte for byte.
//!
//! ```text
//!  file ──load──▶ SealedFile { SealedSecrets with their document index, the text as read }
//!                    │ change objects
//!                    ▼
//!  JSON: the one document rendered again │ YAML: each SealedSecret spliced into the text,
//!                                        │ checked to parse to as many documents
//!                    ──save (temp file + rename)──▶ file
//! ```

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
    /// Each SealedSecret with its 0-based document index.
    pub objects: Vec<(usize, SealedSecret)>,
    /// Whether the file holds a plaintext Secret.
    pub has_plaintext: bool,
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
        let has_plaintext = docs.iter().any(|d| matches!(d, Document::Secret(_)));
        let objects: Vec<(usize, SealedSecret)> = docs
            .into_iter()
            .enumerate()
            .filter_map(|(i, d)| if let Document::Sealed(s) = d { Some((i, *s)) } else { None })
            .collect();
        if format == OutputFormat::Yaml && !objects.is_empty() {
            io::check_spliceable(&label, &input.text, documents)?;
        }
        Ok(SealedFile { path: path.to_path_buf(), format, text: input.text, documents, objects, has_plaintext })
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
        let label = self.label();
        let text = match self.format {
            OutputFormat::Json => {
                let objects: Vec<SealedSecret> = self.objects.iter().map(|(_, o)| o.clone()).collect();
                render(&objects, OutputFormat::Json)?
            }
            OutputFormat::Yaml => {
                let mut replacements = Vec::new();
                for (doc, object) in &self.objects {
                    replacements.push((*doc, render(std::slice::from_ref(object), OutputFormat::Yaml)?));
                }
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
}
