//! Access requests at rest: a business's request waits until the owner approves it (a grant
//! bound to the business's key, and a signed consent receipt) or denies it. Id, status and times
//! stay in the clear so polls are cheap; who asked, for what, why, and the outcome are sealed.

use std::fmt;

use rusqlite::OptionalExtension;
use serde::{Deserialize, Serialize};

use kluis_core::Pointer;
use kluis_core::contact::ContactRight;
use kluis_core::grant::{self, Grant, GrantId, GrantRequest};
use kluis_core::receipt::{ReceiptContext, ReceiptId, build_receipt, sign_receipt};
use kluis_core::request::{CheckedRequest, RequestId};
use kluis_core::wire::{AccessRequestBody, AccessRequestStatus, RequestStatus};

use crate::crypto;
use crate::error::{Result, StoreError};
use crate::vault::Vault;

/// At most this many requests wait for the owner at once; more are refused with
/// [`StoreError::TooMany`], so a business cannot bury the owner in requests.
pub const MAX_PENDING_REQUESTS: usize = 50;

/// A request the owner has not decided on lapses after seven days (it then reads as expired).
pub const REQUEST_LIFETIME_SECS: i64 = 7 * 24 * 3600;

/// The longest reason the owner can give for a denial, in characters.
pub const MAX_REASON_CHARS: usize = 500;

const TABLE: &str = "access_requests";

/// What the owner approves of a request's contact right.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ContactChoice {
    /// All of it (nothing, if it asked for none).
    #[default]
    AsAsked,
    /// Only these of its channels and topics (none left: no contact right).
    Keep(ContactRight),
    /// None of it.
    Refuse,
}

/// What the owner approves of a request's right to append to the business's relationship
/// record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AppendChoice {
    /// Granted if it was asked for.
    #[default]
    AsAsked,
    /// Not granted, even if it was asked for.
    Refuse,
}

/// What the owner decided. Only the vault and the business (by polling) ever see the token.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "lowercase")]
pub enum Decision {
    Approved {
        grant_id: GrantId,
        /// The fields granted: all those asked for, or a part.
        fields: Vec<Pointer>,
        /// When the grant ends (Unix seconds).
        expires_at: i64,
        /// The DPoP-bound grant token.
        token: String,
        receipt_id: ReceiptId,
        /// The consent receipt, a compact JWS.
        receipt: String,
        /// The contact right granted: all of the one asked for, or a part.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        contact: Option<ContactRight>,
        /// Whether the right to append to the business's relationship record was granted.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        append_record: bool,
    },
    Denied {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
}

impl fmt::Debug for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Approved {
                grant_id,
                fields,
                expires_at,
                receipt_id,
                ..
            } => f
                .debug_struct("Approved")
                .field("grant_id", grant_id)
                .field("fields", fields)
                .field("expires_at", expires_at)
                .field("token", &"<redacted>")
                .field("receipt_id", receipt_id)
                .finish_non_exhaustive(),
            Self::Denied { reason } => f.debug_struct("Denied").field("reason", reason).finish(),
        }
    }
}

/// A request as the vault keeps it, for the owner's eyes (`kluis requests`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredRequest {
    pub id: RequestId,
    /// As of the `now` it was read at: a pending request past `expires_at` reads as expired.
    /// Derived, so not part of the sealed record.
    #[serde(skip, default = "pending")]
    pub status: RequestStatus,
    pub created_at: i64,
    /// When the request lapses if undecided.
    pub expires_at: i64,
    pub decided_at: Option<i64>,
    pub request: CheckedRequest,
    pub decision: Option<Decision>,
}

fn pending() -> RequestStatus {
    RequestStatus::Pending
}

impl StoredRequest {
    /// The request as the business sees it when polling.
    pub fn to_status(&self) -> AccessRequestStatus {
        let mut status = AccessRequestStatus::undecided(
            self.id.as_str(),
            self.status,
            self.request.fields_text(),
            self.expires_at,
        );
        status.contact_requested = self.request.contact.clone();
        status.append_record_requested = self.request.append_record;
        match &self.decision {
            Some(Decision::Approved {
                grant_id,
                fields,
                expires_at,
                token,
                receipt,
                contact,
                append_record,
                ..
            }) => {
                status.fields_granted = Some(fields.iter().map(ToString::to_string).collect());
                status.contact_granted = contact.clone();
                status.append_record_granted = *append_record;
                status.grant_id = Some(grant_id.to_string());
                status.token = Some(token.clone());
                status.expires_at = Some(*expires_at);
                status.receipt = Some(receipt.clone());
            }
            Some(Decision::Denied { reason }) => status.reason = reason.clone(),
            None => {}
        }
        status
    }

    /// The status kept in the clear column: what was decided, never "expired".
    fn stored_status(&self) -> &'static str {
        match self.decision {
            None => "pending",
            Some(Decision::Approved { .. }) => "approved",
            Some(Decision::Denied { .. }) => "denied",
        }
    }

    fn with_status_at(mut self, now: i64) -> Self {
        self.status = match self.decision {
            Some(Decision::Approved { .. }) => RequestStatus::Approved,
            Some(Decision::Denied { .. }) => RequestStatus::Denied,
            None if self.expires_at <= now => RequestStatus::Expired,
            None => RequestStatus::Pending,
        };
        self
    }
}

impl Vault {
    /// Checks and records a business's request; it waits for the owner's decision.
    pub fn create_access_request(
        &self,
        body: &AccessRequestBody,
        now: i64,
    ) -> Result<AccessRequestStatus> {
        let request = CheckedRequest::check(body)?;
        let mut random = [0u8; 16];
        crypto::fill_random(&mut random)?;
        let stored = StoredRequest {
            id: RequestId::from_random(random),
            status: RequestStatus::Pending,
            created_at: now,
            expires_at: now + REQUEST_LIFETIME_SECS,
            decided_at: None,
            request,
            decision: None,
        };
        self.in_transaction(|v| {
            let waiting: i64 = v
                .conn
                .prepare_cached(
                    "SELECT count(*) FROM access_requests
                     WHERE status = 'pending' AND expires_at > ?1",
                )?
                .query_row([now], |r| r.get(0))?;
            if waiting >= MAX_PENDING_REQUESTS as i64 {
                return Err(StoreError::TooMany(format!(
                    "{MAX_PENDING_REQUESTS} access requests are already waiting for the owner; try again later"
                )));
            }
            v.conn
                .prepare_cached(
                    "INSERT INTO access_requests (id, status, created_at, expires_at, sealed)
                     VALUES (?1, 'pending', ?2, ?3, ?4)",
                )?
                .execute((
                    stored.id.as_str(),
                    stored.created_at,
                    stored.expires_at,
                    v.seal_request(&stored)?,
                ))?;
            if stored.request.callback_url.is_some() {
                // The decision will be signed with it; the business may fetch its public half
                // (`GET /.well-known/webhook-key`) before the decision arrives.
                v.ensure_webhook_key()?;
            }
            Ok(())
        })?;
        Ok(stored.with_status_at(now).to_status())
    }

    /// Where a request stands, as the business polls it. A malformed id is `Invalid`, an
    /// unknown one `NotFound`.
    pub fn access_request(&self, id: &str, now: i64) -> Result<AccessRequestStatus> {
        Ok(self.stored_request(id, now)?.to_status())
    }

    /// One request in full, for the owner.
    pub fn stored_request(&self, id: &str, now: i64) -> Result<StoredRequest> {
        let id = RequestId::parse(id)?;
        let row = self
            .conn
            .prepare_cached(&format!("{SELECT} WHERE id = ?1"))?
            .query_row([id.as_str()], Row::read)
            .optional()?
            .ok_or_else(|| StoreError::not_found(format!("there is no request {id}")))?;
        Ok(self.open_request(row)?.with_status_at(now))
    }

    /// Every request, newest first.
    pub fn access_requests(&self, now: i64) -> Result<Vec<StoredRequest>> {
        let rows = self
            .conn
            .prepare_cached(&format!("{SELECT} ORDER BY created_at DESC, id"))?
            .query_map([], Row::read)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter()
            .map(|row| Ok(self.open_request(row)?.with_status_at(now)))
            .collect()
    }

    /// Approves a pending request: all the fields it asked for, or `fields` (each inside one
    /// asked for), for `lifetime_secs` or the duration asked. In one transaction: the grant,
    /// bound to the business's key (`cnf.jkt`) with the business as audience; the consent
    /// receipt, signed by the vault's current key; and the decision on the request.
    pub fn approve_request(
        &self,
        id: &str,
        fields: Option<Vec<Pointer>>,
        lifetime_secs: Option<i64>,
        now: i64,
    ) -> Result<(AccessRequestStatus, Grant)> {
        self.approve_request_with(
            id,
            fields,
            ContactChoice::AsAsked,
            AppendChoice::AsAsked,
            lifetime_secs,
            now,
        )
    }

    /// [`Vault::approve_request`], with all, part or none of the contact right it asked for,
    /// and with or without the right to append to its relationship record it asked for. When
    /// nothing is left to grant, the approval is refused and the request stays pending.
    pub fn approve_request_with(
        &self,
        id: &str,
        fields: Option<Vec<Pointer>>,
        contact: ContactChoice,
        append: AppendChoice,
        lifetime_secs: Option<i64>,
        now: i64,
    ) -> Result<(AccessRequestStatus, Grant)> {
        self.in_transaction(|v| {
            let mut stored = v.stored_request(id, now)?;
            ensure_pending(&stored)?;
            let asked = &stored.request;
            let contact = match (contact, &asked.contact) {
                (ContactChoice::AsAsked, asked) => asked.clone(),
                (ContactChoice::Refuse, _) | (ContactChoice::Keep(_), None) => None,
                (ContactChoice::Keep(keep), Some(asked)) => asked.narrowed_to(&keep),
            };
            let append_record = asked.append_record && append == AppendChoice::AsAsked;
            let fields = grant::narrow(&asked.fields, fields.as_deref()).map_err(|outside| {
                kluis_core::Error::invalid(format!(
                    "request {} did not ask for {}; approve fields it asked for ({}) or parts of them",
                    stored.id,
                    kluis_core::pointer::join(&outside, ", "),
                    kluis_core::pointer::join(&asked.fields, ", "),
                ))
            })?;
            let (grant, token) = v.create_grant(
                GrantRequest {
                    audience: asked.business.id.clone(),
                    fields,
                    purpose: asked.purpose.clone(),
                    purpose_category: asked.purpose_category.clone(),
                    lifetime_secs: lifetime_secs.unwrap_or(asked.duration_secs),
                    key_thumbprint: Some(asked.key_thumbprint.clone()),
                    contact: contact.clone(),
                    append_record,
                },
                now,
            )?;
            let mut random = [0u8; 16];
            crypto::fill_random(&mut random)?;
            let receipt_id = ReceiptId::from_random(random);
            let context = ReceiptContext::new(&v.issuer(), receipt_id.clone(), now);
            let receipt = build_receipt(&grant, &asked.business, &context);
            let (kid, key) = v.signing_key()?;
            let jws = sign_receipt(&receipt, &key, &kid);
            v.insert_receipt(&receipt_id, &grant.id, now, &jws)?;
            stored.decided_at = Some(now);
            stored.decision = Some(Decision::Approved {
                grant_id: grant.id.clone(),
                fields: grant.fields.clone(),
                expires_at: grant.expires_at,
                token,
                receipt_id,
                receipt: jws,
                contact,
                append_record,
            });
            v.save_decision(&stored)?;
            Ok((stored.with_status_at(now).to_status(), grant))
        })
    }

    /// Denies a pending request, with an optional reason the business will read.
    pub fn deny_request(
        &self,
        id: &str,
        reason: Option<String>,
        now: i64,
    ) -> Result<AccessRequestStatus> {
        let reason = check_reason(reason)?;
        self.in_transaction(|v| {
            let mut stored = v.stored_request(id, now)?;
            ensure_pending(&stored)?;
            stored.decided_at = Some(now);
            stored.decision = Some(Decision::Denied { reason });
            v.save_decision(&stored)?;
            Ok(stored.with_status_at(now).to_status())
        })
    }

    fn save_decision(&self, stored: &StoredRequest) -> Result<()> {
        let changed = self
            .conn
            .prepare_cached(
                "UPDATE access_requests SET status = ?2, decided_at = ?3, sealed = ?4
                 WHERE id = ?1 AND status = 'pending'",
            )?
            .execute((
                stored.id.as_str(),
                stored.stored_status(),
                stored.decided_at,
                self.seal_request(stored)?,
            ))?;
        if changed != 1 {
            return Err(StoreError::Conflict(format!(
                "request {} was decided meanwhile",
                stored.id
            )));
        }
        Ok(())
    }

    fn seal_request(&self, stored: &StoredRequest) -> Result<Vec<u8>> {
        let plain = zeroize::Zeroizing::new(
            serde_json::to_vec(stored)
                .map_err(|_| StoreError::Crypto("a request could not be encoded"))?,
        );
        self.unlocked
            .keys
            .seal(&self.place(TABLE, stored.id.as_str().as_bytes()), &plain)
    }

    fn open_request(&self, row: Row) -> Result<StoredRequest> {
        let id = &row.id;
        let plain = self
            .unlocked
            .keys
            .open(&self.place(TABLE, id.as_bytes()), &row.sealed)?;
        let stored: StoredRequest = serde_json::from_slice(&plain)
            .map_err(|_| StoreError::Tampered(format!("request {id} is unreadable")))?;
        // The clear columns answer polls; they must agree with the sealed record.
        if stored.id.as_str() != id
            || stored.stored_status() != row.status
            || stored.created_at != row.created_at
            || stored.expires_at != row.expires_at
            || stored.decided_at != row.decided_at
        {
            return Err(StoreError::Tampered(format!(
                "request {id}'s status columns disagree with its sealed record"
            )));
        }
        Ok(stored)
    }
}

const SELECT: &str =
    "SELECT id, status, created_at, expires_at, decided_at, sealed FROM access_requests";

/// One row of `access_requests` as [`SELECT`] reads it: the clear columns and the sealed record.
struct Row {
    id: String,
    status: String,
    created_at: i64,
    expires_at: i64,
    decided_at: Option<i64>,
    sealed: Vec<u8>,
}

impl Row {
    fn read(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: r.get(0)?,
            status: r.get(1)?,
            created_at: r.get(2)?,
            expires_at: r.get(3)?,
            decided_at: r.get(4)?,
            sealed: r.get(5)?,
        })
    }
}

fn ensure_pending(stored: &StoredRequest) -> Result<()> {
    let already = match stored.status {
        RequestStatus::Pending => return Ok(()),
        RequestStatus::Approved => "was already approved",
        RequestStatus::Denied => "was already denied",
        RequestStatus::Expired => "has lapsed undecided; the business can ask again",
    };
    Err(StoreError::Conflict(format!(
        "request {} {already}",
        stored.id
    )))
}

fn check_reason(reason: Option<String>) -> Result<Option<String>> {
    let Some(reason) = reason else {
        return Ok(None);
    };
    let reason = reason.trim();
    if reason.is_empty() {
        return Ok(None);
    }
    if reason.chars().count() > MAX_REASON_CHARS || reason.chars().any(char::is_control) {
        return Err(kluis_core::Error::invalid(format!(
            "a reason must be at most {MAX_REASON_CHARS} characters without control characters"
        ))
        .into());
    }
    Ok(Some(reason.to_owned()))
}

#[cfg(test)]
mod tests;
