//! The temporary card state machine (SPEC §4 Temporary card; UC-TEMP, seed 001).
//!
//! ```text
//! ordered → produced → (initialize) → unassigned ⇄ assigned (assign / withdraw)
//! assigned → expired → (withdraw) → unassigned
//! unassigned | assigned → locked (final)
//! ```
//! Assigning makes the holder's permanent card temporarily inactive;
//! withdrawing (a return) says what becomes of it: reason "no longer needed"
//! reactivates it, "lost" leaves it inactive.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::actor::Actor;
use crate::entities::temporary_card::TemporaryCard;
use crate::ids::{DeviceId, PersonId};
use crate::machines::card::TemporaryReturnReason;
use crate::machines::{AnyState, Outcome};
use crate::permissions::{GlobalPermission, Permission};
use crate::refusal::Refusal;
use crate::use_case::UseCase;

/// Temporary card states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TemporaryCardState {
    /// Ordered from external production.
    Ordered,
    /// Delivered, blank.
    Produced,
    /// Initialized (profile, PIN, PUK), in the drawer.
    Unassigned,
    /// Lent to a person.
    Assigned,
    /// The assignment period passed; waiting to be withdrawn.
    Expired,
    /// Locked (final).
    Locked,
}

impl TemporaryCardState {
    /// Every state.
    pub const ALL: [TemporaryCardState; 6] = [
        TemporaryCardState::Ordered,
        TemporaryCardState::Produced,
        TemporaryCardState::Unassigned,
        TemporaryCardState::Assigned,
        TemporaryCardState::Expired,
        TemporaryCardState::Locked,
    ];

    /// snake_case name.
    pub const fn name(self) -> &'static str {
        match self {
            TemporaryCardState::Ordered => "ordered",
            TemporaryCardState::Produced => "produced",
            TemporaryCardState::Unassigned => "unassigned",
            TemporaryCardState::Assigned => "assigned",
            TemporaryCardState::Expired => "expired",
            TemporaryCardState::Locked => "locked",
        }
    }
}

/// Commands on a temporary card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "command")]
pub enum TemporaryCardCommand {
    /// External production delivered it.
    MarkProduced,
    /// Encode profile, PIN and PUK (seed 001; off by default).
    Initialize,
    /// Lend it to a person.
    Assign {
        /// The holder.
        person: PersonId,
        /// End of the assignment, if limited.
        #[serde(with = "time::serde::rfc3339::option")]
        until: Option<OffsetDateTime>,
        /// The holder's permanent card, made temporarily inactive.
        permanent_card: Option<DeviceId>,
    },
    /// Take it back (a return), with the reason.
    Withdraw {
        /// Why it comes back; decides the permanent card's fate.
        reason: TemporaryReturnReason,
    },
    /// The assignment period has passed.
    Expire,
    /// Lock it for good (lost temporary card, damaged…).
    Lock,
}

impl TemporaryCardCommand {
    /// snake_case name.
    pub const fn name(&self) -> &'static str {
        match self {
            TemporaryCardCommand::MarkProduced => "mark_produced",
            TemporaryCardCommand::Initialize => "initialize",
            TemporaryCardCommand::Assign { .. } => "assign",
            TemporaryCardCommand::Withdraw { .. } => "withdraw",
            TemporaryCardCommand::Expire => "expire",
            TemporaryCardCommand::Lock => "lock",
        }
    }
}

/// What the caller does to the holder's permanent card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "effect")]
pub enum TemporaryCardEffect {
    /// Apply [`crate::machines::card::CardCommand::SuspendForTemporary`] to it.
    SuspendPermanentCard {
        /// The permanent card.
        device: DeviceId,
    },
    /// Apply [`crate::machines::card::CardCommand::ResumeAfterTemporary`] to it.
    ResumePermanentCard {
        /// The permanent card.
        device: DeviceId,
        /// The return reason.
        reason: TemporaryReturnReason,
    },
    /// Clear the holder and assignment period.
    ClearHolder,
}

/// An accepted transition of this machine.
pub type TemporaryCardOutcome = Outcome<TemporaryCardState, TemporaryCardEffect>;

/// The bare transition table.
pub fn next_state(
    from: TemporaryCardState,
    command: &TemporaryCardCommand,
) -> Result<TemporaryCardState, Refusal> {
    use TemporaryCardCommand as C;
    use TemporaryCardState as S;
    match (from, command) {
        (S::Ordered, C::MarkProduced) => Ok(S::Produced),
        (S::Produced, C::Initialize) => Ok(S::Unassigned),
        (S::Unassigned, C::Assign { .. }) => Ok(S::Assigned),
        (S::Assigned | S::Expired, C::Withdraw { .. }) => Ok(S::Unassigned),
        (S::Assigned, C::Expire) => Ok(S::Expired),
        (S::Unassigned | S::Assigned, C::Lock) => Ok(S::Locked),
        _ => Err(Refusal::StateNotAllowed {
            from: AnyState::TemporaryCard(from),
            command: command.name().to_owned(),
        }),
    }
}

/// Decides `command` on `card` for `actor` at `now`. Every command needs
/// Manage temporary cards under UC-TEMP; initializing also needs its own
/// use case (off by default, seed 001). Expiry is a fact any actor may
/// record once the assignment period is over.
pub fn apply(
    card: &TemporaryCard,
    command: &TemporaryCardCommand,
    actor: &Actor,
    now: OffsetDateTime,
) -> Result<TemporaryCardOutcome, Refusal> {
    use TemporaryCardCommand as C;
    match command {
        C::Expire => {}
        C::Initialize => {
            actor.require_use_case(UseCase::Temp)?;
            actor.require_use_case(UseCase::TempInitialize)?;
        }
        _ => actor.require_use_case(UseCase::Temp)?,
    }
    let from = card.state;
    let to = next_state(from, command)?;
    let mut effects = Vec::new();
    match command {
        C::Expire => {
            if let Some(until) = card.assigned_until {
                if now < until {
                    return Err(Refusal::NotYetExpired { expires_at: until });
                }
            }
        }
        C::Assign { person, until, permanent_card } => {
            actor.require(Permission::global(GlobalPermission::ManageTemporaryCards))?;
            if actor.person() == Some(*person) {
                return Err(Refusal::ActorIsRecipient);
            }
            if let Some(until) = until {
                if *until <= now {
                    return Err(Refusal::DateNotInFuture { date: *until });
                }
            }
            if let Some(device) = permanent_card {
                effects.push(TemporaryCardEffect::SuspendPermanentCard { device: *device });
            }
        }
        C::Withdraw { reason } => {
            actor.require(Permission::global(GlobalPermission::ManageTemporaryCards))?;
            if let Some(device) = card.permanent_card {
                effects.push(TemporaryCardEffect::ResumePermanentCard { device, reason: *reason });
            }
            effects.push(TemporaryCardEffect::ClearHolder);
        }
        C::Lock => {
            actor.require(Permission::global(GlobalPermission::ManageTemporaryCards))?;
            if from == TemporaryCardState::Assigned {
                effects.push(TemporaryCardEffect::ClearHolder);
            }
        }
        C::MarkProduced | C::Initialize => {
            actor.require(Permission::global(GlobalPermission::ManageTemporaryCards))?;
        }
    }
    Ok(Outcome { from, to, at: now, effects })
}
