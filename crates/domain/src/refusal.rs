//! Why an action is refused (SPEC §4: "new state or a typed refusal").
//!
//! A refusal is not an error: it is the answer to "may this actor do this
//! now?", shown to the operator in plain words (the `Display` text) and
//! matched on by code through its variant, never its text.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::entities::profile::{Capabilities, CapabilityRequirement};
use crate::ids::{DeviceId, ProfileId};
use crate::machines::AnyState;
use crate::permissions::Permission;
use crate::use_case::UseCase;

/// A typed refusal, one variant per reason, each with a message for the operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "snake_case", tag = "code", content = "detail")]
pub enum Refusal {
    /// The deployment has switched this use case off (SPEC §5).
    #[error("{0} is disabled in this deployment")]
    UseCaseDisabled(UseCase),
    /// The actor lacks a permission (SPEC §3 Role).
    #[error("you do not have the permission {permission}")]
    NotPermitted {
        /// The permission that was needed.
        permission: Permission,
    },
    /// Only a signed-in operator may do this.
    #[error("only a signed-in operator can do this")]
    OperatorRequired,
    /// Only the registry's scheduler records this.
    #[error("this is recorded by the registry, not by an operator")]
    SystemOnly,
    /// Nobody acts on their own device (UC-UPDATE, UC-RETIRE).
    #[error("you cannot act on your own device {device}")]
    OwnDevice {
        /// The device.
        device: DeviceId,
    },
    /// Nobody issues, assigns or collects a credential for themselves (SPEC §5).
    #[error("you cannot do this for yourself")]
    ActorIsRecipient,
    /// The approver is the requester (UC-APPROVE).
    #[error("an approver cannot approve their own request")]
    ApproverIsRequester,
    /// The approver is the recipient (UC-APPROVE).
    #[error("an approver cannot approve a request for themselves")]
    ApproverIsRecipient,
    /// The requester is the recipient (SPEC §5: approver ≠ requester ≠ recipient).
    #[error("you cannot request a card for yourself")]
    RequesterIsRecipient,
    /// Only the requester can abort their request before a decision (SPEC §4 Card).
    #[error("only the requester can abort this request")]
    NotRequester,
    /// A walk-up cardholder can act only on their own enrollment or request.
    #[error("this belongs to another cardholder")]
    NotTheCardholder,
    /// The command does not apply in the record's current state (SPEC §4).
    #[error("cannot {} while the {from}", command.replace('_', " "))]
    StateNotAllowed {
        /// Current state.
        from: AnyState,
        /// The command attempted (snake_case name).
        command: String,
    },
    /// The card's interfaces do not meet the profile's requirement (seed 000).
    #[error("the profile needs a {required} card; this card is {card}")]
    CapabilityMismatch {
        /// What the profile requires.
        required: CapabilityRequirement,
        /// What the card offers.
        card: Capabilities,
    },
    /// The card's interfaces are not known yet (it has not been read).
    #[error("the card's interfaces are unknown; read the card first")]
    CapabilitiesUnknown,
    /// Updates are requested only for cards encodable over contact (seed 000).
    #[error("updates can only be requested for contact smart cards")]
    ContactInterfaceRequired,
    /// A temporary-card action with a profile that is not a temporary-card profile.
    #[error("credential profile {profile} is not a temporary-card profile")]
    ProfileNotTemporary {
        /// The profile.
        profile: ProfileId,
    },
    /// A permanent-card action with a temporary-card profile.
    #[error("credential profile {profile} is for temporary cards only")]
    ProfileIsTemporary {
        /// The profile.
        profile: ProfileId,
    },
    /// Direct issuance with a profile whose issuance must be validated (seed 002).
    #[error("credential profile {profile} requires approval; request the card instead")]
    ApprovalRequired {
        /// The profile.
        profile: ProfileId,
    },
    /// Expiry recorded before the expiry date.
    #[error("it does not expire until {expires_at}")]
    NotYetExpired {
        /// The date it expires.
        #[serde(with = "time::serde::rfc3339")]
        expires_at: OffsetDateTime,
    },
    /// An enrollment completed after its stop date (UC-PROV).
    #[error("the enrollment period ended on {stop_date}")]
    StopDatePassed {
        /// The stop date.
        #[serde(with = "time::serde::rfc3339")]
        stop_date: OffsetDateTime,
    },
    /// A date that must lie in the future does not.
    #[error("the date {date} is not in the future")]
    DateNotInFuture {
        /// The date given.
        #[serde(with = "time::serde::rfc3339")]
        date: OffsetDateTime,
    },
    /// A batch or batch option that does not fit (UC-BATCH).
    #[error("invalid batch: {0}")]
    InvalidBatch(String),
    /// A provisioning task that cannot be created as given (UC-PROV).
    #[error("invalid provisioning task: {0}")]
    InvalidTask(String),
    /// The provisioning task was removed; its users can no longer enroll (seed 004).
    #[error("the provisioning task was removed")]
    TaskRemoved,
    /// An email address that is not one.
    #[error("{0:?} is not an email address")]
    InvalidEmail(String),
    /// A wrong enrollment code (UC-WALKUP); the enrollment locks at the limit.
    #[error("the enrollment code is not right; {attempts_left} attempts left")]
    WrongEnrollmentCode {
        /// Wrong codes still allowed before the enrollment locks.
        attempts_left: u32,
    },
    /// The enrollment has no card yet: enroll one before authenticating with it.
    #[error("no card has been enrolled for this enrollment yet")]
    NotEnrolledYet,
    /// A PIN the credential profile's policy does not allow (UC-WALKUP: the
    /// cardholder chooses their own).
    #[error("{0}")]
    PinNotAllowed(String),
    /// The two PINs typed differ.
    #[error("the two PINs are not the same")]
    PinsDiffer,
}

impl Refusal {
    /// A stable machine-readable code (for IPC `{code, message}` and HTTP problems).
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::UseCaseDisabled(_) => "use_case_disabled",
            Refusal::NotPermitted { .. } => "not_permitted",
            Refusal::OperatorRequired => "operator_required",
            Refusal::SystemOnly => "system_only",
            Refusal::OwnDevice { .. } => "own_device",
            Refusal::ActorIsRecipient => "actor_is_recipient",
            Refusal::ApproverIsRequester => "approver_is_requester",
            Refusal::ApproverIsRecipient => "approver_is_recipient",
            Refusal::RequesterIsRecipient => "requester_is_recipient",
            Refusal::NotRequester => "not_requester",
            Refusal::NotTheCardholder => "not_the_cardholder",
            Refusal::StateNotAllowed { .. } => "state_not_allowed",
            Refusal::CapabilityMismatch { .. } => "capability_mismatch",
            Refusal::CapabilitiesUnknown => "capabilities_unknown",
            Refusal::ContactInterfaceRequired => "contact_interface_required",
            Refusal::ProfileNotTemporary { .. } => "profile_not_temporary",
            Refusal::ProfileIsTemporary { .. } => "profile_is_temporary",
            Refusal::ApprovalRequired { .. } => "approval_required",
            Refusal::NotYetExpired { .. } => "not_yet_expired",
            Refusal::StopDatePassed { .. } => "stop_date_passed",
            Refusal::DateNotInFuture { .. } => "date_not_in_future",
            Refusal::InvalidBatch(_) => "invalid_batch",
            Refusal::InvalidTask(_) => "invalid_task",
            Refusal::TaskRemoved => "task_removed",
            Refusal::InvalidEmail(_) => "invalid_email",
            Refusal::WrongEnrollmentCode { .. } => "wrong_enrollment_code",
            Refusal::NotEnrolledYet => "not_enrolled_yet",
            Refusal::PinNotAllowed(_) => "pin_not_allowed",
            Refusal::PinsDiffer => "pins_differ",
        }
    }
}
