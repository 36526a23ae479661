//! The S3 Batch Operations and Glacier simulator: the one simulated part of the local
//! stack, behind the core's [`BatchOperations`] port.
//!
//! Everything it touches is real moto: it reads the manifest from moto's S3 (GetObject
//! with If-Match on the job's ETag), asks HeadObject what each object is, answers each
//! task as S3's RestoreObject would (200 already restored, 202 started, 403 not in an
//! archive class, 404 missing, 409 already being restored), writes the completion
//! report to moto's S3 as AWS writes one, and at each restore's instant sends
//! RestoreObject to moto (so HeadObject answers truthfully from then on) and posts the
//! restore's event to the restore-events queue in production's shape
//! ([`RestoreEvents`]; moto has no EventBridge delivery of S3 events).
//! What moto cannot know — that a restore takes hours, that one is under way — is kept
//! in [`glacier`]. It can also duplicate, reorder, delay or drop events and fail or
//! cancel the batch job on request ([`SimOptions`]).
//!
//! Time is the local engine's [`Clock`]: under [`VirtualClock`](crate::VirtualClock) a
//! 48-hour job runs in as long as its requests to moto take, and the same seed gives
//! the same run.

mod batch_job;
mod draws;
pub(crate) mod glacier;
mod report;
pub(crate) mod requests;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use gbr_core::object_id::ObjectId;
use gbr_core::ports::{BatchJobInfo, BatchJobSpec, BatchOperations, PortError, PortResult};
use jiff::{SignedDuration, Timestamp};
use thiserror::Error;

use self::batch_job::{CancelAnswer, JobHandle, Milestone};
use self::glacier::GlacierModel;
use crate::engine::clock::{SimClock, add};
use crate::objects::DataObjects;
use crate::queue::RestoreQueue;

pub use self::batch_job::{RestoreKind, RestoreOutcome, RestoreRecord, StatusChange};
pub use self::glacier::restore_window;
pub use self::requests::RequestError;
pub use gbr_core::restore_event::encode::EventBridgeKeys;

/// How the batch job ends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum BatchOutcome {
    #[default]
    Complete,
    /// Failing, then Failed, after about half of its tasks (their restores still
    /// happen and the report lists them).
    Failed,
    /// Cancelling, then Cancelled, after about half of its tasks.
    Cancelled,
}

/// How restore events reach the restore-events queue, in the shapes of the real
/// examples in `tests/fixtures/aws/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestoreEvents {
    /// EventBridge `Object Restore Completed` events, as production receives them
    /// through the stack's EventBridge rule.
    EventBridge(EventBridgeKeys),
    /// S3 event notifications (`ObjectRestore:Completed` records), as a bucket's own
    /// notification configuration would send them.
    S3Notifications,
}

impl Default for RestoreEvents {
    fn default() -> Self {
        RestoreEvents::EventBridge(EventBridgeKeys::default())
    }
}

/// What the simulator does beyond what S3 would.
#[derive(Debug, Clone, PartialEq)]
pub struct SimOptions {
    /// Seeds every random choice: the same seed gives the same run.
    pub seed: u64,
    /// Share of restore events also sent a second time, minutes to an hour later.
    pub duplicate_rate: f64,
    /// Share of restores that never happen: the object stays archived, no event comes.
    pub drop_rate: f64,
    /// Share of restores whose event is lost: the restored copy is there (HeadObject
    /// shows it), but no event comes, so only reconciliation can find it.
    pub lose_event_rate: f64,
    pub restore_events: RestoreEvents,
    /// `false`: restores complete in manifest order. `true`: each at its own drawn
    /// instant, so events come in any order.
    pub reorder: bool,
    /// Added to every restore's drawn duration (to push restores past a deadline).
    pub extra_delay: Duration,
    /// Restores take up to this long instead of the published window: Standard
    /// restores in Batch Operations "typically begin to return objects within minutes",
    /// so events may follow their tasks at once.
    pub restore_within: Option<Duration>,
    pub batch_outcome: BatchOutcome,
    /// How many tasks the batch job runs per second of clock time.
    pub tasks_per_second: u32,
    /// How long the batch job stays Active after its last task before it completes: a
    /// job backed up behind others, still Active past the bulk job's deadline.
    pub finish_delay: Duration,
    /// Zero: each restore is carried out at its own instant. Otherwise restores are
    /// carried out at the end of the tick (aligned to the Unix epoch) they fall in,
    /// together: their RestoreObject requests go out concurrently, then each is read
    /// back in order, and their events (and duplicates due in one tick) go out ten to a
    /// request. Large jobs need fewer round trips to moto; events come up to one tick
    /// late (their recorded instants stay exact).
    pub restore_tick: Duration,
}

impl Default for SimOptions {
    fn default() -> Self {
        Self {
            seed: 1,
            duplicate_rate: 0.0,
            drop_rate: 0.0,
            lose_event_rate: 0.0,
            restore_events: RestoreEvents::default(),
            reorder: false,
            extra_delay: Duration::ZERO,
            restore_within: None,
            batch_outcome: BatchOutcome::Complete,
            tasks_per_second: 500,
            finish_delay: Duration::ZERO,
            restore_tick: Duration::ZERO,
        }
    }
}

/// When a restore under way completes: at an instant, or after a while from now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestoreDue {
    At(Timestamp),
    In(Duration),
}

impl From<Timestamp> for RestoreDue {
    fn from(at: Timestamp) -> Self {
        RestoreDue::At(at)
    }
}

impl From<Duration> for RestoreDue {
    fn from(after: Duration) -> Self {
        RestoreDue::In(after)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SimError {
    #[error("no batch job has id {0}")]
    NoSuchJob(String),
}

/// What every job of a simulator shares.
struct Context {
    /// Manifests and reports.
    s3: aws_sdk_s3::Client,
    /// The objects the tasks act on.
    objects: DataObjects,
    restore_queue: RestoreQueue,
    report_bucket: String,
    report_prefix: String,
    clock: Arc<dyn SimClock>,
    options: SimOptions,
    glacier: GlacierModel,
}

#[derive(Default)]
struct Jobs {
    /// ClientRequestToken (the bulk job id) to batch job id.
    by_token: HashMap<String, String>,
    by_id: HashMap<String, Arc<JobHandle>>,
}

/// S3 Batch Operations and Glacier, simulated on moto.
pub struct BatchSimulator {
    ctx: Arc<Context>,
    jobs: Mutex<Jobs>,
}

impl std::fmt::Debug for BatchSimulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchSimulator")
            .field("options", &self.ctx.options)
            .field("report_bucket", &self.ctx.report_bucket)
            .field("report_prefix", &self.ctx.report_prefix)
            .field("jobs", &self.lock().by_id.len())
            .finish()
    }
}

/// What a simulator reads from and writes to.
pub struct SimulatorTargets {
    /// Manifests are read and reports written here (moto).
    pub s3: aws_sdk_s3::Client,
    /// The objects the tasks act on.
    pub objects: DataObjects,
    /// Where restore events are posted.
    pub restore_queue: RestoreQueue,
    pub report_bucket: String,
    pub report_prefix: String,
}

impl BatchSimulator {
    pub fn new(targets: SimulatorTargets, clock: Arc<dyn SimClock>, options: SimOptions) -> Self {
        let SimulatorTargets {
            s3,
            objects,
            restore_queue,
            report_bucket,
            report_prefix,
        } = targets;
        Self {
            ctx: Arc::new(Context {
                s3,
                objects,
                restore_queue,
                report_bucket,
                report_prefix,
                clock,
                options,
                glacier: GlacierModel::default(),
            }),
            jobs: Mutex::new(Jobs::default()),
        }
    }

    pub fn options(&self) -> &SimOptions {
        &self.ctx.options
    }

    fn lock(&self) -> MutexGuard<'_, Jobs> {
        // Each update is one insertion, so a poisoned map is still consistent.
        self.jobs.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn job(&self, batch_job_id: &str) -> Result<Arc<JobHandle>, SimError> {
        self.lock()
            .by_id
            .get(batch_job_id)
            .cloned()
            .ok_or_else(|| SimError::NoSuchJob(batch_job_id.to_owned()))
    }

    /// Records that a restore of `object` was requested before the simulation began and
    /// completes at `completes` (an instant, or a duration from the clock's now).
    ///
    /// A batch task on the object answers 409 RestoreAlreadyInProgress, and the first
    /// job to meet it completes the restore at that instant (RestoreObject + HeadObject
    /// on moto, so its Completed event is sent). A restore no job meets is not
    /// completed: nothing waits for its event.
    pub fn mark_restoring(&self, object: &ObjectId, completes: impl Into<RestoreDue>) {
        let at = match completes.into() {
            RestoreDue::At(at) => at,
            RestoreDue::In(after) => add(
                self.ctx.clock.now(),
                SignedDuration::try_from(after).unwrap_or(SignedDuration::MAX),
            ),
        };
        self.ctx.glacier.mark_restoring(object.clone(), at);
    }

    /// The statuses a job went through, with their instants.
    pub fn status_history(&self, batch_job_id: &str) -> Result<Vec<StatusChange>, SimError> {
        Ok(self.job(batch_job_id)?.history())
    }

    /// The restores a job scheduled, in the order its tasks ran.
    pub fn restores(&self, batch_job_id: &str) -> Result<Vec<RestoreRecord>, SimError> {
        Ok(self.job(batch_job_id)?.restores())
    }

    /// Resolves when the batch job has ended (Complete, Failed or Cancelled).
    pub async fn wait_ended(&self, batch_job_id: &str) -> Result<(), SimError> {
        self.job(batch_job_id)?.reached(Milestone::Ended).await;
        Ok(())
    }

    /// Resolves when the batch job has ended and every restore and duplicate event it
    /// scheduled has happened.
    pub async fn wait_settled(&self, batch_job_id: &str) -> Result<(), SimError> {
        self.job(batch_job_id)?.reached(Milestone::Settled).await;
        Ok(())
    }
}

#[async_trait]
impl BatchOperations for BatchSimulator {
    /// Idempotent on `spec.job_id`, like CreateJob's ClientRequestToken.
    async fn create_job(&self, spec: &BatchJobSpec) -> PortResult<String> {
        if spec.expiration_days == 0 {
            return Err(PortError::Rejected(
                "a restore must keep its copy for at least 1 day".into(),
            ));
        }
        // The job runs as a task on the caller's runtime; without one it cannot run.
        let runtime = tokio::runtime::Handle::try_current().map_err(|e| {
            PortError::Rejected(format!(
                "the batch simulator needs a Tokio runtime to run jobs: {e}"
            ))
        })?;
        let mut jobs = self.lock();
        if let Some(id) = jobs.by_token.get(&spec.job_id) {
            return Ok(id.clone());
        }
        let mut id = draws::batch_job_id(self.ctx.options.seed, &spec.job_id);
        // Two tokens with one id would need a 128-bit hash collision; stay unique anyway.
        while jobs.by_id.contains_key(&id) {
            id = draws::batch_job_id(self.ctx.options.seed, &id);
        }
        let job = Arc::new(JobHandle::new(
            id.clone(),
            spec.clone(),
            self.ctx.clock.now(),
        ));
        jobs.by_token.insert(spec.job_id.clone(), id.clone());
        jobs.by_id.insert(id.clone(), Arc::clone(&job));
        drop(jobs);
        // Registered before the task is spawned, so the clock waits for the job's first
        // step instead of running past it.
        let participant = self.ctx.clock.register();
        runtime.spawn(batch_job::run(Arc::clone(&self.ctx), job, participant));
        Ok(id)
    }

    async fn describe_job(&self, batch_job_id: &str) -> PortResult<BatchJobInfo> {
        self.job(batch_job_id)
            .map(|job| job.info())
            .map_err(|e| PortError::NotFound(e.to_string()))
    }

    async fn confirm_job(&self, batch_job_id: &str) -> PortResult<()> {
        let job = self
            .job(batch_job_id)
            .map_err(|e| PortError::NotFound(e.to_string()))?;
        job.confirm(self.ctx.clock.now()).map_err(|status| {
            PortError::Conflict(format!(
                "JobStatusException: batch job {batch_job_id} is {} and awaits no confirmation",
                status.as_str()
            ))
        })
    }

    async fn cancel_job(&self, batch_job_id: &str) -> PortResult<()> {
        let job = self
            .job(batch_job_id)
            .map_err(|e| PortError::NotFound(e.to_string()))?;
        match job.cancel(self.ctx.clock.now()) {
            CancelAnswer::Accepted => Ok(()),
            CancelAnswer::TooLate(status) => Err(PortError::Conflict(format!(
                "batch job {batch_job_id} is {} and can no longer be cancelled",
                status.as_str()
            ))),
        }
    }
}

#[cfg(test)]
mod event_shapes {
    //! What the simulator sends is what AWS sends, checked against the real examples in
    //! `tests/fixtures/aws/`.

    use std::collections::BTreeSet;
    use std::path::Path;

    use gbr_core::object_id::ObjectId;
    use gbr_core::restore_event::encode::{self, EventBridgeKeys, RestoreFacts};
    use serde_json::Value;

    fn json(relative: &str) -> Value {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/aws")
            .join(relative);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{relative}: {e}"));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{relative}: {e}"))
    }

    fn id(bucket: &str, key: &str, version: Option<&str>) -> ObjectId {
        ObjectId::new(bucket, key, version.map(str::to_owned)).unwrap()
    }

    /// Every JSON path and its value's type: two values have one shape when these agree.
    fn shape(value: &Value, path: &str, out: &mut BTreeSet<String>) {
        let kind = match value {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        };
        out.insert(format!("{path}: {kind}"));
        match value {
            Value::Object(map) => map
                .iter()
                .for_each(|(k, v)| shape(v, &format!("{path}.{k}"), out)),
            Value::Array(items) => items
                .iter()
                .for_each(|v| shape(v, &format!("{path}[]"), out)),
            _ => {}
        }
    }

    fn shape_of(value: &Value) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        shape(value, "$", &mut out);
        out
    }

    /// What the simulator sends is what AWS sends: the same fields, nested the same way,
    /// with the same types.
    #[test]
    fn the_simulator_sends_the_real_events_shape() {
        let object = id(
            "manifest.bdrc.org",
            "ao1060/W1FPL2251.bag.zip",
            Some("vwfO4VqvGTlWeuSAtXDOhPzFhl.6YrSG"),
        );
        let facts = RestoreFacts {
            size: 78_668_981,
            time: "2024-02-24T08:47:18.267Z",
            expiry: "2024-03-06T00:00:00.000Z",
            storage_class: "DEEP_ARCHIVE",
            ..encode::facts_for(&object)
        };
        let captured =
            json("s3-notification/object-restore-completed.record.versioned.captured.json");
        let ours = encode::s3_record(&facts);
        assert_eq!(shape_of(&ours), shape_of(&captured));
        assert_eq!(ours["s3"]["object"]["key"], captured["s3"]["object"]["key"]);
        assert_eq!(ours["eventName"], captured["eventName"]);

        let documented = json("eventbridge/object-restore-completed.s3-user-guide-2023.json");
        let ours = encode::eventbridge(&facts, EventBridgeKeys::Raw);
        assert_eq!(shape_of(&ours), shape_of(&documented));
        assert_eq!(ours["detail-type"], documented["detail-type"]);
    }
}
