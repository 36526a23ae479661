//! One execution: its record (status, history, counters) and the loop that runs it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::task::AbortHandle;

use super::clock::{Elapsed, Participant, SimClock, add, parse_timestamp, run_until};
use super::definition::{
    ChoiceState, Definition, InputPath, PassState, ResultPath, STATES_ALL, STATES_TASK_FAILED,
    STATES_TIMEOUT, State, SucceedState, TaskState, Transition, WaitFor, WaitState,
};
use super::history::{
    ErrorDetails, EventDetails, HistoryEvent, TaskErrorDetails, TaskScheduledDetails,
    TaskStartedDetails,
};
use super::path::{Path, Template};
use super::registry::{TaskFailure, TaskHandler};
use super::retry::{JitterRng, retry_delay};

/// The largest input or output Step Functions passes (256 KiB of UTF-8).
pub const MAX_PAYLOAD_BYTES: usize = 256 * 1024;

/// The status of an execution, as DescribeExecution reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExecutionStatus {
    /// Still running.
    Running,
    /// Ended in success.
    Succeeded,
    /// Ended in failure.
    Failed,
    /// Stopped by StopExecution.
    Aborted,
}

/// What DescribeExecution reports, plus the engine's counters.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionDescription {
    /// The execution's ARN.
    pub execution_arn: String,
    /// The state machine's ARN.
    pub state_machine_arn: String,
    /// The execution's name.
    pub name: String,
    /// Its status.
    pub status: ExecutionStatus,
    /// When it started.
    pub start_date: Timestamp,
    /// When it ended.
    pub stop_date: Option<Timestamp>,
    /// Its input.
    pub input: Value,
    /// Its output (only when it succeeded).
    pub output: Option<Value>,
    /// The error it failed or was stopped with.
    pub error: Option<String>,
    /// The cause it failed or was stopped with.
    pub cause: Option<String>,
    /// State transitions as Step Functions bills them: one per state entered plus one
    /// per retry.
    pub state_transitions: u64,
    /// States entered.
    pub states_entered: u64,
    /// Retries made.
    pub retries: u64,
}

/// The final outcome of the state loop.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outcome {
    Succeeded(Value),
    Failed {
        error: Option<String>,
        cause: Option<String>,
    },
}

struct RecordState {
    status: ExecutionStatus,
    stop_date: Option<Timestamp>,
    output: Option<Value>,
    error: Option<String>,
    cause: Option<String>,
    history: Vec<HistoryEvent>,
    states_entered: u64,
    retries: u64,
    abort: Option<AbortHandle>,
}

/// An execution's record, shared by the engine and the task that runs it.
pub(crate) struct ExecutionRecord {
    pub arn: String,
    pub name: String,
    pub state_machine_arn: String,
    pub input: Value,
    pub start: Timestamp,
    state: Mutex<RecordState>,
    done: watch::Sender<bool>,
}

impl ExecutionRecord {
    pub fn new(
        arn: String,
        name: String,
        state_machine_arn: String,
        input: Value,
        start: Timestamp,
    ) -> Self {
        let record = Self {
            arn,
            name,
            state_machine_arn,
            input,
            start,
            state: Mutex::new(RecordState {
                status: ExecutionStatus::Running,
                stop_date: None,
                output: None,
                error: None,
                cause: None,
                history: Vec::new(),
                states_entered: 0,
                retries: 0,
                abort: None,
            }),
            done: watch::channel(false).0,
        };
        let started = EventDetails::execution_started(record.input.to_string());
        record.append(start, started);
        record
    }

    fn lock(&self) -> MutexGuard<'_, RecordState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn set_abort_handle(&self, handle: AbortHandle) {
        let mut state = self.lock();
        if state.status == ExecutionStatus::Running {
            state.abort = Some(handle);
        }
    }

    pub fn is_running(&self) -> bool {
        self.lock().status == ExecutionStatus::Running
    }

    fn push(state: &mut RecordState, at: Timestamp, details: EventDetails) {
        let id = state.history.len() as u64 + 1;
        state.history.push(HistoryEvent {
            id,
            previous_event_id: id - 1,
            timestamp: at,
            details,
        });
    }

    /// Appends an event while the execution runs; a stopped execution records nothing
    /// more.
    pub fn append(&self, at: Timestamp, details: EventDetails) -> bool {
        let mut state = self.lock();
        if state.status != ExecutionStatus::Running {
            return false;
        }
        if details.is_state_entered() {
            state.states_entered += 1;
        }
        Self::push(&mut state, at, details);
        true
    }

    pub fn count_retry(&self) {
        let mut state = self.lock();
        if state.status == ExecutionStatus::Running {
            state.retries += 1;
        }
    }

    /// Records how the state loop ended (unless the execution was stopped meanwhile).
    pub fn finish(&self, at: Timestamp, outcome: Outcome) {
        {
            let mut state = self.lock();
            if state.status != ExecutionStatus::Running {
                return;
            }
            let (status, details) = match outcome {
                Outcome::Succeeded(output) => {
                    let details = EventDetails::execution_succeeded(output.to_string());
                    state.output = Some(output);
                    (ExecutionStatus::Succeeded, details)
                }
                Outcome::Failed { error, cause } => {
                    state.error.clone_from(&error);
                    state.cause.clone_from(&cause);
                    let details = EventDetails::ExecutionFailed {
                        details: ErrorDetails { error, cause },
                    };
                    (ExecutionStatus::Failed, details)
                }
            };
            Self::push(&mut state, at, details);
            state.status = status;
            state.stop_date = Some(at);
            state.abort = None;
        }
        self.done.send_replace(true);
    }

    /// StopExecution: aborts a running execution; returns the stop date.
    pub fn abort(&self, at: Timestamp, error: Option<String>, cause: Option<String>) -> Timestamp {
        let handle = {
            let mut state = self.lock();
            if state.status != ExecutionStatus::Running {
                return state.stop_date.unwrap_or(at);
            }
            state.error.clone_from(&error);
            state.cause.clone_from(&cause);
            Self::push(
                &mut state,
                at,
                EventDetails::ExecutionAborted {
                    details: ErrorDetails { error, cause },
                },
            );
            state.status = ExecutionStatus::Aborted;
            state.stop_date = Some(at);
            state.abort.take()
        };
        if let Some(handle) = handle {
            handle.abort();
        }
        self.done.send_replace(true);
        at
    }

    pub fn describe(&self) -> ExecutionDescription {
        let state = self.lock();
        ExecutionDescription {
            execution_arn: self.arn.clone(),
            state_machine_arn: self.state_machine_arn.clone(),
            name: self.name.clone(),
            status: state.status,
            start_date: self.start,
            stop_date: state.stop_date,
            input: self.input.clone(),
            output: state.output.clone(),
            error: state.error.clone(),
            cause: state.cause.clone(),
            state_transitions: state.states_entered + state.retries,
            states_entered: state.states_entered,
            retries: state.retries,
        }
    }

    pub fn history(&self) -> Vec<HistoryEvent> {
        self.lock().history.clone()
    }

    pub async fn wait_for_end(&self) {
        let mut done = self.done.subscribe();
        // The sender lives in `self`, so the channel cannot close under us.
        let _ = done.wait_for(|ended| *ended).await;
    }
}

/// What an execution needs from the engine.
#[derive(Clone)]
pub(crate) struct Machine {
    pub definition: Definition,
    /// Handler of each Task state, by state name.
    pub handlers: BTreeMap<String, Arc<dyn TaskHandler>>,
    pub clock: Arc<dyn SimClock>,
    pub seed: u64,
    pub state_machine_arn: String,
}

impl Machine {
    fn region(&self) -> &str {
        self.state_machine_arn.split(':').nth(3).unwrap_or_default()
    }
}

/// Runs an execution to its end. `participant` keeps the virtual clock from moving while
/// the execution works; it is released when the execution ends.
pub(crate) async fn run(
    machine: Arc<Machine>,
    record: Arc<ExecutionRecord>,
    participant: Participant,
) {
    let mut runner = Runner {
        machine: &machine,
        record: &record,
        context: json!({
            "Execution": {
                "Id": record.arn,
                "Name": record.name,
                "Input": record.input,
            },
        }),
        rng: JitterRng::for_execution(machine.seed, &record.name),
    };
    let outcome = runner.run_states().await;
    record.finish(machine.clock.now(), outcome);
    drop(participant);
}

fn secs(seconds: u64) -> SignedDuration {
    SignedDuration::from_secs(i64::try_from(seconds).unwrap_or(i64::MAX))
}

/// A failure inside a state.
#[derive(Debug, Clone, PartialEq)]
struct Failure {
    error: String,
    cause: String,
    /// Retry and Catch never see it (`States.Runtime`, `States.DataLimitExceeded`).
    terminal: bool,
}

impl Failure {
    fn runtime(cause: String) -> Self {
        Self {
            error: "States.Runtime".into(),
            cause,
            terminal: true,
        }
    }

    fn data_limit(what: &str, state: &str) -> Self {
        Self {
            error: "States.DataLimitExceeded".into(),
            cause: format!(
                "The {what} of state '{state}' is larger than the maximum of {MAX_PAYLOAD_BYTES} bytes."
            ),
            terminal: true,
        }
    }

    fn catchable(error: impl Into<String>, cause: impl Into<String>) -> Self {
        Self {
            error: error.into(),
            cause: cause.into(),
            terminal: false,
        }
    }
}

impl From<Failure> for Outcome {
    fn from(failure: Failure) -> Self {
        Outcome::Failed {
            error: Some(failure.error),
            cause: Some(failure.cause),
        }
    }
}

/// How a state ended.
enum Step {
    Next { output: Value, next: String },
    End(Value),
    Fail(Outcome),
}

impl Step {
    fn after(output: Value, transition: &Transition) -> Step {
        match transition {
            Transition::Next(next) => Step::Next {
                output,
                next: next.clone(),
            },
            Transition::End => Step::End(output),
        }
    }
}

impl From<Failure> for Step {
    fn from(failure: Failure) -> Self {
        Step::Fail(failure.into())
    }
}

/// Whether an `ErrorEquals` list matches an error (terminal errors were filtered out).
fn error_matches(names: &[String], error: &str) -> bool {
    names.iter().any(|name| {
        name == error
            || name == STATES_ALL
            || (name == STATES_TASK_FAILED && error != STATES_TIMEOUT)
    })
}

/// The `resourceType` of Task events: every accepted resource is a Lambda function.
const RESOURCE_TYPE: &str = "lambda";

fn check_size(value: &Value, what: &str, state: &str) -> Result<String, Failure> {
    let text = value.to_string();
    if text.len() > MAX_PAYLOAD_BYTES {
        return Err(Failure::data_limit(what, state));
    }
    Ok(text)
}

struct Runner<'a> {
    machine: &'a Machine,
    record: &'a ExecutionRecord,
    /// The context object: the parts of it that `Parameters` may read.
    context: Value,
    rng: JitterRng,
}

impl Runner<'_> {
    fn clock(&self) -> &dyn SimClock {
        self.machine.clock.as_ref()
    }

    fn now(&self) -> Timestamp {
        self.machine.clock.now()
    }

    fn append(&self, details: EventDetails) {
        self.record.append(self.now(), details);
    }

    async fn run_states(&mut self) -> Outcome {
        let definition = &self.machine.definition;
        let mut name = definition.start_at.clone();
        let mut input = self.record.input.clone();
        loop {
            let Some(state) = definition.states.get(&name) else {
                // The definition was checked: every target exists.
                return Failure::runtime(format!("state '{name}' does not exist")).into();
            };
            let input_text = input.to_string();
            self.append(EventDetails::state_entered(
                state.type_name(),
                &name,
                input_text,
            ));
            let step = match state {
                State::Task(task) => self.task(&name, task, input).await,
                State::Pass(pass) => self.pass(&name, pass, input),
                State::Wait(wait) => self.wait(&name, wait, input).await,
                State::Choice(choice) => self.choice(&name, choice, input),
                State::Succeed(succeed) => self.succeed(&name, succeed, input),
                State::Fail(fail) => Step::Fail(Outcome::Failed {
                    error: fail.error.clone(),
                    cause: fail.cause.clone(),
                }),
            };
            let (output, next) = match step {
                Step::Fail(outcome) => return outcome,
                Step::End(output) => (output, None),
                Step::Next { output, next } => (output, Some(next)),
            };
            let output_text = match check_size(&output, "output", &name) {
                Ok(text) => text,
                Err(failure) => return failure.into(),
            };
            if let Some(exited) = EventDetails::state_exited(state.type_name(), &name, output_text)
            {
                self.append(exited);
            }
            match next {
                None => return Outcome::Succeeded(output),
                Some(next) => {
                    name = next;
                    input = output;
                }
            }
        }
    }

    /// `InputPath` or `OutputPath`.
    fn select(
        &self,
        path: &Path,
        data: &Value,
        field: &str,
        state: &str,
    ) -> Result<Value, Failure> {
        path.select(data).cloned().ok_or_else(|| {
            Failure::runtime(format!(
                "An error occurred while executing the state '{state}'. Invalid path '{path}' \
                 in {field}: no value at this path in '{data}'."
            ))
        })
    }

    fn render(
        &self,
        template: &Template,
        data: &Value,
        field: &str,
        state: &str,
    ) -> Result<Value, Failure> {
        template.render(data, &self.context).map_err(|missing| {
            Failure::runtime(format!(
                "An error occurred while executing the state '{state}'. The JSONPath '{}' specified \
                 for the field '{}' in {field} could not be found in the input '{data}'.",
                missing.path, missing.key
            ))
        })
    }

    /// `Parameters` on the selected input, if the state has them.
    fn effective_input(
        &self,
        state: &str,
        selected: Value,
        parameters: Option<&Template>,
    ) -> Result<Value, Failure> {
        match parameters {
            Some(template) => self.render(template, &selected, "Parameters", state),
            None => Ok(selected),
        }
    }

    async fn task(&mut self, name: &str, task: &TaskState, raw: Value) -> Step {
        let Some(handler) = self.machine.handlers.get(name).cloned() else {
            return Failure::runtime(format!("state '{name}' has no handler")).into();
        };
        let resource = &task.resource;
        // The same on every attempt: it reads only the input and the execution.
        let effective = match self
            .select(&task.input_path, &raw, "InputPath", name)
            .and_then(|selected| self.effective_input(name, selected, task.parameters.as_ref()))
        {
            Ok(effective) => effective,
            Err(failure) => return failure.into(),
        };
        let mut attempts = vec![0_u64; task.retry.len()];
        loop {
            self.append(EventDetails::TaskScheduled {
                details: TaskScheduledDetails {
                    resource_type: RESOURCE_TYPE.to_owned(),
                    resource: resource.clone(),
                    region: self.machine.region().to_owned(),
                    parameters: effective.to_string(),
                    timeout_in_seconds: task.timeout_seconds,
                },
            });
            self.append(EventDetails::TaskStarted {
                details: TaskStartedDetails {
                    resource_type: RESOURCE_TYPE.to_owned(),
                    resource: resource.clone(),
                },
            });
            let failure = match self
                .call(handler.as_ref(), effective.clone(), task.timeout_seconds)
                .await
            {
                Ok(result) => {
                    let text = match check_size(&result, "task result", name) {
                        Ok(text) => text,
                        Err(failure) => return failure.into(),
                    };
                    self.append(EventDetails::task_succeeded(RESOURCE_TYPE, resource, text));
                    match self.task_output(name, task, raw.clone(), result) {
                        Ok(output) => return Step::after(output, &task.transition),
                        Err(failure) => failure,
                    }
                }
                Err(CallError::Failed(TaskFailure { error, cause })) => {
                    self.append(EventDetails::TaskFailed {
                        details: TaskErrorDetails {
                            resource_type: RESOURCE_TYPE.to_owned(),
                            resource: resource.clone(),
                            error: error.clone(),
                            cause: cause.clone(),
                        },
                    });
                    Failure::catchable(error, cause)
                }
                Err(CallError::TimedOut) => {
                    self.append(EventDetails::TaskTimedOut {
                        details: TaskErrorDetails {
                            resource_type: RESOURCE_TYPE.to_owned(),
                            resource: resource.clone(),
                            error: STATES_TIMEOUT.to_owned(),
                            cause: String::new(),
                        },
                    });
                    Failure::catchable(STATES_TIMEOUT, "")
                }
            };
            if failure.terminal {
                return failure.into();
            }
            // Only the first retrier that matches counts, even when it is exhausted.
            if let Some(i) = task
                .retry
                .iter()
                .position(|r| error_matches(&r.error_equals, &failure.error))
            {
                let retrier = &task.retry[i];
                if attempts[i] < retrier.max_attempts {
                    let delay = retry_delay(
                        retrier,
                        u32::try_from(attempts[i]).unwrap_or(u32::MAX),
                        &mut self.rng,
                    );
                    attempts[i] += 1;
                    self.record.count_retry();
                    let until = add(self.now(), delay);
                    self.clock().sleep_until(until).await;
                    continue;
                }
            }
            if let Some(catcher) = task
                .catch
                .iter()
                .find(|c| error_matches(&c.error_equals, &failure.error))
            {
                let error_output = json!({"Error": failure.error, "Cause": failure.cause});
                return match write_result(&catcher.result_path, raw, error_output, name) {
                    Ok(output) => Step::Next {
                        output,
                        next: catcher.next.clone(),
                    },
                    Err(failure) => failure.into(),
                };
            }
            return failure.into();
        }
    }

    async fn call(
        &self,
        handler: &dyn TaskHandler,
        input: Value,
        timeout: Option<u64>,
    ) -> Result<Value, CallError> {
        let call = handler.call(input);
        match timeout {
            None => call.await.map_err(CallError::Failed),
            Some(seconds) => {
                let deadline = add(self.now(), secs(seconds));
                match run_until(self.clock(), deadline, call).await {
                    Ok(result) => result.map_err(CallError::Failed),
                    Err(Elapsed) => Err(CallError::TimedOut),
                }
            }
        }
    }

    /// `ResultSelector` then `ResultPath`.
    fn task_output(
        &self,
        name: &str,
        task: &TaskState,
        raw: Value,
        result: Value,
    ) -> Result<Value, Failure> {
        let selected = match &task.result_selector {
            Some(template) => self.render(template, &result, "ResultSelector", name)?,
            None => result,
        };
        apply_result_path(&task.result_path, raw, selected, name)
    }

    fn pass(&self, name: &str, pass: &PassState, raw: Value) -> Step {
        let run = || -> Result<Value, Failure> {
            let selected = match &pass.input_path {
                InputPath::Select(path) => self.select(path, &raw, "InputPath", name)?,
                InputPath::Null => json!({}),
            };
            let effective = self.effective_input(name, selected, pass.parameters.as_ref())?;
            let result = pass.result.clone().unwrap_or(effective);
            let combined = apply_result_path(&pass.result_path, raw.clone(), result, name)?;
            self.select(&pass.output_path, &combined, "OutputPath", name)
        };
        match run() {
            Ok(output) => Step::after(output, &pass.transition),
            Err(failure) => failure.into(),
        }
    }

    async fn wait(&self, name: &str, wait: &WaitState, raw: Value) -> Step {
        let entered = self.now();
        let until = (|| -> Result<Timestamp, Failure> {
            Ok(match &wait.wait {
                WaitFor::Seconds(seconds) => add(entered, secs(*seconds)),
                WaitFor::Timestamp(at) => *at,
                WaitFor::SecondsPath(path) => {
                    let value = path.select(&raw);
                    match value.and_then(Value::as_u64) {
                        Some(seconds) => add(entered, secs(seconds)),
                        None => {
                            return Err(Failure::runtime(format!(
                                "An error occurred while executing the state '{name}'. The SecondsPath \
                                 parameter does not reference a valid non-negative integer: '{path}' \
                                 selects {}.",
                                value.map_or_else(|| "nothing".to_owned(), Value::to_string)
                            )));
                        }
                    }
                }
                WaitFor::TimestampPath(path) => {
                    let value = path.select(&raw);
                    match value.and_then(Value::as_str).and_then(parse_timestamp) {
                        Some(at) => at,
                        None => {
                            return Err(Failure::runtime(format!(
                                "An error occurred while executing the state '{name}'. The TimestampPath \
                                 parameter does not reference a valid ISO-8601 extended offset date-time \
                                 format string: '{path}' selects {}.",
                                value.map_or_else(|| "nothing".to_owned(), Value::to_string)
                            )));
                        }
                    }
                }
            })
        })();
        let until = match until {
            Ok(until) => until,
            Err(failure) => return failure.into(),
        };
        self.clock().sleep_until(until).await;
        match self.select(&wait.output_path, &raw, "OutputPath", name) {
            Ok(output) => Step::Next {
                output,
                next: wait.next.clone(),
            },
            Err(failure) => failure.into(),
        }
    }

    fn choice(&self, name: &str, choice: &ChoiceState, raw: Value) -> Step {
        for rule in &choice.choices {
            match rule.rule.matches(&raw) {
                Ok(true) => {
                    return Step::Next {
                        output: raw,
                        next: rule.next.clone(),
                    };
                }
                Ok(false) => {}
                Err(invalid) => {
                    return Failure::runtime(format!(
                        "An error occurred while executing the state '{name}'. Invalid path '{}': \
                         The choice state's condition path references an invalid value.",
                        invalid.path
                    ))
                    .into();
                }
            }
        }
        Step::Next {
            output: raw,
            next: choice.default.clone(),
        }
    }

    fn succeed(&self, name: &str, succeed: &SucceedState, raw: Value) -> Step {
        let output = self
            .select(&succeed.input_path, &raw, "InputPath", name)
            .and_then(|effective| {
                self.select(&succeed.output_path, &effective, "OutputPath", name)
            });
        match output {
            Ok(output) => Step::End(output),
            Err(failure) => failure.into(),
        }
    }
}

enum CallError {
    Failed(TaskFailure),
    TimedOut,
}

fn apply_result_path(
    result_path: &ResultPath,
    raw: Value,
    result: Value,
    state: &str,
) -> Result<Value, Failure> {
    match result_path {
        ResultPath::Discard => Ok(raw),
        ResultPath::Write(path) => write_result(path, raw, result, state),
    }
}

fn write_result(path: &Path, raw: Value, result: Value, state: &str) -> Result<Value, Failure> {
    let shown = raw.to_string();
    path.write(raw, result).map_err(|_| {
        Failure::catchable(
            "States.ResultPathMatchFailure",
            format!(
                "An error occurred while executing the state '{state}'. Unable to apply \
                 ReferencePath {path} to input '{shown}'."
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_matching_follows_the_wildcards() {
        let names = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert!(error_matches(&names(&["A", "B"]), "B"));
        assert!(!error_matches(&names(&["A"]), "B"));
        assert!(error_matches(&names(&["States.ALL"]), "States.Timeout"));
        assert!(error_matches(&names(&["States.TaskFailed"]), "Custom"));
        assert!(!error_matches(
            &names(&["States.TaskFailed"]),
            "States.Timeout"
        ));
        assert!(error_matches(&names(&["States.Timeout"]), "States.Timeout"));
    }
}
