//! Restore-completed notices, in every envelope S3 sends them, decoded to [`ObjectId`]s.
//!
//! An SQS message body on the restore-events queue is one of:
//! - an S3 event notification (`{"Records": [...]}`), keys form-URL-encoded (`+` is a
//!   space), one or more records, of which only `ObjectRestore:Completed` count;
//! - an EventBridge event with detail-type `Object Restore Completed`, keys as they are;
//! - either of those wrapped in an SNS notification (`{"Type": "Notification",
//!   "Message": "..."}`), when S3 publishes to a topic that feeds the queue;
//! - S3's `s3:TestEvent`, sent when a notification is configured, which carries no object.

use serde::Deserialize;
use serde_json::Value;
use thiserror::Error;

use crate::ErrorName;
use crate::object_id::{ObjectId, form_decode_key};

pub const S3_RESTORE_COMPLETED: &str = "ObjectRestore:Completed";
pub const EVENTBRIDGE_RESTORE_COMPLETED: &str = "Object Restore Completed";

/// What one message said.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DecodedMessage {
    /// Objects whose restore completed, in the order of the message's records.
    pub restored: Vec<ObjectId>,
    /// Records that are not restore completions, with what they were.
    pub ignored: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RestoreEventError {
    #[error("the message is not JSON: {0}")]
    NotJson(String),
    #[error("the message is neither an S3 notification nor an EventBridge event: {0}")]
    UnknownShape(String),
    #[error("record {index}: {message}")]
    BadRecord { index: usize, message: String },
}

impl ErrorName for RestoreEventError {
    fn error_name(&self) -> &'static str {
        "RestoreEventMalformed"
    }
}

#[derive(Deserialize)]
struct S3Notification {
    #[serde(rename = "Records")]
    records: Vec<Value>,
}

#[derive(Deserialize)]
struct S3Record {
    #[serde(rename = "eventName")]
    event_name: String,
    s3: S3Entity,
}

#[derive(Deserialize)]
struct S3Entity {
    bucket: NamedBucket,
    object: S3Object,
}

#[derive(Deserialize)]
struct NamedBucket {
    name: String,
}

#[derive(Deserialize)]
struct S3Object {
    key: String,
    #[serde(rename = "versionId")]
    version_id: Option<String>,
}

#[derive(Deserialize)]
struct EventBridgeEvent {
    #[serde(rename = "detail-type")]
    detail_type: String,
    detail: Value,
}

#[derive(Deserialize)]
struct EventBridgeDetail {
    bucket: NamedBucket,
    object: EventBridgeObject,
}

#[derive(Deserialize)]
struct EventBridgeObject {
    key: String,
    #[serde(rename = "version-id")]
    version_id: Option<String>,
}

/// Decodes one SQS message body.
pub fn decode_message(body: &str) -> Result<DecodedMessage, RestoreEventError> {
    let value: Value =
        serde_json::from_str(body).map_err(|e| RestoreEventError::NotJson(e.to_string()))?;
    decode_value(value, 0)
}

fn decode_value(value: Value, depth: u8) -> Result<DecodedMessage, RestoreEventError> {
    let shape = || RestoreEventError::UnknownShape(truncate(&value.to_string()));
    if value.get("Records").is_some() {
        let n: S3Notification = serde_json::from_value(value.clone()).map_err(|_| shape())?;
        return decode_records(n.records);
    }
    if value.get("detail-type").is_some() {
        let event: EventBridgeEvent = serde_json::from_value(value.clone()).map_err(|_| shape())?;
        return decode_eventbridge(event);
    }
    if value.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
        return Ok(DecodedMessage {
            restored: Vec::new(),
            ignored: vec!["s3:TestEvent".into()],
        });
    }
    // An SNS envelope holds the real message as a string; unwrap it once.
    if depth == 0 && value.get("Type").and_then(Value::as_str) == Some("Notification") {
        if let Some(inner) = value.get("Message").and_then(Value::as_str) {
            let inner: Value = serde_json::from_str(inner)
                .map_err(|e| RestoreEventError::NotJson(e.to_string()))?;
            return decode_value(inner, 1);
        }
    }
    Err(shape())
}

fn decode_records(records: Vec<Value>) -> Result<DecodedMessage, RestoreEventError> {
    let mut out = DecodedMessage::default();
    for (index, record) in records.into_iter().enumerate() {
        let bad = |message: String| RestoreEventError::BadRecord { index, message };
        let record: S3Record = serde_json::from_value(record)
            .map_err(|e| bad(format!("not an S3 event record: {e}")))?;
        if record.event_name != S3_RESTORE_COMPLETED {
            out.ignored.push(record.event_name);
            continue;
        }
        let key = form_decode_key(&record.s3.object.key).map_err(|e| bad(e.to_string()))?;
        let id = ObjectId::new(record.s3.bucket.name, key, record.s3.object.version_id)
            .map_err(|e| bad(e.to_string()))?;
        out.restored.push(id);
    }
    Ok(out)
}

fn decode_eventbridge(event: EventBridgeEvent) -> Result<DecodedMessage, RestoreEventError> {
    if event.detail_type != EVENTBRIDGE_RESTORE_COMPLETED {
        return Ok(DecodedMessage {
            restored: Vec::new(),
            ignored: vec![event.detail_type],
        });
    }
    let bad = |message: String| RestoreEventError::BadRecord { index: 0, message };
    let detail: EventBridgeDetail = serde_json::from_value(event.detail)
        .map_err(|e| bad(format!("not an Object Restore Completed detail: {e}")))?;
    let id = ObjectId::new(
        detail.bucket.name,
        detail.object.key,
        detail.object.version_id,
    )
    .map_err(|e| bad(e.to_string()))?;
    Ok(DecodedMessage {
        restored: vec![id],
        ignored: Vec::new(),
    })
}

fn truncate(s: &str) -> String {
    const MAX: usize = 200;
    match s.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

/// Builders for the messages S3 sends, as S3 encodes them; the local simulator sends
/// these, and tests use them to check that every route yields the same [`ObjectId`].
pub mod encode {
    use serde_json::{Value, json};

    use crate::object_id::{ObjectId, form_encode_key};

    /// One S3 event notification record for a completed restore.
    pub fn s3_record(id: &ObjectId, event_time: &str) -> Value {
        let mut object =
            json!({ "key": form_encode_key(id.key()), "size": 0, "eTag": "", "sequencer": "0" });
        if let Some(v) = id.version_id() {
            object["versionId"] = json!(v);
        }
        json!({
            "eventVersion": "2.3",
            "eventSource": "aws:s3",
            "eventTime": event_time,
            "eventName": super::S3_RESTORE_COMPLETED,
            "s3": {
                "s3SchemaVersion": "1.0",
                "bucket": { "name": id.bucket(), "arn": format!("arn:aws:s3:::{}", id.bucket()) },
                "object": object,
            },
            "glacierEventData": { "restoreEventData": { "lifecycleRestoreStorageClass": "STANDARD" } }
        })
    }

    /// An S3 event notification message holding `records`.
    pub fn s3_notification(records: Vec<Value>) -> Value {
        json!({ "Records": records })
    }

    /// An EventBridge "Object Restore Completed" event.
    pub fn eventbridge(id: &ObjectId, time: &str) -> Value {
        let mut object = json!({ "key": id.key(), "size": 0, "etag": "" });
        if let Some(v) = id.version_id() {
            object["version-id"] = json!(v);
        }
        json!({
            "version": "0",
            "detail-type": super::EVENTBRIDGE_RESTORE_COMPLETED,
            "source": "aws.s3",
            "time": time,
            "detail": {
                "version": "0",
                "bucket": { "name": id.bucket() },
                "object": object,
                "source-storage-class": "GLACIER",
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::ManifestReader;
    use crate::object_id::percent_encode_key;
    use proptest::prelude::*;
    use serde_json::json;

    const TIME: &str = "2026-11-25T00:00:00.000Z";

    fn id(key: &str, version: Option<&str>) -> ObjectId {
        ObjectId::new("photos-1", key, version.map(str::to_owned)).unwrap()
    }

    #[test]
    fn reads_every_record_of_a_message_and_only_completions() {
        let mut post = encode::s3_record(&id("a", None), TIME);
        post["eventName"] = json!("ObjectRestore:Post");
        let msg = encode::s3_notification(vec![
            encode::s3_record(&id("red flower.jpg", None), TIME),
            post,
            encode::s3_record(&id("c++/a+b.txt", Some("v1")), TIME),
        ]);
        let decoded = decode_message(&msg.to_string()).unwrap();
        assert_eq!(
            decoded.restored,
            [id("red flower.jpg", None), id("c++/a+b.txt", Some("v1"))]
        );
        assert_eq!(decoded.ignored, ["ObjectRestore:Post"]);
    }

    #[test]
    fn s3_keys_are_form_decoded_as_s3_writes_them() {
        let mut record = encode::s3_record(&id("x", None), TIME);
        record["s3"]["object"]["key"] = json!("this+im+%2B+age+blah.txt");
        record["s3"]["object"]["versionId"] = Value::Null;
        let decoded = decode_message(&encode::s3_notification(vec![record]).to_string()).unwrap();
        assert_eq!(decoded.restored, [id("this im + age blah.txt", None)]);
    }

    #[test]
    fn eventbridge_keys_are_taken_as_they_are() {
        let decoded =
            decode_message(&encode::eventbridge(&id("a+b %41", Some("v2")), TIME).to_string())
                .unwrap();
        assert_eq!(decoded.restored, [id("a+b %41", Some("v2"))]);
        let mut other = encode::eventbridge(&id("k", None), TIME);
        other["detail-type"] = json!("Object Created");
        assert_eq!(
            decode_message(&other.to_string()).unwrap().ignored,
            ["Object Created"]
        );
    }

    #[test]
    fn unwraps_sns_and_ignores_test_events() {
        let inner = encode::s3_notification(vec![encode::s3_record(&id("k", None), TIME)]);
        let sns = json!({"Type": "Notification", "Message": inner.to_string()});
        assert_eq!(
            decode_message(&sns.to_string()).unwrap().restored,
            [id("k", None)]
        );
        let test = json!({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "photos-1"});
        assert_eq!(
            decode_message(&test.to_string()).unwrap().ignored,
            ["s3:TestEvent"]
        );
    }

    #[test]
    fn malformed_messages_are_errors_not_skips() {
        assert!(matches!(
            decode_message("nope"),
            Err(RestoreEventError::NotJson(_))
        ));
        assert!(matches!(
            decode_message("{\"a\": 1}"),
            Err(RestoreEventError::UnknownShape(_))
        ));
        let mut record = encode::s3_record(&id("k", None), TIME);
        record["s3"]["object"]["key"] = json!("%FF");
        let err = decode_message(&encode::s3_notification(vec![record]).to_string()).unwrap_err();
        assert!(
            matches!(err, RestoreEventError::BadRecord { index: 0, .. }),
            "{err}"
        );
        assert_eq!(err.error_name(), "RestoreEventMalformed");
    }

    proptest! {
        /// A manifest row, an S3 notification and an EventBridge event for the same
        /// object all decode to the same id.
        #[test]
        fn every_route_yields_the_same_id(key in "\\PC{1,100}", version in proptest::option::of("[A-Za-z0-9._]{1,32}")) {
            let original = ObjectId::new("photos-1", key, version).unwrap();
            let row = format!(
                "photos-1,\"{}\"{}\n",
                percent_encode_key(original.key()),
                original.version_id().map(|v| format!(",{v}")).unwrap_or_default()
            );
            let from_manifest = ManifestReader::new(row.as_bytes()).next().unwrap().unwrap().object;
            let from_s3 = decode_message(&encode::s3_notification(vec![encode::s3_record(&original, TIME)]).to_string())
                .unwrap().restored;
            let from_eventbridge = decode_message(&encode::eventbridge(&original, TIME).to_string()).unwrap().restored;
            prop_assert_eq!(&from_manifest, &original);
            prop_assert_eq!(from_s3, vec![original.clone()]);
            prop_assert_eq!(from_eventbridge, vec![original]);
        }

        #[test]
        fn never_panics_on_any_bytes(body in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = decode_message(&String::from_utf8_lossy(&body));
        }

        #[test]
        fn never_panics_on_json_shaped_input(key in "\\PC{0,30}", name in "\\PC{0,20}") {
            let msg = json!({"Records": [{"eventName": S3_RESTORE_COMPLETED, "s3": {"bucket": {"name": name}, "object": {"key": key}}}]});
            let _ = decode_message(&msg.to_string());
        }
    }
}
