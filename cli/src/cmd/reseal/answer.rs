//! Checking the answers to `gitseal reseal`'s requests before any file is written.
//!
//! ```text
//!  value asked (its scope stanza, else its place in the file) ─┐
//!  answer (ciphertext's scope stanza, key ids) ────────────────┴─▶ same binding, sealed to
//!                                                                  the published key and
//!                                                                  offered keys only
//! ```
//!
//! Anyone with the resealer role can make the controller re-encrypt values of their
//! choosing; an answer that reached this run by way of someone else's request must not
//! end up in the repository. The request's uid rules that out (see `request_all`); these
//! checks refuse what the uid cannot: an answer that is not the value asked, re-sealed.

use std::collections::BTreeSet;

use anyhow::{Context, Result, bail};
use gitseal::crds::{ResealRequest, ResealResult};
use gitseal::{Binding, KeyId, Recipients, SealedSecret, visible_binding};

use super::Job;

/// What every answer must be sealed to: the cluster's published key, plus only keys
/// whose public key this run offered.
pub struct Expected {
    pub published: KeyId,
    pub offered: BTreeSet<KeyId>,
}

impl Expected {
    /// From the published key's id and the public keys this run offered.
    ///
    /// # Errors
    /// When the published id is not a key id.
    pub fn new(published: &str, offered: &[String]) -> Result<Expected> {
        let published = KeyId::parse(published)
            .with_context(|| format!("the cluster publishes key id {published:?}, which is not a key id"))?;
        let offered = Recipients::parse_each(offered.iter().map(String::as_str))?;
        Ok(Expected { published, offered: offered.iter().map(KeyId::of).collect() })
    }
}

/// The request as read now, if it is still the one this run created (`uid`).
///
/// # Errors
/// When it is gone or another object took its name: someone else with the resealer
/// role deleted it, and whatever answer that object gets was not asked for by this run.
pub fn same_request(current: Option<ResealRequest>, ns: &str, name: &str, uid: &str) -> Result<ResealRequest> {
    let refuse = |what: &str| {
        anyhow::anyhow!(
            "ResealRequest {ns}/{name} {what} before the controller answered: someone else who may create and delete ResealRequests in {ns} did it. This run uses no answer but its own request's; nothing written"
        )
    };
    match current {
        None => Err(refuse("was deleted")),
        Some(current) if current.metadata.uid.as_deref() != Some(uid) => Err(refuse(&format!(
            "was replaced by another object of the same name (uid {}, this run created uid {uid})",
            current.metadata.uid.as_deref().unwrap_or("none")
        ))),
        Some(current) => Ok(current),
    }
}

/// Checks every answer against what was asked for it, before any file is written: one
/// answer that is not the value asked, re-sealed, and nothing is written.
///
/// # Errors
/// Naming the file, object and key of the first answer refused.
pub(super) fn check_all(jobs: &[Job], answers: &[ResealResult], expected: &Expected) -> Result<()> {
    for job in jobs {
        let label = job.file.label();
        for (o, key, i) in &job.slots {
            let object = &job.file.objects[*o].1;
            let meta = &object.metadata;
            let who =
                gitseal::manifest::display_name(meta.namespace.as_deref(), meta.name.as_deref()).unwrap_or_default();
            let at = || format!("{label}: {who}, key {key:?}: the controller's answer refused; nothing written");
            let answer = answers.get(*i).with_context(|| format!("{label}: {who}, key {key:?}: no answer"))?;
            check(&asked_binding(object, key).with_context(at)?, answer, expected).with_context(at)?;
        }
    }
    Ok(())
}

/// Where the value under `key` of `object` may be opened: what its own scope stanza
/// says, or (sealed before format 2, no stanza) its place in the file.
///
/// # Errors
/// When neither can be told: the stanza is unreadable, or the place lacks what the
/// object's scope needs.
pub fn asked_binding(object: &SealedSecret, key: &str) -> Result<Binding> {
    let Some(ciphertext) = object.spec.encrypted_data.get(key) else { bail!("key {key:?} is not in the object") };
    match visible_binding(ciphertext) {
        Ok(Some(binding)) => Ok(binding),
        Ok(None) => {
            let meta = &object.metadata;
            Ok(Binding::new(object.spec.scope, meta.namespace.as_deref(), meta.name.as_deref(), key)?)
        }
        Err(e) => bail!("key {key:?}: cannot read where the value is sealed for: {e}"),
    }
}

/// Checks one answered value against the binding it was asked for and `expected`.
/// Answers without a ciphertext (the controller could not re-seal) are the caller's.
///
/// # Errors
/// Saying what in the answer was not asked for; never any value.
pub fn check(asked: &Binding, answer: &ResealResult, expected: &Expected) -> Result<()> {
    let Some(ciphertext) = &answer.ciphertext else { return Ok(()) };
    match visible_binding(ciphertext) {
        Ok(Some(got)) if got == *asked => {}
        Ok(Some(got)) => bail!("the answer is sealed for {}, not {} as asked", describe(&got), describe(asked)),
        Ok(None) => bail!("the answer carries no scope stanza; values re-sealed by the controller always do"),
        Err(e) => bail!("the answer is not a sealed value: {e}"),
    }
    let ids = answer.key_ids.iter().map(|id| KeyId::parse(id).filter(|k| !k.is_legacy()));
    let ids: Vec<KeyId> = match ids.collect::<Option<_>>() {
        Some(ids) => ids,
        None => bail!("the answer records a key id that is not a 128-bit key id"),
    };
    if !ids.contains(&expected.published) {
        bail!("the answer is not sealed to the published key {}", expected.published);
    }
    if let Some(stranger) = ids.iter().find(|id| **id != expected.published && !expected.offered.contains(*id)) {
        bail!("the answer is sealed to key {stranger}, which is neither the published key nor one this run offered");
    }
    // Printed to the terminal: key ids only, nothing else.
    if answer.dropped.iter().chain(&answer.retired).any(|id| KeyId::parse(id).is_none()) {
        bail!("the answer names an earlier recipient by something that is not a key id");
    }
    Ok(())
}

fn describe(binding: &Binding) -> String {
    match binding {
        Binding::Strict { namespace, name, key } => format!("{namespace}/{name}, key {key:?} (strict)"),
        Binding::NamespaceWide { namespace } => format!("namespace {namespace} (namespace-wide)"),
        Binding::ClusterWide => "any namespace (cluster-wide)".into(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use gitseal::{Recipients, Scope, generate_identity, seal_value};

    fn sealed(binding: &Binding, to: &[&age::x25519::Recipient]) -> ResealResult {
        let recipients = Recipients::new(to.iter().map(|r| (*r).clone())).unwrap();
        let value = seal_value(b"v", binding, &recipients).unwrap();
        ResealResult {
            ciphertext: Some(value.ciphertext),
            key_ids: value.key_ids.iter().map(KeyId::to_string).collect(),
            ..ResealResult::default()
        }
    }

    #[test]
    fn only_the_value_asked_sealed_to_the_keys_expected_is_accepted() {
        let (published, glass, stranger) =
            (generate_identity().to_public(), generate_identity().to_public(), generate_identity().to_public());
        let expected = Expected { published: KeyId::of(&published), offered: BTreeSet::from([KeyId::of(&glass)]) };
        let asked = Binding::new(Scope::Strict, Some("prod"), Some("db"), "password").unwrap();

        check(&asked, &sealed(&asked, &[&published, &glass]), &expected).unwrap();

        let wider = Binding::new(Scope::ClusterWide, None, None, "password").unwrap();
        let err = check(&asked, &sealed(&wider, &[&published]), &expected).unwrap_err().to_string();
        assert!(err.contains("cluster-wide") && err.contains("prod/db"), "{err}");

        let err = check(&asked, &sealed(&asked, &[&published, &stranger]), &expected).unwrap_err().to_string();
        assert!(err.contains(&KeyId::of(&stranger).to_string()), "{err}");

        let err = check(&asked, &sealed(&asked, &[&glass]), &expected).unwrap_err().to_string();
        assert!(err.contains("not sealed to the published key"), "{err}");

        let mut forged_ids = sealed(&asked, &[&published]);
        forged_ids.key_ids.push("\u{1b}[2J".into());
        assert!(check(&asked, &forged_ids, &expected).is_err());

        let failed = ResealResult { error: Some("no key".into()), ..ResealResult::default() };
        check(&asked, &failed, &expected).unwrap();
    }
}
