//! The stable error codes of the station and the one serializable error
//! shape (`{code, message, refusal, tries}`) that the CLI's `--json` and the
//! desktop app's IPC both carry. Clients map codes to their own wording;
//! none of them matches on message text.

use domain::Refusal;
use serde::{Deserialize, Serialize};

macro_rules! error_codes {
    ($($(#[$doc:meta])* $variant:ident = $text:literal,)*) => {
        /// A stable machine-readable error code (kebab-case on the wire).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, specta::Type)]
        pub enum ErrorCode {
            $($(#[$doc])* #[serde(rename = $text)] $variant,)*
        }

        impl ErrorCode {
            /// Every code, for clients that keep a wording per code.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The code as written on the wire.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $text,)*
                }
            }

            /// The code written `text`, with `_` or `-` between words.
            pub fn parse(text: &str) -> Option<ErrorCode> {
                let text = text.replace('_', "-");
                match text.as_str() {
                    $($text => Some(ErrorCode::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

error_codes! {
    /// The station is not enrolled with a registry.
    NotEnrolled = "not-enrolled",
    /// The registry is unreachable and this needs it.
    Offline = "offline",
    /// The registry is unreachable: the action is queued and sent when it is back.
    Queued = "queued",
    /// Sign-in refused (wrong user or password, session ended).
    SignIn = "sign-in",
    /// Too many wrong passwords: sign-in is locked for a while.
    SignInLocked = "sign-in-locked",
    /// The session is locked after idle time: sign in again to go on.
    Locked = "locked",
    /// The registry's certificate is not the pinned one.
    PinMismatch = "pin-mismatch",
    /// The card was taken out.
    CardRemoved = "card-removed",
    /// No card in the reader.
    NoCard = "no-card",
    /// No such reader (or none connected).
    NoReader = "no-reader",
    /// The reader named matches several.
    AmbiguousReader = "ambiguous-reader",
    /// The reader went away.
    ReaderGone = "reader-gone",
    /// The card was reset by another program.
    CardReset = "card-reset",
    /// Another program holds the card.
    CardInUse = "card-in-use",
    /// The card did not answer in time.
    Timeout = "timeout",
    /// The card does not answer.
    CardUnresponsive = "card-unresponsive",
    /// The PC/SC service is not running.
    NoPcscService = "no-pcsc-service",
    /// Another PC/SC failure.
    Pcsc = "pcsc",
    /// The card refused or failed otherwise.
    CardError = "card-error",
    /// Wrong PIN (`tries` left).
    WrongPin = "wrong-pin",
    /// The PIN is blocked.
    PinBlocked = "pin-blocked",
    /// Wrong PUK (`tries` left).
    WrongPuk = "wrong-puk",
    /// The PUK is blocked.
    PukBlocked = "puk-blocked",
    /// The card refused the management key.
    AuthenticationFailed = "authentication-failed",
    /// The card wants a PIN or the management key first.
    SecurityStatus = "security-status",
    /// The card's memory is full.
    CardFull = "card-full",
    /// The card's data could not be read.
    MalformedCardData = "malformed-card-data",
    /// The card does not support what was asked.
    NotSupported = "not-supported",
    /// A certificate could not be made or checked.
    Certificate = "certificate",
    /// A credential profile is not usable.
    Profile = "profile",
    /// The thing asked for does not exist here.
    NotFound = "not-found",
    /// The card in the reader is not the one the job needs.
    WrongCard = "wrong-card",
    /// A bad argument.
    BadInput = "bad-input",
    /// The use case is switched off in this deployment.
    UseCaseDisabled = "use-case-disabled",
    /// The operator lacks a permission.
    NotPermitted = "not-permitted",
    /// Only a signed-in operator may do this.
    OperatorRequired = "operator-required",
    /// Only the registry records this.
    SystemOnly = "system-only",
    /// Nobody acts on their own device.
    OwnDevice = "own-device",
    /// Nobody does this for themselves.
    ActorIsRecipient = "actor-is-recipient",
    /// An approver cannot approve their own request.
    ApproverIsRequester = "approver-is-requester",
    /// An approver cannot approve a request for themselves.
    ApproverIsRecipient = "approver-is-recipient",
    /// Nobody requests a card for themselves.
    RequesterIsRecipient = "requester-is-recipient",
    /// Only the requester may abort.
    NotRequester = "not-requester",
    /// Only the cardholder may do this.
    NotTheCardholder = "not-the-cardholder",
    /// The record's state does not allow it.
    StateNotAllowed = "state-not-allowed",
    /// The card does not have what the profile needs.
    CapabilityMismatch = "capability-mismatch",
    /// The card's interfaces are not known yet.
    CapabilitiesUnknown = "capabilities-unknown",
    /// The profile needs a contact interface.
    ContactInterfaceRequired = "contact-interface-required",
    /// The profile is not a temporary-card profile.
    ProfileNotTemporary = "profile-not-temporary",
    /// The profile is for temporary cards only.
    ProfileIsTemporary = "profile-is-temporary",
    /// The profile needs an approval first.
    ApprovalRequired = "approval-required",
    /// Not expired yet.
    NotYetExpired = "not-yet-expired",
    /// The stop date has passed.
    StopDatePassed = "stop-date-passed",
    /// The date must be in the future.
    DateNotInFuture = "date-not-in-future",
    /// The batch order is not valid.
    InvalidBatch = "invalid-batch",
    /// The provisioning task is not valid.
    InvalidTask = "invalid-task",
    /// The provisioning task was removed.
    TaskRemoved = "task-removed",
    /// The email address is not valid.
    InvalidEmail = "invalid-email",
    /// The enrollment code is not right (UC-WALKUP); it locks at the limit.
    WrongEnrollmentCode = "wrong-enrollment-code",
    /// No card is enrolled for this enrollment yet.
    NotEnrolledYet = "not-enrolled-yet",
    /// The chosen PIN breaks the profile's PIN policy.
    PinNotAllowed = "pin-not-allowed",
    /// The two PINs typed differ.
    PinsDiffer = "pins-differ",
    /// A card cannot prove its holder at a kiosk: no valid PIV Authentication
    /// certificate of this registry (UC-WALKUP with UC-UPDATE).
    NoCardholderProof = "no-cardholder-proof",
    /// The card's signature does not match its PIV Authentication certificate.
    ProofFailed = "proof-failed",
    /// The station's own rules refused, for a reason without a code of its own.
    Refused = "refused",
    /// The registry refused with a code this station does not know.
    Rejected = "rejected",
    /// Sync failed otherwise.
    Sync = "sync",
    /// The local store failed.
    Store = "store",
    /// Reading or writing a file failed.
    Io = "io",
    /// A revealed secret was already shown (or closed).
    SecretGone = "secret-gone",
    /// The offline unblock's response is wrong.
    WrongResponse = "wrong-response",
    /// The offline unblock's code is malformed.
    BadCode = "bad-code",
    /// No PUK the registry named works on this card.
    PukUnknown = "puk-unknown",
    /// The challenge is for another card.
    ChallengeMismatch = "challenge-mismatch",
    /// Offline sign-in is locked until an online sign-in.
    OfflineLocked = "offline-locked",
    /// Offline sign-in expired.
    OfflineExpired = "offline-expired",
    /// The credential profile's settings are not valid (UC-ADMIN).
    InvalidProfile = "invalid-profile",
    /// The edited profile is the same as its current version.
    UnchangedProfile = "unchanged-profile",
    /// The profile was saved by someone else meanwhile.
    VersionConflict = "version-conflict",
    /// A role (or other named thing) of that name exists already.
    AlreadyExists = "already-exists",
    /// The change would change nothing.
    Unchanged = "unchanged",
    /// Afterwards no enabled operator could administer (UC-ADMIN).
    LastAdministrator = "last-administrator",
    /// Sign-in and administration cannot be switched off.
    UseCaseRequired = "use-case-required",
    /// The operator cancelled.
    Cancelled = "cancelled",
    /// Another card job is running here.
    Busy = "busy",
    /// The audit chain does not verify.
    AuditChainBroken = "audit-chain-broken",
    /// A fault of the program itself (logged).
    Internal = "internal",
}

impl ErrorCode {
    /// The code of a domain refusal.
    pub fn of_refusal(refusal: &Refusal) -> ErrorCode {
        ErrorCode::parse(refusal.code()).unwrap_or(ErrorCode::Refused)
    }

    /// The code of a registry rejection (`snake_case` on the wire).
    pub fn of_registry(code: &str) -> ErrorCode {
        ErrorCode::parse(code).unwrap_or(ErrorCode::Rejected)
    }

    /// The code of a card error.
    pub fn of_card(e: &piv::Error) -> ErrorCode {
        use piv::Error as E;
        match e {
            E::WrongPin { .. } => ErrorCode::WrongPin,
            E::PinBlocked => ErrorCode::PinBlocked,
            E::WrongPuk { .. } => ErrorCode::WrongPuk,
            E::PukBlocked => ErrorCode::PukBlocked,
            E::AuthenticationFailed => ErrorCode::AuthenticationFailed,
            E::SecurityStatusNotSatisfied => ErrorCode::SecurityStatus,
            E::NotFound => ErrorCode::NotFound,
            E::NotSupported => ErrorCode::NotSupported,
            E::NoMemory => ErrorCode::CardFull,
            E::Malformed { .. } => ErrorCode::MalformedCardData,
            E::BadInput(_) => ErrorCode::BadInput,
            E::Profile(_) => ErrorCode::Profile,
            E::Certificate(_) | E::Ca(_) | E::BadSignature(_) => ErrorCode::Certificate,
            E::Io { .. } => ErrorCode::Io,
            other => match other.transport() {
                Some(t) => ErrorCode::of_transport(t),
                None => ErrorCode::CardError,
            },
        }
    }

    /// The code of a transport failure under the card.
    pub fn of_transport(t: &apdu::TransportError) -> ErrorCode {
        use apdu::TransportError as T;
        match t {
            T::CardRemoved => ErrorCode::CardRemoved,
            T::CardReset => ErrorCode::CardReset,
            T::ReaderGone => ErrorCode::ReaderGone,
            T::SharingViolation => ErrorCode::CardInUse,
            T::NoCard => ErrorCode::NoCard,
            T::Timeout => ErrorCode::Timeout,
            T::Other(_) => ErrorCode::CardError,
        }
    }

    /// The code of a PC/SC failure.
    pub fn of_reader(e: &reader::Error) -> ErrorCode {
        use reader::Error as R;
        match e {
            R::CardRemoved => ErrorCode::CardRemoved,
            R::NoCard => ErrorCode::NoCard,
            R::ReaderGone => ErrorCode::ReaderGone,
            R::CardReset => ErrorCode::CardReset,
            R::NoService => ErrorCode::NoPcscService,
            R::SharingViolation => ErrorCode::CardInUse,
            R::CardUnresponsive => ErrorCode::CardUnresponsive,
            R::Timeout => ErrorCode::Timeout,
            _ => ErrorCode::Pcsc,
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refusal by the domain's rules, as a client shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct RefusalView {
    /// Its code.
    pub code: ErrorCode,
    /// Why, in words.
    pub reason: String,
}

/// An error as every client receives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct ErrorView {
    /// Stable code.
    pub code: ErrorCode,
    /// What happened, in words (never a `Debug` string).
    pub message: String,
    /// The domain refusal behind it, if any.
    pub refusal: Option<RefusalView>,
    /// PIN or PUK tries left, when a wrong one was given.
    pub tries: Option<u8>,
}

impl ErrorView {
    /// An error view made by a client for a failure of its own.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ErrorView {
        ErrorView { code, message: message.into(), refusal: None, tries: None }
    }
}

impl From<crate::Error> for ErrorView {
    fn from(e: crate::Error) -> Self {
        e.view()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_reads_back_and_every_refusal_has_its_own() {
        for code in ErrorCode::ALL {
            assert_eq!(ErrorCode::parse(code.as_str()), Some(*code));
            let json = serde_json::to_value(code).unwrap();
            assert_eq!(json, code.as_str(), "serde and as_str agree");
        }
        assert_eq!(ErrorCode::of_registry("state_not_allowed"), ErrorCode::StateNotAllowed);
        assert_eq!(ErrorCode::of_refusal(&Refusal::TaskRemoved), ErrorCode::TaskRemoved);
        assert_eq!(ErrorCode::of_refusal(&Refusal::NotRequester), ErrorCode::NotRequester);
    }
}
