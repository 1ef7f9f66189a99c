//! Offline checks of a repository's manifests, without any private key: what CI runs.
//!
//! ```text
//!  Document::Sealed ──check_sealed──▶ [Problem]   (base64, age header, key ids, scope, names)
//!  Document::Secret ──check_plain───▶ [Problem]   (plaintext committed: a leak)
//!  Document::Sealed ──check_template_policy──▶ [Problem] as warnings (the controller's
//!                                             default policy would refuse it)
//!  Document::Sealed + where it is applied ──check_applied_as──▶ Renamed (a kustomization
//!                                             renames what its values are bound to)
//! ```

use crate::binding::{Binding, Moved};
use crate::envelope::{self, Limits};
use crate::error::UnsealError;
use crate::keys::KeyId;
use crate::manifest::{PlainSecret, display_name};
use crate::template_policy::TemplatePolicy;
use crate::{SealedSecret, validate};

/// The base64 of the first 21 bytes of every binary age v1 file, `age-encryption.org/v1`.
const AGE_MAGIC_BASE64: &str = "YWdlLWVuY3J5cHRpb24ub3JnL3Yx";

/// One thing wrong with one document, for humans and for `-o json`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    /// The data key concerned, if the problem is about one value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// What is wrong and, unless [`Problem::remedy`] says it, what to do; never contains
    /// a secret value.
    pub message: String,
    /// What to do, when that is running a command: each binary words it.
    #[serde(skip)]
    pub remedy: Option<Remedy>,
}

/// What fixes a problem, when the fix is one of gitseal's commands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Remedy {
    /// Seal the value again, to the keys it should be sealed to.
    Reseal,
    /// Seal the plaintext Secret, delete the plaintext and rotate its values.
    SealAndRotate,
}

impl Problem {
    fn new(key: Option<&str>, message: impl Into<String>) -> Problem {
        Problem { key: key.map(str::to_owned), message: message.into(), remedy: None }
    }

    fn remedy(self, remedy: Remedy) -> Problem {
        Problem { remedy: Some(remedy), ..self }
    }
}

/// Checks a SealedSecret's form: names, scope coordinates, and for every value base64, a
/// readable age header with only X25519 recipients, and recorded key ids that match the
/// number of recipients. With `known` keys, every value must be sealed to at least one of
/// them, or with [`Known::exact`] to every one of them and to no other key.
pub fn check_sealed(sealed: &SealedSecret, known: Option<&Known<'_>>) -> Vec<Problem> {
    let mut problems = Vec::new();
    let meta = &sealed.metadata;
    match meta.name.as_deref() {
        None => problems.push(Problem::new(None, "metadata.name is missing")),
        Some(name) => {
            if let Err(m) = validate::object_name(name) {
                problems.push(Problem::new(None, m));
            }
        }
    }
    if let Some(Err(m)) = meta.namespace.as_deref().map(validate::namespace) {
        problems.push(Problem::new(None, m));
    }
    if let Some(known) = known
        && let Some(wanted) = known.namespace
        && meta.namespace.as_deref() != Some(wanted)
    {
        let found = meta.namespace.as_deref().map_or_else(|| "no namespace".to_owned(), |n| format!("namespace {n}"));
        problems
            .push(Problem::new(None, format!("{found}, but {} puts this file's objects in {wanted}", known.source)));
    }
    let spec = &sealed.spec;
    if let Err(e) = Binding::new(spec.scope, meta.namespace.as_deref(), meta.name.as_deref(), "k") {
        problems.push(Problem::new(None, e.to_string()));
    }
    if let Some(metadata) = spec.template.as_ref().and_then(|t| t.metadata.as_ref())
        && let Err(m) = validate::template_metadata(&metadata.labels, &metadata.annotations)
    {
        problems.push(Problem::new(None, m));
    }
    for key in spec.key_ids.keys().filter(|k| !spec.encrypted_data.contains_key(*k)) {
        problems.push(Problem::new(Some(key), "keyIds names a key that encryptedData lacks"));
    }
    for (key, value) in &spec.encrypted_data {
        if let Err(m) = validate::data_key(key) {
            problems.push(Problem::new(Some(key), m));
        }
        let ids = spec.key_ids.get(key).map(Vec::as_slice).unwrap_or_default();
        if let Err(problem) = check_value(key, value, ids, known) {
            problems.push(problem);
        }
        let expected = Binding::new(spec.scope, meta.namespace.as_deref(), meta.name.as_deref(), key);
        if let (Ok(Some(sealed_for)), Ok(expected)) = (crate::seal::visible_binding(value), expected)
            && sealed_for != expected
        {
            problems.push(Problem::new(Some(key), moved(&sealed_for, &expected)));
        }
    }
    problems
}

fn check_value(key: &str, value: &str, ids: &[String], known: Option<&Known<'_>>) -> Result<(), Problem> {
    check_form(value, ids).map_err(|m| Problem::new(Some(key), m))?;
    let Some(known) = known else { return Ok(()) };
    check_known(key, ids, known)
}

/// The value's own form: base64, an age header of X25519 recipients, and as many
/// well-formed recorded key ids as recipients.
fn check_form(value: &str, ids: &[String]) -> Result<(), String> {
    let (bytes, envelope) = envelope::decode(value, &Limits::VALUE).map_err(|e| match e {
        UnsealError::Base64 => "value is not valid base64".to_owned(),
        _ if !value.trim().starts_with(AGE_MAGIC_BASE64) => "value is not a binary age v1 file".to_owned(),
        other => format!("value is refused: {other}"),
    })?;
    age::Decryptor::new_buffered(&bytes[..]).map_err(|_| "value's age header is malformed".to_owned())?;
    // What can be seen without a key: the payload's framing, and for format 2 that it is
    // at least as long as the header every payload starts with.
    let plaintext = envelope.framed_plaintext(bytes.len()).map_err(|m| format!("value is damaged: {m}"))?;
    if let Some(fields) = &envelope.scope
        && plaintext < Binding::header_len(fields, envelope.x25519_stanzas())
    {
        return Err(
            "value is damaged: its encrypted payload is shorter than the payload header it must hold (truncated)"
                .into(),
        );
    }
    let stanzas = envelope.recipients;
    if let Some(other) = stanzas.iter().find(|t| *t != "X25519") {
        return Err(format!("value is sealed to a {other} recipient; gitseal uses X25519 recipients only"));
    }
    if ids.is_empty() {
        return Err("keyIds records no key for this value; re-seal it with gitseal".into());
    }
    if let Some(bad) = ids.iter().find(|id| KeyId::parse(id).is_none()) {
        return Err(format!("keyIds entry {bad:?} is not a key id (32 lower-case hex digits, or 16 before format 2)"));
    }
    if ids.len() != stanzas.len() {
        return Err(format!("keyIds lists {} keys but the value has {} recipients", ids.len(), stanzas.len()));
    }
    Ok(())
}

/// Whether the recorded key ids are those `known` asks for.
fn check_known(key: &str, ids: &[String], known: &Known<'_>) -> Result<(), Problem> {
    let problem = |message: String| Problem::new(Some(key), message);
    let recorded: Vec<KeyId> = KeyId::hints(ids);
    if known.exact {
        let missing: Vec<String> = known
            .ids
            .iter()
            .filter(|k| !recorded.iter().any(|id| id.names(k)))
            .map(|k| known.label(k.as_str()))
            .collect();
        if !missing.is_empty() {
            let message = format!("value is not sealed to {} ({})", missing.join(", "), known.source);
            return Err(problem(message).remedy(Remedy::Reseal));
        }
        let strangers: Vec<String> = recorded
            .iter()
            .filter(|id| !known.ids.iter().any(|k| k.names(id)))
            .map(|id| known.label(id.as_str()))
            .collect();
        if !strangers.is_empty() {
            return Err(problem(format!(
                "value is also sealed to {}, which {} does not list",
                strangers.join(", "),
                known.source
            )));
        }
    } else if !recorded.iter().any(|id| known.ids.iter().any(|k| k.names(id))) {
        let wanted: Vec<String> = known.ids.iter().map(|k| known.label(k.as_str())).collect();
        let message = format!(
            "value is sealed to no known key (its key ids: {}; {} lists {})",
            ids.join(", "),
            known.source,
            wanted.join(", ")
        );
        return Err(problem(message).remedy(Remedy::Reseal));
    }
    Ok(())
}

/// The keys a file's values must be sealed to.
#[derive(Clone, Copy, Debug)]
pub struct Known<'a> {
    /// Their ids.
    pub ids: &'a [KeyId],
    /// Every one of them and no other (a repository rule), or at least one of them (a
    /// recipients file).
    pub exact: bool,
    /// Where they come from, for messages.
    pub source: &'a str,
    /// The namespace the rule puts this file's objects in, if it names one.
    pub namespace: Option<&'a str>,
    /// Names of keys (`prod`, `break-glass`), shown beside their ids.
    pub names: &'a [(KeyId, String)],
}

impl Known<'_> {
    /// `id`, with its name when it has one: `3f1c… (prod)`.
    fn label(&self, id: &str) -> String {
        crate::keys::key_name(self.names, id).map_or_else(|| id.to_owned(), |name| format!("{id} ({name})"))
    }
}

/// The message for a value sealed for another place than its object now says: a changed
/// `spec.scope`, name or namespace. The same words for `verify` and `set`.
pub fn moved(sealed_for: &Binding, object_says: &Binding) -> String {
    format!(
        "value is sealed for {sealed_for}, but the object now says {object_says}: spec.scope, the name or the namespace changed since it was sealed, and it will not open there; if the change is intended, seal the values again from their plaintext"
    )
}

/// A SealedSecret applied under another name or namespace than its values are bound to
/// (a kustomization renamed or re-namespaced it): those values will never unseal there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Renamed {
    /// The data keys of the values that will not open, in order.
    pub keys: Vec<String>,
    /// Where the first of them is sealed for.
    pub sealed_for: Binding,
    /// Where the object is applied, for that key.
    pub applied_as: Binding,
    /// What differs, over all those values.
    pub moved: Moved,
}

/// Checks a SealedSecret against the `namespace` and `name` it is applied with when they
/// are not its own (as a kustomization renders it): every value whose scope binds what
/// changed is [`Renamed`]. A strict value binds both, a namespace-wide one the namespace,
/// a cluster-wide one nothing. Values bound elsewhere than the object's own metadata
/// already say are left out: that is the file's own problem, which [`check_sealed`]
/// reports. Reads only the values' scope stanzas: no key needed.
pub fn check_applied_as(sealed: &SealedSecret, namespace: Option<&str>, name: Option<&str>) -> Option<Renamed> {
    let (meta, scope) = (&sealed.metadata, sealed.spec.scope);
    let mut renamed: Option<Renamed> = None;
    for (key, value) in &sealed.spec.encrypted_data {
        let Ok(Some(sealed_for)) = crate::seal::visible_binding(value) else { continue };
        let Ok(applied_as) = Binding::new(scope, namespace, name, key) else { continue };
        let own = Binding::new(scope, meta.namespace.as_deref(), meta.name.as_deref(), key);
        if own.is_ok_and(|own| own != sealed_for) {
            continue;
        }
        let Some(moved) = sealed_for.moved_to(&applied_as) else { continue };
        match &mut renamed {
            None => renamed = Some(Renamed { keys: vec![key.clone()], sealed_for, applied_as, moved }),
            Some(r) => {
                r.keys.push(key.clone());
                r.moved.namespace |= moved.namespace;
                r.moved.name |= moved.name;
            }
        }
    }
    renamed
}

/// What the controller's template `policy` refuses in a SealedSecret's template (at most
/// one finding: the first field). A warning rather than an error: the policy in force is
/// the cluster's, which an operator may extend, and the cluster is what refuses.
pub fn check_template_policy(sealed: &SealedSecret, policy: &TemplatePolicy) -> Vec<Problem> {
    match policy.check(sealed.spec.template.as_ref()) {
        Ok(()) => Vec::new(),
        Err(refusal) => vec![Problem::new(None, format!("{refusal}; the controller will not unseal it"))],
    }
}

/// A plaintext Secret that carries data is a leak when committed: one problem naming
/// its keys (never their values).
pub fn check_plain(secret: &PlainSecret) -> Vec<Problem> {
    if secret.data.is_empty() {
        return Vec::new();
    }
    let keys: Vec<&str> = secret.data.keys().map(String::as_str).collect();
    let problem = Problem::new(
        None,
        format!(
            "plaintext Secret {} with data keys [{}] is committed",
            display_name(secret.namespace.as_deref(), secret.name.as_deref()).unwrap_or_else(|| "<unnamed>".into()),
            keys.join(", ")
        ),
    );
    vec![problem.remedy(Remedy::SealAndRotate)]
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::{PlainSecret, Recipients, Scope, generate_identity, seal_secret};

    fn sealed(scope: Scope, namespace: &str) -> SealedSecret {
        let recipients = Recipients::new([generate_identity().to_public()]).unwrap();
        let mut secret =
            PlainSecret { namespace: Some(namespace.into()), name: Some("db".into()), ..Default::default() };
        for key in ["password", "user"] {
            secret.data.insert(key.into(), b"v".to_vec().into());
        }
        seal_secret(&secret, scope, None, &recipients, 1).unwrap()
    }

    #[test]
    fn a_rename_breaks_what_the_scope_binds_and_nothing_else() {
        let strict = sealed(Scope::Strict, "prod");
        assert_eq!(check_applied_as(&strict, Some("prod"), Some("db")), None, "applied as sealed");
        let renamed = check_applied_as(&strict, Some("prod"), Some("app-db")).unwrap();
        assert_eq!(renamed.keys, ["password", "user"]);
        assert_eq!(renamed.moved, Moved { namespace: false, name: true });
        assert_eq!([renamed.sealed_for.place(), renamed.applied_as.place()], ["prod/db", "prod/app-db"]);
        let moved = check_applied_as(&strict, Some("dev"), Some("db")).unwrap().moved;
        assert_eq!(moved, Moved { namespace: true, name: false });

        let wide = sealed(Scope::NamespaceWide, "prod");
        assert_eq!(check_applied_as(&wide, Some("prod"), Some("app-db")), None, "a prefix on a namespace-wide object");
        assert!(check_applied_as(&wide, Some("dev"), Some("db")).unwrap().moved.namespace);
        let anywhere = sealed(Scope::ClusterWide, "prod");
        assert_eq!(check_applied_as(&anywhere, Some("dev"), Some("app-db")), None);
    }

    #[test]
    fn a_file_at_odds_with_its_own_values_is_left_to_check_sealed() {
        let mut edited = sealed(Scope::Strict, "prod");
        edited.metadata.name = Some("web".into());
        assert!(!check_sealed(&edited, None).is_empty());
        assert_eq!(check_applied_as(&edited, Some("prod"), Some("app-web")), None);
        // A base without a namespace, which its kustomization sets: still checked.
        let mut base = sealed(Scope::Strict, "prod");
        base.metadata.namespace = None;
        assert!(check_applied_as(&base, Some("prod"), Some("app-db")).is_some());
        assert_eq!(check_applied_as(&base, Some("prod"), Some("db")), None);
    }
}
