//! One bulk restore, end to end, on a local stack: the objects are put in moto's S3,
//! the manifest uploaded, the job created through the local API with its key, restore
//! events drained into the handler, and the bulk events read from the progress queue
//! until the terminal one.

use gbr_aws::errors::port_error;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gbr_core::event::BulkEvent;
use gbr_core::request::{StorageClass, Tier};
use gbr_core::status::JobStatus;
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use thiserror::Error;
use tokio::sync::watch;

use crate::engine::clock::{SimClock, add};
use crate::objects::ObjectsMode;
use crate::queue::QueueMode;
use crate::scenario::{ScenarioError, SetupRow, inventory_listing, manifest_buckets, prepare};
use crate::services::ServiceEndpoints;
use crate::simulator::SimOptions;
use crate::stack::drain::DrainStats;
use crate::stack::{LocalStack, StackConfig, StackError};
use crate::{ExecutionDescription, HistoryEvent};

#[derive(Debug, Error)]
pub enum RunError {
    #[error(transparent)]
    Stack(#[from] StackError),
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    #[error("uploading the manifest: {0}")]
    Upload(String),
    #[error("POST {path} answered {status}: {body}")]
    CreateJob {
        path: String,
        status: u16,
        body: String,
    },
    #[error("calling the local API: {0}")]
    Http(String),
    #[error("the execution ended {status} without a terminal event: {detail}")]
    NoTerminalEvent { status: String, detail: String },
}

/// What is uploaded as the manifest the job names.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ManifestUpload {
    /// The manifest, with the version ids S3 gave the objects.
    #[default]
    Prepared,
    /// These bytes instead (a malformed manifest, say); the objects are still created.
    Raw(String),
    /// Nothing: the job names a manifest that does not exist.
    Nothing,
    /// An S3 Inventory report of the manifest's objects in their setup classes and
    /// sizes, written as S3 Inventory writes reports: the job names its manifest.json
    /// (`"manifest_format": "inventory"`). The objects must be in one bucket, as a
    /// report lists one.
    Inventory,
    /// No list at all: the job gives this `filter` (JSON, as the API takes it), and
    /// the simulated manifest generator lists the setup's objects it selects. The
    /// run asks `POST /estimate` first.
    Filter(Value),
}

/// How time passes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TimeMode {
    /// Waits take no time: a 48-hour job runs in seconds, the same way for a seed.
    Virtual,
    /// Clock time runs this many times faster than wall time.
    Scaled(f64),
}

#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Prefix of the stack's resource names (unique per run on a shared moto).
    pub prefix: String,
    pub manifest: String,
    pub setup: Vec<SetupRow>,
    pub storage_class: StorageClass,
    pub tier: Tier,
    pub time: TimeMode,
    pub simulator: SimOptions,
    /// Fields added to the create-job body (e.g. `deadline_hours`).
    pub request_extra: Value,
    /// How often (clock time) restore events are drained and progress read.
    pub poll: Duration,
    pub upload: ManifestUpload,
    /// Where the data buckets' objects live.
    pub objects: ObjectsMode,
    /// Where the restore-events queue lives.
    pub queue: QueueMode,
    /// See [`StackConfig::fault_rate`].
    pub fault_rate: f64,
    /// Shown the estimate of a filter run as soon as it is answered, before the job
    /// is created.
    pub on_estimate: Option<fn(&Value)>,
}

/// What a run produced.
pub struct RunOutcome {
    pub job_id: String,
    /// What `POST /estimate` answered before the job was created (filter runs): the
    /// estimate, or the API's refusal of a prefix too long to list in time.
    pub estimate: Option<Value>,
    pub events: Vec<BulkEvent>,
    pub execution: ExecutionDescription,
    pub history: Vec<HistoryEvent>,
    pub drained: DrainStats,
    pub wall: Duration,
    pub stack: LocalStack,
}

impl RunOutcome {
    pub fn terminal(&self) -> Option<JobStatus> {
        self.events.iter().rev().find_map(|e| {
            e.status
                .parse::<JobStatus>()
                .ok()
                .filter(|s| s.is_terminal())
        })
    }
}

/// Rows per data file of the S3 Inventory reports a run writes: small enough that a
/// demo's report has several files, as a real one of a large bucket has.
const INVENTORY_ROWS_PER_FILE: usize = 250;

/// Times a create-job answered 503 is sent.
const CREATE_TRIES: u32 = 10;

/// The clock a mode runs on, starting now.
pub fn clock_for(mode: TimeMode) -> Arc<dyn SimClock> {
    let start = Timestamp::now();
    match mode {
        TimeMode::Virtual => Arc::new(crate::engine::clock::VirtualClock::new(start)),
        TimeMode::Scaled(scale) => Arc::new(crate::engine::clock::ScaledClock::new(start, scale)),
    }
}

/// Runs one job on the local servers; `on_event` sees each bulk event as it is read from
/// the progress queue.
pub async fn run_job(
    services: &ServiceEndpoints,
    options: RunOptions,
    mut on_event: impl FnMut(&BulkEvent),
) -> Result<RunOutcome, RunError> {
    let started = Instant::now();
    let clock = clock_for(options.time);
    let buckets = manifest_buckets(&options.manifest)?;
    let config = StackConfig {
        prefix: options.prefix.clone(),
        data_buckets: buckets,
        simulator: options.simulator.clone(),
        seed: options.simulator.seed,
        objects: options.objects,
        queue: options.queue,
        fault_rate: options.fault_rate,
        max_running_jobs: None,
        estimate_list_pages: None,
    };
    let stack = LocalStack::start(services, Arc::clone(&clock), config).await?;
    let prepared = prepare(
        &stack.objects,
        &stack.simulator,
        &options.manifest,
        options.storage_class.as_str(),
        &options.setup,
        Duration::from_secs(2 * 3600),
    )
    .await?;
    let mut manifest_key = "manifests/manifest.csv".to_owned();
    let mut uploads = Vec::new();
    match &options.upload {
        ManifestUpload::Prepared => {
            uploads.push((manifest_key.clone(), prepared.manifest.into_bytes()));
        }
        ManifestUpload::Raw(text) => {
            uploads.push((manifest_key.clone(), text.clone().into_bytes()))
        }
        ManifestUpload::Nothing | ManifestUpload::Filter(_) => {}
        ManifestUpload::Inventory => {
            let [bucket] = prepared.buckets.as_slice() else {
                return Err(RunError::Upload(format!(
                    "an S3 Inventory report lists one bucket; the objects are in {}",
                    prepared.buckets.join(", ")
                )));
            };
            let listed =
                inventory_listing(&prepared, options.storage_class.as_str(), &options.setup)?;
            let report = gbr_core::inventory::write::report(
                bucket,
                &stack.names.manifest_bucket,
                "inventory",
                &listed,
                INVENTORY_ROWS_PER_FILE,
            );
            manifest_key = report.manifest_key.clone();
            uploads.push((report.manifest_key, report.manifest_json));
            uploads.extend(report.data_files);
        }
    }
    for (key, body) in uploads {
        stack
            .s3
            .put_object()
            .bucket(&stack.names.manifest_bucket)
            .key(&key)
            .body(body.into())
            .send()
            .await
            .map_err(|e| {
                RunError::Upload(
                    port_error(
                        "PutObject",
                        format!("s3://{}/{key}", stack.names.manifest_bucket),
                        e,
                    )
                    .to_string(),
                )
            })?;
    }
    // Restore notices of objects set up as already restored, sent before the job.
    stack.drain().drain_once().await?;

    let api_key = format!("local-{}", uuid::Uuid::new_v4());
    let api = stack
        .serve_api(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), api_key.clone())
        .await?;
    // Registered before the job starts, so virtual time cannot pass them by.
    let drain_participant = clock.register();
    let reader_participant = clock.register();

    // With a client token, as a careful client sends it: a create that answered 503
    // (the job could not be recorded or started) is sent again and finds its job.
    let mut body = json!({
        "bucket": stack.names.manifest_bucket,
        "key": manifest_key,
        "tier": options.tier.as_str(),
        "expiration_days": 1,
        "client_tag": "local-run",
        "storage_class": options.storage_class.as_str(),
        "client_token": format!("{}-create", options.prefix),
    });
    if options.upload == ManifestUpload::Inventory {
        body["manifest_format"] = json!("inventory");
    }
    if let (ManifestUpload::Filter(filter), Some(b)) = (&options.upload, body.as_object_mut()) {
        b.remove("bucket");
        b.remove("key");
        // The filter's classes set the deadline.
        b.remove("storage_class");
        b.insert("filter".into(), filter.clone());
    }
    if let (Some(b), Some(extra)) = (body.as_object_mut(), options.request_extra.as_object()) {
        b.extend(extra.clone());
    }
    let estimate = match &options.upload {
        ManifestUpload::Filter(_) => {
            match post_json(&format!("{}/estimate", api.url), &api_key, &body).await {
                Ok(estimate) => Some(estimate),
                // Too many keys to list within the API's time (ListTooLong): the job
                // is created all the same, as S3 lists it; the refusal is shown.
                Err(RunError::CreateJob {
                    status: 422, body, ..
                }) => {
                    Some(serde_json::from_str(&body).unwrap_or_else(|_| json!({ "message": body })))
                }
                Err(e) => return Err(e),
            }
        }
        _ => None,
    };
    if let (Some(show), Some(estimate)) = (options.on_estimate, &estimate) {
        show(estimate);
    }
    let url = format!("{}/create-job", api.url);
    let mut tries = 1;
    let created = loop {
        match post_json(&url, &api_key, &body).await {
            Err(RunError::CreateJob { status: 503, .. }) if tries < CREATE_TRIES => tries += 1,
            other => break other?,
        }
    };
    let job_id = created["BulkJobId"].as_str().unwrap_or_default().to_owned();
    let execution_arn = created["ExecutionArn"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    let (stop, stopped) = watch::channel(false);
    let drain = tokio::spawn(stack.drain().run(
        Arc::clone(&clock),
        options.poll,
        drain_participant,
        stopped,
    ));

    let progress = stack.progress();
    let step = SignedDuration::try_from(options.poll).unwrap_or(SignedDuration::from_secs(60));
    let mut events = Vec::new();
    let result = loop {
        let new = progress.take().await?;
        for e in &new {
            on_event(e);
        }
        let ended = new.iter().any(|e| {
            e.status
                .parse::<JobStatus>()
                .is_ok_and(JobStatus::is_terminal)
        });
        events.extend(new);
        if ended {
            break Ok(());
        }
        let execution = stack
            .engine
            .describe_execution(&execution_arn)
            .map_err(|e| StackError::Definition(e.to_string()))?;
        if execution.stop_date.is_some() {
            // Anything published before the end is in the queue now.
            let last = progress.take().await?;
            for e in &last {
                on_event(e);
            }
            let ended = last.iter().any(|e| {
                e.status
                    .parse::<JobStatus>()
                    .is_ok_and(JobStatus::is_terminal)
            });
            events.extend(last);
            if ended {
                break Ok(());
            }
            break Err(RunError::NoTerminalEvent {
                status: format!("{:?}", execution.status),
                detail: format!(
                    "{} {}",
                    execution.error.unwrap_or_default(),
                    execution.cause.unwrap_or_default()
                ),
            });
        }
        clock.sleep_until(add(clock.now(), step)).await;
    };
    drop(reader_participant);
    let _ = stop.send(true);
    let drained = drain
        .await
        .map_err(|e| StackError::Queue(format!("the drain stopped: {e}")))??;
    drop(api);
    result?;
    let execution = stack
        .engine
        .wait_for(&execution_arn)
        .await
        .map_err(|e| StackError::Definition(e.to_string()))?;
    let history = stack
        .engine
        .history(&execution_arn)
        .map_err(|e| StackError::Definition(e.to_string()))?;
    Ok(RunOutcome {
        job_id,
        estimate,
        events,
        execution,
        history,
        drained,
        wall: started.elapsed(),
        stack,
    })
}

impl RunOutcome {
    /// Writes what a person may want to look at after the run into `dir`: the job
    /// record as the jobs table holds it, the execution's description and history, and
    /// the events in the order the progress queue delivered them.
    pub async fn write_artifacts(
        &self,
        dir: &std::path::Path,
    ) -> Result<Vec<std::path::PathBuf>, RunError> {
        let io = |e: std::io::Error| RunError::Upload(format!("writing to {}: {e}", dir.display()));
        std::fs::create_dir_all(dir).map_err(io)?;
        let job = self
            .stack
            .ports
            .jobs
            .get(&self.job_id)
            .await
            .map_err(|e| RunError::Http(format!("reading the job back: {e}")))?;
        let tally = self
            .stack
            .ports
            .jobs
            .tally(&self.job_id)
            .await
            .map_err(|e| RunError::Http(format!("reading the counters back: {e}")))?;
        let events: String = self
            .events
            .iter()
            .map(|e| serde_json::to_string(e).unwrap_or_default() + "\n")
            .collect();
        let files = [
            (
                "job.json",
                serde_json::to_string_pretty(&json!({ "record": job, "counters": tally })),
            ),
            (
                "execution.json",
                serde_json::to_string_pretty(&self.execution),
            ),
            ("history.json", serde_json::to_string_pretty(&self.history)),
        ];
        let mut written = Vec::new();
        for (name, text) in files {
            let path = dir.join(name);
            std::fs::write(&path, text.unwrap_or_default()).map_err(io)?;
            written.push(path);
        }
        let path = dir.join("events.jsonl");
        std::fs::write(&path, events).map_err(io)?;
        written.push(path);
        Ok(written)
    }
}

/// POSTs JSON with the API key; any answer but 200 is an error with its body.
pub async fn post_json(url: &str, api_key: &str, body: &Value) -> Result<Value, RunError> {
    let response = reqwest::Client::new()
        .post(url)
        .header("x-api-key", api_key)
        .json(body)
        .send()
        .await
        .map_err(|e| RunError::Http(e.to_string()))?;
    let status = response.status().as_u16();
    let text = response
        .text()
        .await
        .map_err(|e| RunError::Http(e.to_string()))?;
    if status != 200 {
        let path =
            reqwest::Url::parse(url).map_or_else(|_| url.to_owned(), |u| u.path().to_owned());
        return Err(RunError::CreateJob {
            path,
            status,
            body: text,
        });
    }
    serde_json::from_str(&text)
        .map_err(|e| RunError::Http(format!("the answer is not JSON ({e}): {text}")))
}
