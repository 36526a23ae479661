//! estimate: what a create-job request would restore, cost and take, creating nothing.
//!
//! It takes the same body as create-job and checks it the same way (fields, the
//! manifest's bucket and existence), then reads the whole manifest, as registration
//! would, to count the objects. A CSV manifest carries no sizes, so `bytes` is null and
//! the per-GB fees are left out, and said to be (`gbr estimate --check-objects` finds
//! the sizes with a HeadObject per object).

use std::collections::{BTreeMap, HashSet};
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};

use super::ApiError;
use super::create_job::check_manifest;
use crate::ErrorName;
use crate::estimate::{ClassObjects, Estimate, EstimateInput, estimate};
use crate::list_source::{ListFile, read_range};
use crate::manifest::{self, ERRORS_LISTED, ManifestCursor, ManifestError};
use crate::ports::{ObjectMeta, PortError, Ports};
use crate::request::{CreateJobRequest, ManifestFormat};
use crate::settings::Settings;

/// Handles `POST /estimate`.
pub async fn estimate_job(
    ports: &Ports,
    settings: &Settings,
    body: &[u8],
) -> Result<Estimate, ApiError> {
    let request = CreateJobRequest::parse(body).map_err(|e| ApiError {
        fields: e.errors.clone(),
        ..ApiError::new(400, e.error_name(), e.to_string())
    })?;
    let meta = check_manifest(ports, settings, &request).await?;
    let objects = match request.manifest_format {
        ManifestFormat::Csv => count_csv(ports, settings, &request, &meta).await?,
    };
    Ok(estimate(&EstimateInput {
        classes: vec![ClassObjects {
            class: request.storage_class,
            objects,
            bytes: None,
        }],
        skipped_by_reason: BTreeMap::new(),
        expiration_days: request.expiration_days,
        tier: request.tier,
        region: settings.region.clone(),
    }))
}

/// The distinct objects of a CSV manifest, read through in ranges as registration reads
/// it. Distinct by a 64-bit hash of each object id, so a million objects take 8 MB
/// rather than their keys' size; two ids sharing a hash (odds near 1 in 10^7 at a
/// million) would count once, which an estimate can bear. A manifest registration
/// would refuse (malformed lines, no objects) is refused here the same way.
async fn count_csv(
    ports: &Ports,
    settings: &Settings,
    request: &CreateJobRequest,
    meta: &ObjectMeta,
) -> Result<u64, ApiError> {
    let file = ListFile::new(&request.bucket, &request.key);
    let hasher = BuildHasherDefault::<DefaultHasher>::default();
    let mut seen = HashSet::new();
    let mut malformed = 0u64;
    let mut errors = Vec::new();
    let mut at = ManifestCursor::default();
    while at.byte < meta.size {
        let range = read_range(
            &*ports.source,
            &file,
            meta,
            at.byte,
            settings.read_chunk_bytes,
        )
        .await
        .map_err(|e| unreadable(&file, e))?;
        let chunk = manifest::read_chunk(
            &range.bytes,
            &at,
            range.ends_file,
            u64::MAX,
            settings.allowed_buckets.as_deref(),
        );
        for row in chunk.rows {
            match row {
                Ok(row) => {
                    seen.insert(hasher.hash_one(&row.object));
                }
                Err(e) => {
                    malformed += 1;
                    if errors.len() < ERRORS_LISTED {
                        errors.push(e);
                    }
                }
            }
        }
        if chunk.stopped || chunk.finished {
            break;
        }
        at = chunk.next;
    }
    let refused = match (malformed, seen.len()) {
        (0, 0) => ManifestError::Empty,
        (0, n) => return Ok(n as u64),
        (count, _) => ManifestError::malformed(count, errors),
    };
    Err(ApiError::new(
        400,
        refused.error_type().as_str(),
        format!(
            "{}: {refused}; a job for it would fail, so fix the manifest first",
            file.location()
        ),
    ))
}

fn unreadable(file: &ListFile, e: PortError) -> ApiError {
    match e {
        PortError::Retryable(m) => ApiError::new(
            503,
            "ServiceUnavailable",
            format!(
                "the manifest {} could not be read for now ({m}); try again",
                file.location()
            ),
        ),
        other => ApiError::new(
            400,
            "ManifestUnreadable",
            format!("the manifest {} cannot be read: {other}", file.location()),
        ),
    }
}
