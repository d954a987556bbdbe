//! A walk-up kiosk recognising a card with an approved update (UC-WALKUP,
//! UC-UPDATE): the registry offers the update with a challenge; the card's
//! PIV Authentication key signs it once the cardholder's PIN is verified,
//! and the signature (checked against that key's certificate) lets the
//! kiosk act as the cardholder on that card, for that update only.

use domain::{DeviceId, PinPolicy, RequestId, RequestKind};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

/// What the card signs: a context label (so the signature proves nothing
/// else), the card's device id and the registry's challenge.
pub fn cardholder_proof_message(device: DeviceId, challenge: &[u8]) -> Vec<u8> {
    let mut m = b"cardstation walk-up cardholder v1\0".to_vec();
    m.extend_from_slice(device.uuid().as_bytes());
    m.extend_from_slice(challenge);
    m
}

/// `POST /v1/walkup/cards/{device}/update`: the card's approved update, as
/// the kiosk greets its holder, and a challenge for the card to sign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WalkupUpdateOffer {
    /// The card.
    #[schema(value_type = String, format = Uuid)]
    pub device: DeviceId,
    /// The approved update or reprovision request.
    #[schema(value_type = String, format = Uuid)]
    pub request: RequestId,
    /// `update` (apply latest updates) or `reprovision` (all content).
    #[schema(value_type = String)]
    pub kind: RequestKind,
    /// The cardholder's name, to greet them.
    pub person_name: String,
    /// The credential profile the card is brought to.
    pub profile_name: String,
    /// The rules of the PIN the cardholder chooses (that profile's).
    #[schema(value_type = Object)]
    pub pin: PinPolicy,
    /// Seconds of inactivity after which the kiosk ends the session (policy).
    pub kiosk_idle_timeout_secs: u32,
    /// Hex: what the card's PIV Authentication key signs (see
    /// [`cardholder_proof_message`]); usable once, by this kiosk only.
    pub challenge: String,
    /// Until when the challenge may be used.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub challenge_expires_at: OffsetDateTime,
    /// This kiosk already proved the cardholder for this update, until
    /// then: a card pulled mid-update is finished without a new proof (its
    /// PIN and keys may be half changed).
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub granted_until: Option<OffsetDateTime>,
}

/// The cardholder at a kiosk proved their card and PIN: the card's PIV
/// Authentication key signed the offer's challenge. The registry checks the
/// signature against that key's certificate and lets this kiosk act as the
/// cardholder on this card for the update (its escrow, certificates and
/// record) for a short while. The answer carries the records the job needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartWalkupUpdate {
    /// The card.
    #[schema(value_type = String, format = Uuid)]
    pub device: DeviceId,
    /// The approved request the offer named.
    #[schema(value_type = String, format = Uuid)]
    pub request: RequestId,
    /// Hex: the offer's challenge.
    pub challenge: String,
    /// Hex: the card's signature over [`cardholder_proof_message`] with its
    /// PIV Authentication key (ECDSA DER or RSA PKCS#1 v1.5, SHA-256/384).
    pub signature: String,
}
