//! The encoding journal: jobs and their steps survive reopening (and an
//! upgrade from every released schema), open jobs are found for recovery,
//! and nothing but the caller's secret-free JSON is kept.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use rusqlite::Connection;
use serde_json::json;
use store::{schema, Job, JobKind, JobState, StepPhase, Store};
use time::macros::datetime;
use uuid::Uuid;

fn job(n: u128, device: &str) -> Job {
    let at = datetime!(2026-11-22 05:00 UTC);
    Job {
        id: Uuid::from_u128(n),
        kind: JobKind::Issue,
        device: device.into(),
        request: Some("req-1".into()),
        state: JobState::Open,
        card: json!({"reader": "Virtual PCD 00 00", "serial": "4242"}),
        detail: json!({"route": "single", "certificates": []}),
        last_error: None,
        created_at: at,
        updated_at: at,
    }
}

#[test]
fn jobs_and_steps_are_journaled_and_found_again_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("station.db");
    let at = datetime!(2026-11-22 05:01 UTC);
    {
        let mut store = Store::open(&path).unwrap();
        store.create_job(&job(1, "dev-a")).unwrap();
        store.create_job(&job(1, "dev-a")).unwrap(); // idempotent
        store.create_job(&job(2, "dev-b")).unwrap();
        store.update_job(Uuid::from_u128(1), JobState::Escrowed, None, None, at).unwrap();
        let step = json!({"step": "set-management-key", "algorithm": "aes-256"});
        assert_eq!(store.record_job_step(Uuid::from_u128(1), StepPhase::Before, &step, at).unwrap(), 0);
        assert_eq!(store.record_job_step(Uuid::from_u128(1), StepPhase::After, &step, at).unwrap(), 1);
        assert_eq!(
            store
                .record_job_step(Uuid::from_u128(1), StepPhase::Before, &json!({"step": "set-pin"}), at)
                .unwrap(),
            2
        );
        store
            .update_job(
                Uuid::from_u128(2),
                JobState::RolledBack,
                Some(&json!({"route": "single", "certificates": ["c1"]})),
                Some("card removed"),
                at,
            )
            .unwrap();
    }
    let store = Store::open(&path).unwrap();
    let open = store.open_jobs().unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].id, Uuid::from_u128(1));
    assert_eq!(open[0].state, JobState::Escrowed);
    let steps = store.job_steps(Uuid::from_u128(1)).unwrap();
    assert_eq!(steps.len(), 3);
    assert_eq!(steps[2].phase, StepPhase::Before, "the interrupted step has no 'after'");
    assert_eq!(steps[2].step["step"], "set-pin");
    let b = store.job(Uuid::from_u128(2)).unwrap().unwrap();
    assert_eq!(b.state, JobState::RolledBack);
    assert_eq!(b.detail["certificates"][0], "c1");
    assert_eq!(b.last_error.as_deref(), Some("card removed"));
    assert_eq!(store.jobs_of_device("dev-b").unwrap().len(), 1);
    assert!(store.job(Uuid::from_u128(3)).unwrap().is_none());
}

#[test]
fn every_released_schema_upgrades_to_one_with_a_working_journal() {
    let dir = tempfile::tempdir().unwrap();
    for (version, sql) in schema::FROZEN {
        let path = dir.path().join(format!("v{version}.db"));
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(sql).unwrap();
            conn.pragma_update(None, "user_version", version).unwrap();
            conn.execute("UPDATE sync_state SET feed_cursor = 'kept' WHERE id = 1", []).unwrap();
        }
        let mut store = Store::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), schema::CURRENT_VERSION);
        assert_eq!(store.sync_state().unwrap().cursor.as_deref(), Some("kept"));
        store.create_job(&job(7, "dev")).unwrap();
        store
            .record_job_step(
                Uuid::from_u128(7),
                StepPhase::Before,
                &json!({"step": "x"}),
                job(7, "dev").created_at,
            )
            .unwrap();
        assert_eq!(store.open_jobs().unwrap().len(), 1, "v{version}");
    }
}

#[test]
fn the_journal_refuses_what_is_not_json_and_unknown_states() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("s.db")).unwrap();
    let bad = store.connection().execute(
        "INSERT INTO jobs (id, kind, device, state, card, detail, created_at, updated_at)
         VALUES ('x', 'issue', 'd', 'open', 'not json', '{}', 't', 't')",
        [],
    );
    assert!(bad.is_err());
    let bad = store.connection().execute(
        "INSERT INTO jobs (id, kind, device, state, card, detail, created_at, updated_at)
         VALUES ('x', 'issue', 'd', 'half-done', '{}', '{}', 't', 't')",
        [],
    );
    assert!(bad.is_err());
}

#[test]
fn unflushed_commits_are_kept_and_full_sync_comes_back_even_after_a_failure() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("station.db");
    // Read through the store's own connection: the pragma is per connection.
    let synchronous = |store: &Store| -> i64 {
        store.connection().query_row("PRAGMA synchronous", [], |r| r.get(0)).unwrap()
    };
    {
        let mut store = Store::open(&path).unwrap();
        assert_eq!(synchronous(&store), 2, "a store commits with synchronous = FULL");
        store.unflushed(|s| s.create_job(&job(7, "dev-u"))).unwrap();
        assert_eq!(synchronous(&store), 2, "FULL again after the unflushed commit");
        let failed = store.unflushed(|s| {
            s.create_job(&job(8, "dev-v"))?;
            Err::<(), _>(store::Error::InvalidRecord("planted failure".into()))
        });
        assert!(failed.is_err(), "the work's error is returned");
        assert_eq!(synchronous(&store), 2, "FULL again after a failed unflushed work");
    }
    // A process that ends (here: drops its connection) loses no unflushed commit.
    let store = Store::open(&path).unwrap();
    let open: Vec<Uuid> = store.open_jobs().unwrap().iter().map(|j| j.id).collect();
    assert!(open.contains(&Uuid::from_u128(7)), "the unflushed job row is there after reopening: {open:?}");
}
