//! The access log in its own file: the chain, what tampering with the file is found, crashes,
//! several writers, and moving a log kept in the database by older versions.

mod common;

use std::fs;
use std::os::unix::fs::FileExt;
use std::path::Path;

use common::{raw, record, vault};
use kluis_core::Pointer;
use kluis_core::access::{AccessRecord, Outcome};
use kluis_core::grant::{BusinessId, GrantRequest, Status};
use kluis_store::{LOG_FILE, Passphrase, StoreError, Vault, frame_ranges};

const NOW: i64 = 1_800_000_000;

fn log_file(dir: &Path) -> fs::File {
    fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(dir.join(LOG_FILE))
        .unwrap()
}

fn read_at(dir: &Path, at: u64, len: u64) -> Vec<u8> {
    let mut bytes = vec![0; len as usize];
    log_file(dir).read_exact_at(&mut bytes, at).unwrap();
    bytes
}

fn write_at(dir: &Path, at: u64, bytes: &[u8]) {
    log_file(dir).write_all_at(bytes, at).unwrap();
}

/// Three appends of two records each: entries 1–2, 3–4 and 5–6 in three frames.
fn three_frames(v: &Vault) {
    for batch in 0..3 {
        v.append_log(&[record(batch * 2 + 1), record(batch * 2 + 2)])
            .unwrap();
    }
}

/// A grant for shop.example to the e-mail address.
fn newsletter_grant(v: &Vault) -> kluis_core::grant::Grant {
    let request = GrantRequest {
        audience: BusinessId::parse("shop.example").unwrap(),
        fields: vec![Pointer::parse("/profile/email").unwrap()],
        purpose: "newsletter".into(),
        purpose_category: None,
        lifetime_secs: 3600,
        key_thumbprint: None,
        append_record: false,
        contact: None,
    };
    v.create_grant(request, NOW).unwrap().0
}

fn first_broken(v: &Vault) -> Option<(i64, String)> {
    v.verify_log().unwrap().first_broken
}

#[test]
fn the_chain_verifies_and_names_the_first_broken_entry() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let v = vault(d);
    assert_eq!(v.verify_log().unwrap().entries, 0);
    // Written through a connection that is closed again, so the head is up to date.
    three_frames(&Vault::connect(d, v.unlocked()).unwrap());
    let check = v.verify_log().unwrap();
    assert_eq!((check.entries, check.first_broken), (6, None));
    let entries = v.log_entries().unwrap();
    assert_eq!(
        entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5, 6]
    );
    assert_eq!(entries[3].record, record(4));

    let frames = frame_ranges(&d.join(LOG_FILE)).unwrap();
    assert_eq!(frames.len(), 3);
    let (second, third) = (frames[1].clone(), frames[2].clone());

    // One flipped bit inside the second frame's sealed records.
    let original = read_at(d, second.start, second.end - second.start);
    let mut flipped = original.clone();
    flipped[30] ^= 1;
    write_at(d, second.start, &flipped);
    let (seq, why) = first_broken(&v).unwrap();
    assert_eq!(seq, 3, "{why}");
    assert!(why.contains("altered"), "{why}");
    assert!(matches!(v.log_entries(), Err(StoreError::Tampered(_))));
    write_at(d, second.start, &original);
    assert_eq!(first_broken(&v), None);

    // The second and third frames swapped (they are the same size).
    let last = read_at(d, third.start, third.end - third.start);
    assert_eq!(last.len(), original.len());
    write_at(d, second.start, &last);
    write_at(d, third.start, &original);
    let (seq, why) = first_broken(&v).unwrap();
    assert_eq!(seq, 3, "{why}");
    assert!(why.contains("out of order"), "{why}");
    write_at(d, second.start, &original);
    write_at(d, third.start, &last);
    assert_eq!(first_broken(&v), None);

    // The last frame zeroed: the head still says 6.
    write_at(d, third.start, &vec![0; last.len()]);
    let (seq, why) = first_broken(&v).unwrap();
    assert_eq!(seq, 5, "{why}");
    assert!(why.contains("missing"), "{why}");
    // The file cut after the first frame.
    log_file(d).set_len(second.start).unwrap();
    assert_eq!(first_broken(&v).unwrap().0, 3);
}

#[test]
fn the_head_lags_the_last_appends_only_briefly() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let v = vault(d);
    let zero_frame = |n: usize| {
        let frame = frame_ranges(&d.join(LOG_FILE)).unwrap()[n].clone();
        let bytes = read_at(d, frame.start, frame.end - frame.start);
        write_at(d, frame.start, &vec![0; bytes.len()]);
        move || write_at(d, frame.start, &bytes)
    };

    let writer = Vault::connect(d, v.unlocked()).unwrap();
    writer.append_log(&[record(1)]).unwrap();
    writer.append_log(&[record(2)]).unwrap();
    // Closing the writer writes the head (unless the second append already did, 100 ms on).
    drop(writer);
    let restore = zero_frame(1);
    assert_eq!(first_broken(&v).unwrap().0, 2);
    restore();

    // A writer that went quiet settles it.
    let writer = Vault::connect(d, v.unlocked()).unwrap();
    writer.append_log(&[record(3)]).unwrap();
    writer.append_log(&[record(4)]).unwrap();
    writer.settle_log().unwrap();
    let restore = zero_frame(3);
    assert_eq!(first_broken(&v).unwrap().0, 4);
    restore();
    drop(writer);

    // A writer that stays open writes it again once the interval has passed.
    let writer = Vault::connect(d, v.unlocked()).unwrap();
    writer.append_log(&[record(5)]).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(150));
    writer.append_log(&[record(6)]).unwrap();
    let restore = zero_frame(5);
    assert_eq!(first_broken(&v).unwrap().0, 6);
    restore();
    assert_eq!(first_broken(&v), None);
}

#[test]
fn an_edited_header_is_found_and_stops_appends() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let v = vault(d);
    three_frames(&Vault::connect(d, v.unlocked()).unwrap());
    // The head's entry count (bytes 28..36) set back to 2, as if the last frames never were.
    let header = read_at(d, 0, 108);
    let mut edited = header.clone();
    edited[35] = 2;
    write_at(d, 0, &edited);
    let (seq, why) = first_broken(&v).unwrap();
    assert_eq!(seq, 1);
    assert!(why.contains("header was altered"), "{why}");
    assert!(
        !why.contains("tampered with"),
        "said once, by the caller: {why}"
    );
    let other = Vault::connect(d, v.unlocked()).unwrap();
    assert!(matches!(
        other.append_log(&[record(7)]),
        Err(StoreError::Tampered(_))
    ));
    write_at(d, 0, &header);
    assert_eq!(first_broken(&v), None);
}

#[test]
fn a_missing_or_swapped_log_file_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let v = vault(d);
    v.append_log(&[record(1)]).unwrap();
    let path = d.join(LOG_FILE);
    let kept = d.join("kept.log");
    fs::rename(&path, &kept).unwrap();
    let (seq, why) = first_broken(&v).unwrap();
    assert_eq!(seq, 1);
    assert!(why.contains("missing"), "{why}");
    let other = Vault::connect(d, v.unlocked()).unwrap();
    assert!(
        matches!(other.append_log(&[record(2)]), Err(StoreError::Tampered(why)) if why.contains("missing")),
        "a missing log file is not silently started over"
    );
    assert!(!path.exists());

    // Another vault's log file in its place.
    let elsewhere = tempfile::tempdir().unwrap();
    vault(elsewhere.path()).append_log(&[record(1)]).unwrap();
    fs::copy(elsewhere.path().join(LOG_FILE), &path).unwrap();
    assert!(first_broken(&v).unwrap().1.contains("altered"));
    assert!(matches!(
        Vault::connect(d, v.unlocked())
            .unwrap()
            .append_log(&[record(2)]),
        Err(StoreError::Tampered(_))
    ));

    fs::rename(&kept, &path).unwrap();
    assert_eq!(first_broken(&v), None);
}

/// A writer flushes its frame, then rewrites the head without flushing it: after a crash the
/// head may lag one frame behind, and a frame may be half written past it.
#[test]
fn a_head_a_crash_set_back_and_a_half_written_frame_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let v = vault(d);
    let append_and_close = |records: &[AccessRecord]| {
        Vault::connect(d, v.unlocked())
            .unwrap()
            .append_log(records)
            .unwrap()
    };
    append_and_close(&[record(1), record(2)]);
    let old_header = read_at(d, 0, 108);
    append_and_close(&[record(3)]);
    assert_ne!(read_at(d, 0, 108), old_header, "the head moved");
    write_at(d, 0, &old_header);
    let check = v.verify_log().unwrap();
    assert_eq!((check.entries, check.first_broken), (3, None));

    // Garbage where the next frame goes: a write the crash cut short.
    let end = frame_ranges(&d.join(LOG_FILE)).unwrap()[1].end;
    write_at(d, end, &[0, 0, 0, 200, 1, 2, 3, 4, 5]);
    assert_eq!(v.verify_log().unwrap().entries, 3);
    // A writer that opens the log now (as after a restart) continues after entry 3 and
    // writes over the garbage.
    let after_restart = Vault::connect(d, v.unlocked()).unwrap();
    after_restart.append_log(&[record(4)]).unwrap();
    let entries = v.log_entries().unwrap();
    assert_eq!(entries.len(), 4);
    assert_eq!(entries[3].record, record(4));
    assert_eq!(first_broken(&v), None);
}

#[test]
fn writers_on_several_connections_share_one_chain() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let v = vault(d);
    v.append_log(&[record(0)]).unwrap();
    std::thread::scope(|scope| {
        for writer in 0..3 {
            let conn = Vault::connect(d, v.unlocked()).unwrap();
            scope.spawn(move || {
                for i in 0..100 {
                    let n = writer * 1000 + i;
                    conn.append_log(&[record(n), record(n + 500)]).unwrap();
                }
            });
        }
        // A reader meanwhile never sees a broken chain.
        for _ in 0..20 {
            assert_eq!(first_broken(&v), None);
        }
    });
    let entries = v.log_entries().unwrap();
    assert_eq!(entries.len(), 1 + 3 * 100 * 2);
    assert!(
        entries
            .iter()
            .enumerate()
            .all(|(i, e)| e.seq == i as i64 + 1)
    );
    // The records of one append stay together.
    for pair in entries[1..].chunks(2) {
        assert_eq!(pair[1].record.at_ms, pair[0].record.at_ms + 500);
    }
    assert_eq!(first_broken(&v), None);
}

#[test]
fn records_are_written_before_the_action_commits() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let v = vault(d);
    let grant = newsletter_grant(&v);

    // An action whose record cannot be written is not taken.
    let header = read_at(d, 0, 108);
    write_at(d, 0, &[0; 108]);
    let other = Vault::connect(d, v.unlocked()).unwrap();
    let out = other.in_transaction(|o| {
        o.revoke_grant(&grant.id, NOW + 1)?;
        o.append_log(&[record(1)])
    });
    assert!(matches!(out, Err(StoreError::Tampered(_))), "{out:?}");
    assert_eq!(v.grant(&grant.id).unwrap().status(NOW + 2), Status::Active);
    write_at(d, 0, &header);

    // The record is in the log once `append_log` returns, whatever the transaction does next;
    // if it then does not commit, the record is retracted after it.
    let out: Result<(), StoreError> = v.in_transaction(|v| {
        v.append_log(&[record(2)])?;
        Err(StoreError::Conflict("give up".into()))
    });
    assert!(out.is_err());
    let entries = v.log_entries().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0].record, record(2));
    assert_eq!(
        entries[1].record.reason.as_deref(),
        Some("not saved: the action did not complete")
    );
}

/// `tests/fixtures/vault-with-log-in-db` was made by the previous version (commit 4607237):
/// a vault under "pass phrase" whose log (entries 1–5, `common::record(1..=5)`, in two
/// transactions) is in the `access_log` table.
fn old_vault() -> tempfile::TempDir {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/vault-with-log-in-db");
    let dir = tempfile::tempdir().unwrap();
    fs::copy(fixture.join("vault.db"), dir.path().join("vault.db")).unwrap();
    dir
}

#[test]
fn a_log_kept_in_the_database_moves_to_its_file_on_the_first_append() {
    let dir = old_vault();
    let d = dir.path();
    let v = Vault::open(d, &Passphrase::new("pass phrase")).unwrap();
    // Read where it is, before any write.
    assert_eq!(v.verify_log().unwrap().entries, 5);
    assert_eq!(v.log_entries().unwrap()[4].record, record(5));
    assert!(!d.join(LOG_FILE).exists());

    v.append_log(&[record(6)]).unwrap();
    assert!(d.join(LOG_FILE).exists());
    let rows: i64 = raw(d)
        .query_row("SELECT count(*) FROM access_log", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 0, "the table is emptied");
    let check = v.verify_log().unwrap();
    assert_eq!((check.entries, check.first_broken), (6, None));
    let entries = v.log_entries().unwrap();
    assert_eq!(
        entries
            .iter()
            .map(|e| (e.seq, e.record.clone()))
            .collect::<Vec<_>>(),
        (1..=6).map(|n| (n, record(n))).collect::<Vec<_>>()
    );
    drop(v);
    let again = Vault::open(d, &Passphrase::new("pass phrase")).unwrap();
    again.append_log(&[record(7)]).unwrap();
    assert_eq!(again.verify_log().unwrap().entries, 7);
}

#[test]
fn a_broken_log_in_the_database_is_not_moved() {
    let dir = old_vault();
    let d = dir.path();
    raw(d)
        .execute("DELETE FROM access_log WHERE seq = 3", [])
        .unwrap();
    let v = Vault::open(d, &Passphrase::new("pass phrase")).unwrap();
    assert_eq!(first_broken(&v).unwrap().0, 3);
    let out = v.append_log(&[record(6)]);
    assert!(
        matches!(&out, Err(StoreError::Tampered(why)) if why.contains("entry 3") && why.contains("not moved")),
        "{out:?}"
    );
    assert!(!d.join(LOG_FILE).exists());
    assert_eq!(first_broken(&v).unwrap().0, 3, "still named where it is");
    assert!(
        matches!(v.log_entries(), Err(StoreError::Tampered(_))),
        "not listed as if it were whole"
    );
}

#[test]
fn two_writers_moving_an_old_log_at_once_move_it_once() {
    let dir = old_vault();
    let d = dir.path();
    let v = Vault::open(d, &Passphrase::new("pass phrase")).unwrap();
    std::thread::scope(|scope| {
        for n in [6, 7] {
            let conn = Vault::connect(d, v.unlocked()).unwrap();
            scope.spawn(move || conn.append_log(&[record(n)]).unwrap());
        }
    });
    let check = v.verify_log().unwrap();
    assert_eq!((check.entries, check.first_broken), (7, None));
    let mut last: Vec<_> = v.log_entries().unwrap()[5..]
        .iter()
        .map(|e| e.record.clone())
        .collect();
    last.sort_by_key(|r| r.at_ms);
    assert_eq!(last, [record(6), record(7)]);
}

#[test]
fn a_vault_is_not_made_over_a_log_file_left_behind() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join(LOG_FILE), b"left behind").unwrap();
    let made = Vault::create(
        dir.path(),
        &Passphrase::new("pass phrase"),
        kluis_store::KdfParams::OWASP_MINIMUM,
    );
    assert!(matches!(made, Err(StoreError::AlreadyExists(_))));
    assert!(
        !dir.path().join(kluis_store::DB_FILE).exists(),
        "nothing made"
    );
}

/// `kluis grant revoke` records the revocation, then commits it; the server's ledger decides a
/// batch and records it under the log's lock. A read decided between the revocation's record
/// and its commit would be served and logged as allowed after the revocation.
#[test]
fn a_read_recorded_after_a_revocation_was_decided_after_it() {
    use std::sync::mpsc;

    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let v = vault(d);
    let grant = newsletter_grant(&v);
    let id = grant.id.clone();
    let (recorded, go) = mpsc::channel();
    std::thread::scope(|scope| {
        let owner = Vault::connect(d, v.unlocked()).unwrap();
        let id = &id;
        scope.spawn(move || {
            owner
                .in_transaction(|o| {
                    o.revoke_grant(id, NOW + 1)?;
                    o.append_log(&[record(1)])?;
                    recorded.send(()).unwrap();
                    // The commit takes its time (a WAL fsync, another writer ahead).
                    std::thread::sleep(std::time::Duration::from_millis(300));
                    Ok(())
                })
                .unwrap()
        });
        let ledger = Vault::connect(d, v.unlocked()).unwrap();
        go.recv().unwrap();
        ledger
            .with_log_lock(|l| {
                let state = l.grant_state(id.as_str())?.unwrap();
                let mut read = record(2);
                if state.revoked_at.is_none() {
                    read.outcome = Outcome::Allowed;
                }
                l.append_log(&[read])
            })
            .unwrap();
    });
    let entries = v.log_entries().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0].record, record(1), "the revocation first");
    assert_eq!(
        entries[1].record.outcome,
        Outcome::Refused,
        "the read after it saw the revocation"
    );
}

#[test]
fn a_log_file_of_the_same_vault_with_another_id_is_found() {
    // Two copies of one old vault: the same keys, two log files made by two moves.
    let (a, b) = (old_vault(), old_vault());
    let pass = Passphrase::new("pass phrase");
    let va = Vault::open(a.path(), &pass).unwrap();
    va.append_log(&[record(6)]).unwrap();
    Vault::open(b.path(), &pass)
        .unwrap()
        .append_log(&[record(6)])
        .unwrap();
    fs::copy(b.path().join(LOG_FILE), a.path().join(LOG_FILE)).unwrap();
    let (seq, why) = first_broken(&va).unwrap();
    assert_eq!(seq, 1);
    assert!(why.contains("was replaced"), "{why}");
    let out = Vault::connect(a.path(), va.unlocked())
        .unwrap()
        .append_log(&[record(7)]);
    assert!(
        matches!(&out, Err(StoreError::Tampered(why)) if why.contains("was replaced")),
        "{out:?}"
    );
}

#[test]
fn a_move_rolled_back_with_its_transaction_is_made_again() {
    let dir = old_vault();
    let d = dir.path();
    let v = Vault::open(d, &Passphrase::new("pass phrase")).unwrap();
    // The move happens inside the transaction, which then gives up.
    let out: Result<(), StoreError> = v.in_transaction(|v| {
        v.append_log(&[record(6)])?;
        Err(StoreError::Conflict("give up".into()))
    });
    assert!(out.is_err());
    assert_eq!(v.verify_log().unwrap().entries, 5, "still the old table");
    // The same connection must not keep appending to the file the database does not name.
    v.append_log(&[record(7)]).unwrap();
    let entries: Vec<_> = v
        .log_entries()
        .unwrap()
        .into_iter()
        .map(|e| e.record)
        .collect();
    assert_eq!(entries.len(), 6);
    assert_eq!(entries[5], record(7));
}
