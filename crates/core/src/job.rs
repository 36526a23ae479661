//! The job record: everything the jobs table holds about one bulk job.

use std::time::Duration;

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
    /// Rows of an S3 Inventory report left out, as not archived (they need no restore),
    /// once registration has finished; `None` for a CSV manifest, which skips nothing.
    pub objects_skipped: Option<u64>,
    /// The list the batch job reads when it is not the request's own manifest: the CSV
    /// this system wrote of an S3 Inventory report's objects to restore, or the
    /// `manifest.json` S3's manifest generator wrote for a filter.
    pub batch_manifest: Option<WrittenManifest>,
    /// The multipart upload of `batch_manifest` while it is written: a retried first
    /// register call finds it here rather than starting a second.
    pub manifest_upload_id: Option<String>,
    pub batch_job_id: Option<String>,
    pub batch_status: Option<BatchJobStatus>,
    pub execution_arn: Option<String>,
    /// Progress events go out each time the job crosses another multiple of this: the
    /// request's step, or the deployment's default when the job was created.
    pub progress_step_percent: u8,
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
    /// Absent on jobs created without a token.
    pub request_fingerprint: Option<String>,
}

/// A manifest written for the batch job, by this system or by S3's manifest generator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrittenManifest {
    pub bucket: String,
    pub key: String,
    pub etag: String,
    /// Its rows carry version ids.
    pub versioned: bool,
}

/// The job's one terminal event: claimed by exactly one caller, then published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TerminalState {
    pub status: JobStatus,
    pub published: bool,
    /// The `ProgressPercent` the terminal event carries, fixed when it is claimed so
    /// that a retried publication sends the same event (same `EventId`).
    pub percent: u8,
    /// Who holds the claim: only the holder publishes, so concurrent callers never
    /// publish one event twice.
    pub claimed_by: String,
    /// When the holder claimed (or took over) the event, in real time
    /// ([`Clock::wall`](crate::ports::Clock::wall)). A holder that has not published
    /// within [`TERMINAL_CLAIM_LEASE`] is presumed dead, and the next caller takes the
    /// claim over and publishes it.
    pub claimed_at: Timestamp,
}

/// How long a claimer has to publish its terminal event before another caller may take
/// the claim over, in real time. Longer than any claimer needs: the API functions time
/// out after 28 s, and a task publishes right after it claims.
pub const TERMINAL_CLAIM_LEASE: Duration = Duration::from_secs(60);

/// The claimer name of the state machine's tasks (Decide, RecordFailure). They never
/// run concurrently within the one execution a job has, so a retry of either is the
/// same claimer as the call it repeats.
pub const STATE_MACHINE_CLAIMER: &str = "state-machine";

/// What a caller asks to publish as the job's terminal event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TerminalRequest<'a> {
    pub status: JobStatus,
    pub percent: u8,
    /// Stored as the job's `failure_reason` when the claim is new.
    pub reason: Option<&'a str>,
    pub claimer: &'a str,
    /// The real time of the claim ([`Clock::wall`](crate::ports::Clock::wall)).
    pub at: Timestamp,
}

/// What a claim does, given the claim in place (if any). Stores apply it with a
/// conditional write, so that of concurrent callers exactly one gets to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimStep {
    /// No claim yet: write this one.
    Create(TerminalState),
    /// The caller's own unpublished claim (a retry): publish it again, unchanged.
    Resume(TerminalState),
    /// An unpublished claim whose holder let the lease run out: write it with the
    /// caller as its holder, on condition that it is still the claim read.
    TakeOver(TerminalState),
    /// Another caller holds an unpublished claim and may be publishing it now.
    Held { status: JobStatus, until: Timestamp },
    /// The terminal event was published.
    Published(JobStatus),
}

impl ClaimStep {
    pub fn decide(existing: Option<&TerminalState>, request: &TerminalRequest<'_>) -> Self {
        let now = request.at;
        let Some(t) = existing else {
            return ClaimStep::Create(TerminalState {
                status: request.status,
                published: false,
                percent: request.percent,
                claimed_by: request.claimer.to_owned(),
                claimed_at: now,
            });
        };
        if t.published {
            return ClaimStep::Published(t.status);
        }
        if t.claimed_by == request.claimer {
            return ClaimStep::Resume(t.clone());
        }
        let until = crate::policy::add(t.claimed_at, TERMINAL_CLAIM_LEASE);
        if now < until {
            return ClaimStep::Held {
                status: t.status,
                until,
            };
        }
        ClaimStep::TakeOver(TerminalState {
            claimed_by: request.claimer.to_owned(),
            claimed_at: now,
            ..t.clone()
        })
    }
}

impl JobRecord {
    /// A job just accepted, before anything was registered.
    pub fn new(
        job_id: String,
        request: CreateJobRequest,
        progress_step_percent: u8,
        now: Timestamp,
        deadline: Timestamp,
    ) -> Self {
        Self {
            job_id,
            request,
            progress_step_percent,
            status: JobStatus::Restoring,
            created_at: now,
            updated_at: now,
            deadline,
            manifest_etag: None,
            objects_total: None,
            manifest_versioned: None,
            objects_skipped: None,
            batch_manifest: None,
            manifest_upload_id: None,
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
    pub objects_skipped: Option<u64>,
    pub batch_manifest: Option<WrittenManifest>,
    pub manifest_upload_id: Option<String>,
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
        set_some(&mut job.objects_skipped, &self.objects_skipped);
        set_some(&mut job.batch_manifest, &self.batch_manifest);
        set_some(&mut job.manifest_upload_id, &self.manifest_upload_id);
        set_some(&mut job.batch_job_id, &self.batch_job_id);
        set_some(&mut job.batch_status, &self.batch_status);
        set_some(&mut job.execution_arn, &self.execution_arn);
        set(&mut job.report_processed, &self.report_processed);
        set(&mut job.reconciled, &self.reconciled);
        set_some(&mut job.failure_reason, &self.failure_reason);
        job.updated_at = now;
    }
}
