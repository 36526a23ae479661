//! The PollBatchJob task: the batch job's status, then its completion report piece by piece.

use gbr_lambdas::environment::Function;
use gbr_lambdas::{step_tasks, wiring};
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let wired = wiring::start(Function::PollBatchJob).await?;
    let (ports, settings) = (&wired.ports, &wired.env.settings);
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        step_tasks::poll_batch_job(ports, settings, event.payload)
    }))
    .await
}
