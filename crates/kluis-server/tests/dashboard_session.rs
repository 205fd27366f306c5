//! The dashboard's sign-in, session and request security, over HTTP against a real server.

mod common;

use common::{Dash, PASS, csrf_of};
use kluis_core::access::{Action, Actor, Outcome};
use reqwest::StatusCode;

#[tokio::test]
async fn pages_need_a_session_and_sign_in_needs_the_passphrase() {
    let mut dash = Dash::start().await;
    let (status, _) = dash.get("/dashboard/").await;
    assert_eq!(
        status,
        StatusCode::SEE_OTHER,
        "not signed in: to the sign-in page"
    );
    let (status, page) = dash.get("/dashboard/sign-in").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(r#"<label for="passphrase">"#), "{page}");

    assert_eq!(
        dash.sign_in("not the passphrase").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(dash.get("/dashboard/").await.0, StatusCode::SEE_OTHER);
    assert_eq!(dash.sign_in(PASS).await, StatusCode::SEE_OTHER);
    let (status, page) = dash.get("/dashboard/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("webshop") || page.contains("No business can read"),
        "{page}"
    );

    // Signed out: the same cookie no longer opens anything.
    let (status, location, _) = dash.post("/dashboard/sign-out", &[]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location.as_deref(), Some("/dashboard/sign-in?signed_out=1"));
    assert_eq!(dash.get("/dashboard/").await.0, StatusCode::SEE_OTHER);

    let events: Vec<(Actor, Action, Outcome)> = dash
        .vault
        .log_entries()
        .unwrap()
        .into_iter()
        .map(|e| (e.record.actor, e.record.action, e.record.outcome))
        .collect();
    assert_eq!(
        events,
        [
            (
                Actor::OwnerDashboard,
                Action::SignInFailed,
                Outcome::Refused
            ),
            (Actor::OwnerDashboard, Action::SignIn, Outcome::Allowed),
            (Actor::OwnerDashboard, Action::SignOut, Outcome::Allowed),
        ]
    );
}

#[tokio::test]
async fn every_failure_reads_the_same_and_repeated_failures_wait() {
    let mut dash = Dash::start().await;
    let mut pages = Vec::new();
    for _ in 0..5 {
        assert_eq!(
            dash.sign_in("wrong wrong wrong").await,
            StatusCode::UNAUTHORIZED
        );
        let (_, _, page) = dash
            .post_raw(
                "/dashboard/sign-in",
                &[("passphrase", "wrong")],
                Some(&dash.base),
            )
            .await;
        pages.push(page);
    }
    assert!(
        pages.windows(2).all(|w| w[0] == w[1]),
        "one message for every failure"
    );
    // Past the free tries, even the right passphrase must wait: refused with the same words.
    assert_eq!(dash.sign_in(PASS).await, StatusCode::UNAUTHORIZED);
    let failures = dash
        .vault
        .log_entries()
        .unwrap()
        .iter()
        .filter(|e| e.record.action == Action::SignInFailed)
        .count();
    assert!(
        failures >= 3,
        "the failures that were checked are logged: {failures}"
    );
}

#[tokio::test]
async fn forms_need_the_sessions_token_and_the_vaults_origin() {
    let dash = Dash::signed_in().await;
    let csrf = dash.csrf.clone().unwrap();
    // No token, a wrong token, a foreign origin, no origin: 403 and still signed in.
    for (pairs, origin) in [
        (vec![], Some(dash.base.as_str())),
        (vec![("csrf", "forged")], Some(dash.base.as_str())),
        (vec![("csrf", csrf.as_str())], Some("https://evil.example")),
        (vec![("csrf", csrf.as_str())], None),
    ] {
        let (status, _, body) = dash.post_raw("/dashboard/sign-out", &pairs, origin).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{pairs:?} {origin:?}");
        assert!(body.contains("nothing was changed"), "{body}");
        assert_eq!(dash.get("/dashboard/").await.0, StatusCode::OK);
    }
    // A Referer of the vault's own stands in for a missing Origin.
    let response = dash
        .http
        .post(format!("{}/dashboard/sign-out", dash.base))
        .header("referer", format!("{}/dashboard/", dash.base))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(dash.get("/dashboard/").await.0, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_new_sign_in_gets_a_new_session_and_token() {
    let mut dash = Dash::signed_in().await;
    let first = dash.csrf.clone().unwrap();
    assert_eq!(dash.sign_in(PASS).await, StatusCode::SEE_OTHER);
    assert_ne!(dash.csrf.clone().unwrap(), first);
}

#[tokio::test]
async fn pages_carry_strict_headers_and_cookies() {
    let dash = Dash::start().await;
    let response = dash
        .http
        .post(format!("{}/dashboard/sign-in", dash.base))
        .header("origin", &dash.base)
        .form(&[("passphrase", PASS)])
        .send()
        .await
        .unwrap();
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    for part in ["HttpOnly", "SameSite=Strict", "Path=/dashboard"] {
        assert!(cookie.contains(part), "{cookie}");
    }
    assert!(
        !cookie.contains("Secure"),
        "plain http on loopback: {cookie}"
    );
    let response = dash.get_response("/dashboard/").await;
    let h = response.headers();
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(h["referrer-policy"], "same-origin");
    assert_eq!(h["cache-control"], "no-store");
    let page = response.text().await.unwrap();
    assert!(
        !page.contains("<script") && !page.contains("style="),
        "no inline script or style"
    );
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "nothing from another origin"
    );
    assert_eq!(
        csrf_of(&page),
        dash.csrf.clone().unwrap_or_else(|| csrf_of(&page))
    );
    let (status, page) = dash.get("/dashboard/no-such-page").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        page.contains("There is no such page."),
        "an HTML page: {page}"
    );
    // The grant API keeps its own headers and answers.
    let api = dash.get_response("/healthz").await;
    assert!(api.headers().get("content-security-policy").is_none());
}

#[tokio::test]
async fn the_language_follows_the_browser_then_the_switch() {
    let dash = Dash::start().await;
    let page = |lang: &'static str| {
        let http = dash.http.clone();
        let url = format!("{}/dashboard/sign-in", dash.base);
        async move {
            http.get(url)
                .header("accept-language", lang)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    assert!(
        page("nl-NL,nl;q=0.9")
            .await
            .contains("Aanmelden bij uw kluis")
    );
    assert!(page("en").await.contains("Sign in to your vault"));
    let switched = dash
        .get_response("/dashboard/lang/nl?back=/dashboard/sign-in")
        .await;
    assert_eq!(switched.status(), StatusCode::SEE_OTHER);
    assert_eq!(switched.headers()["location"], "/dashboard/sign-in");
    assert!(
        page("en").await.contains("Aanmelden"),
        "the cookie wins over the header"
    );
    // The switch only goes back to pages of the dashboard.
    let away = dash
        .get_response("/dashboard/lang/en?back=https://evil.example/")
        .await;
    assert_eq!(away.headers()["location"], "/dashboard/");
}

#[tokio::test]
async fn the_dashboard_is_only_served_off_loopback_behind_https() {
    use kluis_server::Dashboard;
    let lan: std::net::SocketAddr = "192.0.2.10:8080".parse().unwrap();
    let local: std::net::SocketAddr = "127.0.0.1:8080".parse().unwrap();
    assert!(Dashboard::may_serve(local, None).is_ok());
    assert!(Dashboard::may_serve(lan, Some("https://vault.example")).is_ok());
    let err = Dashboard::may_serve(lan, None).unwrap_err();
    assert!(err.0.contains("in the clear"), "{}", err.0);
    assert!(Dashboard::may_serve(lan, Some("http://vault.example")).is_err());
}
