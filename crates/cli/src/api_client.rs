//! The HTTP API's client: one method per route, each answering the typed answer and
//! the JSON as sent (for `--json`), or an error that says what to do.

use std::time::Duration;

use gbr_core::api::{JobList, JobView};
use gbr_core::estimate::Estimate;
use gbr_core::request::{StorageClass, Tier};
use gbr_core::status::JobStatus;
use jiff::Timestamp;
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use thiserror::Error;

use crate::settings::Settings;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The body of `POST /create-job`: a manifest's `bucket` and `key`, or a `filter`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CreateJob {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bucket: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    pub tier: Tier,
    pub expiration_days: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_tag: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deadline_hours: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress_step_percent: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_class: Option<StorageClass>,
    /// Left out for a CSV manifest, the API's default, so that such a request is sent
    /// as before and a retry with the same client token is still the same request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest_format: Option<ManifestFormat>,
    /// The objects to restore when there is no manifest; S3 Batch Operations lists them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<Filter>,
}

/// The `filter` of a create-job body. Conditions left out are not sent, so the API
/// applies its defaults (every key, both archive classes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Filter {
    pub bucket: String,
    /// At most one, as S3 Batch Operations' manifest generator takes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub prefixes: Vec<String>,
    /// At most one, likewise.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub suffixes: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_after: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_before: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_size_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_size_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub storage_classes: Vec<StorageClass>,
}

/// A manifest format other than the default, a Batch Operations CSV.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ManifestFormat {
    /// An S3 Inventory report, named by its `manifest.json`.
    Inventory,
}

/// The answer of `POST /create-job`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Created {
    #[serde(rename = "SNSTopic")]
    pub sns_topic: String,
    #[serde(rename = "BulkJobId")]
    pub bulk_job_id: String,
    #[serde(rename = "BatchOperation")]
    pub batch_operation: Value,
    #[serde(rename = "ExecutionArn")]
    pub execution_arn: String,
}

/// The parameters of `GET /jobs`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListParams {
    pub client_tag: Option<String>,
    pub status: Option<JobStatus>,
    pub limit: Option<u32>,
    pub next_token: Option<String>,
}

/// An answer, typed and as sent.
#[derive(Debug, Clone)]
pub struct Answer<T> {
    pub value: T,
    pub raw: Value,
}

/// One field the API found wrong.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct FieldProblem {
    pub field: String,
    pub message: String,
}

/// The API's error body (`{error, message, fields?, job_id?, job_status?}`); API
/// Gateway's own errors have only `message`.
#[derive(Debug, Clone, Default, Deserialize)]
struct ErrorBody {
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    fields: Vec<FieldProblem>,
    #[serde(default)]
    job_id: Option<String>,
    #[serde(default)]
    job_status: Option<String>,
}

#[derive(Debug, Error)]
pub enum ApiClientError {
    #[error("the endpoint {endpoint:?} is not an http(s) URL: {reason}")]
    BadEndpoint { endpoint: String, reason: String },
    #[error("cannot reach {endpoint}: is the stack up? (gbr-local up prints the URL)")]
    Unreachable {
        endpoint: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{endpoint} did not answer {call} within {} s; try again", REQUEST_TIMEOUT.as_secs())]
    TimedOut { endpoint: String, call: String },
    #[error("{call} failed: {source}")]
    Transport {
        call: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("the API key was refused: check --api-key / GBR_API_KEY")]
    Forbidden,
    #[error("no job {0}")]
    NoJob(String),
    #[error("job {job_id} has already ended: {status}")]
    JobEnded { job_id: String, status: String },
    #[error(
        "the client token {token} was already used for job {job_id} with a different request: \
         send that same request to get that job, or use a new --client-token for a new job"
    )]
    TokenReused { token: String, job_id: String },
    #[error("{}", invalid_text(.message, .fields))]
    Invalid {
        message: String,
        fields: Vec<FieldProblem>,
    },
    #[error("{call} answered {status}{}: {message}", .error.as_deref().map(|e| format!(" {e}")).unwrap_or_default())]
    Refused {
        call: String,
        status: u16,
        error: Option<String>,
        message: String,
    },
    #[error("{call} answered something unexpected ({reason}): {body}")]
    BadAnswer {
        call: String,
        reason: String,
        body: String,
    },
}

impl ApiClientError {
    /// Worth trying again later: the API or the network had a moment.
    pub fn is_transient(&self) -> bool {
        match self {
            ApiClientError::Unreachable { .. }
            | ApiClientError::TimedOut { .. }
            | ApiClientError::Transport { .. } => true,
            ApiClientError::Refused { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }

    /// The API would not list a prefix this large for an estimate; S3 Batch
    /// Operations still lists it when the job is created.
    pub fn is_list_too_long(&self) -> bool {
        matches!(
            self,
            ApiClientError::Refused { status: 422, error: Some(name), .. } if name == "ListTooLong"
        )
    }
}

fn invalid_text(message: &str, fields: &[FieldProblem]) -> String {
    if fields.is_empty() {
        return format!("the API refused the request: {message}");
    }
    let mut text = String::from("the API refused the request:");
    for f in fields {
        text.push_str(&format!("\n  {}: {}", f.field, f.message));
    }
    text
}

/// What a request was, so its refusal can be told in its terms.
#[derive(Debug, Clone, Copy)]
enum Call<'a> {
    Create { client_token: Option<&'a str> },
    Estimate,
    Get(&'a str),
    Cancel(&'a str),
    List,
}

pub struct ApiClient {
    http: reqwest::Client,
    /// The endpoint, ending in `/`, so that paths join under it (a stage included).
    base: Url,
    /// The endpoint as shown in messages.
    shown: String,
    api_key: String,
}

impl ApiClient {
    pub fn new(settings: &Settings) -> Result<Self, ApiClientError> {
        let bad = |reason: String| ApiClientError::BadEndpoint {
            endpoint: settings.endpoint.clone(),
            reason,
        };
        let mut base = Url::parse(settings.endpoint.trim()).map_err(|e| bad(e.to_string()))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(bad(format!(
                "the scheme is {}; use http:// or https://",
                base.scheme()
            )));
        }
        if base.query().is_some() || base.fragment().is_some() {
            return Err(bad(
                "it has a query or fragment; give the API's base URL".into()
            ));
        }
        // `gbr-local up` prints the create-job URL: accept it as the base too.
        let path = base.path().trim_end_matches('/');
        let path = path.strip_suffix("/create-job").unwrap_or(path).to_owned();
        base.set_path(&format!("{path}/"));
        let shown = base.as_str().trim_end_matches('/').to_owned();
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("gbr/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| bad(format!("no HTTP client: {e}")))?;
        Ok(Self {
            http,
            base,
            shown,
            api_key: settings.api_key.clone(),
        })
    }

    pub async fn create_job(&self, body: &CreateJob) -> Result<Answer<Created>, ApiClientError> {
        let url = self.url(&["create-job"]);
        let call = Call::Create {
            client_token: body.client_token.as_deref(),
        };
        self.send(call, self.request(Method::POST, url).json(body))
            .await
    }

    /// What the job `body` describes would restore, cost and take; creates nothing.
    pub async fn estimate(&self, body: &CreateJob) -> Result<Answer<Estimate>, ApiClientError> {
        let url = self.url(&["estimate"]);
        self.send(Call::Estimate, self.request(Method::POST, url).json(body))
            .await
    }

    pub async fn get_job(&self, job_id: &str) -> Result<Answer<JobView>, ApiClientError> {
        let url = self.url(&["jobs", job_id]);
        self.send(Call::Get(job_id), self.request(Method::GET, url))
            .await
    }

    pub async fn cancel_job(&self, job_id: &str) -> Result<Answer<JobView>, ApiClientError> {
        let url = self.url(&["jobs", job_id, "cancel"]);
        self.send(Call::Cancel(job_id), self.request(Method::POST, url))
            .await
    }

    pub async fn list_jobs(&self, params: &ListParams) -> Result<Answer<JobList>, ApiClientError> {
        let mut url = self.url(&["jobs"]);
        {
            let mut query = url.query_pairs_mut();
            if let Some(tag) = &params.client_tag {
                query.append_pair("client_tag", tag);
            }
            if let Some(status) = params.status {
                query.append_pair("status", status.as_str());
            }
            if let Some(limit) = params.limit {
                query.append_pair("limit", &limit.to_string());
            }
            if let Some(token) = &params.next_token {
                query.append_pair("next_token", token);
            }
        }
        if url.query() == Some("") {
            url.set_query(None);
        }
        self.send(Call::List, self.request(Method::GET, url)).await
    }

    /// The base URL with `segments` appended, each percent-encoded as one segment.
    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    fn request(&self, method: Method, url: Url) -> reqwest::RequestBuilder {
        self.http
            .request(method, url)
            .header("x-api-key", &self.api_key)
            .header(reqwest::header::ACCEPT, "application/json")
    }

    async fn send<T: DeserializeOwned>(
        &self,
        call: Call<'_>,
        request: reqwest::RequestBuilder,
    ) -> Result<Answer<T>, ApiClientError> {
        let response = request.send().await.map_err(|e| self.transport(call, e))?;
        let status = response.status();
        let text = response.text().await.map_err(|e| self.transport(call, e))?;
        if !status.is_success() {
            return Err(refusal(call, status, &text));
        }
        let bad = |reason: String| ApiClientError::BadAnswer {
            call: describe(call),
            reason,
            body: text.chars().take(500).collect(),
        };
        let raw: Value = serde_json::from_str(&text).map_err(|e| bad(format!("not JSON: {e}")))?;
        let value = T::deserialize(&raw).map_err(|e| bad(e.to_string()))?;
        Ok(Answer { value, raw })
    }

    fn transport(&self, call: Call<'_>, e: reqwest::Error) -> ApiClientError {
        if e.is_connect() {
            ApiClientError::Unreachable {
                endpoint: self.shown.clone(),
                source: e,
            }
        } else if e.is_timeout() {
            ApiClientError::TimedOut {
                endpoint: self.shown.clone(),
                call: describe(call),
            }
        } else {
            ApiClientError::Transport {
                call: describe(call),
                source: e,
            }
        }
    }
}

fn describe(call: Call<'_>) -> String {
    match call {
        Call::Create { .. } => "POST /create-job".into(),
        Call::Estimate => "POST /estimate".into(),
        Call::Get(id) => format!("GET /jobs/{id}"),
        Call::Cancel(id) => format!("POST /jobs/{id}/cancel"),
        Call::List => "GET /jobs".into(),
    }
}

/// A refusal in the terms of what was asked.
fn refusal(call: Call<'_>, status: StatusCode, text: &str) -> ApiClientError {
    let body: ErrorBody = serde_json::from_str(text).unwrap_or_default();
    let message = body
        .message
        .clone()
        .unwrap_or_else(|| text.chars().take(500).collect());
    let error = body.error.as_deref();
    match (status.as_u16(), call, error) {
        (403, _, _) => ApiClientError::Forbidden,
        (404, Call::Get(id) | Call::Cancel(id), Some("JobNotFound") | None) => {
            ApiClientError::NoJob(id.to_owned())
        }
        (409, Call::Cancel(id), Some("JobFinished")) => ApiClientError::JobEnded {
            job_id: body.job_id.unwrap_or_else(|| id.to_owned()),
            status: body
                .job_status
                .unwrap_or_else(|| "(status not given)".into()),
        },
        (409, Call::Create { client_token }, Some("IdempotencyConflict")) => {
            ApiClientError::TokenReused {
                token: client_token
                    .unwrap_or("(from the Idempotency-Key header)")
                    .to_owned(),
                job_id: body.job_id.unwrap_or_else(|| "(not given)".into()),
            }
        }
        (400, _, _) => ApiClientError::Invalid {
            message,
            fields: body.fields,
        },
        (code, call, _) => ApiClientError::Refused {
            call: describe(call),
            status: code,
            error: body.error,
            message,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(endpoint: &str) -> ApiClient {
        ApiClient::new(&Settings {
            endpoint: endpoint.into(),
            api_key: "k".into(),
        })
        .unwrap()
    }

    #[test]
    fn paths_join_under_the_endpoint_and_its_stage() {
        let c = client("https://abc.execute-api.us-east-1.amazonaws.com/prod");
        assert_eq!(
            c.url(&["jobs", "a b/c"]).as_str(),
            "https://abc.execute-api.us-east-1.amazonaws.com/prod/jobs/a%20b%2Fc"
        );
        assert_eq!(
            c.shown,
            "https://abc.execute-api.us-east-1.amazonaws.com/prod"
        );
        let c = client("http://127.0.0.1:8080/create-job");
        assert_eq!(
            c.url(&["create-job"]).as_str(),
            "http://127.0.0.1:8080/create-job"
        );
        let c = client("http://127.0.0.1:8080/");
        assert_eq!(c.url(&["jobs"]).as_str(), "http://127.0.0.1:8080/jobs");
    }

    #[test]
    fn endpoints_that_are_not_http_urls_are_refused() {
        for bad in ["127.0.0.1:8080", "ftp://x/", "http://x/?a=b", "nothing"] {
            let r = ApiClient::new(&Settings {
                endpoint: bad.into(),
                api_key: "k".into(),
            });
            assert!(
                matches!(r, Err(ApiClientError::BadEndpoint { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_api_answer_reads_back_as_the_estimate_made_here() {
        let core = gbr_core::estimate::estimate(&gbr_core::estimate::EstimateInput {
            classes: vec![gbr_core::estimate::ClassObjects {
                class: gbr_core::request::StorageClass::DeepArchive,
                objects: 10,
                bytes: Some(1 << 20),
            }],
            skipped_by_reason: [("MISSING".to_owned(), 2)].into(),
            expiration_days: 3,
            tier: Tier::Standard,
            region: "us-east-1".into(),
        });
        let from_json: Estimate =
            serde_json::from_value(serde_json::to_value(&core).unwrap()).unwrap();
        assert_eq!(from_json, core);
    }

    #[test]
    fn refusals_say_what_to_do() {
        let forbidden = refusal(
            Call::List,
            StatusCode::FORBIDDEN,
            r#"{"message":"Forbidden"}"#,
        );
        assert_eq!(
            forbidden.to_string(),
            "the API key was refused: check --api-key / GBR_API_KEY"
        );
        let missing = refusal(
            Call::Get("j-1"),
            StatusCode::NOT_FOUND,
            r#"{"error":"JobNotFound","message":"there is no job j-1"}"#,
        );
        assert_eq!(missing.to_string(), "no job j-1");
        let ended = refusal(
            Call::Cancel("j-1"),
            StatusCode::CONFLICT,
            r#"{"error":"JobFinished","message":"…","job_id":"j-1","job_status":"Complete"}"#,
        );
        assert_eq!(ended.to_string(), "job j-1 has already ended: Complete");
        let invalid = refusal(
            Call::Create { client_token: None },
            StatusCode::BAD_REQUEST,
            r#"{"error":"InvalidRequest","message":"invalid","fields":[
                {"field":"tier","message":"is required"},
                {"field":"expiration_days","message":"is 0"}]}"#,
        );
        assert_eq!(
            invalid.to_string(),
            "the API refused the request:\n  tier: is required\n  expiration_days: is 0"
        );
        let other = refusal(
            Call::List,
            StatusCode::SERVICE_UNAVAILABLE,
            r#"{"error":"ServiceUnavailable","message":"try again"}"#,
        );
        assert!(other.is_transient());
        assert_eq!(
            other.to_string(),
            "GET /jobs answered 503 ServiceUnavailable: try again"
        );
        let estimate = refusal(
            Call::Estimate,
            StatusCode::SERVICE_UNAVAILABLE,
            r#"{"error":"ServiceUnavailable","message":"the manifest could not be read for now"}"#,
        );
        assert_eq!(
            estimate.to_string(),
            "POST /estimate answered 503 ServiceUnavailable: the manifest could not be read for now"
        );
        let not_json = refusal(Call::List, StatusCode::BAD_GATEWAY, "upstream died");
        assert_eq!(
            not_json.to_string(),
            "GET /jobs answered 502: upstream died"
        );
    }
}
