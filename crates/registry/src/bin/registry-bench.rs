//! `registry-bench`: accepted operations per second and latency of the
//! registry over TLS on loopback, with SQLite or, given `--database
//! postgres://…`, PostgreSQL (issue 3 benchmark; target ≥ 2,000 accepted
//! operations/s with p99 ≤ 50 ms on SQLite). A benchmark, not a test: it
//! prints what it measures and asserts nothing. PostgreSQL runs in a scratch
//! schema that is dropped afterwards.
//!
//! The server and the clients share this process and the machine's cores.
//! Each client task sends one operation per HTTPS request (the latency is
//! that of one operation, sign-in excluded); pairs of operations create a
//! person and request a card for them, so every operation is accepted and
//! decided by the domain rules. Then the same in batches.
//!
//! ```text
//! cargo run --release -p registry --bin registry-bench -- [--ops 20000] [--clients 16] [--batch 100]
//!     [--database postgres://user:password@127.0.0.1:40432/db]
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;
use domain::{PersonId, ProfileId, ProfileSettings, RequestId, UseCases};
use proto::{Operation, OperationBatch, OperationKind};
use registry::storage::PostgresStorage;
use registry::tls::TlsIdentity;
use registry::{admin, AuditAnchor, DeploymentSettings, Registry, SqliteStorage, Storage};
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Parser, Debug)]
#[command(about = "Registry throughput and latency over TLS on loopback (SQLite or PostgreSQL)")]
struct Args {
    /// Operations sent one per request.
    #[arg(long, default_value_t = 20_000)]
    ops: usize,
    /// Concurrent clients.
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// Operations per request in the batched run (0: skip it).
    #[arg(long, default_value_t = 100)]
    batch: usize,
    /// Operations in the batched run.
    #[arg(long, default_value_t = 20_000)]
    batched_ops: usize,
    /// PostgreSQL URL: measure the registry on PostgreSQL instead of SQLite.
    #[arg(long)]
    database: Option<String>,
    /// With `--database`: commit without waiting for the WAL flush
    /// (`synchronous_commit=off`), close to the durability of SQLite's WAL
    /// with synchronous=NORMAL: a crash may lose the last commits, never
    /// corrupt. Shows how much of PostgreSQL's time is the flush per commit.
    #[arg(long)]
    synchronous_commit_off: bool,
}

fn profile_settings() -> ProfileSettings {
    ProfileSettings { card_validity_days: 365, ..ProfileSettings::contact_p256("Bench", true) }
}

fn op(kind: OperationKind) -> Operation {
    Operation {
        op_id: Uuid::now_v7(),
        actor: None,
        workstation: None,
        created_at: OffsetDateTime::now_utc(),
        op: kind,
    }
}

/// Two accepted operations: a new person, then a card request for them.
fn pair(profile: ProfileId) -> [Operation; 2] {
    let person = PersonId::new(Uuid::now_v7());
    [
        op(OperationKind::CreatePerson(proto::CreatePerson {
            id: person,
            given_name: "Bench".into(),
            family_name: "Person".into(),
            email: None,
            employee_id: None,
        })),
        op(OperationKind::RequestCard(proto::RequestCard {
            request: RequestId::new(Uuid::now_v7()),
            device: domain::DeviceId::new(Uuid::now_v7()),
            person,
            profile,
            reason: None,
            notes: None,
            route: None,
        })),
    ]
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn send(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    operations: Vec<Operation>,
) -> anyhow::Result<usize> {
    let response = client.post(url).bearer_auth(token).json(&OperationBatch { operations }).send().await?;
    if !response.status().is_success() {
        bail!("HTTP {}", response.status());
    }
    let answers: proto::AnswerBatch = response.json().await?;
    if let Some(rejected) = answers.answers.iter().find(|a| !a.is_accepted()) {
        bail!("an operation was rejected: {rejected:?}");
    }
    Ok(answers.answers.len())
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let dir = tempfile_dir()?;
    let (storage, backend): (Arc<dyn Storage>, &str) = match &args.database {
        Some(url) if args.synchronous_commit_off => {
            let sep = if url.contains('?') { '&' } else { '?' };
            let url = format!("{url}{sep}options=-c%20synchronous_commit%3Doff");
            (
                Arc::new(PostgresStorage::scratch(&url).context("opening PostgreSQL")?),
                "PostgreSQL (scratch schema, synchronous_commit=off)",
            )
        }
        Some(url) => (
            Arc::new(PostgresStorage::scratch(url).context("opening PostgreSQL")?),
            "PostgreSQL (scratch schema)",
        ),
        None => (
            Arc::new(SqliteStorage::open(&dir.join("registry.sqlite3"))?),
            "SQLite (WAL, synchronous=NORMAL)",
        ),
    };
    let short = match (&args.database, args.synchronous_commit_off) {
        (None, _) => "sqlite",
        (Some(_), false) => "postgres",
        (Some(_), true) => "postgres synchronous_commit=off",
    };
    // Sealed as `serve` seals: every audit event gets its MAC.
    let kek = authority::FileKek::open_or_create(&dir.join("kek"))?;
    let anchor = Arc::new(AuditAnchor::open_or_create(&dir, &kek, &*storage)?);
    let now = OffsetDateTime::now_utc();
    let settings =
        DeploymentSettings { use_cases: UseCases::all(), approval_step: false, ..Default::default() };
    admin::init(&*storage, &settings, "admin", "bench-password", now)?;
    let profile = ProfileId::new(Uuid::now_v7());
    admin::add_profile(&*storage, profile, profile_settings(), now)?;

    let (identity, _) = TlsIdentity::load_or_create(&dir, &[])?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let app = registry::app(Registry::new(storage).with_audit_anchor(anchor));
    tokio::spawn(registry::tls::serve_tls(listener, identity.server_config()?, app, std::future::pending()));

    let client = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(identity.cert_pem().as_bytes())?)
        .pool_max_idle_per_host(args.clients)
        .build()?;
    let base = format!("https://localhost:{port}");
    let grant: proto::SessionGrant = client
        .post(format!("{base}/v1/sessions"))
        .json(&serde_json::json!({"username": "admin", "password": "bench-password"}))
        .send()
        .await?
        .json()
        .await
        .context("signing in")?;
    let token = grant.token.expose().to_owned();
    let url = format!("{base}/v1/operations");

    println!("registry-bench: {backend}, TLS 1.3 on loopback, {} cores", cores());
    // Warm-up: connections and caches.
    for _ in 0..50 {
        for o in pair(profile) {
            send(&client, &url, &token, vec![o]).await?;
        }
    }

    // One operation per request.
    let per_client = args.ops.div_ceil(args.clients).div_ceil(2);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.clients {
        let (client, url, token) = (client.clone(), url.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(per_client * 2);
            for _ in 0..per_client {
                for o in pair(profile) {
                    let t = Instant::now();
                    send(&client, &url, &token, vec![o]).await?;
                    latencies.push(t.elapsed());
                }
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    let elapsed = started.elapsed();
    latencies.sort();
    println!(
        "single: {} accepted operations in {:.2} s = {:.0} ops/s; latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} clients)",
        latencies.len(),
        elapsed.as_secs_f64(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        ms(percentile(&latencies, 50.0)),
        ms(percentile(&latencies, 99.0)),
        ms(latencies.last().copied().unwrap_or_default()),
        args.clients
    );
    // One line per figure for scripts/bench-registry's summary table.
    println!(
        "summary: registry ops/s, {short}, 1 op per request | {:.0} ops/s, p50 {:.1} ms, p99 {:.1} ms | {}",
        latencies.len() as f64 / elapsed.as_secs_f64(),
        ms(percentile(&latencies, 50.0)),
        ms(percentile(&latencies, 99.0)),
        if args.database.is_some() { "-" } else { ">= 2000 ops/s, p99 <= 50 ms" }
    );

    if args.batch > 0 {
        let batches = args.batched_ops.div_ceil(args.batch);
        let started = Instant::now();
        let mut tasks = Vec::new();
        let clients = args.clients.min(batches).max(1);
        for c in 0..clients {
            let (client, url, token) = (client.clone(), url.clone(), token.clone());
            let mine = (c..batches).step_by(clients).count();
            let size = args.batch;
            tasks.push(tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(mine);
                let mut count = 0;
                for _ in 0..mine {
                    let ops: Vec<Operation> = (0..size.div_ceil(2)).flat_map(|_| pair(profile)).collect();
                    let t = Instant::now();
                    count += send(&client, &url, &token, ops).await?;
                    latencies.push(t.elapsed());
                }
                anyhow::Ok((count, latencies))
            }));
        }
        let mut total = 0;
        let mut latencies = Vec::new();
        for task in tasks {
            let (count, l) = task.await??;
            total += count;
            latencies.extend(l);
        }
        let elapsed = started.elapsed();
        latencies.sort();
        println!(
            "batched: {} accepted operations in {:.2} s = {:.0} ops/s; per-request latency p50 {:.2} ms, p99 {:.2} ms ({} ops per request, {} clients)",
            total,
            elapsed.as_secs_f64(),
            total as f64 / elapsed.as_secs_f64(),
            ms(percentile(&latencies, 50.0)),
            ms(percentile(&latencies, 99.0)),
            args.batch.div_ceil(2) * 2,
            clients
        );
        println!(
            "summary: registry ops/s, {short}, {} ops per request | {:.0} ops/s, request p50 {:.1} ms, p99 {:.1} ms | -",
            args.batch.div_ceil(2) * 2,
            total as f64 / elapsed.as_secs_f64(),
            ms(percentile(&latencies, 50.0)),
            ms(percentile(&latencies, 99.0)),
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("registry-bench-{}", Uuid::now_v7()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
