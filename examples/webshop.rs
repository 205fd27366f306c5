//! Run with: cargo run --example webshop -- --vault-url http://127.0.0.1:8080
//!
//! A business on the SDK: "De Webwinkel" (`webshop.example`) asks a customer's vault for their
//! e-mail and postal address "for order delivery", waits while the owner decides, then reads
//! the granted fields with its DPoP-bound token and checks the signed consent receipt.
//!
//! Start a vault first (`kluis serve`, or `cargo run -p kluis-cli -- demo`), run this, and
//! approve with the command it prints. The business key is kept in the user's data directory,
//! `$XDG_DATA_HOME/kluis/webshop-key.jwk` (else `~/.local/share/kluis/webshop-key.jwk`), or in
//! `--key-file PATH`: made on the first run (mode 0600, its new directories 0700), so later runs
//! ask as the same business key.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use kluis::client::{AccessRequest, BusinessInfo, BusinessKey, Client, Decision, Error};

const BUSINESS_ID: &str = "webshop.example";
const FIELDS: [&str; 2] = ["/profile/email", "/profile/address"];

/// Ask a Kluis vault for a customer's delivery details, as De Webwinkel.
#[derive(Parser)]
struct Args {
    /// The vault's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    vault_url: String,
    /// The business key (a private JWK); created if missing. Default: webshop-key.jwk in
    /// $XDG_DATA_HOME/kluis (else ~/.local/share/kluis).
    #[arg(long, visible_alias = "key", value_name = "PATH")]
    key_file: Option<PathBuf>,
    /// How long to wait for the owner, in seconds.
    #[arg(long, default_value_t = 600)]
    wait_secs: u64,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args).await {
        Ok(code) => code,
        Err(err) => {
            eprintln!("webshop: {err}");
            if let Some(problem) = err.problem().and_then(|p| p.detail.as_deref()) {
                eprintln!("  the vault said: {problem}");
            }
            ExitCode::FAILURE
        }
    }
}

/// `--key-file`, or `webshop-key.jwk` in the user's data directory: a private key belongs
/// neither in the working directory nor anywhere others can read.
fn key_path(args: &Args) -> Result<PathBuf, Error> {
    match &args.key_file {
        Some(path) => Ok(path.clone()),
        None => dirs::data_dir()
            .map(|dir| dir.join("kluis").join("webshop-key.jwk"))
            .ok_or_else(|| {
                Error::Invalid("no data directory is known for this user; pass --key-file".into())
            }),
    }
}

async fn run(args: &Args) -> Result<ExitCode, Error> {
    let key_file = key_path(args)?;
    let key = BusinessKey::load_or_generate(&key_file)?;
    println!(
        "business key {} (thumbprint {})",
        key_file.display(),
        key.thumbprint()
    );
    let vault = Client::new(&args.vault_url)?;

    // The consent receipt names the business as Kantara CR 1.1 asks: name, contact, postal
    // address, e-mail and phone.
    let business = BusinessInfo::new(BUSINESS_ID, "De Webwinkel")
        .with_contact("Privacy Office")
        .with_email("privacy@webshop.example")
        .with_address("Keizersgracht 1, 1015 AA Amsterdam, Netherlands")
        .with_phone("+31 20 123 4567");
    let ask = AccessRequest::new(business.clone(), FIELDS, "order delivery")
        .category("contract")
        .duration(Duration::from_secs(30 * 24 * 3600));
    let pending = vault.request_access(&key, &ask).await?;
    println!("asked for {} (request {})", FIELDS.join(", "), pending.id);
    println!(
        "the owner approves with:\n\n    kluis requests approve {}\n",
        pending.id
    );
    println!("waiting up to {} s for the decision…", args.wait_secs);

    let decision = vault
        .wait_for_decision(
            &pending.id,
            Duration::from_secs(1),
            Duration::from_secs(args.wait_secs),
        )
        .await?;
    let grant = match decision {
        Decision::Approved(grant) => grant,
        Decision::Denied { reason } => {
            println!(
                "denied{}",
                reason.map(|r| format!(": {r}")).unwrap_or_default()
            );
            return Ok(ExitCode::FAILURE);
        }
        Decision::Expired => {
            println!("the request lapsed before the owner decided");
            return Ok(ExitCode::FAILURE);
        }
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    println!(
        "approved: grant {} for {}, for {} more days",
        grant.grant_id,
        grant.fields.join(", "),
        (grant.expires_at - now) / 86_400
    );

    // The token is checked against the vault's published keys before it is relied on.
    let claims = vault
        .verify_token_offline(&grant.token, BUSINESS_ID)
        .await?;
    println!(
        "token from {} for customer {} (bound to key {})",
        claims.iss,
        claims.sub,
        claims.cnf.as_ref().map_or("none", |c| c.jkt.as_str())
    );

    let data = vault.fetch_data(&key, &grant.token, None).await?;
    println!(
        "data, read with DPoP:\n{}",
        serde_json::to_string_pretty(&data).unwrap_or_default()
    );

    let receipt = vault.verify_receipt(&grant.receipt).await?;
    let covered: Vec<&str> = receipt
        .services
        .iter()
        .flat_map(|s| &s.purposes)
        .flat_map(|p| p.pii_category.iter().map(String::as_str))
        .collect();
    // The receipt names this business as it introduced itself.
    let names_us = receipt.pii_controllers.first().is_some_and(|c| {
        c.pii_controller == business.name
            && Some(&c.contact) == business.contact.as_ref()
            && c.email == business.email
            && c.address == business.address
            && c.phone == business.phone
    });
    let matches = receipt.pii_principal_id == claims.sub
        && receipt.grant_id == grant.grant_id
        && names_us
        && covered.iter().all(|f| grant.fields.iter().any(|g| g == f));
    println!(
        "consent receipt {} (consent given at {}): signature valid, {} the grant",
        receipt.consent_receipt_id,
        receipt.consent_timestamp,
        if matches { "matches" } else { "does NOT match" }
    );
    println!(
        "the owner can end this at any time with: kluis grant revoke {}",
        grant.grant_id
    );
    Ok(if matches {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
