//! Devices (SPEC §3 Device): one physical card and its lifecycle record.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::entities::profile::{Capabilities, ProfileRef};
use crate::ids::{CertificateId, DeviceId, PersonId};
use crate::machines::card::CardState;

/// A card. Requested cards exist before stock is chosen, so the physical
/// facts (serial, ATR, interfaces) are optional until encoding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    /// Identity; written as the CHUID GUID (SPEC §2 step 4).
    pub id: DeviceId,
    /// Vendor serial number, when the card offers one.
    pub serial: Option<String>,
    /// Answer-to-reset bytes of the physical card.
    pub atr: Option<Vec<u8>>,
    /// Interfaces of the physical card, once known.
    pub capabilities: Option<Capabilities>,
    /// Cardholder; `None` for stock and unassigned cards.
    pub owner: Option<PersonId>,
    /// Profile and version the card was (or will be) encoded with.
    pub profile: ProfileRef,
    /// Lifecycle state (SPEC §4 Card).
    pub state: CardState,
    /// Certificates on the card.
    pub certificates: Vec<CertificateId>,
    /// The person who requested the card (may abort it before a decision).
    pub requested_by: Option<PersonId>,
    /// CHUID expiration; the card may be expired once it has passed.
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
}

impl Device {
    /// A card record in `state` for `owner`, before stock is chosen.
    pub fn requested(
        id: DeviceId,
        owner: PersonId,
        profile: ProfileRef,
        state: CardState,
        requested_by: PersonId,
    ) -> Self {
        Self {
            id,
            serial: None,
            atr: None,
            capabilities: None,
            owner: Some(owner),
            profile,
            state,
            certificates: Vec::new(),
            requested_by: Some(requested_by),
            expires_at: None,
        }
    }
}
