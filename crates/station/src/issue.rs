//! UC-ISSUE as a journaled, tear-safe job (SPEC §2), and its recovery.
//!
//! 1. The job row (device, request, the card as found) is journaled first.
//! 2. A per-card AES management key and a PUK are generated and escrowed at
//!    the registry (accepted) before the first card write. They go straight
//!    to the registry, never through the outbox: nothing secret touches disk.
//! 3. The personalization plan runs with an observer that journals every
//!    card write before and after it, and an issuer that asks the registry
//!    CA (a single-use challenge, then issuance after proof of possession);
//!    each certificate issued is journaled the moment it comes back.
//! 4. Success: `RecordIssuance` names the certificates on the card; the PIN
//!    is returned once. A failure that is not a tear: `RecordProductionFailure`
//!    (the registry revokes the job's certificates that reached no card).
//!    A tear (card pulled, reader gone) leaves the job open.
//! 5. Recovery (on start or on insertion of the job's card): resume with
//!    the escrowed management key and PUK and a new PIN, then record what is
//!    on the card and revoke the job's certificates that are not; or roll
//!    back (production failed).

use crate::host_time::{timed, Activity};
use std::cell::RefCell;

use domain::{
    AnyState, CardState, CertificateId, Device, DeviceId, IssueRoute, Permission, PersonId, ProfileId,
    ProfilePermission, Refusal, RequestId, RequestKind, RequestState, RevocationReason,
};
use piv::personalize::{PersonalizationObserver, PlanOptions, Step};
use piv::{CardInfo, CertificateIssuer, IssueRequest, ManagementKey, Personalizer, Pin, Puk, Secrets};
use proto::{
    CardFacts as WireCardFacts, CertificateChange, ChangeCertificate, EscrowKind, EscrowSecret,
    IssueCertificate, OperationKind, RecordIssuance, RecordProductionFailure, RequestCard, SessionToken,
    StoreEscrow,
};
use serde::Serialize;
use store::{Job, JobKind, JobState, StepPhase, Store};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::card::{with_card, with_held_or_new, CardFacts, HeldCard};
use crate::error::{Error, Result};
use crate::job::{IssuedCertificateView, JobDetail, JobView};
use crate::profile::{card_profile, profile_slot};
use crate::remote::Remote;
use crate::session::{RequestView, Session};

/// What to issue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssueTarget {
    /// The card of an approved request (UC-ISSUE single).
    Request(RequestId),
    /// An approved card record (its approved request, if any, is completed).
    Device(DeviceId),
    /// "Issue card" without a request to approve (seed 002, UC-ISSUE direct,
    /// where the deployment enables it): the registry makes the card record
    /// and its request approved at once, then the blank card in the reader
    /// is encoded for `person` with `profile`.
    Direct {
        /// The recipient.
        person: PersonId,
        /// The credential profile.
        profile: ProfileId,
    },
    /// The card a walk-up kiosk started for its cardholder (UC-WALKUP).
    Walkup(DeviceId),
}

pub use crate::progress::{CardStep, Notice, Progress};

/// A finished card.
#[derive(Debug, Serialize)]
pub struct Issued {
    /// The job.
    pub job: Uuid,
    /// The card record as the registry has it now.
    pub device: Device,
    /// The request completed, if any.
    pub request: Option<RequestId>,
    /// The new PIN: shown once, never stored (Debug redacts it). `None`
    /// only when a recovered card's PIN could not be reset (see `warnings`).
    #[serde(skip)] // never serialized: the client that receives it is its one reveal
    pub pin: Option<Pin>,
    /// Certificates on the card.
    pub certificates: Vec<IssuedCertificateView>,
    /// Certificates the job had issued that reached no card: revoked.
    pub revoked: Vec<CertificateId>,
    /// Whether this finished an interrupted job.
    pub resumed: bool,
    /// Things the operator should know.
    pub warnings: Vec<String>,
}

/// Journal access shared by the observer and the issuer during a run.
pub(crate) struct Journal<'s> {
    store: Writer<'s>,
    pub(crate) job: Uuid,
    pub(crate) detail: JobDetail,
    pub(crate) writing: bool,
    /// The `after` of the last finished write, not yet committed: it goes
    /// in the same transaction as the next write's `before` (one fsync for
    /// both), or is committed by [`Journal::finish`]. Until then the journal
    /// shows that write as begun and not known finished, which recovery
    /// treats like a tear during it (the card is read back either way).
    finished: Option<serde_json::Value>,
    /// The plan's card writes not yet begun, in order (see [`Journal::expect`]).
    upcoming: std::collections::VecDeque<serde_json::Value>,
    /// The next write's `before`, sent to the writer thread ahead of time,
    /// and the number of its commit.
    ahead: Option<(serde_json::Value, u64)>,
    /// What must succeed before the job may say `writing` (the escrow push
    /// accepted): run by the commit that first says so, and that commit is
    /// not made when it fails (see [`Journal::expect`]).
    gate: Option<Gate<'s>>,
}

/// A check run right before the job first turns `writing`.
pub(crate) type Gate<'s> = Box<dyn FnOnce() -> store::Result<()> + Send + 's>;

/// Where journal commits go: the store itself (each one waited for), or a
/// writer thread with the store, whose commits run while the card works.
enum Writer<'s> {
    Direct(&'s mut Store),
    Thread {
        tx: std::sync::mpsc::Sender<Commit<'s>>,
        /// Answers of the commits sent and not yet known done, each with
        /// its number (commits are made in the order sent).
        inflight: std::collections::VecDeque<(u64, std::sync::mpsc::Receiver<store::Result<()>>)>,
        /// How many commits were sent: the last one's number.
        sent: u64,
    },
}

/// One commit for the writer thread, and where it answers.
type Commit<'s> = (
    Box<dyn FnOnce(&mut Store) -> store::Result<()> + Send + 's>,
    std::sync::mpsc::Sender<store::Result<()>>,
);

impl<'s> Writer<'s> {
    /// Runs `work` on the store: at once, or sent to the writer thread
    /// (waited for by [`Writer::settle`]).
    fn run(&mut self, work: impl FnOnce(&mut Store) -> store::Result<()> + Send + 's) -> store::Result<()> {
        match self {
            Writer::Direct(store) => work(store),
            Writer::Thread { tx, inflight, sent } => {
                let (done, answer) = std::sync::mpsc::channel();
                tx.send((Box::new(work), done))
                    .map_err(|_| store::Error::InvalidRecord("the journal writer stopped".into()))?;
                *sent += 1;
                inflight.push_back((*sent, answer));
                Ok(())
            }
        }
    }

    /// The number of the last commit sent (0: none, or no writer thread).
    fn sent(&self) -> u64 {
        match self {
            Writer::Direct(_) => 0,
            Writer::Thread { sent, .. } => *sent,
        }
    }

    /// Waits until every commit sent is done; the first failure is returned.
    fn settle(&mut self) -> store::Result<()> {
        self.settle_through(u64::MAX)
    }

    /// Waits until commit number `last` and every one sent before it are
    /// done (the writer makes them in order); later ones go on.
    fn settle_through(&mut self, last: u64) -> store::Result<()> {
        let Writer::Thread { inflight, .. } = self else { return Ok(()) };
        let mut first = Ok(());
        while inflight.front().is_some_and(|(n, _)| *n <= last) {
            let Some((_, answer)) = inflight.pop_front() else { break };
            let r = answer
                .recv()
                .unwrap_or_else(|_| Err(store::Error::InvalidRecord("the journal writer stopped".into())));
            if first.is_ok() {
                first = r;
            }
        }
        first
    }
}

impl<'s> Journal<'s> {
    /// The journal of job `job` on `store`; `writing` when card writes of
    /// the job were journaled already.
    pub(crate) fn new(store: &'s mut Store, job: Uuid, detail: JobDetail, writing: bool) -> Self {
        Self::with(Writer::Direct(store), job, detail, writing)
    }

    fn with(store: Writer<'s>, job: Uuid, detail: JobDetail, writing: bool) -> Self {
        Journal {
            store,
            job,
            detail,
            writing,
            finished: None,
            upcoming: Default::default(),
            ahead: None,
            gate: None,
        }
    }

    /// Runs `work` with a journal of job `job` whose commits are made by a
    /// writer thread owning `store`: once a write's `before` is durable,
    /// the next planned write's `before` is committed while the card
    /// executes this one (see [`Journal::expect`]), so the card does not
    /// wait for the fsync. Each `before` is still durable before its write
    /// is sent; recovery already treats a begun write as possibly done.
    pub(crate) fn ahead<R>(
        store: &'s mut Store,
        job: Uuid,
        detail: JobDetail,
        writing: bool,
        work: impl FnOnce(&RefCell<Journal<'_>>) -> R,
    ) -> R {
        std::thread::scope(|scope| {
            let (tx, rx) = std::sync::mpsc::channel::<Commit<'_>>();
            scope.spawn(move || {
                for (commit, done) in rx {
                    let _ = done.send(commit(&mut *store));
                }
            });
            let journal = RefCell::new(Journal::with(
                Writer::Thread { tx, inflight: Default::default(), sent: 0 },
                job,
                detail,
                writing,
            ));
            work(&journal)
        })
    }

    /// The card writes the plan will make, in order: the `before` of the
    /// next one is committed ahead while the card executes the current one.
    /// `gate` (the escrow push still on its way) is waited for by the writer
    /// thread in that first commit, so the card authenticates meanwhile;
    /// its failure keeps the job from saying `writing` and stops the first
    /// write (its `before` is never durable).
    pub(crate) fn expect(
        &mut self,
        writes: impl IntoIterator<Item = Step>,
        gate: Option<Gate<'s>>,
    ) -> store::Result<()> {
        self.gate = gate;
        self.upcoming = writes.into_iter().filter_map(|s| serde_json::to_value(&s).ok()).collect();
        // The first write's `before` too goes now, while the card authenticates.
        if let (Writer::Thread { .. }, Some(first)) = (&self.store, self.upcoming.front().cloned()) {
            self.commit(Some(first.clone()), false)?;
            self.ahead = Some((first, self.store.sent()));
        }
        Ok(())
    }

    /// Runs the gate now if no commit ran it (a plan without card writes).
    pub(crate) fn pass_gate(&mut self) -> store::Result<()> {
        timed(Activity::Journal, || self.store.settle())?;
        match self.gate.take() {
            Some(gate) => gate(),
            None => Ok(()),
        }
    }

    /// Commits what is still pending (the last write's `after`) and returns
    /// the job's detail. A failed commit is logged: the write it describes
    /// stays journaled as begun, which recovery handles.
    pub(crate) fn finish(&mut self) -> JobDetail {
        let settled = timed(Activity::Journal, || self.store.settle());
        if let Err(e) = settled.and_then(|()| self.commit(None, true)) {
            tracing::error!(error = %e, "journaling a finished card write failed");
        }
        self.detail.clone()
    }

    fn step(&mut self, phase: StepPhase, step: &Step) -> store::Result<()> {
        // A certificate's write waits for every commit sent, the record of
        // its issuance included ([`Journal::certificate`]); any other write
        // only for its own `before` and what was sent ahead of it.
        let after_everything = matches!(step, Step::WriteCertificate { .. });
        let step = serde_json::to_value(step)?;
        match phase {
            StepPhase::After => {
                // Two `after`s in a row (no write between): the first is committed now.
                if self.finished.is_some() {
                    self.commit(None, false)?;
                }
                self.finished = Some(step);
                Ok(())
            }
            // SPEC §2: the `before` is durable before the write is sent.
            StepPhase::Before => {
                match self.ahead.take() {
                    Some((ahead, n)) if ahead == step => {
                        let through = if after_everything { u64::MAX } else { n };
                        timed(Activity::Journal, || self.store.settle_through(through))?;
                    }
                    _ => {
                        timed(Activity::Journal, || self.store.settle())?;
                        self.commit(Some(step.clone()), true)?;
                    }
                }
                // The next planned write's `before` goes while the card works.
                if let Some(at) = self.upcoming.iter().position(|s| *s == step) {
                    self.upcoming.drain(..=at);
                    if let Some(next) = self.upcoming.front().cloned() {
                        self.commit(Some(next.clone()), false)?;
                        self.ahead = Some((next, self.store.sent()));
                    }
                }
                Ok(())
            }
        }
    }

    /// One transaction: the job turning `writing` (first write), the pending
    /// `after`, and `before` when given; waited for when `wait`. Nothing to
    /// do commits nothing.
    fn commit(&mut self, before: Option<serde_json::Value>, wait: bool) -> store::Result<()> {
        if self.finished.is_none() && before.is_none() {
            return Ok(());
        }
        let now = OffsetDateTime::now_utc();
        let writing = if self.writing { None } else { Some(serde_json::to_value(&self.detail)?) };
        let mut steps = Vec::new();
        if let Some(after) = self.finished.take() {
            steps.push((StepPhase::After, after));
        }
        if let Some(before) = before {
            steps.push((StepPhase::Before, before));
        }
        let job = self.job;
        let gate = self.gate.take();
        let work = move |store: &mut Store| {
            if let Some(gate) = gate {
                gate()?;
            }
            let steps: Vec<(StepPhase, &serde_json::Value)> = steps.iter().map(|(p, v)| (*p, v)).collect();
            let state = writing.as_ref().map(|d| (JobState::Writing, d));
            store.record_job_steps(job, state, &steps, now)
        };
        self.writing = true;
        if wait {
            timed(Activity::Journal, || {
                self.store.run(work)?;
                self.store.settle()
            })
        } else {
            self.store.run(work)
        }
    }

    fn certificate(&mut self, cert: IssuedCertificateView) -> store::Result<()> {
        self.detail.certificates.push(cert);
        let detail = serde_json::to_value(&self.detail)?;
        let state = if self.writing { JobState::Writing } else { JobState::Escrowed };
        let job = self.job;
        // Durable before the certificate's write: that write's `before` waits for it.
        self.store
            .run(move |store| store.update_job(job, state, Some(&detail), None, OffsetDateTime::now_utc()))
    }
}

pub(crate) struct Observer<'a, 's> {
    pub(crate) journal: &'a RefCell<Journal<'s>>,
    pub(crate) progress: &'a mut dyn Progress,
}

fn journal_error(e: store::Error) -> piv::Error {
    piv::Error::BadInput(format!(
        "the encoding journal cannot be written ({e}); nothing was sent to the card"
    ))
}

impl PersonalizationObserver for Observer<'_, '_> {
    fn progress(&mut self, index: usize, total: usize, step: &Step) {
        // piv counts steps from 0; a progress display from 1.
        self.progress.step(index + 1, total, &CardStep::from(step));
    }

    fn before_write(&mut self, step: &Step) -> piv::Result<()> {
        self.journal.borrow_mut().step(StepPhase::Before, step).map_err(journal_error)
    }

    fn after_write(&mut self, step: &Step) {
        if let Err(e) = self.journal.borrow_mut().step(StepPhase::After, step) {
            tracing::error!(error = %e, "journaling a finished card write failed");
        }
    }
}

/// The registry CA behind the personalizer's issuer interface.
pub(crate) struct RegistryIssuer<'a, 's> {
    pub(crate) runtime: &'a tokio::runtime::Runtime,
    pub(crate) remote: &'a Remote,
    pub(crate) token: &'a SessionToken,
    pub(crate) device: DeviceId,
    pub(crate) route: IssueRoute,
    pub(crate) journal: &'a RefCell<Journal<'s>>,
    /// Challenges asked for when the card session began (see [`Challenges`]).
    pub(crate) challenges: Challenges,
    /// Certificates asked for ([`CertificateIssuer::begin`]) and not yet collected.
    pub(crate) issuing: Issuing,
}

/// Certificate requests running in the background, per slot; dropped
/// (aborted) with the issuer. A certificate the CA issued for a request
/// nobody collected is on no card: the registry revokes it when the
/// device's issuance is recorded or its production fails.
#[derive(Default)]
pub(crate) struct Issuing(RefCell<std::collections::BTreeMap<piv::Slot, Pending<proto::CertificateIssued>>>);

impl Drop for Issuing {
    fn drop(&mut self) {
        for (_, task) in std::mem::take(&mut *self.0.borrow_mut()) {
            task.abort();
        }
    }
}

/// CA challenges fetched in the background while the card is read and
/// written, one per key the plan certifies: the card never waits for that
/// round trip. One that failed is asked for again when needed.
#[derive(Default)]
pub(crate) struct Challenges(RefCell<std::collections::VecDeque<Pending<proto::CertificateChallenge>>>);

type Pending<T> = tokio::task::JoinHandle<Result<T>>;

impl Challenges {
    /// Starts `count` challenge requests on `runtime`.
    pub(crate) fn prefetch(
        runtime: &tokio::runtime::Runtime,
        remote: &Remote,
        token: &SessionToken,
        count: usize,
    ) -> Challenges {
        let pending = (0..count)
            .map(|_| {
                let (remote, token) = (remote.clone(), token.clone());
                runtime.spawn(async move { remote.challenge(&token).await })
            })
            .collect();
        Challenges(RefCell::new(pending))
    }

    fn take(&self) -> Option<Pending<proto::CertificateChallenge>> {
        self.0.borrow_mut().pop_front()
    }
}

impl Drop for Challenges {
    fn drop(&mut self) {
        for task in self.0.borrow_mut().drain(..) {
            task.abort();
        }
    }
}

fn ca_error(e: Error) -> piv::Error {
    piv::Error::Ca(e.to_string())
}

impl RegistryIssuer<'_, '_> {
    /// The registry's form of a certificate request.
    fn request(&self, request: &IssueRequest) -> piv::Result<IssueCertificate> {
        let slot = profile_slot(request.slot)
            .ok_or_else(|| piv::Error::Ca(format!("slot {} is in no profile", request.slot)))?;
        Ok(IssueCertificate {
            op_id: Uuid::now_v7(),
            device: self.device,
            slot,
            public_key: hex::encode(&request.public_key_spki),
            challenge: hex::encode(&request.proof.challenge),
            signature: hex::encode(&request.proof.signature),
            route: Some(self.route),
        })
    }
}

impl CertificateIssuer for RegistryIssuer<'_, '_> {
    fn challenge(&self) -> piv::Result<Option<Vec<u8>>> {
        let fetched = self.challenges.take().map(|task| {
            timed(Activity::Challenge, || self.runtime.block_on(task))
                .map_err(|e| Error::Invalid(format!("the challenge request stopped: {e}")))
                .and_then(|r| r)
        });
        let challenge = match fetched {
            Some(Ok(c)) => c,
            _ => timed(Activity::Challenge, || self.runtime.block_on(self.remote.challenge(self.token)))
                .map_err(ca_error)?,
        };
        let bytes = hex::decode(&challenge.challenge)
            .map_err(|_| piv::Error::Ca("the registry's challenge is not hex".into()))?;
        Ok(Some(bytes))
    }

    fn begin(&self, request: &IssueRequest) -> piv::Result<()> {
        let issue = self.request(request)?;
        let (remote, token) = (self.remote.clone(), self.token.clone());
        let task = self.runtime.spawn(async move { remote.issue(&token, &issue).await });
        if let Some(earlier) = self.issuing.0.borrow_mut().insert(request.slot, task) {
            earlier.abort();
        }
        Ok(())
    }

    fn ready(&self, slot: piv::Slot) -> bool {
        self.issuing.0.borrow().get(&slot).is_some_and(|task| task.is_finished())
    }

    fn issue(&self, request: &IssueRequest) -> piv::Result<Vec<u8>> {
        let started = self.issuing.0.borrow_mut().remove(&request.slot);
        let issued = match started {
            Some(task) => timed(Activity::Issue, || self.runtime.block_on(task))
                .map_err(|e| piv::Error::Ca(format!("the certificate request stopped: {e}")))?,
            None => {
                let issue = self.request(request)?;
                timed(Activity::Issue, || self.runtime.block_on(self.remote.issue(self.token, &issue)))
            }
        }
        .map_err(ca_error)?;
        let der =
            hex::decode(&issued.der).map_err(|_| piv::Error::Ca("the certificate is not hex".into()))?;
        let c = &issued.certificate;
        let view = IssuedCertificateView {
            id: c.id,
            serial: issued.serial.clone(),
            slot: c.slot,
            subject: c.subject.clone(),
            not_before: c.not_before,
            not_after: c.not_after,
        };
        self.journal.borrow_mut().certificate(view).map_err(journal_error)?;
        Ok(der)
    }
}

/// The certificates an accepted issuance's result shows revoked for
/// cessation of operation, other than those of `kept`: the registry revokes
/// a device's pending certificates (on no card) when its issuance is
/// recorded; superseded ones of an update are not the job's.
/// What a finished card job left on the card, as the registry records it.
pub(crate) struct OnCard {
    /// Serial numbers (hex) of the certificates on the card.
    serials: Vec<String>,
    /// The CHUID's expiry.
    expires_at: Option<OffsetDateTime>,
}

impl OnCard {
    /// As read back from the card.
    fn read(info: &CardInfo) -> OnCard {
        OnCard {
            serials: info
                .certificates
                .iter()
                .filter_map(|c| c.summary.as_ref().map(|s| s.serial_hex.clone()))
                .collect(),
            expires_at: info.chuid.as_ref().and_then(|c| c.expiry_date()).map(|d| d.midnight().assume_utc()),
        }
    }

    /// The card `found` as the run left it: the certificates it wrote (the
    /// plan's `Verify` step read them back and compared them) and those of
    /// the slots it kept, and the CHUID it wrote.
    fn written(found: &CardInfo, outcome: &piv::personalize::Outcome, plan: &piv::Plan) -> OnCard {
        let kept = outcome.kept_slots.iter().filter_map(|slot| found.certificate(*slot));
        let serials = outcome
            .certificates
            .iter()
            .map(|c| c.summary.serial_hex.clone())
            .chain(kept.filter_map(|c| c.summary.as_ref().map(|s| s.serial_hex.clone())))
            .collect();
        let expiry = plan.steps.iter().find_map(|s| match s {
            Step::WriteChuid { expiry, .. } => Some(expiry.as_str()),
            _ => None,
        });
        OnCard { serials, expires_at: expiry.and_then(chuid_expiry) }
    }
}

/// A CHUID expiry (`YYYYMMDD`) as the start of that day, UTC.
fn chuid_expiry(text: &str) -> Option<OffsetDateTime> {
    let n = |r: std::ops::Range<usize>| text.get(r).and_then(|t| t.parse::<u32>().ok());
    let month = time::Month::try_from(u8::try_from(n(4..6)?).ok()?).ok()?;
    let date =
        time::Date::from_calendar_date(i32::try_from(n(0..4)?).ok()?, month, u8::try_from(n(6..8)?).ok()?)
            .ok()?;
    Some(date.midnight().assume_utc())
}

/// The YubiKey serial of the card in a session (after selecting PIV), to
/// tell it is the card read just before; `None` on cards without one.
fn card_serial<T: apdu::Transport>(card: &mut piv::PivCard<T>) -> Result<Option<u32>> {
    card.select()?;
    Ok(match card.version()? {
        Some(v) if v.major >= 5 => card.serial()?,
        _ => None,
    })
}

/// The operations escrowing a card's management key and PUK.
fn escrow_ops(device: DeviceId, secrets: &Secrets) -> Vec<OperationKind> {
    vec![
        OperationKind::StoreEscrow(StoreEscrow {
            device,
            secret_kind: EscrowKind::ManagementKey,
            secret: EscrowSecret::from_bytes(secrets.management_key.expose_secret()),
        }),
        OperationKind::StoreEscrow(StoreEscrow {
            device,
            secret_kind: EscrowKind::Puk,
            secret: EscrowSecret::from_bytes(secrets.puk.expose_secret().as_bytes()),
        }),
    ]
}

/// An escrow push on its way (see [`Session::escrow_later`]).
pub(crate) struct EscrowPush(crate::session::PushLater);

impl EscrowPush {
    /// Waits for the registry's answer: accepted, or the error.
    fn wait(self, runtime: &tokio::runtime::Handle) -> Result<()> {
        timed(Activity::EscrowPush, || self.0.wait(runtime))
    }
}

/// The device record an accepted operation's result carries.
fn recorded_device(result: Option<&serde_json::Value>, device: DeviceId) -> Option<Device> {
    let result = serde_json::from_value::<proto::OperationResult>(result?.clone()).ok()?;
    result.records.into_iter().find_map(|r| match r {
        proto::Record::Device(d) if d.id == device => Some(d),
        _ => None,
    })
}

pub(crate) fn revoked_with(
    result: Option<&serde_json::Value>,
    kept: &[IssuedCertificateView],
) -> Vec<CertificateId> {
    let Some(result) = result.and_then(|r| serde_json::from_value::<proto::OperationResult>(r.clone()).ok())
    else {
        return Vec::new();
    };
    result
        .records
        .into_iter()
        .filter_map(|r| match r {
            proto::Record::Certificate(c)
                if c.state
                    == (domain::CertificateState::Revoked {
                        reason: RevocationReason::CessationOfOperation,
                    })
                    && !kept.iter().any(|k| k.id == c.id) =>
            {
                Some(c.id)
            }
            _ => None,
        })
        .collect()
}

pub(crate) fn same_serial(a: &str, b: &str) -> bool {
    let norm = |s: &str| s.trim_start_matches('0').to_ascii_uppercase();
    norm(a) == norm(b)
}

impl Session {
    /// UC-ISSUE: encodes the card in `reader` for `target` (an approved
    /// request or card record), ending in the profile's end states. If the
    /// device has an interrupted job, that job is resumed instead.
    pub fn issue(
        &mut self,
        target: IssueTarget,
        reader: &str,
        progress: &mut dyn Progress,
    ) -> Result<Issued> {
        self.issue_with(target, reader, None, None, None, progress)
    }

    /// [`Session::issue`], for a card of a batch when `settings` is given:
    /// the batch route, its PIN/PUK lengths and certificates, and its end
    /// states recorded at the registry (UC-BATCH, seed 003).
    pub(crate) fn issue_with(
        &mut self,
        target: IssueTarget,
        reader: &str,
        settings: Option<&domain::IssuanceSettings>,
        found: Option<(CardFacts, CardInfo)>,
        held: Option<HeldCard<'_, '_, '_>>,
        progress: &mut dyn Progress,
    ) -> Result<Issued> {
        // Online first: the CA and escrow need the registry, and the replica must be current.
        // A batch card needs no sync of its own: the batch synced before its
        // first card, each card's recording syncs (push and pull), a retry
        // syncs before it starts, and the registry checks every operation.
        if settings.is_none() {
            self.sync()?;
        }
        let mut route = if settings.is_some() { IssueRoute::Batch } else { IssueRoute::Single };
        let (device, request) = match target {
            IssueTarget::Request(id) => {
                let request = self.request(id)?;
                if request.kind != RequestKind::Issue {
                    return Err(Error::Invalid(format!("request {id} is not a card request")));
                }
                let device = request
                    .device
                    .ok_or_else(|| Error::Invalid(format!("request {id} names no card record")))?;
                (self.device(device)?, Some(request))
            }
            IssueTarget::Device(id) => {
                let device = self.device(id)?;
                let request = self.store.requests_for_device(id)?.into_iter().find(|r| {
                    r.kind == RequestKind::Issue
                        && matches!(r.state, RequestState::Approved | RequestState::Failed)
                });
                (device, request)
            }
            IssueTarget::Walkup(id) => {
                route = IssueRoute::Walkup;
                let device = self.device(id)?;
                let request = self.store.requests_for_device(id)?.into_iter().find(|r| {
                    r.kind == RequestKind::Issue
                        && matches!(r.state, RequestState::Approved | RequestState::Failed)
                });
                (device, request)
            }
            IssueTarget::Direct { person, profile } => {
                route = IssueRoute::Direct;
                let view = self.request_direct(person, profile, reader)?;
                let device = view.device.ok_or_else(|| {
                    Error::Invalid(format!("request {} names no card record", view.request.id))
                })?;
                (device, Some(view.request))
            }
        };
        // A request whose production failed stays `failed` (the registry has
        // no retry operation yet): the card is issued without completing it.
        let request = request.filter(|r| r.state != RequestState::Failed);
        if let Some(job) =
            self.store.jobs_of_device(&device.id.to_string())?.into_iter().find(|j| j.state.is_open())
        {
            if held.is_some() {
                // Its card is elsewhere (this one was not found interrupted).
                return Err(Error::WrongCard(format!(
                    "device {} has an interrupted job {} on another card: put that card back",
                    device.id, job.id
                )));
            }
            progress.note(&Notice::ResumingJob { job: job.id });
            return self.resume(job.id, reader, progress);
        }
        self.check_issue(&device, route)?;
        if let Some(r) = &request {
            if r.state == RequestState::PendingApproval {
                return Err(Refusal::StateNotAllowed {
                    from: AnyState::Request(r.state),
                    command: "issue".into(),
                }
                .into());
            }
        }
        let profile = self.profile_version(device.profile.id, device.profile.version)?;
        let card_profile = crate::profile::with_settings(card_profile(&profile), settings);

        // The card as found (read by the caller, or now); only blank stock
        // or this device's own card. The card session checks it is still
        // the same card before the first write.
        let (facts, info) = match found {
            Some(found) => found,
            None => timed(Activity::CardRead, || crate::card::read(reader))?,
        };
        if !info.looks_blank() && facts.device_id() != Some(device.id) {
            return Err(Error::WrongCard(format!(
                "the card in {reader} is not blank stock (CHUID {}); erase it or insert a blank card",
                facts.guid.as_deref().unwrap_or("none")
            )));
        }
        let retry_same_card = facts.device_id() == Some(device.id);

        // 1. Secrets: new ones escrowed before the first write, or, on a
        //    card this device's earlier job already wrote, the escrowed ones.
        let secrets = self.new_job_secrets(device.id, &card_profile, &info, retry_same_card, progress)?;
        // The escrow travels while the job is created and the card session
        // starts; the session waits for it before the job turns `writing`.
        let escrow = self.escrow_later(device.id, &secrets);

        // 2. The job, before the first card write (`open`: recovery escrows
        //    anew, nothing is on the card yet).
        let now = OffsetDateTime::now_utc();
        let job_id = Uuid::now_v7();
        let detail = JobDetail { route, certificates: Vec::new(), update: None, settings: settings.cloned() };
        // Not flushed on its own (an `open` job with nothing on the card
        // is lost harmlessly with the power): the first write's `before`
        // commit flushes it, before anything is sent to the card.
        timed(Activity::JobRow, || {
            self.store.unflushed(|s| {
                s.create_job(
                    &Job::new(
                        job_id,
                        JobKind::Issue,
                        device.id.to_string(),
                        JobState::Open,
                        serde_json::to_value(&facts).map_err(store::Error::from)?,
                        serde_json::to_value(&detail).map_err(store::Error::from)?,
                        now,
                    )
                    .for_request(request.as_ref().map(|r| r.id.to_string())),
                )
            })
        })?;
        self.run_job(
            job_id,
            &device,
            request.as_ref().map(|r| r.id),
            route,
            reader,
            &card_profile,
            secrets,
            false,
            Some(&info),
            held,
            Some(escrow),
            progress,
        )
    }

    /// The card record and request of a direct issue, made approved by the
    /// registry (`RequestCard` with the direct route), once the domain rules
    /// pass here and blank stock is in the reader (no record for a card that
    /// cannot be encoded now).
    fn request_direct(&mut self, person: PersonId, profile: ProfileId, reader: &str) -> Result<RequestView> {
        let actor = self.actor();
        let profile = self.profile(profile)?;
        domain::rules::check_direct_issue(&profile, person, &actor)?;
        self.person(person)?;
        let (_, info) = crate::card::read(reader)?;
        if !info.looks_blank() {
            return Err(Error::WrongCard(format!(
                "the card in {reader} is not blank stock: erase it or insert a blank card"
            )));
        }
        let (request, device) = (RequestId::new(Uuid::now_v7()), DeviceId::new(Uuid::now_v7()));
        let op = OperationKind::RequestCard(RequestCard {
            request,
            device,
            person,
            profile: profile.id,
            reason: None,
            notes: Some("issued directly (Issue card)".into()),
            route: Some(IssueRoute::Direct),
        });
        let answer = self.submit(op, |_| Ok(()))?;
        self.request_view_answered(request, answer.as_ref())
    }

    fn check_issue(&self, device: &Device, route: IssueRoute) -> Result<()> {
        let actor = self.actor();
        actor.require_use_case(route.use_case())?;
        if !matches!(device.state, CardState::Approved | CardState::ProductionFailed) {
            return Err(Refusal::StateNotAllowed {
                from: AnyState::Card(device.state),
                command: "issue".into(),
            }
            .into());
        }
        if route == IssueRoute::Walkup {
            // The kiosk acts for the cardholder; the registry checks it is their card.
            actor.require(Permission::global(domain::GlobalPermission::Walkup))?;
            return Ok(());
        }
        actor.require(Permission::on(ProfilePermission::CanCollect, device.profile.id))?;
        domain::rules::not_own_device(&actor, device.id, device.owner)?;
        Ok(())
    }

    /// A new job's secrets for the card `info` describes: new ones, or, on
    /// a card an earlier attempt of `device` wrote (`same_card`), that
    /// attempt's escrowed management key (refused once its final PUK is set:
    /// nobody knows the PUK to reset the PIN with).
    pub(crate) fn new_job_secrets(
        &self,
        device: DeviceId,
        card_profile: &piv::Profile,
        info: &CardInfo,
        same_card: bool,
        progress: &mut dyn Progress,
    ) -> Result<Secrets> {
        let mut secrets = Secrets::generate(card_profile, &mut rand::rngs::OsRng)?;
        secrets.pin = self.job_pin(usize::from(card_profile.pin.length))?;
        if same_card {
            if info.puk_is_default == Some(false) {
                return Err(Error::WrongCard(
                    "this card holds an earlier attempt with its final PUK: erase it or use another card"
                        .into(),
                ));
            }
            progress.note(&Notice::EarlierAttempt);
            secrets.management_key = self.escrowed_key(device, card_profile.management_key_algorithm)?;
        }
        Ok(secrets)
    }

    /// Escrows the management key and the PUK at the registry (accepted, or an error).
    pub(crate) fn escrow(&mut self, device: DeviceId, secrets: &Secrets) -> Result<()> {
        self.push_direct(escrow_ops(device, secrets))
    }

    /// [`Session::escrow`] sent in the background: the card session starts
    /// meanwhile and waits for the answer before its first write.
    pub(crate) fn escrow_later(&mut self, device: DeviceId, secrets: &Secrets) -> EscrowPush {
        EscrowPush(self.push_later(escrow_ops(device, secrets)))
    }

    /// The management key escrowed for `device` (Can Collect).
    pub(crate) fn escrowed_key(
        &self,
        device: DeviceId,
        algorithm: piv::ManagementKeyAlgorithm,
    ) -> Result<ManagementKey> {
        let token = &self.grant.token;
        let key = timed(Activity::EscrowFetch, || {
            self.runtime.block_on(self.remote.escrow(token, device, EscrowKind::ManagementKey))
        })?;
        let key =
            key.to_bytes().map_err(|_| Error::Invalid("the escrowed management key is not hex".into()))?;
        ManagementKey::new(algorithm, &key)
            .map_err(|e| Error::Invalid(format!("the escrowed management key: {e}")))
    }

    /// The PUK escrowed for `device` (the registry gives it for an issued
    /// card to an operator who may unblock PINs, UC-PIN).
    pub(crate) fn job_escrowed_puk(&self, device: DeviceId) -> Result<Puk> {
        let puk = timed(Activity::EscrowFetch, || {
            self.runtime.block_on(self.remote.escrow(&self.grant.token, device, EscrowKind::Puk))
        })?;
        let puk = puk.to_bytes().map_err(|_| Error::Invalid("the escrowed PUK is not hex".into()))?;
        let puk =
            std::str::from_utf8(&puk).map_err(|_| Error::Invalid("the escrowed PUK is not text".into()))?;
        Ok(Puk::new(puk)?)
    }

    /// Runs (or re-runs) the plan of job `job_id` on the card in `reader`,
    /// then records the outcome at the registry.
    #[allow(clippy::too_many_arguments)]
    fn run_job(
        &mut self,
        job_id: Uuid,
        device: &Device,
        request: Option<RequestId>,
        route: IssueRoute,
        reader: &str,
        card_profile: &piv::Profile,
        secrets: Secrets,
        resumed: bool,
        found: Option<&CardInfo>,
        held: Option<HeldCard<'_, '_, '_>>,
        escrow: Option<EscrowPush>,
        progress: &mut dyn Progress,
    ) -> Result<Issued> {
        let job = self.store.job(job_id)?.ok_or_else(|| Error::NotFound(format!("no job {job_id}")))?;
        let detail: JobDetail = serde_json::from_value(job.detail.clone()).map_err(store::Error::from)?;
        let options = self.plan_options_for(device)?;
        let (outcome, detail) = self.write_card(
            &job,
            detail,
            device.id,
            route,
            reader,
            card_profile,
            &options,
            &secrets,
            found,
            held,
            escrow,
            progress,
        );
        match outcome {
            Ok((outcome, after, facts)) => {
                progress.card_written();
                self.record_success(
                    job_id,
                    device,
                    request,
                    route,
                    detail,
                    &after,
                    &facts,
                    secrets.pin,
                    resumed,
                    outcome.warnings,
                )
            }
            Err(e) if e.is_tear() => {
                let _ = self.store.update_job(
                    job_id,
                    JobState::Writing,
                    None,
                    Some(&format!("interrupted: {e}")),
                    OffsetDateTime::now_utc(),
                );
                Err(e)
            }
            Err(e) => {
                let _ = self.rollback_job(job_id, &e.to_string());
                Err(e)
            }
        }
    }

    /// The card writes of job `job` on the card in `reader` (the job's own
    /// card, or the card `device` names): the plan for `card_profile`, every
    /// write journaled before and after, certificates from the registry CA,
    /// the PUK set last (factory → escrowed), then the card read back.
    /// Returns the outcome with the job's detail as journaled. Shared by
    /// issue jobs and temporary-card initialization (UC-TEMP).
    ///
    /// `escrow`: the job's escrow push still on its way (waited for before
    /// the first write).
    ///
    /// `found`: the card as the caller read it just before. When the card
    /// in the session is that card (its serial says so, or the caller still
    /// `held` it in the transaction of that read), it is not read again, and
    /// the plan's own read-back (its `Verify` step) stands for the read-back
    /// at the end: two full card reads fewer.
    #[allow(clippy::too_many_arguments, clippy::type_complexity)]
    pub(crate) fn write_card(
        &mut self,
        job: &Job,
        detail: JobDetail,
        device: DeviceId,
        route: IssueRoute,
        reader: &str,
        card_profile: &piv::Profile,
        options: &PlanOptions,
        secrets: &Secrets,
        found: Option<&CardInfo>,
        held: Option<HeldCard<'_, '_, '_>>,
        escrow: Option<EscrowPush>,
        progress: &mut dyn Progress,
    ) -> (Result<(piv::personalize::Outcome, OnCard, CardFacts)>, JobDetail) {
        let job_id = job.id;
        let Session { store, runtime, remote, grant, .. } = self;
        let writing = job.state == JobState::Writing;
        let escrow_failed = std::sync::Arc::new(std::sync::Mutex::new(None::<Error>));
        Journal::ahead(store, job_id, detail, writing, |journal| {
            let session_start = std::time::Instant::now();
            let challenges = Challenges::prefetch(runtime, remote, &grant.token, card_profile.slots.len());
            let outcome = with_held_or_new(reader, held, |atr, card, held| {
                let known = match found {
                    Some(found) if held => Some(found),
                    Some(found) if found.serial.is_some() && card_serial(card)? == found.serial => {
                        Some(found)
                    }
                    _ => None,
                };
                let info = match known {
                    Some(found) => found.clone(),
                    None => piv::read_info(card)?,
                };
                let facts = CardFacts::of(reader, atr, &info);
                let started: Option<CardFacts> = serde_json::from_value(job.card.clone()).ok();
                if let Some(started) = &started {
                    if !facts.same_card(started) && facts.device_id() != Some(device) {
                        return Err(Error::WrongCard(format!(
                            "job {job_id} was started on card {} — insert that card",
                            started.serial.as_deref().or(started.guid.as_deref()).unwrap_or("?")
                        )));
                    }
                }
                let mut plan = piv::plan(card_profile, &info, options)?;
                // The PUK stays the factory one until the very last write
                // (below): the plan's own PUK step would change nothing.
                plan.steps.retain(|s| *s != Step::SetPuk);
                let final_puk = (!secrets.puk.is_factory_default()).then_some(Step::SetPuk);
                let writes = plan.steps.iter().filter(|s| s.writes_card()).cloned().chain(final_puk);
                // The secrets are escrowed (accepted) before the job says
                // `writing`: the journal's first commit waits for the push
                // while the card authenticates.
                let gate = escrow.map(|escrow| -> Gate<'_> {
                    let failed = std::sync::Arc::clone(&escrow_failed);
                    let runtime = runtime.handle().clone();
                    Box::new(move || {
                        escrow.wait(&runtime).map_err(|e| {
                            let message = format!("the card's secrets were not escrowed: {e}");
                            *failed.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                            store::Error::InvalidRecord(message)
                        })
                    })
                });
                journal.borrow_mut().expect(writes, gate).map_err(journal_error)?;
                let issuer = RegistryIssuer {
                    runtime,
                    remote,
                    token: &grant.token,
                    device,
                    route,
                    journal,
                    challenges,
                    issuing: Issuing::default(),
                };
                let mut observer = Observer { journal, progress: &mut *progress };
                // The PUK stays at the factory value while the card is written and
                // becomes the escrowed one in the very last write: a card torn
                // before it is finished with the factory PUK, and one torn after
                // it is complete (its PIN is then reset with the escrowed PUK).
                let during = Secrets {
                    pin: secrets.pin.clone(),
                    puk: Puk::factory_default(),
                    management_key: secrets.management_key.clone(),
                };
                let outcome = Personalizer::run(card, &plan, &during, &issuer, &mut observer)
                    .map_err(Error::from)
                    .and_then(|o| journal.borrow_mut().pass_gate().map(|()| o).map_err(Error::from));
                // A refused or failed escrow push is the error to report.
                let outcome = match escrow_failed.lock().unwrap_or_else(|p| p.into_inner()).take() {
                    Some(e) => return Err(e),
                    None => outcome?,
                };
                if !secrets.puk.is_factory_default() {
                    let step = Step::SetPuk;
                    observer.before_write(&step)?;
                    card.change_puk(&Puk::factory_default(), &secrets.puk)?;
                    observer.after_write(&step);
                }
                let after = match known {
                    Some(found) => OnCard::written(found, &outcome, &plan),
                    None => OnCard::read(&piv::read_info(card)?),
                };
                // The card is done with: other applications (and the
                // operator's hand) need not wait for its recording.
                if let Err(e) = card.transport_mut().release() {
                    tracing::debug!(reader = %reader, error = %e, "ending the card's transaction failed");
                }
                Ok((outcome, after, facts))
            });
            let detail = journal.borrow_mut().finish();
            crate::host_time::record(Activity::CardSession, session_start.elapsed());
            (outcome, detail)
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn record_success(
        &mut self,
        job_id: Uuid,
        device: &Device,
        request: Option<RequestId>,
        route: IssueRoute,
        detail: JobDetail,
        after: &OnCard,
        facts: &CardFacts,
        pin: Pin,
        resumed: bool,
        warnings: Vec<String>,
    ) -> Result<Issued> {
        // Certificates of this job that are on the card now, and the others.
        let (kept, _lost): (Vec<_>, Vec<_>) = detail
            .certificates
            .iter()
            .cloned()
            .partition(|c| after.serials.iter().any(|s| same_serial(s, &c.serial)));
        let expires_at = after.expires_at;
        let op = OperationKind::RecordIssuance(RecordIssuance {
            device: device.id,
            request,
            route,
            card: WireCardFacts {
                serial: facts.serial.clone(),
                atr: Some(facts.atr.clone()),
                contact: true,
                contactless: false,
            },
            expires_at,
            card_end_state: detail.settings.as_ref().map(|s| s.card_end_state),
            certificate_end_state: detail.settings.as_ref().map(|s| s.certificate_end_state),
            certificates: kept
                .iter()
                .map(|c| proto::IssuedCertificate {
                    id: c.id,
                    serial: c.serial.clone(),
                    slot: c.slot,
                    subject: c.subject.clone(),
                    not_before: c.not_before,
                    not_after: c.not_after,
                })
                .collect(),
        });
        // A batch card is recorded without waiting for the feed (the worker
        // pulls it once the card is out); the accepted answer carries the
        // device as the registry recorded it.
        let batch = detail.settings.is_some();
        let result = if batch { self.submit_pushed(op)? } else { self.submit(op, |_| Ok(()))? };
        // The registry revokes the device's pending certificates with the
        // issuance; the station's own revocation only covers a registry that
        // did not (it finds nothing pending otherwise). Not for a batch card:
        // its replica has not pulled the issuance, so the card's own
        // certificates would look pending there.
        let mut revoked = revoked_with(result.as_ref(), &kept);
        let mut warnings = warnings;
        if !batch {
            for id in self.revoke_pending(device.id, &mut warnings)? {
                if !revoked.contains(&id) {
                    revoked.push(id);
                }
            }
        }
        timed(Activity::JobRow, || {
            self.store.update_job(job_id, JobState::Completed, None, None, OffsetDateTime::now_utc())
        })?;
        let recorded = if batch { recorded_device(result.as_ref(), device.id) } else { None };
        Ok(Issued {
            job: job_id,
            device: match recorded {
                Some(d) => d,
                None => self.device(device.id)?,
            },
            request,
            pin: Some(pin),
            certificates: kept,
            revoked,
            resumed,
            warnings,
        })
    }

    /// The plan options of `device`'s card: its holder's name, email and
    /// employee id for the certificate subjects, and its id as CHUID GUID.
    pub(crate) fn plan_options_for(&self, device: &Device) -> Result<PlanOptions> {
        let owner = match device.owner {
            Some(p) => Some(self.person(p)?),
            None => None,
        };
        let mut options =
            PlanOptions::for_holder(&owner.as_ref().map(|p| p.display_name()).unwrap_or_default());
        if let Some(p) = &owner {
            if let Some(email) = &p.email {
                options.subject.extra.insert("email".into(), email.clone());
            }
            if let Some(e) = &p.employee_id {
                options.subject.extra.insert("employee_id".into(), e.clone());
            }
        }
        options.guid = Some(*device.id.uuid().as_bytes());
        Ok(options)
    }

    /// Revokes every certificate issued for `device` that its record does
    /// not name (on hold, pending): issued for a job whose key is on no card
    /// — including one the CA issued just before the process died, which
    /// the journal never saw. Returns the certificates revoked.
    pub(crate) fn revoke_pending(
        &mut self,
        device: DeviceId,
        warnings: &mut Vec<String>,
    ) -> Result<Vec<CertificateId>> {
        let named = self.device(device)?.certificates;
        let pending: Vec<domain::Certificate> = self
            .certificates_of(device)?
            .into_iter()
            .filter(|c| c.state == domain::CertificateState::OnHold && !named.contains(&c.id))
            .collect();
        let mut revoked = Vec::new();
        for c in pending {
            match self.revoke(c.id, "issued for a card job whose key is on no card") {
                Ok(()) => revoked.push(c.id),
                Err(e) => warnings.push(format!(
                    "certificate {} (serial {}) is on no card, and revoking it failed: {e}",
                    c.id, c.serial
                )),
            }
        }
        Ok(revoked)
    }

    fn revoke(&mut self, certificate: CertificateId, notes: &str) -> Result<()> {
        let op = OperationKind::ChangeCertificate(ChangeCertificate {
            certificate,
            change: CertificateChange::Revoke { reason: RevocationReason::CessationOfOperation },
            notes: Some(notes.to_owned()),
        });
        self.submit(op, |_| Ok(())).map(|_| ())
    }

    /// Open jobs (interrupted card work), oldest first.
    pub fn jobs(&self, all: bool) -> Result<Vec<JobView>> {
        let jobs = if all { self.all_jobs()? } else { self.store.open_jobs()? };
        jobs.into_iter().map(|j| self.job_view(j)).collect()
    }

    fn all_jobs(&self) -> Result<Vec<Job>> {
        let mut out = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for j in self.store.open_jobs()? {
            seen.insert(j.device.clone());
        }
        for device in seen {
            out.extend(self.store.jobs_of_device(&device)?);
        }
        Ok(out)
    }

    pub(crate) fn job_view(&self, job: Job) -> Result<JobView> {
        let steps = self.store.job_steps(job.id)?;
        let writes_done = steps.iter().filter(|s| s.phase == StepPhase::After).count();
        let interrupted = if job.state.is_open() { interrupted_step(&steps) } else { None };
        Ok(JobView {
            id: job.id,
            kind: job.kind,
            state: job.state,
            device: job.device,
            request: job.request,
            card: serde_json::from_value(job.card).ok(),
            writes_done,
            interrupted,
            last_error: job.last_error,
            created_at: job.created_at,
        })
    }

    /// Recovery on insertion: the open job whose card is in `reader`, if any.
    pub fn job_for_card(&self, reader: &str) -> Result<Option<Uuid>> {
        let (facts, _) = crate::card::read(reader)?;
        for job in self.store.open_jobs()? {
            let started: Option<CardFacts> = serde_json::from_value(job.card.clone()).ok();
            let ours = started.as_ref().is_some_and(|s| facts.same_card(s))
                || facts.device_id().map(|d| d.to_string()) == Some(job.device.clone());
            if ours {
                return Ok(Some(job.id));
            }
        }
        Ok(None)
    }

    /// Resumes an interrupted issue job (see [`Session::resume`]): the
    /// escrowed management key and PUK, a new PIN (returned once).
    pub(crate) fn resume_issue(
        &mut self,
        job: Job,
        reader: &str,
        progress: &mut dyn Progress,
    ) -> Result<Issued> {
        let job_id = job.id;
        let detail: JobDetail = serde_json::from_value(job.detail.clone()).map_err(store::Error::from)?;
        let device_id = DeviceId::new(
            Uuid::parse_str(&job.device)
                .map_err(|_| Error::Invalid(format!("job device {:?}", job.device)))?,
        );
        let device = self.device(device_id)?;
        if device.state.is_issued() {
            // The run was killed after the registry recorded the issuance.
            let request = job.request.as_deref().and_then(|r| Uuid::parse_str(r).ok()).map(RequestId::new);
            return self.close_recorded(job_id, &device, request, detail, reader);
        }
        self.check_issue(&device, detail.route)?;
        let request = job.request.as_deref().and_then(|r| Uuid::parse_str(r).ok()).map(RequestId::new);
        let profile = self.profile_version(device.profile.id, device.profile.version)?;
        let card_profile = crate::profile::with_settings(card_profile(&profile), detail.settings.as_ref());
        let mut rng = rand::rngs::OsRng;
        let (_, info) = crate::card::read(reader)?;
        let mut secrets = Secrets::generate(&card_profile, &mut rng)?;
        secrets.pin = self.job_pin(usize::from(card_profile.pin.length))?;
        if job.state != JobState::Open {
            secrets.management_key = self.escrowed_key(device.id, card_profile.management_key_algorithm)?;
            if info.puk_is_default == Some(false) {
                // Torn in or after the last write (the final PUK): the card is complete.
                progress.note(&Notice::CardAlreadyFinished { job: job_id });
                return self.finish_written(job_id, &device, request, detail, reader, &card_profile);
            }
        }
        // Nothing escrowed yet, or a card still on the factory PUK: a new
        // PUK is escrowed (replacing the job's) before the next write.
        self.escrow(device.id, &secrets)?;
        if job.state == JobState::Open {
            self.store.update_job(job_id, JobState::Escrowed, None, None, OffsetDateTime::now_utc())?;
        }
        progress.note(&Notice::ResumingJob { job: job_id });
        self.run_job(
            job_id,
            &device,
            request,
            detail.route,
            reader,
            &card_profile,
            secrets,
            true,
            None,
            None,
            None,
            progress,
        )
    }

    /// A job torn in or after its last write: the card is complete (checked),
    /// so the issuance is recorded, and the PIN nobody knows is reset with
    /// the escrowed PUK (needs the Unblock PIN permission once the card is issued).
    /// A job whose issuance the registry already recorded (the process died
    /// before closing it): revoke the job's certificates that are on no card,
    /// reset the PIN nobody saw with the escrowed PUK, close the job.
    fn close_recorded(
        &mut self,
        job_id: Uuid,
        device: &Device,
        request: Option<RequestId>,
        detail: JobDetail,
        reader: &str,
    ) -> Result<Issued> {
        let (facts, info) = crate::card::read(reader)?;
        if facts.device_id() != Some(device.id) {
            return Err(Error::WrongCard(format!("job {job_id}: insert the card of device {}", device.id)));
        }
        let on_card: Vec<String> = info
            .certificates
            .iter()
            .filter_map(|c| c.summary.as_ref().map(|s| s.serial_hex.clone()))
            .collect();
        let (kept, _lost): (Vec<_>, Vec<_>) =
            detail.certificates.into_iter().partition(|c| on_card.iter().any(|s| same_serial(s, &c.serial)));
        let mut warnings = Vec::new();
        let revoked = self.revoke_pending(device.id, &mut warnings)?;
        let length = match &detail.settings {
            Some(s) => s.pin_length,
            None => self.profile_version(device.profile.id, device.profile.version)?.settings.pin.max_length,
        };
        let pin = self.job_pin(usize::from(length))?;
        let reset = self.job_escrowed_puk(device.id).and_then(|puk| {
            with_card(reader, |_, card| {
                card.select()?;
                card.unblock_pin(&puk, &pin)?;
                Ok(())
            })
        });
        let pin = match reset {
            Ok(()) => Some(pin),
            Err(e) => {
                warnings.push(format!(
                    "the card is issued but its PIN was lost with the interrupted run and could not be reset ({e}): unblock it (UC-PIN)"
                ));
                None
            }
        };
        self.store.update_job(job_id, JobState::Completed, None, None, OffsetDateTime::now_utc())?;
        Ok(Issued {
            job: job_id,
            device: self.device(device.id)?,
            request,
            pin,
            certificates: kept,
            revoked,
            resumed: true,
            warnings,
        })
    }

    fn finish_written(
        &mut self,
        job_id: Uuid,
        device: &Device,
        request: Option<RequestId>,
        detail: JobDetail,
        reader: &str,
        card_profile: &piv::Profile,
    ) -> Result<Issued> {
        let (facts, info) = crate::card::read(reader)?;
        let complete = facts.device_id() == Some(device.id)
            && card_profile
                .slots
                .iter()
                .all(|s| info.certificate(s.slot).is_some_and(|c| c.key_matches == Some(true)));
        if !complete {
            return Err(Error::WrongCard(format!(
                "job {job_id}: the card has its final PUK but not every key and certificate; roll the job back"
            )));
        }
        let placeholder = Pin::random(usize::from(card_profile.pin.length), &mut rand::rngs::OsRng)?;
        let mut issued = self.record_success(
            job_id,
            device,
            request,
            detail.route,
            detail,
            &OnCard::read(&info),
            &facts,
            placeholder,
            true,
            Vec::new(),
        )?;
        let pin = self.job_pin(usize::from(card_profile.pin.length))?;
        let reset = self.job_escrowed_puk(device.id).and_then(|puk| {
            with_card(reader, |_, card| {
                card.select()?;
                card.unblock_pin(&puk, &pin)?;
                Ok(())
            })
        });
        match reset {
            Ok(()) => issued.pin = Some(pin),
            Err(e) => {
                issued.pin = None;
                issued.warnings.push(format!(
                    "the card is issued but its PIN was lost with the interrupted job and could not be reset ({e}): unblock it (UC-PIN)"
                ));
            }
        }
        Ok(issued)
    }

    /// Rolls an interrupted issue job back (see [`Session::rollback`]):
    /// production failed at the registry (which revokes the job's
    /// certificates that reached no card); the card record can be issued
    /// again with this or another card.
    pub(crate) fn rollback_issue(&mut self, job: Job, reason: &str) -> Result<()> {
        let job_id = job.id;
        let message: String = reason.chars().take(900).collect();
        let detail: JobDetail = serde_json::from_value(job.detail.clone()).map_err(store::Error::from)?;
        let device = DeviceId::new(
            Uuid::parse_str(&job.device)
                .map_err(|_| Error::Invalid(format!("job device {:?}", job.device)))?,
        );
        let request = job.request.as_deref().and_then(|r| Uuid::parse_str(r).ok()).map(RequestId::new);
        let op = OperationKind::RecordProductionFailure(RecordProductionFailure {
            device,
            request,
            route: detail.route,
            message: message.clone(),
        });
        self.submit(op, |_| Ok(()))?;
        self.store.update_job(
            job_id,
            JobState::RolledBack,
            None,
            Some(&message),
            OffsetDateTime::now_utc(),
        )?;
        Ok(())
    }
}

/// The card write a tear interrupted: the first write journaled `before`
/// and never `after` later. Not simply the last `before`: the journal
/// commits the next planned write's `before` while the card works on the
/// current one, so the last `before` is often the write after the torn one.
/// A write finished by a resume (its `after` further on) is no longer it.
fn interrupted_step(steps: &[store::JobStep]) -> Option<String> {
    steps.iter().enumerate().find_map(|(i, s)| {
        let finished =
            steps[i + 1..].iter().any(|later| later.phase == StepPhase::After && later.step == s.step);
        (s.phase == StepPhase::Before && !finished)
            .then(|| s.step.get("step").and_then(|v| v.as_str()).map(str::to_owned))
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_interrupted_write_is_the_first_unfinished_one_not_the_one_journaled_ahead() {
        let step = |seq: u32, phase: StepPhase, name: &str| store::JobStep {
            seq,
            phase,
            step: serde_json::json!({ "step": name }),
            at: OffsetDateTime::UNIX_EPOCH,
        };
        use StepPhase::{After, Before};
        // Torn in the second write: its `before`, the third's ahead, the first's `after`.
        let torn = [
            step(1, Before, "set-management-key"),
            step(2, Before, "set-pin"),
            step(3, After, "set-management-key"),
            step(4, Before, "set-puk"),
        ];
        assert_eq!(interrupted_step(&torn).as_deref(), Some("set-pin"), "not set-puk, journaled ahead");
        assert_eq!(interrupted_step(&torn[..2]).as_deref(), Some("set-management-key"), "torn in the first");
        // A resume finished set-pin, then tore in set-puk.
        let resumed = [&torn[..], &[step(5, Before, "set-pin"), step(6, After, "set-pin")]].concat();
        assert_eq!(interrupted_step(&resumed).as_deref(), Some("set-puk"));
        let done = [&resumed[..], &[step(7, Before, "set-puk"), step(8, After, "set-puk")]].concat();
        assert_eq!(interrupted_step(&done), None, "every write finished");
    }

    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    fn store_with_job(job: Uuid) -> Store {
        let mut store = Store::open_in_memory().unwrap();
        let now = OffsetDateTime::now_utc();
        store
            .create_job(&Job::new(
                job,
                JobKind::Issue,
                "dev",
                JobState::Escrowed,
                serde_json::json!({}),
                serde_json::json!({}),
                now,
            ))
            .unwrap();
        store
    }

    fn detail() -> JobDetail {
        JobDetail { route: IssueRoute::Batch, certificates: Vec::new(), update: None, settings: None }
    }

    fn chuid() -> Step {
        Step::WriteChuid { guid: "00".repeat(16), expiry: "20301231".into() }
    }

    fn ccc() -> Step {
        Step::WriteCcc { card_identifier: vec![0; 21] }
    }

    fn certificate() -> Step {
        Step::WriteCertificate { slot: piv::Slot::Authentication, compress: false }
    }

    #[test]
    fn a_failed_gate_keeps_the_job_from_writing_and_its_first_write_unjournaled() {
        let job = Uuid::from_u128(1);
        let mut store = store_with_job(job);
        let refused = Journal::ahead(&mut store, job, detail(), false, |journal| {
            let gate: Gate<'_> = Box::new(|| Err(store::Error::InvalidRecord("escrow refused".into())));
            journal.borrow_mut().expect([chuid(), ccc()], Some(gate)).unwrap();
            let before = journal.borrow_mut().step(StepPhase::Before, &chuid());
            journal.borrow_mut().finish();
            before
        });
        assert!(refused.is_err(), "the first write must not go out: {refused:?}");
        assert_eq!(store.job(job).unwrap().unwrap().state, JobState::Escrowed, "never `writing`");
        assert!(store.job_steps(job).unwrap().is_empty(), "no step journaled");
    }

    #[test]
    fn a_passed_gate_turns_the_job_writing_with_its_first_before() {
        let job = Uuid::from_u128(2);
        let mut store = store_with_job(job);
        let passed = Arc::new(AtomicBool::new(false));
        let seen = Arc::clone(&passed);
        Journal::ahead(&mut store, job, detail(), false, |journal| {
            let gate: Gate<'_> = Box::new(move || {
                seen.store(true, Ordering::SeqCst);
                Ok(())
            });
            journal.borrow_mut().expect([chuid(), ccc()], Some(gate)).unwrap();
            journal.borrow_mut().step(StepPhase::Before, &chuid()).unwrap();
            journal.borrow_mut().finish();
        });
        assert!(passed.load(Ordering::SeqCst), "the gate ran");
        assert_eq!(store.job(job).unwrap().unwrap().state, JobState::Writing);
        let steps = store.job_steps(job).unwrap();
        assert_eq!(steps.first().map(|s| s.phase), Some(StepPhase::Before), "{steps:?}");
        assert_eq!(steps[0].step["step"], "write-chuid", "{steps:?}");
    }

    /// A commit sent after a write's `before` (here a slow one standing for
    /// a certificate's record) does not hold that write back; a
    /// certificate's write waits for it.
    #[test]
    fn a_write_waits_for_its_own_before_and_a_certificate_write_for_everything() {
        let job = Uuid::from_u128(3);
        let mut store = store_with_job(job);
        let done = Arc::new(AtomicBool::new(false));
        let (release, released) = std::sync::mpsc::channel::<()>();
        Journal::ahead(&mut store, job, detail(), false, |journal| {
            journal.borrow_mut().expect([chuid(), ccc(), certificate()], None).unwrap();
            journal.borrow_mut().step(StepPhase::Before, &chuid()).unwrap();
            journal.borrow_mut().step(StepPhase::After, &chuid()).unwrap();
            let slow_done = Arc::clone(&done);
            journal
                .borrow_mut()
                .store
                .run(move |_| {
                    let _ = released.recv_timeout(std::time::Duration::from_secs(20));
                    slow_done.store(true, Ordering::SeqCst);
                    Ok(())
                })
                .unwrap();
            journal.borrow_mut().step(StepPhase::Before, &ccc()).unwrap();
            assert!(!done.load(Ordering::SeqCst), "the CCC's write did not wait for the later commit");
            journal.borrow_mut().step(StepPhase::After, &ccc()).unwrap();
            let releaser = std::thread::spawn(move || {
                std::thread::sleep(std::time::Duration::from_millis(100));
                let _ = release.send(());
            });
            journal.borrow_mut().step(StepPhase::Before, &certificate()).unwrap();
            assert!(done.load(Ordering::SeqCst), "the certificate's write waited for every commit sent");
            journal.borrow_mut().finish();
            releaser.join().unwrap();
        });
        let steps = store.job_steps(job).unwrap();
        let befores: Vec<&serde_json::Value> =
            steps.iter().filter(|s| s.phase == StepPhase::Before).map(|s| &s.step["step"]).collect();
        assert_eq!(befores, ["write-chuid", "write-ccc", "write-certificate"], "{steps:?}");
    }
}
