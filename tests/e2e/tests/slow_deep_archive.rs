//! SLOW (minutes): 48-hour Deep Archive Bulk jobs, end to end in virtual time, in their
//! own test binary so that they have a moto server to themselves.
//!
//! The 2,000-object job goes over the wire everywhere: objects, restores and the
//! restore-events queue on moto. The 20,000-object job, the size the design is sized
//! for, keeps its objects and restores on moto's S3 but its restore-events queue in
//! memory (moto's SQS walks the whole queue on every request, see `gbr_local::queue`),
//! with restores carried out a clock minute at a time.

use std::time::{Duration, Instant};

use gbr_core::policy::HISTORY_EVENT_LIMIT;
use gbr_core::ports::Tally;
use gbr_core::request::{StorageClass, Tier};
use gbr_core::status::JobStatus;
use gbr_e2e::*;
use gbr_local::ExecutionStatus;
use gbr_local::queue::QueueMode;
use gbr_local::run::run_job;
use gbr_local::simulator::SimOptions;

/// Runs a Deep Archive Bulk job of `objects` objects to Complete and checks it; returns
/// its events' `Status Percent`.
async fn deep_archive_bulk(
    objects: usize,
    queue: QueueMode,
    restore_tick: Duration,
) -> Vec<String> {
    let started = Instant::now();
    let prefix = format!("e2e-deep-{objects}");
    let mut options = options(
        &prefix,
        manifest(&format!("{prefix}-data"), "deep", 0..objects),
        SimOptions {
            seed: 48,
            reorder: true,
            restore_tick,
            ..SimOptions::default()
        },
    );
    options.queue = queue;
    options.storage_class = StorageClass::DeepArchive;
    options.tier = Tier::Bulk;
    let outcome = run_job(&services(), options, |e| {
        println!(
            "{} {} {}% restored {}/{} ({:.0} s wall time)",
            e.timestamp,
            e.status,
            e.progress_percent,
            e.restored_files,
            e.total_files,
            started.elapsed().as_secs_f64()
        );
    })
    .await
    .unwrap_or_else(|e| panic!("the run failed: {e}"));
    let wall = started.elapsed();
    let transitions = outcome.execution.state_transitions;
    let history = outcome.history.len() as u64;
    println!(
        "deep archive, {objects} objects: {:?}; {transitions} state transitions, {history} history events, {:.1} s wall time",
        sequence(&outcome.events),
        wall.as_secs_f64(),
    );
    let stack = &outcome.stack;
    let job = &outcome.job_id;
    let record = stack
        .ports
        .jobs
        .get(job)
        .await
        .expect("read the job")
        .expect("the job");
    let batch = record.batch_job_id.clone().expect("a batch job");
    let total = objects as u64;
    check_events(
        &outcome.events,
        &Expected {
            job_id: job,
            batch_job_id: Some(&batch),
            client_tag: &prefix,
            total,
            excluded: 0,
            restored: total,
        },
    );
    assert_eq!(outcome.execution.status, ExecutionStatus::Succeeded);
    assert_eq!(record.status, JobStatus::Complete);
    assert_eq!(
        stack.ports.jobs.tally(job).await.expect("tally"),
        Tally {
            restored: total,
            excluded: 0
        }
    );
    // At most 10 progress events at the default 10 % step, then Complete.
    assert!(
        outcome.events.len() <= 11,
        "{:?}",
        sequence(&outcome.events)
    );
    // Step Functions fails an execution whose history reaches 25,000 events.
    assert!(history < HISTORY_EVENT_LIMIT, "{history} history events");
    assert!(
        transitions < HISTORY_EVENT_LIMIT,
        "{transitions} state transitions"
    );
    // It took Deep Archive Bulk's time: more than a day of clock time, within the
    // deadline (48 h + 6 h of slack).
    let last: jiff::Timestamp = outcome
        .events
        .last()
        .expect("an event")
        .timestamp
        .parse()
        .expect("a timestamp");
    let hours = last.duration_since(record.created_at).as_hours();
    println!("clock time: {hours} h");
    assert!(
        (24..=48).contains(&hours) && last < record.deadline,
        "{hours} h"
    );
    sequence(&outcome.events)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_deep_archive_bulk_48h_2000_objects() {
    assert_eq!(
        deep_archive_bulk(2_000, QueueMode::Moto, Duration::ZERO).await,
        DEEP_2000
    );
}

const DEEP_2000: &[&str] = &[
    "Restoring 10",
    "Restoring 20",
    "Restoring 30",
    "Restoring 40",
    "Restoring 50",
    "Restoring 60",
    "Restoring 70",
    "Restoring 80",
    "Restoring 90",
    "Complete 100",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_deep_archive_bulk_48h_20000_objects() {
    assert_eq!(
        deep_archive_bulk(20_000, QueueMode::Memory, Duration::from_secs(60)).await,
        DEEP_2000
    );
}
