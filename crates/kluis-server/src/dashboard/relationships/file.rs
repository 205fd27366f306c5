//! A document's file: `/dashboard/relationships/{business}/files/{entry}` serves it as an
//! attachment to save (`Content-Disposition: attachment`, with its name), with the media type
//! the business gave, never inline (`X-Content-Type-Options: nosniff`, as every dashboard
//! answer, and the dashboard's CSP).

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kluis_core::relationship::EntryId;

use super::business_of;
use super::texts::texts;
use crate::dashboard::Dashboard;
use crate::dashboard::error::PageError;
use crate::dashboard::session::SignedIn;

/// A document's file of `business`'s record.
pub async fn file(
    State(dashboard): State<Dashboard>,
    owner: SignedIn,
    Path((business, entry)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let t = texts(owner.lang);
    let business = business_of(&business, t)?;
    let no_file = || PageError::NotFound(t.no_such_file.to_owned());
    let id = EntryId::parse(&entry).map_err(|_| no_file())?;
    let (holder, info, bytes) = dashboard
        .with_relationships(move |_, rel| rel.attachment(&id))
        .await
        .map_err(|err| match err {
            PageError::NotFound(_) => no_file(),
            other => other,
        })?;
    if holder != business {
        return Err(no_file());
    }
    let media_type = HeaderValue::from_str(served_type(&info.media_type))
        .unwrap_or_else(|_| HeaderValue::from_static(OCTET_STREAM));
    let disposition =
        HeaderValue::from_str(&content_disposition(&info.name)).map_err(PageError::internal)?;
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, media_type),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        bytes,
    )
        .into_response())
}

const OCTET_STREAM: &str = "application/octet-stream";

/// The media type a file is served with: the one the business gave, unless a browser would run
/// it, render it as a page or apply it as style (scripts, HTML, XML and SVG, CSS, WebAssembly,
/// and text other than plain text and CSV). Such a type from the vault's own origin would pass
/// the dashboard's `script-src 'self'` and `style-src 'self'`, and `nosniff` does not stop a
/// script served as JavaScript; those files are served as `application/octet-stream`.
fn served_type(media_type: &str) -> &str {
    let (top, sub) = media_type.split_once('/').unwrap_or(("", ""));
    let inert = match top {
        "image" => !sub.contains("svg") && !sub.contains("xml"),
        "audio" | "video" | "font" => true,
        "text" => matches!(sub, "plain" | "csv"),
        "application" => !["javascript", "ecmascript", "xml", "html", "wasm", "css"]
            .iter()
            .any(|bad| sub.contains(bad)),
        _ => false,
    };
    if inert { media_type } else { OCTET_STREAM }
}

/// `attachment; filename="…"; filename*=UTF-8''…` (RFC 6266): an ASCII name with anything
/// else as `_`, and the name itself percent-encoded.
fn content_disposition(name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| {
            if (c.is_ascii_graphic() && !matches!(c, '"' | '\\' | '%')) || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_name_cannot_break_out_of_its_header() {
        assert_eq!(
            content_disposition("Factuur \"1042\"; é.pdf"),
            "attachment; filename=\"Factuur _1042_; _.pdf\"; filename*=UTF-8''Factuur%20%221042%22%3B%20%C3%A9.pdf"
        );
    }
}
