//! `POST /jobs/{id}/cancel`: ends a job as Cancelled.
//!
//! The Cancelled event is claimed on the job record like every terminal event, so a
//! job sends exactly one terminal event whoever ends it: of concurrent cancels exactly
//! one wins, and a cancel that loses the claim (to another cancel, a Complete or any
//! other end) is a 409 naming the status that won and publishes nothing. After the
//! claim the batch job is cancelled, the event published and the execution stopped; a
//! Decide that still runs finds the terminal event published and stops quietly. If the
//! winner dies before publishing, the execution's next Decide (or a cancel made after
//! the claim's lease) publishes the event.

use super::ApiError;
use super::job_queries::find_job;
use super::job_view::JobView;
use crate::decide::reported_percent;
use crate::job::{JobPatch, JobRecord, TerminalRequest};
use crate::ports::Ports;
use crate::ports::{PortError, TerminalClaim};
use crate::status::{BatchJobStatus, JobStatus};
use crate::tasks::TaskError;
use crate::tasks::publish_claimed;

/// The error a cancelled job's execution is stopped with, as Step Functions shows it.
pub const EXECUTION_CANCELLED_ERROR: &str = "JobCancelled";
/// The cancelled job's `FailureReason`, and the event's `Reason`.
pub const CANCEL_REASON: &str = "cancelled through the API";

pub async fn cancel_job(ports: &Ports, job_id: &str) -> Result<JobView, ApiError> {
    let job = find_job(ports, job_id).await?;
    if let Some(t) = job.terminal.as_ref().filter(|t| t.published) {
        return Err(finished(job_id, t.status));
    }
    let tally = ports
        .jobs
        .tally(job_id)
        .await
        .map_err(|e| ApiError::from_store(&format!("counting job {job_id}"), e))?;
    // Each cancel request is its own claimer: of concurrent cancels exactly one wins.
    let claimer = format!("cancel/{}", uuid::Uuid::new_v4());
    let request = TerminalRequest {
        status: JobStatus::Cancelled,
        percent: reported_percent(
            JobStatus::Cancelled,
            job.objects_total,
            tally.restored,
            tally.excluded,
            job.last_percent_notified,
        ),
        reason: Some(CANCEL_REASON),
        claimer: &claimer,
        at: ports.clock.wall(),
    };
    let claim = match ports
        .jobs
        .claim_terminal(job_id, &request, ports.clock.now())
        .await
    {
        Ok(TerminalClaim::Publish(claim)) => claim,
        Ok(TerminalClaim::Held { status, .. } | TerminalClaim::AlreadyDone(status)) => {
            return Err(finished(job_id, status));
        }
        Err(PortError::NotFound(_)) => return Err(ApiError::job_not_found(job_id)),
        Err(e) => return Err(ApiError::from_store(&format!("cancelling job {job_id}"), e)),
    };
    if claim.status != JobStatus::Cancelled {
        // The job had ended otherwise, and its event's holder died before publishing:
        // this call publishes that event, and the job is not cancelled.
        publish_claimed(ports, &job, &tally, &request, &claim)
            .await
            .map_err(|e| unpublished(job_id, claim.status, &e))?;
        return Err(finished(job_id, claim.status));
    }

    // Read again after the claim: a batch job submitted meanwhile is in the record now,
    // or its submitter will find the claim and cancel it itself (see submit.rs).
    let job = find_job(ports, job_id).await?;
    if let Some(batch_job_id) = &job.batch_job_id {
        cancel_batch_job(ports, &job, batch_job_id).await;
    }
    if let Err(e) = publish_claimed(ports, &job, &tally, &request, &claim).await {
        // The execution is left running: its next Decide publishes the claimed event.
        return Err(unpublished(job_id, JobStatus::Cancelled, &e));
    }
    if let Some(arn) = &job.execution_arn {
        // Not an error for the caller: the execution's next Decide stops it anyway.
        if let Err(e) = ports
            .executions
            .stop(arn, EXECUTION_CANCELLED_ERROR, CANCEL_REASON)
            .await
        {
            tracing::warn!(job_id, execution_arn = %arn, error = %e, "execution not stopped; its next poll ends it");
        }
    }
    // The cancel is done: if the record cannot be read again, answer from ours.
    let job = match ports.jobs.get(job_id).await {
        Ok(Some(current)) => current,
        _ => {
            let mut job = job;
            if let Some(t) = &mut job.terminal {
                t.published = true;
            }
            job
        }
    };
    Ok(JobView::new(&job, &tally))
}

/// Cancels the batch job. The bulk job is cancelled whatever this answers, so a
/// failure is logged, not returned: a batch job that finished meanwhile (Conflict)
/// needs nothing, and one that could not be cancelled must be cancelled by hand.
async fn cancel_batch_job(ports: &Ports, job: &JobRecord, batch_job_id: &str) {
    match ports.batch.cancel_job(batch_job_id).await {
        Ok(()) => {
            let patch = JobPatch {
                batch_status: Some(BatchJobStatus::Cancelling),
                ..JobPatch::default()
            };
            if let Err(e) = ports
                .jobs
                .update(&job.job_id, &patch, ports.clock.now())
                .await
            {
                tracing::warn!(job_id = %job.job_id, error = %e, "batch job status not recorded");
            }
        }
        Err(PortError::Conflict(m)) => {
            tracing::info!(job_id = %job.job_id, batch_job_id, reason = %m, "batch job already finished");
        }
        Err(e) => {
            tracing::error!(
                job_id = %job.job_id,
                batch_job_id,
                error = %e,
                "batch job not cancelled; cancel it in the S3 Batch Operations console"
            );
        }
    }
}

/// A claimed terminal event that could not be published yet.
fn unpublished(job_id: &str, status: JobStatus, e: &TaskError) -> ApiError {
    ApiError {
        job_id: Some(job_id.to_owned()),
        job_status: Some(status),
        ..ApiError::unavailable(format!(
            "job {job_id} has ended as {status}, but its {status} event could not be published yet \
             ({e}); the job's next poll publishes it"
        ))
    }
}

fn finished(job_id: &str, status: JobStatus) -> ApiError {
    ApiError {
        job_id: Some(job_id.to_owned()),
        job_status: Some(status),
        ..ApiError::new(
            409,
            "JobFinished",
            format!("job {job_id} has already ended as {status}; there is nothing to cancel"),
        )
    }
}
