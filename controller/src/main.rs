//! `gitseal-controller`: see `run` for the wiring and `reconcile` for what it does.

mod args;
mod cache;
mod decide;
mod decrypt;
mod events;
mod fairness;
#[path = "../../cli/src/hardening.rs"]
mod hardening;
mod http;
mod keys;
mod leader;
mod metrics;
mod reconcile;
mod requests;
mod reseal;
mod retry;
mod rotation;
mod run;
mod served;
mod state;
mod supervise;
mod writes;

use clap::{CommandFactory, FromArgMatches};

/// Field manager of every write the controller makes.
pub const FIELD_MANAGER: &str = "gitseal-controller";
/// What this binary is: version, commit, the sealed-value formats and the API version it
/// reads, for `--version` and `gitseal_build_info`.
pub const BUILD: gitseal::BuildInfo = gitseal::BuildInfo::new(env!("CARGO_PKG_VERSION"), env!("GITSEAL_COMMIT"));
/// Name of the leader-election Lease.
pub const LEASE_NAME: &str = "gitseal-controller";

#[tokio::main]
async fn main() -> std::process::ExitCode {
    if let Err(e) = hardening::forbid_core_dumps() {
        eprintln!("gitseal-controller: cannot turn core dumps off ({e}); not running with keys in memory");
        return std::process::ExitCode::FAILURE;
    }
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt().json().with_env_filter(filter).with_writer(std::io::stderr).init();
    match run::run(parse_args()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "gitseal-controller stopped");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The flags; `-V` prints the version and commit, `--version` also the formats and the
/// API version ([`BUILD`]).
fn parse_args() -> args::Args {
    let command = args::Args::command()
        .version(concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("GITSEAL_COMMIT"), ")"))
        // Made once per run; clap keeps &'static strs.
        .long_version(&*Box::leak(BUILD.to_string().into_boxed_str()));
    args::Args::from_arg_matches(&command.get_matches()).unwrap_or_else(|e| e.exit())
}
