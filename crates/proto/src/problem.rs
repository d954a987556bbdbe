//! The HTTP error body (ARCHITECTURE.md: a JSON problem body; internals are
//! logged, never sent).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `{code, message}` for every 4xx and 5xx answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Problem {
    /// Stable machine-readable code (`unauthenticated`, `forbidden`, `malformed`, …).
    pub code: String,
    /// What went wrong, for a person.
    pub message: String,
}

impl Problem {
    /// A problem with `code` and `message`.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self { code: code.into(), message: message.into() }
    }
}

/// `GET /v1/health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// `ok` when the database answers.
    pub status: String,
    /// The registry's version.
    pub version: String,
}
