//! The create-job request parser (`gbr_core::request::CreateJobRequest::parse`): it
//! never panics, a rejection names at least one field, and an accepted request written
//! out and parsed again is the same request.
//!
//! Cases are bodies with the fields of README.md's request table, each valid, at a
//! bound, just past it, or of another type, then mutated now and then.

use gbr_core::request::CreateJobRequest;
use serde_json::{Map, Value, json};

use super::mutate::{Dictionary, json_text, mutate_bytes, mutate_json};
use super::{Bytes, Rng, Target, removals};

pub const NAME: &str = "create-job-request";

/// `bucket`, `key`, `tier` and `expiration_days`, first in the list of fields.
const REQUIRED_FIELDS: usize = 4;

/// Values of one field: some valid, others near or past its bounds or of another type.
struct Field {
    name: &'static str,
    valid: Vec<Value>,
    others: Vec<Value>,
}

fn field(name: &'static str, valid: Value, others: Value) -> Field {
    let (Value::Array(valid), Value::Array(others)) = (valid, others) else {
        unreachable!("the values are JSON arrays")
    };
    Field {
        name,
        valid,
        others,
    }
}

pub struct CreateJob {
    fields: Vec<Field>,
    seeds: Vec<Value>,
    dictionary: Dictionary,
}

impl CreateJob {
    pub fn new() -> Self {
        let a = |n: usize| "a".repeat(n);
        let e = |n: usize| "é".repeat(n);
        let fields = vec![
            field(
                "bucket",
                json!(["my-manifests", "b-1", a(3), a(63), "my.bucket"]),
                json!([
                    a(64),
                    "ab",
                    "Bad_Bucket",
                    "my..bucket",
                    "192.168.0.1",
                    "xn--b-1",
                    "b-1-s3alias",
                    "-b1",
                    "",
                    null,
                    1
                ]),
            ),
            field(
                "key",
                json!([
                    "restores/2026-11.csv",
                    "k",
                    a(1024),
                    e(512),
                    " ",
                    "a\nb",
                    "\u{0}"
                ]),
                json!([a(1025), e(513), "", null, ["k"]]),
            ),
            field(
                "tier",
                json!(["STANDARD", "BULK", "bulk", "Standard", "bUlK"]),
                json!(["EXPEDITED", "expedited", "GLACIER", "", "ſtandard", null, 1]),
            ),
            field(
                "expiration_days",
                json!([1, 7, 365]),
                json!([
                    0,
                    366,
                    -1,
                    1.0,
                    1.5,
                    "7",
                    u64::MAX,
                    i64::MIN,
                    1e3,
                    null,
                    true
                ]),
            ),
            field(
                "client_tag",
                json!([
                    "team-a",
                    "",
                    "team:a/b @x+y=z_1.2-3",
                    e(256),
                    " ",
                    "a\tb",
                    "中文",
                    "١٢٣",
                    null
                ]),
                json!(["a*b", e(257), a(257), "\u{2028}", "a\u{0}", 5]),
            ),
            field(
                "client_token",
                json!(["restore-2026-11", a(64), "a_b-C", null]),
                json!(["", a(65), "no spaces", "é", 1]),
            ),
            field(
                "deadline_hours",
                json!([1, 20, 336, null]),
                json!([0, 337, -5, 20.0, u64::MAX, "20"]),
            ),
            field(
                "progress_step_percent",
                json!([1, 10, 50, null]),
                json!([0, 51, 255, 256, -1, 10.5, "10"]),
            ),
            field(
                "storage_class",
                json!(["GLACIER", "DEEP_ARCHIVE", "glacier", "deep_archive", null]),
                json!(["STANDARD_IA", "GLACIER_IR", "", []]),
            ),
            field(
                "manifest_format",
                json!(["csv", "CSV", "Csv", null]),
                json!(["json", "", {}]),
            ),
        ];
        let seeds = vec![
            json!({"bucket": "my-manifests", "key": "restores/2026-11.csv", "tier": "BULK",
                "expiration_days": 7, "client_tag": "team-a", "client_token": "restore-2026-11"}),
            json!({"bucket": "my-manifests", "key": "k", "tier": "STANDARD", "expiration_days": 1,
                "deadline_hours": 20, "progress_step_percent": 25, "storage_class": "GLACIER",
                "manifest_format": "csv"}),
        ];
        let dictionary =
            Dictionary::from_seeds(&seeds, &["colour", "Bucket", "bucket ", "DEEP_ARCHIVE"]);
        Self {
            fields,
            seeds,
            dictionary,
        }
    }

    /// A body with each field present or not (the required ones mostly present), most
    /// with a valid value, so that many bodies are accepted and the others are wrong in
    /// a field or two.
    fn body(&self, rng: &mut Rng) -> Value {
        let mut body = Map::new();
        for (i, field) in self.fields.iter().enumerate() {
            let present = if i < REQUIRED_FIELDS {
                !rng.one_in(12)
            } else {
                rng.one_in(2)
            };
            if present {
                let values = if rng.one_in(8) {
                    &field.others
                } else {
                    &field.valid
                };
                body.insert(field.name.to_owned(), rng.pick(values).clone());
            }
        }
        if rng.one_in(16) {
            body.insert("colour".to_owned(), json!("red"));
        }
        Value::Object(body)
    }
}

impl Target for CreateJob {
    type Input = Bytes;
    const NAME: &'static str = NAME;

    fn generate(&self, rng: &mut Rng) -> Bytes {
        if rng.one_in(10) {
            return Bytes(json_text(rng, &self.seeds, &self.dictionary).into_bytes());
        }
        let mut body = self.body(rng);
        if rng.one_in(4) {
            mutate_json(rng, &mut body, &self.seeds, &self.dictionary);
        }
        let mut bytes = body.to_string().into_bytes();
        if rng.one_in(10) {
            mutate_bytes(rng, &mut bytes, &self.dictionary);
        }
        Bytes(bytes)
    }

    fn check(&self, body: &Bytes) {
        match CreateJobRequest::parse(&body.0) {
            Ok(request) => {
                let written = serde_json::to_vec(&request).expect("a request serialises");
                assert_eq!(
                    CreateJobRequest::parse(&written).as_ref(),
                    Ok(&request),
                    "an accepted request, written out, reads as another"
                );
            }
            Err(invalid) => {
                assert!(!invalid.errors.is_empty(), "a rejection names no field");
                let _ = invalid.to_string();
            }
        }
    }

    fn shrink<'a>(&self, body: &'a Bytes) -> Box<dyn Iterator<Item = Bytes> + 'a> {
        Box::new(removals(&body.0).map(Bytes))
    }
}
