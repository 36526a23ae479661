//! `gbr create`: checks and uploads a local manifest when given one, then creates the job.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::process::ExitCode;

use gbr_core::manifest::check_manifest;

use super::manifest_check::write_report;
use super::{note, say};
use crate::api_client::{ApiClient, CreateJob};
use crate::args::CreateArgs;
use crate::error::CliError;
use crate::manifest_upload::{S3Location, upload};

pub async fn run(client: &ApiClient, args: CreateArgs, json: bool) -> Result<ExitCode, CliError> {
    let manifest = match (args.manifest, args.file, args.upload_to) {
        (Some(manifest), _, _) => manifest,
        (None, Some(file), Some(to)) => {
            check_local(&file)?;
            let to = to.for_file(&file)?;
            upload(&file, &to, args.aws_endpoint_url.as_deref()).await?;
            note(format!("uploaded {} to {to}", file.display()));
            to
        }
        // clap requires one of them, and --upload-to with --file.
        _ => {
            return Err(CliError::Usage(
                "give --manifest s3://bucket/key, or --file FILE --upload-to s3://bucket/prefix/"
                    .into(),
            ));
        }
    };
    let S3Location { bucket, key } = manifest;
    let body = CreateJob {
        bucket,
        key,
        tier: args.tier.into(),
        expiration_days: args.expiration_days,
        client_tag: args.client_tag,
        client_token: args.client_token,
        deadline_hours: args.deadline_hours,
        progress_step_percent: args.progress_step,
        storage_class: args.storage_class.map(Into::into),
    };
    let answer = client.create_job(&body).await?;
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

/// Checks a local manifest as `gbr manifest check` does; an invalid one is refused
/// with its report on standard error.
fn check_local(path: &Path) -> Result<(), CliError> {
    let file = File::open(path).map_err(|e| CliError::Unreadable {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    let summary = check_manifest(BufReader::new(file));
    if let Err(e) = summary.validate() {
        let mut report = Vec::new();
        write_report(&mut report, path, &summary)?;
        eprint!("{}", String::from_utf8_lossy(&report));
        return Err(CliError::InvalidManifest {
            path: path.display().to_string(),
            reason: e.to_string(),
        });
    }
    note(format!(
        "checked {}: {} objects in {} bucket(s), {} duplicate row(s)",
        path.display(),
        summary.objects,
        summary.buckets.len(),
        summary.duplicates.len()
    ));
    Ok(())
}
