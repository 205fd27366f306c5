//! What the owner sees of change notifications: the latest changes that businesses were (to
//! be) told of, each change's events with how their delivery stands (`deliveries.db`), and the
//! streams that are paused or ended. Read only, and never a body or a value: `kluis
//! notifications` and the dashboard's page both render this one view.

use std::collections::HashMap;

use kluis_core::Pointer;
use kluis_core::grant::{BusinessId, GrantId};
use kluis_core::notify::EventType;

use crate::deliveries::{Deliveries, Delivery, DeliveryState, StreamState, StreamStatus};
use crate::error::{Result, StoreError};
use crate::outbox::OutboxEvent;
use crate::vault::{Vault, unix_now};

/// Outbox rows read at a time while gathering changes.
const PAGE: usize = 256;

/// How one event's delivery stands, in the owner's terms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Standing {
    /// No attempt yet; `again` when the owner sent it again after it went dead.
    NotTried { again: bool },
    /// Failed `attempts` times so far; the next attempt is due at `next_at_ms`.
    Retrying {
        attempts: u32,
        next_at_ms: Option<i64>,
        last_result: Option<String>,
    },
    /// Acknowledged by the business.
    Delivered { at_ms: Option<i64>, attempts: u32 },
    /// Every attempt failed; it waits for the owner to send it again.
    Dead {
        attempts: u32,
        at_ms: Option<i64>,
        last_result: Option<String>,
    },
    /// Never to be sent, and why.
    Cancelled {
        at_ms: Option<i64>,
        reason: Option<String>,
    },
}

impl Standing {
    /// The standing of an event with delivery record `d` (`None`: not tried yet).
    pub fn of(d: Option<&Delivery>) -> Self {
        let Some(d) = d else {
            return Standing::NotTried { again: false };
        };
        match d.state {
            DeliveryState::Pending if d.attempts == 0 => Standing::NotTried {
                again: d.last_at_ms.is_some(),
            },
            DeliveryState::Pending => Standing::Retrying {
                attempts: d.attempts,
                next_at_ms: d.next_at_ms,
                last_result: d.last_result.clone(),
            },
            DeliveryState::Delivered => Standing::Delivered {
                at_ms: d.done_at_ms.or(d.last_at_ms),
                attempts: d.attempts,
            },
            DeliveryState::Dead => Standing::Dead {
                attempts: d.attempts,
                at_ms: d.done_at_ms.or(d.last_at_ms),
                last_result: d.last_result.clone(),
            },
            DeliveryState::Cancelled => Standing::Cancelled {
                at_ms: d.done_at_ms,
                reason: d.last_result.clone(),
            },
        }
    }

    /// One word for it: `not_tried`, `retrying`, `delivered`, `dead` or `cancelled`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Standing::NotTried { .. } => "not_tried",
            Standing::Retrying { .. } => "retrying",
            Standing::Delivered { .. } => "delivered",
            Standing::Dead { .. } => "dead",
            Standing::Cancelled { .. } => "cancelled",
        }
    }
}

/// One event of a change: who it is for, what it names, how its delivery stands.
#[derive(Clone, Debug)]
pub struct ToldEvent {
    pub seq: i64,
    /// The `webhook-id` (`msg_…`).
    pub id: String,
    /// The subscription (`sub_…`), or the access request (`r_…`) whose decision it carries.
    pub stream: String,
    pub kind: EventType,
    pub business: Option<BusinessId>,
    pub grant_id: Option<GrantId>,
    pub purpose: Option<String>,
    /// The pointers it names (never their values).
    pub fields: Vec<Pointer>,
    /// Whether it carries the new values of `fields` (a `full` subscription).
    pub full: bool,
    /// Where a decision goes (the URL the business gave with its request).
    pub callback_url: Option<String>,
    pub standing: Standing,
    /// Set while its stream is paused or ended.
    pub halted: Option<StreamStatus>,
}

/// One change and the events it caused, in the order they are sent.
#[derive(Clone, Debug)]
pub struct ToldChange {
    /// `chg_…`.
    pub change_id: String,
    /// Unix seconds.
    pub created_at: i64,
    pub events: Vec<ToldEvent>,
}

/// A stream that is paused (the owner may send its dead events again) or ended (by a 410).
#[derive(Clone, Debug)]
pub struct HaltedStream {
    pub stream: String,
    pub status: StreamStatus,
    /// The business it belongs to, when its subscription or request is still known.
    pub business: Option<BusinessId>,
    /// Its dead events: what sending again would send.
    pub dead: usize,
}

/// The owner's view of notifications: the newest changes first.
#[derive(Clone, Debug)]
pub struct NotificationsView {
    pub changes: Vec<ToldChange>,
    /// Older changes exist beyond the limit.
    pub more: bool,
    /// Paused streams first, then ended ones; each by when it stopped, newest first.
    pub halted: Vec<HaltedStream>,
}

impl Vault {
    /// The latest `limit` changes that caused events (grouped by change id), newest first,
    /// with their deliveries' standing from `deliveries`, and every paused or ended stream.
    pub fn notifications(
        &self,
        deliveries: &Deliveries,
        limit: usize,
    ) -> Result<NotificationsView> {
        let (events, more) = self.latest_changes(limit)?;
        let seqs: Vec<i64> = events.iter().map(|e| e.seq).collect();
        let records = deliveries.of(&seqs)?;
        let streams = deliveries.streams()?;
        let mut changes: Vec<ToldChange> = Vec::new();
        let mut businesses: HashMap<String, Option<BusinessId>> = HashMap::new();
        for event in events {
            businesses
                .entry(event.stream.clone())
                .or_insert_with(|| event.business.clone());
            let told = ToldEvent {
                standing: Standing::of(records.get(&event.seq)),
                halted: streams.get(&event.stream).cloned(),
                seq: event.seq,
                id: event.id,
                stream: event.stream,
                kind: event.kind,
                business: event.business,
                grant_id: event.grant_id,
                purpose: event.purpose,
                fields: event.fields,
                full: event.full,
                callback_url: event.callback_url,
            };
            match changes.last_mut() {
                Some(change) if change.change_id == event.change_id => change.events.push(told),
                _ => changes.push(ToldChange {
                    change_id: event.change_id,
                    created_at: event.created_at,
                    events: vec![told],
                }),
            }
        }
        for change in &mut changes {
            // Read newest first; shown in the order they are sent.
            change.events.reverse();
        }
        let mut halted = Vec::with_capacity(streams.len());
        for (stream, status) in streams {
            let business = match businesses.get(&stream) {
                Some(known) => known.clone(),
                None => self.business_of_stream(&stream)?,
            };
            let seqs = self.outbox_seqs_of(&stream)?;
            let dead = deliveries
                .of(&seqs)?
                .values()
                .filter(|d| d.state == DeliveryState::Dead)
                .count();
            halted.push(HaltedStream {
                stream,
                status,
                business,
                dead,
            });
        }
        halted.sort_by(|a, b| {
            let paused = |h: &HaltedStream| h.status.state == StreamState::Paused;
            paused(b)
                .cmp(&paused(a))
                .then(b.status.since_ms.cmp(&a.status.since_ms))
                .then(a.stream.cmp(&b.stream))
        });
        Ok(NotificationsView {
            changes,
            more,
            halted,
        })
    }

    /// The events of the latest `limit` changes, newest first, and whether older changes
    /// exist. A change's events are written in one transaction, so they are next to each
    /// other in the outbox.
    fn latest_changes(&self, limit: usize) -> Result<(Vec<OutboxEvent>, bool)> {
        let mut out: Vec<OutboxEvent> = Vec::new();
        let mut seen = 0;
        let mut before = None;
        loop {
            let page = self.outbox_before(before, PAGE)?;
            let full_page = page.len() == PAGE;
            let Some(last) = page.last() else {
                break;
            };
            before = Some(last.seq);
            for event in page {
                if out.last().is_none_or(|e| e.change_id != event.change_id) {
                    if seen == limit {
                        return Ok((out, true));
                    }
                    seen += 1;
                }
                out.push(event);
            }
            if !full_page {
                break;
            }
        }
        Ok((out, false))
    }

    /// The business a stream's events go to: its subscription's grant's, or its request's.
    fn business_of_stream(&self, stream: &str) -> Result<Option<BusinessId>> {
        let found = if stream.starts_with("sub_") {
            self.subscription(stream, unix_now())
                .and_then(|sub| self.grant(&sub.grant_id))
                .map(|grant| grant.audience)
        } else {
            self.stored_request(stream, unix_now())
                .map(|r| r.request.business.id)
        };
        match found {
            Ok(business) => Ok(Some(business)),
            Err(StoreError::NotFound(_) | StoreError::Invalid(_)) => Ok(None),
            Err(err) => Err(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(state: DeliveryState, attempts: u32, last_at_ms: Option<i64>) -> Delivery {
        Delivery {
            state,
            attempts,
            last_at_ms,
            last_result: Some("answered 500 Internal Server Error".into()),
            done_at_ms: Some(7),
            next_at_ms: Some(9),
            ..Delivery::untried(1)
        }
    }

    #[test]
    fn standings_follow_the_records() {
        assert_eq!(Standing::of(None), Standing::NotTried { again: false });
        let replayed = record(DeliveryState::Pending, 0, Some(5));
        assert_eq!(
            Standing::of(Some(&replayed)),
            Standing::NotTried { again: true }
        );
        let retrying = record(DeliveryState::Pending, 2, Some(5));
        assert_eq!(
            Standing::of(Some(&retrying)),
            Standing::Retrying {
                attempts: 2,
                next_at_ms: Some(9),
                last_result: Some("answered 500 Internal Server Error".into())
            }
        );
        assert_eq!(
            Standing::of(Some(&record(DeliveryState::Delivered, 1, Some(5)))),
            Standing::Delivered {
                at_ms: Some(7),
                attempts: 1
            }
        );
        assert_eq!(
            Standing::of(Some(&record(DeliveryState::Dead, 10, Some(5)))).as_str(),
            "dead"
        );
        assert_eq!(
            Standing::of(Some(&record(DeliveryState::Cancelled, 0, None))),
            Standing::Cancelled {
                at_ms: Some(7),
                reason: Some("answered 500 Internal Server Error".into())
            }
        );
    }
}
