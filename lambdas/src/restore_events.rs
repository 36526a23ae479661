//! The restore-events queue: SQS batches of "Object Restore Completed" notices.
//!
//! Answers with a partial batch response: only the messages that could not be
//! recorded go back to the queue (and after `maxReceiveCount` tries, to its
//! dead-letter queue), so one bad message neither blocks nor replays the others.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use gbr_core::LambdaErrorType;
use gbr_core::ports::Ports;
use gbr_core::tasks::{self, SqsMessage};
use lambda_runtime::Diagnostic;
use serde_json::Value;
use tracing::Instrument;

use crate::task_error::named;

/// The error type when the event as a whole cannot be read; every message of the batch
/// is then delivered again.
const EVENT_UNREADABLE: LambdaErrorType = LambdaErrorType::RestoreEventMalformed;

pub async fn handle(ports: &Ports, payload: Value) -> Result<SqsBatchResponse, Diagnostic> {
    // A batch holds messages for many jobs, so the span names the batch, not a job;
    // the per-message lines below carry the message id.
    let span = tracing::info_span!("invocation", function = "restore_event");
    async move {
        let event: SqsEvent = serde_json::from_value(payload)
            .map_err(|e| named(EVENT_UNREADABLE.as_str(), format!("the SQS event cannot be read: {e}")))?;
        let mut messages = Vec::with_capacity(event.records.len());
        for record in event.records {
            // Without its id a message cannot be reported on its own; failing the whole
            // batch redelivers it, and the others are idempotent.
            let Some(message_id) = record.message_id else {
                return Err(named(EVENT_UNREADABLE.as_str(), "an SQS record has no messageId".into()));
            };
            messages.push(SqsMessage {
                message_id,
                body: record.body.unwrap_or_default(),
            });
        }
        let outcome = tasks::handle_restore_messages(ports, &messages).await;
        for (message_id, error) in &outcome.errors {
            tracing::warn!(message_id = %message_id, error = %error, "message not recorded; SQS will deliver it again");
        }
        tracing::info!(
            messages = messages.len(),
            failed = outcome.failed.len(),
            newly_restored = outcome.newly_restored,
            duplicates = outcome.duplicates,
            unmatched = outcome.unmatched,
            write_units = outcome.write_units,
            "restore events recorded"
        );
        let mut response = SqsBatchResponse::default();
        for id in outcome.failed {
            response.add_failure(id);
        }
        Ok(response)
    }
    .instrument(span)
    .await
}
