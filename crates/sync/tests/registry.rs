//! Against the real registry (crate `registry`, SQLite storage) served over
//! TLS on loopback: two workstations, two store files, one registry. Both
//! act on the same request while one is offline: exactly one wins, the
//! other sees a clear rejection, its local effect is rolled back, and
//! nothing is duplicated.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use domain::*;
use proto::{CancelRequest, CreatePerson, Login, OperationKind, Password, RequestCard};
use registry::tls::TlsIdentity;
use registry::{admin, DeploymentSettings, Registry, SqliteStorage};
use store::{NewOperation, RecordKind, RecordStatus, Store};
use sync::{Engine, Fingerprint, RegistryClient};
use time::OffsetDateTime;
use uuid::Uuid;

const PASSWORD: &str = "correct horse battery staple";

fn settings() -> ProfileSettings {
    ProfileSettings::contact_p256("Employee", true)
}

fn new_op(op: &OperationKind) -> NewOperation {
    sync::outbox_entry(op, Uuid::now_v7(), OffsetDateTime::now_utc(), None).unwrap()
}

async fn workstation(url: &str, pin: Fingerprint) -> Engine {
    let client = RegistryClient::new(url, pin, Duration::from_secs(20)).unwrap();
    let login = Login {
        username: "admin".into(),
        password: Password::new(PASSWORD),
        workstation: None,
        workstation_key: None,
    };
    let grant = client.login(&login).await.unwrap();
    Engine::new(client, grant.token, Some(grant.operator), None)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workstations_act_on_one_request_and_exactly_one_wins() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Arc::new(SqliteStorage::open(&dir.path().join("registry.sqlite3")).unwrap());
    let now = OffsetDateTime::now_utc();
    let deployment =
        DeploymentSettings { use_cases: UseCases::all(), approval_step: false, ..Default::default() };
    admin::init(&*storage, &deployment, "admin", PASSWORD, now).unwrap();
    let profile = ProfileId::new(Uuid::now_v7());
    admin::add_profile(&*storage, profile, settings(), now).unwrap();
    let (identity, _) = TlsIdentity::load_or_create(dir.path(), &[]).unwrap();
    let pin: Fingerprint = identity.fingerprint().parse().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let app = registry::app(Registry::new(storage));
    tokio::spawn(registry::tls::serve_tls(
        listener,
        identity.server_config().unwrap(),
        app,
        std::future::pending(),
    ));

    let mut a_store = Store::open(dir.path().join("a.db")).unwrap();
    let mut b_store = Store::open(dir.path().join("b.db")).unwrap();
    let mut a = workstation(&url, pin).await;
    let mut b = workstation(&url, pin).await;

    // A: add a cardholder and request a card for them (locally, then synced).
    let holder = Person {
        id: PersonId::new(Uuid::now_v7()),
        given_name: "Hedy".into(),
        family_name: "Lamarr".into(),
        email: None,
        employee_id: Some("E-1914".into()),
        photo: None,
        status: PersonStatus::Active,
    };
    let create = OperationKind::CreatePerson(CreatePerson::of(&holder));
    a_store.act(new_op(&create), |tx| tx.put(&holder)).unwrap();
    let (request_id, device_id) = (RequestId::new(Uuid::now_v7()), DeviceId::new(Uuid::now_v7()));
    let ask = OperationKind::RequestCard(RequestCard {
        request: request_id,
        device: device_id,
        person: holder.id,
        profile,
        reason: Some("new hire".into()),
        notes: None,
        route: None,
    });
    a_store.act(new_op(&ask), |_| Ok::<_, store::Error>(())).unwrap();
    let report = a.sync_once(&mut a_store, OffsetDateTime::now_utc()).await.unwrap();
    assert_eq!((report.accepted, report.rejected), (2, 0), "{report:?}");
    let request: Request =
        a_store.get(&request_id.to_string()).unwrap().expect("the request came back in the feed");
    assert_eq!(request.state, RequestState::PendingApproval);

    // B pulls everything, then goes offline.
    b.sync_once(&mut b_store, OffsetDateTime::now_utc()).await.unwrap();
    assert_eq!(b_store.get::<Request>(&request_id.to_string()).unwrap(), Some(request.clone()));
    assert!(!b_store.search("Lamarr", 10).unwrap().is_empty(), "B finds the cardholder locally");

    // Both cancel the same request: A online, B offline (local only).
    let cancel = |store: &mut Store, who: &str| {
        let op = OperationKind::CancelRequest(CancelRequest { request: request_id, notes: Some(who.into()) });
        let new = new_op(&op);
        let id = new.op_id;
        store
            .act(new, |tx| {
                let mut r: Request = tx.get(&request_id.to_string())?.expect("known request");
                r.state = RequestState::Cancelled;
                r.notes = Some(who.into());
                tx.put(&r)
            })
            .unwrap();
        id
    };
    let a_op = cancel(&mut a_store, "cancelled at A");
    let b_op = cancel(&mut b_store, "cancelled at B");
    assert_eq!(
        b_store.get::<Request>(&request_id.to_string()).unwrap().unwrap().state,
        RequestState::Cancelled
    );

    let ra = a.sync_once(&mut a_store, OffsetDateTime::now_utc()).await.unwrap();
    assert_eq!((ra.accepted, ra.rejected), (1, 0), "A wins");
    // B comes back online.
    let rb = b.sync_once(&mut b_store, OffsetDateTime::now_utc()).await.unwrap();
    assert_eq!((rb.accepted, rb.rejected), (0, 1), "B loses");
    match b_store.record_status(RecordKind::Request, &request_id.to_string()).unwrap() {
        RecordStatus::Rejected { op_id, code, reason } => {
            assert_eq!(op_id, b_op);
            assert!(!code.is_empty() && !reason.is_empty(), "a clear reason: {code}: {reason}");
        }
        other => panic!("B's request should show its rejection, got {other:?}"),
    }
    // Both replicas now hold the registry's version (A's cancellation), once.
    let at_a: Request = a_store.get(&request_id.to_string()).unwrap().unwrap();
    let at_b: Request = b_store.get(&request_id.to_string()).unwrap().unwrap();
    assert_eq!(at_a, at_b);
    assert_eq!(at_b.state, RequestState::Cancelled);
    assert_ne!(at_b.notes.as_deref(), Some("cancelled at B"), "B's local edit was rolled back");
    assert!(matches!(a_store.operation(a_op).unwrap().unwrap().state, store::OpState::Accepted { .. }));
    // Syncing again changes nothing and duplicates nothing.
    let again = b.sync_once(&mut b_store, OffsetDateTime::now_utc()).await.unwrap();
    assert_eq!((again.pushed, again.pulled), (0, 0));
    let n: i64 = b_store.connection().query_row("SELECT count(*) FROM requests", [], |r| r.get(0)).unwrap();
    assert_eq!(n, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_registry_with_another_certificate_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Arc::new(SqliteStorage::open(&dir.path().join("registry.sqlite3")).unwrap());
    let deployment =
        DeploymentSettings { use_cases: UseCases::all(), approval_step: false, ..Default::default() };
    admin::init(&*storage, &deployment, "admin", PASSWORD, OffsetDateTime::now_utc()).unwrap();
    let identity = TlsIdentity::self_signed(&["localhost"]).unwrap();
    let impostor = TlsIdentity::self_signed(&["localhost"]).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://127.0.0.1:{}", listener.local_addr().unwrap().port());
    tokio::spawn(registry::tls::serve_tls(
        listener,
        impostor.server_config().unwrap(),
        registry::app(Registry::new(storage)),
        std::future::pending(),
    ));
    let client =
        RegistryClient::new(&url, identity.fingerprint().parse().unwrap(), Duration::from_secs(20)).unwrap();
    let login = Login {
        username: "admin".into(),
        password: Password::new(PASSWORD),
        workstation: None,
        workstation_key: None,
    };
    let out = client.login(&login).await;
    assert!(matches!(out, Err(sync::Error::PinMismatch { .. })), "{out:?}");
}
