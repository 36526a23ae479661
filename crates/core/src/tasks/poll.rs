//! poll-batch-job and tally: where the batch job stands, and how many objects are back.
//!
//! Once the batch job has ended, its completion report is read into the objects table:
//! objects S3 found already restored (200) count as restored, tasks that failed for
//! good count as excluded (`FailedBatchFiles`), since no restore event will come for
//! either. The report is read in bounded pieces with a cursor, like the manifest.

use serde::{Deserialize, Serialize};

use super::{Ports, Settings, TaskError, load_job};
use crate::completion_report::{
    ReportColumns, ReportError, RowOutcome, parse_report_manifest, read_report_rows,
    report_manifest_key,
};
use crate::job::JobPatch;
use crate::ports::{Mark, ObjectState, PortError, Tally};
use crate::status::{BatchJobStatus, BatchPhase};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PollInput {
    pub job_id: String,
    pub batch_job_id: String,
    /// Where reading the completion report stopped, when it did not finish.
    #[serde(default)]
    pub report_cursor: Option<ReportCursor>,
}

/// A position in the completion report: result file and row.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportCursor {
    pub file: usize,
    pub row: u64,
}

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
        .map_err(|e| match e {
            PortError::Retryable(m) => TaskError::Retryable(m),
            other => TaskError::BatchJobRejected(format!(
                "batch job {} cannot be described: {other}",
                input.batch_job_id
            )),
        })?;
    let now = ports.clock.now();
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
        ports
            .jobs
            .update(&job.job_id, &patch, now)
            .await
            .map_err(TaskError::from_store)?;
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
            ports
                .jobs
                .update(&job.job_id, &patch, ports.clock.now())
                .await
                .map_err(TaskError::from_store)?;
        }
    }
    Ok(output)
}

/// Reads up to `rows_per_invocation` report rows from `start`; returns where to go on,
/// or `None` when the whole report has been read.
async fn read_report(
    ports: &Ports,
    settings: &Settings,
    job_id: &str,
    batch_job_id: &str,
    start: ReportCursor,
) -> Result<Option<ReportCursor>, TaskError> {
    let manifest_key = report_manifest_key(&settings.report_prefix, batch_job_id);
    let read_all = |bucket: String, key: String| async move {
        // Report files are bounded by S3 (a few MB each), so one read each.
        let meta = ports.source.head(&bucket, &key).await?;
        ports
            .source
            .read_range(&bucket, &key, Some(&meta.etag), 0, meta.size.max(1))
            .await
    };
    let manifest = match read_all(settings.report_bucket.clone(), manifest_key.clone()).await {
        Ok(bytes) => parse_report_manifest(&bytes)?,
        // A job that failed or was cancelled before any task ran writes no report.
        Err(PortError::NotFound(_)) => return Ok(None),
        Err(PortError::Retryable(m)) => return Err(TaskError::Retryable(m)),
        Err(other) => {
            return Err(ReportError::Manifest(format!(
                "s3://{}/{manifest_key}: {other}",
                settings.report_bucket
            ))
            .into());
        }
    };
    let columns = ReportColumns::from_schema(&manifest.report_schema)?;
    let mut budget = settings.rows_per_invocation;
    for (file_index, file) in manifest.results.iter().enumerate().skip(start.file) {
        let bytes = read_all(file.bucket.clone(), file.key.clone())
            .await
            .map_err(|e| match e {
                PortError::Retryable(m) => TaskError::Retryable(m),
                other => {
                    ReportError::Manifest(format!("s3://{}/{}: {other}", file.bucket, file.key))
                        .into()
                }
            })?;
        let skip = if file_index == start.file {
            start.row
        } else {
            0
        };
        let mut restored = Vec::new();
        let mut excluded = Vec::new();
        let mut row = skip;
        for result in
            read_report_rows(columns, &bytes).skip(usize::try_from(skip).unwrap_or(usize::MAX))
        {
            if budget == 0 {
                break;
            }
            let result = result?;
            row += 1;
            budget -= 1;
            let mark = Mark {
                object: result.object.clone(),
                job_id: job_id.to_owned(),
            };
            match result.outcome() {
                RowOutcome::AwaitEvent => {}
                RowOutcome::AlreadyRestored => restored.push(mark),
                RowOutcome::Excluded(_) => excluded.push(mark),
            }
        }
        mark_rows(ports, &restored, ObjectState::Restored).await?;
        mark_rows(ports, &excluded, ObjectState::Excluded).await?;
        if budget == 0 {
            return Ok(Some(ReportCursor {
                file: file_index,
                row,
            }));
        }
    }
    Ok(None)
}

/// Marks rows, matching a versioned report row to a row registered without a version
/// when the manifest had none.
async fn mark_rows(ports: &Ports, marks: &[Mark], to: ObjectState) -> Result<(), TaskError> {
    if marks.is_empty() {
        return Ok(());
    }
    let now = ports.clock.now();
    let report = ports
        .objects
        .mark(marks, to, now)
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
