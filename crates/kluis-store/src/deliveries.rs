//! How deliveries went, in a database of its own (`deliveries.db` beside `vault.db`): the
//! dispatcher commits its bookkeeping (thousands of rows a second under load) here, so the
//! vault's database, and the grant API's caches that follow its `PRAGMA data_version`, never
//! see it. Only ids, states, counts and times are kept: no body, URL or secret.
//!
//! An outbox event without a row here has not been tried yet. Streams (subscriptions, request
//! callbacks) without a row are active.

use std::collections::HashMap;
use std::path::Path;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

use crate::error::Result;
use crate::schema;

/// The file beside `vault.db`.
pub const DELIVERIES_FILE: &str = "deliveries.db";

const MIGRATIONS: &[&str] = &["CREATE TABLE deliveries (
         seq INTEGER PRIMARY KEY,
         state TEXT NOT NULL,
         attempts INTEGER NOT NULL,
         next_at_ms INTEGER,
         last_at_ms INTEGER,
         last_result TEXT,
         done_at_ms INTEGER
     );
     CREATE INDEX deliveries_by_state ON deliveries(state);
     CREATE TABLE streams (
         stream TEXT PRIMARY KEY,
         state TEXT NOT NULL,
         since_ms INTEGER NOT NULL,
         reason TEXT NOT NULL
     ) WITHOUT ROWID;"];

/// Where one event stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeliveryState {
    /// Not tried yet, or tried and to be tried again at `next_at_ms`.
    Pending,
    /// Acknowledged with a 2xx.
    Delivered,
    /// Every attempt of the schedule failed; the owner may send it again.
    Dead,
    /// Not sent, and never will be: its grant ended, or lost a field it names, or the
    /// subscription was deleted or ended by its receiver.
    Cancelled,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Dead => "dead",
            DeliveryState::Cancelled => "cancelled",
        }
    }

    fn parse(text: &str) -> Self {
        match text {
            "delivered" => DeliveryState::Delivered,
            "dead" => DeliveryState::Dead,
            "cancelled" => DeliveryState::Cancelled,
            _ => DeliveryState::Pending,
        }
    }

    /// Whether nothing more will be done (unless the owner replays a dead one).
    pub fn is_done(self) -> bool {
        !matches!(self, DeliveryState::Pending)
    }
}

/// One event's delivery record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    pub seq: i64,
    pub state: DeliveryState,
    pub attempts: u32,
    /// When the next attempt is due (pending after a failure).
    pub next_at_ms: Option<i64>,
    pub last_at_ms: Option<i64>,
    /// The last attempt's outcome in words: an HTTP status, "timeout", "refused: …".
    pub last_result: Option<String>,
    pub done_at_ms: Option<i64>,
}

impl Delivery {
    pub fn untried(seq: i64) -> Self {
        Self {
            seq,
            state: DeliveryState::Pending,
            attempts: 0,
            next_at_ms: None,
            last_at_ms: None,
            last_result: None,
            done_at_ms: None,
        }
    }
}

/// A stream that is not active.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamState {
    /// An event went dead: nothing more is sent until the owner replays it.
    Paused,
    /// The receiver answered 410 Gone: nothing more is sent, ever.
    Ended,
}

impl StreamState {
    pub fn as_str(self) -> &'static str {
        match self {
            StreamState::Paused => "paused",
            StreamState::Ended => "ended",
        }
    }
}

/// A stream's state and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamStatus {
    pub state: StreamState,
    pub since_ms: i64,
    pub reason: String,
}

/// A connection to `deliveries.db`.
pub struct Deliveries {
    conn: Connection,
}

impl Deliveries {
    /// Opens (and creates, mode 0600) the deliveries database of the vault in `dir`.
    pub fn open(dir: &Path) -> Result<Self> {
        let conn = schema::open_side(&dir.join(DELIVERIES_FILE), MIGRATIONS)?;
        Ok(Self { conn })
    }

    /// The streams that are not active, read without writing anything (no migration, no
    /// lock): for the grant API's listing. Without a `deliveries.db` yet, none.
    pub fn stopped_streams(dir: &Path) -> Result<HashMap<String, StreamStatus>> {
        let path = dir.join(DELIVERIES_FILE);
        if !path.is_file() {
            return Ok(HashMap::new());
        }
        let conn = Connection::open_with_flags(
            &path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(std::time::Duration::from_secs(2))?;
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version == 0 {
            return Ok(HashMap::new());
        }
        Self { conn }.streams()
    }

    /// Changes when another connection committed (see `PRAGMA data_version`).
    pub fn data_version(&self) -> Result<i64> {
        Ok(self
            .conn
            .query_row("PRAGMA data_version", [], |r| r.get(0))?)
    }

    /// Every delivery record.
    pub fn all(&self) -> Result<HashMap<i64, Delivery>> {
        self.query("SELECT seq, state, attempts, next_at_ms, last_at_ms, last_result, done_at_ms FROM deliveries", [])
    }

    /// The records of events not finished (pending with a failed attempt behind them).
    pub fn unfinished(&self) -> Result<HashMap<i64, Delivery>> {
        self.query(
            "SELECT seq, state, attempts, next_at_ms, last_at_ms, last_result, done_at_ms FROM deliveries WHERE state = 'pending'",
            [],
        )
    }

    /// The events from `seq` on that are done (delivered, dead or cancelled).
    pub fn done_from(&self, seq: i64) -> Result<Vec<i64>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT seq FROM deliveries WHERE seq >= ?1 AND state != 'pending'")?;
        let rows = stmt
            .query_map([seq], |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<i64>>>()?;
        Ok(rows)
    }

    /// The records of some events (those without one are left out).
    pub fn of(&self, seqs: &[i64]) -> Result<HashMap<i64, Delivery>> {
        let mut out = HashMap::with_capacity(seqs.len());
        let mut stmt = self.conn.prepare_cached(
            "SELECT seq, state, attempts, next_at_ms, last_at_ms, last_result, done_at_ms FROM deliveries WHERE seq = ?1",
        )?;
        for seq in seqs {
            if let Some(d) = stmt.query_row([seq], delivery).optional()? {
                out.insert(*seq, d);
            }
        }
        Ok(out)
    }

    fn query<P: rusqlite::Params>(&self, sql: &str, params: P) -> Result<HashMap<i64, Delivery>> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        let rows = stmt
            .query_map(params, delivery)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows.into_iter().map(|d| (d.seq, d)).collect())
    }

    /// Writes delivery records and stream states in one transaction (one flush for a batch).
    pub fn write(
        &mut self,
        deliveries: &[Delivery],
        streams: &[(String, Option<StreamStatus>)],
    ) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        {
            let mut put = tx.prepare_cached(
                "INSERT OR REPLACE INTO deliveries
                 (seq, state, attempts, next_at_ms, last_at_ms, last_result, done_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            for d in deliveries {
                put.execute((
                    d.seq,
                    d.state.as_str(),
                    d.attempts,
                    d.next_at_ms,
                    d.last_at_ms,
                    &d.last_result,
                    d.done_at_ms,
                ))?;
            }
            let mut set = tx.prepare_cached(
                "INSERT OR REPLACE INTO streams (stream, state, since_ms, reason) VALUES (?1, ?2, ?3, ?4)",
            )?;
            let mut clear = tx.prepare_cached("DELETE FROM streams WHERE stream = ?1")?;
            for (stream, status) in streams {
                match status {
                    Some(s) => set.execute((stream, s.state.as_str(), s.since_ms, &s.reason))?,
                    None => clear.execute([stream])?,
                };
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Streams that are not active.
    pub fn streams(&self) -> Result<HashMap<String, StreamStatus>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT stream, state, since_ms, reason FROM streams")?;
        let rows = stmt
            .query_map([], |r| {
                let state: String = r.get(1)?;
                Ok((
                    r.get::<_, String>(0)?,
                    StreamStatus {
                        state: if state == "ended" {
                            StreamState::Ended
                        } else {
                            StreamState::Paused
                        },
                        since_ms: r.get(2)?,
                        reason: r.get(3)?,
                    },
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows.into_iter().collect())
    }

    /// Makes dead events pending again (all, or those of `streams`) and resumes the paused
    /// streams among them; returns how many events will be sent again. An ended stream stays
    /// ended.
    pub fn replay_dead(
        &mut self,
        streams: Option<&[String]>,
        seqs_of: impl Fn(&str) -> Vec<i64>,
    ) -> Result<usize> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let replayed = match streams {
            None => {
                let n = tx.execute(
                    "UPDATE deliveries SET state = 'pending', attempts = 0, next_at_ms = NULL
                     WHERE state = 'dead'",
                    [],
                )?;
                tx.execute("DELETE FROM streams WHERE state = 'paused'", [])?;
                n
            }
            Some(streams) => {
                let mut n = 0;
                for stream in streams {
                    for seq in seqs_of(stream) {
                        n += tx.execute(
                            "UPDATE deliveries SET state = 'pending', attempts = 0, next_at_ms = NULL
                             WHERE seq = ?1 AND state = 'dead'",
                            [seq],
                        )?;
                    }
                    tx.execute(
                        "DELETE FROM streams WHERE stream = ?1 AND state = 'paused'",
                        [stream],
                    )?;
                }
                n
            }
        };
        tx.commit()?;
        Ok(replayed)
    }
}

fn delivery(r: &rusqlite::Row<'_>) -> rusqlite::Result<Delivery> {
    Ok(Delivery {
        seq: r.get(0)?,
        state: DeliveryState::parse(&r.get::<_, String>(1)?),
        attempts: r.get(2)?,
        next_at_ms: r.get(3)?,
        last_at_ms: r.get(4)?,
        last_result: r.get(5)?,
        done_at_ms: r.get(6)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_replay_resumes_paused_streams() {
        let dir = tempfile::tempdir().unwrap();
        let mut d = Deliveries::open(dir.path()).unwrap();
        let mut dead = Delivery::untried(2);
        dead.state = DeliveryState::Dead;
        dead.attempts = 10;
        dead.last_result = Some("answered 500".into());
        let mut ok = Delivery::untried(1);
        ok.state = DeliveryState::Delivered;
        ok.attempts = 1;
        let paused = StreamStatus {
            state: StreamState::Paused,
            since_ms: 5,
            reason: "event msg_x went dead".into(),
        };
        d.write(
            &[ok.clone(), dead.clone()],
            &[("sub_a".into(), Some(paused.clone()))],
        )
        .unwrap();
        let again = Deliveries::open(dir.path()).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(DELIVERIES_FILE))
                .unwrap()
                .permissions();
            assert_eq!(mode.mode() & 0o777, 0o600);
        }
        assert_eq!(again.all().unwrap()[&2], dead);
        assert_eq!(again.streams().unwrap()["sub_a"], paused);
        assert!(again.unfinished().unwrap().is_empty());
        assert_eq!(
            d.replay_dead(Some(&["sub_a".into()]), |_| vec![2]).unwrap(),
            1
        );
        let after = again.all().unwrap();
        assert_eq!(after[&2].state, DeliveryState::Pending);
        assert_eq!(after[&2].attempts, 0);
        assert_eq!(
            after[&1].state,
            DeliveryState::Delivered,
            "others untouched"
        );
        assert!(again.streams().unwrap().is_empty(), "the stream resumed");
        assert_eq!(
            d.replay_dead(None, |_| vec![]).unwrap(),
            0,
            "nothing dead any more"
        );
    }
}
