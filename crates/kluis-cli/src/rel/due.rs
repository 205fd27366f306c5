//! `kluis due`: promises due or overdue and notice deadlines coming up, as a list, JSON, or an
//! iCalendar file (RFC 5545) whose UIDs stay the same, so importing it again updates a
//! calendar rather than doubling it.

use std::io::Write as _;

use anyhow::Result;
use kluis_core::relationship::{DueItem, DueKind, ics};
use serde_json::{Value, json};

use super::args::DueArgs;
use crate::args::Global;
use crate::document::print_json;
use crate::inbox::shown;

pub fn run(global: &Global, args: DueArgs) -> Result<()> {
    let vault = crate::open(global)?;
    let rel = vault.open_relationships()?;
    let today = super::today();
    if args.ics {
        let due = rel.calendar(today, args.days)?;
        let entries: Vec<ics::Entry> = due
            .iter()
            .map(|d| d.to_ics(&vault.unlocked().id_hex()))
            .collect();
        let stamp = jiff::Timestamp::now();
        std::io::stdout()
            .lock()
            .write_all(ics::calendar(&entries, stamp).as_bytes())?;
        return Ok(());
    }
    let due = rel.due(today, args.days)?;
    if args.json {
        print_json(&Value::Array(due.iter().map(item_json).collect()));
        return Ok(());
    }
    if due.is_empty() {
        eprintln!("nothing due in the next {} days", args.days);
        return Ok(());
    }
    // One write for the lot: a line per write costs more than the list itself.
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for d in &due {
        writeln!(out, "{}", line(d))?;
    }
    out.flush()?;
    Ok(())
}

fn line(d: &DueItem) -> String {
    match d.kind {
        DueKind::Promise { overdue } => format!(
            "{}  {} promised: {}{}  [{}]",
            d.on,
            d.business,
            shown(&d.what),
            if overdue { "  OVERDUE" } else { "" },
            d.entry
        ),
        DueKind::NoticeDeadline { ends_on } => format!(
            "{}  last day to give notice: {} with {} (it renews or ends {ends_on})  [{}]",
            d.on,
            shown(&d.what),
            d.business,
            d.entry
        ),
    }
}

fn item_json(d: &DueItem) -> Value {
    let (kind, overdue, ends_on) = match d.kind {
        DueKind::Promise { overdue } => ("promise", overdue, None),
        DueKind::NoticeDeadline { ends_on } => ("notice_deadline", false, Some(ends_on)),
    };
    json!({
        "on": d.on,
        "kind": kind,
        "business": d.business,
        "entry": d.entry,
        "what": d.what,
        "overdue": overdue,
        "ends_on": ends_on,
    })
}
