//! Consent receipts at rest: one per approved access request, sealed (the receipt names the
//! business, the purpose and the owner's pairwise subject), listed with the current state of
//! the grant they record, so a revocation shows against the consent it ends.

use kluis_core::grant::{Grant, GrantId};
use kluis_core::receipt::{ConsentReceipt, ReceiptId, verify_receipt};

use crate::error::{Result, StoreError};
use crate::vault::Vault;

const TABLE: &str = "receipts";

/// A receipt as the vault keeps it, with the grant it records as that grant stands now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredReceipt {
    pub id: ReceiptId,
    pub grant_id: GrantId,
    /// When it was issued (Unix seconds): the moment of consent.
    pub created_at: i64,
    /// The signed receipt, a compact JWS typed `kluis-receipt+jwt`.
    pub jws: String,
    /// The receipt's claims, read from `jws` after checking its signature.
    pub receipt: ConsentReceipt,
    /// The grant now: `revoked_at` and `status(now)` tell whether the consent still holds.
    pub grant: Grant,
}

impl Vault {
    /// Records a signed receipt. Runs inside the caller's transaction.
    pub(crate) fn insert_receipt(
        &self,
        id: &ReceiptId,
        grant: &GrantId,
        now: i64,
        jws: &str,
    ) -> Result<()> {
        let sealed = self
            .unlocked
            .keys
            .seal(&self.place(TABLE, id.as_str().as_bytes()), jws.as_bytes())?;
        self.conn
            .prepare_cached(
                "INSERT INTO receipts (id, grant_id, created_at, sealed) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute((id.as_str(), grant.as_str(), now, &sealed))?;
        Ok(())
    }

    /// Every receipt, newest first. Each one's signature is checked against the vault key that
    /// made it (retired keys included), so an altered receipt is reported as tampering.
    pub fn receipts(&self) -> Result<Vec<StoredReceipt>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, grant_id, created_at, sealed FROM receipts ORDER BY created_at DESC, id",
        )?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, Vec<u8>>(3)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter()
            .map(|(id, grant_id, created_at, sealed)| {
                self.open_receipt(&id, &grant_id, created_at, &sealed)
            })
            .collect()
    }

    /// The ids of the receipts recording `grant` (none for grants made with `kluis grant create`).
    pub fn receipt_ids(&self, grant: &GrantId) -> Result<Vec<ReceiptId>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id FROM receipts WHERE grant_id = ?1 ORDER BY created_at, id",
        )?;
        let ids = stmt
            .query_map([grant.as_str()], |r| r.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        ids.iter()
            .map(|id| ReceiptId::parse(id).map_err(|_| tampered(id)))
            .collect()
    }

    fn open_receipt(
        &self,
        id: &str,
        grant_id: &str,
        created_at: i64,
        sealed: &[u8],
    ) -> Result<StoredReceipt> {
        let plain = self
            .unlocked
            .keys
            .open(&self.place(TABLE, id.as_bytes()), sealed)?;
        let jws = String::from_utf8(plain.to_vec()).map_err(|_| tampered(id))?;
        let receipt = verify_receipt(&jws, |kid| self.verifying_key(kid).ok().flatten())
            .map_err(|_| tampered(id))?;
        if receipt.consent_receipt_id != id
            || receipt.grant_id != grant_id
            || receipt.consent_timestamp != created_at
        {
            return Err(tampered(id));
        }
        let grant_id = GrantId::parse(grant_id).map_err(|_| tampered(id))?;
        Ok(StoredReceipt {
            id: ReceiptId::parse(id).map_err(|_| tampered(id))?,
            grant: self.grant(&grant_id)?,
            grant_id,
            created_at,
            jws,
            receipt,
        })
    }
}

fn tampered(id: &str) -> StoreError {
    StoreError::Tampered(format!(
        "receipt {id} does not match its signature or its columns"
    ))
}
