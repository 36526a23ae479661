//! The completion-report reader on inputs fuzzing found it read differently in one pass
//! and in ranges.

use gbr_core::completion_report::{ReportColumns, RowPosition, read_chunk, read_report_rows};

const SCHEMA: &str = "Bucket, Key, VersionId, TaskStatus, ErrorCode, HTTPStatusCode, ResultMessage";

/// A row that is not UTF-8 is an error of its own, with the same message in one pass
/// and in ranges, and the rows after it are read.
#[test]
fn a_row_that_is_not_utf8_spoils_only_itself() {
    let csv = b"b-1,a,,succeeded,202,,\n\x87\nb-1,c,,succeeded,202,,\n";
    let columns = ReportColumns::from_schema(SCHEMA).unwrap();
    let whole: Vec<_> = read_report_rows(columns, csv).collect();
    assert_eq!(whole.len(), 3, "{whole:?}");
    assert!(whole[0].is_ok() && whole[2].is_ok(), "{whole:?}");
    let error = whole[1].as_ref().unwrap_err();
    assert_eq!(
        (error.row, error.message.as_str()),
        (2, "field 1 is not valid UTF-8")
    );

    // The first read ends at the bad row's end, so the second starts at it.
    let first = read_chunk(columns, &csv[..25], &RowPosition::default(), false, 10);
    assert_eq!(first.next, RowPosition { row: 1, byte: 23 });
    let second = read_chunk(columns, &csv[23..], &first.next, true, 10);
    let ranges: Vec<_> = first.rows.into_iter().chain(second.rows).collect();
    assert_eq!(ranges, whole);
}

/// A row that starts with a byte order mark mid-file reads the same in one pass and in
/// a read that starts at it: the CSV parser drops a mark at the start of its input.
#[test]
fn a_byte_order_mark_mid_file_reads_the_same_in_ranges() {
    let csv = b"b-1,a,,succeeded,202,,\n\xef\xbb\xbfb-1,c,,succeeded,202,,\n";
    let columns = ReportColumns::from_schema(SCHEMA).unwrap();
    let whole: Vec<_> = read_report_rows(columns, csv).collect();
    assert!(
        whole[1]
            .as_ref()
            .is_err_and(|e| e.message.contains("bucket name")),
        "{whole:?}"
    );
    let first = read_chunk(columns, csv, &RowPosition::default(), true, 1);
    let second = read_chunk(
        columns,
        &csv[usize::try_from(first.next.byte).unwrap()..],
        &first.next,
        true,
        1,
    );
    let ranges: Vec<_> = first.rows.into_iter().chain(second.rows).collect();
    assert_eq!(ranges, whole);
}
