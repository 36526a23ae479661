//! The completion report, written to moto's S3 as AWS writes one: `<prefix>/job-<id>/
//! manifest.json` listing `<prefix>/job-<id>/results/<40 hex digits>.csv`, one result
//! file per task execution status, each with its MD5; rows with the HTTP status before
//! the error code, as in AWS's example rows, whatever `ReportSchema` says; keys
//! percent-encoded as in the manifest. See `tests/fixtures/aws/completion-report/`.

use gbr_core::completion_report::report_manifest_key;
use gbr_core::object_id::{ObjectId, percent_encode_key};
use jiff::Timestamp;

use super::draws::file_name;
use super::glacier::TaskAnswer;
use super::requests::{RequestError, md5_hex, put};
use crate::engine::clock::format_timestamp;

/// The schema S3 writes in `manifest.json` (its rows do not follow it; see above).
pub const REPORT_SCHEMA: &str =
    "Bucket, Key, VersionId, TaskStatus, ErrorCode, HTTPStatusCode, ResultMessage";

/// One processed task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskResult {
    pub object: ObjectId,
    pub answer: TaskAnswer,
}

/// One CSV line of a result file, in the column order of AWS's example rows.
pub fn report_row(result: &TaskResult) -> String {
    let mut w = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new());
    let a = &result.answer;
    let status = if a.succeeded { "succeeded" } else { "failed" };
    let http = a.http_status.to_string();
    // Writing to a Vec cannot fail.
    let _ = w.write_record([
        result.object.bucket(),
        &percent_encode_key(result.object.key()),
        result.object.version_id().unwrap_or_default(),
        status,
        &http,
        &a.error_code,
        &a.message,
    ]);
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

/// The report's objects: `(key, content type, body)`, result files first and the
/// manifest last.
pub fn report_objects(
    prefix: &str,
    bucket: &str,
    seed: u64,
    batch_job_id: &str,
    results: &[TaskResult],
    now: Timestamp,
) -> Vec<(String, &'static str, Vec<u8>)> {
    let manifest_key = report_manifest_key(prefix, batch_job_id);
    let job_dir = manifest_key.trim_end_matches("manifest.json");
    let mut objects = Vec::new();
    let mut listed = Vec::new();
    for succeeded in [true, false] {
        let csv: String = results
            .iter()
            .filter(|r| r.answer.succeeded == succeeded)
            .map(report_row)
            .collect();
        // S3 lists no file for a status no task ended with.
        if csv.is_empty() {
            continue;
        }
        let status = if succeeded { "succeeded" } else { "failed" };
        let key = format!(
            "{job_dir}results/{}.csv",
            file_name(seed, batch_job_id, status)
        );
        listed.push(serde_json::json!({
            "TaskExecutionStatus": status,
            "Bucket": bucket,
            "MD5Checksum": md5_hex(csv.as_bytes()),
            "Key": key,
        }));
        objects.push((key, "text/csv", csv.into_bytes()));
    }
    let manifest = serde_json::json!({
        "Format": "Report_CSV_20180820",
        "ReportCreationDate": format_timestamp(now),
        "Results": listed,
        "ReportSchema": REPORT_SCHEMA,
    });
    objects.push((
        manifest_key,
        "application/json",
        manifest.to_string().into_bytes(),
    ));
    objects
}

/// Writes the report; returns the key of its `manifest.json`.
pub async fn write_report(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
    seed: u64,
    batch_job_id: &str,
    results: &[TaskResult],
    now: Timestamp,
) -> Result<String, RequestError> {
    let mut manifest_key = String::new();
    for (key, content_type, body) in
        report_objects(prefix, bucket, seed, batch_job_id, results, now)
    {
        put(s3, bucket, &key, content_type, body).await?;
        manifest_key = key;
    }
    Ok(manifest_key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gbr_core::completion_report::{
        ReportColumns, RowOutcome, TaskStatus, parse_report_manifest, read_report_rows,
    };

    #[test]
    fn the_report_reads_back_with_the_core_reader() {
        let id = |k: &str| ObjectId::new("data-1", k, None).expect("id");
        let results = vec![
            TaskResult {
                object: id("a b+c,d"),
                answer: TaskAnswer::started(),
            },
            TaskResult {
                object: id("gone"),
                answer: TaskAnswer::no_such_key(),
            },
            TaskResult {
                object: id("old"),
                answer: TaskAnswer::already_restored(),
            },
        ];
        let now: Timestamp = "2030-01-01T00:00:00Z".parse().expect("ts");
        let objects = report_objects("reports/", "rep-1", 3, "id-1", &results, now);
        assert_eq!(objects.len(), 3);
        let (manifest_key, _, manifest) = objects.last().expect("manifest");
        assert_eq!(manifest_key, "reports/job-id-1/manifest.json");
        let manifest = parse_report_manifest(manifest).expect("manifest parses");
        assert_eq!(
            manifest.report_creation_date.as_deref(),
            Some("2030-01-01T00:00:00.000Z")
        );
        let columns = ReportColumns::from_schema(&manifest.report_schema).expect("schema");
        let mut read = Vec::new();
        for (file, (key, _, body)) in manifest.results.iter().zip(&objects) {
            assert_eq!(&file.key, key);
            assert!(key.starts_with("reports/job-id-1/results/") && key.ends_with(".csv"));
            assert_eq!(file.md5_checksum.as_deref(), Some(md5_hex(body).as_str()));
            for row in read_report_rows(columns, body) {
                let row = row.expect("row");
                assert_eq!(
                    file.task_execution_status == "succeeded",
                    row.status == TaskStatus::Succeeded
                );
                read.push((row.object.key().to_owned(), row.http_status, row.outcome()));
            }
        }
        assert_eq!(
            read,
            [
                ("a b+c,d".to_owned(), Some(202), RowOutcome::AwaitEvent),
                ("old".to_owned(), Some(200), RowOutcome::Confirm),
                (
                    "gone".to_owned(),
                    Some(404),
                    RowOutcome::Excluded("404 NoSuchKey: The specified key does not exist.".into())
                ),
            ]
        );
    }
}
