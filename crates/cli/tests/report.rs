//! `gbr report`, run as a user runs it, on reports laid out as `aws s3 cp --recursive`
//! copies them: AWS's own example report, and restore reports in either column order.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn gbr(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gbr"))
        .args(args)
        .env_remove("AWS_ENDPOINT_URL")
        .output()
        .unwrap()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gbr-report-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("results")).unwrap();
    dir
}

/// A report folder: manifest.json listing `files` as `(status, name, csv)`.
fn report(name: &str, schema: &str, files: &[(&str, &str, &str)]) -> PathBuf {
    let dir = scratch(name);
    let results: Vec<Value> = files
        .iter()
        .map(|(status, file, csv)| {
            std::fs::write(dir.join("results").join(file), csv).unwrap();
            serde_json::json!({"TaskExecutionStatus": status, "Bucket": "reports-1",
                "MD5Checksum": "", "Key": format!("batch-reports/job-abc/results/{file}")})
        })
        .collect();
    let manifest = serde_json::json!({"Format": "Report_CSV_20180820",
        "ReportCreationDate": "2026-11-27T00:00:00.000Z", "Results": results, "ReportSchema": schema});
    std::fs::write(dir.join("manifest.json"), manifest.to_string()).unwrap();
    dir
}

const SCHEMA: &str = "Bucket, Key, VersionId, TaskStatus, ErrorCode, HTTPStatusCode, ResultMessage";

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// AWS's example report (tests/fixtures/aws/completion-report), copied into a folder.
#[test]
fn the_aws_example_report_is_summarised() {
    let fixtures =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/aws/completion-report");
    let dir = scratch("aws-example");
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures.join("manifest.json")).unwrap())
            .unwrap();
    std::fs::copy(fixtures.join("manifest.json"), dir.join("manifest.json")).unwrap();
    for result in manifest["Results"].as_array().unwrap() {
        let key = result["Key"].as_str().unwrap();
        let name = key.rsplit('/').next().unwrap();
        let source = match result["TaskExecutionStatus"].as_str().unwrap() {
            "failed" => "results-failed.lambda-invoke.csv",
            _ => "results-succeeded.lambda-invoke.csv",
        };
        std::fs::copy(fixtures.join(source), dir.join("results").join(name)).unwrap();
    }
    let out = gbr(&["report", dir.to_str().unwrap()]);
    let stdout = text(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.starts_with("9 tasks: 3 succeeded, 6 failed"),
        "{stdout}"
    );
    assert!(stdout.contains("  PermanentFailure: 6"), "{stdout}");
    assert!(
        stdout.contains("s3://awsexamplebucket1/image_14975: 200 PermanentFailure: Lambda returned function error"),
        "{stdout}"
    );
}

/// Restore tasks in AWS's column order and in the schema's: the same summary.
#[test]
fn restore_reports_in_either_column_order_read_the_same() {
    let aws_order = report(
        "aws-order",
        SCHEMA,
        &[
            (
                "succeeded",
                "ok.csv",
                "data-1,a%20b.txt,,succeeded,202,,Successful\ndata-1,old,,succeeded,200,,Successful\n",
            ),
            (
                "failed",
                "failed.csv",
                "data-1,gone,v1,failed,404,NoSuchKey,The specified key does not exist.\ndata-1,plain,,failed,403,InvalidObjectState,Restore is not allowed for the object's current storage class\ndata-1,busy,,failed,409,RestoreAlreadyInProgress,Object restore is already in progress\n",
            ),
        ],
    );
    let schema_order = report(
        "schema-order",
        SCHEMA,
        &[
            (
                "succeeded",
                "ok.csv",
                "data-1,a%20b.txt,,succeeded,,202,Successful\ndata-1,old,,succeeded,,200,Successful\n",
            ),
            (
                "failed",
                "failed.csv",
                "data-1,gone,v1,failed,NoSuchKey,404,The specified key does not exist.\ndata-1,plain,,failed,InvalidObjectState,403,Restore is not allowed for the object's current storage class\ndata-1,busy,,failed,RestoreAlreadyInProgress,409,Object restore is already in progress\n",
            ),
        ],
    );
    let a = gbr(&["report", aws_order.to_str().unwrap()]);
    let b = gbr(&["report", schema_order.to_str().unwrap()]);
    assert_eq!(a.status.code(), Some(0));
    assert_eq!(text(&a), text(&b));
    let summary = text(&a);
    for line in [
        "5 tasks: 2 succeeded, 3 failed",
        "  restores started (202): 1",
        "  succeeded without a restore (a restored copy existed): 1",
        "  already being restored (409): 1",
        "  will not be restored: 2",
        "  NoSuchKey: 1",
        "  s3://data-1/gone (version v1): 404 NoSuchKey: The specified key does not exist.",
    ] {
        assert!(summary.contains(line), "{line:?} in\n{summary}");
    }

    let json = gbr(&["report", aws_order.to_str().unwrap(), "--json"]);
    let lines: Vec<Value> = text(&json)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 6);
    assert_eq!(lines[0]["key"], "a b.txt");
    assert_eq!(lines[0]["http_status"], 202);
    let summary = &lines[5]["summary"];
    assert_eq!(
        (
            summary["tasks"].as_u64(),
            summary["succeeded"].as_u64(),
            summary["failed"].as_u64()
        ),
        (Some(5), Some(2), Some(3))
    );
    assert_eq!(summary["by_error"]["RestoreAlreadyInProgress"], 1);
}

#[test]
fn malformed_and_unreadable_reports_say_where() {
    let dir = report(
        "malformed",
        SCHEMA,
        &[(
            "failed",
            "f.csv",
            "data-1,ok,,failed,404,NoSuchKey,x\ndata-1\n",
        )],
    );
    let out = gbr(&["report", dir.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("results/f.csv: row 2:"), "{stderr}");
    assert!(
        text(&out).starts_with("1 tasks"),
        "the readable rows are still summarised"
    );

    std::fs::remove_file(dir.join("results/f.csv")).unwrap();
    let out = gbr(&["report", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let out = gbr(&["report", "/nonexistent/report"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a folder"));
}
