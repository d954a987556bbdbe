//! Retry delays: exponential backoff with full jitter (a uniformly random
//! delay between zero and the exponential ceiling), so workstations that
//! lost the registry together do not come back together. The randomness
//! is passed in, so tests are deterministic.

use std::time::Duration;

use rand::RngCore;

/// Backoff policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Ceiling of the first retry's delay.
    pub base: Duration,
    /// Largest ceiling.
    pub max: Duration,
    /// Attempts in all (the first one included) before giving up.
    pub attempts: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Self { base: Duration::from_millis(200), max: Duration::from_secs(30), attempts: 8 }
    }
}

impl Backoff {
    /// The ceiling before retry number `retry` (0-based): `base · 2^retry`, capped at `max`.
    pub fn ceiling(&self, retry: u32) -> Duration {
        let factor = 1u32.checked_shl(retry.min(31)).unwrap_or(u32::MAX);
        self.base.checked_mul(factor).map_or(self.max, |d| d.min(self.max))
    }

    /// The delay before retry number `retry`: uniform in `[0, ceiling(retry)]`.
    pub fn delay(&self, retry: u32, rng: &mut dyn RngCore) -> Duration {
        let ceiling = u64::try_from(self.ceiling(retry).as_micros()).unwrap_or(u64::MAX);
        if ceiling == 0 {
            return Duration::ZERO;
        }
        Duration::from_micros(rng.next_u64() % (ceiling + 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn ceilings_double_up_to_the_cap() {
        let b = Backoff { base: Duration::from_millis(100), max: Duration::from_secs(1), attempts: 5 };
        let c: Vec<u128> = (0..6).map(|r| b.ceiling(r).as_millis()).collect();
        assert_eq!(c, vec![100, 200, 400, 800, 1000, 1000]);
        assert_eq!(b.ceiling(1000), Duration::from_secs(1), "no overflow on absurd retry counts");
    }

    #[test]
    fn delays_are_jittered_within_the_ceiling() {
        let b = Backoff::default();
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let delays: Vec<Duration> = (0..200).map(|_| b.delay(3, &mut rng)).collect();
        assert!(delays.iter().all(|d| *d <= b.ceiling(3)));
        let distinct: std::collections::BTreeSet<_> = delays.iter().collect();
        assert!(distinct.len() > 150, "jitter spreads the delays");
        let mut again = rand::rngs::StdRng::seed_from_u64(1);
        assert_eq!(b.delay(3, &mut again), delays[0], "same randomness, same delay");
    }
}
