//! `gitseal`: seal Kubernetes Secrets for Git, offline; manage the cluster's keys.
//!
//! Exit codes: 0 success, 1 failure (including `verify` finding problems), 2 usage.

mod cli;
mod cluster;
mod cmd;
mod glob;
mod hardening;
mod io;
mod kustomize;
mod repository;
mod sealed_file;
mod value;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

use cli::{Cli, Command, ListFormat};
use io::outln;

fn main() -> ExitCode {
    if let Err(e) = hardening::forbid_core_dumps() {
        eprintln!("gitseal: cannot turn core dumps off ({e}); not running with secrets in memory");
        return ExitCode::FAILURE;
    }
    if let Some(hint) = std::env::args().skip(1).find_map(|a| kubeseal_hint(&a)) {
        eprintln!("gitseal: {hint}");
        return ExitCode::from(2);
    }
    // Installed as `kubectl-gitseal`, it runs as `kubectl gitseal …` and says so in usage.
    let invoked = std::env::args_os().next().map(std::path::PathBuf::from);
    let plugin = invoked.as_deref().and_then(|p| p.file_name()).is_some_and(|n| n == "kubectl-gitseal");
    let command = Cli::command()
        .bin_name(if plugin { "kubectl gitseal" } else { "gitseal" })
        .version(VERSION)
        // Made once per run; clap keeps &'static strs (its `string` feature is off).
        .long_version(&*Box::leak(long_version().into_boxed_str()));
    let cli = match Cli::from_arg_matches(&command.get_matches()) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    match run(cli) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            // An error from the cluster says which cluster.
            let failed = io::PROBLEM;
            match cluster::target().filter(|_| e.chain().any(|c| c.downcast_ref::<kube::Error>().is_some())) {
                Some(target) => anstream::eprintln!("{failed}gitseal:{failed:#} {e:#} ({target})"),
                None => anstream::eprintln!("{failed}gitseal:{failed:#} {e:#}"),
            }
            ExitCode::FAILURE
        }
    }
}

/// What this binary is: version, commit, formats and API (`-V` prints its first line).
const BUILD: gitseal::BuildInfo = gitseal::BuildInfo::new(env!("CARGO_PKG_VERSION"), env!("GITSEAL_COMMIT"));

/// `-V`: the version and the commit built.
const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("GITSEAL_COMMIT"), ")");

/// `--version` and `gitseal version`: also the sealed-value formats read and written, and
/// the API version written.
fn long_version() -> String {
    BUILD.to_string()
}

/// Runs a command; `Ok(false)` means it ran but found problems.
fn run(cli: Cli) -> anyhow::Result<bool> {
    match cli.command {
        Command::Keygen { public_of: Some(file), .. } => cmd::keygen::public_of(&file)?,
        Command::Keygen { output, public_of: None } => cmd::keygen::keygen(output.as_deref())?,
        Command::Seal(args) => cmd::seal::seal(args)?,
        Command::Create(args) => cmd::seal::create(args)?,
        Command::Set { file, key, pick, from_file, values, trim_newline, recipients } => {
            let input = cmd::edit::ValueInput { from_file: from_file.as_deref(), values, trim_newline };
            cmd::edit::set(&file, pick.name.as_deref(), &key, &input, &recipients)?
        }
        Command::Unset { file, key, pick } => cmd::edit::unset(&file, pick.name.as_deref(), &key)?,
        Command::Edit { file, pick, identity, values, recipients } => {
            cmd::edit::edit(&file, pick.name.as_deref(), identity.as_deref(), values, &recipients)?
        }
        Command::Unseal { identity, file, output } => cmd::unseal::unseal(&identity, &file, output.into())?,
        Command::Verify { paths, recipients_files, exclude, allow_empty, output } => {
            return cmd::verify::verify(&paths, &recipients_files, &exclude, allow_empty, output);
        }
        Command::Inspect { paths, recipients_files, cluster, cluster_args, output } => {
            let cluster = cluster.then_some(&cluster_args);
            cmd::inspect::inspect(&paths, &recipients_files, cluster, output)?
        }
        Command::FetchKey { write, cluster } => cmd::fetch_key::fetch_key(&cluster, write.as_deref())?,
        Command::Rotate(args) => cmd::rotate::rotate(&args)?,
        Command::Reseal { paths, recipients_files, cluster } => {
            return cmd::reseal::reseal(&paths, &recipients_files, &cluster);
        }
        Command::Migrate(args) => return cmd::migrate::migrate(&args),
        Command::Updatekeys { paths, identity, dry_run } => {
            return cmd::updatekeys::updatekeys(&paths, &identity, dry_run);
        }
        Command::Keys(command) => cmd::keys::run(command)?,
        Command::Init => cmd::init::init(std::path::Path::new("."))?,
        Command::Convert { paths, check } => return cmd::convert::convert(&paths, check),
        Command::Completions { shell } => {
            // Into memory first: clap_complete panics when its writer fails (`| head -1`).
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "gitseal", &mut script);
            std::io::Write::write_all(&mut std::io::stdout().lock(), &script)?;
        }
        Command::Man { dir } => man(dir.as_deref())?,
        Command::Version { output: ListFormat::Table } => outln!("{BUILD}")?,
        Command::Version { output: ListFormat::Json } => outln!("{}", serde_json::to_string_pretty(&BUILD)?)?,
    }
    Ok(true)
}

/// The manual: the main page to stdout, or every page into `dir`.
fn man(dir: Option<&std::path::Path>) -> anyhow::Result<()> {
    let command = Cli::command().version(VERSION);
    let Some(dir) = dir else {
        let mut text = Vec::new();
        clap_mangen::Man::new(command).render(&mut text)?;
        text.extend_from_slice(MAN_SECTIONS.as_bytes());
        return Ok(std::io::Write::write_all(&mut std::io::stdout().lock(), &text)?);
    };
    std::fs::create_dir_all(dir)?;
    // Every command and subcommand (`gitseal-keys-list.1` too), as git names its pages.
    let mut pages = vec![("gitseal".to_owned(), command)];
    let mut next = 0;
    while next < pages.len() {
        let (name, page) = pages[next].clone();
        pages.extend(
            page.get_subcommands()
                .filter(|c| c.get_name() != "help")
                .map(|c| (format!("{name}-{}", c.get_name()), c.clone())),
        );
        next += 1;
    }
    for (name, page) in pages {
        let mut text = Vec::new();
        clap_mangen::Man::new(page.display_name(name.clone())).render(&mut text)?;
        text.extend_from_slice(MAN_SECTIONS.as_bytes());
        io::write_atomic(&dir.join(format!("{name}.1")), &text, Some(0o644))?;
    }
    Ok(())
}

/// The sections every page ends with, which clap does not write.
const MAN_SECTIONS: &str = r#".SH "EXIT STATUS"
0 success; 1 failure, or problems found (verify); 2 usage error.
.SH ENVIRONMENT
.TP
KUBECONFIG
the cluster of the commands that reach one (fetch\-key, rotate, keys, reseal), and the namespace a Secret without one gets, as kubectl would
.TP
GITSEAL_CONTROLLER_NAMESPACE
the controller's namespace (default gitseal\-system)
.TP
VISUAL, EDITOR
the editor of edit (else vi)
.TP
XDG_RUNTIME_DIR
where edit keeps the values while the editor runs (else /dev/shm)
.TP
NO_COLOR
no colour, even on a terminal
.SH FILES
.TP
\&.gitseal.yaml
rules per path: recipients, scope and namespace (gitseal init writes one)
.TP
\&.gitseal\-recipients
age recipients, one per line, for files below it
.TP
\&.gitsealignore
paths verify skips
.PP
Each is read from the file's directory up to the repository root (the nearest directory holding .git), never above it.
"#;

/// The gitseal way of a kubeseal flag, so its users get a pointer instead of clap's
/// nearest-spelling guess.
fn kubeseal_hint(arg: &str) -> Option<String> {
    let flag = arg.split('=').next().unwrap_or(arg);
    let instead = match flag {
        "--cert" => {
            "public keys: gitseal seal -r age1… or -R FILE (gitseal fetch-key -w .gitseal-recipients fetches them)"
        }
        "--fetch-cert" => "gitseal fetch-key (-w FILE)",
        "--merge-into" => "gitseal set FILE KEY (reads the value from stdin or a hidden prompt)",
        "--recovery-unseal" | "--recovery-private-key" => "gitseal unseal -i IDENTITY_FILE -f FILE",
        "--re-encrypt" => "gitseal reseal PATH… (the controller re-encrypts; no plaintext leaves it)",
        _ => return None,
    };
    Some(format!("{flag} is kubeseal's; in gitseal: {instead}"))
}

/// A closed stdout (`gitseal … | head`) is not an error.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe))
}
