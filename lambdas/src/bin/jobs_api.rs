//! GET /jobs, GET /jobs/{id} and POST /jobs/{id}/cancel behind API Gateway: where jobs
//! stand, and cancelling one.

use gbr_lambdas::environment::Function;
use gbr_lambdas::{http_api, wiring};
use lambda_http::{Request, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let wired = wiring::start(Function::JobsApi).await?;
    let (ports, env) = (&wired.ports, &wired.env);
    lambda_http::run(service_fn(|request: Request| {
        http_api::handle(ports, &env.settings, request)
    }))
    .await
}
