//! One local stack for every test of a test binary, and `gbr` run against it as a
//! user runs it.
//!
//! The stack (moto, the engine, the batch simulator, the restore-event drain and the
//! local API) runs on a runtime of its own, kept for the whole process: each test is
//! a plain `#[test]` that starts the `gbr` binary. Time is scaled: an hour of the
//! stack's clock passes in a second, so Glacier Standard restores (3 to 5 hours) take
//! seconds and Deep Archive Bulk ones (24 to 48 hours) are still under way when a
//! test cancels them.

#![allow(dead_code)]

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use gbr_local::scenario::prepare;
use gbr_local::services::LocalServices;
use gbr_local::simulator::SimOptions;
use gbr_local::stack::api::LocalApi;
use gbr_local::stack::{LocalStack, StackConfig};
use gbr_local::{ScaledClock, SimClock};
use serde_json::Value;

/// Clock seconds per wall second.
pub const SCALE: f64 = 3600.0;
/// The bucket the tests' objects are in.
pub const DATA_BUCKET: &str = "cli-archive";
/// A bucket only the whole-bucket `--prefix` test writes to: the other tests put objects
/// in DATA_BUCKET while it lists.
pub const FILTER_BUCKET: &str = "cli-filter";
/// How often (clock time) restore events are handed to the restore-event function.
const DRAIN_EVERY: Duration = Duration::from_secs(300);

pub struct Stack {
    pub url: String,
    pub api_key: String,
    /// moto's endpoint, for `--aws-endpoint-url`.
    pub moto: String,
    pub manifest_bucket: String,
    /// A bucket that exists but is not one the API may read.
    pub report_bucket: String,
    runtime: tokio::runtime::Runtime,
    stack: LocalStack,
    _api: LocalApi,
    _stop_drain: tokio::sync::watch::Sender<bool>,
    _services: LocalServices,
}

static STACK: OnceLock<Stack> = OnceLock::new();

/// The stack, started by the first test that asks.
pub fn stack() -> &'static Stack {
    STACK.get_or_init(start)
}

fn start() -> Stack {
    let services = LocalServices::start().unwrap_or_else(|e| {
        panic!("{e}\n(run `bash scripts/moto.sh` and export GBR_MOTO_SERVER=<the path it prints>)")
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime for the stack");
    let clock: Arc<dyn SimClock> = Arc::new(ScaledClock::new(jiff::Timestamp::now(), SCALE));
    let config = StackConfig {
        prefix: "cli".into(),
        data_buckets: vec![DATA_BUCKET.into(), FILTER_BUCKET.into()],
        // Each restore completes at its own drawn instant, so progress comes in steps.
        simulator: SimOptions {
            reorder: true,
            ..SimOptions::default()
        },
        seed: 1,
        objects: gbr_local::objects::ObjectsMode::Moto,
        queue: gbr_local::queue::QueueMode::Moto,
        fault_rate: 0.0,
        max_running_jobs: None,
        // One page (1,000 keys): a prefix past it shows how gbr lists what the API
        // cannot within its time limit.
        estimate_list_pages: Some(1),
    };
    let api_key = "cli-test-key".to_owned();
    let (stack, api, stop) = runtime.block_on(async {
        let stack = LocalStack::start(&services.endpoints(), Arc::clone(&clock), config)
            .await
            .expect("the local stack starts");
        let api = stack
            .serve_api(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), api_key.clone())
            .await
            .expect("the local API starts");
        // Restore events are only recorded while the drain runs.
        let (stop, stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(
            stack
                .drain()
                .run(Arc::clone(&clock), DRAIN_EVERY, clock.register(), stopped),
        );
        (stack, api, stop)
    });
    Stack {
        url: api.url.clone(),
        api_key,
        moto: services.moto.endpoint.clone(),
        manifest_bucket: stack.names.manifest_bucket.clone(),
        report_bucket: stack.names.report_bucket.clone(),
        runtime,
        stack,
        _api: api,
        _stop_drain: stop,
        _services: services,
    }
}

/// What one run of `gbr` did.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn from_output(output: Output) -> Self {
        Self {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Standard output as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:?}"))
    }

    /// Asserts the exit code, showing everything when it is another.
    pub fn expect(self, code: i32) -> Self {
        assert_eq!(self.code, Some(code), "{self:#?}");
        self
    }
}

/// `gbr` with no settings from this machine: no GBR_* or AWS_ENDPOINT_URL variables,
/// and a config directory of its own (empty unless a test writes a config there).
pub fn gbr_command(config_home: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_gbr"));
    command
        .env_remove("GBR_ENDPOINT")
        .env_remove("GBR_API_KEY")
        .env_remove("AWS_ENDPOINT_URL")
        .env("XDG_CONFIG_HOME", config_home)
        .stdin(Stdio::null());
    command
}

/// A fresh, empty directory for one test.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gbr-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

impl Stack {
    /// `gbr ARGS --endpoint URL --api-key KEY`.
    pub fn gbr(&self, args: &[&str]) -> Run {
        Run::from_output(self.command(args).output().expect("gbr runs"))
    }

    /// `gbr` started in the background, with the endpoint and key as flags.
    pub fn spawn(&self, args: &[&str]) -> Child {
        self.command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("gbr starts")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = gbr_command(&temp_dir("no-config"));
        command
            .args(args)
            .args(["--endpoint", &self.url, "--api-key", &self.api_key]);
        command
    }

    /// Creates the objects of `manifest` (rows `bucket,key`) archived in `class`, and
    /// answers the manifest as it should be uploaded.
    pub fn objects(&self, manifest: &str, class: &str) -> String {
        let prepared = self
            .runtime
            .block_on(prepare(
                &self.stack.objects,
                &self.stack.simulator,
                manifest,
                class,
                &[],
                Duration::from_secs(2 * 3600),
            ))
            .expect("the objects are created");
        prepared.manifest
    }

    /// Puts `body` at `key` of the manifest bucket; answers its s3:// URL.
    pub fn put_manifest(&self, key: &str, body: &str) -> String {
        self.put_object(key, body.as_bytes().to_vec())
    }

    /// Puts `body` at `key` of the manifest bucket; answers its s3:// URL.
    pub fn put_object(&self, key: &str, body: Vec<u8>) -> String {
        self.runtime
            .block_on(
                self.stack
                    .s3
                    .put_object()
                    .bucket(&self.manifest_bucket)
                    .key(key)
                    .body(body.into())
                    .send(),
            )
            .expect("the object is uploaded");
        format!("s3://{}/{key}", self.manifest_bucket)
    }

    /// Puts an object of `size` bytes at `key` of the data bucket, stored in `class`;
    /// answers its manifest row.
    pub fn put_data_object(&self, key: &str, class: &str, size: usize) -> String {
        self.put_object_in(DATA_BUCKET, key, class, size)
    }

    /// Puts an object of `size` bytes at `key` of `bucket`, stored in `class`; answers
    /// its manifest row.
    pub fn put_object_in(&self, bucket: &str, key: &str, class: &str, size: usize) -> String {
        self.runtime
            .block_on(
                self.stack
                    .s3
                    .put_object()
                    .bucket(bucket)
                    .key(key)
                    .storage_class(aws_sdk_s3::types::StorageClass::from(class))
                    .body(vec![b'x'; size].into())
                    .send(),
            )
            .expect("the object is created");
        format!("{bucket},{key}\r\n")
    }

    /// A manifest of `count` new objects under `prefix`, archived in `class`.
    pub fn manifest_of(&self, prefix: &str, count: usize, class: &str) -> String {
        let rows: String = (0..count)
            .map(|i| format!("{DATA_BUCKET},{prefix}/object-{i}.bin\n"))
            .collect();
        self.objects(&rows, class)
    }

    /// The events waiting in the stack's progress queue (SNS raw delivery), taken off it.
    pub fn take_events(&self) -> Vec<gbr_core::event::BulkEvent> {
        self.runtime
            .block_on(self.stack.progress().take())
            .expect("read the progress queue")
    }

    /// Cancels jobs a test leaves running, so they stop polling the shared stack.
    pub fn cancel_quietly(&self, job_ids: &[&str]) {
        for id in job_ids {
            let _ = self.gbr(&["cancel", id]);
        }
    }
}
