//! restore-event: SQS batches of restore-completed notices into the objects table.
//!
//! Each object's waiting jobs are found by its exact id, or by the other names S3 gives
//! the same object (see [`rows_restored_by`]). All marks of a batch go to the store together, which writes them in
//! transactions with one counter add per job. A message whose objects could not be
//! recorded is reported as a batch item failure, so SQS delivers it again and in the
//! end to the dead-letter queue: nothing is dropped.

use std::collections::{BTreeSet, HashSet};

use serde::{Deserialize, Serialize};

use super::{Ports, TaskError};
use crate::object_id::ObjectId;
use crate::ports::{ArchiveState, Mark, ObjectState};
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
    /// Messages that are no restore event S3 sends (not JSON, another shape, a bad
    /// record): they fail until the dead-letter queue takes them.
    pub malformed: u64,
    /// The jobs whose rows this batch marked or tried to mark, for the logs.
    pub jobs: BTreeSet<String>,
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
                    outcome.jobs.insert(mark.job_id.clone());
                    // The same object twice in one batch is one restore.
                    if seen.insert(mark.clone()) {
                        marks.push(mark);
                    } else {
                        outcome.duplicates += 1;
                    }
                }
            }
            Err(e) => {
                if matches!(e, TaskError::InvalidInput(_)) {
                    outcome.malformed += 1;
                }
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
    for restored in decoded.restored {
        let mut found = rows_restored_by(ports, &restored.object).await?;
        // An EventBridge key, whose encoding AWS does not document: the key as sent
        // is the fallback. When jobs await both names (`a b` and `a+b`, say), only
        // HeadObject can tell which object the event is about.
        if let Some(as_sent) = &restored.as_sent {
            let sent = rows_restored_by(ports, as_sent).await?;
            if found.is_empty() {
                found = sent;
            } else if !sent.is_empty() {
                found = [
                    confirmed(ports, &restored.object, found).await?,
                    confirmed(ports, as_sent, sent).await?,
                ]
                .concat();
            }
        }
        if found.is_empty() {
            unmatched += 1;
        }
        marks.extend(found);
    }
    Ok((marks, unmatched))
}

/// The rows an event for `object` restores:
/// - rows of exactly that object;
/// - for an event without a version id (from an unversioned bucket, whose objects are
///   their null version), rows that name the null version;
/// - for an event with a version id no row names, rows registered without a version
///   (the current version), but only once HeadObject shows that the current version
///   has a restored copy: a restore of another version, by anyone, must not count the
///   object a job asked for while it is still archived.
async fn rows_restored_by(ports: &Ports, object: &ObjectId) -> Result<Vec<Mark>, TaskError> {
    let jobs = waiting_jobs(ports, object).await?;
    if !jobs.is_empty() {
        return Ok(rows(object, jobs));
    }
    if object.version_id().is_none() {
        let null = object.with_null_version();
        let jobs = waiting_jobs(ports, &null).await?;
        return Ok(rows(&null, jobs));
    }
    let current = object.without_version();
    let jobs = waiting_jobs(ports, &current).await?;
    if jobs.is_empty() {
        return Ok(Vec::new());
    }
    match ports
        .inspector
        .inspect(&current)
        .await
        .map_err(TaskError::from_store)?
    {
        ArchiveState::Restored => Ok(rows(&current, jobs)),
        state => {
            tracing::info!(
                object = %object,
                current_version = ?state,
                jobs = ?jobs,
                "restore event for a version no job asked for; the current version is not restored, so it is not counted"
            );
            Ok(Vec::new())
        }
    }
}

/// `rows`, if HeadObject shows `object` restored; none otherwise.
async fn confirmed(
    ports: &Ports,
    object: &ObjectId,
    rows: Vec<Mark>,
) -> Result<Vec<Mark>, TaskError> {
    let state = ports
        .inspector
        .inspect(object)
        .await
        .map_err(TaskError::from_store)?;
    Ok(if state == ArchiveState::Restored {
        rows
    } else {
        Vec::new()
    })
}

async fn waiting_jobs(ports: &Ports, object: &ObjectId) -> Result<Vec<String>, TaskError> {
    ports
        .objects
        .waiting_jobs(object)
        .await
        .map_err(TaskError::from_store)
}

fn rows(object: &ObjectId, jobs: Vec<String>) -> Vec<Mark> {
    jobs.into_iter()
        .map(|job_id| Mark {
            object: object.clone(),
            job_id,
        })
        .collect()
}
