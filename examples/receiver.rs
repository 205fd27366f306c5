//! Run with: KLUIS_WEBHOOK_SECRET=whsec_… cargo run --example receiver
//!
//! A business's receiver of the vault's change notifications, to copy and adapt. It listens on
//! `--listen` (default 127.0.0.1:8787), checks each delivery with the SDK's `WebhookVerifier`
//! and says in words what the business must do about it.
//!
//! Keys: the subscription's `whsec_` secret(s) in `KLUIS_WEBHOOK_SECRET` or `--secret` (comma-
//! separated, or repeated: during a rotation give both), and/or the vault's `whpk_` public key
//! in `KLUIS_WEBHOOK_PUBLIC_KEY` or `--public-key`. At least one.
//!
//! Answers: 204 when the delivery is accepted (or is a retry of one already accepted), 400 with
//! a short reason when it is not authentic, altered or too old, 503 when the replay cache is full.
//! The vault retries a delivery for any answer that is not 2xx, so a 400 only helps someone who
//! reads the vault's delivery log: a delivery refused once will be refused again, until its
//! timestamp is too old. Check your keys and your clock (NTP) when that happens.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use clap::Parser;
use kluis::client::webhook::{Event, Notification, Pointer, VerifyError, WebhookVerifier};

/// Receive a Kluis vault's change notifications and say what each asks of the business.
#[derive(Parser)]
struct Args {
    /// The address to listen on; the subscription's URL points here (through your https proxy).
    #[arg(long, default_value = "127.0.0.1:8787")]
    listen: SocketAddr,
    /// The subscription's signing secret(s), `whsec_…`.
    #[arg(
        long = "secret",
        env = "KLUIS_WEBHOOK_SECRET",
        value_delimiter = ',',
        hide_env_values = true
    )]
    secrets: Vec<String>,
    /// The vault's webhook public key, `whpk_…`.
    #[arg(long, env = "KLUIS_WEBHOOK_PUBLIC_KEY", hide_env_values = true)]
    public_key: Option<String>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let keys = args.secrets.iter().chain(&args.public_key);
    // One verifier for every request: its replay cache only works if all deliveries pass it.
    let verifier = match WebhookVerifier::new(keys) {
        Ok(verifier) => Arc::new(verifier),
        Err(err) => {
            eprintln!("receiver: {err} (set KLUIS_WEBHOOK_SECRET or KLUIS_WEBHOOK_PUBLIC_KEY)");
            return ExitCode::from(2);
        }
    };
    let app = Router::new().route("/", post(receive)).with_state(verifier);
    let listener = match tokio::net::TcpListener::bind(args.listen).await {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("receiver: cannot listen on {}: {err}", args.listen);
            return ExitCode::FAILURE;
        }
    };
    println!("receiving change notifications on http://{}/", args.listen);
    if let Err(err) = axum::serve(listener, app).await {
        eprintln!("receiver: {err}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// One delivery. The body is taken as the raw bytes received: the signature covers exactly
/// them, so never parse JSON and write it again before verifying.
async fn receive(
    State(verifier): State<Arc<WebhookVerifier>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, &'static str) {
    match verifier.verify(&headers, &body) {
        Ok(notification) => {
            if let Err(why) = handle(&notification) {
                // Give the id back so that the vault's retry is accepted, and ask for one.
                verifier.forget(&notification.id);
                eprintln!(
                    "{}: not handled ({why}); the vault will retry",
                    notification.id
                );
                return (StatusCode::SERVICE_UNAVAILABLE, "try again later\n");
            }
            (StatusCode::NO_CONTENT, "")
        }
        // The vault's retry of a delivery we accepted (our answer may have been lost): handled
        // already, so only say so, or it keeps coming.
        Err(err) if err.is_replay() => {
            println!("a retry of a delivery already handled; acknowledged again");
            (StatusCode::NO_CONTENT, "")
        }
        Err(VerifyError::Busy(_)) => (StatusCode::SERVICE_UNAVAILABLE, "busy, try again later\n"),
        Err(err) => {
            // The reason is the SDK's words (which rule failed), never a key or the body.
            eprintln!("refused a delivery: {err}");
            (
                StatusCode::BAD_REQUEST,
                "webhook refused: bad signature, headers or timestamp\n",
            )
        }
    }
}

/// What the business does with an accepted notification. Here it only says it, and so never
/// fails; a real receiver does it (its database may be down: then `Err`), or queues it durably
/// and answers at once (the vault waits only seconds).
fn handle(notification: &Notification) -> Result<(), String> {
    let event = &notification.event;
    let grant = event
        .grant_id()
        .map_or(String::new(), |id| format!(" (grant {id})"));
    match event {
        Event::FieldChanged(change) => {
            let fields = join(&change.changed);
            if change.values.is_some() {
                println!(
                    "{}: {fields} changed{grant}; the new values came along",
                    event.kind()
                );
            } else {
                println!(
                    "{}: {fields} changed{grant}; read it with your grant",
                    event.kind()
                );
            }
        }
        Event::GrantNarrowed(change)
        | Event::GrantRevoked(change)
        | Event::GrantExpired(change) => {
            // The owner took these fields back: stop using them and delete every copy you
            // keep (databases, caches, exports). The vault refuses reads of them from now on.
            println!(
                "{}{grant}: delete your copies of {}",
                event.kind(),
                join(event.fields_to_delete())
            );
            if event.ends_grant() {
                println!(
                    "  the grant has ended: forget its token; ask the owner again if you still need data"
                );
            } else {
                println!("  still granted: {}", join(&change.remaining));
            }
        }
        Event::RequestDecided(status) => {
            // Like a decision callback: confirm with `Client::request_status` (or verify the
            // token offline) before relying on the token.
            println!(
                "{}: request {} is {:?}",
                event.kind(),
                status.id,
                status.status
            );
        }
        other => {
            // A type from a newer vault: authentic, so acknowledge it, and update the SDK.
            println!("{}: not known to this SDK; acknowledged", other.kind());
        }
    }
    Ok(())
}

fn join(fields: &[Pointer]) -> String {
    if fields.is_empty() {
        return "nothing".into();
    }
    fields
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
