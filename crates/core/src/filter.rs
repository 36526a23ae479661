//! A restore by filter: the objects of one bucket that S3 Batch Operations' manifest
//! generator (`S3JobManifestGenerator`) selects, with no list written by the user.
//!
//! The request's `filter` maps onto the generator's `JobManifestGeneratorFilter`
//! (S3 Control API reference): one `KeyNameConstraint` prefix and one suffix (AWS:
//! "Each KeyNameConstraint filter accepts an array of strings with a length of 1
//! string"), `CreatedAfter`/`CreatedBefore`, `ObjectSizeGreaterThanBytes`/
//! `ObjectSizeLessThanBytes` (strict bounds; ours are inclusive, so they are shifted
//! by one byte) and `MatchAnyStorageClass`. [`ObjectFilter::selects`] is the same
//! rule applied to one listed object: the estimate lists the bucket with it, and the
//! local simulator generates its manifest with it.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::object_id::{MAX_KEY_BYTES, validate_bucket};
use crate::request::{FieldError, StorageClass, json_type};

/// S3's largest object, 5 TiB: a bound beyond it means nothing, and the generator's
/// size fields are 64-bit signed.
pub const MAX_OBJECT_BYTES: u64 = 5 * 1024 * 1024 * 1024 * 1024;

const KNOWN_FIELDS: [&str; 8] = [
    "bucket",
    "prefixes",
    "suffixes",
    "created_after",
    "created_before",
    "min_size_bytes",
    "max_size_bytes",
    "storage_classes",
];

/// Which objects of `bucket` to restore. Every condition given must hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectFilter {
    pub bucket: String,
    /// At most one: the generator takes one prefix.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prefixes: Vec<String>,
    /// At most one: the generator takes one suffix.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suffixes: Vec<String>,
    /// Objects last written strictly after this instant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_after: Option<Timestamp>,
    /// Objects last written strictly before this instant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_before: Option<Timestamp>,
    /// Inclusive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_size_bytes: Option<u64>,
    /// Inclusive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_size_bytes: Option<u64>,
    /// GLACIER and DEEP_ARCHIVE unless narrowed.
    pub storage_classes: Vec<StorageClass>,
}

/// One object as a listing (ListObjectsV2, or the generated manifest) shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListedObject {
    pub key: String,
    pub size: u64,
    pub last_modified: Timestamp,
    /// As S3 names it (`STANDARD`, `GLACIER`, …); listings leave it out for STANDARD.
    pub storage_class: String,
}

/// Why a listed object is not selected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unselected {
    /// Outside the prefix, suffix, dates or sizes: not part of the request at all.
    NotAsked,
    /// Matches the request but is in this class, which needs no restore (or is not
    /// one of the classes asked for): a skipped object, counted under its class.
    Class(String),
}

impl ObjectFilter {
    /// The prefix every selected key starts with (empty for the whole bucket).
    pub fn prefix(&self) -> &str {
        self.prefixes.first().map_or("", String::as_str)
    }

    /// `s3://bucket/prefix`, to name the filter in messages and job views.
    pub fn location(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix())
    }

    /// The generator's `ObjectSizeGreaterThanBytes`: strict, so one below our minimum.
    pub fn size_greater_than(&self) -> Option<u64> {
        self.min_size_bytes.filter(|&n| n > 0).map(|n| n - 1)
    }

    /// The generator's `ObjectSizeLessThanBytes`: strict, so one above our maximum.
    pub fn size_less_than(&self) -> Option<u64> {
        self.max_size_bytes.map(|n| n.saturating_add(1))
    }

    /// Whether the generator would list `object`, and if not, why.
    pub fn selects(&self, object: &ListedObject) -> Result<(), Unselected> {
        let key = object.key.as_str();
        let asked = key.starts_with(self.prefix())
            && self.suffixes.iter().all(|s| key.ends_with(s.as_str()))
            && self.created_after.is_none_or(|t| object.last_modified > t)
            && self.created_before.is_none_or(|t| object.last_modified < t)
            && self.size_greater_than().is_none_or(|n| object.size > n)
            && self.size_less_than().is_none_or(|n| object.size < n);
        if !asked {
            return Err(Unselected::NotAsked);
        }
        let class = match object.storage_class.as_str() {
            "" => "STANDARD",
            c => c,
        };
        if self.storage_classes.iter().any(|c| c.as_str() == class) {
            Ok(())
        } else {
            Err(Unselected::Class(class.to_owned()))
        }
    }

    /// Parses the request's `filter` object; every problem is reported under
    /// `filter.<field>`.
    pub fn from_json(value: &Value) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let Some(fields) = value.as_object() else {
            return Err(vec![error(
                "filter",
                "must be an object such as {\"bucket\": \"my-bucket\", \"prefixes\": [\"photos/2019/\"]}".into(),
            )]);
        };
        for name in fields.keys() {
            if !KNOWN_FIELDS.contains(&name.as_str()) {
                errors.push(error(
                    &format!("filter.{name}"),
                    format!(
                        "is not a known filter field; allowed fields are {}",
                        KNOWN_FIELDS.join(", ")
                    ),
                ));
            }
        }
        let bucket = match fields.get("bucket") {
            Some(Value::String(b)) => match validate_bucket(b) {
                Ok(()) => Some(b.clone()),
                Err(e) => push(&mut errors, "filter.bucket", e.to_string()),
            },
            None | Some(Value::Null) => push(&mut errors, "filter.bucket", "is required".into()),
            Some(other) => push(
                &mut errors,
                "filter.bucket",
                format!("must be a string, not {}", json_type(other)),
            ),
        };
        let prefixes = key_parts(fields, "prefixes", "prefix", &mut errors);
        let suffixes = key_parts(fields, "suffixes", "suffix", &mut errors);
        let created_after = instant(fields, "created_after", &mut errors);
        let created_before = instant(fields, "created_before", &mut errors);
        if let (Some(after), Some(before)) = (created_after, created_before)
            && after >= before
        {
            errors.push(error(
                "filter.created_after",
                format!("{after} is not before created_before {before}; no object can match"),
            ));
        }
        let min_size_bytes = size(fields, "min_size_bytes", &mut errors);
        let max_size_bytes = size(fields, "max_size_bytes", &mut errors);
        if let (Some(min), Some(max)) = (min_size_bytes, max_size_bytes)
            && min > max
        {
            errors.push(error(
                "filter.min_size_bytes",
                format!("{min} is above max_size_bytes {max}; no object can match"),
            ));
        }
        let storage_classes = classes(fields, &mut errors);
        match bucket {
            Some(bucket) if errors.is_empty() => Ok(Self {
                bucket,
                prefixes,
                suffixes,
                created_after,
                created_before,
                min_size_bytes,
                max_size_bytes,
                storage_classes,
            }),
            _ => Err(errors),
        }
    }
}

fn error(field: &str, message: String) -> FieldError {
    FieldError {
        field: field.to_owned(),
        message,
    }
}

fn push<T>(errors: &mut Vec<FieldError>, field: &str, message: String) -> Option<T> {
    errors.push(error(field, message));
    None
}

/// `prefixes` or `suffixes`: an array of at most one non-empty string that fits in
/// an S3 key.
fn key_parts(
    fields: &Map<String, Value>,
    name: &str,
    what: &str,
    errors: &mut Vec<FieldError>,
) -> Vec<String> {
    let field = format!("filter.{name}");
    let items = match fields.get(name) {
        None | Some(Value::Null) => return Vec::new(),
        Some(Value::Array(items)) => items,
        Some(other) => {
            push::<()>(
                errors,
                &field,
                format!("must be an array of strings, not {}", json_type(other)),
            );
            return Vec::new();
        }
    };
    if items.len() > 1 {
        push::<()>(
            errors,
            &field,
            format!(
                "has {} values; S3 Batch Operations' manifest generator takes one {what} per job, so create a job per {what}",
                items.len()
            ),
        );
        return Vec::new();
    }
    let mut out = Vec::new();
    for item in items {
        match item {
            Value::String(s) if s.is_empty() => {
                push::<()>(
                    errors,
                    &field,
                    format!("holds an empty {what}; leave the field out to match every key"),
                );
            }
            Value::String(s) if s.len() > MAX_KEY_BYTES => {
                push::<()>(
                    errors,
                    &field,
                    format!(
                        "holds a {what} of {} bytes; S3 keys have at most {MAX_KEY_BYTES}",
                        s.len()
                    ),
                );
            }
            Value::String(s) => out.push(s.clone()),
            other => {
                push::<()>(
                    errors,
                    &field,
                    format!("must hold strings, not {}", json_type(other)),
                );
            }
        }
    }
    out
}

fn instant(
    fields: &Map<String, Value>,
    name: &str,
    errors: &mut Vec<FieldError>,
) -> Option<Timestamp> {
    let field = format!("filter.{name}");
    match fields.get(name) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => match s.parse::<Timestamp>() {
            Ok(t) => Some(t),
            Err(e) => push(
                errors,
                &field,
                format!("{s:?} is not an RFC 3339 instant such as 2024-01-31T00:00:00Z ({e})"),
            ),
        },
        Some(other) => push(
            errors,
            &field,
            format!("must be an RFC 3339 string, not {}", json_type(other)),
        ),
    }
}

fn size(fields: &Map<String, Value>, name: &str, errors: &mut Vec<FieldError>) -> Option<u64> {
    let field = format!("filter.{name}");
    match fields.get(name) {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => match n.as_u64() {
            Some(n) if n > MAX_OBJECT_BYTES => push(
                errors,
                &field,
                format!("is {n}; S3 objects are at most 5 TiB ({MAX_OBJECT_BYTES} bytes)"),
            ),
            Some(n) => Some(n),
            None if n.as_i64().is_some_and(|n| n < 0) || n.as_f64().is_some_and(|n| n < 0.0) => {
                push(errors, &field, format!("is {n}; a size cannot be negative"))
            }
            None => push(
                errors,
                &field,
                format!("is {n}; a size is a whole number of bytes"),
            ),
        },
        Some(other) => push(
            errors,
            &field,
            format!("must be a whole number of bytes, not {}", json_type(other)),
        ),
    }
}

fn classes(fields: &Map<String, Value>, errors: &mut Vec<FieldError>) -> Vec<StorageClass> {
    let all = vec![StorageClass::Glacier, StorageClass::DeepArchive];
    let field = "filter.storage_classes";
    let items = match fields.get("storage_classes") {
        None | Some(Value::Null) => return all,
        Some(Value::Array(items)) if items.is_empty() => {
            push::<()>(
                errors,
                field,
                "is empty; leave it out for GLACIER and DEEP_ARCHIVE".into(),
            );
            return all;
        }
        Some(Value::Array(items)) => items,
        Some(other) => {
            push::<()>(
                errors,
                field,
                format!("must be an array of strings, not {}", json_type(other)),
            );
            return all;
        }
    };
    let mut out = Vec::new();
    for item in items {
        let class = match item.as_str().map(str::to_ascii_uppercase).as_deref() {
            Some("GLACIER") => StorageClass::Glacier,
            Some("DEEP_ARCHIVE") => StorageClass::DeepArchive,
            _ => {
                push::<()>(
                    errors,
                    field,
                    format!(
                        "holds {item}; only GLACIER and DEEP_ARCHIVE need a restore (Intelligent-Tiering's archive tiers need a job of their own)"
                    ),
                );
                continue;
            }
        };
        if !out.contains(&class) {
            out.push(class);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(value: Value) -> Result<ObjectFilter, Vec<FieldError>> {
        ObjectFilter::from_json(&value)
    }

    fn fields(errors: &[FieldError]) -> Vec<&str> {
        errors.iter().map(|e| e.field.as_str()).collect()
    }

    fn object(key: &str, size: u64, at: &str, class: &str) -> ListedObject {
        ListedObject {
            key: key.into(),
            size,
            last_modified: at.parse().unwrap(),
            storage_class: class.into(),
        }
    }

    #[test]
    fn a_bucket_alone_selects_its_archived_objects() {
        let f = parse(json!({"bucket": "photos"})).unwrap();
        assert_eq!(
            f.storage_classes,
            [StorageClass::Glacier, StorageClass::DeepArchive]
        );
        assert_eq!(f.prefix(), "");
        let at = "2024-01-01T00:00:00Z";
        assert_eq!(f.selects(&object("a", 1, at, "GLACIER")), Ok(()));
        assert_eq!(f.selects(&object("b", 1, at, "DEEP_ARCHIVE")), Ok(()));
        assert_eq!(
            f.selects(&object("c", 1, at, "")),
            Err(Unselected::Class("STANDARD".into()))
        );
        assert_eq!(
            f.selects(&object("d", 1, at, "GLACIER_IR")),
            Err(Unselected::Class("GLACIER_IR".into()))
        );
    }

    #[test]
    fn every_condition_must_hold_and_sizes_are_inclusive() {
        let f = parse(json!({
            "bucket": "photos",
            "prefixes": ["2019/"],
            "suffixes": [".tif"],
            "created_after": "2020-01-01T00:00:00Z",
            "created_before": "2021-01-01T00:00:00Z",
            "min_size_bytes": 10,
            "max_size_bytes": 20,
            "storage_classes": ["deep_archive"],
        }))
        .unwrap();
        assert_eq!(f.size_greater_than(), Some(9));
        assert_eq!(f.size_less_than(), Some(21));
        let mid = "2020-06-01T00:00:00Z";
        let ok = object("2019/a.tif", 10, mid, "DEEP_ARCHIVE");
        assert_eq!(f.selects(&ok), Ok(()));
        assert_eq!(
            f.selects(&ListedObject {
                size: 20,
                ..ok.clone()
            }),
            Ok(())
        );
        for not_asked in [
            ListedObject {
                key: "2018/a.tif".into(),
                ..ok.clone()
            },
            ListedObject {
                key: "2019/a.jpg".into(),
                ..ok.clone()
            },
            ListedObject {
                size: 9,
                ..ok.clone()
            },
            ListedObject {
                size: 21,
                ..ok.clone()
            },
            object("2019/a.tif", 10, "2020-01-01T00:00:00Z", "DEEP_ARCHIVE"),
            object("2019/a.tif", 10, "2021-01-01T00:00:00Z", "DEEP_ARCHIVE"),
        ] {
            assert_eq!(
                f.selects(&not_asked),
                Err(Unselected::NotAsked),
                "{not_asked:?}"
            );
        }
        assert_eq!(
            f.selects(&ListedObject {
                storage_class: "GLACIER".into(),
                ..ok
            }),
            Err(Unselected::Class("GLACIER".into()))
        );
    }

    #[test]
    fn sizes_beyond_s3_s_largest_object_are_refused() {
        let errors =
            parse(json!({"bucket": "bkt", "max_size_bytes": MAX_OBJECT_BYTES + 1})).unwrap_err();
        assert_eq!(fields(&errors), ["filter.max_size_bytes"]);
        assert!(errors[0].message.contains("5 TiB"), "{errors:?}");
        assert!(parse(json!({"bucket": "bkt", "max_size_bytes": MAX_OBJECT_BYTES})).is_ok());
    }

    #[test]
    fn a_minimum_of_zero_sends_no_lower_bound() {
        let f = parse(json!({"bucket": "bkt", "min_size_bytes": 0})).unwrap();
        assert_eq!(f.size_greater_than(), None);
    }

    #[test]
    fn every_bad_field_is_named_with_a_reason() {
        let errors = parse(json!({
            "bucket": "Not_A_Bucket",
            "prefixes": ["a/", "b/"],
            "suffixes": "x",
            "created_after": "yesterday",
            "created_before": 5,
            "min_size_bytes": -1,
            "max_size_bytes": 1.5,
            "storage_classes": ["STANDARD"],
            "color": "red",
        }))
        .unwrap_err();
        assert_eq!(
            fields(&errors),
            [
                "filter.color",
                "filter.bucket",
                "filter.prefixes",
                "filter.suffixes",
                "filter.created_after",
                "filter.created_before",
                "filter.min_size_bytes",
                "filter.max_size_bytes",
                "filter.storage_classes",
            ]
        );
        assert!(
            errors[2].message.contains("one prefix per job"),
            "{errors:?}"
        );
        assert!(errors[6].message.contains("negative"), "{errors:?}");
    }

    #[test]
    fn bounds_that_match_nothing_are_refused() {
        let errors = parse(json!({
            "bucket": "bkt",
            "created_after": "2021-01-01T00:00:00Z",
            "created_before": "2020-01-01T00:00:00Z",
            "min_size_bytes": 5,
            "max_size_bytes": 4,
        }))
        .unwrap_err();
        assert_eq!(
            fields(&errors),
            ["filter.created_after", "filter.min_size_bytes"]
        );
        assert!(parse(json!({"bucket": "bkt", "min_size_bytes": 4, "max_size_bytes": 4})).is_ok());
    }

    #[test]
    fn empty_prefixes_and_missing_buckets_are_refused() {
        let errors = parse(json!({"prefixes": [""], "storage_classes": []})).unwrap_err();
        assert_eq!(
            fields(&errors),
            ["filter.bucket", "filter.prefixes", "filter.storage_classes"]
        );
        assert!(parse(json!("photos")).is_err());
    }

    #[test]
    fn a_filter_survives_the_job_record() {
        let f = parse(json!({
            "bucket": "bkt",
            "prefixes": ["p/"],
            "created_before": "2020-01-01T00:00:00Z",
            "max_size_bytes": 7,
        }))
        .unwrap();
        let back: ObjectFilter = serde_json::from_value(serde_json::to_value(&f).unwrap()).unwrap();
        assert_eq!(back, f);
    }
}
