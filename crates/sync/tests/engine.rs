//! The engine against a small registry stand-in served over real TLS on
//! 127.0.0.1:0: push, pull, rejection rollback, exactly-once replays,
//! retries, pinning, unreachable and unauthorized registries.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use domain::{Person, PersonId, PersonStatus};
use proto::{
    Answer, AnswerBatch, Change, ChangesPage, CreatePerson, OperationBatch, OperationKind, OperationResult,
    Problem, SessionToken,
};
use rand::SeedableRng;
use store::{OpState, RecordKind, RecordStatus, Store};
use sync::{Backoff, Connectivity, Engine, Error, Fingerprint, RegistryClient};
use time::macros::datetime;
use time::OffsetDateTime;
use uuid::Uuid;

const NOW: OffsetDateTime = datetime!(2026-01-15 10:00 UTC);
const TOKEN: &str = "test-session-token";

/// The registry stand-in: exactly-once by op id, a change feed, and faults on demand.
#[derive(Default)]
struct Fake {
    answers: Mutex<HashMap<Uuid, Answer>>,
    applied: Mutex<HashMap<Uuid, u32>>,
    feed: Mutex<Vec<Change>>,
    requests: AtomicU32,
    /// Apply the batch, then answer 503 (the answer is "lost"), this many times.
    lose_answers: AtomicU32,
    /// Sleep this long before answering operations (ms).
    delay_ms: AtomicU32,
}

fn authorized(headers: &HeaderMap) -> bool {
    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {TOKEN}"))
}

fn problem(status: StatusCode, code: &str) -> Response {
    (status, Json(Problem::new(code, "stand-in says no"))).into_response()
}

async fn operations(
    State(fake): State<Arc<Fake>>,
    headers: HeaderMap,
    Json(batch): Json<OperationBatch>,
) -> Response {
    fake.requests.fetch_add(1, Ordering::SeqCst);
    if !authorized(&headers) {
        return problem(StatusCode::UNAUTHORIZED, "unauthenticated");
    }
    let delay = fake.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(u64::from(delay))).await;
    }
    let mut out = Vec::new();
    for op in batch.operations {
        let mut answers = fake.answers.lock().unwrap();
        if let Some(first) = answers.get(&op.op_id) {
            out.push(first.clone());
            continue;
        }
        let answer = match &op.op {
            OperationKind::CreatePerson(p) if p.family_name.starts_with("Reject") => Answer::Rejected {
                op_id: op.op_id,
                code: "not_permitted".into(),
                message: "you may not add this person".into(),
            },
            OperationKind::CreatePerson(p) => {
                let person = Person {
                    id: p.id,
                    given_name: p.given_name.clone(),
                    family_name: p.family_name.clone(),
                    email: p.email.clone(),
                    employee_id: Some("from-registry".into()),
                    photo: None,
                    status: PersonStatus::Active,
                };
                let mut feed = fake.feed.lock().unwrap();
                let seq = feed.len() as u64 + 1;
                feed.push(Change { seq, at: NOW, record: proto::Record::Person(person.clone()) });
                *fake.applied.lock().unwrap().entry(op.op_id).or_default() += 1;
                Answer::Accepted {
                    op_id: op.op_id,
                    result: OperationResult { records: vec![proto::Record::Person(person)] },
                }
            }
            _ => Answer::Rejected { op_id: op.op_id, code: "unsupported".into(), message: "stand-in".into() },
        };
        answers.insert(op.op_id, answer.clone());
        out.push(answer);
    }
    if fake.lose_answers.load(Ordering::SeqCst) > 0 {
        fake.lose_answers.fetch_sub(1, Ordering::SeqCst);
        return problem(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    }
    Json(AnswerBatch { answers: out }).into_response()
}

async fn changes(
    State(fake): State<Arc<Fake>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    fake.requests.fetch_add(1, Ordering::SeqCst);
    if !authorized(&headers) {
        return problem(StatusCode::UNAUTHORIZED, "unauthenticated");
    }
    let since: u64 = q.get("since").and_then(|s| s.parse().ok()).unwrap_or(0);
    let limit: usize = q.get("limit").and_then(|s| s.parse().ok()).unwrap_or(500).min(2);
    let feed = fake.feed.lock().unwrap();
    let rest: Vec<Change> = feed.iter().filter(|c| c.seq > since).cloned().collect();
    let page: Vec<Change> = rest.iter().take(limit).cloned().collect();
    let next = page.last().map_or(since, |c| c.seq);
    Json(ChangesPage { more: rest.len() > page.len(), changes: page, next_cursor: next.to_string() })
        .into_response()
}

struct Server {
    addr: SocketAddr,
    fingerprint: Fingerprint,
    fake: Arc<Fake>,
}

async fn serve() -> Server {
    let fake = Arc::new(Fake::default());
    let app = Router::new()
        .route("/v1/operations", post(operations))
        .route("/v1/changes", get(changes))
        .with_state(fake.clone());
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let cert_der = certified.cert.der().clone();
    let fingerprint = Fingerprint::of(&cert_der);
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(certified.key_pair.serialize_der().into());
    let config =
        rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert_der], key)
            .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else { return };
            let (acceptor, app) = (acceptor.clone(), app.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else { return };
                let service = hyper_util::service::TowerToHyperService::new(app);
                let _ = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new())
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    Server { addr, fingerprint, fake }
}

fn client(addr: SocketAddr, pin: Fingerprint, timeout: Duration) -> RegistryClient {
    RegistryClient::new(&format!("https://{addr}"), pin, timeout).unwrap()
}

fn engine(addr: SocketAddr, pin: Fingerprint) -> Engine {
    Engine::new(client(addr, pin, Duration::from_secs(5)), SessionToken::new(TOKEN), None, None)
}

fn op_id(n: u64) -> Uuid {
    uuid::Builder::from_unix_timestamp_millis(1_768_471_200_000 + n, &[n as u8; 10]).into_uuid()
}

/// A local "add person" action: the person locally, the operation in the outbox.
fn add_person(store: &mut Store, n: u64, family: &str) -> Person {
    let person = Person {
        id: PersonId::from_u128(u128::from(n)),
        given_name: "Local".into(),
        family_name: family.into(),
        email: None,
        employee_id: None,
        photo: None,
        status: PersonStatus::Active,
    };
    let op = OperationKind::CreatePerson(CreatePerson::of(&person));
    let new = sync::outbox_entry(&op, op_id(n), NOW, None).unwrap();
    store.act(new, |tx| tx.put(&person)).unwrap();
    person
}

fn fast_backoff(attempts: u32) -> Backoff {
    Backoff { base: Duration::from_millis(5), max: Duration::from_millis(20), attempts }
}

fn clock() -> OffsetDateTime {
    NOW
}

#[tokio::test]
async fn pushes_in_order_rolls_back_rejections_and_pulls_the_feed() {
    let server = serve().await;
    let mut store = Store::open_in_memory().unwrap();
    let people: Vec<Person> = (1..=5)
        .map(|n| {
            let family = if n == 3 { "Rejected".to_owned() } else { format!("Family{n}") };
            add_person(&mut store, n, &family)
        })
        .collect();
    let mut engine = engine(server.addr, server.fingerprint);
    assert_eq!(engine.status(&store).unwrap().queue_len, 5);

    let report = engine.sync_once(&mut store, NOW).await.unwrap();
    assert_eq!((report.pushed, report.accepted, report.rejected), (5, 4, 1));
    assert_eq!(report.pulled, 4, "the accepted people come back through the feed (3 pages of ≤ 2)");

    let rejected = &people[2];
    assert!(
        store.get::<Person>(&rejected.id.to_string()).unwrap().is_none(),
        "rejected creation rolled back"
    );
    assert_eq!(
        store.record_status(RecordKind::Person, &rejected.id.to_string()).unwrap(),
        RecordStatus::Rejected {
            op_id: op_id(3),
            code: "not_permitted".into(),
            reason: "you may not add this person".into()
        }
    );
    let kept = store.get::<Person>(&people[0].id.to_string()).unwrap().unwrap();
    assert_eq!(
        kept.employee_id.as_deref(),
        Some("from-registry"),
        "the registry's version replaced the local one"
    );
    let status = engine.status(&store).unwrap();
    assert_eq!(
        (status.connectivity, status.queue_len, status.last_sync),
        (Connectivity::Online, 0, Some(NOW))
    );
    assert_eq!(store.sync_state().unwrap().cursor.as_deref(), Some("4"));

    // Nothing pending: a second sync sends nothing and pulls nothing new.
    let before = server.fake.requests.load(Ordering::SeqCst);
    let again = engine.sync_once(&mut store, NOW).await.unwrap();
    assert_eq!((again.pushed, again.pulled), (0, 0));
    assert_eq!(server.fake.requests.load(Ordering::SeqCst), before + 1, "one feed request, no push");
}

#[tokio::test]
async fn a_lost_answer_is_retried_and_applied_exactly_once() {
    let server = serve().await;
    server.fake.lose_answers.store(2, Ordering::SeqCst);
    let mut store = Store::open_in_memory().unwrap();
    for n in 1..=3 {
        add_person(&mut store, n, &format!("F{n}"));
    }
    let mut engine = engine(server.addr, server.fingerprint);
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let report = engine.sync(&mut store, fast_backoff(5), &mut rng, &clock).await.unwrap();
    assert_eq!(report.attempts, 3, "two lost answers, then success");
    assert_eq!(report.accepted, 3);
    let applied = server.fake.applied.lock().unwrap().clone();
    assert_eq!(applied.len(), 3);
    assert!(applied.values().all(|n| *n == 1), "replays were answered, not re-applied: {applied:?}");
    for entry in store.operations().unwrap() {
        assert!(matches!(entry.state, OpState::Accepted { .. }));
        assert_eq!(entry.attempts, 2, "each failed attempt is counted on the operation");
    }
}

#[tokio::test]
async fn retries_give_up_after_the_policy_and_keep_the_queue() {
    let server = serve().await;
    server.fake.lose_answers.store(10, Ordering::SeqCst);
    let mut store = Store::open_in_memory().unwrap();
    add_person(&mut store, 1, "F1");
    let mut engine = engine(server.addr, server.fingerprint);
    let mut rng = rand::rngs::StdRng::seed_from_u64(4);
    let out = engine.sync(&mut store, fast_backoff(3), &mut rng, &clock).await;
    assert!(matches!(out, Err(Error::Status { status: 503, .. })), "{out:?}");
    assert_eq!(server.fake.requests.load(Ordering::SeqCst), 3, "exactly the allowed attempts");
    assert_eq!(store.queue_len().unwrap(), 1, "still queued for the next sync");
    assert!(store.sync_state().unwrap().last_error.is_some());
}

#[tokio::test]
async fn a_certificate_that_does_not_match_the_pin_is_refused_and_nothing_is_applied() {
    let server = serve().await;
    let mut store = Store::open_in_memory().unwrap();
    let person = add_person(&mut store, 1, "F1");
    let wrong = Fingerprint([0x42; 32]);
    let mut engine = engine(server.addr, wrong);
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    let out = engine.sync(&mut store, fast_backoff(4), &mut rng, &clock).await;
    assert!(matches!(out, Err(Error::PinMismatch { pinned }) if pinned == wrong), "{out:?}");
    assert_eq!(server.fake.requests.load(Ordering::SeqCst), 0, "no request reached the server");
    assert!(server.fake.applied.lock().unwrap().is_empty());
    assert_eq!(store.queue_len().unwrap(), 1);
    assert_eq!(
        store.record_status(RecordKind::Person, &person.id.to_string()).unwrap(),
        RecordStatus::Pending { op_id: op_id(1) }
    );
    assert_eq!(store.sync_state().unwrap().cursor, None, "nothing pulled");
    assert_eq!(engine.status(&store).unwrap().connectivity, Connectivity::Offline);
}

#[tokio::test]
async fn an_unreachable_registry_means_offline_with_the_queue_intact() {
    // Bind then drop: nothing listens on this port.
    let addr = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let mut store = Store::open_in_memory().unwrap();
    add_person(&mut store, 1, "F1");
    let mut engine = engine(addr, Fingerprint([0; 32]));
    let out = engine.sync_once(&mut store, NOW).await;
    assert!(matches!(out, Err(Error::Transport(_))), "{out:?}");
    assert!(out.unwrap_err().is_retryable());
    let status = engine.status(&store).unwrap();
    assert_eq!((status.connectivity, status.queue_len), (Connectivity::Offline, 1));
    assert!(status.last_error.unwrap().contains("unreachable"));
}

#[tokio::test]
async fn a_slow_registry_times_out_and_the_retry_succeeds_once() {
    let server = serve().await;
    server.fake.delay_ms.store(1500, Ordering::SeqCst);
    let mut store = Store::open_in_memory().unwrap();
    add_person(&mut store, 1, "F1");
    let mut engine = Engine::new(
        client(server.addr, server.fingerprint, Duration::from_millis(300)),
        SessionToken::new(TOKEN),
        None,
        None,
    );
    let out = engine.sync_once(&mut store, NOW).await;
    assert!(matches!(out, Err(Error::Transport(_))), "timeout is a transport error: {out:?}");
    server.fake.delay_ms.store(0, Ordering::SeqCst);
    // The server may have applied the timed-out batch: the replay gets its first answer.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    engine.sync_once(&mut store, NOW).await.unwrap();
    assert_eq!(server.fake.applied.lock().unwrap().get(&op_id(1)).copied(), Some(1));
    assert_eq!(store.queue_len().unwrap(), 0);
}

#[tokio::test]
async fn a_refused_session_is_not_retried() {
    let server = serve().await;
    let mut store = Store::open_in_memory().unwrap();
    add_person(&mut store, 1, "F1");
    let mut engine = Engine::new(
        client(server.addr, server.fingerprint, Duration::from_secs(5)),
        SessionToken::new("stale"),
        None,
        None,
    );
    let mut rng = rand::rngs::StdRng::seed_from_u64(6);
    let out = engine.sync(&mut store, fast_backoff(5), &mut rng, &clock).await;
    assert!(matches!(out, Err(Error::Unauthorized(_))), "{out:?}");
    assert_eq!(server.fake.requests.load(Ordering::SeqCst), 1, "no retry: signing in again is needed");
    engine.set_token(SessionToken::new(TOKEN));
    engine.sync_once(&mut store, NOW).await.unwrap();
    assert_eq!(store.queue_len().unwrap(), 0);
}
