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
    let settings = DeploymentSettings { use_cases: domain::UseCases::all(), approval_step: false };
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
