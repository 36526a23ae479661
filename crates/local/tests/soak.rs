//! A small soak, in CI: jobs at 5 % and 20 % injected faults, mixing object states and
//! duplicate, reordered and lost restore events, run two at a time. Each must end as it
//! must whatever AWS does (see `gbr_local::soak`). The large soak, which prints
//! figures, is `cargo bench -p gbr-local --bench soak`.

use gbr_local::services::LocalServices;
use gbr_local::soak::{SoakCase, SoakSummary, Verdict, soak};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_under_injected_faults_end_exactly_as_they_must() {
    let services = LocalServices::start().unwrap_or_else(|e| panic!("{e}"));
    let cases = [(1, 0.05), (2, 0.05), (3, 0.2), (4, 0.2)]
        .map(|(seed, fault_rate)| SoakCase {
            seed,
            fault_rate,
            objects: 12,
        })
        .to_vec();
    let results = soak(&services.endpoints(), cases, 2, |_| {}).await;
    for r in &results {
        assert!(
            !matches!(r.verdict, Verdict::Wrong(_)),
            "seed {} at {}: {:?}",
            r.case.seed,
            r.case.fault_rate,
            r.verdict
        );
        // Faults were injected in every job, of every kind the stack injects.
        assert!(
            r.faults.total() > 0,
            "seed {}: no fault injected",
            r.case.seed
        );
    }
    let summary = SoakSummary::of(&results);
    eprintln!("{summary}");
    let kinds: std::collections::BTreeSet<_> = summary
        .faults
        .injected
        .keys()
        .map(|(_, kind)| *kind)
        .collect();
    assert_eq!(kinds.len(), 5, "{kinds:?}");
}
