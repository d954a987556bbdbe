//! UC-PROV from the station: provisioning tasks (seed 004). The registry
//! makes each user's enrollment code and mails it, so every change goes to
//! the registry (queued through the outbox while it is unreachable) and the
//! views are read from it; no code ever reaches the station.

use domain::machines;
use domain::{
    EnrollmentCommand, EnrollmentId, EnrollmentState, GlobalPermission, Permission, PersonId, ProfileId,
    TaskId,
};
use proto::{
    CreateProvisioningTask, EditProvisioningTask, EnrollmentView, OperationKind, PersonProvisioning,
    PersonProvisioningRow, ProvisioningInvitee, ProvisioningTaskList, ProvisioningTaskView,
    RemoveProvisioningTask, ResendEnrollment,
};
use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::session::Session;
use crate::view::PersonRef;

impl Session {
    /// The task list: tasks not completed and not removed (seed 004).
    pub fn provisioning_tasks(&self) -> Result<ProvisioningTaskList> {
        self.may_provision()?;
        self.registry_view("/v1/provisioning/tasks")
    }

    /// Every task, completed ones too (reports).
    pub fn provisioning_report(&self) -> Result<ProvisioningTaskList> {
        self.registry_view("/v1/provisioning/report")
    }

    /// One task by its number (or id), with every user.
    pub fn provisioning_task(&self, task: &str) -> Result<ProvisioningTaskView> {
        self.may_provision()?;
        let task = task.trim();
        if task.is_empty() || !task.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(Error::Invalid(format!("{task:?} is not a task number")));
        }
        self.registry_view(&format!("/v1/provisioning/tasks/{task}"))
    }

    /// A person's outstanding tasks (seed 004 "View provisioning tasks for a user").
    pub fn person_provisioning(&self, person: PersonId) -> Result<PersonProvisioning> {
        self.registry_view(&format!("/v1/people/{person}/provisioning"))
    }

    /// Provisions `people` to enroll a card of `profile` by `stop_date`
    /// (absent: the self-enrollment policy's period); each gets an email.
    pub fn create_provisioning_task(
        &mut self,
        profile: ProfileId,
        people: &[PersonId],
        stop_date: Option<OffsetDateTime>,
    ) -> Result<ProvisioningTaskView> {
        self.may_provision()?;
        let task = TaskId::new(Uuid::now_v7());
        let invitees = people
            .iter()
            .map(|&person| ProvisioningInvitee { enrollment: EnrollmentId::new(Uuid::now_v7()), person })
            .collect();
        let op = CreateProvisioningTask { task, profile, invitees, stop_date };
        self.submit(OperationKind::CreateProvisioningTask(op), |_| Ok(()))?;
        self.provisioning_task(&task.to_string())
    }

    /// Removes `people` from `task` (irreversible; optionally telling them)
    /// and/or moves its stop date.
    pub fn edit_provisioning_task(
        &mut self,
        task: &str,
        remove: &[PersonId],
        notify_removed: bool,
        stop_date: Option<OffsetDateTime>,
    ) -> Result<ProvisioningTaskView> {
        let view = self.provisioning_task(task)?;
        let remove = remove
            .iter()
            .map(|person| enrollment_of(&view, *person))
            .collect::<Result<Vec<EnrollmentId>>>()?;
        let op = EditProvisioningTask { task: view.id, remove, notify_removed, stop_date };
        self.submit(OperationKind::EditProvisioningTask(op), |_| Ok(()))?;
        self.provisioning_task(&view.id.to_string())
    }

    /// Removes `task`: users who have not completed can no longer enroll.
    pub fn remove_provisioning_task(
        &mut self,
        task: &str,
        notify_removed: bool,
    ) -> Result<ProvisioningTaskView> {
        let view = self.provisioning_task(task)?;
        let op = RemoveProvisioningTask { task: view.id, notify_removed };
        self.submit(OperationKind::RemoveProvisioningTask(op), |_| Ok(()))?;
        self.provisioning_task(&view.id.to_string())
    }

    /// Sends `person` of `task` a new code (the old one stops working), to
    /// `alternate_email` for this message only when given.
    pub fn resend_enrollment(
        &mut self,
        task: &str,
        person: PersonId,
        alternate_email: Option<String>,
    ) -> Result<ProvisioningTaskView> {
        let view = self.provisioning_task(task)?;
        let enrollment = enrollment_of(&view, person)?;
        let op = ResendEnrollment { task: view.id, enrollment, alternate_email };
        self.submit(OperationKind::ResendEnrollment(op), |_| Ok(()))?;
        self.provisioning_task(&view.id.to_string())
    }

    fn may_provision(&self) -> Result<()> {
        Ok(self.actor().require(Permission::global(GlobalPermission::ManageProvisioningTasks))?)
    }

    fn registry_view<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T> {
        self.runtime.block_on(self.remote.view(&self.grant.token, path))
    }
}

/// The enrollment of `person` in the task `view` shows.
fn enrollment_of(view: &ProvisioningTaskView, person: PersonId) -> Result<EnrollmentId> {
    view.users
        .iter()
        .find(|u| u.person == person)
        .map(|u| u.enrollment)
        .ok_or_else(|| Error::NotFound(format!("{person} is not a user of task {}", view.number)))
}

/// One user of a task as the window shows them (seed 004 "Status",
/// "Serial Number"): named, never by id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
pub struct EnrollmentRow {
    /// The user (the id only for links and for the edit's selection).
    pub person: PersonRef,
    /// The address their enrollment email goes to.
    pub email: String,
    /// `active`, `completed`, `locked`, `expired` or `removed`.
    pub status: String,
    /// In words.
    pub status_label: String,
    /// Their stop date (RFC 3339).
    pub stop_date: String,
    /// Wrong codes so far.
    pub failed_attempts: u32,
    /// Serial of the enrolled card.
    pub serial: Option<String>,
    /// Resend is offered (seed 004: only for active users).
    pub can_resend: bool,
    /// Edit → Remove is offered (not completed, not removed already).
    pub can_remove: bool,
}

/// A provisioning task with every column of seed 004's list and details.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
pub struct ProvisioningTaskRow {
    /// Its id (keys and links; the window shows the number).
    pub id: Uuid,
    /// "Task": the number the registry gave it.
    pub number: u32,
    /// "Operator": who created it.
    pub operator: String,
    /// "Emailed to": the last address an enrollment email went to.
    pub emailed_to: String,
    /// "Start Date" (RFC 3339).
    pub start_date: String,
    /// "Stop Date" (RFC 3339).
    pub stop_date: String,
    /// "Count": the number of users.
    pub count: u32,
    /// Users who may still enroll.
    pub active: u32,
    /// "Authentication Type": the credential profile's name.
    pub authentication_type: Option<String>,
    /// `open`, `completed` (reports only) or `removed`.
    pub status: String,
    /// In words.
    pub status_label: String,
    /// The users.
    pub users: Vec<EnrollmentRow>,
}

/// One outstanding task of a person (seed 004 "View provisioning tasks for a user").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
pub struct PersonTaskRow {
    /// "Task": its number.
    pub task: u32,
    /// "Requester": the operator who created the task.
    pub requester: String,
    /// "Provisioned to": the address the enrollment email was sent to.
    pub provisioned_to: String,
    /// "Start Date" (RFC 3339).
    pub start_date: String,
    /// "Stop Date": the person's (RFC 3339).
    pub stop_date: String,
    /// "Status".
    pub status: String,
    /// In words.
    pub status_label: String,
    /// "Authentication Type": the credential profile's name.
    pub authentication_type: Option<String>,
}

impl From<ProvisioningTaskView> for ProvisioningTaskRow {
    fn from(v: ProvisioningTaskView) -> Self {
        let status = if v.removed {
            "removed"
        } else if v.completed {
            "completed"
        } else {
            "open"
        };
        let users: Vec<EnrollmentRow> = v.users.into_iter().map(EnrollmentRow::from).collect();
        ProvisioningTaskRow {
            id: v.id.uuid(),
            number: small(v.number),
            operator: v.operator,
            emailed_to: v.emailed_to,
            start_date: rfc3339(v.start_date),
            stop_date: rfc3339(v.stop_date),
            count: small(v.count),
            active: small(users.iter().filter(|u| u.status == "active").count() as u64),
            authentication_type: v.authentication_type,
            status: status.into(),
            status_label: crate::label(status),
            users,
        }
    }
}

impl From<EnrollmentView> for EnrollmentRow {
    fn from(e: EnrollmentView) -> Self {
        let removable =
            machines::enrollment::next_state(e.status, &EnrollmentCommand::Remove { notify: false });
        EnrollmentRow {
            person: PersonRef { id: e.person.uuid(), name: e.person_name },
            email: e.email,
            status: e.status.name().into(),
            status_label: crate::label(e.status.name()),
            stop_date: rfc3339(e.stop_date),
            failed_attempts: e.failed_attempts,
            serial: e.serial,
            can_resend: e.status == EnrollmentState::Active,
            can_remove: removable.is_ok(),
        }
    }
}

impl From<PersonProvisioningRow> for PersonTaskRow {
    fn from(r: PersonProvisioningRow) -> Self {
        PersonTaskRow {
            task: small(r.task),
            requester: r.requester,
            provisioned_to: r.provisioned_to,
            start_date: rfc3339(r.start_date),
            stop_date: rfc3339(r.stop_date),
            status: r.status.name().into(),
            status_label: crate::label(r.status.name()),
            authentication_type: r.authentication_type,
        }
    }
}

/// A stop date typed in the window: a day (`2026-12-31`: the end of that
/// day, UTC) or an RFC 3339 time; empty: none (the policy's period).
pub fn parse_stop_date(text: Option<&str>) -> Result<Option<OffsetDateTime>> {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let format = time::macros::format_description!("[year]-[month]-[day]");
    if let Ok(day) = time::Date::parse(text, &format) {
        let end = day.with_hms(23, 59, 59).map_err(|e| Error::Invalid(e.to_string()))?;
        return Ok(Some(end.assume_utc()));
    }
    crate::parse_time(text).map(Some)
}

impl Session {
    /// The task list for the window (completed tasks left out), or with
    /// `report` every task, completed and removed ones too.
    pub fn provisioning_rows(&self, report: bool) -> Result<Vec<ProvisioningTaskRow>> {
        let list = if report { self.provisioning_report()? } else { self.provisioning_tasks()? };
        Ok(list.tasks.into_iter().map(ProvisioningTaskRow::from).collect())
    }

    /// A person's outstanding tasks for the person view (empty: none, or
    /// the registry is not reachable: the table is then not shown).
    pub fn person_task_rows(&self, person: PersonId) -> Result<Vec<PersonTaskRow>> {
        Ok(self.person_provisioning(person)?.tasks.into_iter().map(PersonTaskRow::from).collect())
    }
}

fn small(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}
