//! Provisioning tasks and enrollments (SPEC §3, UC-PROV, UC-WALKUP; seed 004).

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::ids::{EnrollmentId, OperatorId, PersonId, TaskId};
use crate::machines::enrollment::EnrollmentState;

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
