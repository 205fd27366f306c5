//! A broken receiver never blocks the grant API: deliveries to a receiver that accepts
//! connections and never answers wait in the dispatcher while reads go on being answered.

mod common;

use std::time::{Duration, Instant};

use kluis::core::Pointer;
use kluis::core::grant::{BusinessId, GrantRequest};
use kluis::core::notify::{NewSubscription, Payload};
use kluis::server::notify::{Dispatcher, Options};
use kluis::store::{Via, unix_now};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_go_on_while_every_receiver_hangs() {
    let server = common::Server::start().await;
    // A receiver that takes connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", listener.local_addr().unwrap());
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            held.push(socket);
        }
    });
    let mut tokens = Vec::new();
    for i in 0..20 {
        let (grant, token) = server
            .vault
            .create_grant(
                GrantRequest {
                    audience: BusinessId::parse(&format!("b{i}.example")).unwrap(),
                    fields: vec![Pointer::parse("/profile/email").unwrap()],
                    purpose: "receipts".into(),
                    purpose_category: None,
                    lifetime_secs: 3600,
                    key_thumbprint: None,
                    append_record: false,
                    contact: None,
                },
                unix_now(),
            )
            .unwrap();
        server
            .vault
            .create_subscription(
                &grant.id,
                NewSubscription {
                    url: hook.clone(),
                    payload: Payload::Thin,
                },
                unix_now(),
            )
            .unwrap();
        tokens.push(token);
    }
    let dispatcher = Dispatcher::start(
        &server.path(),
        server.vault.unlocked(),
        Options {
            allow_local: true,
            ..Options::default()
        },
        tokio::runtime::Handle::current(),
    )
    .unwrap();
    for n in 0..5 {
        server
            .vault
            .owner(Via::Cli)
            .set(vec![(
                Pointer::parse("/profile/email").unwrap(),
                json!(format!("n{n}@example.com")),
            )])
            .unwrap();
    }
    dispatcher.waker().wake();
    let started = Instant::now();
    while accepted.load(std::sync::atomic::Ordering::SeqCst) < 20 {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the deliveries never left"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Every subscription's first delivery now hangs; reads are answered as before.
    let started = Instant::now();
    for round in 0..10 {
        for token in &tokens {
            let response = server
                .http
                .get(format!("{}/v1/data", server.base))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200, "round {round}");
            let body: serde_json::Value = response.json().await.unwrap();
            assert_eq!(body["profile"]["email"], "n4@example.com");
        }
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "200 reads took {:?} while receivers hung",
        started.elapsed()
    );
    tokio::task::spawn_blocking(move || dispatcher.stop())
        .await
        .unwrap();
}
