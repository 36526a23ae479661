//! `gbr watch JOB_ID`: polls the job until it ends, drawing its progress, and exits
//! with a code that says how it ended.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use gbr_core::api::JobView;
use gbr_core::status::JobStatus;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{note, say};
use crate::api_client::ApiClient;
use crate::error::CliError;
use crate::render;

/// Polls that may fail in a row (the API or the network having a moment) before
/// watching gives up.
const TRANSIENT_FAILURES: u32 = 5;

pub async fn run(
    client: &ApiClient,
    job_id: &str,
    interval_secs: f64,
    json: bool,
) -> Result<ExitCode, CliError> {
    let interval = Duration::from_secs_f64(interval_secs);
    let started = Instant::now();
    let display = if json {
        Display::Json
    } else if std::io::stderr().is_terminal() {
        Display::Bar(new_bar())
    } else {
        Display::Lines
    };
    if !json {
        display.note(&format!(
            "watching job {job_id} every {} (Ctrl-C stops watching; the job goes on)",
            render::duration_fine(interval)
        ));
    }
    let mut eta = Eta::default();
    // What a poll must change to be shown: JSON lines on status or percent; text lines
    // also when the total becomes known.
    let mut last: Option<(JobStatus, u8, bool)> = None;
    let mut failures = 0;
    loop {
        match client.get_job(job_id).await {
            Ok(answer) => {
                failures = 0;
                let view = &answer.value;
                let now = Instant::now();
                let seen = (
                    view.status,
                    view.progress_percent,
                    view.total_files.is_some(),
                );
                let changed_for_json = last.is_none_or(|(s, p, _)| (s, p) != (seen.0, seen.1));
                let changed = last != Some(seen);
                last = Some(seen);
                let remaining = view
                    .total_files
                    .and_then(|total| eta.estimate(now, done(view), total));
                match &display {
                    Display::Json if changed_for_json => say(&answer.raw)?,
                    Display::Json => {}
                    Display::Bar(bar) => draw(bar, view, remaining),
                    Display::Lines if changed => say(format!(
                        "[+{}] {}",
                        render::duration(now - started),
                        line(view, remaining)
                    ))?,
                    Display::Lines => {}
                }
                if let Some(code) = view.status.exit_code() {
                    if let Display::Bar(bar) = &display {
                        bar.finish_and_clear();
                    }
                    if !json {
                        say(ending(view, started.elapsed()))?;
                    }
                    return Ok(ExitCode::from(code));
                }
            }
            // Once the job was seen, a moment of trouble is waited out.
            Err(e) if last.is_some() && e.is_transient() && failures < TRANSIENT_FAILURES => {
                failures += 1;
                display.note(&format!(
                    "warning: {e} (attempt {failures} of {TRANSIENT_FAILURES}; still watching)"
                ));
            }
            Err(e) => {
                if let Display::Bar(bar) = &display {
                    bar.abandon();
                }
                return Err(e.into());
            }
        }
        tokio::time::sleep(interval).await;
    }
}

enum Display {
    /// One JSON line per poll whose status or percent changed.
    Json,
    /// A progress bar on standard error (a terminal).
    Bar(ProgressBar),
    /// One line per change on standard output (not a terminal: logs, CI).
    Lines,
}

impl Display {
    fn note(&self, text: &str) {
        match self {
            Display::Bar(bar) => bar.suspend(|| note(text)),
            _ => note(text),
        }
    }
}

fn done(view: &JobView) -> u64 {
    view.restored_files + view.failed_batch_files
}

fn new_bar() -> ProgressBar {
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    bar.set_style(waiting_style());
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

fn waiting_style() -> ProgressStyle {
    ProgressStyle::with_template("{spinner} {prefix:9} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
}

fn counting_style() -> ProgressStyle {
    ProgressStyle::with_template("{spinner} {prefix:9} [{bar:30}] {pos}/{len} restored {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

fn draw(bar: &ProgressBar, view: &JobView, remaining: Option<Duration>) {
    bar.set_prefix(view.status.to_string());
    match view.total_files {
        Some(total) => {
            if bar.length().is_none() {
                bar.set_style(counting_style());
            }
            bar.set_length(total);
            bar.set_position(view.restored_files);
            bar.set_message(format!(
                "{}% · {} failed · ETA {}",
                view.progress_percent,
                view.failed_batch_files,
                remaining.map_or_else(|| "-".to_owned(), render::duration)
            ));
        }
        None => bar.set_message("waiting for the manifest to be registered"),
    }
}

/// One line of progress: `Restoring  3/10 restored, 0 failed (30%)  ETA 12s`.
fn line(view: &JobView, remaining: Option<Duration>) -> String {
    let mut text = format!("{:<9}  {}", view.status.as_str(), render::progress(view));
    if let (JobStatus::Restoring, Some(eta)) = (view.status, remaining) {
        text.push_str(&format!("  ETA {}", render::duration(eta)));
    }
    text
}

/// The last line: how the job ended, with its totals.
fn ending(view: &JobView, elapsed: Duration) -> String {
    let mut text = format!(
        "job {} {}: {} after {}",
        view.job_id,
        view.status,
        render::progress(view),
        render::duration(elapsed)
    );
    if let Some(reason) = &view.failure_reason {
        text.push_str(&format!("; reason: {reason}"));
    }
    text
}

/// The time left at the pace seen since watching started.
#[derive(Debug, Default)]
struct Eta {
    first: Option<(Instant, u64)>,
}

impl Eta {
    fn estimate(&mut self, now: Instant, done: u64, total: u64) -> Option<Duration> {
        let (since, done_then) = *self.first.get_or_insert((now, done));
        if done >= total {
            return Some(Duration::ZERO);
        }
        let gained = done.checked_sub(done_then).filter(|g| *g > 0)?;
        let elapsed = now.checked_duration_since(since)?.as_secs_f64();
        let per_object = elapsed / gained as f64;
        Some(Duration::from_secs_f64(per_object * (total - done) as f64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_eta_is_the_pace_so_far_applied_to_what_is_left() {
        let t0 = Instant::now();
        let mut eta = Eta::default();
        assert_eq!(eta.estimate(t0, 10, 100), None, "no pace yet");
        assert_eq!(eta.estimate(t0 + Duration::from_secs(5), 10, 100), None);
        // 20 objects in 10 s: the 70 left take 35 s.
        let left = eta.estimate(t0 + Duration::from_secs(10), 30, 100).unwrap();
        assert_eq!(left.as_secs(), 35);
        assert_eq!(
            eta.estimate(t0 + Duration::from_secs(11), 100, 100),
            Some(Duration::ZERO)
        );
    }
}
