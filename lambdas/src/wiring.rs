//! Builds a function's [`Ports`] from the `gbr-aws` adapters.
//!
//! A function gets an SDK adapter only for the services its environment names; the
//! other ports answer [`NotWired`], so a task that reaches for a service its function
//! was not given fails with an error saying which, instead of calling AWS without
//! permission.

use std::sync::Arc;

use async_trait::async_trait;
use aws_config::SdkConfig;
use gbr_aws::{
    BatchSettings, DynamoStore, S3BatchOperations, S3Objects, SdkSettings, SnsNotifier,
    StepFunctions, TableNames, load_sdk_config,
};
use gbr_core::event::BulkEvent;
use gbr_core::ports::Ports;
use gbr_core::ports::{
    BatchJobInfo, BatchJobSpec, BatchOperations, Executions, Notifier, PortError, PortResult,
    SystemClock,
};
use serde_json::Value;

use crate::environment::{EnvError, Environment, Function};
use crate::logging;

/// Batch Operations runs higher numbers first among the account's jobs.
const BATCH_PRIORITY: i32 = 10;

/// What a binary needs for every invocation.
pub struct Wired {
    pub env: Environment,
    pub ports: Ports,
}

/// Starts a function: logs, environment, ports. A missing variable is logged (the
/// start-up error is all an operator sees) and returned.
pub async fn start(function: Function) -> Result<Wired, EnvError> {
    logging::init();
    let env = Environment::from_process(function).inspect_err(|e| {
        tracing::error!(function = function.binary(), error = %e, "the function cannot start");
    })?;
    let sdk = load_sdk_config(&SdkSettings {
        endpoint_url: env.endpoint_url.clone(),
        ..SdkSettings::default()
    })
    .await;
    let ports = ports(&env, &sdk);
    Ok(Wired { env, ports })
}

/// The ports of `env`'s function on `sdk`, whose endpoint (`AWS_ENDPOINT_URL`, when
/// set) every client uses.
pub fn ports(env: &Environment, sdk: &SdkConfig) -> Ports {
    let store = Arc::new(DynamoStore::new(
        sdk,
        TableNames {
            jobs: env.jobs_table.clone(),
            objects: env.objects_table.clone(),
        },
    ));
    let s3 = Arc::new(S3Objects::new(sdk));
    let batch: Arc<dyn BatchOperations> = match &env.batch {
        Some(b) => Arc::new(S3BatchOperations::new(
            sdk,
            BatchSettings {
                account_id: b.account_id.clone(),
                role_arn: b.role_arn.clone(),
                report_bucket_arn: format!(
                    "arn:{}:s3:::{}",
                    partition(sdk.region().map(|r| r.as_ref())),
                    b.report_bucket
                ),
                report_prefix: b.report_prefix.clone(),
                priority: BATCH_PRIORITY,
            },
        )),
        None => match &env.cancel_account_id {
            Some(account_id) => Arc::new(CancelOnly {
                batch: S3BatchOperations::new(
                    sdk,
                    BatchSettings {
                        account_id: account_id.clone(),
                        // Never used: this adapter only describes and cancels jobs.
                        role_arn: String::new(),
                        report_bucket_arn: String::new(),
                        report_prefix: String::new(),
                        priority: BATCH_PRIORITY,
                    },
                ),
                function: env.function,
            }),
            None => Arc::new(NotWired(env.function)),
        },
    };
    let notifier: Arc<dyn Notifier> = match &env.topic_arn {
        Some(topic) => Arc::new(SnsNotifier::new(sdk, topic.clone())),
        None => Arc::new(NotWired(env.function)),
    };
    let executions: Arc<dyn Executions> = match &env.state_machine_arn {
        Some(arn) => Arc::new(StepFunctions::new(sdk, arn.clone())),
        None => Arc::new(NotWired(env.function)),
    };
    Ports {
        jobs: store.clone(),
        objects: store,
        source: s3.clone(),
        inspector: s3,
        batch,
        notifier,
        executions,
        clock: Arc::new(SystemClock),
    }
}

/// The ARN partition of a region: S3 bucket ARNs carry no region, only this.
fn partition(region: Option<&str>) -> &'static str {
    match region {
        Some(r) if r.starts_with("cn-") => "aws-cn",
        Some(r) if r.starts_with("us-gov-") => "aws-us-gov",
        _ => "aws",
    }
}

/// A port this function was not given.
#[derive(Debug, Clone, Copy)]
pub struct NotWired(pub Function);

impl NotWired {
    fn refuse<T>(&self, port: &str) -> PortResult<T> {
        Err(PortError::Rejected(format!(
            "the {} function is not wired to {port}; give it the environment variables (and permissions) for it",
            self.0.binary()
        )))
    }
}

#[async_trait]
impl BatchOperations for NotWired {
    async fn create_job(&self, _spec: &BatchJobSpec) -> PortResult<String> {
        self.refuse("S3 Batch Operations")
    }

    async fn describe_job(&self, _batch_job_id: &str) -> PortResult<BatchJobInfo> {
        self.refuse("S3 Batch Operations")
    }

    async fn confirm_job(&self, _batch_job_id: &str) -> PortResult<()> {
        self.refuse("S3 Batch Operations")
    }

    async fn cancel_job(&self, _batch_job_id: &str) -> PortResult<()> {
        self.refuse("S3 Batch Operations")
    }
}

/// Batch Operations for a function that cancels batch jobs but never creates one: it
/// has no role to give a new job, and no permission to create it.
pub struct CancelOnly {
    batch: S3BatchOperations,
    function: Function,
}

#[async_trait]
impl BatchOperations for CancelOnly {
    async fn create_job(&self, _spec: &BatchJobSpec) -> PortResult<String> {
        NotWired(self.function).refuse("S3 Batch Operations job creation")
    }

    async fn describe_job(&self, batch_job_id: &str) -> PortResult<BatchJobInfo> {
        self.batch.describe_job(batch_job_id).await
    }

    async fn confirm_job(&self, _batch_job_id: &str) -> PortResult<()> {
        NotWired(self.function).refuse("S3 Batch Operations job confirmation")
    }

    async fn cancel_job(&self, batch_job_id: &str) -> PortResult<()> {
        self.batch.cancel_job(batch_job_id).await
    }
}

#[async_trait]
impl Notifier for NotWired {
    async fn publish(&self, _event: &BulkEvent) -> PortResult<()> {
        self.refuse("SNS")
    }
}

#[async_trait]
impl Executions for NotWired {
    async fn start(&self, _name: &str, _input: &Value) -> PortResult<String> {
        self.refuse("Step Functions")
    }

    async fn stop(&self, _arn: &str, _error: &str, _cause: &str) -> PortResult<()> {
        self.refuse("Step Functions")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_follow_the_region() {
        assert_eq!(partition(Some("eu-west-1")), "aws");
        assert_eq!(partition(Some("cn-north-1")), "aws-cn");
        assert_eq!(partition(Some("us-gov-west-1")), "aws-us-gov");
        assert_eq!(partition(None), "aws");
    }

    #[tokio::test]
    async fn a_port_not_wired_says_which_function_lacks_what() {
        let err = Notifier::publish(&NotWired(Function::Tally), &sample_event())
            .await
            .unwrap_err();
        assert!(
            matches!(&err, PortError::Rejected(m) if m.contains("tally") && m.contains("SNS")),
            "{err}"
        );
    }

    fn sample_event() -> BulkEvent {
        serde_json::from_value(serde_json::json!({
            "JobId": "j", "BatchJobId": "", "Status": "Restoring", "ProgressPercent": "0",
            "FailedBatchFiles": "0", "TotalFiles": "0", "RestoredFiles": "0", "ClientTag": "",
            "Timestamp": "", "Reason": "", "EventId": "j/Restoring/0"
        }))
        .unwrap()
    }

    #[tokio::test]
    async fn every_function_wires_without_calling_aws() {
        // Building clients makes no request, and a fixed region and credentials keep
        // the SDK from probing instance metadata: this runs offline.
        let sdk = load_sdk_config(&SdkSettings::local("http://127.0.0.1:9")).await;
        for function in Function::ALL {
            let required = function.required_vars();
            let lookup = |name: &str| {
                required.contains(&name).then(|| match name {
                    "ALLOWED_BUCKETS" => "photos-1".to_owned(),
                    _ => format!("arn:aws:test:eu-west-1:123456789012:{name}"),
                })
            };
            let env = Environment::from_lookup(function, lookup).unwrap();
            let ports = ports(&env, &sdk);
            // Only ports left unwired are called: they answer without a request.
            if env.topic_arn.is_none() {
                assert!(
                    ports.notifier.publish(&sample_event()).await.is_err(),
                    "{function:?}"
                );
            }
            if env.state_machine_arn.is_none() {
                assert!(
                    ports.executions.start("j", &Value::Null).await.is_err(),
                    "{function:?}"
                );
            }
            if env.batch.is_none() && env.cancel_account_id.is_none() {
                assert!(ports.batch.describe_job("b").await.is_err(), "{function:?}");
            }
            if env.batch.is_none() {
                let spec = BatchJobSpec {
                    job_id: "j".into(),
                    manifest: gbr_core::ports::BatchManifest::Csv {
                        bucket: "b".into(),
                        key: "k".into(),
                        etag: "e".into(),
                        versioned: false,
                    },
                    tier: gbr_core::request::Tier::Bulk,
                    expiration_days: 1,
                    client_tag: None,
                };
                assert!(
                    matches!(
                        ports.batch.create_job(&spec).await,
                        Err(PortError::Rejected(_))
                    ),
                    "{function:?}"
                );
            }
        }
    }
}
