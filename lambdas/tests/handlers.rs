//! The handlers' wiring on the in-memory fakes: the JSON each function receives from
//! API Gateway, Step Functions and SQS, and the JSON (or error) it answers with.

use gbr_core::fakes::*;
use gbr_core::object_id::ObjectId;
use gbr_core::ports::{BatchJobInfo, ObjectState, PortError, Tally};
use gbr_core::settings::Settings;
use gbr_core::status::{BatchJobStatus, JobStatus};
use gbr_lambdas::{http_api, restore_events, step_tasks};
use lambda_http::Body;
use serde_json::{Value, json};

/// The world driven through the handlers, as API Gateway, Step Functions and SQS call
/// them.
trait ViaHandlers {
    async fn post(&self, body: &str, job_id: &str) -> (u16, Value);
    async fn request(
        &self,
        method: &str,
        body: &str,
        job_id: &str,
        default_step: Option<u8>,
    ) -> (u16, Value);
    async fn send(
        &self,
        event: &str,
        default_step: Option<u8>,
        fresh_job_id: &str,
    ) -> ((u16, Value), lambda_http::Response<Body>);
    async fn call(
        &self,
        method: &str,
        path: &str,
        body: &str,
        query: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> (u16, Value);
    async fn job_with_manifest(&self, job_id: &str, manifest: &str);
    async fn tally(&self, job_id: &str) -> Tally;
    fn executions_started(&self) -> usize;
}

impl ViaHandlers for World {
    async fn post(&self, body: &str, job_id: &str) -> (u16, Value) {
        self.request("POST", body, job_id, None).await
    }

    async fn request(
        &self,
        method: &str,
        body: &str,
        job_id: &str,
        default_step: Option<u8>,
    ) -> (u16, Value) {
        let event = api_gateway_event(method, "/create-job", body, &[], &[]);
        self.send(&event, default_step, job_id).await.0
    }

    /// Sends an API Gateway event; answers the status, the JSON body and the response.
    async fn send(
        &self,
        event: &str,
        default_step: Option<u8>,
        fresh_job_id: &str,
    ) -> ((u16, Value), lambda_http::Response<Body>) {
        // Create-job checks its manifest exists; the tests' bodies name this one.
        if !self.source.contains("manifests-1", "m.csv") {
            self.source.put("manifests-1", "m.csv", "photos-1,a\n");
        }
        let request = lambda_http::request::from_str(event).unwrap();
        let settings = Settings {
            default_progress_step_percent: default_step
                .unwrap_or(self.settings.default_progress_step_percent),
            ..self.settings.clone()
        };
        let response = http_api::answer(&self.ports, &settings, request, fresh_job_id).await;
        assert_eq!(response.headers()["content-type"], "application/json");
        let status = response.status().as_u16();
        let body = match response.body() {
            Body::Text(text) => serde_json::from_str(text).unwrap(),
            other => panic!("expected a text body, got {other:?}"),
        };
        ((status, body), response)
    }

    /// A request on `path` with query parameters and extra headers.
    async fn call(
        &self,
        method: &str,
        path: &str,
        body: &str,
        query: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> (u16, Value) {
        let event = api_gateway_event(method, path, body, query, headers);
        self.send(&event, None, "fresh-id").await.0
    }

    /// Creates a job for `manifest` over HTTP and registers it through the task handler.
    async fn job_with_manifest(&self, job_id: &str, manifest: &str) {
        let key = format!("manifests/{job_id}.csv");
        self.source.put("manifests-1", &key, manifest);
        let body =
            json!({"bucket": "manifests-1", "key": key, "tier": "bulk", "expiration_days": 1});
        let (status, answer) = self.post(&body.to_string(), job_id).await;
        assert_eq!(status, 200, "{answer}");
        let out = step_tasks::register_manifest(
            &self.ports,
            &self.settings,
            json!({"job_id": job_id, "cursor": null}),
        )
        .await
        .unwrap();
        assert!(out.done);
    }

    async fn tally(&self, job_id: &str) -> Tally {
        step_tasks::tally(&self.ports, json!({"job_id": job_id}))
            .await
            .unwrap()
    }

    fn executions_started(&self) -> usize {
        self.executions.started.lock().unwrap().len()
    }
}

/// An API Gateway REST API proxy event, as API Gateway sends it to Lambda. `resource`
/// is deliberately a catch-all: the handler routes on the path alone.
fn api_gateway_event(
    method: &str,
    path: &str,
    body: &str,
    query: &[(&str, &str)],
    extra_headers: &[(&str, &str)],
) -> String {
    let mut headers = json!({"Content-Type": "application/json", "Host": "abc123.execute-api.eu-west-1.amazonaws.com", "x-api-key": "k"});
    for (name, value) in extra_headers {
        headers[*name] = json!(value);
    }
    let multi_headers: serde_json::Map<String, Value> = headers
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), json!([v])))
        .collect();
    let (single, multi) = if query.is_empty() {
        (Value::Null, Value::Null)
    } else {
        let mut single = serde_json::Map::new();
        let mut multi = serde_json::Map::new();
        for (name, value) in query {
            single.insert((*name).into(), json!(value));
            multi
                .entry(*name)
                .or_insert_with(|| json!([]))
                .as_array_mut()
                .unwrap()
                .push(json!(value));
        }
        (Value::Object(single), Value::Object(multi))
    };
    json!({
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": multi_headers,
        "queryStringParameters": single,
        "multiValueQueryStringParameters": multi,
        "pathParameters": null,
        "stageVariables": null,
        "requestContext": {
            "accountId": "123456789012",
            "resourceId": "r1",
            "stage": "prod",
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            "identity": {"sourceIp": "192.0.2.1", "apiKey": "k", "apiKeyId": "id1"},
            "resourcePath": "/{proxy+}",
            "httpMethod": method,
            "apiId": "abc123",
            "path": format!("/prod{path}")
        },
        "body": body,
        "isBase64Encoded": false
    })
    .to_string()
}

fn obj(key: &str) -> ObjectId {
    ObjectId::new("photos-1", key, None).unwrap()
}

/// An EventBridge "Object Restore Completed" event, as the rule delivers it to SQS.
fn eventbridge(key: &str) -> String {
    json!({
        "version": "0",
        "id": "17793124-05d4-b198-2fde-7ededc63b103",
        "detail-type": "Object Restore Completed",
        "source": "aws.s3",
        "account": "123456789012",
        "time": "2026-11-12T00:00:00Z",
        "region": "eu-west-1",
        "resources": ["arn:aws:s3:::photos-1"],
        "detail": {
            "version": "0",
            "bucket": {"name": "photos-1"},
            "object": {"key": key, "size": 5, "etag": "b1946ac92492d2347c6235b4d2611184"},
            "request-id": "189F19CB7FB1B6A4",
            "requester": "s3.amazonaws.com",
            "restore-expiry-time": "2026-11-13T00:00:00Z",
            "source-storage-class": "GLACIER"
        }
    })
    .to_string()
}

/// An S3 event notification with one record per key (keys form-URL-encoded, as S3 does).
fn s3_notification(keys: &[&str]) -> String {
    let records: Vec<Value> = keys
        .iter()
        .map(|key| {
            json!({
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "eventTime": "2026-11-12T00:00:00.000Z",
                "eventName": "ObjectRestore:Completed",
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "bucket": {"name": "photos-1", "arn": "arn:aws:s3:::photos-1"},
                    "object": {"key": key.replace(' ', "+"), "size": 5, "sequencer": "0"}
                }
            })
        })
        .collect();
    json!({ "Records": records }).to_string()
}

/// An SQS event holding `(messageId, body)` messages.
fn sqs_event(messages: &[(&str, String)]) -> Value {
    let records: Vec<Value> = messages
        .iter()
        .map(|(id, body)| {
            json!({
                "messageId": id,
                "receiptHandle": format!("handle-{id}"),
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1800000000000",
                    "SenderId": "AIDAIENQZJOLO23YVJ4VO", "ApproximateFirstReceiveTimestamp": "1800000000001"},
                "messageAttributes": {},
                "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:restore-events",
                "awsRegion": "eu-west-1"
            })
        })
        .collect();
    json!({ "Records": records })
}

fn failures(response: &aws_lambda_events::event::sqs::SqsBatchResponse) -> Value {
    serde_json::to_value(response).unwrap()
}

// ---- restore-event ----

#[tokio::test]
async fn restore_events_count_once_whatever_the_order_and_repeats() {
    let w = World::new();
    w.job_with_manifest("job-1", "photos-1,a\r\nphotos-1,b%20c\r\nphotos-1,d\r\n")
        .await;
    // Reordered and duplicated, in one batch and across batches.
    let batch = sqs_event(&[
        ("m1", eventbridge("d")),
        ("m2", eventbridge("b c")),
        ("m3", eventbridge("d")),
    ]);
    let response = restore_events::handle(&w.ports, batch.clone())
        .await
        .unwrap();
    assert_eq!(failures(&response), json!({"batchItemFailures": []}));
    assert_eq!(w.tally("job-1").await.restored, 2);
    // SQS delivers the whole batch again: nothing is counted twice.
    restore_events::handle(&w.ports, batch).await.unwrap();
    restore_events::handle(&w.ports, sqs_event(&[("m4", eventbridge("a"))]))
        .await
        .unwrap();
    assert_eq!(
        w.tally("job-1").await,
        Tally {
            restored: 3,
            excluded: 0
        }
    );
    assert_eq!(
        w.store.object_state(&obj("b c"), "job-1"),
        Some(ObjectState::Restored)
    );
}

#[tokio::test]
async fn an_object_no_job_waits_for_changes_nothing() {
    let w = World::new();
    w.job_with_manifest("job-1", "photos-1,a\r\n").await;
    let response = restore_events::handle(&w.ports, sqs_event(&[("m1", eventbridge("unrelated"))]))
        .await
        .unwrap();
    assert_eq!(failures(&response), json!({"batchItemFailures": []}));
    assert_eq!(w.tally("job-1").await.restored, 0);
    assert_eq!(w.store.object_rows(), 1, "an event never creates a row");
}

#[tokio::test]
async fn one_object_in_two_jobs_counts_in_both() {
    let w = World::new();
    w.job_with_manifest("job-a", "photos-1,shared\r\nphotos-1,only-a\r\n")
        .await;
    w.job_with_manifest("job-b", "photos-1,shared\r\n").await;
    restore_events::handle(&w.ports, sqs_event(&[("m1", eventbridge("shared"))]))
        .await
        .unwrap();
    assert_eq!(w.tally("job-a").await.restored, 1);
    assert_eq!(w.tally("job-b").await.restored, 1);
}

#[tokio::test]
async fn every_record_of_a_message_counts() {
    let w = World::new();
    w.job_with_manifest("job-1", "photos-1,a\r\nphotos-1,b%20c\r\nphotos-1,d\r\n")
        .await;
    let response = restore_events::handle(
        &w.ports,
        sqs_event(&[("m1", s3_notification(&["a", "b c", "d"]))]),
    )
    .await
    .unwrap();
    assert_eq!(failures(&response), json!({"batchItemFailures": []}));
    assert_eq!(w.tally("job-1").await.restored, 3);
}

#[tokio::test]
async fn a_malformed_message_fails_alone() {
    let w = World::new();
    w.job_with_manifest("job-1", "photos-1,a\r\nphotos-1,d\r\n")
        .await;
    let batch = sqs_event(&[
        ("good-1", eventbridge("a")),
        ("bad", "{\"neither\": \"s3 nor eventbridge\"}".to_owned()),
        ("not-json", "restore done".to_owned()),
        ("good-2", s3_notification(&["d"])),
    ]);
    let response = restore_events::handle(&w.ports, batch).await.unwrap();
    assert_eq!(
        failures(&response),
        json!({"batchItemFailures": [{"itemIdentifier": "bad"}, {"itemIdentifier": "not-json"}]})
    );
    assert_eq!(w.tally("job-1").await.restored, 2);
}

#[tokio::test]
async fn a_store_failure_returns_the_messages_to_the_queue() {
    let w = World::new();
    w.job_with_manifest("job-1", "photos-1,a\r\n").await;
    w.store
        .faults
        .fail_next(Op::ObjectsMark, PortError::Retryable("throttled".into()));
    let response = restore_events::handle(&w.ports, sqs_event(&[("m1", eventbridge("a"))]))
        .await
        .unwrap();
    assert_eq!(
        failures(&response),
        json!({"batchItemFailures": [{"itemIdentifier": "m1"}]})
    );
    restore_events::handle(&w.ports, sqs_event(&[("m1", eventbridge("a"))]))
        .await
        .unwrap();
    assert_eq!(w.tally("job-1").await.restored, 1);
}

#[tokio::test]
async fn an_unreadable_sqs_event_fails_the_batch_under_a_stable_name() {
    let w = World::new();
    let mut event = sqs_event(&[("m1", eventbridge("a"))]);
    event["Records"][0]
        .as_object_mut()
        .unwrap()
        .remove("messageId");
    let err = restore_events::handle(&w.ports, event).await.unwrap_err();
    assert_eq!(err.error_type, "RestoreEventMalformed");
    let err = restore_events::handle(&w.ports, json!({"Records": "no"}))
        .await
        .unwrap_err();
    assert_eq!(err.error_type, "RestoreEventMalformed");
}

// ---- create-job ----

#[tokio::test]
async fn create_job_answers_the_seed_fields_and_starts_one_execution() {
    let w = World::new();
    let body = json!({"bucket": "manifests-1", "key": "m.csv", "tier": "STANDARD", "expiration_days": 1, "client_tag": "client_tag"});
    let (status, answer) = w
        .post(&body.to_string(), "0b7d3ad4-2d5b-4c5e-9a43-3f6f0c1c1e11")
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["BulkJobId"], "0b7d3ad4-2d5b-4c5e-9a43-3f6f0c1c1e11");
    assert_eq!(answer["SNSTopic"], w.settings.topic_arn);
    assert!(answer["BatchOperation"].is_object());
    assert!(
        answer["ExecutionArn"]
            .as_str()
            .unwrap()
            .ends_with("0b7d3ad4-2d5b-4c5e-9a43-3f6f0c1c1e11")
    );
    let started = w.executions.started.lock().unwrap().clone();
    let (input, _) = &started["0b7d3ad4-2d5b-4c5e-9a43-3f6f0c1c1e11"];
    assert_eq!(
        input,
        &json!({"job_id": "0b7d3ad4-2d5b-4c5e-9a43-3f6f0c1c1e11"})
    );
}

#[tokio::test]
async fn create_job_refuses_bad_input_naming_the_fields_and_starts_nothing() {
    let w = World::new();
    let (status, answer) = w
        .post(
            r#"{"bucket": "Bad_Bucket", "tier": "EXPEDITED", "expiration_days": 0}"#,
            "job-1",
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(answer["error"], "InvalidRequest");
    let fields: Vec<&str> = answer["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["bucket", "key", "tier", "expiration_days"]);
    assert_eq!(w.executions_started(), 0);
    assert!(w.store.job("job-1").is_none());

    let (status, answer) = w.post("not json", "job-2").await;
    assert_eq!(status, 400);
    assert_eq!(answer["fields"][0]["field"], "body");
    assert_eq!(w.executions_started(), 0);
}

#[tokio::test]
async fn create_job_only_answers_post() {
    let w = World::new();
    let (status, answer) = w.request("GET", "", "job-1", None).await;
    assert_eq!(status, 405);
    assert_eq!(answer["error"], "MethodNotAllowed");
    assert_eq!(w.executions_started(), 0);
}

#[tokio::test]
async fn create_job_answers_503_when_step_functions_throttles() {
    let w = World::new();
    w.executions
        .faults
        .fail_next(Op::ExecutionStart, PortError::Retryable("throttled".into()));
    let body = r#"{"bucket": "manifests-1", "key": "m.csv", "tier": "BULK", "expiration_days": 1}"#;
    let (status, answer) = w.post(body, "job-1").await;
    assert_eq!(status, 503);
    assert_eq!(answer["error"], "ServiceUnavailable");
}

#[tokio::test]
async fn the_deployment_progress_step_applies_only_when_the_request_names_none() {
    let w = World::new();
    let body =
        json!({"bucket": "manifests-1", "key": "m.csv", "tier": "BULK", "expiration_days": 1});
    let (status, _) = w
        .request("POST", &body.to_string(), "job-1", Some(20))
        .await;
    assert_eq!(status, 200);
    let job = w.store.job("job-1").unwrap();
    assert_eq!(
        (job.request.progress_step_percent, job.progress_step_percent),
        (None, 20)
    );
    let mut explicit = body.clone();
    explicit["progress_step_percent"] = json!(5);
    w.request("POST", &explicit.to_string(), "job-2", Some(20))
        .await;
    let job = w.store.job("job-2").unwrap();
    assert_eq!(
        (job.request.progress_step_percent, job.progress_step_percent),
        (Some(5), 5)
    );
}

#[tokio::test]
async fn each_request_gets_a_fresh_uuid() {
    let w = World::new();
    let body = r#"{"bucket": "manifests-1", "key": "m.csv", "tier": "BULK", "expiration_days": 1}"#;
    w.source.put("manifests-1", "m.csv", "photos-1,a\n");
    let mut ids = Vec::new();
    for _ in 0..2 {
        let event = api_gateway_event("POST", "/create-job", body, &[], &[]);
        let request = lambda_http::request::from_str(&event).unwrap();
        let response = http_api::handle(&w.ports, &w.settings, request)
            .await
            .unwrap();
        let Body::Text(text) = response.body() else {
            panic!("expected text")
        };
        let answer: Value = serde_json::from_str(text).unwrap();
        let id = answer["BulkJobId"].as_str().unwrap().to_owned();
        assert_eq!(uuid::Uuid::parse_str(&id).unwrap().get_version_num(), 4);
        ids.push(id);
    }
    assert_ne!(ids[0], ids[1]);
    assert_eq!(w.executions_started(), 2);
}

// ---- the job API ----

const MANIFEST_BODY: &str =
    r#"{"bucket": "manifests-1", "key": "m.csv", "tier": "BULK", "expiration_days": 1}"#;

#[tokio::test]
async fn get_job_answers_the_view_and_404_for_an_unknown_id() {
    let w = World::new();
    w.job_with_manifest("job-1", "photos-1,a\r\nphotos-1,b\r\n")
        .await;
    restore_events::handle(&w.ports, sqs_event(&[("m1", eventbridge("a"))]))
        .await
        .unwrap();
    let (status, view) = w.call("GET", "/jobs/job-1", "", &[], &[]).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["JobId"], "job-1");
    assert_eq!(view["Status"], "Restoring");
    assert_eq!(view["TotalFiles"], 2);
    assert_eq!(view["RestoredFiles"], 1);
    assert_eq!(view["ProgressPercent"], 50);
    assert_eq!(view["BatchJobId"], Value::Null);
    assert_eq!(view["LastEvent"], Value::Null);

    let (status, error) = w.call("GET", "/jobs/job-none", "", &[], &[]).await;
    assert_eq!(status, 404);
    assert_eq!(error["error"], "JobNotFound");
    assert_eq!(error["job_id"], "job-none");
    assert!(error["message"].as_str().unwrap().contains("job-none"));
}

#[tokio::test]
async fn cancel_answers_the_cancelled_job_then_409_with_its_status() {
    let w = World::new();
    w.job_with_manifest("job-1", "photos-1,a\r\n").await;
    step_tasks::submit_batch_job(&w.ports, json!({"job_id": "job-1"}))
        .await
        .unwrap();
    let (status, view) = w.call("POST", "/jobs/job-1/cancel", "", &[], &[]).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["Status"], "Cancelled");
    assert_eq!(
        view["LastEvent"],
        json!({"Status": "Cancelled", "ProgressPercent": 0})
    );
    assert_eq!(
        *w.batch.cancelled.lock().unwrap(),
        [FakeBatch::batch_id("job-1")]
    );
    assert_eq!(w.executions.stopped.lock().unwrap().len(), 1);
    let events = w.notifier.events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].status, "Cancelled");

    let (status, error) = w.call("POST", "/jobs/job-1/cancel", "", &[], &[]).await;
    assert_eq!(status, 409);
    assert_eq!(error["error"], "JobFinished");
    assert_eq!(error["job_status"], "Cancelled");
    assert!(error["message"].as_str().unwrap().contains("Cancelled"));
    let (status, _) = w.call("POST", "/jobs/job-none/cancel", "", &[], &[]).await;
    assert_eq!(status, 404);

    // The execution's later Decide stops without another event.
    let decision = step_tasks::decide(
        &w.ports,
        json!({"job_id": "job-1", "batch_status": "Complete", "tally": {"restored": 1, "excluded": 0}}),
    )
    .await
    .unwrap();
    assert_eq!(
        serde_json::to_value(decision).unwrap()["next"]["action"],
        "Stop"
    );
    assert_eq!(w.notifier.events().len(), 1);
}

#[tokio::test]
async fn list_jobs_pages_newest_first_and_filters() {
    let w = World::new();
    for (i, tag) in ["team-a", "team-b", "team-a"].iter().enumerate() {
        let body = json!({"bucket": "manifests-1", "key": "m.csv", "tier": "BULK",
            "expiration_days": 1, "client_tag": tag});
        w.post(&body.to_string(), &format!("job-{i}")).await;
    }
    // Same clock for all three: ties fall back to the job id, newest (highest) first.
    let (status, list) = w.call("GET", "/jobs", "", &[("limit", "2")], &[]).await;
    assert_eq!(status, 200, "{list}");
    let ids: Vec<&str> = list["Jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["JobId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["job-2", "job-1"]);
    let token = list["NextToken"].as_str().unwrap().to_owned();
    let (_, rest) = w
        .call(
            "GET",
            "/jobs/",
            "",
            &[("limit", "2"), ("next_token", &token)],
            &[],
        )
        .await;
    assert_eq!(rest["Jobs"][0]["JobId"], "job-0");
    assert_eq!(rest["NextToken"], Value::Null);

    let (_, tagged) = w
        .call(
            "GET",
            "/jobs",
            "",
            &[("client_tag", "team-a"), ("status", "Restoring")],
            &[],
        )
        .await;
    assert_eq!(tagged["Jobs"].as_array().unwrap().len(), 2);

    for query in [
        vec![("status", "Done")],
        vec![("limit", "1000")],
        vec![("next_token", "garbage")],
        vec![("tag", "team-a")],
    ] {
        let (status, error) = w.call("GET", "/jobs", "", &query, &[]).await;
        assert_eq!(status, 400, "{query:?}: {error}");
        assert_eq!(error["error"], "InvalidRequest");
        assert_eq!(error["fields"][0]["field"], query[0].0);
    }
}

#[tokio::test]
async fn unknown_routes_are_404_and_wrong_methods_405() {
    let w = World::new();
    for path in ["/", "/nope", "/jobs/j/cancel/now", "/create-job/x"] {
        let (status, error) = w.call("GET", path, "", &[], &[]).await;
        assert_eq!(status, 404, "{path}");
        assert_eq!(error["error"], "NotFound");
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .contains("GET /jobs/{id}")
        );
    }
    for (method, path, allowed) in [
        ("DELETE", "/jobs/j", "GET"),
        ("POST", "/jobs", "GET"),
        ("GET", "/jobs/j/cancel", "POST"),
        ("PUT", "/create-job", "POST"),
    ] {
        let event = api_gateway_event(method, path, "", &[], &[]);
        let ((status, error), response) = w.send(&event, None, "fresh").await;
        assert_eq!(status, 405, "{method} {path}");
        assert_eq!(error["error"], "MethodNotAllowed");
        assert_eq!(response.headers()["allow"], allowed);
    }
    assert_eq!(w.executions_started(), 0);
}

#[tokio::test]
async fn the_idempotency_key_header_makes_create_idempotent() {
    let w = World::new();
    let key = [("Idempotency-Key", "order-77")];
    let (status, first) = w
        .call("POST", "/create-job", MANIFEST_BODY, &[], &key)
        .await;
    assert_eq!(status, 200, "{first}");
    let id = first["BulkJobId"].as_str().unwrap();
    assert_eq!(uuid::Uuid::parse_str(id).unwrap().get_version_num(), 5);
    let (status, again) = w
        .call("POST", "/create-job", MANIFEST_BODY, &[], &key)
        .await;
    assert_eq!(status, 200);
    assert_eq!(again, first);
    assert_eq!(w.executions_started(), 1);

    let other = MANIFEST_BODY.replace("m.csv", "other.csv");
    w.source.put("manifests-1", "other.csv", "photos-1,b\n");
    let (status, error) = w.call("POST", "/create-job", &other, &[], &key).await;
    assert_eq!(status, 409);
    assert_eq!(error["error"], "IdempotencyConflict");
    assert_eq!(error["job_id"], id);

    let with_token = MANIFEST_BODY.replace("\"tier\"", "\"client_token\": \"order-78\", \"tier\"");
    let (status, error) = w.call("POST", "/create-job", &with_token, &[], &key).await;
    assert_eq!(status, 400);
    assert_eq!(error["error"], "IdempotencyKeyMismatch");
    let (status, by_body) = w.call("POST", "/create-job", &with_token, &[], &[]).await;
    assert_eq!(status, 200);
    assert_ne!(by_body["BulkJobId"], first["BulkJobId"]);
    assert_eq!(w.executions_started(), 2);
}

// ---- Step Functions tasks ----

#[tokio::test]
async fn the_tasks_chain_through_the_shapes_the_state_machine_passes() {
    let w = World::new();
    w.job_with_manifest("job-1", "photos-1,a\r\nphotos-1,b\r\n")
        .await;
    let submit = step_tasks::submit_batch_job(&w.ports, json!({"job_id": "job-1"}))
        .await
        .unwrap();
    let submit = serde_json::to_value(submit).unwrap();
    assert_eq!(submit["batch_job_id"], FakeBatch::batch_id("job-1"));
    w.batch.set(
        &FakeBatch::batch_id("job-1"),
        BatchJobInfo {
            status: BatchJobStatus::Active,
            tasks_total: 2,
            tasks_succeeded: 0,
            tasks_failed: 0,
            failure_reasons: vec![],
            generated_manifest: None,
        },
    );
    let poll = step_tasks::poll_batch_job(
        &w.ports,
        &w.settings,
        json!({"job_id": "job-1", "batch_job_id": submit["batch_job_id"], "report_cursor": null}),
    )
    .await
    .unwrap();
    let poll = serde_json::to_value(poll).unwrap();
    assert_eq!(poll["report_pending"], false);
    restore_events::handle(&w.ports, sqs_event(&[("m1", eventbridge("a"))]))
        .await
        .unwrap();
    let tally = serde_json::to_value(w.tally("job-1").await).unwrap();
    let decision = step_tasks::decide(
        &w.ports,
        json!({"job_id": "job-1", "batch_status": poll["status"], "tally": tally}),
    )
    .await
    .unwrap();
    let decision = serde_json::to_value(decision).unwrap();
    assert_eq!(decision["status"], "Restoring");
    assert_eq!(decision["next"]["action"], "Wait");
    assert!(decision["next"]["seconds"].as_u64().unwrap() > 0);
    assert_eq!(w.notifier.events().len(), 1, "50 % crosses the 10 % step");
    let reconcile = step_tasks::reconcile(
        &w.ports,
        &w.settings,
        json!({"job_id": "job-1", "cursor": null}),
        std::time::Duration::from_secs(60),
    )
    .await
    .unwrap();
    assert!(reconcile.done);
}

#[tokio::test]
async fn record_failure_reads_the_catch_error_and_publishes_failed_once() {
    let w = World::new();
    w.job_with_manifest("job-1", "photos-1,a\r\n").await;
    let input = json!({"job_id": "job-1", "error": {"Error": "ManifestMalformed",
        "Cause": "{\"errorType\":\"ManifestMalformed\",\"errorMessage\":\"line 2: no key\"}"}});
    let status = step_tasks::record_failure(&w.ports, input.clone())
        .await
        .unwrap();
    assert_eq!(
        serde_json::to_value(status).unwrap(),
        json!({"status": "Failed", "wait_seconds": 0})
    );
    step_tasks::record_failure(&w.ports, input).await.unwrap();
    let events = w.notifier.events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].status, "Failed");
    assert_eq!(w.store.job("job-1").unwrap().status, JobStatus::Failed);
}

#[tokio::test]
async fn task_errors_reach_step_functions_under_their_stable_names() {
    let w = World::new();
    let err = step_tasks::submit_batch_job(&w.ports, json!({"job_id": "nope"}))
        .await
        .unwrap_err();
    assert_eq!(err.error_type, "JobNotFound");
    assert_eq!(err.error_message, "job nope does not exist");

    // An input the task cannot read is named, not left to the runtime's type name.
    let err = step_tasks::poll_batch_job(&w.ports, &w.settings, json!({"job_id": "job-1"}))
        .await
        .unwrap_err();
    assert_eq!(err.error_type, "InvalidTaskInput");
    assert!(
        err.error_message.contains("batch_job_id"),
        "{}",
        err.error_message
    );
    let err = step_tasks::tally(&w.ports, json!("job-1"))
        .await
        .unwrap_err();
    assert_eq!(err.error_type, "InvalidTaskInput");

    w.store
        .faults
        .fail_next(Op::JobGet, PortError::Retryable("throttled".into()));
    let err = step_tasks::decide(
        &w.ports,
        json!({"job_id": "job-1", "batch_status": "Active", "tally": {"restored": 0, "excluded": 0}}),
    )
    .await
    .unwrap_err();
    assert_eq!(err.error_type, "Retryable");

    w.source.put("manifests-1", "gone.csv", "photos-1,a\r\n");
    let (status, _) = w
        .post(
            r#"{"bucket": "manifests-1", "key": "gone.csv", "tier": "BULK", "expiration_days": 1}"#,
            "job-2",
        )
        .await;
    assert_eq!(status, 200);
    // Deleted between create-job's check and registration.
    w.source.remove("manifests-1", "gone.csv");
    let err = step_tasks::register_manifest(
        &w.ports,
        &w.settings,
        json!({"job_id": "job-2", "cursor": null}),
    )
    .await
    .unwrap_err();
    assert_eq!(err.error_type, "ManifestUnreadable");
    // As Step Functions receives it from Lambda.
    let wire = serde_json::to_value(&err).unwrap();
    assert_eq!(wire["errorType"], "ManifestUnreadable");
}

#[tokio::test]
async fn estimate_answers_counts_and_prices_and_starts_nothing() {
    let w = World::new();
    w.source.put(
        "manifests-1",
        "est.csv",
        "photos-1,a\r\nphotos-1,b\r\nphotos-1,a\r\n",
    );
    let (status, answer) = w
        .call(
            "POST",
            "/estimate",
            r#"{"bucket": "manifests-1", "key": "est.csv", "tier": "STANDARD", "expiration_days": 3, "storage_class": "DEEP_ARCHIVE"}"#,
            &[],
            &[],
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["objects"], 2);
    assert_eq!(answer["bytes"], Value::Null);
    // Deep Archive, Standard: 9 to 12 hours.
    assert_eq!(answer["completion_window_hours"], json!([9, 12]));
    assert!(answer["tiers"]["STANDARD"]["total_usd"].as_f64().unwrap() > 0.25);
    assert_eq!(w.executions_started(), 0);

    let (status, answer) = w.call("GET", "/estimate", "", &[], &[]).await;
    assert_eq!(status, 405, "{answer}");
}

#[tokio::test]
async fn a_missing_manifest_is_a_400_naming_it_and_starts_nothing() {
    let w = World::new();
    let (status, answer) = w
        .post(
            r#"{"bucket": "manifests-1", "key": "no such.csv", "tier": "BULK", "expiration_days": 1}"#,
            "job-1",
        )
        .await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["error"], "ManifestNotFound");
    assert_eq!(answer["fields"][0]["field"], "key");
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("s3://manifests-1/no such.csv does not exist"),
        "{answer}"
    );
    assert_eq!(w.executions_started(), 0);
}

// ---- AWS's own events (tests/fixtures/aws/lambda-events; sources in its README) ----

fn fixture(relative: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/aws/lambda-events")
        .join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Real API Gateway REST proxy events reach the router: paths it does not serve get a
/// JSON 404 naming the routes; the captured GET, pointed at a job, answers the job.
#[tokio::test]
async fn api_gateway_events_captured_from_aws_are_routed() {
    let w = World::new();
    for file in [
        "apigw-rest/get-proxy-query-x-api-key.captured.json",
        "apigw-rest/post-no-auth.captured.powertools-ts.json",
        "apigw-rest/post-console-test-api-key.captured.powertools-ts.json",
        "apigw-rest/post-proxy-body.aws-lambda-go.json",
    ] {
        let ((status, body), _) = w.send(&fixture(file), None, "fresh-id").await;
        assert_eq!(status, 404, "{file}: {body}");
        assert_eq!(body["error"], "NotFound", "{file}");
        assert!(
            body["message"].as_str().unwrap().contains("GET /jobs/{id}"),
            "{file}"
        );
    }
    w.job_with_manifest("job-1", "photos-1,a\r\n").await;
    let mut get: Value = serde_json::from_str(&fixture(
        "apigw-rest/get-proxy-query-x-api-key.captured.json",
    ))
    .unwrap();
    get["path"] = json!("/jobs/job-1");
    get["pathParameters"] = json!({"proxy": "jobs/job-1"});
    let ((status, body), _) = w.send(&get.to_string(), None, "fresh-id").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["JobId"], "job-1");
}

/// Real SQS events (an S3 restore record, an EventBridge restore event and an
/// SNS-wrapped one as bodies) go through the restore-event function.
#[tokio::test]
async fn sqs_events_in_aws_shapes_are_recorded() {
    let w = World::new();
    let event: Value = serde_json::from_str(&fixture(
        "sqs/sqs-body-s3-object-restore-completed.adapted.json",
    ))
    .unwrap();
    w.job_with_manifest(
        "job-1",
        "manifest.bdrc.org,ao1060/W1FPL2251.bag.zip,vwfO4VqvGTlWeuSAtXDOhPzFhl.6YrSG\r\n",
    )
    .await;
    let response = restore_events::handle(&w.ports, event).await.unwrap();
    assert!(response.batch_item_failures.is_empty());
    let tally = gbr_core::ports::JobStore::tally(w.store.as_ref(), "job-1").await;
    assert_eq!(tally.unwrap().restored, 1);

    // Restores of objects no job waits for: recorded as unmatched, not failures.
    for file in [
        "sqs/sqs-body-eventbridge-object-restore-completed.adapted.json",
        "sqs/sqs-body-sns-s3-object-restore-completed.adapted.json",
        "sqs/sqs-body-s3-object-created.captured.json",
        "sqs/sqs-body-raw-sns-s3-object-created.captured.json",
        "sqs/sqs-body-sns-s3-object-created.captured.json",
        "sqs/sqs-body-eventbridge-s3-object-created.captured.json",
    ] {
        let event: Value = serde_json::from_str(&fixture(file)).unwrap();
        let response = restore_events::handle(&w.ports, event).await.unwrap();
        let failed: Vec<_> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.clone())
            .collect();
        // The documentation's EventBridge example names bucket DOC-EXAMPLE-BUCKET1,
        // which S3 no longer allows: that message is reported malformed, alone.
        if file.contains("eventbridge-object-restore") {
            assert_eq!(failed.len(), 1, "{file}");
        } else {
            assert!(failed.is_empty(), "{file}: {failed:?}");
        }
    }

    // Powertools' sample SQS event has a binaryValue that is not base64, which SQS never
    // sends: the event as a whole is unreadable, and named so.
    let sample: Value =
        serde_json::from_str(&fixture("sqs/sqs-event.two-records.powertools-python.json")).unwrap();
    let err = restore_events::handle(&w.ports, sample).await.unwrap_err();
    assert_eq!(err.error_type, "RestoreEventMalformed");
}

// ---- limits and metrics ----

#[tokio::test]
async fn a_body_over_the_limit_is_refused_with_413_naming_the_limit() {
    let w = World::new();
    let limit = http_api::MAX_BODY_BYTES;
    let create =
        json!({"bucket": "manifests-1", "key": "m.csv", "tier": "BULK", "expiration_days": 1})
            .to_string();
    // A valid request padded with spaces: the size alone decides.
    let padded = |size: usize| format!("{create}{}", " ".repeat(size - create.len()));
    let (status, answer) = w.post(&padded(limit + 1), "job-big").await;
    assert_eq!(status, 413, "{answer}");
    assert_eq!(answer["error"], "PayloadTooLarge");
    let message = answer["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("{} bytes", limit + 1)) && message.contains(&limit.to_string()),
        "{message}"
    );
    assert_eq!(w.executions_started(), 0);
    assert!(w.store.job("job-big").is_none());
    // Every route, not only create.
    let (status, _) = w
        .call("GET", "/jobs/job-big", &padded(limit + 1), &[], &[])
        .await;
    assert_eq!(status, 413);

    let (status, answer) = w.post(&padded(limit), "job-at-limit").await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(w.executions_started(), 1);
}

/// The one metrics line of an invocation, as CloudWatch Logs reads it.
async fn metrics_of(w: &World, batch: Value) -> Value {
    let mut out = Vec::new();
    restore_events::handle_with_metrics(&w.ports, batch, &mut out)
        .await
        .unwrap();
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "{text}");
    assert!(text.ends_with('\n'), "{text}");
    serde_json::from_str(lines[0]).unwrap()
}

#[tokio::test]
async fn each_restore_event_batch_writes_one_emf_line_of_its_counts() {
    let w = World::new();
    w.job_with_manifest("job-1", "photos-1,a\r\n").await;
    // The same object twice in one batch is one restore and one duplicate.
    let batch = sqs_event(&[
        ("restored", eventbridge("a")),
        ("duplicate", eventbridge("a")),
        ("unmatched", eventbridge("unrelated")),
        ("malformed", "restore done".to_owned()),
    ]);
    let document = metrics_of(&w, batch).await;
    assert_eq!(
        document,
        json!({
            "_aws": {
                "Timestamp": World::START.as_millisecond(),
                "CloudWatchMetrics": [{
                    "Namespace": "GlacierBulkRestore",
                    "Dimensions": [["Function"]],
                    "Metrics": [
                        {"Name": "Restored", "Unit": "Count"},
                        {"Name": "Duplicates", "Unit": "Count"},
                        {"Name": "Unmatched", "Unit": "Count"},
                        {"Name": "Malformed", "Unit": "Count"},
                    ],
                }],
            },
            "Function": "restore_event",
            "Restored": 1,
            "Duplicates": 1,
            "Unmatched": 1,
            "Malformed": 1,
        })
    );

    // A message the store failed to record is sent back, but it is not malformed.
    w.job_with_manifest("job-2", "photos-1,c\r\n").await;
    w.store
        .faults
        .fail_next(Op::ObjectsMark, PortError::Retryable("throttled".into()));
    let document = metrics_of(&w, sqs_event(&[("m1", eventbridge("c"))])).await;
    assert_eq!(
        (document["Restored"].clone(), document["Malformed"].clone()),
        (json!(0), json!(0))
    );
}
