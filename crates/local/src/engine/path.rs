//! The JsonPath subset and payload templates (`Parameters`, `ResultSelector`).
//!
//! A path is `$` (the state's data) or `$$` (the context object) followed by any number
//! of `.name` steps, each name made of ASCII letters, digits and `_`. Everything else is
//! rejected, by name, when the definition is parsed: bracket notation (indexes, quoted
//! names, filters, slices, unions), wildcards, recursive descent and other characters.
//!
//! A template is a JSON object whose members are either literals or, when their key
//! ends in `.$`, a path. Intrinsic functions (`States.Format(...)`) and `.$` keys below
//! the top level are rejected.

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

/// A parsed reference path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path {
    root: Root,
    fields: Vec<String>,
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
    /// The path is not `$` or `$$` followed by `.name` steps.
    #[error("path `{0}` is malformed: expected `$` or `$$` followed by `.name` steps")]
    Malformed(String),
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
    /// A `.$` key inside a member's value.
    #[error("`{key}` holds `{nested}`: a `.$` key is accepted only at the top level")]
    NestedDynamicField {
        /// The top-level key.
        key: String,
        /// The `.$` key found inside its value.
        nested: String,
    },
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
        let unsupported = |what: String| PathError::Unsupported {
            path: text.to_owned(),
            what,
        };
        let (root, steps) = if let Some(rest) = text.strip_prefix("$$") {
            (Root::Context, rest)
        } else if let Some(rest) = text.strip_prefix('$') {
            (Root::Data, rest)
        } else {
            return Err(PathError::NoRoot(text.to_owned()));
        };
        if steps.contains("..") {
            return Err(unsupported("recursive descent `..`".into()));
        }
        if steps.contains('[') {
            return Err(unsupported("bracket notation `[…]`".into()));
        }
        let mut fields = Vec::new();
        if !steps.is_empty() {
            let Some(names) = steps.strip_prefix('.') else {
                return Err(PathError::Malformed(text.to_owned()));
            };
            for name in names.split('.') {
                if name.is_empty() {
                    return Err(PathError::Malformed(text.to_owned()));
                }
                if let Some(c) = name
                    .chars()
                    .find(|c| !(c.is_ascii_alphanumeric() || *c == '_'))
                {
                    return Err(unsupported(if c == '*' {
                        "wildcard `*`".into()
                    } else {
                        format!("character `{c}` in a field name")
                    }));
                }
                fields.push(name.to_owned());
            }
        }
        Ok(Path {
            root,
            fields,
            text: text.to_owned(),
        })
    }

    /// `$`: the whole data.
    pub fn data_root() -> Path {
        Path {
            root: Root::Data,
            fields: Vec::new(),
            text: "$".to_owned(),
        }
    }

    /// The path as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Which document the path reads.
    pub fn root(&self) -> Root {
        self.root
    }

    /// The value the path selects in `document`, which must be the one its root names.
    pub fn select<'a>(&self, document: &'a Value) -> Option<&'a Value> {
        self.fields
            .iter()
            .try_fold(document, |node, name| node.as_object()?.get(name))
    }

    /// Writes `value` at this path inside `target` (the `ResultPath` rule): `$` replaces
    /// the whole document; otherwise missing objects on the way are created, and an
    /// existing non-object on the way is an error.
    pub fn write(&self, target: Value, value: Value) -> Result<Value, ResultPathMismatch> {
        let Some((last, parents)) = self.fields.split_last() else {
            return Ok(value);
        };
        let mut target = target;
        let mut node = &mut target;
        for name in parents {
            let Value::Object(map) = node else {
                return Err(ResultPathMismatch);
            };
            node = map
                .entry(name.clone())
                .or_insert_with(|| Value::Object(Map::new()));
        }
        let Value::Object(map) = node else {
            return Err(ResultPathMismatch);
        };
        map.insert(last.clone(), value);
        Ok(target)
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

/// A member of a template.
#[derive(Debug, Clone, PartialEq)]
enum Member {
    /// A value copied as is.
    Literal(Value),
    /// A key that ended in `.$`: the value its path selects.
    Path(Path),
}

/// A compiled payload template (`Parameters`, `ResultSelector`): its members by name
/// (without `.$`).
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    members: Vec<(String, Member)>,
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
    /// Compiles a template from the definition's JSON object.
    pub fn compile(object: &Map<String, Value>) -> Result<Template, PathError> {
        let mut members: Vec<(String, Member)> = Vec::with_capacity(object.len());
        for (key, value) in object {
            let (name, member) = if let Some(name) = key.strip_suffix(".$") {
                let Value::String(text) = value else {
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
                (name.to_owned(), Member::Path(path))
            } else {
                if let Some(nested) = dynamic_key(value) {
                    return Err(PathError::NestedDynamicField {
                        key: key.clone(),
                        nested: nested.to_owned(),
                    });
                }
                (key.clone(), Member::Literal(value.clone()))
            };
            if members.iter().any(|(existing, _)| *existing == name) {
                return Err(PathError::DuplicateField(name));
            }
            members.push((name, member));
        }
        Ok(Template { members })
    }

    /// Every path, with its member's name.
    pub fn paths(&self) -> impl Iterator<Item = (&str, &Path)> {
        self.members
            .iter()
            .filter_map(|(name, member)| match member {
                Member::Path(path) => Some((name.as_str(), path)),
                Member::Literal(_) => None,
            })
    }

    /// Renders the template against `data` and the context object.
    pub fn render(&self, data: &Value, context: &Value) -> Result<Value, MissingPath> {
        let mut out = Map::new();
        for (name, member) in &self.members {
            let value = match member {
                Member::Literal(value) => value.clone(),
                Member::Path(path) => {
                    let document = match path.root() {
                        Root::Data => data,
                        Root::Context => context,
                    };
                    path.select(document).cloned().ok_or_else(|| MissingPath {
                        key: format!("{name}.$"),
                        path: path.as_str().to_owned(),
                    })?
                }
            };
            out.insert(name.clone(), value);
        }
        Ok(Value::Object(out))
    }
}

/// The first key ending in `.$` anywhere inside `value`.
fn dynamic_key(value: &Value) -> Option<&str> {
    match value {
        Value::Object(map) => map.iter().find_map(|(key, member)| {
            if key.ends_with(".$") {
                Some(key.as_str())
            } else {
                dynamic_key(member)
            }
        }),
        Value::Array(items) => items.iter().find_map(dynamic_key),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(text: &str) -> Path {
        Path::parse(text).expect("valid path")
    }

    fn compile(value: Value) -> Result<Template, PathError> {
        let Value::Object(object) = value else {
            panic!("a template is an object")
        };
        Template::compile(&object)
    }

    #[test]
    fn parses_the_subset() {
        assert_eq!(p("$"), Path::data_root());
        assert_eq!(p("$").root(), Root::Data);
        assert_eq!(p("$$.Execution.Id").root(), Root::Context);
        let data = json!({"a": {"b_2": {"C": 1}}});
        assert_eq!(p("$.a.b_2.C").select(&data), Some(&json!(1)));
    }

    #[test]
    fn rejects_everything_else_naming_it() {
        let cases = [
            ("$..a", "recursive descent"),
            ("$.a[0]", "bracket notation"),
            ("$['a']", "bracket notation"),
            ("$.a[?(@.b)]", "bracket notation"),
            ("$.a.*", "wildcard"),
            ("$.with-dash", "character `-`"),
            ("$.a b", "character ` `"),
        ];
        for (path, what) in cases {
            let err = Path::parse(path).expect_err(path).to_string();
            assert!(err.contains(what), "{path}: {err}");
        }
        assert_eq!(Path::parse("a.b"), Err(PathError::NoRoot("a.b".into())));
        for malformed in ["$.", "$a", "$.a.", "$$$"] {
            assert_eq!(
                Path::parse(malformed),
                Err(PathError::Malformed(malformed.into())),
                "{malformed}"
            );
        }
    }

    #[test]
    fn selects_values_and_reports_absence() {
        let data = json!({"a": {"b": [10], "c": null}});
        assert_eq!(p("$.a.c").select(&data), Some(&Value::Null));
        assert_eq!(p("$.a.b").select(&data), Some(&json!([10])));
        assert_eq!(p("$.a.z").select(&data), None);
        assert_eq!(p("$.a.b.c").select(&data), None);
        assert_eq!(p("$").select(&data), Some(&data));
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
        let template = compile(json!({
            "static": {"keep.me": [1, 2, {"deep": null}]},
            "name.$": "$.name",
            "id.$": "$$.Execution.Id",
            "whole.$": "$"
        }))
        .expect("compiles");
        let data = json!({"name": "x", "n": 4});
        let ctx = json!({"Execution": {"Id": "arn"}});
        assert_eq!(
            template.render(&data, &ctx),
            Ok(json!({
                "static": {"keep.me": [1, 2, {"deep": null}]},
                "name": "x",
                "id": "arn",
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
        // In the map's order, which depends on serde_json's features: compared sorted.
        let mut names: Vec<_> = template.paths().map(|(name, _)| name).collect();
        names.sort_unstable();
        assert_eq!(names, ["id", "name", "whole"]);
    }

    #[test]
    fn rejects_bad_templates() {
        assert_eq!(
            compile(json!({"a.$": 1})),
            Err(PathError::DynamicValueNotString("a.$".into()))
        );
        assert!(matches!(
            compile(json!({"a.$": "States.Format('{}', $.x)"})),
            Err(PathError::IntrinsicFunction { .. })
        ));
        assert_eq!(
            compile(json!({"a.$": "$.x", "a": 1})),
            Err(PathError::DuplicateField("a".into()))
        );
        assert!(matches!(
            compile(json!({"a.$": "$..x"})),
            Err(PathError::InTemplate { .. })
        ));
        assert_eq!(
            compile(json!({"Payload": [{"bucket.$": "$.bucket"}]})),
            Err(PathError::NestedDynamicField {
                key: "Payload".into(),
                nested: "bucket.$".into()
            })
        );
    }
}
