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

/// Refuses a name with control characters (NUL, newlines) or bidirectional
/// controls (which make a name read differently from what it is).
pub(crate) fn check_name(field: &str, text: &str) -> Result<(), Decline> {
    let bidi = |c: char| matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}');
    if text.chars().any(|c| c.is_control() || bidi(c)) {
        return refuse("invalid", format!("{field} contains control or text-direction characters"));
    }
    Ok(())
}

pub(crate) fn not_found<T>(what: &str, id: impl std::fmt::Display) -> Result<T, Decline> {
    refuse("not_found", format!("{what} {id} does not exist"))
}
