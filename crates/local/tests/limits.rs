//! The local stack bounds its own work: with `--max-jobs N`, a create beyond N running
//! jobs answers 503 with what to do, and a retried create of a running job still
//! finds it.

mod memory_stack;

use gbr_local::services::LocalServices;
use memory_stack::{MANIFEST_KEY, memory_stack};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_beyond_the_running_jobs_bound_answers_503_naming_it() {
    let services = LocalServices::start().unwrap_or_else(|e| panic!("{e}"));
    let stack = memory_stack(&services, "limits", 2, Some(1)).await;
    // Holds the clock still: the first job keeps running.
    let _still = stack.clock.register();
    let create = |token: &str| {
        let body = serde_json::json!({
            "bucket": stack.names.manifest_bucket, "key": MANIFEST_KEY, "tier": "BULK",
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
