//! `gbr estimate`: what a job would restore, cost and take, creating nothing.
//!
//! A local `--file` is counted and priced here, so it needs no API and no upload. A
//! manifest in S3 is estimated by the API (`POST /estimate`), which checks the request
//! as create-job does. `--check-objects` HEADs every object of a CSV manifest and
//! prices what it finds here; for a manifest in S3 the API is asked first, so the
//! request is checked and the deployment's region priced. A `--prefix` is listed by
//! the API, which finds each object's class and size; one with more keys than the API
//! lists within its time limit is listed from here.

use std::fmt::Write as _;
use std::io::{IsTerminal, stderr};
use std::process::ExitCode;

use gbr_core::estimate::{Estimate, estimate};
use gbr_core::manifest::{ManifestCheck, ManifestReader, check_manifest};
use indicatif::{ProgressBar, ProgressStyle};

use super::job::{
    CSV_SIZE_UNKNOWN, DEPLOYMENT_REGION, INVENTORY_SIZE_UNKNOWN, JobManifest, LISTING_SIZE_UNKNOWN,
    check_local, refuse_invalid,
};
use super::{note, say};
use crate::api_client::{Answer, ApiClient, ManifestFormat};
use crate::args::{EstimateArgs, JobArgs};
use crate::error::CliError;
use crate::manifest_upload::{download, s3_client};
use crate::object_heads::{HeadTally, ObjectHeads, S3Heads, head_all};
use crate::render::{self, EstimateNotes, binary_size, count};

/// What an invalid manifest stops.
const NOTHING_ESTIMATED: &str = "nothing was estimated";
/// Why sizes can be unknown after the objects were looked at.
const SIZES_NOT_GIVEN: &str = "S3 gave no size for some objects";

pub async fn run(
    connect: impl FnOnce() -> Result<ApiClient, CliError>,
    args: EstimateArgs,
    json: bool,
) -> Result<ExitCode, CliError> {
    let EstimateArgs {
        job,
        check_objects,
        concurrency,
    } = args;
    let concurrency = usize::from(concurrency);
    match job.job_manifest()? {
        JobManifest::LocalCsv { file, .. } => {
            job.check_expiration_days()?;
            let region = job.price_region();
            if !check_objects {
                let summary = check_local(&file, NOTHING_ESTIMATED)?;
                let estimate = job.csv_estimate(summary.objects, &region.name);
                let notes = EstimateNotes {
                    size_unknown: CSV_SIZE_UNKNOWN,
                    region_from: region.from,
                };
                return show_estimate(&estimate, notes, json);
            }
            let bytes = std::fs::read(&file).map_err(|e| CliError::Unreadable {
                path: file.display().to_string(),
                message: e.to_string(),
            })?;
            let heads = S3Heads::new(s3_client(job.aws_endpoint_url.as_deref()).await);
            let name = file.display().to_string();
            let tally = head_manifest(&bytes, &name, &heads, concurrency).await?;
            show_checked(&job, &tally, &region.name, region.from, json)
        }
        JobManifest::S3Csv(location) => {
            let answer = connect()?.estimate(&job.request(&location, None)).await?;
            if !check_objects {
                return show_answer(&answer, CSV_SIZE_UNKNOWN, json);
            }
            let s3 = s3_client(job.aws_endpoint_url.as_deref()).await;
            let bytes = download(&s3, &location.bucket, &location.key).await?;
            let heads = S3Heads::new(s3);
            let tally = head_manifest(&bytes, &location.to_string(), &heads, concurrency).await?;
            let region = &answer.value.prices.requested_region;
            show_checked(&job, &tally, region, DEPLOYMENT_REGION, json)
        }
        // clap keeps --check-objects from --inventory: a report lists classes and sizes.
        JobManifest::Inventory(location) => {
            let body = job.request(&location, Some(ManifestFormat::Inventory));
            let answer = connect()?.estimate(&body).await?;
            show_answer(&answer, INVENTORY_SIZE_UNKNOWN, json)
        }
        // clap keeps --check-objects from --prefix too: the API's listing has sizes.
        JobManifest::Prefix(prefix) => {
            match connect()?.estimate(&job.filter_request(&prefix)).await {
                Ok(answer) => show_answer(&answer, LISTING_SIZE_UNKNOWN, json),
                // Too many keys for the API's time limit: listed from here instead.
                Err(e) if e.is_list_too_long() => {
                    job.check_expiration_days()?;
                    let (estimate, region) = job.estimate_listed_here(&prefix).await?;
                    let notes = EstimateNotes {
                        size_unknown: LISTING_SIZE_UNKNOWN,
                        region_from: region.from,
                    };
                    show_estimate(&estimate, notes, json)
                }
                Err(e) => Err(e.into()),
            }
        }
    }
}

/// HEADs every distinct object of the CSV manifest `bytes` (named `name`); an invalid
/// manifest is refused first, as create refuses it.
async fn head_manifest(
    bytes: &[u8],
    name: &str,
    heads: &impl ObjectHeads,
    concurrency: usize,
) -> Result<HeadTally, CliError> {
    let summary = check_manifest(bytes);
    refuse_invalid(name, &summary, NOTHING_ESTIMATED)?;
    let progress = if stderr().is_terminal() {
        ProgressBar::new(summary.objects).with_style(
            ProgressStyle::with_template("HEAD {bar:40} {pos}/{len} {per_sec} eta {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        )
    } else {
        ProgressBar::hidden()
    };
    let mut distinct = ManifestCheck::new();
    let objects = ManifestReader::new(bytes).filter_map(move |item| {
        let repeated = distinct.add(&item).is_some();
        item.ok().filter(|_| !repeated).map(|row| row.object)
    });
    let tally = head_all(heads, objects, concurrency, &progress).await;
    progress.finish_and_clear();
    let tally = tally?;
    if tally.unanswered > 0 {
        note(format!(
            "warning: S3 did not answer for {} object(s) (see \"not checked\"): they are \
             counted as skipped, so the estimate leaves out their restore",
            count(tally.unanswered)
        ));
    }
    Ok(tally)
}

/// The estimate of what the HEADs found, after the classes found, in text.
fn show_checked(
    job: &JobArgs,
    tally: &HeadTally,
    region: &str,
    region_from: &str,
    json: bool,
) -> Result<ExitCode, CliError> {
    let estimate = estimate(&tally.estimate_input(job.tier.into(), job.expiration_days, region));
    if !json {
        say(classes_found(tally))?;
    }
    let notes = EstimateNotes {
        size_unknown: SIZES_NOT_GIVEN,
        region_from,
    };
    show_estimate(&estimate, notes, json)
}

/// `HEAD of 12 objects:` then a line per storage class found.
fn classes_found(tally: &HeadTally) -> String {
    let mut text = format!("HEAD of {} objects:", count(tally.objects));
    let width = tally.by_class.keys().map(String::len).max().unwrap_or(0);
    for (class, found) in &tally.by_class {
        let size = found.bytes.map_or_else(
            || "size unknown".to_owned(),
            |b| format!("{} bytes ({})", count(b), binary_size(b)),
        );
        let _ = write!(
            text,
            "\n  {class:<width$}  {} objects, {size}",
            count(found.objects)
        );
    }
    text.push('\n');
    text
}

/// An estimate made here: as JSON in the API's shape, or as text.
fn show_estimate(
    estimate: &Estimate,
    notes: EstimateNotes<'_>,
    json: bool,
) -> Result<ExitCode, CliError> {
    if json {
        let text = serde_json::to_string(estimate).map_err(std::io::Error::other)?;
        say(text)?;
    } else {
        say(render::estimate(estimate, notes))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The API's estimate: its JSON as sent, or as text.
fn show_answer(
    answer: &Answer<Estimate>,
    size_unknown: &str,
    json: bool,
) -> Result<ExitCode, CliError> {
    if json {
        say(&answer.raw)?;
    } else {
        let notes = EstimateNotes {
            size_unknown,
            region_from: DEPLOYMENT_REGION,
        };
        say(render::estimate(&answer.value, notes))?;
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object_heads::Head;

    #[test]
    fn the_classes_found_are_listed_with_their_sizes() {
        let mut tally = HeadTally::default();
        for (class, size) in [("GLACIER", 1_500), ("STANDARD", 20), ("GLACIER", 548)] {
            tally.add(Head::Object {
                storage_class: class.into(),
                size: Some(size),
                archive_status: None,
            });
        }
        tally.add(Head::Missing);
        assert_eq!(
            classes_found(&tally),
            "HEAD of 4 objects:\n  GLACIER   2 objects, 2,048 bytes (2.00 KiB)\n  \
             STANDARD  1 objects, 20 bytes (20 B)\n"
        );
    }
}
