//! The tasks on the in-memory fakes: every path of the life cycle, idempotency and
//! failure handling.

use std::time::Duration;

use serde_json::json;

use super::*;
use crate::api::*;
use crate::completion_report::report_manifest_key;
use crate::fakes::*;
use crate::list_source::ListCursor;
use crate::manifest::ManifestCursor;
use crate::object_id::{ObjectId, percent_encode_key};
use crate::ports::{ArchiveState, BatchJobInfo, ObjectState, PortError, Tally};
use crate::ports::{JobStore, ObjectSource, ObjectStore};
use crate::restore_event::encode;
use crate::status::{BatchJobStatus, JobStatus};

/// A reconcile budget no test reaches.
const MINUTE: Duration = Duration::from_secs(60);

impl World {
    /// Creates a job for `manifests/m.csv`, which create-job checks exists: a test that
    /// has not uploaded one gets a one-object manifest there.
    pub(crate) async fn create(&self, job_id: &str, extra: serde_json::Value) -> CreateJobResponse {
        if !self.source.contains("manifests-1", "manifests/m.csv") {
            self.source
                .put("manifests-1", "manifests/m.csv", "photos-1,only%20one\n");
        }
        let mut body = json!({"bucket": "manifests-1", "key": "manifests/m.csv", "tier": "BULK",
            "expiration_days": 2, "client_tag": "team-a", "storage_class": "GLACIER"});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        create_job(
            &self.ports,
            &self.settings,
            body.to_string().as_bytes(),
            None,
            job_id,
        )
        .await
        .unwrap()
    }

    pub(crate) async fn register_all(&self, job_id: &str) -> (u64, usize) {
        let mut cursor = None;
        for calls in 1.. {
            let out = register_manifest(
                &self.ports,
                &self.settings,
                &RegisterInput {
                    job_id: job_id.into(),
                    cursor,
                },
            )
            .await
            .unwrap();
            if out.done {
                return (out.objects_total.unwrap(), calls);
            }
            cursor = out.cursor;
        }
        unreachable!()
    }

    /// Submits the job's batch job.
    pub(crate) async fn submit(&self, job_id: &str) {
        submit_batch_job(
            &self.ports,
            &SubmitInput {
                job_id: job_id.into(),
            },
        )
        .await
        .unwrap();
    }

    pub(crate) async fn poll_tally_decide(&self, job_id: &str) -> DecideOutput {
        let batch_job_id = FakeBatch::batch_id(job_id);
        let mut cursor = None;
        let poll = loop {
            let poll = poll_batch_job(
                &self.ports,
                &self.settings,
                &PollInput {
                    job_id: job_id.into(),
                    batch_job_id: batch_job_id.clone(),
                    report_cursor: cursor,
                },
            )
            .await
            .unwrap();
            if !poll.report_pending {
                break poll;
            }
            cursor = poll.report_cursor;
        };
        let tally = tally(&self.ports, job_id).await.unwrap();
        decide_and_notify(
            &self.ports,
            &DecideInput {
                job_id: job_id.into(),
                batch_status: poll.status,
                tally,
            },
        )
        .await
        .unwrap()
    }

    pub(crate) fn set_batch(&self, job_id: &str, status: BatchJobStatus) {
        self.batch.set(
            &FakeBatch::batch_id(job_id),
            BatchJobInfo {
                status,
                tasks_total: 0,
                tasks_succeeded: 0,
                tasks_failed: 0,
                failure_reasons: vec![],
                generated_manifest: None,
            },
        );
    }

    pub(crate) fn events(&self) -> Vec<(String, String)> {
        self.notifier
            .events()
            .into_iter()
            .map(|e| (e.status, e.progress_percent))
            .collect()
    }
}

pub(crate) fn obj(key: &str) -> ObjectId {
    ObjectId::new("photos-1", key, None).unwrap()
}

pub(crate) fn manifest(n: usize) -> String {
    (0..n)
        .map(|i| format!("photos-1,k{i:03}%20x\r\n"))
        .collect()
}

/// A completion report row as S3 writes it: the HTTP status before the error code, as
/// in AWS's example rows (tests/fixtures/aws/completion-report/).
fn report_row(object: &ObjectId, succeeded: bool, http: u16, code: &str, message: &str) -> String {
    format!(
        "{},{},{},{},{http},{code},\"{}\"\n",
        object.bucket(),
        percent_encode_key(object.key()),
        object.version_id().unwrap_or_default(),
        if succeeded { "succeeded" } else { "failed" },
        message.replace('"', "\"\""),
    )
}

/// A report's manifest.json listing `(bucket, key, succeeded)` result files.
fn report_manifest(files: &[(String, String, bool)]) -> String {
    let results: Vec<_> = files
        .iter()
        .map(|(bucket, key, ok)| {
            json!({"TaskExecutionStatus": if *ok { "succeeded" } else { "failed" },
                "Bucket": bucket, "MD5Checksum": "83b1c4cbe93fc893f54053697e10fd6e", "Key": key})
        })
        .collect();
    json!({"Format": "Report_CSV_20180820", "ReportCreationDate": "2019-04-05T17:48:39.725Z",
        "Results": results,
        "ReportSchema": "Bucket, Key, VersionId, TaskStatus, ErrorCode, HTTPStatusCode, ResultMessage"})
    .to_string()
}

pub(crate) fn restore_message(id: &str, objects: &[ObjectId]) -> SqsMessage {
    let records = objects
        .iter()
        .map(|o| encode::s3_record(&encode::facts_for(o)))
        .collect();
    SqsMessage {
        message_id: id.into(),
        body: encode::s3_notification(records).to_string(),
    }
}

#[tokio::test]
async fn create_job_records_the_job_and_starts_one_execution() {
    let w = World::new();
    let r = w.create("job-1", json!({})).await;
    assert_eq!(r.bulk_job_id, "job-1");
    assert_eq!(r.sns_topic, w.settings.topic_arn);
    assert_eq!(
        r.batch_operation,
        json!({"JobId": null, "Status": "NotSubmitted"})
    );
    let job = w.store.job("job-1").unwrap();
    assert_eq!(job.execution_arn.as_deref(), Some(r.execution_arn.as_str()));
    // Flexible Retrieval Bulk: 12 h + 6 h slack.
    assert_eq!(job.deadline.duration_since(job.created_at).as_hours(), 18);
    // The same job id again answers the same execution, never a second one.
    let again = w.create("job-1", json!({})).await;
    assert_eq!(again.execution_arn, r.execution_arn);
    assert_eq!(w.executions.started.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn create_job_rejects_bad_input_and_starts_nothing() {
    let w = World::new();
    let err = create_job(
        &w.ports,
        &w.settings,
        br#"{"bucket": "x", "tier": "FAST"}"#,
        None,
        "job-1",
    )
    .await
    .unwrap_err();
    assert_eq!(err.status, 400);
    assert_eq!(err.error, "InvalidRequest");
    let fields: Vec<_> = err.fields.iter().map(|f| f.field.as_str()).collect();
    assert_eq!(fields, ["bucket", "key", "tier", "expiration_days"]);
    assert!(w.store.job("job-1").is_none());
    assert!(w.executions.started.lock().unwrap().is_empty());
}

#[tokio::test]
async fn create_job_answers_503_when_the_execution_cannot_start_yet() {
    let w = World::new();
    w.source.put("manifests-1", "m.csv", "photos-1,a\n");
    w.executions
        .faults
        .fail_next(Op::ExecutionStart, PortError::Retryable("throttled".into()));
    let body =
        br#"{"bucket": "manifests-1", "key": "m.csv", "tier": "BULK", "expiration_days": 1}"#;
    let err = create_job(&w.ports, &w.settings, body, None, "job-1")
        .await
        .unwrap_err();
    assert_eq!(err.status, 503);
    // A retry with the same id picks the recorded job up and starts it.
    assert!(
        create_job(&w.ports, &w.settings, body, None, "job-1")
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn registration_resumes_across_invocations_and_counts_duplicates_once() {
    let mut w = World::new();
    let mut text = manifest(25);
    text.push_str("photos-1,k003%20x\r\nphotos-1,k007%20x\r\n");
    w.source.put("manifests-1", "manifests/m.csv", text.clone());
    w.settings.read_chunk_bytes = 40;
    w.settings.register_rows_per_invocation = 4;
    w.create("job-1", json!({})).await;
    let (total, calls) = w.register_all("job-1").await;
    assert_eq!(total, 25);
    assert!(
        calls >= 7,
        "{calls} invocations for 27 rows at 4 per invocation"
    );
    assert_eq!(w.store.object_rows(), 25);
    assert_eq!(
        w.store.object_state(&obj("k024 x"), "job-1"),
        Some(ObjectState::Requested)
    );
    // Never the whole manifest at once.
    assert!(
        w.source
            .reads
            .lock()
            .unwrap()
            .iter()
            .all(|(_, _, len)| *len == 40)
    );
    let job = w.store.job("job-1").unwrap();
    assert_eq!(job.objects_total, Some(25));
    assert_eq!(job.manifest_versioned, Some(false));
}

#[tokio::test]
async fn registration_fails_clearly_on_missing_malformed_empty_or_changed_manifests() {
    let w = World::new();
    w.create("job-1", json!({})).await;
    // Deleted after create-job checked it.
    w.source.remove("manifests-1", "manifests/m.csv");
    let input = RegisterInput {
        job_id: "job-1".into(),
        cursor: None,
    };
    let err = register_manifest(&w.ports, &w.settings, &input)
        .await
        .unwrap_err();
    assert_eq!(crate::ErrorName::error_name(&err), "ManifestUnreadable");
    assert!(
        err.to_string()
            .contains("s3://manifests-1/manifests/m.csv does not exist"),
        "{err}"
    );

    w.source.put(
        "manifests-1",
        "manifests/m.csv",
        "photos-1,ok\nphotos-1\nphotos-1,a,v1\n",
    );
    let err = register_manifest(&w.ports, &w.settings, &input)
        .await
        .unwrap_err();
    assert_eq!(crate::ErrorName::error_name(&err), "ManifestMalformed");
    assert!(err.to_string().contains("line 2"), "{err}");

    w.source.put("manifests-1", "manifests/m.csv", "\r\n\r\n");
    let err = register_manifest(&w.ports, &w.settings, &input)
        .await
        .unwrap_err();
    assert_eq!(crate::ErrorName::error_name(&err), "ManifestEmpty");
}

/// Every call of the registration is retried (as after a Lambda timeout that struck
/// after its writes), and the manifest repeats objects across calls: the total is still
/// the number of distinct objects, counted by registration itself.
#[tokio::test]
async fn the_object_total_is_exact_under_retries_and_repeats() {
    let mut w = World::new();
    w.settings.read_chunk_bytes = 40;
    w.settings.register_rows_per_invocation = 4;
    let mut text = manifest(10);
    text.push_str(&manifest(3)); // k000..k002 again, in later calls
    text.push_str("photos-1,k005%20x\n");
    w.source.put("manifests-1", "manifests/m.csv", text);
    w.create("job-1", json!({})).await;
    let mut cursor = None;
    let mut calls = 0;
    let total = loop {
        calls += 1;
        let input = RegisterInput {
            job_id: "job-1".into(),
            cursor: cursor.clone(),
        };
        let first = register_manifest(&w.ports, &w.settings, &input)
            .await
            .unwrap();
        let retried = register_manifest(&w.ports, &w.settings, &input)
            .await
            .unwrap();
        assert_eq!(first, retried, "a retry answers the same");
        if retried.done {
            break retried.objects_total.unwrap();
        }
        cursor = retried.cursor;
    };
    assert!(calls >= 4, "{calls} calls");
    assert_eq!(total, 10);
    assert_eq!(w.store.job("job-1").unwrap().objects_total, Some(10));
    assert_eq!(w.store.object_rows(), 10);
}

/// The Failed reason counts every malformed line, across reads and invocations, and
/// lists the first ten; nothing more is registered once one line is malformed.
#[tokio::test]
async fn every_malformed_line_is_counted_in_the_failure() {
    let mut w = World::new();
    w.settings.read_chunk_bytes = 64;
    w.settings.register_rows_per_invocation = 5;
    let mut text = manifest(7);
    for i in 0..100 {
        text.push_str(&format!("photos-1,bad{i},v,extra\n"));
        text.push_str(&format!("photos-1,fine{i}\n"));
    }
    w.source.put("manifests-1", "manifests/m.csv", text);
    w.create("job-1", json!({})).await;
    let mut cursor = None;
    let err = loop {
        match register_manifest(
            &w.ports,
            &w.settings,
            &RegisterInput {
                job_id: "job-1".into(),
                cursor,
            },
        )
        .await
        {
            Ok(out) => cursor = out.cursor,
            Err(e) => break e,
        }
    };
    assert_eq!(crate::ErrorName::error_name(&err), "ManifestMalformed");
    let text = err.to_string();
    assert!(
        text.starts_with("the manifest has 100 malformed line(s); the first 10: line 8:"),
        "{text}"
    );
    assert!(w.store.object_rows() <= 7, "{} rows", w.store.object_rows());
}

#[tokio::test]
async fn an_unterminated_quote_fails_registration_naming_its_line() {
    let mut w = World::new();
    w.settings.read_chunk_bytes = 64;
    let mut text = "photos-1,a\nphotos-1,\"unclosed\n".to_owned();
    text.push_str(&manifest(30));
    w.source.put("manifests-1", "manifests/m.csv", text);
    w.create("job-1", json!({})).await;
    let err = register_manifest(
        &w.ports,
        &w.settings,
        &RegisterInput {
            job_id: "job-1".into(),
            cursor: None,
        },
    )
    .await
    .unwrap_err();
    assert_eq!(crate::ErrorName::error_name(&err), "ManifestMalformed");
    let text = err.to_string();
    assert!(text.contains("line 2: opens a quoted field"), "{text}");
}

#[tokio::test]
async fn a_manifest_replaced_during_registration_is_refused() {
    let mut w = World::new();
    w.settings.read_chunk_bytes = 32;
    w.settings.register_rows_per_invocation = 2;
    w.source.put("manifests-1", "manifests/m.csv", manifest(10));
    w.create("job-1", json!({})).await;
    let first = register_manifest(
        &w.ports,
        &w.settings,
        &RegisterInput {
            job_id: "job-1".into(),
            cursor: None,
        },
    )
    .await
    .unwrap();
    assert!(!first.done);
    w.source.put("manifests-1", "manifests/m.csv", manifest(10));
    let err = register_manifest(
        &w.ports,
        &w.settings,
        &RegisterInput {
            job_id: "job-1".into(),
            cursor: first.cursor,
        },
    )
    .await
    .unwrap_err();
    assert_eq!(crate::ErrorName::error_name(&err), "ManifestChanged");
}

#[tokio::test]
async fn buckets_outside_the_deployment_are_refused() {
    let mut w = World::new();
    w.settings.allowed_buckets = Some(vec!["photos-1".into(), "manifests-1".into()]);
    w.source.put(
        "manifests-1",
        "manifests/m.csv",
        "photos-1,a\nother-bucket,b\n",
    );
    w.create("job-1", json!({})).await;
    let err = register_manifest(
        &w.ports,
        &w.settings,
        &RegisterInput {
            job_id: "job-1".into(),
            cursor: None,
        },
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("other-bucket"), "{err}");
}

#[tokio::test]
async fn submission_is_idempotent_and_carries_the_request() {
    let w = World::new();
    w.source.put(
        "manifests-1",
        "manifests/m.csv",
        "photos-1,a,v1\nphotos-1,b,v2\n",
    );
    w.create("job-1", json!({"client_tag": "team-b"})).await;
    w.register_all("job-1").await;
    let input = SubmitInput {
        job_id: "job-1".into(),
    };
    let first = submit_batch_job(&w.ports, &input).await.unwrap();
    let second = submit_batch_job(&w.ports, &input).await.unwrap();
    assert_eq!(first, second);
    let submitted = w.batch.submitted.lock().unwrap().clone();
    assert_eq!(submitted.len(), 1);
    let spec = &submitted[0];
    assert_eq!(spec.job_id, "job-1");
    let crate::ports::BatchManifest::Csv {
        versioned, etag, ..
    } = &spec.manifest
    else {
        panic!("{:?} is not a CSV manifest", spec.manifest);
    };
    assert!(versioned);
    assert_eq!(*etag, w.store.job("job-1").unwrap().manifest_etag.unwrap());
    assert_eq!(spec.client_tag.as_deref(), Some("team-b"));
    assert_eq!(spec.expiration_days, 2);
}

#[tokio::test]
async fn a_refused_batch_job_is_a_named_permanent_error() {
    let w = World::new();
    w.source
        .put("manifests-1", "manifests/m.csv", "photos-1,a\n");
    w.create("job-1", json!({})).await;
    w.register_all("job-1").await;
    w.batch
        .faults
        .fail_next(Op::BatchCreateJob, PortError::Rejected("bad role".into()));
    let err = submit_batch_job(
        &w.ports,
        &SubmitInput {
            job_id: "job-1".into(),
        },
    )
    .await
    .unwrap_err();
    assert_eq!(crate::ErrorName::error_name(&err), "BatchJobRejected");
    w.batch
        .faults
        .fail_next(Op::BatchCreateJob, PortError::Retryable("throttled".into()));
    let err = submit_batch_job(
        &w.ports,
        &SubmitInput {
            job_id: "job-1".into(),
        },
    )
    .await
    .unwrap_err();
    assert_eq!(crate::ErrorName::error_name(&err), "Retryable");
}

/// A job of 20 objects through its whole life, with events duplicated and reordered.
#[tokio::test]
async fn a_whole_job_sends_progress_then_exactly_one_complete() {
    let w = World::new();
    w.source.put("manifests-1", "manifests/m.csv", manifest(20));
    w.create("job-1", json!({"progress_step_percent": 25}))
        .await;
    w.register_all("job-1").await;
    w.submit("job-1").await;
    w.set_batch("job-1", BatchJobStatus::Active);
    assert_eq!(w.poll_tally_decide("job-1").await.next.action, "Wait");

    // The batch job completes; its report says 3 tasks succeeded without a restore
    // (200), 1 object is gone. HeadObject shows a restored copy for 2 of the 3; the
    // third (k004) is still archived, so its row alone counts for nothing.
    w.set_batch("job-1", BatchJobStatus::Complete);
    let batch_id = FakeBatch::batch_id("job-1");
    let rows = [
        report_row(&obj("k000 x"), true, 200, "", "Successful"),
        report_row(&obj("k001 x"), true, 200, "", "Successful"),
        report_row(&obj("k004 x"), true, 200, "", "Successful"),
        report_row(&obj("k002 x"), false, 404, "NoSuchKey", "gone"),
        report_row(&obj("k003 x"), true, 202, "", "Successful"),
    ]
    .concat();
    w.inspector.set(&obj("k000 x"), ArchiveState::Restored);
    w.inspector.set(&obj("k001 x"), ArchiveState::Restored);
    w.source
        .put("reports-1", "batch-reports/results/a.csv", rows);
    let m = report_manifest(&[(
        "reports-1".into(),
        "batch-reports/results/a.csv".into(),
        true,
    )]);
    w.source.put(
        "reports-1",
        &report_manifest_key("batch-reports", &batch_id),
        m,
    );

    // 3 of 20 accounted for: 15 %, below the first step of 25 %.
    let d = w.poll_tally_decide("job-1").await;
    assert_eq!((d.status, d.percent), (JobStatus::Restoring, 15));
    assert!(w.events().is_empty());

    // Restores come back: reordered, each sent twice, in batches of several records.
    let keys: Vec<ObjectId> = (3..20).rev().map(|i| obj(&format!("k{i:03} x"))).collect();
    let first: Vec<SqsMessage> = keys[..5]
        .chunks(2)
        .enumerate()
        .map(|(i, c)| restore_message(&format!("m{i}"), c))
        .collect();
    let poison = [
        SqsMessage {
            message_id: "p1".into(),
            body: "not json".into(),
        },
        SqsMessage {
            message_id: "p2".into(),
            body: r#"{"detail-type": "Object Created"}"#.into(),
        },
    ];
    let out =
        handle_restore_messages(&w.ports, &[first.clone(), first, poison.to_vec()].concat()).await;
    assert_eq!(
        out.failed,
        ["p1", "p2"],
        "poison fails, for the dead-letter queue"
    );
    assert_eq!(out.malformed, 2);
    assert_eq!(out.newly_restored, 5);
    let d = w.poll_tally_decide("job-1").await;
    assert_eq!(d.percent, 40);
    let out = handle_restore_messages(&w.ports, &[restore_message("m9", &keys[5..])]).await;
    assert_eq!(out.newly_restored, 12);
    let d = w.poll_tally_decide("job-1").await;
    assert_eq!(d.status, JobStatus::Complete);
    assert_eq!(d.next.action, "Stop");
    // Again: nothing more is published.
    w.poll_tally_decide("job-1").await;
    assert_eq!(
        w.events(),
        [
            ("Restoring".into(), "40".into()),
            ("Complete".into(), "100".into())
        ]
    );
    let last = w.notifier.events().pop().unwrap();
    assert_eq!(last.failed_batch_files, "1");
    assert_eq!(last.restored_files, "19");
    assert_eq!(last.batch_job_id, batch_id);
    assert_eq!(last.client_tag, "team-a");
    assert_eq!(
        w.store.tally("job-1").await.unwrap(),
        Tally {
            restored: 19,
            excluded: 1
        }
    );
}

/// A job of 12 objects whose report is two result files of 6 rows: rows restored with a copy
/// (confirmed by HeadObject), rows awaiting their event, and failed rows whose message
/// holds commas, quotes and a line break. Returns the polls it took and the tally.
async fn read_report_with(
    rows_per_invocation: u64,
    chunk: u64,
    first: Option<ReportCursor>,
) -> (u32, Tally, World) {
    let mut w = World::new();
    w.settings.rows_per_invocation = rows_per_invocation;
    w.settings.read_chunk_bytes = chunk;
    w.source.put("manifests-1", "manifests/m.csv", manifest(12));
    w.create("job-1", json!({})).await;
    w.register_all("job-1").await;
    w.submit("job-1").await;
    w.set_batch("job-1", BatchJobStatus::Complete);
    let batch_id = FakeBatch::batch_id("job-1");
    let row = |i: usize| {
        let object = obj(&format!("k{i:03} x"));
        match i % 3 {
            0 => {
                w.inspector.set(&object, ArchiveState::Restored);
                report_row(&object, true, 200, "", "")
            }
            1 => report_row(&object, true, 202, "", ""),
            _ => report_row(
                &object,
                false,
                404,
                "NoSuchKey",
                "Not found, \"gone\"\nfor good",
            ),
        }
    };
    let mut files = Vec::new();
    for f in 0..2 {
        let key = format!("batch-reports/results/{f}.csv");
        w.source.put(
            "reports-1",
            &key,
            (f * 6..f * 6 + 6).map(row).collect::<String>(),
        );
        files.push(("reports-1".to_owned(), key, true));
    }
    w.source.put(
        "reports-1",
        &report_manifest_key("batch-reports", &batch_id),
        report_manifest(&files),
    );
    let mut cursor = first;
    let mut calls = 0;
    loop {
        calls += 1;
        let p = poll_batch_job(
            &w.ports,
            &w.settings,
            &PollInput {
                job_id: "job-1".into(),
                batch_job_id: batch_id.clone(),
                report_cursor: cursor.clone(),
            },
        )
        .await
        .unwrap();
        if !p.report_pending {
            break;
        }
        let next = p.report_cursor.unwrap();
        if let Some(previous) = &cursor {
            assert!(
                (next.file, next.at.byte) > (previous.file, previous.at.byte),
                "{next:?} after {previous:?}"
            );
        }
        cursor = Some(next);
    }
    let tally = w.store.tally("job-1").await.unwrap();
    (calls, tally, w)
}

#[tokio::test]
async fn result_files_are_read_in_byte_ranges_whatever_their_size() {
    let whole = Tally {
        restored: 4,
        excluded: 4,
    };
    // Whole in one read; in reads shorter than two rows (rows cut at the edge are read
    // again from their start); and with a row budget, resuming at a byte offset.
    for (rows, chunk, calls) in [
        (1000, 1 << 20, 1),
        (1000, 90, 1),
        (5, 90, 3),
        (4, 1 << 20, 3),
    ] {
        let (made, tally, w) = read_report_with(rows, chunk, None).await;
        assert_eq!(tally, whole, "{rows} rows per call, {chunk}-byte reads");
        assert_eq!(made, calls, "{rows} rows per call, {chunk}-byte reads");
        assert!(w.store.job("job-1").unwrap().report_processed);
        assert_eq!(
            w.store.object_state(&obj("k001 x"), "job-1"),
            Some(ObjectState::Requested),
            "a 202 row waits for its event"
        );
    }
}

#[tokio::test]
async fn a_row_longer_than_a_read_leaves_the_rest_of_its_file_to_the_deadline() {
    // 20 bytes hold no whole row: nothing is marked, nothing fails, the report is done.
    let (calls, tally, w) = read_report_with(1000, 20, None).await;
    assert_eq!((calls, tally), (1, Tally::default()));
    assert!(w.store.job("job-1").unwrap().report_processed);
}

#[tokio::test]
async fn past_the_deadline_stragglers_are_reconciled_before_a_timeout() {
    let mut w = World::new();
    w.settings.rows_per_invocation = 2;
    w.source.put("manifests-1", "manifests/m.csv", manifest(5));
    w.create("job-1", json!({"deadline_hours": 2})).await;
    w.register_all("job-1").await;
    w.submit("job-1").await;
    w.set_batch("job-1", BatchJobStatus::Complete);
    handle_restore_messages(&w.ports, &[restore_message("m", &[obj("k000 x")])]).await;
    w.clock.advance(Duration::from_secs(3 * 3600));
    let d = w.poll_tally_decide("job-1").await;
    assert_eq!(d.next.action, "Reconcile");
    // One came back but its event was lost; one was deleted; three are still archived.
    w.inspector.set(&obj("k001 x"), ArchiveState::Restored);
    w.inspector.set(&obj("k002 x"), ArchiveState::Missing);
    let mut cursor = None;
    loop {
        let r = reconcile(
            &w.ports,
            &w.settings,
            &ReconcileInput {
                job_id: "job-1".into(),
                cursor,
            },
            MINUTE,
        )
        .await
        .unwrap();
        if r.done {
            break;
        }
        cursor = r.cursor;
    }
    let d = w.poll_tally_decide("job-1").await;
    assert_eq!(d.status, JobStatus::Timeout);
    let events = w.notifier.events();
    let last = events.last().unwrap();
    assert_eq!(
        (last.status.as_str(), last.progress_percent.as_str()),
        ("Timeout", "60")
    );
    assert_eq!(last.restored_files, "2");
    assert_eq!(last.failed_batch_files, "1");
    assert!(
        last.reason.contains("2 of 5 objects were not restored"),
        "{}",
        last.reason
    );
}

/// With no time left after each check, every call checks one object and hands on a
/// cursor; together the calls check every object once, as one call would.
#[tokio::test]
async fn reconciliation_goes_on_from_its_cursor_when_its_time_runs_out() {
    let w = World::new();
    w.source.put("manifests-1", "manifests/m.csv", manifest(7));
    w.create("job-1", json!({"deadline_hours": 1})).await;
    w.register_all("job-1").await;
    for i in [1, 4, 6] {
        w.inspector
            .set(&obj(&format!("k{i:03} x")), ArchiveState::Restored);
    }
    w.inspector.set(&obj("k002 x"), ArchiveState::Missing);
    // A HeadObject that is throttled before anything was checked: the call is retried.
    w.inspector
        .faults
        .fail_next(Op::Inspect, PortError::Retryable("SlowDown".into()));
    let input = |cursor| ReconcileInput {
        job_id: "job-1".into(),
        cursor,
    };
    let err = reconcile(&w.ports, &w.settings, &input(None), Duration::ZERO)
        .await
        .unwrap_err();
    assert_eq!(crate::ErrorName::error_name(&err), "Retryable");
    let mut cursor = None;
    let mut calls = 0;
    let (mut restored, mut excluded) = (0, 0);
    loop {
        calls += 1;
        let r = reconcile(&w.ports, &w.settings, &input(cursor), Duration::ZERO)
            .await
            .unwrap();
        assert!(r.checked <= 1, "{r:?}");
        restored += r.found_restored;
        excluded += r.found_excluded;
        if r.done {
            break;
        }
        cursor = r.cursor;
    }
    assert_eq!(calls, 7);
    assert_eq!((restored, excluded), (3, 1));
    assert_eq!(
        w.store.tally("job-1").await.unwrap(),
        Tally {
            restored: 3,
            excluded: 1
        }
    );
    assert!(w.store.job("job-1").unwrap().reconciled);
}

#[tokio::test]
async fn reconciliation_that_finds_everything_completes_instead() {
    let w = World::new();
    w.source.put("manifests-1", "manifests/m.csv", manifest(3));
    w.create("job-1", json!({"deadline_hours": 1})).await;
    w.register_all("job-1").await;
    w.submit("job-1").await;
    w.set_batch("job-1", BatchJobStatus::Complete);
    w.clock.advance(Duration::from_secs(7200));
    for i in 0..3 {
        w.inspector
            .set(&obj(&format!("k{i:03} x")), ArchiveState::Restored);
    }
    assert_eq!(w.poll_tally_decide("job-1").await.next.action, "Reconcile");
    reconcile(
        &w.ports,
        &w.settings,
        &ReconcileInput {
            job_id: "job-1".into(),
            cursor: None,
        },
        MINUTE,
    )
    .await
    .unwrap();
    assert_eq!(
        w.poll_tally_decide("job-1").await.status,
        JobStatus::Complete
    );
    assert_eq!(w.events(), [("Complete".into(), "100".into())]);
}

#[tokio::test]
async fn batch_failure_and_cancellation_publish_their_status_once() {
    for (batch, status) in [
        (BatchJobStatus::Failed, "Failed"),
        (BatchJobStatus::Cancelled, "Cancelled"),
    ] {
        let w = World::new();
        w.source.put("manifests-1", "manifests/m.csv", manifest(4));
        w.create("job-1", json!({})).await;
        w.register_all("job-1").await;
        submit_batch_job(
            &w.ports,
            &SubmitInput {
                job_id: "job-1".into(),
            },
        )
        .await
        .unwrap();
        w.set_batch("job-1", batch);
        assert_eq!(w.poll_tally_decide("job-1").await.next.action, "Stop");
        w.poll_tally_decide("job-1").await;
        assert_eq!(w.events(), [(status.into(), "0".into())]);
    }
}

#[tokio::test]
async fn a_terminal_event_that_failed_to_publish_is_published_on_retry_only_once() {
    let w = World::new();
    w.source.put("manifests-1", "manifests/m.csv", manifest(1));
    w.create("job-1", json!({})).await;
    w.register_all("job-1").await;
    w.submit("job-1").await;
    w.set_batch("job-1", BatchJobStatus::Complete);
    handle_restore_messages(&w.ports, &[restore_message("m", &[obj("k000 x")])]).await;
    w.notifier
        .faults
        .fail_next(Op::Publish, PortError::Retryable("SNS down".into()));
    let input = DecideInput {
        job_id: "job-1".into(),
        batch_status: BatchJobStatus::Complete,
        tally: Tally {
            restored: 1,
            excluded: 0,
        },
    };
    let err = decide_and_notify(&w.ports, &input).await.unwrap_err();
    assert_eq!(crate::ErrorName::error_name(&err), "Retryable");
    assert!(w.events().is_empty());
    // The Catch path races in: it must not add a Failed event to a claimed Complete.
    let failure = FailureInput {
        job_id: "job-1".into(),
        error: StepFunctionsError {
            error: "States.Timeout".into(),
            cause: String::new(),
        },
    };
    assert_eq!(
        record_failure(&w.ports, &failure).await.unwrap().status,
        JobStatus::Complete
    );
    let d = decide_and_notify(&w.ports, &input).await.unwrap();
    assert_eq!(d.status, JobStatus::Complete);
    decide_and_notify(&w.ports, &input).await.unwrap();
    assert_eq!(w.events(), [("Complete".into(), "100".into())]);
}

#[tokio::test]
async fn record_failure_publishes_failed_once_with_the_cause() {
    let w = World::new();
    w.create("job-1", json!({})).await;
    let input = FailureInput {
        job_id: "job-1".into(),
        error: StepFunctionsError {
            error: "ManifestUnreadable".into(),
            cause: json!({"errorType": "ManifestUnreadable", "errorMessage": "the manifest s3://m/k does not exist"}).to_string(),
        },
    };
    assert_eq!(
        record_failure(&w.ports, &input).await.unwrap().status,
        JobStatus::Failed
    );
    assert_eq!(
        record_failure(&w.ports, &input).await.unwrap().status,
        JobStatus::Failed
    );
    let events = w.notifier.events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].status, "Failed");
    assert_eq!(events[0].batch_job_id, "");
    assert_eq!(
        events[0].reason,
        "ManifestUnreadable: the manifest s3://m/k does not exist"
    );
    assert_eq!(w.store.job("job-1").unwrap().status, JobStatus::Failed);
}

#[tokio::test]
async fn restore_events_for_two_jobs_unknown_objects_and_versions() {
    let w = World::new();
    w.source.put(
        "manifests-1",
        "manifests/m.csv",
        "photos-1,shared\nphotos-1,only-a\n",
    );
    w.create("job-a", json!({})).await;
    w.register_all("job-a").await;
    w.source
        .put("manifests-1", "manifests/m.csv", "photos-1,shared\n");
    w.create("job-b", json!({})).await;
    w.register_all("job-b").await;

    // A versioned event for an object registered without a version id counts once
    // HeadObject shows the current version restored.
    let versioned = ObjectId::new("photos-1", "shared", Some("v-9".into())).unwrap();
    w.inspector.set(&obj("shared"), ArchiveState::Restored);
    let unknown = obj("nobody-waits");
    let out = handle_restore_messages(
        &w.ports,
        &[
            restore_message("m1", &[versioned.clone(), unknown.clone()]),
            restore_message("m2", &[versioned]),
        ],
    )
    .await;
    assert!(out.failed.is_empty());
    assert_eq!(out.newly_restored, 2, "one row in each job");
    assert_eq!(
        out.jobs.iter().collect::<Vec<_>>(),
        ["job-a", "job-b"],
        "the jobs the batch touched, for the logs"
    );
    assert_eq!(out.unmatched, 1, "the unknown object");
    assert_eq!(out.duplicates, 2, "the repeat in m2, one row per job");
    assert_eq!(w.store.tally("job-a").await.unwrap().restored, 1);
    assert_eq!(w.store.tally("job-b").await.unwrap().restored, 1);
    assert_eq!(
        w.store.object_state(&unknown, "job-a"),
        None,
        "no row is created from an event"
    );
    assert_eq!(w.store.object_rows(), 3);
}

/// Awkward keys in EventBridge events land on their rows whether the key arrives
/// form-encoded or as it is (AWS documents neither).
#[tokio::test]
async fn eventbridge_events_find_awkward_keys_in_either_encoding() {
    use crate::restore_event::encode::{EventBridgeKeys, eventbridge, facts_for};
    let keys = [
        "a b.txt",
        "a+b.txt",
        "100% done",
        "café ✓/東京.jpg",
        "x%2By",
        "+lead",
    ];
    for encoding in [EventBridgeKeys::Encoded, EventBridgeKeys::Raw] {
        let w = World::new();
        let rows: String = keys
            .iter()
            .map(|k| format!("photos-1,{}\n", percent_encode_key(k)))
            .collect();
        w.source.put("manifests-1", "manifests/m.csv", rows);
        w.create("job-1", json!({})).await;
        w.register_all("job-1").await;
        for k in keys {
            w.inspector.set(&obj(k), ArchiveState::Restored);
        }
        let messages: Vec<SqsMessage> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| SqsMessage {
                message_id: format!("m{i}"),
                body: eventbridge(&facts_for(&obj(k)), encoding).to_string(),
            })
            .collect();
        let out = handle_restore_messages(&w.ports, &messages).await;
        assert_eq!(
            (out.newly_restored, out.unmatched, out.failed.len()),
            (keys.len() as u64, 0, 0),
            "{encoding:?}: {out:?}"
        );
        for k in keys {
            assert_eq!(
                w.store.object_state(&obj(k), "job-1"),
                Some(ObjectState::Restored),
                "{encoding:?}: {k}"
            );
        }
    }
}

/// Jobs await both `a b` and `a+b`; a raw EventBridge key `a+b` decodes to `a b`.
/// Only the object HeadObject shows restored counts.
#[tokio::test]
async fn an_eventbridge_key_two_awaited_objects_could_mean_counts_the_restored_one() {
    use crate::restore_event::encode::{EventBridgeKeys, eventbridge, facts_for};
    let w = World::new();
    w.source.put(
        "manifests-1",
        "manifests/m.csv",
        "photos-1,a%20b\nphotos-1,a%2Bb\n",
    );
    w.create("job-1", json!({})).await;
    w.register_all("job-1").await;
    w.inspector.set(&obj("a+b"), ArchiveState::Restored);
    let message = SqsMessage {
        message_id: "m".into(),
        body: eventbridge(&facts_for(&obj("a+b")), EventBridgeKeys::Raw).to_string(),
    };
    let out = handle_restore_messages(&w.ports, &[message]).await;
    assert_eq!(out.newly_restored, 1);
    assert_eq!(
        w.store.object_state(&obj("a+b"), "job-1"),
        Some(ObjectState::Restored)
    );
    assert_eq!(
        w.store.object_state(&obj("a b"), "job-1"),
        Some(ObjectState::Requested)
    );
}

/// Someone restores an older version of an object a job asked for without a version
/// id: the job's object (the current version) is still archived and must not count.
#[tokio::test]
async fn an_event_for_another_version_counts_only_if_the_current_version_is_restored() {
    let w = World::new();
    w.source.put(
        "manifests-1",
        "manifests/m.csv",
        "photos-1,doc.txt
",
    );
    w.create("job-1", json!({})).await;
    w.register_all("job-1").await;
    let older = ObjectId::new("photos-1", "doc.txt", Some("v-old".into())).unwrap();

    let out = handle_restore_messages(
        &w.ports,
        &[restore_message("m1", std::slice::from_ref(&older))],
    )
    .await;
    assert_eq!((out.newly_restored, out.unmatched), (0, 1));
    assert_eq!(w.store.tally("job-1").await.unwrap().restored, 0);
    assert_eq!(
        w.store.object_state(&obj("doc.txt"), "job-1"),
        Some(ObjectState::Requested)
    );

    // A HeadObject that fails leaves the message for SQS to deliver again.
    w.inspector
        .faults
        .fail_next(Op::Inspect, PortError::Retryable("slow down".into()));
    let out = handle_restore_messages(
        &w.ports,
        &[restore_message("m2", std::slice::from_ref(&older))],
    )
    .await;
    assert_eq!(out.failed, ["m2"]);

    w.inspector.set(&obj("doc.txt"), ArchiveState::Restored);
    let out = handle_restore_messages(&w.ports, &[restore_message("m3", &[older])]).await;
    assert_eq!(out.newly_restored, 1);
    assert_eq!(w.store.tally("job-1").await.unwrap().restored, 1);
}

/// An unversioned bucket's events carry no version id; a manifest may still name its
/// objects by their version id `null`.
#[tokio::test]
async fn an_event_without_a_version_finds_rows_of_the_null_version() {
    let w = World::new();
    w.source.put(
        "manifests-1",
        "manifests/m.csv",
        "photos-1,a.txt,null
",
    );
    w.create("job-1", json!({})).await;
    w.register_all("job-1").await;
    let out = handle_restore_messages(&w.ports, &[restore_message("m1", &[obj("a.txt")])]).await;
    assert_eq!((out.newly_restored, out.unmatched), (1, 0));
    let null = ObjectId::new("photos-1", "a.txt", Some("null".into())).unwrap();
    assert_eq!(
        w.store.object_state(&null, "job-1"),
        Some(ObjectState::Restored)
    );
}

#[tokio::test]
async fn a_bad_message_fails_alone_and_a_store_failure_fails_its_messages() {
    let w = World::new();
    w.source.put("manifests-1", "manifests/m.csv", manifest(3));
    w.create("job-1", json!({})).await;
    w.register_all("job-1").await;
    let good = restore_message("good", &[obj("k000 x")]);
    let bad = SqsMessage {
        message_id: "bad".into(),
        body: "{\"not\": \"an event\"}".into(),
    };
    let out = handle_restore_messages(&w.ports, &[good, bad]).await;
    assert_eq!(out.failed, ["bad"]);
    assert_eq!(out.newly_restored, 1);

    w.store
        .faults
        .fail_next(Op::ObjectsMark, PortError::Retryable("throttled".into()));
    let out = handle_restore_messages(
        &w.ports,
        &[
            restore_message("a", &[obj("k001 x")]),
            restore_message("none", &[obj("zzz")]),
        ],
    )
    .await;
    assert_eq!(
        out.failed,
        ["a"],
        "the message with nothing to record succeeds"
    );
    assert_eq!(
        w.store.object_state(&obj("k001 x"), "job-1"),
        Some(ObjectState::Requested)
    );
}

#[tokio::test]
async fn cursors_are_plain_json_for_the_state_machine() {
    let cursor = RegisterCursor {
        manifest: ListCursor {
            file: 0,
            at: ManifestCursor {
                byte: 10,
                lines_before: 2,
                versioned: Some(false),
            },
        },
        objects: 7,
        ..RegisterCursor::default()
    };
    let json = serde_json::to_value(&cursor).unwrap();
    assert_eq!(
        json,
        json!({"file": 0, "byte": 10, "lines_before": 2, "versioned": false, "objects": 7})
    );
    let input: RegisterInput =
        serde_json::from_value(json!({"job_id": "j", "cursor": json})).unwrap();
    assert_eq!(input.cursor, Some(cursor));
    let first: RegisterInput =
        serde_json::from_value(json!({"job_id": "j", "cursor": null})).unwrap();
    assert_eq!(first.cursor, None);
    let poll: PollInput =
        serde_json::from_value(json!({"job_id": "j", "batch_job_id": "b", "report_cursor": null}))
            .unwrap();
    assert_eq!(poll.report_cursor, None);
    let failure: FailureInput =
        serde_json::from_value(json!({"job_id": "j", "error": {"Error": "X", "Cause": "y"}}))
            .unwrap();
    assert_eq!(failure.error.error, "X");
}

#[tokio::test]
async fn a_failed_batch_job_s_reasons_reach_the_failed_event() {
    let w = World::new();
    w.source.put("manifests-1", "manifests/m.csv", manifest(2));
    w.create("job-1", json!({})).await;
    w.register_all("job-1").await;
    let input = SubmitInput {
        job_id: "job-1".into(),
    };
    submit_batch_job(&w.ports, &input).await.unwrap();
    w.batch.set(
        &FakeBatch::batch_id("job-1"),
        BatchJobInfo {
            status: BatchJobStatus::Failed,
            tasks_total: 2,
            tasks_succeeded: 0,
            tasks_failed: 2,
            failure_reasons: vec!["AccessDenied: the role cannot read the manifest".into()],
            generated_manifest: None,
        },
    );
    w.poll_tally_decide("job-1").await;
    let events = w.notifier.events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].status, "Failed");
    assert!(
        events[0]
            .reason
            .contains("AccessDenied: the role cannot read the manifest"),
        "{}",
        events[0].reason
    );
}

// ---- S3 Inventory reports ----

fn listed(key: &str, class: &str, size: u64) -> crate::inventory::write::ListedObject {
    crate::inventory::write::ListedObject {
        object: obj(key),
        size,
        storage_class: class.into(),
    }
}

/// Puts a report of `objects` (of bucket photos-1) in manifests-1; answers the key of
/// its manifest.json.
fn put_inventory(
    w: &World,
    objects: &[crate::inventory::write::ListedObject],
    rows_per_file: usize,
) -> String {
    let report =
        crate::inventory::write::report("photos-1", "manifests-1", "inv", objects, rows_per_file);
    w.source
        .put("manifests-1", &report.manifest_key, report.manifest_json);
    for (key, bytes) in report.data_files {
        w.source.put("manifests-1", &key, bytes);
    }
    report.manifest_key
}

fn inventory_world() -> World {
    let mut w = World::new();
    w.settings.report_bucket = "reports-1".into();
    w
}

async fn read_object(w: &World, bucket: &str, key: &str) -> String {
    let meta = w.source.head(bucket, key).await.unwrap();
    let bytes = w
        .source
        .read_range(bucket, key, None, 0, meta.size)
        .await
        .unwrap();
    String::from_utf8(bytes).unwrap()
}

#[tokio::test]
async fn an_inventory_job_registers_only_archived_objects_and_gives_the_batch_job_their_csv() {
    let w = inventory_world();
    let key = put_inventory(
        &w,
        &[
            listed("a x", "GLACIER", 10),
            listed("b+plus", "STANDARD", 20),
            listed("c/é", "DEEP_ARCHIVE", 30),
            listed("d", "GLACIER_IR", 40),
            listed("e", "GLACIER", 50),
        ],
        2,
    );
    w.create("job-1", json!({"manifest_format": "inventory", "key": key}))
        .await;
    let (total, _) = w.register_all("job-1").await;
    assert_eq!(total, 3);
    let job = w.ports.jobs.get("job-1").await.unwrap().unwrap();
    assert_eq!(job.objects_total, Some(3));
    assert_eq!(job.objects_skipped, Some(2));
    let view = get_job(&w.ports, "job-1").await.unwrap();
    assert_eq!((view.total_files, view.skipped_files), (Some(3), Some(2)));
    let written = job.batch_manifest.clone().unwrap();
    assert_eq!(
        (
            written.bucket.as_str(),
            written.key.as_str(),
            written.versioned
        ),
        ("reports-1", "batch-reports/manifests/job-1.csv", false)
    );
    assert_eq!(
        read_object(&w, &written.bucket, &written.key).await,
        "photos-1,a%20x\r\nphotos-1,c/%C3%A9\r\nphotos-1,e\r\n"
    );
    // Each archived object waits for its restore, under the key S3 will name.
    for key in ["a x", "c/é", "e"] {
        assert_eq!(
            w.store.waiting_jobs(&obj(key)).await.unwrap(),
            ["job-1"],
            "{key}"
        );
    }
    assert!(
        w.store
            .waiting_jobs(&obj("b+plus"))
            .await
            .unwrap()
            .is_empty()
    );
    submit_batch_job(
        &w.ports,
        &SubmitInput {
            job_id: "job-1".into(),
        },
    )
    .await
    .unwrap();
    let spec = w.batch.submitted.lock().unwrap()[0].clone();
    assert_eq!(
        spec.manifest,
        crate::ports::BatchManifest::Csv {
            bucket: written.bucket,
            key: written.key,
            etag: written.etag,
            versioned: false,
        }
    );
}

#[tokio::test]
async fn a_large_inventory_writes_parts_of_at_least_5_mib_and_a_retried_call_repeats_nothing() {
    let mut w = inventory_world();
    w.settings.register_rows_per_invocation = 10_000;
    // Rows of about 220 bytes: 5 MiB is about 24,000 of them.
    let filler = "x".repeat(200);
    let objects: Vec<_> = (0..40_000)
        .map(|i| listed(&format!("k{i:06}-{filler}"), "GLACIER", 1))
        .collect();
    let key = put_inventory(&w, &objects, 15_000);
    w.create("job-1", json!({"manifest_format": "inventory", "key": key}))
        .await;
    let mut cursor = None;
    let mut calls = 0;
    let out = loop {
        let input = RegisterInput {
            job_id: "job-1".into(),
            cursor: cursor.clone(),
        };
        let first = register_manifest(&w.ports, &w.settings, &input)
            .await
            .unwrap();
        // A try cut off after its writes, then retried from the same cursor.
        let again = register_manifest(&w.ports, &w.settings, &input)
            .await
            .unwrap();
        calls += 1;
        if !first.done {
            assert_eq!(first, again, "a retry answers as the first try");
        }
        if again.done {
            assert_eq!(again.objects_total, first.objects_total);
            break first;
        }
        cursor = again.cursor;
    };
    assert_eq!(out.objects_total, Some(40_000));
    assert!(calls >= 2, "{calls} calls: the manifest came in parts");
    let parts = out.cursor.unwrap().upload.unwrap().parts;
    assert_eq!(parts.len(), calls);
    let job = w.ports.jobs.get("job-1").await.unwrap().unwrap();
    let written = job.batch_manifest.unwrap();
    let csv = read_object(&w, &written.bucket, &written.key).await;
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 40_000);
    let distinct: std::collections::HashSet<&str> = lines.iter().copied().collect();
    assert_eq!(distinct.len(), 40_000, "no row written twice");
    assert_eq!(lines[0], format!("photos-1,k000000-{filler}"));
}

#[tokio::test]
async fn an_inventory_with_nothing_archived_fails_naming_what_was_skipped() {
    let w = inventory_world();
    let key = put_inventory(
        &w,
        &[
            listed("a", "STANDARD", 1),
            listed("b", "STANDARD", 1),
            listed("c", "INTELLIGENT_TIERING", 1),
        ],
        10,
    );
    w.create("job-1", json!({"manifest_format": "inventory", "key": key}))
        .await;
    let err = register_manifest(
        &w.ports,
        &w.settings,
        &RegisterInput {
            job_id: "job-1".into(),
            cursor: None,
        },
    )
    .await
    .unwrap_err();
    assert_eq!(crate::ErrorName::error_name(&err), "ManifestEmpty");
    assert!(
        err.to_string()
            .contains("all 3 of its objects were skipped as not archived (INTELLIGENT_TIERING: 1, STANDARD: 2)"),
        "{err}"
    );
}

#[tokio::test]
async fn an_inventory_estimate_knows_bytes_by_class_and_the_skipped_by_reason() {
    let w = inventory_world();
    let key = put_inventory(
        &w,
        &[
            listed("a", "GLACIER", 1 << 30),
            listed("b", "STANDARD", 5),
            listed("c", "DEEP_ARCHIVE", 1 << 30),
            listed("d", "GLACIER", 1 << 30),
        ],
        3,
    );
    let body = json!({"bucket": "manifests-1", "key": key, "manifest_format": "inventory",
        "tier": "STANDARD", "expiration_days": 1});
    let estimate = estimate_job(&w.ports, &w.settings, body.to_string().as_bytes())
        .await
        .unwrap();
    let json = serde_json::to_value(&estimate).unwrap();
    assert_eq!(json["objects"], 3);
    assert_eq!(json["skipped"], 1);
    assert_eq!(json["skipped_by_reason"], json!({"STANDARD": 1}));
    assert_eq!(json["bytes"], 3u64 << 30);
    // Retrieval, Standard tier: 2 GiB of Glacier at 0.01 and 1 GiB of Deep Archive at
    // 0.02 = 0.04.
    assert_eq!(json["tiers"]["STANDARD"]["retrieval_usd"], 0.04);
    // Both classes: Glacier Standard 3–5 h, Deep Archive Standard 9–12 h.
    assert_eq!(json["completion_window_hours"], json!([3, 12]));
}
