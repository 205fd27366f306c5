//! Reading the log file: the one frame walker that `kluis log verify` ([`scan`]) and the log
//! index ([`crate::logindex`]) share, from the start or from where the last walk stopped.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::Path;

use kluis_core::access::AccessRecord;
use zeroize::Zeroizing;

use super::{
    Checkpoint, FRAMES_START, Head, LOG_FILE, SEAL_PLACE, frame, frame_fits, next_head, read_header,
};
use crate::error::{Result, StoreError};
use crate::log::LogCheck;
use crate::vault::Unlocked;

/// Opens a frame's records; `Err` says why they are unreadable.
fn records(unlocked: &Unlocked, body: &[u8]) -> Result<Vec<AccessRecord>, &'static str> {
    parse_records(body, &open_frame(unlocked, body)?)
}

/// A frame's sealed records, opened: the JSON array as it was appended.
pub(crate) fn open_frame(
    unlocked: &Unlocked,
    body: &[u8],
) -> Result<Zeroizing<Vec<u8>>, &'static str> {
    let frame = frame(body);
    unlocked
        .keys
        .open(
            &unlocked.place(SEAL_PLACE, &frame.first.to_be_bytes()),
            frame.sealed,
        )
        .map_err(|_| "entry does not decrypt")
}

/// The opened JSON array of the frame with `body` as records of type `R` (the whole record, or
/// the part of it an index keeps), exactly as many as the frame says.
pub(crate) fn parse_records<'a, R: serde::Deserialize<'a>>(
    body: &[u8],
    plain: &'a [u8],
) -> Result<Vec<R>, &'static str> {
    let records: Vec<R> = serde_json::from_slice(plain).map_err(|_| "entry is unreadable")?;
    if records.len() != frame(body).count as usize {
        return Err("entry is unreadable (its count does not match)");
    }
    Ok(records)
}

/// The byte ranges of the frames in the log file at `path`, in order, by their lengths alone
/// (nothing is checked). For inspection, and for tests that tamper with the file.
pub fn frame_ranges(path: &Path) -> Result<Vec<std::ops::Range<u64>>> {
    let file = File::open(path)?;
    let size = file.metadata()?.len();
    let mut ranges = Vec::new();
    let mut at = FRAMES_START;
    let mut len = [0u8; 4];
    while at + 4 <= size && file.read_exact_at(&mut len, at).is_ok() {
        let len = u64::from(u32::from_be_bytes(len));
        if len == 0 || at + 4 + len > size {
            break;
        }
        ranges.push(at..at + 4 + len);
        at += 4 + len;
    }
    Ok(ranges)
}

/// A log file opened for reading, its header checked: what [`scan`] and the log index
/// ([`crate::logindex`]) walk.
pub(crate) struct Reader {
    file: File,
    /// The head the header names.
    pub(crate) head: Head,
    /// Where the chain starts, if the log was pruned.
    pub(crate) checkpoint: Option<Checkpoint>,
}

/// One intact frame met by [`Reader::walk`].
pub(crate) struct Seen<'a> {
    /// Where the frame starts (its length field).
    pub(crate) offset: u64,
    /// Everything after the length field.
    pub(crate) body: &'a [u8],
    /// The chain after this frame.
    pub(crate) after: Head,
}

/// Where a walk stopped: the chain is checked up to `at`, and broke at `first_broken` if it
/// did. `met_head` says whether the walk passed the header's head (where it must).
pub(crate) struct Walked {
    pub(crate) at: Head,
    pub(crate) met_head: bool,
    pub(crate) first_broken: Option<(i64, String)>,
}

impl Reader {
    /// Opens the log at `path` and checks its header and that it is the file `expected_id`
    /// names. `Ok(Err(why))` when the file itself is missing, replaced or its header does not
    /// check out: then the log breaks at entry 1.
    pub(crate) fn open(
        path: &Path,
        unlocked: &Unlocked,
        expected_id: &[u8; 16],
    ) -> Result<Result<Self, String>> {
        let file = match File::open(path) {
            Ok(file) => file,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Err(format!("the log file {LOG_FILE} is missing")));
            }
            Err(err) => return Err(err.into()),
        };
        match read_header(&file, unlocked) {
            Ok(header) if header.file_id != *expected_id => {
                Ok(Err(format!("the log file {LOG_FILE} was replaced")))
            }
            Ok(header) => Ok(Ok(Self {
                file,
                head: header.head,
                checkpoint: header.checkpoint,
            })),
            Err(StoreError::Tampered(why)) => Ok(Err(why)),
            Err(err) => Err(err),
        }
    }

    /// The chain where the first frame continues it: the start, or the checkpoint.
    pub(crate) fn base(&self) -> Head {
        Checkpoint::base(self.checkpoint.as_ref())
    }

    /// Reads `bytes.len()` bytes at `offset` (a frame the index saw before).
    pub(crate) fn read_at(&self, bytes: &mut [u8], offset: u64) -> std::io::Result<()> {
        self.file.read_exact_at(bytes, offset)
    }

    /// Walks the frames from `from`, a position of the chain already checked (the start, or
    /// where the last walk stopped), checking each link and handing each frame that continues
    /// the chain to `visit`, which may refuse it (`Err(why)`, e.g. it does not decrypt).
    ///
    /// Everything up to the header's head must be intact: a frame there that is missing or
    /// does not fit breaks the chain. Past it, valid frames are read and the first one that is
    /// not ends the log (a write cut short, or one still in progress). Nothing is read ahead
    /// when no frame follows `from` (one 4-byte read), so a walk that finds nothing new is
    /// cheap.
    pub(crate) fn walk(
        &self,
        unlocked: &Unlocked,
        from: Head,
        mut visit: impl FnMut(&Seen<'_>) -> Result<(), &'static str>,
    ) -> Result<Walked> {
        let head = self.head;
        let mut frames = Frames {
            file: &self.file,
            reader: None,
            size: self.file.metadata()?.len(),
        };
        let mut at = from;
        let mut met_head = false;
        let mut body = Zeroizing::new(Vec::new());
        let stop = |at: Head, met_head, first_broken: Option<(i64, String)>| {
            Ok(Walked {
                at,
                met_head,
                first_broken,
            })
        };
        loop {
            if at.end == head.end {
                if (at.seq, at.mac) != (head.seq, head.mac) {
                    let why = "the log's head does not match its last entry";
                    return stop(at, false, Some((at.seq.max(1), why.into())));
                }
                met_head = true;
            }
            let inside = at.end < head.end;
            let next = frames
                .read(at.end, &mut body)?
                .ok_or("entry is missing (the file was cut or overwritten here)")
                .and_then(|()| next_head(unlocked, &at, &body))
                .and_then(|after| {
                    visit(&Seen {
                        offset: at.end,
                        body: &body,
                        after,
                    })?;
                    Ok(after)
                });
            match next {
                Ok(after) => at = after,
                Err(why) if inside => return stop(at, met_head, Some((at.seq + 1, why.into()))),
                Err(_) => return stop(at, met_head, None),
            }
        }
    }
}

/// The frames of a file read in order: the first length by itself (often all there is), the
/// rest through a buffer.
struct Frames<'f> {
    file: &'f File,
    reader: Option<BufReader<&'f File>>,
    /// The file's size when the walk began: what lies past it is no frame yet.
    size: u64,
}

impl Frames<'_> {
    /// Reads the frame at `offset` (just after the last one read) into `body`; `None` where
    /// there is none. A failing read is an error, not the end (nothing is taken for cut
    /// because a disk failed).
    fn read(&mut self, offset: u64, body: &mut Vec<u8>) -> Result<Option<()>> {
        let ended = |err: std::io::Error| match err.kind() {
            std::io::ErrorKind::UnexpectedEof => Ok(None),
            _ => Err(StoreError::from(err)),
        };
        let mut len = [0u8; 4];
        let read = match &mut self.reader {
            Some(reader) => reader.read_exact(&mut len),
            None => self.file.read_exact_at(&mut len, offset),
        };
        if let Err(err) = read {
            return ended(err);
        }
        let len = u32::from_be_bytes(len) as usize;
        if !frame_fits(offset, len, || self.size) {
            return Ok(None);
        }
        let reader = match &mut self.reader {
            Some(reader) => reader,
            None => {
                let mut reader = BufReader::with_capacity(1 << 20, self.file);
                reader.seek(SeekFrom::Start(offset + 4))?;
                self.reader.insert(reader)
            }
        };
        body.resize(len, 0);
        match reader.read_exact(body) {
            Ok(()) => Ok(Some(())),
            Err(err) => ended(err),
        }
    }
}

/// Reads the log at `path` from the start, handing each intact frame's first entry number and
/// records to `visit`, and checks the chain up to the header's head. `expected_id` is the file
/// id the vault's database names.
pub(crate) fn scan(
    path: &Path,
    unlocked: &Unlocked,
    expected_id: &[u8; 16],
    mut visit: impl FnMut(i64, Vec<AccessRecord>),
) -> Result<LogCheck> {
    let reader = match Reader::open(path, unlocked, expected_id)? {
        Ok(reader) => reader,
        Err(why) => {
            return Ok(LogCheck {
                entries: 0,
                first_broken: Some((1, why)),
                pruned: None,
            });
        }
    };
    let walked = reader.walk(unlocked, reader.base(), |seen| {
        visit(frame(seen.body).first, records(unlocked, seen.body)?);
        Ok(())
    })?;
    Ok(walked.check(reader.checkpoint))
}

impl Walked {
    /// The chain's state after a walk from the start (or the checkpoint, `pruned`): intact
    /// only if it passed the head.
    pub(crate) fn check(self, pruned: Option<Checkpoint>) -> LogCheck {
        let first_broken = self.first_broken.or_else(|| {
            (!self.met_head).then(|| {
                let why = "the log's head does not match its entries";
                (self.at.seq.max(1), why.to_owned())
            })
        });
        LogCheck {
            entries: self.at.seq,
            first_broken,
            pruned,
        }
    }
}
