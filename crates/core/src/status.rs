//! Status names, spelled exactly as users and S3 see them.

use std::str::FromStr;

use serde::{Deserialize, Serialize};
use strum::VariantArray;
use thiserror::Error;

/// A bulk job's status: the seed's five names, used in events and the API.
///
/// Every list of statuses (`ALL`, the names in parse errors, the CLI's choices) is
/// derived from this enum, so a new status is one new variant plus the places the
/// compiler then points at.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    strum::VariantArray,
    strum::IntoStaticStr,
    strum::Display,
)]
pub enum JobStatus {
    Restoring,
    Complete,
    Failed,
    Timeout,
    Cancelled,
}

impl JobStatus {
    pub const ALL: &'static [JobStatus] = <Self as VariantArray>::VARIANTS;

    pub fn is_terminal(self) -> bool {
        self.exit_code().is_some()
    }

    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The exit code of `gbr watch` and `gbr-local run` for a job that ended so; `None`
    /// while it runs. 1 and 2 are taken by errors and bad usage.
    pub fn exit_code(self) -> Option<u8> {
        match self {
            JobStatus::Restoring => None,
            JobStatus::Complete => Some(0),
            JobStatus::Failed => Some(3),
            JobStatus::Timeout => Some(4),
            JobStatus::Cancelled => Some(5),
        }
    }

    /// Parses a status whatever its case, as the API's filters take it.
    pub fn parse_ignoring_case(s: &str) -> Result<Self, UnknownStatus> {
        find_name(Self::ALL, s, str::eq_ignore_ascii_case)
    }
}

/// The variant of `all` named `s`, or an error that lists every name.
fn find_name<T: Copy + Into<&'static str>>(
    all: &[T],
    s: &str,
    same: impl Fn(&str, &str) -> bool,
) -> Result<T, UnknownStatus> {
    all.iter()
        .copied()
        .find(|status| same((*status).into(), s))
        .ok_or_else(|| UnknownStatus {
            given: s.to_owned(),
            expected: all
                .iter()
                .map(|status| (*status).into())
                .collect::<Vec<&str>>()
                .join(", "),
        })
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{given:?} is not a status; expected one of {expected}")]
pub struct UnknownStatus {
    pub given: String,
    pub expected: String,
}

impl FromStr for JobStatus {
    type Err = UnknownStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        find_name(Self::ALL, s, |a, b| a == b)
    }
}

/// An S3 Batch Operations job status, as `DescribeJob` spells it.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    strum::VariantArray,
    strum::IntoStaticStr,
    strum::Display,
)]
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
    pub const ALL: &'static [BatchJobStatus] = <Self as VariantArray>::VARIANTS;

    pub fn as_str(self) -> &'static str {
        self.into()
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

impl FromStr for BatchJobStatus {
    type Err = UnknownStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        find_name(Self::ALL, s, |a, b| a == b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_spelled_like_s3() {
        for &s in JobStatus::ALL {
            assert_eq!(s.as_str().parse::<JobStatus>().unwrap(), s);
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{s}\""));
        }
        for &s in BatchJobStatus::ALL {
            assert_eq!(s.as_str().parse::<BatchJobStatus>().unwrap(), s);
        }
        assert!("Canceled".parse::<JobStatus>().is_err());
        assert!("Canceled".parse::<BatchJobStatus>().is_err());
        assert_eq!(JobStatus::Cancelled.as_str(), "Cancelled");
        assert_eq!(
            "Done".parse::<JobStatus>().unwrap_err().to_string(),
            "\"Done\" is not a status; expected one of Restoring, Complete, Failed, Timeout, Cancelled"
        );
        assert_eq!(
            JobStatus::parse_ignoring_case("timeout"),
            Ok(JobStatus::Timeout)
        );
    }

    #[test]
    fn every_terminal_status_has_its_own_exit_code() {
        let codes: Vec<u8> = JobStatus::ALL
            .iter()
            .filter_map(|s| s.exit_code())
            .collect();
        let mut unique = codes.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), codes.len(), "{codes:?}");
        assert_eq!(JobStatus::Complete.exit_code(), Some(0));
        assert!(
            !codes.contains(&1) && !codes.contains(&2),
            "1 and 2 are errors"
        );
    }

    #[test]
    fn only_three_batch_statuses_end_a_batch_job() {
        let ended: Vec<_> = BatchJobStatus::ALL
            .iter()
            .copied()
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
