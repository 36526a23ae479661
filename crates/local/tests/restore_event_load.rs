//! SLOW (about 4 minutes in a release build; far longer in a debug build, so it runs
//! only in release: `scripts/test.sh` runs `cargo test --release -p gbr-local --test
//! restore_event_load`). The restore-event path under load on the local DynamoDB:
//! 100,000 objects, each event delivered three times in a shuffled order, 16
//! invocations at once. Every object is counted exactly once. `cargo bench -p gbr-local
//! --bench restore_events` prints the rate.

mod restore_load;

use gbr_core::ports::Tally;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    debug_assertions,
    ignore = "SLOW: run in a release build, as scripts/test.sh does"
)]
async fn slow_a_hundred_thousand_objects_thrice_reordered_by_16_workers_count_once_each() {
    let objects = 100_000;
    let outcome = restore_load::run(objects, 3, 16, 11).await;
    println!("{outcome:?}");
    assert_eq!(outcome.events, 300_000);
    // No double count and no lost count, by the handlers' own reports and by the table.
    assert_eq!(outcome.newly_restored, objects as u64);
    assert_eq!(outcome.repeats, 200_000);
    assert_eq!(
        outcome.tally,
        Tally {
            restored: objects as u64,
            excluded: 0
        }
    );
    assert_eq!(outcome.still_pending, 0);
}
