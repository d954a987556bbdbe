//! Deterministic fixtures for the store's tests: fixed ids, a fixed clock.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use domain::*;
use store::{NewOperation, RecordKind, RemoteChange, Store};
use time::macros::datetime;
use time::OffsetDateTime;
use uuid::Uuid;

pub const NOW: OffsetDateTime = datetime!(2026-01-15 10:00 UTC);
pub const P1: ProfileId = ProfileId::from_u128(101);

pub fn person(n: u128, given: &str, family: &str) -> Person {
    Person {
        id: PersonId::from_u128(n),
        given_name: given.into(),
        family_name: family.into(),
        email: Some(format!("{}.{}@example.org", given.to_lowercase(), family.to_lowercase())),
        employee_id: Some(format!("E{n:06}")),
        photo: None,
        status: PersonStatus::Active,
    }
}

pub fn device(n: u128, owner: Option<PersonId>, serial: &str) -> Device {
    Device {
        id: DeviceId::from_u128(n),
        serial: Some(serial.into()),
        atr: None,
        capabilities: Some(Capabilities::CONTACT),
        owner,
        profile: ProfileRef { id: P1, version: 1 },
        state: CardState::Active,
        certificates: vec![],
        requested_by: None,
        expires_at: None,
    }
}

pub fn request(n: u128, device: Option<DeviceId>, person: Option<PersonId>, reason: &str) -> Request {
    Request {
        id: RequestId::from_u128(n),
        kind: RequestKind::Update,
        state: RequestState::PendingApproval,
        device,
        person,
        profile: P1,
        requester: PersonId::from_u128(9),
        approver: None,
        reason: Some(reason.into()),
        notes: None,
        created_at: NOW,
        updated_at: NOW,
    }
}

/// A deterministic operation id (UUIDv7 layout, counter in the random bits).
pub fn op_id(n: u64) -> Uuid {
    uuid::Builder::from_unix_timestamp_millis(
        1_768_471_200_000 + n,
        &u128::from(n).to_be_bytes()[6..16].try_into().unwrap(),
    )
    .into_uuid()
}

pub fn op(n: u64, kind: &str) -> NewOperation {
    NewOperation {
        op_id: op_id(n),
        kind: kind.into(),
        payload: serde_json::json!({ "n": n }),
        created_at: NOW,
        operator: None,
    }
}

pub fn remote<R: store::Record>(record: &R) -> RemoteChange {
    RemoteChange { kind: R::KIND, key: record.key(), doc: Some(serde_json::to_value(record).unwrap()) }
}

pub fn removed(kind: RecordKind, key: &str) -> RemoteChange {
    RemoteChange { kind, key: key.into(), doc: None }
}

pub fn counts(store: &Store) -> (i64, i64) {
    let c = store.connection();
    let people: i64 = c.query_row("SELECT count(*) FROM people", [], |r| r.get(0)).unwrap();
    let ops: i64 = c.query_row("SELECT count(*) FROM outbox", [], |r| r.get(0)).unwrap();
    (people, ops)
}
