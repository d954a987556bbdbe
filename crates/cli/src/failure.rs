//! One public error shape for the CLI: a stable `code` scripts can match on
//! and a message for people (internals go to the log, not the user).

/// A command's failure.
#[derive(Debug)]
pub struct Failure {
    /// Stable machine-readable code, e.g. `wrong-pin`.
    pub code: &'static str,
    /// What happened, in words an operator understands.
    pub message: String,
    /// What to do now, for people (the text output only: `--json` keeps
    /// its `{code, message}`), e.g. the command that finishes the job.
    pub next: Option<String>,
}

impl Failure {
    /// A failure with a code and message.
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Failure { code, message: message.into(), next: None }
    }

    /// The same failure with what to do next.
    pub fn with_next(mut self, next: impl Into<String>) -> Self {
        self.next = Some(next.into());
        self
    }

    /// The failure as people read it (stderr): an action kept in the queue
    /// is not an error, so it does not say `error:`.
    pub fn text(&self) -> String {
        let mut text = if self.code == "queued" {
            format!("{}\n", self.message)
        } else {
            format!("error: {}\n", self.message)
        };
        if let Some(next) = &self.next {
            text.push_str(&format!("{next}\n"));
        }
        text
    }

    /// Whether the card left the reader (or the reader went away): a card
    /// job stays open and is finished with `jobs resume`.
    pub fn is_tear(&self) -> bool {
        matches!(self.code, "card-removed" | "no-card" | "reader-gone" | "card-reset" | "card-unresponsive")
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

#[cfg(test)]
mod tests {
    use super::Failure;

    #[test]
    fn a_queued_action_is_not_an_error_and_the_next_step_follows() {
        let queued = Failure::new("queued", "queued, will be sent when the registry is reachable");
        assert_eq!(queued.text(), "queued, will be sent when the registry is reachable\n");
        let torn = Failure::new("card-removed", "the card was removed")
            .with_next("put the card back and run `cardstation jobs resume J`");
        assert_eq!(
            torn.text(),
            "error: the card was removed\nput the card back and run `cardstation jobs resume J`\n"
        );
        assert!(torn.is_tear());
        assert_eq!(queued.exit_code(), 4, "the exit code is unchanged");
    }
}
