//! The log page's filters and cursor, read from its query string (a GET form, so a filtered
//! page can be bookmarked and paged with links). A value the owner typed that does not parse
//! is a [`Filters::errors`] entry shown beside its field; a broken cursor or page size (only
//! links make those) is a plain 400.

use kluis_core::access::Outcome;
use kluis_core::grant::{BusinessId, GrantId};
use kluis_store::LogQuery;
use time::{Date, Month};

use crate::dashboard::error::PageError;
use crate::dashboard::i18n::Lang;

/// Entries on a page unless `?limit=` says otherwise.
pub const PAGE: usize = 100;
/// The most `?limit=` may ask for; more is cut to this (pages stay small).
pub const MAX_PAGE: usize = 500;
pub const DAY_MS: i64 = 86_400_000;

/// The filters as typed (shown again in the form) and as a query.
#[derive(Default)]
pub struct Filters {
    pub business: String,
    pub grant: String,
    /// `""` (all), `allowed` or `refused`.
    pub outcome: String,
    /// `YYYY-MM-DD`, as `<input type=date>` sends it.
    pub from: String,
    pub to: String,
    /// Set only when the link asked for it (kept in the page's links).
    pub limit: Option<usize>,
    pub before: Option<i64>,
    pub query: LogQuery,
    pub errors: FieldErrors,
}

/// Messages for the fields that did not parse.
#[derive(Default)]
pub struct FieldErrors {
    pub business: Option<String>,
    pub grant: Option<String>,
    pub outcome: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
}

impl FieldErrors {
    pub fn any(&self) -> bool {
        self.business.is_some()
            || self.grant.is_some()
            || self.outcome.is_some()
            || self.from.is_some()
            || self.to.is_some()
    }
}

impl Filters {
    /// Reads `query` (the URL's query string). `Err` only for what no form field made.
    pub fn parse(lang: Lang, query: Option<&str>) -> Result<Self, PageError> {
        let mut f = Filters::default();
        let mut before = None;
        let mut limit = None;
        for (name, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            let value = value.trim().to_owned();
            match &*name {
                "business" => f.business = value,
                "grant" => f.grant = value,
                "outcome" => f.outcome = if value == "all" { String::new() } else { value },
                "from" => f.from = value,
                "to" => f.to = value,
                "before" => before = Some(value),
                "limit" => limit = Some(value),
                _ => {}
            }
        }
        f.before = match before.as_deref() {
            None | Some("") => None,
            Some(text) => Some(
                text.parse::<i64>()
                    .ok()
                    .filter(|&n| n >= 1)
                    .ok_or_else(|| bad(lang, "before", text))?,
            ),
        };
        f.limit = match limit.as_deref() {
            None | Some("") => None,
            Some(text) => Some(
                text.parse::<usize>()
                    .ok()
                    .filter(|&n| n >= 1)
                    .ok_or_else(|| bad(lang, "limit", text))?
                    .min(MAX_PAGE),
            ),
        };
        let mut q = LogQuery {
            before: f.before,
            limit: f.limit.unwrap_or(PAGE),
            ..LogQuery::default()
        };
        if !f.business.is_empty() {
            match BusinessId::parse(&f.business) {
                Ok(b) => q.business = Some(b),
                Err(e) => f.errors.business = Some(e.to_string()),
            }
        }
        if !f.grant.is_empty() {
            match GrantId::parse(&f.grant) {
                Ok(g) => q.grant = Some(g),
                Err(e) => f.errors.grant = Some(e.to_string()),
            }
        }
        match f.outcome.as_str() {
            "" => {}
            "allowed" => q.outcome = Some(Outcome::Allowed),
            "refused" => q.outcome = Some(Outcome::Refused),
            other => {
                f.errors.outcome = Some(match lang {
                    Lang::En => {
                        format!("{other:?} is not an outcome: choose all, allowed or refused")
                    }
                    Lang::Nl => {
                        format!("{other:?} is geen uitkomst: kies alle, toegestaan of geweigerd")
                    }
                });
            }
        }
        let day = |text: &str| -> Result<Option<i64>, String> {
            if text.is_empty() {
                return Ok(None);
            }
            parse_day(text).map(Some).ok_or_else(|| match lang {
                Lang::En => format!("{text:?} is not a date: write it as 2026-12-31"),
                Lang::Nl => format!("{text:?} is geen datum: schrijf hem als 2026-12-31"),
            })
        };
        let from = day(&f.from).unwrap_or_else(|e| {
            f.errors.from = Some(e);
            None
        });
        let to = day(&f.to).unwrap_or_else(|e| {
            f.errors.to = Some(e);
            None
        });
        if let (Some(from), Some(to)) = (from, to)
            && to < from
        {
            f.errors.to = Some(
                lang.pick(
                    "This day is before the first one: nothing could match.",
                    "Deze dag ligt voor de eerste: niets zou passen.",
                )
                .to_owned(),
            );
        }
        // Whole days in UTC, as the timeline's headings are; "To" includes its day.
        q.since_ms = from.map(|d| d * DAY_MS);
        q.until_ms = to.map(|d| (d + 1) * DAY_MS);
        f.query = q;
        Ok(f)
    }

    /// The query string of these filters (what the form sends), with `before` if given.
    pub fn href(&self, before: Option<i64>) -> String {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (name, value) in [
            ("business", &self.business),
            ("grant", &self.grant),
            ("outcome", &self.outcome),
            ("from", &self.from),
            ("to", &self.to),
        ] {
            if !value.is_empty() {
                s.append_pair(name, value);
            }
        }
        if let Some(limit) = self.limit {
            s.append_pair("limit", &limit.to_string());
        }
        if let Some(before) = before {
            s.append_pair("before", &before.to_string());
        }
        let query = s.finish();
        if query.is_empty() {
            "/dashboard/log".to_owned()
        } else {
            format!("/dashboard/log?{query}")
        }
    }

    /// Whether any filter narrows the log (not the cursor).
    pub fn narrowing(&self) -> bool {
        let q = &self.query;
        q.business.is_some()
            || q.grant.is_some()
            || q.outcome.is_some()
            || q.since_ms.is_some()
            || q.until_ms.is_some()
    }
}

fn bad(lang: Lang, name: &str, text: &str) -> PageError {
    PageError::BadRequest(match lang {
        Lang::En => format!(
            "The link's {name} ({text:?}) is not a positive whole number. Open the access log again from the menu."
        ),
        Lang::Nl => format!(
            "De {name} van de link ({text:?}) is geen positief geheel getal. Open de inzagelog opnieuw via het menu."
        ),
    })
}

/// `YYYY-MM-DD` as days since 1970-01-01.
pub fn parse_day(text: &str) -> Option<i64> {
    let mut parts = text.splitn(3, '-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return None;
    }
    let month = Month::try_from(m.parse::<u8>().ok()?).ok()?;
    let date = Date::from_calendar_date(y.parse().ok()?, month, d.parse().ok()?).ok()?;
    Some(
        date.midnight()
            .assume_utc()
            .unix_timestamp()
            .div_euclid(86_400),
    )
}

/// Days since 1970-01-01 as `YYYY-MM-DD`.
pub fn format_day(day: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(day * 86_400) {
        Ok(t) => format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day()),
        Err(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_round_trip_and_nonsense_is_refused() {
        let day = parse_day("2026-12-31").unwrap();
        assert_eq!(day * 86_400, 1_798_675_200);
        assert_eq!(format_day(day), "2026-12-31");
        for junk in [
            "2026-13-01",
            "2026-02-30",
            "26-1-1",
            "2026-1-01",
            "tomorrow",
            "2026-12-31-",
        ] {
            assert_eq!(parse_day(junk), None, "{junk}");
        }
    }

    #[test]
    fn filters_read_from_the_query_and_written_back() {
        let f = Filters::parse(
            Lang::En,
            Some("business=shop.example&outcome=refused&from=2026-12-01&to=2026-12-01&limit=9999"),
        )
        .unwrap();
        assert!(!f.errors.any());
        let q = &f.query;
        assert_eq!(q.business.as_ref().unwrap().as_str(), "shop.example");
        assert_eq!(q.outcome, Some(Outcome::Refused));
        assert_eq!(q.until_ms.unwrap() - q.since_ms.unwrap(), DAY_MS);
        assert_eq!(q.limit, MAX_PAGE);
        let again = Filters::parse(Lang::En, f.href(Some(7)).split_once('?').map(|x| x.1)).unwrap();
        assert_eq!(
            again.query,
            LogQuery {
                before: Some(7),
                ..f.query.clone()
            }
        );

        let f = Filters::parse(
            Lang::En,
            Some("business=%3Cx%3E&grant=nope&from=2026-12-02&to=2026-12-01&outcome=maybe"),
        )
        .unwrap();
        assert!(f.errors.business.is_some() && f.errors.grant.is_some());
        assert!(f.errors.outcome.is_some() && f.errors.to.is_some());
        assert!(f.errors.from.is_none());
        assert!(Filters::parse(Lang::En, Some("before=0")).is_err());
        assert!(Filters::parse(Lang::En, Some("before=x")).is_err());
        assert!(Filters::parse(Lang::Nl, Some("limit=-3")).is_err());
        assert_eq!(
            Filters::parse(Lang::En, Some("outcome=all")).unwrap().query,
            LogQuery {
                limit: PAGE,
                ..LogQuery::default()
            }
        );
    }
}
