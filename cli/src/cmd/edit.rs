//! `gitseal set` / `gitseal unset`: change one key of a SealedSecret file in place.
//! Other values keep their ciphertext, so a Git diff shows only the key that changed.

use std::path::Path;

use anyhow::{Context, Result, bail};
use gitseal::manifest::{Document, OutputFormat, parse_documents, render};
use gitseal::{Binding, KeyId, SealedSecret, seal_value};

use crate::cli::RecipientArgs;
use crate::io;

pub fn set(file: &Path, key: &str, from_file: Option<&Path>, recipients: &RecipientArgs) -> Result<()> {
    let label = file.display().to_string();
    let (mut sealed, format) = load(file)?;
    gitseal::validate::data_key(key).map_err(|m| anyhow::anyhow!("{label}: key {key:?}: {m}"))?;
    let recipients = io::recipients(recipients, &io::dir_of(file))?;
    let meta = &sealed.metadata;
    let binding = Binding::new(sealed.spec.scope, meta.namespace.as_deref(), meta.name.as_deref(), key)
        .map_err(|m| anyhow::anyhow!("{label}: {m}"))?;
    let value = io::read_value(from_file)?;
    let sealed_value = seal_value(&value, &binding, &recipients)?;
    sealed.spec.encrypted_data.insert(key.to_owned(), sealed_value.ciphertext);
    sealed.spec.key_ids.insert(key.to_owned(), sealed_value.key_ids.iter().map(KeyId::to_string).collect());
    save(file, &sealed, format)
}

pub fn unset(file: &Path, key: &str) -> Result<()> {
    let (mut sealed, format) = load(file)?;
    if sealed.spec.encrypted_data.remove(key).is_none() {
        bail!("{}: key {key:?} is not in this SealedSecret", file.display());
    }
    sealed.spec.key_ids.remove(key);
    save(file, &sealed, format)
}

/// Loads a file holding exactly one SealedSecret, remembering whether it was JSON.
fn load(file: &Path) -> Result<(SealedSecret, OutputFormat)> {
    let label = file.display().to_string();
    let input = io::read_input(&label)?;
    let mut docs = parse_documents(&input.text).with_context(|| label.clone())?;
    let format = if input.text.trim_start().starts_with('{') { OutputFormat::Json } else { OutputFormat::Yaml };
    match (docs.pop(), docs.is_empty()) {
        (Some(Document::Sealed(sealed)), true) => Ok((*sealed, format)),
        (Some(Document::Secret(_)), true) => {
            bail!("{label}: this is a plaintext Secret; seal it first with `gitseal seal -f {label}`")
        }
        (Some(_), false) => bail!("{label}: set and unset edit files holding exactly one SealedSecret"),
        _ => bail!("{label}: no SealedSecret in this file"),
    }
}

fn save(file: &Path, sealed: &SealedSecret, format: OutputFormat) -> Result<()> {
    io::write_atomic(file, render(std::slice::from_ref(sealed), format)?.as_bytes(), None)
}
