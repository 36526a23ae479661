//! Whole bulk jobs at scale on the local stack, in virtual time: prints where the wall
//! time goes, each process's peak memory, what the job used as AWS bills it, and what
//! that costs per million objects next to the restore and Batch Operations fees.
//! Figures only; it asserts nothing but that each job ends Complete with every object
//! counted.
//!
//!     cargo bench -p gbr-local --bench scale [-- [--filter] OBJECTS...]   (default 10000 100000 1000000)
//!
//! `--filter`: no manifest; the job names a bucket and prefix, the simulated manifest
//! generator lists them, and registration reads its generated list (an S3
//! Inventory-shaped report) while the batch job is held.
//!
//! Each size runs in its own process, so each peak memory figure is that job's alone.
//! The objects and the restore-events queue are in memory (moto's per-request cost
//! would dominate, see `gbr_local::queue`); DynamoDB, S3 for the manifest and reports,
//! SNS and the progress queue are the real local servers.

use std::collections::BTreeMap;
use std::process::{Command, ExitCode};
use std::time::Duration;

use gbr_core::prices::US_EAST_1;
use gbr_core::request::{StorageClass, Tier};
use gbr_core::status::JobStatus;
use gbr_dynamodb_local::Storage;
use gbr_local::metrics::{Counts, FunctionUsage};
use gbr_local::objects::ObjectsMode;
use gbr_local::queue::QueueMode;
use gbr_local::run::{ManifestUpload, RunOptions, RunOutcome, TimeMode, run_job};
use gbr_local::services::LocalServices;
use gbr_local::simulator::SimOptions;
use serde_json::json;

/// Share of restore events delivered twice.
const DUPLICATE_RATE: f64 = 0.1;
/// The data bucket of the generated manifests.
const BUCKET: &str = "bench-archive";

/// `MemorySize` (MB) and `Timeout` (s) of each function in `template.yaml`.
const FUNCTIONS: [(&str, u64, u64); 8] = [
    ("register-manifest", 1024, 900),
    ("submit-batch-job", 256, 60),
    ("poll-batch-job", 512, 900),
    ("tally", 256, 60),
    ("decide", 256, 60),
    ("reconcile", 256, 900),
    ("record-failure", 256, 60),
    ("restore-event", 256, 60),
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let filter = args.iter().any(|a| a == "--filter");
    let sizes: Vec<usize> = args
        .iter()
        .filter_map(|a| a.replace('_', "").parse().ok())
        .collect();
    match sizes.as_slice() {
        [] => each_in_its_own_process(&[10_000, 100_000, 1_000_000], filter),
        [one] => one_job(*one, filter),
        many => each_in_its_own_process(many, filter),
    }
}

fn each_in_its_own_process(sizes: &[usize], filter: bool) -> ExitCode {
    let Ok(me) = std::env::current_exe() else {
        eprintln!("error: cannot find this benchmark's own executable");
        return ExitCode::FAILURE;
    };
    for size in sizes {
        let mut command = Command::new(&me);
        command.arg(size.to_string());
        if filter {
            command.arg("--filter");
        }
        match command.status() {
            Ok(status) if status.success() => {}
            Ok(status) => {
                eprintln!("error: the {size}-object job failed ({status})");
                return ExitCode::FAILURE;
            }
            Err(e) => {
                eprintln!("error: cannot run {}: {e}", me.display());
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}

fn one_job(objects: usize, filter: bool) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: no runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(bench(objects, filter)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn bench(objects: usize, filter: bool) -> Result<(), String> {
    // On a file: an in-memory SQLite database slows down as it grows (each statement's
    // rollback journal is truncated page by page through the whole cache), and the
    // file's pages stay in the OS cache rather than in this process.
    let database = std::env::temp_dir().join(format!("gbr-bench-{}.sqlite", std::process::id()));
    let services =
        LocalServices::start_with(Storage::File(database.clone())).map_err(|e| e.to_string())?;
    let result = run_and_print(objects, filter, &services).await;
    drop(services);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", database.display()));
    }
    result
}

async fn run_and_print(
    objects: usize,
    filter: bool,
    services: &LocalServices,
) -> Result<(), String> {
    let manifest: String = (0..objects)
        .map(|i| format!("{BUCKET},data/{i:08}.bin\n"))
        .collect();
    let options = RunOptions {
        prefix: "bench".into(),
        manifest,
        setup: Vec::new(),
        storage_class: StorageClass::Glacier,
        tier: Tier::Bulk,
        time: TimeMode::Virtual,
        simulator: SimOptions {
            seed: 7,
            duplicate_rate: DUPLICATE_RATE,
            reorder: true,
            restore_tick: Duration::from_secs(60),
            ..SimOptions::default()
        },
        request_extra: json!({}),
        poll: Duration::from_secs(300),
        upload: match filter {
            true => ManifestUpload::Filter(json!({"bucket": BUCKET, "prefixes": ["data/"]})),
            false => ManifestUpload::Prepared,
        },
        objects: ObjectsMode::Memory,
        queue: QueueMode::Memory,
        fault_rate: 0.0,
        on_estimate: None,
    };
    eprintln!(
        "{objects} objects{}: running…",
        if filter { " by filter" } else { "" }
    );
    let mut progress = 0;
    let outcome = run_job(&services.endpoints(), options, |e| {
        progress += 1;
        eprintln!(
            "  event {progress}: {} {}% ({} of {} restored)",
            e.status, e.progress_percent, e.restored_files, e.total_files
        );
    })
    .await
    .map_err(|e| e.to_string())?;
    let moto_peak = peak_rss_kb_with_children(services.moto.pid);
    let own_peak = peak_rss_kb(std::process::id());
    let last = outcome.events.last().ok_or("the job published no event")?;
    if outcome.terminal() != Some(JobStatus::Complete) || last.restored_files != objects.to_string()
    {
        return Err(format!(
            "the job ended {} with {} of {objects} counted",
            last.status, last.restored_files
        ));
    }
    if let Some(estimate) = &outcome.estimate {
        println!("POST /estimate answered: {estimate}");
    }
    print_figures(objects, &outcome, own_peak, moto_peak);
    Ok(())
}

/// The peak resident set of a process and of everything it started (moto runs under a
/// shell that waits for it), in kB.
fn peak_rss_kb_with_children(pid: u32) -> Option<u64> {
    let children: Vec<u32> = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|c| c.parse().ok())
        .collect();
    let own = peak_rss_kb(pid)?;
    Some(
        own + children
            .into_iter()
            .filter_map(peak_rss_kb_with_children)
            .sum::<u64>(),
    )
}

/// `VmHWM` (peak resident set) of a process, in kB.
fn peak_rss_kb(pid: u32) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

fn seconds(d: Option<Duration>) -> f64 {
    d.map_or(0.0, |d| d.as_secs_f64())
}

fn print_figures(objects: usize, outcome: &RunOutcome, own_peak: Option<u64>, moto: Option<u64>) {
    let usage = outcome.stack.usage.snapshot();
    let per_million = 1e6 / objects as f64;
    println!();
    println!(
        "== {objects} objects: GLACIER BULK, {:.0}% of restore events delivered twice, in any order; virtual time ==",
        DUPLICATE_RATE * 100.0
    );
    let last = outcome.events.last();
    println!(
        "outcome: {} with {} restored; {} bulk events; {} restore-event messages in {} batches",
        last.map_or("-", |e| e.status.as_str()),
        last.map_or("-", |e| e.restored_files.as_str()),
        outcome.events.len(),
        outcome.drained.messages,
        outcome.drained.batches,
    );
    println!();
    println!("wall time by stage (s from the stack's start: first start .. last end, busy)");
    let stage = |label: &str, names: &[&str]| {
        let parts: Vec<&FunctionUsage> = names
            .iter()
            .filter_map(|n| usage.functions.get(*n))
            .collect();
        let first = parts.iter().filter_map(|f| f.first_start).min();
        let last = parts.iter().filter_map(|f| f.last_end).max();
        let busy: u64 = parts.iter().map(|f| f.billed_ms).sum();
        println!(
            "  {label:<26} {:>8.1} .. {:>8.1}   busy {:>8.1}",
            seconds(first),
            seconds(last),
            busy as f64 / 1000.0
        );
    };
    stage("register", &["register-manifest"]);
    stage("submit", &["submit-batch-job"]);
    stage("restore events drained", &["restore-event"]);
    stage("poll/tally/decide", &["poll-batch-job", "tally", "decide"]);
    println!(
        "  {:<26} {:>8.1}   (setup of the objects and the manifest included)",
        "end (whole run)",
        outcome.wall.as_secs_f64()
    );
    println!();
    let mb = |kb: Option<u64>| kb.map_or("unknown".into(), |kb| format!("{} MB", kb / 1024));
    println!(
        "peak resident memory: this process (stack, simulator, embedded DynamoDB) {}; moto {}; together {}",
        mb(own_peak),
        mb(moto),
        mb(own_peak.zip(moto).map(|(a, b)| a + b)),
    );
    print_usage(&usage, outcome, per_million);
}

fn print_usage(usage: &Counts, outcome: &RunOutcome, per_million: f64) {
    let request = |name: &str| usage.requests.get(name).copied().unwrap_or(0);
    let (read_units, write_units) = usage.dynamodb_units();
    let sizes: BTreeMap<&str, (u64, u64)> = FUNCTIONS
        .into_iter()
        .map(|(name, memory, timeout)| (name, (memory, timeout)))
        .collect();
    println!();
    println!("Lambda (billed duration is this machine's, at the template's memory sizes)");
    let mut gb_seconds = 0.0;
    let mut invocations = 0;
    for (name, f) in &usage.functions {
        let (memory, timeout) = sizes.get(name.as_str()).copied().unwrap_or((1024, 900));
        let gbs = f.billed_ms as f64 / 1000.0 * memory as f64 / 1024.0;
        gb_seconds += gbs;
        invocations += f.invocations;
        println!(
            "  {name:<18} {:>8} invocations {:>9.1} s billed, longest {:>6.2} s of {timeout:>3} s, {memory:>4} MB: {:>8.1} GB-s",
            f.invocations,
            f.billed_ms as f64 / 1000.0,
            f.longest_ms as f64 / 1000.0,
            gbs
        );
    }
    let transitions = outcome.execution.state_transitions;
    let sqs: u64 = usage
        .requests
        .iter()
        .filter(|(k, _)| k.starts_with("SQS."))
        .map(|(_, v)| v)
        .sum();
    let events = request("SQS.SendMessage");
    let publishes = request("SNS.Publish");
    let s3_gets = request("S3.GetObject") + request("S3.HeadObject");
    let s3_puts = request("S3.PutObject") + request("S3.ListObjectsV2");
    println!(
        "DynamoDB: {:.0} write units, {:.0} read units (as the local DynamoDB sizes each request)",
        write_units, read_units
    );
    println!(
        "Step Functions: {transitions} state transitions, {} history events",
        outcome.history.len()
    );
    println!(
        "SQS: {events} restore events sent; {sqs} requests ({} receives, {} delete batches)",
        request("SQS.ReceiveMessage"),
        request("SQS.DeleteMessageBatch"),
    );
    println!("SNS: {publishes} publishes");
    println!("S3 (the stack's own calls): {s3_gets} GET/HEAD, {s3_puts} PUT/LIST");
    for (operation, (read, write)) in &usage.dynamodb_units_by_operation {
        println!(
            "  {operation:<20} {:>9} requests {read:>12.0} RRU {write:>12.0} WRU",
            request(&format!("DynamoDB.{operation}"))
        );
    }

    let lines = [
        (
            "Lambda compute",
            gb_seconds * US_EAST_1.lambda_per_gb_second,
            format!("{gb_seconds:.0} GB-s"),
        ),
        (
            "Lambda requests",
            invocations as f64 * US_EAST_1.lambda_per_million_requests / 1e6,
            format!("{invocations}"),
        ),
        (
            "DynamoDB writes",
            write_units * US_EAST_1.dynamodb_per_million_write_units / 1e6,
            format!("{:.0} WRU", write_units),
        ),
        (
            "DynamoDB reads",
            read_units * US_EAST_1.dynamodb_per_million_read_units / 1e6,
            format!("{:.0} RRU", read_units),
        ),
        (
            "Step Functions",
            transitions as f64 * US_EAST_1.step_functions_per_thousand_transitions / 1e3,
            format!("{transitions} transitions"),
        ),
        (
            "EventBridge (S3 events)",
            events as f64 * US_EAST_1.eventbridge_per_million_events / 1e6,
            format!("{events} events"),
        ),
        (
            "SQS",
            sqs as f64 * US_EAST_1.sqs_per_million_requests / 1e6,
            format!("{sqs} requests"),
        ),
        (
            "SNS",
            publishes as f64 * US_EAST_1.sns_per_million_publishes / 1e6,
            format!("{publishes} publishes"),
        ),
        (
            "S3 requests",
            s3_gets as f64 * US_EAST_1.s3_per_thousand_gets / 1e3
                + s3_puts as f64 * US_EAST_1.s3_per_thousand_puts / 1e3,
            format!("{s3_gets} GET, {s3_puts} PUT"),
        ),
    ];
    println!();
    println!("this system's overhead, USD at us-east-1 list prices");
    println!(
        "  {:<24} {:>12} {:>14}   usage",
        "", "this job", "per million"
    );
    let mut total = 0.0;
    for (label, cost, what) in &lines {
        total += cost;
        println!(
            "  {label:<24} {cost:>12.4} {:>14.4}   {what}",
            cost * per_million
        );
    }
    println!(
        "  {:<24} {total:>12.4} {:>14.4}",
        "total",
        total * per_million
    );
    println!();
    println!(
        "for comparison, per million objects: Batch Operations and restore fees (1 MB objects)"
    );
    let batch = US_EAST_1.batch_per_job + US_EAST_1.batch_per_million_objects;
    for (class, tier, p) in US_EAST_1.restores.all() {
        let restore = 1e3 * p.per_thousand_requests + p.per_gb_retrieved * 1e6 / 1024.0;
        let (class, tier) = (class.as_str(), tier.as_str());
        println!(
            "  {class:<12} {tier:<8} restore {restore:>9.2} + Batch Operations {batch:.2} = {:>9.2}",
            restore + batch
        );
    }
}
