//! create-job: validates the request, records the job and starts its execution.
//! The batch job is submitted later by the state machine, after the manifest is
//! registered, so `BatchOperation` holds no batch job id yet.

use serde::Serialize;
use serde_json::json;

use super::{Ports, Settings};
use crate::ErrorName;
use crate::job::{JobPatch, JobRecord};
use crate::policy::deadline;
use crate::ports::{Created, PortError};
use crate::request::{CreateJobRequest, FieldError};

/// The create-job answer: the seed's fields plus `ExecutionArn`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CreateJobResponse {
    #[serde(rename = "SNSTopic")]
    pub sns_topic: String,
    #[serde(rename = "BulkJobId")]
    pub bulk_job_id: String,
    /// The batch job is not submitted yet: `{"JobId": null, "Status": "NotSubmitted"}`.
    /// Its id arrives as `BatchJobId` in every event.
    #[serde(rename = "BatchOperation")]
    pub batch_operation: serde_json::Value,
    #[serde(rename = "ExecutionArn")]
    pub execution_arn: String,
}

/// An API error: an HTTP status and a JSON body a person can act on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiError {
    #[serde(skip)]
    pub status: u16,
    pub error: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldError>,
}

impl ApiError {
    fn unavailable(message: String) -> Self {
        Self {
            status: 503,
            error: "ServiceUnavailable",
            message,
            fields: Vec::new(),
        }
    }
}

/// Handles `POST /create-job`. `job_id` is the new job's id (a fresh UUID).
pub async fn create_job(
    ports: &Ports,
    settings: &Settings,
    body: &[u8],
    job_id: &str,
) -> Result<CreateJobResponse, ApiError> {
    let request = CreateJobRequest::parse(body).map_err(|e| ApiError {
        status: 400,
        error: e.error_name(),
        message: e.to_string(),
        fields: e.errors.clone(),
    })?;
    let now = ports.clock.now();
    let due = deadline(
        now,
        request.storage_class,
        request.tier,
        request.deadline_hours,
    );
    let job = JobRecord::new(job_id.to_owned(), request, now, due);
    let job = match ports.jobs.create(&job).await {
        Ok(Created::New) => job,
        Ok(Created::Existing(existing)) => *existing,
        Err(e) => {
            return Err(ApiError::unavailable(format!(
                "the job could not be recorded ({e}); try again"
            )));
        }
    };
    let input = json!({ "job_id": job.job_id });
    let execution_arn = match ports.executions.start(&job.job_id, &input).await {
        Ok(arn) => arn,
        Err(PortError::Retryable(m)) => {
            return Err(ApiError::unavailable(format!(
                "the job could not be started ({m}); try again"
            )));
        }
        Err(e) => {
            return Err(ApiError {
                status: 500,
                error: "ExecutionNotStarted",
                message: format!("the job's execution could not be started: {e}"),
                fields: Vec::new(),
            });
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
    Ok(CreateJobResponse {
        sns_topic: settings.topic_arn.clone(),
        bulk_job_id: job.job_id.clone(),
        batch_operation: json!({ "JobId": job.batch_job_id, "Status": "NotSubmitted" }),
        execution_arn,
    })
}
