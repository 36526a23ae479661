//! `gbr manifest check`, run as a user runs it.

use std::path::PathBuf;
use std::process::{Command, Output};

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
        .output()
        .unwrap()
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
