//! Errors of the station, each with a stable code for the CLI's and the
//! desktop app's `{code, message}` and a message an operator understands.

use domain::Refusal;

/// Result of the station.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The station has not been enrolled with a registry yet.
    #[error("this station is not enrolled with a registry: run `cardstation enroll` first")]
    NotEnrolled,
    /// The station's own rules (the same `domain` code the registry runs) refuse.
    #[error("{0}")]
    Refused(#[from] Refusal),
    /// The registry refused the operation (its code and reason).
    #[error("the registry refused: {message}")]
    Rejected {
        /// The registry's stable code.
        code: String,
        /// Its reason, in words.
        message: String,
    },
    /// The registry could not be reached, and this needs it (CA, escrow).
    #[error("the registry is unreachable and this needs it online: {0}")]
    Offline(String),
    /// The registry presented a certificate other than the pinned one.
    #[error("the registry's certificate does not match the pinned fingerprint; refusing to talk to it")]
    PinMismatch,
    /// Sign-in failed or the session ended.
    #[error("sign-in refused: {0}")]
    SignIn(String),
    /// Sync failed otherwise.
    #[error("{0}")]
    Sync(sync::Error),
    /// The local store failed.
    #[error("local store: {0}")]
    Store(#[from] store::Error),
    /// The card refused or failed.
    #[error("{0}")]
    Card(#[from] piv::Error),
    /// PC/SC failed (reader gone, card pulled, service down).
    #[error("{0}")]
    Reader(#[from] reader::Error),
    /// The thing asked for does not exist here.
    #[error("{0}")]
    NotFound(String),
    /// The card in the reader is not the one the job needs, or is unusable.
    #[error("{0}")]
    WrongCard(String),
    /// A bad argument or configuration.
    #[error("{0}")]
    Invalid(String),
    /// The offline unblock or the offline sign-in refused, with a stable code
    /// (`wrong-response`, `bad-code`, `offline-locked`, …; see `offline_unblock`, `offline`).
    #[error("{message}")]
    Declined {
        /// Stable code.
        code: &'static str,
        /// In words.
        message: String,
    },
    /// Reading or writing the station's configuration.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
}

impl From<sync::Error> for Error {
    fn from(e: sync::Error) -> Self {
        match e {
            sync::Error::Transport(t) => Error::Offline(t),
            sync::Error::Unauthorized(m) => Error::SignIn(m),
            sync::Error::Status { status, code, message }
                if status == 403 || status == 409 || status == 422 =>
            {
                Error::Rejected { code, message }
            }
            other => Error::Sync(other),
        }
    }
}

impl Error {
    /// A stable machine-readable code.
    pub fn code(&self) -> String {
        match self {
            Error::NotEnrolled => "not-enrolled".into(),
            Error::Refused(r) => r.code().replace('_', "-"),
            Error::Rejected { code, .. } => code.replace('_', "-"),
            Error::Offline(_) => "offline".into(),
            Error::SignIn(_) => "sign-in".into(),
            Error::Sync(sync::Error::PinMismatch { .. }) | Error::PinMismatch => "pin-mismatch".into(),
            Error::Sync(_) => "sync".into(),
            Error::Store(_) => "store".into(),
            Error::Card(e) => match e.transport() {
                Some(t) => transport_code(t).into(),
                None => "card-error".into(),
            },
            Error::Reader(e) => match e {
                reader::Error::CardRemoved => "card-removed",
                reader::Error::NoCard => "no-card",
                reader::Error::ReaderGone => "reader-gone",
                reader::Error::CardReset => "card-reset",
                reader::Error::NoService => "no-pcsc-service",
                _ => "pcsc",
            }
            .into(),
            Error::NotFound(_) => "not-found".into(),
            Error::WrongCard(_) => "wrong-card".into(),
            Error::Invalid(_) => "bad-input".into(),
            Error::Io { .. } => "io".into(),
            Error::Declined { code, .. } => (*code).into(),
        }
    }

    /// Whether the card left the reader (or the reader went away) mid-job:
    /// the job stays open for recovery instead of failing.
    pub fn is_tear(&self) -> bool {
        match self {
            Error::Card(e) => e.is_transport(),
            Error::Reader(e) => matches!(
                e,
                reader::Error::CardRemoved
                    | reader::Error::NoCard
                    | reader::Error::ReaderGone
                    | reader::Error::CardReset
                    | reader::Error::CardUnresponsive
            ),
            _ => false,
        }
    }
}

fn transport_code(t: &apdu::TransportError) -> &'static str {
    use apdu::TransportError as T;
    match t {
        T::CardRemoved => "card-removed",
        T::CardReset => "card-reset",
        T::ReaderGone => "reader-gone",
        T::SharingViolation => "card-in-use",
        T::NoCard => "no-card",
        T::Timeout => "timeout",
        T::Other(_) => "card-error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pulled_card_is_a_tear_and_a_refusal_keeps_its_code() {
        let pulled = Error::Card(piv::Error::Apdu(apdu::Error::Transport(apdu::TransportError::CardRemoved)));
        assert!(pulled.is_tear());
        assert_eq!(pulled.code(), "card-removed");
        assert!(Error::Reader(reader::Error::ReaderGone).is_tear());
        assert!(!Error::Card(piv::Error::AuthenticationFailed).is_tear());
        let refused = Error::Refused(Refusal::ApproverIsRequester);
        assert_eq!(refused.code(), "approver-is-requester");
        assert!(!refused.is_tear());
        let rejected = Error::Rejected { code: "state_not_allowed".into(), message: "no".into() };
        assert_eq!(rejected.code(), "state-not-allowed");
        let offline: Error = sync::Error::Transport("down".into()).into();
        assert_eq!(offline.code(), "offline");
    }
}
