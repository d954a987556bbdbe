//! Why a call is not served (a leaf: every use-case module answers with it,
//! the HTTP layer maps it to a status).

use domain::Refusal;

use crate::error::Error;

/// Why a call is not served (mapped to 401/403/404/400/500 by the HTTP layer).
#[derive(Debug, thiserror::Error)]
pub enum Fault {
    /// No valid session: missing, unknown or expired token, or bad credentials.
    #[error("{0}")]
    Unauthenticated(&'static str),
    /// Signed in, but not allowed.
    #[error("{0}")]
    Forbidden(Refusal),
    /// The thing asked for does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The request is malformed.
    #[error("{0}")]
    Invalid(String),
    /// Signed in, but not allowed, for a reason no single domain refusal names.
    #[error("{0}")]
    Denied(String),
    /// Well-formed, but the records are not in a state that allows it (409).
    #[error("{message}")]
    Conflict {
        /// Stable machine-readable reason.
        code: &'static str,
        /// The reason in words.
        message: String,
    },
    /// Well-formed, but its content is refused (422): a proof that does not
    /// verify, an unknown challenge, a slot the profile does not have.
    #[error("{message}")]
    Unprocessable {
        /// Stable machine-readable reason.
        code: &'static str,
        /// The reason in words.
        message: String,
    },
    /// Too many requests: try again after `retry_after` seconds (429).
    #[error("{message}")]
    TooMany {
        /// Seconds to wait.
        retry_after: u64,
        /// Why, in words.
        message: String,
    },
    /// The registry failed (logged; the client sees a generic message).
    #[error("internal error")]
    Internal(#[from] Error),
}

impl From<crate::throttle::Throttled> for Fault {
    fn from(t: crate::throttle::Throttled) -> Self {
        Fault::TooMany { retry_after: t.retry_after, message: t.message }
    }
}

/// Result of the registry's use cases.
pub type Served<T> = std::result::Result<T, Fault>;
