//! The one rule for a value about to be sealed, whatever command reads it: an empty value
//! is refused unless `--allow-empty`, and a value piped in with a trailing newline (as
//! `echo` adds) is stored as given, with a note saying so.

use std::io::IsTerminal as _;
use std::path::Path;

use anyhow::{Result, bail};
use zeroize::Zeroizing;

use crate::cli::ValueArgs;
use crate::io;

impl ValueArgs {
    /// Refuses an empty value unless `--allow-empty`; `what` names it (file, document,
    /// key), never its content.
    ///
    /// # Errors
    /// The value is empty and empty values were not asked for.
    pub fn check(self, what: &str, value: &[u8]) -> Result<()> {
        if value.is_empty() && !self.allow_empty {
            bail!("{what}: the value is empty; pass --allow-empty to store an empty value");
        }
        Ok(())
    }
}

/// Reads the value of `key` from `from_file`, else from stdin (a hidden prompt on a
/// terminal). `trim_newline` drops one trailing LF or CRLF; without it, a value piped in
/// that ends with one is kept byte for byte and a note says so.
///
/// # Errors
/// When the value cannot be read.
pub fn read(from_file: Option<&Path>, key: &str, trim_newline: bool) -> Result<Zeroizing<Vec<u8>>> {
    let terminal = from_file.is_none() && std::io::stdin().is_terminal();
    let mut value = if terminal {
        io::prompt_hidden(&format!("value for {key} (not shown): "))?
    } else {
        io::read_value(from_file)?
    };
    if trim_newline {
        let cut = if value.ends_with(b"\r\n") { 2 } else { usize::from(value.ends_with(b"\n")) };
        let len = value.len() - cut;
        value.truncate(len);
    } else if from_file.is_none() && !terminal && value.ends_with(b"\n") {
        eprintln!(
            "gitseal: note: the value for {key:?} read from stdin ends with a newline (as `echo` adds), stored as given; use `printf %s` or --trim-newline to drop it"
        );
    }
    Ok(value)
}
