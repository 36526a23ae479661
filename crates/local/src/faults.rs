//! Faults injected into the local stack, as AWS causes them.
//!
//! - **Calls to a service** (DynamoDB, S3, S3 Control, SNS, Step Functions) fail at a
//!   share `rate` of their attempts: throttling and a 500 before the request takes
//!   effect, a timeout after it did (the answer is lost, the change is made). Each port
//!   retries an attempt as the AWS SDK's standard retry mode does (3 attempts), so a
//!   call fails only when all of its attempts do, and a timed-out attempt that is tried
//!   again makes its change twice, as a real retry would.
//! - **Task invocations** are cut off at `rate` after their side effects and before
//!   they return, which is what a Lambda timeout does; Step Functions sees
//!   `Lambda.Unknown` and retries or catches it as the definition says.
//! - **The restore-event function** is cut off at `rate` after its writes and before
//!   the event source deletes the batch's messages, which SQS then delivers again.
//!
//! Every fault's message says "injected", so an outcome can be traced to one. Every
//! fault is counted ([`FaultCounts`]).

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use gbr_core::event::BulkEvent;
use gbr_core::filter::ListedObject;
use gbr_core::job::{JobPatch, JobRecord, TerminalRequest};
use gbr_core::object_id::ObjectId;
use gbr_core::ports::{
    ArchiveState, BatchJobInfo, BatchJobSpec, BatchOperations, Created, Executions, JobFilter,
    JobStore, Mark, MarkReport, Notifier, ObjectInspector, ObjectMeta, ObjectSource, ObjectState,
    ObjectStore, Page, PortError, PortResult, Ports, Tally, TerminalClaim, UploadedPart,
};
use jiff::Timestamp;
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};
use serde_json::Value;

/// Attempts of one call, as the AWS SDK's standard retry mode makes them.
pub const SDK_ATTEMPTS: u32 = 3;

/// How a fault shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FaultKind {
    /// `ThrottlingException` and the like, before the request takes effect.
    Throttling,
    /// A 500, before the request takes effect.
    ServerError,
    /// No answer in time, after the request took effect.
    Timeout,
    /// A task invocation ended by its timeout after its side effects.
    TaskCutOff,
    /// The restore-event function ended after its writes, before SQS deleted the batch.
    RestoreBatchRedelivered,
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FaultKind::Throttling => "throttling",
            FaultKind::ServerError => "500",
            FaultKind::Timeout => "timeout after the change",
            FaultKind::TaskCutOff => "task cut off after its effects",
            FaultKind::RestoreBatchRedelivered => "restore-event batch delivered again",
        })
    }
}

/// Which service a port stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Service {
    DynamoDb,
    S3,
    S3Control,
    Sns,
    StepFunctions,
    Lambda,
    Sqs,
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Service::DynamoDb => "DynamoDB",
            Service::S3 => "S3",
            Service::S3Control => "S3 Control",
            Service::Sns => "SNS",
            Service::StepFunctions => "Step Functions",
            Service::Lambda => "Lambda",
            Service::Sqs => "SQS",
        })
    }
}

/// What was injected, by service and kind, and how many calls failed for good.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FaultCounts {
    pub injected: BTreeMap<(Service, FaultKind), u64>,
    /// Calls whose every attempt failed: the caller saw a retryable error.
    pub calls_failed: u64,
    /// Attempts made again after a fault.
    pub retries: u64,
}

impl FaultCounts {
    pub fn total(&self) -> u64 {
        self.injected.values().sum()
    }

    pub fn add(&mut self, other: &FaultCounts) {
        for (key, n) in &other.injected {
            *self.injected.entry(*key).or_default() += n;
        }
        self.calls_failed += other.calls_failed;
        self.retries += other.retries;
    }
}

impl fmt::Display for FaultCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} faults injected ({} attempts retried, {} calls failed after {SDK_ATTEMPTS} attempts)",
            self.total(),
            self.retries,
            self.calls_failed
        )?;
        for ((service, kind), n) in &self.injected {
            write!(f, "\n  {service}: {kind}: {n}")?;
        }
        Ok(())
    }
}

/// Where faults come from: a share `rate` of the chances, drawn from one generator
/// seeded by `seed`.
pub struct FaultInjector {
    rate: f64,
    rng: Mutex<ChaCha8Rng>,
    counts: Mutex<FaultCounts>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl FaultInjector {
    pub fn new(rate: f64, seed: u64) -> Arc<Self> {
        Arc::new(Self {
            rate: if rate.is_nan() {
                0.0
            } else {
                rate.clamp(0.0, 1.0)
            },
            rng: Mutex::new(ChaCha8Rng::seed_from_u64(seed)),
            counts: Mutex::default(),
        })
    }

    pub fn rate(&self) -> f64 {
        self.rate
    }

    pub fn counts(&self) -> FaultCounts {
        lock(&self.counts).clone()
    }

    fn strikes(&self) -> bool {
        self.rate > 0.0 && lock(&self.rng).random::<f64>() < self.rate
    }

    fn count(&self, service: Service, kind: FaultKind) {
        *lock(&self.counts)
            .injected
            .entry((service, kind))
            .or_default() += 1;
    }

    /// Whether this invocation of a task is cut off after its effects.
    pub fn cut_off_task(&self) -> bool {
        let cut = self.strikes();
        if cut {
            self.count(Service::Lambda, FaultKind::TaskCutOff);
        }
        cut
    }

    /// Whether the restore-event function ends before its batch is deleted.
    pub fn redeliver_batch(&self) -> bool {
        let cut = self.strikes();
        if cut {
            self.count(Service::Sqs, FaultKind::RestoreBatchRedelivered);
        }
        cut
    }

    /// One call to `service`, in up to [`SDK_ATTEMPTS`] attempts.
    async fn call<T, F, Fut>(&self, service: Service, attempt: F) -> PortResult<T>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = PortResult<T>>,
    {
        let mut last = None;
        for n in 0..SDK_ATTEMPTS {
            if n > 0 {
                lock(&self.counts).retries += 1;
            }
            let kind = if self.strikes() {
                let kinds = [
                    FaultKind::Throttling,
                    FaultKind::ServerError,
                    FaultKind::Timeout,
                ];
                Some(kinds[lock(&self.rng).random_range(0..kinds.len())])
            } else {
                None
            };
            match kind {
                None => return attempt().await,
                Some(kind) => {
                    if kind == FaultKind::Timeout {
                        // The request arrived and took effect; its answer did not.
                        let _ = attempt().await;
                    }
                    self.count(service, kind);
                    last = Some(kind);
                }
            }
        }
        lock(&self.counts).calls_failed += 1;
        let kind = last.map_or_else(String::new, |k| k.to_string());
        Err(PortError::Retryable(format!(
            "{service}: injected fault ({kind}), {SDK_ATTEMPTS} attempts"
        )))
    }

    /// `ports` with every call to a service subject to faults; the clock is left alone.
    pub fn wrap(self: &Arc<Self>, ports: &Ports) -> Ports {
        let store = Arc::new(Faulty {
            faults: Arc::clone(self),
            inner: (Arc::clone(&ports.jobs), Arc::clone(&ports.objects)),
        });
        Ports {
            jobs: store.clone(),
            objects: store,
            source: Arc::new(Faulty {
                faults: Arc::clone(self),
                inner: (Arc::clone(&ports.source), Arc::clone(&ports.inspector)),
            }),
            inspector: Arc::new(Faulty {
                faults: Arc::clone(self),
                inner: (Arc::clone(&ports.source), Arc::clone(&ports.inspector)),
            }),
            batch: Arc::new(Faulty {
                faults: Arc::clone(self),
                inner: Arc::clone(&ports.batch),
            }),
            notifier: Arc::new(Faulty {
                faults: Arc::clone(self),
                inner: Arc::clone(&ports.notifier),
            }),
            executions: Arc::new(Faulty {
                faults: Arc::clone(self),
                inner: Arc::clone(&ports.executions),
            }),
            clock: Arc::clone(&ports.clock),
        }
    }
}

/// A port whose calls go through a [`FaultInjector`].
struct Faulty<P> {
    faults: Arc<FaultInjector>,
    inner: P,
}

type Stores = (Arc<dyn JobStore>, Arc<dyn ObjectStore>);
type S3Ports = (Arc<dyn ObjectSource>, Arc<dyn ObjectInspector>);

#[async_trait]
impl JobStore for Faulty<Stores> {
    async fn create(&self, job: &JobRecord) -> PortResult<Created> {
        let jobs = &self.inner.0;
        self.faults
            .call(Service::DynamoDb, || jobs.create(job))
            .await
    }
    async fn get(&self, job_id: &str) -> PortResult<Option<JobRecord>> {
        let jobs = &self.inner.0;
        self.faults
            .call(Service::DynamoDb, || jobs.get(job_id))
            .await
    }
    async fn update(&self, job_id: &str, patch: &JobPatch, now: Timestamp) -> PortResult<()> {
        let jobs = &self.inner.0;
        self.faults
            .call(Service::DynamoDb, || jobs.update(job_id, patch, now))
            .await
    }
    async fn tally(&self, job_id: &str) -> PortResult<Tally> {
        let jobs = &self.inner.0;
        self.faults
            .call(Service::DynamoDb, || jobs.tally(job_id))
            .await
    }
    async fn claim_progress(&self, job_id: &str, percent: u8, now: Timestamp) -> PortResult<bool> {
        let jobs = &self.inner.0;
        self.faults
            .call(Service::DynamoDb, || {
                jobs.claim_progress(job_id, percent, now)
            })
            .await
    }
    async fn claim_terminal(
        &self,
        job_id: &str,
        request: &TerminalRequest<'_>,
        now: Timestamp,
    ) -> PortResult<TerminalClaim> {
        let jobs = &self.inner.0;
        self.faults
            .call(Service::DynamoDb, || {
                jobs.claim_terminal(job_id, request, now)
            })
            .await
    }
    async fn mark_terminal_published(&self, job_id: &str, now: Timestamp) -> PortResult<()> {
        let jobs = &self.inner.0;
        self.faults
            .call(Service::DynamoDb, || {
                jobs.mark_terminal_published(job_id, now)
            })
            .await
    }
    async fn list(
        &self,
        filter: &JobFilter,
        after: Option<&str>,
        limit: usize,
    ) -> PortResult<Page<JobRecord>> {
        let jobs = &self.inner.0;
        self.faults
            .call(Service::DynamoDb, || jobs.list(filter, after, limit))
            .await
    }
}

#[async_trait]
impl ObjectStore for Faulty<Stores> {
    async fn register(
        &self,
        job_id: &str,
        objects: &[ObjectId],
        expires_at: Timestamp,
        piece: &str,
    ) -> PortResult<u64> {
        let store = &self.inner.1;
        self.faults
            .call(Service::DynamoDb, || {
                store.register(job_id, objects, expires_at, piece)
            })
            .await
    }
    async fn waiting_jobs(&self, object: &ObjectId) -> PortResult<Vec<String>> {
        let store = &self.inner.1;
        self.faults
            .call(Service::DynamoDb, || store.waiting_jobs(object))
            .await
    }
    async fn mark(
        &self,
        marks: &[Mark],
        to: ObjectState,
        now: Timestamp,
    ) -> PortResult<MarkReport> {
        let store = &self.inner.1;
        self.faults
            .call(Service::DynamoDb, || store.mark(marks, to, now))
            .await
    }
    async fn pending(
        &self,
        job_id: &str,
        after: Option<&str>,
        limit: usize,
    ) -> PortResult<Page<ObjectId>> {
        let store = &self.inner.1;
        self.faults
            .call(Service::DynamoDb, || store.pending(job_id, after, limit))
            .await
    }
}

#[async_trait]
impl ObjectSource for Faulty<S3Ports> {
    async fn head(&self, bucket: &str, key: &str) -> PortResult<ObjectMeta> {
        let source = &self.inner.0;
        self.faults
            .call(Service::S3, || source.head(bucket, key))
            .await
    }
    async fn read_range(
        &self,
        bucket: &str,
        key: &str,
        etag: Option<&str>,
        start: u64,
        len: u64,
    ) -> PortResult<Vec<u8>> {
        let source = &self.inner.0;
        self.faults
            .call(Service::S3, || {
                source.read_range(bucket, key, etag, start, len)
            })
            .await
    }

    async fn start_upload(&self, bucket: &str, key: &str) -> PortResult<String> {
        let source = &self.inner.0;
        self.faults
            .call(Service::S3, || source.start_upload(bucket, key))
            .await
    }
    async fn upload_part(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        number: u32,
        body: Vec<u8>,
    ) -> PortResult<String> {
        let source = &self.inner.0;
        self.faults
            .call(Service::S3, || {
                source.upload_part(bucket, key, upload_id, number, body.clone())
            })
            .await
    }
    async fn complete_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        parts: &[UploadedPart],
    ) -> PortResult<String> {
        let source = &self.inner.0;
        self.faults
            .call(Service::S3, || {
                source.complete_upload(bucket, key, upload_id, parts)
            })
            .await
    }
    async fn list_page(
        &self,
        bucket: &str,
        prefix: &str,
        after: Option<&str>,
    ) -> PortResult<Page<ListedObject>> {
        let source = &self.inner.0;
        self.faults
            .call(Service::S3, || source.list_page(bucket, prefix, after))
            .await
    }
}

#[async_trait]
impl ObjectInspector for Faulty<S3Ports> {
    async fn inspect(&self, object: &ObjectId) -> PortResult<ArchiveState> {
        let inspector = &self.inner.1;
        self.faults
            .call(Service::S3, || inspector.inspect(object))
            .await
    }
}

#[async_trait]
impl BatchOperations for Faulty<Arc<dyn BatchOperations>> {
    async fn create_job(&self, spec: &BatchJobSpec) -> PortResult<String> {
        self.faults
            .call(Service::S3Control, || self.inner.create_job(spec))
            .await
    }
    async fn describe_job(&self, batch_job_id: &str) -> PortResult<BatchJobInfo> {
        self.faults
            .call(Service::S3Control, || self.inner.describe_job(batch_job_id))
            .await
    }
    async fn confirm_job(&self, batch_job_id: &str) -> PortResult<()> {
        self.faults
            .call(Service::S3Control, || self.inner.confirm_job(batch_job_id))
            .await
    }
    async fn cancel_job(&self, batch_job_id: &str) -> PortResult<()> {
        self.faults
            .call(Service::S3Control, || self.inner.cancel_job(batch_job_id))
            .await
    }
}

#[async_trait]
impl Notifier for Faulty<Arc<dyn Notifier>> {
    async fn publish(&self, event: &BulkEvent) -> PortResult<()> {
        self.faults
            .call(Service::Sns, || self.inner.publish(event))
            .await
    }
}

#[async_trait]
impl Executions for Faulty<Arc<dyn Executions>> {
    async fn start(&self, name: &str, input: &Value) -> PortResult<String> {
        self.faults
            .call(Service::StepFunctions, || self.inner.start(name, input))
            .await
    }
    async fn stop(&self, arn: &str, error: &str, cause: &str) -> PortResult<()> {
        self.faults
            .call(Service::StepFunctions, || {
                self.inner.stop(arn, error, cause)
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[tokio::test]
    async fn a_call_fails_only_when_all_its_attempts_do_and_a_timeout_takes_effect() {
        let faults = FaultInjector::new(1.0, 7);
        let effects = AtomicU32::new(0);
        let result: PortResult<()> = faults
            .call(Service::Sns, || async {
                effects.fetch_add(1, Ordering::SeqCst);
                Ok(())
            })
            .await;
        let err = result.unwrap_err();
        assert!(err.to_string().contains("injected"), "{err}");
        let counts = faults.counts();
        assert_eq!(counts.total(), u64::from(SDK_ATTEMPTS));
        assert_eq!((counts.calls_failed, counts.retries), (1, 2));
        // Only timed-out attempts reached the service.
        let timeouts = counts
            .injected
            .get(&(Service::Sns, FaultKind::Timeout))
            .copied()
            .unwrap_or(0);
        assert_eq!(u64::from(effects.load(Ordering::SeqCst)), timeouts);
    }

    #[tokio::test]
    async fn no_rate_no_faults_and_the_same_seed_the_same_faults() {
        let none = FaultInjector::new(0.0, 1);
        for _ in 0..100 {
            assert!(!none.cut_off_task());
        }
        assert_eq!(none.counts(), FaultCounts::default());
        let draws = |seed| {
            let f = FaultInjector::new(0.3, seed);
            (0..200).map(|_| f.cut_off_task()).collect::<Vec<_>>()
        };
        assert_eq!(draws(5), draws(5));
        let hits = draws(5).iter().filter(|c| **c).count();
        assert!((30..=90).contains(&hits), "{hits} of 200 at 30 %");
    }
}
