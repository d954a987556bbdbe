//! The walk-up kiosk (UC-WALKUP): a cardholder's code (or their card with
//! an update waiting, UC-UPDATE), their PIN, their card. Each command is a line or two over `station`; the app keeps the
//! current invitation and its code until [`kiosk_end`] (card pulled, idle
//! timeout, done), the PIN is passed per call and never kept.

use serde::{Deserialize, Serialize};
use station::{ErrorCode, ErrorView, JobEvent};
use tauri::ipc::Channel;
use tauri::{AppHandle, State};

use super::{progress_to, Reply};
use crate::App;

/// Whom a code invites, as the kiosk greets them (`station::Walkup`'s
/// serialized fields; the ids stay in the backend).
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type)]
pub struct KioskWalkup {
    /// The cardholder's name.
    pub person_name: String,
    /// The provisioning task's number.
    pub task_number: u32,
    /// The credential profile the card gets.
    pub profile_name: String,
    /// Enroll before this (RFC 3339).
    pub stop_date: String,
    /// Seconds without activity after which the kiosk ends the session.
    pub idle_timeout_secs: u32,
    /// The rules the cardholder's PIN must follow.
    pub pin: KioskPinRules,
    /// A card was started with this code and not finished: put it back.
    pub resuming: bool,
}

/// The profile's PIN policy, as the cardholder is told it.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, specta::Type)]
pub struct KioskPinRules {
    /// Shortest PIN.
    pub min_length: u8,
    /// Longest PIN.
    pub max_length: u8,
    /// Digits only.
    pub numeric: bool,
}

/// A card with an update waiting, as the kiosk greets its holder
/// (`station::WalkupUpdate`'s serialized fields).
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type)]
pub struct KioskUpdate {
    /// The cardholder's name.
    pub person_name: String,
    /// The credential profile the card is brought to.
    pub profile_name: String,
    /// Everything on the card is made anew, not only what changed.
    pub reprovision: bool,
    /// Seconds without activity after which the kiosk ends the session.
    pub idle_timeout_secs: u32,
    /// The rules the new PIN must follow.
    pub pin: KioskPinRules,
    /// The card's update was interrupted here: it is finished without the current PIN.
    pub resuming: bool,
}

/// The cardholder's card, encoded (`station::WalkupEncoded`).
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type)]
pub struct KioskEncoded {
    /// The card's serial number.
    pub serial: String,
    /// This finished a card pulled earlier.
    pub resumed: bool,
    /// Things the help desk should know.
    pub warnings: Vec<String>,
}

/// The signed-in account may run the kiosk (the Walk-up permission, UC-WALKUP on).
#[tauri::command]
#[specta::specta]
pub async fn kiosk_ready(app: State<'_, App>) -> Reply<()> {
    let may = app.desk().with_session(|s| Ok(s.may_walkup())).await?;
    may.then_some(()).ok_or_else(|| {
        ErrorView::new(
            ErrorCode::NotPermitted,
            "this account may not run the walk-up kiosk: sign in with a kiosk account",
        )
    })
}

/// Checks the code the cardholder typed (a wrong one counts toward the
/// lock-out); the invitation and the code are kept for this session.
#[tauri::command]
#[specta::specta]
pub async fn kiosk_check(app: State<'_, App>, code: String) -> Reply<KioskWalkup> {
    let code = proto::EnrollmentCode::new(code.trim());
    let kept = code.clone();
    let walkup = app.desk().with_session(move |s| s.walkup_check(&code)).await?;
    let view = view_of(&walkup)?;
    app.kiosk_keep(walkup, kept);
    Ok(view)
}

/// Looks at the card just inserted in `reader`: a card of this registry
/// with an approved update is kept for this session and greeted (no code
/// needed); `None` asks for an enrollment code.
#[tauri::command]
#[specta::specta]
pub async fn kiosk_recognise(app: State<'_, App>, reader: String) -> Reply<Option<KioskUpdate>> {
    let name = reader.clone();
    let update = app.card_work(&reader, move |s, _| s.walkup_recognise(&name)).await?;
    let view = update.as_ref().map(view_of).transpose()?;
    app.kiosk_keep_update(update);
    Ok(view)
}

/// The cardholder proves their card with its current `pin` (verified on the
/// card, whose key signs the registry's challenge).
#[tauri::command]
#[specta::specta]
pub async fn kiosk_prove(app: State<'_, App>, pin: String, reader: String) -> Reply<()> {
    let update = app.kiosk_update_current()?;
    let pin = piv::Pin::new(&pin).map_err(station::Error::from)?;
    let name = reader.clone();
    app.card_work(&reader, move |s, _| s.walkup_prove(&update, &pin, &name)).await
}

/// Updates the recognised card in `reader` with the new PIN chosen (typed
/// twice), step by step on `progress`.
#[tauri::command]
#[specta::specta]
pub async fn kiosk_update(
    app: State<'_, App>,
    pin: String,
    again: String,
    reader: String,
    progress: Channel<JobEvent>,
) -> Reply<KioskEncoded> {
    let update = app.kiosk_update_current()?;
    station::check_walkup_pin(&update.pin, &pin, &again)?;
    let pin = piv::Pin::new(&pin).map_err(station::Error::from)?;
    let name = reader.clone();
    let updated = app
        .card_work(&reader, move |s, _| s.walkup_update(&update, &pin, &name, &mut progress_to(progress)))
        .await?;
    view_of(&updated)
}

/// Encodes the card in `reader` with the PIN chosen (typed twice), step by step on `progress`.
#[tauri::command]
#[specta::specta]
pub async fn kiosk_encode(
    app: State<'_, App>,
    pin: String,
    again: String,
    reader: String,
    progress: Channel<JobEvent>,
) -> Reply<KioskEncoded> {
    let (walkup, code) = app.kiosk_current()?;
    station::check_walkup_pin(&walkup.pin, &pin, &again)?;
    let pin = piv::Pin::new(&pin).map_err(station::Error::from)?;
    let name = reader.clone();
    let encoded = app
        .card_work(&reader, move |s, _| {
            s.walkup_encode(&walkup, &code, &pin, &name, &mut progress_to(progress))
        })
        .await?;
    view_of(&encoded)
}

/// The cardholder's first authentication: `pin` verified on the new (or
/// updated) card in `reader`.
#[tauri::command]
#[specta::specta]
pub async fn kiosk_try_pin(app: State<'_, App>, pin: String, reader: String) -> Reply<()> {
    let pin = piv::Pin::new(&pin).map_err(station::Error::from)?;
    let name = reader.clone();
    if let Some(update) = app.kiosk_update() {
        return app.card_work(&reader, move |s, _| s.walkup_try_new_pin(&update, &pin, &name)).await;
    }
    let (walkup, code) = app.kiosk_current()?;
    app.card_work(&reader, move |s, _| s.walkup_authenticate(&walkup, &code, &pin, &name)).await
}

/// The cardholder's session ends (done, card pulled, idle): the code is forgotten.
#[tauri::command]
#[specta::specta]
pub fn kiosk_end(app: State<'_, App>) {
    app.kiosk_forget();
}

/// The exit gesture: the kiosk account's password (and, before the kiosk
/// signed in, its user name), checked again at the registry; then the kiosk
/// signs out and the app ends.
#[tauri::command]
#[specta::specta]
pub async fn kiosk_exit(
    app: State<'_, App>,
    handle: AppHandle,
    username: Option<String>,
    password: String,
) -> Reply<()> {
    let secret = zeroize::Zeroizing::new(password);
    app.desk()
        .peek(move |seat| {
            let user = seat.username().map(str::to_owned).or(username).unwrap_or_default();
            let session = station::Station::open(seat.data_dir())?.sign_in(&user, &secret)?;
            if session.may_walkup() {
                Ok(())
            } else {
                Err(station::Error::SignIn("only the kiosk account can close the kiosk".into()))
            }
        })
        .await?;
    app.kiosk_forget();
    app.desk().sign_out().await?;
    app.allow_exit();
    handle.exit(0);
    Ok(())
}

/// A station value as the window's type (the same serialized fields).
fn view_of<T: Serialize, V: serde::de::DeserializeOwned>(value: &T) -> Reply<V> {
    serde_json::to_value(value)
        .and_then(serde_json::from_value)
        .map_err(|e| ErrorView::new(ErrorCode::Internal, format!("cannot show the walk-up answer: {e}")))
}
