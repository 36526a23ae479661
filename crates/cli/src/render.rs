//! The API's answers as a person reads them.

use std::fmt::Write as _;
use std::time::Duration;

use gbr_core::api::JobView;
use jiff::{Timestamp, Unit};

/// `3/10 restored, 1 failed (40%)`, or what is known before the manifest is read.
pub fn progress(view: &JobView) -> String {
    match view.total_files {
        Some(total) => format!(
            "{}/{total} restored, {} failed ({}%)",
            view.restored_files, view.failed_batch_files, view.progress_percent
        ),
        None => "manifest not registered yet".to_owned(),
    }
}

/// Everything `gbr status` shows, one `name  value` line each.
pub fn details(view: &JobView) -> String {
    let mut rows: Vec<(&str, String)> = vec![
        ("job", view.job_id.clone()),
        ("status", view.status.to_string()),
        ("progress", progress(view)),
    ];
    let batch = match (&view.batch_job_id, view.batch_job_status) {
        (Some(id), Some(status)) => format!("{id} ({})", status.as_str()),
        (Some(id), None) => id.clone(),
        (None, _) => "not submitted yet".to_owned(),
    };
    rows.push(("batch job", batch));
    rows.push(("tier", view.tier.as_str().to_owned()));
    if let Some(tag) = &view.client_tag {
        rows.push(("client tag", tag.clone()));
    }
    rows.push(("created", timestamp(view.created_at)));
    rows.push(("updated", timestamp(view.updated_at)));
    rows.push(("deadline", timestamp(view.deadline)));
    if let Some(arn) = &view.execution_arn {
        rows.push(("execution", arn.clone()));
    }
    if let Some(event) = &view.last_event {
        rows.push((
            "last event",
            format!("{} at {}%", event.status, event.progress_percent),
        ));
    }
    if let Some(reason) = &view.failure_reason {
        rows.push(("reason", reason.clone()));
    }
    let mut text = String::new();
    for (name, value) in rows {
        let _ = writeln!(text, "{name:<11} {value}");
    }
    text.pop();
    text
}

/// The jobs of `gbr list` as a table, newest first as the API gives them.
pub fn table(jobs: &[JobView]) -> String {
    let header = [
        "JOB ID",
        "STATUS",
        "RESTORED",
        "FAILED",
        "%",
        "TIER",
        "CLIENT TAG",
        "CREATED",
    ];
    let rows: Vec<[String; 8]> = jobs
        .iter()
        .map(|j| {
            [
                j.job_id.clone(),
                j.status.to_string(),
                match j.total_files {
                    Some(total) => format!("{}/{total}", j.restored_files),
                    None => format!("{}/?", j.restored_files),
                },
                j.failed_batch_files.to_string(),
                j.progress_percent.to_string(),
                j.tier.as_str().to_owned(),
                j.client_tag.clone().unwrap_or_else(|| "-".into()),
                timestamp(j.created_at),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut text = String::new();
    let mut line = |cells: &[&str]| {
        let mut l = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                l.push_str(cell);
            } else {
                let _ = write!(l, "{cell:<w$}  ");
            }
        }
        text.push_str(l.trim_end());
        text.push('\n');
    };
    line(&header);
    for row in &rows {
        line(&row.each_ref().map(String::as_str));
    }
    text.pop();
    text
}

/// An instant to the second, in UTC.
pub fn timestamp(at: Timestamp) -> String {
    at.round(Unit::Second).unwrap_or(at).to_string()
}

/// `2h 05m`, `3m 20s`, `12s`, `<1s`.
pub fn duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs == 0 && !d.is_zero() {
        return "<1s".to_owned();
    }
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if h > 0 {
        format!("{h}h {m:02}m")
    } else if m > 0 {
        format!("{m}m {s:02}s")
    } else {
        format!("{s}s")
    }
}

/// Like [`duration`], with tenths under ten seconds (poll intervals).
pub fn duration_fine(d: Duration) -> String {
    if d < Duration::from_secs(10) {
        let tenths = (d.as_millis() + 50) / 100;
        if tenths % 10 == 0 {
            format!("{}s", tenths / 10)
        } else {
            format!("{}.{}s", tenths / 10, tenths % 10)
        }
    } else {
        duration(d)
    }
}

#[cfg(test)]
mod tests {
    use gbr_core::request::Tier;
    use gbr_core::status::JobStatus;

    use super::*;

    fn view() -> JobView {
        let t: Timestamp = "2026-03-01T10:00:00.25Z".parse().unwrap();
        JobView {
            job_id: "job-1".into(),
            status: JobStatus::Restoring,
            batch_job_id: None,
            batch_job_status: None,
            total_files: Some(10),
            restored_files: 3,
            failed_batch_files: 1,
            progress_percent: 40,
            tier: Tier::Standard,
            client_tag: Some("nightly".into()),
            created_at: t,
            updated_at: t,
            deadline: t,
            execution_arn: None,
            last_event: None,
            failure_reason: None,
        }
    }

    #[test]
    fn progress_and_details_read_naturally() {
        let v = view();
        assert_eq!(progress(&v), "3/10 restored, 1 failed (40%)");
        let text = details(&v);
        assert!(text.contains("status      Restoring"), "{text}");
        assert!(text.contains("batch job   not submitted yet"), "{text}");
        assert!(text.contains("created     2026-03-01T10:00:00Z"), "{text}");
        let unknown = JobView {
            total_files: None,
            ..v
        };
        assert_eq!(progress(&unknown), "manifest not registered yet");
    }

    #[test]
    fn the_table_aligns_its_columns() {
        let text = table(&[view()]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].find("STATUS"), lines[1].find("Restoring"));
        assert_eq!(lines[0].find("CREATED"), lines[1].find("2026-"));
    }

    #[test]
    fn durations_are_short() {
        assert_eq!(duration(Duration::from_secs(12)), "12s");
        assert_eq!(duration(Duration::from_millis(300)), "<1s");
        assert_eq!(duration(Duration::ZERO), "0s");
        assert_eq!(duration(Duration::from_secs(200)), "3m 20s");
        assert_eq!(duration(Duration::from_secs(7500)), "2h 05m");
        assert_eq!(duration_fine(Duration::from_millis(200)), "0.2s");
        assert_eq!(duration_fine(Duration::from_secs(5)), "5s");
    }
}
