//! What every card job shares, and the one place that tells job kinds
//! apart: the journaled detail of issue and update jobs, the job view, and
//! resume / roll back dispatched by the job's kind, so the use-case modules
//! (`issue`, `update`) never call each other.

use domain::{CertificateId, IssueRoute, ProfileId};
use serde::{Deserialize, Serialize};
use store::{JobKind, JobState};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::card::CardFacts;
use crate::error::{Error, Result};
use crate::previous_secrets::WrappedPrevious;
use crate::progress::Progress;
use crate::session::Session;
use crate::Issued;

pub use domain::rules::UpdateReason;

/// A certificate the job put on the card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedCertificateView {
    /// The registry's certificate record.
    pub id: CertificateId,
    /// Serial, upper-case hex.
    pub serial: String,
    /// Slot.
    pub slot: domain::Slot,
    /// Subject DN.
    pub subject: String,
    /// Start of validity.
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    /// End of validity.
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
}

/// A job as listed for the operator (`cardstation jobs`).
#[derive(Debug, Clone, Serialize)]
pub struct JobView {
    /// Job id.
    pub id: Uuid,
    /// What it does.
    pub kind: JobKind,
    /// Where it stands.
    pub state: JobState,
    /// The device.
    pub device: String,
    /// The request.
    pub request: Option<String>,
    /// The card it was started on.
    pub card: Option<CardFacts>,
    /// Card writes journaled as done.
    pub writes_done: usize,
    /// The write a tear interrupted (journaled before, never after), if any.
    pub interrupted: Option<String>,
    /// Why it last failed.
    pub last_error: Option<String>,
    /// Started.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// The secret-free parameters and results of an issue job, as journaled.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct JobDetail {
    pub(crate) route: IssueRoute,
    pub(crate) certificates: Vec<IssuedCertificateView>,
    /// What an update job (UC-UPDATE) collects; absent for issue jobs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) update: Option<UpdateDetail>,
    /// A batch card's settings (UC-BATCH options), kept so a resumed job
    /// encodes and records the card the same way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) settings: Option<domain::IssuanceSettings>,
}

/// What an update job collects, as journaled (no secret in the clear).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct UpdateDetail {
    /// Apply latest updates or reprovision.
    pub(crate) reason: UpdateReason,
    /// The target profile.
    pub(crate) profile: ProfileId,
    /// The card's previous management key and PUK, sealed under a key derived
    /// from the new escrowed management key; only while the card may still
    /// hold them, cleared when the job ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) previous: Option<WrappedPrevious>,
}

impl Session {
    /// Resumes an interrupted job on its card in `reader`, by its kind.
    pub fn resume(&mut self, job_id: Uuid, reader: &str, progress: &mut dyn Progress) -> Result<Issued> {
        self.sync()?;
        let job = self.open_job(job_id)?;
        if self.is_temporary_job(&job)? {
            return Err(Error::Invalid(format!(
                "job {job_id} initializes temporary card {0}: resume it with `cardstation temp init {0}`",
                job.device
            )));
        }
        match job.kind {
            JobKind::Update => self.resume_update(job, reader, progress).map(Issued::from),
            _ => self.resume_issue(job, reader, progress),
        }
    }

    /// Rolls an interrupted job back, by its kind, and shows where it stands.
    pub fn rollback(&mut self, job_id: Uuid, reason: &str) -> Result<JobView> {
        self.sync()?;
        self.rollback_job(job_id, reason)?;
        let job = self.store.job(job_id)?.ok_or_else(|| Error::NotFound(format!("no job {job_id}")))?;
        self.job_view(job)
    }

    /// [`Session::rollback`] without the sync and the view (a failed run rolls its own job back).
    pub(crate) fn rollback_job(&mut self, job_id: Uuid, reason: &str) -> Result<()> {
        let job = self.open_job(job_id)?;
        if self.is_temporary_job(&job)? {
            // The temporary card stays `produced`; initializing again (this
            // card or another) starts over with new secrets.
            let message: String = reason.chars().take(900).collect();
            self.store.update_job(
                job_id,
                JobState::RolledBack,
                None,
                Some(&message),
                OffsetDateTime::now_utc(),
            )?;
            return Ok(());
        }
        match job.kind {
            JobKind::Update => self.rollback_update(job, reason),
            _ => self.rollback_issue(job, reason),
        }
    }

    /// Job `job_id` of this station, still open.
    fn open_job(&self, job_id: Uuid) -> Result<store::Job> {
        let job = self.store.job(job_id)?.ok_or_else(|| Error::NotFound(format!("no job {job_id}")))?;
        if !job.state.is_open() {
            return Err(Error::Invalid(format!("job {job_id} is already {}", job.state.name())));
        }
        Ok(job)
    }
}
