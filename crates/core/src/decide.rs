//! The one decision a poll makes: what the job's status is now, whether to tell
//! anyone, and when to look again.

use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::policy::poll_interval;
use crate::status::{BatchJobStatus, BatchPhase, JobStatus};

/// What is known about a job at one poll.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub batch_status: BatchJobStatus,
    /// Objects in the manifest (distinct).
    pub objects_total: u64,
    /// Objects whose restore completed, by event, completion report or reconciliation.
    pub restored: u64,
    /// Objects that will never be restored by this job (`FailedBatchFiles`).
    pub excluded: u64,
    pub now: Timestamp,
    pub started: Timestamp,
    pub deadline: Timestamp,
    /// The last `ProgressPercent` published, 0 when none was.
    pub last_percent_notified: u8,
    /// The terminal event already published, if one was.
    pub terminal_sent: Option<JobStatus>,
    /// Stragglers were checked one by one after the deadline passed.
    pub reconciled: bool,
    pub progress_step_percent: u8,
}

/// An event to publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    pub status: JobStatus,
    pub percent: u8,
}

/// What to do after this poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", content = "seconds")]
pub enum Next {
    /// Poll again after this many seconds.
    Wait(u64),
    /// Check the objects still missing one by one, then decide again at once.
    Reconcile,
    /// The job has ended.
    Stop,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub status: JobStatus,
    pub percent: u8,
    pub publish: Option<Notification>,
    pub next: Next,
}

/// The percent an event or the job view shows for a job in `status`: 100 for Complete
/// and only for it; otherwise the share of objects restored or excluded, rounded down,
/// never below the percent last announced, and at most 99 while anything is missing.
/// Before registration the total is unknown and nothing is done yet.
pub fn reported_percent(
    status: JobStatus,
    objects_total: Option<u64>,
    restored: u64,
    excluded: u64,
    last_notified: u8,
) -> u8 {
    if status == JobStatus::Complete {
        return 100;
    }
    let done = match objects_total {
        Some(total) if total > 0 => {
            let done = restored.saturating_add(excluded).min(total);
            // done <= total, so the quotient is at most 100.
            u8::try_from(u128::from(done) * 100 / u128::from(total)).unwrap_or(100)
        }
        _ => 0,
    };
    done.max(last_notified).min(99)
}

/// Decides the job's next step from a snapshot. Pure: the same snapshot always gives
/// the same decision.
pub fn decide(s: &Snapshot) -> Decision {
    let percent = |status| {
        reported_percent(
            status,
            Some(s.objects_total),
            s.restored,
            s.excluded,
            s.last_percent_notified,
        )
    };
    if let Some(status) = s.terminal_sent {
        return Decision {
            status,
            percent: percent(status),
            publish: None,
            next: Next::Stop,
        };
    }
    let all_accounted = s.restored.saturating_add(s.excluded) >= s.objects_total;
    let terminal = match s.batch_status.phase() {
        BatchPhase::Failed => Some(JobStatus::Failed),
        BatchPhase::Cancelled => Some(JobStatus::Cancelled),
        BatchPhase::Complete if all_accounted => Some(JobStatus::Complete),
        // Every object restored or excluded: a batch job still finishing its tasks
        // past the deadline is late, but nothing the user asked for is missing.
        _ if s.now >= s.deadline && all_accounted => Some(JobStatus::Complete),
        _ if s.now >= s.deadline && s.reconciled => Some(JobStatus::Timeout),
        _ => None,
    };
    if let Some(status) = terminal {
        let percent = percent(status);
        return Decision {
            status,
            percent,
            publish: Some(Notification { status, percent }),
            next: Next::Stop,
        };
    }

    let percent = percent(JobStatus::Restoring);
    let step = s.progress_step_percent.max(1);
    let next_threshold = (s.last_percent_notified / step)
        .saturating_add(1)
        .saturating_mul(step);
    let publish = (percent >= next_threshold).then_some(Notification {
        status: JobStatus::Restoring,
        percent,
    });
    let next = if s.now >= s.deadline {
        Next::Reconcile
    } else {
        let running = s.batch_status.phase() == BatchPhase::Running;
        Next::Wait(seconds(poll_interval(
            s.started, s.deadline, s.now, running,
        )))
    };
    Decision {
        status: JobStatus::Restoring,
        percent,
        publish,
        next,
    }
}

fn seconds(d: Duration) -> u64 {
    d.as_secs().max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::add;
    use proptest::prelude::*;

    fn ts(secs: i64) -> Timestamp {
        Timestamp::from_second(secs).unwrap()
    }

    fn snapshot() -> Snapshot {
        Snapshot {
            batch_status: BatchJobStatus::Active,
            objects_total: 1000,
            restored: 0,
            excluded: 0,
            now: ts(1_700_000_000),
            started: ts(1_700_000_000),
            deadline: ts(1_700_000_000 + 11 * 3600),
            last_percent_notified: 0,
            terminal_sent: None,
            reconciled: false,
            progress_step_percent: 10,
        }
    }

    #[test]
    fn only_complete_reports_one_hundred_percent() {
        for &status in JobStatus::ALL {
            let all_done = reported_percent(status, Some(10), 7, 3, 0);
            let expected = if status == JobStatus::Complete {
                100
            } else {
                99
            };
            assert_eq!(all_done, expected, "{status}");
        }
        assert_eq!(reported_percent(JobStatus::Failed, Some(10), 2, 1, 0), 30);
        assert_eq!(reported_percent(JobStatus::Timeout, Some(10), 2, 1, 50), 50);
        assert_eq!(reported_percent(JobStatus::Cancelled, None, 0, 0, 0), 0);
        assert_eq!(reported_percent(JobStatus::Complete, None, 0, 0, 0), 100);
    }

    #[test]
    fn nothing_restored_means_wait_and_stay_quiet() {
        let d = decide(&snapshot());
        assert_eq!(d.status, JobStatus::Restoring);
        assert_eq!(d.publish, None);
        assert!(matches!(d.next, Next::Wait(s) if s >= 30));
    }

    #[test]
    fn crossing_a_step_publishes_the_actual_percent_once() {
        let s = Snapshot {
            restored: 356,
            batch_status: BatchJobStatus::Complete,
            ..snapshot()
        };
        let d = decide(&s);
        assert_eq!(
            d.publish,
            Some(Notification {
                status: JobStatus::Restoring,
                percent: 35
            })
        );
        // The next poll, having sent 35, stays quiet until 40.
        let s = Snapshot {
            last_percent_notified: 35,
            restored: 399,
            ..s
        };
        assert_eq!(decide(&s).publish, None);
        let s = Snapshot { restored: 400, ..s };
        assert_eq!(decide(&s).publish.map(|n| n.percent), Some(40));
    }

    #[test]
    fn complete_needs_the_batch_job_finished_and_every_object_accounted_for() {
        let s = Snapshot {
            restored: 990,
            excluded: 10,
            ..snapshot()
        };
        let d = decide(&s);
        assert_eq!(d.status, JobStatus::Restoring);
        assert_eq!(d.percent, 99, "100 is kept for Complete");
        let s = Snapshot {
            batch_status: BatchJobStatus::Complete,
            ..s
        };
        let d = decide(&s);
        assert_eq!(d.status, JobStatus::Complete);
        assert_eq!(
            d.publish,
            Some(Notification {
                status: JobStatus::Complete,
                percent: 100
            })
        );
        assert_eq!(d.next, Next::Stop);
    }

    #[test]
    fn batch_failure_and_cancellation_end_the_job() {
        for (batch, status) in [
            (BatchJobStatus::Failed, JobStatus::Failed),
            (BatchJobStatus::Cancelled, JobStatus::Cancelled),
        ] {
            let d = decide(&Snapshot {
                batch_status: batch,
                restored: 120,
                ..snapshot()
            });
            assert_eq!(
                d.publish,
                Some(Notification {
                    status,
                    percent: 12
                })
            );
            assert_eq!(d.next, Next::Stop);
        }
        // Failing and Cancelling are on their way; wait for the end.
        for batch in [BatchJobStatus::Failing, BatchJobStatus::Cancelling] {
            assert_eq!(
                decide(&Snapshot {
                    batch_status: batch,
                    ..snapshot()
                })
                .status,
                JobStatus::Restoring
            );
        }
    }

    #[test]
    fn past_the_deadline_reconcile_first_then_time_out() {
        let base = snapshot();
        let late = Snapshot {
            now: add(base.deadline, std::time::Duration::from_secs(1)),
            batch_status: BatchJobStatus::Complete,
            restored: 500,
            last_percent_notified: 50,
            ..base
        };
        assert_eq!(decide(&late).next, Next::Reconcile);
        assert_eq!(decide(&late).publish, None);
        let after = Snapshot {
            reconciled: true,
            ..late.clone()
        };
        assert_eq!(
            decide(&after).publish,
            Some(Notification {
                status: JobStatus::Timeout,
                percent: 50
            })
        );
        // Reconciliation found the rest restored: Complete, not Timeout.
        let found = Snapshot {
            reconciled: true,
            restored: 1000,
            ..late
        };
        assert_eq!(decide(&found).status, JobStatus::Complete);
    }

    #[test]
    fn past_the_deadline_every_object_accounted_for_is_complete_whatever_the_batch_job() {
        let base = snapshot();
        for batch_status in [
            BatchJobStatus::Active,
            BatchJobStatus::Completing,
            BatchJobStatus::Paused,
        ] {
            for reconciled in [false, true] {
                let s = Snapshot {
                    now: add(base.deadline, std::time::Duration::from_secs(1)),
                    batch_status,
                    restored: 990,
                    excluded: 10,
                    last_percent_notified: 90,
                    reconciled,
                    ..base.clone()
                };
                let d = decide(&s);
                assert_eq!(
                    d.publish,
                    Some(Notification {
                        status: JobStatus::Complete,
                        percent: 100
                    }),
                    "{batch_status} reconciled={reconciled}"
                );
                assert_eq!(d.next, Next::Stop);
            }
        }
        // Before the deadline a running batch job is still waited for.
        let early = Snapshot {
            restored: 1000,
            ..base
        };
        assert_eq!(decide(&early).status, JobStatus::Restoring);
    }

    #[test]
    fn a_sent_terminal_event_is_never_sent_again() {
        let s = Snapshot {
            terminal_sent: Some(JobStatus::Complete),
            batch_status: BatchJobStatus::Complete,
            restored: 1000,
            ..snapshot()
        };
        let d = decide(&s);
        assert_eq!(d.status, JobStatus::Complete);
        assert_eq!(d.publish, None);
        assert_eq!(d.next, Next::Stop);
    }

    #[test]
    fn an_empty_job_is_complete_once_the_batch_job_is() {
        let s = Snapshot {
            objects_total: 0,
            batch_status: BatchJobStatus::Complete,
            ..snapshot()
        };
        assert_eq!(decide(&s).status, JobStatus::Complete);
    }

    fn batch_status() -> impl Strategy<Value = BatchJobStatus> {
        proptest::sample::select(BatchJobStatus::ALL.to_vec())
    }

    /// One poll's worth of change: more objects restored or excluded, time passing,
    /// the batch job moving on.
    #[derive(Debug, Clone)]
    struct Step {
        restored: u64,
        excluded: u64,
        seconds: u64,
        batch: BatchJobStatus,
    }

    fn steps() -> impl Strategy<Value = (u64, u8, Vec<Step>)> {
        (1u64..5000, 1u8..=50).prop_flat_map(|(total, step)| {
            let one = (
                0..=total / 3 + 1,
                0..=total / 20 + 1,
                0u64..20_000,
                batch_status(),
            )
                .prop_map(|(restored, excluded, seconds, batch)| Step {
                    restored,
                    excluded,
                    seconds,
                    batch,
                });
            (
                Just(total),
                Just(step),
                proptest::collection::vec(one, 1..80),
            )
        })
    }

    /// Runs a job the way the state machine does: decide, publish, remember.
    fn run(total: u64, step: u8, steps: &[Step]) -> Vec<Notification> {
        let mut s = Snapshot {
            objects_total: total,
            progress_step_percent: step,
            ..snapshot()
        };
        let mut published = Vec::new();
        for st in steps {
            s.restored = (s.restored + st.restored).min(total);
            s.excluded = (s.excluded + st.excluded).min(total - s.restored);
            s.now = add(s.now, std::time::Duration::from_secs(st.seconds));
            s.batch_status = st.batch;
            let d = decide(&s);
            if d.next == Next::Reconcile {
                s.reconciled = true;
            }
            if let Some(n) = d.publish {
                published.push(n);
                if n.status.is_terminal() {
                    s.terminal_sent = Some(n.status);
                } else {
                    s.last_percent_notified = n.percent;
                }
            }
        }
        published
    }

    proptest! {
        #[test]
        fn progress_never_decreases_and_is_a_percent((total, step, steps) in steps()) {
            let events = run(total, step, &steps);
            for pair in events.windows(2) {
                prop_assert!(pair[0].percent <= pair[1].percent, "{events:?}");
            }
            for e in &events {
                prop_assert!(e.percent <= 100);
                let text = e.percent.to_string();
                prop_assert_eq!(text.parse::<u8>().unwrap(), e.percent);
            }
        }

        #[test]
        fn at_most_one_terminal_event_and_never_complete_with_timeout((total, step, steps) in steps()) {
            let events = run(total, step, &steps);
            let terminal: Vec<_> = events.iter().filter(|e| e.status.is_terminal()).collect();
            prop_assert!(terminal.len() <= 1, "{events:?}");
            if let Some(t) = terminal.first() {
                prop_assert_eq!(events.last().map(|e| e.status), Some(t.status), "nothing after the terminal event");
            }
            let complete = events.iter().any(|e| e.status == JobStatus::Complete);
            let timeout = events.iter().any(|e| e.status == JobStatus::Timeout);
            prop_assert!(!(complete && timeout));
        }

        #[test]
        fn at_most_one_progress_event_per_step_crossed((total, step, steps) in steps()) {
            let events = run(total, step, &steps);
            let progress: Vec<_> = events.iter().filter(|e| !e.status.is_terminal()).collect();
            // Each progress event moves into a later band of `step` percent.
            let bands: Vec<u8> = progress.iter().map(|e| e.percent / step).collect();
            for pair in bands.windows(2) {
                prop_assert!(pair[0] < pair[1], "{events:?}");
            }
            prop_assert!(progress.len() <= usize::from(100 / step));
        }

        /// A Timeout is declared only while some object is neither restored nor excluded.
        #[test]
        fn timeout_only_with_objects_missing(
            total in 0u64..2000,
            restored in 0u64..2000,
            excluded in 0u64..100,
            batch in batch_status(),
            late in 0u64..100_000,
            reconciled in any::<bool>(),
        ) {
            let base = snapshot();
            let s = Snapshot {
                objects_total: total,
                restored: restored.min(total),
                excluded: excluded.min(total - restored.min(total)),
                batch_status: batch,
                now: add(base.deadline, std::time::Duration::from_secs(late)),
                reconciled,
                ..base
            };
            if decide(&s).status == JobStatus::Timeout {
                prop_assert!(s.restored + s.excluded < s.objects_total, "{s:?}");
            }
        }

        /// Given enough time after the deadline, every job ends with exactly one terminal event.
        #[test]
        fn every_job_ends_exactly_once((total, step, mut steps) in steps()) {
            steps.push(Step { restored: 0, excluded: 0, seconds: 400_000, batch: BatchJobStatus::Active });
            steps.push(Step { restored: 0, excluded: 0, seconds: 1, batch: BatchJobStatus::Active });
            let events = run(total, step, &steps);
            prop_assert_eq!(events.iter().filter(|e| e.status.is_terminal()).count(), 1, "{:?}", events);
        }
    }
}
