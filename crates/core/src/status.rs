//! Status names, spelled exactly as users and S3 see them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// A bulk job's status: the seed's five names, used in events and the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum JobStatus {
    Restoring,
    Complete,
    Failed,
    Timeout,
    Cancelled,
}

impl JobStatus {
    pub const ALL: [JobStatus; 5] = [
        JobStatus::Restoring,
        JobStatus::Complete,
        JobStatus::Failed,
        JobStatus::Timeout,
        JobStatus::Cancelled,
    ];

    pub fn is_terminal(self) -> bool {
        self != JobStatus::Restoring
    }

    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Restoring => "Restoring",
            JobStatus::Complete => "Complete",
            JobStatus::Failed => "Failed",
            JobStatus::Timeout => "Timeout",
            JobStatus::Cancelled => "Cancelled",
        }
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{0:?} is not a status; expected one of {1}")]
pub struct UnknownStatus(pub String, pub &'static str);

impl FromStr for JobStatus {
    type Err = UnknownStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| {
                UnknownStatus(
                    s.to_owned(),
                    "Restoring, Complete, Failed, Timeout, Cancelled",
                )
            })
    }
}

/// An S3 Batch Operations job status, as `DescribeJob` spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum BatchJobStatus {
    New,
    Preparing,
    Suspended,
    Ready,
    Active,
    Pausing,
    Paused,
    Completing,
    Complete,
    Cancelling,
    Cancelled,
    Failing,
    Failed,
}

/// What a batch job status means for the bulk job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchPhase {
    /// Still creating restore requests, or about to end one way or another.
    Running,
    Complete,
    Failed,
    Cancelled,
}

impl BatchJobStatus {
    pub const ALL: [BatchJobStatus; 13] = [
        BatchJobStatus::New,
        BatchJobStatus::Preparing,
        BatchJobStatus::Suspended,
        BatchJobStatus::Ready,
        BatchJobStatus::Active,
        BatchJobStatus::Pausing,
        BatchJobStatus::Paused,
        BatchJobStatus::Completing,
        BatchJobStatus::Complete,
        BatchJobStatus::Cancelling,
        BatchJobStatus::Cancelled,
        BatchJobStatus::Failing,
        BatchJobStatus::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            BatchJobStatus::New => "New",
            BatchJobStatus::Preparing => "Preparing",
            BatchJobStatus::Suspended => "Suspended",
            BatchJobStatus::Ready => "Ready",
            BatchJobStatus::Active => "Active",
            BatchJobStatus::Pausing => "Pausing",
            BatchJobStatus::Paused => "Paused",
            BatchJobStatus::Completing => "Completing",
            BatchJobStatus::Complete => "Complete",
            BatchJobStatus::Cancelling => "Cancelling",
            BatchJobStatus::Cancelled => "Cancelled",
            BatchJobStatus::Failing => "Failing",
            BatchJobStatus::Failed => "Failed",
        }
    }

    pub fn phase(self) -> BatchPhase {
        match self {
            BatchJobStatus::Complete => BatchPhase::Complete,
            BatchJobStatus::Failed => BatchPhase::Failed,
            BatchJobStatus::Cancelled => BatchPhase::Cancelled,
            _ => BatchPhase::Running,
        }
    }
}

impl fmt::Display for BatchJobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for BatchJobStatus {
    type Err = UnknownStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| {
                UnknownStatus(
                    s.to_owned(),
                    "New, Preparing, Suspended, Ready, Active, Pausing, Paused, Completing, Complete, Cancelling, Cancelled, Failing, Failed",
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_spelled_like_s3() {
        for s in JobStatus::ALL {
            assert_eq!(s.as_str().parse::<JobStatus>().unwrap(), s);
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{s}\""));
        }
        for s in BatchJobStatus::ALL {
            assert_eq!(s.as_str().parse::<BatchJobStatus>().unwrap(), s);
        }
        assert!("Canceled".parse::<JobStatus>().is_err());
        assert!("Canceled".parse::<BatchJobStatus>().is_err());
        assert_eq!(JobStatus::Cancelled.as_str(), "Cancelled");
    }

    #[test]
    fn only_three_batch_statuses_end_a_batch_job() {
        let ended: Vec<_> = BatchJobStatus::ALL
            .into_iter()
            .filter(|s| s.phase() != BatchPhase::Running)
            .collect();
        assert_eq!(
            ended,
            [
                BatchJobStatus::Complete,
                BatchJobStatus::Cancelled,
                BatchJobStatus::Failed
            ]
        );
        assert!(!JobStatus::Restoring.is_terminal());
        assert!(JobStatus::Timeout.is_terminal());
    }
}
