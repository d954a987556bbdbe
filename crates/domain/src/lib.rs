//! Cardstation's domain model (SPEC §3–§5): entities, the state machines of
//! cards, temporary cards, requests, certificates and provisioning
//! enrollments, roles and permissions, use-case enablement, and the rules
//! operators are held to.
//!
//! Pure: no I/O, no clock, no randomness. Time and ids are passed in, so the
//! workstation (acting offline, explaining refusals) and the registry
//! (deciding) run the same code and reach the same answer.
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod actor;
pub mod entities;
mod error;
pub mod ids;
pub mod machines;
pub mod permissions;
mod refusal;
pub mod rules;
pub mod use_case;

#[cfg(test)]
mod tests;

pub use actor::{Actor, ActorKind};
pub use entities::audit::{
    verify_chain, verify_chain_after, AuditDraft, AuditEvent, AuditObject, AuditOutcome, ChainHash,
};
pub use entities::batch::{BatchItem, BatchItemStatus, BatchOptions, BatchOrder, IssuanceSettings};
pub use entities::certificate::Certificate;
pub use entities::device::Device;
pub use entities::person::{Operator, Person, PersonStatus};
pub use entities::profile::{
    Capabilities, CapabilityRequirement, CardEndState, CertificateEndState, CertificateTemplate,
    CredentialProfile, ExtendedKeyUsage, KeyAlgorithm, ManagementKeyAlgorithm, PinPolicy, ProfileRef,
    ProfileSettings, PukPolicy, Slot, SlotSpec,
};
pub use entities::provisioning::{Enrollment, Invitee, ProvisioningTask, SelfEnrollmentPolicy};
pub use entities::request::{Request, RequestKind};
pub use entities::temporary_card::TemporaryCard;
pub use error::{Error, Result};
pub use ids::*;
pub use machines::card::{
    CancelReason, CardAction, CardCommand, CardEffect, CardOutcome, CardState, IssueRoute,
    TemporaryReturnReason,
};
pub use machines::certificate::{CertificateCommand, CertificateOutcome, CertificateState, RevocationReason};
pub use machines::enrollment::{EnrollmentCommand, EnrollmentEffect, EnrollmentOutcome, EnrollmentState};
pub use machines::request::{RequestCommand, RequestEffect, RequestOutcome, RequestState};
pub use machines::temporary_card::{
    TemporaryCardCommand, TemporaryCardEffect, TemporaryCardOutcome, TemporaryCardState,
};
pub use machines::{AnyState, NoEffect, Outcome};
pub use permissions::{GlobalPermission, Permission, Permissions, ProfilePermission, ProfileScope, Role};
pub use refusal::Refusal;
pub use rules::{CardRequestPlan, UpdatePlan, UpdateReason};
pub use use_case::{UseCase, UseCases};
