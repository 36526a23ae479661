//! What each task of the state machine does, on the ports.
//!
//! One async function per Lambda function. They take their ports as arguments, so
//! the same code runs in Lambda (with the SDK adapters) and in the local stack, and is
//! unit-tested with the fakes. Inputs and outputs are the JSON the state machine passes.

mod decide;
mod poll;
mod reconcile;
mod record_failure;
mod register;
mod restore_events;
mod submit;

use thiserror::Error;

use crate::ErrorName;
use crate::manifest::ManifestError;
use crate::ports::{PortError, Ports};
use crate::settings::Settings;
use crate::status::JobStatus;

pub(crate) use decide::publish_claimed;
pub use decide::{DecideInput, DecideOutput, NextStep, decide_and_notify};
pub use poll::{PollInput, PollOutput, ReportCursor, poll_batch_job, tally};
pub use reconcile::{RECONCILE_CONCURRENCY, ReconcileInput, ReconcileOutput, reconcile};
pub use record_failure::{FailureInput, FailureOutput, StepFunctionsError, record_failure};
pub use register::{RegisterCursor, RegisterInput, RegisterOutput, register_manifest};
pub use restore_events::{RestoreEventsOutcome, SqsMessage, handle_restore_messages};
pub use submit::{SubmitInput, SubmitOutput, submit_batch_job};

/// A task failure, named so the state machine can retry or catch it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TaskError {
    #[error("{0}")]
    Retryable(String),
    #[error("the task input is not valid: {0}")]
    InvalidInput(String),
    #[error("job {0} does not exist")]
    JobNotFound(String),
    #[error("{0}")]
    ManifestUnreadable(String),
    #[error("{0}")]
    ManifestChanged(String),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error("{0}")]
    BatchJobRejected(String),
    #[error("{0}")]
    StoreRejected(String),
    /// The job ended (was cancelled) before this task: it must not start more work.
    #[error("job {0} has ended as {1}; nothing more is done for it")]
    JobEnded(String, JobStatus),
}

impl ErrorName for TaskError {
    fn error_name(&self) -> &'static str {
        match self {
            TaskError::Retryable(_) => "Retryable",
            TaskError::InvalidInput(_) => "InvalidTaskInput",
            TaskError::JobNotFound(_) => "JobNotFound",
            TaskError::ManifestUnreadable(_) => "ManifestUnreadable",
            TaskError::ManifestChanged(_) => "ManifestChanged",
            TaskError::Manifest(e) => e.error_name(),
            TaskError::BatchJobRejected(_) => "BatchJobRejected",
            TaskError::StoreRejected(_) => "StoreRejected",
            TaskError::JobEnded(..) => "JobEnded",
        }
    }
}

/// Every stable error name a task can report, for the state machine's Retry and Catch.
pub const TASK_ERROR_NAMES: [&str; 11] = [
    "Retryable",
    "InvalidTaskInput",
    "JobNotFound",
    "ManifestUnreadable",
    "ManifestChanged",
    "ManifestMalformed",
    "ManifestEmpty",
    "BatchJobRejected",
    "StoreRejected",
    "RestoreEventMalformed",
    "JobEnded",
];

impl TaskError {
    /// A store or service failure: retryable ones stay retryable, the rest are permanent.
    pub fn from_store(e: PortError) -> Self {
        match e {
            PortError::Retryable(m) => TaskError::Retryable(m),
            other => TaskError::StoreRejected(other.to_string()),
        }
    }
}

async fn load_job(ports: &Ports, job_id: &str) -> Result<crate::job::JobRecord, TaskError> {
    ports
        .jobs
        .get(job_id)
        .await
        .map_err(TaskError::from_store)?
        .ok_or_else(|| TaskError::JobNotFound(job_id.to_owned()))
}

#[cfg(test)]
pub(crate) mod tests;
