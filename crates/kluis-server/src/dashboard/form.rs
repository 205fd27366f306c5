//! A posted HTML form: `application/x-www-form-urlencoded` pairs in order, names repeated for
//! checkboxes. Read only through [`super::session::Posted`] or [`super::session::SameOrigin`].

use axum::body::Body;
use axum::http::{HeaderMap, header};
use zeroize::Zeroizing;

use super::error::PageError;
use super::session::FORM_LIMIT;

/// The pairs of a posted form. Values are wiped from memory when it is dropped (a passphrase
/// may be among them).
pub struct Form(Vec<(String, Zeroizing<String>)>);

impl Form {
    pub async fn read(headers: &HeaderMap, body: Body) -> Result<Self, PageError> {
        let urlencoded = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        if !urlencoded {
            return Err(PageError::BadRequest("not a form".into()));
        }
        let bytes = Zeroizing::new(
            axum::body::to_bytes(body, FORM_LIMIT)
                .await
                .map_err(|_| PageError::BadRequest("the form is too large".into()))?
                .to_vec(),
        );
        Ok(Self::parse(&bytes))
    }

    pub fn parse(bytes: &[u8]) -> Self {
        Self(
            form_urlencoded::parse(bytes)
                .map(|(k, v)| (k.into_owned(), Zeroizing::new(v.into_owned())))
                .collect(),
        )
    }

    /// The first value named `name`.
    pub fn one(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first value named `name`, trimmed; `None` if absent or blank.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.one(name).map(str::trim).filter(|v| !v.is_empty())
    }

    /// Every value named `name`, in order (ticked checkboxes).
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Every pair, in order.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_names_and_blanks() {
        let form = Form::parse(b"f=%2Fprofile%2Femail&f=%2Fprofile%2Faddress&purpose=+&x=a+b");
        assert_eq!(form.all("f"), ["/profile/email", "/profile/address"]);
        assert_eq!(form.text("purpose"), None);
        assert_eq!(form.one("x"), Some("a b"));
        assert_eq!(form.one("missing"), None);
    }
}
