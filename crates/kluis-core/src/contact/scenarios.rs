//! Decisions on whole policies: each refusal reason, their order, per-business overrides,
//! caps over calendar and rolling windows and quiet hours across DST changes.

use super::*;
use crate::grant::BusinessId;
use jiff::Timestamp;
use proptest::prelude::*;
use serde_json::{Value, json};

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn biz(id: &str) -> BusinessId {
    BusinessId::parse(id).unwrap()
}

fn policy(preferences: Value) -> ContactPolicy {
    ContactPolicy::from_preferences(&preferences).unwrap()
}

fn right() -> ContactRight {
    ContactRight {
        channels: vec!["email".into(), "inbox".into(), "sms".into()],
        topics: vec!["orders".into(), "offers".into(), "news".into()],
    }
}

fn contact(at: &str, business: &str, channel: &str, topic: &str) -> Contact {
    Contact {
        at: ts(at),
        business: biz(business),
        channel: channel.into(),
        topic: topic.into(),
    }
}

/// The decision for `shop` over e-mail about orders, unless said otherwise.
fn check(policy: &ContactPolicy, history: &MemoryHistory, now: &str) -> Decision {
    decide(
        policy,
        &biz("shop"),
        "email",
        "orders",
        &right(),
        history,
        ts(now),
    )
}

fn refused(reason: Reason) -> Decision {
    Decision::Refused {
        reason,
        retry_after: None,
    }
}

fn cap_reached(at: &str) -> Decision {
    Decision::Refused {
        reason: Reason::CapReached,
        retry_after: Some(ts(at)),
    }
}

const NOON: &str = "2026-06-10T10:00:00Z";

#[test]
fn no_rules_allow_what_the_right_allows() {
    let empty = MemoryHistory::default();
    assert_eq!(check(&policy(json!({})), &empty, NOON), Decision::Allowed);
    let p = policy(json!({}));
    for (channel, topic) in [("post", "orders"), ("email", "taxes")] {
        assert_eq!(
            decide(&p, &biz("shop"), channel, topic, &right(), &empty, ts(NOON)),
            refused(Reason::NoContactRight),
            "{channel} {topic}"
        );
    }
}

#[test]
fn each_rule_refuses_with_its_reason() {
    let empty = MemoryHistory::default();
    let cases = [
        (json!({"do_not_contact": true}), Reason::DoNotContact),
        (json!({"channels": ["sms", "post"]}), Reason::ChannelOff),
        (json!({"channels": ["none", "email"]}), Reason::ChannelOff),
        (json!({"channels": []}), Reason::ChannelOff),
        (json!({"blocked_topics": ["orders"]}), Reason::TopicBlocked),
        (json!({"topics": ["news"]}), Reason::TopicNotChosen),
        (json!({"topics": []}), Reason::TopicNotChosen),
    ];
    for (prefs, reason) in cases {
        assert_eq!(
            check(&policy(prefs.clone()), &empty, NOON),
            refused(reason),
            "{prefs}"
        );
    }
    let allowed = json!({"channels": ["email"], "topics": ["orders"], "blocked_topics": ["news"]});
    assert_eq!(check(&policy(allowed), &empty, NOON), Decision::Allowed);
}

#[test]
fn the_first_rule_in_order_gives_the_reason() {
    let one = MemoryHistory::new(vec![contact(
        "2026-06-10T09:00:00Z",
        "shop",
        "email",
        "orders",
    )]);
    let mut prefs = json!({
        "do_not_contact": true, "channels": ["sms"], "blocked_topics": ["orders"],
        "topics": ["news"], "caps": [{"max": 1, "per": "day"}],
        "quiet_hours": {"start": "00:00", "end": "23:59", "time_zone": "UTC"}
    });
    let order = [
        ("do_not_contact", Reason::DoNotContact),
        ("channels", Reason::ChannelOff),
        ("blocked_topics", Reason::TopicBlocked),
        ("topics", Reason::TopicNotChosen),
    ];
    for (key, reason) in order {
        assert_eq!(check(&policy(prefs.clone()), &one, NOON), refused(reason));
        prefs.as_object_mut().unwrap().remove(key);
    }
    let quiet = check(&policy(prefs.clone()), &one, NOON);
    assert_eq!(
        quiet,
        Decision::Refused {
            reason: Reason::QuietHours,
            retry_after: Some(ts("2026-06-10T23:59:00Z"))
        }
    );
    prefs.as_object_mut().unwrap().remove("quiet_hours");
    assert_eq!(
        check(&policy(prefs), &one, NOON),
        cap_reached("2026-06-11T00:00:00Z")
    );
    // The right comes before everything.
    let p = policy(json!({"do_not_contact": true}));
    let empty = MemoryHistory::default();
    assert_eq!(
        decide(
            &p,
            &biz("shop"),
            "phone",
            "orders",
            &right(),
            &empty,
            ts(NOON)
        ),
        refused(Reason::NoContactRight)
    );
}

#[test]
fn a_business_override_changes_only_that_business() {
    let p = policy(json!({
        "channels": ["email"], "topics": ["orders"], "blocked_topics": ["news"],
        "businesses": {
            "shop": {"channels": ["sms"], "topics": ["offers", "news"], "blocked_topics": ["offers"]},
            "bank": {"do_not_contact": true}
        }
    }));
    let empty = MemoryHistory::default();
    let ask = |b: &str, channel: &str, topic: &str| {
        decide(&p, &biz(b), channel, topic, &right(), &empty, ts(NOON))
    };
    assert_eq!(ask("other", "email", "orders"), Decision::Allowed);
    assert_eq!(ask("shop", "email", "orders"), refused(Reason::ChannelOff));
    assert_eq!(
        ask("shop", "sms", "orders"),
        refused(Reason::TopicNotChosen)
    );
    assert_eq!(ask("shop", "sms", "offers"), refused(Reason::TopicBlocked));
    // The top level's blocked topics still hold for the business.
    assert_eq!(ask("shop", "sms", "news"), refused(Reason::TopicBlocked));
    assert_eq!(
        ask("bank", "email", "orders"),
        refused(Reason::DoNotContact)
    );
}

#[test]
fn a_calendar_day_is_the_owners_day() {
    let p = policy(json!({"time_zone": "Europe/Amsterdam", "caps": [{"max": 1, "per": "day"}]}));
    // 23:30 in Amsterdam on 9 June (21:30 UTC): it counts for 9 June, local.
    let h = MemoryHistory::new(vec![contact(
        "2026-06-09T21:30:00Z",
        "shop",
        "email",
        "orders",
    )]);
    // 23:45 local on 9 June: the same local day, refused until local midnight.
    assert_eq!(
        check(&p, &h, "2026-06-09T21:45:00Z"),
        cap_reached("2026-06-09T22:00:00Z")
    );
    // 00:30 local on 10 June, still 9 June in UTC: a new local day.
    assert_eq!(check(&p, &h, "2026-06-09T22:30:00Z"), Decision::Allowed);
    // In UTC the same contact counts for 9 June until UTC midnight.
    let utc = policy(json!({"caps": [{"max": 1, "per": "day"}]}));
    assert_eq!(
        check(&utc, &h, "2026-06-09T22:30:00Z"),
        cap_reached("2026-06-10T00:00:00Z")
    );
}

#[test]
fn calendar_weeks_and_months_take_the_quiet_hours_zone() {
    let quiet = json!({"start": "22:00", "end": "07:00", "time_zone": "Europe/Amsterdam"});
    let prefs = |per: &str, with_quiet: bool| {
        let mut p = json!({"time_zone": "UTC", "caps": [{"max": 2, "per": per}]});
        if with_quiet {
            p["quiet_hours"] = quiet.clone();
        }
        policy(p)
    };
    // Monday 1 June 2026 00:30 in Amsterdam is still Sunday 31 May in UTC.
    let h = MemoryHistory::new(vec![
        contact("2026-05-31T22:30:00Z", "shop", "email", "orders"),
        contact("2026-06-01T08:00:00Z", "shop", "email", "orders"),
    ]);
    let now = "2026-06-03T10:00:00Z";
    // In the quiet hours' zone both are this week and this month: full until the next local
    // Monday and the next local first of the month.
    assert_eq!(
        check(&prefs("week", true), &h, now),
        cap_reached("2026-06-07T22:00:00Z")
    );
    assert_eq!(
        check(&prefs("month", true), &h, now),
        cap_reached("2026-06-30T22:00:00Z")
    );
    // Without quiet hours, /preferences/time_zone (UTC) puts the first in May's last week.
    assert_eq!(check(&prefs("week", false), &h, now), Decision::Allowed);
    assert_eq!(check(&prefs("month", false), &h, now), Decision::Allowed);
}

#[test]
fn a_cap_over_all_businesses_does_not_tell_when_another_one_came() {
    let p = policy(json!({"caps": [{"max": 1, "per": "P1D", "scope": "all"}]}));
    // The bank reached the owner at 09:17:42; the shop is told to come back on the hour after
    // the slot frees, not at the bank's second.
    let h = MemoryHistory::new(vec![contact(
        "2026-01-15T09:17:42Z",
        "bank",
        "email",
        "orders",
    )]);
    assert_eq!(
        check(&p, &h, "2026-01-15T13:00:00Z"),
        cap_reached("2026-01-16T10:00:00Z")
    );
    // Its own cap may say the second: the contact was its own.
    let own = policy(json!({"caps": [{"max": 1, "per": "P1D"}]}));
    let h = MemoryHistory::new(vec![contact(
        "2026-01-15T09:17:42Z",
        "shop",
        "email",
        "orders",
    )]);
    assert_eq!(
        check(&own, &h, "2026-01-15T13:00:00Z"),
        cap_reached("2026-01-16T09:17:42Z")
    );
}

#[test]
fn a_business_zone_does_not_move_the_owners_day() {
    // The owner's day is Amsterdam's; the shop's own quiet hours are in Auckland.
    let p = policy(json!({
        "time_zone": "Europe/Amsterdam",
        "caps": [{"max": 1, "per": "day", "scope": "all"}],
        "businesses": {"shop": {"quiet_hours": {"start": "03:00", "end": "04:00", "time_zone": "Pacific/Auckland"}}}
    }));
    // The bank reached the owner at 10:00 in Amsterdam (09:00 UTC, winter).
    let h = MemoryHistory::new(vec![contact(
        "2026-01-15T09:00:00Z",
        "bank",
        "email",
        "orders",
    )]);
    // At 14:00 in Amsterdam, Auckland's day began at 13:00 Amsterdam, after the bank's
    // contact; the owner's day did not: the cap over all businesses is reached.
    assert_eq!(
        check(&p, &h, "2026-01-15T13:00:00Z"),
        cap_reached("2026-01-15T23:00:00Z")
    );
}

#[test]
fn rolling_windows_free_a_slot_when_the_oldest_leaves() {
    let p = policy(json!({"caps": [{"max": 2, "per": "P7D"}]}));
    let h = MemoryHistory::new(vec![
        contact("2026-06-01T08:00:00Z", "shop", "email", "orders"),
        contact("2026-06-03T08:00:00Z", "shop", "email", "orders"),
        contact("2026-06-05T08:00:00Z", "shop", "email", "orders"),
    ]);
    // On 6 June the window holds 1, 3 and 5 June: over by one, so the second-oldest must go.
    assert_eq!(
        check(&p, &h, "2026-06-06T08:00:00Z"),
        cap_reached("2026-06-10T08:00:00Z")
    );
    // On 8 June at 08:00 the 1 June contact has just left: 3 and 5 June remain, still full.
    assert_eq!(
        check(&p, &h, "2026-06-08T08:00:00Z"),
        cap_reached("2026-06-10T08:00:00Z")
    );
    assert_eq!(check(&p, &h, "2026-06-10T08:00:00Z"), Decision::Allowed);
}

#[test]
fn scope_all_counts_every_business() {
    let h = MemoryHistory::new(vec![
        contact("2026-06-10T08:00:00Z", "bank", "email", "orders"),
        contact("2026-06-10T09:00:00Z", "bakery", "sms", "news"),
    ]);
    let all = policy(json!({"caps": [{"max": 2, "per": "day", "scope": "all"}]}));
    let own = policy(json!({"caps": [{"max": 2, "per": "day"}]}));
    assert_eq!(check(&all, &h, NOON), cap_reached("2026-06-11T00:00:00Z"));
    assert_eq!(check(&own, &h, NOON), Decision::Allowed);
    // A channel-bound cap counts and caps only that channel.
    let sms = policy(json!({"caps": [{"max": 1, "per": "day", "scope": "all", "channel": "sms"}]}));
    assert_eq!(check(&sms, &h, NOON), Decision::Allowed);
    assert_eq!(
        decide(&sms, &biz("shop"), "sms", "orders", &right(), &h, ts(NOON)),
        cap_reached("2026-06-11T00:00:00Z")
    );
    // A topic-bound cap likewise.
    let news = policy(json!({"caps": [{"max": 1, "per": "P1D", "scope": "all", "topic": "news"}]}));
    assert_eq!(check(&news, &h, NOON), Decision::Allowed);
    assert_eq!(
        decide(&news, &biz("shop"), "email", "news", &right(), &h, ts(NOON)),
        cap_reached("2026-06-11T09:00:00Z")
    );
}

#[test]
fn the_strictest_cap_wins() {
    let h = MemoryHistory::new(vec![
        contact("2026-06-08T08:00:00Z", "shop", "email", "orders"),
        contact("2026-06-10T08:00:00Z", "shop", "email", "orders"),
    ]);
    // Both reached: the day frees at midnight, the week only next Monday.
    let p = policy(json!({
        "caps": [{"max": 1, "per": "day"}],
        "businesses": {"shop": {"caps": [{"max": 2, "per": "week"}]}}
    }));
    assert_eq!(check(&p, &h, NOON), cap_reached("2026-06-15T00:00:00Z"));
    // The business's own caps apply only to it.
    assert_eq!(
        decide(&p, &biz("other"), "email", "orders", &right(), &h, ts(NOON)),
        Decision::Allowed
    );
    // A cap with room does not refuse, whatever the others.
    let roomy = policy(json!({"caps": [{"max": 5, "per": "week"}, {"max": 1, "per": "PT1H"}]}));
    assert_eq!(check(&roomy, &h, NOON), Decision::Allowed);
}

#[test]
fn quiet_hours_on_a_dst_night_retry_at_the_real_end() {
    let p = policy(
        json!({"quiet_hours": {"start": "21:00", "end": "08:00", "time_zone": "Europe/Amsterdam"},
                           "businesses": {"bakery": {"quiet_hours": {"start": "12:00", "end": "13:00", "time_zone": "UTC"}}}}),
    );
    let empty = MemoryHistory::default();
    let quiet_until = |at: &str| Decision::Refused {
        reason: Reason::QuietHours,
        retry_after: Some(ts(at)),
    };
    assert_eq!(
        check(&p, &empty, "2026-03-29T01:30:00Z"),
        quiet_until("2026-03-29T06:00:00Z")
    );
    assert_eq!(
        check(&p, &empty, "2026-10-25T01:30:00Z"),
        quiet_until("2026-10-25T07:00:00Z")
    );
    assert_eq!(check(&p, &empty, "2026-10-25T07:00:00Z"), Decision::Allowed);
    // The bakery's own quiet hours replace the owner's.
    let bakery = |now: &str| {
        decide(
            &p,
            &biz("bakery"),
            "email",
            "orders",
            &right(),
            &empty,
            ts(now),
        )
    };
    assert_eq!(bakery("2026-10-25T01:30:00Z"), Decision::Allowed);
    assert_eq!(
        bakery("2026-10-25T12:30:00Z"),
        quiet_until("2026-10-25T13:00:00Z")
    );
}

#[test]
fn reasons_have_their_wire_names() {
    for (reason, name) in [
        (Reason::DoNotContact, "do_not_contact"),
        (Reason::ChannelOff, "channel_off"),
        (Reason::TopicBlocked, "topic_blocked"),
        (Reason::TopicNotChosen, "topic_not_chosen"),
        (Reason::CapReached, "cap_reached"),
        (Reason::QuietHours, "quiet_hours"),
        (Reason::NoContactRight, "no_contact_right"),
    ] {
        assert_eq!(serde_json::to_value(reason).unwrap(), json!(name));
        assert_eq!(reason.as_str(), name);
    }
}

proptest! {
    /// With one cap and contacts at random times, the decision is a refusal exactly when the
    /// window holds `max` contacts, and at the retry time the same history is allowed.
    #[test]
    fn a_cap_refuses_exactly_when_full(
        max in 1u32..5,
        hours in 1i64..72,
        offsets in proptest::collection::vec(0i64..(100 * 3600), 0..12),
    ) {
        let now = ts("2026-06-10T00:00:00Z");
        let p = policy(json!({"caps": [{"max": max, "per": format!("PT{hours}H")}]}));
        let contacts: Vec<Contact> = offsets.iter().map(|s| Contact {
            at: now - jiff::SignedDuration::from_secs(*s),
            business: biz("shop"), channel: "email".into(), topic: "orders".into(),
        }).collect();
        let window = hours * 3600;
        let inside = offsets.iter().filter(|s| **s < window).count();
        let h = MemoryHistory::new(contacts);
        match check(&p, &h, "2026-06-10T00:00:00Z") {
            Decision::Allowed => prop_assert!(inside < max as usize),
            Decision::Refused { reason, retry_after } => {
                prop_assert_eq!(reason, Reason::CapReached);
                prop_assert!(inside >= max as usize);
                let retry = retry_after.unwrap();
                prop_assert!(retry > now);
                prop_assert!(decide(&p, &biz("shop"), "email", "orders", &right(), &h, retry).is_allowed());
                let before = retry - jiff::SignedDuration::from_secs(1);
                prop_assert!(!decide(&p, &biz("shop"), "email", "orders", &right(), &h, before).is_allowed());
            }
        }
    }
}
