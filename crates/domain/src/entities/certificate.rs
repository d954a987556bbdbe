//! Certificates (SPEC §3 Certificate).

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::entities::profile::Slot;
use crate::ids::{CertificateId, DeviceId};
use crate::machines::certificate::CertificateState;

/// A certificate issued by the registry CA for a key on a card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Certificate {
    /// Identity.
    pub id: CertificateId,
    /// Serial number (hex, as the CA assigned it).
    pub serial: String,
    /// The slot holding its key.
    pub slot: Slot,
    /// Subject DN.
    pub subject: String,
    /// Start of validity.
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    /// End of validity.
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    /// State (SPEC §4 Certificate).
    pub state: CertificateState,
    /// The card it is on.
    pub device: DeviceId,
}
