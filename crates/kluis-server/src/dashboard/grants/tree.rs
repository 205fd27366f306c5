//! The document as checkboxes: a fieldset per top-level section (profile, preferences,
//! custom) holding a box for the section itself and one for every object and field below it,
//! each named in words with its pointer as a hint.

use std::collections::HashSet;

use kluis_core::{Pointer, document};
use serde_json::Value;

use super::shared::{capitalized, field_label, fill};
use crate::dashboard::i18n::Lang;
use crate::dashboard::words;

/// Checkboxes listed at most: a page stays small even over a document with thousands of
/// custom fields (a grant names at most [`kluis_core::grant::MAX_FIELDS`] anyway).
pub const MAX_CHECKBOXES: usize = 200;

/// One checkbox of the document tree.
pub struct Check {
    pub id: String,
    pub pointer: String,
    pub label: String,
    /// How deep it sits below its section (0: the section itself), for indenting.
    pub depth: usize,
    pub checked: bool,
}

/// A top-level part of the document (profile, preferences, custom) as a fieldset.
pub struct Section {
    pub legend: String,
    pub checks: Vec<Check>,
}

/// The checkboxes for `doc`: per top-level key a section, holding a box for the section and
/// one for every object and leaf below it (arrays count as leaves), in the document's order.
/// Places a grant could not name are left out. Returns whether the list was cut short.
pub fn tree(
    lang: Lang,
    doc: &Value,
    ticked: &HashSet<String>,
    everything_in: &str,
) -> (Vec<Section>, bool) {
    let mut sections = Vec::new();
    let mut count = 0;
    let Value::Object(top) = doc else {
        return (sections, false);
    };
    // Profile, preferences, custom, as everywhere in Kluis; then any other (maps are sorted).
    const FIRST: [&str; 3] = ["profile", "preferences", "custom"];
    let mut keys: Vec<(&String, &Value)> = top.iter().collect();
    keys.sort_by_key(|(k, _)| FIRST.iter().position(|f| f == k).unwrap_or(FIRST.len()));
    for (key, value) in keys {
        if count >= MAX_CHECKBOXES {
            return (sections, true);
        }
        let at = Pointer::root().child(key.clone());
        if document::validate_pointer(&at).is_err() {
            continue;
        }
        let name = words::field(lang, &at);
        let mut places = vec![(at.clone(), 0)];
        walk(&at, value, 1, &mut places);
        let room = MAX_CHECKBOXES - count;
        let cut = places.len() > room;
        let checks: Vec<Check> = places
            .into_iter()
            .take(room)
            .map(|(at, depth)| {
                let pointer = at.to_string();
                let label = if depth == 0 {
                    fill(everything_in, &[("section", &name)])
                } else {
                    field_label(lang, &at)
                };
                count += 1;
                Check {
                    id: format!("field-{count}"),
                    checked: ticked.contains(&pointer),
                    pointer,
                    label,
                    depth,
                }
            })
            .collect();
        sections.push(Section {
            legend: capitalized(&name),
            checks,
        });
        if cut {
            return (sections, true);
        }
    }
    (sections, false)
}

/// Every place below `at` in `value` a grant can name, with its depth, parents first.
fn walk(at: &Pointer, value: &Value, depth: usize, out: &mut Vec<(Pointer, usize)>) {
    let Value::Object(map) = value else {
        return;
    };
    for (key, child) in map {
        // One past the limit, so the caller can tell the list was cut.
        if out.len() > MAX_CHECKBOXES {
            return;
        }
        let here = at.child(key.clone());
        if document::validate_pointer(&here).is_err() {
            continue;
        }
        out.push((here.clone(), depth));
        walk(&here, child, depth + 1, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVERYTHING: &str = "Everything in {section}";

    #[test]
    fn the_tree_has_every_section_and_field() {
        let doc = document::sample();
        let ticked: HashSet<String> = ["/profile/email".to_owned()].into();
        let (sections, cut) = tree(Lang::En, &doc, &ticked, EVERYTHING);
        assert!(!cut);
        let legends: Vec<&str> = sections.iter().map(|s| s.legend.as_str()).collect();
        assert_eq!(legends, ["Profile", "Preferences", "Custom fields"]);
        let profile: Vec<(&str, &str, usize)> = sections[0]
            .checks
            .iter()
            .map(|c| (c.pointer.as_str(), c.label.as_str(), c.depth))
            .collect();
        assert_eq!(profile[0], ("/profile", "Everything in profile", 0));
        assert!(profile.contains(&("/profile/email", "e-mail", 1)));
        assert!(profile.contains(&("/profile/address", "address", 1)));
        assert!(profile.contains(&("/profile/address/locality", "locality", 2)));
        // Arrays are leaves: no box per element.
        let prefs: Vec<&str> = sections[1]
            .checks
            .iter()
            .map(|c| c.pointer.as_str())
            .collect();
        assert!(prefs.contains(&"/preferences/channels"));
        assert!(
            !prefs
                .iter()
                .any(|p| p.starts_with("/preferences/channels/"))
        );
        // Keys with `/` and `~` are escaped in the pointer.
        assert!(
            sections[2]
                .checks
                .iter()
                .any(|c| c.pointer == "/custom/loyalty~1ids/bakery~0corner")
        );
        let checked: Vec<&str> = sections
            .iter()
            .flat_map(|s| &s.checks)
            .filter(|c| c.checked)
            .map(|c| c.pointer.as_str())
            .collect();
        assert_eq!(checked, ["/profile/email"]);
        let ids: HashSet<&str> = sections
            .iter()
            .flat_map(|s| &s.checks)
            .map(|c| c.id.as_str())
            .collect();
        assert_eq!(
            ids.len(),
            sections.iter().map(|s| s.checks.len()).sum::<usize>()
        );
    }

    #[test]
    fn a_huge_document_is_listed_in_part() {
        let many: serde_json::Map<String, Value> = (0..2000)
            .map(|i| (format!("f{i}"), Value::from(i)))
            .collect();
        let doc = serde_json::json!({ "custom": many });
        let (sections, cut) = tree(Lang::En, &doc, &HashSet::new(), EVERYTHING);
        assert!(cut);
        assert_eq!(sections[0].checks.len(), MAX_CHECKBOXES);
    }
}
