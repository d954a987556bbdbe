//! The workstation's store (SPEC §6): a local SQLite replica of the
//! registry's records and the outbox of operations the operator made here.
//!
//! * One file, WAL journal (readers never block the writer), foreign keys
//!   on, `synchronous = FULL` (a committed action survives power loss, not
//!   only a killed process), a busy timeout instead of instant `SQLITE_BUSY`.
//! * Each local action and its outbox entry are written in ONE transaction:
//!   [`Store::act`]. Ids and times come from the caller.
//! * The registry is authoritative: [`Store::accept`] / [`Store::reject`]
//!   record its answers (a rejection rolls the local effect back, see
//!   [`outbox`]), [`Store::apply_remote`] applies the change feed
//!   idempotently together with the new cursor.
//! * Schema in `sql/`, a comment per constraint; numbered migrations with
//!   frozen old schemas ([`schema`]).
//! * FTS5 search over people, devices and requests ([`Store::search`]).
//! * The encoding journal ([`journal`]): card jobs and each card write,
//!   before and after, for recovery after a tear or a crash (SPEC §2).
//! * No secret is ever stored: there is no column for a PIN, PUK or key.
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod batch;
mod error;
pub mod journal;
pub mod outbox;
mod record;
pub mod schema;
mod search;
mod time_text;

use std::path::Path;
use std::time::Duration;

use domain::{CredentialProfile, Device, DeviceId, PersonId, ProfileId, Request, TemporaryCard};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};
use time::OffsetDateTime;
use uuid::Uuid;

pub use batch::{Batch, BatchItem, BatchItemState};
pub use error::{Error, Result};
pub use journal::{Job, JobKind, JobState, JobStep, StepPhase};
pub use outbox::{
    ApplyReport, Local, NewOperation, OpAnswer, OpState, OutboxEntry, RecordStatus, RemoteChange,
};
pub use record::{Record, RecordKind};
pub use search::Hit;

/// How long a writer waits for another connection's lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a lock wait sleeps before trying again.
const LOCK_RETRY: std::time::Duration = std::time::Duration::from_micros(250);

/// SQLite's busy handler: another connection (a batch worker, its journal
/// writer) holds the write lock for a commit of a millisecond or so; try
/// again every [`LOCK_RETRY`] until [`BUSY_TIMEOUT`] has passed. SQLite's
/// own handler backs off to sleeps of 25–100 ms, which a card in a reader
/// would wait for.
fn wait_for_lock(tries: i32) -> bool {
    let waited = LOCK_RETRY * u32::try_from(tries).unwrap_or(u32::MAX);
    if waited >= BUSY_TIMEOUT {
        return false;
    }
    std::thread::sleep(LOCK_RETRY);
    true
}

/// The store: one connection to the workstation database.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
}

/// Where sync stands, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SyncState {
    /// The change-feed cursor to pull from; `None`: nothing pulled yet.
    pub cursor: Option<String>,
    /// When the last complete sync finished.
    pub last_sync_at: Option<OffsetDateTime>,
    /// Why the last sync attempt failed, if it did.
    pub last_error: Option<String>,
}

impl Store {
    /// Opens (creating if needed) the store at `path` and brings its schema
    /// to the current version.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        Self::setup(conn)
    }

    /// An in-memory store (tests, previews).
    pub fn open_in_memory() -> Result<Self> {
        Self::setup(Connection::open_in_memory()?)
    }

    fn setup(mut conn: Connection) -> Result<Self> {
        conn.busy_handler(Some(wait_for_lock))?;
        // In-memory databases answer "memory"; files switch to WAL.
        let _mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", true)?;
        // 64 MiB of page cache: random-key index and search-index inserts of a
        // large replica otherwise spend their time re-reading pages.
        conn.pragma_update(None, "cache_size", -65_536)?;
        conn.set_prepared_statement_cache_capacity(64);
        schema::migrate(&mut conn)?;
        Ok(Self { conn })
    }

    /// Runs `work` with commits that are not flushed to disk on their own
    /// (`synchronous = NORMAL`; FULL again afterwards, whatever `work`
    /// returns). A killed process loses none of them; a power loss may lose
    /// the last ones, until the next ordinary commit makes them durable too
    /// (the WAL is written and flushed in order). For commits whose loss is
    /// harmless until then: a batch card claimed, or a card job created,
    /// before the first card write's `before` is committed.
    pub fn unflushed<R>(&mut self, work: impl FnOnce(&mut Self) -> Result<R>) -> Result<R> {
        self.conn.pragma_update(None, "synchronous", "NORMAL")?;
        let result = work(self);
        self.conn.pragma_update(None, "synchronous", "FULL")?;
        result
    }

    /// The schema version of the open database.
    pub fn schema_version(&self) -> Result<u32> {
        schema::version(&self.conn)
    }

    /// Performs one local action: `op` goes into the outbox and `change`
    /// edits records through [`Local`], all in one transaction. If `change`
    /// fails (for instance with a `domain::Refusal` converted into `E`),
    /// neither its writes nor the outbox entry remain.
    pub fn act<T, E>(
        &mut self,
        op: NewOperation,
        change: impl FnOnce(&mut Local<'_>) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E>
    where
        E: From<Error>,
    {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(Error::from)?;
        let op_seq = outbox::enqueue(&tx, &op)?;
        let mut local = Local { tx: &tx, op_seq, op_id: op.op_id, step: 0 };
        let out = change(&mut local)?;
        tx.commit().map_err(Error::from)?;
        Ok(out)
    }

    /// Records that the registry accepted `op_id`.
    pub fn accept(
        &mut self,
        op_id: Uuid,
        result: Option<&serde_json::Value>,
        at: OffsetDateTime,
    ) -> Result<()> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        outbox::accept(&tx, op_id, result, at)?;
        tx.commit()?;
        Ok(())
    }

    /// Records that the registry rejected `op_id` and rolls its local effect
    /// back, in one transaction.
    pub fn reject(&mut self, op_id: Uuid, code: &str, reason: &str, at: OffsetDateTime) -> Result<()> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        outbox::reject(&tx, op_id, code, reason, at)?;
        tx.commit()?;
        Ok(())
    }

    /// Records a batch of the registry's answers in ONE transaction (one
    /// disk sync for a whole pushed batch, instead of one per operation);
    /// each rejection rolls its operation's local effect back.
    pub fn record_answers(&mut self, answers: &[OpAnswer], at: OffsetDateTime) -> Result<()> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        for answer in answers {
            match answer {
                OpAnswer::Accepted { op_id, result } => outbox::accept(&tx, *op_id, result.as_ref(), at)?,
                OpAnswer::Rejected { op_id, code, reason } => outbox::reject(&tx, *op_id, code, reason, at)?,
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Notes a failed push attempt for each of `op_ids` in one transaction.
    pub fn note_attempts(&mut self, op_ids: &[Uuid], error: Option<&str>) -> Result<()> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        for op_id in op_ids {
            let n = tx
                .prepare_cached(
                    "UPDATE outbox SET attempts = attempts + 1, last_error = ?2 WHERE op_id = ?1",
                )?
                .execute(params![op_id.to_string(), error])?;
            if n == 0 {
                return Err(Error::UnknownOperation(*op_id));
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Notes a failed push attempt (transport error, not a rejection).
    pub fn note_attempt(&mut self, op_id: Uuid, error: Option<&str>) -> Result<()> {
        let n = self
            .conn
            .prepare_cached("UPDATE outbox SET attempts = attempts + 1, last_error = ?2 WHERE op_id = ?1")?
            .execute(params![op_id.to_string(), error])?;
        if n == 0 {
            return Err(Error::UnknownOperation(op_id));
        }
        Ok(())
    }

    /// The outbox entry of `op_id`.
    pub fn operation(&self, op_id: Uuid) -> Result<Option<OutboxEntry>> {
        outbox::entry(&self.conn, op_id)
    }

    /// Up to `limit` pending operations, oldest first (push order).
    pub fn pending(&self, limit: usize) -> Result<Vec<OutboxEntry>> {
        let sql = format!(
            "SELECT {} FROM outbox WHERE state = 'pending' ORDER BY seq LIMIT ?1",
            outbox::ENTRY_COLUMNS
        );
        self.entries(&sql, i64::try_from(limit).unwrap_or(i64::MAX))
    }

    /// Up to `limit` pending operations that `operator` may push, oldest
    /// first: their own, and those queued before operators were recorded.
    /// Another operator's wait for that operator's own session.
    pub fn pending_of(&self, operator: Uuid, limit: usize) -> Result<Vec<OutboxEntry>> {
        let sql = format!(
            "SELECT {} FROM outbox WHERE state = 'pending' AND (operator IS NULL OR operator = ?2)
             ORDER BY seq LIMIT ?1",
            outbox::ENTRY_COLUMNS
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let mut rows =
            stmt.query(rusqlite::params![i64::try_from(limit).unwrap_or(i64::MAX), operator.to_string()])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            out.push(outbox::entry_from_row(row)?);
        }
        Ok(out)
    }

    /// `operator`'s rejected operations not yet shown to them, oldest first.
    pub fn unseen_rejections(&self, operator: Uuid) -> Result<Vec<OutboxEntry>> {
        let sql = format!(
            "SELECT {} FROM outbox WHERE state = 'rejected' AND seen_at IS NULL
               AND (operator = ?1 OR operator IS NULL) ORDER BY seq",
            outbox::ENTRY_COLUMNS
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let mut rows = stmt.query([operator.to_string()])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            out.push(outbox::entry_from_row(row)?);
        }
        Ok(out)
    }

    /// Notes that these rejections were shown to their operator.
    pub fn mark_seen(&mut self, op_ids: &[Uuid], at: OffsetDateTime) -> Result<()> {
        let tx = self.conn.transaction()?;
        for op_id in op_ids {
            tx.execute(
                "UPDATE outbox SET seen_at = ?2 WHERE op_id = ?1 AND state = 'rejected' AND seen_at IS NULL",
                rusqlite::params![op_id.to_string(), time_text::format(at)],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Every outbox entry, in push order.
    pub fn operations(&self) -> Result<Vec<OutboxEntry>> {
        let sql = format!("SELECT {} FROM outbox WHERE seq > ?1 ORDER BY seq", outbox::ENTRY_COLUMNS);
        self.entries(&sql, -1)
    }

    fn entries(&self, sql: &str, arg: i64) -> Result<Vec<OutboxEntry>> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        let mut rows = stmt.query([arg])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            out.push(outbox::entry_from_row(row)?);
        }
        Ok(out)
    }

    /// Number of operations waiting for the registry.
    pub fn queue_len(&self) -> Result<u64> {
        let n: i64 =
            self.conn.query_row("SELECT count(*) FROM outbox WHERE state = 'pending'", [], |r| r.get(0))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Sync status of one record.
    pub fn record_status(&self, kind: RecordKind, key: &str) -> Result<RecordStatus> {
        outbox::record_status(&self.conn, kind, key)
    }

    /// Applies one page of the registry's change feed and stores `next_cursor`,
    /// in one transaction: a crash leaves either the whole page and its
    /// cursor or neither, and re-applying a page changes nothing.
    pub fn apply_remote(&mut self, changes: &[RemoteChange], next_cursor: &str) -> Result<ApplyReport> {
        self.apply_changes(changes, Some(next_cursor))
    }

    /// Applies records the registry answered with, outside the feed (a
    /// walk-up kiosk replicates nothing else): the feed cursor stays.
    pub fn keep_remote(&mut self, changes: &[RemoteChange]) -> Result<ApplyReport> {
        self.apply_changes(changes, None)
    }

    fn apply_changes(&mut self, changes: &[RemoteChange], next_cursor: Option<&str>) -> Result<ApplyReport> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut report = ApplyReport::default();
        // Without pending operations no change can fall under one: skip the per-record lookup.
        let any_pending: bool =
            tx.query_row("SELECT EXISTS (SELECT 1 FROM outbox WHERE state = 'pending')", [], |r| r.get(0))?;
        let mut staged = record::Staged::default();
        for change in changes {
            outbox::apply_remote(&tx, change, any_pending, &mut report, &mut staged)?;
        }
        staged.flush(&tx)?;
        if let Some(next_cursor) = next_cursor {
            tx.prepare_cached("UPDATE sync_state SET feed_cursor = ?1 WHERE id = 1")?
                .execute([next_cursor])?;
        }
        tx.commit()?;
        Ok(report)
    }

    /// Where sync stands.
    pub fn sync_state(&self) -> Result<SyncState> {
        let (cursor, last, error): (Option<String>, Option<String>, Option<String>) = self.conn.query_row(
            "SELECT feed_cursor, last_sync_at, last_error FROM sync_state WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        Ok(SyncState {
            cursor,
            last_sync_at: last.as_deref().map(time_text::parse).transpose()?,
            last_error: error,
        })
    }

    /// Records the end of a sync: `Ok` sets the last sync time and clears the
    /// error; `Err` keeps the time and records why.
    pub fn record_sync(&mut self, at: OffsetDateTime, outcome: std::result::Result<(), &str>) -> Result<()> {
        match outcome {
            Ok(()) => self.conn.execute(
                "UPDATE sync_state SET last_sync_at = ?1, last_error = NULL WHERE id = 1",
                [time_text::format(at)],
            )?,
            Err(why) => self.conn.execute("UPDATE sync_state SET last_error = ?1 WHERE id = 1", [why])?,
        };
        Ok(())
    }

    /// One record by key.
    pub fn get<R: Record>(&self, key: &str) -> Result<Option<R>> {
        record::get(&self.conn, key)
    }

    /// A person's devices.
    pub fn devices_of(&self, person: PersonId) -> Result<Vec<Device>> {
        self.docs("SELECT doc FROM devices WHERE owner = ?1 ORDER BY n", &person.to_string())
    }

    /// Temporary cards (UC-TEMP, UC-SEARCH by state): those in `state`
    /// (its snake_case name), or all; by serial, unserialled last.
    pub fn temporary_cards(&self, state: Option<&str>) -> Result<Vec<TemporaryCard>> {
        self.docs(
            "SELECT doc FROM temporary_cards WHERE ?1 = '' OR state = ?1
             ORDER BY serial IS NULL, serial, key",
            state.unwrap_or(""),
        )
    }

    /// Requests concerning a device.
    pub fn requests_for_device(&self, device: DeviceId) -> Result<Vec<Request>> {
        self.docs("SELECT doc FROM requests WHERE device = ?1 ORDER BY created_at", &device.to_string())
    }

    /// Requests for a person (as recipient).
    pub fn requests_for_person(&self, person: PersonId) -> Result<Vec<Request>> {
        self.docs("SELECT doc FROM requests WHERE person = ?1 ORDER BY created_at", &person.to_string())
    }

    /// The latest version of a credential profile.
    pub fn latest_profile(&self, id: ProfileId) -> Result<Option<CredentialProfile>> {
        let doc: Option<String> = self
            .conn
            .prepare_cached("SELECT doc FROM profiles WHERE profile_id = ?1 ORDER BY version DESC LIMIT 1")?
            .query_row([id.to_string()], |r| r.get(0))
            .optional()?;
        doc.map(|d| record::decode(&d)).transpose()
    }

    /// Every version of every credential profile, each profile's versions
    /// newest first (UC-ADMIN).
    pub fn profile_versions(&self) -> Result<Vec<CredentialProfile>> {
        let docs: Vec<String> = self
            .conn
            .prepare_cached("SELECT doc FROM profiles ORDER BY profile_id, version DESC")?
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        docs.iter().map(|d| record::decode(d)).collect()
    }

    /// How many cards in service (issued, active, inactive, locked) carry
    /// each version of `profile`: `(version, cards)`, oldest version first.
    pub fn cards_per_profile_version(&self, profile: ProfileId) -> Result<Vec<(u32, u64)>> {
        let rows = self
            .conn
            .prepare_cached(
                "SELECT profile_version, COUNT(*) FROM devices WHERE profile_id = ?1 AND state IN \
                 ('issued', 'active', 'inactive', 'temporarily_inactive', 'locked') \
                 GROUP BY profile_version ORDER BY profile_version",
            )?
            .query_map([profile.to_string()], |r| Ok((r.get::<_, u32>(0)?, r.get::<_, u64>(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    fn docs<R: Record>(&self, sql: &str, arg: &str) -> Result<Vec<R>> {
        let docs: Vec<String> = self
            .conn
            .prepare_cached(sql)?
            .query_map([arg], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        docs.iter().map(|d| record::decode(d)).collect()
    }

    /// Searches people (names, email, employee id), devices (serial, GUID)
    /// and requests (kind, reason, notes, id); every word must match, as a
    /// prefix. At most `limit` hits, best first.
    pub fn search(&self, query: &str, limit: usize) -> Result<Vec<Hit>> {
        search::search(&self.conn, query, limit)
    }

    /// Journals a new card job (SPEC §2: before anything is written to the
    /// card). Creating a job that exists already changes nothing.
    pub fn create_job(&mut self, job: &Job) -> Result<()> {
        if journal::exists(&self.conn, job.id)? {
            return Ok(());
        }
        journal::create(&self.conn, job)
    }

    /// One job.
    pub fn job(&self, id: Uuid) -> Result<Option<Job>> {
        journal::get(&self.conn, id)
    }

    /// Jobs still to resume or roll back, oldest first.
    pub fn open_jobs(&self) -> Result<Vec<Job>> {
        journal::list(&self.conn, true, None)
    }

    /// Every job of a device (open or closed), oldest first.
    pub fn jobs_of_device(&self, device: &str) -> Result<Vec<Job>> {
        journal::list(&self.conn, false, Some(device))
    }

    /// Moves a job to `state`, replacing its detail when given and recording
    /// (or clearing) its last error.
    pub fn update_job(
        &mut self,
        id: Uuid,
        state: JobState,
        detail: Option<&serde_json::Value>,
        last_error: Option<&str>,
        at: OffsetDateTime,
    ) -> Result<()> {
        journal::update(&self.conn, id, state, detail, last_error, at)
    }

    /// Journals one card write of a job, before it is sent or after the
    /// card answered; durable when this returns. Returns its number.
    pub fn record_job_step(
        &mut self,
        id: Uuid,
        phase: StepPhase,
        step: &serde_json::Value,
        at: OffsetDateTime,
    ) -> Result<u32> {
        journal::record_step(&self.conn, id, phase, step, at)
    }

    /// Journals several things of one job in ONE transaction (one fsync):
    /// the job moving to `state` with its detail when given, then `steps` in
    /// order (e.g. one write's `after` and the next write's `before`). All
    /// are durable when this returns, or none is.
    pub fn record_job_steps(
        &mut self,
        id: Uuid,
        state: Option<(JobState, &serde_json::Value)>,
        steps: &[(StepPhase, &serde_json::Value)],
        at: OffsetDateTime,
    ) -> Result<()> {
        // Immediate: the write lock up front, so a reader turned writer
        // never meets another connection's commit (SQLITE_BUSY at once).
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        if let Some((state, detail)) = state {
            journal::update(&tx, id, state, Some(detail), None, at)?;
        }
        for (phase, step) in steps {
            journal::record_step(&tx, id, *phase, step, at)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// A job's journaled steps, in order.
    pub fn job_steps(&self, id: Uuid) -> Result<Vec<JobStep>> {
        journal::steps(&self.conn, id)
    }

    /// The underlying connection, for read-only diagnostics in tests and tools.
    #[doc(hidden)]
    pub fn connection(&self) -> &Connection {
        &self.conn
    }
}
