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
    Ok(named_for(&text, cluster::context().unwrap_or("cluster")))
}

/// The published recipients, each named for the context it was fetched from: a `# prod`
/// line opens each comment block (what verify, inspect and unseal show beside an id),
/// and the file stays one that `age -R` reads.
fn named_for(text: &str, context: &str) -> String {
    let mut out = String::new();
    let mut in_comment = false;
    for line in text.lines() {
        let comment = line.trim_start().starts_with('#');
        if !in_comment && (comment || line.trim_start().starts_with("age1")) {
            out.push_str(&format!("# {context}\n"));
        }
        in_comment = comment;
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::named_for;

    #[test]
    fn each_published_key_is_named_for_the_context_it_came_from() {
        let [a, b] = [0; 2].map(|_| gitseal::generate_identity().to_public().to_string());
        let published = format!("# gitseal key 1 created then\n{a}\n# gitseal key 2 created now\n{b}\n");
        let named = gitseal::Recipients::parse_named_file(&named_for(&published, "prod")).unwrap();
        let names: Vec<(String, Option<String>)> = named.into_iter().map(|(r, n)| (r.to_string(), n)).collect();
        assert_eq!(names, [(a, Some("prod".to_owned())), (b, Some("prod".to_owned()))]);
    }
}
