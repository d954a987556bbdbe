//! Errors of the authority: every refusal is typed so the registry can map it
//! to a rejection reason without parsing messages.

use crate::escrow::EscrowKind;
use domain::DeviceId;
use std::path::PathBuf;

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file of the CA or of the key-encryption key could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The KEK file exists but cannot be used.
    #[error("key-encryption key {path}: {reason}")]
    BadKekFile {
        /// The file.
        path: PathBuf,
        /// Why it is refused.
        reason: String,
    },
    /// A stored CA file (key or certificate) cannot be used.
    #[error("CA file {path}: {reason}")]
    BadCaFile {
        /// The file.
        path: PathBuf,
        /// Why it is refused.
        reason: String,
    },
    /// The audit key file exists but cannot be used.
    #[error("audit key file {path}: {reason}")]
    BadAuditKeyFile {
        /// The file.
        path: PathBuf,
        /// Why it is refused.
        reason: String,
    },
    /// A record was wrapped by another KEK than the one configured.
    #[error("sealed under key-encryption key {record}, but {available} is configured")]
    UnknownKek {
        /// KEK id in the record.
        record: String,
        /// KEK id available.
        available: String,
    },
    /// Authenticated decryption failed: the record, its binding (device,
    /// kind, version) or the wrapped key was altered, or belongs elsewhere.
    #[error("escrowed data does not authenticate (altered, or bound to another device, kind or version)")]
    Integrity,
    /// The record belongs to another device than asked.
    #[error("escrow record belongs to device {found}, not {expected}")]
    WrongDevice {
        /// The device asked for.
        expected: DeviceId,
        /// The device in the record.
        found: DeviceId,
    },
    /// The record holds another kind of secret than asked.
    #[error("escrow record holds a {found:?}, not a {expected:?}")]
    WrongKind {
        /// The kind asked for.
        expected: EscrowKind,
        /// The kind in the record.
        found: EscrowKind,
    },
    /// Structurally invalid input (lengths, encodings).
    #[error("malformed: {what}")]
    Malformed {
        /// What is wrong.
        what: &'static str,
    },
    /// The request's public key is not a usable RSA, P-256 or P-384 key.
    #[error("public key: {0}")]
    BadPublicKey(String),
    /// The card key is not of the algorithm the profile names for the slot.
    #[error("the profile asks for {expected:?} in this slot, the key is {found}")]
    KeyAlgorithm {
        /// The profile's algorithm.
        expected: domain::KeyAlgorithm,
        /// What the key is.
        found: String,
    },
    /// The proof of possession signs another challenge than the registry handed out.
    #[error("proof of possession is for another challenge than the one issued")]
    ChallengeMismatch,
    /// The challenge is too short to be fresh.
    #[error("proof of possession challenge of {0} bytes; at least 16 are needed")]
    ChallengeTooShort(usize),
    /// The signature does not verify with the request's key over the challenge for this slot.
    #[error("proof of possession does not verify with the request's key for this slot")]
    ProofOfPossession,
    /// The template cannot be applied (placeholder without a value, bad subject, bad OID).
    #[error("certificate template: {0}")]
    Template(String),
    /// The card asks for a slot the device's profile does not fill.
    #[error("slot {0} is not in the device's profile")]
    SlotNotInProfile(String),
    /// A serial number that is not 1–20 bytes of hex.
    #[error("serial number {0:?} is not 1 to 20 bytes of hex")]
    BadSerial(String),
    /// A time outside what certificates and CRLs can carry, or out of order.
    #[error("time: {0}")]
    Time(&'static str),
    /// A cryptographic primitive failed unexpectedly.
    #[error("cryptographic failure: {0}")]
    Crypto(&'static str),
}

impl Error {
    /// A stable machine-readable code, for the registry's rejection reasons.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Io { .. } => "io",
            Error::BadKekFile { .. } => "bad_kek_file",
            Error::BadCaFile { .. } => "bad_ca_file",
            Error::BadAuditKeyFile { .. } => "bad_audit_key_file",
            Error::UnknownKek { .. } => "unknown_kek",
            Error::Integrity => "integrity",
            Error::WrongDevice { .. } => "wrong_device",
            Error::WrongKind { .. } => "wrong_kind",
            Error::Malformed { .. } => "malformed",
            Error::BadPublicKey(_) => "bad_public_key",
            Error::KeyAlgorithm { .. } => "key_algorithm",
            Error::ChallengeMismatch => "challenge_mismatch",
            Error::ChallengeTooShort(_) => "challenge_too_short",
            Error::ProofOfPossession => "proof_of_possession",
            Error::Template(_) => "template",
            Error::SlotNotInProfile(_) => "slot_not_in_profile",
            Error::BadSerial(_) => "bad_serial",
            Error::Time(_) => "time",
            Error::Crypto(_) => "crypto",
        }
    }

    /// Whether the caller's input is at fault (answer 4xx / a rejection),
    /// rather than the registry's own files, keys or stored records (5xx, alert).
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            Error::BadPublicKey(_)
                | Error::KeyAlgorithm { .. }
                | Error::ChallengeMismatch
                | Error::ChallengeTooShort(_)
                | Error::ProofOfPossession
                | Error::Template(_)
                | Error::SlotNotInProfile(_)
                | Error::BadSerial(_)
                | Error::WrongDevice { .. }
                | Error::WrongKind { .. }
        )
    }

    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Error {
        Error::Io { path: path.to_owned(), source }
    }
}

/// Result with the authority's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_refusals_are_the_callers_faults() {
        let all = [
            Error::io(std::path::Path::new("x"), std::io::Error::other("x")),
            Error::BadKekFile { path: "k".into(), reason: String::new() },
            Error::BadCaFile { path: "c".into(), reason: String::new() },
            Error::BadAuditKeyFile { path: "a".into(), reason: String::new() },
            Error::UnknownKek { record: String::new(), available: String::new() },
            Error::Integrity,
            Error::WrongDevice { expected: DeviceId::from_u128(1), found: DeviceId::from_u128(2) },
            Error::WrongKind { expected: EscrowKind::Puk, found: EscrowKind::ManagementKey },
            Error::Malformed { what: "x" },
            Error::BadPublicKey(String::new()),
            Error::KeyAlgorithm { expected: domain::KeyAlgorithm::EccP256, found: String::new() },
            Error::ChallengeMismatch,
            Error::ChallengeTooShort(1),
            Error::ProofOfPossession,
            Error::Template(String::new()),
            Error::SlotNotInProfile(String::new()),
            Error::BadSerial(String::new()),
            Error::Time("x"),
            Error::Crypto("x"),
        ];
        let codes: std::collections::BTreeSet<_> = all.iter().map(Error::code).collect();
        assert_eq!(codes.len(), all.len());
        assert!(Error::ProofOfPossession.is_refusal());
        assert!(!Error::Integrity.is_refusal());
        assert!(!Error::UnknownKek { record: String::new(), available: String::new() }.is_refusal());
    }
}
