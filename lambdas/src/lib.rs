//! The Lambda functions of glacier-bulk-restore, as thin wiring around `gbr-core`.
//!
//! Each binary in `src/bin` reads its environment ([`environment`]), builds its ports
//! from the `gbr-aws` adapters ([`wiring`]) and hands every invocation to one handler
//! here; the handlers take their ports as arguments, so unit tests run them on the
//! in-memory fakes.

pub mod environment;
pub mod http_api;
pub mod logging;
pub mod metrics;
pub mod restore_events;
pub mod step_tasks;
pub mod task_error;
pub mod wiring;
