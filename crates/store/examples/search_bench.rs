//! Local search latency over a large replica (issue 3 benchmark: search p99
//! ≤ 20 ms over 1 million people and devices). Not a test: it prints
//! measurements.
//!
//! `cargo run --release -p store --example search_bench -- [people] [queries]`
//! (default 1,000,000 people, each with one device, and 2,000 queries).
//! The database is built once in a temporary directory through the same
//! path as the change feed ([`store::Store::apply_remote`]), in pages.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use domain::*;
use rand::{Rng, SeedableRng};
use store::{RemoteChange, Store};

const GIVEN: [&str; 40] = [
    "Ada",
    "Grace",
    "Alan",
    "Edsger",
    "Barbara",
    "Donald",
    "Frances",
    "John",
    "Margaret",
    "Ken",
    "Dennis",
    "Radia",
    "Leslie",
    "Tony",
    "Niklaus",
    "Hedy",
    "Katherine",
    "Dorothy",
    "Claude",
    "Annie",
    "Mary",
    "Jean",
    "Karen",
    "Sophie",
    "Lynn",
    "Carol",
    "Shafi",
    "Whitfield",
    "Martin",
    "Adi",
    "Ralph",
    "Ron",
    "Ivan",
    "Butler",
    "Fernando",
    "Robin",
    "Juris",
    "Judea",
    "Silvio",
    "Yoshua",
];

fn family(i: u64) -> String {
    // 5,000 distinct family names: each matches ~200 people at 1 M.
    const SYL: [&str; 20] = [
        "ka", "lo", "mi", "ne", "ro", "sa", "tu", "vi", "we", "zo", "ba", "de", "fi", "go", "hu", "ja", "ke",
        "li", "mo", "nu",
    ];
    let n = i % 5_000;
    let (a, b, c) = (n % 20, (n / 20) % 20, (n / 400) % 20);
    let mut s = format!("{}{}{}n", SYL[a as usize], SYL[b as usize], SYL[c as usize]);
    if let Some(first) = s.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
    s
}

/// CPU seconds this process used (user + system), from /proc: the machine
/// may be shared, so wall time alone overstates the cost.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    // Fields 14 and 15 of stat (utime, stime) are 11 and 12 after the command; 100 ticks/s.
    (ticks(11) + ticks(12)) / 100.0
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let people: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1_000_000);
    let queries: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(2_000);
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path().join("bench.db")).unwrap();

    let profile = ProfileRef { id: ProfileId::from_u128(1), version: 1 };
    let started = Instant::now();
    let cpu_started = cpu_seconds();
    let page = 5_000u64;
    let mut i = 0u64;
    while i < people {
        let mut changes = Vec::with_capacity(2 * page as usize);
        for n in i..(i + page).min(people) {
            let person = Person {
                id: PersonId::from_u128(u128::from(n) + 1),
                given_name: GIVEN[(n % 40) as usize].to_owned(),
                family_name: family(n / 40),
                email: Some(format!("user{n}@example.org")),
                employee_id: Some(format!("E{n:07}")),
                photo: None,
                status: PersonStatus::Active,
            };
            let device = Device {
                id: DeviceId::from_u128((1 << 100) + u128::from(n)),
                serial: Some(format!("YK{n:08}")),
                atr: None,
                capabilities: Some(Capabilities::CONTACT),
                owner: Some(person.id),
                profile,
                state: CardState::Active,
                certificates: vec![],
                requested_by: None,
                expires_at: None,
            };
            changes.push(RemoteChange {
                kind: store::RecordKind::Person,
                key: person.id.to_string(),
                doc: Some(serde_json::to_value(&person).unwrap()),
            });
            changes.push(RemoteChange {
                kind: store::RecordKind::Device,
                key: device.id.to_string(),
                doc: Some(serde_json::to_value(&device).unwrap()),
            });
        }
        i += page;
        store.apply_remote(&changes, &format!("bench-{i}")).unwrap();
    }
    let load = started.elapsed();
    println!(
        "loaded {people} people + {people} devices in {:.1} s wall, {:.1} s CPU ({:.0} records/s wall)",
        load.as_secs_f64(),
        cpu_seconds() - cpu_started,
        (2 * people) as f64 / load.as_secs_f64()
    );

    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut kinds: Vec<(&str, Vec<f64>)> = vec![
        ("family name", vec![]),
        ("given + family", vec![]),
        ("employee id", vec![]),
        ("serial", vec![]),
        ("guid", vec![]),
        ("3-letter prefix", vec![]),
    ];
    let mut all = Vec::with_capacity(queries);
    for q in 0..queries {
        let n = rng.gen_range(0..people);
        let which = q % kinds.len();
        let text = match which {
            0 => family(n / 40),
            1 => format!("{} {}", GIVEN[(n % 40) as usize], family(n / 40)),
            2 => format!("E{n:07}"),
            3 => format!("YK{n:08}"),
            4 => DeviceId::from_u128((1 << 100) + u128::from(n)).to_string(),
            _ => family(n / 40)[..3].to_owned(),
        };
        let t = Instant::now();
        let hits = store.search(&text, 20).unwrap();
        let ms = t.elapsed().as_secs_f64() * 1e3;
        assert!(!hits.is_empty(), "{text} found nothing");
        kinds[which].1.push(ms);
        all.push(ms);
    }
    let pct = |v: &mut Vec<f64>, p: f64| {
        v.sort_by(f64::total_cmp);
        v[((v.len() as f64 * p).ceil() as usize).saturating_sub(1).min(v.len() - 1)]
    };
    for (name, v) in &mut kinds {
        println!(
            "{name:>16}: p50 {:6.2} ms  p99 {:6.2} ms  ({} queries)",
            pct(v, 0.50),
            pct(v, 0.99),
            v.len()
        );
    }
    println!(
        "{:>16}: p50 {:6.2} ms  p99 {:6.2} ms  ({} queries, limit 20)",
        "all",
        pct(&mut all, 0.50),
        pct(&mut all, 0.99),
        all.len()
    );
    println!(
        "summary: search over {} people + {} devices | p50 {:.2} ms, p99 {:.2} ms | p99 <= 20 ms",
        people,
        people,
        pct(&mut all, 0.50),
        pct(&mut all, 0.99)
    );
}
