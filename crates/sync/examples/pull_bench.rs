//! Pull benchmark (issue 3: 1 million people and devices pulled into an
//! empty workstation in ≤ 60 s). Not a test: it prints measurements.
//!
//! The registry (SQLite storage, or PostgreSQL with `--database`) is seeded
//! directly through its storage: each person and device is written with
//! `Tx::put_record` and its change with `Tx::append_change`, thousands per
//! transaction, which is what the registry stores when it accepts the
//! operations, without deciding a million operations first. Then a separate
//! workstation process (this program again, `--workstation`) signs in and
//! runs the real `sync::Engine` over pinned TLS on loopback into a new
//! `store` file, and reports the pull time and its own peak memory; the
//! registry process reports the bytes its feed answers carried.
//!
//! `cargo run --release -p sync --example pull_bench -- [--records 1000000] [--database postgres://…]`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::HttpBody;
use domain::*;
use proto::{Login, Password, Record};
use registry::storage::{PostgresStorage, Storage};
use registry::tls::TlsIdentity;
use registry::{admin, DeploymentSettings, Registry, SqliteStorage};
use store::Store;
use sync::{Engine, Fingerprint, RegistryClient};
use time::OffsetDateTime;
use uuid::Uuid;

const PASSWORD: &str = "correct horse battery staple";
/// Records (people and devices together) per seeding transaction.
const SEED_CHUNK: u64 = 10_000;

const GIVEN: [&str; 16] = [
    "Ada",
    "Grace",
    "Alan",
    "Edsger",
    "Barbara",
    "Donald",
    "Frances",
    "Margaret",
    "Radia",
    "Leslie",
    "Katherine",
    "Dorothy",
    "Claude",
    "Annie",
    "Shafi",
    "Whitfield",
];
const FAMILY: [&str; 16] = [
    "Lovelace",
    "Hopper",
    "Turing",
    "Dijkstra",
    "Liskov",
    "Knuth",
    "Allen",
    "Hamilton",
    "Perlman",
    "Lamport",
    "Johnson",
    "Vaughan",
    "Shannon",
    "Easley",
    "Goldwasser",
    "Diffie",
];
/// A YubiKey 5's ATR: a realistic 23-byte answer-to-reset.
const ATR: [u8; 23] = [
    0x3b, 0xfd, 0x13, 0x00, 0x00, 0x81, 0x31, 0xfe, 0x15, 0x80, 0x73, 0xc0, 0x21, 0xc0, 0x57, 0x59, 0x75,
    0x62, 0x69, 0x4b, 0x65, 0x79, 0x40,
];

fn profile_settings() -> ProfileSettings {
    ProfileSettings { card_validity_days: 365, ..ProfileSettings::contact_p256("Bench", true) }
}

/// Person `n` and their card, with field sizes like a real deployment's.
fn pair(n: u64, profile: ProfileRef, expires: OffsetDateTime) -> [Record; 2] {
    let given = GIVEN[(n % 16) as usize];
    let family = format!("{}-{}", FAMILY[((n / 16) % 16) as usize], n / 256);
    let person = Person {
        id: PersonId::new(Uuid::now_v7()),
        given_name: given.to_owned(),
        family_name: family.clone(),
        email: Some(format!("{}.{}@example.org", given.to_lowercase(), family.to_lowercase())),
        employee_id: Some(format!("E{n:07}")),
        photo: None,
        status: PersonStatus::Active,
    };
    let device = Device {
        id: DeviceId::new(Uuid::now_v7()),
        serial: Some(format!("{}", 10_000_000 + n)),
        atr: Some(ATR.to_vec()),
        capabilities: Some(Capabilities::CONTACT),
        owner: Some(person.id),
        profile,
        state: CardState::Active,
        certificates: vec![CertificateId::new(Uuid::now_v7())],
        requested_by: Some(person.id),
        expires_at: Some(expires),
    };
    [Record::Person(person), Record::Device(device)]
}

/// Peak resident memory of this process (VmHWM), in MiB.
fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// CPU seconds this process used (user + system).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    if let Some(url) = arg(&args, "--workstation") {
        let pin = arg(&args, "--pin").expect("--pin").parse().expect("pin");
        let path = arg(&args, "--store").expect("--store");
        runtime.block_on(workstation(&url, pin, &path));
    } else {
        let records: u64 = arg(&args, "--records").and_then(|a| a.parse().ok()).unwrap_or(1_000_000);
        runtime.block_on(registry_side(records, arg(&args, "--database")));
    }
}

/// The workstation process: sign in, pull everything into a new store.
async fn workstation(url: &str, pin: Fingerprint, path: &str) {
    let client = RegistryClient::new(url, pin, Duration::from_secs(120)).unwrap();
    let login = Login {
        username: "admin".into(),
        password: Password::new(PASSWORD),
        workstation: None,
        workstation_key: None,
    };
    let grant = client.login(&login).await.unwrap();
    let mut engine = Engine::new(client, grant.token, Some(grant.operator), None);
    let mut store = Store::open(path).unwrap();
    let cpu = cpu_seconds();
    let started = Instant::now();
    let report = engine.sync_once(&mut store, OffsetDateTime::now_utc()).await.unwrap();
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu;
    let size = std::fs::metadata(path).map_or(0, |m| m.len())
        + std::fs::metadata(format!("{path}-wal")).map_or(0, |m| m.len());
    println!(
        "pull: {} records in {elapsed:.2} s = {:.0} records/s ({} pages of {}); workstation CPU {cpu:.1} s, \
         peak RSS {:.0} MiB, store file {:.0} MiB",
        report.pulled,
        report.pulled as f64 / elapsed,
        (report.pulled as u64).div_ceil(u64::from(sync::engine::PULL_PAGE)),
        sync::engine::PULL_PAGE,
        peak_rss_mib(),
        size as f64 / (1024.0 * 1024.0)
    );
    println!(
        "summary: pull {} records into an empty workstation | {elapsed:.1} s, {:.0} records/s, peak RSS {:.0} MiB | <= 60 s",
        report.pulled,
        report.pulled as f64 / elapsed,
        peak_rss_mib()
    );
    // A search right after, as a check that the replica is usable.
    let hits = store.search("E0000042", 5).unwrap();
    assert!(!hits.is_empty(), "the pulled replica finds a person by employee id");
}

async fn registry_side(records: u64, database: Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    let storage: Arc<dyn Storage> = match &database {
        Some(url) => Arc::new(PostgresStorage::scratch(url).unwrap()),
        None => Arc::new(SqliteStorage::open(&dir.path().join("registry.sqlite3")).unwrap()),
    };
    let now = OffsetDateTime::now_utc();
    let deployment =
        DeploymentSettings { use_cases: UseCases::all(), approval_step: false, ..Default::default() };
    admin::init(&*storage, &deployment, "admin", PASSWORD, now).unwrap();
    let profile_id = ProfileId::new(Uuid::now_v7());
    let profile = admin::add_profile(&*storage, profile_id, profile_settings(), now).unwrap();
    let profile = ProfileRef { id: profile.id, version: profile.version };
    let expires = now + time::Duration::days(3 * 365);

    let started = Instant::now();
    let pairs = records.div_ceil(2);
    let mut n = 0;
    while n < pairs {
        let end = (n + SEED_CHUNK / 2).min(pairs);
        registry::storage::write(&*storage, |tx| {
            for i in n..end {
                for record in pair(i, profile, expires) {
                    tx.put_record(&record)?;
                    tx.append_change(now, &record)?;
                }
            }
            Ok(())
        })
        .unwrap();
        n = end;
    }
    let seeded = started.elapsed().as_secs_f64();
    let backend = if database.is_some() { "PostgreSQL" } else { "SQLite" };
    println!(
        "seed: {} records ({pairs} people + {pairs} devices) into the registry's {backend} storage in {seeded:.1} s \
         ({:.0} records/s, {SEED_CHUNK} per transaction)",
        2 * pairs,
        (2 * pairs) as f64 / seeded
    );

    let identity = TlsIdentity::self_signed(&["localhost"]).unwrap();
    let pin = identity.fingerprint();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let bytes = Arc::new(AtomicU64::new(0));
    let counted = bytes.clone();
    let app = registry::app(Registry::new(storage)).layer(axum::middleware::map_response(
        move |response: axum::response::Response| {
            let counted = counted.clone();
            async move {
                counted.fetch_add(response.body().size_hint().exact().unwrap_or(0), Ordering::Relaxed);
                response
            }
        },
    ));
    tokio::spawn(registry::tls::serve_tls(
        listener,
        identity.server_config().unwrap(),
        app,
        std::future::pending(),
    ));

    let cpu = cpu_seconds();
    let path = dir.path().join("workstation.db");
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--workstation", &url, "--pin", &pin, "--store", path.to_str().unwrap()])
        .spawn()
        .unwrap();
    let status = tokio::task::spawn_blocking(move || child.wait()).await.unwrap().unwrap();
    assert!(status.success(), "the workstation process failed: {status}");
    let bytes = bytes.load(Ordering::Relaxed);
    println!(
        "registry: answered {:.0} MiB of HTTP bodies ({:.0} bytes per record), registry CPU {:.1} s",
        bytes as f64 / (1024.0 * 1024.0),
        bytes as f64 / (2 * pairs) as f64,
        cpu_seconds() - cpu
    );
}
