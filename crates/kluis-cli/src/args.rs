//! The command line: global options and every subcommand.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Kluis: your own vault for the data businesses ask you for.
#[derive(Debug, Parser)]
#[command(name = "kluis", version, about, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct Global {
    /// The vault directory [default: the user's data directory, e.g. ~/.local/share/kluis]
    #[arg(long, global = true, env = "KLUIS_VAULT", value_name = "DIR")]
    pub vault: Option<PathBuf>,
    /// Read the passphrase from the first line of FILE instead of prompting
    /// (KLUIS_PASSPHRASE also works, for scripts).
    #[arg(long, global = true, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a new, empty vault
    Init {
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
    },
    /// Store VALUE at POINTER (a JSON Pointer like /profile/email)
    Set {
        pointer: String,
        /// JSON (`42`, `true`, `{"a":1}`), or anything else as a plain string
        value: String,
        /// Store VALUE as a string even if it parses as JSON (e.g. a postal code `1016`)
        #[arg(long)]
        string: bool,
    },
    /// Print the value at POINTER as JSON
    Get {
        pointer: String,
        /// Print a string without JSON quotes
        #[arg(long)]
        raw: bool,
    },
    /// Remove the value at POINTER
    Unset { pointer: String },
    /// Print the whole vault document
    Show,
    /// Change the passphrase (the new one from a prompt, KLUIS_NEW_PASSPHRASE or
    /// --new-passphrase-file); stored data is not re-encrypted
    Passwd {
        #[arg(long, value_name = "FILE")]
        new_passphrase_file: Option<PathBuf>,
    },
    /// Write the whole document as plaintext JSON to stdout, for portability
    Export,
    /// Replace the whole document with FILE (JSON; `-` for stdin), validated and atomic
    Import { file: PathBuf },
    /// Create a sample vault and show it (no set-up needed)
    Demo(DemoArgs),
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where to put the demo vault [default: a fresh temporary directory]
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}
