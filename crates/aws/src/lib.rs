//! AWS SDK adapters for the ports of `gbr-core`: one adapter per port.
//!
//! Every adapter is built from an [`aws_config::SdkConfig`] (see [`config`]) plus its
//! own settings, so the same code talks to AWS in Lambda and to a local moto server in
//! tests and in the local stack. Every SDK failure is mapped to a
//! [`gbr_core::ports::PortError`] the same way ([`errors`]).

pub mod config;
pub mod dynamodb;
pub mod errors;
pub mod s3;
pub mod s3control;
pub mod sfn;
pub mod sns;

pub use config::{SdkSettings, load_sdk_config};
pub use dynamodb::{Backoff, DynamoStore, TableNames};
pub use s3::S3Objects;
pub use s3control::{BatchSettings, S3BatchOperations};
pub use sfn::StepFunctions;
pub use sns::SnsNotifier;
