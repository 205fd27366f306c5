//! The SDK's one error type. Answers from the vault keep their RFC 9457 problem, so a caller can
//! match on the kind of refusal and still show or log the vault's own words.

use std::path::PathBuf;
use std::time::Duration;

use kluis_core::token::TokenError;
use kluis_core::wire::Problem;

/// Everything that can go wrong talking to a vault or handling its tokens. Problems are boxed
/// to keep `Result`s small; match through them as usual (`problem.title`, `problem.detail`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// 401: the token is invalid, expired or revoked, or the DPoP proof was missing, wrong or
    /// replayed. The vault deliberately does not say which; ask the owner for a new grant if
    /// the token itself is gone.
    #[error(
        "the vault refused the credential (401): the token is invalid, expired or revoked, or the proof was refused"
    )]
    Unauthorized { problem: Box<Problem> },
    /// 403: the grant is valid but does not cover `fields`.
    #[error("the grant does not cover {fields:?}")]
    Forbidden {
        fields: Vec<String>,
        problem: Box<Problem>,
    },
    /// 404: no such request (or route).
    #[error("the vault has no such request or resource (404)")]
    NotFound { problem: Box<Problem> },
    /// 429: too many requests of this business are waiting for the owner.
    #[error("the vault asks to slow down: {}", problem.title)]
    TooManyRequests {
        /// From `Retry-After`, when the vault said.
        retry_after: Option<Duration>,
        problem: Box<Problem>,
    },
    /// Any other answer that is not a success, with its status and problem. When the body was
    /// not a problem document (a proxy's error page, say) the problem is `about:blank` with the
    /// status's reason as title (RFC 9457 §4.2.1).
    #[error("the vault answered {status}: {}", .problem.title)]
    Http { status: u16, problem: Box<Problem> },
    /// The vault could not be reached, or the connection failed.
    #[error("could not talk to the vault: {0}")]
    Transport(#[source] reqwest::Error),
    /// A success answer that is not what the grant API promises.
    #[error("the vault's answer could not be understood: {0}")]
    Decode(String),
    /// A token or receipt failed verification.
    #[error("{0}")]
    Token(#[from] TokenError),
    /// The token is bound (DPoP) to another key than the one given.
    #[error("the token is bound to another key (jkt {expected}) than this one ({actual})")]
    KeyMismatch { expected: String, actual: String },
    /// The owner did not decide within the time given to [`crate::Client::wait_for_decision`].
    #[error("no decision within {0:?}")]
    Timeout(Duration),
    /// The caller's input was refused before anything was sent.
    #[error("invalid input: {0}")]
    Invalid(String),
    /// The key file could not be read or written.
    #[error("key file {}: {source}", path.display())]
    KeyFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The key file was read but does not hold a usable private key.
    #[error("invalid key file: {0}")]
    InvalidKeyFile(String),
    /// The operating system's random number generator failed.
    #[error("no randomness available: {0}")]
    Random(String),
}

impl Error {
    /// The vault's problem document, for errors that carry one.
    pub fn problem(&self) -> Option<&Problem> {
        match self {
            Self::Unauthorized { problem }
            | Self::Forbidden { problem, .. }
            | Self::NotFound { problem }
            | Self::TooManyRequests { problem, .. }
            | Self::Http { problem, .. } => Some(problem),
            _ => None,
        }
    }

    /// The HTTP status of a refusal by the vault, if this is one.
    pub fn status(&self) -> Option<u16> {
        self.problem().map(|p| p.status)
    }

    /// Whether trying the same call again later may succeed: transport failures, 429, 408 and
    /// 502-504. A refusal of the credential or of the input is final.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Transport(_) | Self::TooManyRequests { .. } => true,
            Self::Http { status, .. } => matches!(status, 408 | 502..=504),
            _ => false,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
