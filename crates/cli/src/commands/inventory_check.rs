//! `gbr manifest check` of an S3 Inventory report: its manifest.json, then every data
//! file, read as a job reads them (`gbr_core::inventory`), so a person sees what a job
//! would restore before paying for one.
//!
//! A local manifest.json is read as `aws s3 cp --recursive` copies a report's folder
//! (`s3://DEST/PREFIX/SOURCE-BUCKET/CONFIG-ID/`): manifest.json in a dated folder, the
//! data files in `data/` beside it. `files[].key` is a key of the destination bucket, so
//! each file is looked for at `<folder of manifest.json>/../data/<its file name>`. A
//! manifest.json in S3 has its data files read from its destination bucket, streamed
//! through the gzip reader on a thread of its own, so no file is held whole.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::Path;
use std::process::ExitCode;

use gbr_core::inventory::{
    Gunzip, InventoryCursor, InventoryLineError, InventoryManifest, InventoryRow, RowDecision,
    read_chunk,
};
use gbr_core::manifest::MAX_ROW_BYTES;
use serde_json::json;
use tokio::sync::mpsc;

use super::manifest_check::{INVALID, UNREADABLE};
use crate::manifest_upload::describe_sdk_error;
use crate::object_heads::ClassCount;
use crate::render::{binary_size, count};

/// What restored rows are counted under when the report has no StorageClass column:
/// the job restores them under its declared class.
const NO_CLASS_COLUMN: &str = "(no StorageClass column: the job's class)";

/// Body chunks in flight between an S3 download and the gzip reader.
const CHUNKS_IN_FLIGHT: usize = 4;

/// Checks the report whose manifest.json, `bytes`, was read from the local file `path`.
pub fn run_local(path: &Path, bytes: &[u8], json: bool) -> ExitCode {
    let name = path.display().to_string();
    let Some(mut check) = InventoryCheck::start(&name, bytes) else {
        return ExitCode::from(INVALID);
    };
    let data = path
        .parent()
        .unwrap_or_else(|| Path::new(""))
        .join("..")
        .join("data");
    for key in check.file_keys() {
        let file = data.join(key.rsplit('/').next().unwrap_or(&key));
        let shown = file.display().to_string();
        let read = File::open(&file)
            .map_err(|e| {
                Stop::Unreadable(format!(
                    "cannot open {shown} (data file {key} of the report, looked for in \
                     {}): {e}",
                    data.display()
                ))
            })
            .and_then(|f| check.read_file(&shown, f, json));
        if let Err(stop) = check.stopped(read) {
            return stop;
        }
    }
    check.finish(json)
}

/// Checks the report whose manifest.json, `bytes`, was read from `name` (s3://…).
pub async fn run_s3(client: &aws_sdk_s3::Client, name: &str, bytes: &[u8], json: bool) -> ExitCode {
    let Some(mut check) = InventoryCheck::start(name, bytes) else {
        return ExitCode::from(INVALID);
    };
    let bucket = check.manifest.destination_bucket.clone();
    for key in check.file_keys() {
        let (back, read) = read_s3_file(client, &bucket, &key, check, json).await;
        check = match back {
            Some(check) => check,
            None => {
                eprintln!("error: reading s3://{bucket}/{key} stopped unexpectedly");
                return ExitCode::from(UNREADABLE);
            }
        };
        if let Err(stop) = check.stopped(read) {
            return stop;
        }
    }
    check.finish(json)
}

/// Streams one data file from S3 into [`InventoryCheck::read_file`], which runs on a
/// blocking thread as gzip reading is synchronous. Answers the check back, unless that
/// thread was lost.
async fn read_s3_file(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    mut check: InventoryCheck,
    json: bool,
) -> (Option<InventoryCheck>, Result<(), Stop>) {
    let shown = format!("s3://{bucket}/{key}");
    let object = match client.get_object().bucket(bucket).key(key).send().await {
        Ok(object) => object,
        Err(e) => {
            let stop = Stop::Unreadable(format!("cannot read {shown}: {}", describe_sdk_error(&e)));
            return (Some(check), Err(stop));
        }
    };
    let (chunks, received) = mpsc::channel(CHUNKS_IN_FLIGHT);
    let reader = tokio::task::spawn_blocking(move || {
        let read = check.read_file(&shown, BodyReader::new(received), json);
        (check, read)
    });
    let mut body = object.body;
    loop {
        let chunk = match body.try_next().await {
            Ok(Some(bytes)) => Ok(bytes.to_vec()),
            Ok(None) => break,
            Err(e) => Err(e.to_string()),
        };
        let failed = chunk.is_err();
        // A send fails when the reader has stopped: it needs no more.
        if chunks.send(chunk).await.is_err() || failed {
            break;
        }
    }
    drop(chunks);
    match reader.await {
        Ok((check, read)) => (Some(check), read),
        Err(e) => (None, Err(Stop::Unreadable(e.to_string()))),
    }
}

/// An S3 body's chunks, as they arrive, as a blocking [`Read`].
struct BodyReader {
    chunks: mpsc::Receiver<Result<Vec<u8>, String>>,
    current: Vec<u8>,
    at: usize,
}

impl BodyReader {
    fn new(chunks: mpsc::Receiver<Result<Vec<u8>, String>>) -> Self {
        Self {
            chunks,
            current: Vec::new(),
            at: 0,
        }
    }
}

impl Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        while self.at == self.current.len() {
            match self.chunks.blocking_recv() {
                None => return Ok(0),
                Some(Ok(chunk)) => {
                    self.current = chunk;
                    self.at = 0;
                }
                Some(Err(message)) => return Err(io::Error::other(message)),
            }
        }
        let n = buf.len().min(self.current.len() - self.at);
        buf[..n].copy_from_slice(&self.current[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// Why reading a data file stopped before its end.
#[derive(Debug)]
enum Stop {
    /// It cannot be read (absent, not gzip, …): said, and the other files still read.
    Unreadable(String),
    /// Our standard output was closed (`| head`).
    OutputClosed,
}

/// A report's rows, counted as a job would take them.
struct InventoryCheck {
    name: String,
    manifest: InventoryManifest,
    rows: u64,
    to_restore: BTreeMap<String, ClassCount>,
    skipped_by_reason: BTreeMap<String, u64>,
    errors: Vec<InventoryLineError>,
    unreadable: Vec<String>,
}

impl InventoryCheck {
    /// Reads manifest.json; one that is not a CSV inventory report's is said on
    /// standard error and answers `None`.
    fn start(name: &str, bytes: &[u8]) -> Option<Self> {
        match InventoryManifest::parse(bytes) {
            Ok(manifest) => Some(Self {
                name: name.to_owned(),
                manifest,
                rows: 0,
                to_restore: BTreeMap::new(),
                skipped_by_reason: BTreeMap::new(),
                errors: Vec::new(),
                unreadable: Vec::new(),
            }),
            Err(e) => {
                eprintln!("error: {name}: {e}");
                None
            }
        }
    }

    fn file_keys(&self) -> Vec<String> {
        self.manifest.files.iter().map(|f| f.key.clone()).collect()
    }

    /// Reads the gzipped data file `compressed`, shown as `name`, to its end (or to a
    /// line longer than a read), printing each row as JSON with `json`.
    fn read_file(&mut self, name: &str, compressed: impl Read, json: bool) -> Result<(), Stop> {
        let mut gunzip = Gunzip::new(name, compressed);
        let mut out = BufWriter::new(io::stdout());
        let mut at = InventoryCursor::default();
        loop {
            let range = gunzip
                .read_range(at.byte, MAX_ROW_BYTES)
                .map_err(|e| Stop::Unreadable(e.to_string()))?;
            let chunk = read_chunk(
                &self.manifest,
                name,
                &range.bytes,
                &at,
                range.ends_file,
                u64::MAX,
                None,
            );
            for row in chunk.rows {
                if let (true, Ok(row)) = (json, &row) {
                    writeln!(out, "{}", row_json(name, row)).map_err(|_| Stop::OutputClosed)?;
                }
                self.add(row);
            }
            if chunk.finished || chunk.stopped {
                break;
            }
            at = chunk.next;
        }
        out.flush().map_err(|_| Stop::OutputClosed)
    }

    fn add(&mut self, row: Result<InventoryRow, InventoryLineError>) {
        let row = match row {
            Ok(row) => row,
            Err(e) => {
                self.errors.push(e);
                return;
            }
        };
        self.rows += 1;
        match row.decision {
            RowDecision::Restore {
                size,
                storage_class,
                ..
            } => {
                let class = storage_class.map_or(NO_CLASS_COLUMN, |c| c.as_str());
                self.to_restore
                    .entry(class.to_owned())
                    .or_default()
                    .add(size);
            }
            RowDecision::Skip { reason } => {
                *self
                    .skipped_by_reason
                    .entry(reason.label().to_owned())
                    .or_default() += 1;
            }
        }
    }

    /// Keeps an unreadable file's reason and goes on; a closed output ends the command.
    fn stopped(&mut self, read: Result<(), Stop>) -> Result<(), ExitCode> {
        match read {
            Ok(()) => Ok(()),
            Err(Stop::Unreadable(message)) => {
                self.unreadable.push(message);
                Ok(())
            }
            Err(Stop::OutputClosed) => Err(ExitCode::from(INVALID)),
        }
    }

    fn objects_to_restore(&self) -> u64 {
        self.to_restore.values().map(|c| c.objects).sum()
    }

    fn bytes_to_restore(&self) -> Option<u64> {
        self.to_restore
            .values()
            .try_fold(0u64, |sum, c| c.bytes.map(|b| sum.saturating_add(b)))
    }

    /// Prints the summary; the exit code says whether a job could use the report.
    fn finish(self, json: bool) -> ExitCode {
        let problem = if !self.errors.is_empty() {
            Some(format!(
                "{} malformed line(s); a job for this report would fail, so fix it first",
                self.errors.len()
            ))
        } else if self.unreadable.is_empty() && self.objects_to_restore() == 0 {
            Some(
                "no object of the report is in GLACIER or DEEP_ARCHIVE; a job would restore \
                 nothing"
                    .to_owned(),
            )
        } else {
            None
        };
        let mut out = BufWriter::new(io::stdout().lock());
        let written = if json {
            writeln!(
                out,
                "{}",
                json!({"summary": self.summary_json(), "valid": problem.is_none()})
            )
        } else {
            self.write_text(&mut out)
        };
        if written.and_then(|()| out.flush()).is_err() {
            return ExitCode::from(INVALID);
        }
        for message in &self.unreadable {
            eprintln!("error: {message}");
        }
        if !self.unreadable.is_empty() {
            return ExitCode::from(UNREADABLE);
        }
        match problem {
            Some(problem) => {
                eprintln!("error: {}: {problem}", self.name);
                ExitCode::from(INVALID)
            }
            None => ExitCode::SUCCESS,
        }
    }

    fn write_text(&self, out: &mut impl Write) -> io::Result<()> {
        writeln!(
            out,
            "{}: inventory of bucket {}, {} data file(s), {} rows",
            self.name,
            self.manifest.source_bucket,
            self.manifest.files.len(),
            count(self.rows)
        )?;
        writeln!(
            out,
            "to restore: {} objects, {}",
            count(self.objects_to_restore()),
            size_text(self.bytes_to_restore())
        )?;
        let width = self.to_restore.keys().map(String::len).max().unwrap_or(0);
        for (class, c) in &self.to_restore {
            writeln!(
                out,
                "  {class:<width$}  {} objects, {}",
                count(c.objects),
                size_text(c.bytes)
            )?;
        }
        let skipped: u64 = self.skipped_by_reason.values().sum();
        writeln!(out, "skipped: {}", count(skipped))?;
        let width = self
            .skipped_by_reason
            .keys()
            .map(String::len)
            .max()
            .unwrap_or(0);
        for (reason, n) in &self.skipped_by_reason {
            writeln!(out, "  {reason:<width$}  {}", count(*n))?;
        }
        writeln!(out, "malformed lines: {}", count(self.errors.len() as u64))?;
        for e in &self.errors {
            writeln!(out, "  {e}")?;
        }
        Ok(())
    }

    fn summary_json(&self) -> serde_json::Value {
        let by_class: serde_json::Map<String, serde_json::Value> = self
            .to_restore
            .iter()
            .map(|(class, c)| {
                (
                    class.clone(),
                    json!({"objects": c.objects, "bytes": c.bytes}),
                )
            })
            .collect();
        json!({
            "manifest": self.name,
            "source_bucket": self.manifest.source_bucket,
            "data_files": self.manifest.files.len(),
            "rows": self.rows,
            "to_restore": {
                "objects": self.objects_to_restore(),
                "bytes": self.bytes_to_restore(),
                "by_class": by_class,
            },
            "skipped": self.skipped_by_reason.values().sum::<u64>(),
            "skipped_by_reason": self.skipped_by_reason,
            "malformed_lines": self.errors.len(),
            "errors": self.errors.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "unreadable": self.unreadable,
        })
    }
}

fn size_text(bytes: Option<u64>) -> String {
    bytes.map_or_else(
        || "size unknown (some rows have no Size)".to_owned(),
        |b| format!("{} bytes ({})", count(b), binary_size(b)),
    )
}

/// One row, as `--json` prints it.
fn row_json(file: &str, row: &InventoryRow) -> serde_json::Value {
    let (restore, storage_class, size, skip_reason) = match &row.decision {
        RowDecision::Restore {
            size,
            storage_class,
            ..
        } => (true, storage_class.map(|c| c.as_str()), *size, None),
        RowDecision::Skip { reason } => (false, None, None, Some(reason.label().to_owned())),
    };
    json!({
        "file": file,
        "line": row.line,
        "bucket": row.object.bucket(),
        "key": row.object.key(),
        "version_id": row.object.version_id(),
        "restore": restore,
        "storage_class": storage_class,
        "size": size,
        "skip_reason": skip_reason,
    })
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use flate2::Compression;
    use flate2::write::GzEncoder;

    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    const MANIFEST: &str = r#"{"sourceBucket": "b-1", "destinationBucket": "arn:aws:s3:::inv-1",
        "version": "2016-11-30", "creationTimestamp": "1", "fileFormat": "CSV",
        "fileSchema": "Bucket, Key, Size, StorageClass", "files": []}"#;

    #[test]
    fn rows_are_counted_by_class_and_reason_and_bad_lines_kept() {
        let mut check = InventoryCheck::start("m.json", MANIFEST.as_bytes()).unwrap();
        let rows = "b-1,a,10,GLACIER\nb-1,b,5,DEEP_ARCHIVE\nb-1,c,7,GLACIER\n\
                    b-1,d,1,STANDARD\nb-1,e\nb-1,f,2,INTELLIGENT_TIERING\n";
        check
            .read_file("data/1.csv.gz", &gzip(rows.as_bytes())[..], false)
            .unwrap();
        assert_eq!(check.rows, 5);
        assert_eq!(
            check.to_restore["GLACIER"],
            ClassCount {
                objects: 2,
                bytes: Some(17)
            }
        );
        assert_eq!(check.objects_to_restore(), 3);
        assert_eq!(check.bytes_to_restore(), Some(22));
        assert_eq!(check.skipped_by_reason["STANDARD"], 1);
        assert_eq!(check.skipped_by_reason["INTELLIGENT_TIERING"], 1);
        assert_eq!(
            check
                .errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            ["data/1.csv.gz, line 5: has 2 fields; the report's fileSchema names 4 columns"]
        );
        let mut text = Vec::new();
        check.write_text(&mut text).unwrap();
        let text = String::from_utf8(text).unwrap();
        assert_eq!(
            text,
            "m.json: inventory of bucket b-1, 0 data file(s), 5 rows\n\
             to restore: 3 objects, 22 bytes (22 B)\n  \
             DEEP_ARCHIVE  1 objects, 5 bytes (5 B)\n  \
             GLACIER       2 objects, 17 bytes (17 B)\n\
             skipped: 2\n  \
             INTELLIGENT_TIERING  1\n  \
             STANDARD             1\n\
             malformed lines: 1\n  \
             data/1.csv.gz, line 5: has 2 fields; the report's fileSchema names 4 columns\n"
        );
    }

    #[test]
    fn a_file_that_is_not_gzip_is_unreadable_and_reading_goes_on() {
        let mut check = InventoryCheck::start("m.json", MANIFEST.as_bytes()).unwrap();
        let read = check.read_file("data/bad.csv.gz", &b"b-1,a,1,GLACIER\n"[..], false);
        assert!(
            matches!(&read, Err(Stop::Unreadable(m)) if m.starts_with("data/bad.csv.gz: not a readable gzip file")),
            "{read:?}"
        );
        assert!(check.stopped(read).is_ok());
        assert_eq!(check.unreadable.len(), 1);
    }

    #[test]
    fn a_body_arriving_in_chunks_reads_whole_and_an_error_in_it_is_an_error() {
        let (send, receive) = mpsc::channel(4);
        let mut reader = BodyReader::new(receive);
        for chunk in [b"ab".to_vec(), Vec::new(), b"cde".to_vec()] {
            send.try_send(Ok(chunk)).unwrap();
        }
        drop(send);
        let mut all = Vec::new();
        reader.read_to_end(&mut all).unwrap();
        assert_eq!(all, b"abcde");

        let (send, receive) = mpsc::channel(4);
        send.try_send(Ok(b"ab".to_vec())).unwrap();
        send.try_send(Err("connection reset".into())).unwrap();
        let mut reader = BodyReader::new(receive);
        let err = reader.read_to_end(&mut Vec::new()).unwrap_err();
        assert_eq!(err.to_string(), "connection reset");
    }
}
