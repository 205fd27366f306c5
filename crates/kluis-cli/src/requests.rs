//! Commands on access requests and consent receipts: list requests, approve or deny one (the
//! decision goes to the business's callback URL through the outbox, sent by `kluis serve`), and
//! list the receipts approvals produced.

use anyhow::Result;
use kluis_core::grant::{Status, parse_lifetime};
use kluis_core::request::{CheckedBusiness, RequestId};
use kluis_core::wire::{AccessRequestStatus, RequestStatus};
use kluis_store::{
    AppendChoice, Approval, ContactChoice, Decision, Denial, StoredReceipt, StoredRequest, Via,
    unix_now,
};
use serde_json::{Value, json};

use crate::args::{ContactArgs, Global, RequestsArgs, RequestsCommand};
use crate::document::print_json;
use crate::grants::{
    contact_right, fields_cell, fields_text, grant_json, granted_text, one_line, parse_field,
    print_table, record_text, rfc3339, right_text,
};
use crate::open;

pub fn run(global: &Global, args: RequestsArgs) -> Result<()> {
    match args.command {
        None => list(global, args.all, args.json),
        Some(RequestsCommand::Approve {
            id,
            fields,
            contact,
            no_contact,
            no_append_record,
            expires,
            json,
        }) => {
            let choice = Choice {
                contact: contact_choice(&contact, no_contact)?,
                append: if no_append_record {
                    AppendChoice::Refuse
                } else {
                    AppendChoice::AsAsked
                },
            };
            approve(global, &id, &fields, choice, expires.as_deref(), json)
        }
        Some(RequestsCommand::Deny { id, reason, json }) => deny(global, &id, reason, json),
    }
}

fn list(global: &Global, all: bool, json: bool) -> Result<()> {
    let now = unix_now();
    let requests: Vec<StoredRequest> = open(global)?
        .access_requests(now)?
        .into_iter()
        .filter(|r| all || r.status == RequestStatus::Pending)
        .collect();
    if json {
        print_json(&Value::Array(requests.iter().map(request_json).collect()));
        return Ok(());
    }
    if requests.is_empty() {
        if all {
            eprintln!("no business has asked for access");
        } else {
            eprintln!("no requests are waiting (--all shows decided and lapsed ones)");
        }
        return Ok(());
    }
    let rows: Vec<Vec<String>> = requests
        .iter()
        .map(|r| {
            let asked = &r.request;
            vec![
                r.id.to_string(),
                request_status_text(r.status).to_owned(),
                rfc3339(r.created_at),
                format!("{} ({})", asked.business.name, asked.business.id),
                contact_text(&asked.business),
                asked.key_thumbprint.clone(),
                duration_text(asked.duration_secs),
                fields_cell(&asked.fields),
                right_text(asked.contact.as_ref()),
                record_text(asked.append_record).to_owned(),
                asked.purpose.clone(),
                asked.purpose_category.clone().unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    print_table(
        &[
            "ID",
            "STATUS",
            "CREATED",
            "BUSINESS",
            "CONTACT",
            "KEY",
            "DURATION",
            "FIELDS",
            "CONTACT RIGHT",
            "RECORD",
            "PURPOSE",
            "CATEGORY",
        ],
        &rows,
    );
    Ok(())
}

/// What `--contact-channel`/`--contact-topic` (keep only these) or `--no-contact` say of the
/// contact right asked for; all of it without them.
fn contact_choice(args: &ContactArgs, refuse: bool) -> Result<ContactChoice> {
    if refuse {
        return Ok(ContactChoice::Refuse);
    }
    if args.contact_channels.is_empty() && args.contact_topics.is_empty() {
        return Ok(ContactChoice::AsAsked);
    }
    if args.contact_channels.is_empty() || args.contact_topics.is_empty() {
        return Err(kluis_core::Error::invalid(
            "to keep part of the contact right asked for, name the channels (--contact-channel) \
             and the topics (--contact-topic) it keeps; --no-contact refuses all of it",
        )
        .into());
    }
    Ok(contact_right(args)?.map_or(ContactChoice::AsAsked, ContactChoice::Keep))
}

/// What the owner keeps of the rights a request asked for besides its fields.
struct Choice {
    contact: ContactChoice,
    append: AppendChoice,
}

fn approve(
    global: &Global,
    id: &str,
    fields: &[String],
    choice: Choice,
    expires: Option<&str>,
    json: bool,
) -> Result<()> {
    // Checked before unlocking, so bad input never needs a passphrase.
    let id = RequestId::parse(id)?;
    let fields = match fields {
        [] => None,
        some => Some(
            some.iter()
                .map(|f| parse_field(f))
                .collect::<Result<Vec<_>>>()?,
        ),
    };
    let lifetime = expires.map(parse_lifetime).transpose()?;
    let Approval {
        asked,
        status,
        grant,
    } = open(global)?.owner(Via::Cli).approve_request_with(
        &id,
        fields,
        choice.contact,
        choice.append,
        lifetime,
    )?;
    let now = unix_now();
    if !json {
        // The token alone on stdout, as `kluis grant create` prints it.
        println!("{}", status.token.as_deref().unwrap_or_default());
        eprintln!(
            "approved request {id}: {} ({}) has {} until {} (grant {}; consent receipt in `kluis receipts`)",
            asked.request.business.name,
            grant.audience,
            granted_text(&grant),
            rfc3339(grant.expires_at),
            grant.id,
        );
    }
    let callback = queued(&asked);
    if json {
        let mut out = decision_json(&status, callback);
        out["grant"] = grant_json(&grant, now, None);
        print_json(&out);
    }
    Ok(())
}

fn deny(global: &Global, id: &str, reason: Option<String>, json: bool) -> Result<()> {
    let id = RequestId::parse(id)?;
    let Denial { asked, status } = open(global)?.owner(Via::Cli).deny_request(&id, reason)?;
    if !json {
        println!(
            "denied request {id} from {} ({})",
            asked.request.business.name, asked.request.business.id
        );
    }
    let callback = queued(&asked);
    if json {
        print_json(&decision_json(&status, callback));
    }
    Ok(())
}

/// The callback URL the decision was queued for, if the business gave one; says so on stderr.
/// The decision is in the outbox (written with it); `kluis serve` delivers it, signed.
fn queued(asked: &StoredRequest) -> Option<&str> {
    let url = asked.request.callback_url.as_deref()?;
    eprintln!(
        "the decision will be sent to {} by kluis serve (signed; see kluis notifications)",
        one_line(url)
    );
    Some(url)
}

pub fn receipts(global: &Global, json: bool) -> Result<()> {
    let now = unix_now();
    let receipts = open(global)?.receipts()?;
    if json {
        print_json(&Value::Array(
            receipts.iter().map(|r| receipt_json(r, now)).collect(),
        ));
        return Ok(());
    }
    if receipts.is_empty() {
        eprintln!(
            "there are no consent receipts (approving a request with `kluis requests approve` makes one)"
        );
        return Ok(());
    }
    let rows: Vec<Vec<String>> = receipts
        .iter()
        .map(|r| {
            let grant = &r.grant;
            let state = match grant.status(now) {
                Status::Active => format!("active until {}", rfc3339(grant.expires_at)),
                Status::Revoked => format!("revoked {}", rfc3339(grant.revoked_at.unwrap_or(0))),
                Status::Expired => format!("expired {}", rfc3339(grant.expires_at)),
            };
            vec![
                r.id.to_string(),
                r.grant_id.to_string(),
                format!("{} ({})", controller_name(r), grant.audience),
                state,
                rfc3339(r.receipt.consent_timestamp),
                fields_text(&grant.fields),
                grant.purpose.clone(),
            ]
        })
        .collect();
    print_table(
        &[
            "RECEIPT",
            "GRANT",
            "BUSINESS",
            "STATUS",
            "CONSENTED",
            "FIELDS",
            "PURPOSE",
        ],
        &rows,
    );
    Ok(())
}

/// How the owner can reach the business, for the CONTACT column: the contact, e-mail, phone
/// and postal address it gave (requests stored by older versions may lack some), `-` for none.
fn contact_text(business: &CheckedBusiness) -> String {
    let parts: Vec<&str> = [
        &business.contact,
        &business.email,
        &business.phone,
        &business.address,
    ]
    .into_iter()
    .filter_map(|m| m.as_deref())
    .collect();
    if parts.is_empty() {
        "-".into()
    } else {
        parts.join("; ")
    }
}

/// A request as `kluis requests --json` prints it: every key present, `null` when absent;
/// the token and the signed receipt are left to `approve --json` and `kluis receipts`.
fn request_json(r: &StoredRequest) -> Value {
    let asked = &r.request;
    let null = || Value::Null;
    let (grant_id, fields_granted, contact_granted, append_granted, receipt_id, reason) =
        match &r.decision {
            Some(Decision::Approved {
                grant_id,
                fields,
                receipt_id,
                contact,
                append_record,
                ..
            }) => (
                json!(grant_id),
                json!(fields),
                json!(contact),
                json!(append_record),
                json!(receipt_id),
                null(),
            ),
            Some(Decision::Denied { reason }) => {
                (null(), null(), null(), null(), null(), json!(reason))
            }
            None => (null(), null(), null(), null(), null(), null()),
        };
    json!({
        "id": r.id,
        "status": r.status,
        "created_at": r.created_at,
        "expires_at": r.expires_at,
        "decided_at": r.decided_at,
        "business": {
            "id": asked.business.id,
            "name": asked.business.name,
            "contact": asked.business.contact,
            "email": asked.business.email,
            "address": asked.business.address,
            "phone": asked.business.phone,
        },
        "key_thumbprint": asked.key_thumbprint,
        "fields": asked.fields,
        "contact": asked.contact,
        "append_record": asked.append_record,
        "purpose": asked.purpose,
        "purpose_category": asked.purpose_category,
        "duration_secs": asked.duration_secs,
        "callback_url": asked.callback_url,
        "grant_id": grant_id,
        "fields_granted": fields_granted,
        "contact_granted": contact_granted,
        "append_record_granted": append_granted,
        "receipt_id": receipt_id,
        "reason": reason,
    })
}

/// The decision as the business receives it, plus where it was queued to go (`null` without a
/// callback URL).
fn decision_json(status: &AccessRequestStatus, callback: Option<&str>) -> Value {
    let mut out = serde_json::to_value(status).expect("a request status serializes");
    out["callback"] = callback.map_or(Value::Null, |url| json!({ "url": url, "queued": true }));
    out
}

fn receipt_json(r: &StoredReceipt, now: i64) -> Value {
    json!({
        "id": r.id,
        "grant_id": r.grant_id,
        "business": { "id": r.grant.audience, "name": controller_name(r) },
        "fields": r.grant.fields,
        "purpose": r.grant.purpose,
        "consent_timestamp": r.receipt.consent_timestamp,
        "status": r.grant.status(now),
        "expires_at": r.grant.expires_at,
        "revoked_at": r.grant.revoked_at,
        "receipt": r.receipt,
        "jws": r.jws,
    })
}

fn controller_name(r: &StoredReceipt) -> &str {
    r.receipt
        .pii_controllers
        .first()
        .map_or("-", |c| c.pii_controller.as_str())
}

fn request_status_text(status: RequestStatus) -> &'static str {
    match status {
        RequestStatus::Pending => "pending",
        RequestStatus::Approved => "approved",
        RequestStatus::Denied => "denied",
        RequestStatus::Expired => "expired",
    }
}

/// Seconds in the largest unit `--expires` accepts that divides them, e.g. `30d` or `90m`.
fn duration_text(secs: i64) -> String {
    let units = [(7 * 86_400, "w"), (86_400, "d"), (3600, "h"), (60, "m")];
    units.iter().find(|(size, _)| secs % size == 0).map_or_else(
        || format!("{secs}s"),
        |(size, unit)| format!("{}{unit}", secs / size),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_print_as_expires_takes_them() {
        assert_eq!(duration_text(30 * 86_400), "30d");
        assert_eq!(duration_text(14 * 86_400), "2w");
        assert_eq!(duration_text(5400), "90m");
        assert_eq!(duration_text(61), "61s");
        for secs in [60, 3600, 86_400, 30 * 86_400, 90 * 60, 61] {
            assert_eq!(parse_lifetime(&duration_text(secs)).unwrap(), secs);
        }
    }
}
