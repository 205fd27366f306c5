//! Rendering: every page is an askama template (compile-time checked, HTML-escaped) sent
//! through [`page`]; [`Chrome`] carries what the layout around each page needs. Also the
//! dashboard's ways of writing times for people.

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use time::OffsetDateTime;

use super::error::PageError;
use super::i18n::{Common, Lang};
use super::session::SignedIn;

/// What the layout around a page shows: navigation, language switch, sign-out.
pub struct Chrome {
    pub t: &'static Common,
    pub lang: Lang,
    pub csrf: String,
    /// The navigation entry of this page (e.g. `grants`), marked as current.
    pub current: &'static str,
    pub title: String,
    /// The path of this page, for the language switch to come back to.
    pub here: String,
    /// Unread messages, shown beside the inbox in the navigation.
    pub unread: Option<u64>,
    /// Overdue promises, shown beside the relationships in the navigation.
    pub overdue: Option<u64>,
}

impl Chrome {
    pub fn new(owner: &SignedIn, current: &'static str, title: &str, here: &str) -> Self {
        Self {
            t: Common::of(owner.lang),
            lang: owner.lang,
            csrf: owner.session.csrf.clone(),
            current,
            title: title.to_owned(),
            here: here.to_owned(),
            unread: owner.unread,
            overdue: owner.overdue,
        }
    }

    /// The relationships' navigation entry: `Relationships (2 overdue)` while promises are.
    pub fn relationships_label(&self) -> String {
        match self.overdue {
            Some(n) if n > 0 => format!("{} ({n} {})", self.t.relationships, self.t.overdue),
            _ => self.t.relationships.to_owned(),
        }
    }

    /// The inbox's navigation entry: `Inbox (3)` while there are unread messages.
    pub fn inbox_label(&self) -> String {
        match self.unread {
            Some(n) if n > 0 => format!("{} ({n})", self.t.inbox),
            _ => self.t.inbox.to_owned(),
        }
    }

    /// `aria-current` for a navigation entry.
    pub fn aria_current(&self, entry: &str) -> &'static str {
        if entry == self.current {
            "page"
        } else {
            "false"
        }
    }

    /// The language switch's link back to this page in the other language.
    pub fn switch_href(&self) -> String {
        format!(
            "{}/lang/{}?back={}",
            super::BASE,
            self.lang.other().code(),
            form_urlencoded::byte_serialize(self.here.as_bytes()).collect::<String>()
        )
    }
}

/// Renders `template` as a 200 page.
pub fn page<T: Template>(template: &T) -> Result<Response, PageError> {
    page_with(StatusCode::OK, template)
}

pub fn page_with<T: Template>(status: StatusCode, template: &T) -> Result<Response, PageError> {
    let html = template.render().map_err(PageError::internal)?;
    Ok((
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        )],
        html,
    )
        .into_response())
}

/// A 303 to `to` (after a form: the browser then GETs the result).
pub fn see_other(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_owned())]).into_response()
}

const MONTHS_EN: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const MONTHS_NL: [&str; 12] = [
    "jan", "feb", "mrt", "apr", "mei", "jun", "jul", "aug", "sep", "okt", "nov", "dec",
];

/// A day as people write it: `31 Dec 2026` / `31 dec 2026` (UTC).
pub fn date(lang: Lang, unix_secs: i64) -> String {
    let Ok(t) = OffsetDateTime::from_unix_timestamp(unix_secs) else {
        return unix_secs.to_string();
    };
    let months = lang.pick(&MONTHS_EN, &MONTHS_NL);
    format!(
        "{} {} {}",
        t.day(),
        months[usize::from(u8::from(t.month())) - 1],
        t.year()
    )
}

/// A calendar day as people write it: `28 Nov 2026`.
pub fn day(lang: Lang, day: kluis_core::relationship::Date) -> String {
    date(
        lang,
        kluis_core::relationship::entry::day_number(day) * 86_400,
    )
}

/// A moment with minutes: `31 Dec 2026 14:05 UTC`.
pub fn date_time(lang: Lang, unix_secs: i64) -> String {
    let Ok(t) = OffsetDateTime::from_unix_timestamp(unix_secs) else {
        return unix_secs.to_string();
    };
    format!(
        "{} {:02}:{:02} UTC",
        date(lang, unix_secs),
        t.hour(),
        t.minute()
    )
}

/// How long ago `then` was, roughly: `3 h ago` / `3 uur geleden`.
pub fn ago(lang: Lang, then_secs: i64, now_secs: i64) -> String {
    let secs = (now_secs - then_secs).max(0);
    let (n, en, nl) = match secs {
        0..60 => return lang.pick("just now", "zojuist").to_owned(),
        60..3600 => (secs / 60, "min", "min"),
        3600..86_400 => (secs / 3600, "h", "uur"),
        _ => (secs / 86_400, "days", "dagen"),
    };
    match lang {
        Lang::En => format!("{n} {en} ago"),
        Lang::Nl => format!("{n} {nl} geleden"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_for_people() {
        assert_eq!(date(Lang::En, 1_798_675_200), "31 Dec 2026");
        assert_eq!(date(Lang::Nl, 1_798_675_200), "31 dec 2026");
        assert_eq!(
            date_time(Lang::En, 1_798_675_200 + 3600 + 300),
            "31 Dec 2026 01:05 UTC"
        );
        assert_eq!(ago(Lang::En, 0, 3 * 3600 + 5), "3 h ago");
        assert_eq!(ago(Lang::Nl, 0, 3 * 3600 + 5), "3 uur geleden");
        assert_eq!(ago(Lang::En, 10, 20), "just now");
        assert_eq!(ago(Lang::En, 0, 2 * 86_400), "2 days ago");
        let d = kluis_core::relationship::Date::new(2026, 11, 28).unwrap();
        assert_eq!(day(Lang::En, d), "28 Nov 2026");
    }
}
