//! Errors of sync. Each says whether trying again later can help
//! ([`Error::is_retryable`]): the network and a busy registry can heal, a
//! certificate that does not match the pin or a refused session cannot.

use crate::pin::Fingerprint;

/// Result of sync.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong while syncing.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The local store failed.
    #[error(transparent)]
    Store(#[from] store::Error),
    /// The registry presented a certificate other than the pinned one:
    /// nothing was sent or applied.
    #[error("the registry's certificate does not match the pinned one ({pinned}); refusing to talk to it")]
    PinMismatch {
        /// The fingerprint learned at enrollment.
        pinned: Fingerprint,
    },
    /// Connecting, sending or receiving failed, or timed out.
    #[error("registry unreachable: {0}")]
    Transport(String),
    /// The session is missing, expired or revoked: sign in again.
    #[error("the registry refused the session: {0}")]
    Unauthorized(String),
    /// The registry answered with an error status and a problem body.
    #[error("registry error {status} {code}: {message}")]
    Status {
        /// HTTP status.
        status: u16,
        /// The problem body's code.
        code: String,
        /// The problem body's message.
        message: String,
    },
    /// The registry's answer does not fit what was asked (answers for other
    /// operations, a feed going backwards, a record this store cannot hold).
    #[error("unexpected answer from the registry: {0}")]
    Protocol(String),
    /// A configuration value is unusable (a base URL, a fingerprint).
    #[error("invalid configuration: {0}")]
    Config(String),
}

impl Error {
    /// Whether a later attempt may succeed without anyone changing anything.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Transport(_) => true,
            Error::Status { status, .. } => *status >= 500 || *status == 429 || *status == 408,
            Error::Store(_)
            | Error::PinMismatch { .. }
            | Error::Unauthorized(_)
            | Error::Protocol(_)
            | Error::Config(_) => false,
        }
    }
}
