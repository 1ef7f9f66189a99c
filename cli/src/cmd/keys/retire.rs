//! `gitseal keys retire ID`: marks a key Secret `gitseal.dev/state: retired`, after
//! checking that no SealedSecret in the cluster needs that key alone.
//!
//! ```text
//!  key Secrets ─┐
//!               ├─ dependents(K) = ∅ and K not published (or --force) ──▶ merge patch
//!  SealedSecrets┘                                                        annotation on the Secret
//! ```

use anyhow::{Result, bail};
use gitseal::KeyStatus;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{Patch, PatchParams};

use super::dependents::{self, name_some};
use super::ring;
use crate::cli::ClusterArgs;
use crate::cluster::{self, FIELD_MANAGER, Grant, STATE_ANNOTATION, api_error};

/// How many dependent SealedSecrets a refusal names.
const NAMED: usize = 20;

pub fn retire(query: &str, force: bool, args: &ClusterArgs) -> Result<()> {
    cluster::block_on(run(query, force, args))
}

async fn run(query: &str, force: bool, args: &ClusterArgs) -> Result<()> {
    let namespace = &args.controller_namespace;
    let client = cluster::client(args).await?;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let ring = ring::load(&secrets, namespace).await?;
    let key = ring::resolve(&ring.keys, query, namespace)?;
    let (id, secret) = (key.id().to_string(), key.secret().to_owned());
    if key.status() == KeyStatus::Retired {
        crate::io::outln!("key {id} ({namespace}/{secret}) is already retired")?;
        return Ok(());
    }
    let sealed = dependents::list_all(client).await?;
    let deps = dependents::dependents(ring.keys.iter().map(|k| (k.id().as_str(), k.status())), &sealed);
    let needing = deps.of(&id);

    let mut refusals = Vec::new();
    if !needing.is_empty() {
        refusals.push(format!(
            "{} SealedSecret(s) can only be unsealed with it: {}. Re-seal them to the published key first (gitseal reseal PATH…, then apply them)",
            needing.len(),
            name_some(needing, NAMED)
        ));
    }
    if key.status() == KeyStatus::Published {
        refusals.push("it is the published key, the one new seals use. Rotate first (gitseal rotate)".to_owned());
    }
    if !refusals.is_empty() && !force {
        bail!("refusing to retire key {id} ({namespace}/{secret}): {}; or pass --force", refusals.join("; and "));
    }

    let patch = serde_json::json!({"metadata": {"annotations": {STATE_ANNOTATION: KeyStatus::Retired.as_str()}}});
    let params = PatchParams { field_manager: Some(FIELD_MANAGER.into()), ..PatchParams::default() };
    secrets.patch(&secret, &params, &Patch::Merge(&patch)).await.map_err(|e| {
        let doing = format!("cannot annotate Secret {namespace}/{secret}");
        api_error(e, doing, "patch on secrets there", Grant::KeyCustodian)
    })?;

    let others: Vec<&str> =
        ring.keys.iter().filter(|k| k.secret() == secret && k.id().as_str() != id).map(|k| k.id().as_str()).collect();
    crate::io::outln!("retired: key {id} ({namespace}/{secret}) no longer unseals anything")?;
    if !others.is_empty() {
        eprintln!("gitseal: note: Secret {secret} also held key(s) {}; they are retired with it", others.join(", "));
    }
    if force && !needing.is_empty() {
        eprintln!("gitseal: warning: {} SealedSecret(s) can no longer be unsealed", needing.len());
    }
    if !ring.keys.iter().any(|k| k.secret() != secret && k.status() != KeyStatus::Retired) {
        eprintln!("gitseal: warning: no key is left to seal to; create one with gitseal rotate");
    }
    if !deps.unrecorded.is_empty() {
        eprintln!(
            "gitseal: note: {} SealedSecret(s) have values with no recorded key ids, so gitseal could not check them: {}",
            deps.unrecorded.len(),
            name_some(&deps.unrecorded, 5)
        );
    }
    Ok(())
}
