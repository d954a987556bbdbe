//! UC-BATCH (seed 003) "Issue multiple cards": approved requests selected
//! together, shared options (PIN length, PUK length, which certificates,
//! card and certificate end states), encoded on every connected reader in
//! parallel.
//!
//! * The batch and each card's state are kept in the station's store
//!   (schema v4), so a batch resumes after a restart.
//! * One worker thread per reader, each with its own [`Session`] (a second
//!   connection to the same database, the same signed-in token, its own
//!   runtime and registry connections), runs the ordinary journaled issue
//!   job per card: tear safety, escrow and recovery are those of UC-ISSUE.
//! * A worker waits for a blank card in its reader, takes the next pending
//!   card of the batch (atomically across workers), encodes it, waits for
//!   it to be removed, and goes on. A card found in the reader with an open
//!   job (torn, or the process died) is finished first.
//! * Cancel (Ctrl-C, or `batch cancel` from another process: a store flag)
//!   is checked before each card: no card is left half-written, the rest
//!   stay pending for `batch resume`.
//! * A card that fails (not a tear) is reported, its production failure
//!   recorded, and the request retried once on the next card (the registry
//!   puts the production-failed card back to approved: `RetryIssuance`).

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use domain::{
    BatchOptions, CardState, Device, DeviceId, IssuanceSettings, IssueRoute, RequestId, RequestState,
};
use proto::{OperationKind, RetryIssuance};
use serde::Serialize;
use store::{Batch, BatchItem, BatchItemState, Store};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::host_time::Activity;
use crate::issue::{IssueTarget, Issued, Progress};
use crate::remote::Remote;
use crate::session::{RequestView, Session};
use crate::{runtime, DB_FILE, REGISTRY_TIMEOUT};

/// How long a worker waits for a card change before it looks at the cancel
/// flag again (a change wakes it at once).
const POLL: Duration = Duration::from_millis(250);

/// Attempts per card: the first, and one retry after a failure.
const ATTEMPTS: u32 = 2;

/// A batch as shown to the operator.
#[derive(Debug, Clone, Serialize)]
pub struct BatchView {
    /// Batch id.
    pub id: Uuid,
    /// The options chosen.
    pub options: BatchOptions,
    /// Cancel requested: no further card is started until `batch resume`.
    pub cancelled: bool,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// The cards, in order.
    pub items: Vec<BatchItemView>,
    /// How many cards are in each state.
    pub counts: BatchCounts,
}

/// Cards per state.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct BatchCounts {
    /// Not started.
    pub pending: usize,
    /// Being encoded, or interrupted (their job is open).
    pub encoding: usize,
    /// Encoded.
    pub done: usize,
    /// Failed after the retry.
    pub failed: usize,
    /// Not encoded: the request can no longer be issued.
    pub cancelled: usize,
}

/// One card of a batch.
#[derive(Debug, Clone, Serialize)]
pub struct BatchItemView {
    /// Order in the batch.
    pub seq: u32,
    /// The request.
    pub request: String,
    /// Its card record.
    pub device: String,
    /// Where it stands.
    pub state: BatchItemState,
    /// The reader it was encoded in.
    pub reader: Option<String>,
    /// Its issue job.
    pub job: Option<Uuid>,
    /// Attempts started.
    pub attempts: u32,
    /// Why it last failed.
    pub last_error: Option<String>,
}

impl From<BatchItem> for BatchItemView {
    fn from(i: BatchItem) -> Self {
        BatchItemView {
            seq: i.seq,
            request: i.request,
            device: i.device,
            state: i.state,
            reader: i.reader,
            job: i.job,
            attempts: i.attempts,
            last_error: i.last_error,
        }
    }
}

/// Why a worker asks for the card in its reader to be taken out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum RemoveReason {
    /// The card is written: take it out (its recording goes on without it).
    Finished,
    /// Not blank stock: a blank card is needed.
    NotBlank,
    /// The card cannot be read.
    Unreadable {
        /// Why.
        error: crate::ErrorView,
    },
    /// The card failed: set it aside and insert another blank card.
    SetAside,
}

impl std::fmt::Display for RemoveReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RemoveReason::Finished => f.write_str("finished"),
            RemoveReason::NotBlank => f.write_str("not blank stock: insert a blank card"),
            RemoveReason::Unreadable { error } => write!(f, "the card cannot be read: {}", error.message),
            RemoveReason::SetAside => f.write_str("the card failed: set it aside, insert another blank card"),
        }
    }
}

/// Why a reader's worker stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The batch was cancelled.
    Cancelled,
    /// No card of the batch is left to encode.
    NothingLeft,
}

impl std::fmt::Display for StopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StopReason::Cancelled => "cancelled",
            StopReason::NothingLeft => "no card left to encode",
        })
    }
}

/// What happened at one reader, for the progress display (`--json`: one
/// JSON line each). Owned, so a client can send it on to a window; a done
/// card's PIN is in [`Issued::pin`], which is never serialized: the sink
/// that receives the event is its one reveal.
#[derive(Debug, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum BatchEvent {
    /// The reader needs a blank card.
    InsertCard {
        /// Reader.
        reader: String,
    },
    /// The card in the reader is finished (or not usable): take it out.
    RemoveCard {
        /// Reader.
        reader: String,
        /// Why.
        why: RemoveReason,
    },
    /// A card of the batch is being encoded.
    Started {
        /// Reader.
        reader: String,
        /// Order in the batch.
        seq: u32,
        /// The request.
        request: Uuid,
        /// Attempt (1 or 2).
        attempt: u32,
        /// Finishing an interrupted job rather than starting anew.
        resuming: bool,
    },
    /// Step `index` of `total` of the card's encoding.
    Step {
        /// Reader.
        reader: String,
        /// The request.
        request: Uuid,
        /// Step.
        index: usize,
        /// Steps.
        total: usize,
        /// What it does.
        step: crate::CardStep,
    },
    /// Something the operator should see.
    Note {
        /// Reader.
        reader: String,
        /// What.
        notice: crate::Notice,
    },
    /// A card is done: its certificates (and its PIN, not serialized).
    Done {
        /// Reader.
        reader: String,
        /// Order in the batch.
        seq: u32,
        /// The request.
        request: Uuid,
        /// The result.
        issued: Box<Issued>,
    },
    /// A card failed (not a tear): production failed recorded.
    Failed {
        /// Reader.
        reader: String,
        /// Order in the batch.
        seq: u32,
        /// The request.
        request: Uuid,
        /// What went wrong.
        error: crate::ErrorView,
        /// Whether the request is retried on the next card.
        retried: bool,
    },
    /// The card was pulled (or the reader went away) mid-encoding: its job
    /// stays open and is finished when the card is back (`batch resume`).
    Torn {
        /// Reader.
        reader: String,
        /// Order in the batch.
        seq: u32,
        /// The request.
        request: Uuid,
        /// What happened.
        error: crate::ErrorView,
    },
    /// This reader's worker stopped (no pending card, or cancelled).
    Stopped {
        /// Reader.
        reader: String,
        /// Why.
        why: StopReason,
    },
}

/// Receives every card's progress; called from the worker threads.
pub trait BatchProgress: Sync {
    /// One event.
    fn event(&self, event: BatchEvent);
}

/// Per-card steps of one worker as [`Progress`] for the issue job.
struct CardProgress<'a> {
    reader: &'a str,
    request: Uuid,
    sink: &'a dyn BatchProgress,
    watcher: &'a mut Watch,
    /// The operator was asked to take the written card out (before its
    /// recording at the registry, which needs no card).
    asked_out: bool,
}

impl Progress for CardProgress<'_> {
    fn step(&mut self, index: usize, total: usize, step: &crate::CardStep) {
        self.sink.event(BatchEvent::Step {
            reader: self.reader.to_owned(),
            request: self.request,
            index,
            total,
            step: step.clone(),
        });
    }

    fn note(&mut self, notice: &crate::Notice) {
        self.sink.event(BatchEvent::Note { reader: self.reader.to_owned(), notice: notice.clone() });
    }

    fn card_written(&mut self) {
        if let Err(e) = ask_out(self.watcher, self.reader, RemoveReason::Finished, self.sink) {
            tracing::debug!(error = %e, "reader changes before asking the card out");
        }
        self.asked_out = true;
    }
}

fn parse_id(text: &str, what: &str) -> Result<Uuid> {
    Uuid::parse_str(text).map_err(|_| Error::Invalid(format!("{what} {text:?} is not a UUID")))
}

impl Session {
    /// The issue queue: approved card requests with their cards (seed 003 step "Search").
    pub fn approved_requests(&self) -> Result<Vec<RequestView>> {
        let mut views = self.requests(Some(RequestState::Approved), 10_000)?;
        views.retain(|v| {
            v.request.kind == domain::RequestKind::Issue
                && v.device.as_ref().is_some_and(|d| d.state == CardState::Approved)
        });
        Ok(views)
    }

    /// Creates a batch of the selected approved `requests` with `options`
    /// (checked against each card's profile: PIN length within its policy,
    /// certificates among its slots). The use case must be on, the
    /// operator may manage batches and collect each card's profile, and no
    /// card is their own.
    pub fn create_batch(&mut self, requests: &[RequestId], options: BatchOptions) -> Result<BatchView> {
        self.sync()?;
        let mut devices: Vec<Device> = Vec::new();
        let mut seen = BTreeSet::new();
        for id in requests {
            if !seen.insert(*id) {
                return Err(domain::Refusal::InvalidBatch(format!("request {id} is selected twice")).into());
            }
            let request = self.request(*id)?;
            if request.kind != domain::RequestKind::Issue {
                return Err(Error::Invalid(format!("request {id} is not a card request")));
            }
            if request.state != RequestState::Approved {
                return Err(Error::Invalid(format!(
                    "request {id} is {}, not approved: only approved requests can be issued in a batch",
                    request.state.name()
                )));
            }
            let device =
                request.device.ok_or_else(|| Error::Invalid(format!("request {id} names no card record")))?;
            devices.push(self.device(device)?);
        }
        for device in &devices {
            let profile = self.profile_version(device.profile.id, device.profile.version)?;
            options.resolve(&profile.settings)?;
        }
        let refs: Vec<&Device> = devices.iter().collect();
        let now = OffsetDateTime::now_utc();
        let order = domain::BatchOrder::create(
            domain::BatchId::new(Uuid::now_v7()),
            &refs,
            options,
            &self.actor(),
            now,
        )?;
        let batch = Batch {
            id: order.id.uuid(),
            options: serde_json::to_value(&order.options).map_err(store::Error::from)?,
            created_by: self.grant.operator.to_string(),
            cancelled: false,
            created_at: now,
            updated_at: now,
        };
        let items: Vec<(String, String)> =
            requests.iter().zip(&devices).map(|(r, d)| (r.to_string(), d.id.to_string())).collect();
        self.store.create_batch(&batch, &items)?;
        self.batch(batch.id)
    }

    /// One batch with its cards.
    pub fn batch(&self, id: Uuid) -> Result<BatchView> {
        batch_view(&self.store, id)
    }

    /// Every batch of this station, oldest first.
    pub fn batches(&self) -> Result<Vec<BatchView>> {
        self.store.batches()?.into_iter().map(|b| self.batch(b.id)).collect()
    }

    /// Asks the batch to stop before its next card (from any process: the
    /// workers read the flag before each card). Cards being encoded finish.
    pub fn cancel_batch(&mut self, id: Uuid) -> Result<BatchView> {
        self.batch(id)?;
        self.store.set_batch_cancelled(id, true, OffsetDateTime::now_utc())?;
        self.batch(id)
    }

    /// Puts the failed cards of batch `id` back to pending, for one more
    /// attempt each at the next run (their request must still be issuable:
    /// the run approves a production-failed card again first). Returns how
    /// many were put back.
    pub fn retry_failed(&mut self, id: Uuid) -> Result<usize> {
        self.batch(id)?;
        self.sync()?;
        let now = OffsetDateTime::now_utc();
        let mut retried = 0;
        for item in self.store.batch_items(id)? {
            if item.state != BatchItemState::Failed {
                continue;
            }
            let request = self.request(RequestId::new(parse_id(&item.request, "request")?))?;
            if !matches!(request.state, RequestState::Approved | RequestState::Failed) {
                continue;
            }
            self.store.update_batch_item(
                id,
                item.seq,
                BatchItemState::Pending,
                item.job,
                item.last_error.as_deref(),
                now,
            )?;
            retried += 1;
        }
        Ok(retried)
    }

    /// A second session for a worker thread: its own store connection on
    /// the same database, its own runtime and registry connections, the
    /// same signed-in operator (no new sign-in).
    pub fn worker(&self) -> Result<Session> {
        let pin = self.enrollment.pin()?;
        let client = sync::RegistryClient::new(&self.enrollment.registry_url, pin, REGISTRY_TIMEOUT)?;
        let remote = Remote::new(&self.enrollment.registry_url, pin, REGISTRY_TIMEOUT)?;
        let engine = sync::Engine::new(
            client.clone(),
            self.grant.token.clone(),
            Some(self.grant.operator),
            Some(self.enrollment.workstation_id()),
        );
        Ok(Session {
            data_dir: self.data_dir.clone(),
            enrollment: self.enrollment.clone(),
            store: Store::open(self.data_dir.join(DB_FILE))?,
            runtime: runtime()?,
            client,
            remote,
            engine,
            grant: self.grant.clone(),
            offline: self.offline,
            sign_in_report: sync::SyncReport::default(),
            chosen_pin: None,
        })
    }

    /// Encodes the pending cards of batch `id` on `readers` in parallel (one
    /// worker each) until none is pending or the batch is cancelled (`stop`
    /// set, or the store flag). Returns the batch as it stands then.
    pub fn run_batch(
        &mut self,
        id: Uuid,
        readers: &[String],
        stop: &AtomicBool,
        progress: &dyn BatchProgress,
    ) -> Result<BatchView> {
        let view = self.batch(id)?;
        if readers.is_empty() {
            return Err(Error::Invalid("no reader to encode on: connect a reader".into()));
        }
        let options: BatchOptions = view.options.clone();
        self.sync()?;
        let workers: Vec<Session> = readers.iter().map(|_| self.worker()).collect::<Result<_>>()?;
        let outcomes: Vec<Result<()>> = std::thread::scope(|scope| {
            let handles: Vec<_> = workers
                .into_iter()
                .zip(readers)
                .map(|(mut w, reader)| {
                    let options = options.clone();
                    scope.spawn(move || w.encode_on(id, &options, reader, stop, progress))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| Err(Error::Invalid("a batch worker panicked".into()))))
                .collect()
        });
        self.sync()?;
        for outcome in outcomes {
            outcome?;
        }
        self.batch(id)
    }

    /// Resumes batch `id` after a restart or a cancel: clears the cancel
    /// flag, puts back to pending the cards whose run died before their job
    /// began (or whose job was rolled back), then runs the batch: a card
    /// with an open job is finished when a worker finds it in its reader.
    pub fn resume_batch(
        &mut self,
        id: Uuid,
        readers: &[String],
        stop: &AtomicBool,
        progress: &dyn BatchProgress,
    ) -> Result<BatchView> {
        self.sync()?;
        let now = OffsetDateTime::now_utc();
        self.store.set_batch_cancelled(id, false, now)?;
        for item in self.store.batch_items(id)? {
            if item.state != BatchItemState::Encoding {
                continue;
            }
            let jobs = self.store.jobs_of_device(&item.device)?;
            let device = self.device(DeviceId::new(parse_id(&item.device, "device")?))?;
            if device.state.is_issued() && !jobs.iter().any(|j| j.state.is_open()) {
                let job = jobs.last().map(|j| j.id);
                self.store.update_batch_item(id, item.seq, BatchItemState::Done, job, None, now)?;
            } else if !jobs.iter().any(|j| j.state.is_open()) {
                // Killed before its job began, or its job was rolled back: encode it again.
                self.store.update_batch_item(
                    id,
                    item.seq,
                    BatchItemState::Pending,
                    None,
                    item.last_error.as_deref(),
                    now,
                )?;
            }
        }
        self.run_batch(id, readers, stop, progress)
    }

    /// One reader's worker: blank card in, next pending card of the batch
    /// encoded, card out; until nothing is pending or the batch is cancelled.
    fn encode_on(
        &mut self,
        batch: Uuid,
        options: &BatchOptions,
        reader: &str,
        stop: &AtomicBool,
        progress: &dyn BatchProgress,
    ) -> Result<()> {
        // Card arrivals and departures wake the worker (SCardGetStatusChange),
        // so a card waits for no poll interval of ours.
        let mut watcher = Watch { readers: reader::Readers::establish()?, changes: reader::Watcher::new()? };
        let mut asked_insert = false;
        let mut unreadable = 0u32;
        loop {
            // Cancel stops before the next card.
            if stop.load(Ordering::SeqCst) || self.store.batch_cancelled(batch)? {
                progress.event(BatchEvent::Stopped { reader: reader.to_owned(), why: StopReason::Cancelled });
                return Ok(());
            }
            if !card_present(&mut watcher, reader)? {
                if !self.has_work(batch)? {
                    progress.event(BatchEvent::Stopped {
                        reader: reader.to_owned(),
                        why: StopReason::NothingLeft,
                    });
                    return Ok(());
                }
                if !asked_insert {
                    progress.event(BatchEvent::InsertCard { reader: reader.to_owned() });
                    asked_insert = true;
                }
                wait_for_change(&mut watcher)?;
                continue;
            }
            asked_insert = false;
            // One connection and one transaction from the card's first read
            // to its last write: no other application comes between, and
            // the card needs no second SELECT or identity check.
            let read_start = Instant::now();
            let looked = crate::card::with_card(reader, |atr, card| {
                let info = piv::read_info(card);
                crate::host_time::record(Activity::CardRead, read_start.elapsed());
                let info = info?;
                let facts = crate::CardFacts::of(reader, atr, &info);
                let next =
                    self.next_for(batch, options, reader, (facts, info), (atr, card), &mut watcher, progress);
                Ok(next.unwrap_or_else(Next::Failed))
            });
            // The read's transaction is over here: an interrupted job gets a
            // card session of its own.
            let settled = match looked {
                Ok(Next::Encoded(encoded)) => {
                    let (item, outcome) = *encoded;
                    self.settle(batch, &item, reader, outcome, progress)?
                }
                Ok(Next::Interrupted(item)) => {
                    self.finish_interrupted(batch, &item, reader, &mut watcher, progress)?
                }
                Ok(Next::NotBlank) => {
                    unreadable = 0;
                    if !self.has_work(batch)? {
                        progress.event(BatchEvent::Stopped {
                            reader: reader.to_owned(),
                            why: StopReason::NothingLeft,
                        });
                        return Ok(());
                    }
                    self.remove_card(&mut watcher, reader, RemoveReason::NotBlank, stop, progress)?;
                    continue;
                }
                Ok(Next::Failed(e)) => return Err(e),
                Ok(Next::Wait) => {
                    unreadable = 0;
                    std::thread::sleep(POLL);
                    continue;
                }
                Ok(Next::Finished) => {
                    progress.event(BatchEvent::Stopped {
                        reader: reader.to_owned(),
                        why: StopReason::NothingLeft,
                    });
                    return Ok(());
                }
                Err(e) if e.is_tear() || matches!(e, Error::Reader(_)) || unreadable < 3 => {
                    unreadable += 1;
                    std::thread::sleep(POLL);
                    continue;
                }
                Err(e) => {
                    unreadable = 0;
                    let why = RemoveReason::Unreadable { error: e.view() };
                    self.remove_card(&mut watcher, reader, why, stop, progress)?;
                    continue;
                }
            };
            unreadable = 0;
            match settled {
                Settled::Done(card) => self.take_out_finished(&mut watcher, reader, card, stop, progress)?,
                Settled::Failed => {
                    self.remove_card(&mut watcher, reader, RemoveReason::SetAside, stop, progress)?
                }
                // Pulled, or the reader reset it: finished when it is (still) there.
                Settled::Torn => std::thread::sleep(POLL),
            }
        }
    }

    /// What to do with the card just read, still held: a blank card with
    /// no interrupted job is encoded for the next pending request right
    /// away; any other card is dealt with once the transaction is over.
    #[allow(clippy::too_many_arguments)]
    fn next_for(
        &mut self,
        batch: Uuid,
        options: &BatchOptions,
        reader: &str,
        found: (crate::CardFacts, piv::CardInfo),
        held: crate::card::HeldCard<'_, '_, '_>,
        watcher: &mut Watch,
        sink: &dyn BatchProgress,
    ) -> Result<Next> {
        let (facts, info) = found;
        if let Some(item) = self.interrupted_here(batch, &facts)? {
            return Ok(Next::Interrupted(Box::new(item)));
        }
        if !info.looks_blank() {
            return Ok(Next::NotBlank);
        }
        // Not flushed on its own: a claim lost with the power is a card not
        // begun; the job row's and the first write's commits flush it.
        let now = OffsetDateTime::now_utc();
        let Some(item) = self.store.unflushed(|s| s.claim_batch_item(batch, reader, now))? else {
            return Ok(if self.has_work(batch)? { Next::Wait } else { Next::Finished });
        };
        let outcome = self.encode_item(options, &item, reader, watcher, (facts, info), held, sink);
        Ok(Next::Encoded(Box::new((item, outcome))))
    }

    /// Whether a pending card is left (a failed card put back for its retry counts).
    fn has_work(&self, batch: Uuid) -> Result<bool> {
        if self.store.batch_cancelled(batch)? {
            return Ok(false);
        }
        Ok(self.store.batch_items(batch)?.iter().any(|i| i.state == BatchItemState::Pending))
    }

    /// The batch card whose open job was started on the card `facts` describes.
    fn interrupted_here(&self, batch: Uuid, facts: &crate::CardFacts) -> Result<Option<BatchItem>> {
        let open = self.store.open_jobs()?;
        if open.is_empty() {
            return Ok(None);
        }
        let items = self.store.batch_items(batch)?;
        for job in open {
            let started: Option<crate::CardFacts> = serde_json::from_value(job.card.clone()).ok();
            let ours = started.as_ref().is_some_and(|s| facts.same_card(s))
                || facts.device_id().map(|d| d.to_string()) == Some(job.device.clone());
            if !ours {
                continue;
            }
            if let Some(item) = items.iter().find(|i| i.device == job.device) {
                return Ok(Some(item.clone()));
            }
        }
        Ok(None)
    }

    fn finish_interrupted(
        &mut self,
        batch: Uuid,
        item: &BatchItem,
        reader: &str,
        watcher: &mut Watch,
        sink: &dyn BatchProgress,
    ) -> Result<Settled> {
        let job = self
            .store
            .jobs_of_device(&item.device)?
            .into_iter()
            .find(|j| j.state.is_open())
            .ok_or_else(|| Error::NotFound(format!("no open job for device {}", item.device)))?;
        sink.event(BatchEvent::Started {
            reader: reader.to_owned(),
            seq: item.seq,
            request: parse_id(&item.request, "request")?,
            attempt: item.attempts.max(1),
            resuming: true,
        });
        let now = OffsetDateTime::now_utc();
        self.store.update_batch_item(batch, item.seq, BatchItemState::Encoding, Some(job.id), None, now)?;
        let request_id = parse_id(&item.request, "request")?;
        let mut progress = CardProgress { reader, request: request_id, sink, watcher, asked_out: false };
        let outcome = self.resume(job.id, reader, &mut progress);
        let asked_out = progress.asked_out;
        self.settle(batch, item, reader, outcome.map(|i| (i, asked_out)), sink)
    }

    /// Encodes one claimed card on the card held since its read; the
    /// caller settles the outcome once the card's transaction is over.
    #[allow(clippy::too_many_arguments)]
    fn encode_item(
        &mut self,
        options: &BatchOptions,
        item: &BatchItem,
        reader: &str,
        watcher: &mut Watch,
        found: (crate::CardFacts, piv::CardInfo),
        held: crate::card::HeldCard<'_, '_, '_>,
        sink: &dyn BatchProgress,
    ) -> Result<(Issued, bool)> {
        sink.event(BatchEvent::Started {
            reader: reader.to_owned(),
            seq: item.seq,
            request: parse_id(&item.request, "request")?,
            attempt: item.attempts,
            resuming: false,
        });
        let (request, settings) = self.prepare_item(options, item)?;
        let request_id = parse_id(&item.request, "request")?;
        let mut progress = CardProgress { reader, request: request_id, sink, watcher, asked_out: false };
        let target = IssueTarget::Request(request);
        let issued =
            self.issue_with(target, reader, Some(&settings), Some(found), Some(held), &mut progress)?;
        Ok((issued, progress.asked_out))
    }

    /// The request to issue and the card's settings; a card whose earlier
    /// attempt failed is approved again first (`RetryIssuance`).
    fn prepare_item(
        &mut self,
        options: &BatchOptions,
        item: &BatchItem,
    ) -> Result<(RequestId, IssuanceSettings)> {
        // A first attempt's card is approved (the issue job syncs anyway);
        // a retry needs the registry's view of the failure first.
        if item.attempts > 1 {
            self.sync()?;
        }
        let request = RequestId::new(parse_id(&item.request, "request")?);
        let device = self.device(DeviceId::new(parse_id(&item.device, "device")?))?;
        if device.state == CardState::ProductionFailed {
            let op = OperationKind::RetryIssuance(RetryIssuance {
                device: device.id,
                request: Some(request),
                route: IssueRoute::Batch,
            });
            self.submit(op, |_| Ok(()))?;
        }
        let profile = self.profile_version(device.profile.id, device.profile.version)?;
        let settings = options.resolve(&profile.settings)?;
        Ok((request, settings))
    }

    /// Records the outcome of one card in the batch.
    fn settle(
        &mut self,
        batch: Uuid,
        item: &BatchItem,
        reader: &str,
        outcome: Result<(Issued, bool)>,
        sink: &dyn BatchProgress,
    ) -> Result<Settled> {
        let now = OffsetDateTime::now_utc();
        match outcome {
            Ok((issued, asked_out)) => {
                let job = issued.job;
                sink.event(BatchEvent::Done {
                    reader: reader.to_owned(),
                    seq: item.seq,
                    request: parse_id(&item.request, "request")?,
                    issued: Box::new(issued),
                });
                // Marked done once the card is asked out ([`Session::take_out_finished`]);
                // a restart in between finds it done (issued, no open job).
                Ok(Settled::Done(Finished { batch, seq: item.seq, job, asked_out }))
            }
            Err(e) if e.is_tear() => {
                // The job stays open; the card is finished when it is back.
                let job = self.store.jobs_of_device(&item.device)?.into_iter().find(|j| j.state.is_open());
                let state = if job.is_some() { BatchItemState::Encoding } else { BatchItemState::Pending };
                let message = e.to_string();
                self.store.update_batch_item(
                    batch,
                    item.seq,
                    state,
                    job.map(|j| j.id),
                    Some(&message),
                    now,
                )?;
                sink.event(BatchEvent::Torn {
                    reader: reader.to_owned(),
                    seq: item.seq,
                    request: parse_id(&item.request, "request")?,
                    error: e.view(),
                });
                Ok(Settled::Torn)
            }
            Err(e) => {
                let message = e.to_string();
                let _ = self.sync();
                let device = DeviceId::new(parse_id(&item.device, "device")?);
                let retryable = self
                    .device(device)
                    .map(|d| matches!(d.state, CardState::ProductionFailed | CardState::Approved))
                    .unwrap_or(false);
                let request_live = RequestId::new(parse_id(&item.request, "request")?);
                let request_state = self.request(request_live).map(|r| r.state).ok();
                let retried = item.attempts < ATTEMPTS
                    && retryable
                    && matches!(request_state, Some(RequestState::Approved | RequestState::Failed));
                let state = if retried {
                    BatchItemState::Pending
                } else if matches!(
                    request_state,
                    Some(RequestState::Cancelled | RequestState::Rejected | RequestState::Completed)
                ) {
                    BatchItemState::Cancelled
                } else {
                    BatchItemState::Failed
                };
                let job = self.store.jobs_of_device(&item.device)?.last().map(|j| j.id);
                self.store.update_batch_item(batch, item.seq, state, job, Some(&message), now)?;
                sink.event(BatchEvent::Failed {
                    reader: reader.to_owned(),
                    seq: item.seq,
                    request: request_live.uuid(),
                    error: e.view(),
                    retried,
                });
                Ok(Settled::Failed)
            }
        }
    }

    /// A finished card: asked out, and while the operator's hand swaps it
    /// the replica catches up with the feed (its recording only pushed).
    fn take_out_finished(
        &mut self,
        watcher: &mut Watch,
        reader: &str,
        card: Finished,
        stop: &AtomicBool,
        sink: &dyn BatchProgress,
    ) -> Result<()> {
        if !card.asked_out {
            ask_out(watcher, reader, RemoveReason::Finished, sink)?;
        }
        let now = OffsetDateTime::now_utc();
        self.store.update_batch_item(
            card.batch,
            card.seq,
            BatchItemState::Done,
            Some(card.job),
            None,
            now,
        )?;
        if let Err(e) = self.sync_as(Activity::CatchUp) {
            tracing::warn!(error = %e, "catching up with the registry between two cards failed");
        }
        self.wait_removed(watcher, reader, RemoveReason::Finished, true, stop, sink)
    }

    /// Waits until the card is out of `reader` (asking once), or the batch stops.
    fn remove_card(
        &self,
        watcher: &mut Watch,
        reader: &str,
        why: RemoveReason,
        stop: &AtomicBool,
        sink: &dyn BatchProgress,
    ) -> Result<()> {
        watcher.changes.wait_for_change(Some(Duration::ZERO))?;
        self.wait_removed(watcher, reader, why, false, stop, sink)
    }

    /// [`Session::remove_card`], `asked` when the operator was asked already.
    fn wait_removed(
        &self,
        watcher: &mut Watch,
        reader: &str,
        why: RemoveReason,
        mut asked: bool,
        stop: &AtomicBool,
        sink: &dyn BatchProgress,
    ) -> Result<()> {
        while card_present(watcher, reader)? {
            if !asked {
                sink.event(BatchEvent::RemoveCard { reader: reader.to_owned(), why: why.clone() });
                asked = true;
            }
            if stop.load(Ordering::SeqCst) {
                return Ok(());
            }
            // Taken out and another card put in between two looks: the
            // watcher still reports the removal.
            let events = watcher.changes.wait_for_change(Some(POLL))?;
            if events
                .iter()
                .any(|e| matches!(e, reader::ReaderEvent::CardRemoved { reader: r } if r == reader))
            {
                return Ok(());
            }
        }
        Ok(())
    }
}

/// A card encoded and recorded, its batch item not yet marked done.
struct Finished {
    batch: Uuid,
    seq: u32,
    job: Uuid,
    /// The operator was asked to take it out already.
    asked_out: bool,
}

/// What a worker does next with the card it has just read.
enum Next {
    /// Encoded (or tried) for this batch card: to settle.
    Encoded(Box<(BatchItem, Result<(Issued, bool)>)>),
    /// A card with an interrupted job of this batch: finished in a card
    /// session of its own, once the read's transaction is over.
    Interrupted(Box<BatchItem>),
    /// Not blank stock: to be taken out.
    NotBlank,
    /// Blank, but every pending card is claimed by another worker now.
    Wait,
    /// Blank, and nothing is left to encode.
    Finished,
    /// The station failed (store, registry), not the card.
    Failed(Error),
}

/// How one card of a batch ended.
enum Settled {
    /// Encoded and recorded.
    Done(Finished),
    /// Failed (not a tear): production failed recorded; the card is set aside.
    Failed,
    /// Pulled or reset mid-job: its job stays open.
    Torn,
}

/// What the operator is asked when a card failed.
/// A worker's view of the readers: their state now, and a watcher whose
/// waits end when a card comes or goes.
struct Watch {
    readers: reader::Readers,
    changes: reader::Watcher,
}

/// Asks the operator to take the card out of `reader`, after taking in the
/// reader changes seen so far (this card's arrival, not its removal).
fn ask_out(watch: &mut Watch, reader: &str, why: RemoveReason, sink: &dyn BatchProgress) -> Result<()> {
    let drained = watch.changes.wait_for_change(Some(Duration::ZERO));
    sink.event(BatchEvent::RemoveCard { reader: reader.to_owned(), why });
    drained.map(drop).map_err(Error::from)
}

/// Whether a card is in `reader` now.
fn card_present(watch: &mut Watch, reader: &str) -> Result<bool> {
    let states = watch.readers.list()?;
    match states.iter().find(|s| s.name == reader) {
        Some(s) => Ok(s.card_present),
        None => Err(Error::Reader(reader::Error::ReaderGone)),
    }
}

/// Sleeps until a reader or card changes, or [`POLL`] passes (to look at
/// the cancel flag again).
fn wait_for_change(watch: &mut Watch) -> Result<()> {
    watch.changes.wait_for_change(Some(POLL))?;
    Ok(())
}

fn batch_view(store: &Store, id: Uuid) -> Result<BatchView> {
    let batch = store.batch(id)?.ok_or_else(|| Error::NotFound(format!("no batch {id}")))?;
    let items: Vec<BatchItemView> = store.batch_items(id)?.into_iter().map(BatchItemView::from).collect();
    let mut counts = BatchCounts::default();
    for i in &items {
        match i.state {
            BatchItemState::Pending => counts.pending += 1,
            BatchItemState::Encoding => counts.encoding += 1,
            BatchItemState::Done => counts.done += 1,
            BatchItemState::Failed => counts.failed += 1,
            BatchItemState::Cancelled => counts.cancelled += 1,
        }
    }
    Ok(BatchView {
        id,
        options: serde_json::from_value(batch.options).map_err(store::Error::from)?,
        cancelled: batch.cancelled,
        created_at: batch.created_at,
        items,
        counts,
    })
}
