//! The registry killed and restarted in the middle of a sync (its runtime
//! dropped: every connection cut), on the same port and database: the
//! workstation retries with backoff and, once it is back, every queued
//! operation is applied exactly once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use domain::*;
use proto::{CreatePerson, Login, OperationKind, Password};
use rand::SeedableRng;
use registry::tls::TlsIdentity;
use registry::{admin, DeploymentSettings, Registry, SqliteStorage};
use store::{OpState, Store};
use sync::{Backoff, Engine, Fingerprint, RegistryClient};
use time::OffsetDateTime;
use uuid::Uuid;

const PASSWORD: &str = "correct horse battery staple";
const OPERATIONS: u64 = 1_500;

/// Runs the registry on its own thread and runtime; dropping the returned
/// sender stops the runtime, which cuts every connection at once.
fn start(db: PathBuf, dir: PathBuf, addr: SocketAddr) -> std::sync::mpsc::Sender<()> {
    let (stop, stopped) = std::sync::mpsc::channel::<()>();
    let (ready, is_ready) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        runtime.spawn(async move {
            let storage = Arc::new(SqliteStorage::open(&db).unwrap());
            let (identity, _) = TlsIdentity::load_or_create(&dir, &[]).unwrap();
            let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
            ready.send(()).unwrap();
            registry::tls::serve_tls(
                listener,
                identity.server_config().unwrap(),
                registry::app(Registry::new(storage)),
                std::future::pending(),
            )
            .await
            .unwrap();
        });
        let _ = stopped.recv();
        runtime.shutdown_timeout(Duration::from_millis(100));
    });
    is_ready.recv_timeout(Duration::from_secs(20)).unwrap();
    stop
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_restart_mid_sync_loses_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("registry.sqlite3");
    {
        let storage = SqliteStorage::open(&db).unwrap();
        let deployment =
            DeploymentSettings { use_cases: UseCases::all(), approval_step: false, ..Default::default() };
        admin::init(&storage, &deployment, "admin", PASSWORD, OffsetDateTime::now_utc()).unwrap();
    }
    let (identity, _) = TlsIdentity::load_or_create(dir.path(), &[]).unwrap();
    let pin: Fingerprint = identity.fingerprint().parse().unwrap();
    let addr = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let url = format!("https://{addr}");
    let stop = start(db.clone(), dir.path().to_owned(), addr);

    let mut store = Store::open(dir.path().join("ws.db")).unwrap();
    for n in 0..OPERATIONS {
        let op = OperationKind::CreatePerson(CreatePerson {
            id: PersonId::new(Uuid::now_v7()),
            given_name: "Restart".into(),
            family_name: format!("N{n}"),
            email: None,
            employee_id: None,
        });
        let new = sync::outbox_entry(&op, Uuid::now_v7(), OffsetDateTime::now_utc(), None).unwrap();
        store.act(new, |_| Ok::<_, store::Error>(())).unwrap();
    }
    let client = RegistryClient::new(&url, pin, Duration::from_secs(10)).unwrap();
    let login = Login {
        username: "admin".into(),
        password: Password::new(PASSWORD),
        workstation: None,
        workstation_key: None,
    };
    let grant = client.login(&login).await.unwrap();
    let mut engine = Engine::new(client, grant.token.clone(), Some(grant.operator), None);

    let syncing = tokio::spawn(async move {
        let mut rng = rand::rngs::StdRng::seed_from_u64(9);
        let backoff =
            Backoff { base: Duration::from_millis(50), max: Duration::from_millis(400), attempts: 40 };
        let report = engine.sync(&mut store, backoff, &mut rng, &OffsetDateTime::now_utc).await;
        (report, store)
    });
    // Kill the registry mid-push, keep it down a while, bring it back.
    tokio::time::sleep(Duration::from_millis(150)).await;
    drop(stop);
    tokio::time::sleep(Duration::from_millis(600)).await;
    let _again = start(db.clone(), dir.path().to_owned(), addr);

    let (report, store) = syncing.await.unwrap();
    let report = report.unwrap();
    eprintln!("{report:?}");
    let ops = store.operations().unwrap();
    assert!(ops.iter().all(|o| matches!(o.state, OpState::Accepted { .. })), "every operation accepted");
    assert_eq!(store.queue_len().unwrap(), 0);
    // Exactly once at the registry: read its whole feed into a fresh store.
    let mut fresh = Store::open(dir.path().join("fresh.db")).unwrap();
    let client = RegistryClient::new(&url, pin, Duration::from_secs(10)).unwrap();
    let grant = client.login(&login).await.unwrap();
    let mut reader = Engine::new(client, grant.token, None, None);
    reader.sync_once(&mut fresh, OffsetDateTime::now_utc()).await.unwrap();
    let n: i64 = fresh
        .connection()
        .query_row("SELECT count(*) FROM people WHERE given_name = 'Restart'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n as u64, OPERATIONS);
}
