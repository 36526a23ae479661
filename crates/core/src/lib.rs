//! Every decision of a Glacier bulk restore, with no AWS SDK and no I/O.
//!
//! The Lambda handlers, the local stack and the command-line client all call into this
//! crate, so a rule (how a key is decoded, when a job is complete, which event to send)
//! is written once and tested once.

pub mod api;
pub mod completion_report;
pub mod decide;
pub mod event;
#[cfg(any(test, feature = "fakes"))]
pub mod fakes;
pub mod idempotency;
pub mod job;
pub mod listing;
pub mod manifest;
pub mod object_id;
pub mod policy;
pub mod ports;
pub mod request;
pub mod restore_event;
pub mod settings;
pub mod status;
pub mod tasks;

/// An error whose name is stable across releases.
///
/// Handlers report this name as the Lambda error type, so the state machine's
/// `Retry` and `Catch` clauses can match it; renaming one is a breaking change.
pub trait ErrorName {
    fn error_name(&self) -> &'static str;
}
