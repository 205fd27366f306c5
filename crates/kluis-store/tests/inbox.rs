//! The inbox on real files: messages sealed in `inbox.db`, delivered in batches, listed and
//! read by the owner; a reply written to the outbox for the grant the message came with only;
//! "no more of this topic" written into the document once.

mod common;

use std::path::Path;

use common::{p, vault};
use kluis_core::access::{Action, ContactNote};
use kluis_core::contact::ContactPolicy;
use kluis_core::grant::{BusinessId, Grant, GrantRequest};
use kluis_core::inbox::{InboxPost, InboxReplied, MessageId, message_sha256};
use kluis_core::notify::{EventType, NewSubscription, Payload};
use kluis_store::{
    INBOX_FILE, Inbox, InboxFilter, NewMessage, StoreError, Vault, Via, blocked_topics, unix_now,
};
use serde_json::{Value, json};

fn business(id: &str) -> BusinessId {
    BusinessId::parse(id).unwrap()
}

fn grant(v: &Vault, to: &str) -> Grant {
    v.create_grant(
        GrantRequest {
            audience: business(to),
            fields: vec![p("/preferences")],
            purpose: "order updates".into(),
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

fn subscribe(v: &Vault, g: &Grant) -> String {
    v.create_subscription(
        &g.id,
        NewSubscription {
            url: "https://shop.example/hooks".into(),
            payload: Payload::Full,
        },
        unix_now(),
    )
    .unwrap()
    .id
}

fn new_id() -> MessageId {
    let mut random = [0u8; 16];
    getrandom::fill(&mut random).unwrap();
    MessageId::from_random(random)
}

fn message(g: &Grant, topic: &str, subject: &str, body: &str) -> NewMessage {
    post_as(g, topic, subject, body, None)
}

fn post_as(
    g: &Grant,
    topic: &str,
    subject: &str,
    body: &str,
    in_reply_to: Option<MessageId>,
) -> NewMessage {
    let post = InboxPost {
        topic: topic.into(),
        subject: subject.into(),
        body: body.into(),
        in_reply_to,
    };
    NewMessage {
        id: new_id(),
        at_ms: unix_now() * 1000,
        grant: g.id.clone(),
        business: g.audience.clone(),
        sha256: message_sha256(&post),
        post,
    }
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

fn file_bytes(dir: &Path) -> Vec<u8> {
    let mut bytes = std::fs::read(dir.join(INBOX_FILE)).unwrap();
    if let Ok(wal) = std::fs::read(dir.join(format!("{INBOX_FILE}-wal"))) {
        bytes.extend(wal);
    }
    bytes
}

fn ids(list: &[kluis_store::MessageSummary]) -> Vec<MessageId> {
    list.iter().map(|m| m.id.clone()).collect()
}

fn body(e: &kluis_store::OutboxEvent) -> Value {
    serde_json::from_slice(&e.body).unwrap()
}

#[test]
fn messages_and_their_metadata_are_sealed_at_rest() {
    let dir = tempfile::tempdir().unwrap();
    let v = vault(dir.path());
    let shop = grant(&v, "sealed-shop.example");
    let mut inbox = v.open_inbox().unwrap();
    let m = message(
        &shop,
        "zebra-topic",
        "Quarterly walrus subject",
        "The body mentions a platypus twice: platypus.",
    );
    inbox.deliver(std::slice::from_ref(&m)).unwrap();
    subscribe(&v, &shop);
    v.owner(Via::Cli)
        .reply(&inbox, &m.id, "An answer about the narwhal")
        .unwrap();
    let bytes = file_bytes(dir.path());
    assert!(bytes.len() > 4096, "the file holds the message");
    for plain in [
        "zebra-topic",
        "walrus",
        "platypus",
        "narwhal",
        "sealed-shop.example",
        shop.id.as_str(),
        m.id.as_str(),
    ] {
        assert!(!contains(&bytes, plain), "{plain} is readable in inbox.db");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join(INBOX_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // And it all reads back through the keys, from a second connection too.
    let again = Inbox::open(dir.path(), v.unlocked()).unwrap();
    let read = again.message(&m.id).unwrap();
    assert_eq!(read.body, m.post.body);
    assert_eq!(read.summary.subject, m.post.subject);
    assert_eq!(read.summary.business, shop.audience);
    assert_eq!(read.sha256, m.sha256);
    assert_eq!(read.replies[0].body, "An answer about the narwhal");
}

#[test]
fn a_batch_lands_whole_or_not_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let v = vault(dir.path());
    let shop = grant(&v, "shop.example");
    let mut inbox = v.open_inbox().unwrap();
    let batch: Vec<NewMessage> = (0..3)
        .map(|i| message(&shop, "orders", &format!("order {i}"), "shipped"))
        .collect();
    inbox.deliver(&batch).unwrap();
    let listed = inbox.list(InboxFilter::All, 10).unwrap();
    let expected: Vec<MessageId> = batch.iter().rev().map(|m| m.id.clone()).collect();
    assert_eq!(ids(&listed), expected, "newest first");

    // One bad message refuses the whole batch: an invalid post, a reply to nothing the owner
    // sent, a repeated id.
    let good = message(&shop, "orders", "fine", "fine");
    let mut blank = message(&shop, "orders", "blank", "x");
    blank.post.body = " \n".into();
    let stray = post_as(&shop, "orders", "re", "re", Some(batch[0].id.clone()));
    let again = batch[1].clone();
    let mut unhashed = message(&shop, "orders", "hash", "x");
    unhashed.sha256[0] ^= 1;
    for bad in [blank, stray, again, unhashed] {
        let err = inbox.deliver(&[good.clone(), bad.clone()]).unwrap_err();
        assert!(
            matches!(err, StoreError::Invalid(_) | StoreError::Conflict(_)),
            "{err}"
        );
        assert_eq!(inbox.list(InboxFilter::All, 10).unwrap().len(), 3, "{err}");
    }
    let err = inbox
        .deliver(&[post_as(
            &shop,
            "orders",
            "re",
            "re",
            Some(batch[0].id.clone()),
        )])
        .unwrap_err();
    assert!(err.to_string().contains("in_reply_to"), "{err}");
    inbox.deliver(&[]).unwrap();
}

#[test]
fn listings_filter_and_page_newest_first() {
    let dir = tempfile::tempdir().unwrap();
    let v = vault(dir.path());
    let shop = grant(&v, "shop.example");
    let bank = grant(&v, "bank.example");
    let mut inbox = v.open_inbox().unwrap();
    let a = message(&shop, "orders", "a", "a");
    let b = message(&bank, "news", "b", "b");
    let c = message(&shop, "offers", "c", "c");
    inbox.deliver(&[a.clone(), b.clone()]).unwrap();
    inbox.deliver(std::slice::from_ref(&c)).unwrap();

    assert_eq!(inbox.unread_count().unwrap(), 3);
    let by = inbox.unread_by_business().unwrap();
    assert_eq!(by.get(&shop.audience), Some(&2));
    assert_eq!(by.get(&bank.audience), Some(&1));

    let read = inbox.read(&a.id).unwrap();
    assert!(read.summary.read && !read.summary.archived && !read.summary.replied);
    assert!(inbox.archive(&b.id).unwrap());
    assert!(!inbox.archive(&b.id).unwrap(), "archived already");

    let list = |f| ids(&inbox.list(f, 10).unwrap());
    assert_eq!(
        list(InboxFilter::All),
        [c.id.clone(), b.id.clone(), a.id.clone()]
    );
    assert_eq!(list(InboxFilter::Current), [c.id.clone(), a.id.clone()]);
    assert_eq!(list(InboxFilter::Unread), vec![c.id.clone()]);
    assert_eq!(list(InboxFilter::Archived), vec![b.id.clone()]);
    assert_eq!(
        inbox.unread_count().unwrap(),
        1,
        "archived ones do not count"
    );
    assert_eq!(
        inbox
            .unread_by_business()
            .unwrap()
            .into_iter()
            .collect::<Vec<_>>(),
        [(shop.audience.clone(), 1)]
    );

    let first = inbox.list(InboxFilter::All, 2).unwrap();
    assert_eq!(ids(&first), [c.id.clone(), b.id.clone()]);
    let next = inbox
        .list_before(InboxFilter::All, Some(first[1].seq), 2)
        .unwrap();
    assert_eq!(ids(&next), vec![a.id.clone()]);
    assert!(inbox.list(InboxFilter::All, 0).unwrap().is_empty());

    assert!(inbox.unarchive(&b.id).unwrap());
    assert!(inbox.mark_unread(&a.id).unwrap());
    assert_eq!(inbox.unread_count().unwrap(), 3);
    let peek = inbox.message(&c.id).unwrap();
    assert!(
        !peek.summary.read,
        "looking without reading leaves it unread"
    );
    assert_eq!(peek.body, "c");
}

#[test]
fn a_reply_goes_to_the_grants_subscriptions_only() {
    let dir = tempfile::tempdir().unwrap();
    let v = vault(dir.path());
    let shop = grant(&v, "shop.example");
    let bank = grant(&v, "bank.example");
    let shop_sub = subscribe(&v, &shop);
    let bank_sub = subscribe(&v, &bank);
    let mut inbox = v.open_inbox().unwrap();
    let m = message(&shop, "orders", "Your order shipped", "Track it here.");
    let other = message(&bank, "news", "Rates", "New rates.");
    inbox.deliver(&[m.clone(), other.clone()]).unwrap();
    let before = v.outbox_last_seq().unwrap();
    let logged = v.log_entries().unwrap().len();

    let sent = v
        .owner(Via::Cli)
        .reply(&inbox, &m.id, "Thank you!\nAnn")
        .unwrap();
    assert_eq!(sent.subject, "Re: Your order shipped");

    let events = v.outbox_after(before, 100).unwrap();
    assert_eq!(
        events.len(),
        1,
        "one event, for the shop's one subscription"
    );
    let e = &events[0];
    assert_eq!(e.kind, EventType::InboxReply);
    assert_eq!(e.stream, shop_sub);
    assert_ne!(e.stream, bank_sub);
    assert_eq!(e.grant_id.as_ref(), Some(&shop.id));
    let b = body(e);
    assert_eq!(b["type"], "inbox.reply");
    let data: InboxReplied = serde_json::from_value(b["data"].clone()).unwrap();
    assert_eq!(data.grant_id, shop.id);
    assert_eq!(data.subject, shop.subject);
    assert_eq!(data.message.id, sent.id);
    assert_eq!(data.message.in_reply_to, m.id);
    assert_eq!(data.message.topic, "orders");
    assert_eq!(data.message.body, "Thank you!\nAnn");

    let log = v.log_entries().unwrap();
    assert_eq!(log.len(), logged + 1, "one record");
    let record = &log.last().unwrap().record;
    assert_eq!(record.action, Action::InboxReply);
    assert_eq!(record.grant.as_ref(), Some(&shop.id));
    assert_eq!(
        record.contact,
        Some(ContactNote {
            channel: "inbox".into(),
            topic: "orders".into(),
            message: Some(sent.id.to_string()),
            counted: false,
        })
    );
    assert!(
        !format!("{record:?}").contains("Thank you"),
        "no text in the log"
    );

    let read = inbox.message(&m.id).unwrap();
    assert!(read.summary.replied && read.summary.read);
    assert_eq!(read.replies, vec![sent.clone()]);
    assert!(!inbox.message(&other.id).unwrap().summary.replied);
    assert_eq!(
        inbox.list(InboxFilter::All, 10).unwrap().len(),
        2,
        "replies are not listed as messages"
    );

    // The reply is what the shop may answer, and only the shop.
    assert!(inbox.check_reply_target(&shop.audience, &sent.id).unwrap());
    assert!(!inbox.check_reply_target(&bank.audience, &sent.id).unwrap());
    assert!(!inbox.check_reply_target(&shop.audience, &m.id).unwrap());
    assert!(!inbox.check_reply_target(&shop.audience, &new_id()).unwrap());
    let answer = post_as(
        &shop,
        "orders",
        "Re: Re",
        "You're welcome",
        Some(sent.id.clone()),
    );
    inbox.deliver(std::slice::from_ref(&answer)).unwrap();
    let answered = inbox.message(&answer.id).unwrap();
    assert_eq!(answered.in_reply_to, Some(sent.id.clone()));
    assert_eq!(answered.answers, Some(sent.clone()));
    let from_bank = post_as(&bank, "news", "Re", "sneaky", Some(sent.id.clone()));
    assert!(inbox.deliver(&[from_bank]).is_err());
    assert!(matches!(
        v.owner(Via::Cli).reply(&inbox, &sent.id, "to myself"),
        Err(StoreError::NotFound(_))
    ));
}

#[test]
fn a_reply_through_an_ended_grant_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let v = vault(dir.path());
    let shop = grant(&v, "shop.example");
    subscribe(&v, &shop);
    let lonely = grant(&v, "quiet.example");
    let mut inbox = v.open_inbox().unwrap();
    let m = message(&shop, "orders", "s", "b");
    let q = message(&lonely, "orders", "s", "b");
    inbox.deliver(&[m.clone(), q.clone()]).unwrap();
    v.owner(Via::Cli).revoke_grant(&shop.id).unwrap();
    let (seq, logged) = (v.outbox_last_seq().unwrap(), v.log_entries().unwrap().len());

    for (id, says) in [(&m.id, "was revoked"), (&q.id, "no subscription")] {
        let err = v.owner(Via::Cli).reply(&inbox, id, "hello").unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err}");
        assert!(err.to_string().contains(says), "{err}");
        assert_eq!(v.outbox_last_seq().unwrap(), seq);
        assert_eq!(v.log_entries().unwrap().len(), logged);
        let after = inbox.message(id).unwrap();
        assert!(after.replies.is_empty() && !after.summary.read, "{err}");
    }
    let bad = v.owner(Via::Cli).reply(&inbox, &q.id, "  ").unwrap_err();
    assert!(matches!(bad, StoreError::Invalid(_)), "{bad}");
}

#[test]
fn blocking_a_topic_writes_the_override_once() {
    let dir = tempfile::tempdir().unwrap();
    let v = vault(dir.path());
    let shop = grant(&v, "shop.example");
    let sub = subscribe(&v, &shop);
    v.owner(Via::Cli)
        .set(vec![(
            p("/preferences/businesses/shop.example/caps"),
            json!([{"max": 2, "per": "day"}]),
        )])
        .unwrap();
    let mut inbox = v.open_inbox().unwrap();
    let offers = message(&shop, "offers", "Sale!", "Everything must go");
    let again = message(&shop, "offers", "Sale again!", "Still going");
    let news = message(&shop, "news", "News", "We moved");
    inbox
        .deliver(&[offers.clone(), again.clone(), news.clone()])
        .unwrap();
    let (seq, logged) = (v.outbox_last_seq().unwrap(), v.log_entries().unwrap().len());

    assert!(v.owner(Via::Cli).block_topic(&inbox, &offers.id).unwrap());
    let at = blocked_topics(&shop.audience);
    assert_eq!(
        at.to_string(),
        "/preferences/businesses/shop.example/blocked_topics"
    );
    assert_eq!(v.get(&at).unwrap(), json!(["offers"]));
    assert_eq!(
        v.get(&p("/preferences/businesses/shop.example/caps"))
            .unwrap(),
        json!([{"max": 2, "per": "day"}]),
        "the rest of the override stays"
    );
    let policy = ContactPolicy::from_document(&v.document().unwrap()).unwrap();
    assert_eq!(
        policy.for_business(&shop.audience).blocked_topics,
        ["offers"]
    );

    let log = v.log_entries().unwrap();
    assert_eq!(log.len(), logged + 1, "one record, not a document_set too");
    let record = &log.last().unwrap().record;
    assert_eq!(record.action, Action::TopicBlock);
    assert_eq!(record.business.as_ref(), Some(&shop.audience));
    assert_eq!(record.fields, vec![at.clone()]);
    assert_eq!(
        record.contact,
        Some(ContactNote {
            channel: "inbox".into(),
            topic: "offers".into(),
            message: Some(offers.id.to_string()),
            counted: false,
        })
    );
    let told = v.outbox_after(seq, 10).unwrap();
    assert_eq!(
        told.len(),
        1,
        "the grant covers /preferences: told as any edit"
    );
    assert_eq!(
        (told[0].kind, told[0].stream.as_str()),
        (EventType::FieldChanged, sub.as_str())
    );

    // The same topic again, from another message: nothing changes, nothing is recorded.
    assert!(!v.owner(Via::Cli).block_topic(&inbox, &again.id).unwrap());
    assert_eq!(v.get(&at).unwrap(), json!(["offers"]));
    assert_eq!(v.log_entries().unwrap().len(), logged + 1);
    assert_eq!(v.outbox_after(seq, 10).unwrap().len(), 1);

    assert!(v.owner(Via::Cli).block_topic(&inbox, &news.id).unwrap());
    assert_eq!(v.get(&at).unwrap(), json!(["offers", "news"]));
}

#[test]
fn an_unknown_message_is_a_clear_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let v = vault(dir.path());
    let shop = grant(&v, "shop.example");
    subscribe(&v, &shop);
    let inbox = v.open_inbox().unwrap();
    let unknown = new_id();
    let owner = v.owner(Via::Cli);
    let errors = [
        inbox.read(&unknown).err(),
        inbox.message(&unknown).err(),
        inbox.archive(&unknown).err(),
        inbox.unarchive(&unknown).err(),
        inbox.mark_unread(&unknown).err(),
        owner.reply(&inbox, &unknown, "hi").err(),
        owner.block_topic(&inbox, &unknown).err(),
    ];
    for err in errors {
        let err = err.expect("refused");
        assert!(matches!(err, StoreError::NotFound(_)), "{err}");
        assert_eq!(
            err.to_string(),
            format!("there is no message {unknown} in the inbox")
        );
    }
    assert!(v.outbox_after(0, 10).unwrap().is_empty());
    assert!(v.get(&p("/preferences")).is_err(), "nothing was written");
}

#[test]
fn a_withdrawn_message_is_gone_unless_it_was_answered() {
    let dir = tempfile::tempdir().unwrap();
    let v = vault(dir.path());
    let shop = grant(&v, "shop.example");
    subscribe(&v, &shop);
    let mut inbox = v.open_inbox().unwrap();
    let kept = message(&shop, "orders", "Kept", "stays");
    let gone = message(&shop, "orders", "Gone", "its delivery was not logged");
    let answered = message(&shop, "orders", "Answered", "the owner replied");
    inbox
        .deliver(&[kept.clone(), gone.clone(), answered.clone()])
        .unwrap();
    v.owner(Via::Cli)
        .reply(&inbox, &answered.id, "Thanks")
        .unwrap();
    inbox
        .withdraw(&[gone.id.clone(), answered.id.clone()])
        .unwrap();
    let left = ids(&inbox.list(InboxFilter::All, 10).unwrap());
    assert!(
        left.contains(&kept.id) && left.contains(&answered.id),
        "{left:?}"
    );
    assert!(!left.contains(&gone.id));
    assert!(inbox.message(&gone.id).is_err());
}
