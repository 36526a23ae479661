//! S3 Inventory reports as manifests: the manifests and data files in
//! `tests/fixtures/aws/inventory/` (documented by AWS, written by AWS, or constructed
//! from the documented schema; each file's source is in the fixtures' README), and
//! data files read in ranges from any cursor.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;
use gbr_core::inventory::{
    Gunzip, InventoryCursor, InventoryError, InventoryFile, InventoryLineError, InventoryManifest,
    InventoryRow, MAX_EXPANSION, RowDecision, RowProblem, SkipReason, read_chunk,
};
use gbr_core::list_source::ListFile;
use gbr_core::object_id::ObjectId;
use gbr_core::request::StorageClass;
use proptest::prelude::*;

fn fixture_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/aws/inventory")
        .join(name)
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixture_path(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn manifest(name: &str) -> InventoryManifest {
    InventoryManifest::parse(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// Every row of a whole data file, decompressed in one read and decoded in one chunk.
fn read_all(manifest: &InventoryManifest, file: &str, compressed: &[u8]) -> Vec<InventoryRow> {
    let read = Gunzip::new(file, compressed)
        .read_range(0, u64::MAX)
        .unwrap();
    assert!(read.ends_file);
    let chunk = read_chunk(
        manifest,
        file,
        &read.bytes,
        &InventoryCursor::default(),
        true,
        u64::MAX,
        None,
    );
    assert!(chunk.finished && !chunk.stopped);
    chunk
        .rows
        .into_iter()
        .map(|r| r.unwrap_or_else(|e| panic!("{e}")))
        .collect()
}

fn id(bucket: &str, key: &str, version: Option<&str>) -> ObjectId {
    ObjectId::new(bucket, key, version.map(str::to_owned)).unwrap()
}

fn restore(size: u64, class: StorageClass, latest: bool) -> RowDecision {
    RowDecision::Restore {
        size: Some(size),
        storage_class: Some(class),
        is_latest: Some(latest),
    }
}

fn skip(reason: SkipReason) -> RowDecision {
    RowDecision::Skip { reason }
}

fn not_archived(class: &str) -> RowDecision {
    skip(SkipReason::NotArchived {
        storage_class: class.to_owned(),
    })
}

const SCHEMA_2023: [&str; 18] = [
    "Bucket",
    "Key",
    "VersionId",
    "IsLatest",
    "IsDeleteMarker",
    "Size",
    "LastModifiedDate",
    "ETag",
    "StorageClass",
    "IsMultipartUploaded",
    "ReplicationStatus",
    "EncryptionStatus",
    "ObjectLockRetainUntilDate",
    "ObjectLockMode",
    "ObjectLockLegalHoldStatus",
    "IntelligentTieringAccessTier",
    "BucketKeyStatus",
    "ChecksumAlgorithm",
];

#[test]
fn the_user_guide_csv_manifest_parses_with_its_file_list_and_schema() {
    let m = manifest("manifest.csv.s3-user-guide-2023.json");
    assert_eq!(m.source_bucket, "example-source-bucket");
    assert_eq!(m.destination_bucket, "example-inventory-destination-bucket");
    assert_eq!(m.version, "2016-11-30");
    assert_eq!(m.creation_timestamp, "1514944800000");
    let key = "Inventory/example-source-bucket/2016-11-06T21-32Z/files/939c6d46-85a9-4ba8-87bd-9db705a579ce.csv.gz";
    assert_eq!(
        m.files,
        [InventoryFile {
            key: key.into(),
            size: 2147483647,
            md5_checksum: "f11166069f1990abeb9c97ace9cdfabc".into(),
        }]
    );
    assert_eq!(
        m.list_files(),
        [ListFile::new("example-inventory-destination-bucket", key)]
    );
    assert_eq!(m.schema.names(), SCHEMA_2023);
    for (i, name) in SCHEMA_2023.iter().enumerate() {
        assert_eq!(m.schema.column(name), Some(i));
    }

    // The current page adds two columns at the end and renames the source bucket.
    let current = manifest("manifest.csv.s3-user-guide-current.json");
    assert_eq!(current.source_bucket, "amzn-s3-demo-source-bucket");
    assert_eq!(&current.schema.names()[..18], SCHEMA_2023);
    assert_eq!(
        &current.schema.names()[18..],
        ["ObjectAccessControlList", "ObjectOwner"]
    );
}

/// `manifest.checksum` is "the MD5 of the content of the `manifest.json` file": in the
/// reports AWS wrote, 32 lowercase hex digits and a line end.
#[test]
fn the_manifest_checksums_aws_wrote_are_an_md5_in_hex_and_a_line_end() {
    for (name, md5) in [
        (
            "csv-all-versions.captured.manifest.checksum",
            "aba9b0a905f716a38bb3472b590cf2a5",
        ),
        (
            "csv-current-versions.captured.manifest.checksum",
            "92a365e92abc05841c25a19d7d5c2c23",
        ),
    ] {
        assert_eq!(fixture(name), format!("{md5}\n").into_bytes(), "{name}");
    }
}

#[test]
fn orc_and_parquet_reports_are_refused_because_batch_operations_takes_only_csv() {
    for (name, format) in [
        ("manifest.orc.s3-user-guide-2023.json", "ORC"),
        ("manifest.parquet.s3-user-guide-2023.json", "Parquet"),
        ("orc.captured.manifest.json", "ORC"),
        ("parquet.captured.manifest.json", "Parquet"),
    ] {
        let err = InventoryManifest::parse(&fixture(name)).unwrap_err();
        assert_eq!(
            err,
            InventoryError::UnsupportedFormat {
                format: format.into()
            },
            "{name}"
        );
        let message = err.to_string();
        assert!(
            message.contains("only CSV inventory reports are supported")
                && message.contains("S3 Batch Operations accepts only CSV-formatted"),
            "{message}"
        );
    }
}

/// The User Guide's CSV manifest with one field changed.
fn edited_manifest(
    field: &str,
    value: serde_json::Value,
) -> Result<InventoryManifest, InventoryError> {
    let mut json: serde_json::Value =
        serde_json::from_slice(&fixture("manifest.csv.s3-user-guide-2023.json")).unwrap();
    json[field] = value;
    InventoryManifest::parse(json.to_string().as_bytes())
}

#[test]
fn manifests_without_bucket_and_key_columns_or_of_another_shape_are_refused() {
    let schema = SCHEMA_2023.join(", ");
    let without = |column: &str| {
        let others: Vec<&str> = SCHEMA_2023
            .iter()
            .copied()
            .filter(|c| *c != column)
            .collect();
        edited_manifest("fileSchema", others.join(", ").into())
    };
    assert!(matches!(
        without("Key"),
        Err(InventoryError::MissingColumn { column: "Key", .. })
    ));
    assert!(matches!(
        without("Bucket"),
        Err(InventoryError::MissingColumn {
            column: "Bucket",
            ..
        })
    ));
    assert!(edited_manifest("fileSchema", schema.into()).is_ok());
    assert!(matches!(
        edited_manifest(
            "destinationBucket",
            "example-inventory-destination-bucket".into()
        ),
        Err(InventoryError::DestinationBucket { .. })
    ));
    assert!(matches!(
        edited_manifest(
            "files",
            serde_json::json!([{"key": "k", "size": -1, "MD5checksum": ""}])
        ),
        Err(InventoryError::Manifest { .. })
    ));
    assert!(matches!(
        edited_manifest("sourceBucket", "Not_A_Bucket".into()),
        Err(InventoryError::Manifest { .. })
    ));
    assert!(matches!(
        InventoryManifest::parse(b"{\"fileFormat\": \"CSV\"}"),
        Err(InventoryError::Manifest { .. })
    ));
}

#[test]
fn the_report_aws_wrote_of_all_versions_reads_row_by_row() {
    let m = manifest("csv-all-versions.captured.manifest.json");
    assert_eq!(m.source_bucket, "filemanager-inventory-test");
    assert_eq!(m.destination_bucket, "filemanager-inventory-test");
    assert_eq!(m.creation_timestamp, "1715043600000");
    assert_eq!(m.schema.names(), SCHEMA_2023);
    assert_eq!(
        m.files,
        [InventoryFile {
            key: "csv_inventory.csv.gz".into(),
            size: 331,
            md5_checksum: "c473bcc2407d0a5cec5229b21d967e59".into(),
        }]
    );
    let data = fixture("csv-all-versions.captured.csv.gz");
    assert_eq!(data.len() as u64, m.files[0].size);

    let b = "filemanager-inventory-test";
    let rows: Vec<(u64, ObjectId, RowDecision)> = read_all(&m, "csv_inventory.csv.gz", &data)
        .into_iter()
        .map(|r| (r.line, r.object, r.decision))
        .collect();
    assert_eq!(
        rows,
        [
            // Written before versioning was on: the empty version id is the null version.
            (
                1,
                id(b, "inventory-test/", Some("null")),
                not_archived("STANDARD")
            ),
            (
                2,
                id(b, "inventory-test/key1", Some("null")),
                not_archived("STANDARD")
            ),
            (
                3,
                id(
                    b,
                    "inventory-test/key1",
                    Some("tpinzcbxOfWpZsmjvVgdHEvSohsY4TA0")
                ),
                not_archived("STANDARD")
            ),
            // The delete marker's row has no size, ETag or storage class.
            (
                4,
                id(
                    b,
                    "inventory-test/key2",
                    Some("gdN1exfZmD7m713patv8dlQ7fTNwle3v")
                ),
                skip(SkipReason::DeleteMarker)
            ),
            (
                5,
                id(
                    b,
                    "inventory-test/key2",
                    Some("zl_C7NLxrkBsMFD5HQUdybrmuV9VpvkN")
                ),
                not_archived("STANDARD")
            ),
        ]
    );
}

#[test]
fn the_report_aws_wrote_of_current_versions_names_no_versions() {
    let m = manifest("csv-current-versions.captured.manifest.json");
    assert_eq!(m.schema.column("VersionId"), None);
    assert_eq!(m.files[0].size, 193);
    let data = fixture("csv-current-versions.captured.csv.gz");
    assert_eq!(data.len() as u64, m.files[0].size);
    let rows: Vec<ObjectId> = read_all(&m, "f", &data)
        .into_iter()
        .map(|r| {
            assert_eq!(r.decision, not_archived("STANDARD"));
            r.object
        })
        .collect();
    let b = "filemanager-inventory-test";
    assert_eq!(
        rows,
        [
            id(b, "inventory-test/", None),
            id(b, "inventory-test/key1", None)
        ]
    );
}

#[test]
fn without_a_storage_class_column_every_row_is_restored_under_the_declared_class() {
    let m = manifest("csv-no-storage-class.captured.manifest.json");
    assert_eq!(
        (m.source_bucket.as_str(), m.destination_bucket.as_str()),
        ("testsurcebucket", "inventorybucket-test1")
    );
    assert_eq!(
        m.schema.names(),
        ["Bucket", "Key", "VersionId", "IsLatest", "IsDeleteMarker"]
    );
    assert_eq!(
        m.files,
        [InventoryFile {
            key: "testsurcebucket/put-bucket-inventory-configuration/data/573a77fc-0397-4005-96d6-13a758a7635a.csv.gz".into(),
            size: 169,
            md5_checksum: "1100734f544982bc66291b44c40743c1".into(),
        }]
    );
    let row = |record: &str| m.decode_row("f", 1, record.as_bytes()).unwrap().decision;
    assert_eq!(
        row(r#""testsurcebucket","a+b","v1","false","false""#),
        RowDecision::Restore {
            size: None,
            storage_class: None,
            is_latest: Some(false)
        }
    );
    assert_eq!(
        row(r#""testsurcebucket","a+b","v2","true","true""#),
        skip(SkipReason::DeleteMarker)
    );
}

#[test]
fn only_glacier_and_deep_archive_rows_are_restored_and_the_rest_counted_by_reason() {
    let m = manifest("archive-classes.constructed.manifest.json");
    let data = fixture("archive-classes.constructed.csv.gz");
    assert_eq!(data.len() as u64, m.files[0].size);
    let b = "amzn-s3-demo-source-bucket";
    let rows: Vec<(ObjectId, RowDecision)> = read_all(&m, &m.files[0].key, &data)
        .into_iter()
        .map(|r| (r.object, r.decision))
        .collect();
    use StorageClass::{DeepArchive, Glacier};
    assert_eq!(
        rows,
        [
            (
                id(
                    b,
                    "photos/2019/beach day.jpg",
                    Some("Xb0lPiG3lv5mQhWXTd5NSczBH0jzQk8b")
                ),
                restore(5242880, Glacier, true)
            ),
            // A noncurrent version is restored as listed.
            (
                id(
                    b,
                    "photos/2019/beach day.jpg",
                    Some("t1QeHdMlBBVdDuZt2wx_Dzw.O4GsDYUk")
                ),
                restore(4194304, Glacier, false)
            ),
            (
                id(b, "archive/café menu+1.pdf", Some("null")),
                restore(73400320, DeepArchive, true)
            ),
            (
                id(
                    b,
                    "reports/2024/q1.csv",
                    Some("4xFl5JxQ_qZ1bB3UBcDnl.e3Gm6GZu2V")
                ),
                not_archived("STANDARD")
            ),
            (
                id(
                    b,
                    "media/raw/clip-0001.mov",
                    Some("Jc8nTuqYhQ0dR9a_2f3Q6v4QvHcN1WqE")
                ),
                skip(SkipReason::IntelligentTiering {
                    access_tier: "DEEP_ARCHIVE_ACCESS".into()
                })
            ),
            (
                id(
                    b,
                    "scans/page 001.tif",
                    Some("wX2lO0rM2hE_U5sD7tB8yQ1zP4aN6cVb")
                ),
                not_archived("GLACIER_IR")
            ),
            (
                id(
                    b,
                    "old/removed.txt",
                    Some("gdN1exfZmD7m713patv8dlQ7fTNwle3v")
                ),
                skip(SkipReason::DeleteMarker)
            ),
            (
                id(
                    b,
                    "old/removed.txt",
                    Some("zl_C7NLxrkBsMFD5HQUdybrmuV9VpvkN")
                ),
                restore(5, DeepArchive, false)
            ),
        ]
    );
    let mut skipped = BTreeMap::new();
    for (_, decision) in &rows {
        if let RowDecision::Skip { reason } = decision {
            *skipped.entry(reason.label().to_owned()).or_insert(0) += 1;
        }
    }
    assert_eq!(
        skipped,
        BTreeMap::from(
            [
                ("DELETE_MARKER", 1),
                ("GLACIER_IR", 1),
                ("INTELLIGENT_TIERING", 1),
                ("STANDARD", 1)
            ]
            .map(|(k, v)| (k.to_owned(), v))
        )
    );
}

fn gzip_error(file: &[u8]) -> InventoryError {
    let mut gunzip = Gunzip::new("data/x.csv.gz", file);
    let mut start = 0;
    loop {
        match gunzip.read_range(start, 64) {
            Ok(read) if read.ends_file => panic!("read to the end without an error"),
            Ok(read) => start += read.bytes.len() as u64,
            Err(e) => return e,
        }
    }
}

#[test]
fn corrupt_gzip_is_an_error_naming_the_file() {
    let good = fixture("csv-all-versions.captured.csv.gz");
    let mut flipped = good.clone();
    flipped[good.len() / 2] ^= 0x55;
    let truncated = &good[..good.len() - 12];
    let mut bad_checksum = good.clone();
    let crc = good.len() - 8;
    bad_checksum[crc] ^= 0xFF;
    let plain = b"\"filemanager-inventory-test\",\"k\"\n".repeat(10);
    let mut trailing = good.clone();
    trailing.extend_from_slice(b"not gzip");
    for (what, file) in [
        ("a flipped byte", &flipped[..]),
        ("a file cut short", truncated),
        ("a wrong CRC", &bad_checksum),
        ("a plain CSV file", &plain),
        ("bytes after the stream", &trailing),
    ] {
        let err = gzip_error(file);
        assert!(
            matches!(&err, InventoryError::Gzip { file, .. } if file == "data/x.csv.gz"),
            "{what}: {err:?}"
        );
        assert!(
            err.to_string()
                .starts_with("data/x.csv.gz: not a readable gzip file")
        );
    }
}

#[test]
fn a_decompression_bomb_is_an_error_not_an_allocation() {
    let bomb = gzip(&vec![0; 48 << 20]);
    assert!(
        (48 << 20) / bomb.len() as u64 > MAX_EXPANSION,
        "not a bomb: {} bytes",
        bomb.len()
    );
    // Skipping to a far offset keeps no more than the read asked for...
    let err = Gunzip::new("bomb.csv.gz", &bomb[..])
        .read_range(40 << 20, 16)
        .unwrap_err();
    assert!(
        matches!(err, InventoryError::Expansion { decompressed, compressed, .. }
            if decompressed > compressed * MAX_EXPANSION),
        "{err:?}"
    );
    // ...and a read from the start holds no line, so the reading stops.
    let m = manifest("csv-all-versions.captured.manifest.json");
    let read = Gunzip::new("bomb.csv.gz", &bomb[..])
        .read_range(0, 1 << 16)
        .unwrap();
    assert_eq!(read.bytes.len(), 1 << 16);
    let chunk = read_chunk(
        &m,
        "bomb.csv.gz",
        &read.bytes,
        &InventoryCursor::default(),
        read.ends_file,
        10,
        None,
    );
    assert!(chunk.stopped);
    assert!(matches!(
        chunk.rows[..],
        [Err(InventoryLineError {
            problem: RowProblem::TooLong { .. },
            ..
        })]
    ));
}

#[test]
fn a_gzip_stream_is_read_forward_from_the_last_read() {
    let text = b"\"b-1\",\"k1\"\n\"b-1\",\"k2\"\n";
    let compressed = gzip(text);
    let mut gunzip = Gunzip::new("f", &compressed[..]);
    let first = gunzip.read_range(0, 15).unwrap();
    assert_eq!((&first.bytes[..], first.ends_file), (&text[..15], false));
    // The last read's bytes are kept: a chunk that ended mid-row is read again.
    let again = gunzip.read_range(11, 100).unwrap();
    assert_eq!((&again.bytes[..], again.ends_file), (&text[11..], true));
    assert!(matches!(
        gunzip.read_range(10, 5),
        Err(InventoryError::Rewind {
            start: 10,
            held_from: 11,
            ..
        })
    ));
    // Past the end: nothing, and the end.
    let past = Gunzip::new("f", &compressed[..])
        .read_range(1000, 5)
        .unwrap();
    assert!(past.bytes.is_empty() && past.ends_file);
    // A read ending exactly at the end of the data says so.
    let exact = Gunzip::new("f", &compressed[..])
        .read_range(0, text.len() as u64)
        .unwrap();
    assert!(exact.ends_file && exact.bytes == text);
}

/// Gives its bytes one at a time, as a slow stream would.
struct Trickle<'a>(&'a [u8]);

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match (self.0.split_first(), buf.first_mut()) {
            (Some((b, rest)), Some(slot)) => {
                *slot = *b;
                self.0 = rest;
                Ok(1)
            }
            _ => Ok(0),
        }
    }
}

type Rows = Vec<Result<InventoryRow, InventoryLineError>>;

/// Reads a data file in reads of `read_bytes` decompressed bytes and `max_rows` rows,
/// each from the cursor the last one returned; `Err` holds the rows up to a stop.
/// `fresh`: every read decompresses from the file's start, as a new invocation would.
fn read_in_ranges(
    m: &InventoryManifest,
    compressed: &[u8],
    read_bytes: u64,
    max_rows: u64,
    fresh: bool,
) -> Result<Rows, Rows> {
    let mut streaming = Gunzip::new("f", Trickle(compressed));
    let mut at = InventoryCursor::default();
    let mut rows = Vec::new();
    for _ in 0..10_000 {
        let read = if fresh {
            Gunzip::new("f", compressed).read_range(at.byte, read_bytes)
        } else {
            streaming.read_range(at.byte, read_bytes)
        }
        .unwrap();
        let chunk = read_chunk(m, "f", &read.bytes, &at, read.ends_file, max_rows, None);
        rows.extend(chunk.rows);
        if chunk.stopped {
            return Err(rows);
        }
        if chunk.finished {
            return Ok(rows);
        }
        assert_ne!(chunk.next, at, "a read made no progress");
        at = chunk.next;
    }
    panic!("reading did not end");
}

fn inventory_line() -> impl Strategy<Value = String> {
    let row = (
        "[a-z0-9%+/ .\"]{0,12}",
        prop::sample::select(vec!["", "v1", "3HL4kqtJlcpXroDTDmJ"]),
        prop::sample::select(vec!["true", "false", "", "maybe"]),
        prop::sample::select(vec![
            "GLACIER",
            "DEEP_ARCHIVE",
            "STANDARD",
            "INTELLIGENT_TIERING",
            "",
        ]),
        prop::sample::select(vec!["\"b-1\"", "b-1", "\"b-2\""]),
    )
        .prop_map(|(key, version, marker, class, bucket)| {
            format!("{bucket},\"{key}\",\"{version}\",\"true\",\"{marker}\",\"5\",\"{class}\"")
        });
    prop_oneof![
        8 => row,
        1 => Just(String::new()),
        1 => Just("  ".to_owned()),
        1 => Just("\"Bucket\",\"Key\",\"VersionId\",\"IsLatest\",\"IsDeleteMarker\",\"Size\",\"StorageClass\"".to_owned()),
        1 => "[a-z\",]{0,30}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Reads of any size and any row limit, resumed from the cursor each time, from one
    /// streaming decoder or from a new one each time, read the same rows as one pass;
    /// or the same rows up to a line longer than a read, and stop.
    #[test]
    fn reading_in_byte_ranges_reads_the_same_rows(
        lines in proptest::collection::vec(inventory_line(), 0..25),
        crlf: bool,
        last_line_ended: bool,
        read_bytes in 1u64..150,
        max_rows in 1u64..6,
    ) {
        let m = InventoryManifest::parse(serde_json::json!({
            "sourceBucket": "b-1",
            "destinationBucket": "arn:aws:s3:::inv-1",
            "version": "2016-11-30",
            "creationTimestamp": "1715043600000",
            "fileFormat": "CSV",
            "fileSchema": "Bucket, Key, VersionId, IsLatest, IsDeleteMarker, Size, StorageClass",
            "files": [],
        }).to_string().as_bytes()).unwrap();
        let end = if crlf { "\r\n" } else { "\n" };
        let mut text = lines.join(end);
        if last_line_ended {
            text.push_str(end);
        }
        let compressed = gzip(text.as_bytes());
        let whole = read_chunk(&m, "f", text.as_bytes(), &InventoryCursor::default(), true, u64::MAX, None);
        prop_assert!(whole.finished && !whole.stopped);
        let longest = text.split_inclusive('\n').map(str::len).max().unwrap_or(0) as u64;
        for fresh in [false, true] {
            match read_in_ranges(&m, &compressed, read_bytes, max_rows, fresh) {
                Ok(rows) => prop_assert_eq!(&rows, &whole.rows),
                Err(rows) => {
                    let (last, before) = rows.split_last().expect("the stopping row");
                    prop_assert_eq!(before, &whole.rows[..before.len()]);
                    prop_assert!(
                        matches!(last, Err(InventoryLineError { problem: RowProblem::TooLong { .. }, .. })),
                        "stopped on {:?}", last
                    );
                    prop_assert!(longest > read_bytes, "a line of {} bytes stopped reads of {}", longest, read_bytes);
                }
            }
        }
    }
}
