//! The batch simulator against a real moto server, in virtual time.

mod simulator_support;

use gbr_local::objects::DataObjects;
use gbr_local::queue::RestoreQueue;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use gbr_core::completion_report::TaskStatus;
use gbr_core::object_id::ObjectId;
use gbr_core::ports::{BatchManifest, BatchOperations, PortError};
use gbr_core::request::{StorageClass, Tier};
use gbr_core::status::BatchJobStatus;
use gbr_local::engine::clock::{SimClock, VirtualClock, add};
use gbr_local::simulator::{
    BatchOutcome, BatchSimulator, RestoreKind, RestoreOutcome, RestoreRecord, SimOptions,
    SimulatorTargets, restore_window,
};
use jiff::{SignedDuration, Timestamp};
use simulator_support::*;

const REPORT_PREFIX: &str = "batch-reports";

fn t0() -> Timestamp {
    "2030-01-01T00:00:00Z".parse().expect("timestamp")
}

fn hours(n: i64) -> SignedDuration {
    SignedDuration::from_hours(n)
}

/// A bucket of objects whose restores notify a fresh queue.
struct Scene {
    s3: aws_sdk_s3::Client,
    sqs: aws_sdk_sqs::Client,
    data: String,
    reports: String,
    queue_url: String,
    queue_arn: String,
}

impl Scene {
    async fn new() -> Self {
        let (s3, sqs) = clients().await;
        let data = unique("data");
        let reports = unique("reports");
        create_bucket(&s3, &data).await;
        create_bucket(&s3, &reports).await;
        let (queue_url, queue_arn) = queue(&sqs, &unique("restores")).await;
        Self {
            s3,
            sqs,
            data,
            reports,
            queue_url,
            queue_arn,
        }
    }

    /// Turns notifications on, and empties the queue of S3's test event.
    async fn notify(&self) {
        notify_restores(&self.s3, &self.data, &self.queue_arn).await;
        let before = drain(&self.sqs, &self.queue_url).await;
        assert!(
            restored(&before).is_empty(),
            "restore events before any job: {before:?}"
        );
    }

    /// `n` archived objects named `<prefix>/<i>`.
    async fn archived(&self, prefix: &str, n: usize, class: &str) -> Vec<ObjectId> {
        let mut objects = Vec::new();
        for i in 0..n {
            let key = format!("{prefix}/{i:04}");
            put(&self.s3, &self.data, &key, Some(class)).await;
            objects.push(id(&self.data, &key));
        }
        objects
    }

    fn simulator(&self, clock: &VirtualClock, options: SimOptions) -> BatchSimulator {
        BatchSimulator::new(
            SimulatorTargets {
                s3: self.s3.clone(),
                objects: DataObjects::Moto(self.s3.clone()),
                restore_queue: RestoreQueue::moto(
                    self.sqs.clone(),
                    self.queue_url.clone(),
                    "restores".into(),
                    String::new(),
                    Arc::default(),
                ),
                report_bucket: self.reports.clone(),
                report_prefix: REPORT_PREFIX.into(),
            },
            Arc::new(clock.clone()),
            options,
        )
    }

    /// Uploads a manifest of `objects` and returns the spec of a job on it.
    async fn job(
        &self,
        job_id: &str,
        objects: &[ObjectId],
        tier: Tier,
    ) -> gbr_core::ports::BatchJobSpec {
        let key = format!("manifests/{job_id}.csv");
        let etag = upload_manifest(&self.s3, &self.reports, &key, objects).await;
        spec(job_id, &self.reports, &key, &etag, tier)
    }

    async fn events(&self) -> (Vec<String>, Vec<ObjectId>) {
        let bodies = drain(&self.sqs, &self.queue_url).await;
        let objects = restored(&bodies);
        (bodies, objects)
    }
}

fn statuses(sim: &BatchSimulator, id: &str) -> Vec<BatchJobStatus> {
    let history = sim.status_history(id).expect("history");
    assert!(
        history.windows(2).all(|w| w[0].at <= w[1].at),
        "status instants go backwards: {history:?}"
    );
    history.iter().map(|c| c.status).collect()
}

fn counts(objects: &[ObjectId]) -> HashMap<ObjectId, usize> {
    let mut counts = HashMap::new();
    for o in objects {
        *counts.entry(o.clone()).or_default() += 1;
    }
    counts
}

/// Every started restore completes within its class and tier's published window.
fn assert_in_window(records: &[RestoreRecord], extra: SignedDuration) {
    for r in records.iter().filter(|r| r.kind == RestoreKind::Started) {
        let (low, high) = restore_window(r.storage_class, r.tier);
        let took = r.completes_at.duration_since(r.task_at) - extra;
        assert!(
            took >= low && took <= high,
            "{} took {took:?}, outside {low:?}..{high:?}",
            r.object
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_task_is_answered_as_s3_would_and_archived_objects_are_restored_later() {
    let scene = Scene::new().await;
    let (s3, data) = (&scene.s3, scene.data.as_str());
    put(s3, data, "glacier/one", Some("GLACIER")).await;
    // A key that every encoding changes: manifest, report and event must agree on it.
    put(s3, data, "glacier/a b+c%.txt", Some("GLACIER")).await;
    put(s3, data, "deep/one", Some("DEEP_ARCHIVE")).await;
    put(s3, data, "standard/one", None).await;
    put(s3, data, "glacier/restored", Some("GLACIER")).await;
    restore_now(s3, data, "glacier/restored").await;
    put(s3, data, "glacier/busy", Some("GLACIER")).await;
    scene.notify().await;

    let glacier = [id(data, "glacier/one"), id(data, "glacier/a b+c%.txt")];
    let deep = id(data, "deep/one");
    let busy = id(data, "glacier/busy");
    let manifest = vec![
        glacier[0].clone(),
        glacier[1].clone(),
        deep.clone(),
        id(data, "standard/one"),
        id(data, "missing/one"),
        id(data, "glacier/restored"),
        busy.clone(),
    ];
    let job = scene.job("job-answers", &manifest, Tier::Standard).await;
    let clock = VirtualClock::new(t0());
    let sim = scene.simulator(
        &clock,
        SimOptions {
            seed: 7,
            ..SimOptions::default()
        },
    );
    let busy_until = add(t0(), hours(2));
    sim.mark_restoring(&busy, busy_until);

    // The test takes part in the simulation, to look at moto partway through.
    let observer = clock.register();
    let batch_id = sim.create_job(&job).await.expect("create");
    assert_eq!(sim.create_job(&job).await.expect("create again"), batch_id);
    // Another job of the same simulator (on an object the first does not restore, so
    // that neither job's answers depend on the other's timing).
    let other = scene
        .job("job-answers-2", &manifest[3..4], Tier::Standard)
        .await;
    assert_ne!(sim.create_job(&other).await.expect("another job"), batch_id);
    let info = sim.describe_job(&batch_id).await.expect("describe");
    assert_eq!(info.status, BatchJobStatus::New);

    clock.sleep_until(add(t0(), hours(1))).await;
    let info = sim.describe_job(&batch_id).await.expect("describe");
    assert_eq!(info.status, BatchJobStatus::Complete);
    assert_eq!(
        (info.tasks_total, info.tasks_succeeded, info.tasks_failed),
        (7, 4, 3)
    );
    assert!(info.failure_reasons.is_empty());
    // One hour in, no restore has completed: nothing is restored, no event is queued.
    // An absence, but not a wait: in virtual time the simulator queues each event at
    // its restore's instant, so none can still be on its way.
    assert_eq!(head_restore(s3, data, "glacier/one").await, None);
    let (early, _) = scene.events().await;
    assert!(early.is_empty(), "events before any restore: {early:?}");
    drop(observer);

    sim.wait_settled(&batch_id).await.expect("settled");
    sim.wait_settled(&sim.create_job(&other).await.expect("id"))
        .await
        .expect("settled");
    assert!(
        clock.now() >= add(t0(), hours(9)),
        "Deep Archive Standard takes 9 h at least"
    );
    assert_eq!(
        statuses(&sim, &batch_id),
        [
            BatchJobStatus::New,
            BatchJobStatus::Preparing,
            BatchJobStatus::Active,
            BatchJobStatus::Completing,
            BatchJobStatus::Complete
        ]
    );

    let rows = report_rows(s3, &scene.reports, REPORT_PREFIX, &batch_id).await;
    let answers: BTreeMap<String, (bool, Option<u16>, String)> = rows
        .iter()
        .map(|r| {
            (
                r.object.key().to_owned(),
                (
                    r.status == TaskStatus::Succeeded,
                    r.http_status,
                    r.error_code.clone(),
                ),
            )
        })
        .collect();
    let expect =
        |succeeded: bool, status: u16, code: &str| (succeeded, Some(status), code.to_owned());
    let want: BTreeMap<String, _> = [
        ("glacier/one", expect(true, 202, "")),
        ("glacier/a b+c%.txt", expect(true, 202, "")),
        ("deep/one", expect(true, 202, "")),
        ("standard/one", expect(false, 403, "InvalidObjectState")),
        ("missing/one", expect(false, 404, "NoSuchKey")),
        ("glacier/restored", expect(true, 200, "")),
        (
            "glacier/busy",
            expect(false, 409, "RestoreAlreadyInProgress"),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    assert_eq!(answers, want);
    assert_eq!(rows.len(), 7);

    // Exactly one real Completed notification per archived object (and for the restore
    // that was already under way); none for the others.
    let (bodies, events) = scene.events().await;
    let mut got: Vec<_> = events.iter().map(ToString::to_string).collect();
    got.sort();
    let mut want: Vec<_> = [&glacier[0], &glacier[1], &deep, &busy]
        .iter()
        .map(ToString::to_string)
        .collect();
    want.sort();
    assert_eq!(got, want, "messages: {bodies:?}");
    // Posted as production receives them: EventBridge events, keys form-encoded.
    for body in &bodies {
        let event: serde_json::Value = serde_json::from_str(body).expect("JSON");
        assert_eq!(event["detail-type"], "Object Restore Completed", "{body}");
        assert_eq!(event["source"], "aws.s3", "{body}");
    }
    assert!(
        bodies
            .iter()
            .any(|b| b.contains("\"key\":\"glacier/a+b%2Bc%25.txt\"")),
        "{bodies:?}"
    );
    for key in [
        "glacier/one",
        "glacier/a b+c%.txt",
        "deep/one",
        "glacier/busy",
    ] {
        let restore = head_restore(s3, data, key).await;
        assert!(
            restore
                .as_deref()
                .is_some_and(|r| r.contains("ongoing-request=\"false\"")),
            "{key}: {restore:?}"
        );
    }
    assert_eq!(head_restore(s3, data, "standard/one").await, None);

    let records = sim.restores(&batch_id).expect("restores");
    assert_eq!(records.len(), 4);
    assert!(
        records
            .iter()
            .all(|r| r.outcome == RestoreOutcome::Completed)
    );
    assert_in_window(&records, SignedDuration::ZERO);
    let taken = records
        .iter()
        .find(|r| r.object == busy)
        .expect("the restore under way is completed");
    assert_eq!(
        (taken.kind, taken.completes_at),
        (RestoreKind::TakenOver, busy_until)
    );
    let deep_record = records.iter().find(|r| r.object == deep).expect("deep");
    assert_eq!(deep_record.storage_class, StorageClass::DeepArchive);
    // Without reordering, restores complete in manifest order.
    let started: Vec<_> = records
        .iter()
        .filter(|r| r.kind == RestoreKind::Started)
        .collect();
    assert!(
        started
            .windows(2)
            .all(|w| w[0].completes_at <= w[1].completes_at)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicates_and_drops_follow_their_rates_and_events_come_in_any_order() {
    let scene = Scene::new().await;
    let objects = scene.archived("bulk", 120, "GLACIER").await;
    scene.notify().await;
    let job = scene.job("job-rates", &objects, Tier::Bulk).await;
    let clock = VirtualClock::new(t0());
    let sim = scene.simulator(
        &clock,
        SimOptions {
            seed: 11,
            duplicate_rate: 0.3,
            drop_rate: 0.2,
            lose_event_rate: 0.1,
            reorder: true,
            extra_delay: Duration::from_secs(600),
            ..SimOptions::default()
        },
    );
    let batch_id = sim.create_job(&job).await.expect("create");
    sim.wait_settled(&batch_id).await.expect("settled");

    let records = sim.restores(&batch_id).expect("restores");
    assert_eq!(records.len(), 120);
    assert_in_window(&records, SignedDuration::from_secs(600));
    let dropped: Vec<_> = records.iter().filter(|r| r.dropped).collect();
    let duplicated: Vec<_> = records
        .iter()
        .filter(|r| r.duplicate_at.is_some())
        .collect();
    // 20 % of 120 and 30 % of the 96 or so not dropped, give or take chance.
    assert!(
        (12..=36).contains(&dropped.len()),
        "{} dropped",
        dropped.len()
    );
    assert!(
        (15..=45).contains(&duplicated.len()),
        "{} duplicated",
        duplicated.len()
    );
    let lost: Vec<_> = records.iter().filter(|r| r.event_lost).collect();
    assert!((3..=25).contains(&lost.len()), "{} lost", lost.len());
    for r in &records {
        let want = match (r.dropped, r.event_lost, r.duplicate_at) {
            (true, _, _) => RestoreOutcome::Dropped,
            (false, true, _) => {
                assert_eq!(r.duplicate_at, None, "a lost event is not duplicated");
                RestoreOutcome::EventLost
            }
            (false, false, Some(at)) => {
                let after = at.duration_since(r.completes_at);
                assert!(after >= SignedDuration::from_mins(1) && after <= hours(1));
                RestoreOutcome::Duplicated
            }
            (false, false, None) => RestoreOutcome::Completed,
        };
        assert_eq!(r.outcome, want, "{}", r.object);
    }

    let (bodies, events) = scene.events().await;
    let per_object = counts(&events);
    for r in &records {
        let want = match (r.dropped || r.event_lost, r.duplicate_at) {
            (true, _) => 0,
            (false, Some(_)) => 2,
            (false, None) => 1,
        };
        assert_eq!(
            per_object.get(&r.object).copied().unwrap_or(0),
            want,
            "{}",
            r.object
        );
    }
    assert_eq!(
        bodies.len(),
        records.len() - dropped.len() - lost.len() + duplicated.len()
    );
    // A lost event's restore happened all the same: only reconciliation can find it.
    for r in lost.iter().take(5) {
        let restore = head_restore(&scene.s3, &scene.data, r.object.key()).await;
        assert!(
            restore
                .as_deref()
                .is_some_and(|h| h.contains("ongoing-request=\"false\"")),
            "{}: {restore:?}",
            r.object
        );
    }
    // A dropped restore leaves the object archived.
    for r in dropped.iter().take(5) {
        assert_eq!(
            head_restore(&scene.s3, &scene.data, r.object.key()).await,
            None
        );
    }
    // Reordered: events do not follow the manifest.
    let mut first_seen = Vec::new();
    for o in &events {
        if !first_seen.contains(o) {
            first_seen.push(o.clone());
        }
    }
    let manifest_order: Vec<_> = objects
        .iter()
        .filter(|o| first_seen.contains(o))
        .cloned()
        .collect();
    assert_ne!(first_seen, manifest_order);
}

/// Runs one job of `keys` in a fresh bucket with a simulator of `options`; returns the
/// batch job id and the keys of the restore events in the order the queue gave them.
async fn event_order(keys: usize, options: SimOptions) -> (String, Vec<String>) {
    let scene = Scene::new().await;
    let objects = scene.archived("k", keys, "DEEP_ARCHIVE").await;
    scene.notify().await;
    let job = scene.job("job-order", &objects, Tier::Standard).await;
    let clock = VirtualClock::new(t0());
    let sim = scene.simulator(&clock, options);
    let batch_id = sim.create_job(&job).await.expect("create");
    sim.wait_settled(&batch_id).await.expect("settled");
    let (_, events) = scene.events().await;
    (
        batch_id,
        events.iter().map(|o| o.key().to_owned()).collect(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_seed_gives_the_same_run() {
    let options = |seed| SimOptions {
        seed,
        reorder: true,
        duplicate_rate: 0.25,
        ..SimOptions::default()
    };
    let (id_a, a) = event_order(40, options(5)).await;
    let (id_b, b) = event_order(40, options(5)).await;
    let (id_c, c) = event_order(40, options(6)).await;
    assert!(a.len() > 40, "some events were duplicated: {}", a.len());
    assert_eq!(id_a, id_b);
    assert_eq!(a, b);
    assert_ne!(id_a, id_c);
    assert_ne!(a, c);
    let mut sorted = a.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 40);

    // Without reordering, events come in manifest order.
    let (_, in_order) = event_order(
        40,
        SimOptions {
            seed: 5,
            ..SimOptions::default()
        },
    )
    .await;
    let manifest: Vec<_> = (0..40).map(|i| format!("k/{i:04}")).collect();
    assert_eq!(in_order, manifest);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_stops_the_job_at_the_next_task_boundary() {
    let scene = Scene::new().await;
    let objects = scene.archived("c", 40, "GLACIER").await;
    scene.notify().await;
    let job = scene.job("job-cancel", &objects, Tier::Standard).await;
    let clock = VirtualClock::new(t0());
    let sim = scene.simulator(
        &clock,
        SimOptions {
            tasks_per_second: 4,
            ..SimOptions::default()
        },
    );
    let me = clock.register();
    let batch_id = sim.create_job(&job).await.expect("create");
    // Step through clock time until the job has run some tasks.
    loop {
        clock
            .sleep_until(add(clock.now(), SignedDuration::from_millis(500)))
            .await;
        let info = sim.describe_job(&batch_id).await.expect("describe");
        if info.status == BatchJobStatus::Active && info.tasks_succeeded >= 8 {
            break;
        }
        assert!(
            clock.now() < add(t0(), SignedDuration::from_mins(10)),
            "{info:?}"
        );
    }
    sim.cancel_job(&batch_id).await.expect("cancel");
    sim.cancel_job(&batch_id)
        .await
        .expect("cancel again while cancelling");
    let processed = sim
        .describe_job(&batch_id)
        .await
        .expect("describe")
        .tasks_succeeded;
    drop(me);
    sim.wait_settled(&batch_id).await.expect("settled");

    assert_eq!(
        statuses(&sim, &batch_id),
        [
            BatchJobStatus::New,
            BatchJobStatus::Preparing,
            BatchJobStatus::Active,
            BatchJobStatus::Cancelling,
            BatchJobStatus::Cancelled
        ]
    );
    let info = sim.describe_job(&batch_id).await.expect("describe");
    assert_eq!((info.tasks_total, info.tasks_succeeded), (40, processed));
    assert!(processed < 40);
    let rows = report_rows(&scene.s3, &scene.reports, REPORT_PREFIX, &batch_id).await;
    assert_eq!(rows.len() as u64, processed);
    // The tasks that ran started restores, which still complete.
    let (_, events) = scene.events().await;
    assert_eq!(events.len() as u64, processed);
    assert!(matches!(
        sim.cancel_job(&batch_id).await,
        Err(PortError::Conflict(_))
    ));
    assert!(matches!(
        sim.cancel_job("no-such-job").await,
        Err(PortError::NotFound(_))
    ));
    assert!(matches!(
        sim.describe_job("no-such-job").await,
        Err(PortError::NotFound(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_and_cancelled_outcomes_end_the_job_after_half_its_tasks() {
    for (outcome, ending) in [
        (
            BatchOutcome::Failed,
            [BatchJobStatus::Failing, BatchJobStatus::Failed],
        ),
        (
            BatchOutcome::Cancelled,
            [BatchJobStatus::Cancelling, BatchJobStatus::Cancelled],
        ),
    ] {
        let scene = Scene::new().await;
        let objects = scene.archived("half", 10, "GLACIER").await;
        scene.notify().await;
        let job = scene.job("job-half", &objects, Tier::Bulk).await;
        let clock = VirtualClock::new(t0());
        let sim = scene.simulator(
            &clock,
            SimOptions {
                batch_outcome: outcome,
                ..SimOptions::default()
            },
        );
        let batch_id = sim.create_job(&job).await.expect("create");
        sim.wait_settled(&batch_id).await.expect("settled");
        let mut want = vec![
            BatchJobStatus::New,
            BatchJobStatus::Preparing,
            BatchJobStatus::Active,
        ];
        want.extend(ending);
        assert_eq!(statuses(&sim, &batch_id), want, "{outcome:?}");
        let info = sim.describe_job(&batch_id).await.expect("describe");
        assert_eq!(
            (info.tasks_total, info.tasks_succeeded, info.tasks_failed),
            (10, 5, 0)
        );
        match outcome {
            BatchOutcome::Failed => assert!(
                info.failure_reasons
                    .iter()
                    .any(|r| r.starts_with("SimulatedFailure")),
                "{info:?}"
            ),
            _ => assert!(info.failure_reasons.is_empty(), "{info:?}"),
        }
        let rows = report_rows(&scene.s3, &scene.reports, REPORT_PREFIX, &batch_id).await;
        let keys: Vec<_> = rows.iter().map(|r| r.object.clone()).collect();
        assert_eq!(keys, objects[..5]);
        // Those tasks' restores still happen.
        let (_, events) = scene.events().await;
        let mut events = events;
        events.sort();
        assert_eq!(events, objects[..5]);
        assert!(matches!(
            sim.cancel_job(&batch_id).await,
            Err(PortError::Conflict(_))
        ));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_or_missing_manifest_fails_the_job_with_a_reason() {
    let scene = Scene::new().await;
    let objects = scene.archived("m", 2, "GLACIER").await;
    let clock = VirtualClock::new(t0());
    let sim = scene.simulator(&clock, SimOptions::default());

    let mut changed = scene.job("job-etag", &objects, Tier::Bulk).await;
    if let BatchManifest::Csv { etag, .. } = &mut changed.manifest {
        *etag = "0123456789abcdef0123456789abcdef".into();
    }
    let mut missing = scene.job("job-missing", &objects, Tier::Bulk).await;
    if let BatchManifest::Csv { key, .. } = &mut missing.manifest {
        *key = "manifests/none.csv".into();
    }
    for (spec, reason) in [
        (changed, "ManifestETagMismatch"),
        (missing, "ManifestNotFound"),
    ] {
        let batch_id = sim.create_job(&spec).await.expect("create");
        sim.wait_settled(&batch_id).await.expect("settled");
        assert_eq!(
            statuses(&sim, &batch_id),
            [
                BatchJobStatus::New,
                BatchJobStatus::Preparing,
                BatchJobStatus::Failed
            ]
        );
        let info = sim.describe_job(&batch_id).await.expect("describe");
        assert_eq!(info.failure_reasons.len(), 1, "{info:?}");
        assert!(info.failure_reasons[0].starts_with(reason), "{info:?}");
        assert_eq!(info.tasks_total, 0);
        assert!(!report_exists(&scene.s3, &scene.reports, REPORT_PREFIX, &batch_id).await);
    }
    assert!(sim.restores("no-such-job").is_err());
}

/// Steps clock time until the batch job is in `status`.
async fn step_until(
    sim: &BatchSimulator,
    clock: &VirtualClock,
    batch_id: &str,
    status: BatchJobStatus,
) -> gbr_core::ports::BatchJobInfo {
    loop {
        let info = sim.describe_job(batch_id).await.expect("describe");
        if info.status == status {
            return info;
        }
        assert!(
            clock.now() < add(t0(), SignedDuration::from_mins(30)),
            "{info:?}"
        );
        clock
            .sleep_until(add(clock.now(), SignedDuration::from_secs(1)))
            .await;
    }
}

/// A job with a manifest generator, as the S3 User Guide describes one created with
/// confirmation required: it lists the bucket in Preparing, shows the list, waits in
/// Suspended until UpdateJobStatus Ready (a confirmation before then is refused), and
/// a cancel while it waits ends it at once, no task run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generated_list_holds_the_job_in_suspended_until_confirmed() {
    let scene = Scene::new().await;
    let mut objects = scene.archived("pick", 3, "GLACIER").await;
    put(&scene.s3, &scene.data, "pick-standard/x", Some("STANDARD")).await;
    put(&scene.s3, &scene.data, "other/y", Some("GLACIER")).await;
    scene.notify().await;
    let clock = VirtualClock::new(t0());
    let sim = scene.simulator(&clock, SimOptions::default());
    let filter: gbr_core::filter::ObjectFilter = serde_json::from_value(serde_json::json!({
        "bucket": scene.data, "prefixes": ["pick"], "storage_classes": ["GLACIER"]
    }))
    .expect("a filter");
    let spec = |job_id: &str| gbr_core::ports::BatchJobSpec {
        job_id: job_id.into(),
        manifest: BatchManifest::Generate {
            filter: filter.clone(),
            output_bucket: scene.reports.clone(),
            output_prefix: format!("generated/{job_id}"),
        },
        tier: Tier::Standard,
        expiration_days: 1,
        client_tag: None,
    };
    let me = clock.register();
    let held = sim.create_job(&spec("job-held")).await.expect("create");
    let waiting = sim.create_job(&spec("job-waits")).await.expect("create");
    assert!(matches!(
        sim.confirm_job(&held).await,
        Err(PortError::Conflict(_))
    ));
    let info = step_until(&sim, &clock, &held, BatchJobStatus::Suspended).await;
    assert_eq!(
        info.tasks_total, 3,
        "the STANDARD object and other/ are not listed"
    );
    let list = info.generated_manifest.expect("the list is shown");
    assert_eq!(list.bucket, scene.reports);
    assert!(list.key.starts_with("generated/job-held/"), "{}", list.key);
    let body = scene
        .s3
        .get_object()
        .bucket(&list.bucket)
        .key(&list.key)
        .send()
        .await
        .expect("the list's manifest.json")
        .body
        .collect()
        .await
        .expect("its body")
        .into_bytes();
    let manifest = gbr_core::inventory::InventoryManifest::parse(&body)
        .expect("an inventory-shaped manifest.json");
    assert_eq!(manifest.source_bucket, scene.data);
    // Held: clock time passes and no task runs.
    clock
        .sleep_until(add(clock.now(), SignedDuration::from_hours(2)))
        .await;
    let info = sim.describe_job(&held).await.expect("describe");
    assert_eq!(
        (info.status, info.tasks_succeeded),
        (BatchJobStatus::Suspended, 0)
    );
    sim.confirm_job(&held).await.expect("confirm");
    assert_eq!(
        sim.describe_job(&held).await.expect("describe").status,
        BatchJobStatus::Ready
    );
    assert!(matches!(
        sim.confirm_job(&held).await,
        Err(PortError::Conflict(_))
    ));
    step_until(&sim, &clock, &waiting, BatchJobStatus::Suspended).await;
    sim.cancel_job(&waiting).await.expect("cancel");
    assert_eq!(
        sim.describe_job(&waiting).await.expect("describe").status,
        BatchJobStatus::Cancelled
    );
    assert!(matches!(
        sim.confirm_job(&waiting).await,
        Err(PortError::Conflict(_))
    ));
    drop(me);
    sim.wait_settled(&held).await.expect("settled");
    sim.wait_settled(&waiting).await.expect("settled");
    assert_eq!(
        statuses(&sim, &held),
        [
            BatchJobStatus::New,
            BatchJobStatus::Preparing,
            BatchJobStatus::Suspended,
            BatchJobStatus::Ready,
            BatchJobStatus::Active,
            BatchJobStatus::Completing,
            BatchJobStatus::Complete
        ]
    );
    assert_eq!(
        statuses(&sim, &waiting),
        [
            BatchJobStatus::New,
            BatchJobStatus::Preparing,
            BatchJobStatus::Suspended,
            BatchJobStatus::Cancelled
        ]
    );
    objects.sort();
    let mut restored: Vec<ObjectId> = sim
        .restores(&held)
        .expect("restores")
        .into_iter()
        .map(|r| r.object)
        .collect();
    restored.sort();
    assert_eq!(restored, objects);
    assert!(sim.restores(&waiting).expect("restores").is_empty());
}
