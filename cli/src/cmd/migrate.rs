//! `gitseal migrate`: the incumbent's (bitnami sealed-secrets) SealedSecrets rewritten as
//! gitseal's, in place, offline, with the incumbent's private keys from its users' backup.
//!
//! ```text
//!  --bitnami-keys (kubectl get secret -l sealedsecrets.bitnami.com/sealed-secrets-key -o yaml,
//!                  a Secret, or PEM) ──▶ RSA keys, in memory only
//!  each file ──SealedFile──▶ its bitnami.com SealedSecrets
//!     ──gitseal::incumbent::migrate (open with RSA, seal with age to the file's recipients)──▶
//!  the file rewritten atomically: all its objects migrated, or the file left as it was
//! ```
//!
//! Plaintext exists only inside `migrate`, in zeroizing buffers. A dry run does all the
//! work but writes nothing.

use std::path::{Path, PathBuf};

use age::x25519;

use anyhow::{Context, Result, bail};
use gitseal::incumbent::{self, IncumbentKeys};
use gitseal::manifest::{Document, display_name, objects, parse_documents};
use serde::Serialize;
use zeroize::Zeroizing;

use crate::cli::{MigrateArgs, Report};
use crate::io;
use crate::repository::{self, Resolver};
use crate::sealed_file::SealedFile;

/// What commands other than `migrate` say of one of the incumbent's SealedSecrets.
pub const MIGRATE_IT: &str = "a sealed-secrets (bitnami.com) SealedSecret, which gitseal does not unseal as it is; migrate it with `gitseal migrate --bitnami-keys KEYS FILE…` (docs/migrating-from-sealed-secrets.md)";

/// One SealedSecret migrated (or, in a dry run, that would be).
#[derive(Serialize)]
struct Migrated {
    file: String,
    /// 1-based.
    document: usize,
    /// 1-based item of a List document.
    #[serde(skip_serializing_if = "Option::is_none")]
    item: Option<usize>,
    object: String,
    scope: String,
    keys: Vec<String>,
}

/// A file left unchanged, and why.
#[derive(Serialize)]
struct Failed {
    file: String,
    message: String,
}

#[derive(Default, Serialize)]
#[serde(rename_all = "camelCase")]
struct Summary {
    dry_run: bool,
    files: usize,
    migrated: Vec<Migrated>,
    failed: Vec<Failed>,
}

/// Returns whether every file could be migrated.
pub fn migrate(args: &MigrateArgs) -> Result<bool> {
    let keys = read_keys(&args.bitnami_keys)?;
    let flags = repository::from_flags(&args.recipients.recipients, &args.recipients.recipients_files)?;
    let mut resolver = Resolver::default();
    let mut files = Vec::new();
    for path in &args.paths {
        io::collect_manifests(path, &mut files).with_context(|| format!("cannot read {}", path.display()))?;
    }
    let mut summary = Summary { dry_run: args.dry_run, files: files.len(), ..Summary::default() };
    let progress = io::Progress::new("migrating", files.len());
    for path in files {
        let label = path.display().to_string();
        match migrate_file(&path, args, &keys, &flags, &mut resolver) {
            Ok(done) => summary.migrated.extend(done),
            Err(e) => summary.failed.push(Failed { message: format!("{e:#}"), file: label }),
        }
        progress.advance(1);
    }
    progress.finish();
    report(&summary, args.output)?;
    Ok(summary.failed.is_empty())
}

/// Migrates every bitnami SealedSecret of one file, or none: the file is written only
/// when all of them migrated (and never in a dry run).
fn migrate_file(
    path: &Path,
    args: &MigrateArgs,
    keys: &IncumbentKeys,
    flags: &[x25519::Recipient],
    resolver: &mut Resolver,
) -> Result<Vec<Migrated>> {
    let mut file = SealedFile::load(path)?;
    if file.incumbent.is_empty() {
        return Ok(Vec::new());
    }
    let target = resolver.for_sealing(flags.to_vec(), Some(path))?;
    let namespace = args.namespace.as_deref().or(target.namespace.as_ref().map(|c| c.namespace.as_str()));
    let mut done = Vec::new();
    for (place, object) in std::mem::take(&mut file.incumbent) {
        let sealed = incumbent::migrate(&object, namespace, keys, &target.recipients, place.document + 1)?;
        done.push(Migrated {
            file: path.display().to_string(),
            document: place.document + 1,
            item: place.item.map(|i| i + 1),
            object: display_name(sealed.metadata.namespace.as_deref(), sealed.metadata.name.as_deref())
                .unwrap_or_default(),
            scope: sealed.spec.scope.to_string(),
            keys: sealed.spec.encrypted_data.keys().cloned().collect(),
        });
        file.objects.push((place, sealed));
    }
    if !args.dry_run {
        file.save()?;
    }
    Ok(done)
}

fn report(summary: &Summary, output: Report) -> Result<()> {
    if let Report::Json = output {
        crate::io::outln!("{}", serde_json::to_string_pretty(summary)?)?;
        return Ok(());
    }
    let verb = if summary.dry_run { "would migrate" } else { "migrated" };
    for m in &summary.migrated {
        let item = m.item.map(|i| format!(", item {i}")).unwrap_or_default();
        eprintln!(
            "{verb} {}: document {}{item}: {} ({}, keys: {})",
            m.file,
            m.document,
            m.object,
            m.scope,
            m.keys.join(", ")
        );
    }
    for f in &summary.failed {
        eprintln!("gitseal: {}: {}; file left unchanged", f.file, f.message);
    }
    let files: std::collections::BTreeSet<&str> = summary.migrated.iter().map(|m| m.file.as_str()).collect();
    eprintln!(
        "{verb} {} SealedSecrets in {} files; {} files had none; {} files failed",
        summary.migrated.len(),
        files.len(),
        summary.files - files.len() - summary.failed.len(),
        summary.failed.len()
    );
    Ok(())
}

/// The incumbent's private keys from each file: PEM, or Secrets (its backup is a List of
/// `kubernetes.io/tls` Secrets) whose `tls.key` holds one.
fn read_keys(files: &[PathBuf]) -> Result<IncumbentKeys> {
    let mut pem = Zeroizing::new(String::new());
    for file in files {
        let label = file.display().to_string();
        let input = io::read_input(&label)?;
        if input.text.trim_start().starts_with("-----BEGIN ") {
            pem.push_str(&input.text);
            pem.push('\n');
            continue;
        }
        let docs = parse_documents(&input.text).with_context(|| label.clone())?;
        let mut found = 0;
        for located in objects(&docs) {
            let Document::Secret(secret) = located.object else { continue };
            let who = secret.display_name().unwrap_or_default();
            let key = secret.data.get("tls.key").with_context(|| {
                format!("{label}: {} ({who}) has no tls.key: not a sealed-secrets key Secret", located.place())
            })?;
            let text = std::str::from_utf8(key)
                .map_err(|_| anyhow::anyhow!("{label}: {} ({who}): tls.key is not PEM text", located.place()))?;
            pem.push_str(text);
            pem.push('\n');
            found += 1;
        }
        if found == 0 {
            bail!(
                "{label}: no key Secret in it; back the keys up with `kubectl get secret -n NAMESPACE -l sealedsecrets.bitnami.com/sealed-secrets-key -o yaml`"
            );
        }
    }
    IncumbentKeys::from_pem(&pem).map_err(|e| anyhow::anyhow!("--bitnami-keys: {e}"))
}
