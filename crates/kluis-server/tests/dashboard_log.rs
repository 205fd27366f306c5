//! The dashboard's access log page over HTTP against a real server: reads through the grant
//! API told in words with their count, refusals and owner events, each filter, the cursor's
//! pages, escaping, the chart, and 400s for what does not parse.

mod common;

use std::collections::HashSet;

use common::Dash;
use kluis_core::Pointer;
use kluis_core::access::{AccessRecord, Action, Actor, Outcome};
use kluis_core::grant::{BusinessId, GrantId, GrantRequest};
use kluis_store::{LogEntry, Via, unix_now, unix_now_ms};
use reqwest::StatusCode;

const DAY_MS: i64 = 86_400_000;

/// Which entries a filter should keep.
type Keep = Box<dyn Fn(&LogEntry) -> bool>;

fn grant_request(business: &str) -> GrantRequest {
    GrantRequest {
        audience: BusinessId::parse(business).unwrap(),
        fields: vec![Pointer::parse("/profile/address").unwrap()],
        purpose: "order delivery".into(),
        purpose_category: None,
        lifetime_secs: 3600,
        key_thumbprint: None,
        append_record: false,
        contact: None,
    }
}

/// A business's read at `at_ms`, served or refused.
fn read(at_ms: i64, business: &str, grant: &GrantId, outcome: Outcome) -> AccessRecord {
    AccessRecord {
        at_ms,
        actor: Actor::Business,
        action: Action::Read,
        request: None,
        grant: Some(grant.clone()),
        business: Some(BusinessId::parse(business).unwrap()),
        purpose: Some("order delivery".into()),
        fields: match outcome {
            Outcome::Allowed => vec![Pointer::parse("/profile/email").unwrap()],
            Outcome::Refused => vec![],
        },
        outcome,
        reason: (outcome == Outcome::Refused).then(|| "the grant was revoked".into()),
        contact: None,
    }
}

/// The entry numbers a page lists, in order.
fn seqs(page: &str) -> Vec<i64> {
    page.split("<li>Entry ")
        .skip(1)
        .map(|rest| rest[..rest.find(':').unwrap()].parse().unwrap())
        .collect()
}

/// The `href` of the link with text `text`, unescaped, if there is one.
fn link(page: &str, text: &str) -> Option<String> {
    let end = page.find(&format!(">{text}</a>"))?;
    let start = page[..end].rfind("href=\"")? + 6;
    let href = &page[start..end];
    Some(
        href[..href.find('"')?]
            .replace("&amp;", "&")
            .replace("&#38;", "&"),
    )
}

/// Every entry of the log's pages from `first`, following "Older entries".
async fn all_pages(dash: &Dash, first: &str) -> (Vec<i64>, usize) {
    let mut seen = Vec::new();
    let mut pages = 0;
    let mut next = Some(first.to_owned());
    while let Some(path) = next {
        let (status, page) = dash.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {page}");
        seen.extend(seqs(&page));
        pages += 1;
        next = link(&page, "Older entries");
        if pages > 1 {
            assert_eq!(
                link(&page, "Newest")
                    .as_deref()
                    .map(|n| !n.contains("before=")),
                Some(true),
                "{path}"
            );
        }
        assert!(pages < 100, "the pages never end");
    }
    (seen, pages)
}

/// What the log holds that `keep` keeps, newest first, as a page lists them.
fn expected(dash: &Dash, keep: impl Fn(&LogEntry) -> bool) -> Vec<i64> {
    let mut out: Vec<i64> = dash
        .vault
        .log_entries()
        .unwrap()
        .iter()
        .filter(|e| keep(e))
        .map(|e| e.seq)
        .collect();
    out.reverse();
    out
}

#[tokio::test]
async fn reads_refusals_and_owner_events_are_told_in_words() {
    let dash = Dash::signed_in().await;
    let (grant, token) = dash
        .vault
        .create_grant(grant_request("webshop.example"), unix_now())
        .unwrap();
    let call = || async {
        dash.http
            .get(format!("{}/v1/data", dash.base))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .status()
    };
    for _ in 0..3 {
        assert_eq!(call().await, StatusCode::OK);
    }
    dash.vault.owner(Via::Cli).revoke_grant(&grant.id).unwrap();
    for _ in 0..2 {
        assert_eq!(call().await, StatusCode::UNAUTHORIZED);
    }
    let reads = dash
        .vault
        .log_entries()
        .unwrap()
        .iter()
        .filter(|e| e.record.action == Action::Read && e.record.outcome == Outcome::Allowed)
        .count();
    assert_eq!(reads, 3);

    let (status, page) = dash.get("/dashboard/log").await;
    assert_eq!(status, StatusCode::OK);
    for said in [
        "webshop.example read your address 3 times, for order delivery",
        "webshop.example was refused twice: the grant was revoked",
        "You revoked webshop.example&#39;s access (kluis command)",
        "You signed in (dashboard)",
        "<h3><time datetime=",
        ">Today</time></h3>",
    ] {
        assert!(page.contains(said), "{said:?} not in {page}");
    }
    // Newest first: the refusals, the revocation, the reads, the sign-in.
    let at = |text: &str| page.find(text).unwrap();
    assert!(at("was refused twice") < at("You revoked"));
    assert!(at("You revoked") < at("read your address 3 times"));
    assert!(at("read your address 3 times") < at("You signed in"));
    // Every entry is listed under its line, in a disclosure that needs no script.
    assert_eq!(seqs(&page), expected(&dash, |_| true));
    assert!(page.contains("<details><summary>"));
    assert!(page.contains(r#"aria-current="page">Access log</a>"#));

    // In Dutch.
    let (status, _) = dash.get("/dashboard/lang/nl?back=/dashboard/log").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, page) = dash.get("/dashboard/log").await;
    for said in [
        "webshop.example las uw adres 3 keer, voor order delivery",
        "webshop.example werd 2 keer geweigerd: the grant was revoked",
        "U trok de toegang van webshop.example in (kluis-opdracht)",
        "U meldde zich aan (dashboard)",
        ">Vandaag</time>",
        "<label for=\"f-business\">Bedrijf</label>",
    ] {
        assert!(page.contains(said), "{said:?} not in {page}");
    }
}

#[tokio::test]
async fn each_filter_narrows_the_timeline() {
    let dash = Dash::signed_in().await;
    let (g1, g2) = (GrantId::from_random([1; 16]), GrantId::from_random([2; 16]));
    let today = unix_now_ms().div_euclid(DAY_MS) * DAY_MS;
    let mut records = Vec::new();
    for i in 0..30 {
        let day = today - (i % 5) * DAY_MS + 3_600_000;
        let (business, grant) = if i % 3 == 0 {
            ("a.example", &g1)
        } else {
            ("b.example", &g2)
        };
        let outcome = if i % 4 == 0 {
            Outcome::Refused
        } else {
            Outcome::Allowed
        };
        records.push(read(day + i, business, grant, outcome));
    }
    dash.vault.append_log(&records).unwrap();
    let date = |days_ago: i64| {
        let t =
            time::OffsetDateTime::from_unix_timestamp((today - days_ago * DAY_MS) / 1000).unwrap();
        format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day())
    };
    let business =
        |e: &LogEntry, b: &str| e.record.business.as_ref().map(|x| x.as_str()) == Some(b);
    let (from, to) = (today - 3 * DAY_MS, today - DAY_MS);
    let cases: Vec<(String, Keep)> = vec![
        (
            "business=a.example".into(),
            Box::new(move |e| business(e, "a.example")),
        ),
        (
            format!("grant={g2}"),
            Box::new(move |e| e.record.grant.as_ref() == Some(&g2)),
        ),
        (
            "outcome=refused".into(),
            Box::new(|e| e.record.outcome == Outcome::Refused),
        ),
        (
            "outcome=allowed".into(),
            Box::new(|e| e.record.outcome == Outcome::Allowed),
        ),
        (
            format!("from={}&to={}", date(3), date(1)),
            Box::new(move |e| (from..to + DAY_MS).contains(&e.record.at_ms)),
        ),
        (
            format!("business=b.example&outcome=refused&from={}&to=", date(2)),
            Box::new(move |e| {
                business(e, "b.example")
                    && e.record.outcome == Outcome::Refused
                    && e.record.at_ms >= today - 2 * DAY_MS
            }),
        ),
    ];
    let all = expected(&dash, |_| true);
    for (query, keep) in &cases {
        let want = expected(&dash, keep);
        assert!(
            !want.is_empty() && want.len() < all.len(),
            "{query}: the case must narrow"
        );
        let (status, page) = dash.get(&format!("/dashboard/log?{query}")).await;
        assert_eq!(status, StatusCode::OK, "{query}: {page}");
        // Days newest first: entries of days out of log order are not in seq order.
        let mut shown = seqs(&page);
        shown.sort_unstable_by(|a, b| b.cmp(a));
        assert_eq!(shown, want, "{query}");
        assert!(page.contains("Clear the filters"), "{query}");
    }
    // Entries appended out of time order still get one heading per day.
    let (_, page) = dash.get("/dashboard/log").await;
    assert_eq!(page.matches("<h3><time").count(), 5, "{page}");
    assert_eq!(page.matches(">Today</time>").count(), 1);

    // The form shows the filters it applied.
    let (_, page) = dash
        .get("/dashboard/log?business=a.example&outcome=refused")
        .await;
    assert!(
        page.contains(r#"name="business" type="text" value="a.example""#),
        "{page}"
    );
    assert!(
        page.contains(r#"<option value="refused" selected>"#),
        "{page}"
    );
    // A business that never called: nothing, said so.
    let (status, page) = dash.get("/dashboard/log?business=nobody.example").await;
    assert_eq!(status, StatusCode::OK);
    assert!(seqs(&page).is_empty() && page.contains("No entries match these filters."));
}

#[tokio::test]
async fn pages_follow_the_cursor_and_hold_every_entry_once() {
    let dash = Dash::signed_in().await;
    let g = GrantId::from_random([3; 16]);
    let now = unix_now_ms();
    for frame in 0..6 {
        let records: Vec<AccessRecord> = (0..100)
            .map(|i| {
                let n = frame * 100 + i;
                let outcome = if n % 7 == 0 {
                    Outcome::Refused
                } else {
                    Outcome::Allowed
                };
                read(now - 600_000 + n, "shop.example", &g, outcome)
            })
            .collect();
        dash.vault.append_log(&records).unwrap();
    }
    let all = expected(&dash, |_| true);
    let (seen, pages) = all_pages(&dash, "/dashboard/log?limit=45").await;
    assert_eq!(seen, all, "every entry once, newest first");
    assert_eq!(pages, all.len().div_ceil(45));
    let unique: HashSet<i64> = seen.iter().copied().collect();
    assert_eq!(unique.len(), seen.len());

    // The filters stay on the older pages.
    let refused = expected(&dash, |e| e.record.outcome == Outcome::Refused);
    let (seen, _) = all_pages(&dash, "/dashboard/log?outcome=refused&limit=20").await;
    assert_eq!(seen, refused);

    // The default page, and a page size asked too large is cut to the cap.
    let (_, page) = dash.get("/dashboard/log").await;
    assert_eq!(seqs(&page).len(), 100);
    let (_, page) = dash.get("/dashboard/log?limit=100000").await;
    assert_eq!(seqs(&page).len(), 500);
}

#[tokio::test]
async fn what_a_business_wrote_is_escaped() {
    let dash = Dash::signed_in().await;
    let evil: BusinessId = serde_json::from_str(r#""<script>alert(1)</script>""#).unwrap();
    let mut record = read(
        unix_now_ms() - 1000,
        "x.example",
        &GrantId::from_random([4; 16]),
        Outcome::Allowed,
    );
    record.business = Some(evil);
    record.purpose = Some("<img src=x onerror=alert(2)>".into());
    let mut refused = record.clone();
    refused.outcome = Outcome::Refused;
    refused.reason = Some("<b>bold</b>".into());
    dash.vault.append_log(&[record, refused]).unwrap();
    let (status, page) = dash.get("/dashboard/log").await;
    assert_eq!(status, StatusCode::OK);
    for raw in ["<script>", "<img", "<b>"] {
        assert!(!page.contains(raw), "{raw} unescaped in {page}");
    }
    assert!(
        page.contains("&#60;script&#62;alert(1)&#60;/script&#62; read your e-mail once"),
        "{page}"
    );
    assert!(page.contains("&#60;img src=x onerror=alert(2)&#62;"));
    // In the chart's bar titles and table too.
    let chart = &page[page.find("<svg class=\"chart\"").unwrap()..];
    assert!(chart.contains("<title>&#60;script&#62;"), "{chart}");

    // A filter value is shown back escaped, with its message, as a 400.
    let (status, page) = dash.get("/dashboard/log?business=%3Cscript%3E").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(!page.contains("<script>"));
    assert!(page.contains("value=\"&#60;script&#62;\""), "{page}");
}

#[tokio::test]
async fn the_chart_has_bars_per_business_for_the_last_30_days() {
    let dash = Dash::signed_in().await;
    let now = unix_now_ms();
    let mut records = Vec::new();
    let mut want = std::collections::HashMap::new();
    let readers = [
        ("a.example", 4),
        ("b.example", 8),
        ("c.example", 12),
        ("d.example", 1),
        ("e.example", 1),
        ("f.example", 1),
    ];
    for (b, (business, reads)) in readers.iter().enumerate() {
        let grant = GrantId::from_random([b as u8 + 10; 16]);
        for i in 0..*reads {
            let at = now - (i as i64 % 3) * DAY_MS;
            records.push(read(at, business, &grant, Outcome::Allowed));
            *want.entry(*business).or_insert(0) += 1;
        }
        // Refused and old reads are not counted.
        records.push(read(now, business, &grant, Outcome::Refused));
        records.push(read(now - 40 * DAY_MS, business, &grant, Outcome::Allowed));
    }
    dash.vault.append_log(&records).unwrap();
    let (status, page) = dash.get("/dashboard/log").await;
    assert_eq!(status, StatusCode::OK);
    let start = page.find("<svg class=\"chart\"").expect("a chart");
    let svg = &page[start..start + page[start..].find("</svg>").unwrap()];
    assert!(svg.contains(r#"role="img""#) && svg.contains("aria-label=\"Reads per day from"));
    assert!(svg.contains("<title>Reads per day"));
    // The five that read most (of equals, the first by name): f.example is left out.
    assert!(!svg.contains("<title>f.example"), "{svg}");
    want.remove("f.example");
    for (business, total) in &want {
        let bars = svg.matches(&format!("<title>{business}, ")).count();
        assert!((1..=3).contains(&bars), "{business}: {bars} bars in {svg}");
        // The legend and the table carry the same numbers.
        assert!(
            page.contains(&format!("{business}: {total}</li>")),
            "{business}"
        );
        assert!(page.contains(&format!(r#"<th scope="col">{business}</th>"#)));
    }
    // The businesses that read most come first.
    assert!(page.find("c.example: 12").unwrap() < page.find("a.example: 4").unwrap());
    assert!(!page.contains("style="), "the CSP forbids inline styles");

    // The business filter narrows the chart too.
    let (_, page) = dash.get("/dashboard/log?business=b.example").await;
    assert!(page.contains("<title>b.example, ") && !page.contains("<title>a.example, "));
}

#[tokio::test]
async fn what_does_not_parse_is_a_400_never_a_500() {
    let dash = Dash::signed_in().await;
    for (query, field) in [
        ("from=2026-02-30", Some("f-from-error")),
        ("from=yesterday", Some("f-from-error")),
        ("from=2026-12-02&to=2026-12-01", Some("f-to-error")),
        ("grant=not-a-grant", Some("f-grant-error")),
        ("outcome=maybe", Some("f-outcome-error")),
        ("business=a%20b", Some("f-business-error")),
        ("before=abc", None),
        ("before=0", None),
        ("before=-5", None),
        ("limit=0", None),
        ("limit=x", None),
    ] {
        let (status, page) = dash.get(&format!("/dashboard/log?{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {page}");
        if let Some(id) = field {
            assert!(
                page.contains(&format!(r#"<p class="field-error" id="{id}">"#)),
                "{query}: {page}"
            );
            assert!(
                page.contains(&format!(r#"aria-describedby="{id}"#)),
                "{query}"
            );
            assert!(page.contains("Correct the filters marked below."));
        }
    }
    // A cursor past the end is no error: older entries than all there are.
    let (status, _) = dash.get("/dashboard/log?before=999999999").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_log_altered_since_it_was_read_is_said_and_not_shown() {
    let dash = Dash::signed_in().await;
    let g = GrantId::from_random([5; 16]);
    for frame in 0..3 {
        let records: Vec<AccessRecord> = (0..3)
            .map(|i| {
                read(
                    unix_now_ms() - 1000 + frame * 3 + i,
                    "shop.example",
                    &g,
                    Outcome::Allowed,
                )
            })
            .collect();
        dash.vault.append_log(&records).unwrap();
    }
    dash.vault.settle_log().unwrap();
    let (_, page) = dash.get("/dashboard/log").await;
    assert!(!seqs(&page).is_empty());
    assert!(!page.contains("is broken"));

    // One bit of the first frame's ciphertext flipped, after the dashboard indexed it.
    let path = dash.dir().join(kluis_store::LOG_FILE);
    let range = kluis_store::frame_ranges(&path).unwrap()[0].clone();
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[range.start as usize + 30] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    let (status, page) = dash.get("/dashboard/log").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains(r#"<p class="error" role="alert">The access log is broken at entry 1"#),
        "{page}"
    );
    assert!(
        seqs(&page).is_empty(),
        "nothing from an altered log is shown"
    );
}
