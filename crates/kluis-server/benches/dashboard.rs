//! Run with: cargo bench -p kluis-server --bench dashboard
//!
//! The server-side render of the dashboard's pages over a vault of 2,000 grants (1,000
//! businesses, two grants each) and an access log of 1,000,000 entries spread over those grants
//! and the last 60 days (one in ten refused, an owner event every 10,000): each page is asked
//! of the router itself (`tower::ServiceExt::oneshot`, no socket), signed in, and its body read
//! whole. Before criterion's figures it prints the setup, the first request of each page (the
//! log index is built then), each page's size, and p50/p99 over 200 requests (criterion reports
//! means and medians; the target is a p99). Pages not built yet (404) are skipped: add new
//! ones to [`ROUTES`].

use std::hint::black_box;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use criterion::{Criterion, criterion_group, criterion_main};
use kluis_core::Pointer;
use kluis_core::access::{AccessRecord, Action, Actor, Outcome};
use kluis_core::document::sample;
use kluis_core::grant::{Grant, GrantRequest};
use kluis_server::{AppState, Dashboard};
use kluis_store::{KdfParams, Passphrase, Vault, unix_now, unix_now_ms};
use tower::ServiceExt;

const GRANTS: usize = 2_000;
const BUSINESSES: usize = 1_000;
const ENTRIES: usize = 1_000_000;
const PER_FRAME: usize = 100;
const SPAN_MS: i64 = 60 * 86_400_000;
const RUNS: usize = 200;
const PASS: &str = "a bench passphrase of some length";

/// The pages timed, by name. Anything under `/dashboard/` that a signed-in GET renders.
const ROUTES: &[(&str, &str)] = &[
    ("overview", "/dashboard/"),
    ("grants", "/dashboard/grants"),
    ("log", "/dashboard/log"),
    ("log_one_business", "/dashboard/log?business=shop-7.example"),
    ("log_deep_page", "/dashboard/log?before=500000"),
    (
        "log_refused_one_day",
        "/dashboard/log?outcome=refused&from=DAY&to=DAY",
    ),
];

fn grant_request(i: usize, fields: &[Pointer]) -> GrantRequest {
    GrantRequest {
        audience: kluis_core::grant::BusinessId::parse(&format!("shop-{}.example", i % BUSINESSES))
            .unwrap(),
        fields: fields.to_vec(),
        purpose: if i < BUSINESSES {
            "order delivery and the invoices that go with it".into()
        } else {
            "the newsletter".into()
        },
        purpose_category: None,
        lifetime_secs: 90 * 86_400,
        key_thumbprint: None,
        append_record: false,
        contact: None,
    }
}

fn record(i: usize, grants: &[Grant], start_ms: i64) -> AccessRecord {
    let at_ms = start_ms + (i as i64 * SPAN_MS) / ENTRIES as i64;
    if i % 10_000 == 5_000 {
        return AccessRecord {
            at_ms,
            actor: Actor::OwnerDashboard,
            action: Action::SignIn,
            request: None,
            grant: None,
            business: None,
            purpose: None,
            fields: Vec::new(),
            outcome: Outcome::Allowed,
            reason: Some("from 127.0.0.1".into()),
            contact: None,
        };
    }
    let grant = &grants[(i * 7919) % GRANTS];
    let refused = i % 10 == 9;
    AccessRecord {
        at_ms,
        actor: Actor::Business,
        action: Action::Read,
        request: None,
        grant: Some(grant.id.clone()),
        business: Some(grant.audience.clone()),
        purpose: Some(grant.purpose.clone()),
        fields: if refused {
            Vec::new()
        } else {
            grant.fields.clone()
        },
        outcome: if refused {
            Outcome::Refused
        } else {
            Outcome::Allowed
        },
        reason: refused.then(|| "the grant was revoked".into()),
        contact: None,
    }
}

/// Signs in through the form, as a browser would; returns the session's `Cookie` value.
async fn sign_in(app: &Router) -> String {
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("passphrase", PASS)
        .finish();
    let response = app
        .clone()
        .oneshot(
            Request::post("/dashboard/sign-in")
                .header(header::HOST, "localhost")
                .header(header::ORIGIN, "http://localhost")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(body))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "sign-in failed");
    let cookie = response.headers()[header::SET_COOKIE].to_str().unwrap();
    cookie[..cookie.find(';').unwrap()].to_owned()
}

/// One page, rendered and read whole: its status and size.
async fn get(app: &Router, cookie: &str, path: &str) -> (StatusCode, usize) {
    let response = app
        .clone()
        .oneshot(
            Request::get(path)
                .header(header::HOST, "localhost")
                .header(header::COOKIE, cookie)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, body.len())
}

fn percentiles(name: &str, mut run: impl FnMut()) {
    let mut times: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            run();
            start.elapsed()
        })
        .collect();
    times.sort();
    println!(
        "{name}: p50 {:?}, p99 {:?}, max {:?} ({RUNS} runs)",
        times[RUNS / 2],
        times[RUNS * 99 / 100],
        times[RUNS - 1]
    );
}

fn pages(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let _runtime = rt.enter();
    let start = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let vault =
        Vault::create(dir.path(), &Passphrase::new(PASS), KdfParams::OWASP_MINIMUM).unwrap();
    vault.replace_document(sample()).unwrap();
    vault.log_without_fsync();
    let fields: Vec<Pointer> = ["/profile/email", "/profile/address"]
        .iter()
        .map(|p| Pointer::parse(p).unwrap())
        .collect();
    let now = unix_now();
    let grants: Vec<Grant> = vault
        .in_transaction(|v| {
            (0..GRANTS)
                .map(|i| Ok(v.create_grant(grant_request(i, &fields), now)?.0))
                .collect()
        })
        .unwrap();
    let granted = start.elapsed();
    let start_ms = unix_now_ms() - SPAN_MS;
    for frame in 0..ENTRIES / PER_FRAME {
        let records: Vec<AccessRecord> = (frame * PER_FRAME..(frame + 1) * PER_FRAME)
            .map(|i| record(i, &grants, start_ms))
            .collect();
        vault.append_log(&records).unwrap();
    }
    vault.settle_log().unwrap();
    println!(
        "setup: {GRANTS} grants in {granted:?}, {ENTRIES} entries appended in {:?}",
        start.elapsed() - granted
    );

    let state = AppState::open(dir.path(), vault.unlocked()).unwrap();
    let dashboard = Dashboard::open(dir.path(), vault.unlocked(), state.clone()).unwrap();
    let app = kluis_server::app_with(state, Some(dashboard));
    let cookie = rt.block_on(sign_in(&app));
    let yesterday = day_of(unix_now_ms() - 86_400_000);
    let mut routes = Vec::new();
    for &(name, path) in ROUTES {
        let path = path.replace("DAY", &yesterday);
        let first = Instant::now();
        let (status, bytes) = rt.block_on(get(&app, &cookie, &path));
        match status {
            StatusCode::OK => {
                println!(
                    "{name} ({path}): first request {:?}, {bytes} bytes",
                    first.elapsed()
                );
                routes.push((name, path));
            }
            StatusCode::NOT_FOUND => println!("{name} ({path}): not built yet (404), skipped"),
            other => panic!("{name} ({path}): {other}"),
        }
    }
    for (name, path) in &routes {
        percentiles(name, || {
            let (status, _) = rt.block_on(get(&app, &cookie, black_box(path)));
            assert_eq!(status, StatusCode::OK);
        });
    }
    let mut group = c.benchmark_group("dashboard");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    for (name, path) in &routes {
        group.bench_function(*name, |b| {
            b.iter(|| rt.block_on(get(&app, &cookie, black_box(path))))
        });
    }
    group.finish();
}

/// `YYYY-MM-DD` of a time (UTC), as the log page's date filters take it.
fn day_of(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(ms / 1000).unwrap();
    format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day())
}

criterion_group!(benches, pages);
criterion_main!(benches);
