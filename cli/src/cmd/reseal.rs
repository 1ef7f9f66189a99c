//! `gitseal reseal`: re-encrypt SealedSecret files to the cluster's published key.
//!
//! ```text
//!  files ──values not yet on the published key──▶ ResealRequest (batches, caller's credentials)
//!                                                  └─ controller answers in status
//!  answers ──▶ each file rewritten atomically (all its values, or the file is left alone)
//! ```
//!
//! Only the controller holds private keys, so it does the re-encryption; the request
//! carries ciphertexts and public keys only, and the scope of each result comes from the
//! value's sealed payload. Earlier non-cluster recipients (a break-glass key) are kept
//! when their public key is offered, from `-R` files or the repository's
//! `.gitseal-recipients`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use gitseal::crds::{ResealItem, ResealRequest, ResealRequestSpec, ResealResult};

use kube::api::{Api, DeleteParams, PostParams, Preconditions};
use kube::{Client, ResourceExt};

use crate::cli::ClusterArgs;
use crate::cluster::{self, Grant, api_error};
use crate::io;
use crate::repository::PerFile;
use crate::sealed_file::SealedFile;

mod answer;

/// How long to wait for the controller's answer to one request.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(60);

/// One file to rewrite: its SealedSecrets and where each value's answer lands.
struct Job {
    file: SealedFile,
    /// (object index, data key, index into the flat list of requested values)
    slots: Vec<(usize, String, usize)>,
}

pub fn reseal(paths: &[PathBuf], recipients_files: &[PathBuf], cluster_args: &ClusterArgs) -> Result<bool> {
    cluster::block_on(async {
        let client = cluster::client(cluster_args).await?;
        let ns = &cluster_args.controller_namespace;
        let keys = cluster::published_keys(client.clone(), ns).await?;
        let published = gitseal::crds::storage::published(&keys).context("the controller publishes no key yet")?;
        let cluster_ids: BTreeSet<&str> = keys.iter().map(|k| k.id.as_str()).collect();
        let mut files = Vec::new();
        for path in paths {
            io::collect_manifests(path, &mut files).with_context(|| format!("cannot read {}", path.display()))?;
        }
        let offered = offered_recipients(recipients_files, &files)?;
        let (mut jobs, mut items, mut failures, mut unchanged) = (Vec::new(), Vec::new(), 0usize, 0usize);
        for file in files {
            match plan(&file, &published.id, &cluster_ids, &mut items) {
                Ok(Some(job)) => jobs.push(job),
                Ok(None) => unchanged += 1,
                Err(e) => {
                    eprintln!("gitseal: {e:#}");
                    failures += 1;
                }
            }
        }
        let answers = request_all(client, ns, &offered, items, ANSWER_TIMEOUT).await?;
        answer::check_all(&jobs, &answers, &answer::Expected::new(&published.id, &offered)?)?;
        let mut resealed = 0;
        for job in jobs {
            match write(job, &answers) {
                Ok(n) => resealed += n,
                Err(e) => {
                    eprintln!("gitseal: {e:#}");
                    failures += 1;
                }
            }
        }
        eprintln!(
            "resealed {resealed} values to key {}; {unchanged} files already up to date; {failures} files failed",
            published.id
        );
        Ok(failures == 0)
    })
}

/// The public keys offered for keeping earlier recipients: the `-R` files, else the
/// repository file of each file being re-sealed. Offering more is safe: a value keeps
/// only recipients it already names.
fn offered_recipients(flags: &[PathBuf], files: &[PathBuf]) -> Result<Vec<String>> {
    let mut per_file = PerFile::new(flags)?;
    let mut out = BTreeSet::new();
    for file in files {
        if let Some(rule) = per_file.get(file)? {
            out.extend(rule.recipients.iter().map(ToString::to_string));
        }
    }
    Ok(out.into_iter().collect())
}

/// Plans one file: `None` when it holds no SealedSecret or all its values are already
/// sealed to the published key and to no other cluster key.
fn plan(
    path: &Path,
    published: &str,
    cluster_ids: &BTreeSet<&str>,
    items: &mut Vec<ResealItem>,
) -> Result<Option<Job>> {
    let file = SealedFile::load(path)?;
    if file.objects.is_empty() {
        return Ok(None);
    }
    let current = |ids: &[String]| {
        ids.iter().any(|id| id == published)
            && ids.iter().all(|id| id == published || !cluster_ids.contains(id.as_str()))
    };
    // A value re-sealed keeps the binding it had; a file whose spec.scope no longer agrees
    // with its values is not sent at all (and the save holds each answer to the same rule).
    for (_, object) in &file.objects {
        crate::sealed_file::scope_rule(&file.label(), object, "reseal refuses to rewrite the file")?;
    }
    let mut slots = Vec::new();
    for (o, (_, object)) in file.objects.iter().enumerate() {
        for (key, ciphertext) in &object.spec.encrypted_data {
            let ids = object.spec.key_ids.get(key).cloned().unwrap_or_default();
            if !current(&ids) {
                answer::asked_binding(object, key)?;
                slots.push((o, key.clone(), items.len()));
                items.push(ResealItem { ciphertext: ciphertext.clone(), key_ids: ids });
            }
        }
    }
    if slots.is_empty() {
        return Ok(None);
    }
    Ok(Some(Job { file, slots }))
}

/// Sends the values in batches and collects the answers in order.
async fn request_all(
    client: Client,
    ns: &str,
    offered: &[String],
    items: Vec<ResealItem>,
    timeout: Duration,
) -> Result<Vec<ResealResult>> {
    let api: Api<ResealRequest> = Api::namespaced(client, ns);
    let progress = io::Progress::new("resealing", items.len());
    let mut answers = Vec::with_capacity(items.len());
    for batch in items.chunks(gitseal::crds::bounds::RESEAL_BATCH) {
        let mut request =
            ResealRequest::new("", ResealRequestSpec { recipients: offered.to_vec(), values: batch.to_vec() });
        request.metadata.name = None;
        request.metadata.generate_name = Some("reseal-".into());
        let pp = PostParams { field_manager: Some(cluster::FIELD_MANAGER.into()), ..PostParams::default() };
        let created = api.create(&pp, &request).await.map_err(|e| {
            let doing = format!("cannot create a ResealRequest in namespace {ns}");
            api_error(e, doing, "create, get and delete on resealrequests.gitseal.dev there", Grant::Resealer)
        })?;
        let name = created.name_any();
        // Only this object's answer: a same-named one is someone else's request.
        let uid = created.metadata.uid.clone().with_context(|| format!("ResealRequest {ns}/{name} has no uid"))?;
        let ours = DeleteParams {
            preconditions: Some(Preconditions { uid: Some(uid.clone()), resource_version: None }),
            ..DeleteParams::default()
        };
        let started = Instant::now();
        let status = loop {
            let current = api.get_opt(&name).await.with_context(|| format!("cannot read ResealRequest {name}"))?;
            let current = answer::same_request(current, ns, &name, &uid)?;
            if let Some(status) = current.status.filter(|s| !s.conditions.is_empty()) {
                break status;
            }
            if started.elapsed() > timeout {
                let _ = api.delete(&name, &ours).await;
                bail!(
                    "the controller did not answer ResealRequest {ns}/{name} within {timeout:?}: is gitseal-controller running?"
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let _ = api.delete(&name, &ours).await;
        if let Some(refused) = status.conditions.iter().find(|c| c.type_ == "Ready" && c.status == "False") {
            bail!("the controller refused ResealRequest {ns}/{name} ({}): {}", refused.reason, refused.message);
        }
        if status.values.len() != batch.len() {
            bail!(
                "ResealRequest {ns}/{name}: {} answers for {} values; nothing written",
                status.values.len(),
                batch.len()
            );
        }
        answers.extend(status.values);
        progress.advance(batch.len());
    }
    progress.finish();
    Ok(answers)
}

fn join(ids: &[&String]) -> String {
    ids.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
}

/// Rewrites one file when every one of its values was re-encrypted; returns how many.
fn write(mut job: Job, answers: &[ResealResult]) -> Result<usize> {
    let label = job.file.label();
    for (o, key, i) in &job.slots {
        let answer = &answers[*i];
        let object = &mut job.file.objects[*o].1;
        let who =
            gitseal::manifest::display_name(object.metadata.namespace.as_deref(), object.metadata.name.as_deref())
                .unwrap_or_default();
        let Some(ciphertext) = &answer.ciphertext else {
            bail!(
                "{label}: {who}, key {key:?}: {}; file left unchanged",
                answer.error.as_deref().unwrap_or("not resealed")
            );
        };
        let (legacy, unoffered): (Vec<&String>, Vec<&String>) =
            answer.dropped.iter().partition(|id| id.len() == gitseal::KeyId::LEGACY_LEN);
        if !unoffered.is_empty() {
            eprintln!(
                "gitseal: {label}: {who}, key {key:?}: no longer sealed to {} (offer its public key with -R to keep it)",
                join(&unoffered)
            );
        }
        if !legacy.is_empty() {
            eprintln!(
                "gitseal: {label}: {who}, key {key:?}: no longer sealed to {}: the value predates format 2 and names it by a 64-bit id, which cannot prove whose key it is; seal the value again from its plaintext to add it",
                join(&legacy)
            );
        }
        if !answer.retired.is_empty() {
            eprintln!(
                "gitseal: {label}: {who}, key {key:?}: no longer sealed to {}: the cluster retired it, so it is never sealed to again (remove it from -R and .gitseal-recipients)",
                answer.retired.join(", ")
            );
        }
        object.spec.encrypted_data.insert(key.clone(), ciphertext.clone());
        object.spec.key_ids.insert(key.clone(), answer.key_ids.clone());
    }
    job.file.save()?;
    Ok(job.slots.len())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use gitseal::manifest::{OutputFormat, render};
    use gitseal::{PlainSecret, Recipients, Scope, generate_identity, seal_secret};

    #[test]
    fn a_file_whose_scope_was_widened_is_not_sent_for_resealing() {
        let recipients = Recipients::new([generate_identity().to_public()]).unwrap();
        let mut secret = PlainSecret { namespace: Some("prod".into()), name: Some("db".into()), ..Default::default() };
        secret.data.insert("password".into(), b"v".to_vec().into());
        let mut sealed = seal_secret(&secret, Scope::Strict, None, &recipients, 1).unwrap();
        sealed.spec.scope = Scope::ClusterWide;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.yaml");
        std::fs::write(&path, render(&[sealed], OutputFormat::Yaml).unwrap()).unwrap();
        let mut items = Vec::new();
        let err = plan(&path, "published", &BTreeSet::new(), &mut items).err().unwrap().to_string();
        assert!(err.contains("now says cluster-wide scope") && err.contains("reseal refuses"), "{err}");
        assert!(items.is_empty(), "nothing asked of the controller");
    }
}
