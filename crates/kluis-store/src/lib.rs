//! The Kluis vault on disk: one SQLite file (WAL) where every name is a keyed hash and every value
//! is sealed with XChaCha20-Poly1305 under a data key that the owner's passphrase unlocks, with
//! the access log, the delivery bookkeeping, the inbox and the relationship records in files of their own beside it.

pub mod backup;
mod contact_report;
mod contacts;
pub mod crypto;
mod deliveries;
pub mod error;
mod fanout;
mod fields;
mod grants;
mod inbox;
mod keys;
mod log;
mod logfile;
mod logindex;
mod notifications;
mod outbox;
mod owner;
mod readcounts;
mod receipts;
mod relationships;
mod requests;
pub mod schema;
mod subscriptions;
mod vault;

pub use contact_report::{BusinessContacts, ContactReport, REASONS};
pub use contacts::SavedContacts;
pub use crypto::{KdfParams, Keys, Passphrase};
pub use deliveries::{
    DELIVERIES_FILE, Deliveries, Delivery, DeliveryState, StreamState, StreamStatus,
};
pub use error::{Result, StoreError};
pub use grants::GrantState;
pub use inbox::{
    INBOX_FILE, INBOX_LATEST, Inbox, InboxFilter, Message, MessageSummary, NewMessage, SentReply,
    blocked_topics,
};
pub use log::{LogCheck, LogEntry};
pub use logfile::{Checkpoint, LOG_FILE, Pruned, frame_ranges};
pub use logindex::{DEFAULT_PAGE, LogIndex, LogPage, LogQuery, LogSelection};
pub use notifications::{HaltedStream, NotificationsView, Standing, ToldChange, ToldEvent};
pub use outbox::{NewEvent, OutboxEvent};
pub use owner::{Approval, Denial, Event, Owner, Via};
pub use readcounts::{DayReads, GrantDay, LogMark};
pub use receipts::StoredReceipt;
pub use relationships::{
    Appended, EXPORT_MARK, EXPORT_VERSION, ExportedEntry, ExportedRecord, Imported, MAX_LOGGED,
    NewEntry, Observed, RELATIONSHIPS_FILE, RELATIONSHIPS_FORMAT, RELATIONSHIPS_LATEST,
    Relationships, RelationshipsExport, TimelineItem, known_businesses, observed_in_log,
    split_export,
};
pub use requests::{
    AppendChoice, ContactChoice, Decision, MAX_PENDING_REQUESTS, MAX_REASON_CHARS,
    REQUEST_LIFETIME_SECS, StoredRequest,
};
pub use subscriptions::{ROTATION_OVERLAP_SECS, Subscription};
pub use vault::{DB_FILE, Unlocked, Vault, unix_now, unix_now_ms};
