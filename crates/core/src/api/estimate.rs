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
use crate::estimate::{ClassObjects, Estimate, EstimateInput, estimate};
use crate::filter::{ObjectFilter, Unselected};
use crate::inventory::{
    self, InventoryCursor, InventoryError, InventoryManifest, MAX_MANIFEST_JSON_BYTES, RowDecision,
};
use crate::list_source::{ListFile, open_data_file, read_range, read_whole};
use crate::manifest::{self, ERRORS_LISTED, ManifestCursor, ManifestError};
use crate::ports::{ObjectMeta, ObjectSource, PortError, Ports};
use crate::request::{CreateJobRequest, ManifestFormat, StorageClass};
use crate::settings::Settings;
use crate::{ErrorName, LambdaErrorType};

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
    let (classes, skipped_by_reason) = match (request.manifest_format, &request.filter) {
        (ManifestFormat::Generated, Some(filter)) => {
            scan_listing(ports, filter, settings.estimate_list_pages).await?
        }
        (ManifestFormat::Generated, None) => {
            return Err(ApiError::new(
                400,
                "InvalidRequest",
                "a generated list needs a filter".into(),
            ));
        }
        (ManifestFormat::Csv, _) => {
            let objects = count_csv(ports, settings, &request, &meta).await?;
            let classes = vec![ClassObjects {
                class: request.storage_class,
                objects,
                bytes: None,
            }];
            (classes, BTreeMap::new())
        }
        (ManifestFormat::Inventory, _) => scan_inventory(ports, settings, &request, &meta).await?,
    };
    Ok(estimate(&EstimateInput {
        classes,
        skipped_by_reason,
        expiration_days: request.expiration_days,
        tier: request.tier,
        region: settings.region.clone(),
    }))
}

/// ListObjectsV2 pages an estimate reads at most, 1,000 keys each: S3 answers a page in
/// tens of milliseconds, so 200 fit in API Gateway's 29 seconds with room to spare.
pub const MAX_ESTIMATE_LIST_PAGES: usize = 200;

/// What a listing under a filter found: the objects it selects by class with their
/// bytes, and those it matches that need no restore, by class.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Listed {
    pub classes: Vec<ClassObjects>,
    pub skipped: BTreeMap<String, u64>,
    /// Keys listed, selected or not.
    pub keys: u64,
}

/// Why a listing stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListingStopped {
    /// `max_pages` pages were read and more keys follow.
    TooLong {
        keys: u64,
    },
    Failed(PortError),
}

/// Lists a filter's prefix with ListObjectsV2 and applies the generator's rule
/// ([`ObjectFilter::selects`]): S3 generates the job's own list the same way, so the
/// two agree unless the bucket changes in between. `listed` is told the keys listed so
/// far after each page (for progress output).
pub async fn list_filter(
    source: &dyn ObjectSource,
    filter: &ObjectFilter,
    max_pages: usize,
    listed: &mut (dyn FnMut(u64) + Send),
) -> Result<Listed, ListingStopped> {
    let mut classes: BTreeMap<&str, ClassObjects> = BTreeMap::new();
    let mut skipped = BTreeMap::new();
    let mut keys = 0u64;
    let mut after: Option<String> = None;
    for _ in 0..max_pages {
        let page = source
            .list_page(&filter.bucket, filter.prefix(), after.as_deref())
            .await
            .map_err(ListingStopped::Failed)?;
        keys += page.items.len() as u64;
        for object in &page.items {
            match filter.selects(object) {
                Ok(()) => {
                    let class = match object.storage_class.as_str() {
                        "GLACIER" => StorageClass::Glacier,
                        _ => StorageClass::DeepArchive,
                    };
                    let entry = classes.entry(class.as_str()).or_insert(ClassObjects {
                        class,
                        objects: 0,
                        bytes: Some(0),
                    });
                    entry.objects += 1;
                    entry.bytes = entry.bytes.map(|b| b.saturating_add(object.size));
                }
                Err(Unselected::Class(class)) => *skipped.entry(class).or_default() += 1,
                Err(Unselected::NotAsked) => {}
            }
        }
        listed(keys);
        match page.next {
            Some(next) => after = Some(next),
            None => {
                return Ok(Listed {
                    classes: classes.into_values().collect(),
                    skipped,
                    keys,
                });
            }
        }
    }
    Err(ListingStopped::TooLong { keys })
}

/// The estimate's listing, within the API's time.
async fn scan_listing(
    ports: &Ports,
    filter: &ObjectFilter,
    max_pages: usize,
) -> Result<(Vec<ClassObjects>, BTreeMap<String, u64>), ApiError> {
    match list_filter(&*ports.source, filter, max_pages, &mut |_| {}).await {
        Ok(listed) => Ok((listed.classes, listed.skipped)),
        Err(ListingStopped::TooLong { keys }) => Err(ApiError::new(
            422,
            "ListTooLong",
            format!(
                "{} holds more than {keys} keys, too many to list within the API's time limit; `gbr estimate --prefix` lists it from your machine instead, or estimate a narrower prefix, or create the job (S3 lists it then)",
                filter.location(),
            ),
        )),
        Err(ListingStopped::Failed(PortError::Retryable(m))) => {
            Err(ApiError::unavailable(format!(
                "{} could not be listed for now ({m}); try again",
                filter.location()
            )))
        }
        Err(ListingStopped::Failed(other)) => Err(ApiError::new(
            400,
            "ManifestUnreadable",
            format!("{} cannot be listed: {other}", filter.location()),
        )),
    }
}

/// An S3 Inventory report's archived objects by class, with their bytes when the
/// report has a `Size` column, and its skipped rows by reason, read through as
/// registration reads them. Rows without a `StorageClass` column take the request's.
async fn scan_inventory(
    ports: &Ports,
    settings: &Settings,
    request: &CreateJobRequest,
    meta: &ObjectMeta,
) -> Result<(Vec<ClassObjects>, BTreeMap<String, u64>), ApiError> {
    let report = ListFile::new(&request.bucket, &request.key);
    let json = read_whole(
        &*ports.source,
        &report,
        meta,
        settings.read_chunk_bytes,
        MAX_MANIFEST_JSON_BYTES,
    )
    .await
    .map_err(|e| unreadable(&report, e))?;
    let manifest = InventoryManifest::parse(&json).map_err(|e| unusable(&report, &e))?;
    let mut classes: BTreeMap<&str, ClassObjects> = BTreeMap::new();
    let mut skipped = BTreeMap::new();
    let mut malformed = 0u64;
    let mut errors = Vec::new();
    for (file, listed) in manifest.list_files().iter().zip(&manifest.files) {
        let mut gunzip = open_data_file(
            &*ports.source,
            file,
            Some(listed.size),
            settings.read_chunk_bytes,
        )
        .await
        .map_err(|e| unreadable(file, e))?;
        let mut at = InventoryCursor::default();
        loop {
            let range = gunzip
                .read_range(at.byte, settings.read_chunk_bytes)
                .map_err(|e| unusable(file, &e))?;
            let chunk = inventory::read_chunk(
                &manifest,
                &file.key,
                &range.bytes,
                &at,
                range.ends_file,
                u64::MAX,
                settings.allowed_buckets.as_deref(),
            );
            for row in chunk.rows {
                match row.map(|r| r.decision) {
                    Ok(RowDecision::Restore {
                        size,
                        storage_class,
                        ..
                    }) => {
                        let class = storage_class.unwrap_or(request.storage_class);
                        let entry = classes.entry(class.as_str()).or_insert(ClassObjects {
                            class,
                            objects: 0,
                            bytes: Some(0),
                        });
                        entry.objects += 1;
                        entry.bytes = entry.bytes.zip(size).map(|(a, b)| a.saturating_add(b));
                    }
                    Ok(RowDecision::Skip { reason }) => {
                        *skipped.entry(reason.label().to_owned()).or_default() += 1;
                    }
                    Err(e) => {
                        malformed += 1;
                        if errors.len() < ERRORS_LISTED {
                            errors.push(e.to_string());
                        }
                    }
                }
            }
            if chunk.stopped || chunk.finished {
                break;
            }
            at = chunk.next;
        }
    }
    if malformed > 0 {
        return Err(ApiError::new(
            400,
            LambdaErrorType::ManifestMalformed.as_str(),
            format!(
                "the inventory report {} has {malformed} malformed line(s): {}; a job for it would fail",
                report.location(),
                errors.join("; ")
            ),
        ));
    }
    Ok((classes.into_values().collect(), skipped))
}

fn unusable(file: &ListFile, e: &InventoryError) -> ApiError {
    ApiError::new(
        400,
        "ManifestUnreadable",
        format!(
            "the inventory report cannot be used ({}): {e}",
            file.location()
        ),
    )
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
