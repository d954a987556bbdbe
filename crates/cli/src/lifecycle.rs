//! The card after issuance and the trail it leaves: UC-RETIRE
//! (`deactivate`, `reactivate`, `cancel-device`, `erase`), UC-PIN
//! (`unblock`, `change-pin`) and UC-AUDIT (`audit`, `audit verify`).
//!
//! PINs come from the environment (`CARDSTATION_PIN`, `CARDSTATION_NEW_PIN`)
//! or a hidden prompt, never from argv; a generated PIN is shown once.

use std::path::PathBuf;

use domain::{CancelReason, CertificateState, DeviceId};
use serde_json::json;
use station::{AuditFilter, Retired, Session};
use uuid::Uuid;

use crate::failure::Failure;
use crate::station::{bar, reader_name, sign_in, to_json, DataDir};
use crate::text::{self, Table};
use crate::{secrets, CommandResult, Output};

/// The lifecycle commands.
#[derive(Debug, clap::Subcommand)]
pub enum LifecycleCommand {
    /// Deactivate a card: its certificates go on hold (UC-RETIRE).
    Deactivate(RetireArgs),
    /// Reactivate an inactive card: its certificates are valid again (UC-RETIRE).
    Reactivate(RetireArgs),
    /// Cancel a device for good; lost/stolen revoke its certificates for key compromise (UC-RETIRE).
    CancelDevice {
        #[command(flatten)]
        args: RetireArgs,
        /// Why: lost, stolen, damaged or no-longer-needed.
        #[arg(long, value_parser = parse_reason)]
        reason: CancelReason,
    },
    /// Erase the card in the reader back to blank stock; the device is recorded erased (UC-RETIRE).
    Erase {
        /// Reader name (exact or a unique part); default: the only reader with a card.
        #[arg(long)]
        reader: Option<String>,
        /// Only erase if the card is this device.
        #[arg(long)]
        device: Option<Uuid>,
        /// Notes (in the audit record).
        #[arg(long)]
        notes: Option<String>,
        /// Confirm: the card's keys and certificates are destroyed.
        #[arg(long)]
        yes: bool,
    },
    /// Unblock the PIN of the card in the reader with the escrowed PUK (UC-PIN).
    Unblock {
        /// Reader name.
        #[arg(long)]
        reader: Option<String>,
        /// How the cardholder's identity was checked (kept with the job).
        #[arg(long)]
        identity_check: String,
        /// Let the cardholder choose the new PIN (CARDSTATION_NEW_PIN or a prompt); default: generate one.
        #[arg(long)]
        chosen: bool,
    },
    /// Change the PIN of the card in the reader: current (CARDSTATION_PIN) → new (CARDSTATION_NEW_PIN).
    ChangePin {
        /// Reader name.
        #[arg(long)]
        reader: Option<String>,
    },
    /// The audit trail with names, filtered; `--csv FILE` exports it; `audit verify` checks the chain (UC-AUDIT).
    #[command(args_conflicts_with_subcommands = true)]
    Audit {
        #[command(subcommand)]
        command: Option<AuditCommand>,
        #[command(flatten)]
        args: AuditArgs,
    },
}

/// `deactivate|reactivate DEVICE [--notes]`.
#[derive(Debug, clap::Args)]
pub struct RetireArgs {
    /// The device.
    pub device: Uuid,
    /// Notes (in the audit record).
    #[arg(long)]
    pub notes: Option<String>,
}

/// `audit verify`.
#[derive(Debug, clap::Subcommand)]
pub enum AuditCommand {
    /// Have the registry verify the audit hash chain.
    Verify,
}

/// Filters of `audit`.
#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    /// Operator (name, username or id).
    #[arg(long)]
    pub operator: Option<String>,
    /// Person concerned (name, email, employee id or id).
    #[arg(long)]
    pub person: Option<String>,
    /// Device concerned.
    #[arg(long)]
    pub device: Option<Uuid>,
    /// Part of the action name (e.g. change_device).
    #[arg(long)]
    pub action: Option<String>,
    /// From this time (2026-11-22 or RFC 3339).
    #[arg(long)]
    pub since: Option<String>,
    /// Before this time.
    #[arg(long)]
    pub until: Option<String>,
    /// Write the events as CSV to this file.
    #[arg(long)]
    pub csv: Option<PathBuf>,
}

fn parse_reason(text: &str) -> Result<CancelReason, String> {
    Ok(match text.replace('-', "_").as_str() {
        "lost" => CancelReason::Lost,
        "stolen" => CancelReason::Stolen,
        "damaged" => CancelReason::Damaged,
        "no_longer_needed" => CancelReason::NoLongerNeeded,
        other => return Err(format!("{other:?}: expected lost, stolen, damaged or no-longer-needed")),
    })
}

fn retired_output(session: &Session, verb: &str, r: &Retired) -> CommandResult {
    let holder = r.device.owner.map(|p| format!(" of {}", session.person_ref(p).name)).unwrap_or_default();
    let mut text = format!("device {}{holder} {verb}: {}\n", r.device.id, text::words(r.device.state.name()));
    text.push_str(&certificates_text(&r.certificates));
    Ok(Output { text, json: to_json(r) })
}

/// The device's certificates, one aligned line each: slot, serial, state.
fn certificates_text(certificates: &[domain::Certificate]) -> String {
    let mut table = Table::new().indented(2);
    for c in certificates {
        table.row([c.slot.to_string(), format!("certificate {}", c.serial), certificate_state(c.state)]);
    }
    table.render()
}

/// `valid`, `on hold`, `revoked (key compromise)`.
fn certificate_state(state: CertificateState) -> String {
    match state {
        CertificateState::Revoked { reason } => format!("revoked ({})", text::wire_words(&reason)),
        other => text::wire_words(&other),
    }
}

fn new_pin(var: &str, prompt: &str) -> Result<piv::Pin, Failure> {
    let text = secrets::required(var, prompt)?;
    Ok(piv::Pin::new(&text)?)
}

/// Runs one lifecycle command.
pub fn run(command: LifecycleCommand, data: &DataDir, json_output: bool) -> CommandResult {
    match command {
        LifecycleCommand::Deactivate(a) => {
            let mut session = sign_in(data)?;
            let retired = session.deactivate(DeviceId::new(a.device), a.notes)?;
            retired_output(&session, "deactivated", &retired)
        }
        LifecycleCommand::Reactivate(a) => {
            let mut session = sign_in(data)?;
            let retired = session.reactivate(DeviceId::new(a.device), a.notes)?;
            retired_output(&session, "reactivated", &retired)
        }
        LifecycleCommand::CancelDevice { args, reason } => {
            let mut session = sign_in(data)?;
            let retired = session.cancel_device(DeviceId::new(args.device), reason, args.notes)?;
            retired_output(&session, "cancelled", &retired)
        }
        LifecycleCommand::Erase { reader, device, notes, yes } => {
            if !yes {
                return Err(Failure::new(
                    "bad-input",
                    "erase destroys every key and certificate on the card: add --yes",
                ));
            }
            let reader = reader_name(reader.as_deref())?;
            let mut session = sign_in(data)?;
            let mut progress = bar(json_output);
            let erased = session.erase(&reader, device.map(DeviceId::new), notes, &mut progress);
            progress.0.finish_and_clear();
            let erased = erased?;
            let mut text = format!(
                "card in {reader} erased to blank stock{}; device {}: {}\n",
                if erased.resumed { " (interrupted erase finished)" } else { "" },
                erased.retired.device.id,
                text::words(erased.retired.device.state.name())
            );
            text.push_str(&certificates_text(&erased.retired.certificates));
            Ok(Output { text, json: to_json(&erased) })
        }
        LifecycleCommand::Unblock { reader, identity_check, chosen } => {
            let reader = reader_name(reader.as_deref())?;
            let pin = if chosen { Some(new_pin(secrets::NEW_PIN, "new PIN")?) } else { None };
            let mut session = sign_in(data)?;
            let mut progress = bar(json_output);
            let done = session.unblock_pin(&reader, &identity_check, pin, &mut progress);
            progress.0.finish_and_clear();
            let done = done?;
            let mut text = format!(
                "PIN of device {} unblocked{}\n",
                done.device.id,
                if done.resumed { " (interrupted unblock finished)" } else { "" }
            );
            if done.generated {
                text.push_str(&format!("new PIN (shown once): {}\n", done.pin.expose_secret()));
            }
            let json = crate::station::with_pin(&done, Some(&done.pin).filter(|_| done.generated));
            Ok(Output { text, json })
        }
        LifecycleCommand::ChangePin { reader } => {
            let reader = reader_name(reader.as_deref())?;
            let current = new_pin(secrets::PIN, "current PIN")?;
            let new = new_pin(secrets::NEW_PIN, "new PIN")?;
            let mut session = sign_in(data)?;
            let changed = session.change_pin(&reader, &current, &new)?;
            Ok(Output {
                text: format!("PIN of device {} changed\n", changed.device),
                json: to_json(&changed),
            })
        }
        LifecycleCommand::Audit { command: Some(AuditCommand::Verify), .. } => {
            let session = sign_in(data)?;
            let report = session.verify_audit()?;
            let text = if report.intact {
                format!("audit chain intact: {} events verified\n", report.events)
            } else {
                format!(
                    "audit chain BROKEN at event {}: {}\n",
                    report.broken_at.map(|b| b.to_string()).unwrap_or_default(),
                    report.reason.clone().unwrap_or_default()
                )
            };
            if !report.intact {
                return Err(Failure::new("audit-chain-broken", text.trim_end()));
            }
            Ok(Output { text, json: to_json(&report) })
        }
        LifecycleCommand::Audit { command: None, args } => {
            let filter = AuditFilter {
                operator: args.operator,
                person: args.person,
                device: args.device.map(DeviceId::new),
                action: args.action,
                since: args.since.as_deref().map(station::parse_time).transpose()?,
                until: args.until.as_deref().map(station::parse_time).transpose()?,
            };
            let session = sign_in(data)?;
            let rows = session.audit(&filter)?;
            if let Some(path) = &args.csv {
                let file = std::fs::File::create(path)
                    .map_err(|e| Failure::new("io", format!("{}: {e}", path.display())))?;
                station::write_csv(&rows, std::io::BufWriter::new(file))
                    .map_err(|e| Failure::new("io", format!("{}: {e}", path.display())))?;
            }
            let mut text = if rows.is_empty() {
                "no audit events match\n".to_owned()
            } else {
                let mut table =
                    Table::with_header(&["SEQ", "AT", "OPERATOR", "ACTION", "OBJECT", "OUTCOME", "NOTES"]);
                for r in &rows {
                    table.row([
                        r.seq.to_string(),
                        text::time_seconds(r.at),
                        if r.operator.is_empty() { "system".to_owned() } else { r.operator.clone() },
                        r.action.clone(),
                        r.object.clone(),
                        r.outcome.clone(),
                        r.notes.clone().unwrap_or_default(),
                    ]);
                }
                table.render()
            };
            if let Some(path) = &args.csv {
                text.push_str(&format!("{} events written to {}\n", rows.len(), path.display()));
            }
            Ok(Output {
                text,
                json: json!({ "events": to_json(&rows), "csv": args.csv.as_ref().map(|p| p.display().to_string()) }),
            })
        }
    }
}
