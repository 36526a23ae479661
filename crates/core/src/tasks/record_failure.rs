//! record-failure: the state machine's Catch target. Records the job Failed with the
//! error's cause and publishes the Failed event, once.

use serde::{Deserialize, Serialize};

use super::notify::publish_terminal;
use super::{Ports, TaskError, load_job};
use crate::decide::Notification;
use crate::ports::TerminalClaim;
use crate::status::JobStatus;

/// The error object a Catch places in the state (`ResultPath`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepFunctionsError {
    #[serde(rename = "Error")]
    pub error: String,
    #[serde(rename = "Cause", default)]
    pub cause: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureInput {
    pub job_id: String,
    pub error: StepFunctionsError,
}

pub async fn record_failure(ports: &Ports, input: &FailureInput) -> Result<JobStatus, TaskError> {
    let job = load_job(ports, &input.job_id).await?;
    let reason = failure_reason(&input.error);
    let now = ports.clock.now();
    match ports
        .jobs
        .claim_terminal(
            &job.job_id,
            JobStatus::Failed,
            job.last_percent_notified,
            Some(&reason),
            now,
        )
        .await
        .map_err(TaskError::from_store)?
    {
        TerminalClaim::Publish => {
            let tally = ports
                .jobs
                .tally(&job.job_id)
                .await
                .map_err(TaskError::from_store)?;
            let job = crate::job::JobRecord {
                failure_reason: Some(reason),
                ..job
            };
            let n = Notification {
                status: JobStatus::Failed,
                percent: job.last_percent_notified,
            };
            publish_terminal(ports, &job, &tally, n).await?;
            Ok(JobStatus::Failed)
        }
        TerminalClaim::AlreadyDone(status) => Ok(status),
    }
}

/// The Lambda error's message is the cause; Step Functions wraps it in JSON
/// (`{"errorType": ..., "errorMessage": ...}`), which a person need not read.
fn failure_reason(error: &StepFunctionsError) -> String {
    let message = serde_json::from_str::<serde_json::Value>(&error.cause)
        .ok()
        .and_then(|v| {
            v.get("errorMessage")
                .and_then(|m| m.as_str())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| error.cause.clone());
    if message.is_empty() {
        error.error.clone()
    } else {
        format!("{}: {message}", error.error)
    }
}
