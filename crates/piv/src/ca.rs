//! Certificate issuance: the [`CertificateIssuer`] interface the
//! personalizer asks for each slot's certificate, the [`IssueRequest`] it
//! sends (with proof of possession of the card key), and [`LocalCa`], a
//! file-based CA for labs, tests and offline demos (the registry's CA
//! implements the same trait).

use crate::objects::hex_bytes;
use crate::profile::KeyUsage;
use crate::public_key::PublicKey;
use crate::types::Slot;
use crate::{Error, Result};
use der::{Decode, DecodePem, Encode, EncodePem};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use x509_cert::builder::{Builder, CertificateBuilder, Profile as CertProfile};
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage as KeyUsageExt, KeyUsages,
    SubjectKeyIdentifier,
};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::SubjectPublicKeyInfoOwned;
use x509_cert::time::{Time, Validity};
use x509_cert::Certificate;

/// Proof that the card holds the private key: its signature over a fresh
/// challenge, bound to the slot (see [`ProofOfPossession::message`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProofOfPossession {
    /// The random challenge.
    #[serde(with = "hex_bytes")]
    pub challenge: Vec<u8>,
    /// The card's signature over [`ProofOfPossession::message`] (ECDSA DER or RSA PKCS#1 v1.5, SHA-256/384).
    #[serde(with = "hex_bytes")]
    pub signature: Vec<u8>,
}

impl ProofOfPossession {
    /// The signed message: a context label, the slot's key reference, the challenge.
    /// The label keeps the signature from being usable as anything else.
    pub fn message(slot: Slot, challenge: &[u8]) -> Vec<u8> {
        let mut m = b"cardstation proof of possession v1\0".to_vec();
        m.push(slot.key_ref());
        m.extend_from_slice(challenge);
        m
    }
}

/// What the personalizer asks a CA to certify.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssueRequest {
    /// The card slot the key lives in.
    pub slot: Slot,
    /// The key, as DER SubjectPublicKeyInfo.
    #[serde(with = "hex_bytes")]
    pub public_key_spki: Vec<u8>,
    /// Subject DN (RFC 4514), already rendered from the template.
    pub subject: String,
    /// Days of validity.
    pub validity_days: u32,
    /// keyUsage bits (digitalSignature is always added).
    pub key_usage: Vec<KeyUsage>,
    /// extendedKeyUsage OIDs (dotted).
    pub extended_key_usage: Vec<String>,
    /// Proof of possession, which the issuer must check.
    pub proof: ProofOfPossession,
}

impl IssueRequest {
    /// The subject public key.
    pub fn public_key(&self) -> Result<PublicKey> {
        PublicKey::from_spki_der(&self.public_key_spki)
    }

    /// Checks the proof of possession against the request's key.
    pub fn verify_proof(&self) -> Result<()> {
        if self.proof.challenge.len() < 16 {
            return Err(Error::Ca("proof of possession challenge shorter than 16 bytes".into()));
        }
        self.public_key()?
            .verify_signature(
                &ProofOfPossession::message(self.slot, &self.proof.challenge),
                &self.proof.signature,
            )
            .map_err(|_| Error::Ca("proof of possession does not verify with the request's key".into()))
    }
}

/// Issues a certificate for a card key.
pub trait CertificateIssuer {
    /// Checks the request (including its proof of possession) and returns
    /// the DER certificate.
    fn issue(&self, request: &IssueRequest) -> Result<Vec<u8>>;

    /// A fresh challenge for the proof of possession, when the issuer hands
    /// them out (a remote CA binds each to one use, so a recorded proof
    /// cannot be replayed). `None`: the personalizer makes a random one.
    fn challenge(&self) -> Result<Option<Vec<u8>>> {
        Ok(None)
    }

    /// The personalizer has `request` ready and asks for its certificate
    /// (with [`CertificateIssuer::issue`]) only after the card's next key
    /// is generated: a remote CA may start on it now, so the card does not
    /// wait for the round trip. Doing nothing here is correct.
    fn begin(&self, _request: &IssueRequest) -> Result<()> {
        Ok(())
    }

    /// Whether the certificate asked for `slot` by [`CertificateIssuer::begin`]
    /// is there already: the personalizer then collects it at once (and the
    /// journal records it while the card works) rather than at its check step.
    fn ready(&self, _slot: crate::Slot) -> bool {
        false
    }
}

/// A CA kept in a directory: `ca-key.pem` (P-256, PKCS#8, mode 0600) and
/// `ca-cert.pem` (self-signed).
pub struct LocalCa {
    dir: PathBuf,
    key: p256::ecdsa::SigningKey,
    certificate: Certificate,
}

impl std::fmt::Debug for LocalCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LocalCa({}, {})", self.dir.display(), self.certificate.tbs_certificate.subject)
    }
}

const KEY_FILE: &str = "ca-key.pem";
const CERT_FILE: &str = "ca-cert.pem";

fn ca_err(e: impl std::fmt::Display) -> Error {
    Error::Ca(e.to_string())
}

fn write_private(path: &Path, contents: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options.open(path).map_err(|e| Error::io(path, e))?;
    f.write_all(contents).and_then(|_| f.sync_all()).map_err(|e| Error::io(path, e))
}

fn random_serial() -> Result<SerialNumber> {
    let mut bytes = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut bytes);
    // Positive and exactly 16 bytes in DER (RFC 5280 §4.1.2.2).
    bytes[0] = (bytes[0] & 0x7F) | 0x40;
    SerialNumber::new(&bytes).map_err(ca_err)
}

fn validity(days: u32) -> Result<Validity> {
    let now = std::time::SystemTime::now();
    // Backdated a little for clocks that are slightly behind.
    let start = now - std::time::Duration::from_secs(300);
    let end = now + std::time::Duration::from_secs(u64::from(days) * 86_400);
    Ok(Validity {
        not_before: Time::try_from(start).map_err(ca_err)?,
        not_after: Time::try_from(end).map_err(ca_err)?,
    })
}

impl LocalCa {
    /// Opens the CA in `dir`, creating its key and self-signed certificate
    /// (subject `CN=<name>`, 20 years) on first use.
    pub fn open_or_create(dir: &Path, name: &str) -> Result<LocalCa> {
        let key_path = dir.join(KEY_FILE);
        let cert_path = dir.join(CERT_FILE);
        if key_path.exists() {
            let pem = std::fs::read_to_string(&key_path).map_err(|e| Error::io(&key_path, e))?;
            let secret = <p256::SecretKey as p256::pkcs8::DecodePrivateKey>::from_pkcs8_pem(&pem)
                .map_err(|e| Error::Ca(format!("{}: {e}", key_path.display())))?;
            let cert_pem = std::fs::read_to_string(&cert_path).map_err(|e| Error::io(&cert_path, e))?;
            let certificate = Certificate::from_pem(cert_pem.as_bytes())
                .map_err(|e| Error::Ca(format!("{}: {e}", cert_path.display())))?;
            return Ok(LocalCa { dir: dir.to_owned(), key: secret.into(), certificate });
        }
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let secret = p256::SecretKey::random(&mut rand::thread_rng());
        let pem =
            p256::pkcs8::EncodePrivateKey::to_pkcs8_pem(&secret, der::pem::LineEnding::LF).map_err(ca_err)?;
        let key: p256::ecdsa::SigningKey = secret.into();
        let subject =
            Name::from_str(&format!("CN={}", crate::profile::escape_dn_value(name))).map_err(ca_err)?;
        let spki = SubjectPublicKeyInfoOwned::from_key(*key.verifying_key()).map_err(ca_err)?;
        let builder = CertificateBuilder::new(
            CertProfile::Root,
            random_serial()?,
            validity(20 * 365)?,
            subject,
            spki,
            &key,
        )
        .map_err(ca_err)?;
        let certificate = builder.build::<p256::ecdsa::DerSignature>().map_err(ca_err)?;
        let cert_pem = certificate.to_pem(der::pem::LineEnding::LF).map_err(ca_err)?;
        // The certificate first: a key file without its certificate would block re-creation.
        std::fs::write(&cert_path, cert_pem).map_err(|e| Error::io(&cert_path, e))?;
        write_private(&key_path, pem.as_bytes())?;
        Ok(LocalCa { dir: dir.to_owned(), key, certificate })
    }

    /// The CA certificate, DER.
    pub fn certificate_der(&self) -> Result<Vec<u8>> {
        self.certificate.to_der().map_err(ca_err)
    }

    /// Path of the CA certificate (PEM), e.g. for `openssl verify -CAfile`.
    pub fn certificate_path(&self) -> PathBuf {
        self.dir.join(CERT_FILE)
    }

    /// The CA's public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey::P256(self.key.verifying_key().to_encoded_point(false).as_bytes().to_vec())
    }
}

impl CertificateIssuer for LocalCa {
    fn issue(&self, request: &IssueRequest) -> Result<Vec<u8>> {
        request.verify_proof()?;
        if !(1..=3650).contains(&request.validity_days) {
            return Err(Error::Ca("validity must be 1 to 3650 days".into()));
        }
        let spki = SubjectPublicKeyInfoOwned::from_der(&request.public_key_spki).map_err(ca_err)?;
        let subject = Name::from_str(&request.subject).map_err(|e| Error::Ca(format!("subject: {e}")))?;
        let issuer = self.certificate.tbs_certificate.subject.clone();
        let mut builder = CertificateBuilder::new(
            CertProfile::Manual { issuer: Some(issuer) },
            random_serial()?,
            validity(request.validity_days)?,
            subject,
            spki.clone(),
            &self.key,
        )
        .map_err(ca_err)?;
        builder.add_extension(&BasicConstraints { ca: false, path_len_constraint: None }).map_err(ca_err)?;
        let mut usage = KeyUsageExt(KeyUsages::DigitalSignature.into()).0;
        for u in &request.key_usage {
            usage |= match u {
                KeyUsage::DigitalSignature => KeyUsages::DigitalSignature,
                KeyUsage::NonRepudiation => KeyUsages::NonRepudiation,
                KeyUsage::KeyEncipherment => KeyUsages::KeyEncipherment,
                KeyUsage::DataEncipherment => KeyUsages::DataEncipherment,
                KeyUsage::KeyAgreement => KeyUsages::KeyAgreement,
            };
        }
        builder.add_extension(&KeyUsageExt(usage)).map_err(ca_err)?;
        if !request.extended_key_usage.is_empty() {
            let oids = request
                .extended_key_usage
                .iter()
                .map(|o| {
                    der::asn1::ObjectIdentifier::new(o).map_err(|_| Error::Ca(format!("bad EKU OID {o}")))
                })
                .collect::<Result<Vec<_>>>()?;
            builder.add_extension(&ExtendedKeyUsage(oids)).map_err(ca_err)?;
        }
        use der::referenced::OwnedToRef;
        builder
            .add_extension(&SubjectKeyIdentifier::try_from(spki.owned_to_ref()).map_err(ca_err)?)
            .map_err(ca_err)?;
        let ca_spki = &self.certificate.tbs_certificate.subject_public_key_info;
        builder
            .add_extension(&AuthorityKeyIdentifier::try_from(ca_spki.owned_to_ref()).map_err(ca_err)?)
            .map_err(ca_err)?;
        let cert = builder.build::<p256::ecdsa::DerSignature>().map_err(ca_err)?;
        cert.to_der().map_err(ca_err)
    }
}

/// Checks that `certificate` (DER) was signed by the P-256 key `issuer`
/// (ECDSA-SHA256 over the TBS certificate).
pub fn verify_issued_by(certificate: &[u8], issuer: &PublicKey) -> Result<()> {
    let cert = crate::certificate::parse_certificate(certificate)?;
    let tbs = cert.tbs_certificate.to_der().map_err(ca_err)?;
    let sig =
        cert.signature.as_bytes().ok_or(Error::BadSignature("signature bit string is not whole bytes"))?;
    issuer.verify_signature(&tbs, sig).map_err(|_| Error::BadSignature("certificate not signed by this CA"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use signature::Signer;

    fn request_for(slot: Slot, key: &PublicKey, sign: impl Fn(&[u8]) -> Vec<u8>) -> IssueRequest {
        let challenge = vec![9u8; 32];
        let signature = sign(&ProofOfPossession::message(slot, &challenge));
        IssueRequest {
            slot,
            public_key_spki: key.to_spki_der().unwrap(),
            subject: "CN=Test Holder,OU=PIV".into(),
            validity_days: 30,
            key_usage: vec![KeyUsage::DigitalSignature, KeyUsage::KeyAgreement],
            extended_key_usage: vec!["1.3.6.1.5.5.7.3.2".into(), "1.3.6.1.4.1.311.20.2.2".into()],
            proof: ProofOfPossession { challenge, signature },
        }
    }

    fn openssl_verify(ca: &LocalCa, dir: &Path, der: &[u8]) {
        let leaf = dir.join("leaf.der");
        std::fs::write(&leaf, der).unwrap();
        let pem = dir.join("leaf.pem");
        let conv = std::process::Command::new("openssl")
            .args(["x509", "-inform", "DER", "-in"])
            .arg(&leaf)
            .arg("-out")
            .arg(&pem)
            .status()
            .unwrap();
        assert!(conv.success());
        let out = std::process::Command::new("openssl")
            .arg("verify")
            .arg("-CAfile")
            .arg(ca.certificate_path())
            .arg(&pem)
            .output()
            .unwrap();
        assert!(out.status.success(), "openssl verify: {}", String::from_utf8_lossy(&out.stdout));
    }

    #[test]
    fn issues_verifiable_certificates_for_p256_p384_and_rsa_keys() {
        let dir = tempfile::tempdir().unwrap();
        let ca = LocalCa::open_or_create(dir.path(), "Cardstation Test CA").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let p256_sk = p256::ecdsa::SigningKey::random(&mut rand::thread_rng());
        let p256_pk = PublicKey::P256(p256_sk.verifying_key().to_encoded_point(false).as_bytes().to_vec());
        let p384_sk = p384::ecdsa::SigningKey::random(&mut rand::thread_rng());
        let p384_pk = PublicKey::P384(p384_sk.verifying_key().to_encoded_point(false).as_bytes().to_vec());
        let rsa_sk = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
        let rsa_pk = {
            use rsa::traits::PublicKeyParts;
            PublicKey::Rsa { n: rsa_sk.n().to_bytes_be(), e: rsa_sk.e().to_bytes_be() }
        };
        let rsa_signer = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(rsa_sk);
        let requests = [
            request_for(Slot::Authentication, &p256_pk, |m| {
                let s: p256::ecdsa::DerSignature = p256_sk.sign(m);
                s.as_bytes().to_vec()
            }),
            request_for(Slot::Signature, &p384_pk, |m| {
                let s: p384::ecdsa::DerSignature = p384_sk.sign(m);
                s.as_bytes().to_vec()
            }),
            request_for(Slot::KeyManagement, &rsa_pk, |m| {
                use signature::SignatureEncoding;
                rsa_signer.sign(m).to_vec()
            }),
        ];
        for req in &requests {
            let der = ca.issue(req).unwrap();
            verify_issued_by(&der, &ca.public_key()).unwrap();
            assert_eq!(crate::certificate_public_key(&der).unwrap(), req.public_key().unwrap());
            let summary = crate::CertificateSummary::from_der(req.slot, &der).unwrap();
            assert_eq!(summary.subject, "CN=Test Holder,OU=PIV");
            assert_eq!(summary.issuer, "CN=Cardstation Test CA");
            assert_eq!(summary.serial_hex.len(), 32);
            openssl_verify(&ca, dir.path(), &der);
        }
        // Reopening loads the same CA.
        let again = LocalCa::open_or_create(dir.path(), "ignored").unwrap();
        assert_eq!(again.public_key(), ca.public_key());
    }

    #[test]
    fn refuses_requests_without_a_valid_proof_of_possession() {
        let dir = tempfile::tempdir().unwrap();
        let ca = LocalCa::open_or_create(dir.path(), "CA").unwrap();
        let sk = p256::ecdsa::SigningKey::random(&mut rand::thread_rng());
        let other = p256::ecdsa::SigningKey::random(&mut rand::thread_rng());
        let pk = PublicKey::P256(sk.verifying_key().to_encoded_point(false).as_bytes().to_vec());
        let req = request_for(Slot::Authentication, &pk, |m| {
            let s: p256::ecdsa::DerSignature = other.sign(m);
            s.as_bytes().to_vec()
        });
        assert!(matches!(ca.issue(&req), Err(Error::Ca(_))));
        // A proof made for another slot does not transfer.
        let mut moved = request_for(Slot::Signature, &pk, |m| {
            let s: p256::ecdsa::DerSignature = sk.sign(m);
            s.as_bytes().to_vec()
        });
        moved.slot = Slot::Authentication;
        assert!(matches!(ca.issue(&moved), Err(Error::Ca(_))));
    }
}
