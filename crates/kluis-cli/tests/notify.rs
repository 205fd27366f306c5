//! Change notifications end to end, with `kluis serve` as a real process and a receiver in the
//! test: a business subscribes with its grant token, the owner changes data with the `kluis`
//! command (another process), and the deliveries arrive signed, in order, at least once, across
//! a receiver that is down for a while and a server killed with SIGKILL mid-delivery; after a
//! revocation the business gets `grant.revoked` and then nothing.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use kluis_core::webhook::{self, Secret, TrustedKey};
use serde_json::{Value, json};

use common::{Running, kluis_cmd, start, succeeded};

fn start_notifying(dir: &std::path::Path, listen: &str) -> (Running, String) {
    let mut cmd = kluis_cmd(dir);
    cmd.args(["serve", "--listen", listen, "--allow-local-webhooks"]);
    let (running, url, _) = start(cmd);
    (running, url)
}

/// One delivery as the receiver got it.
#[derive(Clone, Debug)]
struct Got {
    id: String,
    timestamp: String,
    signature: String,
    body: Vec<u8>,
}

impl Got {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// A receiver on 127.0.0.1 that answers with the status it is set to and keeps every request.
#[derive(Clone)]
struct Receiver {
    answer: Arc<AtomicU16>,
    got: Arc<Mutex<Vec<Got>>>,
    url: String,
}

impl Receiver {
    fn start(runtime: &tokio::runtime::Runtime) -> Self {
        let answer = Arc::new(AtomicU16::new(204));
        let got = Arc::new(Mutex::new(Vec::new()));
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let url = format!("http://{}/hooks", listener.local_addr().unwrap());
        let (a, g) = (answer.clone(), got.clone());
        let app = axum::Router::new().route(
            "/hooks",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let (a, g) = (a.clone(), g.clone());
                async move {
                    let header = |name: &str| {
                        headers
                            .get(name)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("")
                            .to_owned()
                    };
                    let status = a.load(Ordering::SeqCst);
                    if status == 204 {
                        g.lock().unwrap().push(Got {
                            id: header("webhook-id"),
                            timestamp: header("webhook-timestamp"),
                            signature: header("webhook-signature"),
                            body: body.to_vec(),
                        });
                    }
                    StatusCode::from_u16(status).unwrap()
                }
            }),
        );
        runtime.spawn(async move { axum::serve(listener, app).await });
        Self { answer, got, url }
    }

    fn set(&self, status: u16) {
        self.answer.store(status, Ordering::SeqCst);
    }

    fn got(&self) -> Vec<Got> {
        self.got.lock().unwrap().clone()
    }

    /// Waits until `n` deliveries arrived (or `within` passed) and returns them.
    fn wait_for(&self, n: usize, within: Duration) -> Vec<Got> {
        let start = Instant::now();
        while start.elapsed() < within {
            let got = self.got();
            if got.len() >= n {
                return got;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let got = self.got();
        panic!(
            "expected {n} deliveries within {within:?}, got {}: {got:?}",
            got.len()
        );
    }
}

fn subscribe(url: &str, token: &str, hook: &str, payload: &str) -> Value {
    let response = reqwest::blocking::Client::new()
        .post(format!("{url}/v1/subscriptions"))
        .bearer_auth(token)
        .json(&json!({"url": hook, "payload": payload}))
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);
    response.json().unwrap()
}

fn seeded() -> (tempfile::TempDir, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    succeeded(kluis_cmd(d).arg("init"));
    succeeded(kluis_cmd(d).args(["set", "/profile/email", "anna@example.nl"]));
    let created: Value = serde_json::from_str(&succeeded(kluis_cmd(d).args([
        "grant",
        "create",
        "--to",
        "shop.example",
        "--fields",
        "/profile/email,/profile/address",
        "--purpose",
        "order delivery",
        "--json",
    ])))
    .unwrap();
    let token = created["token"].as_str().unwrap().to_owned();
    let id = created["id"].as_str().unwrap().to_owned();
    (dir, token, id)
}

fn verify(got: &Got, secret: &Secret, public: &ed25519_dalek::VerifyingKey) {
    let now = kluis_store::unix_now();
    for key in [TrustedKey::Secret(secret), TrustedKey::Public(public)] {
        webhook::verify(
            &[key],
            &got.id,
            &got.timestamp,
            &got.signature,
            &got.body,
            now,
        )
        .unwrap_or_else(|e| panic!("{e}: {got:?}"));
    }
}

#[test]
fn changes_reach_the_business_signed_in_order_across_outages_and_a_killed_server() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let receiver = Receiver::start(&runtime);
    let (dir, token, grant) = seeded();
    let d = dir.path();
    let (server, url) = start_notifying(d, "127.0.0.1:0");
    let created = subscribe(&url, &token, &receiver.url, "full");
    let secret = Secret::parse(created["secret"].as_str().unwrap()).unwrap();
    let public = webhook::parse_public_key(created["public_key"].as_str().unwrap()).unwrap();

    // A change by another process is told within moments, signed both ways.
    succeeded(kluis_cmd(d).args(["set", "/profile/email", "anna@new.example"]));
    let got = receiver.wait_for(1, Duration::from_secs(5));
    verify(&got[0], &secret, &public);
    let first = got[0].json();
    assert_eq!(first["type"], "field.changed");
    assert_eq!(
        first["data"]["values"],
        json!({"/profile/email": "anna@new.example"})
    );
    assert_eq!(first["data"]["grant_id"], grant);
    // A change outside the grant is not told.
    succeeded(kluis_cmd(d).args(["set", "/profile/name", "Anna"]));

    // The receiver goes down; three more changes wait, in order.
    receiver.set(503);
    for city in ["Utrecht", "Delft", "Leiden"] {
        succeeded(kluis_cmd(d).args(["set", "/profile/address/locality", city]));
    }
    std::thread::sleep(Duration::from_millis(500));
    // The server is killed mid-delivery (SIGKILL: no clean stop) and started again; the
    // receiver comes back. Everything is delivered, in order, each id at least once.
    drop(server);
    receiver.set(204);
    let (_server, _url) = start_notifying(d, "127.0.0.1:0");
    let got = receiver.wait_for(4, Duration::from_secs(15));
    let cities: Vec<Value> = got[1..]
        .iter()
        .map(|g| {
            // The first city creates the address (told as a whole), the others change it.
            let values = &g.json()["data"]["values"];
            match values.get("/profile/address") {
                Some(address) => address["locality"].clone(),
                None => values["/profile/address/locality"].clone(),
            }
        })
        .collect();
    let mut unique = cities.clone();
    unique.dedup();
    assert_eq!(unique, [json!("Utrecht"), json!("Delft"), json!("Leiden")]);
    for g in &got {
        verify(g, &secret, &public);
    }
    let mut ids: HashMap<String, Vec<u8>> = HashMap::new();
    for g in &got {
        if let Some(body) = ids.insert(g.id.clone(), g.body.clone()) {
            assert_eq!(body, g.body, "a resent event is byte for byte the same");
        }
    }
    assert_eq!(ids.len(), 4, "four events, none lost");

    // The owner sees them delivered; each full delivery is in the access log like a read. The
    // dispatcher commits its records up to 50 ms after the answers (COMMIT_EVERY), so the last
    // one may still be on its way when the receiver has it.
    let notified = || {
        let log: Value =
            serde_json::from_str(&succeeded(kluis_cmd(d).args(["log", "--json"]))).unwrap();
        log.as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == "notified")
            .count()
    };
    let waited = Instant::now();
    let mut logged = notified();
    while logged < 4 && waited.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
        logged = notified();
    }
    assert!(logged >= 4, "each delivered change is logged: {logged}");

    // Revocation: the business is told which fields to delete, then nothing more.
    succeeded(kluis_cmd(d).args(["grant", "revoke", &grant]));
    let got = receiver.wait_for(ids.len() + 1, Duration::from_secs(5));
    let last = got.last().unwrap().json();
    assert_eq!(last["type"], "grant.revoked");
    assert_eq!(
        last["data"]["removed"],
        json!(["/profile/address", "/profile/email"])
    );
    let count = receiver.got().len();
    succeeded(kluis_cmd(d).args(["set", "/profile/email", "after@revoke.example"]));
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(receiver.got().len(), count, "nothing after grant.revoked");
}

#[test]
fn subscriptions_refuse_bad_urls_and_other_grants() {
    let (dir, token, _) = seeded();
    let d = dir.path();
    // Without --allow-local-webhooks: https and public addresses only.
    let mut cmd = kluis_cmd(d);
    cmd.args(["serve", "--listen", "127.0.0.1:0"]);
    let (_server, url, _) = start(cmd);
    let client = reqwest::blocking::Client::new();
    let post = |body: Value, bearer: &str| {
        let r = client
            .post(format!("{url}/v1/subscriptions"))
            .bearer_auth(bearer)
            .json(&body)
            .send()
            .unwrap();
        (
            r.status().as_u16(),
            r.json::<Value>().unwrap_or(Value::Null),
        )
    };
    for (hook, rule) in [
        ("http://shop.example/h", "https://"),
        ("https://127.0.0.1/h", "public addresses"),
        ("https://localhost/h", "public addresses"),
        ("https://10.0.0.8/h", "public addresses"),
        ("https://user:pw@shop.example/h", "user name"),
    ] {
        let (status, problem) = post(json!({"url": hook}), &token);
        assert_eq!(status, 400, "{hook}");
        let detail = problem["detail"].as_str().unwrap_or_default();
        assert!(detail.contains(rule), "{hook}: {detail}");
    }
    let (status, _) = post(
        json!({"url": "https://shop.example/h", "payload": "all"}),
        &token,
    );
    assert_eq!(status, 400, "an unknown payload kind");
    let (status, _) = post(json!({"url": "https://shop.example/h"}), "not-a-token");
    assert_eq!(status, 401);
    let listed: Value = client
        .get(format!("{url}/v1/subscriptions"))
        .bearer_auth(&token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(listed, json!([]), "nothing was created");
    let gone = client
        .delete(format!("{url}/v1/subscriptions/sub_{}", "a".repeat(26)))
        .bearer_auth(&token)
        .send()
        .unwrap();
    assert_eq!(gone.status().as_u16(), 404);
}
