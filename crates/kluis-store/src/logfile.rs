//! The access log's own file, `access.log` beside the database (format: docs/storage.md).
//!
//! Each append is one *frame*: the batch's records as one sealed JSON array, numbered from the
//! entry after the last, with a keyed MAC over the previous frame's MAC, its numbers and its
//! sealed bytes. The frame is written into space zeroed beforehand and `fdatasync`ed before the
//! append returns; then the header's MAC'd *head* (last entry, end offset, last MAC) is
//! rewritten in place, reaching the disk with the next append's flush. So a frame never grows
//! the file (whose size change would make every flush also commit metadata), and one append
//! costs one write and one flush instead of a SQLite transaction.
//!
//! Writers in any process take an exclusive `flock` on the file for the append, and first adopt
//! frames that others wrote since (valid frames past the known end). Readers take no lock: they
//! read the header first and everything up to its end must be intact; past it, valid frames
//! are read and the first one that is not (a write cut short by a crash) ends the log. The
//! reader's frame walk, shared by verification and the log index, is in [`read`].

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::crypto;
use crate::error::{Result, StoreError};
use crate::vault::Unlocked;

mod header;
mod prune;
mod read;
pub use header::Checkpoint;
pub(crate) use header::{Header, read_header};
pub(crate) use prune::PRUNE_FILE;
pub use prune::Pruned;
pub use read::frame_ranges;
pub(crate) use read::{Reader, Seen, Walked, open_frame, parse_records, scan};

/// The log file inside a vault directory.
pub const LOG_FILE: &str = "access.log";

/// Frames start after one header block.
pub(crate) const FRAMES_START: u64 = 4096;
/// After the length: first entry 8, entry count 4, …sealed…, MAC 32.
const FRAME_FIXED: usize = 8 + 4 + 32;
const MAX_FRAME: usize = 64 << 20;
/// A length no frame has, written where the next frame would go by a prune, into the file it
/// replaces: a writer that still has that file open learns from it that the log moved, with
/// the read of the next length it makes anyway when it takes the lock ([`LogFile::lock`]).
const MOVED: u32 = u32::MAX;
/// Zeroed space a new log starts with, and by how much it grows when that is used up.
const INITIAL_SIZE: u64 = 1 << 20;
const GROW_BY: u64 = 8 << 20;
/// The table name sealed records are bound to (the same as when the log lived in SQLite).
pub(crate) const SEAL_PLACE: &str = "access_log";
pub(crate) const GENESIS: [u8; 32] = [0; 32];

/// Where a chain ends: its last entry's number, the offset after its last frame, its last MAC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Head {
    pub(crate) seq: i64,
    pub(crate) end: u64,
    pub(crate) mac: [u8; 32],
}

impl Head {
    pub(crate) const START: Head = Head {
        seq: 0,
        end: FRAMES_START,
        mac: GENESIS,
    };
}

/// A writer's handle on the log file.
pub(crate) struct LogFile {
    file: File,
    /// Where the file is: a writer that finds another file there (the log was pruned) follows.
    path: PathBuf,
    unlocked: Unlocked,
    file_id: [u8; 16],
    /// Where the chain starts, if the log was pruned.
    checkpoint: Option<Checkpoint>,
    /// The file's size as last seen: zeroed space up to here.
    capacity: u64,
    head: Head,
    /// When this handle last wrote the header's head, if it has; and whether it appended since.
    head_written: Option<Instant>,
    head_behind: bool,
    /// Whether frames were written without a flush since the last one.
    unflushed: bool,
    /// Whether this handle holds the file's lock ([`LogFile::lock`]).
    held: bool,
}

/// A writer rewrites the header's head at most this often, and when it closes the log (see
/// [`LogFile::append`]).
const HEAD_EVERY: Duration = Duration::from_millis(100);

impl Drop for LogFile {
    fn drop(&mut self) {
        if self.head_behind && self.lock().is_ok() {
            let _ = self.write_head();
        }
        self.unlock();
    }
}

impl LogFile {
    /// Creates an empty log at `path` (which must not exist), zeroed ahead and flushed; returns
    /// its random id.
    pub(crate) fn create(path: &Path, unlocked: &Unlocked) -> Result<[u8; 16]> {
        let mut file_id = [0u8; 16];
        crypto::fill_random(&mut file_id)?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)?;
        write_zeros(&file, 0, INITIAL_SIZE)?;
        let header = Header {
            file_id,
            head: Head::START,
            checkpoint: None,
        };
        file.write_all_at(&header.bytes(unlocked), 0)?;
        file.sync_all()?;
        sync_dir(path)?;
        Ok(file_id)
    }

    /// Opens the log at `path` for appending; a header that does not check out is an error.
    pub(crate) fn open(path: &Path, unlocked: &Unlocked) -> Result<Self> {
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        let header = read_header(&file, unlocked)?;
        let mut log = Self {
            capacity: file.metadata()?.len(),
            file,
            path: path.to_path_buf(),
            unlocked: unlocked.clone(),
            file_id: header.file_id,
            checkpoint: header.checkpoint,
            head: header.head,
            head_written: None,
            head_behind: false,
            unflushed: false,
            held: false,
        };
        // A file that a prune replaced since it was opened ends in its mark, which the first
        // lock finds again and follows.
        log.catch_up()?;
        Ok(log)
    }

    pub(crate) fn file_id(&self) -> &[u8; 16] {
        &self.file_id
    }

    /// Where the chain ends as this handle last saw it (after its own last append).
    pub(crate) fn head(&self) -> Head {
        self.head
    }

    /// Appends `records_json` (a JSON array of `count` records) as one frame and (with `fsync`)
    /// flushes it to the disk; the records are in the log once this returns.
    ///
    /// The header's head is rewritten after the first append of this handle, then at most
    /// every [`HEAD_EVERY`] and when the handle is dropped; it is not flushed on its own (the
    /// next flush takes it along). Readers and writers accept valid frames past the head, so
    /// a head that lags loses nothing: it only protects the entries up to it against being cut
    /// off the end. Rewriting it with every append would make every flush write two places of
    /// the file instead of one (about 20 µs of a busy server's ~170 µs flush).
    ///
    /// Takes the file's lock for the append, unless the handle holds it already.
    pub(crate) fn append(&mut self, records_json: &[u8], count: u32, fsync: bool) -> Result<()> {
        self.locked(|log| log.append_locked(records_json, count, fsync))
    }

    /// Runs `work` holding the file's lock: taken for it and released after, unless the handle
    /// holds it already.
    fn locked<T>(&mut self, work: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        let held = self.held;
        self.lock()?;
        let out = work(self);
        if !held {
            self.unlock();
        }
        out
    }

    /// Takes the file's exclusive lock (writers in every process take turns) and adopts what
    /// other writers appended meanwhile; held until [`LogFile::unlock`].
    pub(crate) fn lock(&mut self) -> Result<()> {
        if !self.held {
            self.file.lock()?;
            self.held = true;
            if let Err(err) = self.catch_up_following() {
                self.unlock();
                return Err(err);
            }
        }
        Ok(())
    }

    pub(crate) fn unlock(&mut self) {
        if self.held {
            // Closing the file would release the lock too.
            let _ = self.file.unlock();
            self.held = false;
        }
    }

    /// Flushes what was written without a flush.
    pub(crate) fn flush(&mut self) -> Result<()> {
        self.file.sync_data()?;
        self.unflushed = false;
        Ok(())
    }

    fn append_locked(&mut self, records_json: &[u8], count: u32, fsync: bool) -> Result<()> {
        let first = self.head.seq + 1;
        let unlocked = &self.unlocked;
        let sealed = unlocked.keys.seal(
            &unlocked.place(SEAL_PLACE, &first.to_be_bytes()),
            records_json,
        )?;
        let mac = link(unlocked, &self.head.mac, first, count, &sealed);
        let body_len = FRAME_FIXED + sealed.len();
        if body_len > MAX_FRAME {
            return Err(
                kluis_core::Error::invalid("too many access records for one append").into(),
            );
        }
        let mut frame = Vec::with_capacity(4 + body_len);
        frame.extend_from_slice(&(body_len as u32).to_be_bytes());
        frame.extend_from_slice(&first.to_be_bytes());
        frame.extend_from_slice(&count.to_be_bytes());
        frame.extend_from_slice(&sealed);
        frame.extend_from_slice(&mac);
        let end = self.head.end + frame.len() as u64;
        self.reserve(end)?;
        let mut written = self
            .file
            .write_all_at(&frame, self.head.end)
            .map_err(Into::into);
        if written.is_ok() {
            if fsync {
                written = self.flush();
            } else {
                self.unflushed = true;
            }
        }
        if let Err(err) = written {
            // Not appended, so not left readable: the next writer's catch-up would adopt a
            // whole frame, a record of a call that was answered as failed. Best effort.
            let _ = self.file.write_all_at(&[0; 4], self.head.end);
            return Err(err);
        }
        self.head = Head {
            seq: first + i64::from(count) - 1,
            end,
            mac,
        };
        self.head_behind = true;
        if self
            .head_written
            .is_none_or(|at| at.elapsed() >= HEAD_EVERY)
        {
            // The records are in the log already; a head that could not be rewritten only lags.
            let _ = self.write_head();
        }
        Ok(())
    }

    /// Rewrites the head if an append since the last rewrite left it behind: for a writer that
    /// has gone quiet (the server's ledger calls it when no call came for a while).
    pub(crate) fn settle(&mut self) -> Result<()> {
        if !self.head_behind {
            return Ok(());
        }
        self.locked(Self::write_head)
    }

    /// Rewrites the head. Frames written without a flush are flushed first: the head must
    /// never name frames that a power loss could take away, or the log would read as cut.
    fn write_head(&mut self) -> Result<()> {
        if self.unflushed {
            self.flush()?;
        }
        let header = Header {
            file_id: self.file_id,
            head: self.head,
            checkpoint: self.checkpoint,
        };
        self.file.write_all_at(&header.bytes(&self.unlocked), 0)?;
        self.head_written = Some(Instant::now());
        self.head_behind = false;
        Ok(())
    }

    /// Called holding the lock: adopts what other writers appended, and where the file ends
    /// in the mark of a prune ([`MOVED`]), follows the log to the file now at its path and
    /// adopts what was appended there. A writer with the log's current file open, the usual
    /// case, makes no system call here but the one read of the next frame's length.
    fn catch_up_following(&mut self) -> Result<()> {
        while self.catch_up()? == End::Moved {
            if !self.follow_replacement()? {
                // The prune that wrote the mark failed before its rename: the next append
                // overwrites the mark.
                return Ok(());
            }
        }
        Ok(())
    }

    /// Called holding the lock: if the file at the log's path is no longer the one this handle
    /// has open (the owner pruned the log, which renames a new file into place while holding
    /// the old one's lock), opens the new one, takes its lock and continues from its head; its
    /// id must be the same. Whether it moved: a path with no file, or with this handle's file,
    /// keeps the handle where it is.
    fn follow_replacement(&mut self) -> Result<bool> {
        use std::os::unix::fs::MetadataExt;
        let there = match std::fs::metadata(&self.path) {
            Ok(meta) => meta,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(err) => return Err(err.into()),
        };
        let mine = self.file.metadata()?;
        if (there.dev(), there.ino()) == (mine.dev(), mine.ino()) {
            return Ok(false);
        }
        let file = OpenOptions::new().read(true).write(true).open(&self.path)?;
        file.lock()?;
        let header = match read_header(&file, &self.unlocked) {
            Ok(header) if header.file_id == self.file_id => header,
            Ok(_) => return Err(tampered("was replaced")),
            Err(err) => return Err(err),
        };
        self.adopt(file, header)?;
        Ok(true)
    }

    /// Switches this handle (holding the lock) to `file`, whose lock is taken, at `header`.
    fn adopt(&mut self, file: File, header: Header) -> Result<()> {
        let _ = self.file.unlock();
        self.capacity = file.metadata()?.len();
        self.file = file;
        self.checkpoint = header.checkpoint;
        self.head = header.head;
        self.head_written = None;
        self.head_behind = false;
        self.unflushed = false;
        Ok(())
    }

    /// Adopts the frames other writers appended (or a crashed writer flushed without moving
    /// the head) since this handle last looked; says how the file ends after them.
    fn catch_up(&mut self) -> Result<End> {
        loop {
            let at = self.head;
            match self.next_frame(&at)? {
                Next::Frame(head) => self.head = head,
                Next::End(end) => return Ok(end),
            }
        }
    }

    /// What follows the chain at `at` in this handle's file: a valid next frame (the chain
    /// after it), or the end.
    ///
    /// Only what is not a valid next frame ends the log; a failing read is an error, or the
    /// writer would overwrite frames it could not read.
    fn next_frame(&mut self, at: &Head) -> Result<Next> {
        let end_or_error = |err: std::io::Error| match err.kind() {
            std::io::ErrorKind::UnexpectedEof => Ok(Next::End(End::Open)),
            _ => Err(StoreError::from(err)),
        };
        let mut len = [0u8; 4];
        if let Err(err) = self.file.read_exact_at(&mut len, at.end) {
            return end_or_error(err);
        }
        let len = u32::from_be_bytes(len);
        if len == MOVED {
            return Ok(Next::End(End::Moved));
        }
        let len = len as usize;
        if !frame_fits(at.end, len, || self.file_len()) {
            return Ok(Next::End(End::Open));
        }
        let mut body = vec![0u8; len];
        if let Err(err) = self.file.read_exact_at(&mut body, at.end + 4) {
            return end_or_error(err);
        }
        Ok(match next_head(&self.unlocked, at, &body) {
            Ok(head) => Next::Frame(head),
            Err(_) => Next::End(End::Open),
        })
    }

    /// Marks the end of this file's chain, at offset `end` after its last frame, as moved: the
    /// log continues in another file ([`MOVED`]). Called holding the lock.
    fn mark_moved(&self, end: u64) -> Result<()> {
        self.file
            .write_all_at(&MOVED.to_be_bytes(), end)
            .map_err(StoreError::from)
    }

    fn file_len(&mut self) -> u64 {
        if let Ok(meta) = self.file.metadata() {
            self.capacity = meta.len();
        }
        self.capacity
    }

    /// Makes sure zeroed space reaches `end`, growing the file by a large step and flushing
    /// the zeros and the new size at once (so that the appends after it flush only their
    /// own pages).
    fn reserve(&mut self, end: u64) -> Result<()> {
        if end <= self.capacity || end <= self.file_len() {
            return Ok(());
        }
        let target = end + GROW_BY;
        write_zeros(&self.file, self.capacity, target)?;
        self.file.sync_data()?;
        self.capacity = target;
        Ok(())
    }
}

/// What [`LogFile::next_frame`] found.
enum Next {
    /// A valid next frame: the chain after it.
    Frame(Head),
    End(End),
}

/// How the file ends after the last valid frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    /// In zeros, a write a crash cut short, or the file's end: the next frame goes there.
    Open,
    /// In the mark a prune left in the file it replaced.
    Moved,
}

/// Copies the bytes in `range` of a log file (read by `read`) into `dest`, each `dropped`
/// bytes earlier than it was (the frames a prune removed; 0 for a plain copy).
pub(crate) fn copy_range(
    read: impl Fn(&mut [u8], u64) -> std::io::Result<()>,
    dest: &File,
    range: std::ops::Range<u64>,
    dropped: u64,
) -> Result<()> {
    let mut chunk = vec![0u8; 1 << 20];
    let mut at = range.start;
    while at < range.end {
        let n = (range.end - at).min(chunk.len() as u64) as usize;
        read(&mut chunk[..n], at)?;
        dest.write_all_at(&chunk[..n], at - dropped)?;
        at += n as u64;
    }
    Ok(())
}

fn write_zeros(file: &File, from: u64, to: u64) -> Result<()> {
    let zeros = vec![0u8; 1 << 20];
    let mut at = from;
    while at < to {
        let n = (to - at).min(zeros.len() as u64) as usize;
        file.write_all_at(&zeros[..n], at)?;
        at += n as u64;
    }
    Ok(())
}

/// Flushes the directory entry of a new file.
fn sync_dir(path: &Path) -> Result<()> {
    if let Some(dir) = path.parent() {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

fn tampered(what: &str) -> StoreError {
    StoreError::Tampered(format!("the access log file {what}"))
}

fn link(unlocked: &Unlocked, prev: &[u8; 32], first: i64, count: u32, sealed: &[u8]) -> [u8; 32] {
    unlocked.keys.chain_mac(&[
        b"frame",
        prev,
        &first.to_be_bytes(),
        &count.to_be_bytes(),
        sealed,
    ])
}

/// Whether a frame at `offset` whose length field says `len` can be one: long enough for its
/// fixed parts, not over the limit, and inside a file of `size()` bytes. What cannot be is not a
/// frame but the end of the log (zeroed space, or a write a crash cut short). `size` is asked
/// only for a plausible length: a writer's usual case, zeros at its end, costs no `fstat`.
fn frame_fits(offset: u64, len: usize, size: impl FnOnce() -> u64) -> bool {
    (FRAME_FIXED..=MAX_FRAME).contains(&len) && offset + 4 + len as u64 <= size()
}

/// A frame's parts, from its body (everything after the length).
pub(crate) struct Frame<'a> {
    pub(crate) first: i64,
    pub(crate) count: u32,
    sealed: &'a [u8],
    mac: &'a [u8],
}

pub(crate) fn frame(body: &[u8]) -> Frame<'_> {
    let (numbers, rest) = body.split_at(12);
    let (sealed, mac) = rest.split_at(rest.len() - 32);
    Frame {
        first: i64::from_be_bytes(numbers[..8].try_into().expect("8 bytes")),
        count: u32::from_be_bytes(numbers[8..].try_into().expect("4 bytes")),
        sealed,
        mac,
    }
}

/// The head after the frame with `body`, if the frame continues the chain at `head`.
pub(crate) fn next_head(
    unlocked: &Unlocked,
    head: &Head,
    body: &[u8],
) -> Result<Head, &'static str> {
    let frame = frame(body);
    if frame.first != head.seq + 1 || frame.count == 0 {
        return Err("entry is missing or out of order");
    }
    let mac = link(unlocked, &head.mac, frame.first, frame.count, frame.sealed);
    if mac[..] != *frame.mac {
        return Err("entry was altered (its MAC does not match the chain)");
    }
    Ok(Head {
        seq: frame.first + i64::from(frame.count) - 1,
        end: head.end + 4 + body.len() as u64,
        mac,
    })
}
