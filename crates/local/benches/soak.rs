//! The soak command: many jobs under injected faults, each judged as the soak test
//! judges them (`gbr_local::soak`), with the figures printed.
//!
//! `cargo bench -p gbr-local --bench soak -- [JOBS_AT_5% [JOBS_AT_20% [CONCURRENCY]]]`
//! (default 1000, 200 and 4). Exits 1 if any job ended wrong.

use std::process::ExitCode;
use std::time::Instant;

use gbr_local::services::LocalServices;
use gbr_local::soak::{SoakCase, SoakSummary, Verdict, soak};

/// Objects per job: a few of every state; the work of a job is in its polls and
/// retries, not in its object count.
const OBJECTS: usize = 12;

fn main() -> ExitCode {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.replace('_', "").parse().ok())
        .collect();
    let at_5 = args.first().copied().unwrap_or(1000);
    let at_20 = args.get(1).copied().unwrap_or(200);
    let concurrency = args.get(2).copied().unwrap_or(4);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: no runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let services = match LocalServices::start() {
            Ok(s) => s,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        };
        let mut wrong = 0;
        for (rate, jobs, first_seed) in [(0.05, at_5, 1_000_000), (0.2, at_20, 2_000_000)] {
            if jobs == 0 {
                continue;
            }
            let cases = (0..jobs as u64)
                .map(|i| SoakCase {
                    seed: first_seed + i,
                    fault_rate: rate,
                    objects: OBJECTS,
                })
                .collect();
            let started = Instant::now();
            let mut done = 0;
            let results = soak(&services.endpoints(), cases, concurrency, |r| {
                done += 1;
                if let Verdict::Wrong(why) | Verdict::GaveUp(why) = &r.verdict {
                    eprintln!("seed {} at {rate}: {why}", r.case.seed);
                }
                if done % 50 == 0 {
                    eprintln!(
                        "{done}/{jobs} jobs at {:.0} % faults, {:.0} s",
                        rate * 100.0,
                        started.elapsed().as_secs_f64()
                    );
                }
            })
            .await;
            let summary = SoakSummary::of(&results);
            println!(
                "\n== fault rate {:.0} %: {:.0} s wall, {concurrency} jobs at a time",
                rate * 100.0,
                started.elapsed().as_secs_f64()
            );
            println!("{summary}");
            wrong += summary.wrong;
        }
        if wrong == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    })
}
