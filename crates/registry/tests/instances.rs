//! Several `cardstation-registry serve` processes on one PostgreSQL database
//! (issue 17, SPEC §1 "any number of stateless registry instances"), as the
//! README's deployment notes run them: the second instance's data directory
//! is a copy of the first's (the KEK, the CA, the audit key, the TLS
//! identity), both serve the same database.
//!
//! - A session made at one instance works at the other, and signing out at
//!   either ends it at both.
//! - Under load from 8 clients spread over both, one instance is SIGKILLed:
//!   its clients send the same operations again at the other. Afterwards
//!   every operation was applied once (a replay of all of them answers with
//!   the first answers) and the feed holds each new person exactly once.
//!
//! Needs `CARDSTATION_TEST_POSTGRES` (skipped with a message without it,
//! except under `CI=true`); the database is a fresh schema, dropped after.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod pg_url;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use domain::PersonId;
use proto::{AnswerBatch, ChangesPage, Operation, OperationBatch, OperationKind, Record};
use registry::storage::postgres::PostgresStorage;
use time::OffsetDateTime;
use uuid::Uuid;

const BIN: &str = env!("CARGO_BIN_EXE_cardstation-registry");
const PASSWORD: &str = "instances-test-password-1";
/// Operations sent in the load, and after how many accepted ones the second instance dies.
const OPS: usize = 480;
const KILL_AFTER: usize = OPS / 3;
const CLIENTS: usize = 8;

/// A `serve` process; SIGKILLed on drop.
struct Instance {
    child: Child,
    url: String,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(data: &Path, database: &str) -> Instance {
    let mut child = Command::new(BIN)
        .args(["--database", database, "serve", "--data", data.to_str().unwrap(), "--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting cardstation-registry serve");
    let stdout = child.stdout.take().unwrap();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(url) = line.strip_prefix("listening on ") {
            return Instance { child, url: url.trim().to_owned() };
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("cardstation-registry serve never said where it listens");
}

fn client(data: &Path) -> reqwest::Client {
    let (identity, created) = registry::tls::TlsIdentity::load_or_create(data, &[]).unwrap();
    assert!(!created, "serve made the identity");
    reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(identity.cert_pem().as_bytes()).unwrap())
        .build()
        .unwrap()
}

async fn sign_in(http: &reqwest::Client, base: &str) -> String {
    let grant: proto::SessionGrant = http
        .post(format!("{base}/v1/sessions"))
        .json(&serde_json::json!({"username": "admin", "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .await
        .unwrap();
    grant.token.expose().to_owned()
}

async fn feed_status(http: &reqwest::Client, base: &str, token: &str) -> reqwest::StatusCode {
    http.get(format!("{base}/v1/changes?limit=1")).bearer_auth(token).send().await.unwrap().status()
}

fn create_person(family: &str) -> Operation {
    Operation {
        op_id: Uuid::now_v7(),
        actor: None,
        workstation: None,
        created_at: OffsetDateTime::now_utc(),
        op: OperationKind::CreatePerson(proto::CreatePerson {
            id: PersonId::new(Uuid::now_v7()),
            given_name: "Instance".into(),
            family_name: family.into(),
            email: None,
            employee_id: None,
        }),
    }
}

/// Sends `ops` to `base`; the answers, or why the request failed.
async fn send(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    ops: Vec<Operation>,
) -> Result<AnswerBatch, String> {
    let response = http
        .post(format!("{base}/v1/operations"))
        .bearer_auth(token)
        .json(&OperationBatch { operations: ops })
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !response.status().is_success() {
        return Err(format!("HTTP {}", response.status()));
    }
    response.json().await.map_err(|e| e.to_string())
}

/// Every person in `base`'s feed whose family name is `family`, with how often it appears.
async fn people_in_feed(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    family: &str,
) -> BTreeMap<PersonId, usize> {
    let mut seen = BTreeMap::new();
    let mut since = String::new();
    loop {
        let mut url = format!("{base}/v1/changes?limit=1000");
        if !since.is_empty() {
            url.push_str(&format!("&since={since}"));
        }
        let page: ChangesPage = http
            .get(url)
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap()
            .json()
            .await
            .unwrap();
        for change in &page.changes {
            if let Record::Person(p) = &change.record {
                if p.family_name == family {
                    *seen.entry(p.id).or_default() += 1;
                }
            }
        }
        since = page.next_cursor;
        if !page.more {
            return seen;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_share_sessions_and_survive_a_sigkill() {
    let Some(base_url) = pg_url::url() else { return };
    // A fresh schema (dropped with `scratch`), which both instances reach
    // through the connection's search_path.
    let scratch = PostgresStorage::scratch(&base_url).unwrap();
    let schema = scratch.schema().unwrap().to_owned();
    let sep = if base_url.contains('?') { '&' } else { '?' };
    let database = format!("{base_url}{sep}options=-c%20search_path%3D{schema}");

    let dir = tempfile::tempdir().unwrap();
    let (a_dir, b_dir) = (dir.path().join("a"), dir.path().join("b"));
    let init = Command::new(BIN)
        .args(["--database", &database, "init", "--data", a_dir.to_str().unwrap()])
        .env("CARDSTATION_ADMIN_PASSWORD", PASSWORD)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(init.status.success(), "init: {}", String::from_utf8_lossy(&init.stderr));
    let a = serve(&a_dir, &database);
    // The second instance's directory: a copy of the first's keys and identity.
    let copy = Command::new("cp").args(["-a"]).arg(&a_dir).arg(&b_dir).status().unwrap();
    assert!(copy.success());
    let b = Arc::new(Mutex::new(Some(serve(&b_dir, &database))));
    let b_url = b.lock().unwrap().as_ref().unwrap().url.clone();
    let http = client(&a_dir);

    // Sessions: made at A, good at B; signed out at B, gone at A too.
    let token = sign_in(&http, &a.url).await;
    assert_eq!(feed_status(&http, &b_url, &token).await, reqwest::StatusCode::OK, "A's token at B");
    let short = sign_in(&http, &a.url).await;
    let out = http.delete(format!("{b_url}/v1/sessions")).bearer_auth(&short).send().await.unwrap();
    assert!(out.status().is_success(), "signed out at B: {}", out.status());
    assert_eq!(
        feed_status(&http, &a.url, &short).await,
        reqwest::StatusCode::UNAUTHORIZED,
        "revoked at A too"
    );

    // The load: each client starts at "its" instance and moves to the
    // other when a request fails; B is killed part-way.
    let family = format!("Load{}", Uuid::new_v4().simple());
    let ops: Vec<Operation> = (0..OPS).map(|_| create_person(&family)).collect();
    let accepted = Arc::new(AtomicUsize::new(0));
    let killed = Arc::new(tokio::sync::Notify::new());
    let mut tasks = Vec::new();
    for c in 0..CLIENTS {
        let mine: Vec<Operation> = ops.iter().skip(c).step_by(CLIENTS).cloned().collect();
        let urls = if c % 2 == 0 { [a.url.clone(), b_url.clone()] } else { [b_url.clone(), a.url.clone()] };
        let (http, token, accepted, b, killed) =
            (http.clone(), token.clone(), Arc::clone(&accepted), Arc::clone(&b), Arc::clone(&killed));
        tasks.push(tokio::spawn(async move {
            let mut at = 0;
            let mut failovers = 0;
            for op in mine {
                let mut tries = 0;
                let answer = loop {
                    match send(&http, &urls[at], &token, vec![op.clone()]).await {
                        Ok(batch) => break batch.answers.into_iter().next().expect("one answer"),
                        Err(why) => {
                            tries += 1;
                            assert!(tries < 10, "operation {} never went through: {why}", op.op_id);
                            at = 1 - at;
                            failovers += 1;
                        }
                    }
                };
                assert!(answer.is_accepted(), "{answer:?}");
                if accepted.fetch_add(1, Ordering::SeqCst) + 1 == KILL_AFTER {
                    // SIGKILL: no shutdown, connections cut mid-request.
                    drop(b.lock().unwrap().take());
                    killed.notify_one();
                }
            }
            failovers
        }));
    }
    let mut failovers = 0;
    for task in tasks {
        failovers += task.await.unwrap();
    }
    killed.notified().await;
    assert!(b.lock().unwrap().is_none(), "B was killed during the load");
    eprintln!("B killed after {KILL_AFTER} of {OPS} operations; {failovers} requests sent again at A");
    assert!(failovers > 0, "some client had to move to A");
    assert_eq!(accepted.load(Ordering::SeqCst), OPS);

    // Exactly once: replaying everything answers with the first answers…
    for chunk in ops.chunks(100) {
        let replay = send(&http, &a.url, &token, chunk.to_vec()).await.unwrap();
        assert!(replay.answers.iter().all(|x| x.is_accepted()), "a replay is the first answer: {replay:?}");
    }
    // …and the feed holds each person once.
    let seen = people_in_feed(&http, &a.url, &token, &family).await;
    assert_eq!(seen.len(), OPS, "every person recorded");
    assert!(seen.values().all(|n| *n == 1), "none twice");
    for op in &ops {
        let OperationKind::CreatePerson(p) = &op.op else { unreachable!() };
        assert!(seen.contains_key(&p.id), "person {} recorded", p.id);
    }
    drop(a);
    drop(scratch);
}
