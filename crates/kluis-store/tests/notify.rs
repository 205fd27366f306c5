//! Subscriptions and the outbox on a real vault file: which owner actions write which events,
//! in the same transaction, and nothing outside a grant or after its end.

mod common;

use common::{p, raw, vault};
use kluis_core::grant::{BusinessId, GrantRequest};
use kluis_core::notify::{EventType, NewSubscription, Payload};
use kluis_store::{Deliveries, DeliveryState, OutboxEvent, StoreError, Vault, Via, unix_now};
use serde_json::{Value, json};

fn grant(v: &Vault, to: &str, fields: &[&str]) -> kluis_core::grant::Grant {
    v.create_grant(
        GrantRequest {
            audience: BusinessId::parse(to).unwrap(),
            fields: fields.iter().map(|f| p(f)).collect(),
            purpose: "order delivery".into(),
            purpose_category: None,
            lifetime_secs: 3600,
            key_thumbprint: None,
        },
        unix_now(),
    )
    .unwrap()
    .0
}

fn subscribe(v: &Vault, g: &kluis_core::grant::Grant, payload: Payload) -> String {
    v.create_subscription(
        &g.id,
        NewSubscription {
            url: "https://shop.example/hooks".into(),
            payload,
        },
        unix_now(),
    )
    .unwrap()
    .id
}

fn events(v: &Vault) -> Vec<OutboxEvent> {
    v.outbox_after(0, 1000).unwrap()
}

fn body(e: &OutboxEvent) -> Value {
    serde_json::from_slice(&e.body).unwrap()
}

fn seeded(dir: &std::path::Path) -> Vault {
    let v = vault(dir);
    v.owner(Via::Cli)
        .import(
            json!({"profile": {"email": "ann@example.com", "name": "Ann",
                                   "addresses": [{"locality": "Utrecht"}]}}),
        )
        .unwrap();
    v
}

#[test]
fn a_change_inside_a_grant_is_told_to_each_subscription_once() {
    let dir = tempfile::tempdir().unwrap();
    let v = seeded(dir.path());
    let shop = grant(
        &v,
        "shop.example",
        &["/profile/email", "/profile/addresses"],
    );
    let other = grant(&v, "bank.example", &["/profile/name"]);
    let thin = subscribe(&v, &shop, Payload::Thin);
    let full = subscribe(&v, &shop, Payload::Full);
    let bank = subscribe(&v, &other, Payload::Full);

    v.owner(Via::Cli)
        .set(vec![(p("/profile/email"), json!("ann@new.example"))])
        .unwrap();
    let all = events(&v);
    assert_eq!(all.len(), 2, "the bank's grant does not cover the e-mail");
    let by_stream = |s: &str| all.iter().find(|e| e.stream == s).unwrap();
    let (t, f) = (body(by_stream(&thin)), body(by_stream(&full)));
    assert_eq!(t["type"], "field.changed");
    assert_eq!(t["data"]["changed"], json!(["/profile/email"]));
    assert!(t["data"].get("values").is_none(), "thin carries no values");
    assert_eq!(
        f["data"]["values"],
        json!({"/profile/email": "ann@new.example"})
    );
    assert_eq!(t["data"]["change_id"], f["data"]["change_id"], "one change");
    assert_eq!(t["data"]["subject"], shop.subject);
    assert!(!all.iter().any(|e| e.stream == bank));
    assert!(by_stream(&full).full && !by_stream(&thin).full);

    // A change outside every grant writes nothing; removing a granted field tells `null`.
    v.owner(Via::Cli)
        .set(vec![(p("/profile/phone_number"), json!("+31 6 12345678"))])
        .unwrap();
    assert_eq!(events(&v).len(), 2);
    v.owner(Via::Dashboard)
        .unset(&p("/profile/addresses"))
        .unwrap();
    let last = events(&v)
        .into_iter()
        .find(|e| e.seq > all[1].seq && e.stream == full);
    assert_eq!(
        body(&last.unwrap())["data"]["values"],
        json!({"/profile/addresses": null})
    );
}

#[test]
fn a_change_that_fails_leaves_no_event_and_bodies_are_sealed() {
    let dir = tempfile::tempdir().unwrap();
    let v = seeded(dir.path());
    let shop = grant(&v, "shop.example", &["/profile"]);
    subscribe(&v, &shop, Payload::Full);
    // The second write is invalid: nothing is stored, nothing is told.
    let err = v.owner(Via::Cli).set(vec![
        (p("/profile/email"), json!("ann@new.example")),
        (p("/profile/email_verified"), json!("not a boolean")),
    ]);
    assert!(err.is_err());
    assert!(events(&v).is_empty());
    v.owner(Via::Cli)
        .set(vec![(p("/profile/email"), json!("secret@value.example"))])
        .unwrap();
    assert_eq!(events(&v).len(), 1);
    let sealed: Vec<Vec<u8>> = raw(dir.path())
        .prepare("SELECT sealed FROM outbox")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let needle = b"secret@value.example";
    assert!(!sealed[0].windows(needle.len()).any(|w| w == needle));
}

#[test]
fn revocation_tells_what_was_lost_and_then_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let v = seeded(dir.path());
    let shop = grant(&v, "shop.example", &["/profile/email", "/profile/name"]);
    let sub = subscribe(&v, &shop, Payload::Thin);
    let owner = v.owner(Via::Cli);
    owner
        .narrow_grant(&shop.id, vec![p("/profile/email")])
        .unwrap();
    owner.revoke_grant(&shop.id).unwrap();
    owner
        .set(vec![(p("/profile/email"), json!("after@revoke.example"))])
        .unwrap();
    let all = events(&v);
    let kinds: Vec<EventType> = all.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [EventType::GrantNarrowed, EventType::GrantRevoked]);
    assert_eq!(body(&all[0])["data"]["removed"], json!(["/profile/name"]));
    assert_eq!(
        body(&all[0])["data"]["remaining"],
        json!(["/profile/email"])
    );
    assert_eq!(body(&all[1])["data"]["removed"], json!(["/profile/email"]));
    assert!(all[1].is_final && all.iter().all(|e| e.stream == sub));
    // Revoking again tells nothing new.
    owner.revoke_grant(&shop.id).unwrap();
    assert_eq!(events(&v).len(), 2);
}

#[test]
fn subscriptions_belong_to_their_grant() {
    let dir = tempfile::tempdir().unwrap();
    let v = seeded(dir.path());
    let shop = grant(&v, "shop.example", &["/profile/email"]);
    let bank = grant(&v, "bank.example", &["/profile/email"]);
    let sub = subscribe(&v, &shop, Payload::Thin);
    assert!(matches!(
        v.delete_subscription(&bank.id, &sub, unix_now()),
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        v.rotate_subscription_secret(&bank.id, &sub, unix_now()),
        Err(StoreError::NotFound(_))
    ));
    let before = v.subscription(&sub, unix_now()).unwrap();
    let rotated = v
        .rotate_subscription_secret(&shop.id, &sub, unix_now())
        .unwrap();
    assert_eq!(rotated.secrets.len(), 2, "old and new both sign for a day");
    assert_eq!(rotated.secrets[1].bytes(), before.secrets[0].bytes());
    assert_ne!(rotated.secrets[0].bytes(), before.secrets[0].bytes());
    let later = v
        .subscription(&sub, unix_now() + kluis_store::ROTATION_OVERLAP_SECS + 1)
        .unwrap();
    assert_eq!(
        later.secrets.len(),
        1,
        "the old secret stops signing after a day"
    );
    v.delete_subscription(&shop.id, &sub, unix_now()).unwrap();
    v.owner(Via::Cli)
        .set(vec![(p("/profile/email"), json!("x@y.example"))])
        .unwrap();
    assert!(
        events(&v).is_empty(),
        "a deleted subscription is told nothing"
    );
    for _ in 0..kluis_core::notify::MAX_SUBSCRIPTIONS_PER_GRANT {
        subscribe(&v, &bank, Payload::Thin);
    }
    assert!(matches!(
        v.create_subscription(
            &bank.id,
            NewSubscription {
                url: "https://bank.example/h".into(),
                payload: Payload::Thin
            },
            unix_now()
        ),
        Err(StoreError::Conflict(_))
    ));
}

#[test]
fn expired_grants_are_told_once() {
    let dir = tempfile::tempdir().unwrap();
    let v = seeded(dir.path());
    let shop = grant(&v, "shop.example", &["/profile/email"]);
    subscribe(&v, &shop, Payload::Thin);
    assert_eq!(v.fan_out_expiries(unix_now()).unwrap(), 0, "still live");
    let later = shop.expires_at + 1;
    assert_eq!(v.fan_out_expiries(later).unwrap(), 1);
    assert_eq!(v.fan_out_expiries(later).unwrap(), 0, "told once");
    let all = events(&v);
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].kind, EventType::GrantExpired);
    assert_eq!(body(&all[0])["data"]["removed"], json!(["/profile/email"]));
}

#[test]
fn replaying_dead_events_is_an_owner_action() {
    let dir = tempfile::tempdir().unwrap();
    let v = seeded(dir.path());
    let mut d = Deliveries::open(dir.path()).unwrap();
    assert_eq!(v.owner(Via::Cli).replay_dead(&mut d, None).unwrap(), 0);
    let shop = grant(&v, "shop.example", &["/profile/email"]);
    let sub = subscribe(&v, &shop, Payload::Thin);
    v.owner(Via::Cli)
        .set(vec![(p("/profile/email"), json!("x@y.example"))])
        .unwrap();
    let seq = events(&v)[0].seq;
    let mut dead = kluis_store::Delivery::untried(seq);
    dead.state = DeliveryState::Dead;
    dead.attempts = 10;
    d.write(&[dead], &[]).unwrap();
    let before = v.log_entries().unwrap().len();
    assert_eq!(
        v.owner(Via::Cli).replay_dead(&mut d, Some(&sub)).unwrap(),
        1
    );
    assert_eq!(d.all().unwrap()[&seq].state, DeliveryState::Pending);
    let log = v.log_entries().unwrap();
    assert_eq!(log.len(), before + 1);
    assert_eq!(
        log.last().unwrap().record.action,
        kluis_core::access::Action::DeliveryReplay
    );
}
