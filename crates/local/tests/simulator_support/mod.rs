//! Shared by the simulator's test binaries: a moto server on a free loopback port (one
//! per test binary), SDK clients pointing at it, and helpers to set up buckets, queues
//! and manifests and to read back what the simulator did.
//!
//! moto is found through `GBR_MOTO_SERVER`, else in the virtualenv `scripts/moto.sh`
//! creates. Without it the tests fail, saying how to install it: they never pass
//! without having run.

#![allow(dead_code)] // each test binary uses part of this module

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use aws_config::{BehaviorVersion, Region};
use aws_sdk_s3::config::Credentials;
use aws_sdk_s3::types::{
    Event, NotificationConfiguration, QueueConfiguration, StorageClass as S3StorageClass,
};
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, QueueAttributeName};
use gbr_core::completion_report::{
    ReportColumns, ReportRow, TaskStatus, parse_report_manifest, read_report_rows,
    report_manifest_key,
};
use gbr_core::object_id::{ObjectId, percent_encode_key};
use gbr_core::ports::{BatchJobSpec, BatchManifest};
use gbr_core::request::Tier;
use gbr_core::restore_event::decode_message;
use gbr_moto::Moto;

/// The server this test binary shares.
pub fn moto() -> &'static Moto {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    MOTO.get_or_init(|| Moto::start().unwrap_or_else(|e| panic!("{e}")))
}

/// S3 (path-style, as a local server has no per-bucket host names) and SQS clients.
pub async fn clients() -> (aws_sdk_s3::Client, aws_sdk_sqs::Client) {
    let config = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(&moto().endpoint)
        .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
        .load()
        .await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    );
    (s3, aws_sdk_sqs::Client::new(&config))
}

/// A name no other test of this run uses (lowercase, so it also suits buckets).
pub fn unique(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

pub fn id(bucket: &str, key: &str) -> ObjectId {
    ObjectId::new(bucket, key, None).expect("a valid object id")
}

pub async fn create_bucket(s3: &aws_sdk_s3::Client, bucket: &str) {
    s3.create_bucket()
        .bucket(bucket)
        .send()
        .await
        .expect("create bucket");
}

/// Puts an object in `class` (`None`: STANDARD, left unsaid as most writers do).
pub async fn put(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, class: Option<&str>) {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .set_storage_class(class.map(S3StorageClass::from))
        .body(format!("contents of {key}").into_bytes().into())
        .send()
        .await
        .unwrap_or_else(|e| panic!("put {bucket}/{key}: {e:?}"));
}

/// Restores an archived object at once and reads it, so moto shows a restored copy
/// (and sends its one Completed notification now, before any job).
pub async fn restore_now(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) {
    use aws_sdk_s3::types::{GlacierJobParameters, RestoreRequest, Tier as S3Tier};
    s3.restore_object()
        .bucket(bucket)
        .key(key)
        .restore_request(
            RestoreRequest::builder()
                .days(1)
                .glacier_job_parameters(
                    GlacierJobParameters::builder()
                        .tier(S3Tier::Standard)
                        .build()
                        .expect("parameters"),
                )
                .build(),
        )
        .send()
        .await
        .expect("restore");
    let restore = head_restore(s3, bucket, key).await;
    assert!(
        restore
            .as_deref()
            .is_some_and(|r| r.contains("ongoing-request=\"false\"")),
        "moto shows {restore:?} after a restore"
    );
}

/// HeadObject's `x-amz-restore` header.
pub async fn head_restore(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Option<String> {
    s3.head_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("head {bucket}/{key}: {e:?}"))
        .restore
}

/// A queue; returns its URL and ARN.
pub async fn queue(sqs: &aws_sdk_sqs::Client, name: &str) -> (String, String) {
    let url = sqs
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .expect("create queue")
        .queue_url
        .expect("queue url");
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("queue attributes")
        .attributes
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .expect("queue arn");
    (url, arn)
}

/// Sends the bucket's `s3:ObjectRestore:Completed` notifications to a queue.
pub async fn notify_restores(s3: &aws_sdk_s3::Client, bucket: &str, queue_arn: &str) {
    s3.put_bucket_notification_configuration()
        .bucket(bucket)
        .notification_configuration(
            NotificationConfiguration::builder()
                .queue_configurations(
                    QueueConfiguration::builder()
                        .queue_arn(queue_arn)
                        .events(Event::from("s3:ObjectRestore:Completed"))
                        .build()
                        .expect("queue configuration"),
                )
                .build(),
        )
        .send()
        .await
        .expect("put notification configuration");
}

/// Uploads a manifest of `objects` (keys URL-encoded, as S3 wants); returns its ETag.
pub async fn upload_manifest(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    objects: &[ObjectId],
) -> String {
    let text: String = objects
        .iter()
        .map(|o| format!("{},{}\r\n", o.bucket(), percent_encode_key(o.key())))
        .collect();
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(text.into_bytes().into())
        .send()
        .await
        .expect("put manifest")
        .e_tag
        .expect("manifest etag")
}

pub fn spec(job_id: &str, bucket: &str, key: &str, etag: &str, tier: Tier) -> BatchJobSpec {
    BatchJobSpec {
        job_id: job_id.to_owned(),
        manifest: BatchManifest::Csv {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            etag: etag.trim_matches('"').to_owned(),
            versioned: false,
        },
        tier,
        expiration_days: 3,
        client_tag: None,
    }
}

/// Receives and deletes every message in a queue; returns their bodies in the order
/// the queue gave them.
pub async fn drain(sqs: &aws_sdk_sqs::Client, url: &str) -> Vec<String> {
    let mut bodies = Vec::new();
    loop {
        let some = receive_some(sqs, url).await;
        if some.is_empty() {
            return bodies;
        }
        bodies.extend(some);
    }
}

/// Receives and deletes up to 10 messages; returns their bodies.
pub async fn receive_some(sqs: &aws_sdk_sqs::Client, url: &str) -> Vec<String> {
    let messages = sqs
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .wait_time_seconds(0)
        .visibility_timeout(600)
        .send()
        .await
        .expect("receive")
        .messages
        .unwrap_or_default();
    if messages.is_empty() {
        return Vec::new();
    }
    let mut bodies = Vec::new();
    let mut entries = Vec::new();
    for (i, m) in messages.into_iter().enumerate() {
        bodies.push(m.body.unwrap_or_default());
        entries.push(
            DeleteMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .receipt_handle(m.receipt_handle.unwrap_or_default())
                .build()
                .expect("delete entry"),
        );
    }
    sqs.delete_message_batch()
        .queue_url(url)
        .set_entries(Some(entries))
        .send()
        .await
        .expect("delete");
    bodies
}

/// The objects whose restore the messages announce, in order; test events are skipped.
pub fn restored(bodies: &[String]) -> Vec<ObjectId> {
    bodies
        .iter()
        .flat_map(|b| {
            decode_message(b)
                .unwrap_or_else(|e| panic!("undecodable message {b}: {e}"))
                .restored
                .into_iter()
                .map(|r| r.object)
        })
        .collect()
}

async fn read_all(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Vec<u8> {
    s3.get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("get {bucket}/{key}: {e:?}"))
        .body
        .collect()
        .await
        .expect("body")
        .into_bytes()
        .to_vec()
}

/// Whether a batch job's report exists.
pub async fn report_exists(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
    batch_job_id: &str,
) -> bool {
    s3.head_object()
        .bucket(bucket)
        .key(report_manifest_key(prefix, batch_job_id))
        .send()
        .await
        .is_ok()
}

/// Every row of a batch job's completion report, read with the core's reader.
pub async fn report_rows(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
    batch_job_id: &str,
) -> Vec<ReportRow> {
    let manifest = read_all(s3, bucket, &report_manifest_key(prefix, batch_job_id)).await;
    let manifest = parse_report_manifest(&manifest).expect("report manifest");
    assert_eq!(manifest.format, "Report_CSV_20180820");
    let columns = ReportColumns::from_schema(&manifest.report_schema).expect("schema");
    let mut rows = Vec::new();
    for file in &manifest.results {
        let csv = read_all(s3, &file.bucket, &file.key).await;
        for row in read_report_rows(columns, &csv) {
            let row = row.expect("report row");
            assert_eq!(
                row.status == TaskStatus::Succeeded,
                file.task_execution_status == "succeeded",
                "a row in the wrong result file"
            );
            rows.push(row);
        }
    }
    rows
}
