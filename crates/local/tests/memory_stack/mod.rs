//! A local stack for tests of one job: data objects and the restore-events queue in
//! memory, a virtual clock from 2030-01-01, and a manifest of Glacier objects `k0…`
//! uploaded as `m.csv`.

use std::sync::Arc;
use std::time::Duration;

use gbr_local::engine::clock::{SimClock, VirtualClock};
use gbr_local::objects::ObjectsMode;
use gbr_local::queue::QueueMode;
use gbr_local::scenario::prepare;
use gbr_local::services::LocalServices;
use gbr_local::simulator::SimOptions;
use gbr_local::stack::{LocalStack, StackConfig};
use jiff::Timestamp;

pub const MANIFEST_KEY: &str = "m.csv";

pub fn start_time() -> Timestamp {
    "2030-01-01T00:00:00Z".parse().expect("a time")
}

/// The stack, named by `prefix`, with `objects` objects in `{prefix}-data`.
pub async fn memory_stack(
    services: &LocalServices,
    prefix: &str,
    objects: usize,
    max_running_jobs: Option<usize>,
) -> LocalStack {
    let clock: Arc<dyn SimClock> = Arc::new(VirtualClock::new(start_time()));
    let bucket = format!("{prefix}-data");
    let stack = LocalStack::start(
        &services.endpoints(),
        clock,
        StackConfig {
            prefix: prefix.into(),
            data_buckets: vec![bucket.clone()],
            simulator: SimOptions {
                seed: 5,
                restore_tick: Duration::from_secs(60),
                ..SimOptions::default()
            },
            seed: 5,
            objects: ObjectsMode::Memory,
            queue: QueueMode::Memory,
            fault_rate: 0.0,
            max_running_jobs,
            estimate_list_pages: None,
        },
    )
    .await
    .expect("the stack");
    let manifest: String = (0..objects).map(|i| format!("{bucket},k{i}\n")).collect();
    let prepared = prepare(
        &stack.objects,
        &stack.simulator,
        &manifest,
        "GLACIER",
        &[],
        Duration::from_secs(3600),
    )
    .await
    .expect("the objects");
    stack
        .s3
        .put_object()
        .bucket(&stack.names.manifest_bucket)
        .key(MANIFEST_KEY)
        .body(prepared.manifest.into_bytes().into())
        .send()
        .await
        .expect("the manifest");
    stack
}
