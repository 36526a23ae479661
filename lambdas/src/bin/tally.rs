//! The TallyRestored task: the job's counter shards, summed.

use gbr_lambdas::environment::Function;
use gbr_lambdas::{step_tasks, wiring};
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let wired = wiring::start(Function::Tally).await?;
    let ports = &wired.ports;
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        step_tasks::tally(ports, event.payload)
    }))
    .await
}
