//! decide: the poll's decision, and the event it publishes (at most one per call).
//!
//! Publication is guarded by conditional writes on the job record: a terminal event is
//! claimed before it is published and marked published after. Exactly one caller holds
//! a claim (the state machine, or one cancel request), and only the holder publishes; a
//! holder that dies before publishing loses the claim after a lease, and the next
//! caller publishes it, so a job sends one terminal event whoever ends it. A progress
//! event is published and then recorded, so a failed publish is retried. Delivery is
//! at least once (as SNS's own is): each event's `EventId` lets subscribers drop a repeat.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::{Ports, TaskError, load_job, update_job};
use crate::decide::{Decision, Next, Notification, Snapshot, decide};
use crate::event::{BulkEvent, EventFacts};
use crate::job::{JobPatch, JobRecord, STATE_MACHINE_CLAIMER, TerminalRequest, TerminalState};
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

    // A terminal event claimed (by an earlier call, or by a cancel) and not published
    // yet: publish it if the claim is ours or its holder let it lapse, else look again
    // once the holder has had its time.
    if let Some(t) = job.terminal.as_ref().filter(|t| !t.published) {
        let request = TerminalRequest {
            status: t.status,
            percent: t.percent,
            reason: None,
            claimer: STATE_MACHINE_CLAIMER,
            at: ports.clock.wall(),
        };
        return end_job(ports, &job, &input.tally, &request, now).await;
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
        progress_step_percent: job.progress_step_percent,
    };
    let decision: Decision = decide(&snapshot);
    match decision.publish {
        Some(n) if n.status.is_terminal() => {
            let reason = match n.status {
                JobStatus::Timeout => Some(format!(
                    "{} of {} objects were not restored by the deadline {}",
                    snapshot
                        .objects_total
                        .saturating_sub(snapshot.restored + snapshot.excluded),
                    snapshot.objects_total,
                    job.deadline
                )),
                JobStatus::Failed => Some(
                    job.failure_reason
                        .clone()
                        .unwrap_or_else(|| "the batch job failed".to_owned()),
                ),
                // A batch job cancelled outside the API says no more than its status.
                JobStatus::Complete | JobStatus::Cancelled | JobStatus::Restoring => None,
            };
            let request = TerminalRequest {
                status: n.status,
                percent: n.percent,
                reason: reason.as_deref(),
                claimer: STATE_MACHINE_CLAIMER,
                at: ports.clock.wall(),
            };
            return end_job(ports, &job, &input.tally, &request, now).await;
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
        update_job(ports, &job.job_id, &patch).await?;
    }
    Ok(DecideOutput {
        status: decision.status,
        percent: decision.percent,
        next: decision.next.into(),
    })
}

/// Claims the terminal event and publishes it if this call holds the claim; stops
/// when it was published already, and waits out another holder's lease.
async fn end_job(
    ports: &Ports,
    job: &JobRecord,
    tally: &Tally,
    request: &TerminalRequest<'_>,
    now: Timestamp,
) -> Result<DecideOutput, TaskError> {
    match ports
        .jobs
        .claim_terminal(&job.job_id, request, now)
        .await
        .map_err(TaskError::from_store)?
    {
        TerminalClaim::Publish(t) => {
            publish_claimed(ports, job, tally, request, &t).await?;
            Ok(stop(t.status, t.percent))
        }
        TerminalClaim::Held { status, until } => Ok(DecideOutput {
            status,
            percent: job.last_percent_notified,
            next: Next::Wait(seconds_until(request.at, until)).into(),
        }),
        TerminalClaim::AlreadyDone(status) => Ok(stop(status, job.last_percent_notified)),
    }
}

/// Whole seconds from `now` until `until`, at least one.
pub(super) fn seconds_until(now: Timestamp, until: Timestamp) -> u64 {
    let ms = until.duration_since(now).as_millis().max(0);
    u64::try_from(ms).unwrap_or(u64::MAX).div_ceil(1000).max(1)
}

fn stop(status: JobStatus, percent: u8) -> DecideOutput {
    DecideOutput {
        status,
        percent,
        next: Next::Stop.into(),
    }
}

/// Publishes the claim this caller holds. The reason asked for is the event's when the
/// claim is the one asked for; a claim taken over carries the reason stored with it.
pub(crate) async fn publish_claimed(
    ports: &Ports,
    job: &JobRecord,
    tally: &Tally,
    request: &TerminalRequest<'_>,
    claim: &TerminalState,
) -> Result<(), TaskError> {
    let reason = match request.reason {
        Some(r) if claim.status == request.status => Some(r.to_owned()),
        _ => job.failure_reason.clone(),
    };
    let job = JobRecord {
        failure_reason: reason,
        ..job.clone()
    };
    let n = Notification {
        status: claim.status,
        percent: claim.percent,
    };
    publish_terminal(ports, &job, tally, n).await
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
    // A topic that refuses messages is a deployment fault; retrying lets an operator
    // fix it before the job is given up.
    TaskError::from_port(e, |other| {
        TaskError::Retryable(format!("the event could not be published: {other}"))
    })
}
