//! The notifications page in words, English and Dutch: what each event told a business, how
//! its delivery stands, and why a stream stopped. Stored text (business ids, URLs, the
//! dispatcher's last result) is passed on as text; the templates escape it.

use kluis_core::notify::EventType;
use kluis_store::{HaltedStream, Standing, StreamState, ToldChange, ToldEvent};

use crate::dashboard::grants::shared::fill;
use crate::dashboard::i18n::Lang;
use crate::dashboard::render::date_time;
use crate::dashboard::words;

struct Words {
    changed: &'static str,
    with_values: &'static str,
    narrowed: &'static str,
    revoked: &'static str,
    expired: &'static str,
    decided: &'static str,
    decided_to: &'static str,
    replied: &'static str,
    not_tried: &'static str,
    again: &'static str,
    retrying: &'static str,
    delivered: &'static str,
    dead: &'static str,
    cancelled: &'static str,
    cancelled_why: &'static str,
    sub_paused: &'static str,
    sub_ended: &'static str,
    callback_paused: &'static str,
    callback_ended: &'static str,
    paused_since: &'static str,
    ended_since: &'static str,
    dead_count: &'static str,
    unknown: &'static str,
    /// The dispatcher's reasons for not sending, as it writes them, and in these words.
    reasons: &'static [(&'static str, &'static str)],
}

const EN: Words = Words {
    changed: "told that your {fields} changed",
    with_values: "(with the new values)",
    narrowed: "told that its access no longer covers your {fields}",
    revoked: "told that you revoked its access to your {fields}",
    expired: "told that its access to your {fields} expired",
    decided: "sent your decision on its access request",
    decided_to: "sent your decision on its access request, to {url}",
    replied: "sent your reply to its message in your inbox",
    not_tried: "Not sent yet.",
    again: "To be sent again.",
    retrying: "Not arrived yet ({n} failed so far); the next attempt is at {when}. Last answer: {result}.",
    delivered: "Arrived {when}.",
    dead: "Failed: all {n} attempts failed. Last answer: {result}.",
    cancelled: "Not sent, and it will not be.",
    cancelled_why: "Not sent, and it will not be: {reason}.",
    sub_paused: "Its subscription is paused.",
    sub_ended: "Its subscription ended.",
    callback_paused: "Sending to its callback address is paused.",
    callback_ended: "Sending to its callback address ended.",
    paused_since: "Paused since {when}: a notification failed every attempt.",
    ended_since: "Ended on {when}: the business's server answered that it wants no more notifications.",
    dead_count: "Failed notifications waiting: {n}.",
    unknown: "an unknown business",
    reasons: &[],
};

const NL: Words = Words {
    changed: "gemeld dat uw {fields} veranderde",
    with_values: "(met de nieuwe waarden)",
    narrowed: "gemeld dat zijn toegang niet meer geldt voor uw {fields}",
    revoked: "gemeld dat u zijn toegang tot uw {fields} introk",
    expired: "gemeld dat zijn toegang tot uw {fields} verliep",
    decided: "uw besluit over zijn verzoek om toegang gestuurd",
    decided_to: "uw besluit over zijn verzoek om toegang gestuurd, naar {url}",
    replied: "uw antwoord op zijn bericht in uw inbox gestuurd",
    not_tried: "Nog niet verzonden.",
    again: "Wordt opnieuw verzonden.",
    retrying: "Nog niet aangekomen ({n} keer mislukt); de volgende poging is om {when}. Laatste antwoord: {result}.",
    delivered: "Aangekomen {when}.",
    dead: "Mislukt: alle {n} pogingen mislukten. Laatste antwoord: {result}.",
    cancelled: "Niet verzonden, en dat gebeurt ook niet meer.",
    cancelled_why: "Niet verzonden, en dat gebeurt ook niet meer: {reason}.",
    sub_paused: "Het abonnement is gepauzeerd.",
    sub_ended: "Het abonnement is beëindigd.",
    callback_paused: "Verzenden naar het terugmeldadres is gepauzeerd.",
    callback_ended: "Verzenden naar het terugmeldadres is beëindigd.",
    paused_since: "Gepauzeerd sinds {when}: een melding mislukte bij elke poging.",
    ended_since: "Beëindigd op {when}: de server van het bedrijf antwoordde dat het geen meldingen meer wil.",
    dead_count: "Mislukte meldingen die wachten: {n}.",
    unknown: "een onbekend bedrijf",
    reasons: &[
        (
            "its subscription is gone",
            "het abonnement bestaat niet meer",
        ),
        (
            "the business deleted the subscription",
            "het bedrijf zegde het abonnement op",
        ),
        (
            "the grant ended before it was sent",
            "de toegang eindigde voor de melding verzonden was",
        ),
        (
            "the grant was narrowed before it was sent",
            "de toegang werd beperkt voor de melding verzonden was",
        ),
        (
            "the receiver answered 410 Gone: it wants no more events",
            "de server van het bedrijf antwoordde dat het geen meldingen meer wil",
        ),
        (
            "answered 410 Gone",
            "de server van het bedrijf antwoordde dat het geen meldingen meer wil",
        ),
    ],
};

fn words_of(lang: Lang) -> &'static Words {
    lang.pick(&EN, &NL)
}

/// One event as the page shows it.
pub struct EventLine {
    pub business: String,
    pub what: String,
    /// The pointers it names, comma-separated (empty for a decision).
    pub pointers: String,
    pub stream: String,
    pub state: String,
    /// `ok` (arrived), `error` (failed) or empty.
    pub class: &'static str,
    pub halted: Option<&'static str>,
}

pub struct ChangeCard {
    pub id: String,
    pub when: String,
    pub events: Vec<EventLine>,
}

/// A paused or ended stream.
pub struct StoppedCard {
    pub stream: String,
    pub business: String,
    pub state: String,
    pub dead: Option<String>,
    pub paused: bool,
}

fn when(lang: Lang, ms: Option<i64>) -> String {
    ms.map_or_else(|| "-".to_owned(), |ms| date_time(lang, ms.div_euclid(1000)))
}

fn business(lang: Lang, id: Option<&kluis_core::grant::BusinessId>) -> String {
    id.map_or_else(|| words_of(lang).unknown.to_owned(), ToString::to_string)
}

fn is_callback(stream: &str) -> bool {
    stream.starts_with("r_")
}

pub fn change_card(lang: Lang, change: &ToldChange) -> ChangeCard {
    ChangeCard {
        id: change.change_id.clone(),
        when: date_time(lang, change.created_at),
        events: change.events.iter().map(|e| event_line(lang, e)).collect(),
    }
}

fn event_line(lang: Lang, e: &ToldEvent) -> EventLine {
    let w = words_of(lang);
    let fields = words::fields(lang, &e.fields);
    let what = match (e.kind, &e.callback_url) {
        (EventType::FieldChanged, _) => {
            let told = fill(w.changed, &[("fields", &fields)]);
            if e.full {
                format!("{told} {}", w.with_values)
            } else {
                told
            }
        }
        (EventType::GrantNarrowed, _) => fill(w.narrowed, &[("fields", &fields)]),
        (EventType::GrantRevoked, _) => fill(w.revoked, &[("fields", &fields)]),
        (EventType::GrantExpired, _) => fill(w.expired, &[("fields", &fields)]),
        (EventType::RequestDecided, Some(url)) => fill(w.decided_to, &[("url", url)]),
        (EventType::RequestDecided, None) => w.decided.to_owned(),
        (EventType::InboxReply, _) => w.replied.to_owned(),
    };
    let (state, class) = standing(lang, &e.standing);
    let halted = e
        .halted
        .as_ref()
        .map(|h| match (h.state, is_callback(&e.stream)) {
            (StreamState::Paused, false) => w.sub_paused,
            (StreamState::Ended, false) => w.sub_ended,
            (StreamState::Paused, true) => w.callback_paused,
            (StreamState::Ended, true) => w.callback_ended,
        });
    EventLine {
        business: business(lang, e.business.as_ref()),
        what,
        pointers: kluis_core::pointer::join(&e.fields, ", "),
        stream: e.stream.clone(),
        state,
        class,
        halted,
    }
}

/// How a delivery stands, in words, and its class.
fn standing(lang: Lang, standing: &Standing) -> (String, &'static str) {
    let w = words_of(lang);
    let result = |r: &Option<String>| r.clone().unwrap_or_else(|| "-".to_owned());
    match standing {
        Standing::NotTried { again: false } => (w.not_tried.to_owned(), ""),
        Standing::NotTried { again: true } => (w.again.to_owned(), ""),
        Standing::Retrying {
            attempts,
            next_at_ms,
            last_result,
        } => (
            fill(
                w.retrying,
                &[
                    ("n", &attempts.to_string()),
                    ("when", &when(lang, *next_at_ms)),
                    ("result", &result(last_result)),
                ],
            ),
            "",
        ),
        Standing::Delivered { at_ms, .. } => {
            (fill(w.delivered, &[("when", &when(lang, *at_ms))]), "ok")
        }
        Standing::Dead {
            attempts,
            last_result,
            ..
        } => (
            fill(
                w.dead,
                &[
                    ("n", &attempts.to_string()),
                    ("result", &result(last_result)),
                ],
            ),
            "error",
        ),
        Standing::Cancelled { reason: None, .. } => (w.cancelled.to_owned(), ""),
        Standing::Cancelled {
            reason: Some(reason),
            ..
        } => {
            let said = w
                .reasons
                .iter()
                .find(|(en, _)| en == reason)
                .map_or(reason.as_str(), |(_, ours)| ours);
            (fill(w.cancelled_why, &[("reason", said)]), "")
        }
    }
}

pub fn stopped_card(lang: Lang, h: &HaltedStream) -> StoppedCard {
    let w = words_of(lang);
    let since = when(lang, Some(h.status.since_ms));
    let paused = h.status.state == StreamState::Paused;
    let state = if paused {
        fill(w.paused_since, &[("when", &since)])
    } else {
        fill(w.ended_since, &[("when", &since)])
    };
    StoppedCard {
        stream: h.stream.clone(),
        business: business(lang, h.business.as_ref()),
        state,
        dead: (h.dead > 0).then(|| fill(w.dead_count, &[("n", &h.dead.to_string())])),
        paused,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dispatchers_reasons_read_in_dutch() {
        let cancelled = Standing::Cancelled {
            at_ms: None,
            reason: Some("the grant ended before it was sent".into()),
        };
        assert_eq!(
            standing(Lang::Nl, &cancelled).0,
            "Niet verzonden, en dat gebeurt ook niet meer: de toegang eindigde voor de melding verzonden was."
        );
        assert_eq!(
            standing(Lang::En, &cancelled).0,
            "Not sent, and it will not be: the grant ended before it was sent."
        );
        let other = Standing::Cancelled {
            at_ms: None,
            reason: Some("something new".into()),
        };
        assert!(standing(Lang::Nl, &other).0.ends_with(": something new."));
        let dead = Standing::Dead {
            attempts: 10,
            at_ms: None,
            last_result: Some("answered 500 Internal Server Error".into()),
        };
        assert_eq!(standing(Lang::En, &dead).1, "error");
        assert!(standing(Lang::Nl, &dead).0.contains("alle 10 pogingen"));
    }

    #[test]
    fn an_inbox_reply_says_what_was_sent_in_both_languages() {
        let reply = ToldEvent {
            seq: 1,
            id: "msg_x".into(),
            stream: "sub_x".into(),
            kind: EventType::InboxReply,
            business: kluis_core::grant::BusinessId::parse("shop.example").ok(),
            grant_id: None,
            purpose: None,
            fields: Vec::new(),
            full: false,
            callback_url: None,
            standing: Standing::NotTried { again: false },
            halted: None,
        };
        let en = event_line(Lang::En, &reply);
        assert_eq!(en.what, "sent your reply to its message in your inbox");
        assert_eq!(
            (en.business.as_str(), en.pointers.as_str()),
            ("shop.example", "")
        );
        assert_eq!(
            event_line(Lang::Nl, &reply).what,
            "uw antwoord op zijn bericht in uw inbox gestuurd"
        );
    }
}
