//! Retry intervals and the seeded random source for `"JitterStrategy": "FULL"`.

use jiff::SignedDuration;

use super::definition::{Jitter, Retrier};

/// A small, seeded, reproducible random source (SplitMix64).
///
/// It only draws retry jitter; its sequence for a given seed is fixed by this code, so a
/// run is reproducible for a seed across platforms and releases of other crates.
#[derive(Debug, Clone)]
pub struct JitterRng {
    state: u64,
}

impl JitterRng {
    /// A source seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// The source for one execution: derived from the engine's seed and the execution's
    /// name, so that concurrent executions do not change each other's draws.
    pub fn for_execution(seed: u64, execution_name: &str) -> Self {
        // FNV-1a over the name, mixed with the seed.
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in execution_name.bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        let mut rng = Self::new(seed ^ hash);
        // Decorrelate seeds that differ in few bits.
        rng.next_u64();
        rng
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A uniform integer in `0..=max` (no modulo bias).
    pub fn up_to(&mut self, max: u64) -> u64 {
        if max == u64::MAX {
            return self.next_u64();
        }
        let range = max + 1;
        // Rejection sampling on the widening multiply (Lemire).
        loop {
            let product = u128::from(self.next_u64()) * u128::from(range);
            let low = product as u64;
            if low >= range.wrapping_neg() % range {
                return (product >> 64) as u64;
            }
        }
    }
}

/// The pause before retry number `retries_done + 1` under `retrier`, at millisecond
/// resolution: `IntervalSeconds × BackoffRate^retries_done`, capped at
/// `MaxDelaySeconds`; with `JitterStrategy: FULL`, a uniform draw in `[0, that]`.
pub fn retry_delay(retrier: &Retrier, retries_done: u32, rng: &mut JitterRng) -> SignedDuration {
    let exponent = i32::try_from(retries_done).unwrap_or(i32::MAX);
    let mut seconds = retrier.interval_seconds as f64 * retrier.backoff_rate.powi(exponent);
    if let Some(cap) = retrier.max_delay_seconds {
        seconds = seconds.min(cap as f64);
    }
    // Far beyond any real wait; keeps the conversion finite.
    let millis = (seconds * 1000.0).round().clamp(0.0, 1e15) as u64;
    let millis = match retrier.jitter {
        Jitter::None => millis,
        Jitter::Full => rng.up_to(millis),
    };
    SignedDuration::from_millis(i64::try_from(millis).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn retrier(interval: u64, rate: f64, cap: Option<u64>, jitter: Jitter) -> Retrier {
        Retrier {
            error_equals: vec!["States.ALL".into()],
            interval_seconds: interval,
            max_attempts: 10,
            backoff_rate: rate,
            max_delay_seconds: cap,
            jitter,
        }
    }

    #[test]
    fn backoff_multiplies_the_interval_and_the_cap_bounds_it() {
        let r = retrier(2, 3.0, Some(50), Jitter::None);
        let mut rng = JitterRng::new(1);
        let delays: Vec<i64> = (0..5)
            .map(|n| retry_delay(&r, n, &mut rng).as_millis() as i64)
            .collect();
        assert_eq!(delays, vec![2_000, 6_000, 18_000, 50_000, 50_000]);
    }

    #[test]
    fn fractional_backoff_rounds_to_milliseconds() {
        let r = retrier(1, 1.5, None, Jitter::None);
        let mut rng = JitterRng::new(1);
        assert_eq!(retry_delay(&r, 3, &mut rng).as_millis(), 3_375);
    }

    #[test]
    fn full_jitter_is_bounded_and_reproducible_for_a_seed() {
        let r = retrier(10, 2.0, None, Jitter::Full);
        let draw = |seed| {
            let mut rng = JitterRng::new(seed);
            (0..6)
                .map(|n| retry_delay(&r, n, &mut rng).as_millis())
                .collect::<Vec<_>>()
        };
        let a = draw(42);
        assert_eq!(a, draw(42));
        assert_ne!(a, draw(43));
        for (n, d) in a.iter().enumerate() {
            let bound = 10_000 * 2_i128.pow(n as u32);
            assert!((0..=bound).contains(d), "draw {n} = {d} exceeds {bound}");
        }
    }

    #[test]
    fn up_to_covers_its_range() {
        let mut rng = JitterRng::new(7);
        let mut seen = [false; 4];
        for _ in 0..200 {
            seen[rng.up_to(3) as usize] = true;
        }
        assert_eq!(seen, [true; 4]);
        assert_eq!(rng.up_to(0), 0);
    }

    #[test]
    fn executions_get_different_streams() {
        let mut a = JitterRng::for_execution(5, "a");
        let mut b = JitterRng::for_execution(5, "b");
        assert_ne!(a.next_u64(), b.next_u64());
    }
}
