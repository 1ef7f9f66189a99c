//! Errors of the core library. Messages never contain secret values: they name the
//! document, the object and the data key, never what a key holds.

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a value could not be unsealed. Deliberately coarse, like age's own errors: a
/// failure says which check failed, never anything about the plaintext.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UnsealError {
    /// The value is not valid base64.
    #[error("the sealed value is not valid base64")]
    Base64,
    /// The bytes are not an age file gitseal can read (wrong header, unknown version).
    #[error("the sealed value is not a valid age file ({0})")]
    Malformed(&'static str),
    /// None of the keys at hand is a recipient of the value.
    #[error("no key at hand can open this value (sealed to key ids: {0})")]
    NoMatchingKey(String),
    /// A matching key was found but the ciphertext failed authentication: tampered or
    /// truncated.
    #[error("decryption failed: the value was tampered with or truncated")]
    Tampered,
    /// The value opened, but it was sealed for another place. Both places are public
    /// metadata; [`Binding::moved_to`](crate::Binding::moved_to) tells a renamed object
    /// from a value copied elsewhere.
    #[error("the value was sealed for {sealed_for}, not for {used_as}")]
    ScopeMismatch {
        /// Where the payload header says the value belongs.
        sealed_for: Box<crate::Binding>,
        /// Where it is being unsealed.
        used_as: Box<crate::Binding>,
    },
    /// The value opened but carries no valid gitseal payload header.
    #[error("the value opened but its gitseal payload header is missing or unknown")]
    BadPayload,
    /// The value opened, but could not be sealed again (re-sealing only): e.g. the
    /// published key plus the earlier recipients kept would exceed the recipient bound.
    #[error("the value opened but cannot be sealed again: {0}")]
    CannotReseal(String),
    /// Opening the object would take more key trials (recipient stanzas × keys tried)
    /// than the bound: refused before the work is done.
    #[error("opening this object would take more than {0} key trials (values × recipient stanzas × keys); refused")]
    OverBudget(usize),
}

/// Everything that can go wrong in the core library.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A YAML or JSON document could not be parsed.
    #[error("document {document}: {message}")]
    Parse {
        /// 1-based index of the document in its stream.
        document: usize,
        /// What the parser said (without any value).
        message: String,
    },
    /// A document parsed but is not what the operation needs.
    #[error("document {document}{}: {message}", describe(.name))]
    Invalid {
        /// 1-based index of the document.
        document: usize,
        /// `namespace/name` of the object, where known.
        name: Option<String>,
        /// What is wrong and what to do.
        message: String,
    },
    /// The object lacks what its scope binds, or a coordinate breaks the naming rules.
    #[error("document {document}{}: {source}", describe(.name))]
    Scope {
        /// 1-based index of the document.
        document: usize,
        /// `namespace/name` of the object, where known.
        name: Option<String>,
        /// What the scope needs.
        #[source]
        source: crate::binding::BindingError,
    },
    /// A data key's value could not be used.
    #[error("document {document}{}, key {key:?}: {message}", describe(.name))]
    Key {
        /// 1-based index of the document.
        document: usize,
        /// `namespace/name` of the object, where known.
        name: Option<String>,
        /// The data key.
        key: String,
        /// What is wrong and what to do.
        message: String,
    },
    /// A data key's value could not be unsealed.
    #[error("{}key {key:?}: {reason}", describe_prefix(.name))]
    Unseal {
        /// `namespace/name` of the object, where known.
        name: Option<String>,
        /// The data key.
        key: String,
        /// Why: in the message already, so not a `source` (a chain printed whole would
        /// say it twice).
        reason: UnsealError,
    },
    /// A recipient or recipients file line is not an X25519 age recipient.
    #[error("recipient {line}: {message}")]
    Recipient {
        /// Where: `line N` or the recipient text itself (public, so safe to show).
        line: String,
        /// What is wrong.
        message: String,
    },
    /// A private key (`AGE-SECRET-KEY-1…`) was given where a recipient belongs. Never
    /// echoed; each binary says how to get its public key.
    #[error(
        "recipient {line}: this is a private key, not a recipient: pass its public key, and keep the private key out of command lines and shell history"
    )]
    PrivateKeyAsRecipient {
        /// Where: `given` or `on line N`.
        line: String,
    },
    /// An identity file could not be read.
    #[error("identity file, line {line}: {message}")]
    Identity {
        /// 1-based line number.
        line: usize,
        /// What is wrong (never the key itself).
        message: &'static str,
    },
    /// A value cannot be sealed for this place: a namespace, name or key breaks Kubernetes'
    /// naming rules, so the payload header would be ambiguous.
    #[error("cannot seal a value for {0}: its namespace, name or key breaks Kubernetes' naming rules")]
    Binding(String),
    /// Encryption failed inside age.
    #[error("age encryption failed: {0}")]
    Encrypt(String),
    /// A key backup could not be read or built.
    #[error("key backup{}: {message}", at_line(*.line))]
    Backup {
        /// 1-based line number; 0 when the problem is the backup as a whole.
        line: usize,
        /// What is wrong (never the key itself).
        message: &'static str,
    },
    /// An age file could not be decrypted. Deliberately coarse, like age's own errors.
    #[error("cannot decrypt: {0}")]
    Decrypt(&'static str),
    /// Output could not be rendered.
    #[error("cannot render output: {0}")]
    Render(String),
}

fn describe(name: &Option<String>) -> String {
    name.as_ref().map(|n| format!(" ({n})")).unwrap_or_default()
}

fn at_line(line: usize) -> String {
    if line == 0 { String::new() } else { format!(", line {line}") }
}

fn describe_prefix(name: &Option<String>) -> String {
    name.as_ref().map(|n| format!("{n}, ")).unwrap_or_default()
}
