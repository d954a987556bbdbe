//! The behaviour suite on SQLite.

mod suite;

use std::sync::Arc;

use registry::{SqliteStorage, Storage};

fn sqlite() -> Arc<dyn Storage> {
    let dir = tempfile::tempdir().expect("a temporary directory").keep();
    Arc::new(SqliteStorage::open(&dir.join("registry.sqlite3")).expect("a fresh database"))
}

macro_rules! on_sqlite {
    ($($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                suite::$name(sqlite).await;
            }
        )*
    };
}

on_sqlite!(
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

#[test]
fn migrations_apply_once_and_refuse_a_newer_schema() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registry.sqlite3");
    let storage = SqliteStorage::open(&path).unwrap();
    let known = registry::storage::sqlite::MIGRATIONS.len() as u32;
    assert_eq!(storage.schema_version().unwrap(), known);
    drop(storage);
    let reopened = SqliteStorage::open(&path).unwrap();
    assert_eq!(reopened.schema_version().unwrap(), known, "reopening applies nothing twice");
    drop(reopened);
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", known + 1).unwrap();
    drop(conn);
    match SqliteStorage::open(&path) {
        Err(registry::Error::SchemaTooNew { found, known: k }) => assert_eq!((found, k), (known + 1, known)),
        other => panic!("a newer schema must be refused, got {other:?}"),
    }
}

#[test]
fn the_audit_table_is_append_only_and_foreign_keys_hold() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registry.sqlite3");
    let storage = SqliteStorage::open(&path).unwrap();
    let settings = registry::DeploymentSettings::default();
    registry::admin::init(&storage, &settings, "admin", "pw-123456", time::OffsetDateTime::now_utc())
        .unwrap();
    drop(storage);
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "foreign_keys", "ON").unwrap();
    assert!(conn.execute("UPDATE audit SET body = '{}'", []).is_err(), "audit events cannot be changed");
    assert!(conn.execute("DELETE FROM audit", []).is_err(), "audit events cannot be removed");
    let orphan = conn.execute(
        "INSERT INTO certificates (id, device_id, serial, body) VALUES ('c', 'no-such-device', 's', '{}')",
        [],
    );
    assert!(orphan.is_err(), "a certificate needs a known device");
    let plain = conn.execute(
        "INSERT INTO operators (id, person_id, username, password_hash, enabled)
         SELECT 'x', person_id, 'eve', 'plaintext', 1 FROM operators LIMIT 1",
        [],
    );
    assert!(plain.is_err(), "only argon2 verifiers are stored");
}

/// Schema 3 rebuilds the change feed (to let it carry temporary cards) and
/// escrow (to hold temporary cards' secrets): a database at schema 2 keeps
/// every change with its sequence number, and new changes follow them.
#[test]
fn schema_3_keeps_the_feed_and_its_sequence() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registry.sqlite3");
    let conn = rusqlite::Connection::open(&path).unwrap();
    for sql in &registry::storage::sqlite::MIGRATIONS[..2] {
        conn.execute_batch(sql).unwrap();
    }
    conn.pragma_update(None, "user_version", 2).unwrap();
    let person = domain::Person {
        id: domain::PersonId::new(uuid::Uuid::now_v7()),
        given_name: "Ada".into(),
        family_name: "Lovelace".into(),
        email: None,
        employee_id: None,
        photo: None,
        status: domain::PersonStatus::Active,
    };
    let body = serde_json::to_string(&proto::Record::Person(person.clone())).unwrap();
    for _ in 0..3 {
        conn.execute(
            "INSERT INTO changes (at, record_type, record_id, body) VALUES ('2026-01-01T00:00:00Z', 'person', ?1, ?2)",
            [person.id.to_string(), body.clone()],
        )
        .unwrap();
    }
    drop(conn);
    let storage = SqliteStorage::open(&path).unwrap();
    // Opening applies schema 3 and every later migration.
    assert_eq!(storage.schema_version().unwrap(), registry::storage::sqlite::MIGRATIONS.len() as u32);
    let seq = registry::storage::write(&storage, |tx| {
        tx.append_change(time::OffsetDateTime::now_utc(), &proto::Record::Person(person.clone()))
    })
    .unwrap();
    assert_eq!(seq, 4, "new changes follow the kept ones");
    let changes = registry::storage::read(&storage, |tx| tx.changes_after(0, 100)).unwrap();
    let seqs: Vec<u64> = changes.iter().map(|c| c.seq).collect();
    assert_eq!(seqs, [1, 2, 3, 4]);
}

#[test]
fn the_database_and_its_journal_are_the_owners_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registry.sqlite3");
    // A database made before (world-readable) is tightened on open.
    std::fs::write(&path, b"").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let storage = SqliteStorage::open(&path).unwrap();
    let settings = registry::DeploymentSettings::default();
    registry::admin::init(&storage, &settings, "admin", "a long password", time::OffsetDateTime::now_utc())
        .unwrap();
    for suffix in ["", "-wal", "-shm"] {
        let file = std::path::PathBuf::from(format!("{}{suffix}", path.display()));
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{} is {mode:o}", file.display());
    }
}
