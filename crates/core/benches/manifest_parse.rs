//! Parses a generated manifest and prints lines per second.
//!
//! `cargo bench -p gbr-core --bench manifest_parse [-- LINES]` (default 1,000,000 lines).
//! A figure, not a test: nothing here passes or fails on time.

use std::time::Instant;

use gbr_core::manifest::check_manifest;
use gbr_core::object_id::percent_encode_key;

fn main() {
    let lines: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let manifest = generate(lines);
    let megabytes = manifest.len() as f64 / 1e6;
    println!(
        "manifest: {lines} lines, {megabytes:.1} MB (keys with spaces, '+', commas, Unicode; every 100th row quoted)"
    );
    for run in 1..=3 {
        let started = Instant::now();
        let summary = check_manifest(manifest.as_slice());
        let seconds = started.elapsed().as_secs_f64();
        assert_eq!(
            summary.objects as usize, lines,
            "every generated row is a distinct object"
        );
        println!(
            "run {run}: {seconds:.3} s, {:.0} lines/s, {:.1} MB/s",
            lines as f64 / seconds,
            megabytes / seconds
        );
    }
}

fn generate(lines: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(lines * 64);
    for i in 0..lines {
        let key = format!("archive/{:04}/scan {i}+copy, résumé ✓.tiff", i % 1000);
        let encoded = percent_encode_key(&key);
        let row = if i % 100 == 0 {
            format!("photos-archive-1,\"{encoded}\"\r\n")
        } else {
            format!("photos-archive-1,{encoded}\r\n")
        };
        out.extend_from_slice(row.as_bytes());
    }
    out
}
