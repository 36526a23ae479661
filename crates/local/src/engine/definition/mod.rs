//! The state machine definition: the accepted subset of the Amazon States Language.
//!
//! - `model`: the parsed form (states, transitions, Retry, Catch);
//! - `parse`: JSON to the model, rejecting every field, state type, operator, path or
//!   template form outside the subset by name;
//! - `graph`: the checks of the state graph (targets exist, every state is reachable,
//!   some state ends the execution).
//!
//! The subset, and why it holds what it holds, is described in [`crate::engine`].

mod graph;
mod model;
mod parse;

pub use self::model::{
    ACCEPTED_STATES_ERRORS, Catcher, ChoiceRule, ChoiceState, Definition, FailState, InputPath,
    Jitter, PassState, ResultPath, Retrier, STATES_ALL, STATES_TASK_FAILED, STATES_TIMEOUT, State,
    SucceedState, TaskState, Transition, WaitFor, WaitState,
};
pub use self::parse::DefinitionError;
