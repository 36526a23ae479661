//! Restores by filter on the fakes: the list S3's generator writes is registered while
//! the batch job is held, and only then is the job confirmed.

use serde_json::{Value, json};

use super::*;
use crate::api::*;
use crate::fakes::*;
use crate::filter::ListedObject;
use crate::inventory::write;
use crate::object_id::ObjectId;
use crate::ports::{BatchJobInfo, BatchManifest, BatchOperations, GeneratedManifest, ObjectStore};
use crate::status::BatchJobStatus;

fn world() -> World {
    let mut w = World::new();
    w.settings.report_bucket = "reports-1".into();
    w
}

fn at(text: &str) -> jiff::Timestamp {
    text.parse().unwrap()
}

/// An object of bucket photos-1 as ListObjectsV2 shows it.
fn put(w: &World, key: &str, class: &str, size: u64) {
    w.source.put_listed(
        "photos-1",
        ListedObject {
            key: key.into(),
            size,
            last_modified: at("2024-05-01T00:00:00Z"),
            storage_class: class.into(),
        },
    );
}

fn body(filter: Value) -> Vec<u8> {
    json!({"filter": filter, "tier": "BULK", "expiration_days": 3})
        .to_string()
        .into_bytes()
}

async fn create(w: &World, filter: Value) -> Result<CreateJobResponse, ApiError> {
    create_job(&w.ports, &w.settings, &body(filter), None, "job-1").await
}

async fn register(w: &World, cursor: Option<RegisterCursor>) -> Result<RegisterOutput, TaskError> {
    register_manifest(
        &w.ports,
        &w.settings,
        &RegisterInput {
            job_id: "job-1".into(),
            cursor,
        },
    )
    .await
}

/// What S3's generator would write for `keys` (all GLACIER), in the report bucket,
/// and the batch job shown held in Suspended with it.
fn generate(w: &World, keys: &[&str], tasks_total: u64) {
    let rows: Vec<write::ListedObject> = keys
        .iter()
        .map(|k| write::ListedObject {
            object: ObjectId::new("photos-1", *k, None).unwrap(),
            size: 7,
            storage_class: "GLACIER".into(),
        })
        .collect();
    let report = write::report(
        "photos-1",
        "reports-1",
        "batch-reports/generated/job-1",
        &rows,
        2,
    );
    for (key, bytes) in report.data_files {
        w.source.put("reports-1", &key, bytes);
    }
    w.source
        .put("reports-1", &report.manifest_key, report.manifest_json);
    w.batch.set(
        &FakeBatch::batch_id("job-1"),
        BatchJobInfo {
            status: BatchJobStatus::Suspended,
            tasks_total,
            tasks_succeeded: 0,
            tasks_failed: 0,
            failure_reasons: Vec::new(),
            generated_manifest: Some(GeneratedManifest {
                bucket: "reports-1".into(),
                key: report.manifest_key,
                etag: "\"generated\"".into(),
                version_id: None,
            }),
        },
    );
}

async fn set_status(w: &World, status: BatchJobStatus) {
    let id = FakeBatch::batch_id("job-1");
    let mut info = w.batch.describe_job(&id).await.unwrap();
    info.status = status;
    w.batch.set(&id, info);
}

#[tokio::test]
async fn a_filter_job_registers_the_generated_list_before_the_held_batch_job_is_confirmed() {
    let w = world();
    put(&w, "2019/a.tif", "GLACIER", 7);
    create(&w, json!({"bucket": "photos-1", "prefixes": ["2019/"]}))
        .await
        .unwrap();
    let job = w.ports.jobs.get("job-1").await.unwrap().unwrap();
    assert_eq!(job.request.bucket, "photos-1");
    assert_eq!(job.request.key, "2019/");

    // First call: the batch job that generates the list, asked to wait for us.
    let out = register(&w, None).await.unwrap();
    let job = w.ports.jobs.get("job-1").await.unwrap().unwrap();
    let interval =
        crate::policy::poll_interval(job.created_at, job.deadline, w.ports.clock.now(), true);
    assert!(!out.done);
    assert_eq!(out.wait_seconds, interval.as_secs());
    assert!(out.wait_seconds > 0);
    let submitted = w.batch.submitted.lock().unwrap().clone();
    assert_eq!(submitted.len(), 1);
    let BatchManifest::Generate {
        filter,
        output_bucket,
        output_prefix,
    } = &submitted[0].manifest
    else {
        panic!("{:?}", submitted[0].manifest);
    };
    assert_eq!(filter.prefixes, ["2019/"]);
    assert_eq!(
        (output_bucket.as_str(), output_prefix.as_str()),
        ("reports-1", "batch-reports/generated/job-1")
    );

    // Still Preparing: wait again, creating nothing more.
    let out = register(&w, out.cursor).await.unwrap();
    assert_eq!(out.wait_seconds, interval.as_secs());
    assert_eq!(w.batch.submitted.lock().unwrap().len(), 1);

    // Held in Suspended with its list: every listed object is registered.
    generate(&w, &["2019/a.tif", "2019/b c.tif", "2019/ü.tif"], 3);
    let mut cursor = None;
    let total = loop {
        let out = register(&w, cursor).await.unwrap();
        assert_eq!(out.wait_seconds, 0);
        if out.done {
            break out.objects_total.unwrap();
        }
        cursor = out.cursor;
    };
    assert_eq!(total, 3);
    let view = get_job(&w.ports, "job-1").await.unwrap();
    assert_eq!(view.batch_job_status, Some(BatchJobStatus::Suspended));
    for key in ["2019/a.tif", "2019/b c.tif", "2019/ü.tif"] {
        let id = ObjectId::new("photos-1", key, None).unwrap();
        assert_eq!(w.store.waiting_jobs(&id).await.unwrap(), ["job-1"], "{key}");
    }
    assert!(w.batch.confirmed.lock().unwrap().is_empty(), "not run yet");

    // Submit runs the held job rather than creating another; a retry is harmless.
    let input = SubmitInput {
        job_id: "job-1".into(),
    };
    let first = submit_batch_job(&w.ports, &input).await.unwrap();
    assert_eq!(first.batch_job_id, FakeBatch::batch_id("job-1"));
    assert_eq!(
        *w.batch.confirmed.lock().unwrap(),
        [FakeBatch::batch_id("job-1")]
    );
    assert_eq!(submit_batch_job(&w.ports, &input).await.unwrap(), first);
    assert_eq!(w.batch.submitted.lock().unwrap().len(), 1);
    assert_eq!(w.batch.confirmed.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_list_whose_rows_differ_from_s3_s_count_fails_the_job_and_cancels_the_held_batch_job() {
    let w = world();
    put(&w, "a", "GLACIER", 7);
    create(&w, json!({"bucket": "photos-1"})).await.unwrap();
    register(&w, None).await.unwrap();
    generate(&w, &["a", "b"], 3);
    let err = register(&w, None).await.unwrap_err();
    assert_eq!(crate::ErrorName::error_name(&err), "ManifestUnreadable");
    assert!(
        err.to_string()
            .contains("has 2 rows, but S3 counts 3 tasks"),
        "{err}"
    );
    let out = record_failure(
        &w.ports,
        &FailureInput {
            job_id: "job-1".into(),
            error: StepFunctionsError {
                error: "ManifestUnreadable".into(),
                cause: err.to_string(),
            },
        },
    )
    .await
    .unwrap();
    assert_eq!(out.status, crate::status::JobStatus::Failed);
    assert_eq!(
        *w.batch.cancelled.lock().unwrap(),
        [FakeBatch::batch_id("job-1")]
    );
}

#[tokio::test]
async fn a_generation_that_fails_names_s3_s_reason() {
    let w = world();
    put(&w, "a", "GLACIER", 7);
    create(&w, json!({"bucket": "photos-1"})).await.unwrap();
    register(&w, None).await.unwrap();
    let id = FakeBatch::batch_id("job-1");
    w.batch.set(
        &id,
        BatchJobInfo {
            status: BatchJobStatus::Failed,
            tasks_total: 0,
            tasks_succeeded: 0,
            tasks_failed: 0,
            failure_reasons: vec!["AccessDenied: s3:PutInventoryConfiguration".into()],
            generated_manifest: None,
        },
    );
    let err = register(&w, None).await.unwrap_err();
    assert_eq!(crate::ErrorName::error_name(&err), "BatchJobRejected");
    assert!(
        err.to_string().contains("PutInventoryConfiguration"),
        "{err}"
    );
    assert!(err.to_string().contains("s3://photos-1/"), "{err}");
}

#[tokio::test]
async fn a_list_not_generated_by_the_deadline_cancels_the_batch_job() {
    let w = world();
    put(&w, "a", "GLACIER", 7);
    create(&w, json!({"bucket": "photos-1"})).await.unwrap();
    register(&w, None).await.unwrap();
    set_status(&w, BatchJobStatus::Preparing).await;
    let job = w.ports.jobs.get("job-1").await.unwrap().unwrap();
    w.clock.set(job.deadline);
    let err = register(&w, None).await.unwrap_err();
    assert_eq!(crate::ErrorName::error_name(&err), "BatchJobRejected");
    assert!(err.to_string().contains("by the job's deadline"), "{err}");
    assert_eq!(
        *w.batch.cancelled.lock().unwrap(),
        [FakeBatch::batch_id("job-1")]
    );
}

#[tokio::test]
async fn a_job_cancelled_while_held_is_never_confirmed() {
    let w = world();
    put(&w, "a", "GLACIER", 7);
    create(&w, json!({"bucket": "photos-1"})).await.unwrap();
    register(&w, None).await.unwrap();
    generate(&w, &["a"], 1);
    let out = register(&w, None).await.unwrap();
    assert!(out.done);
    cancel_job(&w.ports, "job-1").await.unwrap();
    let err = submit_batch_job(
        &w.ports,
        &SubmitInput {
            job_id: "job-1".into(),
        },
    )
    .await
    .unwrap_err();
    assert_eq!(crate::ErrorName::error_name(&err), "JobEnded");
    assert!(w.batch.confirmed.lock().unwrap().is_empty());
}

#[tokio::test]
async fn create_refuses_a_filter_it_cannot_list_or_that_lists_nothing() {
    let mut w = world();
    put(&w, "2019/a", "GLACIER", 7);
    let err = create(&w, json!({"bucket": "photos-1", "prefixes": ["2020/"]}))
        .await
        .unwrap_err();
    assert_eq!((err.status, err.error), (400, "ManifestEmpty"));
    assert_eq!(err.fields[0].field, "filter.prefixes");
    w.settings.allowed_buckets = Some(vec!["other".into()]);
    let err = create(&w, json!({"bucket": "photos-1"})).await.unwrap_err();
    assert_eq!(err.fields[0].field, "filter.bucket");
    assert!(w.ports.jobs.get("job-1").await.unwrap().is_none());
    let err = create_job(
        &w.ports,
        &w.settings,
        json!({"filter": {"bucket": "photos-1"}, "bucket": "b", "key": "k", "tier": "BULK", "expiration_days": 1})
            .to_string()
            .as_bytes(),
        None,
        "job-2",
    )
    .await
    .unwrap_err();
    let fields: Vec<&str> = err.fields.iter().map(|f| f.field.as_str()).collect();
    assert_eq!(fields, ["bucket", "key"]);
}

#[tokio::test]
async fn a_filter_estimate_lists_the_bucket_with_the_generator_s_rule() {
    let w = world();
    *w.source.list_page_size.lock().unwrap() = 2;
    put(&w, "2019/a.tif", "GLACIER", 1 << 30);
    put(&w, "2019/b.tif", "DEEP_ARCHIVE", 1 << 30);
    put(&w, "2019/c.tif", "STANDARD", 5);
    put(&w, "2019/d.jpg", "GLACIER", 5);
    put(&w, "2019/e.tif", "GLACIER_IR", 5);
    put(&w, "2020/f.tif", "GLACIER", 5);
    let body = json!({"filter": {"bucket": "photos-1", "prefixes": ["2019/"], "suffixes": [".tif"]},
        "tier": "STANDARD", "expiration_days": 1});
    let estimate = estimate_job(&w.ports, &w.settings, body.to_string().as_bytes())
        .await
        .unwrap();
    let json = serde_json::to_value(&estimate).unwrap();
    assert_eq!(json["objects"], 2);
    assert_eq!(json["skipped"], 2);
    assert_eq!(
        json["skipped_by_reason"],
        json!({"GLACIER_IR": 1, "STANDARD": 1})
    );
    assert_eq!(json["bytes"], 2u64 << 30);
    // Retrieval, Standard tier: 1 GiB of Glacier at 0.01 and 1 GiB of Deep Archive at
    // 0.02 = 0.03.
    assert_eq!(json["tiers"]["STANDARD"]["retrieval_usd"], 0.03);
    assert_eq!(json["completion_window_hours"], json!([3, 12]));
}

#[tokio::test]
async fn a_filter_estimate_too_long_to_list_says_so() {
    let w = world();
    *w.source.list_page_size.lock().unwrap() = 1;
    for i in 0..=crate::api::MAX_ESTIMATE_LIST_PAGES {
        put(&w, &format!("k{i:04}"), "GLACIER", 1);
    }
    let body = json!({"filter": {"bucket": "photos-1"}, "tier": "BULK", "expiration_days": 1});
    let err = estimate_job(&w.ports, &w.settings, body.to_string().as_bytes())
        .await
        .unwrap_err();
    assert_eq!((err.status, err.error), (422, "ListTooLong"));
}

#[test]
fn the_filter_s_slowest_class_sets_the_deadline() {
    use crate::request::{CreateJobRequest, StorageClass};
    let parse = |extra: Value| {
        let mut body = json!({"tier": "BULK", "expiration_days": 1});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        CreateJobRequest::from_json(&body)
    };
    let both = parse(json!({"filter": {"bucket": "photos-1"}})).unwrap();
    assert_eq!(both.storage_class, StorageClass::DeepArchive);
    let glacier =
        parse(json!({"filter": {"bucket": "photos-1", "storage_classes": ["GLACIER"]}})).unwrap();
    assert_eq!(glacier.storage_class, StorageClass::Glacier);
    let err =
        parse(json!({"filter": {"bucket": "photos-1"}, "storage_class": "GLACIER"})).unwrap_err();
    assert_eq!(err.errors[0].field, "storage_class");
    assert!(err.errors[0].message.contains("DEEP_ARCHIVE"), "{err}");
}

#[tokio::test]
async fn a_generator_job_created_while_the_job_was_cancelled_is_cancelled_at_once() {
    let mut w = world();
    put(&w, "a", "GLACIER", 7);
    create(&w, json!({"bucket": "photos-1"})).await.unwrap();
    w.ports.batch = std::sync::Arc::new(crate::api::tests::CancelledDuringSubmit {
        inner: w.batch.clone(),
        jobs: w.store.clone(),
    });
    let err = register(&w, None).await.unwrap_err();
    assert_eq!(crate::ErrorName::error_name(&err), "JobEnded");
    assert_eq!(
        *w.batch.cancelled.lock().unwrap(),
        [FakeBatch::batch_id("job-1")]
    );
}

#[tokio::test]
async fn a_list_whose_keys_s3_does_not_know_as_decoded_fails_before_the_job_runs() {
    let w = world();
    put(&w, "a", "GLACIER", 7);
    create(&w, json!({"bucket": "photos-1"})).await.unwrap();
    register(&w, None).await.unwrap();
    generate(&w, &["plain", "b c.tif", "d+e.tif"], 3);
    // S3 wrote a plus where the list reads a space.
    let misread = ObjectId::new("photos-1", "b c.tif", None).unwrap();
    w.inspector
        .set(&misread, crate::ports::ArchiveState::Missing);
    let err = register(&w, None).await.unwrap_err();
    assert_eq!(crate::ErrorName::error_name(&err), "ManifestUnreadable");
    assert!(err.to_string().contains("b c.tif"), "{err}");
    // Submit refuses a list not read through, so the held job cannot run.
    let err = submit_batch_job(
        &w.ports,
        &SubmitInput {
            job_id: "job-1".into(),
        },
    )
    .await
    .unwrap_err();
    assert_eq!(crate::ErrorName::error_name(&err), "InvalidTaskInput");
    assert!(w.batch.confirmed.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_listing_with_no_page_limit_reads_every_page_and_tells_its_progress() {
    let w = world();
    *w.source.list_page_size.lock().unwrap() = 2;
    for (key, class) in [
        ("a", "GLACIER"),
        ("b", "STANDARD"),
        ("c", "DEEP_ARCHIVE"),
        ("d", "GLACIER"),
        ("e", "GLACIER"),
    ] {
        put(&w, key, class, 3);
    }
    let filter = crate::filter::ObjectFilter::from_json(&json!({"bucket": "photos-1"})).unwrap();
    let mut seen = Vec::new();
    let listed = list_filter(&*w.ports.source, &filter, usize::MAX, &mut |keys| {
        seen.push(keys)
    })
    .await
    .unwrap();
    assert_eq!(seen, [2, 4, 5]);
    assert_eq!(listed.keys, 5);
    let objects: u64 = listed.classes.iter().map(|c| c.objects).sum();
    assert_eq!(objects, 4);
    assert_eq!(listed.skipped.get("STANDARD"), Some(&1));
    let stopped = list_filter(&*w.ports.source, &filter, 2, &mut |_| {})
        .await
        .unwrap_err();
    assert_eq!(stopped, ListingStopped::TooLong { keys: 4 });
}
