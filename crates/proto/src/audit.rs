//! Reading and verifying the audit trail (UC-AUDIT).

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Query of `GET /v1/audit`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Events from this position of the chain (default 0).
    pub from: Option<u64>,
    /// Page size, 1 to 1000 (default 500).
    pub limit: Option<u32>,
}

/// A page of the audit chain, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AuditPage {
    /// Events (`domain::AuditEvent`, with their hashes).
    #[schema(value_type = Vec<Object>)]
    pub events: Vec<domain::AuditEvent>,
    /// `from` of the next page, when more follow.
    pub next_from: Option<u64>,
}

/// `GET /v1/audit/verify`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ChainReport {
    /// Whether every event verifies against its predecessor.
    pub intact: bool,
    /// Events checked.
    pub events: u64,
    /// The position of the first event that does not verify.
    pub broken_at: Option<u64>,
    /// Why it does not.
    pub reason: Option<String>,
}
