//! Asking an owner for access, and what they decided: the SDK's view of `/v1/requests`.

use kluis_core::contact::ContactRight;
use std::fmt;
use std::time::Duration;

use kluis_core::wire::{AccessRequestBody, AccessRequestStatus, BusinessInfo, RequestStatus};

use crate::error::{Error, Result};
use crate::key::BusinessKey;

/// What a business asks an owner for. The grant that comes of it is bound to the key the
/// request is sent with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessRequest {
    /// Who is asking: `business.id` becomes the grant's audience (`aud`). The vault requires
    /// its `contact`, `email`, `address` and `phone` too: the consent receipt names them.
    pub business: BusinessInfo,
    /// JSON Pointers of the fields wanted, e.g. `/profile/email`.
    pub fields: Vec<String>,
    /// Why, in words the owner understands: shown to them and written into the receipt.
    pub purpose: String,
    /// The purpose's category (e.g. `contract`, `marketing`), if the business names one.
    pub category: Option<String>,
    /// How long access is wanted; the owner may shorten it. `None` leaves it to the vault.
    pub duration: Option<Duration>,
    /// Where the vault POSTs the decision, besides answering polls.
    pub callback_url: Option<String>,
    /// The channels and topics the business asks to reach the customer with, if any. A
    /// request may ask for this alone (no fields): contact without disclosure.
    pub contact: Option<ContactRight>,
    /// Whether the business asks to append entries (documents, promises, interactions) to its
    /// own relationship record in the customer's vault. A request may ask for this alone.
    pub append_record: bool,
}

impl AccessRequest {
    /// A request for `fields` for `purpose`, with no category, duration or callback. Build
    /// `business` with [`BusinessInfo::new`] and its `with_contact`, `with_email`,
    /// `with_address` and `with_phone`.
    pub fn new<I, S>(business: BusinessInfo, fields: I, purpose: impl Into<String>) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            business,
            fields: fields.into_iter().map(Into::into).collect(),
            purpose: purpose.into(),
            category: None,
            duration: None,
            callback_url: None,
            contact: None,
            append_record: false,
        }
    }

    /// Also asks for the right to reach the customer over `channels` about `topics` (within
    /// their contact policy, which the vault enforces).
    pub fn contact<C, T>(mut self, channels: C, topics: T) -> Self
    where
        C: IntoIterator,
        C::Item: Into<String>,
        T: IntoIterator,
        T::Item: Into<String>,
    {
        self.contact = Some(ContactRight {
            channels: channels.into_iter().map(Into::into).collect(),
            topics: topics.into_iter().map(Into::into).collect(),
        });
        self
    }

    /// Also asks (`true`) for the right to append entries to the business's own relationship
    /// record in the customer's vault: documents, promises, interactions. It reads nothing.
    pub fn append_record(mut self, append_record: bool) -> Self {
        self.append_record = append_record;
        self
    }

    pub fn category(mut self, category: impl Into<String>) -> Self {
        self.category = Some(category.into());
        self
    }

    pub fn duration(mut self, duration: Duration) -> Self {
        self.duration = Some(duration);
        self
    }

    pub fn callback_url(mut self, url: impl Into<String>) -> Self {
        self.callback_url = Some(url.into());
        self
    }

    /// The wire body; checks what can be checked without asking the vault.
    pub(crate) fn body(&self, key: &BusinessKey) -> Result<AccessRequestBody> {
        let b = &self.business;
        for (member, value) in [
            ("contact", &b.contact),
            ("email", &b.email),
            ("address", &b.address),
            ("phone", &b.phone),
        ] {
            if value.as_deref().is_none_or(|v| v.trim().is_empty()) {
                return Err(Error::Invalid(format!(
                    "business.{member} is required: the vault writes it into the consent receipt \
                     (BusinessInfo::with_{member})"
                )));
            }
        }
        let contact = self
            .contact
            .clone()
            .map(ContactRight::validated)
            .transpose()
            .map_err(|e| Error::Invalid(format!("contact: {e}")))?;
        if self.fields.is_empty() && contact.is_none() && !self.append_record {
            return Err(Error::Invalid(
                "ask for at least one field, a contact right or the right to add to its record \
                 (AccessRequest::append_record)"
                    .into(),
            ));
        }
        for field in &self.fields {
            kluis_core::Pointer::parse(field)
                .map_err(|e| Error::Invalid(format!("field {field:?}: {e}")))?;
        }
        let duration_secs = match self.duration {
            None => None,
            Some(d) => Some(
                i64::try_from(d.as_secs())
                    .map_err(|_| Error::Invalid("the duration is too long to send".into()))?,
            ),
        };
        Ok(AccessRequestBody {
            business: self.business.clone(),
            jwk: key.public_jwk(),
            fields: self.fields.clone(),
            purpose: self.purpose.clone(),
            purpose_category: self.category.clone(),
            duration_secs,
            callback_url: self.callback_url.clone(),
            contact,
            append_record: self.append_record,
        })
    }
}

/// What the owner decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    Approved(Grant),
    /// The owner said no, with their reason if they gave one.
    Denied {
        reason: Option<String>,
    },
    /// The owner did not decide before the request lapsed.
    Expired,
}

impl Decision {
    /// The decision a status reports, or `None` while it is still pending. A decision
    /// callback is a signed `request.decided` webhook whose `data` is this status: verify it
    /// first with [`crate::WebhookVerifier`] and the vault's `whpk_` key (published at
    /// `/.well-known/webhook-key`), which gives it as [`crate::webhook::Event::RequestDecided`].
    pub fn from_status(status: &AccessRequestStatus) -> Result<Option<Self>> {
        Ok(Some(match status.status {
            RequestStatus::Pending => return Ok(None),
            RequestStatus::Denied => Decision::Denied {
                reason: status.reason.clone(),
            },
            RequestStatus::Expired => Decision::Expired,
            RequestStatus::Approved => {
                let missing =
                    |what: &str| Error::Decode(format!("an approved request without `{what}`"));
                Decision::Approved(Grant {
                    token: status.token.clone().ok_or_else(|| missing("token"))?,
                    grant_id: status.grant_id.clone().ok_or_else(|| missing("grant_id"))?,
                    fields: status
                        .fields_granted
                        .clone()
                        .ok_or_else(|| missing("fields_granted"))?,
                    expires_at: status.expires_at.ok_or_else(|| missing("expires_at"))?,
                    receipt: status.receipt.clone().ok_or_else(|| missing("receipt"))?,
                    contact: status.contact_granted.clone(),
                    append_record: status.append_record_granted,
                })
            }
        }))
    }
}

/// An approved request: the token to read with and the owner's consent receipt.
#[derive(Clone, PartialEq, Eq)]
pub struct Grant {
    /// The grant token, DPoP-bound to the key the request was made with. Keep it as secret
    /// as the key: with the key, it reads the owner's data.
    pub token: String,
    /// The grant's id (the token's `jti`); the owner sees it in `kluis grant list`.
    pub grant_id: String,
    /// The fields granted: all that were asked for, or fewer.
    pub fields: Vec<String>,
    /// When the grant ends, Unix seconds.
    pub expires_at: i64,
    /// The consent receipt, a compact JWS signed by the vault; check it with
    /// [`crate::Client::verify_receipt`] and keep it as evidence of consent.
    pub receipt: String,
    /// The contact right granted (all or part of the one asked for), if any.
    pub contact: Option<ContactRight>,
    /// Whether the right to append to the business's relationship record was granted.
    pub append_record: bool,
}

impl fmt::Debug for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Grant")
            .field("token", &"<redacted>")
            .field("grant_id", &self.grant_id)
            .field("fields", &self.fields)
            .field("expires_at", &self.expires_at)
            .field("receipt", &self.receipt)
            .field("contact", &self.contact)
            .field("append_record", &self.append_record)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(status: RequestStatus) -> AccessRequestStatus {
        AccessRequestStatus::undecided("r_abc", status, vec!["/profile/email".into()], 1)
    }

    #[test]
    fn statuses_become_decisions() {
        assert_eq!(
            Decision::from_status(&status(RequestStatus::Pending)).unwrap(),
            None
        );
        assert_eq!(
            Decision::from_status(&status(RequestStatus::Expired)).unwrap(),
            Some(Decision::Expired)
        );
        let mut denied = status(RequestStatus::Denied);
        denied.reason = Some("no thanks".into());
        assert_eq!(
            Decision::from_status(&denied).unwrap(),
            Some(Decision::Denied {
                reason: Some("no thanks".into())
            })
        );
        let mut approved = status(RequestStatus::Approved);
        assert!(matches!(
            Decision::from_status(&approved),
            Err(Error::Decode(_))
        ));
        approved.token = Some("secret-token".into());
        approved.grant_id = Some("g_1".into());
        approved.fields_granted = Some(vec!["/profile/email".into()]);
        approved.expires_at = Some(99);
        approved.receipt = Some("r.e.c".into());
        let Some(Decision::Approved(grant)) = Decision::from_status(&approved).unwrap() else {
            panic!("approved");
        };
        assert_eq!(grant.fields, ["/profile/email"]);
        assert!(!grant.append_record);
        assert!(!format!("{grant:?}").contains("secret-token"));
        approved.append_record_granted = true;
        let Some(Decision::Approved(grant)) = Decision::from_status(&approved).unwrap() else {
            panic!("approved");
        };
        assert!(grant.append_record);
    }

    #[test]
    fn bodies_are_checked_before_sending() {
        let key = BusinessKey::from_seed(&[3; 32]);
        let business = BusinessInfo::new("webshop.example", "De Webwinkel")
            .with_contact("Privacy Office")
            .with_email("privacy@webshop.example")
            .with_address("Keizersgracht 1, Amsterdam")
            .with_phone("+31 20 123 4567");
        let ok = AccessRequest::new(business.clone(), ["/profile/email"], "delivery")
            .category("contract")
            .duration(Duration::from_secs(3600));
        let body = ok.body(&key).unwrap();
        assert_eq!(body.jwk, key.public_jwk());
        assert_eq!(body.duration_secs, Some(3600));
        assert_eq!(body.purpose_category.as_deref(), Some("contract"));
        let body_business = serde_json::to_value(&body.business).unwrap();
        assert_eq!(body_business["address"], "Keizersgracht 1, Amsterdam");
        assert_eq!(body_business["phone"], "+31 20 123 4567");
        let without = |edit: fn(&mut BusinessInfo)| {
            let mut b = business.clone();
            edit(&mut b);
            AccessRequest::new(b, ["/profile/email"], "x")
        };
        for (member, bad) in [
            ("contact", without(|b| b.contact = None)),
            ("email", without(|b| b.email = Some(" ".into()))),
            ("address", without(|b| b.address = None)),
            ("phone", without(|b| b.phone = None)),
        ] {
            let Err(Error::Invalid(message)) = bad.body(&key) else {
                panic!("{member} missing, yet the body was made");
            };
            assert!(message.contains(&format!("business.{member}")), "{message}");
        }
        let none: [&str; 0] = [];
        let append_only = AccessRequest::new(business.clone(), none, "warranty papers")
            .append_record(true)
            .body(&key)
            .unwrap();
        assert!(append_only.append_record && append_only.fields.is_empty());
        assert_eq!(
            serde_json::to_value(&append_only).unwrap()["append_record"],
            true
        );
        for bad in [
            AccessRequest::new(business.clone(), none, "x"),
            AccessRequest::new(business.clone(), none, "x").append_record(false),
            AccessRequest::new(business, ["profile/email"], "x").append_record(true),
        ] {
            assert!(matches!(bad.body(&key), Err(Error::Invalid(_))));
        }
    }
}
