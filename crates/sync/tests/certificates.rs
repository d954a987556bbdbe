//! The registry's certificate authority through [`RegistryClient`], against
//! the real registry (SQLite) over pinned TLS on loopback: challenge,
//! issuance after proof of possession (exactly once per op_id), the CA
//! certificate and the CRL, and a refused proof.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use domain::*;
use p256::ecdsa::signature::Signer;
use p256::pkcs8::EncodePublicKey;
use proto::{
    ApproveRequest, CertificateChange, ChangeCertificate, CreatePerson, IssueCertificate, Login, Operation,
    OperationBatch, OperationKind, Password, RequestCard, SessionToken,
};
use registry::tls::TlsIdentity;
use registry::{admin, DeploymentSettings, Registry, SqliteStorage};
use sync::{Error, Fingerprint, RegistryClient};
use time::OffsetDateTime;
use uuid::Uuid;

const PASSWORD: &str = "correct horse battery staple";

fn settings() -> ProfileSettings {
    ProfileSettings {
        name: "Employee".into(),
        capabilities: CapabilityRequirement::Contact,
        slots: vec![SlotSpec {
            slot: Slot::PivAuthentication,
            algorithm: KeyAlgorithm::EccP256,
            certificate: CertificateTemplate {
                subject: "CN={name},O=Cardstation".into(),
                validity_days: 365,
                ekus: vec![ExtendedKeyUsage::ClientAuth, ExtendedKeyUsage::SmartCardLogon],
            },
        }],
        pin: PinPolicy { min_length: 6, max_length: 8, numeric: true, retries: 3 },
        puk: PukPolicy { length: 8, numeric: true, retries: 3 },
        management_key: ManagementKeyAlgorithm::Aes256,
        validate_issuance: false,
        card_end_state: CardEndState::Active,
        certificate_end_state: CertificateEndState::Valid,
        is_temporary: false,
        card_validity_days: 1825,
    }
}

async fn push(client: &RegistryClient, token: &SessionToken, op: OperationKind) -> proto::Answer {
    let operation = Operation {
        op_id: Uuid::now_v7(),
        actor: None,
        workstation: None,
        created_at: OffsetDateTime::now_utc(),
        op,
    };
    let batch = OperationBatch { operations: vec![operation] };
    client.push(token, &batch).await.unwrap().answers.remove(0)
}

fn issue(op_id: Uuid, device: DeviceId, key: &p256::ecdsa::SigningKey, challenge: &[u8]) -> IssueCertificate {
    let message = authority::ProofOfPossession::message(piv_slot(), challenge);
    let signature: p256::ecdsa::DerSignature = key.sign(&message);
    IssueCertificate {
        op_id,
        device,
        slot: Slot::PivAuthentication,
        public_key: hex::encode(key.verifying_key().to_public_key_der().unwrap().as_bytes()),
        challenge: hex::encode(challenge),
        signature: hex::encode(signature.as_bytes()),
        route: None,
    }
}

fn piv_slot() -> piv::Slot {
    piv::Slot::Authentication
}

fn openssl_crl_text(der: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crl.der");
    std::fs::write(&path, der).unwrap();
    let out = std::process::Command::new("openssl")
        .args(["crl", "-inform", "DER", "-noout", "-text", "-in", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_station_gets_a_certificate_the_ca_and_the_crl() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Arc::new(SqliteStorage::open(&dir.path().join("registry.sqlite3")).unwrap());
    let now = OffsetDateTime::now_utc();
    let deployment =
        DeploymentSettings { use_cases: UseCases::all(), approval_step: false, ..Default::default() };
    admin::init(&*storage, &deployment, "admin", PASSWORD, now).unwrap();
    let profile = ProfileId::new(Uuid::now_v7());
    admin::add_profile(&*storage, profile, settings(), now).unwrap();
    let kek = authority::FileKek::open_or_create(&dir.path().join("kek")).unwrap();
    let ca = authority::CertificateAuthority::open_or_create_with(
        &dir.path().join("ca"),
        "Sync Test CA",
        authority::CaAlgorithm::P256,
        &kek,
    )
    .unwrap();
    let (identity, _) = TlsIdentity::load_or_create(dir.path(), &[]).unwrap();
    let pin: Fingerprint = identity.fingerprint().parse().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let app = registry::app(Registry::new(storage).with_authority(Arc::new(ca)));
    tokio::spawn(registry::tls::serve_tls(
        listener,
        identity.server_config().unwrap(),
        app,
        std::future::pending(),
    ));

    let client = RegistryClient::new(&url, pin, Duration::from_secs(20)).unwrap();
    let login = Login {
        username: "admin".into(),
        password: Password::new(PASSWORD),
        workstation: None,
        workstation_key: None,
    };
    let token = client.login(&login).await.unwrap().token;

    // A cardholder and an approved card request.
    let person = PersonId::new(Uuid::now_v7());
    let create = OperationKind::CreatePerson(CreatePerson {
        id: person,
        given_name: "Grace".into(),
        family_name: "Hopper".into(),
        email: Some("grace@example.org".into()),
        employee_id: Some("E-1906".into()),
    });
    assert!(push(&client, &token, create).await.is_accepted());
    let (request, device) = (RequestId::new(Uuid::now_v7()), DeviceId::new(Uuid::now_v7()));
    let ask = OperationKind::RequestCard(RequestCard {
        request,
        device,
        person,
        profile,
        reason: None,
        notes: None,
        route: None,
    });
    assert!(push(&client, &token, ask).await.is_accepted());
    let approve =
        push(&client, &token, OperationKind::ApproveRequest(ApproveRequest { request, notes: None })).await;
    // Without Validate Issuance the request is approved at once.
    assert_eq!(approve.rejection_code(), Some("state_not_allowed"), "{approve:?}");

    let ca_pem = client.ca_certificate().await.unwrap();
    assert!(ca_pem.starts_with("-----BEGIN CERTIFICATE-----"), "{ca_pem}");

    // A refused proof: a 422 with a typed code, not retryable.
    let key = p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng);
    let challenge = client.challenge(&token).await.unwrap();
    let challenge_bytes = hex::decode(&challenge.challenge).unwrap();
    assert_eq!(challenge_bytes.len(), 32);
    assert!(challenge.expires_at > OffsetDateTime::now_utc());
    let mut forged = issue(Uuid::now_v7(), device, &key, &challenge_bytes);
    forged.signature = issue(Uuid::now_v7(), device, &key, &[9u8; 32]).signature;
    match client.issue_certificate(&token, &forged).await {
        Err(e @ Error::Status { status: 422, .. }) => {
            assert!(!e.is_retryable());
            let Error::Status { code, .. } = e else { unreachable!() };
            assert_eq!(code, "proof_of_possession");
        }
        other => panic!("a forged proof is refused: {other:?}"),
    }

    // Issued, and a retry of the same op_id gets the same certificate.
    let request_body = issue(Uuid::now_v7(), device, &key, &challenge_bytes);
    let issued = client.issue_certificate(&token, &request_body).await.unwrap();
    assert_eq!(issued.certificate.state, CertificateState::OnHold, "held until the card is recorded");
    assert_eq!(issued.certificate.subject, "CN=Grace Hopper,O=Cardstation");
    let again = client.issue_certificate(&token, &request_body).await.unwrap();
    assert_eq!(again, issued, "exactly once per op_id");
    assert!(!hex::decode(&issued.der).unwrap().is_empty());

    // The CRL lists it as held while pending; revoked once revoked.
    let crl = openssl_crl_text(&client.crl().await.unwrap());
    assert!(
        crl.contains(&format!("Serial Number: {}", issued.serial)) && crl.contains("Certificate Hold"),
        "{crl}"
    );
    let revoke = OperationKind::ChangeCertificate(ChangeCertificate {
        certificate: issued.certificate.id,
        change: CertificateChange::Revoke { reason: RevocationReason::KeyCompromise },
        notes: Some("card lost before it was written".into()),
    });
    assert!(push(&client, &token, revoke).await.is_accepted());
    let crl = openssl_crl_text(&client.crl().await.unwrap());
    assert!(
        crl.contains(&format!("Serial Number: {}", issued.serial)) && crl.contains("Key Compromise"),
        "{crl}"
    );

    // Unknown sessions are refused.
    let stranger = SessionToken::new("00".repeat(32));
    assert!(matches!(client.challenge(&stranger).await, Err(Error::Unauthorized(_))));
}
