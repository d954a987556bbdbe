//! Errors of the authority: every refusal is typed so the registry can map it
//! to a rejection reason without parsing messages.

use std::path::PathBuf;

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file of the CA or of the key-encryption key could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// Result with the authority's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
