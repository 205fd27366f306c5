//! The dispatcher's loop against a real vault: what it sees of other processes' commits, and
//! the bodies it sends after a narrowing.

use kluis_core::grant::{BusinessId, GrantRequest};
use kluis_core::notify::{NewSubscription, Payload};
use kluis_store::{KdfParams, Passphrase, StreamState, Via};

use super::*;

#[test]
fn a_narrowed_body_keeps_only_the_fields_still_covered() {
    let body = Bytes::from_static(
        br#"{"type":"field.changed","timestamp":"2026-12-01T00:00:00Z","data":{"grant_id":"g_x","subject":"s","change_id":"c","changed":["/a","/b"],"values":{"/a":1,"/b":2}}}"#,
    );
    let kept = narrowed_body(&body, &[Pointer::parse("/a").unwrap()]);
    let event: serde_json::Value = serde_json::from_slice(&kept).unwrap();
    assert_eq!(event["data"]["changed"], serde_json::json!(["/a"]));
    assert_eq!(event["data"]["values"], serde_json::json!({"/a": 1}));
    assert_eq!(event["type"], "field.changed");
}

/// A replay committed by another process just before the dispatcher's own commit is seen:
/// the dispatcher's commits never hide another connection's.
#[test]
fn a_replay_committed_before_our_own_commit_is_not_missed() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let v = Vault::create(
        dir.path(),
        &Passphrase::new("correct horse battery staple"),
        KdfParams::OWASP_MINIMUM,
    )
    .unwrap();
    v.replace_document(serde_json::json!({"profile": {"email": "a@x.example"}}))
        .unwrap();
    let (g, _) = v
        .create_grant(
            GrantRequest {
                audience: BusinessId::parse("shop.example").unwrap(),
                fields: vec![Pointer::parse("/profile/email").unwrap()],
                purpose: "p".into(),
                purpose_category: None,
                lifetime_secs: 3600,
                key_thumbprint: None,
                append_record: false,
                contact: None,
            },
            unix_now(),
        )
        .unwrap();
    let sub = v
        .create_subscription(
            &g.id,
            NewSubscription {
                url: "http://127.0.0.1:9/h".into(),
                payload: Payload::Thin,
            },
            unix_now(),
        )
        .unwrap();
    v.owner(Via::Cli)
        .set(vec![(
            Pointer::parse("/profile/email").unwrap(),
            serde_json::json!("b@x.example"),
        )])
        .unwrap();
    let seq = v.outbox_last_seq().unwrap();
    let mut other = Deliveries::open(dir.path()).unwrap();
    let mut dead = Delivery::untried(seq);
    dead.state = DeliveryState::Dead;
    dead.attempts = 10;
    let paused = StreamStatus {
        state: StreamState::Paused,
        since_ms: 1,
        reason: "dead".into(),
    };
    other
        .write(&[dead], &[(sub.id.clone(), Some(paused))])
        .unwrap();
    let (back, _rx) = mpsc::channel();
    let mut l = Loop::new(
        Vault::connect(dir.path(), v.unlocked()).unwrap(),
        Deliveries::open(dir.path()).unwrap(),
        Sender::new(true).unwrap(),
        Options::default(),
        rt.handle().clone(),
        back,
    );
    l.reload().unwrap();
    l.look(false).unwrap();
    assert!(l.streams[&sub.id].status.is_some(), "paused at first");
    assert_eq!(other.replay_dead(None, |_| vec![]).unwrap(), 1);
    l.dirty.push(Delivery {
        state: DeliveryState::Delivered,
        ..Delivery::untried(999_999)
    });
    l.commit_now().unwrap();
    l.look(false).unwrap();
    assert!(
        l.streams[&sub.id].status.is_none(),
        "the replay resumed the stream"
    );
    assert!(l.waiting.contains_key(&seq));
}
