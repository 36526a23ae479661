//! Parsing: definition JSON, after `${Name}` substitutions, to the model.
//!
//! The raw serde types below list exactly the accepted fields of each state type, and
//! whether a field accepts `null`; serde denies every other field, and the parser checks
//! the values. Every rejection is an error that names the field (as a path inside the
//! state, such as `Retry[0].Foo`) and the state.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::de::{DeserializeOwned, Error as _};
use serde_json::{Map, Value};

use super::model::{
    ACCEPTED_STATES_ERRORS, Catcher, ChoiceRule, ChoiceState, Definition, FailState, InputPath,
    Jitter, PassState, ResultPath, Retrier, STATES_ALL, State, SucceedState, TaskState, Transition,
    WaitFor, WaitState,
};
use crate::engine::choice::{Condition, NumericOp, Operand, Rule, TimestampOp};
use crate::engine::clock::parse_timestamp;
use crate::engine::path::{Path, Root, Template};

/// The context-object paths a `Parameters` template may read.
const ACCEPTED_CONTEXT_PATHS: [&str; 3] =
    ["$$.Execution.Id", "$$.Execution.Name", "$$.Execution.Input"];

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
    /// No state ends the execution.
    #[error("no state ends the execution (a Succeed or Fail state, or `\"End\": true`)")]
    NoTerminalState,
    /// A Task resource with no handler.
    #[error("state `{state}`: resource `{resource}` has no handler in the registry")]
    NoHandler {
        /// The state.
        state: String,
        /// The resource (after substitutions).
        resource: String,
    },
}

// ---------------------------------------------------------------------------------------
// Raw serde types: exactly the accepted fields, everything else denied. A field whose
// name starts with `_` is accepted and ignored (`rename_all` still maps `_type` to
// `Type`).

/// For a field that accepts `null`: absent is `None`, `null` is `Some(None)`.
fn nullable<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// For an optional field that does not accept `null` (which serde would take as absent).
fn not_null<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer)?
        .map(Some)
        .ok_or_else(|| D::Error::custom("null is not accepted"))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
struct RawDefinition {
    #[serde(default, deserialize_with = "not_null")]
    _comment: Option<String>,
    start_at: String,
    states: Map<String, Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
struct RawTask {
    _type: String,
    #[serde(default, deserialize_with = "not_null")]
    _comment: Option<String>,
    resource: String,
    #[serde(default, deserialize_with = "not_null")]
    input_path: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    parameters: Option<Map<String, Value>>,
    #[serde(default, deserialize_with = "not_null")]
    result_selector: Option<Map<String, Value>>,
    #[serde(default, deserialize_with = "nullable")]
    result_path: Option<Option<String>>,
    #[serde(default)]
    retry: Vec<RawRetrier>,
    #[serde(default)]
    catch: Vec<RawCatcher>,
    #[serde(default, deserialize_with = "not_null")]
    timeout_seconds: Option<u64>,
    #[serde(default, deserialize_with = "not_null")]
    next: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    end: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
struct RawPass {
    _type: String,
    #[serde(default, deserialize_with = "not_null")]
    _comment: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    input_path: Option<Option<String>>,
    #[serde(default, deserialize_with = "not_null")]
    parameters: Option<Map<String, Value>>,
    #[serde(default, deserialize_with = "nullable")]
    result: Option<Option<Value>>,
    #[serde(default, deserialize_with = "nullable")]
    result_path: Option<Option<String>>,
    #[serde(default, deserialize_with = "not_null")]
    output_path: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    next: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    end: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
struct RawWait {
    _type: String,
    #[serde(default)]
    _comment: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    seconds: Option<u64>,
    #[serde(default, deserialize_with = "not_null")]
    timestamp: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    seconds_path: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    timestamp_path: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    output_path: Option<String>,
    next: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
struct RawChoice {
    _type: String,
    #[serde(default, deserialize_with = "not_null")]
    _comment: Option<String>,
    choices: Vec<RawRule>,
    default: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
struct RawSucceed {
    _type: String,
    #[serde(default, deserialize_with = "not_null")]
    _comment: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    input_path: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    output_path: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
struct RawFail {
    _type: String,
    #[serde(default, deserialize_with = "not_null")]
    _comment: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    error: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    cause: Option<String>,
}

/// `JitterStrategy`: absent means no jitter.
#[derive(Deserialize)]
enum RawJitter {
    #[serde(rename = "FULL")]
    Full,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
struct RawRetrier {
    error_equals: Vec<String>,
    #[serde(default, deserialize_with = "not_null")]
    interval_seconds: Option<u64>,
    #[serde(default, deserialize_with = "not_null")]
    max_attempts: Option<u64>,
    #[serde(default, deserialize_with = "not_null")]
    backoff_rate: Option<f64>,
    #[serde(default, deserialize_with = "not_null")]
    max_delay_seconds: Option<u64>,
    #[serde(default, deserialize_with = "not_null")]
    jitter_strategy: Option<RawJitter>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
struct RawCatcher {
    error_equals: Vec<String>,
    #[serde(default, deserialize_with = "not_null")]
    result_path: Option<String>,
    next: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
struct RawRule {
    #[serde(default, deserialize_with = "not_null")]
    variable: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    next: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    and: Option<Vec<RawRule>>,
    #[serde(default, deserialize_with = "not_null")]
    or: Option<Vec<RawRule>>,
    #[serde(default, deserialize_with = "not_null")]
    not: Option<Box<RawRule>>,
    #[serde(default, deserialize_with = "not_null")]
    string_equals: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    string_equals_path: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    numeric_equals: Option<serde_json::Number>,
    #[serde(default, deserialize_with = "not_null")]
    numeric_equals_path: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    numeric_less_than: Option<serde_json::Number>,
    #[serde(default, deserialize_with = "not_null")]
    numeric_less_than_path: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    numeric_greater_than: Option<serde_json::Number>,
    #[serde(default, deserialize_with = "not_null")]
    numeric_greater_than_path: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    numeric_less_than_equals: Option<serde_json::Number>,
    #[serde(default, deserialize_with = "not_null")]
    numeric_less_than_equals_path: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    numeric_greater_than_equals: Option<serde_json::Number>,
    #[serde(default, deserialize_with = "not_null")]
    numeric_greater_than_equals_path: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    boolean_equals: Option<bool>,
    #[serde(default, deserialize_with = "not_null")]
    timestamp_less_than: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    timestamp_less_than_path: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    timestamp_greater_than_equals_path: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    is_present: Option<bool>,
    #[serde(default, deserialize_with = "not_null")]
    is_null: Option<bool>,
}

// ---------------------------------------------------------------------------------------
// Parsing.

/// The message serde gives for a denied field starts with this.
const UNKNOWN_FIELD: &str = "unknown field `";

/// The field a serde error names as unknown, if it is that kind of error.
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

/// Whether `resource` is `arn:aws:lambda:<region>:<account>:function:<name>`.
fn is_lambda_function_arn(resource: &str) -> bool {
    let parts: Vec<&str> = resource.split(':').collect();
    matches!(
        parts.as_slice(),
        ["arn", "aws", "lambda", region, account, "function", name]
            if !region.is_empty() && !account.is_empty() && !name.is_empty()
    )
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

    /// A path into the state's data (the context object is read only by `Parameters`).
    fn data_path(&self, field: &str, text: &str) -> Result<Path, DefinitionError> {
        let path = Path::parse(text).map_err(|e| self.invalid(field, e.to_string()))?;
        if path.root() == Root::Context {
            return Err(self.invalid(field, "a context-object path (`$$`) is not accepted here"));
        }
        Ok(path)
    }

    /// An optional data path, `$` when absent.
    fn data_path_or_root(
        &self,
        field: &str,
        text: Option<String>,
    ) -> Result<Path, DefinitionError> {
        match text {
            Some(text) => self.data_path(field, &text),
            None => Ok(Path::data_root()),
        }
    }

    fn result_path(&self, raw: Option<Option<String>>) -> Result<ResultPath, DefinitionError> {
        match raw {
            Some(None) => Ok(ResultPath::Discard),
            text => Ok(ResultPath::Write(
                self.data_path_or_root("ResultPath", text.flatten())?,
            )),
        }
    }

    /// A template whose context-object paths are among `context_paths`.
    fn template(
        &self,
        field: &str,
        raw: Option<Map<String, Value>>,
        context_paths: &[&str],
    ) -> Result<Option<Template>, DefinitionError> {
        let Some(object) = raw else {
            return Ok(None);
        };
        let template =
            Template::compile(&object).map_err(|e| self.invalid(field, e.to_string()))?;
        for (name, path) in template.paths() {
            if path.root() == Root::Context && !context_paths.contains(&path.as_str()) {
                let accepted = if context_paths.is_empty() {
                    "none is accepted here".to_owned()
                } else {
                    format!("accepted: {}", context_paths.join(", "))
                };
                return Err(self.invalid(
                    field,
                    format!(
                        "`{name}.$`: context-object path `{path}` is not accepted ({accepted})"
                    ),
                ));
            }
        }
        Ok(Some(template))
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
            jitter: match raw.jitter_strategy {
                Some(RawJitter::Full) => Jitter::Full,
                None => Jitter::None,
            },
        })
    }

    fn catcher(&self, i: usize, count: usize, raw: RawCatcher) -> Result<Catcher, DefinitionError> {
        let at = |field: &str| format!("Catch[{i}].{field}");
        self.error_equals(&at("ErrorEquals"), &raw.error_equals, i + 1 == count)?;
        Ok(Catcher {
            error_equals: raw.error_equals,
            result_path: self.data_path_or_root(&at("ResultPath"), raw.result_path)?,
            next: raw.next,
        })
    }

    fn task(&self, raw: RawTask) -> Result<TaskState, DefinitionError> {
        if !is_lambda_function_arn(&raw.resource) {
            return Err(self.invalid(
                "Resource",
                format!(
                    "`{}` is not accepted (only Lambda function ARNs, \
                     arn:aws:lambda:<region>:<account>:function:<name>, are)",
                    raw.resource
                ),
            ));
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
            input_path: self.data_path_or_root("InputPath", raw.input_path)?,
            parameters: self.template("Parameters", raw.parameters, &ACCEPTED_CONTEXT_PATHS)?,
            result_selector: self.template("ResultSelector", raw.result_selector, &[])?,
            result_path: self.result_path(raw.result_path)?,
            retry,
            catch,
            timeout_seconds: self.positive("TimeoutSeconds", raw.timeout_seconds)?,
            transition: self.transition(raw.next, raw.end)?,
        })
    }

    fn pass(&self, raw: RawPass) -> Result<PassState, DefinitionError> {
        let input_path = match raw.input_path {
            Some(None) => InputPath::Null,
            text => InputPath::Select(self.data_path_or_root("InputPath", text.flatten())?),
        };
        Ok(PassState {
            input_path,
            parameters: self.template("Parameters", raw.parameters, &ACCEPTED_CONTEXT_PATHS)?,
            result: raw.result.map(|r| r.unwrap_or(Value::Null)),
            result_path: self.result_path(raw.result_path)?,
            output_path: self.data_path_or_root("OutputPath", raw.output_path)?,
            transition: self.transition(raw.next, raw.end)?,
        })
    }

    fn wait(&self, raw: RawWait) -> Result<WaitState, DefinitionError> {
        let wait = match (
            raw.seconds,
            raw.timestamp,
            raw.seconds_path,
            raw.timestamp_path,
        ) {
            (Some(seconds), None, None, None) => WaitFor::Seconds(seconds),
            (None, Some(text), None, None) => {
                WaitFor::Timestamp(parse_timestamp(&text).ok_or_else(|| {
                    self.invalid(
                        "Timestamp",
                        format!("`{text}` is not an RFC 3339 timestamp"),
                    )
                })?)
            }
            (None, None, Some(text), None) => {
                WaitFor::SecondsPath(self.data_path("SecondsPath", &text)?)
            }
            (None, None, None, Some(text)) => {
                WaitFor::TimestampPath(self.data_path("TimestampPath", &text)?)
            }
            _ => {
                return Err(self.inconsistent(
                    "needs exactly one of `Seconds`, `Timestamp`, `SecondsPath` and `TimestampPath`",
                ));
            }
        };
        Ok(WaitState {
            wait,
            output_path: self.data_path_or_root("OutputPath", raw.output_path)?,
            next: raw.next,
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
        let path = |name: &str, text: String| self.data_path(&field(name), &text);

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
                ("NumericEquals", "NumericEqualsPath"),
                NumericOp::Equals,
                raw.numeric_equals,
                raw.numeric_equals_path,
            ),
            (
                ("NumericLessThan", "NumericLessThanPath"),
                NumericOp::LessThan,
                raw.numeric_less_than,
                raw.numeric_less_than_path,
            ),
            (
                ("NumericGreaterThan", "NumericGreaterThanPath"),
                NumericOp::GreaterThan,
                raw.numeric_greater_than,
                raw.numeric_greater_than_path,
            ),
            (
                ("NumericLessThanEquals", "NumericLessThanEqualsPath"),
                NumericOp::LessThanEquals,
                raw.numeric_less_than_equals,
                raw.numeric_less_than_equals_path,
            ),
            (
                ("NumericGreaterThanEquals", "NumericGreaterThanEqualsPath"),
                NumericOp::GreaterThanEquals,
                raw.numeric_greater_than_equals,
                raw.numeric_greater_than_equals_path,
            ),
        ];
        for ((name, path_name), op, literal, by_path) in numeric {
            if let Some(n) = literal {
                conditions.push((
                    name,
                    Condition::Numeric(op, Operand::Literal(number(name, n)?)),
                ));
            }
            if let Some(p) = by_path {
                conditions.push((
                    path_name,
                    Condition::Numeric(op, Operand::Path(path(path_name, p)?)),
                ));
            }
        }
        if let Some(b) = raw.boolean_equals {
            conditions.push(("BooleanEquals", Condition::BooleanEquals(b)));
        }
        if let Some(text) = raw.timestamp_less_than {
            let at = parse_timestamp(&text).ok_or_else(|| {
                self.invalid(
                    field("TimestampLessThan"),
                    format!("`{text}` is not an RFC 3339 timestamp"),
                )
            })?;
            conditions.push((
                "TimestampLessThan",
                Condition::Timestamp(TimestampOp::LessThan, Operand::Literal(at)),
            ));
        }
        if let Some(p) = raw.timestamp_less_than_path {
            conditions.push((
                "TimestampLessThanPath",
                Condition::Timestamp(
                    TimestampOp::LessThan,
                    Operand::Path(path("TimestampLessThanPath", p)?),
                ),
            ));
        }
        if let Some(p) = raw.timestamp_greater_than_equals_path {
            conditions.push((
                "TimestampGreaterThanEqualsPath",
                Condition::Timestamp(
                    TimestampOp::GreaterThanEquals,
                    Operand::Path(path("TimestampGreaterThanEqualsPath", p)?),
                ),
            ));
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
        let variable = self.data_path(&field("Variable"), &variable)?;
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
                input_path: parser.data_path_or_root("InputPath", raw.input_path)?,
                output_path: parser.data_path_or_root("OutputPath", raw.output_path)?,
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
            start_at: raw.start_at,
            states,
        };
        definition.check_graph()?;
        Ok(definition)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:f";

    fn parse(definition: Value) -> Result<Definition, DefinitionError> {
        Definition::parse(&definition.to_string(), &BTreeMap::new())
    }

    /// A definition whose only state is `S`.
    fn one_state(state: Value) -> Result<Definition, DefinitionError> {
        parse(json!({"StartAt": "S", "States": {"S": state}}))
    }

    /// A Task state that ends the execution, with `extra` fields.
    fn task(extra: Value) -> Value {
        let mut base = json!({"Type": "Task", "Resource": ARN, "End": true});
        if let (Value::Object(base), Value::Object(extra)) = (&mut base, extra) {
            base.extend(extra);
        }
        base
    }

    fn path(text: &str) -> Path {
        Path::parse(text).expect("path")
    }

    #[test]
    fn parses_every_accepted_field() {
        let full = json!({
            "Comment": "c", "StartAt": "T",
            "States": {
                "T": {
                    "Type": "Task", "Comment": "c", "Resource": "arn:aws:lambda:us-east-1:1:function:${Fn}",
                    "InputPath": "$.in", "Parameters": {"a.$": "$.x", "id.$": "$$.Execution.Id", "b": [1]},
                    "ResultSelector": {"r.$": "$.y"}, "ResultPath": null,
                    "TimeoutSeconds": 5,
                    "Retry": [
                        {"ErrorEquals": ["E1", "States.Timeout"], "IntervalSeconds": 3, "MaxAttempts": 4,
                         "BackoffRate": 1.5, "MaxDelaySeconds": 10, "JitterStrategy": "FULL"},
                        {"ErrorEquals": ["States.ALL"]}
                    ],
                    "Catch": [
                        {"ErrorEquals": ["States.TaskFailed"], "ResultPath": "$.err", "Next": "P"},
                        {"ErrorEquals": ["States.ALL"], "Next": "F"}
                    ],
                    "Next": "P"
                },
                "P": {"Type": "Pass", "Comment": "c", "Result": {"k": 1}, "ResultPath": "$.r",
                      "Parameters": {"x": 1}, "InputPath": null, "OutputPath": "$", "Next": "W"},
                "W": {"Type": "Wait", "SecondsPath": "$.s", "OutputPath": "$", "Next": "C"},
                "C": {"Type": "Choice", "Comment": "c", "Default": "S",
                      "Choices": [
                        {"And": [{"Variable": "$.a", "IsPresent": true},
                                 {"Not": {"Variable": "$.a", "IsNull": true}}], "Next": "S"},
                        {"Variable": "$.t", "TimestampGreaterThanEqualsPath": "$.u", "Next": "F"}
                      ]},
                "S": {"Type": "Succeed", "Comment": "c", "InputPath": "$", "OutputPath": "$.x"},
                "F": {"Type": "Fail", "Comment": "c", "Error": "E", "Cause": "C"}
            }
        })
        .to_string();
        let subs = BTreeMap::from([("Fn".to_owned(), "fn".to_owned())]);
        let definition = Definition::parse(&full, &subs).expect("the full subset parses");
        assert_eq!(definition.states.len(), 6);
        let State::Task(t) = &definition.states["T"] else {
            panic!("not a task")
        };
        assert_eq!(t.resource, "arn:aws:lambda:us-east-1:1:function:fn");
        assert_eq!(t.timeout_seconds, Some(5));
        assert_eq!(t.input_path, path("$.in"));
        assert_eq!(t.result_path, ResultPath::Discard);
        assert_eq!(t.retry[0].jitter, Jitter::Full);
        assert_eq!(t.retry[0].max_delay_seconds, Some(10));
        assert_eq!(t.catch[0].result_path, path("$.err"));
        assert_eq!(t.catch[1].result_path, Path::data_root());
        let parameters = t.parameters.as_ref().expect("Parameters");
        assert_eq!(
            parameters.render(
                &json!({"x": 2}),
                &json!({"Execution": {"Id": "arn:execution"}})
            ),
            Ok(json!({"a": 2, "id": "arn:execution", "b": [1]}))
        );
        let State::Pass(p) = &definition.states["P"] else {
            panic!("not a pass")
        };
        assert_eq!(p.input_path, InputPath::Null);
        assert_eq!(p.result, Some(json!({"k": 1})));
        let State::Wait(w) = &definition.states["W"] else {
            panic!("not a wait")
        };
        assert_eq!(w.wait, WaitFor::SecondsPath(path("$.s")));
        assert_eq!(w.next, "C");
        let State::Choice(c) = &definition.states["C"] else {
            panic!("not a choice")
        };
        assert!(matches!(&c.choices[0].rule, Rule::And(rules) if rules.len() == 2));
        assert_eq!(c.default, "S");
        assert_eq!(
            Definition::parse(&full, &BTreeMap::new()),
            Err(DefinitionError::MissingSubstitution("Fn".into()))
        );
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
        assert_eq!(t.input_path, Path::data_root());
        assert_eq!(t.result_path, ResultPath::Write(Path::data_root()));
        assert_eq!(t.timeout_seconds, None);
    }

    fn unknown_field(state: Value) -> (String, String) {
        match one_state(state) {
            Err(DefinitionError::UnknownField { state, field, .. }) => (state, field),
            other => panic!("expected UnknownField, got {other:?}"),
        }
    }

    #[test]
    fn rejects_unknown_fields_naming_field_and_state() {
        let cases = [
            (task(json!({"HeartbeatSeconds": 5})), "HeartbeatSeconds"),
            (task(json!({"OutputPath": "$"})), "OutputPath"),
            (
                task(json!({"Retry": [{"ErrorEquals": ["E"], "Foo": 1}]})),
                "Retry[0].Foo",
            ),
            (
                task(json!({"Catch": [{"ErrorEquals": ["E"], "Next": "S", "Bar": 1}]})),
                "Catch[0].Bar",
            ),
            (
                json!({"Type": "Pass", "ResultSelector": {}, "End": true}),
                "ResultSelector",
            ),
            (
                json!({"Type": "Wait", "Seconds": 1, "End": true, "Next": "S"}),
                "End",
            ),
            (
                json!({"Type": "Wait", "Seconds": 1, "InputPath": "$", "Next": "S"}),
                "InputPath",
            ),
            (json!({"Type": "Succeed", "Next": "S"}), "Next"),
            (json!({"Type": "Fail", "ErrorPath": "$.e"}), "ErrorPath"),
            (
                json!({"Type": "Choice", "Default": "S", "OutputPath": "$", "Choices": [
                    {"Variable": "$.a", "IsNull": true, "Next": "S"}]}),
                "OutputPath",
            ),
            (
                json!({"Type": "Choice", "Default": "S", "Choices": [
                    {"Or": [{"Variable": "$.a", "StringMatches": "x*"}], "Next": "S"}]}),
                "Choices[0].Or[0].StringMatches",
            ),
            (
                json!({"Type": "Choice", "Default": "S", "Choices": [
                    {"Variable": "$.t", "TimestampGreaterThanEquals": "2030-01-01T00:00:00Z", "Next": "S"}]}),
                "Choices[0].TimestampGreaterThanEquals",
            ),
        ];
        for (state, field) in cases {
            assert_eq!(unknown_field(state), ("S".into(), field.into()), "{field}");
        }
        for field in ["QueryLanguage", "Version", "TimeoutSeconds"] {
            let mut definition = json!({"StartAt": "S", "States": {"S": {"Type": "Succeed"}}});
            definition[field] = json!(1);
            assert_eq!(
                parse(definition),
                Err(DefinitionError::UnknownTopLevelField(field.into()))
            );
        }
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

    fn invalid_field(state: Value) -> String {
        match one_state(state) {
            Err(DefinitionError::InvalidField { field, .. }) => field,
            other => panic!("expected InvalidField, got {other:?}"),
        }
    }

    #[test]
    fn rejects_bad_error_lists() {
        let cases = [
            (
                json!({"Retry": [{"ErrorEquals": ["States.ALL"]}, {"ErrorEquals": ["E"]}]}),
                "Retry[0].ErrorEquals",
            ),
            (
                json!({"Catch": [{"ErrorEquals": ["States.ALL", "E"], "Next": "S"}]}),
                "Catch[0].ErrorEquals",
            ),
            (
                json!({"Retry": [{"ErrorEquals": []}]}),
                "Retry[0].ErrorEquals",
            ),
            (
                json!({"Retry": [{"ErrorEquals": ["States.Permissions"]}]}),
                "Retry[0].ErrorEquals",
            ),
            (
                json!({"Retry": [{"ErrorEquals": ["E"], "BackoffRate": 0.5}]}),
                "Retry[0].BackoffRate",
            ),
            (
                json!({"Retry": [{"ErrorEquals": ["E"], "IntervalSeconds": 0}]}),
                "Retry[0].IntervalSeconds",
            ),
            (
                json!({"Retry": [{"ErrorEquals": ["E"], "JitterStrategy": "NONE"}]}),
                "Retry[0].JitterStrategy",
            ),
            (
                json!({"Retry": [{"ErrorEquals": ["E"], "MaxAttempts": -1}]}),
                "Retry[0].MaxAttempts",
            ),
        ];
        for (extra, field) in cases {
            assert_eq!(invalid_field(task(extra)), field);
        }
    }

    #[test]
    fn rejects_bad_values_naming_the_field() {
        let cases = [
            (task(json!({"TimeoutSeconds": 0})), "TimeoutSeconds"),
            (task(json!({"TimeoutSeconds": 1.5})), "TimeoutSeconds"),
            (task(json!({"InputPath": "$.a[0]"})), "InputPath"),
            (task(json!({"InputPath": "$$.Execution.Id"})), "InputPath"),
            (task(json!({"InputPath": null})), "InputPath"),
            (task(json!({"Parameters": null})), "Parameters"),
            (task(json!({"ResultPath": "$$.Execution"})), "ResultPath"),
            (task(json!({"Parameters": []})), "Parameters"),
            (
                task(json!({"Parameters": {"a.$": "States.UUID()"}})),
                "Parameters",
            ),
            (
                task(json!({"Parameters": {"Payload": {"a.$": "$.a"}}})),
                "Parameters",
            ),
            (
                task(json!({"Parameters": {"a.$": "$$.State.Name"}})),
                "Parameters",
            ),
            (
                task(json!({"ResultSelector": {"a.$": "$$.Execution.Id"}})),
                "ResultSelector",
            ),
            (
                task(json!({"Catch": [{"ErrorEquals": ["E"], "ResultPath": null, "Next": "S"}]})),
                "Catch[0].ResultPath",
            ),
            (task(json!({"Resource": ""})), "Resource"),
            (
                task(json!({"Resource": "arn:aws:states:::lambda:invoke"})),
                "Resource",
            ),
            (
                json!({"Type": "Pass", "OutputPath": null, "End": true}),
                "OutputPath",
            ),
            (
                json!({"Type": "Wait", "Timestamp": "2024-01-01 00:00:00", "Next": "S"}),
                "Timestamp",
            ),
            (
                json!({"Type": "Wait", "SecondsPath": "$$.Execution.Input", "Next": "S"}),
                "SecondsPath",
            ),
            (
                json!({"Type": "Choice", "Default": "S", "Choices": [
                    {"Variable": "$.a", "TimestampLessThan": "yesterday", "Next": "S"}]}),
                "Choices[0].TimestampLessThan",
            ),
            (
                json!({"Type": "Choice", "Default": "S", "Choices": [
                    {"Variable": "$$.Execution.Name", "IsNull": true, "Next": "S"}]}),
                "Choices[0].Variable",
            ),
            (
                json!({"Type": "Choice", "Default": "S", "Choices": [
                    {"Variable": "$.a", "IsNull": true, "IsPresent": true, "Next": "S"}]}),
                "Choices[0]",
            ),
            (
                json!({"Type": "Choice", "Default": "S", "Choices": [
                    {"Variable": "$.a", "IsNull": null, "BooleanEquals": true, "Next": "S"}]}),
                "Choices[0].IsNull",
            ),
            (
                json!({"Type": "Choice", "Default": "S", "Choices": [
                    {"Not": {"Variable": "$.a", "IsNull": true, "Next": "S"}, "Next": "S"}]}),
                "Choices[0].Not.Next",
            ),
            (
                json!({"Type": "Choice", "Default": "S", "Choices": [
                    {"Variable": "$.a", "IsNull": true}]}),
                "Choices[0].Next",
            ),
            (
                json!({"Type": "Choice", "Default": "S", "Choices": [{"And": [], "Next": "S"}]}),
                "Choices[0].And",
            ),
            (
                json!({"Type": "Choice", "Default": "S", "Choices": []}),
                "Choices",
            ),
            (json!({"Type": "Pass", "End": false}), "End"),
        ];
        for (state, field) in cases {
            assert_eq!(invalid_field(state.clone()), field, "{state}");
        }
    }

    #[test]
    fn rejects_inconsistent_states() {
        let inconsistent = |state: Value| match one_state(state) {
            Err(DefinitionError::InvalidState { message, .. }) => message,
            other => panic!("expected InvalidState, got {other:?}"),
        };
        assert!(inconsistent(json!({"Type": "Pass", "Next": "S", "End": true})).contains("both"));
        assert!(inconsistent(json!({"Type": "Pass"})).contains("Next"));
        assert!(
            inconsistent(
                json!({"Type": "Wait", "Seconds": 1, "Timestamp": "2024-01-01T00:00:00Z", "Next": "S"})
            )
            .contains("exactly one")
        );
        assert!(inconsistent(json!({"Type": "Wait", "Next": "S"})).contains("exactly one"));
        assert!(inconsistent(json!({"Type": "Wait", "Seconds": 1})).contains("Next"));
        assert!(
            inconsistent(json!({"Type": "Choice", "Choices": [
                {"Variable": "$.a", "IsNull": true, "Next": "S"}]}))
            .contains("Default")
        );
        assert!(inconsistent(json!({"Resource": ARN, "End": true})).contains("Type"));
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
            parse(json!({"StartAt": "S", "States": {}})),
            Err(DefinitionError::InvalidTopLevel(m)) if m.contains("States")
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
        let err = one_state(task(json!({"Parameters": {"a.$": "$$.State.Name"}})))
            .expect_err("rejected")
            .to_string();
        assert!(
            err.contains("`$$.State.Name` is not accepted (accepted: $$.Execution.Id"),
            "{err}"
        );
    }
}
