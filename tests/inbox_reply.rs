//! The owner's answer to an inbox message reaches the business: the server's dispatcher sends
//! the `inbox.reply` event to the subscription of the grant the message came with, even after
//! the grant was narrowed (the rules that cancel field changes do not apply to it), and the
//! SDK's verifier reads it as a typed reply.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use kluis::client::webhook::{Event, WebhookVerifier};
use kluis::core::Pointer;
use kluis::core::grant::{BusinessId, GrantRequest};
use kluis::core::inbox::{InboxPost, MessageId, message_sha256};
use kluis::core::notify::{NewSubscription, Payload};
use kluis::server::notify::{Dispatcher, Options};
use kluis::store::{NewMessage, Via, unix_now};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_is_delivered_to_the_business_and_reads_as_one() {
    let server = common::Server::start().await;
    let vault = &server.vault;
    let p = |t: &str| Pointer::parse(t).unwrap();
    let (grant, _token) = vault
        .create_grant(
            GrantRequest {
                audience: BusinessId::parse("shop.example").unwrap(),
                fields: vec![p("/profile/email"), p("/profile/name")],
                purpose: "orders".into(),
                purpose_category: None,
                lifetime_secs: 3600,
                key_thumbprint: None,
                append_record: false,
                contact: None,
            },
            unix_now(),
        )
        .unwrap();

    type Got = (String, String, String, Vec<u8>);
    let got: Arc<Mutex<Vec<Got>>> = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", listener.local_addr().unwrap());
    let keep = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| async move {
                let h = |n: &str| headers[n].to_str().unwrap().to_owned();
                keep.lock().unwrap().push((
                    h("webhook-id"),
                    h("webhook-timestamp"),
                    h("webhook-signature"),
                    body.to_vec(),
                ));
                axum::http::StatusCode::NO_CONTENT
            },
        ),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    let sub = vault
        .create_subscription(
            &grant.id,
            NewSubscription {
                url: hook,
                payload: Payload::Thin,
            },
            unix_now(),
        )
        .unwrap();

    // The message as the grant API hands it to the store.
    let post = InboxPost {
        topic: "orders".into(),
        subject: "Your order shipped".into(),
        body: "It arrives on Tuesday.".into(),
        in_reply_to: None,
    };
    let message = NewMessage {
        id: MessageId::from_random([8; 16]),
        at_ms: unix_now() * 1000,
        grant: grant.id.clone(),
        business: grant.audience.clone(),
        sha256: message_sha256(&post),
        post,
    };
    let mut inbox = vault.open_inbox().unwrap();
    inbox.deliver(std::slice::from_ref(&message)).unwrap();
    let sent = vault
        .owner(Via::Cli)
        .reply(&inbox, &message.id, "Thanks, Tuesday is fine.")
        .unwrap();
    // Narrowed before anything was sent: a field change would now be cut down or cancelled.
    vault
        .owner(Via::Cli)
        .narrow_grant(&grant.id, vec![p("/profile/name")])
        .unwrap();

    let dispatcher = Dispatcher::start(
        &server.path(),
        vault.unlocked(),
        Options {
            allow_local: true,
            ..Options::default()
        },
        tokio::runtime::Handle::current(),
    )
    .unwrap();
    dispatcher.waker().wake();
    let mut waited = 0;
    while got.lock().unwrap().len() < 2 {
        assert!(waited < 250, "not both delivered within 5 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
        waited += 1;
    }
    let verifier = WebhookVerifier::new([sub.secrets[0].to_text().as_str()]).unwrap();
    let delivered: Vec<Event> = got
        .lock()
        .unwrap()
        .iter()
        .map(|(id, ts, sig, body)| verifier.verify_parts(id, ts, sig, body).unwrap().event)
        .collect();
    let Event::InboxReply(reply) = &delivered[0] else {
        panic!("the reply comes first, in the order written: {delivered:?}");
    };
    assert_eq!(reply.grant_id, grant.id);
    assert_eq!(reply.subject, grant.subject);
    assert_eq!(reply.message.id, sent.id);
    assert_eq!(reply.message.in_reply_to, message.id);
    assert_eq!(reply.message.subject, "Re: Your order shipped");
    assert_eq!(reply.message.body, "Thanks, Tuesday is fine.");
    assert!(
        matches!(delivered[1], Event::GrantNarrowed(_)),
        "{delivered:?}"
    );
    tokio::task::spawn_blocking(move || dispatcher.stop())
        .await
        .unwrap();
}
