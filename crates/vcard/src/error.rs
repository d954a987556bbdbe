//! Errors of the virtual card's host-side API (state files, sockets).
//!
//! Card-side failures are never errors here: the card answers them with a
//! status word, as a real card would.

/// Result of the virtual card's host-side API.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why loading, saving or plugging in a virtual card failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing the state file, or the vpcd socket, failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done (names the file or address).
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The state file is not a card state this version understands.
    #[error("state file {path} is not a valid card state: {reason}")]
    BadState {
        /// The file.
        path: String,
        /// Why it was rejected.
        reason: String,
    },
}

impl Error {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io { context: context.into(), source }
    }
}
