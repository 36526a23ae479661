//! register-manifest: writes a `requested` row per manifest object, before the batch
//! job exists, so every restore event finds the jobs waiting for its object.
//!
//! The manifest is read in bounded ranges and a cursor is handed back to the state
//! machine, so a manifest of millions of lines registers across invocations within
//! Lambda's time and memory limits.

use std::collections::HashSet;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Ports, Settings, TaskError, load_job};
use crate::job::JobPatch;
use crate::manifest::{
    ERRORS_LISTED, LineError, LineProblem, ManifestCursor, ManifestError, ManifestReader,
};
use crate::object_id::ObjectId;
use crate::policy::add;
use crate::ports::PortError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterInput {
    pub job_id: String,
    /// `None` on the first call.
    #[serde(default)]
    pub cursor: Option<RegisterCursor>,
}

/// Where registration stands: the manifest's cursor, and the distinct objects
/// registered before it (the job's total, once the manifest is read through).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterCursor {
    #[serde(flatten)]
    pub manifest: ManifestCursor,
    pub objects: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterOutput {
    pub done: bool,
    pub cursor: Option<RegisterCursor>,
    /// Rows read by this invocation.
    pub rows: u64,
    /// Distinct objects, once done.
    pub objects_total: Option<u64>,
}

pub async fn register_manifest(
    ports: &Ports,
    settings: &Settings,
    input: &RegisterInput,
) -> Result<RegisterOutput, TaskError> {
    let job = load_job(ports, &input.job_id).await?;
    let (bucket, key) = (&job.request.bucket, &job.request.key);
    let location = format!("s3://{bucket}/{key}");
    let now = ports.clock.now();

    let (etag, start) = match (&input.cursor, &job.manifest_etag) {
        (Some(cursor), Some(etag)) => (etag.clone(), cursor.clone()),
        _ => {
            let meta = ports.source.head(bucket, key).await.map_err(|e| match e {
                PortError::Retryable(m) => TaskError::Retryable(m),
                PortError::NotFound(_) => TaskError::ManifestUnreadable(format!(
                    "the manifest {location} does not exist; upload it or fix bucket and key"
                )),
                other => TaskError::ManifestUnreadable(format!(
                    "the manifest {location} cannot be read: {other}"
                )),
            })?;
            let patch = JobPatch {
                manifest_etag: Some(meta.etag.clone()),
                ..JobPatch::default()
            };
            ports
                .jobs
                .update(&job.job_id, &patch, now)
                .await
                .map_err(TaskError::from_store)?;
            (meta.etag, RegisterCursor::default())
        }
    };
    // This call's rows are registered under its starting point: a retry of the call
    // registers them under the same name, so each distinct object counts once.
    let piece = format!("bytes-{}", start.manifest.byte);
    let mut cursor = start.manifest.clone();
    let mut objects_total = start.objects;

    let expires_at = add(
        job.deadline,
        Duration::from_secs(u64::from(settings.object_row_ttl_days) * 86_400),
    );
    let mut rows = 0u64;
    // Repeats within this call are dropped here; repeats of rows an earlier call wrote,
    // by the store (see `ObjectStore::register`).
    let mut seen: HashSet<ObjectId> = HashSet::new();
    // Once a line is malformed the job will fail: nothing more is written, but reading
    // goes on to the end, so that the Failed event counts every malformed line.
    let mut malformed = 0u64;
    let mut errors: Vec<LineError> = Vec::new();
    let mut at_end = false;
    while (rows < settings.register_rows_per_invocation || malformed > 0) && !at_end {
        let chunk = ports
            .source
            .read_range(bucket, key, Some(&etag), cursor.byte, settings.read_chunk_bytes)
            .await
            .map_err(|e| match e {
                PortError::Retryable(m) => TaskError::Retryable(m),
                PortError::Conflict(_) => TaskError::ManifestChanged(format!(
                    "the manifest {location} changed while it was being registered; create a new job"
                )),
                other => TaskError::ManifestUnreadable(format!("the manifest {location} cannot be read: {other}")),
            })?;
        at_end = (chunk.len() as u64) < settings.read_chunk_bytes;
        let chunk_end = cursor.byte + chunk.len() as u64;

        let mut reader = ManifestReader::resume(chunk.as_slice(), cursor.clone());
        if let Some(allowed) = &settings.allowed_buckets {
            reader = reader.allow_buckets(allowed.iter().cloned());
        }
        let mut objects: Vec<ObjectId> = Vec::new();
        let mut accepted = cursor.clone();
        let mut exhausted = true;
        let mut cut_short: Option<LineError> = None;
        while let Some(item) = reader.next() {
            // A row ending at the edge of a partial read may be cut short: leave it for
            // the next read, which starts at it.
            if !at_end && reader.cursor().byte >= chunk_end {
                exhausted = false;
                cut_short = item.err();
                break;
            }
            accepted = reader.cursor().clone();
            rows += 1;
            match item {
                Ok(row) => {
                    if malformed == 0 && seen.insert(row.object.clone()) {
                        objects.push(row.object);
                    }
                }
                Err(e) => {
                    malformed += 1;
                    let stop = matches!(e.problem, LineProblem::TooLong { .. });
                    errors.push(e);
                    errors.truncate(ERRORS_LISTED);
                    if stop {
                        return Err(ManifestError::malformed(malformed, errors).into());
                    }
                }
            }
            if rows >= settings.register_rows_per_invocation && malformed == 0 {
                exhausted = false;
                break;
            }
        }
        if accepted == cursor && !at_end {
            // Not one row fits in a whole read: nothing after it can be read.
            let problem = match cut_short {
                Some(e) if e.problem == LineProblem::LineBreakInField => e.problem,
                _ => LineProblem::TooLong {
                    max: settings.read_chunk_bytes,
                },
            };
            errors.push(LineError {
                line: cursor.lines_before + 1,
                problem,
            });
            errors.truncate(ERRORS_LISTED);
            return Err(ManifestError::malformed(malformed + 1, errors).into());
        }
        if malformed == 0 {
            objects_total += ports
                .objects
                .register(&job.job_id, &objects, expires_at, &piece)
                .await
                .map_err(TaskError::from_store)?;
        }
        // The end of the manifest is reached only once its last piece was read through.
        at_end = at_end && exhausted;
        cursor = if exhausted {
            reader.cursor().clone()
        } else {
            accepted
        };
    }
    if malformed > 0 {
        return Err(ManifestError::malformed(malformed, errors).into());
    }

    let next = RegisterCursor {
        manifest: cursor,
        objects: objects_total,
    };
    if !at_end {
        return Ok(RegisterOutput {
            done: false,
            cursor: Some(next),
            rows,
            objects_total: None,
        });
    }
    let total = objects_total;
    if total == 0 {
        return Err(ManifestError::Empty.into());
    }
    let patch = JobPatch {
        objects_total: Some(total),
        manifest_versioned: Some(next.manifest.versioned.unwrap_or(false)),
        ..JobPatch::default()
    };
    ports
        .jobs
        .update(&job.job_id, &patch, ports.clock.now())
        .await
        .map_err(TaskError::from_store)?;
    Ok(RegisterOutput {
        done: true,
        cursor: Some(next),
        rows,
        objects_total: Some(total),
    })
}
