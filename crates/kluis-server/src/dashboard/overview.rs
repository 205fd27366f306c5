//! The overview: who can read what right now, one line per live grant with its reads, the
//! access requests waiting for the owner, the promises overdue (each leading to its
//! relationship record), and whether the access log's chain is intact.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use kluis_core::grant::Status;
use kluis_core::wire::RequestStatus;
use kluis_store::unix_now;

use super::error::PageError;
use super::i18n::Lang;
use super::logview::{GrantsCache, LogView};
use super::render::{Chrome, ago, date, page};
use super::session::SignedIn;
use super::{Dashboard, recordform, words};

pub fn router() -> Router<Dashboard> {
    Router::new().route("/dashboard/", get(overview))
}

pub struct Texts {
    pub title: &'static str,
    pub who_can_read: &'static str,
    pub nobody: &'static str,
    pub waiting: &'static str,
    pub no_requests: &'static str,
    pub log_state: &'static str,
    pub weak: &'static str,
    pub more: &'static str,
    pub overdue: &'static str,
}

const EN: Texts = Texts {
    title: "Overview",
    who_can_read: "Who can read what, right now",
    nobody: "No business can read anything from your vault right now.",
    waiting: "Waiting for your decision",
    no_requests: "No business is waiting for an answer.",
    log_state: "The access log",
    weak: "Your passphrase is weak: someone who reaches this page could guess it. Choose a stronger one under Passphrase.",
    more: "and {n} more: see every grant",
    overdue: "Promises overdue",
};

const NL: Texts = Texts {
    title: "Overzicht",
    who_can_read: "Wie wat kan lezen, op dit moment",
    nobody: "Op dit moment kan geen enkel bedrijf iets uit uw kluis lezen.",
    waiting: "Wacht op uw besluit",
    no_requests: "Geen bedrijf wacht op een antwoord.",
    log_state: "De inzagelog",
    weak: "Uw wachtzin is zwak: wie deze pagina bereikt, kan hem raden. Kies een sterkere onder Wachtzin.",
    more: "en nog {n}: bekijk alle toegang",
    overdue: "Beloften te laat",
};

/// Live grants the overview lists at most.
const LINES: usize = 20;

pub struct Line {
    pub grant: String,
    pub text: String,
}

pub struct Overdue {
    pub href: String,
    pub text: String,
}

pub struct Waiting {
    pub id: String,
    pub text: String,
}

#[derive(Template)]
#[template(path = "dashboard/overview.html")]
struct Overview {
    chrome: Chrome,
    t: &'static Texts,
    weak_warning: Option<&'static str>,
    lines: Vec<Line>,
    /// Live grants not listed here (the overview shows the most recently read ones).
    more: Option<String>,
    waiting: Vec<Waiting>,
    /// Overdue promises in words, each leading to its record.
    overdue: Vec<Overdue>,
    chain: String,
    chain_class: &'static str,
}

/// One grant in words: "webshop.example can read your e-mail and address for order delivery,
/// until 31 Dec 2026; read 14 times, last 3 h ago".
pub fn grant_line(
    lang: Lang,
    grant: &kluis_core::grant::Grant,
    reads: Option<(u64, i64)>,
    now: i64,
) -> String {
    let fields = words::fields(lang, &grant.fields);
    let until = date(lang, grant.expires_at);
    let reads = match (lang, reads) {
        (Lang::En, None | Some((0, _))) => "not read yet".to_owned(),
        (Lang::Nl, None | Some((0, _))) => "nog niet gelezen".to_owned(),
        (Lang::En, Some((n, last))) => format!(
            "read {}, last {}",
            if n == 1 {
                "once".to_owned()
            } else {
                format!("{n} times")
            },
            ago(lang, last / 1000, now)
        ),
        (Lang::Nl, Some((n, last))) => {
            format!("{n} keer gelezen, laatst {}", ago(lang, last / 1000, now))
        }
    };
    // What the grant lets the business do: read fields, reach the owner, or both.
    let reach = grant.contact.as_ref().map(|right| {
        let channels: Vec<String> = right
            .channels
            .iter()
            .map(|c| words::channel(lang, c))
            .collect();
        let topics: Vec<String> = right.topics.iter().map(|t| format!("{t:?}")).collect();
        let (channels, topics) = (words::list(lang, &channels), words::list(lang, &topics));
        match lang {
            Lang::En => format!("reach you by {channels} about {topics}"),
            Lang::Nl => format!("u benaderen via {channels} over {topics}"),
        }
    });
    // And add to its own record of the owner, when the grant lets it.
    let add = grant
        .append_record
        .then(|| recordform::texts(lang).can.to_owned());
    let read = (!grant.fields.is_empty()).then(|| match lang {
        Lang::En => format!("read your {fields}"),
        Lang::Nl => format!("uw {fields} lezen"),
    });
    let can: Vec<String> = [read, reach, add].into_iter().flatten().collect();
    let may = match (lang, grant.fields.is_empty()) {
        (Lang::En, _) => format!("can {}", words::list(lang, &can)),
        (Lang::Nl, false) => format!("kan {}", words::list(lang, &can)),
        (Lang::Nl, true) => format!("mag {}", words::list(lang, &can)),
    };
    match lang {
        Lang::En => format!(
            "{} {may} for {}, until {until}; {reads}",
            grant.audience, grant.purpose
        ),
        Lang::Nl => format!(
            "{} {may} voor {}, tot {until}; {reads}",
            grant.audience, grant.purpose
        ),
    }
}

async fn overview(
    State(dashboard): State<Dashboard>,
    owner: SignedIn,
) -> Result<Response, PageError> {
    let lang = owner.lang;
    let t = lang.pick(&EN, &NL);
    let now = unix_now();
    let (view, cache) = (LogView::of(&dashboard), GrantsCache::of(&dashboard));
    let (grants, requests, stats) = dashboard
        .with_owner(move |v| {
            let grants = cache.get(v)?;
            let requests = v.access_requests(now)?;
            let stats = view.stats(v)?;
            Ok((grants, requests, stats))
        })
        .await?;
    // The most recently read live grants first (never read last, newest first among them), at
    // most LINES of them: a vault with thousands of grants keeps a small overview.
    let mut live: Vec<_> = grants
        .iter()
        .filter(|g| g.status(now) == Status::Active)
        .map(|g| (g, stats.reads.get(&g.id).copied()))
        .collect();
    live.sort_by_key(|(_, reads)| std::cmp::Reverse(reads.map_or(i64::MIN, |(_, last)| last)));
    let more =
        (live.len() > LINES).then(|| t.more.replace("{n}", &(live.len() - LINES).to_string()));
    let lines = live
        .into_iter()
        .take(LINES)
        .map(|(g, reads)| Line {
            grant: g.id.to_string(),
            text: grant_line(lang, g, reads, now),
        })
        .collect();
    let waiting = requests
        .iter()
        .filter(|r| r.status == RequestStatus::Pending)
        .map(|r| {
            let asked = &r.request;
            let fields = words::fields(lang, &asked.fields);
            let text = match lang {
                Lang::En => format!(
                    "{} ({}) asks to read your {fields} for {}",
                    asked.business.name, asked.business.id, asked.purpose
                ),
                Lang::Nl => format!(
                    "{} ({}) vraagt uw {fields} te lezen voor {}",
                    asked.business.name, asked.business.id, asked.purpose
                ),
            };
            Waiting {
                id: r.id.to_string(),
                text,
            }
        })
        .collect();
    let (chain, chain_class) = match (&stats.broken, lang) {
        (None, Lang::En) => (
            format!("Intact: {} entries, every one in its place.", stats.entries),
            "ok",
        ),
        (None, Lang::Nl) => (
            format!("Intact: {} regels, elk op zijn plaats.", stats.entries),
            "ok",
        ),
        (Some((seq, why)), Lang::En) => (format!("Broken at entry {seq}: {why}."), "error"),
        (Some((seq, why)), Lang::Nl) => (format!("Gebroken bij regel {seq}: {why}."), "error"),
    };
    let overdue = dashboard
        .overdue_promises()
        .await
        .iter()
        .map(|(business, promise)| Overdue {
            href: super::relationships::record_href(business),
            text: super::relationships::overdue_sentence(lang, business, promise),
        })
        .collect();
    let chrome = Chrome::new(&owner, "overview", t.title, "/dashboard/");
    page(&Overview {
        chrome,
        t,
        weak_warning: owner.session.weak_passphrase.then_some(t.weak),
        lines,
        more,
        waiting,
        overdue,
        chain,
        chain_class,
    })
}

#[cfg(test)]
mod tests {
    use kluis_core::contact::ContactRight;
    use kluis_core::grant::{BusinessId, Grant, GrantId};
    use kluis_core::pointer::Pointer;

    use super::*;

    fn grant(fields: &[&str], contact: Option<ContactRight>) -> Grant {
        Grant {
            id: GrantId::from_random([3; 16]),
            audience: BusinessId::parse("shop.example").unwrap(),
            subject: "s".into(),
            fields: fields.iter().map(|f| Pointer::parse(f).unwrap()).collect(),
            purpose: "order news".into(),
            purpose_category: None,
            issued_at: 0,
            expires_at: 86_400 * 400,
            revoked_at: None,
            key_thumbprint: None,
            kid: "k".into(),
            contact,
            append_record: false,
        }
    }

    #[test]
    fn a_grant_says_what_it_lets_the_business_do() {
        let right = ContactRight {
            channels: vec!["email".into(), "inbox".into()],
            topics: vec!["orders".into()],
        };
        let line = grant_line(Lang::En, &grant(&[], Some(right.clone())), None, 0);
        assert!(
            line.starts_with("shop.example can reach you by ")
                && line.contains("about \"orders\" for order news"),
            "{line}"
        );
        assert!(!line.contains("read your"), "{line}");
        let both = grant_line(Lang::Nl, &grant(&["/profile/email"], Some(right)), None, 0);
        assert!(both.contains(" lezen en u benaderen via "), "{both}");
        let read = grant_line(Lang::En, &grant(&["/profile/email"], None), None, 0);
        assert!(
            read.contains("can read your ") && !read.contains("reach"),
            "{read}"
        );
        assert!(!read.contains("record"), "{read}");
    }

    #[test]
    fn a_grant_that_may_add_to_its_record_says_so() {
        let mut only = grant(&[], None);
        only.append_record = true;
        let line = grant_line(Lang::En, &only, None, 0);
        assert!(
            line.starts_with(
                "shop.example can add documents, promises and interactions to its record of you for order news"
            ),
            "{line}"
        );
        let line = grant_line(Lang::Nl, &only, None, 0);
        assert!(
            line.starts_with("shop.example mag documenten, toezeggingen"),
            "{line}"
        );
        let mut both = grant(&["/profile/email"], None);
        both.append_record = true;
        let line = grant_line(Lang::En, &both, None, 0);
        assert!(
            line.contains("can read your e-mail and add documents, promises and interactions"),
            "{line}"
        );
    }
}
