//! JSON logs, one object per line, each carrying the job id of its invocation.
//!
//! Every handler runs inside [`job_span`]; the formatter writes the span's fields into
//! every line logged inside it, so CloudWatch Logs Insights can filter a job's lines by
//! `span.job_id` without the handlers repeating it.

use tracing::Span;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// Installs the JSON subscriber for the process, and sends its metrics documents
/// ([`crate::metrics`]) to stdout beside the log lines. `RUST_LOG` overrides the `info`
/// level.
pub fn init() {
    // A second call (tests) keeps the first subscriber: nothing to report.
    let _ = tracing::subscriber::set_global_default(subscriber(std::io::stdout));
    crate::metrics::to_stdout();
}

/// The subscriber, writing to `writer` (stdout in Lambda, a buffer in tests).
pub fn subscriber<W>(writer: W) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(false)
        .with_target(false)
        .flatten_event(true)
        .with_current_span(true)
        // The runtime's own span holds the Lambda request id; the list keeps it too.
        .with_span_list(true)
        .finish()
}

/// The span around one invocation for one job.
pub fn job_span(function: &'static str, job_id: &str) -> Span {
    tracing::info_span!("invocation", function, job_id)
}

/// The span around one API request; `job_id` is recorded once the route or the create
/// has told which job it is (a create with a client token learns it only then).
pub fn api_span(route: &'static str) -> Span {
    tracing::info_span!(
        "invocation",
        function = route,
        job_id = tracing::field::Empty
    )
}
