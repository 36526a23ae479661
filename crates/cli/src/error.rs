//! Every way a command can fail; `main` prints it and exits 1.

use thiserror::Error;

use crate::api_client::ApiClientError;
use crate::manifest_upload::{DownloadError, UploadError};
use crate::object_heads::HeadError;
use crate::settings::SettingsError;

#[derive(Debug, Error)]
pub enum CliError {
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error(transparent)]
    Api(#[from] ApiClientError),
    #[error(transparent)]
    Upload(#[from] UploadError),
    #[error(transparent)]
    Download(#[from] DownloadError),
    #[error(transparent)]
    Head(#[from] HeadError),
    #[error("{path} is not a valid manifest ({reason}); {consequence}")]
    InvalidManifest {
        path: String,
        reason: String,
        /// What was not done because of it.
        consequence: String,
    },
    #[error(
        "no job was created: the answer was not y or yes (pass --yes to create without asking)"
    )]
    NotConfirmed,
    #[error(
        "no job was created: {0}\npass --yes to create it without the estimate (S3 Batch \
         Operations lists the objects when the job is created)"
    )]
    NotEstimated(String),
    #[error("cannot open {path}: {message}")]
    Unreadable { path: String, message: String },
    #[error("{location} cannot be listed from here: {message}")]
    NotListed { location: String, message: String },
    #[error("{0}")]
    Usage(String),
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    #[error("writing the output failed: {0}")]
    Output(#[from] std::io::Error),
}

impl CliError {
    /// 2 for a command line that cannot work, 1 for everything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => 2,
            _ => 1,
        }
    }
}
