//! The API's answers as a person reads them.

use std::fmt::Write as _;
use std::time::Duration;

use gbr_core::api::JobView;
use jiff::{Timestamp, Unit};

use gbr_core::estimate::{Estimate, TierEstimate};

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
    if let Some(skipped) = view.skipped_files.filter(|n| *n > 0) {
        rows.push(("skipped", format!("{} (need no restore)", count(skipped))));
    }
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

/// What an estimate's numbers cannot say themselves.
#[derive(Debug, Clone, Copy)]
pub struct EstimateNotes<'a> {
    /// Why the size may be unknown and how to learn it, shown when it is.
    pub size_unknown: &'a str,
    /// Where the region whose prices were used came from.
    pub region_from: &'a str,
}

/// An estimate as `gbr estimate` prints it: counts, then each tier's fees side by side.
pub fn estimate(e: &Estimate, notes: EstimateNotes<'_>) -> String {
    let mut rows: Vec<(String, String)> = vec![
        ("objects to restore".into(), count(e.objects)),
        ("skipped".into(), count(e.skipped)),
    ];
    for (reason, n) in &e.skipped_by_reason {
        rows.push((format!("  {reason}"), count(*n)));
    }
    rows.push((
        "size".into(),
        e.bytes.map_or_else(
            || format!("unknown ({})", notes.size_unknown),
            |b| format!("{} bytes ({})", count(b), binary_size(b)),
        ),
    ));
    let days = match e.expiration_days {
        1 => "1 day".to_owned(),
        n => format!("{n} days"),
    };
    rows.push(("restored for".into(), days));
    let [low, high] = e.completion_window_hours;
    rows.push((
        "tier".into(),
        format!(
            "{}: the last object back {low} to {high} hours after the batch job is submitted",
            e.tier.as_str()
        ),
    ));
    let label_width = rows
        .iter()
        .map(|(l, _)| l.chars().count())
        .max()
        .unwrap_or(0);
    let mut text = String::new();
    for (label, value) in &rows {
        let _ = writeln!(text, "{label:<label_width$}  {value}");
    }
    text.push('\n');
    text.push_str(&fee_table(&e.tiers.standard, &e.tiers.bulk));
    let (standard, bulk) = (&e.tiers.standard.excludes, &e.tiers.bulk.excludes);
    if standard == bulk && !standard.is_empty() {
        let _ = writeln!(
            text,
            "both totals leave out {}: the size is unknown",
            items(standard)
        );
    } else {
        for (name, excludes) in [("STANDARD", standard), ("BULK", bulk)] {
            if !excludes.is_empty() {
                let _ = writeln!(
                    text,
                    "the {name} total leaves out {}: the size is unknown",
                    items(excludes)
                );
            }
        }
    }
    let p = &e.prices;
    let _ = write!(
        text,
        "prices: {} as of {} ({})",
        p.region, p.as_of, notes.region_from
    );
    if p.fallback {
        let _ = write!(
            text,
            "\nprices: {} has no price table of its own; {}'s prices are shown",
            p.requested_region, p.region
        );
    }
    text
}

/// Each fee of both tiers, and their completion windows, as a table.
fn fee_table(standard: &TierEstimate, bulk: &TierEstimate) -> String {
    let fee = |x: Option<f64>| x.map_or_else(|| "-".to_owned(), |x| format!("{x:.4}"));
    let row = |label: &str, pick: fn(&TierEstimate) -> Option<f64>| {
        [label.to_owned(), fee(pick(standard)), fee(pick(bulk))]
    };
    let window = |t: &TierEstimate| {
        let [low, high] = t.completion_window_hours;
        format!("{low}-{high}")
    };
    let rows = [
        [
            "fees (USD)".to_owned(),
            "STANDARD".to_owned(),
            "BULK".to_owned(),
        ],
        row("restore requests", |t| Some(t.restore_requests_usd)),
        row("retrieval", |t| t.retrieval_usd),
        row("batch operations", |t| Some(t.batch_operations_usd)),
        row("restored storage", |t| t.restored_storage_usd),
        row("overhead", |t| Some(t.overhead_usd)),
        row("total", |t| Some(t.total_usd)),
        [
            "hours to complete".to_owned(),
            window(standard),
            window(bulk),
        ],
    ];
    let mut widths = [0; 3];
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let [w0, w1, w2] = widths;
    let mut text = String::new();
    for [label, a, b] in &rows {
        let _ = writeln!(text, "{label:<w0$}  {a:>w1$}  {b:>w2$}");
    }
    text
}

/// `retrieval and restored storage`.
fn items(names: &[String]) -> String {
    let names: Vec<String> = names.iter().map(|n| n.replace('_', " ")).collect();
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => names.join(""),
    }
}

/// `1,234,567`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut text = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            text.push(',');
        }
        text.push(digit);
    }
    text
}

/// `1.50 GiB`, in the binary units AWS bills by.
pub fn binary_size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.2} {}", UNITS[unit])
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
            skipped_files: None,
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
        assert!(!text.contains("skipped"), "{text}");
        let inventory = JobView {
            skipped_files: Some(1234),
            ..v.clone()
        };
        assert!(
            details(&inventory).contains("skipped     1,234 (need no restore)"),
            "{}",
            details(&inventory)
        );
        let unknown = JobView {
            total_files: None,
            skipped_files: None,
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

    /// 2,000 Deep Archive objects, 3 skipped, at Bulk, in a region with no prices of
    /// its own (core's `json_shape` estimate, whose figures are worked out there).
    fn unmeasured_estimate() -> Estimate {
        let mut skipped = std::collections::BTreeMap::new();
        skipped.insert("STANDARD".to_owned(), 3);
        gbr_core::estimate::estimate(&gbr_core::estimate::EstimateInput {
            classes: vec![gbr_core::estimate::ClassObjects {
                class: gbr_core::request::StorageClass::Glacier,
                objects: 2_000,
                bytes: None,
            }],
            skipped_by_reason: skipped,
            expiration_days: 7,
            tier: Tier::Bulk,
            region: "eu-west-1".into(),
        })
    }

    const NOTES: EstimateNotes<'static> = EstimateNotes {
        size_unknown: "use --check-objects",
        region_from: "from --region",
    };

    #[test]
    fn an_estimate_shows_counts_then_both_tiers_side_by_side() {
        assert_eq!(
            estimate(&unmeasured_estimate(), NOTES),
            "\
objects to restore  2,000
skipped             3
  STANDARD          3
size                unknown (use --check-objects)
restored for        7 days
tier                BULK: the last object back 5 to 12 hours after the batch job is submitted

fees (USD)         STANDARD    BULK
restore requests     0.1000  0.0000
retrieval                 -       -
batch operations     0.2520  0.2520
restored storage          -       -
overhead             0.0959  0.0959
total                0.4479  0.3479
hours to complete       3-5    5-12
both totals leave out retrieval and restored storage: the size is unknown
prices: us-east-1 as of 2026-11-28 (from --region)
prices: eu-west-1 has no price table of its own; us-east-1's prices are shown"
        );
    }

    #[test]
    fn a_known_size_is_shown_and_nothing_is_left_out() {
        let mut e = unmeasured_estimate();
        e.bytes = Some(3 * (1 << 30) + (1 << 29));
        e.skipped = 0;
        e.skipped_by_reason.clear();
        e.prices.fallback = false;
        for tier in [&mut e.tiers.standard, &mut e.tiers.bulk] {
            tier.retrieval_usd = Some(1234.5);
            tier.restored_storage_usd = Some(0.00004);
            tier.excludes.clear();
        }
        e.tiers.bulk.excludes = vec!["retrieval".into()];
        let text = estimate(&e, NOTES);
        assert!(
            text.contains("\nsize                3,758,096,384 bytes (3.50 GiB)\n"),
            "{text}"
        );
        assert!(!text.contains("  not archived"), "{text}");
        assert!(
            text.contains("\nretrieval          1234.5000  1234.5000\n"),
            "{text}"
        );
        assert!(
            text.contains("\nrestored storage      0.0000     0.0000\n"),
            "{text}"
        );
        assert!(
            text.contains("\nthe BULK total leaves out retrieval: the size is unknown\n"),
            "{text}"
        );
        assert!(!text.contains("STANDARD total leaves out"), "{text}");
        assert!(
            text.ends_with("prices: us-east-1 as of 2026-11-28 (from --region)"),
            "{text}"
        );
    }

    #[test]
    fn counts_and_sizes_read_easily() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1_000), "1,000");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(binary_size(1023), "1023 B");
        assert_eq!(binary_size(1536), "1.50 KiB");
        assert_eq!(binary_size(1 << 40), "1.00 TiB");
        assert_eq!(binary_size(u64::MAX), "16.00 EiB");
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
