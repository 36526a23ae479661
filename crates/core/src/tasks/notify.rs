//! decide: the poll's decision, and the event it publishes (at most one per call).
//!
//! Publication is guarded by conditional writes on the job record: a terminal event is
//! claimed before it is published and marked published after, so a retried or
//! concurrent call never publishes a second, different terminal event; a progress
//! event is published and then recorded, so a failed publish is retried. Delivery is
//! at least once (as SNS's own is): each event's `EventId` lets subscribers drop a repeat.

use serde::{Deserialize, Serialize};

use super::{Ports, TaskError, load_job};
use crate::decide::{Decision, Next, Notification, Snapshot, decide};
use crate::event::{BulkEvent, EventFacts};
use crate::job::{JobPatch, JobRecord};
use crate::ports::{PortError, Tally, TerminalClaim};
use crate::status::{BatchJobStatus, JobStatus};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecideInput {
    pub job_id: String,
    pub batch_status: BatchJobStatus,
    pub tally: Tally,
}

/// What the state machine's Choice reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecideOutput {
    pub status: JobStatus,
    pub percent: u8,
    pub next: NextStep,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NextStep {
    /// `Wait`, `Reconcile` or `Stop`.
    pub action: String,
    /// Seconds to wait, for `Wait`; 0 otherwise.
    pub seconds: u64,
}

impl From<Next> for NextStep {
    fn from(next: Next) -> Self {
        let (action, seconds) = match next {
            Next::Wait(s) => ("Wait", s),
            Next::Reconcile => ("Reconcile", 0),
            Next::Stop => ("Stop", 0),
        };
        Self {
            action: action.into(),
            seconds,
        }
    }
}

pub async fn decide_and_notify(
    ports: &Ports,
    input: &DecideInput,
) -> Result<DecideOutput, TaskError> {
    let job = load_job(ports, &input.job_id).await?;
    let now = ports.clock.now();

    // A terminal event claimed by an earlier call that did not get to publish it.
    if let Some(t) = job.terminal.as_ref().filter(|t| !t.published) {
        // The percent fixed by the claim, so the retry sends the same event.
        let percent = t.percent.unwrap_or(if t.status == JobStatus::Complete {
            100
        } else {
            job.last_percent_notified
        });
        publish_terminal(
            ports,
            &job,
            &input.tally,
            Notification {
                status: t.status,
                percent,
            },
        )
        .await?;
        return Ok(stop(t.status, percent));
    }

    let snapshot = Snapshot {
        batch_status: input.batch_status,
        objects_total: job.objects_total.unwrap_or(0),
        restored: input.tally.restored,
        excluded: input.tally.excluded,
        now,
        started: job.created_at,
        deadline: job.deadline,
        last_percent_notified: job.last_percent_notified,
        terminal_sent: job.terminal.as_ref().map(|t| t.status),
        reconciled: job.reconciled,
        progress_step_percent: job.request.progress_step_percent,
    };
    let decision: Decision = decide(&snapshot);
    match decision.publish {
        Some(n) if n.status.is_terminal() => {
            let reason = (n.status == JobStatus::Timeout).then(|| {
                format!(
                    "{} of {} objects were not restored by the deadline {}",
                    snapshot
                        .objects_total
                        .saturating_sub(snapshot.restored + snapshot.excluded),
                    snapshot.objects_total,
                    job.deadline
                )
            });
            let reason = reason.or_else(|| {
                (n.status == JobStatus::Failed).then(|| {
                    job.failure_reason
                        .clone()
                        .unwrap_or_else(|| "the batch job failed".to_owned())
                })
            });
            match ports
                .jobs
                .claim_terminal(&job.job_id, n.status, n.percent, reason.as_deref(), now)
                .await
                .map_err(TaskError::from_store)?
            {
                TerminalClaim::Publish => {
                    let finished = JobRecord {
                        failure_reason: reason.or(job.failure_reason.clone()),
                        ..job.clone()
                    };
                    publish_terminal(ports, &finished, &input.tally, n).await?;
                }
                TerminalClaim::AlreadyDone(status) => return Ok(stop(status, decision.percent)),
            }
        }
        Some(n) => {
            ports
                .notifier
                .publish(&event(&job, &input.tally, n, ports))
                .await
                .map_err(publish_error)?;
            ports
                .jobs
                .claim_progress(&job.job_id, n.percent, now)
                .await
                .map_err(TaskError::from_store)?;
        }
        None => {}
    }
    if decision.status != job.status && !decision.status.is_terminal() {
        let patch = JobPatch {
            status: Some(decision.status),
            ..JobPatch::default()
        };
        ports
            .jobs
            .update(&job.job_id, &patch, now)
            .await
            .map_err(TaskError::from_store)?;
    }
    Ok(DecideOutput {
        status: decision.status,
        percent: decision.percent,
        next: decision.next.into(),
    })
}

fn stop(status: JobStatus, percent: u8) -> DecideOutput {
    DecideOutput {
        status,
        percent,
        next: Next::Stop.into(),
    }
}

/// Publishes a claimed terminal event and records that it went out.
pub(super) async fn publish_terminal(
    ports: &Ports,
    job: &JobRecord,
    tally: &Tally,
    n: Notification,
) -> Result<(), TaskError> {
    ports
        .notifier
        .publish(&event(job, tally, n, ports))
        .await
        .map_err(publish_error)?;
    ports
        .jobs
        .mark_terminal_published(&job.job_id, ports.clock.now())
        .await
        .map_err(TaskError::from_store)
}

fn event(job: &JobRecord, tally: &Tally, n: Notification, ports: &Ports) -> BulkEvent {
    let facts = EventFacts {
        job_id: &job.job_id,
        batch_job_id: job.batch_job_id.as_deref(),
        client_tag: job.request.client_tag.as_deref(),
        total: job.objects_total.unwrap_or(0),
        restored: tally.restored,
        excluded: tally.excluded,
        reason: job
            .failure_reason
            .as_deref()
            .filter(|_| n.status.is_terminal()),
    };
    BulkEvent::new(&facts, n, ports.clock.now())
}

fn publish_error(e: PortError) -> TaskError {
    match e {
        PortError::Retryable(m) => TaskError::Retryable(m),
        // A topic that refuses messages is a deployment fault; retrying lets an
        // operator fix it before the job is given up.
        other => TaskError::Retryable(format!("the event could not be published: {other}")),
    }
}
