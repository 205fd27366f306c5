//! The owner's actions, one place for every front end: the `kluis` command and the dashboard
//! only parse input and render output. Each action is one transaction that ends with its
//! access-log record, so an action that committed is always in the log (and one that failed is
//! not). A change that businesses are to be told of writes its outbox rows in the same
//! transaction ([`crate::fanout`]).

use kluis_core::Pointer;
use kluis_core::access::{AccessRecord, Action, Actor, ContactNote, Outcome};
use kluis_core::grant::{BusinessId, Grant, GrantId, GrantRequest};
use kluis_core::notify::EventType;
use kluis_core::request::RequestId;
use kluis_core::wire::AccessRequestStatus;
use serde_json::Value;

use crate::crypto::{KdfParams, Passphrase};
use crate::deliveries::Deliveries;
use crate::error::{Result, StoreError};
use crate::requests::{AppendChoice, ContactChoice, StoredRequest};
use crate::vault::{Vault, unix_now, unix_now_ms};

/// Which front end the owner used; the log says so.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    Cli,
    Dashboard,
}

impl Via {
    pub fn actor(self) -> Actor {
        match self {
            Via::Cli => Actor::OwnerCli,
            Via::Dashboard => Actor::OwnerDashboard,
        }
    }
}

/// The owner acting on their vault through one front end.
pub struct Owner<'v> {
    vault: &'v Vault,
    via: Via,
}

/// An approved access request: what was asked, what the business is told, the new grant.
pub struct Approval {
    pub asked: StoredRequest,
    pub status: AccessRequestStatus,
    pub grant: Grant,
}

/// A denied access request: what was asked and what the business is told.
pub struct Denial {
    pub asked: StoredRequest,
    pub status: AccessRequestStatus,
}

/// The parts of an owner event's record besides who, what and when.
#[derive(Default)]
pub struct Event {
    pub request: Option<RequestId>,
    pub grant: Option<GrantId>,
    pub business: Option<BusinessId>,
    pub fields: Vec<Pointer>,
    pub purpose: Option<String>,
    pub reason: Option<String>,
    pub outcome: Option<Outcome>,
    /// The channel and topic an action on a contact concerned (an inbox reply, a blocked topic).
    pub contact: Option<ContactNote>,
}

impl Event {
    fn of_grant(grant: &Grant) -> Self {
        Self {
            grant: Some(grant.id.clone()),
            business: Some(grant.audience.clone()),
            fields: grant.fields.clone(),
            purpose: Some(grant.purpose.clone()),
            ..Self::default()
        }
    }
}

impl Vault {
    /// The owner acting through `via`.
    pub fn owner(&self, via: Via) -> Owner<'_> {
        Owner { vault: self, via }
    }
}

impl Owner<'_> {
    pub fn vault(&self) -> &Vault {
        self.vault
    }

    /// Appends the owner event `action` to the log, outside any other action (a sign-in).
    pub fn record(&self, action: Action, event: Event) -> Result<()> {
        self.vault.append_log(&[self.event(action, event)])
    }

    pub(crate) fn event(&self, action: Action, event: Event) -> AccessRecord {
        AccessRecord {
            at_ms: unix_now_ms(),
            actor: self.via.actor(),
            action,
            request: event.request,
            grant: event.grant,
            business: event.business,
            purpose: event.purpose,
            fields: event.fields,
            outcome: event.outcome.unwrap_or(Outcome::Allowed),
            reason: event.reason,
            contact: event.contact,
        }
    }

    /// Runs `work` in one transaction and appends its record last: the action commits only once
    /// its record is in the log.
    pub(crate) fn act<T>(
        &self,
        action: Action,
        work: impl FnOnce(&Vault) -> Result<(T, Option<Event>)>,
    ) -> Result<T> {
        self.vault.in_transaction(|v| {
            let (out, event) = work(v)?;
            if let Some(event) = event {
                v.append_log(&[self.event(action, event)])?;
            }
            Ok(out)
        })
    }

    /// Removes the log's entries before `before_ms`, at a frame boundary, and records that in
    /// the log (`log_prune`, the first entry the pruned log is proven from after the
    /// checkpoint). `None`, and nothing recorded, when no entry is that old.
    pub fn prune_log(&self, before_ms: i64) -> Result<Option<crate::Pruned>> {
        let pruned = self.vault.prune_log(before_ms)?;
        if let Some(p) = &pruned {
            let first = p.checkpoint.seq - p.entries + 1;
            let reason = kluis_core::access::log_prune_reason(first, p.checkpoint.seq, before_ms);
            let event = Event {
                reason: Some(reason),
                ..Event::default()
            };
            self.record(Action::LogPrune, event)?;
        }
        Ok(pruned)
    }

    /// Writes several fields at once: all of them, or (on any invalid one) none.
    pub fn set(&self, writes: Vec<(Pointer, Value)>) -> Result<()> {
        let fields = writes.iter().map(|(at, _)| at.clone()).collect();
        self.act(Action::DocumentSet, |v| {
            let old = v.before_change(unix_now())?;
            v.set_many(writes)?;
            v.told_of_change(old)?;
            Ok((
                (),
                Some(Event {
                    fields,
                    ..Event::default()
                }),
            ))
        })
    }

    /// Removes what is stored at `at` and returns it.
    pub fn unset(&self, at: &Pointer) -> Result<Value> {
        self.act(Action::DocumentUnset, |v| {
            let before = v.before_change(unix_now())?;
            let old = v.unset(at)?;
            v.told_of_change(before)?;
            Ok((
                old,
                Some(Event {
                    fields: vec![at.clone()],
                    ..Event::default()
                }),
            ))
        })
    }

    /// Removes `unsets` and writes `sets` in one transaction, recorded as one `document_set`
    /// naming every field it changed (never a value): a form that edits many fields saves
    /// this way. An unset of a field that is not stored (any more) is skipped and not named;
    /// with nothing changed, nothing is recorded. On any invalid write nothing is stored.
    pub fn edit(&self, sets: Vec<(Pointer, Value)>, unsets: Vec<Pointer>) -> Result<()> {
        let mut fields: Vec<Pointer> = sets.iter().map(|(at, _)| at.clone()).collect();
        self.act(Action::DocumentSet, |v| {
            let before = v.before_change(unix_now())?;
            for at in unsets {
                match v.unset(&at) {
                    Ok(_) => fields.push(at),
                    Err(StoreError::NotFound(_)) => {}
                    Err(e) => return Err(e),
                }
            }
            v.set_many(sets)?;
            v.told_of_change(before)?;
            let event = (!fields.is_empty()).then(|| Event {
                fields,
                ..Event::default()
            });
            Ok(((), event))
        })
    }

    /// Replaces the whole document.
    pub fn import(&self, doc: Value) -> Result<()> {
        self.act(Action::DocumentImport, |v| {
            let before = v.before_change(unix_now())?;
            v.replace_document(doc)?;
            v.told_of_change(before)?;
            Ok(((), Some(Event::default())))
        })
    }

    pub fn create_grant(&self, request: GrantRequest) -> Result<(Grant, String)> {
        self.act(Action::GrantCreate, |v| {
            let (grant, token) = v.create_grant(request, unix_now())?;
            let event = Event::of_grant(&grant);
            Ok(((grant, token), Some(event)))
        })
    }

    /// Revokes a grant; returns it and whether this call revoked it (false: it already was, and
    /// nothing is recorded).
    pub fn revoke_grant(&self, id: &GrantId) -> Result<(Grant, bool)> {
        self.act(Action::GrantRevoke, |v| {
            let now = unix_now();
            let covered = v
                .grant_state(id.as_str())?
                .and_then(|s| s.narrowed)
                .unwrap_or(v.grant(id)?.fields);
            let (grant, revoked_now) = v.revoke_grant(id, now)?;
            if !revoked_now {
                return Ok(((grant, false), None));
            }
            v.fan_out_grant_change(&grant, EventType::GrantRevoked, &covered, &[], now)?;
            let mut event = Event::of_grant(&grant);
            event.reason = receipts_of(v, &grant.id)?
                .map(|ids| format!("ends the consent recorded in receipt {ids}"));
            Ok(((grant, true), Some(event)))
        })
    }

    /// Narrows a live grant to `keep`; the record names the fields it lost.
    pub fn narrow_grant(&self, id: &GrantId, keep: Vec<Pointer>) -> Result<Grant> {
        self.act(Action::GrantNarrow, |v| {
            let now = unix_now();
            let before = v
                .grant_state(id.as_str())?
                .and_then(|s| s.narrowed)
                .unwrap_or(v.grant(id)?.fields);
            let grant = v.narrow_grant(id, keep, now)?;
            let dropped: Vec<Pointer> = before
                .into_iter()
                .filter(|f| !grant.fields.contains(f))
                .collect();
            v.fan_out_grant_change(
                &grant,
                EventType::GrantNarrowed,
                &dropped,
                &grant.fields,
                now,
            )?;
            let mut event = Event::of_grant(&grant);
            event.reason = Some(format!(
                "no longer covers {}",
                kluis_core::pointer::join(&dropped, ", ")
            ));
            Ok((grant, Some(event)))
        })
    }

    /// Sets a live grant's read budget (`None`: the default); returns the grant and whether the
    /// budget changed (false: it already was this one, and nothing is recorded).
    pub fn set_read_budget(&self, id: &GrantId, read_budget: Option<u32>) -> Result<(Grant, bool)> {
        self.act(Action::GrantBudget, |v| {
            let (grant, before) = v.set_read_budget(id, read_budget, unix_now())?;
            if before == read_budget {
                return Ok(((grant, false), None));
            }
            let mut event = Event::of_grant(&grant);
            event.reason = Some(format!(
                "read budget now {}; was {}",
                kluis_core::budget::describe(read_budget),
                kluis_core::budget::describe(before)
            ));
            Ok(((grant, true), Some(event)))
        })
    }

    /// Approves a pending request, all the fields asked or `fields`, for `lifetime_secs` or the
    /// duration asked.
    pub fn approve_request(
        &self,
        id: &RequestId,
        fields: Option<Vec<Pointer>>,
        lifetime_secs: Option<i64>,
    ) -> Result<Approval> {
        self.approve_request_with(
            id,
            fields,
            ContactChoice::AsAsked,
            AppendChoice::AsAsked,
            lifetime_secs,
        )
    }

    /// [`Owner::approve_request`], with all, part or none of the contact right it asked for,
    /// and with or without the right to append to its relationship record.
    pub fn approve_request_with(
        &self,
        id: &RequestId,
        fields: Option<Vec<Pointer>>,
        contact: ContactChoice,
        append: AppendChoice,
        lifetime_secs: Option<i64>,
    ) -> Result<Approval> {
        self.act(Action::RequestApprove, |v| {
            let now = unix_now();
            let asked = v.stored_request(id.as_str(), now)?;
            let (status, grant) =
                v.approve_request_with(id.as_str(), fields, contact, append, lifetime_secs, now)?;
            v.fan_out_decision(&asked, &status, now)?;
            let mut event = Event::of_grant(&grant);
            event.request = Some(id.clone());
            event.reason = Some(format!(
                "consent receipt {}",
                receipts_of(v, &grant.id)?.unwrap_or_default()
            ));
            Ok((
                Approval {
                    asked,
                    status,
                    grant,
                },
                Some(event),
            ))
        })
    }

    /// Denies a pending request, with an optional reason the business reads.
    pub fn deny_request(&self, id: &RequestId, reason: Option<String>) -> Result<Denial> {
        self.act(Action::RequestDeny, |v| {
            let now = unix_now();
            let asked = v.stored_request(id.as_str(), now)?;
            let status = v.deny_request(id.as_str(), reason, now)?;
            v.fan_out_decision(&asked, &status, now)?;
            let event = Event {
                request: Some(id.clone()),
                business: Some(asked.request.business.id.clone()),
                purpose: Some(asked.request.purpose.clone()),
                reason: Some(match &status.reason {
                    Some(reason) => format!("denied: {reason}"),
                    None => "denied".to_owned(),
                }),
                ..Event::default()
            };
            Ok((Denial { asked, status }, Some(event)))
        })
    }

    /// Sends dead notifications again: all of them, or those of one business's subscription
    /// or request callback (`stream`). Returns how many will be sent; recorded if any.
    pub fn replay_dead(&self, deliveries: &mut Deliveries, stream: Option<&str>) -> Result<usize> {
        let streams = stream.map(|s| vec![s.to_owned()]);
        // The stream's events are read first: a failure here replays (and resumes) nothing.
        let seqs = match stream {
            Some(s) => self.vault.outbox_seqs_of(s)?,
            None => Vec::new(),
        };
        let replayed = deliveries.replay_dead(streams.as_deref(), |_| seqs.clone())?;
        if replayed > 0 {
            self.record(
                Action::DeliveryReplay,
                Event {
                    reason: Some(match stream {
                        Some(s) => format!("{replayed} notifications of {s} sent again"),
                        None => format!("{replayed} notifications sent again"),
                    }),
                    ..Event::default()
                },
            )?;
        }
        Ok(replayed)
    }

    /// Makes a new signing key current; returns its `kid`.
    pub fn rotate_key(&self) -> Result<String> {
        self.act(Action::KeyRotate, |v| {
            let kid = v.rotate_signing_key(unix_now())?;
            let event = Event {
                reason: Some(format!("new signing key {kid}")),
                ..Event::default()
            };
            Ok((kid, Some(event)))
        })
    }

    /// Re-wraps the vault's key under `new`, which must be strong enough
    /// ([`kluis_core::passphrase::check_new`]).
    pub fn change_passphrase(&self, new: &Passphrase, params: KdfParams) -> Result<()> {
        new.check_new()?;
        self.act(Action::PassphraseChange, |v| {
            v.change_passphrase(new, params)?;
            Ok(((), Some(Event::default())))
        })
    }
}

impl Vault {
    /// Writes the events of a document change, when there were subscriptions to tell.
    pub(crate) fn told_of_change(&self, before: Option<Value>) -> Result<()> {
        match before {
            Some(old) => self.fan_out_document_change(&old, unix_now()),
            None => Ok(()),
        }
    }
}

/// The ids of the consent receipts a grant was made with, as a list; `None` if there are none.
fn receipts_of(vault: &Vault, grant: &GrantId) -> Result<Option<String>> {
    let ids: Vec<String> = vault
        .receipt_ids(grant)?
        .iter()
        .map(ToString::to_string)
        .collect();
    Ok((!ids.is_empty()).then(|| ids.join(", ")))
}
