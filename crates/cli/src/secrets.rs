//! Secrets come from the environment or a hidden prompt, never from argv
//! (which every local user can read in the process list).

use crate::failure::Failure;
use std::io::IsTerminal;
use zeroize::Zeroizing;

/// Environment variable for the current PIN.
pub const PIN: &str = "CARDSTATION_PIN";
/// Environment variable for a new PIN.
pub const NEW_PIN: &str = "CARDSTATION_NEW_PIN";
/// Environment variable for the PUK.
pub const PUK: &str = "CARDSTATION_PUK";
/// Environment variable for a new PUK.
pub const NEW_PUK: &str = "CARDSTATION_NEW_PUK";
/// Environment variable for the card's current management key (hex).
pub const MANAGEMENT_KEY: &str = "CARDSTATION_MANAGEMENT_KEY";

/// Reads `var`, or prompts for it (hidden) when stdin is a terminal.
pub fn required(var: &str, prompt: &str) -> Result<Zeroizing<String>, Failure> {
    if let Some(v) = optional(var) {
        return Ok(v);
    }
    if std::io::stdin().is_terminal() {
        let v = rpassword::prompt_password(format!("{prompt}: "))
            .map_err(|e| Failure::new("bad-input", format!("cannot read {prompt}: {e}")))?;
        return Ok(Zeroizing::new(v));
    }
    Err(Failure::new("bad-input", format!("{prompt} is required: set {var} or run on a terminal")))
}

/// Reads `var` if set and not empty.
pub fn optional(var: &str) -> Option<Zeroizing<String>> {
    std::env::var(var).ok().filter(|v| !v.is_empty()).map(Zeroizing::new)
}
