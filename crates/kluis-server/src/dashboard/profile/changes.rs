//! From a posted profile form to the vault's writes. Each control is named by the pointer it
//! edits; what it means is read from the document's rules ([`document::profile_fields`]), every
//! value is checked with [`document::validate_at`] (so the messages are the `kluis set` ones),
//! and only what differs from the stored document is written.
//!
//! A control absent from the post leaves its field as it is; a text control posted empty
//! removes its field. Checkboxes come with a hidden empty twin of the same name, so a post
//! tells "on the form, not ticked" from "not on the form".

use std::collections::{BTreeMap, BTreeSet};

use kluis_core::Pointer;
use kluis_core::document::{
    self, ADDRESS_FIELDS, Field, FieldKind, preference_fields, profile_fields,
};
use serde_json::{Map, Value};

use crate::dashboard::form::Form;

/// The checkboxes that remove an address of `/profile/addresses`; their value is its index.
pub const REMOVE_ADDRESS: &str = "remove_address";

/// What saving the form writes: only fields that change.
#[derive(Debug, Default, PartialEq)]
pub struct Changes {
    pub sets: Vec<(Pointer, Value)>,
    pub unsets: Vec<Pointer>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.sets.is_empty() && self.unsets.is_empty()
    }
}

/// A submitted value the rules refuse: the control's name and the rule's message.
pub type Problem = (String, String);

/// Every field of `/profile` and `/preferences`, in the order of the rules.
pub fn all_fields() -> Vec<Field> {
    let mut fields = profile_fields();
    fields.extend(preference_fields());
    fields
}

/// The changes `form` asks of `doc`, or every value it holds that the rules refuse.
pub fn changes(doc: &Value, form: &Form) -> Result<Changes, Vec<Problem>> {
    let mut out = Changes::default();
    let mut problems = Vec::new();
    for field in all_fields() {
        match field.kind {
            FieldKind::Address => {
                for part in ADDRESS_FIELDS {
                    let at = field.pointer.child(part);
                    let wanted = posted(FieldKind::Text, &at, form, doc);
                    apply(&at, FieldKind::Text, wanted, doc, &mut out, &mut problems);
                }
            }
            FieldKind::AddressList => {
                let wanted = posted_addresses(&field.pointer, form, doc, &mut problems);
                apply(
                    &field.pointer,
                    field.kind,
                    wanted,
                    doc,
                    &mut out,
                    &mut problems,
                );
            }
            kind => {
                let wanted = posted(kind, &field.pointer, form, doc);
                apply(&field.pointer, kind, wanted, doc, &mut out, &mut problems);
            }
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

/// Checks what the form wants at `at` and, if it differs from what is stored, notes the write.
/// `wanted`: `None` when the control is not on the form, `Some(None)` to remove the field.
fn apply(
    at: &Pointer,
    kind: FieldKind,
    wanted: Option<Option<Value>>,
    doc: &Value,
    out: &mut Changes,
    problems: &mut Vec<Problem>,
) {
    let Some(wanted) = wanted else { return };
    let stored = at.get(doc);
    match wanted {
        Some(value) => {
            if let Err(e) = document::validate_at(at, &value) {
                problems.push((at.to_string(), e.to_string()));
            } else if !stored.is_some_and(|s| same(kind, s, &value)) {
                out.sets.push((at.clone(), value));
            }
        }
        None if stored.is_some() => out.unsets.push(at.clone()),
        None => {}
    }
}

/// Whether a stored value already says what the form says: channels are a set, so ticking
/// the same ones in another order changes nothing.
fn same(kind: FieldKind, stored: &Value, wanted: &Value) -> bool {
    match (kind, stored, wanted) {
        (FieldKind::ManyOf(_), Value::Array(a), Value::Array(b)) => {
            let set = |items: &[Value]| items.iter().map(Value::to_string).collect::<BTreeSet<_>>();
            set(a) == set(b)
        }
        _ => stored == wanted,
    }
}

/// The value one control asks for at `at`, as the CLI would read it for that kind.
fn posted(kind: FieldKind, at: &Pointer, form: &Form, doc: &Value) -> Option<Option<Value>> {
    let name = at.to_string();
    let text = form.one(&name).map(str::trim);
    let value = match kind {
        FieldKind::Bool => {
            let values = form.all(&name);
            if values.is_empty() {
                return None;
            }
            let ticked = values.contains(&"true");
            // Unticked means false only where it was true: a field never set stays unset.
            match (ticked, at.get(doc)) {
                (true, _) => Some(Value::Bool(true)),
                (false, Some(Value::Bool(true))) => Some(Value::Bool(false)),
                (false, stored) => stored.cloned(),
            }
        }
        FieldKind::ManyOf(options) => {
            let values = form.all(&name);
            if values.is_empty() {
                return None;
            }
            // In the rules' order; anything else posted stays, for the rules to refuse.
            let mut items: Vec<&str> = options
                .iter()
                .copied()
                .filter(|o| values.contains(o))
                .collect();
            for v in values {
                if !v.is_empty() && !items.contains(&v) {
                    items.push(v);
                }
            }
            (!items.is_empty()).then(|| items.into_iter().map(Value::from).collect())
        }
        FieldKind::TextList => {
            let lines: Vec<Value> = text?
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(Value::from)
                .collect();
            (!lines.is_empty()).then_some(Value::Array(lines))
        }
        // A number as `kluis set` reads one; anything else as text, which the rule refuses
        // with the same words.
        FieldKind::Timestamp => {
            let t = text?;
            (!t.is_empty()).then(|| {
                serde_json::from_str::<Value>(t)
                    .ok()
                    .filter(Value::is_number)
                    .unwrap_or_else(|| Value::from(t))
            })
        }
        _ => {
            let t = text?;
            (!t.is_empty()).then(|| Value::from(t))
        }
    };
    Some(value)
}

/// The list of addresses the form asks for: the stored ones with their posted fields, less the
/// ones ticked for removal, plus new ones typed in; an address left with no field is dropped.
fn posted_addresses(
    list_at: &Pointer,
    form: &Form,
    doc: &Value,
    problems: &mut Vec<Problem>,
) -> Option<Option<Value>> {
    let typed = typed_addresses(list_at, form);
    let removed = removed_addresses(form);
    if typed.is_empty() && removed.is_empty() {
        return None;
    }
    let stored: &[Value] = list_at
        .get(doc)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice);
    let indices: BTreeSet<usize> = (0..stored.len()).chain(typed.keys().copied()).collect();
    let mut list = Vec::new();
    for i in indices.into_iter().filter(|i| !removed.contains(i)) {
        let mut address = stored
            .get(i)
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        for (part, text) in typed.get(&i).into_iter().flatten() {
            let text = text.trim();
            if text.is_empty() {
                address.remove(*part);
                continue;
            }
            let at = list_at.child(i.to_string()).child(*part);
            let value = Value::from(text);
            match document::validate_at(&at, &value) {
                Ok(()) => {
                    address.insert((*part).to_owned(), value);
                }
                Err(e) => problems.push((at.to_string(), e.to_string())),
            }
        }
        if !address.is_empty() {
            list.push(Value::Object(address));
        }
    }
    Some((!list.is_empty()).then_some(Value::Array(list)))
}

/// Posted address fields by index: `/profile/addresses/1/locality` is field `locality` of 1.
pub fn typed_addresses<'f>(
    list_at: &Pointer,
    form: &'f Form,
) -> BTreeMap<usize, Vec<(&'static str, &'f str)>> {
    let prefix = format!("{list_at}/");
    let mut out: BTreeMap<usize, Vec<(&'static str, &'f str)>> = BTreeMap::new();
    for (name, value) in form.pairs() {
        let Some((index, part)) = name
            .strip_prefix(&prefix)
            .and_then(|rest| rest.split_once('/'))
        else {
            continue;
        };
        if let (Some(i), Some(part)) = (index_of(index), known_part(part)) {
            out.entry(i).or_default().push((part, value));
        }
    }
    out
}

/// The indices ticked for removal.
pub fn removed_addresses(form: &Form) -> BTreeSet<usize> {
    form.all(REMOVE_ADDRESS)
        .into_iter()
        .filter_map(index_of)
        .collect()
}

/// A list index as pointers write it (digits, no leading zero).
fn index_of(text: &str) -> Option<usize> {
    text.parse::<usize>().ok().filter(|i| i.to_string() == text)
}

fn known_part(part: &str) -> Option<&'static str> {
    ADDRESS_FIELDS.iter().copied().find(|p| *p == part)
}

/// An address field's stored text, for the form.
pub fn part_text(address: Option<&Map<String, Value>>, part: &str) -> String {
    match address.and_then(|a| a.get(part)) {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn form(pairs: &[(&str, &str)]) -> Form {
        let body: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        Form::parse(body.as_bytes())
    }

    fn p(text: &str) -> Pointer {
        Pointer::parse(text).unwrap()
    }

    #[test]
    fn only_what_differs_is_written_and_emptied_fields_go() {
        let doc = document::sample();
        let got = changes(
            &doc,
            &form(&[
                ("/profile/name", "Anna de Vries"),
                ("/profile/given_name", "  Ann "),
                ("/profile/birthdate", ""),
                ("/profile/nickname", ""),
                ("/preferences/channels", ""),
                ("/preferences/channels", "post"),
                ("/preferences/channels", "email"),
                ("/preferences/anonymous", ""),
                ("/profile/email_verified", ""),
            ]),
        )
        .unwrap();
        assert_eq!(
            got,
            Changes {
                sets: vec![
                    (p("/profile/given_name"), json!("Ann")),
                    (p("/profile/email_verified"), json!(false)),
                ],
                unsets: vec![p("/profile/birthdate")],
            }
        );
    }

    #[test]
    fn every_refused_value_is_reported_with_the_rules_words() {
        let doc = document::sample();
        let problems = changes(
            &doc,
            &form(&[
                ("/profile/name", "Someone"),
                ("/profile/email", "nope"),
                ("/profile/updated_at", "soon"),
                ("/preferences/frequency", "hourly"),
            ]),
        )
        .unwrap_err();
        let names: Vec<&str> = problems.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "/profile/email",
                "/profile/updated_at",
                "/preferences/frequency"
            ]
        );
        let cli = document::validate_at(&p("/profile/email"), &json!("nope"))
            .unwrap_err()
            .to_string();
        assert_eq!(problems[0].1, cli);
    }

    #[test]
    fn addresses_are_added_edited_and_removed() {
        let mut doc = document::sample();
        doc["profile"]["addresses"] = json!([
            {"label": "work", "locality": "Utrecht"},
            {"label": "cottage", "locality": "Texel"}
        ]);
        let got = changes(
            &doc,
            &form(&[
                ("/profile/addresses/0/locality", "Delft"),
                ("/profile/addresses/0/label", "work"),
                (REMOVE_ADDRESS, "1"),
                ("/profile/addresses/1/locality", "Texel"),
                ("/profile/addresses/2/locality", "Leiden"),
                ("/profile/addresses/2/country", "NL"),
            ]),
        )
        .unwrap();
        assert_eq!(
            got.sets,
            [(
                p("/profile/addresses"),
                json!([
                    {"label": "work", "locality": "Delft"},
                    {"locality": "Leiden", "country": "NL"}
                ])
            )]
        );
        // An empty new block adds nothing; removing the last address removes the list.
        let doc2 = {
            let mut d = doc.clone();
            d["profile"]["addresses"] = json!([{"locality": "Utrecht"}]);
            d
        };
        let got = changes(
            &doc2,
            &form(&[(REMOVE_ADDRESS, "0"), ("/profile/addresses/1/locality", "")]),
        )
        .unwrap();
        assert_eq!(got.unsets, [p("/profile/addresses")]);
        assert!(got.sets.is_empty());
    }

    #[test]
    fn controls_not_on_the_form_change_nothing() {
        let doc = document::sample();
        assert!(changes(&doc, &form(&[])).unwrap().is_empty());
        assert!(
            changes(&doc, &form(&[("/profile/addresses/01/locality", "X")]))
                .unwrap()
                .is_empty()
        );
    }
}
