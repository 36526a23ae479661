//! What each task of the state machine does, on the ports.
//!
//! One async function per Lambda function. They take their ports as arguments, so
//! the same code runs in Lambda (with the SDK adapters) and in the local stack, and is
//! unit-tested with the fakes. Inputs and outputs are the JSON the state machine passes.

mod api_error;
mod cancel;
mod create_job;
mod job_queries;
mod job_view;
mod notify;
mod poll;
mod reconcile;
mod record_failure;
mod register;
mod restore_events;
mod submit;

use std::sync::Arc;

use thiserror::Error;

use crate::ErrorName;
use crate::manifest::ManifestError;
use crate::ports::{
    BatchOperations, Clock, Executions, JobStore, Notifier, ObjectInspector, ObjectSource,
    ObjectStore, PortError,
};
use crate::status::JobStatus;

pub use api_error::ApiError;
pub use cancel::{CANCEL_REASON, EXECUTION_CANCELLED_ERROR, cancel_job};
pub use create_job::{CreateJobResponse, IDEMPOTENCY_KEY_HEADER, create_job};
pub use job_queries::{DEFAULT_LIST_LIMIT, JobList, ListQuery, MAX_LIST_LIMIT, get_job, list_jobs};
pub use job_view::{JobView, LastEvent};
pub use notify::{DecideInput, DecideOutput, NextStep, decide_and_notify};
pub use poll::{PollInput, PollOutput, ReportCursor, poll_batch_job, tally};
pub use reconcile::{RECONCILE_CONCURRENCY, ReconcileInput, ReconcileOutput, reconcile};
pub use record_failure::{FailureInput, FailureOutput, StepFunctionsError, record_failure};
pub use register::{RegisterCursor, RegisterInput, RegisterOutput, register_manifest};
pub use restore_events::{RestoreEventsOutcome, SqsMessage, handle_restore_messages};
pub use submit::{SubmitInput, SubmitOutput, submit_batch_job};

/// Every port a task may use.
#[derive(Clone)]
pub struct Ports {
    pub jobs: Arc<dyn JobStore>,
    pub objects: Arc<dyn ObjectStore>,
    pub source: Arc<dyn ObjectSource>,
    pub inspector: Arc<dyn ObjectInspector>,
    pub batch: Arc<dyn BatchOperations>,
    pub notifier: Arc<dyn Notifier>,
    pub executions: Arc<dyn Executions>,
    pub clock: Arc<dyn Clock>,
}

/// Deployment settings the tasks need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The topic events go to, returned to the caller of create-job.
    pub topic_arn: String,
    /// Where Batch Operations writes completion reports.
    pub report_bucket: String,
    pub report_prefix: String,
    /// Buckets manifests may name; `None` allows any.
    pub allowed_buckets: Option<Vec<String>>,
    /// Bytes of a manifest or of a completion report file read per request: bounds
    /// memory, never the whole file.
    pub read_chunk_bytes: u64,
    /// Rows one register-manifest invocation handles before handing on a cursor.
    pub register_rows_per_invocation: u64,
    /// Report rows or reconciled objects one invocation handles.
    pub rows_per_invocation: u64,
    /// Object rows expire this long after the job's deadline.
    pub object_row_ttl_days: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            topic_arn: String::new(),
            report_bucket: String::new(),
            report_prefix: "batch-reports".into(),
            allowed_buckets: None,
            read_chunk_bytes: 8 * 1024 * 1024,
            register_rows_per_invocation: 200_000,
            rows_per_invocation: 20_000,
            object_row_ttl_days: 30,
        }
    }
}

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
mod api_tests;
#[cfg(test)]
mod tests;
