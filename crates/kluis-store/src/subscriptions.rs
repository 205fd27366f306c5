//! Businesses' subscriptions to change notifications: each belongs to one grant and lives and
//! dies with it. The URL, payload kind and `whsec_` secrets are sealed; the id, grant and times
//! are in the clear. Also the vault's Ed25519 webhook key (the `v1a` signatures, `whpk_`).

use ed25519_dalek::SigningKey;
use rusqlite::OptionalExtension;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use kluis_core::grant::GrantId;
use kluis_core::notify::{self, MAX_SUBSCRIPTIONS_PER_GRANT, NewSubscription, Payload};
use kluis_core::webhook::Secret;

use crate::crypto::{self, Secret32};
use crate::error::{Result, StoreError};
use crate::vault::Vault;

const TABLE: &str = "subscriptions";
const WEBHOOK_KEY: &str = "webhook_key";
/// How long a rotated-out secret still signs.
pub const ROTATION_OVERLAP_SECS: i64 = 24 * 60 * 60;

/// A subscription as stored: who it is for, where it goes, how it is signed.
#[derive(Clone, Debug)]
pub struct Subscription {
    pub id: String,
    pub grant_id: GrantId,
    pub url: String,
    pub payload: Payload,
    pub created_at: i64,
    pub deleted_at: Option<i64>,
    /// The secrets that sign now: the current one first, then one rotated out less than
    /// [`ROTATION_OVERLAP_SECS`] ago.
    pub secrets: Vec<Secret>,
}

#[derive(Serialize, Deserialize)]
struct Sealed {
    grant_id: GrantId,
    url: String,
    payload: Payload,
    /// The current secret.
    secret: Vec<u8>,
    /// The previous secret and until when it still signs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    previous: Option<(Vec<u8>, i64)>,
}

impl Drop for Sealed {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.secret.zeroize();
        if let Some((old, _)) = &mut self.previous {
            old.zeroize();
        }
    }
}

impl Vault {
    /// Subscribes `grant` (live: the caller checked its token) to its changes. Returns the
    /// subscription and its secret, which is shown to the business only this once.
    pub fn create_subscription(
        &self,
        grant: &GrantId,
        new: NewSubscription,
        now: i64,
    ) -> Result<Subscription> {
        self.in_transaction(|v| {
            let live = v.subscriptions_of(grant, now)?;
            if live.len() >= MAX_SUBSCRIPTIONS_PER_GRANT {
                return Err(StoreError::Conflict(format!(
                    "a grant may hold at most {MAX_SUBSCRIPTIONS_PER_GRANT} subscriptions; delete one first"
                )));
            }
            v.ensure_webhook_key()?;
            let mut random = [0u8; 16];
            crypto::fill_random(&mut random)?;
            let id = notify::subscription_id(random);
            let secret = Secret::random().map_err(|_| StoreError::Crypto("no randomness"))?;
            let sealed = Sealed {
                grant_id: grant.clone(),
                url: new.url.clone(),
                payload: new.payload,
                secret: secret.bytes().to_vec(),
                previous: None,
            };
            v.conn.execute(
                "INSERT INTO subscriptions (id, grant_id, created_at, sealed) VALUES (?1, ?2, ?3, ?4)",
                (&id, grant.as_str(), now, v.seal_subscription(&id, &sealed)?),
            )?;
            Ok(Subscription {
                id,
                grant_id: grant.clone(),
                url: new.url,
                payload: new.payload,
                created_at: now,
                deleted_at: None,
                secrets: vec![secret],
            })
        })
    }

    /// One subscription, deleted or not.
    pub fn subscription(&self, id: &str, now: i64) -> Result<Subscription> {
        self.conn
            .prepare_cached(
                "SELECT id, grant_id, created_at, deleted_at, sealed FROM subscriptions WHERE id = ?1",
            )?
            .query_row([id], row)
            .optional()?
            .ok_or_else(|| StoreError::not_found(format!("there is no subscription {id}")))
            .and_then(|r| self.open_subscription(r, now))
    }

    /// A grant's subscriptions that were not deleted, oldest first.
    pub fn subscriptions_of(&self, grant: &GrantId, now: i64) -> Result<Vec<Subscription>> {
        let rows = self
            .conn
            .prepare_cached(
                "SELECT id, grant_id, created_at, deleted_at, sealed FROM subscriptions
                 WHERE grant_id = ?1 AND deleted_at IS NULL ORDER BY created_at, id",
            )?
            .query_map([grant.as_str()], row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter()
            .map(|r| self.open_subscription(r, now))
            .collect()
    }

    /// Every subscription not deleted whose grant is neither revoked nor expired at `now`, by grant.
    pub fn live_subscriptions(&self, now: i64) -> Result<Vec<Subscription>> {
        let rows = self
            .conn
            .prepare_cached(
                "SELECT s.id, s.grant_id, s.created_at, s.deleted_at, s.sealed
                 FROM subscriptions s JOIN grants g ON g.id = s.grant_id
                 WHERE s.deleted_at IS NULL AND g.revoked_at IS NULL AND g.expires_at > ?1
                 ORDER BY s.grant_id, s.created_at, s.id",
            )?
            .query_map([now], row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter()
            .map(|r| self.open_subscription(r, now))
            .collect()
    }

    /// Whether any subscription could be told of a change (cheap: owner actions ask it first).
    pub fn has_live_subscriptions(&self, now: i64) -> Result<bool> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM subscriptions s JOIN grants g ON g.id = s.grant_id
                 WHERE s.deleted_at IS NULL AND g.revoked_at IS NULL AND g.expires_at > ?1)",
            )?
            .query_row([now], |r| r.get(0))?)
    }

    /// Subscriptions not deleted whose grant expired by `now` without revocation, and which
    /// have not been sent `grant.expired` yet (no event of that type in their stream).
    pub fn subscriptions_of_expired_grants(&self, now: i64) -> Result<Vec<Subscription>> {
        let rows = self
            .conn
            .prepare_cached(
                "SELECT s.id, s.grant_id, s.created_at, s.deleted_at, s.sealed
                 FROM subscriptions s JOIN grants g ON g.id = s.grant_id
                 WHERE s.deleted_at IS NULL AND g.revoked_at IS NULL AND g.expires_at <= ?1
                   AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.stream = s.id AND o.final = 1)",
            )?
            .query_map([now], row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter()
            .map(|r| self.open_subscription(r, now))
            .collect()
    }

    /// Ends a subscription of `grant`; a subscription of another grant is not found.
    pub fn delete_subscription(&self, grant: &GrantId, id: &str, now: i64) -> Result<()> {
        let changed = self
            .conn
            .prepare_cached(
                "UPDATE subscriptions SET deleted_at = ?3
                 WHERE id = ?1 AND grant_id = ?2 AND deleted_at IS NULL",
            )?
            .execute((id, grant.as_str(), now))?;
        if changed == 0 {
            return Err(StoreError::not_found(format!(
                "this grant has no subscription {id}"
            )));
        }
        Ok(())
    }

    /// Gives a subscription of `grant` a new secret; the old one keeps signing for
    /// [`ROTATION_OVERLAP_SECS`]. Returns the subscription with both.
    pub fn rotate_subscription_secret(
        &self,
        grant: &GrantId,
        id: &str,
        now: i64,
    ) -> Result<Subscription> {
        self.in_transaction(|v| {
            let current = v.subscription(id, now)?;
            if &current.grant_id != grant || current.deleted_at.is_some() {
                return Err(StoreError::not_found(format!(
                    "this grant has no subscription {id}"
                )));
            }
            let secret = Secret::random().map_err(|_| StoreError::Crypto("no randomness"))?;
            let sealed = Sealed {
                grant_id: current.grant_id.clone(),
                url: current.url.clone(),
                payload: current.payload,
                secret: secret.bytes().to_vec(),
                previous: Some((
                    current.secrets[0].bytes().to_vec(),
                    now + ROTATION_OVERLAP_SECS,
                )),
            };
            v.conn.execute(
                "UPDATE subscriptions SET sealed = ?2 WHERE id = ?1",
                (id, v.seal_subscription(id, &sealed)?),
            )?;
            v.subscription(id, now)
        })
    }

    /// The vault's webhook signing key (created with the first subscription).
    pub fn webhook_key(&self) -> Result<SigningKey> {
        let sealed = self
            .meta(WEBHOOK_KEY)?
            .ok_or_else(|| StoreError::not_found("the vault has no webhook key yet"))?;
        let seed = self
            .unlocked
            .keys
            .open(&self.place("meta", WEBHOOK_KEY.as_bytes()), &sealed)?;
        let seed: [u8; 32] = seed[..]
            .try_into()
            .map_err(|_| StoreError::Tampered("the webhook key is unreadable".into()))?;
        Ok(SigningKey::from_bytes(&seed))
    }

    /// Creates the webhook key if the vault has none.
    pub fn ensure_webhook_key(&self) -> Result<()> {
        if self.meta(WEBHOOK_KEY)?.is_some() {
            return Ok(());
        }
        let seed = Secret32::random()?;
        let sealed = self
            .unlocked
            .keys
            .seal(&self.place("meta", WEBHOOK_KEY.as_bytes()), seed.bytes())?;
        self.conn.execute(
            "INSERT OR IGNORE INTO meta (name, value) VALUES (?1, ?2)",
            (WEBHOOK_KEY, sealed),
        )?;
        Ok(())
    }

    fn seal_subscription(&self, id: &str, sealed: &Sealed) -> Result<Vec<u8>> {
        let plain = Zeroizing::new(
            serde_json::to_vec(sealed)
                .map_err(|_| StoreError::Crypto("a subscription could not be encoded"))?,
        );
        self.unlocked
            .keys
            .seal(&self.place(TABLE, id.as_bytes()), &plain)
    }

    fn open_subscription(&self, row: Row, now: i64) -> Result<Subscription> {
        let plain = self
            .unlocked
            .keys
            .open(&self.place(TABLE, row.id.as_bytes()), &row.sealed)?;
        let sealed: Sealed = serde_json::from_slice(&plain)
            .map_err(|_| StoreError::Tampered(format!("subscription {} is unreadable", row.id)))?;
        if sealed.grant_id.as_str() != row.grant_id {
            return Err(StoreError::Tampered(format!(
                "subscription {}'s grant column disagrees with its sealed record",
                row.id
            )));
        }
        let mut secrets = vec![Secret::from_bytes(&sealed.secret)];
        if let Some((old, until)) = &sealed.previous
            && *until > now
        {
            secrets.push(Secret::from_bytes(old));
        }
        Ok(Subscription {
            id: row.id,
            grant_id: sealed.grant_id.clone(),
            url: sealed.url.clone(),
            payload: sealed.payload,
            created_at: row.created_at,
            deleted_at: row.deleted_at,
            secrets,
        })
    }
}

struct Row {
    id: String,
    grant_id: String,
    created_at: i64,
    deleted_at: Option<i64>,
    sealed: Vec<u8>,
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok(Row {
        id: r.get(0)?,
        grant_id: r.get(1)?,
        created_at: r.get(2)?,
        deleted_at: r.get(3)?,
        sealed: r.get(4)?,
    })
}
