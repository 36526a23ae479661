//! How many restore events a second the restore-event handler records on the local
//! DynamoDB, with the event source mapping's batches of 100 and 16 invocations at once.
//! Prints figures, asserts nothing.
//!
//!     cargo bench -p gbr-local --bench restore_events [-- OBJECTS DELIVERIES WORKERS]
//!     (default 100000 3 16)

#[path = "../tests/restore_load/mod.rs"]
mod restore_load;

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.replace('_', "").parse().ok())
        .collect();
    let objects = args.first().copied().unwrap_or(100_000);
    let deliveries = args.get(1).copied().unwrap_or(3);
    let workers = args.get(2).copied().unwrap_or(16);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let outcome = runtime.block_on(restore_load::run(objects, deliveries, workers, 11));
    let seconds = outcome.handle_time.as_secs_f64();
    println!(
        "{objects} objects registered in {:.1} s ({:.0} rows/s)",
        outcome.register_time.as_secs_f64(),
        objects as f64 / outcome.register_time.as_secs_f64()
    );
    println!(
        "{} events ({deliveries} per object, shuffled) in {} invocations of up to 100, {workers} at once: {seconds:.1} s, {:.0} events/s",
        outcome.events,
        outcome.invocations,
        outcome.events as f64 / seconds
    );
    println!(
        "counted {} restored ({} newly, {} repeats ignored, {} redelivered after a failure); {} rows still pending",
        outcome.tally.restored,
        outcome.newly_restored,
        outcome.repeats,
        outcome.redelivered,
        outcome.still_pending
    );
}
