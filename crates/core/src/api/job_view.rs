//! A job as the status API shows it.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::decide::reported_percent;
use crate::job::JobRecord;
use crate::ports::Tally;
use crate::request::Tier;
use crate::status::{BatchJobStatus, JobStatus};

/// One job, as `GET /jobs/{id}`, `GET /jobs` and `POST /jobs/{id}/cancel` answer.
///
/// Field names are PascalCase like the events' and, like theirs, may be added to but
/// never renamed. Unlike the events (whose seed fields are all strings), counts and
/// percents here are JSON **numbers**: this is a new API with no string contract to
/// keep, and numbers let clients compare and sum without parsing. A value not known
/// yet is `null` (`BatchJobId` before submission, `TotalFiles` before the manifest
/// is registered).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct JobView {
    pub job_id: String,
    pub status: JobStatus,
    pub batch_job_id: Option<String>,
    /// As last polled (or `Cancelling` once a cancel was accepted by S3).
    pub batch_job_status: Option<BatchJobStatus>,
    /// Distinct objects in the manifest, once it is registered.
    pub total_files: Option<u64>,
    /// Rows of an S3 Inventory report skipped as needing no restore, once it is
    /// registered; `null` for a CSV manifest.
    #[serde(default)]
    pub skipped_files: Option<u64>,
    pub restored_files: u64,
    /// Objects this job will never restore (the events' `FailedBatchFiles`).
    pub failed_batch_files: u64,
    /// Restored and excluded objects over the total, rounded down, as the state
    /// machine computes it; never below the last progress event's, and 100 only
    /// when the job is Complete.
    pub progress_percent: u8,
    pub tier: Tier,
    pub client_tag: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub deadline: Timestamp,
    pub execution_arn: Option<String>,
    /// The last event published for this job, `null` before the first one.
    pub last_event: Option<LastEvent>,
    pub failure_reason: Option<String>,
}

/// What the last published event said.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LastEvent {
    pub status: JobStatus,
    pub progress_percent: u8,
}

impl JobView {
    pub fn new(job: &JobRecord, tally: &Tally) -> Self {
        Self {
            job_id: job.job_id.clone(),
            status: job.status,
            batch_job_id: job.batch_job_id.clone(),
            batch_job_status: job.batch_status,
            total_files: job.objects_total,
            skipped_files: job.objects_skipped,
            restored_files: tally.restored,
            failed_batch_files: tally.excluded,
            progress_percent: progress_percent(job, tally),
            tier: job.request.tier,
            client_tag: job.request.client_tag.clone(),
            created_at: job.created_at,
            updated_at: job.updated_at,
            deadline: job.deadline,
            execution_arn: job.execution_arn.clone(),
            last_event: last_event(job),
            failure_reason: job.failure_reason.clone(),
        }
    }
}

/// The job's progress now: what `decide` would compute from these counts.
pub(crate) fn progress_percent(job: &JobRecord, tally: &Tally) -> u8 {
    reported_percent(
        job.status,
        job.objects_total,
        tally.restored,
        tally.excluded,
        job.last_percent_notified,
    )
}

fn last_event(job: &JobRecord) -> Option<LastEvent> {
    match &job.terminal {
        Some(t) if t.published => Some(LastEvent {
            status: t.status,
            progress_percent: t.percent,
        }),
        _ if job.last_percent_notified > 0 => Some(LastEvent {
            status: JobStatus::Restoring,
            progress_percent: job.last_percent_notified,
        }),
        _ => None,
    }
}
