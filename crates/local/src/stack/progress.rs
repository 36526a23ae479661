//! Reads the bulk events from the progress queue (raw SNS delivery: each body is the
//! event's JSON), as a subscriber would.

use gbr_core::event::BulkEvent;

use super::StackError;
use crate::queue::{delete_all, receive_ten};

pub struct ProgressQueue {
    pub sqs: aws_sdk_sqs::Client,
    pub queue_url: String,
}

impl ProgressQueue {
    /// Every event waiting in the queue, removed from it, in the order received.
    pub async fn take(&self) -> Result<Vec<BulkEvent>, StackError> {
        let mut events = Vec::new();
        loop {
            let messages = receive_ten(&self.sqs, &self.queue_url, "progress").await?;
            if messages.is_empty() {
                return Ok(events);
            }
            for m in &messages {
                let event: BulkEvent = serde_json::from_str(&m.body).map_err(|e| {
                    StackError::Queue(format!(
                        "a progress message is not a bulk event ({e}): {}",
                        m.body
                    ))
                })?;
                events.push(event);
            }
            let done: Vec<_> = messages.iter().collect();
            delete_all(&self.sqs, &self.queue_url, "progress", &done).await?;
        }
    }
}
