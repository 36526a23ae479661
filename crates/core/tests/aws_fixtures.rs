//! The parsers on AWS's own artifacts: every completion report, EventBridge event, S3
//! event notification and SQS message body in `tests/fixtures/aws/` (each file's source
//! is in its README). That the simulator sends exactly the real events' shape is checked
//! beside it (`crates/local/src/simulator/mod.rs`).

use std::path::{Path, PathBuf};

use gbr_core::completion_report::{
    ReportColumns, RowOutcome, TaskStatus, parse_report_manifest, read_report_rows,
};
use gbr_core::object_id::ObjectId;
use gbr_core::restore_event::decode_message;
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/aws")
}

fn read(relative: &str) -> String {
    std::fs::read_to_string(fixtures().join(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

fn json(relative: &str) -> Value {
    serde_json::from_str(&read(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

/// LocalStack's recordings replace names with placeholders such as `<resource:1>`,
/// which are no valid bucket names; and the S3 User Guide's examples use uppercase
/// placeholder bucket names S3 no longer allows. Each becomes a valid name.
fn with_valid_buckets(text: &str) -> String {
    text.replace("<bucket-name:1>", "recorded-bucket")
        .replace("<resource:1>", "recorded-bucket")
        .replace("DOC-EXAMPLE-BUCKET1", "doc-example-bucket1")
}

fn restored(body: &str) -> Vec<ObjectId> {
    decode_message(body)
        .unwrap_or_else(|e| panic!("{e}: {body}"))
        .restored
        .into_iter()
        .map(|r| r.object)
        .collect()
}

fn id(bucket: &str, key: &str, version: Option<&str>) -> ObjectId {
    ObjectId::new(bucket, key, version.map(str::to_owned)).unwrap()
}

#[test]
fn the_completion_report_example_reads_with_the_status_before_the_code() {
    let manifest =
        parse_report_manifest(read("completion-report/manifest.json").as_bytes()).unwrap();
    assert_eq!(manifest.format, "Report_CSV_20180820");
    assert_eq!(manifest.results.len(), 2);
    // The schema names ErrorCode before HTTPStatusCode; the rows carry them the other
    // way round. Both read the same.
    assert_eq!(
        manifest.report_schema,
        "Bucket, Key, VersionId, TaskStatus, ErrorCode, HTTPStatusCode, ResultMessage"
    );
    let columns = ReportColumns::from_schema(&manifest.report_schema).unwrap();
    for (file, status, rows) in [
        ("results-failed.lambda-invoke.csv", TaskStatus::Failed, 6),
        (
            "results-succeeded.lambda-invoke.csv",
            TaskStatus::Succeeded,
            3,
        ),
    ] {
        let csv = read(&format!("completion-report/{file}"));
        let read: Vec<_> = read_report_rows(columns, csv.as_bytes())
            .map(|r| r.unwrap_or_else(|e| panic!("{file}: {e}")))
            .collect();
        assert_eq!(read.len(), rows, "{file}");
        for row in read {
            assert_eq!(row.status, status, "{file}");
            assert_eq!(row.http_status, Some(200), "{file}");
            assert_eq!(row.object.bucket(), "awsexamplebucket1");
            assert!(row.object.key().starts_with("image_"));
            match status {
                TaskStatus::Failed => {
                    assert_eq!(row.error_code, "PermanentFailure");
                    assert!(row.message.starts_with("Lambda returned function error"));
                    assert!(
                        matches!(row.outcome(), RowOutcome::Excluded(r) if r.starts_with("200 PermanentFailure: Lambda returned"))
                    );
                }
                TaskStatus::Succeeded => {
                    assert_eq!(row.error_code, "");
                    // Succeeded without starting a restore: only HeadObject can tell.
                    assert_eq!(row.outcome(), RowOutcome::Confirm);
                }
            }
        }
    }
}

#[test]
fn eventbridge_restore_events_and_others() {
    for (file, key, version) in [
        (
            "eventbridge/object-restore-completed.s3-user-guide-2023.json",
            "example-key",
            Some("KKsjUC1.6gIjqtvhfg5AdMI0eCePIiT3"),
        ),
        (
            "eventbridge/object-restore-completed.s3-user-guide-current.json",
            "example-key",
            Some("KKsjUC1.6gIjqtvhfg5AdMI0eCePIiT3"),
        ),
    ] {
        let body = with_valid_buckets(&read(file));
        let bucket = if file.contains("2023") {
            "doc-example-bucket1"
        } else {
            "amzn-s3-demo-bucket1"
        };
        assert_eq!(restored(&body), [id(bucket, key, version)], "{file}");
    }
    let powertools = read("eventbridge/object-restore-completed.powertools-python.json");
    let found = restored(&powertools);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].version_id(), None);

    // Recorded from AWS: Initiated is no completion; Completed is.
    let recorded =
        json("eventbridge/object-restore-initiated-and-completed.aws-recorded.localstack.json");
    let messages = recorded["recorded-content"]["messages"]["messages"]
        .as_array()
        .unwrap();
    let mut outcomes = Vec::new();
    for message in messages {
        let body = with_valid_buckets(&message.to_string());
        let decoded = decode_message(&body).unwrap();
        outcomes.push((decoded.restored.len(), decoded.ignored));
    }
    assert_eq!(
        outcomes,
        [
            (0, vec!["Object Restore Initiated".to_owned()]),
            (1, vec![])
        ]
    );
    let created = decode_message(&read("eventbridge/object-created.captured.json")).unwrap();
    assert_eq!(
        (created.restored.len(), created.ignored),
        (0, vec!["Object Created".to_owned()])
    );
}

#[test]
fn s3_notifications_and_their_envelopes() {
    // Captured restore records, each as one message's only record.
    for (file, bucket, key, version) in [
        (
            "s3-notification/object-restore-completed.record.deep-archive.captured.json",
            None,
            None,
            None,
        ),
        (
            "s3-notification/object-restore-completed.record.versioned.captured.json",
            Some("manifest.bdrc.org"),
            Some("ao1060/W1FPL2251.bag.zip"),
            Some("vwfO4VqvGTlWeuSAtXDOhPzFhl.6YrSG"),
        ),
    ] {
        let record = json(file);
        let body = format!("{{\"Records\":[{record}]}}");
        let found = restored(&body);
        assert_eq!(found.len(), 1, "{file}");
        if let (Some(b), Some(k)) = (bucket, key) {
            assert_eq!(found[0], id(b, k, version), "{file}");
        }
    }
    // AWS-recorded: a key with `@` arrives encoded as `a%40b`.
    let at_sign = json("s3-notification/key-encoding-at-sign.aws-recorded.localstack.json");
    let record = &at_sign["recorded-content"]["receive_messages"]["messages"][0];
    assert_eq!(record["s3"]["object"]["key"], "a%40b");
    let mut completed = record.clone();
    completed["eventName"] = Value::String("ObjectRestore:Completed".into());
    let body = with_valid_buckets(&format!("{{\"Records\":[{completed}]}}"));
    assert_eq!(restored(&body), [id("recorded-bucket", "a@b", None)]);

    // AWS-recorded restore: Post is ignored, Completed counts.
    let recorded =
        json("s3-notification/object-restore-post-and-completed.aws-recorded.localstack.json");
    let text = with_valid_buckets(&recorded["recorded-content"].to_string());
    let records: Vec<&str> = text.matches("\"eventName\":\"ObjectRestore:").collect();
    assert!(records.len() >= 2, "{text}");
    let content: Value = serde_json::from_str(&text).unwrap();
    let mut names = Vec::new();
    walk_records(&content, &mut |record| {
        let body = format!("{{\"Records\":[{record}]}}");
        let decoded = decode_message(&body).unwrap();
        names.push((decoded.restored.len(), decoded.ignored.join(",")));
    });
    assert!(names.contains(&(1, String::new())), "{names:?}");
    assert!(
        names.contains(&(0, "ObjectRestore:Post".to_owned())),
        "{names:?}"
    );

    // The documented template, the test event and a Put: nothing restored, no error.
    for file in [
        "s3-notification/event-structure-v2.2.template.s3-user-guide.json",
        "s3-notification/s3-test-event.s3-user-guide.json",
        "s3-notification/object-created-put.s3-user-guide.json",
        "s3-notification/sns-notification-body.s3-object-created.captured.json",
    ] {
        let decoded = decode_message(&with_valid_buckets(&read(file)))
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(decoded.restored.is_empty(), "{file}");
        assert!(!decoded.ignored.is_empty(), "{file}");
    }
}

/// Calls `f` with every object holding an `eventName` and an `s3` entity.
fn walk_records(value: &Value, f: &mut impl FnMut(&Value)) {
    match value {
        Value::Object(map) if map.contains_key("eventName") && map.contains_key("s3") => f(value),
        Value::Object(map) => map.values().for_each(|v| walk_records(v, f)),
        Value::Array(items) => items.iter().for_each(|v| walk_records(v, f)),
        _ => {}
    }
}

/// SQS message bodies as the restore-events queue receives them: the body of every
/// record of every SQS event in the corpus decodes, restore or not.
#[test]
fn sqs_bodies_in_every_envelope() {
    for (file, restores) in [
        (
            "lambda-events/sqs/sqs-body-eventbridge-object-restore-completed.adapted.json",
            1,
        ),
        (
            "lambda-events/sqs/sqs-body-s3-object-restore-completed.adapted.json",
            1,
        ),
        (
            "lambda-events/sqs/sqs-body-sns-s3-object-restore-completed.adapted.json",
            1,
        ),
        (
            "lambda-events/sqs/sqs-body-eventbridge-s3-object-created.captured.json",
            0,
        ),
        (
            "lambda-events/sqs/sqs-body-raw-sns-s3-object-created.captured.json",
            0,
        ),
        (
            "lambda-events/sqs/sqs-body-s3-object-created.captured.json",
            0,
        ),
        (
            "lambda-events/sqs/sqs-body-sns-s3-object-created.captured.json",
            0,
        ),
    ] {
        let event = json(file);
        let body = with_valid_buckets(event["Records"][0]["body"].as_str().unwrap());
        let decoded = decode_message(&body).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(decoded.restored.len(), restores, "{file}");
    }
    // An SNS-triggered function's event holds the S3 message in Sns.Message.
    let sns = json("lambda-events/sns/sns-s3-object-created.captured.json");
    let message = sns["Records"][0]["Sns"]["Message"].as_str().unwrap();
    assert_eq!(
        decode_message(message).unwrap().ignored,
        ["ObjectCreated:Put"]
    );
}

/// Every file of the corpus has its source in the README and is read by a test.
#[test]
fn every_fixture_is_documented_and_read() {
    let readme = read("README.md");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut tests = String::new();
    for dir in [
        "crates/core/tests",
        "crates/aws/tests",
        "lambdas/tests",
        "crates/local/src/simulator",
    ] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "rs") {
                tests.push_str(&std::fs::read_to_string(path).unwrap());
            }
        }
    }
    let mut files = Vec::new();
    let mut dirs = vec![fixtures()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.file_name().is_some_and(|n| n != "README.md") {
                files.push(path);
            }
        }
    }
    assert!(files.len() > 40, "{} files", files.len());
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        // The DescribeJob bodies are named by status and read as a directory.
        let stem = name.split('.').next().unwrap();
        assert!(
            readme.contains(&name) || readme.contains(&format!("`{stem}`")),
            "{name} is not in the README"
        );
        assert!(
            tests.contains(&name) || name.ends_with(".constructed.xml"),
            "no test reads {name}"
        );
    }
}
