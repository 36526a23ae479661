//! `gbr report PATH|s3://bucket/prefix/job-ID/`: a Batch Operations completion report,
//! summarised.
//!
//! A local PATH is the folder holding `manifest.json`, as `aws s3 cp --recursive`
//! copies a report out of S3; each result file is found there by the part of its
//! `Results[].Key` after `job-<id>/`. Rows are read as AWS writes them (HTTP status
//! before the error code, whatever `ReportSchema` says; see `gbr_core::completion_report`).

use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use gbr_core::completion_report::{
    ReportColumns, ReportManifest, ReportRow, ReportSummary, RowError, RowOutcome, TaskStatus,
    parse_report_manifest, read_report_rows,
};
use serde_json::json;

use crate::manifest_upload::{S3Location, download, s3_client};

/// The report could be read, but some of it is malformed (a row, or manifest.json).
const MALFORMED: u8 = 1;
/// The report could not be read at all.
const UNREADABLE: u8 = 2;

/// Where a report is.
#[derive(Debug, Clone)]
pub enum ReportSource {
    Local(PathBuf),
    S3(S3Location),
}

impl ReportSource {
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.starts_with("s3://") {
            let mut location: S3Location = text.parse()?;
            if !location.is_prefix() {
                location.key.push('/');
            }
            Ok(ReportSource::S3(location))
        } else {
            Ok(ReportSource::Local(PathBuf::from(text)))
        }
    }
}

/// Reads the report's files.
enum Reader {
    Local(PathBuf),
    S3 {
        client: aws_sdk_s3::Client,
        location: S3Location,
    },
}

impl Reader {
    fn manifest_name(&self) -> String {
        match self {
            Reader::Local(dir) => dir.join("manifest.json").display().to_string(),
            Reader::S3 { location, .. } => {
                format!("s3://{}/{}manifest.json", location.bucket, location.key)
            }
        }
    }

    async fn manifest(&self) -> Result<Vec<u8>, String> {
        match self {
            Reader::Local(dir) => read_file(&dir.join("manifest.json")),
            Reader::S3 { client, location } => {
                let key = format!("{}manifest.json", location.key);
                get(client, &location.bucket, &key).await
            }
        }
    }

    /// A result file, and the name it is shown by.
    async fn result(&self, bucket: &str, key: &str) -> (String, Result<Vec<u8>, String>) {
        match self {
            Reader::Local(dir) => {
                // The key's part after `job-<id>/`, as a recursive copy lays it out.
                let relative = key
                    .split_once("/job-")
                    .map_or(key, |(_, rest)| rest)
                    .split_once('/')
                    .map_or(key, |(_, rest)| rest);
                let path = dir.join(relative);
                (path.display().to_string(), read_file(&path))
            }
            Reader::S3 { client, .. } => (
                format!("s3://{bucket}/{key}"),
                get(client, bucket, key).await,
            ),
        }
    }
}

fn read_file(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

async fn get(client: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Result<Vec<u8>, String> {
    download(client, bucket, key)
        .await
        .map_err(|e| e.to_string())
}

pub async fn run(source: ReportSource, aws_endpoint_url: Option<&str>, json: bool) -> ExitCode {
    let reader = match source {
        ReportSource::Local(dir) => {
            if !dir.is_dir() {
                eprintln!(
                    "error: {} is not a folder; give the folder that holds the report's manifest.json",
                    dir.display()
                );
                return ExitCode::from(UNREADABLE);
            }
            Reader::Local(dir)
        }
        ReportSource::S3(location) => Reader::S3 {
            client: s3_client(aws_endpoint_url).await,
            location,
        },
    };
    let manifest_name = reader.manifest_name();
    let manifest = match reader.manifest().await {
        Ok(bytes) => bytes,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(UNREADABLE);
        }
    };
    let (manifest, columns) = match parse_report_manifest(&manifest)
        .and_then(|m| ReportColumns::from_schema(&m.report_schema).map(|c| (m, c)))
    {
        Ok(read) => read,
        Err(e) => {
            eprintln!("error: {manifest_name}: {e}");
            return ExitCode::from(MALFORMED);
        }
    };
    match summarise(&reader, &manifest, columns, json).await {
        Ok(problems) if problems.malformed.is_empty() && problems.unreadable.is_empty() => {
            ExitCode::SUCCESS
        }
        Ok(problems) => {
            for (file, e) in &problems.malformed {
                eprintln!("error: {file}: {e}");
            }
            for e in &problems.unreadable {
                eprintln!("error: {e}");
            }
            ExitCode::from(if problems.unreadable.is_empty() {
                MALFORMED
            } else {
                UNREADABLE
            })
        }
        // Our reader went away (`| head`): nothing more to say.
        Err(_) => ExitCode::from(MALFORMED),
    }
}

#[derive(Default)]
struct Problems {
    malformed: Vec<(String, RowError)>,
    unreadable: Vec<String>,
}

async fn summarise(
    reader: &Reader,
    manifest: &ReportManifest,
    columns: ReportColumns,
    json: bool,
) -> io::Result<Problems> {
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut summary = ReportSummary::default();
    let mut failures: Vec<ReportRow> = Vec::new();
    let mut problems = Problems::default();
    for file in &manifest.results {
        let (name, bytes) = reader.result(&file.bucket, &file.key).await;
        let bytes = match bytes {
            Ok(bytes) => bytes,
            Err(e) => {
                problems.unreadable.push(e);
                continue;
            }
        };
        for row in read_report_rows(columns, &bytes) {
            let row = match row {
                Ok(row) => row,
                Err(e) => {
                    problems.malformed.push((name.clone(), e));
                    continue;
                }
            };
            summary.add(&row);
            if json {
                writeln!(out, "{}", task_json(&row))?;
            } else if row.status == TaskStatus::Failed {
                failures.push(row);
            }
        }
    }
    if json {
        writeln!(
            out,
            "{}",
            json!({"summary": {"tasks": summary.tasks, "succeeded": summary.succeeded,
                "failed": summary.failed, "by_error": summary.by_error,
                "restores_started": summary.restores_started,
                "restores_under_way": summary.restores_under_way,
                "succeeded_without_a_restore": summary.to_confirm,
                "will_not_be_restored": summary.excluded,
                "malformed_rows": problems.malformed.len()}})
        )?;
    } else {
        write_text(&mut out, &summary, &failures)?;
    }
    out.flush()?;
    Ok(problems)
}

fn task_json(row: &ReportRow) -> serde_json::Value {
    let outcome = match row.outcome() {
        RowOutcome::AwaitEvent => "restore started or under way",
        RowOutcome::Confirm => "succeeded without a restore",
        RowOutcome::Excluded(_) => "will not be restored",
    };
    json!({
        "bucket": row.object.bucket(),
        "key": row.object.key(),
        "version_id": row.object.version_id(),
        "status": row.status,
        "http_status": row.http_status,
        "error_code": row.error_code,
        "message": row.message,
        "outcome": outcome,
    })
}

fn write_text(out: &mut impl Write, s: &ReportSummary, failures: &[ReportRow]) -> io::Result<()> {
    writeln!(
        out,
        "{} tasks: {} succeeded, {} failed",
        s.tasks, s.succeeded, s.failed
    )?;
    writeln!(out, "  restores started (202): {}", s.restores_started)?;
    writeln!(
        out,
        "  succeeded without a restore (a restored copy existed): {}",
        s.to_confirm
    )?;
    writeln!(
        out,
        "  already being restored (409): {}",
        s.restores_under_way
    )?;
    writeln!(out, "  will not be restored: {}", s.excluded)?;
    if !s.by_error.is_empty() {
        writeln!(out, "failed tasks by error code:")?;
        for (code, n) in &s.by_error {
            let code = if code.is_empty() { "(none)" } else { code };
            writeln!(out, "  {code}: {n}")?;
        }
    }
    if !failures.is_empty() {
        writeln!(out, "failed tasks:")?;
        for row in failures {
            let version = row
                .object
                .version_id()
                .map(|v| format!(" (version {v})"))
                .unwrap_or_default();
            writeln!(
                out,
                "  s3://{}/{}{version}: {}",
                row.object.bucket(),
                row.object.key(),
                row.failure()
            )?;
        }
    }
    Ok(())
}
