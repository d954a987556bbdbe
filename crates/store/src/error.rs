//! Errors of the store: the database, a record that does not decode, an
//! outbox operation in the wrong state, a database newer than this program.

use uuid::Uuid;

/// Result of the store.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// SQLite refused or failed (I/O, a violated constraint, a busy database past the timeout).
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A record or payload did not (de)serialize.
    #[error("record encoding: {0}")]
    Json(#[from] serde_json::Error),
    /// The database was written by a newer version of this program; it is left untouched.
    #[error("the database has schema version {found}, newer than the {supported} this program knows")]
    SchemaTooNew {
        /// Version found in the file.
        found: u32,
        /// Newest version this program can use.
        supported: u32,
    },
    /// No outbox entry has this operation id.
    #[error("no operation {0} in the outbox")]
    UnknownOperation(Uuid),
    /// The operation was already answered differently (a registry answers an id once).
    #[error("operation {op_id} is already {state}")]
    AlreadyAnswered {
        /// The operation.
        op_id: Uuid,
        /// Its recorded state.
        state: &'static str,
    },
    /// A change from the registry or a stored value is not what this store can hold.
    #[error("invalid record: {0}")]
    InvalidRecord(String),
    /// A stored timestamp is not RFC 3339.
    #[error("stored timestamp {0:?} is not RFC 3339")]
    BadTimestamp(String),
}
