//! Reminders as iCalendar (RFC 5545): one VTODO per promise and one VEVENT per notice deadline,
//! each with a UID the caller keeps stable, so a calendar app that imports the feed again
//! updates its entries rather than adding them twice.

use jiff::Timestamp;
use jiff::ToSpan;
use jiff::civil::Date;

/// What an entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryKind {
    /// A to-do due on the day (a promise); `done` when it was kept, broken or withdrawn.
    Todo { done: bool },
    /// An all-day event on the day (a last day to give notice).
    Event,
}

/// One calendar entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Stable across exports: the same promise or deadline always has the same UID.
    pub uid: String,
    pub on: Date,
    pub kind: EntryKind,
    pub summary: String,
    pub description: Option<String>,
}

/// The product that wrote the calendar (`PRODID`).
pub const PRODID: &str = "-//Kluis//Relationship reminders//EN";

/// The calendar of `entries`, `stamp` as every entry's `DTSTAMP`: CRLF line ends, lines
/// folded at 75 octets, text escaped (RFC 5545 §3.1, §3.3.11).
pub fn calendar(entries: &[Entry], stamp: Timestamp) -> String {
    let mut out = String::new();
    let stamp = stamp.strftime("%Y%m%dT%H%M%SZ").to_string();
    line(&mut out, "BEGIN:VCALENDAR");
    line(&mut out, "VERSION:2.0");
    line(&mut out, &format!("PRODID:{PRODID}"));
    line(&mut out, "CALSCALE:GREGORIAN");
    for entry in entries {
        let day = entry.on.strftime("%Y%m%d").to_string();
        let component = match entry.kind {
            EntryKind::Todo { .. } => "VTODO",
            EntryKind::Event => "VEVENT",
        };
        line(&mut out, &format!("BEGIN:{component}"));
        line(&mut out, &format!("UID:{}", text(&entry.uid)));
        line(&mut out, &format!("DTSTAMP:{stamp}"));
        line(&mut out, &format!("SUMMARY:{}", text(&entry.summary)));
        if let Some(description) = &entry.description {
            line(&mut out, &format!("DESCRIPTION:{}", text(description)));
        }
        match entry.kind {
            EntryKind::Todo { done } => {
                line(&mut out, &format!("DUE;VALUE=DATE:{day}"));
                let status = if done { "COMPLETED" } else { "NEEDS-ACTION" };
                line(&mut out, &format!("STATUS:{status}"));
            }
            EntryKind::Event => {
                let next = entry.on.checked_add(1.day()).unwrap_or(entry.on);
                line(&mut out, &format!("DTSTART;VALUE=DATE:{day}"));
                line(
                    &mut out,
                    &format!("DTEND;VALUE=DATE:{}", next.strftime("%Y%m%d")),
                );
                line(&mut out, "TRANSP:TRANSPARENT");
            }
        }
        line(&mut out, &format!("END:{component}"));
    }
    line(&mut out, "END:VCALENDAR");
    out
}

/// TEXT as RFC 5545 escapes it: backslash, semicolon, comma and line breaks; other control
/// characters are dropped.
fn text(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Appends `content` as one content line, folded so no line is longer than 75 octets (a fold
/// never splits a character), ended by CRLF.
fn line(out: &mut String, content: &str) {
    let mut width = 0;
    for c in content.chars() {
        let len = c.len_utf8();
        if width + len > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += len;
    }
    out.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    use std::io::BufReader;

    use jiff::civil::date;

    use super::*;

    fn entries() -> Vec<Entry> {
        vec![
            Entry {
                uid: "promise-p_1@kluis".into(),
                on: date(2026, 12, 5),
                kind: EntryKind::Todo { done: false },
                summary: "shop.example: call back about the repair; they promised, twice".into(),
                description: Some("Recorded by the business.\nSigned.".into()),
            },
            Entry {
                uid: "notice-c_1-20270131@kluis".into(),
                on: date(2026, 12, 31),
                kind: EntryKind::Event,
                summary: format!(
                    "Last day to give notice: Energy contract {}",
                    "é".repeat(60)
                ),
                description: None,
            },
        ]
    }

    #[test]
    fn a_real_icalendar_parser_reads_it_back() {
        let stamp: Timestamp = "2026-12-01T10:00:00Z".parse().unwrap();
        let ics = calendar(&entries(), stamp);
        assert!(ics.ends_with("END:VCALENDAR\r\n"));
        assert!(
            ics.split("\r\n").all(|l| l.len() <= 75),
            "folded at 75 octets"
        );
        let mut parser = ical::IcalParser::new(BufReader::new(ics.as_bytes()));
        let cal = parser.next().expect("one calendar").expect("it parses");
        assert!(parser.next().is_none());
        let prop = |props: &[ical::property::Property], name: &str| {
            props
                .iter()
                .find(|p| p.name == name)
                .and_then(|p| p.value.clone())
                .unwrap_or_default()
        };
        assert_eq!(prop(&cal.properties, "VERSION"), "2.0");
        assert_eq!(cal.todos.len(), 1);
        assert_eq!(cal.events.len(), 1);
        let todo = &cal.todos[0].properties;
        assert_eq!(prop(todo, "UID"), "promise-p_1@kluis");
        assert_eq!(prop(todo, "DUE"), "20261205");
        assert_eq!(prop(todo, "STATUS"), "NEEDS-ACTION");
        // Escaped on the way out, as the parser hands it over (it does not unescape).
        assert_eq!(
            prop(todo, "SUMMARY"),
            "shop.example: call back about the repair\\; they promised\\, twice"
        );
        assert_eq!(
            prop(todo, "DESCRIPTION"),
            "Recorded by the business.\\nSigned."
        );
        let event = &cal.events[0].properties;
        assert_eq!(prop(event, "DTSTART"), "20261231");
        assert_eq!(prop(event, "DTEND"), "20270101");
        assert!(
            prop(event, "SUMMARY").ends_with(&"é".repeat(60)),
            "unfolded whole"
        );
        assert_eq!(prop(event, "DTSTAMP"), "20261201T100000Z");
    }

    #[test]
    fn the_same_entries_give_the_same_uids() {
        let stamp: Timestamp = "2026-12-01T10:00:00Z".parse().unwrap();
        let later: Timestamp = "2026-12-02T10:00:00Z".parse().unwrap();
        let uids = |ics: &str| -> Vec<String> {
            ics.split("\r\n")
                .filter_map(|l| l.strip_prefix("UID:"))
                .map(str::to_owned)
                .collect()
        };
        let (a, b) = (calendar(&entries(), stamp), calendar(&entries(), later));
        assert_eq!(uids(&a), uids(&b));
        assert_ne!(a, b, "only the stamp differs");
    }
}
