//! The profile page over HTTP: the form shows and labels every field, a save writes only what
//! changed (one owner record naming the fields, never their values), a refused value stores
//! nothing and comes back beside its field with the `kluis set` words, addresses are added and
//! removed, emptied fields are unset, and typed markup stays text.
//!
//! Posts are made from the page itself: [`submitted`] reads the rendered form as a browser
//! would submit it, and each test changes only what a person would.

mod common;

use common::Dash;
use kluis_core::Pointer;
use kluis_core::access::{Action, Actor};
use kluis_core::document::{self, ADDRESS_FIELDS, sample};
use kluis_store::{StoreError, Via};
use reqwest::StatusCode;
use serde_json::json;

const PAGE: &str = "/dashboard/profile";

fn p(text: &str) -> Pointer {
    Pointer::parse(text).unwrap()
}

/// The owner's document-set records: (fields named, the record as JSON).
fn document_sets(dash: &Dash) -> Vec<(Vec<Pointer>, String)> {
    dash.vault
        .log_entries()
        .unwrap()
        .into_iter()
        .filter(|e| e.record.action == Action::DocumentSet)
        .map(|e| {
            assert_eq!(e.record.actor, Actor::OwnerDashboard);
            let json = serde_json::to_string(&e.record).unwrap();
            (e.record.fields, json)
        })
        .collect()
}

/// Escapes text as the templates (askama) do, to find a message in a page.
fn escaped(text: &str) -> String {
    text.replace('&', "&#38;")
        .replace('<', "&#60;")
        .replace('>', "&#62;")
        .replace('"', "&#34;")
        .replace('\'', "&#39;")
}

#[tokio::test]
async fn the_page_shows_the_stored_values_and_labels_every_control() {
    let dash = Dash::signed_in().await;
    let (status, page) = dash.get(PAGE).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.len() < 100 * 1024, "{} bytes", page.len());

    let form = submitted(&page);
    let value = |name: &str| -> Vec<&str> {
        form.iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    };
    assert_eq!(value("/profile/email"), ["anna@example.nl"]);
    assert_eq!(
        value("/profile/address/street_address"),
        ["Prinsengracht 263"]
    );
    assert_eq!(value("/profile/email_verified"), ["", "true"]);
    assert_eq!(value("/preferences/anonymous"), [""]);
    assert_eq!(value("/preferences/channels"), ["", "email", "post"]);
    assert_eq!(value("/preferences/topics"), ["orders\nnew products"]);
    assert_eq!(value("/preferences/frequency"), ["monthly"]);
    assert_eq!(value("/profile/nickname"), [""]);
    // Custom fields are shown, not edited.
    assert!(page.contains("/custom/shoe_size"), "{page}");
    assert!(value("/custom/shoe_size").is_empty());

    // A control for every field the rules allow, each with a visible label.
    for field in document::profile_fields()
        .into_iter()
        .chain(document::preference_fields())
    {
        let name = field.pointer.to_string();
        match field.kind {
            document::FieldKind::Address => {
                for part in ADDRESS_FIELDS {
                    assert_eq!(value(&format!("{name}/{part}")).len(), 1, "{name}/{part}");
                }
            }
            document::FieldKind::AddressList => {
                assert_eq!(value(&format!("{name}/0/locality")), [""], "a new address");
            }
            _ => assert!(!value(&name).is_empty(), "no control for {name}"),
        }
    }
    let controls = labelled_controls(&page);
    assert!(controls.len() > 40, "{controls:?}");
    for (id, label) in &controls {
        assert!(
            !label.trim().is_empty(),
            "the control {id} has no label text"
        );
    }
    let label_of = |id: &str| {
        controls
            .iter()
            .find(|(i, _)| i == id)
            .map(|(_, l)| l.clone())
            .unwrap_or_else(|| panic!("no control {id}"))
    };
    assert_eq!(label_of("profile-email"), "E-mail");
    assert_eq!(label_of("preferences-channels-sms"), "Text message");

    // And in Dutch.
    let _ = dash.get("/dashboard/lang/nl?back=/dashboard/profile").await;
    let (_, page) = dash.get(PAGE).await;
    let controls = labelled_controls(&page);
    let label_of = |id: &str| controls.iter().find(|(i, _)| i == id).unwrap().1.clone();
    assert_eq!(label_of("profile-email"), "E-mailadres");
    assert_eq!(label_of("profile-address-locality"), "Plaats");
    assert!(page.contains("Wijzigingen opslaan"));
}

#[tokio::test]
async fn a_save_changes_exactly_the_edited_fields_and_records_their_names() {
    let dash = Dash::signed_in().await;
    let (_, page) = dash.get(PAGE).await;
    let mut form = submitted(&page);

    // Saved as shown: nothing changes, nothing is recorded.
    let (status, location, _) = dash.post(PAGE, &pairs(&form)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location.as_deref(), Some("/dashboard/profile?unchanged=1"));
    assert_eq!(dash.vault.document().unwrap(), sample());
    assert!(document_sets(&dash).is_empty());

    set(&mut form, "/profile/name", "Anna Jansen");
    set(&mut form, "/profile/email", "anna.jansen@example.nl");
    untick(&mut form, "/preferences/channels", "post");
    tick(&mut form, "/preferences/channels", "sms");
    tick(&mut form, "/preferences/do_not_contact", "true");
    let (status, location, _) = dash.post(PAGE, &pairs(&form)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location.as_deref(), Some("/dashboard/profile?saved=1"));

    let mut expected = sample();
    expected["profile"]["name"] = json!("Anna Jansen");
    expected["profile"]["email"] = json!("anna.jansen@example.nl");
    expected["preferences"]["channels"] = json!(["email", "sms"]);
    expected["preferences"]["do_not_contact"] = json!(true);
    assert_eq!(dash.vault.document().unwrap(), expected);

    let sets = document_sets(&dash);
    assert_eq!(sets.len(), 1, "one owner action");
    let (fields, record) = &sets[0];
    assert_eq!(
        fields,
        &[
            p("/profile/name"),
            p("/profile/email"),
            p("/preferences/channels"),
            p("/preferences/do_not_contact"),
        ]
    );
    for value in ["Anna Jansen", "anna.jansen@example.nl", "sms"] {
        assert!(!record.contains(value), "the log holds a value: {record}");
    }

    let (status, page) = dash.get("/dashboard/profile?saved=1").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains(r#"<p class="notice" role="status">Your changes are saved.</p>"#),
        "{page}"
    );
    assert_eq!(value_of(&page, "/profile/name"), "Anna Jansen");
}

#[tokio::test]
async fn a_refused_value_stores_nothing_and_is_shown_beside_its_field() {
    let dash = Dash::signed_in().await;
    let (_, page) = dash.get(PAGE).await;
    let mut form = submitted(&page);
    set(&mut form, "/profile/name", "Anna Jansen");
    set(&mut form, "/profile/email", "not-an-email");
    set(&mut form, "/profile/phone_number", "call me");
    let (status, _, page) = dash.post(PAGE, &pairs(&form)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(dash.vault.document().unwrap(), sample(), "nothing stored");
    assert!(document_sets(&dash).is_empty());

    for (name, typed) in [
        ("/profile/email", "not-an-email"),
        ("/profile/phone_number", "call me"),
    ] {
        // The words `kluis set` prints for this value.
        let cli = document::validate_at(&p(name), &json!(typed))
            .unwrap_err()
            .to_string();
        let id = name.trim_start_matches('/').replace('/', "-");
        let beside = format!(
            r#"<p class="field-error" id="{id}-error">{}</p>"#,
            escaped(&cli)
        );
        assert!(page.contains(&beside), "no {beside} in {page}");
        let input = tag_with_id(&page, &id);
        assert!(input.contains(&format!("{id}-error")), "{input}");
        assert!(input.contains(r#"aria-invalid="true""#), "{input}");
        assert_eq!(value_of(&page, name), typed, "kept as typed");
    }
    assert!(page.contains("must be an e-mail address like name@example.org"));
    assert_eq!(value_of(&page, "/profile/name"), "Anna Jansen");

    // Corrected, the same form saves.
    let mut form = submitted(&page);
    set(&mut form, "/profile/email", "anna.jansen@example.nl");
    set(&mut form, "/profile/phone_number", "+31 6 1234 5678");
    let (status, _, _) = dash.post(PAGE, &pairs(&form)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        dash.vault.get(&p("/profile/name")).unwrap(),
        json!("Anna Jansen")
    );
}

#[tokio::test]
async fn addresses_are_added_and_removed() {
    let dash = Dash::signed_in().await;
    for (label, city) in [("work", "Utrecht"), ("cottage", "Texel")] {
        let (_, page) = dash.get(PAGE).await;
        let mut form = submitted(&page);
        let n = dash
            .vault
            .get(&p("/profile/addresses"))
            .map_or(0, |v| v.as_array().unwrap().len());
        set(&mut form, &format!("/profile/addresses/{n}/label"), label);
        set(&mut form, &format!("/profile/addresses/{n}/locality"), city);
        let (status, _, _) = dash.post(PAGE, &pairs(&form)).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
    }
    assert_eq!(
        dash.vault.get(&p("/profile/addresses")).unwrap(),
        json!([
            {"label": "work", "locality": "Utrecht"},
            {"label": "cottage", "locality": "Texel"}
        ])
    );
    let (_, page) = dash.get(PAGE).await;
    assert!(
        page.contains("<legend>Other address 1 (work)</legend>"),
        "{page}"
    );
    assert!(page.contains(r#"<label for="remove_address-1">Remove other address 2</label>"#));
    assert_eq!(value_of(&page, "/profile/addresses/2/locality"), "");

    let mut form = submitted(&page);
    tick(&mut form, "remove_address", "0");
    let (status, _, _) = dash.post(PAGE, &pairs(&form)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        dash.vault.get(&p("/profile/addresses")).unwrap(),
        json!([{"label": "cottage", "locality": "Texel"}])
    );
    assert_eq!(
        dash.vault.get(&p("/profile/address/locality")).unwrap(),
        json!("Amsterdam"),
        "the postal address is apart"
    );

    let (_, page) = dash.get(PAGE).await;
    let mut form = submitted(&page);
    tick(&mut form, "remove_address", "0");
    dash.post(PAGE, &pairs(&form)).await;
    assert!(matches!(
        dash.vault.get(&p("/profile/addresses")),
        Err(StoreError::NotFound(_))
    ));
    let named: Vec<Vec<Pointer>> = document_sets(&dash).into_iter().map(|(f, _)| f).collect();
    assert_eq!(named.len(), 4);
    assert!(
        named.iter().all(|f| f == &[p("/profile/addresses")]),
        "{named:?}"
    );
}

#[tokio::test]
async fn emptying_a_field_unsets_it() {
    let dash = Dash::signed_in().await;
    let (_, page) = dash.get(PAGE).await;
    let mut form = submitted(&page);
    set(&mut form, "/profile/birthdate", "");
    set(&mut form, "/profile/address/postal_code", "  ");
    untick(&mut form, "/profile/email_verified", "true");
    let (status, _, _) = dash.post(PAGE, &pairs(&form)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    for gone in ["/profile/birthdate", "/profile/address/postal_code"] {
        assert!(
            matches!(dash.vault.get(&p(gone)), Err(StoreError::NotFound(_))),
            "{gone}"
        );
    }
    assert_eq!(
        dash.vault.get(&p("/profile/email_verified")).unwrap(),
        json!(false),
        "an unticked box that was ticked says false"
    );
    assert_eq!(
        dash.vault.get(&p("/profile/address/locality")).unwrap(),
        json!("Amsterdam")
    );
    let sets = document_sets(&dash);
    assert_eq!(
        sets[0].0,
        [
            p("/profile/email_verified"),
            p("/profile/birthdate"),
            p("/profile/address/postal_code"),
        ]
    );
}

#[tokio::test]
async fn typed_markup_is_stored_as_text_and_shown_escaped() {
    let dash = Dash::signed_in().await;
    let (_, page) = dash.get(PAGE).await;
    let mut form = submitted(&page);
    let name = r#"<script>alert("x")</script>"#;
    let topic = r#""><script>alert(1)</script>"#;
    set(&mut form, "/profile/name", name);
    set(
        &mut form,
        "/preferences/topics",
        &format!("orders\n{topic}"),
    );
    let (status, _, _) = dash.post(PAGE, &pairs(&form)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(dash.vault.get(&p("/profile/name")).unwrap(), json!(name));
    assert_eq!(
        dash.vault.get(&p("/preferences/topics")).unwrap(),
        json!(["orders", topic])
    );

    let (_, page) = dash.get(PAGE).await;
    assert!(!page.contains("<script>"), "{page}");
    assert!(page.contains(&escaped(name)), "{page}");
    assert!(page.contains(&escaped(topic)));
    assert_eq!(value_of(&page, "/profile/name"), name, "round-trips");
}

#[tokio::test]
async fn a_form_older_than_the_vault_stores_nothing() {
    let dash = Dash::signed_in().await;
    let (_, page) = dash.get(PAGE).await;
    let mut form = submitted(&page);
    // Meanwhile, the kluis command changes the vault.
    dash.vault
        .owner(Via::Cli)
        .set(vec![(p("/profile/nickname"), json!("Annie"))])
        .unwrap();
    set(&mut form, "/profile/name", "Anna Jansen");
    let (status, _, page) = dash.post(PAGE, &pairs(&form)).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(page.contains("Your vault changed since you opened this page"));
    let mut expected = sample();
    expected["profile"]["nickname"] = json!("Annie");
    assert_eq!(dash.vault.document().unwrap(), expected);
    // The form now shows what the vault holds (saving the old one would have unset the nickname).
    assert_eq!(value_of(&page, "/profile/nickname"), "Annie");
    assert_eq!(value_of(&page, "/profile/name"), "Anna de Vries");

    // Edited again on that page, it saves and keeps the other change.
    let mut form = submitted(&page);
    set(&mut form, "/profile/name", "Anna Jansen");
    let (status, _, _) = dash.post(PAGE, &pairs(&form)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    expected["profile"]["name"] = json!("Anna Jansen");
    assert_eq!(dash.vault.document().unwrap(), expected);
}

// ---- The page's form, read as a browser submits it ----

fn pairs(form: &[(String, String)]) -> Vec<(&str, &str)> {
    form.iter()
        .filter(|(n, _)| n != "csrf")
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect()
}

/// Types `value` into the control `name` (its first pair).
fn set(form: &mut [(String, String)], name: &str, value: &str) {
    let pair = form
        .iter_mut()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no control {name}"));
    pair.1 = value.to_owned();
}

fn tick(form: &mut Vec<(String, String)>, name: &str, value: &str) {
    form.push((name.to_owned(), value.to_owned()));
}

fn untick(form: &mut Vec<(String, String)>, name: &str, value: &str) {
    let before = form.len();
    form.retain(|(n, v)| !(n == name && v == value));
    assert_eq!(form.len() + 1, before, "{name}={value} was not ticked");
}

/// The value a browser would submit for the first control named `name`.
fn value_of(page: &str, name: &str) -> String {
    submitted(page)
        .into_iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no control {name}"))
        .1
}

/// The pairs a browser submits for the page's profile form: inputs with their values,
/// ticked checkboxes, each select's chosen option, textareas' text; in document order.
fn submitted(page: &str) -> Vec<(String, String)> {
    let start = page
        .find(r#"<form method="post" action="/dashboard/profile""#)
        .expect("the profile form");
    let form = &page[start..start + page[start..].find("</form>").unwrap()];
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(i) = form[at..].find('<') {
        let open = at + i;
        let close = open + form[open..].find('>').unwrap();
        let (tag, attrs) = parse_tag(&form[open + 1..close]);
        at = close + 1;
        let Some(name) = attr(&attrs, "name") else {
            continue;
        };
        match tag.as_str() {
            "input" => {
                let value = attr(&attrs, "value").unwrap_or_default();
                if attr(&attrs, "type").as_deref() != Some("checkbox") || has(&attrs, "checked") {
                    out.push((name, value));
                }
            }
            "textarea" => {
                let end = at + form[at..].find("</textarea>").unwrap();
                out.push((name, unescape(&form[at..end])));
                at = end;
            }
            "select" => {
                let end = at + form[at..].find("</select>").unwrap();
                let options: Vec<Vec<(String, Option<String>)>> = form[at..end]
                    .split("<option")
                    .skip(1)
                    .map(|o| parse_tag(&format!("option{}", &o[..o.find('>').unwrap()])).1)
                    .collect();
                let chosen = options
                    .iter()
                    .find(|o| has(o, "selected"))
                    .or(options.first());
                out.push((
                    name,
                    chosen.and_then(|o| attr(o, "value")).unwrap_or_default(),
                ));
                at = end;
            }
            _ => {}
        }
    }
    out
}

/// Every control that is not hidden, by id, with the text of its `<label for=…>`.
fn labelled_controls(page: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for piece in page.split('<').skip(1) {
        let Some(end) = piece.find('>') else { continue };
        let (tag, attrs) = parse_tag(&piece[..end]);
        let hidden = attr(&attrs, "type").as_deref() == Some("hidden");
        if !matches!(tag.as_str(), "input" | "select" | "textarea") || hidden {
            continue;
        }
        let id = attr(&attrs, "id").unwrap_or_else(|| panic!("a control without id: {piece}"));
        let label_at = page
            .find(&format!(r#"<label for="{id}">"#))
            .unwrap_or_else(|| panic!("no label for {id}"));
        let text = &page[label_at..];
        let text = &text[text.find('>').unwrap() + 1..text.find("</label>").unwrap()];
        out.push((id, unescape(text)));
    }
    out
}

/// The tag of the control with `id`.
fn tag_with_id(page: &str, id: &str) -> String {
    let at = page
        .find(&format!(r#"id="{id}""#))
        .unwrap_or_else(|| panic!("no {id}"));
    let open = page[..at].rfind('<').unwrap();
    page[open..open + page[open..].find('>').unwrap()].to_owned()
}

type Attrs = Vec<(String, Option<String>)>;

/// A start tag's name and attributes (values unescaped; attributes without a value: `None`).
fn parse_tag(text: &str) -> (String, Attrs) {
    let mut parts = text.splitn(2, char::is_whitespace);
    let tag = parts.next().unwrap_or("").to_owned();
    let mut rest = parts.next().unwrap_or("").trim_start();
    let mut attrs = Vec::new();
    while !rest.is_empty() {
        let name_end = rest
            .find(|c: char| c == '=' || c.is_whitespace())
            .unwrap_or(rest.len());
        let name = rest[..name_end].to_owned();
        rest = &rest[name_end..];
        if let Some(quoted) = rest.strip_prefix("=\"") {
            let end = quoted.find('"').unwrap();
            attrs.push((name, Some(unescape(&quoted[..end]))));
            rest = &quoted[end + 1..];
        } else {
            attrs.push((name, None));
        }
        rest = rest.trim_start();
    }
    (tag, attrs)
}

fn attr(attrs: &Attrs, name: &str) -> Option<String> {
    attrs
        .iter()
        .find(|(n, _)| n == name)
        .and_then(|(_, v)| v.clone())
}

fn has(attrs: &Attrs, name: &str) -> bool {
    attrs.iter().any(|(n, _)| n == name)
}

/// The inverse of [`escaped`].
fn unescape(text: &str) -> String {
    text.replace("&#60;", "<")
        .replace("&#62;", ">")
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&#38;", "&")
}
