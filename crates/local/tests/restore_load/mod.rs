//! The restore-event path under load, shared by its test and its benchmark: one job of
//! `objects` objects registered on the local DynamoDB, every restore event delivered
//! `deliveries` times in a shuffled order, in SQS batches of 100, handled by `workers`
//! concurrent restore-event invocations. Messages an invocation reports as failed are
//! delivered again, as SQS does after the visibility timeout.

#![allow(dead_code)] // the test and the bench each use part of this module

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use gbr_aws::dynamodb::schema::create_tables;
use gbr_aws::{DynamoStore, SdkSettings, TableNames, load_sdk_config};
use gbr_core::fakes::{
    FakeBatch, FakeExecutions, FakeInspector, ManualClock, MemorySource, RecordingNotifier,
};
use gbr_core::job::JobRecord;
use gbr_core::object_id::{ObjectId, percent_encode_key};
use gbr_core::ports::Ports;
use gbr_core::ports::{JobStore, ObjectStore, Tally};
use gbr_core::request::CreateJobRequest;
use gbr_core::tasks::{SqsMessage, handle_restore_messages};
use gbr_dynamodb_local::{LocalDynamoDb, Storage};
use jiff::Timestamp;
use rand::SeedableRng;
use rand::seq::SliceRandom;

pub const JOB: &str = "load-job";
const BUCKET: &str = "load-archive";
/// The event source mapping's `BatchSize`.
const BATCH: usize = 100;

/// What the handlers reported, summed over every invocation, and what the table holds.
#[derive(Debug)]
pub struct LoadOutcome {
    pub events: u64,
    pub invocations: u64,
    /// Messages reported as batch item failures and delivered again.
    pub redelivered: u64,
    pub newly_restored: u64,
    /// Events that changed nothing: the row was restored already.
    pub repeats: u64,
    pub tally: Tally,
    /// Rows still waiting for their event.
    pub still_pending: usize,
    pub register_time: Duration,
    pub handle_time: Duration,
}

/// An EventBridge "Object Restore Completed" event, keys encoded as EventBridge does.
fn event(key: &str) -> String {
    serde_json::json!({
        "version": "0",
        "id": "17793124-05d4-b198-2fde-7ededc63b103",
        "detail-type": "Object Restore Completed",
        "source": "aws.s3",
        "account": "123456789012",
        "time": "2030-01-01T12:00:00Z",
        "region": "us-east-1",
        "resources": [format!("arn:aws:s3:::{BUCKET}")],
        "detail": {
            "version": "0",
            "bucket": {"name": BUCKET},
            "object": {"key": percent_encode_key(key), "size": 1048576, "etag": "b1946ac92492d2347c6235b4d2611184"},
            "request-id": "189F19CB7FB1B6A4",
            "requester": "s3.amazonaws.com",
            "restore-expiry-time": "2030-01-02T00:00:00Z",
            "source-storage-class": "GLACIER"
        }
    })
    .to_string()
}

pub async fn run(objects: usize, deliveries: usize, workers: usize, seed: u64) -> LoadOutcome {
    // On a file, as large local runs are: an in-memory SQLite database slows down as it
    // grows (see `gbr_dynamodb_local::Storage`).
    let file = std::env::temp_dir().join(format!(
        "gbr-restore-load-{}-{seed}.sqlite",
        std::process::id()
    ));
    let server =
        LocalDynamoDb::start_with(Storage::File(file.clone())).unwrap_or_else(|e| panic!("{e}"));
    let outcome = load(&server, objects, deliveries, workers, seed).await;
    drop(server);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
    }
    outcome
}

async fn load(
    server: &LocalDynamoDb,
    objects: usize,
    deliveries: usize,
    workers: usize,
    seed: u64,
) -> LoadOutcome {
    let config = load_sdk_config(&SdkSettings::local(&server.endpoint)).await;
    let store = Arc::new(DynamoStore::new(
        &config,
        TableNames {
            jobs: "load-jobs".into(),
            objects: "load-objects".into(),
        },
    ));
    create_tables(store.client(), store.tables())
        .await
        .expect("the tables are created");
    let now = Timestamp::from_second(1_893_456_000).expect("a timestamp");
    let request = CreateJobRequest::from_json(&serde_json::json!({
        "bucket": "manifests", "key": "manifest.csv", "tier": "BULK", "expiration_days": 1
    }))
    .expect("a valid request");
    store
        .create(&JobRecord::new(
            JOB.into(),
            request,
            10,
            now,
            now + jiff::SignedDuration::from_hours(48),
        ))
        .await
        .expect("the job is created");

    let keys: Vec<String> = (0..objects).map(|i| format!("load/{i:07} é.bin")).collect();
    let ids: Vec<ObjectId> = keys
        .iter()
        .map(|k| ObjectId::new(BUCKET, k.clone(), None).expect("a valid id"))
        .collect();
    let started = Instant::now();
    for (piece, chunk) in ids.chunks(20_000).enumerate() {
        store
            .register(
                JOB,
                chunk,
                now + jiff::SignedDuration::from_hours(96),
                &format!("bytes-{piece}"),
            )
            .await
            .expect("the objects are registered");
    }
    let register_time = started.elapsed();

    let mut messages: Vec<SqsMessage> = keys
        .iter()
        .enumerate()
        .flat_map(|(i, key)| {
            let body = event(key);
            (0..deliveries).map(move |d| SqsMessage {
                message_id: format!("m-{i}-{d}"),
                body: body.clone(),
            })
        })
        .collect();
    messages.shuffle(&mut rand::rngs::ChaCha8Rng::seed_from_u64(seed));
    let events = messages.len() as u64;

    let ports = Ports {
        jobs: store.clone(),
        objects: store.clone(),
        source: Arc::new(MemorySource::new()),
        inspector: Arc::new(FakeInspector::default()),
        batch: Arc::new(FakeBatch::default()),
        notifier: Arc::new(RecordingNotifier::default()),
        executions: Arc::new(FakeExecutions::default()),
        clock: Arc::new(ManualClock::at(now)),
    };
    let mut outcome = LoadOutcome {
        events,
        invocations: 0,
        redelivered: 0,
        newly_restored: 0,
        repeats: 0,
        tally: Tally::default(),
        still_pending: 0,
        register_time,
        handle_time: Duration::ZERO,
    };
    let started = Instant::now();
    let mut queue = messages;
    while !queue.is_empty() {
        let batches: Vec<Vec<SqsMessage>> = queue.chunks(BATCH).map(<[_]>::to_vec).collect();
        let results: Vec<(Vec<SqsMessage>, _)> = stream::iter(batches)
            .map(|batch| {
                let ports = &ports;
                async move {
                    let result = handle_restore_messages(ports, &batch).await;
                    (batch, result)
                }
            })
            .buffer_unordered(workers)
            .collect()
            .await;
        queue = Vec::new();
        for (batch, result) in results {
            outcome.invocations += 1;
            outcome.newly_restored += result.newly_restored;
            outcome.repeats += result.duplicates + result.unmatched;
            outcome.redelivered += result.failed.len() as u64;
            queue.extend(
                batch
                    .into_iter()
                    .filter(|m| result.failed.contains(&m.message_id)),
            );
        }
    }
    outcome.handle_time = started.elapsed();
    outcome.tally = store.tally(JOB).await.expect("the tally");
    outcome.still_pending = store
        .pending(JOB, None, 1000)
        .await
        .expect("the pending rows")
        .items
        .len();
    outcome
}
