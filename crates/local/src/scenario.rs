//! Puts a manifest's objects into moto's S3 the way a scenario asks: archived in a
//! class, or already restored, being restored, or missing (the `--setup` CSV).

use gbr_aws::errors::port_error;
use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_s3::types::{GlacierJobParameters, RestoreRequest, StorageClass, Tier};
use gbr_core::manifest::{ManifestReader, ManifestSummary, check_manifest};
use gbr_core::object_id::{ObjectId, percent_encode_key};
use thiserror::Error;

use crate::simulator::BatchSimulator;

#[derive(Debug, Error)]
pub enum ScenarioError {
    #[error("the manifest is not valid: {0}")]
    Manifest(String),
    #[error("setup file line {line}: {message}")]
    Setup { line: u64, message: String },
    #[error("S3: {0}")]
    S3(String),
}

/// How an object starts, before the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitialState {
    Archived,
    Restored,
    Restoring,
    Missing,
}

/// One `--setup` row: `bucket,key,storage_class,state`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupRow {
    pub bucket: String,
    pub key: String,
    pub storage_class: String,
    pub state: InitialState,
}

/// Reads a setup CSV (`bucket,key,storage_class,state`, keys as they are, no header).
pub fn parse_setup(text: &str) -> Result<Vec<SetupRow>, ScenarioError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = i as u64 + 1;
        let record = record.map_err(|e| ScenarioError::Setup {
            line,
            message: e.to_string(),
        })?;
        let field = |n: usize| record.get(n).unwrap_or_default().trim().to_owned();
        if record.len() != 4 {
            return Err(ScenarioError::Setup {
                line,
                message: format!(
                    "has {} fields; expected bucket,key,storage_class,state",
                    record.len()
                ),
            });
        }
        let state = match field(3).to_ascii_lowercase().as_str() {
            "archived" => InitialState::Archived,
            "restored" => InitialState::Restored,
            "restoring" => InitialState::Restoring,
            "missing" => InitialState::Missing,
            other => {
                return Err(ScenarioError::Setup {
                    line,
                    message: format!(
                        "state {other:?} is not archived, restored, restoring or missing"
                    ),
                });
            }
        };
        rows.push(SetupRow {
            bucket: field(0),
            key: field(1),
            storage_class: field(2).to_ascii_uppercase(),
            state,
        });
    }
    Ok(rows)
}

/// The manifest as uploaded, and what was put in S3.
pub struct Prepared {
    /// The manifest to upload: version ids replaced by the ones S3 gave the objects.
    pub manifest: String,
    pub summary: ManifestSummary,
    pub buckets: Vec<String>,
}

/// The buckets a manifest names (to create them before [`prepare`]).
pub fn manifest_buckets(manifest: &str) -> Result<Vec<String>, ScenarioError> {
    let summary = check_manifest(manifest.as_bytes());
    summary
        .validate()
        .map_err(|e| ScenarioError::Manifest(e.to_string()))?;
    Ok(summary.buckets.keys().cloned().collect())
}

/// Creates the manifest's objects in `storage_class` unless `setup` says otherwise.
///
/// S3 chooses version ids, so a manifest's version ids are labels here: each distinct
/// label gets a new version of its object, and the uploaded manifest names S3's id.
pub async fn prepare(
    s3: &aws_sdk_s3::Client,
    simulator: &BatchSimulator,
    manifest: &str,
    storage_class: &str,
    setup: &[SetupRow],
    restoring_completes_in: Duration,
) -> Result<Prepared, ScenarioError> {
    let summary = check_manifest(manifest.as_bytes());
    summary
        .validate()
        .map_err(|e| ScenarioError::Manifest(e.to_string()))?;
    let states: HashMap<(String, String), &SetupRow> = setup
        .iter()
        .map(|r| ((r.bucket.clone(), r.key.clone()), r))
        .collect();
    let mut version_of: HashMap<ObjectId, Option<String>> = HashMap::new();
    let mut lines = Vec::new();
    for row in ManifestReader::new(manifest.as_bytes()) {
        let row = row.map_err(|e| ScenarioError::Manifest(e.to_string()))?;
        let object = row.object;
        let real_version = match version_of.get(&object) {
            Some(v) => v.clone(),
            None => {
                let row_setup = states.get(&(object.bucket().to_owned(), object.key().to_owned()));
                let class = row_setup.map_or(storage_class, |r| r.storage_class.as_str());
                let state = row_setup.map_or(InitialState::Archived, |r| r.state);
                let v =
                    create(s3, simulator, &object, class, state, restoring_completes_in).await?;
                version_of.insert(object.clone(), v.clone());
                v
            }
        };
        let mut line = format!("{},{}", object.bucket(), percent_encode_key(object.key()));
        if object.version_id().is_some() {
            // A missing object has no version; keep the label, which S3 will not find.
            line.push(',');
            line.push_str(
                real_version
                    .as_deref()
                    .or(object.version_id())
                    .unwrap_or_default(),
            );
        }
        lines.push(line);
    }
    let mut text = lines.join("\r\n");
    text.push_str("\r\n");
    Ok(Prepared {
        manifest: text,
        buckets: summary.buckets.keys().cloned().collect(),
        summary,
    })
}

/// Puts one object as asked; returns its version id.
async fn create(
    s3: &aws_sdk_s3::Client,
    simulator: &BatchSimulator,
    object: &ObjectId,
    class: &str,
    state: InitialState,
    restoring_completes_in: Duration,
) -> Result<Option<String>, ScenarioError> {
    if state == InitialState::Missing {
        return Ok(None);
    }
    let put = s3
        .put_object()
        .bucket(object.bucket())
        .key(object.key())
        .storage_class(StorageClass::from(class))
        .body(format!("contents of {}", object.key()).into_bytes().into())
        .send()
        .await
        .map_err(|e| ScenarioError::S3(port_error("PutObject", object, e).to_string()))?;
    let version = put.version_id;
    match state {
        InitialState::Restored => {
            s3.restore_object()
                .bucket(object.bucket())
                .key(object.key())
                .set_version_id(version.clone())
                .restore_request(
                    RestoreRequest::builder()
                        .days(1)
                        .glacier_job_parameters(
                            GlacierJobParameters::builder()
                                .tier(Tier::Standard)
                                .build()
                                .map_err(|e| ScenarioError::S3(e.to_string()))?,
                        )
                        .build(),
                )
                .send()
                .await
                .map_err(|e| {
                    ScenarioError::S3(port_error("RestoreObject", object, e).to_string())
                })?;
            // moto sends the Completed notice on the next read; read now, as S3 would
            // have sent it when that earlier restore finished, long before this job.
            s3.head_object()
                .bucket(object.bucket())
                .key(object.key())
                .set_version_id(version.clone())
                .send()
                .await
                .map_err(|e| ScenarioError::S3(port_error("HeadObject", object, e).to_string()))?;
        }
        InitialState::Restoring => {
            let id = ObjectId::new(object.bucket(), object.key(), version.clone())
                .map_err(|e| ScenarioError::S3(e.to_string()))?;
            simulator.mark_restoring(&id, restoring_completes_in);
        }
        InitialState::Archived | InitialState::Missing => {}
    }
    Ok(version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setup_rows_are_checked() {
        let rows = parse_setup("b-1,a b,GLACIER,archived\nb-1,c,standard,Restored\n").unwrap();
        assert_eq!(rows[1].state, InitialState::Restored);
        assert_eq!(rows[1].storage_class, "STANDARD");
        assert!(matches!(
            parse_setup("b-1,a,GLACIER,lost\n"),
            Err(ScenarioError::Setup { line: 1, .. })
        ));
        assert!(matches!(
            parse_setup("b-1,a\n"),
            Err(ScenarioError::Setup { line: 1, .. })
        ));
    }
}
