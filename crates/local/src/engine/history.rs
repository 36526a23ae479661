//! Execution history in the shape of Step Functions' `GetExecutionHistory`.

use jiff::Timestamp;
use serde::Serialize;

/// One history event (serialized as GetExecutionHistory returns it: `id`,
/// `previousEventId`, `timestamp`, `type` and one `…EventDetails` object).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEvent {
    /// 1-based position in the history.
    pub id: u64,
    /// The event this one follows (0 for the first).
    pub previous_event_id: u64,
    /// When it happened, by the engine's clock.
    pub timestamp: Timestamp,
    /// The type and its details.
    #[serde(flatten)]
    pub details: EventDetails,
}

impl HistoryEvent {
    /// The event type, as in GetExecutionHistory (`TaskStateEntered`, …).
    pub fn event_type(&self) -> &'static str {
        self.details.event_type()
    }
}

/// `inputDetails` / `outputDetails`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DataDetails {
    /// Always false: nothing is truncated.
    pub truncated: bool,
}

impl DataDetails {
    const FULL: DataDetails = DataDetails { truncated: false };
}

/// `executionStartedEventDetails`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionStartedDetails {
    /// The input, as a JSON string.
    pub input: String,
    /// Truncation flag.
    pub input_details: DataDetails,
}

/// `executionSucceededEventDetails`, `stateExitedEventDetails` (without `name`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputDetails {
    /// The output, as a JSON string.
    pub output: String,
    /// Truncation flag.
    pub output_details: DataDetails,
}

/// `executionFailedEventDetails`, `executionAbortedEventDetails`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorDetails {
    /// The error name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The cause.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
}

/// `stateEnteredEventDetails`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StateEnteredDetails {
    /// The state.
    pub name: String,
    /// Its raw input, as a JSON string.
    pub input: String,
    /// Truncation flag.
    pub input_details: DataDetails,
}

/// `stateExitedEventDetails`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StateExitedDetails {
    /// The state.
    pub name: String,
    /// Its output, as a JSON string.
    pub output: String,
    /// Truncation flag.
    pub output_details: DataDetails,
}

/// `taskScheduledEventDetails`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskScheduledDetails {
    /// The service (`lambda`, …).
    pub resource_type: String,
    /// The resource.
    pub resource: String,
    /// The region of the state machine.
    pub region: String,
    /// The effective input, as a JSON string.
    pub parameters: String,
    /// The Task's `TimeoutSeconds`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_in_seconds: Option<u64>,
}

/// `taskStartedEventDetails`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskStartedDetails {
    /// The service.
    pub resource_type: String,
    /// The resource.
    pub resource: String,
}

/// `taskSucceededEventDetails`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskSucceededDetails {
    /// The service.
    pub resource_type: String,
    /// The resource.
    pub resource: String,
    /// What the handler returned, as a JSON string.
    pub output: String,
    /// Truncation flag.
    pub output_details: DataDetails,
}

/// `taskFailedEventDetails`, `taskTimedOutEventDetails`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskErrorDetails {
    /// The service.
    pub resource_type: String,
    /// The resource.
    pub resource: String,
    /// The error name.
    pub error: String,
    /// The cause.
    pub cause: String,
}

/// The event type and its details object.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type")]
pub enum EventDetails {
    ExecutionStarted {
        #[serde(rename = "executionStartedEventDetails")]
        details: ExecutionStartedDetails,
    },
    ExecutionSucceeded {
        #[serde(rename = "executionSucceededEventDetails")]
        details: OutputDetails,
    },
    ExecutionFailed {
        #[serde(rename = "executionFailedEventDetails")]
        details: ErrorDetails,
    },
    ExecutionAborted {
        #[serde(rename = "executionAbortedEventDetails")]
        details: ErrorDetails,
    },
    TaskStateEntered {
        #[serde(rename = "stateEnteredEventDetails")]
        details: StateEnteredDetails,
    },
    TaskScheduled {
        #[serde(rename = "taskScheduledEventDetails")]
        details: TaskScheduledDetails,
    },
    TaskStarted {
        #[serde(rename = "taskStartedEventDetails")]
        details: TaskStartedDetails,
    },
    TaskSucceeded {
        #[serde(rename = "taskSucceededEventDetails")]
        details: TaskSucceededDetails,
    },
    TaskFailed {
        #[serde(rename = "taskFailedEventDetails")]
        details: TaskErrorDetails,
    },
    TaskTimedOut {
        #[serde(rename = "taskTimedOutEventDetails")]
        details: TaskErrorDetails,
    },
    TaskStateExited {
        #[serde(rename = "stateExitedEventDetails")]
        details: StateExitedDetails,
    },
    PassStateEntered {
        #[serde(rename = "stateEnteredEventDetails")]
        details: StateEnteredDetails,
    },
    PassStateExited {
        #[serde(rename = "stateExitedEventDetails")]
        details: StateExitedDetails,
    },
    WaitStateEntered {
        #[serde(rename = "stateEnteredEventDetails")]
        details: StateEnteredDetails,
    },
    WaitStateExited {
        #[serde(rename = "stateExitedEventDetails")]
        details: StateExitedDetails,
    },
    ChoiceStateEntered {
        #[serde(rename = "stateEnteredEventDetails")]
        details: StateEnteredDetails,
    },
    ChoiceStateExited {
        #[serde(rename = "stateExitedEventDetails")]
        details: StateExitedDetails,
    },
    SucceedStateEntered {
        #[serde(rename = "stateEnteredEventDetails")]
        details: StateEnteredDetails,
    },
    SucceedStateExited {
        #[serde(rename = "stateExitedEventDetails")]
        details: StateExitedDetails,
    },
    FailStateEntered {
        #[serde(rename = "stateEnteredEventDetails")]
        details: StateEnteredDetails,
    },
}

impl EventDetails {
    /// The event type.
    pub fn event_type(&self) -> &'static str {
        match self {
            EventDetails::ExecutionStarted { .. } => "ExecutionStarted",
            EventDetails::ExecutionSucceeded { .. } => "ExecutionSucceeded",
            EventDetails::ExecutionFailed { .. } => "ExecutionFailed",
            EventDetails::ExecutionAborted { .. } => "ExecutionAborted",
            EventDetails::TaskStateEntered { .. } => "TaskStateEntered",
            EventDetails::TaskScheduled { .. } => "TaskScheduled",
            EventDetails::TaskStarted { .. } => "TaskStarted",
            EventDetails::TaskSucceeded { .. } => "TaskSucceeded",
            EventDetails::TaskFailed { .. } => "TaskFailed",
            EventDetails::TaskTimedOut { .. } => "TaskTimedOut",
            EventDetails::TaskStateExited { .. } => "TaskStateExited",
            EventDetails::PassStateEntered { .. } => "PassStateEntered",
            EventDetails::PassStateExited { .. } => "PassStateExited",
            EventDetails::WaitStateEntered { .. } => "WaitStateEntered",
            EventDetails::WaitStateExited { .. } => "WaitStateExited",
            EventDetails::ChoiceStateEntered { .. } => "ChoiceStateEntered",
            EventDetails::ChoiceStateExited { .. } => "ChoiceStateExited",
            EventDetails::SucceedStateEntered { .. } => "SucceedStateEntered",
            EventDetails::SucceedStateExited { .. } => "SucceedStateExited",
            EventDetails::FailStateEntered { .. } => "FailStateEntered",
        }
    }

    /// `…StateEntered` for a state of this type.
    pub fn state_entered(state_type: &str, name: &str, input: String) -> EventDetails {
        let details = StateEnteredDetails {
            name: name.to_owned(),
            input,
            input_details: DataDetails::FULL,
        };
        match state_type {
            "Task" => EventDetails::TaskStateEntered { details },
            "Pass" => EventDetails::PassStateEntered { details },
            "Wait" => EventDetails::WaitStateEntered { details },
            "Choice" => EventDetails::ChoiceStateEntered { details },
            "Succeed" => EventDetails::SucceedStateEntered { details },
            _ => EventDetails::FailStateEntered { details },
        }
    }

    /// `…StateExited` for a state of this type (Fail states never exit).
    pub fn state_exited(state_type: &str, name: &str, output: String) -> Option<EventDetails> {
        let details = StateExitedDetails {
            name: name.to_owned(),
            output,
            output_details: DataDetails::FULL,
        };
        Some(match state_type {
            "Task" => EventDetails::TaskStateExited { details },
            "Pass" => EventDetails::PassStateExited { details },
            "Wait" => EventDetails::WaitStateExited { details },
            "Choice" => EventDetails::ChoiceStateExited { details },
            "Succeed" => EventDetails::SucceedStateExited { details },
            _ => return None,
        })
    }

    /// `ExecutionStarted`.
    pub fn execution_started(input: String) -> EventDetails {
        EventDetails::ExecutionStarted {
            details: ExecutionStartedDetails {
                input,
                input_details: DataDetails::FULL,
            },
        }
    }

    /// `ExecutionSucceeded`.
    pub fn execution_succeeded(output: String) -> EventDetails {
        EventDetails::ExecutionSucceeded {
            details: OutputDetails {
                output,
                output_details: DataDetails::FULL,
            },
        }
    }

    /// `TaskSucceeded`.
    pub fn task_succeeded(resource_type: &str, resource: &str, output: String) -> EventDetails {
        EventDetails::TaskSucceeded {
            details: TaskSucceededDetails {
                resource_type: resource_type.to_owned(),
                resource: resource.to_owned(),
                output,
                output_details: DataDetails::FULL,
            },
        }
    }

    /// The name of the state this event is about, for `…StateEntered`/`…StateExited`.
    pub fn state_name(&self) -> Option<&str> {
        match self {
            EventDetails::TaskStateEntered { details }
            | EventDetails::PassStateEntered { details }
            | EventDetails::WaitStateEntered { details }
            | EventDetails::ChoiceStateEntered { details }
            | EventDetails::SucceedStateEntered { details }
            | EventDetails::FailStateEntered { details } => Some(&details.name),
            EventDetails::TaskStateExited { details }
            | EventDetails::PassStateExited { details }
            | EventDetails::WaitStateExited { details }
            | EventDetails::ChoiceStateExited { details }
            | EventDetails::SucceedStateExited { details } => Some(&details.name),
            _ => None,
        }
    }

    /// Whether this is a `…StateEntered` event.
    pub fn is_state_entered(&self) -> bool {
        self.event_type().ends_with("StateEntered")
    }
}

/// The names of the states entered, in order (what a history says the execution did).
pub fn states_entered(history: &[HistoryEvent]) -> Vec<String> {
    history
        .iter()
        .filter(|e| e.details.is_state_entered())
        .filter_map(|e| e.details.state_name().map(str::to_owned))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn serializes_like_get_execution_history() {
        let event = HistoryEvent {
            id: 3,
            previous_event_id: 2,
            timestamp: "2030-01-01T00:00:00Z".parse().expect("ts"),
            details: EventDetails::TaskFailed {
                details: TaskErrorDetails {
                    resource_type: "lambda".into(),
                    resource: "arn:aws:lambda:us-east-1:1:function:f".into(),
                    error: "Boom".into(),
                    cause: "bad".into(),
                },
            },
        };
        assert_eq!(
            serde_json::to_value(&event).expect("serializes"),
            json!({
                "id": 3, "previousEventId": 2, "timestamp": "2030-01-01T00:00:00Z",
                "type": "TaskFailed",
                "taskFailedEventDetails": {
                    "resourceType": "lambda",
                    "resource": "arn:aws:lambda:us-east-1:1:function:f",
                    "error": "Boom", "cause": "bad"
                }
            })
        );
        let entered = EventDetails::state_entered("Wait", "W", "{}".into());
        assert_eq!(entered.event_type(), "WaitStateEntered");
        assert_eq!(
            serde_json::to_value(&entered).expect("serializes"),
            json!({"type": "WaitStateEntered", "stateEnteredEventDetails": {
                "name": "W", "input": "{}", "inputDetails": {"truncated": false}}})
        );
        assert_eq!(EventDetails::state_exited("Fail", "F", "{}".into()), None);
    }
}
