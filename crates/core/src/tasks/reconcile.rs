//! reconcile: past the deadline, asks S3 about each object still missing before a
//! Timeout is declared. An object already restored (its event lost) counts as restored;
//! one gone, a delete marker, or not archived will never be restored and counts as
//! excluded.
//!
//! HeadObject calls run several at a time, and a call stops starting new ones once its
//! time budget is spent (before the function's own timeout), handing back a cursor: a
//! million stragglers are checked across as many invocations as they need.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use super::{Ports, Settings, TaskError, load_job, update_job};
use crate::job::JobPatch;
use crate::object_id::ObjectId;
use crate::ports::{ArchiveState, Mark, ObjectState, PortError};

/// HeadObject calls in flight at once.
pub const RECONCILE_CONCURRENCY: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconcileInput {
    pub job_id: String,
    /// The digest of the last object checked, when a call stopped early.
    #[serde(default)]
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconcileOutput {
    pub done: bool,
    pub cursor: Option<String>,
    pub checked: u64,
    pub found_restored: u64,
    pub found_excluded: u64,
}

/// Checks pending objects until they are all checked or `budget` (real time) is spent.
pub async fn reconcile(
    ports: &Ports,
    settings: &Settings,
    input: &ReconcileInput,
    budget: Duration,
) -> Result<ReconcileOutput, TaskError> {
    let started = Instant::now();
    let job = load_job(ports, &input.job_id).await?;
    let limit = usize::try_from(settings.rows_per_invocation)
        .unwrap_or(usize::MAX)
        .max(1);
    let page = ports
        .objects
        .pending(&job.job_id, input.cursor.as_deref(), limit)
        .await
        .map_err(TaskError::from_store)?;
    let total = page.items.len();
    let mut answers = futures_util::stream::iter(page.items)
        .map(|object| async move {
            let state = ports.inspector.inspect(&object).await;
            (object, state)
        })
        .buffered(RECONCILE_CONCURRENCY);
    let mut restored = Vec::new();
    let mut excluded = Vec::new();
    let mut last: Option<ObjectId> = None;
    let mut checked = 0usize;
    let mut retry: Option<String> = None;
    // In order, so that every object before the cursor has been checked.
    while let Some((object, state)) = answers.next().await {
        let mark = Mark {
            object: object.clone(),
            job_id: job.job_id.clone(),
        };
        match state {
            Ok(ArchiveState::Restored) => restored.push(mark),
            Ok(ArchiveState::Missing | ArchiveState::NotArchived) => excluded.push(mark),
            Ok(ArchiveState::Restoring | ArchiveState::Archived) => {}
            Err(PortError::Retryable(m)) => {
                retry = Some(m);
                break;
            }
            Err(e) => {
                // Access denied, say: nothing to decide on; the object stays pending.
                tracing::warn!(job_id = %job.job_id, object = %object, error = %e, "HeadObject failed; the object stays pending");
            }
        }
        checked += 1;
        last = Some(object);
        if started.elapsed() >= budget {
            break;
        }
    }
    drop(answers);
    if checked == 0 {
        if let Some(m) = retry {
            return Err(TaskError::Retryable(m));
        }
    }
    let now = ports.clock.now();
    let mut output = ReconcileOutput {
        done: checked == total && page.next.is_none(),
        cursor: if checked == total {
            page.next
        } else {
            last.map(|o| o.digest())
        },
        checked: checked as u64,
        found_restored: 0,
        found_excluded: 0,
    };
    if !restored.is_empty() {
        let report = ports
            .objects
            .mark(&restored, ObjectState::Restored, now)
            .await
            .map_err(TaskError::from_store)?;
        output.found_restored = report.changed.len() as u64;
    }
    if !excluded.is_empty() {
        let report = ports
            .objects
            .mark(&excluded, ObjectState::Excluded, now)
            .await
            .map_err(TaskError::from_store)?;
        output.found_excluded = report.changed.len() as u64;
    }
    if output.done {
        let patch = JobPatch {
            reconciled: Some(true),
            ..JobPatch::default()
        };
        update_job(ports, &job.job_id, &patch).await?;
    }
    Ok(output)
}
