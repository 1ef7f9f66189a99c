//! What a SealedSecret's template may not ask of the Secret the controller writes: one
//! definition for the controller (which refuses) and `gitseal verify` (which warns).
//!
//! ```text
//!  spec.template ──type refused?──────────────────────▶ Refusal { field, why }
//!                └─label / annotation key under a refused prefix? ─┘
//! ```
//!
//! A strict value may be unsealed in one namespace, under one name. Some things in the
//! cluster act on a Secret's metadata and carry its plaintext further: replicators copy a
//! Secret into other namespaces when it carries their annotation, and a Secret of type
//! `kubernetes.io/service-account-token` makes the cluster mint a token into it. The
//! template is written by whoever writes the SealedSecret, so such keys and types are
//! refused by default; an operator may refuse more (never fewer).

use crate::SecretTemplate;

/// Secret types refused by default, and why.
pub const REFUSED_TYPES: &[(&str, &str)] =
    &[("kubernetes.io/service-account-token", "the cluster would mint a ServiceAccount token into the Secret")];

/// Label and annotation key prefixes refused by default, and why.
pub const REFUSED_PREFIXES: &[(&str, &str)] = &[
    // mittwald/kubernetes-replicator: replicate-to, replicate-from, replication-allowed…
    ("replicator.v1.mittwald.de/", "kubernetes-replicator would copy the Secret into other namespaces"),
    // emberstack/kubernetes-reflector: reflection-allowed, reflection-auto-enabled…
    ("reflector.v1.k8s.emberstack.com/", "reflector would copy the Secret into other namespaces"),
    // appscode kubed / config-syncer: kubed.appscode.com/sync
    ("kubed.appscode.com/", "kubed (config-syncer) would copy the Secret into other namespaces"),
    // kubernetes.io/service-account.name and .uid bind a token Secret to a ServiceAccount:
    // refused even while the type is, so that allowing a type never makes them work.
    ("kubernetes.io/service-account.", "it binds the Secret to a ServiceAccount's token"),
];

/// The refusals in force: the defaults plus what the operator added.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TemplatePolicy {
    types: Vec<(String, String)>,
    prefixes: Vec<(String, String)>,
}

/// Why a template breaks the policy: the field, never its value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The field as a path, e.g. `spec.template.metadata.annotations[reflector.v1.k8s.emberstack.com/reflection-allowed]`.
    pub field: String,
    /// What the cluster would do with it.
    pub why: String,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} is refused by the template policy: {}", self.field, self.why)
    }
}

impl Default for TemplatePolicy {
    fn default() -> TemplatePolicy {
        let own = |list: &[(&str, &str)]| list.iter().map(|(k, why)| ((*k).to_owned(), (*why).to_owned())).collect();
        TemplatePolicy { types: own(REFUSED_TYPES), prefixes: own(REFUSED_PREFIXES) }
    }
}

impl TemplatePolicy {
    /// The defaults, plus `types` and key `prefixes` the operator refuses too.
    pub fn with_extra(types: &[String], prefixes: &[String]) -> TemplatePolicy {
        let mut policy = TemplatePolicy::default();
        let by_operator = || "the operator refuses it".to_owned();
        policy.types.extend(types.iter().filter(|t| !t.is_empty()).map(|t| (t.clone(), by_operator())));
        policy.prefixes.extend(prefixes.iter().filter(|p| !p.is_empty()).map(|p| (p.clone(), by_operator())));
        policy
    }

    /// The first field of `template` the policy refuses, if any.
    ///
    /// # Errors
    /// A [`Refusal`] naming the field (type, or the label or annotation key) and why.
    pub fn check(&self, template: Option<&SecretTemplate>) -> Result<(), Refusal> {
        let Some(template) = template else { return Ok(()) };
        if let Some(type_) = template.type_.as_deref()
            && let Some((_, why)) = self.types.iter().find(|(t, _)| t == type_)
        {
            return Err(Refusal { field: format!("spec.template.type ({type_})"), why: why.clone() });
        }
        let Some(metadata) = &template.metadata else { return Ok(()) };
        for (kind, keys) in [("labels", &metadata.labels), ("annotations", &metadata.annotations)] {
            for key in keys.keys() {
                if let Some((_, why)) = self.prefixes.iter().find(|(p, _)| key.starts_with(p.as_str())) {
                    return Err(Refusal { field: format!("spec.template.metadata.{kind}[{key}]"), why: why.clone() });
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crds::TemplateMetadata;

    fn template(type_: Option<&str>, labels: &[&str], annotations: &[&str]) -> SecretTemplate {
        let map = |keys: &[&str]| keys.iter().map(|k| ((*k).to_owned(), "a-value".to_owned())).collect();
        let metadata = TemplateMetadata { labels: map(labels), annotations: map(annotations) };
        SecretTemplate { metadata: Some(metadata), type_: type_.map(str::to_owned), immutable: None }
    }

    #[test]
    fn ordinary_templates_pass() {
        let policy = TemplatePolicy::default();
        assert_eq!(policy.check(None), Ok(()));
        let t = template(Some("kubernetes.io/tls"), &["app"], &["team", "kubernetes.io/description"]);
        assert_eq!(policy.check(Some(&t)), Ok(()));
    }

    #[test]
    fn a_token_type_is_refused() {
        let t = template(Some("kubernetes.io/service-account-token"), &[], &[]);
        let refusal = TemplatePolicy::default().check(Some(&t)).unwrap_err();
        assert_eq!(refusal.field, "spec.template.type (kubernetes.io/service-account-token)");
    }

    #[test]
    fn replicator_keys_are_refused_as_annotations_and_labels_naming_the_key_not_the_value() {
        let policy = TemplatePolicy::default();
        for key in [
            "replicator.v1.mittwald.de/replicate-to",
            "reflector.v1.k8s.emberstack.com/reflection-allowed",
            "kubed.appscode.com/sync",
            "kubernetes.io/service-account.name",
        ] {
            let refusal = policy.check(Some(&template(None, &[], &[key]))).unwrap_err();
            assert_eq!(refusal.field, format!("spec.template.metadata.annotations[{key}]"));
            assert!(!refusal.to_string().contains("a-value"), "{refusal}");
            let refusal = policy.check(Some(&template(None, &[key], &[]))).unwrap_err();
            assert_eq!(refusal.field, format!("spec.template.metadata.labels[{key}]"));
        }
    }

    #[test]
    fn the_operator_refuses_more_never_less() {
        let policy =
            TemplatePolicy::with_extra(&["example.com/cloned".into()], &["copier.example.com/".into(), "".into()]);
        let t = template(Some("example.com/cloned"), &[], &[]);
        assert!(policy.check(Some(&t)).unwrap_err().why.contains("operator"));
        let t = template(None, &[], &["copier.example.com/to"]);
        assert!(policy.check(Some(&t)).is_err());
        assert!(policy.check(Some(&template(None, &[], &["team"]))).is_ok(), "an empty prefix refuses nothing");
        let t = template(None, &[], &["replicator.v1.mittwald.de/replicate-to"]);
        assert!(policy.check(Some(&t)).is_err(), "the defaults stay");
    }
}
