//! JSON Pointers (RFC 6901) and grant field matching: `Pointer::parse`, get/set/remove,
//! `grant::{normalize, within, narrow, subset}`, `document::validate_pointer`,
//! `GrantRequest::validated` and `grant::parse_lifetime`.
//!
//! Input: lines. The first line is a JSON document (the sample vault document when it does not
//! parse); the following lines are pointers granted, up to a line `--`, then pointers asked.
//! Every line is also tried as a lifetime (`30d`).
//!
//! Checked: a parsed pointer prints back to its text and survives serde; set then get gives the
//! value set; normalize is idempotent and leaves no pointer inside another; whatever `within`
//! and `narrow` keep lies inside the grant; `subset` shows only what the fields cover, each
//! present field with the document's own value.
#![no_main]

use kluis_core::document;
use kluis_core::grant::{self, BusinessId, GrantRequest};
use kluis_core::pointer::{self, Pointer};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines = text.split('\n');
    let doc: Value = lines
        .next()
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(document::sample);
    let (mut granted, mut asked) = (Vec::new(), Vec::new());
    let mut into_asked = false;
    for line in lines {
        let _ = grant::parse_lifetime(line);
        if line == "--" {
            into_asked = true;
            continue;
        }
        let Ok(at) = Pointer::parse(line) else {
            continue;
        };
        check_pointer(line, &at, &doc);
        if into_asked {
            asked.push(at)
        } else {
            granted.push(at)
        }
    }

    let normal = grant::normalize(granted.clone());
    assert_eq!(
        grant::normalize(normal.clone()),
        normal,
        "normalize is not idempotent"
    );
    assert!(
        normal.windows(2).all(|w| w[0] < w[1]),
        "normalize left an unsorted list"
    );
    for (i, a) in normal.iter().enumerate() {
        for (j, b) in normal.iter().enumerate() {
            assert!(i == j || !a.starts_with(b), "normalize kept {a} inside {b}");
        }
        assert!(granted.iter().any(|g| a == g), "normalize made up {a}");
    }
    let inside_grant = |p: &Pointer| granted.iter().any(|g| p.starts_with(g));
    for kept in grant::within(&asked, &granted) {
        assert!(inside_grant(&kept), "within kept {kept}, outside the grant");
    }
    match grant::narrow(&granted, Some(&asked)) {
        Ok(kept) => assert!(kept.iter().all(inside_grant), "narrow kept a field outside"),
        Err(outside) => assert!(outside.iter().all(|o| !inside_grant(o))),
    }

    let (shown, present) = grant::subset(&doc, &normal);
    let mut leaves = Vec::new();
    pointer::leaves(&Pointer::root(), &shown, &mut leaves);
    for (at, _) in &leaves {
        if shown.as_object().is_some_and(|m| m.is_empty()) {
            break;
        }
        assert!(
            present.iter().any(|f| at.starts_with(f)),
            "subset shows {at}, which no present field covers"
        );
    }
    for field in &present {
        assert_eq!(field.get(&shown), field.get(&doc), "subset changed {field}");
    }

    let request = GrantRequest {
        audience: BusinessId::parse("webshop.example").expect("a valid business id"),
        fields: granted,
        purpose: "fuzzing".into(),
        purpose_category: None,
        lifetime_secs: 3600,
        key_thumbprint: None,
        contact: None,
        append_record: false,
    };
    if let Ok(valid) = request.validated() {
        assert_eq!(grant::normalize(valid.fields.clone()), valid.fields);
        for field in &valid.fields {
            assert!(!field.is_root() && document::validate_pointer(field).is_ok());
        }
    }
});

fn check_pointer(text: &str, at: &Pointer, doc: &Value) {
    assert_eq!(
        at.to_string(),
        text,
        "a pointer does not print back to its text"
    );
    let json = serde_json::to_string(at).expect("a pointer serializes");
    let back: Pointer = serde_json::from_str(&json).expect("a serialized pointer parses");
    assert_eq!(&back, at);
    assert_eq!(Pointer::from_tokens(at.tokens().to_vec()), *at);
    if let Some(parent) = at.parent() {
        assert!(at.starts_with(&parent) && parent.depth() + 1 == at.depth());
    }
    let _ = document::validate_pointer(at);

    let mut copy = doc.clone();
    let marker = Value::String("\u{1}fuzz".into());
    if at.set(&mut copy, marker.clone()).is_ok() {
        // `-` appends: the value is then the array's last element, not at the pointer.
        if at.tokens().last().is_none_or(|t| t != "-") {
            assert_eq!(
                at.get(&copy),
                Some(&marker),
                "set {at} but get does not find it"
            );
        }
    }
    let mut copy = doc.clone();
    let found = at.get(doc).cloned();
    let removed = at.remove(&mut copy);
    if !at.is_root() {
        assert_eq!(
            removed, found,
            "remove {at} took another value than get finds"
        );
    }
}
