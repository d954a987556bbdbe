//! The workstation killed (SIGKILL) at random points while it syncs
//! thousands of operations with the real registry: after restarts, every
//! operation is applied exactly once (a duplicate would come back
//! "already_exists" and show as rejected) and nothing is lost.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use domain::*;
use proto::{CreatePerson, Login, OperationKind, Password};
use rand::{Rng, SeedableRng};
use registry::tls::TlsIdentity;
use registry::{admin, DeploymentSettings, Registry, SqliteStorage};
use store::{OpState, Store};
use sync::{Engine, Fingerprint, RegistryClient};
use time::OffsetDateTime;
use uuid::Uuid;

const PASSWORD: &str = "correct horse battery staple";
const OPERATIONS: u64 = 2_000;

async fn engine(url: &str, pin: Fingerprint) -> Engine {
    let client = RegistryClient::new(url, pin, Duration::from_secs(30)).unwrap();
    let login = Login {
        username: "admin".into(),
        password: Password::new(PASSWORD),
        workstation: None,
        workstation_key: None,
    };
    let grant = client.login(&login).await.unwrap();
    Engine::new(client, grant.token, Some(grant.operator), None)
}

/// The child: syncs the store until killed (or done). Nothing when run as an ordinary test.
#[test]
fn sync_child() {
    let (Ok(db), Ok(url), Ok(pin)) =
        (std::env::var("SYNC_CHILD_DB"), std::env::var("SYNC_CHILD_URL"), std::env::var("SYNC_CHILD_PIN"))
    else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let mut store = Store::open(db).unwrap();
        let mut engine = engine(&url, pin.parse().unwrap()).await;
        while store.queue_len().unwrap() > 0 {
            let _ = engine.sync_once(&mut store, OffsetDateTime::now_utc()).await;
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_sync_loses_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Arc::new(SqliteStorage::open(&dir.path().join("registry.sqlite3")).unwrap());
    let deployment =
        DeploymentSettings { use_cases: UseCases::all(), approval_step: false, ..Default::default() };
    admin::init(&*storage, &deployment, "admin", PASSWORD, OffsetDateTime::now_utc()).unwrap();
    let identity = TlsIdentity::self_signed(&["localhost"]).unwrap();
    let pin = identity.fingerprint();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://127.0.0.1:{}", listener.local_addr().unwrap().port());
    tokio::spawn(registry::tls::serve_tls(
        listener,
        identity.server_config().unwrap(),
        registry::app(Registry::new(storage)),
        std::future::pending(),
    ));

    // Thousands of queued local actions.
    let db = dir.path().join("ws.db");
    {
        let mut store = Store::open(&db).unwrap();
        for n in 0..OPERATIONS {
            let person = Person {
                id: PersonId::new(Uuid::now_v7()),
                given_name: "Queued".into(),
                family_name: format!("N{n}"),
                email: None,
                employee_id: None,
                photo: None,
                status: PersonStatus::Active,
            };
            let op = OperationKind::CreatePerson(CreatePerson::of(&person));
            let new = sync::outbox_entry(&op, Uuid::now_v7(), OffsetDateTime::now_utc(), None).unwrap();
            store.act(new, |tx| tx.put(&person)).unwrap();
        }
    }

    let exe = std::env::current_exe().unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(0xC0FFEE);
    let mut progress = Vec::new();
    for _ in 0..12 {
        let mut child = Command::new(&exe)
            .args(["--exact", "sync_child", "--nocapture", "--test-threads", "1"])
            .env("SYNC_CHILD_DB", &db)
            .env("SYNC_CHILD_URL", &url)
            .env("SYNC_CHILD_PIN", &pin)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        tokio::time::sleep(Duration::from_millis(rng.gen_range(100..700))).await;
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        progress.push(Store::open(&db).unwrap().queue_len().unwrap());
    }
    eprintln!("queue after each kill: {progress:?}");

    // Restart once more and finish.
    let mut store = Store::open(&db).unwrap();
    let mut engine = engine(&url, pin.parse().unwrap()).await;
    while store.queue_len().unwrap() > 0 {
        engine.sync_once(&mut store, OffsetDateTime::now_utc()).await.unwrap();
    }
    engine.sync_once(&mut store, OffsetDateTime::now_utc()).await.unwrap();
    let ops = store.operations().unwrap();
    assert_eq!(ops.len() as u64, OPERATIONS, "no operation lost from the outbox");
    let rejected: Vec<_> = ops.iter().filter(|o| !matches!(o.state, OpState::Accepted { .. })).collect();
    assert!(rejected.is_empty(), "a replay was applied twice or lost: {:?}", rejected.first());
    // The registry has each person once: pull its whole feed into a fresh store.
    let mut fresh = Store::open(dir.path().join("fresh.db")).unwrap();
    let mut reader = engine_for_reading(&url, &pin).await;
    reader.sync_once(&mut fresh, OffsetDateTime::now_utc()).await.unwrap();
    let queued: i64 = fresh
        .connection()
        .query_row("SELECT count(*) FROM people WHERE given_name = 'Queued'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(queued as u64, OPERATIONS, "every queued person exists at the registry exactly once");
}

async fn engine_for_reading(url: &str, pin: &str) -> Engine {
    engine(url, pin.parse().unwrap()).await
}
