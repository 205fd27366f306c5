//! The dispatcher's loop: which event of which stream goes out next, what each answer does to
//! it, and the batched bookkeeping in `deliveries.db` (written before the next event of a
//! stream is sent, so order holds across a crash: at worst an event is sent twice, with its
//! `webhook-id`).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use ed25519_dalek::SigningKey;
use kluis_core::Pointer;
use kluis_core::access::AccessRecord;
use kluis_core::grant::{self, BusinessId, GrantId, Status};
use kluis_core::notify::EventType;
use kluis_core::webhook::Secret;
use kluis_store::{
    Deliveries, Delivery, DeliveryState, OutboxEvent, StreamState, StreamStatus, Vault, unix_now,
    unix_now_ms,
};

mod answers;

use super::send::{Outcome, Sender};
use super::{Msg, Options};

/// Outbox rows read at a time.
const PAGE: usize = 1000;
/// Bookkeeping (and the access records of deliveries) is committed at most this often, or
/// sooner once this many records wait: one flush for many deliveries, and the access log's
/// lock, which the grant API's ledger also takes, held rarely. A stream's next event waits for
/// the commit that records the one before it; a stream's first event does not wait.
const COMMIT_EVERY: Duration = Duration::from_millis(50);
const COMMIT_AT: usize = 2000;
/// How long a turn gathers answers still arriving before it sends the next events.
const GATHER: Duration = Duration::from_millis(1);
/// How often, at most, the vault and `deliveries.db` are asked whether another connection
/// committed (a wake-up always asks).
const LOOK_EVERY: Duration = Duration::from_millis(5);

/// How one attempt went.
pub struct Attempted {
    seq: i64,
    outcome: Outcome,
    at_ms: i64,
}

/// An event waiting for (another) attempt.
struct Waiting {
    id: String,
    stream: String,
    kind: EventType,
    grant_id: Option<GrantId>,
    business: Option<BusinessId>,
    purpose: Option<String>,
    fields: Vec<Pointer>,
    full: bool,
    callback_url: Option<String>,
    body: Bytes,
    delivery: Delivery,
}

#[derive(Default)]
struct Stream {
    queue: VecDeque<i64>,
    in_flight: bool,
    status: Option<StreamStatus>,
    /// The event before the head is done, but that is not committed yet.
    settling: bool,
}

/// What the dispatcher knows of a grant until the vault changes.
struct GrantView {
    /// `None`: unknown or its record was altered (never live).
    ends: Option<(Option<i64>, i64)>,
    covered: Vec<Pointer>,
}

impl GrantView {
    /// Whether the grant is live now (its times are checked at each use, not when read).
    fn active(&self) -> bool {
        self.ends.is_some_and(|(revoked_at, expires_at)| {
            grant::status(revoked_at, expires_at, unix_now()) == Status::Active
        })
    }
}

/// Where and how a subscription's events go.
struct Destination {
    url: String,
    secrets: Arc<[Secret]>,
    deleted: bool,
}

pub struct Loop {
    vault: Vault,
    deliveries: Deliveries,
    sender: Arc<Sender>,
    options: Options,
    runtime: tokio::runtime::Handle,
    back: mpsc::Sender<Msg>,
    key: Option<Arc<SigningKey>>,
    /// The last outbox `seq` looked at.
    high: i64,
    waiting: HashMap<i64, Waiting>,
    streams: HashMap<String, Stream>,
    in_flight: usize,
    vault_version: Option<i64>,
    deliveries_version: Option<i64>,
    grants: HashMap<GrantId, GrantView>,
    destinations: HashMap<String, Option<Destination>>,
    last_expiry_check: Option<Instant>,
    /// Bookkeeping not yet committed.
    dirty: Vec<Delivery>,
    dirty_streams: Vec<(String, Option<StreamStatus>)>,
    records: Vec<AccessRecord>,
    last_commit: Instant,
    last_look: Instant,
    /// Reused for the heads ready to send.
    ready: Vec<i64>,
}

impl Loop {
    pub(super) fn new(
        vault: Vault,
        deliveries: Deliveries,
        sender: Sender,
        options: Options,
        runtime: tokio::runtime::Handle,
        back: mpsc::Sender<Msg>,
    ) -> Self {
        Self {
            vault,
            deliveries,
            sender: Arc::new(sender),
            options,
            runtime,
            back,
            key: None,
            high: 0,
            waiting: HashMap::new(),
            streams: HashMap::new(),
            in_flight: 0,
            vault_version: None,
            deliveries_version: None,
            grants: HashMap::new(),
            destinations: HashMap::new(),
            last_expiry_check: None,
            dirty: Vec::new(),
            dirty_streams: Vec::new(),
            records: Vec::new(),
            last_commit: Instant::now(),
            last_look: Instant::now(),
            ready: Vec::new(),
        }
    }

    pub(super) fn run(mut self, rx: &mpsc::Receiver<Msg>) {
        if let Err(err) = self.reload() {
            tracing::error!(error = %err, "the dispatcher could not read the outbox");
        }
        loop {
            let wait = self.next_wait();
            let mut woken = false;
            match rx.recv_timeout(wait) {
                Ok(Msg::Stop) | Err(mpsc::RecvTimeoutError::Disconnected) => return self.stop(),
                Ok(Msg::Wake) => woken = true,
                Ok(Msg::Done(done)) => self.judge(done),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
            // Under load, answers arrive back to back: take those of the next moment too, so
            // that one turn (and its look at every stream) serves many.
            let gather = Instant::now() + GATHER;
            loop {
                for msg in rx.try_iter() {
                    match msg {
                        Msg::Stop => return self.stop(),
                        Msg::Wake => woken = true,
                        Msg::Done(done) => self.judge(done),
                    }
                }
                let now = Instant::now();
                if woken || self.in_flight == 0 || now >= gather {
                    break;
                }
                match rx.recv_timeout(gather - now) {
                    Ok(Msg::Stop) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                        return self.stop();
                    }
                    Ok(Msg::Wake) => woken = true,
                    Ok(Msg::Done(done)) => self.judge(done),
                    Err(mpsc::RecvTimeoutError::Timeout) => break,
                }
            }
            if let Err(err) = self.step(woken) {
                // Nothing is lost: the outbox and the bookkeeping committed so far stand, and
                // the next turn tries again.
                tracing::error!(error = %err, "the dispatcher's turn failed");
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }

    /// A clean stop keeps what was done (a kill only costs events sent again).
    fn stop(mut self) {
        if let Err(err) = self.commit_now() {
            tracing::error!(error = %err, "the dispatcher could not record its last deliveries");
        }
    }

    /// How long to wait for a message: until the next retry is due, at most the poll interval.
    fn next_wait(&self) -> Duration {
        let now = unix_now_ms();
        let due = self
            .streams
            .values()
            .filter(|s| !s.in_flight && !s.settling && s.status.is_none())
            .filter_map(|s| s.queue.front())
            .filter_map(|seq| self.waiting.get(seq))
            .map(|w| w.delivery.next_at_ms.unwrap_or(now))
            .min();
        let mut poll = self.options.poll;
        if self.uncommitted() {
            poll = poll.min(COMMIT_EVERY.saturating_sub(self.last_commit.elapsed()));
        }
        match due {
            Some(at) if self.in_flight < self.options.max_in_flight => {
                Duration::from_millis((at - now).max(0) as u64).min(poll)
            }
            _ => poll,
        }
    }

    fn step(&mut self, woken: bool) -> kluis_store::Result<()> {
        // What was done is committed first: a failure to look further stops nothing else.
        self.commit()?;
        if woken || self.last_look.elapsed() >= LOOK_EVERY {
            self.last_look = Instant::now();
            self.look(woken)?;
        }
        self.send_due()
    }

    /// Picks up what other connections committed: new events, replays, changed grants.
    fn look(&mut self, woken: bool) -> kluis_store::Result<()> {
        let deliveries_version = self.deliveries.data_version()?;
        if self
            .deliveries_version
            .is_some_and(|v| v != deliveries_version)
        {
            // Another process (the owner replaying dead events) changed the bookkeeping.
            self.commit_now()?;
            self.reload()?;
        }
        self.deliveries_version = Some(deliveries_version);
        let version = self.vault.data_version()?;
        if woken || self.vault_version != Some(version) {
            self.grants.clear();
            self.destinations.clear();
            self.vault_version = Some(version);
            self.load_new()?;
        }
        let check_due = self
            .last_expiry_check
            .is_none_or(|at| at.elapsed() >= self.options.expiry_check);
        if check_due {
            self.last_expiry_check = Some(Instant::now());
            if !self
                .vault
                .subscriptions_of_expired_grants(unix_now())?
                .is_empty()
            {
                self.vault.fan_out_expiries(unix_now())?;
                self.grants.clear();
                self.load_new()?;
            }
        }
        Ok(())
    }

    /// Forgets what is waiting (but not what is in flight) and reads it all again.
    fn reload(&mut self) -> kluis_store::Result<()> {
        let in_flight: HashSet<i64> = self
            .streams
            .values()
            .filter(|s| s.in_flight)
            .filter_map(|s| s.queue.front().copied())
            .collect();
        self.waiting.retain(|seq, _| in_flight.contains(seq));
        for stream in self.streams.values_mut() {
            stream.queue.retain(|seq| in_flight.contains(seq));
        }
        let statuses = self.deliveries.streams()?;
        for (name, stream) in &mut self.streams {
            stream.status = statuses.get(name).cloned();
        }
        for (name, status) in statuses {
            self.streams.entry(name).or_default().status = Some(status);
        }
        self.high = 0;
        self.load_new()
    }

    /// Reads events after `high`, skipping those done.
    fn load_new(&mut self) -> kluis_store::Result<()> {
        loop {
            let done: HashSet<i64> = self
                .deliveries
                .done_from(self.high + 1)?
                .into_iter()
                .collect();
            let unfinished = self.deliveries.unfinished()?;
            let known = &self.waiting;
            let (events, last) = self.vault.outbox_scan(self.high, PAGE, |seq| {
                !done.contains(&seq) && !known.contains_key(&seq)
            })?;
            let Some(last) = last else {
                return Ok(());
            };
            self.high = last;
            for event in events {
                let delivery = unfinished
                    .get(&event.seq)
                    .cloned()
                    .unwrap_or_else(|| Delivery::untried(event.seq));
                self.add(event, delivery);
            }
        }
    }

    fn add(&mut self, event: OutboxEvent, delivery: Delivery) {
        let seq = event.seq;
        let stream = self.streams.entry(event.stream.clone()).or_default();
        stream.queue.push_back(seq);
        self.waiting.insert(
            seq,
            Waiting {
                id: event.id,
                stream: event.stream,
                kind: event.kind,
                grant_id: event.grant_id,
                business: event.business,
                purpose: event.purpose,
                fields: event.fields,
                full: event.full,
                callback_url: event.callback_url,
                body: Bytes::from(event.body.to_vec()),
                delivery,
            },
        );
    }

    /// Sends the head of every stream that is due, as far as the concurrency allows.
    fn send_due(&mut self) -> kluis_store::Result<()> {
        let now = unix_now_ms();
        let ended: Vec<i64> = self
            .streams
            .values()
            .filter(|s| {
                s.status
                    .as_ref()
                    .is_some_and(|st| st.state == StreamState::Ended)
            })
            .flat_map(|s| s.queue.iter().copied())
            .collect();
        for seq in ended {
            self.finish(
                seq,
                DeliveryState::Cancelled,
                Some("the receiver ended the subscription (410 Gone)".into()),
            );
        }
        let mut ready = std::mem::take(&mut self.ready);
        ready.clear();
        ready.extend(
            self.streams
                .values()
                .filter(|s| !s.in_flight && !s.settling && s.status.is_none())
                .filter_map(|s| s.queue.front().copied()),
        );
        for &seq in &ready {
            if self.in_flight >= self.options.max_in_flight {
                break;
            }
            let Some(w) = self.waiting.get(&seq) else {
                continue;
            };
            if w.delivery.next_at_ms.is_some_and(|at| at > now) {
                continue;
            }
            let target = match self.target(seq) {
                // An event whose subscription or grant record was altered is never sent.
                Err(kluis_store::StoreError::Tampered(why)) => {
                    tracing::error!(%why, "an event's destination is unreadable");
                    Target::Cancel(format!("its subscription or grant was altered: {why}"))
                }
                other => other?,
            };
            match target {
                Target::Cancel(reason) => {
                    self.finish(seq, DeliveryState::Cancelled, Some(reason));
                }
                Target::Send { url, secrets } => self.launch(seq, url, secrets)?,
            }
        }
        self.ready = ready;
        self.commit()
    }

    /// Where the event goes now, or why it is not sent at all.
    fn target(&mut self, seq: i64) -> kluis_store::Result<Target> {
        let w = &self.waiting[&seq];
        if let Some(url) = &w.callback_url {
            return Ok(Target::Send {
                url: url.clone(),
                secrets: Arc::from(Vec::new()),
            });
        }
        if !self.destinations.contains_key(&w.stream) {
            let found = match self.vault.subscription(&w.stream, unix_now()) {
                Ok(sub) => Some(Destination {
                    url: sub.url,
                    secrets: sub.secrets.into(),
                    deleted: sub.deleted_at.is_some(),
                }),
                Err(kluis_store::StoreError::NotFound(_)) => None,
                Err(err) => return Err(err),
            };
            self.destinations.insert(w.stream.clone(), found);
        }
        let Some(dest) = &self.destinations[&w.stream] else {
            return Ok(Target::Cancel("its subscription is gone".into()));
        };
        if dest.deleted {
            return Ok(Target::Cancel(
                "the business deleted the subscription".into(),
            ));
        }
        // A field change is sent only while the grant is live and still covers every field it
        // names: no event reaches a business after its grant ended or lost the field.
        if w.kind == EventType::FieldChanged
            && let Some(grant_id) = &w.grant_id
        {
            if !self.grants.contains_key(grant_id) {
                let view = self.grant_view(grant_id)?;
                self.grants.insert(grant_id.clone(), view);
            }
            let view = &self.grants[grant_id];
            if !view.active() {
                return Ok(Target::Cancel("the grant ended before it was sent".into()));
            }
            let inside = |f: &Pointer| view.covered.iter().any(|c| f.starts_with(c));
            if !w.fields.iter().all(inside) {
                // Narrowed meanwhile: the business is told of the fields it still has, and
                // nothing of those it lost.
                let kept: Vec<Pointer> = w.fields.iter().filter(|f| inside(f)).cloned().collect();
                if kept.is_empty() {
                    return Ok(Target::Cancel(
                        "the grant was narrowed before it was sent".into(),
                    ));
                }
                let body = narrowed_body(&w.body, &kept);
                let (url, secrets) = (dest.url.clone(), dest.secrets.clone());
                if let Some(w) = self.waiting.get_mut(&seq) {
                    w.fields = kept;
                    w.body = body;
                }
                return Ok(Target::Send { url, secrets });
            }
        }
        Ok(Target::Send {
            url: dest.url.clone(),
            secrets: dest.secrets.clone(),
        })
    }

    fn grant_view(&self, id: &GrantId) -> kluis_store::Result<GrantView> {
        let state = match self.vault.grant_state(id.as_str()) {
            Ok(Some(state)) => state,
            Ok(None) | Err(kluis_store::StoreError::Tampered(_)) => {
                return Ok(GrantView {
                    ends: None,
                    covered: Vec::new(),
                });
            }
            Err(err) => return Err(err),
        };
        let covered = match state.narrowed {
            Some(kept) => kept,
            None => self.vault.grant(id)?.fields,
        };
        Ok(GrantView {
            ends: Some((state.revoked_at, state.expires_at)),
            covered,
        })
    }

    fn launch(&mut self, seq: i64, url: String, secrets: Arc<[Secret]>) -> kluis_store::Result<()> {
        let key = match &self.key {
            Some(key) => key.clone(),
            None => {
                let key = Arc::new(self.vault.webhook_key()?);
                self.key = Some(key.clone());
                key
            }
        };
        let w = &self.waiting[&seq];
        let (id, body) = (w.id.clone(), w.body.clone());
        if let Some(s) = self.streams.get_mut(&w.stream) {
            s.in_flight = true;
        }
        let (sender, back) = (self.sender.clone(), self.back.clone());
        self.runtime.spawn(async move {
            let outcome = sender.send(&url, &id, body, &secrets, &key).await;
            let _ = back.send(Msg::Done(Attempted {
                seq,
                outcome,
                at_ms: unix_now_ms(),
            }));
        });
        self.in_flight += 1;
        Ok(())
    }

    fn uncommitted(&self) -> bool {
        !self.dirty.is_empty() || !self.dirty_streams.is_empty() || !self.records.is_empty()
    }

    /// Commits the bookkeeping when [`COMMIT_EVERY`] passed or [`COMMIT_AT`] records wait.
    fn commit(&mut self) -> kluis_store::Result<()> {
        if self.uncommitted()
            && (self.last_commit.elapsed() >= COMMIT_EVERY || self.dirty.len() >= COMMIT_AT)
        {
            self.commit_now()?;
        }
        Ok(())
    }

    /// Commits the access records of what was delivered, then the bookkeeping (a crash
    /// between the two sends an event again, and logs it again: never a delivery unlogged),
    /// and lets the streams waiting for it go on.
    fn commit_now(&mut self) -> kluis_store::Result<()> {
        if !self.records.is_empty() {
            self.vault.append_log(&self.records)?;
            self.records.clear();
        }
        if !self.dirty.is_empty() || !self.dirty_streams.is_empty() {
            self.deliveries.write(&self.dirty, &self.dirty_streams)?;
            self.dirty.clear();
            self.dirty_streams.clear();
            // Our own commits do not change the `data_version` this connection sees, so the
            // last one read stays the mark against which another process's commit shows.
        }
        for stream in self.streams.values_mut() {
            stream.settling = false;
        }
        self.last_commit = Instant::now();
        Ok(())
    }
}

/// A `field.changed` body with only `kept` in `changed` and `values`; the rest as it was.
fn narrowed_body(body: &Bytes, kept: &[Pointer]) -> Bytes {
    let Ok(mut event) = serde_json::from_slice::<kluis_core::notify::Event>(body) else {
        return body.clone();
    };
    let names: Vec<String> = kept.iter().map(ToString::to_string).collect();
    event.data["changed"] = serde_json::json!(names);
    if let Some(values) = event.data.get_mut("values").and_then(|v| v.as_object_mut()) {
        values.retain(|k, _| names.contains(k));
    }
    Bytes::from(event.to_body())
}

enum Target {
    Send { url: String, secrets: Arc<[Secret]> },
    Cancel(String),
}

#[cfg(test)]
mod tests;
