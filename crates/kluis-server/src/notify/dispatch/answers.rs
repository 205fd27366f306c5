//! What an attempt's answer does: a 2xx delivers the event (and logs it like a read when it
//! named fields), 410 ends the stream, anything else schedules the next attempt or, after the
//! last, makes the event dead and pauses its stream.

use kluis_core::access::{AccessRecord, Action, Actor, Outcome as LogOutcome};
use kluis_core::notify::EventType;
use kluis_store::{DeliveryState, StreamState, StreamStatus, unix_now_ms};

use super::{Attempted, Loop, Waiting};
use crate::notify::schedule::{next_delay, random_jitter};
use crate::notify::send::Outcome;

impl Loop {
    /// What an attempt's answer does to its event and stream.
    pub(super) fn judge(&mut self, done: Attempted) {
        self.in_flight = self.in_flight.saturating_sub(1);
        let Some(w) = self.waiting.get_mut(&done.seq) else {
            return;
        };
        if let Some(s) = self.streams.get_mut(&w.stream) {
            s.in_flight = false;
        }
        w.delivery.attempts += 1;
        w.delivery.last_at_ms = Some(done.at_ms);
        match done.outcome {
            Outcome::Delivered(status) => {
                w.delivery.last_result = Some(format!("answered {status}"));
                if w.kind == EventType::FieldChanged {
                    self.records.push(notified(w, done.at_ms));
                }
                self.finish(done.seq, DeliveryState::Delivered, None);
            }
            Outcome::Gone => {
                let stream = w.stream.clone();
                // The subscription ends in the vault too: no more events are written for it and
                // it no longer counts against the grant's limit.
                if let Some(grant) = &w.grant_id
                    && let Err(err) =
                        self.vault
                            .delete_subscription(grant, &stream, kluis_store::unix_now())
                {
                    tracing::warn!(error = %err, "could not end a subscription its receiver ended");
                }
                w.delivery.last_result = Some("answered 410 Gone".into());
                self.finish(done.seq, DeliveryState::Cancelled, None);
                self.halt(
                    &stream,
                    StreamState::Ended,
                    "the receiver answered 410 Gone: it wants no more events".into(),
                    done.at_ms,
                );
            }
            Outcome::Failed {
                detail,
                retry_after,
            } => {
                w.delivery.last_result = Some(detail);
                match next_delay(w.delivery.attempts, retry_after, random_jitter()) {
                    Some(delay) => {
                        w.delivery.next_at_ms = Some(done.at_ms + delay.as_millis() as i64);
                        self.dirty.push(w.delivery.clone());
                    }
                    None => {
                        let (stream, id) = (w.stream.clone(), w.id.clone());
                        self.finish(done.seq, DeliveryState::Dead, None);
                        self.halt(
                            &stream,
                            StreamState::Paused,
                            format!("event {id} failed every attempt"),
                            done.at_ms,
                        );
                    }
                }
            }
        }
    }

    /// Ends an event's delivery in `state` and takes it off its stream.
    pub(super) fn finish(&mut self, seq: i64, state: DeliveryState, reason: Option<String>) {
        let Some(mut w) = self.waiting.remove(&seq) else {
            return;
        };
        w.delivery.state = state;
        w.delivery.next_at_ms = None;
        w.delivery.done_at_ms = Some(unix_now_ms());
        if let Some(reason) = reason {
            w.delivery.last_result = Some(reason);
        }
        self.dirty.push(w.delivery);
        if let Some(s) = self.streams.get_mut(&w.stream) {
            s.queue.retain(|q| *q != seq);
            s.settling = true;
        }
    }

    /// Stops a stream: paused (the owner may replay) or ended (every waiting event cancelled).
    pub(super) fn halt(&mut self, stream: &str, state: StreamState, reason: String, at_ms: i64) {
        let status = StreamStatus {
            state,
            since_ms: at_ms,
            reason,
        };
        if state == StreamState::Ended {
            let rest: Vec<i64> = self
                .streams
                .get(stream)
                .map(|s| s.queue.iter().copied().collect())
                .unwrap_or_default();
            for seq in rest {
                self.finish(seq, DeliveryState::Cancelled, Some(status.reason.clone()));
            }
        }
        self.streams.entry(stream.to_owned()).or_default().status = Some(status.clone());
        self.dirty_streams.push((stream.to_owned(), Some(status)));
    }
}

/// The access record of a delivered field change: like a read, which fields, who, why.
fn notified(w: &Waiting, at_ms: i64) -> AccessRecord {
    AccessRecord {
        at_ms,
        actor: Actor::Business,
        action: Action::Notified,
        request: None,
        grant: w.grant_id.clone(),
        business: w.business.clone(),
        purpose: w.purpose.clone(),
        fields: w.fields.clone(),
        outcome: LogOutcome::Allowed,
        reason: Some(if w.full {
            format!("change notification {} with the new values", w.id)
        } else {
            format!("change notification {} naming the fields", w.id)
        }),
        contact: None,
    }
}
