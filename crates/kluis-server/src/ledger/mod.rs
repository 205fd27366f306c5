//! The ledger: one thread owns a connection and the access log's writer. It takes grant-API calls
//! in batches, checks each grant's revocation and expiry (asking SQLite once per batch whether
//! anything changed), then appends the batch's access records to the log file as one frame and
//! flushes it (group commit) before any handler may answer. Handlers never touch SQLite.
//!
//! Calls with a DPoP proof first pass one of two proof-checker threads, which check the
//! signatures of up to eight waiting proofs in one Ed25519 batch verification (about half the
//! cost of checking them one by one) and that no proof is used twice, then hand the calls on.
//!
//! Each grant's reads are counted per UTC day against its read budget ([`budget`]); past it a
//! read is refused (429) without building an answer, and the refusals are summed up in the log
//! rather than listed one by one.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use axum::body::Bytes;
use kluis_core::access::{AccessRecord, AccessRecordRef, Action, Actor, FieldList, Outcome};
use kluis_core::contact::ContactRight;
use kluis_core::grant::{BusinessId, GrantId};
use kluis_core::pointer::Pointer;
use kluis_core::relationship::Limits;
use kluis_store::{LogMark, StoreError, Vault, unix_now, unix_now_ms};
use tokio::sync::oneshot;

use crate::api::ApiError;
use crate::replay::ReplayCache;

mod append;
mod budget;
mod caches;
mod contact;
mod proofs;

pub use append::{AppendAsk, AppendVerdict};
pub use contact::{ContactAsk, ContactVerdict};
pub use proofs::PendingProof;

use budget::{AnonymousBudget, ReadBudgets};
use caches::Caches;
use contact::ContactBook;
use proofs::{Proof, check_proofs_then_pass_on};

/// At most this many calls share one frame of the log (one flush).
const MAX_BATCH: usize = 1024;
/// Threads checking DPoP signatures, and at most how many each checks in one batch (batches
/// of 4 to 8 already cost about half as much per signature as single checks; smaller batches
/// on two threads keep the wait short).
const PROOF_CHECKERS: usize = 2;
const PROOF_BATCH: usize = 8;
/// After this long without calls, the ledger rewrites the log's head if its last appends left
/// it behind.
const SETTLE_AFTER: Duration = Duration::from_millis(100);
/// Calls waiting for the ledger before new ones are turned away with 503.
const QUEUE: usize = 8192;
/// Committed batches and the calls they held, since the process started (all ledgers).
static BATCHES: AtomicU64 = AtomicU64::new(0);
static BATCHED_CALLS: AtomicU64 = AtomicU64::new(0);

/// How many batches the ledgers of this process have logged (one frame, one flush each), and how
/// many calls they held: the average batch size tells how well group commit spreads a flush.
pub fn batch_stats() -> (u64, u64) {
    (
        BATCHES.load(Ordering::Relaxed),
        BATCHED_CALLS.load(Ordering::Relaxed),
    )
}

/// What a handler knows about a call once its token checked out.
#[derive(Clone, Debug)]
pub struct Access {
    pub grant: GrantId,
    pub business: BusinessId,
    pub purpose: String,
    pub fields: Vec<Pointer>,
    /// The keyed hash of the presented token; it must be the one the grant was issued with.
    pub token_hash: [u8; 32],
    /// The channels and topics the grant lets the business use to reach the owner.
    pub contact: Option<ContactRight>,
    /// Whether the grant lets the business append entries to its relationship record.
    pub append_record: bool,
}

impl Access {
    /// The access-log record of a call with this grant that returned `fields`, or was refused
    /// for `reason`.
    fn view<'a>(
        &'a self,
        at_ms: i64,
        action: Action,
        fields: FieldList<'a>,
        reason: Option<&'a str>,
    ) -> AccessRecordRef<'a> {
        AccessRecordRef {
            at_ms,
            actor: Actor::Business,
            action,
            request: None,
            grant: Some(&self.grant),
            business: Some(&self.business),
            purpose: Some(&self.purpose),
            fields,
            outcome: if reason.is_some() {
                Outcome::Refused
            } else {
                Outcome::Allowed
            },
            reason,
            contact: None,
        }
    }

    /// The access-log record of a call with this grant, refused for `reason` before it reached
    /// the ledger.
    pub fn refusal(&self, at_ms: i64, action: Action, reason: &str) -> AccessRecord {
        self.view(at_ms, action, FieldList::NONE, Some(reason))
            .to_record()
    }
}

/// The ledger's answer to a read.
#[derive(Debug)]
pub enum Decision {
    /// The response body (the granted subset of the document, as JSON).
    Served(Bytes),
    /// Refused; the reason is for the owner's log and the server log, not the client.
    Refused(&'static str),
    /// Refused: the grant's `budget` of reads for today is used up, until the next UTC
    /// midnight in `retry_after` seconds.
    OverBudget { budget: u32, retry_after: u64 },
}

/// The ledger's answer to an introspection.
#[derive(Debug, PartialEq, Eq)]
pub enum Liveness {
    Inactive,
    /// Active; with the fields it still covers if the owner narrowed it (its token names more).
    Active(Option<Vec<Pointer>>),
}

enum Job {
    Read {
        access: Arc<Access>,
        /// Narrower fields asked for with `?fields=`; `None` means all granted ones.
        narrowed: Option<Vec<Pointer>>,
        proof: Proof,
        at_ms: i64,
        reply: oneshot::Sender<Decision>,
    },
    Introspect {
        access: Arc<Access>,
        proof: Proof,
        /// What the call is logged as: an introspection, or another call that needs a live
        /// grant (subscribing to changes).
        action: Action,
        at_ms: i64,
        reply: oneshot::Sender<Liveness>,
    },
    /// A contact attempt (a check, an inbox message), logged as `action`.
    Contact {
        access: Arc<Access>,
        proof: Proof,
        ask: Box<ContactAsk>,
        action: Action,
        at_ms: i64,
        reply: oneshot::Sender<ContactVerdict>,
    },
    /// An entry a business adds to its relationship record.
    Append {
        access: Arc<Access>,
        proof: Proof,
        ask: Box<AppendAsk>,
        at_ms: i64,
        reply: oneshot::Sender<AppendVerdict>,
    },
    Record {
        record: Box<AccessRecord>,
        reply: oneshot::Sender<()>,
    },
    /// Rewrite the log's head (see [`Ledger::settle`]).
    Settle { reply: oneshot::Sender<()> },
}

impl Job {
    fn proof_mut(&mut self) -> Option<&mut Proof> {
        match self {
            Job::Read { proof, .. }
            | Job::Introspect { proof, .. }
            | Job::Contact { proof, .. }
            | Job::Append { proof, .. } => Some(proof),
            Job::Record { .. } | Job::Settle { .. } => None,
        }
    }

    fn unchecked_proof(&self) -> Option<&PendingProof> {
        match self {
            Job::Read { proof, .. }
            | Job::Introspect { proof, .. }
            | Job::Contact { proof, .. }
            | Job::Append { proof, .. } => match proof {
                Proof::Unchecked(pending) => Some(pending),
                Proof::Verdict(_) => None,
            },
            Job::Record { .. } | Job::Settle { .. } => None,
        }
    }
}

/// How long after a batch failed for a full disk the calls not served are told so (ms).
const DISK_FULL_TOLD: i64 = 5_000;

/// A handle to the ledger thread; cheap to clone.
#[derive(Clone)]
pub struct Ledger {
    jobs: mpsc::SyncSender<Job>,
    /// Calls with a DPoP proof go through the proof checker first.
    proofs: mpsc::SyncSender<Job>,
    /// When (Unix ms, 0 for never) a batch last failed to store something because the disk
    /// is full: calls not served within [`DISK_FULL_TOLD`] of it are told so (503
    /// `storage-full`), not only that the vault is busy. A time rather than a flag that the
    /// next batch clears: on a nearly full disk the next batch may fit, while the calls of
    /// the failed one are still being answered.
    disk_full: Arc<AtomicI64>,
}

impl Ledger {
    /// Starts the ledger on its own thread with its own connection, and the proof checkers with
    /// the DPoP replay cache they share.
    pub fn start(vault: Vault) -> kluis_store::Result<Self> {
        Self::start_with(vault, Limits::default())
    }

    /// Like [`Ledger::start`], holding businesses' relationship entries to `limits`.
    pub fn start_with(vault: Vault, limits: Limits) -> kluis_store::Result<Self> {
        let replay = Arc::new(ReplayCache::new());
        let (proofs, proof_queue) = mpsc::sync_channel(QUEUE);
        let (jobs, queue) = mpsc::sync_channel(QUEUE);
        let disk_full = Arc::new(AtomicI64::new(0));
        let full = disk_full.clone();
        std::thread::Builder::new()
            .name("kluis-ledger".into())
            .spawn(move || run(vault, limits, queue, &full))?;
        let proof_queue = Arc::new(Mutex::new(proof_queue));
        for _ in 0..PROOF_CHECKERS {
            let (queue, to_ledger, replay) = (proof_queue.clone(), jobs.clone(), replay.clone());
            std::thread::Builder::new()
                .name("kluis-proofs".into())
                .spawn(move || check_proofs_then_pass_on(&queue, to_ledger, &replay))?;
        }
        Ok(Self {
            jobs,
            proofs,
            disk_full,
        })
    }

    /// Checks the grant, records the read and returns the body to send. With a key-bound grant,
    /// `proof` is the call's DPoP proof, checked but for its signature: a proof checker checks
    /// that (with other calls' signatures in one batch) and that no proof is reused first.
    pub async fn read(
        &self,
        access: Arc<Access>,
        narrowed: Option<Vec<Pointer>>,
        proof: Option<PendingProof>,
    ) -> Result<Decision, ApiError> {
        let (reply, answer) = oneshot::channel();
        self.submit(Job::Read {
            access,
            narrowed,
            proof: Proof::of(proof),
            at_ms: unix_now_ms(),
            reply,
        })?;
        answer.await.map_err(|_| self.unavailable())
    }

    /// Whether the grant is active now (and, for a key-bound grant, `proof` good); the question
    /// is recorded too.
    pub async fn introspect(
        &self,
        access: Arc<Access>,
        proof: Option<PendingProof>,
    ) -> Result<Liveness, ApiError> {
        self.check(access, proof, Action::Introspect).await
    }

    /// Whether the grant is active now (and `proof` good) for a call logged as `action`.
    pub async fn check(
        &self,
        access: Arc<Access>,
        proof: Option<PendingProof>,
        action: Action,
    ) -> Result<Liveness, ApiError> {
        let (reply, answer) = oneshot::channel();
        self.submit(Job::Introspect {
            access,
            proof: Proof::of(proof),
            action,
            at_ms: unix_now_ms(),
            reply,
        })?;
        answer.await.map_err(|_| self.unavailable())
    }

    /// Decides a contact attempt with the grant (live, and `proof` good), its contact right and
    /// the owner's policy, counts it if it is allowed and counts, and records it as `action`.
    pub async fn contact(
        &self,
        access: Arc<Access>,
        proof: Option<PendingProof>,
        ask: ContactAsk,
        action: Action,
    ) -> Result<ContactVerdict, ApiError> {
        let (reply, answer) = oneshot::channel();
        self.submit(Job::Contact {
            access,
            proof: Proof::of(proof),
            ask: Box::new(ask),
            action,
            at_ms: unix_now_ms(),
            reply,
        })?;
        answer.await.map_err(|_| self.unavailable())
    }

    /// Stores an entry a business adds to its relationship record, if the grant is live (and
    /// `proof` good) and the business's quotas allow it, and records the call.
    pub async fn append(
        &self,
        access: Arc<Access>,
        proof: Option<PendingProof>,
        ask: AppendAsk,
    ) -> Result<AppendVerdict, ApiError> {
        let (reply, answer) = oneshot::channel();
        self.submit(Job::Append {
            access,
            proof: Proof::of(proof),
            ask: Box::new(ask),
            at_ms: unix_now_ms(),
            reply,
        })?;
        answer.await.map_err(|_| self.unavailable())
    }

    /// Records a call that was refused before reaching a grant (bad token, bad request).
    pub async fn record(&self, record: AccessRecord) -> Result<(), ApiError> {
        let (reply, answer) = oneshot::channel();
        self.submit(Job::Record {
            record: Box::new(record),
            reply,
        })?;
        answer.await.map_err(|_| self.unavailable())
    }

    /// Makes the log's head cover every call answered so far (the ledger rewrites it at most
    /// every 100 ms under load, and after 100 ms without calls). For a clean stop.
    pub async fn settle(&self) -> Result<(), ApiError> {
        let (reply, answer) = oneshot::channel();
        self.submit(Job::Settle { reply })?;
        answer.await.map_err(|_| self.unavailable())
    }

    /// Why a call the ledger could not serve was not served.
    pub fn unavailable(&self) -> ApiError {
        let at = self.disk_full.load(Ordering::Relaxed);
        // A clock set back must not make every later 503 read as a full disk.
        if at > 0 && (0..DISK_FULL_TOLD).contains(&(unix_now_ms() - at)) {
            ApiError::DiskFull
        } else {
            ApiError::Unavailable
        }
    }

    fn submit(&self, job: Job) -> Result<(), ApiError> {
        let queue = match job.unchecked_proof() {
            Some(_) => &self.proofs,
            None => &self.jobs,
        };
        queue.try_send(job).map_err(|_| ApiError::Unavailable)
    }
}

fn run(vault: Vault, limits: Limits, queue: mpsc::Receiver<Job>, disk_full: &AtomicI64) {
    let mut caches = Caches::default();
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut anonymous = AnonymousBudget::default();
    let mut budgets = ReadBudgets::load(&vault, unix_now());
    let mut contacts = ContactBook::load(&vault, unix_now());
    let mut inbox = match vault.open_inbox() {
        Ok(inbox) => Some(inbox),
        Err(err) => {
            tracing::error!(error = %err, "could not open the inbox; messages are refused");
            None
        }
    };
    let mut records = match vault.open_relationships() {
        Ok(rel) => Some(rel.with_limits(limits)),
        Err(err) => {
            tracing::error!(error = %err, "could not open the relationship records; entries are refused");
            None
        }
    };
    loop {
        let first = match queue.recv_timeout(SETTLE_AFTER) {
            Ok(job) => job,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let (summaries, new_day) = budgets.next_period(unix_now());
                if new_day {
                    caches.forget_grants();
                }
                let at = append_alone(&vault, &summaries);
                budgets.save_if_due(&vault, at.as_ref(), false);
                contacts.save_if_due(&vault, at.as_ref(), false);
                if let Err(err) = vault.settle_log() {
                    tracing::warn!(error = %err, "could not rewrite the access log's head");
                }
                continue;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                // Every handle is gone: the last refusals summed up, the counts saved.
                let at = append_alone(&vault, &budgets.summaries(unix_now()));
                budgets.save_if_due(&vault, at.as_ref(), true);
                contacts.save_if_due(&vault, at.as_ref(), true);
                return;
            }
        };
        batch.push(first);
        batch.extend(queue.try_iter().take(MAX_BATCH - 1));
        let now = unix_now();
        let summary = anonymous.next_second(now);
        let (mut summaries, new_day) = budgets.next_period(now);
        if new_day {
            caches.forget_grants();
        }
        let settles = batch.iter().any(|job| matches!(job, Job::Settle { .. }));
        // Under the log's lock: a revocation recorded before this batch's records has also
        // committed before the batch is decided (see `Vault::with_log_lock`).
        contact::check_replies(inbox.as_ref(), &mut batch);
        // Kept outside the log's lock: if the batch cannot be logged, what it counted and
        // stored is taken back.
        let mut answers = Vec::new();
        let mut full = false;
        let decided = vault.with_log_lock(|v| {
            caches.refresh(v)?;
            answers = batch
                .iter()
                .map(|job| caches.decide(v, &mut budgets, &mut contacts, job, now))
                .collect::<kluis_store::Result<Vec<_>>>()?;
            // Messages are stored before their records are logged and answered.
            full = contact::deliver(inbox.as_mut(), &mut contacts, &batch, &mut answers);
            full |= append::store(records.as_mut(), &batch, &mut answers);
            if settles {
                // A clean stop: the reads refused so far are summed up now.
                summaries.extend(budgets.summaries(now));
            }
            let mut records = Vec::with_capacity(batch.len() + 1 + summaries.len());
            records.extend(summary.as_ref().map(AccessRecord::view));
            records.extend(summaries.iter().map(AccessRecord::view));
            for (job, answer) in batch.iter().zip(&answers) {
                let Some(record) = answer.record(job) else {
                    continue;
                };
                if record.grant.is_some() || anonymous.admit() {
                    records.push(record);
                }
            }
            v.append_log(&records)?;
            drop(records);
            if settles && let Err(err) = v.settle_log() {
                // The batch's records are in the log; only the head lags.
                tracing::warn!(error = %err, "could not rewrite the access log's head");
            }
            Ok(v.log_mark())
        });
        if full || decided.as_ref().is_err_and(StoreError::is_disk_full) {
            disk_full.store(unix_now_ms(), Ordering::Relaxed);
        }
        match decided {
            Ok(at) => {
                // Outside the log's lock: an owner's action holds the database's write lock
                // while it waits for the log's.
                budgets.save_if_due(&vault, at.as_ref(), settles);
                contacts.save_if_due(&vault, at.as_ref(), settles);
                BATCHES.fetch_add(1, Ordering::Relaxed);
                BATCHED_CALLS.fetch_add(answers.len() as u64, Ordering::Relaxed);
                for (job, answer) in batch.drain(..).zip(answers) {
                    answer.send(job);
                }
            }
            Err(err) => {
                // Dropping the reply senders answers every waiting call with 503. (The reads it
                // counted stay counted: a failing log fails every call anyway.) Contacts it
                // counted and messages it stored are taken back: those callers try again.
                tracing::error!(error = %err, calls = batch.len(), "the ledger could not log a batch");
                contact::take_back(inbox.as_mut(), &mut contacts, &batch, &answers);
                append::take_back(records.as_mut(), &batch, &answers);
                batch.clear();
            }
        }
    }
}

/// Appends `records` (summaries) outside a batch; where the log then ends.
fn append_alone(vault: &Vault, records: &[AccessRecord]) -> Option<LogMark> {
    if records.is_empty() {
        return vault.log_mark();
    }
    match vault.with_log_lock(|v| {
        v.append_log(records)?;
        Ok(v.log_mark())
    }) {
        Ok(at) => at,
        Err(err) => {
            tracing::error!(error = %err, "the ledger could not log its summaries");
            None
        }
    }
}
