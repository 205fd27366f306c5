//! The document's rules: what each section and field accepts and refuses.
use super::*;
use serde_json::json;

fn at(p: &str) -> Pointer {
    Pointer::parse(p).unwrap()
}

#[test]
fn the_sample_is_valid() {
    validate(&sample()).unwrap();
}

#[test]
fn known_claims_are_checked() {
    let bad = [
        ("/profile/email", json!("not-an-email")),
        ("/profile/email", json!("a@b")),
        ("/profile/email", json!(42)),
        ("/profile/birthdate", json!("1984-02-30")),
        ("/profile/birthdate", json!("12-03-1984")),
        ("/profile/phone_number", json!("call me")),
        ("/profile/email_verified", json!("yes")),
        ("/profile/locale", json!("Dutch language")),
        ("/profile/address", json!("Main street 1")),
        ("/profile/address/locality", json!("")),
        ("/preferences/frequency", json!("hourly")),
        ("/preferences/channels", json!(["email", "pigeon"])),
        ("/preferences/channels/0", json!("pigeon")),
    ];
    for (pointer, value) in bad {
        assert!(
            validate_at(&at(pointer), &value).is_err(),
            "{pointer} = {value} should be refused"
        );
    }
}

#[test]
fn good_values_pass() {
    let good = [
        ("/profile/birthdate", json!("2000-02-29")),
        ("/profile/birthdate", json!("0000-07-14")),
        ("/profile/birthdate", json!("1970")),
        ("/profile/email", json!("j.jansen+shop@mail.example.nl")),
        ("/preferences/channels/-", json!("sms")),
        ("/custom/anything/goes", json!({"x": [1, null]})),
        (
            "/profile/address",
            json!({"locality": "Utrecht", "country": "NL"}),
        ),
    ];
    for (pointer, value) in good {
        validate_at(&at(pointer), &value).unwrap_or_else(|e| panic!("{pointer} = {value}: {e}"));
    }
}

#[test]
fn errors_name_the_place_and_the_rule() {
    let err = validate_at(&at("/profile/email"), &json!("nope")).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("/profile/email") && text.contains("e-mail"),
        "{text}"
    );
    let err = validate_at(&at("/profile/emial"), &json!("a@b.nl")).unwrap_err();
    assert!(err.to_string().contains("/custom"), "{err}");
}

#[test]
fn birthdates_need_their_exact_shape() {
    for bad in [
        "19840-3-12",
        "1984-003-1",
        "1984-3-12",
        "1984/03/12",
        "0000",
    ] {
        assert!(!is_birthdate(bad), "{bad}");
    }
}

#[test]
fn list_depth_finds_the_list_a_pointer_enters() {
    assert_eq!(list_depth(&at("/preferences/channels/0")), Some(2));
    assert_eq!(list_depth(&at("/profile/addresses/1/locality")), Some(2));
    assert_eq!(list_depth(&at("/preferences/channels")), None);
    assert_eq!(list_depth(&at("/custom/x/0")), None);
}

#[test]
fn every_named_field_has_a_public_kind() {
    let profile = profile_fields();
    let preferences = preference_fields();
    assert_eq!(profile.len(), PROFILE_CLAIMS.len());
    // time_zone, caps, quiet_hours and businesses are contact rules, not form fields.
    assert_eq!(preferences.len(), PREFERENCES.len() - 4);
    for field in profile.iter().chain(&preferences) {
        validate_pointer(&field.pointer).unwrap();
    }
    let kind =
        |fields: &[Field], name: &str| fields.iter().find(|f| f.name == name).map(|f| f.kind);
    assert_eq!(kind(&profile, "email"), Some(FieldKind::Email));
    assert_eq!(kind(&profile, "addresses"), Some(FieldKind::AddressList));
    assert_eq!(
        kind(&preferences, "channels"),
        Some(FieldKind::ManyOf(&CHANNELS))
    );
    assert_eq!(kind(&preferences, "topics"), Some(FieldKind::TextList));
    assert_eq!(
        kind(&preferences, "frequency"),
        Some(FieldKind::OneOf(&FREQUENCIES))
    );
}

#[test]
fn unknown_sections_and_fields_under_scalars_are_refused() {
    assert!(validate_at(&at("/secrets"), &json!(1)).is_err());
    assert!(validate_at(&at("/profile/name/first"), &json!("A")).is_err());
    assert!(validate(&json!([1, 2])).is_err());
    assert!(validate_pointer(&at("/profile/address/locality")).is_ok());
    assert!(validate_pointer(&at("/profile/nope")).is_err());
}
