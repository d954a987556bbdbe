//! Crash safety: a child process performs actions in a loop and is killed
//! with SIGKILL at random moments; after every kill the database must hold
//! exactly one outbox entry per committed action and no action without one.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use rand::{Rng, SeedableRng};
use store::Store;

const DB_VAR: &str = "STORE_CRASH_DB";
const START_VAR: &str = "STORE_CRASH_START";

/// The child: performs actions `start..` until killed. Does nothing when run
/// as an ordinary test.
#[test]
fn crash_child() {
    let (Ok(path), Ok(start)) = (std::env::var(DB_VAR), std::env::var(START_VAR)) else {
        return;
    };
    let start: u64 = start.parse().unwrap();
    let mut store = Store::open(path).unwrap();
    for n in start.. {
        let p = person(u128::from(n) + 1, "Crash", &format!("N{n}"));
        let card = device(u128::from(n) + 1_000_000_000, Some(p.id), &format!("S{n}"));
        store
            .act(op(n, "person.create_with_card"), |tx| {
                tx.put(&p)?;
                tx.put(&card)
            })
            .unwrap();
    }
}

fn check(path: &std::path::Path) -> u64 {
    let store = Store::open(path).unwrap();
    let c = store.connection();
    let people: BTreeSet<String> = c
        .prepare("SELECT family_name FROM people")
        .unwrap()
        .query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let devices: i64 = c.query_row("SELECT count(*) FROM devices", [], |r| r.get(0)).unwrap();
    let ops = store.operations().unwrap();
    assert_eq!(ops.len(), people.len(), "one outbox entry per committed action");
    assert_eq!(usize::try_from(devices).unwrap(), people.len(), "an action is all or nothing");
    for (i, entry) in ops.iter().enumerate() {
        let n = u64::try_from(i).unwrap();
        assert_eq!(entry.op_id, op_id(n), "operations in order, none missing or doubled");
        assert_eq!(entry.payload, serde_json::json!({ "n": n }));
        assert!(people.contains(&format!("N{n}")), "action {n} has its outbox entry but not its change");
    }
    let fts: i64 = c
        .query_row("SELECT count(*) FROM people_search WHERE people_search MATCH 'crash'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(usize::try_from(fts).unwrap(), people.len(), "the search index commits with the rows");
    u64::try_from(ops.len()).unwrap()
}

#[test]
fn sigkill_at_random_points_loses_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.db");
    let exe = std::env::current_exe().unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5EED);
    let started = Instant::now();
    let mut committed = 0;
    let mut rounds = 0;
    // Bounded: a fixed number of kills, each after a short random delay.
    while rounds < 40 {
        let mut child = Command::new(&exe)
            .args(["--exact", "crash_child", "--nocapture", "--test-threads", "1"])
            .env(DB_VAR, &path)
            .env(START_VAR, committed.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(rng.gen_range(20..120)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let now = check(&path);
        assert!(now >= committed, "committed actions never disappear");
        committed = now;
        rounds += 1;
    }
    eprintln!("{rounds} kills, {committed} actions committed in {:?}", started.elapsed());
    assert!(committed > 0, "the child made progress between kills");
}
