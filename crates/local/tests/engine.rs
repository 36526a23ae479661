//! Behaviour of the engine, state by state, in virtual time.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gbr_local::engine::clock::{SimClock, add};
use gbr_local::engine::history::states_entered;
use gbr_local::engine::registry::TaskFailure;
use gbr_local::{
    Definition, DefinitionError, Engine, EngineError, ExecutionDescription, ExecutionStatus,
    HistoryEvent, Registry, ScaledClock, TaskHandler, VirtualClock, handler_fn,
};
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

/// How long a check that something does *not* happen waits for it: the longest the
/// suite affords (the checks run in parallel and add about half a second).
const ABSENCE_WAIT: Duration = Duration::from_millis(500);

/// The ARN of the Lambda function `name` (the only kind of resource accepted).
fn lambda(name: &str) -> String {
    format!("arn:aws:lambda:us-east-1:123456789012:function:{name}")
}

fn t0() -> Timestamp {
    "2030-01-01T00:00:00Z".parse().expect("timestamp")
}

fn at(seconds: i64) -> Timestamp {
    add(t0(), SignedDuration::from_secs(seconds))
}

fn engine_on(definition: &Value, registry: &Registry, clock: &VirtualClock, seed: u64) -> Engine {
    Engine::new(
        &definition.to_string(),
        &BTreeMap::new(),
        registry,
        Arc::new(clock.clone()),
        seed,
    )
    .expect("definition accepted")
}

fn engine(definition: &Value, registry: &Registry) -> (Engine, VirtualClock) {
    let clock = VirtualClock::new(t0());
    (engine_on(definition, registry, &clock, 7), clock)
}

async fn run(engine: &Engine, input: Value) -> (ExecutionDescription, Vec<HistoryEvent>) {
    let arn = engine.start_execution("run", input).expect("started");
    let description = tokio::time::timeout(Duration::from_secs(10), engine.wait_for(&arn))
        .await
        .expect("the execution ends")
        .expect("exists");
    (description, engine.history(&arn).expect("history"))
}

fn types(history: &[HistoryEvent]) -> Vec<&'static str> {
    history.iter().map(HistoryEvent::event_type).collect()
}

/// A handler that answers from a script and records (virtual time, input) of each call.
#[derive(Clone)]
struct Scripted {
    calls: Arc<Mutex<Vec<(Timestamp, Value)>>>,
}

impl Scripted {
    fn new(
        clock: &VirtualClock,
        script: Vec<Result<Value, TaskFailure>>,
    ) -> (Self, Arc<dyn TaskHandler>) {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(script.into_iter()));
        let clock = clock.clone();
        let recorder = Arc::clone(&calls);
        let handler = handler_fn(move |input| {
            recorder.lock().expect("calls").push((clock.now(), input));
            let next = script.lock().expect("script").next();
            async move {
                next.unwrap_or_else(|| Err(TaskFailure::new("Script.Exhausted", "no more results")))
            }
        });
        (Self { calls }, handler)
    }

    fn times(&self) -> Vec<Timestamp> {
        self.calls
            .lock()
            .expect("calls")
            .iter()
            .map(|(t, _)| *t)
            .collect()
    }

    fn inputs(&self) -> Vec<Value> {
        self.calls
            .lock()
            .expect("calls")
            .iter()
            .map(|(_, v)| v.clone())
            .collect()
    }
}

fn fail(error: &str, cause: &str) -> Result<Value, TaskFailure> {
    Err(TaskFailure::new(error, cause))
}

#[tokio::test]
async fn pass_state_paths_parameters_and_context_object() {
    let definition = json!({
        "StartAt": "Shape",
        "States": {
            "Shape": {
                "Type": "Pass",
                "InputPath": "$.job",
                "Parameters": {
                    "id.$": "$.id", "fixed": [1, {"k": "v"}],
                    "exec.$": "$$.Execution.Id", "name.$": "$$.Execution.Name",
                    "input.$": "$$.Execution.Input"
                },
                "ResultPath": "$.shaped",
                "OutputPath": "$.shaped",
                "Next": "Constant"
            },
            "Constant": {"Type": "Pass", "Result": {"r": true}, "ResultPath": "$.constant", "Next": "Discard"},
            "Discard": {"Type": "Pass", "Result": "ignored", "ResultPath": null, "Next": "Nothing"},
            "Nothing": {"Type": "Pass", "InputPath": null, "ResultPath": "$.was", "End": true}
        }
    });
    let (engine, _clock) = engine(&definition, &Registry::new());
    let input = json!({"job": {"id": 42}});
    let (description, history) = run(&engine, input.clone()).await;
    assert_eq!(description.status, ExecutionStatus::Succeeded);
    let arn = "arn:aws:states:us-east-1:123456789012:execution:local:run";
    let shaped = json!({
        "id": 42, "fixed": [1, {"k": "v"}], "exec": arn, "name": "run", "input": input
    });
    let mut after_constant = shaped.clone();
    after_constant["constant"] = json!({"r": true});
    // InputPath null makes {} the effective input, which Pass passes on as its result;
    // ResultPath $.was writes it into the raw input.
    let mut expected = after_constant;
    expected["was"] = json!({});
    assert_eq!(description.output, Some(expected));
    assert_eq!(
        types(&history),
        [
            "ExecutionStarted",
            "PassStateEntered",
            "PassStateExited",
            "PassStateEntered",
            "PassStateExited",
            "PassStateEntered",
            "PassStateExited",
            "PassStateEntered",
            "PassStateExited",
            "ExecutionSucceeded"
        ]
    );
    assert_eq!(description.state_transitions, 4);
    assert_eq!(description.execution_arn, arn);
}

#[tokio::test]
async fn wait_states_advance_virtual_time_exactly() {
    let definition = json!({
        "StartAt": "Seconds",
        "States": {
            "Seconds": {"Type": "Wait", "Seconds": 3600, "Next": "SecondsPath"},
            "SecondsPath": {"Type": "Wait", "SecondsPath": "$.delay", "Next": "Timestamp"},
            "Timestamp": {"Type": "Wait", "Timestamp": "2030-01-02T00:00:00Z", "Next": "TimestampPath"},
            "TimestampPath": {"Type": "Wait", "TimestampPath": "$.until", "Next": "Past"},
            "Past": {"Type": "Wait", "Timestamp": "2000-01-01T00:00:00Z", "OutputPath": "$.keep", "Next": "Done"},
            "Done": {"Type": "Succeed"}
        }
    });
    let (engine, clock) = engine(&definition, &Registry::new());
    let input = json!({"delay": 60, "until": "2030-01-03T01:00:00+01:00", "keep": {"k": 1}});
    let (description, history) = run(&engine, input).await;
    assert_eq!(description.status, ExecutionStatus::Succeeded);
    assert_eq!(description.output, Some(json!({"k": 1})));
    let exits: Vec<Timestamp> = history
        .iter()
        .filter(|e| e.event_type() == "WaitStateExited")
        .map(|e| e.timestamp)
        .collect();
    assert_eq!(
        exits,
        vec![
            at(3600),
            at(3660),
            at(86_400),
            at(2 * 86_400),
            at(2 * 86_400)
        ]
    );
    assert_eq!(clock.now(), at(2 * 86_400));
    assert_eq!(description.stop_date, Some(at(2 * 86_400)));
}

#[tokio::test]
async fn a_bad_seconds_path_fails_with_states_runtime() {
    let definition = json!({"StartAt": "W", "States": {
        "W": {"Type": "Wait", "SecondsPath": "$.d", "Next": "Done"},
        "Done": {"Type": "Succeed"}
    }});
    let (engine, _) = engine(&definition, &Registry::new());
    let inputs = [
        json!({"d": -1}),
        json!({"d": "5"}),
        json!({"d": 1.5}),
        json!({}),
    ];
    for (i, input) in inputs.into_iter().enumerate() {
        let (description, history) = run_named(&engine, &format!("n{i}"), input).await;
        assert_eq!(description.status, ExecutionStatus::Failed);
        assert_eq!(description.error.as_deref(), Some("States.Runtime"));
        assert!(
            description
                .cause
                .as_deref()
                .unwrap_or_default()
                .contains("SecondsPath")
        );
        assert_eq!(types(&history).last(), Some(&"ExecutionFailed"));
    }
}

async fn run_named(
    engine: &Engine,
    name: &str,
    input: Value,
) -> (ExecutionDescription, Vec<HistoryEvent>) {
    let arn = engine.start_execution(name, input).expect("started");
    let description = engine.wait_for(&arn).await.expect("exists");
    (description, engine.history(&arn).expect("history"))
}

fn choice_definition() -> Value {
    json!({
        "StartAt": "Route",
        "States": {
            "Route": {
                "Type": "Choice",
                "Choices": [
                    {"And": [{"Variable": "$.kind", "StringEquals": "restore"},
                             {"Not": {"Variable": "$.count", "NumericLessThanEquals": 0}}],
                     "Next": "Restore"},
                    {"Or": [{"Variable": "$.deadline", "TimestampLessThanPath": "$.now"},
                            {"Variable": "$.late", "BooleanEquals": true}],
                     "Next": "Late"},
                    {"Variable": "$.optional", "IsPresent": false, "Next": "NoOptional"},
                    {"Variable": "$.optional", "IsNull": true, "Next": "NullOptional"}
                ],
                "Default": "Other"
            },
            "Restore": {"Type": "Succeed"},
            "Late": {"Type": "Succeed"},
            "NoOptional": {"Type": "Succeed"},
            "NullOptional": {"Type": "Succeed"},
            "Other": {"Type": "Succeed"}
        }
    })
}

#[tokio::test]
async fn choice_state_routes_by_the_first_matching_rule() {
    let (engine, _) = engine(&choice_definition(), &Registry::new());
    let cases = [
        (
            json!({"kind": "restore", "count": 3, "optional": 1}),
            "Restore",
        ),
        (
            json!({"kind": "restore", "count": 0, "late": true, "deadline": "2024-01-01T00:00:00Z", "now": "2023-01-01T00:00:00Z", "optional": 1}),
            "Late",
        ),
        (
            json!({"kind": "x", "deadline": "2023-01-01T00:00:00Z", "now": "2024-01-01T00:00:00Z", "late": false, "optional": 1}),
            "Late",
        ),
        (
            json!({"kind": "x", "deadline": "2025-01-01T00:00:00Z", "now": "2024-01-01T00:00:00Z", "late": false}),
            "NoOptional",
        ),
        (
            json!({"kind": "x", "deadline": "2025-01-01T00:00:00Z", "now": "2024-01-01T00:00:00Z", "late": false, "optional": null}),
            "NullOptional",
        ),
        (
            json!({"kind": "x", "deadline": "2025-01-01T00:00:00Z", "now": "2024-01-01T00:00:00Z", "late": false, "optional": 2}),
            "Other",
        ),
    ];
    for (i, (input, expected)) in cases.into_iter().enumerate() {
        let (description, history) = run_named(&engine, &format!("case{i}"), input.clone()).await;
        assert_eq!(description.status, ExecutionStatus::Succeeded, "case {i}");
        assert_eq!(
            states_entered(&history),
            vec!["Route", expected],
            "case {i}"
        );
        assert_eq!(description.output, Some(input), "case {i}");
        assert_eq!(
            types(&history),
            [
                "ExecutionStarted",
                "ChoiceStateEntered",
                "ChoiceStateExited",
                "SucceedStateEntered",
                "SucceedStateExited",
                "ExecutionSucceeded"
            ]
        );
    }
}

#[tokio::test]
async fn choice_falls_back_to_default_and_fails_on_a_missing_path() {
    let definition = json!({
        "StartAt": "C",
        "States": {
            "C": {"Type": "Choice", "Default": "D",
                  "Choices": [{"Variable": "$.n", "NumericGreaterThanPath": "$.m", "Next": "S"}]},
            "S": {"Type": "Succeed"},
            "D": {"Type": "Succeed"}
        }
    });
    let (engine, _) = engine(&definition, &Registry::new());
    let (matched, history) = run_named(&engine, "a", json!({"n": 3, "m": 2})).await;
    assert_eq!(matched.status, ExecutionStatus::Succeeded);
    assert_eq!(states_entered(&history), ["C", "S"]);
    let (no_match, history) = run_named(&engine, "b", json!({"n": 1, "m": 2})).await;
    assert_eq!(no_match.status, ExecutionStatus::Succeeded);
    assert_eq!(states_entered(&history), ["C", "D"]);
    let (missing, _) = run_named(&engine, "c", json!({"n": 1})).await;
    assert_eq!(missing.error.as_deref(), Some("States.Runtime"));
    assert!(missing.cause.as_deref().unwrap_or_default().contains("$.m"));
    // A comparison between different types is false, not an error.
    let (type_mismatch, history) = run_named(&engine, "d", json!({"n": "3", "m": 2})).await;
    assert_eq!(type_mismatch.status, ExecutionStatus::Succeeded);
    assert_eq!(states_entered(&history), ["C", "D"]);
}

#[tokio::test]
async fn succeed_and_fail_states() {
    let definition = json!({
        "StartAt": "C",
        "States": {
            "C": {"Type": "Choice", "Choices": [{"Variable": "$.ok", "BooleanEquals": true, "Next": "Yes"}], "Default": "No"},
            "Yes": {"Type": "Succeed", "InputPath": "$.payload", "OutputPath": "$.inner"},
            "No": {"Type": "Fail", "Error": "Job.Rejected", "Cause": "not ok"}
        }
    });
    let (engine, _) = engine(&definition, &Registry::new());
    let (ok, _) = run_named(
        &engine,
        "ok",
        json!({"ok": true, "payload": {"inner": [1]}}),
    )
    .await;
    assert_eq!(
        (ok.status, ok.output),
        (ExecutionStatus::Succeeded, Some(json!([1])))
    );
    let (no, history) = run_named(&engine, "no", json!({"ok": false})).await;
    assert_eq!(no.status, ExecutionStatus::Failed);
    assert_eq!(no.error.as_deref(), Some("Job.Rejected"));
    assert_eq!(no.cause.as_deref(), Some("not ok"));
    assert_eq!(no.output, None);
    assert_eq!(
        types(&history),
        [
            "ExecutionStarted",
            "ChoiceStateEntered",
            "ChoiceStateExited",
            "FailStateEntered",
            "ExecutionFailed"
        ]
    );
    let failed = serde_json::to_value(history.last().expect("event")).expect("json");
    assert_eq!(
        failed["executionFailedEventDetails"],
        json!({"error": "Job.Rejected", "cause": "not ok"})
    );

    let bare = json!({"StartAt": "F", "States": {"F": {"Type": "Fail"}}});
    let (engine, _) = self::engine(&bare, &Registry::new());
    let (failed, _) = run(&engine, json!({})).await;
    assert_eq!((failed.error, failed.cause), (None, None));
}

#[tokio::test]
async fn task_state_processes_input_and_result() {
    let clock = VirtualClock::new(t0());
    let (calls, handler) = Scripted::new(
        &clock,
        vec![Ok(json!({"Payload": {"restored": 5}, "StatusCode": 200}))],
    );
    let registry = Registry::new().with(lambda("restore"), handler);
    let definition = json!({
        "StartAt": "Invoke",
        "States": {"Invoke": {
            "Type": "Task", "Resource": lambda("restore"),
            "InputPath": "$.request",
            "Parameters": {"fixed": {"k": [1]}, "bucket.$": "$.bucket", "execution.$": "$$.Execution.Name"},
            "ResultSelector": {"restored.$": "$.Payload.restored"},
            "ResultPath": "$.result",
            "End": true
        }}
    });
    let engine = engine_on(&definition, &registry, &clock, 1);
    let (description, history) =
        run(&engine, json!({"request": {"bucket": "b"}, "other": 1})).await;
    assert_eq!(description.status, ExecutionStatus::Succeeded);
    assert_eq!(
        description.output,
        Some(json!({"request": {"bucket": "b"}, "other": 1, "result": {"restored": 5}}))
    );
    assert_eq!(
        calls.inputs(),
        vec![json!({"fixed": {"k": [1]}, "bucket": "b", "execution": "run"})]
    );
    assert_eq!(
        types(&history),
        [
            "ExecutionStarted",
            "TaskStateEntered",
            "TaskScheduled",
            "TaskStarted",
            "TaskSucceeded",
            "TaskStateExited",
            "ExecutionSucceeded"
        ]
    );
    let scheduled = serde_json::to_value(&history[2]).expect("json");
    assert_eq!(
        scheduled["taskScheduledEventDetails"]["resourceType"],
        "lambda"
    );
    assert_eq!(
        scheduled["taskScheduledEventDetails"]["resource"],
        lambda("restore")
    );
    assert_eq!(
        scheduled["taskScheduledEventDetails"]["region"],
        "us-east-1"
    );
    let parameters: Value = serde_json::from_str(
        scheduled["taskScheduledEventDetails"]["parameters"]
            .as_str()
            .expect("string"),
    )
    .expect("json string");
    assert_eq!(parameters, calls.inputs()[0]);
    for (i, event) in history.iter().enumerate() {
        assert_eq!(event.id, i as u64 + 1);
        assert_eq!(event.previous_event_id, i as u64);
    }
}

/// A Task `Work` then `Done`, with the catch targets the catchers name (unreachable
/// states are rejected).
fn retry_definition(retry: Value, catch: Value) -> Value {
    let mut definition = json!({
        "StartAt": "Work",
        "States": {
            "Work": {
                "Type": "Task", "Resource": lambda("work"),
                "Retry": retry, "Catch": catch.clone(), "Next": "Done"
            },
            "Done": {"Type": "Succeed"}
        }
    });
    for catcher in catch.as_array().expect("catchers") {
        let next = catcher["Next"].as_str().expect("Next");
        definition["States"][next] = json!({"Type": "Pass", "End": true});
    }
    definition
}

#[tokio::test]
async fn retry_backs_off_caps_and_counts_in_virtual_time() {
    let clock = VirtualClock::new(t0());
    let (calls, handler) = Scripted::new(
        &clock,
        vec![
            fail("Busy", "1"),
            fail("Busy", "2"),
            fail("Busy", "3"),
            fail("Busy", "4"),
            Ok(json!("ok")),
        ],
    );
    let registry = Registry::new().with(lambda("work"), handler);
    let definition = retry_definition(
        json!([{"ErrorEquals": ["Busy"], "IntervalSeconds": 2, "BackoffRate": 3.0, "MaxDelaySeconds": 10, "MaxAttempts": 4}]),
        json!([{"ErrorEquals": ["States.ALL"], "Next": "CaughtAll"}]),
    );
    let engine = engine_on(&definition, &registry, &clock, 1);
    let (description, history) = run(&engine, json!({})).await;
    assert_eq!(description.status, ExecutionStatus::Succeeded);
    // 2 s, 6 s, then 18 s and 54 s capped at 10 s.
    assert_eq!(calls.times(), vec![at(0), at(2), at(8), at(18), at(28)]);
    assert_eq!(description.retries, 4);
    assert_eq!(description.states_entered, 2);
    assert_eq!(description.state_transitions, 6);
    assert_eq!(
        history
            .iter()
            .filter(|e| e.event_type() == "TaskFailed")
            .count(),
        4
    );
    assert_eq!(
        history
            .iter()
            .filter(|e| e.event_type() == "TaskScheduled")
            .count(),
        5
    );
    assert_eq!(states_entered(&history), vec!["Work", "Done"]);
}

#[tokio::test]
async fn only_the_first_matching_retrier_counts_then_catch() {
    let clock = VirtualClock::new(t0());
    let (calls, handler) = Scripted::new(
        &clock,
        vec![fail("A", "a1"), fail("A", "a2"), fail("A", "a3")],
    );
    let registry = Registry::new().with(lambda("work"), handler);
    let definition = retry_definition(
        json!([
            {"ErrorEquals": ["A"], "MaxAttempts": 1, "IntervalSeconds": 5},
            {"ErrorEquals": ["States.ALL"], "MaxAttempts": 5}
        ]),
        json!([
            {"ErrorEquals": ["A"], "ResultPath": "$.error", "Next": "CaughtA"},
            {"ErrorEquals": ["States.ALL"], "Next": "CaughtAll"}
        ]),
    );
    let engine = engine_on(&definition, &registry, &clock, 1);
    let (description, history) = run(&engine, json!({"keep": 1})).await;
    assert_eq!(calls.times(), vec![at(0), at(5)]);
    assert_eq!(description.retries, 1);
    assert_eq!(states_entered(&history), vec!["Work", "CaughtA"]);
    assert_eq!(
        description.output,
        Some(json!({"keep": 1, "error": {"Error": "A", "Cause": "a2"}}))
    );
}

#[tokio::test]
async fn max_attempts_zero_never_retries_and_catch_order_decides() {
    let clock = VirtualClock::new(t0());
    let (calls, handler) = Scripted::new(&clock, vec![fail("B", "b")]);
    let registry = Registry::new().with(lambda("work"), handler);
    let definition = retry_definition(
        json!([{"ErrorEquals": ["B"], "MaxAttempts": 0}]),
        json!([
            {"ErrorEquals": ["States.TaskFailed"], "Next": "CaughtAll"},
            {"ErrorEquals": ["B"], "Next": "CaughtA"}
        ]),
    );
    let engine = engine_on(&definition, &registry, &clock, 1);
    let (description, history) = run(&engine, json!({"keep": 1})).await;
    assert_eq!(calls.times().len(), 1);
    assert_eq!(description.retries, 0);
    // The first matching catcher wins even though a later one names the error exactly;
    // without a ResultPath the error output replaces the input.
    assert_eq!(states_entered(&history), vec!["Work", "CaughtAll"]);
    assert_eq!(
        description.output,
        Some(json!({"Error": "B", "Cause": "b"}))
    );
    assert_eq!(
        types(&history)[1..7],
        [
            "TaskStateEntered",
            "TaskScheduled",
            "TaskStarted",
            "TaskFailed",
            "TaskStateExited",
            "PassStateEntered"
        ]
    );
}

#[tokio::test]
async fn an_uncaught_task_error_fails_the_execution() {
    let clock = VirtualClock::new(t0());
    let (_, handler) = Scripted::new(&clock, vec![fail("Glacier.Throttled", "slow down")]);
    let registry = Registry::new().with(lambda("work"), handler);
    let definition = retry_definition(
        json!([]),
        json!([{"ErrorEquals": ["Other"], "Next": "CaughtA"}]),
    );
    let engine = engine_on(&definition, &registry, &clock, 1);
    let (description, history) = run(&engine, json!({})).await;
    assert_eq!(description.status, ExecutionStatus::Failed);
    assert_eq!(description.error.as_deref(), Some("Glacier.Throttled"));
    assert_eq!(description.cause.as_deref(), Some("slow down"));
    assert_eq!(types(&history).last(), Some(&"ExecutionFailed"));
    assert!(!types(&history).contains(&"TaskStateExited"));
}

#[tokio::test]
async fn full_jitter_is_reproducible_for_a_seed() {
    async fn call_times(seed: u64) -> Vec<Timestamp> {
        let clock = VirtualClock::new(t0());
        let script = (0..3)
            .map(|i| fail("E", &i.to_string()))
            .chain([Ok(json!(1))])
            .collect();
        let (calls, handler) = Scripted::new(&clock, script);
        let registry = Registry::new().with(lambda("work"), handler);
        let definition = retry_definition(
            json!([{"ErrorEquals": ["E"], "IntervalSeconds": 100, "JitterStrategy": "FULL"}]),
            json!([]),
        );
        let engine = engine_on(&definition, &registry, &clock, seed);
        let (description, _) = run(&engine, json!({})).await;
        assert_eq!(description.status, ExecutionStatus::Succeeded);
        calls.times()
    }
    let a = call_times(11).await;
    assert_eq!(a, call_times(11).await);
    assert_ne!(a, call_times(12).await);
    // Each pause is within [0, 100 s × 2^n].
    for (n, pair) in a.windows(2).enumerate() {
        let pause = pair[1].duration_since(pair[0]);
        assert!(pause >= SignedDuration::ZERO);
        assert!(
            pause <= SignedDuration::from_secs(100 << n),
            "pause {n} = {pause:?}"
        );
    }
}

fn sleeping_handler(clock: &VirtualClock, seconds: i64, result: Value) -> Arc<dyn TaskHandler> {
    let clock = clock.clone();
    handler_fn(move |_| {
        let clock = clock.clone();
        let result = result.clone();
        async move {
            let until = add(clock.now(), SignedDuration::from_secs(seconds));
            clock.sleep_until(until).await;
            Ok(result)
        }
    })
}

#[tokio::test]
async fn task_timeout_produces_states_timeout() {
    let clock = VirtualClock::new(t0());
    let registry =
        Registry::new().with(lambda("slow"), sleeping_handler(&clock, 100, json!("late")));
    let definition = json!({
        "StartAt": "Slow",
        "States": {
            "Slow": {"Type": "Task", "Resource": lambda("slow"), "TimeoutSeconds": 5,
                     "Catch": [{"ErrorEquals": ["States.TaskFailed"], "Next": "Wrong"},
                               {"ErrorEquals": ["States.Timeout"], "ResultPath": "$.timeout", "Next": "TimedOut"}],
                     "End": true},
            "Wrong": {"Type": "Fail", "Error": "Wrong"},
            "TimedOut": {"Type": "Succeed"}
        }
    });
    let engine = engine_on(&definition, &registry, &clock, 1);
    let (description, history) = run(&engine, json!({})).await;
    assert_eq!(states_entered(&history), vec!["Slow", "TimedOut"]);
    assert_eq!(
        description.output,
        Some(json!({"timeout": {"Error": "States.Timeout", "Cause": ""}}))
    );
    let timed_out = history
        .iter()
        .find(|e| e.event_type() == "TaskTimedOut")
        .expect("TaskTimedOut");
    assert_eq!(timed_out.timestamp, at(5));
    assert_eq!(
        serde_json::to_value(timed_out).expect("json")["taskTimedOutEventDetails"]["error"],
        "States.Timeout"
    );
    // The abandoned handler's sleep was cancelled: the clock stopped at 5 s.
    assert_eq!(clock.now(), at(5));
}

#[tokio::test]
async fn an_uncaught_task_timeout_fails_and_a_fast_task_does_not_time_out() {
    let clock = VirtualClock::new(t0());
    let registry = Registry::new()
        .with(lambda("slow"), sleeping_handler(&clock, 100, json!("late")))
        .with(lambda("fast"), sleeping_handler(&clock, 4, json!("early")));
    let definition = json!({
        "StartAt": "Fast",
        "States": {
            "Fast": {"Type": "Task", "Resource": lambda("fast"), "TimeoutSeconds": 5, "ResultPath": "$.fast", "Next": "Slow"},
            "Slow": {"Type": "Task", "Resource": lambda("slow"), "TimeoutSeconds": 5, "End": true}
        }
    });
    let engine = engine_on(&definition, &registry, &clock, 1);
    let (description, history) = run(&engine, json!({})).await;
    assert_eq!(description.status, ExecutionStatus::Failed);
    assert_eq!(description.error.as_deref(), Some("States.Timeout"));
    assert_eq!(description.cause.as_deref(), Some(""));
    assert_eq!(description.stop_date, Some(at(9)));
    let succeeded = history
        .iter()
        .find(|e| e.event_type() == "TaskSucceeded")
        .expect("fast");
    assert_eq!(succeeded.timestamp, at(4));
}

/// An absence check: the 1 s virtual deadline must not fire during the handler's real
/// I/O, which lasts [`ABSENCE_WAIT`].
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_io_inside_a_task_does_not_move_virtual_time() {
    let clock = VirtualClock::new(t0());
    let io = handler_fn(|_| async {
        tokio::time::sleep(ABSENCE_WAIT).await;
        Ok(json!("answer"))
    });
    let registry = Registry::new().with(lambda("io"), io);
    let definition = json!({
        "StartAt": "Io",
        "States": {"Io": {"Type": "Task", "Resource": lambda("io"), "TimeoutSeconds": 1, "End": true}}
    });
    let engine = engine_on(&definition, &registry, &clock, 1);
    let (description, _) = run(&engine, json!({})).await;
    assert_eq!(description.status, ExecutionStatus::Succeeded);
    assert_eq!(description.output, Some(json!("answer")));
    assert_eq!(clock.now(), t0());
}

async fn wait_until_event(engine: &Engine, arn: &str, event_type: &str) {
    for _ in 0..1000 {
        if engine
            .history(arn)
            .expect("history")
            .iter()
            .any(|e| e.event_type() == event_type)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    panic!("no {event_type} event");
}

fn wait_definition(seconds: u64) -> Value {
    json!({"StartAt": "W", "States": {
        "W": {"Type": "Wait", "Seconds": seconds, "Next": "Done"},
        "Done": {"Type": "Succeed"}
    }})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_execution_aborts_a_wait() {
    let definition = wait_definition(60);
    let (engine, clock) = engine(&definition, &Registry::new());
    // Hold the clock so that the wait cannot finish on its own.
    let holder = clock.register();
    let arn = engine
        .start_execution("stopped", json!({}))
        .expect("started");
    wait_until_event(&engine, &arn, "WaitStateEntered").await;
    let stop_date = engine
        .stop_execution(&arn, Some("Operator.Cancelled"), Some("by hand"))
        .expect("stopped");
    let description = engine.wait_for(&arn).await.expect("exists");
    assert_eq!(description.status, ExecutionStatus::Aborted);
    assert_eq!(description.stop_date, Some(stop_date));
    assert_eq!(description.error.as_deref(), Some("Operator.Cancelled"));
    assert_eq!(description.cause.as_deref(), Some("by hand"));
    let history = engine.history(&arn).expect("history");
    assert_eq!(
        types(&history),
        ["ExecutionStarted", "WaitStateEntered", "ExecutionAborted"]
    );
    // The execution's participant is gone once its task is dropped; then only ours is.
    for _ in 0..1000 {
        if clock.participants() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert_eq!(clock.participants(), 1);
    drop(holder);
    // An absence check: with the clock free, the aborted wait must neither finish nor
    // move time.
    tokio::time::sleep(ABSENCE_WAIT).await;
    assert_eq!(engine.history(&arn).expect("history").len(), 3);
    assert_eq!(clock.now(), t0());
    // Stopping again changes nothing.
    assert_eq!(engine.stop_execution(&arn, None, None), Ok(stop_date));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_execution_aborts_a_task_and_drops_its_handler() {
    struct DropFlag(Arc<Mutex<bool>>);
    impl Drop for DropFlag {
        fn drop(&mut self) {
            *self.0.lock().expect("flag") = true;
        }
    }
    let dropped = Arc::new(Mutex::new(false));
    let flag = Arc::clone(&dropped);
    let never = handler_fn(move |_| {
        let guard = DropFlag(Arc::clone(&flag));
        async move {
            let _guard = guard;
            std::future::pending::<()>().await;
            Ok(Value::Null)
        }
    });
    let registry = Registry::new().with(lambda("never"), never);
    let definition = json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": lambda("never"), "End": true}}});
    let clock = VirtualClock::new(t0());
    let engine = engine_on(&definition, &registry, &clock, 1);
    let arn = engine.start_execution("t", json!({})).expect("started");
    wait_until_event(&engine, &arn, "TaskStarted").await;
    engine
        .stop_execution(&arn, None, Some("enough"))
        .expect("stopped");
    let description = engine.wait_for(&arn).await.expect("exists");
    assert_eq!(description.status, ExecutionStatus::Aborted);
    assert_eq!(
        (description.error, description.cause.as_deref()),
        (None, Some("enough"))
    );
    for _ in 0..1000 {
        if *dropped.lock().expect("flag") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert!(
        *dropped.lock().expect("flag"),
        "the handler future was not dropped"
    );
    let history = engine.history(&arn).expect("history");
    assert_eq!(types(&history).last(), Some(&"ExecutionAborted"));
    let aborted = serde_json::to_value(history.last().expect("event")).expect("json");
    assert_eq!(
        aborted["executionAbortedEventDetails"],
        json!({"cause": "enough"})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_execution_is_idempotent_only_while_running_with_the_same_input() {
    let definition = wait_definition(60);
    let (engine, clock) = engine(&definition, &Registry::new());
    let holder = clock.register();
    let first = engine
        .start_execution("job-1", json!({"a": 1}))
        .expect("started");
    let again = engine
        .start_execution("job-1", json!({"a": 1}))
        .expect("same");
    assert_eq!(first, again);
    assert_eq!(engine.executions(), vec![first.clone()]);
    assert_eq!(
        engine.start_execution("job-1", json!({"a": 2})),
        Err(EngineError::ExecutionAlreadyExists("job-1".into()))
    );
    drop(holder);
    let description = engine.wait_for(&first).await.expect("exists");
    assert_eq!(description.status, ExecutionStatus::Succeeded);
    assert_eq!(
        engine.start_execution("job-1", json!({"a": 1})),
        Err(EngineError::ExecutionAlreadyExists("job-1".into()))
    );
    assert_eq!(
        engine.start_execution("bad name", json!({})),
        Err(EngineError::InvalidName("bad name".into()))
    );
    assert_eq!(
        engine.describe_execution("arn:aws:states:us-east-1:123456789012:execution:local:nope"),
        Err(EngineError::ExecutionDoesNotExist(
            "arn:aws:states:us-east-1:123456789012:execution:local:nope".into()
        ))
    );
    assert!(matches!(
        engine.describe_execution("arn:aws:states:us-east-1:123456789012:execution:other:job-1"),
        Err(EngineError::ExecutionDoesNotExist(_))
    ));
}

#[test]
fn start_execution_outside_a_runtime_is_an_error() {
    let definition = json!({"StartAt": "S", "States": {"S": {"Type": "Succeed"}}});
    let clock = VirtualClock::new(t0());
    let engine = engine_on(&definition, &Registry::new(), &clock, 1);
    assert_eq!(
        engine.start_execution("x", json!({})),
        Err(EngineError::NoRuntime)
    );
}

#[test]
fn a_resource_without_handler_is_a_definition_error() {
    let definition = json!({
        "StartAt": "T",
        "States": {"T": {"Type": "Task", "Resource": lambda("${Fn}"), "End": true}}
    });
    let substitutions = BTreeMap::from([("Fn".to_owned(), "restore".to_owned())]);
    let clock: Arc<dyn SimClock> = Arc::new(VirtualClock::new(t0()));
    let registry = Registry::new().with(lambda("${Fn}"), handler_fn(|v| async { Ok(v) }));
    let err = Engine::new(
        &definition.to_string(),
        &substitutions,
        &registry,
        Arc::clone(&clock),
        1,
    )
    .expect_err("no handler for the substituted resource");
    assert_eq!(
        err,
        DefinitionError::NoHandler {
            state: "T".into(),
            resource: lambda("restore")
        }
    );
    let registry = Registry::new().with(lambda("restore"), handler_fn(|v| async { Ok(v) }));
    assert!(Engine::new(&definition.to_string(), &substitutions, &registry, clock, 1).is_ok());
}

#[tokio::test]
async fn runtime_errors_are_neither_retried_nor_caught() {
    let clock = VirtualClock::new(t0());
    let (calls, handler) = Scripted::new(&clock, vec![Ok(json!({"no": "field"}))]);
    let registry = Registry::new().with(lambda("work"), handler);
    let definition = json!({
        "StartAt": "T",
        "States": {
            "T": {"Type": "Task", "Resource": lambda("work"), "ResultSelector": {"x.$": "$.missing"},
                  "Retry": [{"ErrorEquals": ["States.ALL"]}],
                  "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "C"}], "End": true},
            "C": {"Type": "Succeed"}
        }
    });
    let engine = engine_on(&definition, &registry, &clock, 1);
    let (description, _) = run(&engine, json!({})).await;
    assert_eq!(description.status, ExecutionStatus::Failed);
    assert_eq!(description.error.as_deref(), Some("States.Runtime"));
    assert!(
        description
            .cause
            .as_deref()
            .unwrap_or_default()
            .contains("$.missing")
    );
    assert_eq!(calls.times().len(), 1);
}

#[tokio::test]
async fn result_path_mismatch_and_payload_limits() {
    let definition = json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": 1, "ResultPath": "$.x", "End": true}}});
    let (engine, _) = engine(&definition, &Registry::new());
    let (description, _) = run(&engine, json!("a string")).await;
    assert_eq!(
        description.error.as_deref(),
        Some("States.ResultPathMatchFailure")
    );

    let big = "x".repeat(300 * 1024);
    assert!(matches!(
        engine.start_execution("big", json!(big)),
        Err(EngineError::InvalidExecutionInput(_))
    ));
    let clock = VirtualClock::new(t0());
    let (_, handler) = Scripted::new(&clock, vec![Ok(json!(big))]);
    let registry = Registry::new().with(lambda("work"), handler);
    let definition = json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": lambda("work"),
        "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "C"}], "End": true}, "C": {"Type": "Succeed"}}});
    let engine = engine_on(&definition, &registry, &clock, 1);
    let (description, _) = run(&engine, json!({})).await;
    assert_eq!(
        description.error.as_deref(),
        Some("States.DataLimitExceeded")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_executions_share_virtual_time_deterministically() {
    let definition = json!({
        "StartAt": "W",
        "States": {"W": {"Type": "Wait", "SecondsPath": "$.s", "Next": "Again"},
                   "Again": {"Type": "Wait", "SecondsPath": "$.s", "Next": "Done"},
                   "Done": {"Type": "Succeed"}}
    });
    let (engine, clock) = engine(&definition, &Registry::new());
    let holder = clock.register();
    let slow = engine
        .start_execution("slow", json!({"s": 30}))
        .expect("slow");
    let fast = engine
        .start_execution("fast", json!({"s": 20}))
        .expect("fast");
    drop(holder);
    let slow = engine.wait_for(&slow).await.expect("slow");
    let fast = engine.wait_for(&fast).await.expect("fast");
    assert_eq!(fast.stop_date, Some(at(40)));
    assert_eq!(slow.stop_date, Some(at(60)));
    assert_eq!(clock.now(), at(60));
}

/// On paused Tokio time, which advances only to the next timer: a one-hour Wait at
/// 36,000× must take exactly 100 ms of it.
#[tokio::test(start_paused = true)]
async fn scaled_time_runs_a_long_wait_quickly() {
    let clock: Arc<dyn SimClock> = Arc::new(ScaledClock::new(t0(), 36_000.0));
    let engine = Engine::new(
        &wait_definition(3600).to_string(),
        &BTreeMap::new(),
        &Registry::new(),
        clock,
        1,
    )
    .expect("definition");
    let started = tokio::time::Instant::now();
    let (description, history) = run(&engine, json!({})).await;
    assert_eq!(description.status, ExecutionStatus::Succeeded);
    assert_eq!(started.elapsed(), Duration::from_millis(100));
    let exited = history
        .iter()
        .find(|e| e.event_type() == "WaitStateExited")
        .expect("exit");
    assert_eq!(exited.timestamp, at(3600));
}

#[tokio::test]
async fn history_serializes_as_get_execution_history() {
    let definition =
        json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": {"a": 1}, "End": true}}});
    let (engine, _) = engine(&definition, &Registry::new());
    let (_, history) = run(&engine, json!({"in": true})).await;
    let events = serde_json::to_value(&history).expect("json");
    assert_eq!(
        events,
        json!([
            {"id": 1, "previousEventId": 0, "timestamp": "2030-01-01T00:00:00Z", "type": "ExecutionStarted",
             "executionStartedEventDetails": {"input": "{\"in\":true}", "inputDetails": {"truncated": false}}},
            {"id": 2, "previousEventId": 1, "timestamp": "2030-01-01T00:00:00Z", "type": "PassStateEntered",
             "stateEnteredEventDetails": {"name": "P", "input": "{\"in\":true}", "inputDetails": {"truncated": false}}},
            {"id": 3, "previousEventId": 2, "timestamp": "2030-01-01T00:00:00Z", "type": "PassStateExited",
             "stateExitedEventDetails": {"name": "P", "output": "{\"a\":1}", "outputDetails": {"truncated": false}}},
            {"id": 4, "previousEventId": 3, "timestamp": "2030-01-01T00:00:00Z", "type": "ExecutionSucceeded",
             "executionSucceededEventDetails": {"output": "{\"a\":1}", "outputDetails": {"truncated": false}}}
        ])
    );
}

#[test]
fn the_project_definitions_are_accepted() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../statemachine");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("statemachine/") {
        let path = entry.expect("entry").path();
        if !path.to_string_lossy().ends_with(".asl.json") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("definition");
        // Every `${Name}` is a function ARN, as the template's substitutions make it.
        let substitutions: BTreeMap<String, String> = text
            .split("${")
            .skip(1)
            .filter_map(|rest| rest.split_once('}'))
            .map(|(name, _)| (name.to_owned(), lambda(name)))
            .collect();
        if let Err(e) = Definition::parse(&text, &substitutions) {
            panic!("{}: {e}", path.display());
        }
        checked += 1;
    }
    assert!(checked > 0, "no definition in {}", dir.display());
}

#[test]
fn features_no_definition_uses_are_rejected_by_name() {
    let rejected = |states: Value| {
        let definition = json!({"StartAt": "S", "States": states});
        Engine::new(
            &definition.to_string(),
            &BTreeMap::new(),
            &Registry::new(),
            Arc::new(VirtualClock::new(t0())),
            1,
        )
        .expect_err("rejected")
        .to_string()
    };
    let done = json!({"Type": "Succeed"});
    let cases = [
        (
            json!({"S": {"Type": "Choice", "Default": "D", "Choices": [
                {"Variable": "$.t", "TimestampGreaterThanEquals": "2030-01-01T00:00:00Z", "Next": "D"}]},
                "D": done}),
            "field `Choices[0].TimestampGreaterThanEquals` is not accepted in a Choice state",
        ),
        (
            json!({"S": {"Type": "Wait", "Seconds": 1, "End": true}}),
            "field `End` is not accepted in a Wait state",
        ),
        (
            json!({"S": {"Type": "Wait", "SecondsPath": "$$.Execution.Input", "Next": "D"},
                   "D": done}),
            "field `SecondsPath`: a context-object path (`$$`) is not accepted here",
        ),
    ];
    for (states, message) in cases {
        assert_eq!(rejected(states), format!("state `S`: {message}"));
    }
    let definition = json!({
        "StartAt": "S", "TimeoutSeconds": 60, "States": {"S": {"Type": "Succeed"}}
    });
    assert_eq!(
        Definition::parse(&definition.to_string(), &BTreeMap::new()),
        Err(DefinitionError::UnknownTopLevelField(
            "TimeoutSeconds".into()
        ))
    );
}
