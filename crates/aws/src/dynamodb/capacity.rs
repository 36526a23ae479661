//! Write capacity by DynamoDB's sizing rules, computed from the items we write.
//!
//! Local servers report consumed capacity wrongly (moto reports none for a
//! transaction), so the store counts it itself: an item's size is the sum, over its
//! attributes, of the name's UTF-8 length and the value's size; a write costs one unit
//! per started KB of the item (the larger of its before and after images), twice that
//! inside a transaction. Global secondary index writes are not included.

use aws_sdk_dynamodb::types::AttributeValue;

use super::item::Item;

/// Bytes DynamoDB counts for one attribute value.
pub fn value_size(value: &AttributeValue) -> usize {
    match value {
        AttributeValue::S(s) => s.len(),
        AttributeValue::N(n) => number_size(n),
        AttributeValue::B(b) => b.as_ref().len(),
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::Ss(v) => v.iter().map(String::len).sum(),
        AttributeValue::Ns(v) => v.iter().map(|n| number_size(n)).sum(),
        AttributeValue::Bs(v) => v.iter().map(|b| b.as_ref().len()).sum(),
        // Lists and maps: 3 bytes, plus 1 byte per element, plus the elements.
        AttributeValue::L(v) => 3 + v.iter().map(|e| 1 + value_size(e)).sum::<usize>(),
        AttributeValue::M(m) => {
            3 + m
                .iter()
                .map(|(k, e)| 1 + k.len() + value_size(e))
                .sum::<usize>()
        }
        // An attribute type this SDK does not know: count its debug form, an over-estimate.
        _ => format!("{value:?}").len(),
    }
}

/// A number takes one byte per two significant digits, plus one.
pub fn number_size(n: &str) -> usize {
    let mantissa = n.split(['e', 'E']).next().unwrap_or_default();
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let significant = digits
        .trim_start_matches('0')
        .trim_end_matches('0')
        .len()
        .max(1);
    significant.div_ceil(2) + 1
}

/// Bytes DynamoDB counts for an item.
pub fn item_size(item: &Item) -> usize {
    item.iter()
        .map(|(name, value)| name.len() + value_size(value))
        .sum()
}

/// Write units for writing an item of `size` bytes.
pub fn write_units(size: usize, transactional: bool) -> f64 {
    let units = size.div_ceil(1024).max(1) as f64;
    if transactional { 2.0 * units } else { units }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_count_significant_digits() {
        assert_eq!(number_size("0"), 2);
        assert_eq!(number_size("7"), 2);
        assert_eq!(number_size("1700000000"), 2);
        assert_eq!(number_size("1712345678"), 6);
        assert_eq!(number_size("-12.5"), 3);
    }

    #[test]
    fn items_sum_names_and_values() {
        let item: Item = [
            ("pk".to_owned(), AttributeValue::S("abc".into())),
            ("n".to_owned(), AttributeValue::N("12".into())),
            (
                "m".to_owned(),
                AttributeValue::M([("a".to_owned(), AttributeValue::Bool(true))].into()),
            ),
        ]
        .into();
        // pk: 2 + 3; n: 1 + 2; m: 1 + 3 + (1 + 1 + 1)
        assert_eq!(item_size(&item), 5 + 3 + 7);
    }

    #[test]
    fn units_round_up_per_kb_and_double_in_transactions() {
        assert_eq!(write_units(1, false), 1.0);
        assert_eq!(write_units(1024, false), 1.0);
        assert_eq!(write_units(1025, false), 2.0);
        assert_eq!(write_units(1025, true), 4.0);
        assert_eq!(write_units(0, true), 2.0);
    }
}
