//! The two tables, as the SAM template and the local stack must create them.
//!
//! **Jobs table** (billing on demand)
//! - key: `pk` (S, HASH) = job id; `sk` (S, RANGE):
//!   - `"JOB"`: the [`JobRecord`](gbr_core::job::JobRecord), its fields as
//!     serde_dynamo writes them (`job_id`, `request` (M), `status`, `created_at`,
//!     `updated_at`, `deadline`, `last_percent_notified` (N), `terminal`
//!     (M: `status`, `published`, `percent`), `request_fingerprint`, …), with
//!     `created_at` written to the nanosecond at a fixed width (so that strings sort as
//!     times do), plus `client_tag` (S) when the request has one and `listing` (S) =
//!     `"JOB"` always;
//!   - `"SHARD#00"` … `"SHARD#15"`: counter shards with `restored` (N), `excluded` (N),
//!     created by the first `ADD`.
//! - GSI `by-client-tag`: `client_tag` (S, HASH), `created_at` (S, RANGE), projection
//!   ALL; sparse (only job items of requests with a tag), for listing a client's jobs.
//! - GSI `by-created`: `listing` (S, HASH), `created_at` (S, RANGE), projection ALL;
//!   every job item under the one hash key `"JOB"`, for listing all jobs newest first.
//!   One partition holds them all: jobs are created and updated a few times a minute
//!   at most, far below a partition's limits. Counter shards carry neither key, so
//!   their writes never reach an index.
//!
//! **Objects table** (billing on demand, TTL on `expires_at`)
//! - key: `object_hash` (S, HASH) = [`ObjectId::digest`](gbr_core::object_id::ObjectId::digest),
//!   43 characters whatever the object; `job_id` (S, RANGE). Not the canonical id
//!   itself: an S3 key and a version id may each take 1,024 bytes, past DynamoDB's
//!   limits of 2,048 bytes for a partition key and 1,024 for a sort key (the index's).
//! - attributes: `object_id` (S, [`ObjectId::canonical`](gbr_core::object_id::ObjectId::canonical):
//!   bucket, version and decoded key, readable), `state` (S: `requested` | `restored` |
//!   `excluded`), `registered_by` (S: the manifest piece that wrote the row, so that a
//!   retried registration counts each object once), `updated_at` (S, RFC 3339 to the
//!   second), `expires_at` (N, epoch seconds).
//! - GSI `by-job`: `job_id` (S, HASH), `object_hash` (S, RANGE), projection KEYS_ONLY,
//!   so that marking a row (which changes `state` and `updated_at`) writes no index
//!   item: a mark costs the base-table write alone.

use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TableStatus, TimeToLiveSpecification, TimeToLiveStatus,
};
use gbr_core::ports::{PortError, PortResult};

use super::TableNames;
use crate::errors::{code_and_status, port_error};

// Jobs table.
pub const JOB_PK: &str = "pk";
pub const JOB_SK: &str = "sk";
/// Sort key of the job record item.
pub const JOB_ITEM_SK: &str = "JOB";
/// Sort keys of the counter shards start with this, then two digits.
pub const SHARD_SK_PREFIX: &str = "SHARD#";
pub const COUNTER_SHARDS: u32 = 16;
pub const CLIENT_TAG: &str = "client_tag";
pub const CREATED_AT: &str = "created_at";
pub const BY_CLIENT_TAG: &str = "by-client-tag";
/// Hash key of the `by-created` index, on every job item.
pub const LISTING: &str = "listing";
/// The one value of [`LISTING`].
pub const LISTING_JOBS: &str = "JOB";
pub const BY_CREATED: &str = "by-created";
pub const RESTORED: &str = "restored";
pub const EXCLUDED: &str = "excluded";

// Objects table.
pub const OBJECT_HASH: &str = "object_hash";
pub const JOB_ID: &str = "job_id";
pub const OBJECT_ID: &str = "object_id";
pub const STATE: &str = "state";
/// The manifest piece whose registration wrote the row (see `ObjectStore::register`).
pub const REGISTERED_BY: &str = "registered_by";
pub const UPDATED_AT: &str = "updated_at";
pub const EXPIRES_AT: &str = "expires_at";
pub const BY_JOB: &str = "by-job";

/// The sort key of counter shard `n` (`SHARD#00` … `SHARD#15`).
pub fn shard_sk(n: u32) -> String {
    format!("{SHARD_SK_PREFIX}{:02}", n % COUNTER_SHARDS)
}

fn key_element(name: &str, key_type: KeyType) -> PortResult<KeySchemaElement> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(key_type)
        .build()
        .map_err(|e| PortError::Rejected(format!("key schema {name}: {e}")))
}

fn string_attribute(name: &str) -> PortResult<AttributeDefinition> {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .map_err(|e| PortError::Rejected(format!("attribute {name}: {e}")))
}

/// Creates both tables, their indexes and the objects table's TTL, and waits until
/// they are active. Tables that exist already are left as they are.
pub async fn create_tables(client: &Client, tables: &TableNames) -> PortResult<()> {
    let jobs_index = |name: &str, hash: &str| {
        GlobalSecondaryIndex::builder()
            .index_name(name)
            .key_schema(key_element(hash, KeyType::Hash)?)
            .key_schema(key_element(CREATED_AT, KeyType::Range)?)
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::All)
                    .build(),
            )
            .build()
            .map_err(|e| PortError::Rejected(format!("index {name}: {e}")))
    };
    let created = client
        .create_table()
        .table_name(&tables.jobs)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key_element(JOB_PK, KeyType::Hash)?)
        .key_schema(key_element(JOB_SK, KeyType::Range)?)
        .attribute_definitions(string_attribute(JOB_PK)?)
        .attribute_definitions(string_attribute(JOB_SK)?)
        .attribute_definitions(string_attribute(CLIENT_TAG)?)
        .attribute_definitions(string_attribute(CREATED_AT)?)
        .attribute_definitions(string_attribute(LISTING)?)
        .global_secondary_indexes(jobs_index(BY_CLIENT_TAG, CLIENT_TAG)?)
        .global_secondary_indexes(jobs_index(BY_CREATED, LISTING)?)
        .send()
        .await;
    ignore_existing(created, "CreateTable", &tables.jobs)?;

    let objects_index = GlobalSecondaryIndex::builder()
        .index_name(BY_JOB)
        .key_schema(key_element(JOB_ID, KeyType::Hash)?)
        .key_schema(key_element(OBJECT_HASH, KeyType::Range)?)
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::KeysOnly)
                .build(),
        )
        .build()
        .map_err(|e| PortError::Rejected(format!("index {BY_JOB}: {e}")))?;
    let created = client
        .create_table()
        .table_name(&tables.objects)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key_element(OBJECT_HASH, KeyType::Hash)?)
        .key_schema(key_element(JOB_ID, KeyType::Range)?)
        .attribute_definitions(string_attribute(OBJECT_HASH)?)
        .attribute_definitions(string_attribute(JOB_ID)?)
        .global_secondary_indexes(objects_index)
        .send()
        .await;
    ignore_existing(created, "CreateTable", &tables.objects)?;

    wait_active(client, &tables.jobs).await?;
    wait_active(client, &tables.objects).await?;
    enable_ttl(client, &tables.objects).await
}

fn ignore_existing<T, E>(
    result: Result<
        T,
        aws_sdk_dynamodb::error::SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>,
    >,
    operation: &str,
    table: &str,
) -> PortResult<()>
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata
        + std::error::Error
        + Send
        + Sync
        + 'static,
{
    match result {
        Ok(_) => Ok(()),
        Err(e) if code_and_status(&e).0.as_deref() == Some("ResourceInUseException") => Ok(()),
        Err(e) => Err(port_error(operation, format_args!("table {table}"), e)),
    }
}

/// Polls until the table is ACTIVE (at once on a local server; about a minute on AWS).
async fn wait_active(client: &Client, table: &str) -> PortResult<()> {
    for _ in 0..120 {
        let described = client
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(|e| port_error("DescribeTable", format_args!("table {table}"), e))?;
        if described.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Err(PortError::Retryable(format!(
        "table {table} is not active after 2 minutes"
    )))
}

async fn enable_ttl(client: &Client, table: &str) -> PortResult<()> {
    let current = client
        .describe_time_to_live()
        .table_name(table)
        .send()
        .await
        .map_err(|e| port_error("DescribeTimeToLive", format_args!("table {table}"), e))?;
    let status = current
        .time_to_live_description()
        .and_then(|d| d.time_to_live_status());
    if matches!(
        status,
        Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)
    ) {
        return Ok(());
    }
    let spec = TimeToLiveSpecification::builder()
        .attribute_name(EXPIRES_AT)
        .enabled(true)
        .build()
        .map_err(|e| PortError::Rejected(format!("TTL of {table}: {e}")))?;
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(spec)
        .send()
        .await
        .map_err(|e| port_error("UpdateTimeToLive", format_args!("table {table}"), e))?;
    Ok(())
}
