//! register-manifest for an S3 Inventory report: registers the archived objects its
//! data files list, counts the others as skipped, and writes the CSV manifest the
//! batch job is given, of the objects to restore only, a multipart part per call.
//!
//! The batch job of an inventory report always gets our CSV, never the report itself:
//! no restore request is paid for a skipped row, and the keys Batch Operations reads
//! are the keys we decoded and registered (the report's URL encoding is not documented
//! exactly; see [`crate::inventory`]), so an object cannot be restored under a name no
//! row waits for.
//!
//! A list S3's manifest generator wrote for a filter is read the same way, but its
//! batch job reads S3's own list, so nothing is written; instead a few keys another
//! decoding would change are looked up before the job runs
//! (`register_generated::verify`).

use std::collections::BTreeMap;
use std::io::Cursor;
use std::time::Duration;

use super::register::{
    ManifestUpload, RegisterCursor, RegisterInput, RegisterOutput, RowTally, open_manifest,
    read_error,
};
use super::{Ports, Settings, TaskError, update_job};
use crate::inventory::{
    Gunzip, InventoryCursor, InventoryError, InventoryManifest, MAX_MANIFEST_JSON_BYTES,
    RowDecision, read_chunk,
};
use crate::job::{JobPatch, JobRecord, WrittenManifest};
use crate::list_source::{ListCursor, ListFile, open_data_file, read_whole};
use crate::manifest::{LineError, LineProblem, ManifestCursor, ManifestError, manifest_row};
use crate::policy::add;
use crate::ports::{MIN_PART_BYTES, PortError, UploadedPart};

/// Keys of a generated list whose decoding is checked with HeadObject before its batch
/// job runs: the list's encoding is one for all its keys, so a few tell.
pub(super) const KEY_PROBES: usize = 8;

/// A key that reads differently by the way it was URL-decoded: `+` or `%2B` read as a
/// plus, `+` as a space.
fn ambiguous(key: &str) -> bool {
    key.contains([' ', '+'])
}

/// Where the batch job's manifest of a job is written.
fn written_manifest_key(settings: &Settings, job_id: &str) -> String {
    format!("{}/manifests/{job_id}.csv", settings.report_prefix)
}

/// Which inventory-shaped report is read, and what is made of it.
pub(super) enum Report {
    /// The user's S3 Inventory report (`bucket`/`key` of the request): its data files
    /// must be in an allowed bucket, and the batch job gets a CSV of its archived rows.
    Inventory,
    /// The list S3's manifest generator wrote for a filter, in this deployment's report
    /// bucket: the batch job already reads it, so nothing is written.
    Generated(ListFile),
}

pub(super) async fn register_inventory(
    ports: &Ports,
    settings: &Settings,
    input: &RegisterInput,
    job: &JobRecord,
    which: Report,
) -> Result<RegisterOutput, TaskError> {
    let (report, write) = match which {
        Report::Inventory => (ListFile::new(&job.request.bucket, &job.request.key), true),
        Report::Generated(file) => (file, false),
    };
    let meta = open_manifest(ports, job, &report, input.cursor.is_none()).await?;
    let json = read_whole(
        &*ports.source,
        &report,
        &meta,
        settings.read_chunk_bytes,
        MAX_MANIFEST_JSON_BYTES,
    )
    .await
    .map_err(|e| read_error(e, &report))?;
    let manifest = InventoryManifest::parse(&json).map_err(|e| unusable(&report, &e))?;
    if write
        && let Some(allowed) = &settings.allowed_buckets
        && !allowed.contains(&manifest.destination_bucket)
    {
        return Err(TaskError::ManifestUnreadable(format!(
            "the inventory report {} keeps its data files in bucket {:?}, which this deployment may not read (allowed: {})",
            report.location(),
            manifest.destination_bucket,
            allowed.join(", ")
        )));
    }
    let files = manifest.list_files();
    let out_bucket = settings.report_bucket.clone();
    let out_key = written_manifest_key(settings, &job.job_id);

    let start = input.cursor.clone().unwrap_or_default();
    let mut cursor = start.manifest.clone();
    let mut objects = start.objects;
    let mut skipped = start.skipped.clone();
    let mut probes = start.probes.clone();
    let upload = match (start.upload.clone(), &job.manifest_upload_id) {
        _ if !write => None,
        (Some(upload), _) => Some(upload),
        (None, Some(id)) => Some(ManifestUpload {
            upload_id: id.clone(),
            parts: Vec::new(),
        }),
        (None, None) => {
            let upload_id = ports
                .source
                .start_upload(&out_bucket, &out_key)
                .await
                .map_err(|e| write_error(e, &out_bucket, &out_key))?;
            // Only a failure between these two calls leaves an upload behind (S3
            // lifecycle's AbortIncompleteMultipartUpload removes it).
            let patch = JobPatch {
                manifest_upload_id: Some(upload_id.clone()),
                ..JobPatch::default()
            };
            update_job(ports, &job.job_id, &patch).await?;
            Some(ManifestUpload {
                upload_id,
                parts: Vec::new(),
            })
        }
    };
    let piece = format!("file-{}-bytes-{}", cursor.file, cursor.at.byte);
    let expires_at = add(
        job.deadline,
        Duration::from_secs(u64::from(settings.object_row_ttl_days) * 86_400),
    );
    let mut rows = RowTally::default();
    let mut part = String::new();
    let mut opened: Option<(usize, Gunzip<Cursor<Vec<u8>>>)> = None;
    // A part must hold 5 MiB unless it is the last: past the row bound, reading goes
    // on until the part is that big, or empty (then no part is written).
    let more = |rows: &RowTally, part: &String| {
        rows.malformed > 0
            || rows.read < settings.register_rows_per_invocation
            || (!part.is_empty() && part.len() < MIN_PART_BYTES)
    };
    while cursor.file < files.len() && more(&rows, &part) {
        let file = &files[cursor.file];
        let mut gunzip = match opened.take() {
            Some((index, gunzip)) if index == cursor.file => gunzip,
            _ => open_data_file(
                &*ports.source,
                file,
                manifest.files.get(cursor.file).map(|f| f.size),
                settings.read_chunk_bytes,
            )
            .await
            .map_err(|e| read_error(e, file))?,
        };
        let range = gunzip
            .read_range(cursor.at.byte, settings.read_chunk_bytes)
            .map_err(|e| unusable(file, &e))?;
        let at = InventoryCursor {
            byte: cursor.at.byte,
            lines_before: cursor.at.lines_before,
        };
        let chunk = read_chunk(
            &manifest,
            &file.key,
            &range.bytes,
            &at,
            range.ends_file,
            u64::MAX,
            settings.allowed_buckets.as_deref(),
        );
        let mut restore = Vec::new();
        for row in chunk.rows {
            match row {
                Ok(row) => match row.decision {
                    RowDecision::Restore { .. } => {
                        // A generated list's keys were decoded on an undocumented
                        // encoding: some are checked against S3 before the job runs.
                        if !write && probes.len() < KEY_PROBES && ambiguous(row.object.key()) {
                            probes.push(row.object.clone());
                        }
                        restore.push(Ok(row.object));
                    }
                    RowDecision::Skip { reason } => {
                        rows.read += 1;
                        *skipped.entry(reason.label().to_owned()).or_default() += 1;
                    }
                },
                Err(e) => restore.push(Err(LineError {
                    line: e.line,
                    problem: LineProblem::Object {
                        message: e.to_string(),
                    },
                })),
            }
        }
        let new_objects = rows.take(restore);
        if chunk.stopped {
            break;
        }
        if rows.malformed == 0 && !new_objects.is_empty() {
            objects += ports
                .objects
                .register(&job.job_id, &new_objects, expires_at, &piece)
                .await
                .map_err(TaskError::from_store)?;
            if write {
                for object in &new_objects {
                    part.push_str(&manifest_row(object));
                }
            }
        }
        cursor.at = ManifestCursor {
            byte: chunk.next.byte,
            lines_before: chunk.next.lines_before,
            versioned: None,
        };
        if chunk.finished {
            cursor = ListCursor {
                file: cursor.file + 1,
                at: ManifestCursor::default(),
            };
        } else {
            opened = Some((cursor.file, gunzip));
        }
    }
    if rows.malformed > 0 {
        return Err(ManifestError::malformed(rows.malformed, rows.errors).into());
    }
    let mut upload = upload;
    let last = cursor.file >= files.len();
    if let Some(upload) = upload.as_mut()
        && !part.is_empty()
    {
        // The part's number follows the parts of earlier calls: a retry of this call
        // uploads the same number again, which replaces it.
        let number = u32::try_from(upload.parts.len() + 1).unwrap_or(u32::MAX);
        match ports
            .source
            .upload_part(
                &out_bucket,
                &out_key,
                &upload.upload_id,
                number,
                part.into_bytes(),
            )
            .await
        {
            Ok(etag) => upload.parts.push(UploadedPart { number, etag }),
            // The last call, retried after its first try completed the upload: the
            // manifest is whole, and `complete` finds it.
            Err(PortError::NotFound(_)) if last => {}
            Err(PortError::NotFound(_)) => {
                return Err(TaskError::ManifestUnreadable(format!(
                    "the upload of the batch job's manifest s3://{out_bucket}/{out_key} was aborted (by a lifecycle rule?) before it was complete; create a new job"
                )));
            }
            Err(e) => return Err(write_error(e, &out_bucket, &out_key)),
        }
    }
    let next = RegisterCursor {
        manifest: cursor,
        objects,
        skipped,
        upload,
        probes,
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
    let skipped_total: u64 = next.skipped.values().sum();
    if objects == 0 {
        return Err(match skipped_total {
            0 => ManifestError::Empty,
            n => ManifestError::NothingToRestore {
                skipped: n,
                by_reason: by_reason(&next.skipped),
            },
        }
        .into());
    }
    let versioned = manifest.schema.column("VersionId").is_some();
    let batch_manifest = match &next.upload {
        Some(upload) => Some(WrittenManifest {
            etag: complete(ports, &out_bucket, &out_key, upload).await?,
            bucket: out_bucket,
            key: out_key,
            versioned,
        }),
        None if write => {
            return Err(TaskError::InvalidInput(
                "no manifest upload was started".into(),
            ));
        }
        None => None,
    };
    if !write {
        super::register_generated::verify(ports, job, objects + skipped_total, &next.probes)
            .await?;
    }
    let patch = JobPatch {
        objects_total: Some(objects),
        objects_skipped: Some(skipped_total),
        manifest_versioned: Some(versioned),
        batch_manifest,
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

/// Completes the manifest's upload; one completed already (by a try whose answer was
/// lost) is found by its key.
async fn complete(
    ports: &Ports,
    bucket: &str,
    key: &str,
    upload: &ManifestUpload,
) -> Result<String, TaskError> {
    match ports
        .source
        .complete_upload(bucket, key, &upload.upload_id, &upload.parts)
        .await
    {
        Ok(etag) => Ok(etag),
        Err(PortError::NotFound(_)) => ports
            .source
            .head(bucket, key)
            .await
            .map(|meta| meta.etag)
            .map_err(|e| write_error(e, bucket, key)),
        Err(e) => Err(write_error(e, bucket, key)),
    }
}

fn by_reason(skipped: &BTreeMap<String, u64>) -> String {
    skipped
        .iter()
        .map(|(reason, n)| format!("{reason}: {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn unusable(file: &ListFile, e: &InventoryError) -> TaskError {
    TaskError::ManifestUnreadable(format!(
        "the inventory report cannot be used ({}): {e}",
        file.location()
    ))
}

fn write_error(e: PortError, bucket: &str, key: &str) -> TaskError {
    TaskError::from_port(e, |e| {
        TaskError::StoreRejected(format!(
            "the batch job's manifest s3://{bucket}/{key} cannot be written: {e}"
        ))
    })
}
