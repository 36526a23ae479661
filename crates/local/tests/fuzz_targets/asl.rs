//! The state machine definition loader (`Definition::parse`): it never panics.
//!
//! Cases are mutations of `statemachine/bulk-restore.asl.json` and of the conformance
//! definitions, with the substitutions the stack and the conformance scenarios give
//! them, so most cases reach the checks of states, rules, paths and the graph.

use std::collections::BTreeMap;

use gbr_local::Definition;
use serde_json::Value;

use super::mutate::{Dictionary, json_text};
use super::{Rng, Target, files_in, read_text, string_removals};

pub const NAME: &str = "asl-definition";

pub struct AslDefinition {
    seeds: Vec<Value>,
    substitutions: BTreeMap<String, String>,
    dictionary: Dictionary,
}

impl AslDefinition {
    pub fn new() -> Self {
        let mut texts = vec![read_text("statemachine/bulk-restore.asl.json")];
        let mut substitutions = gbr_local::stack::functions::substitutions();
        for path in files_in("tests/conformance/definitions", ".asl.json") {
            texts.push(std::fs::read_to_string(&path).expect("a definition"));
        }
        for path in files_in("tests/conformance/scenarios", ".json") {
            let scenario: Value =
                serde_json::from_str(&std::fs::read_to_string(&path).expect("a scenario"))
                    .expect("a scenario is JSON");
            if let Some(Value::Object(given)) = scenario.get("substitutions") {
                for (name, value) in given {
                    let value = value.as_str().expect("a substitution is a string");
                    substitutions.insert(name.clone(), value.to_owned());
                }
            }
        }
        for text in &texts {
            // Mutations of definitions that load explore what is one step from valid.
            if let Err(e) = Definition::parse(text, &substitutions) {
                panic!("a seed definition does not load: {e}\n{text}");
            }
        }
        let seeds: Vec<Value> = texts
            .iter()
            .map(|text| serde_json::from_str(text).expect("a definition is JSON"))
            .collect();
        let dictionary = Dictionary::from_seeds(&seeds, FIELDS);
        Self {
            seeds,
            substitutions,
            dictionary,
        }
    }
}

/// Field names, values and state types of the language, accepted or not, that the seed
/// definitions may lack.
const FIELDS: &[&str] = &[
    "Type",
    "Comment",
    "Resource",
    "InputPath",
    "Parameters",
    "ResultSelector",
    "ResultPath",
    "OutputPath",
    "Retry",
    "Catch",
    "TimeoutSeconds",
    "HeartbeatSeconds",
    "Next",
    "End",
    "Result",
    "Seconds",
    "Timestamp",
    "SecondsPath",
    "TimestampPath",
    "Choices",
    "Default",
    "Error",
    "Cause",
    "ErrorPath",
    "ErrorEquals",
    "IntervalSeconds",
    "MaxAttempts",
    "BackoffRate",
    "MaxDelaySeconds",
    "JitterStrategy",
    "FULL",
    "NONE",
    "StartAt",
    "States",
    "QueryLanguage",
    "Version",
    "Task",
    "Pass",
    "Wait",
    "Choice",
    "Succeed",
    "Fail",
    "Map",
    "Parallel",
    "Variable",
    "And",
    "Or",
    "Not",
    "StringEquals",
    "StringEqualsPath",
    "StringMatches",
    "NumericEquals",
    "NumericEqualsPath",
    "NumericLessThan",
    "NumericLessThanPath",
    "NumericGreaterThan",
    "NumericGreaterThanPath",
    "NumericLessThanEquals",
    "NumericLessThanEqualsPath",
    "NumericGreaterThanEquals",
    "NumericGreaterThanEqualsPath",
    "BooleanEquals",
    "TimestampLessThan",
    "TimestampLessThanPath",
    "TimestampGreaterThanEquals",
    "TimestampGreaterThanEqualsPath",
    "IsPresent",
    "IsNull",
    "States.ALL",
    "States.Timeout",
    "States.TaskFailed",
    "States.Permissions",
    "$$.Execution.Id",
    "$$.Execution.Name",
    "$$.Execution.Input",
    "$$.State.Name",
    "a.$",
    "Payload.$",
    "arn:aws:lambda:us-east-1:123456789012:function:f",
    "arn:aws:lambda:::function:",
    "arn:aws:states:::lambda:invoke",
    "${DecideFunctionArn}",
    "${Missing}",
];

impl Target for AslDefinition {
    type Input = String;
    const NAME: &'static str = NAME;

    fn generate(&self, rng: &mut Rng) -> String {
        json_text(rng, &self.seeds, &self.dictionary)
    }

    fn check(&self, text: &String) {
        match Definition::parse(text, &self.substitutions) {
            Ok(definition) => {
                assert!(definition.states.contains_key(&definition.start_at));
                let _ = definition.task_resources().count();
            }
            Err(e) => {
                let _ = e.to_string();
            }
        }
    }

    fn shrink<'a>(&self, text: &'a String) -> Box<dyn Iterator<Item = String> + 'a> {
        Box::new(string_removals(text))
    }
}
