//! The behaviour suite on PostgreSQL, plus what only PostgreSQL can get
//! wrong: concurrency across connections, the feed's order, the schema.
//!
//! The database comes from `CARDSTATION_TEST_POSTGRES` (a URL;
//! `scripts/postgres up` starts one and `scripts/test` exports it). Each test
//! runs in a fresh schema `t_<random>` that is dropped when its storage is.
//! Without the variable the tests are skipped with a message, except under
//! `CI=true`, where they fail: CI must never pass without PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod pg_url;
mod suite;

use std::sync::Arc;

use registry::storage::postgres::{PostgresStorage, MIGRATIONS};
use registry::{storage, Storage};
use tokio_postgres::NoTls;

use pg_url::url;

fn postgres() -> Arc<dyn Storage> {
    let url = url().expect("checked by the test before the factory runs");
    Arc::new(PostgresStorage::scratch(&url).expect("a fresh PostgreSQL schema"))
}

macro_rules! on_postgres {
    ($($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                if url().is_none() {
                    return;
                }
                suite::$name(postgres).await;
            }
        )*
    };
}

on_postgres!(
    health_and_openapi,
    sign_in_and_out,
    sessions_expire,
    card_lifecycle_through_operations,
    exactly_once,
    concurrent_approvals_one_wins,
    audit_chain,
    audit_anchor_untouched,
    audit_truncation_is_detected,
    audit_rewrite_is_detected,
    audit_checkpoint_tampering_is_detected,
    escrow_round_trip,
    escrow_least_privilege,
    permission_matrix,
    malformed_input_is_a_4xx_problem,
    profile_revisions_conflict,
    roles_and_use_cases,
    sign_in_lockout,
    small_hardening,
    workstation_credentials,
    certificate_issuance,
    certificate_revocation_and_crl,
    ocsp_follows_certificate_states,
    expired_sessions_are_purged,
    certificates_for_an_update,
    an_update_keeps_the_certificates_the_card_keeps,
    issuance_revokes_pending_certificates,
    direct_issue,
    temporary_cards,
    batch_options_and_retry,
    offline_unblock,
    provisioning_create_list_and_details,
    provisioning_codes_lock_and_complete,
    provisioning_edit_remove_and_resend,
    provisioning_expiry_by_clock,
    walkup_update_proved_by_the_card,
    provisioning_permission_matrix,
    provisioning_mail_outbox,
    provisioning_mail_goes_out_once_from_two_instances,
    provisioning_mail_reaches_the_mailbox,
    provisioning_mailbox_for_administrators,
    provisioning_walkup_card_is_the_cardholders_own,
    provisioning_self_enrollment_policy,
);

/// A plain client for looking behind the storage's back; its connection
/// runs on a thread of its own (and ends with the test process).
fn raw(url: &str, schema: &str) -> tokio_postgres::Client {
    let (sender, receiver) = std::sync::mpsc::channel();
    let url = url.to_owned();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let (client, connection) = tokio_postgres::connect(&url, NoTls).await.unwrap();
            sender.send(client).unwrap();
            let _ = connection.await;
        });
    });
    let client = receiver.recv().unwrap();
    sync(client.batch_execute(&format!("SET search_path TO \"{schema}\""))).unwrap();
    client
}

fn sync<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(future)
}

#[test]
fn migrations_apply_once_refuse_a_newer_schema_and_the_schema_goes_away() {
    let Some(url) = url() else { return };
    let storage = PostgresStorage::scratch(&url).unwrap();
    let schema = storage.schema().unwrap().to_owned();
    let known = MIGRATIONS.len() as u32;
    assert_eq!(storage.schema_version().unwrap(), known);

    // Reopening the same schema applies nothing twice.
    let again = PostgresStorage::open_in_schema(&url, &schema).unwrap();
    assert_eq!(again.schema_version().unwrap(), known);
    let client = raw(&url, &schema);
    let rows = sync(client.query("SELECT version FROM registry_schema", &[])).unwrap();
    assert_eq!(rows.len(), known as usize, "one row per migration");

    // A schema from a newer registry is refused.
    sync(client.execute("INSERT INTO registry_schema (version) VALUES ($1)", &[&(known as i32 + 1)]))
        .unwrap();
    match PostgresStorage::open_in_schema(&url, &schema) {
        Err(registry::Error::SchemaTooNew { found, known: k }) => assert_eq!((found, k), (known + 1, known)),
        other => panic!("a newer schema must be refused, got {other:?}"),
    }
    drop(again);

    // The scratch schema is dropped with its storage.
    drop(storage);
    let left = sync(client.query("SELECT 1 FROM pg_namespace WHERE nspname = $1", &[&schema])).unwrap();
    assert!(left.is_empty(), "schema {schema} must be gone");
}

#[test]
fn the_audit_table_is_append_only_and_constraints_hold() {
    let Some(url) = url() else { return };
    let storage = PostgresStorage::scratch(&url).unwrap();
    let settings = registry::DeploymentSettings::default();
    registry::admin::init(&storage, &settings, "admin", "pw-123456", time::OffsetDateTime::now_utc())
        .unwrap();
    let client = raw(&url, storage.schema().unwrap());
    assert!(sync(client.execute("UPDATE audit SET body = '{}'", &[])).is_err(), "audit events cannot change");
    assert!(sync(client.execute("DELETE FROM audit", &[])).is_err(), "audit events cannot be removed");
    assert!(sync(client.execute("TRUNCATE audit", &[])).is_err(), "audit events cannot be truncated");
    let orphan = sync(client.execute(
        "INSERT INTO certificates (id, device_id, serial, body)
         VALUES (gen_random_uuid(), gen_random_uuid(), 's', '{}')",
        &[],
    ));
    assert!(orphan.is_err(), "a certificate needs a known device");
    let plain = sync(client.execute(
        "INSERT INTO operators (id, person_id, username, password_hash, enabled)
         SELECT gen_random_uuid(), person_id, 'eve', 'plaintext', true FROM operators LIMIT 1",
        &[],
    ));
    assert!(plain.is_err(), "only argon2 verifiers are stored");
    let short = sync(client.execute(
        "INSERT INTO sessions (token_hash, operator_id, created_at, expires_at)
         SELECT '\\x00'::bytea, id, 1, 2 FROM operators LIMIT 1",
        &[],
    ));
    assert!(short.is_err(), "session keys are SHA-256 hashes");
}

fn person_record(name: &str) -> proto::Record {
    proto::Record::Person(domain::Person {
        id: domain::PersonId::new(uuid::Uuid::now_v7()),
        given_name: name.into(),
        family_name: "Test".into(),
        email: None,
        employee_id: None,
        photo: None,
        status: domain::PersonStatus::Active,
    })
}

/// Many threads append changes at once: the feed numbers them 1..=N with no
/// gap and no duplicate, in commit order, and readers polling meanwhile never
/// see a change appear behind their cursor.
#[test]
fn the_change_feed_never_skips_under_concurrent_writers() {
    let Some(url) = url() else { return };
    let storage = Arc::new(PostgresStorage::scratch(&url).unwrap());
    const WRITERS: usize = 4;
    const EACH: usize = 25;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let storage = Arc::clone(&storage);
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut cursor = 0;
            let mut seen = Vec::new();
            loop {
                let done = stop.load(std::sync::atomic::Ordering::SeqCst);
                let page = storage::read(&*storage, |tx| tx.changes_after(cursor, 1000)).unwrap();
                for change in page {
                    assert_eq!(change.seq, cursor + 1, "a change appeared behind the cursor or was skipped");
                    cursor = change.seq;
                    seen.push(change.seq);
                }
                if done {
                    return seen;
                }
            }
        })
    };
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let storage = Arc::clone(&storage);
            std::thread::spawn(move || {
                let mut mine = Vec::new();
                for i in 0..EACH {
                    let record = person_record(&format!("writer {w} person {i}"));
                    let seq = storage::write(&*storage, |tx| {
                        tx.put_record(&record)?;
                        tx.append_change(time::OffsetDateTime::now_utc(), &record)
                    })
                    .unwrap();
                    mine.push(seq);
                }
                mine
            })
        })
        .collect();
    let mut all: Vec<u64> = writers.into_iter().flat_map(|w| w.join().unwrap()).collect();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let seen = reader.join().unwrap();
    all.sort_unstable();
    let expected: Vec<u64> = (1..=(WRITERS * EACH) as u64).collect();
    assert_eq!(all, expected, "every append got its own number, none skipped");
    assert_eq!(seen, expected, "the reader saw every change once, in order");
}

/// The same operation id sent on many connections at once is applied once:
/// every sender gets the first answer, and one record exists.
#[test]
fn one_operation_id_on_many_connections_is_applied_once() {
    let Some(url) = url() else { return };
    let storage = Arc::new(PostgresStorage::scratch(&url).unwrap());
    let now = time::OffsetDateTime::now_utc();
    registry::admin::init(&*storage, &registry::DeploymentSettings::default(), "admin", "pw-123456", now)
        .unwrap();
    let admin = storage::read(&*storage, |tx| tx.operator_by_username("admin")).unwrap().unwrap().operator;
    let op_id = uuid::Uuid::now_v7();
    let applied = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let threads: Vec<_> = (0..6)
        .map(|i| {
            let storage = Arc::clone(&storage);
            let applied = Arc::clone(&applied);
            let operator = admin.id;
            std::thread::spawn(move || {
                storage::write(&*storage, |tx| {
                    if let Some(registry::storage::Applied { answer, .. }) = tx.answer_of(op_id)? {
                        return Ok(answer);
                    }
                    let record = person_record(&format!("sent by thread {i}"));
                    tx.put_record(&record)?;
                    tx.append_change(now, &record)?;
                    let answer = proto::Answer::Rejected {
                        op_id,
                        code: "invalid".into(),
                        message: format!("first sent by thread {i}"),
                    };
                    tx.record_answer(op_id, operator, &answer, now, &[])?;
                    applied.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    Ok(answer)
                })
                .unwrap()
            })
        })
        .collect();
    let answers: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(applied.load(std::sync::atomic::Ordering::SeqCst), 1, "applied exactly once");
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "every sender got the first answer: {answers:?}");
    let changes = storage::read(&*storage, |tx| tx.changes_after(0, 1000)).unwrap();
    let people = changes.iter().filter(|c| c.record.type_name() == "person").count();
    let before = 1; // admin::init stores the administrator as a person
    assert_eq!(people, before + 1, "one new person, not one per sender");
}

/// A failed write leaves nothing behind, and the next write still works on
/// the same pooled connection.
#[test]
fn a_failed_write_rolls_back_and_the_connection_is_reusable() {
    let Some(url) = url() else { return };
    let storage = PostgresStorage::scratch(&url).unwrap();
    let before = storage.dump().unwrap();
    let record = person_record("rolled back");
    let outcome = storage::write(&storage, |tx| {
        tx.put_record(&record)?;
        tx.append_change(time::OffsetDateTime::now_utc(), &record)?;
        Err::<(), _>(registry::Error::Invalid("refused on purpose".into()))
    });
    assert!(outcome.is_err());
    assert_eq!(storage.dump().unwrap(), before, "nothing of the failed write remains");
    // A statement error aborts a PostgreSQL transaction: it must not leak into the next one.
    let duplicate = storage::write(&storage, |tx| {
        tx.put_record(&record)?;
        // An unknown operator: the foreign key fails inside PostgreSQL.
        let nobody = domain::OperatorId::new(uuid::Uuid::now_v7());
        let answer =
            proto::Answer::Rejected { op_id: uuid::Uuid::now_v7(), code: "x".into(), message: "x".into() };
        tx.record_answer(uuid::Uuid::now_v7(), nobody, &answer, time::OffsetDateTime::now_utc(), &[])
    });
    assert!(duplicate.is_err());
    let seq = storage::write(&storage, |tx| {
        tx.put_record(&record)?;
        tx.append_change(time::OffsetDateTime::now_utc(), &record)
    })
    .unwrap();
    assert_eq!(seq, 1, "the rolled-back change left no gap in the feed");
    // Writes through a read transaction fail.
    let other = person_record("read-only");
    assert!(storage::read(&storage, |tx| tx.put_record(&other)).is_err());
}

/// The storage the next [`captured`] factory call made, for the test that
/// asked for it (each test has its own slot).
static CONCURRENT: std::sync::Mutex<Option<Arc<PostgresStorage>>> = std::sync::Mutex::new(None);
static BROKEN: std::sync::Mutex<Option<Arc<PostgresStorage>>> = std::sync::Mutex::new(None);

fn captured(slot: &std::sync::Mutex<Option<Arc<PostgresStorage>>>) -> Arc<dyn Storage> {
    let url = url().expect("checked by the test before the factory runs");
    let storage = Arc::new(PostgresStorage::scratch(&url).expect("a fresh PostgreSQL schema"));
    *slot.lock().unwrap() = Some(Arc::clone(&storage));
    storage
}

fn concurrent_factory() -> Arc<dyn Storage> {
    captured(&CONCURRENT)
}

fn broken_factory() -> Arc<dyn Storage> {
    captured(&BROKEN)
}

/// Pauses a writer now and then at a [`Pause`] point: it widens the window
/// between numbering a change and committing it, where a feed numbered
/// before commit lets a reader skip. Only scheduling depends on it, never
/// an assertion.
fn random_pauses() -> Arc<dyn Fn(registry::storage::postgres::Pause) + Send + Sync> {
    let state = Arc::new(std::sync::atomic::AtomicU64::new(0x9e37_79b9_7f4a_7c15));
    Arc::new(move |_point| {
        let mut x = state.fetch_add(0x9e37_79b9_7f4a_7c15, std::sync::atomic::Ordering::Relaxed);
        x ^= x >> 31;
        x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x ^= x >> 29;
        if x.is_multiple_of(3) {
            std::thread::sleep(std::time::Duration::from_micros(x % 3000));
        }
    })
}

/// Sends `ops` to one registry instance as the holder of `token`.
async fn send_ops(app: &axum::Router, token: &str, ops: &[proto::Operation]) -> Vec<proto::Answer> {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let body = serde_json::to_vec(&proto::OperationBatch { operations: ops.to_vec() }).unwrap();
    let request = axum::http::Request::builder()
        .method("POST")
        .uri("/v1/operations")
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(axum::body::Body::from(body))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), axum::http::StatusCode::OK);
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice::<proto::AnswerBatch>(&bytes).unwrap().answers
}

/// One page of the feed after `cursor` from one registry instance.
async fn pull(app: &axum::Router, token: &str, cursor: &str) -> proto::ChangesPage {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let request = axum::http::Request::builder()
        .uri(format!("/v1/changes?since={cursor}&limit=1000"))
        .header("authorization", format!("Bearer {token}"))
        .body(axum::body::Body::empty())
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), axum::http::StatusCode::OK);
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&bytes).unwrap()
}

/// What a puller saw: every change in the order it arrived.
struct Pulled {
    seqs: Vec<u64>,
    replica: std::collections::BTreeMap<(String, uuid::Uuid), proto::Record>,
}

/// 16 writers over two registry instances on one schema: each creates
/// people of its own and requests cards for the one shared cardholder,
/// sends each operation to both instances at once (same `op_id`), and
/// pairs of writers approve and reject the same request at once; a puller
/// pulls the feed from the first instance all along. Returns what the
/// checks found wrong, if anything.
async fn concurrent_load(
    factory: suite::Factory,
    slot: &std::sync::Mutex<Option<Arc<PostgresStorage>>>,
    broken: bool,
) -> Vec<String> {
    use proto::{Operation, OperationKind};
    const WRITERS: usize = 16;
    const ROUNDS: usize = 6;
    let f = suite::Fixture::new(factory).await;
    let first = slot.lock().unwrap().take().unwrap();
    let url = url().unwrap();
    let second = Arc::new(PostgresStorage::open_in_schema(&url, first.schema().unwrap()).unwrap());
    for storage in [&first, &second] {
        if broken {
            storage.break_feed_numbering().unwrap();
        }
        storage.pause_writers_with(Some(random_pauses()));
    }
    let second_registry = registry::Registry::new(Arc::clone(&second) as Arc<dyn Storage>)
        .with_escrow(Arc::new(suite::TestSeal))
        .with_authority(Arc::new(suite::test_authority()));
    let apps = [f.app.clone(), registry::app(second_registry)];
    let contested: Vec<_> = {
        let mut out = Vec::new();
        for _ in 0..WRITERS / 2 * ROUNDS / 2 {
            out.push(f.request_card().await.0);
        }
        out
    };
    let applied_before = suite::table_rows(&f.dump(), "applied_ops");

    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let puller = {
        let app = apps[0].clone();
        let token = f.token("admin").to_owned();
        let done = Arc::clone(&done);
        tokio::spawn(async move {
            let mut pulled = Pulled { seqs: Vec::new(), replica: Default::default() };
            let mut cursor = "0".to_owned();
            loop {
                // Read before the pull: a pull that starts after the writers finished sees all.
                let finished = done.load(std::sync::atomic::Ordering::SeqCst);
                let page = pull(&app, &token, &cursor).await;
                for change in page.changes {
                    pulled.seqs.push(change.seq);
                    let key = (change.record.type_name().to_owned(), change.record.id());
                    pulled.replica.insert(key, change.record);
                }
                cursor = page.next_cursor;
                if finished && !page.more {
                    return pulled;
                }
            }
        })
    };

    let mut writers = tokio::task::JoinSet::new();
    for w in 0..WRITERS {
        let apps = apps.clone();
        let requester = f.token("requester").to_owned();
        let decider = if w % 2 == 0 { f.token("approver") } else { f.token("admin") }.to_owned();
        let admin = f.token("admin").to_owned();
        let (cardholder, profile) = (f.cardholder, f.profile);
        let contested = contested.clone();
        writers.spawn(async move {
            let mut sent = Vec::new();
            for round in 0..ROUNDS {
                let own = suite::operation(OperationKind::CreatePerson(proto::CreatePerson {
                    id: domain::PersonId::new(uuid::Uuid::now_v7()),
                    given_name: format!("Writer {w}"),
                    family_name: format!("Round {round}"),
                    email: None,
                    employee_id: None,
                }));
                let shared = suite::operation(OperationKind::RequestCard(proto::RequestCard {
                    request: domain::RequestId::new(uuid::Uuid::now_v7()),
                    device: domain::DeviceId::new(uuid::Uuid::now_v7()),
                    person: cardholder,
                    profile,
                    reason: None,
                    notes: Some(format!("writer {w} round {round}")),
                    route: None,
                }));
                // The same operations to both instances at once.
                for (token, op) in [(&admin, own), (&requester, shared)] {
                    let ops: Vec<Operation> = vec![op];
                    let (a, b) =
                        tokio::join!(send_ops(&apps[0], token, &ops), send_ops(&apps[1], token, &ops));
                    assert_eq!(a, b, "both instances answer the same operation alike");
                    assert!(a[0].is_accepted(), "{a:?}");
                    sent.push((ops[0].op_id, None));
                }
                // Writers 2k and 2k+1 decide the same request at once, one approving, one rejecting.
                if round % 2 == 0 {
                    let request = contested[(w / 2) * (ROUNDS / 2) + round / 2];
                    let kind = if w % 2 == 0 {
                        OperationKind::ApproveRequest(proto::ApproveRequest { request, notes: None })
                    } else {
                        OperationKind::RejectRequest(proto::RejectRequest { request, notes: None })
                    };
                    let op = suite::operation(kind);
                    let answer = send_ops(&apps[w % 2], &decider, std::slice::from_ref(&op)).await.remove(0);
                    sent.push((op.op_id, Some((request, answer))));
                }
            }
            sent
        });
    }
    let mut sent = Vec::new();
    while let Some(outcome) = writers.join_next().await {
        sent.extend(outcome.unwrap());
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let pulled = puller.await.unwrap();
    for storage in [&first, &second] {
        storage.pause_writers_with(None);
    }

    let mut problems = Vec::new();
    // Each operation applied once.
    let applied = suite::table_rows(&f.dump(), "applied_ops") - applied_before;
    if applied != sent.len() {
        problems.push(format!("{applied} operations recorded, {} sent", sent.len()));
    }
    // Each conflict resolved once.
    let mut decisions: std::collections::HashMap<_, Vec<proto::Answer>> = Default::default();
    for (_, decided) in &sent {
        if let Some((request, answer)) = decided {
            decisions.entry(*request).or_default().push(answer.clone());
        }
    }
    for (request, answers) in &decisions {
        let accepted = answers.iter().filter(|a| a.is_accepted()).count();
        if answers.len() != 2 || accepted != 1 {
            problems.push(format!("request {request:?} resolved {accepted} times: {answers:?}"));
        }
    }
    // Feed numbers strictly increasing for the puller, and none skipped.
    if !pulled.seqs.windows(2).all(|w| w[0] < w[1]) {
        problems.push("the puller's feed numbers went backwards".into());
    }
    let feed = storage::read(&*first, |tx| {
        let mut all = Vec::new();
        loop {
            let page = tx.changes_after(all.last().map_or(0, |c: &proto::Change| c.seq), 1000)?;
            if page.is_empty() {
                return Ok(all);
            }
            all.extend(page);
        }
    })
    .unwrap();
    let all_seqs: Vec<u64> = feed.iter().map(|c| c.seq).collect();
    if pulled.seqs != all_seqs {
        let seen: std::collections::BTreeSet<_> = pulled.seqs.iter().collect();
        let skipped: Vec<_> = all_seqs.iter().filter(|s| !seen.contains(s)).collect();
        problems.push(format!("the puller skipped changes {skipped:?}"));
    }
    // The puller's replica equals the registry's records.
    for ((kind, id), record) in &pulled.replica {
        let stored = storage::read(&*first, |tx| {
            Ok(match kind.as_str() {
                "person" => tx.person(domain::PersonId::new(*id))?.map(proto::Record::Person),
                "device" => tx.device(domain::DeviceId::new(*id))?.map(proto::Record::Device),
                "request" => tx.request(domain::RequestId::new(*id))?.map(proto::Record::Request),
                _ => Some(record.clone()),
            })
        })
        .unwrap();
        if stored.as_ref() != Some(record) {
            problems.push(format!("the replica's {kind} {id} differs from the registry's"));
        }
    }
    let mut latest = std::collections::BTreeMap::new();
    for change in feed {
        latest.insert((change.record.type_name().to_owned(), change.record.id()), change.record);
    }
    if latest.len() != pulled.replica.len() {
        problems.push(format!(
            "the replica holds {} records, the registry {}",
            pulled.replica.len(),
            latest.len()
        ));
    }
    problems
}

/// Issue 17: 16 clients over two instances, same `op_id` on both at once,
/// conflicting decisions, writers pausing inside their transactions, and a
/// puller all along: nothing applied twice, nothing resolved twice, nothing
/// skipped.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_writers_on_two_instances_and_a_puller() {
    if url().is_none() {
        return;
    }
    let problems = concurrent_load(concurrent_factory, &CONCURRENT, false).await;
    assert!(problems.is_empty(), "{problems:#?}");
}

/// The same load on the broken variant (changes numbered by a SEQUENCE
/// before commit) must be caught. Not run by default: whether a skip
/// happens depends on scheduling (`cargo test -- --ignored` to see it).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "shows the concurrency test catching a broken feed; needs an unlucky schedule"]
async fn the_concurrency_test_catches_a_feed_numbered_before_commit() {
    if url().is_none() {
        return;
    }
    let problems = concurrent_load(broken_factory, &BROKEN, true).await;
    assert!(problems.iter().any(|p| p.contains("skipped")), "the broken feed went unnoticed: {problems:#?}");
}
