//! `gitseal unseal`: offline recovery with a private key. The only command that prints
//! plaintext, and only to the administrator who holds the key.

use std::path::Path;

use anyhow::{Context, Result, bail};
use gitseal::manifest::{Document, OutputFormat, objects, parse_documents, render, render_list};
use gitseal::{KeyRing, unseal_secret};
use secrecy::{ExposeSecret, SecretString};

use crate::io;

pub fn unseal(identity: &Path, file: &str, format: OutputFormat) -> Result<()> {
    let key_text = SecretString::from(
        std::fs::read_to_string(identity)
            .with_context(|| format!("cannot read identity file {}", identity.display()))?,
    );
    let ring =
        KeyRing::parse_identity_file(key_text.expose_secret()).with_context(|| identity.display().to_string())?;
    let input = io::read_input(file)?;
    let docs = parse_documents(&input.text).with_context(|| input.label.clone())?;
    let mut secrets = Vec::new();
    let objects = objects(&docs);
    for located in &objects {
        match located.object {
            Document::Sealed(sealed) => {
                let secret =
                    unseal_secret(sealed, &ring).with_context(|| format!("{}: {}", input.label, located.place()))?;
                secrets.push(secret.to_k8s());
            }
            Document::Incumbent(_) => {
                bail!("{}: {} is {}", input.label, located.place(), crate::cmd::migrate::MIGRATE_IT)
            }
            _ => {}
        }
    }
    if secrets.is_empty() {
        bail!("{}: no SealedSecret found", input.label);
    }
    // A List read in is written out as a List.
    let text = if objects.iter().any(|o| o.item.is_some()) {
        render_list(&secrets, format)?
    } else {
        render(&secrets, format)?
    };
    io::emit(&text, None)
}
