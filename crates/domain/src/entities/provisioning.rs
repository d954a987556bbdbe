//! Provisioning tasks and enrollments (SPEC §3, UC-PROV, UC-WALKUP; seed 004).

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::actor::Actor;
use crate::ids::{EnrollmentId, OperatorId, PersonId, TaskId};
use crate::machines::enrollment::{self, EnrollmentCommand, EnrollmentOutcome, EnrollmentState};
use crate::permissions::{GlobalPermission, Permission};
use crate::refusal::Refusal;
use crate::rules;
use crate::use_case::UseCase;

/// One user's enrollment inside a task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enrollment {
    /// Identity.
    pub id: EnrollmentId,
    /// The task it belongs to.
    pub task: TaskId,
    /// The user.
    pub person: PersonId,
    /// The address the enrollment email goes to (the user's own).
    pub email: String,
    /// State (SPEC §4 Provisioning enrollment).
    pub state: EnrollmentState,
    /// Wrong enrollment codes so far (UC-WALKUP).
    pub failed_attempts: u32,
    /// Wrong codes allowed before the enrollment locks.
    pub max_attempts: u32,
    /// The date by which the user must have enrolled.
    #[serde(with = "time::serde::rfc3339")]
    pub stop_date: OffsetDateTime,
    /// Serial of the enrolled card, once completed.
    pub serial: Option<String>,
}

/// A provisioning task: an enrollment invitation for one or more users.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvisioningTask {
    /// Identity.
    pub id: TaskId,
    /// The task number shown in the list.
    pub number: u64,
    /// The operator who created it.
    pub operator: OperatorId,
    /// The last address an enrollment email was sent to.
    pub emailed_to: String,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub start_date: OffsetDateTime,
    /// The date by which all users must have enrolled.
    #[serde(with = "time::serde::rfc3339")]
    pub stop_date: OffsetDateTime,
    /// The users' enrollments.
    pub enrollments: Vec<Enrollment>,
    /// Removed: unfinished users can no longer enroll.
    pub removed: bool,
}

impl ProvisioningTask {
    /// "Count": the number of users in the task.
    pub fn count(&self) -> usize {
        self.enrollments.len()
    }

    /// Completed: every user enrolled. Completed tasks stay for reporting only.
    pub fn is_completed(&self) -> bool {
        !self.enrollments.is_empty() && self.enrollments.iter().all(|e| e.state == EnrollmentState::Completed)
    }

    /// Whether the task appears in the task list (not completed, not removed).
    pub fn is_listed(&self) -> bool {
        !self.removed && !self.is_completed()
    }

    /// Whether `person` still has something to do in this task (person view).
    pub fn is_outstanding_for(&self, person: PersonId) -> bool {
        !self.removed
            && self.enrollments.iter().any(|e| e.person == person && e.state == EnrollmentState::Active)
    }
}

/// One user to provision in a new task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invitee {
    /// Enrollment id (made by the caller).
    pub enrollment: EnrollmentId,
    /// The user.
    pub person: PersonId,
    /// Where the enrollment email goes.
    pub email: String,
}

impl ProvisioningTask {
    /// Creates a task for `invitees` (UC-PROV): Manage provisioning tasks,
    /// at least one user, each once, valid addresses, a stop date after now.
    /// The caller sends each invitee the enrollment email.
    pub fn create(
        id: TaskId,
        number: u64,
        invitees: &[Invitee],
        stop_date: OffsetDateTime,
        max_attempts: u32,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> Result<Self, Refusal> {
        actor.require_use_case(UseCase::Prov)?;
        actor.require(Permission::global(GlobalPermission::ManageProvisioningTasks))?;
        let operator = actor.operator_id().ok_or(Refusal::OperatorRequired)?;
        if stop_date <= now {
            return Err(Refusal::DateNotInFuture { date: stop_date });
        }
        let last = invitees.last().ok_or_else(|| Refusal::InvalidTask("no user to provision".into()))?;
        let mut enrollments: Vec<Enrollment> = Vec::with_capacity(invitees.len());
        for invitee in invitees {
            rules::check_email(&invitee.email)?;
            if enrollments.iter().any(|e| e.person == invitee.person) {
                return Err(Refusal::InvalidTask(format!("user {} is listed twice", invitee.person)));
            }
            enrollments.push(Enrollment {
                id: invitee.enrollment,
                task: id,
                person: invitee.person,
                email: invitee.email.clone(),
                state: EnrollmentState::Active,
                failed_attempts: 0,
                max_attempts: max_attempts.max(1),
                stop_date,
                serial: None,
            });
        }
        Ok(Self {
            id,
            number,
            operator,
            emailed_to: last.email.clone(),
            start_date: now,
            stop_date,
            enrollments,
            removed: false,
        })
    }

    /// Removes the task (seed 004 "Remove"): every unfinished user's
    /// enrollment is removed, so they can no longer enroll; completed ones
    /// stay for reporting. Returns each removal's outcome; the caller records
    /// them and sets [`ProvisioningTask::removed`].
    pub fn remove(
        &self,
        notify: bool,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> Result<Vec<(EnrollmentId, EnrollmentOutcome)>, Refusal> {
        if self.removed {
            return Err(Refusal::TaskRemoved);
        }
        let command = EnrollmentCommand::Remove { notify };
        let mut out = Vec::new();
        for e in &self.enrollments {
            if matches!(e.state, EnrollmentState::Completed | EnrollmentState::Removed) {
                continue;
            }
            out.push((e.id, enrollment::apply(e, &command, actor, now)?));
        }
        if out.is_empty() {
            // Nothing unfinished: still check the actor may remove tasks.
            actor.require_use_case(UseCase::Prov)?;
            actor.require(Permission::global(GlobalPermission::ManageProvisioningTasks))?;
        }
        Ok(out)
    }
}
