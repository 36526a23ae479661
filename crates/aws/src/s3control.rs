//! S3 Batch Operations (S3 Control): one restore job per bulk job.

use std::str::FromStr;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_s3control::Client;
use aws_sdk_s3control::types::{
    JobManifest, JobManifestFieldName, JobManifestFormat, JobManifestLocation, JobManifestSpec,
    JobOperation, JobReport, JobReportFormat, JobReportScope, RequestedJobStatus, S3GlacierJobTier,
    S3InitiateRestoreObjectOperation, S3Tag,
};
use gbr_core::ports::{BatchJobInfo, BatchJobSpec, BatchOperations, PortError, PortResult};
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

    /// The partition of the report bucket's ARN (`aws`, `aws-cn`, …): the manifest's
    /// ARN is in the same one.
    fn partition(&self) -> &str {
        let mut parts = self.settings.report_bucket_arn.split(':');
        match (parts.next(), parts.next()) {
            (Some("arn"), Some(p)) if !p.is_empty() => p,
            _ => "aws",
        }
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
        let mut fields = vec![JobManifestFieldName::Bucket, JobManifestFieldName::Key];
        if spec.manifest_versioned {
            fields.push(JobManifestFieldName::VersionId);
        }
        let manifest = JobManifest::builder()
            .spec(
                JobManifestSpec::builder()
                    .format(JobManifestFormat::S3BatchOperationsCsv20180820)
                    .set_fields(Some(fields))
                    .build()
                    .map_err(|e| rejected("manifest spec", e))?,
            )
            .location(
                JobManifestLocation::builder()
                    .object_arn(format!(
                        "arn:{}:s3:::{}/{}",
                        self.partition(),
                        spec.manifest_bucket,
                        spec.manifest_key
                    ))
                    .e_tag(bare_etag(&spec.manifest_etag))
                    .build()
                    .map_err(|e| rejected("manifest location", e))?,
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
            .confirmation_required(false)
            // The idempotency token: a retried submission returns the first job.
            .client_request_token(&spec.job_id)
            .description(format!("glacier-bulk-restore job {}", spec.job_id))
            .operation(operation)
            .manifest(manifest)
            .report(report);
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
        })
    }

    async fn cancel_job(&self, batch_job_id: &str) -> PortResult<()> {
        // A job that has finished answers JobStatusException, which maps to Conflict.
        self.client
            .update_job_status()
            .account_id(&self.settings.account_id)
            .job_id(batch_job_id)
            .requested_job_status(RequestedJobStatus::Cancelled)
            .status_update_reason("cancelled by glacier-bulk-restore")
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
}
