//! One key of the controller's ring: the private key with the Secret it lives in, when it
//! was created and where it stands. What the key Secrets are read into
//! ([`crate::key_secrets`]) and what a backup holds ([`crate::KeyBackup`]).
//!
//! ```text
//!  key Secret ──key_secrets::order──▶ ClusterKey ◀──KeyBackup::parse── backup file
//!                                         │
//!                                         └──published──▶ keys.json entry (public facts)
//! ```

use std::fmt;

use age::x25519;
use k8s_openapi::jiff::Timestamp;

use gitseal_crds::storage::{KeyStatus, PublishedKey};

use crate::error::{Error, Result};
use crate::keys::KeyId;
use crate::validate;

/// One key of the ring: the private key and where it lived.
///
/// Guarantees: the private key is zeroized on drop and `Debug` shows only public facts.
#[derive(Clone)]
pub struct ClusterKey {
    id: KeyId,
    identity: x25519::Identity,
    secret: String,
    created: Timestamp,
    status: KeyStatus,
}

impl fmt::Debug for ClusterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterKey")
            .field("id", &self.id)
            .field("secret", &self.secret)
            .field("created", &self.created)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

impl ClusterKey {
    /// A key with its metadata.
    ///
    /// # Errors
    /// [`Error::Backup`] when `secret` is not a valid object name.
    pub fn new(identity: x25519::Identity, secret: &str, created: Timestamp, status: KeyStatus) -> Result<ClusterKey> {
        check_secret(secret).map_err(|message| Error::Backup { line: 0, message })?;
        let id = KeyId::of(&identity.to_public());
        Ok(ClusterKey { id, identity, secret: secret.to_owned(), created, status })
    }

    /// The key id.
    pub fn id(&self) -> &KeyId {
        &self.id
    }

    /// The private key.
    pub fn identity(&self) -> &x25519::Identity {
        &self.identity
    }

    /// The public `age1…` recipient.
    pub fn recipient(&self) -> x25519::Recipient {
        self.identity.to_public()
    }

    /// Name of the Secret the key was stored in.
    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// When the key was created.
    pub fn created(&self) -> Timestamp {
        self.created
    }

    /// Its state in the ring (or when it was backed up).
    pub fn status(&self) -> KeyStatus {
        self.status
    }

    /// Changes its state (the ring marks its newest active key published).
    pub fn set_status(&mut self, status: KeyStatus) {
        self.status = status;
    }

    /// What `keys.json` says about it: public facts only.
    pub fn published(&self) -> PublishedKey {
        PublishedKey {
            id: self.id.to_string(),
            recipient: self.recipient().to_string(),
            created: self.created.to_string(),
            secret: self.secret.clone(),
            state: Some(self.status),
        }
    }
}

/// Checks the name of the Secret a key lives in.
pub(crate) fn check_secret(secret: &str) -> Result<(), &'static str> {
    validate::object_name(secret).map_err(|_| "secret= is not a valid Secret name")
}
