//! What `gbr create` and `gbr estimate` share: the manifest (or prefix) a command line
//! names, the request sent for it, and a local manifest's check and estimate.

use std::fs::File;
use std::io::{BufReader, IsTerminal, stderr};
use std::path::{Path, PathBuf};

use gbr_core::api::{ListingStopped, list_filter};
use gbr_core::estimate::{ClassObjects, Estimate, EstimateInput, estimate};
use gbr_core::filter::ObjectFilter;
use gbr_core::manifest::{ManifestSummary, check_manifest};
use gbr_core::request::{MAX_EXPIRATION_DAYS, StorageClass};
use indicatif::{ProgressBar, ProgressStyle};

use super::manifest_check::write_report;
use super::note;
use crate::api_client::{CreateJob, Filter, ManifestFormat};
use crate::args::JobArgs;
use crate::error::CliError;
use crate::manifest_upload::{S3Location, s3_client};
use crate::render::count;

/// Where the size of a CSV manifest's objects can be learnt.
pub const CSV_SIZE_UNKNOWN: &str = "a CSV manifest has no sizes; --check-objects reads them";
/// Why an inventory report's estimate may have no size.
pub const INVENTORY_SIZE_UNKNOWN: &str = "the inventory report has no Size for some objects";
/// A listing gives every size; said in case an answer still has none.
pub const LISTING_SIZE_UNKNOWN: &str = "the bucket's listing gave no size for some objects";
/// Estimates made by the API use the prices of the region it runs in.
pub const DEPLOYMENT_REGION: &str = "the deployment's region";

/// The manifest a command line names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobManifest {
    /// A CSV manifest in S3.
    S3Csv(S3Location),
    /// An S3 Inventory report's manifest.json.
    Inventory(S3Location),
    /// A CSV manifest on this machine, and where create uploads it.
    LocalCsv {
        file: PathBuf,
        upload_to: Option<S3Location>,
    },
    /// No manifest: the objects under a prefix (empty for the whole bucket), which S3
    /// Batch Operations lists when the job is created.
    Prefix(S3Location),
}

impl JobArgs {
    /// The source named, once the flags clap cannot check together are.
    pub fn job_manifest(&self) -> Result<JobManifest, CliError> {
        let source = match (&self.manifest, &self.file, &self.inventory, &self.prefix) {
            (Some(manifest), None, None, None) => JobManifest::S3Csv(manifest.clone()),
            (None, None, Some(inventory), None) => JobManifest::Inventory(inventory.clone()),
            (None, Some(file), None, None) => JobManifest::LocalCsv {
                file: file.clone(),
                upload_to: self.upload_to.clone(),
            },
            (None, None, None, Some(prefix)) => JobManifest::Prefix(prefix.clone()),
            // clap takes exactly one of them.
            _ => {
                return Err(CliError::Usage(
                    "give one of --manifest s3://bucket/key, --file FILE, --inventory \
                     s3://bucket/…/manifest.json or --prefix s3://bucket/prefix"
                        .into(),
                ));
            }
        };
        if matches!(source, JobManifest::Prefix(_)) {
            self.check_filter()?;
        } else if self.storage_classes().len() > 1 {
            return Err(CliError::Usage(
                "--storage-class takes one class unless --prefix is used: give the class \
                 the manifest's objects are in"
                    .into(),
            ));
        }
        Ok(source)
    }

    /// Bounds that no object could meet: refused here as the API would refuse them.
    fn check_filter(&self) -> Result<(), CliError> {
        if let (Some(after), Some(before)) = (self.created_after, self.created_before)
            && after >= before
        {
            return Err(CliError::Usage(format!(
                "--created-after {after} is not before --created-before {before}: no object \
                 can match"
            )));
        }
        if let (Some(min), Some(max)) = (self.min_size, self.max_size)
            && min > max
        {
            return Err(CliError::Usage(format!(
                "--min-size {min} is above --max-size {max}: no object can match"
            )));
        }
        Ok(())
    }

    /// The classes given, each once, in the order given.
    fn storage_classes(&self) -> Vec<StorageClass> {
        let mut classes = Vec::new();
        for class in self.storage_class.iter().map(|&c| StorageClass::from(c)) {
            if !classes.contains(&class) {
                classes.push(class);
            }
        }
        classes
    }

    /// The one class the objects are in, when one is given: it sets the deadline (and
    /// a CSV estimate's prices). Several, with --prefix, leave the API's default.
    fn single_class(&self) -> Option<StorageClass> {
        match self.storage_classes()[..] {
            [class] => Some(class),
            _ => None,
        }
    }

    /// The create-job body (also the estimate's) for the manifest at `location`.
    pub fn request(&self, location: &S3Location, format: Option<ManifestFormat>) -> CreateJob {
        CreateJob {
            bucket: Some(location.bucket.clone()),
            key: Some(location.key.clone()),
            manifest_format: format,
            ..self.common_request()
        }
    }

    /// The create-job body (also the estimate's) for the objects under `prefix` that
    /// the filter flags select.
    pub fn filter_request(&self, prefix: &S3Location) -> CreateJob {
        let filter = Filter {
            bucket: prefix.bucket.clone(),
            // The API takes an empty prefix as a mistake: the whole bucket has none.
            prefixes: Some(prefix.key.clone())
                .filter(|k| !k.is_empty())
                .into_iter()
                .collect(),
            suffixes: self.suffix.iter().cloned().collect(),
            created_after: self.created_after,
            created_before: self.created_before,
            min_size_bytes: self.min_size,
            max_size_bytes: self.max_size,
            storage_classes: self.storage_classes(),
        };
        CreateJob {
            filter: Some(filter),
            ..self.common_request()
        }
    }

    /// The fields every source sends.
    fn common_request(&self) -> CreateJob {
        CreateJob {
            bucket: None,
            key: None,
            tier: self.tier.into(),
            expiration_days: self.expiration_days,
            client_tag: self.client_tag.clone(),
            client_token: self.client_token.clone(),
            deadline_hours: self.deadline_hours,
            progress_step_percent: self.progress_step,
            storage_class: self.single_class(),
            manifest_format: None,
            filter: None,
        }
    }

    /// Estimates made here check what the API would: the estimate depends on it.
    pub fn check_expiration_days(&self) -> Result<(), CliError> {
        if (1..=MAX_EXPIRATION_DAYS).contains(&u64::from(self.expiration_days)) {
            Ok(())
        } else {
            Err(CliError::Usage(format!(
                "--expiration-days {} is out of range: give 1 to {MAX_EXPIRATION_DAYS}",
                self.expiration_days
            )))
        }
    }

    /// The estimate of a CSV manifest of `objects` distinct objects, all in the class
    /// declared (DEEP_ARCHIVE by default, as the API takes it), sizes unknown.
    pub fn csv_estimate(&self, objects: u64, region: &str) -> Estimate {
        estimate(&EstimateInput {
            classes: vec![ClassObjects {
                class: self.single_class().unwrap_or(StorageClass::DeepArchive),
                objects,
                bytes: None,
            }],
            skipped_by_reason: Default::default(),
            expiration_days: self.expiration_days,
            tier: self.tier.into(),
            region: region.to_owned(),
        })
    }

    /// The estimate of a prefix too long for the API to list within its time limit:
    /// listed from here, with this machine's credentials and no page limit, by the
    /// same rule (a LIST request per 1,000 keys).
    pub async fn estimate_listed_here(
        &self,
        prefix: &S3Location,
    ) -> Result<(Estimate, PriceRegion), CliError> {
        let body =
            serde_json::to_value(self.filter_request(prefix)).map_err(std::io::Error::other)?;
        let filter = ObjectFilter::from_json(&body["filter"]).map_err(|errors| {
            CliError::Usage(
                errors
                    .iter()
                    .map(|e| format!("{}: {}", e.field, e.message))
                    .collect::<Vec<_>>()
                    .join("; "),
            )
        })?;
        let location = filter.location();
        note(format!(
            "the API cannot list {location} within its time limit; listing it from here"
        ));
        let source =
            gbr_aws::S3Objects::from_client(s3_client(self.aws_endpoint_url.as_deref()).await);
        let progress = if stderr().is_terminal() {
            ProgressBar::new_spinner().with_style(
                ProgressStyle::with_template("{spinner} listed {pos} keys, {per_sec}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            )
        } else {
            ProgressBar::hidden()
        };
        let listed = list_filter(&source, &filter, usize::MAX, &mut |keys| {
            progress.set_position(keys)
        })
        .await;
        progress.finish_and_clear();
        let listed = listed.map_err(|stopped| CliError::NotListed {
            location: location.clone(),
            message: match stopped {
                ListingStopped::Failed(e) => e.to_string(),
                ListingStopped::TooLong { keys } => format!("stopped after {keys} keys"),
            },
        })?;
        note(format!(
            "listed {} keys under {location}",
            count(listed.keys)
        ));
        let region = self.price_region();
        let estimate = estimate(&EstimateInput {
            classes: listed.classes,
            skipped_by_reason: listed.skipped,
            expiration_days: self.expiration_days,
            tier: self.tier.into(),
            region: region.name.clone(),
        });
        Ok((estimate, region))
    }

    /// The region whose prices an estimate made here uses.
    pub fn price_region(&self) -> PriceRegion {
        price_region(
            self.region.as_deref(),
            std::env::var("AWS_REGION").ok().as_deref(),
        )
    }
}

/// A region, and where it came from, for the estimate to say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceRegion {
    pub name: String,
    pub from: &'static str,
}

/// `--region`, else AWS_REGION, else us-east-1; empty values count as none.
pub fn price_region(flag: Option<&str>, environment: Option<&str>) -> PriceRegion {
    let given = |v: Option<&str>| {
        v.map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    if let Some(name) = given(flag) {
        return PriceRegion {
            name,
            from: "from --region",
        };
    }
    if let Some(name) = given(environment) {
        return PriceRegion {
            name,
            from: "from AWS_REGION",
        };
    }
    PriceRegion {
        name: "us-east-1".into(),
        from: "neither --region nor AWS_REGION is set",
    }
}

/// Checks a local manifest as `gbr manifest check` does; an invalid one is refused
/// with its report on standard error, saying `consequence` (what was not done).
pub fn check_local(path: &Path, consequence: &str) -> Result<ManifestSummary, CliError> {
    let file = File::open(path).map_err(|e| CliError::Unreadable {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    let summary = check_manifest(BufReader::new(file));
    refuse_invalid(&path.display().to_string(), &summary, consequence)?;
    note(format!(
        "checked {}: {} objects in {} bucket(s), {} duplicate row(s)",
        path.display(),
        summary.objects,
        summary.buckets.len(),
        summary.duplicates.len()
    ));
    Ok(summary)
}

/// An invalid manifest's report on standard error, and the error that stops the command.
pub fn refuse_invalid(
    name: &str,
    summary: &ManifestSummary,
    consequence: &str,
) -> Result<(), CliError> {
    let Err(e) = summary.validate() else {
        return Ok(());
    };
    let mut report = Vec::new();
    write_report(&mut report, name, summary)?;
    eprint!("{}", String::from_utf8_lossy(&report));
    Err(CliError::InvalidManifest {
        path: name.to_owned(),
        reason: e.to_string(),
        consequence: consequence.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::args::{Cli, Command};

    fn job(extra: &[&str]) -> JobArgs {
        let base = [
            "gbr",
            "estimate",
            "--tier",
            "bulk",
            "--expiration-days",
            "7",
        ];
        match Cli::try_parse_from(base.iter().chain(extra))
            .unwrap()
            .command
        {
            Command::Estimate(args) => args.job,
            _ => unreachable!("an estimate command line"),
        }
    }

    #[test]
    fn the_region_comes_from_the_flag_else_the_environment_else_us_east_1() {
        let got = |flag, env| {
            let r = price_region(flag, env);
            (r.name, r.from)
        };
        assert_eq!(
            got(Some("eu-west-1"), Some("us-west-2")),
            ("eu-west-1".into(), "from --region")
        );
        assert_eq!(
            got(None, Some("us-west-2")),
            ("us-west-2".into(), "from AWS_REGION")
        );
        assert_eq!(
            got(None, Some(" ")),
            ("us-east-1".into(), "neither --region nor AWS_REGION is set")
        );
    }

    #[test]
    fn the_request_carries_every_flag_and_names_only_a_format_other_than_csv() {
        let args = job(&[
            "--inventory",
            "s3://inv-1/src/cfg/2026-11-28T01-00Z/",
            "--storage-class",
            "glacier",
            "--client-tag",
            "team-a",
            "--client-token",
            "t-1",
            "--deadline-hours",
            "30",
            "--progress-step",
            "20",
        ]);
        let JobManifest::Inventory(location) = args.job_manifest().unwrap() else {
            panic!("not an inventory: {:?}", args.job_manifest());
        };
        assert_eq!(
            location.to_string(),
            "s3://inv-1/src/cfg/2026-11-28T01-00Z/manifest.json"
        );
        let body =
            serde_json::to_value(args.request(&location, Some(ManifestFormat::Inventory))).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "bucket": "inv-1", "key": "src/cfg/2026-11-28T01-00Z/manifest.json",
                "tier": "BULK", "expiration_days": 7, "client_tag": "team-a",
                "client_token": "t-1", "deadline_hours": 30, "progress_step_percent": 20,
                "storage_class": "GLACIER", "manifest_format": "inventory"
            })
        );
        let csv = job(&["--manifest", "s3://b-1/m.csv"]);
        let JobManifest::S3Csv(location) = csv.job_manifest().unwrap() else {
            panic!("not a CSV in S3");
        };
        let body = serde_json::to_value(csv.request(&location, None)).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"bucket": "b-1", "key": "m.csv", "tier": "BULK",
                "expiration_days": 7})
        );
    }

    /// The body a `--prefix` command line sends, as JSON.
    fn filter_body(extra: &[&str]) -> serde_json::Value {
        let args = job(extra);
        let JobManifest::Prefix(prefix) = args.job_manifest().unwrap() else {
            panic!("not a prefix: {:?}", args.job_manifest());
        };
        serde_json::to_value(args.filter_request(&prefix)).unwrap()
    }

    #[test]
    fn a_prefix_sends_a_filter_and_no_manifest() {
        assert_eq!(
            filter_body(&["--prefix", "s3://b-1/"]),
            serde_json::json!({"filter": {"bucket": "b-1"}, "tier": "BULK",
                "expiration_days": 7}),
            "the whole bucket: no prefixes"
        );
        assert_eq!(
            filter_body(&["--prefix", "s3://b-1/photos/2019"])["filter"],
            serde_json::json!({"bucket": "b-1", "prefixes": ["photos/2019"]}),
            "the path as written"
        );
        assert_eq!(
            filter_body(&[
                "--prefix",
                "s3://b-1/photos/",
                "--suffix",
                ".tif",
                "--created-after",
                "2020-01-01T00:00:00Z",
                "--created-before",
                "2021-01-01T01:00:00+01:00",
                "--min-size",
                "1KiB",
                "--max-size",
                "5000000",
                "--client-tag",
                "team-a",
                "--client-token",
                "t-1",
                "--deadline-hours",
                "30",
                "--progress-step",
                "20",
            ]),
            serde_json::json!({
                "filter": {
                    "bucket": "b-1", "prefixes": ["photos/"], "suffixes": [".tif"],
                    "created_after": "2020-01-01T00:00:00Z",
                    "created_before": "2021-01-01T00:00:00Z",
                    "min_size_bytes": 1024, "max_size_bytes": 5_000_000
                },
                "tier": "BULK", "expiration_days": 7, "client_tag": "team-a",
                "client_token": "t-1", "deadline_hours": 30, "progress_step_percent": 20
            })
        );
    }

    #[test]
    fn with_a_prefix_every_class_is_filtered_on_and_one_alone_sets_the_deadline() {
        let one = filter_body(&["--prefix", "s3://b-1/", "--storage-class", "glacier"]);
        assert_eq!(one["storage_class"], "GLACIER");
        assert_eq!(
            one["filter"]["storage_classes"],
            serde_json::json!(["GLACIER"])
        );
        let both = filter_body(&[
            "--prefix",
            "s3://b-1/",
            "--storage-class",
            "DEEP_ARCHIVE",
            "--storage-class",
            "GLACIER",
        ]);
        assert_eq!(both.get("storage_class"), None);
        assert_eq!(
            both["filter"]["storage_classes"],
            serde_json::json!(["DEEP_ARCHIVE", "GLACIER"])
        );
        let repeated = filter_body(&[
            "--prefix",
            "s3://b-1/",
            "--storage-class",
            "GLACIER",
            "--storage-class",
            "glacier",
        ]);
        assert_eq!(repeated["storage_class"], "GLACIER");
        assert_eq!(
            repeated["filter"]["storage_classes"],
            serde_json::json!(["GLACIER"])
        );
    }

    #[test]
    fn the_api_reads_the_filter_sent_as_meant() {
        let body = filter_body(&[
            "--prefix",
            "s3://b-1/photos/",
            "--suffix",
            ".tif",
            "--created-after",
            "2020-01-01T00:00:00Z",
            "--max-size",
            "10MB",
            "--storage-class",
            "GLACIER",
        ]);
        let request = gbr_core::request::CreateJobRequest::from_json(&body).unwrap();
        let filter = request.filter.unwrap();
        assert_eq!(filter.bucket, "b-1");
        assert_eq!(filter.prefixes, ["photos/"]);
        assert_eq!(filter.suffixes, [".tif"]);
        assert_eq!(
            filter.created_after,
            Some("2020-01-01T00:00:00Z".parse().unwrap())
        );
        assert_eq!(filter.max_size_bytes, Some(10_000_000));
        assert_eq!(filter.storage_classes, [StorageClass::Glacier]);
        assert_eq!(request.storage_class, StorageClass::Glacier);
        let whole = filter_body(&["--prefix", "s3://b-1/"]);
        let request = gbr_core::request::CreateJobRequest::from_json(&whole).unwrap();
        assert_eq!(request.filter.map(|f| f.prefixes), Some(vec![]));
    }

    #[test]
    fn two_classes_need_a_prefix_and_bounds_must_leave_room() {
        let usage = |extra: &[&str]| match job(extra).job_manifest() {
            Err(CliError::Usage(message)) => message,
            other => panic!("{extra:?} was not refused: {other:?}"),
        };
        assert_eq!(
            usage(&[
                "--manifest",
                "s3://b-1/m.csv",
                "--storage-class",
                "GLACIER",
                "--storage-class",
                "DEEP_ARCHIVE",
            ]),
            "--storage-class takes one class unless --prefix is used: give the class the \
             manifest's objects are in"
        );
        let same_twice = job(&[
            "--file",
            "m.csv",
            "--storage-class",
            "GLACIER",
            "--storage-class",
            "GLACIER",
        ]);
        assert!(
            same_twice.job_manifest().is_ok(),
            "one class, written twice"
        );

        assert_eq!(
            usage(&[
                "--prefix",
                "s3://b-1/",
                "--created-after",
                "2021-01-01T00:00:00Z",
                "--created-before",
                "2021-01-01T00:00:00Z",
            ]),
            "--created-after 2021-01-01T00:00:00Z is not before --created-before \
             2021-01-01T00:00:00Z: no object can match"
        );
        assert_eq!(
            usage(&[
                "--prefix",
                "s3://b-1/",
                "--min-size",
                "2KB",
                "--max-size",
                "1999"
            ]),
            "--min-size 2000 is above --max-size 1999: no object can match"
        );
        let equal = job(&[
            "--prefix",
            "s3://b-1/",
            "--min-size",
            "5",
            "--max-size",
            "5",
        ]);
        assert!(equal.job_manifest().is_ok(), "sizes are inclusive");
    }

    #[test]
    fn a_local_estimate_prices_the_declared_class_and_refuses_days_the_api_would() {
        // 2,000 Deep Archive objects at Bulk: 2,000 / 1,000 * 0.025 in restore requests.
        let e = job(&["--file", "m.csv"]).csv_estimate(2_000, "us-east-1");
        assert_eq!(e.objects, 2_000);
        assert_eq!(e.bytes, None);
        assert_eq!(e.tiers.bulk.restore_requests_usd, 0.05);
        // Flexible Retrieval Bulk requests are free.
        let e = job(&["--file", "m.csv", "--storage-class", "GLACIER"])
            .csv_estimate(2_000, "us-east-1");
        assert_eq!(e.tiers.bulk.restore_requests_usd, 0.0);

        assert!(job(&["--file", "m.csv"]).check_expiration_days().is_ok());
        let mut zero = job(&["--file", "m.csv"]);
        zero.expiration_days = 0;
        assert_eq!(
            zero.check_expiration_days().unwrap_err().to_string(),
            "--expiration-days 0 is out of range: give 1 to 365"
        );
        zero.expiration_days = 366;
        assert!(zero.check_expiration_days().is_err());
    }
}
