//! One public error shape for the CLI: a stable `code` scripts can match on
//! and a message for people (internals go to the log, not the user).

/// A command's failure.
#[derive(Debug)]
pub struct Failure {
    /// Stable machine-readable code, e.g. `wrong-pin`.
    pub code: &'static str,
    /// What happened, in words an operator understands.
    pub message: String,
}

impl Failure {
    /// A failure with a code and message.
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Failure { code, message: message.into() }
    }

    /// Exit status: 2 for usage/input problems, 3 for card refusals, 4 for
    /// an action queued (kept, sent when the registry is reachable: do not
    /// run it again), 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self.code {
            "bad-input" | "no-reader" | "ambiguous-reader" | "profile" => 2,
            "wrong-pin" | "pin-blocked" | "wrong-puk" | "puk-blocked" | "authentication-failed" => 3,
            "queued" => 4,
            _ => 1,
        }
    }
}

impl From<piv::Error> for Failure {
    fn from(e: piv::Error) -> Self {
        use piv::Error as E;
        let code = match &e {
            E::WrongPin { .. } => "wrong-pin",
            E::PinBlocked => "pin-blocked",
            E::WrongPuk { .. } => "wrong-puk",
            E::PukBlocked => "puk-blocked",
            E::AuthenticationFailed => "authentication-failed",
            E::SecurityStatusNotSatisfied => "security-status",
            E::NotFound => "not-found",
            E::NotSupported => "not-supported",
            E::NoMemory => "card-full",
            E::Malformed { .. } => "malformed-card-data",
            E::BadInput(_) => "bad-input",
            E::Profile(_) => "profile",
            E::Certificate(_) | E::Ca(_) | E::BadSignature(_) => "certificate",
            E::Io { .. } => "io",
            E::Apdu(apdu::Error::Transport(t)) => return Failure::from(t.clone()),
            _ => "card-error",
        };
        Failure::new(code, e.to_string())
    }
}

impl From<apdu::TransportError> for Failure {
    fn from(e: apdu::TransportError) -> Self {
        use apdu::TransportError as T;
        let code = match e {
            T::CardRemoved => "card-removed",
            T::CardReset => "card-reset",
            T::ReaderGone => "reader-gone",
            T::SharingViolation => "card-in-use",
            T::NoCard => "no-card",
            T::Timeout => "timeout",
            T::Other(_) => "card-error",
        };
        Failure::new(code, e.to_string())
    }
}

impl From<reader::Error> for Failure {
    fn from(e: reader::Error) -> Self {
        use reader::Error as R;
        let code = match e {
            R::NoService => "no-pcsc-service",
            R::ReaderGone => "reader-gone",
            R::CardRemoved => "card-removed",
            R::NoCard => "no-card",
            R::CardReset => "card-reset",
            R::SharingViolation => "card-in-use",
            R::CardUnresponsive => "card-unresponsive",
            R::Timeout => "timeout",
            _ => "pcsc",
        };
        Failure::new(code, e.to_string())
    }
}
