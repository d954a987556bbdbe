//! UC-UPDATE (seed 000): `request-update` for an issued device and
//! `collect` (Collect updates) with the card inserted.

use domain::{DeviceId, ProfileId};
use station::{Collected, UpdateReason};
use uuid::Uuid;

use crate::station::{bar, reader_name, sign_in, to_json, torn_job_failure, DataDir, JobOf};
use crate::text;
use crate::{CommandResult, Output};

/// The update commands.
#[derive(Debug, clap::Subcommand)]
pub enum UpdateCommand {
    /// Request an update of an issued device: apply the profile's latest version, or reprovision it (UC-UPDATE).
    RequestUpdate {
        /// The device.
        #[arg(long)]
        device: Uuid,
        /// The credential profile; default: the one the device was issued with.
        #[arg(long)]
        profile: Option<Uuid>,
        /// apply-latest (bring the card to the latest version) or reprovision (re-encode it completely).
        #[arg(long, value_parser = parse_reason)]
        reason: UpdateReason,
        /// Notes (in the audit record).
        #[arg(long)]
        notes: Option<String>,
    },
    /// Collect the approved updates of the card in the reader (UC-UPDATE "Collect updates").
    Collect {
        /// Only if the card is this device.
        #[arg(long)]
        device: Option<Uuid>,
        /// Reader name (exact or a unique part); default: the only reader with a card.
        #[arg(long)]
        reader: Option<String>,
    },
}

fn parse_reason(text: &str) -> Result<UpdateReason, String> {
    Ok(match text.replace('_', "-").as_str() {
        "apply-latest" | "apply-latest-updates" => UpdateReason::ApplyLatestUpdates,
        "reprovision" | "reprovision-all-content" => UpdateReason::ReprovisionAllContent,
        other => return Err(format!("{other:?}: expected apply-latest or reprovision")),
    })
}

/// Runs one update command.
pub fn run(command: UpdateCommand, data: &DataDir, json_output: bool) -> CommandResult {
    match command {
        UpdateCommand::RequestUpdate { device, profile, reason, notes } => {
            let mut session = sign_in(data)?;
            let view =
                session.request_update(DeviceId::new(device), profile.map(ProfileId::new), reason, notes)?;
            let r = &view.request;
            let mut text = format!(
                "{} request {} for device {device}: {}\n",
                text::wire_words(&r.kind),
                r.id,
                text::words(r.state.name())
            );
            match r.state {
                domain::RequestState::PendingApproval => text.push_str(&format!(
                    "next: an approver runs `cardstation approve {}` (or `reject`)\n",
                    r.id
                )),
                domain::RequestState::Approved => text.push_str(&format!(
                    "next: `cardstation collect --device {device}` with the card in a reader\n"
                )),
                _ => {}
            }
            Ok(Output { text, json: to_json(&view) })
        }
        UpdateCommand::Collect { device, reader } => {
            let reader = reader_name(reader.as_deref())?;
            let mut session = sign_in(data)?;
            let left = match device {
                Some(d) => JobOf::Device(d),
                None => JobOf::StartedSince(time::OffsetDateTime::now_utc()),
            };
            let mut progress = bar(json_output);
            let collected = session.collect_updates(device.map(DeviceId::new), &reader, &mut progress);
            progress.0.finish_and_clear();
            collected_output(collected.map_err(|e| torn_job_failure(&session, e, left))?)
        }
    }
}

fn collected_output(c: Collected) -> CommandResult {
    let mut text = format!(
        "device {} {} ({}): {}, profile version {}\n",
        c.device.id,
        if c.resumed { "update finished" } else { "updated" },
        match c.reason {
            UpdateReason::ApplyLatestUpdates => "latest updates applied",
            UpdateReason::ReprovisionAllContent => "reprovisioned",
        },
        text::words(c.device.state.name()),
        c.device.profile.version
    );
    for cert in &c.certificates {
        text.push_str(&format!("  new {} certificate {} {}\n", cert.slot, cert.serial, cert.subject));
    }
    for id in &c.kept {
        text.push_str(&format!("  kept certificate {id}\n"));
    }
    for id in &c.revoked {
        text.push_str(&format!("  revoked certificate {id}\n"));
    }
    for id in &c.remaining {
        text.push_str(&format!("still to collect: request {id} (run `cardstation collect` again)\n"));
    }
    for w in &c.warnings {
        text.push_str(&format!("warning: {w}\n"));
    }
    if let Some(pin) = &c.pin {
        text.push_str(&format!("PIN (shown once): {}\n", pin.expose_secret()));
    }
    let json = crate::station::with_pin(&c, c.pin.as_ref());
    Ok(Output { text, json })
}
