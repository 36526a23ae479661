//! The `gbr-local run` command as a user runs it: `--json --virtual-time` on a small
//! manifest prints exactly one JSON line per bulk event on stdout (the same events the
//! run records with `--out`) and exits with the documented code of the outcome:
//! 0 Complete, 3 Failed, 4 Timeout, 5 Cancelled.
//!
//! Each run starts its own moto server, found as gbr-moto finds it; without one the
//! test fails with gbr-moto's message.

use std::path::PathBuf;
use std::process::Command;

use gbr_core::event::BulkEvent;
use gbr_core::status::JobStatus;
use gbr_moto::{MotoError, moto_path};

const OBJECTS: usize = 10;

/// A scratch directory of this test process.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gbr-cli-run-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create a scratch directory");
    dir
}

/// Runs `gbr-local run --json --virtual-time` with `args` on a manifest of `OBJECTS`
/// Glacier objects; returns the exit code and the events printed, after checking that
/// stdout holds nothing else and that they are the events the run wrote to `--out`.
fn run(name: &str, args: &[&str]) -> (i32, Vec<BulkEvent>) {
    let path = moto_path();
    assert!(path.is_file(), "{}", MotoError::NotInstalled(path.clone()));
    let dir = scratch(name);
    let manifest = dir.join("manifest.csv");
    let rows: String = (0..OBJECTS)
        .map(|i| format!("cli-{name}-data,object%20{i}.txt\n"))
        .collect();
    std::fs::write(&manifest, rows).expect("write the manifest");
    let out = dir.join("out");
    let output = Command::new(env!("CARGO_BIN_EXE_gbr-local"))
        .args(["run", "--json", "--virtual-time", "--tier", "STANDARD"])
        .arg("--manifest")
        .arg(&manifest)
        .arg("--out")
        .arg(&out)
        .args(args)
        .env("GBR_MOTO_SERVER", &path)
        .output()
        .expect("run gbr-local");
    let stdout = String::from_utf8(output.stdout).expect("UTF-8 on stdout");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let code = output.status.code().expect("an exit code");
    assert!(
        [0, 3, 4, 5].contains(&code),
        "gbr-local run {args:?} exited {code}; stderr:\n{stderr}"
    );
    let events: Vec<BulkEvent> = stdout
        .lines()
        .map(|line| {
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("a stdout line is not a bulk event ({e}): {line:?}"))
        })
        .collect();
    assert!(stdout.ends_with('\n'), "{stdout:?}");
    let recorded = std::fs::read_to_string(out.join("events.jsonl")).expect("events.jsonl");
    assert_eq!(
        stdout, recorded,
        "stdout holds the run's events, one a line"
    );
    let _ = std::fs::remove_dir_all(&dir);
    // One terminal event, the last.
    let terminal: Vec<bool> = events
        .iter()
        .map(|e| {
            e.status
                .parse::<JobStatus>()
                .unwrap_or_else(|_| panic!("unknown status {}", e.status))
                .is_terminal()
        })
        .collect();
    assert_eq!(terminal.last(), Some(&true), "{stdout}");
    assert_eq!(terminal.iter().filter(|t| **t).count(), 1, "{stdout}");
    let job = &events[0].job_id;
    assert!(events.iter().all(|e| &e.job_id == job), "{stdout}");
    assert!(
        events
            .iter()
            .all(|e| e.total_files == OBJECTS.to_string() || e.status == "Failed"),
        "{stdout}"
    );
    (code, events)
}

#[test]
fn complete_exits_0() {
    let (code, events) = run("complete", &[]);
    let last = events.last().expect("an event");
    assert_eq!(
        (last.status.as_str(), last.progress_percent.as_str()),
        ("Complete", "100")
    );
    assert_eq!(last.restored_files, OBJECTS.to_string());
    assert_eq!(code, 0);
}

#[test]
fn failed_batch_job_exits_3() {
    let (code, events) = run("failed", &["--batch-outcome", "failed"]);
    assert_eq!(events.last().expect("an event").status, "Failed");
    assert_eq!(code, 3);
}

#[test]
fn timeout_exits_4() {
    let (code, events) = run("timeout", &["--drop-rate", "1"]);
    let last = events.last().expect("an event");
    assert_eq!(
        (last.status.as_str(), last.progress_percent.as_str()),
        ("Timeout", "0")
    );
    assert_eq!(code, 4);
}

#[test]
fn cancelled_batch_job_exits_5() {
    let (code, events) = run("cancelled", &["--batch-outcome", "cancelled"]);
    assert_eq!(events.last().expect("an event").status, "Cancelled");
    assert_eq!(code, 5);
}

/// Restore events as S3 event notifications, and EventBridge events with raw keys and
/// half of them lost (found by reconciliation at the deadline): Complete either way.
#[test]
fn every_event_shape_completes_and_lost_events_are_reconciled() {
    for (name, args) in [
        ("s3-shape", &["--restore-events", "s3"][..]),
        (
            "raw-lost",
            &[
                "--restore-events",
                "eventbridge",
                "--eventbridge-keys",
                "raw",
                "--lose-event-rate",
                "0.5",
            ][..],
        ),
    ] {
        let (code, events) = run(name, args);
        let last = events.last().expect("an event");
        assert_eq!(
            (last.status.as_str(), last.restored_files.as_str()),
            ("Complete", OBJECTS.to_string().as_str()),
            "{name}"
        );
        assert_eq!(code, 0, "{name}");
    }
}

/// Bad numbers are refused by the argument parser (exit 2, a sentence naming the flag),
/// never by a panic.
#[test]
fn bad_clock_speeds_and_rates_are_refused_with_exit_2() {
    let cases: &[&[&str]] = &[
        &["run", "--manifest", "m.csv", "--time-scale", "0"],
        &["run", "--manifest", "m.csv", "--time-scale", "inf"],
        &["run", "--manifest", "m.csv", "--time-scale", "NaN"],
        &["run", "--manifest", "m.csv", "--time-scale=-5"],
        &["up", "--time-scale", "0"],
        &["up", "--time-scale", "1e300"],
        &["run", "--manifest", "m.csv", "--duplicate-rate", "1.5"],
        &["run", "--manifest", "m.csv", "--drop-rate=-0.1"],
        &["run", "--manifest", "m.csv", "--drop-rate", "NaN"],
        &["run", "--manifest", "m.csv", "--lose-event-rate", "2"],
    ];
    for args in cases {
        let output = Command::new(env!("CARGO_BIN_EXE_gbr-local"))
            .args(*args)
            .output()
            .expect("run gbr-local");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("invalid value"), "{args:?}: {stderr}");
        assert!(
            !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"),
            "{args:?}: {stderr}"
        );
    }
}
