//! One identity for an object, whoever tells us about it.
//!
//! A manifest row, an S3 event notification and an EventBridge event each spell an
//! object differently (URL-encoded, form-URL-encoded, raw). They are all decoded into
//! an [`ObjectId`], whose [`canonical`](ObjectId::canonical) string is the key of the
//! objects table, so the same object is always the same row.

use std::fmt;

use percent_encoding::{AsciiSet, CONTROLS, percent_decode_str, utf8_percent_encode};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The version id S3 gives objects written while versioning was off or suspended.
pub const NULL_VERSION: &str = "null";

/// S3's limit on the UTF-8 length of an object key.
pub const MAX_KEY_BYTES: usize = 1024;

/// Separates the parts of a canonical id; bucket names cannot contain it, and it is
/// percent-encoded inside version ids.
const SEPARATOR: char = '|';
const VERSION_ESCAPES: &AsciiSet = &CONTROLS.add(b'|').add(b'%');

/// An S3 object version: bucket, decoded key and version.
///
/// `version_id` is `None` for "the current version" (a manifest row without a version
/// id, an event from an unversioned bucket). S3's `"null"` version id is kept as it is:
/// S3 calls with `versionId=null` name the null version, which in a versioned bucket
/// need not be the current one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ObjectId {
    bucket: String,
    key: String,
    version_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ObjectIdError {
    #[error(
        "bucket name {0:?} is not valid: S3 bucket names have 3 to 63 characters, lowercase letters, digits, dots and hyphens, beginning and ending with a letter or digit"
    )]
    InvalidBucket(String),
    #[error("object key is empty")]
    EmptyKey,
    #[error("object key is {0} bytes long; S3 allows at most {MAX_KEY_BYTES}")]
    KeyTooLong(usize),
    #[error("object key {0:?} is not valid percent-encoded UTF-8 (write % as %25)")]
    BadEncoding(String),
    #[error("{0:?} is not a canonical object id (expected bucket|version|key)")]
    NotCanonical(String),
}

impl ObjectId {
    /// Builds an id from a decoded key. An empty version means no version.
    pub fn new(
        bucket: impl Into<String>,
        key: impl Into<String>,
        version_id: Option<String>,
    ) -> Result<Self, ObjectIdError> {
        let bucket = bucket.into();
        let key = key.into();
        validate_bucket(&bucket)?;
        if key.is_empty() {
            return Err(ObjectIdError::EmptyKey);
        }
        if key.len() > MAX_KEY_BYTES {
            return Err(ObjectIdError::KeyTooLong(key.len()));
        }
        let version_id = version_id.filter(|v| !v.is_empty());
        Ok(Self {
            bucket,
            key,
            version_id,
        })
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    pub fn version_id(&self) -> Option<&str> {
        self.version_id.as_deref()
    }

    /// The same object without its version: what a manifest row without a version id
    /// names, so an event carrying a version can still find it.
    pub fn without_version(&self) -> Self {
        Self {
            version_id: None,
            ..self.clone()
        }
    }

    /// The same object named as its null version: what a manifest row with version id
    /// `null` names in an unversioned bucket, whose events carry no version id.
    pub fn with_null_version(&self) -> Self {
        Self {
            version_id: Some(NULL_VERSION.to_owned()),
            ..self.clone()
        }
    }

    /// `bucket|version|key` (the version empty for none), one string per object. The
    /// key comes last and is kept as it is, so the id stays readable in the table.
    pub fn canonical(&self) -> String {
        let version = match &self.version_id {
            Some(v) => utf8_percent_encode(v, VERSION_ESCAPES).to_string(),
            None => String::new(),
        };
        format!("{}{SEPARATOR}{version}{SEPARATOR}{}", self.bucket, self.key)
    }

    /// A fixed-length name of the object: base64url (no padding) of the SHA-256 of the
    /// canonical id, 43 characters. Stores key rows by it, because a canonical id may
    /// pass DynamoDB's key-size limits: an S3 key and a version id may each take 1,024
    /// bytes.
    pub fn digest(&self) -> String {
        use base64::Engine;
        use sha2::{Digest, Sha256};
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(Sha256::digest(self.canonical().as_bytes()))
    }

    /// Reads back what [`canonical`](Self::canonical) wrote.
    pub fn from_canonical(id: &str) -> Result<Self, ObjectIdError> {
        let not_canonical = || ObjectIdError::NotCanonical(id.to_owned());
        let (bucket, rest) = id.split_once(SEPARATOR).ok_or_else(not_canonical)?;
        let (version, key) = rest.split_once(SEPARATOR).ok_or_else(not_canonical)?;
        let version = percent_decode_str(version)
            .decode_utf8()
            .map_err(|_| not_canonical())?;
        Self::new(bucket, key, Some(version.into_owned()))
    }
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.key)?;
        if let Some(v) = &self.version_id {
            write!(f, " (version {v})")?;
        }
        Ok(())
    }
}

/// Checks S3's rules for bucket names created today.
pub fn validate_bucket(bucket: &str) -> Result<(), ObjectIdError> {
    let bytes = bucket.as_bytes();
    let allowed = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'.' || *b == b'-';
    let edge = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if (3..=63).contains(&bytes.len())
        && bytes.iter().all(allowed)
        && edge(bytes.first())
        && edge(bytes.last())
    {
        Ok(())
    } else {
        Err(ObjectIdError::InvalidBucket(bucket.to_owned()))
    }
}

/// Decodes a percent-encoded key (RFC 3986: `+` stays `+`). A `%` not followed by two
/// hex digits is an error, not a literal: it means the key was not encoded.
pub fn percent_decode_key(encoded: &str) -> Result<String, ObjectIdError> {
    let bytes = encoded.as_bytes();
    let well_formed = bytes.iter().enumerate().all(|(i, &b)| {
        b != b'%'
            || bytes
                .get(i + 1..i + 3)
                .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit))
    });
    if !well_formed {
        return Err(ObjectIdError::BadEncoding(encoded.to_owned()));
    }
    percent_decode_str(encoded)
        .decode_utf8()
        .map(|k| k.into_owned())
        .map_err(|_| ObjectIdError::BadEncoding(encoded.to_owned()))
}

/// Decodes a form-URL-encoded key (`+` is a space, `%2B` a plus), as S3 event
/// notifications and S3 Inventory reports write them.
pub fn form_decode_key(encoded: &str) -> Result<String, ObjectIdError> {
    if !encoded.contains('+') {
        return percent_decode_key(encoded);
    }
    percent_decode_key(&encoded.replace('+', " "))
        .map_err(|_| ObjectIdError::BadEncoding(encoded.to_owned()))
}

/// The encoding that [`form_decode_key`] reverses, as S3 event notifications carry
/// keys: a space becomes `+`, `/` stays (as in the captured restore events in
/// `tests/fixtures/aws/`), and everything else but unreserved characters is
/// percent-encoded (`@` as `%40`, as recorded from AWS).
pub fn form_encode_key(key: &str) -> String {
    const FORM: &AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'*')
        .remove(b'/')
        .remove(b' ');
    utf8_percent_encode(key, FORM).to_string().replace(' ', "+")
}

/// The encoding that [`percent_decode_key`] reverses (`/` kept for readability).
pub fn percent_encode_key(key: &str) -> String {
    const PATH: &AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~')
        .remove(b'/');
    utf8_percent_encode(key, PATH).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn an_empty_version_is_no_version_and_null_is_the_null_version() {
        let none = ObjectId::new("bucket-1", "k", None).unwrap();
        let empty = ObjectId::new("bucket-1", "k", Some(String::new())).unwrap();
        let null = ObjectId::new("bucket-1", "k", Some("null".into())).unwrap();
        assert_eq!(none, empty);
        assert_ne!(
            none, null,
            "S3 calls with versionId=null name the null version"
        );
        assert_eq!(null.version_id(), Some(NULL_VERSION));
        assert_eq!(none.with_null_version(), null);
        assert_eq!(null.without_version(), none);
        assert_eq!(none.canonical(), "bucket-1||k");
        assert_eq!(null.canonical(), "bucket-1|null|k");
        for id in [none, null] {
            assert_eq!(ObjectId::from_canonical(&id.canonical()).unwrap(), id);
        }
    }

    #[test]
    fn digests_have_a_fixed_length_and_tell_objects_apart() {
        let longest = ObjectId::new(
            "b".repeat(63),
            "k".repeat(MAX_KEY_BYTES),
            Some("v".repeat(1024)),
        )
        .unwrap();
        let short = ObjectId::new("b-1", "k", None).unwrap();
        assert_eq!(longest.digest().len(), 43);
        assert_eq!(short.digest().len(), 43);
        assert_ne!(short.digest(), short.with_null_version().digest());
        assert_eq!(
            short.digest(),
            ObjectId::new("b-1", "k", None).unwrap().digest()
        );
    }

    #[test]
    fn canonical_keeps_separators_in_keys_and_versions_apart() {
        let id = ObjectId::new("b-1", "a|b|c", Some("v|1%".into())).unwrap();
        assert_eq!(id.canonical(), "b-1|v%7C1%25|a|b|c");
        assert_eq!(ObjectId::from_canonical(&id.canonical()).unwrap(), id);
    }

    #[test]
    fn rejects_bad_buckets_and_keys() {
        for bucket in [
            "",
            "ab",
            "Upper",
            "-lead",
            "trail-",
            "under_score",
            &"a".repeat(64),
        ] {
            assert!(
                matches!(
                    ObjectId::new(bucket, "k", None),
                    Err(ObjectIdError::InvalidBucket(_))
                ),
                "{bucket:?} accepted"
            );
        }
        assert_eq!(ObjectId::new("abc", "", None), Err(ObjectIdError::EmptyKey));
        assert_eq!(
            ObjectId::new("abc", "x".repeat(1025), None),
            Err(ObjectIdError::KeyTooLong(1025))
        );
        assert!(ObjectId::new("abc", "x".repeat(1024), None).is_ok());
    }

    #[test]
    fn form_and_percent_decoding_differ_only_on_plus() {
        assert_eq!(form_decode_key("a+b%2Bc").unwrap(), "a b+c");
        assert_eq!(percent_decode_key("a+b%2Bc").unwrap(), "a+b+c");
        assert_eq!(percent_decode_key("caf%C3%A9%20x").unwrap(), "café x");
        assert!(percent_decode_key("%FF").is_err());
        assert!(percent_decode_key("100%").is_err());
        assert!(percent_decode_key("%zz").is_err());
        assert_eq!(percent_decode_key("100%25").unwrap(), "100%");
        assert!(form_decode_key("%C3").is_err());
    }

    proptest! {
        #[test]
        fn canonical_round_trips(key in "\\PC{1,200}", version in proptest::option::of("[A-Za-z0-9._|%+/=-]{1,40}")) {
            let id = ObjectId::new("my.bucket-1", key, version).unwrap();
            prop_assert_eq!(ObjectId::from_canonical(&id.canonical()).unwrap(), id);
        }

        #[test]
        fn encodings_round_trip(key in "\\PC{1,200}") {
            prop_assert_eq!(form_decode_key(&form_encode_key(&key)).unwrap(), key.clone());
            prop_assert_eq!(percent_decode_key(&percent_encode_key(&key)).unwrap(), key);
        }

        #[test]
        fn decoders_never_panic(s in "\\PC{0,64}") {
            let _ = form_decode_key(&s);
            let _ = percent_decode_key(&s);
            let _ = ObjectId::from_canonical(&s);
        }
    }
}
