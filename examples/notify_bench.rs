//! Run with: cargo run --release --example notify_bench -- [options]
//!
//! Change notifications under load, dispatcher and receivers in one process on 127.0.0.1: a
//! vault with `--subscriptions` grants (one business each) subscribed with `full` payloads to
//! `--receivers` loopback receivers answering 204. Measures
//! 1. fan-out: one change of a field every grant covers, from the owner's commit until every
//!    subscription has its delivery (`--rounds` times);
//! 2. sustained: `--burst` such changes back to back: deliveries per second, delivery state
//!    kept durable in deliveries.db (batched commits, synchronous=FULL);
//! 3. latency: `--latency-changes` changes each told to one subscription, one every 10 ms,
//!    while receivers are up: change-to-delivery p50/p99.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use kluis_core::Pointer;
use kluis_core::grant::{BusinessId, GrantRequest};
use kluis_core::notify::{NewSubscription, Payload};
use kluis_server::notify::{Dispatcher, Options};
use kluis_store::{KdfParams, Passphrase, Vault, Via, unix_now};
use serde_json::{Value, json};

#[derive(Parser, Debug)]
struct Args {
    #[arg(long, default_value_t = 1000)]
    subscriptions: usize,
    #[arg(long, default_value_t = 4)]
    receivers: usize,
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    #[arg(long, default_value_t = 20)]
    burst: usize,
    #[arg(long, default_value_t = 500)]
    latency_changes: usize,
    /// Deliveries in flight at most.
    #[arg(long, default_value_t = 128)]
    in_flight: usize,
}

/// What the receivers got: for each value told, when each delivery of it arrived.
type Arrivals = Arc<Mutex<HashMap<String, Vec<Instant>>>>;

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let arrivals: Arrivals = Arc::default();
    let urls: Vec<String> = (0..args.receivers)
        .map(|_| runtime.block_on(receiver(arrivals.clone())))
        .collect::<anyhow::Result<_>>()?;

    let dir = tempfile::tempdir()?;
    let vault = Vault::create(
        dir.path(),
        &Passphrase::new("bench pass phrase"),
        KdfParams::OWASP_MINIMUM,
    )?;
    let owner = vault.owner(Via::Cli);
    owner.import(json!({"profile": {"email": "v0@example.com"}}))?;
    let now = unix_now();
    let made = Instant::now();
    for i in 0..args.subscriptions + args.latency_changes.min(50) {
        let latency = i >= args.subscriptions;
        let field = if latency {
            format!("/custom/lat{}", i - args.subscriptions)
        } else {
            "/profile/email".to_owned()
        };
        let (grant, _) = vault.create_grant(
            GrantRequest {
                audience: BusinessId::parse(&format!("b{i}.example"))?,
                fields: vec![Pointer::parse(&field)?],
                purpose: "bench".into(),
                purpose_category: None,
                lifetime_secs: 86_400,
                key_thumbprint: None,
                append_record: false,
                contact: None,
            },
            now,
        )?;
        vault.create_subscription(
            &grant.id,
            NewSubscription {
                url: format!("{}/{i}", urls[i % urls.len()]),
                payload: Payload::Full,
            },
            now,
        )?;
    }
    println!(
        "{} subscriptions (+{} for latency) on {} receivers, made in {:.1} s",
        args.subscriptions,
        args.latency_changes.min(50),
        args.receivers,
        made.elapsed().as_secs_f64()
    );

    let dispatcher = Dispatcher::start(
        dir.path(),
        vault.unlocked(),
        Options {
            allow_local: true,
            max_in_flight: args.in_flight,
            ..Options::default()
        },
        runtime.handle().clone(),
    )?;
    let waker = dispatcher.waker();
    let wait_for = |value: &str, n: usize| -> Option<Instant> {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Some(times) = arrivals.lock().unwrap().get(value)
                && times.len() >= n
            {
                return times.iter().max().copied();
            }
            std::thread::sleep(Duration::from_micros(500));
        }
        None
    };
    let set = |at: &str, value: &str| -> anyhow::Result<Instant> {
        owner.set(vec![(Pointer::parse(at)?, json!(value))])?;
        let committed = Instant::now();
        waker.wake();
        Ok(committed)
    };

    // 1. Fan-out of one change.
    let mut fanout = Vec::new();
    for round in 1..=args.rounds {
        let value = format!("round{round}@example.com");
        let start = Instant::now();
        let committed = set("/profile/email", &value)?;
        let last = wait_for(&value, args.subscriptions).ok_or_else(|| {
            anyhow::anyhow!("round {round}: not every subscription was told within 60 s")
        })?;
        fanout.push((committed - start, last - start));
    }
    for (i, (commit, all)) in fanout.iter().enumerate() {
        println!(
            "fan-out round {}: commit (events written) {:.1} ms, all {} delivered {:.0} ms after the change",
            i + 1,
            commit.as_secs_f64() * 1e3,
            args.subscriptions,
            all.as_secs_f64() * 1e3
        );
    }

    // 2. Sustained deliveries.
    let start = Instant::now();
    let mut values = Vec::new();
    for n in 0..args.burst {
        let value = format!("burst{n}@example.com");
        set("/profile/email", &value)?;
        values.push(value);
    }
    let written = start.elapsed();
    let mut last = start;
    for value in &values {
        last = last.max(
            wait_for(value, args.subscriptions)
                .ok_or_else(|| anyhow::anyhow!("the burst was not delivered within 60 s"))?,
        );
    }
    let total = args.burst * args.subscriptions;
    let secs = (last - start).as_secs_f64();
    println!(
        "sustained: {total} deliveries ({} changes written in {:.2} s) delivered in {secs:.2} s: {:.0} deliveries/s",
        args.burst,
        written.as_secs_f64(),
        total as f64 / secs
    );

    // 3. Change-to-delivery latency while receivers are up.
    let mut hist = hdrhistogram::Histogram::<u64>::new(3)?;
    let lat_subs = args.latency_changes.min(50);
    if lat_subs > 0 {
        for n in 0..args.latency_changes {
            let value = format!("l{n}");
            let committed = set(&format!("/custom/lat{}", n % lat_subs), &value)?;
            let arrived = wait_for(&value, 1)
                .ok_or_else(|| anyhow::anyhow!("change {n} was not delivered within 60 s"))?;
            hist.record(arrived.saturating_duration_since(committed).as_micros() as u64)?;
            std::thread::sleep(Duration::from_millis(10));
        }
        println!(
            "latency (commit to arrival, {} changes one at a time): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            hist.len(),
            hist.value_at_quantile(0.5) as f64 / 1e3,
            hist.value_at_quantile(0.99) as f64 / 1e3,
            hist.max() as f64 / 1e3
        );
    }
    dispatcher.stop();
    Ok(())
}

/// A receiver answering 204 that notes, per value told, when each delivery arrived.
async fn receiver(arrivals: Arrivals) -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hooks", listener.local_addr()?);
    let app = axum::Router::new().route(
        "/hooks/{n}",
        axum::routing::post(move |body: axum::body::Bytes| {
            let arrivals = arrivals.clone();
            async move {
                let at = Instant::now();
                if let Ok(event) = serde_json::from_slice::<Value>(&body)
                    && let Some(values) = event["data"]["values"].as_object()
                {
                    let mut arrivals = arrivals.lock().unwrap();
                    for value in values.values().filter_map(Value::as_str) {
                        arrivals.entry(value.to_owned()).or_default().push(at);
                    }
                }
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(url)
}
