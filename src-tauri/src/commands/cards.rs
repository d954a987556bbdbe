//! Card work beyond issuing: temporary cards (seed 001), updates and their
//! collection (seed 000), PIN unblock and change (UC-PIN), retirement
//! (UC-RETIRE). Card jobs run on a worker; a new PIN waits behind a reveal.

use station::{CardOutcome, JobEvent, RequestRow, TemporaryRow};
use tauri::ipc::Channel;
use tauri::State;
use uuid::Uuid;

use super::{progress_to, wire, Reply};
use crate::App;

/// Temporary cards in `state` (`produced`, `unassigned`, `assigned`…; all when null).
#[tauri::command]
#[specta::specta]
pub async fn temporary_cards(app: State<'_, App>, state: Option<String>) -> Reply<Vec<TemporaryRow>> {
    let state = state.as_deref().map(station::temporary_state).transpose()?;
    Ok(app.desk().with_session(move |s| s.temporary_rows(state)).await?)
}

/// Initializes produced temporary card `card` in `reader` (`produced → unassigned`).
#[tauri::command]
#[specta::specta]
pub async fn initialize_temporary(
    app: State<'_, App>,
    card: Uuid,
    reader: String,
    progress: Channel<JobEvent>,
) -> Reply<CardOutcome> {
    let name = reader.clone();
    app.card_work(&reader, move |s, reveals| {
        let done = s.initialize_temporary_card(card.into(), &name, &mut progress_to(progress))?;
        Ok(s.initialized_outcome(&done, reveals))
    })
    .await
}

/// Lends temporary card `card` to `person` until `until` (YYYY-MM-DD or RFC 3339; the profile's period when null).
#[tauri::command]
#[specta::specta]
pub async fn assign_temporary(
    app: State<'_, App>,
    card: Uuid,
    person: Uuid,
    until: Option<String>,
) -> Reply<TemporaryRow> {
    let until = until.as_deref().filter(|t| !t.trim().is_empty()).map(station::parse_time).transpose()?;
    app.act(move |s, _| {
        s.assign_temporary_card(card.into(), person.into(), until)?;
        temporary_row(s, card)
    })
    .await
}

/// Takes temporary card `card` back for `reason` (`no_longer_needed`, `lost`…).
#[tauri::command]
#[specta::specta]
pub async fn return_temporary(app: State<'_, App>, card: Uuid, reason: String) -> Reply<TemporaryRow> {
    let reason = station::return_reason(&reason)?;
    app.act(move |s, _| {
        s.withdraw_temporary_card(card.into(), reason)?;
        temporary_row(s, card)
    })
    .await
}

fn temporary_row(s: &station::Session, card: Uuid) -> station::Result<TemporaryRow> {
    s.temporary_rows(None)?
        .into_iter()
        .find(|r| r.id == card)
        .ok_or_else(|| station::Error::NotFound(format!("no temporary card {card}")))
}

/// UC-UPDATE: asks for an update of card `device` (`apply_latest_updates`
/// or `reprovision_all_content`, optionally to another `profile`).
#[tauri::command]
#[specta::specta]
pub async fn request_update(
    app: State<'_, App>,
    device: Uuid,
    reason: String,
    profile: Option<Uuid>,
    notes: Option<String>,
) -> Reply<RequestRow> {
    let reason: domain::UpdateReason = wire(&reason, "an update reason")?;
    app.act(move |s, _| {
        let view = s.request_update(device.into(), profile.map(Into::into), reason, notes)?;
        Ok(s.request_row(&view.request))
    })
    .await
}

/// UC-UPDATE: collects the approved updates of the card in `reader`.
#[tauri::command]
#[specta::specta]
pub async fn collect_updates(
    app: State<'_, App>,
    reader: String,
    progress: Channel<JobEvent>,
) -> Reply<CardOutcome> {
    let name = reader.clone();
    app.card_work(&reader, move |s, reveals| {
        let c = s.collect_updates(None, &name, &mut progress_to(progress))?;
        let summary = if c.remaining.is_empty() {
            "Updates collected".to_owned()
        } else {
            format!("Update collected; {} more waiting", c.remaining.len())
        };
        Ok(s.card_outcome(&summary, &c.device, c.resumed, c.warnings.clone(), c.pin.as_ref(), reveals))
    })
    .await
}

/// UC-PIN: unblocks the PIN of the card in `reader` with its escrowed PUK,
/// after the operator checked the cardholder's identity (`identity_check`).
#[tauri::command]
#[specta::specta]
pub async fn unblock_pin(
    app: State<'_, App>,
    reader: String,
    identity_check: String,
    progress: Channel<JobEvent>,
) -> Reply<CardOutcome> {
    let name = reader.clone();
    app.card_work(&reader, move |s, reveals| {
        let u = s.unblock_pin(&name, &identity_check, None, &mut progress_to(progress))?;
        Ok(s.card_outcome("PIN unblocked", &u.device, u.resumed, Vec::new(), Some(&u.pin), reveals))
    })
    .await
}

/// UC-PIN: changes the PIN of the card in `reader` (the cardholder types both).
#[tauri::command]
#[specta::specta]
pub async fn change_pin(
    app: State<'_, App>,
    reader: String,
    current_pin: String,
    new_pin: String,
) -> Reply<CardOutcome> {
    let pin = |text: &str| piv::Pin::new(text).map_err(|e| station::Error::from(e).view());
    let (current, new) = (pin(&current_pin)?, pin(&new_pin)?);
    let name = reader.clone();
    app.card_work(&reader, move |s, reveals| {
        let changed = s.change_pin(&name, &current, &new)?;
        let device = s.device(changed.device)?;
        Ok(s.card_outcome("PIN changed", &device, false, Vec::new(), None, reveals))
    })
    .await
}

/// UC-RETIRE on card record `device`: `deactivate`, `reactivate`, or
/// `cancel` with `reason` (`lost`, `stolen`, `damaged`, `no_longer_needed`).
#[tauri::command]
#[specta::specta]
pub async fn retire(
    app: State<'_, App>,
    device: Uuid,
    action: String,
    reason: Option<String>,
    notes: Option<String>,
) -> Reply<CardOutcome> {
    let cancel_reason: Option<domain::CancelReason> =
        reason.as_deref().map(|r| wire(r, "a reason to cancel a card")).transpose()?;
    app.act(move |s, reveals| {
        let id = domain::DeviceId::new(device);
        let (retired, summary) = match (action.as_str(), cancel_reason) {
            ("deactivate", _) => (s.deactivate(id, notes)?, "Card deactivated"),
            ("reactivate", _) => (s.reactivate(id, notes)?, "Card reactivated"),
            ("cancel", Some(reason)) => (s.cancel_device(id, reason, notes)?, "Card cancelled"),
            ("cancel", None) => return Err(station::Error::Invalid("say why the card is cancelled".into())),
            (other, _) => return Err(station::Error::Invalid(format!("{other:?} is not a retire action"))),
        };
        Ok(s.card_outcome(summary, &retired.device, false, Vec::new(), None, reveals))
    })
    .await
}

/// UC-RETIRE: erases the card in `reader` back to blank stock (its record retired).
#[tauri::command]
#[specta::specta]
pub async fn erase_card(
    app: State<'_, App>,
    reader: String,
    notes: Option<String>,
    progress: Channel<JobEvent>,
) -> Reply<CardOutcome> {
    let name = reader.clone();
    app.card_work(&reader, move |s, reveals| {
        let e = s.erase(&name, None, notes, &mut progress_to(progress))?;
        Ok(s.card_outcome("Card erased", &e.retired.device, e.resumed, Vec::new(), None, reveals))
    })
    .await
}

/// UC-PIN offline, the helpdesk's side: the response code for the
/// challenge the cardholder of card `device` read out, with how their
/// identity was checked. The code is shown once, to be read back.
#[tauri::command]
#[specta::specta]
pub async fn respond_offline_unblock(
    app: State<'_, App>,
    device: Uuid,
    challenge: String,
    identity_check: String,
) -> Reply<OfflineResponse> {
    let answer =
        app.act(move |s, _| s.respond_offline_unblock(device.into(), &challenge, &identity_check)).await?;
    Ok(OfflineResponse { response: answer.response.to_string() })
}

/// The response code for the cardholder's offline unblock tool.
#[derive(Clone, serde::Serialize, specta::Type)]
pub struct OfflineResponse {
    /// Groups of base32, read out to the cardholder once.
    pub response: String,
}

impl std::fmt::Debug for OfflineResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OfflineResponse(<redacted>)")
    }
}
