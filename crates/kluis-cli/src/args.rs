//! The command line: global options and every subcommand.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

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
    /// Write the whole document and your relationship records (with their files) as
    /// plaintext JSON to stdout, for portability (docs/vault-document.md#export-and-import)
    Export,
    /// Replace the whole document with FILE (JSON; `-` for stdin), validated and atomic, and
    /// add the relationship records an export holds
    Import { file: PathBuf },
    /// Serve the grant API (and the JWKS) for this vault until Ctrl-C
    Serve {
        /// Address to listen on
        #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
        listen: String,
        /// The URL businesses reach this server at (e.g. https://vault.example behind a TLS
        /// proxy); DPoP proofs must name it. Default: http:// and the request's Host header.
        #[arg(long, value_name = "URL")]
        public_url: Option<String>,
        /// Commit access-log records without waiting for fsync: they survive a crash of the
        /// server but not a power loss; faster on slow disks (docs/performance.md)
        #[arg(long)]
        no_log_fsync: bool,
        /// Let change notifications and decision callbacks go to http:// URLs and to this
        /// machine or a private network (loopback, RFC 1918, link-local…); refused by default,
        /// so that a business cannot make your machine call services only it can reach
        #[arg(long = "allow-local-webhooks", visible_alias = "allow-local-callbacks")]
        allow_local_webhooks: bool,
        /// Entries each business may add to its relationship record a UTC day (429 past it)
        #[arg(long, value_name = "N", default_value_t = 100,
              value_parser = clap::value_parser!(u32).range(1..))]
        entries_per_day: u32,
        /// Bytes of entries each business may add to its record in all (413 past it)
        #[arg(long, value_name = "BYTES", default_value_t = 64 * 1024 * 1024,
              value_parser = clap::value_parser!(u64).range(1..))]
        record_bytes: u64,
        /// Seconds a connection has to send a request's headers, counted from the connection
        /// (or the previous response, so it also ends idle keep-alive connections); the
        /// connection is closed past it
        #[arg(long, value_name = "SECS", default_value_t = 5,
              value_parser = clap::value_parser!(u64).range(1..=3600))]
        header_timeout: u64,
        /// Connections open at once; one beyond it is accepted and closed at once
        #[arg(long, value_name = "N", default_value_t = 1024,
              value_parser = clap::value_parser!(u32).range(1..))]
        max_connections: u32,
        /// Seconds a write of an answer may wait for the client to read it; the connection is
        /// closed past it
        #[arg(long, value_name = "SECS", default_value_t = 10,
              value_parser = clap::value_parser!(u64).range(1..=3600))]
        write_timeout: u64,
    },
    /// Create a sample vault with a ready grant and serve it (no set-up needed)
    Demo(DemoArgs),
    /// Give a business signed access to some fields; list, show and revoke grants
    Grant {
        #[command(subcommand)]
        command: GrantCommand,
    },
    /// Access requests from businesses: list the waiting ones, approve or deny them
    Requests(RequestsArgs),
    /// The consent receipts your approvals produced, and whether each consent still holds
    Receipts {
        /// Print the receipts (decoded, and as signed) as JSON
        #[arg(long)]
        json: bool,
    },
    /// Show the access log (every call a business made), check it with `kluis log verify`, or
    /// remove its oldest entries with `kluis log prune`
    Log(LogArgs),
    /// Copy the vault into DIR (new or empty) while it may be in use, e.g. served; the copy is
    /// as sealed as the vault (docs/storage.md#backups)
    Backup {
        dir: PathBuf,
        /// Print the backup's manifest as JSON
        #[arg(long)]
        json: bool,
    },
    /// Put the backup in DIR back as the vault (--vault), check it, and verify its access log.
    /// Stop `kluis serve` first
    Restore {
        dir: PathBuf,
        /// Replace the vault that is there
        #[arg(long)]
        force: bool,
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
    },
    /// What businesses were told of your changes and how each notification went; send failed
    /// ones again with `kluis notifications replay`
    Notifications(NotificationsArgs),
    /// Messages businesses left in your inbox: list them (the default), read, archive, reply,
    /// or block a topic from a business
    Inbox(InboxArgs),
    /// How businesses tried to reach you: `kluis contact report`
    Contact {
        #[command(subcommand)]
        command: ContactCommand,
    },
    /// Your record of each relationship: contracts, promises, interactions, documents, a
    /// score, notes, and a timeline of what the vault saw
    Rel(crate::rel::args::RelArgs),
    /// Promises due or overdue and notice deadlines coming up (--ics for a calendar app)
    Due(crate::rel::args::DueArgs),
    /// The vault's token-signing key
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where to put the demo vault [default: a fresh temporary directory]
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Address to serve the demo on
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    pub listen: String,
    /// Only create and show the vault; do not start the server
    #[arg(long)]
    pub no_serve: bool,
}

#[derive(Debug, Subcommand)]
pub enum GrantCommand {
    /// Give a business read access to fields, a right to contact you, the right to add to its
    /// record of you, or any of these together; prints only the token to hand over
    Create(GrantCreateArgs),
    /// List grants: the active ones, or all with --all
    List {
        /// Include revoked and expired grants
        #[arg(long)]
        all: bool,
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
    },
    /// Show one grant in full
    Show {
        /// The grant's id (g_…)
        id: String,
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
    },
    /// Revoke a grant from now on (succeeds if it already was revoked)
    Revoke {
        /// The grant's id (g_…)
        id: String,
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
    },
    /// Narrow a live grant to fewer fields; the business keeps its token and reads only these
    Narrow {
        /// The grant's id (g_…)
        id: String,
        /// The fields it keeps: JSON Pointers it covers now, comma-separated or repeated
        #[arg(long, value_name = "POINTERS", value_delimiter = ',', required = true)]
        keep: Vec<String>,
        /// Print the grant as JSON
        #[arg(long)]
        json: bool,
    },
    /// Set how many reads a day a live grant is served (past it, 429 until 00:00 UTC)
    Budget(GrantBudgetArgs),
}

#[derive(Debug, Args)]
pub struct GrantBudgetArgs {
    /// The grant's id (g_…)
    pub id: String,
    /// Reads a day, from 1 to 10000000
    #[arg(
        long,
        value_name = "N",
        required_unless_present = "default",
        conflicts_with = "default"
    )]
    pub reads_per_day: Option<String>,
    /// Back to the default budget (10000 reads a day)
    #[arg(long)]
    pub default: bool,
    /// Print the grant as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct GrantCreateArgs {
    /// The business that may read, by its id (e.g. webshop.example)
    #[arg(long, value_name = "BUSINESS")]
    pub to: String,
    /// The fields it may read: JSON Pointers, comma-separated or the flag repeated (optional
    /// with a contact right)
    #[arg(long, value_name = "POINTERS", value_delimiter = ',')]
    pub fields: Vec<String>,
    #[command(flatten)]
    pub contact: ContactArgs,
    /// Let the business add documents, promises and interactions to its record of you (it
    /// reads nothing with this)
    #[arg(long)]
    pub append_record: bool,
    /// Why the business may read them, in words (1-200 characters)
    #[arg(long)]
    pub purpose: String,
    /// A category for the purpose, e.g. contract or consent
    #[arg(long)]
    pub category: Option<String>,
    /// How long the grant runs: a number with s, m, h, d or w, at most a year [default: 30d]
    #[arg(long, value_name = "DURATION")]
    pub expires: Option<String>,
    /// Print the grant and its token as JSON
    #[arg(long)]
    pub json: bool,
}

/// A contact right on the command line: the channels and topics a business may use to reach the
/// owner. For `grant create` both are needed; for `requests approve` they keep only these of
/// what was asked.
#[derive(Debug, Args)]
pub struct ContactArgs {
    /// A channel the business may use to reach you (email, phone, sms, post, app, inbox),
    /// comma-separated or the flag repeated
    #[arg(
        long = "contact-channel",
        value_name = "CHANNEL",
        value_delimiter = ','
    )]
    pub contact_channels: Vec<String>,
    /// A topic it may contact you about (e.g. orders); repeat the flag for more
    #[arg(long = "contact-topic", value_name = "TOPIC")]
    pub contact_topics: Vec<String>,
}

/// `kluis requests` lists; `kluis requests approve|deny ID` decides. Listing flags belong to
/// listing only.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct RequestsArgs {
    #[command(subcommand)]
    pub command: Option<RequestsCommand>,
    /// Include decided and lapsed requests
    #[arg(long)]
    pub all: bool,
    /// Print the requests as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum RequestsCommand {
    /// Grant the business what it asked for (or part of it); prints the token it will receive
    Approve {
        /// The request's id (r_…)
        id: String,
        /// Grant only these fields (each inside one asked for): JSON Pointers, comma-separated
        #[arg(long, value_name = "POINTERS", value_delimiter = ',')]
        fields: Vec<String>,
        #[command(flatten)]
        contact: ContactArgs,
        /// Grant none of the contact right the business asked for
        #[arg(long, conflicts_with_all = ["contact_channels", "contact_topics"])]
        no_contact: bool,
        /// Do not let the business add to its record of you, though it asked to
        #[arg(long)]
        no_append_record: bool,
        /// How long the grant runs, e.g. 30d [default: the duration the business asked for]
        #[arg(long, value_name = "DURATION")]
        expires: Option<String>,
        /// Print the decision, the grant and the receipt as JSON
        #[arg(long)]
        json: bool,
    },
    /// Say no; the business learns the decision (and the reason, if given)
    Deny {
        /// The request's id (r_…)
        id: String,
        /// Why, in words the business will read
        #[arg(long)]
        reason: Option<String>,
        /// Print the decision as JSON
        #[arg(long)]
        json: bool,
    },
}

/// `kluis log` lists; `kluis log verify` checks the chain. Filters belong to listing only.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct LogArgs {
    #[command(subcommand)]
    pub command: Option<LogCommand>,
    /// Only calls by this business
    #[arg(long, value_name = "BUSINESS")]
    pub business: Option<String>,
    /// Only calls made with this grant
    #[arg(long, value_name = "ID")]
    pub grant: Option<String>,
    /// Only allowed or only refused calls
    #[arg(long, value_enum)]
    pub outcome: Option<OutcomeArg>,
    /// Only entries at or after TIME: RFC 3339, a date (2026-12-01, midnight UTC) or a time ago
    /// (24h, 7d)
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only entries before TIME (the same forms as --since)
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Show the N most recent matching entries
    #[arg(long, value_name = "N", default_value_t = kluis_store::DEFAULT_PAGE)]
    pub limit: usize,
    /// Only entries before entry SEQ: the cursor printed for the next (older) page
    #[arg(long, value_name = "SEQ")]
    pub before: Option<i64>,
    /// Print the entries as JSON (an array, one entry per line)
    #[arg(long)]
    pub json: bool,
}

/// `--outcome` of `kluis log`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutcomeArg {
    Allowed,
    Refused,
}

#[derive(Debug, Subcommand)]
pub enum LogCommand {
    /// Check that no entry was altered, removed or reordered (exit code 6 if one was)
    Verify {
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
    },
    /// Remove the entries older than TIME (whole appends at a time), keeping a checkpoint so
    /// that `kluis log verify` still proves the rest; works while `kluis serve` runs
    Prune {
        /// Remove what is before TIME: RFC 3339, a date (2026-01-01, midnight UTC) or a time
        /// ago (90d, 52w); not in the future
        #[arg(long, value_name = "TIME")]
        before: String,
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
    },
}

/// `kluis notifications` lists; `kluis notifications replay` sends dead ones again.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct NotificationsArgs {
    #[command(subcommand)]
    pub command: Option<NotificationsCommand>,
    /// Show the N most recent changes (each with every notification it caused)
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub limit: usize,
    /// Print the changes and the paused subscriptions as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum NotificationsCommand {
    /// Send the notifications that failed every attempt again (`kluis serve` sends them), and
    /// resume the subscriptions they paused
    #[command(group(clap::ArgGroup::new("which").required(true).args(["subscription", "all"])))]
    Replay {
        /// Only those of this subscription (sub_…) or request callback (r_…)
        #[arg(long, value_name = "ID")]
        subscription: Option<String>,
        /// Every failed notification
        #[arg(long)]
        all: bool,
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ContactCommand {
    /// Per business: its attempts to contact you, those allowed, and those refused against your
    /// wishes by reason (from the access log)
    Report {
        /// Only attempts at or after TIME: a date (2026-12-01, midnight UTC), RFC 3339 or a
        /// time ago (7d)
        #[arg(long, value_name = "TIME")]
        since: Option<String>,
        /// Print the report as JSON
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Make a new signing key current; tokens signed by the old one keep working until they end
    Rotate {
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
    },
}

/// `kluis inbox` lists (as `kluis inbox list` does); the subcommands act on one message.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct InboxArgs {
    #[command(subcommand)]
    pub command: Option<InboxCommand>,
    #[command(flatten)]
    pub list: InboxListArgs,
}

/// What `kluis inbox list` shows.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("which").args(["all", "archived", "unread"])))]
pub struct InboxListArgs {
    /// Every message, archived ones too
    #[arg(long)]
    pub all: bool,
    /// Only archived messages
    #[arg(long)]
    pub archived: bool,
    /// Only unread messages
    #[arg(long)]
    pub unread: bool,
    /// Show the N newest messages
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub limit: usize,
    /// Print the messages as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum InboxCommand {
    /// List the messages in the inbox (newest first), or --all, --archived or --unread ones
    List(InboxListArgs),
    /// Show one message in full, with your replies to it; it counts as read from now on
    Read {
        /// The message's id (m_…)
        id: String,
        /// Print the message as JSON
        #[arg(long)]
        json: bool,
    },
    /// Move a message out of the inbox into the archive (`kluis inbox --archived` lists them)
    Archive {
        /// The message's id (m_…)
        id: String,
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
    },
    /// Move an archived message back into the inbox
    Unarchive {
        /// The message's id (m_…)
        id: String,
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
    },
    /// Answer a message; the business receives your reply as an inbox.reply notification
    /// (sent by `kluis serve`). The text comes from --text, --file, or standard input
    Reply(InboxReplyArgs),
    /// No more of this topic from this business: adds the message's topic to the business's
    /// blocked topics (/preferences/businesses/<business>/blocked_topics)
    Block {
        /// The message's id (m_…)
        id: String,
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
    },
    /// Allow the message's topic from its business again: takes it out of the business's
    /// blocked topics
    Unblock {
        /// The message's id (m_…)
        id: String,
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct InboxReplyArgs {
    /// The message's id (m_…)
    pub id: String,
    /// The reply's text
    #[arg(long, value_name = "TEXT", conflicts_with = "file")]
    pub text: Option<String>,
    /// Read the reply's text from FILE (`-` for standard input)
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Print the reply as JSON
    #[arg(long)]
    pub json: bool,
}
