//! The requests the simulator sends to moto: S3 to read manifests, inspect and restore
//! objects and write reports; SQS to deliver restore events.

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{GlacierJobParameters, RestoreRequest, Tier as S3Tier};
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use gbr_core::filter::ListedObject;
use gbr_core::object_id::ObjectId;
use gbr_core::request::Tier;
use jiff::Timestamp;
use thiserror::Error;

use super::glacier::Found;

/// A request moto refused or could not answer.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{operation} {target}: {code} (HTTP {http_status}): {message}")]
pub struct RequestError {
    pub operation: &'static str,
    pub target: String,
    /// 0 when no response came (connection refused, timeout).
    pub http_status: u16,
    pub code: String,
    pub message: String,
}

impl RequestError {
    fn from_sdk<E>(operation: &'static str, target: String, e: &SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let http_status = e.raw_response().map_or(0, |r| r.status().as_u16());
        let code = e
            .code()
            .map(str::to_owned)
            .unwrap_or_else(|| match http_status {
                0 => "NoResponse".into(),
                404 => "NotFound".into(),
                s => format!("Http{s}"),
            });
        let message = e.message().map_or_else(
            || aws_sdk_s3::error::DisplayErrorContext(e).to_string(),
            str::to_owned,
        );
        Self {
            operation,
            target,
            http_status,
            code,
            message,
        }
    }
}

impl RequestError {
    /// A request that could not even be made.
    pub fn invalid(operation: &'static str, object: &ObjectId, e: impl std::fmt::Display) -> Self {
        Self::answered(operation, object, 0, "InvalidRequest", &e.to_string())
    }

    /// An answer S3 would give.
    pub fn answered(
        operation: &'static str,
        object: &ObjectId,
        http_status: u16,
        code: &str,
        message: &str,
    ) -> Self {
        Self {
            operation,
            target: s3_target(object),
            http_status,
            code: code.to_owned(),
            message: message.to_owned(),
        }
    }
}

fn s3_target(object: &ObjectId) -> String {
    object.to_string()
}

/// PutObject of a data object in `class`; answers the version id S3 gave it.
pub async fn put_object(
    s3: &aws_sdk_s3::Client,
    object: &ObjectId,
    class: &str,
    body: Vec<u8>,
) -> Result<Option<String>, RequestError> {
    let out = s3
        .put_object()
        .bucket(object.bucket())
        .key(object.key())
        .storage_class(aws_sdk_s3::types::StorageClass::from(class))
        .body(ByteStream::from(body))
        .send()
        .await
        .map_err(|e| RequestError::from_sdk("PutObject", s3_target(object), &e))?;
    Ok(out.version_id)
}

/// What HeadObject says of one object, and its size (0 when it has none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub found: Found,
    pub size: u64,
}

/// HeadObject on one object.
pub async fn head(s3: &aws_sdk_s3::Client, object: &ObjectId) -> Head {
    let result = s3
        .head_object()
        .bucket(object.bucket())
        .key(object.key())
        .set_version_id(object.version_id().map(str::to_owned))
        .send()
        .await;
    let found = match result {
        Ok(out) => {
            let found = Found::from_head(out.storage_class().map(|c| c.as_str()), out.restore());
            let size = out
                .content_length()
                .and_then(|n| u64::try_from(n).ok())
                .unwrap_or(0);
            return Head { found, size };
        }
        Err(e) => {
            let e = RequestError::from_sdk("HeadObject", s3_target(object), &e);
            // HeadObject answers have no body, so a missing key or version (or bucket)
            // is a bare 404.
            if e.http_status == 404 {
                Found::Missing
            } else {
                Found::Unreadable {
                    http_status: if e.http_status == 0 {
                        500
                    } else {
                        e.http_status
                    },
                    code: e.code,
                    message: e.message,
                }
            }
        }
    };
    Head { found, size: 0 }
}

/// Reads a whole manifest, as long as its ETag is still `etag`.
pub async fn read_manifest(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    etag: &str,
) -> Result<Vec<u8>, RequestError> {
    let target = format!("s3://{bucket}/{key}");
    // If-Match takes a quoted entity tag; Batch Operations takes the ETag without quotes.
    let quoted = format!("\"{}\"", etag.trim_matches('"'));
    let out = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .if_match(quoted)
        .send()
        .await
        .map_err(|e| RequestError::from_sdk("GetObject", target.clone(), &e))?;
    let body = out.body.collect().await.map_err(|e| RequestError {
        operation: "GetObject",
        target,
        http_status: 0,
        code: "IncompleteBody".into(),
        message: e.to_string(),
    })?;
    Ok(body.into_bytes().to_vec())
}

/// RestoreObject on moto, at the instant the restore completes: moto restores at once,
/// so HeadObject answers truthfully from then on (for reconciliation).
pub async fn restore(
    s3: &aws_sdk_s3::Client,
    object: &ObjectId,
    days: u32,
    tier: Tier,
) -> Result<(), RequestError> {
    let tier = match tier {
        Tier::Standard => S3Tier::Standard,
        Tier::Bulk => S3Tier::Bulk,
    };
    let parameters = GlacierJobParameters::builder()
        .tier(tier)
        .build()
        .map_err(|e| RequestError {
            operation: "RestoreObject",
            target: s3_target(object),
            http_status: 0,
            code: "InvalidRequest".into(),
            message: e.to_string(),
        })?;
    s3.restore_object()
        .bucket(object.bucket())
        .key(object.key())
        .set_version_id(object.version_id().map(str::to_owned))
        .restore_request(
            RestoreRequest::builder()
                .days(i32::try_from(days).unwrap_or(i32::MAX))
                .glacier_job_parameters(parameters)
                .build(),
        )
        .send()
        .await
        .map_err(|e| RequestError::from_sdk("RestoreObject", s3_target(object), &e))?;
    Ok(())
}

/// Writes one object (a completion report's, a generated list's); answers its ETag.
pub async fn put(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    content_type: &str,
    body: Vec<u8>,
) -> Result<String, RequestError> {
    let out = s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .content_type(content_type)
        .body(ByteStream::from(body))
        .send()
        .await
        .map_err(|e| RequestError::from_sdk("PutObject", format!("s3://{bucket}/{key}"), &e))?;
    Ok(out.e_tag().unwrap_or_default().trim_matches('"').to_owned())
}

/// Every object under `prefix`, as ListObjectsV2 shows it.
pub async fn list(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
) -> Result<Vec<ListedObject>, RequestError> {
    let target = format!("s3://{bucket}/{prefix}");
    let mut pages = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .into_paginator()
        .send();
    let mut out = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| RequestError::from_sdk("ListObjectsV2", target.clone(), &e))?;
        for object in page.contents() {
            let last_modified = object
                .last_modified()
                .and_then(|t| Timestamp::new(t.secs(), t.subsec_nanos() as i32).ok())
                .unwrap_or_default();
            out.push(ListedObject {
                key: object.key().unwrap_or_default().to_owned(),
                size: object
                    .size()
                    .and_then(|n| u64::try_from(n).ok())
                    .unwrap_or(0),
                last_modified,
                storage_class: object
                    .storage_class()
                    .map_or("STANDARD", |c| c.as_str())
                    .to_owned(),
            });
        }
    }
    Ok(out)
}

/// The hexadecimal MD5 of some bytes, as S3's `MD5Checksum` and SQS's `MD5OfBody`
/// give it.
pub(crate) fn md5_hex(bytes: &[u8]) -> String {
    use md5::{Digest, Md5};
    Md5::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// SQS takes at most ten messages a SendMessageBatch.
const SEND_BATCH: usize = 10;

/// Sends messages to a queue, ten a request.
pub async fn send_messages(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    bodies: Vec<String>,
) -> Result<(), RequestError> {
    let failure = |code: &str, message: String| RequestError {
        operation: "SendMessageBatch",
        target: queue_url.to_owned(),
        http_status: 0,
        code: code.to_owned(),
        message,
    };
    for group in bodies.chunks(SEND_BATCH) {
        let mut entries = Vec::with_capacity(group.len());
        for (i, body) in group.iter().enumerate() {
            entries.push(
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(body)
                    .build()
                    .map_err(|e| failure("InvalidRequest", e.to_string()))?,
            );
        }
        let out = sqs
            .send_message_batch()
            .queue_url(queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| RequestError::from_sdk("SendMessageBatch", queue_url.to_owned(), &e))?;
        if let Some(failed) = out.failed().first() {
            return Err(failure(
                failed.code(),
                failed.message().unwrap_or_default().to_owned(),
            ));
        }
    }
    Ok(())
}
