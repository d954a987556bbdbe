//! Large feed pages: people and devices are written with multi-row
//! statements (one search-index segment per statement instead of one per
//! row). The outcome must equal writing each change in order: rewrites and
//! removals of a record inside the same page, across statement chunks, and
//! interleaved with other kinds, leave the last state, and the search index
//! follows it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use domain::{Device, Person, PersonId};
use store::{Hit, RecordKind, Store};

fn people_found(store: &Store, query: &str) -> Vec<PersonId> {
    store
        .search(query, 500)
        .unwrap()
        .into_iter()
        .filter_map(|h| match h {
            Hit::Person { person, .. } => Some(person.id),
            _ => None,
        })
        .collect()
}

#[test]
fn a_large_page_ends_in_the_last_state_of_each_record_and_search_follows() {
    let mut store = Store::open_in_memory().unwrap();
    let mut page = Vec::new();
    // 1,200 people: more than one multi-row statement's worth.
    for n in 1..=1_200u128 {
        page.push(remote(&person(n, "Grace", &format!("Fam{n}"))));
    }
    // Rewritten later in the same page (after the first statement chunk).
    let mut renamed = person(7, "Augusta", "King");
    renamed.email = None;
    page.push(remote(&renamed));
    // Removed in the same page, then one of them comes back.
    page.push(removed(RecordKind::Person, &PersonId::from_u128(8).to_string()));
    page.push(removed(RecordKind::Person, &PersonId::from_u128(9).to_string()));
    page.push(remote(&person(9, "Radia", "Perlman")));
    // Devices interleaved with a request (a kind written one by one).
    let card = device(5_001, Some(PersonId::from_u128(1)), "YK-1");
    page.push(remote(&card));
    page.push(remote(&request(6_001, Some(card.id), Some(PersonId::from_u128(1)), "lost badge")));
    let mut card_again = card.clone();
    card_again.serial = Some("YK-2".into());
    page.push(remote(&card_again));

    let report = store.apply_remote(&page, "c1").unwrap();
    assert_eq!(report.written, page.len());

    let people: i64 = store.connection().query_row("SELECT count(*) FROM people", [], |r| r.get(0)).unwrap();
    assert_eq!(people, 1_199, "1,200 written, one removed");
    assert_eq!(store.get::<Person>(&PersonId::from_u128(7).to_string()).unwrap(), Some(renamed));
    assert_eq!(store.get::<Person>(&PersonId::from_u128(8).to_string()).unwrap(), None);
    assert_eq!(
        store.get::<Person>(&PersonId::from_u128(9).to_string()).unwrap().map(|p| p.given_name),
        Some("Radia".to_owned())
    );
    assert_eq!(store.get::<Device>(&card.id.to_string()).unwrap(), Some(card_again));

    assert_eq!(people_found(&store, "Augusta King"), vec![PersonId::from_u128(7)]);
    // "Fam7" also matches Fam70…, as a prefix: only person 7 must be gone from it.
    let fam7 = people_found(&store, "Fam7");
    assert!(fam7.contains(&PersonId::from_u128(70)));
    assert!(!fam7.contains(&PersonId::from_u128(7)), "the old name left the index");
    let fam8 = people_found(&store, "Fam8");
    assert!(fam8.contains(&PersonId::from_u128(80)));
    assert!(!fam8.contains(&PersonId::from_u128(8)), "a removed person is not found");
    assert_eq!(people_found(&store, "Radia"), vec![PersonId::from_u128(9)]);
    assert_eq!(people_found(&store, "Fam1199"), vec![PersonId::from_u128(1_199)]);
    let devices: Vec<_> =
        store.search("YK-2", 10).unwrap().into_iter().filter(|h| matches!(h, Hit::Device { .. })).collect();
    assert_eq!(devices.len(), 1, "the device is found by its latest serial");
    assert!(store.search("YK-1", 10).unwrap().iter().all(|h| !matches!(h, Hit::Device { .. })));

    // Applying the same page again changes nothing.
    store.apply_remote(&page, "c1").unwrap();
    let again: i64 = store.connection().query_row("SELECT count(*) FROM people", [], |r| r.get(0)).unwrap();
    assert_eq!(again, 1_199);
    assert_eq!(people_found(&store, "Augusta"), vec![PersonId::from_u128(7)]);
}
