//! Draining the registry's outbox: each due message delivered, marked sent
//! right after the server accepted it, or rescheduled with backoff.
//!
//! Duplicates: the only window is between the server's acceptance and
//! [`Outbox::sent`] committing (a crash, or the database refusing the
//! write). A refused write is retried from memory without sending again;
//! after a crash the message goes out a second time with the same
//! Message-ID, which receivers and people can recognise. Run one dispatcher
//! per outbox: two would deliver the same due message twice.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use time::OffsetDateTime;
use tokio::sync::Notify;
use tokio::time::Instant;
use uuid::Uuid;

use crate::message::Outgoing;
use crate::transport::{DeliveryError, Transport};

/// An error of the outbox's store (the registry's database).
pub type OutboxError = Box<dyn std::error::Error + Send + Sync>;

/// The registry's outbox table, as the dispatcher needs it. Blocking calls
/// (the registry's storage is synchronous); run on tokio's blocking pool.
pub trait Outbox: Send + Sync + 'static {
    /// Up to `limit` pending messages whose next attempt is due at `now`,
    /// oldest first, with their failed-attempt counts.
    fn due(&self, limit: usize, now: OffsetDateTime) -> Result<Vec<Outgoing>, OutboxError>;

    /// The earliest next attempt of any pending message (`None`: none pending),
    /// so the dispatcher sleeps exactly until then.
    fn next_attempt(&self) -> Result<Option<OffsetDateTime>, OutboxError>;

    /// The server accepted message `id` at `at`: never deliver it again.
    fn sent(&self, id: Uuid, at: OffsetDateTime) -> Result<(), OutboxError>;

    /// Delivery of `id` failed with `error` (keep it for the administrator);
    /// count the attempt. `permanent`: give up, never due again; otherwise
    /// due again at `next_attempt_at`.
    fn failed(
        &self,
        id: Uuid,
        error: &str,
        permanent: bool,
        next_attempt_at: OffsetDateTime,
    ) -> Result<(), OutboxError>;
}

/// Retry policy.
#[derive(Debug, Clone)]
pub struct DispatcherConfig {
    /// Messages taken per outbox query.
    pub batch: usize,
    /// Delay after the first failure; doubled per further failure.
    pub base_delay: Duration,
    /// Longest delay between two attempts.
    pub max_delay: Duration,
    /// Attempts a message gets when the server answers 5xx (some servers
    /// answer 5xx for a passing problem) before it is given up.
    pub permanent_attempts: u32,
    /// Longest sleep with nothing due: a safety net should a wake be missed
    /// (a message queued by another process).
    pub idle_poll: Duration,
}

impl Default for DispatcherConfig {
    fn default() -> Self {
        DispatcherConfig {
            batch: 20,
            base_delay: Duration::from_secs(30),
            max_delay: Duration::from_secs(15 * 60),
            permanent_attempts: 3,
            idle_poll: Duration::from_secs(60),
        }
    }
}

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PassReport {
    /// Accepted by the server.
    pub sent: usize,
    /// Failed, to be tried again.
    pub retried: usize,
    /// Failed for good.
    pub gave_up: usize,
    /// Stopped early: the server is unreachable; the rest wait.
    pub server_unreachable: bool,
}

/// Wakes the dispatcher at once (call after committing a new message).
/// A wake while a pass runs is kept, and starts the next pass right after.
#[derive(Debug, Clone)]
pub struct Waker(Arc<Notify>);

impl Waker {
    /// Wake the dispatcher.
    pub fn wake(&self) {
        self.0.notify_one();
    }
}

/// Delivers the outbox's due messages, forever or one pass at a time.
pub struct Dispatcher {
    outbox: Arc<dyn Outbox>,
    transport: Transport,
    config: DispatcherConfig,
    wake: Arc<Notify>,
    /// One pass at a time: two would deliver the same message twice.
    pass_lock: tokio::sync::Mutex<()>,
    /// Accepted by the server but not yet marked (the outbox refused the
    /// write): marked again before anything else, never sent again.
    unmarked: Mutex<HashMap<Uuid, OffsetDateTime>>,
    /// The server could not be reached: no pass before this (unless woken),
    /// and how many passes in a row found it so.
    unreachable: Mutex<Option<(Instant, u32)>>,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher")
            .field("transport", &self.transport)
            .field("config", &self.config)
            .finish()
    }
}

impl Dispatcher {
    /// A dispatcher for `outbox` through `transport`.
    pub fn new(outbox: Arc<dyn Outbox>, transport: Transport, config: DispatcherConfig) -> Dispatcher {
        Dispatcher {
            outbox,
            transport,
            config,
            wake: Arc::new(Notify::new()),
            pass_lock: tokio::sync::Mutex::new(()),
            unmarked: Mutex::new(HashMap::new()),
            unreachable: Mutex::new(None),
        }
    }

    /// The handle that wakes [`Dispatcher::run`].
    pub fn waker(&self) -> Waker {
        Waker(Arc::clone(&self.wake))
    }

    /// The transport (for the app's mailbox view).
    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    /// Runs passes until `shutdown` completes: after each pass it sleeps
    /// until the next message is due (at most `idle_poll`), or until woken.
    /// On shutdown during a pass, the message being delivered is finished
    /// and marked (no accepted-but-unmarked message left behind by a clean
    /// stop); the rest stay pending.
    pub async fn run(&self, shutdown: impl Future<Output = ()>) {
        tracing::info!(delivery = self.transport.describe(), "mail dispatcher started");
        tokio::pin!(shutdown);
        let stopping = AtomicBool::new(false);
        let mut woken = true;
        loop {
            let pass = self.pass(woken, &stopping);
            tokio::pin!(pass);
            let result = tokio::select! {
                result = &mut pass => result,
                () = &mut shutdown => {
                    stopping.store(true, Ordering::SeqCst);
                    pass.await
                }
            };
            match &result {
                Ok(report) if *report != PassReport::default() => tracing::info!(?report, "mail pass"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "mail: the outbox failed; trying again later"),
            }
            if stopping.load(Ordering::SeqCst) {
                return;
            }
            let wait = self.wait_time(result.is_err()).await;
            woken = tokio::select! {
                () = self.wake.notified() => true,
                () = tokio::time::sleep(wait) => false,
                () = &mut shutdown => return,
            };
        }
    }

    /// One pass now, ignoring an unreachable server's backoff.
    pub async fn run_once(&self) -> Result<PassReport, OutboxError> {
        self.pass(true, &AtomicBool::new(false)).await
    }

    async fn pass(&self, woken: bool, stopping: &AtomicBool) -> Result<PassReport, OutboxError> {
        let _one = self.pass_lock.lock().await;
        let mut report = PassReport::default();
        self.mark_unmarked().await;
        if !woken && self.unreachable_until().is_some_and(|until| until > Instant::now()) {
            return Ok(report);
        }
        let mut seen = HashSet::new();
        loop {
            let (batch, now) = (self.config.batch, OffsetDateTime::now_utc());
            let due = self.blocking(move |o| o.due(batch, now)).await?;
            let full = due.len() >= batch;
            let fresh: Vec<Outgoing> = {
                let unmarked = lock(&self.unmarked);
                due.into_iter().filter(|m| !unmarked.contains_key(&m.id) && seen.insert(m.id)).collect()
            };
            if fresh.is_empty() {
                return Ok(report);
            }
            for message in fresh {
                if stopping.load(Ordering::SeqCst) {
                    return Ok(report);
                }
                match self.transport.deliver(&message).await {
                    Ok(()) => {
                        *lock(&self.unreachable) = None;
                        report.sent += 1;
                        self.mark_sent(message.id, OffsetDateTime::now_utc()).await;
                    }
                    Err(error) => {
                        let gave_up = self.record_failure(&message, &error).await?;
                        if gave_up {
                            report.gave_up += 1;
                        } else {
                            report.retried += 1;
                        }
                        if error.is_unreachable() {
                            let mut unreachable = lock(&self.unreachable);
                            let streak = unreachable.map_or(0, |(_, n)| n) + 1;
                            *unreachable = Some((Instant::now() + self.backoff(streak), streak));
                            report.server_unreachable = true;
                            return Ok(report);
                        }
                    }
                }
            }
            if !full {
                return Ok(report);
            }
        }
    }

    /// Counts the failure in the outbox; `true` when the message is given up.
    async fn record_failure(&self, message: &Outgoing, error: &DeliveryError) -> Result<bool, OutboxError> {
        let attempts = message.attempts.saturating_add(1);
        let give_up =
            error.is_invalid() || (error.is_permanent() && attempts >= self.config.permanent_attempts);
        let next = OffsetDateTime::now_utc() + self.backoff(attempts);
        tracing::warn!(
            id = %message.id,
            attempts,
            permanent = give_up,
            error = error.message(),
            "mail: delivery failed"
        );
        let (id, text) = (message.id, error.message().to_owned());
        self.blocking(move |o| o.failed(id, &text, give_up, next)).await?;
        Ok(give_up)
    }

    async fn mark_sent(&self, id: Uuid, at: OffsetDateTime) {
        if let Err(e) = self.blocking(move |o| o.sent(id, at)).await {
            tracing::error!(%id, error = %e, "mail: accepted by the server but not marked sent; will mark again");
            lock(&self.unmarked).insert(id, at);
        }
    }

    async fn mark_unmarked(&self) {
        let pending: Vec<(Uuid, OffsetDateTime)> =
            lock(&self.unmarked).iter().map(|(k, v)| (*k, *v)).collect();
        for (id, at) in pending {
            if self.blocking(move |o| o.sent(id, at)).await.is_ok() {
                lock(&self.unmarked).remove(&id);
            }
        }
    }

    fn unreachable_until(&self) -> Option<Instant> {
        lock(&self.unreachable).map(|(until, _)| until)
    }

    /// How long to sleep after a pass: until the next message is due, at
    /// most `idle_poll`; at least `base_delay` after an outbox error or
    /// with a mark pending (those rows look due and would spin the loop);
    /// no sooner than an unreachable server's backoff ends.
    async fn wait_time(&self, pass_failed: bool) -> Duration {
        let mut wait = self.config.idle_poll;
        match self.blocking(|o| o.next_attempt()).await {
            Ok(Some(next)) => {
                let until = (next - OffsetDateTime::now_utc()).max(time::Duration::ZERO);
                wait = wait.min(Duration::try_from(until).unwrap_or(Duration::ZERO));
            }
            Ok(None) => {}
            Err(_) => wait = self.config.base_delay,
        }
        if pass_failed || !lock(&self.unmarked).is_empty() {
            wait = self.config.base_delay;
        }
        if let Some(until) = self.unreachable_until() {
            wait = wait.max(until.saturating_duration_since(Instant::now()));
        }
        wait
    }

    /// Exponential in `failures` (1: `base_delay`), capped, with jitter in
    /// its upper half so many messages queued together spread out.
    fn backoff(&self, failures: u32) -> Duration {
        let factor = 2u32.saturating_pow(failures.saturating_sub(1).min(20));
        let delay = self.config.base_delay.saturating_mul(factor).min(self.config.max_delay);
        let half = delay / 2;
        half + half.mul_f64(rand::random::<f64>())
    }

    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&dyn Outbox) -> Result<T, OutboxError> + Send + 'static,
    ) -> Result<T, OutboxError> {
        let outbox = Arc::clone(&self.outbox);
        tokio::task::spawn_blocking(move || work(&*outbox))
            .await
            .map_err(|e| -> OutboxError { Box::new(e) })?
    }
}

/// The lock even if a panic poisoned it (the data are plain values).
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
