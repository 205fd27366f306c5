//! What the ledger keeps between calls: the decrypted document, and per grant its checked
//! state and the answers built for it; and how one call is decided against them (and the
//! grant's read budget) and recorded.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use kluis_core::access::{AccessRecordRef, Action, ContactNote, FieldList, Outcome};
use kluis_core::budget;
use kluis_core::grant::{self, GrantId, Status};
use kluis_core::pointer::Pointer;
use kluis_store::{GrantState, Vault};
use serde_json::Value;

use super::append::AppendVerdict;
use super::budget::{ReadBudgets, Verdict};
use super::contact::{self, ContactBook, ContactVerdict};
use super::{Decision, Job, Liveness};

/// Grants (and documents) known to the ledger. Everything here is dropped as soon as another
/// connection commits anything (`PRAGMA data_version`, asked once per batch before its
/// grants are looked at), so a revocation by `kluis grant revoke` in another process still applies to the
/// very next call; between such commits, a call costs no look-up and no JSON building.
#[derive(Default)]
pub(super) struct Caches {
    data_version: Option<i64>,
    generation: Option<i64>,
    doc: Arc<Value>,
    grants: HashMap<String, Known>,
}

/// Cached grants beyond which the cache starts over.
const MAX_KNOWN_GRANTS: usize = 100_000;
/// `?fields=` narrowings cached per grant; more are built per call.
const MAX_NARROWINGS: usize = 8;

/// What the ledger knows about one grant, valid until the next foreign commit.
struct Known {
    /// Expiry, revocation, token hash, narrowing and read budget, MAC-checked; `Err` if the
    /// row was edited.
    state: Result<Option<GrantState>, &'static str>,
    /// The answer with every granted field.
    all: Option<Arc<Served>>,
    narrowed: Vec<(Vec<Pointer>, Arc<Served>)>,
    /// Its tally in the day's read budgets, once it was read ([`ReadBudgets::slot`]).
    slot: Option<usize>,
}

/// A response body built from the document for a grant (and narrowing).
#[derive(Debug)]
pub(super) struct Served {
    body: Bytes,
    /// The fields whose values it holds, as the access record's JSON list.
    fields: Box<serde_json::value::RawValue>,
}

impl Caches {
    /// Forgets grants when another connection committed something, and reloads the decrypted
    /// document when that something was a write to it.
    ///
    /// Outside a transaction: what is read after `data_version` is at least as new, and if it
    /// is newer, the next batch sees another `data_version` and reads again. The document,
    /// several rows, is read on one snapshot.
    pub(super) fn refresh(&mut self, vault: &Vault) -> kluis_store::Result<()> {
        let version = vault.data_version()?;
        if self.data_version == Some(version) {
            return Ok(());
        }
        self.grants.clear();
        vault.in_read_transaction(|v| {
            let generation = v.generation()?;
            if self.generation != Some(generation) {
                self.doc = Arc::new(v.document()?);
                self.generation = Some(generation);
            }
            Ok(())
        })?;
        self.data_version = Some(version);
        Ok(())
    }

    fn known<'a>(
        grants: &'a mut HashMap<String, Known>,
        vault: &Vault,
        grant: &GrantId,
    ) -> kluis_store::Result<&'a mut Known> {
        if !grants.contains_key(grant.as_str()) {
            if grants.len() >= MAX_KNOWN_GRANTS {
                grants.clear();
            }
            let state = match vault.grant_state(grant.as_str()) {
                Err(kluis_store::StoreError::Tampered(cause)) => {
                    tracing::error!(%cause, grant.id = %grant, "refusing a grant whose record was edited");
                    Err("the grant's record was altered")
                }
                other => Ok(other?),
            };
            grants.insert(
                grant.as_str().to_owned(),
                Known {
                    state,
                    all: None,
                    narrowed: Vec::new(),
                    slot: None,
                },
            );
        }
        Ok(grants.get_mut(grant.as_str()).expect("inserted above"))
    }

    /// Forgets every grant's slot in the read budgets (a new day started).
    pub(super) fn forget_grants(&mut self) {
        self.grants.clear();
    }

    pub(super) fn decide(
        &mut self,
        vault: &Vault,
        budgets: &mut ReadBudgets,
        contacts: &mut ContactBook,
        job: &Job,
        now: i64,
    ) -> kluis_store::Result<Answer> {
        let (access, proof) = match job {
            Job::Record { .. } => return Ok(Answer::Recorded),
            Job::Settle { .. } => return Ok(Answer::Settled),
            Job::Read { access, proof, .. }
            | Job::Introspect { access, proof, .. }
            | Job::Contact { access, proof, .. }
            | Job::Append { access, proof, .. } => (access, proof),
        };
        let doc = &self.doc;
        let known = Self::known(&mut self.grants, vault, &access.grant)?;
        let refusal = match &known.state {
            Err(reason) => Some(*reason),
            Ok(None) => Some("the grant does not exist"),
            Ok(Some(state)) if state.token_hash != access.token_hash => {
                Some("the token is not the one issued for this grant")
            }
            Ok(Some(state)) => match grant::status(state.revoked_at, state.expires_at, now) {
                Status::Active => None,
                Status::Revoked => Some("the grant was revoked"),
                Status::Expired => Some("the grant has expired"),
            },
        };
        let refusal = refusal.or(proof.refusal());
        let narrowed = match job {
            Job::Introspect { .. } => {
                let narrowed = match &known.state {
                    Ok(Some(state)) if refusal.is_none() => state.narrowed.clone(),
                    _ => None,
                };
                return Ok(Answer::Introspect(refusal, narrowed));
            }
            Job::Contact { ask, at_ms, .. } => {
                let verdict = match refusal {
                    Some(reason) => ContactVerdict::Inactive(reason),
                    None => contacts.decide(&self.doc, access, ask, *at_ms),
                };
                let note = contact::note(ask, &verdict);
                return Ok(Answer::Contact(verdict, Box::new(note)));
            }
            Job::Append { ask, .. } => {
                let verdict = match refusal {
                    Some(reason) => AppendVerdict::Inactive(reason),
                    None => AppendVerdict::Pending,
                };
                let note = verdict.note(ask);
                return Ok(Answer::Append(verdict, note));
            }
            Job::Read { narrowed, .. } => narrowed,
            Job::Record { .. } | Job::Settle { .. } => unreachable!("answered above"),
        };
        if let Some(reason) = refusal {
            return Ok(Answer::Read(Err(reason)));
        }
        let set = known.state.as_ref().ok().and_then(Option::as_ref);
        let read_budget = budget::effective(set.and_then(|s| s.read_budget));
        let slot = *known
            .slot
            .get_or_insert_with(|| budgets.slot(&access.grant));
        if let Verdict::OverBudget(recorded) = budgets.admit(slot, read_budget, access) {
            return Ok(Answer::OverBudget {
                recorded,
                budget: read_budget,
                retry_after: budget::secs_to_next_day(now),
            });
        }
        let build = |fields: &[Pointer]| {
            let (shown, present) = grant::subset(doc, fields);
            let body = serde_json::to_vec(&shown).expect("a Value serializes");
            let fields = serde_json::value::to_raw_value(&present).expect("pointers serialize");
            Arc::new(Served {
                body: Bytes::from(body),
                fields,
            })
        };
        // The fields the grant covers now: the token's, or fewer if the owner narrowed it.
        let kept = match &known.state {
            Ok(Some(GrantState {
                narrowed: Some(kept),
                ..
            })) => Some(kept.as_slice()),
            _ => None,
        };
        let granted = kept.unwrap_or(&access.fields);
        let served = match narrowed {
            None => known.all.get_or_insert_with(|| build(granted)).clone(),
            Some(fields) => match known.narrowed.iter().find(|(f, _)| f == fields) {
                Some((_, served)) => served.clone(),
                None => {
                    let served = match kept {
                        None => build(fields),
                        Some(kept) => build(&grant::within(fields, kept)),
                    };
                    if known.narrowed.len() < MAX_NARROWINGS {
                        known.narrowed.push((fields.clone(), served.clone()));
                    }
                    served
                }
            },
        };
        Ok(Answer::Read(Ok(served)))
    }
}

pub(super) enum Answer {
    Read(Result<Arc<Served>, &'static str>),
    /// A read refused over the grant's read budget; `recorded`: the reason when this refusal
    /// is recorded on its own (the day's first), `None` when only counted.
    OverBudget {
        recorded: Option<String>,
        budget: u32,
        retry_after: u64,
    },
    /// `None` if the grant is active, else why not; and what it still covers if narrowed.
    Introspect(Option<&'static str>, Option<Vec<Pointer>>),
    /// A contact attempt decided so, and the log's note on it.
    Contact(ContactVerdict, Box<ContactNote>),
    /// An entry for a relationship record, and the log's note on it.
    Append(AppendVerdict, String),
    Recorded,
    Settled,
}

impl Answer {
    /// The access-log record of `job`, answered so; a `Settle` has none.
    pub(super) fn record<'a>(&'a self, job: &'a Job) -> Option<AccessRecordRef<'a>> {
        let (access, at_ms, endpoint) = match job {
            Job::Settle { .. } => return None,
            Job::Record { record, .. } => return Some(record.view()),
            Job::Read { access, at_ms, .. } => (access, *at_ms, Action::Read),
            Job::Contact {
                access,
                at_ms,
                action,
                ..
            } => {
                let Answer::Contact(verdict, note) = self else {
                    unreachable!("answers are made in the order of their jobs")
                };
                let view = access.view(*at_ms, *action, FieldList::NONE, verdict.reason());
                return Some(AccessRecordRef {
                    contact: Some(note),
                    ..view
                });
            }
            Job::Append { access, at_ms, .. } => {
                let Answer::Append(verdict, note) = self else {
                    unreachable!("answers are made in the order of their jobs")
                };
                let view = access.view(
                    *at_ms,
                    Action::RelationshipAppend,
                    FieldList::NONE,
                    Some(note),
                );
                let outcome = if verdict.allowed() {
                    Outcome::Allowed
                } else {
                    Outcome::Refused
                };
                return Some(AccessRecordRef { outcome, ..view });
            }
            Job::Introspect {
                access,
                at_ms,
                action,
                ..
            } => (access, *at_ms, *action),
        };
        let (fields, reason) = match self {
            Answer::Read(Ok(served)) => (FieldList::Json(&served.fields), None),
            Answer::Read(Err(reason)) => (FieldList::NONE, Some(*reason)),
            Answer::OverBudget { recorded, .. } => (FieldList::NONE, Some(recorded.as_deref()?)),
            Answer::Introspect(refusal, _) => (FieldList::NONE, *refusal),
            Answer::Contact(..) | Answer::Append(..) | Answer::Recorded | Answer::Settled => {
                (FieldList::NONE, None)
            }
        };
        Some(access.view(at_ms, endpoint, fields, reason))
    }

    pub(super) fn send(self, job: Job) {
        // A handler that gave up (client gone, timeout) no longer listens; that is fine.
        match (job, self) {
            (Job::Read { reply, .. }, Answer::Read(answer)) => drop(reply.send(match answer {
                Ok(served) => Decision::Served(served.body.clone()),
                Err(reason) => Decision::Refused(reason),
            })),
            (
                Job::Read { reply, .. },
                Answer::OverBudget {
                    budget,
                    retry_after,
                    ..
                },
            ) => drop(reply.send(Decision::OverBudget {
                budget,
                retry_after,
            })),
            (Job::Introspect { reply, .. }, Answer::Introspect(refusal, narrowed)) => {
                let _ = reply.send(match refusal {
                    None => Liveness::Active(narrowed),
                    Some(_) => Liveness::Inactive,
                });
            }
            (Job::Contact { reply, .. }, Answer::Contact(verdict, _)) => {
                let _ = reply.send(verdict);
            }
            (Job::Append { reply, .. }, Answer::Append(verdict, _)) => {
                let _ = reply.send(verdict);
            }
            (Job::Record { reply, .. }, Answer::Recorded)
            | (Job::Settle { reply }, Answer::Settled) => {
                let _ = reply.send(());
            }
            _ => unreachable!("answers are made in the order of their jobs"),
        }
    }
}
