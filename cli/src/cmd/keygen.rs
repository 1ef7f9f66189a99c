//! `gitseal keygen`: a new X25519 identity in the age identity-file format, or (`-y`) the
//! public key of an existing one.

use std::path::Path;

use anyhow::Result;
use gitseal::{generate_identity, identity_file};
use k8s_openapi::jiff::{Timestamp, Unit};
use secrecy::ExposeSecret;

use crate::io;

pub fn keygen(output: Option<&Path>) -> Result<()> {
    let identity = generate_identity();
    let now = Timestamp::now();
    let text = identity_file(&identity, &now.round(Unit::Second).unwrap_or(now).to_string());
    let recipient = identity.to_public().to_string();
    match output {
        Some(path) => {
            io::write_new_private(path, text.expose_secret().as_bytes())?;
            crate::io::outln!("{recipient}")?;
        }
        None => {
            eprintln!("Public key: {recipient}");
            io::emit(text.expose_secret(), None)?;
        }
    }
    Ok(())
}

/// Prints the public key of every identity in an identity file, one per line.
pub fn public_of(path: &Path) -> Result<()> {
    let ring = io::read_identity(path)?;
    let lines: String = ring.recipients().iter().map(|r| format!("{r}\n")).collect();
    io::emit(&lines, None)
}
