//! The HTTP operations: create, estimate, get, list and cancel jobs, the job view, and the
//! errors they answer with. `lambdas/src/http_api.rs` and the local API route to these.

mod cancel;
mod create_job;
mod error;
mod estimate;
mod job_queries;
mod job_view;

pub use cancel::{CANCEL_REASON, EXECUTION_CANCELLED_ERROR, cancel_job};
pub use create_job::{CreateJobResponse, IDEMPOTENCY_KEY_HEADER, create_job};
pub use error::ApiError;
pub use estimate::{Listed, ListingStopped, MAX_ESTIMATE_LIST_PAGES, estimate_job, list_filter};
pub use job_queries::{DEFAULT_LIST_LIMIT, JobList, ListQuery, MAX_LIST_LIMIT, get_job, list_jobs};
pub use job_view::{JobView, LastEvent};

#[cfg(test)]
pub(crate) mod tests;
