//! The local stack of glacier-bulk-restore: what runs on one machine with no AWS account.
//!
//! [`engine`] runs the project's Amazon States Language definition with the project's
//! Rust handlers, in virtual or scaled time. [`simulator`] stands in for S3 Batch
//! Operations and Glacier's delay, on moto's S3 and SQS. [`services`] starts the
//! servers: moto, and the embedded local DynamoDB.

pub mod engine;
pub mod faults;
pub mod metrics;
pub mod objects;
pub mod queue;
pub mod run;
pub mod scenario;
pub mod services;
pub mod simulator;
pub mod soak;
pub mod stack;

pub use engine::clock::{Participant, ScaledClock, SimClock, VirtualClock};
pub use engine::definition::{Definition, DefinitionError};
pub use engine::execution::{ExecutionDescription, ExecutionStatus};
pub use engine::history::HistoryEvent;
pub use engine::registry::{Registry, TaskFailure, TaskHandler, handler_fn};
pub use engine::{Engine, EngineError, ExecutionArn};
