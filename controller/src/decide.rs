//! Pure decisions of the reconciler: no client, no clock beyond what is passed in.
//! Everything here is unit-tested; `reconcile` only carries the decisions out.

use gitseal::crds::migration;
use gitseal::manifest::secret_type;
use gitseal::{Error as CoreError, KeyId, PlainSecret, SealedSecret, UnsealError};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, ObjectMeta, OwnerReference, Time};
use kube::Resource;

/// Label on every Secret the controller writes; the Secret watch selects on it.
pub const MANAGED_LABEL: &str = gitseal::validate::MANAGED_LABEL;
/// Value of [`MANAGED_LABEL`].
pub const MANAGED_VALUE: &str = "gitseal-controller";
/// Selector for the Secrets the controller writes.
pub const MANAGED_SELECTOR: &str = "app.kubernetes.io/managed-by=gitseal-controller";
/// Annotation by which an existing, unowned Secret agrees to be taken over.
pub const ADOPT_ANNOTATION: &str = "gitseal.dev/adopt";

/// Declares a fieldless enum as written, plus `ALL`: its variants in declaration order.
/// A fixed set of metric labels is listed in full at start (each at 0), so the list is
/// generated from the enum rather than kept beside it.
macro_rules! with_all {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident { $($(#[$variant_meta:meta])* $variant:ident,)* }
    ) => {
        $(#[$meta])*
        $vis enum $name { $($(#[$variant_meta])* $variant,)* }

        impl $name {
            /// Every variant, in declaration order.
            $vis const ALL: &'static [$name] = &[$($name::$variant,)*];
        }
    };
}
pub(crate) use with_all;

with_all! {
    /// Why a SealedSecret is or is not Ready; a fixed set, safe as a metric label.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Reason {
        /// Unsealed and the Secret is in place.
        Unsealed,
        /// No key of the ring is a recipient of some value.
        NoMatchingKey,
        /// A value was sealed for another namespace, name, key or scope.
        ScopeMismatch,
        /// A value failed authentication: tampered with or truncated.
        DecryptionFailed,
        /// The object or a value is not well-formed.
        Malformed,
        /// A Secret of that name exists and is not ours to overwrite.
        SecretNotManaged,
        /// The API server refused to write the Secret.
        SecretWriteFailed,
        /// The template asks for a type or a label/annotation key the template policy
        /// refuses (it would carry the plaintext out of its scope).
        TemplateRefused,
    }
}

impl Reason {
    /// Whether the reason counts as an unseal failure (`gitseal_unseal_failures_total`):
    /// the SealedSecret itself could not be unsealed. A Secret that is not ours or could
    /// not be written is the API's or the cluster's matter, not the SealedSecret's.
    pub fn is_unseal_failure(self) -> bool {
        match self {
            Reason::NoMatchingKey
            | Reason::ScopeMismatch
            | Reason::DecryptionFailed
            | Reason::Malformed
            | Reason::TemplateRefused => true,
            Reason::Unsealed | Reason::SecretNotManaged | Reason::SecretWriteFailed => false,
        }
    }

    /// The reason as written in conditions, events and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Unsealed => "Unsealed",
            Reason::NoMatchingKey => "NoMatchingKey",
            Reason::ScopeMismatch => "ScopeMismatch",
            Reason::DecryptionFailed => "DecryptionFailed",
            Reason::Malformed => "Malformed",
            Reason::SecretNotManaged => "SecretNotManaged",
            Reason::SecretWriteFailed => "SecretWriteFailed",
            Reason::TemplateRefused => "TemplateRefused",
        }
    }

    /// The fixed reason for an unseal failure.
    pub fn of_unseal(e: &CoreError) -> Reason {
        match e {
            CoreError::Unseal { reason: UnsealError::NoMatchingKey(_), .. } => Reason::NoMatchingKey,
            CoreError::Unseal { reason: UnsealError::ScopeMismatch { .. }, .. } => Reason::ScopeMismatch,
            CoreError::Unseal { reason: UnsealError::Tampered, .. } => Reason::DecryptionFailed,
            _ => Reason::Malformed,
        }
    }
}

/// The `Ready=False` message for an unseal failure: the core's words, except for a value
/// whose object moved (the same scope and key, another name or namespace), which says the
/// object was probably renamed, as kustomize overlays do, and what to do. Names places and
/// keys only, never a value.
pub fn unseal_message(e: &CoreError) -> String {
    let CoreError::Unseal { name, key, reason: UnsealError::ScopeMismatch { sealed_for, used_as } } = e else {
        return e.to_string();
    };
    let Some(moved) = sealed_for.moved_to(used_as) else { return e.to_string() };
    let who = name.as_ref().map(|n| format!("{n}, ")).unwrap_or_default();
    let applied = match **used_as {
        gitseal::Binding::Strict { .. } => format!("applied as {}", used_as.place()),
        _ => format!("applied in {}", used_as.place()),
    };
    let (what, fix) = match (moved.name, moved.namespace) {
        (true, false) => ("renamed (a kustomize namePrefix or nameSuffix?)", "under the name it is applied with"),
        (false, _) => ("moved to another namespace (a kustomize namespace?)", "in the namespace it is applied in"),
        (true, true) => (
            "renamed and moved to another namespace (a kustomize namePrefix/nameSuffix and namespace?)",
            "for the namespace and name it is applied with",
        ),
    };
    format!(
        "{who}key {key:?}: the value was sealed for {}, {applied}: the object was probably {what}; seal it {fix}, or use a wider scope",
        sealed_for.place()
    )
}

/// Who may write a Secret that already exists under the SealedSecret's name.
#[derive(Debug, PartialEq, Eq)]
pub enum Ownership {
    /// Controlled by this SealedSecret (or by an earlier one of the same name that gitseal
    /// wrote, about to be garbage-collected): ours to write.
    Ours,
    /// Not ours, but it opted in with `gitseal.dev/adopt: "true"`.
    Adoptable,
    /// Controlled by the incumbent's (bitnami) SealedSecret of the same name, which this
    /// one replaces and says so (`gitseal.dev/migrated-from: sealed-secrets`, written by
    /// `gitseal migrate`): taken over in one write, so the Secret is never missing.
    TakeOver,
    /// Someone else's: never overwritten.
    Foreign(String),
}

/// Decides whether an existing Secret may be written for `sealed`.
pub fn ownership(existing: &ObjectMeta, sealed: &SealedSecret) -> Ownership {
    let controller = existing.owner_references.iter().flatten().find(|o| o.controller == Some(true));
    let uid = sealed.meta().uid.as_deref();
    match controller {
        Some(o) if Some(o.uid.as_str()) == uid => return Ownership::Ours,
        Some(o)
            if o.kind == "SealedSecret"
                && gitseal::crds::is_api_version(&o.api_version)
                && Some(o.name.as_str()) == sealed.meta().name.as_deref()
                && is_managed(existing) =>
        {
            return Ownership::Ours;
        }
        Some(o) if is_incumbent(o, sealed) => {
            let migrated = sealed.meta().annotations.as_ref().and_then(|a| a.get(migration::MIGRATED_FROM));
            return match migrated.map(String::as_str) {
                Some(migration::SEALED_SECRETS) => Ownership::TakeOver,
                _ => Ownership::Foreign(format!(
                    "Secret {} exists and is controlled by the sealed-secrets (bitnami.com) SealedSecret {}; gitseal takes it over only for a SealedSecret annotated {}: {} (gitseal migrate writes it)",
                    existing.name.as_deref().unwrap_or_default(),
                    o.name,
                    migration::MIGRATED_FROM,
                    migration::SEALED_SECRETS,
                )),
            };
        }
        _ => {}
    }
    let opted_in = existing.annotations.as_ref().and_then(|a| a.get(ADOPT_ANNOTATION)).is_some_and(|v| v == "true");
    match (controller, opted_in) {
        (None, true) => Ownership::Adoptable,
        (Some(o), _) => Ownership::Foreign(format!(
            "Secret {} exists and is controlled by {} {}; gitseal will not overwrite it",
            existing.name.as_deref().unwrap_or_default(),
            o.kind,
            o.name
        )),
        (None, false) => Ownership::Foreign(format!(
            "Secret {} exists and is not managed by gitseal; annotate it {ADOPT_ANNOTATION}=\"true\" to let gitseal take it over",
            existing.name.as_deref().unwrap_or_default()
        )),
    }
}

/// Whether `owner` is the incumbent's SealedSecret of the same name as `sealed`.
fn is_incumbent(owner: &OwnerReference, sealed: &SealedSecret) -> bool {
    owner.kind == "SealedSecret"
        && owner.api_version.starts_with(gitseal::crds::migration::INCUMBENT_GROUP_PREFIX)
        && Some(owner.name.as_str()) == sealed.meta().name.as_deref()
}

fn is_managed(meta: &ObjectMeta) -> bool {
    meta.labels.as_ref().and_then(|l| l.get(MANAGED_LABEL)).is_some_and(|v| v == MANAGED_VALUE)
}

/// Refuses a template that sets gitseal's own labels or annotations (e.g.
/// `gitseal.dev/key`, which would plant a key in the ring): the core's rule, which `seal`
/// and `verify` apply too.
pub fn check_template(plain: &PlainSecret) -> Result<(), String> {
    gitseal::validate::template_metadata(&plain.labels, &plain.annotations)
}

/// The Secret to write for `sealed`, holding the unsealed values.
pub fn desired_secret(sealed: &SealedSecret, plain: &PlainSecret) -> Secret {
    let mut secret = plain.to_k8s();
    let mut labels = plain.labels.clone();
    labels.insert(MANAGED_LABEL.to_owned(), MANAGED_VALUE.to_owned());
    secret.metadata.labels = Some(labels);
    secret.metadata.owner_references = Some(vec![OwnerReference {
        api_version: gitseal::crds::API_VERSION.to_owned(),
        kind: "SealedSecret".to_owned(),
        name: sealed.meta().name.clone().unwrap_or_default(),
        uid: sealed.meta().uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: None,
    }]);
    secret
}

/// Whether the live Secret cannot reach `desired` by an apply: it holds keys the
/// desired one lacks (left by another writer), or a `type`/`immutable` that the API
/// server will not let change in place.
pub fn needs_replace(live: &Secret, desired: &Secret) -> Replace {
    let immutable = live.immutable == Some(true);
    let type_changed = secret_type(live.type_.as_deref()) != secret_type(desired.type_.as_deref());
    if type_changed || (immutable && (live.data != desired.data || desired.immutable != Some(true))) {
        return Replace::Recreate;
    }
    let extra = live.data.iter().flatten().any(|(k, _)| !desired.data.as_ref().is_some_and(|d| d.contains_key(k)));
    if extra { Replace::Put } else { Replace::No }
}

/// How to bring a live Secret to its desired state after an apply.
#[derive(Debug, PartialEq, Eq)]
pub enum Replace {
    /// The apply did it.
    No,
    /// Replace the whole object (drops keys another writer added).
    Put,
    /// Delete and create again (type or immutable data changed).
    Recreate,
}

/// Longest condition message written: conditions are read by people and dashboards.
pub const MAX_MESSAGE: usize = 1024;

/// The `Ready` condition for an outcome, keeping `lastTransitionTime` when the status
/// does not change.
pub fn ready_condition(
    reason: Reason,
    message: &str,
    generation: Option<i64>,
    previous: Option<&Condition>,
    now: Time,
) -> Condition {
    ready(reason == Reason::Unsealed, reason.as_str(), message, generation, previous, now)
}

/// A `Ready` condition, the one builder of gitseal's objects' conditions: the message cut
/// to [`MAX_MESSAGE`] characters, `lastTransitionTime` kept from `previous` when the status
/// does not change.
pub fn ready(
    is_ready: bool,
    reason: &str,
    message: &str,
    generation: Option<i64>,
    previous: Option<&Condition>,
    now: Time,
) -> Condition {
    let status = if is_ready { "True" } else { "False" };
    let last_transition_time = match previous {
        Some(p) if p.status == status => p.last_transition_time.clone(),
        _ => now,
    };
    Condition {
        type_: "Ready".into(),
        status: status.into(),
        reason: reason.into(),
        message: message.chars().take(MAX_MESSAGE).collect(),
        observed_generation: generation,
        last_transition_time,
    }
}

/// The kstatus `Stalled` condition that goes with `ready`: True for failures that no
/// retry can fix (the object or the cluster's keys must change first), so Flux and
/// other kstatus readers report `Failed` instead of waiting out their timeout.
pub fn stalled_condition(ready: &Condition, reason: Reason, previous: Option<&Condition>) -> Condition {
    let stalled = !matches!(reason, Reason::Unsealed | Reason::SecretWriteFailed);
    let status = if stalled { "True" } else { "False" };
    let last_transition_time = match previous {
        Some(p) if p.status == status => p.last_transition_time.clone(),
        _ => ready.last_transition_time.clone(),
    };
    Condition { type_: "Stalled".into(), status: status.into(), last_transition_time, ..ready.clone() }
}

/// Whether writing `next` would change what `previous` already says.
/// Whether the status says the Secret was written for this generation, found `Ready`, and
/// left at `live` (the Secret's `resourceVersion` now): so nothing changed since, whoever
/// wrote it.
pub fn written_before(sealed: &SealedSecret, live: Option<&str>) -> bool {
    let (Some(status), Some(live)) = (&sealed.status, live) else { return false };
    let generation = sealed.meta().generation;
    let ready = status.conditions.iter().find(|c| c.type_ == "Ready");
    status.secret_resource_version.as_deref() == Some(live)
        && status.observed_generation == generation
        && ready.is_some_and(|c| c.status == "True" && c.observed_generation == generation)
}

/// Whether every value names (in `spec.keyIds`) a key of the ring: checked before taking
/// the status's word that nothing changed ([`written_before`]), so that keys lost or
/// retired while no controller ran are noticed. The ids are hints anyone may write; a
/// wrong one only leaves that object as it was.
pub fn ring_names_every_value(sealed: &SealedSecret, ring: &[KeyId]) -> bool {
    let spec = &sealed.spec;
    spec.encrypted_data.keys().all(|key| {
        let hints = spec.key_ids.get(key).map(|ids| KeyId::hints(ids)).unwrap_or_default();
        hints.iter().any(|id| ring.iter().any(|known| known.names(id)))
    })
}

pub fn condition_changed(previous: Option<&Condition>, next: &Condition, observed: Option<i64>) -> bool {
    match previous {
        None => true,
        Some(p) => {
            p.status != next.status
                || p.reason != next.reason
                || p.message != next.message
                || p.observed_generation != next.observed_generation
                || observed != next.observed_generation
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gitseal::SealedSecretSpec;
    use k8s_openapi::ByteString;
    use std::collections::BTreeMap;

    fn sealed(uid: &str) -> SealedSecret {
        let mut s = SealedSecret::new("db", SealedSecretSpec::default());
        s.metadata.namespace = Some("prod".into());
        s.metadata.uid = Some(uid.into());
        s
    }

    fn owned_by(uid: &str, name: &str, managed: bool) -> ObjectMeta {
        ObjectMeta {
            name: Some("db".into()),
            owner_references: Some(vec![OwnerReference {
                api_version: gitseal::crds::API_VERSION.into(),
                kind: "SealedSecret".into(),
                name: name.into(),
                uid: uid.into(),
                controller: Some(true),
                block_owner_deletion: None,
            }]),
            labels: managed.then(|| BTreeMap::from([(MANAGED_LABEL.into(), MANAGED_VALUE.into())])),
            ..ObjectMeta::default()
        }
    }

    #[test]
    fn ownership_decisions() {
        let s = sealed("u1");
        assert_eq!(ownership(&owned_by("u1", "db", false), &s), Ownership::Ours);
        assert_eq!(ownership(&owned_by("old", "db", true), &s), Ownership::Ours, "predecessor of the same name");
        assert!(matches!(ownership(&owned_by("old", "db", false), &s), Ownership::Foreign(_)));
        assert!(
            matches!(ownership(&owned_by("x", "other", true), &s), Ownership::Foreign(m) if m.contains("SealedSecret other"))
        );
        let plain = ObjectMeta { name: Some("db".into()), ..ObjectMeta::default() };
        assert!(matches!(ownership(&plain, &s), Ownership::Foreign(m) if m.contains(ADOPT_ANNOTATION)));
        let opted =
            ObjectMeta { annotations: Some(BTreeMap::from([(ADOPT_ANNOTATION.into(), "true".into())])), ..plain };
        assert_eq!(ownership(&opted, &s), Ownership::Adoptable);
    }

    #[test]
    fn a_secret_written_under_an_older_api_version_is_still_ours() {
        let s = sealed("u1");
        let written_by = |api_version: &str| {
            let mut meta = owned_by("old", "db", true);
            meta.owner_references.as_mut().unwrap()[0].api_version = api_version.into();
            meta
        };
        // A predecessor of the same name, written by v0.1.0 (gitseal.dev/v1alpha1).
        assert_eq!(ownership(&written_by("gitseal.dev/v1alpha1"), &s), Ownership::Ours);
        assert_eq!(ownership(&written_by(gitseal::crds::API_VERSION), &s), Ownership::Ours);
        assert!(matches!(ownership(&written_by("gitseal.dev/v9"), &s), Ownership::Foreign(_)));
        assert!(matches!(ownership(&written_by("example.com/v1"), &s), Ownership::Foreign(_)));
    }

    #[test]
    fn only_a_migrated_sealed_secret_takes_over_from_the_incumbent_of_its_name() {
        let bitnami = |name: &str| {
            let mut meta = owned_by("b1", name, false);
            let owner = &mut meta.owner_references.as_mut().unwrap()[0];
            owner.api_version = migration::INCUMBENT_API_VERSION.into();
            meta
        };
        let mut s = sealed("u1");
        let refused = ownership(&bitnami("db"), &s);
        assert!(matches!(&refused, Ownership::Foreign(m) if m.contains(migration::MIGRATED_FROM)), "{refused:?}");
        s.metadata.annotations = Some(BTreeMap::from([(migration::MIGRATED_FROM.into(), "something-else".into())]));
        assert!(matches!(ownership(&bitnami("db"), &s), Ownership::Foreign(_)));
        s.metadata.annotations =
            Some(BTreeMap::from([(migration::MIGRATED_FROM.into(), migration::SEALED_SECRETS.into())]));
        assert_eq!(ownership(&bitnami("db"), &s), Ownership::TakeOver);
        assert!(matches!(ownership(&bitnami("other"), &s), Ownership::Foreign(_)), "another name is not taken over");
        let mut other_kind = bitnami("db");
        other_kind.owner_references.as_mut().unwrap()[0].kind = "Deployment".into();
        assert!(matches!(ownership(&other_kind, &s), Ownership::Foreign(_)));
    }

    #[test]
    fn written_before_only_for_this_generation_ready_and_the_secret_at_that_version() {
        let mut s = sealed("u1");
        s.metadata.generation = Some(3);
        assert!(!written_before(&s, Some("7")), "no status");
        let ready = |status: &str, generation: i64| Condition {
            type_: "Ready".into(),
            status: status.into(),
            reason: "Unsealed".into(),
            message: String::new(),
            observed_generation: Some(generation),
            last_transition_time: Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH),
        };
        s.status = Some(gitseal::crds::SealedSecretStatus {
            observed_generation: Some(3),
            conditions: vec![ready("True", 3)],
            secret_resource_version: Some("7".into()),
        });
        assert!(written_before(&s, Some("7")));
        assert!(!written_before(&s, Some("8")), "the Secret changed since");
        assert!(!written_before(&s, None), "the Secret is gone");
        s.metadata.generation = Some(4);
        assert!(!written_before(&s, Some("7")), "the SealedSecret changed since");
        s.metadata.generation = Some(3);
        s.status.as_mut().unwrap().conditions = vec![ready("False", 3)];
        assert!(!written_before(&s, Some("7")), "not Ready");
    }

    #[test]
    fn the_ring_must_name_every_value() {
        let (a, b) = (KeyId::parse(&"a".repeat(32)).unwrap(), KeyId::parse(&"b".repeat(32)).unwrap());
        let mut s = sealed("u1");
        s.spec.encrypted_data = BTreeMap::from([("x".into(), "v".into()), ("y".into(), "v".into())]);
        s.spec.key_ids = BTreeMap::from([("x".into(), vec![a.to_string()]), ("y".into(), vec![b.to_string()])]);
        assert!(ring_names_every_value(&s, &[a.clone(), b.clone()]));
        assert!(!ring_names_every_value(&s, std::slice::from_ref(&a)), "y's key is gone");
        assert!(!ring_names_every_value(&s, &[]), "the ring was lost");
        s.spec.key_ids.remove("y");
        assert!(!ring_names_every_value(&s, &[a, b]), "no ids: nothing to go by");
    }

    #[test]
    fn desired_secret_is_owned_labelled_and_typed() {
        let mut plain =
            PlainSecret { name: Some("db".into()), namespace: Some("prod".into()), ..PlainSecret::default() };
        plain.labels.insert("app".into(), "db".into());
        let d = desired_secret(&sealed("u1"), &plain);
        let labels = d.metadata.labels.unwrap();
        assert_eq!(labels[MANAGED_LABEL], MANAGED_VALUE);
        assert_eq!(labels["app"], "db");
        let owner = &d.metadata.owner_references.unwrap()[0];
        assert_eq!((owner.uid.as_str(), owner.controller), ("u1", Some(true)));
        assert_eq!(d.type_.as_deref(), Some("Opaque"));
    }

    #[test]
    fn templates_may_not_set_reserved_labels() {
        let mut plain = PlainSecret::default();
        plain.labels.insert("app".into(), "x".into());
        assert!(check_template(&plain).is_ok());
        plain.labels.insert("gitseal.dev/key".into(), "true".into());
        assert!(check_template(&plain).unwrap_err().contains("gitseal.dev/key"));
        plain.labels.remove("gitseal.dev/key");
        plain.annotations.insert(ADOPT_ANNOTATION.into(), "true".into());
        assert!(check_template(&plain).unwrap_err().contains(ADOPT_ANNOTATION));
    }

    #[test]
    fn replace_decisions() {
        let data = |keys: &[&str]| Some(keys.iter().map(|k| (k.to_string(), ByteString(b"v".to_vec()))).collect());
        let desired = Secret { data: data(&["a"]), type_: Some("Opaque".into()), ..Secret::default() };
        let same = desired.clone();
        assert_eq!(needs_replace(&same, &desired), Replace::No);
        let extra = Secret { data: data(&["a", "b"]), ..desired.clone() };
        assert_eq!(needs_replace(&extra, &desired), Replace::Put);
        let other_type = Secret { type_: Some("kubernetes.io/tls".into()), ..desired.clone() };
        assert_eq!(needs_replace(&other_type, &desired), Replace::Recreate);
        let frozen = Secret { immutable: Some(true), data: data(&["z"]), ..desired.clone() };
        assert_eq!(needs_replace(&frozen, &desired), Replace::Recreate);
    }

    #[test]
    fn a_moved_object_is_said_to_be_probably_renamed() {
        use gitseal::{Binding, Scope};
        let strict = |ns: &str, name: &str| Binding::new(Scope::Strict, Some(ns), Some(name), "password").unwrap();
        let mismatch = |sealed_for: Binding, used_as: Binding| CoreError::Unseal {
            name: Some(used_as.place()),
            key: "password".into(),
            reason: UnsealError::ScopeMismatch { sealed_for: Box::new(sealed_for), used_as: Box::new(used_as) },
        };
        let renamed = unseal_message(&mismatch(strict("prod", "db"), strict("prod", "app-db")));
        assert_eq!(
            renamed,
            "prod/app-db, key \"password\": the value was sealed for prod/db, applied as prod/app-db: the object was probably renamed (a kustomize namePrefix or nameSuffix?); seal it under the name it is applied with, or use a wider scope"
        );
        let moved = unseal_message(&mismatch(strict("prod", "db"), strict("dev", "db")));
        assert!(moved.contains("sealed for prod/db, applied as dev/db: the object was probably moved to another namespace (a kustomize namespace?); seal it in the namespace it is applied in"), "{moved}");
        let both = unseal_message(&mismatch(strict("prod", "db"), strict("dev", "app-db")));
        assert!(both.contains("probably renamed and moved to another namespace"), "{both}");
        let wide = |ns: &str| Binding::new(Scope::NamespaceWide, Some(ns), None, "k").unwrap();
        let wide_moved = unseal_message(&mismatch(wide("prod"), wide("dev")));
        assert!(
            wide_moved.contains("sealed for namespace prod, applied in namespace dev: the object was probably moved"),
            "{wide_moved}"
        );
        // Not a move: another key, or another scope, keeps the core's words.
        let other_key = Binding::new(Scope::Strict, Some("prod"), Some("db"), "user").unwrap();
        for (sealed_for, used_as) in [(strict("prod", "db"), other_key), (strict("prod", "db"), wide("prod"))] {
            let e = mismatch(sealed_for, used_as);
            assert_eq!(unseal_message(&e), e.to_string());
            assert!(!unseal_message(&e).contains("renamed"));
        }
        assert_eq!(unseal_message(&CoreError::Decrypt("x")), CoreError::Decrypt("x").to_string());
    }

    #[test]
    fn stalled_only_for_failures_no_retry_fixes() {
        let t = Time(k8s_openapi::jiff::Timestamp::from_second(1_000).unwrap());
        let stalled = |reason| {
            let ready = ready_condition(reason, "m", Some(1), None, t.clone());
            stalled_condition(&ready, reason, None).status
        };
        assert_eq!(stalled(Reason::Unsealed), "False");
        assert_eq!(stalled(Reason::SecretWriteFailed), "False", "retried with backoff");
        for r in [
            Reason::NoMatchingKey,
            Reason::ScopeMismatch,
            Reason::DecryptionFailed,
            Reason::Malformed,
            Reason::SecretNotManaged,
            Reason::TemplateRefused,
        ] {
            assert_eq!(stalled(r), "True", "{r:?}");
        }
    }

    #[test]
    fn transition_time_moves_only_when_status_flips() {
        let t0 = Time(k8s_openapi::jiff::Timestamp::from_second(1_000).unwrap());
        let t1 = Time(k8s_openapi::jiff::Timestamp::from_second(2_000).unwrap());
        let ok = ready_condition(Reason::Unsealed, "ok", Some(1), None, t0.clone());
        let again = ready_condition(Reason::Unsealed, "ok", Some(2), Some(&ok), t1.clone());
        assert_eq!(again.last_transition_time, t0);
        assert!(condition_changed(Some(&ok), &again, Some(1)));
        assert!(!condition_changed(Some(&again), &again.clone(), Some(2)));
        let failed = ready_condition(Reason::NoMatchingKey, "no key", Some(2), Some(&again), t1.clone());
        assert_eq!((failed.status.as_str(), failed.last_transition_time), ("False", t1));
    }
}
