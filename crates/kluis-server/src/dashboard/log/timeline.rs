//! The log page's timeline: a page of entries (newest first) grouped by day, and within a day
//! runs of alike entries (same business, action, outcome, purpose, fields and reason) told as
//! one line in words with a count: "webshop.example read your address 3 times, for order
//! delivery". Each line keeps its entries, which the page lists under it.

use kluis_core::access::{AccessRecord, Action, Actor, Outcome};
use kluis_store::LogEntry;

use super::filter::DAY_MS;
use crate::dashboard::i18n::Lang;
use crate::dashboard::render::date;
use crate::dashboard::words;

pub struct Day {
    pub heading: String,
    /// `YYYY-MM-DD`, for the heading's `<time datetime>`.
    pub iso: String,
    pub lines: Vec<Line>,
}

pub struct Line {
    pub text: String,
    /// When: one time, or the first and the last of the run.
    pub when: String,
    /// `refused`, `owner` or `read`: a class for the line's mark.
    pub kind: &'static str,
    pub entries: Vec<Item>,
}

/// One entry under its line.
pub struct Item {
    pub seq: i64,
    pub text: String,
}

/// Groups `entries` (newest first, as a page holds them) into days and lines.
pub fn timeline(lang: Lang, entries: &[LogEntry], now_ms: i64) -> Vec<Day> {
    let today = now_ms.div_euclid(DAY_MS);
    let mut days: Vec<Day> = Vec::new();
    let mut last_day = None;
    let mut run: Vec<&LogEntry> = Vec::new();
    let flush = |days: &mut Vec<Day>, run: &mut Vec<&LogEntry>| {
        if let (Some(day), false) = (days.last_mut(), run.is_empty()) {
            day.lines.push(line(lang, run));
            run.clear();
        }
    };
    // A log is written in time order, but entries appended late (an imported log, a clock
    // set back) may not be: each day gets one heading, its entries in log order.
    let mut sorted: Vec<&LogEntry> = entries.iter().collect();
    sorted.sort_by_key(|e| std::cmp::Reverse(e.record.at_ms.div_euclid(DAY_MS)));
    for entry in sorted {
        let day = entry.record.at_ms.div_euclid(DAY_MS);
        if last_day != Some(day) {
            flush(&mut days, &mut run);
            days.push(Day {
                heading: heading(lang, day, today),
                iso: super::filter::format_day(day),
                lines: Vec::new(),
            });
            last_day = Some(day);
        }
        if run
            .last()
            .is_some_and(|prev| !alike(&prev.record, &entry.record))
        {
            flush(&mut days, &mut run);
        }
        run.push(entry);
    }
    flush(&mut days, &mut run);
    days
}

fn heading(lang: Lang, day: i64, today: i64) -> String {
    match today - day {
        0 => lang.pick("Today", "Vandaag").to_owned(),
        1 => lang.pick("Yesterday", "Gisteren").to_owned(),
        _ => date(lang, day * 86_400),
    }
}

/// Whether two entries tell the same thing (and so share a line).
fn alike(a: &AccessRecord, b: &AccessRecord) -> bool {
    (a.actor, a.action, a.outcome) == (b.actor, b.action, b.outcome)
        && a.business == b.business
        && a.purpose == b.purpose
        && a.fields == b.fields
        && a.reason == b.reason
        && a.contact.as_ref().map(|c| (&c.channel, &c.topic))
            == b.contact.as_ref().map(|c| (&c.channel, &c.topic))
}

fn line(lang: Lang, run: &[&LogEntry]) -> Line {
    let first = &run[0].record;
    let (newest, oldest) = (first.at_ms, run[run.len() - 1].record.at_ms);
    let when = if clock(newest, false) == clock(oldest, false) {
        clock(newest, false)
    } else {
        format!("{}–{}", clock(oldest, false), clock(newest, false))
    };
    let kind = match (first.actor, first.outcome) {
        (_, Outcome::Refused) => "refused",
        (Actor::Business, _) => "read",
        _ => "owner",
    };
    Line {
        text: sentence(lang, first, run.len()),
        when,
        kind,
        entries: run.iter().map(|e| item(lang, e)).collect(),
    }
}

/// `14:05` (or with seconds) in UTC.
fn clock(at_ms: i64, seconds: bool) -> String {
    let secs = at_ms.div_euclid(1000).rem_euclid(86_400);
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if seconds {
        format!("{h:02}:{m:02}:{s:02}")
    } else {
        format!("{h:02}:{m:02}")
    }
}

fn times(lang: Lang, n: usize) -> String {
    match (lang, n) {
        (Lang::En, 1) => "once".to_owned(),
        (Lang::En, 2) => "twice".to_owned(),
        (Lang::En, n) => format!("{n} times"),
        (Lang::Nl, 1) => "één keer".to_owned(),
        (Lang::Nl, n) => format!("{n} keer"),
    }
}

/// What a run of `n` alike records says, in words.
pub fn sentence(lang: Lang, r: &AccessRecord, n: usize) -> String {
    let fields = words::fields(lang, &r.fields);
    let business = r.business.as_ref().map(ToString::to_string);
    let purpose = |lang: Lang| match (&r.purpose, lang) {
        (Some(p), Lang::En) => format!(", for {p}"),
        (Some(p), Lang::Nl) => format!(", voor {p}"),
        (None, _) => String::new(),
    };
    let reason = |sep: &str| {
        r.reason
            .as_ref()
            .map_or(String::new(), |why| format!("{sep}{why}"))
    };
    if r.actor == Actor::Business {
        let who = business.unwrap_or_else(|| {
            lang.pick(
                "A caller without a valid grant",
                "Een aanroeper zonder geldige toegang",
            )
            .to_owned()
        });
        if let Some(said) = contact_sentence(lang, r, &who, n) {
            return said;
        }
        return match (r.action, r.outcome, lang) {
            (Action::RefusedCalls, _, Lang::En) => {
                format!("Calls without a valid grant{}", reason(": "))
            }
            (Action::RefusedCalls, _, Lang::Nl) => {
                format!("Aanroepen zonder geldige toegang{}", reason(": "))
            }
            (_, Outcome::Refused, Lang::En) => {
                let n = if n == 1 {
                    String::new()
                } else {
                    format!(" {}", times(lang, n))
                };
                format!("{who} was refused{n}{}", reason(": "))
            }
            (_, Outcome::Refused, Lang::Nl) => {
                let n = if n == 1 {
                    String::new()
                } else {
                    format!(" {}", times(lang, n))
                };
                format!("{who} werd{n} geweigerd{}", reason(": "))
            }
            (Action::Notified, _, Lang::En) => {
                format!(
                    "{who} was told of changes to your {fields} {}",
                    times(lang, n)
                )
            }
            (Action::Notified, _, Lang::Nl) => {
                format!(
                    "{who} hoorde van wijzigingen in uw {fields} {}",
                    times(lang, n)
                )
            }
            (Action::SubscriptionCreate, _, Lang::En) => {
                format!("{who} asked to be told of changes")
            }
            (Action::SubscriptionCreate, _, Lang::Nl) => {
                format!("{who} vroeg om bericht bij wijzigingen")
            }
            (Action::SubscriptionRotate, _, Lang::En) => {
                format!("{who} changed the secret of its change notifications")
            }
            (Action::SubscriptionRotate, _, Lang::Nl) => {
                format!("{who} wijzigde het geheim van zijn wijzigingsberichten")
            }
            (Action::SubscriptionDelete, _, Lang::En) => {
                format!("{who} no longer wants to be told of changes")
            }
            (Action::SubscriptionDelete, _, Lang::Nl) => {
                format!("{who} wil geen bericht meer bij wijzigingen")
            }
            (Action::RelationshipAppend, _, lang) => {
                // The reason names the entry: `promise e_…`.
                let kind = r
                    .reason
                    .as_deref()
                    .and_then(|why| why.split_whitespace().next());
                let kind = kind.map_or_else(String::new, |k| format!(" ({k})"));
                match lang {
                    Lang::En => format!("{who} added an entry{kind} to your record of it"),
                    Lang::Nl => format!("{who} voegde een regel{kind} toe aan uw verslag ervan"),
                }
            }
            (Action::Introspect, _, Lang::En) => {
                format!("{who} checked its access {}", times(lang, n))
            }
            (Action::Introspect, _, Lang::Nl) => {
                format!("{who} controleerde zijn toegang {}", times(lang, n))
            }
            (_, _, Lang::En) => format!(
                "{who} read your {fields} {}{}",
                times(lang, n),
                purpose(lang)
            ),
            (_, _, Lang::Nl) => {
                format!("{who} las uw {fields} {}{}", times(lang, n), purpose(lang))
            }
        };
    }
    let b = business.unwrap_or_else(|| lang.pick("a business", "een bedrijf").to_owned());
    let via = match (r.actor, lang) {
        (Actor::OwnerCli, Lang::En) => "kluis command",
        (Actor::OwnerCli, Lang::Nl) => "kluis-opdracht",
        _ => "dashboard",
    };
    let what = match (r.action, lang) {
        (Action::GrantCreate, Lang::En) => {
            format!("You gave {b} access to your {fields}{}", purpose(lang))
        }
        (Action::GrantCreate, Lang::Nl) => {
            format!("U gaf {b} toegang tot uw {fields}{}", purpose(lang))
        }
        (Action::GrantRevoke, Lang::En) => format!("You revoked {b}'s access"),
        (Action::GrantRevoke, Lang::Nl) => format!("U trok de toegang van {b} in"),
        (Action::GrantNarrow, Lang::En) => format!("You narrowed {b}'s access to your {fields}"),
        (Action::GrantNarrow, Lang::Nl) => {
            format!("U beperkte de toegang van {b} tot uw {fields}")
        }
        (Action::GrantBudget, Lang::En) => format!("You changed {b}'s read budget"),
        (Action::GrantBudget, Lang::Nl) => format!("U wijzigde het leesbudget van {b}"),
        (Action::RequestApprove, Lang::En) => format!(
            "You approved {b}'s request: access to your {fields}{}",
            purpose(lang)
        ),
        (Action::RequestApprove, Lang::Nl) => format!(
            "U keurde het verzoek van {b} goed: toegang tot uw {fields}{}",
            purpose(lang)
        ),
        (Action::RequestDeny, Lang::En) => format!("You denied {b}'s request{}", purpose(lang)),
        (Action::RequestDeny, Lang::Nl) => {
            format!("U wees het verzoek van {b} af{}", purpose(lang))
        }
        (Action::DocumentSet, Lang::En) => format!("You changed your {fields}"),
        (Action::DocumentSet, Lang::Nl) => format!("U wijzigde uw {fields}"),
        (Action::DocumentUnset, Lang::En) => format!("You removed your {fields}"),
        (Action::DocumentUnset, Lang::Nl) => format!("U verwijderde uw {fields}"),
        (Action::DocumentImport, Lang::En) => "You replaced your whole document".to_owned(),
        (Action::DocumentImport, Lang::Nl) => "U verving uw hele document".to_owned(),
        (Action::KeyRotate, Lang::En) => "You made a new signing key".to_owned(),
        (Action::KeyRotate, Lang::Nl) => "U maakte een nieuwe ondertekeningssleutel".to_owned(),
        (Action::PassphraseChange, Lang::En) => "You changed your passphrase".to_owned(),
        (Action::PassphraseChange, Lang::Nl) => "U wijzigde uw wachtzin".to_owned(),
        (Action::SignIn, Lang::En) => "You signed in".to_owned(),
        (Action::SignIn, Lang::Nl) => "U meldde zich aan".to_owned(),
        (Action::SignInFailed, Lang::En) => "A sign-in was refused".to_owned(),
        (Action::SignInFailed, Lang::Nl) => "Een aanmelding werd geweigerd".to_owned(),
        (Action::LogPrune, Lang::En) => "You removed older entries from the log".to_owned(),
        (Action::LogPrune, Lang::Nl) => "U verwijderde oudere regels uit het logboek".to_owned(),
        (Action::SignOut, Lang::En) => "You signed out".to_owned(),
        (Action::SignOut, Lang::Nl) => "U meldde zich af".to_owned(),
        (Action::DeliveryReplay, Lang::En) => {
            format!("You had {b} sent failed notifications again")
        }
        (Action::DeliveryReplay, Lang::Nl) => {
            format!("U liet mislukte berichten opnieuw naar {b} sturen")
        }
        (Action::InboxReply, Lang::En) => format!("You answered {b}'s message"),
        (Action::InboxReply, Lang::Nl) => format!("U beantwoordde het bericht van {b}"),
        (Action::TopicBlock, lang) => {
            let topic = r.contact.as_ref().map_or("", |c| c.topic.as_str());
            match lang {
                Lang::En => format!("You want no more about {topic:?} from {b}"),
                Lang::Nl => format!("U wilt niets meer over {topic:?} van {b}"),
            }
        }
        (Action::TopicUnblock, lang) => {
            let topic = r.contact.as_ref().map_or("", |c| c.topic.as_str());
            match lang {
                Lang::En => format!("You allowed {topic:?} from {b} again"),
                Lang::Nl => format!("U staat {topic:?} van {b} weer toe"),
            }
        }
        // A business's action recorded as the owner's: said as it is stored.
        (other, _) => format!("{} {}", r.actor.as_str(), other.as_str()),
    };
    let n = if n == 1 {
        String::new()
    } else {
        format!(", {}", times(lang, n))
    };
    format!("{what} ({via}){n}")
}

/// A business's contact attempt in words: how and about what it tried to reach the owner, and
/// why it was refused; `None` for other records.
fn contact_sentence(lang: Lang, r: &AccessRecord, who: &str, n: usize) -> Option<String> {
    let note = r.contact.as_ref()?;
    let (channel, topic) = (words::channel(lang, &note.channel), &note.topic);
    let n = if n == 1 {
        String::new()
    } else {
        format!(" {}", times(lang, n))
    };
    Some(match (r.action, r.outcome, lang) {
        (Action::InboxDeliver, Outcome::Allowed, Lang::En) => {
            format!("{who} left a message in your inbox about {topic:?}{n}")
        }
        (Action::InboxDeliver, Outcome::Allowed, Lang::Nl) => {
            format!("{who} liet{n} een bericht over {topic:?} in uw inbox")
        }
        (_, Outcome::Allowed, Lang::En) => {
            format!("{who} was allowed to reach you by {channel} about {topic:?}{n}")
        }
        (_, Outcome::Allowed, Lang::Nl) => {
            format!("{who} mocht u{n} via {channel} benaderen over {topic:?}")
        }
        (_, Outcome::Refused, lang) => {
            let why = r
                .reason
                .as_deref()
                .map_or_else(String::new, |why| words::contact_reason(lang, why));
            match lang {
                Lang::En => format!(
                    "{who} tried to reach you by {channel} about {topic:?}{n}, against your wishes: {why}"
                ),
                Lang::Nl => format!(
                    "{who} probeerde u{n} via {channel} te benaderen over {topic:?}, tegen uw wens: {why}"
                ),
            }
        }
    })
}

/// One entry under its line: its time and number, and what the line does not say.
fn item(lang: Lang, e: &LogEntry) -> Item {
    let r = &e.record;
    let mut parts = vec![format!("{} UTC", clock(r.at_ms, true))];
    let outcome = match (r.outcome, lang) {
        (Outcome::Allowed, Lang::En) => "allowed",
        (Outcome::Allowed, Lang::Nl) => "toegestaan",
        (Outcome::Refused, Lang::En) => "refused",
        (Outcome::Refused, Lang::Nl) => "geweigerd",
    };
    parts.push(outcome.to_owned());
    if let Some(grant) = &r.grant {
        parts.push(format!("{} {grant}", lang.pick("grant", "toegang")));
    }
    if let Some(request) = &r.request {
        parts.push(format!("{} {request}", lang.pick("request", "verzoek")));
    }
    if let Some(reason) = &r.reason {
        parts.push(reason.clone());
    }
    Item {
        seq: e.seq,
        text: parts.join(" · "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kluis_core::Pointer;
    use kluis_core::grant::{BusinessId, GrantId};

    fn read(at_ms: i64, business: &str, outcome: Outcome) -> AccessRecord {
        AccessRecord {
            at_ms,
            actor: Actor::Business,
            action: Action::Read,
            request: None,
            grant: Some(GrantId::from_random([1; 16])),
            business: Some(BusinessId::parse(business).unwrap()),
            purpose: Some("order delivery".into()),
            fields: match outcome {
                Outcome::Allowed => vec![Pointer::parse("/profile/address").unwrap()],
                Outcome::Refused => vec![],
            },
            outcome,
            reason: (outcome == Outcome::Refused).then(|| "the grant was revoked".into()),
            contact: None,
        }
    }

    #[test]
    fn runs_of_alike_entries_make_one_line_per_day() {
        let now = 20_000 * DAY_MS + 12 * 3_600_000;
        let at = |day: i64, min: i64| day * DAY_MS + min * 60_000;
        // Newest first, as a page holds them.
        let records = [
            read(at(20_000, 30), "shop.example", Outcome::Refused),
            read(at(20_000, 20), "shop.example", Outcome::Refused),
            read(at(20_000, 10), "shop.example", Outcome::Allowed),
            read(at(20_000, 5), "shop.example", Outcome::Allowed),
            read(at(20_000, 1), "shop.example", Outcome::Allowed),
            read(at(19_990, 1), "shop.example", Outcome::Allowed),
        ];
        let entries: Vec<LogEntry> = records
            .into_iter()
            .enumerate()
            .map(|(i, record)| LogEntry {
                seq: 6 - i as i64,
                record,
            })
            .collect();
        let days = timeline(Lang::En, &entries, now);
        assert_eq!(days.len(), 2);
        assert_eq!(days[0].heading, "Today");
        let texts: Vec<&str> = days[0].lines.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "shop.example was refused twice: the grant was revoked",
                "shop.example read your address 3 times, for order delivery"
            ]
        );
        assert_eq!(days[0].lines[1].when, "00:01–00:10");
        let seqs: Vec<i64> = days[0].lines[1].entries.iter().map(|i| i.seq).collect();
        assert_eq!(seqs, [4, 3, 2]);
        assert_eq!(
            days[1].lines[0].text,
            "shop.example read your address once, for order delivery"
        );
        let nl = timeline(Lang::Nl, &entries, now);
        assert_eq!(
            nl[0].lines[1].text,
            "shop.example las uw adres 3 keer, voor order delivery"
        );
    }

    #[test]
    fn owner_events_in_words() {
        let mut r = read(0, "shop.example", Outcome::Allowed);
        r.actor = Actor::OwnerDashboard;
        r.action = Action::GrantRevoke;
        assert_eq!(
            sentence(Lang::En, &r, 1),
            "You revoked shop.example's access (dashboard)"
        );
        r.actor = Actor::OwnerCli;
        assert_eq!(
            sentence(Lang::Nl, &r, 2),
            "U trok de toegang van shop.example in (kluis-opdracht), 2 keer"
        );
        r.action = Action::GrantBudget;
        r.reason =
            Some("read budget now 500 reads a day; was 10000 reads a day (the default)".into());
        assert_eq!(
            sentence(Lang::En, &r, 1),
            "You changed shop.example's read budget (kluis command)"
        );
        assert_eq!(
            sentence(Lang::Nl, &r, 1),
            "U wijzigde het leesbudget van shop.example (kluis-opdracht)"
        );
        r.action = Action::SignIn;
        assert_eq!(sentence(Lang::En, &r, 1), "You signed in (kluis command)");
    }

    #[test]
    fn contact_attempts_in_words() {
        let mut r = read(0, "shop.example", Outcome::Refused);
        r.action = Action::ContactCheck;
        r.reason = Some("topic_blocked".into());
        r.contact = Some(kluis_core::access::ContactNote {
            channel: "sms".into(),
            topic: "surveys".into(),
            message: None,
            counted: false,
        });
        assert_eq!(
            sentence(Lang::En, &r, 2),
            "shop.example tried to reach you by text message about \"surveys\" twice, against your wishes: you blocked that topic"
        );
        assert!(sentence(Lang::Nl, &r, 1).contains("tegen uw wens: u blokkeerde dat onderwerp"));
        r.outcome = Outcome::Allowed;
        r.reason = None;
        r.action = Action::InboxDeliver;
        assert_eq!(
            sentence(Lang::En, &r, 1),
            "shop.example left a message in your inbox about \"surveys\""
        );
        r.actor = Actor::OwnerCli;
        r.action = Action::TopicBlock;
        assert_eq!(
            sentence(Lang::En, &r, 1),
            "You want no more about \"surveys\" from shop.example (kluis command)"
        );
    }
}
