//! The registry's certificate authority over HTTP (SPEC §2 step 3, §4
//! Certificate, §7): a single-use challenge, issuance after proof of
//! possession, and the public CA certificate and CRL.
//!
//! Issuance is not an [`crate::Operation`]: it needs the registry online (SPEC
//! §6) and answers with a certificate the card must store. It is still
//! applied exactly once, by its own client-generated `op_id`.

use domain::{CertificateId, DeviceId, IssueRoute, Slot};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

/// How long a challenge may be used after it was handed out.
pub const CHALLENGE_LIFETIME_SECONDS: i64 = 300;

/// `POST /v1/certificates/challenges`: a fresh random challenge for the
/// card to sign, bound to the signed-in operator, usable once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CertificateChallenge {
    /// The challenge, hex (32 random bytes).
    pub challenge: String,
    /// After this the registry no longer accepts it.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// `POST /v1/certificates`: certify the key a card generated in `slot`.
///
/// Only the slot, the key and the proof come from the workstation; the
/// subject, validity and extensions come from the device's credential
/// profile and its owner at the registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueCertificate {
    /// Client-generated id (UUIDv7): a retry with the same id gets the same
    /// certificate and never a second one.
    pub op_id: Uuid,
    /// The card record.
    #[schema(value_type = String, format = Uuid)]
    pub device: DeviceId,
    /// The profile slot the key was generated in.
    #[schema(value_type = String, pattern = "^(piv_authentication|digital_signature|key_management|card_authentication)$")]
    pub slot: Slot,
    /// The card's public key, DER SubjectPublicKeyInfo, hex.
    #[schema(pattern = "^([0-9a-fA-F]{2})+$")]
    pub public_key: String,
    /// A challenge from `POST /v1/certificates/challenges`, hex.
    #[schema(pattern = "^([0-9a-fA-F]{2})+$")]
    pub challenge: String,
    /// The card's signature (ECDSA DER or RSA PKCS#1 v1.5) over
    /// `"cardstation proof of possession v1\0" || key reference || challenge`, hex.
    #[schema(pattern = "^([0-9a-fA-F]{2})+$")]
    pub signature: String,
    /// Single, batch or direct issuance (default single); decides the use
    /// case and permissions checked for a first issuance.
    #[serde(default)]
    #[schema(value_type = Option<String>, pattern = "^(single|batch|direct)$")]
    pub route: Option<IssueRoute>,
}

/// The certificate issued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CertificateIssued {
    /// The certificate record, as the change feed carries it. It stays on
    /// hold until `RecordIssuance` names it (the card is then known to hold
    /// it); a certificate whose card job failed is revoked.
    #[schema(value_type = Object)]
    pub certificate: domain::Certificate,
    /// Serial number, upper-case hex.
    pub serial: String,
    /// The certificate, DER, hex: what the card stores.
    pub der: String,
}

/// A direct change of one certificate's state (UC-RETIRE).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum CertificateChange {
    /// Valid → on hold (certificateHold on the CRL).
    Hold,
    /// On hold → valid (off the next CRL).
    Release,
    /// On hold or valid → revoked, for good.
    Revoke {
        /// Why (the CRL reason code).
        #[schema(
            value_type = String,
            pattern = "^(unspecified|key_compromise|affiliation_changed|superseded|cessation_of_operation)$"
        )]
        reason: domain::RevocationReason,
    },
}

/// Revoke, hold or release a certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeCertificate {
    /// The certificate.
    #[schema(value_type = String, format = Uuid)]
    pub certificate: CertificateId,
    /// What to do.
    pub change: CertificateChange,
    /// Notes (in the audit record).
    pub notes: Option<String>,
}
