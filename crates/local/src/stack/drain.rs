//! Drains the restore-events queue into the restore-event handler, as Lambda's SQS
//! event source does: batches of up to 10 messages as an SQS event, deleting the
//! messages the handler did not report as batch item failures. Failed ones become
//! visible again after the visibility timeout and, after `maxReceiveCount` deliveries,
//! moto moves them to the dead-letter queue.

use gbr_aws::errors::port_error;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_sqs::types::DeleteMessageBatchRequestEntry;
use gbr_core::tasks::Ports;
use serde_json::{Value, json};

use super::StackError;
use super::resources::{REGION, queue_arn};
use crate::engine::clock::{Clock, add};

/// Counts of what the drain did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DrainStats {
    pub batches: u64,
    pub messages: u64,
    pub failures: u64,
}

pub struct Drain {
    pub sqs: aws_sdk_sqs::Client,
    pub queue_url: String,
    pub queue_name: String,
    pub ports: Arc<Ports>,
}

impl Drain {
    /// Delivers everything in the queue now; returns what it did.
    pub async fn drain_once(&self) -> Result<DrainStats, StackError> {
        let mut stats = DrainStats::default();
        loop {
            let received = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(0)
                .send()
                .await
                .map_err(|e| {
                    StackError::Queue(
                        port_error("ReceiveMessage", format!("queue {}", self.queue_name), e)
                            .to_string(),
                    )
                })?;
            let messages = received.messages.unwrap_or_default();
            if messages.is_empty() {
                return Ok(stats);
            }
            let records: Vec<Value> = messages
                .iter()
                .map(|m| {
                    json!({
                        "messageId": m.message_id,
                        "receiptHandle": m.receipt_handle,
                        "body": m.body,
                        "attributes": {},
                        "messageAttributes": {},
                        "md5OfBody": m.md5_of_body,
                        "eventSource": "aws:sqs",
                        "eventSourceARN": queue_arn(&self.queue_name),
                        "awsRegion": REGION,
                    })
                })
                .collect();
            let response =
                gbr_lambdas::restore_events::handle(&self.ports, json!({ "Records": records }))
                    .await;
            let failed: Vec<String> = match response {
                Ok(r) => r
                    .batch_item_failures
                    .into_iter()
                    .map(|f| f.item_identifier)
                    .collect(),
                // The whole batch failed: SQS delivers every message again.
                Err(_) => messages
                    .iter()
                    .filter_map(|m| m.message_id.clone())
                    .collect(),
            };
            stats.batches += 1;
            stats.messages += messages.len() as u64;
            stats.failures += failed.len() as u64;
            let done: Vec<DeleteMessageBatchRequestEntry> = messages
                .iter()
                .filter(|m| m.message_id.as_ref().is_some_and(|id| !failed.contains(id)))
                .filter_map(|m| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(m.message_id.clone()?)
                        .receipt_handle(m.receipt_handle.clone()?)
                        .build()
                        .ok()
                })
                .collect();
            if !done.is_empty() {
                self.sqs
                    .delete_message_batch()
                    .queue_url(&self.queue_url)
                    .set_entries(Some(done))
                    .send()
                    .await
                    .map_err(|e| {
                        StackError::Queue(
                            port_error(
                                "DeleteMessageBatch",
                                format!("queue {}", self.queue_name),
                                e,
                            )
                            .to_string(),
                        )
                    })?;
            }
            if !failed.is_empty() {
                // The rest stays invisible until its timeout; come back later for it.
                return Ok(stats);
            }
        }
    }

    /// Drains every `interval` of clock time until `stop` says so. The loop takes part
    /// in the clock, so virtual time never passes while a batch is being handled.
    pub async fn run(
        self,
        clock: Arc<dyn Clock>,
        interval: Duration,
        participant: crate::engine::clock::Participant,
        stop: tokio::sync::watch::Receiver<bool>,
    ) -> Result<DrainStats, StackError> {
        let _participant = participant;
        let step =
            jiff::SignedDuration::try_from(interval).unwrap_or(jiff::SignedDuration::from_secs(60));
        let mut total = DrainStats::default();
        loop {
            let stats = self.drain_once().await?;
            total.batches += stats.batches;
            total.messages += stats.messages;
            total.failures += stats.failures;
            if *stop.borrow() {
                return Ok(total);
            }
            clock.sleep_until(add(clock.now(), step)).await;
        }
    }
}
