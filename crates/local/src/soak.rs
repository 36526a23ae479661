//! Many jobs under injected faults, each checked against what must hold whatever AWS
//! does: exactly one terminal event, the right one; exact counters; every object row
//! counted once; no execution left running; a history within Step Functions' limit.
//!
//! Used by the soak test (a few jobs, in CI) and the soak bench (thousands, printing
//! figures).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use gbr_core::policy::HISTORY_EVENT_LIMIT;
use gbr_core::request::{StorageClass, Tier};
use gbr_core::status::JobStatus;
use serde_json::json;

use crate::faults::FaultCounts;
use crate::objects::ObjectsMode;
use crate::queue::QueueMode;
use crate::run::{ManifestUpload, RunOptions, RunOutcome, TimeMode, run_job};
use crate::scenario::{InitialState, SetupRow};
use crate::services::ServiceEndpoints;
use crate::simulator::{EventBridgeKeys, RestoreEvents, SimOptions};

/// One job of a soak.
#[derive(Debug, Clone, Copy)]
pub struct SoakCase {
    pub seed: u64,
    pub fault_rate: f64,
    pub objects: usize,
}

/// How a job ended, judged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Complete, with every counter exact.
    Right,
    /// Failed because injected faults outlasted every retry the definition allows:
    /// the right end for a job whose calls failed that often.
    GaveUp(String),
    /// Anything else: a defect.
    Wrong(String),
}

/// What one job did.
#[derive(Debug, Clone)]
pub struct SoakResult {
    pub case: SoakCase,
    pub verdict: Verdict,
    pub faults: FaultCounts,
    pub history_events: usize,
    pub wall: Duration,
}

/// The objects of a case and what must become of them: `k000…` in one bucket, every
/// fifth in another state than archived.
struct Plan {
    manifest: String,
    setup: Vec<SetupRow>,
    restored: u64,
    excluded: u64,
}

fn plan(case: &SoakCase, bucket: &str) -> Plan {
    let mut manifest = String::new();
    let mut setup = Vec::new();
    let (mut restored, mut excluded) = (0, 0);
    for i in 0..case.objects {
        let key = format!("k{i:03}");
        manifest.push_str(&format!("{bucket},{key}\n"));
        // Shifted by the seed, so that jobs differ in which objects are special.
        let special = match (i + case.seed as usize) % 10 {
            1 => Some(("GLACIER", InitialState::Restored)),
            3 => Some(("GLACIER", InitialState::Restoring)),
            5 => Some(("GLACIER", InitialState::Missing)),
            7 => Some(("STANDARD", InitialState::Archived)),
            _ => None,
        };
        match special {
            Some((_, InitialState::Missing)) | Some(("STANDARD", _)) => excluded += 1,
            _ => restored += 1,
        }
        if let Some((class, state)) = special {
            setup.push(SetupRow {
                bucket: bucket.to_owned(),
                key,
                storage_class: class.to_owned(),
                state,
                size_bytes: None,
            });
        }
    }
    Plan {
        manifest,
        setup,
        restored,
        excluded,
    }
}

/// Runs one case on its own stack and judges it.
pub async fn soak_one(services: &ServiceEndpoints, case: SoakCase) -> SoakResult {
    let started = Instant::now();
    let prefix = format!("soak{}r{}", case.seed, (case.fault_rate * 1000.0) as u32);
    let bucket = format!("{prefix}-data");
    let plan = plan(&case, &bucket);
    let restore_events = match case.seed % 3 {
        0 => RestoreEvents::S3Notifications,
        1 => RestoreEvents::EventBridge(EventBridgeKeys::Encoded),
        _ => RestoreEvents::EventBridge(EventBridgeKeys::Raw),
    };
    let options = RunOptions {
        prefix: prefix.clone(),
        manifest: plan.manifest.clone(),
        setup: plan.setup.clone(),
        storage_class: StorageClass::Glacier,
        tier: Tier::Standard,
        time: TimeMode::Virtual,
        simulator: SimOptions {
            seed: case.seed,
            duplicate_rate: 0.2,
            lose_event_rate: 0.05,
            reorder: true,
            restore_events,
            restore_tick: Duration::from_secs(60),
            ..SimOptions::default()
        },
        request_extra: json!({}),
        poll: Duration::from_secs(300),
        upload: ManifestUpload::Prepared,
        objects: ObjectsMode::Memory,
        queue: QueueMode::Memory,
        fault_rate: case.fault_rate,
        on_estimate: None,
    };
    let outcome = run_job(services, options, |_| {}).await;
    let (verdict, faults, history_events) = match outcome {
        Ok(outcome) => (
            judge(&outcome, &plan).await,
            outcome.stack.faults.counts(),
            outcome.history.len(),
        ),
        Err(e) => (
            Verdict::Wrong(format!("the run failed: {e}")),
            FaultCounts::default(),
            0,
        ),
    };
    SoakResult {
        case,
        verdict,
        faults,
        history_events,
        wall: started.elapsed(),
    }
}

async fn judge(outcome: &RunOutcome, plan: &Plan) -> Verdict {
    let stack = &outcome.stack;
    let job = &outcome.job_id;
    // Exactly one terminal event (SNS delivers at least once: repeats share an id).
    let terminal: BTreeSet<&str> = outcome
        .events
        .iter()
        .filter(|e| {
            e.status
                .parse::<JobStatus>()
                .is_ok_and(JobStatus::is_terminal)
        })
        .map(|e| e.event_id.as_str())
        .collect();
    if terminal.len() != 1 {
        return Verdict::Wrong(format!("{} distinct terminal events", terminal.len()));
    }
    let Some(last) = outcome.events.last() else {
        return Verdict::Wrong("no event".into());
    };
    if outcome.execution.stop_date.is_none() {
        return Verdict::Wrong("the execution is still running".into());
    }
    if outcome.history.len() as u64 > HISTORY_EVENT_LIMIT {
        return Verdict::Wrong(format!(
            "{} history events: Step Functions would have failed the execution",
            outcome.history.len()
        ));
    }
    // Read past the injected faults, as an operator would look afterwards.
    let store = gbr_aws::DynamoStore::from_client(
        aws_sdk_dynamodb::Client::new(&stack.dynamodb_sdk),
        stack.names.tables.clone(),
    );
    let tally = match gbr_core::ports::JobStore::tally(&store, job).await {
        Ok(t) => t,
        Err(e) => return Verdict::Wrong(format!("counters unreadable: {e}")),
    };
    let rows = match row_states(outcome).await {
        Ok(r) => r,
        Err(e) => return Verdict::Wrong(format!("object rows unreadable: {e}")),
    };
    let counted = |state: &str| rows.get(state).copied().unwrap_or(0);
    if (counted("restored"), counted("excluded")) != (tally.restored, tally.excluded) {
        return Verdict::Wrong(format!(
            "rows restored/excluded {}/{} but counters {}/{}: an object counted twice or not at all",
            counted("restored"),
            counted("excluded"),
            tally.restored,
            tally.excluded
        ));
    }
    match last.status.parse::<JobStatus>() {
        Ok(JobStatus::Complete) => {
            let expected = (plan.restored, plan.excluded);
            let reported = (
                last.restored_files.parse::<u64>().unwrap_or(u64::MAX),
                last.failed_batch_files.parse::<u64>().unwrap_or(u64::MAX),
            );
            if (tally.restored, tally.excluded) != expected || reported != expected {
                return Verdict::Wrong(format!(
                    "Complete with counters {}/{} and event {}/{}, expected {}/{}",
                    tally.restored, tally.excluded, reported.0, reported.1, expected.0, expected.1
                ));
            }
            Verdict::Right
        }
        Ok(JobStatus::Failed) if last.reason.contains("injected") => {
            Verdict::GaveUp(last.reason.clone())
        }
        _ => Verdict::Wrong(format!("ended {}: {}", last.status, last.reason)),
    }
}

/// The job's object rows by state.
async fn row_states(outcome: &RunOutcome) -> Result<BTreeMap<String, u64>, String> {
    let rows = outcome
        .stack
        .object_rows()
        .await
        .map_err(|e| e.to_string())?;
    let mut states = BTreeMap::new();
    for row in rows.into_iter().filter(|r| r.job_id == outcome.job_id) {
        *states.entry(row.state).or_default() += 1;
    }
    Ok(states)
}

/// Runs `cases`, `concurrency` at a time; `on_result` sees each as it ends.
pub async fn soak(
    services: &ServiceEndpoints,
    cases: Vec<SoakCase>,
    concurrency: usize,
    mut on_result: impl FnMut(&SoakResult),
) -> Vec<SoakResult> {
    let mut results = Vec::with_capacity(cases.len());
    let mut runs = stream::iter(cases)
        .map(|case| soak_one(services, case))
        .buffer_unordered(concurrency.max(1));
    while let Some(result) = runs.next().await {
        on_result(&result);
        results.push(result);
    }
    results
}

/// Totals of a soak at one fault rate.
#[derive(Debug, Clone, Default)]
pub struct SoakSummary {
    pub jobs: u64,
    pub right: u64,
    pub gave_up: u64,
    pub wrong: u64,
    pub faults: FaultCounts,
    pub max_history_events: usize,
    pub wall: Duration,
}

impl SoakSummary {
    pub fn of(results: &[SoakResult]) -> Self {
        let mut s = SoakSummary::default();
        for r in results {
            s.jobs += 1;
            match r.verdict {
                Verdict::Right => s.right += 1,
                Verdict::GaveUp(_) => s.gave_up += 1,
                Verdict::Wrong(_) => s.wrong += 1,
            }
            s.faults.add(&r.faults);
            s.max_history_events = s.max_history_events.max(r.history_events);
            s.wall += r.wall;
        }
        s
    }
}

impl fmt::Display for SoakSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} jobs: {} right (Complete, exact), {} gave up after injected faults (Failed), {} WRONG; \
             longest history {} events; {:.0} s of job wall time\n{}",
            self.jobs,
            self.right,
            self.gave_up,
            self.wrong,
            self.max_history_events,
            self.wall.as_secs_f64(),
            self.faults
        )
    }
}
