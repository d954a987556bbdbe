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
//! With `--instances N` (PostgreSQL only), N registry instances (each its
//! own `Registry`, storage connection pool, TLS listener and port) share one
//! database and one data directory (the KEK and the audit key), as
//! `cardstation-registry serve` processes do behind a load balancer; the
//! clients are dealt round-robin to the instances, all with the token of one
//! sign-in at the first: sessions live in the database, so a token is valid
//! at every instance.
//!
//! ```text
//! cargo run --release -p registry --bin registry-bench -- [--ops 20000] [--clients 16] [--batch 100]
//!     [--database postgres://user:password@127.0.0.1:40432/db [--instances 2]]
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
    /// With `--database`: registry instances sharing the database.
    #[arg(long, default_value_t = 1)]
    instances: usize,
    /// Measure nothing: write "URL TOKEN" (the first instance's operations
    /// endpoint and a session token) into FILE, mode 0600, and serve until
    /// FILE is removed: for an independent load generator (scripts/bench-registry
    /// runs wrk against it).
    #[arg(long, value_name = "FILE")]
    serve_for: Option<std::path::PathBuf>,
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
    if args.instances == 0 || (args.instances > 1 && args.database.is_none()) {
        bail!("--instances N (N ≥ 1) needs --database: SQLite is one process's file");
    }
    let dir = tempfile_dir()?;
    // The URL every instance connects with, and the scratch schema they share.
    let pg_url = args.database.as_ref().map(|url| {
        if args.synchronous_commit_off {
            let sep = if url.contains('?') { '&' } else { '?' };
            format!("{url}{sep}options=-c%20synchronous_commit%3Doff")
        } else {
            url.clone()
        }
    });
    let (storage, schema, backend): (Arc<dyn Storage>, Option<String>, &str) = match &pg_url {
        Some(url) => {
            let pg = PostgresStorage::scratch(url).context("opening PostgreSQL")?;
            let schema = pg.schema().map(str::to_owned);
            let backend = if args.synchronous_commit_off {
                "PostgreSQL (scratch schema, synchronous_commit=off)"
            } else {
                "PostgreSQL (scratch schema)"
            };
            (Arc::new(pg), schema, backend)
        }
        None => (
            Arc::new(SqliteStorage::open(&dir.join("registry.sqlite3"))?),
            None,
            "SQLite (WAL, synchronous=NORMAL)",
        ),
    };
    let short = match (&args.database, args.synchronous_commit_off) {
        (None, _) => "sqlite".to_owned(),
        (Some(_), false) => "postgres".to_owned(),
        (Some(_), true) => "postgres synchronous_commit=off".to_owned(),
    };
    let short = if args.instances > 1 { format!("{short}, {} instances", args.instances) } else { short };
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
    let mut ports = Vec::new();
    for instance in 0..args.instances {
        // The first instance made the schema; the others open it.
        let (storage, anchor) = if instance == 0 {
            (Arc::clone(&storage), Arc::clone(&anchor))
        } else {
            let (Some(url), Some(schema)) = (&pg_url, &schema) else { bail!("--instances needs --database") };
            let other: Arc<dyn Storage> = Arc::new(PostgresStorage::open_in_schema(url, schema)?);
            let anchor = Arc::new(AuditAnchor::open_or_create(&dir, &kek, &*other)?);
            (other, anchor)
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        ports.push(listener.local_addr()?.port());
        let app = registry::app(Registry::new(storage).with_audit_anchor(anchor));
        tokio::spawn(registry::tls::serve_tls(
            listener,
            identity.server_config()?,
            app,
            std::future::pending(),
        ));
    }

    let client = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(identity.cert_pem().as_bytes())?)
        .pool_max_idle_per_host(args.clients)
        .build()?;
    let base = format!("https://localhost:{}", ports[0]);
    let grant: proto::SessionGrant = client
        .post(format!("{base}/v1/sessions"))
        .json(&serde_json::json!({"username": "admin", "password": "bench-password"}))
        .send()
        .await?
        .json()
        .await
        .context("signing in")?;
    let token = grant.token.expose().to_owned();
    let urls: Vec<String> = ports.iter().map(|p| format!("https://localhost:{p}/v1/operations")).collect();

    if let Some(file) = &args.serve_for {
        return serve_for(file, &urls[0], &token, &dir).await;
    }
    println!("registry-bench: {backend}, {} instance(s), TLS 1.3 on loopback, {} cores", urls.len(), cores());
    // Warm-up: connections and caches.
    for url in &urls {
        for _ in 0..50 {
            for o in pair(profile) {
                send(&client, url, &token, vec![o]).await?;
            }
        }
    }

    // One operation per request.
    let per_client = args.ops.div_ceil(args.clients).div_ceil(2);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..args.clients {
        let (client, url, token) = (client.clone(), urls[c % urls.len()].clone(), token.clone());
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
            let (client, url, token) = (client.clone(), urls[c % urls.len()].clone(), token.clone());
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

/// Hands the endpoint and a token to another load generator, and serves
/// until it removes `file`.
async fn serve_for(
    file: &std::path::Path,
    url: &str,
    token: &str,
    dir: &std::path::Path,
) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut out = options.open(file).with_context(|| format!("creating {}", file.display()))?;
    writeln!(out, "{url} {token}")?;
    drop(out);
    while file.exists() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = std::fs::remove_dir_all(dir);
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
