//! `gbr create`: checks and uploads a local manifest when given one, then creates the
//! job. A person at a terminal sees the estimate first and is asked before anything
//! is uploaded or created; scripts (no terminal, or --json) are never asked.

use std::io::{self, BufRead, IsTerminal, Write};
use std::process::ExitCode;

use super::job::{
    CSV_SIZE_UNKNOWN, DEPLOYMENT_REGION, INVENTORY_SIZE_UNKNOWN, JobManifest, LISTING_SIZE_UNKNOWN,
};
use super::{job, note, say};
use crate::api_client::{Answer, ApiClient, Created, ManifestFormat};
use crate::args::CreateArgs;
use crate::error::CliError;
use crate::manifest_upload::upload;
use crate::render::{self, EstimateNotes};
use gbr_core::estimate::Estimate;

pub async fn run(client: &ApiClient, args: CreateArgs, json: bool) -> Result<ExitCode, CliError> {
    let ask = asks_first(
        io::stdin().is_terminal(),
        io::stderr().is_terminal(),
        json,
        args.yes,
    );
    let job = args.job;
    // Kept to list it from here if the API cannot within its time limit.
    let mut prefix = None;
    let (body, size_unknown) = match job.job_manifest()? {
        JobManifest::S3Csv(location) => (job.request(&location, None), CSV_SIZE_UNKNOWN),
        JobManifest::Inventory(location) => (
            job.request(&location, Some(ManifestFormat::Inventory)),
            INVENTORY_SIZE_UNKNOWN,
        ),
        JobManifest::Prefix(location) => {
            prefix = Some(location.clone());
            (job.filter_request(&location), LISTING_SIZE_UNKNOWN)
        }
        JobManifest::LocalCsv {
            file,
            upload_to: Some(to),
        } => {
            let summary = job::check_local(&file, "nothing was uploaded")?;
            if ask {
                job.check_expiration_days()?;
                let region = job.price_region();
                let estimate = job.csv_estimate(summary.objects, &region.name);
                let notes = EstimateNotes {
                    size_unknown: CSV_SIZE_UNKNOWN,
                    region_from: region.from,
                };
                confirm(&estimate, notes)?;
            }
            let to = to.for_file(&file)?;
            upload(&file, &to, job.aws_endpoint_url.as_deref()).await?;
            note(format!("uploaded {} to {to}", file.display()));
            let body = job.request(&to, None);
            return created(client.create_job(&body).await?, json);
        }
        // clap requires --upload-to with create's --file.
        JobManifest::LocalCsv {
            upload_to: None, ..
        } => {
            return Err(CliError::Usage(
                "--file needs --upload-to s3://bucket/prefix/: a job reads its manifest from S3"
                    .into(),
            ));
        }
    };
    if ask {
        match (client.estimate(&body).await, &prefix) {
            (Ok(estimate), _) => {
                let notes = EstimateNotes {
                    size_unknown,
                    region_from: DEPLOYMENT_REGION,
                };
                confirm(&estimate.value, notes)?;
            }
            // Too many keys for the API's time limit: listed from here instead.
            (Err(e), Some(prefix)) if e.is_list_too_long() => {
                let (estimate, region) = job
                    .estimate_listed_here(prefix)
                    .await
                    .map_err(|e| CliError::NotEstimated(e.to_string()))?;
                let notes = EstimateNotes {
                    size_unknown,
                    region_from: region.from,
                };
                confirm(&estimate, notes)?;
            }
            (Err(e), _) => return Err(e.into()),
        }
    }
    created(client.create_job(&body).await?, json)
}

/// Shows the job created.
fn created(answer: Answer<Created>, json: bool) -> Result<ExitCode, CliError> {
    if json {
        say(&answer.raw)?;
        return Ok(ExitCode::SUCCESS);
    }
    let created = &answer.value;
    let batch = created
        .batch_operation
        .get("JobId")
        .and_then(|id| id.as_str())
        .map_or_else(|| "not submitted yet".to_owned(), str::to_owned);
    let mut text = format!("created job {}\n", created.bulk_job_id);
    if !created.execution_arn.is_empty() {
        text.push_str(&format!("  execution  {}\n", created.execution_arn));
    }
    text.push_str(&format!("  batch job  {batch}\n"));
    text.push_str(&format!("  events     SNS topic {}\n", created.sns_topic));
    text.push_str(&format!(
        "follow it with: gbr watch {}",
        created.bulk_job_id
    ));
    say(text)?;
    Ok(ExitCode::SUCCESS)
}

/// Whether create shows the estimate and asks first: only when a person can read the
/// question and answer it (standard input and error are terminals), not for `--json`
/// (output for programs), and not with `--yes`.
fn asks_first(stdin_is_terminal: bool, stderr_is_terminal: bool, json: bool, yes: bool) -> bool {
    stdin_is_terminal && stderr_is_terminal && !json && !yes
}

/// `y` or `yes`, in any case; anything else, an empty line included, is a no.
fn accepts(answer: &str) -> bool {
    let answer = answer.trim();
    answer.eq_ignore_ascii_case("y") || answer.eq_ignore_ascii_case("yes")
}

/// Shows the estimate on standard error, so standard output stays the job, and asks.
fn confirm(estimate: &Estimate, notes: EstimateNotes<'_>) -> Result<(), CliError> {
    let mut err = io::stderr().lock();
    writeln!(err, "{}\n", render::estimate(estimate, notes))?;
    write!(err, "Create this job? [y/N] ")?;
    err.flush()?;
    drop(err);
    let mut answer = String::new();
    io::stdin().lock().read_line(&mut answer)?;
    if accepts(&answer) {
        Ok(())
    } else {
        Err(CliError::NotConfirmed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_person_at_a_terminal_is_asked() {
        assert!(asks_first(true, true, false, false));
        assert!(!asks_first(true, true, false, true), "--yes");
        assert!(!asks_first(true, true, true, false), "--json");
        assert!(!asks_first(false, true, false, false), "stdin piped");
        assert!(!asks_first(true, false, false, false), "stderr redirected");
    }

    #[test]
    fn a_prefix_that_cannot_be_estimated_says_how_to_create_it_anyway() {
        let listing = CliError::NotListed {
            location: "s3://b-1/".into(),
            message: "AccessDenied".into(),
        };
        let text = CliError::NotEstimated(listing.to_string()).to_string();
        assert!(
            text.contains("s3://b-1/ cannot be listed from here: AccessDenied"),
            "{text}"
        );
        assert!(text.contains("--yes"), "{text}");
    }

    #[test]
    fn only_y_or_yes_creates() {
        for yes in ["y\n", "Y\n", "yes\n", " YES \r\n", "yEs"] {
            assert!(accepts(yes), "{yes:?}");
        }
        for no in ["", "\n", "n\n", "no\n", "yess\n", "y es\n", "ok\n", "1\n"] {
            assert!(!accepts(no), "{no:?}");
        }
    }
}
