//! The encoding journal (SPEC §2 tear safety): every card job and each of
//! its card writes, recorded before the write is sent and after the card
//! answered, in the same database as the replica (`synchronous = FULL`, so
//! a journaled step survives power loss). Recovery on start or on insertion
//! reads the open jobs and the last step each reached.
//!
//! The journal holds no secret: the caller stores JSON it has built from
//! secret-free values (the personalization plan, card identity, ids).

use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::time_text;

/// What a job does to a card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// Encode a card (UC-ISSUE, UC-BATCH).
    Issue,
    /// Apply updates or reprovision (UC-UPDATE).
    Update,
    /// Unblock the PIN (UC-PIN).
    Unblock,
    /// Erase to blank stock (UC-RETIRE).
    Erase,
}

/// Where a job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Created; nothing written to the card, nothing escrowed.
    Open,
    /// The card's new secrets are escrowed at the registry; no card write yet.
    Escrowed,
    /// Card writes under way (or interrupted).
    Writing,
    /// Finished and recorded at the registry.
    Completed,
    /// Abandoned; the registry recorded the failure.
    RolledBack,
}

impl JobState {
    /// The stored name.
    pub const fn name(self) -> &'static str {
        match self {
            JobState::Open => "open",
            JobState::Escrowed => "escrowed",
            JobState::Writing => "writing",
            JobState::Completed => "completed",
            JobState::RolledBack => "rolled_back",
        }
    }

    /// Whether recovery still has to resume or roll the job back.
    pub const fn is_open(self) -> bool {
        !matches!(self, JobState::Completed | JobState::RolledBack)
    }

    fn parse(text: &str) -> Result<Self> {
        Ok(match text {
            "open" => JobState::Open,
            "escrowed" => JobState::Escrowed,
            "writing" => JobState::Writing,
            "completed" => JobState::Completed,
            "rolled_back" => JobState::RolledBack,
            other => return Err(Error::InvalidRecord(format!("job state {other:?}"))),
        })
    }
}

impl JobKind {
    /// The stored name.
    pub const fn name(self) -> &'static str {
        match self {
            JobKind::Issue => "issue",
            JobKind::Update => "update",
            JobKind::Unblock => "unblock",
            JobKind::Erase => "erase",
        }
    }

    fn parse(text: &str) -> Result<Self> {
        Ok(match text {
            "issue" => JobKind::Issue,
            "update" => JobKind::Update,
            "unblock" => JobKind::Unblock,
            "erase" => JobKind::Erase,
            other => return Err(Error::InvalidRecord(format!("job kind {other:?}"))),
        })
    }
}

/// Whether a journaled step is about to be written or was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepPhase {
    /// Journaled before the card write was sent.
    Before,
    /// Journaled after the card answered.
    After,
}

/// One job as journaled.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// Job id.
    pub id: Uuid,
    /// What it does.
    pub kind: JobKind,
    /// The device record.
    pub device: String,
    /// The request carried out, if any.
    pub request: Option<String>,
    /// Where it stands.
    pub state: JobState,
    /// The card as found before the first write (JSON, secret-free).
    pub card: serde_json::Value,
    /// Parameters and results (JSON, secret-free).
    pub detail: serde_json::Value,
    /// Why it last failed or was rolled back.
    pub last_error: Option<String>,
    /// Created.
    pub created_at: OffsetDateTime,
    /// Last changed.
    pub updated_at: OffsetDateTime,
}

impl Job {
    /// A job in `state`, made `at`, carrying out no request and failed
    /// never yet (see [`Job::for_request`]).
    pub fn new(
        id: Uuid,
        kind: JobKind,
        device: impl Into<String>,
        state: JobState,
        card: serde_json::Value,
        detail: serde_json::Value,
        at: OffsetDateTime,
    ) -> Job {
        Job {
            id,
            kind,
            device: device.into(),
            request: None,
            state,
            card,
            detail,
            last_error: None,
            created_at: at,
            updated_at: at,
        }
    }

    /// The job, carrying out `request`.
    pub fn for_request(mut self, request: Option<String>) -> Job {
        self.request = request;
        self
    }
}

/// One journaled step.
#[derive(Debug, Clone, PartialEq)]
pub struct JobStep {
    /// Order within the job.
    pub seq: u32,
    /// Before or after the card write.
    pub phase: StepPhase,
    /// The step (JSON, secret-free).
    pub step: serde_json::Value,
    /// When.
    pub at: OffsetDateTime,
}

const JOB_COLUMNS: &str =
    "id, kind, device, request, state, card, detail, last_error, created_at, updated_at";

fn job_from_row(row: &Row<'_>) -> Result<Job> {
    let id: String = row.get(0)?;
    let kind: String = row.get(1)?;
    let state: String = row.get(4)?;
    let card: String = row.get(5)?;
    let detail: String = row.get(6)?;
    let created: String = row.get(8)?;
    let updated: String = row.get(9)?;
    Ok(Job {
        id: Uuid::parse_str(&id).map_err(|_| Error::InvalidRecord(format!("job id {id:?}")))?,
        kind: JobKind::parse(&kind)?,
        device: row.get(2)?,
        request: row.get(3)?,
        state: JobState::parse(&state)?,
        card: serde_json::from_str(&card)?,
        detail: serde_json::from_str(&detail)?,
        last_error: row.get(7)?,
        created_at: time_text::parse(&created)?,
        updated_at: time_text::parse(&updated)?,
    })
}

pub(crate) fn create(conn: &Connection, job: &Job) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO jobs (id, kind, device, request, state, card, detail, last_error, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        job.id.to_string(),
        job.kind.name(),
        job.device,
        job.request,
        job.state.name(),
        serde_json::to_string(&job.card)?,
        serde_json::to_string(&job.detail)?,
        job.last_error,
        time_text::format(job.created_at),
        time_text::format(job.updated_at),
    ])?;
    Ok(())
}

pub(crate) fn get(conn: &Connection, id: Uuid) -> Result<Option<Job>> {
    let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?1");
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query([id.to_string()])?;
    rows.next()?.map(job_from_row).transpose()
}

pub(crate) fn list(conn: &Connection, only_open: bool, device: Option<&str>) -> Result<Vec<Job>> {
    let sql = format!(
        "SELECT {JOB_COLUMNS} FROM jobs
         WHERE (?1 = 0 OR state NOT IN ('completed', 'rolled_back')) AND (?2 IS NULL OR device = ?2)
         ORDER BY created_at, id"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(params![i64::from(only_open), device])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(job_from_row(row)?);
    }
    Ok(out)
}

pub(crate) fn update(
    conn: &Connection,
    id: Uuid,
    state: JobState,
    detail: Option<&serde_json::Value>,
    last_error: Option<&str>,
    at: OffsetDateTime,
) -> Result<()> {
    let detail = detail.map(serde_json::to_string).transpose()?;
    let n = conn
        .prepare_cached(
            "UPDATE jobs SET state = ?2, detail = coalesce(?3, detail), last_error = ?4, updated_at = ?5
             WHERE id = ?1",
        )?
        .execute(params![id.to_string(), state.name(), detail, last_error, time_text::format(at)])?;
    if n == 0 {
        return Err(Error::InvalidRecord(format!("no job {id}")));
    }
    Ok(())
}

pub(crate) fn record_step(
    conn: &Connection,
    id: Uuid,
    phase: StepPhase,
    step: &serde_json::Value,
    at: OffsetDateTime,
) -> Result<u32> {
    let next: i64 = conn
        .prepare_cached("SELECT coalesce(max(seq) + 1, 0) FROM job_steps WHERE job = ?1")?
        .query_row([id.to_string()], |r| r.get(0))?;
    let phase_name = match phase {
        StepPhase::Before => "before",
        StepPhase::After => "after",
    };
    conn.prepare_cached("INSERT INTO job_steps (job, seq, phase, step, at) VALUES (?1, ?2, ?3, ?4, ?5)")?
        .execute(params![
            id.to_string(),
            next,
            phase_name,
            serde_json::to_string(step)?,
            time_text::format(at)
        ])?;
    u32::try_from(next).map_err(|_| Error::InvalidRecord("job step number".into()))
}

pub(crate) fn steps(conn: &Connection, id: Uuid) -> Result<Vec<JobStep>> {
    let mut stmt =
        conn.prepare_cached("SELECT seq, phase, step, at FROM job_steps WHERE job = ?1 ORDER BY seq")?;
    let rows: Vec<(i64, String, String, String)> = stmt
        .query_map([id.to_string()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<rusqlite::Result<_>>()?;
    rows.into_iter()
        .map(|(seq, phase, step, at)| {
            Ok(JobStep {
                seq: u32::try_from(seq).map_err(|_| Error::InvalidRecord("job step number".into()))?,
                phase: match phase.as_str() {
                    "before" => StepPhase::Before,
                    "after" => StepPhase::After,
                    other => return Err(Error::InvalidRecord(format!("step phase {other:?}"))),
                },
                step: serde_json::from_str(&step)?,
                at: time_text::parse(&at)?,
            })
        })
        .collect()
}

/// Whether a job with this id exists (for idempotent creation).
pub(crate) fn exists(conn: &Connection, id: Uuid) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM jobs WHERE id = ?1")?
        .query_row([id.to_string()], |_| Ok(()))
        .optional()?
        .is_some())
}
