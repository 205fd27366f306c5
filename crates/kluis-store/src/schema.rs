//! Numbered migrations, applied in one IMMEDIATE transaction; the version is `PRAGMA user_version`.
//! Shipped migrations are never edited: add a new one.

use std::cell::Cell;
use std::time::{Duration, Instant};

use rusqlite::{Connection, TransactionBehavior};

use crate::error::{Result, StoreError};

/// Each entry is one migration; its number is its index + 1.
const MIGRATIONS: &[&str] = &[
    // 1: the vault foundation. Names are keyed hashes, values are sealed: nothing readable.
    "CREATE TABLE meta (name TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
     CREATE TABLE fields (key BLOB PRIMARY KEY, sealed BLOB NOT NULL) WITHOUT ROWID;
     CREATE TABLE field_ancestors (
         ancestor BLOB NOT NULL,
         key BLOB NOT NULL REFERENCES fields(key) ON DELETE CASCADE,
         PRIMARY KEY (ancestor, key)
     ) WITHOUT ROWID;
     CREATE INDEX field_ancestors_by_key ON field_ancestors(key);",
    // 2: grants, the vault's signing keys and the access log. Grant ids, key ids and the times
    // a grant runs are in the clear (the server checks them on every call); who a grant is for,
    // which fields and why are sealed.
    "CREATE TABLE signing_keys (
         kid TEXT PRIMARY KEY,
         public_jwk TEXT NOT NULL,
         sealed BLOB NOT NULL,
         created_at INTEGER NOT NULL,
         retired_at INTEGER
     );
     CREATE TABLE grants (
         id TEXT PRIMARY KEY,
         kid TEXT NOT NULL REFERENCES signing_keys(kid),
         issued_at INTEGER NOT NULL,
         expires_at INTEGER NOT NULL,
         revoked_at INTEGER,
         token_hash BLOB NOT NULL,
         state_mac BLOB NOT NULL,
         sealed BLOB NOT NULL
     );
     CREATE INDEX grants_by_kid ON grants(kid, expires_at);
     CREATE TABLE access_log (
         seq INTEGER PRIMARY KEY,
         sealed BLOB NOT NULL,
         mac BLOB NOT NULL
     );",
    // 3: access requests from businesses and the consent receipts their approval yields. Ids,
    // status and times are in the clear (the API answers polls from them); who asked, for what,
    // why, and the decision's token and receipt are sealed.
    "CREATE TABLE access_requests (
         id TEXT PRIMARY KEY,
         status TEXT NOT NULL,
         created_at INTEGER NOT NULL,
         expires_at INTEGER NOT NULL,
         decided_at INTEGER,
         sealed BLOB NOT NULL
     );
     CREATE INDEX access_requests_by_status ON access_requests(status, expires_at);
     CREATE TABLE receipts (
         id TEXT PRIMARY KEY,
         grant_id TEXT NOT NULL REFERENCES grants(id),
         created_at INTEGER NOT NULL,
         sealed BLOB NOT NULL
     );
     CREATE INDEX receipts_by_grant ON receipts(grant_id);",
    // 4: a grant the owner narrowed keeps its token; the fields it still covers are sealed here
    // (NULL: the token's own fields) and bound into the grant's state MAC.
    "ALTER TABLE grants ADD COLUMN narrowed BLOB;",
    // 5: change notifications. A subscription belongs to one grant; its URL, payload kind and
    // secrets are sealed. The outbox holds the events, each written in the same transaction as
    // the change that caused it: `stream` is the subscription (or access request) whose order
    // it keeps, `change_id` groups one change's events, `final` marks the last event of a stream (its grant
    // ended), the body is sealed. How deliveries went
    // is kept apart, in `deliveries.db`, so that delivery bookkeeping never touches this file.
    // A grant's read budget (reads a day; NULL: the default) is in the clear, like its times.
    "CREATE TABLE subscriptions (
         id TEXT PRIMARY KEY,
         grant_id TEXT NOT NULL REFERENCES grants(id),
         created_at INTEGER NOT NULL,
         deleted_at INTEGER,
         sealed BLOB NOT NULL
     );
     CREATE INDEX subscriptions_by_grant ON subscriptions(grant_id);
     CREATE TABLE outbox (
         seq INTEGER PRIMARY KEY,
         id TEXT NOT NULL UNIQUE,
         stream TEXT NOT NULL,
         change_id TEXT NOT NULL,
         created_at INTEGER NOT NULL,
         final INTEGER NOT NULL DEFAULT 0,
         sealed BLOB NOT NULL
     );
     CREATE INDEX outbox_by_stream ON outbox(stream, seq);
     CREATE INDEX outbox_by_change ON outbox(change_id);
     ALTER TABLE grants ADD COLUMN read_budget INTEGER;",
    // 6: contacts counted against the owner's caps, saved by the server's ledger in sealed
    // batches (each the contacts counted since the one before); `newest_ms` is in the clear so
    // batches older than any cap's window can be dropped.
    "CREATE TABLE contact_batches (
         id INTEGER PRIMARY KEY,
         newest_ms INTEGER NOT NULL,
         sealed BLOB NOT NULL
     );
     CREATE INDEX contact_batches_by_time ON contact_batches(newest_ms);",
];

/// The newest schema this build understands.
pub const LATEST: i64 = MIGRATIONS.len() as i64;

/// Brings the database up to [`LATEST`]; refuses one written by newer code.
pub fn migrate(conn: &mut Connection) -> Result<()> {
    migrate_with(conn, MIGRATIONS)
}

/// Brings a database up to the last of `migrations` (migration *n* is entry *n − 1*, the
/// version `PRAGMA user_version`) in one IMMEDIATE transaction; refuses one written by newer
/// code. For `vault.db` and the side databases (`deliveries.db`, `inbox.db`) alike.
pub(crate) fn migrate_with(conn: &mut Connection, migrations: &[&str]) -> Result<()> {
    let latest = migrations.len() as i64;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let found: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if found > latest {
        return Err(StoreError::TooNew {
            found,
            supported: latest,
        });
    }
    for (index, sql) in migrations.iter().enumerate().skip(found as usize) {
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", index as i64 + 1)?;
    }
    tx.commit()?;
    Ok(())
}

/// How long a connection waits for another connection's write lock before it gives up with
/// "database is locked".
const LOCK_WAIT: Duration = Duration::from_secs(5);
/// How often it tries again meanwhile.
const LOCK_POLL: Duration = Duration::from_micros(100);

thread_local! {
    /// When the current wait for a lock began (a wait runs on one thread, start to end).
    static WAITING_SINCE: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// The busy handler of every Kluis connection. SQLite's own (`busy_timeout`) sleeps longer and
/// longer between attempts, up to 100 ms; a writer committing back to back (a bulk import, a
/// busy server's access-request connection) leaves the write lock free only for microseconds
/// between transactions, so those few attempts could all miss and `kluis grant revoke` fail
/// after 5 s. Trying every 100 µs finds a gap.
pub(crate) fn wait_for_lock(attempt: i32) -> bool {
    let now = Instant::now();
    let since = WAITING_SINCE.with(|since| {
        if attempt == 0 || since.get().is_none() {
            since.set(Some(now));
        }
        since.get().unwrap_or(now)
    });
    if now.duration_since(since) >= LOCK_WAIT {
        return false;
    }
    std::thread::sleep(LOCK_POLL);
    true
}

/// Opens (and creates, mode 0600 from the start) a database of its own beside `vault.db`
/// (`inbox.db`, `relationships.db`, `deliveries.db`) with the connection settings of every
/// Kluis connection (WAL, `synchronous=FULL`: what was confirmed survives a power loss), and
/// migrates it with `migrations`. Refuses a file written by a newer Kluis.
pub(crate) fn open_side(path: &std::path::Path, migrations: &[&str]) -> Result<Connection> {
    create_private(path)?;
    let mut conn = Connection::open(path)?;
    crate::vault::restrict_file(path)?;
    configure(&conn)?;
    migrate_with(&mut conn, migrations)?;
    Ok(conn)
}

/// Creates `path` readable by the owner only, before SQLite opens it, so it never exists with
/// a wider mode; an existing file is left as it is (and restricted after opening).
fn create_private(path: &std::path::Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .open(path)?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Connection settings every Kluis connection uses.
pub fn configure(conn: &Connection) -> Result<()> {
    conn.busy_handler(Some(wait_for_lock))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // FULL: an acknowledged write survives power loss, not only a process crash. Batches keep
    // the fsync cost per transaction, not per field.
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // 32 MiB of page cache per connection: holds the field index of a large vault in memory.
    conn.pragma_update(None, "cache_size", -32768)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(conn: &Connection) -> Vec<String> {
        let mut stmt = conn
            .prepare("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name")
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    #[test]
    fn step_by_step_equals_fresh() {
        let mut fresh = Connection::open_in_memory().unwrap();
        migrate(&mut fresh).unwrap();
        let mut stepped = Connection::open_in_memory().unwrap();
        for (index, sql) in MIGRATIONS.iter().enumerate() {
            stepped.execute_batch(sql).unwrap();
            stepped
                .pragma_update(None, "user_version", index as i64 + 1)
                .unwrap();
            // Re-running migrate on a partially migrated database must finish the job.
            let mut copy = Connection::open_in_memory().unwrap();
            for sql in &MIGRATIONS[..=index] {
                copy.execute_batch(sql).unwrap();
            }
            copy.pragma_update(None, "user_version", index as i64 + 1)
                .unwrap();
            migrate(&mut copy).unwrap();
            assert_eq!(schema(&copy), schema(&fresh));
        }
        migrate(&mut stepped).unwrap();
        assert_eq!(schema(&stepped), schema(&fresh));
    }

    #[test]
    fn a_newer_database_is_refused_untouched() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", LATEST + 1)
            .unwrap();
        let err = migrate(&mut conn).unwrap_err();
        assert!(matches!(err, StoreError::TooNew { .. }), "{err}");
        assert!(schema(&conn).is_empty());
    }
}
