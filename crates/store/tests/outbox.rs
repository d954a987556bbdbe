//! The outbox: one transaction per action, answers, rollback of rejected
//! operations, remote changes, per-record status.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use domain::{CardState, Device, DeviceId, Person, PersonId};
use store::{Error, OpState, RecordKind, RecordStatus, Store};

#[derive(Debug)]
enum ActionError {
    Store(#[allow(dead_code)] Error),
    Refused,
}

impl From<Error> for ActionError {
    fn from(e: Error) -> Self {
        ActionError::Store(e)
    }
}

fn add_person(store: &mut Store, n: u64, p: &Person) {
    store.act(op(n, "person.create"), |tx| tx.put(p)).unwrap();
}

#[test]
fn an_action_and_its_operation_commit_together() {
    let mut store = Store::open_in_memory().unwrap();
    let ada = person(1, "Ada", "Lovelace");
    add_person(&mut store, 1, &ada);
    assert_eq!(store.get::<Person>(&ada.id.to_string()).unwrap(), Some(ada.clone()));
    let ops = store.operations().unwrap();
    assert_eq!(ops.len(), 1);
    assert_eq!(ops[0].op_id, op_id(1), "the caller's id is kept, not replaced");
    assert_eq!(ops[0].kind, "person.create");
    assert_eq!(ops[0].state, OpState::Pending);
    assert_eq!(store.queue_len().unwrap(), 1);
    assert_eq!(
        store.record_status(RecordKind::Person, &ada.id.to_string()).unwrap(),
        RecordStatus::Pending { op_id: op_id(1) }
    );
}

#[test]
fn a_failing_action_leaves_neither_change_nor_outbox_entry() {
    let mut store = Store::open_in_memory().unwrap();
    let ada = person(1, "Ada", "Lovelace");
    let out: Result<(), ActionError> = store.act(op(1, "person.create"), |tx| {
        tx.put(&ada)?;
        Err(ActionError::Refused)
    });
    assert!(matches!(out, Err(ActionError::Refused)));
    assert_eq!(counts(&store), (0, 0), "the refused action must leave nothing behind");

    // A store error inside the action (a duplicate op id) also rolls everything back.
    add_person(&mut store, 2, &person(2, "Grace", "Hopper"));
    let dup = store.act(op(2, "person.create"), |tx| tx.put(&ada));
    assert!(matches!(dup, Err(Error::Sqlite(_))), "an op id is enqueued once: {dup:?}");
    assert_eq!(counts(&store), (1, 1));
    assert!(store.get::<Person>(&ada.id.to_string()).unwrap().is_none());
}

#[test]
fn rejection_rolls_back_creations_and_modifications() {
    let mut store = Store::open_in_memory().unwrap();
    let ada = person(1, "Ada", "Lovelace");
    store.apply_remote(&[remote(&ada)], "c1").unwrap();

    // Modify a synced record, create a new one, in one action.
    let mut renamed = ada.clone();
    renamed.family_name = "King".into();
    let card = device(10, Some(ada.id), "S-10");
    store
        .act(op(1, "person.rename_and_card"), |tx| {
            tx.put(&renamed)?;
            tx.put(&card)
        })
        .unwrap();
    assert_eq!(store.get::<Person>(&ada.id.to_string()).unwrap().unwrap().family_name, "King");

    store.reject(op_id(1), "not_permitted", "you may not", NOW).unwrap();
    assert_eq!(store.get::<Person>(&ada.id.to_string()).unwrap(), Some(ada.clone()), "modification undone");
    assert!(store.get::<Device>(&card.id.to_string()).unwrap().is_none(), "creation undone");
    assert!(store.search("King", 10).unwrap().is_empty(), "the search index follows the rollback");
    match store.operation(op_id(1)).unwrap().unwrap().state {
        OpState::Rejected { code, reason, .. } => {
            assert_eq!((code.as_str(), reason.as_str()), ("not_permitted", "you may not"))
        }
        other => panic!("expected rejected, got {other:?}"),
    }
    assert_eq!(
        store.record_status(RecordKind::Device, &card.id.to_string()).unwrap(),
        RecordStatus::Rejected {
            op_id: op_id(1),
            code: "not_permitted".into(),
            reason: "you may not".into()
        }
    );
    assert_eq!(store.queue_len().unwrap(), 0);
    // A replayed answer is idempotent; a contradicting one is refused.
    store.reject(op_id(1), "not_permitted", "you may not", NOW).unwrap();
    assert!(matches!(store.accept(op_id(1), None, NOW), Err(Error::AlreadyAnswered { .. })));
}

#[test]
fn rejecting_an_earlier_operation_rebases_a_later_one() {
    let mut store = Store::open_in_memory().unwrap();
    let mut card = device(10, None, "S-10");
    card.state = CardState::Active;
    store.apply_remote(&[remote(&card)], "c1").unwrap();
    let key = card.id.to_string();

    let mut inactive = card.clone();
    inactive.state = CardState::Inactive;
    store.act(op(1, "card.deactivate"), |tx| tx.put(&inactive)).unwrap();
    let mut serial = inactive.clone();
    serial.serial = Some("S-11".into());
    store.act(op(2, "card.reserial"), |tx| tx.put(&serial)).unwrap();

    // The first is rejected while the second is pending: the row keeps the
    // later operation's effect, and the later one's undo now lands on the
    // registry's version.
    store.reject(op_id(1), "state_not_allowed", "no", NOW).unwrap();
    assert_eq!(store.get::<Device>(&key).unwrap(), Some(serial.clone()));
    assert_eq!(
        store.record_status(RecordKind::Device, &key).unwrap(),
        RecordStatus::Pending { op_id: op_id(2) }
    );
    store.reject(op_id(2), "state_not_allowed", "no", NOW).unwrap();
    assert_eq!(store.get::<Device>(&key).unwrap(), Some(card), "both undone: back to the registry's record");
}

#[test]
fn acceptance_keeps_the_effect_and_marks_the_record() {
    let mut store = Store::open_in_memory().unwrap();
    let ada = person(1, "Ada", "Lovelace");
    add_person(&mut store, 1, &ada);
    store.accept(op_id(1), Some(&serde_json::json!({"ok": true})), NOW).unwrap();
    store.accept(op_id(1), None, NOW).unwrap();
    assert_eq!(store.get::<Person>(&ada.id.to_string()).unwrap(), Some(ada.clone()));
    assert_eq!(
        store.record_status(RecordKind::Person, &ada.id.to_string()).unwrap(),
        RecordStatus::Accepted { op_id: op_id(1) }
    );
    assert!(matches!(
        store.operation(op_id(1)).unwrap().unwrap().state,
        OpState::Accepted { result: Some(_), .. }
    ));
    assert!(matches!(store.reject(op_id(1), "x", "y", NOW), Err(Error::AlreadyAnswered { .. })));
    assert!(matches!(store.accept(op_id(99), None, NOW), Err(Error::UnknownOperation(_))));
}

#[test]
fn pending_lists_in_push_order_and_counts_attempts() {
    let mut store = Store::open_in_memory().unwrap();
    for n in 1..=5 {
        add_person(&mut store, n, &person(u128::from(n), "P", &format!("N{n}")));
    }
    store.accept(op_id(2), None, NOW).unwrap();
    let pending: Vec<_> = store.pending(10).unwrap().into_iter().map(|e| e.op_id).collect();
    assert_eq!(pending, vec![op_id(1), op_id(3), op_id(4), op_id(5)]);
    assert_eq!(store.pending(2).unwrap().len(), 2);
    store.note_attempt(op_id(1), Some("connection reset")).unwrap();
    let first = store.operation(op_id(1)).unwrap().unwrap();
    assert_eq!((first.attempts, first.last_error.as_deref()), (1, Some("connection reset")));
}

#[test]
fn remote_changes_apply_idempotently_and_store_the_cursor() {
    let mut store = Store::open_in_memory().unwrap();
    let ada = person(1, "Ada", "Lovelace");
    let card = device(10, Some(ada.id), "S-10");
    let page = [remote(&card), remote(&ada)];
    store.apply_remote(&page, "c2").unwrap();
    store.apply_remote(&page, "c2").unwrap();
    assert_eq!(store.devices_of(ada.id).unwrap(), vec![card.clone()]);
    assert_eq!(store.sync_state().unwrap().cursor.as_deref(), Some("c2"));
    let n: i64 = store.connection().query_row("SELECT count(*) FROM people", [], |r| r.get(0)).unwrap();
    assert_eq!(n, 1, "re-applying a page duplicates nothing");

    store.apply_remote(&[removed(RecordKind::Device, &card.id.to_string())], "c3").unwrap();
    store.apply_remote(&[removed(RecordKind::Device, &card.id.to_string())], "c3").unwrap();
    assert!(store.devices_of(ada.id).unwrap().is_empty());
    assert_eq!(counts(&store), (1, 0), "remote changes never enter the outbox");
}

#[test]
fn a_malformed_remote_change_changes_nothing() {
    let mut store = Store::open_in_memory().unwrap();
    let ada = person(1, "Ada", "Lovelace");
    let mut wrong_key = remote(&ada);
    wrong_key.key = PersonId::from_u128(2).to_string();
    let garbage = store::RemoteChange {
        kind: RecordKind::Device,
        key: "x".into(),
        doc: Some(serde_json::json!({"id": 3})),
    };
    for bad in [wrong_key, garbage] {
        let out = store.apply_remote(&[remote(&ada), bad], "c9");
        assert!(matches!(out, Err(Error::InvalidRecord(_))), "{out:?}");
    }
    assert_eq!(counts(&store), (0, 0), "the page is all or nothing");
    assert_eq!(store.sync_state().unwrap().cursor, None, "nor does the cursor move");
}

#[test]
fn a_remote_change_under_a_pending_operation_becomes_its_rollback_base() {
    let mut store = Store::open_in_memory().unwrap();
    let ada = person(1, "Ada", "Lovelace");
    store.apply_remote(&[remote(&ada)], "c1").unwrap();
    let mut local = ada.clone();
    local.given_name = "Augusta".into();
    store.act(op(1, "person.rename"), |tx| tx.put(&local)).unwrap();

    let mut server = ada.clone();
    server.email = Some("ada@registry.example".into());
    let report = store.apply_remote(&[remote(&server)], "c2").unwrap();
    assert_eq!((report.written, report.deferred), (0, 1));
    assert_eq!(
        store.get::<Person>(&ada.id.to_string()).unwrap(),
        Some(local),
        "the pending edit stays visible"
    );

    store.reject(op_id(1), "refused", "no", NOW).unwrap();
    assert_eq!(
        store.get::<Person>(&ada.id.to_string()).unwrap(),
        Some(server),
        "rolled back onto the registry's latest"
    );
}

#[test]
fn local_reads_see_the_actions_own_writes_and_delete_is_undoable() {
    let mut store = Store::open_in_memory().unwrap();
    let card = device(10, None, "S-10");
    store.apply_remote(&[remote(&card)], "c1").unwrap();
    let key = card.id.to_string();
    store
        .act(op(1, "card.erase"), |tx| {
            assert!(tx.get::<Device>(&key)?.is_some());
            tx.delete::<Device>(&key)?;
            assert!(tx.get::<Device>(&key)?.is_none());
            Ok::<_, Error>(())
        })
        .unwrap();
    assert!(store.get::<Device>(&key).unwrap().is_none());
    store.reject(op_id(1), "refused", "no", NOW).unwrap();
    assert_eq!(store.get::<Device>(&DeviceId::from_u128(10).to_string()).unwrap(), Some(card));
}

#[test]
fn sync_state_records_success_and_failure() {
    let mut store = Store::open_in_memory().unwrap();
    store.record_sync(NOW, Err("registry unreachable")).unwrap();
    let s = store.sync_state().unwrap();
    assert_eq!((s.last_sync_at, s.last_error.as_deref()), (None, Some("registry unreachable")));
    store.record_sync(NOW, Ok(())).unwrap();
    let s = store.sync_state().unwrap();
    assert_eq!((s.last_sync_at, s.last_error), (Some(NOW), None));
}

#[test]
fn no_column_can_hold_a_secret() {
    let store = Store::open_in_memory().unwrap();
    let c = store.connection();
    let tables: Vec<String> = c
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(tables.len() > 10);
    for table in tables {
        let cols: Vec<String> = c
            .prepare(&format!("SELECT name FROM pragma_table_info('{table}')"))
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        for col in cols {
            let lower = col.to_lowercase();
            for secret in ["pin", "puk", "secret", "password", "management", "private", "code"] {
                assert!(
                    !lower.contains(secret) || lower == "reason_code",
                    "column {table}.{col} looks like it could hold a secret"
                );
            }
        }
    }
}

#[test]
fn a_batch_of_answers_is_recorded_all_or_nothing() {
    let mut store = Store::open_in_memory().unwrap();
    for n in 1..=3 {
        add_person(&mut store, n, &person(u128::from(n), "P", &format!("N{n}")));
    }
    let unknown = store::OpAnswer::Accepted { op_id: op_id(99), result: None };
    let batch = vec![
        store::OpAnswer::Accepted { op_id: op_id(1), result: None },
        store::OpAnswer::Rejected { op_id: op_id(2), code: "no".into(), reason: "no".into() },
    ];
    let mut bad = batch.clone();
    bad.push(unknown);
    assert!(matches!(store.record_answers(&bad, NOW), Err(Error::UnknownOperation(_))));
    assert_eq!(store.queue_len().unwrap(), 3, "a failing batch records nothing");
    assert_eq!(counts(&store), (3, 3), "and rolls nothing back");
    store.record_answers(&batch, NOW).unwrap();
    assert_eq!(store.queue_len().unwrap(), 1);
    assert_eq!(counts(&store), (2, 3), "the rejected creation is rolled back");
    store.note_attempts(&[op_id(3)], Some("reset")).unwrap();
    assert_eq!(store.operation(op_id(3)).unwrap().unwrap().attempts, 1);
}

#[test]
fn each_operator_pushes_only_their_own_queued_operations_and_unrecorded_ones() {
    let mut store = Store::open_in_memory().unwrap();
    let (abe, rita) = (uuid::Uuid::from_u128(1), uuid::Uuid::from_u128(2));
    let mut by_abe = op(1, "approve_request");
    by_abe.operator = Some(abe);
    let mut by_rita = op(2, "request_card");
    by_rita.operator = Some(rita);
    let legacy = op(3, "create_person");
    for new in [by_abe, by_rita, legacy] {
        store.act(new, |_| Ok::<(), Error>(())).unwrap();
    }
    let seqs = |entries: Vec<store::OutboxEntry>| entries.iter().map(|e| e.op_id).collect::<Vec<_>>();
    assert_eq!(seqs(store.pending_of(rita, 10).unwrap()), [op_id(2), op_id(3)]);
    assert_eq!(seqs(store.pending_of(abe, 10).unwrap()), [op_id(1), op_id(3)]);
    assert_eq!(store.operation(op_id(1)).unwrap().unwrap().operator, Some(abe), "the operator is kept");
    assert_eq!(store.queue_len().unwrap(), 3, "the queue counts everyone's");

    // A rejection waits for its operator until shown to them, once.
    store.reject(op_id(1), "not_permitted", "you may not", NOW).unwrap();
    assert!(store.unseen_rejections(rita).unwrap().is_empty(), "not rita's");
    assert_eq!(seqs(store.unseen_rejections(abe).unwrap()), [op_id(1)]);
    store.mark_seen(&[op_id(1)], NOW).unwrap();
    assert!(store.unseen_rejections(abe).unwrap().is_empty(), "shown once");
    assert!(store.mark_seen(&[op_id(2)], NOW).is_ok(), "a pending one is not marked");
    assert_eq!(store.operation(op_id(2)).unwrap().unwrap().state, OpState::Pending);
}
