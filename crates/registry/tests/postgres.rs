//! The behaviour suite on PostgreSQL, plus what only PostgreSQL can get
//! wrong: concurrency across connections, the feed's order, the schema.
//!
//! The database comes from `CARDSTATION_TEST_POSTGRES` (a URL;
//! `scripts/postgres up` starts one and `scripts/test` exports it). Each test
//! runs in a fresh schema `t_<random>` that is dropped when its storage is.
//! Without the variable the tests are skipped with a message, except under
//! `CI=true`, where they fail: CI must never pass without PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod suite;

use std::sync::Arc;

use registry::storage::postgres::{PostgresStorage, MIGRATIONS};
use registry::{storage, Storage};
use tokio_postgres::NoTls;

const URL_VARIABLE: &str = "CARDSTATION_TEST_POSTGRES";

/// The test database's URL; `None` (test skipped) only outside CI.
fn url() -> Option<String> {
    match std::env::var(URL_VARIABLE) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            let message = format!(
                "{URL_VARIABLE} is not set: start PostgreSQL with `scripts/postgres up` and set \
                 {URL_VARIABLE}=$(scripts/postgres url) (scripts/test does both)"
            );
            if std::env::var("CI").is_ok_and(|ci| ci == "true") {
                panic!("CI=true but the PostgreSQL tests cannot run: {message}");
            }
            eprintln!("SKIPPED: {message}");
            None
        }
    }
}

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
    provisioning_permission_matrix,
    provisioning_mail_outbox,
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
