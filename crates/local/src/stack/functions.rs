//! The Lambda functions of the state machine, called in-process with the JSON Lambda
//! would deliver, under the ARNs the definition's substitutions give them.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use gbr_core::ports::Ports;
use gbr_core::settings::Settings;
use gbr_lambdas::step_tasks;
use lambda_runtime::Diagnostic;
use serde::Serialize;
use serde_json::Value;

use super::resources::{ACCOUNT, REGION};
use crate::engine::registry::{Registry, TaskFailure, handler_fn};
use crate::faults::FaultInjector;
use crate::metrics::Usage;

/// How long one Reconcile call keeps starting HeadObject calls (real time).
const RECONCILE_BUDGET: std::time::Duration = std::time::Duration::from_secs(60);

/// (substitution in the definition, function name).
pub const FUNCTIONS: [(&str, &str); 8] = [
    ("RegisterManifestFunctionArn", "register-manifest"),
    ("SubmitBatchJobFunctionArn", "submit-batch-job"),
    ("PollBatchJobFunctionArn", "poll-batch-job"),
    ("TallyFunctionArn", "tally"),
    ("DecideFunctionArn", "decide"),
    ("ReconcileFunctionArn", "reconcile"),
    ("RecordFailureFunctionArn", "record-failure"),
    ("RestoreEventFunctionArn", "restore-event"),
];

pub fn function_arn(name: &str) -> String {
    format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:glacier-bulk-restore-{name}")
}

/// The definition's `DefinitionSubstitutions`, as the template sets them.
pub fn substitutions() -> BTreeMap<String, String> {
    FUNCTIONS
        .iter()
        .map(|(key, name)| ((*key).to_owned(), function_arn(name)))
        .collect()
}

/// How a Lambda error reaches Step Functions: the error type is `Error`, the message
/// `Cause`.
fn task_error(d: Diagnostic) -> TaskFailure {
    TaskFailure::new(d.error_type, d.error_message)
}

fn output<T: Serialize>(result: Result<T, Diagnostic>) -> Result<Value, TaskFailure> {
    let value = result.map_err(task_error)?;
    serde_json::to_value(value).map_err(|e| TaskFailure::new("Lambda.Unknown", e.to_string()))
}

/// Every Task resource of the definition, bound to the real handlers on `ports`.
/// Each invocation is counted in `usage`; `faults` cuts some off after their effects.
pub fn registry(
    ports: Arc<Ports>,
    settings: Arc<Settings>,
    usage: Arc<Usage>,
    faults: Arc<FaultInjector>,
) -> Registry {
    let mut registry = Registry::new();
    macro_rules! bind {
        ($name:literal, |$p:ident, $s:ident, $input:ident| $call:expr) => {{
            let ports = Arc::clone(&ports);
            let settings = Arc::clone(&settings);
            let usage = Arc::clone(&usage);
            let faults = Arc::clone(&faults);
            registry = registry.with(
                function_arn($name),
                handler_fn(move |$input: Value| {
                    let $p = Arc::clone(&ports);
                    let $s = Arc::clone(&settings);
                    let usage = Arc::clone(&usage);
                    let faults = Arc::clone(&faults);
                    async move {
                        let started = Instant::now();
                        let result = $call.await;
                        usage.invoked($name, started);
                        if faults.cut_off_task() {
                            // What Step Functions sees of a function timeout.
                            return Err(TaskFailure::new(
                                "Lambda.Unknown",
                                "Task timed out (injected fault, after the function's effects)",
                            ));
                        }
                        output(result)
                    }
                }),
            );
        }};
    }
    bind!("register-manifest", |p, s, input| {
        step_tasks::register_manifest(&p, &s, input)
    });
    bind!("submit-batch-job", |p, _s, input| {
        step_tasks::submit_batch_job(&p, input)
    });
    bind!("poll-batch-job", |p, s, input| step_tasks::poll_batch_job(
        &p, &s, input
    ));
    bind!("tally", |p, _s, input| step_tasks::tally(&p, input));
    bind!("decide", |p, _s, input| step_tasks::decide(&p, input));
    bind!("reconcile", |p, s, input| step_tasks::reconcile(
        &p,
        &s,
        input,
        RECONCILE_BUDGET
    ));
    bind!("record-failure", |p, _s, input| step_tasks::record_failure(
        &p, input
    ));
    registry
}
