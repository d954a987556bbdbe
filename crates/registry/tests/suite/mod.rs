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
    CapabilityRequirement, CardEndState, CertificateEndState, CertificateTemplate, DeviceId,
    ExtendedKeyUsage, GlobalPermission, KeyAlgorithm, ManagementKeyAlgorithm, PersonId, PinPolicy, ProfileId,
    ProfilePermission, ProfileScope, ProfileSettings, PukPolicy, RequestId, Role, RoleId, Slot, SlotSpec,
    UseCases,
};
use http_body_util::BodyExt;
use proto::{Answer, EscrowKind, Operation, OperationKind};
use registry::{admin, DeploymentSettings, EscrowSeal, Registry, Storage};
use serde_json::{json, Value};
use time::OffsetDateTime;
use tower::ServiceExt;
use uuid::Uuid;

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
}

pub fn settings(name: &str, validate_issuance: bool) -> ProfileSettings {
    ProfileSettings {
        name: name.into(),
        capabilities: CapabilityRequirement::Contact,
        slots: vec![SlotSpec {
            slot: Slot::PivAuthentication,
            algorithm: KeyAlgorithm::EccP256,
            certificate: CertificateTemplate {
                subject: "CN={name}".into(),
                validity_days: 365,
                ekus: vec![ExtendedKeyUsage::ClientAuth],
            },
        }],
        pin: PinPolicy { min_length: 6, max_length: 8, numeric: true, retries: 3 },
        puk: PukPolicy { length: 8, numeric: true, retries: 3 },
        management_key: ManagementKeyAlgorithm::Aes256,
        validate_issuance,
        card_end_state: CardEndState::Active,
        certificate_end_state: CertificateEndState::Valid,
        is_temporary: false,
        card_validity_days: 1825,
    }
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
        let deployment = DeploymentSettings { use_cases: UseCases::all(), approval_step: false };
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
        let registry = Registry::new(storage).with_escrow(Arc::new(TestSeal));
        let app = registry::app(registry.clone());
        let mut fixture = Fixture {
            registry,
            app,
            tokens: BTreeMap::new(),
            people,
            profile,
            cardholder: PersonId::new(Uuid::now_v7()),
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

    pub fn dump(&self) -> String {
        self.registry.storage().dump().unwrap()
    }
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
    for path in
        ["/v1/sessions", "/v1/operations", "/v1/changes", "/v1/audit", "/v1/audit/verify", "/v1/health"]
    {
        assert!(doc["paths"][path].is_object(), "the OpenAPI document describes {path}");
    }
    assert!(doc["components"]["schemas"]["OperationKind"].is_object(), "operation kinds are documented");
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
            .call(Method::GET, &format!("/v1/changes?since={cursor}&limit=2"), Some(f.token("nobody")), None)
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
    assert!(report["events"].as_u64().unwrap() >= 10);
}

pub async fn escrow_round_trip(factory: Factory) {
    let f = Fixture::new(factory).await;
    let device = f.issued_card().await;
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
    assert!(f
        .op("issuer", store(EscrowKind::ManagementKey, "00112233445566778899aabbccddeeff"))
        .await
        .is_accepted());
    assert!(f.op("issuer", store(EscrowKind::Puk, "3132333435363738")).await.is_accepted());
    assert_eq!(f.op("issuer", store(EscrowKind::Puk, "xyz")).await.rejection_code(), Some("invalid"));
    assert!(!f.dump().contains("3132333435363738"), "no plaintext secret is stored");

    let uri = |kind: &str| format!("/v1/devices/{device}/escrow/{kind}");
    let (status, body) = f.call(Method::GET, &uri("management_key"), Some(f.token("issuer")), None).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, Some("00112233445566778899aabbccddeeff")));
    let (status, body) = f.call(Method::GET, &uri("puk"), Some(f.token("issuer")), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "the PUK needs Unblock PIN: {body}");
    let (status, body) = f.call(Method::GET, &uri("puk"), Some(f.token("admin")), None).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, Some("3132333435363738")));
    let (status, _) = f
        .call(
            Method::GET,
            &format!("/v1/devices/{}/escrow/puk", Uuid::now_v7()),
            Some(f.token("admin")),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// Every protected endpoint × every role (and no session at all): who is
/// refused gets 401/403, and the database is unchanged.
pub async fn permission_matrix(factory: Factory) {
    let f = Fixture::new(factory).await;
    let device = f.issued_card().await;
    let stored = f
        .op(
            "issuer",
            OperationKind::StoreEscrow(proto::StoreEscrow {
                device,
                secret_kind: EscrowKind::Puk,
                secret: proto::EscrowSecret::new("31323334"),
            }),
        )
        .await;
    assert!(stored.is_accepted());
    let mk = f
        .op(
            "issuer",
            OperationKind::StoreEscrow(proto::StoreEscrow {
                device,
                secret_kind: EscrowKind::ManagementKey,
                secret: proto::EscrowSecret::new("0011"),
            }),
        )
        .await;
    assert!(mk.is_accepted());

    // (method, uri, roles allowed)
    let endpoints: Vec<(Method, String, &[&str])> = vec![
        (Method::GET, "/v1/changes".into(), &ROLES),
        (Method::GET, "/v1/audit".into(), &["auditor", "admin"]),
        (Method::GET, "/v1/audit/verify".into(), &["auditor", "admin"]),
        (Method::GET, format!("/v1/devices/{device}/escrow/management_key"), &["issuer", "admin"]),
        (Method::GET, format!("/v1/devices/{device}/escrow/puk"), &["admin"]),
    ];
    let bad_tokens = [None, Some("not-a-token".to_owned()), Some("00".repeat(32))];
    for (method, uri, allowed) in &endpoints {
        for token in &bad_tokens {
            let before = f.dump();
            let (status, body) = f.call(method.clone(), uri, token.as_deref(), None).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {uri} without a valid session: {body}");
            assert_eq!(body["code"], "unauthenticated");
            assert_eq!(before, f.dump(), "{method} {uri} without a session changed the database");
        }
        for role in ROLES {
            let before = f.dump();
            let (status, body) = f.call(method.clone(), uri, Some(f.token(role)), None).await;
            if allowed.contains(&role) {
                assert_eq!(status, StatusCode::OK, "{role} may {method} {uri}: {body}");
            } else {
                assert_eq!(status, StatusCode::FORBIDDEN, "{role} may not {method} {uri}: {body}");
                assert!(body["code"].is_string() && body["message"].is_string(), "a problem body: {body}");
                assert_eq!(before, f.dump(), "{role} refused at {method} {uri} changed the database");
            }
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
    let kinds: Vec<(&str, MakeOp, &[&str])> = vec![
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
