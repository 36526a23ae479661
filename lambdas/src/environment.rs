//! What each function reads from its environment variables.
//!
//! Every function reads only what it uses, so the template gives each one only the
//! variables (and through them the resources) it needs; a missing or malformed
//! variable stops the function at start-up with an error naming the variable.

use std::fmt;

use gbr_core::request::PROGRESS_STEP_PERCENT;
use gbr_core::settings::Settings;

/// The functions this package builds, one binary each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Function {
    CreateJob,
    /// `GET /jobs`, `GET /jobs/{id}` and `POST /jobs/{id}/cancel`.
    JobsApi,
    RegisterManifest,
    SubmitBatchJob,
    PollBatchJob,
    Tally,
    Decide,
    Reconcile,
    RecordFailure,
    RestoreEvent,
}

pub const JOBS_TABLE: &str = "JOBS_TABLE";
pub const OBJECTS_TABLE: &str = "OBJECTS_TABLE";
pub const TOPIC_ARN: &str = "TOPIC_ARN";
pub const STATE_MACHINE_ARN: &str = "STATE_MACHINE_ARN";
pub const DEFAULT_PROGRESS_STEP_PERCENT: &str = "DEFAULT_PROGRESS_STEP_PERCENT";
pub const ALLOWED_BUCKETS: &str = "ALLOWED_BUCKETS";
pub const MANIFEST_CHUNK_BYTES: &str = "MANIFEST_CHUNK_BYTES";
pub const REGISTER_ROWS_PER_INVOCATION: &str = "REGISTER_ROWS_PER_INVOCATION";
pub const OBJECT_ROW_TTL_DAYS: &str = "OBJECT_ROW_TTL_DAYS";
pub const ROWS_PER_INVOCATION: &str = "ROWS_PER_INVOCATION";
pub const ACCOUNT_ID: &str = "ACCOUNT_ID";
pub const BATCH_ROLE_ARN: &str = "BATCH_ROLE_ARN";
pub const REPORT_BUCKET: &str = "REPORT_BUCKET";
pub const REPORT_PREFIX: &str = "REPORT_PREFIX";
/// Points every SDK client at another endpoint (the local stack's moto server).
pub const AWS_ENDPOINT_URL: &str = "AWS_ENDPOINT_URL";
pub const RUST_LOG: &str = "RUST_LOG";
/// Set by Lambda itself: the region whose prices an estimate uses.
pub const AWS_REGION: &str = "AWS_REGION";

impl Function {
    pub const ALL: [Function; 10] = [
        Function::CreateJob,
        Function::JobsApi,
        Function::RegisterManifest,
        Function::SubmitBatchJob,
        Function::PollBatchJob,
        Function::Tally,
        Function::Decide,
        Function::Reconcile,
        Function::RecordFailure,
        Function::RestoreEvent,
    ];

    /// The binary's name in `src/bin`, which the template's `BuildProperties.Binary` names.
    pub fn binary(self) -> &'static str {
        match self {
            Function::CreateJob => "create_job",
            Function::JobsApi => "jobs_api",
            Function::RegisterManifest => "register_manifest",
            Function::SubmitBatchJob => "submit_batch_job",
            Function::PollBatchJob => "poll_batch_job",
            Function::Tally => "tally",
            Function::Decide => "decide",
            Function::Reconcile => "reconcile",
            Function::RecordFailure => "record_failure",
            Function::RestoreEvent => "restore_event",
        }
    }

    pub fn from_binary(name: &str) -> Option<Function> {
        Self::ALL.into_iter().find(|f| f.binary() == name)
    }

    fn uses_topic(self) -> bool {
        matches!(
            self,
            Function::CreateJob | Function::JobsApi | Function::Decide | Function::RecordFailure
        )
    }

    /// Starts executions (create-job) or stops them (cancel).
    fn uses_executions(self) -> bool {
        matches!(self, Function::CreateJob | Function::JobsApi)
    }

    /// Checks a manifest at create (does it exist, may it be read) or reads it.
    fn reads_manifests(self) -> bool {
        matches!(self, Function::CreateJob | Function::RegisterManifest)
    }

    /// Creates batch jobs: register-manifest the one that generates a filter's list.
    fn uses_batch(self) -> bool {
        matches!(
            self,
            Function::RegisterManifest | Function::SubmitBatchJob | Function::PollBatchJob
        )
    }

    /// Describes and cancels batch jobs it never creates: the jobs API on a cancel,
    /// record-failure for a filter's batch job still held.
    fn cancels_batch(self) -> bool {
        matches!(self, Function::JobsApi | Function::RecordFailure)
    }

    /// Variables the function cannot start without.
    pub fn required_vars(self) -> Vec<&'static str> {
        // Both tables for everyone: the DynamoDB adapter keeps the counter shards in the
        // jobs table, so even marking objects restored writes to both.
        let mut vars = vec![JOBS_TABLE, OBJECTS_TABLE];
        if self.uses_topic() {
            vars.push(TOPIC_ARN);
        }
        if self.uses_executions() {
            vars.push(STATE_MACHINE_ARN);
        }
        // Cancelling a batch job needs only the account that owns it.
        if self.cancels_batch() {
            vars.push(ACCOUNT_ID);
        }
        if self.reads_manifests() {
            vars.push(ALLOWED_BUCKETS);
        }
        if self.uses_batch() {
            vars.extend([ACCOUNT_ID, BATCH_ROLE_ARN, REPORT_BUCKET]);
        }
        vars
    }

    /// Variables with a default.
    pub fn optional_vars(self) -> Vec<&'static str> {
        let mut vars = vec![AWS_ENDPOINT_URL, RUST_LOG];
        match self {
            Function::CreateJob => vars.extend([DEFAULT_PROGRESS_STEP_PERCENT, AWS_REGION]),
            Function::RegisterManifest => {
                vars.extend([
                    MANIFEST_CHUNK_BYTES,
                    REGISTER_ROWS_PER_INVOCATION,
                    OBJECT_ROW_TTL_DAYS,
                ]);
            }
            Function::PollBatchJob | Function::Reconcile => vars.push(ROWS_PER_INVOCATION),
            _ => {}
        }
        if self.uses_batch() || self == Function::RegisterManifest {
            vars.push(REPORT_PREFIX);
        }
        vars
    }
}

/// A variable that is missing or cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvError {
    Missing {
        function: &'static str,
        name: &'static str,
    },
    Invalid {
        name: &'static str,
        value: String,
        expected: String,
    },
}

impl fmt::Display for EnvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EnvError::Missing { function, name } => {
                write!(
                    f,
                    "environment variable {name} is not set; the {function} function needs it"
                )
            }
            EnvError::Invalid {
                name,
                value,
                expected,
            } => {
                write!(
                    f,
                    "environment variable {name} is {value:?}; expected {expected}"
                )
            }
        }
    }
}

impl std::error::Error for EnvError {}

/// The S3 Batch Operations job settings that do not vary per job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchConfig {
    pub account_id: String,
    pub role_arn: String,
    pub report_bucket: String,
    pub report_prefix: String,
}

/// Everything one function read from its environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Environment {
    pub function: Function,
    pub endpoint_url: Option<String>,
    pub jobs_table: String,
    pub objects_table: String,
    pub topic_arn: Option<String>,
    pub state_machine_arn: Option<String>,
    pub batch: Option<BatchConfig>,
    /// The account of the batch jobs, for a function that only cancels them.
    pub cancel_account_id: Option<String>,
    pub settings: Settings,
}

impl Environment {
    /// Reads the process environment.
    pub fn from_process(function: Function) -> Result<Self, EnvError> {
        Self::from_lookup(function, |name| std::env::var(name).ok())
    }

    /// Reads through `lookup`, so tests need not change the process environment.
    pub fn from_lookup(
        function: Function,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, EnvError> {
        let vars = Vars { function, lookup };
        let mut settings = Settings::default();
        let topic_arn = vars.required_if(function.uses_topic(), TOPIC_ARN)?;
        if let Some(topic) = &topic_arn {
            settings.topic_arn = topic.clone();
        }
        // Register writes an inventory job's manifest beside the completion reports.
        if function.uses_batch() || function == Function::RegisterManifest {
            settings.report_prefix = vars
                .optional(REPORT_PREFIX)
                .map(|p| p.trim_matches('/').to_owned())
                .unwrap_or_else(|| settings.report_prefix.clone());
            settings.report_bucket = vars.required(REPORT_BUCKET)?;
        }
        let batch = if function.uses_batch() {
            let report_prefix = settings.report_prefix.clone();
            Some(BatchConfig {
                account_id: vars.required(ACCOUNT_ID)?,
                role_arn: vars.required(BATCH_ROLE_ARN)?,
                report_bucket: settings.report_bucket.clone(),
                report_prefix,
            })
        } else {
            None
        };
        if function.reads_manifests() {
            settings.allowed_buckets = Some(bucket_list(&vars.required(ALLOWED_BUCKETS)?)?);
        }
        if function == Function::RegisterManifest {
            settings.read_chunk_bytes = vars
                .number(MANIFEST_CHUNK_BYTES, 1024, 64 * 1024 * 1024)?
                .unwrap_or(settings.read_chunk_bytes);
            settings.register_rows_per_invocation = vars
                .number(REGISTER_ROWS_PER_INVOCATION, 1, 10_000_000)?
                .unwrap_or(settings.register_rows_per_invocation);
            if let Some(days) = vars.number(OBJECT_ROW_TTL_DAYS, 1, 3650)? {
                // Bounded above, so it fits.
                settings.object_row_ttl_days =
                    u32::try_from(days).unwrap_or(settings.object_row_ttl_days);
            }
        }
        if matches!(function, Function::PollBatchJob | Function::Reconcile) {
            settings.rows_per_invocation = vars
                .number(ROWS_PER_INVOCATION, 1, 10_000_000)?
                .unwrap_or(settings.rows_per_invocation);
        }
        if function == Function::CreateJob {
            let step = vars.number(
                DEFAULT_PROGRESS_STEP_PERCENT,
                *PROGRESS_STEP_PERCENT.start(),
                *PROGRESS_STEP_PERCENT.end(),
            )?;
            if let Some(step) = step.and_then(|p| u8::try_from(p).ok()) {
                settings.default_progress_step_percent = step;
            }
            if let Some(region) = vars.optional(AWS_REGION) {
                settings.region = region;
            }
        }
        Ok(Self {
            function,
            endpoint_url: vars.optional(AWS_ENDPOINT_URL),
            jobs_table: vars.required(JOBS_TABLE)?,
            objects_table: vars.required(OBJECTS_TABLE)?,
            topic_arn,
            state_machine_arn: vars.required_if(function.uses_executions(), STATE_MACHINE_ARN)?,
            batch,
            cancel_account_id: vars.required_if(function.cancels_batch(), ACCOUNT_ID)?,
            settings,
        })
    }
}

struct Vars<F> {
    function: Function,
    lookup: F,
}

impl<F: Fn(&str) -> Option<String>> Vars<F> {
    /// A set, non-blank value; blank counts as unset, as CloudFormation leaves a
    /// variable empty when its parameter is.
    fn optional(&self, name: &'static str) -> Option<String> {
        (self.lookup)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    fn required(&self, name: &'static str) -> Result<String, EnvError> {
        self.optional(name).ok_or(EnvError::Missing {
            function: self.function.binary(),
            name,
        })
    }

    fn required_if(&self, needed: bool, name: &'static str) -> Result<Option<String>, EnvError> {
        if needed {
            self.required(name).map(Some)
        } else {
            Ok(None)
        }
    }

    fn number(&self, name: &'static str, min: u64, max: u64) -> Result<Option<u64>, EnvError> {
        let Some(value) = self.optional(name) else {
            return Ok(None);
        };
        match value.parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
            _ => Err(EnvError::Invalid {
                name,
                value,
                expected: format!("a whole number from {min} to {max}"),
            }),
        }
    }
}

/// A comma-separated list of bucket names, as CloudFormation joins a list parameter.
fn bucket_list(value: &str) -> Result<Vec<String>, EnvError> {
    let buckets: Vec<String> = value
        .split(',')
        .map(str::trim)
        .filter(|b| !b.is_empty())
        .map(str::to_owned)
        .collect();
    if let Some(bad) = buckets
        .iter()
        .find(|b| gbr_core::object_id::validate_bucket(b).is_err())
    {
        return Err(EnvError::Invalid {
            name: ALLOWED_BUCKETS,
            value: value.to_owned(),
            expected: format!("comma-separated S3 bucket names ({bad:?} is not one)"),
        });
    }
    if buckets.is_empty() {
        return Err(EnvError::Invalid {
            name: ALLOWED_BUCKETS,
            value: value.to_owned(),
            expected: "at least one S3 bucket name".into(),
        });
    }
    Ok(buckets)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    fn full() -> Vec<(&'static str, &'static str)> {
        vec![
            (JOBS_TABLE, "jobs"),
            (OBJECTS_TABLE, "objects"),
            (TOPIC_ARN, "arn:aws:sns:eu-west-1:123456789012:events"),
            (
                STATE_MACHINE_ARN,
                "arn:aws:states:eu-west-1:123456789012:stateMachine:sm",
            ),
            (ALLOWED_BUCKETS, "archive-a, archive-b"),
            (ACCOUNT_ID, "123456789012"),
            (BATCH_ROLE_ARN, "arn:aws:iam::123456789012:role/batch"),
            (REPORT_BUCKET, "reports"),
            (REPORT_PREFIX, "/reports/"),
        ]
    }

    #[test]
    fn every_function_loads_from_its_required_variables_alone() {
        let all = full();
        for function in Function::ALL {
            let required = function.required_vars();
            let only: Vec<_> = all
                .iter()
                .filter(|(k, _)| required.contains(k))
                .copied()
                .collect();
            let env = Environment::from_lookup(function, lookup(&only));
            assert!(env.is_ok(), "{function:?}: {env:?}");
        }
    }

    #[test]
    fn a_missing_variable_is_named() {
        for function in Function::ALL {
            for missing in function.required_vars() {
                let without: Vec<_> = full().into_iter().filter(|(k, _)| *k != missing).collect();
                let err = Environment::from_lookup(function, lookup(&without)).unwrap_err();
                assert_eq!(
                    err,
                    EnvError::Missing {
                        function: function.binary(),
                        name: missing
                    }
                );
                assert!(err.to_string().contains(missing), "{err}");
            }
        }
    }

    #[test]
    fn values_are_parsed_and_checked() {
        let env = Environment::from_lookup(Function::RegisterManifest, lookup(&full())).unwrap();
        assert_eq!(
            env.settings.allowed_buckets,
            Some(vec!["archive-a".to_owned(), "archive-b".to_owned()])
        );
        let env = Environment::from_lookup(Function::PollBatchJob, lookup(&full())).unwrap();
        assert_eq!(env.settings.report_prefix, "reports");
        assert_eq!(env.batch.unwrap().report_prefix, "reports");

        let mut bad = full();
        bad.push((ROWS_PER_INVOCATION, "lots"));
        let err = Environment::from_lookup(Function::Reconcile, lookup(&bad)).unwrap_err();
        assert!(err.to_string().contains(ROWS_PER_INVOCATION), "{err}");

        let mut bad = full();
        bad.push((DEFAULT_PROGRESS_STEP_PERCENT, "0"));
        assert!(Environment::from_lookup(Function::CreateJob, lookup(&bad)).is_err());

        let mut bad = full();
        bad.retain(|(k, _)| *k != ALLOWED_BUCKETS);
        bad.push((ALLOWED_BUCKETS, "Not_A_Bucket"));
        let err = Environment::from_lookup(Function::RegisterManifest, lookup(&bad)).unwrap_err();
        assert!(err.to_string().contains(ALLOWED_BUCKETS), "{err}");
    }

    #[test]
    fn binaries_round_trip() {
        for function in Function::ALL {
            assert_eq!(Function::from_binary(function.binary()), Some(function));
        }
        assert_eq!(Function::from_binary("nope"), None);
    }
}
