//! The owner's inbox, in a database of its own (`inbox.db` beside `vault.db`): the messages
//! businesses leave (`POST /v1/inbox`, [`Inbox::deliver`]) and the owner's replies. Keeping it
//! apart means a delivery never changes `vault.db`, so the grant API's caches, which follow
//! that file's `PRAGMA data_version`, are not dropped by a busy inbox.
//!
//! What is sealed and what is not: every message is two sealed values bound to their row, its
//! head (id, time, grant, business, topic, subject, `in_reply_to`, hash) and its body. In the
//! clear are only `seq` (arrival order, for listing newest first), a keyed hash of the id (to
//! find a message without opening every head), whether a row is the owner's reply, the `read`
//! and `archived` flags, and which message a reply answers (`parent`, another row's `seq`).
//! Someone with the file but not the passphrase learns how many messages came and in which
//! order, which were read, archived and answered, and their sizes; not who sent them, when,
//! or about what. The flags are not authenticated: editing them can only mark a message
//! read, unread, archived or not.
//!
//! The owner's views and state changes are in [`view`]; the owner's actions that also write
//! `vault.db` (a reply, a blocked topic) are in [`owner`].

mod owner;
mod view;

use std::path::Path;

use rusqlite::{Connection, ErrorCode, OptionalExtension, Transaction, TransactionBehavior};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use kluis_core::grant::{BusinessId, GrantId};
use kluis_core::inbox::{InboxPost, MessageId, message_sha256};

use crate::error::{Result, StoreError};
use crate::schema;
use crate::vault::{Unlocked, Vault};

pub use owner::blocked_topics;
pub use view::{InboxFilter, Message, MessageSummary, SentReply};

/// The file beside `vault.db`.
pub const INBOX_FILE: &str = "inbox.db";

/// The places sealed values are bound to (with the row's lookup key).
const HEAD: &str = "inbox_head";
const BODY: &str = "inbox_body";
/// The lookup domain of message ids.
const LOOKUP: &str = "inbox-message";

/// Each entry is one migration; its number is its index + 1. Never edit a shipped one.
const MIGRATIONS: &[&str] = &["CREATE TABLE messages (
         seq INTEGER PRIMARY KEY,
         key BLOB NOT NULL UNIQUE,
         outgoing INTEGER NOT NULL,
         parent INTEGER REFERENCES messages(seq),
         read INTEGER NOT NULL DEFAULT 0,
         archived INTEGER NOT NULL DEFAULT 0,
         head BLOB NOT NULL,
         body BLOB NOT NULL
     );
     CREATE INDEX messages_by_state ON messages(outgoing, archived, read, seq);
     CREATE INDEX messages_by_parent ON messages(parent) WHERE parent IS NOT NULL;"];

/// The newest schema of `inbox.db` this build understands.
pub const INBOX_LATEST: i64 = MIGRATIONS.len() as i64;

/// A message a business left, as the grant API hands it over once it was allowed: checked
/// against the contact policy, with its id and hash (the receipt's) made.
#[derive(Clone, Debug)]
pub struct NewMessage {
    pub id: MessageId,
    /// When it arrived, Unix milliseconds.
    pub at_ms: i64,
    /// The grant it came with.
    pub grant: GrantId,
    pub business: BusinessId,
    pub post: InboxPost,
    /// [`kluis_core::inbox::message_sha256`] of `post`.
    pub sha256: [u8; 32],
}

/// What a message's sealed head holds.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Head {
    pub(crate) id: MessageId,
    pub(crate) at_ms: i64,
    pub(crate) grant: GrantId,
    pub(crate) business: BusinessId,
    pub(crate) topic: String,
    pub(crate) subject: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) in_reply_to: Option<MessageId>,
    pub(crate) sha256: [u8; 32],
    /// The owner's reply (bound in: the clear column must agree).
    pub(crate) outgoing: bool,
}

/// A connection to `inbox.db`, with the vault's keys to seal and open messages.
pub struct Inbox {
    pub(crate) conn: Connection,
    unlocked: Unlocked,
}

impl Vault {
    /// Opens (and creates, mode 0600) the inbox beside this vault's database, migrating it.
    pub fn open_inbox(&self) -> Result<Inbox> {
        let dir = self.path().parent().unwrap_or_else(|| Path::new("."));
        Inbox::open(dir, self.unlocked())
    }
}

impl Inbox {
    /// Opens (and creates, mode 0600) the inbox of the vault in `dir`, whose keys `unlocked`
    /// holds. Refuses a file written by a newer Kluis.
    pub fn open(dir: &Path, unlocked: &Unlocked) -> Result<Self> {
        // A delivery the API confirmed, and whose receipt the business holds, survives a
        // power loss (synchronous=FULL).
        let conn = schema::open_side(&dir.join(INBOX_FILE), MIGRATIONS)?;
        Ok(Self {
            conn,
            unlocked: unlocked.clone(),
        })
    }

    /// Stores `messages` in one transaction, durable when this returns. Each is checked again
    /// ([`InboxPost::check`], and its `sha256` against its content) and an `in_reply_to` must name a reply the owner sent to the same
    /// business ([`Inbox::check_reply_target`]); if any is refused (`Invalid`, naming it),
    /// none is stored. The grant API checks targets before it decides, so a batch it builds
    /// is not refused here: the owner's replies are never deleted, so a target that was good stays
    /// good.
    pub fn deliver(&mut self, messages: &[NewMessage]) -> Result<()> {
        for m in messages {
            m.post.check()?;
            if m.sha256 != message_sha256(&m.post) {
                return Err(kluis_core::Error::invalid(format!(
                    "message {}: sha256 is not the hash of its content",
                    m.id
                ))
                .into());
            }
        }
        let tx = Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate)?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO messages (key, outgoing, head, body) VALUES (?1, 0, ?2, ?3)",
            )?;
            for m in messages {
                if let Some(target) = &m.post.in_reply_to
                    && !reply_target(&tx, &self.unlocked, &m.business, target)?
                {
                    return Err(not_a_reply(target).into());
                }
                let head = Head {
                    id: m.id.clone(),
                    at_ms: m.at_ms,
                    grant: m.grant.clone(),
                    business: m.business.clone(),
                    topic: m.post.topic.clone(),
                    subject: m.post.subject.clone(),
                    in_reply_to: m.post.in_reply_to.clone(),
                    sha256: m.sha256,
                    outgoing: false,
                };
                let (key, head, body) = self.seal(&head, &m.post.body)?;
                insert.execute((&key[..], head, body)).map_err(duplicate)?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Takes back messages [`Inbox::deliver`] stored whose delivery then failed (the access
    /// log could not record it, so the business was answered 503 and will send it again): one
    /// transaction. Only incoming messages nobody answered can go.
    pub fn withdraw(&mut self, ids: &[MessageId]) -> Result<()> {
        let tx = Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate)?;
        {
            let mut delete = tx.prepare_cached(
                "DELETE FROM messages WHERE key = ?1 AND outgoing = 0
                 AND NOT EXISTS (SELECT 1 FROM messages AS r WHERE r.parent = messages.seq)",
            )?;
            for id in ids {
                delete.execute([&self.key(id)[..]])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Whether `id` is a reply the owner sent to `business`: what a business's `in_reply_to`
    /// must name. `false` for an unknown id, a business's own message, or another business's
    /// reply (which business is never told).
    pub fn check_reply_target(&self, business: &BusinessId, id: &MessageId) -> Result<bool> {
        reply_target(&self.conn, &self.unlocked, business, id)
    }

    /// The keyed hash a message is found under.
    fn key(&self, id: &MessageId) -> [u8; 32] {
        key_of(&self.unlocked, id)
    }

    /// The lookup key, sealed head and sealed body of a new row.
    fn seal(&self, head: &Head, body: &str) -> Result<([u8; 32], Vec<u8>, Vec<u8>)> {
        let key = self.key(&head.id);
        let plain = Zeroizing::new(
            serde_json::to_vec(head)
                .map_err(|_| StoreError::Crypto("a message could not be encoded"))?,
        );
        let keys = self.unlocked.keys();
        let head = keys.seal(&self.unlocked.place(HEAD, &key), &plain)?;
        let body = keys.seal(&self.unlocked.place(BODY, &key), body.as_bytes())?;
        Ok((key, head, body))
    }

    /// Opens a row's head, checking it belongs where it was found.
    fn open_head(&self, key: &[u8], sealed: &[u8], outgoing: bool) -> Result<Head> {
        open_head(&self.unlocked, key, sealed, outgoing)
    }

    fn open_body(&self, key: &[u8], sealed: &[u8]) -> Result<String> {
        let plain = self
            .unlocked
            .keys()
            .open(&self.unlocked.place(BODY, key), sealed)?;
        String::from_utf8(plain.to_vec())
            .map_err(|_| StoreError::Tampered("a message's body is unreadable".into()))
    }

    /// A row by id: its `seq`, whether it is outgoing, its key and sealed head and body.
    fn row(&self, id: &MessageId) -> Result<Option<Row>> {
        let key = self.key(id);
        Ok(self
            .conn
            .prepare_cached(
                "SELECT seq, outgoing, read, archived, head, body FROM messages WHERE key = ?1",
            )?
            .query_row([&key[..]], |r| {
                Ok(Row {
                    seq: r.get(0)?,
                    key: key.to_vec(),
                    outgoing: r.get(1)?,
                    read: r.get(2)?,
                    archived: r.get(3)?,
                    head: r.get(4)?,
                    body: r.get(5)?,
                })
            })
            .optional()?)
    }

    /// A message from a business by id, with its head opened; `NotFound` for an unknown id and
    /// for the owner's own replies.
    fn incoming(&self, id: &MessageId) -> Result<(Row, Head)> {
        let row = self.row(id)?.filter(|r| !r.outgoing).ok_or_else(|| {
            StoreError::not_found(format!("there is no message {id} in the inbox"))
        })?;
        let head = self.open_head(&row.key, &row.head, false)?;
        if head.id != *id {
            return Err(StoreError::Tampered(format!(
                "message {id}'s record names another message"
            )));
        }
        Ok((row, head))
    }
}

/// One row as stored.
struct Row {
    seq: i64,
    key: Vec<u8>,
    outgoing: bool,
    read: bool,
    archived: bool,
    head: Vec<u8>,
    body: Vec<u8>,
}

fn key_of(unlocked: &Unlocked, id: &MessageId) -> [u8; 32] {
    unlocked.keys().lookup(LOOKUP, id.as_str())
}

fn open_head(unlocked: &Unlocked, key: &[u8], sealed: &[u8], outgoing: bool) -> Result<Head> {
    let plain = unlocked.keys().open(&unlocked.place(HEAD, key), sealed)?;
    let head: Head = serde_json::from_slice(&plain)
        .map_err(|_| StoreError::Tampered("a message's record is unreadable".into()))?;
    if head.outgoing != outgoing || key_of(unlocked, &head.id)[..] != *key {
        return Err(StoreError::Tampered(format!(
            "message {}'s record disagrees with its row",
            head.id
        )));
    }
    Ok(head)
}

fn reply_target(
    conn: &Connection,
    unlocked: &Unlocked,
    business: &BusinessId,
    id: &MessageId,
) -> Result<bool> {
    let key = key_of(unlocked, id);
    let found: Option<Vec<u8>> = conn
        .prepare_cached("SELECT head FROM messages WHERE key = ?1 AND outgoing = 1")?
        .query_row([&key[..]], |r| r.get(0))
        .optional()?;
    match found {
        Some(sealed) => Ok(open_head(unlocked, &key, &sealed, true)?.business == *business),
        None => Ok(false),
    }
}

fn not_a_reply(target: &MessageId) -> kluis_core::Error {
    kluis_core::Error::invalid(format!(
        "in_reply_to: {target} is not a message the owner sent you"
    ))
}

/// A message id already stored: the caller made a duplicate.
fn duplicate(err: rusqlite::Error) -> StoreError {
    match err.sqlite_error_code() {
        Some(ErrorCode::ConstraintViolation) => {
            StoreError::Conflict("a message with this id is already in the inbox".into())
        }
        _ => err.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(conn: &Connection) -> Vec<String> {
        let mut stmt = conn
            .prepare("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name")
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    #[test]
    fn a_migrated_inbox_has_the_schema_of_a_fresh_one_and_a_newer_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let vault = Vault::create(
            dir.path(),
            &crate::Passphrase::new("pass phrase"),
            crate::KdfParams::OWASP_MINIMUM,
        )
        .unwrap();
        let inbox = vault.open_inbox().unwrap();
        let stepped = Connection::open_in_memory().unwrap();
        for sql in MIGRATIONS {
            stepped.execute_batch(sql).unwrap();
        }
        assert_eq!(schema(&inbox.conn), schema(&stepped));
        drop(inbox);
        // Opening again migrates nothing and keeps the schema.
        let again = vault.open_inbox().unwrap();
        assert_eq!(schema(&again.conn), schema(&stepped));
        again
            .conn
            .pragma_update(None, "user_version", INBOX_LATEST + 1)
            .unwrap();
        drop(again);
        let err = vault.open_inbox().err().unwrap();
        assert!(matches!(err, StoreError::TooNew { .. }), "{err}");
    }
}
