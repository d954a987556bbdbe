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
//! - [`escrow`]: per-card management keys and PUKs as [`EscrowRecord`]s,
//!   envelope-encrypted and bound to (device, kind, version).
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod ca;
#[cfg(test)]
mod ca_tests;
mod error;
pub mod escrow;
mod files;
pub mod issuance;
pub mod kek;

pub use ca::{
    crl_pem, new_challenge, verify_proof, CaAlgorithm, CertificateAuthority, CertificateRequest, CrlReason,
    Holder, IssuedCertificate, RevokedEntry,
};
pub use error::{Error, Result};
pub use escrow::{Escrow, EscrowKind, EscrowRecord};
pub use issuance::{profile_slot, DeviceIssuance};
pub use kek::{DataKey, FileKek, KeyEncryptionKey};
pub use piv::ProofOfPossession;
