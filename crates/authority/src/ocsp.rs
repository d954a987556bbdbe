//! The CA's OCSP responder (RFC 6960): relying parties (a Windows logon, a
//! VPN, a web server) ask whether a certificate is still good without
//! downloading the whole CRL.
//!
//! The CA answers for itself: responses are signed with the CA key and name
//! it by key hash (RFC 6960 §4.2.2.3), so no delegated responder certificate
//! has to be issued, renewed or revoked. Statuses come from the registry's
//! records through [`StatusLookup`]; the states map as on the CRL (a held
//! certificate is revoked with reason certificateHold, RFC 6960 §2.2).
//! Anything that does not parse is answered `malformedRequest`, never a panic.

use crate::ca::{CertificateAuthority, CrlReason};
use der::asn1::{GeneralizedTime, OctetString};
use der::oid::AssociatedOid;
use der::{Decode, Encode};
use domain::CertificateState;
use time::OffsetDateTime;
use x509_cert::ext::Extension;
use x509_ocsp::ext::Nonce;
use x509_ocsp::{
    BasicOcspResponse, CertId, CertStatus, OcspGeneralizedTime, OcspRequest, OcspResponse,
    OcspResponseStatus, ResponderId, ResponseData, RevokedInfo, SingleResponse, Version,
};

/// Most single requests answered in one OCSP request: clients ask for one
/// certificate, or a short chain.
pub const MAX_SINGLE_REQUESTS: usize = 32;
/// Longest nonce echoed (RFC 8954 §2.1: 1 to 32 octets).
pub const MAX_NONCE: usize = 32;

/// The status of one serial, as the registry's records give it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SerialStatus {
    /// Issued by this CA and valid.
    Good,
    /// Revoked (or held: reason certificateHold) since `since`.
    Revoked {
        /// When it was revoked or put on hold.
        since: OffsetDateTime,
        /// Why.
        reason: CrlReason,
    },
    /// This CA never issued it.
    Unknown,
}

impl SerialStatus {
    /// The status of a certificate in `state` since `since`; the same
    /// mapping as the CRL's [`crate::RevokedEntry::for_state`].
    pub fn for_state(state: CertificateState, since: OffsetDateTime) -> SerialStatus {
        match state {
            CertificateState::Valid => SerialStatus::Good,
            CertificateState::OnHold => SerialStatus::Revoked { since, reason: CrlReason::CertificateHold },
            CertificateState::Revoked { reason } => SerialStatus::Revoked { since, reason: reason.into() },
        }
    }
}

/// Where the responder learns the status of a serial this CA issued: the
/// registry's storage. `serial` is upper-case hex, as in
/// [`crate::IssuedCertificate::serial`].
pub trait StatusLookup {
    /// The serial's status; an error is a failure of the records (the
    /// client is told to try later), not an unknown serial.
    fn status(&self, serial: &str) -> std::result::Result<SerialStatus, String>;
}

impl<F: Fn(&str) -> std::result::Result<SerialStatus, String>> StatusLookup for F {
    fn status(&self, serial: &str) -> std::result::Result<SerialStatus, String> {
        self(serial)
    }
}

/// Why no signed answer was made; each maps to an OCSP response status.
#[derive(Debug, thiserror::Error)]
pub enum OcspError {
    /// The request does not parse, asks for nothing or too much, or carries
    /// an oversized nonce.
    #[error("malformed OCSP request: {0}")]
    Malformed(&'static str),
    /// The records could not be read.
    #[error("certificate status lookup failed: {0}")]
    Lookup(String),
    /// Encoding or signing the response failed.
    #[error("OCSP response: {0}")]
    Internal(&'static str),
}

impl OcspError {
    /// The unsigned response status that tells the client about it.
    pub fn response_status(&self) -> OcspResponseStatus {
        match self {
            OcspError::Malformed(_) => OcspResponseStatus::MalformedRequest,
            OcspError::Lookup(_) => OcspResponseStatus::TryLater,
            OcspError::Internal(_) => OcspResponseStatus::InternalError,
        }
    }

    /// The OCSPResponse (DER) carrying only that status.
    pub fn response_der(&self) -> Vec<u8> {
        let response = OcspResponse { response_status: self.response_status(), response_bytes: None };
        // Encoding a lone ENUMERATED cannot fail; should it, internalError by hand.
        response.to_der().unwrap_or_else(|_| vec![0x30, 0x03, 0x0A, 0x01, 0x02])
    }
}

/// What the responder answers: the DER body to send, and why it is not a
/// signed answer if it is not (for the log).
#[derive(Debug)]
pub struct OcspAnswer {
    /// The OCSPResponse, DER (`application/ocsp-response`).
    pub der: Vec<u8>,
    /// Set when `der` is an unsigned error status.
    pub error: Option<OcspError>,
}

fn generalized(t: OffsetDateTime) -> Result<OcspGeneralizedTime, OcspError> {
    let secs = u64::try_from(t.unix_timestamp()).map_err(|_| OcspError::Internal("time before 1970"))?;
    GeneralizedTime::from_unix_duration(std::time::Duration::from_secs(secs))
        .map(OcspGeneralizedTime)
        .map_err(|_| OcspError::Internal("time outside GeneralizedTime"))
}

/// Whether `id` names this CA as issuer (SHA-1 or SHA-256 CertID): the
/// hashes of its subject name and public key, computed by the crate.
fn issued_here(ca: &x509_cert::Certificate, id: &CertId) -> bool {
    let ours = match id.hash_algorithm.oid {
        oid if oid == sha1::Sha1::OID => CertId::from_issuer::<sha1::Sha1>(ca, id.serial_number.clone()),
        oid if oid == sha2::Sha256::OID => CertId::from_issuer::<sha2::Sha256>(ca, id.serial_number.clone()),
        _ => return false,
    };
    ours.is_ok_and(|ours| {
        ours.issuer_name_hash == id.issuer_name_hash && ours.issuer_key_hash == id.issuer_key_hash
    })
}

fn cert_status(status: SerialStatus) -> Result<CertStatus, OcspError> {
    Ok(match status {
        SerialStatus::Good => CertStatus::good(),
        SerialStatus::Unknown => CertStatus::unknown(),
        SerialStatus::Revoked { since, reason } => CertStatus::revoked(RevokedInfo {
            revocation_time: generalized(since)?,
            // As on the CRL (RFC 5280 §5.3.1): unspecified is written as no reason.
            revocation_reason: (reason != CrlReason::Unspecified).then(|| reason.x509()),
        }),
    })
}

/// The request's nonce extension, to echo byte for byte (RFC 8954).
fn nonce_of(request: &OcspRequest) -> Result<Option<Extension>, OcspError> {
    let Some(extensions) = &request.tbs_request.request_extensions else { return Ok(None) };
    let Some(extension) = extensions.iter().find(|e| e.extn_id == Nonce::OID) else { return Ok(None) };
    let nonce = Nonce::from_der(extension.extn_value.as_bytes())
        .map_err(|_| OcspError::Malformed("the nonce is not an OCTET STRING"))?;
    if nonce.0.as_bytes().is_empty() || nonce.0.as_bytes().len() > MAX_NONCE {
        return Err(OcspError::Malformed("the nonce is not 1 to 32 octets"));
    }
    Ok(Some(Extension { extn_id: Nonce::OID, critical: false, extn_value: extension.extn_value.clone() }))
}

/// SHA-1 of the CA's public key (the BIT STRING's bytes): its responder id.
fn key_hash(ca: &x509_cert::Certificate) -> Result<OctetString, OcspError> {
    use sha1::Digest;
    let key = ca.tbs_certificate.subject_public_key_info.subject_public_key.raw_bytes();
    OctetString::new(sha1::Sha1::digest(key).to_vec()).map_err(|_| OcspError::Internal("responder key hash"))
}

impl CertificateAuthority {
    /// Answers the OCSP request `request` (DER) at `now`: a BasicOCSPResponse
    /// signed by the CA key, one answer per single request — good, revoked
    /// (time and reason; held = certificateHold) or unknown (a serial this CA
    /// never issued, or another issuer's CertID) — current until
    /// `next_update`, echoing the nonce. DER of the OCSPResponse.
    pub fn ocsp(
        &self,
        request: &[u8],
        now: OffsetDateTime,
        next_update: OffsetDateTime,
        lookup: &dyn StatusLookup,
    ) -> Result<Vec<u8>, OcspError> {
        let request =
            OcspRequest::from_der(request).map_err(|_| OcspError::Malformed("not an OCSPRequest"))?;
        let singles = &request.tbs_request.request_list;
        if singles.is_empty() {
            return Err(OcspError::Malformed("the request asks about no certificate"));
        }
        if singles.len() > MAX_SINGLE_REQUESTS {
            return Err(OcspError::Malformed("the request asks about too many certificates"));
        }
        let nonce = nonce_of(&request)?;
        if next_update <= now {
            return Err(OcspError::Internal("nextUpdate must be after thisUpdate"));
        }
        let (this_update, next) = (generalized(now)?, generalized(next_update)?);
        let ca = self.certificate();
        let mut responses = Vec::with_capacity(singles.len());
        for single in singles {
            let id = &single.req_cert;
            let status = if issued_here(ca, id) {
                lookup.status(&hex::encode_upper(id.serial_number.as_bytes())).map_err(OcspError::Lookup)?
            } else {
                SerialStatus::Unknown
            };
            responses.push(SingleResponse {
                cert_id: id.clone(),
                cert_status: cert_status(status)?,
                this_update,
                next_update: Some(next),
                single_extensions: None,
            });
        }
        let data = ResponseData {
            version: Version::V1,
            responder_id: ResponderId::ByKey(key_hash(ca)?),
            produced_at: this_update,
            responses,
            response_extensions: nonce.map(|n| vec![n]),
        };
        let tbs = data.to_der().map_err(|_| OcspError::Internal("encoding the response data"))?;
        let signature = self.sign(&tbs).map_err(|_| OcspError::Internal("signing"))?;
        let basic = BasicOcspResponse {
            tbs_response_data: data,
            signature_algorithm: self.signature_algorithm(),
            signature,
            certs: None,
        };
        OcspResponse::successful(basic)
            .and_then(|r| r.to_der())
            .map_err(|_| OcspError::Internal("encoding the response"))
    }

    /// [`CertificateAuthority::ocsp`], with any failure turned into the
    /// unsigned response status the client is owed (RFC 6960 §2.3).
    pub fn ocsp_answer(
        &self,
        request: &[u8],
        now: OffsetDateTime,
        next_update: OffsetDateTime,
        lookup: &dyn StatusLookup,
    ) -> OcspAnswer {
        match self.ocsp(request, now, next_update, lookup) {
            Ok(der) => OcspAnswer { der, error: None },
            Err(error) => OcspAnswer { der: error.response_der(), error: Some(error) },
        }
    }
}
