//! `gitseal keys export`: the whole key ring as a binary age file encrypted to an
//! administrator's key. Plaintext keys exist only in memory, zeroized after use.
//!
//! ```text
//!  key Secrets ──ring::load──▶ KeyBackup ──render──▶ identity file ──encrypt_file(--to, -R)──▶ -o FILE (0600) | stdout
//! ```

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use gitseal::{KeyBackup, Recipients};
use k8s_openapi::api::core::v1::Secret;
use kube::Api;

use super::ring;
use crate::cli::ClusterArgs;
use crate::{cluster, io};

/// Where the backup goes.
pub struct Destination<'a> {
    pub output: Option<&'a Path>,
    pub force: bool,
}

pub fn export(to: &[String], recipients_files: &[PathBuf], dest: Destination<'_>, args: &ClusterArgs) -> Result<()> {
    let recipients = recipients(to, recipients_files)?;
    // Refuse a bad destination before reading any private key.
    match dest.output {
        Some(path) if !dest.force && path.exists() => {
            bail!("{} already exists; pass --force to replace it", path.display())
        }
        None if std::io::stdout().is_terminal() => {
            bail!("refusing to write a binary backup to a terminal: pass -o FILE or redirect stdout (> ring.age)")
        }
        _ => {}
    }
    let namespace = &args.controller_namespace;
    let ring = cluster::block_on(async {
        let secrets: Api<Secret> = Api::namespaced(cluster::client(args).await?, namespace);
        ring::load(&secrets, namespace).await
    })?;
    for name in &ring.skipped {
        eprintln!(
            "gitseal: warning: Secret {namespace}/{name} is labelled as a key but holds none gitseal can read; it is not in the backup"
        );
    }
    if ring.keys.is_empty() {
        bail!("no keys in namespace {namespace}: nothing to back up (is --controller-namespace right?)");
    }
    if let Some((id, _)) = recipients.iter().find(|(id, _)| ring.keys.iter().any(|k| k.id() == id)) {
        bail!(
            "--to {id} is one of the cluster's own keys: a backup encrypted to it is lost with the cluster; encrypt to an administrator's key kept elsewhere (gitseal keygen -w admin.txt)"
        );
    }
    let backup = KeyBackup::new(ring.keys)?;
    let file = gitseal::encrypt_file(backup.render().as_bytes(), &recipients)?;
    let shown = match dest.output {
        Some(path) => {
            io::write_private(path, &file, dest.force)?;
            path.display().to_string()
        }
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(&file).and_then(|()| out.flush()).context("cannot write the backup to stdout")?;
            "stdout".to_owned()
        }
    };
    let ids: Vec<String> = backup.keys().iter().map(|k| format!("{} ({})", k.id(), k.status())).collect();
    let to: Vec<String> = recipients.ids().iter().map(ToString::to_string).collect();
    eprintln!(
        "exported {} key(s) from namespace {namespace} to {shown}, encrypted to key id(s) {}: {}",
        ids.len(),
        to.join(", "),
        ids.join(", ")
    );
    eprintln!("restore with: gitseal keys import -i ADMIN_IDENTITY_FILE BACKUP_FILE");
    Ok(())
}

/// The administrators' recipients: `--to` and `-R`, never a default (above all not the
/// repository's `.gitseal-recipients`, which names the cluster itself).
fn recipients(to: &[String], files: &[PathBuf]) -> Result<Recipients> {
    let list = crate::repository::from_flags(to, files)?;
    if list.is_empty() {
        bail!(
            "say whom to encrypt the backup to: --to age1… (an administrator's key, e.g. from gitseal keygen -w admin.txt) or -R FILE"
        );
    }
    Ok(Recipients::new(list)?)
}
