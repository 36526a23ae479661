//! The Step Functions task handlers: the state's JSON in, the task's output out.
//!
//! Each reads its input from a raw JSON value rather than letting `lambda_runtime`
//! deserialize it, because the runtime would report a bad input under a Rust type
//! name; here it is `InvalidTaskInput`, which the state machine catches by name.

use std::future::Future;
use std::time::Duration;

use gbr_core::ErrorName;
use gbr_core::ports::{Ports, Tally};
use gbr_core::settings::Settings;
use gbr_core::tasks::{
    self, DecideInput, DecideOutput, FailureInput, FailureOutput, PollInput, PollOutput,
    ReconcileInput, ReconcileOutput, RegisterInput, RegisterOutput, SubmitInput, SubmitOutput,
    TaskError,
};
use lambda_runtime::Diagnostic;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tracing::Instrument;

use crate::logging::job_span;
use crate::task_error::diagnostic;

/// The TallyRestored state's input; core's `tally` takes the bare job id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TallyInput {
    pub job_id: String,
}

/// Reads `payload` as `I`, runs `task` inside the job's span and logs how it ended.
async fn run<I, O, Fut>(
    function: &'static str,
    payload: Value,
    task: impl FnOnce(I) -> Fut,
) -> Result<O, Diagnostic>
where
    I: DeserializeOwned,
    O: Serialize,
    Fut: Future<Output = Result<O, TaskError>>,
{
    // Taken before the typed read, so even a malformed input logs its job id.
    let job_id = payload
        .get("job_id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let span = job_span(function, &job_id);
    async move {
        tracing::info!("task started");
        let result = match serde_json::from_value::<I>(payload) {
            Ok(input) => task(input).await,
            Err(e) => Err(TaskError::InvalidInput(e.to_string())),
        };
        match result {
            Ok(output) => {
                let output_json = serde_json::to_string(&output).unwrap_or_default();
                tracing::info!(output = %output_json, "task succeeded");
                Ok(output)
            }
            Err(e) => {
                let error_type = e.error_name();
                if matches!(e, TaskError::Retryable(_)) {
                    tracing::warn!(error_type, error = %e, "task failed; the state machine retries it");
                } else {
                    tracing::error!(error_type, error = %e, "task failed");
                }
                Err(diagnostic(&e))
            }
        }
    }
    .instrument(span)
    .await
}

pub async fn register_manifest(
    ports: &Ports,
    settings: &Settings,
    payload: Value,
) -> Result<RegisterOutput, Diagnostic> {
    run("register_manifest", payload, |input: RegisterInput| async move {
        tasks::register_manifest(ports, settings, &input).await
    })
    .await
}

pub async fn submit_batch_job(ports: &Ports, payload: Value) -> Result<SubmitOutput, Diagnostic> {
    run(
        "submit_batch_job",
        payload,
        |input: SubmitInput| async move { tasks::submit_batch_job(ports, &input).await },
    )
    .await
}

pub async fn poll_batch_job(
    ports: &Ports,
    settings: &Settings,
    payload: Value,
) -> Result<PollOutput, Diagnostic> {
    run("poll_batch_job", payload, |input: PollInput| async move {
        tasks::poll_batch_job(ports, settings, &input).await
    })
    .await
}

pub async fn tally(ports: &Ports, payload: Value) -> Result<Tally, Diagnostic> {
    run("tally", payload, |input: TallyInput| async move {
        tasks::tally(ports, &input.job_id).await
    })
    .await
}

pub async fn decide(ports: &Ports, payload: Value) -> Result<DecideOutput, Diagnostic> {
    run("decide", payload, |input: DecideInput| async move {
        tasks::decide_and_notify(ports, &input).await
    })
    .await
}

/// `budget`: how long the task may keep starting HeadObject calls (the invocation's
/// remaining time, less the time to record what it found and answer).
pub async fn reconcile(
    ports: &Ports,
    settings: &Settings,
    payload: Value,
    budget: Duration,
) -> Result<ReconcileOutput, Diagnostic> {
    run("reconcile", payload, |input: ReconcileInput| async move {
        tasks::reconcile(ports, settings, &input, budget).await
    })
    .await
}

pub async fn record_failure(ports: &Ports, payload: Value) -> Result<FailureOutput, Diagnostic> {
    run(
        "record_failure",
        payload,
        |input: FailureInput| async move { tasks::record_failure(ports, &input).await },
    )
    .await
}
