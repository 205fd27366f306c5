//! `kluis serve` and `kluis demo` as real processes: the README's first command works, and a
//! revocation by a second `kluis` process takes effect on the server's very next request.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use common::{kluis_cmd, succeeded};

/// A child process that is killed when dropped, so a failing test leaves no server behind.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `cmd`, reads its stdout until the serving line, and returns the base URL and the
/// lines printed before it.
fn start(mut cmd: Command) -> (Running, String, Vec<String>) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let running = Running(child);
    let mut lines = Vec::new();
    let mut reader = BufReader::new(stdout).lines();
    for line in reader.by_ref() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("Serving the grant API on ") {
            let url = rest.split_whitespace().next().unwrap().to_owned();
            // Keep reading what it prints later, as a terminal would.
            std::thread::spawn(move || reader.for_each(drop));
            return (running, url, lines);
        }
        lines.push(line);
    }
    panic!("the server never said where it listens: {lines:?}");
}

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

#[test]
fn a_revocation_from_another_process_applies_to_the_next_request() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    succeeded(kluis_cmd(d).arg("init"));
    succeeded(kluis_cmd(d).args(["set", "/profile/email", "anna@example.nl"]));
    succeeded(kluis_cmd(d).args(["set", "/profile/name", "Anna"]));
    let created: Value = serde_json::from_str(&succeeded(kluis_cmd(d).args([
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
    .unwrap();
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
