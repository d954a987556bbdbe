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
    /// Whether the trail is anchored outside the database (issue 16): each
    /// event's keyed MAC and the registry's checkpoints were checked too.
    /// False: only the hash chain was, which misses a rewrite that
    /// recomputes the later hashes and the newest events removed.
    #[serde(default)]
    pub sealed: bool,
    /// Events from this position on must carry a valid MAC (earlier ones
    /// predate the audit key and are vouched for by the seal start only).
    #[serde(default)]
    pub sealed_from: Option<u64>,
    /// Checkpoints verified (besides the seal start).
    #[serde(default)]
    pub checkpoints: u64,
    /// Events the checkpoints vouch for: newer ones could be removed without
    /// trace until the next checkpoint (seconds, while the registry runs).
    #[serde(default)]
    pub anchored: Option<u64>,
}
