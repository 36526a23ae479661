//! The JsonPath subset and payload templates (`Parameters`, `ResultSelector`).
//!
//! Accepted paths are reference paths: `$` (the data) or `$$` (the context object)
//! followed by any number of `.field`, `['field']`, `["field"]` or `[index]` steps.
//! Wildcards, recursive descent, filters, slices, unions and negative indexes are
//! rejected when the definition is parsed. Intrinsic functions (`States.Format(...)`)
//! are rejected too.

use std::fmt;

use serde_json::{Map, Value};

/// Which document a path reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Root {
    /// `$`: the state's data.
    Data,
    /// `$$`: the context object.
    Context,
}

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// An object member.
    Field(String),
    /// An array element.
    Index(usize),
}

/// A parsed reference path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path {
    root: Root,
    steps: Vec<Step>,
    text: String,
}

/// Why a path or template was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// The path does not start with `$`.
    #[error("path `{0}` must start with `$`")]
    NoRoot(String),
    /// A construct outside the accepted subset.
    #[error("path `{path}`: {what} is not in the accepted JsonPath subset")]
    Unsupported {
        /// The path text.
        path: String,
        /// What was found.
        what: String,
    },
    /// The path is malformed.
    #[error("path `{path}` is malformed at byte {at}")]
    Malformed {
        /// The path text.
        path: String,
        /// Where parsing stopped.
        at: usize,
    },
    /// A template key ending in `.$` with a value that is not a string.
    #[error("`{0}` ends in `.$` but its value is not a string")]
    DynamicValueNotString(String),
    /// A template value that is an intrinsic function.
    #[error("`{key}`: intrinsic function `{value}` is not supported")]
    IntrinsicFunction {
        /// The key.
        key: String,
        /// The value.
        value: String,
    },
    /// Two keys that name the same field once `.$` is removed.
    #[error("field `{0}` is given twice (with and without `.$`)")]
    DuplicateField(String),
    /// A path inside a template is invalid.
    #[error("`{key}`: {source}")]
    InTemplate {
        /// The key.
        key: String,
        /// The error.
        source: Box<PathError>,
    },
}

impl Path {
    /// Parses a path of the accepted subset.
    pub fn parse(text: &str) -> Result<Path, PathError> {
        let bytes = text.as_bytes();
        let unsupported = |what: &str| PathError::Unsupported {
            path: text.to_owned(),
            what: what.to_owned(),
        };
        let malformed = |at: usize| PathError::Malformed {
            path: text.to_owned(),
            at,
        };
        if !text.starts_with('$') {
            return Err(PathError::NoRoot(text.to_owned()));
        }
        let (root, mut i) = if text.starts_with("$$") {
            (Root::Context, 2)
        } else {
            (Root::Data, 1)
        };
        let mut steps = Vec::new();
        while i < bytes.len() {
            match bytes[i] {
                b'.' => {
                    if bytes.get(i + 1) == Some(&b'.') {
                        return Err(unsupported("recursive descent `..`"));
                    }
                    let start = i + 1;
                    let mut end = start;
                    while end < bytes.len() && bytes[end] != b'.' && bytes[end] != b'[' {
                        end += 1;
                    }
                    let name = &text[start..end];
                    if name.is_empty() {
                        return Err(malformed(start));
                    }
                    check_field_name(name).map_err(|what| unsupported(&what))?;
                    steps.push(Step::Field(name.to_owned()));
                    i = end;
                }
                b'[' => {
                    let close = text[i..]
                        .find(']')
                        .map(|offset| i + offset)
                        .ok_or_else(|| malformed(i))?;
                    let inner = &text[i + 1..close];
                    let quoted = inner.len() >= 2
                        && ((inner.starts_with('\'') && inner.ends_with('\''))
                            || (inner.starts_with('"') && inner.ends_with('"')));
                    if quoted {
                        let name = &inner[1..inner.len() - 1];
                        if name.contains(['\'', '"', '\\']) {
                            return Err(unsupported("a quoted name with quotes or escapes"));
                        }
                        steps.push(Step::Field(name.to_owned()));
                    } else if !inner.is_empty() && inner.bytes().all(|b| b.is_ascii_digit()) {
                        let index = inner.parse::<usize>().map_err(|_| malformed(i + 1))?;
                        steps.push(Step::Index(index));
                    } else if inner == "*" {
                        return Err(unsupported("wildcard `[*]`"));
                    } else if inner.starts_with('?') {
                        return Err(unsupported("filter expression"));
                    } else if inner.contains(':') {
                        return Err(unsupported("array slice"));
                    } else if inner.contains(',') {
                        return Err(unsupported("union"));
                    } else if inner.starts_with('-') {
                        return Err(unsupported("negative index"));
                    } else {
                        return Err(malformed(i + 1));
                    }
                    i = close + 1;
                }
                _ => return Err(malformed(i)),
            }
        }
        Ok(Path {
            root,
            steps,
            text: text.to_owned(),
        })
    }

    /// The path as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Which document the path reads.
    pub fn root(&self) -> Root {
        self.root
    }

    /// The steps after the root.
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// Whether this is `$` alone.
    pub fn is_data_root(&self) -> bool {
        self.root == Root::Data && self.steps.is_empty()
    }

    /// The value the path selects, if any.
    pub fn select<'a>(&self, data: &'a Value, context: &'a Value) -> Option<&'a Value> {
        let mut node = match self.root {
            Root::Data => data,
            Root::Context => context,
        };
        for step in &self.steps {
            node = match (step, node) {
                (Step::Field(name), Value::Object(map)) => map.get(name)?,
                (Step::Index(index), Value::Array(items)) => items.get(*index)?,
                _ => return None,
            };
        }
        Some(node)
    }

    /// Writes `value` at this path inside `target` (the `ResultPath` rule): `$` replaces
    /// the whole document; otherwise missing objects on the way are created, and an
    /// existing non-object on the way is an error. Only field steps are accepted here
    /// (checked when the definition is parsed).
    pub fn write(&self, target: Value, value: Value) -> Result<Value, ResultPathMismatch> {
        if self.steps.is_empty() {
            return Ok(value);
        }
        let mut target = target;
        let mut node = &mut target;
        let last = self.steps.len() - 1;
        for (i, step) in self.steps.iter().enumerate() {
            let Step::Field(name) = step else {
                return Err(ResultPathMismatch);
            };
            let Value::Object(map) = node else {
                return Err(ResultPathMismatch);
            };
            if i == last {
                map.insert(name.clone(), value);
                return Ok(target);
            }
            node = map
                .entry(name.clone())
                .or_insert_with(|| Value::Object(Map::new()));
        }
        Err(ResultPathMismatch)
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// `ResultPath` cannot be applied to the state's input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResultPathMismatch;

fn check_field_name(name: &str) -> Result<(), String> {
    for c in name.chars() {
        match c {
            '*' => return Err("wildcard `*`".into()),
            '@' | '?' | '(' | ')' | ',' | ':' | '\'' | '"' | ']' | '$' => {
                return Err(format!("character `{c}` in a field name"));
            }
            c if c.is_whitespace() => return Err("whitespace in a field name".into()),
            _ => {}
        }
    }
    Ok(())
}

/// A compiled payload template (`Parameters`, `ResultSelector`).
#[derive(Debug, Clone, PartialEq)]
pub enum Template {
    /// A value copied as is.
    Literal(Value),
    /// An object whose members may be dynamic.
    Object(Vec<(String, Template)>),
    /// An array whose elements may be dynamic.
    Array(Vec<Template>),
    /// A member whose key ended in `.$`: the value its path selects.
    Path(Path),
}

/// A template path selected nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingPath {
    /// The key, including its `.$`.
    pub key: String,
    /// The path.
    pub path: String,
}

impl Template {
    /// Compiles a template from the definition's JSON.
    pub fn compile(value: &Value) -> Result<Template, PathError> {
        match value {
            Value::Object(map) => {
                if !contains_dynamic(value) {
                    return Ok(Template::Literal(value.clone()));
                }
                let mut members: Vec<(String, Template)> = Vec::with_capacity(map.len());
                for (key, member) in map {
                    let (name, template) = if let Some(name) = key.strip_suffix(".$") {
                        let Value::String(text) = member else {
                            return Err(PathError::DynamicValueNotString(key.clone()));
                        };
                        if !text.starts_with('$') {
                            return Err(PathError::IntrinsicFunction {
                                key: key.clone(),
                                value: text.clone(),
                            });
                        }
                        let path = Path::parse(text).map_err(|e| PathError::InTemplate {
                            key: key.clone(),
                            source: Box::new(e),
                        })?;
                        (name.to_owned(), Template::Path(path))
                    } else {
                        (key.clone(), Template::compile(member)?)
                    };
                    if members.iter().any(|(existing, _)| *existing == name) {
                        return Err(PathError::DuplicateField(name));
                    }
                    members.push((name, template));
                }
                Ok(Template::Object(members))
            }
            Value::Array(items) if contains_dynamic(value) => Ok(Template::Array(
                items
                    .iter()
                    .map(Template::compile)
                    .collect::<Result<_, _>>()?,
            )),
            other => Ok(Template::Literal(other.clone())),
        }
    }

    /// Renders the template against `data` and the context object.
    pub fn render(&self, data: &Value, context: &Value) -> Result<Value, MissingPath> {
        match self {
            Template::Literal(value) => Ok(value.clone()),
            Template::Array(items) => Ok(Value::Array(
                items
                    .iter()
                    .map(|item| item.render(data, context))
                    .collect::<Result<_, _>>()?,
            )),
            Template::Object(members) => {
                let mut out = Map::new();
                for (name, member) in members {
                    let value = match member {
                        Template::Path(path) => {
                            path.select(data, context)
                                .cloned()
                                .ok_or_else(|| MissingPath {
                                    key: format!("{name}.$"),
                                    path: path.as_str().to_owned(),
                                })?
                        }
                        other => other.render(data, context)?,
                    };
                    out.insert(name.clone(), value);
                }
                Ok(Value::Object(out))
            }
            // Only reachable as an object member, handled above.
            Template::Path(path) => path.select(data, context).cloned().ok_or(MissingPath {
                key: String::new(),
                path: path.as_str().to_owned(),
            }),
        }
    }
}

fn contains_dynamic(value: &Value) -> bool {
    match value {
        Value::Object(map) => map
            .iter()
            .any(|(key, member)| key.ends_with(".$") || contains_dynamic(member)),
        Value::Array(items) => items.iter().any(contains_dynamic),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(text: &str) -> Path {
        Path::parse(text).expect("valid path")
    }

    #[test]
    fn parses_the_subset() {
        assert_eq!(p("$").steps(), &[] as &[Step]);
        assert_eq!(
            p("$.a.b[2]['c d'][\"e\"]").steps(),
            &[
                Step::Field("a".into()),
                Step::Field("b".into()),
                Step::Index(2),
                Step::Field("c d".into()),
                Step::Field("e".into()),
            ]
        );
        assert_eq!(p("$$.Execution.Id").root(), Root::Context);
        assert_eq!(p("$.with-dash_and_1").steps().len(), 1);
    }

    #[test]
    fn rejects_everything_else_naming_it() {
        let cases = [
            ("$..a", "recursive descent"),
            ("$.a[*]", "wildcard"),
            ("$.a.*", "wildcard"),
            ("$.a[?(@.b)]", "filter"),
            ("$.a[1:2]", "slice"),
            ("$.a[0,1]", "union"),
            ("$.a[-1]", "negative index"),
        ];
        for (path, what) in cases {
            let err = Path::parse(path).expect_err(path).to_string();
            assert!(err.contains(what), "{path}: {err}");
        }
        assert_eq!(Path::parse("a.b"), Err(PathError::NoRoot("a.b".into())));
        assert!(matches!(
            Path::parse("$."),
            Err(PathError::Malformed { .. })
        ));
        assert!(matches!(
            Path::parse("$a"),
            Err(PathError::Malformed { .. })
        ));
        assert!(matches!(
            Path::parse("$.a[1"),
            Err(PathError::Malformed { .. })
        ));
    }

    #[test]
    fn selects_values_and_reports_absence() {
        let data = json!({"a": {"b": [10, {"c": null}]}, "x y": 1});
        let ctx = json!({"State": {"Name": "S"}});
        assert_eq!(p("$.a.b[0]").select(&data, &ctx), Some(&json!(10)));
        assert_eq!(p("$.a.b[1].c").select(&data, &ctx), Some(&Value::Null));
        assert_eq!(p("$['x y']").select(&data, &ctx), Some(&json!(1)));
        assert_eq!(p("$$.State.Name").select(&data, &ctx), Some(&json!("S")));
        assert_eq!(p("$.a.b[2]").select(&data, &ctx), None);
        assert_eq!(p("$.a.z").select(&data, &ctx), None);
        assert_eq!(p("$.a.b.c").select(&data, &ctx), None);
        assert_eq!(p("$").select(&data, &ctx), Some(&data));
    }

    #[test]
    fn writes_results_like_result_path() {
        let input = json!({"a": 1, "b": {"c": 2}});
        assert_eq!(p("$").write(input.clone(), json!(5)), Ok(json!(5)));
        assert_eq!(
            p("$.r").write(input.clone(), json!(5)),
            Ok(json!({"a": 1, "b": {"c": 2}, "r": 5}))
        );
        assert_eq!(
            p("$.b.d.e").write(input.clone(), json!(5)),
            Ok(json!({"a": 1, "b": {"c": 2, "d": {"e": 5}}}))
        );
        assert_eq!(
            p("$.a").write(input.clone(), json!({"x": true})),
            Ok(json!({"a": {"x": true}, "b": {"c": 2}}))
        );
        assert_eq!(
            p("$.a.x").write(input.clone(), json!(5)),
            Err(ResultPathMismatch)
        );
        assert_eq!(
            p("$.x").write(json!([1]), json!(5)),
            Err(ResultPathMismatch)
        );
        assert_eq!(
            p("$.x").write(json!("s"), json!(5)),
            Err(ResultPathMismatch)
        );
    }

    #[test]
    fn renders_templates_with_paths_and_context() {
        let template = Template::compile(&json!({
            "static": {"keep.me": [1, 2]},
            "name.$": "$.name",
            "nested": {"id.$": "$$.Execution.Id", "list": [{"v.$": "$.n"}, 3]},
            "whole.$": "$"
        }))
        .expect("compiles");
        let data = json!({"name": "x", "n": 4});
        let ctx = json!({"Execution": {"Id": "arn"}});
        assert_eq!(
            template.render(&data, &ctx),
            Ok(json!({
                "static": {"keep.me": [1, 2]},
                "name": "x",
                "nested": {"id": "arn", "list": [{"v": 4}, 3]},
                "whole": {"name": "x", "n": 4}
            }))
        );
        assert_eq!(
            template.render(&json!({"n": 1}), &ctx),
            Err(MissingPath {
                key: "name.$".into(),
                path: "$.name".into()
            })
        );
    }

    #[test]
    fn rejects_bad_templates() {
        assert_eq!(
            Template::compile(&json!({"a.$": 1})),
            Err(PathError::DynamicValueNotString("a.$".into()))
        );
        assert!(matches!(
            Template::compile(&json!({"a.$": "States.Format('{}', $.x)"})),
            Err(PathError::IntrinsicFunction { .. })
        ));
        assert_eq!(
            Template::compile(&json!({"a.$": "$.x", "a": 1})),
            Err(PathError::DuplicateField("a".into()))
        );
        assert!(matches!(
            Template::compile(&json!({"deep": {"a.$": "$..x"}})),
            Err(PathError::InTemplate { .. })
        ));
    }
}
