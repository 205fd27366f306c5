//! The append-right part of the dashboard's forms (giving access, approving a request): one
//! checkbox that lets a business add entries (documents, promises, interactions) to its own
//! record of the owner, and that right in words for the pages that describe grants.

use super::form::Form;
use super::i18n::Lang;

/// The checkbox's form name; ticked, it posts `1`.
pub const FIELD: &str = "append_record";

pub struct Texts {
    /// The right's name, as a label on cards.
    pub title: &'static str,
    /// The same on the grant form, where it is optional.
    pub legend: &'static str,
    /// On the grant form: what ticking it does and does not allow.
    pub hint: &'static str,
    /// The checkbox's label.
    pub ask: &'static str,
    /// On a request's card: what the business asks.
    pub asked: &'static str,
    /// What a grant with the right lets the business do, after its name (and on its card).
    pub may: &'static str,
    /// The same after "can" (English) or "mag" (Dutch), for the overview.
    pub can: &'static str,
}

const EN: Texts = Texts {
    title: "Its record of you",
    legend: "Its record of you (optional)",
    hint: "It adds to its own record of you only; this lets it read nothing.",
    ask: "Let it add documents, promises and interactions to its record of you",
    asked: "to add documents, promises and interactions to its record of you",
    may: "may add documents, promises and interactions to its record of you",
    can: "add documents, promises and interactions to its record of you",
};

const NL: Texts = Texts {
    title: "Zijn dossier over u",
    legend: "Zijn dossier over u (optioneel)",
    hint: "Het voegt alleen toe aan zijn eigen dossier over u; hiermee leest het niets.",
    ask: "Laat het documenten, toezeggingen en contactmomenten toevoegen aan zijn dossier over u",
    asked: "documenten, toezeggingen en contactmomenten toe te voegen aan zijn dossier over u",
    may: "mag documenten, toezeggingen en contactmomenten toevoegen aan zijn dossier over u",
    can: "documenten, toezeggingen en contactmomenten toevoegen aan zijn dossier over u",
};

pub fn texts(lang: Lang) -> &'static Texts {
    lang.pick(&EN, &NL)
}

/// Whether the form came with the checkbox ticked.
pub fn ticked(form: &Form) -> bool {
    form.text(FIELD).is_some()
}
