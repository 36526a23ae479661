//! The command line: subcommands, flags and what each means.

use std::path::PathBuf;

use clap::builder::{NonEmptyStringValueParser, PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand, ValueEnum};
use gbr_core::request::{StorageClass, Tier};
use gbr_core::status::JobStatus;

use crate::commands::report::ReportSource;
use crate::manifest_upload::S3Location;

#[derive(Parser)]
#[command(
    name = "gbr",
    version,
    about = "Restore large sets of objects from S3 Glacier and Deep Archive",
    after_help = "The API endpoint and key come from --endpoint/--api-key, else GBR_ENDPOINT/GBR_API_KEY, \
                  else `endpoint` and `api_key` in $XDG_CONFIG_HOME/gbr/config.toml (~/.config/gbr/config.toml).\n\
                  Exit codes: 0 success (watch: Complete), 1 error, 2 bad usage, \
                  and for watch 3 Failed, 4 Timeout, 5 Cancelled."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// The API's URL (e.g. https://abc.execute-api.us-east-1.amazonaws.com/prod, or the
    /// URL `gbr-local up` prints). Else GBR_ENDPOINT, else the config file.
    #[arg(long, global = true, value_name = "URL")]
    pub endpoint: Option<String>,
    /// The API key (sent as x-api-key). Else GBR_API_KEY, else the config file.
    #[arg(long, global = true, value_name = "KEY")]
    pub api_key: Option<String>,
    /// Print the API's answer as JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Subcommand)]
pub enum Command {
    /// Start a bulk restore from a manifest in S3, or from a local file uploaded first.
    Create(CreateArgs),
    /// Show where a job stands.
    Status {
        /// The job's id (BulkJobId).
        #[arg(value_parser = NonEmptyStringValueParser::new())]
        job_id: String,
    },
    /// Cancel a job that is still running.
    Cancel {
        /// The job's id (BulkJobId).
        #[arg(value_parser = NonEmptyStringValueParser::new())]
        job_id: String,
    },
    /// List jobs, newest first.
    List(ListArgs),
    /// Follow a job until it ends; the exit code tells how it ended
    /// (0 Complete, 3 Failed, 4 Timeout, 5 Cancelled).
    Watch {
        /// The job's id (BulkJobId).
        #[arg(value_parser = NonEmptyStringValueParser::new())]
        job_id: String,
        /// Seconds between two polls.
        #[arg(long, value_name = "SECS", default_value_t = 5.0, value_parser = parse_interval)]
        interval: f64,
    },
    /// Summarise a Batch Operations completion report: tasks by outcome and error code,
    /// and each failed object. Exits 0 when it could be read, 1 when some of it is
    /// malformed (naming the file and row), 2 when it cannot be read.
    /// With --json: one JSON object per task, then one summary object.
    Report {
        /// The folder holding the report's manifest.json (as `aws s3 cp --recursive`
        /// copies it), or s3://bucket/prefix/job-ID/.
        #[arg(value_name = "PATH|S3_URL", value_parser = ReportSource::parse)]
        source: ReportSource,
        /// S3 endpoint for an s3:// report (e.g. the local stack's moto).
        #[arg(long, env = "AWS_ENDPOINT_URL", value_name = "URL")]
        aws_endpoint_url: Option<String>,
    },
    /// Work with Batch Operations manifests.
    Manifest {
        #[command(subcommand)]
        command: ManifestCommand,
    },
}

#[derive(Subcommand)]
pub enum ManifestCommand {
    /// Check a CSV manifest before paying for a batch job: counts objects, buckets and
    /// duplicates and lists every malformed line. Exits 0 only when it is valid.
    /// With --json: one JSON object per distinct object, then one summary object.
    Check {
        /// The manifest file (`bucket,key[,version_id]` rows, keys URL-encoded).
        file: PathBuf,
    },
}

#[derive(Args)]
#[command(group = clap::ArgGroup::new("source").required(true).args(["manifest", "file"]))]
pub struct CreateArgs {
    /// A manifest already in S3 (s3://bucket/key).
    #[arg(long, value_name = "S3_URL", value_parser = parse_manifest_location)]
    pub manifest: Option<S3Location>,
    /// A local manifest: checked here, then uploaded to --upload-to.
    #[arg(long, value_name = "FILE", requires = "upload_to")]
    pub file: Option<PathBuf>,
    /// Where to upload --file: s3://bucket/prefix/ (the file's name is appended) or
    /// s3://bucket/key.
    #[arg(long, value_name = "S3_URL", requires = "file")]
    pub upload_to: Option<S3Location>,
    #[arg(long, value_enum, ignore_case = true)]
    pub tier: TierArg,
    /// Days the restored copies stay available (1 to 365).
    #[arg(long, value_name = "N")]
    pub expiration_days: u32,
    /// A tag of yours, shown in events and usable to filter `gbr list`.
    #[arg(long, value_name = "T")]
    pub client_tag: Option<String>,
    /// Makes the create safe to retry: the same token and request give the same job.
    #[arg(long, value_name = "TOK")]
    pub client_token: Option<String>,
    /// Declare the job Timeout after this many hours instead of the class's default.
    #[arg(long, value_name = "H")]
    pub deadline_hours: Option<u32>,
    /// Send a progress event every P percent.
    #[arg(long, value_name = "P")]
    pub progress_step: Option<u8>,
    /// The archive class the objects are in (decides the default deadline).
    #[arg(long, value_enum, ignore_case = true)]
    pub storage_class: Option<StorageClassArg>,
    /// S3 endpoint for the upload (e.g. the local stack's moto).
    #[arg(long, env = "AWS_ENDPOINT_URL", value_name = "URL")]
    pub aws_endpoint_url: Option<String>,
}

#[derive(Args)]
pub struct ListArgs {
    /// Only jobs with this client tag.
    #[arg(long, value_name = "T")]
    pub client_tag: Option<String>,
    /// Only jobs in this status.
    #[arg(long, ignore_case = true, value_parser = status_parser())]
    pub status: Option<JobStatus>,
    /// Jobs per page (1 to 100).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100))]
    pub limit: Option<u32>,
    /// Follow NextToken to the last page.
    #[arg(long)]
    pub all: bool,
    /// Start at this page (the NextToken of a previous list).
    #[arg(long, value_name = "TOKEN", conflicts_with = "all")]
    pub next_token: Option<String>,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum TierArg {
    #[value(name = "STANDARD")]
    Standard,
    #[value(name = "BULK")]
    Bulk,
}

impl From<TierArg> for Tier {
    fn from(t: TierArg) -> Self {
        match t {
            TierArg::Standard => Tier::Standard,
            TierArg::Bulk => Tier::Bulk,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
pub enum StorageClassArg {
    #[value(name = "GLACIER")]
    Glacier,
    #[value(name = "DEEP_ARCHIVE")]
    DeepArchive,
}

impl From<StorageClassArg> for StorageClass {
    fn from(c: StorageClassArg) -> Self {
        match c {
            StorageClassArg::Glacier => StorageClass::Glacier,
            StorageClassArg::DeepArchive => StorageClass::DeepArchive,
        }
    }
}

/// The status argument: its choices are core's status names, in any case.
fn status_parser() -> impl TypedValueParser<Value = JobStatus> {
    PossibleValuesParser::new(JobStatus::ALL.iter().map(|s| s.as_str()))
        .try_map(|name| JobStatus::parse_ignoring_case(&name))
}

fn parse_manifest_location(text: &str) -> Result<S3Location, String> {
    let location: S3Location = text.parse()?;
    if location.is_prefix() {
        return Err(format!(
            "{text:?} names a folder, not a manifest; write s3://bucket/key"
        ));
    }
    Ok(location)
}

fn parse_interval(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(secs) if secs.is_finite() && (0.05..=3600.0).contains(&secs) => Ok(secs),
        _ => Err(format!(
            "{text:?} is not a number of seconds from 0.05 to 3600"
        )),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn create_needs_exactly_one_manifest_source() {
        let base = ["gbr", "create", "--tier", "bulk", "--expiration-days", "1"];
        let parse = |extra: &[&str]| Cli::try_parse_from(base.iter().chain(extra));
        assert!(parse(&[]).is_err());
        assert!(parse(&["--manifest", "s3://b-1/m.csv"]).is_ok());
        assert!(
            parse(&["--file", "m.csv"]).is_err(),
            "--file needs --upload-to"
        );
        assert!(parse(&["--file", "m.csv", "--upload-to", "s3://b-1/up/"]).is_ok());
        assert!(
            parse(&[
                "--manifest",
                "s3://b-1/m.csv",
                "--file",
                "m.csv",
                "--upload-to",
                "s3://b-1/up/"
            ])
            .is_err()
        );
        assert!(
            parse(&["--manifest", "b-1/m.csv"]).is_err(),
            "not an s3:// URL"
        );
        assert!(parse(&["--manifest", "s3://b-1/dir/"]).is_err(), "a folder");
    }
}
