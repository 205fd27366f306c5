//! The log file's header: its id, its MAC'd head and, in a log that was pruned, the checkpoint
//! the chain starts from (format: docs/access-log.md#the-file-format).
//!
//! A log never pruned has a version 1 header. Pruning writes version 2, which adds the
//! checkpoint: the last removed entry's number and the chain's MAC after it, and the date the
//! owner pruned before. The header MAC covers it, so without the chain key no one can move the
//! start of the chain.

use std::fs::File;
use std::os::unix::fs::FileExt;

use super::{FRAMES_START, Head, tampered};
use crate::error::Result;
use crate::vault::Unlocked;

const MAGIC: &[u8; 8] = b"KLUISLOG";
const VERSION: u32 = 1;
const VERSION_PRUNED: u32 = 2;
/// Magic 8, version 4, file id 16, last entry 8, end 8, last MAC 32; then the header's MAC.
const HEAD_LEN: usize = 76;
/// Version 2 adds the checkpoint: last removed entry 8, its MAC 32, pruned before (ms) 8.
const HEAD_LEN_PRUNED: usize = HEAD_LEN + 8 + 32 + 8;
pub(super) const MAX_HEADER_LEN: usize = HEAD_LEN_PRUNED + 32;

/// Where a pruned log's chain starts: the entries up to `seq` were removed, and the chain's MAC
/// after them was `mac`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// The last entry removed; the log holds the entries after it.
    pub seq: i64,
    pub(crate) mac: [u8; 32],
    /// The owner removed the frames whose entries were all older than this (ms since 1970).
    pub before_ms: i64,
}

impl Checkpoint {
    /// The chain where the log's first frame continues it: at the start, or at the checkpoint.
    pub(crate) fn base(checkpoint: Option<&Checkpoint>) -> Head {
        checkpoint.map_or(Head::START, |c| Head {
            seq: c.seq,
            end: FRAMES_START,
            mac: c.mac,
        })
    }
}

/// The header as read: the file's id, its head and its checkpoint, if it was pruned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) file_id: [u8; 16],
    pub(crate) head: Head,
    pub(crate) checkpoint: Option<Checkpoint>,
}

impl Header {
    /// The header's bytes, MAC'd under the chain key: version 1 without a checkpoint, 2 with.
    pub(crate) fn bytes(&self, unlocked: &Unlocked) -> Vec<u8> {
        let version = match self.checkpoint {
            None => VERSION,
            Some(_) => VERSION_PRUNED,
        };
        let mut bytes = Vec::with_capacity(MAX_HEADER_LEN);
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&version.to_be_bytes());
        bytes.extend_from_slice(&self.file_id);
        bytes.extend_from_slice(&self.head.seq.to_be_bytes());
        bytes.extend_from_slice(&self.head.end.to_be_bytes());
        bytes.extend_from_slice(&self.head.mac);
        if let Some(c) = &self.checkpoint {
            bytes.extend_from_slice(&c.seq.to_be_bytes());
            bytes.extend_from_slice(&c.mac);
            bytes.extend_from_slice(&c.before_ms.to_be_bytes());
        }
        let mac = unlocked.keys.chain_mac(&[b"log header", &bytes]);
        bytes.extend_from_slice(&mac);
        bytes
    }

    /// Reads and checks a header (its magic, version, MAC, and that its numbers make sense).
    pub(crate) fn parse(unlocked: &Unlocked, bytes: &[u8; MAX_HEADER_LEN]) -> Result<Self> {
        if &bytes[..8] != MAGIC {
            return Err(tampered("is not a Kluis access log"));
        }
        let version = u32::from_be_bytes(bytes[8..12].try_into().expect("4 bytes"));
        let covered = match version {
            VERSION => HEAD_LEN,
            VERSION_PRUNED => HEAD_LEN_PRUNED,
            _ => return Err(tampered("has an unknown version")),
        };
        let mac = unlocked.keys.chain_mac(&[b"log header", &bytes[..covered]]);
        if mac[..] != bytes[covered..covered + 32] {
            return Err(tampered("header was altered (or belongs to another vault)"));
        }
        let i64_at = |at: usize| i64::from_be_bytes(bytes[at..at + 8].try_into().expect("8"));
        let mac_at = |at: usize| -> [u8; 32] { bytes[at..at + 32].try_into().expect("32") };
        let head = Head {
            seq: i64_at(28),
            end: u64::from_be_bytes(bytes[36..44].try_into().expect("8 bytes")),
            mac: mac_at(44),
        };
        let checkpoint = (version == VERSION_PRUNED).then(|| Checkpoint {
            seq: i64_at(76),
            mac: mac_at(84),
            before_ms: i64_at(116),
        });
        let base = Checkpoint::base(checkpoint.as_ref());
        if head.seq < base.seq || head.end < FRAMES_START || base.seq < 0 {
            return Err(tampered("header is malformed"));
        }
        if checkpoint.is_some_and(|c| c.seq < 1) {
            return Err(tampered("header is malformed"));
        }
        Ok(Self {
            file_id: bytes[12..28].try_into().expect("16 bytes"),
            head,
            checkpoint,
        })
    }
}

/// The header's bytes, read until two reads in a row agree: a writer may be rewriting it (one
/// `pwrite`), and a read that overlaps the write could see half of each. No lock is taken, so a
/// reader never waits for (or on) a writer, in this process or another.
pub(crate) fn header_bytes(file: &File) -> Result<[u8; MAX_HEADER_LEN]> {
    let read = || -> Result<[u8; MAX_HEADER_LEN]> {
        let mut bytes = [0u8; MAX_HEADER_LEN];
        file.read_exact_at(&mut bytes, 0)
            .map_err(|_| tampered("header is cut short"))?;
        Ok(bytes)
    };
    let mut last = read()?;
    for _ in 0..100 {
        let next = read()?;
        if next == last {
            return Ok(next);
        }
        last = next;
    }
    Ok(last)
}

/// Reads and checks the header of `file`.
pub(crate) fn read_header(file: &File, unlocked: &Unlocked) -> Result<Header> {
    Header::parse(unlocked, &header_bytes(file)?)
}
