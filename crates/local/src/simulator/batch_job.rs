//! One simulated batch job: its status as DescribeJob shows it, and the task that runs
//! it in clock time.
//!
//! Each job is one clock participant with one timer queue (ordered by instant, then by
//! the order timers were made). The queue holds the job's own steps (prepare, each
//! one-second slice of tasks, the end) and every restore and duplicate event it
//! scheduled, so a 20,000-object job is one task and one pending sleep, not 20,000.
//! Under the virtual clock, time stands still while the job talks to moto and jumps to
//! the next timer once everyone is parked.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use futures_util::stream::{self, StreamExt};
use gbr_core::filter::ObjectFilter;
use gbr_core::inventory::{self, write::ListedObject as WrittenRow};
use gbr_core::manifest::ManifestReader;
use gbr_core::object_id::ObjectId;
use gbr_core::ports::{BatchJobInfo, BatchJobSpec, BatchManifest, GeneratedManifest};
use gbr_core::request::{StorageClass, Tier};
use gbr_core::restore_event::encode::{self, RestoreFacts};
use gbr_core::status::BatchJobStatus;
use jiff::{SignedDuration, Timestamp};
use tokio::sync::watch;

use super::draws::{self, JobRng};
use super::glacier::{Decision, Found, TaskAnswer, restore_window};
use super::report::{TaskResult, write_report};
use super::requests::{self, RequestError};
use super::{BatchOutcome, Context, RestoreEvents};
use crate::engine::clock::{Participant, add, format_timestamp};
use crate::stack::resources::{ACCOUNT, REGION};

/// S3 takes a job from New to Preparing almost at once.
const NEW_FOR: SignedDuration = SignedDuration::from_secs(5);
/// Reading and checking the manifest before the first task.
const PREPARING_FOR: SignedDuration = SignedDuration::from_secs(30);
/// How often a job held in Suspended looks for its confirmation.
const CONFIRM_CHECK: SignedDuration = SignedDuration::from_secs(5);
/// S3 User Guide: "If a job remains in the suspended state for over 30 days, it will
/// fail."
const SUSPENDED_AT_MOST: SignedDuration = SignedDuration::from_hours(30 * 24);
/// Rows per data file of a generated list.
const GENERATED_ROWS_PER_FILE: usize = 1000;
/// Completing, Failing and Cancelling last while the report is written.
const ENDING_FOR: SignedDuration = SignedDuration::from_secs(5);
/// Tasks run in slices of one second of clock time, `tasks_per_second` each.
const SLICE: SignedDuration = SignedDuration::from_secs(1);
/// HeadObject requests in flight at once while a slice is checked: enough to keep moto
/// busy, few enough not to swamp the one process that serves every test.
const HEAD_CONCURRENCY: usize = 8;
/// RestoreObject requests in flight at once for restores due together.
const RESTORE_CONCURRENCY: usize = 8;

/// A status the job entered, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusChange {
    pub at: Timestamp,
    pub status: BatchJobStatus,
}

/// How a restore came to be in a job's queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestoreKind {
    /// The job's task started it (RestoreObject answered 202).
    Started,
    /// It was already under way (marked by the setup; the task answered 409), and this
    /// job completes it at its instant.
    TakenOver,
}

/// What became of a restore.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestoreOutcome {
    Pending,
    /// RestoreObject was sent to moto at the restore's instant, and its event posted.
    Completed,
    /// Completed, and the extra copy of its event was sent too.
    Duplicated,
    /// The restore happened (HeadObject shows the copy), but its event was lost.
    EventLost,
    /// Never happened: the object stays archived and no event is sent.
    Dropped,
    /// moto refused the restore, or the event could not be posted.
    Failed(String),
}

/// One restore a job scheduled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreRecord {
    pub object: ObjectId,
    pub kind: RestoreKind,
    pub storage_class: StorageClass,
    pub tier: Tier,
    /// When the batch task that started (or met) the restore ran.
    pub task_at: Timestamp,
    /// When the restored copy appears and moto is made to send the event.
    pub completes_at: Timestamp,
    pub dropped: bool,
    /// The restore happens but its event is not sent.
    pub event_lost: bool,
    /// When the extra copy of the event is sent, if one is.
    pub duplicate_at: Option<Timestamp>,
    /// The object's size, as its event carries it.
    pub size: u64,
    pub outcome: RestoreOutcome,
}

/// How far a job has gone, for those who wait on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Milestone {
    Running,
    /// The batch job reached Complete, Failed or Cancelled.
    Ended,
    /// Every restore and duplicate event it scheduled has happened too.
    Settled,
}

#[derive(Debug)]
struct JobState {
    status: BatchJobStatus,
    history: Vec<StatusChange>,
    tasks_total: u64,
    tasks_succeeded: u64,
    tasks_failed: u64,
    failure_reasons: Vec<String>,
    cancel_requested: bool,
    /// The list a manifest generator wrote, once written.
    generated: Option<GeneratedManifest>,
    restores: Vec<RestoreRecord>,
}

/// A job as the simulator's API sees it.
pub struct JobHandle {
    pub batch_job_id: String,
    pub spec: BatchJobSpec,
    state: Mutex<JobState>,
    milestone: watch::Sender<Milestone>,
}

/// What `cancel` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelAnswer {
    Accepted,
    /// The job has ended or is ending another way.
    TooLate(BatchJobStatus),
}

impl JobHandle {
    pub fn new(batch_job_id: String, spec: BatchJobSpec, now: Timestamp) -> Self {
        Self {
            batch_job_id,
            spec,
            state: Mutex::new(JobState {
                status: BatchJobStatus::New,
                history: vec![StatusChange {
                    at: now,
                    status: BatchJobStatus::New,
                }],
                tasks_total: 0,
                tasks_succeeded: 0,
                tasks_failed: 0,
                failure_reasons: Vec::new(),
                cancel_requested: false,
                generated: None,
                restores: Vec::new(),
            }),
            milestone: watch::Sender::new(Milestone::Running),
        }
    }

    fn lock(&self) -> MutexGuard<'_, JobState> {
        // Updates are made under the lock with no await inside, so a poisoned state is
        // still whole.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn info(&self) -> BatchJobInfo {
        let s = self.lock();
        BatchJobInfo {
            status: s.status,
            tasks_total: s.tasks_total,
            tasks_succeeded: s.tasks_succeeded,
            tasks_failed: s.tasks_failed,
            failure_reasons: s.failure_reasons.clone(),
            generated_manifest: s.generated.clone(),
        }
    }

    /// UpdateJobStatus Ready: a job waiting in Suspended is Ready at once; any other
    /// answers JobStatusException, as S3 does.
    pub fn confirm(&self, now: Timestamp) -> Result<(), BatchJobStatus> {
        let status = self.lock().status;
        match status {
            BatchJobStatus::Suspended => {
                self.set_status(BatchJobStatus::Ready, now);
                Ok(())
            }
            other => Err(other),
        }
    }

    pub fn history(&self) -> Vec<StatusChange> {
        self.lock().history.clone()
    }

    pub fn restores(&self) -> Vec<RestoreRecord> {
        self.lock().restores.clone()
    }

    /// Asks the job to stop at its next task boundary.
    pub fn cancel(&self, now: Timestamp) -> CancelAnswer {
        use BatchJobStatus as S;
        let mut s = self.lock();
        match s.status {
            // No task has run: as the AWS CLI's example shows, it is Cancelled at once.
            S::Suspended => {
                s.cancel_requested = true;
                drop(s);
                self.set_status(S::Cancelled, now);
                CancelAnswer::Accepted
            }
            S::New | S::Preparing | S::Ready | S::Active | S::Paused | S::Pausing => {
                s.cancel_requested = true;
                CancelAnswer::Accepted
            }
            S::Cancelling => CancelAnswer::Accepted,
            other => CancelAnswer::TooLate(other),
        }
    }

    /// Resolves once the job has reached `milestone`.
    pub async fn reached(&self, milestone: Milestone) {
        let mut rx = self.milestone.subscribe();
        // The sender lives as long as `self`, so this ends only by reaching it.
        let _ = rx.wait_for(|m| *m >= milestone).await;
    }

    fn set_status(&self, status: BatchJobStatus, at: Timestamp) {
        let mut s = self.lock();
        s.status = status;
        s.history.push(StatusChange { at, status });
        drop(s);
        if matches!(
            status,
            BatchJobStatus::Complete | BatchJobStatus::Failed | BatchJobStatus::Cancelled
        ) {
            self.milestone.send_if_modified(|m| {
                let changed = *m < Milestone::Ended;
                *m = (*m).max(Milestone::Ended);
                changed
            });
        }
    }

    fn fail(&self, reason: String, at: Timestamp) {
        self.lock().failure_reasons.push(reason);
        self.set_status(BatchJobStatus::Failed, at);
    }

    fn cancel_requested(&self) -> bool {
        self.lock().cancel_requested
    }

    fn settle(&self) {
        self.milestone.send_replace(Milestone::Settled);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Due {
    Prepare,
    /// A job that generated its list stops to wait for confirmation.
    Suspend,
    AwaitConfirmation,
    Activate,
    Slice,
    End(Ending),
    Restore(usize),
    Duplicate(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Ending {
    Complete,
    Failed,
    Cancelled,
}

/// A timer: ordered by instant, then by the order it was made, so that ties are broken
/// the same way on every run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Timer {
    at: Timestamp,
    sequence: u64,
    due: Due,
}

struct Runner {
    ctx: Arc<Context>,
    job: Arc<JobHandle>,
    rng: JobRng,
    timers: BinaryHeap<Reverse<Timer>>,
    next_sequence: u64,
    tasks: Vec<ObjectId>,
    results: Vec<TaskResult>,
    /// Tasks to run before the requested outcome ends the job.
    stop_after: usize,
    /// The latest restore instant so far, kept when events must come in manifest order.
    last_completes_at: Option<Timestamp>,
    /// The job stayed Active for `finish_delay` after its last task.
    lingered: bool,
    /// When a job that generated its list began to wait for confirmation.
    suspended_at: Option<Timestamp>,
}

/// Runs a job to its end and until its last restore and duplicate event have happened.
pub async fn run(ctx: Arc<Context>, job: Arc<JobHandle>, participant: Participant) {
    // Registered by the caller before this task was spawned, so the clock cannot move
    // past the job's first instant before the task first runs.
    let _participant = participant;
    let mut runner = Runner {
        rng: JobRng::new(ctx.options.seed, &job.spec.job_id),
        ctx,
        job,
        timers: BinaryHeap::new(),
        next_sequence: 0,
        tasks: Vec::new(),
        results: Vec::new(),
        stop_after: 0,
        last_completes_at: None,
        lingered: false,
        suspended_at: None,
    };
    let start = runner.ctx.clock.now();
    runner.push(add(start, NEW_FOR), Due::Prepare);
    while let Some(Reverse(timer)) = runner.timers.pop() {
        runner.ctx.clock.sleep_until(timer.at).await;
        match timer.due {
            // Restores, and duplicates, due at the same instant (or tick) are carried
            // out together, their events ten to a request.
            Due::Restore(first) => {
                let due = runner.also_due(timer.at, first, |d| match d {
                    Due::Restore(index) => Some(index),
                    _ => None,
                });
                runner.restore(due).await;
            }
            Due::Duplicate(first) => {
                let due = runner.also_due(timer.at, first, |d| match d {
                    Due::Duplicate(index) => Some(index),
                    _ => None,
                });
                runner.duplicate(due).await;
            }
            other => runner.handle(other).await,
        }
    }
    runner.job.settle();
}

impl Runner {
    fn push(&mut self, at: Timestamp, due: Due) {
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        self.timers.push(Reverse(Timer { at, sequence, due }));
    }

    fn now(&self) -> Timestamp {
        self.ctx.clock.now()
    }

    /// `first`, and the indices of the timers due at `at` right after it that are of
    /// the same kind (`index_of` answers their index), taken off the queue.
    fn also_due(
        &mut self,
        at: Timestamp,
        first: usize,
        index_of: impl Fn(Due) -> Option<usize>,
    ) -> Vec<usize> {
        let mut due = vec![first];
        while let Some(Reverse(next)) = self.timers.peek().copied() {
            match index_of(next.due) {
                Some(index) if next.at == at => {
                    self.timers.pop();
                    due.push(index);
                }
                _ => break,
            }
        }
        due
    }

    async fn handle(&mut self, due: Due) {
        match due {
            Due::Prepare => self.prepare().await,
            Due::Suspend => self.suspend(),
            Due::AwaitConfirmation => self.await_confirmation(),
            Due::Activate => self.activate(),
            Due::Slice => self.slice().await,
            Due::End(ending) => self.end(ending).await,
            Due::Restore(index) => self.restore(vec![index]).await,
            Due::Duplicate(index) => self.duplicate(vec![index]).await,
        }
    }

    /// Stops before the next task, as S3 does when a job is cancelled.
    fn stop_if_cancelled(&mut self) -> bool {
        if !self.job.cancel_requested() {
            return false;
        }
        let now = self.now();
        self.job.set_status(BatchJobStatus::Cancelling, now);
        self.push(add(now, ENDING_FOR), Due::End(Ending::Cancelled));
        true
    }

    async fn prepare(&mut self) {
        if self.stop_if_cancelled() {
            return;
        }
        let now = self.now();
        self.job.set_status(BatchJobStatus::Preparing, now);
        let spec = self.job.spec.clone();
        let read = match &spec.manifest {
            BatchManifest::Csv {
                bucket, key, etag, ..
            } => csv_tasks(&self.ctx, bucket, key, etag).await,
            BatchManifest::Generate {
                filter,
                output_bucket,
                output_prefix,
            } => generate(&self.ctx, filter, output_bucket, output_prefix)
                .await
                .map(|(tasks, list)| {
                    self.job.lock().generated = Some(list);
                    tasks
                }),
        };
        let tasks = match read {
            Ok(tasks) => tasks,
            Err(reason) => {
                self.job.fail(reason, self.now());
                return;
            }
        };
        self.stop_after = match self.ctx.options.batch_outcome {
            BatchOutcome::Complete => tasks.len(),
            BatchOutcome::Failed | BatchOutcome::Cancelled => tasks.len().div_ceil(2),
        };
        self.job.lock().tasks_total = tasks.len() as u64;
        self.tasks = tasks;
        let now = self.now();
        let next = match spec.manifest {
            BatchManifest::Csv { .. } => Due::Activate,
            BatchManifest::Generate { .. } => Due::Suspend,
        };
        self.push(add(now, PREPARING_FOR), next);
    }

    /// As S3 holds a job created with `ConfirmationRequired`: from Preparing to
    /// Suspended, the list written and counted.
    fn suspend(&mut self) {
        if self.stop_if_cancelled() {
            return;
        }
        let now = self.now();
        self.job.set_status(BatchJobStatus::Suspended, now);
        self.suspended_at = Some(now);
        self.push(add(now, CONFIRM_CHECK), Due::AwaitConfirmation);
    }

    fn await_confirmation(&mut self) {
        let now = self.now();
        let status = self.job.lock().status;
        match status {
            // Cancelled while it waited: no task ran, so there is no report.
            BatchJobStatus::Cancelled => return,
            BatchJobStatus::Ready => {
                self.push(add(now, NEW_FOR), Due::Activate);
                return;
            }
            _ => {}
        }
        if self
            .suspended_at
            .is_some_and(|at| add(at, SUSPENDED_AT_MOST) <= now)
        {
            self.job.fail(
                "the job remained in the Suspended state for over 30 days".into(),
                now,
            );
            return;
        }
        self.push(add(now, CONFIRM_CHECK), Due::AwaitConfirmation);
    }

    fn activate(&mut self) {
        if self.stop_if_cancelled() {
            return;
        }
        let now = self.now();
        self.job.set_status(BatchJobStatus::Active, now);
        self.push(now, Due::Slice);
    }

    /// Runs one second's worth of tasks.
    async fn slice(&mut self) {
        if self.stop_if_cancelled() {
            return;
        }
        let start = self.now();
        let per_second = self.ctx.options.tasks_per_second.max(1);
        let first = self.results.len();
        let end = (first + per_second as usize).min(self.stop_after);
        // HeadObjects go out together; their answers are used in manifest order.
        // Owned clones: a stream of borrowing futures would keep the task from being Send.
        let objects = self.ctx.objects.clone();
        let found: Vec<requests::Head> = stream::iter(self.tasks[first..end].to_vec())
            .map(move |object| {
                let objects = objects.clone();
                async move { objects.head(&object).await }
            })
            .buffered(HEAD_CONCURRENCY)
            .collect()
            .await;
        let step = SignedDuration::from_nanos(1_000_000_000 / i64::from(per_second));
        let (mut succeeded, mut failed) = (0, 0);
        for (offset, found) in found.iter().enumerate() {
            let object = self.tasks[first + offset].clone();
            let task_at = add(start, step * i32::try_from(offset).unwrap_or(i32::MAX));
            let answer = self.answer(&object, &found.found, found.size, task_at);
            if answer.succeeded {
                succeeded += 1;
            } else {
                failed += 1;
            }
            self.results.push(TaskResult { object, answer });
        }
        {
            let mut s = self.job.lock();
            s.tasks_succeeded += succeeded;
            s.tasks_failed += failed;
        }
        let finish_delay = self.ctx.options.finish_delay;
        if self.results.len() >= self.stop_after && !finish_delay.is_zero() && !self.lingered {
            self.lingered = true;
            let delay = SignedDuration::try_from(finish_delay).unwrap_or(SignedDuration::MAX);
            self.push(add(start, delay), Due::Slice);
        } else if self.results.len() >= self.stop_after {
            let (status, ending) = match self.ctx.options.batch_outcome {
                BatchOutcome::Complete => (BatchJobStatus::Completing, Ending::Complete),
                BatchOutcome::Failed => (BatchJobStatus::Failing, Ending::Failed),
                BatchOutcome::Cancelled => (BatchJobStatus::Cancelling, Ending::Cancelled),
            };
            if ending == Ending::Failed {
                self.job.lock().failure_reasons.push(format!(
                    "SimulatedFailure: the simulator was asked to fail this job, after {} of {} tasks",
                    self.results.len(),
                    self.tasks.len()
                ));
            }
            self.job.set_status(status, start);
            self.push(add(start, ENDING_FOR), Due::End(ending));
        } else {
            self.push(add(start, SLICE), Due::Slice);
        }
    }

    /// What RestoreObject answers for one task, scheduling the restore it starts.
    fn answer(
        &mut self,
        object: &ObjectId,
        found: &Found,
        size: u64,
        task_at: Timestamp,
    ) -> TaskAnswer {
        let decision = self
            .ctx
            .glacier
            .decide(object, found, &self.job.batch_job_id);
        let (kind, class, completes_at) = match decision {
            Decision::Answer(answer) => return answer,
            Decision::Start(class) => (RestoreKind::Started, class, None),
            Decision::TakeOver(at) => (RestoreKind::TakenOver, class_of(found), Some(at)),
        };
        let options = &self.ctx.options;
        let tier = self.job.spec.tier;
        let window = match options.restore_within {
            Some(within) => (
                SignedDuration::ZERO,
                SignedDuration::try_from(within).unwrap_or(SignedDuration::MAX),
            ),
            None => restore_window(class, tier),
        };
        let draw = self
            .rng
            .restore(window, options.drop_rate, options.duplicate_rate);
        let completes_at = match completes_at {
            Some(at) => at,
            None => {
                let extra =
                    SignedDuration::try_from(options.extra_delay).unwrap_or(SignedDuration::MAX);
                let mut at = add(add(task_at, draw.duration), extra);
                if !options.reorder {
                    // Events in manifest order: no restore completes before an earlier row's.
                    at = self.last_completes_at.map_or(at, |last| at.max(last));
                    self.last_completes_at = Some(at);
                }
                self.ctx.glacier.started(object, at);
                at
            }
        };
        let event_lost = !draw.dropped
            && draws::event_lost(
                options.seed,
                &self.job.batch_job_id,
                &object.canonical(),
                options.lose_event_rate,
            );
        let record = RestoreRecord {
            object: object.clone(),
            kind,
            storage_class: class,
            tier,
            task_at,
            completes_at,
            dropped: draw.dropped,
            event_lost,
            duplicate_at: draw
                .duplicate_after
                .filter(|_| !event_lost)
                .map(|d| add(completes_at, d)),
            size,
            outcome: RestoreOutcome::Pending,
        };
        let index = {
            let mut s = self.job.lock();
            s.restores.push(record);
            s.restores.len() - 1
        };
        let due_at = tick_end(completes_at, options.restore_tick);
        self.push(due_at, Due::Restore(index));
        match kind {
            RestoreKind::Started => TaskAnswer::started(),
            RestoreKind::TakenOver => TaskAnswer::in_progress(),
        }
    }

    async fn end(&mut self, ending: Ending) {
        let now = self.now();
        let status = match ending {
            Ending::Complete => BatchJobStatus::Complete,
            Ending::Failed => BatchJobStatus::Failed,
            Ending::Cancelled => BatchJobStatus::Cancelled,
        };
        // A job stopped before its first task writes no report, as S3 does.
        if !self.results.is_empty() {
            let written = write_report(
                &self.ctx.s3,
                &self.ctx.report_bucket,
                &self.ctx.report_prefix,
                self.ctx.options.seed,
                &self.job.batch_job_id,
                &self.results,
                now,
            )
            .await;
            if let Err(e) = written {
                self.job.fail(
                    format!("ReportWriteFailed: the completion report cannot be written: {e}"),
                    self.now(),
                );
                return;
            }
        }
        // Restores go on for hours after the job ends and need neither: at a million
        // objects these are a few hundred MB.
        self.tasks = Vec::new();
        self.results = Vec::new();
        self.job.set_status(status, self.now());
    }

    fn record(&self, index: usize) -> Option<RestoreRecord> {
        self.job.lock().restores.get(index).cloned()
    }

    fn set_outcome(&self, index: usize, outcome: RestoreOutcome) {
        if let Some(r) = self.job.lock().restores.get_mut(index) {
            r.outcome = outcome;
        }
    }

    /// Carries out restores due now: RestoreObject for all of them, several at a time,
    /// then their events, in the order of their instants, ten to a SendMessageBatch.
    async fn restore(&mut self, due: Vec<usize>) {
        let mut records: Vec<(usize, RestoreRecord)> = due
            .into_iter()
            .filter_map(|index| self.record(index).map(|r| (index, r)))
            .collect();
        records.sort_by_key(|(index, r)| (r.completes_at, *index));
        let (dropped, live): (Vec<_>, Vec<_>) = records.into_iter().partition(|(_, r)| r.dropped);
        for (index, record) in dropped {
            self.ctx.glacier.finished(&record.object);
            self.set_outcome(index, RestoreOutcome::Dropped);
        }
        let objects = self.ctx.objects.clone();
        let days = self.job.spec.expiration_days;
        let requested: Vec<Result<(), RequestError>> = stream::iter(
            live.iter()
                .map(|(_, r)| (r.object.clone(), r.tier))
                .collect::<Vec<_>>(),
        )
        .map(move |(object, tier)| {
            let objects = objects.clone();
            async move { objects.restore(&object, days, tier).await }
        })
        .buffered(RESTORE_CONCURRENCY)
        .collect()
        .await;
        let mut events = Vec::new();
        let mut outcomes = Vec::new();
        for ((index, record), requested) in live.into_iter().zip(requested) {
            self.ctx.glacier.finished(&record.object);
            let outcome = match requested {
                Ok(()) if record.event_lost => RestoreOutcome::EventLost,
                Ok(()) => {
                    events.push(self.event(&record));
                    if let Some(at) = record.duplicate_at {
                        let due_at = tick_end(at, self.ctx.options.restore_tick);
                        self.push(due_at, Due::Duplicate(index));
                    }
                    RestoreOutcome::Completed
                }
                Err(e) => {
                    tracing::warn!(object = %record.object, error = %e, "simulated restore failed");
                    RestoreOutcome::Failed(e.to_string())
                }
            };
            outcomes.push((index, outcome));
        }
        let sent = self.ctx.restore_queue.send(events).await;
        for (index, outcome) in outcomes {
            let outcome = match (&sent, outcome) {
                (Err(e), RestoreOutcome::Completed) => {
                    tracing::warn!(error = %e, "restore events not sent");
                    RestoreOutcome::Failed(format!(
                        "the restore completed but its event was not sent: {e}"
                    ))
                }
                (_, outcome) => outcome,
            };
            self.set_outcome(index, outcome);
        }
    }

    /// The restore's event, in the shape the options choose.
    fn event(&self, record: &RestoreRecord) -> String {
        let facts = RestoreFacts {
            object: &record.object,
            size: record.size,
            time: &format_timestamp(record.completes_at),
            expiry: &format_timestamp(expiry(record.completes_at, self.job.spec.expiration_days)),
            storage_class: record.storage_class.as_str(),
            region: REGION,
            account: ACCOUNT,
        };
        match self.ctx.options.restore_events {
            RestoreEvents::EventBridge(keys) => encode::eventbridge(&facts, keys),
            RestoreEvents::S3Notifications => {
                encode::s3_notification(vec![encode::s3_record(&facts)])
            }
        }
        .to_string()
    }

    async fn duplicate(&mut self, due: Vec<usize>) {
        let records: Vec<(usize, RestoreRecord)> = due
            .into_iter()
            .filter_map(|index| self.record(index).map(|r| (index, r)))
            .collect();
        let events = records.iter().map(|(_, r)| self.event(r)).collect();
        let outcome = match self.ctx.restore_queue.send(events).await {
            Ok(()) => RestoreOutcome::Duplicated,
            Err(e) => {
                tracing::warn!(error = %e, "duplicate events not sent");
                RestoreOutcome::Failed(format!(
                    "the restore completed but its duplicate was not sent: {e}"
                ))
            }
        };
        for (index, _) in records {
            self.set_outcome(index, outcome.clone());
        }
    }
}

/// When a restored copy expires: `days` after the restore, at the next midnight UTC
/// (S3 rounds expiry up to midnight; the captured events' expiry times are midnights).
fn expiry(at: Timestamp, days: u32) -> Timestamp {
    const DAY: i64 = 86_400;
    let end = at.as_second().saturating_add(i64::from(days) * DAY);
    Timestamp::from_second((end.div_euclid(DAY) + 1) * DAY).unwrap_or(at)
}

/// The end of the tick holding `at` (ticks aligned to the Unix epoch); `at` itself when
/// there are no ticks.
fn tick_end(at: Timestamp, tick: std::time::Duration) -> Timestamp {
    let tick = i128::try_from(tick.as_nanos()).unwrap_or(i128::MAX);
    if tick <= 0 {
        return at;
    }
    let nanos = at.as_nanosecond();
    let end = nanos.div_euclid(tick) * tick + if nanos.rem_euclid(tick) == 0 { 0 } else { tick };
    Timestamp::from_nanosecond(end).unwrap_or(at)
}

/// The archive class HeadObject found (only asked of objects the model found archived).
fn class_of(found: &Found) -> StorageClass {
    match found {
        Found::Archived(c) | Found::Restoring(c) | Found::Restored(c) => *c,
        // A restore under way was requested of an archived object; the slower class is
        // the safer guess.
        _ => StorageClass::DeepArchive,
    }
}

/// The tasks of a CSV manifest, read as of its ETag, or why the job fails.
async fn csv_tasks(
    ctx: &Context,
    bucket: &str,
    key: &str,
    etag: &str,
) -> Result<Vec<ObjectId>, String> {
    let bytes = requests::read_manifest(&ctx.s3, bucket, key, etag)
        .await
        .map_err(|e| manifest_failure(bucket, key, etag, &e))?;
    let mut tasks = Vec::new();
    let mut bad = Vec::new();
    for row in ManifestReader::new(bytes.as_slice()) {
        match row {
            Ok(row) => tasks.push(row.object),
            Err(e) => bad.push(e),
        }
    }
    if let Some(first) = bad.first() {
        return Err(format!(
            "ManifestMalformed: {} line(s) of s3://{bucket}/{key} cannot be read; first: {first}",
            bad.len(),
        ));
    }
    if tasks.is_empty() {
        return Err(format!(
            "ManifestEmpty: s3://{bucket}/{key} lists no objects"
        ));
    }
    Ok(tasks)
}

/// What S3's manifest generator does: lists the source bucket (ListObjectsV2 on moto),
/// keeps what the filter selects, and writes the list into the output location. The
/// contents of `S3InventoryReport_CSV_20211130` are not documented; the list is
/// written as S3 Inventory writes a CSV report (`manifest.json`, gzipped data files),
/// its nearest documented relative.
async fn generate(
    ctx: &Context,
    filter: &ObjectFilter,
    output_bucket: &str,
    output_prefix: &str,
) -> Result<(Vec<ObjectId>, GeneratedManifest), String> {
    let failed = |e: RequestError| format!("ManifestGenerationFailed: {e}");
    let listed = ctx
        .objects
        .list(&filter.bucket, filter.prefix())
        .await
        .map_err(failed)?;
    let mut rows = Vec::new();
    for object in listed {
        if filter.selects(&object).is_err() {
            continue;
        }
        let id = ObjectId::new(&filter.bucket, &object.key, None)
            .map_err(|e| format!("ManifestGenerationFailed: {e}"))?;
        rows.push(WrittenRow {
            object: id,
            size: object.size,
            storage_class: object.storage_class,
        });
    }
    if rows.is_empty() {
        return Err(format!(
            "ManifestEmpty: no object of s3://{}/{} matches the job's filter",
            filter.bucket,
            filter.prefix()
        ));
    }
    let report = inventory::write::report(
        &filter.bucket,
        output_bucket,
        output_prefix,
        &rows,
        GENERATED_ROWS_PER_FILE,
    );
    for (key, body) in &report.data_files {
        requests::put(
            &ctx.s3,
            output_bucket,
            key,
            "application/gzip",
            body.clone(),
        )
        .await
        .map_err(failed)?;
    }
    let etag = requests::put(
        &ctx.s3,
        output_bucket,
        &report.manifest_key,
        "application/json",
        report.manifest_json,
    )
    .await
    .map_err(failed)?;
    let tasks = rows.into_iter().map(|r| r.object).collect();
    Ok((
        tasks,
        GeneratedManifest {
            bucket: output_bucket.to_owned(),
            key: report.manifest_key,
            etag,
            version_id: None,
        },
    ))
}

fn manifest_failure(bucket: &str, key: &str, etag: &str, e: &RequestError) -> String {
    let location = format!("s3://{bucket}/{key}");
    match (e.http_status, e.code.as_str()) {
        (412, _) | (_, "PreconditionFailed") => {
            format!("ManifestETagMismatch: the manifest {location} no longer has ETag {etag}")
        }
        (404, _) | (_, "NoSuchKey" | "NoSuchBucket") => {
            format!(
                "ManifestNotFound: the manifest {location} does not exist ({})",
                e.code
            )
        }
        _ => format!("ManifestUnreadable: the manifest {location} cannot be read: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn ticks_round_up_to_the_next_boundary() {
        let at = |s: &str| s.parse::<Timestamp>().expect("timestamp");
        let minute = Duration::from_secs(60);
        assert_eq!(
            tick_end(at("2030-01-01T10:00:00.001Z"), minute),
            at("2030-01-01T10:01:00Z")
        );
        assert_eq!(
            tick_end(at("2030-01-01T10:01:00Z"), minute),
            at("2030-01-01T10:01:00Z")
        );
        assert_eq!(
            tick_end(at("2030-01-01T10:00:59.5Z"), Duration::ZERO),
            at("2030-01-01T10:00:59.5Z")
        );
    }

    #[test]
    fn timers_run_by_instant_then_by_the_order_they_were_made() {
        let t = |s: i64| add(Timestamp::UNIX_EPOCH, SignedDuration::from_secs(s));
        let mut heap = BinaryHeap::new();
        for (sequence, (at, due)) in [
            (5, Due::Slice),
            (1, Due::Restore(0)),
            (5, Due::Restore(1)),
            (1, Due::Prepare),
        ]
        .into_iter()
        .enumerate()
        {
            heap.push(Reverse(Timer {
                at: t(at),
                sequence: sequence as u64,
                due,
            }));
        }
        let order: Vec<_> =
            std::iter::from_fn(|| heap.pop().map(|Reverse(timer)| timer.due)).collect();
        assert_eq!(
            order,
            [Due::Restore(0), Due::Prepare, Due::Slice, Due::Restore(1)]
        );
    }
}
