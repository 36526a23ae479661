//! The job API tasks on the in-memory fakes: status, listing, cancel (and its races
//! with the state machine) and idempotent creates.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;
use serde_json::{Value, json};

use super::*;
use crate::event::BulkEvent;
use crate::fakes::{FakeBatch, MemoryStore, Op, World};
use crate::job::{
    JobPatch, JobRecord, STATE_MACHINE_CLAIMER, TERMINAL_CLAIM_LEASE, TerminalRequest,
};
use crate::ports::{
    BatchJobInfo, BatchJobSpec, BatchOperations, Clock, Created, Executions, JobFilter, JobStore,
    Page, PortError, PortResult, Tally, TerminalClaim,
};
use crate::status::{BatchJobStatus, JobStatus};
use crate::tasks::tests::{manifest, obj, restore_message};
use crate::tasks::*;

const BODY: &str = r#"{"bucket": "manifests-1", "key": "manifests/m.csv", "tier": "BULK",
    "expiration_days": 2, "storage_class": "GLACIER"}"#;

impl World {
    /// A job with `n` objects registered and its batch job submitted (status New).
    async fn submitted(&self, job_id: &str, n: usize) {
        self.source
            .put("manifests-1", "manifests/m.csv", manifest(n));
        self.create(job_id, json!({})).await;
        self.register_all(job_id).await;
        submit_batch_job(
            &self.ports,
            &SubmitInput {
                job_id: job_id.into(),
            },
        )
        .await
        .unwrap();
    }

    async fn list(&self, params: &[(&str, &str)]) -> Result<JobList, ApiError> {
        let query = ListQuery::from_params(params.iter().copied())?;
        list_jobs(&self.ports, &query).await
    }
}

fn ids(list: &JobList) -> Vec<&str> {
    list.jobs.iter().map(|j| j.job_id.as_str()).collect()
}

// ---- GET /jobs/{id} ----

#[tokio::test]
async fn an_unknown_job_is_a_404_naming_it() {
    let w = World::new();
    for id in ["job-none", "", &"x".repeat(500)] {
        let err = get_job(&w.ports, id).await.unwrap_err();
        assert_eq!((err.status, err.error), (404, "JobNotFound"), "{id}");
    }
    let err = get_job(&w.ports, "job-none").await.unwrap_err();
    assert!(err.message.contains("job-none"), "{}", err.message);
    let err = cancel_job(&w.ports, "job-none").await.unwrap_err();
    assert_eq!((err.status, err.error), (404, "JobNotFound"));
}

#[tokio::test]
async fn a_job_view_follows_the_job_through_its_life() {
    let w = World::new();
    w.source.put("manifests-1", "manifests/m.csv", manifest(20));
    w.create("job-1", json!({"progress_step_percent": 25}))
        .await;
    let view = get_job(&w.ports, "job-1").await.unwrap();
    assert_eq!(view.status, JobStatus::Restoring);
    assert_eq!(view.total_files, None, "not registered yet");
    assert_eq!(view.progress_percent, 0);
    assert_eq!(view.batch_job_id, None);
    assert_eq!(view.last_event, None);
    assert_eq!(view.client_tag.as_deref(), Some("team-a"));
    assert!(view.execution_arn.as_deref().unwrap().ends_with(":job-1"));

    w.register_all("job-1").await;
    submit_batch_job(
        &w.ports,
        &SubmitInput {
            job_id: "job-1".into(),
        },
    )
    .await
    .unwrap();
    w.set_batch("job-1", BatchJobStatus::Active);
    let keys: Vec<_> = (0..9).map(|i| obj(&format!("k{i:03} x"))).collect();
    handle_restore_messages(&w.ports, &[restore_message("m", &keys)]).await;
    w.poll_tally_decide("job-1").await;
    let view = get_job(&w.ports, "job-1").await.unwrap();
    assert_eq!(
        (view.total_files, view.restored_files, view.progress_percent),
        (Some(20), 9, 45)
    );
    assert_eq!(view.batch_job_id, Some(FakeBatch::batch_id("job-1")));
    assert_eq!(view.batch_job_status, Some(BatchJobStatus::Active));
    assert_eq!(
        view.last_event,
        Some(LastEvent {
            status: JobStatus::Restoring,
            progress_percent: 45
        })
    );

    // All back but the batch job not finished: 99, never 100 before Complete.
    let rest: Vec<_> = (9..20).map(|i| obj(&format!("k{i:03} x"))).collect();
    handle_restore_messages(&w.ports, &[restore_message("n", &rest)]).await;
    assert_eq!(
        get_job(&w.ports, "job-1").await.unwrap().progress_percent,
        99
    );
    w.set_batch("job-1", BatchJobStatus::Complete);
    w.poll_tally_decide("job-1").await;
    let view = get_job(&w.ports, "job-1").await.unwrap();
    assert_eq!(
        (view.status, view.progress_percent),
        (JobStatus::Complete, 100)
    );
    assert_eq!(
        view.last_event,
        Some(LastEvent {
            status: JobStatus::Complete,
            progress_percent: 100
        })
    );
}

#[tokio::test]
async fn the_view_is_pascal_case_with_numbers_for_counts() {
    let w = World::new();
    w.submitted("job-1", 4).await;
    handle_restore_messages(&w.ports, &[restore_message("m", &[obj("k000 x")])]).await;
    let json = serde_json::to_value(get_job(&w.ports, "job-1").await.unwrap()).unwrap();
    let keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for key in [
        "JobId",
        "Status",
        "BatchJobId",
        "BatchJobStatus",
        "TotalFiles",
        "RestoredFiles",
        "FailedBatchFiles",
        "ProgressPercent",
        "Tier",
        "ClientTag",
        "CreatedAt",
        "UpdatedAt",
        "Deadline",
        "ExecutionArn",
        "LastEvent",
        "FailureReason",
    ] {
        assert!(keys.contains(&key), "{key} missing from {json}");
    }
    assert_eq!(json["Status"], "Restoring");
    assert_eq!(json["BatchJobStatus"], Value::Null, "not polled yet");
    assert_eq!(json["Tier"], "BULK");
    assert_eq!(json["TotalFiles"], 4);
    assert_eq!(json["RestoredFiles"], 1);
    assert_eq!(json["FailedBatchFiles"], 0);
    assert_eq!(json["ProgressPercent"], 25);
    assert_eq!(json["LastEvent"], Value::Null);
    assert_eq!(json["CreatedAt"], "2027-01-15T08:00:00Z");
    let back: JobView = serde_json::from_value(json).unwrap();
    assert_eq!(back.job_id, "job-1");
}

// ---- GET /jobs ----

/// Five jobs a minute apart: job-0 (oldest) … job-4 (newest); odd ones tagged team-b,
/// job-1 failed.
async fn five_jobs(w: &World) {
    for i in 0..5 {
        let tag = if i % 2 == 1 { "team-b" } else { "team-a" };
        w.create(&format!("job-{i}"), json!({"client_tag": tag}))
            .await;
        w.clock.advance(Duration::from_secs(60));
    }
    w.store
        .claim_terminal(
            "job-1",
            &TerminalRequest {
                status: JobStatus::Failed,
                percent: 0,
                reason: None,
                claimer: STATE_MACHINE_CLAIMER,
                at: w.clock.now(),
            },
            w.clock.now(),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn listing_is_newest_first_and_pages_with_tokens() {
    let w = World::new();
    five_jobs(&w).await;
    let all = w.list(&[]).await.unwrap();
    assert_eq!(ids(&all), ["job-4", "job-3", "job-2", "job-1", "job-0"]);
    assert_eq!(all.next_token, None);

    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut params = vec![("limit", "2")];
        if let Some(t) = &token {
            params.push(("next_token", t));
        }
        let page = w.list(&params).await.unwrap();
        pages += 1;
        assert!(page.jobs.len() <= 2);
        seen.extend(ids(&page).into_iter().map(str::to_owned));
        match page.next_token {
            Some(t) => token = Some(t),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, ["job-4", "job-3", "job-2", "job-1", "job-0"]);

    // A job created after the first page does not shift the pages after it.
    let first = w.list(&[("limit", "2")]).await.unwrap();
    w.create("job-5", json!({})).await;
    let second = w
        .list(&[
            ("limit", "2"),
            ("next_token", first.next_token.as_deref().unwrap()),
        ])
        .await
        .unwrap();
    assert_eq!(ids(&second), ["job-2", "job-1"]);
}

#[tokio::test]
async fn listing_filters_by_client_tag_and_status() {
    let w = World::new();
    five_jobs(&w).await;
    let b = w.list(&[("client_tag", "team-b")]).await.unwrap();
    assert_eq!(ids(&b), ["job-3", "job-1"]);
    let failed = w.list(&[("status", "failed")]).await.unwrap();
    assert_eq!(ids(&failed), ["job-1"]);
    assert_eq!(failed.jobs[0].status, JobStatus::Failed);
    let restoring_b = w
        .list(&[("client_tag", "team-b"), ("status", "Restoring")])
        .await
        .unwrap();
    assert_eq!(ids(&restoring_b), ["job-3"]);
    let page = w
        .list(&[("client_tag", "team-a"), ("limit", "1")])
        .await
        .unwrap();
    assert_eq!(ids(&page), ["job-4"]);
    let rest = w
        .list(&[
            ("client_tag", "team-a"),
            ("next_token", page.next_token.as_deref().unwrap()),
        ])
        .await
        .unwrap();
    assert_eq!(ids(&rest), ["job-2", "job-0"]);
    assert!(
        w.list(&[("client_tag", "nobody")])
            .await
            .unwrap()
            .jobs
            .is_empty()
    );
}

#[tokio::test]
async fn listing_refuses_bad_parameters_naming_each() {
    let w = World::new();
    five_jobs(&w).await;
    let default = w.list(&[]).await.unwrap();
    assert_eq!(default.jobs.len(), 5);
    assert!(w.list(&[("limit", "100")]).await.is_ok());
    for (params, field) in [
        (vec![("status", "Canceled")], "status"),
        (vec![("limit", "0")], "limit"),
        (vec![("limit", "101")], "limit"),
        (vec![("limit", "ten")], "limit"),
        (vec![("next_token", "not-a-token")], "next_token"),
        (vec![("client_tag", "")], "client_tag"),
        (vec![("clientTag", "team-a")], "clientTag"),
        (vec![("limit", "1"), ("limit", "2")], "limit"),
    ] {
        let err = w.list(&params).await.unwrap_err();
        assert_eq!(
            (err.status, err.error),
            (400, "InvalidRequest"),
            "{params:?}"
        );
        assert_eq!(err.fields.len(), 1, "{params:?}: {err:?}");
        assert_eq!(err.fields[0].field, field);
        assert!(err.message.contains(field), "{}", err.message);
    }
    let err = w
        .list(&[("status", "x"), ("limit", "-1")])
        .await
        .unwrap_err();
    assert_eq!(err.fields.len(), 2, "every problem at once");
}

// ---- POST /jobs/{id}/cancel ----

#[tokio::test]
async fn cancel_publishes_cancelled_once_and_stops_everything() {
    let w = World::new();
    w.submitted("job-1", 4).await;
    w.set_batch("job-1", BatchJobStatus::Active);
    handle_restore_messages(&w.ports, &[restore_message("m", &[obj("k000 x")])]).await;

    let view = cancel_job(&w.ports, "job-1").await.unwrap();
    assert_eq!(view.status, JobStatus::Cancelled);
    assert_eq!(view.batch_job_status, Some(BatchJobStatus::Cancelling));
    assert_eq!(
        view.last_event,
        Some(LastEvent {
            status: JobStatus::Cancelled,
            progress_percent: 25
        })
    );
    assert_eq!(view.failure_reason.as_deref(), Some(CANCEL_REASON));
    assert_eq!(
        *w.batch.cancelled.lock().unwrap(),
        [FakeBatch::batch_id("job-1")]
    );
    let arn = view.execution_arn.clone().unwrap();
    assert_eq!(*w.executions.stopped.lock().unwrap(), [arn]);
    let events = w.notifier.events();
    assert_eq!(events.len(), 1);
    assert_eq!(
        (
            events[0].status.as_str(),
            events[0].progress_percent.as_str()
        ),
        ("Cancelled", "25")
    );
    assert_eq!(events[0].batch_job_id, FakeBatch::batch_id("job-1"));
    assert_eq!(events[0].reason, CANCEL_REASON);

    // Again: 409 with the status, nothing more sent.
    let err = cancel_job(&w.ports, "job-1").await.unwrap_err();
    assert_eq!((err.status, err.error), (409, "JobFinished"));
    assert_eq!(err.job_status, Some(JobStatus::Cancelled));
    assert!(err.message.contains("Cancelled"), "{}", err.message);

    // The state machine's later polls stop quietly, even if everything comes back.
    let rest: Vec<_> = (1..4).map(|i| obj(&format!("k{i:03} x"))).collect();
    handle_restore_messages(&w.ports, &[restore_message("n", &rest)]).await;
    w.set_batch("job-1", BatchJobStatus::Complete);
    let d = w.poll_tally_decide("job-1").await;
    assert_eq!(
        (d.status, d.next.action.as_str()),
        (JobStatus::Cancelled, "Stop")
    );
    let failure = FailureInput {
        job_id: "job-1".into(),
        error: StepFunctionsError {
            error: "States.Timeout".into(),
            cause: String::new(),
        },
    };
    assert_eq!(
        record_failure(&w.ports, &failure).await.unwrap().status,
        JobStatus::Cancelled
    );
    assert_eq!(w.events(), [("Cancelled".into(), "25".into())]);
}

#[tokio::test]
async fn a_job_cancelled_before_its_batch_job_never_gets_one() {
    let w = World::new();
    w.source.put("manifests-1", "manifests/m.csv", manifest(3));
    w.create("job-1", json!({})).await;
    w.register_all("job-1").await;
    let view = cancel_job(&w.ports, "job-1").await.unwrap();
    assert_eq!(
        (view.status, view.batch_job_id),
        (JobStatus::Cancelled, None)
    );
    assert!(w.batch.cancelled.lock().unwrap().is_empty());
    assert_eq!(w.executions.stopped.lock().unwrap().len(), 1);
    // Had the execution gone on (its stop failed), submission refuses to start work.
    let err = submit_batch_job(
        &w.ports,
        &SubmitInput {
            job_id: "job-1".into(),
        },
    )
    .await
    .unwrap_err();
    assert_eq!(crate::ErrorName::error_name(&err), "JobEnded");
    assert!(w.batch.submitted.lock().unwrap().is_empty());
    assert_eq!(w.events(), [("Cancelled".into(), "0".into())]);
}

/// Batch Operations whose job creation lets a cancel claim the job first, as a cancel
/// running while the submitter (or register-manifest, for a filter) waits for S3 would.
pub(crate) struct CancelledDuringSubmit {
    pub(crate) inner: Arc<FakeBatch>,
    pub(crate) jobs: Arc<MemoryStore>,
}

#[async_trait]
impl BatchOperations for CancelledDuringSubmit {
    async fn create_job(&self, spec: &BatchJobSpec) -> PortResult<String> {
        let now = World::START;
        crate::ports::JobStore::claim_terminal(
            self.jobs.as_ref(),
            &spec.job_id,
            &TerminalRequest {
                status: JobStatus::Cancelled,
                percent: 0,
                reason: Some(CANCEL_REASON),
                claimer: "cancel/during-submit",
                at: now,
            },
            now,
        )
        .await?;
        self.inner.create_job(spec).await
    }
    async fn describe_job(&self, batch_job_id: &str) -> PortResult<BatchJobInfo> {
        self.inner.describe_job(batch_job_id).await
    }
    async fn confirm_job(&self, batch_job_id: &str) -> PortResult<()> {
        self.inner.confirm_job(batch_job_id).await
    }
    async fn cancel_job(&self, batch_job_id: &str) -> PortResult<()> {
        self.inner.cancel_job(batch_job_id).await
    }
}

#[tokio::test]
async fn a_batch_job_created_while_the_job_was_cancelled_is_cancelled_by_its_submitter() {
    let mut w = World::new();
    w.source.put("manifests-1", "manifests/m.csv", manifest(2));
    w.create("job-1", json!({})).await;
    w.register_all("job-1").await;
    w.ports.batch = Arc::new(CancelledDuringSubmit {
        inner: w.batch.clone(),
        jobs: w.store.clone(),
    });
    let out = submit_batch_job(
        &w.ports,
        &SubmitInput {
            job_id: "job-1".into(),
        },
    )
    .await
    .unwrap();
    assert_eq!(*w.batch.cancelled.lock().unwrap(), [out.batch_job_id]);
}

#[tokio::test]
async fn cancel_loses_to_a_complete_claimed_first() {
    let w = World::new();
    w.submitted("job-1", 1).await;
    w.set_batch("job-1", BatchJobStatus::Complete);
    handle_restore_messages(&w.ports, &[restore_message("m", &[obj("k000 x")])]).await;
    // Decide claims Complete, then fails to publish it.
    w.notifier
        .faults
        .fail_next(Op::Publish, PortError::Retryable("SNS down".into()));
    let input = DecideInput {
        job_id: "job-1".into(),
        batch_status: BatchJobStatus::Complete,
        tally: Tally {
            restored: 1,
            excluded: 0,
        },
    };
    decide_and_notify(&w.ports, &input).await.unwrap_err();
    let err = cancel_job(&w.ports, "job-1").await.unwrap_err();
    assert_eq!((err.status, err.error), (409, "JobFinished"));
    assert_eq!(err.job_status, Some(JobStatus::Complete));
    assert!(w.batch.cancelled.lock().unwrap().is_empty());
    assert!(w.executions.stopped.lock().unwrap().is_empty());
    decide_and_notify(&w.ports, &input).await.unwrap();
    assert_eq!(w.events(), [("Complete".into(), "100".into())]);
}

#[tokio::test]
async fn a_complete_after_a_cancel_is_never_sent() {
    let w = World::new();
    w.submitted("job-1", 2).await;
    cancel_job(&w.ports, "job-1").await.unwrap();
    let keys = [obj("k000 x"), obj("k001 x")];
    handle_restore_messages(&w.ports, &[restore_message("m", &keys)]).await;
    let d = decide_and_notify(
        &w.ports,
        &DecideInput {
            job_id: "job-1".into(),
            batch_status: BatchJobStatus::Complete,
            tally: Tally {
                restored: 2,
                excluded: 0,
            },
        },
    )
    .await
    .unwrap();
    assert_eq!(
        (d.status, d.next.action.as_str()),
        (JobStatus::Cancelled, "Stop")
    );
    assert_eq!(w.events(), [("Cancelled".into(), "0".into())]);
    assert_eq!(
        w.store.job("job-1").unwrap().status,
        JobStatus::Cancelled,
        "the record keeps the claimed status"
    );
}

#[tokio::test]
async fn cancel_succeeds_when_the_batch_job_or_the_execution_cannot_be_stopped() {
    for (batch_error, stop_error) in [
        (
            PortError::Conflict("job already complete".into()),
            PortError::NotFound("execution".into()),
        ),
        (
            PortError::Retryable("throttled".into()),
            PortError::Retryable("throttled".into()),
        ),
    ] {
        let w = World::new();
        w.submitted("job-1", 2).await;
        w.batch.faults.fail_next(Op::BatchCancelJob, batch_error);
        w.executions.faults.fail_next(Op::ExecutionStop, stop_error);
        let view = cancel_job(&w.ports, "job-1").await.unwrap();
        assert_eq!(view.status, JobStatus::Cancelled);
        // Not accepted by S3: the last polled status stays.
        assert_eq!(view.batch_job_status, None);
        assert_eq!(w.events(), [("Cancelled".into(), "0".into())]);
        // The execution goes on, and stops quietly at its next Decide.
        w.set_batch("job-1", BatchJobStatus::Active);
        assert_eq!(w.poll_tally_decide("job-1").await.next.action, "Stop");
        assert_eq!(w.events().len(), 1);
    }
}

#[tokio::test]
async fn a_cancel_whose_event_failed_is_published_once_after_its_lease() {
    for retry_with_cancel in [true, false] {
        let w = World::new();
        w.submitted("job-1", 2).await;
        w.notifier
            .faults
            .fail_next(Op::Publish, PortError::Retryable("SNS down".into()));
        let err = cancel_job(&w.ports, "job-1").await.unwrap_err();
        assert_eq!((err.status, err.error), (503, "ServiceUnavailable"));
        assert!(
            err.message.contains("has ended as Cancelled"),
            "{}",
            err.message
        );
        assert!(
            w.executions.stopped.lock().unwrap().is_empty(),
            "left running to publish"
        );
        // Within the claim's lease its holder may still be publishing: nobody else does.
        let err = cancel_job(&w.ports, "job-1").await.unwrap_err();
        assert_eq!(
            (err.status, err.error, err.job_status),
            (409, "JobFinished", Some(JobStatus::Cancelled))
        );
        let d = w.poll_tally_decide("job-1").await;
        assert_eq!(d.next.action, "Wait");
        assert!((1..=60).contains(&d.next.seconds), "{d:?}");
        assert!(w.events().is_empty());

        w.clock.advance(TERMINAL_CLAIM_LEASE);
        if retry_with_cancel {
            let view = cancel_job(&w.ports, "job-1").await.unwrap();
            assert_eq!(view.status, JobStatus::Cancelled);
        } else {
            assert_eq!(w.poll_tally_decide("job-1").await.next.action, "Stop");
        }
        w.poll_tally_decide("job-1").await;
        assert_eq!(w.events(), [("Cancelled".into(), "0".into())]);
        assert_eq!(
            cancel_job(&w.ports, "job-1").await.unwrap_err().error,
            "JobFinished"
        );
    }
}

#[tokio::test]
async fn concurrent_cancels_publish_one_cancelled_event() {
    let mut w = World::new();
    w.submitted("job-1", 3).await;
    w.set_batch("job-1", BatchJobStatus::Active);
    w.ports.jobs = Arc::new(Yielding(w.store.clone()));
    let cancels = (0..50).map(|_| cancel_job(&w.ports, "job-1"));
    let answers = futures_util::future::join_all(cancels).await;
    let (won, lost): (Vec<_>, Vec<_>) = answers.into_iter().partition(Result::is_ok);
    assert_eq!(won.len(), 1, "exactly one cancel wins");
    for answer in lost {
        let err = answer.unwrap_err();
        assert_eq!(
            (err.status, err.error, err.job_status),
            (409, "JobFinished", Some(JobStatus::Cancelled))
        );
    }
    assert_eq!(w.events(), [("Cancelled".into(), "0".into())]);
    assert_eq!(w.batch.cancelled.lock().unwrap().len(), 1);
    assert_eq!(w.executions.stopped.lock().unwrap().len(), 1);
}

/// A cancel that claimed the job and died before publishing (a Lambda timeout): the
/// state machine waits out the claim's lease, then publishes the claimed event once.
#[tokio::test]
async fn a_claim_whose_holder_died_is_published_once_by_the_state_machine() {
    let w = World::new();
    w.submitted("job-1", 2).await;
    let dead = TerminalRequest {
        status: JobStatus::Cancelled,
        percent: 0,
        reason: Some(CANCEL_REASON),
        claimer: "cancel/died",
        at: w.clock.now(),
    };
    let claim = w
        .store
        .claim_terminal("job-1", &dead, w.clock.now())
        .await
        .unwrap();
    assert!(matches!(claim, TerminalClaim::Publish(_)), "{claim:?}");

    let failure = FailureInput {
        job_id: "job-1".into(),
        error: StepFunctionsError {
            error: "States.Timeout".into(),
            cause: String::new(),
        },
    };
    let held = record_failure(&w.ports, &failure).await.unwrap();
    assert_eq!(held.status, JobStatus::Cancelled);
    assert_eq!(held.wait_seconds, 60);
    w.set_batch("job-1", BatchJobStatus::Active);
    assert_eq!(w.poll_tally_decide("job-1").await.next.action, "Wait");
    assert!(w.events().is_empty());

    w.clock.advance(Duration::from_secs(held.wait_seconds));
    let recorded = record_failure(&w.ports, &failure).await.unwrap();
    assert_eq!(
        (recorded.status, recorded.wait_seconds),
        (JobStatus::Cancelled, 0)
    );
    assert_eq!(w.poll_tally_decide("job-1").await.next.action, "Stop");
    assert_eq!(w.events(), [("Cancelled".into(), "0".into())]);
    let job = w.store.job("job-1").unwrap();
    assert_eq!(job.failure_reason.as_deref(), Some(CANCEL_REASON));
    assert!(job.terminal.unwrap().published);
}

// ---- idempotent create ----

async fn create(
    w: &World,
    body: &str,
    key: Option<&str>,
    fresh: &str,
) -> Result<CreateJobResponse, ApiError> {
    if !w.source.contains("manifests-1", "manifests/m.csv") {
        w.source.put("manifests-1", "manifests/m.csv", manifest(1));
    }
    create_job(&w.ports, &w.settings, body.as_bytes(), key, fresh).await
}

fn with_token(token: &str) -> String {
    let mut body: Value = serde_json::from_str(BODY).unwrap();
    body["client_token"] = json!(token);
    body.to_string()
}

#[tokio::test]
async fn a_token_returns_the_same_job_for_the_same_request() {
    let w = World::new();
    let first = create(&w, &with_token("retry-1"), None, "fresh-1")
        .await
        .unwrap();
    assert_eq!(
        first.bulk_job_id,
        crate::idempotency::job_id_for_token("retry-1")
    );
    // The same request spelled differently, later, under another fresh id.
    w.clock.advance(Duration::from_secs(30));
    let body = r#"{"client_token": "retry-1", "storage_class": "glacier", "tier": "bulk",
        "expiration_days": 2, "key": "manifests/m.csv", "bucket": "manifests-1"}"#;
    let again = create(&w, body, None, "fresh-2").await.unwrap();
    assert_eq!(again, first);
    assert_eq!(w.executions.started.lock().unwrap().len(), 1);
    let job = w.store.job(&first.bulk_job_id).unwrap();
    assert_eq!(
        job.request_fingerprint.as_deref(),
        Some(crate::idempotency::fingerprint(&job.request).as_str())
    );
    assert!(w.store.job("fresh-1").is_none());

    // Through the header: the same token, the same job.
    let header = create(&w, BODY, Some("retry-1"), "fresh-3").await.unwrap();
    assert_eq!(header, first);

    // Without a token every create is a new job.
    let a = create(&w, BODY, None, "fresh-4").await.unwrap();
    let b = create(&w, BODY, None, "fresh-5").await.unwrap();
    assert_eq!(
        (a.bulk_job_id.as_str(), b.bulk_job_id.as_str()),
        ("fresh-4", "fresh-5")
    );
    assert_eq!(w.executions.started.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn a_token_reused_for_another_request_is_a_conflict() {
    let w = World::new();
    let first = create(&w, &with_token("t-1"), None, "fresh-1")
        .await
        .unwrap();
    let mut other: Value = serde_json::from_str(&with_token("t-1")).unwrap();
    other["expiration_days"] = json!(5);
    let err = create(&w, &other.to_string(), None, "fresh-2")
        .await
        .unwrap_err();
    assert_eq!((err.status, err.error), (409, "IdempotencyConflict"));
    assert_eq!(err.job_id.as_deref(), Some(first.bulk_job_id.as_str()));
    assert!(err.message.contains("new token"), "{}", err.message);
    let err = create(&w, &other.to_string().replace("t-1", "x"), Some("t-1"), "f")
        .await
        .unwrap_err();
    assert_eq!(err.error, "IdempotencyKeyMismatch");
    assert_eq!(w.executions.started.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn the_header_must_be_a_valid_token_and_agree_with_the_body() {
    let w = World::new();
    let err = create(&w, &with_token("a"), Some("b"), "fresh-1")
        .await
        .unwrap_err();
    assert_eq!((err.status, err.error), (400, "IdempotencyKeyMismatch"));
    let err = create(&w, BODY, Some("has spaces"), "fresh-1")
        .await
        .unwrap_err();
    assert_eq!((err.status, err.error), (400, "InvalidRequest"));
    assert_eq!(err.fields[0].field, "Idempotency-Key");
    assert!(
        create(&w, &with_token("a"), Some("a"), "fresh-1")
            .await
            .is_ok()
    );
    assert!(w.store.job("fresh-1").is_none());
}

#[tokio::test]
async fn a_token_retry_after_a_failed_start_starts_the_execution() {
    let w = World::new();
    w.executions
        .faults
        .fail_next(Op::ExecutionStart, PortError::Retryable("throttled".into()));
    let err = create(&w, &with_token("t"), None, "f1").await.unwrap_err();
    assert_eq!(err.status, 503);
    let ok = create(&w, &with_token("t"), None, "f2").await.unwrap();
    assert!(!ok.execution_arn.is_empty());
    assert_eq!(
        w.store.job(&ok.bulk_job_id).unwrap().execution_arn,
        Some(ok.execution_arn)
    );
}

#[tokio::test]
async fn a_retried_create_of_a_cancelled_job_starts_nothing() {
    let w = World::new();
    // The ARN is not recorded (the update fails), then the job is cancelled.
    w.store
        .faults
        .fail_next(Op::JobUpdate, PortError::Retryable("throttled".into()));
    let first = create(&w, &with_token("t"), None, "f1").await.unwrap();
    assert_eq!(w.store.job(&first.bulk_job_id).unwrap().execution_arn, None);
    cancel_job(&w.ports, &first.bulk_job_id).await.unwrap();
    w.executions.started.lock().unwrap().clear();
    let again = create(&w, &with_token("t"), None, "f2").await.unwrap();
    assert_eq!(again.bulk_job_id, first.bulk_job_id);
    assert_eq!(again.execution_arn, "");
    assert!(w.executions.started.lock().unwrap().is_empty());
}

/// A port wrapper that yields before every call, so concurrent futures interleave at
/// each call as they would against a real service.
struct Yielding<T: ?Sized>(Arc<T>);

#[async_trait]
impl<T: crate::ports::JobStore + ?Sized> crate::ports::JobStore for Yielding<T> {
    async fn create(&self, job: &JobRecord) -> PortResult<Created> {
        tokio::task::yield_now().await;
        self.0.create(job).await
    }
    async fn get(&self, job_id: &str) -> PortResult<Option<JobRecord>> {
        tokio::task::yield_now().await;
        self.0.get(job_id).await
    }
    async fn update(&self, job_id: &str, patch: &JobPatch, now: Timestamp) -> PortResult<()> {
        tokio::task::yield_now().await;
        self.0.update(job_id, patch, now).await
    }
    async fn tally(&self, job_id: &str) -> PortResult<Tally> {
        tokio::task::yield_now().await;
        self.0.tally(job_id).await
    }
    async fn claim_progress(&self, job_id: &str, percent: u8, now: Timestamp) -> PortResult<bool> {
        tokio::task::yield_now().await;
        self.0.claim_progress(job_id, percent, now).await
    }
    async fn claim_terminal(
        &self,
        job_id: &str,
        request: &TerminalRequest<'_>,
        now: Timestamp,
    ) -> PortResult<TerminalClaim> {
        tokio::task::yield_now().await;
        self.0.claim_terminal(job_id, request, now).await
    }
    async fn mark_terminal_published(&self, job_id: &str, now: Timestamp) -> PortResult<()> {
        tokio::task::yield_now().await;
        self.0.mark_terminal_published(job_id, now).await
    }
    async fn list(
        &self,
        filter: &JobFilter,
        after: Option<&str>,
        limit: usize,
    ) -> PortResult<Page<JobRecord>> {
        tokio::task::yield_now().await;
        self.0.list(filter, after, limit).await
    }
}

#[async_trait]
impl<T: Executions + ?Sized> Executions for Yielding<T> {
    async fn start(&self, name: &str, input: &Value) -> PortResult<String> {
        tokio::task::yield_now().await;
        self.0.start(name, input).await
    }
    async fn stop(&self, arn: &str, error: &str, cause: &str) -> PortResult<()> {
        tokio::task::yield_now().await;
        self.0.stop(arn, error, cause).await
    }
}

#[tokio::test]
async fn two_concurrent_identical_creates_get_the_same_job() {
    let mut w = World::new();
    w.ports.jobs = Arc::new(Yielding(w.store.clone()));
    w.ports.executions = Arc::new(Yielding(w.executions.clone()));
    let body = with_token("double-click");
    let (a, b) = tokio::join!(
        create(&w, &body, None, "fresh-a"),
        create(&w, &body, None, "fresh-b")
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a, b);
    assert_eq!(w.executions.started.lock().unwrap().len(), 1);
    assert!(w.store.job("fresh-a").is_none() && w.store.job("fresh-b").is_none());

    // Concurrent and different: one wins, the other is told why.
    let mut other: Value = serde_json::from_str(&with_token("race-2")).unwrap();
    other["tier"] = json!("STANDARD");
    let (first, second) = (with_token("race-2"), other.to_string());
    let (a, b) = tokio::join!(
        create(&w, &first, None, "fresh-c"),
        create(&w, &second, None, "fresh-d")
    );
    // tokio::join! rotates which future it polls first, so either may win.
    let (won, lost) = match (a, b) {
        (Ok(won), Err(lost)) | (Err(lost), Ok(won)) => (won, lost),
        other => panic!("one create must win and one lose: {other:?}"),
    };
    assert_eq!(lost.error, "IdempotencyConflict");
    assert_eq!(lost.job_id, Some(won.bulk_job_id));
}

/// A check that the bulk event's fields are what the view reports as the last event.
#[tokio::test]
async fn the_last_event_is_the_event_published() {
    let w = World::new();
    w.submitted("job-1", 10).await;
    w.set_batch("job-1", BatchJobStatus::Failed);
    let keys: Vec<_> = (0..3).map(|i| obj(&format!("k{i:03} x"))).collect();
    handle_restore_messages(&w.ports, &[restore_message("m", &keys)]).await;
    w.poll_tally_decide("job-1").await;
    let published: BulkEvent = w.notifier.events().pop().unwrap();
    let view = get_job(&w.ports, "job-1").await.unwrap();
    let last = view.last_event.unwrap();
    assert_eq!(last.status.as_str(), published.status);
    assert_eq!(
        last.progress_percent.to_string(),
        published.progress_percent
    );
    assert_eq!(
        (last.status, last.progress_percent),
        (JobStatus::Failed, 30)
    );
}

#[tokio::test]
async fn a_new_default_step_does_not_turn_a_retry_into_a_conflict() {
    let mut w = World::new();
    let first = create(&w, &with_token("t-1"), None, "fresh-1")
        .await
        .unwrap();
    // The deployment's default changes between the first try and the retry.
    w.settings.default_progress_step_percent = 25;
    let again = create(&w, &with_token("t-1"), None, "fresh-2")
        .await
        .unwrap();
    assert_eq!(again, first);
    let job = w.store.job(&first.bulk_job_id).unwrap();
    assert_eq!(job.request.progress_step_percent, None);
    assert_eq!(
        job.progress_step_percent, 10,
        "the default when it was created"
    );

    let fresh = create(&w, BODY, None, "fresh-3").await.unwrap();
    let job = w.store.job(&fresh.bulk_job_id).unwrap();
    assert_eq!(job.progress_step_percent, 25);
}

// ---- POST /create-job: what is checked at once ----

#[tokio::test]
async fn a_missing_manifest_is_refused_at_once_naming_it() {
    let w = World::new();
    let err = create_job(&w.ports, &w.settings, BODY.as_bytes(), None, "fresh-1")
        .await
        .unwrap_err();
    assert_eq!((err.status, err.error), (400, "ManifestNotFound"));
    assert!(
        err.message
            .contains("s3://manifests-1/manifests/m.csv does not exist"),
        "{}",
        err.message
    );
    assert_eq!(err.fields[0].field, "key");
    assert!(
        w.ports.jobs.get("fresh-1").await.unwrap().is_none(),
        "no job recorded"
    );
    assert!(w.executions.started.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_manifest_bucket_outside_the_deployment_is_refused_naming_the_allowed_ones() {
    let mut w = World::new();
    w.settings.allowed_buckets = Some(vec!["photos-1".into(), "lists".into()]);
    w.source.put("manifests-1", "manifests/m.csv", manifest(1));
    let err = create_job(&w.ports, &w.settings, BODY.as_bytes(), None, "fresh-1")
        .await
        .unwrap_err();
    assert_eq!((err.status, err.error), (400, "InvalidRequest"));
    assert_eq!(err.fields[0].field, "bucket");
    assert!(
        err.fields[0].message.contains("\"manifests-1\"")
            && err.fields[0].message.contains("photos-1, lists"),
        "{}",
        err.fields[0].message
    );
    assert!(w.ports.jobs.get("fresh-1").await.unwrap().is_none());
}

#[tokio::test]
async fn a_manifest_that_cannot_be_checked_is_a_503_or_a_400_by_whether_trying_again_helps() {
    let w = World::new();
    w.source.put("manifests-1", "manifests/m.csv", manifest(1));
    w.source
        .faults
        .fail_next(Op::SourceHead, PortError::Retryable("SlowDown".into()));
    let err = create_job(&w.ports, &w.settings, BODY.as_bytes(), None, "fresh-1")
        .await
        .unwrap_err();
    assert_eq!((err.status, err.error), (503, "ServiceUnavailable"));
    w.source
        .faults
        .fail_next(Op::SourceHead, PortError::Rejected("AccessDenied".into()));
    let err = create_job(&w.ports, &w.settings, BODY.as_bytes(), None, "fresh-1")
        .await
        .unwrap_err();
    assert_eq!((err.status, err.error), (400, "ManifestUnreadable"));
    assert!(err.message.contains("AccessDenied"), "{}", err.message);
    assert!(w.ports.jobs.get("fresh-1").await.unwrap().is_none());
    // Once it can be read, the same request creates the job.
    create_job(&w.ports, &w.settings, BODY.as_bytes(), None, "fresh-1")
        .await
        .unwrap();
    assert!(w.ports.jobs.get("fresh-1").await.unwrap().is_some());
}

// ---- POST /estimate ----

#[tokio::test]
async fn an_estimate_counts_distinct_objects_prices_both_tiers_and_creates_nothing() {
    let mut w = World::new();
    // Small reads, so the count crosses many range boundaries.
    w.settings.read_chunk_bytes = 100;
    let mut body = manifest(2000);
    body.push_str("photos-1,k000%20x\r\n");
    w.source.put("manifests-1", "manifests/m.csv", body);
    let estimate = estimate_job(&w.ports, &w.settings, BODY.as_bytes())
        .await
        .unwrap();
    let json = serde_json::to_value(&estimate).unwrap();
    assert_eq!(json["objects"], 2000, "the repeated row counts once");
    assert_eq!(
        json["bytes"],
        Value::Null,
        "a CSV manifest carries no sizes"
    );
    // 2,000 Glacier objects, STANDARD: requests 2000 / 1000 × 0.05 = 0.10; Batch
    // Operations 0.25 + 2000 / 1e6 × 1.00 = 0.252; overhead 0.08698 + 2000 × 4.45e-6
    // = 0.09588; total 0.44788. BULK: no request fee, so 0.34788.
    let standard = &json["tiers"]["STANDARD"];
    assert_eq!(standard["restore_requests_usd"], 0.1);
    assert_eq!(standard["batch_operations_usd"], 0.252);
    assert_eq!(standard["total_usd"], 0.4479);
    assert_eq!(standard["retrieval_usd"], Value::Null);
    assert_eq!(
        standard["excludes"],
        json!(["retrieval", "restored_storage"])
    );
    assert_eq!(json["tiers"]["BULK"]["total_usd"], 0.3479);
    // The request's tier (BULK) and class (GLACIER): 5 to 12 hours.
    assert_eq!(json["completion_window_hours"], json!([5, 12]));
    assert_eq!(json["prices"]["region"], "us-east-1");

    assert!(w.executions.started.lock().unwrap().is_empty());
    let jobs = w.list(&[]).await.unwrap();
    assert!(jobs.jobs.is_empty(), "an estimate records no job");
}

#[tokio::test]
async fn an_estimate_refuses_what_create_would_and_what_registration_would() {
    let w = World::new();
    let err = estimate_job(&w.ports, &w.settings, br#"{"bucket": "manifests-1"}"#)
        .await
        .unwrap_err();
    assert_eq!((err.status, err.error), (400, "InvalidRequest"));
    assert!(err.fields.iter().any(|f| f.field == "tier"));

    let err = estimate_job(&w.ports, &w.settings, BODY.as_bytes())
        .await
        .unwrap_err();
    assert_eq!((err.status, err.error), (400, "ManifestNotFound"));

    w.source.put(
        "manifests-1",
        "manifests/m.csv",
        "photos-1,a\r\nphotos-1\r\nphotos-1,b\r\n",
    );
    let err = estimate_job(&w.ports, &w.settings, BODY.as_bytes())
        .await
        .unwrap_err();
    assert_eq!((err.status, err.error), (400, "ManifestMalformed"));
    assert!(err.message.contains("line 2"), "{}", err.message);

    w.source.put("manifests-1", "manifests/m.csv", "\r\n\r\n");
    let err = estimate_job(&w.ports, &w.settings, BODY.as_bytes())
        .await
        .unwrap_err();
    assert_eq!((err.status, err.error), (400, "ManifestEmpty"));

    w.source.put("manifests-1", "manifests/m.csv", manifest(3));
    w.source
        .faults
        .fail_next(Op::SourceReadRange, PortError::Retryable("SlowDown".into()));
    let err = estimate_job(&w.ports, &w.settings, BODY.as_bytes())
        .await
        .unwrap_err();
    assert_eq!(err.status, 503);
}
