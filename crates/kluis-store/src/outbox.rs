//! The outbox: change notifications waiting to be delivered, written in the same transaction as
//! the change that causes them (a change that committed is never without its events, an event
//! never exists for a change that rolled back). Each row is one event for one stream (a
//! subscription, or an access request's callback), in order by `seq`; its body and everything
//! about who it goes to are sealed. How deliveries went is kept in `deliveries.db`.

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use kluis_core::Pointer;
use kluis_core::grant::{BusinessId, GrantId};
use kluis_core::notify::{self, Event, EventType};

use crate::crypto;
use crate::error::{Result, StoreError};
use crate::vault::Vault;

const TABLE: &str = "outbox";

/// An event to write.
#[derive(Clone, Debug)]
pub struct NewEvent {
    /// The subscription id, or the access request id for `request.decided`.
    pub stream: String,
    pub event: Event,
    pub grant_id: Option<GrantId>,
    pub business: Option<BusinessId>,
    pub purpose: Option<String>,
    /// The pointers the event names (for the access log once delivered).
    pub fields: Vec<Pointer>,
    /// Whether the body holds values of `fields`.
    pub full: bool,
    /// Where to deliver a `request.decided` (a subscription's URL is the subscription's).
    pub callback_url: Option<String>,
}

/// An event read back from the outbox.
#[derive(Debug)]
pub struct OutboxEvent {
    pub seq: i64,
    /// The `webhook-id`.
    pub id: String,
    pub stream: String,
    pub change_id: String,
    pub created_at: i64,
    /// The last event of its stream (the grant ended).
    pub is_final: bool,
    pub kind: EventType,
    pub grant_id: Option<GrantId>,
    pub business: Option<BusinessId>,
    pub purpose: Option<String>,
    pub fields: Vec<Pointer>,
    pub full: bool,
    pub callback_url: Option<String>,
    /// The exact bytes sent.
    pub body: Zeroizing<Vec<u8>>,
}

#[derive(Serialize, Deserialize)]
struct Sealed {
    /// The stream, bound in: an event cannot be moved to another business's subscription.
    stream: String,
    kind: EventType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    grant_id: Option<GrantId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    business: Option<BusinessId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    purpose: Option<String>,
    #[serde(default)]
    fields: Vec<Pointer>,
    #[serde(default)]
    full: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    callback_url: Option<String>,
    body: String,
}

/// A new change id (groups one change's events).
pub fn new_change_id() -> Result<String> {
    let mut random = [0u8; 16];
    crypto::fill_random(&mut random)?;
    Ok(notify::change_id(random))
}

impl Vault {
    /// Writes `events` for one change, in order. Part of the caller's transaction (the change),
    /// or one of its own.
    pub fn enqueue_events(&self, change_id: &str, events: Vec<NewEvent>, now: i64) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        self.in_transaction(|v| {
            let mut insert = v.conn.prepare_cached(
                "INSERT INTO outbox (id, stream, change_id, created_at, final, sealed)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for new in events {
                let mut random = [0u8; 16];
                crypto::fill_random(&mut random)?;
                let id = notify::message_id(random);
                let sealed = Sealed {
                    stream: new.stream.clone(),
                    kind: new.event.kind,
                    grant_id: new.grant_id,
                    business: new.business,
                    purpose: new.purpose,
                    fields: new.fields,
                    full: new.full,
                    callback_url: new.callback_url,
                    body: String::from_utf8(new.event.to_body()).expect("JSON is UTF-8"),
                };
                let plain = Zeroizing::new(
                    serde_json::to_vec(&sealed)
                        .map_err(|_| StoreError::Crypto("an event could not be encoded"))?,
                );
                let sealed = v
                    .unlocked
                    .keys
                    .seal(&v.place(TABLE, id.as_bytes()), &plain)?;
                insert.execute((
                    &id,
                    &new.stream,
                    change_id,
                    now,
                    new.event.kind.ends_grant(),
                    sealed,
                ))?;
            }
            Ok(())
        })
    }

    /// Up to `limit` events after `seq`, oldest first.
    pub fn outbox_after(&self, seq: i64, limit: usize) -> Result<Vec<OutboxEvent>> {
        let rows = self
            .conn
            .prepare_cached(
                "SELECT seq, id, stream, change_id, created_at, final, sealed FROM outbox
                 WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            )?
            .query_map((seq, limit as i64), row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter().map(|r| self.open_event(r)).collect()
    }

    /// Like [`Vault::outbox_after`], but opens only the events `wanted` says yes to; returns
    /// them and the last `seq` looked at (to go on from), `None` when there was nothing after
    /// `seq`.
    pub fn outbox_scan(
        &self,
        seq: i64,
        limit: usize,
        wanted: impl Fn(i64) -> bool,
    ) -> Result<(Vec<OutboxEvent>, Option<i64>)> {
        let rows = self
            .conn
            .prepare_cached(
                "SELECT seq, id, stream, change_id, created_at, final, sealed FROM outbox
                 WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            )?
            .query_map((seq, limit as i64), row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let last = rows.last().map(|r| r.seq);
        let events = rows
            .into_iter()
            .filter(|r| wanted(r.seq))
            .map(|r| self.open_event(r))
            .collect::<Result<Vec<_>>>()?;
        Ok((events, last))
    }

    /// Up to `limit` events before `seq` (all with `None`), newest first: the owner's view.
    pub fn outbox_before(&self, seq: Option<i64>, limit: usize) -> Result<Vec<OutboxEvent>> {
        let rows = self
            .conn
            .prepare_cached(
                "SELECT seq, id, stream, change_id, created_at, final, sealed FROM outbox
                 WHERE seq < ?1 ORDER BY seq DESC LIMIT ?2",
            )?
            .query_map((seq.unwrap_or(i64::MAX), limit as i64), row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter().map(|r| self.open_event(r)).collect()
    }

    /// The events of one change.
    pub fn outbox_change(&self, change_id: &str) -> Result<Vec<OutboxEvent>> {
        let rows = self
            .conn
            .prepare_cached(
                "SELECT seq, id, stream, change_id, created_at, final, sealed FROM outbox
                 WHERE change_id = ?1 ORDER BY seq",
            )?
            .query_map([change_id], row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter().map(|r| self.open_event(r)).collect()
    }

    /// Whether a stream was sent its last event (its grant ended).
    pub fn stream_ended(&self, stream: &str) -> Result<bool> {
        Ok(self
            .conn
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM outbox WHERE stream = ?1 AND final = 1)")?
            .query_row([stream], |r| r.get(0))?)
    }

    /// The `seq`s of one stream's events.
    pub fn outbox_seqs_of(&self, stream: &str) -> Result<Vec<i64>> {
        Ok(self
            .conn
            .prepare_cached("SELECT seq FROM outbox WHERE stream = ?1 ORDER BY seq")?
            .query_map([stream], |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<i64>>>()?)
    }

    /// The newest event's `seq` (0 without events).
    pub fn outbox_last_seq(&self) -> Result<i64> {
        Ok(self
            .conn
            .prepare_cached("SELECT coalesce(max(seq), 0) FROM outbox")?
            .query_row([], |r| r.get(0))?)
    }

    fn open_event(&self, row: Row) -> Result<OutboxEvent> {
        let plain = self
            .unlocked
            .keys
            .open(&self.place(TABLE, row.id.as_bytes()), &row.sealed)?;
        let mut sealed: Sealed = serde_json::from_slice(&plain)
            .map_err(|_| StoreError::Tampered(format!("event {} is unreadable", row.id)))?;
        if sealed.kind.ends_grant() != row.is_final || sealed.stream != row.stream {
            return Err(StoreError::Tampered(format!(
                "event {}'s stream or final column disagrees with its sealed record",
                row.id
            )));
        }
        Ok(OutboxEvent {
            seq: row.seq,
            id: row.id,
            stream: row.stream,
            change_id: row.change_id,
            created_at: row.created_at,
            is_final: row.is_final,
            kind: sealed.kind,
            grant_id: sealed.grant_id.take(),
            business: sealed.business.take(),
            purpose: sealed.purpose.take(),
            fields: std::mem::take(&mut sealed.fields),
            full: sealed.full,
            callback_url: sealed.callback_url.take(),
            body: Zeroizing::new(std::mem::take(&mut sealed.body).into_bytes()),
        })
    }
}

struct Row {
    seq: i64,
    id: String,
    stream: String,
    change_id: String,
    created_at: i64,
    is_final: bool,
    sealed: Vec<u8>,
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok(Row {
        seq: r.get(0)?,
        id: r.get(1)?,
        stream: r.get(2)?,
        change_id: r.get(3)?,
        created_at: r.get(4)?,
        is_final: r.get(5)?,
        sealed: r.get(6)?,
    })
}
