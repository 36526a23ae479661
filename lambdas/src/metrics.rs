//! Metrics as CloudWatch embedded metric format (EMF) documents: one JSON object on a
//! line of its own, which CloudWatch Logs turns into metrics (no `PutMetricData` call,
//! no IAM permission). The document's shape follows the CloudWatch User Guide,
//! "Specification: Embedded metric format".
//!
//! A document must be the whole log line, so it is written with serde_json straight to
//! the writer, never through `tracing` (whose JSON lines would hold it as a field).

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{Map, Value, json};

/// The CloudWatch namespace of every metric of the stack.
pub const NAMESPACE: &str = "GlacierBulkRestore";
/// The one dimension: the function that counted.
pub const DIMENSION: &str = "Function";

static TO_STDOUT: AtomicBool = AtomicBool::new(false);

/// Sends this process's documents to stdout, from which Lambda hands each line to
/// CloudWatch Logs. Only the Lambda binaries call it (through `logging::init`): the
/// local stack runs the same handlers, and its stdout carries its events.
pub fn to_stdout() {
    TO_STDOUT.store(true, Ordering::Relaxed);
}

/// Where this process's documents go: stdout in Lambda, nowhere otherwise.
pub fn process_writer() -> Box<dyn Write + Send> {
    if TO_STDOUT.load(Ordering::Relaxed) {
        Box::new(io::stdout())
    } else {
        Box::new(io::sink())
    }
}

/// The document of `counts` (metric name, value; unit Count) for `function` at
/// `timestamp_ms` (milliseconds since the epoch).
pub fn counts_document(function: &str, timestamp_ms: i64, counts: &[(&str, u64)]) -> Value {
    let definitions: Vec<Value> = counts
        .iter()
        .map(|(name, _)| json!({"Name": name, "Unit": "Count"}))
        .collect();
    let mut root = Map::new();
    root.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [[DIMENSION]],
                "Metrics": definitions,
            }],
        }),
    );
    root.insert(DIMENSION.into(), json!(function));
    for (name, value) in counts {
        root.insert((*name).into(), json!(value));
    }
    Value::Object(root)
}

/// Writes `document` as one line, in one write so that no other line lands inside it.
pub fn write_line(mut writer: impl Write, document: &Value) -> io::Result<()> {
    let mut line = document.to_string();
    line.push('\n');
    writer.write_all(line.as_bytes())?;
    writer.flush()
}
