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
}
