//! Every random choice of a batch job, from one generator seeded by the simulator's
//! seed and the job's id, so that a run is the same for a seed whatever else runs.
//!
//! ChaCha8 is a fixed algorithm and `rand` is pinned to one release (its sampling may
//! change between releases), so a seed gives the same run on every machine.

use jiff::SignedDuration;
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};

/// How long after the original a duplicate event is sent: "minutes to an hour".
const DUPLICATE_AFTER_MS: (i64, i64) = (60_000, 3_600_000);

/// FNV-1a: a hash that is the same in every build, unlike the standard library's.
fn fnv1a(bytes: &[u8], basis: u64) -> u64 {
    bytes.iter().fold(basis, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn hash(seed: u64, salt: &str, text: &str) -> u64 {
    let basis = fnv1a(&seed.to_le_bytes(), 0xcbf2_9ce4_8422_2325);
    fnv1a(text.as_bytes(), fnv1a(salt.as_bytes(), basis))
}

/// The batch job id for a bulk job: derived from the seed and the job id, shaped like
/// the UUIDs S3 gives batch jobs.
pub fn batch_job_id(seed: u64, job_id: &str) -> String {
    let hi = hash(seed, "batch-job-id/hi", job_id);
    let lo = hash(seed, "batch-job-id/lo", job_id);
    let hex = format!("{hi:016x}{lo:016x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// A stable hexadecimal name, for report result files.
pub fn file_name(seed: u64, batch_job_id: &str, kind: &str) -> String {
    format!(
        "{:016x}{:016x}",
        hash(seed, kind, batch_job_id),
        hash(seed.rotate_left(32), kind, batch_job_id)
    )
}

/// A probability as given, made safe to compare with: NaN and out-of-range values
/// are clamped rather than trusted.
pub fn probability(p: f64) -> f64 {
    if p.is_nan() { 0.0 } else { p.clamp(0.0, 1.0) }
}

/// Whether the event of a restore of `object` is lost, at `rate`. Drawn from a hash of
/// its own, not the job's generator, so that the rate changes no other choice.
pub fn event_lost(seed: u64, batch_job_id: &str, object: &str, rate: f64) -> bool {
    // FNV's high bits barely change with a key's last bytes: mix them (SplitMix64's
    // finaliser) before taking the top 53.
    let mut x = hash(seed, batch_job_id, object);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    let draw = (x ^ (x >> 31)) >> 11;
    // 53 bits: a uniform f64 in [0, 1).
    (draw as f64 / (1u64 << 53) as f64) < probability(rate)
}

/// What chance decided for one restore.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestoreDraw {
    /// How long the restore takes (before any extra delay).
    pub duration: SignedDuration,
    pub dropped: bool,
    /// Sent a second time this long after the first event, if at all.
    pub duplicate_after: Option<SignedDuration>,
}

/// The generator of one batch job.
pub struct JobRng(ChaCha8Rng);

impl JobRng {
    pub fn new(seed: u64, job_id: &str) -> Self {
        Self(ChaCha8Rng::seed_from_u64(hash(seed, "job-rng", job_id)))
    }

    /// Draws a restore's fate. It always makes the same four draws, so that changing
    /// one rate leaves every other choice of the run as it was.
    pub fn restore(
        &mut self,
        window: (SignedDuration, SignedDuration),
        drop_rate: f64,
        duplicate_rate: f64,
    ) -> RestoreDraw {
        let (low, high) = (window.0.as_millis(), window.1.as_millis());
        let (low, high) = (
            i64::try_from(low.min(high)).unwrap_or(i64::MAX),
            i64::try_from(high.max(low)).unwrap_or(i64::MAX),
        );
        let duration = SignedDuration::from_millis(self.0.random_range(low..=high));
        let dropped = self.0.random::<f64>() < probability(drop_rate);
        let duplicated = self.0.random::<f64>() < probability(duplicate_rate);
        let after = SignedDuration::from_millis(
            self.0
                .random_range(DUPLICATE_AFTER_MS.0..=DUPLICATE_AFTER_MS.1),
        );
        RestoreDraw {
            duration,
            dropped,
            duplicate_after: (duplicated && !dropped).then_some(after),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lost_events_follow_their_rate_over_similar_keys() {
        let lost = (0..10_000)
            .filter(|i| event_lost(7, "batch-1", &format!("data-1||k-{i:05}"), 0.1))
            .count();
        assert!((800..=1200).contains(&lost), "{lost} of 10000 at 10 %");
        assert!(!event_lost(7, "batch-1", "data-1||k", 0.0));
        assert!(event_lost(7, "batch-1", "data-1||k", 1.0));
    }

    #[test]
    fn batch_job_ids_are_stable_and_differ_by_seed_and_job() {
        let id = batch_job_id(1, "job-a");
        assert_eq!(id.len(), 36);
        assert_eq!(id.matches('-').count(), 4);
        assert_eq!(id, batch_job_id(1, "job-a"));
        assert_ne!(id, batch_job_id(2, "job-a"));
        assert_ne!(id, batch_job_id(1, "job-b"));
    }

    #[test]
    fn the_same_seed_draws_the_same_fates_within_the_window() {
        let window = (SignedDuration::from_hours(3), SignedDuration::from_hours(5));
        let draws = |seed| {
            let mut rng = JobRng::new(seed, "job-a");
            (0..200)
                .map(|_| rng.restore(window, 0.2, 0.3))
                .collect::<Vec<_>>()
        };
        let first = draws(9);
        assert_eq!(first, draws(9));
        assert_ne!(first, draws(10));
        assert!(
            first
                .iter()
                .all(|d| d.duration >= window.0 && d.duration <= window.1)
        );
        let dropped = first.iter().filter(|d| d.dropped).count();
        let duplicated = first.iter().filter(|d| d.duplicate_after.is_some()).count();
        assert!((20..=60).contains(&dropped), "{dropped} dropped of 200");
        assert!(
            (25..=75).contains(&duplicated),
            "{duplicated} duplicated of 200"
        );
        assert!(
            first
                .iter()
                .all(|d| !(d.dropped && d.duplicate_after.is_some()))
        );
    }

    #[test]
    fn rates_outside_zero_to_one_are_clamped() {
        let window = (SignedDuration::from_hours(1), SignedDuration::from_hours(1));
        let mut rng = JobRng::new(0, "j");
        for _ in 0..50 {
            let d = rng.restore(window, f64::NAN, 7.0);
            assert!(!d.dropped);
            assert!(d.duplicate_after.is_some());
            assert_eq!(d.duration, SignedDuration::from_hours(1));
        }
        assert!(rng.restore(window, 1.0, -1.0).dropped);
    }
}
