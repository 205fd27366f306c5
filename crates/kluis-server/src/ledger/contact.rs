//! Contact attempts in the ledger: whether a business may reach the owner now (its grant's
//! contact right, then the owner's contact policy and caps), decided one after another on the
//! ledger's thread so that concurrent attempts against a cap are counted exactly, and recorded
//! in the same log frame as the answer they get.
//!
//! The contacts that count (delivered messages, reserved checks) are held in an indexed
//! history; it is saved now and then with the log point it is as of, and a restarted ledger
//! adds the counted contacts the log holds past that point ([`Vault::saved_contacts`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use kluis_core::access::ContactNote;
use kluis_core::contact::{
    self, Contact, ContactPolicy, Decision, IndexedHistory, Reason, Timestamp,
};
use kluis_core::inbox;
use kluis_store::{Inbox, LogMark, NewMessage, Vault};
use serde_json::Value;

use super::Access;

/// How far back contacts are kept: the longest window a cap can have.
const LONGEST_WINDOW_SECS: i64 = 366 * 24 * 3600;
/// Saved at most this often while contacts are counted (each save writes `vault.db`, which
/// empties the ledger's caches once).
const SAVE_EVERY: Duration = Duration::from_secs(5);

/// One contact attempt, as its handler hands it to the ledger.
#[derive(Debug)]
pub struct ContactAsk {
    pub channel: String,
    pub topic: String,
    /// Whether an allowed attempt counts against the caps (a reserved check, a message).
    pub counts: bool,
    /// The inbox message, when the attempt delivers one: stored before the answer if allowed.
    pub message: Option<Box<NewMessage>>,
    /// Set by the ledger: `in_reply_to` names no message the owner sent this business.
    pub(super) bad_reply: bool,
}

impl ContactAsk {
    /// A contact check over `channel` about `topic`; `reserve` counts an allowed one.
    pub fn check(channel: String, topic: String, reserve: bool) -> Self {
        Self {
            channel,
            topic,
            counts: reserve,
            message: None,
            bad_reply: false,
        }
    }

    /// An inbox message, which counts if it is allowed.
    pub fn message(message: NewMessage) -> Self {
        Self {
            channel: inbox::CHANNEL.to_owned(),
            topic: message.post.topic.clone(),
            counts: true,
            message: Some(Box::new(message)),
            bad_reply: false,
        }
    }
}

/// The ledger's answer to a contact attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ContactVerdict {
    /// The grant is not live (or its DPoP proof failed); for the log, not the client.
    Inactive(&'static str),
    Allowed,
    /// A message's `in_reply_to` names no message the owner sent this business; not counted.
    BadReply,
    /// Allowed, but the message could not be stored; not delivered.
    Failed,
    /// Refused by the grant's right or the owner's policy; `retry_after` in Unix seconds.
    Refused {
        reason: Reason,
        retry_after: Option<i64>,
    },
}

impl ContactVerdict {
    /// The reason as the access log keeps it.
    pub fn reason(&self) -> Option<&'static str> {
        match self {
            ContactVerdict::Inactive(reason) => Some(reason),
            ContactVerdict::Allowed => None,
            ContactVerdict::BadReply => Some("in_reply_to names no message the owner sent"),
            ContactVerdict::Failed => Some("the inbox could not store the message"),
            ContactVerdict::Refused { reason, .. } => Some(reason.as_str()),
        }
    }
}

/// The owner's policy (as of the document it was read from) and the counted contacts.
pub(super) struct ContactBook {
    /// The document the policy was read from, and the policy (`None`: it could not be read).
    policy: Option<(Arc<Value>, Option<ContactPolicy>)>,
    history: IndexedHistory,
    /// Counted since the last save: the next batch.
    unsaved: Vec<Contact>,
    /// Whether the log point the saved contacts are as of should be saved again.
    changed: bool,
    /// Whether the next save replaces every saved batch (the history was rebuilt from the log).
    replace: bool,
    saved_at: Instant,
}

impl ContactBook {
    /// The counted contacts as saved and logged since; from nothing if none were ever saved or
    /// they cannot be read. Saved again at once as of the log's end, as read counts are.
    pub(super) fn load(vault: &Vault, now: i64) -> Self {
        let mut book = Self {
            policy: None,
            history: IndexedHistory::default(),
            unsaved: Vec::new(),
            changed: true,
            replace: false,
            saved_at: Instant::now(),
        };
        let found = vault.saved_contacts();
        if let Ok(Some(found)) = found {
            for contact in found.saved.into_iter().chain(found.unsaved.iter().cloned()) {
                book.history.record(contact);
            }
            book.unsaved = found.unsaved;
        } else {
            // Nothing usable was saved (a first start, another log file, or a batch that does
            // not open): the log holds every counted contact, so the history is rebuilt from it
            // and saved in place of whatever was there. Counting from nothing would let caps
            // be passed.
            if let Err(err) = &found {
                tracing::error!(error = %err, "could not read the saved contacts; rebuilding them from the access log");
            }
            match vault.counted_contacts_in_log((now - LONGEST_WINDOW_SECS) * 1000) {
                Ok(all) => {
                    for contact in &all {
                        book.history.record(contact.clone());
                    }
                    book.unsaved = all;
                    book.replace = true;
                }
                Err(err) => {
                    tracing::error!(error = %err, "could not read the access log either; contacts are counted from now (kluis log verify says why)");
                }
            }
        }
        book.forget_old(now);
        match vault.with_log_lock(|v| Ok(v.log_mark())) {
            Ok(at) => book.save_if_due(vault, at.as_ref(), true),
            Err(err) => tracing::warn!(error = %err, "could not open the access log"),
        }
        book
    }

    fn forget_old(&mut self, now: i64) {
        if let Ok(cut) = Timestamp::from_second(now - LONGEST_WINDOW_SECS) {
            self.history.forget_before(cut);
        }
    }

    /// Decides `ask` by `access`'s contact right and the policy in `doc`, at `now_ms`; an
    /// allowed attempt that counts is counted before the next one is decided.
    pub(super) fn decide(
        &mut self,
        doc: &Arc<Value>,
        access: &Access,
        ask: &ContactAsk,
        now_ms: i64,
    ) -> ContactVerdict {
        if ask.bad_reply {
            return ContactVerdict::BadReply;
        }
        let Ok(now) = Timestamp::from_millisecond(now_ms) else {
            return ContactVerdict::Inactive("the clock is out of range");
        };
        let Some(right) = &access.contact else {
            return ContactVerdict::Refused {
                reason: Reason::NoContactRight,
                retry_after: None,
            };
        };
        self.read_policy(doc);
        let policy = self.policy.as_ref().and_then(|(_, p)| p.as_ref());
        // A policy that cannot be read (a rule half-written field by field) means no contact.
        let Some(policy) = policy else {
            return ContactVerdict::Refused {
                reason: Reason::DoNotContact,
                retry_after: None,
            };
        };
        let decision = contact::decide(
            policy,
            &access.business,
            &ask.channel,
            &ask.topic,
            right,
            &self.history,
            now,
        );
        match decision {
            Decision::Allowed => {
                if ask.counts {
                    let contact = Contact {
                        at: now,
                        business: access.business.clone(),
                        channel: ask.channel.clone(),
                        topic: ask.topic.clone(),
                    };
                    self.history.record(contact.clone());
                    self.unsaved.push(contact);
                    self.changed = true;
                }
                ContactVerdict::Allowed
            }
            Decision::Refused {
                reason,
                retry_after,
            } => ContactVerdict::Refused {
                reason,
                retry_after: retry_after.map(|t| {
                    let ms = t.as_millisecond();
                    ms.div_euclid(1000) + i64::from(ms.rem_euclid(1000) != 0)
                }),
            },
        }
    }

    /// Takes back the contact counted for `ask` by `access` at `at_ms` (its message could not
    /// be stored): a delivery that failed does not use up a slot.
    pub(super) fn uncount(&mut self, access: &Access, ask: &ContactAsk, at_ms: i64) {
        let Ok(at) = Timestamp::from_millisecond(at_ms) else {
            return;
        };
        let contact = Contact {
            at,
            business: access.business.clone(),
            channel: ask.channel.clone(),
            topic: ask.topic.clone(),
        };
        self.history.unrecord(&contact);
        if let Some(at) = self.unsaved.iter().rposition(|c| *c == contact) {
            self.unsaved.remove(at);
        }
    }

    /// Reads the policy again if `doc` is not the document it was read from.
    fn read_policy(&mut self, doc: &Arc<Value>) {
        let current = matches!(&self.policy, Some((seen, _)) if Arc::ptr_eq(seen, doc));
        if !current {
            let policy = match ContactPolicy::from_document(doc) {
                Ok(policy) => Some(policy),
                Err(err) => {
                    tracing::warn!(error = %err, "the contact policy cannot be read; refusing contact until it is fixed");
                    None
                }
            };
            self.policy = Some((doc.clone(), policy));
        }
    }

    /// Saves the contacts as of `at` if they changed and the last save is `SAVE_EVERY` old (or
    /// `now` is set: a start or a clean stop).
    pub(super) fn save_if_due(&mut self, vault: &Vault, at: Option<&LogMark>, now: bool) {
        if !self.changed || (!now && self.saved_at.elapsed() < SAVE_EVERY) {
            return;
        }
        let Some(at) = at else {
            return;
        };
        let now = kluis_store::unix_now();
        self.forget_old(now);
        let forget = (now - LONGEST_WINDOW_SECS) * 1000;
        match vault.save_contacts(&self.unsaved, at, forget, self.replace) {
            Ok(()) => {
                self.unsaved.clear();
                self.replace = false;
                self.changed = false;
                self.saved_at = Instant::now();
            }
            Err(err) => tracing::warn!(error = %err, "could not save the counted contacts"),
        }
    }
}

/// The log's note on an attempt decided so.
pub(super) fn note(ask: &ContactAsk, verdict: &ContactVerdict) -> ContactNote {
    let allowed = *verdict == ContactVerdict::Allowed;
    ContactNote {
        channel: ask.channel.clone(),
        topic: ask.topic.clone(),
        message: ask
            .message
            .as_ref()
            .filter(|_| allowed)
            .map(|m| m.id.to_string()),
        counted: allowed && ask.counts,
    }
}

/// Marks the messages of `batch` whose `in_reply_to` names no message the owner sent their
/// business, before anything is decided (a bad reply is refused without being counted).
pub(super) fn check_replies(inbox: Option<&Inbox>, batch: &mut [super::Job]) {
    for job in batch {
        let super::Job::Contact { ask, .. } = job else {
            continue;
        };
        let Some(message) = &ask.message else {
            continue;
        };
        let Some(target) = &message.post.in_reply_to else {
            continue;
        };
        ask.bad_reply = match inbox.map(|i| i.check_reply_target(&message.business, target)) {
            Some(Ok(true)) => false,
            Some(Ok(false)) => true,
            // Without the inbox nothing is stored anyway; the delivery fails below.
            None => false,
            Some(Err(err)) => {
                tracing::warn!(error = %err, "could not look up a reply's message");
                true
            }
        };
    }
}

/// Stores the allowed messages of the batch in one transaction, before the batch's records
/// are logged and answered; if that fails, their answers become `Failed` (and their log
/// records say so), and their contacts are taken back. Whether it failed for a full disk.
pub(super) fn deliver(
    inbox: Option<&mut Inbox>,
    book: &mut ContactBook,
    batch: &[super::Job],
    answers: &mut [super::caches::Answer],
) -> bool {
    use super::caches::Answer;
    let allowed = |(job, answer): &(&super::Job, &Answer)| {
        matches!(
            (job, answer),
            (super::Job::Contact { ask, .. }, Answer::Contact(ContactVerdict::Allowed, _))
                if ask.message.is_some()
        )
    };
    let messages: Vec<NewMessage> = batch
        .iter()
        .zip(answers.iter())
        .filter(allowed)
        .filter_map(|(job, _)| match job {
            super::Job::Contact { ask, .. } => ask.message.as_deref().cloned(),
            _ => None,
        })
        .collect();
    if messages.is_empty() {
        return false;
    }
    let stored = match inbox {
        Some(inbox) => inbox.deliver(&messages),
        None => Err(kluis_store::StoreError::NotFound("the inbox".into())),
    };
    if let Err(err) = stored {
        tracing::error!(error = %err, messages = messages.len(), "could not store inbox messages");
        for (job, answer) in batch.iter().zip(answers.iter_mut()) {
            if allowed(&(job, &*answer))
                && let (
                    super::Job::Contact {
                        access, ask, at_ms, ..
                    },
                    Answer::Contact(verdict, note),
                ) = (job, answer)
            {
                book.uncount(access, ask, *at_ms);
                *verdict = ContactVerdict::Failed;
                note.counted = false;
                note.message = None;
            }
        }
        return err.is_disk_full();
    }
    false
}

/// Takes back what a batch whose records could not be logged counted and stored: its callers
/// are answered 503, so nothing of it may stay (they will try again).
pub(super) fn take_back(
    inbox: Option<&mut Inbox>,
    book: &mut ContactBook,
    batch: &[super::Job],
    answers: &[super::caches::Answer],
) {
    use super::caches::Answer;
    let mut stored = Vec::new();
    for (job, answer) in batch.iter().zip(answers) {
        if let (
            super::Job::Contact {
                access, ask, at_ms, ..
            },
            Answer::Contact(ContactVerdict::Allowed, note),
        ) = (job, answer)
        {
            if note.counted {
                book.uncount(access, ask, *at_ms);
            }
            stored.extend(ask.message.as_ref().map(|m| m.id.clone()));
        }
    }
    if let (Some(inbox), false) = (inbox, stored.is_empty())
        && let Err(err) = inbox.withdraw(&stored)
    {
        tracing::error!(error = %err, messages = stored.len(), "could not take back messages whose delivery was not logged");
    }
}
