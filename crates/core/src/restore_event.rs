//! Restore-completed notices, in every envelope S3 sends them, decoded to [`ObjectId`]s.
//!
//! An SQS message body on the restore-events queue is one of:
//! - an S3 event notification (`{"Records": [...]}`), keys form-URL-encoded (`+` is a
//!   space: "red flower.jpg" becomes "red+flower.jpg", S3 User Guide, "Event message
//!   structure"), one or more records, of which only `ObjectRestore:Completed` count;
//! - an EventBridge event with detail-type `Object Restore Completed`. AWS documents no
//!   encoding of its `detail.object.key`; widely used readers (Powertools'
//!   `S3EventBridgeNotificationObject`, OpenSearch Data Prepper) form-decode it. So its
//!   key is decoded first, and the key as it came is the fallback when they differ;
//! - either of those wrapped in an SNS notification (`{"Type": "Notification",
//!   "Message": "..."}`), when S3 publishes to a topic that feeds the queue;
//! - S3's `s3:TestEvent`, sent when a notification is configured, which carries no object.

use serde::Deserialize;
use serde_json::Value;
use thiserror::Error;

use crate::object_id::{ObjectId, form_decode_key};

pub const S3_RESTORE_COMPLETED: &str = "ObjectRestore:Completed";
pub const EVENTBRIDGE_RESTORE_COMPLETED: &str = "Object Restore Completed";

/// One object a message says was restored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    pub object: ObjectId,
    /// The object the key names taken as it came, when the encoding is not documented
    /// (EventBridge) and decoding changed it: looked for only if `object` is not.
    pub as_sent: Option<ObjectId>,
}

impl Restored {
    fn exact(object: ObjectId) -> Self {
        Self {
            object,
            as_sent: None,
        }
    }
}

/// What one message said.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DecodedMessage {
    /// Objects whose restore completed, in the order of the message's records.
    pub restored: Vec<Restored>,
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
        out.restored.push(Restored::exact(id));
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
    let object = |key: String| {
        ObjectId::new(
            detail.bucket.name.clone(),
            key,
            detail.object.version_id.clone(),
        )
        .map_err(|e| bad(e.to_string()))
    };
    let sent = detail.object.key;
    let restored = match form_decode_key(&sent) {
        Ok(decoded) if decoded != sent => Restored {
            object: object(decoded)?,
            as_sent: object(sent).ok(),
        },
        // Not encoded (nothing to decode, or a `%` that is not an escape).
        _ => Restored::exact(object(sent)?),
    };
    Ok(DecodedMessage {
        restored: vec![restored],
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

/// Builders for the messages S3 sends, in the shapes of the real examples in
/// `tests/fixtures/aws/` (a captured `ObjectRestore:Completed` record, the S3 User
/// Guide's `Object Restore Completed` event); the local simulator sends these, and
/// tests use them to check that every route yields the same [`ObjectId`]. Not part of
/// what a deployment runs: behind the `fakes` feature, as the other test doubles are.
#[cfg(any(test, feature = "fakes"))]
pub mod encode {
    use serde_json::{Value, json};

    use crate::object_id::{ObjectId, form_encode_key};

    /// How an EventBridge event carries its key: AWS documents neither, so both are
    /// sent in tests.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
    pub enum EventBridgeKeys {
        /// Form-URL-encoded, as S3 event notifications carry keys.
        #[default]
        Encoded,
        /// As the key is.
        Raw,
    }

    /// The facts of one completed restore an event tells.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct RestoreFacts<'a> {
        pub object: &'a ObjectId,
        pub size: u64,
        /// RFC 3339 with milliseconds, e.g. `2024-02-24T08:47:18.267Z`.
        pub time: &'a str,
        /// When the restored copy expires (midnight UTC, as S3 sets it).
        pub expiry: &'a str,
        /// GLACIER or DEEP_ARCHIVE.
        pub storage_class: &'a str,
        pub region: &'a str,
        pub account: &'a str,
    }

    /// One S3 event notification record for a completed restore.
    pub fn s3_record(f: &RestoreFacts<'_>) -> Value {
        let id = f.object;
        let mut object = json!({
            "key": form_encode_key(id.key()),
            "size": f.size,
            "eTag": "405202973fc17c6f4b26cb56022c6201",
        });
        if let Some(v) = id.version_id() {
            object["versionId"] = json!(v);
        }
        object["sequencer"] = json!("0065C3D18445E403D5");
        json!({
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "awsRegion": f.region,
            "eventTime": f.time,
            "eventName": super::S3_RESTORE_COMPLETED,
            "userIdentity": { "principalId": format!("AmazonCustomer:{}", f.account) },
            "requestParameters": { "sourceIPAddress": "s3.amazonaws.com" },
            "responseElements": {
                "x-amz-request-id": "6E5A5E04B1CFFAC5",
                "x-amz-id-2": "Tt/6gfwuhCu9X06urpzaVuNBhSv4EW47BlmS2WrViVZ+MNDLo/ckEgLqLGi02IV6L3vshvP++ps1iPp9Zl3tPQ==",
            },
            "s3": {
                "s3SchemaVersion": "1.0",
                "configurationId": "restore-events",
                "bucket": {
                    "name": id.bucket(),
                    "ownerIdentity": { "principalId": f.account },
                    "arn": format!("arn:aws:s3:::{}", id.bucket()),
                },
                "object": object,
            },
            "glacierEventData": {
                "restoreEventData": {
                    "lifecycleRestorationExpiryTime": f.expiry,
                    "lifecycleRestoreStorageClass": f.storage_class,
                }
            }
        })
    }

    /// An S3 event notification message holding `records`.
    pub fn s3_notification(records: Vec<Value>) -> Value {
        json!({ "Records": records })
    }

    /// An EventBridge "Object Restore Completed" event.
    pub fn eventbridge(f: &RestoreFacts<'_>, keys: EventBridgeKeys) -> Value {
        let id = f.object;
        let key = match keys {
            EventBridgeKeys::Encoded => form_encode_key(id.key()),
            EventBridgeKeys::Raw => id.key().to_owned(),
        };
        let mut object =
            json!({ "key": key, "size": f.size, "etag": "b1946ac92492d2347c6235b4d2611184" });
        if let Some(v) = id.version_id() {
            object["version-id"] = json!(v);
        }
        json!({
            "version": "0",
            "id": "6924de0d-13e2-6bbf-c0c1-b903b753565e",
            "detail-type": super::EVENTBRIDGE_RESTORE_COMPLETED,
            "source": "aws.s3",
            "account": f.account,
            "time": f.time,
            "region": f.region,
            "resources": [format!("arn:aws:s3:::{}", id.bucket())],
            "detail": {
                "version": "0",
                "bucket": { "name": id.bucket() },
                "object": object,
                "request-id": "189F19CB7FB1B6A4",
                "requester": "s3.amazonaws.com",
                "restore-expiry-time": f.expiry,
                "source-storage-class": f.storage_class,
            }
        })
    }

    /// Facts for tests: a Glacier object restored at a fixed time.
    pub fn facts_for(object: &ObjectId) -> RestoreFacts<'_> {
        RestoreFacts {
            object,
            size: 5,
            time: "2026-11-25T00:00:00.000Z",
            expiry: "2026-11-28T00:00:00.000Z",
            storage_class: "GLACIER",
            region: "us-east-1",
            account: "123456789012",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::encode::{EventBridgeKeys, facts_for};
    use super::*;
    use crate::manifest::ManifestReader;
    use crate::object_id::percent_encode_key;
    use proptest::prelude::*;
    use serde_json::json;

    fn id(key: &str, version: Option<&str>) -> ObjectId {
        ObjectId::new("photos-1", key, version.map(str::to_owned)).unwrap()
    }

    fn record(object: &ObjectId) -> Value {
        encode::s3_record(&facts_for(object))
    }

    fn objects(decoded: &DecodedMessage) -> Vec<ObjectId> {
        decoded.restored.iter().map(|r| r.object.clone()).collect()
    }

    #[test]
    fn reads_every_record_of_a_message_and_only_completions() {
        let mut post = record(&id("a", None));
        post["eventName"] = json!("ObjectRestore:Post");
        let msg = encode::s3_notification(vec![
            record(&id("red flower.jpg", None)),
            post,
            record(&id("c++/a+b.txt", Some("v1"))),
        ]);
        let decoded = decode_message(&msg.to_string()).unwrap();
        assert_eq!(
            objects(&decoded),
            [id("red flower.jpg", None), id("c++/a+b.txt", Some("v1"))]
        );
        assert!(decoded.restored.iter().all(|r| r.as_sent.is_none()));
        assert_eq!(decoded.ignored, ["ObjectRestore:Post"]);
    }

    #[test]
    fn s3_keys_are_form_decoded_as_s3_writes_them() {
        let mut record = record(&id("x", None));
        record["s3"]["object"]["key"] = json!("this+im+%2B+age+blah.txt");
        record["s3"]["object"]["versionId"] = Value::Null;
        let decoded = decode_message(&encode::s3_notification(vec![record]).to_string()).unwrap();
        assert_eq!(objects(&decoded), [id("this im + age blah.txt", None)]);
    }

    #[test]
    fn eventbridge_keys_are_decoded_first_and_kept_as_sent_when_they_differ() {
        let awkward = id("a+b %41 café.txt", Some("v2"));
        let encoded = encode::eventbridge(&facts_for(&awkward), EventBridgeKeys::Encoded);
        let decoded = decode_message(&encoded.to_string()).unwrap();
        assert_eq!(decoded.restored[0].object, awkward);
        let raw = encode::eventbridge(&facts_for(&awkward), EventBridgeKeys::Raw);
        let decoded = decode_message(&raw.to_string()).unwrap();
        // Raw, `+` reads as a space and `%41` as `A`: the key as sent is the fallback.
        assert_eq!(decoded.restored[0].object, id("a b A café.txt", Some("v2")));
        assert_eq!(decoded.restored[0].as_sent, Some(awkward));
        // A key decoding does not change has no fallback; one that is not an encoding
        // (a lone `%`) is taken as it is.
        for (key, as_sent) in [("plain/key.txt", None), ("100% done", None)] {
            let raw = encode::eventbridge(&facts_for(&id(key, None)), EventBridgeKeys::Raw);
            let decoded = decode_message(&raw.to_string()).unwrap();
            assert_eq!(decoded.restored[0].object, id(key, None));
            assert_eq!(decoded.restored[0].as_sent, as_sent);
        }
        let mut other = encode::eventbridge(&facts_for(&id("k", None)), EventBridgeKeys::Raw);
        other["detail-type"] = json!("Object Restore Initiated");
        assert_eq!(
            decode_message(&other.to_string()).unwrap().ignored,
            ["Object Restore Initiated"]
        );
    }

    #[test]
    fn unwraps_sns_and_ignores_test_events() {
        let inner = encode::s3_notification(vec![record(&id("k", None))]);
        let sns = json!({"Type": "Notification", "Message": inner.to_string()});
        assert_eq!(
            objects(&decode_message(&sns.to_string()).unwrap()),
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
        let mut record = record(&id("k", None));
        record["s3"]["object"]["key"] = json!("%FF");
        let err = decode_message(&encode::s3_notification(vec![record]).to_string()).unwrap_err();
        assert!(
            matches!(err, RestoreEventError::BadRecord { index: 0, .. }),
            "{err}"
        );
    }

    proptest! {
        /// A manifest row, an S3 notification and an EventBridge event (in either key
        /// form) for the same object all find the same id.
        #[test]
        fn every_route_yields_the_same_id(key in "\\PC{1,100}", version in proptest::option::of("[A-Za-z0-9._]{1,32}")) {
            let original = ObjectId::new("photos-1", key, version).unwrap();
            let row = format!(
                "photos-1,\"{}\"{}\n",
                percent_encode_key(original.key()),
                original.version_id().map(|v| format!(",{v}")).unwrap_or_default()
            );
            let from_manifest = ManifestReader::new(row.as_bytes()).next().unwrap().unwrap().object;
            let from_s3 = decode_message(&encode::s3_notification(vec![record(&original)]).to_string()).unwrap();
            prop_assert_eq!(&from_manifest, &original);
            prop_assert_eq!(objects(&from_s3), vec![original.clone()]);
            for keys in [EventBridgeKeys::Encoded, EventBridgeKeys::Raw] {
                let event = encode::eventbridge(&facts_for(&original), keys);
                let decoded = decode_message(&event.to_string()).unwrap();
                let found = &decoded.restored[0];
                prop_assert!(
                    found.object == original || found.as_sent.as_ref() == Some(&original),
                    "{:?} in {:?}", original, found
                );
            }
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
