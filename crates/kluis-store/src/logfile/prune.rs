//! Pruning the log: the frames at its start that the owner no longer wants are dropped by
//! writing the rest into a new file, whose header holds a checkpoint (the chain's state after
//! the last dropped frame), and renaming it into place (docs/access-log.md#pruning).
//!
//! The new file is complete and flushed before the rename, so a crash leaves either the old log
//! or the new one, each verifiable; a leftover `access.log.prune` is removed by the next prune.
//! The whole of it holds the old file's lock, and the new file's lock from before the rename:
//! a writer in another connection or process that waits for the lock finds the old file's
//! chain ending in a mark that the log moved when it gets it, and follows ([`LogFile::lock`]).

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt, OpenOptionsExt};

use super::{
    Checkpoint, FRAMES_START, Head, Header, INITIAL_SIZE, LogFile, Reader, sync_dir, write_zeros,
};
use crate::error::{Result, StoreError};

/// The temporary name of a pruned log while it is written.
pub(crate) const PRUNE_FILE: &str = "access.log.prune";

/// What a prune removed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pruned {
    /// The checkpoint the log now starts from (its `seq` is the last entry removed).
    pub checkpoint: Checkpoint,
    /// Entries removed by this prune.
    pub entries: i64,
    /// The bytes of frames removed.
    pub bytes: u64,
}

impl LogFile {
    /// Removes the frames at the start of the log for which `removable` says yes, up to the
    /// first for which it says no (so at a frame boundary, never in the middle). `None` when
    /// nothing is removable. A log whose chain does not check out is not pruned (`Tampered`):
    /// pruning must never hide a break.
    pub(crate) fn prune(
        &mut self,
        before_ms: i64,
        mut removable: impl FnMut(&[u8]) -> Result<bool, &'static str>,
    ) -> Result<Option<Pruned>> {
        self.locked(|log| log.prune_locked(before_ms, &mut removable))
    }

    fn prune_locked(
        &mut self,
        before_ms: i64,
        removable: &mut dyn FnMut(&[u8]) -> Result<bool, &'static str>,
    ) -> Result<Option<Pruned>> {
        if self.unflushed {
            self.flush()?;
        }
        let reader = Reader::open(&self.path, &self.unlocked, &self.file_id)?
            .map_err(|why| not_pruned(1, &why))?;
        let mut cut: Option<Head> = None;
        let mut cutting = true;
        let walked = reader.walk(&self.unlocked, reader.base(), |seen| {
            if cutting {
                if removable(seen.body)? {
                    cut = Some(seen.after);
                } else {
                    cutting = false;
                }
            }
            Ok(())
        })?;
        let end = walked.at;
        if let Some((seq, why)) = walked.check(reader.checkpoint).first_broken {
            return Err(not_pruned(seq, &why));
        }
        // The walk read the file at the path; the copy reads the one this handle holds locked.
        // They must be the same chain to its end, or frames past where the walk stopped (a
        // frame whose records could not be read, another file put at the path) would be lost.
        if (end.seq, end.end, end.mac) != (self.head.seq, self.head.end, self.head.mac) {
            return Err(StoreError::Conflict(format!(
                "the access log changed under the prune (its walk ended at entry {}, the log \
                 at {}); it was not pruned",
                end.seq, self.head.seq
            )));
        }
        let Some(cut) = cut else { return Ok(None) };
        let base = reader.base();
        let checkpoint = Checkpoint {
            seq: cut.seq,
            mac: cut.mac,
            before_ms,
        };
        let header = Header {
            file_id: self.file_id,
            head: Head {
                seq: end.seq,
                end: end.end - cut.end + FRAMES_START,
                mac: end.mac,
            },
            checkpoint: Some(checkpoint),
        };
        let new_path = self.path.with_file_name(PRUNE_FILE);
        match std::fs::remove_file(&new_path) {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => return Err(err.into()),
            _ => {}
        }
        let new = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&new_path)?;
        let written = self.write_pruned(&new, &header, cut.end, end.end);
        if let Err(err) = written {
            let _ = std::fs::remove_file(&new_path);
            return Err(err);
        }
        new.lock()?;
        // Writers with this file open see the mark when they next take the lock, and follow
        // to the new one. Written before the rename: if that fails, the next append here
        // overwrites the mark; after it, a crash could leave writers none.
        if let Err(err) = self.mark_moved(end.end) {
            let _ = std::fs::remove_file(&new_path);
            return Err(err);
        }
        std::fs::rename(&new_path, &self.path)?;
        // Renamed, so pruned: a directory that could not be flushed only leaves the rename to
        // the kernel's own time, and reporting a failure would hide the prune from the log.
        let _ = sync_dir(&self.path);
        self.adopt(new, header)?;
        Ok(Some(Pruned {
            checkpoint,
            entries: cut.seq - base.seq,
            bytes: cut.end - FRAMES_START,
        }))
    }

    /// Writes the pruned log into `new`: zeros ahead, the header, the frames from `from` to
    /// `to` of this file moved to the start, all flushed.
    fn write_pruned(&self, new: &File, header: &Header, from: u64, to: u64) -> Result<()> {
        let new_end = header.head.end;
        write_zeros(new, 0, new_end + INITIAL_SIZE)?;
        new.write_all_at(&header.bytes(&self.unlocked), 0)?;
        let mut chunk = vec![0u8; 1 << 20];
        let mut at = from;
        while at < to {
            let n = (to - at).min(chunk.len() as u64) as usize;
            self.file.read_exact_at(&mut chunk[..n], at)?;
            new.write_all_at(&chunk[..n], FRAMES_START + (at - from))?;
            at += n as u64;
        }
        new.sync_all()?;
        Ok(())
    }
}

fn not_pruned(seq: i64, why: &str) -> StoreError {
    StoreError::Tampered(format!(
        "the access log is broken at entry {seq} ({why}); it was not pruned"
    ))
}
