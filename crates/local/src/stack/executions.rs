//! The core's Executions and Clock ports on the local engine.

use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use gbr_core::ports::{Clock, Executions, PortError, PortResult};
use jiff::Timestamp;
use serde_json::Value;

use crate::engine::clock::SimClock;
use crate::engine::{Engine, EngineError};

/// Step Functions as the local engine. The engine is set after it is built, since its
/// task handlers hold the ports that hold this.
#[derive(Default)]
pub struct LocalExecutions {
    engine: OnceLock<Arc<Engine>>,
    /// Executions that may run at once; `None` for no bound. One machine's memory and
    /// cores bound a local stack, where AWS would scale out.
    max_running: Option<usize>,
}

impl LocalExecutions {
    pub fn bounded(max_running: Option<usize>) -> Self {
        Self {
            engine: OnceLock::new(),
            max_running,
        }
    }

    pub fn set_engine(&self, engine: Arc<Engine>) {
        let _ = self.engine.set(engine);
    }

    fn engine(&self) -> PortResult<&Arc<Engine>> {
        self.engine
            .get()
            .ok_or_else(|| PortError::Retryable("the local engine is not running yet".into()))
    }
}

fn port_error(e: EngineError) -> PortError {
    match e {
        EngineError::ExecutionAlreadyExists(name) => PortError::Conflict(format!(
            "execution {name} already exists with another input or has ended"
        )),
        EngineError::ExecutionDoesNotExist(arn) => PortError::NotFound(format!("execution {arn}")),
        other => PortError::Rejected(other.to_string()),
    }
}

#[async_trait]
impl Executions for LocalExecutions {
    async fn start(&self, name: &str, input: &Value) -> PortResult<String> {
        let engine = self.engine()?;
        if let Some(max) = self.max_running {
            let executions = engine.executions();
            let known = executions
                .iter()
                .any(|arn| arn.as_str().rsplit(':').next() == Some(name));
            let running = executions
                .iter()
                .filter(|arn| {
                    engine
                        .describe_execution(arn.as_str())
                        .is_ok_and(|d| d.stop_date.is_none())
                })
                .count();
            // A retried start of a job already started is answered as before.
            if !known && running >= max {
                return Err(PortError::Retryable(format!(
                    "the local stack runs {running} jobs, as many as it runs at once \
                     (gbr-local up --max-jobs {max}); try again when one has ended"
                )));
            }
        }
        let arn = engine
            .start_execution(name, input.clone())
            .map_err(port_error)?;
        Ok(arn.into())
    }

    async fn stop(&self, arn: &str, error: &str, cause: &str) -> PortResult<()> {
        self.engine()?
            .stop_execution(arn, Some(error), Some(cause))
            .map(|_| ())
            .map_err(port_error)
    }
}

/// The core's clock port reading the engine's clock, so tasks see virtual time.
pub struct EngineClock(pub Arc<dyn SimClock>);

impl Clock for EngineClock {
    fn now(&self) -> Timestamp {
        self.0.now()
    }

    fn wall(&self) -> Timestamp {
        Timestamp::now()
    }
}
