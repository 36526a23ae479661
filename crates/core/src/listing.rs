//! Listing jobs: their order and the page token that resumes a listing.
//!
//! Jobs are listed newest first: by `created_at`, then by job id, both descending (the
//! job id only breaks ties). A page token is the position of the last job of a page,
//! opaque to callers (base64url of a small JSON object), so every store can resume from
//! it without keeping state, and callers cannot come to rely on its contents.

use std::cmp::Ordering;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::job::JobRecord;

/// A token this long is not one of ours: refuse it before decoding.
const MAX_TOKEN_CHARS: usize = 1024;

/// A token that no listing gave out.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("next_token is not a token this API gave out ({0}); list again without it")]
pub struct InvalidCursor(String);

/// The position of a job in the newest-first order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListCursor {
    pub created_at: Timestamp,
    pub job_id: String,
}

impl ListCursor {
    /// The position of `job`: a listing resumed from it starts with the next older job.
    pub fn of(job: &JobRecord) -> Self {
        Self {
            created_at: job.created_at,
            job_id: job.job_id.clone(),
        }
    }

    pub fn encode(&self) -> String {
        // A timestamp and a string: serializing cannot fail.
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    pub fn decode(token: &str) -> Result<Self, InvalidCursor> {
        if token.is_empty() || token.len() > MAX_TOKEN_CHARS {
            return Err(InvalidCursor(format!("{} characters long", token.len())));
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(token)
            .map_err(|_| InvalidCursor("not base64url".into()))?;
        let cursor: Self = serde_json::from_slice(&bytes)
            .map_err(|_| InvalidCursor("not a listing position".into()))?;
        if cursor.job_id.is_empty() {
            return Err(InvalidCursor("no job id".into()));
        }
        Ok(cursor)
    }

    /// Whether `job` comes after this position, newest first.
    pub fn is_before(&self, job: &JobRecord) -> bool {
        (job.created_at, job.job_id.as_str()) < (self.created_at, self.job_id.as_str())
    }
}

/// Newest first: the order of every listing.
pub fn newest_first(a: &JobRecord, b: &JobRecord) -> Ordering {
    (b.created_at, &b.job_id).cmp(&(a.created_at, &a.job_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_through_its_token() {
        let cursor = ListCursor {
            created_at: Timestamp::new(1_800_000_000, 5).unwrap(),
            job_id: "0b7d3ad4-2d5b-4c5e-9a43-3f6f0c1c1e11".into(),
        };
        let token = cursor.encode();
        assert!(
            token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "{token}"
        );
        assert_eq!(ListCursor::decode(&token).unwrap(), cursor);
    }

    #[test]
    fn anything_else_is_refused() {
        let json_not_cursor = URL_SAFE_NO_PAD.encode(br#"{"a": 1}"#);
        let bad_time = URL_SAFE_NO_PAD.encode(br#"{"created_at": "yesterday", "job_id": "j"}"#);
        let no_id =
            URL_SAFE_NO_PAD.encode(br#"{"created_at": "2026-01-01T00:00:00Z", "job_id": ""}"#);
        for token in [
            "",
            "!!!",
            "bm90IGpzb24",
            &json_not_cursor,
            &bad_time,
            &no_id,
            &"A".repeat(2000),
        ] {
            let err = ListCursor::decode(token).unwrap_err();
            assert!(err.to_string().contains("next_token"), "{err}");
        }
    }
}
