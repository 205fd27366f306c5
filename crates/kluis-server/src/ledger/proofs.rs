//! The proof checkers: threads that check the DPoP signatures of the calls waiting for them in
//! one Ed25519 batch verification and that no proof is used twice, then hand the calls on to
//! the ledger.

use std::sync::{Mutex, mpsc};

use kluis_core::dpop::{MAX_SKEW_SECS, ProofError};
use kluis_core::jose::{self, UncheckedSignature};
use kluis_store::unix_now;

use super::{Job, PROOF_BATCH};
use crate::replay::ReplayCache;

/// A DPoP proof that passed every check but its signature and its first use.
pub struct PendingProof {
    pub signature: UncheckedSignature,
    pub jkt: String,
    pub jti: String,
    pub iat: i64,
}

/// A call's DPoP proof on its way through a proof checker.
pub(super) enum Proof {
    /// Waiting for its signature and replay checks.
    Unchecked(Box<PendingProof>),
    /// Checked, or there was none to check: why it is refused, if it is.
    Verdict(Option<&'static str>),
}

impl Proof {
    pub(super) fn of(pending: Option<PendingProof>) -> Self {
        pending.map_or(Proof::Verdict(None), |p| Proof::Unchecked(Box::new(p)))
    }

    /// Why the call is refused for its proof. A proof the checkers never saw is refused: every
    /// proof goes through them first, so this only fails closed.
    pub(super) fn refusal(&self) -> Option<&'static str> {
        match self {
            Proof::Unchecked(_) => Some(ProofError::Invalid.reason()),
            Proof::Verdict(refusal) => *refusal,
        }
    }
}

/// A proof checker's thread: it checks the signatures of the calls waiting for it (up to
/// [`PROOF_BATCH`]) in one batch and that no proof is reused, then hands the calls on to the
/// ledger. A stage of its own, so that checking signatures overlaps with the ledger's flush.
pub(super) fn check_proofs_then_pass_on(
    queue: &Mutex<mpsc::Receiver<Job>>,
    ledger: mpsc::SyncSender<Job>,
    replay: &ReplayCache,
) {
    let mut batch = Vec::with_capacity(PROOF_BATCH);
    loop {
        {
            let Ok(queue) = queue.lock() else { return };
            let Ok(first) = queue.recv() else { return };
            batch.push(first);
            batch.extend(queue.try_iter().take(PROOF_BATCH - 1));
        }
        let refusals = check_proofs(&batch, replay, unix_now());
        for (mut job, refusal) in batch.drain(..).zip(refusals) {
            if let Some(proof) = job.proof_mut() {
                *proof = Proof::Verdict(refusal);
            }
            // The ledger only stops when every sender is gone; its queue may push back.
            if ledger.send(job).is_err() {
                return;
            }
        }
    }
}

/// Checks the batch's DPoP signatures in one go, then that each proof is used for the first
/// time; the refusal of each job, in order.
fn check_proofs(batch: &[Job], replay: &ReplayCache, now: i64) -> Vec<Option<&'static str>> {
    let signatures: Vec<_> = batch
        .iter()
        .filter_map(Job::unchecked_proof)
        .map(|p| &p.signature)
        .collect();
    let mut valid = jose::check_all(&signatures).into_iter();
    batch
        .iter()
        .map(|job| match job.unchecked_proof() {
            Some(proof) => {
                if !valid.next().unwrap_or(false) {
                    Some(ProofError::Invalid.reason())
                } else if proof.iat.abs_diff(now) > MAX_SKEW_SECS.unsigned_abs() {
                    // Checked again here: the replay cache remembers a proof for its window
                    // counted from now, so a proof that waited long in a queue is not let in
                    // after its first use was forgotten.
                    Some(ProofError::Stale.reason())
                } else if !replay.first_use(&proof.jkt, &proof.jti, now) {
                    Some(ProofError::Replayed.reason())
                } else {
                    None
                }
            }
            None => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use kluis_core::access::{AccessRecord, Action};
    use kluis_core::grant::{BusinessId, GrantId};
    use kluis_core::pointer::Pointer;
    use tokio::sync::oneshot;

    use super::*;
    use crate::ledger::Access;

    #[test]
    fn proofs_in_one_batch_are_judged_each_on_its_own() {
        use ed25519_dalek::SigningKey;
        use kluis_core::jose::{decode_compact, sign_compact};

        let now = 1_800_000_000;
        let key = SigningKey::from_bytes(&[3; 32]);
        let other = SigningKey::from_bytes(&[4; 32]);
        let access = Arc::new(Access {
            grant: GrantId::from_random([1; 16]),
            business: BusinessId::parse("shop.example").unwrap(),
            purpose: "test".into(),
            fields: vec![Pointer::parse("/profile/email").unwrap()],
            token_hash: [0; 32],
            contact: None,
            append_record: false,
        });
        // A proof signed by `signer`, checked against `key`.
        let job = |jti: &str, iat: i64, signer: &SigningKey| {
            let jws = sign_compact(&serde_json::json!({"typ": "x"}), jti.as_bytes(), signer);
            let resolve = |_: &jose::Header| Some(key.verifying_key());
            let (_, _, signature) = decode_compact(&jws, resolve, "x").unwrap();
            Job::Read {
                access: access.clone(),
                narrowed: None,
                proof: Proof::of(Some(PendingProof {
                    signature,
                    jkt: "k".into(),
                    jti: jti.into(),
                    iat,
                })),
                at_ms: 0,
                reply: oneshot::channel().0,
            }
        };
        let batch = [
            job("a", now, &key),
            job("b", now, &other),
            job("a", now, &key),
            job("c", now - 3600, &key),
            job("b", now, &key),
            Job::Record {
                record: Box::new(AccessRecord::refused_anonymously(
                    0,
                    Action::Read,
                    "y".into(),
                )),
                reply: oneshot::channel().0,
            },
        ];
        let verdicts = check_proofs(&batch, &ReplayCache::new(), now);
        assert_eq!(
            verdicts,
            [
                None,
                Some(ProofError::Invalid.reason()),
                Some(ProofError::Replayed.reason()),
                Some(ProofError::Stale.reason()),
                None, // "b" was not used up by the forged proof
                None,
            ]
        );
    }
}
