//! The HTTP API's errors: a status and a JSON body a person can act on.
//!
//! `error` is a stable name (clients may match on it); `message` says what to do.

use serde::Serialize;

use crate::ports::PortError;
use crate::request::FieldError;
use crate::status::JobStatus;

/// An API error: an HTTP status and a JSON body a person can act on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiError {
    #[serde(skip)]
    pub status: u16,
    pub error: &'static str,
    pub message: String,
    /// Each field (or query parameter, or header) that is wrong, and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldError>,
    /// The job the error is about, when there is one the caller may look at.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    /// The job's status, when it is why the request was refused (`JobFinished`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_status: Option<JobStatus>,
}

impl ApiError {
    pub fn new(status: u16, error: &'static str, message: String) -> Self {
        Self {
            status,
            error,
            message,
            fields: Vec::new(),
            job_id: None,
            job_status: None,
        }
    }

    /// 400 `InvalidRequest`, naming each bad field, query parameter or header.
    pub fn invalid(fields: Vec<FieldError>) -> Self {
        let message = fields
            .iter()
            .map(|f| format!("{}: {}", f.field, f.message))
            .collect::<Vec<_>>()
            .join("; ");
        Self {
            fields,
            ..Self::new(400, "InvalidRequest", format!("invalid request: {message}"))
        }
    }

    pub fn job_not_found(job_id: &str) -> Self {
        Self {
            job_id: Some(job_id.to_owned()),
            ..Self::new(
                404,
                "JobNotFound",
                format!("there is no job {job_id}; check the BulkJobId create-job answered with"),
            )
        }
    }

    pub(crate) fn unavailable(message: String) -> Self {
        Self::new(503, "ServiceUnavailable", message)
    }

    /// A store failure while answering: 503 when trying again may help, 500 otherwise.
    pub(crate) fn from_store(what: &str, e: PortError) -> Self {
        match e {
            PortError::Retryable(m) => {
                Self::unavailable(format!("{what} failed for now ({m}); try again"))
            }
            other => Self::new(500, "StoreFailed", format!("{what} failed: {other}")),
        }
    }
}
