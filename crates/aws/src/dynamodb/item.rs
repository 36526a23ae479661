//! Reading and writing attribute values, and what goes wrong reading service data.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use thiserror::Error;

pub(crate) type Item = HashMap<String, AttributeValue>;

/// An item that does not have the shape this crate writes.
#[derive(Debug, Error)]
pub(crate) enum ItemError {
    #[error("attribute {0} is missing or not a {1}")]
    Attribute(&'static str, &'static str),
    #[error("attribute {0} is not a number: {1:?}")]
    Number(&'static str, String),
    #[error(transparent)]
    Serde(#[from] serde_dynamo::Error),
}

pub(crate) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(crate) fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub(crate) fn get_s<'a>(item: &'a Item, name: &'static str) -> Result<&'a str, ItemError> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Ok(v),
        _ => Err(ItemError::Attribute(name, "string")),
    }
}

/// A counter: absent is zero.
pub(crate) fn get_count(item: &Item, name: &'static str) -> Result<u64, ItemError> {
    match item.get(name) {
        None => Ok(0),
        Some(AttributeValue::N(v)) => v.parse().map_err(|_| ItemError::Number(name, v.clone())),
        Some(_) => Err(ItemError::Attribute(name, "number")),
    }
}

/// Drops top-level NULLs (serde_dynamo's `None`), so that "no value" is "no
/// attribute" and `attribute_not_exists` means what it says.
pub(crate) fn without_nulls(item: Item) -> Item {
    item.into_iter()
        .filter(|(_, v)| !matches!(v, AttributeValue::Null(_)))
        .collect()
}
