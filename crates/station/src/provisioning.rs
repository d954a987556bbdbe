//! UC-PROV from the station: provisioning tasks (seed 004). The registry
//! makes each user's enrollment code and mails it, so every change goes to
//! the registry (queued through the outbox while it is unreachable) and the
//! views are read from it; no code ever reaches the station.

use domain::{EnrollmentId, GlobalPermission, Permission, PersonId, ProfileId, TaskId};
use proto::{
    CreateProvisioningTask, EditProvisioningTask, OperationKind, PersonProvisioning, ProvisioningInvitee,
    ProvisioningTaskList, ProvisioningTaskView, RemoveProvisioningTask, ResendEnrollment,
};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::session::Session;

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
