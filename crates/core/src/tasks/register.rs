//! register-manifest: writes a `requested` row per manifest object, before the batch
//! job exists, so every restore event finds the jobs waiting for its object.
//!
//! The manifest is read in bounded ranges and a cursor is handed back to the state
//! machine, so a manifest of millions of lines registers across invocations within
//! Lambda's time and memory limits.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Ports, Settings, TaskError, load_job, update_job};
use crate::job::{JobPatch, JobRecord};
use crate::list_source::{ListCursor, ListFile, read_range};
use crate::manifest::{self, ERRORS_LISTED, LineError, ManifestCursor, ManifestError};
use crate::object_id::ObjectId;
use crate::policy::add;
use crate::ports::{ObjectMeta, PortError, UploadedPart};
use crate::request::ManifestFormat;

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
    pub manifest: ListCursor<ManifestCursor>,
    pub objects: u64,
    /// Rows skipped so far by [`SkipReason::label`](crate::inventory::SkipReason::label)
    /// (an S3 Inventory report's objects that are not archived).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub skipped: BTreeMap<String, u64>,
    /// The CSV manifest being written for the batch job (from an S3 Inventory report).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload: Option<ManifestUpload>,
    /// Registered objects of a generated list whose keys are checked against S3 once
    /// the list is read (see register_generated).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub probes: Vec<ObjectId>,
}

/// A multipart upload of the batch job's manifest: a part per register call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestUpload {
    pub upload_id: String,
    pub parts: Vec<UploadedPart>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterOutput {
    pub done: bool,
    pub cursor: Option<RegisterCursor>,
    /// Rows read by this invocation.
    pub rows: u64,
    /// Distinct objects, once done.
    pub objects_total: Option<u64>,
    /// Above 0: nothing could be read yet (S3 is still generating the list of a
    /// filter); call again after this many seconds.
    #[serde(default)]
    pub wait_seconds: u64,
}

pub async fn register_manifest(
    ports: &Ports,
    settings: &Settings,
    input: &RegisterInput,
) -> Result<RegisterOutput, TaskError> {
    let job = load_job(ports, &input.job_id).await?;
    match job.request.manifest_format {
        ManifestFormat::Csv => register_csv(ports, settings, input, &job).await,
        ManifestFormat::Inventory => {
            super::register_inventory::register_inventory(
                ports,
                settings,
                input,
                &job,
                super::register_inventory::Report::Inventory,
            )
            .await
        }
        ManifestFormat::Generated => {
            super::register_generated::register_generated(ports, settings, input, &job).await
        }
    }
}

async fn register_csv(
    ports: &Ports,
    settings: &Settings,
    input: &RegisterInput,
    job: &JobRecord,
) -> Result<RegisterOutput, TaskError> {
    let files = [ListFile::new(&job.request.bucket, &job.request.key)];
    let start = input.cursor.clone().unwrap_or_default();
    let mut cursor = start.manifest.clone();
    let mut objects = start.objects;
    let mut rows = RowTally::default();
    // This call's rows are registered under its starting point: a retry of the call
    // registers them under the same name, so each distinct object counts once.
    let piece = format!("file-{}-bytes-{}", cursor.file, cursor.at.byte);
    let expires_at = add(
        job.deadline,
        Duration::from_secs(u64::from(settings.object_row_ttl_days) * 86_400),
    );
    // Once a line is malformed the job will fail: nothing more is written, but reading
    // goes on to the end, so that the Failed event counts every malformed line.
    let mut opened: Option<(usize, ObjectMeta)> = None;
    while cursor.file < files.len()
        && (rows.read < settings.register_rows_per_invocation || rows.malformed > 0)
    {
        let file = &files[cursor.file];
        let meta = match opened.take() {
            Some((index, meta)) if index == cursor.file => meta,
            _ => open_manifest(ports, job, file, input.cursor.is_none()).await?,
        };
        if cursor.at.byte >= meta.size {
            cursor = next_file(cursor);
            continue;
        }
        let range = read_range(
            &*ports.source,
            file,
            &meta,
            cursor.at.byte,
            settings.read_chunk_bytes,
        )
        .await
        .map_err(|e| read_error(e, file))?;
        let max_rows = match rows.malformed {
            0 => settings.register_rows_per_invocation - rows.read,
            _ => u64::MAX,
        };
        let chunk = manifest::read_chunk(
            &range.bytes,
            &cursor.at,
            range.ends_file,
            max_rows,
            settings.allowed_buckets.as_deref(),
        );
        let new_objects = rows.take(chunk.rows.into_iter().map(|r| r.map(|row| row.object)));
        if chunk.stopped {
            break;
        }
        if rows.malformed == 0 {
            objects += ports
                .objects
                .register(&job.job_id, &new_objects, expires_at, &piece)
                .await
                .map_err(TaskError::from_store)?;
        }
        cursor.at = chunk.next;
        if chunk.finished {
            cursor = next_file(cursor);
        } else {
            opened = Some((cursor.file, meta));
        }
    }
    if rows.malformed > 0 {
        return Err(ManifestError::malformed(rows.malformed, rows.errors).into());
    }
    let next = RegisterCursor {
        manifest: cursor,
        objects,
        ..RegisterCursor::default()
    };
    if next.manifest.file < files.len() {
        return Ok(RegisterOutput {
            done: false,
            cursor: Some(next),
            rows: rows.read,
            objects_total: None,
            wait_seconds: 0,
        });
    }
    if objects == 0 {
        return Err(ManifestError::Empty.into());
    }
    let patch = JobPatch {
        objects_total: Some(objects),
        manifest_versioned: Some(next.manifest.at.versioned.unwrap_or(false)),
        ..JobPatch::default()
    };
    update_job(ports, &job.job_id, &patch).await?;
    Ok(RegisterOutput {
        done: true,
        cursor: Some(next),
        rows: rows.read,
        objects_total: Some(objects),
        wait_seconds: 0,
    })
}

/// The start of the list's next file. Whether rows carry version ids holds for the
/// whole list: Batch Operations takes version ids on every row or on none.
fn next_file(cursor: ListCursor<ManifestCursor>) -> ListCursor<ManifestCursor> {
    ListCursor {
        file: cursor.file + 1,
        at: ManifestCursor {
            versioned: cursor.at.versioned,
            ..ManifestCursor::default()
        },
    }
}

/// The manifest file as it is now. The first call records its ETag on the job; later
/// calls refuse a manifest changed since, whose rows would no longer be the job's.
pub(super) async fn open_manifest(
    ports: &Ports,
    job: &JobRecord,
    file: &ListFile,
    first_call: bool,
) -> Result<ObjectMeta, TaskError> {
    let location = file.location();
    let meta = ports
        .source
        .head(&file.bucket, &file.key)
        .await
        .map_err(|e| {
            TaskError::from_port(e, |e| match e {
                PortError::NotFound(_) => TaskError::ManifestUnreadable(format!(
                    "the manifest {location} does not exist; upload it or fix bucket and key"
                )),
                other => TaskError::ManifestUnreadable(format!(
                    "the manifest {location} cannot be read: {other}"
                )),
            })
        })?;
    match &job.manifest_etag {
        Some(etag) if !first_call && *etag != meta.etag => Err(changed(&location)),
        Some(_) if !first_call => Ok(meta),
        _ => {
            let patch = JobPatch {
                manifest_etag: Some(meta.etag.clone()),
                ..JobPatch::default()
            };
            update_job(ports, &job.job_id, &patch).await?;
            Ok(meta)
        }
    }
}

fn changed(location: &str) -> TaskError {
    TaskError::ManifestChanged(format!(
        "the manifest {location} changed while it was being registered; create a new job"
    ))
}

pub(super) fn read_error(e: PortError, file: &ListFile) -> TaskError {
    let location = file.location();
    TaskError::from_port(e, |e| match e {
        PortError::Conflict(_) => changed(&location),
        other => TaskError::ManifestUnreadable(format!(
            "the manifest {location} cannot be read: {other}"
        )),
    })
}

/// The rows one call has read: the new objects among them, and the malformed lines.
#[derive(Default)]
pub(super) struct RowTally {
    pub(super) read: u64,
    /// Repeats within this call are dropped here; repeats of rows an earlier call
    /// wrote, by the store (see `ObjectStore::register`).
    seen: HashSet<ObjectId>,
    pub(super) malformed: u64,
    /// The first [`ERRORS_LISTED`] malformed lines.
    pub(super) errors: Vec<LineError>,
}

impl RowTally {
    /// Counts `rows`; returns the objects not seen before in this call.
    pub(super) fn take(
        &mut self,
        rows: impl IntoIterator<Item = Result<ObjectId, LineError>>,
    ) -> Vec<ObjectId> {
        let mut new = Vec::new();
        for row in rows {
            self.read += 1;
            match row {
                Ok(object) => {
                    if self.malformed == 0 && self.seen.insert(object.clone()) {
                        new.push(object);
                    }
                }
                Err(e) => {
                    self.malformed += 1;
                    if self.errors.len() < ERRORS_LISTED {
                        self.errors.push(e);
                    }
                }
            }
        }
        new
    }
}
