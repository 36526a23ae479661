//! In-memory fakes of every port, for unit tests (feature `fakes`).
//!
//! They keep the semantics the adapters promise (conditional writes, idempotent
//! starts, ETag checks) so task code is tested against the contract, and each can be
//! told to fail its next calls to test retries. [`World`] wires them all together;
//! [`contract`] holds the tests every store must pass, fake and adapter alike.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use jiff::Timestamp;
use serde_json::Value;

use crate::event::BulkEvent;
use crate::filter::ListedObject;
use crate::job::{ClaimStep, JobPatch, JobRecord, TerminalRequest};
use crate::listing::{ListCursor, newest_first};
use crate::object_id::ObjectId;
use crate::ports::*;
use crate::settings::Settings;
use crate::status::BatchJobStatus;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A port operation a fake can be told to fail: one per port method, named by port
/// and method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    JobCreate,
    JobGet,
    JobUpdate,
    JobTally,
    JobClaimProgress,
    JobClaimTerminal,
    JobMarkTerminalPublished,
    JobList,
    ObjectsRegister,
    ObjectsWaitingJobs,
    ObjectsMark,
    ObjectsPending,
    SourceHead,
    SourceReadRange,
    /// Starting, adding a part to or completing a multipart upload.
    SourceUpload,
    SourceList,
    Inspect,
    BatchCreateJob,
    BatchDescribeJob,
    BatchConfirmJob,
    BatchCancelJob,
    Publish,
    ExecutionStart,
    ExecutionStop,
}

/// A fake that can be told to fail: the operations it serves.
pub trait Fallible {
    const OPS: &'static [Op];
}

/// Errors queued for the next calls of `F`'s operations.
pub struct Faults<F> {
    queued: Mutex<HashMap<Op, VecDeque<PortError>>>,
    fake: PhantomData<fn() -> F>,
}

impl<F> Default for Faults<F> {
    fn default() -> Self {
        Self {
            queued: Mutex::default(),
            fake: PhantomData,
        }
    }
}

impl<F: Fallible> Faults<F> {
    /// The next call of `op` fails with `error` (queue several for several calls).
    ///
    /// Panics if this fake does not serve `op`: the fault would never happen, and the
    /// test would pass without testing what it means to.
    pub fn fail_next(&self, op: Op, error: PortError) {
        assert!(
            F::OPS.contains(&op),
            "{op:?} is not an operation of {}",
            std::any::type_name::<F>()
        );
        lock(&self.queued).entry(op).or_default().push_back(error);
    }

    fn check(&self, op: Op) -> PortResult<()> {
        debug_assert!(
            F::OPS.contains(&op),
            "{op:?} is missing from {}::OPS",
            std::any::type_name::<F>()
        );
        match lock(&self.queued)
            .get_mut(&op)
            .and_then(VecDeque::pop_front)
        {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// One (object, job) row.
struct Row {
    object: ObjectId,
    state: ObjectState,
    registered_by: String,
}

/// Both tables: jobs with their counters, and (object, job) rows keyed by
/// (object digest, job id), in the order the DynamoDB index lists them.
#[derive(Default)]
pub struct MemoryStore {
    jobs: Mutex<BTreeMap<String, JobRecord>>,
    tallies: Mutex<HashMap<String, Tally>>,
    objects: Mutex<BTreeMap<(String, String), Row>>,
    pub faults: Faults<Self>,
}

impl Fallible for MemoryStore {
    const OPS: &'static [Op] = &[
        Op::JobCreate,
        Op::JobGet,
        Op::JobUpdate,
        Op::JobTally,
        Op::JobClaimProgress,
        Op::JobClaimTerminal,
        Op::JobMarkTerminalPublished,
        Op::JobList,
        Op::ObjectsRegister,
        Op::ObjectsWaitingJobs,
        Op::ObjectsMark,
        Op::ObjectsPending,
    ];
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn job(&self, job_id: &str) -> Option<JobRecord> {
        lock(&self.jobs).get(job_id).cloned()
    }

    /// The state of one (object, job) row.
    pub fn object_state(&self, object: &ObjectId, job_id: &str) -> Option<ObjectState> {
        lock(&self.objects)
            .get(&(object.digest(), job_id.to_owned()))
            .map(|row| row.state)
    }

    /// Number of rows in the objects table.
    pub fn object_rows(&self) -> usize {
        lock(&self.objects).len()
    }
}

#[async_trait]
impl JobStore for MemoryStore {
    async fn create(&self, job: &JobRecord) -> PortResult<Created> {
        self.faults.check(Op::JobCreate)?;
        let mut jobs = lock(&self.jobs);
        if let Some(existing) = jobs.get(&job.job_id) {
            return Ok(Created::Existing(Box::new(existing.clone())));
        }
        jobs.insert(job.job_id.clone(), job.clone());
        Ok(Created::New)
    }

    async fn get(&self, job_id: &str) -> PortResult<Option<JobRecord>> {
        self.faults.check(Op::JobGet)?;
        Ok(self.job(job_id))
    }

    async fn update(&self, job_id: &str, patch: &JobPatch, now: Timestamp) -> PortResult<()> {
        self.faults.check(Op::JobUpdate)?;
        let mut jobs = lock(&self.jobs);
        let job = jobs
            .get_mut(job_id)
            .ok_or_else(|| PortError::NotFound(format!("job {job_id}")))?;
        patch.apply(job, now);
        Ok(())
    }

    async fn tally(&self, job_id: &str) -> PortResult<Tally> {
        self.faults.check(Op::JobTally)?;
        Ok(lock(&self.tallies).get(job_id).copied().unwrap_or_default())
    }

    async fn claim_progress(&self, job_id: &str, percent: u8, now: Timestamp) -> PortResult<bool> {
        self.faults.check(Op::JobClaimProgress)?;
        let mut jobs = lock(&self.jobs);
        let job = jobs
            .get_mut(job_id)
            .ok_or_else(|| PortError::NotFound(format!("job {job_id}")))?;
        if job.last_percent_notified > percent || job.terminal.is_some() {
            return Ok(false);
        }
        job.last_percent_notified = percent;
        job.updated_at = now;
        Ok(true)
    }

    async fn claim_terminal(
        &self,
        job_id: &str,
        request: &TerminalRequest<'_>,
        now: Timestamp,
    ) -> PortResult<TerminalClaim> {
        self.faults.check(Op::JobClaimTerminal)?;
        let mut jobs = lock(&self.jobs);
        let job = jobs
            .get_mut(job_id)
            .ok_or_else(|| PortError::NotFound(format!("job {job_id}")))?;
        Ok(match ClaimStep::decide(job.terminal.as_ref(), request) {
            ClaimStep::Create(t) => {
                job.status = t.status;
                if let Some(r) = request.reason {
                    job.failure_reason = Some(r.to_owned());
                }
                job.terminal = Some(t.clone());
                job.updated_at = now;
                TerminalClaim::Publish(t)
            }
            ClaimStep::TakeOver(t) => {
                job.terminal = Some(t.clone());
                job.updated_at = now;
                TerminalClaim::Publish(t)
            }
            ClaimStep::Resume(t) => TerminalClaim::Publish(t),
            ClaimStep::Held { status, until } => TerminalClaim::Held { status, until },
            ClaimStep::Published(status) => TerminalClaim::AlreadyDone(status),
        })
    }

    async fn mark_terminal_published(&self, job_id: &str, now: Timestamp) -> PortResult<()> {
        self.faults.check(Op::JobMarkTerminalPublished)?;
        let mut jobs = lock(&self.jobs);
        let job = jobs
            .get_mut(job_id)
            .ok_or_else(|| PortError::NotFound(format!("job {job_id}")))?;
        // No claim: nothing to mark, and the record is left as it is.
        if let Some(t) = &mut job.terminal {
            t.published = true;
            job.updated_at = now;
        }
        Ok(())
    }

    async fn list(
        &self,
        filter: &JobFilter,
        after: Option<&str>,
        limit: usize,
    ) -> PortResult<Page<JobRecord>> {
        self.faults.check(Op::JobList)?;
        let after = after
            .map(ListCursor::decode)
            .transpose()
            .map_err(|e| PortError::Rejected(e.to_string()))?;
        let mut jobs: Vec<JobRecord> =
            lock(&self.jobs)
                .values()
                .filter(|j| {
                    // As the DynamoDB index: jobs with an empty tag are not in it.
                    filter.client_tag.as_ref().is_none_or(|tag| {
                        !tag.is_empty() && j.request.client_tag.as_ref() == Some(tag)
                    }) && filter.status.is_none_or(|s| j.status == s)
                        && after.as_ref().is_none_or(|c| c.is_before(j))
                })
                .cloned()
                .collect();
        jobs.sort_by(newest_first);
        let next = if jobs.len() > limit {
            jobs.truncate(limit);
            jobs.last().map(|j| ListCursor::of(j).encode())
        } else {
            None
        };
        Ok(Page { items: jobs, next })
    }
}

#[async_trait]
impl ObjectStore for MemoryStore {
    async fn register(
        &self,
        job_id: &str,
        objects: &[ObjectId],
        _expires_at: Timestamp,
        piece: &str,
    ) -> PortResult<u64> {
        self.faults.check(Op::ObjectsRegister)?;
        let mut rows = lock(&self.objects);
        let mut new = 0;
        // An object named twice in one call is one object.
        let mut seen = HashSet::new();
        for o in objects.iter().filter(|o| seen.insert(o.digest())) {
            let key = (o.digest(), job_id.to_owned());
            match rows.get(&key) {
                Some(row) if row.registered_by != piece => continue,
                _ => {}
            }
            rows.insert(
                key,
                Row {
                    object: o.clone(),
                    state: ObjectState::Requested,
                    registered_by: piece.to_owned(),
                },
            );
            new += 1;
        }
        Ok(new)
    }

    async fn waiting_jobs(&self, object: &ObjectId) -> PortResult<Vec<String>> {
        self.faults.check(Op::ObjectsWaitingJobs)?;
        let digest = object.digest();
        Ok(lock(&self.objects)
            .iter()
            .filter(|((o, _), row)| *o == digest && row.state == ObjectState::Requested)
            .map(|((_, j), _)| j.clone())
            .collect())
    }

    async fn mark(
        &self,
        marks: &[Mark],
        to: ObjectState,
        _now: Timestamp,
    ) -> PortResult<MarkReport> {
        self.faults.check(Op::ObjectsMark)?;
        let mut rows = lock(&self.objects);
        let mut tallies = lock(&self.tallies);
        let mut report = MarkReport::default();
        for m in marks {
            match rows.get_mut(&(m.object.digest(), m.job_id.clone())) {
                Some(Row { state, .. }) if *state == ObjectState::Requested => {
                    *state = to;
                    let t = tallies.entry(m.job_id.clone()).or_default();
                    match to {
                        ObjectState::Restored => t.restored += 1,
                        ObjectState::Excluded => t.excluded += 1,
                        ObjectState::Requested => {}
                    }
                    report.changed.push(m.clone());
                }
                _ => report.unchanged.push(m.clone()),
            }
        }
        Ok(report)
    }

    async fn pending(
        &self,
        job_id: &str,
        after: Option<&str>,
        limit: usize,
    ) -> PortResult<Page<ObjectId>> {
        self.faults.check(Op::ObjectsPending)?;
        let rows = lock(&self.objects);
        let items: Vec<(String, ObjectId)> = rows
            .iter()
            .filter(|((o, j), row)| {
                j == job_id
                    && row.state == ObjectState::Requested
                    && after.is_none_or(|a| o.as_str() > a)
            })
            .map(|((o, _), row)| (o.clone(), row.object.clone()))
            .take(limit + 1)
            .collect();
        let page = Page::of(items, limit, |(o, _)| o.clone());
        Ok(Page {
            items: page.items.into_iter().map(|(_, id)| id).collect(),
            next: page.next,
        })
    }
}

/// (bucket, key) -> (ETag, body).
type Objects = HashMap<(String, String), (String, Vec<u8>)>;

/// Multipart uploads under way: upload id -> (bucket, key, parts by number).
type Uploads = HashMap<String, (String, String, BTreeMap<u32, Vec<u8>>)>;

/// S3 objects held in memory; the ETag changes on every put.
#[derive(Default)]
pub struct MemorySource {
    objects: Mutex<Objects>,
    puts: Mutex<u64>,
    uploads: Mutex<Uploads>,
    /// What ListObjectsV2 shows, by (bucket, key): objects put with [`Self::put_listed`].
    listed: Mutex<BTreeMap<(String, String), ListedObject>>,
    /// Objects per page of [`ObjectSource::list_page`] (S3's 1,000 when 0).
    pub list_page_size: Mutex<usize>,
    /// Every range read, as (key, start, len), to check that reads stay bounded.
    pub reads: Mutex<Vec<(String, u64, u64)>>,
    pub faults: Faults<Self>,
}

impl Fallible for MemorySource {
    const OPS: &'static [Op] = &[
        Op::SourceHead,
        Op::SourceReadRange,
        Op::SourceUpload,
        Op::SourceList,
    ];
}

impl MemorySource {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn put(&self, bucket: &str, key: &str, body: impl Into<Vec<u8>>) {
        let mut puts = lock(&self.puts);
        *puts += 1;
        lock(&self.objects).insert(
            (bucket.into(), key.into()),
            (format!("\"etag-{puts}\""), body.into()),
        );
    }

    pub fn contains(&self, bucket: &str, key: &str) -> bool {
        lock(&self.objects).contains_key(&(bucket.into(), key.into()))
    }

    /// An object as a listing shows it (its body is not kept).
    pub fn put_listed(&self, bucket: &str, object: ListedObject) {
        lock(&self.listed).insert((bucket.into(), object.key.clone()), object);
    }

    /// Deletes an object, as a user may between creating a job and its registration.
    pub fn remove(&self, bucket: &str, key: &str) {
        lock(&self.objects).remove(&(bucket.into(), key.into()));
    }
}

#[async_trait]
impl ObjectSource for MemorySource {
    async fn head(&self, bucket: &str, key: &str) -> PortResult<ObjectMeta> {
        self.faults.check(Op::SourceHead)?;
        lock(&self.objects)
            .get(&(bucket.into(), key.into()))
            .map(|(etag, body)| ObjectMeta {
                etag: etag.clone(),
                size: body.len() as u64,
            })
            .ok_or_else(|| PortError::NotFound(format!("s3://{bucket}/{key}")))
    }

    async fn read_range(
        &self,
        bucket: &str,
        key: &str,
        etag: Option<&str>,
        start: u64,
        len: u64,
    ) -> PortResult<Vec<u8>> {
        self.faults.check(Op::SourceReadRange)?;
        lock(&self.reads).push((key.to_owned(), start, len));
        let objects = lock(&self.objects);
        let (current, body) = objects
            .get(&(bucket.into(), key.into()))
            .ok_or_else(|| PortError::NotFound(format!("s3://{bucket}/{key}")))?;
        if etag.is_some_and(|e| e != current) {
            return Err(PortError::Conflict(format!("s3://{bucket}/{key} changed")));
        }
        let from = usize::try_from(start).unwrap_or(usize::MAX).min(body.len());
        let to = usize::try_from(start.saturating_add(len))
            .unwrap_or(usize::MAX)
            .min(body.len());
        Ok(body[from..to].to_vec())
    }

    async fn start_upload(&self, bucket: &str, key: &str) -> PortResult<String> {
        self.faults.check(Op::SourceUpload)?;
        let mut uploads = lock(&self.uploads);
        let id = format!("upload-{}", uploads.len() + 1);
        uploads.insert(id.clone(), (bucket.into(), key.into(), BTreeMap::new()));
        Ok(id)
    }

    async fn upload_part(
        &self,
        _bucket: &str,
        _key: &str,
        upload_id: &str,
        number: u32,
        body: Vec<u8>,
    ) -> PortResult<String> {
        self.faults.check(Op::SourceUpload)?;
        let mut uploads = lock(&self.uploads);
        let (_, _, parts) = uploads
            .get_mut(upload_id)
            .ok_or_else(|| PortError::NotFound(format!("upload {upload_id}")))?;
        let etag = format!("\"part-{number}-{}\"", body.len());
        parts.insert(number, body);
        Ok(etag)
    }

    async fn complete_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        parts: &[UploadedPart],
    ) -> PortResult<String> {
        self.faults.check(Op::SourceUpload)?;
        let (_, _, held) = lock(&self.uploads)
            .remove(upload_id)
            .ok_or_else(|| PortError::NotFound(format!("upload {upload_id}")))?;
        let mut body = Vec::new();
        for (i, part) in parts.iter().enumerate() {
            let bytes = held.get(&part.number).ok_or_else(|| {
                PortError::Rejected(format!("InvalidPart: no part {}", part.number))
            })?;
            // As S3 answers EntityTooSmall.
            if i + 1 < parts.len() && bytes.len() < MIN_PART_BYTES {
                return Err(PortError::Rejected(format!(
                    "EntityTooSmall: part {} has {} bytes",
                    part.number,
                    bytes.len()
                )));
            }
            body.extend_from_slice(bytes);
        }
        self.put(bucket, key, body);
        self.head(bucket, key).await.map(|meta| meta.etag)
    }

    async fn list_page(
        &self,
        bucket: &str,
        prefix: &str,
        after: Option<&str>,
    ) -> PortResult<Page<ListedObject>> {
        self.faults.check(Op::SourceList)?;
        let size = match *lock(&self.list_page_size) {
            0 => 1000,
            n => n,
        };
        let listed = lock(&self.listed);
        let items: Vec<ListedObject> = listed
            .iter()
            .filter(|((b, k), _)| {
                b == bucket && k.starts_with(prefix) && after.is_none_or(|a| k.as_str() > a)
            })
            .map(|(_, o)| o.clone())
            .take(size + 1)
            .collect();
        Ok(Page::of(items, size, |o| o.key.clone()))
    }
}

/// HeadObject answers, `Archived` unless set.
#[derive(Default)]
pub struct FakeInspector {
    states: Mutex<HashMap<ObjectId, ArchiveState>>,
    pub faults: Faults<Self>,
}

impl Fallible for FakeInspector {
    const OPS: &'static [Op] = &[Op::Inspect];
}

impl FakeInspector {
    pub fn set(&self, object: &ObjectId, state: ArchiveState) {
        lock(&self.states).insert(object.clone(), state);
    }
}

#[async_trait]
impl ObjectInspector for FakeInspector {
    async fn inspect(&self, object: &ObjectId) -> PortResult<ArchiveState> {
        self.faults.check(Op::Inspect)?;
        Ok(lock(&self.states)
            .get(object)
            .copied()
            .unwrap_or(ArchiveState::Archived))
    }
}

/// Batch Operations: records submissions; statuses are set by the test.
#[derive(Default)]
pub struct FakeBatch {
    pub submitted: Mutex<Vec<BatchJobSpec>>,
    jobs: Mutex<HashMap<String, BatchJobInfo>>,
    pub cancelled: Mutex<Vec<String>>,
    pub confirmed: Mutex<Vec<String>>,
    pub faults: Faults<Self>,
}

impl Fallible for FakeBatch {
    const OPS: &'static [Op] = &[
        Op::BatchCreateJob,
        Op::BatchDescribeJob,
        Op::BatchConfirmJob,
        Op::BatchCancelJob,
    ];
}

impl FakeBatch {
    /// The batch job id the fake gives a bulk job.
    pub fn batch_id(job_id: &str) -> String {
        format!("batch-{job_id}")
    }

    pub fn set(&self, batch_job_id: &str, info: BatchJobInfo) {
        lock(&self.jobs).insert(batch_job_id.to_owned(), info);
    }
}

#[async_trait]
impl BatchOperations for FakeBatch {
    async fn create_job(&self, spec: &BatchJobSpec) -> PortResult<String> {
        self.faults.check(Op::BatchCreateJob)?;
        let id = Self::batch_id(&spec.job_id);
        let mut jobs = lock(&self.jobs);
        // ClientRequestToken: the same token returns the same job.
        if !jobs.contains_key(&id) {
            lock(&self.submitted).push(spec.clone());
            jobs.insert(
                id.clone(),
                BatchJobInfo {
                    status: BatchJobStatus::New,
                    tasks_total: 0,
                    tasks_succeeded: 0,
                    tasks_failed: 0,
                    failure_reasons: Vec::new(),
                    generated_manifest: None,
                },
            );
        }
        Ok(id)
    }

    /// As S3: only a job waiting in Suspended can be confirmed.
    async fn confirm_job(&self, batch_job_id: &str) -> PortResult<()> {
        self.faults.check(Op::BatchConfirmJob)?;
        let mut jobs = lock(&self.jobs);
        let info = jobs
            .get_mut(batch_job_id)
            .ok_or_else(|| PortError::NotFound(format!("batch job {batch_job_id}")))?;
        if info.status != BatchJobStatus::Suspended {
            return Err(PortError::Conflict(format!(
                "JobStatusException: batch job {batch_job_id} is {}",
                info.status.as_str()
            )));
        }
        info.status = BatchJobStatus::Ready;
        lock(&self.confirmed).push(batch_job_id.to_owned());
        Ok(())
    }

    async fn describe_job(&self, batch_job_id: &str) -> PortResult<BatchJobInfo> {
        self.faults.check(Op::BatchDescribeJob)?;
        lock(&self.jobs)
            .get(batch_job_id)
            .cloned()
            .ok_or_else(|| PortError::NotFound(format!("batch job {batch_job_id}")))
    }

    async fn cancel_job(&self, batch_job_id: &str) -> PortResult<()> {
        self.faults.check(Op::BatchCancelJob)?;
        lock(&self.cancelled).push(batch_job_id.to_owned());
        if let Some(info) = lock(&self.jobs).get_mut(batch_job_id) {
            info.status = BatchJobStatus::Cancelled;
        }
        Ok(())
    }
}

/// Keeps every published event.
#[derive(Default)]
pub struct RecordingNotifier {
    pub events: Mutex<Vec<BulkEvent>>,
    pub faults: Faults<Self>,
}

impl Fallible for RecordingNotifier {
    const OPS: &'static [Op] = &[Op::Publish];
}

impl RecordingNotifier {
    pub fn events(&self) -> Vec<BulkEvent> {
        lock(&self.events).clone()
    }
}

#[async_trait]
impl Notifier for RecordingNotifier {
    async fn publish(&self, event: &BulkEvent) -> PortResult<()> {
        self.faults.check(Op::Publish)?;
        lock(&self.events).push(event.clone());
        Ok(())
    }
}

/// Step Functions: executions by name, idempotent for the same input.
#[derive(Default)]
pub struct FakeExecutions {
    pub started: Mutex<BTreeMap<String, (Value, String)>>,
    pub stopped: Mutex<Vec<String>>,
    pub faults: Faults<Self>,
}

impl Fallible for FakeExecutions {
    const OPS: &'static [Op] = &[Op::ExecutionStart, Op::ExecutionStop];
}

#[async_trait]
impl Executions for FakeExecutions {
    async fn start(&self, name: &str, input: &Value) -> PortResult<String> {
        self.faults.check(Op::ExecutionStart)?;
        let mut started = lock(&self.started);
        match started.get(name) {
            Some((first, arn)) if first == input => Ok(arn.clone()),
            Some(_) => Err(PortError::Conflict(format!(
                "execution {name} exists with another input"
            ))),
            None => {
                let arn =
                    format!("arn:aws:states:local:000000000000:execution:bulk-restore:{name}");
                started.insert(name.to_owned(), (input.clone(), arn.clone()));
                Ok(arn)
            }
        }
    }

    async fn stop(&self, arn: &str, _error: &str, _cause: &str) -> PortResult<()> {
        self.faults.check(Op::ExecutionStop)?;
        lock(&self.stopped).push(arn.to_owned());
        Ok(())
    }
}

/// A clock the test moves.
pub struct ManualClock(Mutex<Timestamp>);

impl ManualClock {
    pub fn at(t: Timestamp) -> Self {
        Self(Mutex::new(t))
    }

    pub fn set(&self, t: Timestamp) {
        *lock(&self.0) = t;
    }

    pub fn advance(&self, d: std::time::Duration) {
        let mut t = lock(&self.0);
        *t = crate::policy::add(*t, d);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *lock(&self.0)
    }
}

/// Every fake wired into [`Ports`], with a deployment's [`Settings`] (any bucket
/// allowed) and a clock stopped at [`World::START`]: the world task and handler tests
/// run in.
pub struct World {
    pub store: Arc<MemoryStore>,
    pub source: Arc<MemorySource>,
    pub inspector: Arc<FakeInspector>,
    pub batch: Arc<FakeBatch>,
    pub notifier: Arc<RecordingNotifier>,
    pub executions: Arc<FakeExecutions>,
    pub clock: Arc<ManualClock>,
    pub ports: Ports,
    pub settings: Settings,
}

impl World {
    /// Where the clock starts: 2027-01-15T08:00:00Z.
    pub const START: Timestamp = Timestamp::constant(1_800_000_000, 0);

    pub fn new() -> Self {
        let store = Arc::new(MemoryStore::new());
        let source = Arc::new(MemorySource::new());
        let inspector = Arc::new(FakeInspector::default());
        let batch = Arc::new(FakeBatch::default());
        let notifier = Arc::new(RecordingNotifier::default());
        let executions = Arc::new(FakeExecutions::default());
        let clock = Arc::new(ManualClock::at(Self::START));
        let ports = Ports {
            jobs: store.clone(),
            objects: store.clone(),
            source: source.clone(),
            inspector: inspector.clone(),
            batch: batch.clone(),
            notifier: notifier.clone(),
            executions: executions.clone(),
            clock: clock.clone(),
        };
        let settings = Settings {
            topic_arn: "arn:aws:sns:local:000000000000:bulk-events".into(),
            report_bucket: "reports-1".into(),
            ..Settings::default()
        };
        Self {
            store,
            source,
            inspector,
            batch,
            notifier,
            executions,
            clock,
            ports,
            settings,
        }
    }
}

impl Default for World {
    fn default() -> Self {
        Self::new()
    }
}

/// The semantics [`ports`](crate::ports) promises of a [`JobStore`] and an
/// [`ObjectStore`], as tests generic over the store: run on [`MemoryStore`] here and on
/// the DynamoDB store in `gbr-aws`, so the fake cannot drift from the adapter.
///
/// Each test takes a fresh, empty store and panics where the store breaks a promise.
/// [`store_contract_tests!`](crate::store_contract_tests) makes one test of each.
pub mod contract {
    use std::collections::HashSet;

    use futures_util::future::join_all;
    use jiff::Timestamp;
    use serde_json::json;

    use crate::job::{JobPatch, JobRecord, TERMINAL_CLAIM_LEASE, TerminalRequest, TerminalState};
    use crate::object_id::ObjectId;
    use crate::policy::add;
    use crate::ports::{
        Created, JobFilter, JobStore, Mark, ObjectState, ObjectStore, PortError, Tally,
        TerminalClaim,
    };
    use crate::request::CreateJobRequest;
    use crate::status::{BatchJobStatus, JobStatus};

    /// When the tests' jobs are created: with nanoseconds, which a store must keep.
    const CREATED: Timestamp = Timestamp::constant(1_700_000_000, 123_456_789);
    /// When the tests change something, and then again.
    const NOW: Timestamp = Timestamp::constant(1_700_000_500, 0);
    const LATER: Timestamp = Timestamp::constant(1_700_000_900, 0);
    /// When object rows expire.
    const EXPIRES: Timestamp = Timestamp::constant(1_800_000_000, 0);

    fn job_at(job_id: &str, client_tag: Option<&str>, created_at: Timestamp) -> JobRecord {
        let mut body = json!({"bucket": "manifests-1", "key": "lists/manifest one.csv",
            "tier": "bulk", "expiration_days": 3});
        if let Some(tag) = client_tag {
            body["client_tag"] = tag.into();
        }
        let request = CreateJobRequest::from_json(&body).expect("a valid request");
        JobRecord::new(
            job_id.to_owned(),
            request,
            10,
            created_at,
            Timestamp::constant(1_700_100_000, 0),
        )
    }

    fn job(job_id: &str) -> JobRecord {
        job_at(job_id, None, CREATED)
    }

    async fn stored(jobs: &dyn JobStore, job_id: &str) -> JobRecord {
        jobs.get(job_id)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{job_id} is stored"))
    }

    fn claim<'a>(status: JobStatus, percent: u8, claimer: &'a str) -> TerminalRequest<'a> {
        TerminalRequest {
            status,
            percent,
            reason: None,
            claimer,
            at: NOW,
        }
    }

    fn is_not_found<T>(result: Result<T, PortError>) -> bool {
        matches!(result, Err(PortError::NotFound(_)))
    }

    // ---- JobStore ----

    pub async fn create_stores_a_job_once_and_answers_the_first(jobs: &dyn JobStore) {
        let first = JobRecord {
            request_fingerprint: Some("fingerprint-1".into()),
            ..job_at("job-1", Some("team-a"), CREATED)
        };
        assert_eq!(jobs.create(&first).await.unwrap(), Created::New);
        assert_eq!(jobs.get("job-1").await.unwrap(), Some(first.clone()));
        assert_eq!(jobs.get("job-none").await.unwrap(), None);

        let second = job_at("job-1", Some("team-b"), LATER);
        assert_eq!(
            jobs.create(&second).await.unwrap(),
            Created::Existing(Box::new(first.clone()))
        );
        assert_eq!(stored(jobs, "job-1").await, first, "the first is kept");
    }

    pub async fn update_sets_the_patched_fields_and_leaves_the_others(jobs: &dyn JobStore) {
        let record = job("job-1");
        jobs.create(&record).await.unwrap();
        let patch = JobPatch {
            status: Some(JobStatus::Restoring),
            manifest_etag: Some("\"abc\"".into()),
            objects_total: Some(12_345),
            manifest_versioned: Some(true),
            objects_skipped: Some(7),
            batch_manifest: Some(crate::job::WrittenManifest {
                bucket: "reports".into(),
                key: "manifests/job-1.csv".into(),
                etag: "\"m-2\"".into(),
                versioned: true,
            }),
            manifest_upload_id: Some("upload-3".into()),
            batch_job_id: Some("batch-9".into()),
            batch_status: Some(BatchJobStatus::Active),
            execution_arn: Some("arn:execution".into()),
            report_processed: Some(true),
            reconciled: Some(true),
            failure_reason: None,
        };
        jobs.update("job-1", &patch, NOW).await.unwrap();
        let patched = JobRecord {
            manifest_etag: Some("\"abc\"".into()),
            objects_total: Some(12_345),
            manifest_versioned: Some(true),
            objects_skipped: patch.objects_skipped,
            batch_manifest: patch.batch_manifest.clone(),
            manifest_upload_id: patch.manifest_upload_id.clone(),
            batch_job_id: Some("batch-9".into()),
            batch_status: Some(BatchJobStatus::Active),
            execution_arn: Some("arn:execution".into()),
            report_processed: true,
            reconciled: true,
            updated_at: NOW,
            ..record
        };
        assert_eq!(stored(jobs, "job-1").await, patched);

        let patch = JobPatch {
            status: Some(JobStatus::Failed),
            failure_reason: Some("the manifest is gone".into()),
            ..JobPatch::default()
        };
        jobs.update("job-1", &patch, LATER).await.unwrap();
        let expected = JobRecord {
            status: JobStatus::Failed,
            failure_reason: Some("the manifest is gone".into()),
            updated_at: LATER,
            ..patched
        };
        assert_eq!(stored(jobs, "job-1").await, expected);

        assert!(is_not_found(
            jobs.update("job-none", &JobPatch::default(), NOW).await
        ));
        assert_eq!(jobs.get("job-none").await.unwrap(), None, "no upsert");
    }

    pub async fn progress_claims_never_go_down_and_stop_at_a_terminal_claim(jobs: &dyn JobStore) {
        jobs.create(&job("job-1")).await.unwrap();
        assert!(jobs.claim_progress("job-1", 10, NOW).await.unwrap());
        // The same claim again, as a retry whose first answer was lost sends it: granted,
        // so the event is published at least once.
        assert!(jobs.claim_progress("job-1", 10, NOW).await.unwrap());
        // A refused claim writes nothing, not even the time.
        assert!(!jobs.claim_progress("job-1", 5, LATER).await.unwrap());
        let record = stored(jobs, "job-1").await;
        assert_eq!((record.last_percent_notified, record.updated_at), (10, NOW));
        assert!(jobs.claim_progress("job-1", 30, LATER).await.unwrap());
        let record = stored(jobs, "job-1").await;
        assert_eq!(
            (record.last_percent_notified, record.updated_at),
            (30, LATER)
        );

        jobs.claim_terminal("job-1", &claim(JobStatus::Timeout, 40, "sm"), NOW)
            .await
            .unwrap();
        assert!(!jobs.claim_progress("job-1", 90, LATER).await.unwrap());
        assert_eq!(stored(jobs, "job-1").await.last_percent_notified, 30);
        assert!(is_not_found(jobs.claim_progress("job-none", 10, NOW).await));
    }

    pub async fn a_first_terminal_claim_sets_the_status_and_any_reason(jobs: &dyn JobStore) {
        let record = job("job-1");
        jobs.create(&record).await.unwrap();
        // Nothing claimed yet: marking it published changes nothing.
        jobs.mark_terminal_published("job-1", NOW).await.unwrap();
        assert_eq!(stored(jobs, "job-1").await, record);

        let failed = TerminalRequest {
            reason: Some("the batch job failed"),
            ..claim(JobStatus::Failed, 40, "sm")
        };
        let claimed = TerminalState {
            status: JobStatus::Failed,
            published: false,
            percent: 40,
            claimed_by: "sm".into(),
            claimed_at: NOW,
        };
        assert_eq!(
            jobs.claim_terminal("job-1", &failed, NOW).await.unwrap(),
            TerminalClaim::Publish(claimed.clone())
        );
        let expected = JobRecord {
            status: JobStatus::Failed,
            failure_reason: Some("the batch job failed".into()),
            terminal: Some(claimed),
            updated_at: NOW,
            ..record
        };
        assert_eq!(stored(jobs, "job-1").await, expected);

        // Without a reason, the job has none.
        jobs.create(&job("job-2")).await.unwrap();
        jobs.claim_terminal("job-2", &claim(JobStatus::Complete, 100, "sm"), NOW)
            .await
            .unwrap();
        let record = stored(jobs, "job-2").await;
        assert_eq!(
            (record.status, record.failure_reason),
            (JobStatus::Complete, None)
        );

        assert!(is_not_found(
            jobs.claim_terminal("job-none", &failed, NOW).await
        ));
        assert_eq!(jobs.get("job-none").await.unwrap(), None, "no upsert");
    }

    pub async fn a_terminal_claim_has_one_holder_until_its_lease_runs_out(jobs: &dyn JobStore) {
        jobs.create(&job("job-1")).await.unwrap();
        let first = TerminalRequest {
            reason: Some("the batch job failed"),
            ..claim(JobStatus::Failed, 40, "sm")
        };
        let TerminalClaim::Publish(held) = jobs.claim_terminal("job-1", &first, NOW).await.unwrap()
        else {
            panic!("the first claim publishes");
        };
        // The holder's retry publishes the claimed event, whatever it asks now.
        let retry = claim(JobStatus::Complete, 100, "sm");
        assert_eq!(
            jobs.claim_terminal("job-1", &retry, NOW).await.unwrap(),
            TerminalClaim::Publish(held.clone())
        );
        // Another caller, even with the same status, is held off while the lease runs.
        let lease_end = add(NOW, TERMINAL_CLAIM_LEASE);
        let just_before = Timestamp::constant(lease_end.as_second() - 1, 0);
        for other in [
            claim(JobStatus::Failed, 40, "cancel/1"),
            TerminalRequest {
                at: just_before,
                ..claim(JobStatus::Cancelled, 0, "cancel/2")
            },
        ] {
            assert_eq!(
                jobs.claim_terminal("job-1", &other, other.at)
                    .await
                    .unwrap(),
                TerminalClaim::Held {
                    status: JobStatus::Failed,
                    until: lease_end
                }
            );
        }
        assert_eq!(stored(jobs, "job-1").await.terminal, Some(held.clone()));

        // From the lease's end the holder is presumed dead: the next caller takes over
        // the event as claimed, and the old holder is held off in turn.
        let cancel = TerminalRequest {
            reason: Some("cancelled"),
            at: lease_end,
            ..claim(JobStatus::Cancelled, 70, "cancel/3")
        };
        let taken = TerminalState {
            claimed_by: "cancel/3".into(),
            claimed_at: lease_end,
            ..held
        };
        assert_eq!(
            jobs.claim_terminal("job-1", &cancel, LATER).await.unwrap(),
            TerminalClaim::Publish(taken.clone())
        );
        let record = stored(jobs, "job-1").await;
        assert_eq!(record.terminal, Some(taken));
        assert_eq!(record.status, JobStatus::Failed);
        assert_eq!(
            record.failure_reason.as_deref(),
            Some("the batch job failed"),
            "a take-over keeps the claim's reason"
        );
        assert_eq!(record.updated_at, LATER);
        let old_holder = TerminalRequest {
            at: lease_end,
            ..first
        };
        assert_eq!(
            jobs.claim_terminal("job-1", &old_holder, LATER)
                .await
                .unwrap(),
            TerminalClaim::Held {
                status: JobStatus::Failed,
                until: add(lease_end, TERMINAL_CLAIM_LEASE)
            }
        );
    }

    pub async fn a_published_terminal_event_is_done_for_every_caller(jobs: &dyn JobStore) {
        jobs.create(&job("job-1")).await.unwrap();
        let holder = claim(JobStatus::Failed, 40, "sm");
        jobs.claim_terminal("job-1", &holder, NOW).await.unwrap();
        jobs.mark_terminal_published("job-1", LATER).await.unwrap();
        let record = stored(jobs, "job-1").await;
        assert!(record.terminal.as_ref().is_some_and(|t| t.published));
        assert_eq!(record.updated_at, LATER);

        let long_after = add(LATER, TERMINAL_CLAIM_LEASE * 10);
        for caller in [
            holder,
            claim(JobStatus::Cancelled, 0, "cancel/1"),
            TerminalRequest {
                at: long_after,
                ..claim(JobStatus::Complete, 100, "cancel/2")
            },
        ] {
            assert_eq!(
                jobs.claim_terminal("job-1", &caller, caller.at)
                    .await
                    .unwrap(),
                TerminalClaim::AlreadyDone(JobStatus::Failed)
            );
        }
        assert_eq!(stored(jobs, "job-1").await, record, "nothing changed");
        assert!(is_not_found(
            jobs.mark_terminal_published("job-none", NOW).await
        ));
    }

    pub async fn of_concurrent_claimers_exactly_one_holds_the_claim(jobs: &dyn JobStore) {
        jobs.create(&job("job-1")).await.unwrap();
        let names: Vec<String> = (0..20).map(|i| format!("cancel/{i}")).collect();
        let outcomes = join_all(names.iter().map(|name| {
            let request = claim(JobStatus::Cancelled, 0, name);
            async move { jobs.claim_terminal("job-1", &request, NOW).await }
        }))
        .await;
        let winners: Vec<&TerminalState> = outcomes
            .iter()
            .filter_map(|o| match o {
                Ok(TerminalClaim::Publish(t)) => Some(t),
                _ => None,
            })
            .collect();
        assert_eq!(winners.len(), 1, "{outcomes:?}");
        assert!(
            outcomes.iter().all(|o| matches!(
                o,
                Ok(TerminalClaim::Publish(_) | TerminalClaim::Held { .. })
            )),
            "{outcomes:?}"
        );
        assert_eq!(
            stored(jobs, "job-1").await.terminal.as_ref(),
            Some(winners[0])
        );
    }

    /// Every job a listing yields, page by page, checking each page's bound.
    async fn list_all(jobs: &dyn JobStore, filter: &JobFilter, limit: usize) -> Vec<String> {
        let mut ids = Vec::new();
        let mut after: Option<String> = None;
        for _ in 0..100 {
            let page = jobs.list(filter, after.as_deref(), limit).await.unwrap();
            assert!(page.items.len() <= limit, "{} > {limit}", page.items.len());
            ids.extend(page.items.into_iter().map(|j| j.job_id));
            match page.next {
                Some(next) => after = Some(next),
                None => return ids,
            }
        }
        panic!("the listing does not end");
    }

    /// Jobs created within one second, a whole second and half a second apart (as
    /// strings in jiff's default format they would sort the wrong way round), and two at
    /// the same instant; newest first, they are job-5 to job-0.
    async fn six_jobs(jobs: &dyn JobStore, tags: [Option<&str>; 6]) {
        let second = 1_700_000_000;
        let times = [
            Timestamp::constant(second - 60, 0),
            Timestamp::constant(second, 0),
            Timestamp::constant(second, 500_000_000),
            Timestamp::constant(second, 500_000_001),
            Timestamp::constant(second + 60, 0),
            Timestamp::constant(second + 60, 0),
        ];
        for (i, (t, tag)) in times.into_iter().zip(tags).enumerate() {
            jobs.create(&job_at(&format!("job-{i}"), tag, t))
                .await
                .unwrap();
        }
    }

    pub async fn listing_is_newest_first_and_resumes_after_a_page_token(jobs: &dyn JobStore) {
        six_jobs(
            jobs,
            [Some("team-a"), None, None, Some("team-b"), None, None],
        )
        .await;
        let newest_first = ["job-5", "job-4", "job-3", "job-2", "job-1", "job-0"];
        let all = JobFilter::default();
        let page = jobs.list(&all, None, 10).await.unwrap();
        let ids: Vec<&str> = page.items.iter().map(|j| j.job_id.as_str()).collect();
        assert_eq!(ids, newest_first);
        assert_eq!(page.next, None);
        assert_eq!(page.items[2], stored(jobs, "job-3").await, "whole records");
        for limit in [1, 2, 4, 6] {
            assert_eq!(
                list_all(jobs, &all, limit).await,
                newest_first,
                "limit {limit}"
            );
        }

        // A token resumes right after the last job of its page, however often it is used.
        let first = jobs.list(&all, None, 2).await.unwrap();
        let token = first.next.expect("more pages");
        for _ in 0..2 {
            let rest = jobs.list(&all, Some(&token), 10).await.unwrap();
            let ids: Vec<&str> = rest.items.iter().map(|j| j.job_id.as_str()).collect();
            assert_eq!(ids, newest_first[2..]);
        }
        for garbage in ["bm90LWEtY3Vyc29y", "!"] {
            assert!(
                matches!(
                    jobs.list(&all, Some(garbage), 2).await,
                    Err(PortError::Rejected(m)) if m.contains("next_token")
                ),
                "{garbage}"
            );
        }
    }

    pub async fn listing_filters_by_client_tag_and_status(jobs: &dyn JobStore) {
        let a = Some("team-a");
        six_jobs(jobs, [a, None, a, Some("team-b"), a, a]).await;
        for id in ["job-1", "job-3", "job-5"] {
            jobs.claim_terminal(id, &claim(JobStatus::Failed, 0, "sm"), NOW)
                .await
                .unwrap();
        }
        let filter = |tag: Option<&str>, status| JobFilter {
            client_tag: tag.map(str::to_owned),
            status,
        };
        let failed = Some(JobStatus::Failed);
        let restoring = Some(JobStatus::Restoring);
        for (tag, status, expected) in [
            (a, None, &["job-5", "job-4", "job-2", "job-0"][..]),
            (None, failed, &["job-5", "job-3", "job-1"]),
            (a, restoring, &["job-4", "job-2", "job-0"]),
            (Some("team-b"), failed, &["job-3"]),
            (Some("team-b"), restoring, &[]),
            (Some("nobody"), None, &[]),
            (None, Some(JobStatus::Complete), &[]),
        ] {
            for limit in [1, 2, 10] {
                assert_eq!(
                    list_all(jobs, &filter(tag, status), limit).await,
                    expected,
                    "{tag:?} {status:?}, limit {limit}"
                );
            }
        }
    }

    // ---- ObjectStore ----

    /// Objects `range` of a bucket, with keys that need encoding.
    pub fn objects(bucket: &str, range: std::ops::Range<usize>) -> Vec<ObjectId> {
        range
            .map(|i| ObjectId::new(bucket, format!("photos/2024/img {i:04}.raw"), None).unwrap())
            .collect()
    }

    /// A mark of each object for `job_id`.
    pub fn marks(objects: &[ObjectId], job_id: &str) -> Vec<Mark> {
        objects
            .iter()
            .map(|o| Mark {
                object: o.clone(),
                job_id: job_id.to_owned(),
            })
            .collect()
    }

    async fn register(
        store: &impl ObjectStore,
        job_id: &str,
        objects: &[ObjectId],
        piece: &str,
    ) -> u64 {
        store
            .register(job_id, objects, EXPIRES, piece)
            .await
            .unwrap()
    }

    /// A job's requested rows, every page of `limit` of them.
    async fn all_pending(store: &impl ObjectStore, job_id: &str, limit: usize) -> Vec<ObjectId> {
        let mut seen = Vec::new();
        let mut after: Option<String> = None;
        for _ in 0..100 {
            let page = store
                .pending(job_id, after.as_deref(), limit)
                .await
                .unwrap();
            assert!(page.items.len() <= limit, "{} > {limit}", page.items.len());
            seen.extend(page.items);
            match page.next {
                Some(next) => after = Some(next),
                None => return seen,
            }
        }
        panic!("pending does not end");
    }

    fn by_digest(mut objects: Vec<ObjectId>) -> Vec<ObjectId> {
        objects.sort_by_key(ObjectId::digest);
        objects
    }

    fn set(marks: &[Mark]) -> HashSet<Mark> {
        marks.iter().cloned().collect()
    }

    async fn tally(store: &impl JobStore, job_id: &str) -> (u64, u64) {
        let Tally { restored, excluded } = store.tally(job_id).await.unwrap();
        (restored, excluded)
    }

    pub async fn register_counts_each_distinct_object_once_however_often_a_piece_is_retried(
        store: &(impl JobStore + ObjectStore),
    ) {
        // More than one write batch, with repeats within the call.
        let mut objs = objects("data-1", 0..150);
        objs.extend(objects("data-1", 10..20));
        objs.push(ObjectId::new("data-1", "versioned", Some("v1|x".into())).unwrap());
        assert_eq!(register(store, "job-1", &objs, "bytes-0").await, 151);
        assert_eq!(
            register(store, "job-1", &objs, "bytes-0").await,
            151,
            "a retry of the piece"
        );
        // Another piece naming the same objects (repeats later in the manifest):
        // nothing new, and its rows are left alone.
        store
            .mark(&marks(&objs[..1], "job-1"), ObjectState::Restored, NOW)
            .await
            .unwrap();
        assert_eq!(register(store, "job-1", &objs[..30], "bytes-900").await, 0);
        assert!(store.waiting_jobs(&objs[0]).await.unwrap().is_empty());
        let mut more = objects("data-1", 145..155);
        more.extend(objects("data-1", 0..3));
        assert_eq!(register(store, "job-1", &more, "bytes-1800").await, 5);
        assert_eq!(register(store, "job-1", &more, "bytes-1800").await, 5);
        assert_eq!(
            all_pending(store, "job-1", 1000).await.len(),
            155,
            "the 156 objects but the one restored"
        );
        // Rows are per job.
        assert_eq!(register(store, "job-2", &objs[..1], "bytes-0").await, 1);
        assert_eq!(register(store, "job-2", &[], "bytes-100").await, 0);
    }

    pub async fn waiting_jobs_lists_the_jobs_still_requesting_an_object(
        store: &(impl JobStore + ObjectStore),
    ) {
        let objs = objects("data-3", 0..3);
        register(store, "job-2", &objs, "bytes-0").await;
        register(store, "job-1", &objs[..1], "bytes-0").await;
        let mut jobs = store.waiting_jobs(&objs[0]).await.unwrap();
        jobs.sort();
        assert_eq!(jobs, ["job-1", "job-2"]);
        assert_eq!(store.waiting_jobs(&objs[1]).await.unwrap(), ["job-2"]);
        store
            .mark(&marks(&objs[..1], "job-2"), ObjectState::Restored, NOW)
            .await
            .unwrap();
        assert_eq!(store.waiting_jobs(&objs[0]).await.unwrap(), ["job-1"]);
        // The exact id: another version of the key, or another key, is another object.
        let version = ObjectId::new("data-3", objs[1].key(), Some("v2".into())).unwrap();
        assert!(store.waiting_jobs(&version).await.unwrap().is_empty());
        let other = &objects("data-3", 9..10)[0];
        assert!(store.waiting_jobs(other).await.unwrap().is_empty());
    }

    pub async fn marking_moves_requested_rows_and_counts_each_once(
        store: &(impl JobStore + ObjectStore),
    ) {
        // More than one transaction's worth.
        let objs = objects("data-4", 0..150);
        register(store, "job-1", &objs, "bytes-0").await;
        let all = marks(&objs, "job-1");
        let report = store.mark(&all, ObjectState::Restored, NOW).await.unwrap();
        assert_eq!(set(&report.changed), set(&all));
        assert_eq!(report.changed.len(), 150);
        assert!(report.unchanged.is_empty());
        assert_eq!(tally(store, "job-1").await, (150, 0));
        assert!(all_pending(store, "job-1", 1000).await.is_empty());
        assert!(store.waiting_jobs(&objs[7]).await.unwrap().is_empty());
    }

    pub async fn marking_a_row_again_changes_and_counts_nothing(
        store: &(impl JobStore + ObjectStore),
    ) {
        let objs = objects("data-5", 0..100);
        register(store, "job-1", &objs, "bytes-0").await;
        // 20 objects were restored by an earlier delivery; then all 100 come.
        let first = store
            .mark(&marks(&objs[..20], "job-1"), ObjectState::Restored, NOW)
            .await
            .unwrap();
        assert_eq!(first.changed.len(), 20);
        let report = store
            .mark(&marks(&objs, "job-1"), ObjectState::Restored, NOW)
            .await
            .unwrap();
        assert_eq!(set(&report.changed), set(&marks(&objs[20..], "job-1")));
        assert_eq!(set(&report.unchanged), set(&marks(&objs[..20], "job-1")));
        assert_eq!(
            report.changed.len() + report.unchanged.len(),
            100,
            "every mark is reported once"
        );
        assert_eq!(tally(store, "job-1").await, (100, 0));

        // The same mark twice in one call: the second is a duplicate.
        let extra = objects("data-5", 100..101);
        register(store, "job-1", &extra, "bytes-99").await;
        let twice = [marks(&extra, "job-1"), marks(&extra, "job-1")].concat();
        let report = store
            .mark(&twice, ObjectState::Restored, NOW)
            .await
            .unwrap();
        assert_eq!((report.changed.len(), report.unchanged.len()), (1, 1));
        assert_eq!(tally(store, "job-1").await, (101, 0));

        // A restored row is never excluded later, nor an excluded one restored.
        let report = store
            .mark(&marks(&objs[..5], "job-1"), ObjectState::Excluded, NOW)
            .await
            .unwrap();
        assert_eq!((report.changed.len(), report.unchanged.len()), (0, 5));
        let last = objects("data-5", 101..102);
        register(store, "job-1", &last, "bytes-199").await;
        store
            .mark(&marks(&last, "job-1"), ObjectState::Excluded, NOW)
            .await
            .unwrap();
        let report = store
            .mark(&marks(&last, "job-1"), ObjectState::Restored, NOW)
            .await
            .unwrap();
        assert_eq!((report.changed.len(), report.unchanged.len()), (0, 1));
        assert_eq!(tally(store, "job-1").await, (101, 1));
    }

    pub async fn marking_an_object_no_job_registered_creates_nothing(
        store: &(impl JobStore + ObjectStore),
    ) {
        let objs = objects("data-6", 0..2);
        register(store, "job-1", &objs[..1], "bytes-0").await;
        let stranger = Mark {
            object: objs[1].clone(),
            job_id: "job-1".into(),
        };
        let other_job = Mark {
            object: objs[0].clone(),
            job_id: "job-nobody".into(),
        };
        let report = store
            .mark(
                &[stranger.clone(), other_job.clone()],
                ObjectState::Restored,
                NOW,
            )
            .await
            .unwrap();
        assert!(report.changed.is_empty());
        assert_eq!(set(&report.unchanged), set(&[stranger, other_job]));
        assert_eq!(tally(store, "job-1").await, (0, 0));
        assert_eq!(tally(store, "job-nobody").await, (0, 0));
        // No row was created in passing: the registered one still waits, alone.
        assert!(store.waiting_jobs(&objs[1]).await.unwrap().is_empty());
        assert_eq!(store.waiting_jobs(&objs[0]).await.unwrap(), ["job-1"]);
        assert!(all_pending(store, "job-nobody", 10).await.is_empty());
    }

    pub async fn marks_count_per_job_and_per_state(store: &(impl JobStore + ObjectStore)) {
        let objs = objects("data-7", 0..150);
        register(store, "job-1", &objs, "bytes-0").await;
        register(store, "job-2", &objs[..50], "bytes-0").await;
        let mut excluded = marks(&objs[..100], "job-1");
        excluded.extend(marks(&objs[..20], "job-2"));
        let report = store
            .mark(&excluded, ObjectState::Excluded, NOW)
            .await
            .unwrap();
        assert_eq!(report.changed.len(), 120);
        let mut restored = marks(&objs[100..], "job-1");
        restored.extend(marks(&objs[20..50], "job-2"));
        let report = store
            .mark(&restored, ObjectState::Restored, NOW)
            .await
            .unwrap();
        assert_eq!(report.changed.len(), 80);
        assert_eq!(tally(store, "job-1").await, (50, 100));
        assert_eq!(tally(store, "job-2").await, (30, 20));
    }

    pub async fn pending_pages_through_requested_rows_in_digest_order(
        store: &(impl JobStore + ObjectStore),
    ) {
        let objs = objects("data-2", 0..37);
        register(store, "job-1", &objs, "bytes-0").await;
        register(store, "job-2", &objs[..5], "bytes-0").await;
        let done: Vec<ObjectId> = objs.iter().step_by(4).cloned().collect();
        store
            .mark(&marks(&done, "job-1"), ObjectState::Restored, NOW)
            .await
            .unwrap();
        let expected = by_digest(objs.iter().filter(|o| !done.contains(o)).cloned().collect());
        assert_eq!(expected.len(), 27);
        for limit in [1, 7, 27, 100] {
            assert_eq!(
                all_pending(store, "job-1", limit).await,
                expected,
                "limit {limit}"
            );
        }
        // A cursor is the digest of the row to resume after.
        let page = store
            .pending("job-1", Some(&expected[4].digest()), 3)
            .await
            .unwrap();
        assert_eq!(page.items, expected[5..8]);
        assert_eq!(
            all_pending(store, "job-2", 2).await,
            by_digest(objs[..5].to_vec())
        );
        assert!(all_pending(store, "job-none", 10).await.is_empty());
    }
}

/// Defines one `#[tokio::test]` per [`contract`] test, each on a fresh store that
/// `$store` makes (an expression, evaluated in the async test, so it may `.await`). A
/// store's test suite calls it once, in a module of its own; it needs `tokio`.
#[macro_export]
macro_rules! store_contract_tests {
    ($store:expr) => {
        $crate::store_contract_tests!(@each $store;
            create_stores_a_job_once_and_answers_the_first,
            update_sets_the_patched_fields_and_leaves_the_others,
            progress_claims_never_go_down_and_stop_at_a_terminal_claim,
            a_first_terminal_claim_sets_the_status_and_any_reason,
            a_terminal_claim_has_one_holder_until_its_lease_runs_out,
            a_published_terminal_event_is_done_for_every_caller,
            of_concurrent_claimers_exactly_one_holds_the_claim,
            listing_is_newest_first_and_resumes_after_a_page_token,
            listing_filters_by_client_tag_and_status,
            register_counts_each_distinct_object_once_however_often_a_piece_is_retried,
            waiting_jobs_lists_the_jobs_still_requesting_an_object,
            marking_moves_requested_rows_and_counts_each_once,
            marking_a_row_again_changes_and_counts_nothing,
            marking_an_object_no_job_registered_creates_nothing,
            marks_count_per_job_and_per_state,
            pending_pages_through_requested_rows_in_digest_order,
        );
    };
    (@each $store:expr; $($test:ident,)+) => {
        $(
            #[tokio::test]
            async fn $test() {
                $crate::fakes::contract::$test(&$store).await;
            }
        )+
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    mod contract {
        crate::store_contract_tests!(super::MemoryStore::new());
    }

    #[test]
    #[should_panic(expected = "Publish is not an operation of")]
    fn a_fault_for_an_operation_the_fake_does_not_serve_is_refused() {
        MemoryStore::new()
            .faults
            .fail_next(Op::Publish, PortError::Retryable("never".into()));
    }

    #[tokio::test]
    async fn a_fault_fails_only_the_next_call_of_its_operation() {
        let source = MemorySource::new();
        source.put("b", "k", "body");
        source
            .faults
            .fail_next(Op::SourceReadRange, PortError::Retryable("slow".into()));
        assert!(source.head("b", "k").await.is_ok());
        assert_eq!(
            source.read_range("b", "k", None, 0, 4).await,
            Err(PortError::Retryable("slow".into()))
        );
        assert_eq!(
            source.read_range("b", "k", None, 0, 4).await.unwrap(),
            b"body"
        );
    }
}
