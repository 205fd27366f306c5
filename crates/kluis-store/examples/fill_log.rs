//! Run with: cargo run --release -p kluis-store --example fill_log -- DIR ENTRIES
//!
//! Makes a vault in DIR (passphrase "correct horse battery staple") whose access log holds
//! ENTRIES served reads by 100 businesses, in frames of 100, to measure `kluis log` on a large
//! log (docs/performance.md, "Paging the access log").

use kluis_core::Pointer;
use kluis_core::access::{AccessRecord, Action, Actor, Outcome};
use kluis_core::grant::{BusinessId, GrantId};
use kluis_store::{KdfParams, Passphrase, Vault};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(dir), Some(entries)) = (args.next(), args.next()) else {
        return Err("usage: fill_log DIR ENTRIES".into());
    };
    let entries: usize = entries.parse()?;
    let vault = Vault::create(
        std::path::Path::new(&dir),
        &Passphrase::new("correct horse battery staple"),
        KdfParams::OWASP_MINIMUM,
    )?;
    vault.log_without_fsync();
    let fields = vec![
        Pointer::parse("/profile/email")?,
        Pointer::parse("/profile/address")?,
    ];
    let start_ms = 1_790_000_000_000_i64;
    let mut written = 0;
    while written < entries {
        let frame: Vec<AccessRecord> = (written..(written + 100).min(entries))
            .map(|i| AccessRecord {
                at_ms: start_ms + i as i64 * 1000,
                actor: Actor::Business,
                action: Action::Read,
                request: None,
                grant: Some(GrantId::from_random([(i % 100) as u8; 16])),
                business: Some(BusinessId::parse(&format!("shop-{}.example", i % 100)).unwrap()),
                purpose: Some("order delivery".into()),
                fields: fields.clone(),
                outcome: Outcome::Allowed,
                reason: None,
                contact: None,
            })
            .collect();
        written += frame.len();
        vault.append_log(&frame)?;
    }
    vault.settle_log()?;
    println!("{entries} entries in {dir}");
    Ok(())
}
