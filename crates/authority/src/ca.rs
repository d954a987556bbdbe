//! The registry's certificate authority (SPEC §2 step 3, §4 Certificate, §7):
//! a self-signed root created at first start, whose private key is kept
//! sealed under the [`KeyEncryptionKey`]. It certifies card keys after
//! checking proof of possession, applying the credential profile's template
//! for the slot, and signs CRLs listing revoked and held certificates.
//!
//! It keeps no state besides its key and certificate: the registry stores the
//! issued certificates and their states, and hands the revoked ones back to
//! [`CertificateAuthority::crl`].
//!
//! Built on the pieces of the `piv` crate the workstation uses (the proof of
//! possession format, public keys, subject templates), so both sides agree on
//! what is signed. The certificate assembly is separate from `piv::LocalCa`
//! because this one takes the profile template from the registry rather than
//! the client, adds the PIV and Windows logon names, and signs CRLs; `piv`
//! cannot depend on this crate (it would pull in `domain`).

use crate::files::hex_bytes;
use crate::kek::{Envelope, KeyEncryptionKey};
use crate::{Error, Result};
use der::asn1::{BitString, Ia5String, ObjectIdentifier, Utf8StringRef};
use der::referenced::OwnedToRef;
use der::{Any, Decode, DecodePem, Encode, EncodePem};
use domain::{CertificateId, CertificateState, DeviceId, ExtendedKeyUsage, RevocationReason, SlotSpec};
use piv::{ProofOfPossession, PublicKey};
use serde::{Deserialize, Serialize};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::SystemTime;
use time::OffsetDateTime;
use x509_cert::crl::{CertificateList, RevokedCert, TbsCertList};
use x509_cert::ext::pkix::crl::dp::DistributionPoint;
use x509_cert::ext::pkix::crl::CrlNumber;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName, OtherName};
use x509_cert::ext::pkix::{
    AccessDescription, AuthorityInfoAccessSyntax, AuthorityKeyIdentifier, BasicConstraints,
    CrlDistributionPoints, ExtendedKeyUsage as EkuExt, KeyUsage, KeyUsages, SubjectAltName,
    SubjectKeyIdentifier,
};
use x509_cert::ext::{AsExtension, Extension};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};
use x509_cert::{Certificate, TbsCertificate, Version};
use zeroize::Zeroizing;

/// File of the CA certificate (PEM), e.g. for `openssl verify -CAfile`.
pub const CERTIFICATE_FILE: &str = "ca-cert.pem";
/// File of the CA private key (PKCS#8, sealed under the KEK; JSON, mode 0600).
pub const KEY_FILE: &str = "ca-key.sealed.json";

/// ecdsa-with-SHA256 (RFC 5758 §3.2).
const ECDSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
/// ecdsa-with-SHA384 (RFC 5758 §3.2).
const ECDSA_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
/// Microsoft User Principal Name, the otherName Windows smart card logon maps to an account.
const UPN_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.311.20.2.3");
/// id-ad-caIssuers (RFC 5280 §4.2.2.1).
const CA_ISSUERS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.2");
/// id-ad-ocsp (RFC 5280 §4.2.2.1).
const OCSP_ACCESS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1");
/// How far certificates are backdated, for clients whose clocks are a little behind.
const BACKDATE: time::Duration = time::Duration::minutes(5);
/// Lifetime of the root created at first start.
const ROOT_YEARS: i64 = 20;

/// The CA's key algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CaAlgorithm {
    /// ECDSA P-256 with SHA-256.
    P256,
    /// ECDSA P-384 with SHA-384 (the default: the root outlives the cards).
    P384,
}

enum CaKey {
    P256(p256::ecdsa::SigningKey),
    P384(p384::ecdsa::SigningKey),
}

impl CaKey {
    fn generate(algorithm: CaAlgorithm) -> CaKey {
        match algorithm {
            CaAlgorithm::P256 => CaKey::P256(p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng)),
            CaAlgorithm::P384 => CaKey::P384(p384::ecdsa::SigningKey::random(&mut rand::rngs::OsRng)),
        }
    }

    fn algorithm(&self) -> CaAlgorithm {
        match self {
            CaKey::P256(_) => CaAlgorithm::P256,
            CaKey::P384(_) => CaAlgorithm::P384,
        }
    }

    fn from_pkcs8(algorithm: CaAlgorithm, der: &[u8]) -> std::result::Result<CaKey, String> {
        use p256::pkcs8::DecodePrivateKey;
        match algorithm {
            CaAlgorithm::P256 => p256::ecdsa::SigningKey::from_pkcs8_der(der).map(CaKey::P256),
            CaAlgorithm::P384 => p384::ecdsa::SigningKey::from_pkcs8_der(der).map(CaKey::P384),
        }
        .map_err(|e| format!("private key: {e}"))
    }

    fn to_pkcs8(&self) -> Result<Zeroizing<Vec<u8>>> {
        use p256::pkcs8::EncodePrivateKey;
        let doc = match self {
            CaKey::P256(k) => k.to_pkcs8_der(),
            CaKey::P384(k) => k.to_pkcs8_der(),
        }
        .map_err(|_| Error::Crypto("encoding the CA key"))?;
        Ok(Zeroizing::new(doc.as_bytes().to_vec()))
    }

    fn spki(&self) -> Result<SubjectPublicKeyInfoOwned> {
        match self {
            CaKey::P256(k) => SubjectPublicKeyInfoOwned::from_key(*k.verifying_key()),
            CaKey::P384(k) => SubjectPublicKeyInfoOwned::from_key(*k.verifying_key()),
        }
        .map_err(|_| Error::Crypto("encoding the CA public key"))
    }

    fn signature_algorithm(&self) -> AlgorithmIdentifierOwned {
        let oid = match self {
            CaKey::P256(_) => ECDSA_SHA256,
            CaKey::P384(_) => ECDSA_SHA384,
        };
        AlgorithmIdentifierOwned { oid, parameters: None }
    }

    /// ECDSA over `message` (SHA-256 for P-256, SHA-384 for P-384), DER-encoded.
    fn sign(&self, message: &[u8]) -> Result<BitString> {
        use signature::Signer;
        let der = match self {
            CaKey::P256(k) => {
                let s: p256::ecdsa::DerSignature =
                    k.try_sign(message).map_err(|_| Error::Crypto("ECDSA signing"))?;
                s.as_bytes().to_vec()
            }
            CaKey::P384(k) => {
                let s: p384::ecdsa::DerSignature =
                    k.try_sign(message).map_err(|_| Error::Crypto("ECDSA signing"))?;
                s.as_bytes().to_vec()
            }
        };
        BitString::from_bytes(&der).map_err(|_| Error::Crypto("encoding a signature"))
    }
}

/// The CA key file: the PKCS#8 key sealed under the KEK.
#[derive(Serialize, Deserialize)]
struct SealedKeyFile {
    algorithm: CaAlgorithm,
    kek_id: String,
    #[serde(with = "hex_bytes")]
    wrapped_key: Vec<u8>,
    #[serde(with = "hex_bytes")]
    nonce: Vec<u8>,
    #[serde(with = "hex_bytes")]
    ciphertext: Vec<u8>,
}

fn key_file_aad(algorithm: CaAlgorithm) -> Vec<u8> {
    let mut aad = b"cardstation ca key v1\0".to_vec();
    aad.push(match algorithm {
        CaAlgorithm::P256 => 1,
        CaAlgorithm::P384 => 2,
    });
    aad
}

/// Who the certificate is for: values for the subject pattern's placeholders
/// and the subject alternative names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    /// `{name}`: the person's name.
    pub name: String,
    /// `{email}`; also an rfc822Name in the subject alternative names.
    pub email: Option<String>,
    /// `{employee_id}`.
    pub employee_id: Option<String>,
    /// `{upn}`; for slot 9A also the UPN otherName Windows smart card logon needs.
    pub upn: Option<String>,
}

/// A request to certify one card key, assembled by the registry from the
/// device's profile version (never from the client's idea of the template).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateRequest {
    /// The slot, its key algorithm and certificate template, from the profile.
    pub spec: SlotSpec,
    /// The cardholder.
    pub holder: Holder,
    /// The card's CHUID GUID (SPEC §2 step 4: the device id): `{guid}`, and
    /// for 9A and 9E the `urn:uuid:` URI name FIPS 201 asks for.
    pub card_uuid: Option<uuid::Uuid>,
    /// The card key, DER SubjectPublicKeyInfo.
    #[serde(with = "hex_bytes")]
    pub public_key_spki: Vec<u8>,
    /// The card's signature over the challenge, bound to the slot.
    pub proof: ProofOfPossession,
}

/// A certificate the CA made; the registry stores it and its state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedCertificate {
    /// DER certificate.
    #[serde(with = "hex_bytes")]
    pub der: Vec<u8>,
    /// Serial number, upper-case hex (as `piv::CertificateSummary` shows it).
    pub serial: String,
    /// Subject DN (RFC 4514).
    pub subject: String,
    /// The slot.
    pub slot: domain::Slot,
    /// Start of validity.
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    /// End of validity.
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
}

impl IssuedCertificate {
    /// The certificate in PEM.
    pub fn pem(&self) -> Result<String> {
        der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, &self.der)
            .map_err(|_| Error::Crypto("PEM encoding"))
    }

    /// The domain record of this certificate, in its initial `state`
    /// (the profile's certificate end state).
    pub fn record(
        &self,
        id: CertificateId,
        device: DeviceId,
        state: CertificateState,
    ) -> domain::Certificate {
        domain::Certificate {
            id,
            serial: self.serial.clone(),
            slot: self.slot,
            subject: self.subject.clone(),
            not_before: self.not_before,
            not_after: self.not_after,
            state,
            device,
        }
    }
}

/// CRL reason codes (RFC 5280 §5.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CrlReason {
    /// unspecified (0): written without a reasonCode extension, as §5.3.1 asks.
    Unspecified,
    /// keyCompromise (1).
    KeyCompromise,
    /// cACompromise (2).
    CaCompromise,
    /// affiliationChanged (3).
    AffiliationChanged,
    /// superseded (4).
    Superseded,
    /// cessationOfOperation (5).
    CessationOfOperation,
    /// certificateHold (6): suspended, may be released (removed from the next CRL).
    CertificateHold,
    /// privilegeWithdrawn (9).
    PrivilegeWithdrawn,
    /// aACompromise (10).
    AaCompromise,
}

impl CrlReason {
    pub(crate) fn x509(self) -> x509_cert::ext::pkix::crl::CrlReason {
        use x509_cert::ext::pkix::crl::CrlReason as R;
        match self {
            CrlReason::Unspecified => R::Unspecified,
            CrlReason::KeyCompromise => R::KeyCompromise,
            CrlReason::CaCompromise => R::CaCompromise,
            CrlReason::AffiliationChanged => R::AffiliationChanged,
            CrlReason::Superseded => R::Superseded,
            CrlReason::CessationOfOperation => R::CessationOfOperation,
            CrlReason::CertificateHold => R::CertificateHold,
            CrlReason::PrivilegeWithdrawn => R::PrivilegeWithdrawn,
            CrlReason::AaCompromise => R::AaCompromise,
        }
    }
}

impl From<RevocationReason> for CrlReason {
    fn from(r: RevocationReason) -> CrlReason {
        match r {
            RevocationReason::Unspecified => CrlReason::Unspecified,
            RevocationReason::KeyCompromise => CrlReason::KeyCompromise,
            RevocationReason::AffiliationChanged => CrlReason::AffiliationChanged,
            RevocationReason::Superseded => CrlReason::Superseded,
            RevocationReason::CessationOfOperation => CrlReason::CessationOfOperation,
        }
    }
}

/// One entry of a CRL: a revoked or held certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokedEntry {
    /// Serial number, hex (as in [`IssuedCertificate::serial`]).
    pub serial: String,
    /// When it was revoked or put on hold.
    #[serde(with = "time::serde::rfc3339")]
    pub revoked_at: OffsetDateTime,
    /// Why.
    pub reason: CrlReason,
}

impl RevokedEntry {
    /// The CRL entry for a certificate in `state` since `since`: revoked
    /// certificates with their reason, held ones as certificateHold, valid
    /// ones none (a release simply leaves the certificate off the next CRL).
    pub fn for_state(serial: &str, state: CertificateState, since: OffsetDateTime) -> Option<RevokedEntry> {
        let reason = match state {
            CertificateState::Valid => return None,
            CertificateState::OnHold => CrlReason::CertificateHold,
            CertificateState::Revoked { reason } => reason.into(),
        };
        Some(RevokedEntry { serial: serial.to_owned(), revoked_at: since, reason })
    }
}

fn x509_time(t: OffsetDateTime) -> Result<Time> {
    Time::try_from(SystemTime::from(t)).map_err(|_| Error::Time("outside what X.509 can encode"))
}

fn from_x509_time(t: Time) -> Result<OffsetDateTime> {
    i64::try_from(t.to_unix_duration().as_secs())
        .ok()
        .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
        .ok_or(Error::Time("certificate time out of range"))
}

fn random_serial() -> Result<SerialNumber> {
    let mut bytes = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    // Positive, no leading zero: 16 bytes in DER (RFC 5280 §4.1.2.2 allows 20).
    bytes[0] = (bytes[0] & 0x7F) | 0x40;
    SerialNumber::new(&bytes).map_err(|_| Error::Crypto("serial number"))
}

fn parse_serial(hex_serial: &str) -> Result<SerialNumber> {
    let bytes = hex::decode(hex_serial).map_err(|_| Error::BadSerial(hex_serial.to_owned()))?;
    if bytes.is_empty() || bytes.len() > 20 {
        return Err(Error::BadSerial(hex_serial.to_owned()));
    }
    SerialNumber::new(&bytes).map_err(|_| Error::BadSerial(hex_serial.to_owned()))
}

/// A URL as an IA5String URI name; only http(s) and ldap.
fn url_name(url: &str) -> Result<Ia5String> {
    let scheme_ok = ["http://", "https://", "ldap://"].iter().any(|p| url.starts_with(p));
    if !scheme_ok || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Error::Template(format!("{url:?} is not an http(s) or ldap URL")));
    }
    Ia5String::new(url).map_err(|_| Error::Template(format!("URL {url:?} is not ASCII")))
}

fn extension<E: AsExtension>(subject: &Name, existing: &[Extension], ext: &E) -> Result<Extension> {
    ext.to_extension(subject, existing).map_err(|_| Error::Crypto("encoding an extension"))
}

/// piv's name for a profile slot (the proof of possession is bound to its key reference).
fn piv_slot(slot: domain::Slot) -> piv::Slot {
    match slot {
        domain::Slot::PivAuthentication => piv::Slot::Authentication,
        domain::Slot::DigitalSignature => piv::Slot::Signature,
        domain::Slot::KeyManagement => piv::Slot::KeyManagement,
        domain::Slot::CardAuthentication => piv::Slot::CardAuthentication,
    }
}

fn domain_algorithm(a: piv::KeyAlgorithm) -> domain::KeyAlgorithm {
    match a {
        piv::KeyAlgorithm::Rsa2048 => domain::KeyAlgorithm::Rsa2048,
        piv::KeyAlgorithm::EccP256 => domain::KeyAlgorithm::EccP256,
        piv::KeyAlgorithm::EccP384 => domain::KeyAlgorithm::EccP384,
    }
}

/// Shortest challenge accepted in a proof of possession.
pub const MIN_CHALLENGE_LEN: usize = 16;

/// A fresh challenge for a card to sign (when the registry hands it out,
/// pass it back as `expected_challenge` to [`CertificateAuthority::issue`]).
pub fn new_challenge() -> Vec<u8> {
    let mut c = vec![0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut c);
    c
}

/// Checks that the card holding the key of `request` signed the challenge
/// for this slot: the key parses, is of the profile's algorithm, the
/// challenge is the expected one (when the registry issued it) and at least
/// 16 bytes, and the signature verifies over
/// [`ProofOfPossession::message`]. Returns the key.
pub fn verify_proof(request: &CertificateRequest, expected_challenge: Option<&[u8]>) -> Result<PublicKey> {
    let key =
        PublicKey::from_spki_der(&request.public_key_spki).map_err(|e| Error::BadPublicKey(e.to_string()))?;
    let found = key.algorithm().map(domain_algorithm);
    if found != Some(request.spec.algorithm) {
        return Err(Error::KeyAlgorithm { expected: request.spec.algorithm, found: key.describe() });
    }
    let challenge = &request.proof.challenge;
    if let Some(expected) = expected_challenge {
        if challenge.as_slice() != expected {
            return Err(Error::ChallengeMismatch);
        }
    }
    if challenge.len() < MIN_CHALLENGE_LEN {
        return Err(Error::ChallengeTooShort(challenge.len()));
    }
    let message = ProofOfPossession::message(piv_slot(request.spec.slot), challenge);
    key.verify_signature(&message, &request.proof.signature).map_err(|_| Error::ProofOfPossession)?;
    Ok(key)
}

/// keyUsage of each PIV slot, after the PIV certificate profile (FIPS 201,
/// SP 800-78: 9A and 9E authenticate, 9C signs with non-repudiation, 9D
/// carries key transport (RSA) or key agreement (ECC)), with digitalSignature
/// on every slot: OpenSC derives CKA_SIGN from keyUsage (PIV-NOTES, OpenSC
/// #3461) and the workstation's own profiles ask for it on 9D too.
fn slot_key_usage(slot: domain::Slot, key: &PublicKey) -> KeyUsage {
    let bits = match slot {
        domain::Slot::PivAuthentication | domain::Slot::CardAuthentication => {
            KeyUsages::DigitalSignature.into()
        }
        domain::Slot::DigitalSignature => KeyUsages::DigitalSignature | KeyUsages::NonRepudiation,
        domain::Slot::KeyManagement => match key {
            PublicKey::Rsa { .. } => KeyUsages::DigitalSignature | KeyUsages::KeyEncipherment,
            _ => KeyUsages::DigitalSignature | KeyUsages::KeyAgreement,
        },
    };
    KeyUsage(bits)
}

fn eku_oid(eku: &ExtendedKeyUsage) -> Result<ObjectIdentifier> {
    let dotted = match eku {
        ExtendedKeyUsage::ClientAuth => "1.3.6.1.5.5.7.3.2",
        ExtendedKeyUsage::SmartCardLogon => "1.3.6.1.4.1.311.20.2.2",
        ExtendedKeyUsage::EmailProtection => "1.3.6.1.5.5.7.3.4",
        ExtendedKeyUsage::CodeSigning => "1.3.6.1.5.5.7.3.3",
        ExtendedKeyUsage::PivCardAuth => "2.16.840.1.101.3.6.8",
        ExtendedKeyUsage::Oid(o) => o.as_str(),
    };
    ObjectIdentifier::new(dotted)
        .map_err(|_| Error::Template(format!("extended key usage {dotted:?} is not an OID")))
}

/// The subject: the template's pattern with the holder's values (escaped).
fn render_subject(request: &CertificateRequest) -> Result<String> {
    let mut values = piv::SubjectValues {
        name: request.holder.name.clone(),
        guid: request.card_uuid.map(|u| u.simple().to_string().to_uppercase()).unwrap_or_default(),
        slot: format!("{:02x}", request.spec.slot.key_reference()),
        extra: Default::default(),
    };
    for (key, value) in [
        ("email", &request.holder.email),
        ("employee_id", &request.holder.employee_id),
        ("upn", &request.holder.upn),
    ] {
        if let Some(v) = value {
            values.extra.insert(key.to_owned(), v.clone());
        }
    }
    let template = piv::CertificateTemplate {
        subject: request.spec.certificate.subject.clone(),
        validity_days: request.spec.certificate.validity_days,
        key_usage: Vec::new(),
        extended_key_usage: Vec::new(),
    };
    template.render_subject(&values).map_err(|e| Error::Template(e.to_string()))
}

fn alt_names(request: &CertificateRequest) -> Result<Vec<GeneralName>> {
    let slot = request.spec.slot;
    let mut names = Vec::new();
    if let (domain::Slot::PivAuthentication, Some(upn)) = (slot, &request.holder.upn) {
        let value = Utf8StringRef::new(upn).map_err(|_| Error::Template("UPN is not UTF-8".into()))?;
        let value = Any::encode_from(&value).map_err(|_| Error::Crypto("encoding the UPN"))?;
        names.push(GeneralName::OtherName(OtherName { type_id: UPN_OID, value }));
    }
    if let Some(email) = &request.holder.email {
        let ia5 = Ia5String::new(email)
            .map_err(|_| Error::Template(format!("email {email:?} is not ASCII (IA5)")))?;
        names.push(GeneralName::Rfc822Name(ia5));
    }
    if let (domain::Slot::PivAuthentication | domain::Slot::CardAuthentication, Some(uuid)) =
        (slot, request.card_uuid)
    {
        let uri = Ia5String::new(&format!("urn:uuid:{}", uuid.hyphenated()))
            .map_err(|_| Error::Crypto("encoding the card UUID"))?;
        names.push(GeneralName::UniformResourceIdentifier(uri));
    }
    Ok(names)
}

/// The registry's certificate authority (see the module documentation).
pub struct CertificateAuthority {
    dir: PathBuf,
    key: CaKey,
    certificate: Certificate,
    certificate_der: Vec<u8>,
    crl_url: Option<Ia5String>,
    ca_issuers_url: Option<Ia5String>,
    ocsp_url: Option<Ia5String>,
}

impl std::fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateAuthority")
            .field("dir", &self.dir)
            .field("subject", &self.certificate.tbs_certificate.subject.to_string())
            .field("algorithm", &self.key.algorithm())
            .finish_non_exhaustive()
    }
}

impl CertificateAuthority {
    /// Opens the CA kept in `dir`, creating it on first start: a P-384 key
    /// sealed under `kek` and a self-signed certificate `CN=<name>`, 20 years
    /// (`name` only matters then).
    pub fn open_or_create(
        dir: &Path,
        name: &str,
        kek: &dyn KeyEncryptionKey,
    ) -> Result<CertificateAuthority> {
        CertificateAuthority::open_or_create_with(dir, name, CaAlgorithm::P384, kek)
    }

    /// [`CertificateAuthority::open_or_create`] with a choice of key
    /// algorithm (used only when the CA is created).
    pub fn open_or_create_with(
        dir: &Path,
        name: &str,
        algorithm: CaAlgorithm,
        kek: &dyn KeyEncryptionKey,
    ) -> Result<CertificateAuthority> {
        let key_path = dir.join(KEY_FILE);
        if key_path.exists() {
            return CertificateAuthority::open(dir, kek);
        }
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let key = CaKey::generate(algorithm);
        let subject = Name::from_str(&format!("CN={}", piv::profile::escape_dn_value(name)))
            .map_err(|e| Error::Template(format!("CA name: {e}")))?;
        let spki = key.spki()?;
        let now = OffsetDateTime::now_utc();
        let validity = Validity {
            not_before: x509_time(now - BACKDATE)?,
            not_after: x509_time(now + time::Duration::days(ROOT_YEARS * 365))?,
        };
        let mut extensions = Vec::new();
        let ski = SubjectKeyIdentifier::try_from(spki.owned_to_ref())
            .map_err(|_| Error::Crypto("subject key identifier"))?;
        extensions.push(extension(&subject, &extensions, &ski)?);
        let bc = BasicConstraints { ca: true, path_len_constraint: Some(0) };
        extensions.push(extension(&subject, &extensions, &bc)?);
        let ku = KeyUsage(KeyUsages::KeyCertSign | KeyUsages::CRLSign | KeyUsages::DigitalSignature);
        extensions.push(extension(&subject, &extensions, &ku)?);
        let tbs = TbsCertificate {
            version: Version::V3,
            serial_number: random_serial()?,
            signature: key.signature_algorithm(),
            issuer: subject.clone(),
            validity,
            subject,
            subject_public_key_info: spki,
            issuer_unique_id: None,
            subject_unique_id: None,
            extensions: Some(extensions),
        };
        let certificate = sign_certificate(&key, tbs)?;
        let pem = certificate.to_pem(der::pem::LineEnding::LF).map_err(|_| Error::Crypto("PEM encoding"))?;
        let pkcs8 = key.to_pkcs8()?;
        let sealed = Envelope::seal(kek, &key_file_aad(algorithm), &pkcs8)?;
        let file = SealedKeyFile {
            algorithm,
            kek_id: sealed.kek_id,
            wrapped_key: sealed.wrapped_key,
            nonce: sealed.nonce,
            ciphertext: sealed.ciphertext,
        };
        let json = serde_json::to_vec_pretty(&file).map_err(|_| Error::Crypto("encoding the key file"))?;
        // The certificate first: the key file marks a complete CA, and an
        // interrupted first start (certificate without key) is simply redone.
        let cert_path = dir.join(CERTIFICATE_FILE);
        std::fs::write(&cert_path, pem).map_err(|e| Error::io(&cert_path, e))?;
        crate::files::publish_private(&key_path, &json)?;
        CertificateAuthority::from_parts(dir, key, certificate)
    }

    /// Opens an existing CA; checks that the key unseals under `kek` and
    /// matches the certificate.
    pub fn open(dir: &Path, kek: &dyn KeyEncryptionKey) -> Result<CertificateAuthority> {
        let key_path = dir.join(KEY_FILE);
        let bad_key = |reason: String| Error::BadCaFile { path: key_path.clone(), reason };
        let json = std::fs::read(&key_path).map_err(|e| Error::io(&key_path, e))?;
        let file: SealedKeyFile = serde_json::from_slice(&json).map_err(|e| bad_key(e.to_string()))?;
        let envelope = Envelope {
            kek_id: file.kek_id,
            wrapped_key: file.wrapped_key,
            nonce: file.nonce,
            ciphertext: file.ciphertext,
        };
        let pkcs8 = envelope.open(kek, &key_file_aad(file.algorithm))?;
        let key = CaKey::from_pkcs8(file.algorithm, &pkcs8).map_err(bad_key)?;
        let cert_path = dir.join(CERTIFICATE_FILE);
        let bad_cert = |reason: String| Error::BadCaFile { path: cert_path.clone(), reason };
        let pem = std::fs::read(&cert_path).map_err(|e| Error::io(&cert_path, e))?;
        let certificate = Certificate::from_pem(&pem).map_err(|e| bad_cert(e.to_string()))?;
        if certificate.tbs_certificate.subject_public_key_info != key.spki()? {
            return Err(bad_cert("the certificate is not for the CA's key".into()));
        }
        CertificateAuthority::from_parts(dir, key, certificate)
    }

    fn from_parts(dir: &Path, key: CaKey, certificate: Certificate) -> Result<CertificateAuthority> {
        let certificate_der =
            certificate.to_der().map_err(|_| Error::Crypto("encoding the CA certificate"))?;
        Ok(CertificateAuthority {
            dir: dir.to_owned(),
            key,
            certificate,
            certificate_der,
            crl_url: None,
            ca_issuers_url: None,
            ocsp_url: None,
        })
    }

    /// Where relying parties fetch the CRL (e.g. the registry's
    /// `https://…/crl`), written into issued certificates as a CRL
    /// distribution point. Windows domain controllers check revocation of
    /// smart card logon certificates and fail without one.
    pub fn with_crl_url(mut self, url: &str) -> Result<CertificateAuthority> {
        self.crl_url = Some(url_name(url)?);
        Ok(self)
    }

    /// Where relying parties fetch the CA certificate, written into issued
    /// certificates as authority information access (caIssuers).
    pub fn with_ca_issuers_url(mut self, url: &str) -> Result<CertificateAuthority> {
        self.ca_issuers_url = Some(url_name(url)?);
        Ok(self)
    }

    /// Where relying parties ask for a certificate's status (the registry's
    /// OCSP responder), written into issued certificates as authority
    /// information access (ocsp): fresher than a CRL and what most TLS and
    /// VPN stacks try first.
    pub fn with_ocsp_url(mut self, url: &str) -> Result<CertificateAuthority> {
        self.ocsp_url = Some(url_name(url)?);
        Ok(self)
    }

    /// The CA certificate, DER (the trust anchor workstations pin).
    pub fn certificate_der(&self) -> &[u8] {
        &self.certificate_der
    }

    /// The CA certificate, PEM.
    pub fn certificate_pem(&self) -> Result<String> {
        self.certificate.to_pem(der::pem::LineEnding::LF).map_err(|_| Error::Crypto("PEM encoding"))
    }

    /// Where the CA certificate (PEM) lives.
    pub fn certificate_path(&self) -> PathBuf {
        self.dir.join(CERTIFICATE_FILE)
    }

    /// SHA-256 of the CA certificate (DER), upper-case hex: what operators
    /// compare when a workstation pins the registry's trust anchor.
    pub fn fingerprint(&self) -> String {
        use sha2::Digest;
        hex::encode_upper(sha2::Sha256::digest(&self.certificate_der))
    }

    /// Moves the CA key file in `dir` from KEK `from` to KEK `to` (KEK
    /// rotation): the data key is re-wrapped, the sealed key is unchanged.
    /// The file is replaced atomically (written aside, then renamed).
    pub fn rewrap_key(dir: &Path, from: &dyn KeyEncryptionKey, to: &dyn KeyEncryptionKey) -> Result<()> {
        let key_path = dir.join(KEY_FILE);
        let json = std::fs::read(&key_path).map_err(|e| Error::io(&key_path, e))?;
        let file: SealedKeyFile = serde_json::from_slice(&json)
            .map_err(|e| Error::BadCaFile { path: key_path.clone(), reason: e.to_string() })?;
        let envelope = Envelope {
            kek_id: file.kek_id,
            wrapped_key: file.wrapped_key,
            nonce: file.nonce,
            ciphertext: file.ciphertext,
        };
        // Proves the key still opens before anything is replaced.
        envelope.open(from, &key_file_aad(file.algorithm))?;
        let moved = envelope.rewrap(from, to)?;
        let file = SealedKeyFile {
            algorithm: file.algorithm,
            kek_id: moved.kek_id,
            wrapped_key: moved.wrapped_key,
            nonce: moved.nonce,
            ciphertext: moved.ciphertext,
        };
        let json = serde_json::to_vec_pretty(&file).map_err(|_| Error::Crypto("encoding the key file"))?;
        let aside = dir.join(format!("{KEY_FILE}.new"));
        match std::fs::remove_file(&aside) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(&aside, e)),
        }
        crate::files::write_private(&aside, &json)?;
        std::fs::rename(&aside, &key_path).map_err(|e| Error::io(&key_path, e))
    }

    /// The CA's subject DN.
    pub fn subject(&self) -> String {
        self.certificate.tbs_certificate.subject.to_string()
    }

    /// The CA's key algorithm.
    pub fn algorithm(&self) -> CaAlgorithm {
        self.key.algorithm()
    }

    /// Certifies the card key of `request` at `now`. First checks the proof of
    /// possession ([`verify_proof`]; `expected_challenge` is the challenge the
    /// registry handed out, or `None` to accept the card's own), then applies
    /// the slot's template: subject, validity (backdated 5 minutes, never
    /// beyond the CA's own), keyUsage for the slot, the template's EKUs,
    /// subject alternative names (UPN for 9A, email, card UUID for 9A/9E), SKI and AKI.
    pub fn issue(
        &self,
        request: &CertificateRequest,
        expected_challenge: Option<&[u8]>,
        now: OffsetDateTime,
    ) -> Result<IssuedCertificate> {
        let key = verify_proof(request, expected_challenge)?;
        let template = &request.spec.certificate;
        if template.validity_days == 0 {
            return Err(Error::Template("validity of 0 days".into()));
        }
        let subject_text = render_subject(request)?;
        let subject = Name::from_str(&subject_text)
            .map_err(|e| Error::Template(format!("subject {subject_text:?}: {e}")))?;
        let spki = SubjectPublicKeyInfoOwned::from_der(&request.public_key_spki)
            .map_err(|e| Error::BadPublicKey(e.to_string()))?;

        let ca_not_after = from_x509_time(self.certificate.tbs_certificate.validity.not_after)?;
        if now >= ca_not_after {
            return Err(Error::Time("the CA certificate has expired"));
        }
        let not_after = (now + time::Duration::days(i64::from(template.validity_days))).min(ca_not_after);
        let validity = Validity { not_before: x509_time(now - BACKDATE)?, not_after: x509_time(not_after)? };

        let mut ext = Vec::new();
        let bc = BasicConstraints { ca: false, path_len_constraint: None };
        ext.push(extension(&subject, &ext, &bc)?);
        ext.push(extension(&subject, &ext, &slot_key_usage(request.spec.slot, &key))?);
        if !template.ekus.is_empty() {
            let oids = template.ekus.iter().map(eku_oid).collect::<Result<Vec<_>>>()?;
            // Not critical (RFC 5280 §4.2.1.12 leaves the choice): relying
            // parties that do not know an EKU such as smart card logon still use the certificate.
            let mut eku = extension(&subject, &ext, &EkuExt(oids))?;
            eku.critical = false;
            ext.push(eku);
        }
        let names = alt_names(request)?;
        if !names.is_empty() {
            ext.push(extension(&subject, &ext, &SubjectAltName(names))?);
        }
        let ski = SubjectKeyIdentifier::try_from(spki.owned_to_ref())
            .map_err(|_| Error::Crypto("subject key identifier"))?;
        ext.push(extension(&subject, &ext, &ski)?);
        ext.push(extension(&subject, &ext, &self.authority_key_identifier()?)?);
        if let Some(url) = &self.crl_url {
            let point = DistributionPoint {
                distribution_point: Some(DistributionPointName::FullName(vec![
                    GeneralName::UniformResourceIdentifier(url.clone()),
                ])),
                reasons: None,
                crl_issuer: None,
            };
            ext.push(extension(&subject, &ext, &CrlDistributionPoints(vec![point]))?);
        }
        let access: Vec<AccessDescription> =
            [(OCSP_ACCESS, &self.ocsp_url), (CA_ISSUERS, &self.ca_issuers_url)]
                .into_iter()
                .filter_map(|(method, url)| {
                    url.as_ref().map(|url| AccessDescription {
                        access_method: method,
                        access_location: GeneralName::UniformResourceIdentifier(url.clone()),
                    })
                })
                .collect();
        if !access.is_empty() {
            ext.push(extension(&subject, &ext, &AuthorityInfoAccessSyntax(access))?);
        }

        let tbs = TbsCertificate {
            version: Version::V3,
            serial_number: random_serial()?,
            signature: self.key.signature_algorithm(),
            issuer: self.certificate.tbs_certificate.subject.clone(),
            validity,
            subject,
            subject_public_key_info: spki,
            issuer_unique_id: None,
            subject_unique_id: None,
            extensions: Some(ext),
        };
        let certificate = sign_certificate(&self.key, tbs)?;
        let tbs = &certificate.tbs_certificate;
        Ok(IssuedCertificate {
            der: certificate.to_der().map_err(|_| Error::Crypto("encoding the certificate"))?,
            serial: hex::encode_upper(tbs.serial_number.as_bytes()),
            subject: tbs.subject.to_string(),
            slot: request.spec.slot,
            not_before: from_x509_time(tbs.validity.not_before)?,
            not_after: from_x509_time(tbs.validity.not_after)?,
        })
    }

    fn authority_key_identifier(&self) -> Result<AuthorityKeyIdentifier> {
        AuthorityKeyIdentifier::try_from(
            self.certificate.tbs_certificate.subject_public_key_info.owned_to_ref(),
        )
        .map_err(|_| Error::Crypto("authority key identifier"))
    }

    /// An X.509 v2 CRL (RFC 5280 §5) listing `revoked` (revoked and held
    /// certificates; see [`RevokedEntry::for_state`]), signed by the CA, DER.
    /// It carries the authority key identifier and a CRL number, which is
    /// `this_update` in seconds since 1970: monotonic as long as CRLs are not
    /// made twice within a second, without the registry keeping a counter.
    pub fn crl(
        &self,
        revoked: &[RevokedEntry],
        this_update: OffsetDateTime,
        next_update: OffsetDateTime,
    ) -> Result<Vec<u8>> {
        if next_update <= this_update {
            return Err(Error::Time("nextUpdate must be after thisUpdate"));
        }
        let issuer = self.certificate.tbs_certificate.subject.clone();
        let mut entries = Vec::with_capacity(revoked.len());
        for entry in revoked {
            let extensions = if entry.reason == CrlReason::Unspecified {
                None
            } else {
                Some(vec![extension(&issuer, &[], &entry.reason.x509())?])
            };
            entries.push(RevokedCert {
                serial_number: parse_serial(&entry.serial)?,
                revocation_date: x509_time(entry.revoked_at)?,
                crl_entry_extensions: extensions,
            });
        }
        let number = u64::try_from(this_update.unix_timestamp()).map_err(|_| Error::Time("before 1970"))?;
        let number = der::asn1::Uint::new(&number.to_be_bytes()).map_err(|_| Error::Crypto("CRL number"))?;
        let crl_extensions = vec![
            extension(&issuer, &[], &self.authority_key_identifier()?)?,
            extension(&issuer, &[], &CrlNumber(number))?,
        ];
        let tbs = TbsCertList {
            version: Version::V2,
            signature: self.key.signature_algorithm(),
            issuer,
            this_update: x509_time(this_update)?,
            next_update: Some(x509_time(next_update)?),
            revoked_certificates: if entries.is_empty() { None } else { Some(entries) },
            crl_extensions: Some(crl_extensions),
        };
        let tbs_der = tbs.to_der().map_err(|_| Error::Crypto("encoding the CRL"))?;
        let crl = CertificateList {
            signature: self.key.sign(&tbs_der)?,
            tbs_cert_list: tbs,
            signature_algorithm: self.key.signature_algorithm(),
        };
        crl.to_der().map_err(|_| Error::Crypto("encoding the CRL"))
    }
}

/// What the OCSP responder (`crate::ocsp`) needs of the CA: its
/// certificate and signatures with its key.
impl CertificateAuthority {
    pub(crate) fn certificate(&self) -> &Certificate {
        &self.certificate
    }

    pub(crate) fn sign(&self, message: &[u8]) -> Result<BitString> {
        self.key.sign(message)
    }

    pub(crate) fn signature_algorithm(&self) -> AlgorithmIdentifierOwned {
        self.key.signature_algorithm()
    }
}

fn sign_certificate(key: &CaKey, tbs: TbsCertificate) -> Result<Certificate> {
    let tbs_der = tbs.to_der().map_err(|_| Error::Crypto("encoding the certificate"))?;
    Ok(Certificate {
        signature: key.sign(&tbs_der)?,
        tbs_certificate: tbs,
        signature_algorithm: key.signature_algorithm(),
    })
}

/// A CRL in PEM, as `openssl crl` and most tools read it.
pub fn crl_pem(der: &[u8]) -> Result<String> {
    der::pem::encode_string("X509 CRL", der::pem::LineEnding::LF, der)
        .map_err(|_| Error::Crypto("PEM encoding"))
}

/// The CA's PKCS#8 key, for tests that check it never lands on disk in clear.
#[cfg(test)]
pub(crate) fn ca_key_pkcs8(ca: &CertificateAuthority) -> Vec<u8> {
    ca.key.to_pkcs8().map(|k| k.to_vec()).unwrap_or_default()
}
