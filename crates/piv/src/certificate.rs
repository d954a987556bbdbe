//! X.509 certificates read from the card: a serializable summary and the
//! certificate's public key (to check it matches the slot's key).

use crate::public_key::PublicKey;
use crate::types::{KeyAlgorithm, Slot};
use crate::{Error, Result};
use der::{Decode, Encode};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What an operator needs to see of a certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateSummary {
    /// The slot whose object holds it.
    pub slot: Slot,
    /// Subject DN (RFC 4514).
    pub subject: String,
    /// Issuer DN (RFC 4514).
    pub issuer: String,
    /// Serial number, hex.
    pub serial_hex: String,
    /// Start of validity (RFC 3339, UTC).
    pub not_before: String,
    /// End of validity (RFC 3339, UTC).
    pub not_after: String,
    /// SHA-256 of the DER certificate, hex.
    pub sha256_fingerprint: String,
    /// The subject key's algorithm, when it is one PIV slots use.
    pub key_algorithm: Option<KeyAlgorithm>,
    /// Human description of the key ("RSA-2048", "ECC P-256", or the OID).
    pub key_description: String,
}

fn rfc3339(t: x509_cert::time::Time) -> String {
    let secs = t.to_unix_duration().as_secs();
    i64::try_from(secs)
        .ok()
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .and_then(|d| d.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}

/// Parses a DER certificate.
pub fn parse_certificate(der: &[u8]) -> Result<x509_cert::Certificate> {
    x509_cert::Certificate::from_der(der)
        .map_err(|e| Error::Certificate(format!("not a DER X.509 certificate: {e}")))
}

/// The public key a DER certificate certifies.
pub fn certificate_public_key(der: &[u8]) -> Result<PublicKey> {
    let cert = parse_certificate(der)?;
    let spki = cert
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(|e| Error::Certificate(e.to_string()))?;
    PublicKey::from_spki_der(&spki)
}

impl CertificateSummary {
    /// Summarizes the DER certificate stored for `slot`.
    pub fn from_der(slot: Slot, der: &[u8]) -> Result<CertificateSummary> {
        let cert = parse_certificate(der)?;
        let tbs = &cert.tbs_certificate;
        let key = tbs.subject_public_key_info.to_der().ok().and_then(|d| PublicKey::from_spki_der(&d).ok());
        Ok(CertificateSummary {
            slot,
            subject: tbs.subject.to_string(),
            issuer: tbs.issuer.to_string(),
            serial_hex: hex::encode_upper(tbs.serial_number.as_bytes()),
            not_before: rfc3339(tbs.validity.not_before),
            not_after: rfc3339(tbs.validity.not_after),
            sha256_fingerprint: hex::encode_upper(Sha256::digest(der)),
            key_algorithm: key.as_ref().and_then(PublicKey::algorithm),
            key_description: key
                .map(|k| k.describe())
                .unwrap_or_else(|| tbs.subject_public_key_info.algorithm.oid.to_string()),
        })
    }
}
