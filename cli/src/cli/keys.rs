//! What the user can type to manage the cluster's keys: `gitseal rotate` and `gitseal keys …`.

use std::path::PathBuf;

use clap::{ArgGroup, Args, Subcommand, ValueEnum};

use super::ClusterArgs;

#[derive(Debug, Args)]
pub struct RotateArgs {
    /// Why the key is rotated, recorded in the KeyRotation for the audit trail.
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
    /// Seconds to wait for gitseal-controller to create the key (0: only file the request).
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub wait: u64,
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List the cluster's keys: id, state, creation time, and how many SealedSecrets depend on each alone.
    #[command(
        after_help = "States: published (new seals use it), active (still unseals), retired (never unseals).\nDEPENDENTS counts the SealedSecrets in the whole cluster that only this key can unseal.\n\nExamples:\n  gitseal keys list\n  gitseal keys list -o json | jq -r '.[] | select(.dependents == 0) | .id'"
    )]
    List {
        #[arg(short, long, value_enum, default_value_t = ListFormat::Table)]
        output: ListFormat,
        #[command(flatten)]
        cluster: ClusterArgs,
    },
    /// Retire a key: it never unseals again. Refused while SealedSecrets depend on it alone.
    #[command(
        after_help = "Re-seal what still depends on the key first (gitseal reseal PATH…, then apply).\nRetiring sets the annotation gitseal.dev/state=retired on the key's Secret; the key\nitself stays there, so removing the annotation brings it back.\n\nExamples:\n  gitseal keys retire 3f1c2a9b            # a unique prefix of 6 or more hex digits\n  gitseal keys retire 3f1c2a9b7d4e5f60 --force"
    )]
    Retire {
        /// Key id (32 hex digits) or a unique prefix of at least 6.
        id: String,
        /// Retire even the published key, or a key SealedSecrets still depend on alone.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        cluster: ClusterArgs,
    },
    /// Back up every key (private keys too) as an age file encrypted to an administrator's key.
    #[command(group(ArgGroup::new("admins").required(true).multiple(true).args(["to", "recipients_files"])))]
    #[command(
        after_help = "Needs read access to the Secrets of the controller's namespace. The backup is a binary age\nfile; decrypted (age -d -i admin.txt ring.age), it is an age identity file that age and\n`gitseal unseal -i` accept. Restore with `gitseal keys import`.\n\nExamples:\n  gitseal keygen -w admin.txt                 # once; keep it offline\n  gitseal keys export --to age1… -w ring.age\n  gitseal keys export -R admins.txt > ring.age"
    )]
    Export {
        /// Encrypt to this age recipient (age1…); repeatable.
        #[arg(long = "to", value_name = "RECIPIENT")]
        to: Vec<String>,
        /// Encrypt to the recipients in this age recipients file; repeatable.
        #[arg(short = 'R', long = "recipients-file", value_name = "FILE")]
        recipients_files: Vec<PathBuf>,
        /// Write the backup here (mode 0600, atomically); without it, to stdout unless a terminal.
        #[arg(short = 'w', long = "output-file", value_name = "FILE")]
        output: Option<PathBuf>,
        /// Replace FILE if it exists.
        #[arg(long, requires = "output")]
        force: bool,
        #[command(flatten)]
        cluster: ClusterArgs,
    },
    /// Restore keys from a backup into the cluster: every key it lacks becomes a key Secret again.
    #[command(
        after_help = "Keys the cluster already holds (same key id) are left alone, so running it twice is safe.\nWorks before or after gitseal-controller starts; it picks the keys up live.\nRestored keys unseal, but new seals keep using the cluster's published key unless --publish says otherwise.\n\nExamples:\n  gitseal keys import -i admin.txt ring.age\n  gitseal keys import -i admin.txt ring.age --publish  # ring lost: seal to the newest restored key\n  gitseal keys import -i admin.txt ring.age --context new-cluster"
    )]
    Import {
        /// Identity file of the administrator the backup was encrypted to.
        #[arg(short, long, value_name = "IDENTITY_FILE")]
        identity: PathBuf,
        /// The backup made by `gitseal keys export`, or - for stdin.
        #[arg(value_name = "FILE")]
        file: String,
        /// Key id the backup is expected to restore (the full 32-digit id); repeat for each.
        /// Without it, the keys to restore are shown and confirmed on the terminal. Anyone
        /// with your public key can make a backup that decrypts: check the ids against your
        /// records.
        #[arg(long = "expect-key", value_name = "KEY_ID", value_parser = full_key_id)]
        expect_key: Vec<String>,
        /// Make the newest restored key the one new seals use. Without it, restored keys
        /// only unseal: the cluster's published key stays (or, when it has none, nothing
        /// is restored).
        #[arg(long)]
        publish: bool,
        #[command(flatten)]
        cluster: ClusterArgs,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ListFormat {
    Table,
    Json,
}

/// `--expect-key`: a full 128-bit key id. A 64-bit prefix could be matched by a key made
/// for the purpose (~2^64 work), and the id is what the operator vouches for.
fn full_key_id(s: &str) -> Result<String, String> {
    let id = s.trim().to_ascii_lowercase();
    match gitseal::KeyId::parse(&id) {
        Some(k) if !k.is_legacy() => Ok(id),
        _ => Err(format!(
            "not a full key id: {} hex digits are needed (gitseal keys list shows them)",
            gitseal::KeyId::LEN
        )),
    }
}
