//! UC-PIN over HTTP beyond the operation feed: the identity-check note that
//! goes into the audit event of an escrowed-PUK fetch, and the helpdesk's
//! answer to an offline unblock challenge (the protocol is in
//! `piv::offline_unblock`).

use domain::DeviceId;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use zeroize::Zeroizing;

/// Longest identity-check note accepted.
pub const MAX_IDENTITY_CHECK: usize = 1000;

/// `POST /v1/devices/{device}/escrow/{kind}`: the escrow fetch with what
/// the audit event must say (how the cardholder's identity was checked).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EscrowFetch {
    /// How the cardholder was identified (e.g. "passport seen"); kept in the audit event.
    #[schema(min_length = 1, max_length = 1000)]
    pub identity_check: String,
}

/// `POST /v1/devices/{device}/offline-unblock`: the challenge code the
/// cardholder read out, and how the helpdesk identified them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OfflineUnblockChallenge {
    /// The challenge code as the cardholder's tool showed it (groups of base32).
    #[schema(min_length = 1, max_length = 200)]
    pub challenge: String,
    /// How the cardholder was identified; kept in the audit event.
    #[schema(min_length = 1, max_length = 1000)]
    pub identity_check: String,
}

/// The response code for the cardholder to type in. It works only with
/// the card session that produced the challenge; `Debug` redacts it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OfflineUnblockResponse {
    /// The device.
    #[schema(value_type = String, format = Uuid)]
    pub device: DeviceId,
    /// The response code (groups of base32).
    #[schema(value_type = String)]
    pub response: Zeroizing<String>,
}

impl std::fmt::Debug for OfflineUnblockResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OfflineUnblockResponse({}, <redacted>)", self.device)
    }
}
