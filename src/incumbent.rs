//! The incumbent's sealed values (bitnami sealed-secrets), opened offline with its
//! private keys: what migrating a repository to gitseal needs, and nothing more.
//!
//! ```text
//!  value = base64( len(2, big-endian) ‖ RSA-OAEP-SHA256(session key, label) ‖ AES-256-GCM(value) )
//!  label = "namespace/name" (strict) │ "namespace" (namespace-wide) │ "" (cluster-wide)
//! ```
//!
//! The AES-GCM nonce is zero: each session key seals one value. Opening runs once, on an
//! administrator's machine, with keys taken from a backup; the `rsa` crate's timing
//! advisory (RUSTSEC-2023-0071) needs an attacker who times many decryptions, which a
//! one-time offline migration does not offer.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::{Oaep, RsaPrivateKey};
use zeroize::Zeroizing;

use crate::Scope;

/// Why an incumbent's value could not be opened. Coarse, like gitseal's own errors.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IncumbentError {
    /// Not standard base64, or shorter than its own length prefix says.
    #[error("not a sealed-secrets value (bad base64 or length)")]
    Malformed,
    /// None of the keys opens it for this place (wrong key, or sealed for another
    /// namespace, name or scope: the label is part of the RSA encryption).
    #[error("none of the given sealed-secrets keys opens it for this scope, namespace and name")]
    NoMatchingKey,
    /// The session key opened, but the value fails authentication.
    #[error("the value was tampered with or truncated")]
    Tampered,
    /// A private key file holds no RSA private key gitseal can read.
    #[error("not an RSA private key in PEM (PKCS#1 or PKCS#8)")]
    BadKey,
}

/// The incumbent's private keys (RSA), as its users back them up.
pub struct IncumbentKeys(Vec<RsaPrivateKey>);

impl IncumbentKeys {
    /// Reads every PEM private key block in `text` (PKCS#1 `RSA PRIVATE KEY`, as the
    /// incumbent stores them, or PKCS#8 `PRIVATE KEY`).
    ///
    /// # Errors
    /// [`IncumbentError::BadKey`] when a block is not an RSA private key, or there is none.
    pub fn from_pem(text: &str) -> Result<IncumbentKeys, IncumbentError> {
        let mut keys = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("-----BEGIN ") {
            let block = &rest[start..];
            let end_marker = block.find("-----END ").ok_or(IncumbentError::BadKey)?;
            let end = block[end_marker..].find('\n').map_or(block.len(), |n| end_marker + n);
            let pem = Zeroizing::new(block[..end].to_owned());
            let key = RsaPrivateKey::from_pkcs1_pem(&pem)
                .or_else(|_| RsaPrivateKey::from_pkcs8_pem(&pem))
                .map_err(|_| IncumbentError::BadKey)?;
            keys.push(key);
            rest = &block[end..];
        }
        if keys.is_empty() {
            return Err(IncumbentError::BadKey);
        }
        Ok(IncumbentKeys(keys))
    }

    /// How many keys.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none (never, once built).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The label a value is sealed with: where it may be opened, as the incumbent binds it.
pub fn label(scope: Scope, namespace: &str, name: &str) -> String {
    match scope {
        Scope::Strict => format!("{namespace}/{name}"),
        Scope::NamespaceWide => namespace.to_owned(),
        Scope::ClusterWide => String::new(),
    }
}

/// Opens one of the incumbent's values sealed with `label`.
///
/// # Errors
/// As [`IncumbentError`]; never any part of the value.
pub fn open(value: &str, label: &str, keys: &IncumbentKeys) -> Result<Zeroizing<Vec<u8>>, IncumbentError> {
    let bytes = STANDARD.decode(value.trim()).map_err(|_| IncumbentError::Malformed)?;
    let (len, rest) = bytes.split_first_chunk::<2>().ok_or(IncumbentError::Malformed)?;
    let len = usize::from(u16::from_be_bytes(*len));
    if rest.len() < len {
        return Err(IncumbentError::Malformed);
    }
    let (wrapped, sealed) = rest.split_at(len);
    let session = keys
        .0
        .iter()
        .find_map(|key| key.decrypt(Oaep::new_with_label::<sha2::Sha256, _>(label), wrapped).ok())
        .map(Zeroizing::new)
        .ok_or(IncumbentError::NoMatchingKey)?;
    let cipher = Aes256Gcm::new_from_slice(&session).map_err(|_| IncumbentError::NoMatchingKey)?;
    let value = cipher.decrypt(Nonce::from_slice(&[0; 12]), sealed).map_err(|_| IncumbentError::Tampered)?;
    Ok(Zeroizing::new(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_follow_the_scope() {
        assert_eq!(label(Scope::Strict, "prod", "db"), "prod/db");
        assert_eq!(label(Scope::NamespaceWide, "prod", "db"), "prod");
        assert_eq!(label(Scope::ClusterWide, "prod", "db"), "");
    }

    #[test]
    fn malformed_values_and_keys_are_refused() {
        assert_eq!(IncumbentKeys::from_pem("no key here").err(), Some(IncumbentError::BadKey));
        let garbage = "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n";
        assert_eq!(IncumbentKeys::from_pem(garbage).err(), Some(IncumbentError::BadKey));
    }
}
