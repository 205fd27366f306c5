//! Grants: ids, request checks, claims, subsets, narrowing and lifetimes.
use super::*;
use proptest::prelude::*;
use serde_json::json;

fn p(text: &str) -> Pointer {
    Pointer::parse(text).unwrap()
}

#[test]
fn grant_ids_round_trip_and_reject_junk() {
    let id = GrantId::from_random([0xAB; 16]);
    assert_eq!(GrantId::parse(id.as_str()).unwrap(), id);
    for junk in [
        "",
        "g_",
        "g_ABCDEFGHIJKLMNOPQRSTUVWXYZ",
        "x_abcdefghijklmnopqrstuvwxyz",
        "../../etc",
    ] {
        assert!(GrantId::parse(junk).is_err(), "{junk}");
    }
}

#[test]
fn requests_are_checked_and_normalized() {
    let request = GrantRequest {
        audience: BusinessId::parse("webshop.example").unwrap(),
        fields: vec![
            p("/profile/address/locality"),
            p("/profile/email"),
            p("/profile/address"),
            p("/profile/email"),
        ],
        purpose: "  order delivery ".into(),
        purpose_category: None,
        lifetime_secs: DEFAULT_LIFETIME_SECS,
        key_thumbprint: None,
        contact: None,
        append_record: false,
    };
    let ok = request.clone().validated().unwrap();
    assert_eq!(ok.fields, [p("/profile/address"), p("/profile/email")]);
    assert_eq!(ok.purpose, "order delivery");
    let mut bad = request.clone();
    bad.fields = vec![Pointer::root()];
    assert!(bad.validated().is_err());
    let mut bad = request.clone();
    bad.fields = vec![p("/profile/nonsense")];
    assert!(bad.validated().is_err());
    let mut bad = request.clone();
    bad.purpose = " ".into();
    assert!(bad.validated().is_err());
    for category in [" ", "a\nb", &"c".repeat(MAX_CATEGORY_CHARS + 1)] {
        let mut bad = request.clone();
        bad.purpose_category = Some(category.to_owned());
        let err = bad.validated().unwrap_err();
        assert!(err.to_string().contains("purpose category"), "{err}");
    }
    let mut fine = request.clone();
    fine.purpose_category = Some(" contract ".into());
    assert_eq!(
        fine.validated().unwrap().purpose_category.as_deref(),
        Some("contract")
    );
    let mut bad = request;
    bad.lifetime_secs = MAX_LIFETIME_SECS + 1;
    assert!(bad.validated().is_err());
    assert!(BusinessId::parse("a b").is_err());
}

fn append_only(append_record: bool) -> GrantRequest {
    GrantRequest {
        audience: BusinessId::parse("webshop.example").unwrap(),
        fields: vec![],
        purpose: "keep your warranty papers".into(),
        purpose_category: None,
        lifetime_secs: DEFAULT_LIFETIME_SECS,
        key_thumbprint: None,
        contact: None,
        append_record,
    }
}

#[test]
fn an_append_right_alone_is_a_grant_and_nothing_at_all_is_not() {
    let ok = append_only(true).validated().unwrap();
    assert!(ok.append_record && ok.fields.is_empty() && ok.contact.is_none());
    let err = append_only(false).validated().unwrap_err().to_string();
    assert_eq!(err, NOTHING_GRANTED);
    assert!(err.contains("the right to add to its record"), "{err}");
}

fn grant_of(request: GrantRequest) -> Grant {
    Grant {
        id: GrantId::from_random([1; 16]),
        audience: request.audience,
        subject: "pairwise".into(),
        fields: request.fields,
        purpose: request.purpose,
        purpose_category: None,
        issued_at: 1_700_000_000,
        expires_at: 1_700_003_600,
        revoked_at: None,
        key_thumbprint: None,
        kid: "k1".into(),
        contact: request.contact,
        append_record: request.append_record,
    }
}

#[test]
fn a_grant_with_an_append_right_says_so_in_its_claims() {
    let claims = grant_of(append_only(true)).claims("https://vault.example");
    assert!(claims.may_append_record());
    assert!(claims.fields().is_empty());
    assert_eq!(
        serde_json::to_value(&claims.authorization_details).unwrap(),
        json!([{"type": "kluis_relationship", "actions": ["append"]}])
    );
    let mut both = append_only(true);
    both.fields = vec![p("/profile/email")];
    let claims = grant_of(both.clone()).claims("https://vault.example");
    assert!(claims.may_append_record());
    assert_eq!(claims.fields(), ["/profile/email"]);
    both.append_record = false;
    let claims = grant_of(both).claims("https://vault.example");
    assert!(!claims.may_append_record());
    assert_eq!(claims.authorization_details.len(), 1);
}

#[test]
fn grants_sealed_before_the_append_right_still_read_and_stay_as_they_were() {
    let mut reader = append_only(false);
    reader.fields = vec![p("/profile/email")];
    let grant = grant_of(reader);
    let stored = serde_json::to_value(&grant).unwrap();
    // Without the right the member is left out, as older versions wrote it.
    assert!(stored.get("append_record").is_none(), "{stored}");
    let back: Grant = serde_json::from_value(stored).unwrap();
    assert!(!back.append_record);
    let with = grant_of(append_only(true));
    let stored = serde_json::to_value(&with).unwrap();
    assert_eq!(stored["append_record"], true);
    assert_eq!(serde_json::from_value::<Grant>(stored).unwrap(), with);
}

#[test]
fn subset_shows_only_granted_fields() {
    let doc = document::sample();
    let (shown, present) = subset(
        &doc,
        &[
            p("/profile/email"),
            p("/profile/address"),
            p("/profile/website"),
        ],
    );
    assert_eq!(
        shown,
        json!({"profile": {"email": "anna@example.nl", "address": doc["profile"]["address"].clone()}})
    );
    assert_eq!(present, [p("/profile/email"), p("/profile/address")]);
}

/// Found by the `pointer_grant` fuzz target: the root among the fields panicked (an index
/// below zero) instead of showing nothing.
#[test]
fn subset_of_the_root_shows_nothing() {
    let doc = document::sample();
    assert_eq!(subset(&doc, &[Pointer::root()]), (json!({}), Vec::new()));
    let (shown, present) = subset(&doc, &[Pointer::root(), p("/profile/email")]);
    assert_eq!(shown, json!({"profile": {"email": "anna@example.nl"}}));
    assert_eq!(present, [p("/profile/email")]);
}

#[test]
fn narrowing_stays_inside_the_grant() {
    let granted = [p("/profile/address"), p("/profile/email")];
    assert_eq!(narrow(&granted, None).unwrap(), granted);
    assert_eq!(
        narrow(&granted, Some(&[p("/profile/address/locality")])).unwrap(),
        [p("/profile/address/locality")]
    );
    assert_eq!(
        narrow(&granted, Some(&[p("/profile/email"), p("/profile/name")])).unwrap_err(),
        [p("/profile/name")]
    );
    assert!(
        narrow(&granted, Some(&[p("/profile")])).is_err(),
        "a parent is wider than the grant"
    );
}

#[test]
fn lifetimes_parse() {
    assert_eq!(parse_lifetime("30d").unwrap(), 30 * 86_400);
    assert_eq!(parse_lifetime("90m").unwrap(), 5400);
    for bad in ["", "d", "30", "-1d", "1y", "99999999999999999w"] {
        assert!(parse_lifetime(bad).is_err(), "{bad}");
    }
}

/// Found by the `pointer_grant` fuzz target: a last character of more than one byte panicked
/// (a split inside it) instead of being refused as a unit.
#[test]
fn lifetimes_with_a_wide_last_character_are_refused() {
    for bad in ["5é", "é", "30d\u{301}", "1\u{1F600}", "2\u{200B}"] {
        assert!(parse_lifetime(bad).is_err(), "{bad}");
    }
    assert_eq!(parse_lifetime(" 2w ").unwrap(), 14 * 86_400);
}

#[test]
fn within_keeps_what_lies_inside_the_kept_fields() {
    let p = |t: &str| Pointer::parse(t).unwrap();
    let kept = [p("/profile/email"), p("/preferences")];
    assert_eq!(within(&[p("/profile")], &kept), [p("/profile/email")]);
    assert_eq!(within(&[p("/profile/name")], &kept), Vec::<Pointer>::new());
    assert_eq!(
        within(&[p("/preferences/channels"), p("/profile/email")], &kept),
        [p("/preferences/channels"), p("/profile/email")]
    );
}

#[test]
fn status_follows_revocation_then_expiry() {
    assert_eq!(status(None, 100, 99), Status::Active);
    assert_eq!(status(None, 100, 100), Status::Expired);
    assert_eq!(status(Some(50), 100, 99), Status::Revoked);
}

fn arb_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(|n| json!(n)),
        "[a-z]{0,6}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 40, 5, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map("[a-c]{1,2}", inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn all_paths(base: &Pointer, value: &Value, out: &mut Vec<Pointer>) {
    out.push(base.clone());
    match value {
        Value::Object(map) => map
            .iter()
            .for_each(|(k, v)| all_paths(&base.child(k.clone()), v, out)),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .for_each(|(i, v)| all_paths(&base.child(i.to_string()), v, out)),
        _ => {}
    }
}

proptest! {
    /// The core promise: whatever the document and the grant, every leaf of the response
    /// lies inside a granted field and equals the document's value there.
    #[test]
    fn a_response_never_holds_a_field_outside_the_grant(
        doc in arb_value(),
        fields in proptest::collection::vec(proptest::collection::vec("[a-c0-2]{1,2}", 1..4), 1..5),
    ) {
        let fields: Vec<Pointer> = normalize(fields.into_iter().map(Pointer::from_tokens).collect());
        let (shown, present) = subset(&doc, &fields);
        let mut paths = Vec::new();
        all_paths(&Pointer::root(), &shown, &mut paths);
        for path in paths {
            let inside = fields.iter().any(|f| path.starts_with(f));
            let above = fields.iter().any(|f| f.starts_with(&path));
            prop_assert!(inside || above, "{} is outside the grant", path);
            if inside && !above {
                continue;
            }
            if let Some(f) = fields.iter().find(|f| **f == path) {
                prop_assert_eq!(path.get(&shown), f.get(&doc));
            }
        }
        for f in &present {
            prop_assert!(fields.contains(f));
        }
    }
}
