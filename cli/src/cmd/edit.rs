//! `gitseal set` / `gitseal unset`: change one key of a SealedSecret file in place.
//! Other values keep their ciphertext, so a Git diff shows only the key that changed.

use std::path::Path;

use anyhow::{Context, Result, bail};
use gitseal::manifest::{Document, OutputFormat, parse_documents, render};
use gitseal::{Binding, KeyId, SealedSecret, seal_value};
use zeroize::Zeroizing;

use crate::cli::RecipientArgs;
use crate::{io, recipients};

pub fn set(file: &Path, key: &str, from_file: Option<&Path>, recipients: &RecipientArgs) -> Result<()> {
    let label = file.display().to_string();
    let mut loaded = load(file)?;
    gitseal::validate::data_key(key).map_err(|m| anyhow::anyhow!("{label}: key {key:?}: {m}"))?;
    let recipients = recipients::to_seal(recipients, Some(file))?;
    let sealed = &mut loaded.sealed;
    let meta = &sealed.metadata;
    let binding = Binding::new(sealed.spec.scope, meta.namespace.as_deref(), meta.name.as_deref(), key)
        .map_err(|m| anyhow::anyhow!("{label}: {m}"))?;
    // A merged change of spec.scope (say to cluster-wide) must not widen what set seals:
    // every value already here says in clear where it was sealed for.
    for (other, ciphertext) in &sealed.spec.encrypted_data {
        let here = Binding::new(sealed.spec.scope, meta.namespace.as_deref(), meta.name.as_deref(), other)
            .map_err(|m| anyhow::anyhow!("{label}: {m}"))?;
        if let Some(sealed_for) = gitseal::visible_binding(ciphertext).unwrap_or(None)
            && sealed_for != here
        {
            bail!(
                "{label}: key {other:?}: {}; set refuses to seal {key:?} beside it",
                gitseal::verify::moved(&sealed_for, &here)
            );
        }
    }
    let value = io::read_value(from_file)?;
    let sealed_value = seal_value(&value, &binding, &recipients)?;
    sealed.spec.encrypted_data.insert(key.to_owned(), sealed_value.ciphertext);
    sealed.spec.key_ids.insert(key.to_owned(), sealed_value.key_ids.iter().map(KeyId::to_string).collect());
    save(file, &loaded)
}

pub fn unset(file: &Path, key: &str) -> Result<()> {
    let mut loaded = load(file)?;
    if loaded.sealed.spec.encrypted_data.remove(key).is_none() {
        bail!("{}: key {key:?} is not in this SealedSecret", file.display());
    }
    loaded.sealed.spec.key_ids.remove(key);
    save(file, &loaded)
}

/// A file holding exactly one SealedSecret, perhaps among other documents.
struct Loaded {
    sealed: SealedSecret,
    format: OutputFormat,
    /// The file as read, so the other documents are written back byte for byte.
    text: Zeroizing<String>,
    /// The SealedSecret's 0-based document index.
    document: usize,
}

/// Loads a file holding exactly one SealedSecret, remembering whether it was JSON.
fn load(file: &Path) -> Result<Loaded> {
    let label = file.display().to_string();
    let input = io::read_input(&label)?;
    let docs = parse_documents(&input.text).with_context(|| label.clone())?;
    let format = if input.text.trim_start().starts_with('{') { OutputFormat::Json } else { OutputFormat::Yaml };
    if format == OutputFormat::Yaml {
        io::check_spliceable(&label, &input.text, docs.len())?;
    }
    let sealed: Vec<usize> =
        docs.iter().enumerate().filter(|(_, d)| matches!(d, Document::Sealed(_))).map(|(i, _)| i).collect();
    match (sealed.as_slice(), docs.into_iter().nth(sealed.first().copied().unwrap_or(usize::MAX))) {
        ([document], Some(Document::Sealed(s))) => {
            Ok(Loaded { sealed: *s, format, text: input.text, document: *document })
        }
        ([], _) if parse_documents(&input.text).is_ok_and(|d| d.iter().any(|d| matches!(d, Document::Secret(_)))) => {
            bail!("{label}: this is a plaintext Secret; seal it first with `gitseal seal -f {label}`")
        }
        ([], _) => bail!("{label}: no SealedSecret in this file"),
        _ => bail!("{label}: set and unset edit files holding exactly one SealedSecret; this one has {}", sealed.len()),
    }
}

/// Writes the SealedSecret back in place of its document; the rest of the file is kept.
fn save(file: &Path, loaded: &Loaded) -> Result<()> {
    let rendered = render(std::slice::from_ref(&loaded.sealed), loaded.format)?;
    let text = match loaded.format {
        OutputFormat::Json => rendered,
        OutputFormat::Yaml => gitseal::documents::splice(&loaded.text, &[(loaded.document, rendered)]),
    };
    io::write_atomic(file, text.as_bytes(), None)
}
