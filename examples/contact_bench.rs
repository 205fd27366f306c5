//! Run with: cargo run --release --example contact_bench -- [options]
//!
//! The contact API under load: a vault with a realistic contact policy (chosen and blocked
//! topics, channels, per-business caps by day and by rolling week, quiet hours that are not on
//! now) and `--grants` businesses with a contact right each, served in this process on its own
//! runtime; `--connections` keep-alive connections (closed loop) send `POST /v1/contact/check`
//! with `reserve: true` (or, with `--inbox`, `POST /v1/inbox` messages) round-robin over the
//! grants. Every answer is durable before it is sent: the access log is flushed (fsync) per
//! batch, and messages are committed to `inbox.db` first.
//!
//! Afterwards it checks that the owner's log holds one record per answered call and one
//! counted contact per allowed one, so the figure is of work actually done.

use std::error::Error;
use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use hdrhistogram::Histogram;
use kluis::core::Pointer;
use kluis::core::access::{Action, Outcome};
use kluis::core::contact::ContactRight;
use kluis::core::document::sample;
use kluis::core::grant::{BusinessId, GrantRequest};
use kluis::server::{AppState, serve};
use kluis::store::{KdfParams, Passphrase, Vault, Via, unix_now};
use serde_json::{Value, json};

#[path = "support/http1.rs"]
mod http1;

use http1::Wire;

type Result<T> = std::result::Result<T, Box<dyn Error + Send + Sync>>;

/// Load generator for the contact API (server and client in one process).
#[derive(Parser, Debug, Clone)]
struct Args {
    /// Seconds of measurement.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seconds of warm-up before it.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Businesses, one grant with a contact right each.
    #[arg(long, default_value_t = 2000)]
    grants: usize,
    /// Worker threads of the server's runtime.
    #[arg(long, default_value_t = 2)]
    server_threads: usize,
    /// Client runtime threads.
    #[arg(long, default_value_t = 1)]
    client_threads: usize,
    /// Deliver inbox messages instead of reserving checks.
    #[arg(long)]
    inbox: bool,
    /// Bytes of each message's body, with --inbox.
    #[arg(long, default_value_t = 1024)]
    body_bytes: usize,
}

fn main() -> Result<ExitCode> {
    let args = Args::parse();
    if args.connections == 0 || args.grants == 0 || args.duration <= 0.0 {
        return Err("--connections, --grants and --duration must be positive".into());
    }
    let dir = tempfile::tempdir()?;
    let started = Instant::now();
    let (vault, tokens) = build_vault(dir.path(), args.grants)?;
    println!(
        "vault: {} businesses with a contact right, built in {:.1} s",
        tokens.len(),
        started.elapsed().as_secs_f64()
    );
    let state = AppState::open(dir.path(), vault.unlocked())?;
    let server = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.server_threads)
        .thread_name("srv")
        .enable_all()
        .build()?;
    let listener = server.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = server.spawn(serve(listener, state, async {
        let _ = stopped.await;
    }));

    let requests = build_requests(&args, addr, &tokens);
    let client = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.client_threads)
        .thread_name("cli")
        .enable_all()
        .build()?;
    let warm = client.block_on(drive(&args, addr, &requests, args.warmup))?;
    let run = client.block_on(drive(&args, addr, &requests, args.duration))?;
    let _ = stop.send(());
    server.block_on(serving)??;

    let answered = warm.answered() + run.answered();
    let allowed = warm.allowed + run.allowed;
    let secs = run.elapsed.as_secs_f64();
    let what = if args.inbox {
        "inbox deliveries"
    } else {
        "reserved checks"
    };
    println!(
        "{what}: {:.0}/s over {secs:.1} s at {} connections ({} allowed, {} refused, {} other)",
        run.answered() as f64 / secs,
        args.connections,
        run.allowed,
        run.refused,
        run.other,
    );
    let ms = |q: f64| run.latency.value_at_quantile(q) as f64 / 1e6;
    println!(
        "latency: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        ms(0.5),
        ms(0.99),
        run.latency.max() as f64 / 1e6
    );

    // Every answer is in the log, and every allowed one is counted there.
    let action = if args.inbox {
        Action::InboxDeliver
    } else {
        Action::ContactCheck
    };
    let entries = vault.log_entries()?;
    let logged = entries
        .iter()
        .filter(|e| e.record.action == action && e.record.contact.is_some())
        .count() as u64;
    let counted = entries
        .iter()
        .filter(|e| {
            e.record.outcome == Outcome::Allowed
                && e.record.contact.as_ref().is_some_and(|c| c.counted)
        })
        .count() as u64;
    let intact = vault.verify_log()?.first_broken.is_none();
    // Every delivered message is in the inbox (none was read or archived).
    let stored = if args.inbox {
        vault.open_inbox()?.unread_count()?
    } else {
        allowed
    };
    if stored != allowed {
        eprintln!("FAILED: {stored} messages stored for {allowed} delivered");
        return Ok(ExitCode::FAILURE);
    }
    println!(
        "log: {logged} of {answered} answers recorded, {counted} of {allowed} allowed counted, chain {}",
        if intact { "intact" } else { "BROKEN" }
    );
    if run.other > 0 || logged != answered || counted != allowed || !intact {
        eprintln!("FAILED: unexpected answers or a log that does not match them");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// A vault with a realistic policy and one grant with a contact right per business.
fn build_vault(dir: &Path, grants: usize) -> Result<(Vault, Vec<String>)> {
    let vault = Vault::create(dir, &Passphrase::new("bench"), KdfParams::OWASP_MINIMUM)?;
    vault.replace_document(sample())?;
    // Quiet hours that are never on now: the six hours starting twelve hours from now.
    let hour = (unix_now() / 3600 + 12) % 24;
    let preferences = [
        ("/preferences/channels", json!(["email", "inbox", "phone"])),
        ("/preferences/topics", json!(["orders", "service", "news"])),
        ("/preferences/blocked_topics", json!(["surveys"])),
        (
            "/preferences/caps",
            json!([
                {"max": 1000, "per": "day"},
                {"max": 1000, "per": "P7D", "channel": "email"},
                {"max": 500, "per": "week", "topic": "news"}
            ]),
        ),
        (
            "/preferences/quiet_hours",
            json!({"start": format!("{hour:02}:00"), "end": format!("{:02}:00", (hour + 6) % 24), "time_zone": "UTC"}),
        ),
    ];
    vault.owner(Via::Cli).set(
        preferences
            .into_iter()
            .map(|(at, value)| Ok((Pointer::parse(at)?, value)))
            .collect::<std::result::Result<Vec<_>, kluis::core::Error>>()?,
    )?;
    let right = ContactRight {
        channels: vec!["email".into(), "inbox".into()],
        topics: vec!["orders".into(), "news".into()],
    };
    let tokens = vault.in_transaction(|v| {
        (0..grants)
            .map(|i| {
                let request = GrantRequest {
                    audience: BusinessId::parse(&format!("shop-{i}.example"))?,
                    fields: Vec::new(),
                    purpose: "news about your orders".into(),
                    purpose_category: None,
                    lifetime_secs: 86_400,
                    key_thumbprint: None,
                    append_record: false,
                    contact: Some(right.clone()),
                };
                Ok(v.create_grant(request, unix_now())?.1)
            })
            .collect::<kluis::store::Result<Vec<_>>>()
    })?;
    Ok((vault, tokens))
}

/// One prebuilt request per grant.
fn build_requests(args: &Args, addr: SocketAddr, tokens: &[String]) -> Vec<Vec<u8>> {
    tokens
        .iter()
        .enumerate()
        .map(|(i, token)| {
            let (path, body): (&str, Value) = if args.inbox {
                (
                    "/v1/inbox",
                    json!({
                        "topic": "orders",
                        "subject": format!("Your order {i} has shipped"),
                        "body": "x".repeat(args.body_bytes),
                    }),
                )
            } else {
                let channel = if i % 2 == 0 { "email" } else { "inbox" };
                (
                    "/v1/contact/check",
                    json!({"channel": channel, "topic": "orders", "reserve": true}),
                )
            };
            let body = body.to_string();
            format!(
                "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
                 Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .into_bytes()
        })
        .collect()
}

/// What a phase of the load got.
struct Tally {
    allowed: u64,
    refused: u64,
    other: u64,
    latency: Histogram<u64>,
    elapsed: Duration,
}

impl Tally {
    fn answered(&self) -> u64 {
        self.allowed + self.refused
    }
}

/// Runs the connections for `secs`, closed loop, each taking every n-th request.
async fn drive(args: &Args, addr: SocketAddr, requests: &[Vec<u8>], secs: f64) -> Result<Tally> {
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let started = Instant::now();
    let requests = std::sync::Arc::new(requests.to_vec());
    let inbox = args.inbox;
    let mut tasks = Vec::new();
    for c in 0..args.connections {
        let (requests, step) = (requests.clone(), args.connections);
        tasks.push(tokio::spawn(async move {
            let mut wire = Wire::open(addr).await?;
            let mut tally = Tally {
                allowed: 0,
                refused: 0,
                other: 0,
                latency: Histogram::new(3)?,
                elapsed: Duration::ZERO,
            };
            let mut next = c % requests.len();
            while Instant::now() < deadline {
                let sent = Instant::now();
                let (status, body) = wire.call(&requests[next]).await?;
                let _ = tally.latency.record(sent.elapsed().as_nanos() as u64);
                match (inbox, status) {
                    (true, 201) => tally.allowed += 1,
                    (true, 403 | 429) => tally.refused += 1,
                    (false, 200) if body.starts_with(br#"{"allowed":true"#) => tally.allowed += 1,
                    (false, 200) => tally.refused += 1,
                    _ => tally.other += 1,
                }
                next = (next + step) % requests.len();
            }
            Ok::<_, Box<dyn Error + Send + Sync>>(tally)
        }));
    }
    let mut total = Tally {
        allowed: 0,
        refused: 0,
        other: 0,
        latency: Histogram::new(3)?,
        elapsed: Duration::ZERO,
    };
    for task in tasks {
        let tally = task.await??;
        total.allowed += tally.allowed;
        total.refused += tally.refused;
        total.other += tally.other;
        total.latency.add(&tally.latency)?;
    }
    total.elapsed = started.elapsed();
    Ok(total)
}
