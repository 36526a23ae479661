//! A local AWS Step Functions engine for a strict subset of the States Language.
//!
//! It is a test instrument: exactly right on the subset it accepts (see
//! [`definition`]), and loud about the rest. An [`Engine`] owns a parsed definition,
//! the handlers of its Task resources ([`registry`]), a clock ([`clock`]) and the
//! executions it started, each of which runs as a Tokio task and records a history in
//! the shape of `GetExecutionHistory` ([`history`]).
//!
//! # The subset
//!
//! The subset is what the project's definitions (`statemachine/*.asl.json`) use:
//!
//! - top level: `Comment`, `StartAt`, `States`;
//! - Pass: `Comment`, `Result`, `ResultPath`, `Next`;
//! - Task: `Comment`, `Resource` (a Lambda function ARN), `Parameters` (top-level
//!   `"key.$": "$.path"` members), `ResultPath`, `TimeoutSeconds`, `Retry` (every field,
//!   `JitterStrategy` `FULL`), `Catch` (`ErrorEquals`, `ResultPath`, `Next`), `Next`;
//! - Choice: `Comment`, `Choices` (`Variable` with `StringEquals`, `NumericGreaterThan`
//!   or `BooleanEquals`, and `Next`), `Default`;
//! - Wait: `SecondsPath`, `Next`;
//! - Succeed: `Comment`; Fail: `Error`, `Cause`;
//! - error names `States.ALL`, `States.Timeout` and custom ones; paths `$.a.b`.
//!
//! Kept although those definitions do not use them, because the conformance scenarios
//! (`tests/conformance/definitions/`) run them against aws-local-stepfunctions:
//!
//! - Choice: `StringEqualsPath`, `NumericEquals`, `NumericLessThan`,
//!   `NumericLessThanEquals`, `NumericGreaterThanEquals` and the `…Path` form of every
//!   numeric operator, `TimestampLessThan`, `TimestampLessThanPath`,
//!   `TimestampGreaterThanEqualsPath`, `IsPresent`, `IsNull`, `And`, `Or`, `Not`
//!   (`choice`, `presence`, `type-mismatch`);
//! - Wait: `Seconds`, `Timestamp`, `TimestampPath`, `OutputPath` (`wait`);
//! - `"End": true` on Pass and Task states (`choice`, `result-path-root`,
//!   `retry-catch`, `runtime-error`, `task-timeout`);
//! - Pass: `InputPath` (a path or `null`), `Parameters` (and literal members in any
//!   `Parameters`), `OutputPath`, `ResultPath` `null` or `$` (`paths`,
//!   `result-path-root`);
//! - Task: `InputPath`, `ResultSelector`, `ResultPath` `null`, no `TimeoutSeconds`,
//!   `Retry` or `Catch`, retriers that leave fields to their defaults, catchers without
//!   `ResultPath`, `States.TaskFailed` (`retry-catch`, `runtime-error`, `task-timeout`);
//! - `$$.Execution.Id`, `$$.Execution.Name` and `$$.Execution.Input` in `Parameters`,
//!   the only context-object fields the engine provides (`paths`, `retry-catch`);
//! - Succeed: `InputPath`, `OutputPath` (`paths`); Fail: `Comment` and neither `Error`
//!   nor `Cause` (`fail-bare`).
//!
//! Kept because the semantics need them whatever a definition says: the retrier defaults
//! (`IntervalSeconds` 1, `MaxAttempts` 3, `BackoffRate` 2.0, no jitter), `ResultPath`
//! creating the objects on its way, and the runtime errors `States.Runtime`,
//! `States.DataLimitExceeded` and `States.ResultPathMatchFailure`.
//!
//! Everything else is rejected by name when the definition is parsed, among it: the
//! top-level `Version` and `TimeoutSeconds`, `TimestampGreaterThanEquals`, a Choice
//! without `Default`, `InputPath`/`OutputPath` on Choice, `End`, `InputPath` and
//! `Comment` on Wait, `OutputPath` on Task, `null` where a definition never writes it,
//! `"JitterStrategy": "NONE"`, `$$` outside `Parameters`, bracket notation, `.$` keys
//! below the top level of a template, intrinsic functions, and resources other than
//! Lambda function ARNs.

pub mod choice;
pub mod clock;
pub mod definition;
pub mod execution;
pub mod history;
pub mod path;
pub mod registry;
pub mod retry;

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Deref;
use std::sync::{Arc, Mutex, MutexGuard};

use jiff::Timestamp;
use serde_json::Value;

use self::clock::SimClock;
use self::definition::{Definition, DefinitionError};
use self::execution::{ExecutionDescription, ExecutionRecord, MAX_PAYLOAD_BYTES, Machine};
use self::history::HistoryEvent;
use self::registry::Registry;

/// The state machine ARN an engine uses unless told otherwise.
pub const DEFAULT_STATE_MACHINE_ARN: &str =
    "arn:aws:states:us-east-1:123456789012:stateMachine:local";

/// An execution's ARN (`arn:…:execution:<state machine>:<name>`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct ExecutionArn(String);

impl ExecutionArn {
    /// The ARN as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Deref for ExecutionArn {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ExecutionArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<ExecutionArn> for String {
    fn from(arn: ExecutionArn) -> String {
        arn.0
    }
}

/// Errors of the engine's API (those StartExecution, DescribeExecution, … would return).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// The name breaks Step Functions' rules for execution names.
    #[error(
        "invalid execution name `{0}`: 1 to 80 characters, no whitespace, brackets, wildcards, control characters or any of \" # % \\ ^ | ~ ` $ & , ; : /"
    )]
    InvalidName(String),
    /// An execution with this name exists and is closed, or has another input.
    #[error("execution `{0}` already exists")]
    ExecutionAlreadyExists(String),
    /// No execution has this ARN.
    #[error("execution `{0}` does not exist")]
    ExecutionDoesNotExist(String),
    /// The input is larger than Step Functions accepts.
    #[error("execution input is {0} bytes, more than the maximum of {MAX_PAYLOAD_BYTES}")]
    InvalidExecutionInput(usize),
    /// The state machine ARN is not one.
    #[error(
        "`{0}` is not a state machine ARN (arn:<partition>:states:<region>:<account>:stateMachine:<name>)"
    )]
    InvalidStateMachineArn(String),
    /// StartExecution was called outside a Tokio runtime.
    #[error("executions run as Tokio tasks: start them from within a Tokio runtime")]
    NoRuntime,
}

/// Owns a definition and its executions.
pub struct Engine {
    machine: Arc<Machine>,
    executions: Mutex<BTreeMap<String, Arc<ExecutionRecord>>>,
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("state_machine_arn", &self.machine.state_machine_arn)
            .field("executions", &self.lock().len())
            .finish()
    }
}

fn is_valid_name(name: &str) -> bool {
    let count = name.chars().count();
    (1..=80).contains(&count)
        && name.chars().all(|c| {
            !(c.is_whitespace()
                || c.is_control()
                || ('\u{7f}'..='\u{9f}').contains(&c)
                || "<>{}[]?*\"#%\\^|~`$&,;:/".contains(c))
        })
}

impl Engine {
    /// Parses `definition_json` (after `${Name}` substitutions), resolves every Task
    /// resource in `registry`, and readies the engine. Jitter draws come from `seed`.
    pub fn new(
        definition_json: &str,
        substitutions: &BTreeMap<String, String>,
        registry: &Registry,
        clock: Arc<dyn SimClock>,
        seed: u64,
    ) -> Result<Engine, DefinitionError> {
        let definition = Definition::parse(definition_json, substitutions)?;
        let mut handlers = BTreeMap::new();
        for (state, resource) in definition.task_resources() {
            let handler = registry
                .get(resource)
                .ok_or_else(|| DefinitionError::NoHandler {
                    state: state.to_owned(),
                    resource: resource.to_owned(),
                })?;
            handlers.insert(state.to_owned(), handler);
        }
        Ok(Engine {
            machine: Arc::new(Machine {
                definition,
                handlers,
                clock,
                seed,
                state_machine_arn: DEFAULT_STATE_MACHINE_ARN.to_owned(),
            }),
            executions: Mutex::new(BTreeMap::new()),
        })
    }

    /// Uses another state machine ARN (before any execution starts).
    pub fn with_state_machine_arn(mut self, arn: &str) -> Result<Engine, EngineError> {
        let parts: Vec<&str> = arn.split(':').collect();
        let valid = parts.len() == 7
            && parts[0] == "arn"
            && parts[2] == "states"
            && parts[5] == "stateMachine"
            && is_valid_name(parts[6]);
        if !valid {
            return Err(EngineError::InvalidStateMachineArn(arn.to_owned()));
        }
        Arc::make_mut(&mut self.machine).state_machine_arn = arn.to_owned();
        Ok(self)
    }

    /// The state machine's ARN.
    pub fn state_machine_arn(&self) -> &str {
        &self.machine.state_machine_arn
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Arc<ExecutionRecord>>> {
        self.executions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn execution_arn(&self, name: &str) -> String {
        let prefix = self
            .machine
            .state_machine_arn
            .replacen(":stateMachine:", ":execution:", 1);
        format!("{prefix}:{name}")
    }

    fn record(&self, arn: &str) -> Result<Arc<ExecutionRecord>, EngineError> {
        let missing = || EngineError::ExecutionDoesNotExist(arn.to_owned());
        let name = arn.rsplit(':').next().ok_or_else(missing)?;
        let record = self.lock().get(name).cloned().ok_or_else(missing)?;
        if record.arn == arn {
            Ok(record)
        } else {
            Err(missing())
        }
    }

    /// StartExecution. Starting again with the name of a running execution and the same
    /// input returns that execution's ARN; a different input, or a name whose execution
    /// has ended, is `ExecutionAlreadyExists` (as in Step Functions).
    ///
    /// Must be called within a Tokio runtime: the execution runs as a Tokio task.
    pub fn start_execution(&self, name: &str, input: Value) -> Result<ExecutionArn, EngineError> {
        if !is_valid_name(name) {
            return Err(EngineError::InvalidName(name.to_owned()));
        }
        let size = input.to_string().len();
        if size > MAX_PAYLOAD_BYTES {
            return Err(EngineError::InvalidExecutionInput(size));
        }
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| EngineError::NoRuntime)?;
        let mut executions = self.lock();
        if let Some(existing) = executions.get(name) {
            if existing.is_running() && existing.input == input {
                return Ok(ExecutionArn(existing.arn.clone()));
            }
            return Err(EngineError::ExecutionAlreadyExists(name.to_owned()));
        }
        let clock = &self.machine.clock;
        let arn = self.execution_arn(name);
        let record = Arc::new(ExecutionRecord::new(
            arn.clone(),
            name.to_owned(),
            self.machine.state_machine_arn.clone(),
            input,
            clock.now(),
        ));
        // Registered before the task exists, so virtual time cannot pass it by.
        let participant = clock.register();
        let task = runtime.spawn(execution::run(
            Arc::clone(&self.machine),
            Arc::clone(&record),
            participant,
        ));
        record.set_abort_handle(task.abort_handle());
        executions.insert(name.to_owned(), record);
        Ok(ExecutionArn(arn))
    }

    /// DescribeExecution.
    pub fn describe_execution(&self, arn: &str) -> Result<ExecutionDescription, EngineError> {
        Ok(self.record(arn)?.describe())
    }

    /// StopExecution: aborts a running execution (recording `ExecutionAborted`), even in
    /// the middle of a Wait or a Task. Returns the stop date; stopping an execution that
    /// has already ended changes nothing and returns its stop date.
    pub fn stop_execution(
        &self,
        arn: &str,
        error: Option<&str>,
        cause: Option<&str>,
    ) -> Result<Timestamp, EngineError> {
        let record = self.record(arn)?;
        Ok(record.abort(
            self.machine.clock.now(),
            error.map(str::to_owned),
            cause.map(str::to_owned),
        ))
    }

    /// GetExecutionHistory (all events, oldest first).
    pub fn history(&self, arn: &str) -> Result<Vec<HistoryEvent>, EngineError> {
        Ok(self.record(arn)?.history())
    }

    /// Waits until the execution has ended, then describes it.
    ///
    /// With a [`clock::VirtualClock`], the caller must not hold a registered
    /// [`clock::Participant`] while it waits here: time would never advance.
    pub async fn wait_for(&self, arn: &str) -> Result<ExecutionDescription, EngineError> {
        let record = self.record(arn)?;
        record.wait_for_end().await;
        Ok(record.describe())
    }

    /// Every execution's ARN, by name.
    pub fn executions(&self) -> Vec<ExecutionArn> {
        self.lock()
            .values()
            .map(|record| ExecutionArn(record.arn.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn execution_names_follow_step_functions_rules() {
        for good in ["a", "run-1_x.y", &"x".repeat(80), "ünïcode"] {
            assert!(is_valid_name(good), "{good}");
        }
        for bad in [
            "",
            &"x".repeat(81),
            "a b",
            "a/b",
            "a:b",
            "a*",
            "a{b",
            "a\u{1}",
            "a\u{85}",
        ] {
            assert!(!is_valid_name(bad), "{bad:?}");
        }
    }
}
