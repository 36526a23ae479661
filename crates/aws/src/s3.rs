//! S3: bounded reads of manifests and reports, pages of a bucket's listing, and
//! HeadObject for an object's archive state.

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_s3::Client;
use aws_sdk_s3::types::{ArchiveStatus, CompletedMultipartUpload, CompletedPart, StorageClass};
use gbr_core::filter::ListedObject;
use gbr_core::object_id::ObjectId;
use gbr_core::ports::{
    ArchiveState, ObjectInspector, ObjectMeta, ObjectSource, Page, PortError, PortResult,
    UploadedPart,
};

use crate::config::s3_client;
use crate::errors::{code_and_status, port_error};

/// Objects in S3.
#[derive(Debug, Clone)]
pub struct S3Objects {
    client: Client,
}

impl S3Objects {
    pub fn new(config: &SdkConfig) -> Self {
        Self::from_client(s3_client(config))
    }

    /// An adapter on an existing client (tests pass a mocked one).
    pub fn from_client(client: Client) -> Self {
        Self { client }
    }
}

fn location(bucket: &str, key: &str) -> String {
    format!("s3://{bucket}/{key}")
}

/// Keys per ListObjectsV2 page: S3's most.
const LIST_PAGE_KEYS: i32 = 1000;

/// What `x-amz-restore` says: `ongoing-request="true"` while restoring,
/// `ongoing-request="false", expiry-date="…"` once restored.
fn restore_state(header: &str) -> Option<ArchiveState> {
    let compact: String = header.chars().filter(|c| !c.is_whitespace()).collect();
    if compact.contains("ongoing-request=\"true\"") {
        Some(ArchiveState::Restoring)
    } else if compact.contains("ongoing-request=\"false\"") {
        Some(ArchiveState::Restored)
    } else {
        None
    }
}

/// Whether an object in this class (and Intelligent-Tiering archive tier) must be
/// restored before it can be read.
fn needs_restore(class: Option<&StorageClass>, archive_status: Option<&ArchiveStatus>) -> bool {
    match class {
        Some(StorageClass::Glacier | StorageClass::DeepArchive) => true,
        Some(StorageClass::IntelligentTiering) => archive_status.is_some(),
        _ => false,
    }
}

#[async_trait]
impl ObjectSource for S3Objects {
    async fn head(&self, bucket: &str, key: &str) -> PortResult<ObjectMeta> {
        let out = self
            .client
            .head_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| port_error("HeadObject", location(bucket, key), e))?;
        let etag = out.e_tag().ok_or_else(|| {
            PortError::Rejected(format!(
                "HeadObject on {} returned no ETag",
                location(bucket, key)
            ))
        })?;
        let size = out
            .content_length()
            .and_then(|l| u64::try_from(l).ok())
            .ok_or_else(|| {
                PortError::Rejected(format!(
                    "HeadObject on {} returned no size",
                    location(bucket, key)
                ))
            })?;
        Ok(ObjectMeta {
            etag: etag.to_owned(),
            size,
        })
    }

    async fn read_range(
        &self,
        bucket: &str,
        key: &str,
        etag: Option<&str>,
        start: u64,
        len: u64,
    ) -> PortResult<Vec<u8>> {
        if len == 0 {
            return Ok(Vec::new());
        }
        let last = start.saturating_add(len - 1);
        let result = self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .range(format!("bytes={start}-{last}"))
            .set_if_match(etag.map(str::to_owned))
            .send()
            .await;
        let out = match result {
            Ok(out) => out,
            Err(e) => {
                let (code, status) = code_and_status(&e);
                // A range starting at or after the end: there is nothing more to read.
                if status == Some(416) || code.as_deref() == Some("InvalidRange") {
                    return Ok(Vec::new());
                }
                if status == Some(412) || code.as_deref() == Some("PreconditionFailed") {
                    return Err(PortError::Conflict(format!(
                        "{} changed: its ETag is no longer {}",
                        location(bucket, key),
                        etag.unwrap_or_default()
                    )));
                }
                return Err(port_error("GetObject", location(bucket, key), e));
            }
        };
        // A server that ignored the range sends the whole object: skip to `start`.
        let mut skip = if out.content_range().is_none() {
            start
        } else {
            0
        };
        let limit = usize::try_from(len).unwrap_or(usize::MAX);
        let mut body = out.body;
        let mut bytes = Vec::new();
        while bytes.len() < limit {
            let chunk = match body.next().await {
                None => break,
                Some(Ok(chunk)) => chunk,
                Some(Err(e)) => {
                    return Err(PortError::Retryable(format!(
                        "GetObject on {}: the body was cut off: {e}",
                        location(bucket, key)
                    )));
                }
            };
            let mut piece: &[u8] = &chunk;
            let skipped = usize::try_from(skip).unwrap_or(usize::MAX).min(piece.len());
            piece = &piece[skipped..];
            skip -= skipped as u64;
            let take = piece.len().min(limit - bytes.len());
            bytes.extend_from_slice(&piece[..take]);
        }
        Ok(bytes)
    }

    async fn start_upload(&self, bucket: &str, key: &str) -> PortResult<String> {
        let out = self
            .client
            .create_multipart_upload()
            .bucket(bucket)
            .key(key)
            .content_type("text/csv")
            .send()
            .await
            .map_err(|e| port_error("CreateMultipartUpload", location(bucket, key), e))?;
        out.upload_id.ok_or_else(|| {
            PortError::Rejected(format!(
                "CreateMultipartUpload on {} returned no upload id",
                location(bucket, key)
            ))
        })
    }

    async fn upload_part(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        number: u32,
        body: Vec<u8>,
    ) -> PortResult<String> {
        let number = i32::try_from(number).map_err(|_| {
            PortError::Rejected(format!("part number {number} is above S3's 10,000"))
        })?;
        let out = self
            .client
            .upload_part()
            .bucket(bucket)
            .key(key)
            .upload_id(upload_id)
            .part_number(number)
            .body(body.into())
            .send()
            .await
            .map_err(|e| port_error("UploadPart", location(bucket, key), e))?;
        out.e_tag.ok_or_else(|| {
            PortError::Rejected(format!(
                "UploadPart on {} returned no ETag",
                location(bucket, key)
            ))
        })
    }

    async fn complete_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        parts: &[UploadedPart],
    ) -> PortResult<String> {
        let parts = parts
            .iter()
            .map(|p| {
                CompletedPart::builder()
                    .part_number(i32::try_from(p.number).unwrap_or(i32::MAX))
                    .e_tag(&p.etag)
                    .build()
            })
            .collect();
        let out = self
            .client
            .complete_multipart_upload()
            .bucket(bucket)
            .key(key)
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| match code_and_status(&e).0.as_deref() {
                // Completed by an earlier try whose answer was lost, or aborted.
                Some("NoSuchUpload") => {
                    PortError::NotFound(format!("upload {upload_id} of {}", location(bucket, key)))
                }
                _ => port_error("CompleteMultipartUpload", location(bucket, key), e),
            })?;
        out.e_tag.ok_or_else(|| {
            PortError::Rejected(format!(
                "CompleteMultipartUpload on {} returned no ETag",
                location(bucket, key)
            ))
        })
    }

    async fn list_page(
        &self,
        bucket: &str,
        prefix: &str,
        after: Option<&str>,
    ) -> PortResult<Page<ListedObject>> {
        let incomplete = |what: &str| {
            PortError::Rejected(format!(
                "ListObjectsV2 on {} returned an object with no {what}",
                location(bucket, prefix)
            ))
        };
        let mut token: Option<String> = None;
        loop {
            let out = self
                .client
                .list_objects_v2()
                .bucket(bucket)
                .set_prefix(Some(prefix.to_owned()).filter(|p| !p.is_empty()))
                .set_start_after(after.map(str::to_owned))
                .set_continuation_token(token.clone())
                .max_keys(LIST_PAGE_KEYS)
                .send()
                .await
                .map_err(|e| port_error("ListObjectsV2", location(bucket, prefix), e))?;
            let mut items = Vec::with_capacity(out.contents().len());
            for object in out.contents() {
                let key = object.key().ok_or_else(|| incomplete("key"))?;
                let size = object
                    .size()
                    .and_then(|s| u64::try_from(s).ok())
                    .ok_or_else(|| incomplete("size"))?;
                let last_modified = object
                    .last_modified()
                    .and_then(|t| jiff::Timestamp::from_nanosecond(t.as_nanos()).ok())
                    .ok_or_else(|| incomplete("last-modified time"))?;
                items.push(ListedObject {
                    key: key.to_owned(),
                    size,
                    last_modified,
                    // An object listed with no class is in STANDARD.
                    storage_class: object
                        .storage_class()
                        .map_or("STANDARD", |c| c.as_str())
                        .to_owned(),
                });
            }
            if out.is_truncated() != Some(true) {
                return Ok(Page { items, next: None });
            }
            if let Some(last) = items.last() {
                let next = Some(last.key.clone());
                return Ok(Page { items, next });
            }
            // A truncated page may hold no key (S3 answers "might contain fewer keys"):
            // no key to resume after, so go on with S3's token until one comes.
            match out.next_continuation_token() {
                Some(next) if token.as_deref() != Some(next) => token = Some(next.to_owned()),
                _ => {
                    return Err(PortError::Retryable(format!(
                        "ListObjectsV2 on {} said there is more but gave no key or new token",
                        location(bucket, prefix)
                    )));
                }
            }
        }
    }
}

#[async_trait]
impl ObjectInspector for S3Objects {
    async fn inspect(&self, object: &ObjectId) -> PortResult<ArchiveState> {
        let result = self
            .client
            .head_object()
            .bucket(object.bucket())
            .key(object.key())
            .set_version_id(object.version_id().map(str::to_owned))
            .send()
            .await;
        let out = match result {
            Ok(out) => out,
            // 405: the version named is a delete marker (S3 API reference, HeadObject;
            // tests/fixtures/aws/head-object/): no object to restore, as a missing one.
            Err(e) if code_and_status(&e).1 == Some(405) => return Ok(ArchiveState::Missing),
            Err(e) => {
                return match port_error("HeadObject", object, e) {
                    PortError::NotFound(_) => Ok(ArchiveState::Missing),
                    other => Err(other),
                };
            }
        };
        if !needs_restore(out.storage_class(), out.archive_status()) {
            return Ok(ArchiveState::NotArchived);
        }
        match out.restore() {
            None => Ok(ArchiveState::Archived),
            Some(header) => restore_state(header).ok_or_else(|| {
                PortError::Rejected(format!(
                    "HeadObject on {object}: x-amz-restore {header:?} is not understood"
                ))
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restore_header_states() {
        assert_eq!(
            restore_state("ongoing-request=\"true\""),
            Some(ArchiveState::Restoring)
        );
        assert_eq!(
            restore_state(
                "ongoing-request=\"false\", expiry-date=\"Fri, 21 Dec 2012 00:00:00 GMT\""
            ),
            Some(ArchiveState::Restored)
        );
        assert_eq!(restore_state("garbage"), None);
    }

    #[test]
    fn only_archive_classes_need_a_restore() {
        assert!(needs_restore(Some(&StorageClass::Glacier), None));
        assert!(needs_restore(Some(&StorageClass::DeepArchive), None));
        assert!(!needs_restore(Some(&StorageClass::GlacierIr), None));
        assert!(!needs_restore(None, None));
        assert!(!needs_restore(Some(&StorageClass::Standard), None));
        assert!(needs_restore(
            Some(&StorageClass::IntelligentTiering),
            Some(&ArchiveStatus::DeepArchiveAccess)
        ));
        assert!(!needs_restore(
            Some(&StorageClass::IntelligentTiering),
            None
        ));
    }
}
