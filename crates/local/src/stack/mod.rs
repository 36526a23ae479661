//! The whole system on one machine: moto for S3, SNS and SQS, the embedded local
//! DynamoDB; the local engine
//! running `statemachine/bulk-restore.asl.json` with the real handlers; the batch
//! simulator for S3 Batch Operations and Glacier's delay; a local API Gateway; the SQS
//! event source of the restore-event function.

pub mod api;
pub mod drain;
pub mod executions;
pub mod functions;
pub mod progress;
pub mod resources;

use std::net::SocketAddr;
use std::sync::Arc;

use aws_config::SdkConfig;
use gbr_aws::{DynamoStore, SdkSettings, SnsNotifier, load_sdk_config};
use gbr_core::object_id::ObjectId;
use gbr_core::ports::Ports;
use gbr_core::settings::Settings;
use thiserror::Error;

use self::api::LocalApi;
use self::drain::Drain;
use self::executions::{EngineClock, LocalExecutions};
use self::progress::ProgressQueue;
use self::resources::{Endpoints, Names, provision};
use crate::engine::Engine;
use crate::engine::clock::SimClock;
use crate::faults::FaultInjector;
use crate::metrics::{CountRequests, DynamoDbCapacity, Usage};
use crate::objects::{DataObjects, ObjectsMode};
use crate::queue::{QueueMode, RestoreQueue};
use crate::services::ServiceEndpoints;
use crate::simulator::{BatchSimulator, SimOptions, SimulatorTargets};

/// The definition the template deploys, compiled in so the local stack can only run
/// the real one.
pub const DEFINITION: &str = include_str!("../../../../statemachine/bulk-restore.asl.json");
pub const STATE_MACHINE_ARN: &str =
    "arn:aws:states:us-east-1:123456789012:stateMachine:glacier-bulk-restore";

#[derive(Debug, Error)]
pub enum StackError {
    #[error("creating the local resources failed: {0}")]
    Provision(String),
    #[error("queue: {0}")]
    Queue(String),
    #[error("local API: {0}")]
    Api(String),
    #[error("the state machine definition: {0}")]
    Definition(String),
    #[error("the objects table: {0}")]
    Objects(String),
}

/// One row of the objects table.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ObjectRow {
    pub job_id: String,
    pub bucket: String,
    pub key: String,
    pub state: String,
}

/// What a stack is made of.
#[derive(Debug, Clone)]
pub struct StackConfig {
    /// Prefix of every resource name.
    pub prefix: String,
    /// Buckets holding the objects to restore.
    pub data_buckets: Vec<String>,
    pub simulator: SimOptions,
    /// Seed of the engine's retry jitter.
    pub seed: u64,
    /// Where the data buckets' objects live.
    pub objects: ObjectsMode,
    /// Where the restore-events queue lives.
    pub queue: QueueMode,
    /// Share of service calls, task invocations and restore-event batches that fail
    /// as AWS's do ([`crate::faults`]); drawn from `seed`.
    pub fault_rate: f64,
    /// Jobs that may run at once (`None`: no bound); a create beyond it answers 503.
    pub max_running_jobs: Option<usize>,
    /// ListObjectsV2 pages `POST /estimate` reads for a filter (`None`: the deployed
    /// bound); fewer, to reach the bound with few objects.
    pub estimate_list_pages: Option<usize>,
}

pub struct LocalStack {
    pub names: Names,
    pub endpoints: Endpoints,
    /// moto's S3, SNS and SQS.
    pub sdk: SdkConfig,
    /// The local DynamoDB.
    pub dynamodb_sdk: SdkConfig,
    pub clock: Arc<dyn SimClock>,
    pub ports: Arc<Ports>,
    pub settings: Arc<Settings>,
    pub engine: Arc<Engine>,
    pub simulator: Arc<BatchSimulator>,
    pub s3: aws_sdk_s3::Client,
    /// The data buckets' objects.
    pub objects: DataObjects,
    pub sqs: aws_sdk_sqs::Client,
    /// The restore-events queue the simulator posts to and the drain reads.
    pub restore_queue: RestoreQueue,
    /// What the run used, as AWS would bill it.
    pub usage: Arc<Usage>,
    /// Faults injected so far.
    pub faults: Arc<FaultInjector>,
}

impl LocalStack {
    /// Creates the resources on the local servers and wires everything.
    pub async fn start(
        services: &ServiceEndpoints,
        clock: Arc<dyn SimClock>,
        config: StackConfig,
    ) -> Result<Self, StackError> {
        let sdk = load_sdk_config(&SdkSettings::local(&services.moto)).await;
        let dynamodb_sdk = load_sdk_config(&SdkSettings::local(&services.dynamodb)).await;
        let names = Names::new(&config.prefix);
        let endpoints = provision(&sdk, &dynamodb_sdk, &names, &config.data_buckets).await?;
        let s3 = gbr_aws::config::s3_client(&sdk);
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let objects = match config.objects {
            ObjectsMode::Moto => DataObjects::Moto(s3.clone()),
            ObjectsMode::Memory => DataObjects::Memory(Arc::default()),
        };
        let settings = Arc::new(Settings {
            topic_arn: endpoints.topic_arn.clone(),
            report_bucket: names.report_bucket.clone(),
            report_prefix: "batch-reports".into(),
            // As a deployment's AllowedBuckets: the buckets of the manifests and of the
            // objects they name.
            allowed_buckets: Some(
                config
                    .data_buckets
                    .iter()
                    .chain([&names.manifest_bucket])
                    .cloned()
                    .collect(),
            ),
            estimate_list_pages: config
                .estimate_list_pages
                .unwrap_or(Settings::default().estimate_list_pages),
            ..Settings::default()
        });
        let usage = Arc::new(Usage::default());
        let restore_queue = match config.queue {
            QueueMode::Moto => RestoreQueue::moto(
                sqs.clone(),
                endpoints.restore_queue_url.clone(),
                names.restore_queue.clone(),
                endpoints.dead_letter_queue_url.clone(),
                Arc::clone(&usage),
            ),
            QueueMode::Memory => RestoreQueue::memory(Arc::clone(&clock), Arc::clone(&usage)),
        };
        let simulator = Arc::new(BatchSimulator::new(
            SimulatorTargets {
                s3: s3.clone(),
                objects: objects.clone(),
                restore_queue: restore_queue.clone(),
                report_bucket: settings.report_bucket.clone(),
                report_prefix: settings.report_prefix.clone(),
            },
            Arc::clone(&clock),
            config.simulator.clone(),
        ));
        let executions = Arc::new(LocalExecutions::bounded(config.max_running_jobs));
        // The production adapters, on clients that count what they send.
        let dynamodb = aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&dynamodb_sdk)
                .interceptor(DynamoDbCapacity(Arc::clone(&usage)))
                .interceptor(CountRequests(Arc::clone(&usage)))
                .build(),
        );
        let store = Arc::new(DynamoStore::from_client(dynamodb, names.tables.clone()));
        let source = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&sdk)
                .force_path_style(true)
                .interceptor(CountRequests(Arc::clone(&usage)))
                .build(),
        );
        let sns = aws_sdk_sns::Client::from_conf(
            aws_sdk_sns::config::Builder::from(&sdk)
                .interceptor(CountRequests(Arc::clone(&usage)))
                .build(),
        );
        // Its own stream of draws, so that faults change no other random choice.
        let faults = FaultInjector::new(config.fault_rate, config.seed ^ 0xfa17);
        let ports = Ports {
            jobs: store.clone(),
            objects: store,
            source: objects.source(source.clone()),
            inspector: objects.inspector(source),
            batch: simulator.clone(),
            notifier: Arc::new(SnsNotifier::from_client(sns, endpoints.topic_arn.clone())),
            executions: executions.clone(),
            clock: Arc::new(EngineClock(Arc::clone(&clock))),
        };
        let ports = Arc::new(if faults.rate() > 0.0 {
            faults.wrap(&ports)
        } else {
            ports
        });
        let registry = functions::registry(
            Arc::clone(&ports),
            Arc::clone(&settings),
            Arc::clone(&usage),
            Arc::clone(&faults),
        );
        let engine = Engine::new(
            DEFINITION,
            &functions::substitutions(),
            &registry,
            Arc::clone(&clock),
            config.seed,
        )
        .map_err(|e| StackError::Definition(e.to_string()))?
        .with_state_machine_arn(STATE_MACHINE_ARN)
        .map_err(|e| StackError::Definition(e.to_string()))?;
        let engine = Arc::new(engine);
        executions.set_engine(Arc::clone(&engine));
        Ok(Self {
            names,
            endpoints,
            sdk,
            dynamodb_sdk,
            clock,
            ports,
            settings,
            engine,
            simulator,
            s3,
            objects,
            sqs,
            restore_queue,
            usage,
            faults,
        })
    }

    /// Serves the API on `addr` with `api_key`.
    pub async fn serve_api(
        &self,
        addr: SocketAddr,
        api_key: String,
    ) -> Result<LocalApi, StackError> {
        api::serve(
            addr,
            api_key,
            Arc::clone(&self.ports),
            Arc::clone(&self.settings),
        )
        .await
    }

    /// The restore-event function's event source.
    pub fn drain(&self) -> Drain {
        Drain {
            queue: self.restore_queue.clone(),
            queue_name: self.names.restore_queue.clone(),
            ports: Arc::clone(&self.ports),
            usage: Arc::clone(&self.usage),
            faults: Arc::clone(&self.faults),
        }
    }

    /// Every row of the objects table, sorted by job, bucket and key: what the tests
    /// and the soak check counters against.
    pub async fn object_rows(&self) -> Result<Vec<ObjectRow>, StackError> {
        use gbr_aws::dynamodb::schema::{JOB_ID, OBJECT_ID, STATE};
        let dynamodb = aws_sdk_dynamodb::Client::new(&self.dynamodb_sdk);
        let unreadable = StackError::Objects;
        let mut rows = Vec::new();
        let mut start = None;
        loop {
            let page = dynamodb
                .scan()
                .table_name(&self.names.tables.objects)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| unreadable(e.to_string()))?;
            for item in page.items.unwrap_or_default() {
                let text = |name: &str| {
                    item.get(name)
                        .and_then(|v| v.as_s().ok())
                        .cloned()
                        .ok_or_else(|| unreadable(format!("a row without {name}: {item:?}")))
                };
                let object = ObjectId::from_canonical(&text(OBJECT_ID)?)
                    .map_err(|e| unreadable(format!("a bad object_id ({e}): {item:?}")))?;
                rows.push(ObjectRow {
                    job_id: text(JOB_ID)?,
                    bucket: object.bucket().to_owned(),
                    key: object.key().to_owned(),
                    state: text(STATE)?,
                });
            }
            match page.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => break,
            }
        }
        rows.sort();
        Ok(rows)
    }

    /// A subscriber's view of the topic.
    pub fn progress(&self) -> ProgressQueue {
        ProgressQueue {
            sqs: self.sqs.clone(),
            queue_url: self.endpoints.progress_queue_url.clone(),
        }
    }
}
