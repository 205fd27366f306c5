//! The crash test's clients, each a thread that runs until told to stop and records only what
//! was acknowledged: a business reading (200), a business leaving inbox messages (201), the
//! owner's `kluis` commands as processes (exit 0) and the owner's dashboard over HTTP (303 after
//! sign-in and with the session's CSRF token).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::kluis_cmd;

/// Everything acknowledged, over all cycles.
#[derive(Default)]
pub struct Acked {
    /// `k` of each acknowledged `kluis set /profile/email e{k}@crash.example`, in order.
    pub emails: Vec<u64>,
    /// The highest `k` tried (acknowledged or not).
    pub email_tried: u64,
    /// `k` of each acknowledged dashboard save of `/profile/nickname` = `d{k}`.
    pub nicknames: Vec<u64>,
    pub nickname_tried: u64,
    /// Grants `kluis grant create` made (exit 0), and those revoked with an acknowledgement.
    pub created: Vec<String>,
    pub revoked: Vec<String>,
    /// Live grants no one is revoking: a revoker takes one out first.
    pub pool: Vec<String>,
    /// Inbox messages answered 201.
    pub messages: Vec<String>,
    /// This cycle's acknowledgements of each kind, for the log's records.
    pub cycle: CycleCounts,
}

#[derive(Clone, Copy, Debug, Default)]
pub struct CycleCounts {
    /// Document writes acknowledged, by `kluis set` and the dashboard together.
    pub document_sets: u64,
    /// Of them, the dashboard's.
    pub dashboard_saves: u64,
    pub grant_creates: u64,
    pub grant_revokes: u64,
    pub messages: u64,
}

pub fn email(k: u64) -> String {
    format!("e{k}@crash.example")
}

pub fn nickname(k: u64) -> String {
    format!("d{k}")
}

/// What every client thread shares.
#[derive(Clone)]
pub struct Clients {
    pub base: String,
    pub dir: PathBuf,
    pub reader_token: String,
    pub inbox_token: String,
    pub acked: Arc<Mutex<Acked>>,
    pub stop: Arc<AtomicBool>,
    pub reads: Arc<AtomicU64>,
}

fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

impl Clients {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Reads the granted fields until stopped; counts the reads answered 200.
    pub fn reader(&self) {
        let http = http();
        while !self.stopped() {
            let answer = http
                .get(format!("{}/v1/data", self.base))
                .bearer_auth(&self.reader_token)
                .send();
            if let Ok(r) = answer {
                let status = r.status().as_u16();
                // The body must arrive too: a 200 whose body was cut by the kill still counts
                // as answered, since the vault committed to it.
                let body: Value = r.json().unwrap_or(Value::Null);
                if status == 200 {
                    self.reads.fetch_add(1, Ordering::SeqCst);
                    assert!(body.get("profile").is_some() || body.is_null(), "{body}");
                } else {
                    assert!(
                        status == 503 || status == 429,
                        "a read answered {status}: {body}"
                    );
                }
            }
        }
    }

    /// Leaves inbox messages until stopped.
    pub fn inbox(&self, cycle: usize) {
        let http = http();
        let mut n = 0;
        while !self.stopped() {
            n += 1;
            let answer = http
                .post(format!("{}/v1/inbox", self.base))
                .bearer_auth(&self.inbox_token)
                .json(
                    &json!({"topic": "orders", "subject": format!("cycle {cycle} #{n}"),
                              "body": "Your parcel left the warehouse."}),
                )
                .send();
            let Ok(r) = answer else { continue };
            let status = r.status().as_u16();
            let body: Value = r.json().unwrap_or(Value::Null);
            if status == 201 {
                let id = body["id"]
                    .as_str()
                    .expect("a 201 names the message")
                    .to_owned();
                let mut acked = self.acked.lock().unwrap();
                acked.messages.push(id);
                acked.cycle.messages += 1;
            } else {
                assert_eq!(status, 503, "an inbox post answered {status}: {body}");
            }
        }
    }

    /// Runs the owner's `kluis` commands one after another until stopped: a change of the
    /// e-mail address, a new grant, a revocation.
    pub fn cli(&self, mut rng: fastrand::Rng) {
        let dir = self.dir.as_path();
        while !self.stopped() {
            match rng.u8(0..3) {
                0 => {
                    let k = {
                        let mut acked = self.acked.lock().unwrap();
                        acked.email_tried += 1;
                        acked.email_tried
                    };
                    run(dir, &["set", "/profile/email", &email(k)]);
                    let mut acked = self.acked.lock().unwrap();
                    acked.emails.push(k);
                    acked.cycle.document_sets += 1;
                }
                1 => {
                    let out = run(
                        dir,
                        &[
                            "grant",
                            "create",
                            "--to",
                            "pool.example",
                            "--fields",
                            "/profile/email",
                            "--purpose",
                            "crash pool",
                            "--json",
                        ],
                    );
                    let created: Value = serde_json::from_str(&out).unwrap();
                    let id = created["id"].as_str().unwrap().to_owned();
                    let mut acked = self.acked.lock().unwrap();
                    acked.created.push(id.clone());
                    acked.pool.push(id);
                    acked.cycle.grant_creates += 1;
                }
                _ => {
                    let Some(id) = self.take_from_pool(&mut rng) else {
                        continue;
                    };
                    run(dir, &["grant", "revoke", &id]);
                    let mut acked = self.acked.lock().unwrap();
                    acked.revoked.push(id);
                    acked.cycle.grant_revokes += 1;
                }
            }
        }
    }

    fn take_from_pool(&self, rng: &mut fastrand::Rng) -> Option<String> {
        let mut acked = self.acked.lock().unwrap();
        if acked.pool.is_empty() {
            return None;
        }
        let at = rng.usize(0..acked.pool.len());
        Some(acked.pool.swap_remove(at))
    }

    /// Signs in to the dashboard, then saves the nickname on the profile page and revokes
    /// grants until stopped.
    pub fn dashboard(&self, mut rng: fastrand::Rng) {
        let http = http();
        let Some((cookie, csrf)) = self.sign_in(&http) else {
            return;
        };
        while !self.stopped() {
            let post = |path: &str, form: &[(&str, &str)]| {
                let mut form = form.to_vec();
                form.push(("csrf", &csrf));
                http.post(format!("{}{path}", self.base))
                    .header("origin", &self.base)
                    .header("cookie", &cookie)
                    .form(&form)
                    .send()
                    .ok()
                    .map(|r| r.status().as_u16())
            };
            if rng.bool() {
                let k = {
                    let mut acked = self.acked.lock().unwrap();
                    acked.nickname_tried += 1;
                    acked.nickname_tried
                };
                let status = post("/dashboard/profile", &[("/profile/nickname", &nickname(k))]);
                if status == Some(303) {
                    let mut acked = self.acked.lock().unwrap();
                    acked.nicknames.push(k);
                    acked.cycle.document_sets += 1;
                    acked.cycle.dashboard_saves += 1;
                } else if let Some(status) = status {
                    panic!("saving the profile answered {status}");
                }
            } else if let Some(id) = self.take_from_pool(&mut rng) {
                let status = post(&format!("/dashboard/grants/{id}/revoke"), &[]);
                if status == Some(303) {
                    let mut acked = self.acked.lock().unwrap();
                    acked.revoked.push(id);
                    acked.cycle.grant_revokes += 1;
                } else if let Some(status) = status {
                    panic!("revoking {id} on the dashboard answered {status}");
                }
            }
        }
    }

    /// The session cookie and CSRF token, or `None` if the server went away first. A server
    /// that answers but gives no session or no token is a finding, not a reason to stop.
    fn sign_in(&self, http: &reqwest::blocking::Client) -> Option<(String, String)> {
        let passphrase = crate::common::PASS;
        let response = http
            .post(format!("{}/dashboard/sign-in", self.base))
            .header("origin", &self.base)
            .form(&[("passphrase", passphrase)])
            .send()
            .ok()?;
        assert_eq!(response.status().as_u16(), 303, "signing in");
        let set = response
            .headers()
            .get("set-cookie")
            .expect("a sign-in without a session cookie")
            .to_str()
            .unwrap();
        let cookie = set.split(';').next().unwrap().to_owned();
        let page = http
            .get(format!("{}/dashboard/", self.base))
            .header("cookie", &cookie)
            .send()
            .ok()?
            .text()
            .ok()?;
        let marker = r#"name="csrf" value=""#;
        // A page cut short by the kill has no token; a whole page without one is a finding.
        let Some(at) = page.find(marker).map(|at| at + marker.len()) else {
            assert!(
                !page.contains("</html>"),
                "a dashboard page without a CSRF token"
            );
            return None;
        };
        let csrf = page[at..at + page[at..].find('"')?].to_owned();
        Some((cookie, csrf))
    }
}

/// Runs `kluis args` and returns its stdout. A server killed at any moment must not make an
/// owner's command fail, so any failure is a finding.
fn run(dir: &Path, args: &[&str]) -> String {
    let out = kluis_cmd(dir).args(args).output().unwrap();
    if out.status.success() {
        return String::from_utf8(out.stdout).unwrap();
    }
    panic!(
        "kluis {args:?} failed ({:?}): {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
}
