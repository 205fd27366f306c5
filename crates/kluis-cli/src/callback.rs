//! Telling a business about the owner's decision: one POST of the request's status to the
//! callback URL it gave. Best effort: the business can always poll, so a failed delivery is
//! reported and never fails the command.

use std::time::Duration;

use kluis_core::wire::AccessRequestStatus;
use serde_json::{Value, json};

/// How long one delivery may take, connecting included.
const TIMEOUT: Duration = Duration::from_secs(5);

/// How a delivery went.
#[derive(Debug)]
pub struct Delivery {
    pub url: String,
    pub delivered: bool,
    /// The HTTP status, or why nothing was answered.
    pub detail: String,
}

impl Delivery {
    pub fn to_json(&self) -> Value {
        json!({ "url": self.url, "delivered": self.delivered, "detail": self.detail })
    }
}

/// POSTs `status` as JSON to `url` and reports the outcome on stderr. Redirects are not
/// followed: the business named the one URL it wants the decision at.
pub fn deliver(url: &str, status: &AccessRequestStatus) -> Delivery {
    let outcome = client().and_then(|client| client.post(url).json(status).send());
    let (delivered, detail) = match outcome {
        Ok(response) if response.status().is_success() => (true, response.status().to_string()),
        Ok(response) => (false, format!("answered {}", response.status())),
        Err(err) => (false, describe(&err)),
    };
    if delivered {
        eprintln!("told the business at {url} ({detail})");
    } else {
        eprintln!(
            "could not tell the business at {url}: {detail}; it can still poll for the decision"
        );
    }
    Delivery {
        url: url.to_owned(),
        delivered,
        detail,
    }
}

fn client() -> reqwest::Result<reqwest::blocking::Client> {
    reqwest::blocking::Client::builder()
        .timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("kluis/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Why a delivery failed, in a few words: the innermost cause (the outer ones repeat the URL).
fn describe(err: &reqwest::Error) -> String {
    if err.is_timeout() {
        return format!("no answer within {} s", TIMEOUT.as_secs());
    }
    let mut cause: &dyn std::error::Error = err;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use kluis_core::wire::RequestStatus;

    fn status() -> AccessRequestStatus {
        AccessRequestStatus::undecided(
            "r_aaaaaaaaaaaaaaaaaaaaaaaaaa",
            RequestStatus::Denied,
            vec!["/profile/email".into()],
            0,
        )
    }

    #[test]
    fn a_client_with_tls_builds() {
        // reqwest panics here if it was built with TLS but without a crypto provider.
        assert!(client().is_ok());
    }

    #[test]
    fn an_unreachable_callback_is_reported_not_raised() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/cb", listener.local_addr().unwrap());
        drop(listener);
        let delivery = deliver(&url, &status());
        assert!(!delivery.delivered);
        assert!(!delivery.detail.is_empty());
        assert_eq!(delivery.to_json()["url"], url);
    }
}
