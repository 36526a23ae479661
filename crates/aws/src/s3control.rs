//! S3 Batch Operations (S3 Control): one restore job per bulk job, from a CSV manifest
//! or from S3's manifest generator (a job by filter).

use std::str::FromStr;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_s3control::Client;
use aws_sdk_s3control::types::{
    GeneratedManifestEncryption, GeneratedManifestFormat, JobManifest, JobManifestFieldName,
    JobManifestFormat, JobManifestGenerator, JobManifestGeneratorFilter, JobManifestLocation,
    JobManifestSpec, JobOperation, JobReport, JobReportFormat, JobReportScope, KeyNameConstraint,
    RequestedJobStatus, S3GlacierJobTier, S3InitiateRestoreObjectOperation, S3JobManifestGenerator,
    S3ManifestOutputLocation, S3StorageClass, S3Tag, Sses3Encryption,
};
use aws_smithy_types::DateTime;
use gbr_core::filter::ObjectFilter;
use gbr_core::ports::{
    BatchJobInfo, BatchJobSpec, BatchManifest, BatchOperations, GeneratedManifest, PortError,
    PortResult,
};
use gbr_core::request::Tier;
use gbr_core::status::BatchJobStatus;

use crate::errors::port_error;

/// Deployment settings for batch jobs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchSettings {
    /// The account that owns the jobs (S3 Control calls are per account).
    pub account_id: String,
    /// The role Batch Operations assumes to read the manifest and restore objects.
    pub role_arn: String,
    /// `arn:aws:s3:::bucket` where completion reports go.
    pub report_bucket_arn: String,
    pub report_prefix: String,
    /// Higher runs first among the account's jobs.
    pub priority: i32,
}

/// S3 Batch Operations through S3 Control.
#[derive(Debug, Clone)]
pub struct S3BatchOperations {
    client: Client,
    settings: BatchSettings,
}

impl S3BatchOperations {
    pub fn new(config: &SdkConfig, settings: BatchSettings) -> Self {
        Self::from_client(Client::new(config), settings)
    }

    /// An adapter on an existing client (tests pass a mocked one).
    pub fn from_client(client: Client, settings: BatchSettings) -> Self {
        Self { client, settings }
    }

    /// UpdateJobStatus: confirms (Ready) or cancels a job.
    async fn update_status(
        &self,
        batch_job_id: &str,
        status: RequestedJobStatus,
        reason: &str,
    ) -> PortResult<()> {
        self.client
            .update_job_status()
            .account_id(&self.settings.account_id)
            .job_id(batch_job_id)
            .requested_job_status(status)
            .status_update_reason(reason)
            .send()
            .await
            .map_err(|e| {
                port_error(
                    "UpdateJobStatus",
                    format_args!("batch job {batch_job_id}"),
                    e,
                )
            })?;
        Ok(())
    }

    /// The partition of the report bucket's ARN (`aws`, `aws-cn`, …): the manifest's
    /// ARN is in the same one.
    fn partition(&self) -> &str {
        let mut parts = self.settings.report_bucket_arn.split(':');
        match (parts.next(), parts.next()) {
            (Some("arn"), Some(p)) if !p.is_empty() => p,
            _ => "aws",
        }
    }

    fn bucket_arn(&self, bucket: &str) -> String {
        format!("arn:{}:s3:::{bucket}", self.partition())
    }

    /// The CSV manifest as of its ETag.
    fn csv_manifest(
        &self,
        bucket: &str,
        key: &str,
        etag: &str,
        versioned: bool,
    ) -> PortResult<JobManifest> {
        let mut fields = vec![JobManifestFieldName::Bucket, JobManifestFieldName::Key];
        if versioned {
            fields.push(JobManifestFieldName::VersionId);
        }
        Ok(JobManifest::builder()
            .spec(
                JobManifestSpec::builder()
                    .format(JobManifestFormat::S3BatchOperationsCsv20180820)
                    .set_fields(Some(fields))
                    .build()
                    .map_err(|e| rejected("manifest spec", e))?,
            )
            .location(
                JobManifestLocation::builder()
                    .object_arn(format!("{}/{key}", self.bucket_arn(bucket)))
                    .e_tag(bare_etag(etag))
                    .build()
                    .map_err(|e| rejected("manifest location", e))?,
            )
            .build())
    }

    /// S3's manifest generator for `filter`, writing its list under `output_prefix`.
    fn generator(
        &self,
        filter: &ObjectFilter,
        output_bucket: &str,
        output_prefix: &str,
    ) -> PortResult<JobManifestGenerator> {
        let account = &self.settings.account_id;
        // An empty list would match every class, and STANDARD objects cannot be restored.
        if filter.storage_classes.is_empty() {
            return Err(rejected("filter", "no storage class to restore"));
        }
        let mut selection = JobManifestGeneratorFilter::builder()
            .set_created_after(filter.created_after.map(datetime).transpose()?)
            .set_created_before(filter.created_before.map(datetime).transpose()?)
            .set_object_size_greater_than_bytes(filter.size_greater_than().map(bytes).transpose()?)
            .set_object_size_less_than_bytes(filter.size_less_than().map(bytes).transpose()?)
            .set_match_any_storage_class(Some(
                filter
                    .storage_classes
                    .iter()
                    .map(|c| S3StorageClass::from(c.as_str()))
                    .collect(),
            ));
        // Only the constraints asked for: an empty list is left out, not sent empty.
        let some = |v: &Vec<String>| Some(v.clone()).filter(|v| !v.is_empty());
        if !filter.prefixes.is_empty() || !filter.suffixes.is_empty() {
            selection = selection.key_name_constraint(
                KeyNameConstraint::builder()
                    .set_match_any_prefix(some(&filter.prefixes))
                    .set_match_any_suffix(some(&filter.suffixes))
                    .build(),
            );
        }
        let output = S3ManifestOutputLocation::builder()
            .expected_manifest_bucket_owner(account)
            .bucket(self.bucket_arn(output_bucket))
            .set_manifest_prefix(Some(output_prefix.to_owned()).filter(|p| !p.is_empty()))
            // SSE-S3: with SSE-KMS the role and our reader would need the key too.
            .manifest_encryption(
                GeneratedManifestEncryption::builder()
                    .sses3(Sses3Encryption::builder().build())
                    .build(),
            )
            .manifest_format(GeneratedManifestFormat::S3InventoryReportCsv20211130)
            .build()
            .map_err(|e| rejected("manifest output location", e))?;
        let generator = S3JobManifestGenerator::builder()
            .expected_bucket_owner(account)
            .source_bucket(self.bucket_arn(&filter.bucket))
            // The list is what register-manifest reads: without it nothing is counted.
            .enable_manifest_output(true)
            .manifest_output_location(output)
            .filter(selection.build())
            .build()
            .map_err(|e| rejected("manifest generator", e))?;
        Ok(JobManifestGenerator::S3JobManifestGenerator(generator))
    }
}

fn rejected(what: &str, e: impl std::fmt::Display) -> PortError {
    PortError::Rejected(format!(
        "the batch job request cannot be built ({what}): {e}"
    ))
}

/// Batch Operations takes the ETag without the quotes HeadObject returns it with.
fn bare_etag(etag: &str) -> &str {
    etag.trim_matches('"')
}

fn count(n: Option<i64>) -> u64 {
    n.and_then(|n| u64::try_from(n).ok()).unwrap_or(0)
}

fn datetime(t: jiff::Timestamp) -> PortResult<DateTime> {
    DateTime::from_nanos(t.as_nanosecond()).map_err(|e| rejected("filter instant", e))
}

fn bytes(n: u64) -> PortResult<i64> {
    i64::try_from(n).map_err(|e| rejected("filter size", e))
}

/// Bucket and key of `arn:<partition>:s3:::bucket/key`; the key may hold '/'.
fn split_object_arn(arn: &str) -> Option<(&str, &str)> {
    let (head, path) = arn.split_once(":::")?;
    if !head.starts_with("arn:") || !head.ends_with(":s3") {
        return None;
    }
    path.split_once('/')
        .filter(|(bucket, key)| !bucket.is_empty() && !key.is_empty())
}

#[async_trait]
impl BatchOperations for S3BatchOperations {
    async fn create_job(&self, spec: &BatchJobSpec) -> PortResult<String> {
        let tier = match spec.tier {
            Tier::Standard => S3GlacierJobTier::Standard,
            Tier::Bulk => S3GlacierJobTier::Bulk,
        };
        let days =
            i32::try_from(spec.expiration_days).map_err(|e| rejected("expiration days", e))?;
        let operation = JobOperation::builder()
            .s3_initiate_restore_object(
                S3InitiateRestoreObjectOperation::builder()
                    .expiration_in_days(days)
                    .glacier_job_tier(tier)
                    .build(),
            )
            .build();
        let report = JobReport::builder()
            .enabled(true)
            .bucket(&self.settings.report_bucket_arn)
            .format(JobReportFormat::ReportCsv20180820)
            .prefix(&self.settings.report_prefix)
            .report_scope(JobReportScope::AllTasks)
            .build();
        let mut request = self
            .client
            .create_job()
            .account_id(&self.settings.account_id)
            .role_arn(&self.settings.role_arn)
            .priority(self.settings.priority)
            // The idempotency token: a retried submission returns the first job.
            .client_request_token(&spec.job_id)
            .description(format!("glacier-bulk-restore job {}", spec.job_id))
            .operation(operation)
            .report(report);
        request = match &spec.manifest {
            BatchManifest::Csv {
                bucket,
                key,
                etag,
                versioned,
            } => request
                .confirmation_required(false)
                .manifest(self.csv_manifest(bucket, key, etag, *versioned)?),
            // Held in Suspended once the list is made, until confirm_job, so every
            // listed object is registered before any restore starts. Sent explicitly,
            // though the model documents confirmation as the console's.
            BatchManifest::Generate {
                filter,
                output_bucket,
                output_prefix,
            } => request
                .confirmation_required(true)
                .manifest_generator(self.generator(filter, output_bucket, output_prefix)?),
        };
        if let Some(tag) = spec.client_tag.as_deref().filter(|t| !t.is_empty()) {
            request = request.tags(
                S3Tag::builder()
                    .key("client_tag")
                    .value(tag)
                    .build()
                    .map_err(|e| rejected("tag", e))?,
            );
        }
        let out = request.send().await.map_err(|e| {
            port_error(
                "CreateJob",
                format_args!("batch job for bulk job {}", spec.job_id),
                e,
            )
        })?;
        out.job_id()
            .filter(|id| !id.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| {
                PortError::Rejected(format!(
                    "CreateJob for bulk job {} returned no job id",
                    spec.job_id
                ))
            })
    }

    async fn describe_job(&self, batch_job_id: &str) -> PortResult<BatchJobInfo> {
        let out = self
            .client
            .describe_job()
            .account_id(&self.settings.account_id)
            .job_id(batch_job_id)
            .send()
            .await
            .map_err(|e| port_error("DescribeJob", format_args!("batch job {batch_job_id}"), e))?;
        let job = out.job().ok_or_else(|| {
            PortError::Rejected(format!(
                "DescribeJob on batch job {batch_job_id} returned no job"
            ))
        })?;
        let status = job.status().ok_or_else(|| {
            PortError::Rejected(format!(
                "DescribeJob on batch job {batch_job_id} returned no status"
            ))
        })?;
        let status = BatchJobStatus::from_str(status.as_str()).map_err(|e| {
            PortError::Rejected(format!("DescribeJob on batch job {batch_job_id}: {e}"))
        })?;
        let progress = job.progress_summary();
        let generated_manifest = match job
            .generated_manifest_descriptor()
            .and_then(|d| d.location())
        {
            None => None,
            Some(location) => {
                let arn = location.object_arn();
                let (bucket, key) = split_object_arn(arn).ok_or_else(|| {
                    PortError::Rejected(format!(
                        "DescribeJob on batch job {batch_job_id}: the generated manifest's ARN {arn:?} names no bucket and key"
                    ))
                })?;
                Some(GeneratedManifest {
                    bucket: bucket.to_owned(),
                    key: key.to_owned(),
                    etag: bare_etag(location.e_tag()).to_owned(),
                    version_id: location
                        .object_version_id()
                        .filter(|v| !v.is_empty())
                        .map(str::to_owned),
                })
            }
        };
        Ok(BatchJobInfo {
            status,
            tasks_total: count(progress.and_then(|p| p.total_number_of_tasks())),
            tasks_succeeded: count(progress.and_then(|p| p.number_of_tasks_succeeded())),
            tasks_failed: count(progress.and_then(|p| p.number_of_tasks_failed())),
            failure_reasons: job
                .failure_reasons()
                .iter()
                .map(|f| match (f.failure_code(), f.failure_reason()) {
                    (Some(code), Some(reason)) => format!("{code}: {reason}"),
                    (code, reason) => reason.or(code).unwrap_or("unknown failure").to_owned(),
                })
                .collect(),
            generated_manifest,
        })
    }

    async fn confirm_job(&self, batch_job_id: &str) -> PortResult<()> {
        // A job no longer waiting answers JobStatusException, which maps to Conflict.
        self.update_status(
            batch_job_id,
            RequestedJobStatus::Ready,
            "every listed object is registered by glacier-bulk-restore; run the restores",
        )
        .await
    }

    async fn cancel_job(&self, batch_job_id: &str) -> PortResult<()> {
        // A job that has finished answers JobStatusException, which maps to Conflict.
        self.update_status(
            batch_job_id,
            RequestedJobStatus::Cancelled,
            "cancelled by glacier-bulk-restore",
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_arns_split_at_the_first_slash_after_the_bucket() {
        assert_eq!(
            split_object_arn("arn:aws:s3:::lists/jobs/j-1/manifest.json"),
            Some(("lists", "jobs/j-1/manifest.json"))
        );
        assert_eq!(
            split_object_arn("arn:aws-cn:s3:::b/a:::b"),
            Some(("b", "a:::b"))
        );
        for bad in [
            "arn:aws:s3:::bucket-only",
            "arn:aws:s3:::/key",
            "arn:aws:s3:::b/",
            "arn:aws:sqs:::b/k",
            "s3://b/k",
        ] {
            assert_eq!(split_object_arn(bad), None, "{bad}");
        }
    }
}
