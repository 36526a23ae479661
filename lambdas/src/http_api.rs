//! The HTTP API behind API Gateway (REST API, proxy integration):
//!
//! | route                      | answer                                           |
//! |----------------------------|--------------------------------------------------|
//! | `POST /create-job`         | 200 `CreateJobResponse`                          |
//! | `POST /estimate`           | 200 `Estimate` (the create-job body; creates nothing) |
//! | `GET /jobs`                | 200 `JobList` (`client_tag`, `status`, `limit`, `next_token`) |
//! | `GET /jobs/{id}`           | 200 `JobView`                                    |
//! | `POST /jobs/{id}/cancel`   | 200 `JobView` of the cancelled job               |
//!
//! Requests are routed on the method and the request path, not on API Gateway's
//! `resource`, so that the local API can hand any path to the same code. Every answer
//! is a response: a request error is a 4xx with the `ApiError` body, never a Lambda
//! error, which API Gateway would turn into a bare 502. A body over
//! [`MAX_BODY_BYTES`] is refused with 413 before it is parsed.

use std::convert::Infallible;

use gbr_core::api::{self, ApiError, IDEMPOTENCY_KEY_HEADER, ListQuery};
use gbr_core::ports::Ports;
use gbr_core::settings::Settings;
use lambda_http::http::{HeaderValue, Method, StatusCode, header};
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;
use serde_json::Value;
use tracing::{Instrument, Span};

use crate::logging::api_span;

/// Every route as (method, path), as the template declares them.
pub const ROUTES: [(&str, &str); 5] = [
    ("POST", "/create-job"),
    ("POST", "/estimate"),
    ("GET", "/jobs"),
    ("GET", "/jobs/{id}"),
    ("POST", "/jobs/{id}/cancel"),
];

/// The largest request body the API accepts, in bytes (64 KiB). A create-job body is a
/// few hundred bytes (a manifest's bucket and key, at most 1 KiB, and a few short
/// fields) and the other routes take none: anything near this size is a mistake or
/// abuse, refused before it is parsed. API Gateway's own limit (10 MB) is far above.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The 413 answer to a body over [`MAX_BODY_BYTES`]; `size` is the body's length when
/// known (the local API stops reading at the limit).
pub fn payload_too_large(size: Option<usize>) -> ApiError {
    let size = match size {
        Some(bytes) => format!("{bytes} bytes"),
        None => format!("over {MAX_BODY_BYTES} bytes"),
    };
    ApiError::new(
        413,
        "PayloadTooLarge",
        format!(
            "the request body is {size}; the API accepts at most {MAX_BODY_BYTES} bytes ({} KiB), \
             and a create-job request needs a few hundred",
            MAX_BODY_BYTES / 1024
        ),
    )
}

/// Handles one request; a create without a client token gets a fresh UUID.
pub async fn handle(
    ports: &Ports,
    settings: &Settings,
    request: Request,
) -> Result<Response<Body>, Infallible> {
    let fresh_job_id = uuid::Uuid::new_v4().to_string();
    Ok(answer(ports, settings, request, &fresh_job_id).await)
}

/// One route of the API, with the job id from the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route<'a> {
    CreateJob,
    Estimate,
    ListJobs,
    GetJob(&'a str),
    CancelJob(&'a str),
}

impl Route<'_> {
    fn name(self) -> &'static str {
        match self {
            Route::CreateJob => "create_job",
            Route::Estimate => "estimate",
            Route::ListJobs => "list_jobs",
            Route::GetJob(_) => "get_job",
            Route::CancelJob(_) => "cancel_job",
        }
    }

    fn method(self) -> Method {
        match self {
            Route::CreateJob | Route::Estimate | Route::CancelJob(_) => Method::POST,
            Route::ListJobs | Route::GetJob(_) => Method::GET,
        }
    }
}

fn route(path: &str) -> Option<Route<'_>> {
    let path = path.strip_suffix('/').unwrap_or(path);
    let mut segments = path.strip_prefix('/')?.split('/');
    let route = match (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) {
        (Some("create-job"), None, _, _) => Route::CreateJob,
        (Some("estimate"), None, _, _) => Route::Estimate,
        (Some("jobs"), None, _, _) => Route::ListJobs,
        (Some("jobs"), Some(id), None, _) => Route::GetJob(id),
        (Some("jobs"), Some(id), Some("cancel"), None) => Route::CancelJob(id),
        _ => return None,
    };
    Some(route)
}

/// Handles one request; `fresh_job_id` is the id of a job created without a token.
pub async fn answer(
    ports: &Ports,
    settings: &Settings,
    request: Request,
    fresh_job_id: &str,
) -> Response<Body> {
    // API Gateway's `path` as sent (the URI's path carries the stage too); a request
    // not built from a proxy event has only the URI.
    let path = match request.raw_http_path() {
        "" => request.uri().path().to_owned(),
        raw => raw.to_owned(),
    };
    let Some(route) = route(&path) else {
        let routes: Vec<String> = ROUTES.iter().map(|(m, p)| format!("{m} {p}")).collect();
        let error = ApiError::new(
            404,
            "NotFound",
            format!(
                "there is no {} {path}; the API has {}",
                request.method(),
                routes.join(", ")
            ),
        );
        return respond(StatusCode::NOT_FOUND, &error);
    };
    let span = api_span(route.name());
    if let Route::GetJob(id) | Route::CancelJob(id) = route {
        span.record("job_id", id);
    }
    async {
        if *request.method() != route.method() {
            let error = ApiError::new(
                405,
                "MethodNotAllowed",
                format!(
                    "{} is not allowed on {path}; use {}",
                    request.method(),
                    route.method()
                ),
            );
            let mut response = respond(StatusCode::METHOD_NOT_ALLOWED, &error);
            if let Ok(allow) = HeaderValue::from_str(route.method().as_str()) {
                response.headers_mut().insert(header::ALLOW, allow);
            }
            return response;
        }
        let size = request.body().len();
        let result = match route {
            _ if size > MAX_BODY_BYTES => Err(payload_too_large(Some(size))),
            Route::CreateJob => {
                create_job(ports, settings, &request, fresh_job_id).await
            }
            Route::Estimate => json(
                api::estimate_job(ports, settings, request.body().as_ref()).await,
            ),
            Route::ListJobs => list_jobs(ports, &request).await,
            Route::GetJob(id) => json(api::get_job(ports, id).await),
            Route::CancelJob(id) => {
                let cancelled = api::cancel_job(ports, id).await;
                if cancelled.is_ok() {
                    tracing::info!("job cancelled");
                }
                json(cancelled)
            }
        };
        match result {
            Ok(body) => respond(StatusCode::OK, &body),
            Err(error) => {
                let status = StatusCode::from_u16(error.status)
                    .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                if status.is_server_error() {
                    tracing::error!(error = error.error, message = %error.message, "request failed");
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

async fn create_job(
    ports: &Ports,
    settings: &Settings,
    request: &Request,
    fresh_job_id: &str,
) -> Result<Value, ApiError> {
    let key = match request.headers().get(IDEMPOTENCY_KEY_HEADER) {
        None => None,
        Some(value) => Some(value.to_str().map_err(|_| {
            ApiError::new(
                400,
                "InvalidRequest",
                format!("the {IDEMPOTENCY_KEY_HEADER} header must be plain ASCII"),
            )
        })?),
    };
    let created =
        api::create_job(ports, settings, request.body().as_ref(), key, fresh_job_id).await?;
    Span::current().record("job_id", created.bulk_job_id.as_str());
    tracing::info!(execution_arn = %created.execution_arn, "job created");
    json(Ok(created))
}

async fn list_jobs(ports: &Ports, request: &Request) -> Result<Value, ApiError> {
    let params = request.query_string_parameters();
    let query = ListQuery::from_params(params.iter())?;
    json(api::list_jobs(ports, &query).await)
}

fn json<T: Serialize>(result: Result<T, ApiError>) -> Result<Value, ApiError> {
    let value = result?;
    serde_json::to_value(value).map_err(|e| {
        ApiError::new(
            500,
            "InternalError",
            format!("the answer could not be written: {e}"),
        )
    })
}

fn respond(status: StatusCode, body: &impl Serialize) -> Response<Body> {
    // Plain structs of strings and numbers, which always serialize.
    let json = serde_json::to_string(body).unwrap_or_else(|_| "{}".to_owned());
    let mut response = Response::new(Body::Text(json));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_listed_is_routed_with_its_method() {
        for (method, path) in ROUTES {
            let route = route(path).unwrap_or_else(|| panic!("{path} is not routed"));
            assert_eq!(route.method().as_str(), method, "{path}");
        }
    }

    #[test]
    fn paths_route_whatever_the_stage_or_trailing_slash() {
        assert_eq!(route("/create-job"), Some(Route::CreateJob));
        assert_eq!(route("/estimate/"), Some(Route::Estimate));
        assert_eq!(route("/jobs/"), Some(Route::ListJobs));
        assert_eq!(route("/jobs/j-1"), Some(Route::GetJob("j-1")));
        assert_eq!(route("/jobs/j-1/cancel"), Some(Route::CancelJob("j-1")));
        for unknown in [
            "",
            "/",
            "/prod/create-job",
            "/jobs/j-1/cancel/now",
            "/jobs/j-1/stop",
            "create-job",
        ] {
            assert_eq!(route(unknown), None, "{unknown}");
        }
    }
}
