//! Access requests and consent receipts on a real vault file: the request's life, the grant and
//! receipt an approval yields, refusals, the cap on waiting requests, and what reaches the disk.

mod common;

use common::{p, raw, vault};
use ed25519_dalek::SigningKey;
use kluis_core::grant::Status;
use kluis_core::jose::{self, Jwk};
use kluis_core::receipt::verify_receipt;
use kluis_core::token::{Expectations, verify_grant};
use kluis_core::wire::{AccessRequestBody, BusinessInfo, RequestStatus};
use kluis_store::{MAX_PENDING_REQUESTS, REQUEST_LIFETIME_SECS, StoreError, Vault};

const NOW: i64 = 1_800_000_000;
const NAME: &str = "Quokka Webwinkel B.V.";
const BUSINESS: &str = "zebrashop.example";
const PURPOSE: &str = "deliver the wombat order";

fn business_jwk() -> Jwk {
    Jwk::from_verifying_key(&SigningKey::from_bytes(&[42; 32]).verifying_key())
}

fn body() -> AccessRequestBody {
    AccessRequestBody {
        business: BusinessInfo::new(BUSINESS, NAME)
            .with_contact("Wombat Privacy Desk")
            .with_email("privacy@zebrashop.example")
            .with_address("Quokkastraat 7, 9999 ZZ Zebrastad")
            .with_phone("+31 99 876 5432"),
        jwk: business_jwk(),
        fields: vec![
            "/profile/email".into(),
            "/profile/address".into(),
            "/profile/phone_number".into(),
        ],
        append_record: false,
        contact: None,
        purpose: PURPOSE.into(),
        purpose_category: Some("contract".into()),
        duration_secs: Some(7 * 86_400),
        callback_url: Some("https://callbacks.zebrashop.example/kluis".into()),
    }
}

fn new_request(v: &Vault) -> String {
    v.create_access_request(&body(), NOW).unwrap().id
}

fn is_conflict(err: StoreError) -> bool {
    matches!(err, StoreError::Conflict(_))
}

#[test]
fn a_new_request_is_pending_until_it_lapses() {
    let dir = tempfile::tempdir().unwrap();
    let v = vault(dir.path());
    let created = v.create_access_request(&body(), NOW).unwrap();
    assert!(created.id.starts_with("r_") && created.id.len() == 28);
    assert_eq!(created.status, RequestStatus::Pending);
    assert_eq!(created.poll_url, format!("/v1/requests/{}", created.id));
    assert_eq!(
        created.fields_requested,
        [
            "/profile/address",
            "/profile/email",
            "/profile/phone_number"
        ]
    );
    assert_eq!(created.request_expires_at, NOW + REQUEST_LIFETIME_SECS);
    assert_eq!(
        (created.token.as_ref(), created.receipt.as_ref()),
        (None, None)
    );
    assert_eq!(v.access_request(&created.id, NOW + 1).unwrap(), created);

    let lapsed = v
        .access_request(&created.id, NOW + REQUEST_LIFETIME_SECS)
        .unwrap();
    assert_eq!(lapsed.status, RequestStatus::Expired);
    let err = v
        .approve_request(&created.id, None, None, NOW + REQUEST_LIFETIME_SECS)
        .unwrap_err();
    assert!(is_conflict(err));

    let listed = v.access_requests(NOW).unwrap();
    assert_eq!(listed.len(), 1);
    let stored = &listed[0];
    assert_eq!(stored.request.business.name, NAME);
    assert_eq!(
        stored.request.key_thumbprint,
        jose::thumbprint(&business_jwk())
    );
    assert_eq!(stored.request.duration_secs, 7 * 86_400);
    assert_eq!(stored.to_status(), created);

    let unknown = format!("r_{}", "a".repeat(26));
    assert!(matches!(
        v.access_request(&unknown, NOW),
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        v.access_request("../etc/passwd", NOW),
        Err(StoreError::Invalid(_))
    ));
    let mut bad = body();
    bad.fields = vec!["/profile/shoe_size".into()];
    assert!(matches!(
        v.create_access_request(&bad, NOW),
        Err(StoreError::Invalid(_))
    ));
    assert_eq!(v.access_requests(NOW).unwrap().len(), 1);
}

#[test]
fn waiting_requests_are_capped() {
    let dir = tempfile::tempdir().unwrap();
    let v = vault(dir.path());
    let ids: Vec<String> = (0..MAX_PENDING_REQUESTS).map(|_| new_request(&v)).collect();
    let err = v.create_access_request(&body(), NOW).unwrap_err();
    assert!(matches!(err, StoreError::TooMany(_)), "{err}");
    assert_eq!(v.access_requests(NOW).unwrap().len(), MAX_PENDING_REQUESTS);
    // A decision frees a place; so does lapsing.
    v.deny_request(&ids[0], None, NOW).unwrap();
    new_request(&v);
    assert!(v.create_access_request(&body(), NOW).is_err());
    assert!(
        v.create_access_request(&body(), NOW + REQUEST_LIFETIME_SECS)
            .is_ok()
    );
}

#[test]
fn approving_a_subset_yields_a_bound_grant_and_a_verifiable_receipt() {
    let dir = tempfile::tempdir().unwrap();
    let v = vault(dir.path());
    let id = new_request(&v);
    let subset = vec![p("/profile/email"), p("/profile/address/locality")];
    let (status, grant) = v
        .approve_request(&id, Some(subset), Some(3600), NOW + 10)
        .unwrap();
    assert_eq!(status.status, RequestStatus::Approved);
    assert_eq!(
        status.fields_granted.as_deref().unwrap(),
        ["/profile/address/locality", "/profile/email"]
    );
    assert_eq!(status.grant_id.as_deref(), Some(grant.id.as_str()));
    assert_eq!(status.expires_at, Some(NOW + 10 + 3600));
    assert_eq!(v.access_request(&id, NOW + 20).unwrap(), status);

    let jwks = v.jwks(NOW + 20).unwrap();
    let claims = verify_grant(
        status.token.as_deref().unwrap(),
        |kid| jwks.find(kid),
        &Expectations {
            issuer: &v.issuer(),
            audience: Some(BUSINESS),
            now: NOW + 20,
            leeway: 0,
        },
    )
    .unwrap();
    assert_eq!(
        claims.cnf.as_ref().unwrap().jkt,
        jose::thumbprint(&business_jwk()),
        "the token is bound to the business's key"
    );
    assert_eq!(
        claims.fields(),
        ["/profile/address/locality", "/profile/email"]
    );
    assert_eq!(claims.purpose_category.as_deref(), Some("contract"));

    let receipt = verify_receipt(status.receipt.as_deref().unwrap(), |kid| jwks.find(kid)).unwrap();
    let purpose = &receipt.services[0].purposes[0];
    assert_eq!(purpose.pii_category, claims.fields());
    assert_eq!(purpose.purpose, PURPOSE);
    assert_eq!(receipt.pii_principal_id, grant.subject);
    assert_eq!(receipt.grant_id, grant.id.as_str());
    let controller = &receipt.pii_controllers[0];
    assert_eq!(controller.pii_controller, NAME);
    assert_eq!(controller.contact, "Wombat Privacy Desk");
    assert_eq!(
        controller.email.as_deref(),
        Some("privacy@zebrashop.example")
    );
    assert_eq!(
        controller.address.as_deref(),
        Some("Quokkastraat 7, 9999 ZZ Zebrastad")
    );
    assert_eq!(controller.phone.as_deref(), Some("+31 99 876 5432"));
    assert_eq!(receipt.consent_timestamp, NOW + 10);

    let receipts = v.receipts().unwrap();
    assert_eq!(receipts.len(), 1);
    assert_eq!(receipts[0].receipt, receipt);
    assert_eq!(receipts[0].grant.status(NOW + 20), Status::Active);
    assert_eq!(v.receipt_ids(&grant.id).unwrap(), [receipts[0].id.clone()]);
    v.revoke_grant(&grant.id, NOW + 30).unwrap();
    let receipts = v.receipts().unwrap();
    assert_eq!(receipts[0].grant.revoked_at, Some(NOW + 30));
    assert_eq!(receipts[0].grant.status(NOW + 31), Status::Revoked);

    assert!(is_conflict(
        v.approve_request(&id, None, None, NOW + 40).unwrap_err()
    ));
    assert!(is_conflict(
        v.deny_request(&id, None, NOW + 40).unwrap_err()
    ));
}

#[test]
fn approving_everything_takes_the_asked_duration() {
    let dir = tempfile::tempdir().unwrap();
    let v = vault(dir.path());
    let id = new_request(&v);
    let (status, grant) = v.approve_request(&id, None, None, NOW).unwrap();
    assert_eq!(grant.fields.len(), 3);
    assert_eq!(grant.expires_at, NOW + 7 * 86_400);
    assert_eq!(grant.audience.as_str(), BUSINESS);
    assert_eq!(status.fields_granted.unwrap(), status.fields_requested);
}

#[test]
fn fields_outside_the_request_are_refused_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let v = vault(dir.path());
    let id = new_request(&v);
    for fields in [
        vec![p("/profile/email"), p("/profile/name")],
        vec![p("/profile")],
        vec![],
    ] {
        let err = v
            .approve_request(&id, Some(fields.clone()), None, NOW)
            .unwrap_err();
        assert!(matches!(err, StoreError::Invalid(_)), "{fields:?}: {err}");
    }
    let err = v
        .approve_request(&id, Some(vec![p("/profile/name")]), None, NOW)
        .unwrap_err();
    assert!(err.to_string().contains("/profile/name"), "{err}");
    assert!(matches!(
        v.approve_request(&id, None, Some(59), NOW),
        Err(StoreError::Invalid(_))
    ));
    assert_eq!(
        v.access_request(&id, NOW).unwrap().status,
        RequestStatus::Pending
    );
    assert!(v.grants().unwrap().is_empty());
    assert!(v.receipts().unwrap().is_empty());
}

#[test]
fn an_approval_inside_a_failed_outer_transaction_leaves_no_trace() {
    let dir = tempfile::tempdir().unwrap();
    let v = vault(dir.path());
    let id = new_request(&v);
    let err = v
        .in_transaction(|v| {
            v.approve_request(&id, None, None, NOW)?;
            Err::<(), _>(StoreError::Conflict("the caller changed its mind".into()))
        })
        .unwrap_err();
    assert!(is_conflict(err));
    assert_eq!(
        v.access_request(&id, NOW).unwrap().status,
        RequestStatus::Pending
    );
    assert!(v.grants().unwrap().is_empty());
    assert!(v.receipts().unwrap().is_empty());
    // And composed the other way round, both parts commit together.
    v.in_transaction(|v| v.approve_request(&id, None, None, NOW))
        .unwrap();
    assert_eq!(v.grants().unwrap().len(), 1);
}

#[test]
fn denial_carries_the_reason_and_is_final() {
    let dir = tempfile::tempdir().unwrap();
    let v = vault(dir.path());
    let id = new_request(&v);
    let denied = v
        .deny_request(&id, Some("  not for marketing  ".into()), NOW + 5)
        .unwrap();
    assert_eq!(denied.status, RequestStatus::Denied);
    assert_eq!(denied.reason.as_deref(), Some("not for marketing"));
    assert_eq!(denied.token, None);
    assert_eq!(v.access_request(&id, NOW + 6).unwrap(), denied);
    assert_eq!(v.access_requests(NOW).unwrap()[0].decided_at, Some(NOW + 5));
    assert!(is_conflict(v.deny_request(&id, None, NOW + 7).unwrap_err()));
    assert!(is_conflict(
        v.approve_request(&id, None, None, NOW + 7).unwrap_err()
    ));
    assert!(v.grants().unwrap().is_empty());

    let other = new_request(&v);
    let blank = v.deny_request(&other, Some(" ".into()), NOW).unwrap();
    assert_eq!(blank.reason, None);
    let third = new_request(&v);
    assert!(matches!(
        v.deny_request(&third, Some("x".repeat(501)), NOW),
        Err(StoreError::Invalid(_))
    ));
}

#[test]
fn edited_status_columns_are_noticed() {
    let dir = tempfile::tempdir().unwrap();
    let v = vault(dir.path());
    let id = new_request(&v);
    v.deny_request(&id, None, NOW).unwrap();
    let db = raw(dir.path());
    db.execute(
        "UPDATE access_requests SET status = 'pending', decided_at = NULL WHERE id = ?1",
        [&id],
    )
    .unwrap();
    assert!(matches!(
        v.approve_request(&id, None, None, NOW),
        Err(StoreError::Tampered(_))
    ));
    assert!(matches!(
        v.access_request(&id, NOW),
        Err(StoreError::Tampered(_))
    ));
}

#[test]
fn nothing_personal_reaches_the_disk_in_plaintext() {
    let dir = tempfile::tempdir().unwrap();
    let v = vault(dir.path());
    let approved = new_request(&v);
    let (_, grant) = v.approve_request(&approved, None, None, NOW).unwrap();
    let denied = new_request(&v);
    v.deny_request(&denied, Some("marsupialreason".into()), NOW)
        .unwrap();
    new_request(&v);
    let x = business_jwk().x;
    let scan = |label: &str| {
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            for needle in [
                NAME,
                "Quokka",
                BUSINESS,
                "zebrashop",
                PURPOSE,
                "wombat",
                "/profile",
                "contract",
                "marsupialreason",
                "Privacy Desk",
                "Quokkastraat",
                "876 5432",
                "KI-CR",
                &x,
                &grant.subject,
            ] {
                assert!(
                    !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                    "{label}: {needle:?} found in {}",
                    path.display()
                );
            }
        }
    };
    scan("open");
    drop(v);
    scan("closed");
}
