//! Errors of the PIV client: one typed variant per condition a caller (the
//! CLI, the desktop app, the personalizer) has to react to differently.

use apdu::{StatusWord, SwKind};

/// Result of the PIV layer.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong talking to a PIV card.
///
/// Status words are mapped to meaning where SP 800-73-4 Part 2 §5 (and the
/// YubiKey extensions) give them one; everything else is
/// [`Error::UnexpectedStatus`] with the command name, so logs say which
/// command the card refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// VERIFY (or CHANGE REFERENCE DATA) of the PIN failed; `tries` remain.
    #[error("wrong PIN ({tries} tries left)")]
    WrongPin {
        /// Tries left before the PIN blocks.
        tries: u8,
    },
    /// The PIN is blocked (6983): unblock it with the PUK.
    #[error("the PIN is blocked")]
    PinBlocked,
    /// The PUK was wrong; `tries` remain.
    #[error("wrong PUK ({tries} tries left)")]
    WrongPuk {
        /// Tries left before the PUK blocks.
        tries: u8,
    },
    /// The PUK is blocked (6983).
    #[error("the PUK is blocked")]
    PukBlocked,
    /// Management key (9B) authentication failed: wrong key or wrong algorithm.
    #[error("management key authentication failed (wrong key or algorithm)")]
    AuthenticationFailed,
    /// 6982: the command needs the PIN or the management key first.
    #[error("security status not satisfied (PIN or management key authentication needed)")]
    SecurityStatusNotSatisfied,
    /// 6A82 (or 6A88): the object, key or application is not on the card.
    #[error("not found on the card")]
    NotFound,
    /// 6D00 / 6A81: the card does not implement the command.
    #[error("the card does not support this command")]
    NotSupported,
    /// 6A84: the card has no room for the object.
    #[error("the card is out of memory")]
    NoMemory,
    /// Any other status word, with the command that got it.
    #[error("{command}: unexpected status {sw}")]
    UnexpectedStatus {
        /// The command's name (e.g. "GET DATA").
        command: &'static str,
        /// What the card answered.
        sw: StatusWord,
    },
    /// The card's answer was not the structure SP 800-73-4 defines.
    #[error("malformed data from the card: {what}")]
    Malformed {
        /// What was wrong.
        what: &'static str,
    },
    /// The APDU layer failed: transport errors (card removed, reset, reader
    /// gone) and protocol errors (chaining refused, bad TLV).
    #[error(transparent)]
    Apdu(#[from] apdu::Error),
    /// The caller passed something unusable (a PIN that is not 6–8 digits…).
    #[error("invalid input: {0}")]
    BadInput(String),
    /// A certificate could not be parsed or does not fit its key.
    #[error("certificate: {0}")]
    Certificate(String),
    /// The certificate authority refused or failed to issue.
    #[error("certificate authority: {0}")]
    Ca(String),
    /// A signature did not verify (proof of possession, certificate chain).
    #[error("signature verification failed: {0}")]
    BadSignature(&'static str),
    /// A file of the local CA or a profile could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A personalization profile is invalid.
    #[error("profile: {0}")]
    Profile(String),
}

impl Error {
    /// True when the link to the card failed (removed, reset, reader gone…):
    /// the card state is unknown and the job must be resumed on reinsertion.
    pub fn is_transport(&self) -> bool {
        matches!(self, Error::Apdu(apdu::Error::Transport(_)))
    }

    /// The transport error, if this is one.
    pub fn transport(&self) -> Option<&apdu::TransportError> {
        match self {
            Error::Apdu(apdu::Error::Transport(t)) => Some(t),
            _ => None,
        }
    }

    /// Maps a non-success status word of `command` to an error, with the
    /// generic meanings of SP 800-73-4 Part 2 §5 / ISO 7816-4.
    pub(crate) fn from_status(command: &'static str, sw: StatusWord) -> Error {
        match sw.kind() {
            SwKind::SecurityNotSatisfied => Error::SecurityStatusNotSatisfied,
            SwKind::NotFound | SwKind::ReferenceNotFound => Error::NotFound,
            SwKind::InsNotSupported | SwKind::FunctionNotSupported => Error::NotSupported,
            SwKind::NoMemory => Error::NoMemory,
            _ => Error::UnexpectedStatus { command, sw },
        }
    }

    /// Maps the status of a command whose reference data is the PIN.
    pub(crate) fn from_pin_status(command: &'static str, sw: StatusWord) -> Error {
        match sw.kind() {
            SwKind::VerificationFailed { tries } => Error::WrongPin { tries },
            SwKind::Blocked => Error::PinBlocked,
            _ => Error::from_status(command, sw),
        }
    }

    /// Maps the status of a command whose reference data is the PUK.
    pub(crate) fn from_puk_status(command: &'static str, sw: StatusWord) -> Error {
        match sw.kind() {
            SwKind::VerificationFailed { tries } => Error::WrongPuk { tries },
            SwKind::Blocked => Error::PukBlocked,
            _ => Error::from_status(command, sw),
        }
    }

    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Error {
        Error::Io { path: path.display().to_string(), source }
    }
}

/// Bad TLV from the card is malformed data, not a transport failure.
pub(crate) fn tlv(e: apdu::Error) -> Error {
    match e {
        apdu::Error::Tlv(what) => Error::Malformed { what },
        other => Error::Apdu(other),
    }
}
