//! A grant's read budget on the dashboard over HTTP against a real server: the card shows it
//! with the day's reads, the form sets it (bad input refused with nothing changed, a revoked
//! grant refused), and the grant API applies it to the next read.

mod common;
#[path = "common/html.rs"]
mod html;

use common::Dash;
use html::{attr, control, tag, text_of, value_of};
use kluis_core::Pointer;
use kluis_core::access::{Action, Actor};
use kluis_core::grant::{BusinessId, GrantId, GrantRequest};
use kluis_store::unix_now;
use reqwest::StatusCode;

/// A grant to webshop.example made directly in the vault: its id and token.
fn arrange_grant(dash: &Dash) -> (GrantId, String) {
    let (grant, token) = dash
        .vault
        .create_grant(
            GrantRequest {
                audience: BusinessId::parse("webshop.example").unwrap(),
                fields: vec![Pointer::parse("/profile/email").unwrap()],
                purpose: "orders".into(),
                purpose_category: None,
                lifetime_secs: 7 * 86_400,
                key_thumbprint: None,
                append_record: false,
                contact: None,
            },
            unix_now(),
        )
        .unwrap();
    (grant.id, token)
}

async fn read(dash: &Dash, token: &str) -> StatusCode {
    dash.http
        .get(format!("{}/v1/data", dash.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
}

fn budget_of(dash: &Dash, id: &GrantId) -> Option<u32> {
    dash.vault
        .grant_state(id.as_str())
        .unwrap()
        .unwrap()
        .read_budget
}

fn budget_events(dash: &Dash) -> usize {
    dash.vault
        .log_entries()
        .unwrap()
        .iter()
        .filter(|e| {
            e.record.actor == Actor::OwnerDashboard && e.record.action == Action::GrantBudget
        })
        .count()
}

#[tokio::test]
async fn the_budget_form_sets_what_the_next_read_is_held_to() {
    let dash = Dash::signed_in().await;
    let (id, token) = arrange_grant(&dash);
    assert_eq!(read(&dash, &token).await, StatusCode::OK);

    let (_, list) = dash.get("/dashboard/grants").await;
    assert!(
        list.contains("10000 reads a day (the default) · 1 read today"),
        "{list}"
    );
    let path = format!("/dashboard/grants/{id}/budget");
    assert!(list.contains(&format!("href=\"{path}\"")), "{list}");

    let (status, form) = dash.get(&path).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        value_of(&form, "Reads a day"),
        "",
        "the default: nothing typed"
    );
    assert!(form.contains("today it read them once"), "{form}");

    // Bad budgets: refused next to the field, what was typed kept, nothing changed.
    for bad in ["0", "10000001", "lots", ""] {
        let (status, _, refused) = dash.post(&path, &[("reads_per_day", bad)]).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        let field = control(&refused, "Reads a day");
        assert_eq!(
            attr(tag(&refused, &field).unwrap(), "aria-invalid").as_deref(),
            Some("true")
        );
        assert!(
            text_of(&refused, "reads_per_day-error")
                .unwrap()
                .contains("1 to 10000000"),
            "{bad}: {refused}"
        );
        assert_eq!(value_of(&refused, "Reads a day"), bad);
    }
    assert_eq!(budget_of(&dash, &id), None);
    assert_eq!(budget_events(&dash), 0);
    // Without the session's CSRF token: refused, nothing changed.
    let (status, _, _) = dash
        .post_raw(&path, &[("reads_per_day", "2")], Some(&dash.base))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(budget_of(&dash, &id), None);

    let (status, location, _) = dash.post(&path, &[("reads_per_day", "2")]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let location = location.unwrap();
    assert_eq!(location, format!("/dashboard/grants?budget={id}#{id}"));
    assert_eq!(budget_of(&dash, &id), Some(2));
    assert_eq!(budget_events(&dash), 1);
    let (_, list) = dash.get(&location).await;
    assert!(
        list.contains("Read budget of webshop.example set to 2 reads a day."),
        "{list}"
    );
    // One read was made today: one more is served, then 429.
    assert_eq!(read(&dash, &token).await, StatusCode::OK);
    assert_eq!(read(&dash, &token).await, StatusCode::TOO_MANY_REQUESTS);
    let (_, list) = dash.get("/dashboard/grants").await;
    assert!(list.contains("2 reads a day · 2 read today"), "{list}");
    let (_, form) = dash.get(&path).await;
    assert_eq!(value_of(&form, "Reads a day"), "2");

    // The same again changes nothing; in Dutch the card says it in Dutch.
    let (_, location, _) = dash.post(&path, &[("reads_per_day", "2")]).await;
    assert_eq!(
        location.unwrap(),
        format!("/dashboard/grants?budget={id}&same=1#{id}")
    );
    assert_eq!(budget_events(&dash), 1);
    let dutch = dash
        .http
        .get(format!("{}/dashboard/grants", dash.base))
        .header("accept-language", "nl")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        dutch.contains("2 keer per dag · vandaag 2 keer gelezen"),
        "{dutch}"
    );

    // Back to the default with its own button: the next read is served again.
    let (status, _, _) = dash
        .post(&path, &[("reads_per_day", "2"), ("default", "1")])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(budget_of(&dash, &id), None);
    assert_eq!(read(&dash, &token).await, StatusCode::OK);

    // A revoked grant's budget cannot be set: 409, no form, nothing changed.
    dash.post(&format!("/dashboard/grants/{id}/revoke"), &[])
        .await;
    let (status, page) = dash.get(&path).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(page.contains("no longer active"), "{page}");
    let (status, _, _) = dash.post(&path, &[("reads_per_day", "9")]).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(budget_of(&dash, &id), None);
    assert_eq!(
        dash.get("/dashboard/grants/g_aaaaaaaaaaaaaaaaaaaaaaaaaa/budget")
            .await
            .0,
        StatusCode::NOT_FOUND
    );
}
