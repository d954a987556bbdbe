//! The card state machine (SPEC §4 Card; UC-REQUEST, UC-APPROVE, UC-ISSUE,
//! UC-BATCH, UC-TEMP, UC-RETIRE).
//!
//! ```text
//! requested → approved | rejected (final) | aborted (final)
//! approved → issued | active | production-failed
//! production-failed → approved (retry) | issued | active | production-failed
//! issued → active;  active ⇄ inactive;  active → temporarily-inactive → active | inactive
//! issued | active | inactive | temporarily-inactive → locked (final) | expired (final)
//! issued | active | inactive | temporarily-inactive | locked | expired | production-failed → erased
//! ```

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::actor::Actor;
use crate::entities::device::Device;
use crate::entities::profile::{CardEndState, CertificateEndState};
use crate::ids::DeviceId;
use crate::machines::certificate::RevocationReason;
use crate::machines::{AnyState, Outcome};
use crate::permissions::{GlobalPermission, Permission, ProfilePermission};
use crate::refusal::Refusal;
use crate::rules;
use crate::use_case::UseCase;

/// Card lifecycle states (SPEC §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CardState {
    /// Requested; waiting for a decision.
    Requested,
    /// Approved (or requested without approval); ready to issue.
    Approved,
    /// Rejected by an approver (final).
    Rejected,
    /// Aborted by the requester before a decision (final).
    Aborted,
    /// Encoding failed; retryable with the same or another card.
    ProductionFailed,
    /// Encoded, not yet active.
    Issued,
    /// In use.
    Active,
    /// Deactivated; certificates on hold.
    Inactive,
    /// The holder has a temporary card; certificates on hold (UC-TEMP).
    TemporarilyInactive,
    /// Cancelled (lost, stolen, damaged…); certificates revoked (final).
    Locked,
    /// Past its expiry date (final).
    Expired,
    /// Wiped back to blank stock (final for this record).
    Erased,
}

impl CardState {
    /// Every state, for exhaustive tables and UI filters.
    pub const ALL: [CardState; 12] = [
        CardState::Requested,
        CardState::Approved,
        CardState::Rejected,
        CardState::Aborted,
        CardState::ProductionFailed,
        CardState::Issued,
        CardState::Active,
        CardState::Inactive,
        CardState::TemporarilyInactive,
        CardState::Locked,
        CardState::Expired,
        CardState::Erased,
    ];

    /// snake_case name.
    pub const fn name(self) -> &'static str {
        match self {
            CardState::Requested => "requested",
            CardState::Approved => "approved",
            CardState::Rejected => "rejected",
            CardState::Aborted => "aborted",
            CardState::ProductionFailed => "production_failed",
            CardState::Issued => "issued",
            CardState::Active => "active",
            CardState::Inactive => "inactive",
            CardState::TemporarilyInactive => "temporarily_inactive",
            CardState::Locked => "locked",
            CardState::Expired => "expired",
            CardState::Erased => "erased",
        }
    }

    /// Whether no command leaves this state.
    pub const fn is_final(self) -> bool {
        matches!(self, CardState::Rejected | CardState::Aborted | CardState::Erased)
    }

    /// Whether the card carries issued credentials (may be updated, retired, expired).
    pub const fn is_issued(self) -> bool {
        matches!(
            self,
            CardState::Issued | CardState::Active | CardState::Inactive | CardState::TemporarilyInactive
        )
    }
}

/// How an issuance was started; decides the use case that must be enabled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IssueRoute {
    /// UC-ISSUE for one approved request.
    Single,
    /// UC-BATCH.
    Batch,
    /// UC-ISSUE "Issue card" without a request (seed 002).
    Direct,
    /// UC-WALKUP: the cardholder encodes their own card at a kiosk with an
    /// enrollment code (UC-PROV).
    Walkup,
}

impl IssueRoute {
    /// The use case this route belongs to.
    pub const fn use_case(self) -> UseCase {
        match self {
            IssueRoute::Single => UseCase::Issue,
            IssueRoute::Batch => UseCase::Batch,
            IssueRoute::Direct => UseCase::DirectIssue,
            IssueRoute::Walkup => UseCase::Walkup,
        }
    }
}

/// Why a device is cancelled (UC-RETIRE: the reason decides the certificates' fate).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CancelReason {
    /// Lost: the key may be in someone else's hands.
    Lost,
    /// Stolen.
    Stolen,
    /// Damaged: the key is gone with the chip.
    Damaged,
    /// The holder left or no longer needs it.
    NoLongerNeeded,
}

impl CancelReason {
    /// The revocation reason given to the card's certificates (RFC 5280 §5.3.1).
    pub const fn revocation(self) -> RevocationReason {
        match self {
            CancelReason::Lost | CancelReason::Stolen => RevocationReason::KeyCompromise,
            CancelReason::Damaged | CancelReason::NoLongerNeeded => RevocationReason::CessationOfOperation,
        }
    }
}

/// Why a temporary card comes back (UC-TEMP); decides the permanent card's fate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TemporaryReturnReason {
    /// The permanent card is back: reactivate it.
    NoLongerNeeded,
    /// The permanent card is lost: it stays inactive.
    Lost,
}

/// Commands on a card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "command")]
pub enum CardCommand {
    /// Approve the request for this card (UC-APPROVE).
    Approve,
    /// Reject it (UC-APPROVE).
    Reject,
    /// The requester withdraws the request before a decision.
    Abort,
    /// Encoding succeeded (UC-ISSUE, UC-BATCH).
    Issue {
        /// How the issuance was started.
        route: IssueRoute,
        /// Card state to end in (profile default or batch option).
        end_state: CardEndState,
        /// Certificate state to end in (profile default or batch option).
        certificate_end_state: CertificateEndState,
    },
    /// Encoding failed; the card may be retried.
    FailProduction {
        /// How the issuance was started.
        route: IssueRoute,
    },
    /// Put a failed card back in the approved queue.
    Retry {
        /// How the issuance was started.
        route: IssueRoute,
    },
    /// Activate an issued card.
    Activate,
    /// Deactivate (certificates on hold) (UC-RETIRE).
    Deactivate,
    /// Reactivate (certificates valid again) (UC-RETIRE).
    Reactivate,
    /// The holder received a temporary card (UC-TEMP).
    SuspendForTemporary {
        /// The temporary card handed out.
        temporary: DeviceId,
    },
    /// The temporary card came back (UC-TEMP).
    ResumeAfterTemporary {
        /// Why it came back.
        reason: TemporaryReturnReason,
    },
    /// Cancel the device; certificates revoked (UC-RETIRE).
    Cancel {
        /// Why.
        reason: CancelReason,
    },
    /// The card passed its expiry date.
    Expire,
    /// Wipe the card back to blank stock (UC-RETIRE).
    Erase,
}

fn route_words(route: IssueRoute) -> &'static str {
    match route {
        IssueRoute::Single => "single",
        IssueRoute::Batch => "batch",
        IssueRoute::Direct => "direct",
        IssueRoute::Walkup => "walk-up",
    }
}

fn cancel_words(reason: CancelReason) -> &'static str {
    match reason {
        CancelReason::Lost => "lost",
        CancelReason::Stolen => "stolen",
        CancelReason::Damaged => "damaged",
        CancelReason::NoLongerNeeded => "no longer needed",
    }
}

/// Operator wording of an action, as the device view lists it ("cancel the
/// card (lost)"); `name()` stays the stable machine name.
impl std::fmt::Display for CardCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CardCommand::Approve => f.write_str("approve the request"),
            CardCommand::Reject => f.write_str("reject the request"),
            CardCommand::Abort => f.write_str("withdraw the request"),
            CardCommand::Issue { route, end_state, certificate_end_state } => write!(
                f,
                "issue the card ({}; card ends {}, certificates {})",
                route_words(*route),
                match end_state {
                    CardEndState::Issued => "issued",
                    CardEndState::Active => "active",
                },
                match certificate_end_state {
                    CertificateEndState::OnHold => "on hold",
                    CertificateEndState::Valid => "valid",
                }
            ),
            CardCommand::FailProduction { .. } => f.write_str("record production failed"),
            CardCommand::Retry { .. } => f.write_str("retry production"),
            CardCommand::Activate => f.write_str("activate the card"),
            CardCommand::Deactivate => f.write_str("deactivate the card (certificates on hold)"),
            CardCommand::Reactivate => f.write_str("reactivate the card (certificates valid)"),
            CardCommand::SuspendForTemporary { .. } => f.write_str("suspend for a temporary card"),
            CardCommand::ResumeAfterTemporary { reason: r } => {
                write!(
                    f,
                    "resume after the temporary card ({})",
                    match r {
                        TemporaryReturnReason::NoLongerNeeded => "no longer needed",
                        TemporaryReturnReason::Lost => "lost",
                    }
                )
            }
            CardCommand::Cancel { reason: r } => {
                write!(f, "cancel the card ({})", cancel_words(*r))
            }
            CardCommand::Expire => f.write_str("expire the card"),
            CardCommand::Erase => f.write_str("erase the card to blank stock"),
        }
    }
}

impl CardCommand {
    /// snake_case name, for refusals and audit records.
    pub const fn name(&self) -> &'static str {
        match self {
            CardCommand::Approve => "approve",
            CardCommand::Reject => "reject",
            CardCommand::Abort => "abort",
            CardCommand::Issue { .. } => "issue",
            CardCommand::FailProduction { .. } => "fail_production",
            CardCommand::Retry { .. } => "retry",
            CardCommand::Activate => "activate",
            CardCommand::Deactivate => "deactivate",
            CardCommand::Reactivate => "reactivate",
            CardCommand::SuspendForTemporary { .. } => "suspend_for_temporary",
            CardCommand::ResumeAfterTemporary { .. } => "resume_after_temporary",
            CardCommand::Cancel { .. } => "cancel",
            CardCommand::Expire => "expire",
            CardCommand::Erase => "erase",
        }
    }

    /// The use case that must be enabled, if any (expiry is a fact, not a use case).
    pub const fn use_case(&self) -> Option<UseCase> {
        Some(match self {
            CardCommand::Approve | CardCommand::Reject => UseCase::Approve,
            CardCommand::Abort => UseCase::Request,
            CardCommand::Issue { route, .. }
            | CardCommand::FailProduction { route }
            | CardCommand::Retry { route } => route.use_case(),
            CardCommand::Activate => UseCase::Issue,
            CardCommand::Deactivate
            | CardCommand::Reactivate
            | CardCommand::Cancel { .. }
            | CardCommand::Erase => UseCase::Retire,
            CardCommand::SuspendForTemporary { .. } | CardCommand::ResumeAfterTemporary { .. } => {
                UseCase::Temp
            }
            CardCommand::Expire => return None,
        })
    }
}

/// What the caller must do to other records after a card transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "effect")]
pub enum CardEffect {
    /// Certificates were written; they start in this state.
    CertificatesIssued {
        /// Their state.
        state: CertificateEndState,
    },
    /// Put the card's valid certificates on hold.
    HoldCertificates,
    /// Release the card's held certificates.
    ReleaseCertificates,
    /// Revoke every certificate of the card not yet revoked.
    RevokeCertificates {
        /// With this reason.
        reason: RevocationReason,
    },
    /// The blank card goes back to stock; its escrowed management key and PUK are discarded.
    ReturnToStock,
}

/// An accepted transition of this machine.
pub type CardOutcome = Outcome<CardState, CardEffect>;

/// The bare transition table (SPEC §4 Card).
pub fn next_state(from: CardState, command: &CardCommand) -> Result<CardState, Refusal> {
    use CardCommand as C;
    use CardState as S;
    let to = match (from, command) {
        (S::Requested, C::Approve) => S::Approved,
        (S::Requested, C::Reject) => S::Rejected,
        (S::Requested, C::Abort) => S::Aborted,
        (S::Approved | S::ProductionFailed, C::Issue { end_state, .. }) => match end_state {
            CardEndState::Issued => S::Issued,
            CardEndState::Active => S::Active,
        },
        (S::Approved | S::ProductionFailed, C::FailProduction { .. }) => S::ProductionFailed,
        (S::ProductionFailed, C::Retry { .. }) => S::Approved,
        (S::Issued, C::Activate) => S::Active,
        (S::Active, C::Deactivate) => S::Inactive,
        (S::Inactive, C::Reactivate) => S::Active,
        (S::Active, C::SuspendForTemporary { .. }) => S::TemporarilyInactive,
        (S::TemporarilyInactive, C::ResumeAfterTemporary { reason }) => match reason {
            TemporaryReturnReason::NoLongerNeeded => S::Active,
            TemporaryReturnReason::Lost => S::Inactive,
        },
        (S::Issued | S::Active | S::Inactive | S::TemporarilyInactive, C::Cancel { .. }) => S::Locked,
        (S::Issued | S::Active | S::Inactive | S::TemporarilyInactive, C::Expire) => S::Expired,
        (
            S::Issued
            | S::Active
            | S::Inactive
            | S::TemporarilyInactive
            | S::Locked
            | S::Expired
            | S::ProductionFailed,
            C::Erase,
        ) => S::Erased,
        _ => return Err(refuse(from, command)),
    };
    Ok(to)
}

fn refuse(from: CardState, command: &CardCommand) -> Refusal {
    Refusal::StateNotAllowed { from: AnyState::Card(from), command: command.name().to_owned() }
}

/// Decides `command` on `device` for `actor` at `now` (SPEC §4, §5).
///
/// Checks, in order: the use case is enabled; the state allows the command;
/// the actor holds the permission; the relational rules (approver ≠
/// requester ≠ recipient, nobody acts on their own device).
pub fn apply(
    device: &Device,
    command: &CardCommand,
    actor: &Actor,
    now: OffsetDateTime,
) -> Result<CardOutcome, Refusal> {
    use CardCommand as C;
    if let Some(use_case) = command.use_case() {
        actor.require_use_case(use_case)?;
    }
    let from = device.state;
    let to = next_state(from, command)?;
    let profile = device.profile.id;
    match command {
        C::Approve | C::Reject => {
            actor.require(Permission::on(ProfilePermission::CanApprove, profile))?;
            rules::check_approver(actor, device.requested_by, device.owner)?;
        }
        C::Abort => {
            actor.require_operator()?;
            if actor.person().is_none() || actor.person() != device.requested_by {
                return Err(Refusal::NotRequester);
            }
        }
        C::Issue { route: IssueRoute::Walkup, .. }
        | C::FailProduction { route: IssueRoute::Walkup }
        | C::Retry { route: IssueRoute::Walkup } => rules::walkup_cardholder(actor, device.owner)?,
        C::Issue { route, .. } | C::FailProduction { route } | C::Retry { route } => {
            actor.require(Permission::on(ProfilePermission::CanCollect, profile))?;
            if *route == IssueRoute::Batch {
                actor.require(Permission::global(GlobalPermission::ManageBatches))?;
            }
            rules::not_own_device(actor, device.id, device.owner)?;
        }
        C::Activate => {
            actor.require(Permission::on(ProfilePermission::CanCollect, profile))?;
            rules::not_own_device(actor, device.id, device.owner)?;
        }
        C::Deactivate | C::Reactivate | C::Cancel { .. } => {
            actor.require(Permission::global(GlobalPermission::CancelRevoke))?;
            rules::not_own_device(actor, device.id, device.owner)?;
        }
        C::Erase => {
            actor.require(Permission::global(GlobalPermission::Erase))?;
            rules::not_own_device(actor, device.id, device.owner)?;
        }
        C::SuspendForTemporary { .. } | C::ResumeAfterTemporary { .. } => {
            actor.require(Permission::global(GlobalPermission::ManageTemporaryCards))?;
            rules::not_own_device(actor, device.id, device.owner)?;
        }
        C::Expire => {
            if let Some(expires_at) = device.expires_at {
                if now < expires_at {
                    return Err(Refusal::NotYetExpired { expires_at });
                }
            }
        }
    }
    Ok(Outcome { from, to, at: now, effects: effects(from, command) })
}

/// The effects of an accepted transition from `from` by `command`.
pub fn effects(from: CardState, command: &CardCommand) -> Vec<CardEffect> {
    use CardCommand as C;
    match command {
        C::Issue { certificate_end_state, .. } => {
            vec![CardEffect::CertificatesIssued { state: *certificate_end_state }]
        }
        C::Deactivate | C::SuspendForTemporary { .. } => vec![CardEffect::HoldCertificates],
        C::Reactivate | C::ResumeAfterTemporary { reason: TemporaryReturnReason::NoLongerNeeded } => {
            vec![CardEffect::ReleaseCertificates]
        }
        C::Cancel { reason } => vec![CardEffect::RevokeCertificates { reason: reason.revocation() }],
        C::Erase if from.is_issued() => vec![
            CardEffect::RevokeCertificates { reason: RevocationReason::CessationOfOperation },
            CardEffect::ReturnToStock,
        ],
        C::Erase => vec![CardEffect::ReturnToStock],
        _ => Vec::new(),
    }
}

/// One action offered on the device view (UC-READ "the actions allowed now").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardAction {
    /// The command the action gives.
    pub command: CardCommand,
    /// Why it cannot be taken by this actor, if it cannot; the UI shows it
    /// disabled with this reason.
    pub refusal: Option<Refusal>,
}

/// The operator actions that apply to `device` in its current state, each
/// with the refusal that stops this actor, if any. Actions the state does
/// not allow and actions of disabled use cases are left out (a disabled use
/// case is invisible, SPEC §5). `end_states` are the profile's defaults for
/// an issuance (card, certificates).
pub fn actions(
    device: &Device,
    end_states: (CardEndState, CertificateEndState),
    actor: &Actor,
    now: OffsetDateTime,
) -> Vec<CardAction> {
    let (end_state, certificate_end_state) = end_states;
    let route = IssueRoute::Single;
    let candidates = [
        CardCommand::Approve,
        CardCommand::Reject,
        CardCommand::Abort,
        CardCommand::Issue { route, end_state, certificate_end_state },
        CardCommand::Retry { route },
        CardCommand::Activate,
        CardCommand::Deactivate,
        CardCommand::Reactivate,
        CardCommand::Cancel { reason: CancelReason::Lost },
        CardCommand::Erase,
    ];
    candidates
        .into_iter()
        .filter_map(|command| match apply(device, &command, actor, now) {
            Ok(_) => Some(CardAction { command, refusal: None }),
            Err(Refusal::StateNotAllowed { .. } | Refusal::UseCaseDisabled(_)) => None,
            Err(refusal) => Some(CardAction { command, refusal: Some(refusal) }),
        })
        .collect()
}
