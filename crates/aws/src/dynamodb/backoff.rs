//! Exponential backoff with full jitter, for the retries the SDK cannot do itself
//! (unprocessed batch items, cancelled transactions).

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::time::Duration;

/// How often and how long to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Attempts in all, the first included; at least 1.
    pub max_attempts: u32,
    /// The first retry waits up to this long; each later one up to twice as long.
    pub base: Duration,
    /// No single wait is longer.
    pub cap: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            base: Duration::from_millis(50),
            cap: Duration::from_secs(5),
        }
    }
}

impl Backoff {
    /// Whether attempt number `attempt` (1-based) may be followed by another.
    pub fn can_retry(&self, attempt: u32) -> bool {
        attempt < self.max_attempts.max(1)
    }

    /// The wait after attempt number `attempt` (1-based): uniformly random up to
    /// `min(cap, base * 2^(attempt-1))`, so concurrent writers spread out.
    pub fn delay(&self, attempt: u32) -> Duration {
        let exp = self
            .base
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
        let ceiling = exp.min(self.cap);
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        if nanos == 0 {
            return Duration::ZERO;
        }
        Duration::from_nanos(random_u64() % (nanos + 1))
    }

    pub async fn sleep(&self, attempt: u32) {
        tokio::time::sleep(self.delay(attempt)).await;
    }
}

/// A random number from the standard library's randomly keyed hasher: jitter needs no
/// more than that, and it saves a dependency.
pub(crate) fn random_u64() -> u64 {
    RandomState::new().hash_one(std::time::SystemTime::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_and_stay_under_the_cap() {
        let b = Backoff {
            max_attempts: 5,
            base: Duration::from_millis(10),
            cap: Duration::from_millis(35),
        };
        for _ in 0..100 {
            assert!(b.delay(1) <= Duration::from_millis(10));
            assert!(b.delay(2) <= Duration::from_millis(20));
            assert!(b.delay(3) <= Duration::from_millis(35));
            assert!(b.delay(30) <= Duration::from_millis(35));
        }
        assert!(b.can_retry(4));
        assert!(!b.can_retry(5));
    }
}
