//! Grants, signing keys and the access log on a real vault file.

mod common;

use common::{raw, vault};
use kluis_core::Pointer;
use kluis_core::grant::{BusinessId, GrantRequest, Status};
use kluis_core::token::{Expectations, verify_grant};
use kluis_store::{StoreError, Vault};

const NOW: i64 = 1_800_000_000;

fn request(to: &str) -> GrantRequest {
    GrantRequest {
        audience: BusinessId::parse(to).unwrap(),
        fields: vec![Pointer::parse("/profile/email").unwrap()],
        purpose: "newsletter".into(),
        purpose_category: None,
        lifetime_secs: 3600,
        key_thumbprint: None,
        append_record: false,
        contact: None,
    }
}

#[test]
fn a_grant_token_verifies_against_the_published_keys() {
    let dir = tempfile::tempdir().unwrap();
    let v = vault(dir.path());
    let (grant, token) = v.create_grant(request("shop.example"), NOW).unwrap();
    let jwks = v.jwks(NOW).unwrap();
    let claims = verify_grant(
        &token,
        |kid| jwks.find(kid),
        &Expectations {
            issuer: &v.issuer(),
            audience: Some("shop.example"),
            now: NOW + 1,
            leeway: 0,
        },
    )
    .unwrap();
    assert_eq!(claims.jti, grant.id.as_str());
    assert_eq!(claims.sub, grant.subject);
    assert_eq!(claims.fields(), ["/profile/email"]);
    assert_eq!(v.grant(&grant.id).unwrap().status(NOW), Status::Active);
}

#[test]
fn subjects_are_pairwise() {
    let dir = tempfile::tempdir().unwrap();
    let v = vault(dir.path());
    let (a1, _) = v.create_grant(request("a.example"), NOW).unwrap();
    let (a2, _) = v.create_grant(request("a.example"), NOW).unwrap();
    let (b, _) = v.create_grant(request("b.example"), NOW).unwrap();
    assert_eq!(a1.subject, a2.subject);
    assert_ne!(a1.subject, b.subject);
}

#[test]
fn revocation_is_seen_by_another_connection_and_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let v = vault(dir.path());
    let other = Vault::connect(dir.path(), v.unlocked()).unwrap();
    let (grant, _) = v.create_grant(request("shop.example"), NOW).unwrap();
    assert_eq!(
        other
            .grant_state(grant.id.as_str())
            .unwrap()
            .unwrap()
            .revoked_at,
        None
    );
    let (_, changed) = v.revoke_grant(&grant.id, NOW + 5).unwrap();
    assert!(changed);
    assert_eq!(
        other
            .grant_state(grant.id.as_str())
            .unwrap()
            .unwrap()
            .revoked_at,
        Some(NOW + 5)
    );
    assert!(!v.revoke_grant(&grant.id, NOW + 9).unwrap().1);
    assert_eq!(
        other.grant(&grant.id).unwrap().status(NOW + 6),
        Status::Revoked
    );
}

#[test]
fn un_revoking_by_editing_the_file_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let v = vault(dir.path());
    let (grant, _) = v.create_grant(request("shop.example"), NOW).unwrap();
    v.revoke_grant(&grant.id, NOW + 1).unwrap();
    raw(dir.path())
        .execute("UPDATE grants SET revoked_at = NULL", [])
        .unwrap();
    assert!(matches!(v.grant(&grant.id), Err(StoreError::Tampered(_))));
}

#[test]
fn rotated_keys_stay_published_while_their_grants_live() {
    let dir = tempfile::tempdir().unwrap();
    let v = vault(dir.path());
    let (grant, old_token) = v.create_grant(request("shop.example"), NOW).unwrap();
    let new_kid = v.rotate_signing_key(NOW + 10).unwrap();
    let jwks = v.jwks(NOW + 10).unwrap();
    assert_eq!(jwks.keys.len(), 2);
    assert_eq!(jwks.keys[0].kid.as_deref(), Some(new_kid.as_str()));
    assert!(jwks.find(&grant.kid).is_some());
    let (_, new_token) = v.create_grant(request("shop.example"), NOW + 10).unwrap();
    assert_ne!(
        old_token.split('.').next(),
        new_token.split('.').next(),
        "new kid in the header"
    );
    // Once the old grant has expired, its key leaves the set.
    assert_eq!(v.jwks(grant.expires_at + 1).unwrap().keys.len(), 1);
    assert!(
        v.verifying_key(&grant.kid).unwrap().is_some(),
        "still known for checking"
    );
}

#[test]
fn editing_a_grants_clear_state_is_caught_on_the_hot_path() {
    let dir = tempfile::tempdir().unwrap();
    let v = vault(dir.path());
    let (grant, _) = v.create_grant(request("shop.example"), NOW).unwrap();
    v.revoke_grant(&grant.id, NOW + 1).unwrap();
    let raw = raw(dir.path());
    raw.execute("UPDATE grants SET revoked_at = NULL", [])
        .unwrap();
    assert!(matches!(
        v.grant_state(grant.id.as_str()),
        Err(StoreError::Tampered(_))
    ));
    raw.execute(
        "UPDATE grants SET revoked_at = ?1, expires_at = expires_at + 999999",
        [NOW + 1],
    )
    .unwrap();
    assert!(matches!(
        v.grant_state(grant.id.as_str()),
        Err(StoreError::Tampered(_))
    ));
}

#[test]
fn a_public_key_slipped_into_the_table_is_not_published() {
    let dir = tempfile::tempdir().unwrap();
    let v = vault(dir.path());
    let raw = raw(dir.path());
    let attacker = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
    let jwk = kluis_core::jose::Jwk::from_verifying_key(&attacker.verifying_key());
    raw.execute(
        "UPDATE signing_keys SET public_jwk = ?1",
        [serde_json::to_string(&jwk).unwrap()],
    )
    .unwrap();
    assert!(matches!(v.jwks(NOW), Err(StoreError::Tampered(_))));
}

/// A writer committing back to back (a bulk import, a busy server's access requests) leaves
/// the write lock free only for moments; a revocation from another process must still get its
/// turn (with SQLite's default back-off it could give up after 5 s with "database is locked").
#[test]
fn revocation_gets_the_write_lock_while_another_connection_commits_back_to_back() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    let dir = tempfile::tempdir().unwrap();
    let v = vault(dir.path());
    let grants: Vec<_> = (0..5)
        .map(|i| {
            v.create_grant(request(&format!("shop-{i}.example")), NOW)
                .unwrap()
                .0
        })
        .collect();
    let busy = raw(dir.path());
    busy.busy_timeout(std::time::Duration::from_secs(10))
        .unwrap();
    busy.execute_batch("PRAGMA synchronous = OFF; CREATE TABLE scratch (n INTEGER);")
        .unwrap();
    let (stop, commits) = (&AtomicBool::new(false), &AtomicUsize::new(0));
    std::thread::scope(|scope| {
        let writer = scope.spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                busy.execute_batch("BEGIN IMMEDIATE; INSERT INTO scratch VALUES (1); COMMIT;")
                    .unwrap();
                commits.fetch_add(1, Ordering::Relaxed);
            }
        });
        // Let the writer get going, then revoke while it holds the lock almost all the time.
        while commits.load(Ordering::Relaxed) < 200 && !writer.is_finished() {
            std::thread::yield_now();
        }
        let revoked: Vec<_> = grants
            .iter()
            .map(|grant| {
                v.revoke_grant(&grant.id, NOW + 1)
                    .map(|(_, changed)| changed)
            })
            .collect();
        stop.store(true, Ordering::Relaxed);
        writer.join().unwrap();
        for outcome in revoked {
            assert!(
                matches!(outcome, Ok(true)),
                "revocation failed: {outcome:?}"
            );
        }
    });
    for grant in &grants {
        assert_eq!(v.grant(&grant.id).unwrap().status(NOW + 2), Status::Revoked);
    }
    assert_eq!(v.verify_log().unwrap().first_broken, None);
}
