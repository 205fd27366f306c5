//! The profile form's controls, built from the document's rules: one control per field of
//! `/profile` and `/preferences`, grouped in fieldsets, showing the stored values or, after a
//! refused post, the values as typed with each message beside its field.

use kluis_core::Pointer;
use kluis_core::document::{ADDRESS_FIELDS, Field, FieldKind};
use serde_json::Value;

use super::Texts;
use super::changes::{self, Problem, REMOVE_ADDRESS};
use crate::dashboard::form::Form;
use crate::dashboard::i18n::Lang;
use crate::dashboard::words;

/// One labelled control. `control` is `text` (an `<input>` of `input_type`), `check`, `checks`
/// (a group of checkboxes), `select` or `lines` (a textarea, one item per line).
pub struct Control {
    pub control: &'static str,
    pub input_type: &'static str,
    pub name: String,
    pub id: String,
    pub label: String,
    pub hint: Option<&'static str>,
    pub error: Option<String>,
    pub value: String,
    pub checked: bool,
    pub options: Vec<Choice>,
    pub autocomplete: &'static str,
    pub inputmode: &'static str,
}

impl Control {
    /// The ids of its hint and message, for `aria-describedby` (empty: none).
    pub fn described_by(&self) -> String {
        let mut ids = Vec::new();
        if self.hint.is_some() {
            ids.push(format!("{}-hint", self.id));
        }
        if self.error.is_some() {
            ids.push(format!("{}-error", self.id));
        }
        ids.join(" ")
    }
}

/// An option of a select or a checkbox group.
pub struct Choice {
    pub value: &'static str,
    pub id: String,
    pub label: String,
    pub selected: bool,
}

/// A fieldset of the form.
pub struct Section {
    pub legend: String,
    pub hint: Option<&'static str>,
    pub controls: Vec<Control>,
    /// The "remove this address" checkbox of a stored address.
    pub remove: Option<Remove>,
}

pub struct Remove {
    pub index: usize,
    pub id: String,
    pub label: String,
    pub checked: bool,
}

/// A message for the summary on top, linking to its control.
pub struct Summary {
    pub id: String,
    pub message: String,
}

/// Where the form's values come from: the stored document, overridden by what was typed.
struct Values<'a> {
    doc: &'a Value,
    typed: Option<&'a Form>,
    problems: &'a [Problem],
}

impl Values<'_> {
    fn text(&self, at: &Pointer) -> String {
        if let Some(typed) = self.typed.and_then(|f| f.one(&at.to_string())) {
            return typed.to_owned();
        }
        match at.get(self.doc) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
                .collect::<Vec<_>>()
                .join("\n"),
            Some(other) => other.to_string(),
            None => String::new(),
        }
    }

    /// The values ticked for a checkbox (`true`) or a group: as posted if the control was, else
    /// as stored.
    fn ticked(&self, at: &Pointer) -> Vec<String> {
        if let Some(form) = self.typed {
            let posted = form.all(&at.to_string());
            if !posted.is_empty() {
                return posted.into_iter().map(str::to_owned).collect();
            }
        }
        match at.get(self.doc) {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(|i| i.as_str().map(str::to_owned))
                .collect(),
            Some(Value::Bool(true)) => vec!["true".to_owned()],
            _ => Vec::new(),
        }
    }

    fn error(&self, at: &Pointer) -> Option<String> {
        let name = at.to_string();
        self.problems
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, m)| m.clone())
    }
}

/// A control's id: its pointer without slashes (`profile-email`).
pub fn id_of(name: &str) -> String {
    name.trim_start_matches('/').replace('/', "-")
}

/// The summary of refused values, in the form's order.
pub fn summary(problems: &[Problem]) -> Vec<Summary> {
    problems
        .iter()
        .map(|(name, message)| Summary {
            id: id_of(name),
            message: message.clone(),
        })
        .collect()
}

/// The form's fieldsets: about you, the postal address, the other addresses (each removable),
/// a new address, the preferences.
pub fn sections(
    lang: Lang,
    t: &'static Texts,
    doc: &Value,
    typed: Option<&Form>,
    problems: &[Problem],
) -> Vec<Section> {
    let values = Values {
        doc,
        typed,
        problems,
    };
    let mut about = Section::new(t.about, Some(t.empty_removes));
    let mut preferences = Section::new(t.preferences, None);
    let mut address = Vec::new();
    let mut addresses = Vec::new();
    for field in changes::all_fields() {
        match field.kind {
            FieldKind::Address => address.push(address_section(
                lang,
                &values,
                &field.pointer,
                t.address,
                None,
                true,
            )),
            FieldKind::AddressList => addresses = address_list(lang, t, &values, &field.pointer),
            _ => {
                let control = control(lang, t, &values, &field);
                if field.pointer.tokens()[0] == "profile" {
                    about.controls.push(control);
                } else {
                    preferences.controls.push(control);
                }
            }
        }
    }
    let mut out = vec![about];
    out.extend(address);
    out.extend(addresses);
    out.push(preferences);
    out
}

impl Section {
    fn new(legend: &str, hint: Option<&'static str>) -> Self {
        Self {
            legend: legend.to_owned(),
            hint,
            controls: Vec::new(),
            remove: None,
        }
    }
}

fn control(lang: Lang, t: &'static Texts, values: &Values, field: &Field) -> Control {
    let at = &field.pointer;
    let name = at.to_string();
    let mut c = Control {
        control: "text",
        input_type: "text",
        id: id_of(&name),
        label: label(lang, t, field),
        hint: hint(t, field),
        error: values.error(at),
        value: String::new(),
        checked: false,
        options: Vec::new(),
        autocomplete: autocomplete(field.name),
        inputmode: "",
        name,
    };
    match field.kind {
        FieldKind::Bool => {
            c.control = "check";
            c.checked = values.ticked(at).iter().any(|v| v == "true");
        }
        FieldKind::ManyOf(options) => {
            c.control = "checks";
            let ticked = values.ticked(at);
            c.options = options
                .iter()
                .map(|&o| Choice {
                    value: o,
                    id: format!("{}-{o}", c.id),
                    label: words::capitalized(&words::channel(lang, o)),
                    selected: ticked.iter().any(|v| v == o),
                })
                .collect();
        }
        FieldKind::OneOf(options) => {
            c.control = "select";
            c.value = values.text(at);
            c.options = std::iter::once(("", t.not_set.to_owned()))
                .chain(
                    options
                        .iter()
                        .map(|&o| (o, words::capitalized(&words::frequency(lang, o)))),
                )
                .map(|(o, label)| Choice {
                    value: o,
                    id: String::new(),
                    label,
                    selected: c.value == o,
                })
                .collect();
        }
        FieldKind::TextList => {
            c.control = "lines";
            c.value = values.text(at);
        }
        kind => {
            c.value = values.text(at);
            c.input_type = match kind {
                FieldKind::Email => "email",
                FieldKind::Url => "url",
                FieldKind::Phone => "tel",
                _ => "text",
            };
            if kind == FieldKind::Timestamp {
                c.inputmode = "numeric";
            }
        }
    }
    c
}

/// An address's fieldset; `own` is the owner's postal address, whose fields autofill.
fn address_section(
    lang: Lang,
    values: &Values,
    at: &Pointer,
    legend: &str,
    hint: Option<&'static str>,
    own: bool,
) -> Section {
    let mut section = Section::new(legend, hint);
    for part in ADDRESS_FIELDS {
        let at = at.child(part);
        let name = at.to_string();
        section.controls.push(Control {
            control: "text",
            input_type: "text",
            id: id_of(&name),
            label: words::capitalized(&words::address_part(lang, part)),
            hint: None,
            error: values.error(&at),
            value: values.text(&at),
            checked: false,
            options: Vec::new(),
            autocomplete: if own { address_autocomplete(part) } else { "" },
            inputmode: "",
            name,
        });
    }
    section
}

/// The other addresses, stored and typed, each removable, and one empty block to add one.
fn address_list(lang: Lang, t: &'static Texts, values: &Values, list_at: &Pointer) -> Vec<Section> {
    let stored: &[Value] = list_at
        .get(values.doc)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice);
    let (typed, removed) = values.typed.map_or_else(Default::default, |form| {
        (
            changes::typed_addresses(list_at, form)
                .into_keys()
                .collect::<Vec<_>>(),
            changes::removed_addresses(form),
        )
    });
    let mut indices: Vec<usize> = (0..stored.len()).chain(typed).collect();
    indices.sort_unstable();
    indices.dedup();
    if indices.last().is_none_or(|&last| last < stored.len()) {
        indices.push(stored.len());
    }
    indices
        .into_iter()
        .map(|i| {
            let at = list_at.child(i.to_string());
            if i >= stored.len() {
                return address_section(
                    lang,
                    values,
                    &at,
                    t.new_address,
                    Some(t.new_address_hint),
                    false,
                );
            }
            let n = (i + 1).to_string();
            let label = changes::part_text(stored[i].as_object(), "label");
            let mut legend = t.other_address.replace("{n}", &n);
            if !label.is_empty() {
                legend = format!("{legend} ({label})");
            }
            let mut section = address_section(lang, values, &at, &legend, None, false);
            section.remove = Some(Remove {
                index: i,
                id: format!("{REMOVE_ADDRESS}-{i}"),
                label: t.remove_address.replace("{n}", &n),
                checked: removed.contains(&i),
            });
            section
        })
        .collect()
}

fn label(lang: Lang, t: &'static Texts, field: &Field) -> String {
    match field.name {
        "anonymous" => t.anonymous.to_owned(),
        "do_not_contact" => t.do_not_contact.to_owned(),
        _ => words::capitalized(&words::field(lang, &field.pointer)),
    }
}

fn hint(t: &'static Texts, field: &Field) -> Option<&'static str> {
    Some(match (field.name, field.kind) {
        ("zoneinfo", _) => t.hint_zoneinfo,
        ("language", _) => t.hint_language,
        (_, FieldKind::Url) => t.hint_url,
        (_, FieldKind::Email) => t.hint_email,
        (_, FieldKind::Birthdate) => t.hint_birthdate,
        (_, FieldKind::LanguageTag) => t.hint_locale,
        (_, FieldKind::Phone) => t.hint_phone,
        (_, FieldKind::Timestamp) => t.hint_timestamp,
        (_, FieldKind::TextList) => t.hint_lines,
        _ => return None,
    })
}

/// The HTML autofill token of a profile claim, so a browser can fill in the owner's own data.
fn autocomplete(claim: &str) -> &'static str {
    match claim {
        "name" => "name",
        "given_name" => "given-name",
        "family_name" => "family-name",
        "middle_name" => "additional-name",
        "nickname" => "nickname",
        "preferred_username" => "username",
        "picture" => "photo",
        "website" | "profile" => "url",
        "email" => "email",
        "gender" => "sex",
        "birthdate" => "bday",
        "phone_number" => "tel",
        "locale" | "language" => "language",
        _ => "",
    }
}

fn address_autocomplete(part: &str) -> &'static str {
    match part {
        "street_address" => "address-line1",
        "locality" => "address-level2",
        "region" => "address-level1",
        "postal_code" => "postal-code",
        "country" => "country",
        _ => "",
    }
}
