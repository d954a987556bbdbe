//! Errors of the wire layer: values that do not parse.

/// Result of the proto crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A wire value that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A change-feed cursor that this registry did not hand out.
    #[error("invalid cursor {0:?}: expected the next_cursor of an earlier page")]
    InvalidCursor(String),
    /// A secret that is not hex.
    #[error("the secret is not hexadecimal")]
    InvalidHex,
}
