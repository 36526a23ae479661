//! The Batch Operations completion report, and what each row means for a restore.
//!
//! S3 writes `job-<id>/manifest.json` under the report prefix, listing result CSV files
//! (no header row) and a `ReportSchema` naming their columns. The schema says
//! `Bucket, Key, VersionId, TaskStatus, ErrorCode, HTTPStatusCode, ResultMessage`, but
//! AWS's own example rows carry the HTTP status *before* the error code
//! (`awsexamplebucket1,image_14975,,failed,200,PermanentFailure,"Lambda returned …"`,
//! S3 User Guide, "Examples: S3 Batch Operations completion reports"; see
//! `tests/fixtures/aws/completion-report/`). So the two columns are told apart by
//! content: the HTTP status is a three-digit number, an error code never is. Either
//! order reads the same.
//!
//! Keys in result rows are URL-encoded as in the manifest they came from. No AWS
//! source shows a restore job's rows; this reader handles every form the sources
//! allow, and a row it cannot read is reported with its number, never guessed at.

use std::collections::HashMap;
use std::io::Read;

use serde::{Deserialize, Serialize};
use thiserror::Error;

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
    #[serde(default, rename = "MD5Checksum")]
    pub md5_checksum: Option<String>,
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

/// A report that cannot be used at all (its objects are then checked one by one).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ReportError {
    #[error("the completion report manifest is not valid: {0}")]
    Manifest(String),
    #[error("the report schema {0:?} has no {1} column")]
    MissingColumn(String, &'static str),
}

/// One result row that cannot be read; its object stays pending.
#[derive(Debug, Clone, PartialEq, Eq, Error, Serialize)]
#[error("row {row}: {message}")]
pub struct RowError {
    /// 1-based row of its result file.
    pub row: u64,
    pub message: String,
}

pub fn parse_report_manifest(bytes: &[u8]) -> Result<ReportManifest, ReportError> {
    serde_json::from_slice(bytes).map_err(|e| ReportError::Manifest(e.to_string()))
}

/// Where the columns are: bucket, key, version and task status by the schema's names;
/// error code and HTTP status are the schema's two other columns of that pair, told
/// apart in each row by content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportColumns {
    bucket: usize,
    key: usize,
    version_id: Option<usize>,
    task_status: usize,
    /// The columns named ErrorCode and HTTPStatusCode, in either order.
    code_and_status: Option<(usize, usize)>,
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
        let code_and_status = match (names.get("ErrorCode"), names.get("HTTPStatusCode")) {
            (Some(&a), Some(&b)) => Some((a, b)),
            _ => None,
        };
        Ok(Self {
            bucket: need("Bucket")?,
            key: need("Key")?,
            version_id: names.get("VersionId").copied(),
            task_status: need("TaskStatus")?,
            code_and_status,
            result_message: names.get("ResultMessage").copied(),
        })
    }
}

/// How a task ended, as the report spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskStatus {
    Succeeded,
    Failed,
}

/// One task's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReportRow {
    pub object: ObjectId,
    pub status: TaskStatus,
    pub http_status: Option<u16>,
    pub error_code: String,
    pub message: String,
}

/// What a task's result means for the bulk job. A row never makes an object restored
/// by itself: the report says what Batch Operations did, not what the object is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowOutcome {
    /// A restore was started (202), or one is under way (409
    /// RestoreAlreadyInProgress): its Completed event will come.
    AwaitEvent,
    /// The task succeeded without starting a restore (200: a restored copy existed,
    /// so no Completed event will come), or with a status no source documents: ask
    /// HeadObject whether a restored copy is there.
    Confirm,
    /// This job will not restore the object: counted in `FailedBatchFiles`.
    Excluded(String),
}

impl ReportRow {
    pub fn outcome(&self) -> RowOutcome {
        match (self.status, self.http_status) {
            (TaskStatus::Succeeded, Some(202)) => RowOutcome::AwaitEvent,
            (TaskStatus::Succeeded, _) => RowOutcome::Confirm,
            (TaskStatus::Failed, Some(409)) => RowOutcome::AwaitEvent,
            (TaskStatus::Failed, _) if self.error_code == "RestoreAlreadyInProgress" => {
                RowOutcome::AwaitEvent
            }
            (TaskStatus::Failed, _) => RowOutcome::Excluded(self.failure()),
        }
    }

    /// `404 NoSuchKey: message`, as much of it as the row has.
    pub fn failure(&self) -> String {
        let status = self.http_status.map(|s| s.to_string());
        let head = [status.as_deref(), Some(self.error_code.as_str())]
            .into_iter()
            .flatten()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        match (head.is_empty(), self.message.is_empty()) {
            (true, true) => "the task failed".to_owned(),
            (true, false) => self.message.clone(),
            (false, true) => head,
            (false, false) => format!("{head}: {}", self.message),
        }
    }
}

/// What a whole report says: tasks by status and failures by error code.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReportSummary {
    pub tasks: u64,
    pub succeeded: u64,
    pub failed: u64,
    /// Failed tasks by error code (`""` for a row that names none).
    pub by_error: std::collections::BTreeMap<String, u64>,
    /// Tasks by what they mean for a restore.
    pub restores_started: u64,
    pub restores_under_way: u64,
    pub to_confirm: u64,
    pub excluded: u64,
}

impl ReportSummary {
    pub fn add(&mut self, row: &ReportRow) {
        self.tasks += 1;
        match row.status {
            TaskStatus::Succeeded => self.succeeded += 1,
            TaskStatus::Failed => {
                self.failed += 1;
                *self.by_error.entry(row.error_code.clone()).or_default() += 1;
            }
        }
        match row.outcome() {
            RowOutcome::AwaitEvent if row.status == TaskStatus::Succeeded => {
                self.restores_started += 1
            }
            RowOutcome::AwaitEvent => self.restores_under_way += 1,
            RowOutcome::Confirm => self.to_confirm += 1,
            RowOutcome::Excluded(_) => self.excluded += 1,
        }
    }
}

/// Reads result rows; every row yields a row or an error with its row number.
pub fn read_report_rows(
    columns: ReportColumns,
    csv_bytes: &[u8],
) -> impl Iterator<Item = Result<ReportRow, RowError>> + '_ {
    report_rows_with_ends(columns, csv_bytes, false).map(|(_, row)| row)
}

/// The same, each row with the offset in `csv_bytes` just past it, so that reading
/// can resume there. `mid_file`: `csv_bytes` starts after the file's first byte.
fn report_rows_with_ends(
    columns: ReportColumns,
    csv_bytes: &[u8],
    mid_file: bool,
) -> impl Iterator<Item = (u64, Result<ReportRow, RowError>)> + '_ {
    // The CSV parser drops a byte order mark at the start of its input unless its first
    // read holds less than the whole mark. Mid-file, a mark is data, as it is to one pass
    // over the file: one byte first keeps it.
    let (head, tail) = csv_bytes.split_at(if mid_file { csv_bytes.len().min(1) } else { 0 });
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(head.chain(tail));
    let mut row = 0u64;
    let mut failed = false;
    std::iter::from_fn(move || {
        if failed {
            return None;
        }
        let mut record = csv::StringRecord::new();
        row += 1;
        let read = reader.read_record(&mut record);
        let end = reader.position().byte();
        match read {
            Ok(false) => None,
            Ok(true) => Some((end, decode_row(columns, &record, row))),
            Err(e) => {
                // Only an I/O failure stops the reader: a UTF-8 failure spoils only its
                // own row, which the parser has read past.
                failed = matches!(e.kind(), csv::ErrorKind::Io(_));
                let message = match e.kind() {
                    // Not the parser's message, which places the row in what it was
                    // given (a range of the file, when reading in ranges).
                    csv::ErrorKind::Utf8 { err, .. } => {
                        format!("field {} is not valid UTF-8", err.field() + 1)
                    }
                    _ => e.to_string(),
                };
                Some((end, Err(RowError { row, message })))
            }
        }
    })
}

/// A position in one result file: rows read of it, and the byte where the next starts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowPosition {
    pub row: u64,
    pub byte: u64,
}

/// What one range read of a result file yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportChunk {
    /// Every row read, in order, numbered from the file's start.
    pub rows: Vec<Result<ReportRow, RowError>>,
    /// Where the next read starts; `at` again when no whole row fits in the read.
    pub next: RowPosition,
}

/// Decodes the rows of `bytes`, a read of a result file starting at `at`, up to
/// `max_rows` of them. A row reaching the end of a read that does not end the file may
/// be cut short, so it is left for the next read, which starts at it.
pub fn read_chunk(
    columns: ReportColumns,
    bytes: &[u8],
    at: &RowPosition,
    ends_file: bool,
    max_rows: u64,
) -> ReportChunk {
    let mut chunk = ReportChunk {
        rows: Vec::new(),
        next: at.clone(),
    };
    for (end, row) in report_rows_with_ends(columns, bytes, at.byte > 0) {
        if (!ends_file && end >= bytes.len() as u64) || chunk.rows.len() as u64 >= max_rows {
            break;
        }
        chunk.next = RowPosition {
            row: chunk.next.row + 1,
            byte: at.byte + end,
        };
        let numbered = row.map_err(|e| RowError {
            row: at.row + e.row,
            ..e
        });
        chunk.rows.push(numbered);
    }
    chunk
}

/// An HTTP status: three digits, 100 to 599.
fn http_status(field: &str) -> Option<u16> {
    (field.len() == 3)
        .then(|| field.parse::<u16>().ok())
        .flatten()
        .filter(|s| (100..600).contains(s))
}

fn decode_row(
    c: ReportColumns,
    record: &csv::StringRecord,
    row: u64,
) -> Result<ReportRow, RowError> {
    let bad = |message: String| RowError { row, message };
    let field = |i: usize| {
        record
            .get(i)
            .ok_or_else(|| bad(format!("has {} columns; no column {}", record.len(), i + 1)))
    };
    let optional = |i: Option<usize>| i.and_then(|i| record.get(i)).unwrap_or_default();
    let encoded = field(c.key)?;
    let key = percent_decode_key(encoded).map_err(|e| bad(e.to_string()))?;
    let version = Some(optional(c.version_id).to_owned());
    let object = ObjectId::new(field(c.bucket)?, key, version).map_err(|e| bad(e.to_string()))?;
    let status = match field(c.task_status)? {
        s if s.eq_ignore_ascii_case("succeeded") => TaskStatus::Succeeded,
        s if s.eq_ignore_ascii_case("failed") => TaskStatus::Failed,
        other => {
            return Err(bad(format!(
                "task status {other:?} is neither succeeded nor failed"
            )));
        }
    };
    let (error_code, http) = match c.code_and_status {
        None => (String::new(), None),
        Some((a, b)) => {
            let (a, b) = (optional(Some(a)), optional(Some(b)));
            match (http_status(a), http_status(b)) {
                (Some(s), None) => (b.to_owned(), Some(s)),
                (None, Some(s)) => (a.to_owned(), Some(s)),
                // Neither is a status: the row carries none (only the code, if any).
                (None, None) if a.is_empty() || b.is_empty() => (format!("{a}{b}"), None),
                _ => {
                    return Err(bad(format!(
                        "cannot tell the HTTP status from the error code in {a:?} and {b:?}"
                    )));
                }
            }
        }
    };
    Ok(ReportRow {
        object,
        status,
        http_status: http,
        error_code,
        message: optional(c.result_message).to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCHEMA: &str =
        "Bucket, Key, VersionId, TaskStatus, ErrorCode, HTTPStatusCode, ResultMessage";

    fn rows(csv: &str) -> Vec<Result<ReportRow, RowError>> {
        let columns = ReportColumns::from_schema(SCHEMA).unwrap();
        read_report_rows(columns, csv.as_bytes()).collect()
    }

    fn id(key: &str) -> ObjectId {
        ObjectId::new("b-1", key, None).unwrap()
    }

    #[test]
    fn status_and_code_are_told_apart_in_either_order() {
        let aws_order = rows("b-1,gone,,failed,404,NoSuchKey,Not found\n");
        let schema_order = rows("b-1,gone,,failed,NoSuchKey,404,Not found\n");
        for got in [aws_order, schema_order] {
            let row = got[0].as_ref().unwrap();
            assert_eq!(row.http_status, Some(404));
            assert_eq!(row.error_code, "NoSuchKey");
            assert_eq!(row.message, "Not found");
            assert_eq!(
                row.outcome(),
                RowOutcome::Excluded("404 NoSuchKey: Not found".into())
            );
        }
    }

    #[test]
    fn outcomes_never_count_an_object_restored() {
        let got = rows(concat!(
            "b-1,a%20b%2Cc,,succeeded,202,,Successful\n",
            "b-1,x+y,,succeeded,200,,Successful\n",
            "b-1,busy,,failed,409,RestoreAlreadyInProgress,Object restore is already in progress\n",
            "b-1,plain,,failed,403,InvalidObjectState,Restore is not allowed for the object's current storage class\n",
            "b-1,odd,,succeeded,,,\n",
        ));
        let outcome = |i: usize| got[i].as_ref().unwrap().outcome();
        assert_eq!(got[0].as_ref().unwrap().object, id("a b,c"));
        assert_eq!(outcome(0), RowOutcome::AwaitEvent);
        assert_eq!(got[1].as_ref().unwrap().object, id("x+y"));
        assert_eq!(outcome(1), RowOutcome::Confirm);
        assert_eq!(outcome(2), RowOutcome::AwaitEvent);
        assert!(
            matches!(outcome(3), RowOutcome::Excluded(r) if r.starts_with("403 InvalidObjectState"))
        );
        assert_eq!(outcome(4), RowOutcome::Confirm);
    }

    #[test]
    fn bad_rows_are_errors_with_their_number_and_reading_goes_on() {
        let got = rows(concat!(
            "b-1,ok,,succeeded,200,,\n",
            "b-1\n",
            "b-1,k,,maybe,200,,\n",
            "b-1,k,,failed,404,500,\n",
            "b-1,%zz,,failed,404,NoSuchKey,\n",
            "b-1,fine,,failed,404,NoSuchKey,\n",
        ));
        assert!(got[0].is_ok());
        let errors: Vec<u64> = got
            .iter()
            .filter_map(|r| r.as_ref().err())
            .map(|e| e.row)
            .collect();
        assert_eq!(errors, [2, 3, 4, 5]);
        assert!(got[5].is_ok());
        assert!(ReportColumns::from_schema("Bucket, TaskStatus").is_err());
    }

    #[test]
    fn manifest_location() {
        assert_eq!(
            report_manifest_key("reports/", "abc"),
            "reports/job-abc/manifest.json"
        );
        assert_eq!(report_manifest_key("", "abc"), "job-abc/manifest.json");
        assert!(parse_report_manifest(b"{}").is_err());
    }

    proptest::proptest! {
        /// Reads of any size and any row limit, resumed where the last one stopped,
        /// read the same rows as one pass, numbered from the file's start.
        #[test]
        fn reading_in_byte_ranges_reads_the_same_rows(
            keys in proptest::collection::vec("[a-z0-9%/ ]{0,12}", 0..20),
            read_bytes in 1usize..120,
            max_rows in 1u64..5,
        ) {
            let csv: String = keys
                .iter()
                .map(|k| format!("b-1,{k},,succeeded,200,,Successful\n"))
                .collect();
            let columns = ReportColumns::from_schema(SCHEMA).unwrap();
            let whole: Vec<_> = read_report_rows(columns, csv.as_bytes()).collect();
            let longest = csv.split_inclusive('\n').map(str::len).max().unwrap_or(0);
            let mut at = RowPosition::default();
            let mut read = Vec::new();
            while (at.byte as usize) < csv.len() {
                let start = at.byte as usize;
                let end = (start + read_bytes).min(csv.len());
                let chunk = read_chunk(columns, &csv.as_bytes()[start..end], &at, end == csv.len(), max_rows);
                if chunk.next == at {
                    // No whole row fits in a read: reading stops there.
                    proptest::prop_assert!(longest >= read_bytes);
                    break;
                }
                read.extend(chunk.rows);
                at = chunk.next;
            }
            if (at.byte as usize) == csv.len() {
                proptest::prop_assert_eq!(at.row, whole.len() as u64);
                proptest::prop_assert_eq!(read, whole);
            }
        }
    }
}
