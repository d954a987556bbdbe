//! UC-PROV (seed 004): provisioning tasks, a person's outstanding tasks,
//! and the registry's local mailbox for an administrator. Station and the
//! registry check Manage provisioning tasks (Administer for the mailbox).

use station::{parse_stop_date, MailRow, PersonTaskRow, ProvisioningTaskRow};
use tauri::State;
use uuid::Uuid;

use super::Reply;
use crate::App;

/// The task list; with `report` completed and removed tasks too.
#[tauri::command]
#[specta::specta]
pub async fn provisioning_tasks(app: State<'_, App>, report: bool) -> Reply<Vec<ProvisioningTaskRow>> {
    Ok(app.desk().with_session(move |s| s.provisioning_rows(report)).await?)
}

/// One task with every user, by its number.
#[tauri::command]
#[specta::specta]
pub async fn provisioning_task(app: State<'_, App>, task: String) -> Reply<ProvisioningTaskRow> {
    Ok(app.desk().with_session(move |s| s.provisioning_task(&task).map(Into::into)).await?)
}

/// `people` are provisioned for `profile` until `stop_date` (YYYY-MM-DD; the policy's period when null).
#[tauri::command]
#[specta::specta]
pub async fn create_provisioning_task(
    app: State<'_, App>,
    profile: Uuid,
    people: Vec<Uuid>,
    stop_date: Option<String>,
) -> Reply<ProvisioningTaskRow> {
    let stop = parse_stop_date(stop_date.as_deref())?;
    let people: Vec<domain::PersonId> = people.into_iter().map(Into::into).collect();
    app.act(move |s, _| s.create_provisioning_task(profile.into(), &people, stop).map(Into::into)).await
}

/// Removes `remove` from `task` (irreversible; emailing them when `notify`) and/or moves its stop date.
#[tauri::command]
#[specta::specta]
pub async fn edit_provisioning_task(
    app: State<'_, App>,
    task: String,
    remove: Vec<Uuid>,
    notify: bool,
    stop_date: Option<String>,
) -> Reply<ProvisioningTaskRow> {
    let stop = parse_stop_date(stop_date.as_deref())?;
    let remove: Vec<domain::PersonId> = remove.into_iter().map(Into::into).collect();
    app.act(move |s, _| s.edit_provisioning_task(&task, &remove, notify, stop).map(Into::into)).await
}

/// Removes `task`: its unfinished users can no longer enroll.
#[tauri::command]
#[specta::specta]
pub async fn remove_provisioning_task(
    app: State<'_, App>,
    task: String,
    notify: bool,
) -> Reply<ProvisioningTaskRow> {
    app.act(move |s, _| s.remove_provisioning_task(&task, notify).map(Into::into)).await
}

/// Sends `person` of `task` a new code, to `alternate_email` for this message only when given.
#[tauri::command]
#[specta::specta]
pub async fn resend_enrollment(
    app: State<'_, App>,
    task: String,
    person: Uuid,
    alternate_email: Option<String>,
) -> Reply<ProvisioningTaskRow> {
    let alternate = alternate_email.filter(|a| !a.trim().is_empty());
    app.act(move |s, _| s.resend_enrollment(&task, person.into(), alternate).map(Into::into)).await
}

/// A person's outstanding provisioning tasks (the person view).
#[tauri::command]
#[specta::specta]
pub async fn person_tasks(app: State<'_, App>, person: Uuid) -> Reply<Vec<PersonTaskRow>> {
    Ok(app.desk().with_session(move |s| s.person_task_rows(person.into())).await?)
}

/// The registry's local mailbox, newest first (Administer).
#[tauri::command]
#[specta::specta]
pub async fn mailbox(app: State<'_, App>) -> Reply<Vec<MailRow>> {
    Ok(app.desk().with_session(|s| s.mailbox()).await?)
}
