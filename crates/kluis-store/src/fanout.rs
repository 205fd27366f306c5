//! Which events a change causes: for each live subscription, the changed fields inside its
//! grant (`field.changed`), or the fields its grant lost (`grant.narrowed`, `grant.revoked`,
//! `grant.expired`); the decision on an access request for its callback; and the owner's
//! answer to an inbox message (`inbox.reply`). Always part of the transaction of the change
//! itself.

use serde_json::Value;

use kluis_core::Pointer;
use kluis_core::grant::Grant;
use kluis_core::inbox::InboxReplied;
use kluis_core::notify::{
    self, Event, EventType, FieldChanged, GrantChanged, Payload, RequestDecided,
};

use crate::error::Result;
use crate::outbox::{NewEvent, new_change_id};
use crate::requests::StoredRequest;
use crate::subscriptions::Subscription;
use crate::vault::Vault;

impl Vault {
    /// The document as it is before a change, if any subscription could be told of the change
    /// (without one, a change costs no extra reading).
    pub(crate) fn before_change(&self, now: i64) -> Result<Option<Value>> {
        if self.has_live_subscriptions(now)? {
            Ok(Some(self.document()?))
        } else {
            Ok(None)
        }
    }

    /// Writes the `field.changed` events of a change from `old` to the document as it is now.
    pub(crate) fn fan_out_document_change(&self, old: &Value, now: i64) -> Result<()> {
        let new = self.document()?;
        let changed = notify::diff(old, &new);
        if changed.is_empty() {
            return Ok(());
        }
        let change_id = new_change_id()?;
        let mut events = Vec::new();
        let mut grant: Option<(Grant, Vec<Pointer>)> = None;
        for sub in self.live_subscriptions(now)? {
            if grant.as_ref().is_none_or(|(g, _)| g.id != sub.grant_id) {
                grant = Some(self.grant_with_coverage(&sub)?);
            }
            let (g, covered) = grant.as_ref().expect("set above");
            let told = notify::changes_within(&changed, covered, old, &new);
            if told.is_empty() {
                continue;
            }
            let full = sub.payload == Payload::Full;
            let data = FieldChanged {
                grant_id: g.id.clone(),
                subject: g.subject.clone(),
                change_id: change_id.clone(),
                changed: told.clone(),
                values: full.then(|| notify::values_at(&new, &told)),
            };
            events.push(NewEvent {
                stream: sub.id.clone(),
                event: Event::new(EventType::FieldChanged, now, &data),
                grant_id: Some(g.id.clone()),
                business: Some(g.audience.clone()),
                purpose: Some(g.purpose.clone()),
                fields: told,
                full,
                callback_url: None,
            });
        }
        self.enqueue_events(&change_id, events, now)
    }

    /// Writes one `kind` event (narrowed, revoked or expired) to each subscription of `grant`
    /// that was not deleted: the fields it lost and those it keeps.
    pub(crate) fn fan_out_grant_change(
        &self,
        grant: &Grant,
        kind: EventType,
        removed: &[Pointer],
        remaining: &[Pointer],
        now: i64,
    ) -> Result<()> {
        // A stream that was sent its last event (`grant.expired`) is told nothing more.
        let mut subs = self.subscriptions_of(&grant.id, now)?;
        subs.retain(|s| !self.stream_ended(&s.id).unwrap_or(true));
        if subs.is_empty() {
            return Ok(());
        }
        let data = GrantChanged {
            grant_id: grant.id.clone(),
            subject: grant.subject.clone(),
            removed: removed.to_vec(),
            remaining: remaining.to_vec(),
        };
        let events = subs
            .iter()
            .map(|sub| NewEvent {
                stream: sub.id.clone(),
                event: Event::new(kind, now, &data),
                grant_id: Some(grant.id.clone()),
                business: Some(grant.audience.clone()),
                purpose: Some(grant.purpose.clone()),
                fields: removed.to_vec(),
                full: false,
                callback_url: None,
            })
            .collect();
        self.enqueue_events(&new_change_id()?, events, now)
    }

    /// Writes `grant.expired` for every subscription whose grant expired by `now` and was not
    /// told yet. Returns how many were written.
    pub fn fan_out_expiries(&self, now: i64) -> Result<usize> {
        self.in_transaction(|v| {
            let subs = v.subscriptions_of_expired_grants(now)?;
            let mut grants: Vec<(Grant, Vec<Pointer>)> = Vec::new();
            for sub in &subs {
                if !grants.iter().any(|(g, _)| g.id == sub.grant_id) {
                    grants.push(v.grant_with_coverage(sub)?);
                }
            }
            for (grant, covered) in &grants {
                v.fan_out_grant_change(grant, EventType::GrantExpired, covered, &[], now)?;
            }
            Ok(subs.len())
        })
    }

    /// Writes `request.decided` for a decided request that named a callback URL.
    pub(crate) fn fan_out_decision(
        &self,
        asked: &StoredRequest,
        status: &RequestDecided,
        now: i64,
    ) -> Result<()> {
        let Some(url) = &asked.request.callback_url else {
            return Ok(());
        };
        // The decision is signed with the webhook key (`v1a`): a vault without subscriptions
        // may not have one yet.
        self.ensure_webhook_key()?;
        let event = NewEvent {
            stream: asked.id.to_string(),
            event: Event::new(EventType::RequestDecided, now, status),
            grant_id: None,
            business: Some(asked.request.business.id.clone()),
            purpose: Some(asked.request.purpose.clone()),
            fields: Vec::new(),
            full: false,
            callback_url: Some(url.clone()),
        };
        self.enqueue_events(&new_change_id()?, vec![event], now)
    }

    /// Writes one `inbox.reply` event to each subscription of `grant` that was not deleted or
    /// ended (the owner answered a message that came with it); returns how many were written.
    pub(crate) fn fan_out_reply(
        &self,
        grant: &Grant,
        data: &InboxReplied,
        now: i64,
    ) -> Result<usize> {
        let mut subs = self.subscriptions_of(&grant.id, now)?;
        subs.retain(|s| !self.stream_ended(&s.id).unwrap_or(true));
        let events: Vec<NewEvent> = subs
            .iter()
            .map(|sub| NewEvent {
                stream: sub.id.clone(),
                event: Event::new(EventType::InboxReply, now, data),
                grant_id: Some(grant.id.clone()),
                business: Some(grant.audience.clone()),
                purpose: Some(grant.purpose.clone()),
                fields: Vec::new(),
                full: false,
                callback_url: None,
            })
            .collect();
        let written = events.len();
        self.enqueue_events(&new_change_id()?, events, now)?;
        Ok(written)
    }

    /// A subscription's grant and the fields it covers now (narrowed or as its token says).
    fn grant_with_coverage(&self, sub: &Subscription) -> Result<(Grant, Vec<Pointer>)> {
        let grant = self.grant(&sub.grant_id)?;
        let covered = self
            .grant_state(sub.grant_id.as_str())?
            .and_then(|s| s.narrowed)
            .unwrap_or_else(|| grant.fields.clone());
        Ok((grant, covered))
    }
}
