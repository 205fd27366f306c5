//! Run with: cargo run --release --example loadgen -- [options]
//!
//! A load generator for the grant API. It builds a realistic vault in a temporary directory (the
//! sample document, a few hundred extra fields, thousands of grants to different businesses, each
//! with the largest read budget, 10 million reads a day, so that reads are not answered 429),
//! starts the real server in this process on its own runtime and threads, drives `GET /v1/data`
//! and `GET /healthz` (in alternating slices) over keep-alive HTTP/1.1 connections from a separate
//! runtime, and checks afterwards that every read is in the owner's access log and that the log is
//! intact. It also reports how many cores the server runtime, the ledger thread, the client and
//! other processes used, from /proc.
//!
//! The client is a minimal HTTP/1.1 client (write a prebuilt request, read the head, then exactly
//! Content-Length bytes): on a 2-core machine it shares the CPU with the server, so every
//! microsecond it spends is one the server does not get. The load is closed-loop: each connection
//! sends its next request when the previous answer is in, so latencies are service times under
//! `--connections` concurrent callers.
//!
//! With `--dpop` the grants are key-bound (`cnf.jkt`) to Ed25519 keys of the businesses (one key
//! per grant, or `--dpop-keys N` shared round-robin), and every `/v1/data` call carries
//! `Authorization: DPoP <token>` and a fresh DPoP proof (RFC 9449: new `jti`, current `iat`,
//! `ath` of the token) that the connection signs right before sending it. The proof is signed
//! on the client threads, so its cost shows up as client CPU; the time to sign it is not part
//! of the measured latency (that runs from the write to the end of the answer). With
//! `--presign-rate R` the proofs are signed before the load instead (R per second of warm-up
//! and measurement, each sent once), as the Community Solid Server peer benchmark does.

use std::collections::BTreeMap;
use std::error::Error;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clap::Parser;
use ed25519_dalek::{Signer as _, SigningKey};
use hdrhistogram::Histogram;
use kluis::core::Pointer;
use kluis::core::budget::MAX_READS_PER_DAY;
use kluis::core::document::sample;
use kluis::core::dpop;
use kluis::core::grant::{self, BusinessId, GrantRequest};
use kluis::core::jose::{Jwk, thumbprint};
use kluis::server::{AppState, Dashboard, LogDurability, serve_with};
use kluis::store::{KdfParams, Passphrase, Vault, unix_now};
use serde_json::{Value, json};

type Result<T> = std::result::Result<T, Box<dyn Error + Send + Sync>>;

/// Load generator for the Kluis grant API (server and client in one process).
#[derive(Parser, Debug, Clone)]
struct Args {
    /// Seconds of measurement for each endpoint.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seconds of unmeasured load on each endpoint before measuring.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// The endpoints are measured in turns of this many seconds each, until each has had
    /// `--duration`.
    #[arg(long, default_value_t = 1.0)]
    slice: f64,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Grants in the vault, each to its own business; requests cycle through their tokens.
    #[arg(long, default_value_t = 2000)]
    grants: usize,
    /// Extra fields under /custom/load, besides the sample document.
    #[arg(long, default_value_t = 300)]
    fields: usize,
    /// Worker threads of the server's runtime.
    #[arg(long, default_value_t = 2)]
    server_threads: usize,
    /// Threads of the load side's runtime (1 = a current-thread runtime). With one thread the
    /// client's event loop limits /healthz (though not /v1/data), which flatters the ratio.
    #[arg(long, default_value_t = 2)]
    client_threads: usize,
    /// Where to make the vault (a temporary directory by default; the disk matters: every
    /// batch of reads is committed with an fsync).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Commit the access log without fsync (`LogDurability::NoFsync`, `kluis serve
    /// --log-fsync=false`): records survive a server crash but not a power loss.
    #[arg(long)]
    no_fsync: bool,
    /// Key-bound grants: every /v1/data call carries a DPoP proof made for it by the client.
    #[arg(long)]
    dpop: bool,
    /// With --dpop: how many business keys (grant i is bound to key i mod N); 0 = one per grant.
    #[arg(long, default_value_t = 0)]
    dpop_keys: usize,
    /// With --dpop: sign the proofs before the load starts, as the Community Solid Server peer
    /// benchmark does (`../shared/peers/css/bench.sh` makes its proofs with node before running
    /// wrk): this many proofs per second of warm-up and measurement, each used once, with the
    /// `iat` of the moment it was made (the run must end within the server's 60 s window). A
    /// connection that runs out signs in the loop again. 0 = always sign in the loop.
    #[arg(long, default_value_t = 0)]
    presign_rate: usize,
    /// Serve the owner's dashboard on the same listener too, as `kluis serve` does (its routes
    /// in the router, clients' addresses passed on): the grant API must not be slower for it.
    #[arg(long)]
    dashboard: bool,
    /// Change notifications flowing during the run: this many more grants subscribed to a
    /// receiver on 127.0.0.1, and the owner changing a field they all cover `--notify-rate`
    /// times a second (so N × rate deliveries a second), with the dispatcher `kluis serve` runs.
    #[arg(long, default_value_t = 0)]
    notify: usize,
    /// With --notify: changes a second.
    #[arg(long, default_value_t = 5.0)]
    notify_rate: f64,
}

#[path = "support/http1.rs"]
mod http1;
#[path = "support/notify_load.rs"]
mod notify_load;

use http1::Wire;

/// Thread names, so the CPU each part uses can be told apart in /proc (at most 15 bytes).
const SERVER_THREADS: &str = "srv-worker";
const CLIENT_THREADS: &str = "load-client";
const LEDGER_THREAD: &str = "kluis-ledger";
/// Tokens checked field by field against the document before the load starts.
const PREFLIGHT: usize = 50;

fn main() -> Result<ExitCode> {
    let args = Args::parse();
    if args.connections == 0 || args.grants == 0 || args.duration <= 0.0 {
        return Err("--connections, --grants and --duration must be positive".into());
    }
    let temp = tempfile::tempdir()?;
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| temp.path().to_path_buf());
    let started = Instant::now();
    let keys = if args.dpop {
        business_keys(if args.dpop_keys == 0 {
            args.grants
        } else {
            args.dpop_keys
        })
    } else {
        Vec::new()
    };
    let (vault, tokens) = build_vault(&dir, &args, &keys)?;
    println!(
        "vault: {} grants, {} fields in {:.1} s at {}{}",
        tokens.len(),
        args.fields,
        started.elapsed().as_secs_f64(),
        dir.display(),
        if args.dpop {
            format!("; DPoP-bound to {} business keys", keys.len())
        } else {
            String::new()
        }
    );

    let durability = if args.no_fsync {
        LogDurability::NoFsync
    } else {
        LogDurability::Fsync
    };
    let state = AppState::open_with(&dir, vault.unlocked(), durability)?;
    let dashboard = if args.dashboard {
        Some(Dashboard::open(&dir, vault.unlocked(), state.clone())?)
    } else {
        None
    };
    let server = Server::start(state, dashboard, args.server_threads)?;
    let notifying = if args.notify > 0 {
        Some(notify_load::NotifyLoad::start(
            &dir,
            vault.unlocked(),
            args.notify,
            args.notify_rate,
        )?)
    } else {
        None
    };
    let mut plan = Plan::new(server.addr, &tokens);
    if args.dpop {
        let proofs = DpopPlan::new(server.addr, &tokens, keys);
        proofs.print_costs(&tokens);
        if args.presign_rate > 0 {
            let per_conn = (args.presign_rate as f64 * (args.warmup + args.duration)
                / args.connections as f64)
                .ceil() as usize;
            let started = Instant::now();
            let presigned = proofs.presign(args.connections, per_conn, tokens.len());
            println!(
                "presigned {} DPoP requests ({per_conn} per connection) in {:.1} s on 2 threads; each is used once",
                per_conn * args.connections,
                started.elapsed().as_secs_f64()
            );
            *plan.presigned.lock().expect("not poisoned") = presigned;
        }
        plan.dpop = Some(Arc::new(proofs));
    }

    let client_args = args.clone();
    let outcome = std::thread::Builder::new()
        .name(CLIENT_THREADS.into())
        .spawn(move || -> Result<Run> {
            let runtime = if client_args.client_threads <= 1 {
                tokio::runtime::Builder::new_current_thread()
            } else {
                let mut b = tokio::runtime::Builder::new_multi_thread();
                b.worker_threads(client_args.client_threads);
                b
            }
            .thread_name(CLIENT_THREADS)
            .enable_all()
            .build()?;
            runtime.block_on(drive_all(&client_args, plan))
        })?
        .join()
        .map_err(|_| "the load thread panicked")??;
    // Owner changes and delivery records are in the log too; they are counted apart below.
    let notified = match notifying {
        Some(load) => {
            let done = load.stop().map_err(|e| e.to_string())?;
            println!(
                "notifications: {} changes told to {} subscriptions, {} deliveries in {:.1} s ({:.0} deliveries/s) while measuring",
                done.changes,
                args.notify,
                done.delivered,
                done.secs,
                done.delivered as f64 / done.secs
            );
            true
        }
        None => false,
    };
    server.stop()?;

    let data = &outcome.data;
    let health = &outcome.health;
    data.print("/v1/data");
    if args.dpop {
        println!(
            "          DPoP proofs of the measured calls: {} presigned, {} signed in the loop",
            data.tally.requests() - data.tally.signed_in_loop,
            data.tally.signed_in_loop
        );
    }
    health.print("/healthz");
    let ratio = data.rate() / health.rate();
    println!("ratio /v1/data to /healthz: {ratio:.2}");

    // Every 200 from /v1/data must be in the log, and nothing else is logged in a clean run.
    // Refusals are logged too, but anonymous ones past a rate only as a summary: with errors,
    // the count is only a lower bound (and the run fails anyway).
    let errors = data.tally.errors() + health.tally.errors() + outcome.unmeasured_errors;
    let started = Instant::now();
    let check = Vault::connect(&dir, vault.unlocked())?.verify_log()?;
    let served = outcome.served();
    println!(
        "access log: {} entries for {} /v1/data calls served (200), {} of them measured; chain {} ({:.1} s to check)",
        check.entries,
        served,
        data.tally.ok(),
        match &check.first_broken {
            None => "intact".to_owned(),
            Some((seq, why)) => format!("BROKEN at {seq}: {why}"),
        },
        started.elapsed().as_secs_f64()
    );
    // The deliberate refusals of the preflight (a replayed proof) are logged as well.
    let mut expected = served + outcome.unmeasured_refused;
    if notified {
        use kluis::core::access::Action;
        let others = Vault::connect(&dir, vault.unlocked())?
            .log_entries()?
            .iter()
            .filter(|e| matches!(e.record.action, Action::Notified | Action::DocumentSet))
            .count();
        println!("          (plus {others} owner changes and notification deliveries)");
        expected += others as u64;
    }
    if outcome.unmeasured_refused > 0 {
        println!(
            "          (plus {} deliberately refused preflight call(s) that must be logged too)",
            outcome.unmeasured_refused
        );
    }
    let counted = if errors == 0 {
        check.entries == expected as i64
    } else {
        check.entries >= expected as i64
    };
    let log_ok = counted && check.first_broken.is_none();
    let (targets, wanted) = if args.dpop {
        (
            data.rate() >= 15_000.0 && data.quantile_ms(0.99) < 10.0,
            "(>= 15000 req/s, p99 < 10 ms)",
        )
    } else {
        (
            data.rate() >= 25_000.0 && data.quantile_ms(0.99) < 10.0 && ratio >= 0.4,
            "(>= 25000 req/s, p99 < 10 ms, ratio >= 0.4)",
        )
    };
    let pass = errors == 0 && log_ok;
    println!(
        "loadgen: {} {}/v1/data {:.0} req/s p99 {:.2} ms, /healthz {:.0} req/s, ratio {:.2}, errors {}, log {}/{} {}; targets {wanted} {}",
        if pass { "PASS" } else { "FAIL" },
        if args.dpop { "DPoP " } else { "" },
        data.rate(),
        data.quantile_ms(0.99),
        health.rate(),
        ratio,
        errors,
        check.entries,
        expected,
        if check.first_broken.is_none() {
            "intact"
        } else {
            "BROKEN"
        },
        if targets { "met" } else { "missed" },
    );
    Ok(if pass {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

// ---------------------------------------------------------------------------------------------
// The vault.

/// A deterministic generator, so two runs build the same vault shape.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// One grant's token and the exact body the server must answer it with.
struct Token {
    token: String,
    body: Vec<u8>,
}

/// The businesses' DPoP keys, from deterministic seeds (this is a load generator).
fn business_keys(n: usize) -> Vec<SigningKey> {
    let mut rng = Rng(0x6470_6f70_2d6b_6579);
    (0..n.max(1))
        .map(|_| {
            let mut seed = [0u8; 32];
            for chunk in seed.chunks_mut(8) {
                chunk.copy_from_slice(&rng.next().to_le_bytes());
            }
            SigningKey::from_bytes(&seed)
        })
        .collect()
}

/// Builds the vault; with `keys`, grant i is bound to key i mod `keys.len()`.
fn build_vault(dir: &Path, args: &Args, keys: &[SigningKey]) -> Result<(Vault, Vec<Token>)> {
    let vault = Vault::create(dir, &Passphrase::new("loadgen"), KdfParams::OWASP_MINIMUM)?;
    vault.replace_document(sample())?;
    let extra: Vec<String> = (0..args.fields)
        .map(|i| format!("/custom/load/group{:02}/field{i:03}", i / 25))
        .collect();
    for (batch, chunk) in extra.chunks(100).enumerate() {
        let writes = chunk
            .iter()
            .enumerate()
            .map(|(i, at)| {
                let value = match i % 4 {
                    0 => json!(i + batch * 100),
                    1 => json!(format!("member since 20{:02}, tier {}", i % 25, i % 3)),
                    2 => json!({"id": format!("L-{batch}-{i}"), "points": i * 7}),
                    _ => json!(["a", "b", format!("{i}")]),
                };
                Ok((Pointer::parse(at)?, value))
            })
            .collect::<Result<Vec<_>>>()?;
        vault.set_many(writes)?;
    }
    let document = vault.document()?;

    let common = [
        "/profile/email",
        "/profile/address",
        "/profile/name",
        "/profile/phone_number",
        "/preferences/topics",
        "/preferences/channels",
        "/preferences/frequency",
        "/custom/shoe_size",
    ];
    let mut rng = Rng(0x6b6c_7569_732d_6c67);
    let now = unix_now();
    let mut tokens = Vec::with_capacity(args.grants);
    let thumbprints: Vec<String> = keys
        .iter()
        .map(|k| thumbprint(&Jwk::from_verifying_key(&k.verifying_key())))
        .collect();
    for i in 0..args.grants {
        let wanted = 2 + rng.below(5);
        let mut fields: Vec<String> = Vec::with_capacity(wanted);
        while fields.len() < wanted {
            let field = match rng.below(4) {
                // Now and then a business gets a whole group of custom fields.
                0 if !extra.is_empty() && rng.below(8) == 0 => {
                    format!(
                        "/custom/load/group{:02}",
                        rng.below(extra.len().div_ceil(25))
                    )
                }
                0 if !extra.is_empty() => extra[rng.below(extra.len())].clone(),
                _ => common[rng.below(common.len())].to_owned(),
            };
            if !fields.contains(&field) {
                fields.push(field);
            }
        }
        let fields = fields
            .iter()
            .map(|f| Pointer::parse(f))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let request = GrantRequest {
            audience: BusinessId::parse(&format!("shop-{i}.example"))?,
            fields,
            purpose: "order delivery and loyalty points".into(),
            purpose_category: None,
            lifetime_secs: 24 * 3600,
            key_thumbprint: (!thumbprints.is_empty())
                .then(|| thumbprints[i % thumbprints.len()].clone()),
            append_record: false,
            contact: None,
        };
        // The largest read budget (10 million reads a day per grant): with one or a few grants
        // at tens of thousands of reads a second, the default 10,000 a day would turn the run
        // into a measurement of 429s.
        let (grant, token) = vault.in_transaction(|v| {
            let (grant, token) = v.create_grant(request, now)?;
            v.set_read_budget(&grant.id, Some(MAX_READS_PER_DAY), now)?;
            Ok((grant, token))
        })?;
        let (shown, _) = grant::subset(&document, &grant.fields);
        tokens.push(Token {
            token,
            body: serde_json::to_vec(&shown)?,
        });
    }
    Ok((vault, tokens))
}

// ---------------------------------------------------------------------------------------------
// The server, on its own runtime and OS threads.

struct Server {
    addr: SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    thread: std::thread::JoinHandle<io::Result<()>>,
}

impl Server {
    fn start(state: AppState, dashboard: Option<Dashboard>, threads: usize) -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name(SERVER_THREADS)
            .enable_all()
            .build()?;
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("srv-main".into())
            .spawn(move || {
                runtime.block_on(serve_with(listener, state, dashboard, async {
                    let _ = stopped.await;
                }))
            })?;
        Ok(Self { addr, stop, thread })
    }

    /// Stops the server and waits until it has finished; the ledger has then answered (and
    /// committed) every call.
    fn stop(self) -> Result<()> {
        let _ = self.stop.send(());
        self.thread.join().map_err(|_| "the server panicked")??;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// The load.

/// Prebuilt requests, shared by all connections.
#[derive(Clone)]
struct Plan {
    addr: SocketAddr,
    data: Arc<Vec<Vec<u8>>>,
    bodies: Arc<Vec<Vec<u8>>>,
    health: Arc<Vec<Vec<u8>>>,
    /// With --dpop: /v1/data requests are built per call around a fresh proof.
    dpop: Option<Arc<DpopPlan>>,
    /// With --presign-rate: per data connection, its requests with proofs signed in advance.
    presigned: Arc<std::sync::Mutex<Vec<Vec<Vec<u8>>>>>,
}

impl Plan {
    fn new(addr: SocketAddr, tokens: &[Token]) -> Self {
        let request = |path: &str, token: Option<&str>| {
            let auth = token.map_or(String::new(), |t| format!("authorization: Bearer {t}\r\n"));
            format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\n{auth}\r\n").into_bytes()
        };
        Self {
            addr,
            data: Arc::new(
                tokens
                    .iter()
                    .map(|t| request("/v1/data", Some(&t.token)))
                    .collect(),
            ),
            bodies: Arc::new(tokens.iter().map(|t| t.body.clone()).collect()),
            health: Arc::new(vec![request("/healthz", None)]),
            dpop: None,
            presigned: Arc::default(),
        }
    }
}

/// What a DPoP request is made of, precomputed per key and per grant, so that per call only the
/// claims (`jti`, `iat`) are written, base64url-encoded and signed.
struct DpopPlan {
    keys: Vec<SigningKey>,
    /// base64url of each key's proof header: `{"typ":"dpop+jwt","alg":"EdDSA","jwk":{...}}`.
    headers: Vec<String>,
    /// Per grant: the request up to the DPoP header's value.
    prefixes: Vec<String>,
    /// Per grant: `","htm":"GET","htu":"…","iat":` … goes between jti and iat; this is the
    /// part after iat: `,"ath":"<base64url(SHA-256(token))>"}`.
    tails: Vec<String>,
    /// The `htu` the server checks: `http://<Host header>/v1/data`.
    htu: String,
    tokens: Vec<String>,
    /// Tells this run's proof ids apart from any other run's.
    run: u64,
}

impl DpopPlan {
    fn new(addr: SocketAddr, tokens: &[Token], keys: Vec<SigningKey>) -> Self {
        let headers = keys
            .iter()
            .map(|k| {
                let jwk = Jwk::from_verifying_key(&k.verifying_key());
                let header = json!({
                    "typ": dpop::DPOP_TYP,
                    "alg": "EdDSA",
                    "jwk": {"kty": jwk.kty, "crv": jwk.crv, "x": jwk.x},
                });
                URL_SAFE_NO_PAD.encode(header.to_string())
            })
            .collect();
        let htu = format!("http://{addr}/v1/data");
        Self {
            headers,
            prefixes: tokens
                .iter()
                .map(|t| {
                    format!(
                        "GET /v1/data HTTP/1.1\r\nhost: {addr}\r\nauthorization: DPoP {}\r\ndpop: ",
                        t.token
                    )
                })
                .collect(),
            tails: tokens
                .iter()
                .map(|t| format!(r#","ath":"{}"}}"#, dpop::token_hash(&t.token)))
                .collect(),
            tokens: tokens.iter().map(|t| t.token.clone()).collect(),
            htu,
            keys,
            run: std::process::id() as u64 ^ (unix_now() as u64).rotate_left(20),
        }
    }

    /// Writes the request for grant `grant` with a fresh proof into `out` (cleared first);
    /// `claims` is scratch space. `seq` must never repeat within a run.
    fn request(&self, grant: usize, conn: usize, seq: u64, out: &mut String, claims: &mut String) {
        use std::fmt::Write as _;
        let key = grant % self.keys.len();
        claims.clear();
        let _ = write!(
            claims,
            r#"{{"jti":"{:x}-{conn:x}-{seq:x}","htm":"GET","htu":"{}","iat":{}{}"#,
            self.run,
            self.htu,
            unix_now(),
            self.tails[grant]
        );
        out.clear();
        out.push_str(&self.prefixes[grant]);
        let start = out.len();
        out.push_str(&self.headers[key]);
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(claims.as_bytes(), out);
        let signature = self.keys[key].sign(&out.as_bytes()[start..]);
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(signature.to_bytes(), out);
        out.push_str("\r\n\r\n");
    }

    /// Signs `per_conn` requests for each of `conns` data connections, in the order that
    /// connection will send them (connection c takes grants c, c+n, c+2n, … and proof ids
    /// 0, 1, 2, …), on two threads.
    fn presign(&self, conns: usize, per_conn: usize, grants: usize) -> Vec<Vec<Vec<u8>>> {
        let make = |c: usize| -> Vec<Vec<u8>> {
            let (mut out, mut claims) = (String::new(), String::new());
            (0..per_conn)
                .map(|k| {
                    let grant = (c + k * conns) % grants;
                    self.request(grant, c, k as u64, &mut out, &mut claims);
                    out.clone().into_bytes()
                })
                .collect()
        };
        std::thread::scope(|scope| {
            let odd = scope.spawn(|| (0..conns).filter(|c| c % 2 == 1).map(make).collect());
            let even: Vec<_> = (0..conns).filter(|c| c % 2 == 0).map(make).collect();
            let odd: Vec<_> = odd.join().expect("presigning thread");
            let (mut even, mut odd) = (even.into_iter(), odd.into_iter());
            (0..conns)
                .map(|c| {
                    if c % 2 == 0 { even.next() } else { odd.next() }.expect("one per connection")
                })
                .collect()
        })
    }

    /// The same request with a proof from the SDK's `kluis::core::dpop::make_proof`.
    fn request_via_sdk(&self, grant: usize, jti: &str) -> String {
        let proof = dpop::make_proof(
            &self.keys[grant % self.keys.len()],
            "GET",
            &self.htu,
            Some(&self.tokens[grant]),
            jti,
            unix_now(),
        );
        format!("{}{proof}\r\n\r\n", self.prefixes[grant])
    }

    /// What one proof costs on one thread of this machine: made here, made by the SDK, and
    /// checked as the server checks it (signature, key, target, token, age).
    fn print_costs(&self, tokens: &[Token]) {
        const N: usize = 2000;
        let n = N.min(tokens.len() * 16);
        let (mut out, mut claims) = (String::new(), String::new());
        let started = Instant::now();
        for i in 0..n {
            self.request(
                i % tokens.len(),
                usize::MAX,
                i as u64,
                &mut out,
                &mut claims,
            );
        }
        let lean = started.elapsed().as_secs_f64() / n as f64 * 1e6;
        let started = Instant::now();
        let mut proofs = Vec::with_capacity(n);
        for i in 0..n {
            let g = i % tokens.len();
            proofs.push(dpop::make_proof(
                &self.keys[g % self.keys.len()],
                "GET",
                &self.htu,
                Some(&self.tokens[g]),
                &format!("cost-{i}"),
                unix_now(),
            ));
        }
        let sdk = started.elapsed().as_secs_f64() / n as f64 * 1e6;
        let jkts: Vec<String> = self
            .keys
            .iter()
            .map(|k| thumbprint(&Jwk::from_verifying_key(&k.verifying_key())))
            .collect();
        let started = Instant::now();
        let mut bad = 0;
        for (i, proof) in proofs.iter().enumerate() {
            let g = i % tokens.len();
            let ok = dpop::check_proof(
                proof,
                "GET",
                &self.htu,
                Some(&self.tokens[g]),
                Some(&jkts[g % jkts.len()]),
                unix_now(),
            );
            bad += usize::from(ok.is_err());
        }
        let check = started.elapsed().as_secs_f64() / n as f64 * 1e6;
        println!(
            "proof cost on one thread ({n} proofs): sign here {lean:.1} µs, sign with dpop::make_proof {sdk:.1} µs, dpop::check_proof {check:.1} µs{}",
            if bad > 0 {
                format!(" ({bad} FAILED)")
            } else {
                String::new()
            }
        );
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    Data,
    Health,
}

/// What a set of calls saw.
struct Tally {
    latency: Histogram<u64>,
    /// Responses by status code.
    statuses: BTreeMap<u16, u64>,
    /// 200s whose body was not the granted subset of the document.
    wrong_bodies: u64,
    /// Connections lost to I/O or protocol errors.
    broken: u64,
    /// With --dpop: proofs signed in the loop (with --presign-rate: after the presigned ran out).
    signed_in_loop: u64,
}

impl Tally {
    fn new() -> Self {
        Self {
            // Nanoseconds, 1 µs to 60 s, three significant digits.
            latency: Histogram::new_with_bounds(1_000, 60_000_000_000, 3).expect("valid bounds"),
            statuses: BTreeMap::new(),
            wrong_bodies: 0,
            broken: 0,
            signed_in_loop: 0,
        }
    }

    fn ok(&self) -> u64 {
        self.statuses.get(&200).copied().unwrap_or(0)
    }

    fn requests(&self) -> u64 {
        self.statuses.values().sum()
    }

    fn errors(&self) -> u64 {
        self.requests() - self.ok() + self.wrong_bodies + self.broken
    }

    fn add(&mut self, other: &Tally) {
        self.latency.add(&other.latency).expect("same bounds");
        for (status, n) in &other.statuses {
            *self.statuses.entry(*status).or_default() += n;
        }
        self.wrong_bodies += other.wrong_bodies;
        self.broken += other.broken;
        self.signed_in_loop += other.signed_in_loop;
    }
}

/// One endpoint's measurement, summed over its slices.
struct Phase {
    tally: Tally,
    elapsed: Duration,
    cpu: Ticks,
    /// Ledger batches committed during the phase, and the calls they held.
    batches: (u64, u64),
}

impl Phase {
    fn new() -> Self {
        Self {
            tally: Tally::new(),
            elapsed: Duration::ZERO,
            cpu: Ticks::default(),
            batches: (0, 0),
        }
    }

    fn rate(&self) -> f64 {
        self.tally.ok() as f64 / self.elapsed.as_secs_f64()
    }

    fn quantile_ms(&self, q: f64) -> f64 {
        self.tally.latency.value_at_quantile(q) as f64 / 1e6
    }

    fn print(&self, name: &str) {
        let t = &self.tally;
        println!(
            "{name:<9} {:>7.0} req/s  p50 {:.2} ms  p90 {:.2} ms  p99 {:.2} ms  max {:.2} ms  errors {}  ({} requests in {:.2} s)",
            self.rate(),
            self.quantile_ms(0.5),
            self.quantile_ms(0.9),
            self.quantile_ms(0.99),
            t.latency.max() as f64 / 1e6,
            t.errors(),
            t.requests(),
            self.elapsed.as_secs_f64(),
        );
        if t.errors() > 0 {
            println!(
                "          statuses {:?}, wrong bodies {}, broken connections {}",
                t.statuses, t.wrong_bodies, t.broken
            );
        }
        self.cpu.print(self.elapsed, t.requests());
        if self.batches.0 > 0 {
            println!(
                "          ledger: {:.0} commits/s, {:.1} calls per commit",
                self.batches.0 as f64 / self.elapsed.as_secs_f64(),
                self.batches.1 as f64 / self.batches.0 as f64
            );
        }
    }
}

/// The measured phases, plus what the unmeasured calls (preflight, warm-up) came to.
struct Run {
    data: Phase,
    health: Phase,
    /// Unmeasured /v1/data calls answered with 200.
    unmeasured_served: u64,
    unmeasured_errors: u64,
    /// Preflight calls refused on purpose (and so logged as refusals).
    unmeasured_refused: u64,
}

impl Run {
    /// All /v1/data calls answered with 200: each must be in the log.
    fn served(&self) -> u64 {
        self.data.tally.ok() + self.unmeasured_served
    }
}

/// Warms up both endpoints, then measures them in alternating slices, so that whatever else
/// the machine does (another build, say) weighs on both alike and their ratio stays fair.
async fn drive_all(args: &Args, plan: Plan) -> Result<Run> {
    let (served, refused) = preflight(&plan).await?;
    let mut unmeasured_served = served as u64;
    let mut unmeasured_errors = 0;
    let mut pools = Vec::new();
    for target in [Target::Data, Target::Health] {
        let mut conns = Vec::with_capacity(args.connections);
        for c in 0..args.connections {
            conns.push(Conn::open(plan.addr, target, &plan, c, args.connections).await?);
        }
        let warmup = Duration::from_secs_f64(args.warmup);
        let (conns, tally) = slice(&plan, conns, warmup).await;
        if target == Target::Data {
            unmeasured_served += tally.ok();
        }
        unmeasured_errors += tally.errors();
        pools.push((conns, Phase::new()));
    }
    let slices = (args.duration / args.slice.max(0.01)).ceil().max(1.0);
    let each = Duration::from_secs_f64(args.duration / slices);
    for _ in 0..slices as usize {
        for (conns, phase) in &mut pools {
            let before = Ticks::now();
            let batches_before = kluis::server::batch_stats();
            let started = Instant::now();
            let (kept, tally) = slice(&plan, std::mem::take(conns), each).await;
            phase.elapsed += started.elapsed();
            phase.cpu.add(&Ticks::now().since(&before));
            let batches_after = kluis::server::batch_stats();
            phase.batches.0 += batches_after.0 - batches_before.0;
            phase.batches.1 += batches_after.1 - batches_before.1;
            phase.tally.add(&tally);
            *conns = kept;
        }
    }
    let mut phases = pools.into_iter().map(|(_, phase)| phase);
    Ok(Run {
        data: phases.next().expect("two pools"),
        health: phases.next().expect("two pools"),
        unmeasured_served,
        unmeasured_errors,
        unmeasured_refused: refused as u64,
    })
}

/// Checks the first tokens' answers field by field before putting load on the server; returns
/// the number of /v1/data calls served and of those refused on purpose. With DPoP, half the
/// proofs come from the SDK's `make_proof` and half from the load generator's own builder, and
/// one proof is replayed, which must be refused.
async fn preflight(plan: &Plan) -> Result<(usize, usize)> {
    let mut conn = Conn::open(plan.addr, Target::Health, plan, 0, 1).await?;
    let (status, body) = conn.wire.call(&plan.health[0]).await?;
    let health: Value = serde_json::from_slice(body)?;
    if status != 200 || health != json!({"status": "ok"}) {
        return Err(format!("/healthz answered {status} {health}").into());
    }
    let checked = plan.data.len().min(PREFLIGHT);
    let (mut out, mut claims) = (String::new(), String::new());
    for i in 0..checked {
        let request = match &plan.dpop {
            None => plan.data[i].clone(),
            Some(d) if i % 2 == 0 => d.request_via_sdk(i, &format!("preflight-{i}")).into_bytes(),
            Some(d) => {
                d.request(i, usize::MAX - 1, i as u64, &mut out, &mut claims);
                out.clone().into_bytes()
            }
        };
        let (status, body) = conn.wire.call(&request).await?;
        let got: Value = serde_json::from_slice(body)?;
        let want: Value = serde_json::from_slice(&plan.bodies[i])?;
        if status != 200 || got != want {
            return Err(format!("grant {i}: expected 200 {want}, got {status} {got}").into());
        }
        if plan.dpop.is_some() && i == 1 {
            // The same proof again: a replay.
            let (status, _) = conn.wire.call(&request).await?;
            if status != 401 {
                return Err(format!("a replayed DPoP proof was answered {status}, not 401").into());
            }
        }
    }
    Ok((checked, usize::from(plan.dpop.is_some() && checked > 1)))
}

/// Has every connection send requests back to back for `duration`. A request in flight at the
/// deadline is finished, never abandoned, so every call the server logged is counted here.
/// Returns the connections still usable.
async fn slice(plan: &Plan, conns: Vec<Conn>, duration: Duration) -> (Vec<Conn>, Tally) {
    let deadline = Instant::now() + duration;
    let tasks: Vec<_> = conns
        .into_iter()
        .map(|conn| tokio::spawn(conn.run(plan.clone(), deadline)))
        .collect();
    let mut kept = Vec::with_capacity(tasks.len());
    let mut total = Tally::new();
    for task in tasks {
        match task.await {
            Ok((conn, tally)) => {
                total.add(&tally);
                kept.extend(conn);
            }
            Err(_) => total.broken += 1,
        }
    }
    (kept, total)
}

/// One keep-alive connection, bound to one endpoint.
struct Conn {
    wire: Wire,
    target: Target,
    /// The next token to use, and the stride: connection c of n takes tokens c, c+n, c+2n, ...
    next: usize,
    step: usize,
    /// This connection's number and how many DPoP proofs it has made (for unique `jti`s).
    id: usize,
    proofs: u64,
    /// Requests with proofs signed before the load (`--presign-rate`), in sending order.
    presigned: std::vec::IntoIter<Vec<u8>>,
}

impl Conn {
    async fn open(
        addr: SocketAddr,
        target: Target,
        plan: &Plan,
        c: usize,
        n: usize,
    ) -> io::Result<Self> {
        let wire = Wire::open(addr).await?;
        let presigned = match target {
            Target::Data => plan
                .presigned
                .lock()
                .ok()
                .and_then(|mut all| all.get_mut(c).map(std::mem::take))
                .unwrap_or_default(),
            Target::Health => Vec::new(),
        };
        Ok(Self {
            wire,
            target,
            next: c % plan.data.len(),
            step: n,
            id: c + n * (target == Target::Health) as usize,
            // Proof ids continue after the presigned ones.
            proofs: presigned.len() as u64,
            presigned: presigned.into_iter(),
        })
    }

    /// Sends requests until `deadline`; gives the connection back unless it failed.
    async fn run(mut self, plan: Plan, deadline: Instant) -> (Option<Self>, Tally) {
        let mut tally = Tally::new();
        // Counted locally: a map look-up per request would be client overhead.
        let (mut ok, mut other) = (0u64, Vec::new());
        let mut failed = false;
        // With --dpop, the request of the moment and the proof's claims.
        let (mut out, mut claims) = (String::new(), String::new());
        let mut held;
        loop {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            let (request, body): (&[u8], _) = match (self.target, &plan.dpop) {
                (Target::Data, None) => (&plan.data[self.next], Some(&plan.bodies[self.next])),
                (Target::Data, Some(d)) => {
                    if let Some(request) = self.presigned.next() {
                        held = request;
                        (&held[..], Some(&plan.bodies[self.next]))
                    } else {
                        d.request(self.next, self.id, self.proofs, &mut out, &mut claims);
                        self.proofs += 1;
                        tally.signed_in_loop += 1;
                        (out.as_bytes(), Some(&plan.bodies[self.next]))
                    }
                }
                (Target::Health, _) => (&plan.health[0], None),
            };
            // With DPoP the clock starts after signing: latency is the server's answer time.
            let sent = if plan.dpop.is_some() && self.target == Target::Data {
                Instant::now()
            } else {
                now
            };
            let status = match self.wire.call(request).await {
                Ok((status, got)) => {
                    if status == 200 && body.is_some_and(|want| got != &want[..]) {
                        tally.wrong_bodies += 1;
                    }
                    status
                }
                Err(err) => {
                    eprintln!("a connection failed: {err}");
                    failed = true;
                    break;
                }
            };
            let _ = tally.latency.record(sent.elapsed().as_nanos() as u64);
            if status == 200 {
                ok += 1;
            } else {
                other.push(status);
            }
            self.next = (self.next + self.step) % plan.data.len();
        }
        tally.statuses.insert(200, ok);
        for status in other {
            *tally.statuses.entry(status).or_default() += 1;
        }
        tally.broken = u64::from(failed);
        ((!failed).then_some(self), tally)
    }
}

// ---------------------------------------------------------------------------------------------
// Where the CPU went, from /proc (Linux; elsewhere the figures come out as zero).

/// Clock ticks per second of /proc's CPU times (USER_HZ, 100 on Linux).
const TICKS: f64 = 100.0;
const GROUPS: [&str; 4] = ["server runtime", "ledger", "client", "other threads"];

/// CPU ticks by thread group of this process, and of the whole machine.
#[derive(Default)]
struct Ticks {
    groups: [u64; 4],
    machine_busy: u64,
    machine_total: u64,
}

impl Ticks {
    fn now() -> Self {
        let mut ticks = Self::default();
        if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
            for task in tasks.flatten() {
                let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
                    continue;
                };
                let Some((name, used)) = thread_ticks(&stat) else {
                    continue;
                };
                let group = match name {
                    n if n.starts_with(SERVER_THREADS) => 0,
                    n if n.starts_with(LEDGER_THREAD) => 1,
                    n if n.starts_with(CLIENT_THREADS) => 2,
                    _ => 3,
                };
                ticks.groups[group] += used;
            }
        }
        if let Some((busy, total)) = std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|s| machine_ticks(&s))
        {
            ticks.machine_busy = busy;
            ticks.machine_total = total;
        }
        ticks
    }

    fn since(&self, before: &Self) -> Self {
        let mut delta = Self {
            machine_busy: self.machine_busy.saturating_sub(before.machine_busy),
            machine_total: self.machine_total.saturating_sub(before.machine_total),
            ..Self::default()
        };
        for (d, (now, was)) in delta
            .groups
            .iter_mut()
            .zip(self.groups.iter().zip(before.groups))
        {
            // A thread that ended in between takes its ticks along; never go negative.
            *d = now.saturating_sub(was);
        }
        delta
    }

    fn add(&mut self, other: &Self) {
        for (a, b) in self.groups.iter_mut().zip(other.groups) {
            *a += b;
        }
        self.machine_busy += other.machine_busy;
        self.machine_total += other.machine_total;
    }

    fn print(&self, elapsed: Duration, requests: u64) {
        let seconds = elapsed.as_secs_f64();
        let cores_of = |ticks: u64| ticks as f64 / TICKS / seconds;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        let machine = self.machine_busy as f64 / (self.machine_total as f64).max(1.0) * cores;
        let ours: f64 = self.groups.iter().map(|&t| cores_of(t)).sum();
        let parts: Vec<String> = GROUPS
            .iter()
            .zip(self.groups)
            .map(|(name, t)| format!("{name} {:.2}", cores_of(t)))
            .collect();
        println!(
            "          cores used: {}; other processes {:.2} (machine {:.2} of {cores} busy)",
            parts.join(", "),
            (machine - ours).max(0.0),
            machine,
        );
        let per_request = |ticks: u64| ticks as f64 / TICKS / requests.max(1) as f64 * 1e6;
        println!(
            "          CPU per request: server {:.1} µs (runtime {:.1} + ledger {:.1}), client {:.1} µs",
            per_request(self.groups[0] + self.groups[1]),
            per_request(self.groups[0]),
            per_request(self.groups[1]),
            per_request(self.groups[2]),
        );
    }
}

/// A thread's name and user + system ticks from its /proc stat line.
fn thread_ticks(stat: &str) -> Option<(&str, u64)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let name = &stat[open + 1..close];
    let mut rest = stat.get(close + 2..)?.split(' ');
    // After the name: state is field 3, utime field 14, stime field 15.
    let utime: u64 = rest.nth(11)?.parse().ok()?;
    let stime: u64 = rest.next()?.parse().ok()?;
    Some((name, utime + stime))
}

/// Busy and total ticks of all CPUs, from the first line of /proc/stat.
fn machine_ticks(stat: &str) -> Option<(u64, u64)> {
    let fields: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .take(8)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal
    let total: u64 = fields.iter().sum();
    Some((total - fields.get(3)? - fields.get(4)?, total))
}
