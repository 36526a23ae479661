//! Puts a manifest's objects into moto's S3 the way a scenario asks: archived in a
//! class, or already restored, being restored, or missing (the `--setup` CSV).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use futures_util::stream::{self, StreamExt};
use gbr_core::inventory::write::ListedObject;
use gbr_core::manifest::{ManifestReader, ManifestSummary, check_manifest};
use gbr_core::object_id::{ObjectId, percent_encode_key};
use thiserror::Error;

use crate::objects::DataObjects;
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

/// One `--setup` row: `bucket,key,storage_class,state[,size_bytes]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupRow {
    pub bucket: String,
    pub key: String,
    pub storage_class: String,
    pub state: InitialState,
    /// The size an S3 Inventory report of the object gives it.
    pub size_bytes: Option<u64>,
}

/// Reads a setup CSV (`bucket,key,storage_class,state[,size_bytes]`, keys as they are,
/// no header).
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
        if !(4..=5).contains(&record.len()) {
            return Err(ScenarioError::Setup {
                line,
                message: format!(
                    "has {} fields; expected bucket,key,storage_class,state[,size_bytes]",
                    record.len()
                ),
            });
        }
        let size_bytes = match record.get(4).map(str::trim) {
            None | Some("") => None,
            Some(size) => Some(size.parse::<u64>().map_err(|_| ScenarioError::Setup {
                line,
                message: format!("size_bytes {size:?} is not a whole number of bytes"),
            })?),
        };
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
            size_bytes,
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

/// Objects created at once while preparing: enough to keep moto busy.
const CREATE_CONCURRENCY: usize = 16;

/// Creates the manifest's objects in `storage_class` unless `setup` says otherwise.
///
/// S3 chooses version ids, so a manifest's version ids are labels here: each distinct
/// label gets a new version of its object, and the uploaded manifest names S3's id.
pub async fn prepare(
    objects: &DataObjects,
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
    let rows: Vec<ObjectId> = ManifestReader::new(manifest.as_bytes())
        .map(|row| row.map(|r| r.object))
        .collect::<Result<_, _>>()
        .map_err(|e| ScenarioError::Manifest(e.to_string()))?;
    let mut seen = HashSet::new();
    let distinct: Vec<(ObjectId, String, InitialState)> = rows
        .iter()
        .filter(|o| seen.insert(*o))
        .map(|object| {
            let row_setup = states.get(&(object.bucket().to_owned(), object.key().to_owned()));
            let class = row_setup.map_or(storage_class, |r| r.storage_class.as_str());
            let state = row_setup.map_or(InitialState::Archived, |r| r.state);
            (object.clone(), class.to_owned(), state)
        })
        .collect();
    let versions: Vec<Option<String>> = stream::iter(distinct.iter())
        .map(|(object, class, state)| {
            create(
                objects,
                simulator,
                object,
                class,
                *state,
                restoring_completes_in,
            )
        })
        .buffered(CREATE_CONCURRENCY)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    let version_of: HashMap<&ObjectId, Option<String>> =
        distinct.iter().map(|(o, _, _)| o).zip(versions).collect();
    let mut text = String::with_capacity(manifest.len() + rows.len() * 2);
    for object in &rows {
        text.push_str(object.bucket());
        text.push(',');
        text.push_str(&percent_encode_key(object.key()));
        if object.version_id().is_some() {
            // A missing object has no version; keep the label, which S3 will not find.
            text.push(',');
            let real = version_of.get(object).and_then(Option::as_deref);
            text.push_str(real.or(object.version_id()).unwrap_or_default());
        }
        text.push_str("\r\n");
    }
    Ok(Prepared {
        manifest: text,
        buckets: summary.buckets.keys().cloned().collect(),
        summary,
    })
}

/// The size an inventory gives an object the setup gives none.
pub const DEFAULT_SIZE_BYTES: u64 = 1024 * 1024;

/// What an S3 Inventory report of the prepared objects lists: every object of the
/// uploaded manifest (with the version ids S3 gave), in its setup class and size, or
/// `storage_class` and [`DEFAULT_SIZE_BYTES`]. Objects set up missing are listed too, as
/// a report made before they were deleted would list them.
pub fn inventory_listing(
    prepared: &Prepared,
    storage_class: &str,
    setup: &[SetupRow],
) -> Result<Vec<ListedObject>, ScenarioError> {
    let rows: HashMap<(&str, &str), &SetupRow> = setup
        .iter()
        .map(|r| ((r.bucket.as_str(), r.key.as_str()), r))
        .collect();
    let mut seen = HashSet::new();
    let mut listed = Vec::new();
    for row in ManifestReader::new(prepared.manifest.as_bytes()) {
        let object = row
            .map_err(|e| ScenarioError::Manifest(e.to_string()))?
            .object;
        if !seen.insert(object.clone()) {
            continue;
        }
        let setup = rows.get(&(object.bucket(), object.key()));
        listed.push(ListedObject {
            storage_class: setup
                .map_or(storage_class, |r| r.storage_class.as_str())
                .to_owned(),
            size: setup
                .and_then(|r| r.size_bytes)
                .unwrap_or(DEFAULT_SIZE_BYTES),
            object,
        });
    }
    Ok(listed)
}

/// Puts one object as asked; returns its version id.
async fn create(
    objects: &DataObjects,
    simulator: &BatchSimulator,
    object: &ObjectId,
    class: &str,
    state: InitialState,
    restoring_completes_in: Duration,
) -> Result<Option<String>, ScenarioError> {
    if state == InitialState::Missing {
        return Ok(None);
    }
    let version = objects
        .create(object, class, state == InitialState::Restored)
        .await
        .map_err(|e| ScenarioError::S3(e.to_string()))?;
    if state == InitialState::Restoring {
        let id = ObjectId::new(object.bucket(), object.key(), version.clone())
            .map_err(|e| ScenarioError::S3(e.to_string()))?;
        simulator.mark_restoring(&id, restoring_completes_in);
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
        assert_eq!(rows[1].size_bytes, None);
        let sized = parse_setup("b-1,a,GLACIER,archived,1048576\n").unwrap();
        assert_eq!(sized[0].size_bytes, Some(1_048_576));
        assert!(matches!(
            parse_setup("b-1,a,GLACIER,archived,big\n"),
            Err(ScenarioError::Setup { line: 1, .. })
        ));
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
