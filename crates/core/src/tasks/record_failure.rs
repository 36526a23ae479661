//! record-failure: the state machine's Catch target. Records the job Failed with the
//! error's cause and publishes the Failed event, once; when another caller (a cancel)
//! holds the job's terminal claim, it asks the state machine to wait and try again, so
//! that a claim whose holder died is still published.

use serde::{Deserialize, Serialize};

use super::decide::{publish_claimed, seconds_until};
use super::{Ports, TaskError, load_job};
use crate::decide::reported_percent;
use crate::job::{JobRecord, STATE_MACHINE_CLAIMER, TerminalRequest};
use crate::ports::TerminalClaim;
use crate::request::ManifestFormat;
use crate::status::{BatchJobStatus, JobStatus};

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

/// What the state machine's `FailureRecorded?` choice reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureOutput {
    /// The job's terminal status (Failed, or the end another caller claimed first).
    pub status: JobStatus,
    /// Seconds to wait before recording again: another caller holds an unpublished
    /// claim, and this call must not publish over it until its lease has run out.
    pub wait_seconds: u64,
}

pub async fn record_failure(
    ports: &Ports,
    input: &FailureInput,
) -> Result<FailureOutput, TaskError> {
    let job = load_job(ports, &input.job_id).await?;
    let reason = failure_reason(&input.error);
    cancel_held_batch_job(ports, &job).await;
    let now = ports.clock.now();
    let tally = ports
        .jobs
        .tally(&job.job_id)
        .await
        .map_err(TaskError::from_store)?;
    let request = TerminalRequest {
        status: JobStatus::Failed,
        percent: reported_percent(
            JobStatus::Failed,
            job.objects_total,
            tally.restored,
            tally.excluded,
            job.last_percent_notified,
        ),
        reason: Some(&reason),
        claimer: STATE_MACHINE_CLAIMER,
        at: ports.clock.wall(),
    };
    let done = |status| FailureOutput {
        status,
        wait_seconds: 0,
    };
    match ports
        .jobs
        .claim_terminal(&job.job_id, &request, now)
        .await
        .map_err(TaskError::from_store)?
    {
        TerminalClaim::Publish(claim) => {
            publish_claimed(ports, &job, &tally, &request, &claim).await?;
            Ok(done(claim.status))
        }
        TerminalClaim::Held { status, until } => Ok(FailureOutput {
            status,
            wait_seconds: seconds_until(request.at, until),
        }),
        TerminalClaim::AlreadyDone(status) => Ok(done(status)),
    }
}

/// A filter's batch job waits in Suspended, its list generated, until confirmed; a job
/// that failed before that must not leave it waiting (S3 fails it after 30 days, but
/// someone could still confirm it). Best effort: the failure is recorded either way.
async fn cancel_held_batch_job(ports: &Ports, job: &JobRecord) {
    let Some(batch_job_id) = &job.batch_job_id else {
        return;
    };
    if job.request.manifest_format != ManifestFormat::Generated {
        return;
    }
    let held = match ports.batch.describe_job(batch_job_id).await {
        Ok(info) => matches!(
            info.status,
            BatchJobStatus::New | BatchJobStatus::Preparing | BatchJobStatus::Suspended
        ),
        Err(e) => {
            tracing::warn!(job_id = %job.job_id, batch_job_id, error = %e, "the held batch job could not be described, so it was not cancelled");
            return;
        }
    };
    if held && let Err(e) = ports.batch.cancel_job(batch_job_id).await {
        tracing::warn!(job_id = %job.job_id, batch_job_id, error = %e, "the held batch job could not be cancelled");
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
