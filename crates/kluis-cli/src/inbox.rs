//! `kluis inbox`: the messages businesses left in the owner's inbox (listed newest first, read
//! in full, archived), the owner's replies (sent as `inbox.reply` notifications by `kluis
//! serve`), and "no more of this topic from this business". What a business wrote is printed
//! as text: characters that could drive the terminal are shown escaped ([`shown`]).

use std::io::{IsTerminal as _, Read as _};
use std::path::Path;

use anyhow::{Context as _, Result};
use kluis_core::inbox::{MAX_BODY_BYTES, MessageId, sha256_text};
use kluis_store::{Inbox, InboxFilter, Message, MessageSummary, SentReply, Vault, Via};
use serde_json::{Value, json};

use crate::args::{Global, InboxArgs, InboxCommand, InboxListArgs, InboxReplyArgs};
use crate::document::print_json;
use crate::grants::{print_table, rfc3339_ms};
use crate::open;

pub fn run(global: &Global, args: InboxArgs) -> Result<()> {
    match args.command {
        None => list(global, &args.list),
        Some(InboxCommand::List(list_args)) => list(global, &list_args),
        Some(InboxCommand::Read { id, json }) => read(global, &id, json),
        Some(InboxCommand::Archive { id, json }) => archive(global, &id, true, json),
        Some(InboxCommand::Unarchive { id, json }) => archive(global, &id, false, json),
        Some(InboxCommand::Reply(reply_args)) => reply(global, &reply_args),
        Some(InboxCommand::Block { id, json }) => block(global, &id, json, true),
        Some(InboxCommand::Unblock { id, json }) => block(global, &id, json, false),
    }
}

/// The message id from the command line, checked before the vault is unlocked.
fn message_id(text: &str) -> Result<MessageId> {
    Ok(MessageId::parse(text)?)
}

fn opened(global: &Global) -> Result<(Vault, Inbox)> {
    let vault = open(global)?;
    let inbox = vault.open_inbox()?;
    Ok((vault, inbox))
}

fn list(global: &Global, args: &InboxListArgs) -> Result<()> {
    if args.limit == 0 {
        return Err(kluis_core::Error::invalid("--limit must be at least 1").into());
    }
    let filter = if args.all {
        InboxFilter::All
    } else if args.archived {
        InboxFilter::Archived
    } else if args.unread {
        InboxFilter::Unread
    } else {
        InboxFilter::Current
    };
    let (_vault, inbox) = opened(global)?;
    let mut messages = inbox.list(filter, args.limit.saturating_add(1))?;
    let more = messages.len() > args.limit;
    messages.truncate(args.limit);
    let unread = inbox.unread_count()?;
    if args.json {
        print_json(&json!({
            "messages": messages.iter().map(summary_json).collect::<Vec<_>>(),
            "unread": unread,
            "more": more,
        }));
        return Ok(());
    }
    if messages.is_empty() {
        eprintln!(
            "{}",
            match filter {
                InboxFilter::Archived => "no archived messages",
                InboxFilter::Unread => "no unread messages",
                InboxFilter::All => "no business has left a message",
                InboxFilter::Current =>
                    "no messages in your inbox (--archived shows archived ones)",
            }
        );
        return Ok(());
    }
    let rows: Vec<Vec<String>> = messages
        .iter()
        .map(|m| {
            vec![
                m.id.to_string(),
                rfc3339_ms(m.at_ms),
                shown(m.business.as_str()),
                shown(&m.topic),
                shown(&m.subject),
                state_text(m),
            ]
        })
        .collect();
    print_table(
        &["ID", "RECEIVED", "FROM", "TOPIC", "SUBJECT", "STATE"],
        &rows,
    );
    eprintln!("{unread} unread; read one with: kluis inbox read ID");
    if more {
        eprintln!(
            "older messages are not shown: raise --limit (now {})",
            args.limit
        );
    }
    Ok(())
}

fn read(global: &Global, id: &str, json: bool) -> Result<()> {
    let id = message_id(id)?;
    let (_vault, inbox) = opened(global)?;
    let message = inbox.read(&id)?;
    if json {
        print_json(&message_json(&message));
        return Ok(());
    }
    let m = &message.summary;
    println!("Message:  {}", m.id);
    println!(
        "From:     {} (grant {})",
        shown(m.business.as_str()),
        m.grant
    );
    println!("Received: {}", rfc3339_ms(m.at_ms));
    println!("Topic:    {}", shown(&m.topic));
    println!("Subject:  {}", shown(&m.subject));
    println!("SHA-256:  {}", sha256_text(&message.sha256));
    if let Some(answered) = &message.in_reply_to {
        match &message.answers {
            Some(reply) => println!(
                "Answers:  your reply {answered} of {}",
                rfc3339_ms(reply.at_ms)
            ),
            None => println!("Answers:  your reply {answered}"),
        }
    }
    println!();
    println!("{}", shown_text(&message.body));
    for reply in &message.replies {
        println!();
        println!(
            "--- your reply {} of {} ---",
            reply.id,
            rfc3339_ms(reply.at_ms)
        );
        println!("{}", shown_text(&reply.body));
    }
    eprintln!(
        "answer with: kluis inbox reply {id} --text …; no more of this topic from {}: kluis inbox block {id}",
        shown(m.business.as_str())
    );
    Ok(())
}

fn archive(global: &Global, id: &str, into_archive: bool, json: bool) -> Result<()> {
    let id = message_id(id)?;
    let (_vault, inbox) = opened(global)?;
    let changed = if into_archive {
        inbox.archive(&id)?
    } else {
        inbox.unarchive(&id)?
    };
    if json {
        print_json(&json!({ "id": id, "archived": into_archive, "changed": changed }));
        return Ok(());
    }
    println!(
        "{}",
        match (into_archive, changed) {
            (true, true) => format!("archived {id}"),
            (true, false) => format!("{id} was archived already"),
            (false, true) => format!("moved {id} back into the inbox"),
            (false, false) => format!("{id} is in the inbox already"),
        }
    );
    Ok(())
}

fn reply(global: &Global, args: &InboxReplyArgs) -> Result<()> {
    let id = message_id(&args.id)?;
    // Unlocked and looked up first: a typed reply is not lost to a wrong passphrase or id.
    let (vault, inbox) = opened(global)?;
    let business = inbox.message(&id)?.summary.business;
    let text = match (&args.text, &args.file) {
        (Some(text), _) => text.clone(),
        (None, Some(path)) if path != Path::new("-") => {
            let file = std::fs::File::open(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            bounded_text(file)?
        }
        (None, _) => {
            if std::io::stdin().is_terminal() {
                eprintln!("Type your reply; end it with Ctrl-D on a line of its own.");
            }
            bounded_text(std::io::stdin().lock())?
        }
    };
    let sent = vault.owner(Via::Cli).reply(&inbox, &id, &text)?;
    if args.json {
        let mut out = reply_json(&sent);
        out["in_reply_to"] = json!(id);
        out["business"] = json!(business);
        print_json(&out);
        return Ok(());
    }
    println!(
        "sent your reply {} to {}",
        sent.id,
        shown(business.as_str())
    );
    eprintln!("a running kluis serve delivers it at once; otherwise it goes when it starts");
    Ok(())
}

/// Text from a file or standard input: UTF-8 of at most [`MAX_BODY_BYTES`] (read no further),
/// without the line breaks that end it.
fn bounded_text(input: impl std::io::Read) -> Result<String> {
    let mut bytes = Vec::new();
    input
        .take(MAX_BODY_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .context("cannot read the reply")?;
    if bytes.len() > MAX_BODY_BYTES {
        return Err(kluis_core::Error::invalid(format!(
            "the reply must be at most {MAX_BODY_BYTES} bytes (16 KiB)"
        ))
        .into());
    }
    let text = String::from_utf8(bytes)
        .map_err(|_| kluis_core::Error::invalid("the reply must be UTF-8 text"))?;
    Ok(text.trim_end_matches(['\n', '\r']).to_owned())
}

/// Blocks the message's topic from its business (`block`), or allows it again.
fn block(global: &Global, id: &str, json: bool, block: bool) -> Result<()> {
    let id = message_id(id)?;
    let (vault, inbox) = opened(global)?;
    let message = inbox.message(&id)?.summary;
    let owner = vault.owner(Via::Cli);
    let changed = if block {
        owner.block_topic(&inbox, &id)?
    } else {
        owner.unblock_topic(&inbox, &id)?
    };
    let at = kluis_store::blocked_topics(&message.business);
    if json {
        print_json(&json!({
            "business": message.business,
            "topic": message.topic,
            "pointer": at.to_string(),
            "blocked": block,
            "changed": changed,
        }));
        return Ok(());
    }
    let (topic, business) = (shown(&message.topic), shown(message.business.as_str()));
    match (block, changed) {
        (true, true) => println!("no more {topic:?} from {business}: added to {at}"),
        (true, false) => println!("{topic:?} from {business} was blocked already ({at})"),
        (false, true) => println!("{topic:?} from {business} is allowed again: taken out of {at}"),
        (false, false) => println!("{topic:?} from {business} was not blocked ({at})"),
    }
    Ok(())
}

fn state_text(m: &MessageSummary) -> String {
    let mut state = vec![if m.read { "read" } else { "unread" }];
    if m.replied {
        state.push("replied");
    }
    if m.archived {
        state.push("archived");
    }
    state.join(", ")
}

fn summary_json(m: &MessageSummary) -> Value {
    json!({
        "id": m.id,
        "seq": m.seq,
        "at_ms": m.at_ms,
        "time": rfc3339_ms(m.at_ms),
        "business": m.business,
        "grant_id": m.grant,
        "topic": m.topic,
        "subject": m.subject,
        "read": m.read,
        "archived": m.archived,
        "replied": m.replied,
    })
}

fn message_json(m: &Message) -> Value {
    let mut out = summary_json(&m.summary);
    out["body"] = json!(m.body);
    out["in_reply_to"] = json!(m.in_reply_to);
    out["answers"] = m.answers.as_ref().map_or(Value::Null, reply_json);
    out["sha256"] = json!(sha256_text(&m.sha256));
    out["replies"] = Value::Array(m.replies.iter().map(reply_json).collect());
    out
}

fn reply_json(r: &SentReply) -> Value {
    json!({
        "id": r.id,
        "at_ms": r.at_ms,
        "time": rfc3339_ms(r.at_ms),
        "subject": r.subject,
        "body": r.body,
    })
}

/// One line of a business's text for the terminal: every control character and every
/// character that reorders the text around it (bidirectional overrides and isolates) shown
/// as an escape (`\u{1b}`), so that a message can neither drive the terminal nor disguise
/// what it says.
pub(crate) fn shown(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        push_shown(&mut out, c);
    }
    out
}

/// Like [`shown`], for a body: line breaks and tabs stay (a `\r\n` is one line break).
fn shown_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' | '\t' => out.push(c),
            '\r' if chars.peek() == Some(&'\n') => {}
            _ => push_shown(&mut out, c),
        }
    }
    out
}

fn push_shown(out: &mut String, c: char) {
    let reorders = matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
    if c.is_control() || reorders {
        out.push_str(&c.escape_unicode().to_string());
    } else {
        out.push(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_controls_are_shown_escaped() {
        assert_eq!(shown("plain <b>text</b> é"), "plain <b>text</b> é");
        assert_eq!(shown("a\u{1b}[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(shown("csi \u{9b}31m"), "csi \\u{9b}31m");
        assert_eq!(shown("evil\u{202e}txt.exe"), "evil\\u{202e}txt.exe");
        assert_eq!(shown("two\nlines"), "two\\u{a}lines");
        assert_eq!(
            shown_text("line 1\r\nline\t2\rover\u{7}"),
            "line 1\nline\t2\\u{d}over\\u{7}"
        );
    }

    #[test]
    fn replies_from_input_are_bounded_utf8_without_the_final_newline() {
        assert_eq!(
            bounded_text(&b"thanks\nAnn\n\n"[..]).unwrap(),
            "thanks\nAnn"
        );
        assert!(bounded_text(&[0xff, 0xfe][..]).is_err());
        let longest = vec![b'x'; MAX_BODY_BYTES];
        assert_eq!(bounded_text(&longest[..]).unwrap().len(), MAX_BODY_BYTES);
        let huge = "é".repeat(MAX_BODY_BYTES);
        let err = bounded_text(huge.as_bytes()).unwrap_err().to_string();
        assert!(err.contains("at most 16384 bytes"), "{err}");
    }
}
