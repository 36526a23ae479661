//! Lists of rows kept in S3 files, read in byte ranges from a resumable cursor.
//!
//! Two lists are read so: a job's manifest, which names the objects to restore (one
//! Batch Operations CSV file today), and a batch job's completion report (a
//! `manifest.json` naming result files). Each is a sequence of [`ListFile`]s; a
//! [`ListCursor`] names the file and the format's position in it. A format's pure
//! `read_chunk` ([`crate::manifest::read_chunk`], [`crate::completion_report::read_chunk`])
//! decides what one [`RangeRead`] yields and where the next read starts, so a task only
//! loops: read a range, decode it, write what it yields, hand on the cursor.
//!
//! A new kind of manifest (an S3 Inventory report, a generated manifest) is a new
//! format module with its `read_chunk`, and a variant of
//! [`ManifestFormat`](crate::request::ManifestFormat).

use serde::{Deserialize, Serialize};

use std::io::Cursor;

use crate::inventory::{Gunzip, MAX_DATA_FILE_BYTES};
use crate::ports::{ObjectMeta, ObjectSource, PortResult};

/// One file of a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListFile {
    pub bucket: String,
    pub key: String,
}

impl ListFile {
    pub fn new(bucket: impl Into<String>, key: impl Into<String>) -> Self {
        Self {
            bucket: bucket.into(),
            key: key.into(),
        }
    }

    /// `s3://bucket/key`, for messages.
    pub fn location(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }
}

/// Where reading a list stands: the file, and the format's position `P` in it (which
/// holds at least the byte where the next row starts). Plain JSON for the state machine.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListCursor<P> {
    #[serde(default)]
    pub file: usize,
    #[serde(flatten)]
    pub at: P,
}

/// Bytes of one file read from `start`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeRead {
    pub bytes: Vec<u8>,
    pub start: u64,
    /// The read reaches the file's end: the last row in it is whole.
    pub ends_file: bool,
}

/// Reads up to `len` bytes of `file` from `start`, of the version `meta` describes (a
/// file changed since fails with `Conflict`). `start` must be below `meta.size`.
pub async fn read_range(
    source: &dyn ObjectSource,
    file: &ListFile,
    meta: &ObjectMeta,
    start: u64,
    len: u64,
) -> PortResult<RangeRead> {
    let bytes = source
        .read_range(&file.bucket, &file.key, Some(&meta.etag), start, len)
        .await?;
    let read = bytes.len() as u64;
    Ok(RangeRead {
        bytes,
        start,
        ends_file: start + read >= meta.size || read < len,
    })
}

/// The whole of `file` (a report's `manifest.json`, a compressed data file), read in
/// ranges of `chunk` bytes of the version `meta` describes. Files over `max` bytes are
/// refused with `Rejected` before any is read: what must be held whole is bounded.
pub async fn read_whole(
    source: &dyn ObjectSource,
    file: &ListFile,
    meta: &ObjectMeta,
    chunk: u64,
    max: u64,
) -> PortResult<Vec<u8>> {
    if meta.size > max {
        return Err(crate::ports::PortError::Rejected(format!(
            "{} is {} bytes; at most {max} are read whole",
            file.location(),
            meta.size
        )));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.size).unwrap_or(0));
    while (bytes.len() as u64) < meta.size {
        let range = read_range(source, file, meta, bytes.len() as u64, chunk.max(1)).await?;
        if range.bytes.is_empty() {
            break;
        }
        bytes.extend_from_slice(&range.bytes);
    }
    Ok(bytes)
}

/// An S3 Inventory data file, read whole (compressed: gzip is read from its start)
/// and opened to be decompressed forward. A size other than `listed` (what the report's
/// manifest gives it) is a `Conflict`: the file changed since the report was made.
pub async fn open_data_file(
    source: &dyn ObjectSource,
    file: &ListFile,
    listed: Option<u64>,
    chunk: u64,
) -> PortResult<Gunzip<Cursor<Vec<u8>>>> {
    let meta = source.head(&file.bucket, &file.key).await?;
    if listed.is_some_and(|size| size != meta.size) {
        return Err(crate::ports::PortError::Conflict(format!(
            "{} is {} bytes; the report lists {} bytes",
            file.location(),
            meta.size,
            listed.unwrap_or_default()
        )));
    }
    let bytes = read_whole(source, file, &meta, chunk, MAX_DATA_FILE_BYTES).await?;
    Ok(Gunzip::new(file.key.clone(), Cursor::new(bytes)))
}
