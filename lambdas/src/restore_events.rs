//! The restore-events queue: SQS batches of "Object Restore Completed" notices.
//!
//! Answers with a partial batch response: only the messages that could not be
//! recorded go back to the queue (and after `maxReceiveCount` tries, to its
//! dead-letter queue), so one bad message neither blocks nor replays the others.
//!
//! Each invocation that reads its event also writes one metrics document
//! ([`crate::metrics`]): objects newly restored, duplicates, unmatched and malformed
//! messages.

use std::io::Write;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use gbr_core::LambdaErrorType;
use gbr_core::ports::Ports;
use gbr_core::tasks::{self, SqsMessage};
use lambda_runtime::Diagnostic;
use serde_json::Value;
use tracing::Instrument;

use crate::metrics;
use crate::task_error::named;

/// The function's name in its log lines and as its metrics' `Function` dimension.
const FUNCTION: &str = "restore_event";

/// The error type when the event as a whole cannot be read; every message of the batch
/// is then delivered again.
const EVENT_UNREADABLE: LambdaErrorType = LambdaErrorType::RestoreEventMalformed;

/// Handles one batch; its metrics go where the process sends them
/// ([`metrics::process_writer`]).
pub async fn handle(ports: &Ports, payload: Value) -> Result<SqsBatchResponse, Diagnostic> {
    handle_with_metrics(ports, payload, metrics::process_writer()).await
}

/// Handles one batch, writing its metrics document to `metrics`.
pub async fn handle_with_metrics(
    ports: &Ports,
    payload: Value,
    metrics: impl Write + Send,
) -> Result<SqsBatchResponse, Diagnostic> {
    // A batch holds messages for many jobs, so the span names the batch, not a job;
    // the per-message lines below carry the message id, the batch's line its jobs.
    let span = tracing::info_span!("invocation", function = FUNCTION);
    async move {
        // lambda_runtime reports the error to Lambda without logging it: this line is
        // what the function's log shows of a batch that failed whole.
        let messages = read_messages(payload).inspect_err(|e| {
            tracing::error!(error_type = %e.error_type, error = %e.error_message, "batch not read; SQS will deliver all of it again");
        })?;
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
            malformed = outcome.malformed,
            jobs = ?outcome.jobs,
            write_units = outcome.write_units,
            "restore events recorded"
        );
        let document = metrics::counts_document(
            FUNCTION,
            ports.clock.wall().as_millisecond(),
            &[
                ("Restored", outcome.newly_restored),
                ("Duplicates", outcome.duplicates),
                ("Unmatched", outcome.unmatched),
                ("Malformed", outcome.malformed),
            ],
        );
        // Losing a metrics line must not send the batch back to the queue.
        if let Err(e) = metrics::write_line(metrics, &document) {
            tracing::warn!(error = %e, "the metrics line could not be written");
        }
        let mut response = SqsBatchResponse::default();
        for id in outcome.failed {
            response.add_failure(id);
        }
        Ok(response)
    }
    .instrument(span)
    .await
}

/// The batch's messages, or the error that sends all of them back to the queue.
fn read_messages(payload: Value) -> Result<Vec<SqsMessage>, Diagnostic> {
    let event: SqsEvent = serde_json::from_value(payload).map_err(|e| {
        named(
            EVENT_UNREADABLE.as_str(),
            format!("the SQS event cannot be read: {e}"),
        )
    })?;
    let mut messages = Vec::with_capacity(event.records.len());
    for record in event.records {
        // Without its id a message cannot be reported on its own; failing the whole
        // batch redelivers it, and the others are idempotent.
        let Some(message_id) = record.message_id else {
            return Err(named(
                EVENT_UNREADABLE.as_str(),
                "an SQS record has no messageId".into(),
            ));
        };
        messages.push(SqsMessage {
            message_id,
            body: record.body.unwrap_or_default(),
        });
    }
    Ok(messages)
}
