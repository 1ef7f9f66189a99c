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
mod state;
mod supervise;
mod writes;

use clap::Parser;

/// Field manager of every write the controller makes.
pub const FIELD_MANAGER: &str = "gitseal-controller";
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
    match run::run(args::Args::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "gitseal-controller stopped");
            std::process::ExitCode::FAILURE
        }
    }
}
