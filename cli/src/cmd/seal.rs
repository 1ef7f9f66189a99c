//! `gitseal seal` and `gitseal create`: plaintext in, SealedSecrets out, no plaintext
//! ever written to disk.

use std::collections::BTreeMap;
use std::io::IsTerminal as _;
use std::path::Path;

use anyhow::{Context, Result, bail};
use gitseal::manifest::{Document, objects, parse_documents, render, render_list};
use gitseal::{Binding, BindingError, PlainSecret, Scope, seal_secret, seal_value};
use zeroize::Zeroizing;

use crate::cli::{CreateArgs, SealArgs};
use crate::{io, repository, value};

pub fn seal(args: SealArgs) -> Result<()> {
    let repo = repository::for_sealing(&args.recipients, args.out.write.as_deref())?;
    let recipients = repo.recipients;
    // Flags win over the repository's defaults; the Secret's own namespace wins over the
    // repository's (and must agree with -n).
    let scope = args.scope.map(Scope::from).or(repo.scope).unwrap_or(Scope::Strict);
    let flag_namespace = args.namespace.as_deref();
    // Then the kubeconfig context's, as kubectl would apply the Secret there: read only
    // when a Secret names no namespace and no flag gives one.
    let fallback = std::cell::OnceCell::new();
    let fallback = || fallback.get_or_init(|| repo.namespace.clone().or_else(crate::cluster::kubeconfig_namespace));
    // A namespace gitseal chooses is said, with where it came from (`what` names the object).
    let default_namespace = |own: Option<&str>, what: &str| {
        flag_namespace.or_else(|| {
            own.map_or_else(
                || {
                    let chosen = fallback().as_ref()?;
                    chosen.say(what);
                    Some(chosen.namespace.as_str())
                },
                |_| None,
            )
        })
    };
    if args.raw {
        let key = args.key.as_deref().unwrap_or_default();
        gitseal::validate::data_key(key).map_err(|m| anyhow::anyhow!("--key {key:?}: {m}"))?;
        let namespace = if scope == Scope::ClusterWide { flag_namespace } else { default_namespace(None, "--raw") };
        let binding = Binding::new(scope, namespace, args.name.as_deref(), key).map_err(|e| match e {
            BindingError::Missing { scope, coordinate } => {
                anyhow::anyhow!("--raw: scope {scope} needs --{coordinate}; pass it, or choose a wider --scope")
            }
            BindingError::Invalid(m) => anyhow::anyhow!("--raw: {m}"),
        })?;
        let value = value::read(args.from_file.as_deref(), key, args.trim_newline)?;
        args.values.check(&format!("--raw --key {key}"), &value)?;
        let sealed = seal_value(&value, &binding, &recipients)?;
        return io::emit(&format!("{}\n", sealed.ciphertext), args.out.write.as_deref());
    }
    let input = io::read_input(&args.file)?;
    let docs = parse_documents(&input.text).with_context(|| input.label.clone())?;
    let mut sealed = Vec::new();
    let objects = objects(&docs);
    for located in &objects {
        let (document, place) = (located.document + 1, located.place());
        match located.object {
            Document::Secret(secret) => sealed.push({
                let what = format!("{}: {place} ({})", input.label, secret.name.as_deref().unwrap_or("<unnamed>"));
                for (key, value) in &secret.data {
                    args.values.check(&format!("{what}: key {key:?}"), value)?;
                }
                seal_secret(secret, scope, default_namespace(secret.namespace.as_deref(), &what), &recipients, document)
                    .map_err(with_fix)
                    .with_context(|| input.label.clone())?
            }),
            Document::Sealed(s) => bail!(
                "{}: {place} ({}) is already sealed; use `gitseal set` to change a value or `gitseal reseal` to re-encrypt it",
                input.label,
                s.metadata.name.as_deref().unwrap_or("<unnamed>")
            ),
            Document::Incumbent(_) => bail!("{}: {place} is {}", input.label, crate::cmd::migrate::MIGRATE_IT),
            Document::Other { kind: Some(kind), .. } | Document::List { kind, .. } => {
                bail!("{}: {place} is a {kind}, not a Secret; gitseal seal takes Secrets only", input.label)
            }
            Document::Other { kind: None, .. } => {
                bail!("{}: {place} is not a Kubernetes object (no kind)", input.label)
            }
        }
    }
    if sealed.is_empty() {
        bail!("{}: no Secret found in the input", input.label);
    }
    // A List read in is written out as a List.
    let format = args.out.output.into();
    let text =
        if objects.iter().any(|o| o.item.is_some()) { render_list(&sealed, format)? } else { render(&sealed, format)? };
    io::emit(&text, args.out.write.as_deref())?;
    wrote(args.out.write.as_deref(), &sealed);
    Ok(())
}

/// One line on stderr after `-w`: what the file now holds, and the next step.
fn wrote(to: Option<&Path>, sealed: &[gitseal::SealedSecret]) {
    let Some(path) = to else { return };
    let names: Vec<String> = sealed
        .iter()
        .map(|s| {
            let name = gitseal::manifest::display_name(s.metadata.namespace.as_deref(), s.metadata.name.as_deref());
            let n = s.spec.encrypted_data.len();
            format!("{} ({n} value{})", name.unwrap_or_else(|| "<unnamed>".into()), if n == 1 { "" } else { "s" })
        })
        .collect();
    eprintln!("{}: wrote {}; commit it (gitseal verify checks it first)", path.display(), names.join(", "));
}

pub fn create(args: CreateArgs) -> Result<()> {
    let repo = repository::for_sealing(&args.recipients, args.out.write.as_deref())?;
    let recipients = repo.recipients;
    let mut data: BTreeMap<String, Zeroizing<Vec<u8>>> = BTreeMap::new();
    let mut insert = |key: String, value: Zeroizing<Vec<u8>>| -> Result<()> {
        gitseal::validate::data_key(&key).map_err(|m| anyhow::anyhow!("key {key:?}: {m}"))?;
        args.values.check(&format!("key {key:?}"), &value)?;
        if data.insert(key.clone(), value).is_some() {
            bail!("key {key:?} is given twice");
        }
        Ok(())
    };
    // Typed at a shell: the value is already in its history and was in the process list.
    if !args.from_literal.is_empty() && std::io::stdin().is_terminal() {
        eprintln!(
            "gitseal: warning: --from-literal puts the value in the process list and your shell history; use --from-file KEY=PATH (or KEY=/dev/stdin to type it)"
        );
    }
    for literal in &args.from_literal {
        let (key, value) = literal.split_once('=').context("--from-literal takes KEY=VALUE")?;
        insert(key.to_owned(), Zeroizing::new(value.as_bytes().to_vec()))?;
    }
    for spec in &args.from_file {
        let (key, path) = match spec.split_once('=') {
            Some((k, p)) => (k.to_owned(), Path::new(p)),
            None => {
                let path = Path::new(spec);
                let name = path.file_name().and_then(|n| n.to_str()).context("--from-file needs a file name")?;
                (name.to_owned(), path)
            }
        };
        insert(key, io::read_value(Some(path))?)?;
    }
    let secret = PlainSecret {
        name: Some(args.name.clone()),
        namespace: args.namespace.clone().or_else(|| {
            let chosen = repo.namespace.or_else(crate::cluster::kubeconfig_namespace)?;
            chosen.say(&format!("create {}", args.name));
            Some(chosen.namespace)
        }),
        type_: Some(args.type_.clone()),
        data,
        ..PlainSecret::default()
    };
    let scope = args.scope.map(Scope::from).or(repo.scope).unwrap_or(Scope::Strict);
    let sealed = seal_secret(&secret, scope, None, &recipients, 1).map_err(with_fix).context("gitseal create")?;
    io::emit(&render(std::slice::from_ref(&sealed), args.out.output.into())?, args.out.write.as_deref())?;
    wrote(args.out.write.as_deref(), &[sealed]);
    Ok(())
}

/// The core says what a scope lacks; this says how to give it on the command line.
fn with_fix(e: gitseal::Error) -> anyhow::Error {
    let fix = match &e {
        gitseal::Error::Scope { source: BindingError::Missing { coordinate: "namespace", .. }, .. } => {
            "set metadata.namespace or pass -n/--namespace, or choose a wider --scope"
        }
        gitseal::Error::Scope { source: BindingError::Missing { .. }, .. } => {
            "set metadata.name, or choose a wider --scope"
        }
        _ => return e.into(),
    };
    anyhow::anyhow!("{e}; {fix}")
}
