//! Certificate pinning (SPEC §7): the workstation learns the registry's
//! leaf certificate fingerprint (SHA-256 of its DER) at enrollment and
//! accepts no other certificate, whoever signed it. The handshake
//! signature is still verified, so the peer must hold the pinned
//! certificate's private key.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use sha2::{Digest, Sha256};

use crate::error::Error;

/// SHA-256 of a certificate's DER encoding.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    /// The fingerprint of a DER certificate.
    pub fn of(der: &[u8]) -> Self {
        Self(Sha256::digest(der).into())
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

impl FromStr for Fingerprint {
    type Err = Error;

    /// 64 hex digits, optionally separated by colons (as `openssl x509 -fingerprint` prints).
    fn from_str(s: &str) -> Result<Self, Error> {
        let digits: String = s.trim().chars().filter(|c| *c != ':').collect();
        let bytes =
            hex::decode(&digits).map_err(|_| Error::Config(format!("fingerprint {s:?} is not hex")))?;
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|_| Error::Config(format!("fingerprint {s:?} is not 32 bytes (SHA-256)")))?;
        Ok(Self(bytes))
    }
}

/// The error the verifier reports for a certificate that is not the pinned one.
#[derive(Debug)]
pub(crate) struct NotThePinnedCertificate;

impl fmt::Display for NotThePinnedCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("certificate does not match the pinned fingerprint")
    }
}

impl std::error::Error for NotThePinnedCertificate {}

/// Accepts exactly the pinned leaf certificate.
#[derive(Debug)]
pub(crate) struct PinnedVerifier {
    pin: Fingerprint,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // Compare every byte (no early exit) so timing says nothing about the pin.
        let got = Fingerprint::of(end_entity.as_ref());
        let diff = got.0.iter().zip(self.pin.0.iter()).fold(0u8, |acc, (a, b)| acc | (a ^ b));
        if diff == 0 {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(CertificateError::Other(rustls::OtherError(Arc::new(
                NotThePinnedCertificate,
            )))))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// A rustls client configuration (ring provider) that trusts only `pin`.
pub fn client_config(pin: Fingerprint) -> Result<rustls::ClientConfig, Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config(format!("TLS: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PinnedVerifier { pin, provider }))
        .with_no_client_auth();
    Ok(config)
}

/// Whether `err` (or anything it wraps) is the pin check refusing a certificate.
pub(crate) fn is_pin_refusal(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = next {
        if e.is::<NotThePinnedCertificate>() {
            return true;
        }
        if let Some(rustls::Error::InvalidCertificate(CertificateError::Other(other))) = e.downcast_ref() {
            if other.0.is::<NotThePinnedCertificate>() {
                return true;
            }
        }
        // io::Error hides its payload from `source()`; look inside.
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if let Some(inner) = io.get_ref() {
                if is_pin_refusal(inner) {
                    return true;
                }
            }
        }
        next = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_parse_with_or_without_colons() {
        let hex = "ab".repeat(32);
        let colons = vec!["AB"; 32].join(":");
        assert_eq!(hex.parse::<Fingerprint>().unwrap(), colons.parse::<Fingerprint>().unwrap());
        assert_eq!(hex.parse::<Fingerprint>().unwrap().to_string(), hex);
        assert!("abcd".parse::<Fingerprint>().is_err(), "too short");
        assert!("zz".repeat(32).parse::<Fingerprint>().is_err(), "not hex");
    }

    #[test]
    fn the_verifier_accepts_only_the_pinned_certificate() {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let cert = CertificateDer::from(vec![1u8, 2, 3]);
        let verifier = PinnedVerifier { pin: Fingerprint::of(&[1, 2, 3]), provider };
        let name = ServerName::try_from("registry.local").unwrap();
        assert!(verifier.verify_server_cert(&cert, &[], &name, &[], UnixTime::now()).is_ok());
        let other = CertificateDer::from(vec![1u8, 2, 4]);
        let err = verifier.verify_server_cert(&other, &[], &name, &[], UnixTime::now()).unwrap_err();
        assert!(is_pin_refusal(&err), "{err}");
    }
}
