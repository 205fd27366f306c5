//! Helpers the store's test files share. Not every test binary uses every helper.
#![allow(dead_code)]

use std::path::Path;

use kluis_core::Pointer;
use kluis_store::{DB_FILE, KdfParams, Passphrase, Vault};
use rusqlite::Connection;

/// A new vault in `dir` under the passphrase "pass phrase".
pub fn vault(dir: &Path) -> Vault {
    Vault::create(
        dir,
        &Passphrase::new("pass phrase"),
        KdfParams::OWASP_MINIMUM,
    )
    .unwrap()
}

pub fn p(text: &str) -> Pointer {
    Pointer::parse(text).unwrap()
}

/// A plain SQLite connection to the vault's file, to look at or tamper with the bytes.
pub fn raw(dir: &Path) -> Connection {
    Connection::open(dir.join(DB_FILE)).unwrap()
}

/// A refused anonymous access record, told apart by `n`.
pub fn record(n: i64) -> kluis_core::access::AccessRecord {
    kluis_core::access::AccessRecord::refused_anonymously(
        1_800_000_000_000 + n,
        kluis_core::access::Action::Read,
        format!("test {n}"),
    )
}

/// An access record by `business` with `grant` at `at_ms`: allowed (one field read) or refused.
pub fn record_by(
    at_ms: i64,
    business: &str,
    grant: &kluis_core::grant::GrantId,
    outcome: kluis_core::access::Outcome,
) -> kluis_core::access::AccessRecord {
    use kluis_core::access::Outcome;
    kluis_core::access::AccessRecord {
        at_ms,
        actor: kluis_core::access::Actor::Business,
        action: kluis_core::access::Action::Read,
        request: None,
        grant: Some(grant.clone()),
        business: Some(kluis_core::grant::BusinessId::parse(business).unwrap()),
        purpose: Some("order delivery".into()),
        fields: match outcome {
            Outcome::Allowed => vec![p("/profile/email")],
            Outcome::Refused => vec![],
        },
        outcome,
        reason: (outcome == Outcome::Refused).then(|| "the grant was revoked".into()),
        contact: None,
    }
}
