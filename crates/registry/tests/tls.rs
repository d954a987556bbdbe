//! The registry over real TLS on loopback: the self-signed certificate made
//! at first start, trusted as the only root (the workstation's pin), and a
//! client pinned to another certificate refused before anything is applied.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use registry::tls::TlsIdentity;
use registry::{admin, DeploymentSettings, Registry, SqliteStorage, Storage};
use serde_json::json;
use time::OffsetDateTime;

fn pinned_client(cert_pem: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(cert_pem.as_bytes()).expect("a PEM certificate"))
        .timeout(std::time::Duration::from_secs(20))
        .build()
        .expect("a client")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn self_signed_tls_with_pinning() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Arc::new(SqliteStorage::open(&dir.path().join("registry.sqlite3")).unwrap());
    let settings =
        DeploymentSettings { use_cases: domain::UseCases::all(), approval_step: false, ..Default::default() };
    admin::init(&*storage, &settings, "admin", "correct horse battery", OffsetDateTime::now_utc()).unwrap();

    let (identity, created) = TlsIdentity::load_or_create(dir.path(), &[]).unwrap();
    assert!(created, "the first start makes a certificate");
    let (again, created) = TlsIdentity::load_or_create(dir.path(), &[]).unwrap();
    assert!(!created, "later starts reuse it");
    assert_eq!(again.fingerprint(), identity.fingerprint(), "the pinned certificate does not change");
    assert_eq!(identity.fingerprint().len(), 32 * 3 - 1, "SHA-256 as colon-separated hex");

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let app = registry::app(Registry::new(storage.clone()));
    let server =
        tokio::spawn(registry::tls::serve_tls(listener, identity.server_config().unwrap(), app, async {
            let _ = stopped.await;
        }));

    let client = pinned_client(&identity.cert_pem());
    for host in ["localhost", "127.0.0.1"] {
        let health = client.get(format!("https://{host}:{port}/v1/health")).send().await.unwrap();
        assert_eq!(health.status(), 200, "{host}: the pinned certificate is trusted");
    }
    let login = client
        .post(format!("https://localhost:{port}/v1/sessions"))
        .json(&json!({"username": "admin", "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 201);
    let grant: proto::SessionGrant = login.json().await.unwrap();
    let op = proto::Operation {
        op_id: uuid::Uuid::now_v7(),
        actor: None,
        workstation: None,
        created_at: OffsetDateTime::now_utc(),
        op: proto::OperationKind::CreatePerson(proto::CreatePerson {
            id: domain::PersonId::new(uuid::Uuid::now_v7()),
            given_name: "Tess".into(),
            family_name: "Loopback".into(),
            email: None,
            employee_id: None,
        }),
    };
    let batch = proto::OperationBatch { operations: vec![op.clone()] };
    let answers: proto::AnswerBatch = client
        .post(format!("https://localhost:{port}/v1/operations"))
        .bearer_auth(grant.token.expose())
        .json(&batch)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(answers.answers[0].is_accepted(), "{answers:?}");

    // A workstation that pinned another certificate refuses the connection:
    // neither the sign-in nor a replayed operation reaches the registry.
    let before = storage.dump().unwrap();
    let impostor = TlsIdentity::self_signed(&["localhost", "127.0.0.1"]).unwrap();
    let wrong = pinned_client(&impostor.cert_pem());
    let refused = wrong
        .post(format!("https://localhost:{port}/v1/sessions"))
        .json(&json!({"username": "admin", "password": "correct horse battery"}))
        .send()
        .await;
    assert!(refused.is_err(), "a certificate that does not match the pin is refused");
    let refused = wrong
        .post(format!("https://localhost:{port}/v1/operations"))
        .bearer_auth(grant.token.expose())
        .json(&proto::OperationBatch {
            operations: vec![proto::Operation { op_id: uuid::Uuid::now_v7(), ..op }],
        })
        .send()
        .await;
    assert!(refused.is_err());
    assert_eq!(before, storage.dump().unwrap(), "nothing was applied over the refused connection");
    // Plain HTTP to the TLS port gets nothing either.
    let plain = reqwest::Client::new().get(format!("http://127.0.0.1:{port}/v1/health")).send().await;
    assert!(plain.map(|r| !r.status().is_success()).unwrap_or(true));

    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}

/// Resident memory of this process (the server and its clients), in KiB.
fn resident_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// The attack: 256 concurrent wrong sign-ins over real TLS. Only a few
/// password checks run at once; the rest are answered 429 with Retry-After
/// instead of each taking an Argon2id run's memory; resident memory stays
/// bounded and the right password still works afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_wrong_sign_ins_is_capped_and_memory_stays_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Arc::new(SqliteStorage::open(&dir.path().join("registry.sqlite3")).unwrap());
    let settings =
        DeploymentSettings { use_cases: domain::UseCases::all(), approval_step: false, ..Default::default() };
    admin::init(&*storage, &settings, "admin", "correct horse battery", OffsetDateTime::now_utc()).unwrap();
    let (identity, _) = TlsIdentity::load_or_create(dir.path(), &[]).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    // Per-address locking is another test's: here only the cap on checks.
    // A short wait for a turn, so the burst meets the cap for certain.
    let policy = registry::throttle::SignInPolicy {
        queue_wait: std::time::Duration::from_millis(5),
        address_free_failures: u32::MAX,
        address_lock_after: u32::MAX,
        ..Default::default()
    };
    let app = registry::app(Registry::new(storage.clone()).with_sign_in_policy(policy));
    let server =
        tokio::spawn(registry::tls::serve_tls(listener, identity.server_config().unwrap(), app, async {
            let _ = stopped.await;
        }));
    let client = pinned_client(&identity.cert_pem());
    let url = format!("https://localhost:{port}/v1/sessions");
    let sign_in = |username: String, password: &'static str| {
        let (client, url) = (client.clone(), url.clone());
        async move {
            let r = client
                .post(url)
                .json(&json!({"username": username, "password": password}))
                .send()
                .await
                .unwrap();
            let retry_after = r.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
            (r.status().as_u16(), retry_after)
        }
    };
    assert_eq!(sign_in("admin".into(), "correct horse battery").await.0, 201);
    let before = resident_kib();

    let burst: Vec<_> =
        (0..256).map(|i| tokio::spawn(sign_in(format!("guess-{i}"), "not the password"))).collect();
    let mut counts = std::collections::BTreeMap::new();
    for task in burst {
        let (status, retry_after) = task.await.unwrap();
        if status == 429 {
            assert!(retry_after.is_some_and(|s| s.parse::<u64>().is_ok_and(|n| n >= 1)), "429 says when");
        }
        *counts.entry(status).or_insert(0u32) += 1;
    }
    let after = resident_kib();
    println!("burst of 256: {counts:?}; resident {} → {} MiB", before / 1024, after / 1024);
    assert!(counts.keys().all(|s| *s == 401 || *s == 429), "only refusals: {counts:?}");
    assert!(counts.get(&429).copied().unwrap_or(0) > 0, "beyond the cap, 429: {counts:?}");
    // Four checks at ~19 MiB each, plus the connections: far from 256 × 19 MiB.
    assert!(after.saturating_sub(before) < 160 * 1024, "resident grew {} MiB", (after - before) / 1024);
    assert_eq!(
        sign_in("admin".into(), "correct horse battery").await.0,
        201,
        "the right password still works"
    );

    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}
