//! The deployment's pieces agree: template.yaml, the state machine definition, the
//! binaries in src/bin, what environment.rs reads and the DynamoDB schema of gbr-aws.
//!
//! Each check is a function returning the problems it found, so the tests at the end
//! can also show that each check fails on a broken copy.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use gbr_aws::dynamodb::schema;
use gbr_core::LambdaErrorType;
use gbr_lambdas::environment::Function;
use gbr_lambdas::http_api;
use serde_json::{Value, json};

/// Lambda's service errors, its function timeouts and out-of-memory ends (reported
/// as `Lambda.Unknown`, Step Functions Developer Guide, "Handle Lambda service
/// exceptions") and a Task's own timeout; with them, ours ([`LambdaErrorType::Retryable`]).
const AWS_RETRIED: [&str; 7] = [
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    "Lambda.ClientExecutionTimeoutException",
    "Lambda.Unknown",
    "States.Timeout",
];
const FAILURE_STATE: &str = "RecordFailure";
const SERVERLESS_FUNCTION: &str = "AWS::Serverless::Function";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The template as JSON, short-form tags (`!Ref`, `!GetAtt`, …) in their long form.
fn template() -> Value {
    let text =
        std::fs::read_to_string(root().join("template.yaml")).expect("template.yaml is readable");
    let yaml: serde_norway::Value = serde_norway::from_str(&text).expect("template.yaml is YAML");
    to_json(yaml)
}

fn to_json(yaml: serde_norway::Value) -> Value {
    use serde_norway::Value as Y;
    match yaml {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => serde_json::to_value(&n).unwrap_or(Value::Null),
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(items.into_iter().map(to_json).collect()),
        Y::Mapping(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    (
                        k.as_str().map_or_else(|| format!("{k:?}"), str::to_owned),
                        to_json(v),
                    )
                })
                .collect(),
        ),
        Y::Tagged(tagged) => {
            let name = tagged.tag.to_string().trim_start_matches('!').to_owned();
            let inner = to_json(tagged.value);
            match (name.as_str(), inner) {
                ("Ref", inner) => json!({ "Ref": inner }),
                // `!GetAtt A.B` is `Fn::GetAtt: [A, B]`.
                ("GetAtt", Value::String(s)) => {
                    let (resource, attribute) = s.split_once('.').unwrap_or((s.as_str(), ""));
                    json!({ "Fn::GetAtt": [resource, attribute] })
                }
                (other, inner) => json!({ format!("Fn::{other}"): inner }),
            }
        }
    }
}

fn asl() -> (String, Value) {
    let text = std::fs::read_to_string(root().join("statemachine/bulk-restore.asl.json"))
        .expect("the ASL is readable");
    let value = serde_json::from_str(&text).expect("the ASL is JSON");
    (text, value)
}

fn resources(template: &Value) -> &serde_json::Map<String, Value> {
    template["Resources"]
        .as_object()
        .expect("Resources is a mapping")
}

fn of_type<'a>(template: &'a Value, kind: &str) -> Vec<(&'a String, &'a Value)> {
    resources(template)
        .iter()
        .filter(|(_, r)| r["Type"] == kind)
        .collect()
}

fn state_machine(template: &Value) -> &Value {
    let machines = of_type(template, "AWS::Serverless::StateMachine");
    assert_eq!(machines.len(), 1, "one state machine");
    machines[0].1
}

/// The `${Name}` placeholders of a definition.
fn placeholders(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        match after.find('}') {
            Some(end) => {
                found.insert(after[..end].to_owned());
                rest = &after[end + 1..];
            }
            None => break,
        }
    }
    found
}

fn check_substitutions(asl_text: &str, template: &Value) -> Vec<String> {
    let used = placeholders(asl_text);
    let given: BTreeSet<String> = state_machine(template)["Properties"]["DefinitionSubstitutions"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    let mut problems = Vec::new();
    for name in used.difference(&given) {
        problems.push(format!(
            "${{{name}}} in the ASL has no DefinitionSubstitutions entry"
        ));
    }
    for name in given.difference(&used) {
        problems.push(format!(
            "DefinitionSubstitutions.{name} is not used by the ASL"
        ));
    }
    problems
}

fn task_states(asl: &Value) -> Vec<(&String, &Value)> {
    asl["States"]
        .as_object()
        .map(|states| states.iter().filter(|(_, s)| s["Type"] == "Task").collect())
        .unwrap_or_default()
}

fn strings(value: &Value) -> Vec<&str> {
    match value {
        Value::String(s) => vec![s.as_str()],
        Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn check_retry_and_catch(asl: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    if asl["States"][FAILURE_STATE]["Type"] != "Task" {
        problems.push(format!("there is no {FAILURE_STATE} Task state"));
    }
    let wanted: BTreeSet<&str> = AWS_RETRIED
        .into_iter()
        .chain([LambdaErrorType::Retryable.as_str()])
        .collect();
    for (name, state) in task_states(asl) {
        let retried: BTreeSet<&str> = state["Retry"]
            .as_array()
            .map(|rs| rs.iter().flat_map(|r| strings(&r["ErrorEquals"])).collect())
            .unwrap_or_default();
        if retried != wanted {
            problems.push(format!(
                "{name} retries {retried:?}, not exactly {wanted:?}"
            ));
        }
        if name == FAILURE_STATE {
            continue;
        }
        let catches_all = state["Catch"].as_array().is_some_and(|cs| {
            cs.iter().any(|c| {
                strings(&c["ErrorEquals"]).contains(&"States.ALL") && c["Next"] == FAILURE_STATE
            })
        });
        if !catches_all {
            problems.push(format!(
                "{name} has no Catch on States.ALL going to {FAILURE_STATE}"
            ));
        }
    }
    problems
}

/// Every error name a Retry or Catch matches is Step Functions' (`States.`), Lambda's
/// (`Lambda.`) or one our functions report.
fn check_error_names(asl: &Value) -> Vec<String> {
    let ours: BTreeSet<&str> = LambdaErrorType::ALL.iter().map(|t| t.as_str()).collect();
    let mut problems = Vec::new();
    for (name, state) in task_states(asl) {
        for clause in ["Retry", "Catch"] {
            for rule in state[clause].as_array().into_iter().flatten() {
                for error in strings(&rule["ErrorEquals"]) {
                    let aws = error.starts_with("States.") || error.starts_with("Lambda.");
                    if !aws && !ours.contains(error) {
                        problems.push(format!(
                            "{name} {clause} matches {error:?}, which no function reports"
                        ));
                    }
                }
            }
        }
    }
    problems
}

/// A function's property, from the function or else from Globals.
fn property<'a>(template: &'a Value, function: &'a Value, name: &str) -> &'a Value {
    match &function["Properties"][name] {
        Value::Null => &template["Globals"]["Function"][name],
        own => own,
    }
}

fn binaries() -> BTreeSet<String> {
    std::fs::read_dir(root().join("lambdas/src/bin"))
        .expect("src/bin is readable")
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            e.file_name()
                .to_str()
                .and_then(|n| n.strip_suffix(".rs"))
                .map(str::to_owned)
        })
        .collect()
}

fn check_functions(template: &Value, binaries: &BTreeSet<String>) -> Vec<String> {
    let mut problems = Vec::new();
    let mut built = BTreeSet::new();
    for (name, function) in of_type(template, SERVERLESS_FUNCTION) {
        let metadata = &function["Metadata"];
        if metadata["BuildMethod"] != "rust-cargolambda" {
            problems.push(format!("{name}: BuildMethod is not rust-cargolambda"));
        }
        let Some(binary) = metadata["BuildProperties"]["Binary"].as_str() else {
            problems.push(format!("{name}: no BuildProperties.Binary"));
            continue;
        };
        if !binaries.contains(binary) {
            problems.push(format!("{name}: binary {binary} is not in lambdas/src/bin"));
        }
        built.insert(binary.to_owned());
        for (property_name, wanted) in [
            ("Runtime", json!("provided.al2023")),
            ("Architectures", json!(["arm64"])),
            ("Handler", json!("bootstrap")),
            ("CodeUri", json!("lambdas")),
        ] {
            if property(template, function, property_name) != &wanted {
                problems.push(format!("{name}: {property_name} is not {wanted}"));
            }
        }
    }
    for orphan in binaries.difference(&built) {
        problems.push(format!("binary {orphan} is deployed by no function"));
    }
    problems
}

fn check_environment(template: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, function) in of_type(template, SERVERLESS_FUNCTION) {
        let Some(binary) = function["Metadata"]["BuildProperties"]["Binary"].as_str() else {
            continue;
        };
        let Some(f) = Function::from_binary(binary) else {
            problems.push(format!(
                "{name}: binary {binary} is no Function of environment.rs"
            ));
            continue;
        };
        let mut set: BTreeSet<&str> = BTreeSet::new();
        for vars in [
            &template["Globals"]["Function"]["Environment"]["Variables"],
            &function["Properties"]["Environment"]["Variables"],
        ] {
            set.extend(
                vars.as_object()
                    .into_iter()
                    .flat_map(|m| m.keys().map(String::as_str)),
            );
        }
        let required: BTreeSet<&str> = f.required_vars().into_iter().collect();
        let known: BTreeSet<&str> = required.iter().copied().chain(f.optional_vars()).collect();
        for missing in required.difference(&set) {
            problems.push(format!(
                "{name}: {missing} is required by {binary} but not set"
            ));
        }
        for unread in set.difference(&known) {
            problems.push(format!(
                "{name}: {unread} is set but {binary} never reads it"
            ));
        }
    }
    problems
}

/// Every mapping in the template that is an IAM statement.
fn statements(value: &Value, out: &mut Vec<Value>) {
    match value {
        Value::Object(map) => {
            if map.contains_key("Effect")
                && (map.contains_key("Action") || map.contains_key("NotAction"))
            {
                out.push(value.clone());
            }
            map.values().for_each(|v| statements(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| statements(v, out)),
        _ => {}
    }
}

fn check_actions(template: &Value) -> Vec<String> {
    let mut found = Vec::new();
    statements(template, &mut found);
    let mut problems = Vec::new();
    if found.is_empty() {
        problems.push("no IAM statement found at all".into());
    }
    for statement in found {
        if statement.get("NotAction").is_some() {
            problems.push(format!("NotAction grants everything else: {statement}"));
        }
        let actions = strings(&statement["Action"]);
        if actions.is_empty() || actions.iter().any(|a| a.contains('*')) {
            problems.push(format!("a wildcard (or no) action: {statement}"));
        }
    }
    problems
}

/// The logical id a substitution's value names: `!GetAtt X.Arn` (or `!Ref X`).
fn named_resource(value: &Value) -> Option<&str> {
    value["Fn::GetAtt"][0]
        .as_str()
        .or_else(|| value["Ref"].as_str())
}

fn check_invoked_functions(asl: &Value, template: &Value) -> Vec<String> {
    let machine = state_machine(template);
    let substitutions = &machine["Properties"]["DefinitionSubstitutions"];
    let invocable: BTreeSet<String> = machine["Properties"]["Policies"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| named_resource(&p["LambdaInvokePolicy"]["FunctionName"]).map(str::to_owned))
        .collect();
    let mut problems = Vec::new();
    for (state_name, state) in task_states(asl) {
        let resource = state["Resource"].as_str().unwrap_or_default();
        let Some(key) = resource
            .strip_prefix("${")
            .and_then(|r| r.strip_suffix('}'))
        else {
            problems.push(format!(
                "{state_name}: Resource {resource:?} is not a substitution"
            ));
            continue;
        };
        let value = &substitutions[key];
        let function = named_resource(value).filter(|id| {
            resources(template)
                .get(*id)
                .is_some_and(|r| r["Type"] == SERVERLESS_FUNCTION)
        });
        let Some(function) = function else {
            problems.push(format!(
                "{state_name}: ${{{key}}} = {value} names no function of the template"
            ));
            continue;
        };
        if value["Fn::GetAtt"][1] != "Arn" {
            problems.push(format!("{state_name}: ${{{key}}} is not {function}'s Arn"));
        }
        if !invocable.contains(function) {
            problems.push(format!(
                "{state_name}: the state machine has no LambdaInvokePolicy for {function}"
            ));
        }
    }
    problems
}

/// A table's global secondary index by name (`Null` when it has none of that name).
fn index<'a>(table: &'a Value, name: &str) -> &'a Value {
    table["GlobalSecondaryIndexes"]
        .as_array()
        .and_then(|indexes| indexes.iter().find(|i| i["IndexName"] == name))
        .unwrap_or(&Value::Null)
}

fn check_tables(template: &Value) -> Vec<String> {
    let tables = of_type(template, "AWS::DynamoDB::Table");
    let find = |hash: &str| {
        tables
            .iter()
            .find(|(_, t)| t["Properties"]["KeySchema"][0]["AttributeName"] == hash)
            .map(|(_, t)| &t["Properties"])
    };
    let mut problems = Vec::new();
    let key = |hash: &str, range: &str| json!([{"AttributeName": hash, "KeyType": "HASH"}, {"AttributeName": range, "KeyType": "RANGE"}]);
    let (Some(jobs), Some(objects)) = (find(schema::JOB_PK), find(schema::OBJECT_HASH)) else {
        return vec!["the jobs or the objects table is missing".into()];
    };
    let expectations = [
        (
            &jobs["KeySchema"],
            key(schema::JOB_PK, schema::JOB_SK),
            "jobs key",
        ),
        (
            &index(jobs, schema::BY_CLIENT_TAG)["KeySchema"],
            key(schema::CLIENT_TAG, schema::CREATED_AT),
            "jobs by-client-tag index key",
        ),
        (
            &index(jobs, schema::BY_CLIENT_TAG)["Projection"],
            json!({"ProjectionType": "ALL"}),
            "jobs by-client-tag index projection",
        ),
        (
            &index(jobs, schema::BY_CREATED)["KeySchema"],
            key(schema::LISTING, schema::CREATED_AT),
            "jobs by-created index key",
        ),
        (
            &index(jobs, schema::BY_CREATED)["Projection"],
            json!({"ProjectionType": "ALL"}),
            "jobs by-created index projection",
        ),
        (
            &json!(
                jobs["GlobalSecondaryIndexes"]
                    .as_array()
                    .map_or(0, Vec::len)
            ),
            json!(2),
            "jobs index count",
        ),
        (
            &objects["KeySchema"],
            key(schema::OBJECT_HASH, schema::JOB_ID),
            "objects key",
        ),
        (
            &objects["GlobalSecondaryIndexes"][0]["IndexName"],
            json!(schema::BY_JOB),
            "objects index name",
        ),
        (
            &objects["GlobalSecondaryIndexes"][0]["KeySchema"],
            key(schema::JOB_ID, schema::OBJECT_HASH),
            "objects index key",
        ),
        (
            &objects["GlobalSecondaryIndexes"][0]["Projection"],
            json!({"ProjectionType": "KEYS_ONLY"}),
            "objects index projection",
        ),
        (
            &objects["TimeToLiveSpecification"],
            json!({"AttributeName": schema::EXPIRES_AT, "Enabled": true}),
            "objects TTL",
        ),
    ];
    for (found, wanted, what) in expectations {
        if found != &wanted {
            problems.push(format!("{what}: {found} is not {wanted}"));
        }
    }
    // Every key attribute is defined as a string, and nothing else is defined.
    let defined: BTreeSet<&str> = jobs["AttributeDefinitions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|d| d["AttributeType"] == "S")
        .filter_map(|d| d["AttributeName"].as_str())
        .collect();
    let keys = BTreeSet::from([
        schema::JOB_PK,
        schema::JOB_SK,
        schema::CLIENT_TAG,
        schema::CREATED_AT,
        schema::LISTING,
    ]);
    if defined != keys {
        problems.push(format!(
            "jobs attribute definitions {defined:?} are not {keys:?}"
        ));
    }
    for table in [jobs, objects] {
        if table["BillingMode"] != "PAY_PER_REQUEST"
            || table["SSESpecification"]["SSEEnabled"] != true
            || table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] != true
        {
            problems.push(format!(
                "a table is not on demand, encrypted and recoverable: {table}"
            ));
        }
    }
    if tables.len() != 2 {
        problems.push(format!("{} tables, not 2", tables.len()));
    }
    problems
}

/// Every API event of every function, as (method, path), each with a required key.
fn check_api_routes(template: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let mut declared = BTreeSet::new();
    for (name, function) in of_type(template, SERVERLESS_FUNCTION) {
        let events = function["Properties"]["Events"].as_object();
        for (event_name, event) in events.into_iter().flatten() {
            if event["Type"] != "Api" {
                continue;
            }
            let properties = &event["Properties"];
            let method = properties["Method"].as_str().unwrap_or_default();
            let path = properties["Path"].as_str().unwrap_or_default();
            declared.insert((method.to_ascii_uppercase(), path.to_owned()));
            if properties["Auth"]["ApiKeyRequired"] != true {
                problems.push(format!("{name}.{event_name}: no ApiKeyRequired"));
            }
        }
    }
    let routed: BTreeSet<(String, String)> = http_api::ROUTES
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    for missing in routed.difference(&declared) {
        problems.push(format!(
            "{missing:?} is routed but no API event declares it"
        ));
    }
    for unrouted in declared.difference(&routed) {
        problems.push(format!(
            "{unrouted:?} is declared but http_api does not route it"
        ));
    }
    problems
}

/// The optional alarm topic: a parameter, empty by default, and the condition that
/// says whether it was given.
const ALARM_TOPIC: &str = "AlarmTopicArn";
const HAS_ALARM_TOPIC: &str = "HasAlarmTopic";

/// The alarms operators need, as (namespace, metric, dimension, the resource the
/// dimension must name), each on a resource found from the wiring rather than by
/// name: the dead-letter queue of the queue the restore-event mapping reads, that
/// mapping's function, and the state machine.
fn wanted_alarms(
    template: &Value,
) -> Result<Vec<(&'static str, &'static str, &'static str, Value)>, String> {
    let mappings = of_type(template, "AWS::Lambda::EventSourceMapping");
    let [(_, mapping)] = mappings.as_slice() else {
        return Err(format!("{} event source mappings, not 1", mappings.len()));
    };
    let mapping = &mapping["Properties"];
    let queue = named_resource(&mapping["EventSourceArn"]).ok_or("the mapping names no queue")?;
    let dead_letters = named_resource(
        &template["Resources"][queue]["Properties"]["RedrivePolicy"]["deadLetterTargetArn"],
    )
    .ok_or_else(|| format!("{queue} has no dead-letter queue"))?;
    let function =
        named_resource(&mapping["FunctionName"]).ok_or("the mapping names no function")?;
    let machine = of_type(template, "AWS::Serverless::StateMachine")
        .first()
        .map(|(name, _)| name.as_str())
        .ok_or("there is no state machine")?;
    Ok(vec![
        (
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            "QueueName",
            json!({"Fn::GetAtt": [dead_letters, "QueueName"]}),
        ),
        (
            "AWS/States",
            "ExecutionsFailed",
            "StateMachineArn",
            json!({"Ref": machine}),
        ),
        (
            "AWS/States",
            "ExecutionsTimedOut",
            "StateMachineArn",
            json!({"Ref": machine}),
        ),
        (
            "AWS/Lambda",
            "Errors",
            "FunctionName",
            json!({"Ref": function}),
        ),
    ])
}

/// Each wanted alarm exists and fires on any occurrence; every alarm notifies the
/// optional topic, and only when one was given.
fn check_alarms(template: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let parameter = &template["Parameters"][ALARM_TOPIC];
    if parameter["Type"] != "String" || parameter["Default"] != "" {
        problems.push(format!(
            "{ALARM_TOPIC} is not an optional String parameter: {parameter}"
        ));
    }
    let given = json!({"Fn::Not": [{"Fn::Equals": [{"Ref": ALARM_TOPIC}, ""]}]});
    if template["Conditions"][HAS_ALARM_TOPIC] != given {
        problems.push(format!("{HAS_ALARM_TOPIC} is not {given}"));
    }
    let alarms = of_type(template, "AWS::CloudWatch::Alarm");
    let actions =
        json!({"Fn::If": [HAS_ALARM_TOPIC, [{"Ref": ALARM_TOPIC}], {"Ref": "AWS::NoValue"}]});
    for (name, alarm) in &alarms {
        if alarm["Properties"]["AlarmActions"] != actions {
            problems.push(format!("{name}: AlarmActions is not {actions}"));
        }
    }
    let wanted = match wanted_alarms(template) {
        Ok(wanted) => wanted,
        Err(problem) => {
            problems.push(problem);
            return problems;
        }
    };
    for (namespace, metric, dimension, resource) in wanted {
        let dimensions = json!([{"Name": dimension, "Value": resource}]);
        let found = alarms.iter().find(|(_, a)| {
            let p = &a["Properties"];
            p["Namespace"] == namespace
                && p["MetricName"] == metric
                && p["Dimensions"] == dimensions
        });
        let Some((name, alarm)) = found else {
            problems.push(format!(
                "no alarm on {namespace} {metric} with {dimensions}"
            ));
            continue;
        };
        let p = &alarm["Properties"];
        if p["ComparisonOperator"] != "GreaterThanThreshold" || p["Threshold"].as_f64() != Some(0.0)
        {
            problems.push(format!("{name} does not fire on the first {metric}"));
        }
    }
    problems
}

/// The usage plan's throttle and quota come from the parameters, each with a default.
fn check_usage_plan(template: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let Some((_, api)) = of_type(template, "AWS::Serverless::Api").into_iter().next() else {
        return vec!["there is no API".into()];
    };
    let plan = &api["Properties"]["Auth"]["UsagePlan"];
    for (setting, parameter) in [
        (&plan["Throttle"]["RateLimit"], "ApiRateLimit"),
        (&plan["Throttle"]["BurstLimit"], "ApiBurstLimit"),
        (&plan["Quota"]["Limit"], "ApiQuotaLimit"),
        (&plan["Quota"]["Period"], "ApiQuotaPeriod"),
    ] {
        if setting != &json!({"Ref": parameter}) {
            problems.push(format!("the usage plan's {parameter} setting is {setting}"));
        }
        if template["Parameters"][parameter]["Default"].is_null() {
            problems.push(format!("parameter {parameter} has no default"));
        }
    }
    problems
}

fn assert_none(problems: Vec<String>) {
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_placeholder_has_a_substitution_and_every_substitution_is_used() {
    let (text, _) = asl();
    assert_none(check_substitutions(&text, &template()));
}

#[test]
fn every_task_retries_the_transient_errors_and_catches_the_rest_into_record_failure() {
    assert_none(check_retry_and_catch(&asl().1));
}

#[test]
fn the_state_machine_matches_only_error_names_the_functions_report() {
    assert_none(check_error_names(&asl().1));
}

#[test]
fn every_function_is_a_binary_of_this_package_and_every_binary_a_function() {
    assert_none(check_functions(&template(), &binaries()));
}

#[test]
fn every_function_gets_exactly_the_variables_it_reads() {
    assert_none(check_environment(&template()));
}

#[test]
fn no_iam_statement_grants_a_wildcard_action() {
    assert_none(check_actions(&template()));
}

#[test]
fn every_invoked_function_is_a_template_function_the_state_machine_may_invoke() {
    assert_none(check_invoked_functions(&asl().1, &template()));
}

#[test]
fn the_tables_match_the_adapter_schema() {
    assert_none(check_tables(&template()));
}

#[test]
fn every_route_is_an_api_event_with_a_required_key() {
    assert_none(check_api_routes(&template()));
}

#[test]
fn operators_are_alarmed_on_the_optional_topic() {
    assert_none(check_alarms(&template()));
}

#[test]
fn the_usage_plan_throttles_and_caps_from_the_parameters() {
    assert_none(check_usage_plan(&template()));
}

#[test]
fn the_api_requires_a_key_and_bucket_notifications_are_left_alone() {
    let template = template();
    let api = &of_type(&template, "AWS::Serverless::Api")[0].1["Properties"];
    assert_eq!(api["Auth"]["ApiKeyRequired"], true);
    assert_eq!(api["Auth"]["UsagePlan"]["CreateUsagePlan"], "PER_API");
    let text = serde_json::to_string(&template).unwrap();
    for forbidden in [
        "NotificationConfiguration",
        "PutBucketNotification",
        "AWS::S3::Bucket\"",
    ] {
        assert!(
            !text.contains(forbidden),
            "the template touches buckets: {forbidden}"
        );
    }
    let mapping = &of_type(&template, "AWS::Lambda::EventSourceMapping")[0].1["Properties"];
    assert_eq!(
        mapping["FunctionResponseTypes"],
        json!(["ReportBatchItemFailures"])
    );
}

/// The Batch Operations role: passed only to Batch Operations (under either service
/// name AWS uses), assumable only for this account, and every ARN in the partition
/// the stack is deployed in.
#[test]
fn iam_names_the_partition_the_account_and_the_batch_operations_service() {
    let template = template();
    let text = std::fs::read_to_string(root().join("template.yaml")).unwrap();
    let literal = |partition: &str| text.matches(&format!("arn:{partition}:")).count();
    assert!(literal("aws") > 0);
    assert_eq!(
        literal("aws"),
        literal("aws-cn"),
        "an ARN without its aws-cn variant"
    );
    assert_eq!(
        literal("aws"),
        literal("aws-us-gov"),
        "an ARN without its aws-us-gov variant"
    );

    let role = &template["Resources"]["BatchOperationsRole"]["Properties"];
    let trust = &role["AssumeRolePolicyDocument"]["Statement"][0];
    // The S3 User Guide's trust policy (tests/fixtures/aws/iam/).
    let documented: Value = serde_json::from_str(
        &std::fs::read_to_string(
            root().join("tests/fixtures/aws/iam/batch-operations-trust-policy.s3-user-guide.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let documented = &documented["Statement"][0];
    assert_eq!(trust["Principal"], documented["Principal"]);
    assert_eq!(trust["Action"], documented["Action"]);
    assert_eq!(
        trust["Condition"]["StringEquals"]["aws:SourceAccount"],
        json!({"Ref": "AWS::AccountId"})
    );
    let json_text = serde_json::to_string(&template).unwrap();
    assert!(json_text.contains(
        r#""iam:PassedToService":["batchoperations.s3.amazonaws.com","s3.amazonaws.com"]"#
    ));
    // A HeadObject carries no s3:prefix: a conditioned ListBucket would not apply, and
    // a missing report would read as AccessDenied instead of 404.
    for (name, function) in of_type(&template, SERVERLESS_FUNCTION) {
        for policy in function["Properties"]["Policies"]
            .as_array()
            .into_iter()
            .flatten()
        {
            for statement in policy["Statement"].as_array().into_iter().flatten() {
                if strings(&statement["Action"]).contains(&"s3:ListBucket") {
                    assert!(
                        statement["Condition"].is_null(),
                        "{name}: ListBucket under a condition"
                    );
                }
            }
        }
    }
}

// ---- each check fails on a broken copy ----

#[test]
fn the_checks_catch_broken_copies() {
    let template = template();
    let (text, asl) = asl();

    let mut t = template.clone();
    let subs = t["Resources"]["BulkRestoreStateMachine"]["Properties"]["DefinitionSubstitutions"]
        .as_object_mut()
        .unwrap();
    let value = subs.remove("TallyFunctionArn").unwrap();
    subs.insert("UnusedArn".into(), value);
    let problems = check_substitutions(&text, &t);
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(
        check_invoked_functions(&asl, &t)
            .iter()
            .any(|p| p.contains("TallyFunctionArn"))
    );

    let mut a = asl.clone();
    a["States"]["Decide"]["Retry"][0]["ErrorEquals"]
        .as_array_mut()
        .unwrap()
        .pop();
    a["States"]["Reconcile"]["Catch"][0]["Next"] = json!("Finished");
    let problems = check_retry_and_catch(&a);
    assert_eq!(problems.len(), 2, "{problems:?}");
    let mut a = asl.clone();
    a["States"]["Decide"]["Catch"][0]["ErrorEquals"] = json!(["ManifestMalformd"]);
    assert_eq!(check_error_names(&a).len(), 1);
    let mut a = asl.clone();
    a["States"]["Tally"] = json!({"Type": "Task", "Resource": "${TallyFunctionArn}", "End": true});
    assert_eq!(check_retry_and_catch(&a).len(), 2);

    let mut bins = binaries();
    bins.remove("decide");
    bins.insert("stray".into());
    assert_eq!(check_functions(&template, &bins).len(), 2);
    let mut t = template.clone();
    t["Resources"]["TallyFunction"]["Properties"]["Runtime"] = json!("provided.al2");
    assert_eq!(check_functions(&t, &binaries()).len(), 1);

    let mut t = template.clone();
    t["Resources"]["DecideFunction"]["Properties"]["Environment"]["Variables"] =
        json!({"TOPIC": "x"});
    assert_eq!(check_environment(&t).len(), 2);

    let mut t = template.clone();
    t["Resources"]["TallyFunction"]["Properties"]["Policies"][0]["Statement"][0]["Action"] =
        json!(["dynamodb:*"]);
    assert_eq!(check_actions(&t).len(), 1);
    t["Resources"]["BatchOperationsRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        [0]["Action"] = json!("*");
    assert_eq!(check_actions(&t).len(), 2);

    let mut t = template.clone();
    let props = &mut t["Resources"]["BulkRestoreStateMachine"]["Properties"];
    props["DefinitionSubstitutions"]["DecideFunctionArn"] =
        json!({"Fn::GetAtt": ["JobsTable", "Arn"]});
    props["Policies"].as_array_mut().unwrap().pop();
    assert_eq!(check_invoked_functions(&asl, &t).len(), 2);

    let mut t = template.clone();
    t["Resources"]["ObjectsTable"]["Properties"]["TimeToLiveSpecification"]["AttributeName"] =
        json!("ttl");
    assert_eq!(check_tables(&t).len(), 1);
    let mut t = template.clone();
    t["Resources"]["JobsTable"]["Properties"]["GlobalSecondaryIndexes"]
        .as_array_mut()
        .unwrap()
        .retain(|i| i["IndexName"] != schema::BY_CREATED);
    // Its key, its projection and the index count.
    assert_eq!(check_tables(&t).len(), 3, "{:?}", check_tables(&t));

    let mut t = template.clone();
    let events = &mut t["Resources"]["JobsApiFunction"]["Properties"]["Events"];
    events["CancelJob"]["Properties"]["Auth"]["ApiKeyRequired"] = json!(false);
    events["GetJob"]["Properties"]["Method"] = json!("delete");
    assert_eq!(check_api_routes(&t).len(), 3, "{:?}", check_api_routes(&t));

    // An alarm on the restore-events queue instead of its dead-letter queue, one that
    // notifies the topic even when none was given, and one that waits for two errors.
    let mut t = template.clone();
    let alarms = of_type(&t, "AWS::CloudWatch::Alarm");
    let named = |metric: &str| {
        alarms
            .iter()
            .find(|(_, a)| a["Properties"]["MetricName"] == metric)
            .map(|(name, _)| (*name).clone())
            .unwrap()
    };
    let (dead_letters, failed, errors) = (
        named("ApproximateNumberOfMessagesVisible"),
        named("ExecutionsFailed"),
        named("Errors"),
    );
    t["Resources"][&dead_letters]["Properties"]["Dimensions"][0]["Value"] =
        json!({"Fn::GetAtt": ["RestoreEventsQueue", "QueueName"]});
    t["Resources"][&failed]["Properties"]["AlarmActions"] = json!([{"Ref": ALARM_TOPIC}]);
    t["Resources"][&errors]["Properties"]["Threshold"] = json!(1);
    assert_eq!(check_alarms(&t).len(), 3, "{:?}", check_alarms(&t));
    let mut t = template.clone();
    t["Conditions"][HAS_ALARM_TOPIC] = json!({"Fn::Equals": [{"Ref": ALARM_TOPIC}, ""]});
    t["Parameters"][ALARM_TOPIC]
        .as_object_mut()
        .unwrap()
        .remove("Default");
    assert_eq!(check_alarms(&t).len(), 2, "{:?}", check_alarms(&t));

    let mut t = template.clone();
    let api = of_type(&t, "AWS::Serverless::Api")[0].0.clone();
    let plan = &mut t["Resources"][&api]["Properties"]["Auth"]["UsagePlan"];
    plan["Throttle"]["RateLimit"] = json!(10);
    plan.as_object_mut().unwrap().remove("Quota");
    assert_eq!(check_usage_plan(&t).len(), 3, "{:?}", check_usage_plan(&t));
}

#[test]
fn short_form_tags_become_long_form() {
    let yaml: serde_norway::Value = serde_norway::from_str(
        "a: !GetAtt F.Arn\nb: !Ref X\nc: !Sub 'x-${X}'\nd: !Join [',', [a, b]]",
    )
    .unwrap();
    assert_eq!(
        to_json(yaml),
        json!({"a": {"Fn::GetAtt": ["F", "Arn"]}, "b": {"Ref": "X"}, "c": {"Fn::Sub": "x-${X}"}, "d": {"Fn::Join": [",", ["a", "b"]]}})
    );
    assert_eq!(
        placeholders("a ${One} b ${Two}} ${"),
        BTreeSet::from(["One".to_owned(), "Two".to_owned()])
    );
}
