//! The RegisterManifest task: a bounded piece of the manifest into the objects table per call.

use gbr_lambdas::environment::Function;
use gbr_lambdas::{step_tasks, wiring};
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let wired = wiring::start(Function::RegisterManifest).await?;
    let (ports, settings) = (&wired.ports, &wired.env.settings);
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        step_tasks::register_manifest(ports, settings, event.payload)
    }))
    .await
}
