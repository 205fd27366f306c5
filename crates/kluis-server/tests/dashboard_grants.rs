//! The grants pages over HTTP against a real server: giving access (the token shown once, for
//! exactly the ticked fields), refusing bad input, revoking after a confirmation, narrowing,
//! and a business's text escaped.

mod common;
#[path = "common/html.rs"]
mod html;

use common::Dash;
use html::{attr, control, labelled, shows_as_text, tag, text_of, value_of};
use kluis_core::Pointer;
use kluis_core::access::{Action, Actor};
use kluis_core::grant::{BusinessId, GrantRequest};
use kluis_store::unix_now;
use reqwest::StatusCode;
use serde_json::Value;

/// A form's name-value pairs.
type Pairs = [(&'static str, &'static str)];

/// `GET /v1/data` with `token`: status and body.
async fn read(dash: &Dash, token: &str) -> (StatusCode, Value) {
    let response = dash
        .http
        .get(format!("{}/v1/data", dash.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Every leaf pointer of a JSON document, sorted.
fn leaves(doc: &Value) -> Vec<String> {
    let mut out = Vec::new();
    kluis_core::pointer::leaves(&Pointer::root(), doc, &mut out);
    let mut pointers: Vec<String> = out.into_iter().map(|(p, _)| p.to_string()).collect();
    pointers.sort();
    pointers
}

/// A grant made directly in the vault, as `kluis grant create` would: its id and token.
fn arrange_grant(dash: &Dash, fields: &[&str], purpose: &str) -> (String, String) {
    let (grant, token) = dash
        .vault
        .create_grant(
            GrantRequest {
                audience: BusinessId::parse("webshop.example").unwrap(),
                fields: fields.iter().map(|f| Pointer::parse(f).unwrap()).collect(),
                purpose: purpose.into(),
                purpose_category: None,
                lifetime_secs: 7 * 86_400,
                key_thumbprint: None,
                append_record: false,
                contact: None,
            },
            unix_now(),
        )
        .unwrap();
    (grant.id.to_string(), token)
}

fn owner_events(dash: &Dash) -> Vec<(Action, Option<String>)> {
    dash.vault
        .log_entries()
        .unwrap()
        .into_iter()
        .filter(|e| e.record.actor == Actor::OwnerDashboard)
        .map(|e| (e.record.action, e.record.grant.map(|g| g.to_string())))
        .collect()
}

#[tokio::test]
async fn a_new_grant_shows_its_token_once_for_exactly_the_ticked_fields() {
    let dash = Dash::signed_in().await;
    let (status, form) = dash.get("/dashboard/grants/new").await;
    assert_eq!(status, StatusCode::OK);
    // Every control has its label; the fields come from the document, by section.
    for label in [
        "Business",
        "Purpose",
        "Category (optional)",
        "Expires after",
    ] {
        control(&form, label);
    }
    for legend in ["Profile", "Preferences", "Custom fields"] {
        assert!(
            form.contains(&format!("<legend>{legend}</legend>")),
            "{legend}"
        );
    }
    let email = value_of(&form, "e-mail");
    let phone = value_of(&form, "phone number");
    let locality = value_of(&form, "locality");
    assert_eq!(
        (email.as_str(), phone.as_str(), locality.as_str()),
        (
            "/profile/email",
            "/profile/phone_number",
            "/profile/address/locality"
        )
    );
    let whole_profile = value_of(&form, "Everything in profile");
    assert_eq!(whole_profile, "/profile");
    let expires = control(&form, "Expires after");
    let select_at = form.find(&format!("id=\"{expires}\"")).unwrap();
    let options = &form[select_at..select_at + form[select_at..].find("</select>").unwrap()];
    assert!(
        options.contains(r#"<option value="30d" selected>30 days</option>"#),
        "{options}"
    );

    let response = dash
        .http
        .post(format!("{}/dashboard/grants/new", dash.base))
        .header("origin", &dash.base)
        .form(&[
            ("business", "webshop.example"),
            ("field", email.as_str()),
            ("field", phone.as_str()),
            ("field", locality.as_str()),
            ("purpose", "order delivery"),
            ("category", "contract"),
            ("expires", "7d"),
            ("csrf", dash.csrf.as_deref().unwrap()),
        ])
        .send()
        .await
        .unwrap();
    // The answer to the POST itself, never a redirect (the token must not enter a URL).
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let created = response.text().await.unwrap();
    let token_id = control(&created, "Grant token");
    let textarea = tag(&created, &token_id).unwrap();
    assert!(textarea.starts_with("<textarea"), "{textarea}");
    assert!(attr(textarea, "readonly").is_some(), "{textarea}");
    assert!(attr(textarea, "class").unwrap().contains("token"));
    assert!(created.contains("will not be shown again"), "{created}");
    let token = text_of(&created, &token_id).unwrap();
    assert_eq!(token.split('.').count(), 3, "a compact JWS: {token}");

    // The token reads exactly the ticked fields, nothing more.
    let (status, body) = read(&dash, &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        leaves(&body),
        [
            "/profile/address/locality",
            "/profile/email",
            "/profile/phone_number"
        ]
    );
    let grants = dash.vault.grants().unwrap();
    assert_eq!(grants.len(), 1);
    let grant = &grants[0];
    assert_eq!(grant.audience.as_str(), "webshop.example");
    assert_eq!(grant.purpose_category.as_deref(), Some("contract"));
    assert_eq!(grant.expires_at - grant.issued_at, 7 * 86_400);
    assert_eq!(
        owner_events(&dash),
        [
            (Action::SignIn, None),
            (Action::GrantCreate, Some(grant.id.to_string()))
        ]
    );

    // Shown once: the list (anchored by the grant's id) and the form do not hold it.
    let (_, list) = dash.get("/dashboard/grants").await;
    assert!(
        tag(&list, grant.id.as_str()).unwrap().starts_with("<li"),
        "{list}"
    );
    assert!(list.contains("order delivery"));
    for path in ["/dashboard/grants", "/dashboard/grants/new", "/dashboard/"] {
        let (_, page) = dash.get(path).await;
        assert!(!page.contains(&token), "{path} shows the token again");
    }
}

#[tokio::test]
async fn bad_input_is_refused_at_its_field_and_nothing_is_stored() {
    let dash = Dash::signed_in().await;
    // (the form, the error's id, words of the message)
    let cases: [(&Pairs, &str, &str); 4] = [
        (
            &[
                ("business", "webshop.example"),
                ("purpose", "order delivery"),
            ],
            "fields-error",
            "Tick at least one field",
        ),
        (
            &[
                ("business", "web shop<b>"),
                ("field", "/profile/email"),
                ("purpose", "order delivery"),
            ],
            "business-error",
            "is not a business id",
        ),
        (
            &[
                ("business", "webshop.example"),
                ("field", "/profile/email"),
                ("purpose", " "),
            ],
            "purpose-error",
            "purpose of 1 to 200 characters",
        ),
        (
            &[
                ("business", "webshop.example"),
                ("field", "/profile/email"),
                ("purpose", "order delivery"),
                ("expires", "400d"),
            ],
            "expires-error",
            "at most a year",
        ),
    ];
    for (pairs, error_id, message) in cases {
        let (status, location, page) = dash.post("/dashboard/grants/new", pairs).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{pairs:?}");
        assert_eq!(location, None);
        let error = text_of(&page, error_id).unwrap_or_else(|| panic!("no {error_id}: {page}"));
        assert!(error.contains(message), "{error}");
        // The message is tied to its control, and what was typed is kept (escaped).
        assert!(
            page.contains(&format!(" {error_id}\"")) || page.contains(&format!("\"{error_id}\"")),
            "{error_id} is referenced by aria-describedby"
        );
        let business = pairs.iter().find(|(k, _)| *k == "business").unwrap().1;
        assert_eq!(value_of(&page, "Business"), business);
        assert!(!page.contains("<b>"), "typed text is escaped");
    }
    // The box ticked before stays ticked.
    let (_, _, page) = dash
        .post(
            "/dashboard/grants/new",
            &[
                ("business", "web shop"),
                ("field", "/profile/email"),
                ("purpose", "x"),
            ],
        )
        .await;
    let email = control(&page, "e-mail");
    assert!(attr(tag(&page, &email).unwrap(), "checked").is_some());

    assert!(dash.vault.grants().unwrap().is_empty(), "nothing stored");
    assert!(
        !owner_events(&dash)
            .iter()
            .any(|(a, _)| *a == Action::GrantCreate),
        "nothing logged"
    );
}

#[tokio::test]
async fn revoking_asks_first_then_ends_the_token_and_is_logged() {
    let dash = Dash::signed_in().await;
    let (id, token) = arrange_grant(&dash, &["/profile/email", "/profile/address"], "orders");
    assert_eq!(read(&dash, &token).await.0, StatusCode::OK);

    let (_, list) = dash.get("/dashboard/grants").await;
    let card = &list[list.find(&format!("<li id=\"{id}\">")).unwrap()..];
    let card = &card[..card.find("</li>").unwrap()];
    assert!(card.contains("active"), "{card}");
    assert!(
        card.contains("once") || card.contains("1 time"),
        "one read: {card}"
    );
    let confirm = format!("/dashboard/grants/{id}/revoke");
    assert!(card.contains(&format!("href=\"{confirm}\"")), "{card}");
    assert!(card.contains("Revoke…"));

    // The confirmation page changes nothing by itself.
    let (status, page) = dash.get(&confirm).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("webshop.example will no longer be able to read your address and e-mail"),
        "{page}"
    );
    assert!(page.contains(r#"<button type="submit" class="danger">Revoke access</button>"#));
    assert!(page.contains(&format!(
        "href=\"/dashboard/grants?grant={id}#{id}\">Cancel</a>"
    )));
    assert_eq!(read(&dash, &token).await.0, StatusCode::OK);

    let (status, location, _) = dash.post(&confirm, &[]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let location = location.unwrap();
    assert_eq!(location, format!("/dashboard/grants?revoked={id}#{id}"));
    assert_eq!(read(&dash, &token).await.0, StatusCode::UNAUTHORIZED);
    let (_, list) = dash.get(&location).await;
    assert!(
        list.contains("Revoked: webshop.example can no longer read your address and e-mail."),
        "{list}"
    );
    let ended = &list[list.find("id=\"ended\"").unwrap()..];
    assert!(ended.contains(&format!("<li id=\"{id}\">")), "listed below");
    assert!(
        !list.contains(&format!("href=\"{confirm}\"")),
        "no revoke for a revoked grant"
    );

    let revokes: Vec<_> = owner_events(&dash)
        .into_iter()
        .filter(|(a, _)| *a == Action::GrantRevoke)
        .collect();
    assert_eq!(revokes, [(Action::GrantRevoke, Some(id.clone()))]);

    // Again: nothing more happens, nothing more is logged.
    let (status, location, _) = dash.post(&confirm, &[]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(location.unwrap().contains("already=1"));
    let (_, page) = dash.get(&confirm).await;
    assert!(page.contains("already revoked"), "{page}");
    assert!(!page.contains("<button type=\"submit\" class=\"danger\">"));
    assert_eq!(
        owner_events(&dash)
            .iter()
            .filter(|(a, _)| *a == Action::GrantRevoke)
            .count(),
        1
    );
    // Unknown and malformed grants: a 404 page.
    assert_eq!(
        dash.get("/dashboard/grants/g_aaaaaaaaaaaaaaaaaaaaaaaaaa/revoke")
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        dash.post("/dashboard/grants/nonsense/revoke", &[]).await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn narrowing_drops_a_field_and_the_same_token_reads_the_rest() {
    let dash = Dash::signed_in().await;
    let fields = [
        "/profile/email",
        "/profile/address",
        "/profile/phone_number",
    ];
    let (id, token) = arrange_grant(&dash, &fields, "orders");
    let path = format!("/dashboard/grants/{id}/narrow");
    let (status, page) = dash.get(&path).await;
    assert_eq!(status, StatusCode::OK);
    for label in ["e-mail", "address", "phone number"] {
        let boxed = control(&page, label);
        assert!(
            attr(tag(&page, &boxed).unwrap(), "checked").is_some(),
            "{label} ticked"
        );
    }
    let phone = value_of(&page, "phone number");
    assert_eq!(phone, "/profile/phone_number");

    // Nothing kept, or nothing dropped: refused with the store's words, nothing changed.
    let (status, _, refused) = dash.post(&path, &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        text_of(&refused, "keep-error")
            .unwrap()
            .contains("keep at least one field")
    );
    let all: Vec<(&str, &str)> = fields.iter().map(|f| ("keep", *f)).collect();
    let (status, _, refused) = dash.post(&path, &all).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        refused.contains("already covers exactly these fields"),
        "{refused}"
    );
    assert_eq!(dash.vault.grants().unwrap()[0].fields.len(), 3);

    let (status, location, _) = dash
        .post(
            &path,
            &[("keep", "/profile/email"), ("keep", "/profile/address")],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let location = location.unwrap();
    assert_eq!(location, format!("/dashboard/grants?narrowed={id}#{id}"));
    let (status, body) = read(&dash, &token).await;
    assert_eq!(status, StatusCode::OK);
    let read_fields = leaves(&body);
    assert!(
        read_fields.contains(&"/profile/email".to_owned()),
        "{read_fields:?}"
    );
    assert!(
        read_fields
            .iter()
            .any(|f| f.starts_with("/profile/address/"))
    );
    assert!(
        !read_fields
            .iter()
            .any(|f| f.starts_with("/profile/phone_number"))
    );
    let (_, list) = dash.get(&location).await;
    assert!(
        list.contains("Narrowed: webshop.example can now read only your address and e-mail"),
        "{list}"
    );
    assert!(owner_events(&dash).contains(&(Action::GrantNarrow, Some(id.clone()))));

    // A revoked grant cannot be narrowed: 409, and no form.
    dash.post(&format!("/dashboard/grants/{id}/revoke"), &[])
        .await;
    let (status, page) = dash.get(&path).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(page.contains("no longer active"), "{page}");
    assert!(labelled(&page, "e-mail").is_empty());
    let (status, _, _) = dash.post(&path, &[("keep", "/profile/email")]).await;
    assert_eq!(status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn a_purpose_with_markup_is_shown_as_text() {
    let dash = Dash::signed_in().await;
    let evil = "<script>alert(1)</script>";
    let (status, _, created) = dash
        .post(
            "/dashboard/grants/new",
            &[
                ("business", "webshop.example"),
                ("field", "/profile/email"),
                ("purpose", evil),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let (_, list) = dash.get("/dashboard/grants").await;
    // Also one made elsewhere (the CLI), listed beside it.
    arrange_grant(&dash, &["/profile/email"], evil);
    for page in [created, list, dash.get("/dashboard/grants").await.1] {
        assert!(shows_as_text(&page, evil), "{page}");
    }
    let grant = &dash.vault.grants().unwrap()[0];
    let (_, confirm) = dash
        .get(&format!("/dashboard/grants/{}/revoke", grant.id))
        .await;
    assert!(shows_as_text(&confirm, evil), "{confirm}");
}

#[tokio::test]
async fn many_grants_come_in_pages_and_the_overview_stays_short() {
    let dash = Dash::signed_in().await;
    let ids: Vec<String> = dash
        .vault
        .in_transaction(|v| {
            (0..120)
                .map(|i| {
                    let (grant, _) = v.create_grant(
                        GrantRequest {
                            audience: BusinessId::parse(&format!("shop-{i}.example")).unwrap(),
                            fields: vec![Pointer::parse("/profile/email").unwrap()],
                            purpose: "newsletters".into(),
                            purpose_category: None,
                            lifetime_secs: 86_400,
                            key_thumbprint: None,
                            append_record: false,
                            contact: None,
                        },
                        unix_now(),
                    )?;
                    Ok(grant.id.to_string())
                })
                .collect()
        })
        .unwrap();
    // Every grant on exactly one page, following the "Older grants" links.
    let mut seen = Vec::new();
    let mut path = "/dashboard/grants".to_owned();
    loop {
        let (status, page) = dash.get(&path).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            page.len() < 100_000,
            "a page of the list stays small: {}",
            page.len()
        );
        seen.extend(
            ids.iter()
                .filter(|id| page.contains(&format!("<li id=\"{id}\">")))
                .cloned(),
        );
        let Some(at) = page.find("\">Older grants</a>") else {
            break;
        };
        let href = &page[..at];
        path = href[href.rfind("href=\"").unwrap() + 6..].replace("&amp;", "&");
    }
    seen.sort();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(seen, expected);
    // `?grant=` opens the page that holds it.
    let last = &ids[0];
    let (_, page) = dash.get(&format!("/dashboard/grants?grant={last}")).await;
    assert!(
        page.contains(&format!("<li id=\"{last}\">")),
        "the grant's own page"
    );
    // The overview lists 20 and says how many more there are.
    let (_, overview) = dash.get("/dashboard/").await;
    assert_eq!(
        overview.matches("/dashboard/grants?grant=").count(),
        20,
        "{overview}"
    );
    assert!(
        overview.contains("and 100 more: see every grant"),
        "{overview}"
    );
    assert!(overview.len() < 100_000, "{}", overview.len());
}

#[tokio::test]
async fn the_list_follows_changes_made_elsewhere() {
    let dash = Dash::signed_in().await;
    let (id, _) = arrange_grant(&dash, &["/profile/email"], "receipts");
    let (_, before) = dash.get("/dashboard/grants").await;
    assert!(before.contains(&format!("<li id=\"{id}\">")), "listed");
    // Revoked by another connection (the `kluis` command): the next page says so.
    let grant = kluis_core::grant::GrantId::parse(&id).unwrap();
    dash.vault.revoke_grant(&grant, unix_now()).unwrap();
    let (_, after) = dash.get("/dashboard/grants").await;
    let ended = &after[after.find("id=\"ended\"").expect("an ended section")..];
    assert!(ended.contains(&format!("<li id=\"{id}\">")), "{after}");
    // And a new one appears.
    let (other, _) = arrange_grant(&dash, &["/profile/name"], "greetings");
    let (_, again) = dash.get("/dashboard/").await;
    assert!(again.contains(&other), "{again}");
}
