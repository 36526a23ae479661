//! The stack's resources, with the settings `template.yaml` gives them: the two tables
//! (keys, indexes, TTL) on the local DynamoDB; on moto, the encrypted topic and its
//! progress queue (raw delivery), the restore-events queue with its dead-letter queue,
//! and buckets.
//!
//! On AWS, restore events reach the queue through an EventBridge rule; moto has no
//! EventBridge delivery of S3 events, so here the batch simulator posts each restore
//! event to the queue itself, in the shape AWS sends (EventBridge by default, or S3 event
//! notifications), and no bucket notification is configured.

use aws_config::SdkConfig;
use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
use aws_sdk_sqs::types::QueueAttributeName;
use gbr_aws::TableNames;
use gbr_aws::dynamodb::schema::create_tables;
use gbr_aws::errors::port_error;

use super::StackError;

/// moto's account and region.
pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "us-east-1";
/// Deliveries before a restore event goes to the dead-letter queue, as in the template.
pub const MAX_RECEIVE_COUNT: u32 = 5;

/// Every resource name of one stack, all derived from a prefix so that several stacks
/// (one per test) share a moto server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    pub prefix: String,
    pub tables: TableNames,
    pub topic: String,
    pub progress_queue: String,
    pub restore_queue: String,
    pub dead_letter_queue: String,
    pub manifest_bucket: String,
    pub report_bucket: String,
}

impl Names {
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
            tables: TableNames {
                jobs: format!("{prefix}-jobs"),
                objects: format!("{prefix}-objects"),
            },
            topic: format!("{prefix}-events"),
            progress_queue: format!("{prefix}-progress"),
            restore_queue: format!("{prefix}-restore-events"),
            dead_letter_queue: format!("{prefix}-restore-events-dlq"),
            manifest_bucket: format!("{prefix}-manifests"),
            report_bucket: format!("{prefix}-reports"),
        }
    }
}

/// What provisioning created that other parts need to address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    pub topic_arn: String,
    pub progress_queue_url: String,
    pub restore_queue_url: String,
    pub dead_letter_queue_url: String,
}

pub fn queue_arn(name: &str) -> String {
    format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{name}")
}

/// Creates every resource; data buckets get versioning (so manifests may name versions)
/// and a notification of completed restores to the restore-events queue.
pub async fn provision(
    sdk: &SdkConfig,
    dynamodb_sdk: &SdkConfig,
    names: &Names,
    data_buckets: &[String],
) -> Result<Endpoints, StackError> {
    let dynamodb = aws_sdk_dynamodb::Client::new(dynamodb_sdk);
    create_tables(&dynamodb, &names.tables)
        .await
        .map_err(|e| StackError::Provision(format!("tables: {e}")))?;

    let sqs = aws_sdk_sqs::Client::new(sdk);
    let dead_letter_queue_url = create_queue(&sqs, &names.dead_letter_queue, &[]).await?;
    let redrive = serde_json::json!({
        "deadLetterTargetArn": queue_arn(&names.dead_letter_queue),
        "maxReceiveCount": MAX_RECEIVE_COUNT.to_string(),
    })
    .to_string();
    let restore_queue_url = create_queue(
        &sqs,
        &names.restore_queue,
        &[
            (QueueAttributeName::RedrivePolicy, redrive),
            (QueueAttributeName::VisibilityTimeout, "30".into()),
        ],
    )
    .await?;
    let progress_queue_url = create_queue(&sqs, &names.progress_queue, &[]).await?;

    let sns = aws_sdk_sns::Client::new(sdk);
    let topic_arn = sns
        .create_topic()
        .name(&names.topic)
        .attributes("KmsMasterKeyId", "alias/aws/sns")
        .send()
        .await
        .map_err(|e| provision_error("CreateTopic", format!("topic {}", names.topic), e))?
        .topic_arn
        .ok_or_else(|| StackError::Provision("CreateTopic answered no ARN".into()))?;
    sns.subscribe()
        .topic_arn(&topic_arn)
        .protocol("sqs")
        .endpoint(queue_arn(&names.progress_queue))
        .attributes("RawMessageDelivery", "true")
        .send()
        .await
        .map_err(|e| provision_error("Subscribe", "the progress queue", e))?;

    let s3 = gbr_aws::config::s3_client(sdk);
    for bucket in [&names.manifest_bucket, &names.report_bucket]
        .into_iter()
        .chain(data_buckets)
    {
        create_bucket(&s3, bucket).await?;
    }
    for bucket in data_buckets {
        s3.put_bucket_versioning()
            .bucket(bucket)
            .versioning_configuration(
                VersioningConfiguration::builder()
                    .status(BucketVersioningStatus::Enabled)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| provision_error("PutBucketVersioning", format!("bucket {bucket}"), e))?;
    }
    Ok(Endpoints {
        topic_arn,
        progress_queue_url,
        restore_queue_url,
        dead_letter_queue_url,
    })
}

async fn create_queue(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
    attributes: &[(QueueAttributeName, String)],
) -> Result<String, StackError> {
    let mut request = sqs.create_queue().queue_name(name);
    for (key, value) in attributes {
        request = request.attributes(key.clone(), value);
    }
    request
        .send()
        .await
        .map_err(|e| provision_error("CreateQueue", format!("queue {name}"), e))?
        .queue_url
        .ok_or_else(|| StackError::Provision(format!("CreateQueue {name} answered no URL")))
}

async fn create_bucket(s3: &aws_sdk_s3::Client, bucket: &str) -> Result<(), StackError> {
    match s3.create_bucket().bucket(bucket).send().await {
        Ok(_) => Ok(()),
        Err(e) => {
            let service = e.as_service_error();
            if service.is_some_and(|s| s.is_bucket_already_owned_by_you()) {
                Ok(())
            } else {
                Err(provision_error(
                    "CreateBucket",
                    format!("bucket {bucket}"),
                    e,
                ))
            }
        }
    }
}

/// A failed call while creating the resources, as a sentence.
fn provision_error<E>(
    operation: &str,
    resource: impl std::fmt::Display,
    e: aws_sdk_sqs::error::SdkError<E, aws_sdk_sqs::config::http::HttpResponse>,
) -> StackError
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata
        + std::error::Error
        + Send
        + Sync
        + 'static,
{
    StackError::Provision(port_error(operation, resource, e).to_string())
}
