//! The consent receipts page: one Kantara Consent Receipt 1.1 per approved access request,
//! listed with whether the consent still holds; each shown decoded (controller, purposes,
//! fields, time of consent, the signing key) and downloadable as the signed compact JWS.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use kluis_core::Pointer;
use kluis_core::grant::Status;
use kluis_core::receipt::ReceiptId;
use kluis_store::{StoredReceipt, unix_now};

use super::error::PageError;
use super::grants::shared::{field_label, fill, status_word};
use super::i18n::Lang;
use super::render::{Chrome, date, date_time, page};
use super::session::SignedIn;
use super::{Dashboard, words};

pub fn router() -> Router<Dashboard> {
    Router::new()
        .route("/dashboard/receipts", get(list))
        .route("/dashboard/receipts/{id}", get(show))
        .route("/dashboard/receipts/{id}/download", get(download))
}

pub struct Texts {
    pub title: &'static str,
    pub intro: &'static str,
    pub none: &'static str,
    pub consented: &'static str,
    pub view: &'static str,
    pub receipt_title: &'static str,
    pub controller: &'static str,
    pub contact: &'static str,
    pub email: &'static str,
    pub address: &'static str,
    pub phone: &'static str,
    pub purposes: &'static str,
    pub category: &'static str,
    pub consent_type: &'static str,
    pub fields: &'static str,
    pub termination: &'static str,
    pub consent_time: &'static str,
    pub grant: &'static str,
    pub signed: &'static str,
    pub signed_by: &'static str,
    pub download: &'static str,
    pub back: &'static str,
    pub holds: &'static str,
    pub ended: &'static str,
    pub not_found: &'static str,
}

const EN: Texts = Texts {
    title: "Consent receipts",
    intro: "Each time you approve a business's request, the vault signs a receipt of what you agreed to (Kantara Consent Receipt 1.1). Its signature was checked with the vault's key.",
    none: "There are no receipts yet: approving an access request makes one.",
    consented: "consented {date}",
    view: "View the receipt",
    receipt_title: "Consent receipt",
    controller: "Given to",
    contact: "Contact",
    email: "E-mail",
    address: "Postal address",
    phone: "Phone",
    purposes: "Purposes",
    category: "Category",
    consent_type: "Consent",
    fields: "Fields",
    termination: "Ends",
    consent_time: "Consented on",
    grant: "The grant now",
    signed: "Signature",
    signed_by: "Signed by the vault's key {kid}, and checked.",
    download: "Download the signed receipt (.jws)",
    back: "Back to the receipts",
    holds: "the consent holds: {status} until {date}",
    ended: "the consent ended: {status} on {date}",
    not_found: "There is no receipt {id}.",
};

const NL: Texts = Texts {
    title: "Toestemmingsbewijzen",
    intro: "Telkens als u het verzoek van een bedrijf goedkeurt, ondertekent de kluis een bewijs van waarmee u instemde (Kantara Consent Receipt 1.1). De handtekening is gecontroleerd met de sleutel van de kluis.",
    none: "Er zijn nog geen bewijzen: een verzoek goedkeuren maakt er een.",
    consented: "toestemming {date}",
    view: "Het bewijs bekijken",
    receipt_title: "Toestemmingsbewijs",
    controller: "Gegeven aan",
    contact: "Contact",
    email: "E-mail",
    address: "Postadres",
    phone: "Telefoon",
    purposes: "Doelen",
    category: "Soort",
    consent_type: "Toestemming",
    fields: "Velden",
    termination: "Eindigt",
    consent_time: "Toestemming op",
    grant: "De toegang nu",
    signed: "Handtekening",
    signed_by: "Ondertekend met sleutel {kid} van de kluis, en gecontroleerd.",
    download: "Het ondertekende bewijs downloaden (.jws)",
    back: "Terug naar de bewijzen",
    holds: "de toestemming geldt: {status} tot {date}",
    ended: "de toestemming is beëindigd: {status} op {date}",
    not_found: "Er is geen bewijs {id}.",
};

fn texts(lang: Lang) -> &'static Texts {
    lang.pick(&EN, &NL)
}

struct Line {
    id: String,
    business: String,
    purpose: String,
    fields: String,
    consented: String,
    state: String,
    state_class: &'static str,
}

#[derive(Template)]
#[template(path = "dashboard/receipts.html")]
struct ListPage {
    chrome: Chrome,
    t: &'static Texts,
    lines: Vec<Line>,
}

/// Whether the consent a receipt records still holds, in words, and its colour.
fn state(lang: Lang, r: &StoredReceipt, now: i64) -> (String, &'static str) {
    let t = texts(lang);
    let grant = &r.grant;
    let status = grant.status(now);
    let (word, class) = status_word(lang, status);
    let (template, at) = match status {
        Status::Active => (t.holds, grant.expires_at),
        Status::Revoked => (t.ended, grant.revoked_at.unwrap_or(grant.expires_at)),
        Status::Expired => (t.ended, grant.expires_at),
    };
    (
        fill(template, &[("status", word), ("date", &date(lang, at))]),
        class,
    )
}

/// The business a receipt names, and its id.
fn business(r: &StoredReceipt) -> String {
    match r.receipt.pii_controllers.first() {
        Some(c) => format!("{} ({})", c.pii_controller, r.grant.audience),
        None => r.grant.audience.to_string(),
    }
}

async fn list(State(dashboard): State<Dashboard>, owner: SignedIn) -> Result<Response, PageError> {
    let lang = owner.lang;
    let t = texts(lang);
    let now = unix_now();
    let receipts = dashboard.with_owner(|v| v.receipts()).await?;
    let lines = receipts
        .iter()
        .map(|r| {
            let (state, state_class) = state(lang, r, now);
            Line {
                id: r.id.to_string(),
                business: business(r),
                purpose: r.grant.purpose.clone(),
                fields: words::fields(lang, &r.grant.fields),
                consented: fill(
                    t.consented,
                    &[("date", &date_time(lang, r.receipt.consent_timestamp))],
                ),
                state,
                state_class,
            }
        })
        .collect();
    page(&ListPage {
        chrome: Chrome::new(&owner, "receipts", t.title, "/dashboard/receipts"),
        t,
        lines,
    })
}

/// One field of a purpose: its name and pointer.
struct Field {
    label: String,
    pointer: String,
}

struct PurposeView {
    purpose: String,
    category: String,
    consent_type: String,
    fields: Vec<Field>,
    termination: String,
}

#[derive(Template)]
#[template(path = "dashboard/receipt.html")]
struct ReceiptPage {
    chrome: Chrome,
    t: &'static Texts,
    id: String,
    controller: String,
    contact: Option<String>,
    email: Option<String>,
    address: Option<String>,
    phone: Option<String>,
    purposes: Vec<PurposeView>,
    consented: String,
    grant_id: String,
    state: String,
    state_class: &'static str,
    signed_by: String,
}

/// The receipt `id`, or a 404 page.
async fn find(dashboard: &Dashboard, lang: Lang, id: &str) -> Result<StoredReceipt, PageError> {
    let missing = || PageError::NotFound(fill(texts(lang).not_found, &[("id", id)]));
    let id = ReceiptId::parse(id).map_err(|_| missing())?;
    let receipts = dashboard.with_owner(|v| v.receipts()).await?;
    receipts
        .into_iter()
        .find(|r| r.id == id)
        .ok_or_else(missing)
}

/// The `kid` in a compact JWS's protected header (already verified by the store).
fn kid(jws: &str) -> Option<String> {
    let header = jws.split('.').next()?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .ok()?;
    let header: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    header.get("kid")?.as_str().map(str::to_owned)
}

async fn show(
    State(dashboard): State<Dashboard>,
    owner: SignedIn,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let lang = owner.lang;
    let t = texts(lang);
    let r = find(&dashboard, lang, &id).await?;
    let (state, state_class) = state(lang, &r, unix_now());
    let controller = r.receipt.pii_controllers.first();
    let purposes = r
        .receipt
        .services
        .iter()
        .flat_map(|s| &s.purposes)
        .map(|p| PurposeView {
            purpose: p.purpose.clone(),
            category: p.purpose_category.join(", "),
            consent_type: p.consent_type.clone(),
            fields: p
                .pii_category
                .iter()
                .map(|text| Field {
                    label: Pointer::parse(text)
                        .map_or_else(|_| text.clone(), |p| field_label(lang, &p)),
                    pointer: text.clone(),
                })
                .collect(),
            termination: p.termination.clone(),
        })
        .collect();
    let here = format!("/dashboard/receipts/{}", r.id);
    page(&ReceiptPage {
        chrome: Chrome::new(&owner, "receipts", t.receipt_title, &here),
        t,
        id: r.id.to_string(),
        controller: business(&r),
        contact: controller.map(|c| c.contact.clone()),
        email: controller.and_then(|c| c.email.clone()),
        address: controller.and_then(|c| c.address.clone()),
        phone: controller.and_then(|c| c.phone.clone()),
        purposes,
        consented: date_time(lang, r.receipt.consent_timestamp),
        grant_id: r.grant_id.to_string(),
        state,
        state_class,
        signed_by: fill(
            t.signed_by,
            &[("kid", &kid(&r.jws).unwrap_or_else(|| "?".to_owned()))],
        ),
    })
}

async fn download(
    State(dashboard): State<Dashboard>,
    owner: SignedIn,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let r = find(&dashboard, owner.lang, &id).await?;
    // The id is a checked UUID, so it is safe inside the quoted file name.
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{}.jws\"", r.id))
        .map_err(PageError::internal)?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/jose"),
            ),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        r.jws,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kid_comes_from_the_protected_header() {
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let jws = format!("{}.{}.sig", b64(r#"{"alg":"EdDSA","kid":"k1"}"#), b64("{}"));
        assert_eq!(kid(&jws).as_deref(), Some("k1"));
        assert_eq!(kid("not a jws"), None);
        assert_eq!(kid(&format!("{}.x.y", b64(r#"{"alg":"EdDSA"}"#))), None);
    }
}
