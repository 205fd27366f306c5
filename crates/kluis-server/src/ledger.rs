//! The ledger: one thread owns a connection and the access log's writer. It takes grant-API calls
//! in batches, checks each grant's revocation and expiry (asking SQLite once per batch whether
//! anything changed), then appends the batch's access records to the log file as one frame and
//! flushes it (group commit) before any handler may answer. Handlers never touch SQLite.
//!
//! Calls with a DPoP proof first pass one of two proof-checker threads, which check the
//! signatures of up to eight waiting proofs in one Ed25519 batch verification (about half the
//! cost of checking them one by one) and that no proof is used twice, then hand the calls on.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use axum::body::Bytes;
use kluis_core::access::{AccessRecord, AccessRecordRef, Action, Actor, FieldList, Outcome};
use kluis_core::dpop::{MAX_SKEW_SECS, ProofError};
use kluis_core::grant::{self, BusinessId, GrantId, Status};
use kluis_core::jose::{self, UncheckedSignature};
use kluis_core::pointer::Pointer;
use kluis_store::{GrantState, Vault, unix_now, unix_now_ms};
use serde_json::Value;
use tokio::sync::oneshot;

use crate::api::ApiError;
use crate::replay::ReplayCache;

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
}

/// The ledger's answer to an introspection.
#[derive(Debug, PartialEq, Eq)]
pub enum Liveness {
    Inactive,
    /// Active; with the fields it still covers if the owner narrowed it (its token names more).
    Active(Option<Vec<Pointer>>),
}

/// A DPoP proof that passed every check but its signature and its first use.
pub struct PendingProof {
    pub signature: UncheckedSignature,
    pub jkt: String,
    pub jti: String,
    pub iat: i64,
}

/// A call's DPoP proof on its way through a proof checker.
enum Proof {
    /// Waiting for its signature and replay checks.
    Unchecked(Box<PendingProof>),
    /// Checked, or there was none to check: why it is refused, if it is.
    Verdict(Option<&'static str>),
}

impl Proof {
    fn of(pending: Option<PendingProof>) -> Self {
        pending.map_or(Proof::Verdict(None), |p| Proof::Unchecked(Box::new(p)))
    }

    /// Why the call is refused for its proof. A proof the checkers never saw is refused: every
    /// proof goes through them first, so this only fails closed.
    fn refusal(&self) -> Option<&'static str> {
        match self {
            Proof::Unchecked(_) => Some(ProofError::Invalid.reason()),
            Proof::Verdict(refusal) => *refusal,
        }
    }
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
            Job::Read { proof, .. } | Job::Introspect { proof, .. } => Some(proof),
            Job::Record { .. } | Job::Settle { .. } => None,
        }
    }

    fn unchecked_proof(&self) -> Option<&PendingProof> {
        match self {
            Job::Read { proof, .. } | Job::Introspect { proof, .. } => match proof {
                Proof::Unchecked(pending) => Some(pending),
                Proof::Verdict(_) => None,
            },
            Job::Record { .. } | Job::Settle { .. } => None,
        }
    }
}

/// A handle to the ledger thread; cheap to clone.
#[derive(Clone)]
pub struct Ledger {
    jobs: mpsc::SyncSender<Job>,
    /// Calls with a DPoP proof go through the proof checker first.
    proofs: mpsc::SyncSender<Job>,
}

/// A proof checker's thread: it checks the signatures of the calls waiting for it (up to
/// [`PROOF_BATCH`]) in one batch and that no proof is reused, then hands the calls on to the
/// ledger. A stage of its own, so that checking signatures overlaps with the ledger's flush.
fn check_proofs_then_pass_on(
    queue: &Mutex<mpsc::Receiver<Job>>,
    ledger: mpsc::SyncSender<Job>,
    replay: &ReplayCache,
) {
    let mut batch = Vec::with_capacity(PROOF_BATCH);
    loop {
        {
            let Ok(queue) = queue.lock() else { return };
            let Ok(first) = queue.recv() else { return };
            batch.push(first);
            batch.extend(queue.try_iter().take(PROOF_BATCH - 1));
        }
        let refusals = check_proofs(&batch, replay, unix_now());
        for (mut job, refusal) in batch.drain(..).zip(refusals) {
            if let Some(proof) = job.proof_mut() {
                *proof = Proof::Verdict(refusal);
            }
            // The ledger only stops when every sender is gone; its queue may push back.
            if ledger.send(job).is_err() {
                return;
            }
        }
    }
}

/// Checks the batch's DPoP signatures in one go, then that each proof is used for the first
/// time; the refusal of each job, in order.
fn check_proofs(batch: &[Job], replay: &ReplayCache, now: i64) -> Vec<Option<&'static str>> {
    let signatures: Vec<_> = batch
        .iter()
        .filter_map(Job::unchecked_proof)
        .map(|p| &p.signature)
        .collect();
    let mut valid = jose::check_all(&signatures).into_iter();
    batch
        .iter()
        .map(|job| match job.unchecked_proof() {
            Some(proof) => {
                if !valid.next().unwrap_or(false) {
                    Some(ProofError::Invalid.reason())
                } else if proof.iat.abs_diff(now) > MAX_SKEW_SECS.unsigned_abs() {
                    // Checked again here: the replay cache remembers a proof for its window
                    // counted from now, so a proof that waited long in a queue is not let in
                    // after its first use was forgotten.
                    Some(ProofError::Stale.reason())
                } else if !replay.first_use(&proof.jkt, &proof.jti, now) {
                    Some(ProofError::Replayed.reason())
                } else {
                    None
                }
            }
            None => None,
        })
        .collect()
}

impl Ledger {
    /// Starts the ledger on its own thread with its own connection, and the proof checkers with
    /// the DPoP replay cache they share.
    pub fn start(vault: Vault) -> kluis_store::Result<Self> {
        let replay = Arc::new(ReplayCache::new());
        let (proofs, proof_queue) = mpsc::sync_channel(QUEUE);
        let (jobs, queue) = mpsc::sync_channel(QUEUE);
        std::thread::Builder::new()
            .name("kluis-ledger".into())
            .spawn(move || run(vault, queue))?;
        let proof_queue = Arc::new(Mutex::new(proof_queue));
        for _ in 0..PROOF_CHECKERS {
            let (queue, to_ledger, replay) = (proof_queue.clone(), jobs.clone(), replay.clone());
            std::thread::Builder::new()
                .name("kluis-proofs".into())
                .spawn(move || check_proofs_then_pass_on(&queue, to_ledger, &replay))?;
        }
        Ok(Self { jobs, proofs })
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
        answer.await.map_err(|_| ApiError::Unavailable)
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
        answer.await.map_err(|_| ApiError::Unavailable)
    }

    /// Records a call that was refused before reaching a grant (bad token, bad request).
    pub async fn record(&self, record: AccessRecord) -> Result<(), ApiError> {
        let (reply, answer) = oneshot::channel();
        self.submit(Job::Record {
            record: Box::new(record),
            reply,
        })?;
        answer.await.map_err(|_| ApiError::Unavailable)
    }

    /// Makes the log's head cover every call answered so far (the ledger rewrites it at most
    /// every 100 ms under load, and after 100 ms without calls). For a clean stop.
    pub async fn settle(&self) -> Result<(), ApiError> {
        let (reply, answer) = oneshot::channel();
        self.submit(Job::Settle { reply })?;
        answer.await.map_err(|_| ApiError::Unavailable)
    }

    fn submit(&self, job: Job) -> Result<(), ApiError> {
        let queue = match job.unchecked_proof() {
            Some(_) => &self.proofs,
            None => &self.jobs,
        };
        queue.try_send(job).map_err(|_| ApiError::Unavailable)
    }
}

fn run(vault: Vault, queue: mpsc::Receiver<Job>) {
    let mut caches = Caches::default();
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut anonymous = AnonymousBudget::default();
    loop {
        let first = match queue.recv_timeout(SETTLE_AFTER) {
            Ok(job) => job,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if let Err(err) = vault.settle_log() {
                    tracing::warn!(error = %err, "could not rewrite the access log's head");
                }
                continue;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        };
        batch.push(first);
        batch.extend(queue.try_iter().take(MAX_BATCH - 1));
        let now = unix_now();
        let summary = anonymous.next_second(now);
        // Under the log's lock: a revocation recorded before this batch's records has also
        // committed before the batch is decided (see `Vault::with_log_lock`).
        let decided = vault.with_log_lock(|v| {
            caches.refresh(v)?;
            let answers = batch
                .iter()
                .map(|job| caches.decide(v, job, now))
                .collect::<kluis_store::Result<Vec<_>>>()?;
            let mut records = Vec::with_capacity(batch.len() + 1);
            records.extend(summary.as_ref().map(AccessRecord::view));
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
            if answers.iter().any(|a| matches!(a, Answer::Settled))
                && let Err(err) = v.settle_log()
            {
                // The batch's records are in the log; only the head lags.
                tracing::warn!(error = %err, "could not rewrite the access log's head");
            }
            Ok(answers)
        });
        match decided {
            Ok(answers) => {
                BATCHES.fetch_add(1, Ordering::Relaxed);
                BATCHED_CALLS.fetch_add(answers.len() as u64, Ordering::Relaxed);
                for (job, answer) in batch.drain(..).zip(answers) {
                    answer.send(job);
                }
            }
            Err(err) => {
                // Dropping the reply senders answers every waiting call with 503.
                tracing::error!(error = %err, calls = batch.len(), "the ledger could not log a batch");
                batch.clear();
            }
        }
    }
}

/// Calls refused before any grant was known (no token, garbage) cost nothing to send, so they
/// are recorded one by one only up to a rate; beyond it they are counted and recorded as one
/// summary entry per second, and the log cannot be used to fill the owner's disk.
#[derive(Default)]
struct AnonymousBudget {
    second: i64,
    recorded: u32,
    suppressed: u64,
}

/// Anonymous refusals recorded one by one per second.
const ANONYMOUS_PER_SECOND: u32 = 50;

impl AnonymousBudget {
    /// Starts a new second if `now` is one; returns the summary of the last one, if any.
    fn next_second(&mut self, now: i64) -> Option<AccessRecord> {
        if now == self.second {
            return None;
        }
        self.second = now;
        self.recorded = 0;
        let suppressed = std::mem::take(&mut self.suppressed);
        (suppressed > 0).then(|| {
            AccessRecord::refused_anonymously(
                now * 1000,
                Action::RefusedCalls,
                format!(
                    "{suppressed} more calls without a valid token were refused (over {ANONYMOUS_PER_SECOND}/s, counted, not listed one by one)"
                ),
            )
        })
    }

    /// Whether one more anonymous refusal may be recorded on its own.
    fn admit(&mut self) -> bool {
        if self.recorded < ANONYMOUS_PER_SECOND {
            self.recorded += 1;
            true
        } else {
            self.suppressed += 1;
            false
        }
    }
}

/// Grants (and documents) known to the ledger. Everything here is dropped as soon as another
/// connection commits anything (`PRAGMA data_version`, asked once per batch before its
/// grants are looked at), so a revocation by `kluis grant revoke` in another process still applies to the
/// very next call; between such commits, a call costs no look-up and no JSON building.
#[derive(Default)]
struct Caches {
    data_version: Option<i64>,
    generation: Option<i64>,
    doc: Arc<Value>,
    grants: HashMap<String, Known>,
}

/// Cached grants beyond which the cache starts over.
const MAX_KNOWN_GRANTS: usize = 100_000;
/// `?fields=` narrowings cached per grant; more are built per call.
const MAX_NARROWINGS: usize = 8;

/// What the ledger knows about one grant, valid until the next foreign commit.
struct Known {
    /// Expiry, revocation and token hash, MAC-checked; `Err` if the row was edited.
    state: Result<Option<GrantState>, &'static str>,
    /// The answer with every granted field.
    all: Option<Arc<Served>>,
    narrowed: Vec<(Vec<Pointer>, Arc<Served>)>,
}

/// A response body built from the document for a grant (and narrowing).
#[derive(Debug)]
struct Served {
    body: Bytes,
    /// The fields whose values it holds, as the access record's JSON list.
    fields: Box<serde_json::value::RawValue>,
}

impl Caches {
    /// Forgets grants when another connection committed something, and reloads the decrypted
    /// document when that something was a write to it.
    ///
    /// Outside a transaction: what is read after `data_version` is at least as new, and if it
    /// is newer, the next batch sees another `data_version` and reads again. The document,
    /// several rows, is read on one snapshot.
    fn refresh(&mut self, vault: &Vault) -> kluis_store::Result<()> {
        let version = vault.data_version()?;
        if self.data_version == Some(version) {
            return Ok(());
        }
        self.grants.clear();
        vault.in_read_transaction(|v| {
            let generation = v.generation()?;
            if self.generation != Some(generation) {
                self.doc = Arc::new(v.document()?);
                self.generation = Some(generation);
            }
            Ok(())
        })?;
        self.data_version = Some(version);
        Ok(())
    }

    fn known<'a>(
        grants: &'a mut HashMap<String, Known>,
        vault: &Vault,
        grant: &GrantId,
    ) -> kluis_store::Result<&'a mut Known> {
        if !grants.contains_key(grant.as_str()) {
            if grants.len() >= MAX_KNOWN_GRANTS {
                grants.clear();
            }
            let state = match vault.grant_state(grant.as_str()) {
                Err(kluis_store::StoreError::Tampered(cause)) => {
                    tracing::error!(%cause, grant.id = %grant, "refusing a grant whose record was edited");
                    Err("the grant's record was altered")
                }
                other => Ok(other?),
            };
            grants.insert(
                grant.as_str().to_owned(),
                Known {
                    state,
                    all: None,
                    narrowed: Vec::new(),
                },
            );
        }
        Ok(grants.get_mut(grant.as_str()).expect("inserted above"))
    }

    fn decide(&mut self, vault: &Vault, job: &Job, now: i64) -> kluis_store::Result<Answer> {
        let (access, proof) = match job {
            Job::Record { .. } => return Ok(Answer::Recorded),
            Job::Settle { .. } => return Ok(Answer::Settled),
            Job::Read { access, proof, .. } | Job::Introspect { access, proof, .. } => {
                (access, proof)
            }
        };
        let doc = &self.doc;
        let known = Self::known(&mut self.grants, vault, &access.grant)?;
        let refusal = match &known.state {
            Err(reason) => Some(*reason),
            Ok(None) => Some("the grant does not exist"),
            Ok(Some(state)) if state.token_hash != access.token_hash => {
                Some("the token is not the one issued for this grant")
            }
            Ok(Some(state)) => match grant::status(state.revoked_at, state.expires_at, now) {
                Status::Active => None,
                Status::Revoked => Some("the grant was revoked"),
                Status::Expired => Some("the grant has expired"),
            },
        };
        let refusal = refusal.or(proof.refusal());
        let narrowed = match job {
            Job::Introspect { .. } => {
                let narrowed = match &known.state {
                    Ok(Some(state)) if refusal.is_none() => state.narrowed.clone(),
                    _ => None,
                };
                return Ok(Answer::Introspect(refusal, narrowed));
            }
            Job::Read { narrowed, .. } => narrowed,
            Job::Record { .. } | Job::Settle { .. } => unreachable!("answered above"),
        };
        if let Some(reason) = refusal {
            return Ok(Answer::Read(Err(reason)));
        }
        let build = |fields: &[Pointer]| {
            let (shown, present) = grant::subset(doc, fields);
            let body = serde_json::to_vec(&shown).expect("a Value serializes");
            let fields = serde_json::value::to_raw_value(&present).expect("pointers serialize");
            Arc::new(Served {
                body: Bytes::from(body),
                fields,
            })
        };
        // The fields the grant covers now: the token's, or fewer if the owner narrowed it.
        let kept = match &known.state {
            Ok(Some(GrantState {
                narrowed: Some(kept),
                ..
            })) => Some(kept.as_slice()),
            _ => None,
        };
        let granted = kept.unwrap_or(&access.fields);
        let served = match narrowed {
            None => known.all.get_or_insert_with(|| build(granted)).clone(),
            Some(fields) => match known.narrowed.iter().find(|(f, _)| f == fields) {
                Some((_, served)) => served.clone(),
                None => {
                    let served = match kept {
                        None => build(fields),
                        Some(kept) => build(&grant::within(fields, kept)),
                    };
                    if known.narrowed.len() < MAX_NARROWINGS {
                        known.narrowed.push((fields.clone(), served.clone()));
                    }
                    served
                }
            },
        };
        Ok(Answer::Read(Ok(served)))
    }
}

enum Answer {
    Read(Result<Arc<Served>, &'static str>),
    /// `None` if the grant is active, else why not; and what it still covers if narrowed.
    Introspect(Option<&'static str>, Option<Vec<Pointer>>),
    Recorded,
    Settled,
}

impl Answer {
    /// The access-log record of `job`, answered so; a `Settle` has none.
    fn record<'a>(&'a self, job: &'a Job) -> Option<AccessRecordRef<'a>> {
        let (access, at_ms, endpoint) = match job {
            Job::Settle { .. } => return None,
            Job::Record { record, .. } => return Some(record.view()),
            Job::Read { access, at_ms, .. } => (access, *at_ms, Action::Read),
            Job::Introspect {
                access,
                at_ms,
                action,
                ..
            } => (access, *at_ms, *action),
        };
        let (fields, reason) = match self {
            Answer::Read(Ok(served)) => (FieldList::Json(&served.fields), None),
            Answer::Read(Err(reason)) => (FieldList::NONE, Some(*reason)),
            Answer::Introspect(refusal, _) => (FieldList::NONE, *refusal),
            Answer::Recorded | Answer::Settled => (FieldList::NONE, None),
        };
        Some(access.view(at_ms, endpoint, fields, reason))
    }

    fn send(self, job: Job) {
        // A handler that gave up (client gone, timeout) no longer listens; that is fine.
        match (job, self) {
            (Job::Read { reply, .. }, Answer::Read(answer)) => drop(reply.send(match answer {
                Ok(served) => Decision::Served(served.body.clone()),
                Err(reason) => Decision::Refused(reason),
            })),
            (Job::Introspect { reply, .. }, Answer::Introspect(refusal, narrowed)) => {
                let _ = reply.send(match refusal {
                    None => Liveness::Active(narrowed),
                    Some(_) => Liveness::Inactive,
                });
            }
            (Job::Record { reply, .. }, Answer::Recorded)
            | (Job::Settle { reply }, Answer::Settled) => {
                let _ = reply.send(());
            }
            _ => unreachable!("answers are made in the order of their jobs"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proofs_in_one_batch_are_judged_each_on_its_own() {
        use ed25519_dalek::SigningKey;
        use kluis_core::jose::{decode_compact, sign_compact};

        let now = 1_800_000_000;
        let key = SigningKey::from_bytes(&[3; 32]);
        let other = SigningKey::from_bytes(&[4; 32]);
        let access = Arc::new(Access {
            grant: GrantId::from_random([1; 16]),
            business: BusinessId::parse("shop.example").unwrap(),
            purpose: "test".into(),
            fields: vec![Pointer::parse("/profile/email").unwrap()],
            token_hash: [0; 32],
        });
        // A proof signed by `signer`, checked against `key`.
        let job = |jti: &str, iat: i64, signer: &SigningKey| {
            let jws = sign_compact(&serde_json::json!({"typ": "x"}), jti.as_bytes(), signer);
            let resolve = |_: &jose::Header| Some(key.verifying_key());
            let (_, _, signature) = decode_compact(&jws, resolve, "x").unwrap();
            Job::Read {
                access: access.clone(),
                narrowed: None,
                proof: Proof::of(Some(PendingProof {
                    signature,
                    jkt: "k".into(),
                    jti: jti.into(),
                    iat,
                })),
                at_ms: 0,
                reply: oneshot::channel().0,
            }
        };
        let batch = [
            job("a", now, &key),
            job("b", now, &other),
            job("a", now, &key),
            job("c", now - 3600, &key),
            job("b", now, &key),
            Job::Record {
                record: Box::new(AccessRecord::refused_anonymously(
                    0,
                    Action::Read,
                    "y".into(),
                )),
                reply: oneshot::channel().0,
            },
        ];
        let verdicts = check_proofs(&batch, &ReplayCache::new(), now);
        assert_eq!(
            verdicts,
            [
                None,
                Some(ProofError::Invalid.reason()),
                Some(ProofError::Replayed.reason()),
                Some(ProofError::Stale.reason()),
                None, // "b" was not used up by the forged proof
                None,
            ]
        );
    }

    #[test]
    fn anonymous_refusals_past_the_budget_are_counted_into_one_summary() {
        let mut budget = AnonymousBudget::default();
        assert!(budget.next_second(100).is_none());
        let admitted = (0..80).filter(|_| budget.admit()).count();
        assert_eq!(admitted, ANONYMOUS_PER_SECOND as usize);
        assert!(
            budget.next_second(100).is_none(),
            "same second: nothing to flush yet"
        );
        let summary = budget
            .next_second(101)
            .expect("a summary of the last second");
        assert!(summary.reason.unwrap().starts_with("30 more calls"));
        assert!(budget.admit(), "a new second has a fresh budget");
        assert!(budget.next_second(102).is_none(), "nothing was suppressed");
    }
}
