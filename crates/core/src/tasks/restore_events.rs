//! restore-event: SQS batches of restore-completed notices into the objects table.
//!
//! Each object's waiting jobs are found by its exact id (and, for an event carrying a
//! version, by the id without it, which is what a manifest without version ids
//! registered). All marks of a batch go to the store together, which writes them in
//! transactions with one counter add per job. A message whose objects could not be
//! recorded is reported as a batch item failure, so SQS delivers it again and in the
//! end to the dead-letter queue: nothing is dropped.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::{Ports, TaskError};
use crate::ports::{Mark, ObjectState};
use crate::restore_event::decode_message;

/// The part of an SQS record we use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SqsMessage {
    pub message_id: String,
    pub body: String,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct RestoreEventsOutcome {
    /// Message ids to report as `batchItemFailures`.
    pub failed: Vec<String>,
    /// Objects newly marked restored, per (object, job) row.
    pub newly_restored: u64,
    /// Rows already restored: duplicate events.
    pub duplicates: u64,
    /// Restored objects no job waits for.
    pub unmatched: u64,
    pub write_units: f64,
    /// Why each failed message failed.
    pub errors: Vec<(String, String)>,
}

pub async fn handle_restore_messages(
    ports: &Ports,
    messages: &[SqsMessage],
) -> RestoreEventsOutcome {
    let mut outcome = RestoreEventsOutcome::default();
    let mut marks: Vec<Mark> = Vec::new();
    let mut contributors: Vec<String> = Vec::new();
    let mut seen: HashSet<Mark> = HashSet::new();
    for message in messages {
        match marks_for(ports, &message.body).await {
            Ok((found, unmatched)) => {
                outcome.unmatched += unmatched;
                if !found.is_empty() {
                    contributors.push(message.message_id.clone());
                }
                for mark in found {
                    // The same object twice in one batch is one restore.
                    if seen.insert(mark.clone()) {
                        marks.push(mark);
                    } else {
                        outcome.duplicates += 1;
                    }
                }
            }
            Err(e) => {
                outcome.failed.push(message.message_id.clone());
                outcome
                    .errors
                    .push((message.message_id.clone(), e.to_string()));
            }
        }
    }
    if marks.is_empty() {
        return outcome;
    }
    match ports
        .objects
        .mark(&marks, ObjectState::Restored, ports.clock.now())
        .await
    {
        Ok(report) => {
            outcome.newly_restored = report.changed.len() as u64;
            outcome.duplicates += report.unchanged.len() as u64;
            outcome.write_units = report.write_units;
        }
        Err(e) => {
            for id in contributors {
                outcome.errors.push((id.clone(), e.to_string()));
                outcome.failed.push(id);
            }
        }
    }
    outcome
}

/// The (object, job) rows one message restores, and how many of its objects no job
/// waits for.
async fn marks_for(ports: &Ports, body: &str) -> Result<(Vec<Mark>, u64), TaskError> {
    let decoded = decode_message(body).map_err(|e| TaskError::InvalidInput(e.to_string()))?;
    let mut marks = Vec::new();
    let mut unmatched = 0;
    for object in decoded.restored {
        let mut jobs = ports
            .objects
            .waiting_jobs(&object)
            .await
            .map_err(TaskError::from_store)?;
        let mut id = object.clone();
        if jobs.is_empty() && object.version_id().is_some() {
            id = object.without_version();
            jobs = ports
                .objects
                .waiting_jobs(&id)
                .await
                .map_err(TaskError::from_store)?;
        }
        if jobs.is_empty() {
            unmatched += 1;
        }
        marks.extend(jobs.into_iter().map(|job_id| Mark {
            object: id.clone(),
            job_id,
        }));
    }
    Ok((marks, unmatched))
}
