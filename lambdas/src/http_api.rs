//! `POST /create-job` behind API Gateway (REST API, proxy integration).
//!
//! The handler always answers with a response: a request error is a 4xx with the
//! `ApiError` body, never a Lambda error, which API Gateway would turn into a bare 502.

use std::convert::Infallible;

use gbr_core::tasks::{self, ApiError, Ports, Settings};
use lambda_http::http::{Method, StatusCode, header};
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use serde_json::Value;
use tracing::Instrument;

use crate::logging::job_span;

/// Handles one request under a fresh job id.
pub async fn handle(
    ports: &Ports,
    settings: &Settings,
    default_progress_step_percent: Option<u8>,
    request: Request,
) -> Result<Response<Body>, Infallible> {
    let job_id = uuid::Uuid::new_v4().to_string();
    Ok(create_job(
        ports,
        settings,
        default_progress_step_percent,
        request,
        &job_id,
    )
    .await)
}

/// Handles one request as job `job_id`.
pub async fn create_job(
    ports: &Ports,
    settings: &Settings,
    default_progress_step_percent: Option<u8>,
    request: Request,
    job_id: &str,
) -> Response<Body> {
    let span = job_span("create_job", job_id);
    async move {
        if request.method() != Method::POST {
            let error = ApiError {
                status: 405,
                error: "MethodNotAllowed",
                message: format!("{} is not allowed; use POST", request.method()),
                fields: Vec::new(),
            };
            return respond(StatusCode::METHOD_NOT_ALLOWED, &error);
        }
        let body = with_default_step(request.body().as_ref(), default_progress_step_percent);
        match tasks::create_job(ports, settings, &body, job_id).await {
            Ok(created) => {
                tracing::info!(execution_arn = %created.execution_arn, "job created");
                respond(StatusCode::OK, &created)
            }
            Err(error) => {
                let status = StatusCode::from_u16(error.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                if status.is_server_error() {
                    tracing::error!(error = error.error, message = %error.message, "job not created");
                } else {
                    tracing::warn!(error = error.error, message = %error.message, "request refused");
                }
                respond(status, &error)
            }
        }
    }
    .instrument(span)
    .await
}

/// Adds the deployment's progress step to a request that names none; any other body
/// is passed on untouched for the request parser to judge.
fn with_default_step(body: &[u8], step: Option<u8>) -> Vec<u8> {
    let Some(step) = step else {
        return body.to_vec();
    };
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(mut fields)) if !fields.contains_key("progress_step_percent") => {
            fields.insert("progress_step_percent".into(), Value::from(step));
            serde_json::to_vec(&Value::Object(fields)).unwrap_or_else(|_| body.to_vec())
        }
        _ => body.to_vec(),
    }
}

fn respond(status: StatusCode, body: &impl Serialize) -> Response<Body> {
    // Both bodies are plain structs of strings and numbers, which always serialize.
    let json = serde_json::to_string(body).unwrap_or_else(|_| "{}".to_owned());
    let mut response = Response::new(Body::Text(json));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
}
