//! `gitseal set` / `gitseal unset`: change one key of a SealedSecret file in place.
//! Other values keep their ciphertext, so a Git diff shows only the key that changed.

use std::path::Path;

use std::io::IsTerminal as _;

use anyhow::{Result, bail};
use gitseal::{Binding, KeyId, seal_value};
use zeroize::Zeroizing;

use crate::cli::RecipientArgs;
use crate::sealed_file::SealedFile;
use crate::{io, recipients};

/// Where `set` reads the value, and what it accepts.
pub struct ValueInput<'a> {
    /// A file; else stdin, or a hidden prompt on a terminal.
    pub from_file: Option<&'a Path>,
    /// Accept an empty value.
    pub allow_empty: bool,
    /// Drop one trailing LF or CRLF.
    pub trim_newline: bool,
}

impl ValueInput<'_> {
    /// Reads the value.
    ///
    /// # Errors
    /// When it cannot be read, or is empty without `allow_empty`.
    fn read(&self, key: &str) -> Result<Zeroizing<Vec<u8>>> {
        let mut value = match self.from_file {
            None if std::io::stdin().is_terminal() => io::prompt_hidden(&format!("value for {key} (not shown): "))?,
            from_file => io::read_value(from_file)?,
        };
        if self.trim_newline {
            let cut = if value.ends_with(b"\r\n") { 2 } else { usize::from(value.ends_with(b"\n")) };
            let len = value.len() - cut;
            value.truncate(len);
        }
        if value.is_empty() && !self.allow_empty {
            bail!("the value for {key:?} is empty; pass --allow-empty to store an empty value");
        }
        Ok(value)
    }
}

pub fn set(file: &Path, key: &str, input: &ValueInput<'_>, recipients: &RecipientArgs) -> Result<()> {
    let label = file.display().to_string();
    let mut loaded = SealedFile::load(file)?;
    let sealed = loaded.only()?;
    gitseal::validate::data_key(key).map_err(|m| anyhow::anyhow!("{label}: key {key:?}: {m}"))?;
    let recipients = recipients::for_sealing(recipients, Some(file))?.recipients;
    let meta = &sealed.metadata;
    let binding = Binding::new(sealed.spec.scope, meta.namespace.as_deref(), meta.name.as_deref(), key)
        .map_err(|e| anyhow::anyhow!("{label}: {e}; the file's metadata and spec.scope decide where set seals"))?;
    // A merged change of spec.scope (say to cluster-wide) must not widen what set seals:
    // every value already here says in clear where it was sealed for.
    for (other, ciphertext) in &sealed.spec.encrypted_data {
        let here = Binding::new(sealed.spec.scope, meta.namespace.as_deref(), meta.name.as_deref(), other)
            .map_err(|e| anyhow::anyhow!("{label}: {e}"))?;
        if let Some(sealed_for) = gitseal::visible_binding(ciphertext).unwrap_or(None)
            && sealed_for != here
        {
            bail!(
                "{label}: key {other:?}: {}; set refuses to seal {key:?} beside it",
                gitseal::verify::moved(&sealed_for, &here)
            );
        }
    }
    let value = input.read(key)?;
    let sealed_value = seal_value(&value, &binding, &recipients)?;
    sealed.spec.encrypted_data.insert(key.to_owned(), sealed_value.ciphertext);
    sealed.spec.key_ids.insert(key.to_owned(), sealed_value.key_ids.iter().map(KeyId::to_string).collect());
    loaded.save()
}

pub fn unset(file: &Path, key: &str) -> Result<()> {
    let mut loaded = SealedFile::load(file)?;
    let sealed = loaded.only()?;
    if sealed.spec.encrypted_data.remove(key).is_none() {
        bail!("{}: key {key:?} is not in this SealedSecret", file.display());
    }
    sealed.spec.key_ids.remove(key);
    loaded.save()
}
