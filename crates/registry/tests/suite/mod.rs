//! The registry's behaviour, through `app(registry)` with `oneshot` (no
//! socket), generic over the storage: each test takes a factory, so the same
//! suite runs on SQLite (`tests/sqlite.rs`) and on PostgreSQL.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use axum::Router;
use domain::{
    DeviceId, GlobalPermission, PersonId, ProfileId, ProfilePermission, ProfileScope, ProfileSettings,
    RequestId, Role, RoleId, Slot, UseCases,
};
use http_body_util::BodyExt;
use proto::{Answer, EscrowKind, Operation, OperationKind};
use registry::{admin, DeploymentSettings, EscrowSeal, Registry, Storage};
use serde_json::{json, Value};
use time::OffsetDateTime;
use tower::ServiceExt;
use uuid::Uuid;

mod provisioning;
// Used by the storages' test files; the other files that share the suite do not.
#[allow(unused_imports)]
pub use provisioning::{
    provisioning_codes_lock_and_complete, provisioning_create_list_and_details,
    provisioning_edit_remove_and_resend, provisioning_expiry_by_clock,
    provisioning_mail_goes_out_once_from_two_instances, provisioning_mail_outbox,
    provisioning_mail_reaches_the_mailbox, provisioning_mailbox_for_administrators,
    provisioning_permission_matrix, provisioning_self_enrollment_policy,
    provisioning_walkup_card_is_the_cardholders_own, walkup_update_proved_by_the_card,
};

/// Builds one operation kind of the permission matrix.
type MakeOp = Box<dyn Fn() -> OperationKind>;

/// Makes a fresh, empty storage.
pub type Factory = fn() -> Arc<dyn Storage>;

/// The roles of the permission matrix.
pub const ROLES: [&str; 7] = ["nobody", "requester", "approver", "issuer", "retirer", "auditor", "admin"];

/// A test double for the escrow seal: binds the device and kind and XORs
/// with a fixed pad. Not encryption; the real seal is crate `authority`'s.
pub struct TestSeal;

impl EscrowSeal for TestSeal {
    fn seal(&self, device: DeviceId, kind: EscrowKind, secret: &[u8]) -> registry::Result<Vec<u8>> {
        let mut out = format!("{device}/{}:", kind.name()).into_bytes();
        out.extend(secret.iter().map(|b| b ^ 0x5a));
        Ok(out)
    }

    fn open(
        &self,
        device: DeviceId,
        kind: EscrowKind,
        sealed: &[u8],
    ) -> registry::Result<zeroize::Zeroizing<Vec<u8>>> {
        let prefix = format!("{device}/{}:", kind.name()).into_bytes();
        let body = sealed
            .strip_prefix(prefix.as_slice())
            .ok_or_else(|| registry::Error::Escrow("sealed for another device or kind".into()))?;
        Ok(zeroize::Zeroizing::new(body.iter().map(|b| b ^ 0x5a).collect()))
    }

    fn seal_message(&self, id: Uuid, body: &[u8]) -> registry::Result<Vec<u8>> {
        self.seal(DeviceId::new(id), EscrowKind::Puk, body)
    }

    fn open_message(&self, id: Uuid, sealed: &[u8]) -> registry::Result<zeroize::Zeroizing<Vec<u8>>> {
        self.open(DeviceId::new(id), EscrowKind::Puk, sealed)
    }

    fn code_mac(&self, message: &[u8]) -> registry::Result<[u8; 32]> {
        use sha2::Digest;
        Ok(sha2::Sha256::new_with_prefix(b"test seal code mac\0").chain_update(message).finalize().into())
    }
}

/// A certificate authority in a fresh directory (P-256: quick to create).
pub fn test_authority() -> authority::CertificateAuthority {
    let dir = tempfile::tempdir().unwrap().keep();
    let kek = authority::FileKek::open_or_create(&dir.join("kek")).unwrap();
    authority::CertificateAuthority::open_or_create_with(
        &dir.join("ca"),
        "Suite CA",
        authority::CaAlgorithm::P256,
        &kek,
    )
    .unwrap()
}

/// A registry with one operator per role, a credential profile that needs
/// approval, and a cardholder.
pub struct Fixture {
    pub registry: Registry,
    pub app: Router,
    pub tokens: BTreeMap<&'static str, String>,
    pub people: BTreeMap<&'static str, PersonId>,
    pub profile: ProfileId,
    pub cardholder: PersonId,
    /// The registry's audit key and checkpoints (its data directory's).
    pub anchor: Arc<registry::AuditAnchor>,
}

pub fn settings(name: &str, validate_issuance: bool) -> ProfileSettings {
    ProfileSettings::contact_p256(name, validate_issuance)
}

fn role_for(name: &str) -> Option<Role> {
    let id = RoleId::new(Uuid::now_v7());
    let role = Role::new(id, name);
    Some(match name {
        "nobody" => return None,
        "requester" => role.with_profile_permission(ProfilePermission::CanRequest, ProfileScope::All),
        "approver" => role.with_profile_permission(ProfilePermission::CanApprove, ProfileScope::All),
        "issuer" => role.with_profile_permission(ProfilePermission::CanCollect, ProfileScope::All),
        "retirer" => role.with_global(GlobalPermission::CancelRevoke).with_global(GlobalPermission::Erase),
        "auditor" => role.with_global(GlobalPermission::ViewAudit),
        "admin" => return None,
        _ => unreachable!("unknown role {name}"),
    })
}

pub fn password(role: &str) -> String {
    format!("{role}-password-1234")
}

impl Fixture {
    pub async fn new(factory: Factory) -> Self {
        let storage = factory();
        let now = OffsetDateTime::now_utc();
        // Sealed before the first event, as `init` does.
        let data = tempfile::tempdir().unwrap().keep();
        let kek = authority::FileKek::open_or_create(&data.join("kek")).unwrap();
        let anchor = Arc::new(registry::AuditAnchor::open_or_create(&data, &kek, &*storage).unwrap());
        let deployment =
            DeploymentSettings { use_cases: UseCases::all(), approval_step: false, ..Default::default() };
        admin::init(&*storage, &deployment, "admin", &password("admin"), now).unwrap();
        let mut people = BTreeMap::new();
        for name in ROLES {
            if let Some(role) = role_for(name) {
                admin::add_role(&*storage, &role, now).unwrap();
            }
            if name != "admin" {
                let roles = if name == "nobody" { vec![] } else { vec![name.to_owned()] };
                let new = admin::NewOperator {
                    username: name.into(),
                    given_name: "Op".into(),
                    family_name: name.into(),
                    email: None,
                    roles,
                };
                let (_, person) = admin::add_operator(&*storage, &new, &password(name), now).unwrap();
                people.insert(name, person);
            }
        }
        let profile = ProfileId::new(Uuid::now_v7());
        admin::add_profile(&*storage, profile, settings("Employee", true), now).unwrap();
        let registry = Registry::new(storage)
            .with_escrow(Arc::new(TestSeal))
            .with_authority(Arc::new(test_authority()))
            .with_audit_anchor(anchor.clone());
        let app = registry::app(registry.clone());
        let mut fixture = Fixture {
            registry,
            app,
            tokens: BTreeMap::new(),
            people,
            profile,
            cardholder: PersonId::new(Uuid::now_v7()),
            anchor,
        };
        for name in ROLES {
            let (status, body) = fixture
                .call(
                    Method::POST,
                    "/v1/sessions",
                    None,
                    Some(json!({"username": name, "password": password(name)})),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{name} signs in: {body}");
            fixture.tokens.insert(name, body["token"].as_str().unwrap().to_owned());
            if name == "admin" {
                fixture.people.insert("admin", serde_json::from_value(body["person"].clone()).unwrap());
            }
        }
        let cardholder = fixture.cardholder;
        let answer = fixture
            .op(
                "admin",
                OperationKind::CreatePerson(proto::CreatePerson {
                    id: cardholder,
                    given_name: "Carla".into(),
                    family_name: "Holder".into(),
                    email: Some("carla@example.org".into()),
                    employee_id: Some("E-1".into()),
                }),
            )
            .await;
        assert!(answer.is_accepted(), "the cardholder is created: {answer:?}");
        fixture
    }

    pub fn token(&self, role: &str) -> &str {
        &self.tokens[role]
    }

    pub async fn call(
        &self,
        method: Method,
        uri: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = Request::builder().method(method).uri(uri);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let body = match body {
            Some(value) => {
                request = request.header("content-type", "application/json");
                Body::from(serde_json::to_vec(&value).unwrap())
            }
            None => Body::empty(),
        };
        self.send(request.body(body).unwrap()).await
    }

    pub async fn send(&self, request: Request<Body>) -> (StatusCode, Value) {
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        (status, value)
    }

    /// Sends operations as `role`; returns the answers.
    pub async fn ops(&self, role: &str, ops: Vec<Operation>) -> Vec<Answer> {
        let body = serde_json::to_value(proto::OperationBatch { operations: ops }).unwrap();
        let (status, value) =
            self.call(Method::POST, "/v1/operations", Some(self.token(role)), Some(body)).await;
        assert_eq!(status, StatusCode::OK, "operations answered: {value}");
        serde_json::from_value::<proto::AnswerBatch>(value).unwrap().answers
    }

    pub async fn op(&self, role: &str, kind: OperationKind) -> Answer {
        self.ops(role, vec![operation(kind)]).await.remove(0)
    }

    /// Requests a card for the cardholder as the requester; returns (request, device).
    pub async fn request_card(&self) -> (RequestId, DeviceId) {
        let request = RequestId::new(Uuid::now_v7());
        let device = DeviceId::new(Uuid::now_v7());
        let answer = self
            .op(
                "requester",
                OperationKind::RequestCard(proto::RequestCard {
                    request,
                    device,
                    person: self.cardholder,
                    profile: self.profile,
                    reason: None,
                    notes: Some("new starter".into()),
                    route: None,
                }),
            )
            .await;
        assert!(answer.is_accepted(), "the requester may request: {answer:?}");
        (request, device)
    }

    /// Requests, approves and issues a card; returns the device.
    pub async fn issued_card(&self) -> DeviceId {
        let (request, device) = self.request_card().await;
        let answer = self
            .op("approver", OperationKind::ApproveRequest(proto::ApproveRequest { request, notes: None }))
            .await;
        assert!(answer.is_accepted(), "{answer:?}");
        let answer = self.op("issuer", issuance(device, Some(request))).await;
        assert!(answer.is_accepted(), "{answer:?}");
        device
    }

    /// A card issued by "issuer" in one job that escrowed its management key
    /// and PUK (as the station's issue job does) before recording the issuance.
    pub async fn escrowed_card(&self, key: &str, puk: &str) -> DeviceId {
        let (request, device) = self.approved_card().await;
        for (kind, secret) in [(EscrowKind::ManagementKey, key), (EscrowKind::Puk, puk)] {
            let stored = self
                .op(
                    "issuer",
                    OperationKind::StoreEscrow(proto::StoreEscrow {
                        device,
                        secret_kind: kind,
                        secret: proto::EscrowSecret::new(secret),
                    }),
                )
                .await;
            assert!(stored.is_accepted(), "{stored:?}");
        }
        let answer = self.op("issuer", issuance(device, Some(request))).await;
        assert!(answer.is_accepted(), "{answer:?}");
        device
    }

    pub fn dump(&self) -> String {
        self.registry.storage().dump().unwrap()
    }

    /// Requests and approves a card; returns (request, device).
    pub async fn approved_card(&self) -> (RequestId, DeviceId) {
        let (request, device) = self.request_card().await;
        let answer = self
            .op("approver", OperationKind::ApproveRequest(proto::ApproveRequest { request, notes: None }))
            .await;
        assert!(answer.is_accepted(), "{answer:?}");
        (request, device)
    }

    /// A challenge handed to `role`.
    pub async fn challenge(&self, role: &str) -> Vec<u8> {
        let (status, body) =
            self.call(Method::POST, "/v1/certificates/challenges", Some(self.token(role)), None).await;
        assert_eq!(status, StatusCode::CREATED, "{role} gets a challenge: {body}");
        hex::decode(body["challenge"].as_str().unwrap()).unwrap()
    }

    /// `POST /v1/certificates` as `role`.
    pub async fn issue(&self, role: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, "/v1/certificates", Some(self.token(role)), Some(body)).await
    }

    /// Issues a certificate for `device` as the issuer; returns the answer body.
    pub async fn issued_certificate(&self, device: DeviceId) -> Value {
        let key = card_key();
        let challenge = self.challenge("issuer").await;
        let (status, body) =
            self.issue("issuer", issue_body(Uuid::now_v7(), device, &key, &challenge, &challenge)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    /// GET a public binary endpoint: (status, content type, bytes).
    pub async fn get_bytes(&self, uri: &str) -> (StatusCode, String, Vec<u8>) {
        let request = Request::builder().uri(uri).body(Body::empty()).unwrap();
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (status, content_type, response.into_body().collect().await.unwrap().to_bytes().to_vec())
    }

    /// The CRL's text as `openssl crl -text` prints it.
    pub async fn crl_text(&self) -> String {
        let (status, content_type, der) = self.get_bytes("/v1/crl").await;
        assert_eq!((status, content_type.as_str()), (StatusCode::OK, "application/pkix-crl"));
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("crl.der"), der).unwrap();
        openssl(&[
            "crl",
            "-inform",
            "DER",
            "-in",
            dir.path().join("crl.der").to_str().unwrap(),
            "-noout",
            "-text",
        ])
        .1
    }
}

/// A card key: a P-256 key, as a PIV card generates in slot 9A.
pub fn card_key() -> p256::ecdsa::SigningKey {
    p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng)
}

/// The card's signature over `challenge` for slot 9A, as `authority::verify_proof` expects.
pub fn proof(key: &p256::ecdsa::SigningKey, challenge: &[u8]) -> Vec<u8> {
    use p256::ecdsa::signature::Signer;
    let message = authority::ProofOfPossession::message(piv::Slot::Authentication, challenge);
    let signature: p256::ecdsa::DerSignature = key.sign(&message);
    signature.as_bytes().to_vec()
}

/// An issuance body for slot 9A: `signed` is what the card signed, `sent` the challenge named.
pub fn issue_body(
    op_id: Uuid,
    device: DeviceId,
    key: &p256::ecdsa::SigningKey,
    signed: &[u8],
    sent: &[u8],
) -> Value {
    use p256::pkcs8::EncodePublicKey;
    json!({
        "op_id": op_id,
        "device": device,
        "slot": "piv_authentication",
        "public_key": hex::encode(key.verifying_key().to_public_key_der().unwrap().as_bytes()),
        "challenge": hex::encode(sent),
        "signature": hex::encode(proof(key, signed)),
    })
}

/// Runs openssl; returns (success, stdout + stderr).
pub fn openssl(args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new("openssl").args(args).output().expect("openssl runs");
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// The serial as openssl prints it in a CRL (upper-case hex, no separators).
fn crl_lists(crl_text: &str, serial: &str) -> bool {
    crl_text.lines().any(|l| l.trim() == format!("Serial Number: {serial}"))
}

/// The rows of one table in a dump.
pub fn table_rows(dump: &str, table: &str) -> usize {
    let mut rows = 0;
    let mut inside = false;
    for line in dump.lines() {
        if let Some(name) = line.strip_prefix("## ") {
            inside = name == table;
        } else if inside {
            rows += 1;
        }
    }
    rows
}

/// RecordIssuance naming a certificate the registry issued.
pub fn issuance_of(device: DeviceId, request: Option<RequestId>, issued: &Value) -> OperationKind {
    let certificate: domain::Certificate = serde_json::from_value(issued["certificate"].clone()).unwrap();
    let OperationKind::RecordIssuance(mut record) = issuance(device, request) else { unreachable!() };
    record.certificates = vec![proto::IssuedCertificate {
        id: certificate.id,
        serial: certificate.serial,
        slot: certificate.slot,
        subject: certificate.subject,
        not_before: certificate.not_before,
        not_after: certificate.not_after,
    }];
    OperationKind::RecordIssuance(record)
}

pub fn operation(kind: OperationKind) -> Operation {
    Operation {
        op_id: Uuid::now_v7(),
        actor: None,
        workstation: None,
        created_at: OffsetDateTime::now_utc(),
        op: kind,
    }
}

pub fn issuance(device: DeviceId, request: Option<RequestId>) -> OperationKind {
    let now = OffsetDateTime::now_utc();
    OperationKind::RecordIssuance(proto::RecordIssuance {
        device,
        request,
        route: domain::IssueRoute::Single,
        card: proto::CardFacts {
            serial: Some("SN-1".into()),
            atr: Some("3b8c80".into()),
            contact: true,
            contactless: false,
        },
        expires_at: Some(now + time::Duration::days(1825)),
        certificates: vec![proto::IssuedCertificate {
            id: domain::CertificateId::new(Uuid::now_v7()),
            serial: format!("{:x}", Uuid::now_v7().as_u128()),
            slot: Slot::PivAuthentication,
            subject: "CN=Carla Holder".into(),
            not_before: now,
            not_after: now + time::Duration::days(365),
        }],
        card_end_state: None,
        certificate_end_state: None,
    })
}

/// The dump without the tables a refused operation legitimately writes
/// (its recorded answer and its audit event).
pub fn records_only(dump: &str) -> String {
    let mut out = String::new();
    let mut keep = true;
    for line in dump.lines() {
        if let Some(table) = line.strip_prefix("## ") {
            keep = !matches!(table, "applied_ops" | "audit");
        }
        if keep {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

fn record<'a>(answer: &'a Answer, kind: &str) -> Vec<&'a proto::Record> {
    match answer {
        Answer::Accepted { result, .. } => result.records.iter().filter(|r| r.type_name() == kind).collect(),
        Answer::Rejected { .. } => vec![],
    }
}

fn device_state(answer: &Answer) -> String {
    match record(answer, "device").first() {
        Some(proto::Record::Device(d)) => d.state.name().to_owned(),
        other => panic!("no device in {other:?}"),
    }
}

// ---------------------------------------------------------------- tests

pub async fn health_and_openapi(factory: Factory) {
    let f = Fixture::new(factory).await;
    let (status, body) = f.call(Method::GET, "/v1/health", None, None).await;
    assert_eq!((status, body["status"].as_str()), (StatusCode::OK, Some("ok")));
    let (status, doc) = f.call(Method::GET, "/v1/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    for path in [
        "/v1/sessions",
        "/v1/operations",
        "/v1/changes",
        "/v1/audit",
        "/v1/audit/verify",
        "/v1/health",
        "/v1/certificates/challenges",
        "/v1/certificates",
        "/v1/crl",
        "/v1/ca",
        "/crl",
        "/ca.crt",
        "/ocsp",
        "/ocsp/{request}",
    ] {
        assert!(doc["paths"][path].is_object(), "the OpenAPI document describes {path}");
    }
    assert!(doc["components"]["schemas"]["OperationKind"].is_object(), "operation kinds are documented");
    for schema in ["IssueCertificate", "CertificateIssued", "CertificateChallenge", "ChangeCertificate"] {
        assert!(doc["components"]["schemas"][schema].is_object(), "{schema} is documented");
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}

pub async fn sign_in_and_out(factory: Factory) {
    let f = Fixture::new(factory).await;
    let before = f.dump();
    let (status, body) = f
        .call(Method::POST, "/v1/sessions", None, Some(json!({"username": "issuer", "password": "wrong"})))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["code"], "unauthenticated");
    let (status, _) =
        f.call(Method::POST, "/v1/sessions", None, Some(json!({"username": "ghost", "password": "x"}))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "an unknown name is refused like a wrong password");
    assert_eq!(records_only(&before), records_only(&f.dump()), "failed sign-ins create no session");

    let (status, body) = f
        .call(
            Method::POST,
            "/v1/sessions",
            None,
            Some(json!({"username": "issuer", "password": password("issuer")})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let token = body["token"].as_str().unwrap().to_owned();
    assert_eq!(token.len(), 64);
    assert!(body["permissions"].is_object());
    let (status, _) = f.call(Method::GET, "/v1/changes", Some(&token), None).await;
    assert_eq!(status, StatusCode::OK, "the new session works");
    let (status, _) = f.call(Method::DELETE, "/v1/sessions", Some(&token), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = f.call(Method::GET, "/v1/changes", Some(&token), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a signed-out token stops working: {body}");
}

pub async fn sessions_expire(factory: Factory) {
    let f = Fixture::new(factory).await;
    let clock_offset = Arc::new(std::sync::atomic::AtomicI64::new(0));
    let offset = clock_offset.clone();
    let registry = f.registry.clone().with_clock(registry::Clock::from_fn(move || {
        OffsetDateTime::now_utc() + time::Duration::seconds(offset.load(std::sync::atomic::Ordering::SeqCst))
    }));
    let app = registry::app(registry);
    let request = |token: &str| {
        Request::builder()
            .uri("/v1/changes")
            .header("authorization", format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap()
    };
    let ok = app.clone().oneshot(request(f.token("issuer"))).await.unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    clock_offset.store(13 * 3600, std::sync::atomic::Ordering::SeqCst);
    let expired = app.oneshot(request(f.token("issuer"))).await.unwrap();
    assert_eq!(expired.status(), StatusCode::UNAUTHORIZED, "a 12-hour session is over after 13 hours");
}

pub async fn card_lifecycle_through_operations(factory: Factory) {
    let f = Fixture::new(factory).await;
    let (request, device) = f.request_card().await;

    // The requester cannot approve (no Can Approve), the approver can.
    let refused = f
        .op("requester", OperationKind::ApproveRequest(proto::ApproveRequest { request, notes: None }))
        .await;
    assert_eq!(refused.rejection_code(), Some("not_permitted"), "{refused:?}");
    let approved = f
        .op(
            "approver",
            OperationKind::ApproveRequest(proto::ApproveRequest { request, notes: Some("ok".into()) }),
        )
        .await;
    assert!(approved.is_accepted(), "{approved:?}");
    assert_eq!(device_state(&approved), "approved", "the card follows its request");

    // Issuing needs Can Collect.
    let refused = f.op("approver", issuance(device, Some(request))).await;
    assert_eq!(refused.rejection_code(), Some("not_permitted"));
    let issued = f.op("issuer", issuance(device, Some(request))).await;
    assert!(issued.is_accepted(), "{issued:?}");
    assert_eq!(device_state(&issued), "active", "the profile's card end state");
    assert_eq!(record(&issued, "certificate").len(), 1);

    // Deactivate: certificates go on hold.
    let change = |change| OperationKind::ChangeDevice(proto::ChangeDevice { device, change, notes: None });
    let refused = f.op("issuer", change(proto::DeviceChange::Deactivate)).await;
    assert_eq!(refused.rejection_code(), Some("not_permitted"));
    let deactivated = f.op("retirer", change(proto::DeviceChange::Deactivate)).await;
    assert_eq!(device_state(&deactivated), "inactive");
    match record(&deactivated, "certificate").first() {
        Some(proto::Record::Certificate(c)) => assert_eq!(c.state.name(), "on_hold"),
        other => panic!("the certificate follows the card: {other:?}"),
    }
    let cancelled =
        f.op("retirer", change(proto::DeviceChange::Cancel { reason: domain::CancelReason::Stolen })).await;
    assert_eq!(device_state(&cancelled), "locked");
    match record(&cancelled, "certificate").first() {
        Some(proto::Record::Certificate(c)) => assert_eq!(c.state.name(), "revoked"),
        other => panic!("{other:?}"),
    }
    let again = f.op("retirer", change(proto::DeviceChange::Reactivate)).await;
    assert_eq!(again.rejection_code(), Some("state_not_allowed"), "a locked card stays locked");

    // The feed carries every record, in order, paged.
    let (status, page) = f.call(Method::GET, "/v1/changes?limit=1000", Some(f.token("issuer")), None).await;
    assert_eq!(status, StatusCode::OK);
    let changes = page["changes"].as_array().unwrap();
    let seqs: Vec<u64> = changes.iter().map(|c| c["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "strictly increasing: {seqs:?}");
    let device_states: Vec<&str> = changes
        .iter()
        .filter(|c| c["record"]["type"] == "device")
        .map(|c| c["record"]["record"]["state"].as_str().unwrap())
        .collect();
    assert_eq!(device_states, ["requested", "approved", "active", "inactive", "locked"]);
    let mut cursor = String::from("0");
    let mut paged = Vec::new();
    loop {
        let (status, page) = f
            .call(Method::GET, &format!("/v1/changes?since={cursor}&limit=2"), Some(f.token("auditor")), None)
            .await;
        assert_eq!(status, StatusCode::OK);
        paged.extend(page["changes"].as_array().unwrap().iter().map(|c| c["seq"].as_u64().unwrap()));
        cursor = page["next_cursor"].as_str().unwrap().to_owned();
        if !page["more"].as_bool().unwrap() {
            break;
        }
    }
    assert_eq!(paged, seqs, "pages of 2 give the same feed");
}

pub async fn exactly_once(factory: Factory) {
    let f = Fixture::new(factory).await;
    let (request, _) = f.request_card().await;
    let op = operation(OperationKind::ApproveRequest(proto::ApproveRequest { request, notes: None }));
    let first = f.ops("approver", vec![op.clone()]).await;
    let after_first = f.dump();
    let second = f.ops("approver", vec![op.clone(), op.clone()]).await;
    assert!(first[0].is_accepted());
    assert_eq!(second, vec![first[0].clone(), first[0].clone()], "a replay gets the first answer");
    assert_eq!(after_first, f.dump(), "a replay changes nothing at all");

    // A refusal is replayed too, even once it would now be accepted.
    let (request2, _) = f.request_card().await;
    let refused_op =
        operation(OperationKind::ApproveRequest(proto::ApproveRequest { request: request2, notes: None }));
    let refused = f.ops("issuer", vec![refused_op.clone()]).await;
    assert_eq!(refused[0].rejection_code(), Some("not_permitted"));
    let replay = f.ops("issuer", vec![refused_op.clone()]).await;
    assert_eq!(replay, refused);
    // Another operator cannot reuse the id.
    let stolen = f.ops("approver", vec![refused_op]).await;
    assert_eq!(stolen[0].rejection_code(), Some("duplicate_op_id"));
    // An operation naming another actor is refused.
    let mut foreign =
        operation(OperationKind::ApproveRequest(proto::ApproveRequest { request: request2, notes: None }));
    foreign.actor = Some(domain::OperatorId::new(Uuid::now_v7()));
    assert_eq!(f.ops("approver", vec![foreign]).await[0].rejection_code(), Some("actor_mismatch"));
}

pub async fn concurrent_approvals_one_wins(factory: Factory) {
    let f = Fixture::new(factory).await;
    for _ in 0..5 {
        let (request, _) = f.request_card().await;
        let a = f.ops(
            "approver",
            vec![operation(OperationKind::ApproveRequest(proto::ApproveRequest { request, notes: None }))],
        );
        let b = f.ops(
            "admin",
            vec![operation(OperationKind::RejectRequest(proto::RejectRequest { request, notes: None }))],
        );
        let (a, b) = tokio::join!(a, b);
        let answers = [a[0].clone(), b[0].clone()];
        let accepted = answers.iter().filter(|a| a.is_accepted()).count();
        assert_eq!(accepted, 1, "exactly one decision wins: {answers:?}");
        let loser = answers.iter().find(|a| !a.is_accepted()).unwrap();
        assert_eq!(loser.rejection_code(), Some("state_not_allowed"), "the other sees why: {loser:?}");
    }
    // Two approvals of the same request from separate sessions, at once.
    let (request, _) = f.request_card().await;
    let (status, body) = f
        .call(
            Method::POST,
            "/v1/sessions",
            None,
            Some(json!({"username": "approver", "password": password("approver")})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let second_token = body["token"].as_str().unwrap().to_owned();
    let approve = || {
        serde_json::to_value(proto::OperationBatch {
            operations: vec![operation(OperationKind::ApproveRequest(proto::ApproveRequest {
                request,
                notes: None,
            }))],
        })
        .unwrap()
    };
    let (x, y) = tokio::join!(
        f.call(Method::POST, "/v1/operations", Some(f.token("approver")), Some(approve())),
        f.call(Method::POST, "/v1/operations", Some(&second_token), Some(approve())),
    );
    let statuses: Vec<&str> =
        [&x.1, &y.1].iter().map(|v| v["answers"][0]["status"].as_str().unwrap()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == "accepted").count(), 1, "{x:?} {y:?}");
    let codes: Vec<&str> = [&x.1, &y.1].iter().filter_map(|v| v["answers"][0]["code"].as_str()).collect();
    assert_eq!(codes, ["state_not_allowed"]);
}

pub async fn audit_chain(factory: Factory) {
    let f = Fixture::new(factory).await;
    f.issued_card().await;
    let (status, body) = f.call(Method::GET, "/v1/audit?limit=3", Some(f.token("auditor")), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["events"].as_array().unwrap().len(), 3);
    assert_eq!(body["next_from"], 3);
    let (status, body) =
        f.call(Method::GET, "/v1/audit?from=3&limit=1000", Some(f.token("auditor")), None).await;
    assert_eq!(status, StatusCode::OK);
    let actions: Vec<&str> =
        body["events"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert!(
        actions.contains(&"op.approve_request") && actions.contains(&"op.record_issuance"),
        "{actions:?}"
    );
    let (status, report) = f.call(Method::GET, "/v1/audit/verify", Some(f.token("auditor")), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(report["intact"], true, "{report}");
    assert_eq!(report["sealed"], true, "{report}");
    assert!(report["events"].as_u64().unwrap() >= 10);
}

/// The auditor's `GET /v1/audit/verify`.
async fn verify_report(f: &Fixture) -> Value {
    let (status, report) = f.call(Method::GET, "/v1/audit/verify", Some(f.token("auditor")), None).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    report
}

/// The stored audit events, oldest first.
fn audit_events(f: &Fixture) -> Vec<domain::AuditEvent> {
    registry::storage::read(f.registry.storage(), |tx| tx.audit_from(0, 1000)).unwrap()
}

fn checkpoint(f: &Fixture) -> registry::anchor::Checkpoint {
    f.registry.checkpoint_audit().unwrap().expect("the head moved: a checkpoint is written")
}

/// Issue 16, untouched: intact, every event sealed from the first, the
/// checkpoints counted, and an unmoved head not checkpointed twice.
pub async fn audit_anchor_untouched(factory: Factory) {
    let f = Fixture::new(factory).await;
    f.issued_card().await;
    let first = checkpoint(&f);
    assert!(f.registry.checkpoint_audit().unwrap().is_none(), "the head did not move");
    f.request_card().await;
    let second = checkpoint(&f);
    assert!(second.count > first.count);
    let rows = registry::storage::read(f.registry.storage(), |tx| tx.audit_rows(0, 1000)).unwrap();
    assert_eq!(rows.len() as u64, second.count);
    assert!(rows.iter().all(|r| r.mac.as_ref().is_some_and(|m| m.len() == 32)), "every event has a MAC");
    let report = verify_report(&f).await;
    assert_eq!(report["intact"], true, "{report}");
    assert_eq!(report["sealed"], true, "{report}");
    assert_eq!(report["sealed_from"], 0, "{report}");
    assert_eq!(report["checkpoints"], 2, "{report}");
    assert_eq!(report["anchored"], second.count, "{report}");
    assert_eq!(report["events"], second.count, "{report}");
    assert_eq!(report["broken_at"], Value::Null, "{report}");
}

/// Issue 16, the attack: the newest events deleted with SQL (the triggers
/// that forbid it dropped first). What remains is a valid hash chain; the
/// checkpoint shows the loss and where it starts.
pub async fn audit_truncation_is_detected(factory: Factory) {
    let f = Fixture::new(factory).await;
    f.issued_card().await;
    let n = checkpoint(&f).count;
    let cut = n - 3;
    f.registry.storage().tamper_audit(&format!("DELETE FROM audit WHERE seq >= {cut}")).unwrap();
    let left = audit_events(&f);
    assert_eq!(left.len() as u64, cut);
    domain::verify_chain(&left).expect("the hash chain alone sees nothing wrong");
    let report = verify_report(&f).await;
    assert_eq!(report["intact"], false, "{report}");
    assert_eq!(report["broken_at"], cut, "{report}");
    let reason = report["reason"].as_str().unwrap();
    assert!(
        reason.starts_with(&format!("events from {cut} on are missing (the checkpoint at "))
            && reason.ends_with(&format!("recorded {n} events)")),
        "{reason}"
    );
    // New events filling the gap (sealed by the registry) do not cover it up.
    while (audit_events(&f).len() as u64) < n {
        f.request_card().await;
    }
    let report = verify_report(&f).await;
    assert_eq!(report["intact"], false, "{report}");
    assert!(report["reason"].as_str().unwrap().contains("removed and replaced"), "{report}");
}

/// Issue 16, the attack: one event's notes edited and every later hash
/// recomputed with domain's own hashing (the algorithm is public, the audit
/// key is not). The hash chain verifies; the first MAC that fails is the edit.
pub async fn audit_rewrite_is_detected(factory: Factory) {
    let f = Fixture::new(factory).await;
    f.issued_card().await;
    checkpoint(&f);
    let mut events = audit_events(&f);
    let k = events.len() / 2;
    events[k].draft.notes = Some("nothing happened here".into());
    for i in k..events.len() {
        if i > k {
            events[i].prev_hash = events[i - 1].hash;
        }
        events[i].hash = events[i].compute_hash();
    }
    domain::verify_chain(&events).expect("the forged chain is a valid hash chain");
    let sql: Vec<String> = events[k..]
        .iter()
        .map(|e| {
            let body = serde_json::to_string(e).unwrap().replace('\'', "''");
            format!(
                "UPDATE audit SET hash = '{}', prev_hash = '{}', body = '{body}' WHERE seq = {}",
                e.hash, e.prev_hash, e.seq
            )
        })
        .collect();
    f.registry.storage().tamper_audit(&sql.join("; ")).unwrap();
    assert_eq!(audit_events(&f), events, "the database holds the forged chain");
    let report = verify_report(&f).await;
    assert_eq!(report["intact"], false, "{report}");
    assert_eq!(report["broken_at"], k as u64, "{report}");
    assert!(report["reason"].as_str().unwrap().contains("does not match its MAC"), "{report}");

    // Stripping the MACs instead (to pass as events from before the key): also found.
    f.registry.storage().tamper_audit(&format!("UPDATE audit SET mac = NULL WHERE seq >= {k}")).unwrap();
    let report = verify_report(&f).await;
    assert_eq!(report["broken_at"], k as u64, "{report}");
    assert!(report["reason"].as_str().unwrap().contains("has no MAC"), "{report}");
}

/// Issue 16: a checkpoint line altered in the data directory is reported;
/// put back, the trail verifies again.
pub async fn audit_checkpoint_tampering_is_detected(factory: Factory) {
    let f = Fixture::new(factory).await;
    f.issued_card().await;
    let first = checkpoint(&f);
    f.request_card().await;
    checkpoint(&f);
    let path = f.anchor.checkpoint_path().to_owned();
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), 2, "{text}");
    let altered =
        text.replacen(&format!("\"count\":{}", first.count), &format!("\"count\":{}", first.count - 2), 1);
    assert_ne!(altered, text);
    std::fs::write(&path, altered).unwrap();
    let report = verify_report(&f).await;
    assert_eq!(report["intact"], false, "{report}");
    assert_eq!(report["broken_at"], Value::Null, "{report}");
    let reason = report["reason"].as_str().unwrap();
    assert!(reason.contains("line 1") && reason.contains("does not match its MAC"), "{reason}");

    std::fs::write(&path, format!("{{\"count\":1}}\n{text}")).unwrap();
    let report = verify_report(&f).await;
    assert!(report["reason"].as_str().unwrap().contains("line 1 of"), "{report}");
    assert!(report["reason"].as_str().unwrap().contains("is not a checkpoint"), "{report}");

    std::fs::write(&path, &text).unwrap();
    let report = verify_report(&f).await;
    assert_eq!(report["intact"], true, "{report}");
    assert_eq!(report["checkpoints"], 2, "{report}");
}

pub async fn escrow_round_trip(factory: Factory) {
    let f = Fixture::new(factory).await;
    let (request, device) = f.approved_card().await;
    let store = |kind, secret: &str| {
        OperationKind::StoreEscrow(proto::StoreEscrow {
            device,
            secret_kind: kind,
            secret: proto::EscrowSecret::new(secret),
        })
    };
    assert_eq!(
        f.op("requester", store(EscrowKind::ManagementKey, "00112233")).await.rejection_code(),
        Some("not_permitted")
    );
    // The issue job escrows before its first write; a resumed job escrows a new PUK again.
    assert!(f
        .op("issuer", store(EscrowKind::ManagementKey, "00112233445566778899aabbccddeeff"))
        .await
        .is_accepted());
    assert!(f.op("issuer", store(EscrowKind::Puk, "3132333435363737")).await.is_accepted());
    assert!(f.op("issuer", store(EscrowKind::Puk, "3132333435363738")).await.is_accepted());
    assert_eq!(f.op("issuer", store(EscrowKind::Puk, "xyz")).await.rejection_code(), Some("invalid"));
    assert!(!f.dump().contains("3132333435363738"), "no plaintext secret is stored");

    let uri = |kind: &str| format!("/v1/devices/{device}/escrow/{kind}");
    let noted = || Some(json!({ "identity_check": "passport seen" }));
    // The job that stored them gets them back (to resume or roll back)...
    let (status, body) = f.call(Method::GET, &uri("management_key"), Some(f.token("issuer")), None).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, Some("00112233445566778899aabbccddeeff")));
    let (status, body) = f.call(Method::GET, &uri("puk"), Some(f.token("issuer")), None).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, Some("3132333435363738")), "the newest");
    // ...and nobody else while the card is being written, not even an administrator.
    let (status, body) = f.call(Method::GET, &uri("management_key"), Some(f.token("admin")), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = f.call(Method::POST, &uri("puk"), Some(f.token("admin")), noted()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");

    // Recorded: the newest versions are what the card holds; the history stays.
    assert!(f.op("issuer", issuance(device, Some(request))).await.is_accepted());
    let versions =
        registry::storage::read(f.registry.storage(), |tx| tx.escrow_versions(device, EscrowKind::Puk))
            .unwrap();
    let numbers: Vec<(u32, bool)> = versions.iter().map(|v| (v.version, v.written)).collect();
    assert_eq!(numbers, [(2, true), (1, false)], "every version kept, the newest written");
    // An unblock needs Unblock PIN and the identity check noted; it gets the current PUK.
    let (status, body) = f.call(Method::GET, &uri("puk"), Some(f.token("admin")), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "no identity check: {body}");
    assert!(body["message"].as_str().unwrap().contains("identity check"), "{body}");
    let (status, body) = f.call(Method::POST, &uri("puk"), Some(f.token("admin")), noted()).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, Some("3132333435363738")));
    let (status, _) = f
        .call(
            Method::POST,
            &format!("/v1/devices/{}/escrow/puk", Uuid::now_v7()),
            Some(f.token("admin")),
            noted(),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let audit = f.dump();
    assert!(audit.contains("released to a PIN unblock; identity check: passport seen"), "the fetch says why");
}

/// Issue 16 items 2 and 3, written as the attacks of an operator with Can
/// Collect and no Unblock PIN on a card someone else issued.
pub async fn escrow_least_privilege(factory: Factory) {
    let mut f = Fixture::new(factory).await;
    let device = f.escrowed_card("00112233445566778899aabbccddeeff", "3132333435363738").await;
    let ivan = admin::NewOperator {
        username: "ivan".into(),
        given_name: "Ivan".into(),
        family_name: "Collector".into(),
        email: None,
        roles: vec!["issuer".into()],
    };
    admin::add_operator(f.registry.storage(), &ivan, &password("ivan"), OffsetDateTime::now_utc()).unwrap();
    let (status, body) = f
        .call(
            Method::POST,
            "/v1/sessions",
            None,
            Some(json!({"username": "ivan", "password": password("ivan")})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    f.tokens.insert("ivan", body["token"].as_str().unwrap().to_owned());
    let uri = |kind: &str| format!("/v1/devices/{device}/escrow/{kind}");
    let noted = || Some(json!({ "identity_check": "badge photo" }));
    let fetch = |kind: &'static str| {
        let f = &f;
        let uri = uri(kind);
        async move { f.call(Method::GET, &uri, Some(f.token("ivan")), None).await }
    };

    // No job of his on this card: neither secret.
    assert_eq!(fetch("management_key").await.0, StatusCode::FORBIDDEN);
    let (status, body) = f.call(Method::POST, &uri("puk"), Some(f.token("ivan")), noted()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "no Unblock PIN: {body}");

    // The reprovision trick: filed by himself, approved at once (same profile)...
    let request = RequestId::new(Uuid::now_v7());
    let reprovision = OperationKind::RequestUpdate(proto::RequestUpdate {
        request,
        device,
        profile: f.profile,
        reason: domain::UpdateReason::ReprovisionAllContent,
        notes: None,
    });
    assert!(f.op("ivan", reprovision).await.is_accepted());
    // ...opens the card for his collect job, but the PUK is refused: nobody else is involved.
    let (status, body) = fetch("management_key").await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, Some("00112233445566778899aabbccddeeff")));
    let before = f.dump();
    let (status, body) = fetch("puk").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body["message"].as_str().unwrap().contains("Unblock PIN"), "{body}");
    assert_eq!(before, f.dump(), "a refused fetch changes nothing");
    // An operator who may unblock PINs collects it, with the current PUK.
    let (status, body) = f.call(Method::GET, &uri("puk"), Some(f.token("admin")), None).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, Some("3132333435363738")), "{body}");

    // The overwrite: only a job that generated a secret may store one, as a new version.
    let store = |secret: &str| {
        OperationKind::StoreEscrow(proto::StoreEscrow {
            device,
            secret_kind: EscrowKind::Puk,
            secret: proto::EscrowSecret::new(secret),
        })
    };
    let cancel = OperationKind::CancelRequest(proto::CancelRequest { request, notes: None });
    assert!(f.op("ivan", cancel).await.is_accepted());
    let before = f.dump();
    let refused = f.op("ivan", store("39393939")).await;
    assert_eq!(refused.rejection_code(), Some("state_not_allowed"), "{refused:?}");
    assert!(f.dump().contains("state_not_allowed"), "the refusal is audited");
    assert_eq!(fetch("management_key").await.0, StatusCode::FORBIDDEN, "the cancelled request opens nothing");
    // Inside a collect job the store is a new, unwritten version: the card's PUK stays current.
    let again = RequestId::new(Uuid::now_v7());
    let reprovision = OperationKind::RequestUpdate(proto::RequestUpdate {
        request: again,
        device,
        profile: f.profile,
        reason: domain::UpdateReason::ReprovisionAllContent,
        notes: None,
    });
    assert!(f.op("ivan", reprovision).await.is_accepted());
    assert!(f.op("ivan", store("39393939")).await.is_accepted());
    let (status, body) = fetch("puk").await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, Some("39393939")), "his own job's secret");
    let (status, body) = f.call(Method::POST, &uri("puk"), Some(f.token("admin")), noted()).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::OK, Some("3132333435363738")),
        "still the card's: {body}"
    );
    let versions =
        registry::storage::read(f.registry.storage(), |tx| tx.escrow_versions(device, EscrowKind::Puk))
            .unwrap();
    assert_eq!(versions.len(), 2, "nothing replaced");
    drop(before);
}

/// Every protected endpoint × every role (and no session at all): who is
/// refused gets 401/403, and the database is unchanged.
pub async fn permission_matrix(factory: Factory) {
    let f = Fixture::new(factory).await;
    let device = f.escrowed_card("0011", "31323334").await;

    // (method, uri, roles allowed)
    let endpoints: Vec<(Method, String, &[&str])> = vec![
        // Every role but none at all: the feed is for operators who work here.
        (
            Method::GET,
            "/v1/changes".into(),
            &["requester", "approver", "issuer", "retirer", "auditor", "admin"],
        ),
        (Method::GET, "/v1/audit".into(), &["auditor", "admin"]),
        (Method::GET, "/v1/admin/access".into(), &["admin"]),
        (Method::GET, "/v1/audit/verify".into(), &["auditor", "admin"]),
        // Provisioning (seed 004): the list needs Manage provisioning tasks,
        // the report that or View audit; a person's outstanding tasks any role.
        (Method::GET, "/v1/provisioning/tasks".into(), &["admin"]),
        (Method::GET, "/v1/provisioning/report".into(), &["auditor", "admin"]),
        (
            Method::GET,
            format!("/v1/people/{}/provisioning", f.cardholder),
            &["requester", "approver", "issuer", "retirer", "auditor", "admin"],
        ),
        // Escrow: the issue job that stored it, and an unblock with its identity check noted.
        (Method::GET, format!("/v1/devices/{device}/escrow/management_key"), &["issuer"]),
        (Method::POST, format!("/v1/devices/{device}/escrow/puk"), &["issuer", "admin"]),
    ];
    let body_of =
        |method: &Method| (method == Method::POST).then(|| json!({ "identity_check": "badge photo" }));
    let bad_tokens = [None, Some("not-a-token".to_owned()), Some("00".repeat(32))];
    for (method, uri, allowed) in &endpoints {
        for token in &bad_tokens {
            let before = f.dump();
            let (status, body) = f.call(method.clone(), uri, token.as_deref(), body_of(method)).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {uri} without a valid session: {body}");
            assert_eq!(body["code"], "unauthenticated");
            assert_eq!(before, f.dump(), "{method} {uri} without a session changed the database");
        }
        for role in ROLES {
            let before = f.dump();
            let (status, body) = f.call(method.clone(), uri, Some(f.token(role)), body_of(method)).await;
            if allowed.contains(&role) {
                assert_eq!(status, StatusCode::OK, "{role} may {method} {uri}: {body}");
            } else {
                assert_eq!(status, StatusCode::FORBIDDEN, "{role} may not {method} {uri}: {body}");
                assert!(body["code"].is_string() && body["message"].is_string(), "a problem body: {body}");
                assert_eq!(before, f.dump(), "{role} refused at {method} {uri} changed the database");
            }
        }
    }

    // The CA's certificate and CRL are public: any session, or none.
    for uri in ["/v1/ca", "/v1/crl"] {
        for token in [None, Some(f.token("nobody")), Some(f.token("admin"))] {
            let before = f.dump();
            let (status, _) = f.call(Method::GET, uri, token, None).await;
            assert_eq!(status, StatusCode::OK, "GET {uri} is public");
            assert_eq!(before, f.dump());
        }
    }
    // Challenges and issuance need Can Collect (issuance: on the card's profile).
    let (_, approved) = f.approved_card().await;
    let key = card_key();
    let issuers_challenge = f.challenge("issuer").await;
    let foreign_issue = || issue_body(Uuid::now_v7(), approved, &key, &issuers_challenge, &issuers_challenge);
    for token in &bad_tokens {
        let before = f.dump();
        let (status, body) =
            f.call(Method::POST, "/v1/certificates/challenges", token.as_deref(), None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        let (status, body) =
            f.call(Method::POST, "/v1/certificates", token.as_deref(), Some(foreign_issue())).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert_eq!(before, f.dump());
    }
    for role in ROLES {
        let before = f.dump();
        let (status, body) =
            f.call(Method::POST, "/v1/certificates/challenges", Some(f.token(role)), None).await;
        if ["issuer", "admin"].contains(&role) {
            assert_eq!(status, StatusCode::CREATED, "{role} may ask for a challenge: {body}");
            let challenge = hex::decode(body["challenge"].as_str().unwrap()).unwrap();
            let (status, body) =
                f.issue(role, issue_body(Uuid::now_v7(), approved, &key, &challenge, &challenge)).await;
            assert_eq!(status, StatusCode::OK, "{role} may issue: {body}");
        } else {
            assert_eq!(status, StatusCode::FORBIDDEN, "{role} may not ask for a challenge: {body}");
            assert_eq!(body["code"], "not_permitted");
            let (status, body) = f.issue(role, foreign_issue()).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{role} may not issue: {body}");
            assert_eq!(before, f.dump(), "{role} refused at the certificate endpoints changed the database");
        }
    }

    // Operations and sign-out without a session: 401, nothing changes.
    let some_op = serde_json::to_value(proto::OperationBatch {
        operations: vec![operation(OperationKind::CreatePerson(proto::CreatePerson {
            id: PersonId::new(Uuid::now_v7()),
            given_name: "X".into(),
            family_name: "Y".into(),
            email: None,
            employee_id: None,
        }))],
    })
    .unwrap();
    for token in &bad_tokens {
        let before = f.dump();
        let (status, _) =
            f.call(Method::POST, "/v1/operations", token.as_deref(), Some(some_op.clone())).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let (status, _) = f.call(Method::DELETE, "/v1/sessions", token.as_deref(), None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(before, f.dump());
    }

    // Each operation kind × each role: refused operations change no record
    // (only their recorded answer and their audit event are written).
    let (request, _) = f.request_card().await;
    let certificate = registry::storage::read(f.registry.storage(), |tx| tx.certificates_of(device))
        .unwrap()
        .first()
        .map(|c| c.id)
        .expect("the issued card has a certificate");
    let temp_profile = ProfileId::new(Uuid::now_v7());
    let temp_settings = ProfileSettings { is_temporary: true, slots: vec![], ..settings("Temporary", false) };
    admin::add_profile(f.registry.storage(), temp_profile, temp_settings, OffsetDateTime::now_utc()).unwrap();
    let kinds: Vec<(&str, MakeOp, &[&str])> = vec![
        (
            "order_temporary_card",
            Box::new(move || {
                OperationKind::OrderTemporaryCard(proto::OrderTemporaryCard {
                    card: DeviceId::new(Uuid::now_v7()),
                    profile: temp_profile,
                    serial: None,
                })
            }),
            &["admin"],
        ),
        (
            "hold_certificate",
            Box::new(move || {
                OperationKind::ChangeCertificate(proto::ChangeCertificate {
                    certificate,
                    change: proto::CertificateChange::Hold,
                    notes: None,
                })
            }),
            &["retirer", "admin"],
        ),
        (
            "revoke_certificate",
            Box::new(move || {
                OperationKind::ChangeCertificate(proto::ChangeCertificate {
                    certificate,
                    change: proto::CertificateChange::Revoke {
                        reason: domain::RevocationReason::KeyCompromise,
                    },
                    notes: None,
                })
            }),
            &["retirer", "admin"],
        ),
        (
            "create_person",
            Box::new(|| {
                OperationKind::CreatePerson(proto::CreatePerson {
                    id: PersonId::new(Uuid::now_v7()),
                    given_name: "N".into(),
                    family_name: "P".into(),
                    email: None,
                    employee_id: None,
                })
            }),
            &["admin"],
        ),
        (
            "create_profile",
            Box::new(|| {
                OperationKind::CreateProfile(proto::CreateProfile {
                    id: ProfileId::new(Uuid::now_v7()),
                    settings: settings("Other", false),
                })
            }),
            &["admin"],
        ),
        (
            "approve_request",
            Box::new(move || OperationKind::ApproveRequest(proto::ApproveRequest { request, notes: None })),
            &["approver", "admin"],
        ),
        (
            "deactivate",
            Box::new(move || {
                OperationKind::ChangeDevice(proto::ChangeDevice {
                    device,
                    change: proto::DeviceChange::Deactivate,
                    notes: None,
                })
            }),
            &["retirer", "admin"],
        ),
    ];
    let cardholder = f.cardholder;
    let profile = f.profile;
    let request_card = move || {
        OperationKind::RequestCard(proto::RequestCard {
            request: RequestId::new(Uuid::now_v7()),
            device: DeviceId::new(Uuid::now_v7()),
            person: cardholder,
            profile,
            reason: None,
            notes: None,
            route: None,
        })
    };
    for role in ROLES {
        let before = records_only(&f.dump());
        let answer = f.op(role, request_card()).await;
        if ["requester", "admin"].contains(&role) {
            assert!(answer.is_accepted(), "{role}: {answer:?}");
        } else {
            assert_eq!(answer.rejection_code(), Some("not_permitted"), "{role} may not request cards");
            assert_eq!(before, records_only(&f.dump()), "{role}'s refused request changed a record");
        }
        for (name, make, allowed) in &kinds {
            if allowed.contains(&role) {
                continue;
            }
            let before = records_only(&f.dump());
            let answer = f.op(role, make()).await;
            assert_eq!(answer.rejection_code(), Some("not_permitted"), "{role} may not {name}: {answer:?}");
            assert_eq!(before, records_only(&f.dump()), "{role}'s refused {name} changed a record");
        }
    }
}

pub async fn malformed_input_is_a_4xx_problem(factory: Factory) {
    let f = Fixture::new(factory).await;
    let token = f.token("admin").to_owned();
    let before = f.dump();
    let raw = |method: Method, uri: &str, content_type: Option<&str>, body: &'static str| {
        let mut r =
            Request::builder().method(method).uri(uri).header("authorization", format!("Bearer {token}"));
        if let Some(ct) = content_type {
            r = r.header("content-type", ct);
        }
        r.body(Body::from(body)).unwrap()
    };
    let cases = vec![
        raw(Method::POST, "/v1/operations", Some("application/json"), "{not json"),
        raw(Method::POST, "/v1/operations", Some("application/json"), r#"{"operations": 5}"#),
        raw(Method::POST, "/v1/operations", Some("application/json"), r#"{"operations": []}"#),
        raw(Method::POST, "/v1/operations", Some("application/json"), r#"{"operations": [{"op_id": "x"}]}"#),
        raw(
            Method::POST,
            "/v1/operations",
            Some("application/json"),
            r#"{"operations": [{"op_id": "0190a5a0-0000-7000-8000-000000000000", "actor": null, "workstation": null, "created_at": "2026-01-01T00:00:00Z", "op": {"kind": "drop_tables"}}]}"#,
        ),
        raw(Method::POST, "/v1/operations", Some("text/plain"), "{}"),
        raw(Method::POST, "/v1/operations", None, ""),
        raw(Method::POST, "/v1/sessions", Some("application/json"), r#"{"username": 1}"#),
        raw(Method::GET, "/v1/changes?since=abc", None, ""),
        raw(Method::GET, "/v1/changes?since=-1", None, ""),
        raw(Method::GET, "/v1/changes?limit=0", None, ""),
        raw(Method::GET, "/v1/changes?limit=99999999999", None, ""),
        raw(Method::GET, "/v1/changes?surprise=1", None, ""),
        raw(Method::GET, "/v1/audit?from=x", None, ""),
        raw(Method::GET, "/v1/devices/not-a-uuid/escrow/puk", None, ""),
        raw(Method::GET, &format!("/v1/devices/{}/escrow/password", Uuid::nil()), None, ""),
        raw(Method::GET, "/v1/nowhere", None, ""),
        raw(Method::PUT, "/v1/operations", None, ""),
    ];
    for request in cases {
        let what = format!("{} {}", request.method(), request.uri());
        let (status, body) = f.send(request).await;
        assert!(status.is_client_error(), "{what}: a 4xx, not {status}: {body}");
        assert!(
            body["code"].is_string() && body["message"].is_string(),
            "{what}: a problem body, got {body}"
        );
    }
    let mut too_many = Vec::new();
    for _ in 0..=proto::MAX_BATCH {
        too_many.push(operation(OperationKind::CreatePerson(proto::CreatePerson {
            id: PersonId::new(Uuid::now_v7()),
            given_name: "A".into(),
            family_name: "B".into(),
            email: None,
            employee_id: None,
        })));
    }
    let (status, body) = f
        .call(
            Method::POST,
            "/v1/operations",
            Some(&token),
            Some(serde_json::to_value(proto::OperationBatch { operations: too_many }).unwrap()),
        )
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(before, f.dump(), "malformed requests change nothing");

    // Well-formed but invalid content is a typed rejection, not an error.
    let answer = f
        .op(
            "admin",
            OperationKind::CreatePerson(proto::CreatePerson {
                id: PersonId::new(Uuid::now_v7()),
                given_name: "A".into(),
                family_name: "B".into(),
                email: Some("not an email".into()),
                employee_id: None,
            }),
        )
        .await;
    assert_eq!(answer.rejection_code(), Some("invalid_email"));
    let answer = f
        .op(
            "admin",
            OperationKind::CreateProfile(proto::CreateProfile {
                id: ProfileId::new(Uuid::now_v7()),
                settings: ProfileSettings { slots: vec![], ..settings("Empty", false) },
            }),
        )
        .await;
    assert_eq!(answer.rejection_code(), Some("invalid_profile"));
    let answer = f.op("issuer", issuance(DeviceId::new(Uuid::now_v7()), None)).await;
    assert_eq!(answer.rejection_code(), Some("not_found"));
}

pub async fn profile_revisions_conflict(factory: Factory) {
    let f = Fixture::new(factory).await;
    let revise = |v: u32, name: &str| {
        OperationKind::ReviseProfile(proto::ReviseProfile {
            id: f.profile,
            expected_version: v,
            settings: settings(name, true),
        })
    };
    let first = f.op("admin", revise(1, "Employee v2")).await;
    assert!(first.is_accepted(), "{first:?}");
    let stale = f.op("admin", revise(1, "Employee v2 bis")).await;
    assert_eq!(stale.rejection_code(), Some("version_conflict"), "an edit of an old version conflicts");
    let second = f.op("admin", revise(2, "Employee v3")).await;
    match record(&second, "profile").first() {
        Some(proto::Record::Profile(p)) => assert_eq!(p.version, 3),
        other => panic!("{other:?}"),
    }
}

/// The attack: guessing one account's password. Failures cost more each
/// time, lock the account after a few (audited once, not per attempt; the
/// right password is not even checked meanwhile), other accounts go on, and
/// the lock runs out.
pub async fn sign_in_lockout(factory: Factory) {
    let f = Fixture::new(factory).await;
    let policy = registry::throttle::SignInPolicy {
        free_failures: 10,
        lock_after: 3,
        lock_for: std::time::Duration::from_secs(1),
        ..Default::default()
    };
    let app = registry::app(f.registry.clone().with_sign_in_policy(policy));
    let sign_in = |username: &str, password: String| {
        let app = app.clone();
        let body = json!({ "username": username, "password": password }).to_string();
        async move {
            let request = Request::builder()
                .method(Method::POST)
                .uri("/v1/sessions")
                .header("content-type", "application/json")
                .body(Body::from(body))
                .unwrap();
            let response = app.oneshot(request).await.unwrap();
            let retry_after = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
            let status = response.status();
            let bytes = response.into_body().collect().await.unwrap().to_bytes();
            (status, retry_after, serde_json::from_slice::<Value>(&bytes).unwrap_or(Value::Null))
        }
    };
    let audit_rows = |f: &Fixture, action: &str| f.dump().lines().filter(|l| l.contains(action)).count();
    let failed_before = audit_rows(&f, "session.create");
    for _ in 0..3 {
        assert_eq!(sign_in("Issuer", "guess".into()).await.0, StatusCode::UNAUTHORIZED);
    }
    let (status, retry_after, body) = sign_in("issuer", password("issuer")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "locked, even with the right password: {body}");
    assert_eq!(body["code"], "too_many_requests");
    assert!(retry_after.is_some_and(|s| s.parse::<u64>().is_ok_and(|n| n >= 1)), "says when");
    assert!(body["message"].as_str().unwrap().contains("locked"), "{body}");
    assert_eq!(sign_in("issuer", "guess".into()).await.0, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(audit_rows(&f, "session.locked"), 1, "the lock is audited once");
    assert_eq!(audit_rows(&f, "session.create"), failed_before, "failures are not audited one by one");
    assert_eq!(sign_in("auditor", password("auditor")).await.0, StatusCode::CREATED, "others go on");

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (status, retry_after, body) = sign_in("issuer", password("issuer")).await;
        if status == StatusCode::CREATED {
            break;
        }
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
        assert!(std::time::Instant::now() < deadline, "the lock never ran out");
        // Come back when the registry says the lock ends.
        let secs = retry_after.and_then(|s| s.parse::<u64>().ok()).unwrap_or(1);
        tokio::time::sleep(std::time::Duration::from_secs(secs.min(2))).await;
    }
}

/// Smaller holes: the bearer scheme in any case, names that read as
/// something else refused, and a caller who may not collect a card told
/// nothing of its state.
/// Issue 16 item 6, as the attack: an operator on another machine signs in
/// naming a workstation that is not hers, to have her actions recorded there.
pub async fn workstation_credentials(factory: Factory) {
    let f = Fixture::new(factory).await;
    let workstation = Uuid::now_v7();
    let key = "ab".repeat(32);
    let sign_in = |user: &'static str, key: Option<String>| {
        let f = &f;
        let mut body = json!({ "username": user, "password": password(user), "workstation": workstation });
        if let Some(key) = key {
            body["workstation_key"] = json!(key);
        }
        async move { f.call(Method::POST, "/v1/sessions", None, Some(body)).await }
    };
    // The first sign-in binds the workstation to its key, audited once.
    let (status, body) = sign_in("issuer", Some(key.clone())).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = sign_in("approver", Some(key.to_uppercase())).await;
    assert_eq!(status, StatusCode::CREATED, "the same key in capitals: {body}");
    let dump = f.dump();
    assert_eq!(dump.matches("workstation.enrolled").count(), 1, "bound once");
    assert!(!dump.contains(&key), "only the key's hash is kept");

    // Another machine naming it: refused, no session, nothing recorded.
    let before = f.dump();
    let (status, body) = sign_in("requester", Some("cd".repeat(32))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(body["message"].as_str().unwrap().contains("credential does not match"), "{body}");
    let (status, body) = sign_in("requester", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a workstation without its key: {body}");
    let (status, body) = sign_in("requester", Some("not hex".into())).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(before, f.dump(), "refused sign-ins change nothing");
}

pub async fn small_hardening(factory: Factory) {
    let f = Fixture::new(factory).await;
    // The workstation in the audit is the session's, not what an operation claims.
    let spoofed = domain::WorkstationId::new(Uuid::now_v7());
    let mut op = operation(OperationKind::CreatePerson(proto::CreatePerson {
        id: PersonId::new(Uuid::now_v7()),
        given_name: "Sam".into(),
        family_name: "Spoof".into(),
        email: None,
        employee_id: None,
    }));
    op.workstation = Some(spoofed);
    assert!(f.ops("admin", vec![op]).await.remove(0).is_accepted());
    let (_, page) = f.call(Method::GET, "/v1/audit?from=0&limit=1000", Some(f.token("admin")), None).await;
    let last = page["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["action"], "op.create_person", "{last}");
    assert!(last["workstation"].is_null(), "the session named no workstation, the claim is ignored: {last}");
    let token = f.token("auditor").to_owned();
    for scheme in ["bearer", "BEARER", "Bearer"] {
        let request = Request::builder()
            .uri("/v1/audit/verify")
            .header("authorization", format!("{scheme} {token}"))
            .body(Body::empty())
            .unwrap();
        assert_eq!(f.send(request).await.0, StatusCode::OK, "{scheme}");
    }
    for name in ["Mallory\u{202E}rotartsinimdA", "Null\0Byte", "Line\nBreak"] {
        let answer = f
            .op(
                "admin",
                OperationKind::CreatePerson(proto::CreatePerson {
                    id: PersonId::new(Uuid::now_v7()),
                    given_name: "Eve".into(),
                    family_name: name.into(),
                    email: None,
                    employee_id: None,
                }),
            )
            .await;
        assert_eq!(answer.rejection_code(), Some("invalid"), "{name:?}: {answer:?}");
    }
    let role = Role::new(RoleId::new(Uuid::now_v7()), "Admins\u{2066}");
    let answer = f.op("admin", OperationKind::SaveRole(proto::SaveRole { role })).await;
    assert_eq!(answer.rejection_code(), Some("invalid"), "{answer:?}");

    // An op_id is bound to its first operation: sent again with other
    // content it is refused (and changes nothing); the nil id is refused.
    let create = |family: &str| {
        OperationKind::CreatePerson(proto::CreatePerson {
            id: PersonId::new(Uuid::now_v7()),
            given_name: "Ida".into(),
            family_name: family.into(),
            email: None,
            employee_id: None,
        })
    };
    let first = operation(create("First"));
    assert!(f.ops("admin", vec![first.clone()]).await[0].is_accepted());
    let replay = f.ops("admin", vec![first.clone()]).await.remove(0);
    assert!(replay.is_accepted(), "the same operation again: the first answer");
    let before = f.dump();
    let other = Operation { op: create("Second"), ..first.clone() };
    assert_eq!(f.ops("admin", vec![other]).await[0].rejection_code(), Some("op_id_reused"));
    let nil = Operation { op_id: Uuid::nil(), ..operation(create("Nil")) };
    assert_eq!(f.ops("admin", vec![nil]).await[0].rejection_code(), Some("invalid_op_id"));
    assert_eq!(before, f.dump(), "neither changed anything");

    // The feed (people with email, requests with notes) is for operators
    // with a role.
    let (status, body) = f.call(Method::GET, "/v1/changes", Some(f.token("nobody")), None).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::FORBIDDEN, Some("not_permitted")), "{body}");

    let device = f.issued_card().await;
    let key = card_key();
    let challenge = vec![9u8; 32];
    for role in ["nobody", "auditor", "requester"] {
        let (status, body) =
            f.issue(role, issue_body(Uuid::now_v7(), device, &key, &challenge, &challenge)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{role}: permission before the card's state: {body}");
    }
}

async fn access_directory(f: &Fixture, role: &str) -> proto::AccessDirectory {
    let (status, body) = f.call(Method::GET, "/v1/admin/access", Some(f.token(role)), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    serde_json::from_value(body).unwrap()
}

/// UC-ADMIN over the network: roles, who holds them and the use cases,
/// changed by operations (Administer only), read back from the directory,
/// in force at the next request, and never leaving nobody to administer.
pub async fn roles_and_use_cases(factory: Factory) {
    let f = Fixture::new(factory).await;
    let before = access_directory(&f, "admin").await;
    assert_eq!(
        before.roles.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
        ["Administrators", "approver", "auditor", "issuer", "requester", "retirer"],
        "every role, by name"
    );
    let nobody = before.operators.iter().find(|o| o.username == "nobody").unwrap().clone();
    assert!(nobody.roles.is_empty());
    let administrators = before.roles.iter().find(|r| r.name == "Administrators").unwrap().clone();

    // A non-administrator can change nothing, and nothing changes.
    let unblockers =
        Role::new(RoleId::new(Uuid::now_v7()), "Unblockers").with_global(GlobalPermission::UnblockPin);
    let save = |role: &Role| OperationKind::SaveRole(proto::SaveRole { role: role.clone() });
    for role in ["nobody", "issuer", "auditor"] {
        let answer = f.op(role, save(&unblockers)).await;
        assert_eq!(answer.rejection_code(), Some("not_permitted"), "{role}: {answer:?}");
        let answer = f
            .op(
                role,
                OperationKind::SetOperatorRoles(proto::SetOperatorRoles {
                    operator: nobody.id,
                    roles: vec![],
                }),
            )
            .await;
        assert_eq!(answer.rejection_code(), Some("not_permitted"), "{role}: {answer:?}");
    }
    let answer = f
        .op("issuer", OperationKind::SetUseCases(proto::SetUseCases { enabled: vec![], approval_step: true }))
        .await;
    assert_eq!(answer.rejection_code(), Some("not_permitted"));
    assert_eq!(before, access_directory(&f, "admin").await, "refusals change no role, holder or setting");

    // A new role, given to `nobody`, is in force at their next request.
    assert!(f.op("admin", save(&unblockers)).await.is_accepted());
    let renamed = Role { name: "  Issuer  ".into(), ..unblockers.clone() };
    assert_eq!(
        f.op("admin", save(&renamed)).await.rejection_code(),
        Some("already_exists"),
        "names are unique"
    );
    assert_eq!(f.op("admin", save(&unblockers)).await.rejection_code(), Some("unchanged"));
    let ghost = Role::new(RoleId::new(Uuid::now_v7()), "Ghost profile").with_profile_permission(
        ProfilePermission::CanRequest,
        ProfileScope::Only([ProfileId::new(Uuid::now_v7())].into()),
    );
    assert_eq!(f.op("admin", save(&ghost)).await.rejection_code(), Some("not_found"));
    let (status, _) = f.call(Method::GET, "/v1/audit", Some(f.token("nobody")), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let auditors = before.roles.iter().find(|r| r.name == "auditor").unwrap().id;
    let grant = |roles: Vec<RoleId>| {
        OperationKind::SetOperatorRoles(proto::SetOperatorRoles { operator: nobody.id, roles })
    };
    assert!(f.op("admin", grant(vec![unblockers.id, auditors])).await.is_accepted());
    let (status, body) = f.call(Method::GET, "/v1/audit", Some(f.token("nobody")), None).await;
    assert_eq!(status, StatusCode::OK, "a granted role counts at once: {body}");
    assert_eq!(
        f.op("admin", grant(vec![RoleId::new(Uuid::now_v7())])).await.rejection_code(),
        Some("not_found")
    );
    let after = access_directory(&f, "admin").await;
    let held = &after.operators.iter().find(|o| o.id == nobody.id).unwrap().roles;
    assert_eq!(
        held.iter().copied().collect::<std::collections::BTreeSet<_>>(),
        [unblockers.id, auditors].into()
    );
    assert!(after.roles.contains(&unblockers));
    assert!(f.op("admin", grant(vec![unblockers.id])).await.is_accepted());
    let (status, _) = f.call(Method::GET, "/v1/audit", Some(f.token("nobody")), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a role taken away counts at once");

    // Nobody would administer: refused, whichever way it is tried.
    let admin_id = after.operators.iter().find(|o| o.username == "admin").unwrap().id;
    let demote =
        OperationKind::SetOperatorRoles(proto::SetOperatorRoles { operator: admin_id, roles: vec![] });
    assert_eq!(f.op("admin", demote.clone()).await.rejection_code(), Some("last_administrator"));
    let emptied = Role { global: Default::default(), ..administrators.clone() };
    assert_eq!(f.op("admin", save(&emptied)).await.rejection_code(), Some("last_administrator"));
    // With a second administrator, the first may step down.
    let deputy = Role::new(RoleId::new(Uuid::now_v7()), "Deputies").with_global(GlobalPermission::Administer);
    assert!(f.op("admin", save(&deputy)).await.is_accepted());
    assert!(f.op("admin", grant(vec![deputy.id])).await.is_accepted());
    assert!(f.op("admin", demote).await.is_accepted(), "another administrator remains");
    let (status, _) = f.call(Method::GET, "/v1/admin/access", Some(f.token("admin")), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "the former administrator reads no directory");

    // Use cases: in force at once; sign-in and administration stay on.
    let mut on: Vec<domain::UseCase> =
        domain::UseCase::ALL.into_iter().filter(|u| *u != domain::UseCase::Audit).collect();
    let set = |enabled: Vec<domain::UseCase>| {
        OperationKind::SetUseCases(proto::SetUseCases { enabled, approval_step: true })
    };
    assert!(f.op("nobody", set(on.clone())).await.is_accepted(), "the deputy switches audit off");
    let (status, body) = f.call(Method::GET, "/v1/audit", Some(f.token("auditor")), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "audit is off: {body}");
    on.retain(|u| *u != domain::UseCase::Admin);
    assert_eq!(f.op("nobody", set(on)).await.rejection_code(), Some("use_case_required"));
    let now = access_directory(&f, "nobody").await;
    assert!(now.approval_step && !now.use_cases.contains(&domain::UseCase::Audit));

    // Every accepted change is in the audit trail with its actor.
    let trail = f.dump();
    for action in ["op.save_role", "op.set_operator_roles", "op.set_use_cases"] {
        assert!(trail.lines().any(|l| l.contains(action) && l.contains("success")), "{action} is audited");
    }
}

/// Issuance over HTTP: proof of possession over a challenge handed to the
/// caller, refusals change nothing, exactly once per op_id, openssl trusts
/// the result under `GET /v1/ca`, and `RecordIssuance` puts it on the card.
pub async fn certificate_issuance(factory: Factory) {
    let f = Fixture::new(factory).await;
    let (request, device) = f.approved_card().await;
    let key = card_key();
    let challenge = f.challenge("issuer").await;
    assert_eq!(challenge.len(), 32);
    let body = |signed: &[u8], sent: &[u8]| issue_body(Uuid::now_v7(), device, &key, signed, sent);

    // Refusals: each a 4xx problem, and nothing changes.
    let before = f.dump();
    let other = f.challenge("admin").await;
    let before_admin_challenge = before.clone();
    let before = f.dump();
    assert_ne!(before, before_admin_challenge, "a challenge is kept by the registry");
    let unknown = vec![7u8; 32];
    let mut slot_9c = body(&challenge, &challenge);
    slot_9c["slot"] = json!("digital_signature");
    let mut bad_hex = body(&challenge, &challenge);
    bad_hex["public_key"] = json!("zz");
    let mut extra_field = body(&challenge, &challenge);
    extra_field["subject"] = json!("CN=Mallory");
    let (_, requested) = f.request_card().await;
    let before = f.dump();
    let cases: Vec<(&str, &str, Value, StatusCode, &str)> = vec![
        (
            "wrong proof",
            "issuer",
            body(&unknown, &challenge),
            StatusCode::UNPROCESSABLE_ENTITY,
            "proof_of_possession",
        ),
        (
            "unknown challenge",
            "issuer",
            body(&unknown, &unknown),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_challenge",
        ),
        (
            "another's challenge",
            "issuer",
            body(&other, &other),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_challenge",
        ),
        ("slot not in profile", "issuer", slot_9c, StatusCode::UNPROCESSABLE_ENTITY, "slot_not_in_profile"),
        ("bad hex", "issuer", bad_hex, StatusCode::BAD_REQUEST, "malformed"),
        ("client's subject", "issuer", extra_field, StatusCode::UNPROCESSABLE_ENTITY, "malformed"),
        (
            "unknown device",
            "issuer",
            issue_body(Uuid::now_v7(), DeviceId::new(Uuid::now_v7()), &key, &challenge, &challenge),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "card not approved",
            "issuer",
            issue_body(Uuid::now_v7(), requested, &key, &challenge, &challenge),
            StatusCode::CONFLICT,
            "state_not_allowed",
        ),
        ("no Can Collect", "approver", body(&challenge, &challenge), StatusCode::FORBIDDEN, "not_permitted"),
        ("no session", "", body(&challenge, &challenge), StatusCode::UNAUTHORIZED, "unauthenticated"),
    ];
    for (what, role, request_body, status, code) in cases {
        let token = (!role.is_empty()).then(|| f.token(role));
        let (got, problem) = f.call(Method::POST, "/v1/certificates", token, Some(request_body)).await;
        assert_eq!((got, problem["code"].as_str()), (status, Some(code)), "{what}: {problem}");
        assert!(problem["message"].is_string(), "{what}: a problem body");
        assert_eq!(before, f.dump(), "{what}: refused, and nothing changed");
    }

    // Issued: on hold until the card is recorded issued.
    let op_id = Uuid::now_v7();
    let first_body = issue_body(op_id, device, &key, &challenge, &challenge);
    let (status, issued) = f.issue("issuer", first_body.clone()).await;
    assert_eq!(status, StatusCode::OK, "{issued}");
    let serial = issued["serial"].as_str().unwrap().to_owned();
    assert_eq!(issued["certificate"]["serial"], serial.as_str());
    assert_eq!(issued["certificate"]["device"], json!(device));
    assert_eq!(issued["certificate"]["state"]["state"], "on_hold", "{issued}");
    assert_eq!(issued["certificate"]["slot"], "piv_authentication");

    // Exactly once: a retry gets the same certificate, and changes nothing.
    let after = f.dump();
    let (status, again) = f.issue("issuer", first_body.clone()).await;
    assert_eq!((status, &again), (StatusCode::OK, &issued), "a replay gets the first certificate");
    assert_eq!(after, f.dump(), "a replay changes nothing");
    let (status, stolen) = f.issue("admin", first_body).await;
    assert_eq!((status, stolen["code"].as_str()), (StatusCode::CONFLICT, Some("duplicate_op_id")));
    // The challenge was used up.
    let (status, reused) = f.issue("issuer", body(&challenge, &challenge)).await;
    assert_eq!(
        (status, reused["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("unknown_challenge"))
    );
    assert_eq!(after, f.dump());

    // openssl: the certificate chains to GET /v1/ca, with the profile's subject and the card's key.
    let (status, content_type, ca_pem) = f.get_bytes("/v1/ca").await;
    assert_eq!((status, content_type.as_str()), (StatusCode::OK, "application/x-pem-file"));
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    std::fs::write(path("ca.pem"), &ca_pem).unwrap();
    std::fs::write(path("cert.der"), hex::decode(issued["der"].as_str().unwrap()).unwrap()).unwrap();
    let (ok, text) =
        openssl(&["x509", "-inform", "DER", "-in", &path("cert.der"), "-out", &path("cert.pem")]);
    assert!(ok, "{text}");
    let (ok, text) = openssl(&["verify", "-CAfile", &path("ca.pem"), &path("cert.pem")]);
    assert!(ok && text.contains("OK"), "openssl verifies the certificate: {text}");
    let (ok, text) = openssl(&[
        "x509",
        "-in",
        &path("cert.pem"),
        "-noout",
        "-subject",
        "-serial",
        "-ext",
        "subjectAltName",
    ]);
    assert!(ok, "{text}");
    assert!(
        text.contains("CN = Carla Holder"),
        "the profile's subject pattern with the owner's name: {text}"
    );
    assert!(text.contains(&format!("serial={serial}")), "{text}");
    assert!(text.contains("carla@example.org"), "the owner's email: {text}");
    assert!(text.contains(&format!("urn:uuid:{device}")), "the card's UUID: {text}");

    // Fed and audited; on the CRL as held while pending.
    let (_, page) = f.call(Method::GET, "/v1/changes?limit=1000", Some(f.token("auditor")), None).await;
    let fed =
        page["changes"].as_array().unwrap().iter().any(|c| {
            c["record"]["type"] == "certificate" && c["record"]["record"]["serial"] == serial.as_str()
        });
    assert!(fed, "the certificate is in the change feed");
    let (_, audit) = f.call(Method::GET, "/v1/audit?limit=1000", Some(f.token("auditor")), None).await;
    assert!(audit["events"].as_array().unwrap().iter().any(|e| e["action"] == "certificate.issue"));
    let crl = f.crl_text().await;
    assert!(crl_lists(&crl, &serial) && crl.contains("Certificate Hold"), "pending means held: {crl}");

    // The station records the issuance naming it: valid, on the card, off the CRL.
    let recorded = f.op("issuer", issuance_of(device, Some(request), &issued)).await;
    assert!(recorded.is_accepted(), "{recorded:?}");
    assert_eq!(device_state(&recorded), "active");
    match record(&recorded, "certificate").first() {
        Some(proto::Record::Certificate(c)) => {
            assert_eq!((c.serial.as_str(), c.state.name()), (serial.as_str(), "valid"));
        }
        other => panic!("{other:?}"),
    }
    match record(&recorded, "device").first() {
        Some(proto::Record::Device(d)) => assert_eq!(d.certificates.len(), 1),
        other => panic!("{other:?}"),
    }
    assert!(!crl_lists(&f.crl_text().await, &serial), "a valid certificate is not on the CRL");
    // Naming it again (another card job) is refused.
    let (_, device2) = f.approved_card().await;
    let twice = f.op("issuer", issuance_of(device2, None, &issued)).await;
    assert_eq!(twice.rejection_code(), Some("already_exists"), "{twice:?}");
    let (status, report) = f.call(Method::GET, "/v1/audit/verify", Some(f.token("auditor")), None).await;
    assert_eq!((status, report["intact"].as_bool()), (StatusCode::OK, Some(true)));
}

/// Hold, release and revoke as operations decided by the certificate
/// machine, and the CRL following; a failed card job revokes its pending
/// certificates.
pub async fn certificate_revocation_and_crl(factory: Factory) {
    let f = Fixture::new(factory).await;
    let (request, device) = f.approved_card().await;
    let issued = f.issued_certificate(device).await;
    let serial = issued["serial"].as_str().unwrap().to_owned();
    let certificate: domain::CertificateId =
        serde_json::from_value(issued["certificate"]["id"].clone()).unwrap();
    let change = |change| {
        OperationKind::ChangeCertificate(proto::ChangeCertificate {
            certificate,
            change,
            notes: Some("n".into()),
        })
    };
    // A pending certificate cannot be released before its card is recorded.
    let early = f.op("retirer", change(proto::CertificateChange::Release)).await;
    assert_eq!(early.rejection_code(), Some("state_not_allowed"), "{early:?}");
    assert!(f.op("issuer", issuance_of(device, Some(request), &issued)).await.is_accepted());
    assert!(!crl_lists(&f.crl_text().await, &serial));

    let state_of = |answer: &Answer| match record(answer, "certificate").first() {
        Some(proto::Record::Certificate(c)) => c.state,
        other => panic!("{other:?}"),
    };
    let refused = f.op("issuer", change(proto::CertificateChange::Hold)).await;
    assert_eq!(refused.rejection_code(), Some("not_permitted"), "holding needs Cancel/Revoke");
    let held = f.op("retirer", change(proto::CertificateChange::Hold)).await;
    assert_eq!(state_of(&held).name(), "on_hold");
    let crl = f.crl_text().await;
    assert!(crl_lists(&crl, &serial) && crl.contains("Certificate Hold"), "{crl}");

    let released = f.op("retirer", change(proto::CertificateChange::Release)).await;
    assert_eq!(state_of(&released).name(), "valid");
    assert!(!crl_lists(&f.crl_text().await, &serial), "a released certificate leaves the CRL");

    let reason = domain::RevocationReason::KeyCompromise;
    let revoked = f.op("retirer", change(proto::CertificateChange::Revoke { reason })).await;
    assert_eq!(state_of(&revoked), domain::CertificateState::Revoked { reason });
    let crl = f.crl_text().await;
    assert!(crl_lists(&crl, &serial) && crl.contains("Key Compromise"), "{crl}");
    let again = f.op("retirer", change(proto::CertificateChange::Release)).await;
    assert_eq!(again.rejection_code(), Some("state_not_allowed"), "revoked is final");

    // openssl with the CRL: the revoked certificate no longer verifies.
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    std::fs::write(path("ca.pem"), f.get_bytes("/v1/ca").await.2).unwrap();
    std::fs::write(path("crl.der"), f.get_bytes("/v1/crl").await.2).unwrap();
    std::fs::write(path("cert.der"), hex::decode(issued["der"].as_str().unwrap()).unwrap()).unwrap();
    assert!(openssl(&["x509", "-inform", "DER", "-in", &path("cert.der"), "-out", &path("cert.pem")]).0);
    assert!(openssl(&["crl", "-inform", "DER", "-in", &path("crl.der"), "-out", &path("crl.pem")]).0);
    let (ok, text) = openssl(&[
        "verify",
        "-crl_check",
        "-CAfile",
        &path("ca.pem"),
        "-CRLfile",
        &path("crl.pem"),
        &path("cert.pem"),
    ]);
    assert!(!ok && text.contains("revoked"), "openssl refuses a revoked certificate: {text}");

    // A card job that fails: its pending certificate is revoked.
    let (request2, device2) = f.approved_card().await;
    let pending = f.issued_certificate(device2).await;
    let failed = f
        .op(
            "issuer",
            OperationKind::RecordProductionFailure(proto::RecordProductionFailure {
                device: device2,
                request: Some(request2),
                route: domain::IssueRoute::Single,
                message: "card removed".into(),
            }),
        )
        .await;
    assert!(failed.is_accepted(), "{failed:?}");
    let revoked_pending = record(&failed, "certificate")
        .into_iter()
        .any(|r| matches!(r, proto::Record::Certificate(c) if c.serial == pending["serial"].as_str().unwrap() && c.state.name() == "revoked"));
    assert!(revoked_pending, "{failed:?}");
    let crl = f.crl_text().await;
    assert!(
        crl_lists(&crl, pending["serial"].as_str().unwrap()) && crl.contains("Cessation Of Operation"),
        "{crl}"
    );
}

/// What openssl makes of the registry's OCSP answer about `cert` (PEM
/// files in `dir`): the request built by `openssl ocsp`, sent by POST, or
/// by GET when `by_get`, the answer verified against the CA and printed.
async fn ocsp_status(f: &Fixture, dir: &std::path::Path, target: &[&str], by_get: bool) -> String {
    let path = |name: &str| dir.join(name).to_str().unwrap().to_owned();
    let ca = path("ca.pem");
    let mut args = vec!["ocsp", "-issuer", ca.as_str()];
    args.extend_from_slice(target);
    let request_file = path("req.der");
    let (ok, text) = openssl(&[&args[..], &["-reqout", &request_file]].concat());
    assert!(ok, "{text}");
    let request = std::fs::read(&request_file).unwrap();
    let http = if by_get {
        use base64::Engine;
        let encoded = base64::engine::general_purpose::STANDARD.encode(&request);
        let encoded = encoded.replace('/', "%2F").replace('+', "%2B").replace('=', "%3D");
        Request::builder().uri(format!("/ocsp/{encoded}")).body(Body::empty()).unwrap()
    } else {
        Request::builder()
            .method(Method::POST)
            .uri("/ocsp")
            .header("content-type", "application/ocsp-request")
            .body(Body::from(request))
            .unwrap()
    };
    let response = f.app.clone().oneshot(http).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/ocsp-response");
    let der = response.into_body().collect().await.unwrap().to_bytes();
    std::fs::write(path("resp.der"), &der).unwrap();
    let response_file = path("resp.der");
    let (ok, text) = openssl(
        // The nonce sent is not checked here (a second run builds a request
        // of its own); `openssl ocsp -url` in the CLI test checks its echo.
        &[&args[..], &["-no_nonce", "-respin", &response_file, "-CAfile", &ca, "-resp_text"]].concat(),
    );
    assert!(ok, "{text}");
    assert!(text.contains("Response verify OK"), "the CA signed the answer: {text}");
    text
}

/// OCSP follows the certificate's state in the records, on every storage:
/// good, held (revoked, certificateHold), released (good), revoked
/// (keyCompromise); a serial never issued is unknown; GET answers as POST.
pub async fn ocsp_follows_certificate_states(factory: Factory) {
    let f = Fixture::new(factory).await;
    let (request, device) = f.approved_card().await;
    let issued = f.issued_certificate(device).await;
    let certificate: domain::CertificateId =
        serde_json::from_value(issued["certificate"]["id"].clone()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    std::fs::write(path("ca.pem"), f.get_bytes("/v1/ca").await.2).unwrap();
    std::fs::write(path("cert.der"), hex::decode(issued["der"].as_str().unwrap()).unwrap()).unwrap();
    assert!(openssl(&["x509", "-inform", "DER", "-in", &path("cert.der"), "-out", &path("cert.pem")]).0);
    let (status, content_type, ca_der) = f.get_bytes("/ca.crt").await;
    assert_eq!((status, content_type.as_str()), (StatusCode::OK, "application/pkix-cert"));
    std::fs::write(path("ca.der"), ca_der).unwrap();
    let (ok, text) = openssl(&["x509", "-inform", "DER", "-in", &path("ca.der"), "-noout", "-subject"]);
    assert!(ok && text.contains("Suite CA"), "{text}");
    let (status, content_type, _) = f.get_bytes("/crl").await;
    assert_eq!((status, content_type.as_str()), (StatusCode::OK, "application/pkix-crl"));

    let cert = path("cert.pem");
    let target = ["-cert", cert.as_str()];
    let status_line = |text: &str| {
        text.lines().find(|l| l.starts_with(&format!("{cert}: "))).unwrap_or_default().to_owned()
    };
    // Recorded on hold until the card is known to hold it.
    let text = ocsp_status(&f, dir.path(), &target, false).await;
    assert_eq!(status_line(&text), format!("{cert}: revoked"), "{text}");
    assert!(text.contains("Reason: certificateHold"), "{text}");
    assert!(f.op("issuer", issuance_of(device, Some(request), &issued)).await.is_accepted());
    let text = ocsp_status(&f, dir.path(), &target, false).await;
    assert_eq!(status_line(&text), format!("{cert}: good"), "{text}");
    assert_eq!(status_line(&ocsp_status(&f, dir.path(), &target, true).await), format!("{cert}: good"));

    let change = |change| {
        OperationKind::ChangeCertificate(proto::ChangeCertificate { certificate, change, notes: None })
    };
    assert!(f.op("retirer", change(proto::CertificateChange::Hold)).await.is_accepted());
    let text = ocsp_status(&f, dir.path(), &target, true).await;
    assert_eq!(status_line(&text), format!("{cert}: revoked"), "{text}");
    assert!(text.contains("Reason: certificateHold"), "{text}");
    assert!(f.op("retirer", change(proto::CertificateChange::Release)).await.is_accepted());
    assert_eq!(status_line(&ocsp_status(&f, dir.path(), &target, false).await), format!("{cert}: good"));
    let reason = domain::RevocationReason::KeyCompromise;
    assert!(f.op("retirer", change(proto::CertificateChange::Revoke { reason })).await.is_accepted());
    let text = ocsp_status(&f, dir.path(), &target, false).await;
    assert_eq!(status_line(&text), format!("{cert}: revoked"), "{text}");
    assert!(text.contains("Reason: keyCompromise"), "{text}");

    // A serial this CA never issued.
    let text = ocsp_status(&f, dir.path(), &["-serial", "0x4242424242"], false).await;
    assert!(text.lines().any(|l| l == "0x4242424242: unknown"), "{text}");

    // Garbage is answered malformedRequest (OCSPResponseStatus 1), never a 5xx;
    // a body over the limit is refused.
    for (body, content_type, expected) in [
        (vec![0x30, 0x03, 0x02, 0x01], "application/ocsp-request", StatusCode::OK),
        (
            vec![0u8; registry::http::PUBLICATION_BODY_LIMIT + 1],
            "application/ocsp-request",
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (b"{}".to_vec(), "application/json", StatusCode::UNSUPPORTED_MEDIA_TYPE),
    ] {
        let http = Request::builder()
            .method(Method::POST)
            .uri("/ocsp")
            .header("content-type", content_type)
            .body(Body::from(body))
            .unwrap();
        let response = f.app.clone().oneshot(http).await.unwrap();
        assert_eq!(response.status(), expected);
        if expected == StatusCode::OK {
            let der = response.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(&der[..], [0x30, 0x03, 0x0A, 0x01, 0x01], "malformedRequest");
        }
    }
    let (status, _, der) = f.get_bytes("/ocsp/not%20base64!").await;
    assert_eq!((status, der.as_slice()), (StatusCode::OK, &[0x30, 0x03, 0x0A, 0x01, 0x01][..]));
}

/// Sign-in deletes sessions that expired more than a day ago.
pub async fn expired_sessions_are_purged(factory: Factory) {
    let f = Fixture::new(factory).await;
    let sessions = table_rows(&f.dump(), "sessions");
    assert_eq!(sessions, ROLES.len(), "one session per role");
    let offset = Arc::new(std::sync::atomic::AtomicI64::new(0));
    let moved = offset.clone();
    let registry = f.registry.clone().with_clock(registry::Clock::from_fn(move || {
        OffsetDateTime::now_utc() + time::Duration::seconds(moved.load(std::sync::atomic::Ordering::SeqCst))
    }));
    let app = registry::app(registry);
    let login = || {
        Request::builder()
            .method(Method::POST)
            .uri("/v1/sessions")
            .header("content-type", "application/json")
            .body(Body::from(json!({"username": "issuer", "password": password("issuer")}).to_string()))
            .unwrap()
    };
    // Expired, but recently: kept.
    offset.store(13 * 3600, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(app.clone().oneshot(login()).await.unwrap().status(), StatusCode::CREATED);
    assert_eq!(table_rows(&f.dump(), "sessions"), ROLES.len() + 1, "recently expired sessions are kept");
    // More than a day after they expired: gone; the sessions still running stay.
    offset.store((12 + 25) * 3600, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(app.oneshot(login()).await.unwrap().status(), StatusCode::CREATED);
    assert_eq!(table_rows(&f.dump(), "sessions"), 2, "only the two later sessions remain");
}

/// An issued card takes new certificates only for an approved update
/// (UC-UPDATE), with the update's profile; a reprovision supersedes the
/// old certificates but keeps the ones it names.
pub async fn certificates_for_an_update(factory: Factory) {
    let f = Fixture::new(factory).await;
    let device = f.issued_card().await;
    let key = card_key();
    let challenge = f.challenge("issuer").await;
    let before = f.dump();
    let (status, body) =
        f.issue("issuer", issue_body(Uuid::now_v7(), device, &key, &challenge, &challenge)).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::CONFLICT, Some("state_not_allowed")), "{body}");
    assert_eq!(before, f.dump(), "refused, nothing changed");

    let request = RequestId::new(Uuid::now_v7());
    let update = f
        .op(
            "issuer",
            OperationKind::RequestUpdate(proto::RequestUpdate {
                request,
                device,
                profile: f.profile,
                reason: domain::UpdateReason::ReprovisionAllContent,
                notes: None,
            }),
        )
        .await;
    assert!(update.is_accepted(), "{update:?}");
    let (status, issued) =
        f.issue("issuer", issue_body(Uuid::now_v7(), device, &key, &challenge, &challenge)).await;
    assert_eq!(status, StatusCode::OK, "an approved update takes a certificate: {issued}");
    let recorded = f.op("issuer", issuance_of(device, Some(request), &issued)).await;
    assert!(recorded.is_accepted(), "{recorded:?}");
    let states: Vec<(String, &str)> = record(&recorded, "certificate")
        .into_iter()
        .map(|r| match r {
            proto::Record::Certificate(c) => (c.serial.clone(), c.state.name()),
            other => panic!("{other:?}"),
        })
        .collect();
    let serial = issued["serial"].as_str().unwrap();
    assert!(states.contains(&(serial.to_owned(), "valid")), "the new certificate is valid: {states:?}");
    assert!(
        states.iter().any(|(s, state)| s != serial && *state == "revoked"),
        "the old one is superseded: {states:?}"
    );
    let crl = f.crl_text().await;
    assert!(!crl_lists(&crl, serial), "{crl}");
}

/// RecordIssuance revokes the certificates the CA issued for the card that
/// it does not name (their keys are on no card), even for an issuer without
/// Cancel/Revoke; the named one reaches its end state.
pub async fn issuance_revokes_pending_certificates(factory: Factory) {
    let f = Fixture::new(factory).await;
    let (request, device) = f.approved_card().await;
    let stray = f.issued_certificate(device).await;
    let kept = f.issued_certificate(device).await;
    let stray_serial = stray["serial"].as_str().unwrap();
    let kept_serial = kept["serial"].as_str().unwrap();
    let recorded = f.op("issuer", issuance_of(device, Some(request), &kept)).await;
    assert!(recorded.is_accepted(), "{recorded:?}");
    let states: Vec<(String, domain::CertificateState)> = record(&recorded, "certificate")
        .into_iter()
        .map(|r| match r {
            proto::Record::Certificate(c) => (c.serial.clone(), c.state),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(states.len(), 2, "{states:?}");
    assert!(states.contains(&(kept_serial.to_owned(), domain::CertificateState::Valid)), "{states:?}");
    let reason = domain::RevocationReason::CessationOfOperation;
    assert!(
        states.contains(&(stray_serial.to_owned(), domain::CertificateState::Revoked { reason })),
        "{states:?}"
    );
    let crl = f.crl_text().await;
    assert!(crl_lists(&crl, stray_serial) && crl.contains("Cessation Of Operation"), "{crl}");
    assert!(!crl_lists(&crl, kept_serial), "{crl}");
    // A later issuance for another card leaves this card's certificates alone.
    let other = f.issued_card().await;
    assert_ne!(other, device);
    assert!(!crl_lists(&f.crl_text().await, kept_serial));
}

/// "Issue card" without a request to approve (seed 002, UC-ISSUE direct):
/// `RequestCard` with the direct route is checked by
/// `domain::rules::check_direct_issue` and the deployment's approval step,
/// and starts the card and its request approved for the operator to issue.
pub async fn direct_issue(factory: Factory) {
    let f = Fixture::new(factory).await;
    let storage = f.registry.storage();
    let now = OffsetDateTime::now_utc();
    let direct_profile = ProfileId::new(Uuid::now_v7());
    admin::add_profile(storage, direct_profile, settings("Direct", false), now).unwrap();
    let direct = |person: PersonId, profile: ProfileId| {
        OperationKind::RequestCard(proto::RequestCard {
            request: RequestId::new(Uuid::now_v7()),
            device: DeviceId::new(Uuid::now_v7()),
            person,
            profile,
            reason: None,
            notes: Some("walk-in".into()),
            route: Some(domain::IssueRoute::Direct),
        })
    };
    let cardholder = f.cardholder;
    let mut use_cases = UseCases::all();
    use_cases.disable(domain::UseCase::DirectIssue).unwrap();
    admin::set_settings(
        storage,
        &DeploymentSettings { use_cases, approval_step: false, ..Default::default() },
        now,
    )
    .unwrap();
    let before = records_only(&f.dump());
    let off = f.op("admin", direct(cardholder, direct_profile)).await;
    assert_eq!(off.rejection_code(), Some("use_case_disabled"), "{off:?}");
    assert_eq!(before, records_only(&f.dump()), "refused, nothing changed");

    let all = DeploymentSettings { use_cases: UseCases::all(), approval_step: false, ..Default::default() };
    admin::set_settings(storage, &all, now).unwrap();
    let refusals = [
        ("admin", direct(cardholder, f.profile), "approval_required"),
        ("requester", direct(cardholder, direct_profile), "not_permitted"),
        ("issuer", direct(cardholder, direct_profile), "not_permitted"),
        ("admin", direct(f.people["admin"], direct_profile), "actor_is_recipient"),
    ];
    for (role, op, code) in refusals {
        let answer = f.op(role, op).await;
        assert_eq!(answer.rejection_code(), Some(code), "{role}: {answer:?}");
    }
    let stepped =
        DeploymentSettings { use_cases: UseCases::all(), approval_step: true, ..Default::default() };
    admin::set_settings(storage, &stepped, now).unwrap();
    let answer = f.op("admin", direct(cardholder, direct_profile)).await;
    assert_eq!(answer.rejection_code(), Some("approval_required"), "the approval step applies: {answer:?}");
    admin::set_settings(storage, &all, now).unwrap();
    let batch = OperationKind::RequestCard(proto::RequestCard {
        route: Some(domain::IssueRoute::Batch),
        ..match direct(cardholder, direct_profile) {
            OperationKind::RequestCard(r) => r,
            _ => unreachable!(),
        }
    });
    assert_eq!(f.op("admin", batch).await.rejection_code(), Some("invalid"));

    // "Request card" (ordinary requests) may be off: the direct card's
    // request follows the card.
    let mut without_requests = UseCases::all();
    without_requests.disable(domain::UseCase::Request).unwrap();
    let settings_now =
        DeploymentSettings { use_cases: without_requests, approval_step: false, ..Default::default() };
    admin::set_settings(storage, &settings_now, now).unwrap();
    let op = direct(cardholder, direct_profile);
    let OperationKind::RequestCard(asked) = &op else { unreachable!() };
    let (request, device) = (asked.request, asked.device);
    let answer = f.op("admin", op).await;
    assert!(answer.is_accepted(), "{answer:?}");
    assert_eq!(device_state(&answer), "approved");
    match record(&answer, "request").first() {
        Some(proto::Record::Request(r)) => {
            assert_eq!(r.state, domain::RequestState::Approved);
            assert_eq!(r.approver, Some(f.people["admin"]), "decided by the issuing operator");
        }
        other => panic!("{other:?}"),
    }
    let issued = f.issued_certificate(device).await;
    let OperationKind::RecordIssuance(mut record_op) = issuance_of(device, Some(request), &issued) else {
        unreachable!()
    };
    record_op.route = domain::IssueRoute::Direct;
    let recorded = f.op("admin", OperationKind::RecordIssuance(record_op)).await;
    assert!(recorded.is_accepted(), "{recorded:?}");
    assert_eq!(device_state(&recorded), "active");
    match record(&recorded, "request").first() {
        Some(proto::Record::Request(r)) => assert_eq!(r.state, domain::RequestState::Completed),
        other => panic!("{other:?}"),
    }

    // A direct card whose production fails (reported on the single route,
    // as a later `issue --device` would): its request fails with it.
    let op = direct(cardholder, direct_profile);
    let OperationKind::RequestCard(asked) = &op else { unreachable!() };
    let (request, device) = (asked.request, asked.device);
    assert!(f.op("admin", op).await.is_accepted());
    let failed = f
        .op(
            "admin",
            OperationKind::RecordProductionFailure(proto::RecordProductionFailure {
                device,
                request: Some(request),
                route: domain::IssueRoute::Single,
                message: "card removed".into(),
            }),
        )
        .await;
    assert!(failed.is_accepted(), "{failed:?}");
    assert_eq!(device_state(&failed), "production_failed");
    match record(&failed, "request").first() {
        Some(proto::Record::Request(r)) => assert_eq!(r.state, domain::RequestState::Failed),
        other => panic!("{other:?}"),
    }
}

/// UC-TEMP at the registry: every transition of a temporary card, the
/// holder's permanent card following in the same transaction (assign →
/// temporarily inactive, certificates on hold; withdraw "no longer needed" →
/// active, valid; "lost" → inactive, on hold), escrow for a temporary card,
/// and the refusals (permission, use case off, state, profile, own card,
/// someone else's permanent card, dates).
pub async fn temporary_cards(factory: Factory) {
    let f = Fixture::new(factory).await;
    let storage = f.registry.storage();
    let now = OffsetDateTime::now_utc();
    let temp_profile = ProfileId::new(Uuid::now_v7());
    let temp_settings = ProfileSettings { is_temporary: true, slots: vec![], ..settings("Temporary", false) };
    admin::add_profile(storage, temp_profile, temp_settings, now).unwrap();
    let keyed_profile = ProfileId::new(Uuid::now_v7());
    admin::add_profile(
        storage,
        keyed_profile,
        ProfileSettings { is_temporary: true, ..settings("Keyed", false) },
        now,
    )
    .unwrap();
    let permanent = f.issued_card().await;
    let cardholder = f.cardholder;
    let order = |card: DeviceId, profile: ProfileId| {
        OperationKind::OrderTemporaryCard(proto::OrderTemporaryCard { card, profile, serial: None })
    };
    let change = |card: DeviceId, command: domain::TemporaryCardCommand| {
        OperationKind::ChangeTemporaryCard(proto::ChangeTemporaryCard {
            card,
            command,
            serial: None,
            notes: None,
        })
    };
    let temporary_of = |answer: &Answer| match record(answer, "temporary_card").first() {
        Some(proto::Record::TemporaryCard(t)) => (*t).clone(),
        other => panic!("no temporary card in {other:?} of {answer:?}"),
    };
    let permanent_of = |answer: &Answer| {
        let device = match record(answer, "device").first() {
            Some(proto::Record::Device(d)) => d.state.name().to_owned(),
            other => panic!("no device in {other:?}"),
        };
        let certificates: Vec<String> = record(answer, "certificate")
            .iter()
            .map(|r| match r {
                proto::Record::Certificate(c) => c.state.name().to_owned(),
                _ => unreachable!(),
            })
            .collect();
        (device, certificates)
    };
    use domain::TemporaryCardCommand as C;
    use domain::TemporaryReturnReason as R;

    // Ordering: Manage temporary cards, a temporary-card profile without slots.
    let card = DeviceId::new(Uuid::now_v7());
    let refusals = [
        ("issuer", order(card, temp_profile), "not_permitted"),
        ("admin", order(card, f.profile), "profile_not_temporary"),
        ("admin", order(card, keyed_profile), "invalid_profile"),
        ("admin", order(permanent, temp_profile), "already_exists"),
        ("admin", order(card, ProfileId::new(Uuid::now_v7())), "not_found"),
    ];
    for (role, op, code) in refusals {
        let before = records_only(&f.dump());
        let answer = f.op(role, op).await;
        assert_eq!(answer.rejection_code(), Some(code), "{role}: {answer:?}");
        assert_eq!(before, records_only(&f.dump()), "a refused order changes no record");
    }
    let ordered = f.op("admin", order(card, temp_profile)).await;
    assert_eq!(temporary_of(&ordered).state, domain::TemporaryCardState::Ordered);
    assert_eq!(f.op("admin", order(card, temp_profile)).await.rejection_code(), Some("already_exists"));

    // ordered → produced (with its serial); not initialized before that.
    assert_eq!(f.op("admin", change(card, C::Initialize)).await.rejection_code(), Some("state_not_allowed"));
    let produced = f
        .op(
            "admin",
            OperationKind::ChangeTemporaryCard(proto::ChangeTemporaryCard {
                card,
                command: C::MarkProduced,
                serial: Some("TMP-7".into()),
                notes: Some("delivered".into()),
            }),
        )
        .await;
    let t = temporary_of(&produced);
    assert_eq!((t.state, t.serial.as_deref()), (domain::TemporaryCardState::Produced, Some("TMP-7")));
    let serial_elsewhere = OperationKind::ChangeTemporaryCard(proto::ChangeTemporaryCard {
        card,
        command: C::Lock,
        serial: Some("X".into()),
        notes: None,
    });
    assert_eq!(f.op("admin", serial_elsewhere).await.rejection_code(), Some("invalid"));

    // Escrow before initialization: Manage temporary cards.
    let store = |kind, secret: &str| {
        OperationKind::StoreEscrow(proto::StoreEscrow {
            device: card,
            secret_kind: kind,
            secret: proto::EscrowSecret::new(secret),
        })
    };
    assert_eq!(
        f.op("issuer", store(EscrowKind::Puk, "3132333435363738")).await.rejection_code(),
        Some("not_permitted")
    );
    assert!(f.op("admin", store(EscrowKind::Puk, "3132333435363738")).await.is_accepted());
    assert!(f.op("admin", store(EscrowKind::ManagementKey, "00112233")).await.is_accepted());
    let uri = format!("/v1/devices/{card}/escrow/puk");
    let (status, body) = f.call(Method::GET, &uri, Some(f.token("issuer")), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = f.call(Method::GET, &uri, Some(f.token("admin")), None).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, Some("3132333435363738")));

    // Initialize: its own use case (off by default), then produced → unassigned.
    let mut use_cases = UseCases::all();
    use_cases.disable(domain::UseCase::TempInitialize).unwrap();
    admin::set_settings(
        storage,
        &DeploymentSettings { use_cases, approval_step: false, ..Default::default() },
        now,
    )
    .unwrap();
    assert_eq!(f.op("admin", change(card, C::Initialize)).await.rejection_code(), Some("use_case_disabled"));
    let all = DeploymentSettings { use_cases: UseCases::all(), approval_step: false, ..Default::default() };
    admin::set_settings(storage, &all, now).unwrap();
    assert_eq!(f.op("issuer", change(card, C::Initialize)).await.rejection_code(), Some("not_permitted"));
    let initialized = f.op("admin", change(card, C::Initialize)).await;
    assert_eq!(temporary_of(&initialized).state, domain::TemporaryCardState::Unassigned);

    // Assign: not to yourself, not with someone else's card, not until a past date.
    let day = time::Duration::days(1);
    let assign = |person: PersonId, until: Option<OffsetDateTime>, permanent_card: Option<DeviceId>| {
        change(card, C::Assign { person, until, permanent_card })
    };
    let refusals = [
        ("admin", assign(f.people["admin"], None, None), "actor_is_recipient"),
        ("admin", assign(f.people["nobody"], None, Some(permanent)), "invalid"),
        ("admin", assign(cardholder, Some(now - day), Some(permanent)), "date_not_in_future"),
        ("admin", assign(PersonId::new(Uuid::now_v7()), None, None), "not_found"),
        ("issuer", assign(cardholder, None, Some(permanent)), "not_permitted"),
    ];
    for (role, op, code) in refusals {
        let before = records_only(&f.dump());
        let answer = f.op(role, op).await;
        assert_eq!(answer.rejection_code(), Some(code), "{role}: {answer:?}");
        assert_eq!(before, records_only(&f.dump()), "a refused assignment changes no record");
    }
    let assigned = f.op("admin", assign(cardholder, Some(now + day), Some(permanent))).await;
    let t = temporary_of(&assigned);
    assert_eq!(t.state, domain::TemporaryCardState::Assigned);
    assert_eq!((t.holder, t.permanent_card), (Some(cardholder), Some(permanent)));
    assert_eq!(permanent_of(&assigned), ("temporarily_inactive".to_owned(), vec!["on_hold".to_owned()]));
    assert_eq!(f.op("admin", change(card, C::Expire)).await.rejection_code(), Some("not_yet_expired"));
    assert_eq!(f.op("admin", change(card, C::Initialize)).await.rejection_code(), Some("state_not_allowed"));

    // Withdraw, no longer needed: the permanent card is active again.
    let back = f.op("admin", change(card, C::Withdraw { reason: R::NoLongerNeeded })).await;
    let t = temporary_of(&back);
    assert_eq!((t.state, t.holder, t.permanent_card), (domain::TemporaryCardState::Unassigned, None, None));
    assert_eq!(permanent_of(&back), ("active".to_owned(), vec!["valid".to_owned()]));
    assert_eq!(
        f.op("admin", change(card, C::Withdraw { reason: R::Lost })).await.rejection_code(),
        Some("state_not_allowed")
    );

    // Withdraw, lost: the permanent card stays inactive, its certificates on hold.
    assert!(f.op("admin", assign(cardholder, None, Some(permanent))).await.is_accepted());
    let lost = f.op("admin", change(card, C::Withdraw { reason: R::Lost })).await;
    assert_eq!(temporary_of(&lost).state, domain::TemporaryCardState::Unassigned);
    assert_eq!(permanent_of(&lost), ("inactive".to_owned(), vec![]), "the certificates stay on hold");
    let held = registry::storage::read(storage, |tx| tx.certificates_of(permanent)).unwrap();
    assert!(held.iter().all(|c| c.state == domain::CertificateState::OnHold), "{held:?}");
    // An inactive permanent card cannot be suspended again.
    assert_eq!(
        f.op("admin", assign(cardholder, None, Some(permanent))).await.rejection_code(),
        Some("state_not_allowed")
    );

    // Expiry once the period has passed, then withdrawn.
    let soon = OffsetDateTime::now_utc() + time::Duration::milliseconds(1200);
    assert!(f.op("admin", assign(cardholder, Some(soon), None)).await.is_accepted());
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let expired = f.op("nobody", change(card, C::Expire)).await;
    assert_eq!(temporary_of(&expired).state, domain::TemporaryCardState::Expired, "any actor records expiry");
    assert_eq!(f.op("admin", change(card, C::Lock)).await.rejection_code(), Some("state_not_allowed"));
    let back = f.op("admin", change(card, C::Withdraw { reason: R::NoLongerNeeded })).await;
    assert_eq!(temporary_of(&back).state, domain::TemporaryCardState::Unassigned);

    // Lock (final).
    assert_eq!(f.op("issuer", change(card, C::Lock)).await.rejection_code(), Some("not_permitted"));
    let locked = f.op("admin", change(card, C::Lock)).await;
    assert_eq!(temporary_of(&locked).state, domain::TemporaryCardState::Locked);
    assert_eq!(
        f.op("admin", assign(cardholder, None, None)).await.rejection_code(),
        Some("state_not_allowed")
    );
    assert_eq!(
        f.op("admin", store(EscrowKind::Puk, "31323334")).await.rejection_code(),
        Some("state_not_allowed")
    );
    assert_eq!(
        f.op("admin", change(DeviceId::new(Uuid::now_v7()), C::Lock)).await.rejection_code(),
        Some("not_found")
    );

    // Locking a lent card: the permanent card leaves `temporarily inactive` for `inactive`.
    let reactivated = f
        .op(
            "admin",
            OperationKind::ChangeDevice(proto::ChangeDevice {
                device: permanent,
                change: proto::DeviceChange::Reactivate,
                notes: None,
            }),
        )
        .await;
    assert_eq!(device_state(&reactivated), "active");
    let second = DeviceId::new(Uuid::now_v7());
    for op in [order(second, temp_profile), change(second, C::MarkProduced), change(second, C::Initialize)] {
        assert!(f.op("admin", op).await.is_accepted());
    }
    let lent = f
        .op(
            "admin",
            change(second, C::Assign { person: cardholder, until: None, permanent_card: Some(permanent) }),
        )
        .await;
    assert_eq!(permanent_of(&lent).0, "temporarily_inactive");
    let locked = f.op("admin", change(second, C::Lock)).await;
    assert_eq!(temporary_of(&locked).state, domain::TemporaryCardState::Locked);
    assert_eq!(temporary_of(&locked).holder, None);
    assert_eq!(permanent_of(&locked), ("inactive".to_owned(), vec![]), "certificates stay on hold");

    // The feed carries temporary cards to stations; the audit chain holds.
    let (status, page) = f.call(Method::GET, "/v1/changes?limit=1000", Some(f.token("auditor")), None).await;
    assert_eq!(status, StatusCode::OK);
    let states: Vec<&str> = page["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| {
            c["record"]["type"] == "temporary_card" && c["record"]["record"]["id"] == card.to_string()
        })
        .map(|c| c["record"]["record"]["state"].as_str().unwrap())
        .collect();
    assert_eq!(
        states,
        [
            "ordered",
            "produced",
            "unassigned",
            "assigned",
            "unassigned",
            "assigned",
            "unassigned",
            "assigned",
            "expired",
            "unassigned",
            "locked"
        ]
    );
    let (status, chain) = f.call(Method::GET, "/v1/audit/verify", Some(f.token("admin")), None).await;
    assert_eq!((status, &chain["intact"]), (StatusCode::OK, &json!(true)), "{chain}");
}

/// Apply latest updates (UC-UPDATE): a certificate the card keeps is named
/// again and stays valid next to the new one; a later update that no longer
/// names it (its slot re-keyed) supersedes it.
pub async fn an_update_keeps_the_certificates_the_card_keeps(factory: Factory) {
    let f = Fixture::new(factory).await;
    let device = f.issued_card().await;
    let update = |request| {
        OperationKind::RequestUpdate(proto::RequestUpdate {
            request,
            device,
            profile: f.profile,
            reason: domain::UpdateReason::ApplyLatestUpdates,
            notes: Some("latest version".into()),
        })
    };
    let certificate_of = |issued: &Value| -> proto::IssuedCertificate {
        let OperationKind::RecordIssuance(r) = issuance_of(device, None, issued) else { unreachable!() };
        r.certificates[0].clone()
    };
    let mut collected: Vec<proto::IssuedCertificate> = Vec::new();
    for round in 0..3 {
        let request = RequestId::new(Uuid::now_v7());
        assert!(f.op("issuer", update(request)).await.is_accepted(), "round {round}");
        let challenge = f.challenge("issuer").await;
        let (status, issued) =
            f.issue("issuer", issue_body(Uuid::now_v7(), device, &card_key(), &challenge, &challenge)).await;
        assert_eq!(status, StatusCode::OK, "round {round}: {issued}");
        let new = certificate_of(&issued);
        let OperationKind::RecordIssuance(mut rec) = issuance(device, Some(request)) else { unreachable!() };
        // Round 1 keeps round 0's certificate; round 2 keeps nothing.
        rec.certificates =
            if round == 1 { vec![collected[0].clone(), new.clone()] } else { vec![new.clone()] };
        let answer = f.op("issuer", OperationKind::RecordIssuance(rec)).await;
        assert!(answer.is_accepted(), "round {round}: {answer:?}");
        let states: Vec<(domain::CertificateId, &str)> = record(&answer, "certificate")
            .into_iter()
            .map(|r| match r {
                proto::Record::Certificate(c) => (c.id, c.state.name()),
                other => panic!("{other:?}"),
            })
            .collect();
        assert!(states.contains(&(new.id, "valid")), "round {round}: the new one is valid: {states:?}");
        match round {
            1 => assert!(
                !states.iter().any(|(id, _)| *id == collected[0].id),
                "round 1: the kept certificate is untouched (valid): {states:?}"
            ),
            2 => {
                for old in &collected {
                    assert!(states.contains(&(old.id, "revoked")), "round 2: {old:?} superseded: {states:?}");
                }
            }
            _ => {}
        }
        collected.push(new);
    }
    // Naming a certificate the card does not keep (revoked) is refused.
    let request = RequestId::new(Uuid::now_v7());
    assert!(f.op("issuer", update(request)).await.is_accepted());
    let OperationKind::RecordIssuance(mut rec) = issuance(device, Some(request)) else { unreachable!() };
    rec.certificates = vec![collected[0].clone()];
    let answer = f.op("issuer", OperationKind::RecordIssuance(rec)).await;
    assert!(!answer.is_accepted(), "a revoked certificate is not kept: {answer:?}");
}

/// UC-BATCH options at the registry: end states other than the profile's
/// only for a batch (and then honoured), a production-failed card approved
/// again by `RetryIssuance` with its failed request, and a retry refused
/// for a card that is not production failed.
pub async fn batch_options_and_retry(factory: Factory) {
    let f = Fixture::new(factory).await;
    let (request, device) = f.approved_card().await;
    let issued = f.issued_certificate(device).await;
    let OperationKind::RecordIssuance(mut single) = issuance_of(device, Some(request), &issued) else {
        unreachable!()
    };
    single.card_end_state = Some(domain::CardEndState::Issued);
    let refused = f.op("admin", OperationKind::RecordIssuance(single.clone())).await;
    assert_eq!(refused.rejection_code(), Some("invalid"), "end states are a batch option: {refused:?}");

    // The card fails; retried: approved again, its request too.
    let retry =
        |route| OperationKind::RetryIssuance(proto::RetryIssuance { device, request: Some(request), route });
    let early = f.op("issuer", retry(domain::IssueRoute::Single)).await;
    assert_eq!(early.rejection_code(), Some("state_not_allowed"), "{early:?}");
    let failed = f
        .op(
            "issuer",
            OperationKind::RecordProductionFailure(proto::RecordProductionFailure {
                device,
                request: Some(request),
                route: domain::IssueRoute::Single,
                message: "the card failed".into(),
            }),
        )
        .await;
    assert_eq!(device_state(&failed), "production_failed");
    let batch_without_permission = f.op("issuer", retry(domain::IssueRoute::Batch)).await;
    assert_eq!(
        batch_without_permission.rejection_code(),
        Some("not_permitted"),
        "{batch_without_permission:?}"
    );
    let retried = f.op("issuer", retry(domain::IssueRoute::Single)).await;
    assert_eq!(device_state(&retried), "approved", "{retried:?}");
    let again = record(&retried, "request");
    assert!(
        matches!(again.first(), Some(proto::Record::Request(r)) if r.state == domain::RequestState::Approved),
        "{retried:?}"
    );

    // Issued in a batch with its options: card issued, certificate on hold.
    let issued = f.issued_certificate(device).await;
    let OperationKind::RecordIssuance(mut batch) = issuance_of(device, Some(request), &issued) else {
        unreachable!()
    };
    batch.route = domain::IssueRoute::Batch;
    batch.card_end_state = Some(domain::CardEndState::Issued);
    batch.certificate_end_state = Some(domain::CertificateEndState::OnHold);
    let recorded = f.op("admin", OperationKind::RecordIssuance(batch)).await;
    assert!(recorded.is_accepted(), "{recorded:?}");
    assert_eq!(device_state(&recorded), "issued");
    let on_hold = record(&recorded, "certificate").into_iter().any(|r| {
        matches!(r, proto::Record::Certificate(c) if c.serial == issued["serial"].as_str().unwrap()
            && c.state == domain::CertificateState::OnHold)
    });
    assert!(on_hold, "the certificate ends on hold as chosen: {recorded:?}");
    let late = f.op("issuer", retry(domain::IssueRoute::Single)).await;
    assert_eq!(late.rejection_code(), Some("state_not_allowed"), "an issued card is not retried: {late:?}");
}

/// The helpdesk's answer to an offline unblock challenge (UC-PIN): who may
/// answer, refusals of bad codes changing nothing, the escrowed PUK moving
/// once (a repeat within the window keeps it), the identity-check note in
/// the audit; and the noted escrow fetch.
pub async fn offline_unblock(factory: Factory) {
    use piv::offline_unblock::{device_tag, Challenge, Response};
    let f = Fixture::new(factory).await;
    let (request, device) = f.approved_card().await;
    let key = piv::ManagementKey::new(piv::ManagementKeyAlgorithm::Aes256, &[0x42; 32]).unwrap();
    for (kind, secret) in [
        (EscrowKind::ManagementKey, proto::EscrowSecret::from_bytes(key.expose_secret())),
        (EscrowKind::Puk, proto::EscrowSecret::from_bytes(b"12345678")),
    ] {
        let op = OperationKind::StoreEscrow(proto::StoreEscrow { device, secret_kind: kind, secret });
        assert!(f.op("issuer", op).await.is_accepted());
    }
    assert!(f.op("issuer", issuance(device, Some(request))).await.is_accepted());
    let id = *device.uuid().as_bytes();
    let challenge = |witness: u8| {
        Challenge {
            algorithm: piv::ManagementKeyAlgorithm::Aes256,
            device_tag: device_tag(&id),
            encrypted_witness: key.encrypt_block(&[witness; 16]),
        }
        .code()
    };
    let uri = format!("/v1/devices/{device}/offline-unblock");
    let body = |code: &str, note: &str| Some(json!({ "challenge": code, "identity_check": note }));
    async fn escrowed_puk(f: &Fixture, device: DeviceId) -> String {
        let (status, body) = f
            .call(
                Method::POST,
                &format!("/v1/devices/{device}/escrow/puk"),
                Some(f.token("admin")),
                Some(json!({ "identity_check": "helpdesk check" })),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body.as_str().unwrap().to_owned()
    }
    let before = f.dump();
    let code = challenge(1);
    let (status, _) = f.call(Method::POST, &uri, Some(f.token("issuer")), body(&code, "seen")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "the issuer lacks Unblock PIN");
    let (status, _) = f.call(Method::POST, &uri, None, body(&code, "seen")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = f.call(Method::POST, &uri, Some(f.token("admin")), body(&code, "  ")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "the identity check is required");
    let mut typo: Vec<char> = code.chars().collect();
    typo[0] = if typo[0] == '2' { '3' } else { '2' };
    let typo: String = typo.into_iter().collect();
    let (status, problem) = f.call(Method::POST, &uri, Some(f.token("admin")), body(&typo, "seen")).await;
    assert_eq!((status, problem["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("bad_code")));
    let other = format!("/v1/devices/{}/offline-unblock", f.issued_card().await);
    let after_other_card = f.dump();
    let (status, problem) = f.call(Method::POST, &other, Some(f.token("admin")), body(&code, "seen")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert!(matches!(problem["code"].as_str(), Some("challenge_mismatch") | Some("not_found")), "{problem}");
    assert_eq!(records_only(&f.dump()), records_only(&after_other_card), "refusals change nothing");
    assert_eq!(table_rows(&before, "escrow"), 2);
    assert_eq!(escrowed_puk(&f, device).await, hex::encode("12345678"));

    let (status, answer) =
        f.call(Method::POST, &uri, Some(f.token("admin")), body(&code, "video call, badge photo")).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["device"], json!(device));
    Response::parse(answer["response"].as_str().unwrap(), piv::ManagementKeyAlgorithm::Aes256).unwrap();
    let moved = escrowed_puk(&f, device).await;
    assert_ne!(moved, hex::encode("12345678"), "the escrowed PUK moves to the one the card will get");
    // A second answer in the window (a torn completion): same target.
    let (status, _) = f.call(Method::POST, &uri, Some(f.token("admin")), body(&challenge(2), "again")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(escrowed_puk(&f, device).await, moved);
    assert!(!f.dump().contains("12345678"), "no plaintext PUK stored");

    // The noted escrow fetch (online unblock) and the audit.
    let (status, _) = f
        .call(
            Method::POST,
            &format!("/v1/devices/{device}/escrow/puk"),
            Some(f.token("admin")),
            Some(json!({ "identity_check": "passport seen" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = f
        .call(
            Method::POST,
            &format!("/v1/devices/{device}/escrow/puk"),
            Some(f.token("admin")),
            Some(json!({ "identity_check": "" })),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, audit) = f.call(Method::GET, "/v1/audit?limit=1000", Some(f.token("auditor")), None).await;
    assert_eq!(status, StatusCode::OK);
    let text = audit.to_string();
    assert!(text.contains("escrow.offline_unblock") && text.contains("video call, badge photo"), "{text}");
    assert!(text.contains("identity check: passport seen"), "{text}");
}
