//! `gitseal set` / `gitseal unset` / `gitseal edit`: change the values of a SealedSecret
//! file in place. Values not changed keep their ciphertext, so a Git diff shows only the
//! keys that changed.

use std::path::Path;

use std::io::IsTerminal as _;

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use gitseal::{Binding, KeyId, seal_value};
use zeroize::Zeroizing;

use crate::cli::RecipientArgs;
use crate::sealed_file::{SealedFile, scope_rule};
use crate::{io, repository};

mod scratch;

use scratch::ScratchDir;

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
    let mut loaded = SealedFile::load(file)?;
    let label = loaded.label();
    let sealed = loaded.only()?;
    let rule = scope_rule(&label, sealed, &format!("set refuses to seal {key:?} beside it"))?;
    gitseal::validate::data_key(key).map_err(|m| anyhow::anyhow!("{label}: key {key:?}: {m}"))?;
    let binding = rule
        .binding(key)
        .map_err(|e| anyhow::anyhow!("{label}: {e}; the file's metadata and spec.scope decide where set seals"))?;
    let recipients = repository::for_sealing(recipients, Some(file))?.recipients;
    let value = input.read(key)?;
    seal_into(sealed, key, &value, &binding, &recipients)?;
    loaded.save()
}

/// Unset checks the scope rule too, though it seals nothing: removing values from a file
/// whose spec.scope disagrees with them would erase the evidence the next `set` or `edit`
/// relies on (with no value left, spec.scope alone would decide).
pub fn unset(file: &Path, key: &str) -> Result<()> {
    let mut loaded = SealedFile::load(file)?;
    let label = loaded.label();
    let sealed = loaded.only()?;
    scope_rule(&label, sealed, "unset refuses to rewrite the file until its values and spec.scope agree")?;
    if sealed.spec.encrypted_data.remove(key).is_none() {
        bail!("{}: key {key:?} is not in this SealedSecret", file.display());
    }
    sealed.spec.key_ids.remove(key);
    loaded.save()
}

/// Seals `value` for `binding` into `sealed` as `key`, with the key ids it is sealed to.
fn seal_into(
    sealed: &mut gitseal::SealedSecret,
    key: &str,
    value: &[u8],
    binding: &Binding,
    recipients: &gitseal::Recipients,
) -> Result<()> {
    let sealed_value = seal_value(value, binding, recipients)?;
    sealed.spec.encrypted_data.insert(key.to_owned(), sealed_value.ciphertext);
    sealed.spec.key_ids.insert(key.to_owned(), sealed_value.key_ids.iter().map(KeyId::to_string).collect());
    Ok(())
}

/// What the editor shows for a value that is kept as it is sealed.
const UNCHANGED: &str = "<unchanged>";

/// `gitseal edit`: the values in an editor, in a 0600 file in a private directory that is
/// removed on every exit path (the directory's guard), the editor failing included.
pub fn edit(file: &Path, identity: Option<&Path>, recipients: &RecipientArgs) -> Result<()> {
    let mut loaded = SealedFile::load(file)?;
    let label = loaded.label();
    // Before the editor opens: nobody types values that would then be refused.
    let sealed = loaded.only()?;
    let rule = scope_rule(&label, sealed, "edit refuses to seal values beside it")?;
    let shown = match identity {
        None => None,
        Some(path) => {
            let text = io::read_value(Some(path))?;
            let text = std::str::from_utf8(&text).map_err(|_| anyhow::anyhow!("{}: not UTF-8", path.display()))?;
            let ring = gitseal::KeyRing::parse_identity_file(text)?;
            Some(gitseal::unseal_secret(sealed, &ring).map_err(|e| anyhow::anyhow!("{label}: {e}"))?)
        }
    };
    let who = gitseal::manifest::display_name(sealed.metadata.namespace.as_deref(), sealed.metadata.name.as_deref())
        .unwrap_or_default();
    let mut text = Zeroizing::new(format!(
        "# gitseal edit {who}: change a value to seal it again, delete a line to remove its key,\n\
         # add `key: value` lines to add keys. {UNCHANGED} keeps a value as it is sealed.\n\
         # Values are YAML strings: quote one that reads as a number or boolean.\n"
    ));
    for key in sealed.spec.encrypted_data.keys() {
        let plain = shown.as_ref().and_then(|s| s.data.get(key)).and_then(|v| std::str::from_utf8(v).ok());
        match plain {
            Some(value) => text.push_str(&format!("{key}: {}\n", serde_json::to_string(value)?)),
            None => text.push_str(&format!("{key}: {UNCHANGED}\n")),
        }
    }
    let edited = run_editor(&text)?;
    let values: BTreeMap<String, Edited> = serde_saphyr::from_str(&edited)
        .map_err(|e| anyhow::anyhow!("the edited values are not `key: value` lines: {}", first_line(&e.to_string())))?;
    let mut recipients_for = None;
    let before: Vec<String> = sealed.spec.encrypted_data.keys().cloned().collect();
    for key in before.iter().filter(|k| !values.contains_key(*k)) {
        sealed.spec.encrypted_data.remove(key);
        sealed.spec.key_ids.remove(key);
    }
    for (key, Edited(value)) in &values {
        let unchanged = value.as_deref().map(String::as_str) == Some(UNCHANGED)
            || shown.as_ref().and_then(|s| s.data.get(key)).map(|v| &v[..]) == value.as_ref().map(|v| v.as_bytes());
        if unchanged && sealed.spec.encrypted_data.contains_key(key) {
            continue;
        }
        let Some(value) = value else { bail!("{label}: key {key:?}: not a string; quote it") };
        if value.as_str() == UNCHANGED {
            bail!("{label}: key {key:?} is new, so it has no sealed value to keep; give it a value");
        }
        gitseal::validate::data_key(key).map_err(|m| anyhow::anyhow!("{label}: key {key:?}: {m}"))?;
        let binding = rule.binding(key).map_err(|e| anyhow::anyhow!("{label}: {e}"))?;
        let to = match &recipients_for {
            Some(to) => to,
            None => recipients_for.insert(repository::for_sealing(recipients, Some(file))?.recipients),
        };
        seal_into(sealed, key, value.as_bytes(), &binding, to)?;
    }
    loaded.save()
}

/// A value as edited: a string, or `None` for anything else (a number, a boolean).
struct Edited(Option<Zeroizing<String>>);

impl<'de> serde::Deserialize<'de> for Edited {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Edited, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Edited;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> std::result::Result<Edited, E> {
                Ok(Edited(Some(Zeroizing::new(v.to_owned()))))
            }
            fn visit_bool<E: serde::de::Error>(self, _: bool) -> std::result::Result<Edited, E> {
                Ok(Edited(None))
            }
            fn visit_i64<E: serde::de::Error>(self, _: i64) -> std::result::Result<Edited, E> {
                Ok(Edited(None))
            }
            fn visit_u64<E: serde::de::Error>(self, _: u64) -> std::result::Result<Edited, E> {
                Ok(Edited(None))
            }
            fn visit_f64<E: serde::de::Error>(self, _: f64) -> std::result::Result<Edited, E> {
                Ok(Edited(None))
            }
            fn visit_unit<E: serde::de::Error>(self) -> std::result::Result<Edited, E> {
                Ok(Edited(Some(Zeroizing::new(String::new()))))
            }
        }
        d.deserialize_any(V)
    }
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}

/// Runs `$VISUAL`, else `$EDITOR`, else `vi`, on `text` in a 0600 file inside a private
/// (0700) directory, memory-backed where the system has one; returns what was saved. The
/// directory is removed when this returns, whatever happens, and on SIGTERM or SIGHUP
/// (see [`scratch`]).
fn run_editor(text: &str) -> Result<Zeroizing<String>> {
    let dir = ScratchDir::create()?;
    let path = dir.path().join("values.yaml");
    io::write_private(&path, text.as_bytes(), false)?;
    let editor = std::env::var("VISUAL")
        .ok()
        .filter(|e| !e.trim().is_empty())
        .or_else(|| std::env::var("EDITOR").ok().filter(|e| !e.trim().is_empty()))
        .unwrap_or_else(|| "vi".to_owned());
    // Like git, run it through the shell so `EDITOR="code --wait"` works.
    let status = dir
        .run(
            std::process::Command::new("sh").arg("-c").arg(format!("{editor} \"$1\"")).arg("gitseal-editor").arg(&path),
        )
        .with_context(|| format!("cannot run the editor {editor:?}"))?;
    if !status.success() {
        bail!("the editor {editor:?} failed ({status}); nothing changed");
    }
    let bytes = Zeroizing::new(std::fs::read(&path).context("cannot read the edited values")?);
    let text = std::str::from_utf8(&bytes).map_err(|_| anyhow::anyhow!("the edited values are not UTF-8 text"))?;
    Ok(Zeroizing::new(text.to_owned()))
}
