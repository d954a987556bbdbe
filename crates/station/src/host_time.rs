//! Where the host's time goes while cards are encoded: a process-wide tally
//! (count and time) per activity, read by the UC-BATCH benchmark to show
//! what the host adds to the card's own time. Counting costs two atomic
//! adds per activity; nothing is logged.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// One kind of host work measured around a card's encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activity {
    /// A sync with the registry (push the outbox, pull the feed; a batch
    /// card's recording only pushes).
    Sync,
    /// A batch worker's sync once its card is asked out (while the
    /// operator swaps cards; not card waiting time).
    CatchUp,
    /// A batch card's issuance recorded at the registry (outbox commit and
    /// push) once the operator was asked to take the card out.
    Recording,
    /// An operation written to the outbox with its local effect (one commit).
    Outbox,
    /// The management key and PUK pushed to the registry's escrow (waited
    /// for by the journal's writer thread while the card authenticates).
    EscrowPush,
    /// An escrowed secret fetched back from the registry.
    EscrowFetch,
    /// A CA challenge fetched from the registry.
    Challenge,
    /// A certificate issued by the registry CA (the round trip only).
    Issue,
    /// An encoding-journal commit inside the card session (step before or
    /// after a write, a certificate issued, the job turning `writing`).
    Journal,
    /// An encoding-journal commit of the job row outside the card session
    /// (created, escrowed, completed).
    JobRow,
    /// Reading the card as found (PC/SC connect, card reads).
    CardRead,
    /// The card session of the writes: PC/SC and card time, and the CA round
    /// trips and journal commits made inside it (counted on their own too).
    CardSession,
}

impl Activity {
    /// Every activity, in report order.
    pub const ALL: [Activity; 12] = [
        Activity::Sync,
        Activity::CatchUp,
        Activity::Recording,
        Activity::Outbox,
        Activity::EscrowPush,
        Activity::EscrowFetch,
        Activity::Challenge,
        Activity::Issue,
        Activity::Journal,
        Activity::JobRow,
        Activity::CardRead,
        Activity::CardSession,
    ];

    /// A short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Activity::Sync => "sync (in the card's time)",
            Activity::CatchUp => "sync between cards (card out)",
            Activity::Recording => "recording a batch card (card out)",
            Activity::Outbox => "outbox commit",
            Activity::EscrowPush => "escrow push",
            Activity::EscrowFetch => "escrow fetch",
            Activity::Challenge => "CA challenge",
            Activity::Issue => "CA issue",
            Activity::Journal => "journal commit (in card session)",
            Activity::JobRow => "journal commit (job row)",
            Activity::CardRead => "card read (as found)",
            Activity::CardSession => "card session (writes)",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

static COUNTS: [AtomicU64; Activity::ALL.len()] = [const { AtomicU64::new(0) }; Activity::ALL.len()];
static NANOS: [AtomicU64; Activity::ALL.len()] = [const { AtomicU64::new(0) }; Activity::ALL.len()];

/// Runs `work`, adding its duration to `activity`'s tally.
pub(crate) fn timed<R>(activity: Activity, work: impl FnOnce() -> R) -> R {
    let t0 = Instant::now();
    let r = work();
    record(activity, t0.elapsed());
    r
}

/// Adds one occurrence of `activity` lasting `took`.
pub(crate) fn record(activity: Activity, took: Duration) {
    let i = activity.index();
    COUNTS[i].fetch_add(1, Ordering::Relaxed);
    NANOS[i].fetch_add(u64::try_from(took.as_nanos()).unwrap_or(u64::MAX), Ordering::Relaxed);
}

/// The tally so far: per activity, how often and how long in total.
pub fn snapshot() -> Vec<(Activity, u64, Duration)> {
    Activity::ALL
        .iter()
        .map(|a| {
            let i = a.index();
            (*a, COUNTS[i].load(Ordering::Relaxed), Duration::from_nanos(NANOS[i].load(Ordering::Relaxed)))
        })
        .collect()
}

/// Sets the tally back to zero (between benchmark runs).
pub fn reset() {
    for i in 0..COUNTS.len() {
        COUNTS[i].store(0, Ordering::Relaxed);
        NANOS[i].store(0, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timed_counts_and_adds_time() {
        let before = snapshot().into_iter().find(|(a, ..)| *a == Activity::EscrowFetch).map(|(_, n, _)| n);
        timed(Activity::EscrowFetch, || std::thread::sleep(Duration::from_millis(2)));
        let (_, n, d) = snapshot().into_iter().find(|(a, ..)| *a == Activity::EscrowFetch).unwrap_or((
            Activity::EscrowFetch,
            0,
            Duration::ZERO,
        ));
        assert!(n > before.unwrap_or(0));
        assert!(d >= Duration::from_millis(2));
    }
}
