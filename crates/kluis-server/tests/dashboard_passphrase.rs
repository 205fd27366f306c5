//! Changing the passphrase on the dashboard: the current one, a strong new one typed twice.

mod common;

use common::{Dash, PASS};
use kluis_core::access::{Action, Actor};
use kluis_store::{Passphrase, StoreError, Vault};
use reqwest::StatusCode;

const NEW: &str = "tulp fiets regen molen zeventien";

#[tokio::test]
async fn a_weak_wrong_or_mistyped_change_changes_nothing() {
    let dash = Dash::signed_in().await;
    let (status, page) = dash.get("/dashboard/passphrase").await;
    assert_eq!(status, StatusCode::OK);
    for label in [
        "Current passphrase",
        "New passphrase",
        "New passphrase again",
    ] {
        assert!(page.contains(&format!(">{label}</label>")), "{label}");
    }
    let cases: [(&str, &str, &str, &str); 3] = [
        (PASS, "welkom123", "welkom123", "too weak"),
        (
            "not it at all, sorry",
            NEW,
            NEW,
            "not the current passphrase",
        ),
        (PASS, NEW, "tulp fiets regen molen", "differ"),
    ];
    for (current, new, repeat, why) in cases {
        let (status, _, page) = dash
            .post(
                "/dashboard/passphrase",
                &[("current", current), ("new", new), ("repeat", repeat)],
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{why}");
        assert!(page.contains(why), "{why}: {page}");
        assert!(page.contains("aria-invalid=\"true\""));
    }
    // Still the old passphrase.
    Vault::open(dash.dir(), &Passphrase::new(PASS)).unwrap();
}

#[tokio::test]
async fn a_good_change_rewraps_the_key_and_is_logged() {
    let mut dash = Dash::signed_in().await;
    let (status, location, _) = dash
        .post(
            "/dashboard/passphrase",
            &[("current", PASS), ("new", NEW), ("repeat", NEW)],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location.as_deref(), Some("/dashboard/passphrase?changed=1"));
    assert!(matches!(
        Vault::open(dash.dir(), &Passphrase::new(PASS)),
        Err(StoreError::WrongPassphrase)
    ));
    Vault::open(dash.dir(), &Passphrase::new(NEW)).unwrap();
    let last = dash.vault.log_entries().unwrap().pop().unwrap();
    assert_eq!(
        (last.record.actor, last.record.action),
        (Actor::OwnerDashboard, Action::PassphraseChange)
    );
    // Signing in again takes the new one.
    assert_eq!(dash.sign_in(PASS).await, StatusCode::UNAUTHORIZED);
    assert_eq!(dash.sign_in(NEW).await, StatusCode::SEE_OTHER);
}
