//! How fast reconciliation checks stragglers on the local stack: HeadObject on moto, 32
//! at a time, and the marks on the local DynamoDB. Prints figures, asserts nothing.
//!
//!     cargo bench -p gbr-local --bench reconcile [-- OBJECTS]   (default 2,000)

use std::sync::Arc;
use std::time::{Duration, Instant};

use gbr_core::job::JobRecord;
use gbr_core::request::CreateJobRequest;
use gbr_core::tasks::{ReconcileInput, reconcile};
use gbr_local::run::{TimeMode, clock_for};
use gbr_local::scenario::{InitialState, SetupRow, prepare};
use gbr_local::services::LocalServices;
use gbr_local::simulator::SimOptions;
use gbr_local::stack::{LocalStack, StackConfig};

fn main() {
    let objects: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(2_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(bench(objects));
}

async fn bench(objects: usize) {
    let services = LocalServices::start().unwrap_or_else(|e| panic!("{e}"));
    let clock = clock_for(TimeMode::Virtual);
    let bucket = "bench-reconcile-data";
    let config = StackConfig {
        prefix: "bench-reconcile".into(),
        data_buckets: vec![bucket.into()],
        simulator: SimOptions::default(),
        seed: 1,
        objects: gbr_local::objects::ObjectsMode::Moto,
        queue: gbr_local::queue::QueueMode::Moto,
        fault_rate: 0.0,
        max_running_jobs: None,
        estimate_list_pages: None,
    };
    let stack = LocalStack::start(&services.endpoints(), Arc::clone(&clock), config)
        .await
        .expect("the stack starts");
    let keys: Vec<String> = (0..objects)
        .map(|i| format!("straggler {i:07}.bin"))
        .collect();
    let manifest: String = keys
        .iter()
        .map(|k| format!("{bucket},{}\n", gbr_core::object_id::percent_encode_key(k)))
        .collect();
    // Every other object has a restored copy (its event was lost); the rest are archived.
    let setup: Vec<SetupRow> = keys
        .iter()
        .step_by(2)
        .map(|k| SetupRow {
            bucket: bucket.into(),
            key: k.clone(),
            storage_class: "GLACIER".into(),
            state: InitialState::Restored,
            size_bytes: None,
        })
        .collect();
    let started = Instant::now();
    prepare(
        &stack.objects,
        &stack.simulator,
        &manifest,
        "GLACIER",
        &setup,
        Duration::ZERO,
    )
    .await
    .expect("the objects are created");
    eprintln!(
        "created {objects} objects in moto in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let request = CreateJobRequest::from_json(&serde_json::json!({
        "bucket": bucket, "key": "manifest.csv", "tier": "BULK", "expiration_days": 1
    }))
    .expect("a request");
    let now = clock.now();
    let job = JobRecord::new("bench-job".into(), request, 10, now, now);
    stack.ports.jobs.create(&job).await.expect("the job");
    let ids: Vec<_> = gbr_core::manifest::ManifestReader::new(manifest.as_bytes())
        .map(|r| r.expect("a row").object)
        .collect();
    stack
        .ports
        .objects
        .register("bench-job", &ids, now, "bytes-0")
        .await
        .expect("registered");

    let started = Instant::now();
    let mut cursor = None;
    let (mut calls, mut checked, mut restored) = (0, 0, 0);
    loop {
        calls += 1;
        let out = reconcile(
            &stack.ports,
            &stack.settings,
            &ReconcileInput {
                job_id: "bench-job".into(),
                cursor,
            },
            Duration::from_secs(600),
        )
        .await
        .expect("reconcile");
        checked += out.checked;
        restored += out.found_restored;
        if out.done {
            break;
        }
        cursor = out.cursor;
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "reconcile: {checked} HeadObject calls in {seconds:.1} s = {:.0} per second \
         ({} in flight, {calls} call(s)); {restored} found restored",
        checked as f64 / seconds,
        gbr_core::tasks::RECONCILE_CONCURRENCY
    );
}
