//! poll-batch-job and tally: where the batch job stands, and how many objects are back.
//!
//! Once the batch job has ended, its completion report is read into the objects table:
//! tasks that failed for good count as excluded (`FailedBatchFiles`), and objects whose
//! task succeeded without starting a restore (a restored copy existed: no event will
//! come) count as restored once HeadObject shows the copy. A report row alone never
//! counts an object restored. The report is read in bounded pieces with a cursor.

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use super::{Ports, Settings, TaskError, load_job, update_job};
use crate::completion_report::{
    self, ReportColumns, ReportError, RowOutcome, RowPosition, parse_report_manifest,
    report_manifest_key,
};
use crate::job::JobPatch;
use crate::list_source::{ListCursor, ListFile, read_range};
use crate::object_id::ObjectId;
use crate::ports::{ArchiveState, Mark, ObjectState, PortError, Tally};
use crate::status::{BatchJobStatus, BatchPhase};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PollInput {
    pub job_id: String,
    pub batch_job_id: String,
    /// Where reading the completion report stopped, when it did not finish.
    #[serde(default)]
    pub report_cursor: Option<ReportCursor>,
}

/// A position in the completion report: result file, rows read of it, and the byte
/// where the next row starts.
pub type ReportCursor = ListCursor<RowPosition>;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PollOutput {
    pub status: BatchJobStatus,
    pub tasks_total: u64,
    pub tasks_succeeded: u64,
    pub tasks_failed: u64,
    /// The report is being read; poll again at once with `report_cursor`.
    pub report_pending: bool,
    pub report_cursor: Option<ReportCursor>,
}

pub async fn poll_batch_job(
    ports: &Ports,
    settings: &Settings,
    input: &PollInput,
) -> Result<PollOutput, TaskError> {
    let job = load_job(ports, &input.job_id).await?;
    let info = ports
        .batch
        .describe_job(&input.batch_job_id)
        .await
        .map_err(|e| {
            TaskError::from_port(e, |other| {
                TaskError::BatchJobRejected(format!(
                    "batch job {} cannot be described: {other}",
                    input.batch_job_id
                ))
            })
        })?;
    if job.batch_status != Some(info.status) {
        // S3's own words on why a batch job failed are what a person can act on.
        let failure_reason = (info.status == BatchJobStatus::Failed).then(|| {
            if info.failure_reasons.is_empty() {
                format!("the batch job {} failed", input.batch_job_id)
            } else {
                format!(
                    "the batch job {} failed: {}",
                    input.batch_job_id,
                    info.failure_reasons.join("; ")
                )
            }
        });
        let patch = JobPatch {
            batch_status: Some(info.status),
            failure_reason,
            ..JobPatch::default()
        };
        update_job(ports, &job.job_id, &patch).await?;
    }
    let mut output = PollOutput {
        status: info.status,
        tasks_total: info.tasks_total,
        tasks_succeeded: info.tasks_succeeded,
        tasks_failed: info.tasks_failed,
        report_pending: false,
        report_cursor: None,
    };
    if info.status.phase() == BatchPhase::Running || job.report_processed {
        return Ok(output);
    }
    let start = input.report_cursor.clone().unwrap_or_default();
    match read_report(ports, settings, &job.job_id, &input.batch_job_id, start).await? {
        Some(cursor) => {
            output.report_pending = true;
            output.report_cursor = Some(cursor);
        }
        None => {
            let patch = JobPatch {
                report_processed: Some(true),
                ..JobPatch::default()
            };
            update_job(ports, &job.job_id, &patch).await?;
        }
    }
    Ok(output)
}

/// HeadObject calls in flight while confirming report rows.
const CONFIRM_CONCURRENCY: usize = 16;

/// Reads up to `rows_per_invocation` report rows from `start`, `read_chunk_bytes` at a
/// time; returns where to go on, or `None` when the whole report has been read.
///
/// A report that cannot be read, or a row, never fails the job: its objects stay
/// pending, and after the deadline HeadObject decides about them like any straggler.
async fn read_report(
    ports: &Ports,
    settings: &Settings,
    job_id: &str,
    batch_job_id: &str,
    start: ReportCursor,
) -> Result<Option<ReportCursor>, TaskError> {
    let manifest_key = report_manifest_key(&settings.report_prefix, batch_job_id);
    let location = format!("s3://{}/{manifest_key}", settings.report_bucket);
    let manifest = match read_whole(ports, &settings.report_bucket, &manifest_key).await {
        Ok(bytes) => parse_report_manifest(&bytes),
        // A job that failed or was cancelled before any task ran writes no report.
        Err(PortError::NotFound(_)) => return Ok(None),
        Err(PortError::Retryable(m)) => return Err(TaskError::Retryable(m)),
        Err(other) => Err(ReportError::Manifest(other.to_string())),
    };
    let columns = manifest.and_then(|m| {
        let columns = ReportColumns::from_schema(&m.report_schema)?;
        Ok((m, columns))
    });
    let (manifest, columns) = match columns {
        Ok(read) => read,
        Err(e) => {
            tracing::error!(report = %location, error = %e, "the completion report cannot be read; its objects are checked one by one after the deadline");
            return Ok(None);
        }
    };
    let mut budget = settings.rows_per_invocation;
    for (file_index, file) in manifest.results.iter().enumerate().skip(start.file) {
        let resume = if file_index == start.file {
            start.at.clone()
        } else {
            RowPosition::default()
        };
        let file = ListFile::new(&file.bucket, &file.key);
        match read_result_file(ports, settings, job_id, columns, &file, resume, &mut budget).await?
        {
            FileRead::Done => {}
            FileRead::Paused(at) => {
                return Ok(Some(ReportCursor {
                    file: file_index,
                    at,
                }));
            }
            FileRead::Unreadable(why) => {
                tracing::error!(report = %file.location(), error = %why, "a result file of the completion report cannot be read (from this point); its objects are checked one by one after the deadline");
            }
        }
    }
    Ok(None)
}

/// A small object (the report's `manifest.json`) in one read.
async fn read_whole(ports: &Ports, bucket: &str, key: &str) -> Result<Vec<u8>, PortError> {
    let meta = ports.source.head(bucket, key).await?;
    ports
        .source
        .read_range(bucket, key, Some(&meta.etag), 0, meta.size.max(1))
        .await
}

/// How reading a result file ended.
enum FileRead {
    Done,
    /// The row budget ran out here.
    Paused(RowPosition),
    /// The rest of the file cannot be read.
    Unreadable(String),
}

/// Reads one result file from `at` in pieces of `read_chunk_bytes`, marking its rows,
/// until the file ends or `budget` rows have been read.
async fn read_result_file(
    ports: &Ports,
    settings: &Settings,
    job_id: &str,
    columns: ReportColumns,
    file: &ListFile,
    mut at: RowPosition,
    budget: &mut u64,
) -> Result<FileRead, TaskError> {
    let meta = match ports.source.head(&file.bucket, &file.key).await {
        Ok(meta) => meta,
        Err(PortError::Retryable(m)) => return Err(TaskError::Retryable(m)),
        Err(other) => return Ok(FileRead::Unreadable(other.to_string())),
    };
    while at.byte < meta.size {
        if *budget == 0 {
            return Ok(FileRead::Paused(at));
        }
        let range = match read_range(
            &*ports.source,
            file,
            &meta,
            at.byte,
            settings.read_chunk_bytes,
        )
        .await
        {
            Ok(range) => range,
            Err(PortError::Retryable(m)) => return Err(TaskError::Retryable(m)),
            Err(other) => return Ok(FileRead::Unreadable(other.to_string())),
        };
        let chunk =
            completion_report::read_chunk(columns, &range.bytes, &at, range.ends_file, *budget);
        if chunk.rows.is_empty() && range.ends_file {
            // Only blank lines were left.
            return Ok(FileRead::Done);
        }
        if chunk.next.byte == at.byte {
            return Ok(FileRead::Unreadable(format!(
                "row {} is longer than {} bytes",
                at.row + 1,
                settings.read_chunk_bytes
            )));
        }
        *budget -= chunk.rows.len() as u64;
        let mut confirm = Vec::new();
        let mut excluded = Vec::new();
        for row in chunk.rows {
            match row {
                Ok(row) => match row.outcome() {
                    RowOutcome::AwaitEvent => {}
                    RowOutcome::Confirm => confirm.push(row.object),
                    RowOutcome::Excluded(_) => excluded.push(row.object),
                },
                Err(e) => {
                    tracing::warn!(report = %file.location(), error = %e, "a completion report row cannot be read; its object stays pending");
                }
            }
        }
        let restored = confirmed_restored(ports, confirm).await?;
        mark_rows(ports, job_id, &restored, ObjectState::Restored).await?;
        mark_rows(ports, job_id, &excluded, ObjectState::Excluded).await?;
        at = chunk.next;
    }
    Ok(FileRead::Done)
}

/// Of the objects whose task succeeded without starting a restore, those HeadObject
/// shows with a restored copy. The others wait for their event, or for the deadline's
/// reconciliation.
async fn confirmed_restored(
    ports: &Ports,
    objects: Vec<ObjectId>,
) -> Result<Vec<ObjectId>, TaskError> {
    let states: Vec<_> = futures_util::stream::iter(objects)
        .map(|object| async move {
            let state = ports.inspector.inspect(&object).await;
            (object, state)
        })
        .buffer_unordered(CONFIRM_CONCURRENCY)
        .collect()
        .await;
    let mut restored = Vec::new();
    for (object, state) in states {
        match state {
            Ok(ArchiveState::Restored) => restored.push(object),
            Ok(_) => {}
            Err(PortError::Retryable(m)) => return Err(TaskError::Retryable(m)),
            Err(e) => {
                tracing::warn!(object = %object, error = %e, "HeadObject failed; the object stays pending");
            }
        }
    }
    Ok(restored)
}

/// Marks a job's rows, matching a versioned report row to a row registered without a
/// version when the manifest had none (the report's rows are the job's own tasks).
async fn mark_rows(
    ports: &Ports,
    job_id: &str,
    objects: &[ObjectId],
    to: ObjectState,
) -> Result<(), TaskError> {
    if objects.is_empty() {
        return Ok(());
    }
    let marks: Vec<Mark> = objects
        .iter()
        .map(|object| Mark {
            object: object.clone(),
            job_id: job_id.to_owned(),
        })
        .collect();
    let now = ports.clock.now();
    let report = ports
        .objects
        .mark(&marks, to, now)
        .await
        .map_err(TaskError::from_store)?;
    let retry: Vec<Mark> = report
        .unchanged
        .into_iter()
        .filter(|m| m.object.version_id().is_some())
        .map(|m| Mark {
            object: m.object.without_version(),
            job_id: m.job_id,
        })
        .collect();
    if !retry.is_empty() {
        ports
            .objects
            .mark(&retry, to, now)
            .await
            .map_err(TaskError::from_store)?;
    }
    Ok(())
}

/// Sums the job's counter shards.
pub async fn tally(ports: &Ports, job_id: &str) -> Result<Tally, TaskError> {
    ports
        .jobs
        .tally(job_id)
        .await
        .map_err(TaskError::from_store)
}
