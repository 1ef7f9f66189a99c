//! Sealing and unsealing: one value, and a whole Secret.
//!
//! ```text
//!  value ─┐
//!         ├─ header line (Binding) + value ──age (X25519 recipients)──▶ base64 ──▶ encryptedData[key]
//!  scope ─┘                                                     key ids ──▶ keyIds[key]
//! ```

use std::collections::{BTreeMap, HashSet};
use std::io::{Read, Write};

use age::x25519;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use zeroize::Zeroizing;

use crate::binding::{Binding, SealedTo};
use crate::envelope::{self, Limits};
use crate::error::{Error, Result, UnsealError};
use crate::keys::{KeyId, KeyRing, Recipients};
use crate::manifest::{PlainSecret, display_name, secret_type};
use crate::{MAX_SECRET_SIZE, Scope, SealedSecret, SealedSecretSpec, validate};
use gitseal_crds::{SecretTemplate, TemplateMetadata};

/// Annotation kubectl adds to applied objects; it may hold a Secret's plaintext, so it
/// is never copied into a template.
pub(crate) const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// One sealed value, as stored in `spec.encryptedData` and `spec.keyIds`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedValue {
    /// Standard base64 of the binary age file.
    pub ciphertext: String,
    /// Ids of the recipients it is sealed to, in order.
    pub key_ids: Vec<KeyId>,
}

/// Seals one value for `binding` to every recipient.
///
/// # Errors
/// [`Error::Binding`] when a coordinate of `binding` breaks Kubernetes' naming rules (the
/// header would be ambiguous); [`Error::Encrypt`] if age refuses the recipients (it does
/// not for X25519 keys).
pub fn seal_value(value: &[u8], binding: &Binding, recipients: &Recipients) -> Result<SealedValue> {
    // `Binding::new` checks the coordinates; a binding built by hand is checked here.
    if !binding.coordinates_valid() {
        return Err(Error::Binding(binding.to_string()));
    }
    let header = binding.header(recipients.iter().map(|(_, r)| r));
    let mut payload = Zeroizing::new(Vec::with_capacity(header.len() + value.len()));
    payload.extend_from_slice(header.as_bytes());
    payload.extend_from_slice(value);

    let scope = ScopeStanza(binding);
    let stanzas = recipients.iter().map(|(_, r)| r as &dyn age::Recipient).chain([&scope as &dyn age::Recipient]);
    let encryptor = age::Encryptor::with_recipients(stanzas).map_err(|e| Error::Encrypt(e.to_string()))?;
    let mut out = Vec::with_capacity(payload.len() + 256);
    let mut writer = encryptor.wrap_output(&mut out).map_err(|e| Error::Encrypt(e.to_string()))?;
    writer.write_all(&payload).map_err(|e| Error::Encrypt(e.to_string()))?;
    writer.finish().map_err(|e| Error::Encrypt(e.to_string()))?;
    Ok(SealedValue { ciphertext: STANDARD.encode(&out), key_ids: recipients.ids() })
}

/// Opens one value and checks that it was sealed for `expected`.
///
/// `hint` are the key ids recorded beside the value; those keys are tried first.
///
/// # Errors
/// An [`UnsealError`]: not base64, not an age file (or larger than the format's bounds),
/// no matching key, tampered or truncated, bad payload header, sealed for another scope /
/// namespace / name / key, or more key trials than [`Budget::PER_OBJECT`].
pub fn unseal_value(
    ciphertext: &str,
    expected: &Binding,
    keys: &KeyRing,
    hint: &[KeyId],
) -> Result<Zeroizing<Vec<u8>>, UnsealError> {
    unseal_within(ciphertext, expected, keys, hint, &mut Budget::default())
}

fn unseal_within(
    ciphertext: &str,
    expected: &Binding,
    keys: &KeyRing,
    hint: &[KeyId],
    budget: &mut Budget,
) -> Result<Zeroizing<Vec<u8>>, UnsealError> {
    let opened = open_within(ciphertext, keys, hint, budget)?;
    if opened.binding != *expected {
        return Err(UnsealError::ScopeMismatch {
            sealed_for: Box::new(opened.binding),
            used_as: Box::new(expected.clone()),
        });
    }
    Ok(opened.value)
}

/// How many key trials (one X25519 key agreement: a recipient stanza against a key of
/// the ring) opening one object may cost. Bounds what a hostile object can make an
/// unsealer spend, whatever its number of values, stanzas and the size of the ring.
#[derive(Debug)]
pub struct Budget {
    trials: usize,
}

impl Budget {
    /// Trials one object may use. A value is charged its X25519 stanzas times the keys
    /// tried: with its hinted key, 2,048 values sealed to one recipient fit, or 1,024
    /// sealed to two; a value without a hint costs that for every key of the ring.
    pub const PER_OBJECT: usize = 2048;

    /// Charges `trials`, or refuses when they exceed what is left.
    fn charge(&mut self, trials: usize) -> Result<(), UnsealError> {
        self.trials = self.trials.checked_sub(trials).ok_or(UnsealError::OverBudget(Budget::PER_OBJECT))?;
        Ok(())
    }
}

impl Default for Budget {
    fn default() -> Budget {
        Budget { trials: Budget::PER_OBJECT }
    }
}

/// A value opened but not yet checked against where it is used.
pub struct Opened {
    /// Where the value may be unsealed, as bound inside it.
    pub binding: Binding,
    /// Whom it was sealed to, as bound inside it.
    pub sealed_to: SealedTo,
    /// The plaintext.
    pub value: Zeroizing<Vec<u8>>,
}

/// Decrypts one value and parses its payload header, without checking the binding.
///
/// # Errors
/// As [`unseal_value`], except the scope check.
pub fn open_value(ciphertext: &str, keys: &KeyRing, hint: &[KeyId]) -> Result<Opened, UnsealError> {
    open_within(ciphertext, keys, hint, &mut Budget::default())
}

/// Opens one value, charging its key trials to `budget`. The shape is checked in linear
/// time before age parses anything ([`envelope::decode`]); the hinted keys are tried
/// first, and the others only if they fail and the budget allows.
fn open_within(ciphertext: &str, keys: &KeyRing, hint: &[KeyId], budget: &mut Budget) -> Result<Opened, UnsealError> {
    let (bytes, envelope) = envelope::decode(ciphertext, &Limits::VALUE)?;
    let x25519 = envelope.x25519_stanzas();
    let [hinted, others] = keys.split_by_hint(hint);
    let check = |opened: Opened| check_scope_stanza(envelope.scope.as_deref(), opened);
    if !hinted.is_empty() {
        budget.charge(x25519 * hinted.len())?;
        match decrypt_with(&bytes, &hinted, hint) {
            Err(UnsealError::NoMatchingKey(_)) if !others.is_empty() => {}
            done => return done.and_then(check),
        }
    }
    budget.charge(x25519 * others.len())?;
    decrypt_with(&bytes, &others, hint).and_then(check)
}

/// The scope stanza must say what the payload header says (age's header MAC, checked
/// by now, proves nobody changed it since sealing): a sealer cannot show one binding in
/// clear and bind another. Format 2 always writes it; format 1 never did.
fn check_scope_stanza(stanza: Option<&[String]>, opened: Opened) -> Result<Opened, UnsealError> {
    match (stanza, &opened.sealed_to) {
        (Some(fields), _) if Binding::from_fields(fields).as_ref() != Some(&opened.binding) => {
            Err(UnsealError::BadPayload)
        }
        (None, SealedTo::Recipients(_)) => Err(UnsealError::BadPayload),
        _ => Ok(opened),
    }
}

/// Where a value says, in clear, it may be opened: its scope stanza, read without any
/// key. `None` for values sealed before format 2, which have none. Not proof by itself:
/// only an unsealer, after age's header MAC, knows nobody changed it; but a value whose
/// stanza differs from what it binds inside never opens, so a sealer (`set`) and CI
/// (`verify`) may rely on it to notice a changed `spec.scope` or name.
///
/// # Errors
/// As [`envelope::decode`]; [`UnsealError::BadPayload`] when the stanza is not a binding.
pub fn visible_binding(ciphertext: &str) -> Result<Option<Binding>, UnsealError> {
    let (_, envelope) = envelope::decode(ciphertext, &Limits::VALUE)?;
    envelope.scope.map(|fields| Binding::from_fields(&fields).ok_or(UnsealError::BadPayload)).transpose()
}

/// An age "recipient" that wraps no key: it writes a value's binding as a stanza that
/// anyone can read (`gitseal set` checks it against `spec.scope`; `age` skips it).
struct ScopeStanza<'a>(&'a Binding);

impl age::Recipient for ScopeStanza<'_> {
    fn wrap_file_key(
        &self,
        _: &age_core::format::FileKey,
    ) -> Result<(Vec<age_core::format::Stanza>, HashSet<String>), age::EncryptError> {
        let args = self.0.fields().into_iter().map(str::to_owned).collect();
        let stanza = age_core::format::Stanza { tag: envelope::SCOPE_TAG.to_owned(), args, body: Vec::new() };
        Ok((vec![stanza], HashSet::new()))
    }
}

/// Decrypts a value whose shape [`envelope::decode`] accepted, with `identities`.
fn decrypt_with(bytes: &[u8], identities: &[&x25519::Identity], hint: &[KeyId]) -> Result<Opened, UnsealError> {
    let decryptor = age::Decryptor::new_buffered(bytes).map_err(|e| match e {
        age::DecryptError::UnknownFormat => UnsealError::Malformed("unknown age version"),
        _ => UnsealError::Malformed("bad age header"),
    })?;
    if decryptor.is_scrypt() {
        return Err(UnsealError::Malformed("passphrase-encrypted age file; gitseal values are sealed to X25519 keys"));
    }
    let mut reader = decryptor.decrypt(identities.iter().map(|i| *i as &dyn age::Identity)).map_err(|e| match e {
        age::DecryptError::NoMatchingKeys => UnsealError::NoMatchingKey(describe_hint(hint)),
        age::DecryptError::InvalidHeader => UnsealError::Malformed("bad age header"),
        _ => UnsealError::Tampered,
    })?;
    let mut payload = Zeroizing::new(Vec::with_capacity(bytes.len()));
    reader.read_to_end(&mut payload).map_err(|_| UnsealError::Tampered)?;
    let payload = Binding::split_payload(&payload)?;
    Ok(Opened { binding: payload.binding, sealed_to: payload.sealed_to, value: Zeroizing::new(payload.value.to_vec()) })
}

/// What re-sealing one value made, and whom it no longer reaches.
#[derive(Debug)]
pub struct Resealed {
    /// The value sealed again.
    pub value: SealedValue,
    /// Earlier recipients that are not cluster keys and were not kept: their public key
    /// was not offered, or the value names them only by a 64-bit id (format 1), which
    /// cannot prove who a public key belongs to.
    pub dropped: Vec<KeyId>,
    /// Earlier recipients never kept because the cluster retired them.
    pub retired: Vec<KeyId>,
}

/// Re-encrypts one value to the cluster's `published` key, keeping its binding (from
/// the payload, never from the caller) and those of its earlier recipients that are not
/// cluster keys, are not `retired`, and whose exact public key the caller supplied in
/// `candidates` and the payload names (format 2 names recipients by their full public
/// keys; format 1 only by 64-bit ids, which are not trusted for this). Never seals to
/// anyone the value was not already sealed to, other than `published`: the result can
/// be opened by no one who could not open the original.
///
/// Its key trials are charged to `budget`, which the caller shares across everything one
/// requester asked for at once (all the values of a re-seal request), so that a request of
/// many values costs no more than one object may.
///
/// # Errors
/// As [`open_value`]; [`UnsealError::OverBudget`] once `budget` is spent.
pub fn reseal_value(
    ciphertext: &str,
    keys: &KeyRing,
    hint: &[KeyId],
    published: &x25519::Recipient,
    candidates: &[x25519::Recipient],
    retired: &[x25519::Recipient],
    budget: &mut Budget,
) -> Result<Resealed, UnsealError> {
    let opened = open_within(ciphertext, keys, hint, budget)?;
    let is_retired = |id: &KeyId| retired.iter().any(|r| KeyId::of(r).names(id));
    let mut keep = vec![published.clone()];
    let (mut dropped, mut retired_ids) = (Vec::new(), Vec::new());
    match &opened.sealed_to {
        SealedTo::Recipients(earlier) => {
            for r in earlier.iter().filter(|r| !keys.holds(r)) {
                let id = KeyId::of(r);
                if retired.iter().any(|k| k.to_string() == r.to_string()) {
                    retired_ids.push(id);
                } else if candidates.iter().any(|c| c.to_string() == r.to_string()) {
                    keep.push(r.clone());
                } else {
                    dropped.push(id);
                }
            }
        }
        SealedTo::LegacyIds(ids) => {
            for id in ids.iter().filter(|id| !keys.contains(id)) {
                if is_retired(id) { retired_ids.push(id.clone()) } else { dropped.push(id.clone()) }
            }
        }
        SealedTo::Unrecorded => {}
    }
    let cannot = |e: Error| UnsealError::CannotReseal(e.to_string());
    let recipients = Recipients::new(keep).map_err(cannot)?;
    let value = seal_value(&opened.value, &opened.binding, &recipients).map_err(cannot)?;
    Ok(Resealed { value, dropped, retired: retired_ids })
}

/// The recorded key ids for a message: only well-formed ids, at most eight, since the
/// list comes from the object and ends up in status and Events.
fn describe_hint(hint: &[KeyId]) -> String {
    let ids: Vec<&str> = hint.iter().map(KeyId::as_str).take(8).collect();
    if ids.is_empty() { "unrecorded".into() } else { ids.join(", ") }
}

/// Seals a whole Secret into a SealedSecret.
///
/// The Secret's own namespace wins; `default_namespace` (e.g. from `-n`) fills it in when
/// absent and must agree when both are set. `document` numbers messages.
///
/// # Errors
/// [`Error::Invalid`] / [`Error::Key`] naming the document and key: missing name or a
/// namespace the scope needs, invalid names or data keys, data over 1 MiB, a label or
/// annotation gitseal reserves ([`validate::template_metadata`]).
pub fn seal_secret(
    secret: &PlainSecret,
    scope: Scope,
    default_namespace: Option<&str>,
    recipients: &Recipients,
    document: usize,
) -> Result<SealedSecret> {
    let invalid = |message: String| Error::Invalid { document, name: secret.display_name(), message };
    let namespace = match (secret.namespace.as_deref(), default_namespace) {
        (Some(own), Some(flag)) if own != flag => {
            return Err(invalid(format!(
                "the Secret says namespace {own:?} but the namespace given is {flag:?}; remove one"
            )));
        }
        (Some(ns), _) | (None, Some(ns)) => Some(ns.to_owned()),
        (None, None) => None,
    };
    let name = secret.name.clone().ok_or_else(|| invalid("the Secret has no metadata.name".into()))?;
    validate::object_name(&name).map_err(&invalid)?;
    if let Some(ns) = &namespace {
        validate::namespace(ns).map_err(&invalid)?;
    }
    let scoped = |source| Error::Scope { document, name: secret.display_name(), source };
    Binding::new(scope, namespace.as_deref(), Some(&name), "probe").map_err(scoped)?;
    check_data(secret, document)?;
    let template = template_of(secret);
    if let Some(metadata) = &template.metadata {
        validate::template_metadata(&metadata.labels, &metadata.annotations).map_err(&invalid)?;
    }

    let mut spec = SealedSecretSpec { scope, template: Some(template), ..SealedSecretSpec::default() };
    for (key, value) in &secret.data {
        let binding = Binding::new(scope, namespace.as_deref(), Some(&name), key).map_err(scoped)?;
        let sealed = seal_value(value, &binding, recipients)?;
        spec.key_ids.insert(key.clone(), sealed.key_ids.iter().map(KeyId::to_string).collect());
        spec.encrypted_data.insert(key.clone(), sealed.ciphertext);
    }
    let mut sealed = SealedSecret::new(&name, spec);
    sealed.metadata.namespace = namespace;
    Ok(sealed)
}

/// Checks data keys and the 1 MiB limit of a Secret about to be sealed or written.
fn check_data(secret: &PlainSecret, document: usize) -> Result<()> {
    for key in secret.data.keys() {
        validate::data_key(key).map_err(|message| Error::Key {
            document,
            name: secret.display_name(),
            key: key.clone(),
            message,
        })?;
    }
    if secret.data_size() > MAX_SECRET_SIZE {
        return Err(Error::Invalid {
            document,
            name: secret.display_name(),
            message: format!(
                "data totals {} bytes, over Kubernetes' limit of {MAX_SECRET_SIZE} bytes per Secret",
                secret.data_size()
            ),
        });
    }
    Ok(())
}

fn template_of(secret: &PlainSecret) -> SecretTemplate {
    let mut annotations = secret.annotations.clone();
    annotations.remove(LAST_APPLIED);
    let metadata = (!secret.labels.is_empty() || !annotations.is_empty())
        .then(|| TemplateMetadata { labels: secret.labels.clone(), annotations });
    SecretTemplate {
        metadata,
        type_: Some(secret_type(secret.type_.as_deref()).to_owned()),
        immutable: secret.immutable,
    }
}

/// Unseals every value of a SealedSecret into the Secret it declares. All or nothing:
/// the first value that fails stops the whole operation.
///
/// # Errors
/// [`Error::Unseal`] naming the key that failed and why; [`Error::Invalid`] when the
/// object lacks the name or namespace its scope binds, or the result exceeds 1 MiB.
pub fn unseal_secret(sealed: &SealedSecret, keys: &KeyRing) -> Result<PlainSecret> {
    let ObjectMeta { name, namespace, .. } = &sealed.metadata;
    let who = display_name(namespace.as_deref(), name.as_deref());
    let spec = &sealed.spec;
    let mut budget = Budget::default();
    let mut data = BTreeMap::new();
    for (key, ciphertext) in &spec.encrypted_data {
        let fail = |reason| Error::Unseal { name: who.clone(), key: key.clone(), reason };
        validate::data_key(key).map_err(|message| Error::Key {
            document: 1,
            name: who.clone(),
            key: key.clone(),
            message,
        })?;
        let binding = Binding::new(spec.scope, namespace.as_deref(), name.as_deref(), key)
            .map_err(|source| Error::Scope { document: 1, name: who.clone(), source })?;
        let hint = KeyId::hints(spec.key_ids.get(key).map(Vec::as_slice).unwrap_or_default());
        data.insert(key.clone(), unseal_within(ciphertext, &binding, keys, &hint, &mut budget).map_err(fail)?);
    }
    let template = spec.template.clone().unwrap_or_default();
    let metadata = template.metadata.unwrap_or_default();
    let secret = PlainSecret {
        name: name.clone(),
        namespace: namespace.clone(),
        labels: metadata.labels,
        annotations: metadata.annotations,
        type_: template.type_,
        immutable: template.immutable,
        data,
    };
    check_data(&secret, 1)?;
    Ok(secret)
}
