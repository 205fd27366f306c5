//! A business's webhook endpoint on 127.0.0.1 for the dashboard's tests: it answers every POST
//! with one status and hands over what it got (the headers and the exact body), so a test can
//! check the Standard Webhooks signature as a business would.
#![allow(dead_code)]

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use kluis_core::webhook::{TrustedKey, WebhookError, parse_public_key, verify};
use tokio::sync::mpsc;

/// One delivery as the receiver got it.
pub struct Received {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Received {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    /// Checks the `v1a` signature with the vault's `whpk_` key, as the business would.
    pub fn verify_with(&self, whpk: &str) -> Result<(), WebhookError> {
        let key = parse_public_key(whpk)?;
        verify(
            &[TrustedKey::Public(&key)],
            self.header("webhook-id"),
            self.header("webhook-timestamp"),
            self.header("webhook-signature"),
            &self.body,
            kluis_store::unix_now(),
        )
    }
}

/// Serves on 127.0.0.1:0; returns its base URL and the deliveries as they arrive.
pub async fn receiver(status: StatusCode) -> (String, mpsc::Receiver<Received>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel(16);
    let app = axum::Router::new().fallback(
        move |uri: axum::http::Uri, headers: HeaderMap, body: Bytes| {
            let tx = tx.clone();
            async move {
                let _ = tx
                    .send(Received {
                        path: uri.path().to_owned(),
                        headers,
                        body,
                    })
                    .await;
                status
            }
        },
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (base, rx)
}
