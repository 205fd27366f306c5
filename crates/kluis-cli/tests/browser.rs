//! The owner's dashboard in a real browser: arranges a vault with the `kluis` binary (profile
//! fields, grants), serves it with `kluis serve` on a free port, starts a business on the SDK
//! beside it (`browser/business.rs`), and runs the browser tests in `tests/browser/`
//! (`node --test`, Playwright driving Debian's headless chromium) against them.
//!
//! They need `/usr/bin/chromium` (`apt-get install chromium`) and
//! `tests/browser/node_modules` (`npm ci --prefix tests/browser`). Without them the test says
//! so in one line and passes, except under CI (`CI` set), where it fails: there a browser
//! test must never be skipped.

#[path = "browser/business.rs"]
mod business;
mod common;

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use common::{PASS, json_of, kluis_cmd, ok, succeeded};

const CHROMIUM: &str = "/usr/bin/chromium";
/// Longer than the browser tests ever take; a hung browser must not hang `cargo test`.
const NODE_DEADLINE: Duration = Duration::from_secs(300);

/// A child process killed when dropped, so a failing test leaves no server or browser behind.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// What is missing for the browser tests, if anything.
fn missing(root: &Path) -> Option<String> {
    let mut needed = Vec::new();
    if !Path::new(CHROMIUM).exists() {
        needed.push("`apt-get install chromium`");
    }
    if !root
        .join("tests/browser/node_modules/playwright-core")
        .is_dir()
    {
        needed.push("`npm ci --prefix tests/browser`");
    }
    if Command::new("node").arg("--version").output().is_err() {
        needed.push("node (20 or newer)");
    }
    (!needed.is_empty()).then(|| needed.join(" and "))
}

/// Starts `kluis serve` on a port of its choosing and returns its base URL once `/healthz`
/// answers.
fn serve(vault: &Path) -> (Running, String) {
    let mut child = kluis_cmd(vault)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let running = Running(child);
    let mut lines = BufReader::new(stdout).lines();
    let url = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|line| {
            let rest = line.strip_prefix("Serving the grant API on ")?;
            Some(rest.split_whitespace().next()?.to_owned())
        })
        .expect("kluis serve never said where it listens");
    // Keep reading what it prints later, as a terminal would.
    std::thread::spawn(move || lines.for_each(drop));
    let client = reqwest::blocking::Client::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match client.get(format!("{url}/healthz")).send() {
            Ok(r) if r.status().is_success() => return (running, url),
            _ if Instant::now() > deadline => panic!("{url}/healthz never answered"),
            _ => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// `kluis grant create` for `fields` (comma-separated) to `business`, for 30 days; its token.
fn grant(vault: &Path, business: &str, fields: &str, purpose: &str) -> String {
    let created = json_of(&succeeded(kluis_cmd(vault).args([
        "grant",
        "create",
        "--to",
        business,
        "--fields",
        fields,
        "--purpose",
        purpose,
        "--expires",
        "30d",
        "--json",
    ])));
    created["token"].as_str().unwrap().to_owned()
}

#[test]
fn the_dashboard_works_in_a_real_browser() {
    let root = repo_root();
    if let Some(needed) = missing(&root) {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the browser tests, but they need {needed}"
        );
        println!("browser tests not run: they need {needed}");
        return;
    }

    let dir = tempfile::tempdir().unwrap();
    let vault = dir.path().join("vault");
    std::fs::create_dir(&vault).unwrap();
    ok(&vault, &["init"]);
    let profile = json!({
        "name": "Anna de Vries",
        "email": "anna@example.nl",
        "address": {
            "street_address": "Prinsengracht 263",
            "locality": "Amsterdam",
            "postal_code": "1016 GV",
            "country": "NL"
        },
        "birthdate": "1990-04-27"
    });
    for (name, value) in profile.as_object().unwrap() {
        let value = match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        ok(&vault, &["set", &format!("/profile/{name}"), &value]);
    }
    let granted = "/profile/email,/profile/address";
    let token = grant(&vault, "webshop.example", granted, "order delivery");
    // A grant of its own for each test that narrows or revokes, so the webshop's grant, which
    // other test files read with, stays as it is whatever order the files run in.
    let actions = json!({
        "narrow": {
            "business": "bookshop.example",
            "token": grant(&vault, "bookshop.example", granted, "book delivery"),
        },
        "revoke": {
            "business": "florist.example",
            "token": grant(&vault, "florist.example", granted, "flower delivery"),
        },
    });

    // A grant with a contact right for the inbox test: it leaves a message through POST
    // /v1/inbox. It reads the name too: the overview's sentence for a contact-only grant
    // ("can read your for …") would not match what dashboard.test.mjs expects of each grant.
    let inbox_token = json_of(&succeeded(kluis_cmd(&vault).args([
        "grant",
        "create",
        "--to",
        "newsletter.example",
        "--fields",
        "/profile/name",
        "--contact-channel",
        "inbox",
        "--contact-topic",
        "offers",
        "--purpose",
        "newsletter",
        "--expires",
        "30d",
        "--json",
    ])))["token"]
        .as_str()
        .unwrap()
        .to_owned();

    let (_server, url) = serve(&vault);
    let business = business::start(&url);
    let screenshots = root.join("target/browser");
    // Only this run's screenshots: an old `failed-*.png` must not suggest a failure.
    let _ = std::fs::remove_dir_all(&screenshots);
    std::fs::create_dir_all(&screenshots).unwrap();
    let output = dir.path().join("node-output.txt");
    let out = File::create(&output).unwrap();
    let node = Command::new("node")
        // One file at a time: the files share the vault, and its state (reads, grants) is
        // part of what they check.
        .args(["--test", "--test-concurrency=1"])
        .arg("tests/browser/")
        .current_dir(&root)
        .env("KLUIS_BASE_URL", &url)
        .env("KLUIS_PASSPHRASE", PASS)
        .env("KLUIS_VAULT", &vault)
        .env("KLUIS_GRANT_TOKEN", &token)
        .env("KLUIS_ACTION_GRANTS", actions.to_string())
        .env("KLUIS_INBOX_TOKEN", &inbox_token)
        .env("KLUIS_BUSINESS_URL", &business.url)
        .env("KLUIS_PROFILE", profile.to_string())
        .env("KLUIS_GRANTED_FIELDS", granted)
        .env("KLUIS_SCREENSHOTS", &screenshots)
        .env("KLUIS_CHROMIUM", CHROMIUM)
        // Plain text in the test output, no terminal colour codes.
        .env("FORCE_COLOR", "0")
        .env_remove("NO_COLOR")
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .expect("node runs");
    let mut node = Running(node);
    let deadline = Instant::now() + NODE_DEADLINE;
    let status = loop {
        if let Some(status) = node.0.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    drop(node);
    let printed = std::fs::read_to_string(&output).unwrap_or_default();
    let status = status.unwrap_or_else(|| {
        panic!("the browser tests took longer than {NODE_DEADLINE:?}:\n{printed}")
    });
    assert!(
        status.success(),
        "the browser tests failed ({status}); screenshots of failures are in {}:\n{printed}",
        screenshots.display()
    );
    // node reports how many ran: none passing would mean nothing was tested.
    assert!(
        !printed.contains("# pass 0"),
        "no browser test ran:\n{printed}"
    );
    println!("{printed}");
}
