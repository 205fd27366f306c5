//! The decision on one contact attempt: the grant's right first, then the owner's rules in a
//! fixed order, so the reason given is always the first rule that stops it.

use jiff::Timestamp;

use super::history::ContactHistory;
use super::policy::ContactPolicy;
use super::{ContactRight, Decision, Reason};
use crate::grant::BusinessId;

/// Whether `business` may reach the owner over `channel` about `topic` at `now`.
///
/// In order: `no_contact_right` (the grant's right lacks the channel or topic),
/// `do_not_contact`, `channel_off`, `topic_blocked`, `topic_not_chosen`, `quiet_hours` (retry
/// when the window ends), `cap_reached` (retry when the strictest reached cap frees a slot).
pub fn decide(
    policy: &ContactPolicy,
    business: &BusinessId,
    channel: &str,
    topic: &str,
    right: &ContactRight,
    history: &impl ContactHistory,
    now: Timestamp,
) -> Decision {
    let refused = |reason| Decision::Refused {
        reason,
        retry_after: None,
    };
    if !right.covers(channel, topic) {
        return refused(Reason::NoContactRight);
    }
    let rules = policy.for_business(business);
    if rules.do_not_contact {
        return refused(Reason::DoNotContact);
    }
    // "none" among the channels means none, whatever else is listed.
    let channel_on = rules
        .channels
        .as_ref()
        .is_none_or(|cs| !cs.iter().any(|c| c == "none") && cs.iter().any(|c| c == channel));
    if !channel_on {
        return refused(Reason::ChannelOff);
    }
    if rules.blocked_topics.iter().any(|t| t == topic) {
        return refused(Reason::TopicBlocked);
    }
    if rules
        .topics
        .as_ref()
        .is_some_and(|ts| !ts.iter().any(|t| t == topic))
    {
        return refused(Reason::TopicNotChosen);
    }
    if let Some(until) = rules.quiet_hours.as_ref().and_then(|q| q.window_end(now)) {
        return Decision::Refused {
            reason: Reason::QuietHours,
            retry_after: Some(until),
        };
    }
    let mut reached = rules
        .caps_for(channel, topic)
        .filter_map(|cap| cap.reached(business, history, now, &rules.zone))
        .peekable();
    if reached.peek().is_some() {
        // The strictest cap is the one that frees last; a cap whose history cannot say when
        // is passed over for one that can.
        return Decision::Refused {
            reason: Reason::CapReached,
            retry_after: reached.flatten().max(),
        };
    }
    Decision::Allowed
}
