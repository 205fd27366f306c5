//! Pruning the access log: what is removed, that the rest still verifies from the checkpoint,
//! that tampering after a prune is found, crashes mid-prune, and writers on other connections.

mod common;

use std::fs;
use std::os::unix::fs::FileExt;
use std::path::Path;

use common::{record, vault};
use kluis_core::access::Action;
use kluis_store::{LOG_FILE, LogIndex, LogQuery, StoreError, Vault, Via, frame_ranges};

/// Three appends of two records each: entries 1–2, 3–4 and 5–6, at `record`'s times 1…6.
fn three_frames(v: &Vault) {
    for batch in 0..3 {
        v.append_log(&[record(batch * 2 + 1), record(batch * 2 + 2)])
            .unwrap();
    }
}

/// The time of `record(n)`.
fn at(n: i64) -> i64 {
    1_800_000_000_000 + n
}

fn seqs(v: &Vault) -> Vec<i64> {
    v.log_entries().unwrap().iter().map(|e| e.seq).collect()
}

fn write_at(dir: &Path, at: u64, bytes: &[u8]) {
    fs::OpenOptions::new()
        .write(true)
        .open(dir.join(LOG_FILE))
        .unwrap()
        .write_all_at(bytes, at)
        .unwrap();
}

fn read_at(dir: &Path, at: u64, len: usize) -> Vec<u8> {
    let mut bytes = vec![0; len];
    fs::File::open(dir.join(LOG_FILE))
        .unwrap()
        .read_exact_at(&mut bytes, at)
        .unwrap();
    bytes
}

#[test]
fn a_prune_removes_whole_old_frames_and_the_rest_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let v = vault(dir.path());
    three_frames(&v);
    let size_before = frame_ranges(&dir.path().join(LOG_FILE)).unwrap();
    // Entry 3 is not before the date, so its frame (3–4) stays, and so does everything after.
    let pruned = v
        .prune_log(at(3))
        .unwrap()
        .expect("one frame is old enough");
    assert_eq!(pruned.checkpoint.seq, 2);
    assert_eq!(pruned.entries, 2);
    assert_eq!(pruned.bytes, size_before[0].end - size_before[0].start);
    assert_eq!(pruned.checkpoint.before_ms, at(3));

    let check = v.verify_log().unwrap();
    assert_eq!(check.first_broken, None);
    assert_eq!(check.entries, 6);
    assert_eq!(check.pruned.map(|c| c.seq), Some(2));
    assert_eq!(seqs(&v), vec![3, 4, 5, 6]);
    assert_eq!(frame_ranges(&dir.path().join(LOG_FILE)).unwrap().len(), 2);

    // The log goes on from there, also through a new connection and after reopening.
    v.append_log(&[record(7)]).unwrap();
    drop(v);
    let v = Vault::open(dir.path(), &kluis_store::Passphrase::new("pass phrase")).unwrap();
    v.append_log(&[record(8)]).unwrap();
    assert_eq!(v.verify_log().unwrap().first_broken, None);
    assert_eq!(seqs(&v), vec![3, 4, 5, 6, 7, 8]);

    // The index pages through what is left, by entry number.
    let mut index = LogIndex::new();
    index.refresh(&v).unwrap();
    assert_eq!(index.check().first_broken, None);
    assert_eq!(index.first_seq(), 3);
    let page = index
        .query(
            &v,
            &LogQuery {
                limit: 2,
                ..LogQuery::default()
            },
        )
        .unwrap();
    assert_eq!(
        page.entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![8, 7]
    );
    assert_eq!(page.next, Some(7));
    let older = index
        .query(
            &v,
            &LogQuery {
                before: Some(7),
                ..LogQuery::default()
            },
        )
        .unwrap();
    assert_eq!(
        older.entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![6, 5, 4, 3]
    );
    assert!(matches!(index.read(&v, &[2]), Err(StoreError::NotFound(_))));

    // Pruning again moves the checkpoint further.
    let again = v.prune_log(at(6)).unwrap().unwrap();
    assert_eq!(again.checkpoint.seq, 4);
    index.refresh(&v).unwrap();
    assert_eq!(index.first_seq(), 5);
    assert_eq!(index.len(), 4);
    assert_eq!(seqs(&v), vec![5, 6, 7, 8]);
}

#[test]
fn a_date_before_every_entry_removes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let v = vault(dir.path());
    three_frames(&v);
    v.settle_log().unwrap();
    let bytes = fs::read(dir.path().join(LOG_FILE)).unwrap();
    assert_eq!(v.prune_log(at(1)).unwrap(), None);
    assert_eq!(v.prune_log(0).unwrap(), None);
    assert_eq!(fs::read(dir.path().join(LOG_FILE)).unwrap(), bytes);
    let check = v.verify_log().unwrap();
    assert_eq!((check.entries, check.pruned), (6, None));
}

#[test]
fn pruning_everything_leaves_an_empty_log_that_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let v = vault(dir.path());
    three_frames(&v);
    let pruned = v.prune_log(i64::MAX).unwrap().unwrap();
    assert_eq!((pruned.checkpoint.seq, pruned.entries), (6, 6));
    assert_eq!(v.verify_log().unwrap().first_broken, None);
    assert_eq!(seqs(&v), Vec::<i64>::new());
    v.append_log(&[record(7)]).unwrap();
    assert_eq!(v.verify_log().unwrap().first_broken, None);
    assert_eq!(seqs(&v), vec![7]);
}

#[test]
fn tampering_after_a_prune_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let v = vault(dir.path());
    three_frames(&v);
    v.settle_log().unwrap();
    let before_prune = read_at(dir.path(), 0, 4096);
    v.prune_log(at(3)).unwrap().unwrap();
    let log = dir.path().join(LOG_FILE);
    let pruned_header = read_at(dir.path(), 0, 4096);

    // A frame edited.
    let frames = frame_ranges(&log).unwrap();
    let inside = frames[1].start + 20;
    let byte = read_at(dir.path(), inside, 1)[0];
    write_at(dir.path(), inside, &[byte ^ 1]);
    let broken = v.verify_log().unwrap().first_broken.unwrap();
    assert_eq!(broken.0, 5, "{broken:?}");
    write_at(dir.path(), inside, &[byte]);
    assert_eq!(v.verify_log().unwrap().first_broken, None);

    // The checkpoint edited: its entry number, its MAC, or its date.
    for offset in [83u64, 100, 123] {
        let byte = pruned_header[offset as usize];
        write_at(dir.path(), offset, &[byte ^ 1]);
        let broken = v.verify_log().unwrap().first_broken.unwrap();
        assert_eq!(broken.0, 1);
        assert!(broken.1.contains("header was altered"), "{broken:?}");
        write_at(dir.path(), offset, &[byte]);
    }

    // The header from before the prune put back: the chain no longer starts where the frames
    // do. (One saved while the log was empty would empty it: docs/access-log.md.)
    write_at(dir.path(), 0, &before_prune);
    let broken = v.verify_log().unwrap().first_broken.unwrap();
    assert!(broken.1.contains("missing or out of order"), "{broken:?}");
    write_at(dir.path(), 0, &pruned_header);
    assert_eq!(v.verify_log().unwrap().first_broken, None);

    // The first kept frame removed as well (the rest moved up) is found too.
    let bytes = fs::read(&log).unwrap();
    let frames = frame_ranges(&log).unwrap();
    let mut cut = bytes[..4096].to_vec();
    cut.extend_from_slice(&bytes[frames[1].start as usize..]);
    fs::write(&log, &cut).unwrap();
    let broken = v.verify_log().unwrap().first_broken.unwrap();
    assert_eq!(broken.0, 3, "{broken:?}");
}

#[test]
fn a_broken_log_is_not_pruned() {
    let dir = tempfile::tempdir().unwrap();
    let v = vault(dir.path());
    three_frames(&v);
    v.settle_log().unwrap();
    let log = dir.path().join(LOG_FILE);
    let frames = frame_ranges(&log).unwrap();
    let inside = frames[2].start + 20;
    let byte = read_at(dir.path(), inside, 1)[0];
    write_at(dir.path(), inside, &[byte ^ 1]);
    let bytes = fs::read(&log).unwrap();
    let err = v.prune_log(at(3)).unwrap_err();
    assert!(
        matches!(&err, StoreError::Tampered(why) if why.contains("entry 5") && why.contains("not pruned")),
        "{err}"
    );
    assert_eq!(fs::read(&log).unwrap(), bytes);
}

#[test]
fn a_crash_mid_prune_leaves_a_verifiable_log() {
    let dir = tempfile::tempdir().unwrap();
    let v = vault(dir.path());
    three_frames(&v);
    // What a prune that crashed before its rename leaves: a half-written new file beside.
    let leftover = dir.path().join("access.log.prune");
    fs::write(&leftover, b"half a pruned log").unwrap();
    assert_eq!(v.verify_log().unwrap().first_broken, None);
    assert_eq!(seqs(&v), vec![1, 2, 3, 4, 5, 6]);
    v.append_log(&[record(7)]).unwrap();
    // The next prune starts over.
    v.prune_log(at(3)).unwrap().unwrap();
    assert!(!leftover.exists());
    assert_eq!(v.verify_log().unwrap().first_broken, None);
    assert_eq!(seqs(&v), vec![3, 4, 5, 6, 7]);
}

#[test]
fn a_writer_on_another_connection_follows_the_pruned_file() {
    let dir = tempfile::tempdir().unwrap();
    let owner = vault(dir.path());
    // The server's connection, with the log open already.
    let server = Vault::connect(dir.path(), owner.unlocked()).unwrap();
    server.log_without_fsync();
    three_frames(&server);
    owner.prune_log(at(3)).unwrap().unwrap();
    server.append_log(&[record(7)]).unwrap();
    server
        .with_log_lock(|s| s.append_log(&[record(8)]))
        .unwrap();
    drop(server);
    assert_eq!(owner.verify_log().unwrap().first_broken, None);
    assert_eq!(seqs(&owner), vec![3, 4, 5, 6, 7, 8]);
}

#[test]
fn a_writer_behind_on_the_old_file_adopts_its_last_frames_then_follows() {
    let dir = tempfile::tempdir().unwrap();
    let owner = vault(dir.path());
    let server = Vault::connect(dir.path(), owner.unlocked()).unwrap();
    three_frames(&server);
    // Another connection appends to the old file after the server's last append: the server
    // meets that frame, then the mark, when it next takes the lock.
    let other = Vault::connect(dir.path(), owner.unlocked()).unwrap();
    other.append_log(&[record(7)]).unwrap();
    owner.prune_log(at(3)).unwrap().unwrap();
    server.append_log(&[record(8)]).unwrap();
    other.append_log(&[record(9)]).unwrap();
    assert_eq!(owner.verify_log().unwrap().first_broken, None);
    assert_eq!(seqs(&owner), vec![3, 4, 5, 6, 7, 8, 9]);
}

#[test]
fn a_moved_mark_without_a_rename_ends_the_log_and_is_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let v = vault(dir.path());
    three_frames(&v);
    // What a prune whose rename failed leaves in the file still at the path.
    let end = frame_ranges(&dir.path().join(LOG_FILE))
        .unwrap()
        .last()
        .unwrap()
        .end;
    write_at(dir.path(), end, &[0xff; 4]);
    let other = Vault::connect(dir.path(), v.unlocked()).unwrap();
    assert_eq!(other.verify_log().unwrap().first_broken, None);
    assert_eq!(seqs(&other), vec![1, 2, 3, 4, 5, 6]);
    other.append_log(&[record(7)]).unwrap();
    assert_ne!(read_at(dir.path(), end, 4), [0xff; 4]);
    v.append_log(&[record(8)]).unwrap();
    assert_eq!(v.verify_log().unwrap().first_broken, None);
    assert_eq!(seqs(&v), vec![1, 2, 3, 4, 5, 6, 7, 8]);
}

#[test]
fn the_owner_layer_records_the_prune() {
    let dir = tempfile::tempdir().unwrap();
    let v = vault(dir.path());
    three_frames(&v);
    assert!(v.owner(Via::Cli).prune_log(at(1)).unwrap().is_none());
    assert_eq!(seqs(&v).len(), 6, "nothing removed, nothing recorded");
    v.owner(Via::Cli).prune_log(at(5)).unwrap().unwrap();
    let entries = v.log_entries().unwrap();
    let last = entries.last().unwrap();
    assert_eq!((last.seq, last.record.action), (7, Action::LogPrune));
    let reason = last.record.reason.as_deref().unwrap();
    assert!(reason.starts_with("removed entries 1 to 4"), "{reason}");
    assert_eq!(v.verify_log().unwrap().first_broken, None);
}

#[test]
fn counts_saved_before_a_prune_still_add_what_was_logged_after() {
    use kluis_core::access::Outcome;
    use kluis_store::{DayReads, GrantDay};
    use std::collections::HashMap;
    let dir = tempfile::tempdir().unwrap();
    let v = vault(dir.path());
    let grant = kluis_core::grant::GrantId::parse("g_dqqpdr3gxofgb3in735pikurxm").unwrap();
    let day = 21_000;
    let ms = |secs: i64| (day * 86_400 + secs) * 1000;
    let read = |secs| common::record_by(ms(secs), "a.example", &grant, Outcome::Allowed);
    v.append_log(&[record(1)]).unwrap();
    v.append_log(&[read(10)]).unwrap();
    let mark = v.log_mark().unwrap();
    let saved = DayReads {
        day,
        grants: HashMap::from([(
            grant.clone(),
            GrantDay {
                reads: 1,
                refusal_recorded: false,
            },
        )]),
    };
    v.save_day_reads(&saved, &mark).unwrap();
    v.append_log(&[read(20), read(21)]).unwrap();
    let count = |v: &Vault| v.day_reads(day).unwrap().unwrap().grants[&grant].reads;
    assert_eq!(count(&v), 3);
    // The first frame goes: every frame after it moves, the mark's among them.
    v.prune_log(at(2)).unwrap().unwrap();
    let other = Vault::connect(dir.path(), v.unlocked()).unwrap();
    assert_eq!(count(&other), 3);
    // Pruned past the mark: what is left is counted.
    v.prune_log(ms(15)).unwrap().unwrap();
    assert_eq!(count(&other), 1 + 2);
}
