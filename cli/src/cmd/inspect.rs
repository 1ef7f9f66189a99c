//! `gitseal inspect`: what each sealed value says about itself, without any private key:
//! where it may be opened (its scope stanza), its format, and the keys it is sealed to.

use std::path::PathBuf;

use anyhow::{Context, Result};
use gitseal::manifest::{Document, display_name, objects, parse_documents};
use gitseal::{KeyId, visible_binding};
use serde::Serialize;

use crate::cli::{ClusterArgs, Report};
use crate::io;
use crate::repository::{PerFile, Rule};

/// One sealed value, one row.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Row {
    file: String,
    object: String,
    key: String,
    /// Where the value may be opened, as its scope stanza says (format 2), else unknown
    /// without the key.
    scope: String,
    format: u8,
    key_ids: Vec<String>,
    /// Which of them the file's repository rule (or -R) lists.
    known: Vec<String>,
    /// Names the repository gives those keys (`prod`, `break-glass`), by key id.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    names: std::collections::BTreeMap<String, String>,
    /// Where the known keys come from.
    #[serde(skip_serializing_if = "Option::is_none")]
    known_from: Option<String>,
    /// With --cluster: the key ids that are the cluster's keys, with their state.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    cluster_keys: Vec<String>,
}

pub fn inspect(
    paths: &[PathBuf],
    recipients_files: &[PathBuf],
    cluster: Option<&ClusterArgs>,
    report: Report,
) -> Result<()> {
    let mut rules = PerFile::new(recipients_files)?;
    let published = match cluster {
        None => Vec::new(),
        Some(args) => crate::cluster::block_on(async {
            crate::cluster::published_keys(crate::cluster::client(args).await?, &args.controller_namespace).await
        })?,
    };
    let states = gitseal::crds::storage::states(&published);
    let mut files = Vec::new();
    for path in paths {
        io::collect_manifests(path, &mut files).with_context(|| format!("cannot read {}", path.display()))?;
    }
    let mut rows = Vec::new();
    for file in &files {
        let label = file.display().to_string();
        let input = io::read_input(&label)?;
        let Ok(docs) = parse_documents(&input.text) else { continue };
        let rule = rules.get(file)?;
        let known: Vec<KeyId> = rule.map(Rule::ids).unwrap_or_default();
        for located in objects(&docs) {
            let Document::Sealed(s) = located.object else { continue };
            let object = display_name(s.metadata.namespace.as_deref(), s.metadata.name.as_deref()).unwrap_or_default();
            for (key, value) in &s.spec.encrypted_data {
                let ids = s.spec.key_ids.get(key).cloned().unwrap_or_default();
                let (scope, format) = match visible_binding(value) {
                    Ok(Some(binding)) => (binding.to_string(), 2),
                    Ok(None) => ("sealed inside (format 1: only a key holder can tell)".to_owned(), 1),
                    Err(e) => (format!("unreadable: {e}"), 0),
                };
                let is_known = |id: &String| KeyId::parse(id).is_some_and(|id| known.iter().any(|k| k.names(&id)));
                let cluster_keys = ids
                    .iter()
                    .filter_map(|id| {
                        let id = KeyId::parse(id)?;
                        let at = published.iter().position(|k| KeyId::parse(&k.id).is_some_and(|k| k.names(&id)))?;
                        Some(format!("{id} ({})", states[at]))
                    })
                    .collect();
                rows.push(Row {
                    file: label.clone(),
                    object: object.clone(),
                    key: key.clone(),
                    scope,
                    format,
                    known: ids.iter().filter(|id| is_known(id)).cloned().collect(),
                    names: rule
                        .map(|r| ids.iter().filter_map(|id| Some((id.clone(), r.name_of(id)?.to_owned()))).collect())
                        .unwrap_or_default(),
                    key_ids: ids,
                    known_from: rule.map(|r| r.source.clone()),
                    cluster_keys,
                });
            }
        }
    }
    let text = match report {
        Report::Json => format!("{}\n", serde_json::to_string_pretty(&rows)?),
        Report::Human => rows
            .iter()
            .map(|r| {
                let ids: Vec<String> = r
                    .key_ids
                    .iter()
                    .map(|id| {
                        let shown = r.names.get(id).map_or_else(|| id.clone(), |name| format!("{id} ({name})"));
                        if r.known.contains(id) { format!("{shown}*") } else { shown }
                    })
                    .collect();
                let cluster = if r.cluster_keys.is_empty() {
                    String::new()
                } else {
                    format!("\tcluster: {}", r.cluster_keys.join(", "))
                };
                format!(
                    "{}\t{}\t{}\tformat {}\t{}\t{}{cluster}\n",
                    r.file,
                    r.object,
                    r.key,
                    r.format,
                    r.scope,
                    ids.join(" ")
                )
            })
            .collect(),
    };
    io::emit(&text, None)
}
