//! Run with:
//! `cargo build --release --example soak && cargo build --release -p kluis-cli`, then
//! `target/release/examples/soak --kluis target/release/kluis [--minutes 10] [--load 0.8]`.
//!
//! A soak test of the grant API as it runs for real: `kluis serve` as its own process on a vault
//! made here (the sample document, grants with a field set and a contact right each, the
//! largest read budget), driven over keep-alive HTTP/1.1 by a mixed load: 85 % reads
//! (`GET /v1/data`, some narrowed with `fields`), 10 % introspection, 5 % contact checks. First
//! the peak is measured (closed loop, every connection as fast as answers come); then the load
//! runs open loop at `--load` of that peak for `--minutes`, each connection on its own
//! schedule. Every second the server's RSS (from /proc) and the answers are counted; every
//! answer is checked (status and, for reads, the exact body). At the end the server is stopped
//! and `kluis log verify` must pass.
//!
//! Writes `<out>.csv` (second, answers, errors, RSS in KiB) and `<out>.svg` (throughput and RSS
//! over time). Fails when any answer was wrong or when the RSS of the last minute is more than
//! 10 % (and 4 MiB) above that of the first minute after warm-up.

use std::error::Error;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use clap::Parser;
use kluis::core::Pointer;
use kluis::core::budget::MAX_READS_PER_DAY;
use kluis::core::contact::ContactRight;
use kluis::core::document::sample;
use kluis::core::grant::{self, BusinessId, GrantRequest};
use kluis::store::{KdfParams, Passphrase, Vault, unix_now};
use serde_json::json;

#[path = "support/http1.rs"]
mod http1;

type Result<T> = std::result::Result<T, Box<dyn Error + Send + Sync>>;

const PASSPHRASE: &str = "soak passphrase";

/// Soak test of `kluis serve` under a mixed load.
#[derive(Parser, Debug)]
struct Args {
    /// The `kluis` binary to serve with (a release build).
    #[arg(long)]
    kluis: PathBuf,
    /// Minutes of soak at `--load` of the peak.
    #[arg(long, default_value_t = 10.0)]
    minutes: f64,
    /// The share of the measured peak to run at.
    #[arg(long, default_value_t = 0.8)]
    load: f64,
    /// Seconds of closed-loop load to measure the peak.
    #[arg(long, default_value_t = 20.0)]
    peak_secs: f64,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Grants in the vault, each to its own business.
    #[arg(long, default_value_t = 500)]
    grants: usize,
    /// Where to write `<out>.csv` and `<out>.svg`.
    #[arg(long, default_value = "target/soak")]
    out: PathBuf,
}

/// One prebuilt request and what its answer must be.
struct Call {
    request: Vec<u8>,
    /// The exact body a read must answer with; `None` for the others (status only).
    body: Option<Vec<u8>>,
}

#[derive(Default)]
struct Counts {
    ok: AtomicU64,
    errors: AtomicU64,
}

fn main() -> Result<ExitCode> {
    let args = Args::parse();
    let dir = tempfile::tempdir()?;
    let vault_dir = dir.path().join("vault");
    let tokens = build_vault(&vault_dir, args.grants)?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse()?;
    let mut server = Server::start(&args.kluis, &vault_dir, addr)?;
    let calls = Arc::new(build_calls(addr, &tokens));

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let peak = runtime.block_on(drive(&args, addr, &calls, None, args.peak_secs, server.pid))?;
    let peak_rate = peak.ok as f64 / args.peak_secs;
    println!(
        "peak: {peak_rate:.0} answers/s ({} errors) over {} connections",
        peak.errors, args.connections
    );
    let target = peak_rate * args.load;
    println!(
        "soak: {target:.0} answers/s ({:.0} % of peak) for {} minutes",
        args.load * 100.0,
        args.minutes
    );
    let soak = runtime.block_on(drive(
        &args,
        addr,
        &calls,
        Some(target),
        args.minutes * 60.0,
        server.pid,
    ))?;
    server.stop()?;
    let verified = Command::new(&args.kluis)
        .args(["log", "verify"])
        .env("KLUIS_VAULT", &vault_dir)
        .env("KLUIS_PASSPHRASE", PASSPHRASE)
        .output()?;
    let verify_ok = verified.status.success();
    println!(
        "kluis log verify: {}",
        String::from_utf8_lossy(&verified.stdout).trim()
    );

    write_csv(&args.out.with_extension("csv"), &soak.seconds)?;
    std::fs::write(
        args.out.with_extension("svg"),
        plot(&soak.seconds, target, peak_rate),
    )?;
    let (first, last) = first_and_last_minute_rss(&soak.seconds);
    let mean_rate = soak.ok as f64 / (args.minutes * 60.0);
    let max_rss = soak.seconds.iter().map(|s| s.rss_kib).max().unwrap_or(0);
    println!(
        "soak: {} answers, {mean_rate:.0}/s on average, {} errors; RSS {:.1} MiB in the first minute, {:.1} MiB in the last, {:.1} MiB at most",
        soak.ok,
        soak.errors,
        first / 1024.0,
        last / 1024.0,
        max_rss as f64 / 1024.0
    );
    let flat = last <= first * 1.10 || last - first <= 4.0 * 1024.0;
    if soak.errors > 0 || peak.errors > 0 || !verify_ok || !flat {
        eprintln!("FAILED: errors, a log that does not verify, or memory that grew");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// The vault: the sample document and `n` grants, each with a few fields, a contact right and
/// the largest read budget. Returns each grant's token and the body its full read answers.
fn build_vault(dir: &Path, n: usize) -> Result<Vec<(String, Vec<u8>)>> {
    let vault = Vault::create(dir, &Passphrase::new(PASSPHRASE), KdfParams::OWASP_MINIMUM)?;
    vault.replace_document(sample())?;
    let document = vault.document()?;
    let sets = [
        &["/profile/email", "/profile/address"][..],
        &[
            "/profile/name",
            "/profile/phone_number",
            "/preferences/topics",
        ],
        &["/profile/email", "/custom/shoe_size"],
    ];
    let right = ContactRight {
        channels: vec!["email".into()],
        topics: vec!["orders".into()],
    };
    let now = unix_now();
    let mut tokens = Vec::with_capacity(n);
    for i in 0..n {
        let fields = sets[i % sets.len()]
            .iter()
            .map(|f| Pointer::parse(f))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let request = GrantRequest {
            audience: BusinessId::parse(&format!("shop-{i}.example"))?,
            fields,
            purpose: "order delivery".into(),
            purpose_category: None,
            lifetime_secs: 2 * 24 * 3600,
            key_thumbprint: None,
            append_record: false,
            contact: Some(right.clone()),
        };
        let (grant, token) = vault.in_transaction(|v| {
            let (grant, token) = v.create_grant(request, now)?;
            v.set_read_budget(&grant.id, Some(MAX_READS_PER_DAY), now)?;
            Ok((grant, token))
        })?;
        let (shown, _) = grant::subset(&document, &grant.fields);
        tokens.push((token, serde_json::to_vec(&shown)?));
    }
    Ok(tokens)
}

/// Per grant: a read, a narrowed read, an introspection and a contact check.
fn build_calls(addr: SocketAddr, tokens: &[(String, Vec<u8>)]) -> Vec<[Call; 4]> {
    tokens
        .iter()
        .map(|(token, body)| {
            let get = |path: &str| {
                format!(
                    "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\r\n"
                )
                .into_bytes()
            };
            let post = |path: &str, media: &str, body: &str| {
                format!(
                    "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
                     Content-Type: {media}\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                )
                .into_bytes()
            };
            let check = json!({"channel": "email", "topic": "orders"}).to_string();
            let email = json!({"profile": {"email": "anna@example.nl"}});
            let narrowed = body
                .windows(7)
                .any(|w| w == b"\"email\"")
                .then(|| serde_json::to_vec(&email).expect("JSON"));
            [
                Call {
                    request: get("/v1/data"),
                    body: Some(body.clone()),
                },
                Call {
                    request: if narrowed.is_some() {
                        get("/v1/data?fields=/profile/email")
                    } else {
                        get("/v1/data")
                    },
                    body: Some(narrowed.unwrap_or_else(|| body.clone())),
                },
                Call {
                    request: post(
                        "/v1/introspect",
                        "application/x-www-form-urlencoded",
                        &format!("token={token}"),
                    ),
                    body: None,
                },
                Call {
                    request: post("/v1/contact/check", "application/json", &check),
                    body: None,
                },
            ]
        })
        .collect()
}

/// One second of the soak.
#[derive(Clone, Copy, Debug)]
struct Second {
    at: u64,
    ok: u64,
    errors: u64,
    rss_kib: u64,
}

struct Run {
    ok: u64,
    errors: u64,
    seconds: Vec<Second>,
}

/// Drives the load for `secs`: closed loop when `rate` is `None`, else open loop at `rate`
/// answers a second in all. Samples the server's RSS every second.
async fn drive(
    args: &Args,
    addr: SocketAddr,
    calls: &Arc<Vec<[Call; 4]>>,
    rate: Option<f64>,
    secs: f64,
    pid: u32,
) -> Result<Run> {
    let counts = Arc::new(Counts::default());
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    for c in 0..args.connections {
        let (calls, counts, stop) = (calls.clone(), counts.clone(), stop.clone());
        let interval = rate.map(|r| Duration::from_secs_f64(args.connections as f64 / r));
        workers.push(tokio::spawn(async move {
            let mut wire = http1::Wire::open(addr).await?;
            let (mut i, started) = (c * 7919, Instant::now());
            let mut sent = 0u32;
            while !stop.load(Relaxed) {
                if let Some(interval) = interval {
                    let due = started + interval * sent;
                    tokio::time::sleep_until(due.into()).await;
                }
                let grant = &calls[i % calls.len()];
                // 85 % reads (of them a third narrowed), 10 % introspection, 5 % contact checks.
                let call = match i % 20 {
                    0 | 1 => &grant[2],
                    2 => &grant[3],
                    n if n % 3 == 0 => &grant[1],
                    _ => &grant[0],
                };
                let good = match wire.call(&call.request).await {
                    Ok((200, body)) => call.body.as_deref().is_none_or(|want| want == body),
                    Ok(_) => false,
                    Err(_) => {
                        wire = http1::Wire::open(addr).await?;
                        false
                    }
                };
                let counter = if good { &counts.ok } else { &counts.errors };
                counter.fetch_add(1, Relaxed);
                i += 1;
                sent += 1;
            }
            Ok::<_, std::io::Error>(())
        }));
    }
    let started = Instant::now();
    let mut seconds = Vec::new();
    let (mut last_ok, mut last_errors) = (0, 0);
    while started.elapsed().as_secs_f64() < secs {
        tokio::time::sleep_until((started + Duration::from_secs(seconds.len() as u64 + 1)).into())
            .await;
        let (ok, errors) = (counts.ok.load(Relaxed), counts.errors.load(Relaxed));
        seconds.push(Second {
            at: seconds.len() as u64 + 1,
            ok: ok - last_ok,
            errors: errors - last_errors,
            rss_kib: rss_kib(pid).unwrap_or(0),
        });
        (last_ok, last_errors) = (ok, errors);
    }
    stop.store(true, Relaxed);
    for worker in workers {
        worker.await??;
    }
    let total: u64 = seconds.iter().map(|s| s.ok).sum();
    let errors: u64 = seconds.iter().map(|s| s.errors).sum();
    Ok(Run {
        ok: total,
        errors: errors + counts.errors.load(Relaxed) - last_errors,
        seconds,
    })
}

/// The resident set of process `pid`, in KiB.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Mean RSS (KiB) of the first minute after 30 s of warm-up, and of the last minute.
fn first_and_last_minute_rss(seconds: &[Second]) -> (f64, f64) {
    let mean =
        |s: &[Second]| s.iter().map(|s| s.rss_kib as f64).sum::<f64>() / s.len().max(1) as f64;
    let n = seconds.len();
    let first = &seconds[30.min(n)..90.min(n)];
    let last = &seconds[n.saturating_sub(60)..];
    (mean(first), mean(last))
}

fn write_csv(path: &Path, seconds: &[Second]) -> Result<()> {
    let mut csv = String::from("second,answers,errors,rss_kib\n");
    for s in seconds {
        writeln!(csv, "{},{},{},{}", s.at, s.ok, s.errors, s.rss_kib)?;
    }
    std::fs::write(path, csv)?;
    Ok(())
}

/// Two charts, one above the other: answers a second (with the target and the peak) and the
/// server's RSS, against minutes.
fn plot(seconds: &[Second], target: f64, peak: f64) -> String {
    let (w, h, left, top, gap) = (760.0, 200.0, 70.0, 30.0, 70.0);
    let minutes = seconds.len().max(1) as f64 / 60.0;
    let x = |at: u64| left + at as f64 / 60.0 / minutes * w;
    let max_rate = peak.max(seconds.iter().map(|s| s.ok).max().unwrap_or(1) as f64) * 1.1;
    let max_rss = seconds.iter().map(|s| s.rss_kib).max().unwrap_or(1) as f64 / 1024.0 * 1.25;
    let mut svg = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="#fff"/>
"##,
        w + left + 20.0,
        2.0 * h + top + gap + 40.0
    );
    let chart = |svg: &mut String, y0: f64, title: &str, max: f64, unit: &str| {
        let _ = writeln!(
            svg,
            r##"<text x="{left}" y="{}" font-weight="bold">{title}</text>
<rect x="{left}" y="{y0}" width="{w}" height="{h}" fill="none" stroke="#555"/>
<text x="{}" y="{}" text-anchor="end">{:.0} {unit}</text><text x="{}" y="{}" text-anchor="end">0</text>"##,
            y0 - 8.0,
            left - 6.0,
            y0 + 10.0,
            max,
            left - 6.0,
            y0 + h
        );
        for m in 0..=(minutes.ceil() as u64) {
            let at = left + m as f64 / minutes * w;
            if at <= left + w + 0.5 {
                let _ = writeln!(
                    svg,
                    r##"<text x="{at:.1}" y="{}" text-anchor="middle">{m}</text>"##,
                    y0 + h + 14.0
                );
            }
        }
    };
    let line =
        |svg: &mut String, y0: f64, max: f64, value: &dyn Fn(&Second) -> f64, color: &str| {
            let points: Vec<String> = seconds
                .iter()
                .map(|s| {
                    format!(
                        "{:.1},{:.1}",
                        x(s.at),
                        y0 + h - (value(s) / max).min(1.0) * h
                    )
                })
                .collect();
            let _ = writeln!(
                svg,
                r##"<polyline fill="none" stroke="{color}" stroke-width="1.2" points="{}"/>"##,
                points.join(" ")
            );
        };
    let level = |svg: &mut String, y0: f64, max: f64, v: f64, label: &str| {
        let y = y0 + h - v / max * h;
        let _ = writeln!(
            svg,
            r##"<line x1="{left}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#999" stroke-dasharray="4 3"/><text x="{}" y="{:.1}" text-anchor="end" fill="#555">{label}</text>"##,
            left + w,
            left + w - 4.0,
            y - 4.0
        );
    };
    chart(
        &mut svg,
        top,
        "Answers a second (all correct)",
        max_rate,
        "/s",
    );
    level(&mut svg, top, max_rate, peak, &format!("peak {peak:.0}/s"));
    level(
        &mut svg,
        top,
        max_rate,
        target,
        &format!("target {target:.0}/s"),
    );
    line(&mut svg, top, max_rate, &|s| s.ok as f64, "#1f5fa8");
    let y1 = top + h + gap;
    chart(&mut svg, y1, "Server RSS (kluis serve)", max_rss, "MiB");
    line(
        &mut svg,
        y1,
        max_rss,
        &|s| s.rss_kib as f64 / 1024.0,
        "#a83a1f",
    );
    let _ = writeln!(
        svg,
        r##"<text x="{}" y="{}" text-anchor="middle">minutes</text>
</svg>"##,
        left + w / 2.0,
        y1 + h + 32.0
    );
    svg
}

/// `kluis serve` as a child process.
struct Server {
    child: Child,
    pid: u32,
}

impl Server {
    fn start(kluis: &Path, vault: &Path, addr: SocketAddr) -> Result<Self> {
        let child = Command::new(kluis)
            .args(["serve", "--listen", &addr.to_string()])
            .env("KLUIS_VAULT", vault)
            .env("KLUIS_PASSPHRASE", PASSPHRASE)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()?;
        let pid = child.id();
        let server = Self { child, pid };
        for _ in 0..100 {
            if std::net::TcpStream::connect(addr).is_ok() {
                return Ok(server);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err("kluis serve did not start listening".into())
    }

    fn stop(&mut self) -> Result<()> {
        // SIGTERM, so that it shuts down as Ctrl-C does.
        Command::new("kill").arg(self.pid.to_string()).status()?;
        self.child.wait()?;
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
