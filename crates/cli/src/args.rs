//! The command line: subcommands, flags and what each means.

use std::path::PathBuf;

use clap::builder::{NonEmptyStringValueParser, PossibleValuesParser, TypedValueParser};
use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};
use gbr_core::request::{StorageClass, Tier};
use gbr_core::status::JobStatus;
use jiff::Timestamp;

use crate::commands::manifest_check::ManifestLocation;
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
    /// Start a bulk restore from a manifest in S3, a local file uploaded first, an S3
    /// Inventory report, or the archived objects under a prefix. On a terminal it shows
    /// the estimate and asks first.
    Create(CreateArgs),
    /// What a job would restore, cost and take, creating nothing: same flags as create.
    /// A local --file is estimated here, without the API; --manifest, --inventory and
    /// --prefix are estimated by the API (POST /estimate). A CSV manifest carries no
    /// sizes, so the per-GB fees are left out unless --check-objects reads them.
    Estimate(EstimateArgs),
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
    /// Check a manifest before paying for a batch job. A CSV manifest: counts objects,
    /// buckets and duplicates and lists every malformed line. An S3 Inventory report's
    /// manifest.json (told by its .json name or its content): reads its data files and
    /// counts the objects to restore by class, those skipped by reason, their bytes and
    /// every malformed line. Exits 0 only when it is valid (1 invalid, 2 unreadable).
    /// With --json: one JSON object per distinct object (CSV) or row (inventory), then
    /// one summary object.
    #[command(
        after_help = "A local manifest.json is read as `aws s3 cp --recursive \
                  s3://DEST/PREFIX/SOURCE-BUCKET/CONFIG-ID/ DIR` lays a report out: each data \
                  file is read from <folder of manifest.json>/../data/<its file name>. An \
                  s3:// manifest.json has its data files read from its destination bucket."
    )]
    Check {
        /// The manifest: a local file, or s3://bucket/key (`bucket,key[,version_id]` rows
        /// with keys URL-encoded, or an inventory report's manifest.json).
        #[arg(value_name = "FILE|S3_URL", value_parser = ManifestLocation::parse)]
        source: ManifestLocation,
        /// S3 endpoint for an s3:// manifest (e.g. the local stack's moto).
        #[arg(long, env = "AWS_ENDPOINT_URL", value_name = "URL")]
        aws_endpoint_url: Option<String>,
    },
}

/// What `gbr create` and `gbr estimate` share, so that an estimate's command line
/// becomes the create by changing one word.
#[derive(Args)]
#[command(group = clap::ArgGroup::new("source").required(true).args(["manifest", "file", "inventory", "prefix"]))]
pub struct JobArgs {
    /// A CSV manifest already in S3 (s3://bucket/key).
    #[arg(long, value_name = "S3_URL", value_parser = parse_manifest_location)]
    pub manifest: Option<S3Location>,
    /// A local CSV manifest: checked here; create uploads it to --upload-to, estimate
    /// reads it here and needs no API.
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// An S3 Inventory report to restore from: its manifest.json
    /// (s3://bucket/…/manifest.json, or the folder holding it). Only its GLACIER and
    /// DEEP_ARCHIVE objects are restored.
    #[arg(long, value_name = "S3_URL", value_parser = parse_inventory_location)]
    pub inventory: Option<S3Location>,
    /// No manifest: the GLACIER and DEEP_ARCHIVE objects whose keys start with a prefix,
    /// listed by S3 Batch Operations when the job is created. s3://bucket/ is the whole
    /// bucket; s3://bucket/path is taken literally (it also matches path-2/…).
    #[arg(long, value_name = "S3_URL", value_parser = parse_prefix_location)]
    pub prefix: Option<S3Location>,
    /// With --prefix: only keys ending in SUFFIX (e.g. .tif). One suffix per job, as
    /// S3 Batch Operations takes one.
    // `requires` alone would pass with another source: clap counts a required argument
    // that conflicts with one given as satisfied.
    #[arg(
        long,
        value_name = "SUFFIX",
        requires = "prefix",
        conflicts_with_all = NOT_PREFIX,
        value_parser = NonEmptyStringValueParser::new()
    )]
    pub suffix: Option<String>,
    /// With --prefix: only objects last written after T, an RFC 3339 instant such as
    /// 2024-01-31T00:00:00Z.
    #[arg(
        long,
        value_name = "T",
        requires = "prefix",
        conflicts_with_all = NOT_PREFIX,
        value_parser = parse_instant
    )]
    pub created_after: Option<Timestamp>,
    /// With --prefix: only objects last written before T (RFC 3339, as --created-after).
    #[arg(
        long,
        value_name = "T",
        requires = "prefix",
        conflicts_with_all = NOT_PREFIX,
        value_parser = parse_instant
    )]
    pub created_before: Option<Timestamp>,
    /// With --prefix: only objects of N bytes or more. N is bytes, or ends in KB, MB,
    /// GB, TB (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024): 10MiB.
    #[arg(
        long,
        value_name = "N",
        requires = "prefix",
        conflicts_with_all = NOT_PREFIX,
        value_parser = parse_size
    )]
    pub min_size: Option<u64>,
    /// With --prefix: only objects of N bytes or fewer (units as --min-size).
    #[arg(
        long,
        value_name = "N",
        requires = "prefix",
        conflicts_with_all = NOT_PREFIX,
        value_parser = parse_size
    )]
    pub max_size: Option<u64>,
    /// Where create uploads --file: s3://bucket/prefix/ (the file's name is appended)
    /// or s3://bucket/key. Estimate uploads nothing and ignores it.
    // clap takes `requires = "file"` as met when --file conflicts with the source given.
    #[arg(long, value_name = "S3_URL", conflicts_with_all = ["manifest", "inventory", "prefix"])]
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
    /// The archive class the objects are in (decides the default deadline, and the
    /// prices of an estimate that does not look at the objects). Default: DEEP_ARCHIVE.
    /// With --prefix: the classes to restore, repeatable (default: both); one class
    /// given also sets the deadline.
    #[arg(long, value_enum, ignore_case = true, action = ArgAction::Append)]
    pub storage_class: Vec<StorageClassArg>,
    /// Whose prices an estimate made here uses (--file): else AWS_REGION, else
    /// us-east-1. With --manifest, --inventory or --prefix the API's own region is used.
    #[arg(long, value_name = "REGION", value_parser = NonEmptyStringValueParser::new())]
    pub region: Option<String>,
    /// S3 endpoint for the upload and for reading objects (e.g. the local stack's moto).
    #[arg(long, env = "AWS_ENDPOINT_URL", value_name = "URL")]
    pub aws_endpoint_url: Option<String>,
}

#[derive(Args)]
// A local manifest must go somewhere before a job can read it.
#[command(mut_arg("file", |file| file.requires("upload_to")))]
pub struct CreateArgs {
    #[command(flatten)]
    pub job: JobArgs,
    /// Create without asking. On a terminal (and without --json), create shows the
    /// estimate first and asks `Create this job? [y/N]`.
    #[arg(long, short = 'y')]
    pub yes: bool,
}

#[derive(Args)]
pub struct EstimateArgs {
    #[command(flatten)]
    pub job: JobArgs,
    /// HEAD every object of the CSV manifest (--file or --manifest): counts only
    /// GLACIER and DEEP_ARCHIVE objects as restored, with their sizes, and the others
    /// as skipped by reason. An inventory report lists classes and sizes already.
    #[arg(long, conflicts_with_all = ["inventory", "prefix"])]
    pub check_objects: bool,
    /// HEAD requests in flight at once with --check-objects.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 32,
        requires = "check_objects",
        value_parser = clap::value_parser!(u16).range(1..=1000)
    )]
    pub concurrency: u16,
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

/// The sources a filter flag cannot go with: it narrows --prefix only.
const NOT_PREFIX: [&str; 3] = ["manifest", "file", "inventory"];

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

fn parse_inventory_location(text: &str) -> Result<S3Location, String> {
    let mut location: S3Location = text.parse()?;
    if location.is_prefix() {
        location.key.push_str("manifest.json");
    }
    if !location.key.ends_with(".json") {
        return Err(format!(
            "{text:?} is not an inventory report's manifest.json; write \
             s3://bucket/…/manifest.json, or the folder that holds it"
        ));
    }
    Ok(location)
}

/// Any S3 URL: its key, possibly empty, is the prefix as written.
fn parse_prefix_location(text: &str) -> Result<S3Location, String> {
    text.parse()
}

/// RFC 3339, checked here so that a typo is told before any request is sent.
fn parse_instant(text: &str) -> Result<Timestamp, String> {
    text.parse::<Timestamp>().map_err(|e| {
        format!("{text:?} is not an RFC 3339 instant such as 2024-01-31T00:00:00Z ({e})")
    })
}

/// Bytes, as a whole number with an optional unit (`10MiB`, `5 GB`, `1024`).
fn parse_size(text: &str) -> Result<u64, String> {
    let bad = || {
        format!(
            "{text:?} is not a size: give whole bytes (1048576) or a whole number with a \
             unit (KB, MB, GB, TB are powers of 1000; KiB, MiB, GiB, TiB of 1024), e.g. 10MiB"
        )
    };
    let text = text.trim();
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    let unit: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        _ => return Err(bad()),
    };
    number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(unit))
        .ok_or_else(bad)
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

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(["gbr"].iter().chain(args))
    }

    fn job_of(cli: Cli) -> JobArgs {
        match cli.command {
            Command::Create(args) => args.job,
            Command::Estimate(args) => args.job,
            _ => panic!("neither create nor estimate"),
        }
    }

    #[test]
    fn create_and_estimate_take_the_same_job_flags() {
        let flags = [
            "--manifest",
            "s3://b-1/m.csv",
            "--tier",
            "standard",
            "--expiration-days",
            "9",
            "--client-tag",
            "team-a",
            "--client-token",
            "t-1",
            "--deadline-hours",
            "30",
            "--progress-step",
            "20",
            "--storage-class",
            "deep_archive",
            "--region",
            "eu-west-1",
            "--aws-endpoint-url",
            "http://127.0.0.1:5000",
        ];
        for command in ["create", "estimate"] {
            let job = job_of(parse(&[&[command][..], &flags].concat()).unwrap());
            assert_eq!(
                job.manifest.as_ref().map(ToString::to_string).as_deref(),
                Some("s3://b-1/m.csv")
            );
            assert!(matches!(job.tier, TierArg::Standard));
            assert_eq!(job.expiration_days, 9);
            assert_eq!(job.client_tag.as_deref(), Some("team-a"));
            assert_eq!(job.client_token.as_deref(), Some("t-1"));
            assert_eq!(job.deadline_hours, Some(30));
            assert_eq!(job.progress_step, Some(20));
            assert!(matches!(
                job.storage_class[..],
                [StorageClassArg::DeepArchive]
            ));
            assert_eq!(job.region.as_deref(), Some("eu-west-1"));
            assert_eq!(
                job.aws_endpoint_url.as_deref(),
                Some("http://127.0.0.1:5000")
            );
        }
    }

    #[test]
    fn create_and_estimate_need_exactly_one_manifest_source() {
        for command in ["create", "estimate"] {
            let base = [command, "--tier", "bulk", "--expiration-days", "1"];
            let parse = |extra: &[&str]| parse(&[&base[..], extra].concat());
            assert!(parse(&[]).is_err(), "{command}: no source");
            assert!(parse(&["--manifest", "s3://b-1/m.csv"]).is_ok());
            assert!(parse(&["--file", "m.csv", "--upload-to", "s3://b-1/up/"]).is_ok());
            assert!(parse(&["--inventory", "s3://inv-1/a/manifest.json"]).is_ok());
            for two in [
                ["--manifest", "s3://b-1/m.csv", "--file", "m.csv"],
                [
                    "--manifest",
                    "s3://b-1/m.csv",
                    "--inventory",
                    "s3://i-1/manifest.json",
                ],
                ["--file", "m.csv", "--inventory", "s3://i-1/manifest.json"],
            ] {
                assert!(
                    parse(&[&two[..], &["--upload-to", "s3://b-1/up/"]].concat()).is_err(),
                    "{command} {two:?}"
                );
            }
            assert!(
                parse(&[
                    "--manifest",
                    "s3://b-1/m.csv",
                    "--upload-to",
                    "s3://b-1/up/"
                ])
                .is_err(),
                "--upload-to goes with --file"
            );
            assert!(
                parse(&["--manifest", "b-1/m.csv"]).is_err(),
                "not an s3:// URL"
            );
            assert!(parse(&["--manifest", "s3://b-1/dir/"]).is_err(), "a folder");
        }
    }

    #[test]
    fn only_create_needs_somewhere_to_upload_a_local_file() {
        let local = [
            "--file",
            "m.csv",
            "--tier",
            "bulk",
            "--expiration-days",
            "1",
        ];
        let err = parse(&[&["create"][..], &local].concat())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("--upload-to"), "{err}");
        let job = job_of(parse(&[&["estimate"][..], &local].concat()).unwrap());
        assert_eq!(job.file, Some(PathBuf::from("m.csv")));
        assert_eq!(job.upload_to, None);
    }

    #[test]
    fn an_inventory_is_its_manifest_json_or_the_folder_holding_it() {
        let inventory = |url: &str| {
            parse(&[
                "estimate",
                "--tier",
                "bulk",
                "--expiration-days",
                "1",
                "--inventory",
                url,
            ])
            .map(|cli| job_of(cli).inventory.map(|l| l.to_string()))
        };
        assert_eq!(
            inventory("s3://inv-1/src/cfg/2026-11-28T01-00Z/manifest.json").unwrap(),
            Some("s3://inv-1/src/cfg/2026-11-28T01-00Z/manifest.json".into())
        );
        assert_eq!(
            inventory("s3://inv-1/src/cfg/2026-11-28T01-00Z/").unwrap(),
            Some("s3://inv-1/src/cfg/2026-11-28T01-00Z/manifest.json".into())
        );
        let err = inventory("s3://inv-1/src/data/1.csv.gz")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("not an inventory report's manifest.json"),
            "{err}"
        );
    }

    #[test]
    fn the_flags_of_one_command_only_go_with_it() {
        let base = [
            "--manifest",
            "s3://b-1/m.csv",
            "--tier",
            "bulk",
            "--expiration-days",
            "1",
        ];
        let parse = |command: &str, extra: &[&str]| parse(&[&[command][..], &base, extra].concat());
        assert!(parse("create", &["--yes"]).is_ok());
        assert!(parse("create", &["-y"]).is_ok());
        assert!(parse("estimate", &["--yes"]).is_err());
        assert!(parse("create", &["--check-objects"]).is_err());

        let Command::Estimate(args) = parse("estimate", &["--check-objects"]).unwrap().command
        else {
            panic!("not an estimate");
        };
        assert!(args.check_objects);
        assert_eq!(args.concurrency, 32);
        let Command::Estimate(args) = parse("estimate", &["--check-objects", "--concurrency", "5"])
            .unwrap()
            .command
        else {
            panic!("not an estimate");
        };
        assert_eq!(args.concurrency, 5);
        assert!(
            parse("estimate", &["--concurrency", "5"]).is_err(),
            "--concurrency goes with --check-objects"
        );
        assert!(parse("estimate", &["--check-objects", "--concurrency", "0"]).is_err());
        assert!(parse("estimate", &["--check-objects", "--concurrency", "1001"]).is_err());
        let inventory = parse_inventory_location("s3://i-1/manifest.json")
            .unwrap()
            .to_string();
        let with_inventory = [
            "estimate",
            "--inventory",
            &inventory,
            "--tier",
            "bulk",
            "--expiration-days",
            "1",
            "--check-objects",
        ];
        assert!(
            Cli::try_parse_from(["gbr"].iter().chain(&with_inventory)).is_err(),
            "an inventory lists sizes already"
        );
    }

    /// `estimate --tier bulk --expiration-days 1` and `extra`.
    fn estimate(extra: &[&str]) -> Result<JobArgs, String> {
        let base = ["estimate", "--tier", "bulk", "--expiration-days", "1"];
        parse(&[&base[..], extra].concat())
            .map(job_of)
            .map_err(|e| e.to_string())
    }

    /// Why clap refused `estimate` with `extra`.
    fn refused(extra: &[&str]) -> String {
        match estimate(extra) {
            Ok(_) => panic!("{extra:?} was accepted"),
            Err(e) => e,
        }
    }

    #[test]
    fn a_prefix_is_a_source_of_its_own_and_names_the_bucket_or_a_path_in_it() {
        let prefix = |url: &str| {
            estimate(&["--prefix", url])
                .unwrap()
                .prefix
                .map(|l| (l.bucket, l.key))
        };
        assert_eq!(prefix("s3://b-1/"), Some(("b-1".into(), String::new())));
        assert_eq!(prefix("s3://b-1"), Some(("b-1".into(), String::new())));
        assert_eq!(
            prefix("s3://b-1/photos/2019/"),
            Some(("b-1".into(), "photos/2019/".into()))
        );
        // S3 prefixes are literal: no slash is added.
        assert_eq!(
            prefix("s3://b-1/photos/2019"),
            Some(("b-1".into(), "photos/2019".into()))
        );
        let err = refused(&["--prefix", "b-1/photos/"]);
        assert!(err.contains("is not an S3 URL"), "{err}");
        let err = refused(&["--prefix", "s3://Bad_Bucket/"]);
        assert!(err.contains("Bad_Bucket"), "{err}");

        let err = refused(&[]);
        assert!(err.contains("--prefix <S3_URL>"), "no source: {err}");
        for other in [
            ["--manifest", "s3://b-1/m.csv"],
            ["--file", "m.csv"],
            ["--inventory", "s3://i-1/manifest.json"],
            ["--upload-to", "s3://b-1/up/"],
        ] {
            let err = refused(&[&["--prefix", "s3://b-1/"][..], &other].concat());
            assert!(
                err.contains("cannot be used with") && err.contains("--prefix"),
                "{other:?}: {err}"
            );
        }
        let create = parse(&[
            "create",
            "--tier",
            "bulk",
            "--expiration-days",
            "1",
            "--prefix",
            "s3://b-1/",
            "--yes",
        ]);
        assert!(create.is_ok(), "create needs no upload for a prefix");
    }

    #[test]
    fn filter_flags_narrow_the_prefix_and_go_with_nothing_else() {
        let job = estimate(&[
            "--prefix",
            "s3://b-1/p/",
            "--suffix",
            ".tif",
            "--created-after",
            "2020-01-01T00:00:00Z",
            "--created-before",
            "2021-06-30T12:00:00+02:00",
            "--min-size",
            "10",
            "--max-size",
            "10MiB",
        ])
        .unwrap();
        assert_eq!(job.suffix.as_deref(), Some(".tif"));
        assert_eq!(
            job.created_after.map(|t| t.to_string()).as_deref(),
            Some("2020-01-01T00:00:00Z")
        );
        assert_eq!(
            job.created_before.map(|t| t.to_string()).as_deref(),
            Some("2021-06-30T10:00:00Z")
        );
        assert_eq!(job.min_size, Some(10));
        assert_eq!(job.max_size, Some(10 << 20));

        for flag in [
            ["--suffix", ".tif"],
            ["--created-after", "2020-01-01T00:00:00Z"],
            ["--created-before", "2020-01-01T00:00:00Z"],
            ["--min-size", "1"],
            ["--max-size", "1"],
        ] {
            for source in [
                ["--manifest", "s3://b-1/m.csv"],
                ["--inventory", "s3://i-1/manifest.json"],
                ["--file", "m.csv"],
            ] {
                let err = refused(&[&source[..], &flag].concat());
                assert!(
                    err.contains(&format!("'{}", flag[0])) && err.contains("cannot be used with"),
                    "{flag:?} {source:?}: {err}"
                );
            }
            let err = refused(&flag);
            assert!(err.contains("--prefix"), "{flag:?} alone: {err}");
        }
    }

    #[test]
    fn one_suffix_per_job() {
        let err = refused(&[
            "--prefix",
            "s3://b-1/",
            "--suffix",
            ".tif",
            "--suffix",
            ".jpg",
        ]);
        assert!(
            err.contains("'--suffix <SUFFIX>' cannot be used multiple times"),
            "{err}"
        );
        assert!(estimate(&["--prefix", "s3://b-1/", "--suffix", ""]).is_err());
    }

    #[test]
    fn dates_are_rfc_3339_instants_and_a_wrong_one_shows_an_example() {
        for bad in [
            "2024-01-31",
            "yesterday",
            "2024-13-01T00:00:00Z",
            "2024-01-31T00:00:00",
        ] {
            let err = refused(&["--prefix", "s3://b-1/", "--created-before", bad]);
            assert!(
                err.contains(&format!(
                    "{bad:?} is not an RFC 3339 instant such as 2024-01-31T00:00:00Z"
                )),
                "{bad}: {err}"
            );
        }
        assert_eq!(
            parse_instant("2024-01-31T00:00:00.5-05:00").map(|t| t.to_string()),
            Ok("2024-01-31T05:00:00.5Z".into())
        );
    }

    #[test]
    fn sizes_are_bytes_or_a_whole_number_of_a_unit() {
        for (text, bytes) in [
            ("0", 0),
            ("1048576", 1 << 20),
            ("512B", 512),
            ("10KB", 10_000),
            ("10kb", 10_000),
            ("3 MB", 3_000_000),
            ("2GB", 2_000_000_000),
            ("1TB", 1_000_000_000_000),
            ("10KiB", 10 << 10),
            ("10MiB", 10 << 20),
            ("5gib", 5 << 30),
            ("2TiB", 2 << 40),
        ] {
            assert_eq!(parse_size(text), Ok(bytes), "{text}");
        }
        for bad in [
            "",
            "MiB",
            "-1",
            "1.5GiB",
            "10 M",
            "10PB",
            "1e6",
            "18446744073709551616",
            "16777216TiB",
        ] {
            let err = parse_size(bad).unwrap_err();
            assert!(err.contains("is not a size"), "{bad}: {err}");
        }
        let err = refused(&["--prefix", "s3://b-1/", "--min-size", "ten"]);
        assert!(err.contains("e.g. 10MiB"), "{err}");
    }

    #[test]
    fn storage_class_repeats_and_check_objects_is_not_for_a_prefix() {
        let job = estimate(&[
            "--prefix",
            "s3://b-1/",
            "--storage-class",
            "glacier",
            "--storage-class",
            "DEEP_ARCHIVE",
        ])
        .unwrap();
        assert!(matches!(
            job.storage_class[..],
            [StorageClassArg::Glacier, StorageClassArg::DeepArchive]
        ));
        assert!(
            estimate(&["--prefix", "s3://b-1/"])
                .unwrap()
                .storage_class
                .is_empty()
        );
        let err = refused(&["--prefix", "s3://b-1/", "--check-objects"]);
        assert!(err.contains("--check-objects"), "{err}");
    }

    #[test]
    fn manifest_check_takes_a_file_or_an_s3_object() {
        for source in ["m.csv", "report/manifest.json", "s3://b-1/m.csv"] {
            assert!(parse(&["manifest", "check", source]).is_ok(), "{source}");
        }
        assert!(parse(&["manifest", "check", "s3://b-1/folder/"]).is_err());
    }
}
