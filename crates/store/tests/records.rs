//! Every record kind the replica holds round-trips through the store, both
//! as a local action and as a remote change, and reads back equal.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use domain::*;
use store::{Record, RecordKind, RemoteChange, Store};

fn settings(name: &str) -> ProfileSettings {
    ProfileSettings { card_validity_days: 1095, ..ProfileSettings::contact_p256(name, false) }
}

fn roundtrip<R: Record + PartialEq + std::fmt::Debug>(store: &mut Store, n: u64, record: &R) {
    store.act(op(n, "test.put"), |tx| tx.put(record)).unwrap();
    assert_eq!(store.get::<R>(&record.key()).unwrap().as_ref(), Some(record), "{} via an action", R::KIND);
    store.reject(op_id(n), "test", "undo", NOW).unwrap();
    assert!(store.get::<R>(&record.key()).unwrap().is_none(), "{} rolled back", R::KIND);
    store.apply_remote(&[remote(record)], &format!("c{n}")).unwrap();
    assert_eq!(store.get::<R>(&record.key()).unwrap().as_ref(), Some(record), "{} via the feed", R::KIND);
}

#[test]
fn every_record_kind_round_trips() {
    let mut store = Store::open_in_memory().unwrap();
    let ada = person(1, "Ada", "Lovelace");
    roundtrip(&mut store, 1, &ada);
    let operator = Operator {
        id: OperatorId::from_u128(2),
        person: ada.id,
        username: "ada".into(),
        roles: vec![RoleId::from_u128(3)],
        enabled: true,
    };
    roundtrip(&mut store, 2, &operator);
    let v1 = CredentialProfile::create(P1, settings("Employee")).unwrap();
    let v2 = v1.revise(settings("Employee (2026)")).unwrap();
    roundtrip(&mut store, 3, &v1);
    roundtrip(&mut store, 4, &v2);
    let card = device(10, Some(ada.id), "S-10");
    roundtrip(&mut store, 5, &card);
    let cert = Certificate {
        id: CertificateId::from_u128(11),
        serial: "0A".into(),
        slot: Slot::PivAuthentication,
        subject: "CN=Ada".into(),
        not_before: NOW,
        not_after: NOW,
        state: CertificateState::Revoked { reason: RevocationReason::KeyCompromise },
        device: card.id,
    };
    roundtrip(&mut store, 6, &cert);
    roundtrip(&mut store, 7, &request(12, Some(card.id), Some(ada.id), "r"));
    let temp = TemporaryCard {
        id: DeviceId::from_u128(13),
        serial: Some("T-1".into()),
        profile: ProfileRef { id: P1, version: 1 },
        state: TemporaryCardState::Assigned,
        holder: Some(ada.id),
        assigned_until: Some(NOW),
        permanent_card: Some(card.id),
    };
    roundtrip(&mut store, 8, &temp);
    let batch = BatchOrder {
        id: BatchId::from_u128(14),
        created_by: ada.id,
        created_at: NOW,
        options: BatchOptions::default(),
        items: vec![BatchItem { device: card.id, status: BatchItemStatus::Pending }],
        cancelled: false,
    };
    roundtrip(&mut store, 9, &batch);
    let task = ProvisioningTask {
        id: TaskId::from_u128(15),
        number: 7,
        operator: operator.id,
        emailed_to: "ada@example.org".into(),
        start_date: NOW,
        stop_date: NOW,
        enrollments: vec![],
        removed: false,
        profile: None,
    };
    roundtrip(&mut store, 10, &task);
    let event = AuditEvent::append(
        AuditDraft {
            id: AuditEventId::from_u128(16),
            at: NOW,
            actor: Some(operator.id),
            workstation: None,
            action: "device.request".into(),
            object: AuditObject::Device(card.id),
            outcome: AuditOutcome::Success,
            notes: None,
        },
        None,
    );
    roundtrip(&mut store, 11, &event);

    // Profile versions are separate records; the latest is v2.
    assert_eq!(store.latest_profile(P1).unwrap(), Some(v2.clone()));
    assert_eq!(store.get::<CredentialProfile>(&format!("{P1}/1")).unwrap(), Some(v1));
    for kind in RecordKind::ALL {
        assert_eq!(kind.name().parse::<RecordKind>().unwrap(), kind);
    }
}

#[test]
fn a_change_of_the_wrong_kind_is_refused() {
    let mut store = Store::open_in_memory().unwrap();
    let ada = person(1, "Ada", "Lovelace");
    let mut change = remote(&ada);
    change.kind = RecordKind::Device;
    assert!(store.apply_remote(&[change], "c1").is_err(), "a person is not a device");
    let bad_state = RemoteChange {
        kind: RecordKind::Device,
        key: DeviceId::from_u128(10).to_string(),
        doc: Some({
            let mut v = serde_json::to_value(device(10, None, "S")).unwrap();
            v["state"] = serde_json::json!("on_fire");
            v
        }),
    };
    assert!(store.apply_remote(&[bad_state], "c1").is_err(), "an unknown state is refused");
}
