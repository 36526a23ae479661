//! Whole jobs on the local stack, in virtual time, on one moto server shared by this
//! test binary (each scenario has its own stack prefix and data buckets). Each test
//! checks the exact events published, in order, their fields, and what the tables hold
//! at the end. A client token fixes each job's id, and with it every draw of the
//! simulator, so the sequences below are the same on every run.

use std::collections::{BTreeMap, HashSet};
use std::time::Instant;

use gbr_core::event::BulkEvent;
use gbr_core::object_id::{ObjectId, percent_encode_key};
use gbr_core::ports::Tally;
use gbr_core::request::{StorageClass, Tier};
use gbr_core::restore_event::encode::{self, EventBridgeKeys, RestoreFacts};
use gbr_core::status::{BatchJobStatus, JobStatus};
use gbr_e2e::*;
use gbr_local::ExecutionStatus;
use gbr_local::engine::clock::format_timestamp;
use gbr_local::run::{ManifestUpload, RunOutcome, run_job};
use gbr_local::scenario::{InitialState, SetupRow};
use gbr_local::simulator::{BatchOutcome, RestoreOutcome, SimOptions};
use gbr_local::stack::LocalStack;
use serde_json::json;

async fn run(options: gbr_local::run::RunOptions) -> RunOutcome {
    run_job(&services(), options, |_| {})
        .await
        .unwrap_or_else(|e| panic!("the run failed: {e}"))
}

fn report(name: &str, started: Instant, events: &[BulkEvent]) {
    println!(
        "{name}: {:?} in {:.1} s wall time",
        sequence(events),
        started.elapsed().as_secs_f64()
    );
}

async fn record(stack: &LocalStack, job_id: &str) -> gbr_core::job::JobRecord {
    stack
        .ports
        .jobs
        .get(job_id)
        .await
        .expect("read the job")
        .expect("the job exists")
}

async fn tally(stack: &LocalStack, job_id: &str) -> Tally {
    stack.ports.jobs.tally(job_id).await.expect("tally")
}

/// The job's rows still `requested`, as keys.
async fn pending_keys(stack: &LocalStack, job_id: &str) -> Vec<String> {
    let page = stack
        .ports
        .objects
        .pending(job_id, None, 1000)
        .await
        .expect("pending rows");
    assert_eq!(page.next, None);
    let mut keys: Vec<String> = page.items.iter().map(|o| o.key().to_owned()).collect();
    keys.sort();
    keys
}

fn count(rows: &[(&str, &str, usize)]) -> BTreeMap<(String, String), usize> {
    rows.iter()
        .map(|(job, state, n)| (((*job).to_owned(), (*state).to_owned()), *n))
        .collect()
}

fn assert_succeeded(outcome: &RunOutcome) {
    assert_eq!(
        outcome.execution.status,
        ExecutionStatus::Succeeded,
        "{:?}",
        outcome.execution
    );
}

fn setup(bucket: &str, key: &str, class: &str, state: InitialState) -> SetupRow {
    SetupRow {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        storage_class: class.to_owned(),
        state,
        size_bytes: None,
    }
}

/// Scenario 1: every restore event is delivered three times (moto's notification, the
/// simulator's duplicate, and a copy this test sends), in any order; each object is
/// counted once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn complete_with_every_restore_event_delivered_three_times_and_reordered() {
    let started = Instant::now();
    const N: usize = 30;
    let prefix = "e2e-triple";
    let bucket = "e2e-triple-data";
    let mut manual = Manual::start(
        prefix,
        &[bucket],
        SimOptions {
            seed: 11,
            duplicate_rate: 1.0,
            reorder: true,
            ..SimOptions::default()
        },
    )
    .await;
    let prepared = manual
        .prepare(&manifest(bucket, "t", 0..N), StorageClass::Glacier, &[])
        .await;
    manual.upload("m.csv", &prepared.manifest).await;
    let job = manual
        .create(
            "m.csv",
            Tier::Standard,
            StorageClass::Glacier,
            prefix,
            "e2e-triple-token",
        )
        .await;
    let mut copied = HashSet::new();
    let job_id = job.clone();
    let outcome = manual
        .run(&[&job], true, async |stack: &LocalStack| {
            let Some(batch) = stack
                .ports
                .jobs
                .get(&job_id)
                .await
                .expect("get the job")
                .and_then(|r| r.batch_job_id)
            else {
                return;
            };
            for (i, r) in stack
                .simulator
                .restores(&batch)
                .expect("restores")
                .iter()
                .enumerate()
            {
                let done = matches!(
                    r.outcome,
                    RestoreOutcome::Completed | RestoreOutcome::Duplicated
                );
                if done && copied.insert(i) {
                    let time = format_timestamp(r.completes_at);
                    let record = encode::s3_record(&RestoreFacts {
                        time: &time,
                        ..encode::facts_for(&r.object)
                    });
                    send_restore_message(stack, &encode::s3_notification(vec![record])).await;
                }
            }
        })
        .await;
    let stack = &manual.stack;
    let events = outcome.of(&job);
    report("triple", started, &events);
    assert_eq!(outcome.events.len(), events.len());
    let record = record(stack, &job).await;
    let batch = record.batch_job_id.clone().expect("a batch job");
    check_events(
        &events,
        &Expected {
            job_id: &job,
            batch_job_id: Some(&batch),
            client_tag: prefix,
            total: N as u64,
            excluded: 0,
            restored: N as u64,
        },
    );
    assert_eq!(sequence(&events), TRIPLE);
    // Every restore happened, and its event went out three times.
    let restores = stack.simulator.restores(&batch).expect("restores");
    assert_eq!(restores.len(), N);
    assert!(
        restores
            .iter()
            .all(|r| r.outcome == RestoreOutcome::Duplicated),
        "{restores:?}"
    );
    assert_eq!(outcome.drained.messages, 3 * N as u64);
    assert_eq!(outcome.drained.failures, 0);
    // Events came in another order than the tasks ran.
    let mut by_time = restores.clone();
    by_time.sort_by_key(|r| r.completes_at);
    assert_ne!(
        by_time.iter().map(|r| &r.object).collect::<Vec<_>>(),
        restores.iter().map(|r| &r.object).collect::<Vec<_>>()
    );
    // Counted once each, even the copies that came after Complete.
    assert_eq!(record.status, JobStatus::Complete);
    assert_eq!(record.objects_total, Some(N as u64));
    assert_eq!(
        tally(stack, &job).await,
        Tally {
            restored: N as u64,
            excluded: 0
        }
    );
    let rows = object_rows(stack).await;
    assert_eq!(states(&rows), count(&[(&job, "restored", N)]));
    assert!(stack.progress().take().await.expect("progress").is_empty());
    assert_eq!(
        queue_depth(stack, &stack.endpoints.restore_queue_url).await,
        0
    );
    assert_eq!(
        queue_depth(stack, &stack.endpoints.dead_letter_queue_url).await,
        0
    );
}

const TRIPLE: &[&str] = &[
    "Restoring 10",
    "Restoring 20",
    "Restoring 30",
    "Restoring 46",
    "Restoring 56",
    "Restoring 60",
    "Restoring 70",
    "Restoring 80",
    "Restoring 90",
    "Complete 100",
];

/// Scenario 2: objects not in an archive class and objects that do not exist fail
/// their batch tasks; they are `FailedBatchFiles`, and the job still completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn complete_with_failed_batch_files_for_objects_not_archived_or_missing() {
    let started = Instant::now();
    const N: usize = 20;
    let prefix = "e2e-excluded";
    let bucket = "e2e-excluded-data";
    let key = |i: usize| format!("x-{i:05}");
    let mut options = options(prefix, manifest(bucket, "x", 0..N), SimOptions::default());
    options.setup = vec![
        setup(bucket, &key(3), "STANDARD", InitialState::Archived),
        setup(bucket, &key(7), "STANDARD", InitialState::Archived),
        setup(bucket, &key(11), "STANDARD", InitialState::Archived),
        setup(bucket, &key(5), "GLACIER", InitialState::Missing),
        setup(bucket, &key(15), "GLACIER", InitialState::Missing),
    ];
    let outcome = run(options).await;
    report("excluded", started, &outcome.events);
    assert_succeeded(&outcome);
    let stack = &outcome.stack;
    let job = &outcome.job_id;
    let record = record(stack, job).await;
    let batch = record.batch_job_id.clone().expect("a batch job");
    check_events(
        &outcome.events,
        &Expected {
            job_id: job,
            batch_job_id: Some(&batch),
            client_tag: prefix,
            total: N as u64,
            excluded: 5,
            restored: 15,
        },
    );
    assert_eq!(sequence(&outcome.events), EXCLUDED);
    assert_eq!(record.status, JobStatus::Complete);
    assert_eq!(record.batch_status, Some(BatchJobStatus::Complete));
    assert!(record.report_processed);
    assert_eq!(
        tally(stack, job).await,
        Tally {
            restored: 15,
            excluded: 5
        }
    );
    let rows = object_rows(stack).await;
    assert_eq!(
        states(&rows),
        count(&[(job, "excluded", 5), (job, "restored", 15)])
    );
    let excluded: Vec<&str> = rows
        .iter()
        .filter(|r| r.state == "excluded")
        .map(|r| r.key.as_str())
        .collect();
    assert_eq!(excluded, [key(3), key(5), key(7), key(11), key(15)]);
}

const EXCLUDED: &[&str] = &["Restoring 25", "Restoring 70", "Complete 100"];

/// Scenario 2c: the objects are named by an S3 Inventory report, written as S3
/// Inventory writes one (manifest.json, gzipped CSV data files with `StorageClass` and
/// `Size`), that mixes GLACIER, DEEP_ARCHIVE and classes needing no restore: only the
/// archived objects are restored, and TotalFiles counts only them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn complete_from_an_inventory_report_restoring_only_archived_objects() {
    let started = Instant::now();
    const N: usize = 600;
    let prefix = "e2e-inventory";
    let bucket = "e2e-inventory-data";
    let key = |i: usize| format!("i-{i:05}");
    let mut options = options(prefix, manifest(bucket, "i", 0..N), SimOptions::default());
    options.storage_class = StorageClass::DeepArchive;
    options.upload = ManifestUpload::Inventory;
    // Every fifth object needs no restore; every seventh archived one is in Deep Archive.
    options.setup = (0..N)
        .filter_map(|i| {
            let class = match i {
                _ if i % 10 == 0 => "STANDARD",
                _ if i % 5 == 0 => "GLACIER_IR",
                _ if i % 7 == 0 => "DEEP_ARCHIVE",
                _ => return None,
            };
            Some(setup(bucket, &key(i), class, InitialState::Archived))
        })
        .collect();
    let skipped = (0..N).filter(|i| i % 5 == 0).count() as u64;
    let archived = N as u64 - skipped;
    let outcome = run(options).await;
    report("inventory", started, &outcome.events);
    assert_succeeded(&outcome);
    let stack = &outcome.stack;
    let job = &outcome.job_id;
    let record = record(stack, job).await;
    let batch = record.batch_job_id.clone().expect("a batch job");
    check_events(
        &outcome.events,
        &Expected {
            job_id: job,
            batch_job_id: Some(&batch),
            client_tag: prefix,
            total: archived,
            excluded: 0,
            restored: archived,
        },
    );
    assert_eq!(record.status, JobStatus::Complete);
    assert_eq!(record.objects_total, Some(archived));
    assert_eq!(record.objects_skipped, Some(skipped));
    let written = record.batch_manifest.clone().expect("a written manifest");
    assert!(
        written.key.ends_with(&format!("manifests/{job}.csv")),
        "{}",
        written.key
    );
    let rows = object_rows(stack).await;
    assert_eq!(
        states(&rows),
        count(&[(job, "restored", archived as usize)])
    );
    assert!(
        rows.iter().all(|r| {
            let i: usize = r.key[2..].parse().unwrap();
            i % 5 != 0
        }),
        "no object that needs no restore was registered"
    );
}

/// Objects of a bucket for a restore by filter: under the prefix `photos/2019/` and
/// beside it (`photos/2020/`, and `photos/2019-x/`, which shares its first characters),
/// archived or not. Answers the manifest listing them all (for the set-up) and the
/// set-up rows giving each its class.
fn filter_bucket(bucket: &str, n: usize) -> (String, Vec<SetupRow>) {
    let mut manifest = String::new();
    let mut rows = Vec::new();
    for i in 0..n {
        let folder = match i % 5 {
            3 => "photos/2020",
            4 => "photos/2019-x",
            _ => "photos/2019",
        };
        let key = format!("{folder}/p {i:04}.tif");
        let class = match i {
            _ if i % 11 == 0 => "STANDARD",
            _ if i % 13 == 0 => "GLACIER_IR",
            _ if i % 7 == 0 => "DEEP_ARCHIVE",
            _ => "GLACIER",
        };
        manifest.push_str(&format!("{bucket},{}\r\n", percent_encode_key(&key)));
        rows.push(setup(bucket, &key, class, InitialState::Archived));
    }
    (manifest, rows)
}

fn in_2019(key: &str) -> bool {
    key.starts_with("photos/2019/")
}

fn archived(row: &SetupRow) -> bool {
    matches!(row.storage_class.as_str(), "GLACIER" | "DEEP_ARCHIVE")
}

/// Scenario 2c: a restore by prefix, with no list: S3's manifest generator (simulated)
/// lists the bucket, and only the archived objects under the prefix are restored. The
/// estimate, asked first, counts the same objects and names what it skips.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn complete_by_prefix_restoring_only_the_archived_objects_under_it() {
    let started = Instant::now();
    let prefix = "e2e-prefix";
    let bucket = "e2e-prefix-data";
    let (manifest, rows) = filter_bucket(bucket, 300);
    let selected = rows
        .iter()
        .filter(|r| in_2019(&r.key) && archived(r))
        .count() as u64;
    let not_archived = rows
        .iter()
        .filter(|r| in_2019(&r.key) && !archived(r))
        .count() as u64;
    let mut options = options(prefix, manifest, SimOptions::default());
    options.setup = rows;
    options.storage_class = StorageClass::DeepArchive;
    options.upload =
        ManifestUpload::Filter(json!({"bucket": bucket, "prefixes": ["photos/2019/"]}));
    let outcome = run(options).await;
    report("prefix", started, &outcome.events);
    assert_succeeded(&outcome);
    let estimate = outcome.estimate.clone().expect("an estimate");
    assert_eq!(estimate["objects"], selected);
    assert_eq!(estimate["skipped"], not_archived);
    assert!(estimate["bytes"].as_u64().is_some(), "{estimate}");
    let stack = &outcome.stack;
    let job = &outcome.job_id;
    let record = record(stack, job).await;
    let batch = record.batch_job_id.clone().expect("a batch job");
    check_events(
        &outcome.events,
        &Expected {
            job_id: job,
            batch_job_id: Some(&batch),
            client_tag: prefix,
            total: selected,
            excluded: 0,
            restored: selected,
        },
    );
    assert_eq!(record.status, JobStatus::Complete);
    assert_eq!(record.objects_total, Some(selected));
    let list = record.batch_manifest.clone().expect("the generated list");
    assert!(
        list.key.contains(&format!("generated/{job}")),
        "{}",
        list.key
    );
    let registered = object_rows(stack).await;
    assert_eq!(registered.len() as u64, selected);
    assert!(
        registered.iter().all(|r| in_2019(&r.key)),
        "only objects under the prefix were registered"
    );
    // The batch job waited, held, while the list was registered.
    let statuses: Vec<BatchJobStatus> = stack
        .simulator
        .status_history(&batch)
        .unwrap()
        .iter()
        .map(|c| c.status)
        .collect();
    assert_eq!(
        statuses[..4],
        [
            BatchJobStatus::New,
            BatchJobStatus::Preparing,
            BatchJobStatus::Suspended,
            BatchJobStatus::Ready
        ]
    );
}

/// Scenario 2d: restores that complete within seconds of their tasks, right after the
/// list is generated: every object is registered before the batch job runs, so each
/// event finds its object, and the job completes from events alone, with no
/// reconciliation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generated_list_whose_restores_complete_at_once_loses_no_event() {
    let started = Instant::now();
    let prefix = "e2e-quick";
    let bucket = "e2e-quick-data";
    let (manifest, rows) = filter_bucket(bucket, 200);
    let selected = rows.iter().filter(|r| archived(r)).count() as u64;
    let simulator = SimOptions {
        restore_within: Some(std::time::Duration::from_secs(2)),
        reorder: true,
        ..SimOptions::default()
    };
    let mut options = options(prefix, manifest, simulator);
    options.setup = rows;
    options.upload = ManifestUpload::Filter(json!({"bucket": bucket}));
    let outcome = run(options).await;
    report("quick", started, &outcome.events);
    assert_succeeded(&outcome);
    let stack = &outcome.stack;
    let job = &outcome.job_id;
    let record = record(stack, job).await;
    assert_eq!(record.status, JobStatus::Complete);
    assert_eq!(record.objects_total, Some(selected));
    assert!(
        !record.reconciled,
        "every restore was counted from its event"
    );
    assert_eq!(tally(stack, job).await.restored, selected);
    let batch = record.batch_job_id.clone().expect("a batch job");
    let history = stack.simulator.status_history(&batch).unwrap();
    let ready = history
        .iter()
        .find(|c| c.status == BatchJobStatus::Ready)
        .expect("confirmed")
        .at;
    let restores = stack.simulator.restores(&batch).unwrap();
    assert_eq!(restores.len() as u64, selected);
    assert!(restores.iter().all(|r| r.task_at >= ready));
    assert!(
        restores
            .iter()
            .all(|r| r.completes_at <= r.task_at + jiff::SignedDuration::from_secs(2)),
        "restores came back within seconds"
    );
}

/// Scenario 2b: scenario 2 with awkward keys (spaces, `+`, `%`, non-ASCII), once for
/// each way restore events may arrive: EventBridge events with keys form-encoded or
/// as they are (AWS documents neither), and S3 event notifications. Every restored
/// object is counted from its event, and the excluded ones from the report.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn excluded_objects_and_awkward_keys_in_every_event_shape() {
    use gbr_local::simulator::RestoreEvents;
    let names = ["a b", "a+b", "100% done", "café ✓", "東京/写真", "x%2By"];
    for (shape, events) in [
        (
            "eb-encoded",
            RestoreEvents::EventBridge(EventBridgeKeys::Encoded),
        ),
        ("eb-raw", RestoreEvents::EventBridge(EventBridgeKeys::Raw)),
        ("s3", RestoreEvents::S3Notifications),
    ] {
        let started = Instant::now();
        let prefix = format!("e2e-shape-{shape}");
        let bucket = format!("{prefix}-data");
        let keys: Vec<String> = (0..12)
            .map(|i| format!("{} {i:02}.bin", names[i % names.len()]))
            .collect();
        let manifest: String = keys
            .iter()
            .map(|k| format!("{bucket},{}\r\n", percent_encode_key(k)))
            .collect();
        let mut options = options(
            &prefix,
            manifest,
            SimOptions {
                seed: 21,
                restore_events: events,
                reorder: true,
                ..SimOptions::default()
            },
        );
        options.setup = vec![
            setup(&bucket, &keys[1], "STANDARD", InitialState::Archived),
            setup(&bucket, &keys[8], "GLACIER", InitialState::Missing),
        ];
        let outcome = run(options).await;
        report(&prefix, started, &outcome.events);
        assert_succeeded(&outcome);
        let stack = &outcome.stack;
        let job = &outcome.job_id;
        let record = record(stack, job).await;
        assert_eq!(record.status, JobStatus::Complete, "{shape}");
        assert!(
            !record.reconciled,
            "{shape}: counted from events, not reconciled"
        );
        assert_eq!(
            tally(stack, job).await,
            Tally {
                restored: 10,
                excluded: 2
            },
            "{shape}"
        );
        let last = outcome.events.last().expect("a terminal event");
        assert_eq!(
            (last.status.as_str(), last.failed_batch_files.as_str()),
            ("Complete", "2"),
            "{shape}"
        );
        let mut excluded: Vec<String> = object_rows(stack)
            .await
            .into_iter()
            .filter(|r| r.state == "excluded")
            .map(|r| r.key)
            .collect();
        excluded.sort();
        let mut want = vec![keys[1].clone(), keys[8].clone()];
        want.sort();
        assert_eq!(excluded, want, "{shape}");
    }
}

/// Scenario 4c: a fifth of the restores happen but their events are lost. At the
/// deadline, reconciliation finds each of them restored: Complete, not Timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_events_are_recovered_by_reconciliation() {
    let started = Instant::now();
    const N: usize = 30;
    let prefix = "e2e-lost";
    let bucket = "e2e-lost-data";
    let mut options = options(
        prefix,
        manifest(bucket, "l", 0..N),
        SimOptions {
            seed: 8,
            lose_event_rate: 0.2,
            reorder: true,
            ..SimOptions::default()
        },
    );
    options.request_extra["deadline_hours"] = json!(6);
    let outcome = run(options).await;
    report("lost events", started, &outcome.events);
    assert_succeeded(&outcome);
    let stack = &outcome.stack;
    let job = &outcome.job_id;
    let record = record(stack, job).await;
    let batch = record.batch_job_id.clone().expect("a batch job");
    let lost = stack
        .simulator
        .restores(&batch)
        .expect("restores")
        .iter()
        .filter(|r| r.outcome == RestoreOutcome::EventLost)
        .count();
    println!("lost events: {lost} of {N}");
    assert!(lost > 0, "no event was lost");
    assert!(record.reconciled, "the deadline's reconciliation ran");
    assert_eq!(record.status, JobStatus::Complete);
    let last = outcome.events.last().expect("a terminal event");
    assert_eq!(last.status, "Complete");
    assert_eq!(last.restored_files, N.to_string());
    let at: jiff::Timestamp = last.timestamp.parse().expect("a timestamp");
    assert!(at >= record.deadline, "found only at the deadline");
}

/// Scenario 3: objects restored before the job send no new event (S3 answers 200 to
/// their restore requests); the completion report accounts for them, so the job
/// completes instead of timing out. One object is already being restored by someone
/// else (409): its restore completes during the job and sends its event then.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn complete_when_some_objects_were_restored_before_the_job() {
    let started = Instant::now();
    const N: usize = 20;
    let prefix = "e2e-prior";
    let bucket = "e2e-prior-data";
    let key = |i: usize| format!("p-{i:05}");
    let mut options = options(prefix, manifest(bucket, "p", 0..N), SimOptions::default());
    options.setup = (0..4)
        .map(|i| setup(bucket, &key(i * 5), "GLACIER", InitialState::Restored))
        .chain([setup(bucket, &key(1), "GLACIER", InitialState::Restoring)])
        .collect();
    let outcome = run(options).await;
    report("prior", started, &outcome.events);
    assert_succeeded(&outcome);
    let stack = &outcome.stack;
    let job = &outcome.job_id;
    let record = record(stack, job).await;
    let batch = record.batch_job_id.clone().expect("a batch job");
    check_events(
        &outcome.events,
        &Expected {
            job_id: job,
            batch_job_id: Some(&batch),
            client_tag: prefix,
            total: N as u64,
            excluded: 0,
            restored: N as u64,
        },
    );
    assert_eq!(sequence(&outcome.events), PRIOR);
    assert!(
        outcome
            .events
            .iter()
            .all(|e| e.status != JobStatus::Timeout.as_str())
    );
    assert_eq!(record.status, JobStatus::Complete);
    assert!(!record.reconciled, "no reconciliation was needed");
    assert_eq!(
        tally(stack, job).await,
        Tally {
            restored: N as u64,
            excluded: 0
        }
    );
    assert_eq!(
        states(&object_rows(stack).await),
        count(&[(job, "restored", N)])
    );
    // The batch job started 15 restores and took over the one under way.
    let restores = stack.simulator.restores(&batch).expect("restores");
    assert_eq!(restores.len(), 16);
}

const PRIOR: &[&str] = &[
    "Restoring 20",
    "Restoring 55",
    "Restoring 65",
    "Complete 100",
];

/// Scenario 4: a quarter of the restores never happen, so those objects stay archived;
/// at the deadline the stragglers are checked one by one (still archived) and the job
/// ends as Timeout with the share restored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_when_events_are_dropped_and_objects_stay_archived() {
    let started = Instant::now();
    const N: usize = 20;
    let prefix = "e2e-timeout";
    let bucket = "e2e-timeout-data";
    let mut options = options(
        prefix,
        manifest(bucket, "d", 0..N),
        SimOptions {
            seed: 4,
            drop_rate: 0.25,
            reorder: true,
            ..SimOptions::default()
        },
    );
    options.request_extra["deadline_hours"] = json!(6);
    let outcome = run(options).await;
    report("timeout", started, &outcome.events);
    assert_succeeded(&outcome);
    let stack = &outcome.stack;
    let job = &outcome.job_id;
    let record = record(stack, job).await;
    let batch = record.batch_job_id.clone().expect("a batch job");
    let restores = stack.simulator.restores(&batch).expect("restores");
    let mut dropped: Vec<String> = restores
        .iter()
        .filter(|r| r.dropped)
        .map(|r| r.object.key().to_owned())
        .collect();
    dropped.sort();
    let missing = dropped.len() as u64;
    assert_eq!(missing, TIMEOUT_DROPPED);
    check_events(
        &outcome.events,
        &Expected {
            job_id: job,
            batch_job_id: Some(&batch),
            client_tag: prefix,
            total: N as u64,
            excluded: 0,
            restored: N as u64 - missing,
        },
    );
    assert_eq!(sequence(&outcome.events), TIMEOUT);
    let last = outcome.events.last().expect("a terminal event");
    println!("timeout reason: {}", last.reason);
    assert!(last.reason.contains(TIMEOUT_REASON), "{}", last.reason);
    assert!(
        last.reason.contains(&record.deadline.to_string()),
        "{}",
        last.reason
    );
    assert_eq!(record.status, JobStatus::Timeout);
    assert!(record.reconciled);
    assert_eq!(
        tally(stack, job).await,
        Tally {
            restored: N as u64 - missing,
            excluded: 0
        }
    );
    assert_eq!(pending_keys(stack, job).await, dropped);
    assert_eq!(
        states(&object_rows(stack).await),
        count(&[
            (job, "requested", missing as usize),
            (job, "restored", N - missing as usize)
        ])
    );
    // Declared at the deadline, not before.
    let at: jiff::Timestamp = last.timestamp.parse().expect("a timestamp");
    assert!(at >= record.deadline, "{at} is before {}", record.deadline);
}

const TIMEOUT: &[&str] = &[
    "Restoring 15",
    "Restoring 25",
    "Restoring 30",
    "Restoring 40",
    "Restoring 50",
    "Restoring 60",
    "Restoring 70",
    "Restoring 80",
    "Timeout 80",
];
const TIMEOUT_DROPPED: u64 = 4;
const TIMEOUT_REASON: &str = "4 of 20 objects were not restored by the deadline";

/// Scenario 4b: every object is restored well before the deadline, but the batch job
/// stays Active for hours after its last task (backed up behind other jobs). Past the
/// deadline nothing the user asked for is missing: the job is Complete, not Timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn complete_past_the_deadline_when_only_the_batch_job_is_late() {
    let started = Instant::now();
    const N: usize = 10;
    let prefix = "e2e-late";
    let bucket = "e2e-late-data";
    let mut options = options(
        prefix,
        manifest(bucket, "l", 0..N),
        SimOptions {
            seed: 5,
            finish_delay: std::time::Duration::from_secs(10 * 3600),
            ..SimOptions::default()
        },
    );
    // Glacier Standard restores take at most 5 h.
    options.request_extra["deadline_hours"] = json!(6);
    let outcome = run(options).await;
    report("late batch job", started, &outcome.events);
    assert_succeeded(&outcome);
    let stack = &outcome.stack;
    let job = &outcome.job_id;
    let record = record(stack, job).await;
    let last = outcome.events.last().expect("a terminal event");
    assert_eq!(sequence(&outcome.events).last().unwrap(), "Complete 100");
    assert_eq!(last.reason, "");
    let at: jiff::Timestamp = last.timestamp.parse().expect("a timestamp");
    assert!(at >= record.deadline, "{at} is before {}", record.deadline);
    assert_eq!(record.status, JobStatus::Complete);
    assert_ne!(record.batch_status, Some(BatchJobStatus::Complete));
    println!(
        "late batch job: Complete at {at}, deadline {}, batch job {:?}",
        record.deadline, record.batch_status
    );
    assert_eq!(
        tally(stack, job).await,
        Tally {
            restored: N as u64,
            excluded: 0
        }
    );
}

/// The Failed event of a job whose manifest could not be registered: no batch job.
async fn failed_before_the_batch_job(prefix: &str, upload: ManifestUpload) -> BulkEvent {
    let started = Instant::now();
    let bucket = format!("{prefix}-data");
    let mut options = options(prefix, manifest(&bucket, "f", 0..5), SimOptions::default());
    options.upload = upload;
    let outcome = run(options).await;
    report(prefix, started, &outcome.events);
    let stack = &outcome.stack;
    let job = &outcome.job_id;
    check_events(
        &outcome.events,
        &Expected {
            job_id: job,
            batch_job_id: None,
            client_tag: prefix,
            total: 0,
            excluded: 0,
            restored: 0,
        },
    );
    assert_eq!(sequence(&outcome.events), ["Failed 0"]);
    let record = record(stack, job).await;
    assert_eq!(record.status, JobStatus::Failed);
    assert_eq!(record.batch_job_id, None);
    assert_eq!(
        record.failure_reason.as_deref(),
        Some(outcome.events[0].reason.as_str())
    );
    assert_eq!(tally(stack, job).await, Tally::default());
    assert!(object_rows(stack).await.is_empty());
    assert_eq!(outcome.execution.status, ExecutionStatus::Failed);
    outcome.events[0].clone()
}

/// Scenario 5a: the manifest the request names does not exist: create-job refuses it
/// at once, naming it, and no job runs. (A manifest deleted after create-job checked
/// it fails the job with `ManifestUnreadable`: tested in core and the handlers.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_manifest_is_refused_at_create() {
    let prefix = "e2e-nomanifest";
    let mut options = options(
        prefix,
        manifest(&format!("{prefix}-data"), "f", 0..5),
        SimOptions::default(),
    );
    options.upload = ManifestUpload::Nothing;
    let err = run_job(&services(), options, |_| {}).await.err();
    let Some(gbr_local::run::RunError::CreateJob { status, body, .. }) = err else {
        panic!("expected create-job to refuse the job, got {err:?}");
    };
    println!("missing manifest answer: {status} {body}");
    assert_eq!(status, 400);
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["error"], "ManifestNotFound");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("s3://e2e-nomanifest-manifests/manifests/manifest.csv does not exist"),
        "{body}"
    );
}

/// Scenario 5b: the manifest's third line is not `bucket,key[,version]`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_when_the_manifest_is_malformed() {
    let bad = "e2e-badmanifest-data,f-00000\r\ne2e-badmanifest-data,f-00001\r\ne2e-badmanifest-data\r\ne2e-badmanifest-data,f-00003\r\n";
    let event =
        failed_before_the_batch_job("e2e-badmanifest", ManifestUpload::Raw(bad.into())).await;
    println!("malformed manifest reason: {}", event.reason);
    assert!(event.reason.contains("line 3"), "{}", event.reason);
    assert!(event.reason.contains(MALFORMED_REASON), "{}", event.reason);
}

const MALFORMED_REASON: &str =
    "ManifestMalformed: the manifest has 1 malformed line(s); line 3: has 1 fields";

/// Scenario 5c: the batch job fails half way through its tasks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_when_the_batch_job_fails() {
    let started = Instant::now();
    const N: usize = 20;
    let prefix = "e2e-batchfail";
    let outcome = run(options(
        prefix,
        manifest("e2e-batchfail-data", "b", 0..N),
        SimOptions {
            batch_outcome: BatchOutcome::Failed,
            ..SimOptions::default()
        },
    ))
    .await;
    report("batch failed", started, &outcome.events);
    let stack = &outcome.stack;
    let job = &outcome.job_id;
    let record = record(stack, job).await;
    let batch = record.batch_job_id.clone().expect("a batch job");
    let last = outcome.events.last().expect("an event").clone();
    check_events(
        &outcome.events,
        &Expected {
            job_id: job,
            batch_job_id: Some(&batch),
            client_tag: prefix,
            total: N as u64,
            excluded: BATCH_FAILED_COUNTS.1,
            restored: BATCH_FAILED_COUNTS.0,
        },
    );
    assert_eq!(sequence(&outcome.events), BATCH_FAILED);
    // Names the batch job and carries S3's FailureReasons (here the simulator's, after
    // half of the tasks), which say what a person can act on.
    assert_eq!(
        last.reason,
        format!(
            "the batch job {batch} failed: SimulatedFailure: the simulator was asked to fail this job, after {} of {N} tasks",
            N / 2
        )
    );
    assert_eq!(record.status, JobStatus::Failed);
    assert_eq!(record.batch_status, Some(BatchJobStatus::Failed));
    assert_eq!(record.failure_reason.as_deref(), Some(last.reason.as_str()));
    assert_eq!(
        tally(stack, job).await,
        Tally {
            restored: BATCH_FAILED_COUNTS.0,
            excluded: BATCH_FAILED_COUNTS.1
        }
    );
    // The restores its tasks started go on, but this job no longer counts them.
    assert_eq!(
        states(&object_rows(stack).await),
        count(&[(job, "requested", N)])
    );
}

const BATCH_FAILED: &[&str] = &["Failed 0"];
const BATCH_FAILED_COUNTS: (u64, u64) = (0, 0);

/// Scenario 6: the batch job is cancelled half way through its tasks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_when_the_batch_job_is_cancelled() {
    let started = Instant::now();
    const N: usize = 20;
    let prefix = "e2e-cancel";
    let outcome = run(options(
        prefix,
        manifest("e2e-cancel-data", "c", 0..N),
        SimOptions {
            batch_outcome: BatchOutcome::Cancelled,
            ..SimOptions::default()
        },
    ))
    .await;
    report("cancelled", started, &outcome.events);
    assert_succeeded(&outcome);
    let stack = &outcome.stack;
    let job = &outcome.job_id;
    let record = record(stack, job).await;
    let batch = record.batch_job_id.clone().expect("a batch job");
    let last = outcome.events.last().expect("an event").clone();
    check_events(
        &outcome.events,
        &Expected {
            job_id: job,
            batch_job_id: Some(&batch),
            client_tag: prefix,
            total: N as u64,
            excluded: CANCELLED_COUNTS.1,
            restored: CANCELLED_COUNTS.0,
        },
    );
    assert_eq!(sequence(&outcome.events), CANCELLED);
    println!("cancelled reason: {}", last.reason);
    assert_eq!(record.status, JobStatus::Cancelled);
    assert_eq!(record.batch_status, Some(BatchJobStatus::Cancelled));
    assert_eq!(
        tally(stack, job).await,
        Tally {
            restored: CANCELLED_COUNTS.0,
            excluded: CANCELLED_COUNTS.1
        }
    );
    // The restores the batch job started go on, but this job no longer counts them.
    assert_eq!(
        states(&object_rows(stack).await),
        count(&[(job, "requested", N)])
    );
    assert_eq!(last.reason, "", "no reason: not cancelled through the API");
}

const CANCELLED: &[&str] = &["Cancelled 0"];
const CANCELLED_COUNTS: (u64, u64) = (0, 0);

/// Scenario 7: two jobs at once on one stack, their manifests sharing ten objects. One
/// restore (and one event) per object serves both jobs; each job counts each of its
/// objects once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_jobs_sharing_objects_both_complete() {
    let started = Instant::now();
    let prefix = "e2e-shared";
    let bucket = "e2e-shared-data";
    let mut manual = Manual::start(
        prefix,
        &[bucket],
        SimOptions {
            seed: 7,
            reorder: true,
            ..SimOptions::default()
        },
    )
    .await;
    // Objects 0..30: job A restores 0..20, job B 10..30.
    manual
        .prepare(&manifest(bucket, "s", 0..30), StorageClass::Glacier, &[])
        .await;
    manual.upload("a.csv", &manifest(bucket, "s", 0..20)).await;
    manual.upload("b.csv", &manifest(bucket, "s", 10..30)).await;
    let (tag_a, tag_b) = ("e2e-shared-a", "e2e-shared-b");
    let a = manual
        .create(
            "a.csv",
            Tier::Standard,
            StorageClass::Glacier,
            tag_a,
            "e2e-shared-a-token",
        )
        .await;
    let b = manual
        .create(
            "b.csv",
            Tier::Standard,
            StorageClass::Glacier,
            tag_b,
            "e2e-shared-b-token",
        )
        .await;
    let outcome = manual
        .run(&[&a, &b], false, async |_: &LocalStack| {})
        .await;
    let stack = &manual.stack;
    let both: Vec<String> = outcome
        .events
        .iter()
        .map(|e| {
            let job = if e.job_id == a { "A" } else { "B" };
            format!("{job} {} {}", e.status, e.progress_percent)
        })
        .collect();
    println!(
        "shared: {both:?} in {:.1} s wall time",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(both, SHARED_BOTH);
    let mut restores = 0;
    for (job, tag, expected) in [(&a, tag_a, SHARED_A), (&b, tag_b, SHARED_B)] {
        let record = record(stack, job).await;
        let batch = record.batch_job_id.clone().expect("a batch job");
        let events = outcome.of(job);
        check_events(
            &events,
            &Expected {
                job_id: job,
                batch_job_id: Some(&batch),
                client_tag: tag,
                total: 20,
                excluded: 0,
                restored: 20,
            },
        );
        assert_eq!(sequence(&events), expected, "job {tag}");
        assert_eq!(record.status, JobStatus::Complete);
        assert_eq!(record.objects_total, Some(20));
        assert_eq!(
            tally(stack, job).await,
            Tally {
                restored: 20,
                excluded: 0
            }
        );
        restores += stack.simulator.restores(&batch).expect("restores").len();
    }
    assert_eq!(outcome.events.len(), SHARED_A.len() + SHARED_B.len());
    assert_ne!(a, b);
    // One restore, and one event, per distinct object.
    assert_eq!(restores, 30);
    assert_eq!(outcome.drained.messages, 30);
    assert_eq!(outcome.drained.failures, 0);
    let rows = object_rows(stack).await;
    assert_eq!(
        states(&rows),
        count(&[(&a, "restored", 20), (&b, "restored", 20)])
    );
    let key = |i: usize| format!("s-{i:05}");
    let keys_of = |job: &str| -> Vec<String> {
        rows.iter()
            .filter(|r| r.job_id == job)
            .map(|r| r.key.clone())
            .collect()
    };
    assert_eq!(keys_of(&a), (0..20).map(key).collect::<Vec<_>>());
    assert_eq!(keys_of(&b), (10..30).map(key).collect::<Vec<_>>());
    assert_eq!(
        queue_depth(stack, &stack.endpoints.dead_letter_queue_url).await,
        0
    );
}

const SHARED_A: &[&str] = &[
    "Restoring 10",
    "Restoring 20",
    "Restoring 35",
    "Restoring 40",
    "Restoring 60",
    "Restoring 70",
    "Restoring 85",
    "Restoring 90",
    "Complete 100",
];
const SHARED_B: &[&str] = &[
    "Restoring 20",
    "Restoring 30",
    "Restoring 50",
    "Restoring 60",
    "Restoring 70",
    "Restoring 90",
    "Complete 100",
];
/// Both jobs' events as the subscriber received them.
const SHARED_BOTH: &[&str] = &[
    "A Restoring 10",
    "A Restoring 20",
    "B Restoring 20",
    "A Restoring 35",
    "B Restoring 30",
    "A Restoring 40",
    "A Restoring 60",
    "B Restoring 50",
    "B Restoring 60",
    "B Restoring 70",
    "A Restoring 70",
    "A Restoring 85",
    "B Restoring 90",
    "A Restoring 90",
    "A Complete 100",
    "B Complete 100",
];

/// Scenario 8: restore events for objects no job waits for (a key never created, an
/// object outside the manifest, a bucket no job names; S3 notifications and
/// EventBridge events) arrive throughout a job. The job runs exactly as the same job
/// without them (run alongside, on its own stack): same events, same counters; no row
/// is created for them and nothing goes to the dead-letter queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_events_for_objects_no_job_waits_for_change_nothing() {
    let started = Instant::now();
    const N: usize = 20;
    let token = "e2e-strangers-token";
    let sim = SimOptions {
        seed: 8,
        reorder: true,
        ..SimOptions::default()
    };
    let one = async |prefix: &str, strangers: bool| {
        let bucket = format!("{prefix}-data");
        let mut manual = Manual::start(prefix, &[&bucket], sim.clone()).await;
        let prepared = manual
            .prepare(&manifest(&bucket, "k", 0..N), StorageClass::Glacier, &[])
            .await;
        manual.upload("m.csv", &prepared.manifest).await;
        // An archived object in the job's bucket that the manifest does not name.
        manual
            .prepare(
                &format!("{bucket},outsider\r\n"),
                StorageClass::Glacier,
                &[],
            )
            .await;
        let job = manual
            .create(
                "m.csv",
                Tier::Standard,
                StorageClass::Glacier,
                "e2e-strangers",
                token,
            )
            .await;
        let mut step = 0u32;
        let mut sent = 0u64;
        let outcome = manual
            .run(&[&job], false, async |stack: &LocalStack| {
                step += 1;
                // Every half hour for the first five hours.
                if !strangers || step % 6 != 1 || step > 60 {
                    return;
                }
                let time = format_timestamp(stack.clock.now());
                let id = |bucket: &str, key: &str, version: Option<&str>| {
                    ObjectId::new(bucket, key, version.map(str::to_owned)).expect("an id")
                };
                let record = |object: &ObjectId| {
                    encode::s3_record(&RestoreFacts {
                        time: &time,
                        ..encode::facts_for(object)
                    })
                };
                let records = vec![
                    record(&id(&bucket, &format!("never created {step}"), None)),
                    record(&id(&bucket, "outsider", None)),
                    record(&id("e2e-strangers-elsewhere", "k-00001", Some("v1"))),
                ];
                send_restore_message(stack, &encode::s3_notification(records)).await;
                let elsewhere = id("e2e-strangers-elsewhere", &format!("k-{step:05}"), None);
                let event = encode::eventbridge(
                    &RestoreFacts {
                        time: &time,
                        ..encode::facts_for(&elsewhere)
                    },
                    EventBridgeKeys::Raw,
                );
                send_restore_message(stack, &event).await;
                sent += 2;
            })
            .await;
        (manual, job, outcome, sent)
    };
    let ((with, job, outcome, sent), (without, baseline_job, baseline, _)) =
        tokio::join!(one("e2e-strangers", true), one("e2e-nostrangers", false));
    let stack = &with.stack;
    report("strangers", started, &outcome.events);
    assert_eq!(sent, 20);
    assert_eq!(job, baseline_job, "one token, one job id");
    let record = record(stack, &job).await;
    let batch = record.batch_job_id.clone().expect("a batch job");
    check_events(
        &outcome.events,
        &Expected {
            job_id: &job,
            batch_job_id: Some(&batch),
            client_tag: "e2e-strangers",
            total: N as u64,
            excluded: 0,
            restored: N as u64,
        },
    );
    assert_eq!(sequence(&outcome.events), STRANGERS);
    // The same events as without the strangers, but for when they were sent.
    let untimed = |events: &[BulkEvent]| -> Vec<BulkEvent> {
        events
            .iter()
            .map(|e| BulkEvent {
                timestamp: String::new(),
                ..e.clone()
            })
            .collect()
    };
    assert_eq!(untimed(&outcome.events), untimed(&baseline.events));
    assert_eq!(tally(stack, &job).await, tally(&without.stack, &job).await);
    assert_eq!(
        tally(stack, &job).await,
        Tally {
            restored: N as u64,
            excluded: 0
        }
    );
    // Every stranger was received and handled without a failure.
    assert_eq!(outcome.drained.messages, baseline.drained.messages + sent);
    assert_eq!(baseline.drained.messages, N as u64);
    assert_eq!(outcome.drained.failures, 0);
    let rows = object_rows(stack).await;
    assert_eq!(states(&rows), count(&[(&job, "restored", N)]));
    assert!(
        rows.iter()
            .all(|r| r.bucket == "e2e-strangers-data" && r.key.starts_with("k-")),
        "{rows:?}"
    );
    assert_eq!(
        queue_depth(stack, &stack.endpoints.restore_queue_url).await,
        0
    );
    assert_eq!(
        queue_depth(stack, &stack.endpoints.dead_letter_queue_url).await,
        0
    );
}

const STRANGERS: &[&str] = &[
    "Restoring 10",
    "Restoring 20",
    "Restoring 30",
    "Restoring 45",
    "Restoring 55",
    "Restoring 60",
    "Restoring 75",
    "Restoring 85",
    "Restoring 95",
    "Complete 100",
];
