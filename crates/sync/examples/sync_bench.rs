//! Sync benchmark (issue 3): time to push N queued operations to a real
//! registry (SQLite storage, TLS on loopback, in this process) and to pull
//! the resulting feed into an empty workstation. Not a test: it prints
//! measurements. The registry shares the machine (and this process) with
//! the workstation, so the figures include both sides.
//!
//! `cargo run --release -p sync --example sync_bench -- [operations]` (default 10,000).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use domain::*;
use proto::{CreatePerson, Login, OperationKind, Password};
use registry::tls::TlsIdentity;
use registry::{admin, DeploymentSettings, Registry, SqliteStorage};
use store::Store;
use sync::{Engine, Fingerprint, RegistryClient};
use time::OffsetDateTime;
use uuid::Uuid;

const PASSWORD: &str = "correct horse battery staple";

async fn engine(url: &str, pin: Fingerprint) -> Engine {
    let client = RegistryClient::new(url, pin, Duration::from_secs(120)).unwrap();
    let login = Login {
        username: "admin".into(),
        password: Password::new(PASSWORD),
        workstation: None,
        workstation_key: None,
    };
    let grant = client.login(&login).await.unwrap();
    Engine::new(client, grant.token, Some(grant.operator), None)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let operations: u64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let dir = tempfile::tempdir().unwrap();
    let storage = Arc::new(SqliteStorage::open(&dir.path().join("registry.sqlite3")).unwrap());
    let deployment =
        DeploymentSettings { use_cases: UseCases::all(), approval_step: false, ..Default::default() };
    admin::init(&*storage, &deployment, "admin", PASSWORD, OffsetDateTime::now_utc()).unwrap();
    let identity = TlsIdentity::self_signed(&["localhost"]).unwrap();
    let pin: Fingerprint = identity.fingerprint().parse().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://127.0.0.1:{}", listener.local_addr().unwrap().port());
    tokio::spawn(registry::tls::serve_tls(
        listener,
        identity.server_config().unwrap(),
        registry::app(Registry::new(storage)),
        std::future::pending(),
    ));

    let mut store = Store::open(dir.path().join("ws.db")).unwrap();
    let started = Instant::now();
    for n in 0..operations {
        let person = Person {
            id: PersonId::new(Uuid::now_v7()),
            given_name: "Bench".into(),
            family_name: format!("N{n}"),
            email: None,
            employee_id: Some(format!("B{n:07}")),
            photo: None,
            status: PersonStatus::Active,
        };
        let op = OperationKind::CreatePerson(CreatePerson::of(&person));
        let new = sync::outbox_entry(&op, Uuid::now_v7(), OffsetDateTime::now_utc(), None).unwrap();
        store.act(new, |tx| tx.put(&person)).unwrap();
    }
    let queued = started.elapsed();
    println!(
        "queued {operations} local actions in {:.2} s ({:.0} actions/s, one transaction each)",
        queued.as_secs_f64(),
        operations as f64 / queued.as_secs_f64()
    );

    let mut ws = engine(&url, pin).await;
    let started = Instant::now();
    let report = ws.sync_once(&mut store, OffsetDateTime::now_utc()).await.unwrap();
    let pushed = started.elapsed();
    assert_eq!(report.accepted as u64, operations, "{report:?}");
    println!(
        "pushed {operations} operations (and pulled {} changes back) in {:.2} s ({:.0} operations/s)",
        report.pulled,
        pushed.as_secs_f64(),
        operations as f64 / pushed.as_secs_f64()
    );
    println!(
        "summary: push {operations} queued operations | {:.2} s, {:.0} ops/s | <= 10 s",
        pushed.as_secs_f64(),
        operations as f64 / pushed.as_secs_f64()
    );

    let mut fresh = Store::open(dir.path().join("fresh.db")).unwrap();
    let mut reader = engine(&url, pin).await;
    let started = Instant::now();
    let report = reader.sync_once(&mut fresh, OffsetDateTime::now_utc()).await.unwrap();
    let pulled = started.elapsed();
    println!(
        "pulled {} records into an empty workstation in {:.2} s ({:.0} records/s)",
        report.pulled,
        pulled.as_secs_f64(),
        report.pulled as f64 / pulled.as_secs_f64()
    );
}
