//! The job record: everything the jobs table holds about one bulk job.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::request::CreateJobRequest;
use crate::status::{BatchJobStatus, JobStatus};

/// One bulk job, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRecord {
    pub job_id: String,
    pub request: CreateJobRequest,
    pub status: JobStatus,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub deadline: Timestamp,
    /// The manifest's ETag when registration began; the batch job is submitted with it.
    pub manifest_etag: Option<String>,
    /// Distinct objects registered, once registration has finished.
    pub objects_total: Option<u64>,
    /// Whether manifest rows carry version ids.
    pub manifest_versioned: Option<bool>,
    pub batch_job_id: Option<String>,
    pub batch_status: Option<BatchJobStatus>,
    pub execution_arn: Option<String>,
    /// The last `ProgressPercent` published.
    pub last_percent_notified: u8,
    /// The terminal event claimed, and whether it has been published.
    pub terminal: Option<TerminalState>,
    /// The completion report has been read into the objects table.
    pub report_processed: bool,
    /// Stragglers were checked one by one after the deadline.
    pub reconciled: bool,
    /// Why the job failed, in words a person can act on.
    pub failure_reason: Option<String>,
    /// [`fingerprint`](crate::idempotency::fingerprint) of the request, for jobs created
    /// with a client token: a retry with the same token must carry the same request.
    /// Absent on jobs created without a token, and on records older than the field.
    #[serde(default)]
    pub request_fingerprint: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TerminalState {
    pub status: JobStatus,
    pub published: bool,
    /// The `ProgressPercent` the terminal event carries, fixed when it is claimed so
    /// that a retried publication sends the same event (same `EventId`). Absent on
    /// claims older than the field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<u8>,
}

impl JobRecord {
    /// A job just accepted, before anything was registered.
    pub fn new(
        job_id: String,
        request: CreateJobRequest,
        now: Timestamp,
        deadline: Timestamp,
    ) -> Self {
        Self {
            job_id,
            request,
            status: JobStatus::Restoring,
            created_at: now,
            updated_at: now,
            deadline,
            manifest_etag: None,
            objects_total: None,
            manifest_versioned: None,
            batch_job_id: None,
            batch_status: None,
            execution_arn: None,
            last_percent_notified: 0,
            terminal: None,
            report_processed: false,
            reconciled: false,
            failure_reason: None,
            request_fingerprint: None,
        }
    }
}

/// Fields to change on a job record; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobPatch {
    pub status: Option<JobStatus>,
    pub manifest_etag: Option<String>,
    pub objects_total: Option<u64>,
    pub manifest_versioned: Option<bool>,
    pub batch_job_id: Option<String>,
    pub batch_status: Option<BatchJobStatus>,
    pub execution_arn: Option<String>,
    pub report_processed: Option<bool>,
    pub reconciled: Option<bool>,
    pub failure_reason: Option<String>,
}

impl JobPatch {
    /// Applies the patch to a record (what a store does to its copy).
    pub fn apply(&self, job: &mut JobRecord, now: Timestamp) {
        fn set<T: Clone>(field: &mut T, value: &Option<T>) {
            if let Some(v) = value {
                *field = v.clone();
            }
        }
        fn set_some<T: Clone>(field: &mut Option<T>, value: &Option<T>) {
            if value.is_some() {
                field.clone_from(value);
            }
        }
        set(&mut job.status, &self.status);
        set_some(&mut job.manifest_etag, &self.manifest_etag);
        set_some(&mut job.objects_total, &self.objects_total);
        set_some(&mut job.manifest_versioned, &self.manifest_versioned);
        set_some(&mut job.batch_job_id, &self.batch_job_id);
        set_some(&mut job.batch_status, &self.batch_status);
        set_some(&mut job.execution_arn, &self.execution_arn);
        set(&mut job.report_processed, &self.report_processed);
        set(&mut job.reconciled, &self.reconciled);
        set_some(&mut job.failure_reason, &self.failure_reason);
        job.updated_at = now;
    }
}
