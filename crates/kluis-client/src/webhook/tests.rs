//! The verifier's tests: what it accepts, each reason it refuses, and the events it reads.

use ed25519_dalek::SigningKey;
use kluis_core::Pointer;
use kluis_core::grant::GrantId;
use kluis_core::notify::{self, EventType};
use kluis_core::webhook::{SigningKeys, public_key_text, sign};
use kluis_core::wire::{AccessRequestStatus, RequestStatus};
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::json;

use super::*;

const NOW: i64 = 1_700_000_000;

struct Vault {
    secrets: Vec<Secret>,
    key: SigningKey,
}

impl Vault {
    fn new() -> Self {
        Self {
            secrets: vec![Secret::from_bytes(&[1; 32])],
            key: SigningKey::from_bytes(&[2; 32]),
        }
    }

    /// The vault mid-rotation: the old secret and a new one both sign.
    fn rotating() -> Self {
        let mut vault = Self::new();
        vault.secrets.push(Secret::from_bytes(&[3; 32]));
        vault
    }

    fn secret(&self, n: usize) -> String {
        self.secrets[n].to_text().to_string()
    }

    fn public(&self) -> String {
        public_key_text(&self.key.verifying_key())
    }

    fn signature(&self, id: &str, ts: i64, body: &[u8]) -> String {
        let keys = SigningKeys {
            secrets: &self.secrets,
            ed25519: Some(&self.key),
        };
        sign(&keys, id, ts, body)
    }

    fn headers(&self, id: &str, ts: i64, body: &[u8]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(ID, HeaderValue::from_str(id).unwrap());
        headers.insert(TIMESTAMP, HeaderValue::from(ts));
        let signature = self.signature(id, ts, body);
        headers.insert(SIGNATURE, HeaderValue::from_str(&signature).unwrap());
        headers
    }
}

fn grant_id() -> GrantId {
    GrantId::parse(&format!("g_{}", "b".repeat(26))).unwrap()
}

fn pointers(texts: &[&str]) -> Vec<Pointer> {
    texts.iter().map(|t| Pointer::parse(t).unwrap()).collect()
}

fn field_changed() -> Vec<u8> {
    let data = FieldChanged {
        grant_id: grant_id(),
        subject: "sub-1".into(),
        change_id: "c_1".into(),
        changed: pointers(&["/profile/email"]),
        values: None,
    };
    notify::Event::new(EventType::FieldChanged, NOW - 2, &data).to_body()
}

fn grant_changed(kind: EventType) -> Vec<u8> {
    let data = GrantChanged {
        grant_id: grant_id(),
        subject: "sub-1".into(),
        removed: pointers(&["/profile/address"]),
        remaining: pointers(&["/profile/email"]),
    };
    notify::Event::new(kind, NOW - 2, &data).to_body()
}

fn rejected(err: WebhookError) -> Result<Notification, VerifyError> {
    Err(VerifyError::Rejected(err))
}

#[test]
fn accepts_by_secret_only() {
    let vault = Vault::new();
    let verifier = WebhookVerifier::new([vault.secret(0)]).unwrap();
    let body = field_changed();
    let n = verifier
        .verify_at(&vault.headers("msg_1", NOW, &body), &body, NOW)
        .unwrap();
    assert_eq!(n.id, "msg_1");
    assert_eq!(n.timestamp, NOW);
    assert_eq!(n.occurred_at, "2023-11-14T22:13:18Z");
    let Event::FieldChanged(change) = &n.event else {
        panic!("{n:?}")
    };
    assert_eq!(change.changed, pointers(&["/profile/email"]));
    assert_eq!(n.event.grant_id(), Some(&grant_id()));
    assert!(n.event.fields_to_delete().is_empty());
}

#[test]
fn accepts_by_public_key_only() {
    let vault = Vault::new();
    let verifier = WebhookVerifier::new([vault.public()]).unwrap();
    let body = field_changed();
    let signature = vault.signature("msg_1", NOW, &body);
    let v1a_only: Vec<&str> = signature
        .split(' ')
        .filter(|s| s.starts_with("v1a,"))
        .collect();
    assert_eq!(v1a_only.len(), 1);
    assert!(
        verifier
            .verify_parts_at("msg_1", &NOW.to_string(), v1a_only[0], &body, NOW)
            .is_ok()
    );
    // The v1 signatures alone mean nothing to a verifier that only has the public key.
    let v1_only = signature.replace(v1a_only[0], "");
    assert_eq!(
        verifier.verify_parts_at("msg_2", &NOW.to_string(), &v1_only, &body, NOW),
        rejected(WebhookError::NoMatch)
    );
}

#[test]
fn accepts_either_secret_during_a_rotation() {
    let vault = Vault::rotating();
    let body = field_changed();
    let signature = vault.signature("msg_1", NOW, &body);
    assert_eq!(signature.matches("v1,").count(), 2);
    for keys in [
        vec![vault.secret(0)],
        vec![vault.secret(1)],
        vec![vault.secret(0), vault.secret(1)],
    ] {
        let verifier = WebhookVerifier::new(&keys).unwrap();
        assert!(
            verifier
                .verify_parts_at("msg_1", &NOW.to_string(), &signature, &body, NOW)
                .is_ok(),
            "{} secret(s)",
            keys.len()
        );
    }
    // After the rotation the old secret no longer signs: a verifier holding both still accepts.
    let after = Vault {
        secrets: vec![Secret::from_bytes(&[3; 32])],
        key: SigningKey::from_bytes(&[2; 32]),
    };
    let both = WebhookVerifier::new([vault.secret(0), vault.secret(1)]).unwrap();
    assert!(
        both.verify_at(&after.headers("msg_2", NOW, &body), &body, NOW)
            .is_ok()
    );
    let old_only = WebhookVerifier::new([vault.secret(0)]).unwrap();
    assert_eq!(
        old_only.verify_at(&after.headers("msg_3", NOW, &body), &body, NOW),
        rejected(WebhookError::NoMatch)
    );
}

#[test]
fn refuses_forged_deliveries() {
    let vault = Vault::new();
    let forger = Vault {
        secrets: vec![Secret::from_bytes(&[9; 32])],
        key: SigningKey::from_bytes(&[8; 32]),
    };
    let verifier = WebhookVerifier::new([vault.secret(0), vault.public()]).unwrap();
    let body = field_changed();
    assert_eq!(
        verifier.verify_at(&forger.headers("msg_1", NOW, &body), &body, NOW),
        rejected(WebhookError::NoMatch)
    );
    for junk in ["v1,", "v1,AAAA", "v2,abc v1a,!!!", "nonsense"] {
        assert_eq!(
            verifier.verify_parts_at("msg_1", &NOW.to_string(), junk, &body, NOW),
            rejected(WebhookError::NoMatch),
            "{junk}"
        );
    }
    // A forged delivery does not use up the id: the real one still passes.
    assert!(
        verifier
            .verify_at(&vault.headers("msg_1", NOW, &body), &body, NOW)
            .is_ok()
    );
}

#[test]
fn refuses_altered_deliveries() {
    let vault = Vault::new();
    let verifier = WebhookVerifier::new([vault.secret(0), vault.public()]).unwrap();
    let body = field_changed();
    let signature = vault.signature("msg_1", NOW, &body);
    let ts = NOW.to_string();
    let mut altered = body.clone();
    let at = altered.len() - 3;
    altered[at] ^= 1;
    // The same JSON, written again with other spacing: not the bytes that were signed.
    let rewritten =
        serde_json::to_vec_pretty(&serde_json::from_slice::<serde_json::Value>(&body).unwrap())
            .unwrap();
    for (id, ts, body) in [
        ("msg_1", ts.as_str(), &altered[..]),
        ("msg_1", ts.as_str(), &rewritten[..]),
        ("msg_2", ts.as_str(), &body[..]),
        ("msg_1", &(NOW + 1).to_string(), &body[..]),
    ] {
        assert_eq!(
            verifier.verify_parts_at(id, ts, &signature, body, NOW),
            rejected(WebhookError::NoMatch)
        );
    }
}

#[test]
fn refuses_stale_and_future_timestamps() {
    let vault = Vault::new();
    let verifier = WebhookVerifier::new([vault.secret(0)]).unwrap();
    let body = field_changed();
    let old = NOW - TOLERANCE_SECS - 1;
    let new = NOW + TOLERANCE_SECS + 1;
    assert_eq!(
        verifier.verify_at(&vault.headers("msg_1", old, &body), &body, NOW),
        rejected(WebhookError::TooOld)
    );
    assert_eq!(
        verifier.verify_at(&vault.headers("msg_1", new, &body), &body, NOW),
        rejected(WebhookError::TooNew)
    );
    assert!(
        verifier
            .verify_at(
                &vault.headers("msg_1", NOW - TOLERANCE_SECS, &body),
                &body,
                NOW
            )
            .is_ok(),
        "five minutes is still within"
    );
}

#[test]
fn refuses_replays_and_retries_of_an_accepted_id() {
    let vault = Vault::new();
    let verifier = WebhookVerifier::new([vault.secret(0)]).unwrap();
    let body = field_changed();
    let headers = vault.headers("msg_1", NOW, &body);
    assert!(verifier.verify_at(&headers, &body, NOW).is_ok());
    let again = verifier.verify_at(&headers, &body, NOW + 60);
    assert_eq!(again, rejected(WebhookError::Replayed));
    assert!(again.unwrap_err().is_replay());
    // The vault's retry: same id, new timestamp and signature.
    let retry = vault.headers("msg_1", NOW + 120, &body);
    assert_eq!(
        verifier.verify_at(&retry, &body, NOW + 120),
        rejected(WebhookError::Replayed)
    );
    // A receiver that failed to handle it gives the id back, and the retry is accepted.
    verifier.forget("msg_1");
    assert!(verifier.verify_at(&retry, &body, NOW + 120).is_ok());
    // Once the timestamp is too old to pass, the id is no longer needed.
    assert_eq!(
        verifier.verify_at(&retry, &body, NOW + 120 + TOLERANCE_SECS + 1),
        rejected(WebhookError::TooOld)
    );
    assert!(!VerifyError::Rejected(WebhookError::NoMatch).is_replay());
}

#[test]
fn one_delivery_is_accepted_once_across_threads() {
    let vault = Vault::new();
    let verifier = WebhookVerifier::new([vault.secret(0)]).unwrap();
    let body = field_changed();
    let headers = vault.headers("msg_1", NOW, &body);
    let accepted = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|_| scope.spawn(|| verifier.verify_at(&headers, &body, NOW).is_ok()))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .filter(|ok| *ok)
            .count()
    });
    assert_eq!(accepted, 1);
}

#[test]
fn a_full_replay_cache_refuses_new_ids_until_old_ones_lapse() {
    let vault = Vault::new();
    let verifier = WebhookVerifier::new([vault.secret(0)])
        .unwrap()
        .with_replay_capacity(2);
    let body = field_changed();
    let deliver =
        |id: &str, now: i64| verifier.verify_at(&vault.headers(id, now, &body), &body, now);
    assert!(deliver("msg_1", NOW).is_ok());
    assert!(deliver("msg_2", NOW).is_ok());
    assert_eq!(deliver("msg_3", NOW), Err(VerifyError::Busy(2)));
    assert_eq!(deliver("msg_1", NOW + 1), rejected(WebhookError::Replayed));
    assert!(deliver("msg_3", NOW + TOLERANCE_SECS + 1).is_ok());
}

#[test]
fn missing_headers_are_named() {
    let vault = Vault::new();
    let verifier = WebhookVerifier::new([vault.secret(0)]).unwrap();
    let body = field_changed();
    for name in [ID, TIMESTAMP, SIGNATURE] {
        let mut headers = vault.headers("msg_1", NOW, &body);
        headers.remove(name);
        assert_eq!(
            verifier.verify_at(&headers, &body, NOW),
            rejected(WebhookError::MissingHeader(name))
        );
    }
    assert_eq!(
        verifier.verify_parts_at("msg_1", "", "v1,x", &body, NOW),
        rejected(WebhookError::MissingHeader(TIMESTAMP))
    );
    let mut headers = vault.headers("msg_1", NOW, &body);
    headers.insert(ID, HeaderValue::from_bytes(b"msg_\xff").unwrap());
    assert_eq!(
        verifier.verify_at(&headers, &body, NOW),
        rejected(WebhookError::MissingHeader(ID))
    );
}

#[test]
fn keys_are_required_and_checked() {
    let none: [&str; 0] = [];
    assert!(matches!(
        WebhookVerifier::new(none),
        Err(WebhookError::BadKey(_))
    ));
    for bad in [
        "",
        "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "whsec_!!",
        "whpk_AAAA",
    ] {
        assert!(
            matches!(WebhookVerifier::new([bad]), Err(WebhookError::BadKey(_))),
            "{bad:?}"
        );
    }
    let vault = Vault::new();
    let verifier = WebhookVerifier::new([vault.secret(0), vault.public()]).unwrap();
    let shown = format!("{verifier:?}");
    assert!(!shown.contains(&vault.secret(0)[6..]), "{shown}");
    assert!(shown.contains(&vault.public()), "{shown}");
}

#[test]
fn grant_events_say_what_to_delete() {
    let vault = Vault::new();
    let verifier = WebhookVerifier::new([vault.secret(0)]).unwrap();
    for (n, kind) in [
        EventType::GrantNarrowed,
        EventType::GrantRevoked,
        EventType::GrantExpired,
    ]
    .into_iter()
    .enumerate()
    {
        let body = grant_changed(kind);
        let id = format!("msg_{n}");
        let notification = verifier
            .verify_at(&vault.headers(&id, NOW, &body), &body, NOW)
            .unwrap();
        let event = &notification.event;
        assert_eq!(event.kind(), kind.as_str());
        assert_eq!(event.fields_to_delete(), pointers(&["/profile/address"]));
        assert_eq!(event.ends_grant(), kind.ends_grant());
        let matches_kind = match (kind, event) {
            (EventType::GrantNarrowed, Event::GrantNarrowed(c))
            | (EventType::GrantRevoked, Event::GrantRevoked(c))
            | (EventType::GrantExpired, Event::GrantExpired(c)) => {
                c.remaining == pointers(&["/profile/email"])
            }
            _ => false,
        };
        assert!(matches_kind, "{kind:?}: {event:?}");
    }
}

#[test]
fn a_decided_request_is_read_and_its_token_kept_out_of_debug() {
    let vault = Vault::new();
    let verifier = WebhookVerifier::new([vault.secret(0)]).unwrap();
    let mut status = AccessRequestStatus::undecided(
        &format!("r_{}", "c".repeat(26)),
        RequestStatus::Approved,
        vec!["/profile/email".into()],
        NOW + 3600,
    );
    status.token = Some("eyJ.secret-token.sig".into());
    let body = notify::Event::new(EventType::RequestDecided, NOW, &status).to_body();
    let n = verifier
        .verify_at(&vault.headers("msg_1", NOW, &body), &body, NOW)
        .unwrap();
    assert_eq!(n.event, Event::RequestDecided(status));
    let shown = format!("{n:?}");
    assert!(!shown.contains("secret-token"), "{shown}");
    assert!(shown.contains("Approved"), "{shown}");
}

#[test]
fn an_inbox_reply_is_read_and_its_text_kept_out_of_debug() {
    use kluis_core::inbox::{InboxReplied, MessageId, ReplyMessage};
    let vault = Vault::new();
    let verifier = WebhookVerifier::new([vault.secret(0)]).unwrap();
    let data = InboxReplied {
        grant_id: GrantId::from_random([5; 16]),
        subject: "pairwise".into(),
        message: ReplyMessage {
            id: MessageId::from_random([6; 16]),
            in_reply_to: MessageId::from_random([7; 16]),
            topic: "orders".into(),
            subject: "Re: Shipped".into(),
            body: "private words".into(),
        },
    };
    let body = notify::Event::new(EventType::InboxReply, NOW, &data).to_body();
    let n = verifier
        .verify_at(&vault.headers("msg_1", NOW, &body), &body, NOW)
        .unwrap();
    assert_eq!(n.event.kind(), "inbox.reply");
    assert_eq!(n.event.grant_id(), Some(&data.grant_id));
    assert!(n.event.fields_to_delete().is_empty() && !n.event.ends_grant());
    assert_eq!(n.event, Event::InboxReply(data));
    let shown = format!("{n:?}");
    assert!(!shown.contains("private words"), "{shown}");
    assert!(shown.contains("orders"), "{shown}");
}

#[test]
fn unknown_types_are_kept_and_bad_bodies_refused() {
    let vault = Vault::new();
    let verifier = WebhookVerifier::new([vault.secret(0)]).unwrap();
    let body = serde_json::to_vec(&json!({
        "type": "grant.renewed",
        "timestamp": "2023-11-14T22:13:20Z",
        "data": {"grant_id": "g_x"}
    }))
    .unwrap();
    let n = verifier
        .verify_at(&vault.headers("msg_1", NOW, &body), &body, NOW)
        .unwrap();
    assert_eq!(
        n.event,
        Event::Unknown {
            kind: "grant.renewed".into(),
            data: json!({"grant_id": "g_x"})
        }
    );
    assert_eq!(n.event.kind(), "grant.renewed");
    assert_eq!(n.event.grant_id(), None);

    // Signed, but not an event: refused without quoting it, and the id is not used up.
    let secret_value = "anna@example.nl";
    let wrong = serde_json::to_vec(&json!({
        "type": "field.changed",
        "timestamp": "2023-11-14T22:13:20Z",
        "data": {"changed": [secret_value]}
    }))
    .unwrap();
    let err = verifier
        .verify_at(&vault.headers("msg_2", NOW, &wrong), &wrong, NOW)
        .unwrap_err();
    assert!(matches!(err, VerifyError::Body(_)), "{err:?}");
    assert!(err.to_string().contains("field.changed"), "{err}");
    assert!(!err.to_string().contains(secret_value), "{err}");
    for junk in [&b"not json"[..], b"[]", br#"{"type":"field.changed"}"#] {
        assert!(matches!(
            verifier.verify_at(&vault.headers("msg_2", NOW, junk), junk, NOW),
            Err(VerifyError::Body(_))
        ));
    }
    let body = field_changed();
    assert!(
        verifier
            .verify_at(&vault.headers("msg_2", NOW, &body), &body, NOW)
            .is_ok()
    );
}

#[test]
fn the_system_clock_is_used_by_default() {
    let vault = Vault::new();
    let verifier = WebhookVerifier::new([vault.secret(0)]).unwrap();
    let body = field_changed();
    let now = unix_now();
    assert!(
        verifier
            .verify(&vault.headers("msg_1", now, &body), &body)
            .is_ok()
    );
    assert_eq!(
        verifier.verify(&vault.headers("msg_2", NOW, &body), &body),
        rejected(WebhookError::TooOld)
    );
    let ts = now.to_string();
    let signature = vault.signature("msg_3", now, &body);
    assert!(
        verifier
            .verify_parts("msg_3", &ts, &signature, &body)
            .is_ok()
    );
}
