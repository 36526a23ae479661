//! The state machine definition: serde types for the accepted subset of the Amazon
//! States Language, and the checks that reject everything else by name.
//!
//! Accepted: top-level `Comment`, `StartAt`, `States`, `Version` (`"1.0"`) and
//! `TimeoutSeconds`; states of type Task, Pass, Wait, Choice, Succeed and Fail with the
//! fields listed on each raw type below. Every other field, state type, choice operator,
//! `States.*` error name or JsonPath construct is an error naming it and its state.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use jiff::Timestamp;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::choice::{Condition, NumericOp, Operand, Rule, TimestampOp};
use super::clock::parse_timestamp;
use super::path::{Path, Root, Step, Template};

/// `States.ALL`: matches every error except `States.Runtime`.
pub const STATES_ALL: &str = "States.ALL";
/// `States.TaskFailed`: matches every error of a Task except `States.Timeout`.
pub const STATES_TASK_FAILED: &str = "States.TaskFailed";
/// `States.Timeout`: a Task ran longer than its `TimeoutSeconds`.
pub const STATES_TIMEOUT: &str = "States.Timeout";
/// The `States.*` names a Retry or Catch may list.
pub const ACCEPTED_STATES_ERRORS: [&str; 3] = [STATES_ALL, STATES_TASK_FAILED, STATES_TIMEOUT];

/// Why a definition was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DefinitionError {
    /// The text is not JSON.
    #[error("the definition is not JSON: {0}")]
    NotJson(String),
    /// A `${Name}` with no value in the substitutions.
    #[error("`${{{0}}}` has no value in the definition substitutions")]
    MissingSubstitution(String),
    /// A top-level field outside the subset.
    #[error("top level: field `{0}` is not accepted")]
    UnknownTopLevelField(String),
    /// A top-level field with a wrong value, or a missing one.
    #[error("top level: {0}")]
    InvalidTopLevel(String),
    /// A state type outside the subset.
    #[error(
        "state `{state}`: type `{state_type}` is not accepted (only Task, Pass, Wait, Choice, Succeed and Fail are)"
    )]
    UnknownStateType {
        /// The state.
        state: String,
        /// Its `Type`.
        state_type: String,
    },
    /// A field outside the subset (`field` is a path inside the state, such as
    /// `Retry[0].Foo` or `Choices[1].StringMatches`).
    #[error("state `{state}`: field `{field}` is not accepted in a {state_type} state")]
    UnknownField {
        /// The state.
        state: String,
        /// Its type.
        state_type: String,
        /// The field.
        field: String,
    },
    /// A field with a wrong value.
    #[error("state `{state}`: field `{field}`: {message}")]
    InvalidField {
        /// The state.
        state: String,
        /// The field (a path inside the state).
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A state whose fields are inconsistent (e.g. both `Next` and `End`).
    #[error("state `{state}`: {message}")]
    InvalidState {
        /// The state.
        state: String,
        /// What is wrong.
        message: String,
    },
    /// `StartAt` names no state.
    #[error("StartAt `{0}` is not a state")]
    StartAtNotFound(String),
    /// A `Next`, `Default` or catcher `Next` names no state.
    #[error("state `{state}`: `{field}` names `{target}`, which is not a state")]
    TargetNotFound {
        /// The state.
        state: String,
        /// The field.
        field: String,
        /// The missing target.
        target: String,
    },
    /// A state no path from `StartAt` reaches.
    #[error("state `{0}` cannot be reached from StartAt")]
    Unreachable(String),
    /// A Task resource with no handler.
    #[error("state `{state}`: resource `{resource}` has no handler in the registry")]
    NoHandler {
        /// The state.
        state: String,
        /// The resource (after substitutions).
        resource: String,
    },
}

/// A parsed, validated definition.
#[derive(Debug, Clone, PartialEq)]
pub struct Definition {
    /// `Comment`.
    pub comment: Option<String>,
    /// `StartAt`.
    pub start_at: String,
    /// `Version`.
    pub version: Option<String>,
    /// `TimeoutSeconds` of the whole execution.
    pub timeout_seconds: Option<u64>,
    /// The states by name.
    pub states: BTreeMap<String, State>,
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

    /// Every state this one may go to, with the field that names it.
    pub fn targets(&self) -> Vec<(String, &str)> {
        let mut out = Vec::new();
        fn transition<'a>(out: &mut Vec<(String, &'a str)>, t: &'a Transition) {
            if let Transition::Next(next) = t {
                out.push(("Next".to_owned(), next.as_str()));
            }
        }
        match self {
            State::Task(task) => {
                transition(&mut out, &task.transition);
                for (i, catcher) in task.catch.iter().enumerate() {
                    out.push((format!("Catch[{i}].Next"), catcher.next.as_str()));
                }
            }
            State::Pass(pass) => transition(&mut out, &pass.transition),
            State::Wait(wait) => transition(&mut out, &wait.transition),
            State::Choice(choice) => {
                for (i, c) in choice.choices.iter().enumerate() {
                    out.push((format!("Choices[{i}].Next"), c.next.as_str()));
                }
                if let Some(default) = &choice.default {
                    out.push(("Default".into(), default.as_str()));
                }
            }
            State::Succeed(_) | State::Fail(_) => {}
        }
        out
    }
}

/// Where a state goes when it is done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    /// `Next`.
    Next(String),
    /// `"End": true`.
    End,
}

/// `InputPath` / `OutputPath`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataPath {
    /// Select with this path (`$` when the field is absent).
    Select(Path),
    /// `null`: the empty object.
    Null,
}

impl Default for DataPath {
    fn default() -> Self {
        DataPath::Select(root_path())
    }
}

/// `ResultPath`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResultPath {
    /// Write the result here (`$` when the field is absent).
    Write(Path),
    /// `null`: discard the result, output the input.
    Discard,
}

impl Default for ResultPath {
    fn default() -> Self {
        ResultPath::Write(root_path())
    }
}

fn root_path() -> Path {
    // "$" is always a valid path.
    match Path::parse("$") {
        Ok(path) => path,
        Err(_) => unreachable!("`$` parses"),
    }
}

/// A Task state.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskState {
    /// `Resource`, after substitutions.
    pub resource: String,
    /// `InputPath`.
    pub input_path: DataPath,
    /// `Parameters`.
    pub parameters: Option<Template>,
    /// `ResultSelector`.
    pub result_selector: Option<Template>,
    /// `ResultPath`.
    pub result_path: ResultPath,
    /// `OutputPath`.
    pub output_path: DataPath,
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
    pub input_path: DataPath,
    /// `Parameters`.
    pub parameters: Option<Template>,
    /// `Result`.
    pub result: Option<Value>,
    /// `ResultPath`.
    pub result_path: ResultPath,
    /// `OutputPath`.
    pub output_path: DataPath,
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
    /// `InputPath`.
    pub input_path: DataPath,
    /// `OutputPath`.
    pub output_path: DataPath,
    /// The wait.
    pub wait: WaitFor,
    /// `Next` / `End`.
    pub transition: Transition,
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
    /// `InputPath`.
    pub input_path: DataPath,
    /// `OutputPath`.
    pub output_path: DataPath,
    /// `Choices`.
    pub choices: Vec<ChoiceRule>,
    /// `Default`.
    pub default: Option<String>,
}

/// A Succeed state.
#[derive(Debug, Clone, PartialEq)]
pub struct SucceedState {
    /// `InputPath`.
    pub input_path: DataPath,
    /// `OutputPath`.
    pub output_path: DataPath,
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Jitter {
    /// `FULL`: a uniform draw between 0 and the computed interval.
    Full,
    /// `NONE` (the default).
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
    /// `JitterStrategy` (default NONE).
    pub jitter: Jitter,
}

/// A catcher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catcher {
    /// `ErrorEquals`.
    pub error_equals: Vec<String>,
    /// `ResultPath`.
    pub result_path: ResultPath,
    /// `Next`.
    pub next: String,
}

// ---------------------------------------------------------------------------------------
// Raw serde types: exactly the accepted fields, everything else denied.

fn nullable<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
struct RawDefinition {
    comment: Option<String>,
    start_at: String,
    states: serde_json::Map<String, Value>,
    version: Option<String>,
    timeout_seconds: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
struct RawTask {
    #[serde(rename = "Type")]
    _type: String,
    #[serde(rename = "Comment")]
    _comment: Option<String>,
    resource: String,
    #[serde(default, deserialize_with = "nullable")]
    input_path: Option<Option<String>>,
    parameters: Option<Value>,
    result_selector: Option<Value>,
    #[serde(default, deserialize_with = "nullable")]
    result_path: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    output_path: Option<Option<String>>,
    #[serde(default)]
    retry: Vec<RawRetrier>,
    #[serde(default)]
    catch: Vec<RawCatcher>,
    timeout_seconds: Option<u64>,
    next: Option<String>,
    end: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
struct RawPass {
    #[serde(rename = "Type")]
    _type: String,
    #[serde(rename = "Comment")]
    _comment: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    input_path: Option<Option<String>>,
    parameters: Option<Value>,
    #[serde(default, deserialize_with = "nullable")]
    result: Option<Option<Value>>,
    #[serde(default, deserialize_with = "nullable")]
    result_path: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    output_path: Option<Option<String>>,
    next: Option<String>,
    end: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
struct RawWait {
    #[serde(rename = "Type")]
    _type: String,
    #[serde(rename = "Comment")]
    _comment: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    input_path: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    output_path: Option<Option<String>>,
    seconds: Option<u64>,
    timestamp: Option<String>,
    seconds_path: Option<String>,
    timestamp_path: Option<String>,
    next: Option<String>,
    end: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
struct RawChoice {
    #[serde(rename = "Type")]
    _type: String,
    #[serde(rename = "Comment")]
    _comment: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    input_path: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    output_path: Option<Option<String>>,
    choices: Vec<RawRule>,
    default: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
struct RawSucceed {
    #[serde(rename = "Type")]
    _type: String,
    #[serde(rename = "Comment")]
    _comment: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    input_path: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    output_path: Option<Option<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
struct RawFail {
    #[serde(rename = "Type")]
    _type: String,
    #[serde(rename = "Comment")]
    _comment: Option<String>,
    error: Option<String>,
    cause: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
struct RawRetrier {
    error_equals: Vec<String>,
    interval_seconds: Option<u64>,
    max_attempts: Option<u64>,
    backoff_rate: Option<f64>,
    max_delay_seconds: Option<u64>,
    jitter_strategy: Option<Jitter>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
struct RawCatcher {
    error_equals: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    result_path: Option<Option<String>>,
    next: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
struct RawRule {
    variable: Option<String>,
    next: Option<String>,
    and: Option<Vec<RawRule>>,
    or: Option<Vec<RawRule>>,
    not: Option<Box<RawRule>>,
    string_equals: Option<String>,
    string_equals_path: Option<String>,
    numeric_equals: Option<serde_json::Number>,
    numeric_equals_path: Option<String>,
    numeric_less_than: Option<serde_json::Number>,
    numeric_less_than_path: Option<String>,
    numeric_greater_than: Option<serde_json::Number>,
    numeric_greater_than_path: Option<String>,
    numeric_less_than_equals: Option<serde_json::Number>,
    numeric_less_than_equals_path: Option<String>,
    numeric_greater_than_equals: Option<serde_json::Number>,
    numeric_greater_than_equals_path: Option<String>,
    boolean_equals: Option<bool>,
    timestamp_less_than: Option<String>,
    timestamp_less_than_path: Option<String>,
    timestamp_greater_than_equals: Option<String>,
    timestamp_greater_than_equals_path: Option<String>,
    is_present: Option<bool>,
    is_null: Option<bool>,
}

// ---------------------------------------------------------------------------------------
// Parsing.

/// The message serde gives for a denied field starts with this.
const UNKNOWN_FIELD: &str = "unknown field `";

/// Splits a serde error into the offending field (if it was an unknown one) and message.
fn unknown_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix(UNKNOWN_FIELD)?;
    rest.split('`').next()
}

fn raw_state<T: DeserializeOwned>(
    state: &str,
    state_type: &str,
    value: Value,
) -> Result<T, DefinitionError> {
    serde_path_to_error::deserialize::<_, T>(value).map_err(|error| {
        let path = error.path().to_string();
        let message = error.into_inner().to_string();
        match unknown_field(&message) {
            // The path already ends with the unknown field.
            Some(field) => DefinitionError::UnknownField {
                state: state.to_owned(),
                state_type: state_type.to_owned(),
                field: if path.is_empty() || path == "." {
                    field.to_owned()
                } else {
                    path
                },
            },
            None => {
                let path = if path == "." { String::new() } else { path };
                if path.is_empty() {
                    DefinitionError::InvalidState {
                        state: state.to_owned(),
                        message,
                    }
                } else {
                    DefinitionError::InvalidField {
                        state: state.to_owned(),
                        field: path,
                        message,
                    }
                }
            }
        }
    })
}

/// Replaces every `${Name}` in every string value of the definition.
fn substitute(
    value: &mut Value,
    substitutions: &BTreeMap<String, String>,
) -> Result<(), DefinitionError> {
    match value {
        Value::String(text) => {
            if text.contains("${") {
                *text = substitute_text(text, substitutions)?;
            }
            Ok(())
        }
        Value::Array(items) => items
            .iter_mut()
            .try_for_each(|v| substitute(v, substitutions)),
        Value::Object(map) => map
            .values_mut()
            .try_for_each(|v| substitute(v, substitutions)),
        _ => Ok(()),
    }
}

fn substitute_text(
    text: &str,
    substitutions: &BTreeMap<String, String>,
) -> Result<String, DefinitionError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let name_len = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.'))
            .unwrap_or(after.len());
        let name = &after[..name_len];
        if name.is_empty() || !after[name_len..].starts_with('}') {
            // Not a substitution (for example a literal "${" in a string).
            out.push_str("${");
            rest = after;
            continue;
        }
        let value = substitutions
            .get(name)
            .ok_or_else(|| DefinitionError::MissingSubstitution(name.to_owned()))?;
        out.push_str(value);
        rest = &after[name_len + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

struct StateParser<'a> {
    state: &'a str,
}

impl StateParser<'_> {
    fn invalid(&self, field: impl Into<String>, message: impl Into<String>) -> DefinitionError {
        DefinitionError::InvalidField {
            state: self.state.to_owned(),
            field: field.into(),
            message: message.into(),
        }
    }

    fn inconsistent(&self, message: impl Into<String>) -> DefinitionError {
        DefinitionError::InvalidState {
            state: self.state.to_owned(),
            message: message.into(),
        }
    }

    fn path(&self, field: &str, text: &str) -> Result<Path, DefinitionError> {
        Path::parse(text).map_err(|e| self.invalid(field, e.to_string()))
    }

    fn data_path(
        &self,
        field: &str,
        raw: Option<Option<String>>,
    ) -> Result<DataPath, DefinitionError> {
        match raw {
            None => Ok(DataPath::default()),
            Some(None) => Ok(DataPath::Null),
            Some(Some(text)) => {
                let path = self.path(field, &text)?;
                if path.root() == Root::Context {
                    return Err(
                        self.invalid(field, "a context-object path (`$$`) is not accepted here")
                    );
                }
                Ok(DataPath::Select(path))
            }
        }
    }

    fn result_path(
        &self,
        field: &str,
        raw: Option<Option<String>>,
    ) -> Result<ResultPath, DefinitionError> {
        match raw {
            None => Ok(ResultPath::default()),
            Some(None) => Ok(ResultPath::Discard),
            Some(Some(text)) => {
                let path = self.path(field, &text)?;
                if path.root() == Root::Context {
                    return Err(
                        self.invalid(field, "a context-object path (`$$`) cannot be written")
                    );
                }
                if path.steps().iter().any(|s| matches!(s, Step::Index(_))) {
                    return Err(self.invalid(field, "array indexes are not accepted in ResultPath"));
                }
                Ok(ResultPath::Write(path))
            }
        }
    }

    fn template(
        &self,
        field: &str,
        raw: Option<Value>,
    ) -> Result<Option<Template>, DefinitionError> {
        raw.map(|value| {
            if !value.is_object() {
                return Err(self.invalid(field, "must be a JSON object"));
            }
            Template::compile(&value).map_err(|e| self.invalid(field, e.to_string()))
        })
        .transpose()
    }

    fn transition(
        &self,
        next: Option<String>,
        end: Option<bool>,
    ) -> Result<Transition, DefinitionError> {
        match (next, end) {
            (Some(_), Some(_)) => Err(self.inconsistent("has both `Next` and `End`")),
            (Some(next), None) => Ok(Transition::Next(next)),
            (None, Some(true)) => Ok(Transition::End),
            (None, Some(false)) => Err(self.invalid("End", "must be true when present")),
            (None, None) => Err(self.inconsistent("needs `Next` or `\"End\": true`")),
        }
    }

    fn error_equals(
        &self,
        field: &str,
        names: &[String],
        is_last: bool,
    ) -> Result<(), DefinitionError> {
        if names.is_empty() {
            return Err(self.invalid(field, "must list at least one error name"));
        }
        for name in names {
            if name.starts_with("States.") && !ACCEPTED_STATES_ERRORS.contains(&name.as_str()) {
                return Err(self.invalid(
                    field,
                    format!(
                        "`{name}` is not accepted (accepted States.* names: {})",
                        ACCEPTED_STATES_ERRORS.join(", ")
                    ),
                ));
            }
        }
        if names.iter().any(|n| n == STATES_ALL) {
            if names.len() != 1 {
                return Err(self.invalid(field, "`States.ALL` must appear alone"));
            }
            if !is_last {
                return Err(self.invalid(field, "`States.ALL` must be in the last entry"));
            }
        }
        Ok(())
    }

    fn positive(&self, field: &str, value: Option<u64>) -> Result<Option<u64>, DefinitionError> {
        match value {
            Some(0) => Err(self.invalid(field, "must be a positive integer")),
            other => Ok(other),
        }
    }

    fn retrier(&self, i: usize, count: usize, raw: RawRetrier) -> Result<Retrier, DefinitionError> {
        let at = |field: &str| format!("Retry[{i}].{field}");
        self.error_equals(&at("ErrorEquals"), &raw.error_equals, i + 1 == count)?;
        let interval_seconds = self
            .positive(&at("IntervalSeconds"), raw.interval_seconds)?
            .unwrap_or(1);
        let backoff_rate = raw.backoff_rate.unwrap_or(2.0);
        if !(backoff_rate.is_finite() && backoff_rate >= 1.0) {
            return Err(self.invalid(at("BackoffRate"), "must be a number not less than 1.0"));
        }
        let max_delay_seconds = self.positive(&at("MaxDelaySeconds"), raw.max_delay_seconds)?;
        Ok(Retrier {
            error_equals: raw.error_equals,
            interval_seconds,
            max_attempts: raw.max_attempts.unwrap_or(3),
            backoff_rate,
            max_delay_seconds,
            jitter: raw.jitter_strategy.unwrap_or(Jitter::None),
        })
    }

    fn catcher(&self, i: usize, count: usize, raw: RawCatcher) -> Result<Catcher, DefinitionError> {
        let at = |field: &str| format!("Catch[{i}].{field}");
        self.error_equals(&at("ErrorEquals"), &raw.error_equals, i + 1 == count)?;
        Ok(Catcher {
            error_equals: raw.error_equals,
            result_path: self.result_path(&at("ResultPath"), raw.result_path)?,
            next: raw.next,
        })
    }

    fn task(&self, raw: RawTask) -> Result<TaskState, DefinitionError> {
        if raw.resource.is_empty() {
            return Err(self.invalid("Resource", "must not be empty"));
        }
        let retry_count = raw.retry.len();
        let retry = raw
            .retry
            .into_iter()
            .enumerate()
            .map(|(i, r)| self.retrier(i, retry_count, r))
            .collect::<Result<_, _>>()?;
        let catch_count = raw.catch.len();
        let catch = raw
            .catch
            .into_iter()
            .enumerate()
            .map(|(i, c)| self.catcher(i, catch_count, c))
            .collect::<Result<_, _>>()?;
        Ok(TaskState {
            resource: raw.resource,
            input_path: self.data_path("InputPath", raw.input_path)?,
            parameters: self.template("Parameters", raw.parameters)?,
            result_selector: self.template("ResultSelector", raw.result_selector)?,
            result_path: self.result_path("ResultPath", raw.result_path)?,
            output_path: self.data_path("OutputPath", raw.output_path)?,
            retry,
            catch,
            timeout_seconds: self.positive("TimeoutSeconds", raw.timeout_seconds)?,
            transition: self.transition(raw.next, raw.end)?,
        })
    }

    fn pass(&self, raw: RawPass) -> Result<PassState, DefinitionError> {
        Ok(PassState {
            input_path: self.data_path("InputPath", raw.input_path)?,
            parameters: self.template("Parameters", raw.parameters)?,
            result: raw.result.map(|r| r.unwrap_or(Value::Null)),
            result_path: self.result_path("ResultPath", raw.result_path)?,
            output_path: self.data_path("OutputPath", raw.output_path)?,
            transition: self.transition(raw.next, raw.end)?,
        })
    }

    fn wait(&self, raw: RawWait) -> Result<WaitState, DefinitionError> {
        let given = [
            raw.seconds.is_some(),
            raw.timestamp.is_some(),
            raw.seconds_path.is_some(),
            raw.timestamp_path.is_some(),
        ]
        .iter()
        .filter(|given| **given)
        .count();
        if given != 1 {
            return Err(self.inconsistent(
                "needs exactly one of `Seconds`, `Timestamp`, `SecondsPath` and `TimestampPath`",
            ));
        }
        let wait = if let Some(seconds) = raw.seconds {
            WaitFor::Seconds(seconds)
        } else if let Some(text) = raw.timestamp {
            WaitFor::Timestamp(parse_timestamp(&text).ok_or_else(|| {
                self.invalid(
                    "Timestamp",
                    format!("`{text}` is not an RFC 3339 timestamp"),
                )
            })?)
        } else if let Some(text) = raw.seconds_path {
            WaitFor::SecondsPath(self.path("SecondsPath", &text)?)
        } else if let Some(text) = raw.timestamp_path {
            WaitFor::TimestampPath(self.path("TimestampPath", &text)?)
        } else {
            unreachable!("exactly one wait field was counted")
        };
        Ok(WaitState {
            input_path: self.data_path("InputPath", raw.input_path)?,
            output_path: self.data_path("OutputPath", raw.output_path)?,
            wait,
            transition: self.transition(raw.next, raw.end)?,
        })
    }

    fn choice(&self, raw: RawChoice) -> Result<ChoiceState, DefinitionError> {
        if raw.choices.is_empty() {
            return Err(self.invalid("Choices", "must not be empty"));
        }
        let choices = raw
            .choices
            .into_iter()
            .enumerate()
            .map(|(i, rule)| {
                let at = format!("Choices[{i}]");
                let Some(next) = rule.next.clone() else {
                    return Err(
                        self.invalid(format!("{at}.Next"), "a top-level choice rule needs `Next`")
                    );
                };
                Ok(ChoiceRule {
                    rule: self.rule(&at, rule)?,
                    next,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(ChoiceState {
            input_path: self.data_path("InputPath", raw.input_path)?,
            output_path: self.data_path("OutputPath", raw.output_path)?,
            choices,
            default: raw.default,
        })
    }

    fn nested(&self, at: &str, rule: RawRule) -> Result<Rule, DefinitionError> {
        if rule.next.is_some() {
            return Err(self.invalid(
                format!("{at}.Next"),
                "a nested choice rule must not have `Next`",
            ));
        }
        self.rule(at, rule)
    }

    fn rule(&self, at: &str, raw: RawRule) -> Result<Rule, DefinitionError> {
        let field = |name: &str| format!("{at}.{name}");
        let number = |name: &str, n: serde_json::Number| {
            n.as_f64()
                .ok_or_else(|| self.invalid(field(name), "must be a number"))
        };
        let timestamp = |name: &str, text: String| {
            parse_timestamp(&text).ok_or_else(|| {
                self.invalid(
                    field(name),
                    format!("`{text}` is not an RFC 3339 timestamp"),
                )
            })
        };
        let path = |name: &str, text: String| self.path(&field(name), &text);

        let mut conditions: Vec<(&str, Condition)> = Vec::new();
        if let Some(s) = raw.string_equals {
            conditions.push(("StringEquals", Condition::StringEquals(Operand::Literal(s))));
        }
        if let Some(p) = raw.string_equals_path {
            conditions.push((
                "StringEqualsPath",
                Condition::StringEquals(Operand::Path(path("StringEqualsPath", p)?)),
            ));
        }
        let numeric = [
            (
                "NumericEquals",
                NumericOp::Equals,
                raw.numeric_equals,
                raw.numeric_equals_path,
            ),
            (
                "NumericLessThan",
                NumericOp::LessThan,
                raw.numeric_less_than,
                raw.numeric_less_than_path,
            ),
            (
                "NumericGreaterThan",
                NumericOp::GreaterThan,
                raw.numeric_greater_than,
                raw.numeric_greater_than_path,
            ),
            (
                "NumericLessThanEquals",
                NumericOp::LessThanEquals,
                raw.numeric_less_than_equals,
                raw.numeric_less_than_equals_path,
            ),
            (
                "NumericGreaterThanEquals",
                NumericOp::GreaterThanEquals,
                raw.numeric_greater_than_equals,
                raw.numeric_greater_than_equals_path,
            ),
        ];
        for (name, op, literal, by_path) in numeric {
            if let Some(n) = literal {
                conditions.push((
                    name,
                    Condition::Numeric(op, Operand::Literal(number(name, n)?)),
                ));
            }
            if let Some(p) = by_path {
                let path_name = match op {
                    NumericOp::Equals => "NumericEqualsPath",
                    NumericOp::LessThan => "NumericLessThanPath",
                    NumericOp::GreaterThan => "NumericGreaterThanPath",
                    NumericOp::LessThanEquals => "NumericLessThanEqualsPath",
                    NumericOp::GreaterThanEquals => "NumericGreaterThanEqualsPath",
                };
                conditions.push((
                    path_name,
                    Condition::Numeric(op, Operand::Path(path(path_name, p)?)),
                ));
            }
        }
        if let Some(b) = raw.boolean_equals {
            conditions.push(("BooleanEquals", Condition::BooleanEquals(b)));
        }
        let timestamps = [
            (
                "TimestampLessThan",
                "TimestampLessThanPath",
                TimestampOp::LessThan,
                raw.timestamp_less_than,
                raw.timestamp_less_than_path,
            ),
            (
                "TimestampGreaterThanEquals",
                "TimestampGreaterThanEqualsPath",
                TimestampOp::GreaterThanEquals,
                raw.timestamp_greater_than_equals,
                raw.timestamp_greater_than_equals_path,
            ),
        ];
        for (name, path_name, op, literal, by_path) in timestamps {
            if let Some(t) = literal {
                conditions.push((
                    name,
                    Condition::Timestamp(op, Operand::Literal(timestamp(name, t)?)),
                ));
            }
            if let Some(p) = by_path {
                conditions.push((
                    path_name,
                    Condition::Timestamp(op, Operand::Path(path(path_name, p)?)),
                ));
            }
        }
        if let Some(b) = raw.is_present {
            conditions.push(("IsPresent", Condition::IsPresent(b)));
        }
        if let Some(b) = raw.is_null {
            conditions.push(("IsNull", Condition::IsNull(b)));
        }

        let combinators = usize::from(raw.and.is_some())
            + usize::from(raw.or.is_some())
            + usize::from(raw.not.is_some());
        if combinators > 0 {
            if combinators > 1 || !conditions.is_empty() || raw.variable.is_some() {
                return Err(self.invalid(
                    at,
                    "a rule with And, Or or Not must have nothing else but Next",
                ));
            }
            if let Some(rules) = raw.and {
                return Ok(Rule::And(self.rules(&field("And"), rules)?));
            }
            if let Some(rules) = raw.or {
                return Ok(Rule::Or(self.rules(&field("Or"), rules)?));
            }
            if let Some(rule) = raw.not {
                return Ok(Rule::Not(Box::new(self.nested(&field("Not"), *rule)?)));
            }
        }
        let Some(variable) = raw.variable else {
            return Err(self.invalid(at, "a comparison needs `Variable`"));
        };
        let variable = self.path(&field("Variable"), &variable)?;
        let mut conditions = conditions.into_iter();
        match (conditions.next(), conditions.next()) {
            (Some((_, condition)), None) => Ok(Rule::Test {
                variable,
                condition,
            }),
            (None, _) => Err(self.invalid(at, "a comparison needs exactly one operator")),
            (Some((first, _)), Some((second, _))) => Err(self.invalid(
                at,
                format!("a comparison needs exactly one operator, found `{first}` and `{second}`"),
            )),
        }
    }

    fn rules(&self, at: &str, raw: Vec<RawRule>) -> Result<Vec<Rule>, DefinitionError> {
        if raw.is_empty() {
            return Err(self.invalid(at, "must not be empty"));
        }
        raw.into_iter()
            .enumerate()
            .map(|(i, rule)| self.nested(&format!("{at}[{i}]"), rule))
            .collect()
    }
}

fn parse_state(name: &str, value: Value) -> Result<State, DefinitionError> {
    let Value::Object(map) = &value else {
        return Err(DefinitionError::InvalidState {
            state: name.to_owned(),
            message: "must be a JSON object".into(),
        });
    };
    let state_type = match map.get("Type") {
        Some(Value::String(t)) => t.clone(),
        Some(_) => {
            return Err(DefinitionError::InvalidField {
                state: name.to_owned(),
                field: "Type".into(),
                message: "must be a string".into(),
            });
        }
        None => {
            return Err(DefinitionError::InvalidState {
                state: name.to_owned(),
                message: "has no `Type`".into(),
            });
        }
    };
    let parser = StateParser { state: name };
    let t = state_type.as_str();
    Ok(match t {
        "Task" => State::Task(parser.task(raw_state(name, t, value)?)?),
        "Pass" => State::Pass(parser.pass(raw_state(name, t, value)?)?),
        "Wait" => State::Wait(parser.wait(raw_state(name, t, value)?)?),
        "Choice" => State::Choice(parser.choice(raw_state(name, t, value)?)?),
        "Succeed" => {
            let raw: RawSucceed = raw_state(name, t, value)?;
            State::Succeed(SucceedState {
                input_path: parser.data_path("InputPath", raw.input_path)?,
                output_path: parser.data_path("OutputPath", raw.output_path)?,
            })
        }
        "Fail" => {
            let raw: RawFail = raw_state(name, t, value)?;
            State::Fail(FailState {
                error: raw.error,
                cause: raw.cause,
            })
        }
        _ => {
            return Err(DefinitionError::UnknownStateType {
                state: name.to_owned(),
                state_type,
            });
        }
    })
}

impl Definition {
    /// Parses and validates a definition, after replacing every `${Name}` in its string
    /// values with `substitutions[Name]` (as CloudFormation's `DefinitionSubstitutions`).
    pub fn parse(
        json: &str,
        substitutions: &BTreeMap<String, String>,
    ) -> Result<Definition, DefinitionError> {
        let mut value: Value =
            serde_json::from_str(json).map_err(|e| DefinitionError::NotJson(e.to_string()))?;
        substitute(&mut value, substitutions)?;
        let raw: RawDefinition = serde_json::from_value(value).map_err(|e| {
            let message = e.to_string();
            match unknown_field(&message) {
                Some(field) => DefinitionError::UnknownTopLevelField(field.to_owned()),
                None => DefinitionError::InvalidTopLevel(message),
            }
        })?;
        if let Some(version) = &raw.version {
            if version != "1.0" {
                return Err(DefinitionError::InvalidTopLevel(format!(
                    "Version `{version}` is not accepted (only \"1.0\" is)"
                )));
            }
        }
        if raw.timeout_seconds == Some(0) {
            return Err(DefinitionError::InvalidTopLevel(
                "TimeoutSeconds must be a positive integer".into(),
            ));
        }
        if raw.states.is_empty() {
            return Err(DefinitionError::InvalidTopLevel(
                "States must not be empty".into(),
            ));
        }
        let mut states = BTreeMap::new();
        for (name, value) in raw.states {
            let state = parse_state(&name, value)?;
            states.insert(name, state);
        }
        let definition = Definition {
            comment: raw.comment,
            start_at: raw.start_at,
            version: raw.version,
            timeout_seconds: raw.timeout_seconds,
            states,
        };
        definition.check_graph()?;
        Ok(definition)
    }

    fn check_graph(&self) -> Result<(), DefinitionError> {
        if !self.states.contains_key(&self.start_at) {
            return Err(DefinitionError::StartAtNotFound(self.start_at.clone()));
        }
        for (name, state) in &self.states {
            for (field, target) in state.targets() {
                if !self.states.contains_key(target) {
                    return Err(DefinitionError::TargetNotFound {
                        state: name.clone(),
                        field,
                        target: target.to_owned(),
                    });
                }
            }
        }
        let mut reached = BTreeSet::new();
        let mut queue = VecDeque::from([self.start_at.as_str()]);
        while let Some(name) = queue.pop_front() {
            if !reached.insert(name) {
                continue;
            }
            if let Some(state) = self.states.get(name) {
                queue.extend(state.targets().into_iter().map(|(_, target)| target));
            }
        }
        if let Some(unreached) = self
            .states
            .keys()
            .find(|name| !reached.contains(name.as_str()))
        {
            return Err(DefinitionError::Unreachable(unreached.clone()));
        }
        Ok(())
    }

    /// Every Task state's name and resource.
    pub fn task_resources(&self) -> impl Iterator<Item = (&str, &str)> {
        self.states.iter().filter_map(|(name, state)| match state {
            State::Task(task) => Some((name.as_str(), task.resource.as_str())),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(definition: Value) -> Result<Definition, DefinitionError> {
        Definition::parse(&definition.to_string(), &BTreeMap::new())
    }

    fn one_state(state: Value) -> Result<Definition, DefinitionError> {
        parse(json!({"StartAt": "S", "States": {"S": state}}))
    }

    fn task(extra: Value) -> Value {
        let mut base = json!({"Type": "Task", "Resource": "arn:r", "End": true});
        if let (Value::Object(base), Value::Object(extra)) = (&mut base, extra) {
            base.extend(extra);
        }
        base
    }

    #[test]
    fn parses_every_accepted_field() {
        let full = json!({
            "Comment": "c", "Version": "1.0", "TimeoutSeconds": 100, "StartAt": "T",
            "States": {
                "T": {
                    "Type": "Task", "Comment": "c", "Resource": "arn:${Fn}",
                    "InputPath": "$.in", "Parameters": {"a.$": "$.x", "b": 1},
                    "ResultSelector": {"r.$": "$.y"}, "ResultPath": "$.res", "OutputPath": null,
                    "TimeoutSeconds": 5,
                    "Retry": [
                        {"ErrorEquals": ["E1", "States.Timeout"], "IntervalSeconds": 3, "MaxAttempts": 4,
                         "BackoffRate": 1.5, "MaxDelaySeconds": 10, "JitterStrategy": "FULL"},
                        {"ErrorEquals": ["States.ALL"]}
                    ],
                    "Catch": [
                        {"ErrorEquals": ["States.TaskFailed"], "ResultPath": "$.err", "Next": "P"},
                        {"ErrorEquals": ["States.ALL"], "ResultPath": null, "Next": "F"}
                    ],
                    "Next": "P"
                },
                "P": {"Type": "Pass", "Result": {"k": 1}, "ResultPath": null, "Parameters": {"x": 1},
                      "InputPath": null, "OutputPath": "$", "Next": "W"},
                "W": {"Type": "Wait", "SecondsPath": "$$.State.RetryCount", "InputPath": "$",
                      "OutputPath": "$", "Next": "C"},
                "C": {"Type": "Choice", "InputPath": "$", "OutputPath": "$", "Default": "S",
                      "Choices": [
                        {"And": [{"Variable": "$.a", "IsPresent": true},
                                 {"Not": {"Variable": "$.a", "IsNull": true}}], "Next": "S"},
                        {"Variable": "$.t", "TimestampGreaterThanEqualsPath": "$.u", "Next": "F"}
                      ]},
                "S": {"Type": "Succeed", "InputPath": "$", "OutputPath": "$.x"},
                "F": {"Type": "Fail", "Error": "E", "Cause": "C"}
            }
        })
        .to_string();
        let subs = BTreeMap::from([("Fn".to_owned(), "fn".to_owned())]);
        let definition = Definition::parse(&full, &subs).expect("the full subset parses");
        assert_eq!(definition.states.len(), 6);
        assert_eq!(definition.timeout_seconds, Some(100));
        let State::Task(t) = &definition.states["T"] else {
            panic!("not a task")
        };
        assert_eq!(t.resource, "arn:fn");
        assert_eq!(t.timeout_seconds, Some(5));
        assert_eq!(t.output_path, DataPath::Null);
        assert_eq!(t.retry[0].jitter, Jitter::Full);
        assert_eq!(t.retry[0].max_delay_seconds, Some(10));
        assert_eq!(t.catch[1].result_path, ResultPath::Discard);
        let State::Choice(c) = &definition.states["C"] else {
            panic!("not a choice")
        };
        assert!(matches!(&c.choices[0].rule, Rule::And(rules) if rules.len() == 2));
        assert_eq!(
            Definition::parse(&full, &BTreeMap::new()),
            Err(DefinitionError::MissingSubstitution("Fn".into()))
        );
        let text = json!({
            "StartAt": "T",
            "States": {"T": task(json!({"Resource": "arn:${Fn}:x${Fn}", "Parameters": {"k": "${Fn}"}}))}
        })
        .to_string();
        let subs = BTreeMap::from([("Fn".to_owned(), "lambda".to_owned())]);
        let definition = Definition::parse(&text, &subs).expect("parses");
        let State::Task(t) = &definition.states["T"] else {
            panic!("not a task")
        };
        assert_eq!(t.resource, "arn:lambda:xlambda");
        assert_eq!(
            t.parameters,
            Some(Template::Literal(json!({"k": "lambda"})))
        );
        assert_eq!(t.timeout_seconds, None);
        assert_eq!(t.result_path, ResultPath::default());
    }

    #[test]
    fn retrier_defaults_are_those_of_the_language() {
        let d = one_state(task(json!({"Retry": [{"ErrorEquals": ["E"]}]}))).expect("parses");
        let State::Task(t) = &d.states["S"] else {
            panic!("not a task")
        };
        assert_eq!(
            t.retry,
            vec![Retrier {
                error_equals: vec!["E".into()],
                interval_seconds: 1,
                max_attempts: 3,
                backoff_rate: 2.0,
                max_delay_seconds: None,
                jitter: Jitter::None,
            }]
        );
    }

    fn unknown_field(state: Value) -> (String, String) {
        match one_state(state) {
            Err(DefinitionError::UnknownField { state, field, .. }) => (state, field),
            other => panic!("expected UnknownField, got {other:?}"),
        }
    }

    #[test]
    fn rejects_unknown_fields_naming_field_and_state() {
        assert_eq!(
            unknown_field(task(json!({"HeartbeatSeconds": 5}))),
            ("S".into(), "HeartbeatSeconds".into())
        );
        assert_eq!(
            unknown_field(task(json!({"Retry": [{"ErrorEquals": ["E"], "Foo": 1}]}))),
            ("S".into(), "Retry[0].Foo".into())
        );
        assert_eq!(
            unknown_field(task(
                json!({"Catch": [{"ErrorEquals": ["E"], "Next": "S", "Bar": 1}]})
            )),
            ("S".into(), "Catch[0].Bar".into())
        );
        assert_eq!(
            unknown_field(json!({"Type": "Pass", "ResultSelector": {}, "End": true})),
            ("S".into(), "ResultSelector".into())
        );
        assert_eq!(
            unknown_field(json!({"Type": "Wait", "Seconds": 1, "Parameters": {}, "End": true})),
            ("S".into(), "Parameters".into())
        );
        assert_eq!(
            unknown_field(json!({"Type": "Succeed", "Next": "S"})),
            ("S".into(), "Next".into())
        );
        assert_eq!(
            unknown_field(json!({"Type": "Fail", "ErrorPath": "$.e"})),
            ("S".into(), "ErrorPath".into())
        );
        assert_eq!(
            unknown_field(json!({"Type": "Choice", "Default": "S", "Choices": [
                {"Or": [{"Variable": "$.a", "StringMatches": "x*"}], "Next": "S"}
            ]})),
            ("S".into(), "Choices[0].Or[0].StringMatches".into())
        );
        assert_eq!(
            unknown_field(json!({"Type": "Choice", "Choices": [
                {"Variable": "$.a", "StringLessThan": "x", "Next": "S"}
            ]})),
            ("S".into(), "Choices[0].StringLessThan".into())
        );
        assert_eq!(
            parse(
                json!({"StartAt": "S", "QueryLanguage": "JSONata", "States": {"S": {"Type": "Succeed"}}})
            ),
            Err(DefinitionError::UnknownTopLevelField(
                "QueryLanguage".into()
            ))
        );
    }

    #[test]
    fn rejects_unknown_state_types() {
        for t in ["Map", "Parallel", "Bogus"] {
            assert_eq!(
                one_state(json!({"Type": t, "End": true})),
                Err(DefinitionError::UnknownStateType {
                    state: "S".into(),
                    state_type: t.into()
                })
            );
        }
    }

    #[test]
    fn rejects_missing_targets_and_unreachable_states() {
        assert_eq!(
            parse(json!({"StartAt": "X", "States": {"S": {"Type": "Succeed"}}})),
            Err(DefinitionError::StartAtNotFound("X".into()))
        );
        assert_eq!(
            parse(json!({"StartAt": "S", "States": {"S": {"Type": "Pass", "Next": "Nope"}}})),
            Err(DefinitionError::TargetNotFound {
                state: "S".into(),
                field: "Next".into(),
                target: "Nope".into()
            })
        );
        assert_eq!(
            one_state(task(
                json!({"Catch": [{"ErrorEquals": ["E"], "Next": "Gone"}]})
            )),
            Err(DefinitionError::TargetNotFound {
                state: "S".into(),
                field: "Catch[0].Next".into(),
                target: "Gone".into()
            })
        );
        assert_eq!(
            one_state(json!({"Type": "Choice", "Default": "D", "Choices": [
                {"Variable": "$.a", "IsNull": true, "Next": "S"}]})),
            Err(DefinitionError::TargetNotFound {
                state: "S".into(),
                field: "Default".into(),
                target: "D".into()
            })
        );
        assert_eq!(
            parse(json!({"StartAt": "S", "States": {
                "S": {"Type": "Succeed"}, "Island": {"Type": "Succeed"}}})),
            Err(DefinitionError::Unreachable("Island".into()))
        );
    }

    fn invalid_field(state: Value) -> String {
        match one_state(state) {
            Err(DefinitionError::InvalidField { field, .. }) => field,
            other => panic!("expected InvalidField, got {other:?}"),
        }
    }

    #[test]
    fn rejects_bad_error_lists() {
        assert_eq!(
            invalid_field(task(
                json!({"Retry": [{"ErrorEquals": ["States.ALL"]}, {"ErrorEquals": ["E"]}]})
            )),
            "Retry[0].ErrorEquals"
        );
        assert_eq!(
            invalid_field(task(
                json!({"Catch": [{"ErrorEquals": ["States.ALL", "E"], "Next": "S"}]})
            )),
            "Catch[0].ErrorEquals"
        );
        assert_eq!(
            invalid_field(task(json!({"Retry": [{"ErrorEquals": []}]}))),
            "Retry[0].ErrorEquals"
        );
        assert_eq!(
            invalid_field(task(
                json!({"Retry": [{"ErrorEquals": ["States.Permissions"]}]})
            )),
            "Retry[0].ErrorEquals"
        );
        assert_eq!(
            invalid_field(task(
                json!({"Retry": [{"ErrorEquals": ["E"], "BackoffRate": 0.5}]})
            )),
            "Retry[0].BackoffRate"
        );
        assert_eq!(
            invalid_field(task(
                json!({"Retry": [{"ErrorEquals": ["E"], "IntervalSeconds": 0}]})
            )),
            "Retry[0].IntervalSeconds"
        );
        assert_eq!(
            invalid_field(task(
                json!({"Retry": [{"ErrorEquals": ["E"], "JitterStrategy": "HALF"}]})
            )),
            "Retry[0].JitterStrategy"
        );
        assert_eq!(
            invalid_field(task(
                json!({"Retry": [{"ErrorEquals": ["E"], "MaxAttempts": -1}]})
            )),
            "Retry[0].MaxAttempts"
        );
    }

    #[test]
    fn rejects_bad_values_naming_the_field() {
        assert_eq!(
            invalid_field(task(json!({"TimeoutSeconds": 0}))),
            "TimeoutSeconds"
        );
        assert_eq!(
            invalid_field(task(json!({"TimeoutSeconds": 1.5}))),
            "TimeoutSeconds"
        );
        assert_eq!(
            invalid_field(task(json!({"InputPath": "$..a"}))),
            "InputPath"
        );
        assert_eq!(
            invalid_field(task(json!({"OutputPath": "$$.Execution"}))),
            "OutputPath"
        );
        assert_eq!(
            invalid_field(task(json!({"ResultPath": "$.a[0]"}))),
            "ResultPath"
        );
        assert_eq!(
            invalid_field(task(json!({"Parameters": {"a.$": "States.UUID()"}}))),
            "Parameters"
        );
        assert_eq!(invalid_field(task(json!({"Resource": ""}))), "Resource");
        assert_eq!(
            invalid_field(json!({"Type": "Wait", "Timestamp": "2024-01-01 00:00:00", "End": true})),
            "Timestamp"
        );
        assert_eq!(
            invalid_field(json!({"Type": "Choice", "Choices": [
                {"Variable": "$.a", "TimestampLessThan": "yesterday", "Next": "S"}]})),
            "Choices[0].TimestampLessThan"
        );
        assert_eq!(
            invalid_field(json!({"Type": "Choice", "Choices": [
                {"Variable": "$.a", "IsNull": true, "IsPresent": true, "Next": "S"}]})),
            "Choices[0]"
        );
        assert_eq!(
            invalid_field(json!({"Type": "Choice", "Choices": [
                {"Not": {"Variable": "$.a", "IsNull": true, "Next": "S"}, "Next": "S"}]})),
            "Choices[0].Not.Next"
        );
        assert_eq!(
            invalid_field(
                json!({"Type": "Choice", "Choices": [{"Variable": "$.a", "IsNull": true}]})
            ),
            "Choices[0].Next"
        );
        assert_eq!(
            invalid_field(json!({"Type": "Choice", "Choices": [{"And": [], "Next": "S"}]})),
            "Choices[0].And"
        );
        assert_eq!(
            invalid_field(json!({"Type": "Choice", "Choices": []})),
            "Choices"
        );
        assert_eq!(invalid_field(json!({"Type": "Pass", "End": false})), "End");
    }

    #[test]
    fn rejects_inconsistent_states() {
        let inconsistent = |state: Value| match one_state(state) {
            Err(DefinitionError::InvalidState { message, .. }) => message,
            other => panic!("expected InvalidState, got {other:?}"),
        };
        assert!(inconsistent(json!({"Type": "Pass", "Next": "S", "End": true})).contains("both"));
        assert!(inconsistent(json!({"Type": "Pass"})).contains("Next"));
        assert!(inconsistent(json!({"Type": "Wait", "Seconds": 1, "Timestamp": "2024-01-01T00:00:00Z", "End": true}))
            .contains("exactly one"));
        assert!(inconsistent(json!({"Type": "Wait", "End": true})).contains("exactly one"));
        assert!(inconsistent(json!({"Resource": "r", "End": true})).contains("Type"));
        assert_eq!(invalid_field(task(json!({"Resource": 5}))), "Resource");
    }

    #[test]
    fn rejects_bad_top_levels() {
        assert!(matches!(
            Definition::parse("{", &BTreeMap::new()),
            Err(DefinitionError::NotJson(_))
        ));
        assert!(matches!(
            parse(json!({"States": {"S": {"Type": "Succeed"}}})),
            Err(DefinitionError::InvalidTopLevel(m)) if m.contains("StartAt")
        ));
        assert!(matches!(
            parse(json!({"StartAt": "S", "Version": "2.0", "States": {"S": {"Type": "Succeed"}}})),
            Err(DefinitionError::InvalidTopLevel(m)) if m.contains("Version")
        ));
        assert!(matches!(
            parse(json!({"StartAt": "S", "TimeoutSeconds": 0, "States": {"S": {"Type": "Succeed"}}})),
            Err(DefinitionError::InvalidTopLevel(m)) if m.contains("TimeoutSeconds")
        ));
    }

    #[test]
    fn error_messages_name_field_and_state() {
        let err = one_state(task(json!({"Retry": [{"ErrorEquals": ["E"], "Foo": 1}]})))
            .expect_err("rejected")
            .to_string();
        assert_eq!(
            err,
            "state `S`: field `Retry[0].Foo` is not accepted in a Task state"
        );
    }
}
