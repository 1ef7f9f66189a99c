//! What a rewrite of a SealedSecret file must hold before it replaces the file: the one
//! scope rule for every changed value, and the written text read back to be exactly what
//! was meant.
//!
//! ```text
//!  objects as read ──check_scopes──▶ each new or changed value bound as the values as
//!  objects now                        read were (gitseal::ScopeRule)
//!  written text ──check_written──▶ parses to as many documents; each SealedSecret equal
//!                                   to the one meant, at its place; every other document
//!                                   byte for byte as read
//! ```

use std::collections::BTreeSet;

use anyhow::{Result, bail};
use gitseal::SealedSecret;
use gitseal::documents::document_spans;
use gitseal::manifest::{Document, OutputFormat, objects, parse_documents};

use super::{Place, SealedFile, scope_rule};

/// What every refusal here ends with.
const UNCHANGED: &str = "file left unchanged";

impl SealedFile {
    /// Holds every changed object to the scope rule, whichever command changed it: each
    /// new or changed value has the binding the object's values as read were sealed for,
    /// and the object as written agrees with its own values (a migrated one included).
    pub(super) fn check_scopes(&self) -> Result<()> {
        let label = self.label();
        for (i, (_, now)) in self.objects.iter().enumerate() {
            let before = self.original.get(i);
            if before == Some(now) {
                continue;
            }
            scope_rule(&label, now, UNCHANGED)?;
            let Some(before) = before else { continue };
            let rule = scope_rule(&label, before, UNCHANGED)?;
            for (key, value) in &now.spec.encrypted_data {
                if before.spec.encrypted_data.get(key) != Some(value) {
                    rule.check(key, value).map_err(|e| anyhow::anyhow!("{label}: {e}; {UNCHANGED}"))?;
                }
            }
        }
        Ok(())
    }

    /// Checks `written`, the new file's text as read back, against what was meant: every
    /// SealedSecret at its place with every value the intended one, and (YAML) every
    /// document that held no changed object byte for byte as read.
    pub(super) fn check_written(&self, written: &str) -> Result<()> {
        let label = self.label();
        let docs = parse_documents(written)
            .map_err(|e| anyhow::anyhow!("{label}: the rewritten file would not parse ({e}); {UNCHANGED}"))?;
        if docs.len() != self.documents {
            bail!("{label}: rewriting would change the number of documents; {UNCHANGED}");
        }
        let found: Vec<(Place, &SealedSecret)> = objects(&docs)
            .into_iter()
            .filter_map(|o| match o.object {
                Document::Sealed(s) => Some((Place { document: o.document, item: o.item }, &**s)),
                _ => None,
            })
            .collect();
        let mut meant: Vec<(Place, &SealedSecret)> = self.objects.iter().map(|(p, o)| (*p, o)).collect();
        meant.sort_by_key(|(place, _)| *place);
        if found.len() != meant.len() {
            bail!(
                "{label}: the rewritten file would hold {} SealedSecrets, not {}; {UNCHANGED}",
                found.len(),
                meant.len()
            );
        }
        for ((at, written), (place, object)) in found.iter().zip(&meant) {
            if at != place || written != object {
                bail!("{label}: document {}: {}; {UNCHANGED}", place.document + 1, difference(written, object));
            }
        }
        if self.format == OutputFormat::Yaml {
            self.check_untouched(written)?;
        }
        Ok(())
    }

    /// Every document that held no changed object is byte for byte as read.
    fn check_untouched(&self, written: &str) -> Result<()> {
        let mut changed = BTreeSet::new();
        for (i, (place, now)) in self.objects.iter().enumerate() {
            if self.original.get(i) != Some(now) {
                changed.insert(place.document);
            }
        }
        let (before, after) = (document_spans(&self.text), document_spans(written));
        for (document, (a, b)) in before.into_iter().zip(after).enumerate() {
            if !changed.contains(&document) && self.text[a] != written[b] {
                bail!(
                    "{}: document {} would change, though nothing in it was to; {UNCHANGED}",
                    self.label(),
                    document + 1
                );
            }
        }
        Ok(())
    }
}

/// What differs between a SealedSecret as it would be written and as meant: the first
/// sealed value (by key, never its content), else the object.
fn difference(written: &SealedSecret, meant: &SealedSecret) -> String {
    let keys: BTreeSet<&String> = written.spec.encrypted_data.keys().chain(meant.spec.encrypted_data.keys()).collect();
    match keys.into_iter().find(|k| written.spec.encrypted_data.get(*k) != meant.spec.encrypted_data.get(*k)) {
        Some(key) => format!("key {key:?}: the value written would not be the new one"),
        None => "the SealedSecret written would differ from the one meant".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use gitseal::manifest::render;
    use gitseal::{PlainSecret, Recipients, Scope, generate_identity, seal_secret};

    use super::*;
    use crate::io;

    #[test]
    fn a_rewrite_that_missed_the_value_or_touched_another_document_is_refused() {
        let recipients = Recipients::new([generate_identity().to_public()]).unwrap();
        let mut secret = PlainSecret { namespace: Some("prod".into()), name: Some("db".into()), ..Default::default() };
        secret.data.insert("a".into(), b"1".to_vec().into());
        secret.data.insert("b".into(), b"2".to_vec().into());
        let sealed = seal_secret(&secret, Scope::NamespaceWide, None, &recipients, 2).unwrap();
        let text = format!(
            "kind: ConfigMap\napiVersion: v1\nmetadata: {{name: c}}\n---\n{}",
            render(&[sealed], OutputFormat::Yaml).unwrap()
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.yaml");
        std::fs::write(&path, &text).unwrap();
        let mut file = SealedFile::load(&path).unwrap();
        let other = file.objects[0].1.spec.encrypted_data["b"].clone();
        file.objects[0].1.spec.encrypted_data.insert("a".into(), other);
        // What the old text replacement produced when it changed a copy: the value as it was.
        let err = file.check_written(&text).unwrap_err().to_string();
        assert!(err.contains("document 2: key \"a\": the value written would not be the new one"), "{err}");
        let good = file.in_place().unwrap();
        file.check_written(&good).unwrap();
        let touched = good.replacen("name: c", "name: d", 1);
        let err = file.check_written(&touched).unwrap_err().to_string();
        assert!(err.contains("document 1 would change"), "{err}");
        // And save refuses such a text before the rename: the file stays as it was.
        let err = io::write_atomic_checked(&path, touched.as_bytes(), None, |w| file.check_written(w)).unwrap_err();
        assert!(err.to_string().contains("file left unchanged"));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    }
}
