//! Offline checks of a repository's manifests, without any private key: what CI runs.
//!
//! ```text
//!  Document::Sealed ──check_sealed──▶ [Problem]   (base64, age header, key ids, scope, names)
//!  Document::Secret ──check_plain───▶ [Problem]   (plaintext committed: a leak)
//!  Document::Sealed ──check_template_policy──▶ [Problem] as warnings (the controller's
//!                                             default policy would refuse it)
//! ```

use crate::binding::Binding;
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
        let missing: Vec<&str> =
            known.ids.iter().filter(|k| !recorded.iter().any(|id| id.names(k))).map(KeyId::as_str).collect();
        if !missing.is_empty() {
            let message = format!("value is not sealed to {} ({})", missing.join(", "), known.source);
            return Err(problem(message).remedy(Remedy::Reseal));
        }
        let strangers: Vec<&str> =
            recorded.iter().filter(|id| !known.ids.iter().any(|k| k.names(id))).map(KeyId::as_str).collect();
        if !strangers.is_empty() {
            return Err(problem(format!(
                "value is also sealed to {}, which {} does not list",
                strangers.join(", "),
                known.source
            )));
        }
    } else if !recorded.iter().any(|id| known.ids.iter().any(|k| k.names(id))) {
        let message = format!("value is sealed to no known key (its key ids: {})", ids.join(", "));
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
}

/// The message for a value sealed for another place than its object now says: a changed
/// `spec.scope`, name or namespace. The same words for `verify` and `set`.
pub fn moved(sealed_for: &Binding, object_says: &Binding) -> String {
    format!(
        "value is sealed for {sealed_for}, but the object now says {object_says}: spec.scope, the name or the namespace changed since it was sealed, and it will not open there; if the change is intended, seal the values again from their plaintext"
    )
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
