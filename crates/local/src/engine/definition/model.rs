//! The parsed form of a definition: states, their transitions, Retry and Catch.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde_json::Value;

use crate::engine::choice::Rule;
use crate::engine::path::{Path, Template};

/// `States.ALL`: matches every error except `States.Runtime`.
pub const STATES_ALL: &str = "States.ALL";
/// `States.TaskFailed`: matches every error of a Task except `States.Timeout`.
pub const STATES_TASK_FAILED: &str = "States.TaskFailed";
/// `States.Timeout`: a Task ran longer than its `TimeoutSeconds`.
pub const STATES_TIMEOUT: &str = "States.Timeout";
/// The `States.*` names a Retry or Catch may list.
pub const ACCEPTED_STATES_ERRORS: [&str; 3] = [STATES_ALL, STATES_TASK_FAILED, STATES_TIMEOUT];

/// A parsed, validated definition.
#[derive(Debug, Clone, PartialEq)]
pub struct Definition {
    /// `StartAt`.
    pub start_at: String,
    /// The states by name.
    pub states: BTreeMap<String, State>,
}

impl Definition {
    /// Every Task state's name and resource.
    pub fn task_resources(&self) -> impl Iterator<Item = (&str, &str)> {
        self.states.iter().filter_map(|(name, state)| match state {
            State::Task(task) => Some((name.as_str(), task.resource.as_str())),
            _ => None,
        })
    }
}

/// A state.
#[derive(Debug, Clone, PartialEq)]
pub enum State {
    /// `"Type": "Task"`.
    Task(TaskState),
    /// `"Type": "Pass"`.
    Pass(PassState),
    /// `"Type": "Wait"`.
    Wait(WaitState),
    /// `"Type": "Choice"`.
    Choice(ChoiceState),
    /// `"Type": "Succeed"`.
    Succeed(SucceedState),
    /// `"Type": "Fail"`.
    Fail(FailState),
}

impl State {
    /// The `Type` as written.
    pub fn type_name(&self) -> &'static str {
        match self {
            State::Task(_) => "Task",
            State::Pass(_) => "Pass",
            State::Wait(_) => "Wait",
            State::Choice(_) => "Choice",
            State::Succeed(_) => "Succeed",
            State::Fail(_) => "Fail",
        }
    }
}

/// Where a Task or Pass state goes when it is done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    /// `Next`.
    Next(String),
    /// `"End": true`.
    End,
}

/// A Pass state's `InputPath`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputPath {
    /// Select with this path (`$` when the field is absent).
    Select(Path),
    /// `null`: the empty object.
    Null,
}

/// `ResultPath` of a Task or Pass state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResultPath {
    /// Write the result here (`$` when the field is absent).
    Write(Path),
    /// `null`: discard the result, output the input.
    Discard,
}

/// A Task state.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskState {
    /// `Resource`, a Lambda function ARN (after substitutions).
    pub resource: String,
    /// `InputPath`.
    pub input_path: Path,
    /// `Parameters`.
    pub parameters: Option<Template>,
    /// `ResultSelector`.
    pub result_selector: Option<Template>,
    /// `ResultPath`.
    pub result_path: ResultPath,
    /// `Retry`.
    pub retry: Vec<Retrier>,
    /// `Catch`.
    pub catch: Vec<Catcher>,
    /// `TimeoutSeconds` (none: the task may run for ever, as in Step Functions).
    pub timeout_seconds: Option<u64>,
    /// `Next` / `End`.
    pub transition: Transition,
}

/// A Pass state.
#[derive(Debug, Clone, PartialEq)]
pub struct PassState {
    /// `InputPath`.
    pub input_path: InputPath,
    /// `Parameters`.
    pub parameters: Option<Template>,
    /// `Result`.
    pub result: Option<Value>,
    /// `ResultPath`.
    pub result_path: ResultPath,
    /// `OutputPath`.
    pub output_path: Path,
    /// `Next` / `End`.
    pub transition: Transition,
}

/// How long a Wait state waits.
#[derive(Debug, Clone, PartialEq)]
pub enum WaitFor {
    /// `Seconds`.
    Seconds(u64),
    /// `Timestamp`.
    Timestamp(Timestamp),
    /// `SecondsPath`.
    SecondsPath(Path),
    /// `TimestampPath`.
    TimestampPath(Path),
}

/// A Wait state.
#[derive(Debug, Clone, PartialEq)]
pub struct WaitState {
    /// The wait.
    pub wait: WaitFor,
    /// `OutputPath`.
    pub output_path: Path,
    /// `Next`.
    pub next: String,
}

/// A top-level choice rule.
#[derive(Debug, Clone, PartialEq)]
pub struct ChoiceRule {
    /// The rule.
    pub rule: Rule,
    /// `Next`.
    pub next: String,
}

/// A Choice state.
#[derive(Debug, Clone, PartialEq)]
pub struct ChoiceState {
    /// `Choices`.
    pub choices: Vec<ChoiceRule>,
    /// `Default`.
    pub default: String,
}

/// A Succeed state.
#[derive(Debug, Clone, PartialEq)]
pub struct SucceedState {
    /// `InputPath`.
    pub input_path: Path,
    /// `OutputPath`.
    pub output_path: Path,
}

/// A Fail state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailState {
    /// `Error`.
    pub error: Option<String>,
    /// `Cause`.
    pub cause: Option<String>,
}

/// `JitterStrategy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Jitter {
    /// `FULL`: a uniform draw between 0 and the computed interval.
    Full,
    /// No jitter, when `JitterStrategy` is absent.
    None,
}

/// A retrier, with defaults applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Retrier {
    /// `ErrorEquals`.
    pub error_equals: Vec<String>,
    /// `IntervalSeconds` (default 1).
    pub interval_seconds: u64,
    /// `MaxAttempts` (default 3; 0 means never retry).
    pub max_attempts: u64,
    /// `BackoffRate` (default 2.0).
    pub backoff_rate: f64,
    /// `MaxDelaySeconds`.
    pub max_delay_seconds: Option<u64>,
    /// `JitterStrategy`.
    pub jitter: Jitter,
}

/// A catcher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catcher {
    /// `ErrorEquals`.
    pub error_equals: Vec<String>,
    /// `ResultPath` (`$` when absent).
    pub result_path: Path,
    /// `Next`.
    pub next: String,
}
