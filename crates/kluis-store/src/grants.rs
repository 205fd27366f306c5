//! Grants at rest: created with a signed token, listed, revoked, narrowed, given a read budget.
//! Who, what and why are sealed; the id, key id, times and budget stay in the clear (MAC'd) so
//! every API call can check them cheaply.

use std::collections::HashMap;

use rusqlite::OptionalExtension;

use kluis_core::Pointer;
use kluis_core::budget;
use kluis_core::grant::{self, Grant, GrantId, GrantRequest};
use kluis_core::token::encode_grant;

use crate::crypto;
use crate::error::{Result, StoreError};
use crate::vault::Vault;

const TABLE: &str = "grants";

/// The facts about a grant the grant API checks on every call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrantState {
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    /// Keyed hash of the one token issued for the grant ([`crate::Unlocked::token_hash`]).
    pub token_hash: [u8; 32],
    /// The fields the grant still covers if the owner narrowed it (its token names more);
    /// `None`: the token's fields.
    pub narrowed: Option<Vec<Pointer>>,
    /// Reads served per UTC day, if the owner set it; `None`: the default
    /// ([`kluis_core::budget::effective`]).
    pub read_budget: Option<u32>,
}

const NARROWED: &str = "grants.narrowed";

impl Vault {
    /// The token issuer of this vault (`iss`).
    pub fn issuer(&self) -> String {
        self.unlocked.issuer()
    }

    /// Records a new grant and returns it with its signed token. Composes with a caller's
    /// [`Vault::in_transaction`].
    pub fn create_grant(&self, request: GrantRequest, now: i64) -> Result<(Grant, String)> {
        let request = request.validated()?;
        let mut random = [0u8; 16];
        crypto::fill_random(&mut random)?;
        let (kid, key) = self.signing_key()?;
        let grant = Grant {
            id: GrantId::from_random(random),
            subject: self.unlocked.pairwise_subject(request.audience.as_str()),
            audience: request.audience,
            fields: request.fields,
            purpose: request.purpose,
            purpose_category: request.purpose_category,
            issued_at: now,
            expires_at: now + request.lifetime_secs,
            revoked_at: None,
            key_thumbprint: request.key_thumbprint,
            kid,
            contact: request.contact,
            append_record: request.append_record,
        };
        let token = encode_grant(&grant.claims(&self.issuer()), &key, &grant.kid);
        let token_hash = self.unlocked.token_hash(&token);
        let sealed = self.seal_grant(&grant)?;
        // A transaction of its own, or part of the caller's (an approved access request).
        self.in_transaction(|v| {
            v.conn.execute(
                "INSERT INTO grants (id, kid, issued_at, expires_at, token_hash, state_mac, sealed)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                (
                    grant.id.as_str(),
                    &grant.kid,
                    grant.issued_at,
                    grant.expires_at,
                    &token_hash[..],
                    &v.state_mac(
                        grant.id.as_str(),
                        grant.expires_at,
                        None,
                        &token_hash,
                        None,
                        None,
                    )[..],
                    &sealed,
                ),
            )?;
            Ok(())
        })?;
        Ok((grant, token))
    }

    /// One grant, by id.
    pub fn grant(&self, id: &GrantId) -> Result<Grant> {
        let row: Option<(Option<i64>, i64, Vec<u8>)> = self
            .conn
            .prepare_cached("SELECT revoked_at, expires_at, sealed FROM grants WHERE id = ?1")?
            .query_row([id.as_str()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?;
        let (revoked_at, expires_at, sealed) =
            row.ok_or_else(|| StoreError::not_found(format!("there is no grant {id}")))?;
        self.open_grant(id.as_str(), revoked_at, expires_at, &sealed)
    }

    /// All grants, newest first.
    pub fn grants(&self) -> Result<Vec<Grant>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, revoked_at, expires_at, sealed FROM grants ORDER BY issued_at DESC, id",
        )?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get::<_, Vec<u8>>(3)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter()
            .map(|(id, revoked, expires, sealed)| self.open_grant(&id, revoked, expires, &sealed))
            .collect()
    }

    /// Revokes a grant from `now` on. Returns the grant and whether this call revoked it (false
    /// if it already was). Composes with a caller's [`Vault::in_transaction`].
    pub fn revoke_grant(&self, id: &GrantId, now: i64) -> Result<(Grant, bool)> {
        self.in_transaction(|v| {
            let mut grant = v.grant(id)?;
            if grant.revoked_at.is_some() {
                return Ok((grant, false));
            }
            let state = v
                .grant_state(id.as_str())?
                .ok_or_else(|| StoreError::not_found(format!("there is no grant {id}")))?;
            grant.revoked_at = Some(now);
            let sealed_narrowed = v.sealed_narrowed(id.as_str())?;
            let mac = v.state_mac(
                id.as_str(),
                state.expires_at,
                Some(now),
                &state.token_hash,
                sealed_narrowed.as_deref(),
                state.read_budget,
            );
            v.conn.execute(
                "UPDATE grants SET revoked_at = ?2, state_mac = ?3, sealed = ?4 WHERE id = ?1",
                (id.as_str(), now, &mac[..], v.seal_grant(&grant)?),
            )?;
            Ok((grant, true))
        })
    }

    /// Narrows a live grant to `keep` (each inside a field it covers now): the business's next
    /// read returns only those, with the token it has. Returns the grant as it is now. Composes
    /// with a caller's [`Vault::in_transaction`].
    pub fn narrow_grant(&self, id: &GrantId, keep: Vec<Pointer>, now: i64) -> Result<Grant> {
        let keep = grant::normalize(keep);
        if keep.is_empty() {
            return Err(kluis_core::Error::invalid(
                "a narrowed grant must keep at least one field; revoke it to end it",
            )
            .into());
        }
        self.in_transaction(|v| {
            let mut grant = v.grant(id)?;
            if grant.status(now) != grant::Status::Active {
                return Err(StoreError::Conflict(format!(
                    "grant {id} is no longer active; only a live grant can be narrowed"
                )));
            }
            let keep = grant::narrow(&grant.fields, Some(&keep)).map_err(|outside| {
                kluis_core::Error::invalid(format!(
                    "grant {id} does not cover {}; keep fields it covers ({})",
                    kluis_core::pointer::join(&outside, ", "),
                    kluis_core::pointer::join(&grant.fields, ", "),
                ))
            })?;
            if keep == grant.fields {
                return Err(StoreError::Conflict(format!(
                    "grant {id} already covers exactly these fields"
                )));
            }
            let state = v
                .grant_state(id.as_str())?
                .ok_or_else(|| StoreError::not_found(format!("there is no grant {id}")))?;
            let plain = zeroize::Zeroizing::new(
                serde_json::to_vec(&keep)
                    .map_err(|_| StoreError::Crypto("a field list could not be encoded"))?,
            );
            let sealed_narrowed = v
                .unlocked
                .keys
                .seal(&v.place(NARROWED, id.as_str().as_bytes()), &plain)?;
            grant.fields = keep;
            let mac = v.state_mac(
                id.as_str(),
                state.expires_at,
                state.revoked_at,
                &state.token_hash,
                Some(&sealed_narrowed),
                state.read_budget,
            );
            v.conn.execute(
                "UPDATE grants SET narrowed = ?2, state_mac = ?3, sealed = ?4 WHERE id = ?1",
                (
                    id.as_str(),
                    &sealed_narrowed,
                    &mac[..],
                    v.seal_grant(&grant)?,
                ),
            )?;
            Ok(grant)
        })
    }

    /// Sets a live grant's read budget: `Some(reads a day)` (1 to
    /// [`kluis_core::budget::MAX_READS_PER_DAY`]) or `None` for the default. The grant API
    /// applies it to the next read. Returns the grant and the budget it had; when that is the
    /// one asked for, nothing is written. Composes with a caller's [`Vault::in_transaction`].
    pub fn set_read_budget(
        &self,
        id: &GrantId,
        read_budget: Option<u32>,
        now: i64,
    ) -> Result<(Grant, Option<u32>)> {
        let read_budget = read_budget.map(budget::check).transpose()?;
        self.in_transaction(|v| {
            let grant = v.grant(id)?;
            if grant.status(now) != grant::Status::Active {
                return Err(StoreError::Conflict(format!(
                    "grant {id} is no longer active; only a live grant's read budget can be set"
                )));
            }
            let state = v
                .grant_state(id.as_str())?
                .ok_or_else(|| StoreError::not_found(format!("there is no grant {id}")))?;
            if state.read_budget == read_budget {
                return Ok((grant, state.read_budget));
            }
            let mac = v.state_mac(
                id.as_str(),
                state.expires_at,
                state.revoked_at,
                &state.token_hash,
                v.sealed_narrowed(id.as_str())?.as_deref(),
                read_budget,
            );
            v.conn.execute(
                "UPDATE grants SET read_budget = ?2, state_mac = ?3 WHERE id = ?1",
                (id.as_str(), read_budget, &mac[..]),
            )?;
            Ok((grant, state.read_budget))
        })
    }

    /// The read budgets the owner set, by grant (grants on the default are not named). From
    /// the clear column, for showing; the grant API checks each against the grant's MAC.
    pub fn read_budgets(&self) -> Result<HashMap<GrantId, u32>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id, read_budget FROM grants WHERE read_budget IS NOT NULL")?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, n)| Some((GrantId::parse(&id).ok()?, u32::try_from(n).ok()?)))
            .collect())
    }

    /// Expiry, revocation, narrowing and read budget of a grant, read fresh from the database
    /// and checked against their MAC; `None` if unknown, `Tampered` if edited.
    pub fn grant_state(&self, id: &str) -> Result<Option<GrantState>> {
        type Row = (
            i64,
            Option<i64>,
            [u8; 32],
            Vec<u8>,
            Option<Vec<u8>>,
            Option<i64>,
        );
        let row: Option<Row> = self
            .conn
            .prepare_cached(
                "SELECT expires_at, revoked_at, token_hash, state_mac, narrowed, read_budget
                 FROM grants WHERE id = ?1",
            )?
            .query_row([id], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            })
            .optional()?;
        let Some((expires_at, revoked_at, token_hash, mac, narrowed, budget)) = row else {
            return Ok(None);
        };
        let edited =
            || StoreError::Tampered(format!("grant {id}'s expiry or revocation was edited"));
        let read_budget = budget
            .map(|n| u32::try_from(n).map_err(|_| edited()))
            .transpose()?;
        let expected = self.state_mac(
            id,
            expires_at,
            revoked_at,
            &token_hash,
            narrowed.as_deref(),
            read_budget,
        );
        if mac[..] != expected {
            return Err(edited());
        }
        let narrowed = match narrowed {
            None => None,
            Some(sealed) => {
                let plain = self
                    .unlocked
                    .keys
                    .open(&self.place(NARROWED, id.as_bytes()), &sealed)
                    .map_err(|_| edited())?;
                Some(serde_json::from_slice(&plain).map_err(|_| edited())?)
            }
        };
        Ok(Some(GrantState {
            expires_at,
            revoked_at,
            token_hash,
            narrowed,
            read_budget,
        }))
    }

    fn sealed_narrowed(&self, id: &str) -> Result<Option<Vec<u8>>> {
        Ok(self
            .conn
            .prepare_cached("SELECT narrowed FROM grants WHERE id = ?1")?
            .query_row([id], |r| r.get(0))
            .optional()?
            .flatten())
    }

    /// The MAC over a grant's clear state. A narrowing and a read budget are bound in when
    /// there is one, so a grant with neither keeps the MAC it was written with. (A sealed
    /// narrowing is at least 40 bytes and comes first, so the two cannot be taken for each other.)
    fn state_mac(
        &self,
        id: &str,
        expires_at: i64,
        revoked_at: Option<i64>,
        token_hash: &[u8; 32],
        sealed_narrowed: Option<&[u8]>,
        read_budget: Option<u32>,
    ) -> [u8; 32] {
        let revoked = revoked_at.map_or([0xff; 8], i64::to_be_bytes);
        let expires = expires_at.to_be_bytes();
        let budget = read_budget.map(u32::to_be_bytes);
        let mut parts: Vec<&[u8]> = vec![id.as_bytes(), &expires, &revoked, token_hash];
        if let Some(sealed) = sealed_narrowed {
            parts.push(sealed);
        }
        if let Some(budget) = &budget {
            parts.extend([b"read-budget".as_slice(), budget]);
        }
        self.unlocked.keys.tag("grant-state", &parts)
    }

    fn seal_grant(&self, grant: &Grant) -> Result<Vec<u8>> {
        let plain = zeroize::Zeroizing::new(
            serde_json::to_vec(grant)
                .map_err(|_| StoreError::Crypto("a grant could not be encoded"))?,
        );
        self.unlocked
            .keys
            .seal(&self.place(TABLE, grant.id.as_str().as_bytes()), &plain)
    }

    fn open_grant(
        &self,
        id: &str,
        revoked_at: Option<i64>,
        expires_at: i64,
        sealed: &[u8],
    ) -> Result<Grant> {
        let plain = self
            .unlocked
            .keys
            .open(&self.place(TABLE, id.as_bytes()), sealed)?;
        let grant: Grant = serde_json::from_slice(&plain)
            .map_err(|_| StoreError::Tampered("a stored grant is unreadable".into()))?;
        // The clear columns drive the hot path; they must agree with the sealed record.
        if grant.id.as_str() != id
            || grant.expires_at != expires_at
            || grant.revoked_at != revoked_at
        {
            return Err(StoreError::Tampered(format!(
                "grant {id}'s status columns disagree with its sealed record"
            )));
        }
        Ok(grant)
    }
}
