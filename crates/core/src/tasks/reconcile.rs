//! reconcile: past the deadline, asks S3 about each object still missing before a
//! Timeout is declared. An object already restored (its event lost) counts as restored;
//! one gone or not archived will never be restored and counts as excluded.

use serde::{Deserialize, Serialize};

use super::{Ports, Settings, TaskError, load_job};
use crate::job::JobPatch;
use crate::ports::{ArchiveState, Mark, ObjectState, PortError};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconcileInput {
    pub job_id: String,
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

pub async fn reconcile(
    ports: &Ports,
    settings: &Settings,
    input: &ReconcileInput,
) -> Result<ReconcileOutput, TaskError> {
    let job = load_job(ports, &input.job_id).await?;
    let limit = usize::try_from(settings.rows_per_invocation)
        .unwrap_or(usize::MAX)
        .max(1);
    let page = ports
        .objects
        .pending(&job.job_id, input.cursor.as_deref(), limit)
        .await
        .map_err(TaskError::from_store)?;
    let mut restored = Vec::new();
    let mut excluded = Vec::new();
    for object in &page.items {
        let state = ports.inspector.inspect(object).await.map_err(|e| match e {
            PortError::Retryable(m) => TaskError::Retryable(m),
            other => TaskError::StoreRejected(format!("{object} cannot be inspected: {other}")),
        })?;
        let mark = Mark {
            object: object.clone(),
            job_id: job.job_id.clone(),
        };
        match state {
            ArchiveState::Restored => restored.push(mark),
            ArchiveState::Missing | ArchiveState::NotArchived => excluded.push(mark),
            ArchiveState::Restoring | ArchiveState::Archived => {}
        }
    }
    let now = ports.clock.now();
    let mut output = ReconcileOutput {
        done: page.next.is_none(),
        cursor: page.next,
        checked: page.items.len() as u64,
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
        ports
            .jobs
            .update(&job.job_id, &patch, now)
            .await
            .map_err(TaskError::from_store)?;
    }
    Ok(output)
}
