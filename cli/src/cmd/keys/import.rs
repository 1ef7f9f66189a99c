//! `gitseal keys import`: restores a backup made by `gitseal keys export`. Every key the
//! cluster lacks (by key id, never by name) becomes a key Secret again; the controller,
//! running or started later, picks it up.
//!
//! ```text
//!  FILE ──decrypt_file(-i)──▶ KeyBackup ──┬─ id already in the ring ──▶ already present
//!                                         └─ missing ──▶ dated below the published key
//!                                                        (`publish`), create Secret (original
//!                                                        name if free, else the next
//!                                                        gitseal-key-<n>)
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use std::io::IsTerminal as _;

use gitseal::manifest::WipeOnDrop;
use gitseal::{ClusterKey, KeyBackup, KeyId, KeyStatus};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::{ListParams, PostParams};

use super::publish::{self, Placement};
use super::ring;
use crate::cli::ClusterArgs;
use crate::cluster::{self, FIELD_MANAGER, Grant, api_error, status_code};
use crate::io;

/// How many names to try for one key when others create key Secrets at the same time.
const ATTEMPTS: usize = 5;

pub fn import(identity: &Path, file: &str, expect: &[String], publish: bool, args: &ClusterArgs) -> Result<()> {
    let identities = io::read_identity(identity)?;
    let (label, bytes) = match file {
        "-" => ("<stdin>".to_owned(), io::read_value(None)?),
        path => (path.to_owned(), io::read_value(Some(Path::new(path)))?),
    };
    let plaintext = gitseal::decrypt_file(&bytes, &identities).with_context(|| label.clone())?;
    let text = std::str::from_utf8(&plaintext)
        .map_err(|_| anyhow!("{label}: not a gitseal key backup (the decrypted content is not text)"))?;
    let backup = KeyBackup::parse(text).with_context(|| format!("{label}: not a gitseal key backup"))?;
    if let Some(key) = backup.created_after(Timestamp::now()) {
        bail!(
            "{label}: key {} says it was created at {}, in the future; restoring it would make it the published key until that time. Refusing the whole backup: age does not say who made a file, so check where this one came from",
            key.id(),
            key.created()
        );
    }
    let may_prompt = file != "-" && std::io::stdin().is_terminal();
    let confirm = Confirm { expect: expect.to_vec(), may_prompt, publish };
    cluster::block_on(restore(&backup, &confirm, args))
}

/// How the operator confirms what a restore is about to create. age does not
/// authenticate the sender: anyone holding the administrator's public key can make a
/// backup that decrypts, so the keys are shown, and restored only once confirmed.
struct Confirm {
    /// `--expect-key`: the ids the operator expects to restore (scripts).
    expect: Vec<String>,
    /// Whether to ask on the terminal when `expect` is empty.
    may_prompt: bool,
    /// `--publish`: the newest restored key becomes the one new seals use.
    publish: bool,
}

impl Confirm {
    /// Ok when the operator confirmed restoring the keys `placed` (all from `backup`).
    fn check(&self, placed: &Placement, backup: &KeyBackup) -> Result<()> {
        let keys: Vec<&ClusterKey> = placed.keys.iter().collect();
        for key in &keys {
            crate::io::outln!(
                "to restore: key {} public key {} created {} ({}, was Secret {})",
                key.id(),
                key.recipient(),
                key.created(),
                key.status(),
                key.secret()
            )?;
        }
        crate::io::outln!("{}", placed.describe())?;
        if !self.expect.is_empty() {
            let expected: Vec<KeyId> = self
                .expect
                .iter()
                .map(|e| KeyId::parse(e.trim()).ok_or_else(|| anyhow!("--expect-key {e:?} is not a key id")))
                .collect::<Result<_>>()?;
            if let Some(e) = expected.iter().find(|e| !backup.keys().iter().any(|k| k.id().names(e))) {
                bail!("--expect-key {e}: the backup holds no such key; nothing imported");
            }
            if let Some(k) = keys.iter().find(|k| !expected.iter().any(|e| e.names(k.id()))) {
                bail!("key {} is in the backup but not expected (--expect-key); nothing imported", k.id());
            }
            return placed.check_asked();
        }
        if !self.may_prompt {
            bail!(
                "not restoring keys nobody confirmed: check the keys listed above, then pass --expect-key ID for each (or run the command on a terminal to confirm)"
            );
        }
        placed.check_asked()?;
        eprint!("Restore these {} key(s) into the cluster? Type yes to confirm: ", keys.len());
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer).context("reading the confirmation")?;
        if answer.trim() != "yes" {
            bail!("not confirmed; nothing imported");
        }
        Ok(())
    }
}

async fn restore(backup: &KeyBackup, confirm: &Confirm, args: &ClusterArgs) -> Result<()> {
    let namespace = &args.controller_namespace;
    let secrets: Api<Secret> = Api::namespaced(cluster::client(args).await?, namespace);
    let ring = ring::load(&secrets, namespace).await?;
    let present: BTreeMap<String, String> =
        ring.keys.iter().map(|k| (k.id().to_string(), k.secret().to_owned())).collect();
    let taken: BTreeSet<String> = secrets
        .list_metadata(&ListParams::default())
        .await
        .map_err(|e| {
            let doing = format!("cannot list the Secrets in namespace {namespace}");
            api_error(e, doing, "list on secrets there", Grant::KeyCustodian)
        })?
        .items
        .into_iter()
        .filter_map(|s| s.metadata.name)
        .collect();
    // Original names of the keys to restore, so a renamed key does not take the name of
    // one restored after it.
    let missing: Vec<&ClusterKey> = backup.keys().iter().filter(|k| !present.contains_key(k.id().as_str())).collect();
    let current = ring.keys.iter().find(|k| k.status() == KeyStatus::Published);
    let placed = publish::place(&missing, current, confirm.publish, Timestamp::now())?;
    if !missing.is_empty() {
        confirm.check(&placed, backup)?;
    }
    let mut names = Names { wanted: missing.iter().map(|k| k.secret().to_owned()).collect(), taken };

    let (mut imported, mut failed) = (0, 0);
    for (id, secret) in backup.keys().iter().filter_map(|k| Some((k.id(), present.get(k.id().as_str())?))) {
        crate::io::outln!("already present: key {id} ({namespace}/{secret})")?;
    }
    for key in &placed.keys {
        let id = key.id().to_string();
        match create(&secrets, key, namespace, &mut names).await {
            Ok(name) => {
                imported += 1;
                crate::io::outln!("imported: key {id} as {namespace}/{name} ({})", imported_state(key))?;
            }
            Err(e) => {
                failed += 1;
                eprintln!("gitseal: failed: key {id}: {e:#}");
            }
        }
    }
    let present = backup.keys().len() - imported - failed;
    crate::io::outln!("{imported} imported, {present} already present, {failed} failed")?;
    if failed > 0 {
        bail!(
            "{failed} of {} key(s) were not imported (see above); the others are in place. Fix the cause and run the same command again: keys already present are skipped",
            backup.keys().len()
        );
    }
    Ok(())
}

/// What the key will be in the cluster: retired stays retired; the controller decides
/// which of the others is published.
fn imported_state(key: &ClusterKey) -> &'static str {
    if key.status() == KeyStatus::Retired { "retired" } else { "in use" }
}

/// Secret names in use, and the original names of the keys being restored.
struct Names {
    taken: BTreeSet<String>,
    wanted: BTreeSet<String>,
}

impl Names {
    /// The key's original name when free, else `gitseal-key-<n>` with `n` above every key
    /// number in use or wanted.
    fn pick(&self, original: &str) -> String {
        if !self.taken.contains(original) {
            return original.to_owned();
        }
        let names = self.taken.iter().chain(&self.wanted).map(String::as_str);
        // A number with no successor leaves the original name; the create then says why.
        gitseal::crds::storage::next_key_name(names).unwrap_or_else(|_| original.to_owned())
    }
}

/// Creates the key Secret under the name [`Names::pick`] gives; returns that name.
async fn create(api: &Api<Secret>, key: &ClusterKey, namespace: &str, names: &mut Names) -> Result<String> {
    let params = PostParams { field_manager: Some(FIELD_MANAGER.into()), ..PostParams::default() };
    for _ in 0..ATTEMPTS {
        let name = names.pick(key.secret());
        match api.create(&params, &WipeOnDrop(gitseal::key_secrets::key_secret(key, &name))).await {
            Ok(created) => {
                drop(WipeOnDrop(created)); // the answer holds the private key too
                names.taken.insert(name.clone());
                return Ok(name);
            }
            // Taken meanwhile (e.g. the controller rotating): try the next name.
            Err(e) if status_code(&e) == Some(409) => {
                names.taken.insert(name);
            }
            Err(e) if status_code(&e) == Some(404) => {
                return Err(anyhow!(
                    "namespace {namespace} does not exist: create it first (kubectl create namespace {namespace}, or kubectl apply -f deploy/00-namespace.yaml) and run this again"
                ));
            }
            Err(e) => {
                let doing = format!("cannot create Secret {namespace}/{name}");
                return Err(api_error(e, doing, "create on secrets there", Grant::KeyCustodian));
            }
        }
    }
    bail!("every name tried was taken meanwhile; run the same command again")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn original_names_are_kept_when_free_and_never_stolen() {
        let set = |names: &[&str]| names.iter().map(|n| (*n).to_owned()).collect::<BTreeSet<String>>();
        let names = Names {
            taken: set(&["gitseal-key-1", "gitseal-key-7", "other-99", "gitseal-key-x"]),
            wanted: set(&["gitseal-key-1", "gitseal-key-9"]),
        };
        assert_eq!(names.pick("gitseal-key-9"), "gitseal-key-9");
        assert_eq!(names.pick("gitseal-key-1"), "gitseal-key-10");
        assert_eq!(names.pick("other-99"), "gitseal-key-10");
    }
}
