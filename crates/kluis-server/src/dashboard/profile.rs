//! The profile and preferences page: one form for every field the vault document allows in
//! `/profile` and `/preferences` (the other addresses too: each can be removed, and an empty
//! block adds one), saved in one owner action ([`kluis_store::Owner::edit`]) that writes only
//! the fields that changed. `/custom` is shown read-only: its fields are free JSON, which the
//! `kluis set` command writes.
//!
//! A post with any value the rules refuse stores nothing: the form comes back (400) with the
//! values as typed and each `kluis set` message beside its field. A post made from a page older
//! than the vault's last change stores nothing either (409): it would undo that change unseen.

mod changes;
mod view;

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use kluis_core::Pointer;
use kluis_store::Via;
use serde::Deserialize;
use serde_json::Value;

use super::error::PageError;
use super::form::Form;
use super::render::{Chrome, page, page_with, see_other};
use super::session::{Posted, SignedIn};
use super::{BASE, Dashboard};
use view::{Section, Summary};

pub fn router() -> Router<Dashboard> {
    Router::new().route("/dashboard/profile", get(show).post(save))
}

pub struct Texts {
    pub title: &'static str,
    pub intro: &'static str,
    pub about: &'static str,
    pub empty_removes: &'static str,
    pub address: &'static str,
    pub other_address: &'static str,
    pub remove_address: &'static str,
    pub new_address: &'static str,
    pub new_address_hint: &'static str,
    pub preferences: &'static str,
    pub anonymous: &'static str,
    pub do_not_contact: &'static str,
    pub not_set: &'static str,
    pub hint_url: &'static str,
    pub hint_email: &'static str,
    pub hint_birthdate: &'static str,
    pub hint_locale: &'static str,
    pub hint_language: &'static str,
    pub hint_zoneinfo: &'static str,
    pub hint_phone: &'static str,
    pub hint_timestamp: &'static str,
    pub hint_lines: &'static str,
    pub save: &'static str,
    pub saved: &'static str,
    pub unchanged: &'static str,
    pub refused: &'static str,
    pub conflict: &'static str,
    pub custom: &'static str,
    pub custom_note: &'static str,
    pub custom_none: &'static str,
    pub custom_field: &'static str,
    pub custom_value: &'static str,
    pub custom_more: &'static str,
}

const EN: Texts = Texts {
    title: "Profile and preferences",
    intro: "What your vault holds about you, and how you want businesses to treat you. A business sees only the fields a grant lets it read.",
    about: "About you",
    empty_removes: "Leave a field empty to remove it from your vault.",
    address: "Postal address",
    other_address: "Other address {n}",
    remove_address: "Remove other address {n}",
    new_address: "Add an address",
    new_address_hint: "Fill this in to add another address (a label such as \"work\" helps tell them apart); leave it empty otherwise.",
    preferences: "Your preferences",
    anonymous: "Stay anonymous",
    do_not_contact: "Do not contact me",
    not_set: "(not set)",
    hint_url: "A web address starting with https://",
    hint_email: "Like name@example.org",
    hint_birthdate: "As YYYY-MM-DD; or only the year (YYYY); or 0000-MM-DD to keep the year to yourself",
    hint_locale: "A language tag like nl-NL or en",
    hint_language: "The language businesses should write to you in: a tag like nl or en",
    hint_zoneinfo: "Like Europe/Amsterdam",
    hint_phone: "Like +31 20 123 4567",
    hint_timestamp: "Seconds since 1 January 1970",
    hint_lines: "One per line",
    save: "Save changes",
    saved: "Your changes are saved.",
    unchanged: "Nothing was changed: the form held what your vault holds.",
    refused: "Nothing was saved. Correct these fields and save again:",
    conflict: "Your vault changed since you opened this page (in another window or with the kluis command), so nothing was saved: saving would have undone that change. The form now shows what your vault holds; make your changes again.",
    custom: "Custom fields",
    custom_note: "Free fields outside the standard profile. They are shown here but not edited: change them with the kluis command, e.g. kluis set /custom/shoe_size 39, or kluis unset /custom/shoe_size.",
    custom_none: "No custom fields are stored.",
    custom_field: "Field",
    custom_value: "Value",
    custom_more: "More custom fields are stored than shown here; kluis show lists them all.",
};

const NL: Texts = Texts {
    title: "Profiel en voorkeuren",
    intro: "Wat uw kluis over u bewaart, en hoe u door bedrijven benaderd wilt worden. Een bedrijf ziet alleen de velden die een toestemming het laat lezen.",
    about: "Over u",
    empty_removes: "Laat een veld leeg om het uit uw kluis te verwijderen.",
    address: "Postadres",
    other_address: "Ander adres {n}",
    remove_address: "Ander adres {n} verwijderen",
    new_address: "Een adres toevoegen",
    new_address_hint: "Vul dit in om nog een adres toe te voegen (een label zoals \"werk\" helpt ze uit elkaar te houden); laat het anders leeg.",
    preferences: "Uw voorkeuren",
    anonymous: "Anoniem blijven",
    do_not_contact: "Niet benaderen",
    not_set: "(niet ingesteld)",
    hint_url: "Een webadres dat begint met https://",
    hint_email: "Zoals naam@voorbeeld.nl",
    hint_birthdate: "Als JJJJ-MM-DD; of alleen het jaar (JJJJ); of 0000-MM-DD om het jaar voor uzelf te houden",
    hint_locale: "Een taalcode zoals nl-NL of en",
    hint_language: "De taal waarin bedrijven u schrijven: een code zoals nl of en",
    hint_zoneinfo: "Zoals Europe/Amsterdam",
    hint_phone: "Zoals +31 20 123 4567",
    hint_timestamp: "Seconden sinds 1 januari 1970",
    hint_lines: "Eén per regel",
    save: "Wijzigingen opslaan",
    saved: "Uw wijzigingen zijn opgeslagen.",
    unchanged: "Er is niets gewijzigd: het formulier bevatte wat uw kluis al bevat.",
    refused: "Er is niets opgeslagen. Verbeter deze velden en sla opnieuw op:",
    conflict: "Uw kluis is gewijzigd sinds u deze pagina opende (in een ander venster of met de opdracht kluis), dus er is niets opgeslagen: opslaan had die wijziging ongedaan gemaakt. Het formulier toont nu wat uw kluis bevat; breng uw wijzigingen opnieuw aan.",
    custom: "Eigen velden",
    custom_note: "Vrije velden buiten het standaardprofiel. Ze worden hier getoond maar niet bewerkt: wijzig ze met de opdracht kluis, bijv. kluis set /custom/shoe_size 39, of kluis unset /custom/shoe_size.",
    custom_none: "Er zijn geen eigen velden opgeslagen.",
    custom_field: "Veld",
    custom_value: "Waarde",
    custom_more: "Er zijn meer eigen velden opgeslagen dan hier getoond; kluis show toont ze allemaal.",
};

/// Custom fields shown at most, and characters of each value: the page stays small.
const CUSTOM_ROWS: usize = 200;
const CUSTOM_CHARS: usize = 200;

#[derive(Template)]
#[template(path = "dashboard/profile.html")]
struct ProfilePage {
    chrome: Chrome,
    t: &'static Texts,
    status: Option<&'static str>,
    /// Why nothing was saved: `refused` (with the summary) or `conflict`.
    warning: Option<&'static str>,
    summary: Vec<Summary>,
    generation: i64,
    sections: Vec<Section>,
    custom: Vec<(String, String)>,
    custom_more: bool,
}

impl ProfilePage {
    fn new(
        owner: &SignedIn,
        doc: &Value,
        generation: i64,
        typed: Option<&Form>,
        problems: &[changes::Problem],
    ) -> Self {
        let t = owner.lang.pick(&EN, &NL);
        let (custom, custom_more) = custom_rows(doc);
        Self {
            chrome: Chrome::new(owner, "profile", t.title, &format!("{BASE}/profile")),
            t,
            status: None,
            warning: None,
            summary: view::summary(problems),
            generation,
            sections: view::sections(owner.lang, t, doc, typed, problems),
            custom,
            custom_more,
        }
    }
}

#[derive(Deserialize)]
struct Shown {
    saved: Option<String>,
    unchanged: Option<String>,
}

async fn show(
    State(dashboard): State<Dashboard>,
    owner: SignedIn,
    Query(shown): Query<Shown>,
) -> Result<Response, PageError> {
    let (doc, generation) = dashboard
        .with_owner(|v| v.in_read_transaction(|v| Ok((v.document()?, v.generation()?))))
        .await?;
    let mut page_data = ProfilePage::new(&owner, &doc, generation, None, &[]);
    let t = page_data.t;
    page_data.status = if shown.saved.is_some() {
        Some(t.saved)
    } else if shown.unchanged.is_some() {
        Some(t.unchanged)
    } else {
        None
    };
    page(&page_data)
}

/// What a save came to.
enum Saved {
    Changed,
    Unchanged,
    /// Values the rules refuse: nothing stored.
    Refused(Form, Value, i64, Vec<changes::Problem>),
    /// The vault changed since the page was made: nothing stored. The page's values cannot be
    /// told from the owner's edits, so the form comes back with what the vault holds now.
    Stale(Value, i64),
}

async fn save(
    State(dashboard): State<Dashboard>,
    Posted { owner, form }: Posted,
) -> Result<Response, PageError> {
    let seen: Option<i64> = form.one("generation").and_then(|g| g.parse().ok());
    // Read, compare and write in one write transaction: no other writer slips in between.
    let saved = dashboard
        .with_owner(move |v| {
            v.in_transaction(|v| {
                let generation = v.generation()?;
                let doc = v.document()?;
                if seen.is_some_and(|seen| seen != generation) {
                    return Ok(Saved::Stale(doc, generation));
                }
                match changes::changes(&doc, &form) {
                    Err(problems) => Ok(Saved::Refused(form, doc, generation, problems)),
                    Ok(c) if c.is_empty() => Ok(Saved::Unchanged),
                    Ok(c) => {
                        v.owner(Via::Dashboard).edit(c.sets, c.unsets)?;
                        Ok(Saved::Changed)
                    }
                }
            })
        })
        .await?;
    match saved {
        Saved::Changed => Ok(see_other(&format!("{BASE}/profile?saved=1"))),
        Saved::Unchanged => Ok(see_other(&format!("{BASE}/profile?unchanged=1"))),
        Saved::Refused(form, doc, generation, problems) => {
            let mut p = ProfilePage::new(&owner, &doc, generation, Some(&form), &problems);
            p.warning = Some(p.t.refused);
            page_with(StatusCode::BAD_REQUEST, &p)
        }
        Saved::Stale(doc, generation) => {
            let mut p = ProfilePage::new(&owner, &doc, generation, None, &[]);
            p.warning = Some(p.t.conflict);
            page_with(StatusCode::CONFLICT, &p)
        }
    }
}

/// `/custom`'s leaves as (pointer, JSON), each value cut short; and whether more were left off.
fn custom_rows(doc: &Value) -> (Vec<(String, String)>, bool) {
    let base = Pointer::from_tokens(["custom"]);
    let Some(custom) = base.get(doc) else {
        return (Vec::new(), false);
    };
    let mut leaves = Vec::new();
    kluis_core::pointer::leaves(&base, custom, &mut leaves);
    let more = leaves.len() > CUSTOM_ROWS;
    let rows = leaves
        .into_iter()
        .take(CUSTOM_ROWS)
        .map(|(at, value)| {
            let text = value.to_string();
            let shown = if text.chars().count() > CUSTOM_CHARS {
                format!("{}…", text.chars().take(CUSTOM_CHARS).collect::<String>())
            } else {
                text
            };
            (at.to_string(), shown)
        })
        .collect();
    (rows, more)
}
