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
mod register_generated;
mod register_inventory;
mod restore_events;
mod submit;

use thiserror::Error;

use crate::job::JobPatch;
use crate::manifest::ManifestError;
use crate::ports::{PortError, Ports};
use crate::settings::Settings;
use crate::status::JobStatus;
use crate::{ErrorName, LambdaErrorType};

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
        let name = match self {
            TaskError::Retryable(_) => LambdaErrorType::Retryable,
            TaskError::InvalidInput(_) => LambdaErrorType::InvalidTaskInput,
            TaskError::JobNotFound(_) => LambdaErrorType::JobNotFound,
            TaskError::ManifestUnreadable(_) => LambdaErrorType::ManifestUnreadable,
            TaskError::ManifestChanged(_) => LambdaErrorType::ManifestChanged,
            TaskError::Manifest(e) => e.error_type(),
            TaskError::BatchJobRejected(_) => LambdaErrorType::BatchJobRejected,
            TaskError::StoreRejected(_) => LambdaErrorType::StoreRejected,
            TaskError::JobEnded(..) => LambdaErrorType::JobEnded,
        };
        name.as_str()
    }
}

impl TaskError {
    /// A failed call: a retryable failure stays retryable, so the state machine tries
    /// again; `permanent` says what any other failure means to this task.
    pub fn from_port(e: PortError, permanent: impl FnOnce(PortError) -> TaskError) -> Self {
        match e {
            PortError::Retryable(m) => TaskError::Retryable(m),
            other => permanent(other),
        }
    }

    /// A store failure: retryable ones stay retryable, the rest are permanent.
    pub fn from_store(e: PortError) -> Self {
        Self::from_port(e, |other| TaskError::StoreRejected(other.to_string()))
    }
}

/// Applies `patch` to the job, stamped with the clock's time.
async fn update_job(ports: &Ports, job_id: &str, patch: &JobPatch) -> Result<(), TaskError> {
    ports
        .jobs
        .update(job_id, patch, ports.clock.now())
        .await
        .map_err(TaskError::from_store)
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
mod filter_tests;
#[cfg(test)]
pub(crate) mod tests;
