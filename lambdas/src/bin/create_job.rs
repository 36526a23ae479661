//! POST /create-job behind API Gateway: validates the request, records the job (under a
//! fresh UUID, or the id its client token names) and starts its execution.

use gbr_lambdas::environment::Function;
use gbr_lambdas::{http_api, wiring};
use lambda_http::{Request, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let wired = wiring::start(Function::CreateJob).await?;
    let (ports, env) = (&wired.ports, &wired.env);
    lambda_http::run(service_fn(|request: Request| {
        http_api::handle(ports, &env.settings, request)
    }))
    .await
}
