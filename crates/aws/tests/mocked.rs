//! Adapters against mocked SDK clients (aws-smithy-mocks): what no local server does
//! (S3 Control batch jobs, Step Functions as we use it) and failures it cannot be made
//! to give (throttling, 5xx, unprocessed items). Errors are injected as raw HTTP
//! answers, so the SDK's own error parsing runs as it would against AWS. Retries are
//! disabled so each injected answer reaches the adapter.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_dynamodb::operation::batch_get_item::BatchGetItemOutput;
use aws_sdk_dynamodb::operation::batch_write_item::{BatchWriteItemInput, BatchWriteItemOutput};
use aws_sdk_dynamodb::operation::get_item::GetItemOutput;
use aws_sdk_dynamodb::operation::query::{QueryInput, QueryOutput};
use aws_sdk_dynamodb::operation::transact_write_items::{
    TransactWriteItemsInput, TransactWriteItemsOutput,
};
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use aws_sdk_s3::operation::list_objects_v2::{ListObjectsV2Input, ListObjectsV2Output};
use aws_sdk_s3::types::{Object as S3Object, ObjectStorageClass};
use aws_sdk_s3control::operation::create_job::{CreateJobInput, CreateJobOutput};
use aws_sdk_s3control::operation::describe_job::DescribeJobOutput;
use aws_sdk_s3control::operation::update_job_status::UpdateJobStatusOutput;
use aws_sdk_s3control::types::{
    GeneratedManifestFormat, JobDescriptor, JobFailure, JobManifestFieldName, JobManifestFormat,
    JobManifestLocation, JobProgressSummary, JobReportFormat, JobReportScope,
    JobStatus as S3JobStatus, RequestedJobStatus, S3GeneratedManifestDescriptor, S3GlacierJobTier,
    S3StorageClass,
};
use aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput;
use aws_sdk_sfn::operation::start_execution::{StartExecutionInput, StartExecutionOutput};
use aws_sdk_sfn::operation::stop_execution::StopExecutionOutput;
use aws_sdk_sfn::types::ExecutionStatus;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use aws_smithy_types::DateTime;
use gbr_aws::{
    Backoff, BatchSettings, DynamoStore, S3BatchOperations, S3Objects, SnsNotifier, StepFunctions,
    TableNames,
};
use gbr_core::decide::Notification;
use gbr_core::event::{BulkEvent, EventFacts};
use gbr_core::filter::ObjectFilter;
use gbr_core::listing::ListCursor;
use gbr_core::object_id::ObjectId;
use gbr_core::ports::{
    BatchJobSpec, BatchManifest, BatchOperations, Executions, GeneratedManifest, JobFilter,
    JobStore, Mark, Notifier, ObjectSource, ObjectState, ObjectStore, PortError, PortResult,
};
use gbr_core::request::{StorageClass, Tier};
use gbr_core::status::{BatchJobStatus, JobStatus};
use jiff::Timestamp;
use serde_json::json;

const JOBS: &str = "jobs-table";
const OBJECTS: &str = "objects-table";

const DDB_THROTTLED: &str = r#"{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"Rate of requests exceeds the allowed throughput."}"#;
const S3_SLOW_DOWN: &str =
    "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>";
const S3CONTROL_TOO_MANY: &str = "<ErrorResponse><Error><Code>TooManyRequestsException</Code><Message>slow down</Message></Error></ErrorResponse>";
const SNS_THROTTLED: &str = "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>r-1</RequestId></ErrorResponse>";
const SFN_THROTTLED: &str = r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#;

fn cancelled(reasons: &str) -> String {
    format!(
        r#"{{"__type":"com.amazonaws.dynamodb.v20120810#TransactionCanceledException","Message":"Transaction cancelled","CancellationReasons":{reasons}}}"#
    )
}

fn fast_backoff(max_attempts: u32) -> Backoff {
    Backoff {
        max_attempts,
        base: Duration::from_millis(1),
        cap: Duration::from_millis(2),
    }
}

fn store(rules: &[&Rule], max_attempts: u32) -> DynamoStore {
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::Sequential, rules, |b| b
        .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled()));
    DynamoStore::from_client(
        client,
        TableNames {
            jobs: JOBS.into(),
            objects: OBJECTS.into(),
        },
    )
    .with_backoff(fast_backoff(max_attempts))
}

/// BatchGetItem finding none of the rows: every object is new.
fn no_rows_yet() -> Rule {
    mock!(aws_sdk_dynamodb::Client::batch_get_item)
        .then_output(|| BatchGetItemOutput::builder().build())
}

fn s3(rules: &[&Rule]) -> S3Objects {
    S3Objects::from_client(mock_client!(aws_sdk_s3, RuleMode::Sequential, rules, |b| b
        .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())))
}

fn settings() -> BatchSettings {
    BatchSettings {
        account_id: "111122223333".into(),
        role_arn: "arn:aws:iam::111122223333:role/restore".into(),
        report_bucket_arn: "arn:aws:s3:::reports-bucket".into(),
        report_prefix: "batch-reports".into(),
        priority: 7,
    }
}

fn batch(rules: &[&Rule]) -> S3BatchOperations {
    let client = mock_client!(aws_sdk_s3control, RuleMode::Sequential, rules, |b| b
        .retry_config(aws_sdk_s3control::config::retry::RetryConfig::disabled()));
    S3BatchOperations::from_client(client, settings())
}

const TOPIC: &str = "arn:aws:sns:us-east-1:111122223333:events";

fn sns(rules: &[&Rule]) -> SnsNotifier {
    let client = mock_client!(aws_sdk_sns, RuleMode::Sequential, rules, |b| b
        .retry_config(aws_sdk_sns::config::retry::RetryConfig::disabled()));
    SnsNotifier::from_client(client, TOPIC)
}

const STATE_MACHINE: &str = "arn:aws:states:us-east-1:111122223333:stateMachine:bulk-restore";
const EXECUTION: &str = "arn:aws:states:us-east-1:111122223333:execution:bulk-restore:job-1";

fn sfn(rules: &[&Rule]) -> StepFunctions {
    let client = mock_client!(aws_sdk_sfn, RuleMode::Sequential, rules, |b| b
        .retry_config(aws_sdk_sfn::config::retry::RetryConfig::disabled()));
    StepFunctions::from_client(client, STATE_MACHINE)
}

fn assert_retryable<T: std::fmt::Debug>(result: PortResult<T>, what: &str) {
    match result {
        Err(PortError::Retryable(m)) => assert!(!m.is_empty()),
        other => panic!("{what}: expected Retryable, got {other:?}"),
    }
}

/// Captures every request a rule matches.
fn capture<I: Clone + Send + 'static>() -> (
    Arc<Mutex<Vec<I>>>,
    impl Fn(&I) -> bool + Send + Sync + 'static,
) {
    let seen: Arc<Mutex<Vec<I>>> = Arc::default();
    let sink = Arc::clone(&seen);
    (seen, move |input: &I| {
        sink.lock().unwrap().push(input.clone());
        true
    })
}

fn object(i: usize) -> ObjectId {
    ObjectId::new("data-bucket", format!("k{i}"), None).unwrap()
}

fn put_request(i: usize) -> WriteRequest {
    let put = PutRequest::builder()
        .item("object_id", AttributeValue::S(object(i).canonical()))
        .item("job_id", AttributeValue::S("job-1".into()))
        .build()
        .unwrap();
    WriteRequest::builder().put_request(put).build()
}

// ---- throttling and server errors, the same for every adapter ----

#[tokio::test]
async fn dynamodb_throttling_and_500_are_retryable() {
    let throttled = mock!(aws_sdk_dynamodb::Client::get_item)
        .sequence()
        .http_status(400, Some(DDB_THROTTLED.into()))
        .build();
    let failed = mock!(aws_sdk_dynamodb::Client::get_item)
        .sequence()
        .http_status(500, None)
        .build();
    let store = store(&[&throttled, &failed], 1);
    assert_retryable(store.get("job-1").await, "throttled GetItem");
    assert_retryable(store.get("job-1").await, "GetItem answering 500");
}

#[tokio::test]
async fn s3_throttling_and_500_are_retryable() {
    let slow = mock!(aws_sdk_s3::Client::get_object)
        .sequence()
        .http_status(503, Some(S3_SLOW_DOWN.into()))
        .build();
    let failed = mock!(aws_sdk_s3::Client::get_object)
        .sequence()
        .http_status(500, None)
        .build();
    let head_failed = mock!(aws_sdk_s3::Client::head_object)
        .sequence()
        .http_status(500, None)
        .build();
    let s3 = s3(&[&slow, &failed, &head_failed]);
    assert_retryable(
        s3.read_range("b-1", "k", None, 0, 10).await,
        "GetObject SlowDown",
    );
    assert_retryable(
        s3.read_range("b-1", "k", None, 0, 10).await,
        "GetObject answering 500",
    );
    assert_retryable(s3.head("b-1", "k").await, "HeadObject answering 500");
}

#[tokio::test]
async fn s3control_throttling_and_500_are_retryable() {
    let throttled = mock!(aws_sdk_s3control::Client::describe_job)
        .sequence()
        .http_status(400, Some(S3CONTROL_TOO_MANY.into()))
        .build();
    let failed = mock!(aws_sdk_s3control::Client::describe_job)
        .sequence()
        .http_status(500, None)
        .build();
    let batch = batch(&[&throttled, &failed]);
    assert_retryable(batch.describe_job("batch-1").await, "throttled DescribeJob");
    assert_retryable(
        batch.describe_job("batch-1").await,
        "DescribeJob answering 500",
    );
}

#[tokio::test]
async fn sns_throttling_and_500_are_retryable() {
    let throttled = mock!(aws_sdk_sns::Client::publish)
        .sequence()
        .http_status(400, Some(SNS_THROTTLED.into()))
        .build();
    let failed = mock!(aws_sdk_sns::Client::publish)
        .sequence()
        .http_status(500, None)
        .build();
    let sns = sns(&[&throttled, &failed]);
    assert_retryable(sns.publish(&event()).await, "throttled Publish");
    assert_retryable(sns.publish(&event()).await, "Publish answering 500");
}

#[tokio::test]
async fn sfn_throttling_and_500_are_retryable() {
    let throttled = mock!(aws_sdk_sfn::Client::stop_execution)
        .sequence()
        .http_status(400, Some(SFN_THROTTLED.into()))
        .build();
    let failed = mock!(aws_sdk_sfn::Client::stop_execution)
        .sequence()
        .http_status(500, None)
        .build();
    let sfn = sfn(&[&throttled, &failed]);
    assert_retryable(
        sfn.stop(EXECUTION, "JobCancelled", "c").await,
        "throttled StopExecution",
    );
    assert_retryable(
        sfn.stop(EXECUTION, "JobCancelled", "c").await,
        "StopExecution answering 500",
    );
}

// ---- DynamoDB: what moto cannot be made to do ----

#[tokio::test]
async fn register_retries_unprocessed_items_then_succeeds() {
    let (requests, record) = capture::<BatchWriteItemInput>();
    let rule = mock!(aws_sdk_dynamodb::Client::batch_write_item)
        .match_requests(record)
        .sequence()
        .output(|| {
            BatchWriteItemOutput::builder()
                .unprocessed_items(OBJECTS, vec![put_request(3), put_request(7)])
                .build()
        })
        .output(|| BatchWriteItemOutput::builder().build())
        .build();
    let none = no_rows_yet();
    let store = store(&[&none, &rule], 4);
    let objects: Vec<ObjectId> = (0..10).chain(0..5).map(object).collect();
    let new = store
        .register("job-1", &objects, Timestamp::UNIX_EPOCH, "bytes-0")
        .await
        .unwrap();
    assert_eq!(new, 10);

    let requests = requests.lock().unwrap();
    assert_eq!(requests.len(), 2);
    let first = &requests[0].request_items().unwrap()[OBJECTS];
    assert_eq!(first.len(), 10, "duplicates are written once");
    let retried = &requests[1].request_items().unwrap()[OBJECTS];
    assert_eq!(
        retried,
        &vec![put_request(3), put_request(7)],
        "only the unprocessed items are sent again"
    );
}

#[tokio::test]
async fn register_gives_up_on_items_that_stay_unprocessed() {
    let rule = mock!(aws_sdk_dynamodb::Client::batch_write_item)
        .sequence()
        .output(|| {
            BatchWriteItemOutput::builder()
                .unprocessed_items(OBJECTS, vec![put_request(1)])
                .build()
        })
        .repeatedly()
        .build();
    let none = no_rows_yet();
    let store = store(&[&none, &rule], 3);
    assert_retryable(
        store
            .register("job-1", &[object(1)], Timestamp::UNIX_EPOCH, "bytes-0")
            .await,
        "unprocessed",
    );
    assert_eq!(rule.num_calls(), 3);
}

#[tokio::test]
async fn tally_reads_every_page() {
    let (requests, record) = capture::<QueryInput>();
    let shard = |r: &str, e: &str| {
        [
            ("restored".to_owned(), AttributeValue::N(r.into())),
            ("excluded".to_owned(), AttributeValue::N(e.into())),
        ]
        .into()
    };
    let rule = mock!(aws_sdk_dynamodb::Client::query)
        .match_requests(record)
        .sequence()
        .output(move || {
            QueryOutput::builder()
                .items(shard("3", "0"))
                .last_evaluated_key("pk", AttributeValue::S("job-1".into()))
                .last_evaluated_key("sk", AttributeValue::S("SHARD#04".into()))
                .build()
        })
        .output(move || QueryOutput::builder().items(shard("4", "1")).build())
        .build();
    let store = store(&[&rule], 1);
    let tally = store.tally("job-1").await.unwrap();
    assert_eq!((tally.restored, tally.excluded), (7, 1));
    let requests = requests.lock().unwrap();
    assert_eq!(requests.len(), 2);
    assert_eq!(
        requests[1].exclusive_start_key().unwrap()["sk"],
        AttributeValue::S("SHARD#04".into())
    );
}

#[tokio::test]
async fn a_filtered_listing_that_matches_nothing_stops_and_hands_on_a_cursor() {
    let (requests, record) = capture::<QueryInput>();
    let rule = mock!(aws_sdk_dynamodb::Client::query)
        .match_requests(record)
        .sequence()
        .output(|| {
            // Every evaluated item dropped by the filter, more to come.
            QueryOutput::builder()
                .set_items(Some(Vec::new()))
                .last_evaluated_key("listing", AttributeValue::S("JOB".into()))
                .last_evaluated_key(
                    "created_at",
                    AttributeValue::S("2026-01-01T00:00:00.000000000Z".into()),
                )
                .last_evaluated_key("pk", AttributeValue::S("job-9".into()))
                .last_evaluated_key("sk", AttributeValue::S("JOB".into()))
                .build()
        })
        .repeatedly()
        .build();
    let store = store(&[&rule], 1);
    let filter = JobFilter {
        client_tag: None,
        status: Some(JobStatus::Timeout),
    };
    let page = store.list(&filter, None, 10).await.unwrap();
    assert!(page.items.is_empty());
    let cursor = ListCursor::decode(page.next.as_deref().unwrap()).unwrap();
    assert_eq!(cursor.job_id, "job-9");
    let requests = requests.lock().unwrap().clone();
    assert!(
        (2..=10).contains(&requests.len()),
        "{} queries",
        requests.len()
    );
    let first = &requests[0];
    assert_eq!(first.index_name(), Some("by-created"));
    assert_eq!(first.scan_index_forward(), Some(false));
    assert_eq!(first.filter_expression(), Some("#status = :status"));
    assert_eq!(
        first.expression_attribute_values().unwrap()[":status"],
        AttributeValue::S("Timeout".into())
    );
    assert_eq!(
        requests[1].exclusive_start_key().unwrap()["pk"],
        AttributeValue::S("job-9".into())
    );

    // Resuming sends the cursor back as the start key, on the tag's index.
    let (requests, record) = capture::<QueryInput>();
    let rule = mock!(aws_sdk_dynamodb::Client::query)
        .match_requests(record)
        .then_output(|| QueryOutput::builder().set_items(Some(Vec::new())).build());
    let store2 = self::store(&[&rule], 1);
    let tagged = JobFilter {
        client_tag: Some("team-a".into()),
        status: None,
    };
    let page = store2
        .list(&tagged, Some(&cursor.encode()), 3)
        .await
        .unwrap();
    assert_eq!(page.next, None);
    let request = &requests.lock().unwrap()[0];
    assert_eq!(request.index_name(), Some("by-client-tag"));
    assert_eq!(
        request.limit(),
        Some(4),
        "one more than the page, to see past it"
    );
    let start = request.exclusive_start_key().unwrap();
    assert_eq!(start["client_tag"], AttributeValue::S("team-a".into()));
    assert_eq!(
        start["created_at"],
        AttributeValue::S("2026-01-01T00:00:00.000000000Z".into())
    );
    assert_eq!(start["pk"], AttributeValue::S("job-9".into()));
}

fn marks(n: usize) -> Vec<Mark> {
    (0..n)
        .map(|i| Mark {
            object: object(i),
            job_id: "job-1".into(),
        })
        .collect()
}

#[tokio::test]
async fn mark_retries_row_by_row_when_a_cancellation_names_no_rows() {
    let (requests, record) = capture::<TransactWriteItemsInput>();
    let rule = mock!(aws_sdk_dynamodb::Client::transact_write_items)
        .match_requests(record)
        .sequence()
        // The service may leave the reasons out; then each row goes alone.
        .http_status(
            400,
            Some(cancelled(r#"[{"Code":"ConditionalCheckFailed"}]"#)),
        )
        .output(|| TransactWriteItemsOutput::builder().build())
        .http_status(
            400,
            Some(cancelled(
                r#"[{"Code":"ConditionalCheckFailed"},{"Code":"None"}]"#,
            )),
        )
        .build();
    let store = store(&[&rule], 1);
    let report = store
        .mark(&marks(2), ObjectState::Restored, Timestamp::UNIX_EPOCH)
        .await
        .unwrap();
    assert_eq!(report.changed, marks(2)[..1]);
    assert_eq!(report.unchanged, marks(2)[1..]);
    let requests = requests.lock().unwrap();
    let sizes: Vec<usize> = requests.iter().map(|r| r.transact_items().len()).collect();
    assert_eq!(
        sizes,
        [3, 2, 2],
        "two rows and a counter, then each row with its counter"
    );
    // Every counter add counts the rows of its own transaction.
    let add = |r: &TransactWriteItemsInput| {
        r.transact_items()
            .last()
            .unwrap()
            .update()
            .unwrap()
            .expression_attribute_values()
            .unwrap()[":n"]
            .clone()
    };
    assert_eq!(add(&requests[0]), AttributeValue::N("2".into()));
    assert_eq!(add(&requests[1]), AttributeValue::N("1".into()));
    // Items under 1 KB, two units each in a transaction, cancelled ones included: 3×2 + 2×2 + 2×2.
    assert_eq!(report.write_units, 14.0);
}

#[tokio::test]
async fn mark_retries_a_throttled_transaction_then_reports_retryable() {
    let rule = mock!(aws_sdk_dynamodb::Client::transact_write_items)
        .sequence()
        .http_status(400, Some(cancelled(r#"[{"Code":"None"},{"Code":"ThrottlingError"}]"#)))
        .http_status(400, Some(r#"{"__type":"com.amazonaws.dynamodb.v20120810#TransactionConflictException","message":"conflict"}"#.into()))
        .output(|| TransactWriteItemsOutput::builder().build())
        .build();
    let store = store(&[&rule], 3);
    let report = store
        .mark(&marks(1), ObjectState::Excluded, Timestamp::UNIX_EPOCH)
        .await
        .unwrap();
    assert_eq!(report.changed, marks(1));
    assert_eq!(
        report.write_units, 4.0,
        "throttled attempts consume nothing"
    );

    let always = mock!(aws_sdk_dynamodb::Client::transact_write_items)
        .sequence()
        .http_status(400, Some(DDB_THROTTLED.into()))
        .repeatedly()
        .build();
    let store = self::store(&[&always], 3);
    assert_retryable(
        store
            .mark(&marks(1), ObjectState::Restored, Timestamp::UNIX_EPOCH)
            .await,
        "always throttled",
    );
    assert_eq!(always.num_calls(), 3);
}

#[tokio::test]
async fn a_corrupt_job_item_is_rejected_not_a_panic() {
    let rule = mock!(aws_sdk_dynamodb::Client::get_item).then_output(|| {
        GetItemOutput::builder()
            .item("pk", AttributeValue::S("job-1".into()))
            .item("status", AttributeValue::N("7".into()))
            .build()
    });
    let store = store(&[&rule], 1);
    assert!(matches!(
        store.get("job-1").await,
        Err(PortError::Rejected(_))
    ));
}

// ---- S3: listings moto does not give ----

#[tokio::test]
async fn a_listing_without_a_class_is_standard_and_a_truncated_page_resumes_after_its_last_key() {
    let (requests, record) = capture::<ListObjectsV2Input>();
    let object = |key: &str, class: Option<ObjectStorageClass>| {
        S3Object::builder()
            .key(key)
            .size(5)
            .last_modified(DateTime::from_secs(1_700_000_000))
            .set_storage_class(class)
            .build()
    };
    let rule = mock!(aws_sdk_s3::Client::list_objects_v2)
        .match_requests(record)
        .sequence()
        .output(move || {
            ListObjectsV2Output::builder()
                .contents(object("p/a", None))
                .contents(object("p/b", Some(ObjectStorageClass::Glacier)))
                .is_truncated(true)
                .build()
        })
        // An empty truncated page, then the rest: followed by its token.
        .output(|| {
            ListObjectsV2Output::builder()
                .is_truncated(true)
                .next_continuation_token("t-1")
                .build()
        })
        .output(move || {
            ListObjectsV2Output::builder()
                .contents(object("p/c", Some(ObjectStorageClass::DeepArchive)))
                .is_truncated(false)
                .build()
        })
        // Empty and truncated with no token: nothing to go on.
        .output(|| ListObjectsV2Output::builder().is_truncated(true).build())
        .build();
    let s3 = s3(&[&rule]);
    let page = s3.list_page("b-1", "p/", Some("p/0")).await.unwrap();
    let listed: Vec<(&str, &str)> = page
        .items
        .iter()
        .map(|o| (o.key.as_str(), o.storage_class.as_str()))
        .collect();
    assert_eq!(listed, [("p/a", "STANDARD"), ("p/b", "GLACIER")]);
    assert_eq!(page.items[0].size, 5);
    assert_eq!(
        page.items[0].last_modified,
        Timestamp::from_second(1_700_000_000).unwrap()
    );
    assert_eq!(page.next.as_deref(), Some("p/b"));

    let resumed = s3.list_page("b-1", "p/", Some("p/b")).await.unwrap();
    let keys: Vec<&str> = resumed.items.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(keys, ["p/c"]);
    assert_eq!(resumed.next, None);
    // More promised with no key and no token: not taken as the end.
    assert_retryable(s3.list_page("b-1", "p/", None).await, "truncated, empty");

    let requests = requests.lock().unwrap();
    assert_eq!(requests.len(), 4);
    assert_eq!(requests[0].prefix(), Some("p/"));
    assert_eq!(requests[0].start_after(), Some("p/0"));
    assert_eq!(requests[0].max_keys(), Some(1000));
    assert_eq!(requests[0].continuation_token(), None);
    assert_eq!(requests[2].continuation_token(), Some("t-1"));
    assert_eq!(requests[2].start_after(), Some("p/b"));
    assert_eq!(requests[3].start_after(), None);
}

// ---- S3 Control ----

fn spec(versioned: bool, client_tag: Option<&str>) -> BatchJobSpec {
    BatchJobSpec {
        job_id: "0b6f8e1c-5d0a-4d59-9a57-111111111111".into(),
        manifest: BatchManifest::Csv {
            bucket: "manifests-1".into(),
            key: "lists/manifest.csv".into(),
            etag: "\"9b2cf535f27731c974343645a3985328\"".into(),
            versioned,
        },
        tier: Tier::Bulk,
        expiration_days: 5,
        client_tag: client_tag.map(str::to_owned),
    }
}

#[tokio::test]
async fn create_job_sends_every_field() {
    let (requests, record) = capture::<CreateJobInput>();
    let rule = mock!(aws_sdk_s3control::Client::create_job)
        .match_requests(record)
        .sequence()
        .output(|| CreateJobOutput::builder().job_id("batch-123").build())
        .times(2)
        .build();
    let batch = batch(&[&rule]);
    assert_eq!(
        batch
            .create_job(&spec(false, Some("team-a")))
            .await
            .unwrap(),
        "batch-123"
    );
    assert_eq!(
        batch.create_job(&spec(true, None)).await.unwrap(),
        "batch-123"
    );

    let requests = requests.lock().unwrap();
    let input = &requests[0];
    assert_eq!(input.account_id(), Some("111122223333"));
    assert_eq!(
        input.role_arn(),
        Some("arn:aws:iam::111122223333:role/restore")
    );
    assert_eq!(input.priority(), Some(7));
    assert_eq!(input.confirmation_required(), Some(false));
    assert!(input.manifest_generator().is_none());
    assert_eq!(
        input.client_request_token(),
        Some("0b6f8e1c-5d0a-4d59-9a57-111111111111")
    );
    assert!(
        input
            .description()
            .unwrap()
            .contains("0b6f8e1c-5d0a-4d59-9a57-111111111111")
    );

    let restore = input
        .operation()
        .unwrap()
        .s3_initiate_restore_object()
        .unwrap();
    assert_eq!(restore.expiration_in_days(), Some(5));
    assert_eq!(restore.glacier_job_tier(), Some(&S3GlacierJobTier::Bulk));

    let manifest = input.manifest().unwrap();
    let manifest_spec = manifest.spec().unwrap();
    assert_eq!(
        manifest_spec.format(),
        &JobManifestFormat::S3BatchOperationsCsv20180820
    );
    assert_eq!(
        manifest_spec.fields(),
        [JobManifestFieldName::Bucket, JobManifestFieldName::Key]
    );
    let location = manifest.location().unwrap();
    assert_eq!(
        location.object_arn(),
        "arn:aws:s3:::manifests-1/lists/manifest.csv"
    );
    assert_eq!(location.e_tag(), "9b2cf535f27731c974343645a3985328");

    let report = input.report().unwrap();
    assert!(report.enabled());
    assert_eq!(report.format(), Some(&JobReportFormat::ReportCsv20180820));
    assert_eq!(report.report_scope(), Some(&JobReportScope::AllTasks));
    assert_eq!(report.bucket(), Some("arn:aws:s3:::reports-bucket"));
    assert_eq!(report.prefix(), Some("batch-reports"));

    assert_eq!(input.tags().len(), 1);
    assert_eq!(
        (input.tags()[0].key(), input.tags()[0].value()),
        ("client_tag", "team-a")
    );

    let versioned = &requests[1];
    assert_eq!(
        versioned.manifest().unwrap().spec().unwrap().fields(),
        [
            JobManifestFieldName::Bucket,
            JobManifestFieldName::Key,
            JobManifestFieldName::VersionId
        ]
    );
    assert!(versioned.tags().is_empty(), "no tag without a client_tag");
}

/// A filter of a bucket alone: a generator with only the classes, held for
/// confirmation, and no manifest; the rest of the request as for a CSV manifest.
#[tokio::test]
async fn create_job_by_filter_holds_the_job_and_sends_only_the_constraints_asked() {
    let (requests, record) = capture::<CreateJobInput>();
    let rule = mock!(aws_sdk_s3control::Client::create_job)
        .match_requests(record)
        .sequence()
        .output(|| CreateJobOutput::builder().job_id("batch-9").build())
        .times(2)
        .build();
    let batch = batch(&[&rule]);
    let filter = |prefixes: Vec<String>, min: Option<u64>| ObjectFilter {
        bucket: "photos-1".into(),
        prefixes,
        suffixes: Vec::new(),
        created_after: None,
        created_before: None,
        min_size_bytes: min,
        max_size_bytes: None,
        storage_classes: vec![StorageClass::DeepArchive],
    };
    let by = |filter: ObjectFilter| BatchJobSpec {
        manifest: BatchManifest::Generate {
            filter,
            output_bucket: "reports-bucket".into(),
            output_prefix: "batch-reports/generated/job-1".into(),
        },
        ..spec(false, Some("team-a"))
    };
    assert_eq!(
        batch
            .create_job(&by(filter(Vec::new(), None)))
            .await
            .unwrap(),
        "batch-9"
    );
    batch
        .create_job(&by(filter(vec!["2019/".into()], Some(0))))
        .await
        .unwrap();

    let requests = requests.lock().unwrap();
    let input = &requests[0];
    assert_eq!(input.confirmation_required(), Some(true));
    assert!(input.manifest().is_none());
    assert_eq!(
        input.client_request_token(),
        Some("0b6f8e1c-5d0a-4d59-9a57-111111111111")
    );
    assert_eq!(input.priority(), Some(7));
    assert_eq!(input.report().unwrap().prefix(), Some("batch-reports"));
    assert_eq!(input.tags()[0].value(), "team-a");
    let restore = input
        .operation()
        .unwrap()
        .s3_initiate_restore_object()
        .unwrap();
    assert_eq!(restore.glacier_job_tier(), Some(&S3GlacierJobTier::Bulk));
    let generator = input
        .manifest_generator()
        .unwrap()
        .as_s3_job_manifest_generator()
        .unwrap();
    assert_eq!(generator.expected_bucket_owner(), Some("111122223333"));
    assert_eq!(generator.source_bucket(), "arn:aws:s3:::photos-1");
    assert!(generator.enable_manifest_output());
    let output = generator.manifest_output_location().unwrap();
    assert_eq!(output.bucket(), "arn:aws:s3:::reports-bucket");
    assert_eq!(
        output.manifest_prefix(),
        Some("batch-reports/generated/job-1")
    );
    assert_eq!(
        output.expected_manifest_bucket_owner(),
        Some("111122223333")
    );
    assert!(output.manifest_encryption().unwrap().sses3().is_some());
    assert_eq!(
        output.manifest_format(),
        &GeneratedManifestFormat::S3InventoryReportCsv20211130
    );
    let only_classes = generator.filter().unwrap();
    assert_eq!(
        only_classes.match_any_storage_class(),
        [S3StorageClass::DeepArchive]
    );
    assert!(only_classes.key_name_constraint().is_none());
    assert!(only_classes.created_after().is_none() && only_classes.created_before().is_none());
    assert!(only_classes.object_size_greater_than_bytes().is_none());
    assert!(only_classes.object_size_less_than_bytes().is_none());

    // A prefix alone: no suffix list; a minimum of 0 bytes bounds nothing.
    let prefixed = requests[1]
        .manifest_generator()
        .unwrap()
        .as_s3_job_manifest_generator()
        .unwrap()
        .filter()
        .unwrap();
    let names = prefixed.key_name_constraint().unwrap();
    assert_eq!(names.match_any_prefix(), ["2019/"]);
    assert!(names.match_any_suffix().is_empty());
    assert!(prefixed.object_size_greater_than_bytes().is_none());
}

#[tokio::test]
async fn create_job_with_a_token_reused_differently_is_a_conflict() {
    let rule = mock!(aws_sdk_s3control::Client::create_job).sequence().http_status(
        400,
        Some("<ErrorResponse><Error><Code>IdempotencyException</Code><Message>token reused</Message></Error></ErrorResponse>".into()),
    ).build();
    let batch = batch(&[&rule]);
    assert!(matches!(
        batch.create_job(&spec(false, None)).await,
        Err(PortError::Conflict(_))
    ));
}

#[tokio::test]
async fn describe_job_reads_status_counts_and_failures() {
    let described = |status: S3JobStatus| {
        move || {
            DescribeJobOutput::builder()
                .job(
                    JobDescriptor::builder()
                        .status(status.clone())
                        .progress_summary(
                            JobProgressSummary::builder()
                                .total_number_of_tasks(10)
                                .number_of_tasks_succeeded(8)
                                .number_of_tasks_failed(2)
                                .build(),
                        )
                        .failure_reasons(
                            JobFailure::builder()
                                .failure_code("ManifestNotFound")
                                .failure_reason("the manifest is gone")
                                .build(),
                        )
                        .build(),
                )
                .build()
        }
    };
    let known = mock!(aws_sdk_s3control::Client::describe_job)
        .then_output(described(S3JobStatus::Complete));
    let unknown = mock!(aws_sdk_s3control::Client::describe_job)
        .then_output(described(S3JobStatus::from("Exploded")));
    let info = batch(&[&known]).describe_job("batch-1").await.unwrap();
    assert_eq!(info.status, BatchJobStatus::Complete);
    assert_eq!(
        (info.tasks_total, info.tasks_succeeded, info.tasks_failed),
        (10, 8, 2)
    );
    assert_eq!(
        info.failure_reasons,
        ["ManifestNotFound: the manifest is gone"]
    );
    assert_eq!(info.generated_manifest, None);
    assert!(matches!(
        batch(&[&unknown]).describe_job("batch-1").await,
        Err(PortError::Rejected(_))
    ));

    let missing = mock!(aws_sdk_s3control::Client::describe_job).sequence().http_status(
        404,
        Some("<ErrorResponse><Error><Code>NotFoundException</Code><Message>no such job</Message></Error></ErrorResponse>".into()),
    ).build();
    assert!(matches!(
        batch(&[&missing]).describe_job("batch-x").await,
        Err(PortError::NotFound(_))
    ));
}

#[tokio::test]
async fn describe_job_reads_the_generated_list_and_refuses_an_arn_without_a_key() {
    let described = |arn: &'static str| {
        move || {
            DescribeJobOutput::builder()
                .job(
                    JobDescriptor::builder()
                        .status(S3JobStatus::Suspended)
                        .generated_manifest_descriptor(
                            S3GeneratedManifestDescriptor::builder()
                                .format(GeneratedManifestFormat::S3InventoryReportCsv20211130)
                                .location(
                                    JobManifestLocation::builder()
                                        .object_arn(arn)
                                        .e_tag("\"e-1\"")
                                        .build()
                                        .unwrap(),
                                )
                                .build(),
                        )
                        .build(),
                )
                .build()
        }
    };
    let listed = mock!(aws_sdk_s3control::Client::describe_job).then_output(described(
        "arn:aws-cn:s3:::reports-bucket/batch-reports/generated/job-1/manifest.json",
    ));
    let info = batch(&[&listed]).describe_job("batch-1").await.unwrap();
    assert_eq!(info.status, BatchJobStatus::Suspended);
    assert_eq!(
        info.generated_manifest,
        Some(GeneratedManifest {
            bucket: "reports-bucket".into(),
            key: "batch-reports/generated/job-1/manifest.json".into(),
            etag: "e-1".into(),
            version_id: None,
        })
    );
    let keyless = mock!(aws_sdk_s3control::Client::describe_job)
        .then_output(described("arn:aws:s3:::reports-bucket"));
    match batch(&[&keyless]).describe_job("batch-1").await {
        Err(PortError::Rejected(m)) => assert!(m.contains("arn:aws:s3:::reports-bucket"), "{m}"),
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[tokio::test]
async fn confirm_job_requests_ready_and_a_job_past_waiting_is_a_conflict() {
    let (requests, record) =
        capture::<aws_sdk_s3control::operation::update_job_status::UpdateJobStatusInput>();
    let ok = mock!(aws_sdk_s3control::Client::update_job_status)
        .match_requests(record)
        .then_output(|| UpdateJobStatusOutput::builder().build());
    batch(&[&ok]).confirm_job("batch-1").await.unwrap();
    let input = requests.lock().unwrap()[0].clone();
    assert_eq!(input.job_id(), Some("batch-1"));
    assert_eq!(input.account_id(), Some("111122223333"));
    assert_eq!(
        input.requested_job_status(),
        Some(&RequestedJobStatus::Ready)
    );
    assert!(input.status_update_reason().unwrap().contains("registered"));

    let running = mock!(aws_sdk_s3control::Client::update_job_status).sequence().http_status(
        400,
        Some("<ErrorResponse><Error><Code>JobStatusException</Code><Message>job is Active</Message></Error></ErrorResponse>".into()),
    ).build();
    match batch(&[&running]).confirm_job("batch-1").await {
        Err(PortError::Conflict(m)) => assert!(m.contains("batch-1"), "{m}"),
        other => panic!("expected a conflict, got {other:?}"),
    }
}

#[tokio::test]
async fn cancel_job_requests_cancelled_and_a_finished_job_is_a_conflict() {
    let (requests, record) =
        capture::<aws_sdk_s3control::operation::update_job_status::UpdateJobStatusInput>();
    let ok = mock!(aws_sdk_s3control::Client::update_job_status)
        .match_requests(record)
        .then_output(|| UpdateJobStatusOutput::builder().build());
    batch(&[&ok]).cancel_job("batch-1").await.unwrap();
    let input = requests.lock().unwrap()[0].clone();
    assert_eq!(input.job_id(), Some("batch-1"));
    assert_eq!(input.account_id(), Some("111122223333"));
    assert_eq!(
        input.requested_job_status(),
        Some(&RequestedJobStatus::Cancelled)
    );

    let finished = mock!(aws_sdk_s3control::Client::update_job_status).sequence().http_status(
        400,
        Some("<ErrorResponse><Error><Code>JobStatusException</Code><Message>job is Complete</Message></Error></ErrorResponse>".into()),
    ).build();
    match batch(&[&finished]).cancel_job("batch-1").await {
        Err(PortError::Conflict(m)) => assert!(m.contains("batch-1"), "{m}"),
        other => panic!("expected a conflict, got {other:?}"),
    }
}

// ---- SNS ----

fn event() -> BulkEvent {
    let facts = EventFacts {
        job_id: "job-1",
        batch_job_id: None,
        client_tag: None,
        total: 1,
        restored: 0,
        excluded: 0,
        reason: None,
    };
    BulkEvent::new(
        &facts,
        Notification {
            status: JobStatus::Restoring,
            percent: 0,
        },
        Timestamp::UNIX_EPOCH,
    )
}

#[tokio::test]
async fn a_missing_topic_is_not_found() {
    let rule = mock!(aws_sdk_sns::Client::publish).sequence().http_status(
        404,
        Some("<ErrorResponse><Error><Type>Sender</Type><Code>NotFound</Code><Message>Topic does not exist</Message></Error></ErrorResponse>".into()),
    ).build();
    match sns(&[&rule]).publish(&event()).await {
        Err(PortError::NotFound(m)) => assert!(m.contains(TOPIC), "{m}"),
        other => panic!("expected not found, got {other:?}"),
    }
}

// ---- Step Functions ----

fn started() -> StartExecutionOutput {
    StartExecutionOutput::builder()
        .execution_arn(EXECUTION)
        .start_date(DateTime::from_secs(0))
        .build()
        .unwrap()
}

fn described(input: &'static str) -> impl Fn() -> DescribeExecutionOutput + Send + Sync + 'static {
    move || {
        DescribeExecutionOutput::builder()
            .execution_arn(EXECUTION)
            .state_machine_arn(STATE_MACHINE)
            .status(ExecutionStatus::Succeeded)
            .start_date(DateTime::from_secs(0))
            .input(input)
            .build()
            .unwrap()
    }
}

const ALREADY_EXISTS: &str =
    r#"{"__type":"ExecutionAlreadyExists","message":"Execution Already Exists"}"#;

#[tokio::test]
async fn start_names_the_execution_after_the_job() {
    let (requests, record) = capture::<StartExecutionInput>();
    let rule = mock!(aws_sdk_sfn::Client::start_execution)
        .match_requests(record)
        .then_output(started);
    let arn = sfn(&[&rule])
        .start("job-1", &json!({"job_id": "job-1"}))
        .await
        .unwrap();
    assert_eq!(arn, EXECUTION);
    let input = requests.lock().unwrap()[0].clone();
    assert_eq!(input.state_machine_arn(), Some(STATE_MACHINE));
    assert_eq!(input.name(), Some("job-1"));
    let sent: serde_json::Value = serde_json::from_str(input.input().unwrap()).unwrap();
    assert_eq!(sent, json!({"job_id": "job-1"}));
}

#[tokio::test]
async fn an_existing_execution_is_returned_for_the_same_input_and_a_conflict_otherwise() {
    let exists = || {
        mock!(aws_sdk_sfn::Client::start_execution)
            .sequence()
            .http_status(400, Some(ALREADY_EXISTS.into()))
            .build()
    };
    let same = mock!(aws_sdk_sfn::Client::describe_execution)
        .then_output(described(r#"{ "job_id": "job-1" }"#));
    let first = exists();
    assert_eq!(
        sfn(&[&first, &same])
            .start("job-1", &json!({"job_id": "job-1"}))
            .await
            .unwrap(),
        EXECUTION
    );

    let other = mock!(aws_sdk_sfn::Client::describe_execution)
        .then_output(described(r#"{"job_id": "job-2"}"#));
    let second = exists();
    assert!(matches!(
        sfn(&[&second, &other])
            .start("job-1", &json!({"job_id": "job-1"}))
            .await,
        Err(PortError::Conflict(_))
    ));
}

#[tokio::test]
async fn stop() {
    let stop = mock!(aws_sdk_sfn::Client::stop_execution)
        .match_requests(|i| {
            i.error() == Some("JobCancelled") && i.cause() == Some("cancelled by the client")
        })
        .then_output(|| {
            StopExecutionOutput::builder()
                .stop_date(DateTime::from_secs(1))
                .build()
                .unwrap()
        });
    sfn(&[&stop])
        .stop(EXECUTION, "JobCancelled", "cancelled by the client")
        .await
        .unwrap();
    assert_eq!(stop.num_calls(), 1);

    let missing = mock!(aws_sdk_sfn::Client::stop_execution)
        .sequence()
        .http_status(
            400,
            Some(r#"{"__type":"ExecutionDoesNotExist","message":"no"}"#.into()),
        )
        .build();
    assert!(matches!(
        sfn(&[&missing]).stop(EXECUTION, "JobCancelled", "c").await,
        Err(PortError::NotFound(_))
    ));
}
