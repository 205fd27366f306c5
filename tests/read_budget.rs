//! Read budgets end to end: a real server on 127.0.0.1:0 over a real vault file. Past a
//! grant's budget, reads get 429 with `Retry-After` as problem+json, the log holds a bounded
//! number of entries for them, introspection is not counted, the owner's change applies to the
//! next read, and the day's count survives a restart (clean, or after the server died).

mod common;

use std::path::Path;

use kluis::core::Pointer;
use kluis::core::access::{Action, Outcome};
use kluis::core::budget::secs_to_next_day;
use kluis::core::document::sample;
use kluis::core::grant::{BusinessId, GrantId, GrantRequest};
use kluis::store::{KdfParams, LogEntry, Passphrase, Vault, Via, unix_now};
use reqwest::StatusCode;
use serde_json::Value;

use common::{Running, start};

impl Running {
    /// `GET /v1/data` with `token`: status, `Retry-After`, `Content-Type` and body.
    async fn read(&self, token: &str) -> (StatusCode, Option<String>, String, Value) {
        let response = self
            .http
            .get(format!("{}/v1/data", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let header = |name| {
            response
                .headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
        };
        let (retry, kind) = (header("retry-after"), header("content-type"));
        let status = response.status();
        (
            status,
            retry,
            kind.unwrap_or_default(),
            response.json().await.unwrap_or(Value::Null),
        )
    }

    async fn statuses(&self, token: &str, n: usize) -> Vec<StatusCode> {
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(self.read(token).await.0);
        }
        out
    }

    async fn introspect(&self, token: &str) -> Value {
        self.http
            .post(format!("{}/v1/introspect", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("token={token}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

fn vault(dir: &Path) -> Vault {
    let vault = Vault::create(dir, &Passphrase::new("pw"), KdfParams::OWASP_MINIMUM).unwrap();
    vault.replace_document(sample()).unwrap();
    vault
}

/// A grant to shop.example for a day, with `budget` reads a day set by the owner.
fn grant(vault: &Vault, budget: Option<u32>) -> (GrantId, String) {
    let owner = vault.owner(Via::Cli);
    let (grant, token) = owner
        .create_grant(GrantRequest {
            audience: BusinessId::parse("shop.example").unwrap(),
            fields: vec![Pointer::parse("/profile/email").unwrap()],
            purpose: "order delivery".into(),
            purpose_category: None,
            lifetime_secs: 86_400,
            key_thumbprint: None,
            append_record: false,
            contact: None,
        })
        .unwrap();
    if budget.is_some() {
        owner.set_read_budget(&grant.id, budget).unwrap();
    }
    (grant.id, token)
}

fn count(statuses: &[StatusCode], status: StatusCode) -> usize {
    statuses.iter().filter(|s| **s == status).count()
}

/// The grant's read entries: served, refused on their own, and the summaries' counts.
fn reads_logged(vault: &Vault, grant: &GrantId) -> (usize, Vec<String>, Vec<u64>) {
    let entries: Vec<LogEntry> = vault
        .log_entries()
        .unwrap()
        .into_iter()
        .filter(|e| e.record.grant.as_ref() == Some(grant) && e.record.action == Action::Read)
        .collect();
    let served = entries
        .iter()
        .filter(|e| e.record.outcome == Outcome::Allowed)
        .count();
    let mut refused = Vec::new();
    let mut summed = Vec::new();
    for e in entries
        .iter()
        .filter(|e| e.record.outcome == Outcome::Refused)
    {
        let reason = e.record.reason.clone().unwrap();
        match reason.split_once(" more reads were refused over the read budget of ") {
            Some((n, _)) => summed.push(n.parse().unwrap()),
            None => refused.push(reason),
        }
    }
    (served, refused, summed)
}

#[tokio::test]
async fn past_the_budget_reads_get_429_with_retry_after_and_the_log_stays_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let vault = vault(dir.path());
    let (id, token) = grant(&vault, Some(10));
    let server = start(dir.path(), &vault).await;

    // Introspection does not count against the budget.
    for _ in 0..15 {
        assert_eq!(server.introspect(&token).await["active"], true);
    }
    let statuses = server.statuses(&token, 50).await;
    assert_eq!(count(&statuses, StatusCode::OK), 10, "{statuses:?}");
    assert_eq!(count(&statuses, StatusCode::TOO_MANY_REQUESTS), 40);
    assert!(statuses[..10].iter().all(|s| *s == StatusCode::OK));

    let (status, retry, kind, problem) = server.read(&token).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(kind, "application/problem+json");
    assert_eq!(problem["type"], "urn:kluis:problem:read-budget");
    assert_eq!(problem["status"], 429);
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains("read budget of 10 reads a day is used up")
            && detail.contains("POST /v1/subscriptions"),
        "{detail}"
    );
    let retry: u64 = retry.expect("Retry-After").parse().unwrap();
    let expected = secs_to_next_day(unix_now());
    assert!(
        (1..=86_400).contains(&retry) && retry.abs_diff(expected) <= 2,
        "Retry-After {retry}, midnight in {expected}"
    );
    // A spent budget still introspects as active: the grant itself is fine.
    assert_eq!(server.introspect(&token).await["active"], true);
    server.stop().await;

    let (served, refused, summed) = reads_logged(&vault, &id);
    assert_eq!(served, 10);
    assert_eq!(refused, ["read budget of 10 a day reached"]);
    assert_eq!(
        summed.iter().sum::<u64>(),
        40,
        "every refusal after the first is counted"
    );
    assert!(
        (1..=2).contains(&summed.len()),
        "one summary at the stop (two if an hour began meanwhile): {summed:?}"
    );
    let introspections = vault
        .log_entries()
        .unwrap()
        .iter()
        .filter(|e| e.record.grant.as_ref() == Some(&id) && e.record.action == Action::Introspect)
        .count();
    assert_eq!(introspections, 16, "introspection is still logged");
}

#[tokio::test]
async fn a_budget_set_by_the_owner_applies_to_the_next_read() {
    let dir = tempfile::tempdir().unwrap();
    let vault = vault(dir.path());
    let (id, token) = grant(&vault, None);
    let server = start(dir.path(), &vault).await;
    assert_eq!(server.statuses(&token, 3).await, [StatusCode::OK; 3]);

    // Through another connection than the server's, as `kluis grant budget` in another
    // process would.
    let cli = Vault::open(dir.path(), &Passphrase::new("pw")).unwrap();
    cli.owner(Via::Cli).set_read_budget(&id, Some(3)).unwrap();
    let (status, retry, _, _) = server.read(&token).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(retry.is_some());

    cli.owner(Via::Cli).set_read_budget(&id, Some(5)).unwrap();
    assert_eq!(
        server.statuses(&token, 3).await,
        [
            StatusCode::OK,
            StatusCode::OK,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
    cli.owner(Via::Cli).set_read_budget(&id, None).unwrap();
    assert_eq!(server.read(&token).await.0, StatusCode::OK, "the default");
    server.stop().await;
}

#[tokio::test]
async fn a_restart_keeps_the_days_count() {
    let dir = tempfile::tempdir().unwrap();
    let vault = vault(dir.path());
    let (id, token) = grant(&vault, Some(5));

    let first = start(dir.path(), &vault).await;
    assert_eq!(first.statuses(&token, 2).await, [StatusCode::OK; 2]);
    first.stop().await;

    let second = start(dir.path(), &vault).await;
    assert_eq!(
        second.statuses(&token, 4).await,
        [
            StatusCode::OK,
            StatusCode::OK,
            StatusCode::OK,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
    // A server that dies does not save its counts: a third one, started while the second
    // still runs (as if it had died), counts what the log holds since the second's start.
    vault.owner(Via::Cli).set_read_budget(&id, Some(7)).unwrap();
    let third = start(dir.path(), &vault).await;
    assert_eq!(
        third.statuses(&token, 3).await,
        [
            StatusCode::OK,
            StatusCode::OK,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
    third.stop().await;
    second.stop().await;
}
