//! A 20,000-object Deep Archive Bulk job on moto in virtual time: 48 hours of clock
//! time, as fast as moto can answer. Its own test binary, so it has a moto server to
//! itself.
//!
//! moto is the bottleneck: each restored object costs it about 7 ms of CPU (HeadObject
//! while the batch job runs; RestoreObject, HeadObject and the SQS notification at the
//! restore's instant; the queue's consumer), so 20,000 objects take about three minutes
//! on two cores, however little the simulator adds. The test prints moto's busy share
//! of the job's wall time, the measure of how little the simulator adds; as a timing,
//! it is printed, never asserted. What it asserts is the job's outcome at this scale.

mod simulator_support;

use gbr_local::objects::DataObjects;
use gbr_local::queue::RestoreQueue;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use gbr_core::ports::BatchOperations;
use gbr_core::request::{StorageClass, Tier};
use gbr_core::status::BatchJobStatus;
use gbr_local::engine::clock::{SimClock, VirtualClock, add};
use gbr_local::simulator::{
    BatchSimulator, RestoreOutcome, SimOptions, SimulatorTargets, restore_window,
};
use jiff::{SignedDuration, Timestamp};
use simulator_support::*;

const OBJECTS: usize = 20_000;

/// CPU seconds a process has used, from `/proc/<pid>/stat` (Linux, like the moto venv).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc/<pid>/stat");
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let after = stat
        .rsplit_once(')')
        .map_or(stat.as_str(), |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 =
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    // Linux reports in clock ticks of 1/100 s (USER_HZ).
    ticks as f64 / 100.0
}

/// Slow (about 4 minutes; the figures it prints are the point): run with
/// `cargo test -p gbr-local --test simulator_scale -- --ignored --nocapture`. The
/// end-to-end suite's 48-hour, 20,000-object job covers the same scale in CI.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "slow: about 4 minutes; a figure-printing run, see the doc comment"]
async fn a_20000_object_deep_archive_bulk_job_runs_in_virtual_time() {
    let (s3, sqs) = clients().await;
    let data = unique("scale-data");
    let reports = unique("scale-reports");
    create_bucket(&s3, &data).await;
    create_bucket(&s3, &reports).await;
    let setup = Instant::now();
    let objects: Vec<_> = (0..OBJECTS)
        .map(|i| id(&data, &format!("deep/{i:05}")))
        .collect();
    stream::iter(&objects)
        .for_each_concurrent(8, |o| put(&s3, &data, o.key(), Some("DEEP_ARCHIVE")))
        .await;
    let (queue_url, queue_arn) = queue(&sqs, &unique("scale-restores")).await;
    notify_restores(&s3, &data, &queue_arn).await;
    drain(&sqs, &queue_url).await;
    let etag = upload_manifest(&s3, &reports, "manifests/big.csv", &objects).await;
    let setup = setup.elapsed();

    let t0: Timestamp = "2030-01-01T00:00:00Z".parse().expect("timestamp");
    let clock = VirtualClock::new(t0);
    let sim = BatchSimulator::new(
        SimulatorTargets {
            s3: s3.clone(),
            objects: DataObjects::Moto(s3.clone()),
            restore_queue: RestoreQueue::moto(
                sqs.clone(),
                queue_url.clone(),
                "scale-restores".into(),
                String::new(),
                Arc::default(),
            ),
            report_bucket: reports.clone(),
            report_prefix: "batch-reports".into(),
        },
        Arc::new(clock.clone()),
        SimOptions {
            seed: 3,
            reorder: true,
            restore_tick: Duration::from_secs(60),
            ..SimOptions::default()
        },
    );
    // The queue is drained while the job runs, as the restore-event function's event
    // source would: moto's SendMessage takes time in proportion to the messages already
    // queued, so a queue left to fill with 20,000 messages would slow it to a crawl.
    let consumer = {
        let sqs = sqs.clone();
        let queue_url = queue_url.clone();
        tokio::spawn(async move {
            let mut seen = HashMap::new();
            let mut messages = 0;
            while seen.len() < OBJECTS {
                let bodies = receive_some(&sqs, &queue_url).await;
                // Let messages gather between short receives, so that each request
                // takes several.
                if bodies.len() < 10 {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                messages += bodies.len();
                for o in restored(&bodies) {
                    *seen.entry(o).or_insert(0_u32) += 1;
                }
            }
            (messages, seen)
        })
    };
    let moto_cpu_before = cpu_seconds(moto().pid);
    let started = Instant::now();
    let batch_id = sim
        .create_job(&spec(
            "job-scale",
            &reports,
            "manifests/big.csv",
            &etag,
            Tier::Bulk,
        ))
        .await
        .expect("create");
    sim.wait_ended(&batch_id).await.expect("ended");
    let batch_phase = started.elapsed();
    sim.wait_settled(&batch_id).await.expect("settled");
    let job_wall = started.elapsed();
    let moto_cpu = cpu_seconds(moto().pid) - moto_cpu_before;
    eprintln!(
        "{OBJECTS} objects: setup {setup:.1?}, batch job {batch_phase:.1?}, job with all restores {job_wall:.1?} (moto busy {moto_cpu:.1} s, {:.0} % of it), clock advanced {:?}",
        100.0 * moto_cpu / job_wall.as_secs_f64(),
        clock.now().duration_since(t0)
    );
    let (messages, seen) = tokio::time::timeout(Duration::from_secs(60), consumer)
        .await
        .expect("every event is received within a minute")
        .expect("consumer");
    // One Completed notification per object, and nothing else.
    assert_eq!(messages, OBJECTS);
    assert_eq!(seen.len(), OBJECTS);
    assert!(seen.values().all(|n| *n == 1));
    assert!(objects.iter().all(|o| seen.contains_key(o)));

    let info = sim.describe_job(&batch_id).await.expect("describe");
    assert_eq!(info.status, BatchJobStatus::Complete);
    assert_eq!(
        (info.tasks_total, info.tasks_succeeded),
        (OBJECTS as u64, OBJECTS as u64)
    );
    let records = sim.restores(&batch_id).expect("restores");
    assert_eq!(records.len(), OBJECTS);
    let (low, high) = restore_window(StorageClass::DeepArchive, Tier::Bulk);
    for r in &records {
        assert_eq!(r.outcome, RestoreOutcome::Completed, "{}", r.object);
        let took = r.completes_at.duration_since(r.task_at);
        assert!(took >= low && took <= high, "{} took {took:?}", r.object);
    }
    let last = records
        .iter()
        .map(|r| r.completes_at)
        .max()
        .expect("a restore");
    assert!(last > add(t0, SignedDuration::from_hours(40)), "{last}");
    assert!(clock.now() >= last);
}
