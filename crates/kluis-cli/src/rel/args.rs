//! The arguments of `kluis rel` and `kluis due`.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

/// `kluis rel` lists (as `kluis rel list` does); the subcommands act on one record.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct RelArgs {
    #[command(subcommand)]
    pub command: Option<RelCommand>,
    /// Print the list as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum RelCommand {
    /// List your relationships: one record per business, with open and overdue promises, the
    /// next notice deadline and your latest score
    List {
        /// Print the list as JSON
        #[arg(long)]
        json: bool,
    },
    /// Show one business's record: contracts (with the last day to give notice), promises,
    /// documents, score, notes, and the timeline with what the vault saw itself
    Show {
        /// The business (e.g. shop.example)
        business: String,
        /// Show at most N timeline items (newest first)
        #[arg(long, value_name = "N", default_value_t = 50)]
        limit: usize,
        /// Print the record as JSON
        #[arg(long)]
        json: bool,
    },
    /// Record a contract with a business
    Contract(ContractArgs),
    /// Record a promise a business made you
    Promise {
        business: String,
        /// What was promised
        #[arg(long)]
        what: String,
        /// By when (YYYY-MM-DD)
        #[arg(long, value_name = "DATE")]
        due: String,
        #[arg(long)]
        json: bool,
    },
    /// Record an interaction: a call, a visit, a letter
    Interaction {
        business: String,
        /// The day (YYYY-MM-DD) [default: today]
        #[arg(long, value_name = "DATE")]
        on: Option<String>,
        /// How: phone, shop, letter, e-mail…
        #[arg(long)]
        channel: String,
        /// What happened, in a sentence
        #[arg(long)]
        summary: String,
        #[arg(long)]
        json: bool,
    },
    /// Give a satisfaction score, 1 (bad) to 5 (very good)
    Score {
        business: String,
        score: u8,
        /// The day (YYYY-MM-DD) [default: today]
        #[arg(long, value_name = "DATE")]
        on: Option<String>,
        #[arg(long)]
        comment: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Add a free note to a record
    Note {
        business: String,
        text: String,
        #[arg(long)]
        json: bool,
    },
    /// Say how a promise went: kept, broken, withdrawn, or open again
    Settle {
        /// The promise's entry id (e_…)
        entry: String,
        status: Settlement,
        #[arg(long)]
        json: bool,
    },
    /// Remove one of your own entries (a business's entries stay: they are its signed record)
    Remove {
        /// The entry id (e_…)
        entry: String,
        #[arg(long)]
        json: bool,
    },
    /// Save the file attached to a document to PATH (`-` for standard output)
    File {
        /// The document's entry id (e_…)
        entry: String,
        #[arg(long, short, value_name = "PATH")]
        out: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct ContractArgs {
    pub business: String,
    /// What it is, e.g. "Mobile subscription"
    #[arg(long)]
    pub what: String,
    /// When it started (YYYY-MM-DD)
    #[arg(long, value_name = "DATE")]
    pub start: String,
    /// When it ends, or renews (YYYY-MM-DD)
    #[arg(long, value_name = "DATE")]
    pub end: Option<String>,
    /// It renews at its end for another term unless notice is given
    #[arg(long, requires = "end")]
    pub renews: bool,
    /// The notice period: 30d, 2w, 1m…
    #[arg(long, value_name = "PERIOD")]
    pub notice: Option<String>,
    #[arg(long)]
    pub json: bool,
}

/// How a promise went.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Settlement {
    Kept,
    Broken,
    Withdrawn,
    Open,
}

/// `kluis due`.
#[derive(Debug, Args)]
pub struct DueArgs {
    /// Look N days ahead (overdue promises are always listed)
    #[arg(long, value_name = "N", default_value_t = 30)]
    pub days: u32,
    /// Print an iCalendar (RFC 5545) file instead, for a calendar app
    #[arg(long, conflicts_with = "json")]
    pub ics: bool,
    /// Print the list as JSON
    #[arg(long)]
    pub json: bool,
}
