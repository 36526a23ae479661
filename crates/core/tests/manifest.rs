//! The manifest parser against the shapes real manifests take.

use gbr_core::manifest::{
    LineProblem, MAX_ROW_BYTES, ManifestCursor, ManifestError, ManifestReader, ManifestRow,
    check_manifest, read_chunk,
};
use gbr_core::object_id::{ObjectId, percent_encode_key};
use proptest::prelude::*;

fn rows(input: &str) -> Vec<Result<ManifestRow, (u64, LineProblem)>> {
    ManifestReader::new(input.as_bytes())
        .map(|r| r.map_err(|e| (e.line, e.problem)))
        .collect()
}

fn id(bucket: &str, key: &str, version: Option<&str>) -> ObjectId {
    ObjectId::new(bucket, key, version.map(str::to_owned)).unwrap()
}

#[test]
fn reads_crlf_bom_quotes_blank_lines_and_encoded_keys() {
    let input = "\u{feff}photos-1,a%20b.jpg\r\n\r\nphotos-1,\"with,comma\"\r\n   \nphotos-1,caf%C3%A9/%E2%9C%93\r\nphotos-1,c++%2B";
    let got: Vec<_> = rows(input).into_iter().map(Result::unwrap).collect();
    let lines: Vec<u64> = got.iter().map(|r| r.line).collect();
    assert_eq!(lines, [1, 3, 5, 6]);
    let objects: Vec<_> = got.into_iter().map(|r| r.object).collect();
    assert_eq!(
        objects,
        [
            id("photos-1", "a b.jpg", None),
            id("photos-1", "with,comma", None),
            id("photos-1", "café/✓", None),
            id("photos-1", "c+++", None),
        ]
    );
}

#[test]
fn version_ids_must_be_on_every_row_or_none() {
    let got = rows("b-1,k1,v1\nb-1,k2\nb-1,k3,v3\n");
    assert_eq!(got[0].as_ref().unwrap().object, id("b-1", "k1", Some("v1")));
    assert_eq!(got[1], Err((2, LineProblem::MissingVersion)));
    assert!(got[2].is_ok());
    let got = rows("b-1,k1\nb-1,k2,v2\n");
    assert_eq!(got[1], Err((2, LineProblem::UnexpectedVersion)));
}

#[test]
fn malformed_lines_carry_their_line_numbers() {
    let input = "Bucket,Key\nb-1\nb-1,k,v,extra\nb-1,%FF\nb-1,\nbad_bucket,k\nb-1,ok\n";
    let got = rows(input);
    let errors: Vec<u64> = got
        .iter()
        .filter_map(|r| r.as_ref().err().map(|e| e.0))
        .collect();
    assert_eq!(errors, [1, 2, 3, 4, 5, 6]);
    assert_eq!(got[1], Err((2, LineProblem::FieldCount { fields: 1 })));
    assert_eq!(got[2], Err((3, LineProblem::FieldCount { fields: 4 })));
    assert!(got[6].is_ok());
    let mut bytes = b"b-1,ok\nb-1,\xff\xfe\n".to_vec();
    bytes.extend_from_slice(b"b-1,fine\n");
    let got: Vec<_> = ManifestReader::new(bytes.as_slice()).collect();
    assert_eq!(got[1].as_ref().unwrap_err().problem, LineProblem::NotUtf8);
    assert_eq!(got[1].as_ref().unwrap_err().line, 2);
    assert!(got[2].is_ok());
}

#[test]
fn a_line_break_in_a_quoted_field_is_an_error_on_the_line_the_quote_opens() {
    let got = rows("b-1,\"a\nb\"\nb-1,%ZZ\n");
    assert_eq!(got[0], Err((1, LineProblem::LineBreakInField)));
    assert!(
        matches!(got[1], Err((3, LineProblem::Object { .. }))),
        "{got:?}"
    );
}

/// An unterminated quote reads every later line into one field: the rows after it
/// must not vanish silently.
#[test]
fn an_unterminated_quote_is_an_error_not_a_key() {
    let input = "b-1,ok\nb-1,\"abc\nb-1,d\nb-1,e\n";
    let got = rows(input);
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[1], Err((2, LineProblem::LineBreakInField)));
    let summary = check_manifest(input.as_bytes());
    assert_eq!(summary.errors.len(), 1);
    assert!(summary.validate().is_err());
    assert!(
        summary.errors[0]
            .to_string()
            .contains("closing quote missing"),
        "{}",
        summary.errors[0]
    );
}

#[test]
fn a_row_longer_than_the_bound_stops_reading_with_its_line() {
    let mut input = b"b-1,first\n".to_vec();
    input.extend(std::iter::repeat_n(b'a', 9 * 1024 * 1024));
    input.extend_from_slice(b"\nb-1,after\n");
    let got: Vec<_> = ManifestReader::new(input.as_slice()).collect();
    assert!(got[0].is_ok());
    let err = got[1].as_ref().unwrap_err();
    assert_eq!(
        (err.line, &err.problem),
        (2, &LineProblem::TooLong { max: MAX_ROW_BYTES })
    );
    assert_eq!(got.len(), 2, "nothing is read past a row too long");

    // Endless input with no line end (as /dev/zero) ends with the same error.
    let zeros = std::io::Read::take(std::io::repeat(0), 64 * 1024 * 1024);
    let got: Vec<_> = ManifestReader::new(zeros).collect();
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].as_ref().unwrap_err().problem,
        LineProblem::TooLong { max: MAX_ROW_BYTES }
    );
}

#[test]
fn the_null_version_id_is_a_version_id() {
    let s = check_manifest("b-1,k,null\nb-1,k2,\n".as_bytes());
    assert!(s.versioned, "a row with version id null has a version id");
    assert_eq!(s.errors.len(), 1);
    assert_eq!(s.errors[0].line, 2);
    assert_eq!(s.errors[0].problem, LineProblem::MissingVersion);
}

#[test]
fn every_malformed_line_is_counted_and_the_first_ten_listed() {
    let input: String = (0..100).map(|i| format!("b-1,k{i},v,extra\n")).collect();
    let err = check_manifest(input.as_bytes()).validate().unwrap_err();
    let ManifestError::Malformed { count, first } = &err else {
        panic!("{err:?}");
    };
    assert_eq!((*count, first.len()), (100, 10));
    let text = err.to_string();
    assert!(
        text.starts_with("the manifest has 100 malformed line(s); the first 10: line 1:"),
        "{text}"
    );
    assert!(
        text.contains("line 10:") && !text.contains("line 11:"),
        "{text}"
    );
}

#[test]
fn summary_counts_buckets_duplicates_errors_and_warnings() {
    let input = "b-1,a\nb-2,a\nb-1,a\nb-1,%61\nb-1,x+y\nnope\n";
    let s = check_manifest(input.as_bytes());
    assert_eq!(s.objects, 3);
    assert_eq!(s.rows, 5);
    assert_eq!(s.buckets.get("b-1"), Some(&2));
    assert_eq!(s.buckets.get("b-2"), Some(&1));
    let dups: Vec<(u64, u64)> = s
        .duplicates
        .iter()
        .map(|d| (d.line, d.first_line))
        .collect();
    assert_eq!(dups, [(3, 1), (4, 1)]);
    assert_eq!(s.errors.len(), 1);
    assert_eq!(s.errors[0].line, 6);
    assert_eq!(s.warnings.len(), 1);
    assert_eq!(s.warnings[0].line, 5);
    assert!(
        matches!(s.validate(), Err(ManifestError::Malformed { count: 1, first }) if first.len() == 1)
    );
}

#[test]
fn an_empty_manifest_is_an_error() {
    assert_eq!(
        check_manifest("\n\r\n".as_bytes()).validate(),
        Err(ManifestError::Empty)
    );
    assert_eq!(
        check_manifest("".as_bytes()).validate(),
        Err(ManifestError::Empty)
    );
    assert_eq!(check_manifest("b-1,k\n".as_bytes()).validate(), Ok(()));
}

#[test]
fn buckets_outside_the_allowed_set_are_rejected() {
    let got: Vec<_> = ManifestReader::new("b-1,k\nb-2,k\n".as_bytes())
        .allow_buckets(["b-1".to_owned()])
        .collect();
    assert!(got[0].is_ok());
    let err = got[1].as_ref().unwrap_err();
    assert_eq!(err.line, 2);
    assert!(
        matches!(&err.problem, LineProblem::BucketNotAllowed { bucket, .. } if bucket == "b-2")
    );
}

/// Reads `input` a few rows at a time, resuming from the cursor each time, as the
/// register-manifest Lambda does across invocations.
fn read_in_chunks(input: &[u8], rows_per_chunk: usize) -> Vec<Result<ManifestRow, (u64, String)>> {
    let mut cursor = ManifestCursor::default();
    let mut out = Vec::new();
    loop {
        let start = usize::try_from(cursor.byte).unwrap();
        let mut reader = ManifestReader::resume(&input[start..], cursor.clone());
        let chunk: Vec<_> = reader.by_ref().take(rows_per_chunk).collect();
        if chunk.is_empty() {
            return out;
        }
        cursor = reader.cursor().clone();
        out.extend(
            chunk
                .into_iter()
                .map(|r| r.map_err(|e| (e.line, e.to_string()))),
        );
    }
}

/// Reads `input` as register-manifest does: ranges of `read_bytes` from the cursor, at
/// most `max_rows` rows a read. `Err` when the reading stopped at a row longer than a
/// read, with the rows read until then (the last one saying why).
type Rows = Vec<Result<ManifestRow, (u64, String)>>;

fn read_in_ranges(input: &[u8], read_bytes: usize, max_rows: u64) -> Result<Rows, Rows> {
    let mut cursor = ManifestCursor::default();
    let mut out = Vec::new();
    loop {
        let start = usize::try_from(cursor.byte).unwrap();
        let end = (start + read_bytes).min(input.len());
        let chunk = read_chunk(
            &input[start..end],
            &cursor,
            end == input.len(),
            max_rows,
            None,
        );
        out.extend(
            chunk
                .rows
                .into_iter()
                .map(|r| r.map_err(|e| (e.line, e.to_string()))),
        );
        if chunk.stopped {
            return Err(out);
        }
        if chunk.finished {
            return Ok(out);
        }
        assert!(chunk.next.byte > cursor.byte, "no progress at {cursor:?}");
        cursor = chunk.next;
    }
}

fn manifest_line() -> impl Strategy<Value = String> {
    prop_oneof![
        ("\\PC{1,30}", proptest::bool::ANY).prop_map(|(key, quote)| {
            let key = percent_encode_key(&key);
            if quote {
                format!("b-1,\"{key}\"")
            } else {
                format!("b-1,{key}")
            }
        }),
        Just(String::new()),
        "[a-z,%\"]{0,12}",
    ]
}

proptest! {
    #[test]
    fn never_panics_on_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let s = check_manifest(bytes.as_slice());
        prop_assert!(s.objects <= s.rows);
    }

    #[test]
    fn valid_rows_round_trip(keys in proptest::collection::vec("\\PC{1,60}", 1..30), crlf: bool) {
        let end = if crlf { "\r\n" } else { "\n" };
        let text: String = keys.iter().map(|k| format!("b-1,{}{end}", percent_encode_key(k))).collect();
        let got: Vec<String> = ManifestReader::new(text.as_bytes())
            .map(|r| r.unwrap().object.key().to_owned())
            .collect();
        prop_assert_eq!(got, keys);
    }

    #[test]
    fn resuming_from_a_cursor_reads_the_same_rows(
        lines in proptest::collection::vec(manifest_line(), 0..25),
        crlf: bool,
        per_chunk in 1usize..5,
    ) {
        let end = if crlf { "\r\n" } else { "\n" };
        let text: String = lines.iter().map(|l| format!("{l}{end}")).collect();
        let whole: Vec<_> = ManifestReader::new(text.as_bytes())
            .map(|r| r.map_err(|e| (e.line, e.to_string())))
            .collect();
        prop_assert_eq!(read_in_chunks(text.as_bytes(), per_chunk), whole);
    }

    /// Byte ranges of any size and any row limit, resumed from the cursor each time,
    /// read the same rows as one pass; or the same rows up to one longer than a read (a
    /// long line, or a quote that opens a field running over several lines), and stop.
    #[test]
    fn reading_in_byte_ranges_reads_the_same_rows(
        lines in proptest::collection::vec(manifest_line(), 0..25),
        crlf: bool,
        read_bytes in 1usize..200,
        max_rows in 1u64..6,
    ) {
        let end = if crlf { "\r\n" } else { "\n" };
        let text: String = lines.iter().map(|l| format!("{l}{end}")).collect();
        let whole: Vec<_> = ManifestReader::new(text.as_bytes())
            .map(|r| r.map_err(|e| (e.line, e.to_string())))
            .collect();
        let longest_line = text.split_inclusive('\n').map(str::len).max().unwrap_or(0);
        match read_in_ranges(text.as_bytes(), read_bytes, max_rows) {
            Ok(rows) => prop_assert_eq!(rows, whole),
            Err(rows) => {
                let (last, before) = rows.split_last().expect("the stopping row");
                prop_assert_eq!(before, &whole[..before.len()]);
                let (line, why) = last.as_ref().expect_err("a stop is an error");
                let quote_open = why.contains("quoted field");
                prop_assert!(
                    quote_open || longest_line >= read_bytes,
                    "line {line} stopped reads of {read_bytes} bytes: {why}"
                );
            }
        }
    }
}

/// A line that starts with a byte order mark mid-file (files joined with `cat`) reads
/// the same from wherever reading resumes: the CSV parser drops a mark at the start of
/// its input, which for a resumed reader is not the file's start.
#[test]
fn a_byte_order_mark_mid_file_reads_the_same_from_any_cursor() {
    for end in ["\n", "\r\n"] {
        let text = format!("b-1,k\n\u{feff}{end}b-1,%ZZ\n\u{feff}b-1,k2\nb-1,k3\n");
        let input = text.as_bytes();
        let mut reader = ManifestReader::new(input);
        let mut rows = Vec::new();
        let mut cursors = vec![reader.cursor().clone()];
        while let Some(row) = reader.next() {
            rows.push(row);
            cursors.push(reader.cursor().clone());
        }
        let lines: Vec<u64> = rows
            .iter()
            .map(|r| r.as_ref().map_or_else(|e| e.line, |row| row.line))
            .collect();
        assert_eq!(lines, [1, 3, 4, 5]);
        assert!(
            matches!(&rows[2], Err(e) if matches!(e.problem, LineProblem::Object { .. })),
            "a bucket name starting with a byte order mark is not a bucket name: {:?}",
            rows[2]
        );
        for (i, cursor) in cursors.into_iter().enumerate() {
            let start = usize::try_from(cursor.byte).unwrap();
            let resumed: Vec<_> = ManifestReader::resume(&input[start..], cursor).collect();
            assert_eq!(
                resumed,
                rows[i..],
                "resumed after row {i}, lines ending {end:?}"
            );
        }
        let whole: Rows = rows
            .into_iter()
            .map(|r| r.map_err(|e| (e.line, e.to_string())))
            .collect();
        // Reads longer than every line, one row a read.
        for read_bytes in 11..=input.len() {
            assert_eq!(
                read_in_ranges(input, read_bytes, 1).as_ref(),
                Ok(&whole),
                "reads of {read_bytes} bytes, lines ending {end:?}"
            );
        }
    }
}

/// The CSV parser drops a byte order mark at the file's start: a line holding only the
/// mark still counts as a line.
#[test]
fn a_line_holding_only_a_byte_order_mark_counts() {
    assert_eq!(
        rows("\u{feff}\nb-1,%ZZ\n")[0].as_ref().map_err(|e| e.0),
        Err(2)
    );
    assert_eq!(
        rows("\u{feff}\r\n\r\nb-1,%ZZ\n")[0]
            .as_ref()
            .map_err(|e| e.0),
        Err(3)
    );
}

/// Blank lines before a row do not make the row longer than a read: the next read
/// starts after them. Each read here holds the blank lines and a part of the row.
#[test]
fn blank_lines_before_a_row_do_not_stop_reading_in_ranges() {
    let cases: [(&[u8], usize); 3] = [
        // A byte order mark, line ends, white space.
        (b"\xef\xbb\xbf\r\n \t\nb-1,key\n", 11),
        // Two marks at the start: the CSV parser drops one, the reader the other.
        (b"\xef\xbb\xbf\xef\xbb\xbf\n b-1,D\na", 14),
        // A quoted empty field.
        (b"\"\"\r\n192.168.0.1,photos-15-1.a%5B0%5Db-1,null\n ", 45),
    ];
    for (input, read_bytes) in cases {
        let whole: Rows = ManifestReader::new(input)
            .map(|r| r.map_err(|e| (e.line, e.to_string())))
            .collect();
        assert!(!whole.is_empty());
        assert_eq!(
            read_in_ranges(input, read_bytes, 10),
            Ok(whole),
            "{}",
            input.escape_ascii()
        );
    }
}

/// A read holding only a byte order mark (which the CSV parser drops) and line ends
/// holds no row, and is not a row longer than a read.
#[test]
fn a_read_of_a_byte_order_mark_and_line_ends_is_read_past() {
    for input in [&b"\xef\xbb\xbf\r\n"[..], b"\xef\xbb\xbf\n\r\n"] {
        assert_eq!(read_in_ranges(input, input.len() - 1, 10), Ok(Vec::new()));
    }
}

/// Only a byte order mark at the file's first byte is taken off a row, not one after a
/// row ended by a lone CR or after line ends: a reader resumed there keeps it.
#[test]
fn only_a_byte_order_mark_at_the_first_byte_is_taken_off() {
    for input in [
        &b"b-1,k\r\xef\xbb\xbfb-1,k2\n"[..],
        b"\r\r\xef\xbb\xbfb-1,k2\n",
    ] {
        let rows: Vec<_> = ManifestReader::new(input).collect();
        let last = rows.last().expect("a row");
        assert!(
            matches!(last, Err(e) if matches!(e.problem, LineProblem::Object { .. })),
            "{}: {last:?}",
            input.escape_ascii()
        );
    }
    let rows: Vec<_> = ManifestReader::new(&b"\xef\xbb\xbfb-1,k\n"[..]).collect();
    assert!(rows[0].is_ok(), "{rows:?}");
}
