//! The owner's view of the inbox: listings newest first, unread counts, one message in full
//! with the owner's replies to it (reading it marks it read), and archiving. These change only
//! `inbox.db` and are not recorded in the access log: they are the owner looking at their own
//! mail, not actions on anyone's data.

use std::collections::BTreeMap;

use kluis_core::grant::{BusinessId, GrantId};
use kluis_core::inbox::MessageId;

use super::{Head, Inbox, Row};
use crate::error::{Result, StoreError};

/// Which of the businesses' messages a listing shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum InboxFilter {
    /// Those not archived: the inbox itself.
    #[default]
    Current,
    /// Every one, archived or not.
    All,
    /// Those not read yet (and not archived).
    Unread,
    /// Those archived.
    Archived,
}

impl InboxFilter {
    fn sql(self) -> &'static str {
        match self {
            InboxFilter::Current => "m.archived = 0",
            InboxFilter::All => "1",
            InboxFilter::Unread => "m.read = 0 AND m.archived = 0",
            InboxFilter::Archived => "m.archived = 1",
        }
    }
}

/// A message from a business, as a listing shows it (no body).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageSummary {
    /// The arrival order; pass it as `before` to [`Inbox::list_before`] for the next page.
    pub seq: i64,
    pub id: MessageId,
    /// When it arrived, Unix milliseconds.
    pub at_ms: i64,
    /// The grant it came with.
    pub grant: GrantId,
    pub business: BusinessId,
    pub topic: String,
    pub subject: String,
    pub read: bool,
    pub archived: bool,
    /// Whether the owner answered it.
    pub replied: bool,
}

/// A message from a business in full.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub summary: MessageSummary,
    /// Plain text, as the business sent it: show it as text, never as markup.
    pub body: String,
    /// The owner's reply it answers, by id.
    pub in_reply_to: Option<MessageId>,
    /// That reply, when it answers one.
    pub answers: Option<SentReply>,
    /// The SHA-256 of the message (what its delivery receipt holds).
    pub sha256: [u8; 32],
    /// The owner's replies to it, oldest first.
    pub replies: Vec<SentReply>,
}

/// A reply the owner sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentReply {
    pub id: MessageId,
    /// When it was sent (written to the outbox), Unix milliseconds.
    pub at_ms: i64,
    pub subject: String,
    pub body: String,
}

impl Inbox {
    /// Up to `limit` messages that `filter` shows, newest first.
    pub fn list(&self, filter: InboxFilter, limit: usize) -> Result<Vec<MessageSummary>> {
        self.list_before(filter, None, limit)
    }

    /// Like [`Inbox::list`], but only messages that arrived before the one with `seq` `before`.
    pub fn list_before(
        &self,
        filter: InboxFilter,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<MessageSummary>> {
        let sql = format!(
            "SELECT m.seq, m.key, m.read, m.archived, m.head,
                    EXISTS (SELECT 1 FROM messages r WHERE r.parent = m.seq)
             FROM messages m WHERE m.outgoing = 0 AND {} AND m.seq < ?1
             ORDER BY m.seq DESC LIMIT ?2",
            filter.sql()
        );
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt
            .query_map((before.unwrap_or(i64::MAX), limit), |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, Vec<u8>>(1)?,
                    r.get::<_, bool>(2)?,
                    r.get::<_, bool>(3)?,
                    r.get::<_, Vec<u8>>(4)?,
                    r.get::<_, bool>(5)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter()
            .map(|(seq, key, read, archived, head, replied)| {
                let head = self.open_head(&key, &head, false)?;
                Ok(summary(seq, head, read, archived, replied))
            })
            .collect()
    }

    /// How many messages are unread (and not archived).
    pub fn unread_count(&self) -> Result<u64> {
        let n: i64 = self
            .conn
            .prepare_cached(
                "SELECT count(*) FROM messages WHERE outgoing = 0 AND read = 0 AND archived = 0",
            )?
            .query_row([], |r| r.get(0))?;
        Ok(n.max(0) as u64)
    }

    /// The unread messages (not archived) per business that sent them; businesses without one
    /// are left out.
    pub fn unread_by_business(&self) -> Result<BTreeMap<BusinessId, u64>> {
        let mut out = BTreeMap::new();
        for message in self.list(InboxFilter::Unread, usize::MAX)? {
            *out.entry(message.business).or_insert(0) += 1;
        }
        Ok(out)
    }

    /// One message in full, without marking it read.
    pub fn message(&self, id: &MessageId) -> Result<Message> {
        let (row, head) = self.incoming(id)?;
        self.full(row, head)
    }

    /// One message in full; it is read from now on.
    pub fn read(&self, id: &MessageId) -> Result<Message> {
        let (mut row, head) = self.incoming(id)?;
        if !row.read {
            self.conn
                .prepare_cached("UPDATE messages SET read = 1 WHERE seq = ?1")?
                .execute([row.seq])?;
            row.read = true;
        }
        self.full(row, head)
    }

    /// Marks a message unread again; returns whether it was read.
    pub fn mark_unread(&self, id: &MessageId) -> Result<bool> {
        self.set_flag(id, "read", false)
    }

    /// Moves a message out of the inbox into the archive; returns whether it was not archived.
    pub fn archive(&self, id: &MessageId) -> Result<bool> {
        self.set_flag(id, "archived", true)
    }

    /// Moves an archived message back into the inbox; returns whether it was archived.
    pub fn unarchive(&self, id: &MessageId) -> Result<bool> {
        self.set_flag(id, "archived", false)
    }

    fn set_flag(&self, id: &MessageId, flag: &'static str, to: bool) -> Result<bool> {
        let (row, _) = self.incoming(id)?;
        let sql = format!("UPDATE messages SET {flag} = ?2 WHERE seq = ?1 AND {flag} != ?2");
        let changed = self.conn.prepare_cached(&sql)?.execute((row.seq, to))?;
        Ok(changed > 0)
    }

    fn full(&self, row: Row, head: Head) -> Result<Message> {
        let body = self.open_body(&row.key, &row.body)?;
        let replies = self.replies_to(row.seq, &head.id)?;
        let answers = match &head.in_reply_to {
            Some(target) => self.sent(target)?,
            None => None,
        };
        Ok(Message {
            body,
            in_reply_to: head.in_reply_to.clone(),
            answers,
            sha256: head.sha256,
            summary: summary(row.seq, head, row.read, row.archived, !replies.is_empty()),
            replies,
        })
    }

    /// The owner's replies to the message with `seq` and `id`, oldest first.
    fn replies_to(&self, seq: i64, id: &MessageId) -> Result<Vec<SentReply>> {
        let rows = self
            .conn
            .prepare_cached(
                "SELECT key, head, body FROM messages WHERE parent = ?1 AND outgoing = 1 ORDER BY seq",
            )?
            .query_map([seq], |r| {
                Ok((
                    r.get::<_, Vec<u8>>(0)?,
                    r.get::<_, Vec<u8>>(1)?,
                    r.get::<_, Vec<u8>>(2)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter()
            .map(|(key, head, body)| {
                let head = self.open_head(&key, &head, true)?;
                if head.in_reply_to.as_ref() != Some(id) {
                    return Err(StoreError::Tampered(format!(
                        "reply {} is filed under a message it does not answer",
                        head.id
                    )));
                }
                Ok(sent_reply(head, self.open_body(&key, &body)?))
            })
            .collect()
    }

    /// The owner's reply `id`, if there is one.
    fn sent(&self, id: &MessageId) -> Result<Option<SentReply>> {
        let Some(row) = self.row(id)?.filter(|r| r.outgoing) else {
            return Ok(None);
        };
        let head = self.open_head(&row.key, &row.head, true)?;
        let body = self.open_body(&row.key, &row.body)?;
        Ok(Some(sent_reply(head, body)))
    }
}

fn summary(seq: i64, head: Head, read: bool, archived: bool, replied: bool) -> MessageSummary {
    MessageSummary {
        seq,
        id: head.id,
        at_ms: head.at_ms,
        grant: head.grant,
        business: head.business,
        topic: head.topic,
        subject: head.subject,
        read,
        archived,
        replied,
    }
}

fn sent_reply(head: Head, body: String) -> SentReply {
    SentReply {
        id: head.id,
        at_ms: head.at_ms,
        subject: head.subject,
        body,
    }
}
