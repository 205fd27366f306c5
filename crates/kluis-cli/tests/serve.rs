//! `kluis serve` and `kluis demo` as real processes: the README's first command works, and a
//! revocation by a second `kluis` process takes effect on the server's very next request;
//! `--header-timeout` and `--max-connections` hold stalled clients.

mod common;

use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use common::{Running, kluis_cmd, start, succeeded};

fn get_data(url: &str, token: &str) -> (u16, Value) {
    let response = reqwest::blocking::Client::new()
        .get(format!("{url}/v1/data"))
        .bearer_auth(token)
        .send()
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().unwrap_or(Value::Null))
}

#[test]
fn the_demo_serves_a_vault_with_a_ready_token() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kluis"));
    cmd.args(["demo", "--listen", "127.0.0.1:0", "--dir"])
        .arg(dir.path().join("demo"));
    let (_server, url, lines) = start(cmd);
    let token = lines
        .iter()
        .find_map(|l| l.strip_prefix("TOKEN="))
        .expect("the demo prints a token")
        .to_owned();
    let (status, body) = get_data(&url, &token);
    assert_eq!(status, 200);
    assert_eq!(body["profile"]["email"], "anna@example.nl");
    assert!(
        body["profile"].get("birthdate").is_none(),
        "only granted fields"
    );
}

/// `kluis grant create` of `/profile/email` to shop.example: its JSON (token, id).
fn email_grant(d: &std::path::Path) -> Value {
    serde_json::from_str(&succeeded(kluis_cmd(d).args([
        "grant",
        "create",
        "--to",
        "shop.example",
        "--fields",
        "/profile/email",
        "--purpose",
        "receipts",
        "--json",
    ])))
    .unwrap()
}

#[test]
fn a_revocation_from_another_process_applies_to_the_next_request() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    succeeded(kluis_cmd(d).arg("init"));
    succeeded(kluis_cmd(d).args(["set", "/profile/email", "anna@example.nl"]));
    succeeded(kluis_cmd(d).args(["set", "/profile/name", "Anna"]));
    let created = email_grant(d);
    let token = created["token"].as_str().unwrap();
    let id = created["id"].as_str().unwrap();

    let mut serve = kluis_cmd(d);
    serve.args(["serve", "--listen", "127.0.0.1:0"]);
    let (_server, url, _) = start(serve);
    let (status, body) = get_data(&url, token);
    assert_eq!(status, 200);
    assert_eq!(
        body,
        serde_json::json!({"profile": {"email": "anna@example.nl"}})
    );

    // A change of address by the owner shows up at once, too.
    succeeded(kluis_cmd(d).args(["set", "/profile/email", "anna@new.example"]));
    assert_eq!(
        get_data(&url, token).1["profile"]["email"],
        "anna@new.example"
    );

    succeeded(kluis_cmd(d).args(["grant", "revoke", id]));
    let (status, body) = get_data(&url, token);
    assert_eq!(status, 401);
    assert_eq!(body["type"], "urn:kluis:problem:invalid-token");

    let log: Value =
        serde_json::from_str(&succeeded(kluis_cmd(d).args(["log", "--json"]))).unwrap();
    let entries: Vec<(&str, &str)> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    // The owner's actions are logged among the business's reads, the revocation between its
    // last read and its refused one.
    assert_eq!(
        entries,
        [
            ("document_set", "allowed"),
            ("document_set", "allowed"),
            ("grant_create", "allowed"),
            ("read", "allowed"),
            ("document_set", "allowed"),
            ("read", "allowed"),
            ("grant_revoke", "allowed"),
            ("read", "refused"),
        ]
    );
    succeeded(kluis_cmd(d).args(["log", "verify"]));
}

#[test]
fn the_dashboard_is_served_on_loopback_and_refused_off_it_without_https() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    succeeded(kluis_cmd(d).arg("init"));
    // Returns the server, the first `lines` lines it printed on stdout, and its stderr.
    let serve = |listen: &str, public_url: Option<&str>, lines: usize| {
        let mut cmd = kluis_cmd(d);
        cmd.args(["serve", "--listen", listen]);
        if let Some(url) = public_url {
            cmd.args(["--public-url", url]);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let stderr = child.stderr.take().unwrap();
        let running = Running(child);
        let lines: Vec<String> = stdout.lines().take(lines).map(Result::unwrap).collect();
        (running, lines, stderr)
    };

    let (_local, lines, _) = serve("127.0.0.1:0", None, 2);
    let base = lines[0]
        .strip_prefix("Serving the grant API on ")
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap()
        .to_owned();
    assert_eq!(
        lines[1],
        format!("The owner's dashboard: {base}/dashboard/ (sign in with the vault's passphrase).")
    );
    let page = reqwest::blocking::get(format!("{base}/dashboard/sign-in")).unwrap();
    assert_eq!(page.status(), 200);

    // Off loopback over plain http: said at start, and the grant API alone.
    let (_lan, lines, stderr) = serve("0.0.0.0:0", None, 1);
    assert!(
        lines[0].starts_with("Serving the grant API on "),
        "{lines:?}"
    );
    let mut said = String::new();
    BufReader::new(stderr).read_line(&mut said).unwrap();
    assert!(
        said.contains("the dashboard is not served") && said.contains("in the clear"),
        "{said}"
    );
    let port = lines[0]
        .rsplit(':')
        .next()
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    let refused =
        reqwest::blocking::get(format!("http://127.0.0.1:{port}/dashboard/sign-in")).unwrap();
    assert_eq!(refused.status(), 404);
    // Behind https it is served, at the public URL.
    let (_proxied, lines, _) = serve("0.0.0.0:0", Some("https://vault.example"), 2);
    assert_eq!(
        lines[1],
        "The owner's dashboard: https://vault.example/dashboard/ (sign in with the vault's passphrase)."
    );
}

/// Reads `stream` until the server ends it (end of stream or a reset), at most `within`;
/// whether it did.
fn ends_within(stream: &mut std::net::TcpStream, within: Duration) -> bool {
    use std::io::Read;
    stream.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 256];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return false;
            }
            Err(_) => return true,
        }
    }
}

/// Whether the server still holds `stream` open: nothing to read and no end yet.
fn still_open(stream: &std::net::TcpStream) -> bool {
    use std::io::Read;
    stream.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 256];
    let open = matches!((&*stream).read(&mut buf), Err(e) if e.kind() == ErrorKind::WouldBlock);
    stream.set_nonblocking(false).unwrap();
    open
}

#[test]
fn kluis_serve_closes_stalled_connections_and_caps_them_as_told() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    succeeded(kluis_cmd(d).arg("init"));
    succeeded(kluis_cmd(d).args(["set", "/profile/email", "anna@example.nl"]));
    let created = email_grant(d);
    let token = created["token"].as_str().unwrap();
    for bad in [
        ["--header-timeout", "0"],
        ["--max-connections", "0"],
        ["--write-timeout", "0"],
    ] {
        let refused = kluis_cmd(d)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(bad)
            .output()
            .unwrap();
        assert_eq!(refused.status.code(), Some(2), "{bad:?} is a usage error");
    }

    let mut serve = kluis_cmd(d);
    serve.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--header-timeout",
        "1",
        "--max-connections",
        "3",
    ]);
    let (_server, url, _) = start(serve);
    let addr = url.trim_start_matches("http://");
    let stall = || {
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        let _ = stream.write_all(b"GET /v1/da");
        stream
    };
    // The start-up check's connection may still hold a slot, so fill the cap with three.
    let opened = Instant::now();
    let mut stalled: Vec<_> = (0..3).map(|_| stall()).collect();
    let mut beyond = stall();
    assert!(
        ends_within(&mut beyond, Duration::from_millis(500)),
        "a connection beyond --max-connections was kept"
    );
    // Those within the cap are still open, before their header timeout…
    let open = stalled.iter().filter(|s| still_open(s)).count();
    assert!(
        opened.elapsed() < Duration::from_millis(900),
        "too slow to tell"
    );
    assert!(
        (2..=3).contains(&open),
        "{open} of 3 held within --max-connections"
    );
    // …and closed once it passes.
    for stream in &mut stalled {
        assert!(
            ends_within(stream, Duration::from_secs(5)),
            "a stalled one stayed"
        );
    }
    assert!(opened.elapsed() >= Duration::from_millis(950));
    assert!(opened.elapsed() < Duration::from_secs(4));
    let (status, body) = get_data(&url, token);
    assert_eq!(status, 200);
    assert_eq!(body["profile"]["email"], "anna@example.nl");
}
