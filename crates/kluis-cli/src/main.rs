//! The `kluis` command: the owner's tool for their vault.

mod args;
mod backup;
mod contact;
mod document;
mod grants;
mod inbox;
mod log;
mod notifications;
mod rel;
mod requests;
mod secret;
mod serve;
mod when;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;
use kluis_store::{StoreError, Vault};

use args::{Cli, Command, Global};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            if disk_full(&err) {
                eprintln!(
                    "kluis: the disk holding the vault is full; free some space and try again \
                     ({err:#})"
                );
            } else {
                eprintln!("kluis: {err:#}");
            }
            ExitCode::from(exit_code(&err))
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    let global = cli.global;
    match cli.command {
        Command::Init { json } => document::init(&global, json),
        Command::Set {
            pointer,
            value,
            string,
        } => document::set(&global, &pointer, &value, string),
        Command::Get { pointer, raw } => document::get(&global, &pointer, raw),
        Command::Unset { pointer } => document::unset(&global, &pointer),
        Command::Show => document::show(&global),
        Command::Export => document::export(&global),
        Command::Passwd {
            new_passphrase_file,
        } => document::passwd(&global, new_passphrase_file.as_deref()),
        Command::Import { file } => document::import(&global, &file),
        Command::Serve {
            listen,
            public_url,
            no_log_fsync,
            allow_local_webhooks,
            entries_per_day,
            record_bytes,
            header_timeout,
            max_connections,
            write_timeout,
        } => serve::serve(
            &global,
            serve::Options {
                listen: &listen,
                public_url,
                no_log_fsync,
                allow_local_webhooks,
                limits: kluis_core::relationship::Limits {
                    entries_per_day,
                    bytes_in_all: record_bytes,
                },
                connections: kluis_server::ConnectionLimits {
                    header_timeout: std::time::Duration::from_secs(header_timeout),
                    max_connections: max_connections as usize,
                    write_timeout: std::time::Duration::from_secs(write_timeout),
                },
            },
        ),
        Command::Demo(args) => serve::demo(args),
        Command::Grant { command } => grants::run(&global, command),
        Command::Requests(args) => requests::run(&global, args),
        Command::Receipts { json } => requests::receipts(&global, json),
        Command::Log(args) => log::run(&global, args),
        Command::Backup { dir, json } => backup::backup(&global, &dir, json),
        Command::Restore { dir, force, json } => backup::restore(&global, &dir, force, json),
        Command::Notifications(args) => notifications::run(&global, args),
        Command::Inbox(args) => inbox::run(&global, args),
        Command::Contact { command } => contact::run(&global, command),
        Command::Rel(args) => rel::run(&global, args),
        Command::Due(args) => rel::due::run(&global, args),
        Command::Key { command } => grants::key(&global, command),
    }
}

/// The vault directory: `--vault`, `KLUIS_VAULT`, or the user's data directory.
pub fn vault_dir(global: &Global) -> Result<PathBuf> {
    match &global.vault {
        Some(dir) => Ok(dir.clone()),
        None => Ok(dirs::data_dir()
            .context("no data directory is known for this user; pass --vault DIR")?
            .join("kluis")),
    }
}

/// Unlocks the vault named by the global options.
pub fn open(global: &Global) -> Result<Vault> {
    let dir = vault_dir(global)?;
    let passphrase = secret::current(global.passphrase_file.as_deref())?;
    Ok(Vault::open(&dir, &passphrase)?)
}

/// Whether `err` came from a full disk, however deep in its chain of causes.
fn disk_full(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<StoreError>()
            .is_some_and(StoreError::is_disk_full)
    })
}

/// Exit codes a script can tell apart (documented in README.md).
fn exit_code(err: &anyhow::Error) -> u8 {
    if err.downcast_ref::<kluis_core::Error>().is_some() {
        return 5;
    }
    match err.downcast_ref::<StoreError>() {
        Some(StoreError::WrongPassphrase | StoreError::RestoredWrongPassphrase(_)) => 3,
        Some(StoreError::NotFound(_) | StoreError::NoVault(_)) => 4,
        Some(
            StoreError::Invalid(_)
            | StoreError::Conflict(_)
            | StoreError::AlreadyExists(_)
            | StoreError::TooMany(_),
        ) => 5,
        Some(StoreError::Tampered(_)) => 6,
        Some(StoreError::TooNew { .. }) => 7,
        _ => 1,
    }
}
