//! Fuzzes every parser that reads input from outside (see `tests/fuzz_targets`): a
//! million cases per target by default. Prints, per target, the cases run, the crashes
//! and the time, and the first crashes minimised; exits non-zero if any case crashed.
//!
//!     cargo bench -p gbr-local --bench fuzz -- [--cases N] [--target NAME]... [--seed N]

#[path = "../tests/fuzz_targets/mod.rs"]
mod fuzz_targets;

use std::process::ExitCode;
use std::time::Duration;

use fuzz_targets::{Options, Report, TARGETS};

const USAGE: &str = "usage: fuzz [--cases N] [--target NAME]... [--seed N]";

fn main() -> ExitCode {
    let mut options = Options {
        cases: 1_000_000,
        seed: 0,
        progress: Some(Duration::from_secs(30)),
    };
    let mut targets = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut number = || {
            args.next()
                .and_then(|n| n.replace('_', "").parse().ok())
                .unwrap_or_else(|| panic!("{arg} takes a number; {USAGE}"))
        };
        match arg.as_str() {
            "--cases" => options.cases = number(),
            "--seed" => options.seed = number(),
            "--target" => match args.next() {
                Some(name) if TARGETS.contains(&name.as_str()) => targets.push(name),
                other => panic!("--target takes one of {TARGETS:?}, not {other:?}"),
            },
            // `cargo bench` passes this to every bench.
            "--bench" => {}
            other => panic!("unknown argument {other:?}; {USAGE}"),
        }
    }
    if targets.is_empty() {
        targets = TARGETS.map(str::to_owned).to_vec();
    }

    println!(
        "fuzzing {} target(s), {} cases each, seed {}",
        targets.len(),
        options.cases,
        options.seed
    );
    let mut reports = Vec::new();
    for name in &targets {
        let report = fuzz_targets::run(name, &options).expect("a known target");
        eprintln!("{}", report.table_row());
        reports.push(report);
    }
    println!("{}", Report::table_header());
    for report in &reports {
        println!("{}", report.table_row());
    }
    let crashes: u64 = reports.iter().map(|r| r.crashes).sum();
    for report in &reports {
        print!("{}", report.crashes_text());
    }
    if crashes == 0 {
        ExitCode::SUCCESS
    } else {
        println!("{crashes} crash(es)");
        ExitCode::FAILURE
    }
}
