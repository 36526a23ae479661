//! What a deployment sets: its topic, report location, allowed buckets and the sizes of
//! one invocation's work.

use crate::api::MAX_ESTIMATE_LIST_PAGES;
use crate::request::DEFAULT_PROGRESS_STEP_PERCENT;

/// Deployment settings the tasks need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The topic events go to, returned to the caller of create-job.
    pub topic_arn: String,
    /// Where Batch Operations writes completion reports.
    pub report_bucket: String,
    pub report_prefix: String,
    /// Buckets manifests may name; `None` allows any.
    pub allowed_buckets: Option<Vec<String>>,
    /// Bytes of a manifest or of a completion report file read per request: bounds
    /// memory, never the whole file.
    pub read_chunk_bytes: u64,
    /// Rows one register-manifest invocation handles before handing on a cursor.
    pub register_rows_per_invocation: u64,
    /// Report rows or reconciled objects one invocation handles.
    pub rows_per_invocation: u64,
    /// Object rows expire this long after the job's deadline.
    pub object_row_ttl_days: u32,
    /// The progress step of a job whose request names none.
    pub default_progress_step_percent: u8,
    /// The deployment's region, whose prices an estimate uses.
    pub region: String,
    /// ListObjectsV2 pages an estimate of a filter reads at most
    /// ([`MAX_ESTIMATE_LIST_PAGES`]); fewer in tests, to reach the limit.
    pub estimate_list_pages: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            topic_arn: String::new(),
            report_bucket: String::new(),
            report_prefix: "batch-reports".into(),
            allowed_buckets: None,
            read_chunk_bytes: 8 * 1024 * 1024,
            register_rows_per_invocation: 200_000,
            rows_per_invocation: 20_000,
            object_row_ttl_days: 30,
            default_progress_step_percent: DEFAULT_PROGRESS_STEP_PERCENT,
            region: "us-east-1".into(),
            estimate_list_pages: MAX_ESTIMATE_LIST_PAGES,
        }
    }
}
