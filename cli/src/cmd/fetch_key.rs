//! `gitseal fetch-key`: the cluster's public recipients, read from the ConfigMap the
//! controller publishes (readable by every authenticated user; no service proxy).

use std::io::IsTerminal as _;
use std::path::Path;

use anyhow::{Context, Result};

use crate::cli::ClusterArgs;
use crate::cluster::{self, RECIPIENTS_FILE};
use crate::io;

pub fn fetch_key(args: &ClusterArgs, write: Option<&Path>) -> Result<()> {
    let text = cluster::block_on(fetch(args)).inspect_err(|_| {
        if write.is_none() && !std::io::stdout().is_terminal() {
            eprintln!(
                "gitseal: note: if this was redirected to a file (> FILE), the shell emptied it before the fetch; gitseal fetch-key -w FILE leaves it as it was when a fetch fails"
            );
        }
    })?;
    io::emit(&text, write)
}

async fn fetch(args: &ClusterArgs) -> Result<String> {
    let cm = cluster::public_keys(cluster::client(args).await?, &args.controller_namespace).await?;
    let text = cm.data.and_then(|mut d| d.remove(RECIPIENTS_FILE)).unwrap_or_default();
    let recipients = gitseal::Recipients::parse_file(&text).context("the published recipients are malformed")?;
    if recipients.is_empty() {
        anyhow::bail!("the controller has published no key yet; try again in a few seconds");
    }
    Ok(text)
}
