//! Giving a business access from the dashboard: a form with the business, the fields (a
//! checkbox for every section and field of the vault's document), the purpose and the expiry,
//! checked as `kluis grant create` checks them. The token is shown once, on the answer to the
//! POST itself: never in a URL, a redirect or the browser's history.

use std::collections::HashSet;

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use kluis_core::grant::{BusinessId, GrantRequest, MAX_FIELDS, check_purpose_category};
use kluis_core::{Pointer, document};
use kluis_store::{StoreError, Via};

use super::shared::{Choice, DEFAULT_EXPIRY, expiry_choices, fill, parse_expiry};
use super::tree::{MAX_CHECKBOXES, Section, tree};
use crate::dashboard::Dashboard;
use crate::dashboard::contactform::{self, ChannelCheck, ContactInput, channel_checks};
use crate::dashboard::error::PageError;
use crate::dashboard::i18n::Lang;
use crate::dashboard::recordform;
use crate::dashboard::render::{Chrome, date, page, page_with};
use crate::dashboard::session::{Posted, SignedIn};
use crate::dashboard::words;

pub struct Texts {
    pub title: &'static str,
    pub intro: &'static str,
    pub business: &'static str,
    pub business_hint: &'static str,
    pub fields: &'static str,
    pub fields_hint: &'static str,
    pub everything_in: &'static str,
    pub empty_vault: &'static str,
    pub truncated: &'static str,
    pub purpose: &'static str,
    pub purpose_hint: &'static str,
    pub category: &'static str,
    pub category_hint: &'static str,
    pub expires: &'static str,
    pub submit: &'static str,
    pub cancel: &'static str,
    pub no_fields: &'static str,
    pub too_many: &'static str,
    pub not_saved: &'static str,
    pub created_title: &'static str,
    pub created: &'static str,
    pub created_contact: &'static str,
    pub token: &'static str,
    pub once: &'static str,
    pub back: &'static str,
}

const EN: Texts = Texts {
    title: "Give a business access",
    intro: "The business gets a token that lets it read exactly the fields you tick, for the purpose you name, until the grant expires or you revoke it.",
    business: "Business",
    business_hint: "Its id, e.g. webshop.example: letters, digits and - . _ : / @",
    fields: "Fields it may read",
    fields_hint: "Ticking a section shares everything in it, also what you add there later.",
    everything_in: "Everything in {section}",
    empty_vault: "Your vault holds no fields yet: add some under Profile first.",
    truncated: "Only the first {n} fields are listed.",
    purpose: "Purpose",
    purpose_hint: "Why it may read them, in a few words; the token carries it.",
    category: "Category (optional)",
    category_hint: "e.g. contract or consent",
    expires: "Expires after",
    submit: "Give access",
    cancel: "Cancel",
    no_fields: "Tick at least one field it may read, or give it a contact right below, or let it add to its record of you.",
    too_many: "A grant may name at most {n} fields.",
    not_saved: "Nothing was saved: correct the fields marked below.",
    created_title: "Access given",
    created: "{business} can read your {fields} for {purpose}, until {date}.",
    created_contact: "{business} reads none of your fields; the grant runs for {purpose} until {date}.",
    token: "Grant token",
    once: "Copy this token and give it to the business now: it will not be shown again. If it is lost, revoke the grant and give a new one.",
    back: "Back to the grants",
};

const NL: Texts = Texts {
    title: "Een bedrijf toegang geven",
    intro: "Het bedrijf krijgt een token waarmee het precies de velden leest die u aanvinkt, voor het doel dat u noemt, tot de toegang verloopt of u hem intrekt.",
    business: "Bedrijf",
    business_hint: "Zijn id, bijv. webshop.example: letters, cijfers en - . _ : / @",
    fields: "Velden die het mag lezen",
    fields_hint: "Een onderdeel aanvinken deelt alles daarin, ook wat u er later aan toevoegt.",
    everything_in: "Alles in {section}",
    empty_vault: "Uw kluis bevat nog geen velden: voeg ze eerst toe onder Profiel.",
    truncated: "Alleen de eerste {n} velden staan hier.",
    purpose: "Doel",
    purpose_hint: "Waarom het ze mag lezen, in een paar woorden; het token draagt het mee.",
    category: "Categorie (optioneel)",
    category_hint: "bijv. contract of consent",
    expires: "Verloopt na",
    submit: "Toegang geven",
    cancel: "Annuleren",
    no_fields: "Vink ten minste één veld aan dat het mag lezen, of geef het hieronder een contactrecht, of laat het toevoegen aan zijn dossier over u.",
    too_many: "Een toegang mag hoogstens {n} velden noemen.",
    not_saved: "Er is niets opgeslagen: verbeter de gemarkeerde velden hieronder.",
    created_title: "Toegang gegeven",
    created: "{business} kan uw {fields} lezen voor {purpose}, tot {date}.",
    created_contact: "{business} leest geen van uw velden; de toegang geldt voor {purpose} tot {date}.",
    token: "Token voor de toegang",
    once: "Kopieer dit token en geef het nu aan het bedrijf: het wordt niet nog eens getoond. Raakt het zoek, trek de toegang dan in en geef een nieuwe.",
    back: "Terug naar de toegang",
};

/// What the owner typed, to show again beside the messages.
#[derive(Default)]
struct Input {
    business: String,
    fields: HashSet<String>,
    contact: ContactInput,
    /// The right to add to its relationship record, ticked.
    append_record: bool,
    purpose: String,
    category: String,
    expires: String,
}

#[derive(Default)]
struct Errors {
    general: Option<String>,
    business: Option<String>,
    fields: Option<String>,
    contact: Option<String>,
    purpose: Option<String>,
    category: Option<String>,
    expires: Option<String>,
}

impl Errors {
    fn any(&self) -> bool {
        self.business.is_some()
            || self.fields.is_some()
            || self.contact.is_some()
            || self.purpose.is_some()
            || self.category.is_some()
            || self.expires.is_some()
    }
}

#[derive(Template)]
#[template(path = "dashboard/grants_new.html")]
struct FormPage {
    chrome: Chrome,
    t: &'static Texts,
    input: Input,
    errors: Errors,
    sections: Vec<Section>,
    truncated: Option<String>,
    expiry: Vec<Choice>,
    ct: &'static contactform::Texts,
    channels: Vec<ChannelCheck>,
    rt: &'static recordform::Texts,
}

#[derive(Template)]
#[template(path = "dashboard/grants_created.html")]
struct CreatedPage {
    chrome: Chrome,
    t: &'static Texts,
    id: String,
    sentence: String,
    token: String,
}

fn texts(lang: Lang) -> &'static Texts {
    lang.pick(&EN, &NL)
}

async fn render_form(
    dashboard: &Dashboard,
    owner: &SignedIn,
    status: StatusCode,
    input: Input,
    errors: Errors,
) -> Result<Response, PageError> {
    let lang = owner.lang;
    let t = texts(lang);
    let doc = dashboard.with_owner(|v| v.document()).await?;
    let (sections, cut) = tree(lang, &doc, &input.fields, t.everything_in);
    let expires = if input.expires.is_empty() {
        DEFAULT_EXPIRY
    } else {
        &input.expires
    };
    let expiry = expiry_choices(lang, expires, None);
    let form = FormPage {
        chrome: Chrome::new(owner, "grants", t.title, "/dashboard/grants/new"),
        t,
        ct: contactform::texts(lang),
        channels: channel_checks(lang, "", &input.contact, None),
        rt: recordform::texts(lang),
        truncated: cut.then(|| fill(t.truncated, &[("n", &MAX_CHECKBOXES.to_string())])),
        expiry,
        sections,
        input,
        errors,
    };
    page_with(status, &form)
}

pub async fn form(
    State(dashboard): State<Dashboard>,
    owner: SignedIn,
) -> Result<Response, PageError> {
    render_form(
        &dashboard,
        &owner,
        StatusCode::OK,
        Input::default(),
        Errors::default(),
    )
    .await
}

/// Checks every part of the form, so each message stands by its own field.
fn check(lang: Lang, input: &Input, ticked: &[&str]) -> Result<GrantRequest, Box<Errors>> {
    let t = texts(lang);
    let mut errors = Errors::default();
    let audience = BusinessId::parse(&input.business)
        .map_err(|e| errors.business = Some(e.to_string()))
        .ok();
    let mut fields = Vec::new();
    for text in ticked {
        match Pointer::parse(text).and_then(|p| document::validate_pointer(&p).map(|()| p)) {
            Ok(p) => fields.push(p),
            Err(e) => errors.fields = Some(e.to_string()),
        }
    }
    let contact = input
        .contact
        .right()
        .map_err(|e| errors.contact = Some(e))
        .ok()
        .flatten();
    if ticked.is_empty() && contact.is_none() && !input.append_record && errors.contact.is_none() {
        errors.fields = Some(t.no_fields.to_owned());
    } else if kluis_core::grant::normalize(fields.clone()).len() > MAX_FIELDS {
        errors.fields = Some(fill(t.too_many, &[("n", &MAX_FIELDS.to_string())]));
    }
    let purpose = input.purpose.trim();
    if purpose.is_empty() || purpose.chars().count() > 200 {
        errors.purpose = Some("a grant needs a purpose of 1 to 200 characters".to_owned());
    }
    let category = (!input.category.is_empty()).then(|| input.category.clone());
    let category = check_purpose_category(category)
        .map_err(|e| errors.category = Some(e.to_string()))
        .ok()
        .flatten();
    let lifetime = parse_expiry(&input.expires)
        .map_err(|e| errors.expires = Some(e))
        .ok();
    match (audience, lifetime) {
        (Some(audience), Some(lifetime_secs)) if !errors.any() => Ok(GrantRequest {
            audience,
            fields,
            purpose: purpose.to_owned(),
            purpose_category: category,
            lifetime_secs,
            key_thumbprint: None,
            contact,
            append_record: input.append_record,
        }),
        _ => Err(Box::new(errors)),
    }
}

#[tracing::instrument(skip_all)]
pub async fn submit(
    State(dashboard): State<Dashboard>,
    posted: Posted,
) -> Result<Response, PageError> {
    let Posted { owner, form } = posted;
    let lang = owner.lang;
    let t = texts(lang);
    let text = |name: &str| form.text(name).unwrap_or_default().to_owned();
    let ticked = form.all("field");
    let input = Input {
        business: text("business"),
        fields: ticked.iter().map(|f| (*f).to_owned()).collect(),
        contact: ContactInput::of(&form),
        append_record: recordform::ticked(&form),
        purpose: text("purpose"),
        category: text("category"),
        expires: form
            .text("expires")
            .map_or_else(|| DEFAULT_EXPIRY.to_owned(), str::to_owned),
    };
    let request = match check(lang, &input, &ticked) {
        Ok(request) => request,
        Err(mut errors) => {
            errors.general = Some(t.not_saved.to_owned());
            return render_form(&dashboard, &owner, StatusCode::BAD_REQUEST, input, *errors).await;
        }
    };
    let created = dashboard
        .with_owner(move |v| Ok(v.owner(Via::Dashboard).create_grant(request)))
        .await?;
    let (grant, token) = match created {
        Ok(done) => done,
        Err(StoreError::Invalid(e)) => {
            let errors = Errors {
                general: Some(e.to_string()),
                ..Errors::default()
            };
            return render_form(&dashboard, &owner, StatusCode::BAD_REQUEST, input, errors).await;
        }
        Err(other) => return Err(other.into()),
    };
    tracing::info!(grant.id = %grant.id, "grant created from the dashboard");
    let mut sentence = fill(
        if grant.fields.is_empty() {
            t.created_contact
        } else {
            t.created
        },
        &[
            ("business", grant.audience.as_str()),
            ("fields", &words::fields(lang, &grant.fields)),
            ("purpose", &grant.purpose),
            ("date", &date(lang, grant.expires_at)),
        ],
    );
    if let Some(right) = &grant.contact {
        sentence = format!(
            "{sentence} {} {}.",
            grant.audience,
            contactform::right_words(lang, right)
        );
    }
    if grant.append_record {
        sentence = format!(
            "{sentence} {} {}.",
            grant.audience,
            recordform::texts(lang).may
        );
    }
    page(&CreatedPage {
        chrome: Chrome::new(&owner, "grants", t.created_title, "/dashboard/grants"),
        t,
        id: grant.id.to_string(),
        sentence,
        token,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_mistake_is_named_at_its_field() {
        let input = Input {
            business: "web shop".into(),
            purpose: " ".into(),
            category: "a\nb".into(),
            expires: "soon".into(),
            ..Input::default()
        };
        let errors = check(Lang::En, &input, &[]).err().unwrap();
        assert!(errors.business.unwrap().contains("business id"));
        assert_eq!(errors.fields.as_deref(), Some(EN.no_fields));
        assert!(errors.purpose.unwrap().contains("purpose"));
        assert!(errors.category.unwrap().contains("category"));
        assert!(errors.expires.unwrap().contains("duration"));

        let good = Input {
            business: "webshop.example".into(),
            purpose: "order delivery".into(),
            expires: "7d".into(),
            ..Input::default()
        };
        let request = check(Lang::En, &good, &["/profile/email"]).ok().unwrap();
        assert_eq!(request.lifetime_secs, 7 * 86_400);
        assert_eq!(request.purpose_category, None);
        assert!(!request.append_record);
        // The right to add to its record alone is enough.
        let append = Input {
            append_record: true,
            ..good
        };
        let request = check(Lang::En, &append, &[]).ok().unwrap();
        assert!(request.append_record && request.fields.is_empty());
        let good = Input {
            append_record: false,
            ..append
        };
        assert!(check(Lang::En, &good, &["/profile/nonsense"]).is_err());
    }
}
