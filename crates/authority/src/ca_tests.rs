//! Certificate authority tests: OpenSSL is the judge of certificates and CRLs.

use super::ca::*;
use crate::kek::FileKek;
use crate::Error;
use domain::{CertificateTemplate, ExtendedKeyUsage, KeyAlgorithm, RevocationReason, Slot, SlotSpec};
use piv::{ProofOfPossession, PublicKey};
use std::path::Path;
use std::process::Command;
use time::OffsetDateTime;

/// A card key held in the test (what the card would do on GENERAL AUTHENTICATE).
enum CardKey {
    P256(p256::ecdsa::SigningKey),
    P384(p384::ecdsa::SigningKey),
    Rsa(Box<rsa::pkcs1v15::SigningKey<sha2::Sha256>>, PublicKey),
}

impl CardKey {
    fn new(algorithm: KeyAlgorithm) -> CardKey {
        let rng = &mut rand::thread_rng();
        match algorithm {
            KeyAlgorithm::EccP256 => CardKey::P256(p256::ecdsa::SigningKey::random(rng)),
            KeyAlgorithm::EccP384 => CardKey::P384(p384::ecdsa::SigningKey::random(rng)),
            KeyAlgorithm::Rsa2048 => {
                use rsa::traits::PublicKeyParts;
                let sk = rsa::RsaPrivateKey::new(rng, 2048).unwrap();
                let pk = PublicKey::Rsa { n: sk.n().to_bytes_be(), e: sk.e().to_bytes_be() };
                CardKey::Rsa(Box::new(rsa::pkcs1v15::SigningKey::new(sk)), pk)
            }
        }
    }

    fn public(&self) -> PublicKey {
        match self {
            CardKey::P256(k) => {
                PublicKey::P256(k.verifying_key().to_encoded_point(false).as_bytes().to_vec())
            }
            CardKey::P384(k) => {
                PublicKey::P384(k.verifying_key().to_encoded_point(false).as_bytes().to_vec())
            }
            CardKey::Rsa(_, pk) => pk.clone(),
        }
    }

    fn sign(&self, message: &[u8]) -> Vec<u8> {
        use signature::{SignatureEncoding, Signer};
        match self {
            CardKey::P256(k) => {
                let s: p256::ecdsa::DerSignature = k.sign(message);
                s.as_bytes().to_vec()
            }
            CardKey::P384(k) => {
                let s: p384::ecdsa::DerSignature = k.sign(message);
                s.as_bytes().to_vec()
            }
            CardKey::Rsa(k, _) => k.sign(message).to_vec(),
        }
    }

    /// The request a workstation sends after generating this key in `slot`.
    fn request(&self, slot: Slot, challenge: &[u8], ekus: Vec<ExtendedKeyUsage>) -> CertificateRequest {
        let pivslot = match slot {
            Slot::PivAuthentication => piv::Slot::Authentication,
            Slot::DigitalSignature => piv::Slot::Signature,
            Slot::KeyManagement => piv::Slot::KeyManagement,
            Slot::CardAuthentication => piv::Slot::CardAuthentication,
        };
        let public = self.public();
        CertificateRequest {
            spec: SlotSpec {
                slot,
                algorithm: match public.algorithm().unwrap() {
                    piv::KeyAlgorithm::Rsa2048 => KeyAlgorithm::Rsa2048,
                    piv::KeyAlgorithm::EccP256 => KeyAlgorithm::EccP256,
                    piv::KeyAlgorithm::EccP384 => KeyAlgorithm::EccP384,
                },
                certificate: CertificateTemplate {
                    subject: "CN={name},OU=Staff,serialNumber={employee_id}".into(),
                    validity_days: 365,
                    ekus,
                },
            },
            holder: Holder {
                name: "Doe, Alice".into(),
                email: Some("alice@example.test".into()),
                employee_id: Some("E-1001".into()),
                upn: Some("alice@corp.example.test".into()),
            },
            card_uuid: Some(uuid::Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef)),
            public_key_spki: public.to_spki_der().unwrap(),
            proof: ProofOfPossession {
                challenge: challenge.to_vec(),
                signature: self.sign(&ProofOfPossession::message(pivslot, challenge)),
            },
        }
    }
}

fn kek(dir: &Path) -> FileKek {
    FileKek::open_or_create(&dir.join("kek")).unwrap()
}

fn openssl(args: &[&str], dir: &Path) -> (bool, String) {
    let out = Command::new("openssl").args(args).current_dir(dir).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

fn write_pem(dir: &Path, name: &str, issued: &IssuedCertificate) {
    std::fs::write(dir.join(name), issued.pem().unwrap()).unwrap();
}

fn verify(dir: &Path, ca: &CertificateAuthority, leaf: &str, crl: Option<&str>) -> (bool, String) {
    let ca_path = ca.certificate_path();
    let mut args = vec!["verify", "-CAfile", ca_path.to_str().unwrap()];
    if let Some(crl) = crl {
        args.extend(["-crl_check", "-CRLfile", crl]);
    }
    args.push(leaf);
    openssl(&args, dir)
}

#[test]
fn issued_certificates_verify_with_openssl_for_every_ca_and_card_algorithm() {
    let dir = tempfile::tempdir().unwrap();
    let kek = kek(dir.path());
    for ca_algorithm in [CaAlgorithm::P256, CaAlgorithm::P384] {
        let ca_dir = dir.path().join(format!("{ca_algorithm:?}"));
        let ca = CertificateAuthority::open_or_create_with(&ca_dir, "Cardstation Root", ca_algorithm, &kek)
            .unwrap();
        assert_eq!(ca.subject(), "CN=Cardstation Root");
        let (ok, text) =
            openssl(&["x509", "-in", ca.certificate_path().to_str().unwrap(), "-noout", "-text"], dir.path());
        assert!(ok, "{text}");
        assert!(text.contains("CA:TRUE") && text.contains("CRL Sign"), "{text}");
        for (slot, algorithm) in [
            (Slot::PivAuthentication, KeyAlgorithm::EccP256),
            (Slot::DigitalSignature, KeyAlgorithm::EccP384),
            (Slot::KeyManagement, KeyAlgorithm::Rsa2048),
        ] {
            let card = CardKey::new(algorithm);
            let challenge = new_challenge();
            let request = card.request(slot, &challenge, vec![ExtendedKeyUsage::ClientAuth]);
            let now = OffsetDateTime::now_utc();
            let issued = ca.issue(&request, Some(&challenge), now).unwrap();
            assert_eq!(issued.subject, "CN=Doe\\, Alice,OU=Staff,SERIALNUMBER=E-1001");
            assert_eq!(issued.serial.len(), 32);
            assert_eq!(issued.slot, slot);
            assert_eq!(piv::certificate_public_key(&issued.der).unwrap(), card.public());
            write_pem(dir.path(), "leaf.pem", &issued);
            let (ok, text) = verify(dir.path(), &ca, "leaf.pem", None);
            assert!(ok, "{ca_algorithm:?} {slot:?}: {text}");
            let summary = piv::CertificateSummary::from_der(piv::Slot::Authentication, &issued.der).unwrap();
            assert_eq!(summary.issuer, "CN=Cardstation Root");
            assert_eq!(summary.serial_hex, issued.serial);
        }
    }
}

#[test]
fn the_template_decides_key_usage_ekus_names_and_validity() {
    let dir = tempfile::tempdir().unwrap();
    let ca = CertificateAuthority::open_or_create(dir.path(), "Root", &kek(dir.path())).unwrap();
    let text_of = |issued: &IssuedCertificate| {
        write_pem(dir.path(), "t.pem", issued);
        let (ok, text) = openssl(&["x509", "-in", "t.pem", "-noout", "-text"], dir.path());
        assert!(ok, "{text}");
        text
    };
    let now = OffsetDateTime::from_unix_timestamp(1_790_000_000).unwrap();
    let challenge = vec![7u8; 32];

    // 9A: authentication, Windows logon names.
    let card = CardKey::new(KeyAlgorithm::EccP256);
    let ekus = vec![ExtendedKeyUsage::ClientAuth, ExtendedKeyUsage::SmartCardLogon];
    let issued = ca.issue(&card.request(Slot::PivAuthentication, &challenge, ekus), None, now).unwrap();
    let text = text_of(&issued);
    assert!(text.contains("Digital Signature") && !text.contains("Non Repudiation"), "{text}");
    assert!(text.contains("TLS Web Client Authentication"), "{text}");
    assert!(text.contains("Microsoft Smartcard Login"), "{text}");
    assert!(text.contains("email:alice@example.test"), "{text}");
    assert!(text.contains("URI:urn:uuid:01234567-89ab-cdef-0123-456789abcdef"), "{text}");
    assert!(
        text.contains("othername") && text.contains("alice@corp.example.test") || text.contains("UPN"),
        "{text}"
    );
    assert!(text.contains("CA:FALSE"), "{text}");
    // The UPN otherName, parsed back.
    let cert = piv::certificate::parse_certificate(&issued.der).unwrap();
    let (_, san) =
        cert.tbs_certificate.get::<x509_cert::ext::pkix::SubjectAltName>().unwrap().expect("a SAN");
    let upn = san.0.iter().find_map(|n| match n {
        x509_cert::ext::pkix::name::GeneralName::OtherName(o) => Some(o.clone()),
        _ => None,
    });
    let upn = upn.expect("a UPN otherName");
    assert_eq!(upn.type_id.to_string(), "1.3.6.1.4.1.311.20.2.3");
    assert_eq!(upn.value.decode_as::<String>().unwrap(), "alice@corp.example.test");
    // Identifiers: SKI of the key, AKI of the CA.
    let (_, ski) = cert.tbs_certificate.get::<x509_cert::ext::pkix::SubjectKeyIdentifier>().unwrap().unwrap();
    let ca_cert = piv::certificate::parse_certificate(ca.certificate_der()).unwrap();
    let (_, ca_ski) =
        ca_cert.tbs_certificate.get::<x509_cert::ext::pkix::SubjectKeyIdentifier>().unwrap().unwrap();
    let (_, aki) =
        cert.tbs_certificate.get::<x509_cert::ext::pkix::AuthorityKeyIdentifier>().unwrap().unwrap();
    assert_eq!(aki.key_identifier.unwrap(), ca_ski.0);
    assert_ne!(ski.0, ca_ski.0);
    // Validity: backdated 5 minutes, the template's days.
    assert_eq!(issued.not_before, now - time::Duration::minutes(5));
    assert_eq!(issued.not_after, now + time::Duration::days(365));

    assert!(!text.contains("CRL Distribution Points") && !text.contains("Authority Information Access"));

    // 9C: non-repudiation, no UPN, no UUID.
    let card = CardKey::new(KeyAlgorithm::EccP384);
    let issued = ca
        .issue(
            &card.request(Slot::DigitalSignature, &challenge, vec![ExtendedKeyUsage::EmailProtection]),
            None,
            now,
        )
        .unwrap();
    let text = text_of(&issued);
    assert!(text.contains("Digital Signature, Non Repudiation"), "{text}");
    assert!(text.contains("E-mail Protection"), "{text}");
    assert!(!text.contains("othername") && !text.contains("urn:uuid"), "{text}");

    // 9D: key agreement for ECC, key encipherment for RSA; no EKU extension when the template has none.
    let card = CardKey::new(KeyAlgorithm::EccP256);
    let text = text_of(&ca.issue(&card.request(Slot::KeyManagement, &challenge, vec![]), None, now).unwrap());
    assert!(text.contains("Digital Signature, Key Agreement"), "{text}");
    assert!(!text.contains("Extended Key Usage"), "{text}");
    let card = CardKey::new(KeyAlgorithm::Rsa2048);
    let text = text_of(&ca.issue(&card.request(Slot::KeyManagement, &challenge, vec![]), None, now).unwrap());
    assert!(text.contains("Digital Signature, Key Encipherment"), "{text}");

    // 9E: card authentication EKU by OID, UUID URI, no UPN.
    let card = CardKey::new(KeyAlgorithm::EccP256);
    let text = text_of(
        &ca.issue(
            &card.request(Slot::CardAuthentication, &challenge, vec![ExtendedKeyUsage::PivCardAuth]),
            None,
            now,
        )
        .unwrap(),
    );
    assert!(text.contains("2.16.840.1.101.3.6.8"), "{text}");
    assert!(text.contains("urn:uuid") && !text.contains("othername"), "{text}");

    // Validity never outlasts the CA.
    let mut long = card.request(Slot::CardAuthentication, &challenge, vec![]);
    long.spec.certificate.validity_days = 40 * 365;
    let issued = ca.issue(&long, None, now).unwrap();
    let ca_end =
        piv::CertificateSummary::from_der(piv::Slot::Authentication, ca.certificate_der()).unwrap().not_after;
    assert_eq!(issued.not_after.format(&time::format_description::well_known::Rfc3339).unwrap(), ca_end);
}

#[test]
fn bad_proofs_and_bad_templates_are_typed_refusals() {
    let dir = tempfile::tempdir().unwrap();
    let ca = CertificateAuthority::open_or_create(dir.path(), "Root", &kek(dir.path())).unwrap();
    let now = OffsetDateTime::now_utc();
    let card = CardKey::new(KeyAlgorithm::EccP256);
    let challenge = new_challenge();
    let good = card.request(Slot::PivAuthentication, &challenge, vec![]);
    ca.issue(&good, Some(&challenge), now).unwrap();

    // Signed by another key than the one to certify.
    let other = CardKey::new(KeyAlgorithm::EccP256);
    let mut forged = good.clone();
    forged.proof = other.request(Slot::PivAuthentication, &challenge, vec![]).proof;
    assert!(matches!(ca.issue(&forged, None, now), Err(Error::ProofOfPossession)));
    // Signed for another slot.
    let mut wrong_slot = good.clone();
    wrong_slot.proof = card.request(Slot::DigitalSignature, &challenge, vec![]).proof;
    assert!(matches!(ca.issue(&wrong_slot, None, now), Err(Error::ProofOfPossession)));
    // Signature altered, or over a raw challenge without the context.
    let mut altered = good.clone();
    let last = altered.proof.signature.len() - 1;
    altered.proof.signature[last] ^= 1;
    assert!(matches!(ca.issue(&altered, None, now), Err(Error::ProofOfPossession)));
    let mut raw = good.clone();
    raw.proof.signature = card.sign(&challenge);
    assert!(matches!(ca.issue(&raw, None, now), Err(Error::ProofOfPossession)));
    // Not the challenge the registry handed out (e.g. a replayed proof).
    assert!(matches!(ca.issue(&good, Some(&new_challenge()), now), Err(Error::ChallengeMismatch)));
    // Too short to be fresh.
    let short = card.request(Slot::PivAuthentication, &[1u8; 8], vec![]);
    assert!(matches!(ca.issue(&short, None, now), Err(Error::ChallengeTooShort(8))));
    // A key of another algorithm than the profile's.
    let mut wrong_alg = good.clone();
    wrong_alg.spec.algorithm = KeyAlgorithm::EccP384;
    assert!(matches!(ca.issue(&wrong_alg, None, now), Err(Error::KeyAlgorithm { .. })));
    // Garbage key.
    let mut garbage = good.clone();
    garbage.public_key_spki = vec![0x30, 0x03, 0x02, 0x01, 0x00];
    assert!(matches!(ca.issue(&garbage, None, now), Err(Error::BadPublicKey(_))));
    // A placeholder without a value; an OID that is not one; zero days.
    let mut no_value = good.clone();
    no_value.holder.employee_id = None;
    assert!(matches!(ca.issue(&no_value, None, now), Err(Error::Template(_))));
    let mut bad_oid = good.clone();
    bad_oid.spec.certificate.ekus = vec![ExtendedKeyUsage::Oid("not.an.oid".into())];
    assert!(matches!(ca.issue(&bad_oid, None, now), Err(Error::Template(_))));
    let mut zero = good.clone();
    zero.spec.certificate.validity_days = 0;
    assert!(matches!(ca.issue(&zero, None, now), Err(Error::Template(_))));
    // Nothing is issued by a CA past its end.
    let after_the_end = now + time::Duration::days(21 * 365);
    assert!(matches!(ca.issue(&good, None, after_the_end), Err(Error::Time(_))));
    let mut non_ascii_mail = good;
    non_ascii_mail.holder.email = Some("ålice@example.test".into());
    assert!(matches!(ca.issue(&non_ascii_mail, None, now), Err(Error::Template(_))));
}

#[test]
fn the_ca_key_is_sealed_under_the_kek_and_reopens_only_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let kek = kek(dir.path());
    let ca_dir = dir.path().join("ca");
    let ca = CertificateAuthority::open_or_create(&ca_dir, "Root", &kek).unwrap();
    assert_eq!(ca.algorithm(), CaAlgorithm::P384);
    let key_file = std::fs::read(ca_dir.join(KEY_FILE)).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(ca_dir.join(KEY_FILE)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let pkcs8 = ca_key_pkcs8(&ca);
    assert!(!key_file.windows(16).any(|w| pkcs8.windows(16).any(|p| p == w)));
    assert!(!String::from_utf8_lossy(&key_file)
        .to_lowercase()
        .contains(&hex::encode(&pkcs8[pkcs8.len() - 48..])));
    assert!(!String::from_utf8_lossy(&key_file).contains("PRIVATE KEY"));

    // Reopened: the same CA (same certificate, same key).
    let again = CertificateAuthority::open_or_create(&ca_dir, "Ignored", &kek).unwrap();
    assert_eq!(again.certificate_der(), ca.certificate_der());
    assert_eq!(ca_key_pkcs8(&again), pkcs8);
    assert_eq!(again.fingerprint(), ca.fingerprint());
    assert_eq!(ca.fingerprint().len(), 64);
    // Another KEK cannot open it.
    let other = FileKek::open_or_create(&dir.path().join("other-kek")).unwrap();
    assert!(matches!(CertificateAuthority::open(&ca_dir, &other), Err(Error::UnknownKek { .. })));
    // Until the key is moved to it (KEK rotation); then only the new KEK opens it.
    assert!(matches!(CertificateAuthority::rewrap_key(&ca_dir, &other, &kek), Err(Error::UnknownKek { .. })));
    CertificateAuthority::rewrap_key(&ca_dir, &kek, &other).unwrap();
    let rotated = CertificateAuthority::open(&ca_dir, &other).unwrap();
    assert_eq!(ca_key_pkcs8(&rotated), pkcs8);
    assert!(matches!(CertificateAuthority::open(&ca_dir, &kek), Err(Error::UnknownKek { .. })));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(ca_dir.join(KEY_FILE)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    CertificateAuthority::rewrap_key(&ca_dir, &other, &kek).unwrap();
    // A certificate that is not the key's is refused.
    let elsewhere = CertificateAuthority::open_or_create(&dir.path().join("ca2"), "Root", &kek).unwrap();
    std::fs::copy(elsewhere.certificate_path(), ca.certificate_path()).unwrap();
    assert!(matches!(CertificateAuthority::open(&ca_dir, &kek), Err(Error::BadCaFile { .. })));
    // A garbled key file too.
    std::fs::write(ca_dir.join(KEY_FILE), b"{not json").unwrap();
    assert!(matches!(CertificateAuthority::open(&ca_dir, &kek), Err(Error::BadCaFile { .. })));
}

#[test]
fn crls_verify_with_openssl_and_list_revoked_and_held_certificates_until_release() {
    let dir = tempfile::tempdir().unwrap();
    let ca = CertificateAuthority::open_or_create(dir.path(), "Root", &kek(dir.path())).unwrap();
    let now = OffsetDateTime::now_utc();
    let issue = |name: &str| {
        let card = CardKey::new(KeyAlgorithm::EccP256);
        let challenge = new_challenge();
        let issued = ca.issue(&card.request(Slot::PivAuthentication, &challenge, vec![]), None, now).unwrap();
        write_pem(dir.path(), name, &issued);
        issued
    };
    let valid = issue("valid.pem");
    let revoked = issue("revoked.pem");
    let held = issue("held.pem");
    let superseded = issue("superseded.pem");

    let since = now - time::Duration::minutes(1);
    let state_of = |c: &IssuedCertificate| {
        if c.serial == revoked.serial {
            domain::CertificateState::Revoked { reason: RevocationReason::KeyCompromise }
        } else if c.serial == held.serial {
            domain::CertificateState::OnHold
        } else if c.serial == superseded.serial {
            domain::CertificateState::Revoked { reason: RevocationReason::Unspecified }
        } else {
            domain::CertificateState::Valid
        }
    };
    let entries: Vec<RevokedEntry> = [&valid, &revoked, &held, &superseded]
        .iter()
        .filter_map(|c| RevokedEntry::for_state(&c.serial, state_of(c), since))
        .collect();
    assert_eq!(entries.len(), 3);
    // CRLs made a little in the past: OpenSSL refuses one whose thisUpdate is in the future.
    let first = now - time::Duration::seconds(30);
    let crl = ca.crl(&entries, first, first + time::Duration::days(1)).unwrap();
    std::fs::write(dir.path().join("crl.der"), &crl).unwrap();
    std::fs::write(dir.path().join("crl.pem"), crl_pem(&crl).unwrap()).unwrap();

    let ca_path = ca.certificate_path();
    let (ok, text) = openssl(
        &["crl", "-in", "crl.der", "-inform", "DER", "-CAfile", ca_path.to_str().unwrap(), "-noout"],
        dir.path(),
    );
    assert!(ok && text.contains("verify OK"), "{text}");
    let (ok, text) = openssl(&["crl", "-in", "crl.der", "-inform", "DER", "-noout", "-text"], dir.path());
    assert!(ok, "{text}");
    assert!(text.contains("Version 2") && text.contains("CRL Number"), "{text}");
    assert!(text.contains("Key Compromise") && text.contains("Certificate Hold"), "{text}");
    assert!(text.contains("X509v3 Authority Key Identifier"), "{text}");
    for serial in [&revoked.serial, &held.serial, &superseded.serial] {
        assert!(text.contains(serial.as_str()), "{serial} missing: {text}");
    }
    assert!(!text.contains(valid.serial.as_str()));

    assert!(verify(dir.path(), &ca, "valid.pem", Some("crl.pem")).0);
    for leaf in ["revoked.pem", "held.pem", "superseded.pem"] {
        let (ok, text) = verify(dir.path(), &ca, leaf, Some("crl.pem"));
        assert!(!ok && text.contains("certificate revoked"), "{leaf}: {text}");
    }

    // Released from hold: off the next CRL, valid again.
    let later = now - time::Duration::seconds(10);
    let entries: Vec<RevokedEntry> = entries.into_iter().filter(|e| e.serial != held.serial).collect();
    let crl = ca.crl(&entries, later, later + time::Duration::days(1)).unwrap();
    std::fs::write(dir.path().join("crl2.pem"), crl_pem(&crl).unwrap()).unwrap();
    assert!(verify(dir.path(), &ca, "held.pem", Some("crl2.pem")).0);
    assert!(!verify(dir.path(), &ca, "revoked.pem", Some("crl2.pem")).0);

    // An empty CRL is valid too; bad input is refused.
    let empty = ca.crl(&[], now, now + time::Duration::hours(1)).unwrap();
    std::fs::write(dir.path().join("empty.der"), &empty).unwrap();
    let (ok, text) = openssl(
        &["crl", "-in", "empty.der", "-inform", "DER", "-CAfile", ca_path.to_str().unwrap(), "-noout"],
        dir.path(),
    );
    assert!(ok && text.contains("verify OK"), "{text}");
    assert!(matches!(ca.crl(&[], now, now), Err(Error::Time(_))));
    let bad = RevokedEntry { serial: "xyz".into(), revoked_at: now, reason: CrlReason::Superseded };
    assert!(matches!(ca.crl(&[bad], now, now + time::Duration::hours(1)), Err(Error::BadSerial(_))));
}

#[test]
fn issued_certificates_become_domain_records() {
    let dir = tempfile::tempdir().unwrap();
    let ca = CertificateAuthority::open_or_create(dir.path(), "Root", &kek(dir.path())).unwrap();
    let card = CardKey::new(KeyAlgorithm::EccP256);
    let now = OffsetDateTime::now_utc();
    let issued =
        ca.issue(&card.request(Slot::PivAuthentication, &new_challenge(), vec![]), None, now).unwrap();
    let record = issued.record(
        domain::CertificateId::from_u128(1),
        domain::DeviceId::from_u128(2),
        domain::CertificateState::OnHold,
    );
    assert_eq!(record.serial, issued.serial);
    assert_eq!(record.state, domain::CertificateState::OnHold);
    let json = serde_json::to_string(&issued).unwrap();
    assert_eq!(serde_json::from_str::<IssuedCertificate>(&json).unwrap(), issued);
}

#[test]
fn publication_urls_are_written_into_issued_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let ca = CertificateAuthority::open_or_create(dir.path(), "Root", &kek(dir.path()))
        .unwrap()
        .with_crl_url("https://registry.example.test:8443/crl")
        .unwrap()
        .with_ca_issuers_url("http://registry.example.test/ca.crt")
        .unwrap()
        .with_ocsp_url("http://registry.example.test/ocsp")
        .unwrap();
    let card = CardKey::new(KeyAlgorithm::EccP256);
    let issued = ca
        .issue(
            &card.request(Slot::PivAuthentication, &new_challenge(), vec![]),
            None,
            OffsetDateTime::now_utc(),
        )
        .unwrap();
    write_pem(dir.path(), "leaf.pem", &issued);
    let (ok, text) = openssl(&["x509", "-in", "leaf.pem", "-noout", "-text"], dir.path());
    assert!(ok, "{text}");
    assert!(text.contains("X509v3 CRL Distribution Points"), "{text}");
    assert!(text.contains("URI:https://registry.example.test:8443/crl"), "{text}");
    assert!(text.contains("CA Issuers - URI:http://registry.example.test/ca.crt"), "{text}");
    assert!(text.contains("OCSP - URI:http://registry.example.test/ocsp"), "{text}");
    assert!(verify(dir.path(), &ca, "leaf.pem", None).0);
    for bad in ["ftp://x/crl", "https://a b/crl", "https://é.test/crl", ""] {
        let again = CertificateAuthority::open(dir.path(), &kek(dir.path())).unwrap();
        assert!(matches!(again.with_crl_url(bad), Err(Error::Template(_))), "{bad:?}");
        let again = CertificateAuthority::open(dir.path(), &kek(dir.path())).unwrap();
        assert!(matches!(again.with_ocsp_url(bad), Err(Error::Template(_))), "{bad:?}");
    }
}

#[test]
fn the_authority_and_the_escrow_can_be_shared_between_request_handlers() {
    fn shared<T: Send + Sync + 'static>() {}
    shared::<CertificateAuthority>();
    shared::<crate::Escrow>();
}

#[test]
fn every_certificate_state_of_the_domain_machine_maps_to_its_crl_entry() {
    use domain::machines::certificate::next_state;
    use domain::{CertificateCommand as C, CertificateState as S};
    let dir = tempfile::tempdir().unwrap();
    let ca = CertificateAuthority::open_or_create(dir.path(), "Root", &kek(dir.path())).unwrap();
    let at = OffsetDateTime::now_utc() - time::Duration::minutes(1);
    let held = next_state(S::Valid, C::Hold).unwrap();
    assert_eq!(RevokedEntry::for_state("0A", held, at).unwrap().reason, CrlReason::CertificateHold);
    let released = next_state(held, C::Release).unwrap();
    assert_eq!(RevokedEntry::for_state("0A", released, at), None);
    let reasons = [
        (RevocationReason::Unspecified, CrlReason::Unspecified, None),
        (RevocationReason::KeyCompromise, CrlReason::KeyCompromise, Some("Key Compromise")),
        (RevocationReason::AffiliationChanged, CrlReason::AffiliationChanged, Some("Affiliation Changed")),
        (RevocationReason::Superseded, CrlReason::Superseded, Some("Superseded")),
        (
            RevocationReason::CessationOfOperation,
            CrlReason::CessationOfOperation,
            Some("Cessation Of Operation"),
        ),
    ];
    let mut entries = Vec::new();
    for (i, (reason, crl_reason, _)) in reasons.iter().enumerate() {
        // Revoked from valid and from hold alike.
        for (j, from) in [S::Valid, S::OnHold].into_iter().enumerate() {
            let state = next_state(from, C::Revoke { reason: *reason }).unwrap();
            let serial = format!("{:02X}{:02X}", 0x10 + i, j + 1);
            let entry = RevokedEntry::for_state(&serial, state, at).unwrap();
            assert_eq!(entry.reason, *crl_reason);
            entries.push(entry);
        }
    }
    let crl = ca.crl(&entries, at, at + time::Duration::days(7)).unwrap();
    std::fs::write(dir.path().join("crl.der"), &crl).unwrap();
    let (ok, text) = openssl(&["crl", "-in", "crl.der", "-inform", "DER", "-noout", "-text"], dir.path());
    assert!(ok, "{text}");
    for (_, _, shown) in reasons {
        if let Some(shown) = shown {
            assert_eq!(text.matches(shown).count(), 2, "{shown}: {text}");
        }
    }
    // Unspecified is written without a reason code (RFC 5280 §5.3.1).
    assert_eq!(text.matches("CRL Reason Code").count(), 8, "{text}");
    assert_eq!(text.matches("Serial Number").count(), 10, "{text}");
}

mod hostile_input {
    use super::*;
    use proptest::prelude::*;
    use std::sync::OnceLock;

    fn fixture() -> &'static (tempfile::TempDir, CertificateAuthority, CertificateRequest) {
        static FIXTURE: OnceLock<(tempfile::TempDir, CertificateAuthority, CertificateRequest)> =
            OnceLock::new();
        FIXTURE.get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let ca = CertificateAuthority::open_or_create(dir.path(), "Root", &kek(dir.path())).unwrap();
            let card = CardKey::new(KeyAlgorithm::EccP256);
            let request = card.request(Slot::PivAuthentication, &[5u8; 32], vec![]);
            (dir, ca, request)
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        /// Garbage where the client supplies bytes never panics and never certifies.
        #[test]
        fn garbage_keys_and_proofs_are_refused(
            spki in proptest::collection::vec(any::<u8>(), 0..200),
            signature in proptest::collection::vec(any::<u8>(), 0..120),
            challenge in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let (_, ca, good) = fixture();
            let now = OffsetDateTime::now_utc();
            let mut request = good.clone();
            request.public_key_spki = spki;
            prop_assert!(ca.issue(&request, None, now).is_err());
            let mut request = good.clone();
            request.proof.signature = signature;
            prop_assert!(ca.issue(&request, None, now).is_err());
            let mut request = good.clone();
            request.proof.challenge = challenge;
            prop_assert!(ca.issue(&request, None, now).is_err());
        }

        /// Any holder values either give a certificate whose subject parses
        /// back or a typed refusal (no DN injection, no panic).
        #[test]
        fn any_holder_values_are_escaped_or_refused(name in "\\PC{0,40}", email in "\\PC{0,30}", upn in "\\PC{0,30}") {
            let (_, ca, good) = fixture();
            let mut request = good.clone();
            request.holder = Holder { name: name.clone(), email: Some(email), employee_id: Some("E".into()), upn: Some(upn) };
            match ca.issue(&request, None, OffsetDateTime::now_utc()) {
                Ok(issued) => {
                    let cert = piv::certificate::parse_certificate(&issued.der).unwrap();
                    // Exactly the three attributes of the pattern: nothing smuggled in.
                    prop_assert_eq!(cert.tbs_certificate.subject.0.len(), 3);
                }
                Err(e) => prop_assert!(matches!(e, Error::Template(_)), "{e}"),
            }
        }
    }
}
