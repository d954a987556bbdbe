//! Errors of the station, each with a stable code for the CLI's and the
//! desktop app's `{code, message}` and a message an operator understands.

use domain::Refusal;

pub use crate::error_code::{ErrorCode, ErrorView, RefusalView};

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
    /// The registry could not be reached: the action is kept in this
    /// station's queue and sent when it is back.
    #[error("{0}")]
    Queued(String),
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
        code: ErrorCode,
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
    /// The stable code both clients show and the UI maps to its wording.
    pub fn code(&self) -> ErrorCode {
        use ErrorCode as C;
        match self {
            Error::NotEnrolled => C::NotEnrolled,
            Error::Refused(r) => ErrorCode::of_refusal(r),
            Error::Rejected { code, .. } => ErrorCode::of_registry(code),
            Error::Offline(_) => C::Offline,
            Error::Queued(_) => C::Queued,
            Error::SignIn(_) => C::SignIn,
            Error::Sync(sync::Error::PinMismatch { .. }) | Error::PinMismatch => C::PinMismatch,
            Error::Sync(_) => C::Sync,
            Error::Store(_) => C::Store,
            Error::Card(e) => ErrorCode::of_card(e),
            Error::Reader(e) => ErrorCode::of_reader(e),
            Error::NotFound(_) => C::NotFound,
            Error::WrongCard(_) => C::WrongCard,
            Error::Invalid(_) => C::BadInput,
            Error::Io { .. } => C::Io,
            Error::Declined { code, .. } => *code,
        }
    }

    /// The one serializable shape of this error for every client: the CLI's
    /// `--json` and the desktop app's IPC.
    pub fn view(&self) -> ErrorView {
        let message = match self {
            // A code of its own says which rule; an unknown one is kept for the log.
            Error::Rejected { code, message } if ErrorCode::parse(code).is_some() => {
                format!("the registry refused: {message}")
            }
            Error::Rejected { code, message } => format!("the registry refused ({code}): {message}"),
            other => other.to_string(),
        };
        let refusal = match self {
            Error::Refused(r) => Some(RefusalView { code: ErrorCode::of_refusal(r), reason: r.to_string() }),
            _ => None,
        };
        let tries = match self {
            Error::Card(piv::Error::WrongPin { tries } | piv::Error::WrongPuk { tries }) => Some(*tries),
            _ => None,
        };
        ErrorView { code: self.code(), message, refusal, tries }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pulled_card_is_a_tear_and_a_refusal_keeps_its_code() {
        let pulled = Error::Card(piv::Error::Apdu(apdu::Error::Transport(apdu::TransportError::CardRemoved)));
        assert!(pulled.is_tear());
        assert_eq!(pulled.code(), ErrorCode::CardRemoved);
        assert!(Error::Reader(reader::Error::ReaderGone).is_tear());
        assert!(!Error::Card(piv::Error::AuthenticationFailed).is_tear());
        let refused = Error::Refused(Refusal::ApproverIsRequester);
        assert_eq!(refused.code().as_str(), "approver-is-requester");
        assert!(!refused.is_tear());
        let rejected = Error::Rejected { code: "state_not_allowed".into(), message: "no".into() };
        assert_eq!(rejected.code(), ErrorCode::StateNotAllowed);
        let offline: Error = sync::Error::Transport("down".into()).into();
        assert_eq!(offline.code(), ErrorCode::Offline);
        let unknown = Error::Rejected { code: "brand_new_rule".into(), message: "no".into() };
        assert_eq!(unknown.code(), ErrorCode::Rejected, "a registry code this station does not know");
        // The message an operator reads names the rule's code only when the code field cannot.
        assert_eq!(rejected.view().message, "the registry refused: no");
        assert_eq!(unknown.view().message, "the registry refused (brand_new_rule): no");
    }
}

#[cfg(test)]
mod view_tests {
    use super::*;

    #[test]
    fn the_view_carries_tries_and_the_refusal() {
        let wrong = Error::Card(piv::Error::WrongPin { tries: 2 }).view();
        assert_eq!((wrong.code, wrong.tries), (ErrorCode::WrongPin, Some(2)));
        let json = serde_json::to_value(&wrong).unwrap();
        assert_eq!(json["code"], "wrong-pin");
        let refused = Error::Refused(Refusal::ApproverIsRequester).view();
        let refusal = refused.refusal.expect("a refusal keeps its reason");
        assert_eq!(refusal.code, ErrorCode::ApproverIsRequester);
        assert!(refused.message.contains("own request"), "{}", refused.message);
        assert_eq!(refused.tries, None);
    }
}
