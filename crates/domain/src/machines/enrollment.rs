//! The provisioning enrollment state machine (SPEC §4; UC-PROV, UC-WALKUP; seed 004).
//!
//! ```text
//! active → completed | locked (too many wrong codes) | expired (stop date passed) | removed
//! locked | expired → removed
//! active → active: wrong code counted, card enrolled, resend, new stop date
//!
//! Completion is two steps (seed 004 "enrolled their token and used it to
//! authenticate at least one time"): `Enroll` records the encoded card and
//! uses up the code; `Complete` follows the first authentication with it.
//! ```

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::actor::{Actor, ActorKind};
use crate::entities::provisioning::Enrollment;
use crate::machines::{AnyState, Outcome};
use crate::permissions::{GlobalPermission, Permission};
use crate::refusal::Refusal;
use crate::use_case::UseCase;

/// Enrollment states (seed 004 "Status").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnrollmentState {
    /// The user may still enroll.
    Active,
    /// The user enrolled a card.
    Completed,
    /// Too many wrong enrollment codes.
    Locked,
    /// The stop date passed before the user enrolled.
    Expired,
    /// Removed from the task by an operator (irreversible).
    Removed,
}

impl EnrollmentState {
    /// Every state.
    pub const ALL: [EnrollmentState; 5] = [
        EnrollmentState::Active,
        EnrollmentState::Completed,
        EnrollmentState::Locked,
        EnrollmentState::Expired,
        EnrollmentState::Removed,
    ];

    /// snake_case name.
    pub const fn name(self) -> &'static str {
        match self {
            EnrollmentState::Active => "active",
            EnrollmentState::Completed => "completed",
            EnrollmentState::Locked => "locked",
            EnrollmentState::Expired => "expired",
            EnrollmentState::Removed => "removed",
        }
    }
}

/// Commands on an enrollment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "command")]
pub enum EnrollmentCommand {
    /// The walk-up station finished encoding the user's card (the code is
    /// used up); the enrollment completes at the card's first authentication.
    Enroll {
        /// The card's serial number.
        serial: String,
    },
    /// The user authenticated with the enrolled card for the first time.
    Complete {
        /// The card's serial number.
        serial: String,
    },
    /// A wrong enrollment code was entered (UC-WALKUP).
    FailAttempt,
    /// The stop date has passed.
    Expire,
    /// Remove the user from the task (seed 004 Edit → Remove; irreversible).
    Remove {
        /// Email the user that their enrollment was cancelled.
        notify: bool,
    },
    /// Send the enrollment email again (only active enrollments, seed 004).
    Resend {
        /// An address used for this email only, not kept.
        alternate_email: Option<String>,
        /// The new stop date, computed by the caller from the self-enrollment policy.
        #[serde(with = "time::serde::rfc3339")]
        new_stop_date: OffsetDateTime,
    },
    /// Extend or shorten the enrollment period (seed 004 Edit → New Stop Date).
    ChangeStopDate {
        /// The new stop date.
        #[serde(with = "time::serde::rfc3339")]
        stop_date: OffsetDateTime,
    },
}

impl EnrollmentCommand {
    /// snake_case name.
    pub const fn name(&self) -> &'static str {
        match self {
            EnrollmentCommand::Enroll { .. } => "enroll",
            EnrollmentCommand::Complete { .. } => "complete",
            EnrollmentCommand::FailAttempt => "fail_attempt",
            EnrollmentCommand::Expire => "expire",
            EnrollmentCommand::Remove { .. } => "remove",
            EnrollmentCommand::Resend { .. } => "resend",
            EnrollmentCommand::ChangeStopDate { .. } => "change_stop_date",
        }
    }
}

/// What the caller records or sends after an enrollment transition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "effect")]
pub enum EnrollmentEffect {
    /// Record the enrolled card's serial.
    DeviceEnrolled {
        /// The serial.
        serial: String,
    },
    /// Record the new count of wrong codes.
    AttemptCounted {
        /// Wrong codes so far.
        failed_attempts: u32,
    },
    /// Record the new stop date.
    StopDateMoved {
        /// The new stop date.
        #[serde(with = "time::serde::rfc3339")]
        to: OffsetDateTime,
    },
    /// Send the enrollment email (a fresh one-time code).
    SendEnrollmentEmail {
        /// Recipient.
        to: String,
        /// Whether `to` is an alternate address: used once, and not stored.
        alternate: bool,
    },
    /// Tell the user their enrollment was cancelled.
    SendRemovalNotice {
        /// Recipient.
        to: String,
    },
}

/// An accepted transition of this machine.
pub type EnrollmentOutcome = Outcome<EnrollmentState, EnrollmentEffect>;

/// The bare transition table. `FailAttempt` is shown for an enrollment with
/// attempts to spare; the attempt that reaches the limit leads to `Locked`
/// (decided by [`apply`], which knows the counter).
pub fn next_state(from: EnrollmentState, command: &EnrollmentCommand) -> Result<EnrollmentState, Refusal> {
    use EnrollmentCommand as C;
    use EnrollmentState as S;
    match (from, command) {
        (S::Active, C::Complete { .. }) => Ok(S::Completed),
        (S::Active, C::Enroll { .. } | C::FailAttempt | C::Resend { .. } | C::ChangeStopDate { .. }) => {
            Ok(S::Active)
        }
        (S::Active, C::Expire) => Ok(S::Expired),
        (S::Active | S::Locked | S::Expired, C::Remove { .. }) => Ok(S::Removed),
        _ => Err(Refusal::StateNotAllowed {
            from: AnyState::Enrollment(from),
            command: command.name().to_owned(),
        }),
    }
}

/// Decides `command` on `enrollment` for `actor` at `now`.
///
/// - enroll / complete / fail attempt: the walk-up station for the
///   cardholder under UC-WALKUP; enrolling only before the stop date,
///   completing only with the card enrolled;
/// - expire: anyone, once the stop date has passed;
/// - remove / resend / change stop date: Manage provisioning tasks under UC-PROV.
pub fn apply(
    enrollment: &Enrollment,
    command: &EnrollmentCommand,
    actor: &Actor,
    now: OffsetDateTime,
) -> Result<EnrollmentOutcome, Refusal> {
    use EnrollmentCommand as C;
    match command {
        C::Enroll { .. } | C::Complete { .. } | C::FailAttempt => actor.require_use_case(UseCase::Walkup)?,
        C::Expire => {}
        C::Remove { .. } | C::Resend { .. } | C::ChangeStopDate { .. } => {
            actor.require_use_case(UseCase::Prov)?
        }
    }
    let from = enrollment.state;
    let mut to = next_state(from, command)?;
    let mut effects = Vec::new();
    match command {
        C::Enroll { serial } | C::Complete { serial } => {
            match actor.kind {
                ActorKind::Cardholder { person } if person == enrollment.person => {}
                ActorKind::Cardholder { .. } => return Err(Refusal::NotTheCardholder),
                ActorKind::System => {}
                ActorKind::Operator { .. } => return Err(Refusal::NotTheCardholder),
            }
            if let C::Complete { .. } = command {
                // The first authentication with the card enrolled here; it
                // may follow the stop date (the enrollment itself did not).
                if enrollment.serial.as_deref() != Some(serial.as_str()) {
                    return Err(Refusal::NotEnrolledYet);
                }
            } else {
                if now > enrollment.stop_date {
                    return Err(Refusal::StopDatePassed { stop_date: enrollment.stop_date });
                }
                effects.push(EnrollmentEffect::DeviceEnrolled { serial: serial.clone() });
            }
        }
        C::FailAttempt => {
            if let ActorKind::Operator { .. } = actor.kind {
                return Err(Refusal::NotTheCardholder);
            }
            let failed_attempts = enrollment.failed_attempts.saturating_add(1);
            if failed_attempts >= enrollment.max_attempts {
                to = EnrollmentState::Locked;
            }
            effects.push(EnrollmentEffect::AttemptCounted { failed_attempts });
        }
        C::Expire => {
            if now <= enrollment.stop_date {
                return Err(Refusal::NotYetExpired { expires_at: enrollment.stop_date });
            }
        }
        C::Remove { notify } => {
            actor.require(Permission::global(GlobalPermission::ManageProvisioningTasks))?;
            if *notify {
                effects.push(EnrollmentEffect::SendRemovalNotice { to: enrollment.email.clone() });
            }
        }
        C::Resend { alternate_email, new_stop_date } => {
            actor.require(Permission::global(GlobalPermission::ManageProvisioningTasks))?;
            if *new_stop_date <= now {
                return Err(Refusal::DateNotInFuture { date: *new_stop_date });
            }
            let (to_address, alternate) = match alternate_email {
                Some(address) => {
                    crate::rules::check_email(address)?;
                    (address.clone(), true)
                }
                None => (enrollment.email.clone(), false),
            };
            effects.push(EnrollmentEffect::SendEnrollmentEmail { to: to_address, alternate });
            effects.push(EnrollmentEffect::StopDateMoved { to: *new_stop_date });
        }
        C::ChangeStopDate { stop_date } => {
            actor.require(Permission::global(GlobalPermission::ManageProvisioningTasks))?;
            if *stop_date <= now {
                return Err(Refusal::DateNotInFuture { date: *stop_date });
            }
            effects.push(EnrollmentEffect::StopDateMoved { to: *stop_date });
        }
    }
    Ok(Outcome { from, to, at: now, effects })
}
