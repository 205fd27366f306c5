//! The token attack corpus (issue 14): over 17,000 generated attacks on grant tokens and DPoP
//! proofs, each judged by the real verifiers (`verify_grant`, `check_proof`), none accepted;
//! the genuine token or proof each is made from is accepted, so a refusal is the attack's
//! doing. Deterministic (seeded). The counts per category are printed (`--nocapture`) and
//! listed in docs/grant-token.md ("Attack corpus"). Replayed proofs, which need the server's
//! memory, are in the server's corpus: tests/attack_server.rs.

mod attack;

#[test]
fn the_corpus_fixtures_make_real_signatures() {
    attack::token::fixtures_are_sound();
}

#[test]
fn no_attack_on_a_grant_token_is_accepted() {
    attack::token::corpus();
}

#[test]
fn no_attack_on_a_dpop_proof_is_accepted() {
    attack::dpop::corpus();
}
