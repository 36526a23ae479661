//! `gbr-local`: the whole system on this machine, with no AWS account.
//!
//! - `gbr-local up`: starts moto, the stack and the local API; prints the URL and key;
//!   serves until interrupted.
//! - `gbr-local run --manifest FILE ...`: runs one bulk restore end to end and prints
//!   each bulk event. Exit codes: 0 Complete, 3 Failed, 4 Timeout, 5 Cancelled,
//!   1 any other error, 2 bad arguments.

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use gbr_core::event::BulkEvent;
use gbr_core::object_id::percent_encode_key;
use gbr_core::request::{StorageClass, Tier};
use gbr_core::status::JobStatus;
use gbr_local::objects::ObjectsMode;
use gbr_local::queue::QueueMode;
use gbr_local::run::{ManifestUpload, RunError, RunOptions, TimeMode, clock_for, run_job};
use gbr_local::scenario::{ScenarioError, SetupRow, parse_setup};
use gbr_local::services::LocalServices;
use gbr_local::simulator::{BatchOutcome, EventBridgeKeys, RestoreEvents, SimOptions};
use gbr_local::stack::{LocalStack, StackConfig, StackError};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};

#[derive(Parser)]
#[command(
    name = "gbr-local",
    version,
    about = "Run glacier-bulk-restore on this machine: moto, the local engine and the batch simulator"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum Class {
    #[value(name = "GLACIER")]
    Glacier,
    #[value(name = "DEEP_ARCHIVE")]
    DeepArchive,
}

#[derive(Clone, Copy, ValueEnum)]
enum TierArg {
    #[value(name = "STANDARD")]
    Standard,
    #[value(name = "BULK")]
    Bulk,
}

/// Where the data buckets' objects live.
#[derive(Clone, Copy, ValueEnum)]
enum ObjectsArg {
    /// Real S3 objects on moto.
    Moto,
    /// A table in this process (what S3 would say of each object), for runs of
    /// hundreds of thousands of objects, which moto's per-request cost cannot carry.
    Memory,
}

/// Where the restore-events queue lives.
#[derive(Clone, Copy, ValueEnum)]
enum QueueArg {
    /// moto's SQS.
    Moto,
    /// A queue in this process with SQS's semantics (visibility timeout, receive
    /// count, dead-letter queue), for runs of hundreds of thousands of events.
    Memory,
}

/// The shape restore events arrive in.
#[derive(Clone, Copy, ValueEnum)]
enum EventShape {
    /// EventBridge `Object Restore Completed` events, as the deployed stack receives them.
    Eventbridge,
    /// S3 event notifications (`ObjectRestore:Completed` records).
    S3,
}

/// How EventBridge events carry keys (AWS documents neither form).
#[derive(Clone, Copy, ValueEnum)]
enum KeyForm {
    /// Form-URL-encoded, as S3 event notifications carry them.
    Encoded,
    /// As the key is.
    Raw,
}

#[derive(Clone, Copy, ValueEnum)]
enum Outcome {
    Complete,
    Failed,
    Cancelled,
}

#[derive(clap::Args)]
struct TimeArgs {
    /// Waits take no time (the default): a 48-hour job runs in seconds.
    #[arg(long, conflicts_with = "time_scale")]
    virtual_time: bool,
    /// Run the clock N times faster than wall time (e.g. 3600: an hour a second).
    #[arg(long, value_name = "N", value_parser = time_scale)]
    time_scale: Option<f64>,
}

impl TimeArgs {
    fn mode(&self) -> TimeMode {
        match self.time_scale {
            Some(scale) if !self.virtual_time => TimeMode::Scaled(scale),
            _ => TimeMode::Virtual,
        }
    }
}

#[derive(Subcommand)]
// Parsed once per process: the size of its largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
enum Command {
    /// Start the stack and serve the API until interrupted.
    Up {
        /// Buckets the stack may restore from (created empty, with restore notifications).
        #[arg(long = "bucket", default_values_t = ["local-archive".to_owned()])]
        buckets: Vec<String>,
        /// Port of the local API (0: any free port).
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Clock speed: N times wall time.
        #[arg(long, default_value_t = 3600.0, value_parser = time_scale)]
        time_scale: f64,
        /// Share of service calls, task invocations and restore-event batches that fail
        /// as AWS's do (0 to 1); see the README's "Faults".
        #[arg(long, default_value_t = 0.0, value_parser = rate)]
        fault_rate: f64,
        /// Seed of the injected faults.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Jobs that may run at once; a create beyond it answers 503 until one ends.
        /// One machine's memory bounds the stack, where AWS would scale out.
        #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..))]
        max_jobs: u16,
    },
    /// Run one bulk restore end to end.
    #[command(group = clap::ArgGroup::new("objects_listed").required(true).args(["manifest", "inventory", "prefix"]))]
    Run {
        /// Manifest CSV (`bucket,key[,version_id]`, keys URL-encoded).
        #[arg(long)]
        manifest: Option<PathBuf>,
        /// CSV `bucket,key,storage_class,state[,size_bytes]`
        /// (archived|restored|restoring|missing).
        #[arg(long)]
        setup: Option<PathBuf>,
        /// Restore from an S3 Inventory report of the setup's objects (and the
        /// manifest's, if one is given), written as S3 Inventory writes reports: objects
        /// not in GLACIER or DEEP_ARCHIVE are skipped, and nothing is restored for them.
        #[arg(long, requires = "setup")]
        inventory: bool,
        /// Restore by filter, with no list: the setup's objects under this prefix
        /// (s3://bucket/path/, or s3://bucket/ for all) that the filter flags select,
        /// listed by the simulated S3 Batch Operations manifest generator. The run
        /// prints the estimate first.
        #[arg(long, value_name = "S3_URL", requires = "setup", conflicts_with_all = ["manifest", "inventory"])]
        prefix: Option<String>,
        #[command(flatten)]
        filter: FilterArgs,
        #[arg(long, value_enum, default_value = "GLACIER")]
        storage_class: Class,
        #[arg(long, value_enum, default_value = "BULK")]
        tier: TierArg,
        #[command(flatten)]
        time: TimeArgs,
        /// Share of restore events sent twice (0 to 1).
        #[arg(long, default_value_t = 0.0, value_parser = rate)]
        duplicate_rate: f64,
        /// Deliver restore events in any order.
        #[arg(long)]
        reorder: bool,
        /// Share of restores that never happen, their objects staying archived (0 to 1).
        #[arg(long, default_value_t = 0.0, value_parser = rate)]
        drop_rate: f64,
        /// Share of restores that happen but whose event is lost, so that only the
        /// deadline's reconciliation finds them (0 to 1).
        #[arg(long, default_value_t = 0.0, value_parser = rate)]
        lose_event_rate: f64,
        /// The shape restore events arrive in.
        #[arg(long, value_enum, default_value = "eventbridge")]
        restore_events: EventShape,
        /// How EventBridge events carry object keys.
        #[arg(long, value_enum, default_value = "encoded")]
        eventbridge_keys: KeyForm,
        /// Where the data buckets' objects live (manifests and reports are on moto).
        #[arg(long, value_enum, default_value = "moto")]
        objects: ObjectsArg,
        /// Where the restore-events queue lives.
        #[arg(long, value_enum, default_value = "moto")]
        restore_queue: QueueArg,
        #[arg(long, value_enum, default_value = "complete")]
        batch_outcome: Outcome,
        /// Share of service calls, task invocations and restore-event batches that fail
        /// as AWS's do (0 to 1); what was injected is printed at the end.
        #[arg(long, default_value_t = 0.0, value_parser = rate)]
        fault_rate: f64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Print exactly one JSON line per bulk event on stdout, nothing else.
        #[arg(long)]
        json: bool,
        /// Write the job record, the execution and its history, and the events here.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
}

/// The fastest clock: beyond it timers and wall time no longer tell waits apart.
const MAX_TIME_SCALE: f64 = 10_000_000.0;

fn time_scale(text: &str) -> Result<f64, String> {
    let scale: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number"))?;
    if scale.is_finite() && scale > 0.0 && scale <= MAX_TIME_SCALE {
        Ok(scale)
    } else {
        Err(format!(
            "{text} is not a clock speed: give a number above 0 and at most {MAX_TIME_SCALE}, \
             e.g. 3600 for an hour a second (or --virtual-time)"
        ))
    }
}

fn rate(text: &str) -> Result<f64, String> {
    let rate: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number"))?;
    if (0.0..=1.0).contains(&rate) {
        Ok(rate)
    } else {
        Err(format!(
            "{text} is not a share: give a number from 0 to 1, e.g. 0.2"
        ))
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Logs go to stderr; stdout is for events. The local DynamoDB warns of every
    // refused conditional write, which duplicate restore events cause by design.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn,dynoxide=error".into()),
        )
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(async {
        match cli.command {
            Command::Up {
                buckets,
                port,
                time_scale,
                fault_rate,
                seed,
                max_jobs,
            } => up(buckets, port, time_scale, fault_rate, seed, max_jobs).await,
            Command::Run {
                manifest,
                setup,
                inventory,
                prefix,
                filter,
                storage_class,
                tier,
                time,
                duplicate_rate,
                reorder,
                drop_rate,
                lose_event_rate,
                restore_events,
                eventbridge_keys,
                objects,
                restore_queue,
                batch_outcome,
                fault_rate,
                seed,
                json,
                out,
            } => {
                let keys = match eventbridge_keys {
                    KeyForm::Encoded => EventBridgeKeys::Encoded,
                    KeyForm::Raw => EventBridgeKeys::Raw,
                };
                let simulator = SimOptions {
                    seed,
                    duplicate_rate,
                    drop_rate,
                    lose_event_rate,
                    restore_events: match restore_events {
                        EventShape::Eventbridge => RestoreEvents::EventBridge(keys),
                        EventShape::S3 => RestoreEvents::S3Notifications,
                    },
                    reorder,
                    batch_outcome: match batch_outcome {
                        Outcome::Complete => BatchOutcome::Complete,
                        Outcome::Failed => BatchOutcome::Failed,
                        Outcome::Cancelled => BatchOutcome::Cancelled,
                    },
                    // Restores due within a clock minute are carried out together: far
                    // fewer wake-ups, events at most a minute late.
                    restore_tick: Duration::from_secs(60),
                    ..SimOptions::default()
                };
                let filter = match prefix.map(|p| filter.to_json(&p)).transpose() {
                    Ok(f) => f,
                    Err(e) => {
                        eprintln!("error: {e}");
                        return ExitCode::from(2);
                    }
                };
                run(RunArgs {
                    manifest,
                    inventory,
                    filter,
                    setup,
                    storage_class,
                    tier,
                    time: time.mode(),
                    simulator,
                    json,
                    out,
                    objects: match objects {
                        ObjectsArg::Moto => ObjectsMode::Moto,
                        ObjectsArg::Memory => ObjectsMode::Memory,
                    },
                    queue: match restore_queue {
                        QueueArg::Moto => QueueMode::Moto,
                        QueueArg::Memory => QueueMode::Memory,
                    },
                    fault_rate,
                })
                .await
            }
        }
    })
}

fn start_services() -> Result<LocalServices, ExitCode> {
    LocalServices::start().map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(1)
    })
}

async fn up(
    buckets: Vec<String>,
    port: u16,
    time_scale: f64,
    fault_rate: f64,
    seed: u64,
    max_jobs: u16,
) -> ExitCode {
    let services = match start_services() {
        Ok(s) => s,
        Err(code) => return code,
    };
    let moto = &services.moto;
    let clock = clock_for(TimeMode::Scaled(time_scale));
    let config = StackConfig {
        prefix: "local".into(),
        data_buckets: buckets.clone(),
        simulator: SimOptions::default(),
        seed,
        objects: gbr_local::objects::ObjectsMode::Moto,
        queue: QueueMode::Moto,
        fault_rate,
        max_running_jobs: Some(usize::from(max_jobs)),
        estimate_list_pages: None,
    };
    let stack = match LocalStack::start(&services.endpoints(), Arc::clone(&clock), config).await {
        Ok(s) => s,
        Err(e) => return fail(&e, &stack_hint(&e, &moto.endpoint)),
    };
    let key = format!("local-{}", uuid::Uuid::new_v4());
    let api = match stack
        .serve_api(SocketAddr::from(([127, 0, 0, 1], port)), key)
        .await
    {
        Ok(a) => a,
        Err(e) => return fail(&e, &stack_hint(&e, &moto.endpoint)),
    };
    println!("API:        {}/create-job", api.url);
    println!("API key:    {}", api.api_key);
    println!(
        "AWS (moto): {}  S3, SNS, SQS (any credentials, region us-east-1)",
        moto.endpoint
    );
    println!(
        "DynamoDB:   {}  (tables {} and {})",
        services.dynamodb.endpoint, stack.names.tables.jobs, stack.names.tables.objects
    );
    println!(
        "manifests:  s3://{}   buckets: {}",
        stack.names.manifest_bucket,
        buckets.join(", ")
    );
    println!(
        "events:     SQS queue {}",
        stack.endpoints.progress_queue_url
    );
    println!("clock:      {time_scale}x wall time; Ctrl-C stops everything");
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let participant = clock.register();
    let drain = tokio::spawn(stack.drain().run(
        Arc::clone(&clock),
        Duration::from_secs(60),
        participant,
        stopped,
    ));
    let _ = tokio::signal::ctrl_c().await;
    let _ = stop.send(true);
    drain.abort();
    if fault_rate > 0.0 {
        eprintln!("{}", stack.faults.counts());
    }
    ExitCode::SUCCESS
}

/// A manifest of every setup object.
fn setup_manifest(setup: &[SetupRow]) -> String {
    setup
        .iter()
        .map(|row| format!("{},{}\r\n", row.bucket, percent_encode_key(&row.key)))
        .collect()
}

/// What `POST /estimate` answered before the job was created, on one line.
fn estimate_line(e: &Value) -> String {
    if let Some(error) = e["error"].as_str() {
        return format!(
            "estimate: none ({error}: {})",
            e["message"].as_str().unwrap_or_default()
        );
    }
    let skipped = match e["skipped_by_reason"].as_object() {
        Some(by) if !by.is_empty() => {
            let reasons: Vec<String> = by.iter().map(|(r, n)| format!("{r}: {n}")).collect();
            format!(" ({})", reasons.join(", "))
        }
        _ => String::new(),
    };
    format!(
        "estimate: {} objects to restore, {} bytes, {} skipped{skipped}; {} tier ${:.4}, back within {}-{} h",
        e["objects"],
        e["bytes"],
        e["skipped"],
        e["tier"].as_str().unwrap_or_default(),
        e["tiers"][e["tier"].as_str().unwrap_or_default()]["total_usd"]
            .as_f64()
            .unwrap_or_default(),
        e["completion_window_hours"][0],
        e["completion_window_hours"][1],
    )
}

/// The filter flags of a run by `--prefix`: the API's `filter` fields.
#[derive(clap::Args)]
struct FilterArgs {
    /// With --prefix: only keys ending so.
    #[arg(long, requires = "prefix")]
    suffix: Option<String>,
    /// With --prefix: only objects last written after this RFC 3339 instant.
    #[arg(long, value_name = "T", requires = "prefix")]
    created_after: Option<String>,
    /// With --prefix: only objects last written before this RFC 3339 instant.
    #[arg(long, value_name = "T", requires = "prefix")]
    created_before: Option<String>,
    /// With --prefix: only objects of at least N bytes.
    #[arg(long, value_name = "N", requires = "prefix")]
    min_size: Option<u64>,
    /// With --prefix: only objects of at most N bytes.
    #[arg(long, value_name = "N", requires = "prefix")]
    max_size: Option<u64>,
}

impl FilterArgs {
    /// The request's `filter`; the API checks each field.
    fn to_json(&self, prefix: &str) -> Result<Value, String> {
        let rest = prefix
            .strip_prefix("s3://")
            .ok_or_else(|| format!("--prefix {prefix:?} is not an s3://bucket/path URL"))?;
        let (bucket, path) = rest.split_once('/').unwrap_or((rest, ""));
        let mut filter = json!({ "bucket": bucket });
        if !path.is_empty() {
            filter["prefixes"] = json!([path]);
        }
        if let Some(suffix) = &self.suffix {
            filter["suffixes"] = json!([suffix]);
        }
        for (name, value) in [
            ("created_after", &self.created_after),
            ("created_before", &self.created_before),
        ] {
            if let Some(v) = value {
                filter[name] = json!(v);
            }
        }
        for (name, value) in [
            ("min_size_bytes", self.min_size),
            ("max_size_bytes", self.max_size),
        ] {
            if let Some(v) = value {
                filter[name] = json!(v);
            }
        }
        Ok(filter)
    }
}

struct RunArgs {
    manifest: Option<PathBuf>,
    inventory: bool,
    filter: Option<Value>,
    setup: Option<PathBuf>,
    storage_class: Class,
    tier: TierArg,
    time: TimeMode,
    simulator: SimOptions,
    json: bool,
    out: Option<PathBuf>,
    objects: ObjectsMode,
    queue: QueueMode,
    fault_rate: f64,
}

async fn run(args: RunArgs) -> ExitCode {
    let read = |path: &PathBuf| {
        std::fs::read_to_string(path).map_err(|e| {
            eprintln!("error: cannot read {}: {e}", path.display());
            ExitCode::from(1)
        })
    };
    let setup = match args.setup.as_ref().map(read).transpose() {
        Ok(text) => match text.map(|t| parse_setup(&t)).transpose() {
            Ok(rows) => rows.unwrap_or_default(),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(1);
            }
        },
        Err(code) => return code,
    };
    let manifest = match &args.manifest {
        Some(path) => match read(path) {
            Ok(m) => m,
            Err(code) => return code,
        },
        // An inventory lists what is in the bucket: the setup's objects.
        None => setup_manifest(&setup),
    };
    let services = match start_services() {
        Ok(s) => s,
        Err(code) => return code,
    };
    let moto = &services.moto;
    let options = RunOptions {
        prefix: "run".into(),
        manifest,
        setup,
        storage_class: match args.storage_class {
            Class::Glacier => StorageClass::Glacier,
            Class::DeepArchive => StorageClass::DeepArchive,
        },
        tier: match args.tier {
            TierArg::Standard => Tier::Standard,
            TierArg::Bulk => Tier::Bulk,
        },
        time: args.time,
        simulator: args.simulator,
        request_extra: json!({}),
        poll: Duration::from_secs(300),
        upload: match (args.inventory, args.filter) {
            (true, _) => ManifestUpload::Inventory,
            (false, Some(filter)) => ManifestUpload::Filter(filter),
            (false, None) => ManifestUpload::Prepared,
        },
        objects: args.objects,
        queue: args.queue,
        fault_rate: args.fault_rate,
        // On stderr: stdout holds the events only.
        on_estimate: Some(|e| eprintln!("{}", estimate_line(e))),
    };
    let bar = (!args.json && std::io::stderr().is_terminal()).then(|| {
        let bar = ProgressBar::new(100);
        bar.set_style(
            ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:40} {pos}% {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    });
    let json = args.json;
    let print = |e: &BulkEvent| {
        if json {
            println!("{}", serde_json::to_string(e).unwrap_or_default());
            let _ = std::io::stdout().flush();
        } else {
            let line = format!(
                "{} {:<9} {:>3}%  restored {}/{}  excluded {}  (job {}, batch job {})",
                e.timestamp,
                e.status,
                e.progress_percent,
                e.restored_files,
                e.total_files,
                e.failed_batch_files,
                e.job_id,
                e.batch_job_id
            );
            match &bar {
                Some(bar) => {
                    bar.set_position(e.progress_percent.parse().unwrap_or(0));
                    bar.println(line);
                }
                None => println!("{line}"),
            }
        }
    };
    let outcome = run_job(&services.endpoints(), options, print).await;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    match outcome {
        Ok(outcome) => {
            if !json {
                eprintln!(
                    "done in {:.1} s wall time; {} state transitions, {} history events",
                    outcome.wall.as_secs_f64(),
                    outcome.execution.state_transitions,
                    outcome.history.len()
                );
            }
            // On stderr even with --json, whose stdout holds events only.
            if args.fault_rate > 0.0 {
                eprintln!("{}", outcome.stack.faults.counts());
            }
            if let Some(dir) = &args.out {
                match outcome.write_artifacts(dir).await {
                    Ok(files) => {
                        for f in files {
                            eprintln!("wrote {}", f.display());
                        }
                    }
                    Err(e) => eprintln!("error: {e}"),
                }
            }
            // A run that returns has ended; without a terminal status it is an error.
            ExitCode::from(
                outcome
                    .terminal()
                    .and_then(JobStatus::exit_code)
                    .unwrap_or(1),
            )
        }
        Err(e) => fail(&e, &run_hint(&e, &moto.endpoint)),
    }
}

/// Prints an error and what to do about it; the exit code of any other error.
fn fail(error: &dyn std::fmt::Display, hint: &str) -> ExitCode {
    eprintln!("error: {error}");
    eprintln!("  {hint}");
    ExitCode::from(1)
}

const DEBUG_HINT: &str = "RUST_LOG=debug prints every call the stack makes";

fn stack_hint(e: &StackError, moto: &str) -> String {
    match e {
        StackError::Provision(_) | StackError::Queue(_) => format!(
            "moto, the local S3, SNS and SQS at {moto}, refused the call or stopped answering; \
             run again (gbr-local starts a new moto each time); {DEBUG_HINT}"
        ),
        StackError::Api(_) => {
            "the local API could not listen: choose another --port, or 0 for any free port"
                .to_owned()
        }
        StackError::Definition(_) => {
            "statemachine/bulk-restore.asl.json does not load: run the test suite, which names the state and field".to_owned()
        }
        StackError::Objects(_) => format!(
            "the local DynamoDB refused the scan or holds a row no handler writes; {DEBUG_HINT}"
        ),
    }
}

fn run_hint(e: &RunError, moto: &str) -> String {
    match e {
        RunError::Stack(e) => stack_hint(e, moto),
        RunError::Scenario(ScenarioError::Manifest(_) | ScenarioError::Setup { .. }) => {
            "fix the file named above and run again (gbr manifest check FILE lists every problem)"
                .to_owned()
        }
        RunError::Scenario(ScenarioError::S3(_)) | RunError::Upload(_) => format!(
            "moto, the local S3 at {moto}, refused to store the objects or stopped answering; \
             keys must be valid S3 keys; {DEBUG_HINT}"
        ),
        RunError::CreateJob { .. } => {
            "the job API refused the request; its answer above says which field to fix".to_owned()
        }
        RunError::Http(_) => format!("the local API stopped answering; {DEBUG_HINT}"),
        RunError::NoTerminalEvent { .. } => format!(
            "the job ended without its terminal event, which is a bug: run again with --out DIR \
             and look at history.json; {DEBUG_HINT}"
        ),
    }
}
