//! Conformance: our engine against aws-local-stepfunctions on the same definitions and
//! scripted task results.
//!
//! `scripts/conformance.sh` runs every scenario of `tests/conformance/scenarios/` in
//! aws-local-stepfunctions and writes one trace per scenario to
//! `tests/conformance/traces/`; this test runs the same scenarios here and compares the
//! states entered, the retries, the final status, output, error and cause. A difference
//! is allowed only where the scenario declares it under `knownDifferences`, with both
//! values. A trace that is missing, or that was made from another version of the
//! scenario or definition, fails the test.
//!
//! `GBR_CONFORMANCE_SCENARIOS` (paths separated by whitespace) restricts the run to
//! some scenarios; `GBR_CONFORMANCE_TRACES` reads traces from another directory.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gbr_local::engine::clock::{SimClock, add};
use gbr_local::engine::history::states_entered;
use gbr_local::engine::registry::TaskFailure;
use gbr_local::{Definition, Engine, Registry, VirtualClock, handler_fn};
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

const STATE_MACHINE_ARN: &str = "arn:aws:states:us-east-1:123456789012:stateMachine:conformance";
const FIELDS: [&str; 6] = [
    "statesEntered",
    "retries",
    "status",
    "output",
    "error",
    "cause",
];

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read_json(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// JSON equality with numbers compared by value (JavaScript writes 2.0 as 2).
fn same_json(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_json(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_json(v, w)))
        }
        _ => a == b,
    }
}

fn shown(path: &Path) -> String {
    let root = repo_root();
    let root = root.canonicalize().unwrap_or(root);
    let path = path.canonicalize().unwrap_or_else(|_| path.to_owned());
    path.strip_prefix(&root)
        .unwrap_or(&path)
        .display()
        .to_string()
}

fn scenarios() -> Vec<PathBuf> {
    if let Ok(list) = std::env::var("GBR_CONFORMANCE_SCENARIOS") {
        return list
            .split_whitespace()
            .map(|p| {
                let path = PathBuf::from(p);
                if path.is_absolute() {
                    path
                } else {
                    repo_root().join(path)
                }
            })
            .collect();
    }
    let dir = repo_root().join("tests/conformance/scenarios");
    let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    found.sort();
    found
}

fn traces_dir() -> PathBuf {
    std::env::var("GBR_CONFORMANCE_TRACES")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo_root().join("tests/conformance/traces"))
}

/// A handler for every Task resource of the definition, answering from the scenario's
/// queue for that resource (an empty one if the scenario scripts none).
fn registry(definition: &Definition, tasks: &Value, clock: &VirtualClock) -> Registry {
    let mut registry = Registry::new();
    for (_, resource) in definition.task_resources() {
        let queue: VecDeque<Value> = tasks
            .get(resource)
            .and_then(Value::as_array)
            .map(|r| r.iter().cloned().collect())
            .unwrap_or_default();
        let queue = Arc::new(Mutex::new(queue));
        let clock = clock.clone();
        let resource_name = resource.to_owned();
        registry.register(
            resource,
            handler_fn(move |_input| {
                let next = queue.lock().expect("queue").pop_front();
                let clock = clock.clone();
                let resource = resource_name.clone();
                async move {
                    let Some(next) = next else {
                        return Err(TaskFailure::new(
                            "Conformance.QueueExhausted",
                            format!("no scripted result left for {resource}"),
                        ));
                    };
                    if let Some(seconds) = next.get("sleepSeconds").and_then(Value::as_f64) {
                        let pause = SignedDuration::try_from_secs_f64(seconds).unwrap_or_default();
                        let until = add(clock.now(), pause);
                        clock.sleep_until(until).await;
                    }
                    if let Some(error) = next.get("error").and_then(Value::as_str) {
                        let cause = next
                            .get("cause")
                            .and_then(Value::as_str)
                            .unwrap_or_default();
                        return Err(TaskFailure::new(error, cause));
                    }
                    Ok(next.get("output").cloned().unwrap_or(Value::Null))
                }
            }),
        );
    }
    registry
}

/// Runs a scenario in our engine and returns its trace fields.
async fn our_trace(
    scenario_path: &Path,
    scenario: &Value,
    definition_text: &str,
) -> Result<Value, String> {
    let substitutions: BTreeMap<String, String> = scenario
        .get("substitutions")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default();
    let start: Timestamp = "2029-01-01T00:00:00Z".parse().map_err(|e| format!("{e}"))?;
    let clock = VirtualClock::new(start);
    let definition = Definition::parse(definition_text, &substitutions)
        .map_err(|e| format!("our engine rejects the definition: {e}"))?;
    let registry = registry(
        &definition,
        scenario.get("tasks").unwrap_or(&Value::Null),
        &clock,
    );
    let engine = Engine::new(
        definition_text,
        &substitutions,
        &registry,
        Arc::new(clock),
        1,
    )
    .map_err(|e| format!("our engine rejects the definition: {e}"))?
    .with_state_machine_arn(STATE_MACHINE_ARN)
    .map_err(|e| e.to_string())?;
    let name = match scenario.get("executionName").and_then(Value::as_str) {
        Some(name) => name.to_owned(),
        None => scenario_path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("run")
            .to_owned(),
    };
    let input = scenario.get("input").cloned().unwrap_or_else(|| json!({}));
    let arn = engine
        .start_execution(&name, input)
        .map_err(|e| e.to_string())?;
    let description = tokio::time::timeout(Duration::from_secs(30), engine.wait_for(&arn))
        .await
        .map_err(|_| "our execution did not end within 30 s of real time".to_owned())?
        .map_err(|e| e.to_string())?;
    let history = engine.history(&arn).map_err(|e| e.to_string())?;
    Ok(json!({
        "statesEntered": states_entered(&history),
        "retries": description.retries,
        "status": description.status,
        "output": description.output,
        "error": description.error,
        "cause": description.cause,
    }))
}

async fn check(scenario_path: &Path) -> Result<String, String> {
    let file_name = scenario_path
        .file_name()
        .ok_or_else(|| format!("{}: not a file", scenario_path.display()))?;
    let scenario = read_json(scenario_path)?;
    let definition_rel = scenario
        .get("definition")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("{}: no \"definition\"", scenario_path.display()))?;
    let definition_path = repo_root().join(definition_rel);
    let definition_text = std::fs::read_to_string(&definition_path)
        .map_err(|e| format!("{}: {e}", definition_path.display()))?;

    let trace_path = traces_dir().join(file_name);
    if !trace_path.exists() {
        return Err(format!(
            "no aws-local-stepfunctions trace at {}: run `bash scripts/conformance.sh` to make it",
            shown(&trace_path)
        ));
    }
    let theirs = read_json(&trace_path)?;
    let inputs = &theirs["inputs"];
    if !same_json(&inputs["scenario"], &scenario)
        || inputs["definition"].as_str() != Some(definition_text.as_str())
    {
        return Err(format!(
            "the trace {} was made from another version of the scenario or its definition: \
             run `bash scripts/conformance.sh` again",
            shown(&trace_path)
        ));
    }

    let ours = our_trace(scenario_path, &scenario, &definition_text).await?;
    let known: BTreeMap<String, &Value> = scenario
        .get("knownDifferences")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|d| Some((d.get("field")?.as_str()?.to_owned(), d)))
                .collect()
        })
        .unwrap_or_default();
    for field in known.keys() {
        if !FIELDS.contains(&field.as_str()) {
            return Err(format!("knownDifferences names an unknown field `{field}`"));
        }
    }

    let mut problems = Vec::new();
    for field in FIELDS {
        let (ours, theirs) = (&ours[field], &theirs[field]);
        match known.get(field) {
            None => {
                if !same_json(ours, theirs) {
                    problems.push(format!("{field}: ours {ours} ≠ theirs {theirs}"));
                }
            }
            Some(difference) => {
                let (want_ours, want_theirs) = (&difference["ours"], &difference["theirs"]);
                if same_json(want_ours, want_theirs) {
                    problems.push(format!("{field}: a known difference with equal values"));
                }
                if !same_json(ours, want_ours) {
                    problems.push(format!("{field}: ours {ours}, declared {want_ours}"));
                }
                if !same_json(theirs, want_theirs) {
                    problems.push(format!("{field}: theirs {theirs}, declared {want_theirs}"));
                }
            }
        }
    }
    if problems.is_empty() {
        Ok(format!(
            "{} agree{}",
            file_name.to_string_lossy(),
            if known.is_empty() {
                String::new()
            } else {
                format!(
                    " (known differences: {})",
                    known.keys().cloned().collect::<Vec<_>>().join(", ")
                )
            }
        ))
    } else {
        Err(problems.join("; "))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_engine_matches_aws_local_stepfunctions() {
    let scenarios = scenarios();
    assert!(
        !scenarios.is_empty(),
        "no conformance scenario found: nothing would be compared"
    );
    let mut failures = Vec::new();
    for scenario in &scenarios {
        match check(scenario).await {
            Ok(summary) => println!("ok   {summary}"),
            Err(problem) => {
                println!("FAIL {}: {problem}", shown(scenario));
                failures.push(format!("{}: {problem}", shown(scenario)));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} conformance scenarios failed:\n{}",
        failures.len(),
        scenarios.len(),
        failures.join("\n")
    );
}

#[test]
fn numbers_compare_by_value() {
    assert!(same_json(&json!({"a": [2.0, 1]}), &json!({"a": [2, 1.0]})));
    assert!(!same_json(&json!({"a": 1}), &json!({"a": 1, "b": null})));
    assert!(!same_json(&json!("1"), &json!(1)));
}
