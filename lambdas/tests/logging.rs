//! The JSON log lines of an invocation. In a test binary of its own: tracing caches
//! per call site whether anyone listens, and tests of other binaries running beside a
//! scoped subscriber would spoil that cache.

use std::io::Write;
use std::sync::{Arc, Mutex};

use gbr_core::fakes::World;
use gbr_lambdas::{http_api, logging, step_tasks};
use serde_json::{Value, json};

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn every_log_line_of_an_invocation_is_json_with_the_job_id() {
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let _guard = tracing::subscriber::set_default(logging::subscriber(move || writer.clone()));

    let w = World::new();
    w.source.put("manifests-1", "m.csv", "photos-1,a\r\n");
    let body = r#"{"bucket": "manifests-1", "key": "m.csv", "tier": "BULK", "expiration_days": 1}"#;
    let event = json!({"httpMethod": "POST", "path": "/create-job", "headers": {}, "multiValueHeaders": {},
        "requestContext": {"httpMethod": "POST", "path": "/prod/create-job", "stage": "prod"}, "body": body, "isBase64Encoded": false});
    let request = lambda_http::request::from_str(&event.to_string()).unwrap();
    http_api::answer(&w.ports, &w.settings, request, "job-log").await;
    step_tasks::register_manifest(
        &w.ports,
        &w.settings,
        json!({"job_id": "job-log", "cursor": null}),
    )
    .await
    .unwrap();
    step_tasks::submit_batch_job(&w.ports, json!({"job_id": "job-log"}))
        .await
        .unwrap();
    // Fields the task does not read, as in the state machine's whole state: read past.
    step_tasks::tally(
        &w.ports,
        json!({"job_id": "job-log", "cursor": 5, "job": []}),
    )
    .await
    .unwrap();
    // An input missing fields is refused, and logged under its job id all the same.
    step_tasks::decide(&w.ports, json!({"job_id": "job-log"}))
        .await
        .unwrap_err();

    let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines.len() >= 8, "{text}");
    for line in &lines {
        assert_eq!(line["span"]["job_id"], "job-log", "{line}");
        assert!(
            line["level"].is_string() && line["message"].is_string(),
            "{line}"
        );
    }
    assert!(
        lines.iter().any(|l| l["error_type"] == "InvalidTaskInput"),
        "{text}"
    );
}
