//! Step Functions: one execution per bulk job.

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_sfn::Client;
use gbr_core::ports::{Executions, PortError, PortResult};
use serde_json::Value;

use crate::errors::{code_and_status, port_error};

/// Executions of one state machine.
#[derive(Debug, Clone)]
pub struct StepFunctions {
    client: Client,
    state_machine_arn: String,
}

impl StepFunctions {
    pub fn new(config: &SdkConfig, state_machine_arn: impl Into<String>) -> Self {
        Self::from_client(Client::new(config), state_machine_arn)
    }

    /// An adapter on an existing client (tests pass a mocked one).
    pub fn from_client(client: Client, state_machine_arn: impl Into<String>) -> Self {
        Self {
            client,
            state_machine_arn: state_machine_arn.into(),
        }
    }

    /// The ARN Step Functions gives the execution `name` of this state machine.
    fn execution_arn(&self, name: &str) -> Option<String> {
        self.state_machine_arn.contains(":stateMachine:").then(|| {
            format!(
                "{}:{name}",
                self.state_machine_arn
                    .replacen(":stateMachine:", ":execution:", 1)
            )
        })
    }

    /// After ExecutionAlreadyExists: the existing execution's ARN if it was started with
    /// the same input (a retried start), a conflict otherwise.
    async fn existing_with_input(&self, name: &str, input: &Value) -> PortResult<String> {
        let conflict = || {
            PortError::Conflict(format!(
                "execution {name} of {} exists with another input",
                self.state_machine_arn
            ))
        };
        let arn = self.execution_arn(name).ok_or_else(conflict)?;
        let out = self
            .client
            .describe_execution()
            .execution_arn(&arn)
            .send()
            .await
            .map_err(|e| port_error("DescribeExecution", &arn, e))?;
        let same = out
            .input()
            .and_then(|i| serde_json::from_str::<Value>(i).ok())
            .is_some_and(|existing| existing == *input);
        if same {
            Ok(out.execution_arn().to_owned())
        } else {
            Err(conflict())
        }
    }
}

#[async_trait]
impl Executions for StepFunctions {
    async fn start(&self, name: &str, input: &Value) -> PortResult<String> {
        let result = self
            .client
            .start_execution()
            .state_machine_arn(&self.state_machine_arn)
            .name(name)
            .input(input.to_string())
            .send()
            .await;
        match result {
            // A running execution with the same name and input is returned as is.
            Ok(out) => Ok(out.execution_arn().to_owned()),
            // The same name after the first execution ended, or with another input.
            Err(e) if code_and_status(&e).0.as_deref() == Some("ExecutionAlreadyExists") => {
                self.existing_with_input(name, input).await
            }
            Err(e) => Err(port_error(
                "StartExecution",
                format_args!("execution {name} of {}", self.state_machine_arn),
                e,
            )),
        }
    }

    async fn stop(&self, arn: &str, error: &str, cause: &str) -> PortResult<()> {
        self.client
            .stop_execution()
            .execution_arn(arn)
            .error(error)
            .cause(cause)
            .send()
            .await
            .map_err(|e| port_error("StopExecution", arn, e))?;
        Ok(())
    }
}
