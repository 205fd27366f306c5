//! The attack corpus: its tools, and the attacks on grant tokens and on DPoP proofs.

pub mod dpop;
pub mod token;
pub mod tools;
