//! Batch orders (UC-BATCH, seed 003): the approved requests a station
//! encodes together, their shared options and where each card stands, kept
//! next to the encoding journal so a batch resumes after a restart.
//!
//! Several worker threads (one per reader), each with its own connection
//! to the same database, take the next pending card with
//! [`Store::claim_batch_item`]: an immediate transaction, so two readers
//! never take the same card. A cancel (from any process) is a flag the
//! claim checks: no card is started after it, a card being written finishes.

use rusqlite::{params, OptionalExtension, Row, TransactionBehavior};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::{time_text, Store};

/// Where one card of a batch stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BatchItemState {
    /// Not started (or to be retried).
    Pending,
    /// A worker took it: its card is being encoded (or was, when the
    /// process died; its issue job tells).
    Encoding,
    /// Encoded and recorded.
    Done,
    /// Failed, after its retry.
    Failed,
    /// Not encoded: its request can no longer be issued.
    Cancelled,
}

impl BatchItemState {
    /// The stored name.
    pub const fn name(self) -> &'static str {
        match self {
            BatchItemState::Pending => "pending",
            BatchItemState::Encoding => "encoding",
            BatchItemState::Done => "done",
            BatchItemState::Failed => "failed",
            BatchItemState::Cancelled => "cancelled",
        }
    }

    fn parse(text: &str) -> Result<Self> {
        Ok(match text {
            "pending" => BatchItemState::Pending,
            "encoding" => BatchItemState::Encoding,
            "done" => BatchItemState::Done,
            "failed" => BatchItemState::Failed,
            "cancelled" => BatchItemState::Cancelled,
            other => return Err(Error::InvalidRecord(format!("batch item state {other:?}"))),
        })
    }
}

/// A batch order as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// Batch id.
    pub id: Uuid,
    /// Options (JSON, secret-free).
    pub options: serde_json::Value,
    /// The operator who created it.
    pub created_by: String,
    /// Cancel requested: no further card is started.
    pub cancelled: bool,
    /// Created.
    pub created_at: OffsetDateTime,
    /// Last changed.
    pub updated_at: OffsetDateTime,
}

/// One card of a batch.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchItem {
    /// The batch.
    pub batch: Uuid,
    /// Order within the batch.
    pub seq: u32,
    /// The approved request.
    pub request: String,
    /// Its card record.
    pub device: String,
    /// Where it stands.
    pub state: BatchItemState,
    /// The reader it was (last) encoded in.
    pub reader: Option<String>,
    /// The issue job that encoded it (last attempt).
    pub job: Option<Uuid>,
    /// Attempts started.
    pub attempts: u32,
    /// Why it last failed.
    pub last_error: Option<String>,
    /// Last changed.
    pub updated_at: OffsetDateTime,
}

const BATCH_COLUMNS: &str = "id, options, created_by, cancelled, created_at, updated_at";
const ITEM_COLUMNS: &str =
    "batch, seq, request, device, state, reader, job, attempts, last_error, updated_at";

fn uuid(text: &str, what: &str) -> Result<Uuid> {
    Uuid::parse_str(text).map_err(|_| Error::InvalidRecord(format!("{what} {text:?}")))
}

fn batch_from_row(row: &Row<'_>) -> Result<Batch> {
    let id: String = row.get(0)?;
    let options: String = row.get(1)?;
    let cancelled: i64 = row.get(3)?;
    let created: String = row.get(4)?;
    let updated: String = row.get(5)?;
    Ok(Batch {
        id: uuid(&id, "batch id")?,
        options: serde_json::from_str(&options)?,
        created_by: row.get(2)?,
        cancelled: cancelled != 0,
        created_at: time_text::parse(&created)?,
        updated_at: time_text::parse(&updated)?,
    })
}

fn item_from_row(row: &Row<'_>) -> Result<BatchItem> {
    let batch: String = row.get(0)?;
    let seq: i64 = row.get(1)?;
    let state: String = row.get(4)?;
    let job: Option<String> = row.get(6)?;
    let attempts: i64 = row.get(7)?;
    let updated: String = row.get(9)?;
    Ok(BatchItem {
        batch: uuid(&batch, "batch id")?,
        seq: u32::try_from(seq).map_err(|_| Error::InvalidRecord("batch item number".into()))?,
        request: row.get(2)?,
        device: row.get(3)?,
        state: BatchItemState::parse(&state)?,
        reader: row.get(5)?,
        job: job.as_deref().map(|j| uuid(j, "job id")).transpose()?,
        attempts: u32::try_from(attempts).map_err(|_| Error::InvalidRecord("attempts".into()))?,
        last_error: row.get(8)?,
        updated_at: time_text::parse(&updated)?,
    })
}

impl Store {
    /// Stores a new batch with its cards (`(request, device)`, in order), all pending.
    pub fn create_batch(&mut self, batch: &Batch, items: &[(String, String)]) -> Result<()> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "INSERT INTO batches (id, options, created_by, cancelled, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                batch.id.to_string(),
                serde_json::to_string(&batch.options)?,
                batch.created_by,
                i64::from(batch.cancelled),
                time_text::format(batch.created_at),
                time_text::format(batch.updated_at),
            ],
        )?;
        for (seq, (request, device)) in items.iter().enumerate() {
            tx.execute(
                "INSERT INTO batch_items (batch, seq, request, device, state, attempts, updated_at)
                 VALUES (?1, ?2, ?3, ?4, 'pending', 0, ?5)",
                params![
                    batch.id.to_string(),
                    i64::try_from(seq).unwrap_or(i64::MAX),
                    request,
                    device,
                    time_text::format(batch.created_at),
                ],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// One batch.
    pub fn batch(&self, id: Uuid) -> Result<Option<Batch>> {
        let sql = format!("SELECT {BATCH_COLUMNS} FROM batches WHERE id = ?1");
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let mut rows = stmt.query([id.to_string()])?;
        rows.next()?.map(batch_from_row).transpose()
    }

    /// Every batch, oldest first.
    pub fn batches(&self) -> Result<Vec<Batch>> {
        let sql = format!("SELECT {BATCH_COLUMNS} FROM batches ORDER BY created_at, id");
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let mut rows = stmt.query([])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            out.push(batch_from_row(row)?);
        }
        Ok(out)
    }

    /// The cards of a batch, in order.
    pub fn batch_items(&self, batch: Uuid) -> Result<Vec<BatchItem>> {
        let sql = format!("SELECT {ITEM_COLUMNS} FROM batch_items WHERE batch = ?1 ORDER BY seq");
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let mut rows = stmt.query([batch.to_string()])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            out.push(item_from_row(row)?);
        }
        Ok(out)
    }

    /// Takes the next pending card of `batch` for `reader` (now encoding,
    /// one more attempt), unless the batch is cancelled. Atomic across
    /// connections: two workers never take the same card.
    pub fn claim_batch_item(
        &mut self,
        batch: Uuid,
        reader: &str,
        at: OffsetDateTime,
    ) -> Result<Option<BatchItem>> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let cancelled: Option<i64> = tx
            .query_row("SELECT cancelled FROM batches WHERE id = ?1", [batch.to_string()], |r| r.get(0))
            .optional()?;
        match cancelled {
            None => return Err(Error::InvalidRecord(format!("no batch {batch}"))),
            Some(1) => return Ok(None),
            Some(_) => {}
        }
        let seq: Option<i64> = tx
            .query_row(
                "SELECT seq FROM batch_items WHERE batch = ?1 AND state = 'pending' ORDER BY seq LIMIT 1",
                [batch.to_string()],
                |r| r.get(0),
            )
            .optional()?;
        let Some(seq) = seq else { return Ok(None) };
        tx.execute(
            "UPDATE batch_items SET state = 'encoding', reader = ?3, attempts = attempts + 1, updated_at = ?4
             WHERE batch = ?1 AND seq = ?2",
            params![batch.to_string(), seq, reader, time_text::format(at)],
        )?;
        let sql = format!("SELECT {ITEM_COLUMNS} FROM batch_items WHERE batch = ?1 AND seq = ?2");
        let item = {
            let mut stmt = tx.prepare(&sql)?;
            let mut rows = stmt.query(params![batch.to_string(), seq])?;
            rows.next()?.map(item_from_row).transpose()?
        };
        tx.commit()?;
        Ok(item)
    }

    /// Moves one card of a batch to `state`, naming its job (kept when
    /// `None`) and why it failed (cleared when `None`).
    pub fn update_batch_item(
        &mut self,
        batch: Uuid,
        seq: u32,
        state: BatchItemState,
        job: Option<Uuid>,
        last_error: Option<&str>,
        at: OffsetDateTime,
    ) -> Result<()> {
        let n = self
            .conn
            .prepare_cached(
                "UPDATE batch_items SET state = ?3, job = coalesce(?4, job), last_error = ?5, updated_at = ?6
                 WHERE batch = ?1 AND seq = ?2",
            )?
            .execute(params![
                batch.to_string(),
                i64::from(seq),
                state.name(),
                job.map(|j| j.to_string()),
                last_error,
                time_text::format(at)
            ])?;
        if n == 0 {
            return Err(Error::InvalidRecord(format!("no item {seq} in batch {batch}")));
        }
        Ok(())
    }

    /// Sets or clears the cancel flag of a batch (`batch cancel` from any
    /// process; `batch resume` clears it).
    pub fn set_batch_cancelled(&mut self, batch: Uuid, cancelled: bool, at: OffsetDateTime) -> Result<()> {
        let n = self
            .conn
            .prepare_cached("UPDATE batches SET cancelled = ?2, updated_at = ?3 WHERE id = ?1")?
            .execute(params![batch.to_string(), i64::from(cancelled), time_text::format(at)])?;
        if n == 0 {
            return Err(Error::InvalidRecord(format!("no batch {batch}")));
        }
        Ok(())
    }

    /// Whether `batch` is cancelled (read fresh: another process may have set it).
    pub fn batch_cancelled(&self, batch: Uuid) -> Result<bool> {
        let v: Option<i64> = self
            .conn
            .prepare_cached("SELECT cancelled FROM batches WHERE id = ?1")?
            .query_row([batch.to_string()], |r| r.get(0))
            .optional()?;
        Ok(v == Some(1))
    }
}
