//! `gitseal unseal`: offline recovery with a private key. The only command that prints
//! plaintext, and only to the administrator who holds the key.

use std::path::Path;

use anyhow::{Context, Result, bail};
use gitseal::manifest::{Document, OutputFormat, objects, parse_documents, render, render_list};
use gitseal::{KeyRing, unseal_secret};

use crate::io;

pub fn unseal(identity: &Path, file: &str, format: OutputFormat) -> Result<()> {
    let ring = io::read_identity(identity)?;
    let input = io::read_input(file)?;
    let docs = parse_documents(&input.text).with_context(|| input.label.clone())?;
    let mut secrets = Vec::new();
    let objects = objects(&docs);
    for located in &objects {
        match located.object {
            Document::Sealed(sealed) => {
                let secret = unseal_secret(sealed, &ring)
                    .map_err(|e| with_keys_named(e, &ring, identity, file))
                    .with_context(|| format!("{}: {}", input.label, located.place()))?;
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

/// A value no key of `ring` opens: which keys those are, and the names the repository
/// gives the keys it is sealed to, so the reader can tell which key they need.
fn with_keys_named(e: gitseal::Error, ring: &KeyRing, identity: &Path, file: &str) -> anyhow::Error {
    let gitseal::Error::Unseal { reason: gitseal::UnsealError::NoMatchingKey(_), .. } = &e else { return e.into() };
    let given: Vec<String> = ring.ids().iter().map(ToString::to_string).collect();
    let rule = (file != "-").then(|| crate::repository::Resolver::default().rule_for(Path::new(file)).ok().flatten());
    let named: Vec<String> =
        rule.flatten().map(|r| r.names.iter().map(|(id, name)| format!("{id} {name:?}")).collect()).unwrap_or_default();
    let names = if named.is_empty() { String::new() } else { format!(" (the repository calls {})", named.join(", ")) };
    anyhow::anyhow!("{e}; {} holds {}{names}", identity.display(), given.join(", "))
}
