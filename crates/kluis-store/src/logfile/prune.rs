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
    Checkpoint, FRAMES_START, Head, Header, INITIAL_SIZE, LogFile, Next, Reader, copy_range,
    sync_dir, write_zeros,
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
    ///
    /// The long work (walking and checking the whole chain, copying the kept frames) is done
    /// without the log's lock, so writers (the server's ledger) go on appending meanwhile:
    /// frames before the end never change. The lock is taken only to copy the frames appended
    /// since, write the header, mark the old file and rename the new one into place.
    pub(crate) fn prune(
        &mut self,
        before_ms: i64,
        mut removable: impl FnMut(&[u8]) -> Result<bool, &'static str>,
    ) -> Result<Option<Pruned>> {
        if self.unflushed {
            self.flush()?;
        }
        let Some(staged) = self.stage_prune(&mut removable)? else {
            return Ok(None);
        };
        let new_path = self.path.with_file_name(PRUNE_FILE);
        let finished = self.locked(|log| log.finish_prune(&staged, before_ms, &new_path));
        if finished.is_err() {
            let _ = std::fs::remove_file(&new_path);
        }
        finished
    }

    /// Without the lock: walks the log, finds where to cut, and writes the kept frames as far
    /// as the walk went into a new file (no header yet). `None` when nothing is removable.
    fn stage_prune(
        &self,
        removable: &mut dyn FnMut(&[u8]) -> Result<bool, &'static str>,
    ) -> Result<Option<Staged>> {
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
        let walked_to = walked.at;
        if let Some((seq, why)) = walked.check(reader.checkpoint).first_broken {
            return Err(not_pruned(seq, &why));
        }
        let Some(cut) = cut else { return Ok(None) };
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
        let copied = write_zeros(
            &new,
            0,
            FRAMES_START + (walked_to.end - cut.end) + INITIAL_SIZE,
        )
        .and_then(|()| {
            copy_range(
                |chunk, at| reader.read_at(chunk, at),
                &new,
                cut.end..walked_to.end,
                cut.end - FRAMES_START,
            )
        });
        if let Err(err) = copied {
            let _ = std::fs::remove_file(&new_path);
            return Err(err);
        }
        Ok(Some(Staged {
            new,
            base: reader.base(),
            cut,
            walked_to,
        }))
    }

    /// Holding the lock: checks that the chain this handle now ends at continues the one the
    /// walk checked (another prune meanwhile would have moved it: then nothing is done),
    /// copies the frames appended since the walk, writes the header, flushes, marks the old
    /// file and renames the new one into place.
    fn finish_prune(
        &mut self,
        staged: &Staged,
        before_ms: i64,
        new_path: &std::path::Path,
    ) -> Result<Option<Pruned>> {
        let (cut, walked_to) = (staged.cut, staged.walked_to);
        let changed = || {
            StoreError::Conflict(
                "the access log changed under the prune (another prune?); it was not pruned".into(),
            )
        };
        // The frames after the walk's end, in the file this handle holds: each must continue
        // the chain, up to this handle's head.
        let mut at = walked_to;
        while at.end < self.head.end {
            match self.next_frame(&at)? {
                Next::Frame(after) => at = after,
                Next::End(_) => return Err(changed()),
            }
        }
        if at != self.head {
            return Err(changed());
        }
        copy_range(
            |chunk, at| self.file.read_exact_at(chunk, at),
            &staged.new,
            walked_to.end..self.head.end,
            cut.end - FRAMES_START,
        )?;
        let checkpoint = Checkpoint {
            seq: cut.seq,
            mac: cut.mac,
            before_ms,
        };
        let header = Header {
            file_id: self.file_id,
            head: Head {
                seq: self.head.seq,
                end: self.head.end - cut.end + FRAMES_START,
                mac: self.head.mac,
            },
            checkpoint: Some(checkpoint),
        };
        let new = staged.new.try_clone()?;
        new.write_all_at(&header.bytes(&self.unlocked), 0)?;
        new.sync_all()?;
        new.lock()?;
        // Writers with this file open see the mark when they next take the lock, and follow
        // to the new one. Written before the rename: if that fails, the next append here
        // overwrites the mark; after it, a crash could leave writers none.
        self.mark_moved(self.head.end)?;
        std::fs::rename(new_path, &self.path)?;
        // Renamed, so pruned: a directory that could not be flushed only leaves the rename to
        // the kernel's own time, and reporting a failure would hide the prune from the log.
        let _ = sync_dir(&self.path);
        self.adopt(new, header)?;
        Ok(Some(Pruned {
            checkpoint,
            entries: cut.seq - staged.base.seq,
            bytes: cut.end - FRAMES_START,
        }))
    }
}

/// A prune's new file with the kept frames up to where its walk ended.
struct Staged {
    new: File,
    /// Where the chain started before the prune.
    base: Head,
    /// The chain after the last removed frame.
    cut: Head,
    /// Where the walk ended: the new file holds the frames from `cut` to here.
    walked_to: Head,
}

fn not_pruned(seq: i64, why: &str) -> StoreError {
    StoreError::Tampered(format!(
        "the access log is broken at entry {seq} ({why}); it was not pruned"
    ))
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::Duration;

    use super::*;
    use crate::log::tests::owner_record as record;
    use crate::logfile::LOG_FILE;
    use crate::{KdfParams, Passphrase, Vault};

    #[test]
    fn writers_append_while_the_prune_walks_and_what_they_append_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let v = Vault::create(
            dir.path(),
            &Passphrase::new("pass phrase"),
            KdfParams::OWASP_MINIMUM,
        )
        .unwrap();
        for n in 1..=3 {
            v.append_log(&[record(n)]).unwrap();
        }
        let unlocked = v.unlocked().clone();
        let mut log = LogFile::open(&dir.path().join(LOG_FILE), &unlocked).unwrap();
        let mut frames = 0;
        let pruned = log
            .prune(1_800_000_000_002, |_body| {
                frames += 1;
                if frames == 2 {
                    // Mid-walk, another connection appends: it must not have to wait for the
                    // prune (were the lock held, it would block until the prune ended).
                    let (done, appended) = mpsc::channel();
                    let (dir, unlocked) = (dir.path().to_path_buf(), unlocked.clone());
                    std::thread::spawn(move || {
                        let other = Vault::connect(&dir, &unlocked).unwrap();
                        other.append_log(&[record(4)]).unwrap();
                        let _ = done.send(());
                    });
                    appended
                        .recv_timeout(Duration::from_secs(10))
                        .expect("a writer could not append while the prune walked the log");
                }
                Ok(frames == 1)
            })
            .unwrap()
            .unwrap();
        assert_eq!((pruned.checkpoint.seq, pruned.entries), (1, 1));
        // The frame appended during the walk is in the pruned log, and the chain verifies.
        log.append(&serde_json::to_vec(&[record(5)]).unwrap(), 1, true)
            .unwrap();
        drop(log);
        let seqs: Vec<i64> = v.log_entries().unwrap().iter().map(|e| e.seq).collect();
        assert_eq!(seqs, vec![2, 3, 4, 5]);
        assert_eq!(v.verify_log().unwrap().first_broken, None);
    }
}
