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
use gbr_core::request::{StorageClass, Tier};
use gbr_core::status::JobStatus;
use gbr_local::run::{ManifestUpload, RunOptions, TimeMode, clock_for, run_job};
use gbr_local::scenario::parse_setup;
use gbr_local::simulator::{BatchOutcome, SimOptions};
use gbr_local::stack::{LocalStack, StackConfig};
use gbr_moto::Moto;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

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
    #[arg(long, value_name = "N")]
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
        #[arg(long, default_value_t = 3600.0)]
        time_scale: f64,
    },
    /// Run one bulk restore end to end.
    Run {
        /// Manifest CSV (`bucket,key[,version_id]`, keys URL-encoded).
        #[arg(long)]
        manifest: PathBuf,
        /// CSV `bucket,key,storage_class,state` (archived|restored|restoring|missing).
        #[arg(long)]
        setup: Option<PathBuf>,
        #[arg(long, value_enum, default_value = "GLACIER")]
        storage_class: Class,
        #[arg(long, value_enum, default_value = "BULK")]
        tier: TierArg,
        #[command(flatten)]
        time: TimeArgs,
        /// Share of restore events sent twice.
        #[arg(long, default_value_t = 0.0)]
        duplicate_rate: f64,
        /// Deliver restore events in any order.
        #[arg(long)]
        reorder: bool,
        /// Share of restores that never happen (their objects stay archived).
        #[arg(long, default_value_t = 0.0)]
        drop_rate: f64,
        #[arg(long, value_enum, default_value = "complete")]
        batch_outcome: Outcome,
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Logs go to stderr; stdout is for events.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
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
            } => up(buckets, port, time_scale).await,
            Command::Run {
                manifest,
                setup,
                storage_class,
                tier,
                time,
                duplicate_rate,
                reorder,
                drop_rate,
                batch_outcome,
                seed,
                json,
                out,
            } => {
                let simulator = SimOptions {
                    seed,
                    duplicate_rate,
                    drop_rate,
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
                run(RunArgs {
                    manifest,
                    setup,
                    storage_class,
                    tier,
                    time: time.mode(),
                    simulator,
                    json,
                    out,
                })
                .await
            }
        }
    })
}

fn start_moto() -> Result<Moto, ExitCode> {
    Moto::start().map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(1)
    })
}

async fn up(buckets: Vec<String>, port: u16, time_scale: f64) -> ExitCode {
    let moto = match start_moto() {
        Ok(m) => m,
        Err(code) => return code,
    };
    let clock = clock_for(TimeMode::Scaled(time_scale));
    let config = StackConfig {
        prefix: "local".into(),
        data_buckets: buckets.clone(),
        simulator: SimOptions::default(),
        seed: 1,
    };
    let stack = match LocalStack::start(&moto.endpoint, Arc::clone(&clock), config).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    let key = format!("local-{}", uuid::Uuid::new_v4());
    let api = match stack
        .serve_api(SocketAddr::from(([127, 0, 0, 1], port)), key)
        .await
    {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    println!("API:        {}/create-job", api.url);
    println!("API key:    {}", api.api_key);
    println!(
        "AWS (moto): {}  (any credentials, region us-east-1)",
        moto.endpoint
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
    ExitCode::SUCCESS
}

struct RunArgs {
    manifest: PathBuf,
    setup: Option<PathBuf>,
    storage_class: Class,
    tier: TierArg,
    time: TimeMode,
    simulator: SimOptions,
    json: bool,
    out: Option<PathBuf>,
}

async fn run(args: RunArgs) -> ExitCode {
    let read = |path: &PathBuf| {
        std::fs::read_to_string(path).map_err(|e| {
            eprintln!("error: cannot read {}: {e}", path.display());
            ExitCode::from(1)
        })
    };
    let manifest = match read(&args.manifest) {
        Ok(m) => m,
        Err(code) => return code,
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
    let moto = match start_moto() {
        Ok(m) => m,
        Err(code) => return code,
    };
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
        upload: ManifestUpload::Prepared,
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
    let outcome = run_job(&moto.endpoint, options, print).await;
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
            match outcome.terminal() {
                Some(JobStatus::Complete) => ExitCode::SUCCESS,
                Some(JobStatus::Failed) => ExitCode::from(3),
                Some(JobStatus::Timeout) => ExitCode::from(4),
                Some(JobStatus::Cancelled) => ExitCode::from(5),
                _ => ExitCode::from(1),
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
