//! JSON Pointers (RFC 6901): parsing, escaping and get/set/remove on a `serde_json::Value`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// A parsed JSON Pointer. The empty pointer (`""`) addresses the whole document.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Pointer {
    tokens: Vec<String>,
}

impl Pointer {
    /// The pointer to the whole document.
    pub fn root() -> Self {
        Self::default()
    }

    /// Parses RFC 6901 syntax: `""` or `/token(/token)*`, with `~0` for `~` and `~1` for `/`.
    pub fn parse(text: &str) -> Result<Self> {
        if text.is_empty() {
            return Ok(Self::root());
        }
        let Some(rest) = text.strip_prefix('/') else {
            return Err(Error::invalid(format!(
                "JSON Pointer {text:?} must be empty or start with '/'"
            )));
        };
        let tokens = rest
            .split('/')
            .map(|raw| unescape(raw).ok_or_else(|| bad_escape(text)))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { tokens })
    }

    /// Builds a pointer from unescaped reference tokens.
    pub fn from_tokens<I, S>(tokens: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            tokens: tokens.into_iter().map(Into::into).collect(),
        }
    }

    pub fn tokens(&self) -> &[String] {
        &self.tokens
    }

    pub fn is_root(&self) -> bool {
        self.tokens.is_empty()
    }

    pub fn depth(&self) -> usize {
        self.tokens.len()
    }

    /// The pointer one level up, or `None` for the root.
    pub fn parent(&self) -> Option<Self> {
        let (_, head) = self.tokens.split_last()?;
        Some(Self {
            tokens: head.to_vec(),
        })
    }

    /// The pointer with `token` appended.
    pub fn child(&self, token: impl Into<String>) -> Self {
        let mut tokens = self.tokens.clone();
        tokens.push(token.into());
        Self { tokens }
    }

    /// The first `n` tokens as a pointer.
    pub fn prefix(&self, n: usize) -> Self {
        Self {
            tokens: self.tokens[..n.min(self.tokens.len())].to_vec(),
        }
    }

    /// True if `self` equals `other` or lies inside its subtree.
    pub fn starts_with(&self, other: &Pointer) -> bool {
        self.tokens.starts_with(&other.tokens)
    }

    /// The value this pointer addresses, if any.
    pub fn get<'v>(&self, doc: &'v Value) -> Option<&'v Value> {
        self.tokens
            .iter()
            .try_fold(doc, |node, token| step(node, token))
    }

    /// Places `value` at this pointer, creating missing object parents. Into an array, a token
    /// names an existing index or `-` (append). Fails if a parent is a scalar.
    pub fn set(&self, doc: &mut Value, value: Value) -> Result<()> {
        let Some((last, head)) = self.tokens.split_last() else {
            *doc = value;
            return Ok(());
        };
        let mut node = doc;
        for (depth, token) in head.iter().enumerate() {
            node = match node {
                Value::Object(map) => map
                    .entry(token.clone())
                    .or_insert_with(|| Value::Object(Map::new())),
                Value::Array(items) => {
                    let index = array_index(token, items.len(), false)
                        .ok_or_else(|| self.no_index(depth, token))?;
                    &mut items[index]
                }
                _ => return Err(self.not_container(depth)),
            };
        }
        match node {
            Value::Object(map) => {
                map.insert(last.clone(), value);
            }
            Value::Array(items) => {
                let index = array_index(last, items.len(), true)
                    .ok_or_else(|| self.no_index(head.len(), last))?;
                if index == items.len() {
                    items.push(value);
                } else {
                    items[index] = value;
                }
            }
            _ => return Err(self.not_container(head.len())),
        }
        Ok(())
    }

    /// Removes and returns the value at this pointer; `None` if there is none.
    /// Removing the root leaves an empty object.
    pub fn remove(&self, doc: &mut Value) -> Option<Value> {
        let Some((last, head)) = self.tokens.split_last() else {
            return Some(std::mem::replace(doc, Value::Object(Map::new())));
        };
        let parent = head
            .iter()
            .try_fold(doc, |node, token| step_mut(node, token))?;
        match parent {
            Value::Object(map) => map.remove(last),
            Value::Array(items) => {
                let index = array_index(last, items.len(), false)?;
                Some(items.remove(index))
            }
            _ => None,
        }
    }

    fn not_container(&self, depth: usize) -> Error {
        Error::invalid(format!(
            "cannot set {self}: {} holds a value that is neither an object nor an array",
            self.prefix(depth)
        ))
    }

    fn no_index(&self, depth: usize, token: &str) -> Error {
        Error::invalid(format!(
            "cannot set {self}: {:?} is not an index of the array at {}",
            token,
            self.prefix(depth)
        ))
    }
}

fn bad_escape(text: &str) -> Error {
    Error::invalid(format!(
        "JSON Pointer {text:?} has a '~' not followed by '0' or '1'"
    ))
}

fn unescape(raw: &str) -> Option<String> {
    if !raw.contains('~') {
        return Some(raw.to_owned());
    }
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c == '~' {
            match chars.next() {
                Some('0') => out.push('~'),
                Some('1') => out.push('/'),
                _ => return None,
            }
        } else {
            out.push(c);
        }
    }
    Some(out)
}

fn escape_into(token: &str, out: &mut String) {
    write_escaped(token, out).expect("writing to a String cannot fail");
}

/// Writes `token` with `~` as `~0` and `/` as `~1`, in runs between the characters to escape.
fn write_escaped(token: &str, out: &mut impl fmt::Write) -> fmt::Result {
    let mut rest = token;
    while let Some(at) = rest.find(['~', '/']) {
        out.write_str(&rest[..at])?;
        out.write_str(if rest.as_bytes()[at] == b'~' {
            "~0"
        } else {
            "~1"
        })?;
        rest = &rest[at + 1..];
    }
    out.write_str(rest)
}

/// RFC 6901 array indices: `0` or digits without a leading zero; `-` only when appending.
fn array_index(token: &str, len: usize, allow_append: bool) -> Option<usize> {
    if token == "-" {
        return allow_append.then_some(len);
    }
    if token.is_empty()
        || (token.len() > 1 && token.starts_with('0'))
        || !token.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let index: usize = token.parse().ok()?;
    let limit = if allow_append {
        len
    } else {
        len.saturating_sub(1)
    };
    (index <= limit && (allow_append || len > 0)).then_some(index)
}

fn step<'v>(node: &'v Value, token: &str) -> Option<&'v Value> {
    match node {
        Value::Object(map) => map.get(token),
        Value::Array(items) => items.get(array_index(token, items.len(), false)?),
        _ => None,
    }
}

fn step_mut<'v>(node: &'v mut Value, token: &str) -> Option<&'v mut Value> {
    match node {
        Value::Object(map) => map.get_mut(token),
        Value::Array(items) => {
            let index = array_index(token, items.len(), false)?;
            items.get_mut(index)
        }
        _ => None,
    }
}

impl fmt::Display for Pointer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for token in &self.tokens {
            f.write_str("/")?;
            write_escaped(token, f)?;
        }
        Ok(())
    }
}

impl fmt::Debug for Pointer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pointer({:?})", self.to_string())
    }
}

impl FromStr for Pointer {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

impl Serialize for Pointer {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        // One string, escaped by the serializer in one pass (faster than `collect_str`'s pieces).
        let len = self.tokens.iter().map(|t| t.len() + 1).sum();
        let mut text = String::with_capacity(len);
        for token in &self.tokens {
            text.push('/');
            escape_into(token, &mut text);
        }
        serializer.serialize_str(&text)
    }
}

impl<'de> Deserialize<'de> for Pointer {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Flattens a document into its leaves: every scalar, array and empty object with its pointer.
/// Arrays are leaves because their elements have no stable identity of their own.
/// Pointers as text, one after another with `separator` between (`/a, /b`).
pub fn join(pointers: &[Pointer], separator: &str) -> String {
    pointers
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(separator)
}

pub fn leaves(base: &Pointer, value: &Value, out: &mut Vec<(Pointer, Value)>) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (key, child) in map {
                leaves(&base.child(key.clone()), child, out);
            }
        }
        other => out.push((base.clone(), other.clone())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn rfc6901_examples_resolve() {
        let doc = json!({
            "foo": ["bar", "baz"], "": 0, "a/b": 1, "c%d": 2, "e^f": 3,
            "g|h": 4, "i\\j": 5, "k\"l": 6, " ": 7, "m~n": 8
        });
        let cases = [
            ("", doc.clone()),
            ("/foo", json!(["bar", "baz"])),
            ("/foo/0", json!("bar")),
            ("/", json!(0)),
            ("/a~1b", json!(1)),
            ("/c%d", json!(2)),
            ("/e^f", json!(3)),
            ("/g|h", json!(4)),
            ("/i\\j", json!(5)),
            ("/k\"l", json!(6)),
            ("/ ", json!(7)),
            ("/m~0n", json!(8)),
        ];
        for (text, expected) in cases {
            let pointer = Pointer::parse(text).unwrap();
            assert_eq!(pointer.get(&doc), Some(&expected), "pointer {text:?}");
            assert_eq!(pointer.to_string(), text);
        }
    }

    #[test]
    fn escapes_decode_in_order() {
        // "~01" is "~1" literally, not "/": ~0 is decoded after ~1 per RFC 6901 §4.
        let pointer = Pointer::parse("/~01").unwrap();
        assert_eq!(pointer.tokens(), ["~1"]);
    }

    #[test]
    fn malformed_pointers_are_refused() {
        for text in ["foo", "/~", "/a~2", "/~a", "#/foo"] {
            assert!(Pointer::parse(text).is_err(), "{text:?} should fail");
        }
    }

    #[test]
    fn array_indices_follow_the_rfc() {
        let doc = json!({"a": [10, 20]});
        assert_eq!(Pointer::parse("/a/1").unwrap().get(&doc), Some(&json!(20)));
        assert_eq!(Pointer::parse("/a/01").unwrap().get(&doc), None);
        assert_eq!(Pointer::parse("/a/2").unwrap().get(&doc), None);
        assert_eq!(Pointer::parse("/a/-").unwrap().get(&doc), None);
        assert_eq!(Pointer::parse("/a/x").unwrap().get(&doc), None);
    }

    #[test]
    fn set_creates_missing_object_parents() {
        let mut doc = json!({});
        Pointer::parse("/profile/address/locality")
            .unwrap()
            .set(&mut doc, json!("Utrecht"))
            .unwrap();
        assert_eq!(
            doc,
            json!({"profile": {"address": {"locality": "Utrecht"}}})
        );
    }

    #[test]
    fn set_appends_and_replaces_in_arrays() {
        let mut doc = json!({"t": ["a"]});
        Pointer::parse("/t/-")
            .unwrap()
            .set(&mut doc, json!("b"))
            .unwrap();
        Pointer::parse("/t/0")
            .unwrap()
            .set(&mut doc, json!("z"))
            .unwrap();
        assert_eq!(doc, json!({"t": ["z", "b"]}));
        let err = Pointer::parse("/t/5").unwrap().set(&mut doc, json!(1));
        assert!(err.is_err());
        assert_eq!(doc, json!({"t": ["z", "b"]}), "failed set changed nothing");
    }

    #[test]
    fn set_under_a_scalar_is_an_error() {
        let mut doc = json!({"name": "Anna"});
        let err = Pointer::parse("/name/first")
            .unwrap()
            .set(&mut doc, json!("x"))
            .unwrap_err();
        assert!(err.to_string().contains("/name"), "{err}");
        assert_eq!(doc, json!({"name": "Anna"}));
    }

    #[test]
    fn remove_returns_the_old_value() {
        let mut doc = json!({"a": {"b": 1, "c": [1, 2]}});
        let p = Pointer::parse("/a/c/0").unwrap();
        assert_eq!(p.remove(&mut doc), Some(json!(1)));
        assert_eq!(
            Pointer::parse("/a/b").unwrap().remove(&mut doc),
            Some(json!(1))
        );
        assert_eq!(Pointer::parse("/a/zz").unwrap().remove(&mut doc), None);
        assert_eq!(Pointer::parse("/x/y").unwrap().remove(&mut doc), None);
        assert_eq!(doc, json!({"a": {"c": [2]}}));
    }

    #[test]
    fn starts_with_is_token_wise() {
        let a = Pointer::parse("/profile/address").unwrap();
        assert!(
            Pointer::parse("/profile/address/locality")
                .unwrap()
                .starts_with(&a)
        );
        assert!(
            !Pointer::parse("/profile/addressbook")
                .unwrap()
                .starts_with(&a)
        );
    }

    #[test]
    fn leaves_flatten_objects_only() {
        let mut out = Vec::new();
        leaves(
            &Pointer::root(),
            &json!({"a": {"b": 1, "c": [1, {"d": 2}]}, "e": {}}),
            &mut out,
        );
        let names: Vec<String> = out.iter().map(|(p, _)| p.to_string()).collect();
        assert_eq!(names, ["/a/b", "/a/c", "/e"]);
    }

    proptest! {
        #[test]
        fn display_then_parse_round_trips(tokens in proptest::collection::vec(".*", 0..6)) {
            let pointer = Pointer::from_tokens(tokens.clone());
            let parsed = Pointer::parse(&pointer.to_string()).unwrap();
            prop_assert_eq!(parsed.tokens(), &tokens[..]);
        }

        #[test]
        fn whatever_parses_displays_as_it_was_written(text in "(/([a-z]|~[0-2])*){0,4}|[a-z/~]*") {
            if let Ok(pointer) = Pointer::parse(&text) {
                prop_assert_eq!(pointer.to_string(), text);
            }
        }

        #[test]
        fn set_then_get_returns_the_value(
            tokens in proptest::collection::vec("[a-z~/]{1,4}", 1..5),
            value in any::<i64>(),
        ) {
            let pointer = Pointer::from_tokens(tokens);
            let mut doc = json!({});
            pointer.set(&mut doc, json!(value)).unwrap();
            prop_assert_eq!(pointer.get(&doc), Some(&json!(value)));
        }
    }
}
