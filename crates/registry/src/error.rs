//! Errors of the registry: storage, configuration and TLS failures. A
//! refused operation is not an error (it is a `proto::Answer::Rejected`).

/// Result of the registry crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong inside the registry (logged; clients see a generic problem).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database failed.
    #[error("storage: {0}")]
    Storage(String),
    /// A stored value does not decode (corruption or a schema mismatch).
    #[error("stored data does not decode: {0}")]
    Corrupt(String),
    /// A database written by a newer registry.
    #[error("the database schema version {found} is newer than this registry knows ({known})")]
    SchemaTooNew {
        /// Version found.
        found: u32,
        /// Newest version known.
        known: u32,
    },
    /// Hashing a password failed.
    #[error("password hashing: {0}")]
    Password(String),
    /// TLS configuration or certificate handling failed.
    #[error("tls: {0}")]
    Tls(String),
    /// Escrow sealing or opening failed.
    #[error("escrow: {0}")]
    Escrow(String),
    /// The certificate authority failed (not a refusal of the request).
    #[error("certificate authority: {0}")]
    Authority(String),
    /// Reading or writing a file.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// Invalid input given to an administrative command.
    #[error("{0}")]
    Invalid(String),
    /// A blocking task panicked or was cancelled.
    #[error("background task failed: {0}")]
    Task(String),
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Error::Storage(e.to_string())
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::Corrupt(e.to_string())
    }
}
