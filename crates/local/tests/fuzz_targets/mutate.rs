//! Mutations of bytes and of JSON documents, and the strings they draw on.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::Rng;

/// Fragments on the edges of the parsers: encodings, quoting, line ends, paths,
/// substitutions, timestamps, characters of several widths.
const FRAGMENTS: &[&str] = &[
    "",
    " ",
    "%",
    "%2",
    "%ZZ",
    "%FF",
    "%C3",
    "%C3%A9",
    "%00",
    "%2B",
    "%20",
    "+",
    "\"",
    "\"\"",
    ",",
    "\r\n",
    "\n",
    "\r",
    "\u{feff}",
    "\0",
    "\t",
    "\\",
    "${",
    "${X}",
    "}",
    "$",
    "$$",
    ".$",
    "$.a",
    "$..a",
    "$['a']",
    "$.a[0]",
    "$.*",
    "$.",
    "$$.Execution.Id",
    "States.ALL",
    "States.Format('{}', $.a)",
    "2016-08-18T17:33:00Z",
    "2016-08-18T17:33:00.5+02:00",
    "9999-12-31T23:59:59.999999999Z",
    "2016-08-18T17:33:00.+02:00",
    "2016-08-18T17:33:00+99:99",
    "é",
    "✓",
    "😀",
    "\u{2028}",
    "\u{0301}",
    "null",
    "true",
    "-1",
    "0",
    "1e309",
    "{}",
    "[]",
];

/// Bytes worth writing over others: separators, quotes, line ends, and bytes that start
/// or break UTF-8 sequences.
const SPECIAL_BYTES: &[u8] = b"\0\r\n\",%+ \\{}[]:$.\xef\xbb\xbf\xff\xfe\xc3\x80\x7f";

/// Lengths around the bounds the parsers check (bucket names, client tokens, tag values,
/// keys).
const BOUND_LENGTHS: &[usize] = &[2, 3, 63, 64, 65, 256, 257, 1024, 1025];

/// The strings mutations draw on: every key and string value of a target's seeds, and
/// names the seeds lack.
pub struct Dictionary {
    strings: Vec<String>,
}

impl Dictionary {
    pub fn from_seeds(seeds: &[Value], extra: &[&str]) -> Self {
        fn collect(value: &Value, into: &mut BTreeSet<String>) {
            match value {
                Value::String(s) => {
                    into.insert(s.clone());
                }
                Value::Array(items) => items.iter().for_each(|v| collect(v, into)),
                Value::Object(map) => {
                    for (key, member) in map {
                        into.insert(key.clone());
                        collect(member, into);
                    }
                }
                _ => {}
            }
        }
        let mut strings = BTreeSet::new();
        seeds.iter().for_each(|seed| collect(seed, &mut strings));
        strings.extend(extra.iter().map(|s| (*s).to_owned()));
        Self {
            strings: strings.into_iter().collect(),
        }
    }

    fn word<'a>(&'a self, rng: &mut Rng) -> &'a str {
        if self.strings.is_empty() || rng.one_in(3) {
            rng.pick::<&str>(FRAGMENTS)
        } else {
            rng.pick(&self.strings).as_str()
        }
    }
}

/// One to four changes to `bytes`.
pub fn mutate_bytes(rng: &mut Rng, bytes: &mut Vec<u8>, dictionary: &Dictionary) {
    for _ in 0..=rng.below(4) {
        let at = rng.up_to(bytes.len());
        let run = (at..bytes.len()).len().min(1 + rng.below(16));
        match rng.below(8) {
            0 if at < bytes.len() => bytes[at] ^= 1 << rng.below(8),
            1 if at < bytes.len() => bytes[at] = *rng.pick(SPECIAL_BYTES),
            2 => {
                bytes.drain(at..at + run);
            }
            3 => {
                let random: Vec<u8> = (0..1 + rng.below(8)).map(|_| rng.byte()).collect();
                bytes.splice(at..at, random);
            }
            4 => {
                let copy = bytes[at..at + run].to_vec();
                let to = rng.up_to(bytes.len());
                bytes.splice(to..to, copy);
            }
            5 => bytes.truncate(at),
            _ => {
                let word = dictionary.word(rng).as_bytes().to_vec();
                let replaced = if rng.one_in(2) { run } else { 0 };
                bytes.splice(at..at + replaced, word);
            }
        }
    }
}

/// A copy of one of `seeds` with up to four changes, as JSON text; now and then with
/// changes to the text as well.
pub fn json_text(rng: &mut Rng, seeds: &[Value], dictionary: &Dictionary) -> String {
    let mut value = rng.pick(seeds).clone();
    for _ in 0..rng.below(5) {
        mutate_json(rng, &mut value, seeds, dictionary);
    }
    let text = if rng.one_in(4) {
        serde_json::to_string_pretty(&value)
    } else {
        serde_json::to_string(&value)
    }
    .expect("a JSON value serialises");
    if rng.one_in(6) {
        let mut bytes = text.into_bytes();
        mutate_bytes(rng, &mut bytes, dictionary);
        String::from_utf8_lossy(&bytes).into_owned()
    } else {
        text
    }
}

/// One change to `value`: to a node of any kind, or (as often) to an object's members,
/// since leaves far outnumber objects.
pub fn mutate_json(rng: &mut Rng, value: &mut Value, donors: &[Value], dictionary: &Dictionary) {
    let objects = count(value, &Value::is_object);
    if objects > 0 && rng.one_in(2) {
        let Some(Value::Object(map)) = nth(value, &Value::is_object, rng.below(objects)) else {
            unreachable!("the n-th object of a document with more")
        };
        mutate_object(rng, map, donors, dictionary);
        return;
    }
    let any = |_: &Value| true;
    let nodes = count(value, &any);
    let node = nth(value, &any, rng.below(nodes)).expect("the n-th node of a document with more");
    match rng.below(10) {
        0 => *node = random_value(rng, dictionary),
        1 => *node = donor_node(rng, donors),
        2 => {
            let inner = node.take();
            *node = if rng.one_in(2) {
                Value::Array(vec![inner])
            } else {
                Value::Object(Map::from_iter([(dictionary.word(rng).to_owned(), inner)]))
            };
        }
        _ => match node {
            Value::String(s) => mutate_string(rng, s, donors, dictionary),
            Value::Array(items) => mutate_array(rng, items, donors, dictionary),
            Value::Bool(b) => *b = !*b,
            Value::Number(_) | Value::Null | Value::Object(_) => {
                *node = random_value(rng, dictionary)
            }
        },
    }
}

fn mutate_object(
    rng: &mut Rng,
    map: &mut Map<String, Value>,
    donors: &[Value],
    dictionary: &Dictionary,
) {
    let keys: Vec<String> = map.keys().cloned().collect();
    match rng.below(5) {
        0 | 1 if !keys.is_empty() => {
            map.remove(rng.pick(&keys));
        }
        2 if !keys.is_empty() => {
            // Renamed: to another word, or to a near miss of itself.
            let key = rng.pick(&keys).clone();
            let member = map.remove(&key).expect("a key of the map");
            let mut renamed = key;
            if rng.one_in(2) {
                renamed = dictionary.word(rng).to_owned();
            } else {
                mutate_string(rng, &mut renamed, donors, dictionary);
            }
            map.insert(renamed, member);
        }
        3 if !keys.is_empty() => {
            // A member's value under another key (a `Next` naming another state...).
            let member = map[rng.pick(&keys)].clone();
            map.insert(rng.pick(&keys).clone(), member);
        }
        _ => {
            let member = if rng.one_in(2) {
                random_value(rng, dictionary)
            } else {
                donor_node(rng, donors)
            };
            map.insert(dictionary.word(rng).to_owned(), member);
        }
    }
}

fn mutate_array(rng: &mut Rng, items: &mut Vec<Value>, donors: &[Value], dictionary: &Dictionary) {
    match rng.below(4) {
        0 if !items.is_empty() => {
            items.remove(rng.below(items.len()));
        }
        1 if !items.is_empty() => {
            let copy = rng.pick(items).clone();
            items.insert(rng.up_to(items.len()), copy);
        }
        2 => items.clear(),
        _ => {
            let member = if rng.one_in(2) {
                random_value(rng, dictionary)
            } else {
                donor_node(rng, donors)
            };
            items.insert(rng.up_to(items.len()), member);
        }
    }
}

/// One change to a string: another word, an inserted fragment, changed bytes, its parts
/// reordered, a length at a bound, a change of case; and a string that holds JSON (an
/// SNS envelope's `Message`) is changed as JSON.
pub fn mutate_string(rng: &mut Rng, s: &mut String, donors: &[Value], dictionary: &Dictionary) {
    if rng.one_in(2) {
        if let Ok(mut inner @ (Value::Object(_) | Value::Array(_))) =
            serde_json::from_str::<Value>(s)
        {
            mutate_json(rng, &mut inner, donors, dictionary);
            *s = inner.to_string();
            return;
        }
    }
    match rng.below(8) {
        0 => *s = dictionary.word(rng).to_owned(),
        1 => {
            let at = char_boundary(rng, s);
            s.insert_str(at, dictionary.word(rng));
        }
        2 => {
            let mut bytes = std::mem::take(s).into_bytes();
            mutate_bytes(rng, &mut bytes, dictionary);
            *s = String::from_utf8_lossy(&bytes).into_owned();
        }
        3 => *s = reorder_parts(rng, s),
        4 => {
            let fill = if rng.one_in(2) { 'a' } else { 'é' };
            let len = *rng.pick(BOUND_LENGTHS);
            let kept: String = s.chars().take(len).collect();
            let missing = len.saturating_sub(kept.chars().count());
            *s = kept + &fill.to_string().repeat(missing);
        }
        5 => {
            *s = if rng.one_in(2) {
                s.to_uppercase()
            } else {
                s.to_lowercase()
            }
        }
        6 => {
            let at = char_boundary(rng, s);
            s.truncate(at);
        }
        _ => *s = random_string(rng, dictionary),
    }
}

/// A string of words and random characters of every width.
pub fn random_string(rng: &mut Rng, dictionary: &Dictionary) -> String {
    (0..rng.below(6))
        .map(|_| match rng.below(3) {
            0 => dictionary.word(rng).to_owned(),
            1 => char::from_u32(rng.below(0x11_0000) as u32)
                .unwrap_or('\u{fffd}')
                .to_string(),
            _ => char::from(b' ' + rng.below(95) as u8).to_string(),
        })
        .collect()
}

/// The parts of `s` between one of its separators, dropped, repeated or swapped: a
/// report schema with a column missing or twice, a path with a step more.
fn reorder_parts(rng: &mut Rng, s: &str) -> String {
    let separators: Vec<char> = [',', '.', ':', '/', ' ', '$', '+', '%']
        .into_iter()
        .filter(|c| s.contains(*c))
        .collect();
    if separators.is_empty() {
        return s.repeat(2);
    }
    let separator = *rng.pick(&separators);
    let mut parts: Vec<&str> = s.split(separator).collect();
    let i = rng.below(parts.len());
    match rng.below(3) {
        0 => {
            parts.remove(i);
        }
        1 => parts.insert(rng.up_to(parts.len()), parts[i]),
        _ => {
            let j = rng.below(parts.len());
            parts.swap(i, j);
        }
    }
    parts.join(&separator.to_string())
}

fn char_boundary(rng: &mut Rng, s: &str) -> usize {
    let boundaries: Vec<usize> = s.char_indices().map(|(i, _)| i).chain([s.len()]).collect();
    *rng.pick(&boundaries)
}

pub fn random_value(rng: &mut Rng, dictionary: &Dictionary) -> Value {
    match rng.below(10) {
        0 => Value::Null,
        1 => Value::Bool(rng.one_in(2)),
        2 => {
            Value::from(*rng.pick(&[0, 1, 2, 3, 50, 51, 255, 256, 336, 337, 365, 366, 1024]) as u64)
        }
        3 => match rng.below(5) {
            0 => Value::from(-1 - rng.below(1000) as i64),
            1 => Value::from(*rng.pick(&[u64::MAX, 1 << 32, (1 << 53) + 1, i64::MAX as u64])),
            2 => Value::from(*rng.pick(&[i64::MIN, -(1 << 31)])),
            _ => Value::from(*rng.pick(&[0.5, 1.0, 1.5, -0.0, 1e300, -1e300, 1e-300, 2.5e9])),
        },
        4..=6 => Value::String(dictionary.word(rng).to_owned()),
        7 => Value::String(random_string(rng, dictionary)),
        8 => Value::Array(
            (0..rng.below(3))
                .map(|_| random_value(rng, dictionary))
                .collect(),
        ),
        _ => Value::Object(
            (0..rng.below(3))
                .map(|_| {
                    (
                        dictionary.word(rng).to_owned(),
                        Value::String(dictionary.word(rng).to_owned()),
                    )
                })
                .collect(),
        ),
    }
}

/// A node of one of `donors`: a subtree moved from elsewhere (a state, a record).
fn donor_node(rng: &mut Rng, donors: &[Value]) -> Value {
    let donor = rng.pick(donors);
    let any = |_: &Value| true;
    let mut n = rng.below(count(donor, &any));
    find_nth(donor, &any, &mut n)
        .expect("the n-th node of a document with more")
        .clone()
}

fn count(value: &Value, matches: &dyn Fn(&Value) -> bool) -> usize {
    usize::from(matches(value))
        + match value {
            Value::Array(items) => items.iter().map(|v| count(v, matches)).sum(),
            Value::Object(map) => map.values().map(|v| count(v, matches)).sum(),
            _ => 0,
        }
}

/// The `n`-th node matching, in document order.
fn nth<'a>(
    value: &'a mut Value,
    matches: &dyn Fn(&Value) -> bool,
    n: usize,
) -> Option<&'a mut Value> {
    fn walk<'a>(
        value: &'a mut Value,
        matches: &dyn Fn(&Value) -> bool,
        n: &mut usize,
    ) -> Option<&'a mut Value> {
        if matches(value) {
            if *n == 0 {
                return Some(value);
            }
            *n -= 1;
        }
        match value {
            Value::Array(items) => items.iter_mut().find_map(|v| walk(v, matches, n)),
            Value::Object(map) => map.values_mut().find_map(|v| walk(v, matches, n)),
            _ => None,
        }
    }
    let mut n = n;
    walk(value, matches, &mut n)
}

fn find_nth<'a>(
    value: &'a Value,
    matches: &dyn Fn(&Value) -> bool,
    n: &mut usize,
) -> Option<&'a Value> {
    if matches(value) {
        if *n == 0 {
            return Some(value);
        }
        *n -= 1;
    }
    match value {
        Value::Array(items) => items.iter().find_map(|v| find_nth(v, matches, n)),
        Value::Object(map) => map.values().find_map(|v| find_nth(v, matches, n)),
        _ => None,
    }
}
