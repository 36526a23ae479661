//! The local stack bounds its own work: with `--max-jobs N`, a create beyond N running
//! jobs answers 503 with what to do, and a retried create of a running job still
//! finds it.

use std::sync::Arc;
use std::time::Duration;

use gbr_local::engine::clock::{SimClock, VirtualClock};
use gbr_local::objects::ObjectsMode;
use gbr_local::queue::QueueMode;
use gbr_local::scenario::prepare;
use gbr_local::services::LocalServices;
use gbr_local::simulator::SimOptions;
use gbr_local::stack::{LocalStack, StackConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_beyond_the_running_jobs_bound_answers_503_naming_it() {
    let services = LocalServices::start().unwrap_or_else(|e| panic!("{e}"));
    let clock: Arc<dyn SimClock> = Arc::new(VirtualClock::new(
        "2030-01-01T00:00:00Z".parse().expect("time"),
    ));
    let bucket = "limits-data";
    let stack = LocalStack::start(
        &services.endpoints(),
        Arc::clone(&clock),
        StackConfig {
            prefix: "limits".into(),
            data_buckets: vec![bucket.into()],
            simulator: SimOptions::default(),
            seed: 1,
            objects: ObjectsMode::Memory,
            queue: QueueMode::Memory,
            fault_rate: 0.0,
            max_running_jobs: Some(1),
        },
    )
    .await
    .expect("the stack");
    let prepared = prepare(
        &stack.objects,
        &stack.simulator,
        &format!("{bucket},a\n{bucket},b\n"),
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
        .key("m.csv")
        .body(prepared.manifest.into_bytes().into())
        .send()
        .await
        .expect("the manifest");
    // Holds the clock still: the first job keeps running.
    let _still = clock.register();
    let create = |token: &str| {
        let body = serde_json::json!({
            "bucket": stack.names.manifest_bucket, "key": "m.csv", "tier": "BULK",
            "expiration_days": 1, "client_token": token,
        });
        let stack = &stack;
        async move {
            gbr_core::api::create_job(
                &stack.ports,
                &stack.settings,
                body.to_string().as_bytes(),
                None,
                "unused",
            )
            .await
        }
    };
    let first = create("first").await.expect("the first job");
    let refused = create("second").await.expect_err("over the bound");
    assert_eq!((refused.status, refused.error), (503, "ServiceUnavailable"));
    assert!(
        refused.message.contains("--max-jobs 1"),
        "{}",
        refused.message
    );
    let again = create("first").await.expect("a retry of the running job");
    assert_eq!(again, first);
}
