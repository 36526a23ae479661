//! The manifest reader (`gbr_core::manifest`): it never panics; a reader resumed from
//! its cursor every few rows, and `read_chunk` over byte ranges of any size with any
//! row limit, read the rows one pass reads, or (ranges only) stop at a row longer than
//! a range or a quoted field that runs over lines. The oracle is that of the property
//! test `reading_in_byte_ranges_reads_the_same_rows` in `crates/core/tests/manifest.rs`,
//! with rows measured as the CSV parser reads them rather than by lines.

use gbr_core::manifest::{
    LineError, LineProblem, ManifestCursor, ManifestReader, ManifestRow, check_manifest, read_chunk,
};
use gbr_core::object_id::percent_encode_key;

use super::mutate::{Dictionary, mutate_bytes, random_string};
use super::{Bytes, Rng, Target, removals};

pub const NAME: &str = "manifest";

type Rows = Vec<Result<ManifestRow, LineError>>;

#[derive(Debug)]
pub struct Case {
    text: Bytes,
    read_bytes: usize,
    max_rows: u64,
    rows_per_resume: usize,
    allowed_buckets: Option<Vec<String>>,
}

pub struct Manifest {
    dictionary: Dictionary,
}

impl Manifest {
    pub fn new() -> Self {
        Self {
            dictionary: Dictionary::from_seeds(&[], &["b-1", "photos-1", "null", "v1"]),
        }
    }

    fn row(&self, rng: &mut Rng) -> String {
        const BUCKETS: &[&str] = &[
            "b-1",
            "b-1",
            "photos-1",
            "my.bucket",
            "B-1",
            "bad_bucket",
            "ab",
            "192.168.0.1",
            "",
            " b-1",
        ];
        const VERSIONS: &[&str] = &["v1", "null", "", "3HL4kqtJvjVBH40Nrjfkd", "v,1", "\"v\""];
        match rng.below(12) {
            0 => String::new(),
            1 => (*rng.pick(&[
                "   ",
                "\u{feff}",
                "Bucket,Key",
                "b-1",
                "b-1,k,v,x",
                ",",
                "\"",
            ]))
            .to_owned(),
            2 => {
                // Bytes of the characters the parser cares about.
                const ALPHABET: &[u8] = b"b-1,,,%%\"\"\" +a\t";
                let len = rng.below(16);
                (0..len).map(|_| char::from(*rng.pick(ALPHABET))).collect()
            }
            _ => {
                let mut key = random_string(rng, &self.dictionary);
                if key.is_empty() || rng.one_in(4) {
                    key.push_str(&"k".repeat(1 + rng.below(3)));
                }
                if !rng.one_in(5) {
                    key = percent_encode_key(&key);
                }
                let key = match rng.below(6) {
                    0 => format!("\"{}\"", key.replace('"', "\"\"")),
                    // A quote that never closes.
                    1 if rng.one_in(4) => format!("\"{key}"),
                    _ => key,
                };
                let bucket = *rng.pick(BUCKETS);
                let bucket = if rng.one_in(10) {
                    format!("\"{bucket}\"")
                } else {
                    bucket.to_owned()
                };
                match rng.below(4) {
                    0 => format!("{bucket},{key},{}", rng.pick(VERSIONS)),
                    _ => format!("{bucket},{key}"),
                }
            }
        }
    }
}

impl Target for Manifest {
    type Input = Case;
    const NAME: &'static str = NAME;

    fn generate(&self, rng: &mut Rng) -> Case {
        let mut text = Vec::new();
        if rng.one_in(10) {
            text.extend_from_slice("\u{feff}".as_bytes());
        }
        for _ in 0..rng.below(20) {
            text.extend_from_slice(self.row(rng).as_bytes());
            let end = match rng.below(20) {
                0..=12 => "\n",
                13..=17 => "\r\n",
                18 => "\r",
                _ => "\n\r\n",
            };
            text.extend_from_slice(end.as_bytes());
        }
        if rng.one_in(3) {
            // No line end after the last row.
            let last = text.iter().rposition(|b| *b != b'\n' && *b != b'\r');
            text.truncate(last.map_or(0, |i| i + 1));
        }
        if rng.one_in(4) {
            mutate_bytes(rng, &mut text, &self.dictionary);
        }
        let read_bytes = if rng.one_in(2) {
            1 + rng.below(24)
        } else {
            1 + rng.up_to(text.len() + 8)
        };
        Case {
            read_bytes,
            max_rows: if rng.one_in(5) {
                u64::MAX
            } else {
                1 + rng.below(6) as u64
            },
            rows_per_resume: 1 + rng.below(5),
            allowed_buckets: rng.one_in(8).then(|| vec!["b-1".to_owned()]),
            text: Bytes(text),
        }
    }

    fn check(&self, case: &Case) {
        let bytes = case.text.0.as_slice();
        let allowed = case.allowed_buckets.as_deref();
        let whole: Rows = open_reader(bytes, ManifestCursor::default(), allowed).collect();
        if allowed.is_none() {
            let summary = check_manifest(bytes);
            assert!(summary.objects <= summary.rows, "{summary:?}");
            assert_eq!(
                summary.rows + summary.errors.len() as u64,
                whole.len() as u64,
                "check_manifest counted other rows than the reader read"
            );
            let _ = summary.validate().map_err(|e| e.to_string());
        }
        assert_eq!(
            read_resuming(bytes, case.rows_per_resume, allowed),
            whole,
            "a reader resumed from its cursor every {} rows read other rows",
            case.rows_per_resume
        );
        match read_in_ranges(bytes, case.read_bytes, case.max_rows, allowed) {
            Ok(rows) => assert_eq!(rows, whole, "reading in byte ranges read other rows"),
            Err(rows) => {
                let (last, before) = rows.split_last().expect("the stopping row");
                assert_eq!(
                    whole.get(..before.len()),
                    Some(before),
                    "the rows before a stop differ from one pass"
                );
                let problem = &last.as_ref().expect_err("a stop is an error").problem;
                assert!(
                    *problem == LineProblem::LineBreakInField
                        || longest_record(bytes) >= case.read_bytes,
                    "reads of {} bytes stopped ({problem}) though no row is that long",
                    case.read_bytes
                );
            }
        }
    }

    fn shrink<'a>(&self, case: &'a Case) -> Box<dyn Iterator<Item = Case> + 'a> {
        Box::new(removals(&case.text.0).map(|text| Case {
            text: Bytes(text),
            allowed_buckets: case.allowed_buckets.clone(),
            ..*case
        }))
    }
}

fn open_reader<'a>(
    bytes: &'a [u8],
    cursor: ManifestCursor,
    allowed: Option<&[String]>,
) -> ManifestReader<&'a [u8]> {
    let reader = ManifestReader::resume(bytes, cursor);
    match allowed {
        Some(buckets) => reader.allow_buckets(buckets.iter().cloned()),
        None => reader,
    }
}

/// Reads `rows_per_resume` rows at a time, each time with a new reader resumed from the
/// last one's cursor.
fn read_resuming(input: &[u8], rows_per_resume: usize, allowed: Option<&[String]>) -> Rows {
    let mut cursor = ManifestCursor::default();
    let mut out = Vec::new();
    loop {
        let start = usize::try_from(cursor.byte).expect("a small offset");
        let mut reader = open_reader(&input[start..], cursor.clone(), allowed);
        let rows: Rows = reader.by_ref().take(rows_per_resume).collect();
        if rows.is_empty() {
            return out;
        }
        cursor = reader.cursor().clone();
        out.extend(rows);
    }
}

/// Reads as register-manifest does: ranges of `read_bytes` from the cursor, at most
/// `max_rows` rows a read. `Err` when the reading stopped, with the rows read until
/// then (the last one saying why).
fn read_in_ranges(
    input: &[u8],
    read_bytes: usize,
    max_rows: u64,
    allowed: Option<&[String]>,
) -> Result<Rows, Rows> {
    let mut cursor = ManifestCursor::default();
    let mut out = Vec::new();
    loop {
        let start = usize::try_from(cursor.byte).expect("a small offset");
        let end = (start + read_bytes).min(input.len());
        let chunk = read_chunk(
            &input[start..end],
            &cursor,
            end == input.len(),
            max_rows,
            allowed,
        );
        out.extend(chunk.rows);
        if chunk.stopped {
            return Err(out);
        }
        if chunk.finished {
            assert_eq!(
                chunk.next.byte,
                input.len() as u64,
                "finished short of the end"
            );
            return Ok(out);
        }
        assert!(chunk.next.byte > cursor.byte, "no progress at {cursor:?}");
        cursor = chunk.next;
    }
}

/// The most bytes a record (a row, or a line the reader skips as blank) takes, from the
/// line ends before it to its end: a read shorter than that may hold no whole row. A
/// record is longer than its line when a quoted field holds a line break; a read
/// shorter than a leading byte order mark cannot hold the mark.
fn longest_record(bytes: &[u8]) -> usize {
    let mark = if bytes.starts_with(b"\xef\xbb\xbf") {
        3
    } else {
        0
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let mut record = csv::ByteRecord::new();
    let (mut last_end, mut longest) = (0, mark);
    while reader.read_byte_record(&mut record).unwrap_or(false) {
        let end = usize::try_from(reader.position().byte()).expect("a small offset");
        let line_ends = bytes[last_end..end]
            .iter()
            .take_while(|b| matches!(b, b'\r' | b'\n'))
            .count();
        longest = longest.max(end - last_end - line_ends);
        last_end = end;
    }
    longest
}
