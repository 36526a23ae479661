//! create-job: validates the request, records the job and starts its execution.
//! The batch job is submitted later by the state machine, after the manifest is
//! registered, so `BatchOperation` holds no batch job id yet.
//!
//! With a client token (`client_token` in the body, or the `Idempotency-Key` header)
//! the create is idempotent: the job id is derived from the token
//! ([`crate::idempotency`]), so a retry finds the job the first call recorded and
//! answers with it; the same token with another request is a 409. Without a token
//! every call is a new job.

use serde::Serialize;
use serde_json::json;

use super::ApiError;
use crate::ErrorName;
use crate::filter::ObjectFilter;
use crate::idempotency::{fingerprint, job_id_for_token};
use crate::job::{JobPatch, JobRecord};
use crate::policy::deadline;
use crate::ports::Ports;
use crate::ports::{Created, ObjectMeta, PortError};
use crate::request::{CreateJobRequest, FieldError, check_client_token};
use crate::settings::Settings;

/// The header that carries a client token, as the IETF idempotency-key draft names it.
pub const IDEMPOTENCY_KEY_HEADER: &str = "Idempotency-Key";

/// The create-job answer: the seed's fields plus `ExecutionArn`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CreateJobResponse {
    #[serde(rename = "SNSTopic")]
    pub sns_topic: String,
    #[serde(rename = "BulkJobId")]
    pub bulk_job_id: String,
    /// `{"JobId": null, "Status": "NotSubmitted"}` until the batch job is submitted
    /// (an idempotent retry may find it submitted). Its id arrives as `BatchJobId` in
    /// every event.
    #[serde(rename = "BatchOperation")]
    pub batch_operation: serde_json::Value,
    /// Empty only for a retried create of a job that ended before its execution was
    /// recorded (cancelled at once): no execution is started for a finished job.
    #[serde(rename = "ExecutionArn")]
    pub execution_arn: String,
}

/// Handles `POST /create-job`. `idempotency_key` is the `Idempotency-Key` header;
/// `fresh_job_id` (a fresh UUID) is the job's id when the request has no token.
pub async fn create_job(
    ports: &Ports,
    settings: &Settings,
    body: &[u8],
    idempotency_key: Option<&str>,
    fresh_job_id: &str,
) -> Result<CreateJobResponse, ApiError> {
    let mut request = CreateJobRequest::parse(body).map_err(|e| ApiError {
        fields: e.errors.clone(),
        ..ApiError::new(400, e.error_name(), e.to_string())
    })?;
    merge_idempotency_key(&mut request, idempotency_key)?;
    check_manifest(ports, settings, &request).await?;
    let (job_id, request_fingerprint) = match &request.client_token {
        Some(token) => (job_id_for_token(token), Some(fingerprint(&request))),
        None => (fresh_job_id.to_owned(), None),
    };
    let now = ports.clock.now();
    let due = deadline(
        now,
        request.storage_class,
        request.tier,
        request.deadline_hours,
    );
    let step = request
        .progress_step_percent
        .unwrap_or(settings.default_progress_step_percent);
    let job = JobRecord {
        request_fingerprint: request_fingerprint.clone(),
        ..JobRecord::new(job_id, request, step, now, due)
    };
    let job = match ports.jobs.create(&job).await {
        Ok(Created::New) => job,
        Ok(Created::Existing(existing)) => {
            if let Some(ours) = &request_fingerprint {
                check_same_request(&existing, ours)?;
            }
            *existing
        }
        Err(e) => {
            return Err(ApiError::unavailable(format!(
                "the job could not be recorded ({e}); try again"
            )));
        }
    };
    // A retry of a create that got this far: the execution exists, never start another
    // (Step Functions forgets ended executions after 90 days, and would start anew).
    if let Some(arn) = &job.execution_arn {
        return Ok(response(settings, &job, arn.clone()));
    }
    // Cancelled before its execution was recorded: nothing left to run.
    if job.status.is_terminal() {
        return Ok(response(settings, &job, String::new()));
    }
    let input = json!({ "job_id": job.job_id });
    let execution_arn = match ports.executions.start(&job.job_id, &input).await {
        Ok(arn) => arn,
        Err(PortError::Retryable(m)) => {
            return Err(ApiError::unavailable(format!(
                "the job could not be started ({m}); try again"
            )));
        }
        Err(e) => {
            return Err(ApiError::new(
                500,
                "ExecutionNotStarted",
                format!("the job's execution could not be started: {e}"),
            ));
        }
    };
    let patch = JobPatch {
        execution_arn: Some(execution_arn.clone()),
        ..JobPatch::default()
    };
    // The execution runs whether or not this note is written; a failure here only
    // leaves the ARN out of the job record, so it is not an error for the caller.
    if let Err(e) = ports
        .jobs
        .update(&job.job_id, &patch, ports.clock.now())
        .await
    {
        tracing::warn!(job_id = %job.job_id, error = %e, "execution ARN not recorded on the job");
    }
    Ok(response(settings, &job, execution_arn))
}

/// Refuses at once, naming it, a manifest this deployment may not read or that is not
/// there, rather than accepting the job and failing it minutes later. The manifest may
/// still change or vanish before registration reads it; that is caught there. For a
/// filter, the bucket must be allowed and hold at least one key under the prefix; the
/// answer's size is 0.
pub(crate) async fn check_manifest(
    ports: &Ports,
    settings: &Settings,
    request: &CreateJobRequest,
) -> Result<ObjectMeta, ApiError> {
    let bucket_field = match request.filter {
        Some(_) => "filter.bucket",
        None => "bucket",
    };
    if let Some(allowed) = &settings.allowed_buckets
        && !allowed.contains(&request.bucket)
    {
        return Err(ApiError::invalid(vec![FieldError {
            field: bucket_field.into(),
            message: format!(
                "{:?} is not a bucket this deployment may read (allowed: {}); use one of those, or add the bucket to the deployment's AllowedBuckets",
                request.bucket,
                allowed.join(", ")
            ),
        }]));
    }
    if let Some(filter) = &request.filter {
        return check_listing(ports, filter).await;
    }
    let location = format!("s3://{}/{}", request.bucket, request.key);
    ports
        .source
        .head(&request.bucket, &request.key)
        .await
        .map_err(|e| match e {
            PortError::NotFound(_) => ApiError {
                fields: vec![FieldError {
                    field: "key".into(),
                    message: format!("the manifest {location} does not exist"),
                }],
                ..ApiError::new(
                    400,
                    "ManifestNotFound",
                    format!("the manifest {location} does not exist; upload it first, or fix bucket and key"),
                )
            },
            PortError::Retryable(m) => ApiError::unavailable(format!(
                "the manifest {location} could not be checked for now ({m}); try again"
            )),
            other => ApiError::new(
                400,
                "ManifestUnreadable",
                format!("the manifest {location} cannot be read by this deployment: {other}; check the bucket's policy and the object's encryption key"),
            ),
        })
}

/// One ListObjectsV2 page: the bucket exists, may be listed, and has a key under the
/// prefix.
async fn check_listing(ports: &Ports, filter: &ObjectFilter) -> Result<ObjectMeta, ApiError> {
    let location = filter.location();
    let page = ports
        .source
        .list_page(&filter.bucket, filter.prefix(), None)
        .await
        .map_err(|e| match e {
            PortError::NotFound(_) => ApiError {
                fields: vec![FieldError {
                    field: "filter.bucket".into(),
                    message: format!("the bucket {:?} does not exist", filter.bucket),
                }],
                ..ApiError::new(
                    400,
                    "ManifestNotFound",
                    format!("the bucket {:?} does not exist; fix filter.bucket", filter.bucket),
                )
            },
            PortError::Retryable(m) => ApiError::unavailable(format!(
                "{location} could not be listed for now ({m}); try again"
            )),
            other => ApiError::new(
                400,
                "ManifestUnreadable",
                format!("{location} cannot be listed by this deployment: {other}; check the bucket's policy"),
            ),
        })?;
    if page.items.is_empty() {
        return Err(ApiError {
            fields: vec![FieldError {
                field: "filter.prefixes".into(),
                message: format!("no object is under {location}"),
            }],
            ..ApiError::new(
                400,
                "ManifestEmpty",
                format!("no object is under {location}; fix the bucket or prefix"),
            )
        });
    }
    Ok(ObjectMeta {
        etag: String::new(),
        size: 0,
    })
}

/// The header's token becomes the request's; a body and a header that disagree are
/// refused rather than one silently winning.
fn merge_idempotency_key(
    request: &mut CreateJobRequest,
    header: Option<&str>,
) -> Result<(), ApiError> {
    let Some(key) = header else {
        return Ok(());
    };
    match &request.client_token {
        Some(token) if token != key => Err(ApiError::new(
            400,
            "IdempotencyKeyMismatch",
            format!(
                "the {IDEMPOTENCY_KEY_HEADER} header ({key:?}) and client_token ({token:?}) differ; send one of them, or the same value in both"
            ),
        )),
        Some(_) => Ok(()),
        None => {
            check_client_token(key).map_err(|message| {
                ApiError::invalid(vec![FieldError {
                    field: IDEMPOTENCY_KEY_HEADER.into(),
                    message,
                }])
            })?;
            request.client_token = Some(key.to_owned());
            Ok(())
        }
    }
}

fn check_same_request(existing: &JobRecord, ours: &str) -> Result<(), ApiError> {
    if existing.request_fingerprint.as_deref() == Some(ours) {
        return Ok(());
    }
    Err(ApiError {
        job_id: Some(existing.job_id.clone()),
        ..ApiError::new(
            409,
            "IdempotencyConflict",
            format!(
                "this client token was already used for job {} with a different request; \
                 send that request again to get that job, or use a new token for a new job",
                existing.job_id
            ),
        )
    })
}

fn response(settings: &Settings, job: &JobRecord, execution_arn: String) -> CreateJobResponse {
    let batch_status = match (&job.batch_job_id, job.batch_status) {
        (None, _) => "NotSubmitted",
        (Some(_), Some(status)) => status.as_str(),
        (Some(_), None) => "Submitted",
    };
    CreateJobResponse {
        sns_topic: settings.topic_arn.clone(),
        bulk_job_id: job.job_id.clone(),
        batch_operation: json!({ "JobId": job.batch_job_id, "Status": batch_status }),
        execution_arn,
    }
}
