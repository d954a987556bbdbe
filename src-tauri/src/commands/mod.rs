//! The window's commands: each parses its arguments, calls one `station`
//! function through the desk, and returns its view or its [`ErrorView`].
//! No business rule lives here; permissions are the station's (`domain`).

use serde::Serialize;
use station::{
    Decision, DeviceView, ErrorView, IssueTarget, IssuedView, JobEvent, JobRow, PersonView, ProfileRow,
    ProgressEvents, RequestRow, RevealTicket, Revealed, SearchResults, SignedInView, SyncStatus,
};
use tauri::ipc::Channel;
use tauri::State;
use uuid::Uuid;

use crate::App;

mod admin;
mod audit;
mod batch;
mod cards;
mod kiosk;
mod provisioning;

pub use admin::*;
pub use audit::*;
pub use batch::*;
pub use cards::*;
pub use kiosk::*;
pub use provisioning::*;

/// A command's answer.
pub type Reply<T> = Result<T, ErrorView>;

/// The station as the window finds it at start.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct AppStatus {
    /// Enrolled with a registry.
    pub enrolled: bool,
    /// The registry.
    pub registry_url: Option<String>,
    /// This workstation's id.
    pub workstation: Option<Uuid>,
    /// Who is signed in, if anyone.
    pub signed_in: Option<SignedInView>,
    /// The session is idle-locked.
    pub locked: bool,
    /// Started as a walk-up kiosk: the window shows the kiosk only.
    pub kiosk: bool,
}

/// Where the station stands (enrollment, sign-in, lock).
#[tauri::command]
#[specta::specta]
pub async fn app_status(app: State<'_, App>) -> Reply<AppStatus> {
    let desk = app.desk();
    let (locked, idle, kiosk) = (desk.is_locked(), desk.idle_lock(), app.is_kiosk());
    let status = desk
        .peek(move |seat| {
            let enrollment = station::Enrollment::load(seat.data_dir()).ok();
            let username = seat.username().map(str::to_owned);
            let signed_in = match (username, seat.session()) {
                (Some(user), Ok(session)) => Some(session.signed_in_view(&user, idle)),
                _ => None,
            };
            Ok(AppStatus {
                enrolled: enrollment.is_some(),
                registry_url: enrollment.as_ref().map(|e| e.registry_url.clone()),
                workstation: enrollment.map(|e| e.workstation),
                signed_in,
                locked,
                kiosk,
            })
        })
        .await?;
    Ok(status)
}

/// Whether the registry answers now (the sign-in screen's indicator).
#[tauri::command]
#[specta::specta]
pub async fn registry_online(app: State<'_, App>) -> Reply<bool> {
    let timeout = std::time::Duration::from_secs(3);
    Ok(app
        .desk()
        .peek(move |seat| Ok(station::Station::open(seat.data_dir())?.registry_online(timeout)))
        .await?)
}

/// UC-SIGNIN: online, else offline against the cached verifier.
#[tauri::command]
#[specta::specta]
pub async fn sign_in(app: State<'_, App>, username: String, password: String) -> Reply<SignedInView> {
    app.desk().sign_in(&username, &password).await?;
    let refused = app.desk().with_session(|s| s.take_refusals()).await?;
    Ok(SignedInView { refused, ..signed_in_view(&app).await? })
}

/// Signs out; unrevealed secrets are forgotten.
#[tauri::command]
#[specta::specta]
pub async fn sign_out(app: State<'_, App>) -> Reply<()> {
    Ok(app.desk().sign_out().await?)
}

/// Unlocks the idle-locked session with the operator's password.
#[tauri::command]
#[specta::specta]
pub async fn unlock(app: State<'_, App>, password: String) -> Reply<SignedInView> {
    app.desk().unlock(&password).await?;
    signed_in_view(&app).await
}

/// The operator is active (keys, pointer): the idle timer starts again.
#[tauri::command]
#[specta::specta]
pub fn touch(app: State<'_, App>) {
    app.desk().touch();
}

/// Streams reader and card events to the window; inserted cards come read.
#[tauri::command]
#[specta::specta]
pub fn watch_cards(app: State<'_, App>, events: Channel<station::CardEvent>) {
    app.set_watch(app.desk().watch_cards(move |event| {
        let _ = events.send(event);
    }));
}

/// UC-READ: the card in `reader`.
#[tauri::command]
#[specta::specta]
pub async fn read_card(app: State<'_, App>, reader: String) -> Reply<DeviceView> {
    Ok(app.desk().with_session(move |s| s.device_view(&reader)).await?)
}

/// UC-SEARCH.
#[tauri::command]
#[specta::specta]
pub async fn search(app: State<'_, App>, query: String, limit: u32) -> Reply<SearchResults> {
    Ok(app.desk().with_session(move |s| s.search_view(&query, limit as usize)).await?)
}

/// A person's record.
#[tauri::command]
#[specta::specta]
pub async fn person(app: State<'_, App>, id: Uuid) -> Reply<PersonView> {
    Ok(app.desk().with_session(move |s| s.person_view(id.into())).await?)
}

/// Requests in `state` (`pending_approval`, `approved`, …; all when null).
#[tauri::command]
#[specta::specta]
pub async fn requests(app: State<'_, App>, state: Option<String>) -> Reply<Vec<RequestRow>> {
    let state = state.map(|s| parse_state(&s)).transpose()?;
    Ok(app.desk().with_session(move |s| s.request_rows(state, 500)).await?)
}

/// The credential profiles.
#[tauri::command]
#[specta::specta]
pub async fn profiles(app: State<'_, App>) -> Reply<Vec<ProfileRow>> {
    Ok(app.desk().with_session(|s| s.profile_rows()).await?)
}

/// UC-REQUEST: a card for `person` with `profile`.
#[tauri::command]
#[specta::specta]
pub async fn request_card(
    app: State<'_, App>,
    person: Uuid,
    profile: Uuid,
    notes: Option<String>,
) -> Reply<RequestRow> {
    app.act(move |s, _| {
        let view = s.request_card(person.into(), profile.into(), None, notes)?;
        Ok(s.request_row(&view.request))
    })
    .await
}

/// UC-APPROVE: approve, reject or cancel a request.
#[tauri::command]
#[specta::specta]
pub async fn decide(
    app: State<'_, App>,
    request: Uuid,
    decision: Decision,
    reason: Option<String>,
) -> Reply<RequestRow> {
    app.act(move |s, _| {
        let view = s.decide(request.into(), decision, reason)?;
        Ok(s.request_row(&view.request))
    })
    .await
}

/// UC-ISSUE: encodes the blank card in `reader` for approved `request`,
/// step by step on `progress`; the PIN waits behind the view's reveal.
#[tauri::command]
#[specta::specta]
pub async fn issue(
    app: State<'_, App>,
    request: Uuid,
    reader: String,
    progress: Channel<JobEvent>,
) -> Reply<IssuedView> {
    let name = reader.clone();
    app.card_work(&reader, move |s, reveals| {
        let issued = s.issue(IssueTarget::Request(request.into()), &name, &mut progress_to(progress))?;
        Ok(s.issued_view(&issued, reveals))
    })
    .await
}

/// Shows a generated PIN once.
#[tauri::command]
#[specta::specta]
pub fn reveal_secret(app: State<'_, App>, ticket: Uuid) -> Reply<Revealed> {
    Ok(app.desk().reveals().take(RevealTicket { id: ticket })?)
}

/// The reveal panel closed: whatever it held is forgotten.
#[tauri::command]
#[specta::specta]
pub fn close_reveal(app: State<'_, App>, ticket: Uuid) {
    app.desk().reveals().discard(RevealTicket { id: ticket });
}

/// Card jobs still open here (interrupted: resume or roll back).
#[tauri::command]
#[specta::specta]
pub async fn jobs(app: State<'_, App>) -> Reply<Vec<JobRow>> {
    Ok(app.desk().with_session(|s| s.job_rows(false)).await?)
}

/// Finishes interrupted job `job` on the card in `reader`.
#[tauri::command]
#[specta::specta]
pub async fn resume_job(
    app: State<'_, App>,
    job: Uuid,
    reader: String,
    progress: Channel<JobEvent>,
) -> Reply<IssuedView> {
    let name = reader.clone();
    app.card_work(&reader, move |s, reveals| {
        let issued = s.resume(job, &name, &mut progress_to(progress))?;
        Ok(s.issued_view(&issued, reveals))
    })
    .await
}

/// Rolls interrupted job `job` back (production failed).
#[tauri::command]
#[specta::specta]
pub async fn rollback_job(app: State<'_, App>, job: Uuid, reason: String) -> Reply<JobRow> {
    app.act(move |s, _| s.rollback(job, &reason).map(JobRow::from)).await
}

/// Where sync stands.
#[tauri::command]
#[specta::specta]
pub async fn sync_status(app: State<'_, App>) -> Reply<SyncStatus> {
    Ok(app.desk().with_session(|s| s.sync_status()).await?)
}

/// UC-SYNC now: push the queue, pull what changed.
#[tauri::command]
#[specta::specta]
pub async fn sync_now(app: State<'_, App>) -> Reply<SyncStatus> {
    let synced = app.desk().with_session(|s| s.sync().map(|_| ())).await;
    app.push_sync_status().await;
    synced?;
    Ok(app.desk().with_session(|s| s.sync_status()).await?)
}

/// Streams where sync stands to the window whenever it may have changed.
#[tauri::command]
#[specta::specta]
pub async fn watch_sync(app: State<'_, App>, events: Channel<SyncStatus>) -> Reply<()> {
    app.set_sync_channel(events);
    app.push_sync_status().await;
    Ok(())
}

async fn signed_in_view(app: &App) -> Reply<SignedInView> {
    let idle = app.desk().idle_lock();
    Ok(app
        .desk()
        .call(move |seat| {
            let user = seat.username().unwrap_or_default().to_owned();
            Ok(seat.session()?.signed_in_view(&user, idle))
        })
        .await?)
}

fn parse_state(text: &str) -> Result<domain::RequestState, ErrorView> {
    wire(text, "a request state")
}

/// A value from its wire name (`snake_case`), or a typed refusal naming what was expected.
fn wire<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> Result<T, ErrorView> {
    serde_json::from_value(serde_json::Value::String(text.to_owned()))
        .map_err(|_| ErrorView::new(station::ErrorCode::BadInput, format!("{text:?} is not {what}")))
}

/// Progress of a card job, sent on to the window's channel.
fn progress_to(channel: Channel<JobEvent>) -> ProgressEvents<impl FnMut(JobEvent)> {
    ProgressEvents(move |e| {
        let _ = channel.send(e);
    })
}
