//! The vault's Ed25519 signing keys: one current key signs new grant tokens; retired keys stay
//! published while tokens they signed can still be used.

use ed25519_dalek::{SigningKey, VerifyingKey};
use rusqlite::OptionalExtension;
use zeroize::Zeroizing;

use kluis_core::jose::{Jwk, Jwks};

use crate::crypto::Secret32;
use crate::error::{Result, StoreError};
use crate::vault::Vault;

const TABLE: &str = "signing_keys";

impl Vault {
    /// Makes a new signing key current and retires the previous one. Composes with a caller's
    /// [`Vault::in_transaction`].
    pub fn rotate_signing_key(&self, now: i64) -> Result<String> {
        self.in_transaction(|v| v.rotate_signing_key_now(now))
    }

    fn rotate_signing_key_now(&self, now: i64) -> Result<String> {
        let tx = &self.conn;
        tx.execute(
            "UPDATE signing_keys SET retired_at = ?1 WHERE retired_at IS NULL",
            [now],
        )?;
        let seed = Secret32::random()?;
        let key = SigningKey::from_bytes(seed.bytes());
        let jwk = Jwk::from_verifying_key(&key.verifying_key());
        let kid = jwk.kid.clone().expect("from_verifying_key sets kid");
        let sealed = self
            .unlocked
            .keys
            .seal(&self.place(TABLE, kid.as_bytes()), seed.bytes())?;
        tx.execute(
            "INSERT INTO signing_keys (kid, public_jwk, sealed, created_at) VALUES (?1, ?2, ?3, ?4)",
            (
                &kid,
                serde_json::to_string(&jwk).expect("a JWK serializes"),
                &sealed,
                now,
            ),
        )?;
        Ok(kid)
    }

    /// Creates the first signing key if the vault has none (new vaults, or ones made before
    /// grants existed).
    pub(crate) fn ensure_signing_key(&self, now: i64) -> Result<()> {
        let count: i64 = self.conn.query_row(
            "SELECT count(*) FROM signing_keys WHERE retired_at IS NULL",
            [],
            |r| r.get(0),
        )?;
        if count == 0 {
            self.rotate_signing_key(now)?;
        }
        Ok(())
    }

    /// The current signing key and its `kid`.
    pub fn signing_key(&self) -> Result<(String, SigningKey)> {
        let row: Option<(String, Vec<u8>)> = self
            .conn
            .prepare_cached(
                "SELECT kid, sealed FROM signing_keys WHERE retired_at IS NULL
                 ORDER BY created_at DESC LIMIT 1",
            )?
            .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let (kid, sealed) =
            row.ok_or_else(|| StoreError::not_found("the vault has no signing key"))?;
        let key = self.unseal_signing_key(&kid, &sealed)?;
        Ok((kid, key))
    }

    /// The public keys to publish at `now`: the current one, and retired ones while an
    /// unexpired, unrevoked grant signed by them exists. Each is derived from its sealed
    /// private key, so a key slipped into the table is not published.
    pub fn jwks(&self, now: i64) -> Result<Jwks> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT kid FROM signing_keys k
             WHERE retired_at IS NULL
                OR EXISTS (SELECT 1 FROM grants g WHERE g.kid = k.kid
                           AND g.expires_at > ?1 AND g.revoked_at IS NULL)
             ORDER BY created_at DESC",
        )?;
        let kids = stmt
            .query_map([now], |r| r.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let mut keys = Vec::with_capacity(kids.len());
        for kid in kids {
            let public = self
                .verifying_key(&kid)?
                .ok_or_else(|| StoreError::Tampered("a signing key vanished".into()))?;
            let jwk = Jwk::from_verifying_key(&public);
            if jwk.kid.as_deref() != Some(kid.as_str()) {
                return Err(StoreError::Tampered(
                    "a signing key's id does not match the key".into(),
                ));
            }
            keys.push(jwk);
        }
        Ok(Jwks { keys })
    }

    /// The public key with `kid`, retired or not, checked against its sealed private half so a
    /// swapped public key is noticed.
    pub fn verifying_key(&self, kid: &str) -> Result<Option<VerifyingKey>> {
        let row: Option<(String, Vec<u8>)> = self
            .conn
            .prepare_cached("SELECT public_jwk, sealed FROM signing_keys WHERE kid = ?1")?
            .query_row([kid], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let Some((jwk, sealed)) = row else {
            return Ok(None);
        };
        let public = self.unseal_signing_key(kid, &sealed)?.verifying_key();
        let published: Jwk = serde_json::from_str(&jwk)
            .map_err(|_| StoreError::Tampered("a published key is unreadable".into()))?;
        if published.verifying_key().ok() != Some(public) {
            return Err(StoreError::Tampered(
                "a published key does not match its private key".into(),
            ));
        }
        Ok(Some(public))
    }

    fn unseal_signing_key(&self, kid: &str, sealed: &[u8]) -> Result<SigningKey> {
        let seed = self
            .unlocked
            .keys
            .open(&self.place(TABLE, kid.as_bytes()), sealed)?;
        let seed: Zeroizing<[u8; 32]> = Zeroizing::new(
            seed.as_slice()
                .try_into()
                .map_err(|_| StoreError::Tampered("a signing key has the wrong length".into()))?,
        );
        Ok(SigningKey::from_bytes(&seed))
    }
}
