//! Grant tokens: compact JWS (EdDSA) JWTs, JWKs and verification. (Being written.)

/// Why a token was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("the token is malformed")]
    Malformed,
}
