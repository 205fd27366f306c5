//! What the handlers' annotations cannot say, added to the generated description so that it is
//! exactly as strict as the server: the patterns and bounds of every body member (from
//! [`kluis_core::wire::patterns`], which the server's tests hold to the checks), the DPoP
//! scheme and header, `servers`, `security` on the public operations, and the headers of
//! every 401, 413, 415 and 429.

use kluis_core::contact::{MAX_TOPIC_CHARS as RIGHT_TOPIC_CHARS, MAX_TOPICS};
use kluis_core::grant::{MAX_CATEGORY_CHARS, MAX_FIELDS, MAX_LIFETIME_SECS};
use kluis_core::inbox::{MAX_BODY_BYTES, MAX_SUBJECT_CHARS, MAX_TOPIC_CHARS};
use kluis_core::notify::MAX_URL_LEN;
use kluis_core::relationship::entry::MAX_ATTACHMENT_BYTES;
use kluis_core::relationship::entry::MAX_CHANNEL_CHARS;
use kluis_core::request::{
    MAX_ADDRESS_CHARS, MAX_CALLBACK_URL_LEN, MAX_CONTACT_CHARS, MAX_NAME_CHARS, MAX_PHONE_CHARS,
    MAX_PURPOSE_CHARS,
};
use kluis_core::wire::patterns as p;
use serde_json::{Map, Value, json};

/// What a description depends on besides the code: a vault's settings and the day.
#[derive(Clone, Copy, Debug, Default)]
pub struct Served {
    /// Whether the vault takes `http://` and local webhook URLs
    /// (`kluis serve --allow-local-webhooks`).
    pub allow_local_webhooks: bool,
    /// The last day an interaction may be dated, when the description is served (tomorrow,
    /// UTC, as [`kluis_core::relationship::Item::check_business_dates`] has it).
    pub latest_interaction: Option<kluis_core::relationship::Date>,
}

/// Refines `spec` in place, for a vault serving it as `served` says.
pub fn refine(spec: &mut Value, served: Served) {
    spec["servers"] = json!([{ "url": "/", "description": "The vault serving this document" }]);
    spec["info"]["license"]["identifier"] = json!("Apache-2.0");
    spec["components"]["securitySchemes"]["dpop"] = json!({
        "type": "http",
        "scheme": "DPoP",
        "description": "A key-bound grant token (RFC 9449): `Authorization: DPoP <token>` with a \
            fresh EdDSA proof of the grant's key in the `DPoP` header (docs/grant-token.md)",
    });
    if let Some(paths) = spec["paths"].as_object_mut() {
        for (path, item) in paths.iter_mut() {
            for (method, operation) in item.as_object_mut().into_iter().flatten() {
                refine_operation(path, method, operation);
            }
        }
    }
    let schemas = &mut spec["components"]["schemas"];
    refine_schemas(schemas);
    if let Some(day) = served.latest_interaction {
        let (y, m, d) = (day.year(), day.month(), day.day());
        let pattern = p::days_through(y.max(0) as u16, m as u8, d as u8);
        schemas["InteractionEntry"]["properties"]["on"]["pattern"] = json!(pattern);
    }
    if served.allow_local_webhooks {
        schemas["NewSubscription"]["properties"]["url"]["pattern"] = json!(p::HTTP_WEBHOOK_URL);
        schemas["NewSubscription"]["properties"]["url"]["description"] =
            json!("Where events are POSTed: http or https (this vault allows local webhooks).");
    }
}

fn refine_operation(path: &str, method: &str, operation: &mut Value) {
    let granted = operation["security"]
        .as_array()
        .is_some_and(|s| s.iter().any(|r| r.get("grant").is_some()));
    if granted {
        operation["security"] = json!([{ "grant": [] }, { "dpop": [] }]);
        push_parameter(
            operation,
            json!({
                "name": "DPoP",
                "in": "header",
                "required": false,
                "description": "With `Authorization: DPoP`: a DPoP proof (RFC 9449) signed by the \
                    grant's key for this method and URL. Ignored with a Bearer token.",
                "schema": { "type": "string" },
            }),
        );
    } else {
        // Public: no credential is asked for (OpenAPI 3.1 §4.8.10, an empty requirement list).
        operation["security"] = json!([]);
    }
    let has_body = operation.get("requestBody").is_some();
    let responses = operation["responses"]
        .as_object_mut()
        .expect("every operation has responses");
    if has_body {
        let media = media_of(path, method);
        responses
            .entry("413")
            .or_insert_with(|| problem("The body is larger than this operation reads"));
        responses
            .entry("415")
            .or_insert_with(|| problem(&format!("The body is not `{media}`")));
    }
    for (status, response) in responses.iter_mut() {
        match status.as_str() {
            "401" => {
                response["headers"]["WWW-Authenticate"] = json!({
                    "description": "`Bearer error=\"invalid_token\"` and `DPoP error=\"invalid_token\", algs=\"EdDSA\"`",
                    "schema": { "type": "string" },
                })
            }
            "429" => {
                response["headers"]["Retry-After"] = json!({
                    "description": "Seconds to wait before trying again (RFC 9110 §10.2.3)",
                    "required": true,
                    "schema": { "type": "integer", "minimum": 1 },
                })
            }
            _ => {}
        }
    }
    if path == "/v1/data" {
        for parameter in operation["parameters"].as_array_mut().into_iter().flatten() {
            if parameter["name"] == "fields" {
                parameter["schema"]["pattern"] = json!(p::POINTER_LIST);
            }
        }
    }
    if path == "/v1/requests/{id}" {
        for parameter in operation["parameters"].as_array_mut().into_iter().flatten() {
            if parameter["name"] == "id" {
                parameter["schema"]["pattern"] = json!(p::random_id("r_"));
            }
        }
    }
}

fn media_of(path: &str, method: &str) -> &'static str {
    match (path, method) {
        ("/v1/introspect", "post") => "application/x-www-form-urlencoded",
        _ => "application/json",
    }
}

fn problem(description: &str) -> Value {
    json!({
        "description": description,
        "content": { "application/problem+json": {
            "schema": { "$ref": "#/components/schemas/Problem" } } },
    })
}

fn push_parameter(operation: &mut Value, parameter: Value) {
    match operation["parameters"].as_array_mut() {
        Some(list) => list.push(parameter),
        None => operation["parameters"] = json!([parameter]),
    }
}

/// `(schema, member, what to set on it)`.
fn member_rules() -> Vec<(&'static str, &'static str, Value)> {
    let text = |max: usize| json!({ "pattern": p::trimmed_text(max) });
    vec![
        ("BusinessInfo", "id", json!({ "pattern": p::BUSINESS_ID })),
        ("BusinessInfo", "name", text(MAX_NAME_CHARS)),
        ("BusinessInfo", "contact", text(MAX_CONTACT_CHARS)),
        ("BusinessInfo", "address", text(MAX_ADDRESS_CHARS)),
        (
            "BusinessInfo",
            "email",
            json!({ "pattern": p::EMAIL, "maxLength": 254 }),
        ),
        (
            "BusinessInfo",
            "phone",
            json!({ "pattern": p::PHONE, "maxLength": MAX_PHONE_CHARS }),
        ),
        ("Jwk", "kty", json!({ "enum": ["OKP"] })),
        ("Jwk", "crv", json!({ "enum": ["Ed25519"] })),
        ("Jwk", "x", json!({ "pattern": p::ED25519_X })),
        ("Jwk", "alg", json!({ "enum": ["EdDSA"] })),
        ("Jwk", "use", json!({ "enum": ["sig"] })),
        ("AccessRequestBody", "purpose", text(MAX_PURPOSE_CHARS)),
        (
            "AccessRequestBody",
            "purpose_category",
            text(MAX_CATEGORY_CHARS),
        ),
        (
            "AccessRequestBody",
            "duration_secs",
            json!({ "minimum": 60, "maximum": MAX_LIFETIME_SECS }),
        ),
        (
            "AccessRequestBody",
            "callback_url",
            json!({ "pattern": p::HTTP_URL, "maxLength": MAX_CALLBACK_URL_LEN }),
        ),
        (
            "AccessRequestBody",
            "fields",
            json!({ "maxItems": MAX_FIELDS, "items": {
                "type": "string", "pattern": kluis_core::document::pointer_pattern() } }),
        ),
        (
            "ContactRight",
            "channels",
            json!({ "minItems": 1, "items": { "type": "string", "enum": p::CONTACT_CHANNELS } }),
        ),
        (
            "ContactRight",
            "topics",
            json!({ "minItems": 1, "maxItems": MAX_TOPICS, "items": {
                "type": "string", "pattern": p::trimmed_text(RIGHT_TOPIC_CHARS) } }),
        ),
        ("ContactCheck", "topic", text(RIGHT_TOPIC_CHARS)),
        (
            "NewSubscription",
            "url",
            // ASCII only, so characters are bytes, as the server counts them.
            json!({ "pattern": p::HTTPS_WEBHOOK_URL, "maxLength": MAX_URL_LEN }),
        ),
        (
            "InboxPost",
            "topic",
            json!({ "pattern": p::untrimmed_text(), "maxLength": MAX_TOPIC_CHARS }),
        ),
        (
            "InboxPost",
            "subject",
            json!({ "pattern": p::untrimmed_text(), "maxLength": MAX_SUBJECT_CHARS }),
        ),
        (
            "InboxPost",
            "body",
            // The server counts the body's UTF-8 bytes; `maxLength` counts characters, so it
            // says the most characters that always fit (four bytes each at worst).
            json!({ "pattern": p::message_text(), "maxLength": MAX_BODY_BYTES / 4,
                "description": format!(
                    "Plain text (never rendered as markup), at most {} KiB of UTF-8: {} \
                     characters always fit.", MAX_BODY_BYTES / 1024, MAX_BODY_BYTES / 4) }),
        ),
        (
            "InboxPost",
            "in_reply_to",
            json!({ "pattern": p::random_id("m_") }),
        ),
        (
            "AttachmentPost",
            "name",
            json!({ "pattern": p::file_name(200) }),
        ),
        (
            "AttachmentPost",
            "media_type",
            json!({ "pattern": p::MEDIA_TYPE, "maxLength": 127 }),
        ),
        (
            "AttachmentPost",
            "data",
            json!({ "pattern": p::BASE64,
                "maxLength": MAX_ATTACHMENT_BYTES.div_ceil(3) * 4,
                "description": "The bytes, standard base64 with padding; at most 1 MiB once \
                    decoded (the length bound is that of 1 MiB encoded)." }),
        ),
    ]
}

/// `(kind of entry, member, what to set on it)`, for the variants of `EntryPost` (the kinds a
/// business may post).
fn entry_rules() -> Vec<(&'static str, &'static str, Value)> {
    let text = |max: usize| json!({ "pattern": p::trimmed_text(max) });
    vec![
        ("document", "title", text(200)),
        ("promise", "what", text(500)),
        (
            "interaction",
            "on",
            json!({ "description": "The day it took place: not after tomorrow (UTC). The \
                description a vault serves bounds it with a pattern of that day." }),
        ),
        ("interaction", "channel", text(MAX_CHANNEL_CHARS)),
        ("interaction", "summary", text(500)),
    ]
}

/// The body types that refuse unknown members (`deny_unknown_fields`).
const CLOSED: [&str; 4] = [
    "AttachmentPost",
    "ContactCheck",
    "InboxPost",
    "NewSubscription",
];

fn refine_schemas(schemas: &mut Value) {
    for (schema, member, rule) in member_rules() {
        set(&mut schemas[schema]["properties"][member], rule);
    }
    for name in CLOSED {
        schemas[name]["additionalProperties"] = json!(false);
    }
    // A private key is refused before anything else is read.
    schemas["Jwk"]["not"] =
        json!({ "required": ["d"], "properties": { "d": { "description": "A private key" } } });
    // `fields` may be left out only when a contact right or the append right is asked for.
    // (`if`/`then` rather than `anyOf`, which code generators turn into three body types.)
    schemas["AccessRequestBody"]["if"] = json!({ "not": { "anyOf": [
        { "required": ["contact"], "properties": { "contact": { "type": "object" } } },
        { "required": ["append_record"], "properties": { "append_record": { "const": true } } },
    ] } });
    schemas["AccessRequestBody"]["then"] =
        json!({ "required": ["fields"], "properties": { "fields": { "minItems": 1 } } });
    for variant in schemas["EntryPost"]["oneOf"]
        .as_array_mut()
        .into_iter()
        .flatten()
    {
        let kind = variant["properties"]["kind"]["enum"][0]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        variant["additionalProperties"] = json!(false);
        for (of, member, rule) in entry_rules() {
            if of == kind {
                set(&mut variant["properties"][member], rule);
            }
        }
    }
    name_entry_variants(schemas);
}

/// Names each variant of `EntryPost` as a schema of its own (`DocumentEntry`…) and makes the
/// union a discriminated one on `kind`, as code generators expect of a tagged union.
fn name_entry_variants(schemas: &mut Value) {
    let Some(variants) = schemas["EntryPost"]["oneOf"].as_array().cloned() else {
        return;
    };
    let mut refs = Vec::new();
    let mut mapping = Map::new();
    for variant in variants {
        let kind = variant["properties"]["kind"]["enum"][0]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let mut title = kind.clone();
        title[..1].make_ascii_uppercase();
        let name = format!("{title}Entry");
        let reference = format!("#/components/schemas/{name}");
        schemas[&name] = variant;
        refs.push(json!({ "$ref": reference }));
        mapping.insert(kind, json!(reference));
    }
    schemas["EntryPost"]["oneOf"] = json!(refs);
    schemas["EntryPost"]["discriminator"] = json!({ "propertyName": "kind", "mapping": mapping });
}

/// Merges `rule` into a member's schema, whether it is `{type…}` or `{oneOf: [null, …]}`. A
/// rule with a pattern replaces the annotation's lengths unless it names lengths itself: the
/// pattern of a trimmed text bounds the text after trimming.
fn set(member: &mut Value, rule: Value) {
    let target = match member.get_mut("oneOf") {
        Some(Value::Array(options)) => options
            .iter_mut()
            .find(|o| o.get("type") != Some(&json!("null")))
            .expect("a nullable member has a non-null option"),
        _ => member,
    };
    if let (Some(target), Value::Object(rule)) = (target.as_object_mut(), rule) {
        if rule.contains_key("pattern") {
            for bound in ["minLength", "maxLength"] {
                if !rule.contains_key(bound) {
                    target.remove(bound);
                }
            }
        }
        merge(target, rule);
    }
}

fn merge(target: &mut Map<String, Value>, rule: Map<String, Value>) {
    for (key, value) in rule {
        match (target.get_mut(&key), value) {
            (Some(Value::Object(inner)), Value::Object(more)) => merge(inner, more),
            (_, value) => {
                target.insert(key, value);
            }
        }
    }
}
