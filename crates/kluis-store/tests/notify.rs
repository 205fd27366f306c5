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
            append_record: false,
            contact: None,
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

fn ask(v: &Vault, callback_url: Option<&str>) -> kluis_core::request::RequestId {
    use ed25519_dalek::SigningKey;
    use kluis_core::jose::Jwk;
    use kluis_core::wire::{AccessRequestBody, BusinessInfo};
    let body = AccessRequestBody {
        business: BusinessInfo::new("shop.example", "Shop")
            .with_contact("Customer Service")
            .with_email("privacy@shop.example")
            .with_address("Winkelstraat 1, 1234 AB Utrecht")
            .with_phone("+31 30 123 4567"),
        jwk: Jwk::from_verifying_key(&SigningKey::from_bytes(&[7; 32]).verifying_key()),
        fields: vec!["/profile/email".into()],
        append_record: false,
        contact: None,
        purpose: "order delivery".into(),
        purpose_category: None,
        duration_secs: None,
        callback_url: callback_url.map(str::to_owned),
    };
    let id = v.create_access_request(&body, unix_now()).unwrap().id;
    kluis_core::request::RequestId::parse(&id).unwrap()
}

#[test]
fn a_decision_with_a_callback_is_queued_and_the_vault_has_a_key_to_sign_it() {
    let dir = tempfile::tempdir().unwrap();
    let v = seeded(dir.path());
    // Without a callback URL: nothing to send, and no key is made for it.
    let quiet = ask(&v, None);
    v.owner(Via::Cli).deny_request(&quiet, None).unwrap();
    assert!(events(&v).is_empty());
    assert!(matches!(v.webhook_key(), Err(StoreError::NotFound(_))));

    let asked = ask(&v, Some("https://shop.example/kluis/decision"));
    let key = v
        .webhook_key()
        .expect("asking with a callback makes the key")
        .verifying_key();
    v.owner(Via::Cli)
        .approve_request(&asked, None, None)
        .unwrap();
    let all = events(&v);
    assert_eq!(all.len(), 1);
    let e = &all[0];
    assert_eq!(e.kind, EventType::RequestDecided);
    assert_eq!(e.stream, asked.as_str());
    assert_eq!(
        e.callback_url.as_deref(),
        Some("https://shop.example/kluis/decision")
    );
    assert_eq!(e.business.as_ref().unwrap().as_str(), "shop.example");
    assert_eq!(body(e)["data"]["status"], "approved");
    assert_eq!(v.webhook_key().unwrap().verifying_key(), key, "one key");
}

#[test]
fn a_decision_on_a_vault_without_a_key_makes_one() {
    let dir = tempfile::tempdir().unwrap();
    let v = seeded(dir.path());
    let asked = ask(&v, Some("https://shop.example/kluis/decision"));
    // A vault from before the key was made on asking: decide with the key gone.
    raw(dir.path())
        .execute("DELETE FROM meta WHERE name = 'webhook_key'", [])
        .unwrap();
    assert!(v.webhook_key().is_err());
    v.owner(Via::Cli).deny_request(&asked, None).unwrap();
    assert!(v.webhook_key().is_ok());
    assert_eq!(events(&v).len(), 1);
}

#[test]
fn the_owners_view_groups_events_by_change_with_their_standing() {
    use kluis_store::{Delivery, Standing, StreamState, StreamStatus};
    let dir = tempfile::tempdir().unwrap();
    let v = seeded(dir.path());
    let mut d = Deliveries::open(dir.path()).unwrap();
    let empty = v.notifications(&d, 20).unwrap();
    assert!(empty.changes.is_empty() && !empty.more && empty.halted.is_empty());

    let shop = grant(&v, "shop.example", &["/profile/email", "/profile/name"]);
    let bank = grant(&v, "bank.example", &["/profile/email"]);
    let shop_sub = subscribe(&v, &shop, Payload::Full);
    let bank_sub = subscribe(&v, &bank, Payload::Thin);
    let owner = v.owner(Via::Cli);
    owner
        .set(vec![(p("/profile/email"), json!("ann@one.example"))])
        .unwrap();
    owner
        .set(vec![(p("/profile/name"), json!("Annie"))])
        .unwrap();
    owner
        .set(vec![(p("/profile/email"), json!("ann@three.example"))])
        .unwrap();

    let view = v.notifications(&d, 20).unwrap();
    assert_eq!(view.changes.len(), 3);
    assert!(!view.more);
    let newest = &view.changes[0];
    assert_eq!(newest.events.len(), 2, "both grants cover the e-mail");
    assert!(
        newest.events[0].seq < newest.events[1].seq,
        "in sending order"
    );
    assert_eq!(
        view.changes[1].events.len(),
        1,
        "only the shop has the name"
    );
    assert_eq!(
        view.changes[1].events[0]
            .business
            .as_ref()
            .unwrap()
            .as_str(),
        "shop.example"
    );
    assert_eq!(view.changes[1].events[0].fields, [p("/profile/name")]);
    assert!(
        view.changes
            .iter()
            .flat_map(|c| &c.events)
            .all(|e| e.standing == Standing::NotTried { again: false } && e.halted.is_none())
    );

    // Two changes at most: the oldest is left out and said to be there.
    let two = v.notifications(&d, 2).unwrap();
    assert_eq!(two.changes.len(), 2);
    assert!(two.more);
    assert_eq!(two.changes[0].change_id, view.changes[0].change_id);
    assert_eq!(two.changes[1].events.len(), 1);

    // The bank's newest event went dead and paused its subscription; the shop's was delivered.
    let bank_event = newest.events.iter().find(|e| e.stream == bank_sub).unwrap();
    let shop_event = newest.events.iter().find(|e| e.stream == shop_sub).unwrap();
    let mut dead = Delivery::untried(bank_event.seq);
    dead.state = DeliveryState::Dead;
    dead.attempts = 10;
    dead.last_at_ms = Some(1_800_000_000_000);
    dead.last_result = Some("answered 500 Internal Server Error".into());
    let mut delivered = Delivery::untried(shop_event.seq);
    delivered.state = DeliveryState::Delivered;
    delivered.attempts = 1;
    delivered.done_at_ms = Some(1_800_000_000_000);
    let paused = StreamStatus {
        state: StreamState::Paused,
        since_ms: 1_800_000_000_000,
        reason: format!("event {} failed every attempt", bank_event.id),
    };
    d.write(
        &[dead, delivered],
        &[(bank_sub.clone(), Some(paused.clone()))],
    )
    .unwrap();
    let view = v.notifications(&d, 20).unwrap();
    let by = |s: &str| {
        view.changes[0]
            .events
            .iter()
            .find(|e| e.stream == s)
            .unwrap()
    };
    assert!(matches!(
        by(&bank_sub).standing,
        Standing::Dead { attempts: 10, .. }
    ));
    assert_eq!(by(&bank_sub).halted.as_ref(), Some(&paused));
    assert_eq!(
        by(&shop_sub).standing,
        Standing::Delivered {
            at_ms: Some(1_800_000_000_000),
            attempts: 1
        }
    );
    assert_eq!(view.halted.len(), 1);
    assert_eq!(view.halted[0].stream, bank_sub);
    assert_eq!(view.halted[0].dead, 1);
    assert_eq!(
        view.halted[0].business.as_ref().unwrap().as_str(),
        "bank.example"
    );

    // Sent again: not tried since, and the subscription runs again.
    assert_eq!(
        v.owner(Via::Cli)
            .replay_dead(&mut d, Some(&bank_sub))
            .unwrap(),
        1
    );
    let view = v.notifications(&d, 20).unwrap();
    let again = view.changes[0]
        .events
        .iter()
        .find(|e| e.stream == bank_sub)
        .unwrap();
    assert_eq!(again.standing, Standing::NotTried { again: true });
    assert!(again.halted.is_none() && view.halted.is_empty());
}

#[test]
fn nothing_follows_grant_expired() {
    let dir = tempfile::tempdir().unwrap();
    let v = seeded(dir.path());
    let shop = grant(&v, "shop.example", &["/profile/email"]);
    subscribe(&v, &shop, Payload::Thin);
    assert_eq!(v.fan_out_expiries(shop.expires_at + 1).unwrap(), 1);
    // Revoking the (already expired) grant afterwards tells the business nothing more.
    v.owner(Via::Cli).revoke_grant(&shop.id).unwrap();
    let kinds: Vec<EventType> = events(&v).iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [EventType::GrantExpired]);
}

#[test]
fn an_event_moved_to_another_stream_is_refused_as_tampered() {
    let dir = tempfile::tempdir().unwrap();
    let v = seeded(dir.path());
    let shop = grant(&v, "shop.example", &["/profile/email"]);
    let bank = grant(&v, "bank.example", &["/profile/name"]);
    subscribe(&v, &shop, Payload::Full);
    let other = subscribe(&v, &bank, Payload::Full);
    v.owner(Via::Cli)
        .set(vec![(p("/profile/email"), json!("x@y.example"))])
        .unwrap();
    raw(dir.path())
        .execute("UPDATE outbox SET stream = ?1", [&other])
        .unwrap();
    assert!(matches!(
        v.outbox_after(0, 10),
        Err(StoreError::Tampered(_))
    ));
}
