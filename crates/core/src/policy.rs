//! How long a job may take and how often it is looked at.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use crate::request::{StorageClass, Tier};

/// Time allowed on top of the slowest published restore for Batch Operations to read
/// the manifest and issue every restore request of a large job.
pub const BATCH_SLACK: Duration = Duration::from_secs(6 * 3600);

/// Step Functions fails a Standard execution whose history reaches this many events.
pub const HISTORY_EVENT_LIMIT: u64 = 25_000;
/// History events one poll round adds (Wait 2, PollBatchJob 5, Choice 2, TallyRestored 5,
/// Decide 5, Choice 2: 21), with room for a retried task.
pub const HISTORY_EVENTS_PER_POLL: u64 = 25;
/// Events kept for polling; the rest is for registration, submission, retries and the end.
pub const HISTORY_EVENTS_FOR_POLLING: u64 = 20_000;
/// The most poll rounds one execution may make before its deadline.
pub const MAX_POLLS: u64 = HISTORY_EVENTS_FOR_POLLING / HISTORY_EVENTS_PER_POLL;

/// Shortest wait while the batch job is still issuing restore requests (minutes).
pub const BATCH_POLL_FLOOR: Duration = Duration::from_secs(30);
/// Shortest wait while objects come back (hours).
pub const RESTORE_POLL_FLOOR: Duration = Duration::from_secs(60);

/// The shortest and longest time a restore takes, by class and tier.
///
/// AWS publishes these as "typically within" figures: Flexible Retrieval Standard 3–5 h
/// and Bulk 5–12 h; Deep Archive Standard within 12 h and Bulk within 48 h. For Deep
/// Archive only the upper bound is published; the lower bounds here (9 h, 24 h) keep
/// the simulator's slow tiers slow and estimates honest about how soon a job can end.
pub fn restore_window(class: StorageClass, tier: Tier) -> (Duration, Duration) {
    let hours = |from: u64, to: u64| {
        (
            Duration::from_secs(from * 3600),
            Duration::from_secs(to * 3600),
        )
    };
    match (class, tier) {
        (StorageClass::Glacier, Tier::Standard) => hours(3, 5),
        (StorageClass::Glacier, Tier::Bulk) => hours(5, 12),
        (StorageClass::DeepArchive, Tier::Standard) => hours(9, 12),
        (StorageClass::DeepArchive, Tier::Bulk) => hours(24, 48),
    }
}

/// The longest restore S3 publishes for a class and tier.
pub fn max_restore_time(class: StorageClass, tier: Tier) -> Duration {
    restore_window(class, tier).1
}

/// When a job with objects still missing is declared Timeout.
pub fn deadline(
    created: Timestamp,
    class: StorageClass,
    tier: Tier,
    override_hours: Option<u32>,
) -> Timestamp {
    let span = match override_hours {
        Some(hours) => Duration::from_secs(u64::from(hours) * 3600),
        None => max_restore_time(class, tier) + BATCH_SLACK,
    };
    add(created, span)
}

/// How long to wait before the next poll.
///
/// Never shorter than the job's whole span divided by [`MAX_POLLS`], so one execution
/// stays under the history limit until its deadline whatever happens; never past the
/// deadline, so a Timeout is declared on time; never under one second.
pub fn poll_interval(
    started: Timestamp,
    deadline: Timestamp,
    now: Timestamp,
    batch_running: bool,
) -> Duration {
    let span = duration_between(started, deadline);
    let budget_floor = Duration::from_secs(span.as_secs().div_ceil(MAX_POLLS));
    let phase_floor = if batch_running {
        BATCH_POLL_FLOOR
    } else {
        RESTORE_POLL_FLOOR
    };
    let interval = budget_floor.max(phase_floor);
    let to_deadline = duration_between(now, deadline);
    if to_deadline.is_zero() {
        interval
    } else {
        interval.min(to_deadline).max(Duration::from_secs(1))
    }
}

/// `later - earlier`, or zero when `later` is not later.
pub fn duration_between(earlier: Timestamp, later: Timestamp) -> Duration {
    Duration::try_from(later.duration_since(earlier)).unwrap_or(Duration::ZERO)
}

/// `t + d`, saturating at the largest timestamp.
pub fn add(t: Timestamp, d: Duration) -> Timestamp {
    SignedDuration::try_from(d)
        .ok()
        .and_then(|d| t.checked_add(d).ok())
        .unwrap_or(Timestamp::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ts(secs: i64) -> Timestamp {
        Timestamp::from_second(secs).unwrap()
    }

    #[test]
    fn deadlines_follow_published_maxima_plus_slack() {
        let t0 = ts(1_700_000_000);
        let hours = |class, tier, o| deadline(t0, class, tier, o).duration_since(t0).as_hours();
        assert_eq!(hours(StorageClass::Glacier, Tier::Standard, None), 11);
        assert_eq!(hours(StorageClass::Glacier, Tier::Bulk, None), 18);
        assert_eq!(hours(StorageClass::DeepArchive, Tier::Standard, None), 18);
        assert_eq!(hours(StorageClass::DeepArchive, Tier::Bulk, None), 54);
        assert_eq!(hours(StorageClass::DeepArchive, Tier::Bulk, Some(3)), 3);
    }

    #[test]
    fn interval_respects_floors_and_the_deadline() {
        let t0 = ts(1_700_000_000);
        let short = add(t0, Duration::from_secs(3600));
        assert_eq!(poll_interval(t0, short, t0, true), BATCH_POLL_FLOOR);
        assert_eq!(poll_interval(t0, short, t0, false), RESTORE_POLL_FLOOR);
        // 10 seconds before the deadline, wait only until the deadline.
        let late = add(t0, Duration::from_secs(3590));
        assert_eq!(
            poll_interval(t0, short, late, false),
            Duration::from_secs(10)
        );
        // A 54-hour job is limited by the history budget, not by the floor.
        let long = deadline(t0, StorageClass::DeepArchive, Tier::Bulk, None);
        assert_eq!(
            poll_interval(t0, long, t0, false),
            Duration::from_secs((54 * 3600u64).div_ceil(MAX_POLLS))
        );
    }

    proptest! {
        /// Polling from start to deadline at the chosen interval never uses more than
        /// the history budget, for any deadline the request allows (1 to 336 hours).
        #[test]
        fn polls_fit_the_history_budget(hours in 1u64..=336, batch_running: bool) {
            let t0 = ts(1_700_000_000);
            let end = add(t0, Duration::from_secs(hours * 3600));
            let mut now = t0;
            let mut polls = 0u64;
            while now < end {
                now = add(now, poll_interval(t0, end, now, batch_running));
                polls += 1;
            }
            prop_assert!(polls <= MAX_POLLS, "{polls} polls for {hours} h");
            prop_assert!(polls * HISTORY_EVENTS_PER_POLL + (HISTORY_EVENT_LIMIT - HISTORY_EVENTS_FOR_POLLING) <= HISTORY_EVENT_LIMIT);
        }
    }
}
