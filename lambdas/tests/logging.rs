//! The JSON log lines of an invocation. In a test binary of its own: tracing caches
//! per call site whether anyone listens, and tests of other binaries running beside a
//! scoped subscriber would spoil that cache.

use std::io::Write;
use std::sync::{Arc, Mutex};

use gbr_core::fakes::*;
use gbr_core::ports::Ports;
use gbr_core::settings::Settings;
use gbr_lambdas::{http_api, logging, step_tasks};
use jiff::Timestamp;
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

    let store = Arc::new(MemoryStore::new());
    let source = Arc::new(MemorySource::new());
    let ports = Ports {
        jobs: store.clone(),
        objects: store,
        source: source.clone(),
        inspector: Arc::new(FakeInspector::default()),
        batch: Arc::new(FakeBatch::default()),
        notifier: Arc::new(RecordingNotifier::default()),
        executions: Arc::new(FakeExecutions::default()),
        clock: Arc::new(ManualClock::at(
            Timestamp::from_second(1_800_000_000).unwrap(),
        )),
    };
    let settings = Settings::default();
    source.put("manifests-1", "m.csv", "photos-1,a\r\n");
    let body = r#"{"bucket": "manifests-1", "key": "m.csv", "tier": "BULK", "expiration_days": 1}"#;
    let event = json!({"httpMethod": "POST", "path": "/create-job", "headers": {}, "multiValueHeaders": {},
        "requestContext": {"httpMethod": "POST", "path": "/prod/create-job", "stage": "prod"}, "body": body, "isBase64Encoded": false});
    let request = lambda_http::request::from_str(&event.to_string()).unwrap();
    http_api::answer(&ports, &settings, None, request, "job-log").await;
    step_tasks::register_manifest(
        &ports,
        &settings,
        json!({"job_id": "job-log", "cursor": null}),
    )
    .await
    .unwrap();
    step_tasks::submit_batch_job(&ports, json!({"job_id": "job-log"}))
        .await
        .unwrap();
    // A malformed input still logs under its job id.
    step_tasks::tally(&ports, json!({"job_id": "job-log", "cursor": 5, "job": []}))
        .await
        .ok();
    step_tasks::decide(&ports, json!({"job_id": "job-log"}))
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
