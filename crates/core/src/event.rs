//! The bulk event published to SNS: the seed's five fields, all strings, plus ours.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::decide::Notification;

/// One message on the topic. Field names are the contract: add, never rename.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BulkEvent {
    // The seed's fields.
    pub job_id: String,
    /// Empty when the job failed before its batch job was created.
    pub batch_job_id: String,
    pub status: String,
    pub progress_percent: String,
    pub failed_batch_files: String,
    // Added fields.
    pub total_files: String,
    pub restored_files: String,
    /// Empty when the request had no `client_tag`.
    pub client_tag: String,
    /// RFC 3339, UTC, when the event was decided.
    pub timestamp: String,
    /// Why a job Failed, timed out or was cancelled through the API, in words a person
    /// can act on; empty otherwise.
    pub reason: String,
    /// The same for every delivery of the same event (`job/status/percent`), so a
    /// subscriber can drop repeats: delivery is at least once.
    pub event_id: String,
}

/// The job facts an event reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventFacts<'a> {
    pub job_id: &'a str,
    pub batch_job_id: Option<&'a str>,
    pub client_tag: Option<&'a str>,
    pub total: u64,
    pub restored: u64,
    pub excluded: u64,
    pub reason: Option<&'a str>,
}

impl BulkEvent {
    pub fn new(facts: &EventFacts<'_>, notification: Notification, now: Timestamp) -> Self {
        Self {
            job_id: facts.job_id.to_owned(),
            batch_job_id: facts.batch_job_id.unwrap_or_default().to_owned(),
            status: notification.status.as_str().to_owned(),
            progress_percent: notification.percent.to_string(),
            failed_batch_files: facts.excluded.to_string(),
            total_files: facts.total.to_string(),
            restored_files: facts.restored.to_string(),
            client_tag: facts.client_tag.unwrap_or_default().to_owned(),
            timestamp: now.to_string(),
            reason: facts.reason.unwrap_or_default().to_owned(),
            event_id: format!(
                "{}/{}/{}",
                facts.job_id, notification.status, notification.percent
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::JobStatus;

    #[test]
    fn serializes_the_seed_fields_as_strings_under_their_names() {
        let facts = EventFacts {
            job_id: "j-1",
            batch_job_id: Some("b-1"),
            client_tag: Some("team-a"),
            total: 200,
            restored: 108,
            excluded: 2,
            reason: None,
        };
        let now = Timestamp::from_second(1_700_000_000).unwrap();
        let event = BulkEvent::new(
            &facts,
            Notification {
                status: JobStatus::Restoring,
                percent: 55,
            },
            now,
        );
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["JobId"], "j-1");
        assert_eq!(json["BatchJobId"], "b-1");
        assert_eq!(json["Status"], "Restoring");
        assert_eq!(json["ProgressPercent"], "55");
        assert_eq!(json["FailedBatchFiles"], "2");
        assert_eq!(json["TotalFiles"], "200");
        assert_eq!(json["RestoredFiles"], "108");
        assert_eq!(json["ClientTag"], "team-a");
        assert_eq!(json["Timestamp"], "2023-11-14T22:13:20Z");
        assert_eq!(json["EventId"], "j-1/Restoring/55");
        assert!(json.as_object().unwrap().values().all(|v| v.is_string()));
        let back: BulkEvent = serde_json::from_value(json).unwrap();
        assert_eq!(back, event);
    }

    #[test]
    fn a_job_without_batch_job_or_tag_has_empty_strings() {
        let facts = EventFacts {
            job_id: "j-2",
            batch_job_id: None,
            client_tag: None,
            total: 0,
            restored: 0,
            excluded: 0,
            reason: Some("the manifest s3://b/k does not exist"),
        };
        let event = BulkEvent::new(
            &facts,
            Notification {
                status: JobStatus::Failed,
                percent: 0,
            },
            Timestamp::UNIX_EPOCH,
        );
        assert_eq!(event.batch_job_id, "");
        assert_eq!(event.client_tag, "");
        assert_eq!(event.status, "Failed");
        assert_eq!(event.reason, "the manifest s3://b/k does not exist");
    }
}
