//! The dashboard's view of the access log: one [`LogIndex`] kept for the server's life and
//! brought up to date before each use (one header read when nothing was appended), so pages
//! stay fast with millions of entries. And the owner's grants, decoded once and kept until
//! the database changes ([`GrantsCache`]): unsealing thousands of grants per page is most of
//! a page's time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use kluis_core::grant::{Grant, GrantId};
use kluis_store::{LogIndex, StoreError, Vault};

use super::Dashboard;

/// A handle on the dashboard's index.
#[derive(Clone)]
pub struct LogView(Arc<Mutex<LogIndex>>);

impl Default for LogView {
    fn default() -> Self {
        Self(Arc::new(Mutex::new(LogIndex::new())))
    }
}

/// What the overview and the grants page show of the log.
pub struct LogStats {
    pub entries: i64,
    pub broken: Option<(i64, String)>,
    /// Per grant: served reads and the last one's time (ms).
    pub reads: HashMap<GrantId, (u64, i64)>,
    /// Per grant read today (UTC): its served reads today, what its read budget counts.
    pub today: HashMap<GrantId, u64>,
}

impl LogView {
    pub fn of(dashboard: &Dashboard) -> Self {
        dashboard.0.log.clone()
    }

    /// Runs `work` on the index, brought up to date with `vault`'s log first.
    pub fn with<T>(
        &self,
        vault: &Vault,
        work: impl FnOnce(&LogIndex) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut index = self
            .0
            .lock()
            .map_err(|_| StoreError::Conflict("the log index is unavailable".into()))?;
        index.refresh(vault)?;
        work(&index)
    }

    pub fn stats(&self, vault: &Vault) -> Result<LogStats, StoreError> {
        self.with(vault, |index| {
            let check = index.check();
            Ok(LogStats {
                entries: check.entries,
                broken: check.first_broken.clone(),
                reads: index.reads_per_grant(),
                today: index
                    .reads_per_grant_on(kluis_core::budget::day_of(kluis_store::unix_now())),
            })
        })
    }
}

/// Every grant as [`Vault::grants`] returns them (newest first), kept while the owner's
/// connection's [`Vault::change_stamp`] stays the same.
#[derive(Clone, Default)]
pub struct GrantsCache(Arc<Mutex<Option<Decoded>>>);

/// The grants as decoded at a change stamp.
type Decoded = ((i64, u64), Arc<Vec<Grant>>);

impl GrantsCache {
    pub fn of(dashboard: &Dashboard) -> Self {
        dashboard.0.grants.clone()
    }

    /// The grants, read through `vault` if anything changed since they were last read.
    pub fn get(&self, vault: &Vault) -> Result<Arc<Vec<Grant>>, StoreError> {
        let stamp = vault.change_stamp()?;
        let mut cached = self
            .0
            .lock()
            .map_err(|_| StoreError::Conflict("the grants cache is unavailable".into()))?;
        if let Some((at, grants)) = cached.as_ref()
            && *at == stamp
        {
            return Ok(grants.clone());
        }
        let grants = Arc::new(vault.grants()?);
        *cached = Some((stamp, grants.clone()));
        Ok(grants)
    }
}
