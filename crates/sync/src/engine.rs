//! The sync engine: push the outbox in order, then pull the feed from the
//! stored cursor, applying each plan to the store. Every step is safe to
//! repeat: the registry applies an operation id once and answers a replay
//! with its first answer, and a feed page is stored together with its
//! cursor. So a crash or a lost connection at any point costs only a retry.

use std::time::Duration;

use domain::{OperatorId, WorkstationId};
use proto::SessionToken;
use rand::RngCore;
use store::{OpAnswer, Store};
use time::OffsetDateTime;

use crate::backoff::Backoff;
use crate::client::RegistryClient;
use crate::error::{Error, Result};
use crate::plan::{self, AnswerStep, UNSENDABLE};

/// Operations per pushed batch (the registry takes up to `proto::MAX_BATCH`).
pub const PUSH_BATCH: usize = 500;
/// Changes per pulled page.
pub const PULL_PAGE: u32 = 1000;

/// Whether the registry answered the last attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connectivity {
    /// No attempt yet.
    Unknown,
    /// The last attempt reached the registry.
    Online,
    /// The last attempt could not reach it (or it refused the connection's pin).
    Offline,
}

/// The overall sync status (SPEC §6), for the status bar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// Online or offline.
    pub connectivity: Connectivity,
    /// When the last complete sync finished.
    pub last_sync: Option<OffsetDateTime>,
    /// Operations waiting for the registry.
    pub queue_len: u64,
    /// Why the last attempt failed, if it did.
    pub last_error: Option<String>,
}

/// What one sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct SyncReport {
    /// Operations sent (replays included).
    pub pushed: usize,
    /// Accepted by the registry.
    pub accepted: usize,
    /// Rejected (by the registry or as unsendable) and rolled back.
    pub rejected: usize,
    /// Feed changes written.
    pub pulled: usize,
    /// Feed changes kept as rollback bases under pending operations.
    pub deferred: usize,
    /// Attempts made (1 without retries).
    pub attempts: u32,
    /// Every operation this sync had answered, in push order.
    pub answers: Vec<PushedOp>,
}

impl SyncReport {
    /// `later` added to this report (the sign-in's push and a command's own, as one).
    pub fn merged(mut self, later: SyncReport) -> SyncReport {
        self.pushed += later.pushed;
        self.accepted += later.accepted;
        self.rejected += later.rejected;
        self.pulled += later.pulled;
        self.deferred += later.deferred;
        self.attempts += later.attempts;
        self.answers.extend(later.answers);
        self
    }

    /// The operations refused, with their reasons.
    pub fn refusals(&self) -> impl Iterator<Item = &PushedOp> {
        self.answers.iter().filter(|a| matches!(a.outcome, PushOutcome::Rejected { .. }))
    }
}

/// One operation a sync had answered.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PushedOp {
    /// The operation.
    pub op_id: uuid::Uuid,
    /// Its kind (`request_card`, …).
    pub kind: String,
    /// The registry's answer (or the local refusal of an unsendable one).
    pub outcome: PushOutcome,
}

/// The answer to one pushed operation.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum PushOutcome {
    /// Applied.
    Accepted,
    /// Refused, and rolled back here.
    Rejected {
        /// The stable code.
        code: String,
        /// The reason in words.
        message: String,
    },
}

/// One workstation's sync with one registry, as one signed-in operator.
#[derive(Debug)]
pub struct Engine {
    client: RegistryClient,
    token: SessionToken,
    actor: Option<OperatorId>,
    workstation: Option<WorkstationId>,
    connectivity: Connectivity,
}

impl Engine {
    /// An engine pushing as `actor` from `workstation` with session `token`.
    pub fn new(
        client: RegistryClient,
        token: SessionToken,
        actor: Option<OperatorId>,
        workstation: Option<WorkstationId>,
    ) -> Self {
        Self { client, token, actor, workstation, connectivity: Connectivity::Unknown }
    }

    /// Replaces the session token (after signing in again).
    pub fn set_token(&mut self, token: SessionToken) {
        self.token = token;
    }

    /// The overall status.
    pub fn status(&self, store: &Store) -> Result<Status> {
        let state = store.sync_state()?;
        Ok(Status {
            connectivity: self.connectivity,
            last_sync: state.last_sync_at,
            queue_len: store.queue_len()?,
            last_error: state.last_error,
        })
    }

    /// One sync: push everything pending, then pull until the feed is
    /// drained. `now` stamps answers and the sync time.
    pub async fn sync_once(&mut self, store: &mut Store, now: OffsetDateTime) -> Result<SyncReport> {
        let outcome = self.run(store, now).await;
        match &outcome {
            Ok(_) => {
                self.connectivity = Connectivity::Online;
                store.record_sync(now, Ok(()))?;
            }
            Err(e) => {
                if matches!(e, Error::Transport(_) | Error::PinMismatch { .. }) {
                    self.connectivity = Connectivity::Offline;
                } else {
                    self.connectivity = Connectivity::Online;
                }
                store.record_sync(now, Err(&e.to_string()))?;
            }
        }
        outcome
    }

    /// [`Engine::sync_once`], retried on retryable errors after a jittered
    /// exponential delay (`rng` is the randomness, `clock` the time). The
    /// report counts the successful attempt only (earlier attempts may
    /// already have recorded answers); `attempts` says how many were made.
    pub async fn sync(
        &mut self,
        store: &mut Store,
        backoff: Backoff,
        rng: &mut (dyn RngCore + Send),
        clock: &(dyn Fn() -> OffsetDateTime + Sync),
    ) -> Result<SyncReport> {
        let mut retry = 0u32;
        loop {
            match self.sync_once(store, clock()).await {
                Ok(mut report) => {
                    report.attempts = retry + 1;
                    return Ok(report);
                }
                Err(e) if e.is_retryable() && retry + 1 < backoff.attempts.max(1) => {
                    let delay = backoff.delay(retry, rng);
                    tracing::info!(error = %e, retry, delay_ms = delay.as_millis() as u64, "sync retry");
                    sleep(delay).await;
                    retry += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The push half of [`Engine::sync_once`]: everything pending sent and
    /// its answers recorded; the feed is left for a later sync. For work
    /// that must not wait for the pull (a card in a reader).
    pub async fn push_once(&mut self, store: &mut Store, now: OffsetDateTime) -> Result<SyncReport> {
        let mut report = SyncReport { attempts: 1, ..SyncReport::default() };
        let outcome = self.push(store, now, &mut report).await;
        match &outcome {
            Ok(()) => self.connectivity = Connectivity::Online,
            Err(Error::Transport(_) | Error::PinMismatch { .. }) => self.connectivity = Connectivity::Offline,
            Err(_) => self.connectivity = Connectivity::Online,
        }
        outcome.map(|()| report)
    }

    async fn run(&mut self, store: &mut Store, now: OffsetDateTime) -> Result<SyncReport> {
        let mut report = SyncReport { attempts: 1, ..SyncReport::default() };
        self.push(store, now, &mut report).await?;
        self.pull(store, &mut report).await?;
        Ok(report)
    }

    /// Push: stage pending → plan batch → send → plan answers → apply.
    async fn push(&mut self, store: &mut Store, now: OffsetDateTime, report: &mut SyncReport) -> Result<()> {
        loop {
            // Only this operator's own operations: another operator's wait
            // for their session, so nothing is sent under someone else.
            let pending = match self.actor {
                Some(actor) => store.pending_of(actor.uuid(), PUSH_BATCH)?,
                None => store.pending(PUSH_BATCH)?,
            };
            if pending.is_empty() {
                break;
            }
            let plan = plan::plan_push(&pending, self.actor, self.workstation, PUSH_BATCH);
            for bad in &plan.unsendable {
                store.reject(bad.op_id, UNSENDABLE, &bad.message, now)?;
                report.rejected += 1;
                let kind =
                    pending.iter().find(|e| e.op_id == bad.op_id).map(|e| e.kind.clone()).unwrap_or_default();
                report.answers.push(PushedOp {
                    op_id: bad.op_id,
                    kind,
                    outcome: PushOutcome::Rejected { code: UNSENDABLE.into(), message: bad.message.clone() },
                });
            }
            if plan.batch.operations.is_empty() {
                continue;
            }
            let sent = plan.sent();
            let answers = match self.client.push(&self.token, &plan.batch).await {
                Ok(a) => a,
                Err(e) => {
                    store.note_attempts(&sent, Some(&e.to_string()))?;
                    return Err(e);
                }
            };
            report.pushed += sent.len();
            let steps = plan::plan_answers(&sent, &answers)?;
            let kind_of = |op_id: uuid::Uuid| {
                plan.batch
                    .operations
                    .iter()
                    .find(|o| o.op_id == op_id)
                    .map(|o| o.op.name().to_owned())
                    .unwrap_or_default()
            };
            let mut answered = Vec::with_capacity(steps.len());
            let recorded: Vec<OpAnswer> = steps
                .into_iter()
                .map(|step| match step {
                    AnswerStep::Accept { op_id, result } => {
                        report.accepted += 1;
                        answered.push(PushedOp {
                            op_id,
                            kind: kind_of(op_id),
                            outcome: PushOutcome::Accepted,
                        });
                        OpAnswer::Accepted { op_id, result: Some(result) }
                    }
                    AnswerStep::Reject { op_id, code, message } => {
                        report.rejected += 1;
                        answered.push(PushedOp {
                            op_id,
                            kind: kind_of(op_id),
                            outcome: PushOutcome::Rejected { code: code.clone(), message: message.clone() },
                        });
                        OpAnswer::Rejected { op_id, code, reason: message }
                    }
                })
                .collect();
            store.record_answers(&recorded, now)?;
            report.answers.extend(answered);
        }
        Ok(())
    }

    async fn pull(&mut self, store: &mut Store, report: &mut SyncReport) -> Result<()> {
        // Pull: stage cursor → fetch page → plan → apply with the cursor.
        // The next page is fetched and planned (on another worker, when the
        // runtime has one) while this one is written: only its cursor is
        // needed to ask for it. A page is still applied only after the one
        // before it, each with its own cursor, so stopping anywhere costs at
        // most the prefetched page, fetched again next time.
        let since = store.sync_state()?.cursor;
        let mut next = Prefetch::start(self.client.clone(), self.token.clone(), since);
        loop {
            let plan = next.finish().await?;
            if plan.more {
                next =
                    Prefetch::start(self.client.clone(), self.token.clone(), Some(plan.next_cursor.clone()));
            }
            let applied = store.apply_remote(&plan.changes, &plan.next_cursor)?;
            report.pulled += applied.written;
            report.deferred += applied.deferred;
            if !plan.more {
                break;
            }
        }
        Ok(())
    }
}

/// One feed page being fetched and planned in its own task; dropping it
/// (an error, or the sync future dropped) stops the task.
struct Prefetch(Option<tokio::task::JoinHandle<Result<plan::PullPlan>>>);

impl Prefetch {
    fn start(client: RegistryClient, token: SessionToken, since: Option<String>) -> Self {
        Self(Some(tokio::spawn(async move {
            let page = client.changes(&token, since.as_deref(), PULL_PAGE).await?;
            plan::plan_page(since.as_deref(), &page)
        })))
    }

    async fn finish(&mut self) -> Result<plan::PullPlan> {
        let task = self.0.take().ok_or_else(|| Error::Transport("the page was already taken".into()))?;
        task.await.map_err(|e| Error::Transport(format!("fetching a feed page stopped: {e}")))?
    }
}

impl Drop for Prefetch {
    fn drop(&mut self) {
        if let Some(task) = self.0.take() {
            task.abort();
        }
    }
}

async fn sleep(delay: Duration) {
    tokio::time::sleep(delay).await;
}
