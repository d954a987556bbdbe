//! Upgrades from every released schema (sql/frozen/): the data survives and
//! the upgraded database has exactly the shape of a fresh one.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use domain::{Device, Person, Request};
use rusqlite::Connection;
use store::{schema, Error, Hit, OpState, RecordKind, RecordStatus, Store};

/// Creates a database at `version` from its frozen schema.
fn released(path: &std::path::Path, version: u32) -> Connection {
    let (_, sql) = schema::FROZEN.iter().find(|(v, _)| *v == version).expect("a frozen schema");
    let conn = Connection::open(path).unwrap();
    conn.execute_batch(sql).unwrap();
    conn.pragma_update(None, "user_version", version).unwrap();
    conn
}

/// Everything about the schema except formatting: objects, columns, indexes.
fn shape(conn: &Connection) -> Vec<String> {
    let mut out = Vec::new();
    let objects: Vec<(String, String, String, Option<String>)> = conn
        .prepare("SELECT type, name, tbl_name, sql FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%' ORDER BY name")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for (kind, name, table, sql) in objects {
        // Tables altered by ALTER TABLE keep a differently formatted CREATE text: compare columns instead.
        let sql = if kind == "table" && !sql.as_deref().unwrap_or("").contains("VIRTUAL") {
            String::new()
        } else {
            sql.unwrap_or_default().split_whitespace().collect::<Vec<_>>().join(" ")
        };
        out.push(format!("{kind} {name} on {table}: {sql}"));
        if kind == "table" {
            let cols: Vec<String> = conn
                .prepare(&format!(
                    "SELECT name || ' ' || type || ' ' || \"notnull\" || ' ' || coalesce(dflt_value, '-') || ' ' || pk
                     FROM pragma_table_xinfo('{name}')"
                ))
                .unwrap()
                .query_map([], |r| r.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            out.push(format!("  columns {}", cols.join(", ")));
            let checks: i64 = conn
                .query_row(
                    "SELECT (length(sql) - length(replace(upper(sql), 'CHECK', ''))) / 5 FROM sqlite_schema WHERE name = ?1",
                    [&name],
                    |r| r.get(0),
                )
                .unwrap_or(0);
            out.push(format!("  checks {checks}"));
        }
    }
    out
}

#[test]
fn every_released_schema_upgrades_to_the_fresh_shape() {
    let dir = tempfile::tempdir().unwrap();
    let fresh = Store::open(dir.path().join("fresh.db")).unwrap();
    assert_eq!(fresh.schema_version().unwrap(), schema::CURRENT_VERSION);
    let want = shape(fresh.connection());
    assert!(!schema::FROZEN.is_empty());
    for (version, _) in schema::FROZEN {
        let path = dir.path().join(format!("v{version}.db"));
        drop(released(&path, *version));
        let upgraded = Store::open(&path).unwrap();
        assert_eq!(upgraded.schema_version().unwrap(), schema::CURRENT_VERSION);
        assert_eq!(shape(upgraded.connection()), want, "v{version} upgraded differs from a fresh database");
        drop(upgraded);
        // Opening again is a no-op.
        assert_eq!(Store::open(&path).unwrap().schema_version().unwrap(), schema::CURRENT_VERSION);
    }
}

#[test]
fn v1_data_survives_the_upgrade_and_becomes_searchable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.db");
    let ada = person(1, "Ada", "Lovelace");
    let card = device(10, Some(ada.id), "YK-1");
    let mut edited = card.clone();
    edited.serial = Some("YK-2".into());
    let req = request(20, Some(card.id), Some(ada.id), "broken chip");
    {
        // Written the way version 1 of this program wrote them.
        let conn = released(&path, 1);
        let json = |v: &dyn erased::Json| v.json();
        conn.execute(
            "INSERT INTO people (key, given_name, family_name, email, employee_id, status, doc)
             VALUES (?1, 'Ada', 'Lovelace', ?2, ?3, 'active', ?4)",
            rusqlite::params![ada.id.to_string(), ada.email, ada.employee_id, json(&ada)],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO devices (key, serial, owner, profile_id, profile_version, state, doc)
             VALUES (?1, 'YK-2', ?2, ?3, 1, 'active', ?4)",
            rusqlite::params![card.id.to_string(), ada.id.to_string(), P1.to_string(), json(&edited)],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO requests (key, kind, state, device, person, profile_id, requester, created_at, updated_at, doc)
             VALUES (?1, 'update', 'pending_approval', ?2, ?3, ?4, ?5, '2026-01-15T10:00:00Z', '2026-01-15T10:00:00Z', ?6)",
            rusqlite::params![
                req.id.to_string(),
                card.id.to_string(),
                ada.id.to_string(),
                P1.to_string(),
                req.requester.to_string(),
                json(&req)
            ],
        )
        .unwrap();
        // A pending local edit of the device, with its before-image.
        conn.execute(
            "INSERT INTO outbox (op_id, kind, payload, created_at) VALUES (?1, 'device.reserial', '{}', '2026-01-15T10:00:00Z')",
            [op_id(1).to_string()],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO outbox_undo (op_seq, step, record_kind, record_key, before_doc) VALUES (1, 0, 'device', ?1, ?2)",
            rusqlite::params![card.id.to_string(), json(&card)],
        )
        .unwrap();
        conn.execute("UPDATE sync_state SET feed_cursor = 'cursor-41' WHERE id = 1", []).unwrap();
    }

    let mut store = Store::open(&path).unwrap();
    assert_eq!(store.get::<Person>(&ada.id.to_string()).unwrap(), Some(ada.clone()));
    assert_eq!(store.get::<Device>(&card.id.to_string()).unwrap(), Some(edited));
    assert_eq!(store.get::<Request>(&req.id.to_string()).unwrap(), Some(req.clone()));
    assert_eq!(store.sync_state().unwrap().cursor.as_deref(), Some("cursor-41"));
    let pending = store.pending(10).unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(
        (pending[0].op_id, pending[0].attempts, pending[0].state.clone()),
        (op_id(1), 0, OpState::Pending)
    );
    // v2 indexes the requests v1 stored.
    let hits = store.search("broken chip", 10).unwrap();
    assert!(matches!(&hits[..], [Hit::Request { request }] if request.id == req.id), "{hits:?}");
    assert!(!store.search("lovelace", 10).unwrap().is_empty());
    // The v1 undo log still works after the upgrade.
    store.reject(op_id(1), "refused", "no", NOW).unwrap();
    assert_eq!(store.get::<Device>(&card.id.to_string()).unwrap(), Some(card.clone()));
    assert!(matches!(
        store.record_status(RecordKind::Device, &card.id.to_string()).unwrap(),
        RecordStatus::Rejected { .. }
    ));
}

#[test]
fn a_newer_database_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("future.db");
    drop(Store::open(&path).unwrap());
    Connection::open(&path).unwrap().pragma_update(None, "user_version", 99).unwrap();
    let out = Store::open(&path);
    assert!(
        matches!(out, Err(Error::SchemaTooNew { found: 99, supported }) if supported == schema::CURRENT_VERSION),
        "{out:?}"
    );
    let v: u32 =
        Connection::open(&path).unwrap().pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
    assert_eq!(v, 99);
}

/// JSON of any record, for writing rows by hand.
mod erased {
    pub trait Json {
        fn json(&self) -> String;
    }
    impl<T: serde::Serialize> Json for T {
        fn json(&self) -> String {
            serde_json::to_string(self).unwrap()
        }
    }
}

/// v3 → v4 (batch orders): the encoding journal survives, and the upgraded
/// database stores and claims batch cards.
#[test]
fn v3_jobs_survive_the_upgrade_and_batches_can_be_stored() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v3.db");
    let conn = released(&path, 3);
    conn.execute(
        "INSERT INTO jobs (id, kind, device, request, state, card, detail, last_error, created_at, updated_at)
         VALUES ('0190f0a0-0000-7000-8000-000000000001', 'issue', 'dev-1', 'req-1', 'writing', '{}', '{}', NULL,
                 '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')",
        [],
    )
    .unwrap();
    drop(conn);
    let mut store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), schema::CURRENT_VERSION);
    let open = store.open_jobs().unwrap();
    assert_eq!(open.len(), 1, "the v3 job survives");
    assert_eq!(open[0].device, "dev-1");

    let now = time::OffsetDateTime::now_utc();
    let batch = store::Batch {
        id: uuid::Uuid::now_v7(),
        options: serde_json::json!({"pin_length": 6}),
        created_by: "op".into(),
        cancelled: false,
        created_at: now,
        updated_at: now,
    };
    store.create_batch(&batch, &[("r1".into(), "d1".into()), ("r2".into(), "d2".into())]).unwrap();
    let first = store.claim_batch_item(batch.id, "reader A", now).unwrap().unwrap();
    assert_eq!(
        (first.request.as_str(), first.state, first.attempts),
        ("r1", store::BatchItemState::Encoding, 1)
    );
    store.set_batch_cancelled(batch.id, true, now).unwrap();
    assert!(store.claim_batch_item(batch.id, "reader B", now).unwrap().is_none(), "cancelled: no next card");
    store.set_batch_cancelled(batch.id, false, now).unwrap();
    let second = store.claim_batch_item(batch.id, "reader B", now).unwrap().unwrap();
    assert_eq!(second.request, "r2");
    assert!(store.claim_batch_item(batch.id, "reader C", now).unwrap().is_none(), "nothing pending");
    store.update_batch_item(batch.id, 0, store::BatchItemState::Done, Some(open[0].id), None, now).unwrap();
    let items = store.batch_items(batch.id).unwrap();
    assert_eq!(items[0].state, store::BatchItemState::Done);
    assert_eq!(items[0].job, Some(open[0].id));
    assert_eq!(items[1].reader.as_deref(), Some("reader B"));
}

#[test]
fn a_v4_queued_operation_survives_with_no_operator_and_any_operator_may_push_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v4.db");
    let conn = released(&path, 4);
    conn.execute(
        "INSERT INTO outbox (op_id, kind, payload, created_at) VALUES (?1, 'create_person', '{}', '2026-01-01T00:00:00Z')",
        [op_id(1).to_string()],
    )
    .unwrap();
    drop(conn);
    let mut store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), schema::CURRENT_VERSION);
    let queued = store.pending_of(uuid::Uuid::from_u128(9), 10).unwrap();
    assert_eq!((queued.len(), queued[0].operator), (1, None), "queued before v5: anyone's to push");
    let mut mine = op(2, "request_card");
    mine.operator = Some(uuid::Uuid::from_u128(9));
    store.act(mine, |_| Ok::<(), Error>(())).unwrap();
    assert_eq!(store.pending_of(uuid::Uuid::from_u128(8), 10).unwrap().len(), 1, "not someone else's");
}
