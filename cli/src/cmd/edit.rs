//! `gitseal set` / `gitseal unset` / `gitseal edit`: change the values of a SealedSecret
//! file in place. Values not changed keep their ciphertext, so a Git diff shows only the
//! keys that changed.

use std::path::Path;

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use gitseal::{Binding, KeyId, seal_value};
use zeroize::Zeroizing;

use crate::cli::{RecipientArgs, ValueArgs};
use crate::sealed_file::{Picked, SealedFile, scope_rule};
use crate::{io, repository, value};

mod scratch;

use scratch::ScratchDir;

/// Where `set` reads the value, and what it accepts.
pub struct ValueInput<'a> {
    /// A file; else stdin, or a hidden prompt on a terminal.
    pub from_file: Option<&'a Path>,
    /// Whether an empty value is accepted.
    pub values: ValueArgs,
    /// Drop one trailing LF or CRLF.
    pub trim_newline: bool,
}

impl ValueInput<'_> {
    /// Reads the value, held to the rule of [`crate::value`].
    ///
    /// # Errors
    /// When it cannot be read, or is empty without `--allow-empty`.
    fn read(&self, label: &str, key: &str) -> Result<Zeroizing<Vec<u8>>> {
        let value = value::read(self.from_file, key, self.trim_newline)?;
        self.values.check(&format!("{label}: key {key:?}"), &value)?;
        Ok(value)
    }
}

/// `gitseal set`: seals one value into the SealedSecret `name` picks (see
/// [`SealedFile::pick`]).
pub fn set(
    file: &Path,
    name: Option<&str>,
    key: &str,
    input: &ValueInput<'_>,
    recipients: &RecipientArgs,
) -> Result<()> {
    let mut loaded = SealedFile::load(file)?;
    let Picked { label, object: sealed } = loaded.pick(name)?;
    let rule = scope_rule(&label, sealed, &format!("set refuses to seal {key:?} beside it"))?;
    gitseal::validate::data_key(key).map_err(|m| anyhow::anyhow!("{label}: key {key:?}: {m}"))?;
    let binding = rule
        .binding(key)
        .map_err(|e| anyhow::anyhow!("{label}: {e}; the file's metadata and spec.scope decide where set seals"))?;
    let recipients = repository::for_sealing(recipients, Some(file))?.recipients;
    let value = input.read(&label, key)?;
    let new = !sealed.spec.encrypted_data.contains_key(key);
    seal_into(sealed, key, &value, &binding, &recipients)?;
    loaded.save()?;
    eprintln!("{label}: {} {key}", if new { "added" } else { "sealed" });
    Ok(())
}

/// `gitseal unset`. It checks the scope rule too, though it seals nothing: removing values
/// from a file whose spec.scope disagrees with them would erase the evidence the next `set`
/// or `edit` relies on (with no value left, spec.scope alone would decide).
pub fn unset(file: &Path, name: Option<&str>, key: &str) -> Result<()> {
    let mut loaded = SealedFile::load(file)?;
    let Picked { label, object: sealed } = loaded.pick(name)?;
    scope_rule(&label, sealed, "unset refuses to rewrite the file until its values and spec.scope agree")?;
    if sealed.spec.encrypted_data.remove(key).is_none() {
        bail!("{label}: key {key:?} is not in this SealedSecret");
    }
    sealed.spec.key_ids.remove(key);
    loaded.save()?;
    eprintln!("{label}: removed {key}");
    Ok(())
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
pub fn edit(
    file: &Path,
    name: Option<&str>,
    identity: Option<&Path>,
    values: ValueArgs,
    recipients: &RecipientArgs,
) -> Result<()> {
    let mut loaded = SealedFile::load(file)?;
    // Before the editor opens: nobody types values that would then be refused.
    let Picked { label, object: sealed } = loaded.pick(name)?;
    let rule = scope_rule(&label, sealed, "edit refuses to seal values beside it")?;
    let shown = match identity {
        None => None,
        Some(path) => {
            let ring = io::read_identity(path)?;
            Some(gitseal::unseal_secret(sealed, &ring).map_err(|e| anyhow::anyhow!("{label}: {e}"))?)
        }
    };
    let who = gitseal::manifest::display_name(sealed.metadata.namespace.as_deref(), sealed.metadata.name.as_deref())
        .unwrap_or_default();
    let mut text = Zeroizing::new(format!(
        "# gitseal edit {who}: change a value to seal it again, delete a line to remove its key,\n\
         # add `key: value` lines to add keys. {UNCHANGED} keeps a value as it is sealed.\n\
         # A value is the text typed after `key: ` (quote it to keep spaces or a leading `#`).\n"
    ));
    for key in sealed.spec.encrypted_data.keys() {
        let plain = shown.as_ref().and_then(|s| s.data.get(key)).and_then(|v| std::str::from_utf8(v).ok());
        match plain {
            Some(value) => text.push_str(&format!("{key}: {}\n", serde_json::to_string(value)?)),
            None => text.push_str(&format!("{key}: {UNCHANGED}\n")),
        }
    }
    // As kubectl edit does: a change that cannot be taken reopens the editor with the
    // reason on top; saving it again unchanged gives up. Nothing is written until then.
    let mut refused: Option<Zeroizing<String>> = None;
    let mut attempts = 0;
    let plan = loop {
        attempts += 1;
        let edited = without_reasons(&run_editor(&text)?);
        match plan(&edited, sealed, shown.as_ref(), &rule, &label, values) {
            Ok(plan) => break plan,
            Err(reason) if refused.as_ref().is_some_and(|r| **r == *edited) => {
                bail!("{reason}; saved again unchanged, so nothing was written")
            }
            Err(reason) if attempts == MAX_ATTEMPTS => {
                bail!("{reason}; refused {MAX_ATTEMPTS} times in a row, so nothing was written")
            }
            Err(reason) => {
                eprintln!("gitseal edit: {reason}; reopening the editor (save it unchanged to give up)");
                text = Zeroizing::new(format!(
                    "{REASON}{reason}\n{REASON}fix it and save, or save it unchanged to give up: nothing is written until then\n{}",
                    *edited
                ));
                refused = Some(edited);
            }
        }
    };
    for key in &plan.removed {
        sealed.spec.encrypted_data.remove(key);
        sealed.spec.key_ids.remove(key);
    }
    if !plan.sealed.is_empty() {
        let to = repository::for_sealing(recipients, Some(file))?.recipients;
        for (key, value) in &plan.sealed {
            let binding = rule.binding(key).map_err(|e| anyhow::anyhow!("{label}: {e}"))?;
            seal_into(sealed, key, value.as_bytes(), &binding, &to)?;
        }
    }
    let changed = !plan.removed.is_empty() || !plan.sealed.is_empty();
    if changed {
        loaded.save()?;
    }
    eprintln!("{}", plan.summary(&label));
    Ok(())
}

/// Saves refused before edit gives up (an editor script that appends on every run would
/// otherwise never save the same text twice).
const MAX_ATTEMPTS: usize = 10;

/// How the editor shows why the last save was refused: comment lines this prefix marks,
/// dropped again from what is saved.
const REASON: &str = "# gitseal edit: refused: ";

fn without_reasons(edited: &str) -> Zeroizing<String> {
    let mut kept = Zeroizing::new(String::with_capacity(edited.len()));
    for line in edited.split_inclusive('\n').filter(|l| !l.starts_with(REASON)) {
        kept.push_str(line);
    }
    kept
}

/// What an edit changes: keys removed, and keys to seal with their new values.
struct Plan {
    removed: Vec<String>,
    sealed: Vec<(String, Zeroizing<String>)>,
}

impl Plan {
    /// One line for stderr: what changed (keys only), or that nothing did.
    fn summary(&self, file: &str) -> String {
        if self.removed.is_empty() && self.sealed.is_empty() {
            return format!("{file}: no value changed; file left as it was");
        }
        let keys = |keys: &mut dyn Iterator<Item = &String>| keys.map(String::as_str).collect::<Vec<_>>().join(", ");
        let mut parts = Vec::new();
        if !self.sealed.is_empty() {
            parts.push(format!("sealed {}", keys(&mut self.sealed.iter().map(|(k, _)| k))));
        }
        if !self.removed.is_empty() {
            parts.push(format!("removed {}", keys(&mut self.removed.iter())));
        }
        format!("{file}: {}", parts.join("; "))
    }
}

/// Reads the edited `key: value` lines against the object: what to remove and what to
/// seal, or why the edit cannot be taken (the keys named, never a value).
fn plan(
    edited: &str,
    sealed: &gitseal::SealedSecret,
    shown: Option<&gitseal::PlainSecret>,
    rule: &gitseal::ScopeRule,
    label: &str,
    values_args: ValueArgs,
) -> std::result::Result<Plan, String> {
    let values: BTreeMap<String, Edited> = serde_saphyr::from_str(edited)
        .map_err(|e| format!("the edited values are not `key: value` lines: {}", first_line(&e.to_string())))?;
    let removed = sealed.spec.encrypted_data.keys().filter(|k| !values.contains_key(*k)).cloned().collect();
    let mut seal = Vec::new();
    for (key, Edited(parsed)) in values {
        // A plain scalar YAML reads as a number, a boolean or null (42, 042, no, ~) is the
        // text the user typed: a secret is text, and 042 must not become 34.
        let value = match parsed {
            Some(value) => value,
            None => {
                typed(edited, &key).ok_or_else(|| format!("{label}: key {key:?}: the value is not text; quote it"))?
            }
        };
        let old = shown.and_then(|s| s.data.get(&key));
        let unchanged = *value == UNCHANGED || old.is_some_and(|v| v[..] == *value.as_bytes());
        if unchanged && sealed.spec.encrypted_data.contains_key(&key) {
            continue;
        }
        if *value == UNCHANGED {
            return Err(format!("{label}: key {key:?} is new, so it has no sealed value to keep; give it a value"));
        }
        values_args
            .check(&format!("{label}: key {key:?}"), value.as_bytes())
            .map_err(|e| format!("{e}, or delete its line to remove the key"))?;
        gitseal::validate::data_key(&key).map_err(|m| format!("{label}: key {key:?}: {m}"))?;
        rule.binding(&key).map_err(|e| format!("{label}: {e}"))?;
        seal.push((key, value));
    }
    Ok(Plan { removed, sealed: seal })
}

/// The text typed after `key:` on its line (a trailing ` # comment` cut), for a value the
/// YAML parser read as something other than a string.
fn typed(edited: &str, key: &str) -> Option<Zeroizing<String>> {
    edited.lines().find_map(|line| {
        let rest = [format!("{key}:"), format!("\"{key}\":"), format!("'{key}':")]
            .iter()
            .find_map(|prefix| line.strip_prefix(prefix.as_str()))?;
        let rest = rest.split(" #").next().unwrap_or_default().trim();
        Some(Zeroizing::new(rest.to_owned()))
    })
}

/// A value as edited: a string, or `None` for a scalar YAML reads as something else (a
/// number, a boolean, null), whose text [`typed`] finds.
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
                Ok(Edited(None))
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
