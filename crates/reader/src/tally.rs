//! How much time this process spent inside `SCardTransmit`, all
//! connections together: benchmarks compare it with the card's own time to
//! tell the PC/SC path from the host code around it. Two atomic adds per
//! APDU; nothing about the APDUs themselves is kept.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

static COUNT: AtomicU64 = AtomicU64::new(0);
static NANOS: AtomicU64 = AtomicU64::new(0);

pub(crate) fn record(elapsed: Duration) {
    COUNT.fetch_add(1, Ordering::Relaxed);
    NANOS.fetch_add(u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX), Ordering::Relaxed);
}

/// APDUs transmitted and the time spent waiting for their answers since the
/// start (or the last [`reset`]).
pub fn snapshot() -> (u64, Duration) {
    (COUNT.load(Ordering::Relaxed), Duration::from_nanos(NANOS.load(Ordering::Relaxed)))
}

/// Starts counting again from zero.
pub fn reset() {
    COUNT.store(0, Ordering::Relaxed);
    NANOS.store(0, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transmits_add_up() {
        reset();
        record(Duration::from_millis(2));
        record(Duration::from_millis(3));
        assert_eq!(snapshot(), (2, Duration::from_millis(5)));
        reset();
        assert_eq!(snapshot(), (0, Duration::ZERO));
    }
}
