//! The ports: every call to the outside world, as a trait.
//!
//! Each has an AWS SDK adapter (crate `gbr-aws`) and an in-memory fake
//! ([`crate::fakes`], feature `fakes`) for unit tests. Task code takes them as
//! arguments, so the same code runs in Lambda and in the local stack.

use std::sync::Arc;

use async_trait::async_trait;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use thiserror::Error;

use crate::event::BulkEvent;
use crate::filter::{ListedObject, ObjectFilter};
use crate::job::{JobPatch, JobRecord, TerminalRequest, TerminalState};
use crate::object_id::ObjectId;
use crate::request::Tier;
use crate::status::{BatchJobStatus, JobStatus};

/// A failed call to the outside world.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PortError {
    /// Throttling, a 5xx, a timeout: the same call may succeed later.
    #[error("temporary failure: {0}")]
    Retryable(String),
    #[error("{0} does not exist")]
    NotFound(String),
    /// The service refused the request as it is; repeating it will not help.
    #[error("rejected: {0}")]
    Rejected(String),
    /// A condition on the stored state did not hold.
    #[error("conflict: {0}")]
    Conflict(String),
}

pub type PortResult<T> = Result<T, PortError>;

/// Where a terminal event stands after a claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TerminalClaim {
    /// This caller holds the claim and must publish this event: a new claim, a retry
    /// of its own, or one taken over from a holder that did not publish in time. The
    /// event may differ from the one asked for when it was taken over.
    Publish(TerminalState),
    /// Another caller holds the claim and may be publishing it; ask again after `until`.
    Held { status: JobStatus, until: Timestamp },
    /// The job's terminal event was published.
    AlreadyDone(JobStatus),
}

/// The outcome of storing a new job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    New,
    /// A job with that id exists already; here it is.
    Existing(Box<JobRecord>),
}

/// Jobs table: one record per job and its counter shards.
#[async_trait]
pub trait JobStore: Send + Sync {
    /// Stores a new job unless one with its id exists.
    async fn create(&self, job: &JobRecord) -> PortResult<Created>;
    async fn get(&self, job_id: &str) -> PortResult<Option<JobRecord>>;
    async fn update(&self, job_id: &str, patch: &JobPatch, now: Timestamp) -> PortResult<()>;
    /// Sums the counter shards.
    async fn tally(&self, job_id: &str) -> PortResult<Tally>;
    /// Records `percent` as published unless it is below the last one or a terminal
    /// event is claimed; false then. The last percent again is granted: a retry of a
    /// claim whose answer was lost (a timeout after the write) must not lose the event,
    /// which is then published at least once.
    async fn claim_progress(&self, job_id: &str, percent: u8, now: Timestamp) -> PortResult<bool>;
    /// Claims the job's one terminal event (see [`ClaimStep`](crate::job::ClaimStep) for who wins); a new
    /// claim also sets the job's status and, with a reason, its `failure_reason`.
    async fn claim_terminal(
        &self,
        job_id: &str,
        request: &TerminalRequest<'_>,
        now: Timestamp,
    ) -> PortResult<TerminalClaim>;
    async fn mark_terminal_published(&self, job_id: &str, now: Timestamp) -> PortResult<()>;
    /// Jobs matching `filter`, newest first (see [`crate::listing`]), resuming after
    /// `after` (a previous page's `next`); a token that is not one answers `Rejected`.
    /// A page holds at most `limit` jobs; it may hold fewer, even none, and still have
    /// a `next` (a store may bound the work one call does).
    async fn list(
        &self,
        filter: &JobFilter,
        after: Option<&str>,
        limit: usize,
    ) -> PortResult<Page<JobRecord>>;
}

/// Which jobs a listing holds; `None` matches any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobFilter {
    pub client_tag: Option<String>,
    pub status: Option<JobStatus>,
}

/// Objects restored and excluded so far, summed over the shards.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    pub restored: u64,
    pub excluded: u64,
}

/// What an object of a job became.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ObjectState {
    Requested,
    Restored,
    Excluded,
}

/// One (object, job) row to move from `requested` to another state.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Mark {
    pub object: ObjectId,
    pub job_id: String,
}

/// What marking did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MarkReport {
    /// Rows that moved from `requested` (and were counted once in their job's shard).
    pub changed: Vec<Mark>,
    /// Rows that were not `requested` any more (duplicates) or do not exist.
    pub unchanged: Vec<Mark>,
    /// DynamoDB write capacity units the writes cost, by DynamoDB's sizing rules.
    pub write_units: f64,
}

/// A page of a longer listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<String>,
}

impl<T> Page<T> {
    /// A page of `limit` from up to `limit + 1` items read: one more tells that a next
    /// page exists, and it starts after the last item kept (`at` names it).
    pub fn of(mut items: Vec<T>, limit: usize, at: impl FnOnce(&T) -> String) -> Self {
        let next = if items.len() > limit {
            items.truncate(limit);
            items.last().map(at)
        } else {
            None
        };
        Page { items, next }
    }
}

/// Objects table: one row per (object, job).
#[async_trait]
pub trait ObjectStore: Send + Sync {
    /// Writes `requested` rows for a job's objects and answers how many of them are
    /// new. `piece` names the part of the manifest being registered: a row written
    /// earlier under the same name (by a try of this piece that did not finish) counts
    /// as new again, and a row written by another piece (a repeat in the manifest)
    /// counts nothing and is left alone. So the answers summed over a manifest's pieces
    /// are its distinct objects, exactly, however often a piece is retried; no
    /// eventually consistent count is needed.
    async fn register(
        &self,
        job_id: &str,
        objects: &[ObjectId],
        expires_at: Timestamp,
        piece: &str,
    ) -> PortResult<u64>;
    /// Jobs with a `requested` row for this exact object id.
    async fn waiting_jobs(&self, object: &ObjectId) -> PortResult<Vec<String>>;
    /// Moves rows from `requested` to `to`, adding each moved row once to its job's
    /// counter; rows in any other state are left alone and reported unchanged.
    async fn mark(&self, marks: &[Mark], to: ObjectState, now: Timestamp)
    -> PortResult<MarkReport>;
    /// A job's rows still `requested`, in order of [`ObjectId::digest`], resuming after
    /// the row whose digest is `after`.
    async fn pending(
        &self,
        job_id: &str,
        after: Option<&str>,
        limit: usize,
    ) -> PortResult<Page<ObjectId>>;
}

/// An S3 object's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    pub etag: String,
    pub size: u64,
}

/// The smallest part S3 takes in a multipart upload, but for the last one.
pub const MIN_PART_BYTES: usize = 5 * 1024 * 1024;

/// A part of a multipart upload, as S3 answered it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadedPart {
    pub number: u32,
    pub etag: String,
}

/// S3 objects: reads manifests and completion reports in bounded pieces, and writes
/// the CSV manifest of an S3 Inventory job's objects to restore, a part per call.
#[async_trait]
pub trait ObjectSource: Send + Sync {
    async fn head(&self, bucket: &str, key: &str) -> PortResult<ObjectMeta>;
    /// Up to `len` bytes from `start`; fails with `Conflict` if the object's ETag is no
    /// longer `etag`.
    async fn read_range(
        &self,
        bucket: &str,
        key: &str,
        etag: Option<&str>,
        start: u64,
        len: u64,
    ) -> PortResult<Vec<u8>>;
    /// Starts a multipart upload to `key`; answers its upload id.
    async fn start_upload(&self, bucket: &str, key: &str) -> PortResult<String>;
    /// Uploads part `number` (1 to 10,000) and answers its ETag; the same number again
    /// replaces the part, so a retried call writes its part once. Every part but the
    /// last must hold at least [`MIN_PART_BYTES`], or completing fails.
    async fn upload_part(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        number: u32,
        body: Vec<u8>,
    ) -> PortResult<String>;
    /// Joins `parts` into the object and answers its ETag; `NotFound` if the upload is
    /// no more (completed by an earlier try whose answer was lost, or aborted).
    async fn complete_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        parts: &[UploadedPart],
    ) -> PortResult<String>;
    /// One page of ListObjectsV2 under `prefix`, from `after` (the previous page's
    /// `next`): up to 1,000 objects in key order.
    async fn list_page(
        &self,
        bucket: &str,
        prefix: &str,
        after: Option<&str>,
    ) -> PortResult<Page<ListedObject>>;
}

/// What a HeadObject says about an archived object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ArchiveState {
    /// A restored copy is available.
    Restored,
    /// A restore is under way.
    Restoring,
    /// Archived, with no restore requested.
    Archived,
    /// In a class that needs no restore.
    NotArchived,
    Missing,
}

#[async_trait]
pub trait ObjectInspector: Send + Sync {
    async fn inspect(&self, object: &ObjectId) -> PortResult<ArchiveState>;
}

/// What a batch restore job is asked to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchJobSpec {
    /// Also the idempotency token: a repeated submission returns the same batch job.
    pub job_id: String,
    pub manifest: BatchManifest,
    pub tier: Tier,
    pub expiration_days: u32,
    pub client_tag: Option<String>,
}

/// Where the batch job's tasks come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BatchManifest {
    /// A CSV manifest (`S3BatchOperations_CSV_20180820`) as of its ETag.
    Csv {
        bucket: String,
        key: String,
        etag: String,
        versioned: bool,
    },
    /// S3's manifest generator lists the objects `filter` selects and writes the list
    /// (`S3InventoryReport_CSV_20211130`) under `output_prefix` in `output_bucket`.
    /// The job is created needing confirmation: it waits in `Suspended` until
    /// [`BatchOperations::confirm_job`], so every listed object is registered before
    /// any restore starts.
    Generate {
        filter: ObjectFilter,
        output_bucket: String,
        output_prefix: String,
    },
}

/// The list a manifest generator wrote: `DescribeJob`'s `GeneratedManifestDescriptor`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GeneratedManifest {
    /// Bucket and key of its `manifest.json`.
    pub bucket: String,
    pub key: String,
    pub etag: String,
    pub version_id: Option<String>,
}

/// A batch job as `DescribeJob` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchJobInfo {
    pub status: BatchJobStatus,
    pub tasks_total: u64,
    pub tasks_succeeded: u64,
    pub tasks_failed: u64,
    pub failure_reasons: Vec<String>,
    /// For a job with a manifest generator, once the list is written.
    #[serde(default)]
    pub generated_manifest: Option<GeneratedManifest>,
}

/// S3 Batch Operations.
#[async_trait]
pub trait BatchOperations: Send + Sync {
    async fn create_job(&self, spec: &BatchJobSpec) -> PortResult<String>;
    async fn describe_job(&self, batch_job_id: &str) -> PortResult<BatchJobInfo>;
    /// `UpdateJobStatus` to `Ready`: runs a job waiting for confirmation. A job past
    /// `Suspended` answers `Conflict`.
    async fn confirm_job(&self, batch_job_id: &str) -> PortResult<()>;
    async fn cancel_job(&self, batch_job_id: &str) -> PortResult<()>;
}

/// The SNS topic.
#[async_trait]
pub trait Notifier: Send + Sync {
    async fn publish(&self, event: &BulkEvent) -> PortResult<()>;
}

/// Step Functions.
#[async_trait]
pub trait Executions: Send + Sync {
    /// Starts an execution named `name`; the same name and input again returns the
    /// first execution's ARN.
    async fn start(&self, name: &str, input: &Value) -> PortResult<String>;
    async fn stop(&self, arn: &str, error: &str, cause: &str) -> PortResult<()>;
}

/// The time, from the system in Lambda and from the local engine's clock in tests.
pub trait Clock: Send + Sync {
    /// The job's time: deadlines, polls, timestamps.
    fn now(&self) -> Timestamp;

    /// Real time, for what takes real time whatever the job's clock does: how long a
    /// caller may take to publish an event it claimed (as a Lambda's timeout is real
    /// time). The same as [`now`](Self::now) but in the local stack's scaled and
    /// virtual time.
    fn wall(&self) -> Timestamp {
        self.now()
    }
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// Every port a task may use.
#[derive(Clone)]
pub struct Ports {
    pub jobs: Arc<dyn JobStore>,
    pub objects: Arc<dyn ObjectStore>,
    pub source: Arc<dyn ObjectSource>,
    pub inspector: Arc<dyn ObjectInspector>,
    pub batch: Arc<dyn BatchOperations>,
    pub notifier: Arc<dyn Notifier>,
    pub executions: Arc<dyn Executions>,
    pub clock: Arc<dyn Clock>,
}
