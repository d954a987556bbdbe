//! The registry's wire types (SPEC §6 Offline and sync, §7 Security).
//!
//! Every operator action becomes an [`Operation`] with a client-generated id
//! (UUIDv7); the registry applies it exactly once and answers
//! [`Answer::Accepted`] or [`Answer::Rejected`] with a stable code. The
//! workstation pulls what changed from a cursor as a [`ChangesPage`]. Errors
//! of the HTTP layer are [`Problem`] bodies `{code, message}`.
//!
//! Domain entities travel as the `domain` crate serializes them, so the
//! workstation and the registry decide with the same types.
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod admin;
mod answer;
mod audit;
mod auth;
mod certificate;
mod error;
mod feed;
mod mailbox;
mod offline;
mod operation;
mod problem;
mod provisioning;
mod secret;
mod walkup_update;

pub use admin::{
    AccessDirectory, OperatorEntry, SaveRole, SetOperatorRoles, SetSelfEnrollmentPolicy, SetUseCases,
};
pub use answer::{Answer, AnswerBatch, OperationResult};
pub use audit::{AuditPage, AuditQuery, ChainReport};
pub use auth::{Login, SessionGrant};
pub use certificate::{
    CertificateChallenge, CertificateChange, CertificateIssued, ChangeCertificate, IssueCertificate,
    CHALLENGE_LIFETIME_SECONDS,
};
pub use error::{Error, Result};
pub use feed::{Change, ChangesPage, ChangesQuery, Cursor, Record};
pub use mailbox::{MailboxListing, MailboxMessageView};
pub use offline::{EscrowFetch, OfflineUnblockChallenge, OfflineUnblockResponse, MAX_IDENTITY_CHECK};
pub use operation::{
    ApproveRequest, CancelRequest, CardFacts, ChangeDevice, ChangeTemporaryCard, CreatePerson, CreateProfile,
    DeviceChange, EscrowKind, IssuedCertificate, Operation, OperationBatch, OperationKind,
    OrderTemporaryCard, RecordIssuance, RecordProductionFailure, RejectRequest, RequestCard, RequestUpdate,
    RetryIssuance, ReviseProfile, StoreEscrow, MAX_BATCH,
};
pub use problem::{Health, Problem};
pub use provisioning::{
    CheckEnrollmentCode, CreateProvisioningTask, EditProvisioningTask, EnrollmentView, PersonProvisioning,
    PersonProvisioningRow, ProvisioningInvitee, ProvisioningTaskList, ProvisioningTaskView,
    RecordWalkupAuthentication, RecordWalkupEnrollment, RemoveProvisioningTask, ResendEnrollment,
    StartWalkupCard, WalkupInvitation,
};
pub use secret::{EnrollmentCode, EscrowSecret, Password, SessionToken, WorkstationKey};
pub use walkup_update::{cardholder_proof_message, StartWalkupUpdate, WalkupUpdateOffer};

/// The API's path prefix; a breaking change gets a new one.
pub const API_PREFIX: &str = "/v1";

#[cfg(test)]
mod tests;
