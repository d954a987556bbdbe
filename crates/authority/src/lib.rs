//! The registry's certificate authority and key escrow (SPEC §2 steps 2, 3
//! and 5, §4 Certificate, §7). No HTTP and no database: the registry calls
//! these functions and stores what they return.
//!
//! - [`ca`]: the [`CertificateAuthority`]: issues certificates for card keys
//!   after proof of possession, per the profile's template; CRLs with
//!   revoked and held certificates.
//! - [`issuance`]: from the workstation's `piv::IssueRequest` to a
//!   [`CertificateRequest`] with the registry's template; [`DeviceIssuance`]
//!   puts the CA behind the personalizer's `piv::CertificateIssuer`.
//! - [`kek`]: the key-encryption key behind everything kept at rest
//!   ([`KeyEncryptionKey`], file implementation [`FileKek`]; room for PKCS#11).
//! - [`audit_key`]: the [`AuditKey`] that MACs audit events and checkpoints,
//!   kept in a file wrapped by the KEK, never in the database.
//! - [`ocsp`]: the CA's OCSP responder (RFC 6960), statuses from the
//!   registry's records through [`StatusLookup`].
//! - [`escrow`]: per-card management keys and PUKs as [`EscrowRecord`]s,
//!   envelope-encrypted and bound to (device, kind, version).
//!
//! What the registry does with it:
//!
//! ```
//! use authority::*;
//! use std::sync::Arc;
//! # fn main() -> Result<()> {
//! # let dir = tempfile::tempdir().unwrap();
//! # let dir = dir.path();
//! // At first start (and every start after): the KEK, the CA, the escrow.
//! let kek = Arc::new(FileKek::open_or_create(&dir.join("kek"))?);
//! let ca = CertificateAuthority::open_or_create(&dir.join("ca"), "Example CA", kek.as_ref())?;
//! let escrow = Escrow::new(kek.clone());
//!
//! // A card generated a key in 9A and signed a challenge the registry handed out.
//! let challenge = new_challenge();
//! let card_key = p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng);
//! let signature: p256::ecdsa::DerSignature = signature::Signer::sign(
//!     &card_key,
//!     &ProofOfPossession::message(piv::Slot::Authentication, &challenge),
//! );
//! let spki = piv::PublicKey::P256(card_key.verifying_key().to_encoded_point(false).as_bytes().to_vec());
//! let request = CertificateRequest {
//!     spec: domain::SlotSpec {
//!         slot: domain::Slot::PivAuthentication,
//!         algorithm: domain::KeyAlgorithm::EccP256,
//!         certificate: domain::CertificateTemplate {
//!             subject: "CN={name},O=Example".into(),
//!             validity_days: 365,
//!             ekus: vec![domain::ExtendedKeyUsage::SmartCardLogon],
//!         },
//!     },
//!     holder: Holder { name: "Ada".into(), upn: Some("ada@corp.example".into()), ..Holder::default() },
//!     card_uuid: None,
//!     public_key_spki: spki.to_spki_der().unwrap(),
//!     proof: ProofOfPossession { challenge: challenge.clone(), signature: signature.as_bytes().to_vec() },
//! };
//! let now = time::OffsetDateTime::now_utc();
//! let issued = ca.issue(&request, Some(&challenge), now)?;
//!
//! // Held (card inactive): the next CRL lists it as certificateHold.
//! let held = RevokedEntry::for_state(&issued.serial, domain::CertificateState::OnHold, now);
//! let crl_der = ca.crl(&held.into_iter().collect::<Vec<_>>(), now, now + time::Duration::days(1))?;
//! assert!(!crl_der.is_empty());
//!
//! // The card's new PUK, escrowed; the record is what the registry stores.
//! let device = domain::DeviceId::from_u128(1);
//! let record = escrow.seal_puk(device, 1, &piv::Puk::new("12345678").unwrap())?;
//! assert_eq!(escrow.open_puk(&record, device)?.expose_secret(), "12345678");
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod audit_key;
pub mod ca;
#[cfg(test)]
mod ca_tests;
mod error;
pub mod escrow;
mod files;
pub mod issuance;
pub mod kek;
pub mod ocsp;
#[cfg(test)]
mod ocsp_tests;

pub use audit_key::{AuditKey, SealStart};
pub use ca::{
    crl_pem, new_challenge, verify_proof, CaAlgorithm, CertificateAuthority, CertificateRequest, CrlReason,
    Holder, IssuedCertificate, RevokedEntry,
};
pub use error::{Error, Result};
pub use escrow::{Escrow, EscrowKind, EscrowRecord};
pub use issuance::{profile_slot, DeviceIssuance};
pub use kek::{DataKey, FileKek, KeyEncryptionKey};
pub use ocsp::{OcspAnswer, OcspError, SerialStatus, StatusLookup};
pub use piv::ProofOfPossession;
