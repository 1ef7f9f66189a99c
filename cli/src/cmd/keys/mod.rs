//! `gitseal keys …`: the cluster's key ring seen from outside — list it, retire a key,
//! back it up and restore it. All of it talks to the Kubernetes API only, so it works
//! whether or not gitseal-controller runs.

mod dependents;
mod export;
mod import;
mod list;
mod publish;
mod retire;
mod ring;

use anyhow::Result;

use crate::cli::KeysCommand;

pub fn run(command: KeysCommand) -> Result<()> {
    match command {
        KeysCommand::List { output, cluster } => list::list(output, &cluster),
        KeysCommand::Retire { id, force, cluster } => retire::retire(&id, force, &cluster),
        KeysCommand::Export { to, recipients_files, output, force, cluster } => {
            export::export(&to, &recipients_files, export::Destination { output: output.as_deref(), force }, &cluster)
        }
        KeysCommand::Import { identity, file, expect_key, publish, cluster } => {
            import::import(&identity, &file, &expect_key, publish, &cluster)
        }
    }
}
