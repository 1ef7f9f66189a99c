//! Where a command's recipients come from: one resolver for every command.
//!
//! ```text
//!  -r age1… / -R FILE ───────────────────────────▶ exactly those (flags win)
//!  neither: .gitseal-recipients nearest to the file ──▶ that file's recipients
//!           being written or checked (its directory,     (stdin / stdout: the
//!           then each parent)                            current directory)
//! ```
//!
//! `seal -w`, `create -w`, `set`, `unset`, `verify` and `reseal` ask for the file they
//! write or check, so a file under `envs/staging/` uses `envs/staging/.gitseal-recipients`
//! wherever the command runs. `keys export` takes flags only: the repository's file names
//! the cluster itself, not the administrators a backup is for.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use age::x25519;
use anyhow::{Context, Result, bail};
use gitseal::Recipients;

use crate::cli::RecipientArgs;

/// Name of the repository file holding the recipients to seal to.
pub const REPO_RECIPIENTS: &str = ".gitseal-recipients";

/// Reads an age recipients file (`-R`, `.gitseal-recipients`): one `age1…` per line,
/// `#` comments.
///
/// # Errors
/// When it cannot be read, or a line is not an X25519 recipient (named by number).
pub fn read_file(path: &Path) -> Result<Vec<x25519::Recipient>> {
    let text = fs::read_to_string(path).with_context(|| format!("cannot read recipients file {}", path.display()))?;
    Recipients::parse_file(&text).with_context(|| format!("recipients file {}", path.display()))
}

/// The recipients the flags name (`-r`, then each `-R` file), in order; empty without
/// flags.
///
/// # Errors
/// As [`read_file`], or a `-r` that is not an X25519 recipient.
pub fn from_flags(recipients: &[String], files: &[PathBuf]) -> Result<Vec<x25519::Recipient>> {
    let mut list = Recipients::parse_each(recipients.iter().map(String::as_str))?;
    for file in files {
        list.extend(read_file(file)?);
    }
    Ok(list)
}

/// The repository's recipients file for `path` (a file, or a directory): the nearest
/// `.gitseal-recipients` in its directory or above.
pub fn repository_file(path: &Path) -> Option<PathBuf> {
    let dir = if path.is_dir() { path.to_path_buf() } else { crate::io::dir_of(path) };
    crate::io::find_upwards(&dir, REPO_RECIPIENTS)
}

/// The recipients to seal `path` to (`None`: stdin or stdout, read from the current
/// directory): the flags, else the repository's file for `path`.
///
/// # Errors
/// When there are none, saying how to give some; as [`from_flags`] and [`read_file`].
pub fn to_seal(args: &RecipientArgs, path: Option<&Path>) -> Result<Recipients> {
    let mut list = from_flags(&args.recipients, &args.recipients_files)?;
    if list.is_empty() {
        let start = path.unwrap_or(Path::new("."));
        let Some(file) = repository_file(start) else {
            bail!(
                "no recipients for {}: pass -r age1… or -R FILE, or commit a {REPO_RECIPIENTS} file beside it or above (gitseal fetch-key -w {REPO_RECIPIENTS})",
                path.map_or_else(|| "the current directory".to_owned(), |p| p.display().to_string())
            );
        };
        list = read_file(&file)?;
    }
    Ok(Recipients::new(list)?)
}

/// The recipients each checked file is held to: the `-R` files for all of them, else
/// each file's own repository file (read once per file found). `None` for a file with
/// neither: nothing to check against.
pub struct PerFile {
    flags: Option<Vec<x25519::Recipient>>,
    read: BTreeMap<PathBuf, Vec<x25519::Recipient>>,
}

impl PerFile {
    /// From `-R` files (empty: look up each file's own).
    ///
    /// # Errors
    /// As [`read_file`].
    pub fn new(files: &[PathBuf]) -> Result<PerFile> {
        let flags = if files.is_empty() { None } else { Some(from_flags(&[], files)?) };
        Ok(PerFile { flags, read: BTreeMap::new() })
    }

    /// The recipients for `path`.
    ///
    /// # Errors
    /// As [`read_file`], for the repository file found.
    pub fn get(&mut self, path: &Path) -> Result<Option<&[x25519::Recipient]>> {
        if let Some(flags) = &self.flags {
            return Ok(Some(flags));
        }
        let Some(file) = repository_file(path) else { return Ok(None) };
        if !self.read.contains_key(&file) {
            let list = read_file(&file)?;
            self.read.insert(file.clone(), list);
        }
        Ok(self.read.get(&file).map(Vec::as_slice))
    }
}
