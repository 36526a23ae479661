//! `gbr manifest check`, run as a user runs it: CSV manifests, and S3 Inventory reports
//! laid out as `aws s3 cp --recursive` copies them.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use flate2::Compression;
use flate2::write::GzEncoder;

use serde_json::Value;

fn manifest(name: &str, contents: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gbr-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

fn gbr(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gbr"))
        .args(args)
        .env_remove("AWS_ENDPOINT_URL")
        .output()
        .unwrap()
}

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/aws/inventory"
);

/// A report as `aws s3 cp --recursive s3://DEST/PREFIX/SOURCE/CONFIG/ DIR` lays it out:
/// DIR/<date>/manifest.json and DIR/data/<data file>. Answers manifest.json's path.
fn inventory_copy(name: &str, manifest_json: &[u8], data: &[(&str, Vec<u8>)]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gbr-cli-inventory-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("2026-11-28T01-00Z")).unwrap();
    std::fs::create_dir_all(dir.join("data")).unwrap();
    let manifest = dir.join("2026-11-28T01-00Z/manifest.json");
    std::fs::write(&manifest, manifest_json).unwrap();
    for (file, bytes) in data {
        std::fs::write(dir.join("data").join(file), bytes).unwrap();
    }
    manifest
}

/// The constructed report of every class (see tests/fixtures/aws/README.md).
fn archive_classes(name: &str) -> PathBuf {
    let fixture = |file: &str| std::fs::read(Path::new(FIXTURES).join(file)).unwrap();
    inventory_copy(
        name,
        &fixture("archive-classes.constructed.manifest.json"),
        &[(
            "archive-classes.constructed.csv.gz",
            fixture("archive-classes.constructed.csv.gz"),
        )],
    )
}

fn gzip(text: &str) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(text.as_bytes()).unwrap();
    encoder.finish().unwrap()
}

#[test]
fn a_valid_manifest_exits_zero_with_counts() {
    let path = manifest(
        "valid.csv",
        b"photos-1,a%20b\r\nphotos-2,c\r\nphotos-1,a%20b\r\n",
    );
    let out = gbr(&["manifest", "check", path.to_str().unwrap()]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("2 objects in 2 bucket(s), 3 rows"), "{text}");
    assert!(
        text.contains("line 3: repeats line 1: s3://photos-1/a b"),
        "{text}"
    );
    assert!(text.contains("errors: 0"), "{text}");
}

#[test]
fn every_error_is_listed_with_its_line_and_the_exit_code_says_invalid() {
    let path = manifest(
        "invalid.csv",
        b"photos-1,k1,v1\nphotos-1,k2\nonly-one-field\nphotos-1,%zz,v3\n",
    );
    let out = gbr(&["manifest", "check", path.to_str().unwrap()]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("errors: 3"), "{text}");
    for line in ["line 2:", "line 3:", "line 4:"] {
        assert!(text.contains(line), "{line} missing in {text}");
    }
}

#[test]
fn json_prints_one_object_per_distinct_object_then_a_summary() {
    let path = manifest(
        "json.csv",
        "b-1,caf%C3%A9,v1\nb-1,x%2By,v2\nb-1,caf%C3%A9,v1\n".as_bytes(),
    );
    let out = gbr(&["manifest", "check", "--json", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["bucket"], "b-1");
    assert_eq!(lines[0]["key"], "café");
    assert_eq!(lines[0]["version_id"], "v1");
    assert_eq!(lines[1]["key"], "x+y");
    let summary = &lines[2]["summary"];
    assert_eq!(summary["objects"], 2);
    assert_eq!(summary["duplicates"].as_array().unwrap().len(), 1);
    assert_eq!(lines[2]["valid"], true);
}

#[test]
fn an_empty_manifest_is_invalid() {
    let path = manifest("empty.csv", b"\n\n");
    let out = gbr(&["manifest", "check", "--json", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["valid"], false);
}

#[test]
fn a_missing_file_is_a_clear_error() {
    let out = gbr(&["manifest", "check", "/nonexistent/manifest.csv"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("cannot open /nonexistent/manifest.csv"),
        "{err}"
    );
}

#[test]
fn a_directory_is_unreadable_and_endless_input_is_bounded() {
    let dir = std::env::temp_dir().join(format!("gbr-cli-test-dir-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = gbr(&["manifest", "check", dir.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("is a directory"), "{stderr}");

    // A line with no end: the row bound stops reading with the line's number, instead
    // of buffering until memory runs out (as /dev/zero did).
    let out = gbr(&["manifest", "check", "/dev/zero"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("line 1: is longer than 8388608 bytes; reading stopped here"),
        "{stdout}"
    );
}

#[test]
fn an_unterminated_quote_is_reported_and_no_row_vanishes() {
    let path = manifest("quote.csv", b"b-1,\"abc\nb-1,d\n");
    let out = gbr(&["manifest", "check", path.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("line 1: opens a quoted field that holds a raw line break"),
        "{stdout}"
    );
}

/// Eight rows: two GLACIER versions of one key, two DEEP_ARCHIVE objects (one the
/// noncurrent version under a delete marker), and STANDARD, INTELLIGENT_TIERING,
/// GLACIER_IR and the delete marker skipped.
#[test]
fn an_inventory_report_is_read_through_its_data_files() {
    let manifest = archive_classes("text");
    let out = gbr(&["manifest", "check", manifest.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}{:?}", out.stderr);
    assert_eq!(
        text,
        format!(
            "{}: inventory of bucket amzn-s3-demo-source-bucket, 1 data file(s), 8 rows\n\
             to restore: 4 objects, 82,837,509 bytes (79.00 MiB)\n  \
             DEEP_ARCHIVE  2 objects, 73,400,325 bytes (70.00 MiB)\n  \
             GLACIER       2 objects, 9,437,184 bytes (9.00 MiB)\n\
             skipped: 4\n  \
             DELETE_MARKER        1\n  \
             GLACIER_IR           1\n  \
             INTELLIGENT_TIERING  1\n  \
             STANDARD             1\n\
             malformed lines: 0\n",
            manifest.display()
        )
    );

    let out = gbr(&["manifest", "check", "--json", manifest.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 9);
    assert_eq!(lines[2]["key"], "archive/café menu+1.pdf");
    assert_eq!(lines[2]["version_id"], "null");
    assert_eq!(lines[2]["restore"], true);
    assert_eq!(lines[2]["storage_class"], "DEEP_ARCHIVE");
    assert_eq!(lines[2]["size"], 73_400_320);
    assert_eq!(lines[6]["skip_reason"], "DELETE_MARKER");
    let summary = &lines[8]["summary"];
    assert_eq!(summary["to_restore"]["objects"], 4);
    assert_eq!(summary["to_restore"]["bytes"], 82_837_509);
    assert_eq!(summary["to_restore"]["by_class"]["GLACIER"]["objects"], 2);
    assert_eq!(summary["skipped"], 4);
    assert_eq!(lines[8]["valid"], true);
}

#[test]
fn a_missing_data_file_is_unreadable_and_where_it_was_looked_for_is_named() {
    let manifest = archive_classes("missing-data");
    let data = manifest.parent().unwrap().join("../data");
    std::fs::remove_file(data.join("archive-classes.constructed.csv.gz")).unwrap();
    let out = gbr(&["manifest", "check", manifest.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "error: cannot open {}/archive-classes.constructed.csv.gz (data file \
             inventory/amzn-s3-demo-source-bucket/archive-classes/data/\
             archive-classes.constructed.csv.gz of the report, looked for in {})",
            data.display(),
            data.display()
        )),
        "{err}"
    );
}

#[test]
fn an_inventory_with_malformed_rows_or_nothing_archived_is_invalid() {
    let manifest = |schema: &str| {
        serde_json::json!({"sourceBucket": "b-1", "destinationBucket": "arn:aws:s3:::inv-1",
            "version": "2016-11-30", "creationTimestamp": "1", "fileFormat": "CSV",
            "fileSchema": schema,
            "files": [{"key": "b-1/cfg/data/one.csv.gz", "size": 1, "MD5checksum": ""}]})
        .to_string()
    };
    let schema = "Bucket, Key, Size, StorageClass";
    let path = inventory_copy(
        "malformed",
        manifest(schema).as_bytes(),
        &[(
            "one.csv.gz",
            gzip("b-1,a,1,GLACIER\nb-2,b,1,GLACIER\nb-1,c,x,GLACIER\n"),
        )],
    );
    let out = gbr(&["manifest", "check", path.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("malformed lines: 2\n"), "{text}");
    assert!(
        text.contains(
            "one.csv.gz, line 2: names bucket \"b-2\", but the report lists bucket \"b-1\""
        ),
        "{text}"
    );
    assert!(
        text.contains("one.csv.gz, line 3: has Size \"x\", not a number of bytes"),
        "{text}"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("2 malformed line(s)"), "{err}");

    // Named by its content, not its name; nothing in GLACIER or DEEP_ARCHIVE.
    let path = inventory_copy(
        "nothing-archived",
        manifest(schema).as_bytes(),
        &[("one.csv.gz", gzip("b-1,a,1,STANDARD\n"))],
    );
    let renamed = path.with_file_name("report-manifest");
    std::fs::rename(&path, &renamed).unwrap();
    let out = gbr(&["manifest", "check", renamed.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("a job would restore nothing"), "{err}");

    // Only CSV reports can be a job's manifest.
    let orc = std::fs::read(Path::new(FIXTURES).join("orc.captured.manifest.json")).unwrap();
    let path = inventory_copy("orc", &orc, &[]);
    let out = gbr(&["manifest", "check", path.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("only CSV inventory reports are supported"),
        "{err}"
    );
}
