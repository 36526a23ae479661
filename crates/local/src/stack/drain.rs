//! Drains the restore-events queue into the restore-event handler, as Lambda's SQS
//! event source mapping does with the template's settings: batches of up to 100
//! messages (`BatchSize`), up to 10 handled at once (`MaximumConcurrency`), deleting the
//! messages the handler did not report as batch item failures. Failed ones become
//! visible again after the visibility timeout and, after `maxReceiveCount` deliveries,
//! go to the dead-letter queue.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use gbr_core::ports::Ports;
use serde_json::{Value, json};

use super::StackError;
use super::resources::{REGION, queue_arn};
use crate::engine::clock::{SimClock, add};
use crate::faults::FaultInjector;
use crate::metrics::Usage;
use crate::queue::{Received, RestoreQueue};

/// `BatchSize` of the event source mapping in `template.yaml`.
pub const BATCH_SIZE: usize = 100;
/// Its `ScalingConfig.MaximumConcurrency`.
pub const MAXIMUM_CONCURRENCY: usize = 10;

/// Counts of what the drain did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DrainStats {
    pub batches: u64,
    pub messages: u64,
    pub failures: u64,
}

impl DrainStats {
    fn add(&mut self, other: DrainStats) {
        self.batches += other.batches;
        self.messages += other.messages;
        self.failures += other.failures;
    }
}

pub struct Drain {
    pub queue: RestoreQueue,
    pub queue_name: String,
    pub ports: Arc<Ports>,
    pub usage: Arc<Usage>,
    pub faults: Arc<FaultInjector>,
}

/// One record of the SQS event Lambda's event source mapping delivers, in the shape of
/// `tests/fixtures/aws/lambda-events/sqs/sqs-event.two-records.powertools-python.json`.
fn sqs_record(m: &Received, queue_name: &str) -> Value {
    json!({
        "messageId": m.message_id,
        "receiptHandle": m.receipt_handle,
        "body": m.body,
        "attributes": m.attributes,
        "messageAttributes": {},
        "md5OfBody": m.md5_of_body,
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn(queue_name),
        "awsRegion": REGION,
    })
}

impl Drain {
    /// Delivers everything in the queue now; returns what it did.
    pub async fn drain_once(&self) -> Result<DrainStats, StackError> {
        let mut stats = DrainStats::default();
        loop {
            let batches = self.gather().await?;
            if batches.is_empty() {
                return Ok(stats);
            }
            let delivered: Vec<Result<DrainStats, StackError>> = stream::iter(batches)
                .map(|batch| self.deliver(batch))
                .buffer_unordered(MAXIMUM_CONCURRENCY)
                .collect()
                .await;
            let mut failed = false;
            for result in delivered {
                let one = result?;
                failed |= one.failures > 0;
                stats.add(one);
            }
            if failed {
                // The rest stays invisible until its timeout; come back later for it.
                return Ok(stats);
            }
        }
    }

    /// Up to `MAXIMUM_CONCURRENCY` batches of up to `BATCH_SIZE` messages each.
    async fn gather(&self) -> Result<Vec<Vec<Received>>, StackError> {
        let mut batches = Vec::new();
        while batches.len() < MAXIMUM_CONCURRENCY {
            let mut batch = Vec::new();
            while batch.len() < BATCH_SIZE {
                let received = self.queue.receive().await?;
                if received.is_empty() {
                    break;
                }
                batch.extend(received);
            }
            let full = batch.len() >= BATCH_SIZE;
            if !batch.is_empty() {
                batches.push(batch);
            }
            if !full {
                break;
            }
        }
        Ok(batches)
    }

    /// One invocation of the restore-event function with `batch` as its SQS event.
    async fn deliver(&self, batch: Vec<Received>) -> Result<DrainStats, StackError> {
        let records: Vec<Value> = batch
            .iter()
            .map(|m| sqs_record(m, &self.queue_name))
            .collect();
        let started = Instant::now();
        let response =
            gbr_lambdas::restore_events::handle(&self.ports, json!({ "Records": records })).await;
        self.usage.invoked("restore-event", started);
        let failed: Vec<String> = match response {
            // Cut off after its writes: nothing is deleted, and SQS delivers the whole
            // batch again once its visibility timeout has passed.
            Ok(_) if self.faults.redeliver_batch() => {
                batch.iter().map(|m| m.message_id.clone()).collect()
            }
            Ok(r) => r
                .batch_item_failures
                .into_iter()
                .map(|f| f.item_identifier)
                .collect(),
            // The whole batch failed: SQS delivers every message again.
            Err(_) => batch.iter().map(|m| m.message_id.clone()).collect(),
        };
        let done: Vec<&Received> = batch
            .iter()
            .filter(|m| !failed.contains(&m.message_id))
            .collect();
        self.queue.delete(&done).await?;
        Ok(DrainStats {
            batches: 1,
            messages: batch.len() as u64,
            failures: failed.len() as u64,
        })
    }

    /// Drains every `interval` of clock time until `stop` says so. The loop takes part
    /// in the clock, so virtual time never passes while a batch is being handled.
    pub async fn run(
        self,
        clock: Arc<dyn SimClock>,
        interval: Duration,
        participant: crate::engine::clock::Participant,
        stop: tokio::sync::watch::Receiver<bool>,
    ) -> Result<DrainStats, StackError> {
        let _participant = participant;
        let step =
            jiff::SignedDuration::try_from(interval).unwrap_or(jiff::SignedDuration::from_secs(60));
        let mut total = DrainStats::default();
        loop {
            total.add(self.drain_once().await?);
            if *stop.borrow() {
                return Ok(total);
            }
            clock.sleep_until(add(clock.now(), step)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::engine::clock::VirtualClock;

    const FIXTURE: &str = include_str!(
        "../../../../tests/fixtures/aws/lambda-events/sqs/sqs-event.two-records.powertools-python.json"
    );

    fn keys(v: &Value) -> BTreeSet<String> {
        v.as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default()
    }

    #[tokio::test]
    async fn records_have_the_fields_and_attributes_of_a_real_sqs_event() {
        let real: Value = serde_json::from_str(FIXTURE).unwrap();
        let real = &real["Records"][0];
        let clock = Arc::new(VirtualClock::new(jiff::Timestamp::UNIX_EPOCH));
        let queue = RestoreQueue::memory(clock, Arc::default());
        queue.send(vec!["{}".into()]).await.unwrap();
        let received = queue.receive().await.unwrap();
        let ours = sqs_record(&received[0], "restore-events");
        assert_eq!(keys(&ours), keys(real));
        assert_eq!(keys(&ours["attributes"]), keys(&real["attributes"]));
        assert_eq!(ours["attributes"]["ApproximateReceiveCount"], "1");
        // Message ids are UUIDs, as SQS gives them.
        assert!(uuid::Uuid::parse_str(ours["messageId"].as_str().unwrap()).is_ok());
    }
}
