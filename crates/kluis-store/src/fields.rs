//! The vault document on disk: one sealed row per leaf (a scalar, an array or an empty object),
//! looked up by a keyed hash of its pointer, with an ancestor index for subtree reads.

use rusqlite::{Connection, OptionalExtension};
use serde_json::{Map, Value};

use kluis_core::document;
use kluis_core::pointer::{self, Pointer};

use crate::error::{Result, StoreError};
use crate::vault::Vault;

const TABLE: &str = "fields";

/// Reads and writes of the vault document, field by field.
impl Vault {
    /// The value at `at`: a leaf, a whole subtree, or an element inside a stored array.
    pub fn get(&self, at: &Pointer) -> Result<Value> {
        self.find(&self.conn, at)?
            .ok_or_else(|| StoreError::not_found(format!("nothing is stored at {at}")))
    }

    /// Like [`Vault::get`], but `None` when nothing is stored there.
    pub fn find(&self, conn: &Connection, at: &Pointer) -> Result<Option<Value>> {
        if at.is_root() {
            return self.document().map(Some);
        }
        if let Some(value) = self.leaf(conn, at)? {
            return Ok(Some(value));
        }
        let below = self.subtree(conn, at)?;
        if !below.is_empty() {
            return Ok(Some(assemble(at, below)?));
        }
        // Inside a stored array (or past a scalar): find the leaf above and walk into it.
        for depth in (1..at.depth()).rev() {
            if let Some(value) = self.leaf(conn, &at.prefix(depth))? {
                let rest = Pointer::from_tokens(at.tokens()[depth..].iter().cloned());
                return Ok(rest.get(&value).cloned());
            }
        }
        Ok(None)
    }

    /// The whole document.
    pub fn document(&self) -> Result<Value> {
        let mut stmt = self.conn.prepare_cached("SELECT key, sealed FROM fields")?;
        let mut rows = stmt.query([])?;
        let mut leaves = Vec::new();
        while let Some(row) = rows.next()? {
            let key: Vec<u8> = row.get(0)?;
            let sealed: Vec<u8> = row.get(1)?;
            leaves.push(self.unseal(&key, &sealed)?);
        }
        assemble(&Pointer::root(), leaves)
    }

    /// Validates and stores `value` at `at`, replacing what was there.
    pub fn set(&self, at: &Pointer, value: Value) -> Result<()> {
        self.set_many(vec![(at.clone(), value)])
    }

    /// Several writes in one transaction: all of them land, or none. Composes with a caller's
    /// [`Vault::in_transaction`].
    pub fn set_many(&self, writes: Vec<(Pointer, Value)>) -> Result<()> {
        for (at, value) in &writes {
            document::validate_at(at, value)?;
        }
        self.in_transaction(|v| {
            for (at, value) in writes {
                if at.is_root() {
                    v.clear(&v.conn)?;
                }
                v.write(&v.conn, &at, value)?;
            }
            bump_generation(&v.conn)
        })
    }

    /// Removes what is stored at `at` and returns it. Composes with a caller's
    /// [`Vault::in_transaction`].
    pub fn unset(&self, at: &Pointer) -> Result<Value> {
        self.in_transaction(|v| {
            let old = if at.is_root() {
                let old = v.document()?;
                v.clear(&v.conn)?;
                Some(old)
            } else {
                v.remove(&v.conn, at)?
            };
            let old =
                old.ok_or_else(|| StoreError::not_found(format!("nothing is stored at {at}")))?;
            bump_generation(&v.conn)?;
            Ok(old)
        })
    }

    /// Replaces the whole document, atomically, after validating it.
    pub fn replace_document(&self, doc: Value) -> Result<()> {
        if !doc.is_object() {
            return Err(
                kluis_core::Error::invalid("a vault document must be a JSON object").into(),
            );
        }
        self.set_many(vec![(Pointer::root(), doc)])
    }

    /// SQLite's `PRAGMA data_version`: it changes whenever another connection (of this or any
    /// other process) has committed a change since this connection last looked, and never for
    /// this connection's own commits. Cheap (no I/O beyond the WAL index), so a cache can ask
    /// before every use whether anything may have moved under it.
    pub fn data_version(&self) -> Result<i64> {
        Ok(self
            .conn
            .prepare_cached("PRAGMA data_version")?
            .query_row([], |r| r.get(0))?)
    }

    /// A stamp that differs whenever anything may have changed in the database since it was
    /// last taken: another connection's commit (`data_version`) or a write through this one
    /// (SQLite's count of this connection's changed rows). A cache of anything read through
    /// this connection is valid while the stamp is the same.
    pub fn change_stamp(&self) -> Result<(i64, u64)> {
        Ok((self.data_version()?, self.conn.total_changes()))
    }

    /// A counter that changes with every committed write of the document, from any process.
    pub fn generation(&self) -> Result<i64> {
        Ok(self
            .conn
            .prepare_cached("SELECT value FROM meta WHERE name = 'generation'")?
            .query_row([], |r| r.get::<_, i64>(0))
            .optional()?
            .unwrap_or(0))
    }

    fn write(&self, conn: &Connection, at: &Pointer, value: Value) -> Result<()> {
        for depth in 1..at.depth() {
            let above = at.prefix(depth);
            let Some(mut stored) = self.leaf(conn, &above)? else {
                continue;
            };
            match &stored {
                Value::Object(map) if map.is_empty() => {
                    self.delete_leaf(conn, &above)?;
                }
                Value::Array(_) => {
                    let rest = Pointer::from_tokens(at.tokens()[depth..].iter().cloned());
                    rest.set(&mut stored, value).map_err(|_| {
                        kluis_core::Error::invalid(format!(
                            "cannot set {at}: the list at {above} has no such index (use - to append)"
                        ))
                    })?;
                    document::validate_at(&above, &stored)?;
                    return self.put_leaf(conn, &above, &stored);
                }
                _ => {
                    return Err(kluis_core::Error::invalid(format!(
                        "cannot set {at}: {above} holds a single value, not an object or a list"
                    ))
                    .into());
                }
            }
        }
        if let Some(depth) = document::list_depth(at) {
            // No stored list above (the loop would have returned): parents would be made as
            // objects where the rules want a list.
            let list = at.prefix(depth);
            return Err(kluis_core::Error::invalid(format!(
                "cannot set {at}: there is no list at {list} yet; set the whole list first, e.g. {list} = [...]"
            ))
            .into());
        }
        self.delete_leaf(conn, at)?;
        self.delete_subtree(conn, at)?;
        let mut leaves = Vec::new();
        pointer::leaves(at, &value, &mut leaves);
        // The root is never a leaf: an empty document simply has no rows.
        for (leaf_at, leaf) in leaves.into_iter().filter(|(p, _)| !p.is_root()) {
            self.put_leaf(conn, &leaf_at, &leaf)?;
        }
        Ok(())
    }

    fn remove(&self, conn: &Connection, at: &Pointer) -> Result<Option<Value>> {
        if let Some(old) = self.leaf(conn, at)? {
            self.delete_leaf(conn, at)?;
            return Ok(Some(old));
        }
        let below = self.subtree(conn, at)?;
        if !below.is_empty() {
            self.delete_subtree(conn, at)?;
            return Ok(Some(assemble(at, below)?));
        }
        for depth in (1..at.depth()).rev() {
            let above = at.prefix(depth);
            if let Some(mut stored) = self.leaf(conn, &above)? {
                let rest = Pointer::from_tokens(at.tokens()[depth..].iter().cloned());
                let old = rest.remove(&mut stored);
                if old.is_some() {
                    self.put_leaf(conn, &above, &stored)?;
                }
                return Ok(old);
            }
        }
        Ok(None)
    }

    fn clear(&self, conn: &Connection) -> Result<()> {
        conn.execute_batch("DELETE FROM field_ancestors; DELETE FROM fields;")?;
        Ok(())
    }

    fn key(&self, at: &Pointer) -> [u8; 32] {
        self.unlocked.keys.lookup(TABLE, &at.to_string())
    }

    fn leaf(&self, conn: &Connection, at: &Pointer) -> Result<Option<Value>> {
        let key = self.key(at);
        let sealed: Option<Vec<u8>> = conn
            .prepare_cached("SELECT sealed FROM fields WHERE key = ?1")?
            .query_row([&key[..]], |r| r.get(0))
            .optional()?;
        let Some(sealed) = sealed else {
            return Ok(None);
        };
        let (found_at, value) = self.unseal(&key, &sealed)?;
        if &found_at != at {
            return Err(StoreError::Tampered(
                "a field's name does not match its place".into(),
            ));
        }
        Ok(Some(value))
    }

    fn subtree(&self, conn: &Connection, at: &Pointer) -> Result<Vec<(Pointer, Value)>> {
        let ancestor = self.key(at);
        let mut stmt = conn.prepare_cached(
            "SELECT f.key, f.sealed FROM field_ancestors a JOIN fields f ON f.key = a.key
             WHERE a.ancestor = ?1",
        )?;
        let mut rows = stmt.query([&ancestor[..]])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let key: Vec<u8> = row.get(0)?;
            let sealed: Vec<u8> = row.get(1)?;
            let (leaf_at, value) = self.unseal(&key, &sealed)?;
            if !leaf_at.starts_with(at) || leaf_at == *at {
                return Err(StoreError::Tampered(
                    "the field index points outside its subtree".into(),
                ));
            }
            out.push((leaf_at, value));
        }
        Ok(out)
    }

    fn put_leaf(&self, conn: &Connection, at: &Pointer, value: &Value) -> Result<()> {
        let key = self.key(at);
        let plain = zeroize::Zeroizing::new(
            serde_json::to_vec(&(at, value))
                .map_err(|_| StoreError::Crypto("a value could not be encoded"))?,
        );
        let sealed = self.unlocked.keys.seal(&self.place(TABLE, &key), &plain)?;
        conn.prepare_cached(
            "INSERT INTO fields (key, sealed) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET sealed = excluded.sealed",
        )?
        .execute((&key[..], &sealed))?;
        let mut index = conn.prepare_cached(
            "INSERT OR IGNORE INTO field_ancestors (ancestor, key) VALUES (?1, ?2)",
        )?;
        for depth in 1..at.depth() {
            index.execute((&self.key(&at.prefix(depth))[..], &key[..]))?;
        }
        Ok(())
    }

    fn delete_leaf(&self, conn: &Connection, at: &Pointer) -> Result<()> {
        conn.prepare_cached("DELETE FROM fields WHERE key = ?1")?
            .execute([&self.key(at)[..]])?;
        Ok(())
    }

    fn delete_subtree(&self, conn: &Connection, at: &Pointer) -> Result<()> {
        conn.prepare_cached(
            "DELETE FROM fields WHERE key IN (SELECT key FROM field_ancestors WHERE ancestor = ?1)",
        )?
        .execute([&self.key(at)[..]])?;
        Ok(())
    }

    fn unseal(&self, key: &[u8], sealed: &[u8]) -> Result<(Pointer, Value)> {
        let plain = self.unlocked.keys.open(&self.place(TABLE, key), sealed)?;
        serde_json::from_slice(&plain)
            .map_err(|_| StoreError::Tampered("a stored field is not readable JSON".into()))
    }
}

fn bump_generation(conn: &Connection) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO meta (name, value) VALUES ('generation', 1)
         ON CONFLICT (name) DO UPDATE SET value = value + 1",
    )?
    .execute([])?;
    Ok(())
}

/// Builds the subtree at `base` from leaves stored under it.
fn assemble(base: &Pointer, leaves: Vec<(Pointer, Value)>) -> Result<Value> {
    let mut out = Value::Object(Map::new());
    for (at, value) in leaves {
        let relative = Pointer::from_tokens(at.tokens()[base.depth()..].iter().cloned());
        relative.set(&mut out, value).map_err(|_| {
            StoreError::Tampered("stored fields overlap in an impossible way".into())
        })?;
    }
    Ok(out)
}
