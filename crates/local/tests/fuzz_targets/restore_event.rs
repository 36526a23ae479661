//! The restore-event decoder (`gbr_core::restore_event::decode_message`): it never
//! panics, and an SNS envelope around a message decodes as the message does.
//!
//! Cases are mutations of every message in the AWS fixtures (S3 notifications,
//! EventBridge events, SNS envelopes, SQS bodies) and of the messages the simulator
//! sends, so most get past the JSON parser into the records.

use std::collections::BTreeSet;
use std::path::Path;

use gbr_core::object_id::ObjectId;
use gbr_core::restore_event::encode::{self, EventBridgeKeys};
use gbr_core::restore_event::{
    EVENTBRIDGE_RESTORE_COMPLETED, S3_RESTORE_COMPLETED, decode_message,
};
use serde_json::{Value, json};

use super::mutate::{Dictionary, json_text, mutate_bytes, random_string};
use super::{Rng, Target, files_in, string_removals};

pub const NAME: &str = "restore-event";

const FIXTURE_DIRS: [&str; 4] = [
    "tests/fixtures/aws/eventbridge",
    "tests/fixtures/aws/s3-notification",
    "tests/fixtures/aws/lambda-events/sqs",
    "tests/fixtures/aws/lambda-events/sns",
];

pub struct RestoreEvent {
    seeds: Vec<Value>,
    dictionary: Dictionary,
}

impl RestoreEvent {
    pub fn new() -> Self {
        let mut found = BTreeSet::new();
        for dir in FIXTURE_DIRS {
            for path in files_in(dir, ".json") {
                collect_messages(&read_json(&path), &mut found);
            }
        }
        for object in awkward_objects() {
            let facts = encode::facts_for(&object);
            found.insert(encode::s3_notification(vec![encode::s3_record(&facts)]).to_string());
            for keys in [EventBridgeKeys::Encoded, EventBridgeKeys::Raw] {
                found.insert(encode::eventbridge(&facts, keys).to_string());
            }
        }
        let seeds: Vec<Value> = found
            .iter()
            .map(|text| serde_json::from_str(text).expect("collected as JSON"))
            .collect();
        assert!(
            seeds.len() >= 20,
            "only {} messages in the fixtures",
            seeds.len()
        );
        let dictionary = Dictionary::from_seeds(
            &seeds,
            &[
                S3_RESTORE_COMPLETED,
                EVENTBRIDGE_RESTORE_COMPLETED,
                "ObjectRestore:Post",
                "Object Restore Initiated",
                "Notification",
                "s3:TestEvent",
                "version-id",
                "versionId",
                "a+b",
                "100% done",
                "red+flower.jpg",
                "caf%C3%A9",
                "%E2%9C%93",
            ],
        );
        Self { seeds, dictionary }
    }
}

/// Objects whose keys and versions are awkward to encode.
fn awkward_objects() -> Vec<ObjectId> {
    [
        ("photos-1", "red flower.jpg", None),
        ("photos-1", "c++/a+b %41.txt", Some("v1")),
        ("my.bucket", "café/✓/😀", Some("null")),
        ("b-1", "100% done", None),
    ]
    .into_iter()
    .map(|(bucket, key, version)| {
        ObjectId::new(bucket, key, version.map(str::to_owned)).expect("a valid object")
    })
    .collect()
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every message inside `value`: S3 notifications, EventBridge events, SNS envelopes and
/// test events; a lone S3 record as a notification of one; JSON inside strings (SQS
/// bodies, SNS messages).
fn collect_messages(value: &Value, into: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            if ["Records", "detail-type", "Event", "Type"]
                .iter()
                .any(|k| map.contains_key(*k))
            {
                into.insert(value.to_string());
            }
            if map.contains_key("eventName") && map.contains_key("s3") {
                into.insert(json!({ "Records": [value] }).to_string());
            }
            map.values().for_each(|v| collect_messages(v, into));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_messages(v, into)),
        Value::String(text) => {
            if let Ok(inner @ Value::Object(_)) = serde_json::from_str(text) {
                collect_messages(&inner, into);
            }
        }
        _ => {}
    }
}

impl Target for RestoreEvent {
    type Input = String;
    const NAME: &'static str = NAME;

    fn generate(&self, rng: &mut Rng) -> String {
        match rng.below(20) {
            0 => random_string(rng, &self.dictionary),
            1 => {
                let mut bytes: Vec<u8> = (0..rng.below(64)).map(|_| rng.byte()).collect();
                mutate_bytes(rng, &mut bytes, &self.dictionary);
                String::from_utf8_lossy(&bytes).into_owned()
            }
            _ => json_text(rng, &self.seeds, &self.dictionary),
        }
    }

    fn check(&self, body: &String) {
        let decoded = decode_message(body);
        if let Err(e) = &decoded {
            let _ = e.to_string();
        }
        let is_envelope = serde_json::from_str::<Value>(body)
            .is_ok_and(|v| v.get("Type").and_then(Value::as_str) == Some("Notification"));
        if !is_envelope {
            let wrapped = json!({"Type": "Notification", "Message": body}).to_string();
            assert_eq!(
                decode_message(&wrapped),
                decoded,
                "an SNS envelope changed what the message says"
            );
        }
    }

    fn shrink<'a>(&self, body: &'a String) -> Box<dyn Iterator<Item = String> + 'a> {
        Box::new(string_removals(body))
    }
}
