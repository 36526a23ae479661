//! Idempotent creates: a client token names its job, and a fingerprint of the request
//! tells a retry (the same request again) from a reuse of the token for another one.
//!
//! The job id is derived from the token alone, so two concurrent creates with one token
//! race for one job record (a conditional write) and one execution (named by the job
//! id): both answer with the same job, whichever wins.

use std::fmt::Write;

use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::request::CreateJobRequest;

/// The UUID v5 namespace of job ids derived from client tokens. Fixed for good: another
/// namespace would give a retried request a new job.
const TOKEN_NAMESPACE: Uuid = Uuid::from_u128(0x235f_747f_43f7_41c4_993d_b805_a272_b48c);

/// The job id of a client token (a UUID v5, so it looks like any other job id and
/// never collides with the random v4 ids of jobs created without a token).
pub fn job_id_for_token(token: &str) -> String {
    Uuid::new_v5(&TOKEN_NAMESPACE, token.as_bytes()).to_string()
}

/// SHA-256 (hex) of the request as parsed: defaults filled in, tier and storage class
/// in their canonical spelling, serialized in the struct's field order, without the
/// token. Two bodies that mean the same job (`"tier": "bulk"` and `"BULK"`, fields in
/// another order) have the same fingerprint. The progress step is taken as the client
/// sent it, absent or not, so a change of the deployment's default step never turns a
/// retry into a conflict.
pub fn fingerprint(request: &CreateJobRequest) -> String {
    let normalized = CreateJobRequest {
        client_token: None,
        ..request.clone()
    };
    // Strings, numbers and unit enums only: serializing cannot fail.
    let canonical = serde_json::to_vec(&normalized).unwrap_or_default();
    Sha256::digest(&canonical)
        .iter()
        .fold(String::with_capacity(64), |mut hex, byte| {
            let _ = write!(hex, "{byte:02x}");
            hex
        })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn request(body: serde_json::Value) -> CreateJobRequest {
        CreateJobRequest::from_json(&body).unwrap()
    }

    #[test]
    fn a_token_always_names_the_same_v5_job_id() {
        let id = job_id_for_token("retry-1");
        assert_eq!(id, job_id_for_token("retry-1"));
        assert_ne!(id, job_id_for_token("retry-2"));
        assert_eq!(Uuid::parse_str(&id).unwrap().get_version_num(), 5);
    }

    #[test]
    fn the_fingerprint_ignores_spelling_order_and_the_token() {
        let a = request(json!({"bucket": "b-1", "key": "m.csv", "tier": "bulk",
            "expiration_days": 2, "client_token": "t1"}));
        let b = request(json!({"expiration_days": 2, "tier": "BULK", "key": "m.csv",
            "bucket": "b-1", "storage_class": "deep_archive"}));
        assert_eq!(fingerprint(&a), fingerprint(&b));
        assert_eq!(fingerprint(&a).len(), 64);
        let c = request(json!({"bucket": "b-1", "key": "m.csv", "tier": "bulk",
            "expiration_days": 3}));
        assert_ne!(fingerprint(&a), fingerprint(&c));
    }
}
