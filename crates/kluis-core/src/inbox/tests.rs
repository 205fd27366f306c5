//! Tests of the inbox rules: ids, message checks, the canonical hash and delivery receipts.

use super::*;
use crate::jose::{Jwk, Jwks, b64_decode, b64_encode, sign_compact};
use crate::token::{self, AuthorizationDetail, GrantClaims};
use proptest::prelude::*;
use serde_json::json;

const ISS: &str = "urn:kluis:vault:0123";
const AUD: &str = "webshop.example";

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn kid(key: &SigningKey) -> String {
    Jwk::from_verifying_key(&key.verifying_key()).kid.unwrap()
}

fn post() -> InboxPost {
    InboxPost {
        topic: "orders".into(),
        subject: "Your \"order\" shipped".into(),
        body: "Line 1\r\nLine 2\tés ✓ \\ end".into(),
        in_reply_to: None,
    }
}

fn receipt() -> DeliveryReceipt {
    DeliveryReceipt::new(
        ISS,
        "pairwise-7f3a",
        &BusinessId::parse(AUD).unwrap(),
        &MessageId::from_random([3; 16]),
        1_700_000_000,
        &post(),
    )
}

/// Verifies with key 1 as the only known key.
fn verify(jws: &str, audience: &str) -> Result<DeliveryReceipt, TokenError> {
    let k = key(1);
    let known = kid(&k);
    verify_receipt(
        jws,
        |kid| (kid == known).then(|| k.verifying_key()),
        ISS,
        audience,
    )
}

fn sign(claims: &DeliveryReceipt) -> String {
    sign_receipt(claims, &key(1), &kid(&key(1)))
}

#[test]
fn message_ids_round_trip_and_reject_junk() {
    let id = MessageId::from_random([0xAB; 16]);
    assert!(id.as_str().starts_with("m_"));
    assert_eq!(MessageId::parse(id.as_str()).unwrap(), id);
    assert_eq!(id.to_string(), id.as_str());
    let json = serde_json::to_string(&id).unwrap();
    assert_eq!(json, format!("\"{id}\""));
    assert_eq!(serde_json::from_str::<MessageId>(&json).unwrap(), id);
    for junk in [
        "",
        "m_",
        "g_abcdefghijklmnopqrstuvwxyz",
        "m_ABCDEFGHIJKLMNOPQRSTUVWXYZ",
        "m_abcdefghijklmnopqrstuvwxy",
    ] {
        assert!(MessageId::parse(junk).is_err(), "{junk}");
        assert!(serde_json::from_value::<MessageId>(json!(junk)).is_err());
    }
}

#[test]
fn a_post_reads_strictly() {
    let id = MessageId::from_random([1; 16]);
    let body = json!({"topic": "orders", "subject": "s", "body": "b", "in_reply_to": id});
    let read: InboxPost = serde_json::from_value(body).unwrap();
    assert_eq!(read.in_reply_to, Some(id));
    let without: InboxPost =
        serde_json::from_value(json!({"topic": "t", "subject": "s", "body": "b"})).unwrap();
    assert_eq!(without.in_reply_to, None);
    for bad in [
        json!({"topic": "t", "subject": "s", "body": "b", "priority": "high"}),
        json!({"topic": "t", "subject": "s"}),
        json!({"topic": "t", "subject": "s", "body": "b", "in_reply_to": "g_x"}),
    ] {
        assert!(
            serde_json::from_value::<InboxPost>(bad.clone()).is_err(),
            "{bad}"
        );
    }
}

#[test]
fn checks_name_what_is_wrong() {
    assert!(post().check().is_ok());
    let longest = InboxPost {
        topic: "t".repeat(MAX_TOPIC_CHARS),
        subject: "é".repeat(MAX_SUBJECT_CHARS),
        body: "x".repeat(MAX_BODY_BYTES),
        in_reply_to: None,
    };
    assert!(longest.check().is_ok());
    type Edit = fn(&mut InboxPost);
    let cases: [(&str, Edit); 11] = [
        ("topic", |p| p.topic = " ".into()),
        ("topic", |p| p.topic = String::new()),
        ("topic", |p| p.topic = "t".repeat(MAX_TOPIC_CHARS + 1)),
        ("topic", |p| p.topic = "a\u{1b}[2J".into()),
        ("subject", |p| p.subject = String::new()),
        ("subject", |p| p.subject = "  ".into()),
        ("subject", |p| p.subject = "x".repeat(MAX_SUBJECT_CHARS + 1)),
        ("subject", |p| p.subject = "two\nlines".into()),
        ("body", |p| p.body = "\n\t ".into()),
        ("body", |p| p.body = "é".repeat(MAX_BODY_BYTES / 2 + 1)),
        ("body", |p| {
            p.body = "bell \u{7} and \u{1b}]0;title\u{7}".into()
        }),
    ];
    for (what, edit) in cases {
        let mut bad = post();
        edit(&mut bad);
        let err = bad.check().unwrap_err().to_string();
        assert!(err.starts_with(what), "{what}: {err} ({bad:?})");
    }
    let mut c1 = post();
    c1.body = "csi \u{9b}31m".into();
    assert!(c1.check().is_err(), "C1 control characters are refused too");
}

#[test]
fn the_hash_is_over_the_documented_canonical_form() {
    // The canonical text and its hash as Python's json.dumps(…, separators=(",", ":"),
    // ensure_ascii=False) and hashlib compute them for the same message.
    assert_eq!(
        String::from_utf8(canonical_form(&post())).unwrap(),
        r#"{"topic":"orders","subject":"Your \"order\" shipped","body":"Line 1\r\nLine 2\tés ✓ \\ end","in_reply_to":null}"#
    );
    assert_eq!(
        sha256_text(&message_sha256(&post())),
        "KGQ5dz5u3eaudxLaGnyt0EM8Bgm4SXeGPNbJHuKjBHE"
    );
    let mut answer = post();
    answer.in_reply_to = Some(MessageId::from_random([0; 16]));
    assert_eq!(
        sha256_text(&message_sha256(&answer)),
        "BdcI2fkU99bSmhiEqEEETSmQnhpDGPtovMFND2yNTdQ"
    );
}

#[test]
fn a_receipt_round_trips_and_covers_only_its_message() {
    let jws = sign(&receipt());
    assert_eq!(verify(&jws, AUD), Ok(receipt()));
    let header: serde_json::Value =
        serde_json::from_slice(&b64_decode(jws.split('.').next().unwrap()).unwrap()).unwrap();
    assert_eq!(
        header,
        json!({"alg": "EdDSA", "typ": DELIVERY_TYP, "kid": kid(&key(1))})
    );
    let claims: serde_json::Value =
        serde_json::from_slice(&b64_decode(jws.split('.').nth(1).unwrap()).unwrap()).unwrap();
    assert!(claims.get("in_reply_to").is_none());
    assert_eq!(
        claims["sha256"],
        "KGQ5dz5u3eaudxLaGnyt0EM8Bgm4SXeGPNbJHuKjBHE"
    );

    let verified = verify(&jws, AUD).unwrap();
    assert!(verified.covers(&post()));
    let mut other = post();
    other.body.push('!');
    assert!(!verified.covers(&other));
    let mut answer = post();
    answer.in_reply_to = Some(MessageId::from_random([9; 16]));
    assert!(!verified.covers(&answer));
}

#[test]
fn a_receipt_verifies_from_the_published_jwks() {
    let jwks = Jwks {
        keys: vec![Jwk::from_verifying_key(&key(1).verifying_key())],
    };
    let jws = sign(&receipt());
    assert_eq!(
        verify_receipt(&jws, |kid| jwks.find(kid), ISS, AUD),
        Ok(receipt())
    );
    let unknown = sign_receipt(&receipt(), &key(1), "rotated-away");
    assert_eq!(
        verify_receipt(&unknown, |kid| jwks.find(kid), ISS, AUD),
        Err(TokenError::UnknownKey)
    );
}

#[test]
fn altered_or_forged_receipts_are_refused() {
    let jws = sign(&receipt());
    let parts: Vec<&str> = jws.split('.').collect();
    let mut altered = receipt();
    altered.sha256 = sha256_text(&[7; 32]);
    let payload = b64_encode(serde_json::to_vec(&altered).unwrap());
    let swapped = format!("{}.{payload}.{}", parts[0], parts[2]);
    assert_eq!(verify(&swapped, AUD), Err(TokenError::BadSignature));

    let mut signature = b64_decode(parts[2]).unwrap();
    signature[5] ^= 1;
    let flipped = format!("{}.{}.{}", parts[0], parts[1], b64_encode(signature));
    assert_eq!(verify(&flipped, AUD), Err(TokenError::BadSignature));

    let forged = sign_receipt(&receipt(), &key(2), &kid(&key(1)));
    assert_eq!(verify(&forged, AUD), Err(TokenError::BadSignature));
}

#[test]
fn a_grant_token_is_not_a_receipt_and_the_audience_must_match() {
    let grant = GrantClaims {
        iss: ISS.into(),
        sub: "pairwise-7f3a".into(),
        aud: AUD.into(),
        jti: MessageId::from_random([3; 16]).to_string(),
        iat: 1_700_000_000,
        nbf: None,
        exp: 1_800_000_000,
        purpose: "p".into(),
        purpose_category: None,
        authorization_details: vec![AuthorizationDetail::read_fields(["/profile/email"])],
        cnf: None,
    };
    let token = token::encode_grant(&grant, &key(1), &kid(&key(1)));
    assert_eq!(verify(&token, AUD), Err(TokenError::WrongType));
    // The receipt's own claims under a grant's typ are refused as well.
    let payload = serde_json::to_vec(&receipt()).unwrap();
    let retyped = sign_compact(
        &json!({"typ": token::GRANT_TYP, "kid": kid(&key(1))}),
        &payload,
        &key(1),
    );
    assert_eq!(verify(&retyped, AUD), Err(TokenError::WrongType));

    let jws = sign(&receipt());
    assert_eq!(
        verify(&jws, "other.example"),
        Err(TokenError::WrongAudience)
    );
    let k = key(1);
    assert_eq!(
        verify_receipt(&jws, |_| Some(k.verifying_key()), "urn:other", AUD),
        Err(TokenError::WrongIssuer)
    );
    let mut short = receipt();
    short.sha256 = "AAAA".into();
    assert_eq!(verify(&sign(&short), AUD), Err(TokenError::Malformed));
}

#[test]
fn reply_subjects_say_re_once_and_stay_in_bounds() {
    assert_eq!(reply_subject("Shipped"), "Re: Shipped");
    assert_eq!(reply_subject("Re: Shipped"), "Re: Shipped");
    let long = reply_subject(&"é".repeat(MAX_SUBJECT_CHARS));
    assert_eq!(long.chars().count(), MAX_SUBJECT_CHARS);
    assert!(long.starts_with("Re: é"));
}

#[test]
fn reply_events_serialize_as_documented() {
    let data = InboxReplied {
        grant_id: GrantId::from_random([0; 16]),
        subject: "pairwise".into(),
        message: ReplyMessage {
            id: MessageId::from_random([1; 16]),
            in_reply_to: MessageId::from_random([2; 16]),
            topic: "orders".into(),
            subject: "Re: s".into(),
            body: "thanks".into(),
        },
    };
    let value = serde_json::to_value(&data).unwrap();
    assert_eq!(
        value["message"]["in_reply_to"],
        json!(data.message.in_reply_to)
    );
    assert_eq!(
        value.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["grant_id", "message", "subject"]
    );
    assert_eq!(serde_json::from_value::<InboxReplied>(value).unwrap(), data);
}

proptest! {
    #[test]
    fn a_tampered_receipt_never_verifies(index in any::<prop::sample::Index>(), flip in 1u8..) {
        let mut bytes = sign(&receipt()).into_bytes();
        let at = index.index(bytes.len());
        bytes[at] ^= flip;
        if let Ok(tampered) = String::from_utf8(bytes) {
            prop_assert!(verify(&tampered, AUD).is_err());
        }
    }

    /// Every message that passes the check hashes the JSON its canonical form claims to be.
    #[test]
    fn the_canonical_form_is_the_json_of_the_message(
        topic in "[a-z]{1,10}", subject in "[^\\p{Cc}]{1,20}", body in "[^\\p{Cc}]{1,40}",
    ) {
        let post = InboxPost { topic, subject, body, in_reply_to: None };
        prop_assume!(post.check().is_ok());
        let parsed: serde_json::Value = serde_json::from_slice(&canonical_form(&post)).unwrap();
        prop_assert_eq!(
            parsed,
            json!({"topic": post.topic, "subject": post.subject, "body": post.body, "in_reply_to": null})
        );
    }
}
