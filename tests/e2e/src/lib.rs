//! Shared by the end-to-end test binaries: one moto server and one local DynamoDB per
//! test binary, whole jobs
//! on the local stack in virtual time (through [`run_job`](gbr_local::run::run_job), or
//! through [`Manual`] when a test needs several jobs on one stack or to act while a job
//! runs), and checks of what a job published and left in its tables.
//!
//! moto is found as `gbr-moto` finds it (`GBR_MOTO_SERVER`, else the virtualenv
//! `scripts/moto.sh` creates). Without it every test fails with gbr-moto's message: no
//! test passes without having run.

use std::collections::{BTreeMap, HashSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use aws_sdk_sqs::types::QueueAttributeName;
use gbr_core::event::BulkEvent;
use gbr_core::request::{StorageClass, Tier};
use gbr_core::status::JobStatus;
use gbr_local::Participant;
use gbr_local::engine::clock::{SimClock, add};
use gbr_local::run::{ManifestUpload, RunOptions, TimeMode, clock_for, post_json};
use gbr_local::scenario::{Prepared, SetupRow, prepare};
use gbr_local::services::{LocalServices, ServiceEndpoints};
use gbr_local::simulator::SimOptions;
use gbr_local::stack::api::LocalApi;
use gbr_local::stack::drain::DrainStats;
use gbr_local::stack::{LocalStack, StackConfig};
use jiff::SignedDuration;
use serde_json::{Value, json};
use tokio::sync::watch;

/// How often (clock time) restore events are drained and the progress queue read.
pub const POLL: Duration = Duration::from_secs(300);

/// The local servers (moto, DynamoDB) this test binary shares, started on first use.
pub fn services() -> ServiceEndpoints {
    static SERVICES: OnceLock<LocalServices> = OnceLock::new();
    SERVICES
        .get_or_init(|| LocalServices::start().unwrap_or_else(|e| panic!("{e}")))
        .endpoints()
}

/// Manifest rows `bucket,{stem}-{i:05}` for `i` in `range`, CRLF-terminated.
pub fn manifest(bucket: &str, stem: &str, range: std::ops::Range<usize>) -> String {
    range
        .map(|i| format!("{bucket},{stem}-{i:05}\r\n"))
        .collect()
}

/// Run options for a job of a fresh stack named `prefix`: Glacier Flexible Retrieval,
/// Standard tier, virtual time, client tag `prefix`, and a client token so that the
/// job id (and with it every draw of the simulator) is the same on every run.
pub fn options(prefix: &str, manifest: String, simulator: SimOptions) -> RunOptions {
    RunOptions {
        prefix: prefix.to_owned(),
        manifest,
        setup: Vec::new(),
        storage_class: StorageClass::Glacier,
        tier: Tier::Standard,
        time: TimeMode::Virtual,
        simulator,
        request_extra: json!({ "client_tag": prefix, "client_token": format!("{prefix}-token") }),
        poll: POLL,
        upload: ManifestUpload::Prepared,
        objects: gbr_local::objects::ObjectsMode::Moto,
        queue: gbr_local::queue::QueueMode::Moto,
        fault_rate: 0.0,
        on_estimate: None,
    }
}

/// `Status Percent` of each event, in order: the form expected sequences are written in.
pub fn sequence(events: &[BulkEvent]) -> Vec<String> {
    events
        .iter()
        .map(|e| format!("{} {}", e.status, e.progress_percent))
        .collect()
}

fn number(field: &str, value: &str) -> u64 {
    value
        .parse()
        .unwrap_or_else(|_| panic!("{field} is not a whole number: {value:?}"))
}

/// What every event of one job must carry.
#[derive(Debug, Clone)]
pub struct Expected<'a> {
    pub job_id: &'a str,
    /// `Some`: the batch job's id, on every event; `None`: no batch job existed.
    pub batch_job_id: Option<&'a str>,
    pub client_tag: &'a str,
    pub total: u64,
    /// FailedBatchFiles and RestoredFiles of the terminal event.
    pub excluded: u64,
    pub restored: u64,
}

/// Checks the fields of one job's events: ids, tag and totals on every event, counts
/// that never go down and agree with the percent, unique event ids, one terminal event
/// and that one last, reasons only where the contract gives them.
pub fn check_events(events: &[BulkEvent], expected: &Expected<'_>) {
    assert!(!events.is_empty(), "no events for job {}", expected.job_id);
    let mut ids = HashSet::new();
    let (mut restored_before, mut excluded_before) = (0, 0);
    let mut time_before = None;
    for (i, e) in events.iter().enumerate() {
        let at = format!("event {i} of job {}: {e:?}", expected.job_id);
        assert_eq!(e.job_id, expected.job_id, "{at}");
        match expected.batch_job_id {
            Some(id) => {
                assert!(!id.is_empty(), "{at}");
                assert_eq!(e.batch_job_id, id, "{at}");
            }
            None => assert_eq!(e.batch_job_id, "", "{at}"),
        }
        assert_eq!(e.client_tag, expected.client_tag, "{at}");
        assert_eq!(number("TotalFiles", &e.total_files), expected.total, "{at}");
        let restored = number("RestoredFiles", &e.restored_files);
        let excluded = number("FailedBatchFiles", &e.failed_batch_files);
        assert!(
            restored >= restored_before && excluded >= excluded_before,
            "{at}: counts went down"
        );
        (restored_before, excluded_before) = (restored, excluded);
        let percent = number("ProgressPercent", &e.progress_percent);
        assert!(percent <= 100, "{at}");
        assert!(
            ids.insert(e.event_id.clone()),
            "{at}: EventId {} repeats",
            e.event_id
        );
        assert_eq!(
            e.event_id,
            format!("{}/{}/{}", e.job_id, e.status, e.progress_percent),
            "{at}"
        );
        let time: jiff::Timestamp = e
            .timestamp
            .parse()
            .unwrap_or_else(|err| panic!("{at}: Timestamp: {err}"));
        assert!(
            time_before.is_none_or(|t| t <= time),
            "{at}: time went back"
        );
        time_before = Some(time);
        let status: JobStatus = e
            .status
            .parse()
            .unwrap_or_else(|_| panic!("{at}: unknown status"));
        let last = i + 1 == events.len();
        assert_eq!(status.is_terminal(), last, "{at}: one terminal event, last");
        // Counted here, not by core's function, so that a wrong rounding there shows.
        let computed = (restored + excluded).min(expected.total) * 100 / expected.total.max(1);
        match status {
            JobStatus::Restoring => {
                assert_eq!(percent, computed.min(99), "{at}");
                assert_eq!(e.reason, "", "{at}");
            }
            JobStatus::Complete => {
                assert_eq!(percent, 100, "{at}");
                assert_eq!(restored + excluded, expected.total, "{at}");
                assert_eq!(e.reason, "", "{at}");
            }
            JobStatus::Failed | JobStatus::Timeout => {
                assert!(percent <= computed.min(99), "{at}: 100 is Complete's alone");
                assert!(!e.reason.is_empty(), "{at}: a reason is required");
            }
            // A reason only when cancelled through the API.
            JobStatus::Cancelled => assert!(percent <= computed.min(99), "{at}"),
        }
    }
    let last = events.last().expect("an event");
    assert_eq!(
        (
            number("RestoredFiles", &last.restored_files),
            number("FailedBatchFiles", &last.failed_batch_files)
        ),
        (expected.restored, expected.excluded),
        "RestoredFiles, FailedBatchFiles of the terminal event of job {}",
        expected.job_id
    );
}

pub use gbr_local::stack::ObjectRow;

/// Every row of the stack's objects table, sorted by job, bucket and key.
pub async fn object_rows(stack: &LocalStack) -> Vec<ObjectRow> {
    stack.object_rows().await.expect("scan the objects table")
}

/// How many rows of each state, per job.
pub fn states(rows: &[ObjectRow]) -> BTreeMap<(String, String), usize> {
    let mut counts = BTreeMap::new();
    for r in rows {
        *counts
            .entry((r.job_id.clone(), r.state.clone()))
            .or_insert(0) += 1;
    }
    counts
}

/// Messages in a queue: visible plus in flight.
pub async fn queue_depth(stack: &LocalStack, url: &str) -> u64 {
    let attributes = stack
        .sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .expect("queue attributes")
        .attributes
        .unwrap_or_default();
    [
        QueueAttributeName::ApproximateNumberOfMessages,
        QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
    ]
    .iter()
    .map(|name| attributes.get(name).map_or(0, |v| number(name.as_str(), v)))
    .sum()
}

/// Sends a message to the stack's restore-events queue, as S3 would.
pub async fn send_restore_message(stack: &LocalStack, body: &Value) {
    stack
        .sqs
        .send_message()
        .queue_url(&stack.endpoints.restore_queue_url)
        .message_body(body.to_string())
        .send()
        .await
        .expect("send to the restore-events queue");
}

/// What [`Manual::run`] saw.
pub struct ManualOutcome {
    /// Every event read from the progress queue, in order.
    pub events: Vec<BulkEvent>,
    pub drained: DrainStats,
}

impl ManualOutcome {
    /// One job's events, in order.
    pub fn of(&self, job_id: &str) -> Vec<BulkEvent> {
        self.events
            .iter()
            .filter(|e| e.job_id == job_id)
            .cloned()
            .collect()
    }
}

/// A stack run by the test itself, as `run_job` runs one, for tests that need several
/// jobs on one stack or to act at each step of clock time while jobs run.
pub struct Manual {
    pub stack: LocalStack,
    pub clock: Arc<dyn SimClock>,
    api: LocalApi,
    /// Registered at once, so no clock time passes before [`Manual::run`].
    drain_participant: Option<Participant>,
    reader_participant: Option<Participant>,
}

impl Manual {
    /// A fresh stack named `prefix` on the shared moto, in virtual time, serving its API.
    pub async fn start(prefix: &str, data_buckets: &[&str], simulator: SimOptions) -> Manual {
        let clock = clock_for(TimeMode::Virtual);
        let config = StackConfig {
            prefix: prefix.to_owned(),
            data_buckets: data_buckets.iter().map(|b| (*b).to_owned()).collect(),
            seed: simulator.seed,
            objects: gbr_local::objects::ObjectsMode::Moto,
            queue: gbr_local::queue::QueueMode::Moto,
            fault_rate: 0.0,
            max_running_jobs: None,
            estimate_list_pages: None,
            simulator,
        };
        let stack = LocalStack::start(&services(), Arc::clone(&clock), config)
            .await
            .expect("start the local stack");
        let drain_participant = Some(clock.register());
        let reader_participant = Some(clock.register());
        let api = stack
            .serve_api(
                SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
                format!("key-{prefix}"),
            )
            .await
            .expect("serve the local API");
        Manual {
            stack,
            clock,
            api,
            drain_participant,
            reader_participant,
        }
    }

    /// Puts the manifest's objects in moto's S3 (see `scenario::prepare`) and delivers
    /// the notices of objects set up as restored before any job.
    pub async fn prepare(
        &self,
        manifest: &str,
        class: StorageClass,
        setup: &[SetupRow],
    ) -> Prepared {
        let prepared = prepare(
            &self.stack.objects,
            &self.stack.simulator,
            manifest,
            class.as_str(),
            setup,
            Duration::from_secs(2 * 3600),
        )
        .await
        .expect("prepare the objects");
        self.stack
            .drain()
            .drain_once()
            .await
            .expect("drain before the job");
        prepared
    }

    /// Uploads a manifest to the stack's manifest bucket.
    pub async fn upload(&self, key: &str, body: &str) {
        self.stack
            .s3
            .put_object()
            .bucket(&self.stack.names.manifest_bucket)
            .key(key)
            .body(body.as_bytes().to_vec().into())
            .send()
            .await
            .expect("upload the manifest");
    }

    /// `POST /create-job` for the manifest at `key` with client tag `tag` and client
    /// token `token` (which fixes the job id); returns the job id.
    pub async fn create(
        &self,
        key: &str,
        tier: Tier,
        class: StorageClass,
        tag: &str,
        token: &str,
    ) -> String {
        let body = json!({
            "bucket": self.stack.names.manifest_bucket,
            "key": key,
            "tier": tier.as_str(),
            "storage_class": class.as_str(),
            "expiration_days": 1,
            "client_tag": tag,
            "client_token": token,
        });
        let created = post_json(
            &format!("{}/create-job", self.api.url),
            &self.api.api_key,
            &body,
        )
        .await
        .expect("create the job");
        created["BulkJobId"]
            .as_str()
            .expect("a BulkJobId")
            .to_owned()
    }

    /// Drains restore events and reads the progress queue every [`POLL`] of clock
    /// time, calling `each_step` first at every step, until every job in `jobs` has
    /// published its terminal event; then, with `settle`, goes on until the simulator
    /// has carried out every restore and duplicate event it scheduled, so that late
    /// copies are handled too.
    pub async fn run(
        &mut self,
        jobs: &[&str],
        settle: bool,
        mut each_step: impl AsyncFnMut(&LocalStack),
    ) -> ManualOutcome {
        let (stop, stopped) = watch::channel(false);
        let drain = tokio::spawn(self.stack.drain().run(
            Arc::clone(&self.clock),
            POLL,
            self.drain_participant.take().expect("run once"),
            stopped,
        ));
        let reader = self.reader_participant.take().expect("run once");
        let progress = self.stack.progress();
        let step = SignedDuration::try_from(POLL).expect("a short poll");
        let mut events = Vec::new();
        let mut ended: HashSet<String> = HashSet::new();
        // Steps still to take once everything settled, so the drain sees the last events.
        let mut after_settled = if settle { 2 } else { 0 };
        let give_up = add(self.clock.now(), SignedDuration::from_hours(24 * 30));
        // Reads what the progress queue holds; records which jobs have ended.
        let read = async |events: &mut Vec<BulkEvent>, ended: &mut HashSet<String>| {
            let new = progress.take().await.expect("read the progress queue");
            for e in &new {
                if e.status
                    .parse::<JobStatus>()
                    .is_ok_and(JobStatus::is_terminal)
                {
                    assert!(
                        ended.insert(e.job_id.clone()),
                        "a second terminal event: {e:?}"
                    );
                }
            }
            events.extend(new);
        };
        loop {
            each_step(&self.stack).await;
            read(&mut events, &mut ended).await;
            if jobs.iter().all(|j| ended.contains(*j)) {
                let settled = !settle || self.settled(jobs).await;
                if settled && after_settled == 0 {
                    break;
                }
                if settled {
                    after_settled -= 1;
                }
            } else {
                let running: Vec<&str> = jobs
                    .iter()
                    .copied()
                    .filter(|j| !ended.contains(*j))
                    .collect();
                for job in running {
                    let record = self.stack.ports.jobs.get(job).await.expect("get the job");
                    let arn = record.and_then(|r| r.execution_arn).expect("an execution");
                    let execution = self
                        .stack
                        .engine
                        .describe_execution(&arn)
                        .expect("describe the execution");
                    if execution.stop_date.is_some() {
                        // Anything it published before it ended is in the queue now.
                        read(&mut events, &mut ended).await;
                        assert!(
                            ended.contains(job),
                            "the execution of {job} ended {:?} without a terminal event: {:?} {:?}",
                            execution.status,
                            execution.error,
                            execution.cause
                        );
                    }
                }
                assert!(
                    self.clock.now() < give_up,
                    "no terminal event after 30 days of clock time"
                );
            }
            self.clock.sleep_until(add(self.clock.now(), step)).await;
        }
        drop(reader);
        let _ = stop.send(true);
        let mut drained = drain.await.expect("the drain task").expect("the drain");
        let last = self
            .stack
            .drain()
            .drain_once()
            .await
            .expect("the last drain");
        drained.batches += last.batches;
        drained.messages += last.messages;
        drained.failures += last.failures;
        ManualOutcome { events, drained }
    }

    /// Whether each job's batch job has carried out every restore and duplicate.
    async fn settled(&self, jobs: &[&str]) -> bool {
        use gbr_local::simulator::RestoreOutcome as R;
        for job in jobs {
            let Some(batch) = self
                .stack
                .ports
                .jobs
                .get(job)
                .await
                .expect("get the job")
                .and_then(|r| r.batch_job_id)
            else {
                continue;
            };
            let restores = self.stack.simulator.restores(&batch).expect("restores");
            let done = restores.iter().all(|r| match r.outcome {
                R::Pending => false,
                R::Completed => r.duplicate_at.is_none(),
                R::Duplicated | R::EventLost | R::Dropped | R::Failed(_) => true,
            });
            if !done {
                return false;
            }
        }
        true
    }
}
