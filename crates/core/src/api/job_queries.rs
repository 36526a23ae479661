//! `GET /jobs/{id}` and `GET /jobs`: where jobs stand, from the jobs table alone.

use futures_util::{StreamExt, TryStreamExt, stream};
use serde::{Deserialize, Serialize};

use super::ApiError;
use super::job_view::JobView;
use crate::job::JobRecord;
use crate::listing::ListCursor;
use crate::ports::Ports;
use crate::ports::{JobFilter, PortError};
use crate::request::{FieldError, check_tag_value};
use crate::status::JobStatus;

pub const DEFAULT_LIST_LIMIT: usize = 20;
pub const MAX_LIST_LIMIT: usize = 100;
/// Jobs whose counters are summed at once while a page is built: each sum is one
/// query, and a page of 100 read one after another would be slow.
const TALLY_CONCURRENCY: usize = 10;
/// Longer than any id this service gives out; anything longer is not a job of ours.
const MAX_JOB_ID_CHARS: usize = 128;

/// `GET /jobs/{id}`.
pub async fn get_job(ports: &Ports, job_id: &str) -> Result<JobView, ApiError> {
    let job = find_job(ports, job_id).await?;
    view(ports, job).await
}

/// The query-string parameters of `GET /jobs`, as sent; [`list_jobs`] checks them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListQuery {
    pub client_tag: Option<String>,
    pub status: Option<String>,
    pub limit: Option<String>,
    pub next_token: Option<String>,
}

impl ListQuery {
    pub const PARAMETERS: [&str; 4] = ["client_tag", "status", "limit", "next_token"];

    /// From query-string pairs. An unknown or repeated parameter is refused, so a typo
    /// (`clientTag`) never silently lists every job.
    pub fn from_params<'a>(
        params: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, ApiError> {
        let mut query = Self::default();
        let mut errors = Vec::new();
        for (name, value) in params {
            let slot = match name {
                "client_tag" => &mut query.client_tag,
                "status" => &mut query.status,
                "limit" => &mut query.limit,
                "next_token" => &mut query.next_token,
                _ => {
                    errors.push(FieldError {
                        field: name.to_owned(),
                        message: format!(
                            "is not a known query parameter; allowed are {}",
                            Self::PARAMETERS.join(", ")
                        ),
                    });
                    continue;
                }
            };
            if slot.is_some() {
                errors.push(FieldError {
                    field: name.to_owned(),
                    message: "is given more than once; give it once".into(),
                });
            }
            *slot = Some(value.to_owned());
        }
        if errors.is_empty() {
            Ok(query)
        } else {
            Err(ApiError::invalid(errors))
        }
    }
}

/// The `GET /jobs` answer: a page of jobs, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct JobList {
    pub jobs: Vec<JobView>,
    /// Pass as `next_token` for the next page; `null` on the last one. A page may
    /// hold fewer jobs than `limit` (even none) and still have a next one when a
    /// status filter skipped many jobs.
    pub next_token: Option<String>,
}

/// `GET /jobs?client_tag=&status=&limit=&next_token=`.
pub async fn list_jobs(ports: &Ports, query: &ListQuery) -> Result<JobList, ApiError> {
    let mut errors = Vec::new();
    let mut bad = |field: &str, message: String| {
        errors.push(FieldError {
            field: field.to_owned(),
            message,
        });
    };
    let client_tag = match query.client_tag.as_deref() {
        Some("") => {
            bad(
                "client_tag",
                "is empty; leave it out to list jobs of every tag".into(),
            );
            None
        }
        Some(tag) => match check_tag_value(tag) {
            Ok(()) => Some(tag.to_owned()),
            Err(message) => {
                bad("client_tag", message);
                None
            }
        },
        None => None,
    };
    // Case-insensitive, as tiers are.
    let status = query.status.as_deref().and_then(|s| {
        JobStatus::parse_ignoring_case(s)
            .map_err(|e| bad("status", e.to_string()))
            .ok()
    });
    let limit = match query.limit.as_deref() {
        None => DEFAULT_LIST_LIMIT,
        Some(l) => match l.parse::<usize>() {
            Ok(n) if (1..=MAX_LIST_LIMIT).contains(&n) => n,
            _ => {
                bad(
                    "limit",
                    format!("is {l:?}; it must be a whole number from 1 to {MAX_LIST_LIMIT}"),
                );
                DEFAULT_LIST_LIMIT
            }
        },
    };
    // Checked here, not only by the store, so a bad token is the caller's 400.
    if let Some(Err(e)) = query.next_token.as_deref().map(ListCursor::decode) {
        bad("next_token", e.to_string());
    }
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors));
    }

    let filter = JobFilter { client_tag, status };
    let page = ports
        .jobs
        .list(&filter, query.next_token.as_deref(), limit)
        .await
        .map_err(|e| ApiError::from_store("listing jobs", e))?;
    let jobs = stream::iter(page.items)
        .map(|job| view(ports, job))
        .buffered(TALLY_CONCURRENCY)
        .try_collect()
        .await?;
    Ok(JobList {
        jobs,
        next_token: page.next,
    })
}

/// The job, or 404.
pub(super) async fn find_job(ports: &Ports, job_id: &str) -> Result<JobRecord, ApiError> {
    // Not an id this service could have given out: no need to ask the store.
    if job_id.is_empty()
        || job_id.chars().count() > MAX_JOB_ID_CHARS
        || job_id.chars().any(char::is_control)
    {
        return Err(ApiError::job_not_found(job_id));
    }
    match ports.jobs.get(job_id).await {
        Ok(Some(job)) => Ok(job),
        Ok(None) | Err(PortError::NotFound(_)) => Err(ApiError::job_not_found(job_id)),
        Err(e) => Err(ApiError::from_store(&format!("reading job {job_id}"), e)),
    }
}

/// The view of `job`, with its counters summed now.
pub(super) async fn view(ports: &Ports, job: JobRecord) -> Result<JobView, ApiError> {
    let tally = ports
        .jobs
        .tally(&job.job_id)
        .await
        .map_err(|e| ApiError::from_store(&format!("counting job {}", job.job_id), e))?;
    Ok(JobView::new(&job, &tally))
}
