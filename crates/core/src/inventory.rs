//! An S3 Inventory report as a job's manifest: its `manifest.json`, and its gzipped CSV
//! data files, read in ranges from a resumable cursor.
//!
//! What AWS documents, and how we read it (the sources, and real reports, are in
//! `tests/fixtures/aws/inventory/` and its README):
//! - Only CSV reports are read. S3 Batch Operations itself takes an inventory report as a
//!   manifest only in CSV ("Must be a CSV-formatted Amazon S3 Inventory report", S3 User
//!   Guide, *Creating an S3 Batch Operations job*, "Specifying a manifest"; the
//!   `JobManifestSpec` API reference lists `S3InventoryReport_CSV_20161130` and no ORC or
//!   Parquet format). An ORC or Parquet report is refused with that reason.
//! - `fileSchema` names the data files' columns in order ("Bucket, Key, VersionId, …",
//!   S3 User Guide, *Locating your inventory list*, "Inventory manifest"). `Bucket` and
//!   `Key` are always there; the others are optional fields of the configuration.
//! - Keys are URL-encoded: "When using the CSV file format, the key name is URL-encoded
//!   and must be decoded before you can use it" (S3 User Guide, *Amazon S3 Inventory*,
//!   "Amazon S3 Inventory list"). The guide does not say which URL encoding; reports
//!   write a space as `+` (cloud-custodian issue #1997, from real reports), so keys are
//!   form-decoded: `+` and `%20` are a space, `%2B` is a plus.
//! - In a report of all versions, "null-versioned objects" have an empty version ID (S3
//!   User Guide, *Converting empty version ID strings in Amazon S3 Inventory reports to
//!   null strings*); such a row names the version `null`, as Batch Operations needs.
//! - Only GLACIER and DEEP_ARCHIVE objects are restored. Delete markers and every other
//!   class are skipped with their reason, INTELLIGENT_TIERING included: Batch Operations
//!   restore jobs "can't operate on both types in the same job", and restoring from the
//!   Intelligent-Tiering archive tiers must not set `ExpirationInDays` (S3 User Guide,
//!   *Restore objects*). A schema without `StorageClass` cannot tell, so every row of it
//!   is restored under the job's declared class and none is skipped.
//! - The data files are gzip ("stored in the destination bucket as a CSV file compressed
//!   with GZIP", *Amazon S3 Inventory*). [`Gunzip`] reads them in ranges of decompressed
//!   bytes without holding more than two reads' worth.
//! - `manifest.checksum` (the MD5 of `manifest.json`) and each file's `MD5checksum` are
//!   kept as given, not checked: a file changed under a job is caught by reading it
//!   pinned to the ETag first seen ([`crate::list_source::read_range`]).
//!
//! Where AWS says nothing, the reader takes every form CSV allows: the report AWS wrote
//! in the fixtures quotes every field, ends lines with LF and has no header row, but
//! unquoted fields, CRLF ends, blank lines, a byte order mark and a first line naming
//! the schema's columns are read as well. A row that cannot be read is an error naming
//! its file and line; it never stops the reading, except a row longer than a read.

use std::io::Read;

use flate2::read::MultiGzDecoder;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::list_source::{ListFile, RangeRead};
use crate::object_id::{NULL_VERSION, ObjectId, form_decode_key, validate_bucket};
use crate::request::StorageClass;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The most a data file may decompress to, as a multiple of the compressed bytes read.
/// Deflate can reach about 1,000; inventory rows differ at least in their keys, and the
/// most compressible rows we could build (1,000-character keys sharing all but a
/// counter) reach about 220. A file beyond this is taken for a decompression bomb.
pub const MAX_EXPANSION: u64 = 500;

/// A report's `manifest.json` is a few KB per thousand data files.
pub const MAX_MANIFEST_JSON_BYTES: u64 = 16 * 1024 * 1024;
/// A data file is held compressed while it is read (gzip cannot be read from the
/// middle). S3 Inventory does not document how large its files grow; a bigger one is
/// refused by name rather than exhausting the function's memory.
pub const MAX_DATA_FILE_BYTES: u64 = 512 * 1024 * 1024;

/// Decompressed bytes read before [`MAX_EXPANSION`] is checked: the decoder reads its
/// input ahead, so the ratio means little at the start of a file.
const EXPANSION_CHECKED_AFTER: u64 = 1 << 20;

/// Decompressed bytes pulled from the decoder at a time.
const PULL_BYTES: usize = 64 * 1024;

/// The report's `manifest.json`: which bucket it lists, and where its data files are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventoryManifest {
    /// The bucket the report lists; every row names it.
    pub source_bucket: String,
    /// The bucket holding the data files: the name in the manifest's
    /// `destinationBucket` ARN.
    pub destination_bucket: String,
    /// The report format's version, as given (`2016-11-30` in every source).
    pub version: String,
    /// When S3 began scanning the bucket, epoch milliseconds as given.
    pub creation_timestamp: String,
    pub schema: InventorySchema,
    pub files: Vec<InventoryFile>,
}

/// One data file of a report, in the destination bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryFile {
    pub key: String,
    /// Compressed size in bytes.
    pub size: u64,
    /// MD5 of the compressed file, as the manifest gives it.
    #[serde(rename = "MD5checksum")]
    pub md5_checksum: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ManifestJson {
    source_bucket: String,
    destination_bucket: String,
    version: String,
    creation_timestamp: String,
    file_format: String,
    file_schema: String,
    files: Vec<InventoryFile>,
}

impl InventoryManifest {
    /// Reads a report's `manifest.json`; a report in another format than CSV, or whose
    /// schema lacks `Bucket` or `Key`, is refused.
    pub fn parse(bytes: &[u8]) -> Result<Self, InventoryError> {
        let json: ManifestJson =
            serde_json::from_slice(bytes).map_err(|e| InventoryError::Manifest {
                message: e.to_string(),
            })?;
        if !json.file_format.eq_ignore_ascii_case("CSV") {
            return Err(InventoryError::UnsupportedFormat {
                format: json.file_format,
            });
        }
        validate_bucket(&json.source_bucket).map_err(|e| InventoryError::Manifest {
            message: format!("sourceBucket: {e}"),
        })?;
        Ok(Self {
            destination_bucket: bucket_of_arn(&json.destination_bucket)?,
            source_bucket: json.source_bucket,
            version: json.version,
            creation_timestamp: json.creation_timestamp,
            schema: InventorySchema::parse(&json.file_schema)?,
            files: json.files,
        })
    }

    /// The data files, to read in order.
    pub fn list_files(&self) -> Vec<ListFile> {
        self.files
            .iter()
            .map(|f| ListFile::new(&self.destination_bucket, &f.key))
            .collect()
    }

    /// Decodes one CSV record (one line, without its line end) of data file `file`.
    pub fn decode_row(
        &self,
        file: &str,
        line: u64,
        record: &[u8],
    ) -> Result<InventoryRow, InventoryLineError> {
        split_record(record)
            .and_then(|fields| self.decode_fields(&fields))
            .map(|(object, decision)| InventoryRow {
                line,
                object,
                decision,
            })
            .map_err(|problem| InventoryLineError {
                file: file.to_owned(),
                line,
                problem,
            })
    }

    fn decode_fields(
        &self,
        fields: &csv::ByteRecord,
    ) -> Result<(ObjectId, RowDecision), RowProblem> {
        let s = &self.schema;
        if fields.len() != s.names.len() {
            return Err(RowProblem::FieldCount {
                fields: fields.len(),
                expected: s.names.len(),
            });
        }
        let text = |i: usize| {
            std::str::from_utf8(&fields[i]).map_err(|_| RowProblem::NotUtf8 {
                column: s.names[i].clone(),
            })
        };
        let optional = |i: Option<usize>| i.map(text).transpose();
        let bucket = text(s.bucket)?;
        if bucket != self.source_bucket {
            return Err(RowProblem::OtherBucket {
                bucket: bucket.to_owned(),
                source_bucket: self.source_bucket.clone(),
            });
        }
        let key = form_decode_key(text(s.key)?).map_err(object_problem)?;
        // An empty version id in a report with versions is the null version.
        let version = optional(s.version_id)?.map(|v| match v {
            "" => NULL_VERSION.to_owned(),
            v => v.to_owned(),
        });
        let object = ObjectId::new(bucket, key, version).map_err(object_problem)?;
        if boolean(optional(s.is_delete_marker)?, "IsDeleteMarker")? == Some(true) {
            return Ok((object, RowDecision::skip(SkipReason::DeleteMarker)));
        }
        let storage_class = match optional(s.storage_class)? {
            None => None,
            Some(class) if class.eq_ignore_ascii_case("GLACIER") => Some(StorageClass::Glacier),
            Some(class) if class.eq_ignore_ascii_case("DEEP_ARCHIVE") => {
                Some(StorageClass::DeepArchive)
            }
            Some(class) if class.eq_ignore_ascii_case("INTELLIGENT_TIERING") => {
                let access_tier = optional(s.access_tier)?.unwrap_or_default().to_owned();
                return Ok((
                    object,
                    RowDecision::skip(SkipReason::IntelligentTiering { access_tier }),
                ));
            }
            Some(class) => {
                let storage_class = class.to_owned();
                return Ok((
                    object,
                    RowDecision::skip(SkipReason::NotArchived { storage_class }),
                ));
            }
        };
        let size = match optional(s.size)? {
            None | Some("") => None,
            Some(size) => Some(size.parse().map_err(|_| RowProblem::BadValue {
                column: "Size",
                value: size.to_owned(),
                expected: "a number of bytes",
            })?),
        };
        let is_latest = boolean(optional(s.is_latest)?, "IsLatest")?;
        Ok((
            object,
            RowDecision::Restore {
                size,
                storage_class,
                is_latest,
            },
        ))
    }

    /// The first line of a file naming the schema's columns is a header, not a row.
    fn is_header(&self, fields: &csv::ByteRecord) -> bool {
        fields.len() == self.schema.names.len()
            && fields.iter().zip(&self.schema.names).all(|(field, name)| {
                std::str::from_utf8(field).is_ok_and(|f| f.trim().eq_ignore_ascii_case(name))
            })
    }
}

/// The bucket name in `arn:<partition>:s3:::<bucket>`, the form every source shows
/// (the `InventoryS3BucketDestination` API reference: "The Amazon Resource Name (ARN)
/// of the bucket where inventory results will be published").
fn bucket_of_arn(arn: &str) -> Result<String, InventoryError> {
    let bucket = match arn.split(':').collect::<Vec<_>>().as_slice() {
        ["arn", partition, "s3", "", "", bucket] if !partition.is_empty() => *bucket,
        _ => "",
    };
    validate_bucket(bucket)
        .map(|()| bucket.to_owned())
        .map_err(|_| InventoryError::DestinationBucket {
            value: arn.to_owned(),
        })
}

/// `true` or `false` as the report writes them; empty is no value.
fn boolean(value: Option<&str>, column: &'static str) -> Result<Option<bool>, RowProblem> {
    match value {
        None | Some("") => Ok(None),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(Some(false)),
        Some(v) => Err(RowProblem::BadValue {
            column,
            value: v.to_owned(),
            expected: "true or false",
        }),
    }
}

fn object_problem(e: crate::object_id::ObjectIdError) -> RowProblem {
    RowProblem::Object {
        message: e.to_string(),
    }
}

/// The fields of one line. Inventory fields never hold a line break (keys are
/// URL-encoded), so a record is one line, and a quote left open is an error rather
/// than a field running into the next lines.
fn split_record(record: &[u8]) -> Result<csv::ByteRecord, RowProblem> {
    if record.iter().filter(|b| **b == b'"').count() % 2 == 1 {
        return Err(RowProblem::OpenQuote);
    }
    // Building a CSV reader costs more than reading a line: one per thread is reused.
    thread_local! {
        static SPLITTER: std::cell::RefCell<csv_core::Reader> = std::cell::RefCell::new(
            csv_core::ReaderBuilder::new()
                .terminator(csv_core::Terminator::Any(b'\n'))
                .build(),
        );
    }
    // Unquoting only shortens a field, and a line has at most one field more than commas.
    let mut output = vec![0u8; record.len() + 1];
    let mut ends = vec![0usize; record.iter().filter(|b| **b == b',').count() + 2];
    SPLITTER.with(|splitter| {
        let mut reader = splitter.borrow_mut();
        reader.reset();
        let (mut input, mut written, mut fields) = (record, 0, 0);
        let mut ended = false;
        loop {
            // InputEmpty means all of `input` was read, so the bytes read need no count.
            let (result, _, out, end) =
                reader.read_record(input, &mut output[written..], &mut ends[fields..]);
            written += out;
            fields += end;
            match result {
                // The line has no terminator: an empty input (the end) closes its record.
                csv_core::ReadRecordResult::InputEmpty if !ended => {
                    ended = true;
                    input = &[];
                }
                csv_core::ReadRecordResult::Record | csv_core::ReadRecordResult::End => break,
                csv_core::ReadRecordResult::InputEmpty
                | csv_core::ReadRecordResult::OutputFull
                | csv_core::ReadRecordResult::OutputEndsFull => {
                    return Err(RowProblem::Csv {
                        message: "the line could not be split into fields".into(),
                    });
                }
            }
        }
        let mut fields_out = csv::ByteRecord::with_capacity(written, fields);
        let mut start = 0;
        for &end in &ends[..fields] {
            fields_out.push_field(&output[start..end]);
            start = end;
        }
        Ok(fields_out)
    })
}

/// Where the columns of a report's data files are, from its `fileSchema`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventorySchema {
    names: Vec<String>,
    bucket: usize,
    key: usize,
    version_id: Option<usize>,
    is_latest: Option<usize>,
    is_delete_marker: Option<usize>,
    size: Option<usize>,
    storage_class: Option<usize>,
    access_tier: Option<usize>,
}

impl InventorySchema {
    /// Reads `Bucket, Key, VersionId, …`: names separated by commas, spaces around them
    /// ignored.
    pub fn parse(file_schema: &str) -> Result<Self, InventoryError> {
        let names: Vec<String> = file_schema
            .split(',')
            .map(|name| name.trim().to_owned())
            .collect();
        let problem = |problem: String| InventoryError::Schema {
            schema: file_schema.to_owned(),
            problem,
        };
        if let Some(i) = names.iter().position(String::is_empty) {
            return Err(problem(format!("has no name for column {}", i + 1)));
        }
        if let Some((i, name)) = names
            .iter()
            .enumerate()
            .find(|(i, name)| names[..*i].contains(name))
        {
            return Err(problem(format!("names {name} twice (column {})", i + 1)));
        }
        let find = |name: &str| names.iter().position(|n| n == name);
        let need = |column: &'static str| {
            find(column).ok_or_else(|| InventoryError::MissingColumn {
                column,
                schema: file_schema.to_owned(),
            })
        };
        Ok(Self {
            bucket: need("Bucket")?,
            key: need("Key")?,
            version_id: find("VersionId"),
            is_latest: find("IsLatest"),
            is_delete_marker: find("IsDeleteMarker"),
            size: find("Size"),
            storage_class: find("StorageClass"),
            access_tier: find("IntelligentTieringAccessTier"),
            names,
        })
    }

    /// The column names, in order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The 0-based index of column `name`.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }
}

/// One data row that decoded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryRow {
    /// 1-based line of its data file.
    pub line: u64,
    pub object: ObjectId,
    pub decision: RowDecision,
}

/// What the job does with a row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum RowDecision {
    /// An archived object: restore it.
    Restore {
        /// Bytes, when the schema has `Size`.
        size: Option<u64>,
        /// `None` when the schema has no `StorageClass`: the job's declared class applies.
        storage_class: Option<StorageClass>,
        /// When the schema has `IsLatest` (reports of all versions): whether this
        /// version is the current one. Noncurrent versions are restored as listed.
        is_latest: Option<bool>,
    },
    /// Not restored, and no restore request is paid for it.
    Skip { reason: SkipReason },
}

impl RowDecision {
    fn skip(reason: SkipReason) -> Self {
        RowDecision::Skip { reason }
    }
}

/// Why a row is not restored.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum SkipReason {
    /// The version is a delete marker: there is nothing to restore.
    DeleteMarker,
    /// Intelligent-Tiering, whose archive tiers need a restore job of their own, without
    /// `ExpirationInDays`. `access_tier` is the report's `IntelligentTieringAccessTier`
    /// (empty when the schema has none).
    IntelligentTiering { access_tier: String },
    /// A class that is not archived (STANDARD, GLACIER_IR, …; empty when the row has none).
    NotArchived { storage_class: String },
}

impl SkipReason {
    /// What skipped rows are counted under: `DELETE_MARKER`, or the storage class as the
    /// report writes it (`NONE` for an empty one).
    pub fn label(&self) -> &str {
        match self {
            SkipReason::DeleteMarker => "DELETE_MARKER",
            SkipReason::IntelligentTiering { .. } => "INTELLIGENT_TIERING",
            SkipReason::NotArchived { storage_class } if storage_class.is_empty() => "NONE",
            SkipReason::NotArchived { storage_class } => storage_class,
        }
    }
}

/// What is wrong with one line of a data file.
#[derive(Debug, Clone, PartialEq, Eq, Error, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RowProblem {
    #[error("has {fields} fields; the report's fileSchema names {expected} columns")]
    FieldCount { fields: usize, expected: usize },
    #[error("has a {column} that is not valid UTF-8")]
    NotUtf8 { column: String },
    #[error("{message}")]
    Object { message: String },
    #[error("names bucket {bucket:?}, but the report lists bucket {source_bucket:?}")]
    OtherBucket {
        bucket: String,
        source_bucket: String,
    },
    #[error(
        "names bucket {bucket:?}, which this deployment may not restore from (allowed: {allowed})"
    )]
    BucketNotAllowed { bucket: String, allowed: String },
    #[error("has {column} {value:?}, not {expected}")]
    BadValue {
        column: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error(
        "opens a quoted field that does not close on its line; inventory fields hold no line breaks, as keys are URL-encoded"
    )]
    OpenQuote,
    #[error("is longer than {max} bytes, all of one read; reading stopped here")]
    TooLong { max: u64 },
    #[error("cannot be read as CSV: {message}")]
    Csv { message: String },
}

/// A line of a data file that yields no row.
#[derive(Debug, Clone, PartialEq, Eq, Error, Serialize)]
#[error("{file}, line {line}: {problem}")]
pub struct InventoryLineError {
    /// The data file's key.
    pub file: String,
    pub line: u64,
    pub problem: RowProblem,
}

/// Why a report, or one of its data files, cannot be read at all.
#[derive(Debug, Clone, PartialEq, Eq, Error, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum InventoryError {
    #[error("the inventory manifest.json is not valid: {message}")]
    Manifest { message: String },
    #[error(
        "the inventory report is in {format} format; only CSV inventory reports are supported, because S3 Batch Operations accepts only CSV-formatted inventory reports as a manifest (S3InventoryReport_CSV_20161130): configure the inventory with output format CSV"
    )]
    UnsupportedFormat { format: String },
    #[error("the inventory fileSchema {schema:?} has no {column} column")]
    MissingColumn {
        column: &'static str,
        schema: String,
    },
    #[error("the inventory fileSchema {schema:?} {problem}")]
    Schema { schema: String, problem: String },
    #[error(
        "the inventory destinationBucket {value:?} is not the ARN of a bucket (arn:aws:s3:::bucket-name)"
    )]
    DestinationBucket { value: String },
    #[error("{file}: not a readable gzip file at decompressed byte {offset}: {message}")]
    Gzip {
        file: String,
        offset: u64,
        message: String,
    },
    #[error(
        "{file}: {decompressed} bytes decompressed from {compressed}, more than {MAX_EXPANSION} times as many; no inventory report compresses so well, so this is taken for a decompression bomb"
    )]
    Expansion {
        file: String,
        decompressed: u64,
        compressed: u64,
    },
    #[error(
        "{file}: cannot go back to decompressed byte {start}, before the last read (byte {held_from}); a gzip stream is read forward only"
    )]
    Rewind {
        file: String,
        start: u64,
        held_from: u64,
    },
}

/// Reads a gzipped data file in ranges of decompressed bytes.
///
/// A gzip stream can only be read from its start, so each read goes on where the last
/// one ended. The bytes of the last read are kept, since a chunk that ends mid-row is
/// read again from that row. Feed it a whole file from memory, or a stream of the file:
/// it holds at most the last read and the bytes since, and reads its input ahead by
/// the decoder's buffer only. Corrupt input is an error, and so is a file that
/// decompresses beyond [`MAX_EXPANSION`]. Gzip checks its CRC at the end of the
/// stream, so a corrupt file may yield bytes before its error: the error condemns the
/// whole file, not only the rest of it.
pub struct Gunzip<R: Read> {
    file: String,
    decoder: MultiGzDecoder<Counted<R>>,
    /// Decompressed bytes taken from the decoder.
    position: u64,
    /// The last bytes taken, up to `position`.
    held: Vec<u8>,
    /// The decoder has reached the end of the stream.
    ended: bool,
}

/// Counts the compressed bytes the decoder has taken.
struct Counted<R> {
    inner: R,
    bytes: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }
}

impl<R: Read> Gunzip<R> {
    /// `file` names the data file in errors.
    pub fn new(file: impl Into<String>, compressed: R) -> Self {
        Self {
            file: file.into(),
            decoder: MultiGzDecoder::new(Counted {
                inner: compressed,
                bytes: 0,
            }),
            position: 0,
            held: Vec::new(),
            ended: false,
        }
    }

    /// Up to `len` decompressed bytes from byte `start`, which may not come before the
    /// last read's start. `ends_file` when they reach the end of the data.
    pub fn read_range(&mut self, start: u64, len: u64) -> Result<RangeRead, InventoryError> {
        let held_from = self.position - self.held.len() as u64;
        if start < held_from {
            return Err(InventoryError::Rewind {
                file: self.file.clone(),
                start,
                held_from,
            });
        }
        if start <= self.position {
            let drop = usize::try_from(start - held_from).unwrap_or(usize::MAX);
            self.held.drain(..drop.min(self.held.len()));
        } else {
            self.held.clear();
            let mut scratch = vec![0; PULL_BYTES];
            while self.position < start && !self.ended {
                let want = usize::try_from(start - self.position)
                    .unwrap_or(usize::MAX)
                    .min(PULL_BYTES);
                self.pull(&mut scratch[..want])?;
            }
        }
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        // One byte more than asked tells whether the data ends with this read.
        let target = len.saturating_add(1);
        while self.held.len() < target && !self.ended {
            let have = self.held.len();
            let want = (target - have).min(PULL_BYTES);
            self.held.resize(have + want, 0);
            let mut pulled = std::mem::take(&mut self.held);
            let result = self.pull(&mut pulled[have..]);
            self.held = pulled;
            self.held.truncate(have + result.as_ref().map_or(0, |n| *n));
            result?;
        }
        let ends_file = self.ended && self.held.len() <= len;
        Ok(RangeRead {
            bytes: self.held[..self.held.len().min(len)].to_vec(),
            start,
            ends_file,
        })
    }

    /// Decompresses into `buf`, counting what it yields.
    fn pull(&mut self, buf: &mut [u8]) -> Result<usize, InventoryError> {
        let n = loop {
            match self.decoder.read(buf) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(InventoryError::Gzip {
                        file: self.file.clone(),
                        offset: self.position,
                        message: e.to_string(),
                    });
                }
            }
        };
        self.ended = n == 0;
        self.position += n as u64;
        let compressed = self.decoder.get_ref().bytes;
        if self.position > EXPANSION_CHECKED_AFTER
            && self.position > compressed.saturating_mul(MAX_EXPANSION)
        {
            return Err(InventoryError::Expansion {
                file: self.file.clone(),
                decompressed: self.position,
                compressed,
            });
        }
        Ok(n)
    }
}

/// Where a partly read data file stands, in its decompressed bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryCursor {
    /// Byte offset of the first unread line.
    pub byte: u64,
    /// Number of lines before it.
    pub lines_before: u64,
}

/// What one range read of a data file yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventoryChunk {
    /// Every row read, in order: what to do with it, or what is wrong with its line.
    pub rows: Vec<Result<InventoryRow, InventoryLineError>>,
    /// Where the next read starts.
    pub next: InventoryCursor,
    /// The data file has been read to its end.
    pub finished: bool,
    /// Nothing after the last row can be read: a line is longer than a read. The last
    /// row holds the error.
    pub stopped: bool,
}

/// Decodes the rows of `bytes`, decompressed bytes of data file `file` starting at
/// `at`, up to `max_rows` of them.
///
/// A line reaching the end of a read that does not end the file may be cut short, so it
/// is left for the next read, which starts at it. A read that does not end the file and
/// holds no whole line stops the reading. Rows naming a bucket outside
/// `allowed_buckets` are errors.
pub fn read_chunk(
    manifest: &InventoryManifest,
    file: &str,
    bytes: &[u8],
    at: &InventoryCursor,
    ends_file: bool,
    max_rows: u64,
    allowed_buckets: Option<&[String]>,
) -> InventoryChunk {
    let mut chunk = InventoryChunk {
        rows: Vec::new(),
        next: at.clone(),
        finished: false,
        stopped: false,
    };
    let mut taken = 0;
    while (chunk.rows.len() as u64) < max_rows.max(1) {
        let rest = &bytes[taken..];
        let (line, line_end) = match rest.iter().position(|b| *b == b'\n') {
            Some(end) => (&rest[..end], 1),
            None if ends_file && !rest.is_empty() => (rest, 0),
            None => break,
        };
        let opens_file = at.byte + taken as u64 == 0;
        let number = chunk.next.lines_before + 1;
        taken += line.len() + line_end;
        chunk.next = InventoryCursor {
            byte: at.byte + taken as u64,
            lines_before: chunk.next.lines_before + line_end as u64,
        };
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let line = match line.strip_prefix(BOM) {
            Some(after_mark) if opens_file => after_mark,
            _ => line,
        };
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let row = split_record(line).and_then(|fields| {
            if opens_file && manifest.is_header(&fields) {
                return Ok(None);
            }
            let (object, decision) = manifest.decode_fields(&fields)?;
            if let Some(allowed) = allowed_buckets {
                if !allowed.iter().any(|b| b == object.bucket()) {
                    return Err(RowProblem::BucketNotAllowed {
                        bucket: object.bucket().to_owned(),
                        allowed: allowed.join(", "),
                    });
                }
            }
            Ok(Some(InventoryRow {
                line: number,
                object,
                decision,
            }))
        });
        match row {
            Ok(None) => {}
            Ok(Some(row)) => chunk.rows.push(Ok(row)),
            Err(problem) => chunk.rows.push(Err(InventoryLineError {
                file: file.to_owned(),
                line: number,
                problem,
            })),
        }
    }
    chunk.finished = ends_file && taken == bytes.len();
    if !chunk.finished && chunk.next.byte == at.byte {
        chunk.rows.push(Err(InventoryLineError {
            file: file.to_owned(),
            line: at.lines_before + 1,
            problem: RowProblem::TooLong {
                max: bytes.len() as u64,
            },
        }));
        chunk.stopped = true;
    }
    chunk
}

/// Writing reports as S3 Inventory does, for the local stack and tests.
#[cfg(any(test, feature = "fakes"))]
pub mod write {
    use std::io::Write;

    use flate2::Compression;
    use flate2::write::GzEncoder;
    use md5::{Digest, Md5};

    use crate::object_id::{ObjectId, percent_encode_key};

    /// The columns S3 Inventory writes for a report of current versions, and of all
    /// versions, as in the captured reports (tests/fixtures/aws/inventory/).
    const CURRENT: &str = "Bucket, Key, Size, LastModifiedDate, ETag, StorageClass, IsMultipartUploaded, ReplicationStatus, EncryptionStatus, ObjectLockRetainUntilDate, ObjectLockMode, ObjectLockLegalHoldStatus, IntelligentTieringAccessTier, BucketKeyStatus, ChecksumAlgorithm";
    const ALL_VERSIONS: &str = "Bucket, Key, VersionId, IsLatest, IsDeleteMarker, Size, LastModifiedDate, ETag, StorageClass, IsMultipartUploaded, ReplicationStatus, EncryptionStatus, ObjectLockRetainUntilDate, ObjectLockMode, ObjectLockLegalHoldStatus, IntelligentTieringAccessTier, BucketKeyStatus, ChecksumAlgorithm";
    /// The captured rows' values of the columns past `StorageClass`.
    const TRAILING: &str = r#""false","","SSE-S3","","","","","DISABLED","""#;

    /// One object a report lists.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct ListedObject {
        pub object: ObjectId,
        pub size: u64,
        /// As S3 names it: `STANDARD`, `GLACIER`, `DEEP_ARCHIVE`, …
        pub storage_class: String,
    }

    /// A report's files: its `manifest.json` and its gzipped data files, each with its
    /// key in the destination bucket.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Report {
        pub manifest_key: String,
        pub manifest_json: Vec<u8>,
        pub data_files: Vec<(String, Vec<u8>)>,
    }

    /// Writes a CSV report of `objects` of `source_bucket` into `destination_bucket`
    /// under `prefix`, laid out as S3 Inventory lays reports out
    /// (`prefix/source/config/data/*.csv.gz`, `prefix/source/config/date/manifest.json`),
    /// `rows_per_file` rows to a data file. Objects with version ids make a report of
    /// all versions. Keys are URL-encoded as S3 Inventory's CSV reports have them.
    pub fn report(
        source_bucket: &str,
        destination_bucket: &str,
        prefix: &str,
        objects: &[ListedObject],
        rows_per_file: usize,
    ) -> Report {
        let versions = objects.iter().any(|o| o.object.version_id().is_some());
        let base = format!("{prefix}/{source_bucket}/restore-inventory");
        let mut data_files = Vec::new();
        for (n, rows) in objects.chunks(rows_per_file.max(1)).enumerate() {
            let mut csv = String::new();
            for o in rows {
                let key = percent_encode_key(o.object.key());
                let lead = match (versions, o.object.version_id()) {
                    (false, _) => format!(r#""{source_bucket}","{key}","#),
                    (true, v) => format!(
                        r#""{source_bucket}","{key}","{}","true","false","#,
                        v.filter(|v| *v != "null").unwrap_or_default()
                    ),
                };
                csv.push_str(&format!(
                    r#"{lead}"{}","2026-01-01T00:00:00.000Z","d41d8cd98f00b204e9800998ecf8427e","{}",{TRAILING}"#,
                    o.size, o.storage_class
                ));
                csv.push('\n');
            }
            let mut gz = GzEncoder::new(Vec::new(), Compression::default());
            // Writing to a Vec cannot fail.
            let _ = gz.write_all(csv.as_bytes());
            let bytes = gz.finish().unwrap_or_default();
            data_files.push((format!("{base}/data/part-{n:05}.csv.gz"), bytes));
        }
        let files: Vec<serde_json::Value> = data_files
            .iter()
            .map(|(key, bytes)| {
                serde_json::json!({
                    "key": key,
                    "size": bytes.len(),
                    "MD5checksum": hex(&Md5::digest(bytes)),
                })
            })
            .collect();
        let manifest = serde_json::json!({
            "sourceBucket": source_bucket,
            "destinationBucket": format!("arn:aws:s3:::{destination_bucket}"),
            "version": "2016-11-30",
            "creationTimestamp": "1767225600000",
            "fileFormat": "CSV",
            "fileSchema": if versions { ALL_VERSIONS } else { CURRENT },
            "files": files,
        });
        Report {
            manifest_key: format!("{base}/2026-01-01T01-00Z/manifest.json"),
            manifest_json: serde_json::to_vec_pretty(&manifest).unwrap_or_default(),
            data_files,
        }
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCHEMA: &str = "Bucket, Key, VersionId, IsLatest, IsDeleteMarker, Size, StorageClass, IntelligentTieringAccessTier";

    fn manifest(schema: &str) -> InventoryManifest {
        let json = serde_json::json!({
            "sourceBucket": "b-1",
            "destinationBucket": "arn:aws:s3:::inv-1",
            "version": "2016-11-30",
            "creationTimestamp": "1514944800000",
            "fileFormat": "CSV",
            "fileSchema": schema,
            "files": [],
        });
        InventoryManifest::parse(json.to_string().as_bytes()).unwrap()
    }

    fn decode(schema: &str, record: &str) -> Result<InventoryRow, RowProblem> {
        manifest(schema)
            .decode_row("data/1.csv.gz", 7, record.as_bytes())
            .map_err(|e| {
                assert_eq!((e.file.as_str(), e.line), ("data/1.csv.gz", 7));
                e.problem
            })
    }

    fn restore(
        key: &str,
        version: Option<&str>,
        size: Option<u64>,
        class: Option<StorageClass>,
    ) -> (ObjectId, RowDecision) {
        let object = ObjectId::new("b-1", key, version.map(str::to_owned)).unwrap();
        let decision = RowDecision::Restore {
            size,
            storage_class: class,
            is_latest: Some(true),
        };
        (object, decision)
    }

    fn got(row: InventoryRow) -> (ObjectId, RowDecision) {
        (row.object, row.decision)
    }

    #[test]
    fn keys_are_form_decoded() {
        let row = |key: &str| {
            let record = format!(r#""b-1","{key}","v1","true","false","5","GLACIER","""#);
            got(decode(SCHEMA, &record).unwrap()).0.key().to_owned()
        };
        assert_eq!(row("a+b"), "a b");
        assert_eq!(row("a%20b"), "a b");
        assert_eq!(row("a%2Bb"), "a+b");
        assert_eq!(row("caf%C3%A9/%E6%97%A5.txt"), "café/日.txt");
        assert_eq!(row("dir%2Fsub/x"), "dir/sub/x");
    }

    #[test]
    fn archived_classes_are_restored_and_others_skipped_with_their_reason() {
        let line = |version: &str, marker: &str, size: &str, class: &str, tier: &str| {
            let record =
                format!(r#""b-1","k","{version}","true","{marker}","{size}","{class}","{tier}""#);
            got(decode(SCHEMA, &record).unwrap())
        };
        assert_eq!(
            line("v1", "false", "5", "GLACIER", ""),
            restore("k", Some("v1"), Some(5), Some(StorageClass::Glacier))
        );
        // An empty version id in a report with versions is the null version.
        assert_eq!(
            line("", "false", "", "DEEP_ARCHIVE", ""),
            restore("k", Some("null"), None, Some(StorageClass::DeepArchive))
        );
        let skipped = |row: (ObjectId, RowDecision)| match row.1 {
            RowDecision::Skip { reason } => reason,
            other => panic!("restored: {other:?}"),
        };
        let reason = skipped(line("v1", "false", "5", "STANDARD", ""));
        assert_eq!(
            reason,
            SkipReason::NotArchived {
                storage_class: "STANDARD".into()
            }
        );
        assert_eq!(reason.label(), "STANDARD");
        let reason = skipped(line(
            "v1",
            "false",
            "5",
            "INTELLIGENT_TIERING",
            "DEEP_ARCHIVE_ACCESS",
        ));
        assert_eq!(
            reason,
            SkipReason::IntelligentTiering {
                access_tier: "DEEP_ARCHIVE_ACCESS".into()
            }
        );
        assert_eq!(reason.label(), "INTELLIGENT_TIERING");
        // A delete marker carries no class; a marker is skipped whatever the row says.
        for class in ["", "GLACIER"] {
            let reason = skipped(line("v2", "true", "", class, ""));
            assert_eq!(reason, SkipReason::DeleteMarker);
            assert_eq!(reason.label(), "DELETE_MARKER");
        }
        assert_eq!(
            skipped(line("v1", "false", "5", "", "")).label(),
            "NONE",
            "a row with an empty class is not guessed to be archived"
        );
    }

    #[test]
    fn a_schema_without_storage_class_restores_every_row_with_no_class() {
        let row = decode("Bucket, Key, Size", r#""b-1","a%20b","12""#).unwrap();
        assert_eq!(
            got(row),
            (
                ObjectId::new("b-1", "a b", None).unwrap(),
                RowDecision::Restore {
                    size: Some(12),
                    storage_class: None,
                    is_latest: None
                }
            )
        );
    }

    #[test]
    fn unquoted_fields_and_doubled_quotes_read_as_csv() {
        let row = decode("Bucket, Key, StorageClass", "b-1,a%22b,GLACIER").unwrap();
        assert_eq!(row.object.key(), "a\"b");
        let row = decode("Bucket, Key, StorageClass", r#""b-1","x""y",GLACIER"#).unwrap();
        assert_eq!(row.object.key(), "x\"y");
    }

    #[test]
    fn bad_rows_name_what_is_wrong() {
        let problem = |record: &str| decode(SCHEMA, record).unwrap_err();
        assert_eq!(
            problem(r#""b-1","k","v1""#),
            RowProblem::FieldCount {
                fields: 3,
                expected: 8
            }
        );
        assert_eq!(
            problem(r#""b-2","k","v1","true","false","5","GLACIER","""#),
            RowProblem::OtherBucket {
                bucket: "b-2".into(),
                source_bucket: "b-1".into()
            }
        );
        assert!(matches!(
            problem(r#""b-1","%zz","v1","true","false","5","GLACIER","""#),
            RowProblem::Object { .. }
        ));
        assert_eq!(
            problem(r#""b-1","k","v1","true","false","five","GLACIER","""#),
            RowProblem::BadValue {
                column: "Size",
                value: "five".into(),
                expected: "a number of bytes"
            }
        );
        assert_eq!(
            problem(r#""b-1","k","v1","true","yes","5","GLACIER","""#),
            RowProblem::BadValue {
                column: "IsDeleteMarker",
                value: "yes".into(),
                expected: "true or false"
            }
        );
        assert_eq!(
            problem(r#""b-1","k,"v1","true","false","5","GLACIER","""#),
            RowProblem::OpenQuote
        );
        let mut not_utf8 = br#""b-1","k","v1","true","false","5",""#.to_vec();
        not_utf8.extend_from_slice(b"\xFF\",\"\"");
        let err = manifest(SCHEMA).decode_row("f", 1, &not_utf8).unwrap_err();
        assert_eq!(
            err.to_string(),
            "f, line 1: has a StorageClass that is not valid UTF-8"
        );
    }

    #[test]
    fn schemas_need_bucket_and_key_once_each() {
        assert!(matches!(
            InventorySchema::parse("Bucket, Size"),
            Err(InventoryError::MissingColumn { column: "Key", .. })
        ));
        assert!(matches!(
            InventorySchema::parse("Key, Size"),
            Err(InventoryError::MissingColumn {
                column: "Bucket",
                ..
            })
        ));
        assert!(matches!(
            InventorySchema::parse("Bucket, Key, Size, Size"),
            Err(InventoryError::Schema { problem, .. }) if problem == "names Size twice (column 4)"
        ));
        assert!(matches!(
            InventorySchema::parse("Bucket, Key,, Size"),
            Err(InventoryError::Schema { problem, .. }) if problem == "has no name for column 3"
        ));
        let schema = InventorySchema::parse("Key,Bucket ,  Size").unwrap();
        assert_eq!(schema.names(), ["Key", "Bucket", "Size"]);
        assert_eq!(schema.column("Bucket"), Some(1));
        assert_eq!(schema.column("StorageClass"), None);
    }

    #[test]
    fn the_destination_is_the_bucket_named_by_its_arn() {
        assert_eq!(bucket_of_arn("arn:aws:s3:::inv-1").unwrap(), "inv-1");
        assert_eq!(bucket_of_arn("arn:aws-cn:s3:::inv-1").unwrap(), "inv-1");
        for bad in [
            "inv-1",
            "arn:aws:s3:::",
            "arn:aws:s3:::inv-1/prefix",
            "arn:aws:s3:us-east-1::inv-1",
            "arn::s3:::inv-1",
            "arn:aws:sqs:::inv-1",
        ] {
            assert!(
                matches!(
                    bucket_of_arn(bad),
                    Err(InventoryError::DestinationBucket { .. })
                ),
                "{bad} accepted"
            );
        }
    }

    #[test]
    fn blank_lines_crlf_a_byte_order_mark_and_a_header_line_yield_no_rows() {
        let m = manifest("Bucket, Key, StorageClass");
        let text = "\u{feff}\"Bucket\",\"Key\",\"StorageClass\"\r\n\r\n\"b-1\",\"k1\",\"GLACIER\"\r\n  \n\"b-1\",\"k2\",\"GLACIER\"\n\n";
        let chunk = read_chunk(
            &m,
            "f",
            text.as_bytes(),
            &InventoryCursor::default(),
            true,
            10,
            None,
        );
        let lines: Vec<u64> = chunk
            .rows
            .iter()
            .map(|r| r.as_ref().unwrap().line)
            .collect();
        assert_eq!(lines, [3, 5]);
        assert!(chunk.finished && !chunk.stopped);
        assert_eq!(chunk.next.byte, text.len() as u64);
        // Only a file's first line can be a header; elsewhere it is a bad row.
        let text = "\"b-1\",\"k1\",\"GLACIER\"\n\"Bucket\",\"Key\",\"StorageClass\"\n";
        let chunk = read_chunk(
            &m,
            "f",
            text.as_bytes(),
            &InventoryCursor::default(),
            true,
            10,
            None,
        );
        assert!(chunk.rows[0].is_ok());
        assert!(matches!(
            &chunk.rows[1],
            Err(InventoryLineError {
                line: 2,
                problem: RowProblem::OtherBucket { .. },
                ..
            })
        ));
    }

    #[test]
    fn rows_of_buckets_not_allowed_are_errors() {
        let m = manifest("Bucket, Key");
        let text = b"\"b-1\",\"k\"\n";
        let allowed = ["b-2".to_owned(), "b-3".to_owned()];
        let chunk = read_chunk(
            &m,
            "f",
            text,
            &InventoryCursor::default(),
            true,
            10,
            Some(&allowed),
        );
        assert_eq!(
            chunk.rows[0].as_ref().unwrap_err().problem,
            RowProblem::BucketNotAllowed {
                bucket: "b-1".into(),
                allowed: "b-2, b-3".into()
            }
        );
        let allowed = ["b-1".to_owned()];
        let chunk = read_chunk(
            &m,
            "f",
            text,
            &InventoryCursor::default(),
            true,
            10,
            Some(&allowed),
        );
        assert!(chunk.rows[0].is_ok());
    }

    #[test]
    fn a_read_holding_no_whole_line_stops_the_reading() {
        let m = manifest("Bucket, Key");
        let at = InventoryCursor {
            byte: 40,
            lines_before: 3,
        };
        let chunk = read_chunk(&m, "f", b"\"b-1\",\"a-very-long", &at, false, 10, None);
        assert!(chunk.stopped && !chunk.finished);
        assert_eq!(chunk.next, at);
        assert_eq!(
            chunk.rows,
            [Err(InventoryLineError {
                file: "f".into(),
                line: 4,
                problem: RowProblem::TooLong { max: 18 }
            })]
        );
        // The same bytes ending the file are a whole row.
        let chunk = read_chunk(&m, "f", b"\"b-1\",\"a-very-long\"", &at, true, 10, None);
        assert!(chunk.finished && chunk.rows[0].is_ok());
    }
}

/// The reports the local stack writes have the shape of the captured ones
/// (tests/fixtures/aws/inventory/), so its runs read what S3 Inventory writes.
#[cfg(test)]
mod written_like_s3_inventory {
    use std::io::Read;

    use flate2::read::GzDecoder;

    use super::write::{ListedObject, report};
    use crate::object_id::ObjectId;

    fn captured(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/../../tests/fixtures/aws/inventory/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn json(bytes: &[u8]) -> serde_json::Value {
        serde_json::from_slice(bytes).unwrap()
    }

    fn first_line(gz: &[u8]) -> String {
        let mut text = String::new();
        GzDecoder::new(gz).read_to_string(&mut text).unwrap();
        text.lines().next().unwrap().to_owned()
    }

    /// Each field quoted, as the captured rows have them.
    fn quoted_fields(line: &str) -> usize {
        assert!(line.starts_with('"') && line.ends_with('"'), "{line}");
        line.split("\",\"").count()
    }

    #[test]
    fn a_report_has_the_captured_schema_fields_and_quoting() {
        for (version, manifest, data) in [
            (
                None,
                "csv-current-versions.captured.manifest.json",
                "csv-current-versions.captured.csv.gz",
            ),
            (
                Some("v-1"),
                "csv-all-versions.captured.manifest.json",
                "csv-all-versions.captured.csv.gz",
            ),
        ] {
            let listed = [ListedObject {
                object: ObjectId::new("src-1", "a b/c+d.jpg", version.map(str::to_owned)).unwrap(),
                size: 5,
                storage_class: "GLACIER".into(),
            }];
            let written = report("src-1", "dest-1", "inv", &listed, 10);
            let ours = json(&written.manifest_json);
            let theirs = json(&captured(manifest));
            for field in ["version", "fileFormat", "fileSchema"] {
                assert_eq!(ours[field], theirs[field], "{manifest}: {field}");
            }
            assert_eq!(ours["destinationBucket"], "arn:aws:s3:::dest-1");
            let file = &ours["files"][0];
            assert_eq!(file["size"], written.data_files[0].1.len());
            assert_eq!(file["MD5checksum"].as_str().unwrap().len(), 32);
            let ours = first_line(&written.data_files[0].1);
            let theirs = first_line(&captured(data));
            assert_eq!(quoted_fields(&ours), quoted_fields(&theirs), "{ours}");
        }
    }
}
