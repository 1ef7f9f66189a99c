//! `gitseal keys list`: the published keys (readable by everyone) and, for each, how many
//! SealedSecrets in the cluster only it can unseal.

use anyhow::Result;
use gitseal::SealedSecret;
use serde::Serialize;

use super::dependents::{self, Dependents};
use crate::cli::{ClusterArgs, ListFormat};
use crate::cluster;
use crate::io;
use gitseal::crds::storage::PublishedKey;

/// One row of the listing, and one object of `-o json`.
#[derive(Debug, PartialEq, Eq, Serialize)]
pub struct Row {
    pub id: String,
    pub recipient: String,
    pub state: String,
    pub created: String,
    pub secret: String,
    pub dependents: usize,
}

pub fn list(output: ListFormat, args: &ClusterArgs) -> Result<()> {
    let (keys, sealed) = cluster::block_on(async {
        let client = cluster::client(args).await?;
        let keys = cluster::published_keys(client.clone(), &args.controller_namespace).await?;
        Ok((keys, dependents::list_all(client).await?))
    })?;
    let (rows, deps) = rows(&keys, &sealed);
    if !deps.unrecorded.is_empty() {
        eprintln!(
            "gitseal: note: {} SealedSecret(s) have values with no recorded key ids and are not counted: {}",
            deps.unrecorded.len(),
            dependents::name_some(&deps.unrecorded, 5)
        );
    }
    let text = match output {
        ListFormat::Json => format!("{}\n", serde_json::to_string_pretty(&rows)?),
        ListFormat::Table => table(&rows),
    };
    io::emit(&text, None)
}

/// The rows, oldest key first. Pure.
pub fn rows(keys: &[PublishedKey], sealed: &[SealedSecret]) -> (Vec<Row>, Dependents) {
    let states = gitseal::crds::storage::states(keys);
    let deps = dependents::dependents(keys.iter().map(|k| k.id.as_str()).zip(states.iter().copied()), sealed);
    let rows = keys
        .iter()
        .zip(states)
        .map(|(k, state)| Row {
            id: k.id.clone(),
            recipient: k.recipient.clone(),
            state: state.to_string(),
            created: k.created.clone(),
            secret: k.secret.clone(),
            dependents: deps.of(&k.id).len(),
        })
        .collect();
    (rows, deps)
}

fn table(rows: &[Row]) -> String {
    let header = ["ID", "STATE", "CREATED", "DEPENDENTS", "SECRET", "RECIPIENT"];
    let cells: Vec<[String; 6]> = rows
        .iter()
        .map(|r| {
            [
                r.id.clone(),
                r.state.clone(),
                r.created.clone(),
                r.dependents.to_string(),
                r.secret.clone(),
                r.recipient.clone(),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &cells {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let line = |cells: &[&str]| {
        let mut out: String =
            cells.iter().zip(widths).map(|(c, w)| format!("{c:<w$}  ")).collect::<String>().trim_end().to_owned();
        out.push('\n');
        out
    };
    let mut out = line(&header);
    for row in &cells {
        out.push_str(&line(&row.iter().map(String::as_str).collect::<Vec<_>>()));
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use gitseal::{KeyStatus, SealedSecretSpec};

    fn key(id: &str, state: Option<KeyStatus>) -> PublishedKey {
        PublishedKey {
            id: id.into(),
            recipient: format!("age1{id}"),
            created: "2026-01-01T00:00:00Z".into(),
            secret: format!("gitseal-key-{}", &id[..1]),
            state,
        }
    }

    #[test]
    fn rows_count_dependents_and_fill_in_missing_states() {
        let keys = [key("1111111111111111", None), key("2222222222222222", None)];
        let mut spec = SealedSecretSpec::default();
        spec.encrypted_data.insert("a".into(), "x".into());
        spec.key_ids.insert("a".into(), vec!["1111111111111111".into()]);
        let mut s = SealedSecret::new("db", spec);
        s.metadata.namespace = Some("prod".into());
        let (rows, _) = rows(&keys, &[s]);
        assert_eq!(
            rows.iter().map(|r| (r.state.as_str(), r.dependents)).collect::<Vec<_>>(),
            [("active", 1), ("published", 0)]
        );
        let text = table(&rows);
        assert!(text.starts_with("ID  ") && text.lines().nth(2).unwrap().contains("published"), "{text}");
        let json = serde_json::to_value(&rows).unwrap();
        assert_eq!(json[0]["dependents"], 1);
        assert_eq!(json[1]["recipient"], "age12222222222222222");
    }

    #[test]
    fn published_states_win() {
        let keys =
            [key("1111111111111111", Some(KeyStatus::Published)), key("2222222222222222", Some(KeyStatus::Retired))];
        assert_eq!(gitseal::crds::storage::states(&keys), [KeyStatus::Published, KeyStatus::Retired]);
        assert_eq!(gitseal::crds::storage::published(&keys).map(|k| k.id.as_str()), Some("1111111111111111"));
        let retired_last = [key("1111111111111111", None), key("2222222222222222", Some(KeyStatus::Retired))];
        assert_eq!(gitseal::crds::storage::published(&retired_last).map(|k| k.id.as_str()), Some("1111111111111111"));
    }
}
