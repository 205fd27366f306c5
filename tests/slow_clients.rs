//! Slow and idle clients: thousands of connections that send half a request line and stop are
//! closed after the header timeout while the grant API goes on answering; connections beyond
//! the cap are closed at once; keep-alive clients keep their connection across requests and
//! lose it only when idle.

mod common;

use std::io::ErrorKind;
use std::time::{Duration, Instant};

use kluis::core::Pointer;
use kluis::core::grant::{BusinessId, GrantRequest};
use kluis::server::ConnectionLimits;
use kluis::store::unix_now;
use reqwest::StatusCode;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use common::Server;

/// What a stalled client sends before it stops.
const HALF_REQUEST: &[u8] = b"GET /v1/da";

impl Server {
    /// A bearer grant to read `/profile/email`.
    fn email_token(&self) -> String {
        self.vault
            .create_grant(
                GrantRequest {
                    audience: BusinessId::parse("webshop.example").unwrap(),
                    fields: vec![Pointer::parse("/profile/email").unwrap()],
                    purpose: "order delivery".into(),
                    purpose_category: None,
                    lifetime_secs: 3600,
                    key_thumbprint: None,
                    append_record: false,
                    contact: None,
                },
                unix_now(),
            )
            .unwrap()
            .1
    }

    /// `GET /v1/data` with `token` on a fresh connection: the status and the e-mail address read.
    async fn read_email(&self, token: &str) -> reqwest::Result<(StatusCode, Value)> {
        let fresh = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .unwrap();
        let response = fresh
            .get(format!("{}/v1/data", self.base))
            .bearer_auth(token)
            .send()
            .await?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        Ok((status, body["profile"]["email"].clone()))
    }

    fn addr(&self) -> String {
        self.base.trim_start_matches("http://").to_owned()
    }
}

/// The limit on this process's open files, after raising the soft limit as far as the hard
/// one allows (Debian's default soft limit, 1024, is less than these tests need).
fn open_files_limit() -> usize {
    let soft = rlimit::increase_nofile_limit(u64::MAX).unwrap_or(1024);
    usize::try_from(soft).unwrap_or(usize::MAX)
}

/// The big tests that may run at once in this binary, sharing its open-files limit.
const BIG_TESTS: usize = 2;

/// How many stalled connections this test can afford: `wanted`, or fewer under a low limit
/// (each costs two files, ours and the server's, and the other big test may run beside it).
/// Under CI fewer is a failure: the test would show less than it claims.
fn affordable(wanted: usize) -> usize {
    let affordable = open_files_limit().saturating_sub(200) / 2 / BIG_TESTS;
    if affordable < wanted {
        assert!(
            std::env::var_os("CI").is_none(),
            "the open-files limit allows {affordable} connections per test, not {wanted}"
        );
        eprintln!("open-files limit allows {affordable} connections, not {wanted}");
    }
    wanted.min(affordable)
}

/// A connection that sent half a request line, and when it was opened.
struct Stalled {
    stream: TcpStream,
    opened: Instant,
}

/// Opens `n` connections that each send half a request line.
async fn stall(addr: &str, n: usize) -> Vec<Stalled> {
    let mut stalled = Vec::with_capacity(n);
    for _ in 0..n {
        let opened = Instant::now();
        let mut stream = TcpStream::connect(addr).await.unwrap();
        // The server may already have closed it (at the cap): a failed write is fine.
        let _ = stream.write_all(HALF_REQUEST).await;
        stalled.push(Stalled { stream, opened });
    }
    stalled
}

/// Whether the server still holds the connection open (nothing to read and no end yet).
fn still_open(stream: &TcpStream) -> bool {
    let mut buf = [0u8; 512];
    matches!(stream.try_read(&mut buf), Err(e) if e.kind() == ErrorKind::WouldBlock)
}

/// Waits (at most `within`) until the server ends each connection (end of stream or a reset,
/// after whatever it answered); how long after its opening each one ended, or `None` for one
/// still open at the end.
async fn closings(stalled: Vec<Stalled>, within: Duration) -> Vec<Option<Duration>> {
    let tasks: Vec<_> = stalled
        .into_iter()
        .map(|Stalled { mut stream, opened }| {
            tokio::spawn(async move {
                let mut buf = [0u8; 512];
                let ended = async {
                    loop {
                        match stream.read(&mut buf).await {
                            Ok(0) => return,
                            Ok(_) => {}
                            Err(_) => return,
                        }
                    }
                };
                tokio::time::timeout(within, ended)
                    .await
                    .ok()
                    .map(|()| opened.elapsed())
            })
        })
        .collect();
    let mut ended = Vec::with_capacity(tasks.len());
    for task in tasks {
        ended.push(task.await.unwrap());
    }
    ended
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_sent_requests_are_closed_after_the_header_timeout_while_grants_are_read() {
    // Long enough that all are open before the first one's deadline, on a slow debug build.
    let timeout = Duration::from_secs(5);
    let server = Server::start_connections(ConnectionLimits {
        header_timeout: timeout,
        max_connections: 4096,
        ..ConnectionLimits::default()
    })
    .await;
    let token = server.email_token();
    let n = affordable(2500);
    let first = Instant::now();
    let stalled = stall(&server.addr(), n).await;

    // While they are all open, the grant API answers as ever.
    for _ in 0..20 {
        let (status, email) = server.read_email(&token).await.unwrap();
        assert_eq!(status, StatusCode::OK);
        assert_eq!(email, "anna@example.nl");
    }
    let busy = first.elapsed();
    let open = stalled.iter().filter(|s| still_open(&s.stream)).count();
    eprintln!("{n} stalled connections opened and 20 grants read in {busy:?}; {open} still open");
    if busy < timeout - Duration::from_millis(200) {
        // None can have reached its deadline yet, so the reads were served beside all of them.
        assert_eq!(
            open, n,
            "stalled connections closed before their header timeout"
        );
    }

    // Then each is closed by the server, not before its header timeout and not long after.
    let ended = closings(stalled, timeout + Duration::from_secs(5)).await;
    let still = ended.iter().filter(|e| e.is_none()).count();
    assert_eq!(
        still, 0,
        "{still} of {n} stalled connections were never closed"
    );
    let ended: Vec<Duration> = ended.into_iter().flatten().collect();
    let earliest = ended.iter().min().unwrap();
    let latest = ended.iter().max().unwrap();
    eprintln!("closed between {earliest:?} and {latest:?} after their opening");
    assert!(
        *earliest >= timeout - Duration::from_millis(50),
        "one closed after {earliest:?}, before the {timeout:?} header timeout"
    );
    assert!(
        *latest <= timeout + Duration::from_secs(1),
        "one closed only after {latest:?}, long past the {timeout:?} header timeout"
    );

    // And the server serves new clients afterwards.
    let (status, email) = server.read_email(&token).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(email, "anna@example.nl");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_cap_are_closed_at_once_and_served_once_the_stalled_go() {
    let timeout = Duration::from_secs(4);
    let cap = 100;
    let server = Server::start_connections(ConnectionLimits {
        header_timeout: timeout,
        max_connections: cap,
        ..ConnectionLimits::default()
    })
    .await;
    let token = server.email_token();
    let n = affordable(1000);
    let mut stalled = stall(&server.addr(), cap).await;

    // The cap is full of stalled connections: a new client is turned away, not queued.
    let refused = server.read_email(&token).await;
    assert!(refused.is_err(), "served at the cap: {refused:?}");
    stalled.extend(stall(&server.addr(), n - cap).await);

    let ended = closings(stalled, timeout + Duration::from_secs(5)).await;
    assert!(
        ended.iter().all(Option::is_some),
        "a stalled connection stayed"
    );
    let ended: Vec<Duration> = ended.into_iter().flatten().collect();
    let held = ended.iter().filter(|e| **e >= timeout / 2).count();
    let quick = ended.iter().filter(|e| **e < timeout / 2).count();
    eprintln!("of {n} stalled: {held} held until the header timeout, {quick} closed at once");
    // At most `cap` were ever held (one slot may be the test server's own idle keep-alive
    // connection from its start-up check); the rest were closed straight away.
    assert!(held <= cap, "{held} connections held under a cap of {cap}");
    assert!(held >= cap - 5, "only {held} held: the cap was not filled");

    // Once the stalled ones are gone, clients are served again.
    let (status, email) = server.read_email(&token).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(email, "anna@example.nl");
}

/// Sends one request on `stream` and reads its response: the status code and the body.
async fn exchange(stream: &mut TcpStream, request: &str) -> (u16, String) {
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "connection closed mid-response");
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let head = &text[..end];
            let length: usize = head
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse().ok())?
                })
                .expect("a content-length");
            if text.len() >= end + 4 + length {
                let status = head[9..12].parse().unwrap();
                return (status, text[end + 4..end + 4 + length].to_owned());
            }
        }
    }
}

#[tokio::test]
async fn keep_alive_connections_carry_requests_and_close_when_idle() {
    let timeout = Duration::from_secs(1);
    let server = Server::start_connections(ConnectionLimits {
        header_timeout: timeout,
        max_connections: 16,
        ..ConnectionLimits::default()
    })
    .await;
    let token = server.email_token();
    let mut stream = TcpStream::connect(server.addr()).await.unwrap();
    let read = format!(
        "GET /v1/data HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\n\r\n",
        server.addr()
    );
    // Three requests on one connection, spread over more than one header timeout: the deadline
    // counts from each response, not from the connection.
    let started = Instant::now();
    for _ in 0..3 {
        let (status, body) = exchange(&mut stream, &read).await;
        assert_eq!(status, 200, "{body}");
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["profile"]["email"], "anna@example.nl");
        tokio::time::sleep(timeout * 6 / 10).await;
    }
    assert!(started.elapsed() > timeout);
    // Left idle, the connection is closed once the header timeout passes.
    let idle = Instant::now();
    let mut buf = [0u8; 512];
    let end = tokio::time::timeout(timeout * 4, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(end.is_ok(), "an idle keep-alive connection stayed open");
    // It was idle 0.6 timeouts before this wait began, so it ends some 0.4 timeouts into it.
    assert!(
        idle.elapsed() >= timeout / 4,
        "closed at {:?}",
        idle.elapsed()
    );
}

#[tokio::test]
async fn a_client_that_never_reads_its_answers_is_closed_after_the_write_timeout() {
    let write_timeout = Duration::from_secs(1);
    let server = Server::start_connections(ConnectionLimits {
        write_timeout,
        ..ConnectionLimits::default()
    })
    .await;
    let one = reqwest::get(format!("{}/openapi.json", server.base))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .len();
    let n = 1000;
    let mut stream = never_reading(&server.addr(), n).await;
    tokio::time::sleep(write_timeout * 3).await;

    // Then read: what the buffers held arrives, then the end, long before all the answers.
    let mut got = 0usize;
    let mut buf = vec![0u8; 1 << 16];
    let ended = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(k) => got += k,
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the connection was still open after 30 s");
    eprintln!("{got} bytes of {} asked for arrived", n * one);
    assert!(
        got < n * one / 4,
        "{got} of {} bytes arrived: the stalled writes were waited out, not cut",
        n * one
    );

    // The server goes on serving others.
    let (status, _) = server.read_email(&server.email_token()).await.unwrap();
    assert_eq!(status, StatusCode::OK);
}

/// A connection that asks for `n` copies of `/openapi.json` at once, far more than the two
/// sockets' buffers hold, with a small receive buffer, and reads none of them (yet).
async fn never_reading(addr: &str, n: usize) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(addr.parse().unwrap()).await.unwrap();
    let request = format!("GET /openapi.json HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    stream
        .write_all(request.repeat(n).as_bytes())
        .await
        .unwrap();
    stream
}

#[tokio::test]
async fn a_shutdown_ends_within_its_grace_though_a_client_never_reads() {
    let dir = tempfile::tempdir().unwrap();
    let vault = kluis::store::Vault::create(
        dir.path(),
        &kluis::store::Passphrase::new("pw"),
        kluis::store::KdfParams::OWASP_MINIMUM,
    )
    .unwrap();
    // A write timeout far past the shutdown's 10 s grace: only the grace can end this.
    let running = common::start_limited(
        dir.path(),
        &vault,
        ConnectionLimits {
            write_timeout: Duration::from_secs(3600),
            ..ConnectionLimits::default()
        },
    )
    .await;
    let stalled = never_reading(running.base.trim_start_matches("http://"), 1000).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let began = Instant::now();
    tokio::time::timeout(Duration::from_secs(30), running.stop())
        .await
        .expect("the server did not stop within 30 s");
    let took = began.elapsed();
    // It waited for the stalled answer (so the connection was in flight), then gave up on it.
    assert!(took >= Duration::from_secs(9), "stopped after {took:?}");
    assert!(took < Duration::from_secs(15), "stopped after {took:?}");
    drop(stalled);
}
