//! In-memory fakes of every port, for unit tests (feature `fakes`).
//!
//! They keep the semantics the adapters promise (conditional writes, idempotent
//! starts, ETag checks) so task code is tested against the contract, and each can be
//! told to fail its next calls to test retries.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use jiff::Timestamp;
use serde_json::Value;

use crate::event::BulkEvent;
use crate::job::{ClaimStep, JobPatch, JobRecord, TerminalRequest};
use crate::listing::{ListCursor, newest_first};
use crate::object_id::ObjectId;
use crate::ports::*;
use crate::status::BatchJobStatus;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Errors queued for the next calls of named operations.
#[derive(Default)]
pub struct Faults(Mutex<HashMap<&'static str, VecDeque<PortError>>>);

impl Faults {
    /// The next call of `operation` fails with `error` (queue several for several calls).
    pub fn fail_next(&self, operation: &'static str, error: PortError) {
        lock(&self.0).entry(operation).or_default().push_back(error);
    }

    fn check(&self, operation: &'static str) -> PortResult<()> {
        match lock(&self.0)
            .get_mut(operation)
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
    pub faults: Faults,
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
        self.faults.check("create")?;
        let mut jobs = lock(&self.jobs);
        if let Some(existing) = jobs.get(&job.job_id) {
            return Ok(Created::Existing(Box::new(existing.clone())));
        }
        jobs.insert(job.job_id.clone(), job.clone());
        Ok(Created::New)
    }

    async fn get(&self, job_id: &str) -> PortResult<Option<JobRecord>> {
        self.faults.check("get")?;
        Ok(self.job(job_id))
    }

    async fn update(&self, job_id: &str, patch: &JobPatch, now: Timestamp) -> PortResult<()> {
        self.faults.check("update")?;
        let mut jobs = lock(&self.jobs);
        let job = jobs
            .get_mut(job_id)
            .ok_or_else(|| PortError::NotFound(format!("job {job_id}")))?;
        patch.apply(job, now);
        Ok(())
    }

    async fn tally(&self, job_id: &str) -> PortResult<Tally> {
        self.faults.check("tally")?;
        Ok(lock(&self.tallies).get(job_id).copied().unwrap_or_default())
    }

    async fn claim_progress(&self, job_id: &str, percent: u8, now: Timestamp) -> PortResult<bool> {
        self.faults.check("claim_progress")?;
        let mut jobs = lock(&self.jobs);
        let job = jobs
            .get_mut(job_id)
            .ok_or_else(|| PortError::NotFound(format!("job {job_id}")))?;
        if job.last_percent_notified >= percent || job.terminal.is_some() {
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
        self.faults.check("claim_terminal")?;
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
        self.faults.check("mark_terminal_published")?;
        let mut jobs = lock(&self.jobs);
        let job = jobs
            .get_mut(job_id)
            .ok_or_else(|| PortError::NotFound(format!("job {job_id}")))?;
        if let Some(t) = &mut job.terminal {
            t.published = true;
        }
        job.updated_at = now;
        Ok(())
    }

    async fn list(
        &self,
        filter: &JobFilter,
        after: Option<&str>,
        limit: usize,
    ) -> PortResult<Page<JobRecord>> {
        self.faults.check("list")?;
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
        self.faults.check("register")?;
        let mut rows = lock(&self.objects);
        let mut new = 0;
        for o in objects {
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
        self.faults.check("waiting_jobs")?;
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
        self.faults.check("mark")?;
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
        self.faults.check("pending")?;
        let rows = lock(&self.objects);
        let mut items: Vec<(String, ObjectId)> = rows
            .iter()
            .filter(|((o, j), row)| {
                j == job_id
                    && row.state == ObjectState::Requested
                    && after.is_none_or(|a| o.as_str() > a)
            })
            .map(|((o, _), row)| (o.clone(), row.object.clone()))
            .take(limit + 1)
            .collect();
        let next = if items.len() > limit {
            items.truncate(limit);
            items.last().map(|(o, _)| o.clone())
        } else {
            None
        };
        Ok(Page {
            items: items.into_iter().map(|(_, id)| id).collect(),
            next,
        })
    }
}

/// (bucket, key) -> (ETag, body).
type Objects = HashMap<(String, String), (String, Vec<u8>)>;

/// S3 objects held in memory; the ETag changes on every put.
#[derive(Default)]
pub struct MemorySource {
    objects: Mutex<Objects>,
    puts: Mutex<u64>,
    /// Every range read, as (key, start, len), to check that reads stay bounded.
    pub reads: Mutex<Vec<(String, u64, u64)>>,
    pub faults: Faults,
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
}

#[async_trait]
impl ObjectSource for MemorySource {
    async fn head(&self, bucket: &str, key: &str) -> PortResult<ObjectMeta> {
        self.faults.check("head")?;
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
        self.faults.check("read_range")?;
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
}

/// HeadObject answers, `Archived` unless set.
#[derive(Default)]
pub struct FakeInspector {
    states: Mutex<HashMap<ObjectId, ArchiveState>>,
    pub faults: Faults,
}

impl FakeInspector {
    pub fn set(&self, object: &ObjectId, state: ArchiveState) {
        lock(&self.states).insert(object.clone(), state);
    }
}

#[async_trait]
impl ObjectInspector for FakeInspector {
    async fn inspect(&self, object: &ObjectId) -> PortResult<ArchiveState> {
        self.faults.check("inspect")?;
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
    pub faults: Faults,
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
        self.faults.check("create_job")?;
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
                },
            );
        }
        Ok(id)
    }

    async fn describe_job(&self, batch_job_id: &str) -> PortResult<BatchJobInfo> {
        self.faults.check("describe_job")?;
        lock(&self.jobs)
            .get(batch_job_id)
            .cloned()
            .ok_or_else(|| PortError::NotFound(format!("batch job {batch_job_id}")))
    }

    async fn cancel_job(&self, batch_job_id: &str) -> PortResult<()> {
        self.faults.check("cancel_job")?;
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
    pub faults: Faults,
}

impl RecordingNotifier {
    pub fn events(&self) -> Vec<BulkEvent> {
        lock(&self.events).clone()
    }
}

#[async_trait]
impl Notifier for RecordingNotifier {
    async fn publish(&self, event: &BulkEvent) -> PortResult<()> {
        self.faults.check("publish")?;
        lock(&self.events).push(event.clone());
        Ok(())
    }
}

/// Step Functions: executions by name, idempotent for the same input.
#[derive(Default)]
pub struct FakeExecutions {
    pub started: Mutex<BTreeMap<String, (Value, String)>>,
    pub stopped: Mutex<Vec<String>>,
    pub faults: Faults,
}

#[async_trait]
impl Executions for FakeExecutions {
    async fn start(&self, name: &str, input: &Value) -> PortResult<String> {
        self.faults.check("start")?;
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

    async fn describe(&self, arn: &str) -> PortResult<ExecutionInfo> {
        self.faults.check("describe")?;
        let stopped = lock(&self.stopped).contains(&arn.to_owned());
        let known = lock(&self.started).values().any(|(_, a)| a == arn);
        if !known {
            return Err(PortError::NotFound(format!("execution {arn}")));
        }
        Ok(ExecutionInfo {
            arn: arn.to_owned(),
            status: if stopped { "ABORTED" } else { "RUNNING" }.into(),
        })
    }

    async fn stop(&self, arn: &str, _error: &str, _cause: &str) -> PortResult<()> {
        self.faults.check("stop")?;
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
