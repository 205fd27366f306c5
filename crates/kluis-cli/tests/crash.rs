//! Crash test (issue 14): `kluis serve` is killed with SIGKILL at a random moment while a
//! business reads and leaves inbox messages, the owner changes the profile and grants with the
//! `kluis` command (other processes) and on the dashboard, and the change notifications those
//! writes cause are delivered to a receiver in the test; then it is started again. After every
//! cycle nothing acknowledged is lost: each acknowledged value, grant, revocation and message is
//! there, each answered read has its record in the access log (and at most the reads in flight
//! at the kill have one more), each acknowledged owner action has its record, and the chain
//! verifies. After the last cycle the outbox delivers every acknowledged change, in order,
//! repeats only under the same `webhook-id`, and `kluis log verify` passes.
//!
//! `KLUIS_CRASH_CYCLES` sets the number of cycles (default 100 under CI, `CI` set; 20
//! elsewhere), `KLUIS_CRASH_SEED` the seed (printed, so a failing run can be repeated).

#[path = "crash/clients.rs"]
mod clients;
mod common;
#[path = "crash/receiver.rs"]
mod receiver;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kluis_core::Pointer;
use kluis_core::access::{Action, Actor, Outcome};
use kluis_core::grant::GrantId;
use kluis_core::inbox::MessageId;
use kluis_store::{InboxFilter, Vault};
use serde_json::{Value, json};

use clients::{Acked, Clients, CycleCounts, email, nickname};
use common::{Running, inbox_grant, json_of, kluis_cmd, ok, start, vault};
use receiver::{Delivery, Receiver};

const READERS: u64 = 2;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().map_or(default, |v| {
        v.parse()
            .unwrap_or_else(|_| panic!("{name}={v} is not a number"))
    })
}

fn serve(dir: &Path) -> (Running, String) {
    let mut cmd = kluis_cmd(dir);
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--allow-local-webhooks"]);
    let (running, url, _) = start(cmd);
    (running, url)
}

/// SIGKILL: no clean stop, no settling of the log's head.
fn kill(mut server: Running) {
    server.0.kill().unwrap();
    server.0.wait().unwrap();
}

struct Setup {
    reader_token: String,
    reader_grant: String,
    inbox_token: String,
    inbox_grant: String,
}

/// A vault with an e-mail address and a nickname, a grant to read both (subscribed, full
/// payload, to `hook`), a grant to leave inbox messages about orders.
fn set_up(d: &Path, hook: &str) -> Setup {
    ok(d, &["init"]);
    ok(d, &["set", "/profile/email", &email(0)]);
    ok(d, &["set", "/profile/nickname", &nickname(0)]);
    let reader = json_of(&ok(
        d,
        &[
            "grant",
            "create",
            "--to",
            "reader.example",
            "--fields",
            "/profile/email,/profile/nickname",
            "--purpose",
            "crash reads",
            "--json",
        ],
    ));
    let reader_grant = reader["id"].as_str().unwrap().to_owned();
    ok(
        d,
        &[
            "grant",
            "budget",
            &reader_grant,
            "--reads-per-day",
            "10000000",
        ],
    );
    let inbox = inbox_grant(d);
    let setup = Setup {
        reader_token: reader["token"].as_str().unwrap().to_owned(),
        reader_grant,
        inbox_token: inbox["token"].as_str().unwrap().to_owned(),
        inbox_grant: inbox["id"].as_str().unwrap().to_owned(),
    };
    let (server, url) = serve(d);
    let response = reqwest::blocking::Client::new()
        .post(format!("{url}/v1/subscriptions"))
        .bearer_auth(&setup.reader_token)
        .json(&json!({"url": hook, "payload": "full"}))
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);
    kill(server);
    setup
}

/// Totals over the run, for the report.
#[derive(Debug, Default)]
struct Totals {
    reads: u64,
    logged_reads: u64,
    document_sets: u64,
    dashboard_saves: u64,
    grant_creates: u64,
    grant_revokes: u64,
    messages: u64,
}

#[test]
fn a_server_killed_at_any_moment_loses_nothing_it_acknowledged() {
    // 100 cycles take 2-4 minutes in a debug build: CI runs them all, a local run fewer.
    let default = if std::env::var_os("CI").is_some() {
        100
    } else {
        20
    };
    let cycles = env_or("KLUIS_CRASH_CYCLES", default);
    let seed = env_or("KLUIS_CRASH_SEED", 0x006b_6c75_6973);
    eprintln!("crash test: {cycles} cycles, KLUIS_CRASH_SEED={seed}");
    let began = Instant::now();
    let mut rng = fastrand::Rng::with_seed(seed);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let receiver = Receiver::start(&runtime);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let setup = set_up(d, &receiver.url);
    let check = vault(d);
    let acked = Arc::new(Mutex::new(Acked::default()));
    let mut totals = Totals::default();
    let mut seen_seq = 0;

    for cycle in 0..cycles {
        let (server, base) = serve(d);
        let reads = Arc::new(AtomicU64::new(0));
        let clients = Clients {
            base,
            dir: d.to_path_buf(),
            reader_token: setup.reader_token.clone(),
            inbox_token: setup.inbox_token.clone(),
            acked: acked.clone(),
            stop: Arc::new(AtomicBool::new(false)),
            reads: reads.clone(),
        };
        let mut threads = Vec::new();
        for _ in 0..READERS {
            let c = clients.clone();
            threads.push(std::thread::spawn(move || c.reader()));
        }
        let c = clients.clone();
        threads.push(std::thread::spawn(move || {
            c.inbox(usize::try_from(cycle).unwrap())
        }));
        let (c, r) = (clients.clone(), fastrand::Rng::with_seed(rng.u64(..)));
        threads.push(std::thread::spawn(move || c.cli(r)));
        let (c, r) = (clients.clone(), fastrand::Rng::with_seed(rng.u64(..)));
        threads.push(std::thread::spawn(move || c.dashboard(r)));

        std::thread::sleep(Duration::from_millis(rng.u64(100..900)));
        kill(server);
        clients.stop.store(true, Ordering::SeqCst);
        for t in threads {
            t.join().expect("a client found something wrong");
        }

        let mut acked = acked.lock().unwrap();
        let counts = std::mem::take(&mut acked.cycle);
        let answered = reads.load(Ordering::SeqCst);
        let logged = check_cycle(
            &check,
            &setup,
            &acked,
            counts,
            answered,
            &mut seen_seq,
            cycle as usize + 1,
        )
        .unwrap_or_else(|e| panic!("cycle {cycle} (KLUIS_CRASH_SEED={seed}): {e}"));
        totals.reads += answered;
        totals.logged_reads += logged;
        totals.document_sets += counts.document_sets;
        totals.dashboard_saves += counts.dashboard_saves;
        totals.grant_creates += counts.grant_creates;
        totals.grant_revokes += counts.grant_revokes;
        totals.messages += counts.messages;
    }

    // The last start: the outbox delivers what is left.
    let (server, _) = serve(d);
    let acked = acked.lock().unwrap();
    let want: BTreeSet<(&str, String)> = acked
        .emails
        .iter()
        .map(|&k| ("/profile/email", email(k)))
        .chain(
            acked
                .nicknames
                .iter()
                .map(|&k| ("/profile/nickname", nickname(k))),
        )
        .collect();
    let got = receiver.wait_until(Duration::from_secs(60), |got| {
        let told = told_values(got);
        want.iter().all(|w| told.contains(&(w.0, w.1.clone())))
    });
    kill(server);
    let deliveries = check_deliveries(&got, &want);
    // Every kind of client got work through, or a quiet client would pass unnoticed.
    assert!(cycles > 0, "no cycles run");
    for (what, n) in [
        ("answered reads", totals.reads),
        (
            "kluis set writes",
            totals.document_sets - totals.dashboard_saves,
        ),
        ("dashboard saves", totals.dashboard_saves),
        ("grants created", totals.grant_creates),
        ("grants revoked", totals.grant_revokes),
        ("inbox messages", totals.messages),
        ("webhook deliveries", got.len() as u64),
    ] {
        assert!(n > 0, "{cycles} cycles and no {what}: {totals:?}");
    }
    let out = kluis_cmd(d).args(["log", "verify"]).output().unwrap();
    assert!(
        out.status.success(),
        "kluis log verify: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!(
        "crash test: {cycles} cycles in {:.1} s; answered reads {} (logged {}), acknowledged \
         document writes {}, grants created {}, revoked {}, inbox messages {}; deliveries {} \
         ({} events, {} repeated)",
        began.elapsed().as_secs_f64(),
        totals.reads,
        totals.logged_reads,
        totals.document_sets,
        totals.grant_creates,
        totals.grant_revokes,
        totals.messages,
        got.len(),
        deliveries,
        got.len() - deliveries,
    );
}

/// Checks the vault as the kill left it against what was acknowledged; returns the number of
/// allowed reads logged this cycle.
fn check_cycle(
    v: &Vault,
    setup: &Setup,
    acked: &Acked,
    counts: CycleCounts,
    answered: u64,
    seen_seq: &mut i64,
    cycles_so_far: usize,
) -> Result<u64, String> {
    let verified = v.verify_log().map_err(|e| e.to_string())?;
    if let Some((at, why)) = verified.first_broken {
        return Err(format!("the log is broken at entry {at}: {why}"));
    }
    let value = |at: &str| {
        v.get(&Pointer::parse(at).unwrap())
            .map_err(|e| e.to_string())
    };
    let k_of = |text: Value, prefix: &str, suffix: &str| -> u64 {
        let text = text.as_str().unwrap_or_default().to_owned();
        text.strip_prefix(prefix)
            .and_then(|t| t.strip_suffix(suffix))
            .and_then(|k| k.parse().ok())
            .unwrap_or_else(|| panic!("unexpected value {text}"))
    };
    let email_k = k_of(value("/profile/email")?, "e", "@crash.example");
    let last = acked.emails.last().copied().unwrap_or(0);
    if email_k < last || email_k > acked.email_tried {
        return Err(format!("e-mail is e{email_k}, last acknowledged e{last}"));
    }
    let nick_k = k_of(value("/profile/nickname")?, "d", "");
    let last = acked.nicknames.last().copied().unwrap_or(0);
    if nick_k < last || nick_k > acked.nickname_tried {
        return Err(format!("nickname is d{nick_k}, last acknowledged d{last}"));
    }
    for id in &acked.created {
        v.grant(&GrantId::parse(id).unwrap())
            .map_err(|e| format!("acknowledged grant {id}: {e}"))?;
    }
    for id in &acked.revoked {
        let grant = v
            .grant(&GrantId::parse(id).unwrap())
            .map_err(|e| e.to_string())?;
        if grant.revoked_at.is_none() {
            return Err(format!(
                "grant {id} was revoked with an acknowledgement but is live"
            ));
        }
    }
    let inbox = v.open_inbox().map_err(|e| e.to_string())?;
    for id in &acked.messages {
        inbox
            .message(&MessageId::parse(id).unwrap())
            .map_err(|e| format!("acknowledged message {id}: {e}"))?;
    }
    let stored = inbox
        .list(InboxFilter::All, 1_000_000)
        .map_err(|e| e.to_string())?;
    // Each 201 is stored; at most the one post in flight at each kill is stored unanswered.
    if stored.len() < acked.messages.len() || stored.len() > acked.messages.len() + cycles_so_far {
        return Err(format!(
            "{} messages stored, {} acknowledged",
            stored.len(),
            acked.messages.len()
        ));
    }

    let entries = v.log_entries().map_err(|e| e.to_string())?;
    let new: Vec<_> = entries.iter().filter(|e| e.seq > *seen_seq).collect();
    *seen_seq = entries.last().map_or(0, |e| e.seq);
    let count = |action: Action, grant: Option<&str>, owner: bool| -> u64 {
        new.iter()
            .filter(|e| {
                let r = &e.record;
                r.action == action
                    && r.outcome == Outcome::Allowed
                    && grant.is_none_or(|g| r.grant.as_ref().is_some_and(|id| id.as_str() == g))
                    && (!owner || matches!(r.actor, Actor::OwnerCli | Actor::OwnerDashboard))
            })
            .count() as u64
    };
    let logged = count(Action::Read, Some(&setup.reader_grant), false);
    // Every answered read is logged; a read in flight at the kill may be logged unanswered.
    if logged < answered || logged > answered + READERS {
        return Err(format!("{answered} reads answered, {logged} logged"));
    }
    let delivered = count(Action::InboxDeliver, Some(&setup.inbox_grant), false);
    if delivered < counts.messages {
        return Err(format!(
            "{} messages acknowledged, {delivered} logged",
            counts.messages
        ));
    }
    for (action, n) in [
        (Action::DocumentSet, counts.document_sets),
        (Action::GrantCreate, counts.grant_creates),
        (Action::GrantRevoke, counts.grant_revokes),
    ] {
        let logged = count(action, None, true);
        if logged < n {
            return Err(format!("{n} of {action:?} acknowledged, {logged} logged"));
        }
    }
    Ok(logged)
}

/// The (pointer, value) pairs the `field.changed` deliveries told.
fn told_values(got: &[Delivery]) -> BTreeSet<(&'static str, String)> {
    let mut told = BTreeSet::new();
    for d in got {
        let body = d.json();
        for at in ["/profile/email", "/profile/nickname"] {
            if let Some(v) = body["data"]["values"][at].as_str() {
                told.insert((at, v.to_owned()));
            }
        }
    }
    told
}

/// Every acknowledged change was told; a repeat carries the same `webhook-id` and body as the
/// first, one change has one id, and each field's values arrive in the order they were written.
/// Returns the number of distinct events.
fn check_deliveries(got: &[Delivery], want: &BTreeSet<(&str, String)>) -> usize {
    let told = told_values(got);
    let missing: Vec<_> = want
        .iter()
        .filter(|w| !told.contains(&(w.0, w.1.clone())))
        .collect();
    assert!(
        missing.is_empty(),
        "acknowledged changes never told: {missing:?}"
    );
    let mut by_id: BTreeMap<&str, &[u8]> = BTreeMap::new();
    let mut by_change: BTreeMap<String, &str> = BTreeMap::new();
    let mut order: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for d in got {
        assert!(d.id.starts_with("msg_"), "{d:?}");
        if let Some(first) = by_id.insert(&d.id, &d.body) {
            assert_eq!(
                first,
                d.body.as_slice(),
                "webhook-id {} with two bodies",
                d.id
            );
            continue;
        }
        let body = d.json();
        let change = body["data"]["change_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if let Some(other) = by_change.insert(change.clone(), &d.id) {
            panic!("change {change} delivered as {other} and {}", d.id);
        }
        for (at, prefix, suffix) in [
            ("/profile/email", "e", "@crash.example"),
            ("/profile/nickname", "d", ""),
        ] {
            if let Some(k) = body["data"]["values"][at]
                .as_str()
                .and_then(|v| v.strip_prefix(prefix)?.strip_suffix(suffix)?.parse().ok())
            {
                order.entry(at).or_default().push(k);
            }
        }
    }
    for (at, ks) in &order {
        assert!(ks.is_sorted(), "{at} told out of order: {ks:?}");
    }
    by_id.len()
}
