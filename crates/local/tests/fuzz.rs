//! A few thousand fuzz cases of every parser that reads input from outside (see
//! `fuzz_targets`), so that each run of the tests checks them; `scripts/fuzz.sh` runs a
//! million of each.

mod fuzz_targets;

use fuzz_targets::{Bytes, Options, Report, Rng, TARGETS, Target, removals, run, run_target};

/// Enough to reach every target's checks, few enough for a debug build.
const CASES: u64 = 3_000;

fn assert_no_crashes(target: &str) {
    let options = Options {
        cases: CASES,
        seed: 0,
        progress: None,
    };
    let report = run(target, &options).expect("a target");
    println!("{}\n{}", Report::table_header(), report.table_row());
    assert_eq!(report.cases, CASES);
    assert_eq!(report.crashes, 0, "{}", report.crashes_text());
}

#[test]
fn fuzzed_manifests_read_alike_in_one_pass_resumed_and_in_ranges() {
    assert_no_crashes("manifest");
}

#[test]
fn fuzzed_restore_events_decode_without_panics() {
    assert_no_crashes("restore-event");
}

#[test]
fn fuzzed_completion_reports_read_alike_in_one_pass_and_in_ranges() {
    assert_no_crashes("completion-report");
}

#[test]
fn fuzzed_create_job_requests_parse_and_round_trip() {
    assert_no_crashes("create-job-request");
}

#[test]
fn fuzzed_definitions_load_without_panics() {
    assert_no_crashes("asl-definition");
}

#[test]
fn targets_are_run_by_name() {
    let options = Options {
        cases: 1,
        seed: 0,
        progress: None,
    };
    for name in TARGETS {
        assert_eq!(run(name, &options).map(|r| r.target), Some(name));
    }
    assert!(run("no-such-target", &options).is_none());
}

/// Panics on any input holding two `!` in a row.
struct DoubleBang;

impl Target for DoubleBang {
    type Input = Bytes;
    const NAME: &'static str = "double-bang";

    fn generate(&self, rng: &mut Rng) -> Bytes {
        Bytes((0..rng.below(40)).map(|_| *rng.pick(b"ab!")).collect())
    }

    fn check(&self, input: &Bytes) {
        assert!(!input.0.windows(2).any(|w| w == b"!!"), "two in a row");
    }

    fn shrink<'a>(&self, input: &'a Bytes) -> Box<dyn Iterator<Item = Bytes> + 'a> {
        Box::new(removals(&input.0).map(Bytes))
    }
}

#[test]
fn crashes_are_counted_and_the_first_ones_minimised() {
    let options = Options {
        cases: 500,
        seed: 0,
        progress: None,
    };
    let report = run_target(&DoubleBang, &options);
    assert_eq!(report.cases, 500);
    assert!(
        report.crashes > 10 && report.crashes < 490,
        "{} crashes",
        report.crashes
    );
    assert_eq!(report.first_crashes.len(), 3);
    for crash in &report.first_crashes {
        assert_eq!(crash.input, r#"b"!!""#);
        assert!(crash.panic.contains("two in a row"), "{}", crash.panic);
    }
}
