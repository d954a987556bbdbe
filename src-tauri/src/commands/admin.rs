//! UC-ADMIN: credential profiles (versions, revise), use cases and the
//! operator's permissions. Station checks Administer; the window only shows.

use station::{AdminView, ProfileForm};
use tauri::State;
use uuid::Uuid;

use super::Reply;
use crate::App;

/// The Admin screen.
#[tauri::command]
#[specta::specta]
pub async fn administration(app: State<'_, App>) -> Reply<AdminView> {
    Ok(app.desk().with_session(|s| s.administration()).await?)
}

/// Saves `form` as the next version of `profile` (edited from `expected_version`).
#[tauri::command]
#[specta::specta]
pub async fn revise_profile(
    app: State<'_, App>,
    profile: Uuid,
    expected_version: u32,
    form: ProfileForm,
) -> Reply<AdminView> {
    app.act(move |s, _| s.revise_profile(domain::ProfileId::new(profile), expected_version, &form)).await
}
