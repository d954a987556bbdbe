//! `cardstation`: the command-line client. Every command prints human text,
//! or one JSON document with `--json`; failures exit non-zero with a typed
//! `{code, message}` error (JSON on stdout when `--json`).
#![forbid(unsafe_code)]

mod admin;
mod batch;
mod card;
mod connect;
mod failure;
mod lifecycle;
mod offline;
mod personalize;
mod provision;
mod secrets;
mod station;
mod temporary;
mod text;
mod update;
mod walkup;

use clap::{Parser, Subcommand};
use failure::Failure;

/// Cardstation credential management workstation.
#[derive(Debug, Parser)]
#[command(name = "cardstation", version, about)]
struct Cli {
    /// Print one JSON document instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(flatten)]
    data: station::DataDir,
    #[command(subcommand)]
    command: Top,
}

#[derive(Debug, Subcommand)]
enum Top {
    /// Work with the card in a reader (PIV over PC/SC).
    #[command(subcommand)]
    Card(card::CardCommand),
    /// The operator use cases against the registry (enroll, request, approve, issue, …).
    #[command(flatten)]
    Station(station::StationCommand),
    /// After issuance: retire, PIN, audit.
    #[command(flatten)]
    Lifecycle(lifecycle::LifecycleCommand),
    /// Temporary cards: order, produced, init, assign, withdraw, lock, expire, list (UC-TEMP).
    #[command(subcommand)]
    Temp(temporary::TempCommand),
    /// Updates: request an update, collect updates.
    #[command(flatten)]
    Update(update::UpdateCommand),
    /// Issue multiple cards (UC-BATCH): approved requests on every reader in parallel.
    #[command(subcommand)]
    Batch(batch::BatchCommand),
    /// Offline PIN unblock by challenge–response: the cardholder away, the helpdesk online.
    #[command(subcommand)]
    UnblockOffline(offline::UnblockOfflineCommand),
    /// Administration: roles, who holds them, use cases (UC-ADMIN, Administer).
    #[command(subcommand)]
    Admin(admin::AdminCommand),
    /// Provisioning tasks: people enroll their own card at a kiosk with a mailed code (UC-PROV).
    #[command(subcommand)]
    Provision(provision::ProvisionCommand),
    /// The walk-up kiosk in a terminal: a cardholder's enrollment code, their own PIN, their card (UC-WALKUP).
    Walkup(walkup::WalkupArgs),
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("CARDSTATION_LOG"))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let outcome = match cli.command {
        Top::Card(command) => card::run(command, cli.json),
        Top::Station(command) => station::run(command, &cli.data, cli.json),
        Top::Lifecycle(command) => lifecycle::run(command, &cli.data, cli.json),
        Top::Temp(command) => temporary::run(command, &cli.data, cli.json),
        Top::Update(command) => update::run(command, &cli.data, cli.json),
        Top::Batch(command) => batch::run(command, &cli.data, cli.json),
        Top::UnblockOffline(command) => offline::run(command, &cli.data, cli.json),
        Top::Admin(command) => admin::run(command, &cli.data, cli.json),
        Top::Provision(command) => provision::run(command, &cli.data, cli.json),
        Top::Walkup(args) => walkup::run(args, &cli.data, cli.json),
    };
    match outcome {
        Ok(value) => {
            if cli.json {
                // Streaming commands (`card watch`) have printed their lines already.
                if !value.json.is_null() {
                    println!("{}", serde_json::to_string_pretty(&value.json).unwrap_or_default());
                }
            } else {
                print!("{}", value.text);
            }
        }
        Err(failure) => {
            if cli.json {
                println!(
                    "{}",
                    serde_json::json!({ "error": { "code": failure.code, "message": failure.message } })
                );
            } else {
                eprint!("{}", failure.text());
            }
            std::process::exit(failure.exit_code());
        }
    }
}

/// What a command produced: the same result as text and as JSON.
#[derive(Debug)]
pub struct Output {
    /// For people.
    pub text: String,
    /// For scripts (`--json`).
    pub json: serde_json::Value,
}

/// The result of a command.
pub type CommandResult = Result<Output, Failure>;

#[cfg(test)]
mod tests {
    /// clap's own consistency checks over every command (they otherwise
    /// fire only when a debug build parses that command).
    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
