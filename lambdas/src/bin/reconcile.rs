//! The Reconcile task: past the deadline, what S3 says of each object still missing.

use std::time::{Duration, SystemTime};

use gbr_lambdas::environment::Function;
use gbr_lambdas::{step_tasks, wiring};
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

/// Kept back from the invocation's remaining time: marking what was found and answering.
const MARGIN: Duration = Duration::from_secs(60);

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let wired = wiring::start(Function::Reconcile).await?;
    let (ports, settings) = (&wired.ports, &wired.env.settings);
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let deadline = SystemTime::UNIX_EPOCH + Duration::from_millis(event.context.deadline);
        let left = deadline
            .duration_since(SystemTime::now())
            .unwrap_or_default();
        // At least a few calls' worth, so that every invocation makes progress.
        let budget = left.saturating_sub(MARGIN).max(Duration::from_secs(5));
        step_tasks::reconcile(ports, settings, event.payload, budget)
    }))
    .await
}
