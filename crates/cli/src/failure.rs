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

// Card, PC/SC and transport failures carry the codes station gives them,
// so a command that works on a card directly says what the app would.

impl From<piv::Error> for Failure {
    fn from(e: piv::Error) -> Self {
        Failure::new(station::ErrorCode::of_card(&e).as_str(), e.to_string())
    }
}

impl From<apdu::TransportError> for Failure {
    fn from(e: apdu::TransportError) -> Self {
        Failure::new(station::ErrorCode::of_transport(&e).as_str(), e.to_string())
    }
}

impl From<reader::Error> for Failure {
    fn from(e: reader::Error) -> Self {
        Failure::new(station::ErrorCode::of_reader(&e).as_str(), e.to_string())
    }
}
