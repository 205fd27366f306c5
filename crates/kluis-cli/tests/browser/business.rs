//! A business for the browser tests, on the real SDK (`kluis-client`): a small HTTP service on
//! 127.0.0.1 that node drives while the owner decides in the browser.
//!
//! - `POST /ask` sends an access request to the vault (a fresh one each time) and answers what
//!   it asked: `{"id", "business": {"id", "name", "contact", "email", "address", "phone"},
//!   "fields", "purpose"}`.
//! - `GET /read` waits (briefly) for the owner's decision on the last request, then reads
//!   `/v1/data` with the DPoP-bound token the SDK got, and answers what the vault answered: 200
//!   with the data, or the vault's status with `{"error": …}`. A denial is 403 with
//!   `{"decision": "denied", …}`.
//!
//! Its name holds markup on purpose, so the tests also see the dashboard escape it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use kluis_client::{AccessRequest, BusinessInfo, BusinessKey, Client, Decision, Error, Grant};
use serde_json::{Value, json};

const ID: &str = "bakery.example";
const NAME: &str = "Bakkerij <script>alert(1)</script>";
const FIELDS: [&str; 2] = ["/profile/email", "/profile/address"];
const PURPOSE: &str = "bread delivery";
const CONTACT: &str = "Customer Service";
const EMAIL: &str = "orders@bakery.example";
const ADDRESS: &str = "Broodstraat 3, 3511 AB Utrecht";
const PHONE: &str = "+31 30 765 4321";
/// How long `/read` waits for a decision: the owner has decided by then in every test.
const DECISION_WAIT: Duration = Duration::from_secs(10);

/// The running service; dropping it stops it.
pub struct Business {
    pub url: String,
    _runtime: tokio::runtime::Runtime,
}

struct Shop {
    vault: Client,
    key: BusinessKey,
    /// The last request sent, and the grant it became once approved.
    asked: Mutex<(Option<String>, Option<Grant>)>,
}

/// Starts the business on a free port, talking to the vault at `vault_url`.
pub fn start(vault_url: &str) -> Business {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let shop = Arc::new(Shop {
        vault: Client::new(vault_url).unwrap(),
        key: BusinessKey::generate().unwrap(),
        asked: Mutex::new((None, None)),
    });
    let app = Router::new()
        .route("/ask", post(ask))
        .route("/read", get(read))
        .with_state(shop);
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    runtime.spawn(async move { axum::serve(listener, app).await });
    Business {
        url,
        _runtime: runtime,
    }
}

/// The vault's refusal as this service's answer: the same status, the SDK's words.
fn failed(err: &Error) -> Response {
    let status = match err {
        Error::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
        _ => err
            .status()
            .and_then(|s| StatusCode::from_u16(s).ok())
            .unwrap_or(StatusCode::BAD_GATEWAY),
    };
    (status, Json(json!({ "error": err.to_string() }))).into_response()
}

async fn ask(State(shop): State<Arc<Shop>>) -> Response {
    let business = BusinessInfo::new(ID, NAME)
        .with_contact(CONTACT)
        .with_email(EMAIL)
        .with_address(ADDRESS)
        .with_phone(PHONE);
    let request = AccessRequest::new(business, FIELDS, PURPOSE)
        .category("contract")
        .duration(Duration::from_secs(30 * 86_400));
    match shop.vault.request_access(&shop.key, &request).await {
        Ok(pending) => {
            *shop.asked.lock().unwrap() = (Some(pending.id.clone()), None);
            Json(json!({
                "id": pending.id,
                "business": {
                    "id": ID, "name": NAME, "contact": CONTACT, "email": EMAIL,
                    "address": ADDRESS, "phone": PHONE,
                },
                "fields": FIELDS,
                "purpose": PURPOSE,
            }))
            .into_response()
        }
        Err(err) => failed(&err),
    }
}

async fn read(State(shop): State<Arc<Shop>>) -> Response {
    let (request, grant) = shop.asked.lock().unwrap().clone();
    let grant = match (grant, request) {
        (Some(grant), _) => grant,
        (None, None) => {
            let nothing = json!({ "error": "nothing asked yet: POST /ask first" });
            return (StatusCode::CONFLICT, Json(nothing)).into_response();
        }
        (None, Some(id)) => {
            let poll = Duration::from_millis(100);
            match shop.vault.wait_for_decision(&id, poll, DECISION_WAIT).await {
                Ok(Decision::Approved(grant)) => {
                    shop.asked.lock().unwrap().1 = Some(grant.clone());
                    grant
                }
                Ok(Decision::Denied { reason }) => {
                    let denied = json!({ "decision": "denied", "reason": reason });
                    return (StatusCode::FORBIDDEN, Json(denied)).into_response();
                }
                Ok(other) => {
                    let lapsed = json!({ "decision": format!("{other:?}") });
                    return (StatusCode::GONE, Json(lapsed)).into_response();
                }
                Err(err) => return failed(&err),
            }
        }
    };
    match shop.vault.fetch_data(&shop.key, &grant.token, None).await {
        Ok(data) => Json::<Value>(data).into_response(),
        Err(err) => failed(&err),
    }
}
