//! UC-ADMIN: credential profiles (versions, revise), roles and who holds
//! them, use cases. Station and the registry check Administer; the window
//! only shows.

use station::{AccessView, AdminView, ProfileForm, RoleForm, UseCaseForm};
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

/// Roles, operators and use cases, from the registry.
#[tauri::command]
#[specta::specta]
pub async fn access(app: State<'_, App>) -> Reply<AccessView> {
    Ok(app.desk().with_session(|s| s.access()).await?)
}

/// Creates or changes a role.
#[tauri::command]
#[specta::specta]
pub async fn save_role(app: State<'_, App>, form: RoleForm) -> Reply<AccessView> {
    app.act(move |s, _| s.save_role(&form)).await
}

/// Gives an operator exactly `roles`.
#[tauri::command]
#[specta::specta]
pub async fn set_operator_roles(app: State<'_, App>, operator: Uuid, roles: Vec<Uuid>) -> Reply<AccessView> {
    app.act(move |s, _| s.set_operator_roles(operator, &roles)).await
}

/// Switches use cases on and off.
#[tauri::command]
#[specta::specta]
pub async fn set_use_cases(app: State<'_, App>, form: UseCaseForm) -> Reply<AccessView> {
    app.act(move |s, _| s.set_use_cases(&form)).await
}
