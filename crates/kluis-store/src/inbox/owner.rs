//! The owner's actions on inbox messages that also write the vault: a reply (filed in
//! `inbox.db`, sent as an `inbox.reply` event through the outbox) and "no more of this topic
//! from this business" (a per-business blocked topic in the document). Each is one `vault.db`
//! transaction with one access-log record, like every owner action ([`crate::owner`]).
//!
//! A reply spans two files, which SQLite cannot commit atomically. The locks are taken in the
//! order every writer uses (`vault.db`, then the access log, then `inbox.db`), and the reply
//! is filed in `inbox.db` last, after `vault.db` committed its event and the record. So a
//! failure leaves either nothing, or (if only the last commit fails, a disk error) a reply
//! that was sent and recorded but is missing from the inbox, which the error then says.

use rusqlite::{Transaction, TransactionBehavior};
use serde_json::Value;

use kluis_core::Pointer;
use kluis_core::access::{Action, ContactNote};
use kluis_core::grant::Status;
use kluis_core::inbox::{self, InboxPost, InboxReplied, MessageId, ReplyMessage};

use super::{Head, Inbox};
use crate::crypto;
use crate::error::{Result, StoreError};
use crate::inbox::view::SentReply;
use crate::owner::{Event, Owner};
use crate::vault::{unix_now, unix_now_ms};

impl Owner<'_> {
    /// Answers the business's message `id` with `text` (the rules of a message body,
    /// [`inbox::check_body`]): an `inbox.reply` event for each subscription of the grant the
    /// message came with, the reply filed under the message (which counts as read), and an
    /// `inbox_reply` record. Refused (`Conflict`, nothing changed) if that grant has ended, or
    /// has no subscription the event could go to.
    pub fn reply(&self, inbox: &Inbox, id: &MessageId, text: &str) -> Result<SentReply> {
        inbox::check_body(text)?;
        let (row, original) = inbox.incoming(id)?;
        let mut random = [0u8; 16];
        crypto::fill_random(&mut random)?;
        let reply_id = MessageId::from_random(random);
        let post = InboxPost {
            topic: original.topic.clone(),
            subject: inbox::reply_subject(&original.subject),
            body: text.to_owned(),
            in_reply_to: Some(original.id.clone()),
        };
        post.check()?;
        let at_ms = unix_now_ms();
        let head = Head {
            id: reply_id.clone(),
            at_ms,
            grant: original.grant.clone(),
            business: original.business.clone(),
            topic: post.topic.clone(),
            subject: post.subject.clone(),
            in_reply_to: post.in_reply_to.clone(),
            sha256: inbox::message_sha256(&post),
            outgoing: true,
        };
        let (key, sealed_head, sealed_body) = inbox.seal(&head, text)?;

        let filing = self.vault().in_transaction(|v| {
            let now = unix_now();
            let grant = v.grant(&original.grant)?;
            let ended = match grant.status(now) {
                Status::Active => None,
                Status::Revoked => Some("was revoked"),
                Status::Expired => Some("has expired"),
            };
            if let Some(ended) = ended {
                return Err(StoreError::Conflict(format!(
                    "{} cannot be answered: the grant {} that message came with {ended}",
                    grant.audience, grant.id
                )));
            }
            let data = InboxReplied {
                grant_id: grant.id.clone(),
                subject: grant.subject.clone(),
                message: ReplyMessage {
                    id: reply_id.clone(),
                    in_reply_to: original.id.clone(),
                    topic: post.topic.clone(),
                    subject: post.subject.clone(),
                    body: post.body.clone(),
                },
            };
            if v.fan_out_reply(&grant, &data, now)? == 0 {
                return Err(StoreError::Conflict(format!(
                    "{} cannot receive replies: the grant {} that message came with has no subscription to notifications",
                    grant.audience, grant.id
                )));
            }
            let event = Event {
                grant: Some(grant.id.clone()),
                business: Some(grant.audience.clone()),
                purpose: Some(grant.purpose.clone()),
                reason: Some(format!("answers message {}", original.id)),
                contact: Some(ContactNote {
                    channel: inbox::CHANNEL.to_owned(),
                    topic: post.topic.clone(),
                    message: Some(reply_id.to_string()),
                    counted: false,
                }),
                ..Event::default()
            };
            v.append_log(&[self.event(Action::InboxReply, event)])?;
            // Last, under the locks taken so far: `inbox.db`'s write lock.
            let tx = Transaction::new_unchecked(&inbox.conn, TransactionBehavior::Immediate)?;
            tx.prepare_cached(
                "INSERT INTO messages (key, outgoing, parent, read, head, body)
                 VALUES (?1, 1, ?2, 1, ?3, ?4)",
            )?
            .execute((&key[..], row.seq, &sealed_head, &sealed_body))?;
            tx.prepare_cached("UPDATE messages SET read = 1 WHERE seq = ?1")?
                .execute([row.seq])?;
            Ok(tx)
        })?;
        filing.commit().map_err(|err| {
            StoreError::Conflict(format!(
                "the reply {reply_id} was sent and recorded, but could not be filed in the inbox: {err}"
            ))
        })?;
        Ok(SentReply {
            id: reply_id,
            at_ms,
            subject: post.subject,
            body: post.body,
        })
    }

    /// "No more of this topic from this business": adds message `id`'s topic to
    /// `/preferences/businesses/<its business>/blocked_topics` (made if missing) through the
    /// document's usual write (checked, and told to subscriptions that cover it), recorded as
    /// one `topic_block`. Returns whether it was added; `false` if it was blocked already, and
    /// then nothing changes and nothing is recorded.
    pub fn block_topic(&self, inbox: &Inbox, id: &MessageId) -> Result<bool> {
        self.set_blocked(inbox, id, true)
    }

    /// Allows the message's topic from its business again: takes it out of
    /// `/preferences/businesses/<business>/blocked_topics` the same way, recorded as one
    /// `topic_unblock`. Returns whether it was taken out; `false` if it was not blocked there,
    /// and then nothing changes and nothing is recorded.
    pub fn unblock_topic(&self, inbox: &Inbox, id: &MessageId) -> Result<bool> {
        self.set_blocked(inbox, id, false)
    }

    /// Puts message `id`'s topic in (`block`) or out of its business's blocked topics.
    fn set_blocked(&self, inbox: &Inbox, id: &MessageId, block: bool) -> Result<bool> {
        let (_, message) = inbox.incoming(id)?;
        let at = blocked_topics(&message.business);
        let action = if block {
            Action::TopicBlock
        } else {
            Action::TopicUnblock
        };
        self.act(action, |v| {
            let mut topics = match v.find(&v.conn, &at)? {
                None => Vec::new(),
                Some(Value::Array(topics)) => topics,
                Some(_) => {
                    return Err(StoreError::Conflict(format!(
                        "{at} holds something other than a list; fix it with kluis set first"
                    )));
                }
            };
            let listed = topics.iter().any(|t| t.as_str() == Some(&message.topic));
            if listed == block {
                return Ok((false, None));
            }
            if block {
                topics.push(Value::String(message.topic.clone()));
            } else {
                topics.retain(|t| t.as_str() != Some(&message.topic));
            }
            let before = v.before_change(unix_now())?;
            v.set_many(vec![(at.clone(), Value::Array(topics))])?;
            v.told_of_change(before)?;
            let event = Event {
                business: Some(message.business.clone()),
                fields: vec![at.clone()],
                reason: Some(format!("from message {}", message.id)),
                contact: Some(ContactNote {
                    channel: inbox::CHANNEL.to_owned(),
                    topic: message.topic.clone(),
                    message: Some(message.id.to_string()),
                    counted: false,
                }),
                ..Event::default()
            };
            Ok((true, Some(event)))
        })
    }
}

/// Where a business's blocked topics are kept in the document.
pub fn blocked_topics(business: &kluis_core::grant::BusinessId) -> Pointer {
    Pointer::from_tokens([
        "preferences",
        "businesses",
        business.as_str(),
        "blocked_topics",
    ])
}
