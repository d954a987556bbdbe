//! The request state machine (SPEC §4 Request; UC-APPROVE, UC-UPDATE).
//!
//! ```text
//! pending-approval → approved | rejected (final) | cancelled (final)
//! approved → completed (final) | failed | cancelled
//! failed → approved (retry) | cancelled
//! ```
//! A failed request stays open so that it can be retried or cancelled.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::actor::{Actor, ActorKind};
use crate::entities::request::Request;
use crate::ids::{PersonId, RequestId};
use crate::machines::{AnyState, Outcome};
use crate::permissions::{GlobalPermission, Permission, ProfilePermission};
use crate::refusal::Refusal;
use crate::rules;
use crate::use_case::UseCase;

/// Request states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestState {
    /// Waiting for an approver.
    PendingApproval,
    /// Approved (or needing no approval); ready to carry out.
    Approved,
    /// Rejected (final).
    Rejected,
    /// Cancelled, by a person or superseded by a newer request (final).
    Cancelled,
    /// Carried out (final).
    Completed,
    /// Carrying out failed; retryable.
    Failed,
}

impl RequestState {
    /// Every state.
    pub const ALL: [RequestState; 6] = [
        RequestState::PendingApproval,
        RequestState::Approved,
        RequestState::Rejected,
        RequestState::Cancelled,
        RequestState::Completed,
        RequestState::Failed,
    ];

    /// snake_case name.
    pub const fn name(self) -> &'static str {
        match self {
            RequestState::PendingApproval => "pending_approval",
            RequestState::Approved => "approved",
            RequestState::Rejected => "rejected",
            RequestState::Cancelled => "cancelled",
            RequestState::Completed => "completed",
            RequestState::Failed => "failed",
        }
    }

    /// Open: not yet finally decided or done; a newer request of the same kind supersedes it.
    pub const fn is_open(self) -> bool {
        matches!(self, RequestState::PendingApproval | RequestState::Approved | RequestState::Failed)
    }
}

/// Commands on a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "command")]
pub enum RequestCommand {
    /// Approve (UC-APPROVE).
    Approve,
    /// Reject (UC-APPROVE).
    Reject,
    /// Cancel, by the requester or an approver (UC-APPROVE).
    Cancel,
    /// Cancelled because a newer request of the same kind was made for the device (UC-UPDATE).
    Supersede {
        /// The newer request.
        by: RequestId,
    },
    /// Carried out (collected, issued, unblocked…).
    Complete,
    /// Carrying out failed.
    Fail,
    /// Try again after a failure.
    Retry,
}

impl RequestCommand {
    /// snake_case name.
    pub const fn name(&self) -> &'static str {
        match self {
            RequestCommand::Approve => "approve",
            RequestCommand::Reject => "reject",
            RequestCommand::Cancel => "cancel",
            RequestCommand::Supersede { .. } => "supersede",
            RequestCommand::Complete => "complete",
            RequestCommand::Fail => "fail",
            RequestCommand::Retry => "retry",
        }
    }
}

/// What the caller records after a request transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "effect")]
pub enum RequestEffect {
    /// Record the approver (who approved or rejected).
    Decided {
        /// The approver.
        by: PersonId,
    },
}

/// An accepted transition of this machine.
pub type RequestOutcome = Outcome<RequestState, RequestEffect>;

/// The bare transition table.
pub fn next_state(from: RequestState, command: &RequestCommand) -> Result<RequestState, Refusal> {
    use RequestCommand as C;
    use RequestState as S;
    match (from, command) {
        (S::PendingApproval, C::Approve) => Ok(S::Approved),
        (S::PendingApproval, C::Reject) => Ok(S::Rejected),
        (S::PendingApproval | S::Approved | S::Failed, C::Cancel | C::Supersede { .. }) => Ok(S::Cancelled),
        (S::Approved, C::Complete) => Ok(S::Completed),
        (S::Approved, C::Fail) => Ok(S::Failed),
        (S::Failed, C::Retry) => Ok(S::Approved),
        _ => Err(Refusal::StateNotAllowed {
            from: AnyState::Request(from),
            command: command.name().to_owned(),
        }),
    }
}

/// Decides `command` on `request` for `actor` at `now`.
///
/// - approve / reject: Can Approve on the profile; approver ≠ requester ≠ recipient;
/// - cancel: the requester (under the request's own use case), or an approver
///   (Can Approve, or the global Cancel/Revoke) under UC-APPROVE;
/// - supersede: whoever makes the newer request (its permissions were checked
///   when it was planned, see [`crate::rules::plan_update`]), or the registry;
/// - complete / fail / retry: Can Collect on the profile and not one's own
///   device; or, at a walk-up kiosk, the recipient themselves (UC-WALKUP).
pub fn apply(
    request: &Request,
    command: &RequestCommand,
    actor: &Actor,
    now: OffsetDateTime,
) -> Result<RequestOutcome, Refusal> {
    use RequestCommand as C;
    let own_use_case = request.kind.use_case();
    let use_case = match command {
        C::Approve | C::Reject => UseCase::Approve,
        C::Cancel if actor.person() == Some(request.requester) => own_use_case,
        C::Cancel => UseCase::Approve,
        C::Supersede { .. } | C::Complete | C::Fail | C::Retry => match actor.kind {
            ActorKind::Cardholder { .. } => UseCase::Walkup,
            _ => own_use_case,
        },
    };
    actor.require_use_case(use_case)?;
    let from = request.state;
    let to = next_state(from, command)?;
    let profile = request.profile;
    let mut effects = Vec::new();
    match command {
        C::Approve | C::Reject => {
            actor.require(Permission::on(ProfilePermission::CanApprove, profile))?;
            rules::check_approver(actor, Some(request.requester), request.person)?;
            if let Some(by) = actor.person() {
                effects.push(RequestEffect::Decided { by });
            }
        }
        C::Cancel => {
            if actor.person() != Some(request.requester) {
                actor.require_operator()?;
                let approver = Permission::on(ProfilePermission::CanApprove, profile);
                let revoker = Permission::global(GlobalPermission::CancelRevoke);
                if !actor.permissions.permits(approver) {
                    actor.require(revoker)?;
                }
            }
        }
        C::Supersede { .. } => {
            if matches!(actor.kind, ActorKind::Cardholder { .. }) {
                return Err(Refusal::OperatorRequired);
            }
        }
        C::Complete | C::Fail | C::Retry => match actor.kind {
            ActorKind::Cardholder { person } => {
                if request.person != Some(person) {
                    return Err(Refusal::NotTheCardholder);
                }
            }
            ActorKind::Operator { .. } => {
                actor.require(Permission::on(ProfilePermission::CanCollect, profile))?;
                match request.device {
                    Some(device) => rules::not_own_device(actor, device, request.person)?,
                    None if request.person.is_some() && request.person == actor.person() => {
                        return Err(Refusal::ActorIsRecipient)
                    }
                    None => {}
                }
            }
            ActorKind::System => return Err(Refusal::OperatorRequired),
        },
    }
    Ok(Outcome { from, to, at: now, effects })
}
