//! `gbr manifest check`.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Write};
use std::path::Path;
use std::process::ExitCode;

use gbr_core::manifest::{LineProblem, ManifestCheck, ManifestReader, ManifestSummary};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

/// Exit code for a manifest that cannot be submitted.
const INVALID: u8 = 1;
/// Exit code for a file that cannot be read at all.
const UNREADABLE: u8 = 2;

pub fn run(path: &Path, json: bool) -> ExitCode {
    if path.is_dir() {
        eprintln!(
            "error: {} is a directory; give the manifest file itself",
            path.display()
        );
        return ExitCode::from(UNREADABLE);
    }
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: cannot open {}: {e}", path.display());
            return ExitCode::from(UNREADABLE);
        }
    };
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    // Drawn on stderr only when it is a terminal, so piped output stays clean.
    let progress = ProgressBar::new(size).with_style(
        ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let reader = ManifestReader::new(progress.wrap_read(BufReader::new(file)));
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut check = ManifestCheck::new();
    for item in reader {
        let duplicate = check.add(&item).is_some();
        if let (true, Ok(row), false) = (json, &item, duplicate) {
            let line = json!({
                "line": row.line,
                "bucket": row.object.bucket(),
                "key": row.object.key(),
                "version_id": row.object.version_id(),
            });
            if writeln!(out, "{line}").is_err() {
                // The reader of our output went away (e.g. `| head`): stop quietly.
                return ExitCode::from(INVALID);
            }
        }
    }
    progress.finish_and_clear();
    let summary = check.finish();
    if let Some(e) = summary
        .errors
        .iter()
        .find(|e| matches!(e.problem, LineProblem::Unreadable { .. }))
    {
        eprintln!("error: {}: {e}", path.display());
        return ExitCode::from(UNREADABLE);
    }
    let valid = summary.validate();
    let written = if json {
        writeln!(
            out,
            "{}",
            json!({ "summary": summary, "valid": valid.is_ok() })
        )
    } else {
        write_report(&mut out, path, &summary)
    };
    if written.and_then(|()| out.flush()).is_err() {
        return ExitCode::from(INVALID);
    }
    match valid {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if !json {
                eprintln!("error: {}: {e}", path.display());
            }
            ExitCode::from(INVALID)
        }
    }
}

pub fn write_report(out: &mut impl Write, path: &Path, s: &ManifestSummary) -> io::Result<()> {
    writeln!(
        out,
        "{}: {} objects in {} bucket(s), {} rows, version ids: {}",
        path.display(),
        s.objects,
        s.buckets.len(),
        s.rows,
        if s.versioned { "yes" } else { "no" }
    )?;
    for (bucket, count) in &s.buckets {
        writeln!(out, "  bucket {bucket}: {count} objects")?;
    }
    writeln!(
        out,
        "duplicates: {} (each object is restored and counted once)",
        s.duplicates.len()
    )?;
    for d in &s.duplicates {
        writeln!(
            out,
            "  line {}: repeats line {}: {}",
            d.line, d.first_line, d.object
        )?;
    }
    if !s.warnings.is_empty() {
        writeln!(out, "warnings: {}", s.warnings.len())?;
        for w in &s.warnings {
            writeln!(out, "  line {}: {}", w.line, w.message)?;
        }
    }
    writeln!(out, "errors: {}", s.errors.len())?;
    for e in &s.errors {
        writeln!(out, "  {e}")?;
    }
    Ok(())
}
