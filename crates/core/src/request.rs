//! The body of `POST /create-job`: parsed, checked field by field, never guessed.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use thiserror::Error;

use crate::ErrorName;
use crate::filter::ObjectFilter;
use crate::object_id::{MAX_KEY_BYTES, validate_bucket};

/// Our bound on `expiration_days`: S3 documents no maximum for a restore's lifetime,
/// and a restored copy is billed as Standard storage for every one of those days, so
/// anything beyond a year is almost certainly a typo.
pub const MAX_EXPIRATION_DAYS: u64 = 365;
/// S3's limit on a tag value, in Unicode characters.
pub const MAX_CLIENT_TAG_CHARS: usize = 256;
pub const MAX_CLIENT_TOKEN_CHARS: usize = 64;
/// Bounds on a per-job deadline override. The upper bound keeps one Step Functions
/// execution well inside its history limit at our poll intervals.
pub const DEADLINE_HOURS: std::ops::RangeInclusive<u64> = 1..=336;
pub const PROGRESS_STEP_PERCENT: std::ops::RangeInclusive<u64> = 1..=50;
pub const DEFAULT_PROGRESS_STEP_PERCENT: u8 = 10;

/// How the manifest at `bucket`/`key` lists its objects; each has its reader in
/// [`crate::list_source`]'s scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ManifestFormat {
    /// A Batch Operations CSV manifest (`S3BatchOperations_CSV_20180820`).
    #[default]
    Csv,
    /// An S3 Inventory report in CSV: `key` names its `manifest.json`
    /// ([`crate::inventory`]). Rows not archived are skipped.
    Inventory,
    /// No manifest: the request's `filter` selects the objects, and S3 Batch
    /// Operations' manifest generator lists them ([`crate::filter`]). Set by a
    /// `filter` in the request, never by `manifest_format`.
    Generated,
}

/// Retrieval tiers Batch Operations accepts for `S3InitiateRestoreObject`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Tier {
    Standard,
    Bulk,
}

impl Tier {
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Standard => "STANDARD",
            Tier::Bulk => "BULK",
        }
    }
}

/// The archive class the objects are in; it decides how long a restore may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StorageClass {
    /// S3 Glacier Flexible Retrieval (the API still calls it `GLACIER`).
    Glacier,
    DeepArchive,
}

impl StorageClass {
    pub fn as_str(self) -> &'static str {
        match self {
            StorageClass::Glacier => "GLACIER",
            StorageClass::DeepArchive => "DEEP_ARCHIVE",
        }
    }
}

/// A validated create-job request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateJobRequest {
    /// Bucket holding the manifest (for a filter: the bucket it selects from).
    pub bucket: String,
    /// Key of the manifest (for a filter: its prefix, possibly empty).
    pub key: String,
    pub tier: Tier,
    pub expiration_days: u32,
    pub client_tag: Option<String>,
    /// Makes a retried create return the first job instead of starting a second.
    pub client_token: Option<String>,
    /// Overrides the deadline computed from storage class and tier.
    pub deadline_hours: Option<u32>,
    /// As the client asked; `None` takes the deployment's default
    /// ([`Settings::default_progress_step_percent`](crate::settings::Settings)).
    pub progress_step_percent: Option<u8>,
    /// Defaults to the slower Deep Archive, so an unspecified class never times out early.
    pub storage_class: StorageClass,
    pub manifest_format: ManifestFormat,
    /// The objects to restore when no manifest is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<ObjectFilter>,
}

/// One field that is wrong, and what would be right.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// Every problem found in a request body, so a person can fix them all at once.
#[derive(Debug, Clone, PartialEq, Eq, Error, Serialize)]
#[error("invalid create-job request: {}", .errors.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; "))]
pub struct InvalidRequest {
    pub errors: Vec<FieldError>,
}

impl ErrorName for InvalidRequest {
    fn error_name(&self) -> &'static str {
        "InvalidRequest"
    }
}

const KNOWN_FIELDS: [&str; 11] = [
    "bucket",
    "key",
    "tier",
    "expiration_days",
    "client_tag",
    "client_token",
    "deadline_hours",
    "progress_step_percent",
    "storage_class",
    "manifest_format",
    "filter",
];

impl CreateJobRequest {
    /// Parses and validates a JSON request body.
    pub fn parse(body: &[u8]) -> Result<Self, InvalidRequest> {
        let value: Value = serde_json::from_slice(body).map_err(|e| InvalidRequest {
            errors: vec![FieldError {
                field: "body".into(),
                message: format!("is not valid JSON ({e})"),
            }],
        })?;
        Self::from_json(&value)
    }

    pub fn from_json(value: &Value) -> Result<Self, InvalidRequest> {
        let Some(fields) = value.as_object() else {
            return Err(InvalidRequest {
                errors: vec![FieldError {
                    field: "body".into(),
                    message: "must be a JSON object".into(),
                }],
            });
        };
        let mut v = Validator {
            fields,
            errors: Vec::new(),
        };
        for name in fields.keys() {
            if !KNOWN_FIELDS.contains(&name.as_str()) {
                v.fail::<()>(
                    name,
                    format!(
                        "is not a known field; allowed fields are {}",
                        KNOWN_FIELDS.join(", ")
                    ),
                );
            }
        }
        let filter = match fields.get("filter") {
            None | Some(Value::Null) => None,
            Some(f) => match ObjectFilter::from_json(f) {
                Ok(f) => Some(f),
                Err(errors) => {
                    v.errors.extend(errors);
                    None
                }
            },
        };
        let filtered = fields.get("filter").is_some_and(|f| !f.is_null());
        if filtered {
            for name in ["bucket", "key", "manifest_format"] {
                if fields.get(name).is_some_and(|f| !f.is_null()) {
                    v.fail::<()>(
                        name,
                        "cannot be given with filter: a job restores either a manifest's objects or the objects a filter selects (the filter names its bucket)".into(),
                    );
                }
            }
        }
        let bucket = if filtered {
            None
        } else {
            v.required_string("bucket")
        };
        let bucket = bucket.and_then(|b| match validate_bucket(&b) {
            Ok(()) => Some(b),
            Err(e) => v.fail("bucket", e.to_string()),
        });
        let key = if filtered {
            None
        } else {
            v.required_string("key")
        };
        let key = key.and_then(|k| {
            if k.is_empty() {
                v.fail("key", "must not be empty".into())
            } else if k.len() > MAX_KEY_BYTES {
                v.fail(
                    "key",
                    format!(
                        "is {} bytes long; S3 keys have at most {MAX_KEY_BYTES}",
                        k.len()
                    ),
                )
            } else {
                Some(k)
            }
        });
        let tier = v
            .required_string("tier")
            .and_then(|t| match t.to_ascii_uppercase().as_str() {
                "STANDARD" => Some(Tier::Standard),
                "BULK" => Some(Tier::Bulk),
                "EXPEDITED" => v.fail(
                    "tier",
                    "EXPEDITED is not available to Batch Operations restores; use STANDARD or BULK"
                        .into(),
                ),
                _ => v.fail("tier", format!("{t:?} is not a tier; use STANDARD or BULK")),
            });
        let expiration_days = v.integer("expiration_days", 1..=MAX_EXPIRATION_DAYS, true);
        let client_tag =
            v.optional_string("client_tag")
                .and_then(|tag| match check_tag_value(&tag) {
                    Ok(()) => Some(tag),
                    Err(message) => v.fail("client_tag", message),
                });
        let client_token =
            v.optional_string("client_token")
                .and_then(|token| match check_client_token(&token) {
                    Ok(()) => Some(token),
                    Err(message) => v.fail("client_token", message),
                });
        let deadline_hours = v.integer("deadline_hours", DEADLINE_HOURS, false);
        let progress_step_percent =
            v.integer("progress_step_percent", PROGRESS_STEP_PERCENT, false);
        let storage_class = v.optional_string("storage_class").and_then(|c| {
            match c.to_ascii_uppercase().as_str() {
                "GLACIER" => Some(StorageClass::Glacier),
                "DEEP_ARCHIVE" => Some(StorageClass::DeepArchive),
                _ => v.fail(
                    "storage_class",
                    format!("{c:?} is not an archive class that needs a restore; use GLACIER or DEEP_ARCHIVE"),
                ),
            }
        });

        let manifest_format = v.optional_string("manifest_format").and_then(|f| {
            match f.to_ascii_lowercase().as_str() {
                "csv" => Some(ManifestFormat::Csv),
                "inventory" => Some(ManifestFormat::Inventory),
                _ => v.fail(
                    "manifest_format",
                    format!(
                        "{f:?} is not a manifest format; use csv (a Batch Operations CSV manifest) or inventory (an S3 Inventory report's manifest.json)"
                    ),
                ),
            }
        });

        // The deadline follows the slowest class restored: Glacier's would time out a
        // filter's Deep Archive objects.
        if let (Some(StorageClass::Glacier), Some(f)) = (storage_class, &filter)
            && f.storage_classes.contains(&StorageClass::DeepArchive)
        {
            v.fail::<()>(
                "storage_class",
                "is GLACIER, but the filter restores DEEP_ARCHIVE objects too, whose restores take longer; leave storage_class out (the filter's classes set the deadline) or give filter.storage_classes [\"GLACIER\"]".into(),
            );
        }
        if !v.errors.is_empty() {
            return Err(InvalidRequest { errors: v.errors });
        }
        let (bucket, key, manifest_format) = match &filter {
            Some(f) => (
                Some(f.bucket.clone()),
                Some(f.prefix().to_owned()),
                Some(ManifestFormat::Generated),
            ),
            None => (bucket, key, manifest_format),
        };
        match (bucket, key, tier, expiration_days) {
            (Some(bucket), Some(key), Some(tier), Some(expiration_days)) => Ok(Self {
                bucket,
                key,
                tier,
                // Both bounded by the ranges checked above, far below u32::MAX.
                expiration_days: expiration_days as u32,
                client_tag,
                client_token,
                deadline_hours: deadline_hours.map(|h| h as u32),
                progress_step_percent: progress_step_percent.map(|p| p as u8),
                // A filter of Glacier objects only has Glacier's shorter window.
                storage_class: storage_class.unwrap_or(match filter.as_ref() {
                    Some(f) if f.storage_classes == [StorageClass::Glacier] => {
                        StorageClass::Glacier
                    }
                    _ => StorageClass::DeepArchive,
                }),
                manifest_format: manifest_format.unwrap_or_default(),
                filter,
            }),
            // Every None above pushed an error, so this arm is unreachable in practice;
            // it still answers with an error rather than a panic.
            _ => Err(InvalidRequest {
                errors: vec![FieldError {
                    field: "body".into(),
                    message: "is incomplete".into(),
                }],
            }),
        }
    }
}

/// Client tokens (`client_token`, or the `Idempotency-Key` header): 1 to 64 ASCII
/// letters, digits, `-` and `_`, so a UUID fits and nothing needs escaping.
pub fn check_client_token(token: &str) -> Result<(), String> {
    let ok = (1..=MAX_CLIENT_TOKEN_CHARS).contains(&token.len())
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "must be 1 to {MAX_CLIENT_TOKEN_CHARS} characters of letters, digits, '-' and '_'"
        ))
    }
}

/// S3 tag values: at most 256 Unicode characters of letters, digits, white space and
/// `+ - = . _ : / @`.
pub fn check_tag_value(tag: &str) -> Result<(), String> {
    let chars = tag.chars().count();
    if chars > MAX_CLIENT_TAG_CHARS {
        return Err(format!(
            "is {chars} characters long; S3 tag values have at most {MAX_CLIENT_TAG_CHARS}"
        ));
    }
    match tag
        .chars()
        .find(|c| !(c.is_alphanumeric() || c.is_whitespace() || "+-=._:/@".contains(*c)))
    {
        Some(bad) => Err(format!(
            "contains {bad:?}; S3 tag values may hold letters, digits, spaces and + - = . _ : / @"
        )),
        None => Ok(()),
    }
}

struct Validator<'a> {
    fields: &'a Map<String, Value>,
    errors: Vec<FieldError>,
}

impl Validator<'_> {
    fn fail<T>(&mut self, field: &str, message: String) -> Option<T> {
        self.errors.push(FieldError {
            field: field.to_owned(),
            message,
        });
        None
    }

    fn required_string(&mut self, field: &str) -> Option<String> {
        match self.fields.get(field) {
            None | Some(Value::Null) => self.fail(field, "is required".into()),
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => self.fail(field, format!("must be a string, not {}", json_type(other))),
        }
    }

    fn optional_string(&mut self, field: &str) -> Option<String> {
        match self.fields.get(field) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => self.fail(field, format!("must be a string, not {}", json_type(other))),
        }
    }

    fn integer(
        &mut self,
        field: &str,
        range: std::ops::RangeInclusive<u64>,
        required: bool,
    ) -> Option<u64> {
        let allowed = format!("a whole number from {} to {}", range.start(), range.end());
        match self.fields.get(field) {
            None | Some(Value::Null) if required => {
                self.fail(field, format!("is required: {allowed}"))
            }
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => match n.as_u64() {
                Some(x) if range.contains(&x) => Some(x),
                _ => self.fail(field, format!("is {n}; it must be {allowed}")),
            },
            Some(other) => self.fail(
                field,
                format!("must be {allowed}, not {}", json_type(other)),
            ),
        }
    }
}

/// How a JSON value's type is named in messages.
pub(crate) fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<CreateJobRequest, InvalidRequest> {
        CreateJobRequest::parse(v.to_string().as_bytes())
    }

    fn fields_in_error(v: Value) -> Vec<String> {
        parse(v)
            .unwrap_err()
            .errors
            .into_iter()
            .map(|e| e.field)
            .collect()
    }

    #[test]
    fn accepts_the_seed_example_and_fills_defaults() {
        let r = parse(
            json!({"bucket": "my-bucket", "key": "manifests/a.csv", "tier": "STANDARD",
            "expiration_days": 1, "client_tag": "client_tag"}),
        )
        .unwrap();
        assert_eq!(r.tier, Tier::Standard);
        assert_eq!(r.expiration_days, 1);
        assert_eq!(r.client_tag.as_deref(), Some("client_tag"));
        assert_eq!(r.progress_step_percent, None);
        assert_eq!(r.storage_class, StorageClass::DeepArchive);
        assert_eq!(r.deadline_hours, None);
    }

    #[test]
    fn tiers_and_classes_are_case_insensitive() {
        let r = parse(
            json!({"bucket": "my-bucket", "key": "k", "tier": "bUlK", "expiration_days": 3,
            "storage_class": "glacier", "client_token": "abc-1", "deadline_hours": 20,
            "progress_step_percent": 25}),
        )
        .unwrap();
        assert_eq!(r.tier, Tier::Bulk);
        assert_eq!(r.storage_class, StorageClass::Glacier);
        assert_eq!(r.client_token.as_deref(), Some("abc-1"));
        assert_eq!(r.deadline_hours, Some(20));
        assert_eq!(r.progress_step_percent, Some(25));
    }

    #[test]
    fn expedited_is_refused_with_a_reason() {
        let err = parse(
            json!({"bucket": "my-bucket", "key": "k", "tier": "expedited", "expiration_days": 1}),
        )
        .unwrap_err();
        assert_eq!(err.errors.len(), 1);
        assert_eq!(err.errors[0].field, "tier");
        assert!(err.errors[0].message.contains("STANDARD or BULK"), "{err}");
    }

    #[test]
    fn every_bad_field_is_named() {
        let fields = fields_in_error(json!({"bucket": "Bad_Bucket", "key": "", "tier": 1,
            "expiration_days": 0, "client_tag": "a*b", "client_token": "no spaces",
            "deadline_hours": 1000, "progress_step_percent": 0, "storage_class": "STANDARD_IA",
            "colour": "red"}));
        assert_eq!(
            fields,
            [
                "colour",
                "bucket",
                "key",
                "tier",
                "expiration_days",
                "client_tag",
                "client_token",
                "deadline_hours",
                "progress_step_percent",
                "storage_class"
            ]
        );
    }

    #[test]
    fn missing_fields_and_wrong_types() {
        assert_eq!(
            fields_in_error(json!({})),
            ["bucket", "key", "tier", "expiration_days"]
        );
        assert_eq!(
            fields_in_error(
                json!({"bucket": "my-bucket", "key": "k", "tier": "BULK", "expiration_days": "1"})
            ),
            ["expiration_days"]
        );
        assert_eq!(
            fields_in_error(
                json!({"bucket": "my-bucket", "key": "k", "tier": "BULK", "expiration_days": 1.5})
            ),
            ["expiration_days"]
        );
        assert_eq!(fields_in_error(json!([1, 2])), ["body"]);
        assert_eq!(
            CreateJobRequest::parse(b"{not json").unwrap_err().errors[0].field,
            "body"
        );
    }

    #[test]
    fn bounds_are_inclusive() {
        let base = |days: u64| json!({"bucket": "my-bucket", "key": "k", "tier": "BULK", "expiration_days": days});
        assert!(parse(base(1)).is_ok());
        assert!(parse(base(MAX_EXPIRATION_DAYS)).is_ok());
        assert!(parse(base(MAX_EXPIRATION_DAYS + 1)).is_err());
        assert!(check_tag_value(&"é".repeat(256)).is_ok());
        assert!(check_tag_value(&"é".repeat(257)).is_err());
        assert!(check_tag_value("team:a/b @x+y=z_1.2-3").is_ok());
        assert!(check_tag_value("").is_ok());
    }

    #[test]
    fn error_name_is_stable() {
        assert_eq!(parse(json!({})).unwrap_err().error_name(), "InvalidRequest");
    }

    proptest! {
        #[test]
        fn never_panics_on_any_bytes(body in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = CreateJobRequest::parse(&body);
        }

        #[test]
        fn valid_requests_round_trip_their_fields(days in 1u64..=MAX_EXPIRATION_DAYS, tag in "[a-zA-Z0-9 _.:/=+@-]{0,40}") {
            let r = parse(json!({"bucket": "my-bucket", "key": "k", "tier": "Standard",
                "expiration_days": days, "client_tag": tag.clone()})).unwrap();
            prop_assert_eq!(u64::from(r.expiration_days), days);
            prop_assert_eq!(r.client_tag, Some(tag));
        }
    }
}
