//! Provisioning tasks and enrollments (SPEC §3, UC-PROV, UC-WALKUP; seed 004).

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::actor::Actor;
use crate::entities::profile::ProfileRef;
use crate::ids::{DeviceId, EnrollmentId, OperatorId, PersonId, TaskId};
use crate::machines::enrollment::{
    self, EnrollmentCommand, EnrollmentEffect, EnrollmentOutcome, EnrollmentState,
};
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
    /// Serial of the enrolled card (seed 004 "Serial Number"), once enrolled.
    pub serial: Option<String>,
    /// The enrolled card's device record, once enrolled.
    #[serde(default)]
    pub device: Option<DeviceId>,
    /// The card record a kiosk started for this user and has not finished
    /// (UC-WALKUP): the same code resumes it, no second card is made.
    #[serde(default)]
    pub walkup_device: Option<DeviceId>,
}

impl Enrollment {
    /// The state to show at `now`: an active enrollment past its stop date
    /// is expired even before anyone records it (seed 004 "Expired").
    pub fn state_at(&self, now: OffsetDateTime) -> EnrollmentState {
        if self.state == EnrollmentState::Active && now > self.stop_date && self.serial.is_none() {
            EnrollmentState::Expired
        } else {
            self.state
        }
    }
}

/// The self-enrollment policy (seed 004 "adjusted based on the
/// Self-Enrollment Policy"): a deployment setting an administrator edits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SelfEnrollmentPolicy {
    /// Days from creation (or a resend) to the stop date.
    pub period_days: u32,
    /// Wrong enrollment codes allowed before an enrollment locks.
    pub max_attempts: u32,
    /// Seconds of inactivity after which a walk-up kiosk ends the session.
    pub kiosk_idle_timeout_secs: u32,
}

impl Default for SelfEnrollmentPolicy {
    fn default() -> Self {
        Self { period_days: 14, max_attempts: 5, kiosk_idle_timeout_secs: 60 }
    }
}

impl SelfEnrollmentPolicy {
    /// The stop date of an enrollment period starting at `now`.
    pub fn stop_date_from(&self, now: OffsetDateTime) -> OffsetDateTime {
        now + time::Duration::days(i64::from(self.period_days.clamp(1, 366)))
    }
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
    /// The credential profile the users enroll (seed 004 "Authentication Type").
    #[serde(default)]
    pub profile: Option<ProfileRef>,
}

impl ProvisioningTask {
    /// "Count": the number of users in the task.
    pub fn count(&self) -> usize {
        self.enrollments.len()
    }

    /// Completed: every user still in the task completed. Completed tasks
    /// stay for reporting only.
    pub fn is_completed(&self) -> bool {
        self.enrollments.iter().any(|e| e.state == EnrollmentState::Completed)
            && self
                .enrollments
                .iter()
                .all(|e| matches!(e.state, EnrollmentState::Completed | EnrollmentState::Removed))
    }

    /// The enrollment `id` of this task.
    pub fn enrollment(&self, id: EnrollmentId) -> Result<&Enrollment, Refusal> {
        self.enrollments
            .iter()
            .find(|e| e.id == id)
            .ok_or_else(|| Refusal::InvalidTask(format!("enrollment {id} is not in task {}", self.number)))
    }

    fn enrollment_mut(&mut self, id: EnrollmentId) -> Result<&mut Enrollment, Refusal> {
        let number = self.number;
        self.enrollments
            .iter_mut()
            .find(|e| e.id == id)
            .ok_or_else(|| Refusal::InvalidTask(format!("enrollment {id} is not in task {number}")))
    }

    /// Edits the task (seed 004 "Edit"): removes the users `remove`
    /// (irreversibly, with a removal notice each when `notify`) and moves the
    /// stop date of the task and its active users to `stop_date`, earlier or
    /// later but in the future. Returns the mails to send.
    pub fn edit(
        &mut self,
        remove: &[EnrollmentId],
        notify: bool,
        stop_date: Option<OffsetDateTime>,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> Result<Vec<EnrollmentEffect>, Refusal> {
        actor.require_use_case(UseCase::Prov)?;
        actor.require(Permission::global(GlobalPermission::ManageProvisioningTasks))?;
        if self.removed {
            return Err(Refusal::TaskRemoved);
        }
        if remove.is_empty() && stop_date.is_none() {
            return Err(Refusal::InvalidTask(
                "nothing to change: name users to remove or a new stop date".into(),
            ));
        }
        let mut mails = Vec::new();
        for (i, id) in remove.iter().enumerate() {
            if remove.iter().take(i).any(|other| other == id) {
                return Err(Refusal::InvalidTask(format!("enrollment {id} is named twice")));
            }
            let e = self.enrollment_mut(*id)?;
            let outcome = enrollment::apply(e, &EnrollmentCommand::Remove { notify }, actor, now)?;
            e.state = outcome.to;
            mails.extend(outcome.effects);
        }
        if let Some(stop_date) = stop_date {
            if stop_date <= now {
                return Err(Refusal::DateNotInFuture { date: stop_date });
            }
            let command = EnrollmentCommand::ChangeStopDate { stop_date };
            for e in self.enrollments.iter_mut().filter(|e| e.state == EnrollmentState::Active) {
                enrollment::apply(e, &command, actor, now)?;
                e.stop_date = stop_date;
            }
            self.stop_date = stop_date;
        }
        Ok(mails)
    }

    /// Resends the enrollment email to one active user (seed 004 "Resend"):
    /// to `alternate` if given (used for this message only, not kept),
    /// else to their address; their stop date moves to the policy's period
    /// from now, and the task's follows if it was earlier. Returns the mail.
    pub fn resend(
        &mut self,
        id: EnrollmentId,
        alternate: Option<String>,
        policy: &SelfEnrollmentPolicy,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> Result<Vec<EnrollmentEffect>, Refusal> {
        if self.removed {
            return Err(Refusal::TaskRemoved);
        }
        let new_stop_date = policy.stop_date_from(now);
        let e = self.enrollment_mut(id)?;
        if e.state_at(now) == EnrollmentState::Expired && e.state == EnrollmentState::Active {
            // Past its stop date already: expired, not active (only active users are resent).
            return Err(Refusal::StateNotAllowed {
                from: crate::machines::AnyState::Enrollment(EnrollmentState::Expired),
                command: "resend".into(),
            });
        }
        let command = EnrollmentCommand::Resend { alternate_email: alternate, new_stop_date };
        let outcome = enrollment::apply(e, &command, actor, now)?;
        e.stop_date = new_stop_date;
        let mut mails = Vec::new();
        for effect in outcome.effects {
            if let EnrollmentEffect::SendEnrollmentEmail { to, alternate: false } = &effect {
                self.emailed_to = to.clone();
            }
            if !matches!(effect, EnrollmentEffect::StopDateMoved { .. }) {
                mails.push(effect);
            }
        }
        self.stop_date = self.stop_date.max(new_stop_date);
        Ok(mails)
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
                device: None,
                walkup_device: None,
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
            profile: None,
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
