//! `gbr manifest check`: a CSV manifest, or an S3 Inventory report's manifest.json
//! (see [`super::inventory_check`]), local or in S3.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use gbr_core::manifest::{LineProblem, ManifestCheck, ManifestReader, ManifestSummary};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use super::inventory_check;
use crate::manifest_upload::{S3Location, download, s3_client};

/// Exit code for a manifest that cannot be submitted.
pub const INVALID: u8 = 1;
/// Exit code for a file that cannot be read at all.
pub const UNREADABLE: u8 = 2;

/// Where the manifest to check is.
#[derive(Debug, Clone)]
pub enum ManifestLocation {
    Local(PathBuf),
    S3(S3Location),
}

impl ManifestLocation {
    pub fn parse(text: &str) -> Result<Self, String> {
        if !text.starts_with("s3://") {
            return Ok(ManifestLocation::Local(PathBuf::from(text)));
        }
        let location: S3Location = text.parse()?;
        if location.is_prefix() {
            return Err(format!(
                "{text:?} names a folder, not a manifest; write s3://bucket/key"
            ));
        }
        Ok(ManifestLocation::S3(location))
    }
}

/// An inventory report's manifest.json, by its name or, failing that, its content: a
/// CSV manifest's first field is a bucket name, which cannot start with `{`.
fn is_inventory_manifest(name: &str, start: &[u8]) -> bool {
    let start = start.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(start);
    name.to_ascii_lowercase().ends_with(".json")
        || start.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}

pub async fn run(source: ManifestLocation, aws_endpoint_url: Option<&str>, json: bool) -> ExitCode {
    match source {
        ManifestLocation::Local(path) => run_local(&path, json),
        ManifestLocation::S3(location) => {
            let client = s3_client(aws_endpoint_url).await;
            let bytes = match download(&client, &location.bucket, &location.key).await {
                Ok(bytes) => bytes,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(UNREADABLE);
                }
            };
            let name = location.to_string();
            if is_inventory_manifest(&location.key, &bytes) {
                inventory_check::run_s3(&client, &name, &bytes, json).await
            } else {
                check_csv(&bytes[..], bytes.len() as u64, &name, json)
            }
        }
    }
}

fn run_local(path: &Path, json: bool) -> ExitCode {
    if path.is_dir() {
        eprintln!(
            "error: {} is a directory; give the manifest file itself",
            path.display()
        );
        return ExitCode::from(UNREADABLE);
    }
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: cannot open {}: {e}", path.display());
            return ExitCode::from(UNREADABLE);
        }
    };
    // Peeked, not sought back to: the file may be a pipe (`<(…)`).
    let mut start = [0u8; 64];
    let n = match file.read(&mut start) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", path.display());
            return ExitCode::from(UNREADABLE);
        }
    };
    if is_inventory_manifest(&path.display().to_string(), &start[..n]) {
        let mut manifest = start[..n].to_vec();
        if let Err(e) = file.read_to_end(&mut manifest) {
            eprintln!("error: cannot read {}: {e}", path.display());
            return ExitCode::from(UNREADABLE);
        }
        return inventory_check::run_local(path, &manifest, json);
    }
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let input = io::Cursor::new(start[..n].to_vec()).chain(BufReader::new(file));
    check_csv(input, size, &path.display().to_string(), json)
}

/// Checks the CSV manifest `input` of `size` bytes, shown as `name`.
fn check_csv(input: impl Read, size: u64, name: &str, json: bool) -> ExitCode {
    // Drawn on stderr only when it is a terminal, so piped output stays clean.
    let progress = ProgressBar::new(size).with_style(
        ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let reader = ManifestReader::new(progress.wrap_read(input));
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
        eprintln!("error: {name}: {e}");
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
        write_report(&mut out, name, &summary)
    };
    if written.and_then(|()| out.flush()).is_err() {
        return ExitCode::from(INVALID);
    }
    match valid {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if !json {
                eprintln!("error: {name}: {e}");
            }
            ExitCode::from(INVALID)
        }
    }
}

pub fn write_report(out: &mut impl Write, name: &str, s: &ManifestSummary) -> io::Result<()> {
    writeln!(
        out,
        "{name}: {} objects in {} bucket(s), {} rows, version ids: {}",
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_inventory_manifest_is_told_by_its_name_or_its_content() {
        assert!(is_inventory_manifest("report/manifest.json", b"b-1,k\n"));
        assert!(is_inventory_manifest("s3://inv/x/MANIFEST.JSON", b""));
        assert!(is_inventory_manifest(
            "manifest",
            b"\xEF\xBB\xBF \r\n {\"sourceBucket\""
        ));
        assert!(!is_inventory_manifest("restores.csv", b"b-1,k\n"));
        assert!(!is_inventory_manifest("restores.csv", b""));
    }

    #[test]
    fn an_s3_manifest_names_an_object() {
        assert!(matches!(
            ManifestLocation::parse("s3://b-1/m.csv"),
            Ok(ManifestLocation::S3(l)) if l.key == "m.csv"
        ));
        assert!(ManifestLocation::parse("s3://b-1/dir/").is_err());
        assert!(matches!(
            ManifestLocation::parse("m.csv"),
            Ok(ManifestLocation::Local(p)) if p == Path::new("m.csv")
        ));
    }
}
