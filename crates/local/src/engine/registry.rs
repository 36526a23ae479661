//! Task resources: resource string → async handler.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::sync::Arc;

use serde_json::Value;

use super::clock::BoxFuture;

/// A failure as it reaches Step Functions from a Lambda function: `error` is the error
/// type (matched by `ErrorEquals`), `cause` the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error}: {cause}")]
pub struct TaskFailure {
    /// The error name (`Error`).
    pub error: String,
    /// The message (`Cause`).
    pub cause: String,
}

impl TaskFailure {
    /// A task failure with this name and message.
    pub fn new(error: impl Into<String>, cause: impl Into<String>) -> Self {
        Self {
            error: error.into(),
            cause: cause.into(),
        }
    }
}

/// What a Task state's resource runs.
pub trait TaskHandler: Send + Sync {
    /// Runs the task on its effective input (after `InputPath` and `Parameters`).
    fn call(&self, input: Value) -> BoxFuture<'_, Result<Value, TaskFailure>>;
}

/// A handler made from an async closure (see [`handler_fn`]).
pub struct FnHandler<F>(F);

impl<F, Fut> TaskHandler for FnHandler<F>
where
    F: Fn(Value) -> Fut + Send + Sync,
    Fut: Future<Output = Result<Value, TaskFailure>> + Send + 'static,
{
    fn call(&self, input: Value) -> BoxFuture<'_, Result<Value, TaskFailure>> {
        Box::pin((self.0)(input))
    }
}

/// Wraps an async closure as a handler.
pub fn handler_fn<F, Fut>(f: F) -> Arc<dyn TaskHandler>
where
    F: Fn(Value) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Value, TaskFailure>> + Send + 'static,
{
    Arc::new(FnHandler(f))
}

/// Handlers by resource string (as it reads after definition substitutions).
#[derive(Clone, Default)]
pub struct Registry {
    handlers: BTreeMap<String, Arc<dyn TaskHandler>>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.handlers.keys()).finish()
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers (or replaces) the handler of `resource`.
    pub fn register(
        &mut self,
        resource: impl Into<String>,
        handler: Arc<dyn TaskHandler>,
    ) -> &mut Self {
        self.handlers.insert(resource.into(), handler);
        self
    }

    /// Builder form of [`Registry::register`].
    pub fn with(mut self, resource: impl Into<String>, handler: Arc<dyn TaskHandler>) -> Self {
        self.register(resource, handler);
        self
    }

    /// The handler of `resource`.
    pub fn get(&self, resource: &str) -> Option<Arc<dyn TaskHandler>> {
        self.handlers.get(resource).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn closures_become_handlers() {
        let registry = Registry::new()
            .with(
                "ok",
                handler_fn(|input| async move { Ok(json!({"echo": input})) }),
            )
            .with(
                "bad",
                handler_fn(|_| async { Err(TaskFailure::new("Oops", "it broke")) }),
            );
        let ok = registry.get("ok").expect("registered");
        assert_eq!(ok.call(json!(1)).await, Ok(json!({"echo": 1})));
        let bad = registry.get("bad").expect("registered");
        assert_eq!(
            bad.call(json!(1)).await,
            Err(TaskFailure::new("Oops", "it broke"))
        );
        assert!(registry.get("missing").is_none());
    }
}
