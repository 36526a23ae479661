//! Poison messages and an outage of the restore-event function, end to end on the local
//! stack in virtual time.
//!
//! While the objects table is unreachable, every restore event fails until the
//! dead-letter queue takes it (after `maxReceiveCount`, 5, receives), as do three poison
//! messages: not JSON, an S3 notification of the wrong shape, and a body of 250 KiB near
//! SQS's limit. The job still ends exactly: past its deadline HeadObject finds every
//! object restored, and it is Complete. Then the outage is fixed and the dead-letter
//! queue re-driven: the restore events change nothing (each object is counted once), no
//! second terminal event is sent, and only the poison is back in the dead-letter queue.

mod memory_stack;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use gbr_core::event::BulkEvent;
use gbr_core::object_id::ObjectId;
use gbr_core::ports::{Mark, MarkReport, ObjectState, ObjectStore, Page, PortError, PortResult};
use gbr_core::status::JobStatus;
use gbr_local::engine::clock::add;
use gbr_local::services::LocalServices;
use gbr_local::stack::LocalStack;
use gbr_local::stack::drain::Drain;
use jiff::{SignedDuration, Timestamp};
use memory_stack::{MANIFEST_KEY, memory_stack, start_time};
use tokio::sync::watch;

const OBJECTS: usize = 8;
const POISON: u64 = 3;

/// The objects table as the restore-event function sees it during the outage.
struct Unreachable;

fn down<T>() -> PortResult<T> {
    Err(PortError::Retryable(
        "the objects table cannot be reached".into(),
    ))
}

#[async_trait]
impl ObjectStore for Unreachable {
    async fn register(&self, _: &str, _: &[ObjectId], _: Timestamp, _: &str) -> PortResult<u64> {
        down()
    }
    async fn waiting_jobs(&self, _: &ObjectId) -> PortResult<Vec<String>> {
        down()
    }
    async fn mark(&self, _: &[Mark], _: ObjectState, _: Timestamp) -> PortResult<MarkReport> {
        down()
    }
    async fn pending(&self, _: &str, _: Option<&str>, _: usize) -> PortResult<Page<ObjectId>> {
        down()
    }
}

/// Lets clock time pass in steps of five minutes until `until`, reading the events.
async fn pass(stack: &LocalStack, until: Timestamp, events: &mut Vec<BulkEvent>) {
    while stack.clock.now() < until {
        events.extend(stack.progress().take().await.expect("progress"));
        let next = add(stack.clock.now(), SignedDuration::from_mins(5));
        stack.clock.sleep_until(next).await;
    }
    events.extend(stack.progress().take().await.expect("progress"));
}

fn terminal(events: &[BulkEvent]) -> Vec<&BulkEvent> {
    events
        .iter()
        .filter(|e| {
            e.status
                .parse::<JobStatus>()
                .is_ok_and(JobStatus::is_terminal)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_and_an_outage_reach_the_dead_letter_queue_and_a_redrive_counts_nothing_twice() {
    let services = LocalServices::start().unwrap_or_else(|e| panic!("{e}"));
    let stack = memory_stack(&services, "poison", OBJECTS, None).await;
    let clock = Arc::clone(&stack.clock);
    let t0 = start_time();

    // Registered before the job starts, so that virtual time cannot pass them by.
    let reader = clock.register();
    let outage_participant = clock.register();
    let broken = Drain {
        ports: Arc::new(gbr_core::ports::Ports {
            objects: Arc::new(Unreachable),
            ..(*stack.ports).clone()
        }),
        ..stack.drain()
    };
    let (end_outage, outage_ended) = watch::channel(false);
    let outage = tokio::spawn(broken.run(
        Arc::clone(&clock),
        Duration::from_secs(60),
        outage_participant,
        outage_ended,
    ));
    let body = serde_json::json!({
        "bucket": stack.names.manifest_bucket, "key": MANIFEST_KEY, "tier": "STANDARD",
        "storage_class": "GLACIER", "expiration_days": 1,
    });
    let created = gbr_core::api::create_job(
        &stack.ports,
        &stack.settings,
        body.to_string().as_bytes(),
        None,
        "job-poison",
    )
    .await
    .expect("the job");
    let job = created.bulk_job_id;
    stack
        .restore_queue
        .send(vec![
            "not json".into(),
            r#"{"Records": [{"eventName": "ObjectRestore:Completed"}]}"#.into(),
            "x".repeat(250 * 1024),
        ])
        .await
        .expect("poison sent");

    // Glacier Standard restores take 3 to 5 hours; by 8 hours every event has failed
    // five times (each comes back after the 360 s visibility timeout).
    let mut events = Vec::new();
    pass(&stack, add(t0, SignedDuration::from_hours(8)), &mut events).await;
    // Stopped where it sleeps: awaiting it here, unparked, would hold the clock.
    let _ = end_outage.send(true);
    outage.abort();
    let (queued, dead) = stack.restore_queue.depth().await.expect("depth");
    assert_eq!((queued, dead), (0, OBJECTS as u64 + POISON));
    assert!(terminal(&events).is_empty(), "{events:?}");
    assert_eq!(
        stack.ports.jobs.tally(&job).await.expect("tally").restored,
        0
    );

    // Fixed: the restore-event function works again. Past the deadline (5 h + 6 h)
    // reconciliation finds every object restored.
    let (stop, stopped) = watch::channel(false);
    let drain = tokio::spawn(stack.drain().run(
        Arc::clone(&clock),
        Duration::from_secs(60),
        clock.register(),
        stopped,
    ));
    pass(&stack, add(t0, SignedDuration::from_hours(14)), &mut events).await;
    let ended = terminal(&events);
    assert_eq!(ended.len(), 1, "{events:?}");
    assert_eq!(
        (ended[0].status.as_str(), ended[0].restored_files.as_str()),
        ("Complete", OBJECTS.to_string().as_str())
    );

    // The operator re-drives the dead-letter queue.
    assert_eq!(
        stack.restore_queue.redrive().await.expect("redrive"),
        OBJECTS as u64 + POISON
    );
    pass(&stack, add(t0, SignedDuration::from_hours(16)), &mut events).await;
    let tally = stack.ports.jobs.tally(&job).await.expect("tally");
    assert_eq!((tally.restored, tally.excluded), (OBJECTS as u64, 0));
    let pending = stack
        .ports
        .objects
        .pending(&job, None, 100)
        .await
        .expect("pending");
    assert!(pending.items.is_empty(), "{:?}", pending.items);
    assert_eq!(terminal(&events).len(), 1, "no second terminal event");
    assert_eq!(
        stack.restore_queue.depth().await.expect("depth"),
        (0, POISON),
        "only the poison is back in the dead-letter queue"
    );
    let _ = stop.send(true);
    drop(reader);
    drain.await.expect("the drain").expect("drained");
}
