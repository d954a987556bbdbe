//! Search over people, devices and requests, with linked hits.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use store::{Hit, Store};

fn seeded() -> Store {
    let mut store = Store::open_in_memory().unwrap();
    let ada = person(1, "Ada", "Lovelace");
    let grace = person(2, "Grace", "Hopper");
    let mut jose = person(3, "José", "Núñez");
    jose.email = Some("jose@example.org".into());
    let card = device(0x0190_0000_0000_7000_8000_0000_0000_00aa, Some(ada.id), "YK-4711");
    let spare = device(11, None, "YK-9000");
    let req = request(20, Some(card.id), Some(ada.id), "lost badge replacement");
    store
        .apply_remote(
            &[remote(&ada), remote(&grace), remote(&jose), remote(&card), remote(&spare), remote(&req)],
            "c1",
        )
        .unwrap();
    store
}

#[test]
fn finds_people_by_name_email_and_employee_id_with_links() {
    let store = seeded();
    for q in ["lovelace", "Ada Love", "ada.lovelace@example", "E000001"] {
        let hits = store.search(q, 10).unwrap();
        assert_eq!(hits.len(), 1, "{q}: {hits:?}");
        match &hits[0] {
            Hit::Person { person, devices, requests } => {
                assert_eq!(person.family_name, "Lovelace");
                assert_eq!(devices.len(), 1, "the person links to their card");
                assert_eq!(requests.len(), 1, "and to the requests for them");
            }
            other => panic!("{q}: expected a person, got {other:?}"),
        }
    }
    assert!(store.search("Hopper Lovelace", 10).unwrap().is_empty(), "every word must match");
}

#[test]
fn folds_accents() {
    let store = seeded();
    let hits = store.search("nunez", 10).unwrap();
    assert!(matches!(&hits[..], [Hit::Person { person, .. }] if person.given_name == "José"), "{hits:?}");
}

#[test]
fn finds_devices_by_serial_and_guid_with_or_without_hyphens() {
    let store = seeded();
    let guid = "01900000-0000-7000-8000-0000000000aa";
    for q in ["YK-4711", "4711", guid, "0190000000007000800000000000", "01900000"] {
        let hits = store.search(q, 10).unwrap();
        let devices: Vec<_> = hits
            .iter()
            .filter_map(|h| match h {
                Hit::Device { device, requests } => Some((device.serial.clone(), requests.len())),
                _ => None,
            })
            .collect();
        assert_eq!(devices, vec![(Some("YK-4711".to_owned()), 1)], "{q}: {hits:?}");
    }
    let all_yk = store.search("yk", 10).unwrap();
    assert_eq!(all_yk.iter().filter(|h| matches!(h, Hit::Device { .. })).count(), 2);
}

#[test]
fn finds_requests_by_reason_and_kind() {
    let store = seeded();
    let hits = store.search("badge", 10).unwrap();
    assert!(
        matches!(&hits[..], [Hit::Request { request }] if request.reason.as_deref() == Some("lost badge replacement"))
    );
    assert!(store.search("update lost", 10).unwrap().iter().any(|h| matches!(h, Hit::Request { .. })));
}

#[test]
fn hostile_or_empty_queries_are_harmless_and_limits_hold() {
    let store = seeded();
    for q in ["", "   ", "\"", "NEAR(", "*", "a OR b", "') DROP TABLE people; --", "^", "yk:"] {
        store.search(q, 10).unwrap_or_else(|e| panic!("{q:?} must not fail: {e}"));
    }
    assert_eq!(store.search("yk", 1).unwrap().len(), 1);
    assert!(store.search("yk", 0).unwrap().is_empty());
}

#[test]
fn the_index_follows_updates_and_deletes() {
    let mut store = seeded();
    let mut ada = person(1, "Ada", "Lovelace");
    ada.family_name = "King".into();
    ada.email = Some("ada.king@example.org".into());
    store.apply_remote(&[remote(&ada)], "c2").unwrap();
    assert!(store.search("lovelace", 10).unwrap().is_empty(), "the old name is gone from the index");
    assert_eq!(store.search("king", 10).unwrap().len(), 1);
    store.apply_remote(&[removed(store::RecordKind::Person, &ada.id.to_string())], "c3").unwrap();
    let left = store.search("king", 10).unwrap();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn broad_queries_return_the_first_matches_within_the_limit() {
    let mut store = Store::open_in_memory().unwrap();
    let many: Vec<_> = (1..=600).map(|n| remote(&person(n, "Pat", &format!("Common{n}")))).collect();
    store.apply_remote(&many, "c1").unwrap();
    let card = device(5000, None, "COMMON-1");
    store.apply_remote(&[remote(&card)], "c2").unwrap();
    let hits = store.search("common", 7).unwrap();
    assert_eq!(hits.len(), 7, "the limit holds for a query matching 601 records");
    assert!(
        matches!(&hits[0], Hit::Device { device, .. } if device.id == card.id),
        "a ranked match in a narrow table comes before unranked broad ones: {:?}",
        hits[0]
    );
    assert_eq!(store.search("common599", 7).unwrap().len(), 1, "narrow queries still find the one");
}
