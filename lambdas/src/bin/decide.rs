//! The Decide task: status, at most one published event, and the next step.

use gbr_lambdas::environment::Function;
use gbr_lambdas::{step_tasks, wiring};
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let wired = wiring::start(Function::Decide).await?;
    let ports = &wired.ports;
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        step_tasks::decide(ports, event.payload)
    }))
    .await
}
