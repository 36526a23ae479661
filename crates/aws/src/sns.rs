//! SNS: the bulk events.

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_sns::Client;
use aws_sdk_sns::types::MessageAttributeValue;
use gbr_core::event::BulkEvent;
use gbr_core::ports::{Notifier, PortError, PortResult};

use crate::errors::port_error;

/// Publishes events to one topic.
#[derive(Debug, Clone)]
pub struct SnsNotifier {
    client: Client,
    topic_arn: String,
}

impl SnsNotifier {
    pub fn new(config: &SdkConfig, topic_arn: impl Into<String>) -> Self {
        Self::from_client(Client::new(config), topic_arn)
    }

    /// An adapter on an existing client (tests pass a mocked one).
    pub fn from_client(client: Client, topic_arn: impl Into<String>) -> Self {
        Self {
            client,
            topic_arn: topic_arn.into(),
        }
    }
}

#[async_trait]
impl Notifier for SnsNotifier {
    async fn publish(&self, event: &BulkEvent) -> PortResult<()> {
        let message = serde_json::to_string(event).map_err(|e| {
            PortError::Rejected(format!(
                "the event of job {} cannot be serialized: {e}",
                event.job_id
            ))
        })?;
        let mut request = self
            .client
            .publish()
            .topic_arn(&self.topic_arn)
            .message(message);
        // Attributes for subscription filter policies. SNS rejects empty values, so an
        // empty one (no client tag) is left out.
        for (name, value) in [
            ("JobId", &event.job_id),
            ("Status", &event.status),
            ("ClientTag", &event.client_tag),
        ] {
            if value.is_empty() {
                continue;
            }
            let attribute = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .map_err(|e| PortError::Rejected(format!("message attribute {name}: {e}")))?;
            request = request.message_attributes(name, attribute);
        }
        request.send().await.map_err(|e| {
            port_error(
                "Publish",
                format_args!("topic {} (job {})", self.topic_arn, event.job_id),
                e,
            )
        })?;
        Ok(())
    }
}
