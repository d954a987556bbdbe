//! Why an operation is not applied (`Decline`), and the small checks every
//! decider shares; a leaf, so the deciders (`decide`, `temporary`) each
//! point here instead of at one another.

use domain::Refusal;

use crate::error::Error;

/// Why an operation is not applied.
#[derive(Debug)]
pub(crate) enum Decline {
    /// Refused: answered `Rejected` and recorded.
    Refused { code: String, message: String },
    /// The registry failed: the transaction is rolled back, the client retries.
    Failed(Error),
}

impl From<Refusal> for Decline {
    fn from(r: Refusal) -> Self {
        Decline::Refused { code: r.code().to_owned(), message: r.to_string() }
    }
}

impl From<Error> for Decline {
    fn from(e: Error) -> Self {
        Decline::Failed(e)
    }
}

pub(crate) fn refuse<T>(code: &str, message: impl Into<String>) -> Result<T, Decline> {
    Err(Decline::Refused { code: code.to_owned(), message: message.into() })
}

const MAX_TEXT: usize = 1000;

pub(crate) fn check_text(field: &str, text: &str, required: bool) -> Result<(), Decline> {
    if required && text.trim().is_empty() {
        return refuse("invalid", format!("{field} is empty"));
    }
    if text.len() > MAX_TEXT {
        return refuse("invalid", format!("{field} is longer than {MAX_TEXT} bytes"));
    }
    Ok(())
}

pub(crate) fn not_found<T>(what: &str, id: impl std::fmt::Display) -> Result<T, Decline> {
    refuse("not_found", format!("{what} {id} does not exist"))
}
