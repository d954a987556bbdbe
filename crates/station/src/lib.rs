//! The station: every operator use case (SPEC §5) behind one blocking API
//! that the `cardstation` CLI and the desktop app both call.
//!
//! * [`Station::enroll`] pins the registry's certificate fingerprint
//!   (SPEC §7); [`Station::open`] opens the station's database (`store`:
//!   replica, outbox, encoding journal) and its enrollment.
//! * [`Station::sign_in`] (UC-SIGNIN) gives a [`Session`]: the operator's
//!   permissions and the deployment's use cases, so refusals are explained
//!   here with the same `domain` rules the registry decides with.
//! * Each operator action is one `store.act` (local effect + outbox entry in
//!   one transaction) followed by a sync; a rejection comes back with the
//!   registry's code and reason, its local effect rolled back.
//! * Card work ([`Session::issue`], recovery) is a journaled job: the job
//!   row before anything else, the per-card management key and PUK escrowed
//!   at the registry before the first card write, every card write journaled
//!   before and after, certificates from the registry CA. An interrupted job
//!   is resumed (secrets from escrow, a new PIN) or rolled back (production
//!   failed; the job's certificates that reached no card are revoked).
//!   No secret is written to disk or logged; `Debug` redacts them.
//!
//! A [`Session`] owns a small tokio runtime and blocks on it, which suits
//! the synchronous CLI; a window holds the station through a [`Desk`]: the
//! session on a thread of its own, called asynchronously, card jobs on
//! workers of their own, [`watch_readers`] for reader and card events, and
//! every error as one serializable [`ErrorView`].
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod access;
mod admin;
mod audit;
mod batch;
mod board;
mod card;
mod config;
mod desk;
mod error;
mod error_code;
pub mod host_time;
mod issue;
mod job;
mod mailbox;
mod offline;
mod offline_unblock;
mod outcome;
mod pin;
mod previous_secrets;
mod private_file;
pub mod profile;
mod progress;
mod provisioning;
mod remote;
mod retire;
mod reveal;
mod session;
mod temporary;
mod update;
mod view;
mod walkup;
mod walkup_update;
mod watch;

pub use access::{
    AccessView, Choice, OperatorRow, ProfileChoice, ProfileGrant, RoleForm, RoleView, SelfEnrollmentForm,
    UseCaseForm, UseCaseSwitch,
};
pub use admin::{
    AdminView, PermissionRow, ProfileAdminView, ProfileFacts, ProfileForm, ProfileVersionRow, UseCaseRow,
};
pub use audit::{csv_field, parse_time, write_csv, AuditFilter, AuditRow, CSV_HEADER};
pub use batch::{BatchCounts, BatchEvent, BatchItemView, BatchProgress, BatchView, RemoveReason, StopReason};
pub use board::{BatchBoard, BatchCardRow, BatchOptionsInput, BoardEvent, BoardNames};
pub use card::{CardFacts, CardView};
pub use config::{Enrollment, CONFIG_FILE, DB_FILE};
pub use desk::{CardEvent, Desk, OnLock, Seat, DEFAULT_IDLE_LOCK, UNLOCK_ATTEMPTS};
pub use error::{Error, ErrorCode, ErrorView, RefusalView, Result};
pub use issue::{IssueTarget, Issued};
pub use job::{IssuedCertificateView, JobView};
pub use mailbox::MailRow;
pub use offline::{OfflineVerifier, OFFLINE_FAILURE_LIMIT, OFFLINE_VALIDITY, VERIFIER_FILE};
pub use offline_unblock::{unblock_offline, AskResponse, OfflineUnblocked, RESPONSE_ATTEMPTS};
pub use outcome::{
    return_reason, temporary_state, AuditEntry, AuditQuery, AuditReport, CardOutcome, ChainView, DayCount,
    ReaderThroughput, TemporaryRow,
};
pub use pin::{PinChanged, PinUnblocked};
pub use progress::{CardStep, JobEvent, Notice, Progress, ProgressEvents, SilentProgress};
pub use provisioning::{parse_stop_date, EnrollmentRow, PersonTaskRow, ProvisioningTaskRow};
pub use retire::{Erased, Retired};
pub use reveal::{RevealTicket, Revealed, Reveals};
pub use session::{Decision, NewPerson, RequestView, Session, SignedIn};
pub use sync::{PushOutcome, PushedOp, SyncReport};
pub use temporary::{Initialized, TemporaryCardView};
pub use update::{Collected, UpdateReason};
pub use view::{
    label, ActionView, Capabilities, CertificateRow, DeviceView, HistoryRow, HitView, IssuedView, JobRow,
    OutboxRow, PersonRef, PersonView, ProfileRow, RequestRow, SearchResults, SignedInView, SyncStatus,
};
pub use walkup::{check_walkup_pin, PinRules, Walkup, WalkupEncoded};
pub use walkup_update::WalkupUpdate;
pub use watch::{watch_readers, CardWatch, ReaderChange, ReaderInfo};

use std::path::{Path, PathBuf};
use std::time::Duration;

use store::Store;
use uuid::Uuid;

/// How long one registry call may take.
pub const REGISTRY_TIMEOUT: Duration = Duration::from_secs(30);

/// An enrolled workstation, before sign-in.
#[derive(Debug)]
pub struct Station {
    data_dir: PathBuf,
    enrollment: Enrollment,
    store: Store,
}

impl Station {
    /// Enrolls the station in `data_dir` with the registry at `url`, pinning
    /// `fingerprint` (the SHA-256 the registry printed; SPEC §7). The
    /// registry is contacted once to check the pin matches; re-enrolling
    /// keeps the workstation id.
    pub fn enroll(data_dir: &Path, url: &str, fingerprint: &str) -> Result<Enrollment> {
        let pin: sync::Fingerprint =
            fingerprint.parse().map_err(|e| Error::Invalid(format!("fingerprint {fingerprint:?}: {e}")))?;
        let remote = remote::Remote::new(url, pin, REGISTRY_TIMEOUT)?;
        let runtime = runtime()?;
        // A wrong pin (or no registry) fails here, before anything is written.
        runtime.block_on(remote.health())?;
        let workstation = match Enrollment::load(data_dir) {
            Ok(old) => old.workstation,
            Err(_) => Uuid::now_v7(),
        };
        let enrollment =
            Enrollment { registry_url: url.to_owned(), fingerprint: pin.to_string(), workstation };
        enrollment.save(data_dir)?;
        Enrollment::workstation_key(data_dir)?;
        drop(Store::open(data_dir.join(DB_FILE))?);
        Ok(enrollment)
    }

    /// Opens the enrolled station in `data_dir`.
    pub fn open(data_dir: &Path) -> Result<Station> {
        let enrollment = Enrollment::load(data_dir)?;
        let store = Store::open(data_dir.join(DB_FILE))?;
        Ok(Station { data_dir: data_dir.to_owned(), enrollment, store })
    }

    /// The enrollment.
    pub fn enrollment(&self) -> &Enrollment {
        &self.enrollment
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Whether the registry answers now (its health, over the pinned TLS),
    /// waiting at most `timeout`: the sign-in screen's online indicator.
    pub fn registry_online(&self, timeout: Duration) -> bool {
        let Ok(pin) = self.enrollment.pin() else { return false };
        let Ok(remote) = remote::Remote::new(&self.enrollment.registry_url, pin, timeout) else {
            return false;
        };
        runtime().is_ok_and(|rt| rt.block_on(remote.health()).is_ok())
    }

    /// Signs in online (UC-SIGNIN) and pulls the registry's records.
    /// When the registry cannot be reached, signs in offline against the
    /// verifier cached at the last online sign-in (see [`OfflineVerifier`]):
    /// a session for local work whose registry calls fail as offline.
    pub fn sign_in(self, username: &str, password: &str) -> Result<Session> {
        let data_dir = self.data_dir.clone();
        match Session::sign_in(self, username, password) {
            Ok(session) => {
                // Remembered for the next sign-in: offline, and names in the audit view.
                let grant = &session.grant;
                offline::remember(&data_dir, username, password, grant);
                audit::remember_operator(&data_dir, grant.operator, username, grant.person);
                Ok(session)
            }
            Err(Error::Offline(reason)) => {
                offline::sign_in(Station::open(&data_dir)?, username, password, &reason)
            }
            Err(e) => Err(e),
        }
    }
}

/// A session's runtime: calls block on it, and one worker thread runs
/// what is started in the background meanwhile (CA challenges fetched
/// while the card works).
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("station-io")
        .enable_all()
        .build()
        .map_err(|e| Error::Invalid(format!("cannot start the async runtime: {e}")))
}
