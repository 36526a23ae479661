//! The completion report, written to moto's S3 in S3's layout:
//! `<prefix>/job-<id>/manifest.json` listing `<prefix>/job-<id>/results/<name>.csv`,
//! one result file per task execution status (S3 writes succeeded and failed tasks to
//! separate files). Report scope is all tasks.

use gbr_core::completion_report::{report_manifest_key, write};
use gbr_core::object_id::ObjectId;
use jiff::Timestamp;

use super::draws::file_name;
use super::glacier::TaskAnswer;
use super::requests::{RequestError, put};
use crate::engine::clock::format_timestamp;

/// One processed task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskResult {
    pub object: ObjectId,
    pub answer: TaskAnswer,
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
            .map(|r| {
                write::row(
                    &r.object,
                    r.answer.succeeded,
                    &r.answer.error_code,
                    r.answer.http_status,
                    &r.answer.message,
                )
            })
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
        listed.push((bucket.to_owned(), key.clone(), succeeded));
        objects.push((key, "text/csv", csv.into_bytes()));
    }
    let mut manifest = write::manifest(&listed);
    manifest["ReportCreationDate"] = serde_json::Value::String(format_timestamp(now));
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
    use gbr_core::completion_report::{ReportColumns, parse_report_manifest, read_report_rows};

    #[test]
    fn the_report_reads_back_with_the_core_reader() {
        let id = |k: &str| ObjectId::new("data-1", k, None).expect("id");
        let results = vec![
            TaskResult {
                object: id("a b+c"),
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
        let mut statuses = Vec::new();
        for (file, (key, _, body)) in manifest.results.iter().zip(&objects) {
            assert_eq!(&file.key, key);
            assert!(key.starts_with("reports/job-id-1/results/") && key.ends_with(".csv"));
            assert_eq!(file.bucket, "rep-1");
            for row in read_report_rows(columns, body) {
                let row = row.expect("row");
                assert_eq!(file.task_execution_status == "succeeded", row.succeeded);
                statuses.push((row.object.key().to_owned(), row.http_status));
            }
        }
        assert_eq!(
            statuses,
            [
                ("a b+c".to_owned(), Some(202)),
                ("old".to_owned(), Some(200)),
                ("gone".to_owned(), Some(404))
            ]
        );
    }
}
