//! `gitseal updatekeys`: after a repository rule gains or loses a recipient, re-seal its
//! files offline to the recipients it now lists, with an administrator's key that opens
//! the values (sops' `updatekeys`).
//!
//! ```text
//!  each file ──repository rule──▶ its recipients R (what seal and set seal it to)
//!  each value: keyIds already R? ── yes ──▶ left byte for byte
//!                 │ no
//!                 ▼
//!  opened with -i (plaintext in Zeroizing) ──▶ its binding, from its own payload, must be
//!  where the object says it belongs ──▶ sealed again to R for that binding
//!  ──SealedFile::save (scope rule, in place, read back and checked)──▶ file
//! ```
//!
//! A value the key cannot open fails its file, which is left as it was; the other files
//! proceed. Online, without a private key, `reseal` asks the controller instead.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use gitseal::{KeyId, KeyRing, Recipients, SealedSecret, open_value, seal_value};

use crate::io;
use crate::repository::Resolver;
use crate::sealed_file::{SealedFile, scope_rule};

/// What `updatekeys` did to one file.
enum Outcome {
    /// No SealedSecret in it.
    NoneSealed,
    /// Every value already sealed to exactly its recipients.
    Current,
    /// Values sealed again (or, in a dry run, that would be): how many.
    Rekeyed(usize),
}

/// Returns whether every file could be brought to its recipients.
pub fn updatekeys(paths: &[PathBuf], identity: &Path, dry_run: bool) -> Result<bool> {
    let ring = io::read_identity(identity)?;
    let mut files = Vec::new();
    for path in paths {
        io::collect_manifests(path, &mut files).with_context(|| format!("cannot read {}", path.display()))?;
    }
    let mut resolver = Resolver::default();
    let (mut values, mut rekeyed, mut current, mut failed) = (0, 0, 0, 0);
    for path in &files {
        match update_file(path, &ring, &mut resolver, dry_run) {
            Ok(Outcome::NoneSealed) => {}
            Ok(Outcome::Current) => current += 1,
            Ok(Outcome::Rekeyed(n)) => (values, rekeyed) = (values + n, rekeyed + 1),
            Err(e) => {
                eprintln!("gitseal: {e:#}");
                failed += 1;
            }
        }
    }
    let verb = if dry_run { "would re-seal" } else { "re-sealed" };
    let tail = if dry_run { " (dry run: nothing written)" } else { "" };
    eprintln!(
        "{verb} {values} value(s) in {rekeyed} file(s) to their recipients; {current} file(s) already current; {failed} file(s) failed{tail}"
    );
    Ok(failed == 0)
}

/// Brings one file's values to the recipients the repository gives it; writes it only
/// when a value changed, and never in a dry run.
fn update_file(path: &Path, ring: &KeyRing, resolver: &mut Resolver, dry_run: bool) -> Result<Outcome> {
    let mut file = SealedFile::load(path)?;
    if file.objects.is_empty() {
        return Ok(Outcome::NoneSealed);
    }
    let recipients = recipients_for(&file.label(), path, resolver)?;
    let mut count = 0;
    let labels: Vec<String> = file.objects.iter().map(|(_, object)| file.label_of(object)).collect();
    for ((_, object), label) in file.objects.iter_mut().zip(labels) {
        let keys = rekey(&label, object, ring, &recipients)?;
        if !keys.is_empty() {
            let verb = if dry_run { "would re-seal" } else { "re-sealed" };
            let ids: Vec<String> = recipients.ids().iter().map(KeyId::to_string).collect();
            eprintln!("{label}: {verb} {} to {}", keys.join(", "), ids.join(", "));
            count += keys.len();
        }
    }
    if count == 0 {
        return Ok(Outcome::Current);
    }
    if !dry_run {
        file.save()?;
    }
    Ok(Outcome::Rekeyed(count))
}

/// The recipients the repository gives `path`: its `.gitseal.yaml` rule, else the nearest
/// `.gitseal-recipients`, as `seal` and `set` would seal it and `verify` checks it.
fn recipients_for(label: &str, path: &Path, resolver: &mut Resolver) -> Result<Recipients> {
    let rule = resolver.rule_for(path)?.with_context(|| {
        format!(
            "{label}: no .gitseal.yaml rule or .gitseal-recipients gives it recipients (updatekeys seals each file to its repository's); file left unchanged"
        )
    })?;
    if rule.recipients.is_empty() {
        anyhow::bail!("{label}: {} gives no recipients; add some; file left unchanged", rule.source);
    }
    Ok(Recipients::new(rule.recipients)?)
}

/// Seals again, in `object`, every value not sealed to exactly `recipients`; returns their
/// keys. Each keeps the binding its payload holds, which must be the one the object gives
/// it: re-keying never moves or widens a value.
fn rekey(label: &str, object: &mut SealedSecret, ring: &KeyRing, recipients: &Recipients) -> Result<Vec<String>> {
    let rule = scope_rule(label, object, "updatekeys refuses to re-seal its values")?;
    let target: BTreeSet<String> = recipients.ids().iter().map(KeyId::to_string).collect();
    let spec = &mut object.spec;
    let mut keys = Vec::new();
    for (key, ciphertext) in &mut spec.encrypted_data {
        let recorded = spec.key_ids.get(key).cloned().unwrap_or_default();
        if recorded.iter().cloned().collect::<BTreeSet<_>>() == target && recorded.len() == target.len() {
            continue;
        }
        let fail = |e: &dyn std::fmt::Display| anyhow::anyhow!("{label}: key {key:?}: {e}; file left unchanged");
        let opened = open_value(ciphertext, ring, &KeyId::hints(&recorded)).map_err(|e| fail(&e))?;
        let expected = rule.binding(key).map_err(|e| fail(&e))?;
        if opened.binding != expected {
            return Err(fail(&gitseal::verify::moved(&opened.binding, &expected)));
        }
        let sealed = seal_value(&opened.value, &opened.binding, recipients).map_err(|e| fail(&e))?;
        *ciphertext = sealed.ciphertext;
        spec.key_ids.insert(key.clone(), sealed.key_ids.iter().map(KeyId::to_string).collect());
        keys.push(key.clone());
    }
    Ok(keys)
}
