//! The outbox (SPEC §6): each local action and its operation are written in
//! one transaction, and each operation keeps the before-images needed to
//! roll its local effect back if the registry rejects it.
//!
//! Design: **apply locally at once, undo on rejection** (rather than apply
//! on acceptance), because an operator offline must see the result of what
//! they did. The first time an operation touches a record, the record's
//! previous JSON (or "absent") goes to `outbox_undo`. Answers:
//!
//! * accepted — the operation is marked so; its before-images stay as
//!   history (they are no longer used) and the per-record status reads
//!   "accepted".
//! * rejected — for each record it touched: if a *later pending* operation
//!   also touched it, that operation's before-image is replaced by this one
//!   (its own undo now lands where the registry is) and the row is left;
//!   otherwise the row is restored to the before-image. The change feed then
//!   brings the registry's version, which is authoritative.
//!
//! Remote changes to a record that pending operations touched are not
//! written over the local row (that would hide the operator's pending
//! action); they become the earliest pending operation's before-image, so a
//! later rollback lands on the registry's latest version.

use rusqlite::{params, OptionalExtension, Transaction};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::record::{self, Record, RecordKind};
use crate::time_text;

/// A local action's operation, made by the caller (ids and time are passed
/// in, never generated here).
#[derive(Debug, Clone, PartialEq)]
pub struct NewOperation {
    /// Client-made UUIDv7; the registry applies each id once.
    pub op_id: Uuid,
    /// What the operation does (the registry's operation kind).
    pub kind: String,
    /// Its parameters.
    pub payload: serde_json::Value,
    /// When the operator acted.
    pub created_at: OffsetDateTime,
    /// The operator who acted: the operation is pushed only in their session.
    pub operator: Option<Uuid>,
}

/// Where an operation stands with the registry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum OpState {
    /// Not yet answered.
    Pending,
    /// Applied by the registry.
    Accepted {
        /// What the registry answered, if anything.
        result: Option<serde_json::Value>,
        /// When the answer arrived.
        #[serde(with = "time::serde::rfc3339")]
        at: OffsetDateTime,
    },
    /// Refused by the registry; the local effect was rolled back.
    Rejected {
        /// Stable reason code (a `domain::Refusal` code or a registry code).
        code: String,
        /// The reason in words, for the operator.
        reason: String,
        /// When the answer arrived.
        #[serde(with = "time::serde::rfc3339")]
        at: OffsetDateTime,
    },
}

impl OpState {
    /// `pending`, `accepted` or `rejected`.
    pub const fn name(&self) -> &'static str {
        match self {
            OpState::Pending => "pending",
            OpState::Accepted { .. } => "accepted",
            OpState::Rejected { .. } => "rejected",
        }
    }
}

/// The registry's answer to one operation, as the store records it.
#[derive(Debug, Clone, PartialEq)]
pub enum OpAnswer {
    /// Applied.
    Accepted {
        /// The operation.
        op_id: Uuid,
        /// What the registry returned.
        result: Option<serde_json::Value>,
    },
    /// Refused: roll back.
    Rejected {
        /// The operation.
        op_id: Uuid,
        /// Stable reason code.
        code: String,
        /// Reason in words.
        reason: String,
    },
}

/// One outbox entry.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEntry {
    /// Position in push order.
    pub seq: i64,
    /// The operation id.
    pub op_id: Uuid,
    /// Operation kind.
    pub kind: String,
    /// Parameters.
    pub payload: serde_json::Value,
    /// When the operator acted.
    pub created_at: OffsetDateTime,
    /// Sync state.
    pub state: OpState,
    /// Push attempts so far.
    pub attempts: u32,
    /// The last transport error, if the last attempt failed.
    pub last_error: Option<String>,
    /// The operator who acted (none: queued by a version that did not record it).
    pub operator: Option<Uuid>,
}

/// Sync status of one record, from the latest operation that touched it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum RecordStatus {
    /// No local operation touched it: it is as the registry sent it.
    Synced,
    /// A local operation waits for the registry.
    Pending {
        /// The latest such operation.
        op_id: Uuid,
    },
    /// The latest local operation was accepted.
    Accepted {
        /// That operation.
        op_id: Uuid,
    },
    /// The latest local operation was rejected and rolled back.
    Rejected {
        /// That operation.
        op_id: Uuid,
        /// Reason code.
        code: String,
        /// Reason in words.
        reason: String,
    },
}

/// The inside of one local action: reads and writes records and records
/// their before-images against the action's operation. Obtained from
/// [`crate::Store::act`]; everything done through it commits or rolls back
/// together with the outbox entry.
#[derive(Debug)]
pub struct Local<'a> {
    pub(crate) tx: &'a Transaction<'a>,
    pub(crate) op_seq: i64,
    pub(crate) op_id: Uuid,
    pub(crate) step: i64,
}

impl Local<'_> {
    /// The operation this action is recorded under.
    pub fn op_id(&self) -> Uuid {
        self.op_id
    }

    /// Reads a record as this action sees it (its own writes included).
    pub fn get<R: Record>(&self, key: &str) -> Result<Option<R>> {
        record::get(self.tx, key)
    }

    /// Inserts or replaces a record.
    pub fn put<R: Record>(&mut self, record: &R) -> Result<()> {
        self.touch(R::KIND, &record.key())?;
        record::put(self.tx, record)
    }

    /// Deletes a record (absent: nothing to do).
    pub fn delete<R: Record>(&mut self, key: &str) -> Result<()> {
        self.touch(R::KIND, key)?;
        record::delete(self.tx, R::KIND, key)
    }

    /// Keeps the record's before-image on the first touch by this operation.
    fn touch(&mut self, kind: RecordKind, key: &str) -> Result<()> {
        let before = record::read_doc(self.tx, kind, key)?;
        self.tx
            .prepare_cached(
                "INSERT OR IGNORE INTO outbox_undo (op_seq, step, record_kind, record_key, before_doc)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![self.op_seq, self.step, kind.name(), key, before])?;
        self.step += 1;
        Ok(())
    }
}

/// Inserts the outbox entry of a new action; returns its `seq`.
pub(crate) fn enqueue(tx: &Transaction<'_>, op: &NewOperation) -> Result<i64> {
    let payload = serde_json::to_string(&op.payload)?;
    tx.prepare_cached(
        "INSERT INTO outbox (op_id, kind, payload, created_at, operator) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        op.op_id.to_string(),
        op.kind,
        payload,
        time_text::format(op.created_at),
        op.operator.map(|o| o.to_string())
    ])?;
    Ok(tx.last_insert_rowid())
}

pub(crate) const ENTRY_COLUMNS: &str =
    "seq, op_id, kind, payload, created_at, state, reason_code, reason, result, answered_at, attempts, last_error, operator";

pub(crate) fn entry_from_row(row: &rusqlite::Row<'_>) -> Result<OutboxEntry> {
    let op_id: String = row.get(1)?;
    let op_id = Uuid::parse_str(&op_id).map_err(|e| Error::InvalidRecord(format!("op id: {e}")))?;
    let payload: String = row.get(3)?;
    let created_at: String = row.get(4)?;
    let state: String = row.get(5)?;
    let answered_at: Option<String> = row.get(9)?;
    let at = || -> Result<OffsetDateTime> {
        time_text::parse(answered_at.as_deref().ok_or_else(|| Error::InvalidRecord("answer time".into()))?)
    };
    let state = match state.as_str() {
        "pending" => OpState::Pending,
        "accepted" => {
            let result: Option<String> = row.get(8)?;
            OpState::Accepted { result: result.map(|r| serde_json::from_str(&r)).transpose()?, at: at()? }
        }
        "rejected" => OpState::Rejected {
            code: row.get::<_, Option<String>>(6)?.unwrap_or_default(),
            reason: row.get::<_, Option<String>>(7)?.unwrap_or_default(),
            at: at()?,
        },
        other => return Err(Error::InvalidRecord(format!("outbox state {other:?}"))),
    };
    let attempts: i64 = row.get(10)?;
    let operator = row
        .get::<_, Option<String>>(12)?
        .map(|o| Uuid::parse_str(&o).map_err(|e| Error::InvalidRecord(format!("outbox operator: {e}"))))
        .transpose()?;
    Ok(OutboxEntry {
        seq: row.get(0)?,
        op_id,
        kind: row.get(2)?,
        payload: serde_json::from_str(&payload)?,
        created_at: time_text::parse(&created_at)?,
        state,
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        last_error: row.get(11)?,
        operator,
    })
}

/// The entry of `op_id`, if any.
pub(crate) fn entry(tx: &rusqlite::Connection, op_id: Uuid) -> Result<Option<OutboxEntry>> {
    let sql = format!("SELECT {ENTRY_COLUMNS} FROM outbox WHERE op_id = ?1");
    let mut stmt = tx.prepare_cached(&sql)?;
    let mut rows = stmt.query([op_id.to_string()])?;
    match rows.next()? {
        Some(row) => Ok(Some(entry_from_row(row)?)),
        None => Ok(None),
    }
}

/// Records acceptance. Accepting an accepted operation again is a no-op
/// (the registry answers replays with the first answer).
pub(crate) fn accept(
    tx: &Transaction<'_>,
    op_id: Uuid,
    result: Option<&serde_json::Value>,
    at: OffsetDateTime,
) -> Result<()> {
    let entry = entry(tx, op_id)?.ok_or(Error::UnknownOperation(op_id))?;
    match entry.state {
        OpState::Accepted { .. } => return Ok(()),
        OpState::Rejected { .. } => return Err(Error::AlreadyAnswered { op_id, state: "rejected" }),
        OpState::Pending => {}
    }
    let result = result.map(serde_json::to_string).transpose()?;
    tx.prepare_cached(
        "UPDATE outbox SET state = 'accepted', result = ?2, answered_at = ?3, last_error = NULL WHERE seq = ?1",
    )?
    .execute(params![entry.seq, result, time_text::format(at)])?;
    Ok(())
}

/// Records rejection and rolls the operation's local effect back (see the module doc).
pub(crate) fn reject(
    tx: &Transaction<'_>,
    op_id: Uuid,
    code: &str,
    reason: &str,
    at: OffsetDateTime,
) -> Result<()> {
    let entry = entry(tx, op_id)?.ok_or(Error::UnknownOperation(op_id))?;
    match entry.state {
        OpState::Rejected { .. } => return Ok(()),
        OpState::Accepted { .. } => return Err(Error::AlreadyAnswered { op_id, state: "accepted" }),
        OpState::Pending => {}
    }
    tx.prepare_cached(
        "UPDATE outbox SET state = 'rejected', reason_code = ?2, reason = ?3, answered_at = ?4,
           last_error = NULL WHERE seq = ?1",
    )?
    .execute(params![entry.seq, code, reason, time_text::format(at)])?;

    let touched: Vec<(String, String, Option<String>)> = tx
        .prepare_cached(
            "SELECT record_kind, record_key, before_doc FROM outbox_undo WHERE op_seq = ?1 ORDER BY step DESC",
        )?
        .query_map([entry.seq], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (kind, key, before) in touched {
        let kind: RecordKind = kind.parse()?;
        let later: Option<(i64, i64)> = tx
            .prepare_cached(
                "SELECT u.op_seq, u.step FROM outbox_undo u JOIN outbox o ON o.seq = u.op_seq
                 WHERE u.record_kind = ?1 AND u.record_key = ?2 AND u.op_seq > ?3 AND o.state = 'pending'
                 ORDER BY u.op_seq LIMIT 1",
            )?
            .query_row(params![kind.name(), key, entry.seq], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        match later {
            Some((seq, step)) => {
                tx.prepare_cached("UPDATE outbox_undo SET before_doc = ?3 WHERE op_seq = ?1 AND step = ?2")?
                    .execute(params![seq, step, before])?;
            }
            None => record::set_json(tx, kind, &key, before.as_deref())?,
        }
    }
    Ok(())
}

/// The status of one record.
pub(crate) fn record_status(
    conn: &rusqlite::Connection,
    kind: RecordKind,
    key: &str,
) -> Result<RecordStatus> {
    let latest: Option<(String, String, Option<String>, Option<String>)> = conn
        .prepare_cached(
            "SELECT o.op_id, o.state, o.reason_code, o.reason FROM outbox_undo u JOIN outbox o ON o.seq = u.op_seq
             WHERE u.record_kind = ?1 AND u.record_key = ?2 ORDER BY u.op_seq DESC LIMIT 1",
        )?
        .query_row(params![kind.name(), key], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .optional()?;
    let Some((op_id, state, code, reason)) = latest else {
        return Ok(RecordStatus::Synced);
    };
    let op_id = Uuid::parse_str(&op_id).map_err(|e| Error::InvalidRecord(format!("op id: {e}")))?;
    Ok(match state.as_str() {
        "pending" => RecordStatus::Pending { op_id },
        "accepted" => RecordStatus::Accepted { op_id },
        _ => RecordStatus::Rejected {
            op_id,
            code: code.unwrap_or_default(),
            reason: reason.unwrap_or_default(),
        },
    })
}

/// A change to one record from the registry's feed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemoteChange {
    /// Which kind of record.
    pub kind: RecordKind,
    /// Its key (see [`Record::key`]).
    pub key: String,
    /// The record as the registry has it now; `None`: deleted.
    pub doc: Option<serde_json::Value>,
}

/// What applying a page of remote changes did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ApplyReport {
    /// Rows written or deleted.
    pub written: usize,
    /// Changes to records with pending local operations: kept as their
    /// rollback base, the local row left as the operator made it.
    pub deferred: usize,
}

/// Applies one remote change (idempotent: applying it twice leaves the same state).
pub(crate) fn apply_remote(
    tx: &Transaction<'_>,
    change: &RemoteChange,
    any_pending: bool,
    report: &mut ApplyReport,
    staged: &mut record::Staged,
) -> Result<()> {
    let earliest_pending: Option<(i64, i64)> = if any_pending {
        tx.prepare_cached(
            "SELECT u.op_seq, u.step FROM outbox_undo u JOIN outbox o ON o.seq = u.op_seq
             WHERE u.record_kind = ?1 AND u.record_key = ?2 AND o.state = 'pending'
             ORDER BY u.op_seq LIMIT 1",
        )?
        .query_row(params![change.kind.name(), change.key], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?
    } else {
        None
    };
    match earliest_pending {
        Some((seq, step)) => {
            let canonical = change
                .doc
                .as_ref()
                .map(|d| record::canonical_value(change.kind, &change.key, d))
                .transpose()?;
            tx.prepare_cached("UPDATE outbox_undo SET before_doc = ?3 WHERE op_seq = ?1 AND step = ?2")?
                .execute(params![seq, step, canonical])?;
            report.deferred += 1;
        }
        None => {
            let staged_now = match &change.doc {
                Some(doc) => staged.stage(change.kind, &change.key, doc)?,
                None => false,
            };
            if !staged_now {
                staged.flush_kind(tx, change.kind)?;
                record::set_value(tx, change.kind, &change.key, change.doc.as_ref())?;
            }
            report.written += 1;
        }
    }
    Ok(())
}
