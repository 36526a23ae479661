//! How long `POST /estimate` takes to read a whole manifest: a CSV manifest and an S3
//! Inventory report of OBJECTS objects (default 1,000,000) in moto's S3, read in the
//! deployment's 8 MiB ranges. API Gateway gives an integration 29 seconds. Prints
//! figures, asserts nothing.
//!
//!     cargo bench -p gbr-local --bench estimate [-- OBJECTS]

use std::time::Instant;

use gbr_core::api::estimate_job;
use gbr_core::inventory::write::{ListedObject, report};
use gbr_core::object_id::{ObjectId, percent_encode_key};
use gbr_local::run::{TimeMode, clock_for};
use gbr_local::services::LocalServices;
use gbr_local::simulator::SimOptions;
use gbr_local::stack::{LocalStack, StackConfig};
use serde_json::json;

fn main() {
    let objects: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.replace('_', "").parse().ok())
        .unwrap_or(1_000_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(bench(objects));
}

async fn bench(objects: usize) {
    let services = LocalServices::start().unwrap_or_else(|e| panic!("{e}"));
    let bucket = "bench-estimate-data";
    let config = StackConfig {
        prefix: "bench-estimate".into(),
        data_buckets: vec![bucket.into()],
        simulator: SimOptions::default(),
        seed: 1,
        objects: gbr_local::objects::ObjectsMode::Memory,
        queue: gbr_local::queue::QueueMode::Memory,
        fault_rate: 0.0,
        max_running_jobs: None,
        estimate_list_pages: None,
    };
    let stack = LocalStack::start(&services.endpoints(), clock_for(TimeMode::Virtual), config)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let manifests = stack.names.manifest_bucket.clone();
    // Keys as a photo library names them: about 60 bytes a row.
    let key = |i: usize| format!("photos/2019/{:03}/IMG_{i:08} holiday.jpg", i % 997);

    let csv: String = (0..objects)
        .map(|i| format!("{bucket},{}\r\n", percent_encode_key(&key(i))))
        .collect();
    let csv_bytes = csv.len();
    put(&stack, &manifests, "bench/manifest.csv", csv.into_bytes()).await;
    let body = json!({"bucket": manifests, "key": "bench/manifest.csv", "tier": "BULK",
        "expiration_days": 7, "storage_class": "GLACIER"});
    let started = Instant::now();
    let answer = estimate_job(&stack.ports, &stack.settings, body.to_string().as_bytes())
        .await
        .unwrap_or_else(|e| panic!("{}", e.message));
    println!(
        "CSV manifest, {objects} rows, {:.1} MB: estimate in {:.2} s ({} objects counted)",
        csv_bytes as f64 / 1e6,
        started.elapsed().as_secs_f64(),
        answer.objects
    );

    let listed: Vec<ListedObject> = (0..objects)
        .map(|i| ListedObject {
            object: ObjectId::new(bucket, key(i), None).expect("a valid key"),
            size: 1 << 20,
            storage_class: if i % 10 == 0 { "STANDARD" } else { "GLACIER" }.into(),
        })
        .collect();
    let inventory = report(bucket, &manifests, "inventory", &listed, 250_000);
    let compressed: usize = inventory.data_files.iter().map(|(_, b)| b.len()).sum();
    let files = inventory.data_files.len();
    put(
        &stack,
        &manifests,
        &inventory.manifest_key,
        inventory.manifest_json,
    )
    .await;
    for (key, bytes) in inventory.data_files {
        put(&stack, &manifests, &key, bytes).await;
    }
    let body = json!({"bucket": manifests, "key": inventory.manifest_key,
        "manifest_format": "inventory", "tier": "BULK", "expiration_days": 7});
    let started = Instant::now();
    let answer = estimate_job(&stack.ports, &stack.settings, body.to_string().as_bytes())
        .await
        .unwrap_or_else(|e| panic!("{}", e.message));
    println!(
        "S3 Inventory report, {objects} rows in {files} gzipped files, {:.1} MB: estimate in {:.2} s ({} to restore, {} skipped)",
        compressed as f64 / 1e6,
        started.elapsed().as_secs_f64(),
        answer.objects,
        answer.skipped
    );
}

async fn put(stack: &LocalStack, bucket: &str, key: &str, body: Vec<u8>) {
    stack
        .s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(body.into())
        .send()
        .await
        .unwrap_or_else(|e| panic!("PutObject {key}: {e}"));
}
