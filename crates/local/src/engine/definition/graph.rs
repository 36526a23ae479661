//! Checks of the state graph: every target exists, every state is reachable from
//! `StartAt`, and some state ends the execution.

use std::collections::{BTreeSet, VecDeque};

use super::model::{Definition, State, Transition};
use super::parse::DefinitionError;

impl State {
    /// Every state this one may go to, with the field that names it.
    fn targets(&self) -> Vec<(String, &str)> {
        fn transition(transition: &Transition) -> Option<(String, &str)> {
            match transition {
                Transition::Next(next) => Some(("Next".to_owned(), next.as_str())),
                Transition::End => None,
            }
        }
        let mut out = Vec::new();
        match self {
            State::Task(task) => {
                out.extend(transition(&task.transition));
                for (i, catcher) in task.catch.iter().enumerate() {
                    out.push((format!("Catch[{i}].Next"), catcher.next.as_str()));
                }
            }
            State::Pass(pass) => out.extend(transition(&pass.transition)),
            State::Wait(wait) => out.push(("Next".to_owned(), wait.next.as_str())),
            State::Choice(choice) => {
                for (i, c) in choice.choices.iter().enumerate() {
                    out.push((format!("Choices[{i}].Next"), c.next.as_str()));
                }
                out.push(("Default".to_owned(), choice.default.as_str()));
            }
            State::Succeed(_) | State::Fail(_) => {}
        }
        out
    }

    /// Whether the execution can end in this state.
    fn is_terminal(&self) -> bool {
        match self {
            State::Task(task) => task.transition == Transition::End,
            State::Pass(pass) => pass.transition == Transition::End,
            State::Succeed(_) | State::Fail(_) => true,
            State::Wait(_) | State::Choice(_) => false,
        }
    }
}

impl Definition {
    pub(super) fn check_graph(&self) -> Result<(), DefinitionError> {
        if !self.states.contains_key(&self.start_at) {
            return Err(DefinitionError::StartAtNotFound(self.start_at.clone()));
        }
        for (name, state) in &self.states {
            for (field, target) in state.targets() {
                if !self.states.contains_key(target) {
                    return Err(DefinitionError::TargetNotFound {
                        state: name.clone(),
                        field,
                        target: target.to_owned(),
                    });
                }
            }
        }
        let mut reached = BTreeSet::new();
        let mut queue = VecDeque::from([self.start_at.as_str()]);
        while let Some(name) = queue.pop_front() {
            if !reached.insert(name) {
                continue;
            }
            if let Some(state) = self.states.get(name) {
                queue.extend(state.targets().into_iter().map(|(_, target)| target));
            }
        }
        if let Some(unreached) = self
            .states
            .keys()
            .find(|name| !reached.contains(name.as_str()))
        {
            return Err(DefinitionError::Unreachable(unreached.clone()));
        }
        if !self.states.values().any(State::is_terminal) {
            return Err(DefinitionError::NoTerminalState);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::{Value, json};

    use super::*;

    fn parse(definition: Value) -> Result<Definition, DefinitionError> {
        Definition::parse(&definition.to_string(), &BTreeMap::new())
    }

    #[test]
    fn rejects_missing_targets() {
        assert_eq!(
            parse(json!({"StartAt": "X", "States": {"S": {"Type": "Succeed"}}})),
            Err(DefinitionError::StartAtNotFound("X".into()))
        );
        assert_eq!(
            parse(json!({"StartAt": "S", "States": {"S": {"Type": "Pass", "Next": "Nope"}}})),
            Err(DefinitionError::TargetNotFound {
                state: "S".into(),
                field: "Next".into(),
                target: "Nope".into()
            })
        );
        assert_eq!(
            parse(json!({"StartAt": "S", "States": {"S": {
                "Type": "Task", "Resource": "arn:aws:lambda:us-east-1:1:function:f", "End": true,
                "Catch": [{"ErrorEquals": ["E"], "Next": "Gone"}]}}})),
            Err(DefinitionError::TargetNotFound {
                state: "S".into(),
                field: "Catch[0].Next".into(),
                target: "Gone".into()
            })
        );
        assert_eq!(
            parse(json!({"StartAt": "S", "States": {
                "S": {"Type": "Choice", "Default": "D", "Choices": [
                    {"Variable": "$.a", "IsNull": true, "Next": "E"}]},
                "E": {"Type": "Succeed"}}})),
            Err(DefinitionError::TargetNotFound {
                state: "S".into(),
                field: "Default".into(),
                target: "D".into()
            })
        );
    }

    #[test]
    fn rejects_unreachable_states() {
        assert_eq!(
            parse(json!({"StartAt": "S", "States": {
                "S": {"Type": "Succeed"}, "Island": {"Type": "Succeed"}}})),
            Err(DefinitionError::Unreachable("Island".into()))
        );
        // Reachable only through a catcher or a Choice's Default counts as reachable.
        assert!(
            parse(json!({"StartAt": "C", "States": {
                "C": {"Type": "Choice", "Default": "T", "Choices": [
                    {"Variable": "$.a", "IsNull": true, "Next": "C"}]},
                "T": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:1:function:f",
                      "Next": "C", "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "F"}]},
                "F": {"Type": "Fail"}}}))
            .is_ok()
        );
    }

    #[test]
    fn rejects_a_machine_that_cannot_end() {
        assert_eq!(
            parse(json!({"StartAt": "A", "States": {
                "A": {"Type": "Pass", "Next": "W"},
                "W": {"Type": "Wait", "Seconds": 1, "Next": "A"}}})),
            Err(DefinitionError::NoTerminalState)
        );
    }
}
