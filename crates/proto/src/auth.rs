//! Sign-in (SPEC §5 UC-SIGNIN, §7): a password gives a session token with
//! an expiry; every other call carries it as a bearer token.

use domain::{OperatorId, PersonId, WorkstationId};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::secret::{Password, SessionToken, WorkstationKey};

/// `POST /v1/sessions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Login {
    /// Sign-in name.
    pub username: String,
    /// Password.
    pub password: Password,
    /// The workstation signing in, for the audit record.
    #[schema(value_type = Option<String>, format = Uuid)]
    #[serde(default)]
    pub workstation: Option<WorkstationId>,
    /// The workstation's credential: required with `workstation`; the
    /// first sign-in from a workstation binds its id to this key.
    #[serde(default)]
    pub workstation_key: Option<WorkstationKey>,
}

/// A new session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SessionGrant {
    /// Bearer token for `Authorization: Bearer …`.
    pub token: SessionToken,
    /// When it stops working.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// The operator signed in.
    #[schema(value_type = String, format = Uuid)]
    pub operator: OperatorId,
    /// The person behind the operator.
    #[schema(value_type = String, format = Uuid)]
    pub person: PersonId,
    /// Effective permissions (`domain::Permissions`), so the workstation can decide offline.
    #[schema(value_type = Object)]
    pub permissions: domain::Permissions,
    /// The deployment's use-case switches (`domain::UseCases`).
    #[schema(value_type = Object)]
    pub use_cases: domain::UseCases,
}
