//! Choice rules: their typed form and how they are evaluated.
//!
//! Every path in a rule reads the state's data (the parser rejects `$$` there).
//!
//! Semantics (those of Step Functions):
//! - the `Variable` of every comparison except `IsPresent` must select a value, and so
//!   must the path of a `…Path` operator; otherwise the state fails with `States.Runtime`;
//! - a comparison between values of different types is false (a string is never
//!   `NumericEquals` anything, a string that is not a timestamp is never
//!   `TimestampLessThan` anything);
//! - `IsPresent: false` matches when the variable is absent, `IsNull: false` when it is
//!   present and not null.

use jiff::Timestamp;
use serde_json::Value;

use super::clock::parse_timestamp;
use super::path::Path;

/// A choice rule (without its `Next`).
#[derive(Debug, Clone, PartialEq)]
pub enum Rule {
    /// All must match.
    And(Vec<Rule>),
    /// One must match.
    Or(Vec<Rule>),
    /// Must not match.
    Not(Box<Rule>),
    /// A data-test expression.
    Test {
        /// `Variable`.
        variable: Path,
        /// The comparison.
        condition: Condition,
    },
}

/// The right-hand side of a comparison: a literal or a path.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand<T> {
    /// A literal from the definition.
    Literal(T),
    /// A `…Path` operator's path.
    Path(Path),
}

/// Numeric operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumericOp {
    /// `NumericEquals`.
    Equals,
    /// `NumericLessThan`.
    LessThan,
    /// `NumericGreaterThan`.
    GreaterThan,
    /// `NumericLessThanEquals`.
    LessThanEquals,
    /// `NumericGreaterThanEquals`.
    GreaterThanEquals,
}

/// Timestamp operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampOp {
    /// `TimestampLessThan` / `TimestampLessThanPath`.
    LessThan,
    /// `TimestampGreaterThanEqualsPath` (the literal form is not accepted).
    GreaterThanEquals,
}

/// A comparison operator with its operand.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// `StringEquals` / `StringEqualsPath`.
    StringEquals(Operand<String>),
    /// `Numeric…` / `Numeric…Path`.
    Numeric(NumericOp, Operand<f64>),
    /// `BooleanEquals`.
    BooleanEquals(bool),
    /// `Timestamp…` / `Timestamp…Path`.
    Timestamp(TimestampOp, Operand<Timestamp>),
    /// `IsPresent`.
    IsPresent(bool),
    /// `IsNull`.
    IsNull(bool),
}

/// A path in a rule selected nothing (a `States.Runtime` failure).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidChoicePath {
    /// The path.
    pub path: String,
}

impl Rule {
    /// Whether the rule matches `data`.
    pub fn matches(&self, data: &Value) -> Result<bool, InvalidChoicePath> {
        match self {
            Rule::And(rules) => {
                for rule in rules {
                    if !rule.matches(data)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            Rule::Or(rules) => {
                for rule in rules {
                    if rule.matches(data)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            Rule::Not(rule) => Ok(!rule.matches(data)?),
            Rule::Test {
                variable,
                condition,
            } => {
                let value = variable.select(data);
                if let Condition::IsPresent(expected) = condition {
                    return Ok(value.is_some() == *expected);
                }
                let value = value.ok_or_else(|| InvalidChoicePath {
                    path: variable.as_str().to_owned(),
                })?;
                condition.test(value, data)
            }
        }
    }
}

fn operand<'a>(path: &Path, data: &'a Value) -> Result<&'a Value, InvalidChoicePath> {
    path.select(data).ok_or_else(|| InvalidChoicePath {
        path: path.as_str().to_owned(),
    })
}

impl Condition {
    fn test(&self, value: &Value, data: &Value) -> Result<bool, InvalidChoicePath> {
        Ok(match self {
            Condition::IsPresent(expected) => *expected,
            Condition::IsNull(expected) => value.is_null() == *expected,
            Condition::BooleanEquals(expected) => value.as_bool() == Some(*expected),
            Condition::StringEquals(rhs) => {
                let rhs = match rhs {
                    Operand::Literal(s) => Some(s.as_str()),
                    Operand::Path(path) => operand(path, data)?.as_str(),
                };
                match (value.as_str(), rhs) {
                    (Some(a), Some(b)) => a == b,
                    _ => false,
                }
            }
            Condition::Numeric(op, rhs) => {
                let rhs = match rhs {
                    Operand::Literal(n) => Some(*n),
                    Operand::Path(path) => number(operand(path, data)?),
                };
                match (number(value), rhs) {
                    (Some(a), Some(b)) => match op {
                        NumericOp::Equals => a == b,
                        NumericOp::LessThan => a < b,
                        NumericOp::GreaterThan => a > b,
                        NumericOp::LessThanEquals => a <= b,
                        NumericOp::GreaterThanEquals => a >= b,
                    },
                    _ => false,
                }
            }
            Condition::Timestamp(op, rhs) => {
                let rhs = match rhs {
                    Operand::Literal(t) => Some(*t),
                    Operand::Path(path) => operand(path, data)?.as_str().and_then(parse_timestamp),
                };
                match (value.as_str().and_then(parse_timestamp), rhs) {
                    (Some(a), Some(b)) => match op {
                        TimestampOp::LessThan => a < b,
                        TimestampOp::GreaterThanEquals => a >= b,
                    },
                    _ => false,
                }
            }
        })
    }
}

fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(text: &str) -> Path {
        Path::parse(text).expect("path")
    }

    fn test(variable: &str, condition: Condition) -> Rule {
        Rule::Test {
            variable: p(variable),
            condition,
        }
    }

    fn ts(text: &str) -> Timestamp {
        parse_timestamp(text).expect("timestamp")
    }

    #[test]
    fn every_operator_compares_like_step_functions() {
        let data = json!({
            "s": "abc", "s2": "abc", "n": 5, "f": 5.0, "m": 7, "b": true, "nil": null,
            "t": "2024-01-01T00:00:00Z", "later": "2024-01-02T00:00:00+01:00",
            "num_as_string": "5"
        });
        let lit = |s: &str| Operand::Literal(s.to_owned());
        let cases: Vec<(Rule, bool)> = vec![
            (test("$.s", Condition::StringEquals(lit("abc"))), true),
            (test("$.s", Condition::StringEquals(lit("abd"))), false),
            (test("$.n", Condition::StringEquals(lit("5"))), false),
            (
                test("$.s", Condition::StringEquals(Operand::Path(p("$.s2")))),
                true,
            ),
            (
                test(
                    "$.n",
                    Condition::Numeric(NumericOp::Equals, Operand::Literal(5.0)),
                ),
                true,
            ),
            (
                test(
                    "$.f",
                    Condition::Numeric(NumericOp::Equals, Operand::Path(p("$.n"))),
                ),
                true,
            ),
            (
                test(
                    "$.num_as_string",
                    Condition::Numeric(NumericOp::Equals, Operand::Literal(5.0)),
                ),
                false,
            ),
            (
                test(
                    "$.n",
                    Condition::Numeric(NumericOp::LessThan, Operand::Path(p("$.m"))),
                ),
                true,
            ),
            (
                test(
                    "$.n",
                    Condition::Numeric(NumericOp::LessThan, Operand::Literal(5.0)),
                ),
                false,
            ),
            (
                test(
                    "$.m",
                    Condition::Numeric(NumericOp::GreaterThan, Operand::Literal(5.0)),
                ),
                true,
            ),
            (
                test(
                    "$.n",
                    Condition::Numeric(NumericOp::GreaterThan, Operand::Path(p("$.m"))),
                ),
                false,
            ),
            (
                test(
                    "$.n",
                    Condition::Numeric(NumericOp::LessThanEquals, Operand::Literal(5.0)),
                ),
                true,
            ),
            (
                test(
                    "$.m",
                    Condition::Numeric(NumericOp::LessThanEquals, Operand::Path(p("$.n"))),
                ),
                false,
            ),
            (
                test(
                    "$.n",
                    Condition::Numeric(NumericOp::GreaterThanEquals, Operand::Literal(5.0)),
                ),
                true,
            ),
            (
                test(
                    "$.n",
                    Condition::Numeric(NumericOp::GreaterThanEquals, Operand::Path(p("$.m"))),
                ),
                false,
            ),
            (test("$.b", Condition::BooleanEquals(true)), true),
            (test("$.b", Condition::BooleanEquals(false)), false),
            (test("$.s", Condition::BooleanEquals(true)), false),
            (
                test(
                    "$.t",
                    Condition::Timestamp(
                        TimestampOp::LessThan,
                        Operand::Literal(ts("2024-01-01T00:00:01Z")),
                    ),
                ),
                true,
            ),
            (
                test(
                    "$.t",
                    Condition::Timestamp(TimestampOp::LessThan, Operand::Path(p("$.later"))),
                ),
                true,
            ),
            (
                test(
                    "$.later",
                    Condition::Timestamp(TimestampOp::LessThan, Operand::Path(p("$.t"))),
                ),
                false,
            ),
            (
                test(
                    "$.s",
                    Condition::Timestamp(TimestampOp::LessThan, Operand::Path(p("$.later"))),
                ),
                false,
            ),
            (
                test(
                    "$.later",
                    Condition::Timestamp(TimestampOp::GreaterThanEquals, Operand::Path(p("$.t"))),
                ),
                true,
            ),
            (
                test(
                    "$.t",
                    Condition::Timestamp(
                        TimestampOp::GreaterThanEquals,
                        Operand::Path(p("$.later")),
                    ),
                ),
                false,
            ),
            (test("$.nil", Condition::IsNull(true)), true),
            (test("$.s", Condition::IsNull(true)), false),
            (test("$.s", Condition::IsNull(false)), true),
            (test("$.s", Condition::IsPresent(true)), true),
            (test("$.absent", Condition::IsPresent(true)), false),
            (test("$.absent", Condition::IsPresent(false)), true),
            (test("$.nil", Condition::IsPresent(false)), false),
        ];
        for (i, (rule, expected)) in cases.iter().enumerate() {
            assert_eq!(rule.matches(&data), Ok(*expected), "case {i}: {rule:?}");
        }
    }

    #[test]
    fn boolean_combinators() {
        let data = json!({"a": 1});
        let yes = test("$.a", Condition::IsPresent(true));
        let no = test("$.b", Condition::IsPresent(true));
        assert_eq!(
            Rule::And(vec![yes.clone(), yes.clone()]).matches(&data),
            Ok(true)
        );
        assert_eq!(
            Rule::And(vec![yes.clone(), no.clone()]).matches(&data),
            Ok(false)
        );
        assert_eq!(
            Rule::Or(vec![no.clone(), yes.clone()]).matches(&data),
            Ok(true)
        );
        assert_eq!(
            Rule::Or(vec![no.clone(), no.clone()]).matches(&data),
            Ok(false)
        );
        assert_eq!(Rule::Not(Box::new(no)).matches(&data), Ok(true));
        assert_eq!(Rule::Not(Box::new(yes)).matches(&data), Ok(false));
    }

    #[test]
    fn a_missing_variable_or_operand_path_is_a_runtime_error() {
        let data = json!({"a": 1});
        let missing = test("$.b", Condition::IsNull(true));
        assert_eq!(
            missing.matches(&data),
            Err(InvalidChoicePath { path: "$.b".into() })
        );
        let missing_rhs = test(
            "$.a",
            Condition::Numeric(NumericOp::Equals, Operand::Path(p("$.c"))),
        );
        assert_eq!(
            missing_rhs.matches(&data),
            Err(InvalidChoicePath { path: "$.c".into() })
        );
        // Or stops at its first match, so a later rule is not evaluated.
        let short = Rule::Or(vec![test("$.a", Condition::IsPresent(true)), missing]);
        assert_eq!(short.matches(&data), Ok(true));
    }
}
