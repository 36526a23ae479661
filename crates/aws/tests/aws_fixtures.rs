//! The adapters on AWS's own answers: every DescribeJob body and every HeadObject or
//! GetObject answer in `tests/fixtures/aws/` (see its README for each file's source),
//! served to the SDK as HTTP responses.

use std::path::{Path, PathBuf};

use aws_sdk_s3control::config::{Credentials, Region};
use aws_smithy_http_client::test_util::infallible_client_fn;
use aws_smithy_types::body::SdkBody;
use gbr_aws::{BatchSettings, S3BatchOperations, S3Objects};
use gbr_core::object_id::ObjectId;
use gbr_core::ports::{ArchiveState, BatchOperations, ObjectInspector, ObjectSource, PortError};
use gbr_core::status::BatchJobStatus;
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/aws")
}

fn read(relative: &str) -> String {
    std::fs::read_to_string(fixtures().join(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

/// An HTTP client answering every request with `status` and `body`.
fn answering(status: u16, body: String) -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    infallible_client_fn(move |_request| {
        http::Response::builder()
            .status(status)
            .body(SdkBody::from(body.clone()))
            .expect("a response")
    })
}

fn batch(status: u16, body: String) -> S3BatchOperations {
    let config = aws_sdk_s3control::Config::builder()
        .http_client(answering(status, body))
        .credentials_provider(Credentials::for_tests())
        .region(Region::new("us-west-2"))
        .behavior_version(aws_sdk_s3control::config::BehaviorVersion::latest())
        .build();
    S3BatchOperations::from_client(
        aws_sdk_s3control::Client::from_conf(config),
        BatchSettings {
            account_id: "123456789012".into(),
            role_arn: "arn:aws:iam::123456789012:role/S3BatchJobRole".into(),
            report_bucket_arn: "arn:aws:s3:::employee-records-logs".into(),
            report_prefix: "batch-op-create-job".into(),
            priority: 42,
        },
    )
}

fn s3(status: u16, body: String) -> S3Objects {
    let config = aws_sdk_s3::Config::builder()
        .http_client(answering(status, body))
        .credentials_provider(Credentials::for_tests())
        .region(Region::new("us-east-1"))
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .build();
    S3Objects::from_client(aws_sdk_s3::Client::from_conf(config))
}

/// Every DescribeJob answer, one per status the API documents: read into the batch
/// job's status, task counts and (for a failed job) S3's own reasons.
#[tokio::test]
async fn describe_job_answers_of_every_status() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixtures().join("describe-job"))
        .expect("the describe-job fixtures")
        .map(|e| e.expect("an entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "xml"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 14);
    let mut seen = Vec::new();
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let body = std::fs::read_to_string(&path).unwrap();
        let info = batch(200, body.clone())
            .describe_job("93735294-df46-44d5-8638-6356f335324e")
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        // The file is named for its status: complete-with-failed-tasks is Complete.
        let expected = name.split(['.', '-']).next().unwrap();
        assert_eq!(
            info.status.as_str().to_ascii_lowercase(),
            expected,
            "{name}"
        );
        seen.push(info.status);
        let number = |element: &str| -> u64 {
            body.split(&format!("<{element}>"))
                .nth(1)
                .and_then(|rest| rest.split('<').next())
                .map_or(0, |n| n.parse().expect("a number"))
        };
        assert_eq!(info.tasks_total, number("TotalNumberOfTasks"), "{name}");
        assert_eq!(
            info.tasks_succeeded,
            number("NumberOfTasksSucceeded"),
            "{name}"
        );
        assert_eq!(info.tasks_failed, number("NumberOfTasksFailed"), "{name}");
        let reasons = body.matches("<FailureReason>").count();
        assert_eq!(info.failure_reasons.len(), reasons, "{name}");
        for reason in &info.failure_reasons {
            assert!(reason.contains("PLACEHOLDER"), "{name}: {reason}");
        }
    }
    seen.sort_by_key(|s| s.as_str());
    seen.dedup();
    assert_eq!(seen.len(), BatchJobStatus::ALL.len(), "{seen:?}");
}

/// The AWS CLI's rendering of a DescribeJob answer (JSON, not the wire's XML): its
/// status and progress fields are those the XML bodies above carry.
#[test]
fn the_cli_example_names_the_same_fields() {
    let example: Value =
        serde_json::from_str(&read("describe-job/aws-cli-example.complete.json")).unwrap();
    let job = &example["Job"];
    let status: BatchJobStatus = job["Status"].as_str().unwrap().parse().unwrap();
    assert_eq!(status, BatchJobStatus::Complete);
    let complete = read("describe-job/complete.constructed.xml");
    for field in [
        "TotalNumberOfTasks",
        "NumberOfTasksSucceeded",
        "NumberOfTasksFailed",
    ] {
        assert!(job["ProgressSummary"][field].is_number(), "{field}");
        assert!(complete.contains(&format!("<{field}>")), "{field}");
    }
}

/// The AWS-recorded answers for delete markers and archived objects, as the SDK sees
/// them: HeadObject on a delete-marker version is a bodiless 405 (the object is
/// missing for us); GetObject of a deleted key is 404 NoSuchKey; GetObject of an
/// archived object is 403 InvalidObjectState (a manifest that cannot be read).
#[tokio::test]
async fn head_and_get_answers_recorded_from_aws() {
    let recorded = |file: &str, entry: &str| -> Value {
        let all: Value = serde_json::from_str(&read(&format!("head-object/{file}"))).unwrap();
        all["recorded-content"][entry].clone()
    };
    let status = |v: &Value| -> u16 {
        v["ResponseMetadata"]["HTTPStatusCode"]
            .as_u64()
            .and_then(|s| u16::try_from(s).ok())
            .expect("an HTTP status")
    };
    let error_body = |v: &Value| {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{}</Code><Message>{}</Message></Error>",
            v["Error"]["Code"].as_str().unwrap(),
            v["Error"]["Message"].as_str().unwrap()
        )
    };
    let object = ObjectId::new("bucket-1", "test-delete", Some("marker-1".into())).unwrap();

    let marker = recorded(
        "delete-marker-version.aws-recorded.localstack.json",
        "head-object-locked-delete-marker",
    );
    assert_eq!(status(&marker), 405);
    // A HEAD answer has no body.
    let inspected = s3(status(&marker), String::new()).inspect(&object).await;
    assert_eq!(inspected, Ok(ArchiveState::Missing));

    let gone = recorded(
        "get-delete-marker-version.aws-recorded.localstack.json",
        "get-deleted-object",
    );
    let read_gone = s3(status(&gone), error_body(&gone))
        .read_range("bucket-1", "test-delete", None, 0, 10)
        .await;
    assert!(
        matches!(read_gone, Err(PortError::NotFound(_))),
        "{read_gone:?}"
    );

    let archived = recorded(
        "restore-object-202-and-invalid-object-state.aws-recorded.localstack.json",
        "get-object-invalid-state",
    );
    let read_archived = s3(status(&archived), error_body(&archived))
        .read_range("bucket-1", "manifest.csv", None, 0, 10)
        .await;
    match read_archived {
        Err(PortError::Rejected(message)) => {
            assert!(message.contains("InvalidObjectState"), "{message}")
        }
        other => panic!("an archived manifest reads as {other:?}"),
    }
}

/// ListObjectsV2 answers from the S3 API Reference's examples, as `list_page` reads
/// them: keys, sizes, instants and classes as given; the last key starts the next page
/// of a truncated answer.
#[tokio::test]
async fn list_objects_v2_answers_from_the_api_reference() {
    let page = s3(
        200,
        read("list-objects-v2/prefix-start-after.s3-api-reference.xml"),
    )
    .list_page("quotes", "E", Some("ExampleGuide.pdf"))
    .await
    .expect("a page");
    assert_eq!(page.next, None);
    let [object] = page.items.as_slice() else {
        panic!("{:?}", page.items);
    };
    assert_eq!(object.key, "ExampleObject.txt");
    assert_eq!(object.size, 857);
    assert_eq!(object.storage_class, "REDUCED_REDUNDANCY");
    assert_eq!(
        object.last_modified,
        "2013-09-17T18:07:53Z".parse::<jiff::Timestamp>().unwrap()
    );

    let page = s3(
        200,
        read("list-objects-v2/continuation-token.s3-api-reference.xml"),
    )
    .list_page("bucket", "", None)
    .await
    .expect("a page");
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].storage_class, "STANDARD");
    assert_eq!(page.next.as_deref(), Some("happyface.jpg"));
}
