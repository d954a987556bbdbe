//! Operations (SPEC §6): one operator action each, with a client-generated
//! UUIDv7 so the registry applies it exactly once however often it is sent.
//! Each kind maps to one domain command; the registry decides it with the
//! domain's machines and rules for the signed-in operator.

use domain::{
    CancelReason, CardEndState, CertificateEndState, CertificateId, DeviceId, IssueRoute, OperatorId,
    PersonId, ProfileId, RequestId, Slot, UpdateReason, WorkstationId,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::secret::EscrowSecret;

/// The most operations one `POST /v1/operations` may carry.
pub const MAX_BATCH: usize = 1000;

/// One operation as the workstation queued it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Operation {
    /// Client-generated id (UUIDv7); the registry applies each id once and
    /// answers a replay with the first answer.
    pub op_id: Uuid,
    /// The operator who acted. The registry decides for the signed-in
    /// operator; an operation naming someone else is rejected.
    #[schema(value_type = Option<String>, format = Uuid)]
    pub actor: Option<OperatorId>,
    /// The workstation it was made at, for the audit record.
    #[schema(value_type = Option<String>, format = Uuid)]
    pub workstation: Option<WorkstationId>,
    /// When the operator acted (workstation clock, for the record only; the
    /// registry decides at its own time).
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// What to do.
    pub op: OperationKind,
}

/// Several operations sent together; each is applied in its own transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OperationBatch {
    /// One to [`MAX_BATCH`] operations, applied in this order.
    #[schema(min_items = 1, max_items = 1000)]
    pub operations: Vec<Operation>,
}

/// What an operation does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OperationKind {
    /// Register a person (SPEC §3 Person).
    CreatePerson(CreatePerson),
    /// Create version 1 of a credential profile (UC-ADMIN).
    CreateProfile(CreateProfile),
    /// Edit a credential profile: a new version (UC-ADMIN).
    ReviseProfile(ReviseProfile),
    /// Request a card for a person (UC-REQUEST).
    RequestCard(RequestCard),
    /// Request an update or reprovisioning of an issued card (UC-UPDATE).
    RequestUpdate(RequestUpdate),
    /// Approve a request (UC-APPROVE).
    ApproveRequest(ApproveRequest),
    /// Reject a request (UC-APPROVE).
    RejectRequest(RejectRequest),
    /// Cancel a request (UC-APPROVE).
    CancelRequest(CancelRequest),
    /// A card was encoded: record the card, its certificates and the request's completion (UC-ISSUE).
    RecordIssuance(RecordIssuance),
    /// Encoding a card failed (UC-ISSUE: production failed, retryable).
    RecordProductionFailure(RecordProductionFailure),
    /// Activate, deactivate, reactivate, cancel or erase a device (UC-ISSUE, UC-RETIRE).
    ChangeDevice(ChangeDevice),
    /// Escrow a card's management key or PUK (SPEC §2 steps 2 and 5).
    StoreEscrow(StoreEscrow),
    /// Revoke, hold or release one certificate (SPEC §4 Certificate, UC-RETIRE).
    ChangeCertificate(crate::certificate::ChangeCertificate),
    /// Order a temporary card from external production (UC-TEMP).
    OrderTemporaryCard(OrderTemporaryCard),
    /// Move a temporary card through its machine (UC-TEMP): produced,
    /// initialized, assigned, withdrawn, expired, locked.
    ChangeTemporaryCard(ChangeTemporaryCard),
    /// Put a card whose production failed back to approved for another attempt (UC-ISSUE, UC-BATCH).
    RetryIssuance(RetryIssuance),
    /// Create or change a role (UC-ADMIN).
    SaveRole(crate::admin::SaveRole),
    /// Set the roles an operator holds (UC-ADMIN).
    SetOperatorRoles(crate::admin::SetOperatorRoles),
    /// Switch use cases on or off (UC-ADMIN).
    SetUseCases(crate::admin::SetUseCases),
    /// Set the self-enrollment policy (UC-PROV, Administer).
    SetSelfEnrollmentPolicy(crate::admin::SetSelfEnrollmentPolicy),
    /// Create a provisioning task (UC-PROV, seed 004).
    CreateProvisioningTask(crate::provisioning::CreateProvisioningTask),
    /// Edit a provisioning task: remove users, new stop date (UC-PROV).
    EditProvisioningTask(crate::provisioning::EditProvisioningTask),
    /// Remove a provisioning task (UC-PROV).
    RemoveProvisioningTask(crate::provisioning::RemoveProvisioningTask),
    /// Resend an active user's enrollment email (UC-PROV).
    ResendEnrollment(crate::provisioning::ResendEnrollment),
    /// A walk-up kiosk starts the user's card under their enrollment (UC-WALKUP).
    StartWalkupCard(crate::provisioning::StartWalkupCard),
    /// A walk-up kiosk enrolled the user's card; the code is used up (UC-WALKUP).
    RecordWalkupEnrollment(crate::provisioning::RecordWalkupEnrollment),
    /// The user authenticated with the enrolled card: completed (UC-WALKUP).
    RecordWalkupAuthentication(crate::provisioning::RecordWalkupAuthentication),
    /// A kiosk proved a cardholder's card and PIN for its approved update (UC-WALKUP, UC-UPDATE).
    StartWalkupUpdate(crate::walkup_update::StartWalkupUpdate),
}

impl OperationKind {
    /// snake_case name, as in the JSON `kind` and the audit action.
    pub const fn name(&self) -> &'static str {
        match self {
            OperationKind::CreatePerson(_) => "create_person",
            OperationKind::CreateProfile(_) => "create_profile",
            OperationKind::ReviseProfile(_) => "revise_profile",
            OperationKind::RequestCard(_) => "request_card",
            OperationKind::RequestUpdate(_) => "request_update",
            OperationKind::ApproveRequest(_) => "approve_request",
            OperationKind::RejectRequest(_) => "reject_request",
            OperationKind::CancelRequest(_) => "cancel_request",
            OperationKind::RecordIssuance(_) => "record_issuance",
            OperationKind::RecordProductionFailure(_) => "record_production_failure",
            OperationKind::ChangeDevice(_) => "change_device",
            OperationKind::StoreEscrow(_) => "store_escrow",
            OperationKind::ChangeCertificate(_) => "change_certificate",
            OperationKind::OrderTemporaryCard(_) => "order_temporary_card",
            OperationKind::ChangeTemporaryCard(_) => "change_temporary_card",
            OperationKind::RetryIssuance(_) => "retry_issuance",
            OperationKind::SaveRole(_) => "save_role",
            OperationKind::SetOperatorRoles(_) => "set_operator_roles",
            OperationKind::SetUseCases(_) => "set_use_cases",
            OperationKind::SetSelfEnrollmentPolicy(_) => "set_self_enrollment_policy",
            OperationKind::CreateProvisioningTask(_) => "create_provisioning_task",
            OperationKind::EditProvisioningTask(_) => "edit_provisioning_task",
            OperationKind::RemoveProvisioningTask(_) => "remove_provisioning_task",
            OperationKind::ResendEnrollment(_) => "resend_enrollment",
            OperationKind::StartWalkupCard(_) => "start_walkup_card",
            OperationKind::RecordWalkupEnrollment(_) => "record_walkup_enrollment",
            OperationKind::RecordWalkupAuthentication(_) => "record_walkup_authentication",
            OperationKind::StartWalkupUpdate(_) => "start_walkup_update",
        }
    }
}

/// Register a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePerson {
    /// Client-made id.
    #[schema(value_type = String, format = Uuid)]
    pub id: PersonId,
    /// Given name.
    pub given_name: String,
    /// Family name.
    pub family_name: String,
    /// Email address.
    pub email: Option<String>,
    /// Employee id from the HR system.
    pub employee_id: Option<String>,
}

impl CreatePerson {
    /// The operation that registers `person` as it is.
    pub fn of(person: &domain::Person) -> CreatePerson {
        CreatePerson {
            id: person.id,
            given_name: person.given_name.clone(),
            family_name: person.family_name.clone(),
            email: person.email.clone(),
            employee_id: person.employee_id.clone(),
        }
    }
}

/// Create version 1 of a credential profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProfile {
    /// Client-made id shared by all versions.
    #[schema(value_type = String, format = Uuid)]
    pub id: ProfileId,
    /// The settings (the `domain::ProfileSettings` JSON).
    #[schema(value_type = Object)]
    pub settings: domain::ProfileSettings,
}

/// Edit a credential profile, making version `expected_version + 1`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviseProfile {
    /// The profile.
    #[schema(value_type = String, format = Uuid)]
    pub id: ProfileId,
    /// The version the administrator edited; another edit in between is a conflict.
    pub expected_version: u32,
    /// The new settings.
    #[schema(value_type = Object)]
    pub settings: domain::ProfileSettings,
}

/// Request a card for `person` with `profile` (its latest version).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestCard {
    /// Client-made id of the request.
    #[schema(value_type = String, format = Uuid)]
    pub request: RequestId,
    /// Client-made id of the card record (the future CHUID GUID).
    #[schema(value_type = String, format = Uuid)]
    pub device: DeviceId,
    /// The recipient.
    #[schema(value_type = String, format = Uuid)]
    pub person: PersonId,
    /// The credential profile.
    #[schema(value_type = String, format = Uuid)]
    pub profile: ProfileId,
    /// Reason given.
    pub reason: Option<String>,
    /// Notes (also in the audit record).
    pub notes: Option<String>,
    /// `direct`: "Issue card" without a request to approve (seed 002,
    /// UC-ISSUE direct, where enabled): the card and its request start
    /// `approved`, for the same operator to issue at once. Absent: an
    /// ordinary request (UC-REQUEST).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, pattern = "^direct$")]
    pub route: Option<IssueRoute>,
}

/// Request an update (or reprovisioning) of an issued card to the latest
/// version of `profile`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestUpdate {
    /// Client-made id of the request.
    #[schema(value_type = String, format = Uuid)]
    pub request: RequestId,
    /// The card.
    #[schema(value_type = String, format = Uuid)]
    pub device: DeviceId,
    /// The target profile (the card's own, or another).
    #[schema(value_type = String, format = Uuid)]
    pub profile: ProfileId,
    /// Apply latest updates, or reprovision all content.
    #[schema(value_type = String, pattern = "^(apply_latest_updates|reprovision_all_content)$")]
    pub reason: UpdateReason,
    /// Notes (also in the audit record).
    pub notes: Option<String>,
}

/// Approve a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproveRequest {
    /// The request.
    #[schema(value_type = String, format = Uuid)]
    pub request: RequestId,
    /// Notes (in the audit record).
    pub notes: Option<String>,
}

/// Reject a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RejectRequest {
    /// The request.
    #[schema(value_type = String, format = Uuid)]
    pub request: RequestId,
    /// Notes (in the audit record).
    pub notes: Option<String>,
}

/// Cancel a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelRequest {
    /// The request.
    #[schema(value_type = String, format = Uuid)]
    pub request: RequestId,
    /// Notes (in the audit record).
    pub notes: Option<String>,
}

/// The physical facts of an encoded card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CardFacts {
    /// Vendor serial, when the card offers one.
    pub serial: Option<String>,
    /// Answer-to-reset, hex.
    pub atr: Option<String>,
    /// Contact interface.
    pub contact: bool,
    /// Contactless interface.
    pub contactless: bool,
}

/// A certificate written to the card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssuedCertificate {
    /// Client-made id of the certificate record.
    #[schema(value_type = String, format = Uuid)]
    pub id: CertificateId,
    /// Serial number (hex).
    pub serial: String,
    /// Key slot.
    #[schema(value_type = String, pattern = "^(piv_authentication|digital_signature|key_management|card_authentication)$")]
    pub slot: Slot,
    /// Subject DN.
    pub subject: String,
    /// Start of validity.
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    /// End of validity.
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
}

/// A card was encoded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordIssuance {
    /// The card record.
    #[schema(value_type = String, format = Uuid)]
    pub device: DeviceId,
    /// The request carried out, if one was.
    #[schema(value_type = Option<String>, format = Uuid)]
    pub request: Option<RequestId>,
    /// Single, batch or direct.
    #[schema(value_type = String, pattern = "^(single|batch|direct)$")]
    pub route: IssueRoute,
    /// The physical card.
    pub card: CardFacts,
    /// CHUID expiration written.
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub expires_at: Option<OffsetDateTime>,
    /// Certificates written.
    pub certificates: Vec<IssuedCertificate>,
    /// Card end state chosen for a batch (UC-BATCH option); `None` keeps the profile's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, pattern = "^(issued|active)$")]
    pub card_end_state: Option<CardEndState>,
    /// Certificate end state chosen for a batch (UC-BATCH option); `None` keeps the profile's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, pattern = "^(on_hold|valid)$")]
    pub certificate_end_state: Option<CertificateEndState>,
}

/// Production of a card failed earlier (`production failed`, its request
/// `failed`): approved again for another attempt with this or another card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryIssuance {
    /// The card record.
    #[schema(value_type = String, format = Uuid)]
    pub device: DeviceId,
    /// Its failed request, approved again with it.
    #[schema(value_type = Option<String>, format = Uuid)]
    pub request: Option<RequestId>,
    /// Single, batch or direct.
    #[schema(value_type = String, pattern = "^(single|batch|direct)$")]
    pub route: IssueRoute,
}

/// Encoding a card failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordProductionFailure {
    /// The card record.
    #[schema(value_type = String, format = Uuid)]
    pub device: DeviceId,
    /// The request being carried out, if one was.
    #[schema(value_type = Option<String>, format = Uuid)]
    pub request: Option<RequestId>,
    /// Single, batch or direct.
    #[schema(value_type = String, pattern = "^(single|batch|direct)$")]
    pub route: IssueRoute,
    /// What went wrong (for the audit record).
    pub message: String,
}

/// A lifecycle change of an issued device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum DeviceChange {
    /// Issued → active.
    Activate,
    /// Active → inactive; certificates on hold.
    Deactivate,
    /// Inactive → active; certificates valid again.
    Reactivate,
    /// Locked for good; certificates revoked per the reason.
    Cancel {
        /// Why.
        #[schema(value_type = String, pattern = "^(lost|stolen|damaged|no_longer_needed)$")]
        reason: CancelReason,
    },
    /// Wiped back to blank stock.
    Erase,
}

/// Change a device's lifecycle state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeDevice {
    /// The card.
    #[schema(value_type = String, format = Uuid)]
    pub device: DeviceId,
    /// What to do.
    pub change: DeviceChange,
    /// Notes (in the audit record).
    pub notes: Option<String>,
}

/// Which card secret is escrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EscrowKind {
    /// The per-card management key (SPEC §2 step 2).
    ManagementKey,
    /// The PUK (SPEC §2 step 5; UC-PIN).
    Puk,
}

impl EscrowKind {
    /// snake_case name.
    pub const fn name(self) -> &'static str {
        match self {
            EscrowKind::ManagementKey => "management_key",
            EscrowKind::Puk => "puk",
        }
    }
}

/// Escrow a card secret; the registry stores it encrypted only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StoreEscrow {
    /// The card.
    #[schema(value_type = String, format = Uuid)]
    pub device: DeviceId,
    /// Which secret.
    pub secret_kind: EscrowKind,
    /// The secret, hex.
    pub secret: EscrowSecret,
}

/// Order a temporary card (UC-TEMP, seed 001): state `ordered`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderTemporaryCard {
    /// Client-made id of the temporary card (its future CHUID GUID).
    #[schema(value_type = String, format = Uuid)]
    pub card: DeviceId,
    /// A temporary-card credential profile (its latest version).
    #[schema(value_type = String, format = Uuid)]
    pub profile: ProfileId,
    /// Serial printed on the card, when already known.
    pub serial: Option<String>,
}

/// A command on a temporary card (UC-TEMP). The registry decides it with
/// the domain's temporary-card machine and applies its effects on the
/// holder's permanent card in the same transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeTemporaryCard {
    /// The temporary card.
    #[schema(value_type = String, format = Uuid)]
    pub card: DeviceId,
    /// The command (`domain::TemporaryCardCommand` JSON, tagged by `command`):
    /// `mark_produced`, `initialize`, `assign` {person, until, permanent_card},
    /// `withdraw` {reason: no_longer_needed | lost}, `expire`, `lock`.
    #[schema(value_type = Object)]
    pub command: domain::TemporaryCardCommand,
    /// The serial printed on the card (with `mark_produced`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    /// Notes (in the audit record).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}
