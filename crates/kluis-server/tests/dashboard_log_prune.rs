//! Removing older log entries on the dashboard: a date and the passphrase, refused when either
//! is wrong, recorded when done, and the log still verifies from its checkpoint.

mod common;
#[path = "common/html.rs"]
mod html;

use common::{Dash, PASS};
use html::{control, tag};
use kluis_core::access::{AccessRecord, Action, Actor};
use kluis_store::{KdfParams, Passphrase, Vault};
use reqwest::StatusCode;

/// 2020-01-01T00:00:00Z and a few days after, in ms.
const OLD: i64 = 1_577_836_800_000;

async fn with_old_entries() -> Dash {
    let dir = tempfile::tempdir().unwrap();
    let vault =
        Vault::create(dir.path(), &Passphrase::new(PASS), KdfParams::OWASP_MINIMUM).unwrap();
    for day in 0..3 {
        let at = OLD + day * 86_400_000;
        vault
            .append_log(&[AccessRecord::refused_anonymously(
                at,
                Action::Read,
                "old".into(),
            )])
            .unwrap();
    }
    let mut dash = Dash::serve(dir, vault).await;
    assert_eq!(dash.sign_in(PASS).await, StatusCode::SEE_OTHER);
    dash
}

#[tokio::test]
async fn a_wrong_date_or_passphrase_removes_nothing() {
    let dash = with_old_entries().await;
    let (status, log_page) = dash.get("/dashboard/log").await;
    assert_eq!(status, StatusCode::OK);
    assert!(log_page.contains(r#"href="/dashboard/log/prune""#));
    let (status, page) = dash.get("/dashboard/log/prune").await;
    assert_eq!(status, StatusCode::OK);
    let before = control(&page, "Remove entries before");
    assert!(tag(&page, &before).unwrap().contains(r#"type="date""#));
    let passphrase = control(&page, "Passphrase");
    assert!(
        tag(&page, &passphrase)
            .unwrap()
            .contains(r#"type="password""#)
    );
    let cases = [
        ("2020-13-01", PASS, "YYYY-MM-DD"),
        ("yesterday", PASS, "YYYY-MM-DD"),
        ("2999-01-01", PASS, "not in the past"),
        (
            "2020-01-02",
            "not the passphrase at all",
            "not the passphrase",
        ),
    ];
    for (before, passphrase, why) in cases {
        let (status, _, page) = dash
            .post(
                "/dashboard/log/prune",
                &[("before", before), ("passphrase", passphrase)],
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{why}");
        assert!(page.contains(why), "{why}: {page}");
        assert!(page.contains(r#"aria-invalid="true""#));
    }
    assert_eq!(dash.vault.log_entries().unwrap()[0].seq, 1);
    assert_eq!(dash.vault.verify_log().unwrap().pruned, None);
}

#[tokio::test]
async fn pruning_removes_the_old_appends_and_is_recorded() {
    let dash = with_old_entries().await;
    // Before the first: nothing to remove.
    let (status, location, _) = dash
        .post(
            "/dashboard/log/prune",
            &[("before", "2019-12-31"), ("passphrase", PASS)],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        location.as_deref(),
        Some("/dashboard/log/prune?done=nothing")
    );
    let (_, page) = dash.get("/dashboard/log/prune?done=nothing").await;
    assert!(page.contains("nothing was removed"));

    // Before the third old day: the first two entries go.
    let (status, location, _) = dash
        .post(
            "/dashboard/log/prune",
            &[("before", "2020-01-03"), ("passphrase", PASS)],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        location.as_deref(),
        Some("/dashboard/log/prune?done=removed")
    );
    let check = dash.vault.verify_log().unwrap();
    assert_eq!(check.first_broken, None);
    assert_eq!(check.pruned.map(|c| c.seq), Some(2));
    let entries = dash.vault.log_entries().unwrap();
    assert_eq!(entries[0].seq, 3);
    let last = entries.last().unwrap();
    assert_eq!(
        (last.record.actor, last.record.action),
        (Actor::OwnerDashboard, Action::LogPrune)
    );
    // The log page still shows what is left.
    let (status, page) = dash.get("/dashboard/log").await;
    assert_eq!(status, StatusCode::OK, "{page}");
}
