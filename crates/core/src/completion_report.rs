//! The Batch Operations completion report, and what each row means for a restore.
//!
//! S3 writes `job-<id>/manifest.json` under the report prefix, listing result CSV files
//! and their column order (`ReportSchema`); the CSVs have no header row, so columns are
//! found by the schema's names, not assumed by position. Keys in result rows are
//! URL-encoded as in the manifest they came from.

use std::collections::HashMap;

use serde::Deserialize;
use thiserror::Error;

use crate::ErrorName;
use crate::object_id::{ObjectId, percent_decode_key};

/// The report's `manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReportManifest {
    pub format: String,
    #[serde(default)]
    pub report_creation_date: Option<String>,
    pub results: Vec<ReportResultFile>,
    /// Column names in order, comma-separated.
    pub report_schema: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReportResultFile {
    pub task_execution_status: String,
    pub bucket: String,
    pub key: String,
}

/// The report's location for a batch job: `<prefix>/job-<id>/manifest.json`.
pub fn report_manifest_key(prefix: &str, batch_job_id: &str) -> String {
    let prefix = prefix.trim_end_matches('/');
    if prefix.is_empty() {
        format!("job-{batch_job_id}/manifest.json")
    } else {
        format!("{prefix}/job-{batch_job_id}/manifest.json")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ReportError {
    #[error("the completion report manifest is not valid: {0}")]
    Manifest(String),
    #[error("the report schema {0:?} has no {1} column")]
    MissingColumn(String, &'static str),
    #[error("report row {row}: {message}")]
    Row { row: u64, message: String },
}

impl ErrorName for ReportError {
    fn error_name(&self) -> &'static str {
        "ReportUnreadable"
    }
}

pub fn parse_report_manifest(bytes: &[u8]) -> Result<ReportManifest, ReportError> {
    serde_json::from_slice(bytes).map_err(|e| ReportError::Manifest(e.to_string()))
}

/// Column positions, from the schema's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportColumns {
    bucket: usize,
    key: usize,
    version_id: Option<usize>,
    task_status: usize,
    error_code: Option<usize>,
    http_status: Option<usize>,
    result_message: Option<usize>,
}

impl ReportColumns {
    pub fn from_schema(schema: &str) -> Result<Self, ReportError> {
        let names: HashMap<&str, usize> = schema
            .split(',')
            .enumerate()
            .map(|(i, name)| (name.trim(), i))
            .collect();
        let need = |name: &'static str| {
            names
                .get(name)
                .copied()
                .ok_or_else(|| ReportError::MissingColumn(schema.to_owned(), name))
        };
        Ok(Self {
            bucket: need("Bucket")?,
            key: need("Key")?,
            version_id: names.get("VersionId").copied(),
            task_status: need("TaskStatus")?,
            error_code: names.get("ErrorCode").copied(),
            http_status: names.get("HTTPStatusCode").copied(),
            result_message: names.get("ResultMessage").copied(),
        })
    }
}

/// One task's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRow {
    pub object: ObjectId,
    pub succeeded: bool,
    pub http_status: Option<u16>,
    pub error_code: String,
    pub message: String,
}

/// What a task's result means for the bulk job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowOutcome {
    /// A restore was started (202) or is already under way (409): a Completed event
    /// will come.
    AwaitEvent,
    /// A restored copy already existed (200): no Completed event will come.
    AlreadyRestored,
    /// This object will not be restored: counted in `FailedBatchFiles`.
    Excluded(String),
}

impl ReportRow {
    pub fn outcome(&self) -> RowOutcome {
        match (self.succeeded, self.http_status) {
            (true, Some(200)) => RowOutcome::AlreadyRestored,
            (true, _) => RowOutcome::AwaitEvent,
            (false, Some(409)) => RowOutcome::AwaitEvent,
            (false, _) => RowOutcome::Excluded(format!(
                "{} {}: {}",
                self.http_status.map(|s| s.to_string()).unwrap_or_default(),
                self.error_code,
                self.message
            )),
        }
    }
}

/// Reads result rows; every row yields a row or an error with its row number.
pub fn read_report_rows(
    columns: ReportColumns,
    csv_bytes: &[u8],
) -> impl Iterator<Item = Result<ReportRow, ReportError>> + '_ {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(csv_bytes);
    let mut row = 0u64;
    std::iter::from_fn(move || {
        let mut record = csv::StringRecord::new();
        row += 1;
        match reader.read_record(&mut record) {
            Ok(false) => None,
            Ok(true) => Some(decode_row(columns, &record, row)),
            Err(e) => Some(Err(ReportError::Row {
                row,
                message: e.to_string(),
            })),
        }
    })
}

fn decode_row(
    c: ReportColumns,
    record: &csv::StringRecord,
    row: u64,
) -> Result<ReportRow, ReportError> {
    let bad = |message: String| ReportError::Row { row, message };
    let field = |i: usize| {
        record
            .get(i)
            .ok_or_else(|| bad(format!("has no column {}", i + 1)))
    };
    let optional = |i: Option<usize>| i.and_then(|i| record.get(i)).unwrap_or_default();
    let key = percent_decode_key(field(c.key)?).map_err(|e| bad(e.to_string()))?;
    let version = Some(optional(c.version_id).to_owned());
    let object = ObjectId::new(field(c.bucket)?, key, version).map_err(|e| bad(e.to_string()))?;
    let http = optional(c.http_status);
    Ok(ReportRow {
        object,
        succeeded: field(c.task_status)?.eq_ignore_ascii_case("succeeded"),
        http_status: if http.is_empty() {
            None
        } else {
            Some(
                http.parse()
                    .map_err(|_| bad(format!("HTTP status {http:?} is not a number")))?,
            )
        },
        error_code: optional(c.error_code).to_owned(),
        message: optional(c.result_message).to_owned(),
    })
}

/// Builds a report the way S3 writes one; the local batch simulator uses it.
pub mod write {
    use crate::object_id::{ObjectId, percent_encode_key};

    pub const SCHEMA: &str =
        "Bucket, Key, VersionId, TaskStatus, ErrorCode, HTTPStatusCode, ResultMessage";

    /// One CSV line of a result file.
    pub fn row(
        object: &ObjectId,
        succeeded: bool,
        error_code: &str,
        http_status: u16,
        message: &str,
    ) -> String {
        let mut w = csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(Vec::new());
        let status = if succeeded { "succeeded" } else { "failed" };
        let http = http_status.to_string();
        // Writing to a Vec cannot fail.
        let _ = w.write_record([
            object.bucket(),
            &percent_encode_key(object.key()),
            object.version_id().unwrap_or_default(),
            status,
            error_code,
            &http,
            message,
        ]);
        String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
    }

    /// The report's `manifest.json`, listing result files as (bucket, key, succeeded).
    pub fn manifest(files: &[(String, String, bool)]) -> serde_json::Value {
        let results: Vec<_> = files
            .iter()
            .map(|(bucket, key, ok)| {
                serde_json::json!({
                    "TaskExecutionStatus": if *ok { "succeeded" } else { "failed" },
                    "Bucket": bucket,
                    "MD5Checksum": "",
                    "Key": key,
                })
            })
            .collect();
        serde_json::json!({
            "Format": "Report_CSV_20180820",
            "ReportCreationDate": "2026-01-01T00:00:00.000Z",
            "Results": results,
            "ReportSchema": SCHEMA,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(key: &str) -> ObjectId {
        ObjectId::new("b-1", key, None).unwrap()
    }

    #[test]
    fn rows_round_trip_through_the_writer_by_schema_names() {
        let rows = [
            write::row(&id("a b,c"), true, "", 202, "Successful"),
            write::row(&id("x+y"), true, "", 200, "Successful"),
            write::row(&id("gone"), false, "NoSuchKey", 404, "Not found"),
            write::row(
                &id("busy"),
                false,
                "RestoreAlreadyInProgress",
                409,
                "In progress",
            ),
        ]
        .concat();
        let columns = ReportColumns::from_schema(write::SCHEMA).unwrap();
        let got: Vec<_> = read_report_rows(columns, rows.as_bytes())
            .map(Result::unwrap)
            .collect();
        assert_eq!(got[0].object, id("a b,c"));
        assert_eq!(got[0].outcome(), RowOutcome::AwaitEvent);
        assert_eq!(got[1].object, id("x+y"));
        assert_eq!(got[1].outcome(), RowOutcome::AlreadyRestored);
        assert!(matches!(got[2].outcome(), RowOutcome::Excluded(r) if r.contains("NoSuchKey")));
        assert_eq!(got[3].outcome(), RowOutcome::AwaitEvent);
    }

    #[test]
    fn columns_come_from_the_schema_not_their_position() {
        // The same row with HTTP status before the error code, as S3's own example shows it.
        let columns = ReportColumns::from_schema(
            "Bucket,Key,VersionId,TaskStatus,HTTPStatusCode,ErrorCode,ResultMessage",
        )
        .unwrap();
        let got: Vec<_> = read_report_rows(
            columns,
            b"b-1,k,,failed,403,InvalidObjectState,not archived\n",
        )
        .collect::<Result<_, _>>()
        .unwrap();
        assert_eq!(got[0].http_status, Some(403));
        assert_eq!(got[0].error_code, "InvalidObjectState");
        assert!(ReportColumns::from_schema("Bucket, TaskStatus").is_err());
    }

    #[test]
    fn bad_rows_are_errors_with_their_number() {
        let columns = ReportColumns::from_schema(write::SCHEMA).unwrap();
        let got: Vec<_> = read_report_rows(
            columns,
            b"b-1,ok,,succeeded,,200,\nb-1\nb-1,k,,succeeded,,abc,\n",
        )
        .collect();
        assert!(got[0].is_ok());
        assert!(matches!(got[1], Err(ReportError::Row { row: 2, .. })));
        assert!(matches!(got[2], Err(ReportError::Row { row: 3, .. })));
    }

    #[test]
    fn manifest_json_and_its_location() {
        let m = parse_report_manifest(
            write::manifest(&[("r".into(), "p/job-1/results/a.csv".into(), true)])
                .to_string()
                .as_bytes(),
        )
        .unwrap();
        assert_eq!(m.results[0].key, "p/job-1/results/a.csv");
        assert_eq!(
            report_manifest_key("reports/", "abc"),
            "reports/job-abc/manifest.json"
        );
        assert_eq!(report_manifest_key("", "abc"), "job-abc/manifest.json");
        assert!(parse_report_manifest(b"{}").is_err());
    }
}
