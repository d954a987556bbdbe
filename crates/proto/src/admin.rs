//! UC-ADMIN over the network: roles, who holds them and the use cases a
//! deployment has on. Changes are [`crate::OperationKind`]s like any other
//! action (exactly once, audited); the directory is read with one GET by an
//! operator holding Administer.

use domain::{OperatorId, PersonId, Role, RoleId, UseCase};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Create a role, or replace one's name and grants (`role.id` decides which).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SaveRole {
    /// The role as it should be (the `domain::Role` JSON).
    #[schema(value_type = Object)]
    pub role: Role,
}

/// Give an operator exactly these roles (the ones not listed are taken away).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetOperatorRoles {
    /// The operator.
    #[schema(value_type = String, format = Uuid)]
    pub operator: OperatorId,
    /// Every role they hold afterwards.
    #[schema(value_type = Vec<String>)]
    pub roles: Vec<RoleId>,
}

/// Switch use cases on and off, and the approval step of seed 002.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetUseCases {
    /// Every use case on afterwards (sign-in and administration must be).
    #[schema(value_type = Vec<String>)]
    pub enabled: Vec<UseCase>,
    /// Every card request needs an approval.
    pub approval_step: bool,
}

/// Set the self-enrollment policy (UC-PROV, seed 004): the default
/// enrollment period of a task (and how far a resend moves the stop date),
/// the wrong codes allowed before an enrollment locks, and the walk-up
/// kiosk's idle timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetSelfEnrollmentPolicy {
    /// Days from a task's creation (or a resend) to its stop date, 1–366.
    #[schema(minimum = 1, maximum = 366)]
    pub period_days: u32,
    /// Wrong enrollment codes allowed before an enrollment locks, 1–20.
    #[schema(minimum = 1, maximum = 20)]
    pub max_attempts: u32,
    /// Seconds of inactivity after which a kiosk ends the session, 15–3600.
    #[schema(minimum = 15, maximum = 3600)]
    pub kiosk_idle_timeout_secs: u32,
}

/// One operator account as an administrator sees it (no password hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OperatorEntry {
    /// Account id.
    #[schema(value_type = String, format = Uuid)]
    pub id: OperatorId,
    /// The person the account belongs to (a record on the feed).
    #[schema(value_type = String, format = Uuid)]
    pub person: PersonId,
    /// Sign-in name.
    pub username: String,
    /// Whether the account may sign in.
    pub enabled: bool,
    /// The roles held.
    #[schema(value_type = Vec<String>)]
    pub roles: Vec<RoleId>,
}

/// Roles, operators and use cases (`GET /v1/admin/access`, Administer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AccessDirectory {
    /// Every role, by name.
    #[schema(value_type = Vec<Object>)]
    pub roles: Vec<Role>,
    /// Every operator account, by username.
    pub operators: Vec<OperatorEntry>,
    /// The use cases on.
    #[schema(value_type = Vec<String>)]
    pub use_cases: Vec<UseCase>,
    /// Whether every card request needs an approval.
    pub approval_step: bool,
    /// The self-enrollment policy (UC-PROV).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub self_enrollment: domain::SelfEnrollmentPolicy,
}
