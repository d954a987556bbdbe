//! PostgreSQL storage: the same [`Storage`] contract as SQLite, for
//! deployments that outgrow one file (SPEC §1). Schema: `schema/pg/*.sql`.
//!
//! How the contract is kept, with writers running in parallel:
//!
//! - **Locks scoped to what an operation touches.** A write transaction runs
//!   at READ COMMITTED. Before it reads an aggregate it may change (a
//!   person, card, request, temporary card, task, session, challenge, code,
//!   workstation; a certificate or request also locks its card) it takes
//!   that aggregate's transaction-scoped advisory lock
//!   (`pg_advisory_xact_lock`, key hashed from schema, kind and id),
//!   pipelined with the read in one round trip. Every statement after the
//!   lock sees what the previous holder committed, so two operations on one
//!   aggregate run one after the other and decide exactly as SQLite's single
//!   writer would; operations on different aggregates run in parallel.
//!   Settings, roles and operators are read under a shared lock and written
//!   under the exclusive one. Data that is only inserted (profile and escrow
//!   versions, answers, workstations) relies on its unique key instead.
//! - **Exactly once.** `answer_of` locks the `op_id` before looking for its
//!   answer: the same operation arriving on two connections (or two registry
//!   processes) runs once, the second finds the first's answer; the
//!   `applied_ops` primary key backs that up.
//! - **Lost races are retried here.** A deadlock (two writers locking in
//!   opposite orders), a serialization failure or a unique key taken by a
//!   writer that committed first rolls the transaction back and runs the
//!   work again from the start (`Storage::write` allows it), up to
//!   [`RETRIES`] times; clients never see them.
//! - **The change feed never skips; the audit chain stays one chain.** Both
//!   are numbered in a short critical section at the end of a write: the
//!   first `append_change` or audit append takes the one feed lock, numbers
//!   the change MAX(seq)+1 (the audit event links to the newest event), and
//!   the lock is held until COMMIT. Numbers are thus given out in commit
//!   order without gaps, and a change is visible before the next number is
//!   given out: a reader past cursor N can never see a change below N
//!   commit later (a SEQUENCE could: its numbers are taken before commit —
//!   the tests show that variant failing). To keep the section short the
//!   transaction commits *asynchronously* (`synchronous_commit = off`): the
//!   feed lock goes as soon as the commit record is in the WAL, not after
//!   the disk flush (~4 ms here), so writers queue only for a few
//!   statements and their flushes are grouped. Durability is restored right
//!   after: the writer then commits a transactional WAL message
//!   synchronously, whose flush covers its own commit and every commit it
//!   saw, before `write` returns. A read of the feed or the audit trail does
//!   the same before it returns, so no client is ever shown a change that a
//!   crash of PostgreSQL could still take back.
//! - **Reads** run in REPEATABLE READ READ ONLY transactions: one snapshot;
//!   writes through them fail. Reads other than the feed and the audit
//!   trail do not wait for the flush: a record they show may, if PostgreSQL
//!   crashes within milliseconds, be lost with the write whose client was
//!   never answered (that client retries it).
//! - A failing statement aborts a PostgreSQL transaction (SQLite carries on);
//!   every caller of [`Tx`] propagates errors, and `write` then rolls back.
//!
//! The calls are synchronous like the SQLite ones. Connections are
//! `tokio-postgres` clients driven by a runtime on a thread owned by the
//! storage; callers wait for answers with a plain thread-parking executor, so
//! the storage works from `spawn_blocking`, from plain threads and even from
//! inside an async task (where the sync `postgres` crate would panic).
//! Connections go to a small pool and are reused; a broken one is dropped.
//! TLS to the database is not supported: use loopback or a trusted network.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use domain::{
    AuditEvent, Certificate, CertificateId, CertificateState, CredentialProfile, Device, DeviceId, Operator,
    OperatorId, Person, PersonId, ProfileId, Request, RequestId, Role, RoleId, WorkstationId,
};
use proto::{Answer, Change, EscrowKind, Record};
use time::OffsetDateTime;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls, Row, Statement};
use uuid::Uuid;

use super::{
    Applied, AuditKeySlot, AuditRow, CaCertificateRecord, ChallengeRecord, DeploymentSettings,
    EnrollmentCodeRecord, EscrowVersion, MailRecord, NewEscrow, OfflineUnblockRecord, OperatorAccount,
    SessionRecord, Storage, Tx, WalkupGrant, TABLES,
};
use crate::error::{Error, Result};

/// Schema migrations, in order; table `registry_schema` records those
/// applied. A released migration is frozen: changes go in a new one.
pub const MIGRATIONS: &[&str] = &[
    include_str!("../../schema/pg/001_initial.sql"),
    include_str!("../../schema/pg/002_certificate_authority.sql"),
    include_str!("../../schema/pg/003_temporary_cards.sql"),
    include_str!("../../schema/pg/004_offline_unblock.sql"),
    include_str!("../../schema/pg/005_operation_digest.sql"),
    include_str!("../../schema/pg/006_audit_mac.sql"),
    include_str!("../../schema/pg/007_escrow_history.sql"),
    include_str!("../../schema/pg/008_workstations.sql"),
    include_str!("../../schema/pg/009_provisioning.sql"),
    include_str!("../../schema/pg/010_walkup_grants.sql"),
];

/// Idle connections kept for reuse: at least as many as requests served at
/// once (each holds one), or every request past the pool opens a new
/// connection (a server process and a SCRAM exchange) and closes it after.
const POOLED: usize = 32;

/// The registry's PostgreSQL database.
pub struct PostgresStorage {
    config: tokio_postgres::Config,
    /// Schema the tables live in (`SET search_path`); `None`: the server's default.
    schema: Option<String>,
    /// Dropped with the storage (`DROP SCHEMA … CASCADE`): test schemas.
    drop_schema: bool,
    /// Key of the feed lock (`pg_advisory_xact_lock`), also taken by migrations.
    lock_key: i64,
    /// Prefix of the keys of the aggregate locks: the schema, so registries
    /// in other schemas of the database never wait for each other.
    lock_space: String,
    pool: Mutex<Vec<Conn>>,
    driver: Driver,
    audit_key: AuditKeySlot,
    /// Test hooks ([`PostgresStorage::pause_writers_with`]).
    hooks: Hooks,
}

/// A point inside a write transaction where a test may pause the writer.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pause {
    /// A change was just numbered (the feed lock is held).
    Numbered(u64),
    /// The work is done; COMMIT comes next.
    BeforeCommit,
}

/// Called at each [`Pause`] point by the writer's thread.
type PauseHook = Arc<dyn Fn(Pause) + Send + Sync>;

#[derive(Default)]
struct Hooks {
    pause: std::sync::RwLock<Option<PauseHook>>,
    /// The broken variant the tests must catch: changes numbered by a
    /// SEQUENCE, before commit and without the feed lock.
    sequence_feed: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for PostgresStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The configuration holds the password: show only where the data is.
        f.debug_struct("PostgresStorage")
            .field("hosts", &self.config.get_hosts().len())
            .field("dbname", &self.config.get_dbname())
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

/// The thread whose runtime drives the connections' sockets. Stops when dropped.
struct Driver {
    handle: tokio::runtime::Handle,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Driver {
    fn start() -> Result<Self> {
        let (handle_tx, handle_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("postgres-io".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
                match runtime {
                    Ok(runtime) => {
                        let _ = handle_tx.send(Ok(runtime.handle().clone()));
                        // Until the storage is dropped (the sender goes away).
                        runtime.block_on(async {
                            let _ = stopped.await;
                        });
                    }
                    Err(e) => {
                        let _ = handle_tx.send(Err(e));
                    }
                }
            })
            .map_err(|e| Error::Storage(format!("starting the PostgreSQL I/O thread: {e}")))?;
        let handle = handle_rx
            .recv()
            .map_err(|_| Error::Storage("the PostgreSQL I/O thread died".into()))?
            .map_err(|e| Error::Storage(format!("PostgreSQL I/O runtime: {e}")))?;
        Ok(Self { handle, _stop: stop })
    }
}

/// Waits for `future` by parking the calling thread; needs no runtime (the
/// futures of a `tokio_postgres::Client` only exchange messages with the
/// connection task, which runs on the [`Driver`]).
fn block_on<F: Future>(future: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        match future.as_mut().poll(&mut cx) {
            Poll::Ready(value) => return value,
            Poll::Pending => std::thread::park(),
        }
    }
}

/// A database error as text, with PostgreSQL's SQLSTATE and message when there is one.
fn pg(e: tokio_postgres::Error) -> Error {
    match e.as_db_error() {
        Some(db) => Error::Storage(format!("postgresql {}: {}", db.code().code(), db.message())),
        None => Error::Storage(format!("postgresql: {e}")),
    }
}

fn corrupt(e: impl std::fmt::Display) -> Error {
    Error::Corrupt(e.to_string())
}

fn poisoned() -> Error {
    Error::Storage("the PostgreSQL connection pool lock was poisoned by a panic".into())
}

/// `name` quoted as an SQL identifier.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The advisory-lock key of aggregate `kind` `id` in lock space `space`. A
/// collision only makes two unrelated writers wait for each other.
fn aggregate_key(space: &str, kind: &str, id: &[u8]) -> i64 {
    let mut name = Vec::with_capacity(space.len() + kind.len() + 1 + id.len());
    name.extend_from_slice(space.as_bytes());
    name.extend_from_slice(kind.as_bytes());
    name.push(b'/');
    name.extend_from_slice(id);
    fnv1a(&name)
}

fn fnv1a(bytes: &[u8]) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    i64::from_ne_bytes(hash.to_ne_bytes())
}

/// FNV-1a, 64 bits: a stable advisory-lock key from a name.
fn lock_key(name: &str) -> i64 {
    fnv1a(name.as_bytes())
}

/// Whether a failed transaction only lost a race and may simply run again:
/// a serialization failure, a deadlock, or a unique key taken by a
/// transaction that committed first (e.g. the same `op_id` on two
/// connections, or two versions numbered alike).
fn lost_race(e: &tokio_postgres::Error) -> bool {
    use tokio_postgres::error::SqlState;
    e.code().is_some_and(|code| {
        *code == SqlState::T_R_SERIALIZATION_FAILURE
            || *code == SqlState::T_R_DEADLOCK_DETECTED
            || *code == SqlState::UNIQUE_VIOLATION
    })
}

/// Polls `first` before `second`, so the statement of `first` is sent
/// first, and waits for both: two statements in one round trip.
async fn pipelined<A: Future, B: Future>(first: A, second: B) -> (A::Output, B::Output) {
    let mut first = std::pin::pin!(first);
    let mut second = std::pin::pin!(second);
    let (mut a, mut b) = (None, None);
    std::future::poll_fn(|cx| {
        if a.is_none() {
            if let Poll::Ready(out) = first.as_mut().poll(cx) {
                a = Some(out);
            }
        }
        if b.is_none() {
            if let Poll::Ready(out) = second.as_mut().poll(cx) {
                b = Some(out);
            }
        }
        match (a.take(), b.take()) {
            (Some(a), Some(b)) => Poll::Ready((a, b)),
            (left, right) => {
                (a, b) = (left, right);
                Poll::Pending
            }
        }
    })
    .await
}

/// An advisory lock a write transaction takes before it reads what it may
/// change; held until COMMIT/ROLLBACK.
#[derive(Debug, Clone, Copy)]
enum Lock {
    /// Exclusive: the writer of one aggregate (or of the feed).
    Exclusive(i64),
    /// Shared: readers of data that is rarely written (settings, roles).
    Shared(i64),
}

const LOCK_EXCLUSIVE: &str = "SELECT pg_advisory_xact_lock($1)";
const LOCK_SHARED: &str = "SELECT pg_advisory_xact_lock_shared($1)";

/// One connection and its prepared statements.
struct Conn {
    client: Client,
    statements: HashMap<&'static str, Statement>,
    /// The last failure only lost a race ([`lost_race`]): run again.
    lost_race: bool,
}

impl Conn {
    fn fail(&mut self, e: tokio_postgres::Error) -> Error {
        if lost_race(&e) {
            self.lost_race = true;
        }
        pg(e)
    }

    fn batch(&mut self, sql: &str) -> Result<()> {
        block_on(self.client.batch_execute(sql)).map_err(|e| self.fail(e))
    }

    fn statement(&mut self, sql: &'static str) -> Result<Statement> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = block_on(self.client.prepare(sql)).map_err(|e| self.fail(e))?;
        self.statements.insert(sql, statement.clone());
        Ok(statement)
    }

    /// `lock`'s statement, when there is one, pipelined before the statement.
    fn lock_statement(&mut self, lock: Option<Lock>) -> Result<Option<(Statement, i64)>> {
        Ok(match lock {
            None => None,
            Some(Lock::Exclusive(key)) => Some((self.statement(LOCK_EXCLUSIVE)?, key)),
            Some(Lock::Shared(key)) => Some((self.statement(LOCK_SHARED)?, key)),
        })
    }

    fn query_locked(
        &mut self,
        lock: Option<Lock>,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>> {
        let statement = self.statement(sql)?;
        let outcome = match self.lock_statement(lock)? {
            None => block_on(self.client.query(&statement, params)),
            Some((locking, key)) => {
                let (locked, rows) = block_on(pipelined(
                    self.client.execute(&locking, &[&key]),
                    self.client.query(&statement, params),
                ));
                locked.and(rows)
            }
        };
        outcome.map_err(|e| self.fail(e))
    }

    fn query(&mut self, sql: &'static str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>> {
        self.query_locked(None, sql, params)
    }

    fn query_opt_locked(
        &mut self,
        lock: Option<Lock>,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>> {
        let mut rows = self.query_locked(lock, sql, params)?;
        if rows.len() > 1 {
            return Err(Error::Storage(format!("one row expected, {} found", rows.len())));
        }
        Ok(rows.pop())
    }

    fn query_opt(&mut self, sql: &'static str, params: &[&(dyn ToSql + Sync)]) -> Result<Option<Row>> {
        self.query_opt_locked(None, sql, params)
    }

    fn execute_locked(
        &mut self,
        lock: Option<Lock>,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64> {
        let statement = self.statement(sql)?;
        let outcome = match self.lock_statement(lock)? {
            None => block_on(self.client.execute(&statement, params)),
            Some((locking, key)) => {
                let (locked, count) = block_on(pipelined(
                    self.client.execute(&locking, &[&key]),
                    self.client.execute(&statement, params),
                ));
                locked.and(count)
            }
        };
        outcome.map_err(|e| self.fail(e))
    }

    fn execute(&mut self, sql: &'static str, params: &[&(dyn ToSql + Sync)]) -> Result<u64> {
        self.execute_locked(None, sql, params)
    }
}

impl PostgresStorage {
    /// Connects to `url` (`postgres://user:password@host:port/dbname`, or
    /// the key=value form) and brings the schema up to date, in the
    /// server's default schema (normally `public`).
    pub fn open(url: &str) -> Result<Self> {
        Self::connect(url, None, false)
    }

    /// Like [`open`](Self::open), with the tables in schema `schema`
    /// (created if missing): several registries can share one database.
    pub fn open_in_schema(url: &str, schema: &str) -> Result<Self> {
        Self::connect(url, Some(schema.to_owned()), false)
    }

    /// A registry database in a new schema `t_<random>` that is dropped with
    /// the storage: for tests, which each get an empty database and leave
    /// nothing behind.
    pub fn scratch(url: &str) -> Result<Self> {
        let schema = format!("t_{}", Uuid::new_v4().simple());
        Self::connect(url, Some(schema), true)
    }

    fn connect(url: &str, schema: Option<String>, drop_schema: bool) -> Result<Self> {
        let mut config: tokio_postgres::Config =
            url.parse().map_err(|e| Error::Invalid(format!("PostgreSQL URL: {e}")))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(std::time::Duration::from_secs(10));
        }
        if config.get_application_name().is_none() {
            config.application_name("cardstation-registry");
        }
        let key = lock_key(&format!("cardstation-registry/{}", schema.as_deref().unwrap_or("")));
        let storage = Self {
            config,
            drop_schema,
            lock_key: key,
            lock_space: format!("cardstation-registry/{}/", schema.as_deref().unwrap_or("")),
            schema,
            pool: Mutex::new(Vec::new()),
            driver: Driver::start()?,
            audit_key: AuditKeySlot::default(),
            hooks: Hooks::default(),
        };
        let mut conn = storage.new_connection(false)?;
        if let Some(schema) = &storage.schema {
            conn.batch(&format!("CREATE SCHEMA IF NOT EXISTS {}", quote_ident(schema)))?;
            conn.batch(&format!("SET search_path TO {}", quote_ident(schema)))?;
        }
        migrate(&mut conn, storage.lock_key)?;
        storage.give_back(conn);
        Ok(storage)
    }

    /// The schema version of the database (migrations applied).
    pub fn schema_version(&self) -> Result<u32> {
        let mut conn = self.take()?;
        let version = schema_version(&mut conn);
        self.give_back(conn);
        version
    }

    /// The schema the tables live in, if one was named.
    pub fn schema(&self) -> Option<&str> {
        self.schema.as_deref()
    }

    fn new_connection(&self, set_path: bool) -> Result<Conn> {
        let config = self.config.clone();
        let connecting = self.driver.handle.spawn(async move {
            let (client, connection) = config.connect(NoTls).await?;
            tokio::spawn(async move {
                // Ends when the client is dropped or the server goes away.
                let _ = connection.await;
            });
            Ok::<_, tokio_postgres::Error>(client)
        });
        let client = block_on(connecting).map_err(|e| Error::Task(e.to_string()))?.map_err(pg)?;
        let mut conn = Conn { client, statements: HashMap::new(), lost_race: false };
        if set_path {
            if let Some(schema) = &self.schema {
                conn.batch(&format!("SET search_path TO {}", quote_ident(schema)))?;
            }
        }
        Ok(conn)
    }

    fn take(&self) -> Result<Conn> {
        loop {
            let pooled = self.pool.lock().map_err(|_| poisoned())?.pop();
            match pooled {
                Some(conn) if conn.client.is_closed() => continue,
                Some(conn) => return Ok(conn),
                None => return self.new_connection(true),
            }
        }
    }

    fn give_back(&self, conn: Conn) {
        if conn.client.is_closed() {
            return;
        }
        if let Ok(mut pool) = self.pool.lock() {
            if pool.len() < POOLED {
                pool.push(conn);
            }
        }
    }

    /// Calls `hook` at each [`Pause`] point of every write transaction:
    /// tests pause writers there to widen the races the design must win.
    #[doc(hidden)]
    pub fn pause_writers_with(&self, hook: Option<PauseHook>) {
        if let Ok(mut slot) = self.hooks.pause.write() {
            *slot = hook;
        }
    }

    /// Switches to the broken feed numbering (a SEQUENCE, taken before
    /// commit, no feed lock), which lets a reader skip a change: the tests
    /// show they catch it. Never used by the registry.
    #[doc(hidden)]
    pub fn break_feed_numbering(&self) -> Result<()> {
        let mut conn = self.take()?;
        conn.batch(
            "CREATE SEQUENCE IF NOT EXISTS broken_feed_seq;
             SELECT setval('broken_feed_seq', COALESCE((SELECT MAX(seq) FROM changes), 0) + 1, false)",
        )?;
        self.give_back(conn);
        self.hooks.sequence_feed.store(true, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }

    fn pause_hook(&self) -> Option<PauseHook> {
        self.hooks.pause.read().ok().and_then(|hook| hook.clone())
    }

    /// Runs one write transaction, again from the start while it only lost
    /// a race (deadlock, serialization failure, a unique key taken
    /// meanwhile), at most [`RETRIES`] times.
    fn write_transaction(&self, work: &mut dyn FnMut(&mut dyn Tx) -> Result<()>) -> Result<()> {
        let key = self.audit_key.get()?;
        let pause = self.pause_hook();
        let mut attempt = 0;
        loop {
            let mut conn = self.take()?;
            conn.lost_race = false;
            let outcome = (|| {
                // Asynchronous commit: the feed lock is released as soon as
                // the commit record is in the WAL, not after its flush (see
                // the module docs); the flush is awaited right after.
                conn.batch("BEGIN ISOLATION LEVEL READ COMMITTED; SET LOCAL synchronous_commit TO OFF")?;
                let mut tx = PgTx {
                    conn: &mut conn,
                    audit_key: key.as_deref(),
                    write: Some(Writer {
                        space: &self.lock_space,
                        feed_key: self.lock_key,
                        feed_locked: false,
                        pause: pause.as_deref(),
                        sequence_feed: self.hooks.sequence_feed.load(std::sync::atomic::Ordering::SeqCst),
                    }),
                    flush: false,
                };
                let outcome = work(&mut tx);
                match outcome {
                    Ok(()) => {
                        if let Some(pause) = &pause {
                            pause(Pause::BeforeCommit);
                        }
                        conn.batch(COMMIT_DURABLY)
                    }
                    Err(e) => {
                        conn.batch("ROLLBACK")?;
                        Err(e)
                    }
                }
            })();
            let retry = outcome.is_err() && conn.lost_race && attempt < RETRIES;
            self.end(conn, &outcome);
            if !retry {
                return outcome;
            }
            attempt += 1;
        }
    }

    /// Runs `work` in a read-only snapshot, always rolled back. When it read
    /// the feed or the audit trail, waits until all it saw is flushed (an
    /// asynchronous commit is visible a moment before it is durable).
    fn read_transaction(&self, work: &mut dyn FnMut(&mut dyn Tx) -> Result<()>) -> Result<()> {
        let mut conn = self.take()?;
        let outcome = (|| {
            conn.batch("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")?;
            let mut tx = PgTx { conn: &mut conn, audit_key: None, write: None, flush: false };
            let outcome = work(&mut tx);
            let end = if tx.flush { ROLLBACK_DURABLY } else { "ROLLBACK" };
            conn.batch(end)?;
            outcome
        })();
        self.end(conn, &outcome);
        outcome
    }

    /// Gives `conn` back after a transaction; one whose end failed may be
    /// mid-transaction: it is dropped unless a ROLLBACK works.
    fn end(&self, mut conn: Conn, outcome: &Result<()>) {
        match outcome {
            Err(Error::Storage(_)) => {
                if conn.batch("ROLLBACK").is_ok() {
                    self.give_back(conn);
                }
            }
            _ => self.give_back(conn),
        }
    }
}

/// How often a write that lost a race runs again before its error is returned.
const RETRIES: u32 = 50;

/// Commits (asynchronously: see [`PostgresStorage::write_transaction`]),
/// then waits until that commit and every commit it saw is on disk: a
/// transactional WAL message commits synchronously, and flushing its commit
/// record flushes everything before it. Concurrent writers share one flush.
const COMMIT_DURABLY: &str = "COMMIT; SELECT pg_logical_emit_message(true, 'cardstation-registry', '')";

/// Ends a read, then waits until all it saw is on disk (as [`COMMIT_DURABLY`]).
const ROLLBACK_DURABLY: &str = "ROLLBACK; SELECT pg_logical_emit_message(true, 'cardstation-registry', '')";

impl Drop for PostgresStorage {
    fn drop(&mut self) {
        if !self.drop_schema {
            return;
        }
        if let Some(schema) = self.schema.clone() {
            if let Ok(mut conn) = self.take() {
                let _ = conn.batch(&format!("DROP SCHEMA IF EXISTS {} CASCADE", quote_ident(&schema)));
            }
        }
    }
}

fn schema_version(conn: &mut Conn) -> Result<u32> {
    let row = conn.query_opt("SELECT COALESCE(MAX(version), 0) FROM registry_schema", &[])?;
    let version: i32 = row.map(|r| r.try_get(0)).transpose().map_err(pg)?.unwrap_or(0);
    u32::try_from(version).map_err(corrupt)
}

/// Applies the migrations not yet applied, in one transaction under the
/// write lock (two registries starting together migrate once).
fn migrate(conn: &mut Conn, lock_key: i64) -> Result<()> {
    let known = u32::try_from(MIGRATIONS.len()).map_err(|_| Error::Storage("too many migrations".into()))?;
    conn.batch("BEGIN")?;
    let outcome = (|| {
        conn.execute("SELECT pg_advisory_xact_lock($1)", &[&lock_key])?;
        conn.batch(
            "CREATE TABLE IF NOT EXISTS registry_schema (
                 version    INTEGER PRIMARY KEY CHECK (version >= 1), -- each migration is applied once
                 applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
             )",
        )?;
        // Prepared after the table exists (a statement is bound to the table it names).
        let found = schema_version(conn)?;
        if found > known {
            return Err(Error::SchemaTooNew { found, known });
        }
        for (index, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
            conn.batch(sql)?;
            let version = i32::try_from(index + 1).map_err(corrupt)?;
            conn.execute("INSERT INTO registry_schema (version) VALUES ($1)", &[&version])?;
        }
        Ok(())
    })();
    match outcome {
        Ok(()) => conn.batch("COMMIT"),
        Err(e) => {
            let _ = conn.batch("ROLLBACK");
            Err(e)
        }
    }
}

impl Storage for PostgresStorage {
    fn write(&self, work: &mut dyn FnMut(&mut dyn Tx) -> Result<()>) -> Result<()> {
        self.write_transaction(work)
    }

    fn read(&self, work: &mut dyn FnMut(&mut dyn Tx) -> Result<()>) -> Result<()> {
        self.read_transaction(work)
    }

    fn dump(&self) -> Result<String> {
        let mut conn = self.take()?;
        let outcome = (|| {
            conn.batch("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")?;
            let mut out = String::new();
            for table in TABLES {
                out.push_str(&format!("## {table}\n"));
                let sql = format!("SELECT row_to_json(t)::text FROM {table} t ORDER BY 1");
                for row in block_on(conn.client.query(sql.as_str(), &[])).map_err(pg)? {
                    out.push_str(&row.try_get::<_, String>(0).map_err(pg)?);
                    out.push('\n');
                }
            }
            conn.batch("ROLLBACK")?;
            Ok(out)
        })();
        if outcome.is_ok() {
            self.give_back(conn);
        }
        outcome
    }

    fn seal_audit(&self, key: Arc<authority::AuditKey>) -> Result<()> {
        self.audit_key.set(key)
    }

    fn tamper_audit(&self, sql: &str) -> Result<()> {
        let mut conn = self.take()?;
        // The table's owner may switch its triggers off; so may an attacker who has its credentials.
        let outcome = conn.batch(&format!(
            "BEGIN; ALTER TABLE audit DISABLE TRIGGER USER; {sql}; ALTER TABLE audit ENABLE TRIGGER USER; COMMIT;"
        ));
        if outcome.is_err() {
            let _ = conn.batch("ROLLBACK");
        }
        outcome
    }
}

/// One transaction's view of the database.
struct PgTx<'a> {
    conn: &'a mut Conn,
    audit_key: Option<&'a authority::AuditKey>,
    /// `None` in a read transaction: no locks.
    write: Option<Writer<'a>>,
    /// Read the feed or the audit trail: wait for the flush before answering.
    flush: bool,
}

/// What a write transaction knows about its locks.
struct Writer<'a> {
    space: &'a str,
    feed_key: i64,
    feed_locked: bool,
    pause: Option<&'a (dyn Fn(Pause) + Send + Sync)>,
    sequence_feed: bool,
}

fn rfc3339(at: OffsetDateTime) -> Result<String> {
    at.format(&time::format_description::well_known::Rfc3339).map_err(corrupt)
}

fn parse_rfc3339(text: &str) -> Result<OffsetDateTime> {
    OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).map_err(corrupt)
}

fn unix_to_time(secs: i64) -> Result<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp(secs).map_err(corrupt)
}

fn decode<T: serde::de::DeserializeOwned>(text: &str) -> Result<T> {
    Ok(serde_json::from_str(text)?)
}

fn json<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(corrupt)
}

fn name_of<T: serde::Serialize>(value: &T) -> Result<String> {
    // A snake_case unit enum serializes to a JSON string; tagged ones to an object with "state".
    match serde_json::to_value(value)? {
        serde_json::Value::String(s) => Ok(s),
        serde_json::Value::Object(map) => {
            Ok(map.get("state").and_then(|s| s.as_str()).unwrap_or_default().to_owned())
        }
        other => Ok(other.to_string()),
    }
}

/// The columns of a [`MailRecord`], in the order [`mail_record`] reads them
/// (a macro: statements are `&'static str`, for the statement cache).
macro_rules! mail_columns {
    () => {
        "id, recipient, subject, body, created_at, sent_at, attempts, last_error, next_attempt_at"
    };
}

fn mail_record(r: &Row) -> Result<MailRecord> {
    Ok(MailRecord {
        id: get(r, 0)?,
        recipient: get(r, 1)?,
        subject: get(r, 2)?,
        body: get(r, 3)?,
        created_at: unix_to_time(get(r, 4)?)?,
        sent_at: get::<Option<i64>>(r, 5)?.map(unix_to_time).transpose()?,
        attempts: u32::try_from(get::<i64>(r, 6)?).unwrap_or(u32::MAX),
        last_error: get(r, 7)?,
        next_attempt_at: unix_to_time(get(r, 8)?)?,
    })
}

fn get<'r, T: tokio_postgres::types::FromSql<'r>>(row: &'r Row, index: usize) -> Result<T> {
    row.try_get(index).map_err(pg)
}

fn ca_record(row: &Row) -> Result<CaCertificateRecord> {
    Ok(CaCertificateRecord {
        certificate: CertificateId::new(get(row, 0)?),
        op_id: get(row, 1)?,
        operator: OperatorId::new(get(row, 2)?),
        der: get(row, 3)?,
        issued_at: unix_to_time(get(row, 4)?)?,
    })
}

fn seq_to_i64(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

fn seq_from_i64(seq: i64) -> Result<u64> {
    u64::try_from(seq).map_err(corrupt)
}

/// PostgreSQL text cannot hold NUL: no stored name contains one, so a lookup
/// by such a name finds nothing (SQLite answers the same) instead of failing.
fn storable(text: &str) -> bool {
    !text.contains('\0')
}

impl PgTx<'_> {
    /// In a write transaction, the exclusive lock on aggregate `kind` `id`,
    /// taken before it is read: a writer that reads it next waits for this
    /// transaction's end and then reads what it committed.
    fn lock(&self, kind: &str, id: &[u8]) -> Option<Lock> {
        self.write.as_ref().map(|w| Lock::Exclusive(aggregate_key(w.space, kind, id)))
    }

    /// Like [`lock`](Self::lock), shared: for data read by many writers and
    /// written rarely (settings, roles, operators); its writers take it
    /// exclusively.
    fn lock_shared(&self, kind: &str, id: &[u8]) -> Option<Lock> {
        self.write.as_ref().map(|w| Lock::Shared(aggregate_key(w.space, kind, id)))
    }

    /// The feed lock, the first time a write transaction touches the feed
    /// or the audit chain (see the module docs); `None` when held already.
    fn feed_lock(&mut self) -> Option<Lock> {
        let writer = self.write.as_mut()?;
        if writer.feed_locked || writer.sequence_feed {
            return None;
        }
        writer.feed_locked = true;
        Some(Lock::Exclusive(writer.feed_key))
    }

    /// The broken numbering of [`PostgresStorage::break_feed_numbering`].
    fn append_change_by_sequence(&mut self, at: OffsetDateTime, record: &Record) -> Result<u64> {
        let row = self.conn.query_opt(
            "INSERT INTO changes (seq, at, record_type, record_id, body)
             VALUES (nextval('broken_feed_seq'), $1, $2, $3, $4::text::json) RETURNING seq",
            &[&rfc3339(at)?, &record.type_name(), &record.id(), &json(record)?],
        )?;
        let row = row.ok_or_else(|| Error::Storage("INSERT … RETURNING returned no row".into()))?;
        let seq = seq_from_i64(get(&row, 0)?)?;
        if let Some(pause) = self.write.as_ref().and_then(|w| w.pause) {
            pause(Pause::Numbered(seq));
        }
        Ok(seq)
    }

    fn one_body<T: serde::de::DeserializeOwned>(
        &mut self,
        lock: Option<Lock>,
        sql: &'static str,
        key: &(dyn ToSql + Sync),
    ) -> Result<Option<T>> {
        let row = self.conn.query_opt_locked(lock, sql, &[key])?;
        row.map(|r| decode(&get::<String>(&r, 0)?)).transpose()
    }

    fn bodies<T: serde::de::DeserializeOwned>(
        &mut self,
        lock: Option<Lock>,
        sql: &'static str,
        key: &(dyn ToSql + Sync),
    ) -> Result<Vec<T>> {
        self.conn.query_locked(lock, sql, &[key])?.iter().map(|r| decode(&get::<String>(r, 0)?)).collect()
    }

    fn roles_of(&mut self, operator: OperatorId) -> Result<Vec<RoleId>> {
        let rows = self.conn.query(
            "SELECT role_id FROM operator_roles WHERE operator_id = $1 ORDER BY role_id",
            &[&operator.uuid()],
        )?;
        rows.iter().map(|r| Ok(RoleId::new(get(r, 0)?))).collect()
    }

    fn account(&mut self, row: Option<Row>) -> Result<Option<OperatorAccount>> {
        let Some(row) = row else {
            return Ok(None);
        };
        let id = OperatorId::new(get(&row, 0)?);
        let roles = self.roles_of(id)?;
        Ok(Some(OperatorAccount {
            operator: Operator {
                id,
                person: PersonId::new(get(&row, 1)?),
                username: get(&row, 2)?,
                roles,
                enabled: get(&row, 4)?,
            },
            password_hash: get(&row, 3)?,
        }))
    }
}

impl Tx for PgTx<'_> {
    fn answer_of(&mut self, op_id: Uuid) -> Result<Option<Applied>> {
        // The same operation on two connections: the second waits here, then finds the answer.
        let lock = self.lock("op", op_id.as_bytes());
        let row = self.conn.query_opt_locked(
            lock,
            "SELECT operator_id, answer::text, digest FROM applied_ops WHERE op_id = $1",
            &[&op_id],
        )?;
        row.map(|r| {
            Ok(Applied {
                operator: OperatorId::new(get(&r, 0)?),
                answer: decode(&get::<String>(&r, 1)?)?,
                digest: get(&r, 2)?,
            })
        })
        .transpose()
    }

    fn record_answer(
        &mut self,
        op_id: Uuid,
        operator: OperatorId,
        answer: &Answer,
        at: OffsetDateTime,
        digest: &[u8],
    ) -> Result<()> {
        self.conn.execute(
            "INSERT INTO applied_ops (op_id, operator_id, applied_at, answer, digest)
             VALUES ($1, $2, $3, $4::text::json, $5)",
            &[&op_id, &operator.uuid(), &at.unix_timestamp(), &json(answer)?, &digest],
        )?;
        Ok(())
    }

    fn person(&mut self, id: PersonId) -> Result<Option<Person>> {
        self.one_body(
            self.lock("person", id.uuid().as_bytes()),
            "SELECT body::text FROM people WHERE id = $1",
            &id.uuid(),
        )
    }

    fn latest_profile(&mut self, id: ProfileId) -> Result<Option<CredentialProfile>> {
        self.one_body(
            None, // versions are insert-only; two new versions alike collide on the key and retry
            "SELECT body::text FROM profiles WHERE id = $1 ORDER BY version DESC LIMIT 1",
            &id.uuid(),
        )
    }

    fn device(&mut self, id: DeviceId) -> Result<Option<Device>> {
        self.one_body(
            self.lock("device", id.uuid().as_bytes()),
            "SELECT body::text FROM devices WHERE id = $1",
            &id.uuid(),
        )
    }

    fn certificate(&mut self, id: CertificateId) -> Result<Option<Certificate>> {
        // A certificate is written by operations on it and on its card: lock the card.
        if self.write.is_some() {
            let row =
                self.conn.query_opt("SELECT device_id FROM certificates WHERE id = $1", &[&id.uuid()])?;
            let Some(row) = row else { return Ok(None) };
            let device: Uuid = get(&row, 0)?;
            let lock = self.lock("device", device.as_bytes());
            return self.one_body(lock, "SELECT body::text FROM certificates WHERE id = $1", &id.uuid());
        }
        self.one_body(None, "SELECT body::text FROM certificates WHERE id = $1", &id.uuid())
    }

    fn certificate_serial_taken(&mut self, serial: &str) -> Result<bool> {
        if !storable(serial) {
            return Ok(false);
        }
        Ok(self.conn.query_opt("SELECT 1 FROM certificates WHERE serial = $1", &[&serial])?.is_some())
    }

    fn certificates_of(&mut self, device: DeviceId) -> Result<Vec<Certificate>> {
        self.bodies(
            self.lock("device", device.uuid().as_bytes()),
            "SELECT body::text FROM certificates WHERE device_id = $1 ORDER BY ord",
            &device.uuid(),
        )
    }

    fn request(&mut self, id: RequestId) -> Result<Option<Request>> {
        // A request is written by operations on it and on its card: lock both.
        let lock = self.lock("request", id.uuid().as_bytes());
        let row = self.conn.query_opt_locked(
            lock,
            "SELECT device_id FROM requests WHERE id = $1",
            &[&id.uuid()],
        )?;
        let Some(row) = row else { return Ok(None) };
        let device: Option<Uuid> = get(&row, 0)?;
        let lock = device.and_then(|device| self.lock("device", device.as_bytes()));
        self.one_body(lock, "SELECT body::text FROM requests WHERE id = $1", &id.uuid())
    }

    fn requests_of(&mut self, device: DeviceId) -> Result<Vec<Request>> {
        self.bodies(
            self.lock("device", device.uuid().as_bytes()),
            "SELECT body::text FROM requests WHERE device_id = $1 ORDER BY ord",
            &device.uuid(),
        )
    }

    fn temporary_card(&mut self, id: DeviceId) -> Result<Option<domain::TemporaryCard>> {
        self.one_body(
            self.lock("device", id.uuid().as_bytes()),
            "SELECT body::text FROM temporary_cards WHERE id = $1",
            &id.uuid(),
        )
    }

    fn put_record(&mut self, record: &Record) -> Result<()> {
        match record {
            Record::Person(p) => {
                self.conn.execute(
                    "INSERT INTO people (id, body) VALUES ($1, $2::text::json)
                     ON CONFLICT (id) DO UPDATE SET body = excluded.body",
                    &[&p.id.uuid(), &json(p)?],
                )?;
            }
            Record::Profile(p) => {
                self.conn.execute(
                    "INSERT INTO profiles (id, version, body) VALUES ($1, $2, $3::text::json)",
                    &[&p.id.uuid(), &i64::from(p.version), &json(p)?],
                )?;
            }
            Record::Device(d) => {
                self.conn.execute(
                    "INSERT INTO devices (id, owner, profile_id, profile_version, state, body)
                     VALUES ($1, $2, $3, $4, $5, $6::text::json)
                     ON CONFLICT (id) DO UPDATE SET owner = excluded.owner, profile_id = excluded.profile_id,
                       profile_version = excluded.profile_version, state = excluded.state, body = excluded.body",
                    &[
                        &d.id.uuid(),
                        &d.owner.map(|o| o.uuid()),
                        &d.profile.id.uuid(),
                        &i64::from(d.profile.version),
                        &name_of(&d.state)?,
                        &json(d)?,
                    ],
                )?;
            }
            Record::Certificate(cert) => {
                self.conn.execute(
                    "INSERT INTO certificates (id, device_id, serial, body) VALUES ($1, $2, $3, $4::text::json)
                     ON CONFLICT (id) DO UPDATE SET body = excluded.body",
                    &[&cert.id.uuid(), &cert.device.uuid(), &cert.serial, &json(cert)?],
                )?;
            }
            Record::Request(r) => {
                self.conn.execute(
                    "INSERT INTO requests (id, device_id, person_id, profile_id, state, body)
                     VALUES ($1, $2, $3, $4, $5, $6::text::json)
                     ON CONFLICT (id) DO UPDATE SET state = excluded.state, body = excluded.body",
                    &[
                        &r.id.uuid(),
                        &r.device.map(|d| d.uuid()),
                        &r.person.map(|p| p.uuid()),
                        &r.profile.uuid(),
                        &name_of(&r.state)?,
                        &json(r)?,
                    ],
                )?;
            }
            Record::TemporaryCard(t) => {
                self.conn.execute(
                    "INSERT INTO temporary_cards
                       (id, serial, holder, permanent_card, profile_id, profile_version, state, body)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8::text::json)
                     ON CONFLICT (id) DO UPDATE SET serial = excluded.serial, holder = excluded.holder,
                       permanent_card = excluded.permanent_card, state = excluded.state, body = excluded.body",
                    &[
                        &t.id.uuid(),
                        &t.serial,
                        &t.holder.map(|h| h.uuid()),
                        &t.permanent_card.map(|d| d.uuid()),
                        &t.profile.id.uuid(),
                        &i64::from(t.profile.version),
                        &name_of(&t.state)?,
                        &json(t)?,
                    ],
                )?;
            }
        }
        Ok(())
    }

    fn append_change(&mut self, at: OffsetDateTime, record: &Record) -> Result<u64> {
        if self.write.as_ref().is_some_and(|w| w.sequence_feed) {
            return self.append_change_by_sequence(at, record);
        }
        // MAX(seq) + 1 under the feed lock: gap-free, in commit order (see the module docs).
        let lock = self.feed_lock();
        let row = self.conn.query_opt_locked(
            lock,
            "INSERT INTO changes (seq, at, record_type, record_id, body)
             SELECT COALESCE(MAX(seq), 0) + 1, $1, $2, $3, $4::text::json FROM changes
             RETURNING seq",
            &[&rfc3339(at)?, &record.type_name(), &record.id(), &json(record)?],
        )?;
        let row = row.ok_or_else(|| Error::Storage("INSERT … RETURNING returned no row".into()))?;
        let seq = seq_from_i64(get(&row, 0)?)?;
        if let Some(pause) = self.write.as_ref().and_then(|w| w.pause) {
            pause(Pause::Numbered(seq));
        }
        Ok(seq)
    }

    fn changes_after(&mut self, after: u64, limit: u32) -> Result<Vec<Change>> {
        self.flush = true;
        let rows = self.conn.query(
            "SELECT seq, at, body::text FROM changes WHERE seq > $1 ORDER BY seq LIMIT $2",
            &[&seq_to_i64(after), &i64::from(limit)],
        )?;
        rows.iter()
            .map(|r| {
                Ok(Change {
                    seq: seq_from_i64(get(r, 0)?)?,
                    at: parse_rfc3339(&get::<String>(r, 1)?)?,
                    record: decode(&get::<String>(r, 2)?)?,
                })
            })
            .collect()
    }

    fn last_audit(&mut self) -> Result<Option<AuditEvent>> {
        // The chain's head under the feed lock: the next event links to it.
        self.flush = true;
        let lock = self.feed_lock();
        let row = self.conn.query_opt_locked(
            lock,
            "SELECT body::text FROM audit ORDER BY seq DESC LIMIT 1",
            &[],
        )?;
        row.map(|r| decode(&get::<String>(&r, 0)?)).transpose()
    }

    fn audit_key(&self) -> Option<&authority::AuditKey> {
        self.audit_key
    }

    fn insert_audit(&mut self, event: &AuditEvent, mac: Option<&[u8; 32]>) -> Result<()> {
        let seq = i64::try_from(event.seq).map_err(corrupt)?;
        let mac = mac.map(|m| &m[..]);
        let lock = self.feed_lock();
        self.conn.execute_locked(
            lock,
            "INSERT INTO audit (seq, hash, prev_hash, body, mac) VALUES ($1, $2, $3, $4::text::json, $5)",
            &[&seq, &event.hash.to_hex(), &event.prev_hash.to_hex(), &json(event)?, &mac],
        )?;
        Ok(())
    }

    fn audit_rows(&mut self, from: u64, limit: u32) -> Result<Vec<AuditRow>> {
        self.flush = true;
        let rows = self.conn.query(
            "SELECT body::text, mac FROM audit WHERE seq >= $1 ORDER BY seq LIMIT $2",
            &[&seq_to_i64(from), &i64::from(limit)],
        )?;
        rows.iter()
            .map(|r| {
                Ok(AuditRow { event: decode(&get::<String>(r, 0)?)?, mac: get::<Option<Vec<u8>>>(r, 1)? })
            })
            .collect()
    }

    fn workstation_key_hash(&mut self, workstation: WorkstationId) -> Result<Option<Vec<u8>>> {
        let lock = self.lock("workstation", workstation.uuid().as_bytes());
        let row = self.conn.query_opt_locked(
            lock,
            "SELECT key_hash FROM workstations WHERE id = $1",
            &[&workstation.uuid()],
        )?;
        row.map(|r| get(&r, 0)).transpose()
    }

    fn insert_workstation(
        &mut self,
        workstation: WorkstationId,
        key_hash: &[u8],
        operator: OperatorId,
        at: OffsetDateTime,
    ) -> Result<()> {
        self.conn.execute(
            "INSERT INTO workstations (id, key_hash, enrolled_by, enrolled_at) VALUES ($1, $2, $3, $4)",
            &[&workstation.uuid(), &key_hash, &operator.uuid(), &at.unix_timestamp()],
        )?;
        Ok(())
    }

    fn provisioning_task(&mut self, id: domain::TaskId) -> Result<Option<domain::ProvisioningTask>> {
        self.one_body(
            self.lock("task", id.uuid().as_bytes()),
            "SELECT body::text FROM provisioning_tasks WHERE id = $1",
            &id.uuid(),
        )
    }

    fn provisioning_tasks(&mut self) -> Result<Vec<domain::ProvisioningTask>> {
        let lock = self.lock("tasks", b"");
        let rows =
            self.conn.query_locked(lock, "SELECT body::text FROM provisioning_tasks ORDER BY number", &[])?;
        rows.iter().map(|r| decode(&get::<String>(r, 0)?)).collect()
    }

    fn next_task_number(&mut self) -> Result<u64> {
        // Numbers are handed out one writer at a time (tasks are few).
        let lock = self.lock("tasks", b"");
        let row = self.conn.query_opt_locked(
            lock,
            "SELECT COALESCE(MAX(number), 0)::BIGINT FROM provisioning_tasks",
            &[],
        )?;
        let last: i64 = row.map(|r| get(&r, 0)).transpose()?.unwrap_or(0);
        u64::try_from(last).map(|n| n + 1).map_err(|_| Error::Storage("a negative task number".into()))
    }

    fn put_provisioning_task(&mut self, task: &domain::ProvisioningTask) -> Result<()> {
        let number =
            i64::try_from(task.number).map_err(|_| Error::Storage("task number too large".into()))?;
        self.conn.execute(
            "INSERT INTO provisioning_tasks (id, number, operator, removed, body) VALUES ($1, $2, $3, $4, $5::text::json)
             ON CONFLICT (id) DO UPDATE SET removed = excluded.removed, body = excluded.body",
            &[&task.id.uuid(), &number, &task.operator.uuid(), &task.removed, &json(task)?],
        )?;
        Ok(())
    }

    fn enrollment_code(&mut self, tag: &str) -> Result<Option<EnrollmentCodeRecord>> {
        let lock = self.lock("code", tag.as_bytes());
        let row = self.conn.query_opt_locked(
            lock,
            "SELECT enrollment_id, task_id, tag, verifier, created_at FROM enrollment_codes WHERE tag = $1",
            &[&tag],
        )?;
        row.map(|r| {
            Ok(EnrollmentCodeRecord {
                enrollment: domain::EnrollmentId::new(get(&r, 0)?),
                task: domain::TaskId::new(get(&r, 1)?),
                tag: get(&r, 2)?,
                verifier: get(&r, 3)?,
                created_at: unix_to_time(get(&r, 4)?)?,
            })
        })
        .transpose()
    }

    fn put_enrollment_code(&mut self, code: &EnrollmentCodeRecord) -> Result<()> {
        self.conn.execute(
            "INSERT INTO enrollment_codes (enrollment_id, task_id, tag, verifier, created_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (enrollment_id) DO UPDATE SET tag = excluded.tag, verifier = excluded.verifier,
               created_at = excluded.created_at",
            &[
                &code.enrollment.uuid(),
                &code.task.uuid(),
                &code.tag,
                &code.verifier,
                &code.created_at.unix_timestamp(),
            ],
        )?;
        Ok(())
    }

    fn delete_enrollment_code(&mut self, enrollment: domain::EnrollmentId) -> Result<bool> {
        Ok(self
            .conn
            .execute("DELETE FROM enrollment_codes WHERE enrollment_id = $1", &[&enrollment.uuid()])?
            > 0)
    }

    fn insert_mail(&mut self, mail: &MailRecord) -> Result<()> {
        self.conn.execute(
            "INSERT INTO mail_outbox
               (id, recipient, subject, body, created_at, sent_at, attempts, last_error, next_attempt_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            &[
                &mail.id,
                &mail.recipient,
                &mail.subject,
                &mail.body,
                &mail.created_at.unix_timestamp(),
                &mail.sent_at.map(|t| t.unix_timestamp()),
                &i64::from(mail.attempts),
                &mail.last_error,
                &mail.next_attempt_at.unix_timestamp(),
            ],
        )?;
        Ok(())
    }

    fn pending_mail(&mut self, limit: u32, now: OffsetDateTime) -> Result<Vec<MailRecord>> {
        let rows = self.conn.query(
            concat!(
                "SELECT ",
                mail_columns!(),
                " FROM mail_outbox WHERE sent_at IS NULL AND next_attempt_at <= $1
                 ORDER BY created_at, id LIMIT $2"
            ),
            &[&now.unix_timestamp(), &i64::from(limit)],
        )?;
        rows.iter().map(mail_record).collect()
    }

    fn claim_mail(
        &mut self,
        limit: u32,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
    ) -> Result<Vec<MailRecord>> {
        // SKIP LOCKED: a message another instance is claiming right now is
        // its; once that claim commits, the message is no longer due.
        let rows = self.conn.query(
            concat!(
                "UPDATE mail_outbox SET next_attempt_at = $3 WHERE id IN (
                   SELECT id FROM mail_outbox WHERE sent_at IS NULL AND next_attempt_at <= $1
                   ORDER BY created_at, id LIMIT $2 FOR UPDATE SKIP LOCKED)
                 RETURNING ",
                mail_columns!()
            ),
            &[&now.unix_timestamp(), &i64::from(limit), &lease_until.unix_timestamp()],
        )?;
        let mut claimed = rows.iter().map(mail_record).collect::<Result<Vec<_>>>()?;
        claimed.sort_by_key(|m| (m.created_at, m.id));
        Ok(claimed)
    }

    fn mark_mail_sent(&mut self, id: Uuid, at: OffsetDateTime) -> Result<()> {
        self.conn.execute(
            "UPDATE mail_outbox SET sent_at = $2, attempts = attempts + 1, last_error = NULL WHERE id = $1",
            &[&id, &at.unix_timestamp()],
        )?;
        Ok(())
    }

    fn mark_mail_failed(&mut self, id: Uuid, error: &str, next_attempt_at: OffsetDateTime) -> Result<()> {
        self.conn.execute(
            "UPDATE mail_outbox SET attempts = attempts + 1, last_error = $2, next_attempt_at = $3 WHERE id = $1",
            &[&id, &error, &next_attempt_at.unix_timestamp()],
        )?;
        Ok(())
    }

    fn put_escrow(&mut self, stored: &NewEscrow<'_>) -> Result<u32> {
        let row = self.conn.query_opt(
            "INSERT INTO escrow (device_id, kind, version, sealed, stored_at, stored_by, workstation, written)
             VALUES ($1, $2, (SELECT COALESCE(MAX(version), 0) + 1 FROM escrow WHERE device_id = $1 AND kind = $2),
                     $3, $4, $5, $6, $7)
             RETURNING version",
            &[
                &stored.device.uuid(),
                &stored.kind.name(),
                &stored.sealed,
                &stored.at.unix_timestamp(),
                &stored.stored_by.map(|o| o.uuid()),
                &stored.workstation.map(|w| w.uuid()),
                &stored.written,
            ],
        )?;
        let version: i32 = row.map(|r| get(&r, 0)).transpose()?.unwrap_or_default();
        u32::try_from(version).map_err(|_| Error::Corrupt(format!("escrow version {version}")))
    }

    fn escrow_versions(&mut self, device: DeviceId, kind: EscrowKind) -> Result<Vec<EscrowVersion>> {
        let lock = self.lock("device", device.uuid().as_bytes());
        let rows = self.conn.query_locked(
            lock,
            "SELECT version, sealed, stored_at, stored_by, workstation, written FROM escrow
             WHERE device_id = $1 AND kind = $2 ORDER BY version DESC",
            &[&device.uuid(), &kind.name()],
        )?;
        rows.iter()
            .map(|r| {
                let version: i32 = get(r, 0)?;
                Ok(EscrowVersion {
                    version: u32::try_from(version)
                        .map_err(|_| Error::Corrupt(format!("escrow version {version}")))?,
                    sealed: get(r, 1)?,
                    stored_at: unix_to_time(get(r, 2)?)?,
                    stored_by: get::<Option<Uuid>>(r, 3)?.map(OperatorId::new),
                    workstation: get::<Option<Uuid>>(r, 4)?.map(WorkstationId::new),
                    written: get(r, 5)?,
                })
            })
            .collect()
    }

    fn mark_escrow_written(&mut self, device: DeviceId) -> Result<()> {
        self.conn.execute(
            "UPDATE escrow SET written = TRUE WHERE device_id = $1 AND version =
             (SELECT MAX(version) FROM escrow AS newest
              WHERE newest.device_id = escrow.device_id AND newest.kind = escrow.kind)",
            &[&device.uuid()],
        )?;
        Ok(())
    }

    fn discard_escrow(&mut self, device: DeviceId) -> Result<()> {
        self.conn.execute("DELETE FROM escrow WHERE device_id = $1", &[&device.uuid()])?;
        self.conn.execute("DELETE FROM offline_unblocks WHERE device_id = $1", &[&device.uuid()])?;
        Ok(())
    }

    fn put_walkup_grant(&mut self, g: &WalkupGrant) -> Result<()> {
        let lock = self.lock("device", g.device.uuid().as_bytes());
        self.conn.execute_locked(
            lock,
            "INSERT INTO walkup_grants (device_id, request_id, person_id, operator_id, workstation_id, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (device_id) DO UPDATE SET request_id = excluded.request_id,
                 person_id = excluded.person_id, operator_id = excluded.operator_id,
                 workstation_id = excluded.workstation_id, expires_at = excluded.expires_at",
            &[
                &g.device.uuid(),
                &g.request.uuid(),
                &g.person.uuid(),
                &g.operator.uuid(),
                &g.workstation.map(|w| w.uuid()),
                &g.expires_at.unix_timestamp(),
            ],
        )?;
        Ok(())
    }

    fn walkup_grant(&mut self, device: DeviceId) -> Result<Option<WalkupGrant>> {
        let lock = self.lock("device", device.uuid().as_bytes());
        let row = self.conn.query_opt_locked(
            lock,
            "SELECT request_id, person_id, operator_id, workstation_id, expires_at
             FROM walkup_grants WHERE device_id = $1",
            &[&device.uuid()],
        )?;
        let Some(row) = row else { return Ok(None) };
        let at: i64 = get(&row, 4)?;
        Ok(Some(WalkupGrant {
            device,
            request: RequestId::new(get(&row, 0)?),
            person: PersonId::new(get(&row, 1)?),
            operator: OperatorId::new(get(&row, 2)?),
            workstation: get::<Option<Uuid>>(&row, 3)?.map(WorkstationId::new),
            expires_at: unix_to_time(at)?,
        }))
    }

    fn insert_offline_unblock(&mut self, record: &OfflineUnblockRecord) -> Result<()> {
        self.conn.execute(
            "INSERT INTO offline_unblocks (id, device_id, operator_id, previous_puk, created_at)
             VALUES ($1, $2, $3, $4, $5)",
            &[
                &record.id,
                &record.device.uuid(),
                &record.operator.uuid(),
                &record.previous_puk,
                &record.created_at.unix_timestamp(),
            ],
        )?;
        Ok(())
    }

    fn latest_offline_unblock(&mut self, device: DeviceId) -> Result<Option<OfflineUnblockRecord>> {
        let lock = self.lock("device", device.uuid().as_bytes());
        let row = self.conn.query_opt_locked(
            lock,
            "SELECT id, operator_id, previous_puk, created_at FROM offline_unblocks
             WHERE device_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1",
            &[&device.uuid()],
        )?;
        let Some(row) = row else { return Ok(None) };
        let id: Uuid = get(&row, 0)?;
        let operator: Uuid = get(&row, 1)?;
        let at: i64 = get(&row, 3)?;
        Ok(Some(OfflineUnblockRecord {
            id,
            device,
            operator: OperatorId::new(operator),
            previous_puk: get(&row, 2)?,
            created_at: OffsetDateTime::from_unix_timestamp(at).map_err(|e| Error::Corrupt(e.to_string()))?,
        }))
    }

    fn operator_by_username(&mut self, username: &str) -> Result<Option<OperatorAccount>> {
        if !storable(username) {
            return Ok(None);
        }
        let lock = self.lock_shared("access", b"");
        let row = self.conn.query_opt_locked(
            lock,
            "SELECT id, person_id, username, password_hash, enabled FROM operators WHERE username = $1",
            &[&username],
        )?;
        self.account(row)
    }

    fn operator(&mut self, id: OperatorId) -> Result<Option<OperatorAccount>> {
        let lock = self.lock_shared("access", b"");
        let row = self.conn.query_opt_locked(
            lock,
            "SELECT id, person_id, username, password_hash, enabled FROM operators WHERE id = $1",
            &[&id.uuid()],
        )?;
        self.account(row)
    }

    fn insert_operator(&mut self, account: &OperatorAccount) -> Result<()> {
        let op = &account.operator;
        let lock = self.lock("access", b"");
        self.conn.execute_locked(
            lock,
            "INSERT INTO operators (id, person_id, username, password_hash, enabled) VALUES ($1, $2, $3, $4, $5)",
            &[&op.id.uuid(), &op.person.uuid(), &op.username, &account.password_hash, &op.enabled],
        )?;
        for role in &op.roles {
            self.grant_role(op.id, *role)?;
        }
        Ok(())
    }

    fn role(&mut self, id: RoleId) -> Result<Option<Role>> {
        self.one_body(
            self.lock_shared("access", b""),
            "SELECT body::text FROM roles WHERE id = $1",
            &id.uuid(),
        )
    }

    fn role_by_name(&mut self, name: &str) -> Result<Option<Role>> {
        if !storable(name) {
            return Ok(None);
        }
        self.one_body(self.lock_shared("access", b""), "SELECT body::text FROM roles WHERE name = $1", &name)
    }

    fn put_role(&mut self, role: &Role) -> Result<()> {
        let lock = self.lock("access", b"");
        self.conn.execute_locked(
            lock,
            "INSERT INTO roles (id, name, body) VALUES ($1, $2, $3::text::json)
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, body = excluded.body",
            &[&role.id.uuid(), &role.name, &json(role)?],
        )?;
        Ok(())
    }

    fn grant_role(&mut self, operator: OperatorId, role: RoleId) -> Result<()> {
        let lock = self.lock("access", b"");
        self.conn.execute_locked(
            lock,
            "INSERT INTO operator_roles (operator_id, role_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&operator.uuid(), &role.uuid()],
        )?;
        Ok(())
    }

    fn revoke_role(&mut self, operator: OperatorId, role: RoleId) -> Result<()> {
        let lock = self.lock("access", b"");
        self.conn.execute_locked(
            lock,
            "DELETE FROM operator_roles WHERE operator_id = $1 AND role_id = $2",
            &[&operator.uuid(), &role.uuid()],
        )?;
        Ok(())
    }

    fn roles(&mut self) -> Result<Vec<Role>> {
        let lock = self.lock_shared("access", b"");
        let rows = self.conn.query_locked(lock, "SELECT body::text FROM roles ORDER BY name", &[])?;
        rows.iter().map(|r| decode(&get::<String>(r, 0)?)).collect()
    }

    fn operators(&mut self) -> Result<Vec<OperatorAccount>> {
        let lock = self.lock_shared("access", b"");
        let rows = self.conn.query_locked(
            lock,
            "SELECT id, person_id, username, password_hash, enabled FROM operators ORDER BY username",
            &[],
        )?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            out.extend(self.account(Some(row))?);
        }
        Ok(out)
    }

    fn insert_session(&mut self, s: &SessionRecord) -> Result<()> {
        self.conn.execute(
            "INSERT INTO sessions (token_hash, operator_id, workstation, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5)",
            &[
                &&s.token_hash[..],
                &s.operator.uuid(),
                &s.workstation.map(|w| w.uuid()),
                &s.created_at.unix_timestamp(),
                &s.expires_at.unix_timestamp(),
            ],
        )?;
        Ok(())
    }

    fn session(&mut self, token_hash: &[u8; 32]) -> Result<Option<SessionRecord>> {
        let lock = self.lock("session", token_hash);
        let row = self.conn.query_opt_locked(
            lock,
            "SELECT operator_id, workstation, created_at, expires_at FROM sessions WHERE token_hash = $1",
            &[&&token_hash[..]],
        )?;
        let Some(row) = row else {
            return Ok(None);
        };
        Ok(Some(SessionRecord {
            token_hash: *token_hash,
            operator: OperatorId::new(get(&row, 0)?),
            workstation: get::<Option<Uuid>>(&row, 1)?.map(WorkstationId::new),
            created_at: unix_to_time(get(&row, 2)?)?,
            expires_at: unix_to_time(get(&row, 3)?)?,
        }))
    }

    fn delete_session(&mut self, token_hash: &[u8; 32]) -> Result<bool> {
        Ok(self.conn.execute("DELETE FROM sessions WHERE token_hash = $1", &[&&token_hash[..]])? > 0)
    }

    fn settings(&mut self) -> Result<DeploymentSettings> {
        let lock = self.lock_shared("settings", b"");
        let row = self.conn.query_opt_locked(
            lock,
            "SELECT value::text FROM settings WHERE key = 'deployment'",
            &[],
        )?;
        row.map(|r| decode(&get::<String>(&r, 0)?)).transpose().map(Option::unwrap_or_default)
    }

    fn put_settings(&mut self, settings: &DeploymentSettings) -> Result<()> {
        let lock = self.lock("settings", b"");
        self.conn.execute_locked(
            lock,
            "INSERT INTO settings (key, value) VALUES ('deployment', $1::text::json)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            &[&json(settings)?],
        )?;
        Ok(())
    }

    fn profile_version(&mut self, id: ProfileId, version: u32) -> Result<Option<CredentialProfile>> {
        let row = self.conn.query_opt(
            "SELECT body::text FROM profiles WHERE id = $1 AND version = $2",
            &[&id.uuid(), &i64::from(version)],
        )?;
        row.map(|r| decode(&get::<String>(&r, 0)?)).transpose()
    }

    fn purge_sessions(&mut self, before: OffsetDateTime) -> Result<u64> {
        self.conn.execute("DELETE FROM sessions WHERE expires_at < $1", &[&before.unix_timestamp()])
    }

    fn insert_challenge(&mut self, c: &ChallengeRecord) -> Result<()> {
        self.conn.execute(
            "INSERT INTO challenges (challenge, operator_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
            &[
                &c.challenge,
                &c.operator.uuid(),
                &c.created_at.unix_timestamp(),
                &c.expires_at.unix_timestamp(),
            ],
        )?;
        Ok(())
    }

    fn challenge(&mut self, challenge: &[u8]) -> Result<Option<ChallengeRecord>> {
        let lock = self.lock("challenge", challenge);
        let row = self.conn.query_opt_locked(
            lock,
            "SELECT operator_id, created_at, expires_at FROM challenges WHERE challenge = $1",
            &[&challenge],
        )?;
        let Some(row) = row else {
            return Ok(None);
        };
        Ok(Some(ChallengeRecord {
            challenge: challenge.to_vec(),
            operator: OperatorId::new(get(&row, 0)?),
            created_at: unix_to_time(get(&row, 1)?)?,
            expires_at: unix_to_time(get(&row, 2)?)?,
        }))
    }

    fn delete_challenge(&mut self, challenge: &[u8]) -> Result<bool> {
        Ok(self.conn.execute("DELETE FROM challenges WHERE challenge = $1", &[&challenge])? > 0)
    }

    fn purge_challenges(&mut self, before: OffsetDateTime) -> Result<u64> {
        self.conn.execute("DELETE FROM challenges WHERE expires_at < $1", &[&before.unix_timestamp()])
    }

    fn insert_ca_certificate(&mut self, issued: &CaCertificateRecord, state: CertificateState) -> Result<()> {
        self.conn.execute(
            "INSERT INTO ca_certificates (certificate_id, op_id, operator_id, der, issued_at, state, state_since)
             VALUES ($1, $2, $3, $4, $5, $6, $5)",
            &[
                &issued.certificate.uuid(),
                &issued.op_id,
                &issued.operator.uuid(),
                &issued.der,
                &issued.issued_at.unix_timestamp(),
                &state.name(),
            ],
        )?;
        Ok(())
    }

    fn ca_certificate_by_op(&mut self, op_id: Uuid) -> Result<Option<CaCertificateRecord>> {
        let lock = self.lock("op", op_id.as_bytes());
        let row = self.conn.query_opt_locked(
            lock,
            "SELECT certificate_id, op_id, operator_id, der, issued_at FROM ca_certificates WHERE op_id = $1",
            &[&op_id],
        )?;
        row.map(|r| ca_record(&r)).transpose()
    }

    fn ca_certificate(&mut self, id: CertificateId) -> Result<Option<CaCertificateRecord>> {
        let row = self.conn.query_opt(
            "SELECT certificate_id, op_id, operator_id, der, issued_at FROM ca_certificates
             WHERE certificate_id = $1",
            &[&id.uuid()],
        )?;
        row.map(|r| ca_record(&r)).transpose()
    }

    fn note_certificate_state(&mut self, certificate: &Certificate, at: OffsetDateTime) -> Result<()> {
        self.conn.execute(
            "UPDATE ca_certificates SET state = $2, state_since = $3 WHERE certificate_id = $1 AND state <> $2",
            &[&certificate.id.uuid(), &certificate.state.name(), &at.unix_timestamp()],
        )?;
        Ok(())
    }

    fn crl_entries(&mut self) -> Result<Vec<(Certificate, OffsetDateTime)>> {
        let rows = self.conn.query(
            "SELECT c.body::text, a.state_since FROM ca_certificates a JOIN certificates c ON c.id = a.certificate_id
             WHERE a.state <> 'valid' ORDER BY a.issued_at, a.certificate_id",
            &[],
        )?;
        rows.iter().map(|r| Ok((decode(&get::<String>(r, 0)?)?, unix_to_time(get(r, 1)?)?))).collect()
    }

    fn ca_certificate_by_serial(&mut self, serial: &str) -> Result<Option<(Certificate, OffsetDateTime)>> {
        if !storable(serial) {
            return Ok(None);
        }
        let row = self.conn.query_opt(
            "SELECT c.body::text, a.state_since FROM certificates c JOIN ca_certificates a ON a.certificate_id = c.id
             WHERE c.serial = $1",
            &[&serial],
        )?;
        row.map(|r| Ok((decode(&get::<String>(&r, 0)?)?, unix_to_time(get(&r, 1)?)?))).transpose()
    }
}
