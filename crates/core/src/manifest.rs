//! The Batch Operations CSV manifest (`S3BatchOperations_CSV_20180820`), read as a stream.
//!
//! Rows are `bucket,key[,version_id]`. What S3 documents, and how we read it:
//! - Keys are URL-encoded ("Object keys must be URL-encoded", with `%20` for a space,
//!   in the S3 User Guide, *Creating an S3 Batch Operations job*, "Specifying a
//!   manifest"). We percent-decode them by RFC 3986, so **`+` is a literal plus**, not a
//!   space: the same guide's *Invoking a Lambda function from Batch Operations* decodes
//!   manifest keys with Python's `urllib.parse.unquote`, which keeps `+`. Because other
//!   tools write `+` for a space, [`ManifestCheck`] warns about every key holding a raw
//!   `+`; write `%2B` for a plus and `%20` for a space to leave no doubt.
//! - "The manifest must either include version IDs for all objects or omit version IDs
//!   for all objects" (same page). A row that breaks the pattern of the first row is an
//!   error.
//! - Every row names its bucket, and the guide states no rule that a job's objects share
//!   one bucket, so several buckets are accepted; the deployment decides which buckets it
//!   may touch ([`ManifestReader::allow_buckets`]).
//! - Quoted fields, CRLF or LF line ends, a UTF-8 byte order mark and blank lines are
//!   accepted. No header row is documented, so a first row such as `Bucket,Key` is
//!   read as data and fails the bucket-name check with its line number.
//!
//! The reader never panics and never stops at a bad line: every line yields either a
//! row or an error with its line number. It can start from a [`ManifestCursor`], so a
//! Lambda can register a manifest of millions of lines across several invocations.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{BuildHasher, Hasher};
use std::io::Read;
use std::sync::{Arc, Mutex, PoisonError};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::LambdaErrorType;
use crate::object_id::{ObjectId, ObjectIdError, percent_decode_key};

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The longest row read, in bytes: far above any row S3 accepts (a 63-byte bucket, a
/// key of 1,024 bytes percent-encoded to at most 3,072, a version id), and small
/// enough that a file with no line ends (or `/dev/zero`) cannot exhaust memory.
pub const MAX_ROW_BYTES: u64 = 8 * 1024 * 1024;

/// Malformed lines a [`ManifestError::Malformed`] lists; all of them are counted.
pub const ERRORS_LISTED: usize = 10;

/// One decoded manifest row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestRow {
    /// 1-based line on which the row starts.
    pub line: u64,
    pub object: ObjectId,
    /// The encoded key held a raw `+`, which some tools mean as a space.
    #[serde(skip)]
    pub raw_plus: bool,
}

/// Where a partly read manifest stands, so reading can go on from there later.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestCursor {
    /// Byte offset of the first unread row.
    pub byte: u64,
    /// Number of lines before that row.
    pub lines_before: u64,
    /// Whether rows carry version ids, once the first row has said so.
    pub versioned: Option<bool>,
}

/// What is wrong with one line.
#[derive(Debug, Clone, PartialEq, Eq, Error, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LineProblem {
    #[error("has {fields} fields; a row is bucket,key or bucket,key,version_id")]
    FieldCount { fields: usize },
    #[error("is not valid UTF-8")]
    NotUtf8,
    #[error("{message}")]
    Object { message: String },
    #[error(
        "has a version id but the first row has none; Batch Operations needs version ids on every row or on none"
    )]
    UnexpectedVersion,
    #[error(
        "has no version id but the first row has one; Batch Operations needs version ids on every row or on none"
    )]
    MissingVersion,
    #[error(
        "names bucket {bucket:?}, which this deployment may not restore from (allowed: {allowed})"
    )]
    BucketNotAllowed { bucket: String, allowed: String },
    #[error(
        "opens a quoted field that holds a raw line break (is its closing quote missing? then every later line was read into it); keys in a manifest are URL-encoded, so a line break in a key is written %0A"
    )]
    LineBreakInField,
    #[error("is longer than {max} bytes; reading stopped here")]
    TooLong { max: u64 },
    /// The input itself failed (a directory, a device error): nothing more is read.
    #[error("cannot be read: {message}")]
    Unreadable { message: String },
    #[error("cannot be read as CSV: {message}")]
    Csv { message: String },
}

/// A line that yields no object.
#[derive(Debug, Clone, PartialEq, Eq, Error, Serialize)]
#[error("line {line}: {problem}")]
pub struct LineError {
    pub line: u64,
    pub problem: LineProblem,
}

/// Why a whole manifest cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Error, Serialize)]
pub enum ManifestError {
    #[error("the manifest has {count} malformed line(s); {}", listed(.count, .first))]
    Malformed {
        /// Every malformed line.
        count: u64,
        /// The first [`ERRORS_LISTED`] of them.
        first: Vec<LineError>,
    },
    #[error("the manifest lists no objects")]
    Empty,
    /// Every row of an S3 Inventory report was skipped: nothing is archived.
    #[error(
        "the inventory report lists no archived objects: all {skipped} of its objects were skipped as not archived ({by_reason}); they need no restore"
    )]
    NothingToRestore { skipped: u64, by_reason: String },
}

impl ManifestError {
    /// A manifest with `count` malformed lines, of which `errors` are the first (any
    /// beyond [`ERRORS_LISTED`] are dropped).
    pub fn malformed(count: u64, mut errors: Vec<LineError>) -> Self {
        errors.truncate(ERRORS_LISTED);
        ManifestError::Malformed {
            count,
            first: errors,
        }
    }
}

fn listed(count: &u64, first: &[LineError]) -> String {
    let lines = first
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ");
    if *count > first.len() as u64 {
        format!("the first {}: {lines}", first.len())
    } else {
        lines
    }
}

impl ManifestError {
    pub fn error_type(&self) -> LambdaErrorType {
        match self {
            ManifestError::Malformed { .. } => LambdaErrorType::ManifestMalformed,
            ManifestError::Empty | ManifestError::NothingToRestore { .. } => {
                LambdaErrorType::ManifestEmpty
            }
        }
    }
}

/// One manifest row for `object`, as this system writes manifests: the key
/// percent-encoded, which [`ManifestReader`] and Batch Operations decode back.
pub fn manifest_row(object: &ObjectId) -> String {
    let key = crate::object_id::percent_encode_key(object.key());
    match object.version_id() {
        Some(version) => format!("{},{key},{version}\r\n", object.bucket()),
        None => format!("{},{key}\r\n", object.bucket()),
    }
}

/// Streams rows out of a manifest.
pub struct ManifestReader<R: Read> {
    csv: csv::Reader<LineCounting<R>>,
    lines: Arc<Mutex<LineIndex>>,
    record: csv::ByteRecord,
    /// Where this reader started, and where the next row starts.
    start: ManifestCursor,
    cursor: ManifestCursor,
    allowed_buckets: Option<BTreeSet<String>>,
    /// A row too long to read was met: nothing after it can be read.
    stopped: bool,
}

impl<R: Read> ManifestReader<R> {
    /// Reads a manifest from its first byte.
    pub fn new(input: R) -> Self {
        Self::resume(input, ManifestCursor::default())
    }

    /// Reads on from `cursor`; `input` must start at `cursor.byte`.
    pub fn resume(input: R, cursor: ManifestCursor) -> Self {
        let lines = Arc::new(Mutex::new(LineIndex::default()));
        let csv = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(LineCounting {
                inner: input,
                lines: Arc::clone(&lines),
                keep_leading_bom: cursor.byte > 0,
            });
        Self {
            csv,
            lines,
            record: csv::ByteRecord::new(),
            start: cursor.clone(),
            cursor,
            allowed_buckets: None,
            stopped: false,
        }
    }

    /// Rejects rows whose bucket is not in `buckets`.
    pub fn allow_buckets(mut self, buckets: impl IntoIterator<Item = String>) -> Self {
        self.allowed_buckets = Some(buckets.into_iter().collect());
        self
    }

    /// Where the next row starts.
    pub fn cursor(&self) -> &ManifestCursor {
        &self.cursor
    }

    /// `opens_file`: the record's first field starts at the file's first byte.
    fn decode(&mut self, line: u64, opens_file: bool) -> Result<ManifestRow, LineProblem> {
        let fields: Vec<&[u8]> = self.record.iter().collect();
        // Only a quoted field can hold a line break, and an encoded key never does.
        if fields
            .iter()
            .any(|f| f.iter().any(|b| *b == b'\n' || *b == b'\r'))
        {
            return Err(LineProblem::LineBreakInField);
        }
        // A leading byte order mark is part of the first field when the CSV parser has
        // not dropped it (it drops one only if its first read holds the whole mark).
        let first = match fields.first() {
            Some(f) if opens_file => f.strip_prefix(BOM).unwrap_or(f),
            Some(f) => f,
            None => return Err(LineProblem::FieldCount { fields: 0 }),
        };
        let (bucket, key, version) = match fields.as_slice() {
            [_, key] => (first, *key, None),
            [_, key, version] => (first, *key, Some(*version)),
            _ => {
                return Err(LineProblem::FieldCount {
                    fields: fields.len(),
                });
            }
        };
        fn text(b: &[u8]) -> Result<&str, LineProblem> {
            std::str::from_utf8(b).map_err(|_| LineProblem::NotUtf8)
        }
        let bucket = text(bucket)?;
        let raw_plus = key.contains(&b'+');
        let key = percent_decode_key(text(key)?).map_err(object_problem)?;
        let version = version.map(text).transpose()?.map(str::to_owned);
        let object = ObjectId::new(bucket, key, version.clone()).map_err(object_problem)?;

        let has_version = version.is_some_and(|v| !v.is_empty());
        match self.cursor.versioned {
            None => self.cursor.versioned = Some(has_version),
            Some(true) if !has_version => return Err(LineProblem::MissingVersion),
            Some(false) if has_version => return Err(LineProblem::UnexpectedVersion),
            Some(_) => {}
        }
        if let Some(allowed) = &self.allowed_buckets {
            if !allowed.contains(object.bucket()) {
                return Err(LineProblem::BucketNotAllowed {
                    bucket: object.bucket().to_owned(),
                    allowed: allowed.iter().cloned().collect::<Vec<_>>().join(", "),
                });
            }
        }
        Ok(ManifestRow {
            line,
            object,
            raw_plus,
        })
    }
}

fn object_problem(e: ObjectIdError) -> LineProblem {
    LineProblem::Object {
        message: e.to_string(),
    }
}

impl<R: Read> Iterator for ManifestReader<R> {
    type Item = Result<ManifestRow, LineError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Record::Row(item) = self.next_record()? {
                return Some(item);
            }
        }
    }
}

/// One record of the CSV parser, as the reader takes it.
enum Record {
    Row(Result<ManifestRow, LineError>),
    /// A blank line: it yields nothing.
    Blank,
}

impl<R: Read> ManifestReader<R> {
    fn next_record(&mut self) -> Option<Record> {
        if self.stopped {
            return None;
        }
        let read = self.csv.read_byte_record(&mut self.record);
        let too_long = self
            .lines
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .too_long_at;
        if let Some(line) = too_long {
            self.stopped = true;
            return Some(Record::Row(Err(LineError {
                line: self.start.lines_before + line,
                problem: LineProblem::TooLong { max: MAX_ROW_BYTES },
            })));
        }
        let start = self.record.position().map_or(0, csv::Position::byte);
        let end = self.csv.position().byte();
        let (line, lines_before_end, opens_file) = {
            let mut index = self.lines.lock().unwrap_or_else(PoisonError::into_inner);
            // The first record, and no line end the parser skipped comes before it.
            let opens_file = self.start.byte == 0
                && start == 0
                && !matches!(index.window.first(), Some(b'\r' | b'\n'));
            (
                index.line_of_record_at(start, self.start.byte == 0),
                index.lines_before(end),
                opens_file,
            )
        };
        let line = self.start.lines_before + line;
        // The CSV reader counts from where it started; the cursor from the file's start.
        self.cursor.byte = self.start.byte + end;
        self.cursor.lines_before = self.start.lines_before + lines_before_end;
        match read {
            Ok(false) => None,
            Ok(true) if self.is_blank() => Some(Record::Blank),
            Ok(true) => Some(Record::Row(
                self.decode(line, opens_file)
                    .map_err(|problem| LineError { line, problem }),
            )),
            Err(e) => {
                let problem = match e.kind() {
                    csv::ErrorKind::Io(io) => {
                        self.stopped = true;
                        LineProblem::Unreadable {
                            message: io.to_string(),
                        }
                    }
                    _ => LineProblem::Csv {
                        message: e.to_string(),
                    },
                };
                Some(Record::Row(Err(LineError { line, problem })))
            }
        }
    }
}

impl<R: Read> ManifestReader<R> {
    /// The CSV parser skips empty lines itself; a line of spaces or a lone byte order
    /// mark is blank too.
    fn is_blank(&self) -> bool {
        self.record.len() == 1
            && self.record[0]
                .strip_prefix(BOM)
                .unwrap_or(&self.record[0])
                .iter()
                .all(u8::is_ascii_whitespace)
    }
}

/// Passes bytes to the CSV parser, noting where lines end.
///
/// The CSV parser's own line count lags behind blank lines and CRLF ends, and an error
/// message must name the right line, so lines are counted here.
struct LineCounting<R> {
    inner: R,
    lines: Arc<Mutex<LineIndex>>,
    /// The input starts mid-file, where a byte order mark is data.
    keep_leading_bom: bool,
}

impl<R: Read> Read for LineCounting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        // The CSV parser drops a byte order mark at the start of its input unless its
        // first read holds less than the whole mark. Mid-file, a mark is data, as it is
        // to one pass over the file: a single byte first keeps it.
        let len = if self.keep_leading_bom {
            buf.len().min(1)
        } else {
            buf.len()
        };
        self.keep_leading_bom = false;
        let n = self.inner.read(&mut buf[..len])?;
        let mut index = self.lines.lock().unwrap_or_else(PoisonError::into_inner);
        for &b in &buf[..n] {
            if b == b'\n' {
                index.line_ends_read += 1;
                index.row_bytes = 0;
            } else {
                index.row_bytes += 1;
                if index.row_bytes > MAX_ROW_BYTES {
                    // The parser would buffer the whole row: stop it here.
                    index.too_long_at = Some(index.line_ends_read + 1);
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        "row too long",
                    ));
                }
            }
        }
        index.window.extend_from_slice(&buf[..n]);
        Ok(n)
    }
}

/// The bytes the parser has read but not yet passed, and the lines before them.
#[derive(Default)]
struct LineIndex {
    window: Vec<u8>,
    window_start: u64,
    lines_before_window: u64,
    /// Line ends read so far, and bytes read since the last one.
    line_ends_read: u64,
    row_bytes: u64,
    /// The 1-based line of a row longer than [`MAX_ROW_BYTES`], once one is met.
    too_long_at: Option<u64>,
}

impl LineIndex {
    /// Number of line ends before byte `offset`; forgets the bytes before it, since the
    /// parser never asks about earlier bytes again.
    fn lines_before(&mut self, offset: u64) -> u64 {
        let cut = usize::try_from(offset.saturating_sub(self.window_start))
            .unwrap_or(usize::MAX)
            .min(self.window.len());
        let ends = self.window[..cut].iter().filter(|&&b| b == b'\n').count();
        self.lines_before_window += ends as u64;
        self.window.drain(..cut);
        self.window_start += cut as u64;
        self.lines_before_window
    }

    /// The 1-based line of a record the parser reports at `offset`, which may point at
    /// the line ends and blank lines the parser skipped before the record, and at the
    /// file's start at a byte order mark it dropped.
    fn line_of_record_at(&mut self, offset: u64, at_file_start: bool) -> u64 {
        let from = usize::try_from(offset.saturating_sub(self.window_start)).unwrap_or(usize::MAX);
        let skipped = self.window.get(from..).map_or(0, |rest| {
            let mark = if at_file_start && offset == 0 && rest.starts_with(BOM) {
                BOM.len()
            } else {
                0
            };
            mark + rest[mark..]
                .iter()
                .take_while(|&&b| b == b'\n' || b == b'\r')
                .count()
        });
        self.lines_before(offset + skipped as u64) + 1
    }
}

/// What one range read of a manifest yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestChunk {
    /// Every row read, in order: its object, or what is wrong with the line.
    pub rows: Vec<Result<ManifestRow, LineError>>,
    /// Where the next read starts.
    pub next: ManifestCursor,
    /// The manifest has been read to its end.
    pub finished: bool,
    /// Nothing after the last row can be read (a row longer than a read or than
    /// [`MAX_ROW_BYTES`]); the last row holds the error.
    pub stopped: bool,
}

/// Decodes the rows of `bytes`, a read starting at `at`, up to `max_rows` of them.
///
/// A row reaching the end of a read that does not end the file may be cut short, so it
/// is left for the next read, which starts at it. A read that does not end the file and
/// holds no whole row stops the reading: the row is longer than a read, or opens a
/// quoted field that never closes.
pub fn read_chunk(
    bytes: &[u8],
    at: &ManifestCursor,
    ends_file: bool,
    max_rows: u64,
    allowed_buckets: Option<&[String]>,
) -> ManifestChunk {
    let read_end = at.byte + bytes.len() as u64;
    let mut reader = ManifestReader::resume(bytes, at.clone());
    if let Some(allowed) = allowed_buckets {
        reader = reader.allow_buckets(allowed.iter().cloned());
    }
    let mut chunk = ManifestChunk {
        rows: Vec::new(),
        next: at.clone(),
        finished: false,
        stopped: false,
    };
    let mut cut_short = None;
    // No record of the read was left for the next one.
    let mut whole = true;
    while let Some(record) = reader.next_record() {
        if !ends_file && reader.cursor().byte >= read_end {
            if let Record::Row(item) = record {
                cut_short = item.err();
            }
            whole = false;
            break;
        }
        // A blank line within the read is read past as a row is, so that a read holding
        // blank lines and the start of a row goes on from the row.
        chunk.next = reader.cursor().clone();
        let Record::Row(item) = record else {
            continue;
        };
        chunk.stopped = matches!(&item, Err(e) if matches!(e.problem, LineProblem::TooLong { .. }));
        chunk.rows.push(item);
        if chunk.stopped {
            return chunk;
        }
        if chunk.rows.len() as u64 >= max_rows {
            whole = false;
            break;
        }
    }
    if whole {
        // What follows the last record (line ends, a byte order mark the parser dropped)
        // holds no row.
        chunk.next = reader.cursor().clone();
        if ends_file {
            chunk.finished = true;
            return chunk;
        }
    }
    // The next read starts after the last whole row and the line ends after it; not at
    // the reader's own position, which may be past bytes it could not yet make a row of.
    let taken = usize::try_from(chunk.next.byte - at.byte).unwrap_or(bytes.len());
    let rest = &bytes[taken..];
    let line_ends = &rest[..rest
        .iter()
        .take_while(|b| matches!(b, b'\r' | b'\n'))
        .count()];
    chunk.next.byte += line_ends.len() as u64;
    chunk.next.lines_before += line_ends.iter().filter(|b| **b == b'\n').count() as u64;
    if chunk.rows.is_empty() && chunk.next.byte == at.byte {
        let problem = match cut_short {
            Some(e) if e.problem == LineProblem::LineBreakInField => e.problem,
            _ => LineProblem::TooLong {
                max: bytes.len() as u64,
            },
        };
        chunk.rows.push(Err(LineError {
            line: at.lines_before + 1,
            problem,
        }));
        chunk.stopped = true;
    }
    chunk
}

/// A row naming an object an earlier row already named; it counts once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Duplicate {
    pub line: u64,
    pub first_line: u64,
    pub object: ObjectId,
}

/// Something legal but probably not what was meant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LineWarning {
    pub line: u64,
    pub message: String,
}

/// Totals of a whole manifest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ManifestSummary {
    /// Distinct objects.
    pub objects: u64,
    /// Rows that decoded, duplicates included.
    pub rows: u64,
    /// Distinct objects per bucket.
    pub buckets: BTreeMap<String, u64>,
    pub versioned: bool,
    pub duplicates: Vec<Duplicate>,
    pub errors: Vec<LineError>,
    pub warnings: Vec<LineWarning>,
}

impl ManifestSummary {
    /// The manifest can be submitted: objects and no malformed line.
    pub fn validate(&self) -> Result<(), ManifestError> {
        if !self.errors.is_empty() {
            Err(ManifestError::malformed(
                self.errors.len() as u64,
                self.errors.clone(),
            ))
        } else if self.objects == 0 {
            Err(ManifestError::Empty)
        } else {
            Ok(())
        }
    }
}

/// Folds a stream of rows into a [`ManifestSummary`], finding duplicates.
///
/// Remembers a 128-bit hash and a line number per distinct object (about 40 bytes),
/// not the object itself, so a million-row manifest is checked in tens of megabytes.
pub struct ManifestCheck {
    summary: ManifestSummary,
    seen: HashMap<u128, u64>,
    hashers: (std::hash::RandomState, std::hash::RandomState),
}

impl Default for ManifestCheck {
    fn default() -> Self {
        Self {
            summary: ManifestSummary::default(),
            seen: HashMap::new(),
            hashers: (std::hash::RandomState::new(), std::hash::RandomState::new()),
        }
    }
}

impl ManifestCheck {
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes one item of a [`ManifestReader`]; returns the duplicate it found, if any.
    pub fn add(&mut self, item: &Result<ManifestRow, LineError>) -> Option<&Duplicate> {
        let row = match item {
            Ok(row) => row,
            Err(e) => {
                self.summary.errors.push(e.clone());
                return None;
            }
        };
        self.summary.rows += 1;
        if row.raw_plus {
            self.summary.warnings.push(LineWarning {
                line: row.line,
                message: "the key holds a raw '+', read as a plus sign; write %2B for a plus or %20 for a space to be unambiguous".into(),
            });
        }
        let hash = self.hash(&row.object);
        match self.seen.get(&hash) {
            Some(&first_line) => {
                self.summary.duplicates.push(Duplicate {
                    line: row.line,
                    first_line,
                    object: row.object.clone(),
                });
                self.summary.duplicates.last()
            }
            None => {
                self.seen.insert(hash, row.line);
                self.summary.objects += 1;
                self.summary.versioned = row.object.version_id().is_some();
                *self
                    .summary
                    .buckets
                    .entry(row.object.bucket().to_owned())
                    .or_default() += 1;
                None
            }
        }
    }

    pub fn finish(self) -> ManifestSummary {
        self.summary
    }

    fn hash(&self, object: &ObjectId) -> u128 {
        let half = |state: &std::hash::RandomState| {
            let mut h = state.build_hasher();
            std::hash::Hash::hash(object, &mut h);
            h.finish()
        };
        (u128::from(half(&self.hashers.0)) << 64) | u128::from(half(&self.hashers.1))
    }
}

/// Reads a whole manifest and summarizes it.
pub fn check_manifest(input: impl Read) -> ManifestSummary {
    let mut check = ManifestCheck::new();
    for item in ManifestReader::new(input) {
        check.add(&item);
    }
    check.finish()
}
