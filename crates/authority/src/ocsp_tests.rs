//! OCSP responder tests: requests built with the x509-ocsp builder (as a
//! client would), answers parsed back and their signatures checked with the
//! CA certificate's key.

use crate::ca::{CertificateAuthority, CrlReason, Holder};
use crate::kek::FileKek;
use crate::ocsp::{OcspError, SerialStatus};
use crate::{CertificateRequest, ProofOfPossession};
use der::{Decode, Encode};
use domain::{CertificateTemplate, KeyAlgorithm, Slot, SlotSpec};
use std::collections::BTreeMap;
use time::OffsetDateTime;
use x509_cert::Certificate;
use x509_ocsp::ext::Nonce;
use x509_ocsp::{
    BasicOcspResponse, CertId, CertStatus, OcspRequest, OcspResponse, OcspResponseStatus, Request,
    ResponderId, TbsRequest,
};

struct Setup {
    _dir: tempfile::TempDir,
    ca: CertificateAuthority,
    ca_cert: Certificate,
}

fn setup(algorithm: crate::CaAlgorithm) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let kek = FileKek::open_or_create(&dir.path().join("kek")).unwrap();
    let ca = CertificateAuthority::open_or_create_with(&dir.path().join("ca"), "OCSP Root", algorithm, &kek)
        .unwrap();
    let ca_cert = Certificate::from_der(ca.certificate_der()).unwrap();
    Setup { _dir: dir, ca, ca_cert }
}

/// A P-256 certificate for slot 9A issued by `ca`.
fn issue(ca: &CertificateAuthority) -> Certificate {
    let key = p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng);
    let challenge = crate::new_challenge();
    let message = ProofOfPossession::message(piv::Slot::Authentication, &challenge);
    let signature: p256::ecdsa::DerSignature = signature::Signer::sign(&key, &message);
    let public = piv::PublicKey::P256(key.verifying_key().to_encoded_point(false).as_bytes().to_vec());
    let request = CertificateRequest {
        spec: SlotSpec {
            slot: Slot::PivAuthentication,
            algorithm: KeyAlgorithm::EccP256,
            certificate: CertificateTemplate { subject: "CN={name}".into(), validity_days: 30, ekus: vec![] },
        },
        holder: Holder { name: "Olive".into(), ..Holder::default() },
        card_uuid: None,
        public_key_spki: public.to_spki_der().unwrap(),
        proof: ProofOfPossession { challenge: challenge.clone(), signature: signature.as_bytes().to_vec() },
    };
    let issued = ca.issue(&request, Some(&challenge), OffsetDateTime::now_utc()).unwrap();
    Certificate::from_der(&issued.der).unwrap()
}

fn serial_hex(cert: &Certificate) -> String {
    hex::encode_upper(cert.tbs_certificate.serial_number.as_bytes())
}

fn request_der(ids: Vec<CertId>, nonce: Option<&[u8]>) -> Vec<u8> {
    let request_extensions = nonce.map(|n| {
        use x509_cert::ext::AsExtension;
        vec![Nonce::new(n.to_vec()).unwrap().to_extension(&Default::default(), &[]).unwrap()]
    });
    OcspRequest {
        tbs_request: TbsRequest {
            request_list: ids.into_iter().map(Request::new).collect(),
            request_extensions,
            ..TbsRequest::default()
        },
        optional_signature: None,
    }
    .to_der()
    .unwrap()
}

fn sha1_id(ca: &Certificate, cert: &Certificate) -> CertId {
    CertId::from_cert::<sha1::Sha1>(ca, cert).unwrap()
}

/// Parses a successful answer and checks its signature with the CA certificate's key.
fn basic(setup: &Setup, der: &[u8]) -> BasicOcspResponse {
    let response = OcspResponse::from_der(der).unwrap();
    assert_eq!(response.response_status, OcspResponseStatus::Successful);
    let bytes = response.response_bytes.unwrap();
    assert_eq!(bytes.response_type.to_string(), "1.3.6.1.5.5.7.48.1.1", "id-pkix-ocsp-basic");
    let basic = BasicOcspResponse::from_der(bytes.response.as_bytes()).unwrap();
    let tbs = basic.tbs_response_data.to_der().unwrap();
    let spki = &setup.ca_cert.tbs_certificate.subject_public_key_info;
    let point = spki.subject_public_key.raw_bytes();
    let sig = basic.signature.raw_bytes();
    match setup.ca.algorithm() {
        crate::CaAlgorithm::P384 => {
            use p384::ecdsa::signature::Verifier;
            assert_eq!(basic.signature_algorithm.oid.to_string(), "1.2.840.10045.4.3.3");
            let key = p384::ecdsa::VerifyingKey::from_sec1_bytes(point).unwrap();
            key.verify(&tbs, &p384::ecdsa::DerSignature::from_bytes(sig).unwrap()).unwrap();
        }
        crate::CaAlgorithm::P256 => {
            use p256::ecdsa::signature::Verifier;
            assert_eq!(basic.signature_algorithm.oid.to_string(), "1.2.840.10045.4.3.2");
            let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(point).unwrap();
            key.verify(&tbs, &p256::ecdsa::DerSignature::from_bytes(sig).unwrap()).unwrap();
        }
    }
    basic
}

type Statuses = BTreeMap<String, SerialStatus>;

fn lookup(statuses: &Statuses) -> impl Fn(&str) -> Result<SerialStatus, String> + '_ {
    move |serial: &str| Ok(statuses.get(serial).copied().unwrap_or(SerialStatus::Unknown))
}

#[test]
fn good_revoked_held_and_unknown_serials_are_answered_and_signed_by_the_ca() {
    for algorithm in [crate::CaAlgorithm::P384, crate::CaAlgorithm::P256] {
        let s = setup(algorithm);
        let (good, revoked, held, never) = (issue(&s.ca), issue(&s.ca), issue(&s.ca), issue(&s.ca));
        let since = OffsetDateTime::from_unix_timestamp(1_790_000_000).unwrap();
        let statuses: Statuses = [
            (serial_hex(&good), SerialStatus::Good),
            (serial_hex(&revoked), SerialStatus::Revoked { since, reason: CrlReason::KeyCompromise }),
            (serial_hex(&held), SerialStatus::for_state(domain::CertificateState::OnHold, since)),
        ]
        .into();
        let ids: Vec<CertId> =
            [&good, &revoked, &held, &never].iter().map(|c| sha1_id(&s.ca_cert, c)).collect();
        let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
        let next = now + time::Duration::hours(1);
        let der = s.ca.ocsp(&request_der(ids.clone(), None), now, next, &lookup(&statuses)).unwrap();
        let basic = basic(&s, &der);
        let data = &basic.tbs_response_data;
        // Named by the SHA-1 of its key (RFC 6960 §4.2.2.3), no certificates attached.
        let ResponderId::ByKey(hash) = &data.responder_id else { panic!("byName") };
        use sha1::Digest;
        let key = s.ca_cert.tbs_certificate.subject_public_key_info.subject_public_key.raw_bytes();
        assert_eq!(hash.as_bytes(), sha1::Sha1::digest(key).as_slice());
        assert!(basic.certs.is_none());
        assert_eq!(data.produced_at.0.to_unix_duration().as_secs() as i64, now.unix_timestamp());
        assert!(data.response_extensions.is_none(), "no nonce asked, none sent");
        assert_eq!(data.responses.len(), 4);
        for (single, id) in data.responses.iter().zip(&ids) {
            assert_eq!(&single.cert_id, id, "each answer names the CertID asked");
            assert_eq!(single.this_update.0.to_unix_duration().as_secs() as i64, now.unix_timestamp());
            let next_update = single.next_update.unwrap().0.to_unix_duration().as_secs() as i64;
            assert_eq!(next_update, next.unix_timestamp());
        }
        let status = |i: usize| data.responses[i].cert_status;
        assert_eq!(status(0), CertStatus::good());
        let CertStatus::Revoked(info) = status(1) else { panic!("{:?}", status(1)) };
        assert_eq!(info.revocation_reason, Some(x509_cert::ext::pkix::crl::CrlReason::KeyCompromise));
        assert_eq!(info.revocation_time.0.to_unix_duration().as_secs() as i64, since.unix_timestamp());
        let CertStatus::Revoked(info) = status(2) else { panic!("{:?}", status(2)) };
        assert_eq!(info.revocation_reason, Some(x509_cert::ext::pkix::crl::CrlReason::CertificateHold));
        assert_eq!(status(3), CertStatus::unknown(), "a serial the records do not know");
    }
}

#[test]
fn sha256_cert_ids_match_and_another_issuers_are_unknown() {
    let s = setup(crate::CaAlgorithm::P256);
    let other = setup(crate::CaAlgorithm::P256);
    let mine = issue(&s.ca);
    let theirs = issue(&other.ca);
    let statuses: Statuses =
        [(serial_hex(&mine), SerialStatus::Good), (serial_hex(&theirs), SerialStatus::Good)].into();
    let ids = vec![
        CertId::from_cert::<sha2::Sha256>(&s.ca_cert, &mine).unwrap(),
        // Another CA's certificate, even with a serial the records know.
        CertId::from_cert::<sha1::Sha1>(&other.ca_cert, &theirs).unwrap(),
        // This CA's name hash with another key's hash.
        CertId {
            issuer_key_hash: sha1_id(&other.ca_cert, &theirs).issuer_key_hash,
            ..sha1_id(&s.ca_cert, &mine)
        },
        // A hash algorithm the responder does not compute (SHA-384).
        CertId::from_cert::<sha2::Sha384>(&s.ca_cert, &mine).unwrap(),
    ];
    let now = OffsetDateTime::now_utc();
    let der =
        s.ca.ocsp(&request_der(ids, None), now, now + time::Duration::hours(1), &lookup(&statuses)).unwrap();
    let statuses: Vec<CertStatus> =
        basic(&s, &der).tbs_response_data.responses.iter().map(|r| r.cert_status).collect();
    assert_eq!(
        statuses,
        [CertStatus::good(), CertStatus::unknown(), CertStatus::unknown(), CertStatus::unknown()]
    );
}

#[test]
fn the_nonce_is_echoed() {
    let s = setup(crate::CaAlgorithm::P256);
    let cert = issue(&s.ca);
    let statuses: Statuses = [(serial_hex(&cert), SerialStatus::Good)].into();
    let nonce = [0x42u8; 16];
    let now = OffsetDateTime::now_utc();
    let request = request_der(vec![sha1_id(&s.ca_cert, &cert)], Some(&nonce));
    let der = s.ca.ocsp(&request, now, now + time::Duration::hours(1), &lookup(&statuses)).unwrap();
    let basic = basic(&s, &der);
    assert_eq!(basic.nonce().unwrap().0.as_bytes(), nonce);
    let request = OcspRequest::from_der(&request).unwrap();
    assert_eq!(
        basic.tbs_response_data.response_extensions.unwrap(),
        request.tbs_request.request_extensions.unwrap(),
        "byte for byte"
    );
    // An oversized nonce (RFC 8954: at most 32 octets) is refused.
    let request = request_der(vec![sha1_id(&s.ca_cert, &cert)], Some(&[1u8; 33]));
    let answer = s.ca.ocsp_answer(&request, now, now + time::Duration::hours(1), &lookup(&statuses));
    assert!(matches!(answer.error, Some(OcspError::Malformed(_))), "{answer:?}");
}

#[test]
fn malformed_requests_get_malformed_request_and_lookup_failures_try_later() {
    let s = setup(crate::CaAlgorithm::P256);
    let cert = issue(&s.ca);
    let now = OffsetDateTime::now_utc();
    let next = now + time::Duration::hours(1);
    let statuses = Statuses::new();
    let good_request = request_der(vec![sha1_id(&s.ca_cert, &cert)], None);
    let too_many = request_der(vec![sha1_id(&s.ca_cert, &cert); crate::ocsp::MAX_SINGLE_REQUESTS + 1], None);
    let malformed: Vec<Vec<u8>> = vec![
        vec![],
        b"GET / HTTP/1.1".to_vec(),
        vec![0x30, 0x80],
        vec![0x30, 0x03, 0x30, 0x01, 0x00],
        good_request[..good_request.len() - 1].to_vec(),
        [good_request.as_slice(), &[0]].concat(),
        request_der(vec![], None),
        too_many,
    ];
    for bad in &malformed {
        let answer = s.ca.ocsp_answer(bad, now, next, &lookup(&statuses));
        assert!(matches!(answer.error, Some(OcspError::Malformed(_))), "{bad:02x?}: {answer:?}");
        let response = OcspResponse::from_der(&answer.der).unwrap();
        assert_eq!(response.response_status, OcspResponseStatus::MalformedRequest);
        assert!(response.response_bytes.is_none(), "an error status is not signed");
    }
    // Random bytes never panic.
    for len in 0..200 {
        let mut bytes = vec![0u8; len];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
        let _ = s.ca.ocsp_answer(&bytes, now, next, &lookup(&statuses));
    }
    let broken = |_: &str| -> Result<SerialStatus, String> { Err("database down".into()) };
    let answer = s.ca.ocsp_answer(&good_request, now, next, &broken);
    assert!(matches!(answer.error, Some(OcspError::Lookup(_))), "{answer:?}");
    assert_eq!(OcspResponse::from_der(&answer.der).unwrap().response_status, OcspResponseStatus::TryLater);
}
