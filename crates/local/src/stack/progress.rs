//! Reads the bulk events from the progress queue (raw SNS delivery: each body is the
//! event's JSON), as a subscriber would.

use aws_sdk_sqs::types::DeleteMessageBatchRequestEntry;
use gbr_aws::errors::port_error;
use gbr_core::event::BulkEvent;

use super::StackError;

pub struct ProgressQueue {
    pub sqs: aws_sdk_sqs::Client,
    pub queue_url: String,
}

impl ProgressQueue {
    /// Every event waiting in the queue, removed from it, in the order received.
    pub async fn take(&self) -> Result<Vec<BulkEvent>, StackError> {
        let mut events = Vec::new();
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
                        port_error("ReceiveMessage", "the progress queue", e).to_string(),
                    )
                })?;
            let messages = received.messages.unwrap_or_default();
            if messages.is_empty() {
                return Ok(events);
            }
            let mut done = Vec::new();
            for m in &messages {
                let body = m.body.as_deref().unwrap_or_default();
                let event: BulkEvent = serde_json::from_str(body).map_err(|e| {
                    StackError::Queue(format!(
                        "a progress message is not a bulk event ({e}): {body}"
                    ))
                })?;
                events.push(event);
                if let (Some(id), Some(handle)) = (&m.message_id, &m.receipt_handle) {
                    if let Ok(entry) = DeleteMessageBatchRequestEntry::builder()
                        .id(id)
                        .receipt_handle(handle)
                        .build()
                    {
                        done.push(entry);
                    }
                }
            }
            self.sqs
                .delete_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(done))
                .send()
                .await
                .map_err(|e| {
                    StackError::Queue(
                        port_error("DeleteMessageBatch", "the progress queue", e).to_string(),
                    )
                })?;
        }
    }
}
