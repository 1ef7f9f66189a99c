//! `gitseal verify`: the CI check. Walks files, checks every SealedSecret's form and
//! flags every committed plaintext Secret, printing names and keys, never values.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use gitseal::KeyId;
use gitseal::manifest::{Document, display_name, objects, parse_documents};
use gitseal::verify::{Known, check_plain, check_sealed};
use serde::Serialize;

use crate::cli::Report;
use crate::io;
use crate::recipients::PerFile;

#[derive(Serialize)]
struct Finding {
    file: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    document: Option<usize>,
    /// 1-based item of a List document.
    #[serde(skip_serializing_if = "Option::is_none")]
    item: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    object: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<String>,
    message: String,
}

#[derive(Default, Serialize)]
#[serde(rename_all = "camelCase")]
struct Summary {
    files: usize,
    sealed_secrets: usize,
    problems: Vec<Finding>,
}

/// Returns whether everything checked out.
pub fn verify(paths: &[PathBuf], recipients_files: &[PathBuf], report: Report) -> Result<bool> {
    let mut rules = PerFile::new(recipients_files)?;
    let mut files = Vec::new();
    for path in paths {
        io::collect_manifests(path, &mut files).with_context(|| format!("cannot read {}", path.display()))?;
    }
    let mut summary = Summary::default();
    for file in &files {
        summary.files += 1;
        let rule = rules.get(file)?;
        let ids: Vec<KeyId> = rule.map(|r| r.recipients.iter().map(KeyId::of).collect()).unwrap_or_default();
        let known = rule.map(|r| Known { ids: &ids, exact: r.exact, source: &r.source });
        check_file(file, known.as_ref(), &mut summary);
    }
    match report {
        Report::Json => println!("{}", serde_json::to_string_pretty(&summary)?),
        Report::Human => {
            for f in &summary.problems {
                let mut place = f.file.clone();
                if let Some(d) = f.document {
                    place.push_str(&format!(": document {d}"));
                }
                if let Some(i) = f.item {
                    place.push_str(&format!(", item {i}"));
                }
                if let Some(o) = &f.object {
                    place.push_str(&format!(" ({o})"));
                }
                if let Some(k) = &f.key {
                    place.push_str(&format!(", key {k:?}"));
                }
                println!("{place}: {}", f.message);
            }
            println!(
                "checked {} file(s), {} SealedSecret(s): {} problem(s)",
                summary.files,
                summary.sealed_secrets,
                summary.problems.len()
            );
        }
    }
    Ok(summary.problems.is_empty())
}

fn check_file(file: &Path, known: Option<&Known<'_>>, summary: &mut Summary) {
    let label = file.display().to_string();
    let finding =
        |document, item, object, key, message| Finding { file: label.clone(), document, item, object, key, message };
    let text = match io::read_input(&label) {
        Ok(input) => input.text,
        Err(e) => return summary.problems.push(finding(None, None, None, None, format!("{e:#}"))),
    };
    let docs = match parse_documents(&text) {
        Ok(docs) => docs,
        // Files of other tools (Helm templates, JSON that is not YAML-compatible…) may not
        // parse; report them, since a Secret hidden in one would otherwise go unseen.
        Err(e) => return summary.problems.push(finding(None, None, None, None, format!("cannot check: {e}"))),
    };
    // Inside Lists too: `kubectl get secret -o yaml` prints several Secrets as one List.
    for located in objects(&docs) {
        let (object, problems) = match located.object {
            Document::Sealed(s) => {
                summary.sealed_secrets += 1;
                (display_name(s.metadata.namespace.as_deref(), s.metadata.name.as_deref()), check_sealed(s, known))
            }
            Document::Secret(s) => (s.display_name(), check_plain(s)),
            Document::Other { .. } | Document::List { .. } => continue,
        };
        let (document, item) = (Some(located.document + 1), located.item.map(|i| i + 1));
        for p in problems {
            summary.problems.push(finding(document, item, object.clone(), p.key, p.message));
        }
    }
}
