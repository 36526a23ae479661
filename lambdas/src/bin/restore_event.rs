//! The restore-events queue's consumer: SQS batches of restore completions, answered
//! with the messages to deliver again (`batchItemFailures`).

use gbr_lambdas::environment::Function;
use gbr_lambdas::{restore_events, wiring};
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let wired = wiring::start(Function::RestoreEvent).await?;
    let ports = &wired.ports;
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        restore_events::handle(ports, event.payload)
    }))
    .await
}
